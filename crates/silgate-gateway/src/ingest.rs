//! The ingest step: source records -> translate and judge -> identity -> dedup ->
//! enqueue -> audit.
//!
//! For each batch of records an adapter yields:
//!
//! 1. translate (codes allocated); records wait until the batch is full;
//! 2. ask the dedup index: unchanged versions are counted and audited (`deduplicated`)
//!    without being judged again; the others are judged (XSD + rules; quarantine what
//!    fails, audit `received` + `rejected`);
//! 3. enqueue the rest (returns once durable: the records are *accepted*);
//! 4. record them as queued in the index and the audit (`received` + `queued`).
//!
//! A crash between 3 and 4 re-queues the batch on the next ingest: harmless, nothing is
//! sent twice. The SQLite queue keeps one item per message id; on RabbitMQ the item is
//! there twice, and the publisher finds the second delivered in the dedup index (or,
//! if both are in flight at once, both travel under the one eGov id of their message
//! id, on which the node is idempotent).

use crate::error::Result;
use crate::metrics::GatewayMetrics;
use crate::translate::{Accepted, Ticket, Translator, Verdict};
use silgate_audit::{Auditor, Event, NewEntry, SeenAgain};
use silgate_core::{Queue, QueueItem, ReadSummary, Source, SourceItem};
use silgate_dedup::{Admission, DedupIndex, Identity, Keyer};
use silgate_queue::AnyQueue;
use silgate_store::now_ms;
use std::io::BufRead;
use std::ops::ControlFlow;

/// Something that shows how an ingest goes (the CLI's progress bar).
pub trait Progress: Sync {
    /// Called after each record read: how many so far, and how many rejected.
    fn tick(&self, records: usize, rejected: usize);
}

/// What one ingest did.
#[derive(Debug, Default, Clone)]
pub struct IngestSummary {
    /// Records read.
    pub records: usize,
    /// Records put in the queue.
    pub queued: usize,
    /// Versions already queued or delivered: not queued again.
    pub unchanged: usize,
    /// Records quarantined.
    pub rejected: usize,
    /// (rule, count) of the rejected records' first errors.
    pub reasons: Vec<(String, usize)>,
}

/// The ingest side: translator + dedup + queue + audit.
pub(crate) struct Ingest<'a> {
    pub(crate) translator: Translator<'a>,
    pub(crate) queue: &'a AnyQueue,
    pub(crate) dedup: &'a DedupIndex,
    /// The region's secret, the key of every business key's hash.
    pub(crate) keyer: &'a Keyer,
    pub(crate) audit: &'a Auditor,
    /// Where refused records are kept for a replay.
    pub(crate) kept: &'a crate::kept::KeptStore,
    pub(crate) metrics: &'a GatewayMetrics,
    pub(crate) batch: usize,
    /// `[limits] max_line_bytes`: the longest canonical JSON line read.
    pub(crate) max_line_bytes: u64,
    pub(crate) summary: IngestSummary,
}

impl<'a> Ingest<'a> {
    /// Ingests a canonical JSON lines file.
    pub(crate) async fn canonical_json(&mut self, input: impl BufRead, origin: &str) -> Result<()> {
        let mut lines = crate::translate::JsonLines::new(input, origin, self.max_line_bytes);
        while let Some(item) = lines.next_item()? {
            self.offer(item, None).await?;
            if self.pending() >= self.batch {
                self.flush().await?;
            }
        }
        self.flush().await
    }

    /// Ingests everything an adapter reads: the adapter runs on a blocking thread and
    /// hands items over a bounded channel (memory stays flat), batches are queued as
    /// they fill. Returns the adapter's summary (with its watermark) once the last
    /// batch is queued.
    pub(crate) async fn source(&mut self, src: Box<dyn Source + Send>, progress: Option<&dyn Progress>) -> Result<ReadSummary> {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<SourceItem>(1024);
        let reader = tokio::task::spawn_blocking(move || {
            let mut src = src;
            src.read(&mut |item| if tx.blocking_send(item).is_ok() { ControlFlow::Continue(()) } else { ControlFlow::Break(()) })
        });
        while let Some(item) = rx.recv().await {
            self.offer(item, None).await?;
            if let Some(p) = progress {
                p.tick(self.translator.summary.records, self.translator.summary.rejected);
            }
            if self.pending() >= self.batch {
                self.flush().await?;
            }
        }
        let summary = reader.await?;
        // What was read before an error is queued or quarantined, and audited, before
        // the error is reported: the record of what happened stays whole.
        self.flush().await?;
        Ok(summary?)
    }

