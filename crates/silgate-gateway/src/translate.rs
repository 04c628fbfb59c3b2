//! The translator: a source's records (or its rejections) -> codes allocated (and for
//! a closure the code of the version it closes) -> judged and written as 1546 XML ->
//! a file, or kept for the queue, or a quarantine line.
//!
//! For `silgate translate`, each accepted record becomes `DIR/{cv|vacancy}-{code}.xml`; each rejected record one
//! JSON line in `DIR/quarantine.jsonl` with `source`, `position`, `field`, `rule`,
//! `message` (the first error) and `issues` (all of them). Inputs are streamed line by
//! line: memory does not grow with the input. The same input always gives the same
//! files, byte for byte (codes are derived from content when the record has none).
//!
//! An optional element whose code the standard cannot carry (a five-level CP2011 code,
//! see `silgate_std1546::fit`) is mapped by the region's table, left out (`omit`, the
//! default) or rejected (`reject`). Each one left out is a JSON line in `warnings.jsonl`
//! beside the quarantine file (`source`, `position`, `field`, `rule`, `message`), and in
//! `ingest` / `run` an `omitted` audit entry and a metric.

use crate::error::{Context as _, GatewayError, Result};
use serde::Serialize;
use silgate_codes::CodeTables;
use silgate_core::{CommunicationKind, Date, Issue, Position, Provenance, Record, Rejection, SourceItem, SourceSystem};
use silgate_dedup::{Identity, Keyer};
use silgate_std1546::XsdValidator;
use silgate_std1546::code::{CodeAllocator, ContentAllocator};
use silgate_std1546::fit::Unmappable;
use std::fs::File;
use std::io::{BufRead, BufWriter, Write as _};
use std::path::{Path, PathBuf};

/// One quarantine line.
#[derive(Debug, Serialize)]
pub struct QuarantineLine<'a> {
    /// The kept refusal's id (`silgate quarantine replay --id`); none for `translate`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kept: Option<&'a str>,
    /// The source system.
    pub source: &'a str,
    /// Input and position in it.
    pub position: String,
    /// The field of the first error, as the national path.
    pub field: &'a str,
    /// The same field as the source names it, with its position
    /// (`ESPERIENZE.CSV/COD_QUAL line 7`), where the source names it otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_field: Option<&'a str>,
    /// Its rule.
    pub rule: &'a str,
    /// Its message (never the value).
    pub message: &'a str,
    /// Every issue.
    pub issues: &'a [Issue],
}

use silgate_core::json::parse_record;

/// One warning line (an element left out of an accepted record's document).
#[derive(Debug, Serialize)]
pub struct WarningLine<'a> {
    /// The source system.
    pub source: &'a str,
    /// Input and position in it.
    pub position: &'a str,
    /// The element, as the national path.
    pub field: &'a str,
    /// The same field as the source names it, with its position.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_field: Option<&'a str>,
    /// Its rule.
    pub rule: &'a str,
    /// Why (never the record's personal data).
    pub message: &'a str,
}

/// Counters of one run.
#[derive(Debug, Default)]
pub struct Summary {
    /// Records read.
    pub records: usize,
    /// Records accepted.
    pub accepted: usize,
    /// Records quarantined.
    pub rejected: usize,
    /// Warnings of accepted records.
    pub warnings: usize,
    /// Optional elements left out of accepted records' documents (among `warnings`).
    pub omitted: usize,
    /// Documents written (`translate`).
    pub written: Vec<PathBuf>,
    /// (rule, count) of the first error of each rejected record.
    pub reasons: Vec<(String, usize)>,
}

impl Summary {
    fn reject(&mut self, rule: &str) {
        self.rejected += 1;
        match self.reasons.iter_mut().find(|(r, _)| r == rule) {
            Some((_, n)) => *n += 1,
            None => self.reasons.push((rule.to_string(), 1)),
        }
    }
}

