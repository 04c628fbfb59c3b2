//! `silgate report weekly --config FILE --since DATE [--province PPP] [--format csv|html]`:
//! the weekly summary the regions asked for, per CPI, from the audit log.
//!
//! For each CPI: records received, delivered, rejected (with the three most frequent
//! rules), elements left out of delivered documents (a code the standard cannot carry,
//! under `optional_unmappable = "omit"`), and the median and 95th percentile of the delay from the CPI's own time on
//! the record (a CV entered or changed, a vacancy published) to the node's receipt; then
//! the share of known CPIs (seen in the log before, or named in the config) that sent
//! nothing in the week. `--province` keeps the CPIs whose code carries that ISTAT
//! province code (`CPI072006`: province 072, Bari).

use crate::config::GatewayConfig;
use crate::error::{GatewayError, Result};
use silgate_audit::{Event, Query};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;

/// How the weekly report is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportFormat {
    /// One line per CPI, comma-separated, with a header.
    Csv,
    /// A page with one table.
    Html,
}

impl std::str::FromStr for ReportFormat {
    type Err = GatewayError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "csv" => Ok(Self::Csv),
            "html" => Ok(Self::Html),
            _ => Err(GatewayError::config("--format must be csv or html")),
        }
    }
}

const WEEK_MS: i64 = 7 * 24 * 3600 * 1000;

#[derive(Debug, Default)]
struct Row {
    received: u64,
    delivered: u64,
    rejected: u64,
    omitted: u64,
    reasons: BTreeMap<String, u64>,
    delays_ms: Vec<i64>,
}

fn percentile(sorted: &[i64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    Some(sorted[i.min(sorted.len() - 1)] as f64 / 3_600_000.0)
}

fn province_of(cpi: &str) -> Option<&str> {
    cpi.strip_prefix("CPI").and_then(|r| r.get(..3)).filter(|p| p.bytes().all(|b| b.is_ascii_digit()))
}

/// The weekly report of the week from `since` (YYYY-MM-DD), from the audit log of
/// `cfg`, as text.
pub async fn weekly(cfg: &GatewayConfig, since: &str, province: Option<&str>, format: ReportFormat) -> Result<String> {
    let day = silgate_core::time_types::parse_date(since).map_err(|_| GatewayError::config(format!("--since must be YYYY-MM-DD, got '{since}'")))?;
    let from = day.midnight().assume_utc().unix_timestamp() * 1000;
    let to = from + WEEK_MS;
    let log = cfg.open_audit().await?;
    let entries = log.query(&Query::default()).await?;
    let keep = |cpi: &str| province.is_none_or(|p| province_of(cpi) == Some(p));
    let mut known: BTreeSet<String> = BTreeSet::new();
    if let Some(p) = &cfg.pec {
        known.extend(p.senders.values().cloned());
    }
    if let Some(a) = &cfg.api {
        known.extend(a.clients.iter().map(|c| c.cpi.clone()));
    }
    known.extend(cfg.sources.iter().filter_map(|s| s.cpi.clone()));
    let mut rows: BTreeMap<String, Row> = BTreeMap::new();
    let mut t_cpi: HashMap<String, i64> = HashMap::new();
    for e in &entries {
        let Some(cpi) = e.cpi.as_deref().filter(|c| !c.is_empty()) else { continue };
        if !keep(cpi) {
            continue;
        }
        if e.at_ms < to {
            known.insert(cpi.to_string());
        }
        let event = e.typed();
        if let (Some(Event::Received { t_cpi_ms: Some(t), .. }), Some(id)) = (&event, e.message_id.as_deref()) {
            t_cpi.insert(id.to_string(), *t);
        }
        if e.at_ms < from || e.at_ms >= to {
            continue;
        }
        let row = rows.entry(cpi.to_string()).or_default();
        match event {
            Some(Event::Received { .. }) => row.received += 1,
            // Versions a source sent again unchanged: one entry per batch with their
            // count; the publisher's redeliveries found delivered are not receipts.
            Some(Event::Deduplicated { count, why, .. }) if why.is_a_receipt() => row.received += count,
            Some(Event::Delivered { recovered, .. }) => {
                row.delivered += 1;
                // A recovered entry carries the time it was written, not the delivery's.
                if let Some(t) = e.message_id.as_deref().and_then(|id| t_cpi.get(id)).filter(|_| !recovered) {
                    row.delays_ms.push(e.at_ms - t);
                }
            }
            Some(Event::Rejected { rule, .. }) => {
                row.rejected += 1;
                *row.reasons.entry(rule).or_default() += 1;
            }
            Some(Event::Omitted { .. }) => row.omitted += 1,
            _ => {}
        }
    }
    known.retain(|c| keep(c));
    let silent = known.iter().filter(|c| rows.get(*c).is_none_or(|r| r.received == 0)).count();
    let mut out = String::new();
    let line = |cpi: &str, r: &mut Row| {
        r.delays_ms.sort_unstable();
        let mut reasons: Vec<(&String, &u64)> = r.reasons.iter().collect();
        reasons.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let top = reasons.iter().take(3).map(|(k, v)| format!("{k} ({v})")).collect::<Vec<_>>().join("; ");
        let h = |v: Option<f64>| v.map_or_else(String::new, |v| format!("{v:.2}"));
        (cpi.to_string(), r.received, r.delivered, r.rejected, r.omitted, top, h(percentile(&r.delays_ms, 0.5)), h(percentile(&r.delays_ms, 0.95)))
    };
    let lines: Vec<_> = rows.iter_mut().map(|(c, r)| line(c, r)).collect();
    let share = if known.is_empty() { 0.0 } else { silent as f64 * 100.0 / known.len() as f64 };
    if format == ReportFormat::Csv {
        out.push_str("cpi,received,delivered,rejected,omitted,top_reasons,median_delay_hours,p95_delay_hours\n");
        for (c, rc, d, rj, om, top, med, p95) in &lines {
            let _ = writeln!(out, "{c},{rc},{d},{rj},{om},\"{top}\",{med},{p95}");
        }
        let _ = writeln!(out, "# week from {since}: {silent} of {} known CPIs sent nothing ({share:.1}%)", known.len());
    } else {
        let _ = write!(
            out,
            "<!doctype html>\n<html lang=\"it\"><head><meta charset=\"utf-8\"><title>silgate: weekly report from {since}</title></head><body>\n<h1>Weekly report, week from {since}</h1>\n<table>\n<tr><th>CPI</th><th>received</th><th>delivered</th><th>rejected</th><th>omitted</th><th>top reasons</th><th>median delay (h)</th><th>p95 delay (h)</th></tr>\n"
        );
        for (c, rc, d, rj, om, top, med, p95) in &lines {
            let _ = writeln!(out, "<tr><td>{c}</td><td>{rc}</td><td>{d}</td><td>{rj}</td><td>{om}</td><td>{top}</td><td>{med}</td><td>{p95}</td></tr>");
        }
        let _ = write!(out, "</table>\n<p>{silent} of {} known CPIs sent nothing this week ({share:.1}%).</p>\n</body></html>\n", known.len());
    }
    Ok(out)
}
