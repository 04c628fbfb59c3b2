//! Unit tests: OLE dates, and every real Access file of ../shared/data/access opening
//! with its tables readable to the end.
#![allow(clippy::unwrap_used)]

use crate::{Database, ole_datetime};
use silgate_source_tabular::engine::RowReader;
use std::path::PathBuf;

#[test]
fn given_ole_dates_they_should_convert_both_sides_of_1899() {
    let s = |v| ole_datetime(v).map(|d| d.to_string());
    assert_eq!(s(0.0).as_deref(), Some("1899-12-30 0:00:00.0"));
    assert_eq!(s(2.5).as_deref(), Some("1900-01-01 12:00:00.0"));
    assert_eq!(s(-1.25).as_deref(), Some("1899-12-29 6:00:00.0"));
    assert_eq!(s(45_000.0).as_deref(), Some("2023-03-15 0:00:00.0"));
    assert_eq!(s(f64::NAN), None);
    assert_eq!(s(1e12), None);
}

fn shared() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/access")
}

#[test]
fn given_every_real_access_file_each_table_should_read_to_the_end() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(shared()).unwrap().map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|e| e == "mdb" || e == "accdb")).collect();
    files.sort();
    assert_eq!(files.len(), 8, "{files:?}");
    let mut tables = 0;
    for f in &files {
        let db = Database::open(f, &f.display().to_string()).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        for t in &db.tables {
            let mut r = db.table(t).unwrap().unwrap();
            assert!(!r.header().is_empty(), "{t}");
            let mut n = 0;
            while let Some(row) = r.next_row().unwrap() {
                assert_eq!(row.cells.len(), r.header().len());
                n += 1;
            }
            let _ = n;
            tables += 1;
        }
        if f.file_name().unwrap() == "empty2003.mdb" {
            assert!(db.tables.is_empty(), "{:?}", db.tables);
        }
    }
    assert!(tables >= 10, "{tables}");
}
