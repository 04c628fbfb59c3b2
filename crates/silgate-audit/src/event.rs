//! The typed audit events: each state change with its own fields, stored as JSON in
//! the entry's `fields` column (and covered by its hash), read back as the same type.
//!
//! Entries written before the fields existed (schema version 1) hold only a `detail`
//! text of `key=value` words; [`legacy`] reads those into the same types, in this one
//! place, so that readers (the weekly report, the push API's history) never parse
//! strings themselves.

use serde::{Deserialize, Serialize};
use std::fmt;

/// What happened to a record (or an input).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Event {
    /// A record was read from a source.
    Received {
        /// Where it was read: system, input and position (no content).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at: Option<String>,
        /// The CPI's own time on the record (entered, changed, published), Unix ms:
        /// the start of the delay the weekly report measures.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        t_cpi_ms: Option<i64>,
        /// Written at a later read, not when it happened: the process died between the
        /// state change and its entry (`audit verify` would otherwise find the gap).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        recovered: bool,
    },
    /// A record (or an input, or a request) failed a rule.
    Rejected {
        /// The rule id (`cf.checksum`, `source.refused`, `api.unauthenticated`).
        rule: String,
        /// Where.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at: Option<String>,
        /// A short, content-free note (why a request was unauthenticated).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    },
    /// A record was stored in the durable queue: it is accepted.
    Queued {
        /// The queue backend (`sqlite`, `rabbitmq`).
        backend: String,
        /// Written at a later read, not when it happened: the process died between the
        /// state change and its entry (`audit verify` would otherwise find the gap).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        recovered: bool,
    },
    /// Versions seen again: not queued (ingest), or not sent (the publisher).
    Deduplicated {
        /// How many (ingest counts a batch's per CPI and input in one entry).
        count: u64,
        /// Why.
        why: SeenAgain,
        /// Where they were read (ingest).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at: Option<String>,
        /// The node's receipt of the earlier delivery (the publisher).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        receipt: Option<String>,
    },
    /// One delivery attempt.
    Attempt {
        /// Its number, from 1.
        n: u32,
        /// Outcome class (`delivered`, `duplicate`, `refused`, `http-5xx`, ...).
        outcome: String,
        /// The eGov message id it travelled under.
        egov_id: String,
        /// Transport detail of a transient failure (no content).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
    },
    /// The node accepted the record.
    Delivered {
        /// The node's receipt id.
        receipt: String,
        /// The eGov message id.
        egov_id: String,
        /// Written at a later read, not when it happened: the process died between the
        /// state change and its entry (`audit verify` would otherwise find the gap).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        recovered: bool,
    },
    /// The node refused the record for good.
    Refused {
        /// Its reason code (rule ids or an `EGOV_IT_*` code).
        code: String,
    },
    /// Delivery gave up; the record is in the dead-letter store.
    DeadLettered {
        /// Why.
        reason: DeadReason,
    },
    /// A dead letter was put back in the queue.
    Replayed,
    /// A record refused (at ingest, or by the node) was kept for a replay, with what
    /// is needed to judge it again (`silgate quarantine list`).
    Kept {
        /// The kept refusal's id (`silgate quarantine replay --id`).
        id: String,
        /// Who refused it: `ingest` or `node`.
        by: String,
    },
    /// A kept refusal was judged again (`silgate quarantine replay`) with the tables and
    /// the mapping of the day; under a message id when it was queued.
    Rejudged {
        /// The kept refusal's id.
        kept: String,
        /// What became of it.
        verdict: Rejudged,
    },
    /// A record names as the one it replaces or closes a code this gateway never issued
    /// (the region's earlier system), with the region's prefix: accepted.
    ExternalPrevious {
        /// The code named.
        code: String,
    },
    /// An optional element of an accepted record was left out of its document: its
    /// value has no form in the standard (`code.unmappable`, under `omit`).
    Omitted {
        /// The rule id.
        rule: String,
        /// The element, as the national path (no value).
        field: String,
    },
    /// An input as a whole (a PEC message) and its fate.
    Input(Input),
    /// Personal content past its retention was deleted (counted, never named).
    Purged {
        /// What (`dead-letter`, one under its message id, or `inputs`, by count).
        what: String,
        /// How many went.
        count: u64,
        /// The retention they were past, in days.
        older_than_days: u32,
    },
    /// A person's content was erased on request (`silgate purge --fiscal-code`): under
    /// a version's message id, that version (its story ends there); without one, what
    /// else went, by count.
    Erased {
        /// What (`version`, one under its message id; `inputs`, kept inputs that
        /// named the person; `unsearched`, kept inputs that could not be searched).
        what: String,
        /// How many.
        count: u64,
        /// The request: the fiscal code keyed under the region's secret (whoever
        /// holds the secret and the code can find the erasure; nobody else can tell
        /// whose it was).
        subject: String,
    },
    /// The stores were restored from a backup (`silgate restore`).
    Restored {
        /// When the backup was taken, Unix ms.
        taken_ms: i64,
        /// `kept` (the audit in use verified, and goes on) or `restored` (it was
        /// missing or broken: the backup's chain goes on, and what it wrote after the
        /// backup is in `audit.db.before-restore-<ms>` beside it).
        audit: String,
        /// Versions changed or queued after the backup, brought from the index in use.
        settled: u64,
        /// Kept inputs moved after the backup, put back in their inbox to be read
        /// again.
        inputs: u64,
    },
}

