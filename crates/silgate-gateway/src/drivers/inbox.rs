//! The inbox poller: a folder of one source kind, polled every `poll_secs`.
//!
//! Every input it finds stable (same size and time at two polls in a row, no partial
//! upload name) is claimed by one atomic rename into `INBOX/.claimed/<instance>/`
//! (several instances may poll one inbox: the loser of a race finds it gone), ingested,
//! and only then moved to `<inbox>/done/`: the file's receipt, given once every record
//! of it is queued or quarantined. An input refused whole moves to `refused/` with a
//! `.reason.txt`; one unreadable now (locked, permissions) stays for the next poll. An
//! input whose read was started `[limits] max_unfinished_reads` times (3) and never
//! finished (the process died in it: a crash loop) is set aside the same way
//! (`source.poison`): the count is on disk, in `<inbox>/.attempts/`, so restarts do not
//! reset it; a graceful stop lets a read finish, and is not counted.
//!
//! File names often hold a person's name (`CV_Mario_Rossi.xml`): a claimed input is
//! renamed to a label that says nothing of it (`in-<ms>-<random>.<ext>`), its name kept
//! beside it in `<label>.name` (owner-only). Logs, the audit and quarantine know the
//! input by its label; `done/` and `refused/` give it back its name. The folders the
//! poller makes in the inbox are owner-only.

use super::attempts::Attempts;
use super::{Driver, Shutdown};
use crate::Parts;
use crate::config::SourceKind;
use crate::error::{GatewayError, Result};
use crate::parts::today;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Moves an inbox entry (file or folder) into `to/`, under a new name if one of that
/// name is already there (an export re-sent under the same name is not overwritten).
/// Returns the name it got.
fn move_into(f: &Path, to: &Path) -> std::io::Result<PathBuf> {
    let name = f.file_name().ok_or_else(|| std::io::Error::other("no file name"))?.to_owned();
    move_as(f, to, &name)
}

/// [`move_into`] under `name`.
fn move_as(f: &Path, to: &Path, name: &std::ffi::OsStr) -> std::io::Result<PathBuf> {
    silgate_core::private::create_dir_all(to)?;
    let mut target = to.join(name);
    if target.exists() {
        // The stamp goes before the extension: the name must still be what its kind
        // takes (a claimed input is listed again by extension).
        let ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
        let p = Path::new(name);
        target = match (p.file_stem(), p.extension()) {
            (Some(stem), Some(ext)) => to.join(format!("{}.{ms}.{}", stem.to_string_lossy(), ext.to_string_lossy())),
            _ => to.join(format!("{}.{ms}", name.to_string_lossy())),
        };
    }
    std::fs::rename(f, &target)?;
    Ok(target)
}

/// Size and last change of a file, or of everything in a folder: an input is taken only
/// when this is the same at two polls in a row (it is not being copied in any more).
fn fingerprint(p: &Path) -> Option<(u64, std::time::SystemTime)> {
    let m = std::fs::metadata(p).ok()?;
    if m.is_file() {
        return Some((m.len(), m.modified().ok()?));
    }
    let mut size = 0;
    let mut last = m.modified().ok()?;
    for e in std::fs::read_dir(p).ok()?.flatten() {
        let (s, t) = fingerprint(&e.path())?;
        size += s;
        last = last.max(t);
    }
    Some((size, last))
}

/// Names an inbox never takes: hidden files and the usual partial-upload names.
fn in_transit(p: &Path) -> bool {
    let n = p.file_name().map(|n| n.to_string_lossy().to_lowercase()).unwrap_or_default();
    n.starts_with('.') || [".part", ".tmp", ".partial", ".crdownload", ".filepart"].iter().any(|s| n.ends_with(s))
}

/// Where an instance holds the inputs it took from a shared inbox:
/// `INBOX/.claimed/<instance>/`.
fn claims_of(inbox: &Path, instance: &str) -> PathBuf {
    inbox.join(".claimed").join(crate::instance::safe_name(instance))
}

/// Where a claimed input's original name is kept: `<label>.name` beside it.
fn name_note(claimed: &Path) -> PathBuf {
    let mut s = claimed.as_os_str().to_owned();
    s.push(".name");
    s.into()
}

