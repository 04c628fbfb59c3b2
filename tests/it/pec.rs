//! PEC messages saved as `.eml`, through the real binary (`translate --source pec`):
//! envelopes signed by a test provider (rcgen + openssl S/MIME), each class and each
//! way a message can be wrong, and what must come of it.
#![allow(clippy::unwrap_used)]

use openssl::pkcs7::{Pkcs7, Pkcs7Flags};
use openssl::pkey::{PKey, Private};
use openssl::stack::Stack;
use openssl::x509::X509;
use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A PEC provider: its CA (what the gateway trusts) and its signing certificate.
pub(crate) struct Provider {
    pub(crate) ca_pem: String,
    cert: X509,
    key: PKey<Private>,
}

pub(crate) fn provider(name: &str) -> Provider {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, format!("{name} CA"));
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name.push(DnType::CommonName, format!("{name} firma PEC"));
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::EmailProtection];
    let cert = p.signed_by(&key, &issuer).unwrap();
    Provider { ca_pem: ca_cert.pem(), cert: X509::from_pem(cert.pem().as_bytes()).unwrap(), key: PKey::private_key_from_pem(key.serialize_pem().as_bytes()).unwrap() }
}

fn b64(bytes: &[u8]) -> String {
    let one = openssl::base64::encode_block(bytes);
    one.as_bytes().chunks(76).map(|c| String::from_utf8_lossy(c).into_owned()).collect::<Vec<_>>().join("\r\n")
}

/// The original message a CPI sends: text plus attachments (name, content type, bytes).
pub(crate) fn postacert(from: &str, attachments: &[(&str, &str, Vec<u8>)]) -> Vec<u8> {
    let mut m = format!(
        "From: {from}\r\nTo: silgate@pec.regione.example.it\r\nSubject: export\r\nMessage-ID: <orig-1@cpi.example.it>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"orig\"\r\n\r\n--orig\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\nIn allegato l'export.\r\n"
    );
    for (name, ctype, bytes) in attachments {
        m.push_str(&format!(
            "--orig\r\nContent-Type: {ctype}; name=\"{name}\"\r\nContent-Disposition: attachment; filename=\"{name}\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n",
            b64(bytes)
        ));
    }
    m.push_str("--orig--\r\n");
    m.into_bytes()
}

pub(crate) fn daticert(tipo: &str, mittente: &str, id: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<postacert tipo=\"{tipo}\" errore=\"nessuno\"><intestazione><mittente>{mittente}</mittente><destinatari tipo=\"certificato\">silgate@pec.regione.example.it</destinatari><risposte>{mittente}</risposte><oggetto>export</oggetto></intestazione><dati><gestore-emittente>Provider di prova</gestore-emittente><data zona=\"+0100\"><giorno>24/11/2026</giorno><ora>10:15:00</ora></data><identificativo>{id}</identificativo><msgid>&lt;orig-1@cpi.example.it&gt;</msgid></dati></postacert>\n"
    )
}

/// A signed PEC message: `headers` (X-Trasporto / X-Ricevuta ...) over a
/// multipart/signed of text + daticert.xml (+ postacert.eml).
pub(crate) fn envelope(p: &Provider, headers: &str, daticert: &str, postacert: Option<&[u8]>) -> Vec<u8> {
    let mut inner = format!(
        "Content-Type: multipart/mixed; boundary=\"inner\"\r\n\r\n--inner\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\nMessaggio di posta certificata.\r\n--inner\r\nContent-Type: application/xml; name=\"daticert.xml\"\r\nContent-Disposition: attachment; filename=\"daticert.xml\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n",
        b64(daticert.as_bytes())
    )
    .into_bytes();
    if let Some(eml) = postacert {
        inner.extend_from_slice(b"--inner\r\nContent-Type: message/rfc822; name=\"postacert.eml\"\r\nContent-Disposition: attachment; filename=\"postacert.eml\"\r\n\r\n");
        inner.extend_from_slice(eml);
        inner.extend_from_slice(b"\r\n");
    }
    inner.extend_from_slice(b"--inner--\r\n");
    let flags = Pkcs7Flags::DETACHED | Pkcs7Flags::BINARY;
    let p7 = Pkcs7::sign(&p.cert, &p.key, &Stack::new().unwrap(), &inner, flags).unwrap();
    let smime = p7.to_smime(&inner, flags).unwrap();
    let mut out = format!("{headers}\r\nMessage-ID: <env-{}@pec.example.it>\r\nSubject: POSTA CERTIFICATA: export\r\n", fastrand_id()).into_bytes();
    out.extend_from_slice(&smime);
    out
}

fn fastrand_id() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

const CPI_ADDR: &str = "cpi.bari@pec.example.it";
const OTHER_ADDR: &str = "cpi.altro@pec.example.it";

fn pec_config(dir: &Path, ca_pem: &str, max_attachment_mib: u64) -> PathBuf {
    std::fs::write(dir.join("provider-ca.pem"), ca_pem).unwrap();
    let cfg = dir.join("pec.toml");
    std::fs::write(
        &cfg,
        format!(
            "[pec]\nproviders = [\"provider-ca.pem\"]\nmax_attachment_mib = {max_attachment_mib}\n[pec.senders]\n\"{CPI_ADDR}\" = \"{}\"\n\"{OTHER_ADDR}\" = \"CPI999999\"\n",
            crate::generate::CPI
        ),
    )
    .unwrap();
    cfg
}