    /// Hands what an adapter emitted to the translator (under `ticket`), a closure
    /// naming first the code it closes ([`Ingest::previous_code`]); one that names none
    /// is quarantined with its record (kept for a replay).
    pub(crate) async fn offer(&mut self, item: SourceItem, ticket: Option<Ticket>) -> Result<()> {
        match self.previous_code(item).await? {
            Ok(item) => self.translator.item_ticketed(item, ticket),
            Err((rec, issue)) => self.translator.reject_read(*rec, issue, ticket),
        }
    }

    /// A closure read from a source names the code it closes from the dedup index (the
    /// code last queued for the record's business key); a closure of a record this
    /// gateway never sent is rejected (`Err`, with the record and the issue): there is
    /// nothing at the node to close.
    async fn previous_code(&self, item: SourceItem) -> Result<std::result::Result<SourceItem, (Box<silgate_core::Record>, silgate_core::Issue)>> {
        let SourceItem::Record(mut rec) = item else { return Ok(Ok(item)) };
        if rec.communication().kind != silgate_core::CommunicationKind::Closure || rec.communication().previous_code.is_some() {
            return Ok(Ok(SourceItem::Record(rec)));
        }
        let mut keys = vec![self.keyer.key_hash(&rec.business_key())];
        // A record an older build sent, not adopted yet: its code is under its plain key.
        if self.dedup.holds_legacy() {
            keys.push(silgate_dedup::legacy_key_hash(&rec.legacy_business_key()));
        }
        match self.dedup.last_codes(keys).await?.into_iter().flatten().next() {
            Some(code) => {
                rec.communication_mut().previous_code = Some(code);
                Ok(Ok(SourceItem::Record(rec)))
            }
            None => {
                let what = if rec.kind() == silgate_core::RecordKind::Cv { "candidatura" } else { "offerta" };
                let issue = silgate_core::Issue::error(
                    format!("DatiSistema/codice{what}precedente"),
                    "closure.unknown-original",
                    "no version of this record was sent through this gateway: there is nothing to close",
                );
                Ok(Err((rec, issue)))
            }
        }
    }

    /// Whether `p` may name the code it names as the one it replaces or closes: a code
    /// this gateway queued for the same CPI's record (kept in the index, or accepted
    /// earlier in this batch), or one it never queued (the region's earlier system) that
    /// carries the region's prefix; anything else is another CPI's or another region's
    /// (`code.foreign`).
    ///
    /// `filled`: the code was not the source's but the index's (the code last queued for
    /// the record's key); such a code, or one equal to it, is this gateway's even when
    /// queued before it kept codes' CPIs.
    fn previous_owner(&self, p: &crate::translate::Pending, known: &Known<'_>, filled: bool) -> Named {
        let c = p.record.communication();
        let Some(code) = c.previous_code.as_deref() else { return Named::Nothing };
        let cpi = p.record.provenance().cpi.as_str();
        let what = if p.record.kind() == silgate_core::RecordKind::Cv { "candidatura" } else { "offerta" };
        let path = format!("DatiSistema/codice{what}precedente");
        let owner = known.in_batch.get(code).cloned().or_else(|| known.owners.get(code).cloned().flatten());
        // Filled in from the index's memory of the record's key: this gateway's code,
        // whose CPI it may not have kept (queued before codes kept their CPIs). A CV's
        // key always held its CPI, so that code is its own; a vacancy's key held none
        // before dedup schema 4 (employer and local id), so a code remembered then may
        // be another CPI's: accepted, whatever its prefix (an ISTAT-era one too), and
        // audited as external.
        let own_memory = filled || known.remembered.get(&p.identity.key_hash).is_some_and(|r| r.as_deref() == Some(code));
        if owner.is_none() && own_memory {
            return if p.record.kind() == silgate_core::RecordKind::Cv { Named::Own } else { Named::External(code.to_string()) };
        }
        match owner {
            Some(owner) if owner == cpi => Named::Own,
            Some(_) => Named::Foreign(silgate_core::Issue::error(
                path,
                "code.foreign",
                "the code it names as the one it replaces was issued for another CPI's record: a record may name only its own CPI's codes",
            )),
            None if code.get(..2) == Some(self.translator.region()) => Named::External(code.to_string()),
            None => Named::Foreign(silgate_core::Issue::error(
                path,
                "code.foreign",
                format!("the code it names as the one it replaces does not carry this region's prefix ({}): it is another region's", self.translator.region()),
            )),
        }
    }