/// True for a name note (never an input).
fn is_note(p: &Path) -> bool {
    p.extension().is_some_and(|e| e == "name")
}

#[cfg(unix)]
fn name_bytes(name: &std::ffi::OsStr) -> Vec<u8> {
    std::os::unix::ffi::OsStrExt::as_bytes(name).to_vec()
}

#[cfg(unix)]
fn name_from(bytes: Vec<u8>) -> std::ffi::OsString {
    std::os::unix::ffi::OsStringExt::from_vec(bytes)
}

#[cfg(not(unix))]
fn name_bytes(name: &std::ffi::OsStr) -> Vec<u8> {
    name.to_string_lossy().into_owned().into_bytes()
}

#[cfg(not(unix))]
fn name_from(bytes: Vec<u8>) -> std::ffi::OsString {
    String::from_utf8_lossy(&bytes).into_owned().into()
}

/// The extensions an input kind is told by ([`SourceKind::takes`]): the only part of
/// a file's name its label keeps.
const KIND_EXTENSIONS: [&str; 11] = ["jsonl", "xml", "zip", "eml", "mdb", "accdb", "xlsx", "xlsm", "xls", "xlsb", "ods"];

/// A label for the input at `p`: nothing of its name but, for a file, the extension
/// its kind is told by (a folder's kind is told by what it holds).
fn label(p: &Path) -> String {
    let ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
    let random = u32::try_from(std::hash::BuildHasher::hash_one(&std::collections::hash_map::RandomState::new(), (ms, std::process::id())) & 0xffff_ffff).unwrap_or(0);
    let ext = p.extension().map(|e| e.to_string_lossy().to_lowercase()).filter(|e| !p.is_dir() && KIND_EXTENSIONS.contains(&e.as_str()));
    match ext {
        Some(ext) => format!("in-{ms}-{random:08x}.{ext}"),
        None => format!("in-{ms}-{random:08x}"),
    }
}

/// A free label in `dir` for the input at `p`.
fn free_label(p: &Path, dir: &Path) -> PathBuf {
    loop {
        let target = dir.join(label(p));
        if !target.exists() && !name_note(&target).exists() {
            return target;
        }
    }
}

/// Moves a claimed input out of the claims (to `done/` or `refused/`) under the name it
/// came with, and drops its name note.
fn release(f: &Path, to: &Path) -> std::io::Result<PathBuf> {
    let note = name_note(f);
    let target = match std::fs::read(&note) {
        Ok(name) if !name.is_empty() => move_as(f, to, &name_from(name))?,
        // Claimed by an older build (under its own name), or the note is lost.
        _ => move_into(f, to)?,
    };
    match std::fs::remove_file(&note) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => tracing::warn!(error = %e, "Could not remove a released input's name note"),
        _ => {}
    }
    Ok(target)
}

/// Holds this instance's claims folder: an exclusive lock on `<claims>.lock`, kept while
/// the poller runs and released by the kernel when the process dies. A second process
/// with the same instance name is refused (two of them would read each other's claims).
fn lock_claims(claims: &Path) -> std::io::Result<std::fs::File> {
    if let Some(dir) = claims.parent() {
        silgate_core::private::create_dir_all(dir)?;
    }
    let f = silgate_core::private::open_write(&PathBuf::from(format!("{}.lock", claims.display())))?;
    match f.try_lock() {
        Ok(()) => Ok(f),
        Err(std::fs::TryLockError::WouldBlock) => {
            Err(std::io::Error::other(format!("another running instance holds {}: give every instance polling this inbox its own `instance` name", claims.display())))
        }
        Err(std::fs::TryLockError::Error(e)) => Err(e),
    }
}

