//! Codice fiscale tests, including omocodia and historical birthplaces.
use super::*;
use proptest::prelude::*;
use time::macros::date;

fn personal(cf: &str) -> Decoded {
    match check(cf) {
        Ok(Checked::Personal(d)) => d,
        other => panic!("{cf}: {other:?}"),
    }
}

#[test]
fn given_the_example_codes_should_decode_them() {
    let d = personal("SPSGNR88B14F839L");
    assert_eq!((d.year2, d.month, d.day, d.sex, d.birthplace.as_str(), d.omocodia), (88, Month::February, 14, Sex::M, "F839", false));
    assert!(coherence(&d, Some(date!(1988 - 02 - 14)), Some(Sex::M), Some("F839")).is_empty());
    let d = personal("RSSGLI95P49C352Z");
    assert_eq!((d.month, d.day, d.sex), (Month::September, 9, Sex::F));
}

#[test]
fn given_an_omocode_should_undo_the_substitution() {
    // RSSMRA85T10A562S with its last digit position (15th char '2') replaced by 'N',
    // then the check character recomputed: the canonical omocodia example.
    let base = "RSSMRA85T10A562";
    let omo = "RSSMRA85T10A56N";
    let cf = format!("{omo}{}", check_char(omo.as_bytes()).expect("chars"));
    let d = personal(&cf);
    assert!(d.omocodia);
    assert_eq!(d.birthplace, "A562");
    assert!(coherence(&d, Some(date!(1985 - 12 - 10)), Some(Sex::M), Some("A562")).is_empty());
    let plain = format!("{base}{}", check_char(base.as_bytes()).expect("chars"));
    assert!(!personal(&plain).omocodia);
    // All seven positions substituted: 85 -> UR, 10 -> ML, 562 -> RSN.
    let all = "RSSMRAURTMLARSN";
    let cf = format!("{all}{}", check_char(all.as_bytes()).expect("chars"));
    let d = personal(&cf);
    assert_eq!((d.year2, d.day, d.birthplace.as_str()), (85, 10, "A562"));
}

#[test]
fn given_wrong_data_should_name_each_mismatch() {
    let d = personal("SPSGNR88B14F839L");
    let m = coherence(&d, Some(date!(1988 - 02 - 15)), Some(Sex::F), Some("B963"));
    assert_eq!(m, vec![Mismatch::BirthDate, Mismatch::Sex, Mismatch::Birthplace]);
    // A birth a century earlier has the same two digits: the code cannot tell them apart.
    assert!(coherence(&d, Some(date!(1888 - 02 - 14)), None, None).is_empty());
}

#[test]
fn given_malformed_codes_should_say_why() {
    assert_eq!(check("SPSGNR88B14F839"), Err(CfError::Length(15)));
    assert_eq!(check("SPSGNR88B14F839M"), Err(CfError::Checksum { expected: 'L' }));
    assert_eq!(check("SPSGNR88B14F83AL"), Err(CfError::Format { position: 15 }));
    assert_eq!(check("spsgnr88b14f839l"), Err(CfError::Format { position: 1 }));
    let bad_month = "SPSGNR88Z14F839";
    let cf = format!("{bad_month}{}", check_char(bad_month.as_bytes()).expect("chars"));
    assert_eq!(check(&cf), Err(CfError::Month));
    let bad_day = "SPSGNR88B34F839";
    let cf = format!("{bad_day}{}", check_char(bad_day.as_bytes()).expect("chars"));
    assert_eq!(check(&cf), Err(CfError::Day));
    assert_eq!(check("06363391001"), Ok(Checked::Numeric));
    assert_eq!(check("06363391002"), Err(CfError::NumericChecksum));
}

#[test]
fn given_a_birthplace_suppressed_before_the_birth_the_table_should_say_so() {
    // Cecoslovacchia (Z105) ceased on 1993-01-01: a code built with it is well-formed,
    // and the validator checks the place against the birth date through the table.
    let t = crate::CodeTables::embedded();
    let body = "NVKJNA95A01Z105";
    let cf = format!("{body}{}", check_char(body.as_bytes()).expect("chars"));
    let d = personal(&cf);
    assert!(matches!(t.belfiore.check(&d.birthplace, Some(date!(1995 - 01 - 01))), crate::belfiore::PlaceCheck::NotValidAt { .. }));
    assert!(matches!(t.belfiore.check(&d.birthplace, Some(date!(1975 - 01 - 01))), crate::belfiore::PlaceCheck::Valid(_)));
}

proptest! {
    #[test]
    fn any_well_formed_body_with_its_check_char_decodes(
        name in "[A-Z]{6}", y in 0u8..100, m in 0usize..12, day in 1u8..=28, female: bool,
        place in "[A-Z][0-9]{3}", omo in proptest::collection::vec(any::<bool>(), 7),
    ) {
        let dd = if female { day + 40 } else { day };
        let mut body = format!("{name}{y:02}{}{dd:02}{place}", char::from(MONTHS[m])).into_bytes();
        for (k, &pos) in OMOCODIA_POSITIONS.iter().enumerate() {
            if omo[k] && body[pos].is_ascii_digit() {
                body[pos] = OMOCODIA_LETTERS[usize::from(body[pos] - b'0')];
            }
        }
        let body = String::from_utf8(body).expect("ascii");
        let cf = format!("{body}{}", check_char(body.as_bytes()).expect("chars"));
        let d = personal(&cf);
        prop_assert_eq!(d.year2, y);
        prop_assert_eq!(d.day, day);
        prop_assert_eq!(d.sex, if female { Sex::F } else { Sex::M });
        prop_assert_eq!(d.birthplace, place);
        prop_assert_eq!(usize::from(u8::from(d.month)) - 1, m);
    }
}
