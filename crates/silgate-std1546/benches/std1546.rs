//! `cargo bench -p silgate-std1546`: documents per second for write, read and validate,
//! and the ratio of our writer to a raw quick-xml writer emitting the same documents,
//! measured in the same run (the goal: write >= 50% of raw).
//!
//! A plain harness, not criterion: the figure that matters is a ratio between two
//! measurements taken side by side, printed as one table.

use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use silgate_codes::CodeTables;
use silgate_core::{Position, Provenance, Record, SourceSystem};
use silgate_std1546::{XsdValidator, read, write};
use std::hint::black_box;
use std::time::{Duration, Instant};

const EXAMPLES: [&str; 4] = ["candidatura-901.xml", "candidatura-902.xml", "candidatura-902-chiusura.xml", "vacancy-903.xml"];

fn prov() -> Provenance {
    Provenance::new(SourceSystem::Std1546, "bench", Position::Unknown)
}

/// Runs `f` (which handles `per_call` documents) for about `budget`; returns docs/s,
/// the median of five rounds.
fn rate(per_call: usize, budget: Duration, mut f: impl FnMut()) -> f64 {
    for _ in 0..50 {
        f();
    }
    let mut rounds = Vec::new();
    for _ in 0..5 {
        let start = Instant::now();
        let mut calls = 0usize;
        while start.elapsed() < budget / 5 {
            f();
            calls += 1;
        }
        rounds.push((calls * per_call) as f64 / start.elapsed().as_secs_f64());
    }
    rounds.sort_by(f64::total_cmp);
    rounds[2]
}

/// The raw baseline: quick-xml's own writer emitting the same element sequence, text
/// escaped by quick-xml, from a pre-flattened list of (depth-first) events.
fn flatten(xml: &str) -> Vec<(u8, String, String)> {
    // (kind: 0 start, 1 text, 2 end, name-or-text)
    let mut r = quick_xml::Reader::from_str(xml);
    let mut out = Vec::new();
    loop {
        match r.read_event() {
            Ok(Event::Start(s)) => out.push((0, s.name().as_ref().to_string(), s.attributes().filter_map(Result::ok).map(|a| a.value.to_string()).collect())),
            Ok(Event::Text(t)) => out.push((1, t.xml10_content().into_owned(), String::new())),
            Ok(Event::GeneralRef(g)) => out.push((1, quick_xml::escape::resolve_predefined_entity(&g.xml10_content()).unwrap_or("").to_string(), String::new())),
            Ok(Event::End(e)) => out.push((2, e.name().as_ref().to_string(), String::new())),
            Ok(Event::Eof) | Err(_) => break,
            _ => {}
        }
    }
    out
}

fn raw_write(events: &[(u8, String, String)]) -> Vec<u8> {
    let mut w = Writer::new(Vec::with_capacity(4096));
    let _ = w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)));
    for (k, a, b) in events {
        let _ = match k {
            0 if !b.is_empty() => w.write_event(Event::Start(BytesStart::new(a.as_str()).with_attributes([("xmlns:cliclavoro", b.as_str())]))),
            0 => w.write_event(Event::Start(BytesStart::new(a.as_str()))),
            1 => w.write_event(Event::Text(BytesText::new(a))),
            _ => w.write_event(Event::End(BytesEnd::new(a.as_str()))),
        };
    }
    w.into_inner()
}

fn main() {
    let shared = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/formats/examples");
    let docs: Vec<String> = EXAMPLES.iter().map(|e| std::fs::read_to_string(shared.join(e)).expect("examples under ../shared")).collect();
    let records: Vec<Record> = docs.iter().map(|d| read::read_document(d.as_bytes(), prov()).0.expect("example reads")).collect();
    let ours: Vec<String> = records.iter().map(write::write_record).collect();
    let flat: Vec<_> = ours.iter().map(|x| flatten(x)).collect();
    let tables = CodeTables::embedded();
    let xsd = XsdValidator::shared().expect("schemas compile");
    let today = time::macros::date!(2026 - 11 - 24);
    let n = records.len();
    let budget = Duration::from_secs(2);

    let w = rate(n, budget, || {
        for r in &records {
            black_box(write::write_record(black_box(r)));
        }
    });
    let raw = rate(n, budget, || {
        for f in &flat {
            black_box(raw_write(black_box(f)));
        }
    });
    let rd = rate(n, budget, || {
        for d in &ours {
            black_box(read::read_document(black_box(d.as_bytes()), prov()));
        }
    });
    let v = rate(n, budget, || {
        for d in &ours {
            black_box(silgate_std1546::validate_xml(black_box(d.as_bytes()), prov(), tables, today, xsd).expect("validator"));
        }
    });
    println!("silgate-std1546 bench ({} example documents, median of 5 rounds)", n);
    println!("| operation | docs/s | ratio |");
    println!("|---|---:|---:|");
    println!("| raw quick-xml writer (same documents) | {raw:.0} | 1.00 |");
    println!("| write (canonical -> XML) | {w:.0} | {:.2} of raw (goal >= 0.50) |", w / raw);
    println!("| read (XML -> canonical) | {rd:.0} | |");
    println!("| validate (read + XSD + rules) | {v:.0} | |");
    println!("BENCH\ttranslation: canonical -> 1546 XML\t{w:.0} docs/s\traw quick-xml writer {raw:.0}/s\t{:.2}\t>= 0.50", w / raw);
    println!("BENCH\tvalidation: read + XSD + rules\t{v:.0} docs/s\t-\t-\t-");
}