/// Takes over what instances that are not running any more left in their claims
/// folders (their lock is free: the instance died, or was renamed or scaled in): the
/// inputs move into this instance's claims and are ingested here.
fn adopt_orphans(inbox: &Path, claims: &Path) {
    let Ok(rd) = std::fs::read_dir(inbox.join(".claimed")) else { return };
    for other in rd.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_dir() && p != claims) {
        let Ok(lock) = lock_claims(&other) else { continue };
        let mut taken = 0;
        if let Ok(items) = std::fs::read_dir(&other) {
            for item in items.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| !is_note(p)) {
                match take_over(&item, claims) {
                    Ok(()) => taken += 1,
                    Err(e) => tracing::warn!(from = %other.display(), error = %e, "Could not take over an input left by an instance that is not running"),
                }
            }
        }
        // Notes whose input went (they hold names).
        prune_notes(&other);
        if taken > 0 {
            tracing::warn!(from = %other.display(), inputs = taken, "Took over the inputs left by an instance that is not running");
        }
        drop(lock);
    }
}

/// Moves one input of another instance's claims into `claims` with its name note, under
/// a free label; one claimed by an older build (under its own name, no note) is
/// labelled now.
fn take_over(item: &Path, claims: &Path) -> std::io::Result<()> {
    let note = name_note(item);
    if !note.exists() {
        return claim(item, claims).map(|_| ());
    }
    let target = free_label(item, claims);
    std::fs::rename(&note, name_note(&target))?;
    if let Err(e) = std::fs::rename(item, &target) {
        // Put the note back: the input stays where it was, named.
        let _back = std::fs::rename(name_note(&target), &note);
        return Err(e);
    }
    Ok(())
}

/// Labels the inputs an older build claimed under their own names (no note), in this
/// instance's own claims folder; their counted reads go with them.
fn relabel_legacy(claims: &Path, attempts: &Attempts) {
    let Ok(rd) = std::fs::read_dir(claims) else { return };
    for p in rd.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| !is_note(p) && !name_note(p).exists()) {
        let started = attempts.of(key(&p));
        // (A crash between the rename and the count loses the count, once: the
        // input's reads are counted again from zero.)
        match claim(&p, claims) {
            Ok(Some(to)) if started > 0 => {
                if let Err(e) = attempts.set(key(&to), started).and_then(|()| attempts.set(key(&p), 0)) {
                    tracing::warn!(error = %e, "Could not carry the counted reads of a relabelled input");
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "Could not label an input claimed by an older build: it keeps its name"),
        }
    }
}

/// The name an input's attempts are counted under: its file name.
fn key(f: &Path) -> &std::ffi::OsStr {
    f.file_name().unwrap_or_default()
}

/// Moves a refused input to `refused/` with its reason beside it; `false` when it could
/// not be moved (it must then not be taken again by this poller).
fn set_aside(f: &Path, refused: &Path, reason: &str) -> bool {
    match release(f, refused) {
        Ok(target) => {
            let note = PathBuf::from(format!("{}.reason.txt", target.display()));
            let text = format!(
                "{reason}\nThe log and the audit name this input {}.\nRecords read before the error, if any, were queued or quarantined (see the audit log); nothing after it was.\n",
                f.display()
            );
            if let Err(e) = silgate_core::private::write(&note, text) {
                tracing::error!(file = %note.display(), error = %e, "Could not write the reason of a refused input");
            }
            true
        }
        Err(e) => {
            tracing::error!(file = %f.display(), error = %e, "Could not move a refused input to refused/; it will not be taken again");
            false
        }
    }
}

/// Takes a stable input for this instance with one atomic rename into its claims
/// folder, under a label (its name is written first beside where it goes). `None` when
/// another instance took it first (the file is gone).
fn claim(f: &Path, claims: &Path) -> std::io::Result<Option<PathBuf>> {
    let name = f.file_name().ok_or_else(|| std::io::Error::other("no file name"))?;
    silgate_core::private::create_dir_all(claims)?;
    let target = free_label(f, claims);
    let note = name_note(&target);
    silgate_core::private::write(&note, name_bytes(name))?;
    match std::fs::rename(f, &target) {
        Ok(()) => Ok(Some(target)),
        Err(e) => {
            let _unused = std::fs::remove_file(&note);
            if e.kind() == std::io::ErrorKind::NotFound && !f.exists() { Ok(None) } else { Err(e) }
        }
    }
}

