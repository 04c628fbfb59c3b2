//! Versions of a record in their source's own order: a version older in its source
//! (Sintesi `@ultimaModifica`) than one already queued or delivered is superseded, not
//! sent, and audited as such; without a source time versions go in the order read.
#![allow(clippy::unwrap_used)]

use silgate_gateway::SourceKind;

/// The first worker of the Sintesi fixture, changed at `at`, with `email`, in an
/// export of its own.
fn export(versions: &[(&str, &str)]) -> String {
    let feed = std::fs::read_to_string(crate::adapters::fixtures().join("sintesi/valid.xml")).unwrap();
    let (start, end) = (feed.find("<Lavoratore ").unwrap(), feed.find("</Lavoratore>").unwrap() + "</Lavoratore>".len());
    let (head, worker) = (&feed[..start], &feed[start..end]);
    let body: String = versions
        .iter()
        .map(|(at, email)| {
            let w = worker.replace("ultimaModifica=\"2026-10-02T09:01:00\"", &format!("ultimaModifica=\"{at}\"")).replace("p1@example.it", email);
            // A broken version: its sex is no code.
            if email.starts_with("broken") { w.replace("<Sesso>F</Sesso>", "<Sesso>Q</Sesso>") } else { w }
        })
        .collect();
    format!("{head}{body}\n</SintesiExport>\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_a_version_older_in_its_source_than_one_queued_it_should_be_superseded_not_sent() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = silgate_gateway::GatewayConfig::new("puglia", "PUGLIA", dir.path().join("data"), silgate_publish::ClientConfig::new("http://127.0.0.1:9/ws"));
    let parts = silgate_gateway::Parts::open(cfg).await.unwrap();
    let today = silgate_gateway::today();
    let mut n = 0;
    let mut ingest = |text: String| {
        n += 1;
        let path = dir.path().join(format!("export-{n}.xml"));
        std::fs::write(&path, text).unwrap();
        path
    };
    let files = [
        ingest(export(&[("2026-10-02T09:01:00", "p1@example.it")])),
        // Changed later in Sintesi: an update, queued.
        ingest(export(&[("2026-10-05T10:00:00", "p5@example.it")])),
        // Read after it, but changed before it in Sintesi: superseded.
        ingest(export(&[("2026-10-01T08:00:00", "p0@example.it")])),
        // Two versions in one export, the newer first: the older one superseded.
        ingest(export(&[("2026-10-07T10:00:00", "p7@example.it"), ("2026-10-06T10:00:00", "p6@example.it")])),
        // A newer one rejected supersedes nothing: the older one of its batch goes.
        ingest(export(&[("2026-10-09T10:00:00", "broken@example.it"), ("2026-10-08T10:00:00", "p8@example.it")])),
    ];
    let mut got = Vec::new();
    for f in &files {
        let s = parts.ingest_inputs(SourceKind::Sintesi, None, std::slice::from_ref(f), today, None).await.unwrap();
        got.push((s.queued, s.unchanged, s.rejected));
    }
    assert_eq!(got, [(1, 0, 0), (1, 0, 0), (0, 1, 0), (1, 1, 0), (1, 0, 1)]);
    let superseded: u64 = parts
        .audit_log
        .query(&silgate_audit::Query::default())
        .await
        .unwrap()
        .into_iter()
        .filter_map(|e| match e.typed() {
            Some(silgate_audit::Event::Deduplicated { count, why: silgate_audit::SeenAgain::Superseded, .. }) => Some(count),
            _ => None,
        })
        .sum();
    assert_eq!(superseded, 2, "each superseded version audited");
    assert!(parts.audit_log.verify().await.unwrap().is_ok());
}
