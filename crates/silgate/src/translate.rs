//! `silgate translate --source KIND --out DIR INPUT...`: the batch path, writing files.
//!
//! Each accepted record becomes `DIR/{cv|vacancy}-{code}.xml`; each rejected record one
//! JSON line in `DIR/quarantine.jsonl` (see `silgate_gateway::translate`). The same
//! input always gives the same files, byte for byte.

use crate::Judging;
use anyhow::{Context, Result};
use silgate_gateway::SourceKind;
use silgate_gateway::translate::Translator;
use silgate_std1546::XsdValidator;
use std::fs::File;
use std::io::BufReader;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// What `silgate translate` was asked.
pub(crate) struct Request<'a> {
    /// The kind of input.
    pub(crate) source: SourceKind,
    /// The output folder.
    pub(crate) out: &'a Path,
    /// `--region`, as given.
    pub(crate) region: Option<&'a str>,
    /// `--mapping`.
    pub(crate) mapping: Option<&'a str>,
    /// `--pec-config`.
    pub(crate) pec: Option<&'a Path>,
    /// `--optional-unmappable`.
    pub(crate) unmappable: silgate_std1546::fit::Unmappable,
    /// The inputs.
    pub(crate) inputs: &'a [PathBuf],
}

pub(crate) fn run(r: &Request<'_>, j: &Judging) -> Result<ExitCode> {
    let Request { source, out, region, mapping, pec, unmappable, inputs } = *r;
    let pec = pec.map(silgate_gateway::sources::pec_config).transpose()?;
    let tables = crate::tables::load(j)?;
    let today = crate::tables::today(j)?;
    let xsd = XsdValidator::shared()?;
    let mapping = silgate_gateway::sources::mapping(mapping)?;
    let Some(spec) = region else {
        eprintln!("silgate: error: translate needs --region: the region's name (--region puglia) or its code in the ministry's table (--region 14); `silgate codes` lists them");
        return Ok(ExitCode::from(2));
    };
    let Some(region) = silgate_codes::Regions::embedded().find(spec).filter(|r| !r.is_national()) else {
        eprintln!("silgate: error: --region {spec}: not a region's name or code in the ministry's table (`silgate codes` lists them: 14 PUGLIA, 16 SICILIA, ...)");
        return Ok(ExitCode::from(2));
    };
    let mut t = Translator::new(tables, today, xsd, Some(&region.code), out)?.with_unmappable(unmappable);
    let pb = crate::progress::bar(source.as_str());
    for input in inputs {
        if source == SourceKind::CanonicalJson {
            let f = File::open(input).with_context(|| format!("opening {}", input.display()))?;
            t.canonical_json(BufReader::new(f), &input.display().to_string())?;
            continue;
        }
        let mut src = silgate_gateway::sources::open(source, input, mapping.clone(), pec.as_ref(), silgate_gateway::sources::Limits::default())?;
        let mut failed = None;
        src.read(&mut |item| match t.item(item) {
            Ok(()) => {
                silgate_gateway::Progress::tick(&pb, t.summary.records, t.summary.rejected);
                ControlFlow::Continue(())
            }
            Err(e) => {
                failed = Some(e);
                ControlFlow::Break(())
            }
        })?;
        if let Some(e) = failed {
            return Err(e.into());
        }
    }
    pb.finish_and_clear();
    let s = t.finish()?;
    eprintln!(
        "{} record(s): {} accepted ({} file(s) in {}), {} rejected (see {}), {} warning(s)",
        s.records,
        s.accepted,
        s.written.len(),
        out.display(),
        s.rejected,
        out.join("quarantine.jsonl").display(),
        s.warnings
    );
    if s.omitted > 0 {
        eprintln!("{} optional element(s) the standard cannot carry left out (see {})", s.omitted, out.join("warnings.jsonl").display());
    }
    Ok(ExitCode::SUCCESS)
}
