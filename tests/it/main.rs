//! End-to-end tests: the real `silgate` binary on real files, and repository tidiness.
//!
//! One integration binary (matklad's advice): every end-to-end test lives here.

mod adapters;
mod api;
mod backup;
mod cli;
mod crash;
mod dashboard;
mod delivery;
mod deploy;
mod generate;
mod kept;
mod keyed;
mod order;
mod pec;
mod pgtls;
mod privacy;
mod retention;
mod roundtrip;
mod runtime;
mod scale;
mod schemas;
mod sources;
mod tidy;

/// The workspace's root folder.
pub(crate) fn root() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A new schema in the machine's PostgreSQL `test` database, named from `tag`; returns
/// the connection string that uses it.
pub(crate) fn pg_test_schema(tag: &str) -> String {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
    let schema = format!("{tag}_{}_{}", std::process::id(), t % 1_000_000_000);
    let psql = std::process::Command::new("psql").args(["-h", "127.0.0.1", "-U", "postgres", "-d", "test", "-qc", &format!("CREATE SCHEMA {schema}")]).output();
    assert!(psql.as_ref().is_ok_and(|o| o.status.success()), "CREATE SCHEMA {schema}: {psql:?}");
    format!("host=127.0.0.1 user=postgres dbname=test options='-c search_path={schema}'")
}

/// The AMQP URI of the broker's test vhost, made when missing. `scripts/test` empties
/// it before each run, so the quorum queues of earlier runs never pile up in the
/// machine's broker (RabbitMQ 3.10 stopped answering here after about 300 of them).
pub(crate) fn amqp_test_uri() -> &'static str {
    static MADE: std::sync::Once = std::sync::Once::new();
    MADE.call_once(|| {
        let listed = std::process::Command::new("timeout").args(["30", "rabbitmqctl", "-q", "list_vhosts", "--no-table-headers"]).output();
        let present = listed.as_ref().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).lines().any(|l| l.trim() == "silgate-test"));
        if !present {
            for args in [&["-q", "add_vhost", "silgate-test"][..], &["-q", "set_permissions", "-p", "silgate-test", "guest", ".*", ".*", ".*"]] {
                let o = std::process::Command::new("timeout").args(["30", "rabbitmqctl"]).args(args).output();
                assert!(o.as_ref().is_ok_and(|o| o.status.success()), "rabbitmqctl {args:?}: {o:?}");
            }
        }
    });
    "amqp://guest:guest@127.0.0.1:5672/silgate-test"
}
