//! Unit tests: cell readings, local code forms, the mapping files, and the join
//! engine over an in-memory table set (merge join and index join agree).
#![allow(clippy::unwrap_used)]

use crate::build::{ateco, contract, qualification};
use crate::cell::{Cell, parse_datetime};
use crate::engine::{Limits, RawRow, RowReader, TableSet, Tabular};
use crate::entity::{Entity, key_cmp};
use crate::mapping::Mapping;
use proptest::prelude::*;
use silgate_core::source::{SourceError, SourceItem};
use silgate_core::{Position, Record, Source, SourceSystem};
use std::collections::BTreeMap;
use std::ops::ControlFlow;

#[test]
fn given_local_forms_the_national_codes_should_come_out() {
    assert_eq!(qualification("51220").as_deref(), Some("5.1.2.2.0"));
    assert_eq!(qualification("51220-1").as_deref(), Some("5.1.2.2.0.1"));
    assert_eq!(qualification("5.1.2.2.0.1").as_deref(), Some("5.1.2.2.0.1"));
    assert_eq!(qualification("5122"), None);
    assert_eq!(qualification("51220-"), None);
    assert_eq!(ateco("620100").as_deref(), Some("62.01.00"));
    assert_eq!(ateco("62.01.00").as_deref(), Some("62.01.00"));
    assert_eq!(ateco("6201"), None);
    assert_eq!(contract("A.02.00").as_deref(), Some("A02"));
    assert_eq!(contract("A02").as_deref(), Some("A02"));
    assert_eq!(contract("tempo"), None);
}

#[test]
fn given_dates_in_every_export_form_they_should_parse() {
    let d = |s| parse_datetime(s).map(|d| d.to_string());
    assert_eq!(d("14/02/1988").as_deref(), Some("1988-02-14 0:00:00.0"));
    assert_eq!(d("1988-02-14").as_deref(), Some("1988-02-14 0:00:00.0"));
    assert_eq!(d("14/02/1988 09:30").as_deref(), Some("1988-02-14 9:30:00.0"));
    assert_eq!(d("1988-02-14T09:30:05").as_deref(), Some("1988-02-14 9:30:05.0"));
    assert_eq!(d("31/02/1988"), None);
    assert_eq!(d("1988/02/14"), None);
    assert_eq!(Cell::Text("1.234,50".into()).number(), Ok(Some(1235)));
    assert_eq!(Cell::Text("35000.0000".into()).number(), Ok(Some(35000)));
    assert_eq!(Cell::Text("si".into()).boolean(), Ok(Some(true)));
    assert!(Cell::Text("forse".into()).boolean().is_err());
    assert_eq!(Cell::Float(40.0).text().as_deref(), Some("40"));
}

#[test]
fn given_keys_they_should_sort_like_exports() {
    use std::cmp::Ordering::*;
    assert_eq!(key_cmp("9", "10"), Less);
    assert_eq!(key_cmp("010", "9"), Greater);
    assert_eq!(key_cmp("A9", "A10"), Greater);
}

#[test]
fn given_the_builtin_mappings_they_should_parse_and_name_every_table() {
    let c = Mapping::campania1();
    assert_eq!(c.format_version, "campania-1");
    assert_eq!(c.table(Entity::Lavoratori), "Anagrafica");
    assert_eq!(c.column(Entity::Lavoratori, "COD_FISC"), "CodiceFiscale");
    for e in Entity::ALL {
        assert!(c.tables.contains_key(e.name()), "{e:?}");
    }
    assert_eq!(Mapping::silplus().table(Entity::Esperienze), "ESPERIENZE.CSV");
    let bad = Mapping::parse("x", "format_version = \"x\"\n[tables.PERSONE]\ntable = \"P\"\n").unwrap_err();
    assert!(bad.to_string().contains("PERSONE"), "{bad}");
    let bad = Mapping::parse("x", "format_version = \"x\"\n[tables.LAVORATORI]\ntable = \"P\"\ncolumns = { CF = \"X\" }\n").unwrap_err();
    assert!(bad.to_string().contains("'CF'"), "{bad}");
}

