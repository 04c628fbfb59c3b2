//! The Access adapter (Campania): the CPI's Microsoft Access database itself, or the
//! Excel / CSV exports of its tables, possibly zipped.
//!
//! - **Databases** (`.mdb` Jet 3/4, `.accdb` ACE 12+) are read with the pure-Rust
//!   [`jetdb`] crate, page by page: rows stream in chunks, nothing loads a whole table.
//!   jetdb was chosen over mdbtools' `libmdb` / `mdb-export` because it needs no C
//!   library or subprocess, reads every file of `../shared/data/access` (Jet 3 to ACE
//!   14, compressed Unicode text, overflow rows, deleted columns, dates before 1900),
//!   and returns typed values (dates as OLE day counts, money as exact decimal text,
//!   Yes/No as booleans) rather than text to re-parse. `mdb-export` stays in the tests
//!   as the differential check of what jetdb reads.
//! - **Workbooks** (`.xlsx`, `.xlsm`, `.xls`, `.ods`) are read with calamine, one
//!   sheet per table. calamine loads one sheet at a time, as a grid as large as the
//!   bounding box of its cells: before it opens a workbook, the sizes it would allocate
//!   from (that box, declared dimensions, shared-string counts, inflated part sizes)
//!   are checked against [`Limits`] (the `guard` module), and a workbook past one is
//!   refused with its rule (`limit.sheet_cells`, ...) instead of aborting the process.
//! - **CSV exports**: a folder (or zip) of `<Table>.csv` files, in the mapping's
//!   delimiter and encoding.
//!
//! Tables and columns are found through a [`Mapping`] (default `campania-1`); the join
//! and the field mapping are `silgate-source-tabular`'s. Access specifics handled here:
//! OLE dates (days since 1899-12-30, negative before it, the fraction always the time
//! of day), money and decimals as exact text, booleans, Excel date serials.

#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod db;
mod guard;
mod workbook;

pub use db::{Database, DbTable, cell as jet_cell};
pub use workbook::Workbook;

/// How a workbook is packed, for [`check_workbook`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Container {
    /// `.xlsx`, `.xlsm`, `.ods`: a zip of XML parts.
    Zip,
    /// `.xls`: BIFF records in a compound file.
    Xls,
}

/// Checks a workbook's sizes against `limits` before anything is allocated from them,
/// as [`Workbook::open`] does first (the `guard` module says what is checked). For
/// callers holding the bytes rather than a file (the fuzz targets). Returns what
/// calamine is then to read, as [`Workbook::open`] gives it: `None` for a zip (the
/// bytes as they are), the clean copy of an `.xls` holding only the checked stream.
pub fn check_workbook<R: std::io::Read + std::io::Seek>(reader: R, container: Container, origin: &str, limits: &Limits) -> Result<Option<Vec<u8>>, SourceError> {
    match container {
        Container::Zip => guard::check_zip(reader, origin, limits).map(|()| None),
        Container::Xls => guard::check_xls(reader, origin, limits).map(Some),
    }
}

use silgate_core::SourceSystem;
use silgate_core::source::SourceError;
use silgate_source_tabular::csv::{CsvTable, Encoding};
use silgate_source_tabular::engine::{RowReader, TableSet};
use silgate_source_tabular::unzip::{self, ZipLimits};
use silgate_source_tabular::{Limits, Mapping, Tabular};
use std::path::{Path, PathBuf};
use time::{Date, Duration, PrimitiveDateTime, Time};

