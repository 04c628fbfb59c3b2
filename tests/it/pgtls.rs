//! TLS to PostgreSQL (`sslmode=require`), against a real server: a private PostgreSQL
//! cluster started here (initdb as the `postgres` user in a temporary folder, its own
//! port, `ssl = on` with a certificate of the test PKI, only `hostssl` connections
//! allowed), the way the PEC tests run their own dovecot. The machine's own server is
//! not touched.
#![allow(clippy::unwrap_used)]

use crate::delivery::{certs, vacancies};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A private PostgreSQL cluster with TLS; stopped when dropped.
struct PrivatePg {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
}

fn as_postgres(bin: &Path, tool: &str, args: &[&str]) -> std::process::Output {
    Command::new("runuser").args(["-u", "postgres", "--"]).arg(bin.join(tool)).args(args).output().unwrap()
}

impl PrivatePg {
    fn start(pki: &Path) -> Self {
        use std::os::unix::fs::PermissionsExt;
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.path().join("bin"))
            .find(|b| b.join("initdb").exists())
            .expect("PostgreSQL's initdb (Debian postgresql)");
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let data = dir.path().join("data");
        let tls = dir.path().join("tls");
        std::fs::create_dir_all(&tls).unwrap();
        std::fs::copy(pki.join("node.pem"), tls.join("server.pem")).unwrap();
        std::fs::copy(pki.join("node.key"), tls.join("server.key")).unwrap();
        std::fs::set_permissions(tls.join("server.key"), std::fs::Permissions::from_mode(0o600)).unwrap();
        let st = Command::new("chown").args(["-R", "postgres:postgres"]).arg(dir.path()).status().unwrap();
        assert!(st.success());
        let out = as_postgres(&bin, "initdb", &["-D", data.to_str().unwrap(), "-U", "postgres", "--auth=trust", "-E", "UTF8"]);
        assert!(out.status.success(), "initdb: {}", String::from_utf8_lossy(&out.stderr));
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let conf = format!(
            "listen_addresses = '127.0.0.1'\nport = {port}\nunix_socket_directories = '{}'\nssl = on\nssl_cert_file = '{}'\nssl_key_file = '{}'\nfsync = off\n",
            dir.path().display(),
            tls.join("server.pem").display(),
            tls.join("server.key").display()
        );
        let mut pg_conf = std::fs::read_to_string(data.join("postgresql.conf")).unwrap();
        pg_conf.push_str(&conf);
        std::fs::write(data.join("postgresql.conf"), pg_conf).unwrap();
        // Only TLS connections over TCP: a plain one is refused by the server itself.
        std::fs::write(data.join("pg_hba.conf"), "local all all trust\nhostssl all all 127.0.0.1/32 trust\n").unwrap();
        let log = dir.path().join("pg.log");
        let out = as_postgres(&bin, "pg_ctl", &["-D", data.to_str().unwrap(), "-l", log.to_str().unwrap(), "-w", "-t", "60", "start"]);
        assert!(out.status.success(), "pg_ctl start: {} {}", String::from_utf8_lossy(&out.stderr), std::fs::read_to_string(&log).unwrap_or_default());
        Self { dir, bin, port }
    }
}

impl Drop for PrivatePg {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        let _ = as_postgres(&self.bin, "pg_ctl", &["-D", data.to_str().unwrap_or_default(), "-m", "immediate", "stop"]);
    }
}

fn ingest(cfg: &Path, input: &Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_silgate")).args(["ingest", "--config"]).arg(cfg).arg(input).output().unwrap();
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn given_sslmode_require_the_audit_and_the_dedup_index_should_reach_postgres_over_verified_tls_only() {
    let dir = tempfile::tempdir().unwrap();
    let pki = certs(dir.path());
    let other = certs(&dir.path().join("other"));
    let pg = PrivatePg::start(&pki);
    let input = dir.path().join("five.jsonl");
    std::fs::write(&input, vacancies(5, "TLS")).unwrap();
    let config = |name: &str, url: &str, ca: Option<&Path>| {
        let ca = ca.map(|c| format!("ca = \"{}\"\n", c.display())).unwrap_or_default();
        let cfg = dir.path().join(format!("{name}.toml"));
        std::fs::write(
            &cfg,
            format!(
                "instance = \"{name}\"\nregion = \"14\"\nregion_name = \"PUGLIA\"\ndata_dir = \"{}\"\n[node]\nurl = \"http://127.0.0.1:9/ws\"\n\
                 [audit]\nbackend = \"postgres\"\nurl = \"{url}\"\n{ca}[dedup]\nbackend = \"postgres\"\nurl = \"{url}\"\n{ca}",
                dir.path().join(format!("data-{name}")).display()
            ),
        )
        .unwrap();
        cfg
    };
    let tls_url = format!("host=127.0.0.1 port={} user=postgres dbname=postgres sslmode=require", pg.port);
    // Verified against the test CA (the server's certificate names 127.0.0.1): ingest
    // writes its audit entries and index rows there.
    let (ok, out) = ingest(&config("verified", &tls_url, Some(&pki.join("ca.pem"))), &input);
    assert!(ok, "{out}");
    assert!(out.contains("5 queued"), "{out}");
    let count = as_postgres(
        &pg.bin,
        "psql",
        &["-h", pg.dir.path().to_str().unwrap(), "-p", &pg.port.to_string(), "-U", "postgres", "-tAc", "SELECT count(*) FROM audit WHERE event = 'queued'"],
    );
    assert_eq!(String::from_utf8_lossy(&count.stdout).trim(), "5", "{}", String::from_utf8_lossy(&count.stderr));
    // Another CA: the server's certificate is not trusted, nothing is written.
    let (ok, out) = ingest(&config("untrusted", &tls_url, Some(&other.join("ca.pem"))), &input);
    assert!(!ok, "{out}");
    assert!(out.to_lowercase().contains("certificate"), "{out}");
    // Without sslmode=require the connection is plain, which this server refuses.
    let plain_url = format!("host=127.0.0.1 port={} user=postgres dbname=postgres sslmode=disable", pg.port);
    let (ok, out) = ingest(&config("plain", &plain_url, None), &input);
    assert!(!ok && out.contains("no encryption"), "{out}");
}

#[test]
fn given_sslmode_require_and_a_server_without_tls_the_connection_should_fail_not_fall_back() {
    // The machine's PostgreSQL speaks no TLS: require must not quietly go plain.
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("g.toml");
    std::fs::write(
        &cfg,
        format!(
            "region = \"14\"\nregion_name = \"PUGLIA\"\ndata_dir = \"{}\"\n[node]\nurl = \"http://127.0.0.1:9/ws\"\n[audit]\nbackend = \"postgres\"\nurl = \"host=127.0.0.1 user=postgres dbname=test sslmode=require\"\n",
            dir.path().join("data").display()
        ),
    )
    .unwrap();
    let input = dir.path().join("one.jsonl");
    std::fs::write(&input, vacancies(1, "NOTLS")).unwrap();
    let (ok, out) = ingest(&cfg, &input);
    assert!(!ok, "{out}");
    assert!(out.contains("TLS") || out.contains("tls") || out.contains("SSL"), "{out}");
}
