//! The transport to the node: SOAP 1.1 with the SPCoop eGov header (busta eGov 1.1),
//! carrying one 1546 document as an escaped string (`../shared/formats/egov.md`).
//!
//! Both ends use this module: the publisher builds [`request`]s and reads
//! [`Response`]s; the reference node reads [`Request`]s and builds [`response`]s and
//! [`fault`]s. Parsing is strict where the national profile is strict (the header's
//! fields, `inoltro`, the message id's shape) and reports every refusal as an
//! [`EnvelopeError`] carrying the eGov exception code the node answers with.

use crate::tree::{self, Element};
use std::fmt::Write as _;

/// SOAP 1.1 envelope namespace.
pub const SOAP_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
/// eGov busta 1.0/1.1 namespace.
pub const EGOV_NS: &str = "http://www.cnipa.it/schemas/2003/eGovIT/Busta1_0/";
/// The CliclavoroWS namespace.
pub const CLICLAVORO_NS: &str = "http://servizi.lavoro.gov.it/cliclavoro";
/// The receiver of every request.
pub const NATIONAL: &str = "NAZIONALE";
/// The only transmission profile of the national profile: at most once.
pub const AT_MOST_ONCE: &str = "EGOV_IT_ALPIUUNAVOLTA";

/// The three operations of CliclavoroWS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// `invioCandidatura` (a CV).
    Candidatura,
    /// `invioVacancy`.
    Vacancy,
    /// `invioMessaggio`.
    Messaggio,
}

impl Action {
    /// The eGov `Azione` and request element name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Candidatura => "invioCandidatura",
            Self::Vacancy => "invioVacancy",
            Self::Messaggio => "invioMessaggio",
        }
    }

    /// The child element holding the escaped document.
    pub fn payload(self) -> &'static str {
        match self {
            Self::Candidatura => "CandidaturaXML",
            Self::Vacancy => "VacancyXML",
            Self::Messaggio => "MessaggioXML",
        }
    }

    /// The SOAPAction header value.
    pub fn soap_action(self) -> &'static str {
        match self {
            Self::Candidatura => "InvioCandidatura",
            Self::Vacancy => "InvioVacancy",
            Self::Messaggio => "InvioMessaggio",
        }
    }

    /// Parses an `Azione` / request element name.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Candidatura, Self::Vacancy, Self::Messaggio].into_iter().find(|a| a.name() == s)
    }

    /// The operation for a record kind.
    pub fn for_kind(kind: silgate_core::RecordKind) -> Self {
        match kind {
            silgate_core::RecordKind::Cv => Self::Candidatura,
            silgate_core::RecordKind::Vacancy => Self::Vacancy,
        }
    }
}

/// The eGov header fields silgate uses.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Header {
    /// Mittente/IdentificativoParte (the region, e.g. `PUGLIA`).
    pub sender: String,
    /// Destinatario/IdentificativoParte (`NAZIONALE`).
    pub receiver: String,
    /// Servizio.
    pub service: String,
    /// Azione.
    pub action: String,
    /// Messaggio/Identificatore.
    pub message_id: String,
    /// Messaggio/OraRegistrazione, `yyyy-MM-ddTHH:mm:ss`.
    pub registered_at: String,
    /// Messaggio/RiferimentoMessaggio (in a response: the request's id).
    pub reference: Option<String>,
    /// ProfiloTrasmissione/@inoltro.
    pub inoltro: Option<String>,
    /// ProfiloTrasmissione/@confermaRicezione.
    pub conferma: Option<String>,
    /// ListaEccezioni/Eccezione/@codiceEccezione, in a response.
    pub exceptions: Vec<String>,
}

/// Why an envelope is refused, with the eGov code and SOAP fault class to answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct EnvelopeError {
    /// `EGOV_IT_001`..`EGOV_IT_300`.
    pub code: &'static str,
    /// SOAP fault code: `Client` or `Server`.
    pub fault: &'static str,
    /// Human-readable reason (never document content).
    pub message: String,
}

fn refuse(code: &'static str, message: impl Into<String>) -> EnvelopeError {
    EnvelopeError { code, fault: "Client", message: message.into() }
}

