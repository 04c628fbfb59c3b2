//! Erasure on request: `silgate purge --fiscal-code CF` removes a person's content from
//! the gateway's stores and audits what went, never whose it was.
//!
//! A person's records are their CVs, whose business key is their fiscal code and a CPI
//! (`Record::cv_key`). The key is never stored plain (the stores hold it keyed under
//! the region's secret), so the erasure rebuilds it for every CPI the stores know (the
//! codes queued per CPI, the queue's items, the configured CPIs), as this build keys it
//! and as builds before keyed hashes did, and then:
//! - the queue deletes the person's waiting items and dead letters (SQLite, with
//!   `secure_delete`), then is compacted (`VACUUM`: what acks of their delivered
//!   versions left in free pages goes too); RabbitMQ cannot take single messages out,
//!   and its publisher drops, unsent, what the index marked erased;
//! - the dedup index forgets them: each version keeps only its message id, marked
//!   `erased`; the content last delivered and the code last queued go. A later export
//!   of that person is new to the gateway and is sent as new;
//! - refused records kept for a replay (`kept.db`) of those keys, or whose record or
//!   document holds the fiscal code, are deleted (`secure_delete`, then `VACUUM`);
//! - kept inputs (an inbox's `done/` and `refused/`, pulled feeds set aside) that name
//!   the fiscal code, as text or UTF-16, are deleted whole (a feed set aside is
//!   emptied); a compressed one (zip, Excel workbook) cannot be searched: it is counted
//!   and left to its `inputs_days`, and the summary says so.
//!
//! The audit gets an `erased` entry before anything goes (the request), one per version
//! under its message id (its story ends there) and one per kind of input, each with the
//! request's keyed hash: whoever holds the secret and the fiscal code can find the
//! erasure; nobody else can tell whose it was. The audit itself holds no content and is
//! not rewritten. What the national node received is the ministry's: the erasure there
//! is asked of the node, not done here.

use crate::Parts;
use crate::error::{GatewayError, Result};
use crate::retention::{Sweep, kept_entries, kept_folders};
use silgate_audit::{Event, NewEntry};
use std::collections::BTreeSet;
use std::io::Read as _;
use std::path::Path;

/// What one erasure removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Erasure {
    /// The person's versions the dedup index forgot (queued, delivered, refused, dead).
    pub versions: usize,
    /// Items deleted from the queue, waiting or dead-lettered (SQLite; RabbitMQ drops
    /// them when it hands them out).
    pub queued: usize,
    /// Refused records kept for a replay that were the person's, deleted.
    pub refused: usize,
    /// Kept inputs that named the person, deleted (or emptied).
    pub inputs: usize,
    /// Kept inputs that could not be searched (compressed): left to their retention.
    pub unsearched: usize,
    /// Kept inputs that named the person but could not be deleted (the log names
    /// their folders).
    pub failed: usize,
    /// Stores a restore set aside (`*.before-restore-*`, never deleted by silgate):
    /// they hold what the stores held before it, the person's content too.
    pub set_aside: Vec<std::path::PathBuf>,
}

/// A fiscal code as an erasure request gives it: 16 letters and digits (or 11 digits,
/// a provisional code), any case, spaces around ignored. Returns it uppercased.
pub fn fiscal_code(given: &str) -> Result<String> {
    let cf = given.trim().to_ascii_uppercase();
    let ok = (cf.len() == 16 && cf.bytes().all(|b| b.is_ascii_alphanumeric())) || (cf.len() == 11 && cf.bytes().all(|b| b.is_ascii_digit()));
    if ok { Ok(cf) } else { Err(GatewayError::config("--fiscal-code: a fiscal code is 16 letters and digits (or 11 digits, a provisional one)")) }
}

