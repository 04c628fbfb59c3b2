//! The group-commit writer behind [`Auditor`].

use crate::entry::{Entry, NewEntry};
use crate::{AuditError, AuditLog};
use tokio::sync::{mpsc, oneshot};

type Job = (Vec<NewEntry>, oneshot::Sender<Result<(), String>>);

/// Cloneable handle that appends to one instance's chain. Appends from many tasks are
/// gathered and committed together; [`Auditor::record`] returns once its entries are
/// committed.
#[derive(Debug, Clone)]
pub struct Auditor {
    tx: mpsc::Sender<Job>,
    instance: String,
}

impl Auditor {
    /// Starts the writer task for `instance`'s chain of `log`.
    pub fn spawn(log: AuditLog, instance: &str) -> Self {
        let (tx, mut rx) = mpsc::channel::<Job>(1024);
        let inst = instance.to_string();
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
                let res = log.append(&inst, all).await.map(|_: Vec<Entry>| ()).map_err(|e| e.to_string());
                if let Err(e) = &res {
                    tracing::error!(error = %e, "audit append failed");
                }
                for r in replies {
                    let _ = r.send(res.clone());
                }
            }
        });
        Self { tx, instance: instance.to_string() }
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
