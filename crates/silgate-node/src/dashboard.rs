//! The operators' page: `GET /dashboard`.
//!
//! One HTML page rendered on the server from the very [`Stats`] that `GET /api/stats`
//! serves, with the charts drawn as inline SVG: no script, no CDN, nothing fetched by
//! the browser after the page. It reloads itself (`<meta http-equiv="refresh">`), so an
//! operator can leave it open on a wall screen.
//!
//! What it shows, over the window asked (`?hours=N`, 1 to 24, default 3):
//!
//! - the node's totals since its store was created (accepted, rejected, duplicates,
//!   distinct codes, envelopes refused, faults injected, `Retry-After` violations);
//! - documents per minute by outcome, by kind (CV / vacancy) and by region;
//! - the window's counts per region, per CPI (with a per-minute sparkline) and per
//!   kind;
//! - rejections by rule;
//! - the node's answer time per minute (median and 95th percentile), from
//!   [`LatencyRing`].
//!
//! Every number carries a `data-*` attribute naming what it is, so that the browser
//! test can read it back and compare it with `/api/stats`. Every string that came from
//! a document (CPI codes, rule ids) is escaped: a refused document may carry anything.

use crate::server::{Stats, minute_label};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds (milliseconds) of the answer-time buckets; one more bucket holds the rest.
const BOUNDS_MS: [u64; 12] = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 10_000];

/// How many minutes of answer times are kept (the longest window the page offers).
const KEEP_MINUTES: i64 = 24 * 60;

/// Answer times of one minute, as served in `/api/stats`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct LatencyMinute {
    /// `YYYY-MM-DDTHH:MMZ`.
    pub minute: String,
    /// Requests answered in that minute.
    pub n: u64,
    /// Median answer time: the upper bound of the bucket holding it, never above `max_ms`.
    pub p50_ms: u64,
    /// 95th percentile, the same way.
    pub p95_ms: u64,
    /// The slowest answer.
    pub max_ms: u64,
}

#[derive(Debug, Clone)]
struct Acc {
    minute: i64,
    n: u64,
    max_ms: u64,
    buckets: [u64; BOUNDS_MS.len() + 1],
}

impl Acc {
    fn percentile(&self, p: f64) -> u64 {
        // The rank of the p-th observation, 1-based: ceil(p * n).
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
        let rank = ((p * self.n as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, &c) in self.buckets.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return BOUNDS_MS.get(i).copied().unwrap_or(self.max_ms).min(self.max_ms);
            }
        }
        self.max_ms
    }
}

/// The node's answer times per minute over the last day, kept in memory (they start
/// again when the node restarts; the document counts live in the store).
#[derive(Debug, Default)]
pub(crate) struct LatencyRing {
    minutes: Mutex<VecDeque<Acc>>,
}

impl LatencyRing {
    /// Notes one answer given in `minute` (Unix minutes) after `took`.
    pub(crate) fn observe(&self, minute: i64, took: Duration) {
        let ms = u64::try_from(took.as_millis()).unwrap_or(u64::MAX);
        let Ok(mut q) = self.minutes.lock() else { return };
        if q.back().is_none_or(|a| a.minute < minute) {
            q.push_back(Acc { minute, n: 0, max_ms: 0, buckets: [0; BOUNDS_MS.len() + 1] });
        }
        while q.front().is_some_and(|a| a.minute <= minute - KEEP_MINUTES) {
            q.pop_front();
        }
        // Answers finish out of order across a minute boundary: find the minute's slot.
        let Some(acc) = q.iter_mut().rev().find(|a| a.minute <= minute) else { return };
        let bucket = BOUNDS_MS.iter().position(|&b| ms <= b).unwrap_or(BOUNDS_MS.len());
        acc.n += 1;
        acc.max_ms = acc.max_ms.max(ms);
        acc.buckets[bucket] += 1;
    }

    /// The minutes from `since` (Unix minutes) on, oldest first.
    pub(crate) fn since(&self, since: i64) -> Vec<LatencyMinute> {
        let Ok(q) = self.minutes.lock() else { return Vec::new() };
        q.iter()
            .filter(|a| a.minute >= since && a.n > 0)
            .map(|a| LatencyMinute { minute: minute_label(a.minute), n: a.n, p50_ms: a.percentile(0.50), p95_ms: a.percentile(0.95), max_ms: a.max_ms })
            .collect()
    }
}