/// An in-memory table set: table name -> header + rows of text.
struct Memory(BTreeMap<String, (Vec<String>, Vec<Vec<String>>)>);

struct MemoryReader {
    header: Vec<String>,
    rows: std::vec::IntoIter<Vec<String>>,
    n: u64,
    origin: String,
}

impl RowReader for MemoryReader {
    fn header(&self) -> &[String] {
        &self.header
    }
    fn origin(&self) -> &str {
        &self.origin
    }
    fn next_row(&mut self) -> Result<Option<RawRow>, SourceError> {
        Ok(self.rows.next().map(|r| {
            self.n += 1;
            RawRow { position: Position::Line(self.n + 1), cells: r.into_iter().map(|s| if s.is_empty() { Cell::Null } else { Cell::Text(s) }).collect(), issues: Vec::new() }
        }))
    }
}

impl TableSet for Memory {
    fn system(&self) -> SourceSystem {
        SourceSystem::SilPlus
    }
    fn open(&self, table: &str) -> Result<Option<Box<dyn RowReader + '_>>, SourceError> {
        Ok(self.0.get(table).map(|(h, rows)| Box::new(MemoryReader { header: h.clone(), rows: rows.clone().into_iter(), n: 0, origin: table.to_string() }) as Box<dyn RowReader>))
    }
}

fn worker(id: &str) -> Vec<String> {
    [id, "SPSGNR88B14F839L", "Esposito", "Gennaro", "M", "14/02/1988", "F839", "000", "F839", "80100", "Via Roma 1", "", "333", "g@example.it", "CPI001", "01/10/2026", "A"]
        .map(String::from)
        .to_vec()
}

fn set(workers: &[&str], langs: &[(&str, &str)]) -> Memory {
    let mut m = BTreeMap::new();
    let h = |e: Entity| e.columns().iter().map(|c| c.to_string()).collect::<Vec<_>>();
    m.insert("LAVORATORI.CSV".into(), (h(Entity::Lavoratori), workers.iter().map(|w| worker(w)).collect()));
    m.insert("LINGUE.CSV".into(), (h(Entity::Lingue), langs.iter().map(|(id, l)| [id, l, "B1", "B1", "B2"].map(|s| s.to_string()).to_vec()).collect()));
    m.insert(
        "DISPONIBILITA.CSV".into(),
        (h(Entity::Disponibilita), workers.iter().map(|w| [w, "51220", "Commesso", "F", "A.02.00", "S"].map(|s| s.to_string()).to_vec()).collect()),
    );
    Memory(m)
}

fn collect(m: Memory, limit: u64) -> Result<Vec<SourceItem>, SourceError> {
    let mut out = Vec::new();
    Tabular::new(m, Mapping::silplus(), Limits { max_index_rows: limit, ..Limits::default() }).read(&mut |i| {
        out.push(i);
        ControlFlow::Continue(())
    })?;
    Ok(out)
}

fn summary(items: &[SourceItem]) -> Vec<String> {
    let mut v: Vec<String> = items
        .iter()
        .map(|i| match i {
            SourceItem::Record(r) => match &**r {
                Record::Cv(c) => format!("cv {} langs={}", c.provenance.position, c.languages.iter().map(|l| l.language.clone()).collect::<Vec<_>>().join(",")),
                Record::Vacancy(_) => "vacancy".into(),
            },
            SourceItem::Rejected(r) => format!("rejected {} {} {}", r.provenance.origin, r.provenance.position, r.issues[0].rule),
        })
        .collect();
    v.sort();
    v
}

