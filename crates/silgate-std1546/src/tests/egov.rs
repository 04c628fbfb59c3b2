//! The eGov envelope: builders and parsers agree, the national profile's refusals carry
//! their codes, and the fixtures under `tests/fixtures/egov/` (the fuzzer's seeds) are
//! exactly what the builders make (`SILGATE_BLESS=1` rewrites them).

use crate::egov::{self, Action, Header};
use proptest::prelude::*;

fn header(id: &str) -> Header {
    Header {
        sender: "PUGLIA".into(),
        receiver: egov::NATIONAL.into(),
        service: "ClicLavoro".into(),
        action: "invioVacancy".into(),
        message_id: id.into(),
        registered_at: "2026-11-24T10:15:00".into(),
        inoltro: Some(egov::AT_MOST_ONCE.into()),
        conferma: Some("false".into()),
        ..Header::default()
    }
}

const ID: &str = "PUGLIA_PUGLIASPCoopIT_0000042_2026-11-24_10:15";

#[test]
fn given_a_built_request_the_parser_should_return_it() {
    let doc = "<Vacancy xmlns=\"x\">a & b < c ' \" é</Vacancy>";
    let xml = egov::request(Some(&header(ID)), Action::Vacancy, doc);
    let r = egov::parse_request(xml.as_bytes(), "ClicLavoro", true).unwrap();
    assert_eq!(r.action, Action::Vacancy);
    assert_eq!(r.document, doc);
    assert_eq!(r.header.unwrap().message_id, ID);
}

/// Spoils one header field.
type Spoil = fn(&mut Header);

#[test]
fn given_profile_violations_the_parser_should_name_the_egov_code() {
    let cases: [(&str, Spoil); 5] = [
        ("EGOV_IT_102", |h| h.receiver = "LAZIO".into()),
        ("EGOV_IT_105", |h| h.service = "Altro".into()),
        ("EGOV_IT_106", |h| h.action = "invioCandidatura".into()),
        ("EGOV_IT_110", |h| h.message_id = "PUGLIA_1".into()),
        ("EGOV_IT_113", |h| h.inoltro = Some("EGOV_IT_PIUDIUNAVOLTA".into())),
    ];
    for (code, spoil) in cases {
        let mut h = header(ID);
        spoil(&mut h);
        let xml = egov::request(Some(&h), Action::Vacancy, "<Vacancy/>");
        let e = egov::parse_request(xml.as_bytes(), "ClicLavoro", true).unwrap_err();
        assert_eq!(e.code, code, "{e}");
        assert_eq!(e.fault, "Client");
    }
    let plain = egov::request(None, Action::Vacancy, "<Vacancy/>");
    assert_eq!(egov::parse_request(plain.as_bytes(), "ClicLavoro", true).unwrap_err().code, "EGOV_IT_002");
    assert!(egov::parse_request(plain.as_bytes(), "ClicLavoro", false).is_ok());
    assert_eq!(egov::parse_request(b"<not-soap/>", "ClicLavoro", true).unwrap_err().code, "EGOV_IT_001");
    assert_eq!(egov::parse_request(b"\xff\xfe", "ClicLavoro", true).unwrap_err().code, "EGOV_IT_001");
}

#[test]
fn given_message_ids_the_shape_check_should_follow_egov_md() {
    assert_eq!(egov::message_id("PUGLIA", 42, "2026-11-24T10:15:00").as_deref(), Some(ID));
    assert!(egov::is_message_id(ID));
    assert!(!egov::is_message_id("PUGLIA_LAZIOSPCoopIT_0000042_2026-11-24_10:15"));
    assert!(!egov::is_message_id("PUGLIA_PUGLIASPCoopIT_42_2026-11-24_10:15"));
    assert_eq!(egov::message_id("PUG-LIA", 1, "2026-11-24T10:15:00"), None);
    assert_eq!(egov::message_id("PUGLIA", 10_000_000, "2026-11-24T10:15:00"), None);
}

#[test]
fn given_answers_the_response_parser_should_read_ok_ko_and_faults() {
    let ok = egov::response(Some(&header("NAZIONALE_NAZIONALESPCoopIT_0000001_2026-11-24_10:15")), Action::Vacancy, true, "r");
    let r = egov::parse_response(ok.as_bytes()).unwrap();
    assert_eq!((r.ok, r.header.unwrap().message_id.as_str()), (Some(true), "NAZIONALE_NAZIONALESPCoopIT_0000001_2026-11-24_10:15"));
    let ko = egov::response(None, Action::Candidatura, false, "documento rifiutato: cf.checksum");
    assert_eq!(egov::parse_response(ko.as_bytes()).unwrap().ok, Some(false));
    let f = egov::fault(None, "Server", "EGOV_IT_300", "processing error");
    assert_eq!(egov::parse_response(f.as_bytes()).unwrap().fault.unwrap().0, "Server");
}

fn fixture_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/egov")
}

#[test]
fn given_the_fixtures_they_should_be_what_the_builders_make() {
    let doc = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/formats/examples/vacancy-903.xml")).unwrap();
    let doc = doc.as_str();
    let files = [
        ("request-egov.xml", egov::request(Some(&header(ID)), Action::Vacancy, doc)),
        ("request-plain.xml", egov::request(None, Action::Vacancy, doc)),
        (
            "response-ok.xml",
            egov::response(Some(&header("NAZIONALE_NAZIONALESPCoopIT_0000001_2026-11-24_10:15")), Action::Vacancy, true, "NAZIONALE_NAZIONALESPCoopIT_0000001_2026-11-24_10:15"),
        ),
        ("response-ko.xml", egov::response(None, Action::Vacancy, false, "documento rifiutato: ateco.unknown")),
        ("fault-client.xml", egov::fault(None, "Client", "EGOV_IT_106", "Azione does not match")),
    ];
    let bless = std::env::var_os("SILGATE_BLESS").is_some();
    for (name, built) in files {
        let path = fixture_dir().join(name);
        if bless {
            std::fs::write(&path, &built).unwrap();
        }
        assert_eq!(std::fs::read_to_string(&path).unwrap(), built, "{name} differs from what the builder makes (SILGATE_BLESS=1 rewrites it)");
    }
}

proptest! {
    #[test]
    fn any_document_text_should_survive_the_envelope(doc in "\\\\PC{0,200}", n in 1u64..9_999_999) {
        let id = egov::message_id("SICILIA", n, "2026-11-24T10:15:00").unwrap();
        let mut h = header(&id);
        h.sender = "SICILIA".into();
        h.action = "invioCandidatura".into();
        let xml = egov::request(Some(&h), Action::Candidatura, &doc);
        let r = egov::parse_request(xml.as_bytes(), "ClicLavoro", true).unwrap();
        // XML 1.0 normalises CR and CRLF to LF in content.
        prop_assert_eq!(r.document, doc.replace("\r\n", "\n").replace('\r', "\n"));
        prop_assert_eq!(r.header.unwrap().message_id, id);
    }
}