/// Escapes text for element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 8);
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// Builds a message id: `<S>_<S>SPCoopIT_<7-digit counter>_<yyyy-MM-dd>_<HH:mm>`.
/// `at` is `yyyy-MM-ddTHH:mm:ss` (or longer). Returns `None` when the sender is not
/// letters and digits or the counter does not fit seven digits.
pub fn message_id(sender: &str, counter: u64, at: &str) -> Option<String> {
    if sender.is_empty() || !sender.bytes().all(|b| b.is_ascii_alphanumeric()) || counter > 9_999_999 || at.len() < 16 {
        return None;
    }
    Some(format!("{sender}_{sender}SPCoopIT_{counter:07}_{}_{}", &at[..10], &at[11..16]))
}

/// Checks the shape of a message id (five `_`-separated parts, see [`message_id`]).
pub fn is_message_id(id: &str) -> bool {
    let parts: Vec<&str> = id.split('_').collect();
    let [a, b, n, d, t] = parts.as_slice() else { return false };
    let alnum = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_alphanumeric());
    let digits = |s: &str| s.bytes().all(|c| c.is_ascii_digit());
    let date_ok = d.len() == 10 && d.as_bytes()[4] == b'-' && d.as_bytes()[7] == b'-' && digits(&d[..4]) && digits(&d[5..7]) && digits(&d[8..]);
    let time_ok = t.len() == 5 && t.as_bytes()[2] == b':' && digits(&t[..2]) && digits(&t[3..]);
    alnum(a) && alnum(b) && *b == format!("{a}SPCoopIT") && n.len() == 7 && digits(n) && date_ok && time_ok
}

fn header_xml(out: &mut String, h: &Header) {
    let e = escape;
    let _ = write!(
        out,
        "<soapenv:Header><eGov_IT:Intestazione xmlns:eGov_IT=\"{EGOV_NS}\" soapenv:actor=\"http://www.cnipa.it/eGov_it/portadominio\" soapenv:mustUnderstand=\"1\">\
<eGov_IT:IntestazioneMessaggio>\
<eGov_IT:Mittente><eGov_IT:IdentificativoParte tipo=\"SPC\">{}</eGov_IT:IdentificativoParte></eGov_IT:Mittente>\
<eGov_IT:Destinatario><eGov_IT:IdentificativoParte tipo=\"SPC\">{}</eGov_IT:IdentificativoParte></eGov_IT:Destinatario>\
<eGov_IT:ProfiloCollaborazione>EGOV_IT_ServizioSincrono</eGov_IT:ProfiloCollaborazione>\
<eGov_IT:Servizio tipo=\"SPC\">{}</eGov_IT:Servizio>\
<eGov_IT:Azione>{}</eGov_IT:Azione>\
<eGov_IT:Messaggio><eGov_IT:Identificatore>{}</eGov_IT:Identificatore><eGov_IT:OraRegistrazione tempo=\"EGOV_IT_SPC\">{}</eGov_IT:OraRegistrazione>",
        e(&h.sender),
        e(&h.receiver),
        e(&h.service),
        e(&h.action),
        e(&h.message_id),
        e(&h.registered_at)
    );
    if let Some(r) = &h.reference {
        let _ = write!(out, "<eGov_IT:RiferimentoMessaggio>{}</eGov_IT:RiferimentoMessaggio>", e(r));
    }
    out.push_str("</eGov_IT:Messaggio>");
    let inoltro = h.inoltro.as_deref().unwrap_or(AT_MOST_ONCE);
    let conferma = h.conferma.as_deref().unwrap_or("false");
    let _ = write!(out, "<eGov_IT:ProfiloTrasmissione inoltro=\"{}\" confermaRicezione=\"{}\"/>", e(inoltro), e(conferma));
    out.push_str("</eGov_IT:IntestazioneMessaggio>");
    if !h.exceptions.is_empty() {
        out.push_str("<eGov_IT:ListaEccezioni>");
        for c in &h.exceptions {
            let _ = write!(out, "<eGov_IT:Eccezione contestoCodifica=\"ErroreIntestazione\" codiceEccezione=\"{}\" rilevanza=\"GRAVE\" posizione=\"\"/>", e(c));
        }
        out.push_str("</eGov_IT:ListaEccezioni>");
    }
    out.push_str("</eGov_IT:Intestazione></soapenv:Header>");
}