    fn pending(&self) -> usize {
        self.translator.deferred_len()
            + match &self.translator.out {
                crate::translate::Output::Collect { accepted, rejected, .. } => accepted.len() + rejected.len(),
                crate::translate::Output::Dir(_) => 0,
            }
    }

    /// Asks the dedup index about the records waiting in the translator (once per
    /// record, with the identity computed when it came in): an unchanged one is counted
    /// and audited as such without being judged again; the others are judged (XSD +
    /// rules) now.
    async fn judge_deferred(&mut self, entries: &mut Vec<NewEntry>) -> Result<()> {
        let mut waiting = self.translator.take_deferred();
        if waiting.is_empty() {
            return Ok(());
        }
        let held = if self.dedup.holds_legacy() { self.adopt(&mut waiting).await? } else { std::collections::HashMap::new() };
        let mut verdicts = self.dedup.admit(waiting.iter().map(|p| p.identity.clone()).collect()).await?;
        // In the queue under its plain id, unknown to the index (an older build died
        // between the two commits): already queued, and the index is told now what it
        // missed (the version, and the code the queue's item carries).
        if !held.is_empty() {
            let (mut told, mut versions, mut codes) = (std::collections::HashSet::new(), Vec::new(), Vec::new());
            for (p, v) in waiting.iter().zip(verdicts.iter_mut()) {
                let Some(code) = held.get(&p.identity.message_id) else { continue };
                if *v == Admission::New {
                    *v = Admission::Known;
                }
                if told.insert(p.identity.message_id.clone()) {
                    versions.push(p.identity.clone());
                    if !code.is_empty() {
                        let send = p.record.communication().kind == silgate_core::CommunicationKind::Send;
                        codes.push(silgate_dedup::Issued { key_hash: p.identity.key_hash.clone(), code: code.clone(), cpi: p.record.provenance().cpi.clone(), send });
                    }
                }
            }
            self.dedup.mark_queued(versions).await?;
            self.dedup.remember_codes(codes).await?;
        }
        // The index knows nothing of this batch yet (it is told after the queue commit):
        // a version twice in one batch is new once, then already queued.
        let mut in_batch = std::collections::HashSet::new();
        let mut twice = std::collections::HashSet::new();
        for (p, v) in waiting.iter().zip(verdicts.iter_mut()) {
            if *v == Admission::New && !in_batch.insert(p.identity.message_id.clone()) {
                *v = Admission::Known;
                twice.insert(p.identity.message_id.clone());
            }
        }
        // Older in its source than a version of its record already queued or delivered,
        // or than an earlier one of this batch (their modification times): superseded,
        // not sent (it would replace the newer one at the node). A version whose source
        // gives no time goes in the order it was read.
        let asks: Vec<(usize, (String, i64))> = waiting
            .iter()
            .zip(&verdicts)
            .enumerate()
            .filter(|(_, (_, v))| **v == Admission::New)
            .filter_map(|(i, (p, _))| p.record.provenance().modified_ms.map(|ms| (i, (p.identity.key_hash.clone(), ms.get()))))
            .collect();
        let mut superseded = std::collections::HashSet::new();
        if !asks.is_empty() {
            let answers = self.dedup.superseded(asks.iter().map(|(_, a)| a.clone()).collect()).await?;
            superseded.extend(asks.into_iter().zip(answers).filter(|(_, older)| *older).map(|((i, _), _)| i));
        }
        // The newest source time per key among this batch's versions accepted so far
        // (a rejected one supersedes nothing).
        let mut newest: std::collections::HashMap<String, i64> = std::collections::HashMap::new();
        // Versions the index knows but the audit does not: the process died between
        // the queue's commit and the batch's audit entries. Their story is told now,
        // marked recovered (asked once for the batch; a version twice in this batch has
        // its entries in it).
        // An unchanged one counts only when the index holds this very message id (the
        // same content from another source system is another id, never queued).
        let seen = |want: Admission| -> Vec<String> {
            waiting.iter().zip(&verdicts).filter(|(p, v)| **v == want && !twice.contains(&p.identity.message_id)).map(|(p, _)| p.identity.message_id.clone()).collect()
        };
        let mut known = seen(Admission::Known);
        let unchanged = seen(Admission::Unchanged);
        if !unchanged.is_empty() {
            let delivered = self.dedup.delivered_many(unchanged.clone()).await?;
            known.extend(unchanged.into_iter().zip(delivered).filter(|(_, r)| r.is_some()).map(|(id, _)| id));
        }
        let mut untold: std::collections::HashSet<String> = self.audit.log().lacking("queued", known).await?.into_iter().collect();
        let m = self.metrics;
        // Versions seen again unchanged change no state: one audit entry per CPI, input
        // and verdict for the batch, with the count (the weekly report adds it to the
        // CPI's received), instead of one per record.
        let mut seen_again: std::collections::BTreeMap<(String, String, SeenAgain), u64> = std::collections::BTreeMap::new();
        // An update names the version it replaces, as a closure does: the code last
        // queued for its business key. The index's last code per key is asked once for
        // the batch, for the updates and for the records that name a code themselves:
        // a code equal to it (a closure's, filled in when read) is this gateway's, even
        // one queued before it kept codes' CPIs.
        let is_update = |p: &crate::translate::Pending| p.record.communication().kind == silgate_core::CommunicationKind::Send && p.record.communication().previous_code.is_none();
        let mut keys: Vec<String> = waiting.iter().zip(&verdicts).filter(|(_, v)| **v == Admission::New).map(|(p, _)| p.identity.key_hash.clone()).collect();
        keys.sort_unstable();
        keys.dedup();
        let mut remembered: std::collections::HashMap<String, Option<String>> =
            if keys.is_empty() { std::collections::HashMap::new() } else { keys.iter().cloned().zip(self.dedup.last_codes(keys.clone()).await?).collect() };
        // A later version of a record in the same batch replaces the batch's earlier
        // accepted one, not what the index remembered before the batch.
        let mut in_batch: std::collections::HashMap<String, String> = std::collections::HashMap::new();
        // Whose codes the new versions name as the ones they replace or close (asked
        // once for the batch, of the codes known before it).
        let named: Vec<String> = waiting
            .iter()
            .zip(&verdicts)
            .filter(|(_, v)| **v == Admission::New)
            .filter_map(|(p, _)| match &p.record.communication().previous_code {
                Some(c) => Some(c.clone()),
                None if is_update(p) => remembered.get(&p.identity.key_hash).cloned().flatten(),
                None => None,
            })
            .collect();
        let owners: std::collections::HashMap<String, Option<String>> =
            if named.is_empty() { std::collections::HashMap::new() } else { named.iter().cloned().zip(self.dedup.code_owners(named.clone()).await?).collect() };
        // The CPI of every code accepted so far in this batch (the index learns them
        // after the queue's commit).
        let mut batch_owners: std::collections::HashMap<String, String> = std::collections::HashMap::new();
        for (i, (mut p, v)) in waiting.into_iter().zip(verdicts).enumerate() {
            let source_ms = p.record.provenance().modified_ms.map(std::num::NonZeroI64::get);
            let behind = v == Admission::New && source_ms.is_some_and(|ms| newest.get(&p.identity.key_hash).is_some_and(|n| *n > ms));
            if superseded.contains(&i) || behind {
                let prov = p.record.provenance();
                *seen_again.entry((prov.cpi.clone(), format!("{}:{}", prov.system, prov.origin), SeenAgain::Superseded)).or_default() += 1;
                m.record(prov.system.as_str(), &prov.cpi, "superseded");
                self.summary.unchanged += 1;
                self.summary.records += 1;
                if let Some(t) = p.ticket {
                    self.translator.verdicts.push((t, Verdict::Superseded(p.identity.message_id)));
                }
                continue;
            }
            if v == Admission::New {
                let key = &p.identity.key_hash;
                let replaces = if is_update(&p) { in_batch.get(key).cloned().or_else(|| remembered.get(key).cloned().flatten()) } else { None };
                let mut filled = false;
                if let Some(code) = replaces
                    && p.record.communication().code.as_deref() != Some(code.as_str())
                {
                    p.record.communication_mut().previous_code = Some(code);
                    filled = true;
                }
                let known = Known { owners: &owners, in_batch: &batch_owners, remembered: &remembered };
                let external = match self.previous_owner(&p, &known, filled) {
                    Named::Own | Named::Nothing => None,
                    Named::External(code) => Some(code),
                    Named::Foreign(issue) => {
                        self.translator.reject_pending(p, vec![issue])?;
                        continue;
                    }
                };
                let send = p.record.communication().kind == silgate_core::CommunicationKind::Send;
                let (key, code, id, cpi) = (p.identity.key_hash.clone(), p.record.communication().code.clone(), p.identity.message_id.clone(), p.record.provenance().cpi.clone());
                if self.translator.judge_pending(p)? {
                    if let Some(ms) = source_ms {
                        let n = newest.entry(key.clone()).or_insert(ms);
                        *n = (*n).max(ms);
                    }
                    // Audited once the record is accepted: a rejected one has no story
                    // beyond its rejection.
                    if let Some(previous) = external {
                        entries.push(NewEntry::now(Event::ExternalPrevious { code: previous }, Some(&id), code.as_deref(), Some(&cpi)));
                    }
                    if let Some(c) = code {
                        batch_owners.insert(c.clone(), cpi);
                        if send {
                            // What the index will remember for the key after this batch.
                            remembered.insert(key.clone(), Some(c.clone()));
                            in_batch.insert(key, c);
                        }
                    }
                }
                continue;
            }
            let prov = p.record.provenance();
            // Told once, however often the batch holds it.
            if untold.remove(&p.identity.message_id) {
                let (id, code) = (Some(p.identity.message_id.as_str()), p.record.communication().code.as_deref());
                let cpi = Some(prov.cpi.as_str()).filter(|c| !c.is_empty());
                entries.push(NewEntry::now(Event::Received { at: Some(prov.to_string()), t_cpi_ms: Some(cpi_time_ms(&p.record)), recovered: true }, id, code, cpi));
                entries.push(NewEntry::now(Event::Queued { backend: self.queue.backend().to_string(), recovered: true }, id, code, cpi));
            }
            let why = if v == Admission::Unchanged { SeenAgain::Unchanged } else { SeenAgain::AlreadyQueued };
            *seen_again.entry((prov.cpi.clone(), format!("{}:{}", prov.system, prov.origin), why)).or_default() += 1;
            m.record(prov.system.as_str(), &prov.cpi, "unchanged");
            self.summary.unchanged += 1;
            self.summary.records += 1;
            if let Some(t) = p.ticket {
                self.translator.verdicts.push((t, Verdict::Unchanged(p.identity.message_id)));
            }
        }
        for ((cpi, origin, why), n) in seen_again {
            let cpi = (!cpi.is_empty()).then_some(cpi.as_str());
            entries.push(NewEntry::now(Event::Deduplicated { count: n, why, at: Some(origin), receipt: None }, None, None, cpi));
        }
        Ok(())
    }