/// `&`, `<`, `>`, `"` and `'` as entities: the page's only way of writing a string it
/// did not make itself.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Counts by outcome: accepted, rejected, duplicate.
type Outcomes = [i64; 3];

fn slot(outcome: &str) -> Option<usize> {
    match outcome {
        "accepted" => Some(0),
        "rejected" => Some(1),
        "duplicate" => Some(2),
        _ => None,
    }
}

const OUTCOMES: [&str; 3] = ["accepted", "rejected", "duplicate"];
const PALETTE: [&str; 8] = ["#1b6ac9", "#c0392b", "#8e8e8e", "#27ae60", "#8e44ad", "#d35400", "#16a085", "#7f8c8d"];

/// The window's numbers, grouped the ways the page shows them.
#[derive(Default)]
struct Window {
    axis: Vec<String>,
    by_outcome: [Vec<f64>; 3],
    by_kind: BTreeMap<String, Vec<f64>>,
    by_region_minute: BTreeMap<String, Vec<f64>>,
    by_cpi_minute: BTreeMap<String, Vec<f64>>,
    region: BTreeMap<String, Outcomes>,
    cpi: BTreeMap<String, Outcomes>,
    kind: BTreeMap<String, Outcomes>,
    sum: Outcomes,
}

fn window(stats: &Stats, now_minute: i64, hours: i64) -> Window {
    let first = now_minute - hours * 60 + 1;
    let axis: Vec<String> = (first..=now_minute).map(minute_label).collect();
    let index: BTreeMap<&str, usize> = axis.iter().enumerate().map(|(i, m)| (m.as_str(), i)).collect();
    let len = axis.len();
    let mut w = Window { by_outcome: [vec![0.0; len], vec![0.0; len], vec![0.0; len]], ..Window::default() };
    for r in &stats.per_minute {
        let Some(o) = slot(&r.outcome) else { continue };
        add(&mut w.region, &r.region, o, r.n);
        add(&mut w.cpi, &r.cpi, o, r.n);
        add(&mut w.kind, &r.kind, o, r.n);
        w.sum[o] += r.n;
        // Rows older than the axis (the store's window starts at a whole hour) count in
        // the tables but have no point on the charts.
        let Some(&i) = index.get(r.minute.as_str()) else { continue };
        #[allow(clippy::cast_precision_loss)]
        let n = r.n as f64;
        w.by_outcome[o][i] += n;
        w.by_kind.entry(r.kind.clone()).or_insert_with(|| vec![0.0; len])[i] += n;
        w.by_region_minute.entry(r.region.clone()).or_insert_with(|| vec![0.0; len])[i] += n;
        w.by_cpi_minute.entry(r.cpi.clone()).or_insert_with(|| vec![0.0; len])[i] += n;
    }
    w.axis = axis;
    w
}

fn add(map: &mut BTreeMap<String, Outcomes>, key: &str, o: usize, n: i64) {
    map.entry(key.to_string()).or_default()[o] += n;
}

