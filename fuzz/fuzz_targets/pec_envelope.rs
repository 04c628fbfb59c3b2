//! Fuzz target: a received message on arbitrary bytes: MIME parsing, classification by
//! headers, the S/MIME check, daticert.xml, and (when it is a well-formed message) the
//! dispatch of its attachments. It must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use silgate_core::Source;
use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::sync::{Arc, OnceLock};

fn config() -> Arc<silgate_source_pec::PecConfig> {
    static C: OnceLock<Arc<silgate_source_pec::PecConfig>> = OnceLock::new();
    C.get_or_init(|| {
        // Any certificate will do: nothing the fuzzer makes is signed by it.
        let pem = include_bytes!("../../tests/fixtures/peers/fuzz-provider.pem");
        let trust = silgate_source_pec::Trust::from_pems(&[pem.to_vec()]).expect("fuzz provider certificate");
        let senders = BTreeMap::from([("cpi@pec.example.it".to_string(), "CPI160601".to_string())]);
        Arc::new(silgate_source_pec::PecConfig::new(trust, senders))
    })
    .clone()
}

fuzz_target!(|data: &[u8]| {
    if let Some(msg) = mail_parser::MessageParser::default().parse(data) {
        let _ = silgate_source_pec::envelope::classify(&msg);
    }
    let _ = silgate_source_pec::daticert::parse(data);
    let mut m = silgate_source_pec::PecMessage::new(data.to_vec(), "fuzz", config());
    let _ = m.read(&mut |_| ControlFlow::Continue(()));
});
