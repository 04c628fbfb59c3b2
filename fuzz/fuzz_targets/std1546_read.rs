//! Fuzz target: the 1546 XML reader must never panic on any input, and whatever it
//! accepts must survive write -> read unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use silgate_core::Provenance;
use silgate_std1546::{read, write};

fuzz_target!(|data: &[u8]| {
    let (record, issues) = read::read_document(data, Provenance::default());
    if let (Some(r), true) = (record, issues.is_empty()) {
        let xml = write::write_record(&r);
        let (again, _) = read::read_document(xml.as_bytes(), Provenance::default());
        assert_eq!(again.as_ref(), Some(&r));
    }
});
