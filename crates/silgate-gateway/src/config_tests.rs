//! The example configurations in `config/` load and say what they claim.

use super::*;

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config").join(name)
}

#[test]
fn given_the_embedded_example_it_should_load_with_sqlite_everywhere() {
    let c = GatewayConfig::load(&example("gateway.example.toml")).unwrap();
    assert_eq!((c.region.as_str(), c.region_name.as_str(), c.queue.backend), ("14", "PUGLIA", QueueBackend::Sqlite), "the region by name, held by its ministerial code");
    assert_eq!(c.delivery.max_attempts, 12);
    let kinds: Vec<&str> = c.sources.iter().map(|s| s.kind.as_str()).collect();
    assert_eq!(kinds, ["canonical-json", "sintesi", "silplus", "access", "pec"]);
    assert!(c.sources[4].imap.is_some());
    assert_eq!(c.pec.as_ref().map(|p| p.senders.len()), Some(2));
    assert!(c.sources[1].url.is_some() && c.sources[1].inbox.is_none());
    assert_eq!(c.sources[3].mapping.as_deref(), Some("campania-1"));
    assert!(c.node.url.starts_with("https://"));
}

#[test]
fn given_the_shared_example_it_should_load_rabbitmq_and_postgres() {
    let c = GatewayConfig::load(&example("gateway-rabbitmq.example.toml")).unwrap();
    assert_eq!(c.queue.backend, QueueBackend::Rabbitmq);
    assert_eq!(c.audit.backend, StoreBackend::Postgres);
    assert_eq!(c.dedup.backend, StoreBackend::Postgres);
}

#[test]
fn given_the_node_example_it_should_parse() {
    let text = std::fs::read_to_string(example("node.example.toml")).unwrap();
    let n: silgate_node::NodeConfig = toml::from_str(&text).unwrap();
    assert!(n.tls.is_some());
    let f = &n.faults;
    assert_eq!((f.error_rate, f.throttle_rate, f.reject_rate, f.outages.len()), (0.0, 0.0, 0.0, 0), "the example injects no fault");
    assert!(n.dashboard_listen.is_some_and(|a| a.ip().is_loopback()));
    // The compose node too (deploy/compose/node.toml).
    let text = std::fs::read_to_string(example("../deploy/compose/node.toml")).unwrap();
    let n: silgate_node::NodeConfig = toml::from_str(&text).unwrap();
    assert_eq!(n.dashboard_listen.map(|a| a.port()), Some(8090));
}

#[test]
fn given_a_bad_region_loading_should_say_so() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("g.toml");
    std::fs::write(&p, "region = \"Puglia1\"\nregion_name = \"PUGLIA\"\ndata_dir = \"d\"\n[node]\nurl = \"https://x\"\n").unwrap();
    let e = GatewayConfig::load(&p).unwrap_err();
    assert!(e.to_string().contains("region: 'Puglia1' is neither a region's name nor its code"), "{e}");
}

#[test]
fn given_a_source_with_both_or_neither_of_inbox_and_url_the_config_should_be_refused() {
    let dir = tempfile::tempdir().unwrap();
    let base = "region = \"14\"\nregion_name = \"PUGLIA\"\ndata_dir = \"d\"\n[node]\nurl = \"https://x/ws\"\n";
    for (src, says) in [
        ("[[sources]]\nkind = \"silplus\"\n", "sources[0]: give exactly one of inbox"),
        ("[[sources]]\nkind = \"silplus\"\nurl = \"https://x\"\n", "sources[0].url: only a sintesi source"),
        ("[[sources]]\nkind = \"pdf\"\ninbox = \"i\"\n", "variant constructor pdf"),
    ] {
        let p = dir.path().join("g.toml");
        std::fs::write(&p, format!("{base}{src}")).unwrap();
        let e = GatewayConfig::load(&p).unwrap_err();
        assert!(e.to_string().contains(says), "{e}");
    }
}

#[test]
fn given_every_region_example_it_should_load_with_the_sources_it_describes() {
    let want = [
        ("puglia-sintesi.toml", "14", vec!["sintesi", "sintesi", "sintesi"]),
        ("sicilia-silplus.toml", "16", vec!["silplus", "pec"]),
        ("campania-access.toml", "05", vec!["access"]),
        ("calabria-pec.toml", "04", vec!["pec"]),
    ];
    for (file, region, kinds) in want {
        let c = GatewayConfig::load(&example(file)).unwrap_or_else(|e| panic!("{file}: {e:#}"));
        assert_eq!(c.region, region, "{file}");
        assert_eq!(c.sources.iter().map(|s| s.kind.as_str()).collect::<Vec<_>>(), kinds, "{file}");
        assert!(c.metrics.is_some(), "{file}");
    }
    let c = GatewayConfig::load(&example("calabria-pec.toml")).unwrap();
    assert_eq!(c.pec.as_ref().map(|p| (p.senders.len(), p.signers.len())), Some((3, 1)));
}

