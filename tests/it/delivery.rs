//! The delivery path end to end: the real `silgate` binary (ingest, run, audit, dlq,
//! node) against the real reference node over HTTPS with client certificates, the
//! machine's RabbitMQ, and kill -9.
#![allow(clippy::unwrap_used)] // test helpers: a failed setup step is a failed test

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn silgate() -> Command {
    Command::new(env!("CARGO_BIN_EXE_silgate"))
}

/// A child process killed when dropped.
pub(crate) struct Proc(pub(crate) Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Proc {
    pub(crate) fn kill9(mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }

    pub(crate) fn term(mut self) -> i32 {
        let _ = Command::new("kill").arg("-TERM").arg(self.0.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(s)) = self.0.try_wait() {
                return s.code().unwrap_or(-1);
            }
            assert!(Instant::now() < deadline, "silgate run did not stop after SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

pub(crate) fn certs(dir: &Path) -> PathBuf {
    let pki = dir.join("pki");
    let st = silgate().args(["certs", "--out"]).arg(&pki).args(["--region", "PUGLIA"]).output().unwrap();
    assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
    pki
}

/// Starts `silgate node` with `faults` (TOML of the `[faults]` table); returns it and
/// its base URL. `serve_pki` is the PKI whose node certificate it presents.
pub(crate) fn node(dir: &Path, pki: &Path, serve_pki: &Path, faults: &str) -> (Proc, String) {
    node_with(dir, pki, serve_pki, faults, "")
}

/// [`node`] with extra top-level settings (`postgres = "..."`).
fn node_with(dir: &Path, pki: &Path, serve_pki: &Path, faults: &str, top: &str) -> (Proc, String) {
    let (p, mut lines) = node_lines(dir, pki, serve_pki, faults, top, 1);
    (p, lines.remove(0))
}

/// Starts a node and returns the first `lines` lines it prints, each cut to its last
/// word (the base URL, then the dashboard URL when `dashboard_listen` is set).
pub(crate) fn node_lines(dir: &Path, pki: &Path, serve_pki: &Path, faults: &str, top: &str, lines: usize) -> (Proc, Vec<String>) {
    let cfg = dir.join("node.toml");
    std::fs::write(
        &cfg,
        format!(
            "{top}\nlisten = \"127.0.0.1:0\"\nstore = \"{}\"\nadmin = true\n[tls]\ncert = \"{}\"\nkey = \"{}\"\nclient_ca = \"{}\"\n[faults]\n{faults}\n",
            dir.join("node.db").display(),
            serve_pki.join("node.pem").display(),
            serve_pki.join("node.key").display(),
            pki.join("ca.pem").display()
        ),
    )
    .unwrap();
    let mut child = silgate().args(["node", "--config"]).arg(&cfg).stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut words = Vec::new();
    for _ in 0..lines {
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        words.push(line.trim().rsplit(' ').next().unwrap().to_string());
    }
    assert!(words[0].starts_with("https://127.0.0.1:"), "{words:?}");
    (Proc(child), words)
}

pub(crate) fn gateway(dir: &Path, pki: &Path, base: &str, extra: &str) -> PathBuf {
    let cfg = dir.join("gateway.toml");
    std::fs::write(
        &cfg,
        format!(
            "instance = \"gw\"\nregion = \"14\"\nregion_name = \"PUGLIA\"\ndata_dir = \"{}\"\nbatch = 200\n\n[node]\nurl = \"{base}/ws/cliclavoro\"\nca = \"{}\"\nclient_cert = \"{}\"\nclient_key = \"{}\"\ntimeout_secs = 10\n\n[[sources]]\nkind = \"canonical-json\"\ninbox = \"{}\"\npoll_secs = 1\n{extra}\n",
            dir.join("data").display(),
            pki.join("ca.pem").display(),
            pki.join("client.pem").display(),
            pki.join("client.key").display(),
            dir.join("inbox").display()
        ),
    )
    .unwrap();
    cfg
}

/// `n` distinct valid vacancies (same employer, distinct source ids).
pub(crate) fn vacancies(n: usize, tag: &str) -> String {
    let template = include_str!("../../crates/silgate/samples/demo.jsonl").lines().find(|l| l.contains("\"2026/77\"")).unwrap();
    (0..n).map(|i| template.replace("\"2026/77\"", &format!("\"{tag}/{i}\"")) + "\n").collect()
}

/// Reads a held TLS connection until the server closes it: `true` when it did, `false`
/// when the socket's read timeout passed first.
pub(crate) fn closed_by_server(tcp: &mut std::net::TcpStream, conn: &mut rustls::ClientConnection) -> bool {
    use std::io::Read as _;
    let mut buf = [0u8; 64];
    loop {
        match conn.reader().read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => return true,
        }
        match conn.read_tls(tcp) {
            Ok(0) => return true,
            Ok(_) => {
                if conn.process_new_packets().is_err() {
                    return true;
                }
            }
            Err(_) => return false,
        }
    }
}

/// The TLS client config of our PKI: trusts its CA, shows its client certificate.
pub(crate) fn client_tls(pki: &Path) -> rustls::ClientConfig {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(pki.join("ca.pem")).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(pki.join("client.pem")).unwrap().map(Result::unwrap).collect();
    let key = PrivateKeyDer::from_pem_file(pki.join("client.key")).unwrap();
    rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .unwrap()
}

/// A client of the node with our PKI (mTLS).
pub(crate) async fn https(pki: &Path) -> reqwest::Client {
    reqwest::Client::builder().tls_backend_preconfigured(client_tls(pki)).build().unwrap()
}

/// Opens a TCP connection from `from` to a TLS server on loopback port `api` and completes a TLS handshake on it,
/// then holds it without sending anything. `None` when the server closed it instead.
pub(crate) fn idle_tls(
    rt: &tokio::runtime::Runtime,
    from: std::net::IpAddr,
    api: u16,
    tls: &std::sync::Arc<rustls::ClientConfig>,
) -> Option<(std::net::TcpStream, rustls::ClientConnection)> {
    let tcp = rt.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().ok()?;
        socket.bind(std::net::SocketAddr::new(from, 0)).ok()?;
        socket.connect(std::net::SocketAddr::from(([127, 0, 0, 1], api))).await.ok()
    })?;
    let mut tcp = tcp.into_std().ok()?;
    tcp.set_nonblocking(false).ok()?;
    tcp.set_read_timeout(Some(Duration::from_secs(15))).ok()?;
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").ok()?;
    let mut conn = rustls::ClientConnection::new(tls.clone(), name).ok()?;
    while conn.is_handshaking() {
        conn.complete_io(&mut tcp).ok()?;
    }
    Some((tcp, conn))
}

pub(crate) fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
}

