//! The CPI push API through the real `silgate run`: tokens, own-CPI rule, 202 once
//! queued and then delivered, 422 with every issue, 413 before the body is read whole,
//! 429 past the rate, batch outcomes, status history from the audit log.
#![allow(clippy::unwrap_used)]

use crate::delivery::{certs, gateway, idle_tls, node, run, totals, wait_for};
use crate::schemas::conforms;
use serde_json::Value;
use std::time::Duration;

fn sha256(s: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(s.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

fn sample(kind_id: &str) -> Value {
    let line = include_str!("../../crates/silgate/samples/demo.jsonl").lines().find(|l| l.contains(kind_id)).unwrap();
    serde_json::from_str(line).unwrap()
}

/// A plain HTTP/1.1 exchange on loopback: (status, JSON body).
fn call(port: u16, method: &str, path: &str, token: Option<&str>, ctype: &str, body: &[u8]) -> (u16, Value) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    let head = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Content-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
    s.write_all(head.as_bytes()).unwrap();
    let _ = s.write_all(body);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out);
    let status = text.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let json = text.split_once("\r\n\r\n").and_then(|(_, b)| serde_json::from_str(b).ok()).unwrap_or(Value::Null);
    (status, json)
}

fn port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn given_cpis_pushing_records_the_api_should_queue_refuse_and_report_as_the_contract_says() {
    let dir = tempfile::tempdir().unwrap();
    let pki = certs(dir.path());
    let (_node, base) = node(dir.path(), &pki, &pki, "");
    let api = port();
    let extra = format!(
        "[api]\nlisten = \"127.0.0.1:{api}\"\nmax_body_kib = 64\nrate_per_minute = 60\n[[api.clients]]\ncpi = \"CPIBA01\"\ntoken_sha256 = \"{}\"\n[[api.clients]]\ncpi = \"CPICE01\"\ntoken_sha256 = \"{}\"\n",
        sha256("bari-secret"),
        sha256("caserta-secret")
    );
    let cfg = gateway(dir.path(), &pki, &base, &extra);
    let gw = run(&cfg);
    wait_for("the API listening", Duration::from_secs(20), || std::net::TcpStream::connect(("127.0.0.1", api)).is_ok());
    let post = |path: &str, token: Option<&str>, body: String, ctype: &str| call(api, "POST", path, token, ctype, body.as_bytes());
    let get = |path: &str, token: &str| call(api, "GET", path, Some(token), "application/json", b"");
    let vacancy = sample("\"2026/77\"");
    let cv = sample("SPSGNR88B14F839L");

    // 401 without or with a wrong token; JSON errors with a stable code.
    let (s, b) = post("/v1/vacancies", None, vacancy.to_string(), "application/json");
    assert_eq!((s, b["error"]["code"].as_str()), (401, Some("api.unauthenticated")), "{b}");
    conforms("post", "/v1/vacancies", s, &b);
    let (s, _) = post("/v1/vacancies", Some("guess"), vacancy.to_string(), "application/json");
    assert_eq!(s, 401);
    // 202 with a tracking id for Bari's own vacancy; the same again: unchanged.
    let (s, b) = post("/v1/vacancies", Some("bari-secret"), vacancy.to_string(), "application/json");
    assert_eq!(s, 202, "{b}");
    let id = b["id"].as_str().unwrap().to_string();
    assert_eq!(b["status"], "queued");
    conforms("post", "/v1/vacancies", s, &b);
    let (s, b) = post("/v1/vacancies", Some("bari-secret"), vacancy.to_string(), "application/json");
    assert_eq!((s, b["status"].as_str()), (202, Some("unchanged")), "{b}");
    // 403: Bari pushing Caserta's CV.
    let (s, b) = post("/v1/cvs", Some("bari-secret"), cv.to_string(), "application/json");
    assert_eq!((s, b["error"]["code"].as_str()), (403, Some("api.cpi")), "{b}");
    conforms("post", "/v1/cvs", s, &b);
    // 422 with every issue: a bad fiscal code and an unknown ATECO.
    let mut bad = vacancy.clone();
    bad["employer"]["sector"] = Value::String("99.99.99".into());
    bad["system"]["source_vacancy_id"] = Value::String("2026/bad".into());
    let (s, b) = post("/v1/vacancies", Some("bari-secret"), bad.to_string(), "application/json");
    assert_eq!(s, 422, "{b}");
    let ateco = b["issues"].as_array().unwrap().iter().find(|i| i["rule"] == "ateco.unknown").cloned();
    // Beside the national path, each issue names the field as the body does.
    assert_eq!(ateco.map(|i| (i["path"].clone(), i["source_field"].clone())), Some(("/Vacancy/DatoreLavoro/DatiAnagrafici/settore".into(), "/employer/sector".into())), "{b}");
    assert!(b["error"]["source_field"].as_str().is_some_and(|f| f.starts_with('/')), "{b}");
    conforms("post", "/v1/vacancies", s, &b);
    let (s, b) = post("/v1/vacancies", Some("bari-secret"), "{not json".into(), "application/json");
    assert_eq!((s, b["error"]["code"].as_str()), (422, Some("json.syntax")), "{b}");
    // A national XML document is accepted too: Caserta's CV, written by `translate`.
    let json = dir.path().join("cv.jsonl");
    std::fs::write(&json, format!("{cv}\n")).unwrap();
    let out = dir.path().join("cv-xml");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_silgate"))
        .args(["translate", "--source", "canonical-json", "--region", "14", "--out"])
        .arg(&out)
        .arg(&json)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let xml = std::fs::read_dir(&out).unwrap().map(|e| e.unwrap().path()).find(|p| p.extension().is_some_and(|x| x == "xml")).unwrap();
    let xml = std::fs::read_to_string(xml).unwrap();
    // The same document with an unknown domicile: a national document's field is its path.
    let dom = xml.find("<cliclavoro:Domicilio><cliclavoro:idcomune>").unwrap() + "<cliclavoro:Domicilio><cliclavoro:idcomune>".len();
    let bad_xml = format!("{}Z998{}", &xml[..dom], &xml[dom + 4..]);
    let (s, b) = call(api, "POST", "/v1/cvs", Some("caserta-secret"), "application/xml", bad_xml.as_bytes());
    let path = "/Candidatura/Lavoratore/Domicilio/idcomune";
    assert_eq!((s, b["error"]["field"].as_str(), b["error"]["source_field"].as_str()), (422, Some(path), Some(path)), "{b}");
    conforms("post", "/v1/cvs", s, &b);
    // A field the reader itself cannot read (a date in another form) is named the same way.
    let birth = xml.find("<cliclavoro:datanascita>").unwrap() + "<cliclavoro:datanascita>".len();
    let bad_xml = format!("{}14/02/1988{}", &xml[..birth], &xml[birth + 10..]);
    let (s, b) = call(api, "POST", "/v1/cvs", Some("caserta-secret"), "application/xml", bad_xml.as_bytes());
    let path = "/Candidatura/Lavoratore/DatiAnagrafici/datanascita";
    assert_eq!((s, b["error"]["field"].as_str(), b["error"]["source_field"].as_str()), (422, Some(path), Some(path)), "{b}");
    let (s, b) = call(api, "POST", "/v1/cvs", Some("caserta-secret"), "application/xml", xml.as_bytes());
    assert_eq!(s, 202, "{b}");
    // 413 before the body is read whole.
    let (s, b) = post("/v1/vacancies", Some("bari-secret"), "x".repeat(200 * 1024), "application/json");
    assert_eq!((s, b["error"]["code"].as_str()), (413, Some("api.too-large")), "{b}");
    conforms("post", "/v1/vacancies", s, &b);
    // Batch: per-item outcomes.
    let mut other = vacancy.clone();
    other["system"]["source_vacancy_id"] = Value::String("2026/78".into());
    let batch = serde_json::json!({"records": [other, cv, bad]});
    let (s, b) = post("/v1/batch", Some("bari-secret"), batch.to_string(), "application/json");
    assert_eq!(s, 200, "{b}");
    let statuses: Vec<&str> = b["results"].as_array().unwrap().iter().map(|r| r["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["queued", "forbidden", "rejected"], "{b}");
    conforms("post", "/v1/batch", s, &b);
    // A JSON item is named by its pointers, whatever naming its provenance claims.
    let mut claims = bad.clone();
    claims["provenance"] = serde_json::json!({"system": "push", "fields": "national"});
    let (s, b) = post("/v1/batch", Some("bari-secret"), serde_json::json!({"records": [claims]}).to_string(), "application/json");
    let ateco = b["results"][0]["issues"].as_array().and_then(|i| i.iter().find(|i| i["rule"] == "ateco.unknown").cloned());
    assert_eq!((s, ateco.map(|i| i["source_field"].clone())), (200, Some("/employer/sector".into())), "{b}");
    // Delivered, and the history says so with the node's receipt.
    wait_for("three documents at the node", Duration::from_secs(60), || totals(&base, &pki, "accepted") == 3);
    wait_for("the history to show the delivery", Duration::from_secs(30), || {
        let (_, r) = get(&format!("/v1/records/{id}"), "bari-secret");
        r["history"].as_array().is_some_and(|h| h.iter().any(|e| e["event"] == "delivered"))
    });
    let (s, b) = get(&format!("/v1/records/{id}"), "bari-secret");
    conforms("get", "/v1/records/{id}", s, &b);
    assert_eq!(get(&format!("/v1/records/{id}"), "caserta-secret").0, 403, "another CPI cannot read Bari's record");
    // 429 past the rate (bursts of 10 at 60 per minute).
    let answers: Vec<(u16, Value)> = (0..15).map(|_| post("/v1/vacancies", Some("caserta-secret"), "{}".into(), "application/json")).collect();
    let limited = answers.iter().find(|(s, _)| *s == 429).unwrap_or_else(|| panic!("no 429 in {answers:?}"));
    conforms("post", "/v1/vacancies", limited.0, &limited.1);
    assert_eq!(gw.term(), 0);
}

#[test]
fn given_records_through_run_the_metrics_should_count_them_without_personal_data() {
    let dir = tempfile::tempdir().unwrap();
    let pki = certs(dir.path());
    let (_node, base) = node(dir.path(), &pki, &pki, "");
    let mport = port();
    let cfg = gateway(dir.path(), &pki, &base, &format!("[metrics]\nlisten = \"127.0.0.1:{mport}\"\n"));
    let gw = run(&cfg);
    wait_for("the metrics endpoint", Duration::from_secs(20), || std::net::TcpStream::connect(("127.0.0.1", mport)).is_ok());
    // Three vacancies of Bari and one broken CV of Caserta, dropped in the inbox.
    let mut lines: Vec<String> = (0..3)
        .map(|i| {
            let mut v = sample("\"2026/77\"");
            v["system"]["source_vacancy_id"] = Value::String(format!("M/{i}"));
            v.to_string()
        })
        .collect();
    let mut cv = sample("SPSGNR88B14F839L");
    cv["worker"]["fiscal_code"] = Value::String("SPSGNR88B14F839X".into());
    lines.push(cv.to_string());
    std::fs::create_dir_all(dir.path().join("inbox")).unwrap();
    std::fs::write(dir.path().join("inbox/batch.jsonl"), lines.join("\n") + "\n").unwrap();
    wait_for("three documents at the node", Duration::from_secs(60), || totals(&base, &pki, "accepted") == 3);
    let scrape = || {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", mport)).unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    };
    wait_for("the deliveries counted", Duration::from_secs(30), || scrape().contains("silgate_gateway_delivery_outcomes_total{outcome=\"delivered\"} 3"));
    let m = scrape();
    for want in [
        "silgate_gateway_records_total{source=\"canonical-json\",cpi=\"CPIBA01\",outcome=\"queued\"} 3",
        "silgate_gateway_rejections_total{source=\"canonical-json\",cpi=\"CPICE01\",rule=\"cf.checksum\"} 1",
        "silgate_gateway_enqueued_total 3",
        "silgate_gateway_dequeued_total 3",
        "silgate_gateway_breaker_state 0",
        "silgate_gateway_dlq_size 0",
        "silgate_gateway_delivery_latency_seconds_count 3",
        "# EOF",
    ] {
        assert!(m.contains(want), "missing '{want}' in:\n{m}");
    }
    assert!(!m.contains("SPSGNR") && !m.contains("Esposito"), "personal data in metrics");
    let probe = |path: &str| {
        let (code, _) = call(mport, "GET", path, None, "text/plain", b"");
        code
    };
    assert_eq!((probe("/healthz"), probe("/readyz")), (200, 200));
    assert_eq!(gw.term(), 0);
    // The weekly report of the same records, from the audit log.
    let today = time::OffsetDateTime::now_utc().date().to_string();
    let report = |format: &str, province: Option<&str>| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_silgate"));
        c.args(["report", "weekly", "--config"]).arg(&cfg).args(["--since", &today, "--format", format]);
        if let Some(p) = province {
            c.args(["--province", p]);
        }
        let o = c.output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let csv = report("csv", None);
    let bari = csv.lines().find(|l| l.starts_with("CPIBA01,")).unwrap_or_else(|| panic!("{csv}"));
    assert!(bari.starts_with("CPIBA01,3,3,0,0,\"\","), "{csv}");
    let delays: Vec<&str> = bari.rsplit(',').take(2).collect();
    assert!(delays.iter().all(|d| d.parse::<f64>().is_ok()), "median and p95 delays: {bari}");
    assert!(csv.contains("CPICE01,1,0,1,0,\"cf.checksum (1)\""), "{csv}");
    assert!(csv.contains("0 of 2 known CPIs sent nothing"), "{csv}");
    let html = report("html", None);
    assert!(html.contains("<table>") && html.contains("<td>CPIBA01</td>"), "{html}");
}

/// SHA-256 of the first certificate of a PEM file (its DER), as `cert_sha256` wants.
fn cert_fingerprint(pem: &std::path::Path) -> String {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    use sha2::Digest;
    let der = CertificateDer::pem_file_iter(pem).unwrap().next().unwrap().unwrap();
    sha2::Sha256::digest(der.as_ref()).iter().map(|b| format!("{b:02x}")).collect()
}

/// An HTTPS client trusting `pki`'s CA, showing `client` (a PKI folder's client.pem) if given.
fn tls_client(pki: &std::path::Path, client: Option<&std::path::Path>) -> reqwest::Client {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(pki.join("ca.pem")).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let b = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let tls = match client {
        Some(dir) => {
            let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(dir.join("client.pem")).unwrap().map(Result::unwrap).collect();
            b.with_client_auth_cert(chain, PrivateKeyDer::from_pem_file(dir.join("client.key")).unwrap()).unwrap()
        }
        None => b.with_no_client_auth(),
    };
    reqwest::Client::builder().tls_backend_preconfigured(tls).build().unwrap()
}

#[test]
fn given_client_certificates_the_api_should_know_each_cpi_by_its_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let pki = certs(dir.path());
    let (_node, base) = node(dir.path(), &pki, &pki, "");
    // Two CAs the API trusts (Bari's certificate is configured, the other CA's is not)
    // and one it does not.
    let other = certs(&dir.path().join("other"));
    let rogue = certs(&dir.path().join("rogue"));
    let bundle = dir.path().join("cpi-ca.pem");
    std::fs::write(&bundle, [std::fs::read(pki.join("ca.pem")).unwrap(), std::fs::read(other.join("ca.pem")).unwrap()].concat()).unwrap();
    let api = port();
    let extra = format!(
        "[api]\nlisten = \"127.0.0.1:{api}\"\n[api.tls]\ncert = \"{}\"\nkey = \"{}\"\nclient_ca = \"{}\"\n\
         [[api.clients]]\ncpi = \"CPIBA01\"\ncert_sha256 = \"{}\"\n[[api.clients]]\ncpi = \"CPICE01\"\ntoken_sha256 = \"{}\"\n",
        pki.join("node.pem").display(),
        pki.join("node.key").display(),
        bundle.display(),
        cert_fingerprint(&pki.join("client.pem")),
        sha256("caserta-secret")
    );
    let cfg = gateway(dir.path(), &pki, &base, &extra);
    let check = std::process::Command::new(env!("CARGO_BIN_EXE_silgate")).args(["config", "check"]).arg(&cfg).output().unwrap();
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stdout));
    let gw = run(&cfg);
    wait_for("the API listening", Duration::from_secs(20), || std::net::TcpStream::connect(("127.0.0.1", api)).is_ok());
    let url = |p: &str| format!("https://127.0.0.1:{api}{p}");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let send = |c: &reqwest::Client, path: &str, token: Option<&str>, body: &Value| -> Result<(u16, Value), reqwest::Error> {
        rt.block_on(async {
            let mut r = c.post(url(path)).header("content-type", "application/json").body(body.to_string());
            if let Some(t) = token {
                r = r.bearer_auth(t);
            }
            let resp = r.send().await?;
            let status = resp.status().as_u16();
            Ok((status, serde_json::from_slice(&resp.bytes().await?).unwrap_or(Value::Null)))
        })
    };
    let vacancy = sample("\"2026/77\"");
    let cv = sample("SPSGNR88B14F839L");

    // Bari by its certificate: its own vacancy queued, Caserta's CV forbidden.
    let bari = tls_client(&pki, Some(&pki));
    let (s, b) = send(&bari, "/v1/vacancies", None, &vacancy).unwrap();
    assert_eq!(s, 202, "{b}");
    let id = b["id"].as_str().unwrap().to_string();
    let (s, b) = send(&bari, "/v1/cvs", None, &cv).unwrap();
    assert_eq!((s, b["error"]["code"].as_str()), (403, Some("api.cpi")), "{b}");
    let (s, b) = rt.block_on(async {
        let r = bari.get(url(&format!("/v1/records/{id}"))).send().await.unwrap();
        (r.status().as_u16(), serde_json::from_slice::<Value>(&r.bytes().await.unwrap()).unwrap())
    });
    assert_eq!((s, b["id"].as_str()), (200, Some(id.as_str())), "{b}");
    // A certificate of a trusted CA that no CPI is configured with: 401, audited.
    let (s, b) = send(&tls_client(&pki, Some(&other)), "/v1/vacancies", None, &vacancy).unwrap();
    assert_eq!((s, b["error"]["code"].as_str()), (401, Some("api.unauthenticated")), "{b}");
    assert!(b["error"]["message"].as_str().unwrap().contains("unknown client certificate"), "{b}");
    // A certificate shown decides: Bari's certificate with Caserta's token is still Bari.
    let (s, _) = send(&bari, "/v1/cvs", Some("caserta-secret"), &cv).unwrap();
    assert_eq!(s, 403);
    // No certificate: the token works over TLS; nothing at all is 401.
    let anonymous = tls_client(&pki, None);
    assert_eq!(send(&anonymous, "/v1/cvs", Some("caserta-secret"), &cv).unwrap().0, 202);
    assert_eq!(send(&anonymous, "/v1/cvs", None, &cv).unwrap().0, 401);
    // A certificate of a CA the API does not trust never gets a request through.
    assert!(send(&tls_client(&pki, Some(&rogue)), "/v1/vacancies", None, &vacancy).is_err(), "an untrusted client certificate must fail the handshake");
    // Plain HTTP to the TLS port gets no API answer.
    let (plain, _) = call(api, "POST", "/v1/vacancies", Some("caserta-secret"), "application/json", vacancy.to_string().as_bytes());
    assert_ne!(plain, 202);
    wait_for("both records at the node", Duration::from_secs(60), || totals(&base, &pki, "accepted") == 2);
    assert_eq!(gw.term(), 0);
    // Each refused caller is in the audit log, and the chain still verifies.
    let db = rusqlite::Connection::open(dir.path().join("data/audit.db")).unwrap();
    let refusals: Vec<String> = db
        .prepare("SELECT detail FROM audit WHERE detail LIKE 'rule=api.unauthenticated%' ORDER BY seq")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    // Counted per reason, written once a minute and at shutdown.
    assert_eq!(refusals, ["rule=api.unauthenticated 1 request(s): no credentials", "rule=api.unauthenticated 1 request(s): unknown client certificate"]);
    let v = std::process::Command::new(env!("CARGO_BIN_EXE_silgate")).args(["audit", "verify", "--config"]).arg(&cfg).output().unwrap();
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stderr));
}

