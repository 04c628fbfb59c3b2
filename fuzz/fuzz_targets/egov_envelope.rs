//! Fuzz target: the SOAP/eGov envelope parsers (the node reads requests from the
//! network, the gateway reads the node's answers) must never panic, and a request they
//! accept must rebuild to one that parses to the same header, action and document.
#![no_main]

use libfuzzer_sys::fuzz_target;
use silgate_std1546::egov;

fuzz_target!(|data: &[u8]| {
    let _ = egov::parse_response(data);
    for require_header in [true, false] {
        if let Ok(req) = egov::parse_request(data, "ClicLavoro", require_header) {
            let again = egov::request(req.header.as_ref(), req.action, &req.document);
            let back = egov::parse_request(again.as_bytes(), "ClicLavoro", require_header).expect("a rebuilt request parses");
            assert_eq!(back.action, req.action);
            assert_eq!(back.document, req.document);
            assert_eq!(back.header.map(|h| h.message_id), req.header.map(|h| h.message_id));
        }
    }
});
