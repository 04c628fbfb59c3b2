//! The Sintesi adapter (Lombardy provinces, Puglia): the `SintesiExport` XML feed,
//! namespace `urn:silgate:sintesi:export:1`, as sources.md defines it.
//!
//! The feed is **streamed**: quick-xml reads events from a buffered reader, and only
//! the one `Lavoratore` or `Richiesta` being read is held as a small tree (bounded by
//! [`MAX_RECORD_BYTES`] and a nesting limit), mapped, emitted and dropped. Memory does
//! not grow with the feed.
//!
//! Each record's position is its XPath (`/SintesiExport/Lavoratore[3]`). A record with
//! an element or attribute the format does not have, a missing mandatory part, or a
//! value of the wrong form is a rejection naming the XPath of the part and the rule;
//! the feed goes on. XML that is not well-formed stops the feed at that point: what came
//! before is emitted, and the error names the byte offset.
//!
//! `stato="chiuso"` (worker) and `stato="chiusa"` / `"ritirata"` (vacancy) become
//! closures (`02`, reason `01` closed, `03` withdrawn); the code of the version they
//! close is filled in downstream, where codes are allocated. The largest
//! `ultimaModifica` read is the feed's watermark ([`ReadSummary::watermark`]), which
//! the HTTPS puller persists once the records are queued.

#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod guard;
mod map;
mod tree;

use quick_xml::Reader;
use quick_xml::events::Event;
use silgate_core::source::{Emit, ReadSummary, Rejection, Source, SourceError, SourceItem};
use silgate_core::{Position, Provenance, SourceSystem, Timestamp};
use std::io::BufRead;

/// The feed's namespace.
pub const NAMESPACE: &str = "urn:silgate:sintesi:export:1";

/// Largest size of one record's text and attributes.
pub const MAX_RECORD_BYTES: usize = 1 << 20;

/// Longest XML event (a text node, a tag with its attributes, a comment, a CDATA
/// section, a processing instruction) before the feed is refused as
/// `limit.xml_event_bytes`: quick-xml holds a whole event in memory, so an endless one
/// must be stopped before it is read whole (see `guard`).
pub const MAX_RUN_BYTES: u64 = 64 << 20;

/// A Sintesi feed over any buffered reader.
#[derive(Debug)]
pub struct Sintesi<R> {
    input: R,
    origin: String,
    max_event_bytes: u64,
}

impl<R: BufRead> Sintesi<R> {
    /// A feed read from `input`; `origin` (file or URL) goes into provenance.
    pub fn new(input: R, origin: impl Into<String>) -> Self {
        Self { input, origin: origin.into(), max_event_bytes: MAX_RUN_BYTES }
    }

    /// The longest XML event taken (default [`MAX_RUN_BYTES`]).
    #[must_use]
    pub fn with_max_event_bytes(mut self, n: u64) -> Self {
        self.max_event_bytes = n;
        self
    }
}

/// Opens a feed file.
pub fn open(path: &std::path::Path) -> Result<Sintesi<std::io::BufReader<std::fs::File>>, SourceError> {
    let origin = path.display().to_string();
    let f = std::fs::File::open(path).map_err(|e| SourceError::io(&origin, e))?;
    Ok(Sintesi::new(std::io::BufReader::with_capacity(256 * 1024, f), origin))
}

/// What the root says.
#[derive(Debug, Clone, Default)]
pub(crate) struct Header {
    pub(crate) cpi: String,
}

impl<R: BufRead> Source for Sintesi<R> {
    fn system(&self) -> SourceSystem {
        SourceSystem::Sintesi
    }

