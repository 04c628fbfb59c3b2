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

/// A PEC provider: its CA (what the gateway trusts), its signing certificate (pinned)
/// and the CA's issuer, to make more certificates and CRLs with.
pub(crate) struct Provider {
    pub(crate) ca_pem: String,
    pub(crate) signer_pem: String,
    cert: X509,
    key: PKey<Private>,
    issuer: std::rc::Rc<Issuer<'static, KeyPair>>,
}

pub(crate) fn provider(name: &str) -> Provider {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, format!("{name} CA"));
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = std::rc::Rc::new(Issuer::new(ca, ca_key));
    let mut p = signing_params(name, 1);
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::EmailProtection];
    let (signer_pem, cert, key) = sign_cert(&p, &issuer);
    Provider { ca_pem: ca_cert.pem(), signer_pem, cert, key, issuer }
}

/// A signing certificate's parameters: `name`'s, serial `serial`, valid 2020-2099.
fn signing_params(name: &str, serial: u64) -> CertificateParams {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name.push(DnType::CommonName, format!("{name} firma PEC {serial}"));
    p.serial_number = Some(rcgen::SerialNumber::from(serial));
    p.not_before = rcgen::date_time_ymd(2020, 1, 1);
    p.not_after = rcgen::date_time_ymd(2099, 1, 1);
    p
}

fn sign_cert(p: &CertificateParams, issuer: &Issuer<'static, KeyPair>) -> (String, X509, PKey<Private>) {
    let key = KeyPair::generate().unwrap();
    let cert = p.signed_by(&key, issuer).unwrap();
    (cert.pem(), X509::from_pem(cert.pem().as_bytes()).unwrap(), PKey::private_key_from_pem(key.serialize_pem().as_bytes()).unwrap())
}

impl Provider {
    /// The same provider signing with another certificate of its CA.
    fn with_signer(&self, p: &CertificateParams) -> Provider {
        let (signer_pem, cert, key) = sign_cert(p, &self.issuer);
        Provider { ca_pem: self.ca_pem.clone(), signer_pem, cert, key, issuer: self.issuer.clone() }
    }