#[test]
fn given_a_thousand_idle_tls_connections_a_cpi_from_another_address_should_still_get_its_202() {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let dir = tempfile::tempdir().unwrap();
    let pki = certs(dir.path());
    let (_node, base) = node(dir.path(), &pki, &pki, "");
    let api = port();
    let extra = format!(
        "[api]\nlisten = \"127.0.0.1:{api}\"\nidle_secs = 8\n[api.tls]\ncert = \"{}\"\nkey = \"{}\"\nclient_ca = \"{}\"\n\
         [[api.clients]]\ncpi = \"CPICE01\"\ntoken_sha256 = \"{}\"\n",
        pki.join("node.pem").display(),
        pki.join("node.key").display(),
        pki.join("ca.pem").display(),
        sha256("caserta-secret")
    );
    let cfg = gateway(dir.path(), &pki, &base, &extra);
    let gw = run(&cfg);
    wait_for("the API listening", Duration::from_secs(20), || std::net::TcpStream::connect(("127.0.0.1", api)).is_ok());
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(pki.join("ca.pem")).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let tls = std::sync::Arc::new(
        rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    );
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    // 1,000 from four addresses of 127.0.0.0/8 (all loopback): each address gets its
    // share (16 by default) and the rest are closed before their handshake.
    let mut held = Vec::new();
    let mut closed = 0;
    for i in 0..1_000u32 {
        let from = std::net::IpAddr::from([127, 0, 0, 2 + (i % 4) as u8]);
        match idle_tls(&rt, from, api, &tls) {
            Some(c) => held.push(c),
            None => closed += 1,
        }
    }
    assert_eq!(held.len(), 4 * 16, "each address holds its share, {closed} closed");
    // A CPI from another address is served while they are held.
    let client = reqwest::Client::builder().tls_backend_preconfigured((*tls).clone()).local_address(std::net::IpAddr::from([127, 0, 0, 9])).build().unwrap();
    let (status, body) = rt.block_on(async {
        let r = client
            .post(format!("https://127.0.0.1:{api}/v1/cvs"))
            .bearer_auth("caserta-secret")
            .header("content-type", "application/json")
            .body(sample("SPSGNR88B14F839L").to_string())
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    });
    assert_eq!(status, 202, "{body}");
    // A flood without credentials from one address: 60 refused a minute, then 429
    // before anything is looked up; the audit log gets the count, not a row each.
    let flooder = reqwest::Client::builder().tls_backend_preconfigured((*tls).clone()).local_address(std::net::IpAddr::from([127, 0, 0, 10])).build().unwrap();
    let statuses: Vec<u16> = rt.block_on(async {
        let mut out = Vec::new();
        for _ in 0..80 {
            out.push(flooder.post(format!("https://127.0.0.1:{api}/v1/cvs")).header("content-type", "application/json").body("{}").send().await.unwrap().status().as_u16());
        }
        out
    });
    assert_eq!(statuses.iter().filter(|s| **s == 401).count(), 60, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 20, "{statuses:?}");
    // A silent connection is closed once it has been idle `idle_secs`.
    let started = std::time::Instant::now();
    let (mut tcp, mut conn) = held.pop().unwrap();
    let eof = crate::delivery::closed_by_server(&mut tcp, &mut conn);
    // idle_secs is 8: long enough that none of the held ones lapsed while the 1,000
    // were opened (the count above), short enough to wait for here.
    assert!(eof && started.elapsed() < Duration::from_secs(12), "an idle connection is closed by the server (after {:?})", started.elapsed());
    drop(held);
    wait_for("the CV at the node", Duration::from_secs(60), || totals(&base, &pki, "accepted") == 1);
    assert_eq!(gw.term(), 0);
    let db = rusqlite::Connection::open(dir.path().join("data/audit.db")).unwrap();
    let refusals: Vec<String> =
        db.prepare("SELECT detail FROM audit WHERE detail LIKE 'rule=api.unauthenticated%'").unwrap().query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect();
    assert_eq!(refusals, ["rule=api.unauthenticated 60 request(s): no credentials"]);
}

