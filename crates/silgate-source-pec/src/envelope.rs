//! A PEC message as received: its class by top-level headers, the provider's S/MIME
//! signature, and the signed parts (`daticert.xml`, `postacert.eml`).
//!
//! Order of the checks (sources.md): a message without PEC headers is not PEC; one with
//! them must carry a detached S/MIME signature (`multipart/signed`, `smime.p7s`, micalg
//! sha-256 or sha1) that verifies against the configured provider certificates; only
//! then is it classified (receipt / transport envelope / anomaly envelope) and are its
//! parts read, from the signed content alone: nothing outside the signature is trusted.

use crate::daticert::{self, DatiCert};
use mail_parser::{MessageParser, MimeHeaders};
use openssl::pkcs7::{Pkcs7, Pkcs7Flags};
use openssl::stack::Stack;
use openssl::x509::X509;
use openssl::x509::store::{X509Store, X509StoreBuilder};

/// What a message is, by its top-level headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Class {
    /// `X-Ricevuta: <type>`: accettazione, avvenuta-consegna, ...
    Receipt(String),
    /// `X-Trasporto: posta-certificata`: a transport envelope, to ingest.
    Transport,
    /// `X-Trasporto: errore`: an anomaly envelope (the original came by ordinary mail).
    Anomaly,
    /// None of the PEC headers.
    NotPec,
}

/// The receipt types of the PEC rules.
pub const RECEIPTS: [&str; 7] = ["accettazione", "non-accettazione", "presa-in-carico", "avvenuta-consegna", "errore-consegna", "preavviso-errore-consegna", "rilevazione-virus"];

/// Why a message cannot be taken: a stable rule and a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{rule}: {message}")]
pub struct EnvelopeError {
    /// `pec.mime`, `pec.unsigned`, `pec.signature`, `pec.untrusted`, `pec.crl` (the
    /// signer's CA has no current CRL among the configured ones: the gateway's files,
    /// not the message, are at fault), `pec.daticert`, `pec.postacert`, `pec.header`.
    pub rule: &'static str,
    /// What is wrong.
    pub message: String,
}

fn err(rule: &'static str, message: impl Into<String>) -> EnvelopeError {
    EnvelopeError { rule, message: message.into() }
}

/// What a provider's signature must satisfy: its signer chains, whole, to one of the
/// configured CA certificates; every certificate of the chain is valid now; the signer
/// may sign S/MIME (OpenSSL's `smime_sign` purpose: a key usage, when listed, with
/// digitalSignature or nonRepudiation, and emailProtection among its extended usages,
/// when listed); when signing certificates are pinned, the signer is one of them (a CA
/// that also issues S/MIME certificates to others cannot then vouch for a forged
/// daticert.xml); when CRLs are configured, the signer is not revoked by its issuer's
/// CRL, which must be there and current (checked offline: the operator refreshes the
/// files).
pub struct Trust {
    store: X509Store,
    pinned: Vec<Vec<u8>>,
}

impl std::fmt::Debug for Trust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Trust")
    }
}

impl Trust {
    /// Trusts signatures that chain to the CA certificates in these PEM texts.
    pub fn from_pems(pems: &[Vec<u8>]) -> Result<Self, EnvelopeError> {
        Self::new(pems, &[], &[])
    }

    /// Trusts `pems` and, when `signers` is not empty, only these signing certificates.
    pub fn with_signers(pems: &[Vec<u8>], signers: &[Vec<u8>]) -> Result<Self, EnvelopeError> {
        Self::new(pems, signers, &[])
    }

    /// Trusts signatures that chain to the CA certificates `pems`, made by one of
    /// `signers` (when not empty), not revoked by the CRLs of the PEM files `crls` (when
    /// not empty: every provider CA must then have a current CRL among them).
    pub fn new(pems: &[Vec<u8>], signers: &[Vec<u8>], crls: &[std::path::PathBuf]) -> Result<Self, EnvelopeError> {
        let mut b = X509StoreBuilder::new().map_err(|e| err("pec.config", e.to_string()))?;
        let mut pinned = Vec::new();
        for pem in signers {
            for c in X509::stack_from_pem(pem).map_err(|e| err("pec.config", format!("a pinned signer certificate is not PEM: {e}")))? {
                pinned.push(c.to_der().map_err(|e| err("pec.config", e.to_string()))?);
            }
        }
        if !signers.is_empty() && pinned.is_empty() {
            return Err(err("pec.config", "the pinned signer files hold no certificate"));
        }
        let mut n = 0;
        for pem in pems {
            for c in X509::stack_from_pem(pem).map_err(|e| err("pec.config", format!("a provider certificate is not PEM: {e}")))? {
                b.add_cert(c).map_err(|e| err("pec.config", e.to_string()))?;
                n += 1;
            }
        }
        if n == 0 {
            return Err(err("pec.config", "no provider certificate configured: no PEC signature could verify"));
        }
        if !crls.is_empty() {
            let lookup = b.add_lookup(openssl::x509::store::X509Lookup::file()).map_err(|e| err("pec.config", e.to_string()))?;
            for path in crls {
                // OpenSSL takes the name as a C string.
                let Some(name) = path.to_str().filter(|s| !s.contains('\0')) else {
                    return Err(err("pec.config", format!("the CRL file name {} is not UTF-8", path.display())));
                };
                let loaded = lookup.load_crl_file(name, openssl::ssl::SslFiletype::PEM).map_err(|e| err("pec.config", format!("CRL file {name}: {e}")))?;
                if loaded < 1 {
                    return Err(err("pec.config", format!("CRL file {name} holds no CRL")));
                }
            }
            b.set_flags(openssl::x509::verify::X509VerifyFlags::CRL_CHECK).map_err(|e| err("pec.config", e.to_string()))?;
        }
        Ok(Self { store: b.build(), pinned })
    }
}

