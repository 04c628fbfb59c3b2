//! The region's secret: the key of every hash the gateway stores of a business key
//! (the dedup index, the queue's items, the message ids the audit names), so that a
//! fiscal code alone does not tell whether a person's record passed through.
//!
//! It lives in one file (`secret_file`, default `DATA_DIR/secret.key`): 64 hex digits
//! (32 bytes) and a newline, owner-only. The first start creates it; every instance
//! that shares a dedup index must have the same file (the index keeps the secret's
//! fingerprint and refuses another, `DedupError::OtherSecret`), and a backup of the
//! data must hold it: without it, the index can no longer recognise what was sent.
//! Its content is never logged; errors name the file, never what is in it.

use crate::error::{GatewayError, Result};
use silgate_dedup::Keyer;
use std::io::Write as _;
use std::path::Path;

/// What the file holds, decoded.
const SECRET_BYTES: usize = 32;

/// Reads the secret in `path`, or creates it (owner-only) when there is none. Two
/// processes starting at once on a new file end with the same secret: the file is
/// made whole beside its place and linked there only if nothing is there yet.
pub fn load_or_create(path: &Path) -> Result<Keyer> {
    match std::fs::read(path) {
        Ok(text) => return read(path, &text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(GatewayError::io(format!("reading the secret file {}", path.display()), e)),
    }
    let secret = silgate_dedup::new_secret().ok_or_else(|| GatewayError::config("the operating system gave no random bytes for a new secret"))?;
    if create_once(path, format!("{}\n", hex::encode(secret)).as_bytes(), "secret file")? {
        tracing::info!(file = %path.display(), "A new region secret was created: back it up with the data (without it the dedup index recognises nothing it holds)");
    }
    // Ours, or the one another process made first.
    let text = std::fs::read(path).map_err(|e| GatewayError::io(format!("reading the secret file {}", path.display()), e))?;
    read(path, &text)
}

/// Creates `path` owner-only holding `bytes`, unless it exists: made whole beside its
/// place, synced, then linked there only if nothing is there yet (two processes making
/// it at once end with one file), and its folder synced (what is bound to it next must
/// not outlive it). Returns whether this call made it. `what` names it in errors.
pub(crate) fn create_once(path: &Path, bytes: &[u8], what: &str) -> Result<bool> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    silgate_core::private::create_dir_all(dir).map_err(|e| GatewayError::io(format!("creating {}", dir.display()), e))?;
    let mut tmp = silgate_core::private::temp_file_in(dir, "secret").map_err(|e| GatewayError::io(format!("a temporary file in {}", dir.display()), e))?;
    tmp.write_all(bytes).and_then(|()| tmp.as_file().sync_all()).map_err(|e| GatewayError::io(format!("writing a new {what} beside {}", path.display()), e))?;
    match tmp.persist_noclobber(path) {
        Ok(_) => {
            sync_dir(dir).map_err(|e| GatewayError::io(format!("syncing {}", dir.display()), e))?;
            Ok(true)
        }
        Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(GatewayError::io(format!("creating the {what} {}", path.display()), e.error)),
    }
}

/// Narrows a key file this user owns that lets its group or others in, saying so.
pub(crate) fn warn_if_open(path: &Path, what: &str) {
    match silgate_core::private::narrow(path) {
        Ok(true) => tracing::warn!(file = %path.display(), what, "A key file let its group or others in: narrowed to its owner (0600)"),
        Ok(false) => {}
        Err(e) => tracing::warn!(file = %path.display(), what, error = %e, "A key file lets its group or others in and could not be narrowed"),
    }
}

/// Makes a folder's entries durable (a file just linked into it).
pub(crate) fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    std::fs::File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// What is wrong with the secret file at `path`, if it exists and is not one
/// (`config check`); a missing one is made at start.
pub(crate) fn problem(path: &Path) -> Option<String> {
    match std::fs::read(path) {
        Ok(text) => decode(&text).err().map(|why| format!("{}: {why}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => Some(format!("{}: cannot be read: {e}", path.display())),
    }
}

fn read(path: &Path, text: &[u8]) -> Result<Keyer> {
    let secret = decode(text).map_err(|why| GatewayError::config(format!("secret_file {}: {why}", path.display())))?;
    warn_if_open(path, "secret file");
    Ok(Keyer::new(&secret))
}

/// The secret in a file's text: 64 hex digits, surrounding whitespace allowed.
fn decode(text: &[u8]) -> std::result::Result<Vec<u8>, &'static str> {
    let t = std::str::from_utf8(text).map_err(|_| "not a secret file (64 hex digits)")?.trim();
    let b = hex::decode(t).map_err(|_| "not a secret file (64 hex digits)")?;
    if b.len() != SECRET_BYTES {
        return Err("not a secret file (64 hex digits)");
    }
    Ok(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_no_secret_file_the_first_start_should_create_one_owner_only_and_every_later_one_read_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data").join("secret.key");
        let a = load_or_create(&path).unwrap();
        let b = load_or_create(&path).unwrap();
        assert_eq!(a.fingerprint(), b.fingerprint());
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.trim().len(), 64);
        assert!(problem(&path).is_none());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        // Nothing but the secret is left in its folder.
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, [std::ffi::OsString::from("secret.key")]);
        let other = dir.path().join("other.key");
        assert_ne!(load_or_create(&other).unwrap().fingerprint(), a.fingerprint(), "each new secret is random");
    }

    #[test]
    fn given_a_file_that_is_not_a_secret_it_should_be_refused_naming_the_file_not_its_content() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret.key");
        std::fs::write(&path, "RSSMRA80A01H501U\n").unwrap();
        let e = load_or_create(&path).unwrap_err().to_string();
        assert!(e.contains("secret.key") && e.contains("64 hex digits"), "{e}");
        assert!(!e.contains("RSSMRA"), "{e}");
        assert!(problem(&path).is_some_and(|p| !p.contains("RSSMRA")));
        std::fs::write(&path, format!("{}\n", "ab".repeat(31))).unwrap();
        assert!(load_or_create(&path).is_err(), "31 bytes is not a secret");
    }
}