#[test]
fn given_a_node_url_that_only_starts_like_loopback_the_validator_should_refuse_it() {
    let mut c = GatewayConfig::new("puglia", "PUGLIA", PathBuf::from("/tmp/d"), ClientConfig::new("http://127.0.0.1.example.org/ws"));
    let problems = c.validate(Files::Ignore);
    assert!(problems.iter().any(|p| p.key == "node.url"), "{problems:?}");
    for ok in ["http://127.0.0.1:8080/ws", "http://localhost/ws", "http://[::1]:9/ws"] {
        c.node = ClientConfig::new(ok);
        assert_eq!(c.validate(Files::Ignore), vec![], "{ok}");
    }
}

#[test]
fn given_a_broken_file_check_should_name_every_key_and_load_should_refuse_it() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("g.toml");
    std::fs::write(
        &p,
        "region = \"1\"\nregion_name = \"X\"\ndata_dir = \"d\"\n[queue]\nbackend = \"rabbitmq\"\n[audit]\nbackend = \"postgres\"\n[node]\nurl = \"http://node.example/ws\"\n",
    )
    .unwrap();
    let keys: Vec<String> = check_file(&p, Files::Ignore).into_iter().map(|p| p.key).collect();
    assert_eq!(keys, ["region", "queue.uri", "audit.url", "node.url"]);
    let e = GatewayConfig::load(&p).unwrap_err().to_string();
    for k in keys {
        assert!(e.contains(&format!("{k}: ")), "{k} in {e}");
    }
}

#[test]
fn given_a_region_and_a_region_name_that_disagree_the_config_should_name_both() {
    // A configuration written for ISTAT numbers: 16 is Puglia for ISTAT, Sicilia for the ministry.
    let c = GatewayConfig::new("16", "PUGLIA", PathBuf::from("/tmp/d"), ClientConfig::new("http://127.0.0.1/ws"));
    let p = c.validate(Files::Ignore);
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!(p[0].key, "region, region_name");
    assert!(p[0].message.contains("region 16 is 16 SICILIA") && p[0].message.contains("PUGLIA is 14 PUGLIA") && p[0].message.contains("ISTAT"), "{}", p[0].message);
    for (region, name, code, sender) in [
        ("puglia", "PUGLIA", "14", "PUGLIA"),
        ("14", "puglia", "14", "PUGLIA"),
        ("emilia-romagna", "EMILIAROMAGNA", "06", "EMILIAROMAGNA"),
        ("bolzano", "BOLZANO", "03", "BOLZANO"),
        ("puglia", "REGIONEPUGLIA", "14", "REGIONEPUGLIA"),
    ] {
        let c = GatewayConfig::new(region, name, PathBuf::from("/tmp/d"), ClientConfig::new("http://127.0.0.1/ws"));
        assert_eq!(c.validate(Files::Ignore), vec![], "{region} {name}");
        assert_eq!((c.region.as_str(), c.region_name.as_str()), (code, sender), "the code, and the sender as the envelope carries it");
    }
    let c = GatewayConfig::new("emilia-romagna", "EMILIA ROMAGNA", PathBuf::from("/tmp/d"), ClientConfig::new("http://127.0.0.1/ws"));
    assert_eq!(c.validate(Files::Ignore).first().map(|p| p.key.as_str()), Some("region_name"), "an eGov name is letters and digits only");
    let c = GatewayConfig::new("00", "NCN", PathBuf::from("/tmp/d"), ClientConfig::new("http://127.0.0.1/ws"));
    assert_eq!(c.validate(Files::Ignore).first().map(|p| p.key.as_str()), Some("region"), "the national node is no region");
}

#[test]
fn given_anchors_inside_the_data_directory_or_too_often_the_config_should_say_so() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("g.toml");
    let base = "region = \"puglia\"\nregion_name = \"PUGLIA\"\ndata_dir = \"d\"\n[node]\nurl = \"https://node.example/ws\"\nca = \"ca.pem\"\nclient_cert = \"c.pem\"\nclient_key = \"c.key\"\n";
    std::fs::write(&p, format!("{base}[anchor]\nfile = \"d/anchors.jsonl\"\nevery_secs = 5\n")).unwrap();
    let keys: Vec<String> = check_file(&p, Files::Ignore).into_iter().map(|p| p.key).collect();
    assert_eq!(keys, ["anchor.every_secs", "anchor.file"]);
    let e = GatewayConfig::load(&p).unwrap_err().to_string();
    assert!(e.contains("anchor.file: is inside data_dir") && e.contains("anchor.every_secs"), "{e}");
    std::fs::write(&p, format!("{base}[anchor]\nfile = \"/mnt/worm/anchors.jsonl\"\n")).unwrap();
    assert!(check_file(&p, Files::Ignore).is_empty());
    let c = GatewayConfig::load(&p).unwrap();
    let a = c.anchor.as_ref().unwrap();
    assert_eq!((a.every_secs, c.anchor_key_path()), (3600, dir.path().join("d/anchor.key")));
    // A secret file that is not one is named by config check (its content never).
    std::fs::write(dir.path().join("s.key"), "not a secret\n").unwrap();
    std::fs::write(&p, format!("secret_file = \"s.key\"\n{base}")).unwrap();
    let problems = check_file(&p, Files::Check);
    assert!(problems.iter().any(|p| p.key == "secret_file" && !p.message.contains("not a secret\n")), "{problems:?}");
}
