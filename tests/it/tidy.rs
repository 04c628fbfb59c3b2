//! Repository tidiness (rust-analyzer's tidy): every Rust file opens with a `//!`
//! header saying what it is.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("dir").map(|e| e.expect("entry")) {
        let p = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if p.is_dir() {
            if name != "target" && !name.starts_with('.') {
                rust_files(&p, out);
            }
        } else if name.ends_with(".rs") {
            out.push(p);
        }
    }
}

#[test]
fn every_rust_file_has_a_module_doc_header() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut files = Vec::new();
    for d in ["crates", "tests"] {
        rust_files(&root.join(d), &mut files);
    }
    assert!(files.len() > 10);
    let missing: Vec<String> = files.iter().filter(|f| !std::fs::read_to_string(f).expect("read").trim_start().starts_with("//!")).map(|f| f.display().to_string()).collect();
    assert!(missing.is_empty(), "files without a //! header: {missing:#?}");
}