/// A line chart of per-minute series, as inline SVG. The legend gives each series'
/// sum over the window (counts) or, with `last`, its latest non-zero value (times).
fn chart(title: &str, id: &str, axis: &[String], series: &[(String, &str, &[f64])], unit: &str, last: bool) -> String {
    const W: f64 = 880.0;
    const H: f64 = 200.0;
    const L: f64 = 48.0;
    const B: f64 = 22.0;
    let top = series.iter().flat_map(|(_, _, v)| v.iter().copied()).fold(0.0_f64, f64::max).max(1.0);
    #[allow(clippy::cast_precision_loss)]
    let step = if axis.len() > 1 { (W - L - 8.0) / (axis.len() - 1) as f64 } else { 0.0 };
    let mut s = String::new();
    let _ = write!(s, "<figure id=\"{id}\"><figcaption>{}</figcaption>", esc(title));
    let _ = write!(s, "<svg viewBox=\"0 0 {W} {}\" role=\"img\" aria-label=\"{}\">", H + B, esc(title));
    let _ = write!(s, "<line x1=\"{L}\" y1=\"{H}\" x2=\"{W}\" y2=\"{H}\" class=\"axis\"/><line x1=\"{L}\" y1=\"4\" x2=\"{L}\" y2=\"{H}\" class=\"axis\"/>");
    let _ = write!(s, "<text x=\"{}\" y=\"14\" text-anchor=\"end\">{top}</text><text x=\"{}\" y=\"{H}\" text-anchor=\"end\">0</text>", L - 4.0, L - 4.0);
    let _ = write!(s, "<text x=\"{}\" y=\"28\" text-anchor=\"end\">{}</text>", L - 4.0, esc(unit));
    if let (Some(a), Some(z)) = (axis.first(), axis.last()) {
        let hm = |m: &str| m.get(11..16).unwrap_or("").to_string();
        let _ = write!(s, "<text x=\"{L}\" y=\"{}\">{}</text><text x=\"{W}\" y=\"{}\" text-anchor=\"end\">{} UTC</text>", H + 16.0, hm(a), H + 16.0, hm(z));
    }
    for (name, color, values) in series {
        let mut points = String::new();
        for (i, v) in values.iter().enumerate() {
            #[allow(clippy::cast_precision_loss)]
            let x = L + step * i as f64;
            let y = H - (v / top) * (H - 8.0);
            let _ = write!(points, "{x:.1},{y:.1} ");
        }
        let _ = write!(s, "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"1.5\" points=\"{}\"><title>{}</title></polyline>", points.trim_end(), esc(name));
    }
    s.push_str("</svg><ul class=\"legend\">");
    for (name, color, values) in series {
        let figure =
            if last { format!("latest {} {unit}", values.iter().rev().find(|v| **v > 0.0).copied().unwrap_or(0.0)) } else { format!("{} in all", values.iter().sum::<f64>()) };
        let _ = write!(s, "<li><span class=\"swatch\" style=\"background:{color}\"></span>{} ({figure})</li>", esc(name));
    }
    s.push_str("</ul></figure>");
    s
}

/// A small per-minute sparkline for a table row.
fn sparkline(values: &[f64]) -> String {
    const W: f64 = 160.0;
    const H: f64 = 18.0;
    let top = values.iter().copied().fold(0.0_f64, f64::max).max(1.0);
    #[allow(clippy::cast_precision_loss)]
    let step = if values.len() > 1 { W / (values.len() - 1) as f64 } else { 0.0 };
    let mut points = String::new();
    for (i, v) in values.iter().enumerate() {
        #[allow(clippy::cast_precision_loss)]
        let x = step * i as f64;
        let _ = write!(points, "{x:.1},{:.1} ", H - (v / top) * (H - 2.0));
    }
    format!("<svg class=\"spark\" viewBox=\"0 0 {W} {H}\" width=\"{W}\" height=\"{H}\"><polyline fill=\"none\" stroke=\"#1b6ac9\" points=\"{}\"/></svg>", points.trim_end())
}

/// A region code with its name from the stats (`14 PUGLIA`), or the code alone.
fn region_label(stats: &Stats, code: &str) -> String {
    match stats.region_names.get(code) {
        Some(name) => format!("{code} {name}"),
        None => code.to_string(),
    }
}

fn outcome_table(caption: &str, attr: &str, rows: &[(&String, &Outcomes)], spark: Option<&BTreeMap<String, Vec<f64>>>, label: impl Fn(&str) -> String) -> String {
    let mut s = format!("<table class=\"counts\" data-table=\"{attr}\"><caption>{}</caption><thead><tr><th>{attr}</th>", esc(caption));
    for o in OUTCOMES {
        let _ = write!(s, "<th>{o}</th>");
    }
    if spark.is_some() {
        s.push_str("<th>per minute</th>");
    }
    s.push_str("</tr></thead><tbody>");
    for (key, counts) in rows {
        let shown = if key.is_empty() { "(none)".to_string() } else { esc(&truncate(&label(key), 40)) };
        let _ = write!(s, "<tr data-{attr}=\"{}\"><th>{shown}</th>", esc(key));
        for (o, n) in OUTCOMES.iter().zip(counts.iter()) {
            let _ = write!(s, "<td data-outcome=\"{o}\">{n}</td>");
        }
        if let Some(m) = spark {
            let _ = write!(s, "<td>{}</td>", m.get(*key).map(|v| sparkline(v)).unwrap_or_default());
        }
        s.push_str("</tr>");
    }
    if rows.is_empty() {
        let _ = write!(s, "<tr><td colspan=\"{}\">nothing in this window</td></tr>", 4 + usize::from(spark.is_some()));
    }
    s.push_str("</tbody></table>");
    s
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max { s.to_string() } else { format!("{}…", s.chars().take(max).collect::<String>()) }
}

