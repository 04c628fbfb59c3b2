//! Files and folders that hold personal data: created readable by their owner only
//! (folders 0700, files 0600), whatever the process's umask.
//!
//! A umask can only take permissions away, so asking for the owner-only mode when a
//! file or folder is created is enough for what silgate creates. What exists already
//! (a data directory made by an installer) is narrowed with [`narrow`].
//!
//! Temporary folders (an unpacked export, a PEC message's attachments) are made by
//! [`temp_dir`] under the system's temporary folder with the creating process's id in
//! their name, `silgate-<kind>-<pid>-<random>`: [`remove_stale_temp`] removes at start
//! those of processes that are not running any more (killed in the middle of a read).

use std::fs::{DirBuilder, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

/// The kinds of temporary folder or file silgate makes (the `<kind>` of their names):
/// unpacked zip exports, PEC attachments, pulled feeds being downloaded.
pub const TEMP_KINDS: [&str; 4] = ["zip", "pec", "pull", "secret"];

#[cfg(unix)]
fn dir_builder() -> DirBuilder {
    use std::os::unix::fs::DirBuilderExt as _;
    let mut b = DirBuilder::new();
    b.recursive(true).mode(0o700);
    b
}

#[cfg(not(unix))]
fn dir_builder() -> DirBuilder {
    let mut b = DirBuilder::new();
    b.recursive(true);
    b
}

#[cfg(unix)]
fn owner_only(o: &mut OpenOptions) -> &mut OpenOptions {
    use std::os::unix::fs::OpenOptionsExt as _;
    o.mode(0o600)
}

#[cfg(not(unix))]
fn owner_only(o: &mut OpenOptions) -> &mut OpenOptions {
    o
}

/// Creates `path` and any missing parents, each new one owner-only (0700). Folders
/// that exist keep their mode.
pub fn create_dir_all(path: &Path) -> io::Result<()> {
    dir_builder().create(path)
}

/// Creates (or truncates) a file, owner-only (0600), an existing one narrowed too.
pub fn create(path: &Path) -> io::Result<File> {
    let f = owner_only(OpenOptions::new().write(true).create(true).truncate(true)).open(path)?;
    narrow_open(&f)?;
    Ok(f)
}

/// Opens a file for appending, created owner-only (0600), an existing one narrowed.
pub fn append(path: &Path) -> io::Result<File> {
    let f = owner_only(OpenOptions::new().append(true).create(true)).open(path)?;
    narrow_open(&f)?;
    Ok(f)
}

/// Opens a file for appending, created owner-only (0600) if new; an existing one keeps
/// its mode (an append-only or WORM file refuses a change of mode).
pub fn append_as_is(path: &Path) -> io::Result<File> {
    owner_only(OpenOptions::new().append(true).create(true)).open(path)
}

/// Narrows an open file this user owns to 0600 (what an older build made under a
/// loose umask); another user's is left as it is.
#[cfg(unix)]
fn narrow_open(f: &File) -> io::Result<()> {
    use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
    let m = f.metadata()?;
    if m.mode() & 0o077 != 0 && Some(m.uid()) == euid() {
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

#[cfg(not(unix))]
fn narrow_open(_f: &File) -> io::Result<()> {
    Ok(())
}

/// This process's user, as the kernel tells it (`/proc/self` belongs to it).
#[cfg(unix)]
fn euid() -> Option<u32> {
    use std::os::unix::fs::MetadataExt as _;
    std::fs::metadata("/proc/self").ok().map(|m| m.uid())
}

/// Opens a file for writing without truncating it (a lock file), creating it
/// owner-only (0600) if needed.
pub fn open_write(path: &Path) -> io::Result<File> {
    owner_only(OpenOptions::new().write(true).create(true).truncate(false)).open(path)
}

/// Writes a whole file, owner-only (0600) if new.
pub fn write(path: &Path, bytes: impl AsRef<[u8]>) -> io::Result<()> {
    use std::io::Write as _;
    let mut f = create(path)?;
    f.write_all(bytes.as_ref())?;
    f.flush()
}

/// Narrows an existing file or folder this user owns to its owner (0600 or 0700) when
/// its mode lets the group or others in. Returns whether it changed anything; one
/// another user owns (a volume mounted for the service) is left as it is: `false`.
#[cfg(unix)]
pub fn narrow(path: &Path) -> io::Result<bool> {
    use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
    let meta = std::fs::metadata(path)?;
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 == 0 || Some(meta.uid()) != euid() {
        return Ok(false);
    }
    let want = if meta.is_dir() { 0o700 } else { 0o600 };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(want))?;
    Ok(true)
}

/// Narrows an existing file or folder to its owner (nothing to do here).
#[cfg(not(unix))]
pub fn narrow(_path: &Path) -> io::Result<bool> {
    Ok(false)
}

/// A new temporary folder of `kind` (one of [`TEMP_KINDS`]), owner-only, removed when
/// the value is dropped; its name carries this process's id.
pub fn temp_dir(kind: &str) -> io::Result<tempfile::TempDir> {
    tempfile::Builder::new().prefix(&format!("silgate-{kind}-{}-", std::process::id())).tempdir()
}

/// A new temporary file of `kind` in `dir` (the data directory: a pulled feed is kept
/// there when it is set aside), owner-only, removed when dropped unless persisted; its
/// name carries this process's id.
pub fn temp_file_in(dir: &Path, kind: &str) -> io::Result<tempfile::NamedTempFile> {
    tempfile::Builder::new().prefix(&format!("silgate-{kind}-{}-", std::process::id())).tempfile_in(dir)
}

/// The process id in a temporary folder's name, when it is one silgate makes.
fn temp_owner(name: &str) -> Option<u32> {
    let rest = name.strip_prefix("silgate-")?;
    let (kind, rest) = rest.split_once('-')?;
    if !TEMP_KINDS.contains(&kind) {
        return None;
    }
    let (pid, random) = rest.split_once('-')?;
    if random.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    pid.parse().ok()
}

/// True when a process with this id runs now (as far as this system tells: where it
/// cannot, every process is taken to be running and nothing is removed).
fn running(pid: u32) -> bool {
    if cfg!(target_os = "linux") { Path::new("/proc").join(pid.to_string()).exists() } else { true }
}

/// Removes the temporary folders and files in `bases` (the system's temporary folder,
/// [`std::env::temp_dir`], and the data directory) left by silgate processes that are
/// not running any more, and, at this process's first call only, those that carry its
/// own id (a process that had the id before: this one made none yet; a later call, a
/// second gateway started in the same process, leaves them). Returns what it removed;
/// what cannot be removed is left and reported in the error list.
///
/// Running is judged by this system's `/proc`: processes of another pid namespace (a
/// container) sharing the folder are not seen, so each container needs its own
/// temporary folder (`TMPDIR`).
pub fn remove_stale_temp(bases: &[&Path]) -> (Vec<PathBuf>, Vec<(PathBuf, io::Error)>) {
    static CALLED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    let own_is_stale = !CALLED.swap(true, std::sync::atomic::Ordering::SeqCst);
    let me = std::process::id();
    let (mut gone, mut failed) = (Vec::new(), Vec::new());
    for base in bases {
        let Ok(rd) = std::fs::read_dir(base) else { continue };
        for e in rd.flatten() {
            let name = e.file_name();
            let Some(pid) = name.to_str().and_then(temp_owner) else { continue };
            let stale = if pid == me { own_is_stale } else { !running(pid) };
            if !stale {
                continue;
            }
            let p = e.path();
            // Only what this user made: another user's are not ours to judge.
            let Some(is_dir) = owned(&p) else { continue };
            match if is_dir { std::fs::remove_dir_all(&p) } else { std::fs::remove_file(&p) } {
                Ok(()) => gone.push(p),
                Err(err) if err.kind() == io::ErrorKind::NotFound => {}
                Err(err) => failed.push((p, err)),
            }
        }
    }
    (gone, failed)
}

/// `Some(is_dir)` for a folder or plain file this process's user owns (never a link).
#[cfg(unix)]
fn owned(p: &Path) -> Option<bool> {
    use std::os::unix::fs::MetadataExt as _;
    let m = std::fs::symlink_metadata(p).ok()?;
    (Some(m.uid()) == euid() && (m.is_dir() || m.is_file())).then_some(m.is_dir())
}

/// `Some(is_dir)` for a folder or plain file (never a link).
#[cfg(not(unix))]
fn owned(p: &Path) -> Option<bool> {
    let m = std::fs::symlink_metadata(p).ok()?;
    (m.is_dir() || m.is_file()).then_some(m.is_dir())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_names_are_recognised_only_in_their_exact_shape() {
        assert_eq!(temp_owner("silgate-zip-4242-AbC123"), Some(4242));
        assert_eq!(temp_owner("silgate-pec-1-x"), Some(1));
        for other in ["silgate-demo", "silgate-zip-AbC123", "silgate-zip-12-", "silgate-tmp-12-x", "other-zip-12-x", "silgate-zip-1a-x"] {
            assert_eq!(temp_owner(other), None, "{other}");
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn stale_temp_folders_go_and_running_ones_stay() {
        let base = tempfile::tempdir().unwrap();
        // A pid above the kernel's limit never runs; the test's own parent does.
        let dead = base.path().join("silgate-zip-4194305-left");
        let alive = base.path().join(format!("silgate-pec-{}-busy", std::os::unix::process::parent_id()));
        let mine = base.path().join(format!("silgate-zip-{}-before", std::process::id()));
        let demo = base.path().join("silgate-demo");
        for d in [&dead, &alive, &mine, &demo] {
            create_dir_all(&d.join("inner")).unwrap();
        }
        let feed = base.path().join("silgate-pull-4194305-feed");
        write(&feed, "x").unwrap();
        let (gone, failed) = remove_stale_temp(&[base.path()]);
        assert!(failed.is_empty());
        let mut gone = gone;
        gone.sort();
        let mut want = vec![dead.clone(), mine.clone(), feed.clone()];
        want.sort();
        assert_eq!(gone, want);
        assert!(alive.exists() && demo.exists());
    }

    #[cfg(unix)]
    #[test]
    fn files_and_folders_are_owner_only_whatever_the_umask() {
        use std::os::unix::fs::PermissionsExt as _;
        let base = tempfile::tempdir().unwrap();
        let dir = base.path().join("a/b");
        create_dir_all(&dir).unwrap();
        write(&dir.join("f"), "x").unwrap();
        drop(append(&dir.join("g")).unwrap());
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&base.path().join("a")), 0o700);
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("f")), 0o600);
        assert_eq!(mode(&dir.join("g")), 0o600);
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert!(narrow(&dir).unwrap());
        assert!(!narrow(&dir).unwrap());
        assert_eq!(mode(&dir), 0o700);
    }
}
