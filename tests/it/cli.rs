//! The CLI: validate, translate, demo.

use std::path::PathBuf;
use std::process::{Command, Output};

fn silgate() -> Command {
    Command::new(env!("CARGO_BIN_EXE_silgate"))
}

use crate::root;

fn shared() -> PathBuf {
    root().join("../shared")
}

fn run(cmd: &mut Command) -> (i32, String, String) {
    let Output { status, stdout, stderr } = cmd.output().expect("silgate runs");
    (status.code().unwrap_or(-1), String::from_utf8_lossy(&stdout).into_owned(), String::from_utf8_lossy(&stderr).into_owned())
}

fn examples() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(shared().join("formats/examples")).expect("examples").map(|e| e.expect("entry").path()).collect();
    v.sort();
    v
}

#[test]
fn given_the_shared_examples_validate_should_exit_zero() {
    let (code, out, err) = run(silgate().arg("validate").args(examples()).args(["--today", "2026-11-24"]));
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(err.contains("4 valid, 0 invalid"), "{err}");
    // warnings are printed in the FILE: PATH: RULE: message form
    assert!(out.lines().all(|l| l.splitn(4, ": ").count() == 4), "{out}");
}

#[test]
fn given_a_broken_document_validate_should_print_each_issue_and_exit_one() {
    let dir = tempfile::tempdir().expect("tmp");
    let good = shared().join("formats/examples/vacancy-903.xml");
    let bad = dir.path().join("bad.xml");
    let xml =
        std::fs::read_to_string(&good).expect("read").replace("52.29.10", "52.29.99").replace("<v:cap>80142</v:cap>", "<v:cap>8014</v:cap>").replace("2027-01-31", "2026-01-31");
    std::fs::write(&bad, xml).expect("write");
    let (code, out, _) = run(silgate().arg("validate").arg(&good).arg(&bad).args(["--today", "2026-11-24"]));
    assert_eq!(code, 1, "{out}");
    let bad_name = bad.display().to_string();
    let expect = [
        format!("{bad_name}: /Vacancy/DatoreLavoro/DatiAnagrafici/settore: ateco.unknown: "),
        format!("{bad_name}: /Vacancy/DatoreLavoro/DatiContatto/cap: xsd.pattern: "),
        format!("{bad_name}: /Vacancy/Richiesta/DurataRichiesta/datascadenza: date.expiry-before-publication: "),
    ];
    for e in &expect {
        assert!(out.lines().any(|l| l.starts_with(e.as_str())), "missing {e}\n{out}");
    }
}

#[test]
fn given_an_unreadable_file_validate_should_exit_two() {
    let (code, out, _) = run(silgate().args(["validate", "/nonexistent/x.xml"]));
    assert_eq!(code, 2);
    assert!(out.contains("/nonexistent/x.xml: -: io: "), "{out}");
}

