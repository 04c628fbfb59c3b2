//! `daticert.xml`: the provider's certified data about a PEC message, read leniently
//! (quick-xml events; unknown elements ignored, missing ones left empty), as the PEC
//! technical rules (DM 2 novembre 2005) define it:
//!
//! ```text
//! postacert @tipo @errore
//!   intestazione: mittente, destinatari* @tipo, risposte, oggetto?
//!   dati: gestore-emittente, data @zona (giorno DD/MM/YYYY, ora HH:MM:SS),
//!         identificativo, msgid, ricevuta? @tipo, consegna?, ricezione*, errore-esteso?
//! ```

use quick_xml::Reader;
use quick_xml::events::Event;

/// The certified data of one PEC message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DatiCert {
    /// `postacert/@tipo`: `posta-certificata`, `accettazione`, `avvenuta-consegna`, ...
    pub tipo: String,
    /// `postacert/@errore`: `nessuno`, `no-dest`, `virus`, ...
    pub errore: String,
    /// The certified sender address.
    pub mittente: String,
    /// Recipients, with their `@tipo` (`certificato` / `esterno`).
    pub destinatari: Vec<(String, String)>,
    /// Reply-to address.
    pub risposte: String,
    /// Subject.
    pub oggetto: String,
    /// The provider that issued the certification.
    pub gestore: String,
    /// `data/giorno`, `DD/MM/YYYY`.
    pub giorno: String,
    /// `data/ora`, `HH:MM:SS`.
    pub ora: String,
    /// `data/@zona`, e.g. `+0100`.
    pub zona: String,
    /// The PEC message identifier given by the sender's provider.
    pub identificativo: String,
    /// The original message's Message-ID.
    pub msgid: String,
    /// `errore-esteso`, for error receipts.
    pub errore_esteso: String,
}

/// Why a `daticert.xml` cannot be read at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("daticert.xml: {0}")]
pub struct DatiCertError(pub String);

/// Reads `daticert.xml`. Unknown elements are ignored; an element in the wrong place
/// is read where it is found. It is an error only when the bytes are not XML, or the
/// root is not `postacert`.
pub fn parse(xml: &[u8]) -> Result<DatiCert, DatiCertError> {
    let mut r = Reader::from_reader(xml);
    r.config_mut().trim_text(true);
    let mut d = DatiCert::default();
    let mut path: Vec<String> = Vec::new();
    let mut buf = Vec::new();
    let mut dest_tipo = String::new();
    let mut seen_root = false;
    loop {
        buf.clear();
        let ev = r.read_event_into(&mut buf).map_err(|e| DatiCertError(format!("not XML at byte {}: {e}", r.error_position())))?;
        let empty = matches!(ev, Event::Empty(_));
        match ev {
            Event::Start(s) | Event::Empty(s) => {
                let name = s.local_name().as_ref().to_string();
                if path.is_empty() {
                    if name != "postacert" || seen_root {
                        return Err(DatiCertError(format!("the root is {name}, not postacert")));
                    }
                    seen_root = true;
                }
                for a in s.attributes().flatten() {
                    let v = a.normalized_value(quick_xml::XmlVersion::Implicit1_0).map(|v| v.trim().to_string()).unwrap_or_default();
                    match (name.as_str(), a.key.local_name().as_ref()) {
                        ("postacert", "tipo") => d.tipo = v,
                        ("postacert", "errore") => d.errore = v,
                        ("destinatari", "tipo") => dest_tipo = v,
                        ("data", "zona") => d.zona = v,
                        _ => {}
                    }
                }
                if name == "destinatari" {
                    d.destinatari.push((std::mem::take(&mut dest_tipo), String::new()));
                }
                if !empty {
                    path.push(name);
                }
            }
            Event::End(_) => {
                path.pop();
            }
            Event::Text(t) => {
                let text = t.xml10_content().trim().to_string();
                set(&mut d, &path, text);
            }
            Event::GeneralRef(g) => {
                let name = g.xml10_content().to_string();
                let c = match g.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    _ => quick_xml::escape::resolve_predefined_entity(&name).unwrap_or_default().to_string(),
                };
                set(&mut d, &path, c);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !seen_root {
        return Err(DatiCertError("no postacert element".into()));
    }
    Ok(d)
}

fn set(d: &mut DatiCert, path: &[String], text: String) {
    let Some(last) = path.last() else { return };
    let field = match last.as_str() {
        "mittente" => &mut d.mittente,
        "risposte" => &mut d.risposte,
        "oggetto" => &mut d.oggetto,
        "gestore-emittente" => &mut d.gestore,
        "giorno" => &mut d.giorno,
        "ora" => &mut d.ora,
        "identificativo" => &mut d.identificativo,
        "msgid" => &mut d.msgid,
        "errore-esteso" => &mut d.errore_esteso,
        "destinatari" => match d.destinatari.last_mut() {
            Some((_, addr)) => addr,
            None => return,
        },
        _ => return,
    };
    field.push_str(&text);
}