pub(crate) fn stats(base: &str, pki: &Path) -> Value {
    block_on(async { serde_json::from_slice(&https(pki).await.get(format!("{base}/api/stats")).send().await.unwrap().bytes().await.unwrap()).unwrap() })
}

pub(crate) fn get_text(url: &str, pki: &Path) -> String {
    block_on(async { https(pki).await.get(url).send().await.unwrap().text().await.unwrap() })
}

pub(crate) fn put_faults(base: &str, pki: &Path, json: &str) {
    block_on(async {
        let r = https(pki).await.put(format!("{base}/admin/faults")).body(json.to_string()).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 204);
    });
}

pub(crate) fn totals(base: &str, pki: &Path, key: &str) -> i64 {
    stats(base, pki)["totals"][key].as_i64().unwrap()
}

pub(crate) fn wait_for(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

pub(crate) fn run(cfg: &Path) -> Proc {
    Proc(silgate().args(["run", "--config"]).arg(cfg).env("SILGATE_LOG", "error").stdout(Stdio::null()).spawn().unwrap())
}

/// [`run`] logging at `trace` (every level, and the libraries that log what they carry
/// asked for by name) into `log`.
pub(crate) fn run_at_trace(cfg: &Path, log: &Path) -> Proc {
    let file = std::fs::File::create(log).unwrap();
    Proc(
        silgate()
            .args(["run", "--config"])
            .arg(cfg)
            .env("SILGATE_LOG", "trace,tokio_postgres::query=trace,lapin::channel=trace,h2=trace,async_imap=trace,imap_proto=trace,mail_parser=trace")
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .unwrap(),
    )
}

pub(crate) fn ingest(cfg: &Path, file: &Path) -> String {
    let out = silgate().args(["ingest", "--config"]).arg(cfg).arg(file).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub(crate) fn audit(cfg: &Path, args: &[&str]) -> (i32, String) {
    let out = silgate().arg("audit").args(args).arg("--config").arg(cfg).output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned())
}

fn end_to_end(extra: &str, n: usize) {
    end_to_end_with(extra, n, "");
}

fn end_to_end_with(extra: &str, n: usize, node_top: &str) {
    let dir = tempfile::tempdir().unwrap();
    let pki = certs(dir.path());
    let (_node, base) = node_with(dir.path(), &pki, &pki, "", node_top);
    let cfg = gateway(dir.path(), &pki, &base, extra);
    let input = dir.path().join("batch.jsonl");
    std::fs::write(&input, vacancies(n, "E2E")).unwrap();
    let out = ingest(&cfg, &input);
    assert!(out.contains(&format!("{n} queued, 0 unchanged")), "{out}");
    let gw = run(&cfg);
    wait_for("every document at the node", Duration::from_secs(120), || totals(&base, &pki, "accepted") == n as i64);
    assert_eq!(gw.term(), 0, "SIGTERM drains and exits 0");
    // The same input again: nothing queued, nothing new at the node.
    let out = ingest(&cfg, &input);
    assert!(out.contains(&format!("0 queued, {n} unchanged")), "{out}");
    let gw = run(&cfg);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(gw.term(), 0);
    let s = stats(&base, &pki);
    assert_eq!(s["totals"]["accepted"], n as i64);
    assert_eq!(s["totals"]["distinct_codes"], n as i64);
    assert_eq!(s["totals"]["duplicates"], 0);
    let (code, text) = audit(&cfg, &["verify"]);
    assert_eq!(code, 0, "{text}");
}

#[test]
fn given_records_through_the_sqlite_queue_the_node_should_hold_each_once_and_a_rerun_sends_nothing() {
    end_to_end("", 300);
}

#[test]
fn given_records_through_rabbitmq_the_node_should_hold_each_once_and_a_rerun_sends_nothing() {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let uri = crate::amqp_test_uri();
    end_to_end(&format!("[queue]\nbackend = \"rabbitmq\"\nuri = \"{uri}\"\nname = \"silgate.it.e2e.{t}\"\n"), 300);
}

#[test]
fn given_node_store_audit_and_dedup_index_in_postgres_the_path_should_hold() {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let schema = format!("silgate_it_{}_{}", std::process::id(), t % 1_000_000_000);
    let psql =
        Command::new("psql").args(["-h", "127.0.0.1", "-U", "postgres", "-d", "test", "-v", "ON_ERROR_STOP=1", "-c"]).arg(format!("CREATE SCHEMA {schema}")).output().unwrap();
    assert!(psql.status.success(), "{}", String::from_utf8_lossy(&psql.stderr));
    let url = format!("host=127.0.0.1 user=postgres dbname=test options='-c search_path={schema}'");
    end_to_end_with(&format!("[audit]\nbackend = \"postgres\"\nurl = \"{url}\"\n[dedup]\nbackend = \"postgres\"\nurl = \"{url}\"\n"), 120, &format!("postgres = \"{url}\""));
    let count =
        Command::new("psql").args(["-h", "127.0.0.1", "-U", "postgres", "-d", "test", "-tA", "-c"]).arg(format!("SELECT count(*) FROM {schema}.node_documents")).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&count.stdout).trim(), "120");
}

