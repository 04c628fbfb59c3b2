//! Anchors: the signed head of every chain, kept where the database's owner cannot
//! rewrite it.
//!
//! The chain makes an edit, an insertion or a deletion visible, but whoever owns the
//! database can drop the append-only triggers and write a whole new chain that verifies.
//! An anchor is a line `{instance, seq, hash, at_ms, key, sig}`: the head of one chain at
//! a moment, signed with the region's anchor key (Ed25519). Appended now and then to a
//! file on another volume (or host), the lines pin the chain: a rewritten chain no
//! longer has, at an anchored `seq`, the anchored hash ([`check`]).
//!
//! The lines are checked against the key of the file's first line: a line signed by
//! another key is reported (a forged line, or a key that was replaced); the report says
//! which key that is ([`AnchorReport::key`]), for the operator to compare with the one
//! the region keeps on record. [`check`] proves the chain's prefix up to each anchored
//! entry only together with the chain walk ([`crate::AuditLog::verify`]), which
//! recomputes every hash.

use crate::{AuditError, AuditLog};
use ring::signature::{self, Ed25519KeyPair, KeyPair as _};

/// Errors of the anchor key.
#[derive(Debug, thiserror::Error)]
pub enum AnchorError {
    /// The key file does not hold an Ed25519 key (PKCS#8).
    #[error("not an Ed25519 key (PKCS#8)")]
    BadKey,
    /// The system gave no random bytes for a new key.
    #[error("the operating system gave no random bytes for a new anchor key")]
    NoRandom,
}

/// The region's anchor key.
pub struct AnchorKey(Ed25519KeyPair);

impl std::fmt::Debug for AnchorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnchorKey").field("public", &self.public_hex()).finish_non_exhaustive()
    }
}

impl AnchorKey {
    /// A new key, as the PKCS#8 document to keep (owner-only) and read back with
    /// [`AnchorKey::from_pkcs8`].
    pub fn generate() -> Result<Vec<u8>, AnchorError> {
        let rng = ring::rand::SystemRandom::new();
        Ed25519KeyPair::generate_pkcs8(&rng).map(|d| d.as_ref().to_vec()).map_err(|_| AnchorError::NoRandom)
    }

    /// The key in a PKCS#8 document.
    pub fn from_pkcs8(der: &[u8]) -> Result<Self, AnchorError> {
        Ed25519KeyPair::from_pkcs8(der).map(Self).map_err(|_| AnchorError::BadKey)
    }

    /// The public key, hex: what every anchor line carries and is checked with.
    pub fn public_hex(&self) -> String {
        hex::encode(self.0.public_key().as_ref())
    }
}

/// One chain's head at a moment, signed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Anchor {
    /// The chain (the instance's name).
    pub instance: String,
    /// The head's sequence number.
    pub seq: i64,
    /// The head entry's hash.
    pub hash: String,
    /// When it was anchored (Unix milliseconds).
    pub at_ms: i64,
    /// The signer's public key (hex).
    pub key: String,
    /// The Ed25519 signature (hex) over the fields above.
    pub sig: String,
}

impl Anchor {
    /// The head (`instance`, `seq`, `hash`) anchored at `at_ms`, signed with `key`.
    pub fn signed(key: &AnchorKey, instance: &str, seq: i64, hash: &str, at_ms: i64) -> Self {
        let mut a = Self { instance: instance.to_string(), seq, hash: hash.to_string(), at_ms, key: key.public_hex(), sig: String::new() };
        a.sig = hex::encode(key.0.sign(&a.message()).as_ref());
        a
    }

    /// The bytes signed: every field but the signature, length-prefixed.
    fn message(&self) -> Vec<u8> {
        let mut m = b"silgate audit anchor v1".to_vec();
        for p in [self.instance.as_bytes(), self.seq.to_string().as_bytes(), self.hash.as_bytes(), self.at_ms.to_string().as_bytes(), self.key.as_bytes()] {
            m.extend_from_slice(&(p.len() as u64).to_be_bytes());
            m.extend_from_slice(p);
        }
        m
    }

    /// True when the signature is the line's key's over the line's fields.
    pub fn signature_holds(&self) -> bool {
        let (Ok(key), Ok(sig)) = (hex::decode(&self.key), hex::decode(&self.sig)) else { return false };
        signature::UnparsedPublicKey::new(&signature::ED25519, key).verify(&self.message(), &sig).is_ok()
    }