/// Drops name notes whose input is not in the claims any more (the process died
/// between writing one and the rename it was for).
fn prune_notes(claims: &Path) {
    let Ok(rd) = std::fs::read_dir(claims) else { return };
    for p in rd.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| is_note(p)) {
        let input = p.with_extension("");
        if !input.exists() {
            let _unused = std::fs::remove_file(&p);
        }
    }
}

/// Polls one inbox. Several instances may poll the same one (scale-out): an input is
/// taken by renaming it into this instance's claims folder, which only one rename can
/// do; inputs left there by a crash of this instance are taken again first.
#[derive(Debug)]
pub(crate) struct InboxDriver {
    kind: SourceKind,
    mapping: Option<String>,
    inbox: PathBuf,
    every: Duration,
}

impl InboxDriver {
    pub(crate) fn new(kind: SourceKind, mapping: Option<String>, inbox: PathBuf, every: Duration) -> Result<Self> {
        std::fs::create_dir_all(&inbox).map_err(|e| GatewayError::io(format!("creating {}", inbox.display()), e))?;
        Ok(Self { kind, mapping, inbox, every })
    }
}

impl Driver for InboxDriver {
    fn name(&self) -> String {
        format!("{} inbox {}", self.kind.as_str(), self.inbox.display())
    }