/// A record that passed every check, with what the queue needs.
#[derive(Debug)]
pub(crate) struct Accepted {
    pub(crate) record: Record,
    pub(crate) xml: String,
    pub(crate) identity: Identity,
    pub(crate) ticket: Option<Ticket>,
    /// The elements left out of its document, as (rule, national path).
    pub(crate) omitted: Vec<(String, String)>,
    /// Its place among the items this translator read.
    pub(crate) seq: usize,
}

/// A rejected record as the audit and the metrics see it.
#[derive(Debug, Clone)]
pub(crate) struct Rejected {
    pub(crate) position: String,
    pub(crate) rule: String,
    pub(crate) source: &'static str,
    pub(crate) cpi: String,
    /// The id it is kept under for a replay.
    pub(crate) kept: Option<String>,
}

/// What [`Translator::drain`] takes: the accepted records, the rejected ones, and what
/// is kept of them for a replay (each with its place among the records settled).
pub(crate) type Drained = (Vec<Accepted>, Vec<Rejected>, Vec<(usize, crate::kept::NewKept)>);

/// Names one record handed to the translator whose fate its caller waits for (a push
/// API request): its [`Verdict`] is kept under it.
pub(crate) type Ticket = usize;

/// What became of one ticketed record.
#[derive(Debug, Clone)]
pub(crate) enum Verdict {
    /// In the durable queue, under this message id.
    Queued(String),
    /// This version was queued or delivered before: nothing added.
    Unchanged(String),
    /// Older in its source than a version of its record queued or delivered: not
    /// queued (its message id).
    Superseded(String),
    /// Quarantined, with every issue, and kept for a replay under this id.
    Rejected(Vec<Issue>, Option<String>),
}

/// A record waiting to be judged, with its identity (computed once, here) and ticket.
#[derive(Debug)]
pub(crate) struct Pending {
    pub(crate) record: Record,
    pub(crate) identity: Identity,
    /// The plain identity builds before keyed hashes gave it: what an index they
    /// filled holds of it (see `DedupIndex::adopt`).
    pub(crate) legacy: Identity,
    pub(crate) ticket: Option<Ticket>,
    /// Its place among the items this translator read.
    pub(crate) seq: usize,
    /// Its identity was given: a replayed version goes again as itself, and refused
    /// again is kept again under this id.
    pub(crate) again_as: Option<String>,
}

/// What a refusal keeps of the record's identity: the identity, pinned or not, and the
/// record's place among the items read.
#[derive(Clone, Copy)]
struct KeptAs<'i> {
    identity: Option<&'i Identity>,
    again_as: Option<&'i str>,
    seq: usize,
}

/// Records wait here, with their identities, until the dedup index has been asked.
struct Deferred<'a> {
    waiting: Vec<Pending>,
    /// The region's secret the identities are keyed with.
    keyer: &'a Keyer,
}

/// Where accepted records go.
pub(crate) enum Output {
    /// One file per document in this directory (`translate`).
    Dir(PathBuf),
    /// Kept for the caller to queue (`ingest`, `run`); rejects are kept too, as
    /// (position, rule) for the audit, and what a replay needs of them.
    Collect { accepted: Vec<Accepted>, rejected: Vec<Rejected>, kept: Vec<(usize, crate::kept::NewKept)> },
}

/// Everything a translation needs besides its input.
pub struct Translator<'a> {
    pub(crate) tables: &'a CodeTables,
    pub(crate) today: Date,
    pub(crate) xsd: &'a XsdValidator,
    pub(crate) allocator: Option<ContentAllocator>,
    pub(crate) out: Output,
    quarantine: BufWriter<File>,
    /// Where warning lines go (beside the quarantine file), opened at the first one.
    warnings_path: PathBuf,
    warnings: Option<BufWriter<File>>,
    /// What to do with optional codes the standard cannot carry.
    pub(crate) unmappable: Unmappable,
    /// What was done so far.
    pub summary: Summary,
    /// When deferring (the ingest step), records wait here with their codes allocated
    /// until the dedup index has said which are unchanged: those are not judged again
    /// (the XSD and rules are most of an ingest's cost; an unchanged re-export should
    /// cost little). See [`Translator::judge`].
    deferred: Option<Deferred<'a>>,
    /// The fates of ticketed records, until taken.
    pub(crate) verdicts: Vec<(Ticket, Verdict)>,
    /// Items read so far, the order of [`Accepted::seq`].
    read: usize,
    /// The identity the next record waits with instead of its own, and the kept
    /// refusal it is (a replayed version goes again as itself), see [`Translator::pin`].
    pin: Option<(Identity, String)>,
}