#[test]
fn given_mixed_canonical_json_translate_should_write_valid_documents_and_quarantine_the_rest() {
    let input = root().join("tests/fixtures/canonical/mixed.jsonl");
    let dir = tempfile::tempdir().expect("tmp");
    let out = dir.path().join("out");
    let (code, _, err) = run(silgate().args(["translate", "--source", "canonical-json", "--region", "15", "--today", "2026-11-24", "--out"]).arg(&out).arg(&input));
    assert_eq!(code, 0, "{err}");
    let mut xmls: Vec<PathBuf> = std::fs::read_dir(&out).expect("out").map(|e| e.expect("e").path()).filter(|p| p.extension().is_some_and(|e| e == "xml")).collect();
    xmls.sort();
    assert_eq!(xmls.len(), 8, "{err}");
    let q = std::fs::read_to_string(out.join("quarantine.jsonl")).expect("quarantine");
    let lines: Vec<serde_json::Value> = q.lines().map(|l| serde_json::from_str(l).expect("json line")).collect();
    let got: Vec<(String, String, String)> = lines
        .iter()
        .map(|l| {
            (
                l["position"].as_str().unwrap_or("").rsplit(':').next().unwrap_or("").to_string(),
                l["field"].as_str().unwrap_or("").to_string(),
                l["rule"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    let want = [
        ("line 6", "/Candidatura/Lavoratore/DatiAnagrafici/codicefiscale", "cf.checksum"),
        ("line 10", "/Vacancy/DatoreLavoro/DatiAnagrafici/settore", "ateco.unknown"),
        ("line 11", "column 24", "json.syntax"),
        ("line 12", "worker.nickname", "json.schema"),
    ];
    assert_eq!(got.len(), want.len(), "{q}");
    for ((p, f, r), (wp, wf, wr)) in got.iter().zip(want) {
        assert_eq!(p, wp, "{q}");
        assert_eq!(r, wr, "{q}");
        if !wf.is_empty() {
            assert_eq!(f, wf, "{q}");
        }
    }
    for l in &lines {
        for key in ["source", "position", "field", "rule", "message"] {
            assert!(l.get(key).is_some(), "{key} in {l}");
        }
        assert_eq!(l["source"], "canonical-json");
    }
    // The unknown-field line names the field; no line echoes a person's data.
    assert!(lines[3]["message"].as_str().unwrap_or("").contains("nickname"), "{q}");
    assert!(!q.contains("Esposito") && !q.contains("Gennaro"), "{q}");

    // Independent validator, ministry schemas: every emitted document.
    for (prefix, xsd) in [("cv-", "Rev.038_CL_Allegato_4_Candidatura.xsd"), ("vacancy-", "Rev.064_CL_Allegato_4_Ricerca_personale.xsd")] {
        let files: Vec<&PathBuf> = xmls.iter().filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with(prefix))).collect();
        let o = Command::new("xmllint").arg("--noout").arg("--schema").arg(shared().join("reference/cliclavoro").join(xsd)).args(&files).output().expect("xmllint");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let o = Command::new("xmllint")
            .arg("--noout")
            .arg("--schema")
            .arg(root().join("schemas").join(if prefix == "cv-" { "candidatura.xsd" } else { "vacancy.xsd" }))
            .args(&files)
            .output()
            .expect("xmllint");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }

    // Same input, byte-identical output.
    let out2 = dir.path().join("out2");
    let (code, _, _) = run(silgate().args(["translate", "--source", "canonical-json", "--region", "15", "--today", "2026-11-24", "--out"]).arg(&out2).arg(&input));
    assert_eq!(code, 0);
    for x in &xmls {
        let other = out2.join(x.file_name().expect("name"));
        assert_eq!(std::fs::read(x).expect("a"), std::fs::read(&other).expect("b"), "{}", x.display());
    }
    assert_eq!(q, std::fs::read_to_string(out2.join("quarantine.jsonl")).expect("q2"));
}

#[test]
fn given_no_region_or_an_unknown_one_translate_should_refuse_the_call_and_say_what_to_pass() {
    let input = root().join("tests/fixtures/canonical/mixed.jsonl");
    let dir = tempfile::tempdir().expect("tmp");
    let (code, _, err) = run(silgate().args(["translate", "--source", "canonical-json", "--out"]).arg(dir.path()).arg(&input));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--region puglia") && err.contains("--region 14"), "{err}");
    assert!(!dir.path().join("quarantine.jsonl").exists(), "nothing is translated");
    let (code, _, err) = run(silgate().args(["translate", "--source", "canonical-json", "--region", "apulia", "--out"]).arg(dir.path()).arg(&input));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--region apulia: not a region"), "{err}");
}

#[test]
fn given_a_region_by_name_or_by_code_the_codes_should_start_with_the_ministry_code() {
    let input = root().join("tests/fixtures/canonical/mixed.jsonl");
    for (region, prefix) in [("puglia", "14"), ("14", "14"), ("Sicilia", "16")] {
        let dir = tempfile::tempdir().expect("tmp");
        let (code, _, err) = run(silgate().args(["translate", "--source", "canonical-json", "--region", region, "--today", "2026-11-24", "--out"]).arg(dir.path()).arg(&input));
        assert_eq!(code, 0, "{err}");
        let docs: Vec<String> = std::fs::read_dir(dir.path()).expect("out").filter_map(|e| e.ok()?.file_name().into_string().ok()).filter(|n| n.ends_with(".xml")).collect();
        assert!(!docs.is_empty());
        for d in docs {
            let code = d.trim_end_matches(".xml").rsplit('-').next().unwrap_or_default().to_string();
            assert!(code.len() == 25 && code.starts_with(prefix), "{region}: {d}");
        }
    }
}

#[test]
fn given_a_missing_input_translate_should_fail() {
    let dir = tempfile::tempdir().expect("tmp");
    let (code, _, err) = run(silgate().args(["translate", "--source", "canonical-json", "--region", "14", "--out"]).arg(dir.path()).arg("/nonexistent.jsonl"));
    assert_ne!(code, 0);
    assert!(err.contains("/nonexistent.jsonl"), "{err}");
}

#[test]
fn given_the_demo_should_deliver_quarantine_and_deduplicate_through_the_whole_path() {
    let dir = tempfile::tempdir().expect("tmp");
    let (code, out, err) = run(silgate().arg("demo").arg("--out").arg(dir.path()));
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("rejected at ingest:  2"), "{out}");
    assert!(out.contains("queued:              8"), "{out}");
    assert!(out.contains("delivered:           8"), "{out}");
    assert!(out.contains("same file again:     0 queued, 8 deduplicated, 2 rejected again"), "{out}");
    assert!(out.contains("node:                8 accepted, 8 distinct codes, 0 rejected, 0 duplicates"), "{out}");
    assert!(out.contains("chain intact, every delivered record with its story"), "{out}");
    let q = std::fs::read_to_string(dir.path().join("data/quarantine.jsonl")).expect("quarantine");
    assert_eq!(q.lines().count(), 4, "two rejects per ingest: {q}");
}

#[test]
fn given_a_region_override_the_codes_should_come_from_it() {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("patenti.tsv"), "# table: patenti\n# source: test\n# licence: none\n# complete: yes\ncode\ttitle\tsource\n01\tAM\ttest\n").expect("write");
    let (code, out, _) = run(silgate().arg("validate").arg(shared().join("formats/examples/vacancy-903.xml")).arg("--code-tables").arg(dir.path()).args(["--today", "2026-11-24"]));
    // 03 is now missing from a complete table: an error.
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("idpatenteguida[1]: patente.unknown: driving licence '03' does not exist"), "{out}");
}