    /// The rows an older build stored under these records' plain identities move to
    /// their keyed ones: the queue's waiting versions first, then the index's rows
    /// (a crash in between leaves what the next batch moves the same way). A version
    /// that build queued or delivered keeps the plain message id it has there, in the
    /// queue and in the audit: it is known, not new, and its story stays one. A version
    /// the SQLite queue holds under its plain id is known too (that build died between
    /// the queue's commit and the index's): returns those ids, with the code of each
    /// one's item.
    async fn adopt(&self, waiting: &mut [crate::translate::Pending]) -> Result<std::collections::HashMap<String, String>> {
        let records: Vec<silgate_dedup::Adoption> =
            waiting.iter().map(|p| silgate_dedup::Adoption { plain: p.legacy.clone(), keyed: p.identity.clone(), cpi: p.record.provenance().cpi.clone() }).collect();
        let held = self.queue.holding(records.iter().map(|a| a.plain.message_id.clone()).collect()).await?;
        self.queue.rekey(records.iter().map(|a| (a.plain.key_hash.clone(), a.keyed.key_hash.clone())).collect()).await?;
        let known = self.dedup.adopt(records).await?;
        let mut in_queue = std::collections::HashMap::new();
        for ((p, known), held) in waiting.iter_mut().zip(known).zip(held) {
            if let Some(id) = known {
                p.identity.message_id = id;
            } else if let Some(code) = held {
                p.identity.message_id = p.legacy.message_id.clone();
                in_queue.insert(p.legacy.message_id.clone(), code);
            }
        }
        Ok(in_queue)
    }

