//! The source adapters end to end through the real binary: generated SIL Plus, Access
//! (CSV, workbook, zip) and Sintesi inputs in, exactly the expected documents out
//! (valid under our XSDs and the ministry's, checked by xmllint), exactly the expected
//! quarantine lines, refused inputs with exit code 2, and re-ingest queueing nothing.
#![allow(clippy::unwrap_used)]

use crate::generate::{self, Entity, Val};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn silgate() -> Command {
    Command::new(env!("CARGO_BIN_EXE_silgate"))
}

use crate::root;

pub(crate) fn fixtures() -> PathBuf {
    root().join("tests/fixtures")
}

fn translate(kind: &str, input: &Path, out: &Path, extra: &[&str]) -> (i32, String) {
    let o = silgate().args(["translate", "--source", kind, "--region", "16", "--today", "2026-11-24", "--out"]).arg(out).args(extra).arg(input).output().unwrap();
    (o.status.code().unwrap_or(-1), String::from_utf8_lossy(&o.stderr).into_owned())
}

/// The documents written, file name -> content.
fn docs(out: &Path) -> BTreeMap<String, String> {
    std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "xml"))
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read_to_string(&p).unwrap()))
        .collect()
}

fn quarantine(out: &Path) -> Vec<Value> {
    std::fs::read_to_string(out.join("quarantine.jsonl")).unwrap_or_default().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// Every document valid under the ministry's XSD and ours, by xmllint.
fn xmllint_all(out: &Path) {
    let d = docs(out);
    for (prefix, ministry, ours) in
        [("cv-", "Rev.038_CL_Allegato_4_Candidatura.xsd", "candidatura.xsd"), ("vacancy-", "Rev.064_CL_Allegato_4_Ricerca_personale.xsd", "vacancy.xsd")]
    {
        let files: Vec<PathBuf> = d.keys().filter(|n| n.starts_with(prefix)).map(|n| out.join(n)).collect();
        if files.is_empty() {
            continue;
        }
        for xsd in [root().join("../shared/reference/cliclavoro").join(ministry), root().join("schemas").join(ours)] {
            let o = Command::new("xmllint").arg("--noout").arg("--schema").arg(&xsd).args(&files).output().expect("xmllint (libxml2-utils) is needed");
            assert!(o.status.success(), "{}: {}", xsd.display(), String::from_utf8_lossy(&o.stderr));
        }
    }
}

fn fiscal_codes(t: &generate::Tables) -> Vec<String> {
    t[&Entity::Lavoratori].iter().map(|r| if let Val::S(s) = &r[1] { s.clone() } else { String::new() }).collect()
}

#[test]
fn given_the_generators_the_committed_fixtures_should_be_what_they_write() {
    if std::env::var_os("SILGATE_BLESS").is_some() {
        generate::write_fixtures(&fixtures());
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    generate::write_fixtures(dir.path());
    let mut checked = 0;
    let mut stack = vec![dir.path().to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let rel = p.strip_prefix(dir.path()).unwrap();
            let committed = std::fs::read(fixtures().join(rel)).unwrap_or_else(|_| panic!("{} is not committed: run SILGATE_BLESS=1", rel.display()));
            assert!(committed == std::fs::read(&p).unwrap(), "{} differs from what the generator writes: run SILGATE_BLESS=1", rel.display());
            checked += 1;
        }
    }
    assert!(checked > 25, "{checked}");
}

#[test]
fn given_a_valid_silplus_export_every_record_should_become_one_valid_document_and_again_the_same_bytes() {
    let t = generate::valid(12, 6);
    let dir = tempfile::tempdir().unwrap();
    let (code, err) = translate("silplus", &fixtures().join("silplus/valid"), &dir.path().join("a"), &[]);
    assert_eq!(code, 0, "{err}");
    let a = docs(&dir.path().join("a"));
    assert_eq!(a.keys().filter(|k| k.starts_with("cv-")).count(), 12, "{err}");
    assert_eq!(a.keys().filter(|k| k.starts_with("vacancy-")).count(), 6, "{err}");
    assert!(quarantine(&dir.path().join("a")).is_empty(), "{:?}", quarantine(&dir.path().join("a")));
    for cf in fiscal_codes(&t) {
        assert_eq!(a.values().filter(|x| x.contains(&format!(">{cf}<"))).count(), 1, "{cf}");
    }
    // Closed worker 7, closed vacancy 5, withdrawn vacancy 6: closures naming the
    // code of the version they close, with their reasons.
    let closures: Vec<&String> = a.values().filter(|x| x.contains("<cliclavoro:motivochiusura>")).collect();
    assert_eq!(closures.len(), 3);
    assert!(closures.iter().any(|x| x.contains("<cliclavoro:motivochiusura>03<")), "withdrawn");
    for c in &closures {
        assert!(c.contains("precedente>"), "{c}");
    }
    // Accents from Windows-1252, quoted separators and line breaks survive.
    assert!(a.values().any(|x| x.contains("Citrà")) && a.values().any(|x| x.contains("Niccolò")));
    assert!(a.values().any(|x| x.contains("Via Roma 3; scala B")));
    xmllint_all(&dir.path().join("a"));
    // Deterministic: the same export (here zipped) gives the same files, byte for byte.
    let (code, err) = translate("silplus", &fixtures().join("silplus/valid.zip"), &dir.path().join("b"), &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(a, docs(&dir.path().join("b")));
}

#[test]
fn given_a_broken_silplus_export_each_bad_row_should_give_exactly_its_quarantine_line() {
    let (t, want) = generate::broken();
    let dir = tempfile::tempdir().unwrap();
    let lines = generate::silplus(&dir.path().join("in"), &t);
    let out = dir.path().join("out");
    let (code, err) = translate("silplus", &dir.path().join("in"), &out, &[]);
    assert_eq!(code, 0, "{err}");
    let q = quarantine(&out);
    let mut got: Vec<(String, String, String)> = q
        .iter()
        .map(|l| (l["position"].as_str().unwrap().rsplit('/').next().unwrap().to_string(), l["field"].as_str().unwrap().to_string(), l["rule"].as_str().unwrap().to_string()))
        .collect();
    let mut expected: Vec<(String, String, String)> = want
        .iter()
        .map(|(e, row, field, rule)| {
            let line = lines[e][*row];
            let field = field.replace("line *", &format!("line {line}"));
            (format!("{}.CSV:line {line}", e.name()), field, rule.clone())
        })
        .collect();
    got.sort();
    expected.sort();
    assert_eq!(got, expected, "{q:#?}");
    for l in &q {
        assert_eq!(l["source"], "silplus");
        let text = l.to_string();
        assert!(!text.contains("Esposito") && !text.contains("Gennaro"), "personal data in quarantine: {text}");
    }
    // The valid rest went through: 6 workers and 4 vacancies (vacancy 5 closed).
    let d = docs(&out);
    assert_eq!(d.keys().filter(|k| k.starts_with("cv-")).count(), 6, "{err}");
    assert_eq!(d.keys().filter(|k| k.starts_with("vacancy-")).count(), 4, "{err}");
    xmllint_all(&out);
}

#[test]
fn given_unreadable_or_refused_inputs_translate_should_fail_whole_with_exit_two_and_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let not_zip = dir.path().join("export.zip");
    std::fs::write(&not_zip, b"PK\x03\x04 this is not a zip archive").unwrap();
    let not_jet = dir.path().join("cpi.mdb");
    std::fs::write(&not_jet, vec![7u8; 8192]).unwrap();
    let cases: [(&str, PathBuf, &str); 9] = [
        // Found by fuzzing: calamine overflowed on a cell reference (a panic, caught).
        ("access", fixtures().join("access/regression-calamine-overflow.xlsx"), "readable"),
        // 1.6 KB, A1 and XFD1048576: calamine asked for 512 GiB and the process aborted.
        ("access", fixtures().join("access/hostile-far-cell.xlsx"), "over the limit limit.sheet_cells: sheet part xl/worksheets/sheet1.xml"),
        ("silplus", fixtures().join("silplus/truncated"), "ESPERIENZE.CSV holds"),
        ("silplus", fixtures().join("silplus/missing-column"), "required column COD_FISC is missing"),
        ("silplus", fixtures().join("silplus/unbalanced-quote"), "TITOLI.CSV holds"),
        ("silplus", not_zip, "not a readable zip"),
        ("silplus", dir.path().join("missing"), "No such file"),
        ("access", not_jet, "not a readable Access"),
        ("sintesi", fixtures().join("silplus/valid/EXPORT.TXT"), "not a Sintesi export"),
    ];
    for (i, (kind, input, says)) in cases.iter().enumerate() {
        let out = dir.path().join(format!("out{i}"));
        let (code, err) = translate(kind, input, &out, &[]);
        assert_eq!(code, 2, "{}: {err}", input.display());
        assert!(err.contains(says), "{}: expected '{says}' in: {err}", input.display());
        assert!(docs(&out).is_empty(), "{}: a refused input wrote documents", input.display());
    }
}

#[test]
fn given_the_same_data_as_access_csv_workbook_or_zip_the_documents_should_be_those_of_silplus() {
    let dir = tempfile::tempdir().unwrap();
    let (code, err) = translate("silplus", &fixtures().join("silplus/valid"), &dir.path().join("silplus"), &[]);
    assert_eq!(code, 0, "{err}");
    let want = docs(&dir.path().join("silplus"));
    for (i, input) in ["access/csv", "access/export.xlsx", "access/csv.zip"].iter().enumerate() {
        let out = dir.path().join(format!("access{i}"));
        let (code, err) = translate("access", &fixtures().join(input), &out, &[]);
        assert_eq!(code, 0, "{input}: {err}");
        assert!(quarantine(&out).is_empty(), "{input}: {:?}", quarantine(&out));
        assert_eq!(docs(&out), want, "{input}");
    }
    // An explicit mapping file gives the same.
    let (code, err) = translate("access", &fixtures().join("access/csv"), &dir.path().join("m"), &["--mapping", "campania-1"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(docs(&dir.path().join("m")), want);
}

#[test]
fn given_a_sintesi_feed_records_should_map_and_broken_ones_give_their_lines() {
    let t = generate::valid(12, 6);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("valid");
    let (code, err) = translate("sintesi", &fixtures().join("sintesi/valid.xml"), &out, &[]);
    assert_eq!(code, 0, "{err}");
    assert!(quarantine(&out).is_empty(), "{:?}", quarantine(&out));
    let d = docs(&out);
    assert_eq!(d.keys().filter(|k| k.starts_with("cv-")).count(), 12);
    assert_eq!(d.keys().filter(|k| k.starts_with("vacancy-")).count(), 6);
    for cf in fiscal_codes(&t) {
        assert_eq!(d.values().filter(|x| x.contains(&format!(">{cf}<"))).count(), 1, "{cf}");
    }
    xmllint_all(&out);
    let out = dir.path().join("broken");
    let (code, err) = translate("sintesi", &fixtures().join("sintesi/broken.xml"), &out, &[]);
    assert_eq!(code, 0, "{err}");
    let (_, want) = generate::sintesi_broken();
    let got: Vec<(String, String, String)> = quarantine(&out)
        .iter()
        .map(|l| (l["position"].as_str().unwrap().rsplit(':').next().unwrap().to_string(), l["field"].as_str().unwrap().to_string(), l["rule"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(got, want);
    assert_eq!(docs(&out).len(), 1, "only the first record of the broken feed is whole");
}

#[test]
fn given_an_export_ingested_twice_the_second_ingest_should_queue_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("gw.toml");
    std::fs::write(&cfg, format!("region = \"14\"\nregion_name = \"PUGLIA\"\ndata_dir = \"{}\"\n[node]\nurl = \"http://127.0.0.1:9/ws\"\n", dir.path().join("data").display()))
        .unwrap();
    for (kind, input, n) in [("silplus", "silplus/valid.zip", 18), ("access", "access/export.xlsx", 18), ("sintesi", "sintesi/valid.xml", 18)] {
        let first = silgate().args(["ingest", "--config"]).arg(&cfg).args(["--source", kind]).arg(fixtures().join(input)).output().unwrap();
        let out = String::from_utf8_lossy(&first.stdout);
        assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
        // A message id names its source system: the same person from two systems is
        // two messages (a region runs one system per CPI). The three closures close
        // records this gateway never sent: quarantined (closure.unknown-original).
        assert!(out.contains(&format!("{n} record(s): {} queued, 0 unchanged (not queued), 3 rejected", n - 3)), "{kind}: {out}");
        let again = silgate().args(["ingest", "--config"]).arg(&cfg).args(["--source", kind]).arg(fixtures().join(input)).output().unwrap();
        let out = String::from_utf8_lossy(&again.stdout);
        assert!(out.contains(&format!("{n} record(s): 0 queued, {} unchanged (not queued), 3 rejected", n - 3)), "{kind} again: {out}");
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, to.join(p.file_name().unwrap())).unwrap();
    }
}

#[test]
fn given_exports_dropped_in_inboxes_run_should_deliver_them_and_set_a_truncated_one_aside() {
    // ... and a hostile workbook in a third inbox is set aside too, the others going on.
    use crate::delivery::{certs, gateway, node, run, totals, wait_for};
    use std::time::Duration;
    let dir = tempfile::tempdir().unwrap();
    let pki = certs(dir.path());
    let (_node, base) = node(dir.path(), &pki, &pki, "");
    let extra = format!(
        "[[sources]]\nkind = \"silplus\"\ninbox = \"{}\"\npoll_secs = 1\n[[sources]]\nkind = \"sintesi\"\ninbox = \"{}\"\npoll_secs = 1\n\
         [[sources]]\nkind = \"access\"\ninbox = \"{}\"\npoll_secs = 1\n",
        dir.path().join("sil").display(),
        dir.path().join("sin").display(),
        dir.path().join("acc").display()
    );
    let cfg = gateway(dir.path(), &pki, &base, &extra);
    std::fs::create_dir_all(dir.path().join("sil")).unwrap();
    std::fs::create_dir_all(dir.path().join("sin")).unwrap();
    std::fs::create_dir_all(dir.path().join("acc")).unwrap();
    std::fs::copy(fixtures().join("access/hostile-far-cell.xlsx"), dir.path().join("acc/far.xlsx")).unwrap();
    copy_dir(&fixtures().join("silplus/truncated"), &dir.path().join("sil/truncated"));
    std::fs::copy(fixtures().join("silplus/valid.zip"), dir.path().join("sil/export-2026-11-24.zip")).unwrap();
    std::fs::copy(fixtures().join("sintesi/valid.xml"), dir.path().join("sin/feed.xml")).unwrap();
    let gw = run(&cfg);
    // 18 + 18 records, of which 3 + 3 are closures of records never sent here.
    wait_for("30 documents at the node", Duration::from_secs(120), || totals(&base, &pki, "accepted") == 30);
    wait_for("the truncated export set aside", Duration::from_secs(30), || dir.path().join("sil/refused/truncated.reason.txt").exists());
    wait_for("the hostile workbook set aside", Duration::from_secs(30), || dir.path().join("acc/refused/far.xlsx.reason.txt").exists());
    assert_eq!(gw.term(), 0);
    let reason = std::fs::read_to_string(dir.path().join("sil/refused/truncated.reason.txt")).unwrap();
    assert!(reason.contains("ESPERIENZE.CSV holds") && reason.contains("EXPORT.TXT says"), "{reason}");
    let reason = std::fs::read_to_string(dir.path().join("acc/refused/far.xlsx.reason.txt")).unwrap();
    assert!(reason.contains("limit.sheet_cells"), "{reason}");
    assert!(dir.path().join("sil/done/export-2026-11-24.zip").exists());
    assert!(dir.path().join("sin/done/feed.xml").exists());
    assert_eq!(totals(&base, &pki, "duplicates"), 0);
}

/// Starts the test Sintesi endpoint over the feeds in `srv` (HTTPS with `pki`'s node
/// certificate); returns it and the `[[sources]]` table that pulls from it.
fn sintesi_server(srv: &std::path::Path, pki: &std::path::Path) -> (std::process::Child, String) {
    use std::io::BufRead;
    let mut server = std::process::Command::new("python3")
        .arg(root().join("tests/fixtures/peers/sintesi_server.py"))
        .arg(srv)
        .arg(pki.join("node.pem"))
        .arg(pki.join("node.key"))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    let mut line = String::new();
    std::io::BufReader::new(server.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let port = line.trim().strip_prefix("port ").unwrap().to_string();
    let extra =
        format!("[[sources]]\nkind = \"sintesi\"\nurl = \"https://127.0.0.1:{port}/\"\ncpi = \"{}\"\nca = \"{}\"\npoll_secs = 1\n", generate::CPI, pki.join("ca.pem").display());
    (server, extra)
}

#[test]
fn given_a_sintesi_server_run_should_pull_incrementally_from_the_persisted_watermark() {
    use crate::delivery::{certs, gateway, node, run, totals, wait_for};
    use std::time::Duration;
    let dir = tempfile::tempdir().unwrap();
    let pki = certs(dir.path());
    let (_node, base) = node(dir.path(), &pki, &pki, "");
    // The server's feeds: the first pull gets workers 1-3; from the watermark of
    // worker 3 on, worker 3 again (the boundary, unchanged) and the new worker 4.
    let srv = dir.path().join("srv");
    std::fs::create_dir_all(&srv).unwrap();
    let all = generate::valid(4, 0);
    let only = |ids: &[usize]| {
        let mut t = generate::valid(0, 0);
        for i in ids {
            t.get_mut(&Entity::Lavoratori).unwrap().push(all[&Entity::Lavoratori][i - 1].clone());
            let id = all[&Entity::Lavoratori][i - 1][0].clone();
            for e in Entity::CV_CHILDREN {
                let rows: Vec<Vec<Val>> = all[&e].iter().filter(|r| r[0] == id).cloned().collect();
                t.get_mut(&e).unwrap().extend(rows);
            }
        }
        generate::sintesi(&t)
    };
    std::fs::write(srv.join("feed0.xml"), only(&[1, 2, 3])).unwrap();
    std::fs::write(srv.join("feed1.xml"), only(&[3, 4])).unwrap();
    std::fs::write(srv.join("feeds.json"), r#"{"": "feed0.xml", "2026-10-04T09:03:00": "feed1.xml"}"#).unwrap();
    let (mut server, extra) = sintesi_server(&srv, &pki);
    let cfg = gateway(dir.path(), &pki, &base, &extra);
    let gw = run(&cfg);
    let wm = dir.path().join(format!("data/watermarks/sintesi-{}.txt", generate::CPI));
    wait_for("four workers at the node", Duration::from_secs(60), || totals(&base, &pki, "accepted") == 4);
    wait_for("the watermark of worker 4", Duration::from_secs(30), || std::fs::read_to_string(&wm).is_ok_and(|w| w.trim() == "2026-10-05T09:04:00"));
    wait_for("a pull from the new watermark", Duration::from_secs(30), || std::fs::read_to_string(srv.join("requests.log")).is_ok_and(|l| l.contains("\t2026-10-05T09:04:00")));
    assert_eq!(gw.term(), 0);
    let _ = server.kill();
    let _ = server.wait();
    let log = std::fs::read_to_string(srv.join("requests.log")).unwrap();
    let dals: Vec<&str> = log.lines().map(|l| l.split('\t').nth(1).unwrap_or("")).collect();
    assert_eq!(&dals[..2], ["", "2026-10-04T09:03:00"], "{log}");
    assert!(log.lines().all(|l| l.starts_with(generate::CPI)), "{log}");
    assert_eq!(totals(&base, &pki, "duplicates"), 0);
    assert_eq!(totals(&base, &pki, "accepted"), 4, "worker 3 twice in the feed, once at the node");
}

#[test]
fn given_a_pulled_feed_that_never_reads_it_should_be_set_aside_after_three_tries_and_the_next_one_pulled() {
    use crate::delivery::{certs, gateway, node, run, totals, wait_for};
    use std::time::Duration;
    let dir = tempfile::tempdir().unwrap();
    let pki = certs(dir.path());
    let (_node, base) = node(dir.path(), &pki, &pki, "");
    let srv = dir.path().join("srv");
    std::fs::create_dir_all(&srv).unwrap();
    let good = generate::sintesi(&generate::valid(3, 0));
    // The first feed the server gives is cut in the middle of a record: not well-formed.
    std::fs::write(srv.join("broken.xml"), &good.as_bytes()[..good.len() / 2]).unwrap();
    std::fs::write(srv.join("good.xml"), &good).unwrap();
    std::fs::write(srv.join("feeds.json"), r#"{"": "broken.xml"}"#).unwrap();
    let (mut server, extra) = sintesi_server(&srv, &pki);
    let cfg = gateway(dir.path(), &pki, &base, &extra);
    let gw = run(&cfg);
    let refused = dir.path().join("data/refused");
    let set_aside = || std::fs::read_dir(&refused).map(|rd| rd.filter_map(Result::ok).filter(|e| e.file_name().to_string_lossy().ends_with(".xml")).count()).unwrap_or(0);
    wait_for("the broken feed set aside", Duration::from_secs(90), || set_aside() == 1);
    let pulls = || std::fs::read_to_string(srv.join("requests.log")).map(|l| l.lines().count()).unwrap_or(0);
    let seen = pulls();
    assert!(seen >= 3, "set aside at the third failed read: {seen}");
    // Pulled again, the same feed is not read, and not audited again.
    wait_for("two more pulls", Duration::from_secs(30), || pulls() >= seen + 2);
    // The Sintesi side serves a good feed, and the operator takes the set-aside one
    // away: the pull reads again, and delivers.
    std::fs::write(srv.join("feeds.json"), r#"{"": "good.xml"}"#).unwrap();
    let kept: Vec<std::path::PathBuf> = std::fs::read_dir(&refused).unwrap().filter_map(Result::ok).map(|e| e.path()).collect();
    let reason = std::fs::read_to_string(kept.iter().find(|p| p.to_string_lossy().ends_with(".reason.txt")).unwrap()).unwrap();
    for p in &kept {
        std::fs::remove_file(p).unwrap();
    }
    wait_for("the good feed's workers at the node", Duration::from_secs(60), || totals(&base, &pki, "accepted") == 3);
    assert_eq!(gw.term(), 0);
    let _ = server.kill();
    let _ = server.wait();
    assert!(reason.contains("failed 3 times") && reason.contains("the feed ends inside a record"), "{reason}");
    let db = rusqlite::Connection::open(dir.path().join("data/audit.db")).unwrap();
    let poison: i64 = db.query_row("SELECT count(*) FROM audit WHERE detail LIKE 'rule=source.poison%'", [], |r| r.get(0)).unwrap();
    assert_eq!(poison, 1, "audited once");
    assert_eq!(std::fs::read_dir(dir.path().join("data/pull-attempts/gw")).map(|rd| rd.count()).unwrap_or(0), 0, "no count left behind");
}

#[test]
fn given_a_record_closed_after_it_was_sent_the_closure_should_name_the_code_that_was_sent() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("gw.toml");
    std::fs::write(&cfg, format!("region = \"14\"\nregion_name = \"PUGLIA\"\ndata_dir = \"{}\"\n[node]\nurl = \"http://127.0.0.1:9/ws\"\n", dir.path().join("data").display()))
        .unwrap();
    let ingest = |t: &generate::Tables, name: &str| {
        let d = dir.path().join(name);
        generate::silplus(&d, t);
        let o = silgate().args(["ingest", "--config"]).arg(&cfg).args(["--source", "silplus"]).arg(&d).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    // Worker 1 sent as active; then closed, with the change time the source gives it.
    let mut t = generate::valid(1, 0);
    let out = ingest(&t, "first");
    assert!(out.contains("1 record(s): 1 queued"), "{out}");
    let lav = &mut t.get_mut(&Entity::Lavoratori).unwrap()[0];
    lav[16] = Val::S("C".into());
    lav[15] = Val::DateTime(2026, 11, 20, 8, 0);
    let out = ingest(&t, "closed");
    assert!(out.contains("1 record(s): 1 queued"), "{out}");
    let db = rusqlite::Connection::open(dir.path().join("data/queue.db")).unwrap();
    let items: Vec<Value> =
        db.prepare("SELECT item FROM queue ORDER BY seq").unwrap().query_map([], |r| r.get::<_, String>(0)).unwrap().map(|i| serde_json::from_str(&i.unwrap()).unwrap()).collect();
    assert_eq!(items.len(), 2);
    let sent = items[0]["communication_code"].as_str().unwrap();
    let closure = items[1]["document"].as_str().unwrap();
    assert!(closure.contains(&format!("codicecandidaturaprecedente>{sent}<")), "the closure must name {sent}:\n{closure}");
    // A record closed that this gateway never sent: nothing to close, quarantined.
    let mut other = generate::valid(0, 0);
    let (mut row, kids) = generate::worker(2);
    row[16] = Val::S("C".into());
    other.get_mut(&Entity::Lavoratori).unwrap().push(row);
    for (e, r) in kids {
        other.get_mut(&e).unwrap().push(r);
    }
    let out = ingest(&other, "never-sent");
    assert!(out.contains("0 queued") && out.contains("1 rejected"), "{out}");
    let q = std::fs::read_to_string(dir.path().join("data/quarantine.jsonl")).unwrap();
    assert!(q.contains("\"rule\":\"closure.unknown-original\""), "{q}");
}

#[test]
fn given_a_file_still_growing_in_the_inbox_run_should_wait_until_it_is_whole() {
    use crate::delivery::{certs, gateway, node, run, totals, wait_for};
    use std::io::Write;
    use std::time::Duration;
    let dir = tempfile::tempdir().unwrap();
    let pki = certs(dir.path());
    let (_node, base) = node(dir.path(), &pki, &pki, "");
    let extra = format!("[[sources]]\nkind = \"sintesi\"\ninbox = \"{}\"\npoll_secs = 1\n", dir.path().join("sin").display());
    let cfg = gateway(dir.path(), &pki, &base, &extra);
    std::fs::create_dir_all(dir.path().join("sin")).unwrap();
    let feed = std::fs::read(fixtures().join("sintesi/valid.xml")).unwrap();
    let half = feed.len() / 2;
    let path = dir.path().join("sin/feed.xml");
    let mut f = std::fs::File::create(&path).unwrap();
    f.write_all(&feed[..half]).unwrap();
    f.flush().unwrap();
    let gw = run(&cfg);
    // The copy goes on, slowly: never taken half-written.
    for chunk in feed[half..].chunks(feed[half..].len() / 4 + 1) {
        std::thread::sleep(Duration::from_millis(700));
        f.write_all(chunk).unwrap();
        f.flush().unwrap();
    }
    drop(f);
    // 18 records, of which 3 closures of records never sent here: 15 at the node.
    wait_for("the whole feed at the node", Duration::from_secs(60), || totals(&base, &pki, "accepted") == 15);
    assert_eq!(gw.term(), 0);
    assert!(dir.path().join("sin/done/feed.xml").exists());
    assert!(!dir.path().join("sin/refused").exists(), "a growing file was taken half-written");
}
