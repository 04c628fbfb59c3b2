//! Tests of the embedded tables and lookups.
use super::*;
use crate::belfiore::PlaceCheck;
use time::macros::date;

#[test]
fn given_the_embedded_tables_should_parse() {
    let t = CodeTables::load(&|_| None).expect("embedded tables parse");
    assert!(t.belfiore.len() > 9000, "comuni and states: {}", t.belfiore.len());
    assert_eq!(t.ateco.len(), 1246);
    assert!(t.belfiore.info.complete && t.ateco.info.complete);
    for (name, info) in t.infos() {
        assert!(!info.source.is_empty() && !info.licence.is_empty(), "{name:?}");
        if !info.complete {
            assert!(info.incomplete_because.as_deref().is_some_and(|w| !w.is_empty()), "{name:?} says why");
        }
    }
}

#[test]
fn given_historical_comuni_should_check_them_at_the_date() {
    let t = CodeTables::embedded();
    // Abano (PD) became Abano Terme in 1924: same code, both periods valid.
    assert!(matches!(t.belfiore.check("A001", Some(date!(1900 - 01 - 01))), PlaceCheck::Valid(p) if p.name == "Abano"));
    assert!(matches!(t.belfiore.check("A001", Some(date!(2000 - 01 - 01))), PlaceCheck::Valid(p) if p.name == "Abano Terme"));
    // Cecoslovacchia (Z105) ceased on 1993-01-01.
    assert!(matches!(t.belfiore.check("Z105", Some(date!(1980 - 05 - 05))), PlaceCheck::Valid(_)));
    assert!(matches!(t.belfiore.check("Z105", Some(date!(2000 - 05 - 05))), PlaceCheck::NotValidAt { .. }));
    assert_eq!(t.belfiore.check("Z999", None), PlaceCheck::Unknown);
    assert_eq!(t.belfiore.check("f839", None), PlaceCheck::BadFormat);
    assert_eq!(t.belfiore.check("0000", None), PlaceCheck::Unspecified);
}

#[test]
fn given_codes_should_classify_by_table_completeness() {
    let t = CodeTables::embedded();
    assert_eq!(t.check_ateco("52.29.10"), CodeCheck::Known);
    assert_eq!(t.check_ateco("52.29.99"), CodeCheck::Unknown);
    assert_eq!(t.check_ateco("522910"), CodeCheck::BadFormat);
    assert_eq!(t.check_profession("5.1.2.2.0.1"), CodeCheck::NotInIncompleteTable);
    assert_eq!(t.check_profession("0.1.2.2.0.1"), CodeCheck::Unknown);
    assert_eq!(t.check_profession("5.1.2.2.0"), CodeCheck::BadFormat);
    assert_eq!(t.check_lingua("ENG"), CodeCheck::Known);
    assert_eq!(t.check_lingua("002"), CodeCheck::NotInIncompleteTable);
    assert_eq!(t.check_lingua("en"), CodeCheck::BadFormat);
    assert_eq!(t.check_cittadinanza("000"), CodeCheck::Known);
    assert_eq!(t.check_titolo("40"), CodeCheck::Known);
    assert_eq!(t.check_contract("A02"), CodeCheck::Known);
    assert_eq!(t.check_contract("Z99"), CodeCheck::NotInIncompleteTable);
    assert_eq!(t.contratti.clic_from_co("A.02.00").as_deref(), Some("A02"));
    assert_eq!(t.contratti.clic_from_co("B.07.00").as_deref(), Some("B07"));
    assert_eq!(t.contratti.clic_from_co("A02"), None);
}

#[test]
fn given_a_region_override_should_use_its_table() {
    let mine = "# table: t\n# source: region\n# licence: none\n# complete: yes\ncode\ttitle\tsource\n01\tB\tregion\n";
    let t = CodeTables::load(&|n| (n == TableName::Patenti).then(|| mine.to_string())).expect("override");
    assert_eq!(t.check_patente("01"), CodeCheck::Known);
    assert_eq!(t.check_patente("02"), CodeCheck::Unknown);
}