/// Why a version was not queued or sent again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SeenAgain {
    /// The same content was the last delivered for its business key.
    Unchanged,
    /// The same version is already in the queue.
    AlreadyQueued,
    /// The publisher found it delivered (a redelivery after a crash).
    AlreadyDelivered,
    /// Older in its source than a version of the record already queued or delivered
    /// (its modification time): not sent, it would replace the newer one.
    Superseded,
}

impl SeenAgain {
    /// True for versions a source sent again (counted as received by the weekly
    /// report), false for the publisher's redeliveries.
    pub fn is_a_receipt(self) -> bool {
        !matches!(self, Self::AlreadyDelivered)
    }
}

/// What a replay of a kept refusal did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rejudged {
    /// Accepted and queued (its `received` and `queued` entries follow).
    Queued,
    /// Accepted, and the same version was queued or delivered since (a re-export).
    Unchanged,
    /// A later version of the record was queued since: not sent, it would replace it.
    Superseded,
    /// Refused again (kept again, with the new reason).
    RejectedAgain,
}

impl Rejudged {
    /// The stable name (`queued`, `unchanged`, `superseded`, `rejected-again`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Unchanged => "unchanged",
            Self::Superseded => "superseded",
            Self::RejectedAgain => "rejected-again",
        }
    }
}

/// Why delivery gave up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum DeadReason {
    /// Every attempt failed.
    AttemptsExhausted {
        /// How many were made.
        attempts: u32,
    },
    /// The item was handed out too many times (crashes while delivering it).
    Poison {
        /// How many times.
        deliveries: u32,
    },
}

/// A PEC message's fate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum Input {
    /// Taken apart, every record queued or quarantined.
    Processed {
        /// Its UID in the mailbox.
        uid: u32,
        /// The PEC `identificativo`.
        id: String,
        /// Its class (transport, receipt, anomaly, not PEC, invalid).
        class: String,
        /// Records read, queued, unchanged, rejected.
        records: u64,
        /// See `records`.
        queued: u64,
        /// See `records`.
        unchanged: u64,
        /// See `records`.
        rejected: u64,
    },
    /// Seen whole before (a crash before it was moved): moved only.
    AlreadyProcessed {
        /// Its UID.
        uid: u32,
        /// The PEC `identificativo`.
        id: String,
    },
    /// Moved to a folder of its own, so the mailbox goes on.
    SetAside {
        /// Its UID.
        uid: u32,
        /// The folder.
        folder: String,
        /// Why (no content).
        reason: String,
    },
}