#[test]
fn given_a_sorted_and_an_unsorted_export_the_joins_should_agree_and_name_orphans() {
    let sorted = collect(set(&["1", "2", "3"], &[("0", "FRA"), ("1", "ENG"), ("1", "DEU"), ("3", "SPA"), ("4", "POR")]), 10).unwrap();
    let unsorted = collect(set(&["3", "1", "2"], &[("1", "ENG"), ("4", "POR"), ("3", "SPA"), ("0", "FRA"), ("1", "DEU")]), 10).unwrap();
    let s = summary(&sorted);
    assert_eq!(s.iter().filter(|l| l.starts_with("rejected") && l.ends_with("row.orphan")).count(), 2, "{s:?}");
    assert!(s.iter().any(|l| l.ends_with("langs=ENG,DEU")), "{s:?}");
    let u = summary(&unsorted);
    assert_eq!(s.len(), u.len());
    assert_eq!(s.iter().filter(|l| l.contains("langs=ENG,DEU")).count(), u.iter().filter(|l| l.contains("langs=ENG,DEU")).count());
    // Unsorted past the index limit: refused, saying to sort.
    let err = collect(set(&["3", "1", "2"], &[("1", "ENG"), ("4", "POR"), ("3", "SPA")]), 2).unwrap_err();
    assert!(err.to_string().contains("sort"), "{err}");
}

proptest! {
    /// Whatever the order of the rows, every worker gets exactly its own languages and
    /// every language row is used once or reported once.
    #[test]
    fn given_any_row_order_each_child_should_be_joined_or_reported_once(ids in proptest::collection::vec(1u8..20, 1..12), langs in proptest::collection::vec((0u8..25, 0usize..3), 0..30), sort in any::<bool>()) {
        let mut ids: Vec<String> = ids.into_iter().map(|i| i.to_string()).collect();
        ids.sort_by(|a, b| key_cmp(a, b));
        ids.dedup();
        let codes = ["ENG", "FRA", "DEU"];
        let mut l: Vec<(String, &str)> = langs.into_iter().map(|(k, c)| (k.to_string(), codes[c])).collect();
        if sort { l.sort_by(|a, b| key_cmp(&a.0, &b.0)); }
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let lrefs: Vec<(&str, &str)> = l.iter().map(|(a, b)| (a.as_str(), *b)).collect();
        let items = collect(set(&refs, &lrefs), 1000).unwrap();
        let joined: usize = items.iter().map(|i| match i { SourceItem::Record(r) => match &**r { Record::Cv(c) => c.languages.len(), Record::Vacancy(_) => 0 }, SourceItem::Rejected(_) => 0 }).sum();
        let orphans = items.iter().filter(|i| matches!(i, SourceItem::Rejected(r) if r.issues[0].rule == "row.orphan")).count();
        prop_assert_eq!(joined + orphans, l.len());
        let expected_orphans = l.iter().filter(|(k, _)| !ids.contains(k)).count();
        prop_assert_eq!(orphans, expected_orphans);
    }
}

#[test]
fn given_quoted_line_breaks_rows_should_report_the_line_they_start_on() {
    use crate::csv::{CsvTable, Encoding};
    let lines = |text: &[u8]| {
        let mut t = CsvTable::new(text, "t.csv", "T", b';', Encoding::Windows1252).unwrap();
        let mut lines = Vec::new();
        while let Some(r) = t.next_row().unwrap() {
            lines.push(r.position.to_string());
        }
        lines
    };
    let crlf = b"A;B\r\n1;\"x\r\ny\"\r\n2;z\r\n3;\"p\r\nq\r\nr\"\r\n4;w\r\n";
    assert_eq!(lines(crlf), ["line 2", "line 4", "line 5", "line 8"]);
    let lf = b"A;B\n1;\"x\ny\"\n2;z\n3;\"p\nq\nr\"\n4;w\n";
    assert_eq!(lines(lf), ["line 2", "line 4", "line 5", "line 8"]);
    let blank = b"A;B\r\n\r\n1;x\r\n\r\n\r\n2;y";
    assert_eq!(lines(blank), ["line 3", "line 6"]);
}

#[test]
fn given_a_quote_left_open_in_a_huge_file_the_reader_should_stop_not_swallow_it() {
    use crate::csv::{CsvTable, MAX_RECORD_BYTES};
    use crate::engine::RowReader;
    let mut text = b"A;B\r\n1;\"open\r\n".to_vec();
    text.extend(std::iter::repeat_n(b'x', (MAX_RECORD_BYTES + (1 << 20)) as usize));
    let mut t = CsvTable::new(&text[..], "t.csv", "T", b';', crate::csv::Encoding::Utf8).unwrap();
    let e = t.next_row().unwrap_err();
    assert!(e.to_string().contains("quote left open") && e.to_string().contains("line 2"), "{e}");
    // The input's fault, set aside: not a local read failure retried at every poll.
    assert_eq!(e.as_code(), "limit.record_bytes");
}

