//! `cargo bench -p silgate-source-silplus`: the SIL Plus adapter against the raw limit
//! of the same input, and its peak memory on a large export.
//!
//! The export has `SILGATE_BENCH_WORKERS` workers (default 1,000,000) and their child
//! rows (about 3.6 rows per worker in all), written to a temporary folder. "Raw" reads
//! and decodes every file once (csv + Windows-1252, no mapping); the adapter checks the
//! manifest (a scan of every file), joins by streaming merge and maps every record to
//! the canonical model. Reported: rows/s of each, their ratio (goal >= 0.5), and the
//! process's peak RSS after the adapter's run (goal < 100 MiB, flat in input size).
#![allow(clippy::unwrap_used)]

use silgate_core::Source;
use silgate_core::source::SourceItem;
use silgate_source_tabular::synth;
use silgate_source_tabular::{Entity, Limits, Mapping};
use std::ops::ControlFlow;
use std::time::Instant;

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb: f64 = status.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    kb / 1024.0
}

fn main() {
    let workers: u64 = std::env::var("SILGATE_BENCH_WORKERS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let dir = tempfile::tempdir().unwrap();
    let t = Instant::now();
    let bytes = synth::write_export(dir.path(), &Mapping::silplus(), "", workers, true).unwrap();
    let rows: u64 = Entity::ALL.iter().map(|e| synth::rows(*e, workers)).sum();
    eprintln!("export: {workers} workers, {rows} rows, {:.0} MiB, written in {:.1}s", bytes as f64 / 1048576.0, t.elapsed().as_secs_f64());

    // Raw: read and decode every field of every file once.
    let t = Instant::now();
    let mut raw_rows = 0u64;
    let mut chars = 0usize;
    for e in Entity::ALL {
        let f = std::fs::File::open(dir.path().join(format!("{}.CSV", e.name()))).unwrap();
        let mut r = csv::ReaderBuilder::new().delimiter(b';').has_headers(true).from_reader(std::io::BufReader::with_capacity(256 * 1024, f));
        let mut rec = csv::ByteRecord::new();
        while r.read_byte_record(&mut rec).unwrap() {
            for field in &rec {
                chars += encoding_rs::WINDOWS_1252.decode_without_bom_handling(field).0.len();
            }
            raw_rows += 1;
        }
    }
    let raw = t.elapsed().as_secs_f64();
    assert_eq!(raw_rows, rows);

    // For context: the same, keeping every field as an owned String (what any reader
    // that hands values on must do at least).
    let t = Instant::now();
    let mut kept = 0usize;
    for e in Entity::ALL {
        let f = std::fs::File::open(dir.path().join(format!("{}.CSV", e.name()))).unwrap();
        let mut r = csv::ReaderBuilder::new().delimiter(b';').has_headers(true).from_reader(std::io::BufReader::with_capacity(256 * 1024, f));
        let mut rec = csv::ByteRecord::new();
        while r.read_byte_record(&mut rec).unwrap() {
            let owned: Vec<String> = rec.iter().map(|f| encoding_rs::WINDOWS_1252.decode_without_bom_handling(f).0.into_owned()).collect();
            kept += owned.len();
        }
    }
    let owned = t.elapsed().as_secs_f64();

    // The adapter.
    let t = Instant::now();
    let mut src = silgate_source_silplus::open(dir.path(), None, Limits::default()).unwrap();
    let (mut records, mut rejected) = (0u64, 0u64);
    src.read(&mut |i| {
        match i {
            SourceItem::Record(_) => records += 1,
            SourceItem::Rejected(_) => rejected += 1,
        }
        ControlFlow::Continue(())
    })
    .unwrap();
    let adapter = t.elapsed().as_secs_f64();
    let rss = peak_rss_mib();
    assert_eq!(rejected, 0);
    assert_eq!(records, workers + workers / 10);
    println!("silplus raw read+decode   {:>12.0} rows/s  ({chars} chars)", rows as f64 / raw);
    println!("silplus raw, owned fields {:>12.0} rows/s  ({kept} fields)", rows as f64 / owned);
    println!("silplus adapter           {:>12.0} rows/s  {:>10.0} records/s", rows as f64 / adapter, records as f64 / adapter);
    println!("silplus ratio to raw      {:>12.2}  (goal >= 0.50; {:.2} to the owned-fields read)", raw / adapter, owned / adapter);
    println!("silplus peak RSS          {:>12.1} MiB for {rows} rows (goal < 100 MiB)", rss);
    println!(
        "BENCH\tSIL Plus adapter, {workers} workers\t{:.0} rows/s, RSS {rss:.1} MiB\tcsv + Windows-1252 {:.0} rows/s\t{:.2}\t>= 0.50",
        rows as f64 / adapter,
        rows as f64 / raw,
        raw / adapter
    );
}
