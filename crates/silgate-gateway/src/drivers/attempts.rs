//! Reads of an input started and not finished, counted on disk so that a crash, a kill
//! or a restart does not reset them: the one rule by which an input that keeps killing
//! its reader (a poison input) is set aside after `[limits] max_unfinished_reads`.
//!
//! The inbox counts under `<inbox>/.attempts/<instance>/<file name>` (beside the
//! instance's claims, shared by the instances polling it); the PEC mailbox under
//! `<data_dir>/pec-attempts/<instance>/<SHA-256 of the message>`. A read that ends
//! takes its attempt back (ingested, refused, or failed locally); one that never ends
//! leaves it counted.

use std::ffi::OsStr;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

/// Counts per input name in one folder, each in its own small file written whole.
#[derive(Debug, Clone)]
pub(crate) struct Attempts {
    dir: PathBuf,
}

impl Attempts {
    /// Counts kept in `dir` (made on the first count).
    pub(crate) fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    fn path(&self, name: &OsStr) -> PathBuf {
        self.dir.join(name)
    }

    /// The reads of `name` started and not finished (0 when none is counted).
    pub(crate) fn of(&self, name: &OsStr) -> u32 {
        std::fs::read_to_string(self.path(name)).ok().and_then(|t| t.trim().parse().ok()).unwrap_or(0)
    }

    /// Drops the counts of inputs `keep` does not want (moved away by hand, or taken
    /// over under another name).
    pub(crate) fn prune(&self, keep: impl Fn(&OsStr) -> bool) {
        let Ok(rd) = std::fs::read_dir(&self.dir) else { return };
        for e in rd.filter_map(Result::ok) {
            let name = e.file_name();
            if !name.to_string_lossy().starts_with('.') && !keep(&name) {
                let _gone = std::fs::remove_file(e.path());
            }
        }
    }

    /// Drops the counts not written for `age` (inputs that left by other ways: a
    /// mailbox message moved by hand, say).
    pub(crate) fn prune_older_than(&self, age: Duration) {
        let Ok(rd) = std::fs::read_dir(&self.dir) else { return };
        let now = SystemTime::now();
        for e in rd.filter_map(Result::ok) {
            let old = e.metadata().and_then(|m| m.modified()).is_ok_and(|t| now.duration_since(t).is_ok_and(|d| d > age));
            if old {
                let _gone = std::fs::remove_file(e.path());
            }
        }
    }

    /// Stores `n` (0 forgets the input), written whole or not at all.
    pub(crate) fn set(&self, name: &OsStr, n: u32) -> std::io::Result<()> {
        let path = self.path(name);
        if n == 0 {
            return match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            };
        }
        silgate_core::private::create_dir_all(&self.dir)?;
        let tmp = self.dir.join(format!(".{}.tmp", name.to_string_lossy()));
        {
            let mut out = silgate_core::private::create(&tmp)?;
            std::io::Write::write_all(&mut out, format!("{n}\n").as_bytes())?;
            out.sync_all()?;
        }
        std::fs::rename(&tmp, &path)
    }
}
