//! Code tables for the commands: the embedded set, with a region's overrides read from
//! a directory, and the judging date.

use crate::Judging;
use anyhow::{Context, Result};
use silgate_codes::CodeTables;
use silgate_core::Date;
use silgate_core::time_types::parse_date;
use std::process::ExitCode;

/// The tables to judge with: embedded, or embedded with overrides from `--code-tables`.
pub(crate) fn load(j: &Judging) -> Result<&'static CodeTables> {
    let Some(dir) = &j.code_tables else { return Ok(CodeTables::embedded()) };
    let tables = silgate_gateway::config::code_tables_from(dir).map_err(|e| anyhow::anyhow!("--code-tables: {e}"))?;
    Ok(Box::leak(Box::new(tables)))
}

/// The judging date: `--today`, else the local date.
pub(crate) fn today(j: &Judging) -> Result<Date> {
    match &j.today {
        Some(s) => parse_date(s).context("--today"),
        None => Ok(time::OffsetDateTime::now_local().unwrap_or_else(|_| time::OffsetDateTime::now_utc()).date()),
    }
}

/// `silgate codes`.
pub(crate) fn list() -> Result<ExitCode> {
    for (name, info) in CodeTables::embedded().infos() {
        let complete = if info.complete { "complete".to_string() } else { format!("incomplete ({})", info.incomplete_because.as_deref().unwrap_or("")) };
        println!("{:<13} {:>6} rows  {complete}\n    {}\n    source: {}\n    licence: {}", name.stem(), info.rows, info.title, info.source, info.licence);
    }
    let regions = silgate_codes::Regions::embedded();
    let i = &regions.info;
    println!("{:<13} {:>6} rows  complete\n    {}\n    source: {}\n    licence: {}", "regioni", i.rows, i.title, i.source, i.licence);
    for r in regions.all() {
        println!("    {} {}", r.code, r.name);
    }
    Ok(ExitCode::SUCCESS)
}