impl std::fmt::Debug for Translator<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Translator").field("today", &self.today).field("summary", &self.summary).finish_non_exhaustive()
    }
}

impl<'a> Translator<'a> {
    /// A translator that writes one document per accepted record into `out`, and
    /// `out/quarantine.jsonl`.
    pub fn new(tables: &'a CodeTables, today: Date, xsd: &'a XsdValidator, region: Option<&str>, out: &Path) -> Result<Self> {
        silgate_core::private::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
        let q = out.join("quarantine.jsonl");
        let quarantine = BufWriter::new(silgate_core::private::create(&q).with_context(|| format!("creating {}", q.display()))?);
        // A run's warnings are this run's: an earlier run's file goes.
        let w = out.join("warnings.jsonl");
        match std::fs::remove_file(&w) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(GatewayError::from(e)).with_context(|| format!("removing {}", w.display())),
            _ => {}
        }
        Self::with(tables, today, xsd, region, Output::Dir(out.to_path_buf()), quarantine, w)
    }

    /// A translator that keeps accepted records for the queue and appends rejects to
    /// the `quarantine` file. Records wait, with their identities keyed by `keyer`,
    /// for [`Translator::take_deferred`] instead of being judged at once.
    pub(crate) fn collecting(tables: &'a CodeTables, today: Date, xsd: &'a XsdValidator, region: &str, quarantine: &Path, keyer: &'a Keyer) -> Result<Self> {
        if let Some(dir) = quarantine.parent() {
            silgate_core::private::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let f = silgate_core::private::append(quarantine).with_context(|| format!("opening {}", quarantine.display()))?;
        let warnings = quarantine.with_file_name("warnings.jsonl");
        let mut t = Self::with(tables, today, xsd, Some(region), Output::Collect { accepted: Vec::new(), rejected: Vec::new(), kept: Vec::new() }, BufWriter::new(f), warnings)?;
        t.deferred = Some(Deferred { waiting: Vec::new(), keyer });
        Ok(t)
    }

    /// What to do with optional codes the standard cannot carry (default: omit).
    pub fn with_unmappable(mut self, policy: Unmappable) -> Self {
        self.unmappable = policy;
        self
    }

    fn with(tables: &'a CodeTables, today: Date, xsd: &'a XsdValidator, region: Option<&str>, out: Output, quarantine: BufWriter<File>, warnings_path: PathBuf) -> Result<Self> {
        if let Some(r) = region
            && !(r.len() == 2 && r.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(GatewayError::config(format!("the region must be a two-digit code of the ministry's table, got '{r}'")));
        }
        Ok(Self {
            tables,
            today,
            xsd,
            allocator: region.map(|r| ContentAllocator { region: r.to_string() }),
            out,
            quarantine,
            warnings_path,
            warnings: None,
            unmappable: Unmappable::default(),
            summary: Summary::default(),
            deferred: None,
            verdicts: Vec::new(),
            read: 0,
            pin: None,
        })
    }

    /// The records waiting to be judged.
    pub(crate) fn take_deferred(&mut self) -> Vec<Pending> {
        self.deferred.as_mut().map(|d| std::mem::take(&mut d.waiting)).unwrap_or_default()
    }

    /// How many records wait to be judged.
    pub(crate) fn deferred_len(&self) -> usize {
        self.deferred.as_ref().map_or(0, |d| d.waiting.len())
    }

    /// Takes the accepted and rejected records collected so far, and what is to be
    /// kept of the rejected ones.
    pub(crate) fn drain(&mut self) -> Result<Drained> {
        self.quarantine.flush()?;
        if let Some(w) = self.warnings.as_mut() {
            w.flush()?;
        }
        Ok(match &mut self.out {
            Output::Collect { accepted, rejected, kept } => (std::mem::take(accepted), std::mem::take(rejected), std::mem::take(kept)),
            Output::Dir(_) => (Vec::new(), Vec::new(), Vec::new()),
        })
    }

    /// Quarantines what `prov` names (the record, when one could be read): a line, and
    /// when collecting, what a replay needs.
    fn quarantine(&mut self, prov: &Provenance, rec: Option<&Record>, kept_as: KeptAs<'_>, issues: &[Issue], ticket: Option<Ticket>) -> Result<()> {
        let (source, position) = (prov.system, format!("{}:{}", prov.origin, prov.position));
        let cpi = rec.map_or(prov.cpi.as_str(), Record::cpi);
        // Each issue names the source's own field too (an adapter's own issues name it
        // already; those of the standard, the rules and the codes are named here).
        let mut named;
        let issues = match rec {
            Some(r) if issues.iter().any(|i| i.source_field.is_none()) => {
                named = issues.to_vec();
                silgate_std1546::fields::name_sources(r, &mut named);
                &named[..]
            }
            _ => issues,
        };
        let (field, rule, message) = crate::kept::first(issues);
        let source_field = crate::kept::first_issue(issues).and_then(|i| i.source_field.as_deref());
        let mut kept_id = None;
        if let (Output::Collect { rejected, kept, .. }, Some(d)) = (&mut self.out, &self.deferred) {
            let json = rec.map(serde_json::to_string).transpose()?;
            // A replayed version refused again stays the refusal it was (the node's
            // keeps its id); a version's identity is the one it waited with.
            let id = match kept_as.again_as {
                Some(id) => id.to_string(),
                None => crate::kept::ingest_id(d.keyer, prov, &identity_json(rec)?.unwrap_or_else(|| format!("{rule} {field}"))),
            };
            let key_hash = kept_as.identity.map(|i| i.key_hash.clone()).or_else(|| rec.map(|r| d.keyer.key_hash(&r.business_key())));
            kept.push((
                kept_as.seq,
                crate::kept::NewKept {
                    id: id.clone(),
                    by: crate::kept::RefusedBy::Ingest,
                    provenance: prov.clone(),
                    cpi: cpi.to_string(),
                    issues: issues.to_vec(),
                    key_hash: key_hash.unwrap_or_default(),
                    message_id: kept_as.identity.map(|i| i.message_id.clone()),
                    content_hash: kept_as.identity.map(|i| i.content_hash.clone()),
                    code: rec.and_then(|r| r.communication().code.clone()),
                    body: json.map(crate::kept::Body::Record),
                    place: None,
                    seq: i64::try_from(kept_as.seq).unwrap_or(i64::MAX),
                },
            ));
            rejected.push(Rejected { position: position.clone(), rule: rule.to_string(), source: source.as_str(), cpi: cpi.to_string(), kept: Some(id.clone()) });
            kept_id = Some(id);
        }
        if let Some(t) = ticket {
            self.verdicts.push((t, Verdict::Rejected(issues.to_vec(), kept_id.clone())));
        }
        let line = QuarantineLine { kept: kept_id.as_deref(), source: source.as_str(), position, field, source_field, rule, message, issues };
        serde_json::to_writer(&mut self.quarantine, &line)?;
        self.quarantine.write_all(b"\n")?;
        self.summary.reject(rule);
        Ok(())
    }

    /// Writes one warning line (opening the file at the first).
    fn warn(&mut self, source: SourceSystem, position: &str, i: &Issue) -> Result<()> {
        if self.warnings.is_none() {
            let p = &self.warnings_path;
            let f = silgate_core::private::append(p).with_context(|| format!("opening {}", p.display()))?;
            self.warnings = Some(BufWriter::new(f));
        }
        if let Some(w) = self.warnings.as_mut() {
            let line = WarningLine { source: source.as_str(), position, field: &i.path, source_field: i.source_field.as_deref(), rule: &i.rule, message: &i.message };
            serde_json::to_writer(&mut *w, &line)?;
            w.write_all(b"\n")?;
        }
        Ok(())
    }

    /// Translates what an adapter emitted, or quarantines it.
    pub fn item(&mut self, item: SourceItem) -> Result<()> {
        self.item_ticketed(item, None)
    }

    /// [`Translator::item`], keeping the item's fate under `ticket`.
    pub(crate) fn item_ticketed(&mut self, item: SourceItem, ticket: Option<Ticket>) -> Result<()> {
        // A pin is for this item only, whatever becomes of it.
        let pin = self.pin.take();
        self.read += 1;
        match item {
            SourceItem::Record(rec) => self.record(*rec, ticket, pin),
            SourceItem::Rejected(r) => {
                self.summary.records += 1;
                let kept_as = KeptAs { identity: None, again_as: None, seq: self.read };
                self.quarantine(&r.provenance, None, kept_as, &r.issues, ticket)
            }
        }
    }

    /// The next item handed in, a record, waits (collecting) with `identity` instead of
    /// the one its content gives; refused, it is kept as the refusal `kept`.
    pub(crate) fn pin(&mut self, identity: Identity, kept: String) {
        self.pin = Some((identity, kept));
    }

    /// Quarantines a record read whole with `issue` (a closure of nothing), keeping it.
    pub(crate) fn reject_read(&mut self, rec: Record, issue: Issue, ticket: Option<Ticket>) -> Result<()> {
        self.pin = None;
        self.read += 1;
        self.summary.records += 1;
        let kept_as = KeptAs { identity: None, again_as: None, seq: self.read };
        self.quarantine(&rec.provenance().clone(), Some(&rec), kept_as, &[issue], ticket)
    }

    /// Translates one record (already read) or quarantines it.
    fn record(&mut self, mut rec: Record, ticket: Option<Ticket>, pin: Option<(Identity, String)>) -> Result<()> {
        self.summary.records += 1;
        // A closure read from a source names no code. `translate` has no memory of
        // what was sent: it names the code the same content had as a send (exact when
        // the source changed only the state). `ingest` and `run` fill it from the dedup
        // index before the record gets here (see `Ingest::source`).
        if matches!(self.out, Output::Dir(_)) && rec.communication().kind == CommunicationKind::Closure && rec.communication().previous_code.is_none() {
            let mut twin = rec.clone();
            let c = twin.communication_mut();
            c.kind = CommunicationKind::Send;
            c.closure_reason = None;
            c.code = None;
            if let Some(code) = self.allocator.as_mut().and_then(|a| a.allocate(&twin)) {
                rec.communication_mut().previous_code = Some(code);
            }
        }
        // The content hash (without provenance and code) names the version and, for a
        // record without a code, derives it: computed once, here.
        // (Writing files of records that carry their code, it is not needed at all.)
        let content = (rec.communication().code.is_none() || !matches!(self.out, Output::Dir(_))).then(|| silgate_std1546::code::content_hash(&rec));
        if rec.communication().code.is_none() {
            let hashed = content.as_ref().zip(self.allocator.as_ref());
            match hashed.and_then(|(c, a)| a.allocate_hashed(&rec, c)) {
                Some(code) => rec.communication_mut().code = Some(code),
                None => {
                    let issue = Issue::error("DatiSistema/codice", "code.unallocated", "the record has no communication code and no region was given to allocate one");
                    let kept_as = KeptAs { identity: pin.as_ref().map(|(i, _)| i), again_as: pin.as_ref().map(|(_, k)| k.as_str()), seq: self.read };
                    return self.quarantine(&rec.provenance().clone(), Some(&rec), kept_as, &[issue], ticket);
                }
            }
        }
        if let Some(d) = &mut self.deferred {
            let content = content.unwrap_or_else(|| silgate_std1546::code::content_hash(&rec));
            let system = rec.provenance().system.as_str();
            let (identity, again_as) = match pin {
                Some((identity, kept)) => (identity, Some(kept)),
                None => (d.keyer.identity(system, &rec.business_key(), &content), None),
            };
            let legacy = silgate_dedup::legacy_identity(system, &rec.legacy_business_key(), &content);
            d.waiting.push(Pending { identity, legacy, record: rec, ticket, seq: self.read, again_as });
            return Ok(());
        }
        let seq = self.read;
        self.judge(rec, None, ticket, seq, None).map(|_| ())
    }

    /// Judges a record that waited, with the identity computed when it came in.
    pub(crate) fn judge_pending(&mut self, p: Pending) -> Result<bool> {
        self.judge(p.record, Some(p.identity), p.ticket, p.seq, p.again_as)
    }

    /// Quarantines a waiting record with `issues` instead of judging it.
    pub(crate) fn reject_pending(&mut self, p: Pending, issues: Vec<Issue>) -> Result<()> {
        let kept_as = KeptAs { identity: Some(&p.identity), again_as: p.again_as.as_deref(), seq: p.seq };
        self.quarantine(&p.record.provenance().clone(), Some(&p.record), kept_as, &issues, p.ticket)
    }

    /// The region's ministerial code (the first two digits of its codes); empty for a
    /// translator that allocates no codes.
    pub(crate) fn region(&self) -> &str {
        self.allocator.as_ref().map_or("", |a| a.region.as_str())
    }

    /// Judges a record whose code is allocated (XSD + rules): accepted with its
    /// document (and identity, computed now if it has none yet), or quarantined. True
    /// when accepted.
    fn judge(&mut self, rec: Record, id: Option<Identity>, ticket: Option<Ticket>, seq: usize, again_as: Option<String>) -> Result<bool> {
        let prov = rec.provenance().clone();
        let position = format!("{}:{}", prov.origin, prov.position);
        // The identity (and code) stay those of the source's content, computed when
        // it came in: a region that loads a six-segment table later does not make the
        // same export look new. The document is written from the record fitted to the
        // standard; a refusal keeps the record as it came (a later table may map what
        // this one could not).
        let mut fitted = rec.clone();
        let mut issues = silgate_std1546::fit::fit(&mut fitted, self.tables, self.unmappable);
        let (xml, judged) = silgate_std1546::emit(&fitted, self.tables, self.today, self.xsd)?;
        issues.extend(judged);
        silgate_std1546::fields::name_sources(&rec, &mut issues);
        self.summary.warnings += issues.iter().filter(|i| !i.is_error()).count();
        if silgate_core::issue::has_errors(&issues) {
            let kept_as = KeptAs { identity: id.as_ref(), again_as: again_as.as_deref(), seq };
            return self.quarantine(&prov, Some(&rec), kept_as, &issues, ticket).map(|()| false);
        }
        let mut omitted = Vec::new();
        for i in issues.iter().filter(|i| i.rule == silgate_std1546::fit::RULE) {
            self.warn(prov.system, &position, i)?;
            omitted.push((i.rule.clone(), i.path.clone()));
        }
        self.summary.omitted += omitted.len();
        self.summary.accepted += 1;
        match &mut self.out {
            Output::Dir(dir) => {
                let code = rec.communication().code.clone().unwrap_or_default();
                let path = dir.join(format!("{}-{code}.xml", rec.kind().as_str()));
                silgate_core::private::write(&path, xml).with_context(|| format!("writing {}", path.display()))?;
                self.summary.written.push(path);
            }
            Output::Collect { accepted, .. } => {
                // Collecting, every record waited with its identity (see `collecting`).
                let identity = id.ok_or(GatewayError::Task("translate"))?;
                accepted.push(Accepted { record: rec, xml, identity, ticket, omitted, seq });
            }
        }
        Ok(true)
    }

    /// Reads canonical JSON lines from `input`, naming it `origin` in provenance.
    pub fn canonical_json(&mut self, input: impl BufRead, origin: &str) -> Result<()> {
        let mut lines = JsonLines::new(input, origin, silgate_source_tabular::Limits::default().max_line_bytes);
        while let Some(item) = lines.next_item()? {
            self.item(item)?;
        }
        Ok(())
    }

    /// Flushes the quarantine and returns what was done.
    pub fn finish(mut self) -> Result<Summary> {
        self.quarantine.flush()?;
        if let Some(w) = self.warnings.as_mut() {
            w.flush()?;
        }
        self.summary.written.sort();
        self.summary.written.dedup();
        Ok(self.summary)
    }
}