#[test]
fn given_a_wrongly_typed_personal_value_the_quarantine_should_not_echo_it() {
    let dir = tempfile::tempdir().expect("tmp");
    let line = std::fs::read_to_string(root().join("crates/silgate/samples/demo.jsonl")).expect("samples").lines().next().expect("line").replace("\"1988-02-14\"", "19880214");
    let input = dir.path().join("in.jsonl");
    std::fs::write(&input, format!("{line}\n")).expect("write");
    let out = dir.path().join("out");
    let (code, _, err) = run(silgate().args(["translate", "--source", "canonical-json", "--region", "15", "--out"]).arg(&out).arg(&input));
    assert_eq!(code, 0, "{err}");
    let q = std::fs::read_to_string(out.join("quarantine.jsonl")).expect("q");
    assert!(q.contains("\"field\":\"worker.birth_date\"") && q.contains("\"rule\":\"json.schema\""), "{q}");
    assert!(!q.contains("19880214"), "{q}");
}

#[test]
fn given_the_gateway_examples_config_check_should_pass_and_a_broken_config_should_list_every_problem() {
    for example in ["gateway.example.toml", "gateway-rabbitmq.example.toml", "puglia-sintesi.toml", "sicilia-silplus.toml", "campania-access.toml", "calabria-pec.toml"] {
        let (code, out, err) = run(silgate().args(["config", "check", "--offline"]).arg(root().join("config").join(example)));
        assert_eq!(code, 0, "{example}: {out}{err}");
        assert!(out.contains(": ok"), "{out}");
    }
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = dir.path().join("broken.toml");
    std::fs::write(
        &cfg,
        "region = \"1\"\nregion_name = \"X\"\ndata_dir = \"d\"\ncolour = \"blue\"\n[queue]\nbackend = \"kafka\"\n[node]\nurl = \"https://node.example/ws\"\n\
         [[sources]]\nkind = \"pdf\"\ninbox = \"i\"\n[[sources]]\nkind = \"silplus\"\ninbox = \"i\"\nmapping = \"missing.toml\"\n[[sources]]\nkind = \"pec\"\n[sources.imap]\nhost = \"mail.example\"\nport = 143\nsecurity = \"insecure-loopback\"\nuser = \"u\"\n\
         [api]\nlisten = \"0.0.0.0:80\"\n[[api.clients]]\ncpi = \"C\"\ntoken_sha256 = \"abc\"\n",
    )
    .expect("write");
    let (code, out, _) = run(silgate().args(["config", "check"]).arg(&cfg));
    assert_eq!(code, 1, "{out}");
    for want in [
        "colour: unknown key",
        "region: '1' is neither a region's name nor its code",
        "queue.backend: unknown variant `kafka`",
        "node.ca: required",
        "sources[0].kind: unknown variant `pdf`",
        "sources[1].mapping:",
        "sources[2].imap.security: insecure-loopback with a host that is not loopback",
        "sources[2].imap: password or password_env",
        "sources[2]: a pec source needs the [pec] table",
        "api.listen: 0.0.0.0:80 is not loopback",
        "api.clients[0].token_sha256",
    ] {
        assert!(out.contains(want), "missing '{want}' in:\n{out}");
    }
}
