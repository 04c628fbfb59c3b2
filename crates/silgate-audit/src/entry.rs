//! Entries, their hash, and the chain walk.

use crate::event::Event;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::fmt;

/// The `prev_hash` of the first entry of every chain.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// An entry to append: what happened, to which record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEntry {
    /// What happened.
    pub event: Event,
    /// The record version's message id, when it has one (a rejected record has none).
    pub message_id: Option<String>,
    /// The 25-digit communication code, when allocated.
    pub code: Option<String>,
    /// CPI code.
    pub cpi: Option<String>,
    /// When it happened, Unix milliseconds.
    pub at_ms: i64,
}

impl NewEntry {
    /// An entry stamped now.
    pub fn now(event: Event, message_id: Option<&str>, code: Option<&str>, cpi: Option<&str>) -> Self {
        let at_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        Self { event, message_id: message_id.map(str::to_string), code: code.map(str::to_string), cpi: cpi.map(str::to_string), at_ms }
    }
}

/// An entry as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// The chain (gateway instance name).
    pub instance: String,
    /// Position in the chain, from 1, without gaps.
    pub seq: i64,
    /// When it happened, Unix milliseconds.
    pub at_ms: i64,
    /// What happened (stored name; unknown names are kept as read so verify can judge).
    pub event: String,
    /// Message id.
    pub message_id: Option<String>,
    /// Communication code.
    pub code: Option<String>,
    /// CPI code.
    pub cpi: Option<String>,
    /// The event as text, for people (`audit query`).
    pub detail: String,
    /// The event's typed fields as JSON (see [`Entry::typed`]); `None` for entries
    /// written before they were stored (schema version 1).
    pub fields: Option<String>,
    /// Hash of the previous entry of the chain ([`GENESIS`] for the first).
    pub prev_hash: String,
    /// Hash of this entry.
    pub hash: String,
}

impl Entry {
    /// Builds the stored entry that follows (`seq - 1`, `prev_hash`).
    pub(crate) fn chain(instance: &str, seq: i64, prev_hash: &str, e: NewEntry) -> Self {
        let mut out = Self {
            instance: instance.to_string(),
            seq,
            at_ms: e.at_ms,
            event: e.event.name().to_string(),
            message_id: e.message_id,
            code: e.code,
            cpi: e.cpi,
            detail: e.event.to_string(),
            fields: Some(e.event.to_json()),
            prev_hash: prev_hash.to_string(),
            hash: String::new(),
        };
        out.hash = out.compute_hash();
        out
    }

    /// What happened, typed: from the stored fields, or (an entry written before they
    /// were stored) from its name and detail through [`crate::event::legacy`]. `None`
    /// when neither says anything this build knows.
    pub fn typed(&self) -> Option<Event> {
        match &self.fields {
            Some(f) => serde_json::from_str(f).ok(),
            None => crate::event::legacy(&self.event, &self.detail),
        }
    }

    /// SHA-256 over every field but `hash`, each length-prefixed so that no two
    /// different entries encode alike. The typed fields count when present; an entry
    /// written before they existed hashes as it did then.
    pub fn compute_hash(&self) -> String {
        let mut h = Sha256::new();
        let seq = self.seq.to_string();
        let at = self.at_ms.to_string();
        let fields: [&str; 9] = [
            &self.prev_hash,
            &self.instance,
            &seq,
            &at,
            &self.event,
            self.message_id.as_deref().unwrap_or("\u{0}"),
            self.code.as_deref().unwrap_or("\u{0}"),
            self.cpi.as_deref().unwrap_or("\u{0}"),
            &self.detail,
        ];
        for f in fields.into_iter().chain(self.fields.as_deref()) {
            h.update((f.len() as u64).to_be_bytes());
            h.update(f.as_bytes());
        }
        hex(&h.finalize())
    }
}

impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.at_ms) * 1_000_000)
            .ok()
            .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
            .unwrap_or_else(|| self.at_ms.to_string());
        write!(
            f,
            "{}#{} {at} {} message={} code={} cpi={} {}",
            self.instance,
            self.seq,
            self.event,
            self.message_id.as_deref().unwrap_or("-"),
            self.code.as_deref().unwrap_or("-"),
            self.cpi.as_deref().unwrap_or("-"),
            self.detail
        )
    }
}

/// Lowercase hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// What to select.
#[derive(Debug, Clone, Default)]
pub struct Query {
    /// A message id or a communication code.
    pub record: Option<String>,
    /// A CPI code.
    pub cpi: Option<String>,
    /// From this time on, Unix milliseconds.
    pub since_ms: Option<i64>,
    /// At most this many entries (default: all).
    pub limit: Option<i64>,
}

/// A break in a chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Problem {
    /// The entry's stored hash does not match its content: a field was changed.
    Edited {
        /// Chain.
        instance: String,
        /// Entry.
        seq: i64,
    },
    /// Entries are missing: the chain jumps from `after` to `next`.
    Deleted {
        /// Chain.
        instance: String,
        /// Last entry present before the gap (0: the start of the chain).
        after: i64,
        /// First entry present after the gap.
        next: i64,
    },
    /// The entry does not link to the one before it (`prev_hash` differs): it was
    /// inserted, or the one before it was replaced.
    Relinked {
        /// Chain.
        instance: String,
        /// Entry.
        seq: i64,
    },
    /// The chain ends before its recorded head: the last entries were deleted.
    Truncated {
        /// Chain.
        instance: String,
        /// Last entry present.
        last: i64,
        /// Head recorded at the last append.
        head: i64,
    },
    /// Entries beyond the recorded head, or the head's hash differs from the last
    /// entry's: entries were appended or replaced behind the writer's back.
    HeadMismatch {
        /// Chain.
        instance: String,
        /// Head recorded at the last append.
        head: i64,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Edited { instance, seq } => write!(f, "{instance}#{seq}: edited (stored hash does not match the entry)"),
            Self::Deleted { instance, after, next } => write!(f, "{instance}#{}..{}: deleted (chain jumps from #{after} to #{next})", after + 1, next - 1),
            Self::Relinked { instance, seq } => write!(f, "{instance}#{seq}: inserted or replaced (does not link to the entry before it)"),
            Self::Truncated { instance, last, head } => write!(f, "{instance}#{}..{head}: deleted at the end (last entry #{last}, head #{head})", last + 1),
            Self::HeadMismatch { instance, head } => write!(f, "{instance}: entries after head #{head}, or the head's hash differs: appended outside the writer"),
        }
    }
}

/// The result of [`crate::AuditLog::verify`].
#[derive(Debug, Clone, Default, Serialize)]
pub struct VerifyReport {
    /// Chains walked.
    pub chains: usize,
    /// Entries checked.
    pub entries: u64,
    /// Problems found (empty: the log is intact).
    pub problems: Vec<Problem>,
    /// Delivered record versions whose story has a gap (no `received` or no `queued`
    /// entry): 0 when the log is complete.
    pub gaps: u64,
    /// The first of them, oldest delivery first.
    pub gap_examples: Vec<Gap>,
}

/// Delivered record versions whose `received` or `queued` entry is missing, oldest
/// delivery first (the same SQL on SQLite and PostgreSQL).
pub(crate) const GAPS: &str = "WITH d AS (
        SELECT message_id, max(code) AS code, min(at_ms) AS t FROM audit
        WHERE event = 'delivered' AND message_id IS NOT NULL GROUP BY message_id
    )
    SELECT d.message_id, d.code,
        EXISTS (SELECT 1 FROM audit r WHERE r.message_id = d.message_id AND r.event = 'received'),
        EXISTS (SELECT 1 FROM audit q WHERE q.message_id = d.message_id AND q.event = 'queued')
    FROM d
    WHERE NOT EXISTS (SELECT 1 FROM audit r WHERE r.message_id = d.message_id AND r.event = 'received')
       OR NOT EXISTS (SELECT 1 FROM audit q WHERE q.message_id = d.message_id AND q.event = 'queued')
    ORDER BY d.t, d.message_id";