/// Erases the person of `fiscal_code` (already checked by [`fiscal_code`]) from the
/// stores of `parts`. Run it with the instance stopped ([`erase_stopped`]): a delivery
/// in flight could otherwise still reach the node.
pub async fn erase(parts: &Parts, fiscal_code: &str) -> Result<Erasure> {
    let subject = parts.keyer.hash(&[b"erasure", fiscal_code.as_bytes()]);
    let mut cpis: BTreeSet<String> = parts.dedup.cpis().await?.into_iter().collect();
    cpis.extend(parts.queue.cpis().await?);
    cpis.extend(configured_cpis(parts));
    cpis.insert(String::new());
    let mut keys = Vec::with_capacity(cpis.len() * 2);
    for cpi in &cpis {
        let key = silgate_core::Record::cv_key(fiscal_code, cpi);
        keys.push(parts.keyer.key_hash(&key));
        keys.push(silgate_dedup::legacy_key_hash(&key));
    }
    // Audited before anything goes: the request, and each version under its message
    // id. A crash part way leaves the trace, and running the erasure again finishes
    // the job (audited again).
    let held = parts.queue.held(keys.clone()).await?;
    let known = parts.dedup.versions_of(keys.clone()).await?;
    let ids: BTreeSet<String> = held.into_iter().chain(known).collect();
    let mut entries = vec![erased("request", 1, &subject, None)];
    entries.extend(ids.iter().map(|id| erased("version", 1, &subject, Some(id))));
    parts.audit.record(entries).await?;
    let queued = parts.queue.erase(keys.clone()).await?.len();
    let refused = parts.kept().erase(keys.clone(), fiscal_code.to_string()).await?;
    let versions = parts.dedup.erase(keys).await?.len();
    // Delivered versions were acked, and an ack deletes without overwriting: their
    // documents may still lie in the file's free pages.
    parts.queue.compact().await?;
    let mut out = Erasure { versions, queued, refused, ..Erasure::default() };
    if out.versions == 0 && out.queued == 0 {
        tracing::warn!("Erasure: no version of the person was found in the stores (a CPI they were read under may be unknown to the stores)");
    }
    let folders = kept_folders(parts);
    let needle = fiscal_code.to_string();
    let (inputs, unsearched, failed) = tokio::task::spawn_blocking(move || {
        folders.iter().fold((0, 0, 0), |(n, u, f), (dir, how)| {
            let (dn, du, df) = sweep(dir, &needle, *how);
            (n + dn, u + du, f + df)
        })
    })
    .await?;
    (out.inputs, out.unsearched, out.failed) = (inputs, unsearched, failed);
    let mut entries = Vec::new();
    if refused > 0 {
        entries.push(erased("kept-refusals", refused, &subject, None));
    }
    if inputs > 0 {
        entries.push(erased("inputs", inputs, &subject, None));
    }
    if unsearched > 0 {
        entries.push(erased("unsearched", unsearched, &subject, None));
    }
    if !entries.is_empty() {
        parts.audit.record(entries).await?;
    }
    out.set_aside = set_aside(parts);
    if failed > 0 {
        return Err(GatewayError::Retention(format!(
            "erasure: {failed} kept input(s) naming the person could not be deleted (the log names their folders); the rest went and is audited"
        )));
    }
    Ok(out)
}

/// [`erase`] holding the instance's lock: refused while the instance runs.
pub async fn erase_stopped(cfg: crate::GatewayConfig, fiscal_code: &str) -> Result<Erasure> {
    let _held = crate::instance::InstanceLock::take(&cfg).await?;
    crate::instance::none_running(&cfg)?;
    let parts = Parts::open(cfg).await?;
    erase(&parts, fiscal_code).await
}

/// The stores a restore set aside beside the store files.
fn set_aside(parts: &Parts) -> Vec<std::path::PathBuf> {
    let cfg = &parts.cfg;
    let mut out = Vec::new();
    for store in [cfg.queue_file(), cfg.dedup_file(), cfg.audit_file()] {
        let (Some(dir), Some(name)) = (store.parent(), store.file_name()) else { continue };
        let prefix = format!("{}.before-restore-", name.to_string_lossy());
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if n.starts_with(&prefix) && !n.ends_with("-wal") && !n.ends_with("-shm") {
                out.push(e.path());
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

fn erased(what: &str, count: usize, subject: &str, id: Option<&str>) -> NewEntry {
    NewEntry::now(Event::Erased { what: what.into(), count: u64::try_from(count).unwrap_or(u64::MAX), subject: subject.into() }, id, None, None)
}

/// The CPIs the configuration names (a pulled feed's, PEC senders', push clients').
fn configured_cpis(parts: &Parts) -> Vec<String> {
    let cfg = &parts.cfg;
    let mut out: Vec<String> = cfg.sources.iter().filter_map(|s| s.cpi.clone()).collect();
    if let Some(pec) = &cfg.pec {
        out.extend(pec.senders.values().cloned());
    }
    if let Some(api) = &cfg.api {
        out.extend(api.clients.iter().map(|c| c.cpi.clone()));
    }
    out
}

/// Whether a kept input names the fiscal code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Holds {
    Yes,
    No,
    /// Compressed: cannot be searched.
    Unsearchable,
}

/// Deletes (or empties) the entries of `dir` that name `cf`; returns how many went,
/// how many could not be searched, how many could not be deleted. Links and dot
/// entries are left alone, as retention leaves them.
fn sweep(dir: &Path, cf: &str, how: Sweep) -> (usize, usize, usize) {
    let (entries, mut failed) = kept_entries(dir, "Erasure");
    let (mut n, mut unsearched) = (0, 0);
    for (name, path, meta) in entries {
        // A reason note goes with its input (its name is the input's).
        if name.ends_with(".reason.txt") {
            continue;
        }
        let holds = match search(&path, &meta, cf) {
            Ok(h) => h,
            Err(e) => {
                tracing::error!(folder = %dir.display(), error = %e.kind(), "Erasure: a kept input cannot be read");
                failed += 1;
                continue;
            }
        };
        match holds {
            Holds::No => continue,
            Holds::Unsearchable => {
                unsearched += 1;
                continue;
            }
            Holds::Yes => {}
        }
        let done = match (how, meta.is_dir()) {
            (_, true) => std::fs::remove_dir_all(&path),
            (Sweep::Empty, false) => std::fs::OpenOptions::new().write(true).truncate(true).open(&path).map(|_| ()),
            (Sweep::Remove, false) => std::fs::remove_file(&path),
        };
        if done.is_ok() && how == Sweep::Remove {
            match std::fs::remove_file(dir.join(format!("{name}.reason.txt"))) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    tracing::error!(folder = %dir.display(), error = %e.kind(), "Erasure: the reason note of a deleted input could not be deleted");
                    failed += 1;
                }
                _ => {}
            }
        }
        match done {
            Ok(()) => n += 1,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::error!(folder = %dir.display(), error = %e.kind(), "Erasure: a kept input naming the person could not be deleted");
                failed += 1;
            }
        }
    }
    (n, unsearched, failed)
}

