//! One record's subtree, read from the event stream: the only part of the feed held in
//! memory at a time.

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};
use std::borrow::Cow;
use std::io::BufRead;

const MAX_DEPTH: usize = 16;

/// The element and attribute names of the format: names read from the feed are
/// matched against these and shared, not copied (the feed repeats them millions of
/// times); an unknown name is copied.
const NAMES: [&str; 54] = [
    "Lavoratore",
    "Richiesta",
    "CodiceFiscale",
    "Cognome",
    "Nome",
    "Sesso",
    "DataNascita",
    "ComuneNascita",
    "Cittadinanza",
    "Domicilio",
    "Email",
    "Cellulare",
    "Telefono",
    "Esperienze",
    "Esperienza",
    "Datore",
    "Mansioni",
    "Titoli",
    "Titolo",
    "Lingue",
    "Lingua",
    "Patenti",
    "Patente",
    "Disponibilita",
    "Professione",
    "Note",
    "Azienda",
    "RagioneSociale",
    "Indirizzo",
    "Posti",
    "Descrizione",
    "SedeLavoro",
    "Contratto",
    "Orario",
    "Pubblicazione",
    "Scadenza",
    "Requisiti",
    "id",
    "ultimaModifica",
    "stato",
    "codice",
    "comune",
    "cap",
    "dal",
    "al",
    "contratto",
    "qualifica",
    "livello",
    "lettura",
    "scrittura",
    "parlato",
    "orario",
    "cf",
    "ateco",
];

fn intern(name: &str) -> Cow<'static, str> {
    NAMES.iter().find(|n| **n == name).map_or_else(|| Cow::Owned(name.to_string()), |n| Cow::Borrowed(*n))
}

/// An element: local name, attributes, text, children.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct El {
    pub(crate) name: Cow<'static, str>,
    pub(crate) attrs: Vec<(Cow<'static, str>, String)>,
    pub(crate) text: String,
    pub(crate) kids: Vec<El>,
}

impl El {
    pub(crate) fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.iter().find(|(k, _)| k.as_ref() == name).map(|(_, v)| v.trim()).filter(|v| !v.is_empty())
    }

    pub(crate) fn child(&self, name: &str) -> Option<&El> {
        self.kids.iter().find(|k| k.name == name)
    }

    pub(crate) fn children<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a El> + 'a {
        self.kids.iter().filter(move |k| k.name == name)
    }

    /// Trimmed text; `None` when empty.
    pub(crate) fn value(&self) -> Option<String> {
        let t = self.text.trim();
        (!t.is_empty()).then(|| t.to_string())
    }
}

fn start(s: &BytesStart<'_>) -> Result<El, String> {
    let mut attrs = Vec::new();
    for a in s.attributes() {
        let a = a.map_err(|e| format!("malformed attribute: {e}"))?;
        if a.key.as_namespace_binding().is_some() {
            continue;
        }
        let v = a.normalized_value(quick_xml::XmlVersion::Implicit1_0).map_err(|e| format!("malformed attribute value: {e}"))?;
        attrs.push((intern(a.key.local_name().as_ref()), v.into_owned()));
    }
    Ok(El { name: intern(s.local_name().as_ref()), attrs, text: String::new(), kids: Vec::new() })
}

/// Reads the element opened by `first` up to its end tag. `Err`: the XML is malformed
/// (the feed cannot go on). `Ok(Err)`: the record is too large or too deep; it was read
/// past (not kept) and is reported as a rejection.
pub(crate) fn read_element<R: BufRead>(reader: &mut Reader<R>, first: &BytesStart<'_>, buf: &mut Vec<u8>) -> Result<Result<El, String>, String> {
    let mut stack = vec![start(first)?];
    let mut size = 0usize;
    let mut skipping: Option<String> = None;
    let mut deeper = 0usize;
    loop {
        buf.clear();
        let ev = reader.read_event_into(buf).map_err(|e| format!("not well-formed XML at byte {}: {e}", reader.error_position()))?;
        match ev {
            Event::Start(s) => {
                if stack.len() >= MAX_DEPTH {
                    skipping.get_or_insert_with(|| format!("elements nested deeper than {MAX_DEPTH} levels"));
                    deeper += 1;
                    continue;
                }
                let el = start(&s)?;
                size += el.name.len() + el.attrs.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>();
                stack.push(el);
            }
            Event::Empty(s) => {
                let el = start(&s)?;
                size += el.name.len() + el.attrs.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>();
                if skipping.is_none()
                    && let Some(p) = stack.last_mut()
                {
                    p.kids.push(el);
                }
            }
            Event::Text(t) => {
                let t = t.xml10_content();
                size += t.len();
                if skipping.is_none()
                    && let Some(p) = stack.last_mut()
                {
                    p.text.push_str(&t);
                }
            }
            Event::CData(c) => {
                let t = c.xml10_content();
                size += t.len();
                if skipping.is_none()
                    && let Some(p) = stack.last_mut()
                {
                    p.text.push_str(&t);
                }
            }
            Event::GeneralRef(r) => {
                let name = r.xml10_content().to_string();
                let resolved = match r.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    _ => quick_xml::escape::resolve_predefined_entity(&name).map(str::to_string).ok_or_else(|| format!("unknown entity '&{name};'"))?,
                };
                size += resolved.len();
                if skipping.is_none()
                    && let Some(p) = stack.last_mut()
                {
                    p.text.push_str(&resolved);
                }
            }
            Event::End(_) if deeper > 0 => deeper -= 1,
            Event::End(_) => {
                let Some(el) = stack.pop() else { return Err("unbalanced end tag".into()) };
                match stack.last_mut() {
                    Some(p) => {
                        if skipping.is_none() {
                            p.kids.push(el);
                        }
                    }
                    None => return Ok(skipping.map_or(Ok(el), Err)),
                }
            }
            Event::Eof => return Err("the feed ends inside a record".into()),
            _ => {}
        }
        if skipping.is_none() && size > crate::MAX_RECORD_BYTES {
            skipping = Some(format!("the record is larger than {} bytes", crate::MAX_RECORD_BYTES));
            if let Some(root) = stack.first_mut() {
                root.kids.clear();
            }
        }
    }
}
