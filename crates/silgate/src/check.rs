//! `silgate config check FILE`: every problem of a gateway configuration at once, one
//! line each (`FILE: key: problem`), instead of the first one a start would stop at.
//!
//! Three layers, each run whatever the others found: the TOML itself; each section
//! read on its own against its shape (unknown keys, wrong types, missing keys, so one
//! bad section does not hide the next); then what the values mean (region code,
//! backends, URLs, the source kinds and what each needs, mapping files, the PEC and
//! API settings) and, unless `--offline`, whether the files named exist and parse.

use crate::gateway::{ImapConfig, QueueConfig, SourceConfig, StoreConfig};
use anyhow::Result;
use serde::de::DeserializeOwned;
use std::path::Path;
use std::process::ExitCode;

fn section<T: DeserializeOwned>(v: Option<&toml::Value>, name: &str, problems: &mut Vec<String>) -> Option<T> {
    let v = v?;
    match T::deserialize(v.clone()) {
        Ok(t) => Some(t),
        Err(e) => {
            problems.push(format!("{name}: {}", e.message()));
            None
        }
    }
}

fn file(base: &Path, p: &Path, key: &str, offline: bool, problems: &mut Vec<String>) {
    if offline {
        return;
    }
    let full = if p.is_absolute() { p.to_path_buf() } else { base.join(p) };
    if !full.is_file() {
        problems.push(format!("{key}: {} does not exist or is not a file", full.display()));
    }
}

