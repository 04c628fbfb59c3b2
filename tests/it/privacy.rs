//! Personal data at rest and in logs: owner-only files whatever the umask, temporary
//! folders a killed process left removed at start, inbox file names out of the log,
//! the audit and quarantine, and leases a killed process held taken back at restart.
#![allow(clippy::unwrap_used)] // test helpers: a failed setup step is a failed test

use crate::delivery::{Proc, certs, gateway, node, totals, vacancies, wait_for};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Every file and folder under `root`, with its mode.
#[cfg(unix)]
fn modes(root: &Path) -> Vec<(PathBuf, u32)> {
    use std::os::unix::fs::PermissionsExt as _;
    let mut out = Vec::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(p) = todo.pop() {
        let m = std::fs::symlink_metadata(&p).unwrap();
        out.push((p.clone(), m.permissions().mode() & 0o777));
        if m.is_dir() {
            todo.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
        }
    }
    out
}

/// True when `text` names an input by its label: `.claimed/gw/in-<ms>-<8 hex>`.
fn names_a_label(text: &str) -> bool {
    text.match_indices(".claimed/gw/in-").any(|(i, m)| {
        let rest = &text[i + m.len()..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let hex = rest.get(digits + 1..digits + 9).unwrap_or("");
        digits > 0 && rest.as_bytes().get(digits) == Some(&b'-') && hex.len() == 8 && hex.bytes().all(|b| b.is_ascii_hexdigit())
    })
}

/// Under `umask 000`, a gateway ingesting a canonical JSON file named after a person,
/// a SIL Plus zip (unpacked in a temporary folder), an unreadable zip and an Access
/// export folder holding a workbook named after a person keeps every
/// file it makes owner-only, removes the temporary folder a killed process left, and
/// names the inputs in its log (at `trace`), audit and quarantine only by their labels;
/// `done/` and `refused/` give them back their names.
#[cfg(unix)]
#[test]
fn given_umask_000_and_inputs_named_after_people_files_should_be_owner_only_and_names_kept_out() {
    let dir = tempfile::tempdir().unwrap();
    let pki = certs(dir.path());
    let (_node, base) = node(dir.path(), &pki, &pki, "");
    let tmp = dir.path().join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    // Left by a killed process (a pid above the kernel's limit never runs).
    let left = tmp.join("silgate-zip-4194305-killed");
    std::fs::create_dir_all(left.join("ESPERIENZE.CSV")).unwrap();
    let silplus = dir.path().join("silplus");
    let access = dir.path().join("access");
    let extra = format!(
        "[[sources]]\nkind = \"silplus\"\ninbox = \"{}\"\npoll_secs = 1\n[[sources]]\nkind = \"access\"\ninbox = \"{}\"\npoll_secs = 1\n",
        silplus.display(),
        access.display()
    );
    let cfg = gateway(dir.path(), &pki, &base, &extra);
    for d in [dir.path().join("inbox"), silplus.clone(), access.join("Export.Anna_Neri")] {
        std::fs::create_dir_all(&d).unwrap();
    }
    std::fs::copy(crate::root().join("tests/fixtures/access/export.xlsx"), access.join("Export.Anna_Neri/CV_Anna_Neri.xlsx")).unwrap();
    std::fs::write(access.join("Export.Anna_Neri/.ready"), "").unwrap();
    std::fs::write(dir.path().join("inbox/CV_Mario_Rossi.jsonl"), vacancies(3, "privacy")).unwrap();
    std::fs::copy(crate::root().join("tests/fixtures/silplus/valid.zip"), silplus.join("Export_Giuseppina_Bianchi.zip")).unwrap();
    std::fs::write(silplus.join("Rotto_Carmela_Verdi.zip"), b"PK\x03\x04 not a zip at all").unwrap();
    let log = std::fs::File::create(dir.path().join("trace.log")).unwrap();
    let gw = Proc(
        Command::new("sh")
            .args(["-c", "umask 000; exec \"$0\" run --config \"$1\""])
            .arg(env!("CARGO_BIN_EXE_silgate"))
            .arg(&cfg)
            .env("SILGATE_LOG", "trace")
            .env("TMPDIR", &tmp)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    let done = |d: &Path, name: &str| d.join("done").join(name).is_file();
    wait_for("both good inputs done", Duration::from_secs(90), || {
        done(&dir.path().join("inbox"), "CV_Mario_Rossi.jsonl")
            && done(&silplus, "Export_Giuseppina_Bianchi.zip")
            && silplus.join("refused/Rotto_Carmela_Verdi.zip").is_file()
            && access.join("done/Export.Anna_Neri").is_dir()
    });
    wait_for("the vacancies at the node", Duration::from_secs(60), || totals(&base, &pki, "accepted") >= 3);
    assert_eq!(gw.term(), 0);
    assert!(!left.exists(), "the killed process's temporary folder is gone");
    let stray: Vec<_> = std::fs::read_dir(&tmp).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(stray.is_empty(), "nothing stays in the temporary folder: {stray:?}");
    // Every file and folder the gateway made: owner-only.
    let mut made = modes(&dir.path().join("data"));
    for inbox in [dir.path().join("inbox"), silplus.clone(), access.clone()] {
        for sub in ["done", "refused", ".claimed", ".attempts"] {
            if inbox.join(sub).exists() {
                // The inputs themselves keep the mode the region gave them.
                let moved = |p: &Path| (sub == "done" || sub == "refused") && p != inbox.join(sub) && !p.to_string_lossy().ends_with(".reason.txt");
                made.extend(modes(&inbox.join(sub)).into_iter().filter(|(p, _)| !moved(p)));
            }
        }
    }
    assert!(made.len() > 8, "{made:?}");
    for (p, mode) in &made {
        let want = if p.is_dir() { 0o700 } else { 0o600 };
        assert_eq!(*mode, want, "{} is {mode:o}", p.display());
    }
    let reason = std::fs::read_to_string(silplus.join("refused/Rotto_Carmela_Verdi.zip.reason.txt")).unwrap();
    assert!(names_a_label(&reason), "the reason names the label the log uses: {reason}");
    // The names never reached the log, the audit or quarantine.
    let text = std::fs::read_to_string(dir.path().join("trace.log")).unwrap();
    assert!(text.contains("Ingested"), "the log was captured");
    let audit = rusqlite::Connection::open(dir.path().join("data/audit.db")).unwrap();
    let rows: Vec<String> = audit.prepare("SELECT event || ' ' || detail FROM audit").unwrap().query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect();
    assert!(rows.iter().any(|r| names_a_label(r)), "the audit names inputs by label: {rows:?}");
    let quarantine = std::fs::read_to_string(dir.path().join("data/quarantine.jsonl")).unwrap_or_default();
    for name in ["Mario_Rossi", "Giuseppina_Bianchi", "Carmela_Verdi", "Anna_Neri"] {
        let hit = text.lines().find(|l| l.contains(name));
        assert!(hit.is_none(), "{name} reached the log: {}", hit.unwrap_or_default());
        assert!(!rows.iter().any(|r| r.contains(name)), "{name} reached the audit");
        assert!(!quarantine.contains(name), "{name} reached quarantine");
    }
}

/// After SIGKILL in the middle of deliveries, with a 300 s visibility timeout, the
/// restarted instance takes back the leases its killed process held: everything is
/// delivered, once, long before the timeout could have expired.
#[test]
fn given_kill_9_with_leases_held_a_restart_should_deliver_them_without_waiting_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let pki = certs(dir.path());
    let (_node, base) = node(dir.path(), &pki, &pki, "latency_ms = 1500\n");
    let cfg = gateway(dir.path(), &pki, &base, "[queue]\nvisibility_timeout_secs = 300\n[delivery]\nconcurrency = 4\n");
    std::fs::create_dir_all(dir.path().join("inbox")).unwrap();
    std::fs::write(dir.path().join("inbox/v.jsonl"), vacancies(12, "takeover")).unwrap();
    let gw = crate::delivery::run(&cfg);
    let leased = || -> i64 {
        let Ok(db) = rusqlite::Connection::open(dir.path().join("data/queue.db")) else { return 0 };
        db.query_row("SELECT count(*) FROM queue WHERE lease IS NOT NULL", [], |r| r.get(0)).unwrap_or(0)
    };
    wait_for("leases held", Duration::from_secs(60), || leased() > 0);
    gw.kill9();
    let held = leased();
    assert!(held > 0, "the killed process held leases");
    let again = Instant::now();
    let gw = crate::delivery::run(&cfg);
    wait_for("all 12 at the node", Duration::from_secs(90), || totals(&base, &pki, "accepted") == 12);
    // The wait's 90 s bound is the guard: without the takeover the leases would come
    // back only after their 300 s.
    let took = again.elapsed();
    assert_eq!(gw.term(), 0);
    assert!(took < Duration::from_secs(90), "delivered in {took:?}");
    assert_eq!(totals(&base, &pki, "accepted"), 12, "nothing accepted twice");
    let audit = rusqlite::Connection::open(dir.path().join("data/audit.db")).unwrap();
    let delivered: i64 = audit.query_row("SELECT count(DISTINCT code) FROM audit WHERE event = 'delivered'", [], |r| r.get(0)).unwrap();
    assert_eq!(delivered, 12);
}

/// Two processes under one instance name, on two hosts' worth of data directories but
/// one PostgreSQL audit (where the name's chain lives): the second is refused while the
/// first runs, and starts once it is gone.
#[test]
fn given_one_instance_name_on_a_shared_postgresql_audit_a_second_process_should_be_refused() {
    let dir = tempfile::tempdir().unwrap();
    let pki = certs(dir.path());
    let (_node, base) = node(dir.path(), &pki, &pki, "");
    let pg = crate::pg_test_schema("lock");
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let mut cfgs = Vec::new();
    for d in [&a, &b] {
        std::fs::create_dir_all(d).unwrap();
        cfgs.push(gateway(d, &pki, &base, &format!("[audit]\nbackend = \"postgres\"\nurl = \"{pg}\"\n")));
    }
    let running = |log: &Path| std::fs::read_to_string(log).is_ok_and(|t| t.contains("Silgate running"));
    let first = crate::delivery::run_at_trace(&cfgs[0], &a.join("run.log"));
    wait_for("the first instance running", Duration::from_secs(30), || running(&a.join("run.log")));
    let second = Command::new(env!("CARGO_BIN_EXE_silgate")).args(["run", "--config"]).arg(&cfgs[1]).env("SILGATE_LOG", "error").output().unwrap();
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(!second.status.success(), "the second process ran");
    assert!(err.contains("is running already") && err.contains("PostgreSQL"), "{err}");
    assert_eq!(first.term(), 0);
    let again = crate::delivery::run_at_trace(&cfgs[1], &b.join("run.log"));
    wait_for("the second instance running once the first is gone", Duration::from_secs(30), || running(&b.join("run.log")));
    assert_eq!(again.term(), 0);
}
