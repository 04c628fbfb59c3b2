//! The lock on an instance's name, held while `silgate run` runs.
//!
//! An instance's name is its audit chain, its inbox claims and, on the SQLite queue,
//! the holder its leases are stamped with. Two running processes under one name would
//! fork the chain, read each other's claims, and (what the lock makes safe) the second
//! would take the first one's leases back as its own. So [`InstanceLock::take`] holds an
//! exclusive lock on `instance-<name>.lock` in the data directory, and beside the
//! SQLite queue file when that lives elsewhere; the kernel releases it when the process
//! dies, however it dies. Holding it, a starting process knows that every lease stamped
//! with its name was its previous process's, and takes them back at once
//! ([`silgate_queue::AnyQueue::take_back`]) instead of waiting out the visibility
//! timeout. Other instances' leases are not touched: they wait their timeout (on
//! RabbitMQ the broker returns a dead connection's deliveries itself).

use crate::config::{GatewayConfig, QueueBackend, StoreBackend};
use crate::error::{GatewayError, Result};
use std::path::{Path, PathBuf};

/// The held lock files of one instance, and its PostgreSQL lock when the audit is
/// there (released when dropped).
#[derive(Debug)]
pub(crate) struct InstanceLock {
    _files: Vec<std::fs::File>,
    _pg: Option<silgate_store::pg::SessionLock>,
}

/// The part of an instance's name that may appear in a file name.
pub(crate) fn safe_name(instance: &str) -> String {
    instance.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect()
}

impl InstanceLock {
    /// The lock files of `cfg`'s instance: in the data directory, and beside the
    /// SQLite queue file if it is kept elsewhere.
    fn paths(cfg: &GatewayConfig) -> Vec<PathBuf> {
        let name = format!("instance-{}.lock", safe_name(&cfg.instance));
        let mut dirs = vec![cfg.data_dir.clone()];
        let queue = cfg.queue_file();
        if let Some(d) = queue.parent().filter(|d| cfg.queue.backend == QueueBackend::Sqlite && !d.as_os_str().is_empty() && !dirs.iter().any(|x| same_dir(x, d))) {
            dirs.push(d.to_path_buf());
        }
        dirs.into_iter().map(|d| d.join(&name)).collect()
    }

    /// Takes the lock of `cfg`'s instance, or fails naming the file another running
    /// process holds. With the audit on PostgreSQL (shared by instances on several
    /// hosts: the chain of a name lives there), the name is also locked there, by a
    /// session advisory lock on `silgate-instance:<name>`.
    pub(crate) async fn take(cfg: &GatewayConfig) -> Result<Self> {
        let mut lock = Self::take_files(cfg)?;
        if cfg.audit.backend == StoreBackend::Postgres {
            let url = cfg.audit.url.as_deref().ok_or_else(|| GatewayError::config("audit.url is required for the postgres backend"))?;
            let name = format!("silgate-instance:{}", cfg.instance);
            let held = silgate_store::pg::SessionLock::take(url, &cfg.audit.pg_tls("audit")?, &name).await.map_err(|e| GatewayError::Lock(e.to_string()))?;
            match held {
                Some(h) => lock._pg = Some(h),
                None => {
                    return Err(GatewayError::config(format!(
                        "instance {:?} is running already (another process holds its lock on the audit's PostgreSQL): give every running gateway its own `instance` name",
                        cfg.instance
                    )));
                }
            }
        }
        Ok(lock)
    }

    /// The lock files alone.
    fn take_files(cfg: &GatewayConfig) -> Result<Self> {
        let mut files = Vec::new();
        for p in Self::paths(cfg) {
            if let Some(d) = p.parent() {
                silgate_core::private::create_dir_all(d).map_err(|e| GatewayError::io(format!("creating {}", d.display()), e))?;
            }
            let f = silgate_core::private::open_write(&p).map_err(|e| GatewayError::io(format!("opening {}", p.display()), e))?;
            match f.try_lock() {
                Ok(()) => files.push(f),
                Err(std::fs::TryLockError::WouldBlock) => {
                    return Err(GatewayError::config(format!(
                        "instance {:?} is running already (another process holds {}): give every running gateway its own `instance` name",
                        cfg.instance,
                        p.display()
                    )));
                }
                Err(std::fs::TryLockError::Error(e)) => return Err(GatewayError::io(format!("locking {}", p.display()), e)),
            }
        }
        Ok(Self { _files: files, _pg: None })
    }
}

/// Fails when any other instance runs on this data directory (its `instance-*.lock`
/// held; call it holding this instance's own, [`InstanceLock::take`]):
/// what must not run beside another instance's deliveries (an erasure, a restore).
/// Instances on other hosts sharing PostgreSQL or RabbitMQ are not seen here.
pub(crate) fn none_running(cfg: &GatewayConfig) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(&cfg.data_dir) else { return Ok(()) };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        // Our own is held by the caller (a lock taken twice in one process conflicts).
        if !(name.starts_with("instance-") && name.ends_with(".lock")) || name == format!("instance-{}.lock", safe_name(&cfg.instance)) {
            continue;
        }
        let f = std::fs::OpenOptions::new().read(true).write(true).open(e.path()).map_err(|err| GatewayError::io(format!("opening {}", e.path().display()), err))?;
        match f.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(GatewayError::config(format!("an instance runs on {} (it holds {}): stop it first", cfg.data_dir.display(), e.path().display())));
            }
            Err(std::fs::TryLockError::Error(err)) => return Err(GatewayError::io(format!("locking {}", e.path().display()), err)),
        }
    }
    Ok(())
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_one_instance_name_a_second_lock_should_be_refused_until_the_first_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = GatewayConfig::new("puglia", "PUGLIA", dir.path().join("data"), silgate_publish::ClientConfig::new("https://127.0.0.1:1/ws"));
        cfg.queue.path = dir.path().join("elsewhere/queue.db");
        let held = InstanceLock::take_files(&cfg).unwrap();
        assert_eq!(InstanceLock::paths(&cfg).len(), 2, "data directory and the queue's folder");
        let e = InstanceLock::take_files(&cfg).unwrap_err().to_string();
        assert!(e.contains("is running already") && e.contains("instance-gateway.lock"), "{e}");
        let mut other = cfg.clone();
        other.instance = "gw-2".into();
        assert!(InstanceLock::take_files(&other).is_ok(), "another name is another lock");
        drop(held);
        assert!(InstanceLock::take_files(&cfg).is_ok(), "free again once the holder is gone");
    }
}