/// Canonical JSON lines read one at a time, each at most `max` bytes: a longer line is
/// skipped without being held (its record rejected, `limit.line_bytes`), a line that is
/// not UTF-8 is rejected (`json.utf8`); only a failing read is an error.
pub(crate) struct JsonLines<R> {
    input: R,
    origin: String,
    max: u64,
    n: u64,
    buf: Vec<u8>,
}

impl<R: BufRead> JsonLines<R> {
    /// Lines of `input` (named `origin` in provenance and errors).
    pub(crate) fn new(input: R, origin: &str, max: u64) -> Self {
        Self { input, origin: origin.to_string(), max, n: 0, buf: Vec::new() }
    }

    /// The next non-blank line as an item; `None` at the end of the input.
    pub(crate) fn next_item(&mut self) -> std::result::Result<Option<SourceItem>, silgate_core::SourceError> {
        loop {
            self.n += 1;
            let n = self.n;
            let (read, over) = self.line().map_err(|e| silgate_core::SourceError::io(format!("{}: line {n}", self.origin), e))?;
            if read == 0 {
                return Ok(None);
            }
            let rejected = |rule: &str, message: String| {
                Some(SourceItem::Rejected(Rejection {
                    provenance: Provenance::new(SourceSystem::CanonicalJson, &self.origin, Position::Line(n)),
                    issues: vec![Issue::error("", rule, message)],
                }))
            };
            let item = if over {
                rejected("limit.line_bytes", format!("the line holds {read} bytes, more than {} (the limit: [limits] max_line_bytes)", self.max))
            } else {
                match std::str::from_utf8(&self.buf) {
                    Ok(line) => canonical_json_line(line.trim_end_matches(['\n', '\r']), n, &self.origin),
                    Err(e) => rejected("json.utf8", format!("the line is not UTF-8 (byte {})", e.valid_up_to() + 1)),
                }
            };
            if item.is_some() {
                return Ok(item);
            }
        }
    }

