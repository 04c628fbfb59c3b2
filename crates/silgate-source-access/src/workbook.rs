//! An Excel workbook (calamine): one sheet per table, first row the header.

use crate::guard::Checked;
use calamine::{Data, Range, Reader};
use silgate_core::Position;
use silgate_core::source::SourceError;
use silgate_source_tabular::engine::{RawRow, RowReader};
use silgate_source_tabular::{Cell, Limits};
use std::path::Path;
use std::sync::Mutex;

/// What calamine reads a workbook from: the file, or the checked copy of an .xls.
type Input = Box<dyn ReadSeek>;

/// [`Input`]'s bounds.
trait ReadSeek: std::io::Read + std::io::Seek + Send {}
impl<T: std::io::Read + std::io::Seek + Send> ReadSeek for T {}

/// An opened workbook.
pub struct Workbook {
    origin: String,
    /// Sheet names.
    pub sheets: Vec<String>,
    book: Mutex<calamine::Sheets<Input>>,
}

impl std::fmt::Debug for Workbook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Workbook").field("origin", &self.origin).field("sheets", &self.sheets).finish_non_exhaustive()
    }
}

impl Workbook {
    /// The input as named in errors and provenance.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Opens a workbook, once its sizes are checked against `limits` (see `guard`).
    pub fn open(path: &Path, origin: &str, limits: &Limits) -> Result<Self, SourceError> {
        let ext = crate::ext(path);
        let checked = crate::guard::check(path, origin, &ext, limits)?;
        // calamine can panic on malformed files (an overflowing cell reference, found by
        // fuzzing): a panic is an unreadable workbook, not a dead process.
        // The reader is the one the check read for (by the extension in any case):
        // calamine's own guess by extension is case-sensitive and tries the others.
        let opened = std::panic::catch_unwind(move || -> Result<calamine::Sheets<Input>, String> {
            Ok(match checked {
                Checked::File(file) => {
                    let input: Input = Box::new(std::io::BufReader::new(file));
                    match ext.as_str() {
                        "ods" => calamine::Sheets::Ods(calamine::Ods::new(input).map_err(|e| e.to_string())?),
                        _ => calamine::Sheets::Xlsx(calamine::Xlsx::new(input).map_err(|e| e.to_string())?),
                    }
                }
                Checked::Xls(bytes) => {
                    let input: Input = Box::new(std::io::Cursor::new(bytes));
                    calamine::Sheets::Xls(calamine::Xls::new(input).map_err(|e| e.to_string())?)
                }
            })
        });
        let book = opened
            .map_err(|_| SourceError::format(origin, "not a readable workbook (the reader failed on it)"))?
            .map_err(|e| SourceError::format(origin, format!("not a readable workbook: {e}")))?;
        let sheets = book.sheet_names();
        Ok(Self { origin: origin.to_string(), sheets, book: Mutex::new(book) })
    }

    /// Opens a sheet by name (any case).
    pub fn open_table(&self, table: &str) -> Result<Option<Box<dyn RowReader + '_>>, SourceError> {
        let Some(name) = self.sheets.iter().find(|s| s.eq_ignore_ascii_case(table)).cloned() else { return Ok(None) };
        let origin = format!("{}!{name}", self.origin);
        let range = {
            let mut book = self.book.lock().map_err(|_| SourceError::format(&origin, "workbook lock poisoned"))?;
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| book.worksheet_range(&name)))
                .map_err(|_| SourceError::format(&origin, "unreadable sheet (the reader failed on it)"))?
                .map_err(|e| SourceError::format(&origin, format!("unreadable sheet: {e}")))?
        };
        let header = range.rows().next().map(|r| r.iter().map(|c| cell(c).ok().and_then(|c| c.text()).unwrap_or_default()).collect()).unwrap_or_default();
        Ok(Some(Box::new(Sheet { range, header, origin, name, next: 1 })))
    }
}

struct Sheet {
    range: Range<Data>,
    header: Vec<String>,
    origin: String,
    name: String,
    next: usize,
}

fn cell(d: &Data) -> Result<Cell, &'static str> {
    Ok(match d {
        Data::Empty => Cell::Null,
        Data::Int(i) => Cell::Int(*i),
        Data::Float(f) => Cell::Float(*f),
        Data::String(s) => Cell::Text(s.clone()),
        Data::Bool(b) => Cell::Bool(*b),
        Data::DateTime(x) if x.is_duration() => return Err("a duration where a date or a value was expected"),
        Data::DateTime(x) => {
            // calamine knows the workbook's epoch (1900 or 1904).
            let (y, mo, d, h, mi, sec, _) = x.to_ymd_hms_milli();
            let date = time::Date::from_calendar_date(i32::from(y), time::Month::try_from(mo).map_err(|_| "a date out of range")?, d).map_err(|_| "a date out of range")?;
            let t = time::Time::from_hms(h, mi, sec).map_err(|_| "a date out of range")?;
            Cell::DateTime(time::PrimitiveDateTime::new(date, t))
        }
        Data::DateTimeIso(s) | Data::DurationIso(s) => Cell::Text(s.clone()),
        Data::Error(_) => return Err("the cell holds a spreadsheet error (#N/A, #VALUE!...)"),
    })
}

impl RowReader for Sheet {
    fn header(&self) -> &[String] {
        &self.header
    }

    fn origin(&self) -> &str {
        &self.origin
    }

    fn next_row(&mut self) -> Result<Option<RawRow>, SourceError> {
        let height = self.range.height();
        while self.next < height {
            let i = self.next;
            self.next += 1;
            let width = self.range.width();
            let row: Vec<&Data> = (0..width).map(|j| self.range.get((i, j)).unwrap_or(&Data::Empty)).collect();
            if row.iter().all(|c| matches!(c, Data::Empty)) {
                continue;
            }
            let mut issues = Vec::new();
            let cells = row
                .iter()
                .enumerate()
                .map(|(j, d)| {
                    cell(d).unwrap_or_else(|m| {
                        issues.push(crate::cell_issue(&self.name, &self.header, j, &Position::Row { table: self.name.clone(), row: i as u64 }, m));
                        Cell::Null
                    })
                })
                .collect();
            return Ok(Some(RawRow { position: Position::Row { table: self.name.clone(), row: i as u64 }, cells, issues }));
        }
        Ok(None)
    }
}
