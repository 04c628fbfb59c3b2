//! Tests of the date and timestamp forms.
use super::*;

#[test]
fn given_timestamps_should_round_trip_their_text() {
    for t in ["2026-11-20T10:15:00", "2026-11-20T10:15:00Z", "2026-11-20T10:15:00.5+01:00", "1999-01-02T03:04:05.123456789-05:30"] {
        let ts: Timestamp = t.parse().expect(t);
        assert_eq!(ts.to_string(), t);
    }
}

#[test]
fn given_impossible_dates_should_be_rejected() {
    for t in ["2026-02-30", "2026-13-01", "26-01-01", "2026-1-01", "", "2026-01-01Z"] {
        assert!(parse_date(t).is_err(), "{t}");
    }
    assert!("2026-11-20T25:00:00".parse::<Timestamp>().is_err());
    assert!("2026-11-20 10:00:00".parse::<Timestamp>().is_err());
}

#[test]
fn given_a_bad_date_the_error_should_not_echo_its_digits() {
    let e = parse_date("1988-02-31").expect_err("no such day").to_string();
    assert!(!e.contains("1988"), "{e}");
}