/// How many gaps [`VerifyReport::gap_examples`] shows.
pub const GAP_EXAMPLES: usize = 5;

/// A delivered record version whose story is not whole.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Gap {
    /// Its message id.
    pub message_id: String,
    /// Its communication code.
    pub code: Option<String>,
    /// Whether it has a `received` entry.
    pub received: bool,
    /// Whether it has a `queued` entry.
    pub queued: bool,
}

impl std::fmt::Display for Gap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let missing: Vec<&str> = [(!self.received).then_some("received"), (!self.queued).then_some("queued")].into_iter().flatten().collect();
        write!(f, "{} (code {}) delivered without {}", self.message_id, self.code.as_deref().unwrap_or("-"), missing.join(" and "))
    }
}

impl VerifyReport {
    /// True when no problem and no gap was found.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty() && self.gaps == 0
    }
}

/// Walks entries sorted by (instance, seq) against the recorded heads
/// (instance, seq, hash), one entry at a time: memory stays flat whatever the log size.
#[derive(Debug)]
pub(crate) struct Walker {
    heads: Vec<(String, i64, String)>,
    report: VerifyReport,
    /// The chain being walked: instance, last seq, last hash, already broken.
    cur: Option<(String, i64, String, bool)>,
    walked: Vec<String>,
}

impl Walker {
    pub(crate) fn new(heads: Vec<(String, i64, String)>) -> Self {
        let report = VerifyReport { chains: heads.len(), ..VerifyReport::default() };
        Self { heads, report, cur: None, walked: Vec::new() }
    }

    pub(crate) fn push(&mut self, e: Entry) {
        self.report.entries += 1;
        let same = self.cur.as_ref().is_some_and(|(i, ..)| *i == e.instance);
        if !same {
            self.end_chain();
            self.walked.push(e.instance.clone());
            self.cur = Some((e.instance.clone(), 0, GENESIS.to_string(), false));
        }
        let Some((_, last, last_hash, bad)) = self.cur.as_mut() else { return };
        if !*bad {
            let problem = if e.seq != *last + 1 {
                Some(Problem::Deleted { instance: e.instance.clone(), after: *last, next: e.seq })
            } else if e.compute_hash() != e.hash {
                Some(Problem::Edited { instance: e.instance.clone(), seq: e.seq })
            } else if e.prev_hash != *last_hash {
                Some(Problem::Relinked { instance: e.instance.clone(), seq: e.seq })
            } else {
                None
            };
            if let Some(p) = problem {
                self.report.problems.push(p);
                *bad = true;
            }
        }
        *last = e.seq;
        *last_hash = e.hash;
    }

    fn end_chain(&mut self) {
        let Some((inst, last, hash, bad)) = self.cur.take() else { return };
        match self.heads.iter().find(|(i, _, _)| *i == inst) {
            Some((_, hseq, _)) if last < *hseq => self.report.problems.push(Problem::Truncated { instance: inst, last, head: *hseq }),
            Some((_, hseq, hhash)) if (last > *hseq || hash != *hhash) && !bad => self.report.problems.push(Problem::HeadMismatch { instance: inst, head: *hseq }),
            None if !bad => self.report.problems.push(Problem::HeadMismatch { instance: inst, head: 0 }),
            _ => {}
        }
    }

    pub(crate) fn finish(mut self) -> VerifyReport {
        self.end_chain();
        for (inst, hseq, _) in &self.heads {
            if *hseq > 0 && !self.walked.iter().any(|w| w == inst) {
                self.report.problems.push(Problem::Truncated { instance: inst.clone(), last: 0, head: *hseq });
            }
        }
        self.report
    }
}