/// The problems of a configuration file (empty: none).
pub(crate) fn problems(path: &Path, offline: bool) -> Vec<String> {
    let mut p = Vec::new();
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => return vec![format!("cannot be read: {e}")],
    };
    let root: toml::Table = match toml::from_str(&text) {
        Ok(t) => t,
        Err(e) => return vec![format!("not TOML: {}", e.message())],
    };
    let base = path.parent().unwrap_or(Path::new("."));
    const KEYS: [&str; 14] = ["instance", "region", "region_name", "data_dir", "queue", "audit", "dedup", "node", "delivery", "sources", "batch", "pec", "api", "metrics"];
    for k in root.keys() {
        if !KEYS.contains(&k.as_str()) {
            p.push(format!("{k}: unknown key (expected one of {})", KEYS.join(", ")));
        }
    }
    for k in ["region", "region_name", "data_dir", "node"] {
        if !root.contains_key(k) {
            p.push(format!("{k}: missing"));
        }
    }
    if let Some(r) = root.get("region") {
        match r.as_str() {
            Some(s) if s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit()) => {}
            _ => p.push("region: must be a two-digit ISTAT region code (\"16\")".into()),
        }
    }
    if let Some(q) = section::<QueueConfig>(root.get("queue"), "queue", &mut p) {
        match q.backend.as_str() {
            "sqlite" => {}
            "rabbitmq" if q.uri.is_some() => {}
            "rabbitmq" => p.push("queue.uri: required for the rabbitmq backend".into()),
            other => p.push(format!("queue.backend: '{other}' is neither sqlite nor rabbitmq")),
        }
    }
    for name in ["audit", "dedup"] {
        if let Some(s) = section::<StoreConfig>(root.get(name), name, &mut p) {
            match s.backend.as_deref().unwrap_or("sqlite") {
                "sqlite" => {}
                "postgres" if s.url.is_some() => {}
                "postgres" => p.push(format!("{name}.url: required for the postgres backend")),
                other => p.push(format!("{name}.backend: '{other}' is neither sqlite nor postgres")),
            }
        }
    }
    if let Some(n) = section::<silgate_publish::ClientConfig>(root.get("node"), "node", &mut p) {
        if n.url.starts_with("https://") {
            match &n.ca {
                Some(ca) => file(base, ca, "node.ca", offline, &mut p),
                None => p.push("node.ca: required for an https node".into()),
            }
        } else if !n.url.starts_with("http://127.0.0.1") && !n.url.starts_with("http://localhost") {
            p.push("node.url: plain http only to a loopback node".into());
        }
        match (&n.client_cert, &n.client_key) {
            (Some(c), Some(k)) => {
                file(base, c, "node.client_cert", offline, &mut p);
                file(base, k, "node.client_key", offline, &mut p);
            }
            (None, None) => {}
            _ => p.push("node.client_cert, node.client_key: give both or neither".into()),
        }
    }
    let _ = section::<silgate_publish::RetryConfig>(root.get("delivery"), "delivery", &mut p);
    let pec = section::<crate::sources::PecSettings>(root.get("pec"), "pec", &mut p);
    if let Some(s) = &pec {
        if s.providers.is_empty() {
            p.push("pec.providers: at least one provider certificate is needed".into());
        }
        for (i, f) in s.providers.iter().chain(&s.signers).enumerate() {
            file(base, f, &format!("pec.providers[{i}]"), offline, &mut p);
        }
        if s.senders.is_empty() {
            p.push("pec.senders: no sender is allowed: every PEC message would be refused".into());
        }
    }
    if let Some(a) = section::<crate::api::ApiConfig>(root.get("api"), "api", &mut p) {
        if let Some(t) = &a.tls {
            file(base, &t.cert, "api.tls.cert", offline, &mut p);
            file(base, &t.key, "api.tls.key", offline, &mut p);
            file(base, &t.client_ca, "api.tls.client_ca", offline, &mut p);
        }
        if a.tls.is_none() && !a.listen.ip().is_loopback() {
            p.push(format!("api.listen: {} is not loopback: without [api.tls], TLS belongs to the proxy in front", a.listen));
        }
        let is_sha256 = |h: &str| {
            let h = h.replace(':', "");
            h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit())
        };
        for (i, c) in a.clients.iter().enumerate() {
            if c.token_sha256.as_deref().is_some_and(|h| !is_sha256(h)) {
                p.push(format!("api.clients[{i}].token_sha256: not a SHA-256 in hex (64 characters)"));
            }
            if c.cert_sha256.as_deref().is_some_and(|h| !is_sha256(h)) {
                p.push(format!("api.clients[{i}].cert_sha256: not a SHA-256 in hex (64 characters)"));
            }
            match (&c.token_sha256, &c.cert_sha256) {
                (None, None) => p.push(format!("api.clients[{i}] ({}): give token_sha256, cert_sha256 or both", c.cpi)),
                (_, Some(_)) if a.tls.is_none() => p.push(format!("api.clients[{i}].cert_sha256: client certificates need [api.tls]")),
                _ => {}
            }
        }
    }
    if let Some(list) = root.get("sources") {
        match list.as_array() {
            None => p.push("sources: must be an array of tables ([[sources]])".into()),
            Some(items) => {
                for (i, v) in items.iter().enumerate() {
                    let key = format!("sources[{i}]");
                    let Some(s) = section::<SourceConfig>(Some(v), &key, &mut p) else { continue };
                    if crate::SourceKind::parse(&s.kind).is_none() {
                        p.push(format!("{key}.kind: '{}' is not canonical-json, sintesi, silplus, access or pec", s.kind));
                    }
                    match (&s.inbox, &s.url, &s.imap) {
                        (Some(_), None, None) => {}
                        (None, Some(u), None) => {
                            if s.kind != "sintesi" {
                                p.push(format!("{key}.url: only a sintesi source is pulled over HTTPS"));
                            }
                            if !u.starts_with("https://") {
                                p.push(format!("{key}.url: must be https://"));
                            }
                            if s.cpi.is_none() {
                                p.push(format!("{key}.cpi: required with url"));
                            }
                            match &s.ca {
                                Some(ca) => file(base, ca, &format!("{key}.ca"), offline, &mut p),
                                None => p.push(format!("{key}.ca: required with url")),
                            }
                        }
                        (None, None, Some(imap)) => check_imap(imap, &key, s.kind.as_str(), base, offline, &mut p),
                        _ => p.push(format!("{key}: give exactly one of inbox, url (sintesi) or imap (pec)")),
                    }
                    if s.kind == "pec" && pec.is_none() {
                        p.push(format!("{key}: a pec source needs the [pec] table"));
                    }
                    if let Some(m) = &s.mapping
                        && silgate_source_tabular::Mapping::builtin(m).is_none()
                    {
                        let full = base.join(m);
                        match std::fs::read_to_string(&full) {
                            Ok(t) => {
                                if let Err(e) = silgate_source_tabular::Mapping::parse(m, &t) {
                                    p.push(format!("{key}.mapping: {e}"));
                                }
                            }
                            Err(_) if offline => {}
                            Err(e) => p.push(format!("{key}.mapping: {} cannot be read ({e}); built-in: silplus-1, campania-1", full.display())),
                        }
                    }
                }
            }
        }
    }
    p
}

fn check_imap(imap: &ImapConfig, key: &str, kind: &str, base: &Path, offline: bool, p: &mut Vec<String>) {
    if kind != "pec" {
        p.push(format!("{key}.imap: only a pec source reads a mailbox"));
    }
    match imap.security.as_str() {
        "imaps" | "starttls" => match &imap.ca {
            Some(ca) => file(base, ca, &format!("{key}.imap.ca"), offline, p),
            None => p.push(format!("{key}.imap.ca: required with TLS")),
        },
        "insecure-loopback" if imap.host == "127.0.0.1" || imap.host == "localhost" || imap.host == "::1" => {}
        "insecure-loopback" => p.push(format!("{key}.imap.security: insecure-loopback with a host that is not loopback ({})", imap.host)),
        other => p.push(format!("{key}.imap.security: '{other}' is not imaps, starttls or insecure-loopback")),
    }
    if imap.password.is_none() && imap.password_env.is_none() {
        p.push(format!("{key}.imap: password or password_env is required"));
    }
}

/// `silgate config check FILE [--offline]`.
pub(crate) fn run(path: &Path, offline: bool) -> Result<ExitCode> {
    let found = problems(path, offline);
    for line in &found {
        println!("{}: {line}", path.display());
    }
    if found.is_empty() {
        println!("{}: ok", path.display());
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("{} problem(s)", found.len());
        Ok(ExitCode::from(1))
    }
}
