//! Tests of the 1546 mapping and validation: the shared examples, round trips
//! (property-based), an independent validator (`xmllint`) on our XSD and the ministry's,
//! one test per business rule, and bad input.

mod egov;
mod fields;
mod fit;
mod generators;
mod rules_fire;

use super::*;
use silgate_core::{Position, Provenance, SourceSystem};
use std::path::{Path, PathBuf};
use time::macros::date;

pub(crate) const TODAY: Date = date!(2026 - 11 - 24);

pub(crate) fn shared() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared")
}

pub(crate) fn prov() -> Provenance {
    Provenance::new(SourceSystem::Std1546, "test.xml", Position::XPath("/".into()))
}

pub(crate) fn xsd() -> &'static XsdValidator {
    #[allow(clippy::expect_used, reason = "tests")]
    XsdValidator::shared().expect("schemas compile")
}

pub(crate) fn judge(xml: &str) -> Report {
    #[allow(clippy::expect_used, reason = "tests")]
    validate_xml(xml.as_bytes(), prov(), CodeTables::embedded(), TODAY, xsd()).expect("validator runs")
}

/// Validates files with `xmllint --schema` (libxml2's command line: a second process,
/// independent of our in-process validation and of our path mapping).
pub(crate) fn xmllint(schema: &Path, files: &[PathBuf]) {
    if files.is_empty() {
        return;
    }
    let out =
        std::process::Command::new("xmllint").arg("--noout").arg("--schema").arg(schema).args(files).output().expect("xmllint is installed (scripts/test installs libxml2-utils)");
    assert!(out.status.success(), "xmllint {} failed:\n{}", schema.display(), String::from_utf8_lossy(&out.stderr));
}

pub(crate) fn ministry(kind: silgate_core::RecordKind) -> PathBuf {
    let f = match kind {
        silgate_core::RecordKind::Cv => "Rev.038_CL_Allegato_4_Candidatura.xsd",
        silgate_core::RecordKind::Vacancy => "Rev.064_CL_Allegato_4_Ricerca_personale.xsd",
    };
    shared().join("reference/cliclavoro").join(f)
}

pub(crate) fn ours(kind: silgate_core::RecordKind) -> PathBuf {
    let f = match kind {
        silgate_core::RecordKind::Cv => "candidatura.xsd",
        silgate_core::RecordKind::Vacancy => "vacancy.xsd",
    };
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas").join(f)
}

fn examples() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(shared().join("formats/examples")).expect("examples").map(|e| e.expect("entry").path()).collect();
    v.sort();
    v
}

#[test]
fn given_every_shared_example_should_validate_and_round_trip() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut emitted = Vec::new();
    for path in examples() {
        let xml = std::fs::read_to_string(&path).expect("read");
        let report = judge(&xml);
        let errors: Vec<_> = report.issues.iter().filter(|i| i.is_error()).collect();
        assert!(errors.is_empty(), "{}: {errors:?}", path.display());
        let record = report.record.expect("record");
        let again = write::write_record(&record);
        let report2 = judge(&again);
        assert!(report2.is_valid(), "{}: {:?}", path.display(), report2.issues);
        assert_eq!(report2.record.as_ref(), Some(&record), "{}: XML -> canonical -> XML -> canonical", path.display());
        let out = dir.path().join(path.file_name().expect("name"));
        std::fs::write(&out, &again).expect("write");
        emitted.push((record.kind(), out));
    }
    assert_eq!(emitted.len(), 4);
    for kind in [silgate_core::RecordKind::Cv, silgate_core::RecordKind::Vacancy] {
        let files: Vec<PathBuf> = emitted.iter().filter(|(k, _)| *k == kind).map(|(_, p)| p.clone()).collect();
        xmllint(&ours(kind), &files);
        xmllint(&ministry(kind), &files);
    }
}

#[test]
fn given_the_example_cv_should_warn_only_about_incomplete_tables() {
    let xml = std::fs::read_to_string(shared().join("formats/examples/candidatura-901.xml")).expect("read");
    let report = judge(&xml);
    let rules: Vec<&str> = report.issues.iter().map(|i| i.rule.as_str()).collect();
    assert!(rules.iter().all(|r| ["cp2011.unknown", "lingua.unknown", "patente.unknown"].contains(r)), "{rules:?}");
    assert!(report.issues.iter().all(|i| !i.is_error()));
}

