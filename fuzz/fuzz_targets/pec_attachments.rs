//! Fuzz target: the original message a CPI sent (`postacert.eml`) and its attachments:
//! MIME, zips (nested, with their limits), SIL Plus / Access / Sintesi / national XML
//! dispatch. The envelope target cannot reach this without a valid signature; this
//! target starts where verification ends. It must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use silgate_core::ReadSummary;
use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::sync::OnceLock;

fn config() -> &'static silgate_source_pec::PecConfig {
    static C: OnceLock<silgate_source_pec::PecConfig> = OnceLock::new();
    C.get_or_init(|| {
        let pem = include_bytes!("../../tests/fixtures/peers/fuzz-provider.pem");
        let trust = silgate_source_pec::Trust::from_pems(&[pem.to_vec()]).expect("fuzz provider certificate");
        let senders = BTreeMap::from([("cpi@pec.example.it".to_string(), "CPI160601".to_string())]);
        silgate_source_pec::PecConfig::new(trust, senders)
    })
}

fuzz_target!(|data: &[u8]| {
    let mut sum = ReadSummary::default();
    let _ = silgate_source_pec::dispatch::attachments(data, "fuzz", "CPI160601", config(), &mut sum, &mut |_| ControlFlow::Continue(()));
});