/// Converts an OLE automation date (Access Date/Time, Excel serial in the 1900 system)
/// to a date and time: whole days from 1899-12-30 (negative before it), the fraction's
/// magnitude the time of day. `None` when out of range.
pub fn ole_datetime(v: f64) -> Option<PrimitiveDateTime> {
    if !v.is_finite() || v.abs() > 3_000_000.0 {
        return None;
    }
    let days = v.trunc();
    let frac = (v - days).abs();
    let base = Date::from_calendar_date(1899, time::Month::December, 30).ok()?;
    let date = base.checked_add(Duration::days(days as i64))?;
    let secs = (frac * 86_400.0).round() as i64;
    let (date, secs) = if secs >= 86_400 { (date.next_day()?, secs - 86_400) } else { (date, secs) };
    let t = Time::from_hms(u8::try_from(secs / 3600).ok()?, u8::try_from(secs % 3600 / 60).ok()?, u8::try_from(secs % 60).ok()?).ok()?;
    Some(PrimitiveDateTime::new(date, t))
}

/// A folder of `<Table>.csv` exports.
#[derive(Debug)]
pub struct CsvFolder {
    dir: PathBuf,
    origin: String,
    delimiter: u8,
    encoding: Encoding,
}

impl TableSet for CsvFolder {
    fn system(&self) -> SourceSystem {
        SourceSystem::Access
    }

    fn open(&self, table: &str) -> Result<Option<Box<dyn RowReader + '_>>, SourceError> {
        let want = format!("{table}.csv").to_lowercase();
        let found = std::fs::read_dir(&self.dir)
            .map_err(|e| SourceError::io(&self.origin, e))?
            .flatten()
            .map(|e| e.path())
            .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy().to_lowercase() == want));
        let Some(path) = found else { return Ok(None) };
        let name = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        let origin = format!("{}!{name}", self.origin);
        let f = std::fs::File::open(&path).map_err(|e| SourceError::io(&origin, e))?;
        Ok(Some(Box::new(CsvTable::new(std::io::BufReader::with_capacity(256 * 1024, f), &origin, table, self.delimiter, self.encoding)?)))
    }
}

/// Where the tables are.
#[derive(Debug)]
pub enum Storage {
    /// An Access database.
    Database(Database),
    /// An Excel workbook.
    Workbook(Box<Workbook>),
    /// CSV exports.
    Csv(CsvFolder),
}

/// The storage and, for a zip, the folder it was unpacked to (removed on drop).
#[derive(Debug)]
pub struct Opened {
    storage: Storage,
    _unpacked: Option<tempfile::TempDir>,
}

impl TableSet for Opened {
    fn system(&self) -> SourceSystem {
        SourceSystem::Access
    }

    fn tables(&self) -> Vec<String> {
        match &self.storage {
            Storage::Database(d) => d.tables.clone(),
            Storage::Workbook(w) => w.sheets.clone(),
            Storage::Csv(c) => std::fs::read_dir(&c.dir).map(|rd| rd.flatten().map(|e| e.file_name().to_string_lossy().to_string()).collect()).unwrap_or_default(),
        }
    }

    fn origin(&self) -> String {
        match &self.storage {
            Storage::Database(d) => d.origin().to_string(),
            Storage::Workbook(w) => w.origin().to_string(),
            Storage::Csv(c) => c.origin.clone(),
        }
    }

    fn open(&self, table: &str) -> Result<Option<Box<dyn RowReader + '_>>, SourceError> {
        match &self.storage {
            Storage::Database(d) => d.open_table(table),
            Storage::Workbook(w) => w.open_table(table),
            Storage::Csv(c) => c.open(table),
        }
    }
}

/// The Access source.
pub type Access = Tabular<Opened>;

/// The issue of a cell `header[col]` at `position` of `table` whose value cannot be
/// read as a cell (`why`), naming the column and the row.
pub(crate) fn cell_issue(table: &str, header: &[String], col: usize, position: &silgate_core::Position, why: &str) -> silgate_core::Issue {
    let col = header.get(col).map_or("?", String::as_str);
    silgate_core::Issue::error(format!("{table}/{col}"), "field.type", why).at_source(silgate_core::provenance::field_at(table, col, position))
}

/// A path's extension in lower case (empty when it has none).
pub(crate) fn ext(p: &Path) -> String {
    p.extension().map(|e| e.to_string_lossy().to_lowercase()).unwrap_or_default()
}