/// Searches a kept input (a file, or an export's folder whole) for `cf`.
fn search(path: &Path, meta: &std::fs::Metadata, cf: &str) -> std::io::Result<Holds> {
    if !meta.is_dir() {
        return search_file(path, cf);
    }
    let mut any_unsearchable = false;
    for e in std::fs::read_dir(path)? {
        let e = e?;
        let p = e.path();
        let m = std::fs::symlink_metadata(&p)?;
        if m.file_type().is_symlink() {
            continue;
        }
        match search(&p, &m, cf)? {
            Holds::Yes => return Ok(Holds::Yes),
            Holds::Unsearchable => any_unsearchable = true,
            Holds::No => {}
        }
    }
    Ok(if any_unsearchable { Holds::Unsearchable } else { Holds::No })
}

/// Searches one file for `cf` as ASCII text (any case) and as UTF-16 (Access stores
/// text so), a block at a time. A zip (an Excel workbook, a zipped export) or gzip
/// file cannot be searched.
fn search_file(path: &Path, cf: &str) -> std::io::Result<Holds> {
    let mut f = std::fs::File::open(path)?;
    let ascii: Vec<u8> = cf.bytes().collect();
    let wide: Vec<u8> = cf.bytes().flat_map(|b| [b, 0]).collect();
    let (fa, fw) = (memchr::memmem::Finder::new(&ascii), memchr::memmem::Finder::new(&wide));
    let keep = wide.len();
    let mut buf = vec![0u8; 64 * 1024 + keep];
    let mut have = 0;
    let mut first = true;
    loop {
        let n = f.read(&mut buf[have..])?;
        if n == 0 {
            return Ok(Holds::No);
        }
        let end = have + n;
        if first {
            first = false;
            if buf[..end].starts_with(b"PK\x03\x04") || buf[..end].starts_with(&[0x1f, 0x8b]) {
                return Ok(Holds::Unsearchable);
            }
        }
        buf[..end].make_ascii_uppercase();
        if fa.find(&buf[..end]).is_some() || fw.find(&buf[..end]).is_some() {
            return Ok(Holds::Yes);
        }
        let from = end.saturating_sub(keep);
        buf.copy_within(from..end, 0);
        have = end - from;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fiscal_code_is_checked_and_uppercased() {
        assert_eq!(fiscal_code(" rssmra80a01h501u ").unwrap_or_default(), "RSSMRA80A01H501U");
        assert_eq!(fiscal_code("12345678901").unwrap_or_default(), "12345678901");
        for bad in ["", "RSSMRA80A01H501", "RSSMRA80A01H501U1", "RSSMRA80A01H50'U", "1234567890A"] {
            assert!(fiscal_code(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_file_is_searched_as_text_and_utf16_across_blocks_and_a_zip_is_not() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let cf = "RSSMRA80A01H501U";
        let write = |name: &str, bytes: &[u8]| {
            let p = dir.path().join(name);
            std::fs::write(&p, bytes).unwrap_or_else(|e| panic!("{e}"));
            p
        };
        // Straddling the block boundary.
        let mut big = vec![b'x'; 64 * 1024 - 5];
        big.extend_from_slice(b"rssmra80a01h501u");
        let wide: Vec<u8> = cf.bytes().flat_map(|b| [b, 0]).collect();
        let mut mdb = vec![0u8; 100_000];
        mdb.extend_from_slice(&wide);
        let cases = [
            (write("a.csv", &big), Holds::Yes),
            (write("b.mdb", &mdb), Holds::Yes),
            (write("c.xml", b"<cf>BNCGNN80A01H501X</cf>"), Holds::No),
            (write("d.xlsx", b"PK\x03\x04 RSSMRA80A01H501U"), Holds::Unsearchable),
        ];
        for (p, want) in cases {
            assert_eq!(search_file(&p, cf).unwrap_or_else(|e| panic!("{e}")), want, "{}", p.display());
        }
    }
}
