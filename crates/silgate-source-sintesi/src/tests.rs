//! Unit tests of the Sintesi reader: shapes, rejections, the watermark, malformed XML.
#![allow(clippy::unwrap_used)]

use crate::Sintesi;
use silgate_core::source::SourceItem;
use silgate_core::{Record, Source};
use std::ops::ControlFlow;

const WORKER: &str = r#"<Lavoratore id="7" ultimaModifica="2026-10-01T09:00:00" stato="attivo">
 <CodiceFiscale>SPSGNR88B14F839L</CodiceFiscale><Cognome>Esposito</Cognome><Nome>Gennaro</Nome><Sesso>M</Sesso>
 <DataNascita>1988-02-14</DataNascita><ComuneNascita codice="F839">Napoli</ComuneNascita><Cittadinanza codice="000"/>
 <Domicilio comune="A662" cap="70121">Via Sparano 1</Domicilio><Email>g@example.it</Email>
 <Lingue><Lingua codice="ENG" lettura="B2" scrittura="B1" parlato="B2"/></Lingue>
 <Disponibilita><Professione codice="5.1.2.2.0.1" orario="FT" contratto="A.02.00">Addetto alle vendite</Professione></Disponibilita>
</Lavoratore>"#;

fn feed(body: &str) -> String {
    format!(r#"<?xml version="1.0"?><SintesiExport xmlns="urn:silgate:sintesi:export:1" provincia="BA" cpi="CPI072006" generato="2026-11-24T10:00:00">{body}</SintesiExport>"#)
}

fn read(xml: &str) -> (Vec<SourceItem>, Result<silgate_core::ReadSummary, silgate_core::SourceError>) {
    let mut out = Vec::new();
    let r = Sintesi::new(xml.as_bytes(), "feed.xml").read(&mut |i| {
        out.push(i);
        ControlFlow::Continue(())
    });
    (out, r)
}

#[test]
fn given_a_worker_it_should_map_every_part_and_carry_the_cpi() {
    let (items, r) = read(&feed(WORKER));
    let sum = r.unwrap();
    assert_eq!(sum.records, 1);
    assert_eq!(sum.watermark.as_deref(), Some("2026-10-01T09:00:00"));
    let SourceItem::Record(rec) = &items[0] else { panic!("{items:?}") };
    let Record::Cv(cv) = &**rec else { panic!() };
    assert_eq!(cv.provenance.cpi, "CPI072006");
    assert_eq!(cv.provenance.position.to_string(), "/SintesiExport/Lavoratore[1]");
    assert_eq!(cv.desired[0].contract_types, vec!["A02".to_string()]);
    assert_eq!(cv.languages[0].language, "ENG");
}

#[test]
fn given_a_wrong_element_the_record_should_be_rejected_naming_it_and_the_feed_go_on() {
    let bad = WORKER.replace("<Email>", "<Soprannome>x</Soprannome><Email>");
    let (items, r) = read(&feed(&format!("{bad}{WORKER}<Pippo/>")));
    assert_eq!(r.unwrap().records, 1);
    let SourceItem::Rejected(rej) = &items[0] else { panic!("{items:?}") };
    assert_eq!(rej.issues[0].rule, "sintesi.element");
    assert_eq!(rej.issues[0].path, "/SintesiExport/Lavoratore[1]/Soprannome[1]");
    assert_eq!(rej.issues[0].source_field.as_deref(), Some("/SintesiExport/Lavoratore[1]/Soprannome[1]"), "the feed's own path names the source");
    assert!(matches!(&items[2], SourceItem::Rejected(r) if r.issues[0].rule == "sintesi.element"));
}

#[test]
fn given_a_closed_worker_it_should_become_a_closure() {
    let (items, _) = read(&feed(&WORKER.replace("stato=\"attivo\"", "stato=\"chiuso\"")));
    let SourceItem::Record(rec) = &items[0] else { panic!("{items:?}") };
    assert_eq!(rec.communication().kind, silgate_core::CommunicationKind::Closure);
    assert_eq!(rec.communication().closure_reason.as_deref(), Some("01"));
}

#[test]
fn given_malformed_xml_the_feed_should_stop_with_an_error_after_what_came_before() {
    let (items, r) = read(&feed(&format!("{WORKER}<Lavoratore id=\"8\"><Nome>x</Cognome></Lavoratore>")));
    assert_eq!(items.len(), 1);
    assert!(r.unwrap_err().to_string().contains("well-formed"));
    let (_, r) = read("<Altro xmlns=\"urn:x\"/>");
    assert!(r.unwrap_err().to_string().contains("not a Sintesi export"));
}

#[test]
fn given_a_huge_record_it_should_be_rejected_without_holding_it() {
    let big = WORKER.replace("<Email>", &format!("<Note>{}</Note><Email>", "x".repeat(crate::MAX_RECORD_BYTES + 10)));
    let (items, r) = read(&feed(&format!("{big}{WORKER}")));
    assert_eq!(r.unwrap().records, 1);
    assert!(matches!(&items[0], SourceItem::Rejected(r) if r.issues[0].rule == "sintesi.size"));
}

#[test]
fn given_a_feed_cut_after_a_record_or_with_content_after_the_root_it_should_be_an_error() {
    let cut = feed(WORKER).replace("</SintesiExport>", "");
    let (items, r) = read(&cut);
    assert_eq!(items.len(), 1, "what came before the cut is read");
    assert!(r.unwrap_err().to_string().contains("truncated"));
    let (_, r) = read(&format!("{}<Lavoratore/>", feed(WORKER)));
    assert!(r.unwrap_err().to_string().contains("after </SintesiExport>"));
    // The root must itself be in the namespace.
    let (_, r) = read(r#"<SintesiExport xmlns:s="urn:silgate:sintesi:export:1"/>"#);
    assert!(r.unwrap_err().to_string().contains("not a Sintesi export"));
    let (_, r) = read(r#"<s:SintesiExport xmlns:s="urn:silgate:sintesi:export:1"></s:SintesiExport>"#);
    assert_eq!(r.unwrap().records, 0);
}

/// An endless input: `head`, then `fill` for ever.
struct Endless {
    head: &'static [u8],
    fill: u8,
    at: u64,
}

impl std::io::Read for Endless {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        for (i, b) in out.iter_mut().enumerate() {
            let at = usize::try_from(self.at).unwrap() + i;
            *b = self.head.get(at).copied().unwrap_or(self.fill);
        }
        self.at += out.len() as u64;
        Ok(out.len())
    }
}

#[test]
fn given_an_endless_text_node_comment_cdata_or_attribute_the_reader_should_stop_without_holding_it() {
    // A text node, and markup that never ends although full of `<` (which a guard that
    // reset at every `<` let through, buffered whole).
    for (head, fill) in [
        (&b"<SintesiExport xmlns=\"urn:silgate:sintesi:export:1\" cpi=\"C\"><Lavoratore><Note>"[..], b'x'),
        (&b"<SintesiExport xmlns=\"urn:silgate:sintesi:export:1\" cpi=\"C\"><!--"[..], b'<'),
        (&b"<SintesiExport xmlns=\"urn:silgate:sintesi:export:1\" cpi=\"C\"><Lavoratore><Note><![CDATA["[..], b'<'),
        (&b"<SintesiExport xmlns=\"urn:silgate:sintesi:export:1\" cpi=\"C\"><Lavoratore id=\""[..], b'>'),
    ] {
        let mut feed = Sintesi::new(std::io::BufReader::new(Endless { head, fill, at: 0 }), "endless").with_max_event_bytes(4 << 20);
        let e = feed.read(&mut |_| ControlFlow::Continue(())).unwrap_err();
        assert_eq!(e.as_code(), "limit.xml_event_bytes", "{}: {e}", String::from_utf8_lossy(head));
        assert!(e.to_string().contains("longer than 4 MiB"), "{e}");
    }
}

/// Every (canonical field, source) noted of `rec` holds a value in the record.
fn fields_hold_values(rec: &Record) -> silgate_core::FieldMap {
    let Some(map) = rec.provenance().fields.mapped_fields() else { panic!("no field map") };
    let json = serde_json::to_value(rec).unwrap();
    for (pointer, source) in map.iter() {
        assert!(json.pointer(&pointer).is_some_and(|v| !v.is_null()), "{pointer} (from {source}) holds nothing in the record");
    }
    map.clone()
}

#[test]
fn given_records_with_every_part_each_field_should_name_its_element_or_attribute() {
    let worker = WORKER.replace(
        "<Lingue>",
        r#"<Telefono>080</Telefono><Esperienze><Esperienza dal="2020-01-01" al="2020-12-31" contratto="A.02.00" qualifica="51220"><Datore>Rossi</Datore><Mansioni>vendita</Mansioni></Esperienza><Esperienza qualifica="5.1.2.2.0"/></Esperienze><Titoli><Titolo livello="30">Diploma</Titolo></Titoli><Patenti><Patente codice="B"/></Patenti><Lingue>"#,
    );
    let vacancy = r#"<Richiesta id="R9" ultimaModifica="2026-10-01T09:00:00" stato="aperta"><Azienda cf="01234567890" ateco="47.11.10" comune="A662" cap="70121"><RagioneSociale>Rossi</RagioneSociale><Indirizzo>Via Roma 1</Indirizzo><Email>r@example.it</Email></Azienda><Posti>2</Posti><Professione codice="5.1.2.2.0">Commesso</Professione><Descrizione>Vendita</Descrizione><SedeLavoro comune="A662"/><Contratto codice="A.02.00"/><Orario>FT</Orario><Pubblicazione>2026-10-01T09:00:00</Pubblicazione><Scadenza>2026-12-31</Scadenza><Requisiti><Titolo livello="30">Diploma</Titolo><Lingua codice="ENG" lettura="B1"/><Patente codice="B"/><Esperienza>SI</Esperienza></Requisiti></Richiesta>"#;
    let (items, r) = read(&feed(&format!("{worker}{vacancy}")));
    r.unwrap();
    let [SourceItem::Record(cv), SourceItem::Record(v)] = &items[..] else { panic!("{items:?}") };
    let map = fields_hold_values(cv);
    assert_eq!(map.locate("/experiences/0/profession").as_deref(), Some("/SintesiExport/Lavoratore[1]/Esperienze/Esperienza[1]/@qualifica"));
    assert_eq!(map.locate("/experiences/1/start").as_deref(), Some("/SintesiExport/Lavoratore[1]/Esperienze/Esperienza[2]"), "an empty field names its element");
    assert_eq!(map.locate("/worker/birthplace").as_deref(), Some("/SintesiExport/Lavoratore[1]/ComuneNascita/@codice"));
    assert_eq!(map.locate("/licences/driving/0").as_deref(), Some("/SintesiExport/Lavoratore[1]/Patenti/Patente[1]/@codice"));
    assert_eq!(map.locate("/education/0/description").as_deref(), Some("/SintesiExport/Lavoratore[1]/Titoli/Titolo[1]"));
    // The worker and its 14 values; two jobs (6 values, 1); a title (2), a language (4),
    // a profession (4), each with its part; a licence, its code standing for its part.
    assert_eq!(map.iter().count(), 15 + 7 + 2 + 3 + 5 + 5 + 1, "every field and part of the worker");
    let map = fields_hold_values(v);
    assert_eq!(map.locate("/employer/sector").as_deref(), Some("/SintesiExport/Richiesta[1]/Azienda/@ateco"));
    assert_eq!(map.locate("/requirements/languages/0/reading").as_deref(), Some("/SintesiExport/Richiesta[1]/Requisiti/Lingua[1]/@lettura"));
    assert_eq!(map.locate("/requirements/driving_licences/0").as_deref(), Some("/SintesiExport/Richiesta[1]/Requisiti/Patente[1]/@codice"));
}
