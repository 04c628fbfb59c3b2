//! `silgate validate FILE...`.

use crate::Judging;
use anyhow::Result;
use silgate_core::{Position, Provenance, Severity, SourceSystem};
use silgate_std1546::XsdValidator;
use std::path::PathBuf;
use std::process::ExitCode;

pub(crate) fn run(files: &[PathBuf], j: &Judging) -> Result<ExitCode> {
    let tables = crate::tables::load(j)?;
    let today = crate::tables::today(j)?;
    let xsd = XsdValidator::shared()?;
    let (mut invalid, mut unreadable) = (0usize, 0usize);
    for f in files {
        let name = f.display();
        let bytes = match std::fs::read(f) {
            Ok(b) => b,
            Err(e) => {
                println!("{name}: -: io: cannot read the file ({e})");
                unreadable += 1;
                continue;
            }
        };
        let prov = Provenance::new(SourceSystem::Std1546, name.to_string(), Position::XPath("/".into()));
        let report = silgate_std1546::validate_xml(&bytes, prov, tables, today, xsd)?;
        for i in &report.issues {
            match i.severity {
                Severity::Error => println!("{name}: {}: {}: {}", i.path, i.rule, i.message),
                Severity::Warning => println!("{name}: {}: {}: warning: {}", i.path, i.rule, i.message),
            }
        }
        if !report.is_valid() {
            invalid += 1;
        }
    }
    eprintln!("{} document(s): {} valid, {} invalid, {} unreadable", files.len(), files.len() - invalid - unreadable, invalid, unreadable);
    Ok(if unreadable > 0 {
        ExitCode::from(2)
    } else if invalid > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