    /// The CA's CRL revoking `serials`, next update on `next_update`.
    fn crl(&self, serials: &[u64], next_update: (i32, u8, u8)) -> String {
        let params = rcgen::CertificateRevocationListParams {
            this_update: rcgen::date_time_ymd(2020, 1, 1),
            next_update: rcgen::date_time_ymd(next_update.0, next_update.1, next_update.2),
            crl_number: rcgen::SerialNumber::from(1u64),
            issuing_distribution_point: None,
            revoked_certs: serials
                .iter()
                .map(|s| rcgen::RevokedCertParams {
                    serial_number: rcgen::SerialNumber::from(*s),
                    revocation_time: rcgen::date_time_ymd(2020, 6, 1),
                    reason_code: Some(rcgen::RevocationReason::KeyCompromise),
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: rcgen::KeyIdMethod::Sha256,
        };
        params.signed_by(&self.issuer).unwrap().pem().unwrap()
    }
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

use crate::root;

const CPI_ADDR: &str = "cpi.bari@pec.example.it";
const OTHER_ADDR: &str = "cpi.altro@pec.example.it";

fn pec_config(dir: &Path, p: &Provider, max_attachment_mib: u64) -> PathBuf {
    pec_config_with(dir, p, max_attachment_mib, "")
}

/// A `[pec]` table trusting `p`'s CA and pinning its signer, with `extra` keys.
fn pec_config_with(dir: &Path, p: &Provider, max_attachment_mib: u64, extra: &str) -> PathBuf {
    std::fs::write(dir.join("provider-ca.pem"), &p.ca_pem).unwrap();
    std::fs::write(dir.join("provider-signer.pem"), &p.signer_pem).unwrap();
    let cfg = dir.join("pec.toml");
    std::fs::write(
        &cfg,
        format!(
            "[pec]\nproviders = [\"provider-ca.pem\"]\nsigners = [\"provider-signer.pem\"]\nmax_attachment_mib = {max_attachment_mib}\n{extra}\n[pec.senders]\n\"{CPI_ADDR}\" = \"{}\"\n\"{OTHER_ADDR}\" = \"CPI999999\"\n",
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
    let cfg = pec_config(dir.path(), &good, 1);
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
    if std::env::var_os("SILGATE_PEC_SEEDS").is_some() {
        // Seeds for the pec_envelope fuzz target (scripts/fuzz).
        let seeds = root().join("target/pec-seeds");
        std::fs::create_dir_all(&seeds).unwrap();
        for f in &files {
            std::fs::copy(f, seeds.join(f.file_name().unwrap())).unwrap();
        }
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

/// A private dovecot on loopback (DESIGN.md §8): its own config, Maildir and users in a
/// temporary folder, IMAP (plain, STARTTLS) and IMAPS with the test PKI's certificate.
pub(crate) struct Dovecot {
    dir: tempfile::TempDir,
    conf: PathBuf,
    pub(crate) imap: u16,
    pub(crate) imaps: u16,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Dovecot {
    pub(crate) fn start(pki: &Path) -> Self {
        use std::os::unix::fs::PermissionsExt;
        assert!(Path::new("/usr/sbin/dovecot").exists(), "dovecot is needed (scripts/test installs dovecot-imapd)");
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for sub in ["run", "mail", "home"] {
            std::fs::create_dir_all(d.join(sub)).unwrap();
        }
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(d.join("run"), std::fs::Permissions::from_mode(0o755)).unwrap();
        let st = Command::new("chown").args(["-R", "dovecot:dovecot"]).arg(d.join("mail")).arg(d.join("home")).status().unwrap();
        assert!(st.success());
        std::fs::write(d.join("users"), "silgate:{PLAIN}segreta\n").unwrap();
        let (imap, imaps) = (free_port(), free_port());
        let conf = d.join("dovecot.conf");
        std::fs::write(
            &conf,
            format!(
                "base_dir = {d}/run\nstate_dir = {d}/run/state\nlog_path = {d}/dovecot.log\nprotocols = imap\nlisten = 127.0.0.1\nssl = yes\nssl_cert = <{cert}\nssl_key = <{key}\n\
                 disable_plaintext_auth = no\nauth_mechanisms = plain login\nmail_location = maildir:{d}/mail/%u\nfirst_valid_uid = 100\ndefault_internal_user = dovecot\ndefault_login_user = dovenull\n\
                 passdb {{\n  driver = passwd-file\n  args = scheme=PLAIN username_format=%u {d}/users\n}}\nuserdb {{\n  driver = static\n  args = uid=dovecot gid=dovecot home={d}/home/%u\n}}\n\
                 service imap-login {{\n  chroot =\n  inet_listener imap {{\n    address = 127.0.0.1\n    port = {imap}\n  }}\n  inet_listener imaps {{\n    address = 127.0.0.1\n    port = {imaps}\n    ssl = yes\n  }}\n}}\nservice anvil {{\n  chroot =\n}}\n",
                d = d.display(),
                cert = pki.join("node.pem").display(),
                key = pki.join("node.key").display(),
            ),
        )
        .unwrap();
        let st = Command::new("/usr/sbin/dovecot").arg("-c").arg(&conf).status().unwrap();
        assert!(st.success(), "dovecot did not start: {}", std::fs::read_to_string(d.join("dovecot.log")).unwrap_or_default());
        let me = Self { dir, conf, imap, imaps };
        crate::delivery::wait_for("dovecot listening", std::time::Duration::from_secs(20), || std::net::TcpStream::connect(("127.0.0.1", imaps)).is_ok());
        me
    }

    fn tool(&self, args: &[&str], files: &[PathBuf]) -> String {
        let o = Command::new("python3")
            .arg(root().join("tests/fixtures/peers/imap_tool.py"))
            .arg(self.imap.to_string())
            .args(["silgate", "segreta"])
            .args(args)
            .args(files)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    }

    pub(crate) fn append(&self, folder: &str, messages: &[Vec<u8>]) {
        let files: Vec<PathBuf> = messages
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let p = self.dir.path().join(format!("seed-{}-{i}.eml", fastrand_id()));
                std::fs::write(&p, m).unwrap();
                p
            })
            .collect();
        self.tool(&["append", folder], &files);
    }

    pub(crate) fn append_seen(&self, folder: &str, messages: &[Vec<u8>]) {
        let files: Vec<PathBuf> = messages
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let p = self.dir.path().join(format!("seen-{}-{i}.eml", fastrand_id()));
                std::fs::write(&p, m).unwrap();
                p
            })
            .collect();
        self.tool(&["append-seen", folder], &files);
    }

    pub(crate) fn count(&self, folder: &str) -> usize {
        self.tool(&["count", folder], &[]).parse().unwrap_or(0)
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        let _ = Command::new("/usr/sbin/dovecot").arg("-c").arg(&self.conf).arg("stop").status();
    }
}

/// A gateway config with a PEC mailbox source on `dovecot` (IMAPS) and the [pec] table.
fn mailbox_gateway(dir: &Path, pki: &Path, base: &str, dovecot: &Dovecot, provider: &Provider) -> PathBuf {
    mailbox_gateway_with(dir, pki, base, dovecot.imaps, "imaps", provider)
}

fn mailbox_gateway_with(dir: &Path, pki: &Path, base: &str, port: u16, security: &str, provider: &Provider) -> PathBuf {
    std::fs::write(dir.join("provider-ca.pem"), &provider.ca_pem).unwrap();
    std::fs::write(dir.join("provider-signer.pem"), &provider.signer_pem).unwrap();
    let extra = format!(
        "[[sources]]\nkind = \"pec\"\npoll_secs = 1\n[sources.imap]\nhost = \"127.0.0.1\"\nport = {port}\nsecurity = \"{security}\"\nuser = \"silgate\"\npassword = \"segreta\"\nca = \"{}\"\n\n\
         [pec]\nproviders = [\"provider-ca.pem\"]\nsigners = [\"provider-signer.pem\"]\nmax_attachment_mib = 1\n[pec.senders]\n\"{CPI_ADDR}\" = \"{}\"\n\"{OTHER_ADDR}\" = \"CPI999999\"\n[queue]\nvisibility_timeout_secs = 3\n",
        pki.join("ca.pem").display(),
        crate::generate::CPI
    );
    crate::delivery::gateway(dir, pki, base, &extra)
}

/// National documents of workers `ids`, translated from a generated SIL Plus export for
/// the gateway's region (14, Puglia: the codes they name as replaced carry its prefix;
/// another region's would be refused as `code.foreign`).
fn national_docs(dir: &Path, ids: &[u32]) -> Vec<Vec<u8>> {
    let mut t = crate::generate::valid(0, 0);
    for i in ids {
        let (row, kids) = crate::generate::worker(*i);
        t.get_mut(&crate::generate::Entity::Lavoratori).unwrap().push(row);
        for (e, r) in kids {
            t.get_mut(&e).unwrap().push(r);
        }
    }
    let src = dir.join(format!("nat-{}", ids[0]));
    crate::generate::silplus(&src, &t);
    let out = dir.join(format!("nat-out-{}", ids[0]));
    let o = Command::new(env!("CARGO_BIN_EXE_silgate"))
        .args(["translate", "--source", "silplus", "--region", "14", "--today", "2026-11-24", "--out"])
        .arg(&out)
        .arg(&src)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut docs: Vec<PathBuf> = std::fs::read_dir(&out).unwrap().map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|x| x == "xml")).collect();
    docs.sort();
    docs.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

#[test]
fn given_a_pec_mailbox_run_should_ingest_envelopes_quarantine_the_rest_and_move_each_when_done() {
    use crate::delivery::{certs, node, totals, wait_for};
    use std::time::Duration;
    let dir = tempfile::tempdir().unwrap();
    let pki = certs(dir.path());
    let (_node, base) = node(dir.path(), &pki, &pki, "");
    let dovecot = Dovecot::start(&pki);
    let good = provider("Gestore");
    let rogue = provider("Sconosciuto");
    let fixtures = root().join("tests/fixtures");
    let zip = std::fs::read(fixtures.join("silplus/valid.zip")).unwrap();
    let xlsx = std::fs::read(fixtures.join("access/export.xlsx")).unwrap();
    let nat = national_docs(dir.path(), &[50, 51]);
    let transport = "X-Trasporto: posta-certificata";
    let dc = |id: &str| daticert("posta-certificata", CPI_ADDR, id);
    let mut msgs = vec![
        envelope(&good, transport, &dc("id-1"), Some(&postacert(CPI_ADDR, &[("export.zip", "application/zip", zip.clone())]))),
        envelope(&good, transport, &dc("id-2"), Some(&postacert(CPI_ADDR, &[("export.xlsx", "application/octet-stream", xlsx)]))),
        envelope(&good, transport, &dc("id-3"), Some(&postacert(CPI_ADDR, &[("cv-a.xml", "application/xml", nat[0].clone()), ("cv-b.xml", "application/xml", nat[1].clone())]))),
        envelope(&good, "X-Trasporto: errore", &daticert("errore", CPI_ADDR, "id-a"), Some(&postacert(CPI_ADDR, &[("export.zip", "application/zip", zip.clone())]))),
        envelope(&rogue, transport, &dc("id-u"), Some(&postacert(CPI_ADDR, &[("export.zip", "application/zip", zip.clone())]))),
        envelope(
            &good,
            transport,
            &daticert("posta-certificata", "chi@pec.example.it", "id-s"),
            Some(&postacert("chi@pec.example.it", &[("export.zip", "application/zip", zip.clone())])),
        ),
        envelope(&good, transport, &daticert("posta-certificata", OTHER_ADDR, "id-o"), Some(&postacert(OTHER_ADDR, &[("export.zip", "application/zip", zip.clone())]))),
        envelope(&good, transport, &dc("id-b"), Some(&postacert(CPI_ADDR, &[("big.zip", "application/zip", vec![7u8; 2 << 20])]))),
        b"From: a@example.it\r\nTo: silgate@example.it\r\nSubject: ciao\r\nMessage-ID: <plain@example.it>\r\n\r\nnon PEC\r\n".to_vec(),
    ];
    for t in silgate_source_pec::envelope::RECEIPTS {
        msgs.push(envelope(&good, &format!("X-Ricevuta: {t}"), &daticert(t, CPI_ADDR, "id-r"), None));
    }
    let mut tampered = envelope(&good, transport, &dc("id-t"), Some(&postacert(CPI_ADDR, &[("export.zip", "application/zip", zip)])));
    let at = tampered.windows(8).position(|w| w == b"In alleg").unwrap();
    tampered[at] = b'i';
    msgs.push(tampered);
    let total = msgs.len() + 1;
    dovecot.append("INBOX", &msgs);
    // One more, already marked read by another client (webmail): still taken.
    let seen_by_webmail = envelope(&good, transport, &dc("id-w"), Some(&postacert(CPI_ADDR, &[("cv.xml", "application/xml", nat[1].clone())])));
    dovecot.append_seen("INBOX", &[seen_by_webmail]);
    assert_eq!(dovecot.count("INBOX"), total);
    let cfg = mailbox_gateway(dir.path(), &pki, &base, &dovecot, &good);
    // At trace: no password, subject, body, attachment name or record content may
    // reach the log (item 6 of issue 15, the PEC path).
    let log = dir.path().join("trace.log");
    let gw = crate::delivery::run_at_trace(&cfg, &log);
    // SIL Plus export: 18 records, 3 of them closures of records never sent: 15. The
    // workbook holds the same records (known: nothing new). Two national documents.
    wait_for("every message processed", Duration::from_secs(90), || dovecot.count("silgate-processed") == total);
    wait_for("17 documents at the node", Duration::from_secs(60), || totals(&base, &pki, "accepted") == 17);
    assert_eq!(gw.term(), 0);
    assert_eq!(dovecot.count("INBOX"), 0);
    assert_eq!(totals(&base, &pki, "duplicates"), 0);
    let q = std::fs::read_to_string(dir.path().join("data/quarantine.jsonl")).unwrap();
    for rule in ["pec.anomaly", "pec.untrusted", "pec.sender", "pec.cpi", "pec.attachment-size", "pec.not-pec", "pec.receipt", "pec.signature", "closure.unknown-original"] {
        assert!(q.contains(&format!("\"rule\":\"{rule}\"")), "{rule} missing from quarantine");
    }
    assert_eq!(q.lines().filter(|l| l.contains("\"rule\":\"pec.receipt\"")).count(), 7);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("Silgate running") && text.contains("Shutting down"), "the log was captured");
    let chatty = text.lines().find(|l| {
        (l.contains("\"DEBUG\"") || l.contains("\"TRACE\"")) && ["async_imap", "imap_proto", "mail_parser", "rustls"].iter().any(|t| l.contains(&format!("\"target\":\"{t}")))
    });
    assert!(chatty.is_none(), "{}", chatty.unwrap_or_default());
    let national = String::from_utf8_lossy(&nat[0]).into_owned();
    let fiscal = national.split("codicefiscale>").nth(1).and_then(|r| r.split('<').next()).unwrap_or_default().to_string();
    assert_eq!(fiscal.len(), 16, "a fiscal code to look for");
    for secret in ["segreta", "ciao", "non PEC", "export.zip", "export.xlsx", "cv-a.xml", "big.zip", fiscal.as_str()] {
        let hit = text.lines().find(|l| l.contains(secret));
        assert!(hit.is_none(), "'{secret}' reached the log: {}", hit.unwrap_or_default().chars().take(400).collect::<String>());
    }
    // The audit shows every message's fate.
    let out = Command::new(env!("CARGO_BIN_EXE_silgate")).args(["audit", "verify", "--config"]).arg(&cfg).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    let db = rusqlite::Connection::open(dir.path().join("data/audit.db")).unwrap();
    let inputs: i64 = db.query_row("SELECT count(*) FROM audit WHERE event = 'input' AND detail LIKE 'pec uid=%'", [], |r| r.get(0)).unwrap();
    assert_eq!(inputs as usize, total);
}

#[test]
fn given_kill_9_during_a_mailbox_run_a_restart_should_queue_nothing_twice() {
    use crate::delivery::{certs, node, run, totals, wait_for};
    use crate::generate::{Entity, valid, worker, zip_dir};
    use std::time::Duration;
    let dir = tempfile::tempdir().unwrap();
    let pki = certs(dir.path());
    let (_node, base) = node(dir.path(), &pki, &pki, "");
    let dovecot = Dovecot::start(&pki);
    let good = provider("Gestore");
    // Twelve envelopes, each a SIL Plus export of its own eight active workers.
    let mut msgs = Vec::new();
    let mut expected = 0;
    for k in 0..12u32 {
        let mut t = valid(0, 0);
        for i in (100 + k * 10..100 + k * 10 + 10).filter(|i| i % 7 != 0).take(8) {
            let (row, kids) = worker(i);
            t.get_mut(&Entity::Lavoratori).unwrap().push(row);
            for (e, r) in kids {
                t.get_mut(&e).unwrap().push(r);
            }
            expected += 1;
        }
        let src = dir.path().join(format!("exp-{k}"));
        crate::generate::silplus(&src, &t);
        let z = dir.path().join(format!("exp-{k}.zip"));
        zip_dir(&src, &z);
        let id = format!("id-k{k}");
        msgs.push(envelope(
            &good,
            "X-Trasporto: posta-certificata",
            &daticert("posta-certificata", CPI_ADDR, &id),
            Some(&postacert(CPI_ADDR, &[("export.zip", "application/zip", std::fs::read(&z).unwrap())])),
        ));
    }
    dovecot.append("INBOX", &msgs);
    let cfg = mailbox_gateway(dir.path(), &pki, &base, &dovecot, &good);
    let gw = run(&cfg);
    wait_for("a first message processed", Duration::from_secs(60), || dovecot.count("silgate-processed") >= 1);
    gw.kill9();
    let gw = run(&cfg);
    wait_for("every message processed", Duration::from_secs(120), || dovecot.count("silgate-processed") == msgs.len());
    wait_for("every record at the node", Duration::from_secs(120), || totals(&base, &pki, "accepted") == expected);
    // A message seen again (put back by hand): processed whole before, only moved.
    dovecot.append("INBOX", &msgs[..1]);
    wait_for("the repeated message moved", Duration::from_secs(60), || dovecot.count("INBOX") == 0);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(gw.term(), 0);
    // Every record once: sends cut by the kill are replayed under the same eGov id
    // (the node answers them as repeats and stores nothing twice).
    assert_eq!(totals(&base, &pki, "accepted"), expected);
    assert_eq!(totals(&base, &pki, "distinct_codes"), expected, "no record version twice at the node");
}

#[test]
fn given_starttls_or_plain_loopback_the_mailbox_should_be_read_the_same() {
    use crate::delivery::{certs, node, run, totals, wait_for};
    use std::time::Duration;
    let dir = tempfile::tempdir().unwrap();
    let pki = certs(dir.path());
    let dovecot = Dovecot::start(&pki);
    let good = provider("Gestore");
    let nat = national_docs(dir.path(), &[60, 61, 62]);
    for (k, security, port) in [(0usize, "starttls", dovecot.imap), (1, "insecure-loopback", dovecot.imap)] {
        // One gateway and one node per mode: two gateways of one region would reuse
        // each other's eGov ids at a shared node.
        let nd = dir.path().join(format!("node-{security}"));
        std::fs::create_dir_all(&nd).unwrap();
        let (_node, base) = node(&nd, &pki, &pki, "");
        let msg = envelope(
            &good,
            "X-Trasporto: posta-certificata",
            &daticert("posta-certificata", CPI_ADDR, &format!("id-{security}")),
            Some(&postacert(CPI_ADDR, &[("cv.xml", "application/xml", nat[k].clone())])),
        );
        dovecot.append("INBOX", &[msg]);
        let sub = dir.path().join(security);
        std::fs::create_dir_all(&sub).unwrap();
        std::fs::copy(pki.join("ca.pem"), sub.join("ca.pem")).unwrap();
        let cfg = mailbox_gateway_with(&sub, &pki, &base, port, security, &good);
        let gw = run(&cfg);
        wait_for(&format!("{security}: the message processed"), Duration::from_secs(60), || dovecot.count("INBOX") == 0);
        wait_for(&format!("{security}: its document at the node"), Duration::from_secs(60), || totals(&base, &pki, "accepted") == 1);
        assert_eq!(gw.term(), 0);
    }
}

#[test]
fn given_sha1_anomalies_nested_zips_loose_exports_relabelled_headers_bombs_and_bad_mime_each_should_end_as_the_rules_say() {
    let dir = tempfile::tempdir().unwrap();
    let good = provider("Gestore");
    let cfg = pec_config(dir.path(), &good, 1);
    let accept = dir.path().join("accept.toml");
    std::fs::write(&accept, std::fs::read_to_string(&cfg).unwrap().replace("[pec]\n", "[pec]\naccept_anomalies = true\n")).unwrap();
    let nat = national_docs(dir.path(), &[70, 71]);
    // An envelope signed with sha1 (micalg=sha1) by the openssl command line.
    let inner_dir = dir.path().join("sha1");
    std::fs::create_dir_all(&inner_dir).unwrap();
    std::fs::write(inner_dir.join("cert.pem"), good.cert.to_pem().unwrap()).unwrap();
    std::fs::write(inner_dir.join("key.pem"), good.key.private_key_to_pem_pkcs8().unwrap()).unwrap();
    let eml = postacert(CPI_ADDR, &[("cv.xml", "application/xml", nat[0].clone())]);
    let mut inner = format!("Content-Type: multipart/mixed; boundary=\"inner\"\r\n\r\n--inner\r\nContent-Type: application/xml; name=\"daticert.xml\"\r\nContent-Disposition: attachment; filename=\"daticert.xml\"\r\n\r\n{}\r\n--inner\r\nContent-Type: message/rfc822; name=\"postacert.eml\"\r\nContent-Disposition: attachment; filename=\"postacert.eml\"\r\n\r\n", daticert("posta-certificata", CPI_ADDR, "id-sha1").replace('\n', "\r\n")).into_bytes();
    inner.extend_from_slice(&eml);
    inner.extend_from_slice(b"\r\n--inner--\r\n");
    std::fs::write(inner_dir.join("inner"), &inner).unwrap();
    let o = Command::new("openssl")
        .args(["smime", "-sign", "-md", "sha1", "-binary", "-in"])
        .arg(inner_dir.join("inner"))
        .arg("-signer")
        .arg(inner_dir.join("cert.pem"))
        .arg("-inkey")
        .arg(inner_dir.join("key.pem"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("micalg=\"sha1\""));
    let mut sha1 = b"X-Trasporto: posta-certificata\r\nMessage-ID: <sha1@pec.example.it>\r\n".to_vec();
    sha1.extend_from_slice(&o.stdout);
    // A zip bomb: 16 MiB of zeros in a few KiB (the attachment limit is 1 MiB).
    let bomb = {
        let src = dir.path().join("bomb");
        std::fs::create_dir_all(&src).unwrap();
        std::fs::write(src.join("LAVORATORI.CSV"), vec![b'0'; 16 << 20]).unwrap();
        let z = dir.path().join("bomb.zip");
        crate::generate::zip_dir(&src, &z);
        std::fs::read(z).unwrap()
    };
    assert!(bomb.len() < 1 << 20);
    let transport = "X-Trasporto: posta-certificata";
    let mut broken_b64 = postacert(CPI_ADDR, &[("export.zip", "application/zip", b"placeholder".to_vec())]);
    let pos = broken_b64.windows(16).position(|w| w == b"cGxhY2Vob2xkZXI=").unwrap();
    broken_b64.splice(pos..pos + 16, b"!!!not*base64*at*all@@@".iter().copied());
    // A SIL Plus export zipped twice, and the same export sent as loose attachments.
    let fixtures = root().join("tests/fixtures");
    let nested = {
        let outer = dir.path().join("outer");
        std::fs::create_dir_all(&outer).unwrap();
        std::fs::copy(fixtures.join("silplus/valid.zip"), outer.join("inner.zip")).unwrap();
        let z = dir.path().join("nested.zip");
        crate::generate::zip_dir(&outer, &z);
        std::fs::read(z).unwrap()
    };
    let loose: Vec<(String, Vec<u8>)> = std::fs::read_dir(fixtures.join("silplus/valid"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap()))
        .collect();
    let loose: Vec<(&str, &str, Vec<u8>)> = loose.iter().map(|(n, b)| (n.as_str(), "text/csv", b.clone())).collect();
    // A genuine envelope relabelled outside the signature, and one with two PEC headers.
    let genuine = envelope(&good, transport, &daticert("posta-certificata", CPI_ADDR, "id-rl"), Some(&postacert(CPI_ADDR, &[("cv.xml", "application/xml", nat[0].clone())])));
    let mut relabelled = b"X-Ricevuta: accettazione\r\n".to_vec();
    relabelled.extend_from_slice(&genuine[genuine.windows(2).position(|w| w == b"\r\n").unwrap() + 2..]);
    let mut twice = b"X-Trasporto: errore\r\n".to_vec();
    twice.extend_from_slice(&genuine);
    let cases: Vec<(&str, Vec<u8>, &Path, &str, usize)> = vec![
        ("sha1", sha1, &cfg, "", 1),
        (
            "anomaly-accepted",
            envelope(&good, "X-Trasporto: errore", &daticert("errore", CPI_ADDR, "id-an"), Some(&postacert(CPI_ADDR, &[("cv.xml", "application/xml", nat[1].clone())]))),
            &accept,
            "",
            1,
        ),
        (
            "nested-zip",
            envelope(&good, transport, &daticert("posta-certificata", CPI_ADDR, "id-nz"), Some(&postacert(CPI_ADDR, &[("nested.zip", "application/zip", nested)]))),
            &cfg,
            "",
            18,
        ),
        ("loose-export", envelope(&good, transport, &daticert("posta-certificata", CPI_ADDR, "id-le"), Some(&postacert(CPI_ADDR, &loose))), &cfg, "", 18),
        ("relabelled", relabelled, &cfg, "pec.header", 0),
        ("header-twice", twice, &cfg, "pec.header", 0),
        (
            "bomb",
            envelope(&good, transport, &daticert("posta-certificata", CPI_ADDR, "id-bomb"), Some(&postacert(CPI_ADDR, &[("bomb.zip", "application/zip", bomb)]))),
            &cfg,
            "pec.attachment",
            0,
        ),
        ("broken-base64", envelope(&good, transport, &daticert("posta-certificata", CPI_ADDR, "id-b64"), Some(&broken_b64)), &cfg, "pec.attachment", 0),
        ("malformed-mime", b"X-Trasporto: posta-certificata\r\nContent-Type: multipart/signed; boundary=\"x\"\r\n\r\n--x\r\nbroken".to_vec(), &cfg, "pec.unsigned", 0),
        // Found by fuzzing: a content type that is not UTF-8 made the openssl crate panic.
        ("fuzz-regression", std::fs::read(fixtures.join("pec/regression-openssl-utf8.eml")).unwrap(), &cfg, "pec.mime", 0),
        ("fuzz-regression-p7s", std::fs::read(fixtures.join("pec/regression-openssl-utf8-p7s.eml")).unwrap(), &cfg, "pec.mime", 0),
        ("fuzz-regression-prefix", std::fs::read(fixtures.join("pec/regression-openssl-boundary-prefix.eml")).unwrap(), &cfg, "pec.mime", 0),
    ];
    for (name, bytes, config, rule, want_docs) in cases {
        let p = dir.path().join(format!("{name}.eml"));
        std::fs::write(&p, bytes).unwrap();
        let out = dir.path().join(format!("out-{name}"));
        let (code, err) = translate(config, &out, &[p]);
        assert_eq!(code, 0, "{name}: {err}");
        let q = std::fs::read_to_string(out.join("quarantine.jsonl")).unwrap_or_default();
        let docs = std::fs::read_dir(&out).unwrap().filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "xml")).count();
        if rule.is_empty() {
            assert!(q.is_empty(), "{name}: {q}");
        } else {
            assert!(q.lines().count() >= 1 && q.lines().all(|l| l.contains(&format!("\"rule\":\"{rule}\""))), "{name}: want {rule}: {q}");
        }
        assert_eq!(docs, want_docs, "{name}: {q}");
    }
}

#[test]
fn given_signers_expired_not_yet_valid_misused_unpinned_or_revoked_each_message_should_be_untrusted_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let good = provider("Gestore");
    let expired = good.with_signer(&{
        let mut p = signing_params("Gestore", 2);
        p.not_after = rcgen::date_time_ymd(2021, 1, 1);
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p
    });
    let not_yet = good.with_signer(&{
        let mut p = signing_params("Gestore", 3);
        p.not_before = rcgen::date_time_ymd(2090, 1, 1);
        p
    });
    let for_tls = good.with_signer(&{
        let mut p = signing_params("Gestore", 4);
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        p
    });
    let for_encryption = good.with_signer(&{
        let mut p = signing_params("Gestore", 5);
        p.key_usages = vec![KeyUsagePurpose::KeyEncipherment];
        p
    });
    let revoked = good.with_signer(&signing_params("Gestore", 6));
    let unpinned = good.with_signer(&signing_params("Gestore", 7));
    // Every signer but the last is pinned, so each refusal below is its own reason.
    let pinned: String = [&good, &expired, &not_yet, &for_tls, &for_encryption, &revoked].iter().map(|p| p.signer_pem.clone()).collect();
    std::fs::write(dir.path().join("crl.pem"), good.crl(&[6], (2099, 1, 1))).unwrap();
    let cfg = pec_config_with(dir.path(), &good, 1, "crls = [\"crl.pem\"]");
    std::fs::write(dir.path().join("provider-signer.pem"), pinned).unwrap();
    let nat = national_docs(dir.path(), &[80]);
    let transport = "X-Trasporto: posta-certificata";
    let message =
        |p: &Provider, id: &str| envelope(p, transport, &daticert("posta-certificata", CPI_ADDR, id), Some(&postacert(CPI_ADDR, &[("cv.xml", "application/xml", nat[0].clone())])));
    let cases: [(&str, &Provider, &str); 7] = [
        ("good", &good, ""),
        ("expired", &expired, "certificate has expired"),
        ("not-yet-valid", &not_yet, "certificate is not yet valid"),
        ("for-tls", &for_tls, "certificate purpose"),
        ("for-encryption", &for_encryption, "certificate purpose"),
        ("revoked", &revoked, "certificate revoked"),
        ("unpinned", &unpinned, "not one of the pinned"),
    ];
    let mut files = Vec::new();
    for (name, p, _) in &cases {
        let f = dir.path().join(format!("{name}.eml"));
        std::fs::write(&f, message(p, &format!("id-{name}"))).unwrap();
        files.push(f);
    }
    let out = dir.path().join("out");
    let (code, err) = translate(&cfg, &out, &files);
    assert_eq!(code, 0, "{err}");
    let q: Vec<Value> = std::fs::read_to_string(out.join("quarantine.jsonl")).unwrap_or_default().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    for (name, _, why) in &cases {
        let lines: Vec<&Value> = q.iter().filter(|l| l["position"].as_str().unwrap_or("").contains(&format!("/{name}.eml"))).collect();
        if why.is_empty() {
            assert!(lines.is_empty(), "{name}: {lines:?}");
        } else {
            assert_eq!(lines.len(), 1, "{name}: {q:?}");
            assert_eq!(lines[0]["rule"], "pec.untrusted", "{name}: {:?}", lines[0]);
            assert!(lines[0]["message"].as_str().unwrap().contains(why), "{name}: want '{why}': {:?}", lines[0]);
        }
    }
    let docs = std::fs::read_dir(&out).unwrap().filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "xml")).count();
    assert_eq!(docs, 1, "the good message's CV: {err}");

    // A CRL past its next update refuses even the good signer: the operator must
    // refresh it. A provider CA without a CRL among the configured ones likewise.
    for (crl, why) in [(good.crl(&[], (2021, 1, 1)), "CRL has expired"), (provider("Altro").crl(&[], (2099, 1, 1)), "unable to get certificate CRL")] {
        std::fs::write(dir.path().join("crl.pem"), crl).unwrap();
        let out = dir.path().join("out-stale");
        let _ = std::fs::remove_dir_all(&out);
        let (code, err) = translate(&cfg, &out, &files[..1]);
        assert_eq!(code, 0, "{err}");
        let q = std::fs::read_to_string(out.join("quarantine.jsonl")).unwrap();
        assert!(q.contains("\"rule\":\"pec.crl\"") && q.contains(why), "want '{why}': {q}");
    }

    // No pinned signers: the configuration is refused, naming the key.
    let unpinned_cfg = dir.path().join("unpinned.toml");
    std::fs::write(&unpinned_cfg, std::fs::read_to_string(&cfg).unwrap().replace("signers = [\"provider-signer.pem\"]\n", "")).unwrap();
    let (code, err) = translate(&unpinned_cfg, &dir.path().join("out-unpinned"), &files[..1]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("pec.signers") && err.contains("pinning"), "{err}");
}