/// A message taken apart.
#[derive(Debug, Clone, Default)]
pub struct Envelope {
    /// Its class.
    pub class: Option<Class>,
    /// The certified data (receipts and envelopes carry one).
    pub daticert: Option<DatiCert>,
    /// The original message, raw (`postacert.eml`; envelopes only).
    pub postacert: Option<Vec<u8>>,
    /// The envelope's own `Message-ID`.
    pub message_id: String,
}

fn header(raw: &mail_parser::Message<'_>, name: &str) -> Option<String> {
    raw.header_raw(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

/// Classifies by the top-level headers alone (a PEC header given twice is an error:
/// which one counts would be the attacker's choice).
pub fn classify(msg: &mail_parser::Message<'_>) -> Result<Class, EnvelopeError> {
    for name in ["X-Ricevuta", "X-Trasporto"] {
        if msg.header_values(name).count() > 1 {
            return Err(err("pec.header", format!("{name} appears more than once")));
        }
    }
    if let Some(r) = header(msg, "X-Ricevuta") {
        let r = r.to_ascii_lowercase();
        return if RECEIPTS.contains(&r.as_str()) { Ok(Class::Receipt(r)) } else { Err(err("pec.header", "X-Ricevuta names no receipt type of the PEC rules")) };
    }
    match header(msg, "X-Trasporto").map(|t| t.to_ascii_lowercase()).as_deref() {
        Some("posta-certificata") => Ok(Class::Transport),
        Some("errore") => Ok(Class::Anomaly),
        Some(_) => Err(err("pec.header", "X-Trasporto is neither posta-certificata nor errore")),
        None => Ok(Class::NotPec),
    }
}

fn class_name(c: &Class) -> String {
    match c {
        Class::Receipt(t) => format!("receipt {t}"),
        Class::Transport => "transport envelope".into(),
        Class::Anomaly => "anomaly envelope".into(),
        Class::NotPec => "not PEC".into(),
    }
}

/// Verifies the signature of `raw` and returns the signed content.
pub fn verify(raw: &[u8], trust: &Trust) -> Result<Vec<u8>, EnvelopeError> {
    let (p7, content) = Pkcs7::from_smime(raw).map_err(|_| err("pec.unsigned", "not an S/MIME signed message (multipart/signed with smime.p7s)"))?;
    let content = content.ok_or_else(|| err("pec.unsigned", "the signature is not detached: no signed content"))?;
    let none = Stack::new().map_err(|e| err("pec.signature", e.to_string()))?;
    match p7.verify(&none, &trust.store, Some(&content), None, Pkcs7Flags::BINARY) {
        Ok(()) => {
            if !trust.pinned.is_empty() {
                let signers = p7.signers(&none, Pkcs7Flags::empty()).map_err(|_| err("pec.untrusted", "no signer certificate in the signature"))?;
                let pinned = signers.iter().all(|c| c.to_der().is_ok_and(|d| trust.pinned.contains(&d)));
                if !pinned || signers.is_empty() {
                    return Err(err("pec.untrusted", "the signer is not one of the pinned provider signing certificates"));
                }
            }
            Ok(content)
        }
        Err(e) => {
            let why = e.to_string();
            // OpenSSL names a failed certificate check after "Verify error:" with one of
            // its fixed reasons (expired, revoked, unsupported purpose, no CRL ...).
            match why.split_once("Verify error:") {
                Some((_, reason)) => {
                    let reason: String = reason.chars().take_while(|c| *c != '\n' && *c != ',').take(120).collect();
                    let reason = reason.trim();
                    // A missing, stale or unusable CRL says nothing of the message: the
                    // operator refreshes the file and the message is read again.
                    if reason.contains("CRL") {
                        Err(err("pec.crl", format!("the signer's revocation cannot be checked: {reason} (refresh [pec] crls)")))
                    } else {
                        Err(err("pec.untrusted", format!("the signer's certificate is not trusted: {reason}")))
                    }
                }
                None if why.contains("certificate verify") || why.contains("unable to get") || why.contains("self-signed") || why.contains("self signed") => {
                    Err(err("pec.untrusted", "the signer's certificate does not chain to a configured PEC provider"))
                }
                None => Err(err("pec.signature", "the provider's signature does not verify: the message was altered")),
            }
        }
    }
}

/// True when the top-level header block, and the header block of every part of the
/// top-level multipart (what OpenSSL's S/MIME reader parses), are UTF-8.
fn headers_utf8(raw: &[u8], boundary: Option<&str>) -> bool {
    fn block_end(b: &[u8]) -> usize {
        let mut i = 0;
        for line in b.split_inclusive(|c| *c == b'\n') {
            i += line.len();
            if line == b"\n" || line == b"\r\n" {
                return i;
            }
        }
        b.len()
    }
    if std::str::from_utf8(&raw[..block_end(raw)]).is_err() {
        return false;
    }
    let Some(boundary) = boundary else { return true };
    let marker = format!("--{boundary}");
    let mut at = 0;
    for line in raw.split_inclusive(|c| *c == b'\n') {
        at += line.len();
        let trimmed = line.strip_suffix(b"\n").unwrap_or(line);
        let trimmed = trimmed.strip_suffix(b"\r").unwrap_or(trimmed);
        // OpenSSL takes any line starting with the marker as a boundary.
        if trimmed.starts_with(marker.as_bytes()) {
            let rest = &raw[at..];
            if std::str::from_utf8(&rest[..block_end(rest)]).is_err() {
                return false;
            }
        }
    }
    true
}

/// Takes a received message apart: class, then (for PEC messages) signature, then the
/// signed parts.
pub fn open(raw: &[u8], trust: &Trust) -> Result<Envelope, EnvelopeError> {
    let msg = MessageParser::default().parse(raw).ok_or_else(|| err("pec.mime", "not a MIME message"))?;
    let message_id = header(&msg, "Message-ID").unwrap_or_default();
    let class = classify(&msg)?;
    if class == Class::NotPec {
        return Ok(Envelope { class: Some(class), message_id, ..Envelope::default() });
    }
    // OpenSSL reports a bad content type with the header's bytes, and the openssl
    // crate panics on error data that is not UTF-8 (openssl 0.10.82, found by fuzzing):
    // header bytes that are not UTF-8 are malformed MIME anyway, refused before.
    let boundary = msg.content_type().and_then(|c| c.attribute("boundary")).map(str::to_string);
    if !headers_utf8(raw, boundary.as_deref()) {
        return Err(err("pec.mime", "header bytes that are not UTF-8"));
    }
    let signed = verify(raw, trust)?;
    let inner = MessageParser::default().parse(&signed).ok_or_else(|| err("pec.mime", "the signed content is not a MIME entity"))?;
    let mut daticert = None;
    let mut postacert = None;
    for part in inner.attachments() {
        let name = part.attachment_name().unwrap_or_default().to_ascii_lowercase();
        if name == "daticert.xml" {
            daticert = Some(daticert::parse(part.contents()).map_err(|e| err("pec.daticert", e.0))?);
        } else if name == "postacert.eml" || (postacert.is_none() && part.is_message()) {
            postacert = Some(part.contents().to_vec());
        }
    }
    let daticert = daticert.ok_or_else(|| err("pec.daticert", "the envelope carries no daticert.xml"))?;
    // The top-level headers are outside the signature: they must agree with the signed
    // daticert.xml, or a relabelled message could skip ingest or bypass the anomaly rule.
    let tipo = daticert.tipo.to_ascii_lowercase();
    let agrees = match &class {
        Class::Receipt(t) => *t == tipo,
        Class::Transport => tipo == "posta-certificata" && matches!(daticert.errore.to_ascii_lowercase().as_str(), "" | "nessuno"),
        Class::Anomaly => tipo == "posta-certificata" || tipo == "errore",
        Class::NotPec => false,
    };
    if !agrees {
        return Err(err("pec.header", format!("the top-level headers say {} but the signed daticert.xml says tipo={tipo}", class_name(&class))));
    }
    if matches!(class, Class::Transport | Class::Anomaly) && postacert.is_none() {
        return Err(err("pec.postacert", "the envelope carries no postacert.eml"));
    }
    Ok(Envelope { class: Some(class), daticert: Some(daticert), postacert, message_id })
}
