//! Keyed hashes: what the index stores of a business key (a fiscal code with its CPI)
//! is an HMAC-SHA-256 under the region's secret, so that knowing a fiscal code is not
//! enough to confirm it is in the index, the queue or the audit.
//!
//! The secret itself is the binary's to keep (a file, created at first start
//! owner-only); this module only uses it. [`Keyer::fingerprint`] is what the index keeps
//! to tell, at every start, that it is opened under the secret it was keyed with.

use ring::hmac;

/// The region's secret, ready to hash with. Its `Debug` shows the fingerprint only.
#[derive(Clone)]
pub struct Keyer {
    key: hmac::Key,
    fingerprint: String,
}

impl std::fmt::Debug for Keyer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyer").field("fingerprint", &self.fingerprint).finish_non_exhaustive()
    }
}

/// The label hashed to make a secret's fingerprint (never a key's or a record's part).
const FINGERPRINT_LABEL: &[u8] = b"silgate: fingerprint of the region's secret";

impl Keyer {
    /// A keyer over `secret` (the bytes of the region's secret file, decoded).
    pub fn new(secret: &[u8]) -> Self {
        let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
        let fingerprint = hex::encode(&hmac::sign(&key, FINGERPRINT_LABEL).as_ref()[..16]);
        Self { key, fingerprint }
    }

    /// Lowercase hex of HMAC-SHA-256 over length-prefixed parts (so that no two
    /// different lists of parts hash alike).
    pub fn hash(&self, parts: &[&[u8]]) -> String {
        let mut ctx = hmac::Context::with_key(&self.key);
        for p in parts {
            ctx.update(&(p.len() as u64).to_be_bytes());
            ctx.update(p);
        }
        hex::encode(ctx.sign().as_ref())
    }

    /// The first 16 bytes (hex) of the HMAC of a fixed label: what tells one secret
    /// from another without revealing either.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The identity of a version of the record `business_key` read from `system`,
    /// whose canonical content hashes to `content` (`silgate_std1546::code::
    /// content_hash`): every part keyed.
    pub fn identity(&self, system: &str, business_key: &str, content: &[u8; 32]) -> crate::Identity {
        crate::Identity {
            message_id: self.hash(&[b"message", system.as_bytes(), business_key.as_bytes(), content]),
            key_hash: self.hash(&[b"key", business_key.as_bytes()]),
            content_hash: self.hash(&[b"content", content]),
        }
    }

    /// The keyed hash of a business key alone (what [`Keyer::identity`] puts in
    /// `key_hash`).
    pub fn key_hash(&self, business_key: &str) -> String {
        self.hash(&[b"key", business_key.as_bytes()])
    }
}

/// The plain hash builds before dedup schema 4 kept of a business key (see
/// [`legacy_identity`]).
pub fn legacy_key_hash(legacy_business_key: &str) -> String {
    crate::sha256_hex(&[legacy_business_key.as_bytes()])
}

/// 32 bytes from the operating system's random source: a new region secret. `None`
/// when the system gives none.
pub fn new_secret() -> Option<[u8; 32]> {
    use ring::rand::SecureRandom as _;
    let mut b = [0u8; 32];
    ring::rand::SystemRandom::new().fill(&mut b).ok()?;
    Some(b)
}

/// The identity builds before dedup schema 4 gave the same version: plain SHA-256 over
/// the business key those builds used (`Record::legacy_business_key`), which is what an
/// index made by them holds. Used only to adopt such an index's rows
/// ([`crate::DedupIndex::adopt`]).
pub fn legacy_identity(system: &str, legacy_business_key: &str, content: &[u8; 32]) -> crate::Identity {
    let content_hash = hex::encode(content);
    crate::Identity {
        message_id: crate::sha256_hex(&[system.as_bytes(), legacy_business_key.as_bytes(), content_hash.as_bytes()]),
        key_hash: legacy_key_hash(legacy_business_key),
        content_hash,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_hashes_depend_on_the_secret_and_never_equal_the_plain_ones() {
        let a = Keyer::new(b"0123456789abcdef0123456789abcdef");
        let b = Keyer::new(b"another secret, another region..");
        let key = "cv:RSSMRA80A01H501U:CPI01";
        let content = [7u8; 32];
        let (ia, ib, plain) = (a.identity("sintesi", key, &content), b.identity("sintesi", key, &content), legacy_identity("sintesi", key, &content));
        assert_ne!(ia.key_hash, ib.key_hash);
        assert_ne!(ia.message_id, ib.message_id);
        assert_ne!(ia.key_hash, plain.key_hash);
        assert_ne!(ia.content_hash, plain.content_hash);
        assert_eq!(ia, a.identity("sintesi", key, &content), "the same secret gives the same identity");
        assert_eq!(ia.key_hash, a.key_hash(key));
        assert_eq!(plain.key_hash, crate::sha256_hex(&[key.as_bytes()]), "what builds before schema 4 stored");
        assert_ne!(a.fingerprint(), b.fingerprint());
        assert_eq!(a.fingerprint().len(), 32);
        assert!(!format!("{a:?}").contains("0123456789"), "Debug shows no secret");
        // Parts are length-prefixed: moving a byte between parts changes the hash.
        assert_ne!(a.hash(&[b"ab", b"c"]), a.hash(&[b"a", b"bc"]));
    }
}