impl Event {
    /// The stable name stored in the log's `event` column.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Received { .. } => "received",
            Self::Rejected { .. } => "rejected",
            Self::Queued { .. } => "queued",
            Self::Deduplicated { .. } => "deduplicated",
            Self::Attempt { .. } => "attempt",
            Self::Delivered { .. } => "delivered",
            Self::Refused { .. } => "refused",
            Self::DeadLettered { .. } => "dead-lettered",
            Self::Replayed => "replayed",
            Self::Kept { .. } => "kept",
            Self::Rejudged { .. } => "rejudged",
            Self::Omitted { .. } => "omitted",
            Self::ExternalPrevious { .. } => "external-previous",
            Self::Input(_) => "input",
            Self::Purged { .. } => "purged",
            Self::Erased { .. } => "erased",
            Self::Restored { .. } => "restored",
        }
    }

    /// The fields as stored (JSON, with the event's name under `event`).
    pub(crate) fn to_json(&self) -> String {
        // A plain enum of strings and numbers: serialising it cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// The detail's mark of an entry written late ([`Event::Received::recovered`]).
fn late(recovered: bool) -> &'static str {
    if recovered { " (recovered at a later read)" } else { "" }
}

/// The `detail` text an entry also carries, for people reading `audit query`.
impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let opt = |k: &str, v: &Option<String>| v.as_ref().map(|v| format!(" {k}={v}")).unwrap_or_default();
        match self {
            Self::Received { at, t_cpi_ms, recovered } => {
                write!(f, "{}{}{}", opt("at", at).trim_start(), t_cpi_ms.map(|t| format!(" t_cpi={t}")).unwrap_or_default(), late(*recovered))
            }
            Self::Rejected { rule, at, note } => write!(f, "rule={rule}{}{}", opt("at", at), note.as_ref().map(|n| format!(" {n}")).unwrap_or_default()),
            Self::Queued { backend, recovered } => write!(f, "backend={backend}{}", late(*recovered)),
            Self::Deduplicated { count, why, at, receipt } => write!(
                f,
                "n={count} {}{}{}",
                serde_json::to_value(why).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default(),
                opt("at", at),
                opt("receipt", receipt)
            ),
            Self::Attempt { n, outcome, egov_id, detail } => write!(f, "n={n} outcome={outcome} egov={egov_id}{}", detail.as_ref().map(|d| format!(" {d}")).unwrap_or_default()),
            Self::Delivered { receipt, egov_id, recovered } => write!(f, "receipt={receipt} egov={egov_id}{}", late(*recovered)),
            Self::Refused { code } => write!(f, "code={code}"),
            Self::DeadLettered { reason: DeadReason::AttemptsExhausted { attempts } } => write!(f, "attempts={attempts}"),
            Self::DeadLettered { reason: DeadReason::Poison { deliveries } } => write!(f, "poison deliveries={deliveries}"),
            Self::Replayed => f.write_str("from the dead-letter store"),
            Self::Kept { id, by } => write!(f, "kept={id} by={by}"),
            Self::Rejudged { kept, verdict } => write!(f, "kept={kept} verdict={}", verdict.as_str()),
            Self::Omitted { rule, field } => write!(f, "rule={rule} field={field}"),
            Self::ExternalPrevious { code } => write!(f, "previous={code}"),
            Self::Input(Input::Processed { uid, id, class, records, queued, unchanged, rejected }) => {
                write!(f, "pec uid={uid} id={id} class={class} records={records} queued={queued} unchanged={unchanged} rejected={rejected}")
            }
            Self::Input(Input::AlreadyProcessed { uid, id }) => write!(f, "pec uid={uid} id={id} already processed whole: moved only"),
            Self::Input(Input::SetAside { uid, folder, reason }) => write!(f, "pec uid={uid} set aside in {folder}: {reason}"),
            Self::Purged { what, count, older_than_days } => write!(f, "{what} n={count} older than {older_than_days} days"),
            Self::Erased { what, count, subject } => write!(f, "{what} n={count} erased on request {subject}"),
            Self::Restored { taken_ms, audit, settled, inputs } => {
                write!(f, "from the backup of {taken_ms}: audit {audit}, settled carried n={settled}, inputs read again n={inputs}")
            }
        }
    }
}

