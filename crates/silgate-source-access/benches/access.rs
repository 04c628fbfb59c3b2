//! `cargo bench -p silgate-source-access`: the Access adapter against the raw limit of
//! the same input, for its two paths.
//!
//! - CSV exports (`campania-1` names, Windows-1252) of `SILGATE_BENCH_WORKERS` workers
//!   (default 200,000) and their child rows: raw csv + decode vs the adapter (scan,
//!   join, map to the canonical model).
//! - Databases: every table of every real file in ../shared/data/access, read
//!   `SILGATE_BENCH_ROUNDS` times (default 2,000; the files are small): raw
//!   `jetdb::read_table_rows` vs the adapter's chunked table reader giving cells.
#![allow(clippy::unwrap_used)]

use silgate_core::Source;
use silgate_source_access::Database;
use silgate_source_tabular::engine::RowReader;
use silgate_source_tabular::{Entity, Limits, Mapping, synth};
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::time::Instant;

fn main() {
    let workers: u64 = std::env::var("SILGATE_BENCH_WORKERS").ok().and_then(|v| v.parse().ok()).unwrap_or(200_000);
    let rounds: u64 = std::env::var("SILGATE_BENCH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(2_000);
    let dir = tempfile::tempdir().unwrap();
    let m = Mapping::campania1();
    synth::write_export(dir.path(), &m, ".csv", workers, false).unwrap();
    let rows: u64 = Entity::ALL.iter().map(|e| synth::rows(*e, workers)).sum();

    let t = Instant::now();
    for e in Entity::ALL {
        let f = std::fs::File::open(dir.path().join(format!("{}.csv", m.table(e)))).unwrap();
        let mut r = csv::ReaderBuilder::new().delimiter(b';').from_reader(std::io::BufReader::with_capacity(256 * 1024, f));
        let mut rec = csv::ByteRecord::new();
        while r.read_byte_record(&mut rec).unwrap() {
            for field in &rec {
                std::hint::black_box(encoding_rs::WINDOWS_1252.decode_without_bom_handling(field));
            }
        }
    }
    let raw = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let mut records = 0u64;
    silgate_source_access::open(dir.path(), None, Limits::default())
        .unwrap()
        .read(&mut |_| {
            records += 1;
            ControlFlow::Continue(())
        })
        .unwrap();
    let adapter = t.elapsed().as_secs_f64();
    assert_eq!(records, workers + workers / 10);
    println!("access csv raw read+decode {:>11.0} rows/s", rows as f64 / raw);
    println!("access csv adapter         {:>11.0} rows/s  {:>10.0} records/s", rows as f64 / adapter, records as f64 / adapter);
    println!("access csv ratio to raw    {:>11.2}  (goal >= 0.50)", raw / adapter);
    println!("BENCH\tAccess CSV exports adapter\t{:.0} rows/s\tcsv + decode {:.0} rows/s\t{:.2}\t>= 0.50", rows as f64 / adapter, rows as f64 / raw, raw / adapter);

    let shared = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/access");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&shared).unwrap().map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|e| e == "mdb" || e == "accdb")).collect();
    files.sort();
    let t = Instant::now();
    let mut raw_rows = 0u64;
    for _ in 0..rounds {
        for f in &files {
            let mut r = jetdb::PageReader::open(f).unwrap();
            for e in jetdb::read_catalog(&mut r).unwrap().iter().filter(|e| e.object_type == jetdb::ObjectType::Table && !e.name.starts_with("MSys")) {
                let def = jetdb::read_table_def(&mut r, &e.name, e.table_page).unwrap();
                raw_rows += jetdb::read_table_rows(&mut r, &def).unwrap().rows.len() as u64;
            }
        }
    }
    let raw = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let mut ours = 0u64;
    for _ in 0..rounds {
        for f in &files {
            let db = Database::open(f, "bench").unwrap();
            for name in &db.tables {
                let mut tab = db.table(name).unwrap().unwrap();
                while tab.next_row().unwrap().is_some() {
                    ours += 1;
                }
            }
        }
    }
    let adapter = t.elapsed().as_secs_f64();
    println!("access jetdb raw           {:>11.0} rows/s  ({raw_rows} rows)", raw_rows as f64 / raw);
    println!("access jetdb adapter rows  {:>11.0} rows/s  ({ours} rows)", ours as f64 / adapter);
    println!("access jetdb ratio to raw  {:>11.2}  (goal >= 0.50)", raw / adapter * (ours as f64 / raw_rows as f64));
    println!(
        "BENCH\tAccess databases adapter (jetdb)\t{:.0} rows/s\tjetdb rows alone {:.0} rows/s\t{:.2}\t>= 0.50",
        ours as f64 / adapter,
        raw_rows as f64 / raw,
        raw / adapter * (ours as f64 / raw_rows as f64)
    );
}