#[test]
fn given_codes_typed_as_numbers_their_leading_zeros_should_come_back_and_mapped_codes_be_checked() {
    let mut m = set(&["1"], &[]);
    let t = m.0.get_mut("LAVORATORI.CSV").unwrap();
    t.1[0][7] = "0".into(); // CITT as text "0": a real value, not padded
    let items = collect(m, 10).unwrap();
    // The text "0" stays "0" (and the national rules will judge it).
    let SourceItem::Record(r) = &items[0] else { panic!("{items:?}") };
    let Record::Cv(cv) = &**r else { panic!() };
    assert_eq!(cv.worker.citizenship, "0");
    // A local table cannot smuggle a malformed code in.
    let mut mapping = Mapping::silplus();
    mapping.codes.insert("sesso".into(), [("2".to_string(), "female".to_string())].into_iter().collect());
    let mut m = set(&["1"], &[]);
    m.0.get_mut("LAVORATORI.CSV").unwrap().1[0][4] = "2".into();
    let mut out = Vec::new();
    Tabular::new(m, mapping, Limits::default())
        .read(&mut |i| {
            out.push(i);
            ControlFlow::Continue(())
        })
        .unwrap();
    assert!(matches!(&out[0], SourceItem::Rejected(r) if r.issues.iter().any(|i| i.rule == "code.unknown" && i.path == "LAVORATORI.CSV/SESSO")), "{out:?}");
}

/// A table set of in-memory CSV files (Windows-1252), as an export would hold them.
struct CsvFiles(BTreeMap<String, Vec<u8>>);

impl TableSet for CsvFiles {
    fn system(&self) -> SourceSystem {
        SourceSystem::SilPlus
    }
    fn open(&self, table: &str) -> Result<Option<Box<dyn RowReader + '_>>, SourceError> {
        match self.0.get(table) {
            Some(b) => Ok(Some(Box::new(crate::csv::CsvTable::new(&b[..], table, table, b';', crate::csv::Encoding::Windows1252)?))),
            None => Ok(None),
        }
    }
}

fn csv_export(extra_header: &str, extra_value: &[u8], surname: &[u8]) -> CsvFiles {
    let mut lav = format!("{};{extra_header}\r\n", Entity::Lavoratori.columns().join(";")).into_bytes();
    let w = worker("1");
    for (i, v) in w.iter().enumerate() {
        if i > 0 {
            lav.push(b';');
        }
        if i == 2 { lav.extend_from_slice(surname) } else { lav.extend_from_slice(v.as_bytes()) }
    }
    lav.push(b';');
    lav.extend_from_slice(extra_value);
    lav.extend_from_slice(b"\r\n");
    let disp = format!("{}\r\n1;51220;Commesso;F;A.02.00;S\r\n", Entity::Disponibilita.columns().join(";")).into_bytes();
    CsvFiles([("LAVORATORI.CSV".to_string(), lav), ("DISPONIBILITA.CSV".to_string(), disp)].into_iter().collect())
}

fn read_set(set: impl TableSet) -> Result<Vec<SourceItem>, SourceError> {
    let mut out = Vec::new();
    Tabular::new(set, Mapping::silplus(), Limits::default()).read(&mut |i| {
        out.push(i);
        ControlFlow::Continue(())
    })?;
    Ok(out)
}

#[test]
fn given_a_bad_byte_only_in_a_column_nobody_reads_the_record_should_pass() {
    let items = read_set(csv_export("NOTE", b"caff\x81", b"Esposito")).unwrap();
    assert!(matches!(&items[0], SourceItem::Record(_)), "{items:?}");
    let items = read_set(csv_export("NOTE", b"ok", b"Espo\x81ito")).unwrap();
    assert!(matches!(&items[0], SourceItem::Rejected(r) if r.issues[0].rule == "encoding.windows-1252" && r.issues[0].path == "LAVORATORI.CSV/COGNOME"), "{items:?}");
    let SourceItem::Rejected(r) = &items[0] else { unreachable!() };
    assert_eq!(r.issues[0].source_field.as_deref(), Some("LAVORATORI.CSV/COGNOME line 2"), "the column and its line");
}