#[test]
fn given_malformed_xml_should_report_line_and_rule() {
    let r = judge(
        "<?xml version=\"1.0\"?>\n<cliclavoro:Candidatura xmlns:cliclavoro=\"http://servizi.lavoro.gov.it/candidatura\">\n<cliclavoro:Lavoratore>\n</cliclavoro:Candidatura>",
    );
    assert!(r.record.is_none());
    assert_eq!(r.issues.len(), 1, "{:?}", r.issues);
    assert_eq!(r.issues[0].rule, "xml.malformed");
    assert!(r.issues[0].path.starts_with("line "), "{:?}", r.issues[0]);
}

#[test]
fn given_a_wrong_namespace_should_name_it() {
    let xml =
        std::fs::read_to_string(shared().join("formats/examples/vacancy-903.xml")).expect("read").replace("http://servizi.lavoro.gov.it/vacancy", "http://example.org/vacancy");
    let r = judge(&xml);
    assert!(r.record.is_none());
    assert_eq!(r.issues[0].rule, "xml.namespace");
    assert_eq!(r.issues[0].path, "/Vacancy");
}

#[test]
fn given_an_impossible_date_and_a_bad_pattern_should_report_both_with_paths() {
    let xml = std::fs::read_to_string(shared().join("formats/examples/candidatura-901.xml"))
        .expect("read")
        .replace("1988-02-14", "1988-02-30")
        .replace("<cliclavoro:cap>81100</cliclavoro:cap>", "<cliclavoro:cap>8110</cliclavoro:cap>");
    let r = judge(&xml);
    let find = |rule: &str| r.issues.iter().find(|i| i.rule == rule).unwrap_or_else(|| panic!("{rule} in {:?}", r.issues));
    assert_eq!(find("xml.date").path, "/Candidatura/Lavoratore/DatiAnagrafici/datanascita");
    assert_eq!(find("xsd.pattern").path, "/Candidatura/Lavoratore/Domicilio/cap");
    // The birth date is personal: its digits never reach the message.
    assert!(r.issues.iter().all(|i| !i.message.contains("1988")), "{:?}", r.issues);
}

#[test]
fn given_a_bad_fiscal_code_pattern_should_redact_the_value() {
    let xml = std::fs::read_to_string(shared().join("formats/examples/candidatura-901.xml")).expect("read").replace("SPSGNR88B14F839L", "SPSGNR88B14F839");
    let r = judge(&xml);
    let i = r.issues.iter().find(|i| i.rule == "xsd.pattern").expect("pattern issue");
    assert_eq!(i.path, "/Candidatura/Lavoratore/DatiAnagrafici/codicefiscale");
    assert!(!i.message.contains("SPSGNR"), "{i:?}");
}

#[test]
fn given_missing_and_unexpected_elements_should_report_each() {
    let xml = std::fs::read_to_string(shared().join("formats/examples/vacancy-903.xml"))
        .expect("read")
        .replace("<v:settore>52.29.10</v:settore>", "")
        .replace("<v:ampiezza>02</v:ampiezza>", "<v:ampiezza>02</v:ampiezza><v:fondazione>1990</v:fondazione>");
    let r = judge(&xml);
    let rules: Vec<(&str, &str)> = r.issues.iter().map(|i| (i.path.as_str(), i.rule.as_str())).collect();
    assert!(rules.contains(&("/Vacancy/DatoreLavoro/DatiAnagrafici/settore", "xml.missing")), "{rules:?}");
    assert!(rules.contains(&("/Vacancy/DatoreLavoro/DatiAnagrafici/fondazione", "xml.unexpected-element")), "{rules:?}");
    assert!(!r.is_valid());
}

#[test]
fn given_an_xsd_error_in_a_repeated_element_the_path_should_match_the_rules_form() {
    let xml = std::fs::read_to_string(shared().join("formats/examples/candidatura-901.xml"))
        .expect("read")
        .replace("<cliclavoro:titolostudio>40</cliclavoro:titolostudio>", "<cliclavoro:titolostudio>4</cliclavoro:titolostudio>");
    let r = judge(&xml);
    assert!(r.issues.iter().any(|i| i.rule == "xsd.pattern" && i.path == "/Candidatura/DatiCurriculari/Istruzione[1]/titolostudio"), "{:?}", r.issues);
}