#[test]
fn given_exhausted_attempts_dead_letters_should_be_listed_and_replayed_to_delivery() {
    let dir = tempfile::tempdir().unwrap();
    let pki = certs(dir.path());
    let (_node, base) = node(dir.path(), &pki, &pki, "error_rate = 1.0");
    let cfg = gateway(dir.path(), &pki, &base, "[delivery]\nmax_attempts = 2\nmin_delay_ms = 10\nmax_delay_ms = 20\nbreaker_failures = 100\n");
    let input = dir.path().join("dlq.jsonl");
    std::fs::write(&input, vacancies(6, "DLQ")).unwrap();
    ingest(&cfg, &input);
    let gw = run(&cfg);
    wait_for("six dead letters", Duration::from_secs(60), || {
        let out = silgate().args(["dlq", "list", "--config"]).arg(&cfg).output().unwrap();
        String::from_utf8_lossy(&out.stderr).contains("6 dead letter(s)")
    });
    assert_eq!(gw.term(), 0);
    let out = silgate().args(["dlq", "list", "--config"]).arg(&cfg).output().unwrap();
    let listing = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(listing.lines().count(), 6);
    assert!(listing.lines().all(|l| l.contains("delivery.attempts-exhausted: http-5xx")), "{listing}");
    // The node recovers; the operator replays one, then the rest.
    put_faults(&base, &pki, "{}");
    let first = listing.lines().next().unwrap().split('\t').next().unwrap().to_string();
    let out = silgate().args(["dlq", "replay", "--config"]).arg(&cfg).args(["--id", &first]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 item(s) replayed"));
    let out = silgate().args(["dlq", "replay", "--config"]).arg(&cfg).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("5 item(s) replayed"));
    let gw = run(&cfg);
    wait_for("the replayed records at the node", Duration::from_secs(60), || totals(&base, &pki, "accepted") == 6);
    assert_eq!(gw.term(), 0);
    let (_, hist) = audit(&cfg, &["query", "--record", &first]);
    for event in ["queued", "attempt", "dead-lettered", "replayed", "delivered"] {
        assert!(hist.contains(event), "{event} missing from:\n{hist}");
    }
    let metrics = get_text(&format!("{base}/metrics"), &pki);
    assert!(metrics.contains("silgate_node_documents_total{region=\"14\",kind=\"vacancy\",outcome=\"accepted\"} 6"), "{metrics}");
    assert!(metrics.contains("silgate_node_faults_injected_total{fault=\"error\"}"), "{metrics}");
}

