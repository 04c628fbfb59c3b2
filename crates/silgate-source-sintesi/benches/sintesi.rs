//! `cargo bench -p silgate-source-sintesi`: the Sintesi adapter against the raw limit of
//! the same input, on a feed generated as a stream of `SILGATE_BENCH_BYTES` bytes
//! (default 2 GiB: the size of the largest regional dumps, never held anywhere).
//!
//! "Raw" is quick-xml alone reading every event of the stream and decoding its text;
//! the adapter reads records, checks their shape and maps them to the canonical model.
//! Reported: MB/s and records/s of each, their ratio (goal >= 0.5), and the process's
//! peak RSS after the run (flat: it does not depend on the feed's size).
#![allow(clippy::unwrap_used)]

use quick_xml::events::Event;
use silgate_core::Source;
use silgate_core::source::SourceItem;
use std::io::Read;
use std::ops::ControlFlow;
use std::time::Instant;

/// A feed of `limit` bytes (rounded up to whole records), made on the fly.
struct Feed {
    limit: u64,
    made: u64,
    i: u64,
    buf: Vec<u8>,
    at: usize,
    closed: bool,
}

const HEAD: &str = "<?xml version=\"1.0\"?>\n<SintesiExport xmlns=\"urn:silgate:sintesi:export:1\" provincia=\"BA\" cpi=\"CPI160601\" generato=\"2026-11-24T23:10:00\">\n";

fn record(i: u64) -> String {
    format!(
        "<Lavoratore id=\"{i}\" ultimaModifica=\"2026-10-01T09:{:02}:00\" stato=\"attivo\"><CodiceFiscale>RSSMRA80A01F839X</CodiceFiscale><Cognome>Citt&#224;</Cognome><Nome>Niccol&#242;</Nome><Sesso>M</Sesso><DataNascita>1980-01-01</DataNascita><ComuneNascita codice=\"F839\">Napoli</ComuneNascita><Cittadinanza codice=\"000\"/><Domicilio comune=\"A662\" cap=\"70121\">Via Sparano {i}</Domicilio><Email>p{i}@example.it</Email><Esperienze><Esperienza dal=\"2015-02-01\" al=\"2019-06-30\" contratto=\"A.02.00\" qualifica=\"5.1.2.2.0\"><Datore>Supermercati srl</Datore><Mansioni>Cassa &amp; scaffali</Mansioni></Esperienza></Esperienze><Lingue><Lingua codice=\"ENG\" lettura=\"B2\" scrittura=\"B1\" parlato=\"B2\"/></Lingue><Disponibilita><Professione codice=\"5.1.2.2.0.1\" orario=\"FT\" contratto=\"A.02.00\">Addetto alle vendite</Professione></Disponibilita></Lavoratore>\n",
        i % 60
    )
}

impl Read for Feed {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.at == self.buf.len() {
            self.buf.clear();
            self.at = 0;
            if self.made == 0 {
                self.buf.extend_from_slice(HEAD.as_bytes());
            } else if self.made < self.limit {
                for _ in 0..64 {
                    self.i += 1;
                    self.buf.extend_from_slice(record(self.i).as_bytes());
                }
            } else if !self.closed {
                self.closed = true;
                self.buf.extend_from_slice(b"</SintesiExport>\n");
            } else {
                return Ok(0);
            }
            self.made += self.buf.len() as u64;
        }
        let n = out.len().min(self.buf.len() - self.at);
        out[..n].copy_from_slice(&self.buf[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

fn feed(limit: u64) -> std::io::BufReader<Feed> {
    std::io::BufReader::with_capacity(256 * 1024, Feed { limit, made: 0, i: 0, buf: Vec::new(), at: 0, closed: false })
}

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb: f64 = status.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    kb / 1024.0
}

fn main() {
    let limit: u64 = std::env::var("SILGATE_BENCH_BYTES").ok().and_then(|v| v.parse().ok()).unwrap_or(2 << 30);
    let t = Instant::now();
    let mut r = quick_xml::Reader::from_reader(feed(limit));
    let mut buf = Vec::new();
    let (mut bytes, mut texts) = (0u64, 0usize);
    loop {
        buf.clear();
        match r.read_event_into(&mut buf).unwrap() {
            Event::Eof => break,
            Event::Text(t) => texts += t.xml10_content().len(),
            Event::Start(s) | Event::Empty(s) => {
                for a in s.attributes() {
                    texts += a.unwrap().normalized_value(quick_xml::XmlVersion::Implicit1_0).unwrap().len();
                }
            }
            _ => {}
        }
    }
    bytes += r.buffer_position();
    let raw = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let mut records = 0u64;
    let sum = silgate_source_sintesi::Sintesi::new(feed(limit), "bench")
        .read(&mut |i| {
            assert!(matches!(i, SourceItem::Record(_)), "{i:?}");
            records += 1;
            ControlFlow::Continue(())
        })
        .unwrap();
    let adapter = t.elapsed().as_secs_f64();
    assert_eq!(sum.records, records);
    let mib = bytes as f64 / 1048576.0;
    println!("sintesi raw quick-xml     {:>10.1} MiB/s  ({texts} chars of text and attributes)", mib / raw);
    println!("sintesi adapter           {:>10.1} MiB/s  {:>10.0} records/s  ({records} records, {mib:.0} MiB)", mib / adapter, records as f64 / adapter);
    println!("sintesi ratio to raw      {:>10.2}  (goal >= 0.50)", raw / adapter);
    println!("sintesi peak RSS          {:>10.1} MiB for a {mib:.0} MiB feed (flat in size)", peak_rss_mib());
    println!(
        "BENCH\tSintesi adapter, {mib:.0} MiB feed\t{:.1} MiB/s, RSS {:.1} MiB\tquick-xml events {:.1} MiB/s\t{:.2}\t>= 0.50",
        mib / adapter,
        peak_rss_mib(),
        mib / raw,
        raw / adapter
    );
}
