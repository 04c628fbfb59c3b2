//! Fuzz target: canonical JSON parsing and the XML writer must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use silgate_core::Record;

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = serde_json::from_slice::<Record>(data) {
        let _ = silgate_std1546::write::write_record(&r);
    }
});
