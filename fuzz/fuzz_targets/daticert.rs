//! Fuzz target: `daticert.xml`, the provider's certification data inside a PEC envelope
//! (read only after the signature checks out, so the envelope target rarely reaches it
//! with structure). It must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = silgate_source_pec::daticert::parse(data);
});
