//! The PEC adapter (Calabria, Sicily): certified e-mail carrying the CPIs' files.
//!
//! A [`PecMessage`] is one message as received (from a mailbox, or saved as `.eml`).
//! Reading it:
//!
//! 1. [`envelope::open`]: class by top-level headers; for PEC messages the provider's
//!    detached S/MIME signature is verified against the configured provider
//!    certificates ([`Trust`]), and `daticert.xml` ([`daticert`]) and `postacert.eml`
//!    are read from the signed content only.
//! 2. Receipts, anomaly envelopes (unless accepted by config), messages that are not
//!    PEC, and envelopes that fail a check become one [`Rejection`] each, with the
//!    reason as the rule (`pec.receipt`, `pec.anomaly`, `pec.not-pec`,
//!    `pec.signature`, `pec.untrusted`, ...): audited and quarantined, never ingested.
//! 3. The certified sender must be on the allow-list ([`PecConfig::senders`], address
//!    -> CPI code). Each attachment of `postacert.eml` (size-limited) is dispatched by
//!    type ([`dispatch`]): a SIL Plus export (zip or files with `EXPORT.TXT`), Sintesi
//!    XML, Access databases / workbooks / CSV exports (zipped or not, zips nested up to
//!    three deep), or national 1546 documents. Every record must belong to the sender's
//!    CPI; the others are rejected with `pec.cpi`.
//!
//! Provenance: system `pec`, origin `<input>#<identificativo>/<attachment>`, position
//! the position inside the attachment.

#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod daticert;
pub mod dispatch;
pub mod envelope;
pub mod mailbox;

pub use daticert::DatiCert;
pub use envelope::{Class, Envelope, EnvelopeError, Trust};

use silgate_core::source::{Emit, ReadSummary, Rejection, Source, SourceError, SourceItem};
use silgate_core::{Position, Provenance, SourceSystem};
use std::collections::BTreeMap;
use std::sync::Arc;

/// What the adapter needs besides the message.
#[derive(Debug)]
pub struct PecConfig {
    /// The providers' certificates.
    pub trust: Trust,
    /// Certified sender address (lower case) -> the CPI code it may send for.
    pub senders: BTreeMap<String, String>,
    /// Whether anomaly envelopes (the original came by ordinary mail) are ingested.
    pub accept_anomalies: bool,
    /// Largest attachment (and largest unpacked entry) read.
    pub max_attachment_bytes: u64,
    /// Largest message read.
    pub max_message_bytes: u64,
    /// What an attached export may make its reader hold (workbook grids and parts,
    /// join indexes): the gateway's `[limits]`.
    pub limits: silgate_source_tabular::Limits,
}

impl PecConfig {
    /// A config with the default limits (64 MiB per attachment, 256 MiB per message).
    pub fn new(trust: Trust, senders: BTreeMap<String, String>) -> Self {
        Self { trust, senders, accept_anomalies: false, max_attachment_bytes: 64 << 20, max_message_bytes: 256 << 20, limits: silgate_source_tabular::Limits::default() }
    }
}

/// One PEC message as a source.
#[derive(Debug)]
pub struct PecMessage {
    raw: Vec<u8>,
    origin: String,
    config: Arc<PecConfig>,
    envelope: Option<Envelope>,
}

impl PecMessage {
    /// A message (raw RFC 5322 bytes) named `origin` (file or mailbox/UID).
    pub fn new(raw: Vec<u8>, origin: impl Into<String>, config: Arc<PecConfig>) -> Self {
        Self { raw, origin: origin.into(), config, envelope: None }
    }

    /// A message whose envelope the caller has already opened (the mailbox path opens
    /// it first, for the audit): its signature is not verified a second time.
    pub fn opened(raw: Vec<u8>, origin: impl Into<String>, config: Arc<PecConfig>, envelope: Envelope) -> Self {
        Self { raw, origin: origin.into(), config, envelope: Some(envelope) }
    }

    /// The envelope once read (class, daticert), for the audit and the mailbox path.
    pub fn envelope(&self) -> Option<&Envelope> {
        self.envelope.as_ref()
    }

    fn reject(&self, sum: &mut ReadSummary, emit: &mut Emit<'_>, rule: &str, message: String) {
        let prov = Provenance::new(SourceSystem::Pec, &self.origin, Position::MimePart("envelope".into()));
        let _ = sum.emit(emit, SourceItem::Rejected(Rejection::one(prov, "envelope", rule, message)));
    }
}

impl Source for PecMessage {
    fn system(&self) -> SourceSystem {
        SourceSystem::Pec
    }

    fn read(&mut self, emit: &mut Emit<'_>) -> Result<ReadSummary, SourceError> {
        let mut sum = ReadSummary::default();
        if self.raw.len() as u64 > self.config.max_message_bytes {
            self.reject(&mut sum, emit, "pec.size", format!("the message is larger than {} MiB", self.config.max_message_bytes >> 20));
            return Ok(sum);
        }
        let env = match self.envelope.clone().map_or_else(|| envelope::open(&self.raw, &self.config.trust), Ok) {
            Ok(e) => e,
            Err(e) => {
                self.reject(&mut sum, emit, e.rule, e.message);
                return Ok(sum);
            }
        };
        self.envelope = Some(env.clone());
        let id = env.daticert.as_ref().map(|d| d.identificativo.clone()).unwrap_or_default();
        match env.class.clone() {
            Some(Class::Receipt(t)) => {
                self.reject(&mut sum, emit, "pec.receipt", format!("a PEC receipt ({t}) for message {id}: audited, not ingested"));
                return Ok(sum);
            }
            Some(Class::NotPec) | None => {
                self.reject(&mut sum, emit, "pec.not-pec", "not a PEC message (no X-Trasporto or X-Ricevuta header)".into());
                return Ok(sum);
            }
            Some(Class::Anomaly) if !self.config.accept_anomalies => {
                self.reject(&mut sum, emit, "pec.anomaly", "an anomaly envelope: the original came by ordinary mail (accept_anomalies is off)".into());
                return Ok(sum);
            }
            Some(Class::Anomaly | Class::Transport) => {}
        }
        let Some(dc) = env.daticert.as_ref() else {
            self.reject(&mut sum, emit, "pec.daticert", "no daticert.xml".into());
            return Ok(sum);
        };
        let sender = dc.mittente.trim().to_ascii_lowercase();
        let Some(cpi) = self.config.senders.get(&sender).cloned() else {
            self.reject(&mut sum, emit, "pec.sender", "the certified sender is not on the allow-list of CPI addresses".into());
            return Ok(sum);
        };
        let postacert = env.postacert.clone().unwrap_or_default();
        let base = format!("{}#{}", self.origin, if id.is_empty() { env.message_id.clone() } else { id });
        dispatch::attachments(&postacert, &base, &cpi, &self.config, &mut sum, emit)?;
        Ok(sum)
    }
}

#[cfg(test)]
mod tests;