/// At `trace`, the most a region can ask for, the log holds no token, password or
/// record content: a CV pushed through the API, queued on RabbitMQ, audited and indexed
/// in PostgreSQL and delivered, and a request with a wrong token.
#[test]
fn given_logging_at_trace_no_token_password_or_record_content_should_reach_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let pki = certs(dir.path());
    let (_node, base) = node(dir.path(), &pki, &pki, "");
    let api = port();
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let pg = crate::pg_test_schema("trace");
    let extra = format!(
        "[api]\nlisten = \"127.0.0.1:{api}\"\n[[api.clients]]\ncpi = \"CPICE01\"\ntoken_sha256 = \"{}\"\n\
         [queue]\nbackend = \"rabbitmq\"\nuri = \"{}\"\nname = \"silgate.it.trace.{t}\"\n\
         [audit]\nbackend = \"postgres\"\nurl = \"{pg}\"\n[dedup]\nbackend = \"postgres\"\nurl = \"{pg}\"\n",
        sha256("caserta-secret"),
        crate::amqp_test_uri()
    );
    let cfg = gateway(dir.path(), &pki, &base, &extra);
    let log = std::fs::File::create(dir.path().join("trace.log")).unwrap();
    let gw = crate::delivery::Proc(
        std::process::Command::new(env!("CARGO_BIN_EXE_silgate"))
            .args(["run", "--config"])
            .arg(&cfg)
            // Every level, and the targets that log parameters and frames asked for by
            // name: held back all the same.
            .env("SILGATE_LOG", "trace,tokio_postgres::query=trace,lapin::channel=trace,h2=trace")
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    wait_for("the API listening", Duration::from_secs(30), || std::net::TcpStream::connect(("127.0.0.1", api)).is_ok());
    let cv = sample("SPSGNR88B14F839L");
    assert_eq!(call(api, "POST", "/v1/cvs", Some("wrong-token-4711"), "application/json", cv.to_string().as_bytes()).0, 401);
    assert_eq!(call(api, "POST", "/v1/cvs", Some("caserta-secret"), "application/json", cv.to_string().as_bytes()).0, 202);
    wait_for("the CV at the node", Duration::from_secs(60), || totals(&base, &pki, "accepted") == 1);
    assert_eq!(gw.term(), 0);
    let text = std::fs::read_to_string(dir.path().join("trace.log")).unwrap();
    assert!(text.contains("Silgate running") && text.contains("Shutting down"), "the log was captured: {text}");
    // The libraries that log what they carry (statement parameters, frames) say
    // nothing below info.
    let chatty = text
        .lines()
        .find(|l| (l.contains("\"DEBUG\"") || l.contains("\"TRACE\"")) && ["tokio_postgres", "lapin", "h2", "rustls"].iter().any(|t| l.contains(&format!("\"target\":\"{t}"))));
    assert!(chatty.is_none(), "{}", chatty.unwrap_or_default());
    for secret in ["caserta-secret", "wrong-token-4711", "guest:guest", "SPSGNR88B14F839L", "Esposito", "gennaro.esposito@example.it", "3331234500", "Via Roma 1"] {
        let hit = text.lines().find(|l| l.contains(secret));
        assert!(hit.is_none(), "'{secret}' reached the log: {}", hit.unwrap_or_default().chars().take(400).collect::<String>());
    }
}
