//! The mapping shared by the table-shaped sources: SIL Plus delimited exports and
//! Access databases (and their Excel / CSV exports).
//!
//! Both systems keep a worker in one table and the worker's experiences, titles,
//! languages and availabilities in child tables keyed by the worker's id; vacancies
//! reference an employer table. What differs is only how tables are stored (CSV in
//! Windows-1252, Jet pages, sheets) and how they and their columns are named. So:
//!
//! - [`Entity`] names the seven logical tables and their logical columns (the SIL Plus
//!   names of `../shared/formats/sources.md`);
//! - [`Mapping`] says which physical table and column hold each of them, plus the
//!   region's local code tables (`format_version` `silplus-1`, `campania-1`, or a TOML
//!   file of the region's own);
//! - [`TableSet`] / [`RowReader`] are what a storage adapter implements: open a table,
//!   give its header and its rows as [`Cell`]s;
//! - [`Tabular`] is the [`Source`](silgate_core::Source): it scans every table once
//!   (row counts, key order), then joins children to parents **by streaming merge** when
//!   every table is sorted by key, and by a bounded in-memory index when not, and emits
//!   records and rejections.
//!
//! The helpers [`csv`] (a delimited file as a [`RowReader`], any of the two encodings)
//! and [`unzip`] (a zip unpacked with size and ratio limits) serve both adapters;
//! [`synth`] writes synthetic exports of any size for benchmarks and fuzz seeds.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod build;
pub mod cell;
pub mod csv;
pub mod engine;
pub mod entity;
pub mod mapping;
pub mod synth;
pub mod unzip;

pub use cell::Cell;
pub use engine::{Limits, RawRow, RowReader, Scan, TableSet, Tabular};
pub use entity::Entity;
pub use mapping::{Mapping, MappingError};

#[cfg(test)]
mod tests;