#[test]
fn given_an_input_with_none_of_the_mapped_tables_it_should_be_refused_naming_what_it_has() {
    let e = read_set(CsvFiles([("Foglio1".to_string(), b"A;B\r\n1;2\r\n".to_vec())].into_iter().collect())).unwrap_err();
    assert!(e.to_string().contains("LAVORATORI.CSV or RICHIESTE.CSV"), "{e}");
}

#[test]
fn given_two_workers_with_one_id_the_second_should_be_rejected_not_sent_bare() {
    for ids in [["1", "1", "2"], ["2", "1", "1"]] {
        let items = collect(set(&ids, &[("1", "ENG")]), 10).unwrap();
        let dups = items.iter().filter(|i| matches!(i, SourceItem::Rejected(r) if r.issues[0].rule == "row.duplicate-key")).count();
        assert_eq!(dups, 1, "{ids:?}: {items:?}");
    }
}

#[test]
fn given_every_column_filled_each_should_name_the_canonical_field_it_fills_with_its_line() {
    let mut m = set(&["1"], &[("1", "ENG")]);
    let h = |e: Entity| e.columns().iter().map(|c| c.to_string()).collect::<Vec<_>>();
    let row = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    m.0.insert("ESPERIENZE.CSV".into(), (h(Entity::Esperienze), vec![row(&["1", "01/01/2020", "31/12/2020", "A.02.00", "51220", "Commesso", "Rossi srl", "vendita"]); 2]));
    m.0.insert("TITOLI.CSV".into(), (h(Entity::Titoli), vec![row(&["1", "30", "Diploma", "60/60"])]));
    m.0.insert("AZIENDE.CSV".into(), (h(Entity::Aziende), vec![row(&["7", "01234567890", "Rossi srl", "620100", "F839", "80100", "Via Roma 2", "r@example.it", "081"])]));
    m.0.insert(
        "RICHIESTE.CSV".into(),
        (h(Entity::Richieste), vec![row(&["R1", "7", "CPI001", "01/10/2026", "31/12/2026", "2", "51220", "Commesso", "Vendita", "F839", "A.02.00", "FT", "A", "20000"])]),
    );
    let items = collect(m, 10).unwrap();
    let mut seen = 0;
    for item in &items {
        let SourceItem::Record(r) = item else { panic!("{item:?}") };
        let Some(map) = r.provenance().fields.mapped_fields() else { panic!("no field map") };
        let json = serde_json::to_value(&**r).unwrap();
        for (pointer, source) in map.iter() {
            let v = json.pointer(&pointer);
            assert!(v.is_some_and(|v| !v.is_null()), "{pointer} (from {source}) holds nothing in the record");
            seen += 1;
        }
        // The second experience is line 3 of its file, and names its column.
        if let Record::Cv(_) = &**r {
            assert_eq!(map.locate("/experiences/1/profession").as_deref(), Some("ESPERIENZE.CSV/COD_QUAL line 3"));
            assert_eq!(map.locate("/experiences/1/employer_address").as_deref(), Some("ESPERIENZE.CSV line 3"), "an empty field names its row");
            assert_eq!(map.locate("/worker/fiscal_code").as_deref(), Some("LAVORATORI.CSV/COD_FISC line 2"));
        } else {
            assert_eq!(map.locate("/employer/sector").as_deref(), Some("AZIENDE.CSV/ATECO line 2"));
            assert_eq!(map.locate("/profile/profession").as_deref(), Some("RICHIESTE.CSV/COD_QUAL line 2"));
        }
    }
    // Every filled column read into a field was noted: the worker's 15 (TEL is empty),
    // 7 a past job, 3, 4, 5; the vacancy's 13 and its employer's 8; each row as its part.
    let cv_fields = 15 + 2 * 7 + 3 + 4 + 5;
    assert_eq!(seen, cv_fields + 6 + 13 + 8 + 2, "{items:?}");
}