#[test]
fn given_plain_soap_through_a_porta_di_dominio_the_node_should_hold_each_once() {
    let dir = tempfile::tempdir().unwrap();
    let pki = certs(dir.path());
    let (_node, base) = node(dir.path(), &pki, &pki, "");
    // The PdD form: no eGov header, posted to <base>/pdd/PD/<Servizio>/<azione>.
    let cfg = gateway(dir.path(), &pki, &format!("{base}/pdd/PD"), "");
    let text = std::fs::read_to_string(&cfg).unwrap().replace("/pdd/PD/ws/cliclavoro\"", "/pdd/PD\"\nplain_soap = true");
    std::fs::write(&cfg, text).unwrap();
    let input = dir.path().join("pdd.jsonl");
    std::fs::write(&input, vacancies(40, "PDD")).unwrap();
    ingest(&cfg, &input);
    let gw = run(&cfg);
    wait_for("every document through the PdD endpoint", Duration::from_secs(60), || totals(&base, &pki, "accepted") == 40);
    assert_eq!(gw.term(), 0);
    let s = stats(&base, &pki);
    assert_eq!(s["totals"]["distinct_codes"], 40);
    let conn = rusqlite::Connection::open(dir.path().join("data/audit.db")).unwrap();
    let receipts: i64 = conn.query_row("SELECT count(*) FROM audit WHERE event = 'delivered' AND detail LIKE 'receipt=NAZIONALE_%'", [], |r| r.get(0)).unwrap();
    assert_eq!(receipts, 40, "the node's receipt comes back in plain mode too");
}