    /// Reads one line into `buf` unless it is longer than `max`: (bytes read, too long).
    fn line(&mut self) -> std::io::Result<(u64, bool)> {
        self.buf.clear();
        let (mut read, mut over) = (0u64, false);
        loop {
            let avail = match self.input.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if avail.is_empty() {
                return Ok((read, over));
            }
            let (len, done) = match avail.iter().position(|&b| b == b'\n') {
                Some(i) => (i + 1, true),
                None => (avail.len(), false),
            };
            read += len as u64;
            if !over && read > self.max.saturating_add(2) {
                over = true;
                self.buf = Vec::new();
            }
            if !over {
                self.buf.extend_from_slice(&avail[..len]);
            }
            self.input.consume(len);
            if done {
                return Ok((read, over));
            }
        }
    }
}

/// One canonical JSON line (`n` is its 1-based number in `origin`) as what an adapter
/// would emit: the record with its provenance, or its rejection; `None` for a blank line.
pub(crate) fn canonical_json_line(line: &str, n: u64, origin: &str) -> Option<SourceItem> {
    if line.trim().is_empty() {
        return None;
    }
    Some(match parse_record(line) {
        Ok(mut rec) => {
            let cpi = rec.cpi().to_string();
            let p = rec.provenance_mut();
            *p = Provenance::new(SourceSystem::CanonicalJson, origin, Position::Line(n));
            p.cpi = cpi;
            SourceItem::Record(Box::new(rec))
        }
        Err(issue) => SourceItem::Rejected(Rejection { provenance: Provenance::new(SourceSystem::CanonicalJson, origin, Position::Line(n)), issues: vec![issue] }),
    })
}