    /// The anchor as one JSON line (without its newline).
    pub fn line(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// The heads of every chain of `log` now, signed.
pub async fn heads(log: &AuditLog, key: &AnchorKey, at_ms: i64) -> Result<Vec<Anchor>, AuditError> {
    Ok(log.heads().await?.into_iter().map(|(instance, seq, hash)| Anchor::signed(key, &instance, seq, &hash, at_ms)).collect())
}

/// The longest anchor line read; the rest of a longer one is skipped (it is reported
/// as not an anchor).
pub const MAX_LINE_BYTES: usize = 4096;

/// What is wrong with one anchor line (`line`: its number in the file, from 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnchorProblem {
    /// The file holds no anchor line: it proves nothing.
    Empty,
    /// The file could not be read to its end.
    Unread {
        /// Why (the operating system's error).
        why: String,
    },
    /// Not an anchor.
    Unreadable {
        /// Line number.
        line: usize,
    },
    /// Its signature does not hold.
    BadSignature {
        /// Line number.
        line: usize,
    },
    /// A line a crash cut short (it does not end its object), later ended by the next
    /// anchor: reported, not a failure.
    Torn {
        /// Line number.
        line: usize,
    },
    /// Signed by another key than the file's first line.
    OtherKey {
        /// Line number.
        line: usize,
    },
    /// The chain has no entry at the anchored `seq` any more: entries were removed.
    Missing {
        /// Line number.
        line: usize,
        /// The chain.
        instance: String,
        /// The anchored sequence number.
        seq: i64,
    },
    /// The entry at the anchored `seq` has another hash: the chain was rewritten.
    Rewritten {
        /// Line number.
        line: usize,
        /// The chain.
        instance: String,
        /// The anchored sequence number.
        seq: i64,
    },
}

impl std::fmt::Display for AnchorProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Empty => f.write_str("the anchor file holds no anchor: it proves nothing"),
            Self::Unread { why } => write!(f, "the anchor file could not be read to its end: {why}"),
            Self::Unreadable { line } => write!(f, "anchor line {line}: not an anchor"),
            Self::BadSignature { line } => write!(f, "anchor line {line}: its signature does not hold (edited or forged)"),
            Self::Torn { line } => write!(f, "anchor line {line}: cut short by a crash while it was written (not a failure)"),
            Self::OtherKey { line } => write!(f, "anchor line {line}: signed by another key than the file's first line"),
            // The instance comes from the file: quoted, so no control character reaches a terminal.
            Self::Missing { line, instance, seq } => write!(f, "anchor line {line}: {instance:?}#{seq} is anchored but the chain has no such entry: entries were removed"),
            Self::Rewritten { line, instance, seq } => write!(f, "anchor line {line}: {instance:?}#{seq} has another hash than anchored: the chain was rewritten"),
        }
    }
}

/// What [`check`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AnchorReport {
    /// Anchor lines read.
    pub lines: usize,
    /// Lines whose head the chain still holds.
    pub holding: usize,
    /// Every problem, in line order.
    pub problems: Vec<AnchorProblem>,
    /// The key the lines are checked against (the first line's), hex.
    pub key: Option<String>,
    /// The chains of the log with no anchor in the file: (instance, head seq).
    pub unanchored: Vec<(String, i64)>,
}

impl AnchorReport {
    /// True when every line (but those a crash cut short) is an anchor signed by the
    /// first line's key whose head the chain still holds.
    pub fn is_ok(&self) -> bool {
        self.problems.iter().all(|p| matches!(p, AnchorProblem::Torn { .. }))
    }
}