    /// Queues what the translator accepted so far: every accepted record is new (the
    /// dedup index said so in [`Ingest::judge_deferred`]).
    pub(crate) async fn flush(&mut self) -> Result<()> {
        let mut entries = Vec::new();
        self.judge_deferred(&mut entries).await?;
        let (accepted, rejected, mut kept) = self.translator.drain()?;
        let m = self.metrics;
        for r in &rejected {
            let cpi = (!r.cpi.is_empty()).then_some(r.cpi.as_str());
            entries.push(NewEntry::now(Event::Received { at: Some(r.position.clone()), t_cpi_ms: None, recovered: false }, None, None, cpi));
            entries.push(NewEntry::now(Event::Rejected { rule: r.rule.clone(), at: Some(r.position.clone()), note: None }, None, None, cpi));
            if let Some(id) = &r.kept {
                entries.push(NewEntry::now(Event::Kept { id: id.clone(), by: crate::kept::RefusedBy::Ingest.as_str().to_string() }, None, None, cpi));
            }
            m.rejected(r.source, &r.cpi, &r.rule);
        }
        // Kept before the batch is queued, each with its place in the order of queueing:
        // a version of its record queued later is newer. This batch's versions of it
        // are queued now: those read after it are newer (its place is before the batch),
        // those read before it older (its place is after the batch, known once queued).
        // (Kept with the place before the batch first: a crash before the batch is
        // queued leaves it so, and nothing of the batch is then after it.)
        let mut behind_batch = Vec::new();
        if !kept.is_empty() {
            let before = self.dedup.order_now().await?;
            for (seq, k) in &mut kept {
                k.place = Some(before);
                if !k.key_hash.is_empty()
                    && accepted.iter().any(|a| a.identity.key_hash == k.key_hash)
                    && !accepted.iter().any(|a| a.seq > *seq && a.identity.key_hash == k.key_hash)
                {
                    behind_batch.push(k.id.clone());
                }
            }
            self.kept.keep(kept.into_iter().map(|(_, k)| k).collect()).await?;
        }
        self.summary.rejected += rejected.len();
        self.summary.records += rejected.len() + accepted.len();
        let received_ms = now_ms();
        let mut items = Vec::with_capacity(accepted.len());
        let mut identities = Vec::with_capacity(accepted.len());
        let mut codes = Vec::new();
        let mut tickets = Vec::new();
        for mut a in accepted {
            // When the CPI entered or changed the record: the start of the delay the
            // weekly report measures (to the node's receipt).
            let t_cpi = cpi_time_ms(&a.record);
            let send = a.record.communication().kind == silgate_core::CommunicationKind::Send;
            let source = a.record.provenance().system;
            if let Some(t) = a.ticket {
                tickets.push((t, a.identity.message_id.clone()));
            }
            identities.push((a.identity.clone(), a.record.provenance().modified_ms.map(std::num::NonZeroI64::get)));
            let omitted = std::mem::take(&mut a.omitted);
            let it = item(a, received_ms);
            entries.push(NewEntry::now(
                Event::Received { at: Some(it.source.to_string()), t_cpi_ms: Some(t_cpi), recovered: false },
                Some(&it.message_id),
                Some(&it.communication_code),
                Some(&it.cpi),
            ));
            for (rule, field) in omitted {
                m.omitted(source.as_str(), &it.cpi, &rule);
                entries.push(NewEntry::now(Event::Omitted { rule, field }, Some(&it.message_id), Some(&it.communication_code), Some(&it.cpi)));
            }
            m.record(source.as_str(), &it.cpi, "queued");
            codes.push(silgate_dedup::Issued { key_hash: it.key_hash.clone(), code: it.communication_code.clone(), cpi: it.cpi.clone(), send });
            items.push(it);
        }
        entries.extend(items.iter().map(|it| {
            NewEntry::now(Event::Queued { backend: self.queue.backend().to_string(), recovered: false }, Some(&it.message_id), Some(&it.communication_code), Some(&it.cpi))
        }));
        let n = items.len();
        if n > 0 {
            self.queue.enqueue(items).await?;
            m.enqueued(n as u64);
            self.dedup.mark_queued_at(identities).await?;
            self.dedup.remember_codes(codes).await?;
        }
        if n > 0 && !behind_batch.is_empty() {
            let after = self.dedup.order_now().await?;
            self.kept.place(behind_batch, after).await?;
        }
        self.summary.queued += n;
        self.audit.record(entries).await?;
        self.translator.verdicts.extend(tickets.into_iter().map(|(t, id)| (t, Verdict::Queued(id))));
        Ok(())
    }

