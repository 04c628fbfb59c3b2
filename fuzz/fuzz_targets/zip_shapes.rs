//! Fuzz target, structure-aware: zip archives whose shapes bytes alone rarely reach,
//! for the unpacking every adapter uses (`silgate_source_tabular::unzip`). The input
//! chooses entries (names that leave the folder, repeat, nest under a file, run past a
//! file system's limit; stored or deflated; sizes up to a deflate bomb) and then lies
//! in the headers: sizes, name lengths, entry counts and offsets of the local headers,
//! the central directory and its end record are overwritten with values of the input.
//! A panic, an abort or an allocation past libFuzzer's limit is a crash; an unpack that
//! succeeds must have stayed within its limits, and no unpack may leave anything
//! outside the folder it returns (it unpacks under a private temporary root here:
//! anything else that appears there escaped).
#![no_main]

use libfuzzer_sys::fuzz_target;
use silgate_source_tabular::unzip::{ZipLimits, unpack};
use std::io::{Cursor, Write};

const LIMITS: ZipLimits = ZipLimits { max_entry_bytes: 4 << 20, max_total_bytes: 6 << 20, max_ratio: 250, max_entries: 48 };

/// Bytes the input may make the archive's entries hold, in all.
const BUDGET: usize = 10 << 20;

const NAMES: [&str; 14] = ["EXPORT.TXT", "a", "a/b", "../escape.txt", "/abs.txt", "dir/", "dir/x.csv", "C:\\win.txt", "a/../../b", "n\u{0}ul", "é/ü.csv", "", ".", "a/b/c/d/e/f/g"];

/// Where the input may lie: (signature, offset of the field in the record, width).
const FIELDS: [(&[u8; 4], usize, usize); 12] = [
    (b"PK\x03\x04", 18, 4), // local header: compressed size
    (b"PK\x03\x04", 22, 4), // local header: uncompressed size
    (b"PK\x03\x04", 26, 2), // local header: name length
    (b"PK\x03\x04", 28, 2), // local header: extra length
    (b"PK\x01\x02", 20, 4), // central: compressed size
    (b"PK\x01\x02", 24, 4), // central: uncompressed size
    (b"PK\x01\x02", 28, 2), // central: name length
    (b"PK\x01\x02", 42, 4), // central: local header offset
    (b"PK\x05\x06", 8, 2),  // end: entries on this disk
    (b"PK\x05\x06", 10, 2), // end: entries in all
    (b"PK\x05\x06", 12, 4), // end: central directory size
    (b"PK\x05\x06", 16, 4), // end: central directory offset
];

fn archive(spec: &[u8]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let mut budget = BUDGET;
    for (i, c) in spec.chunks_exact(4).take(64).enumerate() {
        let name = if c[0] & 0x80 != 0 { format!("{}{i}", "n".repeat(200 + usize::from(c[0] & 0x7f))) } else { NAMES[usize::from(c[0]) % NAMES.len()].to_string() };
        let method = if c[1] & 1 == 0 { zip::CompressionMethod::Stored } else { zip::CompressionMethod::Deflated };
        let options = zip::write::SimpleFileOptions::default().compression_method(method).large_file(c[1] & 2 != 0);
        let size = match c[2] % 4 {
            0 => usize::from(c[3]),
            1 => usize::from(c[3]) << 12,
            // Zeros deflate to almost nothing: a bomb past the ratio limit.
            2 => usize::from(c[3] % 10) << 20,
            _ => 0,
        }
        .min(budget);
        budget -= size;
        let ok = if name.ends_with('/') {
            w.add_directory(name, options).is_ok()
        } else {
            let fill = if c[2] % 4 == 2 { 0 } else { c[3] };
            w.start_file(name, options).is_ok() && w.write_all(&vec![fill; size]).is_ok()
        };
        if !ok {
            break;
        }
    }
    w.finish().map(Cursor::into_inner).unwrap_or_default()
}

/// Overwrites header fields: each 7 bytes of `lies` pick a field, which occurrence of
/// its record, and the value.
fn lie(bytes: &mut [u8], lies: &[u8]) {
    for l in lies.chunks_exact(7).take(16) {
        let (sig, at, width) = FIELDS[usize::from(l[0]) % FIELDS.len()];
        let nth = usize::from(l[1] % 8);
        let Some(start) = bytes.windows(4).enumerate().filter(|(_, w)| *w == sig).map(|(i, _)| i).nth(nth) else { continue };
        let value = u32::from_le_bytes([l[3], l[4], l[5], l[6]]).to_le_bytes();
        for k in 0..width {
            if let Some(b) = bytes.get_mut(start + at + k) {
                *b = value[k];
            }
        }
    }
}

fn unpacked_sizes(dir: &std::path::Path, out: &mut Vec<u64>) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    for e in rd.filter_map(Result::ok) {
        match e.file_type() {
            Ok(t) if t.is_dir() => unpacked_sizes(&e.path(), out),
            Ok(_) => out.push(e.metadata().map(|m| m.len()).unwrap_or(0)),
            Err(_) => {}
        }
    }
}

/// The private root `unpack`'s temporary folders go under (TMPDIR), and the folder
/// the archives are written to.
fn roots() -> &'static (std::path::PathBuf, std::path::PathBuf) {
    static ROOTS: std::sync::OnceLock<(std::path::PathBuf, std::path::PathBuf)> = std::sync::OnceLock::new();
    ROOTS.get_or_init(|| {
        let base = std::env::temp_dir().join(format!("silgate-zip-fuzz-{}", std::process::id()));
        let (root, inputs) = (base.join("unpack"), base.join("inputs"));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(&root).expect("fuzz root");
        std::fs::create_dir_all(&inputs).expect("fuzz inputs");
        // SAFETY: set once, before any other thread of this process reads the
        // environment (libFuzzer runs the target on one thread).
        unsafe { std::env::set_var("TMPDIR", &root) };
        (root, inputs)
    })
}

fuzz_target!(|data: &[u8]| {
    let (root, inputs) = roots();
    let Some((&n, rest)) = data.split_first() else { return };
    let (spec, lies) = rest.split_at(rest.len().min(usize::from(n % 65) * 4));
    let mut bytes = archive(spec);
    lie(&mut bytes, lies);
    let Ok(mut file) = tempfile::NamedTempFile::new_in(inputs) else { return };
    if file.write_all(&bytes).is_err() || file.flush().is_err() {
        return;
    }
    let unpacked = unpack(file.path(), LIMITS);
    let own = unpacked.as_ref().ok().map(|d| d.path().to_path_buf());
    let strays: Vec<_> = std::fs::read_dir(root).map(|rd| rd.filter_map(Result::ok).map(|e| e.path()).filter(|p| Some(p) != own.as_ref()).collect()).unwrap_or_default();
    assert!(strays.is_empty(), "written outside the unpack folder: {strays:?}");
    if let Ok(dir) = unpacked {
        let mut sizes = Vec::new();
        unpacked_sizes(dir.path(), &mut sizes);
        assert!(sizes.len() <= LIMITS.max_entries, "{} files from a zip of at most {} entries", sizes.len(), LIMITS.max_entries);
        assert!(sizes.iter().all(|s| *s <= LIMITS.max_entry_bytes), "an entry past its limit: {sizes:?}");
        assert!(sizes.iter().sum::<u64>() <= LIMITS.max_total_bytes, "the archive past its limit: {sizes:?}");
    }
});