/// Checks the anchor lines read from `input` (a file) against `log`: each signed by the
/// first line's key, and the chain holding at each anchored `seq` the anchored hash.
/// Blank lines are skipped; a line is read up to [`MAX_LINE_BYTES`]; a file with no
/// anchor is a problem; a chain of the log that no line anchors is listed.
pub async fn check(log: &AuditLog, input: impl std::io::BufRead) -> Result<AnchorReport, AuditError> {
    let mut report = AnchorReport::default();
    let mut pinned: Option<String> = None;
    let mut asked = Vec::new();
    let mut lines = Lines { input, n: 0 };
    loop {
        let (line, raw) = match lines.next() {
            Ok(Some(l)) => l,
            Ok(None) => break,
            Err(e) => {
                report.problems.push(AnchorProblem::Unread { why: e.to_string() });
                break;
            }
        };
        let Some(raw) = raw else {
            report.lines += 1;
            report.problems.push(AnchorProblem::Unreadable { line });
            continue;
        };
        if raw.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        report.lines += 1;
        let Ok(a) = serde_json::from_slice::<Anchor>(&raw) else {
            // An anchor's line starts its object and, whole, ends it: one that starts
            // and stops short is what a crash during the write leaves.
            let torn = raw.first() == Some(&b'{') && raw.trim_ascii_end().last() != Some(&b'}');
            report.problems.push(if torn { AnchorProblem::Torn { line } } else { AnchorProblem::Unreadable { line } });
            continue;
        };
        if !a.signature_holds() {
            report.problems.push(AnchorProblem::BadSignature { line });
            continue;
        }
        match &pinned {
            None => pinned = Some(a.key.clone()),
            Some(k) if *k != a.key => {
                report.problems.push(AnchorProblem::OtherKey { line });
                continue;
            }
            Some(_) => {}
        }
        asked.push((line, a));
    }
    // Lines that are all torn or unreadable prove nothing either.
    if asked.is_empty() && report.problems.iter().all(|p| matches!(p, AnchorProblem::Torn { .. })) {
        report.problems.push(AnchorProblem::Empty);
    }
    let anchored: std::collections::HashSet<String> = asked.iter().map(|(_, a)| a.instance.clone()).collect();
    report.unanchored = log.heads().await?.into_iter().filter(|(i, _, _)| !anchored.contains(i)).map(|(i, seq, _)| (i, seq)).collect();
    report.key = pinned;
    let found = log.hashes_at(asked.iter().map(|(_, a)| (a.instance.clone(), a.seq)).collect()).await?;
    for ((line, a), stored) in asked.into_iter().zip(found) {
        match stored {
            Some(h) if h == a.hash => report.holding += 1,
            Some(_) => report.problems.push(AnchorProblem::Rewritten { line, instance: a.instance, seq: a.seq }),
            None => report.problems.push(AnchorProblem::Missing { line, instance: a.instance, seq: a.seq }),
        }
    }
    report.problems.sort_by_key(|p| match p {
        AnchorProblem::Empty | AnchorProblem::Unread { .. } => usize::MAX,
        AnchorProblem::Unreadable { line } | AnchorProblem::BadSignature { line } | AnchorProblem::OtherKey { line } | AnchorProblem::Torn { line } => *line,
        AnchorProblem::Missing { line, .. } | AnchorProblem::Rewritten { line, .. } => *line,
    });
    Ok(report)
}

/// The key of the first anchor line of `input` (what later lines must be signed by),
/// if it has one.
pub fn first_key(input: impl std::io::BufRead) -> std::io::Result<Option<String>> {
    let mut lines = Lines { input, n: 0 };
    while let Some((_, raw)) = lines.next()? {
        if let Some(a) = raw.and_then(|r| serde_json::from_slice::<Anchor>(&r).ok()).filter(Anchor::signature_holds) {
            return Ok(Some(a.key));
        }
    }
    Ok(None)
}

/// Lines of at most [`MAX_LINE_BYTES`]: `(number, Some(bytes))`, or `None` for a longer
/// one (the rest of it skipped).
struct Lines<R> {
    input: R,
    n: usize,
}