#[test]
fn given_a_message_whose_reads_never_finished_the_mailbox_should_set_it_aside_and_take_the_next() {
    use crate::delivery::{certs, node, run, totals, wait_for};
    use std::time::Duration;
    let dir = tempfile::tempdir().unwrap();
    let pki = certs(dir.path());
    let (_node, base) = node(dir.path(), &pki, &pki, "");
    let dovecot = Dovecot::start(&pki);
    let good = provider("Gestore");
    let nat = national_docs(dir.path(), &[90, 91]);
    let msg = |id: &str, doc: &[u8]| {
        envelope(&good, "X-Trasporto: posta-certificata", &daticert("posta-certificata", CPI_ADDR, id), Some(&postacert(CPI_ADDR, &[("cv.xml", "application/xml", doc.to_vec())])))
    };
    dovecot.append("INBOX", &[msg("id-poison", &nat[0]), msg("id-next", &nat[1])]);
    // The first message as the server serves it (its bytes, as the gateway will hash
    // them), read with the gateway's own IMAP client.
    let poison = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
        use silgate_source_pec::mailbox::{ImapSettings, Mailbox, Security};
        let settings = ImapSettings {
            host: "127.0.0.1".into(),
            port: dovecot.imap,
            security: Security::InsecureLoopback,
            user: "silgate".into(),
            password: "segreta".into(),
            mailbox: "INBOX".into(),
            processed: "silgate-processed".into(),
        };
        let mut mb = Mailbox::connect(settings, None).await.unwrap();
        let first = mb.pending().await.unwrap()[0];
        let raw = mb.fetch(first).await.unwrap().unwrap();
        mb.logout().await;
        raw
    });
    // The state three crashed reads of it leave (the count is kept on disk by the
    // message's keyed hash, so a restart does not reset it).
    let attempts = dir.path().join("data/pec-attempts/gw");
    std::fs::create_dir_all(&attempts).unwrap();
    // (named as the gateway names a message: HMAC under the region's secret, which the
    // first start would otherwise make)
    let secret = [7u8; 32];
    std::fs::write(dir.path().join("data/secret.key"), format!("{}\n", hex_of(&secret))).unwrap();
    let name = silgate_dedup::Keyer::new(&secret).hash(&[b"pec", &poison]);
    std::fs::write(attempts.join(name), "3\n").unwrap();
    let cfg = mailbox_gateway(dir.path(), &pki, &base, &dovecot, &good);
    let gw = run(&cfg);
    wait_for("the poison set aside and the next processed", Duration::from_secs(60), || dovecot.count("silgate-failed") == 1 && dovecot.count("silgate-processed") == 1);
    wait_for("the next message's CV at the node", Duration::from_secs(60), || totals(&base, &pki, "accepted") == 1);
    assert_eq!(gw.term(), 0);
    assert_eq!(std::fs::read_dir(&attempts).unwrap().count(), 0, "no count left behind");
    let db = rusqlite::Connection::open(dir.path().join("data/audit.db")).unwrap();
    let set_aside: i64 = db.query_row("SELECT count(*) FROM audit WHERE detail LIKE '%source.poison%'", [], |r| r.get(0)).unwrap();
    assert_eq!(set_aside, 1, "the set-aside is audited");
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn given_a_refreshed_crl_the_mailbox_should_refuse_a_signer_revoked_since_without_a_restart() {
    use crate::delivery::{certs, node, run, totals, wait_for};
    use std::time::Duration;
    let dir = tempfile::tempdir().unwrap();
    let pki = certs(dir.path());
    let (_node, base) = node(dir.path(), &pki, &pki, "");
    let dovecot = Dovecot::start(&pki);
    let good = provider("Gestore");
    let cfg = mailbox_gateway(dir.path(), &pki, &base, &dovecot, &good);
    let text = std::fs::read_to_string(&cfg).unwrap().replace("signers = [\"provider-signer.pem\"]\n", "signers = [\"provider-signer.pem\"]\ncrls = [\"crl.pem\"]\n");
    assert!(text.contains("crls = "), "{text}");
    std::fs::write(&cfg, text).unwrap();
    // The CRL the operator has is past its next update: a message waits in the folder.
    std::fs::write(dir.path().join("crl.pem"), good.crl(&[], (2021, 1, 1))).unwrap();
    let nat = national_docs(dir.path(), &[95, 96]);
    let msg = |id: &str, doc: &[u8]| {
        envelope(&good, "X-Trasporto: posta-certificata", &daticert("posta-certificata", CPI_ADDR, id), Some(&postacert(CPI_ADDR, &[("cv.xml", "application/xml", doc.to_vec())])))
    };
    let gw = run(&cfg);
    dovecot.append("INBOX", &[msg("id-before", &nat[0])]);
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!((dovecot.count("INBOX"), dovecot.count("silgate-processed"), dovecot.count("silgate-failed")), (1, 0, 0), "a stale CRL leaves the message waiting");
    assert!(!dir.path().join("data/quarantine.jsonl").exists() || !std::fs::read_to_string(dir.path().join("data/quarantine.jsonl")).unwrap().contains("id-before"));
    // Refreshed: the message is read, and delivered.
    std::fs::write(dir.path().join("crl.pem"), good.crl(&[], (2099, 1, 1))).unwrap();
    wait_for("the first CV at the node", Duration::from_secs(60), || totals(&base, &pki, "accepted") == 1);
    // The provider's CA revokes its signing certificate (serial 1); the operator's job
    // drops the new CRL in place. The gateway keeps running.
    std::fs::write(dir.path().join("crl.pem"), good.crl(&[1], (2099, 1, 1))).unwrap();
    std::thread::sleep(Duration::from_secs(2));
    dovecot.append("INBOX", &[msg("id-after", &nat[1])]);
    wait_for("the second message processed", Duration::from_secs(60), || dovecot.count("silgate-processed") == 2);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(gw.term(), 0);
    assert_eq!(totals(&base, &pki, "accepted"), 1, "nothing signed by the revoked certificate delivered");
    let q = std::fs::read_to_string(dir.path().join("data/quarantine.jsonl")).unwrap();
    assert!(q.contains("pec.untrusted") && q.contains("certificate revoked"), "{q}");
}