fn translate(cfg: &Path, out: &Path, inputs: &[PathBuf]) -> (i32, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_silgate"))
        .args(["translate", "--source", "pec", "--region", "16", "--today", "2026-11-24", "--pec-config"])
        .arg(cfg)
        .arg("--out")
        .arg(out)
        .args(inputs)
        .output()
        .unwrap();
    (o.status.code().unwrap_or(-1), String::from_utf8_lossy(&o.stderr).into_owned())
}

#[test]
fn given_saved_pec_messages_each_should_be_ingested_or_quarantined_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let good = provider("Gestore");
    let rogue = provider("Sconosciuto");
    let cfg = pec_config(dir.path(), &good.ca_pem, 1);
    let fixtures = root().join("tests/fixtures");
    let zip = std::fs::read(fixtures.join("silplus/valid.zip")).unwrap();
    let xlsx = std::fs::read(fixtures.join("access/export.xlsx")).unwrap();
    let transport = "X-Trasporto: posta-certificata";
    let mut msgs: Vec<(String, Vec<u8>, &str)> = Vec::new();
    let dc = |id: &str| daticert("posta-certificata", CPI_ADDR, id);
    msgs.push(("silplus".into(), envelope(&good, transport, &dc("id-1"), Some(&postacert(CPI_ADDR, &[("export.zip", "application/zip", zip.clone())]))), ""));
    msgs.push((
        "excel".into(),
        envelope(&good, transport, &dc("id-2"), Some(&postacert(CPI_ADDR, &[("export.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", xlsx.clone())]))),
        "",
    ));
    for t in ["accettazione", "non-accettazione", "presa-in-carico", "avvenuta-consegna", "errore-consegna", "preavviso-errore-consegna", "rilevazione-virus"] {
        msgs.push((format!("receipt-{t}"), envelope(&good, &format!("X-Ricevuta: {t}"), &daticert(t, CPI_ADDR, "id-r"), None), "pec.receipt"));
    }
    msgs.push((
        "anomaly".into(),
        envelope(&good, "X-Trasporto: errore", &daticert("errore", CPI_ADDR, "id-a"), Some(&postacert(CPI_ADDR, &[("export.zip", "application/zip", zip.clone())]))),
        "pec.anomaly",
    ));
    let mut tampered = envelope(&good, transport, &dc("id-t"), Some(&postacert(CPI_ADDR, &[("export.zip", "application/zip", zip.clone())])));
    let at = tampered.windows(8).position(|w| w == b"In alleg").unwrap();
    tampered[at] = b'i';
    msgs.push(("tampered".into(), tampered, "pec.signature"));
    msgs.push(("untrusted".into(), envelope(&rogue, transport, &dc("id-u"), Some(&postacert(CPI_ADDR, &[("export.zip", "application/zip", zip.clone())]))), "pec.untrusted"));
    msgs.push((
        "unknown-sender".into(),
        envelope(
            &good,
            transport,
            &daticert("posta-certificata", "chi@pec.example.it", "id-s"),
            Some(&postacert("chi@pec.example.it", &[("export.zip", "application/zip", zip.clone())])),
        ),
        "pec.sender",
    ));
    msgs.push((
        "other-cpi".into(),
        envelope(&good, transport, &daticert("posta-certificata", OTHER_ADDR, "id-o"), Some(&postacert(OTHER_ADDR, &[("export.zip", "application/zip", zip.clone())]))),
        "pec.cpi",
    ));
    msgs.push((
        "oversized".into(),
        envelope(&good, transport, &dc("id-b"), Some(&postacert(CPI_ADDR, &[("big.zip", "application/zip", vec![7u8; 2 << 20])]))),
        "pec.attachment-size",
    ));
    msgs.push(("plain".into(), b"From: a@example.it\r\nTo: b@example.it\r\nSubject: ciao\r\n\r\nnon PEC\r\n".to_vec(), "pec.not-pec"));
    msgs.push(("garbage".into(), vec![0xff, 0xfe, 0x00, 0x01], "pec.not-pec"));
    msgs.push(("broken-daticert".into(), envelope(&good, transport, "<<< not xml", Some(&postacert(CPI_ADDR, &[]))), "pec.daticert"));
    let mut files = Vec::new();
    for (name, bytes, _) in &msgs {
        let p = dir.path().join(format!("{name}.eml"));
        std::fs::write(&p, bytes).unwrap();
        files.push(p);
    }
    let out = dir.path().join("out");
    let (code, err) = translate(&cfg, &out, &files);
    assert_eq!(code, 0, "{err}");
    let q: Vec<Value> = std::fs::read_to_string(out.join("quarantine.jsonl")).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    for (name, _, rule) in &msgs {
        let lines: Vec<&Value> = q.iter().filter(|l| l["position"].as_str().unwrap_or("").contains(&format!("/{name}.eml"))).collect();
        if rule.is_empty() {
            assert!(lines.is_empty(), "{name}: {lines:?}");
        } else {
            assert!(!lines.is_empty(), "{name}: no quarantine line");
            assert!(lines.iter().all(|l| l["rule"] == *rule), "{name}: want {rule}: {lines:?}");
            assert!(lines.iter().all(|l| l["source"] == "pec"), "{name}");
        }
    }
    // Both good envelopes gave every record of their export: the same 18 documents
    // (the SIL Plus export and the workbook hold the same data).
    let docs = std::fs::read_dir(&out).unwrap().filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "xml")).count();
    assert_eq!(docs, 18, "{err}");
    // The CPI that sent another CPI's records: every record rejected.
    assert_eq!(q.iter().filter(|l| l["rule"] == "pec.cpi").count(), 18);
}