    fn read(&mut self, emit: &mut Emit<'_>) -> Result<ReadSummary, SourceError> {
        let origin = self.origin.clone();
        let mut reader = Reader::from_reader(guard::Guard::new(&mut self.input, self.max_event_bytes));
        reader.config_mut().trim_text(false);
        let mut buf = Vec::new();
        let mut sum = ReadSummary::default();
        let mut header: Option<Header> = None;
        let (mut n_lav, mut n_ric) = (0u64, 0u64);
        let mut others: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
        let mut closed = false;
        let mut watermark: Option<(time::PrimitiveDateTime, String)> = None;
        let malformed = |reader: &Reader<guard::Guard<&mut R>>, e: &dyn std::fmt::Display| {
            if reader.get_ref().tripped {
                SourceError::limit(&origin, "limit.xml_event_bytes", format!("at byte {}: {e}", reader.buffer_position()))
            } else {
                SourceError::format(&origin, format!("not well-formed XML at byte {}: {e}", reader.error_position()))
            }
        };
        loop {
            buf.clear();
            let ev = reader.read_event_into(&mut buf).map_err(|e| malformed(&reader, &e))?;
            let empty = matches!(ev, Event::Empty(_));
            match ev {
                Event::Start(s) | Event::Empty(s) if header.is_none() => {
                    let name = s.local_name().as_ref().to_string();
                    // The root itself must be in the namespace: the default one, or the
                    // one bound to its own prefix.
                    let binding = match s.name().prefix() {
                        Some(p) => format!("xmlns:{}", p.as_ref()),
                        None => "xmlns".to_string(),
                    };
                    let mut ns_ok = false;
                    let mut h = Header::default();
                    for a in s.attributes() {
                        let a = a.map_err(|e| malformed(&reader, &e))?;
                        let v = a.normalized_value(quick_xml::XmlVersion::Implicit1_0).map_err(|e| malformed(&reader, &e))?.to_string();
                        if a.key.as_ref() == binding {
                            ns_ok = v == NAMESPACE;
                        } else if a.key.local_name().as_ref() == "cpi" {
                            h.cpi = v;
                        }
                    }
                    if name != "SintesiExport" || !ns_ok {
                        return Err(SourceError::format(&origin, format!("not a Sintesi export: the root must be SintesiExport in namespace {NAMESPACE}")));
                    }
                    closed = empty;
                    header = Some(h);
                }
                Event::Start(_) | Event::Empty(_) if closed => {
                    return Err(SourceError::format(&origin, format!("content after </SintesiExport> at byte {}", reader.buffer_position())));
                }
                Event::Start(s) => {
                    let name = s.local_name().as_ref().to_string();
                    let (xpath, known) = match name.as_str() {
                        "Lavoratore" => {
                            n_lav += 1;
                            (format!("/SintesiExport/Lavoratore[{n_lav}]"), true)
                        }
                        "Richiesta" => {
                            n_ric += 1;
                            (format!("/SintesiExport/Richiesta[{n_ric}]"), true)
                        }
                        other => {
                            let n = others.entry(other.to_string()).or_insert(0);
                            *n += 1;
                            (format!("/SintesiExport/{other}[{n}]"), false)
                        }
                    };
                    let start = s.into_owned();
                    let el = tree::read_element(&mut reader, &start, &mut buf).map_err(|e| {
                        if reader.get_ref().tripped {
                            SourceError::limit(&origin, "limit.xml_event_bytes", format!("{xpath}: {e}"))
                        } else {
                            SourceError::format(&origin, format!("{xpath}: {e}"))
                        }
                    })?;
                    let mut prov = Provenance::new(SourceSystem::Sintesi, &origin, Position::XPath(xpath.clone()));
                    prov.cpi = header.as_ref().map(|h| h.cpi.clone()).unwrap_or_default();
                    let item = match el {
                        Err(too_big) => SourceItem::Rejected(Rejection::one(prov, xpath, "sintesi.size", too_big)),
                        Ok(el) if !known => SourceItem::Rejected(Rejection::one(
                            prov,
                            xpath,
                            "sintesi.element",
                            format!("element {} is not part of a Sintesi export (expected Lavoratore or Richiesta)", el.name),
                        )),
                        Ok(el) => {
                            if let Some(m) = el.attr("ultimaModifica").and_then(|v| v.parse::<Timestamp>().ok()) {
                                let local = m.local;
                                if watermark.as_ref().is_none_or(|(w, _)| local > *w) {
                                    watermark = el.attr("ultimaModifica").map(|v| (local, v.to_string()));
                                }
                            }
                            let h = header.clone().unwrap_or_default();
                            let r = if name == "Lavoratore" { map::worker(&el, &h, prov, &xpath) } else { map::vacancy(&el, &h, prov, &xpath) };
                            match r {
                                Ok(rec) => SourceItem::Record(Box::new(rec)),
                                Err(rej) => SourceItem::Rejected(*rej),
                            }
                        }
                    };
                    if sum.emit(emit, item).is_break() {
                        break;
                    }
                }
                Event::Empty(s) => {
                    let name = s.local_name().as_ref().to_string();
                    let n = others.entry(name.clone()).or_insert(0);
                    *n += 1;
                    let xpath = format!("/SintesiExport/{name}[{n}]");
                    let mut prov = Provenance::new(SourceSystem::Sintesi, &origin, Position::XPath(xpath.clone()));
                    prov.cpi = header.as_ref().map(|h| h.cpi.clone()).unwrap_or_default();
                    let rej = Rejection::one(prov, xpath, "sintesi.element", format!("empty element {name} is not a Sintesi record"));
                    if sum.emit(emit, SourceItem::Rejected(rej)).is_break() {
                        break;
                    }
                }
                Event::End(_) => closed = true,
                // A DTD could declare entities and defaults the feed does not have; the
                // guard does not follow one either.
                Event::DocType(_) => return Err(SourceError::format(&origin, format!("a DOCTYPE at byte {}: a Sintesi feed has none", reader.buffer_position()))),
                Event::Eof => {
                    if header.is_none() {
                        return Err(SourceError::format(&origin, "not a Sintesi export: no SintesiExport element"));
                    }
                    if !closed {
                        return Err(SourceError::format(
                            &origin,
                            format!("the feed is truncated: </SintesiExport> is missing ({} record(s) read before the cut)", sum.records + sum.rejected),
                        ));
                    }
                    break;
                }
                _ => {}
            }
        }
        sum.watermark = watermark.map(|(_, s)| s);
        Ok(sum)
    }
}

#[cfg(test)]
mod tests;