/// How many CPIs the page lists (the busiest; the rest are summed in one row).
const CPI_ROWS: usize = 25;

/// Renders the page. `now_minute` is the current Unix minute, `generated_ms` the
/// instant stamped on the page.
pub(crate) fn render(stats: &Stats, hours: i64, refresh_secs: u64, now_minute: i64, generated_ms: i64) -> String {
    let w = window(stats, now_minute, hours);
    let t = &stats.totals;
    let mut s = String::with_capacity(64 * 1024);
    let _ = write!(
        s,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"{refresh_secs}\">\
         <meta name=\"viewport\" content=\"width=device-width\"><title>silgate node — throughput</title><style>{CSS}</style></head>\
         <body data-generated=\"{generated_ms}\" data-hours=\"{hours}\"><header><h1>National node — throughput</h1>\
         <p>Last {hours} h, per minute (UTC) · generated {} · reloads every {refresh_secs} s · \
         <a href=\"?hours=1\">1 h</a> <a href=\"?hours=3\">3 h</a> <a href=\"?hours=6\">6 h</a> <a href=\"?hours=24\">24 h</a> · \
         <a href=\"/api/stats?hours={hours}\">JSON</a></p></header>",
        minute_label(now_minute)
    );
    s.push_str("<section><h2>Since the store was created</h2><dl class=\"tiles\">");
    let tiles: [(&str, &str, i64); 7] = [
        ("accepted", "accepted", t.accepted),
        ("rejected", "rejected", t.rejected),
        ("duplicates", "duplicates", t.duplicates),
        ("distinct_codes", "distinct codes", t.distinct_codes),
        ("envelopes_refused", "envelopes refused", i64::try_from(t.envelopes_refused).unwrap_or(i64::MAX)),
        ("faults_injected", "faults injected", i64::try_from(t.faults_injected).unwrap_or(i64::MAX)),
        ("retry_after_violations", "Retry-After violations", i64::try_from(t.retry_after_violations).unwrap_or(i64::MAX)),
    ];
    for (key, label, n) in tiles {
        let _ = write!(s, "<div><dt>{label}</dt><dd data-stat=\"{key}\">{n}</dd></div>");
    }
    s.push_str("</dl></section>");

    let _ = write!(s, "<section><h2>In this window</h2><dl class=\"tiles\">");
    for (o, n) in OUTCOMES.iter().zip(w.sum.iter()) {
        let _ = write!(s, "<div><dt>{o}</dt><dd data-window=\"{o}\">{n}</dd></div>");
    }
    s.push_str("</dl>");
    let outcome_series: Vec<(String, &str, &[f64])> = OUTCOMES.iter().zip(w.by_outcome.iter()).zip(PALETTE).map(|((o, v), c)| ((*o).to_string(), c, v.as_slice())).collect();
    s.push_str(&chart("Documents per minute, by outcome", "chart-outcome", &w.axis, &outcome_series, "/min", false));
    let kind_series: Vec<(String, &str, &[f64])> = w.by_kind.iter().zip(PALETTE.iter().skip(3)).map(|((k, v), c)| (k.clone(), *c, v.as_slice())).collect();
    s.push_str(&chart("Documents per minute, by kind", "chart-kind", &w.axis, &kind_series, "/min", false));
    let mut regions: Vec<(&String, &Vec<f64>)> = w.by_region_minute.iter().collect();
    regions.sort_by(|a, b| b.1.iter().sum::<f64>().total_cmp(&a.1.iter().sum::<f64>()).then(a.0.cmp(b.0)));
    let region_series: Vec<(String, &str, &[f64])> =
        regions.iter().take(PALETTE.len()).zip(PALETTE).map(|((r, v), c)| (if r.is_empty() { "(none)".into() } else { region_label(stats, r) }, c, v.as_slice())).collect();
    s.push_str(&chart("Documents per minute, by region (the busiest eight)", "chart-region", &w.axis, &region_series, "/min", false));

    let rows: Vec<(&String, &Outcomes)> = w.region.iter().collect();
    s.push_str(&outcome_table("By region (the ministry's code)", "region", &rows, None, |k| region_label(stats, k)));
    let rows: Vec<(&String, &Outcomes)> = w.kind.iter().collect();
    s.push_str(&outcome_table("By kind", "kind", &rows, None, str::to_string));
    let mut cpis: Vec<(&String, &Outcomes)> = w.cpi.iter().collect();
    cpis.sort_by(|a, b| b.1.iter().sum::<i64>().cmp(&a.1.iter().sum::<i64>()).then(a.0.cmp(b.0)));
    let rest: Outcomes = cpis.iter().skip(CPI_ROWS).fold([0; 3], |mut acc, (_, c)| {
        for i in 0..3 {
            acc[i] += c[i];
        }
        acc
    });
    let others = cpis.len().saturating_sub(CPI_ROWS);
    cpis.truncate(CPI_ROWS);
    s.push_str(&outcome_table(&format!("By CPI (the busiest {CPI_ROWS})"), "cpi", &cpis, Some(&w.by_cpi_minute), str::to_string));
    if others > 0 {
        let _ = write!(s, "<p data-other-cpis=\"{others}\">…and {others} more CPIs: {} accepted, {} rejected, {} duplicates.</p>", rest[0], rest[1], rest[2]);
    }
    s.push_str("</section>");

    s.push_str("<section><h2>Rejections by rule (since the store was created)</h2><table class=\"counts\" data-table=\"reason\"><thead><tr><th>rule</th><th>documents</th></tr></thead><tbody>");
    for (reason, n) in &stats.rejects_by_reason {
        let _ = write!(s, "<tr data-reason=\"{}\"><th><code>{}</code></th><td data-n>{n}</td></tr>", esc(reason), esc(&truncate(reason, 80)));
    }
    if stats.rejects_by_reason.is_empty() {
        s.push_str("<tr><td colspan=\"2\">none</td></tr>");
    }
    s.push_str("</tbody></table></section>");

    s.push_str("<section><h2>Answer time at the node</h2>");
    let lat_index: BTreeMap<&str, &crate::LatencyMinute> = stats.latency.iter().map(|l| (l.minute.as_str(), l)).collect();
    let p50: Vec<f64> = w.axis.iter().map(|m| lat_index.get(m.as_str()).map_or(0.0, |l| l.p50_ms as f64)).collect();
    let p95: Vec<f64> = w.axis.iter().map(|m| lat_index.get(m.as_str()).map_or(0.0, |l| l.p95_ms as f64)).collect();
    s.push_str(&chart("Answer time per minute (ms)", "chart-latency", &w.axis, &[("median".into(), PALETTE[0], &p50), ("95th percentile".into(), PALETTE[1], &p95)], "ms", true));
    s.push_str("<table class=\"counts\" data-table=\"latency\"><thead><tr><th>minute</th><th>requests</th><th>median ms</th><th>p95 ms</th><th>max ms</th></tr></thead><tbody>");
    for l in stats.latency.iter().rev().take(10) {
        let _ = write!(
            s,
            "<tr data-minute=\"{}\"><th>{}</th><td data-n>{}</td><td data-p50>{}</td><td data-p95>{}</td><td data-max>{}</td></tr>",
            esc(&l.minute),
            esc(&l.minute),
            l.n,
            l.p50_ms,
            l.p95_ms,
            l.max_ms
        );
    }
    s.push_str("</tbody></table><p class=\"note\">Answer times are kept in memory: they start again when the node restarts.</p></section></body></html>");
    s
}

