//! Differential test: every table of every real Access file in ../shared/data/access,
//! read by jetdb (through this crate) and by mdbtools' `mdb-export`, must give the same
//! rows: same count, same values column by column (text exactly, numbers to 1e-9
//! relative, dates to the second, booleans as 1/0). Binary columns are left out
//! (mdb-export is asked to strip them).
#![allow(clippy::unwrap_used)]

use jetdb::Value;
use silgate_source_access::Database;
use std::path::PathBuf;
use std::process::Command;

fn shared() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/access")
}

fn ours(v: &Value) -> Option<String> {
    Some(match v {
        Value::Null => String::new(),
        Value::Bool(b) => if *b { "1" } else { "0" }.into(),
        Value::Byte(i) => i.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Long(i) => i.to_string(),
        Value::BigInt(i) => i.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Double(f) => f.to_string(),
        Value::Text(s) | Value::Money(s) | Value::Numeric(s) | Value::Guid(s) => s.clone(),
        Value::Timestamp(d) => silgate_source_access::ole_datetime(*d).map(|t| format!("{} {:02}:{:02}:{:02}", t.date(), t.hour(), t.minute(), t.second())).unwrap_or_default(),
        _ => return None,
    })
}

fn same(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0),
        _ => false,
    }
}

#[test]
fn given_the_real_access_files_jetdb_and_mdb_export_should_read_the_same_rows() {
    let have = Command::new("mdb-export").arg("--version").output();
    assert!(have.is_ok(), "mdb-export (Debian mdbtools) is needed: scripts/test installs it");
    let mut files: Vec<PathBuf> = std::fs::read_dir(shared()).unwrap().map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|e| e == "mdb" || e == "accdb")).collect();
    files.sort();
    let (mut tables, mut cells) = (0, 0);
    let mut pre1900: Vec<String> = Vec::new();
    for f in &files {
        let db = Database::open(f, &f.display().to_string()).unwrap();
        for t in &db.tables {
            let out = Command::new("mdb-export").args(["-b", "strip", "-T", "%Y-%m-%d %H:%M:%S", "-D", "%Y-%m-%d %H:%M:%S"]).arg(f).arg(t).output().unwrap();
            assert!(out.status.success(), "{} {t}: {}", f.display(), String::from_utf8_lossy(&out.stderr));
            let mut theirs = csv::ReaderBuilder::new().has_headers(true).from_reader(out.stdout.as_slice());
            let header: Vec<String> = theirs.headers().unwrap().iter().map(str::to_string).collect();
            let rows: Vec<csv::StringRecord> = theirs.records().map(Result::unwrap).collect();
            let mut reader = db.table(t).unwrap().unwrap();
            let names: Vec<String> = silgate_source_tabular::engine::RowReader::header(&reader).to_vec();
            assert_eq!(names, header, "{} {t}", f.display());
            let mut n = 0;
            while let Some(values) = reader.next_values().unwrap() {
                let theirs = rows.get(n).unwrap_or_else(|| panic!("{} {t}: jetdb has more rows than mdb-export ({})", f.display(), rows.len()));
                for (i, v) in values.iter().enumerate() {
                    let Some(mine) = ours(v) else { continue };
                    let other = theirs.get(i).unwrap_or("");
                    // mdbtools cannot print dates before 1900 (it shows day 0 of
                    // 1900); jetdb reads them (checked against the known values below).
                    if matches!(v, Value::Timestamp(d) if *d < 1.0) && other.starts_with("1900-01-00") {
                        pre1900.push(mine);
                        continue;
                    }
                    assert!(same(&mine, other), "{} {t} row {} column {}: jetdb '{mine}', mdb-export '{other}'", f.display(), n + 1, header[i]);
                    cells += 1;
                }
                n += 1;
            }
            assert_eq!(n, rows.len(), "{} {t}: row count", f.display());
            tables += 1;
        }
    }
    assert!(tables >= 15 && cells > 100, "{tables} tables, {cells} cells");
    // The dates before 1900 of oldDatesV2007.accdb, as Access wrote them.
    assert!(pre1900.iter().any(|d| d == "1582-10-15 00:00:00"), "{pre1900:?}");
    assert!(pre1900.iter().all(|d| d.as_str() < "1900-01-01"), "{pre1900:?}");
}