/// The record as the id of its kept refusal sees it: its JSON without the names of
/// its source fields, which hold the line of every child row (a re-export where only
/// other records' rows moved is the same refusal; so is one kept by a build that did
/// not name source fields).
fn identity_json(rec: Option<&Record>) -> std::result::Result<Option<String>, serde_json::Error> {
    let Some(r) = rec else { return Ok(None) };
    if r.provenance().fields.is_canonical() {
        return serde_json::to_string(r).map(Some);
    }
    let mut r = r.clone();
    r.provenance_mut().fields = silgate_core::SourceFields::default();
    serde_json::to_string(&r).map(Some)
}

#[cfg(test)]
mod json_lines_tests {
    #![allow(clippy::unwrap_used)] // test input is in memory

    use super::*;

    fn rules(input: &[u8], max: u64) -> Vec<(Position, String)> {
        let mut lines = JsonLines::new(std::io::BufReader::with_capacity(16, input), "in.jsonl", max);
        let mut out = Vec::new();
        while let Some(item) = lines.next_item().unwrap() {
            out.push(match item {
                SourceItem::Record(r) => (r.provenance().position.clone(), "record".into()),
                SourceItem::Rejected(r) => (r.provenance.position.clone(), r.issues[0].rule.clone()),
            });
        }
        out
    }

