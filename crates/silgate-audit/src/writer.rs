//! The group-commit writer behind [`Auditor`].

use crate::entry::NewEntry;
use crate::{AuditError, AuditLog};
use tokio::sync::{mpsc, oneshot};

type Job = (Vec<NewEntry>, oneshot::Sender<Result<(), String>>);

/// Attempts at one group commit before its callers are told it failed (a database
/// that restarted, a lock held too long): the delays between them double from 100 ms.
const ATTEMPTS: u32 = 5;

/// Appends, trying again on failure; the callers learn of a failure only after every
/// attempt failed, and then do not go on with what depended on it.
async fn append_retrying(log: &AuditLog, instance: &str, entries: Vec<NewEntry>) -> Result<(), String> {
    let mut delay = std::time::Duration::from_millis(100);
    let mut attempt = 1;
    loop {
        match log.append(instance, entries.clone()).await {
            Ok(_) => return Ok(()),
            // A commit whose answer was lost (the connection dropped after COMMIT) must
            // not be written twice: when the chain's head is this batch's last entry,
            // the batch is in.
            Err(_) if committed(log, instance, &entries).await => return Ok(()),
            Err(e) if attempt < ATTEMPTS => {
                tracing::warn!(error = %e, attempt, "Audit append failed; trying again");
                tokio::time::sleep(delay).await;
                delay *= 2;
                attempt += 1;
            }
            Err(e) => {
                tracing::error!(error = %e, attempts = ATTEMPTS, "Audit append failed for good");
                return Err(e.to_string());
            }
        }
    }
}

/// True when `instance`'s head is the last of `entries` (same time, event, record and
/// detail): the append that failed had committed.
async fn committed(log: &AuditLog, instance: &str, entries: &[NewEntry]) -> bool {
    let Some(mine) = entries.last() else { return true };
    match log.last(instance).await {
        Ok(Some(head)) => head.at_ms == mine.at_ms && head.event == mine.event.name() && head.message_id == mine.message_id && head.detail == mine.event.to_string(),
        _ => false,
    }
}

/// Cloneable handle that appends to one instance's chain. Appends from many tasks are
/// gathered and committed together; [`Auditor::record`] returns once its entries are
/// committed.
#[derive(Debug, Clone)]
pub struct Auditor {
    tx: mpsc::Sender<Job>,
    instance: String,
    log: AuditLog,
}

impl Auditor {
    /// Starts the writer task for `instance`'s chain of `log`.
    pub fn spawn(log: AuditLog, instance: &str) -> Self {
        let (tx, mut rx) = mpsc::channel::<Job>(1024);
        let inst = instance.to_string();
        let read = log.clone();
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut jobs = vec![first];
                while jobs.len() < 256 {
                    match rx.try_recv() {
                        Ok(j) => jobs.push(j),
                        Err(_) => break,
                    }
                }
                let mut all = Vec::new();
                let mut replies = Vec::with_capacity(jobs.len());
                for (entries, reply) in jobs {
                    all.extend(entries);
                    replies.push(reply);
                }
                let res = append_retrying(&log, &inst, all).await;
                for r in replies {
                    let _ = r.send(res.clone());
                }
            }
        });
        Self { tx, instance: instance.to_string(), log: read }
    }

    /// The log it writes to, for the queries of the writers themselves (what a crash
    /// left untold: [`AuditLog::lacking`]).
    pub fn log(&self) -> &AuditLog {
        &self.log
    }

    /// The chain this handle writes.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// Appends `entries`; resolves once committed.
    pub async fn record(&self, entries: Vec<NewEntry>) -> Result<(), AuditError> {
        if entries.is_empty() {
            return Ok(());
        }
        let (reply, rx) = oneshot::channel();
        self.tx.send((entries, reply)).await.map_err(|_| AuditError::WriterStopped)?;
        rx.await.map_err(|_| AuditError::WriterStopped)?.map_err(AuditError::Task)
    }

    /// Appends one entry; resolves once committed.
    pub async fn one(&self, entry: NewEntry) -> Result<(), AuditError> {
        self.record(vec![entry]).await
    }
}
