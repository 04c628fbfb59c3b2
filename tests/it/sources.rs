//! Issues name the source's own field and position (issue 14, item 6): through the real
//! `silgate translate`, a record each adapter reads with a code the standard cannot
//! carry (a five-level CP2011 code in an experience, under `optional_unmappable =
//! reject`) or with an experience ending before it starts is quarantined with, beside
//! the national path, the column and line (SIL Plus, Access CSV), the sheet, column and
//! row (an Access workbook), the element or attribute
//! (Sintesi), or the JSON pointer and line (canonical JSON); left out under `omit`, the
//! warning names it too. (PEC attachments: `pec.rs`; the push API's 422: `api.rs`.)
#![allow(clippy::unwrap_used)]

use crate::adapters::fixtures;
use serde_json::Value;
use std::path::Path;
use std::process::Command;

const QUALIFICA: &str = "/Candidatura/DatiCurriculari/EsperienzeLavorative[1]/qualificasvolta";
const DATAFINE: &str = "/Candidatura/DatiCurriculari/EsperienzeLavorative[1]/datafine";

/// `silgate translate` of `input` as `kind` into `out` with `extra` flags: its JSON
/// quarantine lines and warning lines.
fn translate(kind: &str, input: &Path, out: &Path, extra: &[&str]) -> (Vec<Value>, Vec<Value>) {
    let o = Command::new(env!("CARGO_BIN_EXE_silgate"))
        .args(["translate", "--source", kind, "--region", "16", "--today", "2026-11-24", "--out"])
        .arg(out)
        .args(extra)
        .arg(input)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let lines = |f: &str| -> Vec<Value> { std::fs::read_to_string(out.join(f)).unwrap_or_default().lines().map(|l| serde_json::from_str(l).unwrap()).collect() };
    (lines("quarantine.jsonl"), lines("warnings.jsonl"))
}

/// The one quarantine line whose first error is at `field`.
fn line_at<'q>(q: &'q [Value], field: &str) -> &'q Value {
    let at: Vec<&Value> = q.iter().filter(|l| l["field"] == field).collect();
    assert_eq!(at.len(), 1, "one line at {field}: {q:#?}");
    at[0]
}

/// Copies the export folder `from` to `to`, applying `edit` to the file named `name`.
fn export_with(from: &Path, to: &Path, name: &str, edit: impl Fn(&str) -> String) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let file = p.file_name().unwrap().to_string_lossy().into_owned();
        let bytes = std::fs::read(&p).unwrap();
        let bytes = if file == name { edit(&String::from_utf8(bytes).unwrap()).into_bytes() } else { bytes };
        std::fs::write(to.join(&file), bytes).unwrap();
    }
}

/// `csv` with the `column`-th field of its data line `line` (2 = the first after the
/// header) set to `value`.
fn set_cell(csv: &str, line: usize, column: usize, value: &str) -> String {
    csv.lines()
        .enumerate()
        .map(|(i, l)| {
            if i + 1 != line {
                return l.to_string();
            }
            let mut cells: Vec<&str> = l.split(';').collect();
            cells[column] = value;
            cells.join(";")
        })
        .collect::<Vec<_>>()
        .join("\r\n")
        + "\r\n"
}

/// The table-shaped exports: `file` holds the experiences, `table` is its name in the
/// mapping, `columns` the names the export gives COD_QUAL and DT_FINE.
fn tabular(kind: &str, from: &Path, file: &str, table: &str, columns: (&str, &str)) {
    let dir = tempfile::tempdir().unwrap();
    // Line 2: a five-level code; line 3: an end before the start.
    let input = dir.path().join("in");
    export_with(from, &input, file, |csv| set_cell(&set_cell(csv, 2, 4, "51220"), 3, 2, "01/01/2000"));
    let (q, _) = translate(kind, &input, &dir.path().join("out"), &["--optional-unmappable", "reject"]);
    let l = line_at(&q, QUALIFICA);
    assert_eq!(l["rule"], "code.unmappable", "{l}");
    assert_eq!(l["source_field"], format!("{table}/{} line 2", columns.0), "{l}");
    assert_eq!(l["issues"][0]["source_field"], l["source_field"], "{l}");
    let l = line_at(&q, DATAFINE);
    assert_eq!((l["rule"].as_str(), l["source_field"].as_str()), (Some("date.end-before-start"), Some(&*format!("{table}/{} line 3", columns.1))), "{l}");
    // Left out under omit: the warning names the column and the line.
    let (q, w) = translate(kind, &input, &dir.path().join("omit"), &[]);
    assert!(q.iter().all(|l| l["field"] != QUALIFICA), "{q:#?}");
    let w: Vec<&Value> = w.iter().filter(|l| l["field"] == QUALIFICA).collect();
    assert_eq!(w.len(), 1, "{w:#?}");
    assert_eq!(w[0]["source_field"], format!("{table}/{} line 2", columns.0), "{}", w[0]);
}

