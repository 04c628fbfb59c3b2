//! `silgate demo`: the main job on the embedded default, on samples bundled in the
//! binary. At this stage: canonical JSON -> business rules -> 1546 XML -> XSD, accepted
//! documents written, rejects quarantined with their reasons, and every written
//! document read back and judged again. Later stages add the queue, the publisher and
//! the built-in node.

use anyhow::{Context, Result};
use silgate_codes::CodeTables;
use silgate_core::{Position, Provenance, SourceSystem};
use silgate_std1546::XsdValidator;
use std::path::PathBuf;
use std::process::ExitCode;

/// The bundled samples: five CVs and three vacancies from CPIs of five regions, plus one
/// CV with a wrong codice fiscale check character and one vacancy with an unknown ATECO
/// code and an expiry before its publication.
const SAMPLES: &str = include_str!("../samples/demo.jsonl");
/// Campania (ISTAT region 15): the region whose codes the demo allocates.
const DEMO_REGION: &str = "15";

pub(crate) fn run(out: Option<PathBuf>) -> Result<ExitCode> {
    let out = match out {
        Some(o) => o,
        None => {
            let d = std::env::temp_dir().join("silgate-demo");
            if d.exists() {
                std::fs::remove_dir_all(&d).with_context(|| format!("emptying {}", d.display()))?;
            }
            d
        }
    };
    let tables = CodeTables::embedded();
    let today = time::OffsetDateTime::now_utc().date();
    let xsd = XsdValidator::shared()?;
    println!("silgate demo: bundled samples -> canonical model -> decreto 1546/2011 XML -> {}", out.display());
    let mut t = crate::translate::Translator::new(tables, today, xsd, Some(DEMO_REGION), &out)?;
    t.canonical_json(SAMPLES.as_bytes(), "samples/demo.jsonl")?;
    let s = t.finish()?;
    println!("  records read:     {}", s.records);
    println!("  accepted:         {} (one 1546 document each)", s.accepted);
    println!("  rejected:         {} (quarantine.jsonl)", s.rejected);
    for (rule, n) in &s.reasons {
        println!("      {n} x {rule}");
    }
    println!("  warnings:         {} (codes missing from incomplete tables: reported, still delivered)", s.warnings);
    let mut revalidated = 0;
    for path in &s.written {
        let bytes = std::fs::read(path)?;
        let prov = Provenance::new(SourceSystem::Std1546, path.display().to_string(), Position::XPath("/".into()));
        let report = silgate_std1546::validate_xml(&bytes, prov, tables, today, xsd)?;
        anyhow::ensure!(report.is_valid(), "{} does not validate: {:?}", path.display(), report.issues);
        revalidated += 1;
    }
    println!("  re-validated:     {revalidated} of {} written documents (XSD + business rules)", s.written.len());
    for path in &s.written {
        println!("      {}", path.display());
    }
    println!("  quarantine:       {}", out.join("quarantine.jsonl").display());
    Ok(ExitCode::SUCCESS)
}
