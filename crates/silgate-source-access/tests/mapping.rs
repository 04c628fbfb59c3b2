//! The mapping path on real Access files: a mapping that points the worker table at a
//! real table reads its typed columns (text, byte, date, currency, boolean) through the
//! adapter; the rows are not CVs, so each comes out as a rejection that names the
//! physical table, column and rule.
#![allow(clippy::unwrap_used)]

use silgate_core::Source;
use silgate_core::source::SourceItem;
use silgate_source_tabular::{Limits, Mapping};
use std::ops::ControlFlow;
use std::path::PathBuf;

fn shared() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/access")
}

const MAPPING: &str = r#"
format_version = "test-common1"
[tables.LAVORATORI]
table = "Table1"
columns = { ID_LAV = "A", COD_FISC = "B", COGNOME = "A", NOME = "B", SESSO = "C", DT_NASC = "G", COM_NASC = "A", CITT = "D", COM_DOM = "A", EMAIL = "B", COD_CPI = "E", DT_ULT_MOD = "G", STATO = "I" }
"#;

#[test]
fn given_a_mapping_onto_real_tables_every_row_should_be_read_and_judged() {
    for file in ["common1V1997.mdb", "common1V2000.mdb", "common1V2010.accdb"] {
        let mapping = Mapping::parse("test", MAPPING).unwrap();
        let mut src = silgate_source_access::open(&shared().join(file), Some(mapping), Limits::default()).unwrap();
        let mut items = Vec::new();
        let sum = src
            .read(&mut |i| {
                items.push(i);
                ControlFlow::Continue(())
            })
            .unwrap();
        assert_eq!(sum.records + sum.rejected, 2, "{file}: {items:?}");
        for it in &items {
            let SourceItem::Rejected(r) = it else { panic!("{file}: a test row became a CV: {it:?}") };
            assert!(r.provenance.origin.ends_with("!Table1"), "{}", r.provenance.origin);
            let rules: Vec<(&str, &str)> = r.issues.iter().map(|i| (i.path.as_str(), i.rule.as_str())).collect();
            // Byte column C (2, 0) is no sex code; the Yes/No column I is no state code.
            assert!(rules.contains(&("Table1/C", "code.unknown")), "{file}: {rules:?}");
            assert!(rules.contains(&("Table1/I", "code.unknown")), "{file}: {rules:?}");
            // The DateTime column G reads as a date: no date error.
            assert!(!rules.iter().any(|(p, _)| *p == "Table1/G"), "{file}: {rules:?}");
        }
    }
}

#[test]
fn given_inputs_that_are_not_access_the_error_should_say_so() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("x.mdb");
    std::fs::write(&fake, b"this is not a Jet database at all, not even close to one").unwrap();
    let e = silgate_source_access::open(&fake, None, Limits::default()).unwrap_err();
    assert!(e.to_string().contains("not a readable Access"), "{e}");
    let zip = dir.path().join("x.zip");
    std::fs::write(&zip, b"PK\x03\x04garbage").unwrap();
    let e = silgate_source_access::open(&zip, None, Limits::default()).unwrap_err();
    assert!(e.to_string().contains("zip"), "{e}");
    let e = silgate_source_access::open(&dir.path().join("missing.mdb"), None, Limits::default()).unwrap_err();
    assert_eq!(e.as_code(), "source.io");
}