#[test]
fn given_a_faulty_node_everything_should_be_delivered_with_retry_after_honoured() {
    let dir = tempfile::tempdir().unwrap();
    let pki = certs(dir.path());
    // 30% 503, 10% 429 with Retry-After: 1, and a 4 s outage (a 60 s outage, compressed).
    let (_node, base) = node(dir.path(), &pki, &pki, "error_rate = 0.3\nthrottle_rate = 0.1\nretry_after_secs = 1\noutages = [{ start_secs = 1.0, duration_secs = 4.0 }]");
    let delivery = "[delivery]\nconcurrency = 8\nmax_attempts = 60\nmin_delay_ms = 50\nmax_delay_ms = 1000\nbreaker_failures = 5\nbreaker_cooldown_ms = 500\n";
    let cfg = gateway(dir.path(), &pki, &base, delivery);
    let n = 150;
    std::fs::create_dir_all(dir.path().join("inbox")).unwrap();
    std::fs::write(dir.path().join("inbox/faults.jsonl"), vacancies(n, "FLT")).unwrap();
    let gw = run(&cfg);
    wait_for("every document despite the faults", Duration::from_secs(180), || totals(&base, &pki, "accepted") == n as i64);
    assert_eq!(gw.term(), 0);
    let s = stats(&base, &pki);
    assert!(s["totals"]["faults_injected"].as_i64().unwrap() > 20, "{s}");
    assert_eq!(s["totals"]["retry_after_violations"], 0, "Retry-After honoured");
    assert_eq!(s["totals"]["distinct_codes"], n as i64);
    assert!(dir.path().join("inbox/done/faults.jsonl").exists(), "the file's receipt: moved to done/");
    let conn = rusqlite::Connection::open(dir.path().join("data/audit.db")).unwrap();
    let count = |like: &str| -> i64 { conn.query_row("SELECT count(*) FROM audit WHERE event = 'attempt' AND detail LIKE ?1", [like], |r| r.get(0)).unwrap() };
    assert!(count("%outcome=http-5xx%") > 0);
    assert!(count("%outcome=http-429%") > 0);
    assert_eq!(count("%outcome=delivered%"), n as i64);
    let (code, text) = audit(&cfg, &["verify"]);
    assert_eq!(code, 0, "{text}");
}

#[test]
fn given_a_permanent_rejection_the_record_should_be_quarantined_with_the_reason_and_not_retried() {
    let dir = tempfile::tempdir().unwrap();
    let pki = certs(dir.path());
    let (_node, base) = node(dir.path(), &pki, &pki, "reject_rate = 1.0");
    let cfg = gateway(dir.path(), &pki, &base, "");
    let input = dir.path().join("refused.jsonl");
    std::fs::write(&input, vacancies(5, "KO")).unwrap();
    ingest(&cfg, &input);
    let gw = run(&cfg);
    wait_for("five refusals", Duration::from_secs(60), || totals(&base, &pki, "rejected") == 5);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(gw.term(), 0);
    let q = std::fs::read_to_string(dir.path().join("data/quarantine.jsonl")).unwrap();
    let lines: Vec<Value> = q.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 5);
    assert!(lines.iter().all(|l| l["rule"] == "node.ko" && l["message"].as_str().unwrap().contains("fault.injected-reject")), "{q}");
    let conn = rusqlite::Connection::open(dir.path().join("data/audit.db")).unwrap();
    let attempts: i64 = conn.query_row("SELECT count(*) FROM audit WHERE event = 'attempt'", [], |r| r.get(0)).unwrap();
    assert_eq!(attempts, 5, "one attempt each: a refusal is not retried");
    let out = silgate().args(["dlq", "list", "--config"]).arg(&cfg).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("0 dead letter(s)"));
}

fn kill_and_restart(extra: &str, n: usize, kills: usize, broker_restart: bool) {
    let dir = tempfile::tempdir().unwrap();
    let pki = certs(dir.path());
    let (_node, base) = node(dir.path(), &pki, &pki, "latency_ms = 2");
    let cfg = gateway(dir.path(), &pki, &base, extra);
    std::fs::create_dir_all(dir.path().join("inbox")).unwrap();
    for part in 0..4 {
        let chunk: String = vacancies(n, "K").lines().skip(part * n / 4).take(n / 4).map(|l| format!("{l}\n")).collect();
        std::fs::write(dir.path().join(format!("inbox/part{part}.jsonl")), chunk).unwrap();
    }
    for k in 0..kills {
        let gw = run(&cfg);
        std::thread::sleep(Duration::from_millis(700 + fastrand_ms(k) % 1500));
        if broker_restart && k == 1 {
            let stop = Command::new("rabbitmqctl").arg("stop_app").output().unwrap();
            assert!(stop.status.success(), "{}", String::from_utf8_lossy(&stop.stderr));
            std::thread::sleep(Duration::from_secs(2));
            let start = Command::new("rabbitmqctl").arg("start_app").output().unwrap();
            assert!(start.status.success(), "{}", String::from_utf8_lossy(&start.stderr));
            // Until the broker's queues are back (the next tests need them).
            let up = Command::new("rabbitmqctl").args(["await_startup", "--timeout", "60"]).output().unwrap();
            assert!(up.status.success(), "{}", String::from_utf8_lossy(&up.stderr));
        }
        gw.kill9();
    }
    let gw = run(&cfg);
    wait_for("every document after the kills", Duration::from_secs(300), || totals(&base, &pki, "accepted") == n as i64);
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(gw.term(), 0);
    let s = stats(&base, &pki);
    assert_eq!(s["totals"]["accepted"], n as i64, "{s}");
    assert_eq!(s["totals"]["distinct_codes"], n as i64, "no record version twice at the node");
    let (code, text) = audit(&cfg, &["verify"]);
    assert_eq!(code, 0, "{text}");
}