/// Reads an entry written before the typed fields existed (its `event` name and its
/// `detail` text) into an [`Event`]: the one place where the old `key=value` details
/// are parsed. `None` for a name this build does not know.
pub fn legacy(event: &str, detail: &str) -> Option<Event> {
    let word = |key: &str| detail.split_whitespace().find_map(|w| w.strip_prefix(key).and_then(|r| r.strip_prefix('='))).map(str::to_string);
    let num = |key: &str| word(key).and_then(|v| v.parse::<u64>().ok());
    Some(match event {
        "received" => Event::Received { at: word("at"), t_cpi_ms: word("t_cpi").and_then(|t| t.parse().ok()), recovered: false },
        "rejected" => Event::Rejected { rule: word("rule").unwrap_or_else(|| "unknown".into()), at: word("at"), note: None },
        "queued" => Event::Queued { backend: word("backend").unwrap_or_default(), recovered: false },
        "deduplicated" => {
            let why = if detail.contains("already delivered") {
                SeenAgain::AlreadyDelivered
            } else if detail.contains("already-queued") || detail.contains("already queued") {
                SeenAgain::AlreadyQueued
            } else {
                SeenAgain::Unchanged
            };
            // Per-batch entries carried their count. A per-record one (no `n=`) of ingest
            // had its own `received` entry beside it: it adds no receipt; one of the
            // publisher was one redelivery.
            let count = num("n").unwrap_or(u64::from(why == SeenAgain::AlreadyDelivered));
            Event::Deduplicated { count, why, at: word("at"), receipt: word("receipt") }
        }
        "attempt" => Event::Attempt {
            n: num("n").and_then(|n| u32::try_from(n).ok()).unwrap_or(0),
            outcome: word("outcome").unwrap_or_default(),
            egov_id: word("egov").unwrap_or_default(),
            detail: None,
        },
        "delivered" => Event::Delivered { receipt: word("receipt").unwrap_or_default(), egov_id: word("egov").unwrap_or_default(), recovered: false },
        "refused" => Event::Refused { code: word("code").unwrap_or_default() },
        "dead-lettered" => Event::DeadLettered {
            reason: match num("deliveries") {
                Some(d) => DeadReason::Poison { deliveries: u32::try_from(d).unwrap_or(u32::MAX) },
                None => DeadReason::AttemptsExhausted { attempts: num("attempts").and_then(|n| u32::try_from(n).ok()).unwrap_or(0) },
            },
        },
        "replayed" => Event::Replayed,
        // Newer than the details-only entries; read from its detail all the same.
        "omitted" => Event::Omitted { rule: word("rule").unwrap_or_default(), field: word("field").unwrap_or_default() },
        "external-previous" => Event::ExternalPrevious { code: word("previous").unwrap_or_default() },
        "input" => {
            let uid = num("uid").and_then(|n| u32::try_from(n).ok()).unwrap_or(0);
            let id = word("id").unwrap_or_default();
            if detail.contains("already processed whole") {
                Event::Input(Input::AlreadyProcessed { uid, id })
            } else if let Some((_, why)) = detail.split_once("set aside in ") {
                let (folder, reason) = why.split_once(": ").unwrap_or((why, ""));
                Event::Input(Input::SetAside { uid, folder: folder.to_string(), reason: reason.to_string() })
            } else {
                Event::Input(Input::Processed {
                    uid,
                    id,
                    class: word("class").unwrap_or_default(),
                    records: num("records").unwrap_or(0),
                    queued: num("queued").unwrap_or(0),
                    unchanged: num("unchanged").unwrap_or(0),
                    rejected: num("rejected").unwrap_or(0),
                })
            }
        }
        _ => return None,
    })
}
