//! Fuzz target: the Sintesi feed reader (quick-xml stream, record trees, mapping) on
//! arbitrary bytes. It must never panic, and never hold more than one record.
#![no_main]

use libfuzzer_sys::fuzz_target;
use silgate_core::Source;
use std::ops::ControlFlow;

fuzz_target!(|data: &[u8]| {
    let mut n = 0u64;
    let _ = silgate_source_sintesi::Sintesi::new(data, "fuzz").read(&mut |_| {
        n += 1;
        ControlFlow::Continue(())
    });
});
