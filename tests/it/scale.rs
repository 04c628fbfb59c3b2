//! Scale-out: three `silgate run` instances share one inbox, one RabbitMQ quorum queue
//! and one PostgreSQL (dedup index and audit log), and deliver to one node while one of
//! them is killed with SIGKILL and started again. Every record must be at the node once,
//! nothing lost, and every instance's audit chain intact.
//!
//! The suite runs it with 3,000 records; `scripts/scale-out` runs it with 200,000
//! (`SILGATE_SCALE_RECORDS`) as a release build and prints the summary.
#![allow(clippy::unwrap_used)]

use crate::delivery::{Proc, certs, node, stats, vacancies, wait_for};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn silgate_run(cfg: &Path) -> Proc {
    Proc(Command::new(env!("CARGO_BIN_EXE_silgate")).args(["run", "--config"]).arg(cfg).env("SILGATE_LOG", "error").stdout(Stdio::null()).spawn().unwrap())
}

fn psql(sql: &str) -> String {
    let o = Command::new("psql").args(["-h", "127.0.0.1", "-U", "postgres", "-d", "test", "-v", "ON_ERROR_STOP=1", "-tA", "-c", sql]).output().unwrap();
    assert!(o.status.success(), "{sql}: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// One instance's config: its own name and data folder, the shared inbox, queue,
/// database and secret.
fn instance(dir: &Path, pki: &Path, base: &str, name: &str, queue: &str, pg: &str) -> PathBuf {
    let cfg = dir.join(format!("{name}.toml"));
    let uri = crate::amqp_test_uri();
    std::fs::write(
        &cfg,
        format!(
            "instance = \"{name}\"\nregion = \"14\"\nregion_name = \"PUGLIA\"\ndata_dir = \"{}\"\nbatch = 500\nsecret_file = \"{}\"\n\n\
             [queue]\nbackend = \"rabbitmq\"\nuri = \"{uri}\"\nname = \"{queue}\"\n\
             [audit]\nbackend = \"postgres\"\nurl = \"{pg}\"\n[dedup]\nbackend = \"postgres\"\nurl = \"{pg}\"\n\
             [node]\nurl = \"{base}/ws/cliclavoro\"\nca = \"{}\"\nclient_cert = \"{}\"\nclient_key = \"{}\"\ntimeout_secs = 30\n\
             [[sources]]\nkind = \"canonical-json\"\ninbox = \"{}\"\npoll_secs = 1\n",
            dir.join(format!("data-{name}")).display(),
            // One dedup index, one secret: every instance has the region's one file.
            dir.join("secret.key").display(),
            pki.join("ca.pem").display(),
            pki.join("client.pem").display(),
            pki.join("client.key").display(),
            dir.join("inbox").display()
        ),
    )
    .unwrap();
    cfg
}

#[test]
fn given_three_instances_on_rabbitmq_and_postgres_with_one_killed_every_record_should_reach_the_node_once() {
    let n: usize = std::env::var("SILGATE_SCALE_RECORDS").ok().and_then(|v| v.parse().ok()).unwrap_or(3_000);
    let dir = tempfile::tempdir().unwrap();
    let pki = certs(dir.path());
    let (_node, base) = node(dir.path(), &pki, &pki, "");
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let schema = format!("silgate_scale_{}_{}", std::process::id(), t % 1_000_000_000);
    psql(&format!("CREATE SCHEMA {schema}"));
    let pg = format!("host=127.0.0.1 user=postgres dbname=test options='-c search_path={schema}'");
    let queue = format!("silgate.it.scale.{t}");
    let names = ["gw1", "gw2", "gw3"];
    let cfgs: Vec<PathBuf> = names.iter().map(|name| instance(dir.path(), &pki, &base, name, &queue, &pg)).collect();

    // The input, in files of at most 5,000 records, all in the one shared inbox.
    let inbox = dir.path().join("inbox");
    std::fs::create_dir_all(&inbox).unwrap();
    let all = vacancies(n, "SCALE");
    let lines: Vec<&str> = all.lines().collect();
    let per = lines.len().div_ceil(lines.len().div_ceil(5_000).max(6));
    let mut files = 0;
    for (i, chunk) in lines.chunks(per).enumerate() {
        std::fs::write(inbox.join(format!("part{i:03}.jsonl")), chunk.join("\n") + "\n").unwrap();
        files += 1;
    }

    let started = Instant::now();
    let mut procs: Vec<Option<Proc>> = cfgs.iter().map(|c| Some(silgate_run(c))).collect();
    let accepted = || stats(&base, &pki)["totals"]["accepted"].as_i64().unwrap();
    // Kill the second instance once a fifth of the records is in, start it again a
    // second later.
    wait_for("a fifth of the records at the node", Duration::from_secs(600), || accepted() >= (n / 5) as i64);
    let killed_at = accepted();
    procs[1].take().unwrap().kill9();
    std::thread::sleep(Duration::from_secs(1));
    procs[1] = Some(silgate_run(&cfgs[1]));
    wait_for("every record at the node", Duration::from_secs(3_600), || accepted() >= n as i64);
    let elapsed = started.elapsed();
    // Let anything still in flight land before counting.
    std::thread::sleep(Duration::from_secs(2));
    for p in procs.into_iter().flatten() {
        assert_eq!(p.term(), 0, "SIGTERM drains and exits 0");
    }

    let s = stats(&base, &pki);
    let totals = &s["totals"];
    let (acc, distinct, replays, rejected) =
        (totals["accepted"].as_i64().unwrap(), totals["distinct_codes"].as_i64().unwrap(), totals["duplicates"].as_i64().unwrap(), totals["rejected"].as_i64().unwrap());
    let quarantined: usize = names.iter().map(|name| std::fs::read_to_string(dir.path().join(format!("data-{name}/quarantine.jsonl"))).map_or(0, |q| q.lines().count())).sum();
    let verify = Command::new(env!("CARGO_BIN_EXE_silgate")).args(["audit", "verify", "--config"]).arg(&cfgs[0]).output().unwrap();
    let verify_text = String::from_utf8_lossy(&verify.stdout).trim().to_string();
    let done = std::fs::read_dir(inbox.join("done")).unwrap().count();
    let left_claimed: usize = names.iter().map(|name| std::fs::read_dir(inbox.join(".claimed").join(name)).map_or(0, Iterator::count)).sum();
    let chains = psql(&format!("SELECT count(DISTINCT instance) FROM {schema}.audit"));
    #[allow(clippy::cast_precision_loss)]
    let rate = n as f64 / elapsed.as_secs_f64();
    println!(
        "scale-out: 3 instances, RabbitMQ quorum queue + PostgreSQL, gw2 killed (SIGKILL) at {killed_at} accepted and restarted\n\
         records in:                  {n}\n\
         delivered (accepted):        {acc}\n\
         distinct codes at the node:  {distinct}\n\
         stored twice at the node:    {}\n\
         lost:                        {}\n\
         rejected (node / gateway):   {rejected} / {quarantined}\n\
         resends answered by eGov id: {replays} (at-most-once at the node)\n\
         input files done:            {done} of {files} ({left_claimed} still claimed)\n\
         audit:                       {verify_text} ({chains} instance chains)\n\
         time to deliver:             {:.1} s ({rate:.0} records/s end to end)",
        acc - distinct,
        n as i64 - distinct,
        elapsed.as_secs_f64()
    );
    assert_eq!(acc, n as i64, "{s}");
    assert_eq!(distinct, n as i64, "no record twice at the node, none lost");
    assert_eq!((rejected, quarantined), (0, 0));
    assert_eq!((done, left_claimed), (files, 0), "every input taken once and finished");
    assert!(verify.status.success(), "{verify_text}");
    assert_eq!(chains, "3", "one audit chain per instance");
    psql(&format!("DROP SCHEMA {schema} CASCADE"));
}
