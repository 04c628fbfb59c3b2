//! Fuzz target: the push API's JSON bodies as the gateway reads them
//! (`silgate_core::json`): a one-record body for each endpoint, then the same bytes as a
//! batch body with each item read on its own; every record taken is written as a 1546
//! document. None of it may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use silgate_core::RecordKind;
use silgate_core::json::{batch_items, parse_body, record_from_value};

fuzz_target!(|data: &[u8]| {
    for want in [None, Some(RecordKind::Cv), Some(RecordKind::Vacancy)] {
        if let Ok(r) = parse_body(data, want) {
            let _ = silgate_std1546::write::write_record(&r);
        }
    }
    if let Ok(items) = batch_items(data) {
        for item in items {
            if let Ok(r) = record_from_value(item) {
                let _ = silgate_std1546::write::write_record(&r);
            }
        }
    }
});