    async fn run(&mut self, parts: &Arc<Parts>, stop: &mut Shutdown) -> Result<()> {
        let (kind, inbox, every) = (self.kind, self.inbox.clone(), self.every);
        let done = inbox.join("done");
        let refused = inbox.join("refused");
        let claims = claims_of(&inbox, &parts.cfg.instance);
        let attempts = Attempts::new(inbox.join(".attempts").join(claims.file_name().unwrap_or_default()));
        let _held = lock_claims(&claims).map_err(|e| GatewayError::io(format!("locking {}", claims.display()), e))?;
        // Folders an older build made under a loose umask hold inputs: narrowed.
        for d in [&done, &refused, &inbox.join(".claimed"), &claims, &inbox.join(".attempts")] {
            if let Err(e) = silgate_core::private::narrow(d)
                && e.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!(folder = %d.display(), error = %e, "Could not narrow a folder of the inbox to its owner");
            }
        }
        relabel_legacy(&claims, &attempts);
        let mut seen: std::collections::HashMap<PathBuf, (u64, std::time::SystemTime)> = std::collections::HashMap::new();
        let mut stuck: std::collections::HashSet<PathBuf> = std::collections::HashSet::new();
        loop {
            if stop.is_shutdown() {
                return Ok(());
            }
            let mut files: Vec<PathBuf> = match std::fs::read_dir(&inbox) {
                Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| !in_transit(p) && !stuck.contains(p) && kind.takes(p)).collect(),
                Err(e) => {
                    tracing::warn!(inbox = %inbox.display(), error = %e, "Inbox unreadable");
                    Vec::new()
                }
            };
            files.sort();
            // Only what did not change since the last poll: a file still being copied in
            // waits for the next one.
            let mut now_seen = std::collections::HashMap::new();
            let mut ready = Vec::new();
            for f in files {
                let Some(fp) = fingerprint(&f) else { continue };
                if seen.get(&f) == Some(&fp) {
                    ready.push(f);
                } else {
                    now_seen.insert(f, fp);
                }
            }
            seen = now_seen;
            // What this instance (or one that is not running any more) held, then what it
            // takes now.
            adopt_orphans(&inbox, &claims);
            let mut taken: Vec<PathBuf> =
                std::fs::read_dir(&claims).map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| !stuck.contains(p) && kind.takes(p)).collect()).unwrap_or_default();
            taken.sort();
            attempts.prune(|name| taken.iter().any(|c| c.file_name() == Some(name)));
            prune_notes(&claims);
            for f in ready {
                match claim(&f, &claims) {
                    Ok(Some(p)) => taken.push(p),
                    Ok(None) => {}
                    // Not named: it is still under its own name.
                    Err(e) => tracing::warn!(inbox = %inbox.display(), error = %e, "Could not take an input from the inbox"),
                }
            }
            for f in taken {
                if stop.is_shutdown() {
                    return Ok(());
                }
                let started = attempts.of(key(&f));
                if started >= parts.cfg.limits.max_unfinished_reads {
                    let reason =
                        format!("{}: reading it stopped the gateway {started} times (killed or crashed in the middle): set aside so that the inputs behind it go on", f.display());
                    tracing::error!(file = %f.display(), attempts = started, "Input set aside: reading it never finished");
                    let refusal =
                        silgate_audit::Event::Rejected { rule: "source.poison".into(), at: Some(f.display().to_string()), note: Some(format!("{started} reads never finished")) };
                    parts.audit.record(vec![silgate_audit::NewEntry::now(refusal, None, None, None)]).await?;
                    if !set_aside(&f, &refused, &reason) {
                        stuck.insert(f.clone());
                    }
                    if let Err(e) = attempts.set(key(&f), 0) {
                        tracing::warn!(file = %f.display(), error = %e, "Could not forget the attempts of a set-aside input");
                    }
                    continue;
                }
                if let Err(e) = attempts.set(key(&f), started + 1) {
                    // Without the count a crash loop could not be stopped: do not read it.
                    tracing::error!(file = %f.display(), error = %e, "Could not count a read of the input; it stays claimed for the next poll");
                    continue;
                }
                let result = parts.ingest_inputs(kind, self.mapping.as_deref(), std::slice::from_ref(&f), today(), None).await;
                // The read ended: its attempt is taken back, and the input forgotten
                // unless it stays in the claims (a local failure, read again later).
                let stays = matches!(&result, Err(e) if !e.input_fault());
                if let Err(e) = attempts.set(key(&f), if stays { started } else { 0 }) {
                    tracing::warn!(file = %f.display(), error = %e, "Could not take back the attempt of a finished read");
                }
                match result {
                    Ok(s) => {
                        tracing::info!(file = %f.display(), records = s.records, queued = s.queued, unchanged = s.unchanged, rejected = s.rejected, "Ingested");
                        if let Err(e) = release(&f, &done) {
                            tracing::error!(file = %f.display(), error = %e, "Could not move an ingested file to done/; it will not be taken again");
                            stuck.insert(f);
                        }
                    }
                    Err(e) if matches!(e.source_error(), Some(silgate_core::SourceError::Io { .. })) => {
                        // Locked, permissions, a disk error: the input may be fine later.
                        tracing::error!(file = %f.display(), error = %e, "Input unreadable now; it stays in the inbox for the next poll");
                    }
                    Err(e) if e.input_fault() => {
                        // Not what the kind reads, refused whole before anything was emitted
                        // (a truncated export), or unreadable past some point (what came
                        // before is queued or quarantined). Audited, then set aside with the
                        // reason (a failed audit leaves it claimed: taken again next poll).
                        let reason = e.to_string();
                        tracing::error!(file = %f.display(), error = %reason, "Input refused; moved to refused/");
                        let refusal = silgate_audit::Event::Rejected {
                            rule: e.source_error().map_or("source.reader-failed", silgate_core::SourceError::as_code).into(),
                            at: Some(f.display().to_string()),
                            note: None,
                        };
                        parts.audit.record(vec![silgate_audit::NewEntry::now(refusal, None, None, None)]).await?;
                        if !set_aside(&f, &refused, &reason) {
                            stuck.insert(f.clone());
                        }
                    }
                    Err(e) => tracing::error!(file = %f.display(), error = %e, "Ingest failed; the file stays in the inbox"),
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stop.wait() => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_a_claimed_input_it_should_go_by_a_label_and_get_its_name_back_when_done() {
        let dir = tempfile::tempdir().unwrap();
        let (inbox, claims, done) = (dir.path().join("inbox"), dir.path().join("claims"), dir.path().join("done"));
        std::fs::create_dir_all(&inbox).unwrap();
        std::fs::create_dir_all(&done).unwrap();
        std::fs::write(done.join("CV_Mario_Rossi.jsonl"), "first\n").unwrap();
        std::fs::write(inbox.join("CV_Mario_Rossi.jsonl"), "second\n").unwrap();
        let moved = claim(&inbox.join("CV_Mario_Rossi.jsonl"), &claims).unwrap().unwrap();
        assert!(SourceKind::CanonicalJson.takes(&moved), "{}", moved.display());
        let label = moved.file_name().unwrap().to_string_lossy().into_owned();
        assert!(label.starts_with("in-") && !label.contains("Rossi"), "{label}");
        // Gone already: another instance took it.
        assert!(claim(&inbox.join("CV_Mario_Rossi.jsonl"), &claims).unwrap().is_none());
        let back = release(&moved, &done).unwrap();
        let back = back.file_name().unwrap().to_string_lossy().into_owned();
        assert!(back.starts_with("CV_Mario_Rossi.") && back.ends_with(".jsonl"), "{back}");
        assert_eq!(std::fs::read_to_string(done.join("CV_Mario_Rossi.jsonl")).unwrap(), "first\n", "not overwritten");
        assert_eq!(std::fs::read_dir(&claims).unwrap().count(), 0, "the name note went with it");
        // A note whose rename never happened is dropped.
        std::fs::write(claims.join("in-1-00000000.xml.name"), "x.xml").unwrap();
        prune_notes(&claims);
        assert_eq!(std::fs::read_dir(&claims).unwrap().count(), 0);
    }

    #[test]
    fn given_counted_attempts_they_should_survive_a_new_counter_and_be_forgotten_at_zero() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("claims/export.jsonl");
        let a = Attempts::new(dir.path().join(".attempts"));
        assert_eq!(a.of(key(&f)), 0);
        a.set(key(&f), 1).unwrap();
        a.set(key(&f), 2).unwrap();
        // A new process reads what the last one wrote.
        assert_eq!(Attempts::new(dir.path().join(".attempts")).of(key(&f)), 2);
        a.set(key(&f), 0).unwrap();
        assert_eq!(a.of(key(&f)), 0);
        assert_eq!(std::fs::read_dir(dir.path().join(".attempts")).unwrap().count(), 0, "nothing left behind");
        a.set(key(&f), 0).unwrap();
    }

    #[test]
    fn given_two_pollers_with_one_instance_name_the_second_should_be_refused() {
        let dir = tempfile::tempdir().unwrap();
        let claims = claims_of(dir.path(), "gw");
        let held = lock_claims(&claims).unwrap();
        let e = lock_claims(&claims).unwrap_err();
        assert!(e.to_string().contains("its own `instance` name"), "{e}");
        drop(held);
        assert!(lock_claims(&claims).is_ok(), "free again once the holder is gone");
    }

    #[test]
    fn given_claims_of_an_instance_not_running_another_should_take_them_over() {
        let dir = tempfile::tempdir().unwrap();
        let inbox = dir.path();
        let (dead, mine, alive) = (claims_of(inbox, "gone"), claims_of(inbox, "me"), claims_of(inbox, "busy"));
        for c in [&dead, &mine, &alive] {
            std::fs::create_dir_all(c).unwrap();
        }
        // One an older build claimed under its name, one labelled with its note.
        std::fs::write(dead.join("left.jsonl"), "x\n").unwrap();
        std::fs::write(dead.join("in-1-0000abcd.jsonl"), "z\n").unwrap();
        std::fs::write(dead.join("in-1-0000abcd.jsonl.name"), "CV_Anna_Neri.jsonl").unwrap();
        std::fs::write(alive.join("working.jsonl"), "y\n").unwrap();
        let _busy = lock_claims(&alive).unwrap();
        let _me = lock_claims(&mine).unwrap();
        adopt_orphans(inbox, &mine);
        let mut names: Vec<String> = std::fs::read_dir(&mine)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| !is_note(p))
            .map(|p| {
                assert!(p.file_name().unwrap().to_string_lossy().starts_with("in-"), "{}", p.display());
                String::from_utf8(std::fs::read(name_note(&p)).unwrap()).unwrap()
            })
            .collect();
        names.sort();
        assert_eq!(names, ["CV_Anna_Neri.jsonl", "left.jsonl"], "both taken over, labelled, each with its name");
        assert_eq!(std::fs::read_dir(&dead).unwrap().count(), 0, "nothing left behind");
        assert!(alive.join("working.jsonl").is_file(), "a running instance keeps its own");
    }
}