fn storage(path: &Path, origin: &str, mapping: &Mapping, limits: &Limits) -> Result<Option<Storage>, SourceError> {
    let encoding = Encoding::parse(&mapping.csv.encoding).unwrap_or(Encoding::Windows1252);
    if path.is_dir() {
        // Dot files and macOS's __MACOSX folder (resource forks in zips) are not data.
        let visible = |p: &PathBuf| p.file_name().is_some_and(|n| !n.to_string_lossy().starts_with('.') && n != "__MACOSX");
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path).map_err(|e| SourceError::io(origin, e))?.flatten().map(|e| e.path()).filter(visible).collect();
        entries.sort();
        let stores: Vec<&PathBuf> = entries.iter().filter(|p| p.is_file() && matches!(ext(p).as_str(), "mdb" | "accdb" | "xlsx" | "xlsm" | "xls" | "xlsb" | "ods")).collect();
        if stores.len() > 1 {
            // Not named: file names often hold a person's name.
            let kinds: Vec<String> = stores.iter().map(|p| ext(p)).collect();
            return Err(SourceError::refused(origin, format!("{} databases or workbooks ({}): send one per input", stores.len(), kinds.join(", "))));
        }
        if let Some(p) = stores.first() {
            if entries.iter().any(|e| ext(e) == "csv") {
                return Err(SourceError::refused(origin, "both a database or workbook and CSV files: which holds the data is unknown"));
            }
            // Named by its type, not its file name (which may hold a person's name).
            return storage(p, &format!("{origin}!database.{}", ext(p)), mapping, limits);
        }
        if entries.iter().any(|p| ext(p) == "csv") {
            return Ok(Some(Storage::Csv(CsvFolder { dir: path.to_path_buf(), origin: origin.to_string(), delimiter: mapping.delimiter(), encoding })));
        }
        let dirs: Vec<&PathBuf> = entries.iter().filter(|p| p.is_dir()).collect();
        if dirs.len() == 1 {
            return storage(dirs[0], origin, mapping, limits);
        }
        return Ok(None);
    }
    Ok(Some(match ext(path).as_str() {
        "mdb" | "accdb" => Storage::Database(Database::open(path, origin)?),
        "xlsx" | "xlsm" | "xls" | "xlsb" | "ods" => Storage::Workbook(Box::new(Workbook::open(path, origin, limits)?)),
        _ => return Ok(None),
    }))
}

/// Opens an Access input: a database, a workbook, a folder of CSV exports, or a zip of
/// any of them; `mapping` defaults to `campania-1`.
pub fn open(path: &Path, mapping: Option<Mapping>, limits: Limits) -> Result<Access, SourceError> {
    let mapping = mapping.unwrap_or_else(Mapping::campania1);
    let origin = path.display().to_string();
    std::fs::metadata(path).map_err(|e| SourceError::io(&origin, e))?;
    // xlsx, xlsm, xlsb and ods are zip containers themselves: only .zip (or an
    // unnamed zip) is unpacked.
    let (storage, unpacked) = if !path.is_dir() && (ext(path) == "zip" || unzip::is_zip(path) && !matches!(ext(path).as_str(), "xlsx" | "xlsm" | "xlsb" | "ods")) {
        let t = unzip::unpack(path, ZipLimits::default())?;
        let s = storage(t.path(), &origin, &mapping, &limits)?;
        (s, Some(t))
    } else {
        (storage(path, &origin, &mapping, &limits)?, None)
    };
    let storage =
        storage.ok_or_else(|| SourceError::format(&origin, "not an Access input: expected a .mdb/.accdb database, an .xlsx/.xls workbook, CSV exports, or a zip of them"))?;
    Ok(Tabular::new(Opened { storage, _unpacked: unpacked }, mapping, limits))
}

#[cfg(test)]
mod tests;