    /// Takes the fates of the ticketed records settled so far.
    pub(crate) fn take_verdicts(&mut self) -> Vec<(Ticket, Verdict)> {
        std::mem::take(&mut self.translator.verdicts)
    }
}

/// What the batch's judge knows of the codes its records name.
struct Known<'a> {
    /// The CPI of each named code the index kept (`None`: not kept).
    owners: &'a std::collections::HashMap<String, Option<String>>,
    /// The CPI of each code accepted earlier in this batch.
    in_batch: &'a std::collections::HashMap<String, String>,
    /// The index's last code of each named record's key.
    remembered: &'a std::collections::HashMap<String, Option<String>>,
}

/// What a record names as the code it replaces or closes.
enum Named {
    /// Nothing.
    Nothing,
    /// A code queued for its own CPI's record.
    Own,
    /// A code this gateway never queued, with the region's prefix (the region's earlier
    /// system): accepted, and audited as such.
    External(String),
    /// Another CPI's or another region's: the record is rejected with this issue.
    Foreign(silgate_core::Issue),
}

/// The time the CPI gives the record (CV: entered or changed; vacancy: published), in
/// Unix milliseconds; a time without an offset is read as Italian standard time.
fn cpi_time_ms(r: &silgate_core::Record) -> i64 {
    let t = match r {
        silgate_core::Record::Cv(c) => c.system.inserted_at,
        silgate_core::Record::Vacancy(v) => v.publication.published_at,
    };
    t.unix_ms()
}

/// Builds the queue item of an accepted record.
fn item(a: Accepted, received_ms: i64) -> QueueItem {
    let rec = &a.record;
    let prov = rec.provenance();
    let Identity { message_id, key_hash, content_hash } = a.identity;
    let code = rec.communication().code.clone().unwrap_or_default();
    QueueItem {
        message_id,
        key_hash,
        content_hash,
        kind: rec.kind(),
        region: code.get(..2).unwrap_or_default().to_string(),
        // The record's CPI by the one rule (its business key's): the provenance's, else
        // the one it names.
        cpi: rec.cpi().to_string(),
        communication_code: code,
        // Its source time stays in the index, and its field names with the kept
        // refusal: an older build reads the item as before.
        source: silgate_core::Provenance { modified_ms: None, fields: silgate_core::SourceFields::default(), ..prov.clone() },
        received_ms,
        document: a.xml,
    }
}