#[test]
fn given_random_bytes_should_never_panic() {
    for s in ["", "<", "<?xml?>", "<a/>", "<Candidatura/>", "\u{0}\u{1}", "<Vacancy xmlns=\"http://servizi.lavoro.gov.it/vacancy\"/>"] {
        let r = judge(s);
        assert!(!r.is_valid(), "{s:?}");
    }
}

#[test]
fn given_content_allocation_should_be_deterministic_and_well_formed() {
    use code::CodeAllocator;
    let xml = std::fs::read_to_string(shared().join("formats/examples/candidatura-901.xml")).expect("read");
    let mut rec = judge(&xml).record.expect("record");
    rec.communication_mut().code = None;
    let mut a = code::ContentAllocator { region: "15".into() };
    let c1 = a.allocate(&rec).expect("code");
    let c2 = a.allocate(&rec).expect("code");
    assert_eq!(c1, c2);
    assert_eq!(c1.len(), 25);
    assert!(c1.starts_with("1500026221"), "{c1}");
    assert_eq!(code::build("16", 2026, silgate_core::RecordKind::Cv, silgate_core::CommunicationKind::Send, 901).as_deref(), Some("1600026221000000000000901"));
}

#[test]
fn given_a_forbidden_control_character_emit_should_reject_the_document() {
    let xml = std::fs::read_to_string(shared().join("formats/examples/vacancy-903.xml")).expect("read");
    let Some(silgate_core::Record::Vacancy(mut v)) = judge(&xml).record else { panic!("vacancy") };
    v.profile.description.push('\u{1}');
    let rec = silgate_core::Record::Vacancy(v);
    let (_, issues) = emit(&rec, CodeTables::embedded(), TODAY, xsd()).expect("validator");
    assert!(issues.iter().any(|i| i.rule == "xml.malformed"), "{issues:?}");
}

#[test]
fn given_a_comment_naming_the_other_root_validation_should_use_the_real_root() {
    let xml =
        std::fs::read_to_string(shared().join("formats/examples/candidatura-901.xml")).expect("read").replacen("?>", "?><!-- <Vacancy> -->", 1).replace("SPSGNR88B14F839L", "x");
    let r = judge(&xml);
    assert!(r.issues.iter().any(|i| i.rule == "xsd.pattern" && i.path.ends_with("/codicefiscale")), "{:?}", r.issues);
}

#[test]
fn given_a_value_with_quotes_the_whole_value_should_be_redacted() {
    let xml = std::fs::read_to_string(shared().join("formats/examples/candidatura-901.xml")).expect("read").replace("g.esposito@example.it", "mario.o'brien@example..com");
    let r = judge(&xml);
    let i = r.issues.iter().find(|i| i.rule == "xsd.pattern").expect("pattern issue");
    assert!(!i.message.contains("brien") && i.message.contains("<redacted>"), "{i:?}");
}

#[test]
fn given_hostile_nesting_the_reader_should_refuse_it_without_crashing() {
    let deep = format!("{}{}", "<a>".repeat(100_000), "</a>".repeat(100_000));
    let (rec, issues) = read::read_document(deep.as_bytes(), prov());
    assert!(rec.is_none());
    assert_eq!(issues[0].rule, "xml.malformed");
}

#[test]
fn given_errors_in_two_same_named_elements_each_should_get_its_own_path() {
    let xml = std::fs::read_to_string(shared().join("formats/examples/candidatura-901.xml")).expect("read");
    let Some(silgate_core::Record::Cv(mut c)) = judge(&xml).record else { panic!("cv") };
    c.system.intermediary.cap = Some("123".into());
    c.worker.domicile.cap = Some("456".into());
    let (_, issues) = emit(&silgate_core::Record::Cv(c), CodeTables::embedded(), TODAY, xsd()).expect("validator");
    let paths: Vec<&str> = issues.iter().filter(|i| i.rule == "xsd.pattern").map(|i| i.path.as_str()).collect();
    assert_eq!(paths, ["/Candidatura/Lavoratore/Domicilio/cap", "/Candidatura/DatiSistema/cap"], "{issues:?}");
}
