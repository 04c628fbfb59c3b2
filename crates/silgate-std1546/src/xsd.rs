//! XSD validation in process with libxml2, against the project's schemas (`schemas/`),
//! which are embedded in the binary.
//!
//! libxml2 validation contexts are not thread-safe, so one dedicated thread owns them
//! and serves requests over a channel. libxml2 reports a line and a message per error;
//! the element path is recovered from our own element tree (the first element of that
//! name on that line), and values of personal fields are redacted from the message.

use crate::tree::{self, Element};
use libxml::parser::{Parser, ParserOptions};
use libxml::schemas::{SchemaParserContext, SchemaValidationContext};
use silgate_core::{Issue, RecordKind};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};

/// The project's Candidatura schema.
pub const CANDIDATURA_XSD: &str = include_str!("../../../schemas/candidatura.xsd");
/// The project's Vacancy schema.
pub const VACANCY_XSD: &str = include_str!("../../../schemas/vacancy.xsd");

struct RawError {
    line: Option<i32>,
    message: String,
}

struct Job {
    kind: RecordKind,
    xml: Vec<u8>,
    reply: mpsc::Sender<Result<Vec<RawError>, String>>,
}

/// A handle to the validation thread.
#[derive(Debug)]
pub struct XsdValidator {
    tx: Mutex<mpsc::Sender<Job>>,
}

/// Why the validator could not run (never a problem of the document).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XsdError {
    /// An embedded schema failed to compile.
    #[error("schema does not compile: {0}")]
    Schema(String),
    /// The validation thread is gone.
    #[error("xsd validation thread stopped")]
    Stopped,
}

fn compile(xsd: &str) -> Result<SchemaValidationContext, String> {
    let mut parser = SchemaParserContext::from_buffer(xsd);
    SchemaValidationContext::from_parser(&mut parser).map_err(|errs| errs.into_iter().filter_map(|e| e.message).collect::<Vec<_>>().join("; "))
}

fn serve(rx: mpsc::Receiver<Job>, ready: mpsc::Sender<Result<(), String>>) {
    let contexts = compile(CANDIDATURA_XSD).and_then(|c| compile(VACANCY_XSD).map(|v| (c, v)));
    let (mut cv, mut vac) = match contexts {
        Ok(c) => {
            let _ = ready.send(Ok(()));
            c
        }
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let parser = Parser::default();
    for job in rx {
        // No recovery (a malformed document is an error, not a guess) and no network.
        let options = ParserOptions { recover: false, no_net: true, ..ParserOptions::default() };
        let result = match parser.parse_string_with_options(&job.xml, options) {
            Err(_) => Err("document is not well-formed XML 1.0 (forbidden character, bad structure or encoding)".to_string()),
            Ok(doc) => {
                let ctx = match job.kind {
                    RecordKind::Cv => &mut cv,
                    RecordKind::Vacancy => &mut vac,
                };
                let out = match ctx.validate_document(&doc) {
                    Ok(()) => Vec::new(),
                    Err(errs) => errs.into_iter().map(|e| RawError { line: e.line, message: e.message.unwrap_or_default().trim().to_string() }).collect(),
                };
                // The context is reused: never let one document's log reach the next.
                let _ = ctx.drain_errors();
                Ok(out)
            }
        };
        let _ = job.reply.send(result);
    }
}

impl XsdValidator {
    /// Starts the validation thread and compiles both schemas.
    pub fn start() -> Result<Self, XsdError> {
        let (tx, rx) = mpsc::channel::<Job>();
        let (ready_tx, ready_rx) = mpsc::channel();
        std::thread::Builder::new().name("xsd-validator".into()).spawn(move || serve(rx, ready_tx)).map_err(|e| XsdError::Schema(e.to_string()))?;
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(Self { tx: Mutex::new(tx) }),
            Ok(Err(e)) => Err(XsdError::Schema(e)),
            Err(_) => Err(XsdError::Stopped),
        }
    }

    /// The process-wide validator, started on first use.
    pub fn shared() -> Result<&'static XsdValidator, XsdError> {
        static SHARED: OnceLock<Result<XsdValidator, XsdError>> = OnceLock::new();
        SHARED.get_or_init(XsdValidator::start).as_ref().map_err(Clone::clone)
    }

    /// Validates `xml` as a document of `kind`; returns every XSD issue.
    pub fn validate(&self, kind: RecordKind, xml: &[u8]) -> Result<Vec<Issue>, XsdError> {
        let (reply, rx) = mpsc::channel();
        {
            let tx = self.tx.lock().map_err(|_| XsdError::Stopped)?;
            tx.send(Job { kind, xml: xml.to_vec(), reply }).map_err(|_| XsdError::Stopped)?;
        }
        let raw = match rx.recv().map_err(|_| XsdError::Stopped)? {
            Ok(raw) => raw,
            Err(msg) => return Ok(vec![Issue::error("/", "xml.malformed", msg)]),
        };
        if raw.is_empty() {
            return Ok(Vec::new());
        }
        // Only a document with errors needs its element tree, to name their paths.
        let tree = tree::parse(xml).ok();
        let mut issues: Vec<Issue> = Vec::new();
        for e in raw {
            let issue = to_issue(&e, tree.as_ref());
            // libxml2 follows a facet error with a generic "not a valid value" one for
            // the same element: keep the first, which names the facet.
            if issue.rule == "xsd.type" && issues.iter().any(|i| i.path == issue.path) {
                continue;
            }
            issues.push(issue);
        }
        Ok(issues)
    }
}