impl<R: std::io::BufRead> Lines<R> {
    fn next(&mut self) -> std::io::Result<Option<(usize, Option<Vec<u8>>)>> {
        let mut buf = Vec::new();
        let mut over = false;
        loop {
            let chunk = self.input.fill_buf()?;
            if chunk.is_empty() {
                if buf.is_empty() && !over {
                    return Ok(None);
                }
                break;
            }
            let (take, done) = match chunk.iter().position(|&b| b == b'\n') {
                Some(i) => (i + 1, true),
                None => (chunk.len(), false),
            };
            if !over {
                let room = MAX_LINE_BYTES.saturating_sub(buf.len());
                let body = &chunk[..if done { take - 1 } else { take }];
                if body.len() > room {
                    over = true;
                    buf.clear();
                } else {
                    buf.extend_from_slice(body);
                }
            }
            self.input.consume(take);
            if done {
                break;
            }
        }
        self.n += 1;
        Ok(Some((self.n, (!over).then_some(buf))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Event, NewEntry};

    fn entry(n: u64) -> NewEntry {
        NewEntry::now(Event::Deduplicated { count: n, why: crate::SeenAgain::Unchanged, at: None, receipt: None }, None, None, None)
    }

    #[tokio::test]
    async fn given_a_chain_rewritten_whole_its_anchor_should_catch_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.db");
        let log = AuditLog::sqlite(&path).await.unwrap();
        log.append("gw", (1..=3).map(entry).collect()).await.unwrap();
        let key = AnchorKey::from_pkcs8(&AnchorKey::generate().unwrap()).unwrap();
        let lines: String = heads(&log, &key, 1).await.unwrap().iter().map(|a| a.line() + "\n").collect();
        let ok = check(&log, lines.as_bytes()).await.unwrap();
        assert_eq!((ok.lines, ok.holding, ok.is_ok()), (1, 1, true), "{ok:?}");
        assert_eq!(ok.key.as_deref(), Some(key.public_hex().as_str()));
        assert_eq!(first_key(lines.as_bytes()).unwrap(), ok.key);
        // More entries later: the anchor still holds (it pins a prefix).
        log.append("gw", vec![entry(4)]).await.unwrap();
        assert!(check(&log, lines.as_bytes()).await.unwrap().is_ok());
        // A chain no line anchors is listed; an empty file proves nothing.
        log.append("gw2", vec![entry(5)]).await.unwrap();
        assert_eq!(check(&log, lines.as_bytes()).await.unwrap().unanchored, [("gw2".to_string(), 1)]);
        assert_eq!(check(&log, &b"\n\n"[..]).await.unwrap().problems, [AnchorProblem::Empty]);

        // The database's owner drops the protection and writes a new chain that
        // verifies on its own.
        drop(log);
        {
            let c = rusqlite::Connection::open(&path).unwrap();
            c.execute_batch("DROP TRIGGER IF EXISTS audit_no_update; DROP TRIGGER IF EXISTS audit_no_delete; DELETE FROM audit; DELETE FROM audit_heads;").unwrap();
        }
        let log = AuditLog::sqlite(&path).await.unwrap();
        log.append("gw", (10..=13).map(entry).collect()).await.unwrap();
        assert!(log.verify().await.unwrap().is_ok(), "the rewritten chain verifies on its own");
        let caught = check(&log, lines.as_bytes()).await.unwrap();
        assert_eq!(caught.problems, [AnchorProblem::Rewritten { line: 1, instance: "gw".into(), seq: 3 }], "{caught:?}");
        assert!(caught.problems[0].to_string().contains("\"gw\"#3"));

        // A truncated chain, a forged line, another key, a line that is not an anchor.
        let mut forged: Anchor = serde_json::from_str(lines.trim()).unwrap();
        forged.seq = 99;
        let other = AnchorKey::from_pkcs8(&AnchorKey::generate().unwrap()).unwrap();
        let long = "x".repeat(MAX_LINE_BYTES + 10);
        let text = format!("{}\n{}\n{}\nnot json\n{long}\n\u{ff}\n", Anchor::signed(&key, "gw", 99, "h", 2).line(), forged.line(), Anchor::signed(&other, "gw", 1, "h", 3).line());
        let mut bytes = text.into_bytes();
        // A byte that is not UTF-8 is a line that is not an anchor, not an unreadable file.
        bytes.extend_from_slice(&[0xff, b'\n']);
        bytes.extend_from_slice(b"{\"instance\":\"gw\",\"se\n");
        let r = check(&log, bytes.as_slice()).await.unwrap();
        assert_eq!(
            r.problems,
            [
                AnchorProblem::Missing { line: 1, instance: "gw".into(), seq: 99 },
                AnchorProblem::BadSignature { line: 2 },
                AnchorProblem::OtherKey { line: 3 },
                AnchorProblem::Unreadable { line: 4 },
                AnchorProblem::Unreadable { line: 5 },
                AnchorProblem::Unreadable { line: 6 },
                AnchorProblem::Unreadable { line: 7 },
                AnchorProblem::Torn { line: 8 },
            ]
        );
        // A torn line alone is not a failure; a reader of 3 bytes at a time reads the same.
        let torn = format!("{lines}{{\"instance\":\"gw\"\n");
        let r = check(&log, std::io::BufReader::with_capacity(3, torn.as_bytes())).await.unwrap();
        assert!(r.problems.contains(&AnchorProblem::Torn { line: 2 }), "{r:?}");
        assert!(!format!("{key:?}").is_empty());
    }
}
