//! Unit tests: daticert parsing, classification by headers, attachment names.
#![allow(clippy::unwrap_used)]

use crate::daticert;
use crate::envelope::{Class, classify};

const DATICERT: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<postacert tipo="posta-certificata" errore="nessuno">
  <intestazione>
    <mittente>cpi.cosenza@pec.example.it</mittente>
    <destinatari tipo="certificato">silgate@pec.regione.example.it</destinatari>
    <destinatari tipo="esterno">copia&amp;co@example.it</destinatari>
    <risposte>cpi.cosenza@pec.example.it</risposte>
    <oggetto>Export SIL</oggetto>
  </intestazione>
  <dati>
    <gestore-emittente>Provider PEC di prova</gestore-emittente>
    <data zona="+0100"><giorno>24/11/2026</giorno><ora>10:15:00</ora></data>
    <identificativo>opec210.20261124101500.12345.01.1.1@pec.example.it</identificativo>
    <msgid>&lt;abc@mail.example.it&gt;</msgid>
    <sconosciuto>ignored</sconosciuto>
  </dati>
</postacert>"#;

#[test]
fn given_a_daticert_every_field_should_be_read_and_unknown_ones_ignored() {
    let d = daticert::parse(DATICERT.as_bytes()).unwrap();
    assert_eq!((d.tipo.as_str(), d.errore.as_str()), ("posta-certificata", "nessuno"));
    assert_eq!(d.mittente, "cpi.cosenza@pec.example.it");
    assert_eq!(d.destinatari, vec![("certificato".to_string(), "silgate@pec.regione.example.it".to_string()), ("esterno".to_string(), "copia&co@example.it".to_string())]);
    assert_eq!((d.giorno.as_str(), d.ora.as_str(), d.zona.as_str()), ("24/11/2026", "10:15:00", "+0100"));
    assert_eq!(d.msgid, "<abc@mail.example.it>");
    assert!(d.identificativo.starts_with("opec210"));
    assert!(daticert::parse(b"not xml <<<").is_err());
    assert!(daticert::parse(b"<other/>").is_err());
}

fn headers(h: &str) -> Class {
    let raw = format!("{h}\r\nSubject: x\r\n\r\nbody\r\n");
    let msg = mail_parser::MessageParser::default().parse(raw.as_bytes()).unwrap();
    classify(&msg).unwrap()
}

#[test]
fn given_top_level_headers_the_class_should_follow_the_pec_rules() {
    assert_eq!(headers("X-Ricevuta: avvenuta-consegna\r\nX-Riferimento-Message-ID: <a@b>"), Class::Receipt("avvenuta-consegna".into()));
    assert_eq!(headers("X-Trasporto: posta-certificata"), Class::Transport);
    assert_eq!(headers("X-Trasporto: errore"), Class::Anomaly);
    // X-Riferimento-Message-ID alone says nothing.
    assert_eq!(headers("X-Riferimento-Message-ID: <a@b>"), Class::NotPec);
    assert_eq!(headers("From: someone@example.it"), Class::NotPec);
}