fn to_issue(e: &RawError, tree: Option<&Element>) -> Issue {
    // "Element '{ns}name': message" -> name, message
    let (name, rest) = match e.message.strip_prefix("Element '").and_then(|r| r.split_once("': ")) {
        Some((n, rest)) => (Some(n.rsplit('}').next().unwrap_or(n).to_string()), rest.to_string()),
        None => (None, e.message.clone()),
    };
    let path = match (&name, tree, e.line) {
        (Some(n), Some(t), Some(line)) => find_path(t, &format!("/{}", t.name), n, usize::try_from(line).unwrap_or(0)).unwrap_or_else(|| format!("line {line}: {n}")),
        (Some(n), _, Some(line)) => format!("line {line}: {n}"),
        (Some(n), _, None) => n.clone(),
        (None, _, Some(line)) => format!("line {line}"),
        (None, _, None) => "/".into(),
    };
    let rule = if let Some(f) = rest.split("[facet '").nth(1).and_then(|s| s.split('\'').next()) {
        format!("xsd.{f}")
    } else if rest.contains("Missing child element") {
        "xsd.missing".into()
    } else if rest.contains("not expected") {
        "xsd.unexpected".into()
    } else if rest.contains("No matching global declaration") {
        "xsd.root".into()
    } else if rest.contains("is not a valid value") {
        "xsd.type".into()
    } else {
        "xsd".into()
    };
    // Every value is redacted: no message needs it, and most fields are personal.
    let message = redact_values(&strip_namespaces(&rest));
    let message = message.trim_end_matches('.').to_string();
    let message = lower_first(&message);
    Issue::error(path, rule, message)
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

fn strip_namespaces(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut depth = 0;
    for ch in s.chars() {
        match ch {
            '{' if depth == 0 && out.ends_with(['(', ' ', '\'', ',']) => depth = 1,
            '}' if depth == 1 => depth = 0,
            _ if depth == 1 => {}
            c => out.push(c),
        }
    }
    out
}

/// Replaces the quoted value in `The value '...' is not ...` and `'...' is not ...`
/// with `<redacted>`. The value ends at the last `' is not` (values may hold quotes).
fn redact_values(s: &str) -> String {
    let start = if let Some(i) = s.find("value '") {
        i + "value '".len()
    } else if s.starts_with('\'') {
        1
    } else {
        return s.to_string();
    };
    match s[start..].rfind("' is not") {
        Some(len) => format!("{}<redacted>{}", &s[..start], &s[start + len..]),
        None => format!("{}<redacted>'", &s[..start]),
    }
}

/// Children that may repeat, by (parent, child): their paths always carry a 1-based
/// index, as the reader's and the rules' paths do (`EsperienzeLavorative[1]`).
const REPEATABLE: &[(&str, &str)] = &[
    ("DatiCurriculari", "EsperienzeLavorative"),
    ("DatiCurriculari", "Istruzione"),
    ("DatiCurriculari", "Formazione"),
    ("DatiCurriculari", "Lingue"),
    ("DatiCurriculari", "ProfessioneDesiderataDisponibilita"),
    ("AbilitazioniPatenti", "idalbo"),
    ("AbilitazioniPatenti", "idpatenteguida"),
    ("AbilitazioniPatenti", "idpatentino"),
    ("ProfessioneDesiderataDisponibilita", "idmodalitalavorativa"),
    ("ProfessioneDesiderataDisponibilita", "idtipologiacontratto"),
    ("IstruzioneFormazione", "titolostudio"),
    ("IstruzioneFormazione", "Lingua"),
    ("IstruzioneFormazione", "idpatenteguida"),
    ("IstruzioneFormazione", "idpatentino"),
];

/// The path of the first element named `name` starting on `line`, with 1-based indices
/// on repeatable children (and on any child that is repeated where it should not be).
fn find_path(el: &Element, path: &str, name: &str, line: usize) -> Option<String> {
    if el.name == name && el.line == line {
        return Some(path.to_string());
    }
    for (i, c) in el.children.iter().enumerate() {
        if let Some(p) = find_path(c, &format!("{path}/{}", segment(el, i)), name, line) {
            return Some(p);
        }
    }
    None
}

/// The path segment of `el`'s child `i`: its name, with its 1-based index among its
/// namesakes when it is repeatable (or repeated).
pub(crate) fn segment(el: &Element, i: usize) -> String {
    let c = &el.children[i];
    let nth = el.children[..i].iter().filter(|s| s.name == c.name).count() + 1;
    let repeated = nth > 1 || el.children[i + 1..].iter().any(|s| s.name == c.name);
    if repeated || REPEATABLE.contains(&(el.name.as_str(), c.name.as_str())) { format!("{}[{nth}]", c.name) } else { c.name.clone() }
}
