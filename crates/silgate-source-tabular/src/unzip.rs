//! Unpacking a zip export into a private temporary folder, with limits: an entry or a
//! whole archive past its size limit, or an entry inflating more than the ratio limit
//! (a zip bomb), refuses the archive. Entry names that would escape the folder
//! (`../x`, absolute paths) are refused too.

use silgate_core::source::SourceError;
use std::io::{Read, Write};
use std::path::Path;

/// Limits on what an archive may unpack to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZipLimits {
    /// Bytes one entry may unpack to.
    pub max_entry_bytes: u64,
    /// Bytes the whole archive may unpack to.
    pub max_total_bytes: u64,
    /// Most uncompressed/compressed ratio of an entry over 1 MiB.
    pub max_ratio: u64,
    /// Most entries.
    pub max_entries: usize,
}

impl Default for ZipLimits {
    fn default() -> Self {
        Self { max_entry_bytes: 8 << 30, max_total_bytes: 16 << 30, max_ratio: 250, max_entries: 10_000 }
    }
}

/// True when the file starts like a zip archive.
pub fn is_zip(path: &Path) -> bool {
    let mut head = [0u8; 4];
    std::fs::File::open(path).and_then(|mut f| f.read_exact(&mut head)).is_ok() && &head == b"PK\x03\x04"
}

/// Unpacks `path` into a new temporary folder (removed when the value is dropped).
pub fn unpack(path: &Path, limits: ZipLimits) -> Result<tempfile::TempDir, SourceError> {
    let name = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|e| SourceError::io(&name, e))?;
    let mut archive = zip::ZipArchive::new(std::io::BufReader::new(file)).map_err(|e| SourceError::format(&name, format!("not a readable zip archive ({e})")))?;
    if archive.len() > limits.max_entries {
        return Err(SourceError::refused(&name, format!("{} entries, more than the limit of {}", archive.len(), limits.max_entries)));
    }
    let dir = silgate_core::private::temp_dir("zip").map_err(|e| SourceError::io(&name, e))?;
    let mut total = 0u64;
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).map_err(|e| SourceError::format(&name, format!("entry {i}: {e}")))?;
        if entry.is_dir() {
            continue;
        }
        let Some(rel) = entry.enclosed_name() else {
            return Err(SourceError::refused(&name, format!("entry {i} has a name that leaves the archive's folder")));
        };
        let compressed = entry.compressed_size().max(1);
        let target = dir.path().join(&rel);
        if target.exists() {
            return Err(SourceError::refused(&name, format!("entry {} appears twice: which one is the export's is unknown", rel.display())));
        }
        // A name no file system takes, or an entry under another entry's file (`a`,
        // then `a/b`), is the archive's fault: refused, never a local failure retried.
        if rel.components().any(|c| c.as_os_str().len() > 255) {
            return Err(SourceError::refused(&name, format!("entry {i} has a name part longer than 255 bytes")));
        }
        if let Some(parent) = target.parent() {
            if let Some(file) = parent.ancestors().take_while(|a| a.starts_with(dir.path()) && *a != dir.path()).find(|a| a.is_file()) {
                let under = file.strip_prefix(dir.path()).unwrap_or(file).display().to_string();
                return Err(SourceError::refused(&name, format!("entry {} lies under the entry {under}, which is a file", rel.display())));
            }
            silgate_core::private::create_dir_all(parent).map_err(|e| SourceError::io(&name, e))?;
        }
        let mut out = silgate_core::private::create(&target).map_err(|e| SourceError::io(&name, e))?;
        let mut buf = vec![0u8; 64 * 1024];
        let mut written = 0u64;
        loop {
            let n = entry.read(&mut buf).map_err(|e| SourceError::format(&name, format!("entry {}: {e}", rel.display())))?;
            if n == 0 {
                break;
            }
            written += n as u64;
            total += n as u64;
            if written > limits.max_entry_bytes || total > limits.max_total_bytes {
                return Err(SourceError::refused(&name, format!("entry {} unpacks past the size limit", rel.display())));
            }
            if written > (1 << 20) && written / compressed > limits.max_ratio {
                return Err(SourceError::refused(&name, format!("entry {} inflates more than {}:1 (a zip bomb?)", rel.display(), limits.max_ratio)));
            }
            out.write_all(&buf[..n]).map_err(|e| SourceError::io(&name, e))?;
        }
    }
    Ok(dir)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test archives are built in memory

    use super::*;

    fn archive(entries: &[&str]) -> tempfile::NamedTempFile {
        let f = tempfile::NamedTempFile::new().unwrap();
        let mut w = zip::ZipWriter::new(f.reopen().unwrap());
        for e in entries {
            w.start_file(*e, zip::write::SimpleFileOptions::default()).unwrap();
            w.write_all(b"x").unwrap();
        }
        w.finish().unwrap();
        f
    }

    #[test]
    fn given_an_entry_under_another_entry_s_file_the_archive_should_be_refused_not_failed_locally() {
        let f = archive(&["a", "a/b"]);
        let e = unpack(f.path(), ZipLimits::default()).unwrap_err();
        assert_eq!(e.as_code(), "source.refused", "{e}");
        assert!(e.to_string().contains("entry a/b lies under the entry a"), "{e}");
    }

    #[test]
    fn given_an_entry_name_longer_than_a_file_system_takes_the_archive_should_be_refused() {
        let long = format!("{}.csv", "n".repeat(300));
        let e = unpack(archive(&[&long]).path(), ZipLimits::default()).unwrap_err();
        assert_eq!(e.as_code(), "source.refused", "{e}");
        assert!(e.to_string().contains("longer than 255 bytes"), "{e}");
        assert!(unpack(archive(&["ok/a.csv", "ok/b.csv"]).path(), ZipLimits::default()).is_ok());
    }
}