/// A cheap pseudo-random spread of kill moments (deterministic per run index, varied
/// per process).
fn fastrand_ms(k: usize) -> u64 {
    let seed = u64::from(std::process::id()) ^ (k as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    seed.wrapping_mul(6_364_136_223_846_793_005) >> 40
}

#[test]
fn given_kill_9_at_random_moments_the_node_should_end_with_every_record_once() {
    // Leases of a killed process come back after the visibility timeout: keep it short.
    // Five kills may all land in one input's read: it is not the input's fault here
    // (the count that sets a crash-looping input aside has its own test).
    kill_and_restart("[queue]\nvisibility_timeout_secs = 3\n[limits]\nmax_unfinished_reads = 10\n", 20_000, 5, false);
}

#[test]
fn given_a_rabbitmq_restart_mid_run_nothing_should_be_lost_or_duplicated() {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let uri = crate::amqp_test_uri();
    kill_and_restart(&format!("[queue]\nbackend = \"rabbitmq\"\nuri = \"{uri}\"\nname = \"silgate.it.restart.{t}\"\n[limits]\nmax_unfinished_reads = 10\n"), 1_000, 3, true);
}

#[test]
fn given_an_edited_or_deleted_audit_entry_verify_should_fail_and_name_it() {
    let dir = tempfile::tempdir().unwrap();
    let pki = certs(dir.path());
    let (_node, base) = node(dir.path(), &pki, &pki, "");
    let cfg = gateway(dir.path(), &pki, &base, "");
    let input = dir.path().join("a.jsonl");
    std::fs::write(&input, vacancies(5, "AUD")).unwrap();
    ingest(&cfg, &input);
    assert_eq!(audit(&cfg, &["verify"]).0, 0);
    let db = dir.path().join("data/audit.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch("DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete; UPDATE audit SET cpi = 'CPIXX' WHERE seq = 3").unwrap();
    let (code, text) = audit(&cfg, &["verify"]);
    assert_eq!(code, 1);
    assert!(text.contains("gw#3: edited"), "{text}");
    // `audit verify` reopened the store, which put the append-only triggers back.
    conn.execute_batch("DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete; DELETE FROM audit WHERE seq = 3; DELETE FROM audit WHERE seq = 6").unwrap();
    let (code, text) = audit(&cfg, &["verify"]);
    assert_eq!(code, 1);
    assert!(text.contains("gw#3..3: deleted"), "{text}");
    let (_, hist) = audit(&cfg, &["query", "--cpi", "CPIBA01"]);
    assert!(hist.contains("queued"), "{hist}");
    assert!(!hist.contains("Servizi Informatici"), "no record content in the audit");
}

#[test]
fn given_a_node_with_an_untrusted_certificate_the_gateway_should_refuse_to_deliver() {
    let dir = tempfile::tempdir().unwrap();
    let pki = certs(dir.path());
    let rogue = dir.path().join("rogue");
    let out = silgate().args(["certs", "--out"]).arg(&rogue).output().unwrap();
    assert!(out.status.success());
    // The node presents a certificate from another CA (it still trusts our clients).
    let (_node, base) = node(dir.path(), &pki, &rogue, "");
    let cfg = gateway(dir.path(), &pki, &base, "[delivery]\nmax_attempts = 3\nmin_delay_ms = 50\nmax_delay_ms = 100\n");
    let input = dir.path().join("t.jsonl");
    std::fs::write(&input, vacancies(3, "TLS")).unwrap();
    ingest(&cfg, &input);
    let gw = run(&cfg);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(gw.term(), 0);
    let conn = rusqlite::Connection::open(dir.path().join("data/audit.db")).unwrap();
    let tls: i64 = conn.query_row("SELECT count(*) FROM audit WHERE event = 'attempt' AND detail LIKE '%outcome=tls%'", [], |r| r.get(0)).unwrap();
    let delivered: i64 = conn.query_row("SELECT count(*) FROM audit WHERE event = 'delivered'", [], |r| r.get(0)).unwrap();
    assert!(tls >= 3, "every attempt failed on the certificate ({tls})");
    assert_eq!(delivered, 0);
    let s = stats(&base, &rogue_client(&pki, &rogue));
    assert_eq!(s["totals"]["accepted"], 0);
}

/// A PKI view whose CA is the rogue one (to read the rogue node's stats) and whose
/// client certificate is ours (the node trusts it).
fn rogue_client(pki: &Path, rogue: &Path) -> PathBuf {
    let v = rogue.join("view");
    std::fs::create_dir_all(&v).unwrap();
    std::fs::copy(rogue.join("ca.pem"), v.join("ca.pem")).unwrap();
    std::fs::copy(pki.join("client.pem"), v.join("client.pem")).unwrap();
    std::fs::copy(pki.join("client.key"), v.join("client.key")).unwrap();
    v
}

#[test]
fn given_a_message_id_reused_for_another_document_the_node_should_refuse_it_not_replay() {
    let dir = tempfile::tempdir().unwrap();
    let pki = certs(dir.path());
    let (_node, base) = node(dir.path(), &pki, &pki, "");
    let envelope = std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/egov/request-egov.xml")).unwrap();
    // The same id, another document: what two deployments with one sender name and two
    // counters would send.
    let other = envelope.replacen("&lt;/", "X&lt;/", 1);
    assert_ne!(other, envelope);
    let post = |body: &str| -> (u16, String) {
        block_on(async {
            let r = https(&pki).await.post(format!("{base}/ws/cliclavoro")).header("content-type", "text/xml; charset=utf-8").body(body.to_string()).send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        })
    };
    let (s1, first) = post(&envelope);
    assert_eq!(s1, 200, "{first}");
    // The same document again: the first answer, counted as a duplicate.
    assert_eq!(post(&envelope), (200, first.clone()));
    let before = stats(&base, &pki)["totals"].clone();
    let (s3, body) = post(&other);
    assert_eq!(s3, 500, "{body}");
    assert!(body.contains("EGOV_IT_100") && body.contains("Client"), "{body}");
    let after = stats(&base, &pki)["totals"].clone();
    assert_eq!(
        (after["accepted"].clone(), after["rejected"].clone(), after["duplicates"].clone()),
        (before["accepted"].clone(), before["rejected"].clone(), before["duplicates"].clone())
    );
    assert_eq!(after["envelopes_refused"].as_u64().unwrap(), before["envelopes_refused"].as_u64().unwrap() + 1);
}

#[test]
fn given_an_input_whose_reads_never_finished_three_times_run_should_set_it_aside_and_go_on() {
    // What a crash loop leaves: the input still claimed by this instance, and three reads
    // of it counted on disk that never ended (each killed the process).
    let dir = tempfile::tempdir().unwrap();
    let pki = certs(dir.path());
    let (_node, base) = node(dir.path(), &pki, &pki, "");
    let cfg = gateway(dir.path(), &pki, &base, "");
    let inbox = dir.path().join("inbox");
    std::fs::create_dir_all(inbox.join(".claimed/gw")).unwrap();
    std::fs::create_dir_all(inbox.join(".attempts/gw")).unwrap();
    std::fs::write(inbox.join(".claimed/gw/poison.jsonl"), vacancies(3, "P")).unwrap();
    std::fs::write(inbox.join(".attempts/gw/poison.jsonl"), "3\n").unwrap();
    // A count left for an input no longer claimed is dropped, not inherited.
    std::fs::write(inbox.join(".attempts/gw/next.jsonl"), "3\n").unwrap();
    std::fs::write(inbox.join("next.jsonl"), vacancies(4, "N")).unwrap();
    let gw = run(&cfg);
    wait_for("the input behind it delivered", Duration::from_secs(60), || totals(&base, &pki, "accepted") == 4);
    wait_for("the poison input set aside", Duration::from_secs(30), || inbox.join("refused/poison.jsonl.reason.txt").exists());
    assert_eq!(gw.term(), 0);
    let reason = std::fs::read_to_string(inbox.join("refused/poison.jsonl.reason.txt")).unwrap();
    assert!(reason.contains("stopped the gateway 3 times"), "{reason}");
    assert!(!inbox.join(".attempts/gw/poison.jsonl").exists(), "its count is forgotten once it is set aside");
    assert!(!inbox.join(".attempts/gw/next.jsonl").exists(), "a finished read leaves no count");
    assert_eq!(totals(&base, &pki, "accepted"), 4, "nothing of the set-aside input was sent");
    let conn = rusqlite::Connection::open(dir.path().join("data/audit.db")).unwrap();
    let poison: i64 = conn.query_row("SELECT count(*) FROM audit WHERE event = 'rejected' AND fields LIKE '%source.poison%'", [], |r| r.get(0)).unwrap();
    assert_eq!(poison, 1, "the setting aside is audited once");
}

#[test]
fn given_idle_connections_and_an_impostor_the_node_should_serve_the_region_and_refuse_the_other_sender() {
    let dir = tempfile::tempdir().unwrap();
    let pki = certs(dir.path());
    let (_node, base) = node_with(dir.path(), &pki, &pki, "", "max_connections_per_ip = 20\nidle_secs = 8\n");
    let port: u16 = base.rsplit(':').next().unwrap().parse().unwrap();
    // 200 connections from five loopback addresses complete their handshake and say
    // nothing: 20 from each are held, the rest closed before their handshake. (The
    // region's gateway, from 127.0.0.1, uses up to 16 at once: its workers.)
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let tls = std::sync::Arc::new(client_tls(&pki));
    let mut held = Vec::new();
    for i in 0..200u32 {
        let from = std::net::IpAddr::from([127, 0, 0, 2 + (i % 5) as u8]);
        if let Some(c) = idle_tls(&rt, from, port, &tls) {
            held.push(c);
        }
    }
    assert_eq!(held.len(), 5 * 20, "each address holds its share");
    // The region, from its own address, delivers while they are held.
    let cfg = gateway(dir.path(), &pki, &base, "");
    std::fs::create_dir_all(dir.path().join("inbox")).unwrap();
    std::fs::write(dir.path().join("inbox/five.jsonl"), vacancies(5, "IDLE")).unwrap();
    let gw = run(&cfg);
    wait_for("the region's documents at the node", Duration::from_secs(60), || totals(&base, &pki, "accepted") == 5);
    assert_eq!(gw.term(), 0);
    // A silent connection is closed by the node after idle_secs.
    let started = Instant::now();
    let (mut tcp, mut conn) = held.pop().unwrap();
    let closed = closed_by_server(&mut tcp, &mut conn);
    assert!(closed && started.elapsed() < Duration::from_secs(12), "an idle connection is closed (after {:?})", started.elapsed());
    drop(held);
    // Puglia's certificate used to send as Sicily: every envelope refused, nothing stored.
    let other = dir.path().join("impostor");
    std::fs::create_dir_all(other.join("inbox")).unwrap();
    let text = std::fs::read_to_string(&cfg).unwrap();
    let text = text
        .replace("region = \"14\"\nregion_name = \"PUGLIA\"", "region = \"16\"\nregion_name = \"SICILIA\"")
        .replace(&dir.path().join("data").display().to_string(), &other.join("data").display().to_string())
        .replace(&dir.path().join("inbox").display().to_string(), &other.join("inbox").display().to_string());
    assert!(text.contains("SICILIA") && text.contains("impostor"), "{text}");
    let impostor = other.join("gateway.toml");
    std::fs::write(&impostor, text).unwrap();
    std::fs::write(other.join("inbox/three.jsonl"), vacancies(3, "IMP")).unwrap();
    let refused_before = totals(&base, &pki, "envelopes_refused");
    let gw = run(&impostor);
    wait_for("three envelopes refused", Duration::from_secs(60), || totals(&base, &pki, "envelopes_refused") >= refused_before + 3);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(gw.term(), 0);
    assert_eq!(totals(&base, &pki, "accepted"), 5, "nothing of the impostor's stored");
    let q = std::fs::read_to_string(other.join("data/quarantine.jsonl")).unwrap();
    assert_eq!(q.lines().count(), 3, "{q}");
    assert!(q.lines().all(|l| l.contains("EGOV_IT_201") && l.contains("SICILIA") && l.contains("PUGLIA")), "{q}");
}
