//! Partita IVA tests.
use super::*;
use proptest::prelude::*;

#[test]
fn given_known_partite_iva_should_accept_them() {
    // The example vacancy's employer, and a well-known public one (Agenzia delle Entrate's 06363391001).
    assert_eq!(check("07654321095"), Ok(()));
    assert_eq!(check("06363391001"), Ok(()));
}

#[test]
fn given_a_changed_digit_should_reject_with_the_expected_digit() {
    assert_eq!(check("06363391002"), Err(PivaError::Checksum { expected: 1 }));
    assert_eq!(check("0636339100"), Err(PivaError::Format));
    assert_eq!(check("0636339100A"), Err(PivaError::Format));
}

proptest! {
    #[test]
    fn any_ten_digits_with_their_check_digit_pass(first in "[0-9]{10}") {
        let d = check_digit(first.as_bytes()).expect("digits");
        prop_assert_eq!(check(&format!("{first}{d}")), Ok(()));
        let wrong = (d + 1) % 10;
        let bad = format!("{first}{wrong}");
        prop_assert!(check(&bad).is_err());
    }
}