const CSS: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;max-width:980px}h1{font-size:1.4em;margin:0}h2{font-size:1.1em;margin-top:1.6em;border-bottom:1px solid #ddd}\
.tiles{display:flex;flex-wrap:wrap;gap:.6em;margin:0}.tiles div{border:1px solid #ddd;border-radius:4px;padding:.3em .8em;min-width:7em}.tiles dt{color:#666;font-size:.85em}.tiles dd{margin:0;font-size:1.5em;font-variant-numeric:tabular-nums}\
figure{margin:1em 0}figcaption{font-weight:600}svg{width:100%;height:auto}svg text{font-size:11px;fill:#555}.axis{stroke:#999}.spark{width:160px}\
.legend{list-style:none;padding:0;display:flex;gap:1.2em;flex-wrap:wrap;margin:.2em 0}.swatch{display:inline-block;width:.9em;height:.9em;margin-right:.3em;vertical-align:middle}\
table.counts{border-collapse:collapse;margin:1em 0;min-width:50%}table.counts caption{text-align:left;font-weight:600}table.counts th,table.counts td{border-bottom:1px solid #eee;padding:.2em .6em;text-align:right}\
table.counts th:first-child{text-align:left}td{font-variant-numeric:tabular-nums}.note{color:#666;font-size:.85em}";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::{MinuteRowOut, Totals};

    fn row(minute: i64, region: &str, cpi: &str, kind: &str, outcome: &str, n: i64) -> MinuteRowOut {
        MinuteRowOut { minute: minute_label(minute), region: region.into(), cpi: cpi.into(), kind: kind.into(), outcome: outcome.into(), n }
    }

    #[test]
    fn given_answer_times_the_percentiles_should_be_bucket_bounds_capped_by_the_maximum() {
        let ring = LatencyRing::default();
        for ms in [1u64, 3, 3, 3, 7, 7, 7, 7, 40, 300] {
            ring.observe(1000, Duration::from_millis(ms));
        }
        ring.observe(1001, Duration::from_millis(20_000));
        let got = ring.since(0);
        assert_eq!(got.len(), 2);
        assert_eq!((got[0].n, got[0].p50_ms, got[0].p95_ms, got[0].max_ms), (10, 10, 300, 300));
        assert_eq!((got[1].n, got[1].p50_ms, got[1].p95_ms), (1, 20_000, 20_000));
        // A day later the old minutes are gone.
        ring.observe(1000 + KEEP_MINUTES + 5, Duration::from_millis(1));
        assert_eq!(ring.since(0).len(), 1);
    }

    #[test]
    fn given_stats_the_page_should_show_every_count_and_escape_what_documents_carried() {
        let now = 29_000_000;
        let stats = Stats {
            totals: Totals { accepted: 7, rejected: 2, distinct_codes: 6, duplicates: 1, faults_injected: 3, envelopes_refused: 4, retry_after_violations: 0 },
            rejects_by_reason: vec![("rule.<b>".into(), 2)],
            per_minute: vec![row(now - 1, "16", "C001", "cv", "accepted", 5), row(now, "16", "<script>", "vacancy", "rejected", 2), row(now, "15", "C002", "cv", "duplicate", 1)],
            latency: vec![],
            region_names: [("16".to_string(), "SICILIA".to_string())].into(),
        };
        let page = render(&stats, 3, 10, now, 1);
        assert!(page.contains("<meta http-equiv=\"refresh\" content=\"10\">"));
        assert!(page.contains("data-stat=\"accepted\">7<") && page.contains("data-stat=\"envelopes_refused\">4<"));
        assert!(page.contains("data-window=\"accepted\">5<") && page.contains("data-window=\"rejected\">2<") && page.contains("data-window=\"duplicate\">1<"));
        assert!(page.contains("<tr data-region=\"16\"><th>16 SICILIA</th><td data-outcome=\"accepted\">5</td><td data-outcome=\"rejected\">2</td>"));
        assert!(page.contains("<tr data-region=\"15\"><th>15</th>"), "a code without its name in the stats is shown alone");
        assert!(!page.contains("<script>") && page.contains("&lt;script&gt;") && page.contains("rule.&lt;b&gt;"));
        assert!(!page.contains("http://") && !page.contains("https://"), "the page must fetch nothing");
    }
}
