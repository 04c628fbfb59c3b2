//! deploy/ against the real binaries: the Grafana dashboard queries only metrics the
//! gateway and the node expose, the systemd units pass `systemd-analyze verify`, the
//! compose gateway config passes `config check`.
#![allow(clippy::unwrap_used)]

use crate::delivery::{certs, gateway, get_text, node, run, wait_for};
use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use crate::root;

/// The sample names an exposition declares (from its `# TYPE` lines).
fn exposed(text: &str, into: &mut BTreeSet<String>) {
    for l in text.lines() {
        let mut it = l.split_whitespace();
        if (it.next(), it.next()) != (Some("#"), Some("TYPE")) {
            continue;
        }
        let (Some(name), Some(kind)) = (it.next(), it.next()) else { continue };
        match kind {
            "counter" => {
                into.insert(format!("{name}_total"));
            }
            "histogram" => {
                for s in ["_bucket", "_sum", "_count"] {
                    into.insert(format!("{name}{s}"));
                }
            }
            _ => {
                into.insert(name.to_string());
            }
        }
    }
}

#[test]
fn given_the_grafana_dashboard_every_metric_it_queries_should_be_exposed() {
    let dir = tempfile::tempdir().unwrap();
    let pki = certs(dir.path());
    let (_node, base) = node(dir.path(), &pki, &pki, "");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let cfg = gateway(dir.path(), &pki, &base, &format!("[metrics]\nlisten = \"127.0.0.1:{port}\"\n"));
    let gw = run(&cfg);
    wait_for("the metrics endpoint", Duration::from_secs(20), || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
    // Families appear once they have samples: one good and one broken record through.
    let good = include_str!("../../crates/silgate/samples/demo.jsonl").lines().find(|l| l.contains("\"2026/77\"")).unwrap();
    let bad = good.replace("\"2026/77\"", "\"2026/bad\"").replacen("\"sector\": \"", "\"sector\": \"9", 1);
    std::fs::create_dir_all(dir.path().join("inbox")).unwrap();
    std::fs::write(dir.path().join("inbox/one.jsonl"), format!("{good}\n{bad}\n")).unwrap();
    wait_for("the record at the node", Duration::from_secs(60), || crate::delivery::totals(&base, &pki, "accepted") == 1);
    let gateway_text = {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    };
    let mut names = BTreeSet::new();
    exposed(&gateway_text, &mut names);
    exposed(&get_text(&format!("{base}/metrics"), &pki), &mut names);
    assert!(names.contains("silgate_gateway_records_total") && names.contains("silgate_node_documents_total"), "{names:?}");
    let dash: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(root().join("deploy/grafana/silgate.json")).unwrap()).unwrap();
    let mut queried = 0;
    for panel in dash["panels"].as_array().unwrap() {
        for t in panel["targets"].as_array().unwrap() {
            let expr = t["expr"].as_str().unwrap();
            for word in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).filter(|w| w.starts_with("silgate_")) {
                assert!(names.contains(word), "panel '{}' queries {word}, which no binary exposes", panel["title"]);
                queried += 1;
            }
        }
    }
    assert!(queried >= 10, "{queried}");
    assert_eq!(gw.term(), 0);
}

#[test]
fn given_the_systemd_units_they_should_pass_systemd_analyze_verify() {
    if Command::new("systemd-analyze").arg("--version").output().is_err() {
        eprintln!("systemd-analyze is not on this machine: the units are not verified here");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for unit in ["silgate-gateway.service", "silgate-node.service"] {
        let text = std::fs::read_to_string(root().join("deploy/systemd").join(unit)).unwrap();
        // The unit names the installed binary; verify checks that it exists.
        let path = dir.path().join(unit);
        std::fs::write(&path, text.replace("/usr/local/bin/silgate", env!("CARGO_BIN_EXE_silgate"))).unwrap();
        let o = Command::new("systemd-analyze").args(["verify", "--man=no"]).arg(&path).output().unwrap();
        assert!(o.status.success(), "{unit}: {}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    }
}

#[test]
fn given_the_compose_gateway_config_it_should_pass_config_check() {
    let o = Command::new(env!("CARGO_BIN_EXE_silgate")).args(["config", "check", "--offline"]).arg(root().join("deploy/compose/gateway.toml")).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
}