fn envelope(header: Option<&Header>, body: &str) -> String {
    let mut out = String::with_capacity(body.len() + 1200);
    let _ = write!(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?><soapenv:Envelope xmlns:soapenv=\"{SOAP_NS}\">");
    if let Some(h) = header {
        header_xml(&mut out, h);
    }
    let _ = write!(out, "<soapenv:Body>{body}</soapenv:Body></soapenv:Envelope>");
    out
}

/// The SOAP request for one document. `header: None` is the plain-SOAP form a
/// regional Porta di Dominio expects (it adds the header itself).
pub fn request(header: Option<&Header>, action: Action, document: &str) -> String {
    let body = format!("<cl:{a} xmlns:cl=\"{CLICLAVORO_NS}\"><{p}>{}</{p}></cl:{a}>", escape(document), a = action.name(), p = action.payload());
    envelope(header, &body)
}

/// The node's answer: `Tipo_Risposta` (`OK` | `KO`) and `Descr_Esito`.
pub fn response(header: Option<&Header>, action: Action, ok: bool, description: &str) -> String {
    let body = format!(
        "<cl:risposta_{a} xmlns:cl=\"{CLICLAVORO_NS}\"><Tipo_Risposta>{}</Tipo_Risposta><Descr_Esito>{}</Descr_Esito></cl:risposta_{a}>",
        if ok { "OK" } else { "KO" },
        escape(description),
        a = action.name()
    );
    envelope(header, &body)
}

/// A SOAP fault (`Client` or `Server`) with the eGov exception code in the header
/// (when there is one) and in the fault string.
pub fn fault(header: Option<&Header>, fault_code: &str, egov_code: &str, message: &str) -> String {
    let body = format!("<soapenv:Fault><faultcode>soapenv:{}</faultcode><faultstring>{}: {}</faultstring></soapenv:Fault>", escape(fault_code), escape(egov_code), escape(message));
    envelope(header, &body)
}

/// A parsed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The eGov header (absent in plain SOAP).
    pub header: Option<Header>,
    /// The operation (from the body's element).
    pub action: Action,
    /// The 1546 document, unescaped.
    pub document: String,
}

fn child<'a>(e: &'a Element, name: &str) -> Option<&'a Element> {
    e.children.iter().find(|c| c.name == name)
}

fn text_at(e: &Element, path: &[&str]) -> Option<String> {
    let mut cur = e;
    for p in path {
        cur = child(cur, p)?;
    }
    Some(cur.text.trim().to_string())
}

fn parse_envelope(bytes: &[u8]) -> Result<Element, EnvelopeError> {
    let root = tree::parse(bytes).map_err(|m| refuse("EGOV_IT_001", format!("envelope is not well-formed XML (line {}): {}", m.line, m.message)))?;
    if root.name != "Envelope" || root.ns.as_deref() != Some(SOAP_NS) {
        return Err(refuse("EGOV_IT_001", "root element is not a SOAP 1.1 Envelope"));
    }
    Ok(root)
}

fn parse_header(env: &Element) -> Result<Option<Header>, EnvelopeError> {
    let Some(h) = child(env, "Header") else { return Ok(None) };
    let Some(i) = h.children.iter().find(|c| c.name == "Intestazione" && c.ns.as_deref() == Some(EGOV_NS)) else { return Ok(None) };
    let m = child(i, "IntestazioneMessaggio").ok_or_else(|| refuse("EGOV_IT_002", "Intestazione without IntestazioneMessaggio"))?;
    let exceptions = child(i, "ListaEccezioni").map(|l| l.children.iter().filter_map(|e| e.attr("codiceEccezione").map(str::to_string)).collect()).unwrap_or_default();
    let pt = child(m, "ProfiloTrasmissione");
    Ok(Some(Header {
        sender: text_at(m, &["Mittente", "IdentificativoParte"]).unwrap_or_default(),
        receiver: text_at(m, &["Destinatario", "IdentificativoParte"]).unwrap_or_default(),
        service: text_at(m, &["Servizio"]).unwrap_or_default(),
        action: text_at(m, &["Azione"]).unwrap_or_default(),
        message_id: text_at(m, &["Messaggio", "Identificatore"]).unwrap_or_default(),
        registered_at: text_at(m, &["Messaggio", "OraRegistrazione"]).unwrap_or_default(),
        reference: text_at(m, &["Messaggio", "RiferimentoMessaggio"]),
        inoltro: pt.and_then(|p| p.attr("inoltro")).map(str::to_string),
        conferma: pt.and_then(|p| p.attr("confermaRicezione")).map(str::to_string),
        exceptions,
    }))
}