#[test]
fn given_a_silplus_export_each_issue_should_name_its_column_and_line() {
    tabular("silplus", &fixtures().join("silplus/valid"), "ESPERIENZE.CSV", "ESPERIENZE.CSV", ("COD_QUAL", "DT_FINE"));
}

#[test]
fn given_access_csv_exports_each_issue_should_name_its_column_and_line() {
    tabular("access", &fixtures().join("access/csv"), "Esperienze.csv", "Esperienze", ("CodQualifica", "DataFine"));
}

#[test]
fn given_an_access_workbook_each_issue_should_name_its_sheet_column_and_row() {
    use crate::generate::{Entity, Val};
    let dir = tempfile::tempdir().unwrap();
    // The fixture's data (as `write_fixtures` makes it), typed cells: the first
    // experience gets a five-level code, the second an end before its start.
    let mut t = crate::generate::valid(12, 6);
    let exp = t.get_mut(&Entity::Esperienze).unwrap();
    exp[0][4] = Val::S("51220".into());
    exp[1][2] = Val::Date(2000, 1, 1);
    let input = dir.path().join("export.xlsx");
    crate::generate::access_xlsx(&input, &t);
    let (q, _) = translate("access", &input, &dir.path().join("out"), &["--optional-unmappable", "reject"]);
    let l = line_at(&q, QUALIFICA);
    assert_eq!((l["rule"].as_str(), l["source_field"].as_str()), (Some("code.unmappable"), Some("Esperienze/CodQualifica row 1")), "{l}");
    assert_eq!(l["issues"][0]["source_field"], l["source_field"], "{l}");
    let l = line_at(&q, DATAFINE);
    assert_eq!((l["rule"].as_str(), l["source_field"].as_str()), (Some("date.end-before-start"), Some("Esperienze/DataFine row 2")), "{l}");
    let (_, w) = translate("access", &input, &dir.path().join("omit"), &[]);
    let w: Vec<&Value> = w.iter().filter(|l| l["field"] == QUALIFICA).collect();
    assert_eq!(w.len(), 1, "{w:#?}");
    assert_eq!(w[0]["source_field"], "Esperienze/CodQualifica row 1", "{}", w[0]);
}

#[test]
fn given_a_sintesi_feed_each_issue_should_name_its_element_or_attribute() {
    let dir = tempfile::tempdir().unwrap();
    let feed = std::fs::read_to_string(fixtures().join("sintesi/valid.xml")).unwrap();
    // The first worker's experience: a five-level code; the second's ends before it starts.
    let first = feed.find("qualifica=\"5.1.2.2.0.1\"").unwrap();
    let mut feed = format!("{}qualifica=\"51220\"{}", &feed[..first], &feed[first + "qualifica=\"5.1.2.2.0.1\"".len()..]);
    let second = feed[first..].find("al=\"2014-06-30\"").unwrap() + first;
    feed.replace_range(second..second + "al=\"2014-06-30\"".len(), "al=\"2000-01-01\"");
    let input = dir.path().join("feed.xml");
    std::fs::write(&input, feed).unwrap();
    let (q, _) = translate("sintesi", &input, &dir.path().join("out"), &["--optional-unmappable", "reject"]);
    let l = line_at(&q, QUALIFICA);
    assert_eq!(l["source_field"], "/SintesiExport/Lavoratore[1]/Esperienze/Esperienza[1]/@qualifica", "{l}");
    let l = line_at(&q, DATAFINE);
    assert_eq!(l["source_field"], "/SintesiExport/Lavoratore[2]/Esperienze/Esperienza[1]/@al", "{l}");
}

#[test]
fn given_canonical_json_each_issue_should_name_its_pointer_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut cv: Value = serde_json::from_str(&crate::runtime::cv_with_five_level_experience()).unwrap();
    let five = cv.to_string();
    cv["experiences"][0]["profession"] = Value::String("5.1.2.2.0.1".into());
    cv["experiences"][0]["start"] = Value::String("2020-01-01".into());
    cv["experiences"][0]["end"] = Value::String("2000-01-01".into());
    let input = dir.path().join("in.jsonl");
    std::fs::write(&input, format!("{five}\n{cv}\n")).unwrap();
    let (q, _) = translate("canonical-json", &input, &dir.path().join("out"), &["--optional-unmappable", "reject"]);
    assert_eq!(line_at(&q, QUALIFICA)["source_field"], "/experiences/0/profession line 1");
    assert_eq!(line_at(&q, DATAFINE)["source_field"], "/experiences/0/end line 2");
}
