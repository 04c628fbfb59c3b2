//! The 25-character communication code (`codicecandidatura` / `codiceofferta`).
//!
//! Layout (the regional generator the standard's notes describe): region (2) + `000` +
//! year yy (2) + send mode (1, `2` = from a regional system) + module (1: `1` vacancy,
//! `2` CV) + type (1: `1` invio, `2` chiusura) + 15-digit progressive.
//!
//! A code is allocated once per version and reused on every retry. Allocation is behind
//! [`CodeAllocator`]: the translate path uses [`ContentAllocator`] (progressive derived
//! from the record's business key and content, so the same input always gives the same
//! file); the delivery path persists its progressive before the first send.

use sha2::{Digest, Sha256};
use silgate_core::{CommunicationKind, Record, RecordKind};

/// Builds a code from its parts; `None` if a part is out of range.
pub fn build(region: &str, year: i32, kind: RecordKind, comm: CommunicationKind, progressive: u64) -> Option<String> {
    let region_ok = region.len() == 2 && region.bytes().all(|b| b.is_ascii_digit());
    if !region_ok || progressive >= 1_000_000_000_000_000 {
        return None;
    }
    let module = match kind {
        RecordKind::Vacancy => '1',
        RecordKind::Cv => '2',
    };
    let typ = match comm {
        CommunicationKind::Send => '1',
        CommunicationKind::Closure => '2',
    };
    Some(format!("{region}000{:02}2{module}{typ}{progressive:015}", year.rem_euclid(100)))
}

/// Gives a record that has no communication code its code.
pub trait CodeAllocator {
    /// The code for `record` (which has `communication.code == None`).
    fn allocate(&mut self, record: &Record) -> Option<String>;
}

/// Derives the progressive from a hash of the business key and the canonical content
/// (provenance and codes excluded): deterministic, so translation is reproducible.
#[derive(Debug, Clone)]
pub struct ContentAllocator {
    /// The region's code in the ministry's table, two digits (`silgate_codes::Regions`).
    pub region: String,
}

/// The content hash of a record: SHA-256 over its canonical JSON without provenance
/// and without its own code. Two versions with the same content hash are the same.
pub fn content_hash(record: &Record) -> [u8; 32] {
    let mut r = record.clone();
    *r.provenance_mut() = Default::default();
    r.communication_mut().code = None;
    let json = serde_json::to_vec(&r).unwrap_or_default();
    Sha256::digest(&json).into()
}

impl CodeAllocator for ContentAllocator {
    fn allocate(&mut self, record: &Record) -> Option<String> {
        self.allocate_hashed(record, &content_hash(record))
    }
}

impl ContentAllocator {
    /// [`CodeAllocator::allocate`] for a record whose [`content_hash`] the caller has
    /// computed already (it also names the record version: hashed once).
    pub fn allocate_hashed(&self, record: &Record, content: &[u8; 32]) -> Option<String> {
        let mut h = Sha256::new();
        h.update(record.business_key().as_bytes());
        h.update(content);
        let d = h.finalize();
        let mut n = [0u8; 8];
        n.copy_from_slice(&d[..8]);
        let progressive = u64::from_be_bytes(n) % 1_000_000_000_000_000;
        let year = match record {
            Record::Cv(c) => c.system.inserted_at.date().year(),
            Record::Vacancy(v) => v.publication.published_at.date().year(),
        };
        build(&self.region, year, record.kind(), record.communication().kind, progressive)
    }
}