/// Reads a request and checks its header against the national profile:
/// `service` is the name the node publishes.
pub fn parse_request(bytes: &[u8], service: &str, require_header: bool) -> Result<Request, EnvelopeError> {
    let env = parse_envelope(bytes)?;
    let header = parse_header(&env)?;
    let body = child(&env, "Body").ok_or_else(|| refuse("EGOV_IT_003", "Envelope without Body"))?;
    let op = body.children.first().ok_or_else(|| refuse("EGOV_IT_003", "empty Body"))?;
    let action = Action::parse(&op.name).ok_or_else(|| refuse("EGOV_IT_003", format!("unknown operation element '{}'", op.name)))?;
    let payload = child(op, action.payload()).ok_or_else(|| refuse("EGOV_IT_003", format!("{} without {}", action.name(), action.payload())))?;
    match &header {
        None if require_header => return Err(refuse("EGOV_IT_002", "missing eGov Intestazione")),
        None => {}
        Some(h) => {
            if h.sender.is_empty() {
                return Err(refuse("EGOV_IT_101", "Mittente missing"));
            }
            if h.receiver != NATIONAL {
                return Err(refuse("EGOV_IT_102", format!("Destinatario must be {NATIONAL}")));
            }
            if h.service != service {
                return Err(refuse("EGOV_IT_105", format!("Servizio must be {service}")));
            }
            if h.action != action.name() {
                return Err(refuse("EGOV_IT_106", format!("Azione '{}' does not match the body's {}", h.action, action.name())));
            }
            if h.message_id.is_empty() {
                return Err(refuse("EGOV_IT_107", "Identificatore missing"));
            }
            if !is_message_id(&h.message_id) || !h.message_id.starts_with(&format!("{}_", h.sender)) {
                return Err(refuse("EGOV_IT_110", "Identificatore does not have the form <S>_<S>SPCoopIT_<nnnnnnn>_<yyyy-MM-dd>_<HH:mm>"));
            }
            if h.registered_at.len() < 19 {
                return Err(refuse("EGOV_IT_108", "OraRegistrazione must be yyyy-MM-ddTHH:mm:ss"));
            }
            if h.inoltro.as_deref() != Some(AT_MOST_ONCE) || h.conferma.as_deref() == Some("true") {
                return Err(refuse("EGOV_IT_113", format!("ProfiloTrasmissione must be inoltro={AT_MOST_ONCE} confermaRicezione=false")));
            }
        }
    }
    Ok(Request { header, action, document: payload.text.clone() })
}

/// A parsed answer from the node.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Response {
    /// The reply's eGov header, when present (its message id is the receipt).
    pub header: Option<Header>,
    /// `Tipo_Risposta`: `Some(true)` for OK, `Some(false)` for KO.
    pub ok: Option<bool>,
    /// `Descr_Esito`.
    pub description: String,
    /// A SOAP fault: (faultcode without prefix, faultstring).
    pub fault: Option<(String, String)>,
}

/// Reads the node's answer.
pub fn parse_response(bytes: &[u8]) -> Result<Response, EnvelopeError> {
    let env = parse_envelope(bytes)?;
    let header = parse_header(&env)?;
    let body = child(&env, "Body").ok_or_else(|| refuse("EGOV_IT_003", "Envelope without Body"))?;
    let first = body.children.first().ok_or_else(|| refuse("EGOV_IT_003", "empty Body"))?;
    if first.name == "Fault" {
        let code = text_at(first, &["faultcode"]).unwrap_or_default();
        let code = code.rsplit(':').next().unwrap_or_default().to_string();
        return Ok(Response { header, ok: None, description: String::new(), fault: Some((code, text_at(first, &["faultstring"]).unwrap_or_default())) });
    }
    let ok = match text_at(first, &["Tipo_Risposta"]).as_deref() {
        Some("OK") => Some(true),
        Some("KO") => Some(false),
        _ => return Err(refuse("EGOV_IT_003", format!("{} without Tipo_Risposta OK|KO", first.name))),
    };
    Ok(Response { header, ok, description: text_at(first, &["Descr_Esito"]).unwrap_or_default(), fault: None })
}