    #[test]
    fn given_a_line_past_the_limit_it_should_be_rejected_unheld_and_the_next_read() {
        let mut input = format!("{{\"kind\":\"vacancy\",\"x\":\"{}\"}}\n", "a".repeat(500)).into_bytes();
        input.extend_from_slice(b"\xff\xfe not utf-8\r\n\n   \nnot json\n{}");
        let got = rules(&input, 100);
        let rules: Vec<(u64, &str)> = got.iter().map(|(p, r)| (if let Position::Line(n) = p { *n } else { 0 }, r.as_str())).collect();
        assert_eq!(rules, vec![(1, "limit.line_bytes"), (2, "json.utf8"), (5, "json.syntax"), (6, rules[3].1)]);
        assert_ne!(rules[3].1, "limit.line_bytes", "the last line, without a newline, is read");
    }

    #[test]
    fn given_the_same_record_named_from_other_rows_its_kept_identity_should_not_change() {
        let fixture = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/canonical/mixed.jsonl")).unwrap();
        let rec = silgate_core::json::parse_record(fixture.lines().next().unwrap()).unwrap();
        let canonical = identity_json(Some(&rec)).unwrap();
        let named = |line: &str| {
            let mut r = rec.clone();
            let mut m = silgate_core::FieldMap::default();
            m.add("/experiences/0/profession", format!("ESPERIENZE.CSV/COD_QUAL {line}"));
            r.provenance_mut().fields = silgate_core::SourceFields::mapped(m);
            identity_json(Some(&r)).unwrap()
        };
        assert_eq!(named("line 7"), named("line 9"), "only another record's rows moved");
        assert_eq!(named("line 7"), canonical, "as a build that named no fields kept it");
        assert_eq!(identity_json(None).unwrap(), None);
    }

    #[test]
    fn given_a_line_of_exactly_the_limit_it_should_be_read() {
        let line = "x".repeat(100);
        let got = rules(format!("{line}\r\n").as_bytes(), 100);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].1, "json.syntax");
    }
}