#[test]
fn given_attachments_with_bad_records_each_issue_should_name_the_attachment_and_the_source_field() {
    let dir = tempfile::tempdir().unwrap();
    let good = provider("Gestore");
    let cfg = pec_config(dir.path(), &good, 1);
    // A SIL Plus export sent as its loose files, the first experience at the fifth level.
    let export = root().join("tests/fixtures/silplus/valid");
    let mut attachments = Vec::new();
    for e in std::fs::read_dir(&export).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        let mut bytes = std::fs::read(&p).unwrap();
        if name == "ESPERIENZE.CSV" {
            let text = String::from_utf8(bytes).unwrap();
            let at = text.find("51220-1").unwrap();
            bytes = format!("{}51220{}", &text[..at], &text[at + "51220-1".len()..]).into_bytes();
        }
        attachments.push((name, "text/csv", bytes));
    }
    // A national document whose experience ends before it starts.
    let doc = String::from_utf8(national_docs(dir.path(), &[1]).remove(0)).unwrap();
    let (open, close) = ("<cliclavoro:datafine>", "</cliclavoro:datafine>");
    let from = doc.find(open).expect("an experience with an end") + open.len();
    let to = from + doc[from..].find(close).unwrap();
    let doc = format!("{}1900-01-01{}", &doc[..from], &doc[to..]);
    attachments.push(("cv.xml".into(), "application/xml", doc.into_bytes()));
    let attachments: Vec<(&str, &str, Vec<u8>)> = attachments.iter().map(|(n, t, b)| (n.as_str(), *t, b.clone())).collect();
    let msg = envelope(&good, "X-Trasporto: posta-certificata", &daticert("posta-certificata", CPI_ADDR, "id-src"), Some(&postacert(CPI_ADDR, &attachments)));
    let eml = dir.path().join("export.eml");
    std::fs::write(&eml, msg).unwrap();
    let out = dir.path().join("out");
    let o = Command::new(env!("CARGO_BIN_EXE_silgate"))
        .args(["translate", "--source", "pec", "--region", "16", "--today", "2026-11-24", "--optional-unmappable", "reject", "--pec-config"])
        .arg(&cfg)
        .arg("--out")
        .arg(&out)
        .arg(&eml)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let q: Vec<Value> = std::fs::read_to_string(out.join("quarantine.jsonl")).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let at = |field: &str| q.iter().find(|l| l["field"] == field).unwrap_or_else(|| panic!("no line at {field}: {q:#?}"));
    let l = at("/Candidatura/DatiCurriculari/EsperienzeLavorative[1]/qualificasvolta");
    assert_eq!((l["source"].as_str(), l["source_field"].as_str()), (Some("pec"), Some("ESPERIENZE.CSV/COD_QUAL line 2")), "{l}");
    assert!(l["position"].as_str().unwrap().contains("export.eml#id-src/attachments:"), "the position names the message's attachments: {l}");
    let l = at("/Candidatura/DatiCurriculari/EsperienzeLavorative[1]/datafine");
    assert_eq!(l["source_field"], "/Candidatura/DatiCurriculari/EsperienzeLavorative[1]/datafine", "a national document's field is its path: {l}");
    assert!(l["position"].as_str().unwrap().contains("export.eml#id-src/attachment-"), "the position names the attachment: {l}");
}
