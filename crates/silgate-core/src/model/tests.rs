//! Tests of the canonical JSON form.
use super::*;

const CV: &str = r#"{"kind":"cv","worker":{"fiscal_code":"SPSGNR88B14F839L","surname":"Esposito","name":"Gennaro","sex":"M","birth_date":"1988-02-14","birthplace":"F839","citizenship":"000","domicile":{"comune":"B963","cap":"81100"},"contacts":{"email":"g@example.it"}},"desired":[{"profession":"5.1.2.2.0.1","title":"Addetta alle vendite"}],"system":{"diffusion":"national","inserted_at":"2026-11-20T10:15:00","intermediary":{"id":"CPIPA01"}}}"#;

#[test]
fn given_minimal_canonical_json_should_parse_and_reserialize_identically() {
    let r: Record = serde_json::from_str(CV).expect("parse");
    assert_eq!(r.kind(), RecordKind::Cv);
    assert_eq!(r.business_key(), "cv:SPSGNR88B14F839L:CPIPA01");
    let back: Record = serde_json::from_str(&serde_json::to_string(&r).expect("ser")).expect("reparse");
    assert_eq!(r, back);
}

#[test]
fn given_an_unknown_field_should_be_refused() {
    let bad = CV.replace("\"sex\":\"M\"", "\"sex\":\"M\",\"gender\":\"x\"");
    let err = serde_json::from_str::<Record>(&bad).expect_err("unknown field");
    assert!(err.to_string().contains("gender"), "{err}");
}
