//! The sizes a workbook declares or implies, checked before calamine allocates from
//! them.
//!
//! calamine sizes a sheet's grid by the bounding box of its valued cells (a sheet
//! holding A1 and XFD1048576 asks for 17 billion cells), reserves what a shared-string
//! table or an .xls DIMENSIONS record declares, and inflates a part as far as it goes.
//! A failed allocation aborts the process (`catch_unwind` cannot catch it), so each of
//! those sizes is read here first, streaming and in bounded memory, and a workbook
//! over a [`Limits`] bound is refused naming the part and the rule, never opened.
//!
//! - `.xlsx`, `.xlsm`, `.ods` (zip containers): every part's inflated size (counted,
//!   not taken from the zip's directory), each sheet's bounding box of valued cells
//!   (`<c>` with a value or formula; an ODS cell with a value type or content, with
//!   its row and column repeats, from the sheet's origin as calamine fills it), the
//!   `count` / `uniqueCount` of the shared strings, and the text each sheet expands to
//!   (calamine copies a shared string into every cell that names it, and an ODS cell's
//!   text into every column and row it repeats over: a 30 KiB string named by a million
//!   cells is 30 GB).
//! - `.xls` (BIFF in a compound file): the workbook stream's size, the length of each
//!   shared string (the SST and its CONTINUE records), then each sheet read from where
//!   its BOUNDSHEET record says, as calamine does: its DIMENSIONS record (calamine
//!   reserves rows x columns from it, unsigned arithmetic included), the bounding box
//!   of its cell records, and the text its LABELSST cells copy.
//! - `.xlsb` is refused: its binary parts are not checked here.

use silgate_core::source::SourceError;
use silgate_source_tabular::Limits;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

/// Most parts (zip entries, .xls sheets) a workbook may have.
const MAX_PARTS: usize = 10_000;

/// What calamine is to read once a workbook passed its check.
pub(crate) enum Checked {
    /// The file itself (a zip container: every part was checked).
    File(std::fs::File),
    /// A clean compound file holding the checked `.xls` stream (see [`check_xls`]).
    Xls(Vec<u8>),
}

/// Checks the workbook at `path` (its extension `ext`, lower case) against `limits`.
pub(crate) fn check(path: &Path, origin: &str, ext: &str, limits: &Limits) -> Result<Checked, SourceError> {
    let mut file = std::fs::File::open(path).map_err(|e| SourceError::io(origin, e))?;
    match ext {
        "xlsx" | "xlsm" | "ods" => {
            check_zip(BufReader::new(&mut file), origin, limits)?;
            file.rewind().map_err(|e| SourceError::io(origin, e))?;
            Ok(Checked::File(file))
        }
        "xls" => check_xls(file, origin, limits).map(Checked::Xls),
        "xlsb" => Err(SourceError::format(origin, "an .xlsb (binary) workbook is not read: save it as .xlsx")),
        _ => Err(SourceError::format(origin, "not a workbook the adapter reads (.xlsx, .xlsm, .xls, .ods)")),
    }
}

/// The zip container of `.xlsx` / `.xlsm` / `.ods`.
pub(crate) fn check_zip<R: Read + Seek>(reader: R, origin: &str, limits: &Limits) -> Result<(), SourceError> {
    let mut archive = zip::ZipArchive::new(reader).map_err(|e| SourceError::format(origin, format!("not a readable workbook (its zip container: {e})")))?;
    if archive.len() > MAX_PARTS {
        return Err(SourceError::limit(origin, "limit.workbook_parts", format!("{} parts, more than {MAX_PARTS}", archive.len())));
    }
    let strings = shared_string_lengths(&mut archive, origin, limits)?;
    for i in 0..archive.len() {
        let entry = archive.by_index(i).map_err(|e| SourceError::format(origin, format!("not a readable workbook (part {i}: {e})")))?;
        let part = entry.name().map_err(|e| SourceError::format(origin, format!("not a readable workbook (part {i}: {e})")))?.to_string();
        if entry.is_dir() {
            continue;
        }
        if entry.size() > limits.max_workbook_part_bytes {
            return Err(part_too_big(origin, &part, limits));
        }
        let lower = part.to_ascii_lowercase();
        if !(lower.ends_with(".xml") || lower.ends_with(".rels")) {
            continue;
        }
        let mut capped = Capped { inner: entry, left: limits.max_workbook_part_bytes, tripped: false };
        let scanned = scan_xml(BufReader::new(&mut capped), origin, &part, limits, &strings);
        if capped.tripped {
            return Err(part_too_big(origin, &part, limits));
        }
        scanned?;
    }
    Ok(())
}

/// The length of every shared string (its bytes as written, an upper bound of what
/// calamine holds), by index, from each part calamine may read them from (a
/// `sharedStrings.xml`; with several, their sum at each index: an upper bound). Bounded: the count
/// is checked against `max_shared_strings` as it grows.
fn shared_string_lengths<R: Read + Seek>(archive: &mut zip::ZipArchive<R>, origin: &str, limits: &Limits) -> Result<Vec<u32>, SourceError> {
    use quick_xml::events::Event;
    let mut lengths: Vec<u32> = Vec::new();
    for i in 0..archive.len() {
        let entry = archive.by_index(i).map_err(|e| SourceError::format(origin, format!("not a readable workbook (part {i}: {e})")))?;
        let part = entry.name().map_err(|e| SourceError::format(origin, format!("not a readable workbook (part {i}: {e})")))?.to_string();
        if entry.is_dir() || !(part == "sharedStrings.xml" || part.ends_with("/sharedStrings.xml")) {
            continue;
        }
        let mut capped = Capped { inner: entry, left: limits.max_workbook_part_bytes, tripped: false };
        let mut xml = quick_xml::Reader::from_reader(BufReader::new(&mut capped));
        let (mut buf, mut index, mut depth) = (Vec::new(), 0usize, 0u32);
        loop {
            buf.clear();
            let event = match xml.read_event_into(&mut buf) {
                Ok(e) => e,
                // Too big or malformed: the part's own scan says which.
                Err(_) => break,
            };
            match event {
                Event::Start(e) if e.local_name().as_ref() == "si" => {
                    depth += 1;
                    if depth == 1 {
                        open_string(&mut lengths, index, origin, &part, limits)?;
                    }
                }
                Event::Empty(e) if e.local_name().as_ref() == "si" && depth == 0 => {
                    open_string(&mut lengths, index, origin, &part, limits)?;
                    index += 1;
                }
                Event::End(e) if e.local_name().as_ref() == "si" && depth > 0 => {
                    depth -= 1;
                    if depth == 0 {
                        index += 1;
                    }
                }
                Event::Text(t) if depth > 0 => add_len(&mut lengths, index, t.len()),
                Event::CData(t) if depth > 0 => add_len(&mut lengths, index, t.len()),
                Event::GeneralRef(t) if depth > 0 => add_len(&mut lengths, index, t.len() + 2),
                Event::Eof => break,
                _ => {}
            }
        }
        if capped.tripped {
            return Err(part_too_big(origin, &part, limits));
        }
    }
    Ok(lengths)
}

/// Makes room for the string at `index` (a first part's, or a longer second part's).
fn open_string(lengths: &mut Vec<u32>, index: usize, origin: &str, part: &str, limits: &Limits) -> Result<(), SourceError> {
    if lengths.len() <= index {
        if lengths.len() as u64 >= limits.max_shared_strings {
            return Err(shared_strings(origin, part, lengths.len() as u64 + 1, limits));
        }
        lengths.push(0);
    }
    Ok(())
}

/// Adds `n` bytes to the string at `index`.
fn add_len(lengths: &mut [u32], index: usize, n: usize) {
    if let Some(l) = lengths.get_mut(index) {
        *l = l.saturating_add(u32::try_from(n).unwrap_or(u32::MAX));
    }
}

fn sheet_text(origin: &str, part: &str, limits: &Limits) -> SourceError {
    SourceError::limit(
        origin,
        "limit.sheet_text_bytes",
        format!(
            "{part}: its cells expand to more than {} bytes of text (shared strings copied into each cell that names them, repeated cells; the limit: [limits] max_sheet_text_bytes)",
            limits.max_sheet_text_bytes
        ),
    )
}

fn part_too_big(origin: &str, part: &str, limits: &Limits) -> SourceError {
    SourceError::limit(
        origin,
        "limit.workbook_part_bytes",
        format!("part {part} inflates past {} bytes (the limit: [limits] max_workbook_part_bytes)", limits.max_workbook_part_bytes),
    )
}

/// A reader that fails once more than `left` bytes came through it.
struct Capped<R> {
    inner: R,
    left: u64,
    tripped: bool,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n as u64 > self.left {
            self.tripped = true;
            return Err(std::io::Error::other("part over its size limit"));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// The bounding box of a sheet's valued cells (0-based, inclusive).
#[derive(Debug, Default, Clone, Copy)]
struct Grid {
    rows: (u64, u64),
    cols: (u64, u64),
    any: bool,
}

impl Grid {
    fn add(&mut self, rows: (u64, u64), cols: (u64, u64)) {
        if self.any {
            self.rows = (self.rows.0.min(rows.0), self.rows.1.max(rows.1));
            self.cols = (self.cols.0.min(cols.0), self.cols.1.max(cols.1));
        } else {
            *self = Self { rows, cols, any: true };
        }
    }

    fn height(&self) -> u64 {
        if self.any { self.rows.1 - self.rows.0 + 1 } else { 0 }
    }

    fn width(&self) -> u64 {
        if self.any { self.cols.1 - self.cols.0 + 1 } else { 0 }
    }

    fn cells(&self) -> u64 {
        self.height().saturating_mul(self.width())
    }

    fn check(&self, origin: &str, part: &str, limits: &Limits) -> Result<(), SourceError> {
        if self.cells() <= limits.max_sheet_cells {
            return Ok(());
        }
        Err(SourceError::limit(
            origin,
            "limit.sheet_cells",
            format!(
                "{part}: its cells span {} rows x {} columns = {} cells, more than {} (the limit: [limits] max_sheet_cells)",
                self.height(),
                self.width(),
                self.cells(),
                limits.max_sheet_cells
            ),
        ))
    }
}

/// Past any position a reader can take (they parse u32), and short of overflowing a
/// sum; products of two saturate. Positions are never clamped below what a reader
/// would see (found by fuzzing: rows 2^31 and 2^32 - 4096 both clamped to 2^31 looked
/// like one row to the check, and 2 billion rows to calamine).
const FAR: u64 = 1 << 62;

/// `XFD1048576` -> (row 1048575, column 16383), 0-based; `None` for anything else.
fn cell_ref(r: &[u8]) -> Option<(u64, u64)> {
    let letters = r.iter().take_while(|b| b.is_ascii_alphabetic()).count();
    let (col, row) = r.split_at(letters);
    if letters == 0 || row.is_empty() || !row.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let col = col.iter().fold(0u64, |n, b| n.saturating_mul(26).saturating_add(u64::from(b.to_ascii_uppercase() - b'A' + 1)).min(FAR));
    let row = row.iter().fold(0u64, |n, b| n.saturating_mul(10).saturating_add(u64::from(b - b'0')).min(FAR));
    Some((row.checked_sub(1)?, col - 1))
}

fn number(v: &[u8]) -> Option<u64> {
    if v.is_empty() || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(v.iter().fold(0u64, |n, b| n.saturating_mul(10).saturating_add(u64::from(b - b'0'))))
}

/// The first position calamine cannot hold: it counts rows and columns in u32 and
/// wraps past it, so a position there or beyond is refused, never estimated.
const WRAP: u64 = u32::MAX as u64;

/// A workbook refused for a position past what any reader holds.
fn too_far(origin: &str, part: &str) -> SourceError {
    SourceError::limit(origin, "limit.sheet_cells", format!("{part}: a cell position past any sheet's grid (row or column at or beyond 2^32 - 1)"))
}

/// An element's attributes, every one well-formed and none twice (readers disagree on
/// which of two `r` they take: such a workbook is refused, never guessed at).
type Attrs<'a> = Vec<(quick_xml::name::QName<'a>, std::borrow::Cow<'a, str>)>;

fn attrs<'a>(e: &'a quick_xml::events::BytesStart<'_>, origin: &str, part: &str) -> Result<Attrs<'a>, SourceError> {
    e.attributes()
        .map(|a| a.map(|a| (a.key, a.value)))
        .collect::<Result<_, _>>()
        .map_err(|err| SourceError::format(origin, format!("not a readable workbook (part {part}: a malformed attribute: {err})")))
}

fn get<'a>(attrs: &'a Attrs<'_>, name: &str) -> Option<&'a [u8]> {
    attrs.iter().find(|(k, _)| k.as_ref() == name).map(|(_, v)| v.as_bytes())
}

/// A count attribute (`uniqueCount`, an ODS repeat): absent is `None`; present, it must
/// be plain digits (a reader that parses `+6000` or `&#54;` must not see more than the
/// check did).
fn count(attrs: &Attrs<'_>, name: &str, origin: &str, part: &str) -> Result<Option<u64>, SourceError> {
    match get(attrs, name) {
        None => Ok(None),
        Some(v) => number(v).map(Some).ok_or_else(|| SourceError::format(origin, format!("not a readable workbook (part {part}: {name} is not a number)"))),
    }
}

/// ODS attributes that give a cell a value without content (calamine's).
const ODS_VALUED: [&str; 7] = ["office:value-type", "office:value", "office:string-value", "office:date-value", "office:time-value", "office:boolean-value", "table:formula"];

/// Most spaces one `<text:s text:c>` may stand for: calamine writes them out.
const MAX_ODS_SPACES: u64 = 1 << 16;

/// Where the scan is in an XML part.
#[derive(Debug, Default)]
struct XmlScan {
    /// Inside an xlsx `<sheetData>`: its grid and valued cells, the current row and
    /// column (0-based, as calamine counts them), and whether a cell is open.
    sheet: Option<(Grid, u64)>,
    row: u64,
    col: u64,
    cell: Option<((u64, u64), bool)>,
    /// Inside `<sst>`: the strings seen.
    strings: u64,
    /// Inside an ODS `<table:table>`: its grid (from the origin), the next row, the
    /// current row's repeat, the next column, and the open cell's columns.
    table: Option<Grid>,
    ods_row: u64,
    ods_repeat: u64,
    ods_col: u64,
    ods_cell: Option<(u64, u64)>,
    /// Bytes of text the current sheet or table expands to; whether the open xlsx cell
    /// names a shared string, and whether its `<v>` is open.
    text: u64,
    shared_cell: bool,
    in_v: bool,
}

/// One XML part: a worksheet, an ODS content part, the shared strings, or any other.
/// Positions follow calamine's reading (`xlsx/cells_reader.rs`, `ods.rs`): a row's `r`
/// sets the row, a cell's `r` its column and its own position only, `</row>` moves on.
fn scan_xml<R: BufRead>(reader: R, origin: &str, part: &str, limits: &Limits, strings: &[u32]) -> Result<(), SourceError> {
    use quick_xml::events::Event;
    let mut xml = quick_xml::Reader::from_reader(reader);
    let mut buf = Vec::new();
    let mut s = XmlScan { ods_repeat: 1, ..XmlScan::default() };
    let sheet_part = format!("sheet part {part}");
    loop {
        buf.clear();
        let event = xml.read_event_into(&mut buf).map_err(|e| SourceError::format(origin, format!("not a readable workbook (part {part}: {e})")))?;
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let open = matches!(event, Event::Start(_));
                let (ln, qn) = (e.local_name(), e.name());
                let (local, name): (&str, &str) = (ln.as_ref(), qn.as_ref());
                // Inside an open xlsx cell, any element is read as its value.
                if open && let (Some((grid, cells)), Some(((r, c), counted @ false))) = (s.sheet.as_mut(), s.cell.as_mut()) {
                    *counted = true;
                    let (r, c) = (*r, *c);
                    grid.add((r, r), (c, c));
                    *cells += 1;
                    grid.check(origin, &sheet_part, limits)?;
                    if *cells > limits.max_sheet_cells {
                        return Err(SourceError::limit(
                            origin,
                            "limit.sheet_cells",
                            format!("{sheet_part}: more than {} cells (the limit: [limits] max_sheet_cells)", limits.max_sheet_cells),
                        ));
                    }
                }
                match (local, name) {
                    ("sst", _) => {
                        let a = attrs(e, origin, part)?;
                        for key in ["uniqueCount", "count"] {
                            if let Some(n) = count(&a, key, origin, part)?
                                && n > limits.max_shared_strings
                            {
                                return Err(shared_strings(origin, part, n, limits));
                            }
                        }
                    }
                    ("si", _) => {
                        s.strings += 1;
                        if s.strings > limits.max_shared_strings {
                            return Err(shared_strings(origin, part, s.strings, limits));
                        }
                    }
                    ("sheetData", _) if open && s.sheet.is_none() => (s.sheet, s.row, s.col, s.text) = (Some((Grid::default(), 0)), 0, 0, 0),
                    ("v", _) if open && s.cell.is_some() && s.shared_cell => s.in_v = true,
                    ("row", _) if open && s.sheet.is_some() => {
                        // calamine reads a row's `r` as a reference whose column may be
                        // missing (`5`, `A5`).
                        let a = attrs(e, origin, part)?;
                        if let Some(r) = get(&a, "r") {
                            let digits: Vec<u8> = r.iter().skip_while(|b| b.is_ascii_alphabetic()).copied().collect();
                            let n = number(&digits)
                                .filter(|n| *n >= 1)
                                .ok_or_else(|| SourceError::format(origin, format!("not a readable workbook ({sheet_part}: a row reference that is not one)")))?;
                            s.row = n - 1;
                        }
                        if s.row >= WRAP {
                            return Err(too_far(origin, &sheet_part));
                        }
                    }
                    ("c", _) if open && s.sheet.is_some() => {
                        let a = attrs(e, origin, part)?;
                        let pos = match get(&a, "r") {
                            Some(r) => {
                                let (row, col) =
                                    cell_ref(r).ok_or_else(|| SourceError::format(origin, format!("not a readable workbook ({sheet_part}: a cell reference that is not one)")))?;
                                s.col = col;
                                (row, col)
                            }
                            None => (s.row, s.col),
                        };
                        if pos.0 >= WRAP || pos.1 >= WRAP {
                            return Err(too_far(origin, &sheet_part));
                        }
                        s.cell = Some((pos, false));
                        s.shared_cell = open && get(&a, "t") == Some(b"s".as_slice());
                    }
                    (_, "table:table") if open && s.table.is_none() => (s.table, s.ods_row, s.ods_repeat, s.text) = (Some(Grid::default()), 0, 1, 0),
                    (_, "table:table-row") if s.table.is_some() => {
                        let a = attrs(e, origin, part)?;
                        s.ods_repeat = count(&a, "table:number-rows-repeated", origin, part)?.unwrap_or(1).clamp(1, FAR);
                        s.ods_col = 0;
                        if !open {
                            s.ods_row = s.ods_row.saturating_add(s.ods_repeat).min(FAR);
                        }
                    }
                    (_, "table:table-cell" | "table:covered-table-cell") if s.table.is_some() => {
                        let a = attrs(e, origin, part)?;
                        let repeat = count(&a, "table:number-columns-repeated", origin, part)?.unwrap_or(1).clamp(1, FAR);
                        let cols = (s.ods_col, s.ods_col.saturating_add(repeat - 1).min(FAR));
                        s.ods_col = cols.1.saturating_add(1).min(FAR);
                        s.ods_cell = open.then_some(cols);
                        if ODS_VALUED.iter().any(|k| get(&a, k).is_some()) {
                            ods_add(&mut s, cols, origin, part, limits)?;
                        }
                    }
                    _ if s.ods_cell.is_some() => {
                        if name == "text:s" {
                            let spaces = count(&attrs(e, origin, part)?, "text:c", origin, part)?.unwrap_or(1);
                            if spaces > MAX_ODS_SPACES {
                                return Err(SourceError::limit(origin, "limit.cell_text", format!("part {part}: a cell's text:s stands for more than {MAX_ODS_SPACES} spaces")));
                            }
                            ods_text(&mut s, spaces, origin, part, limits)?;
                        }
                        if let Some(cols) = s.ods_cell {
                            ods_add(&mut s, cols, origin, part, limits)?;
                        }
                    }
                    _ => {}
                }
            }
            Event::End(e) => match (e.local_name().as_ref(), e.name().as_ref()) {
                ("sheetData", _) => s.sheet = None,
                ("row", _) if s.sheet.is_some() => {
                    s.row += 1;
                    s.col = 0;
                    if s.row >= WRAP {
                        return Err(too_far(origin, &sheet_part));
                    }
                }
                ("v", _) => s.in_v = false,
                ("c", _) if s.cell.is_some() => {
                    s.cell = None;
                    (s.shared_cell, s.in_v) = (false, false);
                    s.col += 1;
                    if s.col >= WRAP {
                        return Err(too_far(origin, &sheet_part));
                    }
                }
                (_, "table:table") => s.table = None,
                (_, "table:table-row") if s.table.is_some() => s.ods_row = s.ods_row.saturating_add(s.ods_repeat).min(FAR),
                (_, "table:table-cell" | "table:covered-table-cell") => s.ods_cell = None,
                _ => {}
            },
            Event::Text(t) if !t.is_empty() => {
                if s.in_v {
                    // The index of a shared string: it is copied into this cell.
                    let index = t[..].trim().parse::<usize>().ok();
                    let len = index.and_then(|i| strings.get(i)).copied().unwrap_or(0);
                    s.text = s.text.saturating_add(u64::from(len));
                    if s.text > limits.max_sheet_text_bytes {
                        return Err(sheet_text(origin, &sheet_part, limits));
                    }
                }
                if let Some(cols) = s.ods_cell {
                    ods_add(&mut s, cols, origin, part, limits)?;
                    ods_text(&mut s, t.len() as u64, origin, part, limits)?;
                }
            }
            Event::Eof => return Ok(()),
            _ => {}
        }
    }
}

/// `n` bytes of text in the open ODS cell, copied into every column and row it spans.
fn ods_text(s: &mut XmlScan, n: u64, origin: &str, part: &str, limits: &Limits) -> Result<(), SourceError> {
    if let Some((first, last)) = s.ods_cell {
        let copies = (last - first + 1).saturating_mul(s.ods_repeat.max(1));
        s.text = s.text.saturating_add(n.saturating_mul(copies));
        if s.text > limits.max_sheet_text_bytes {
            return Err(sheet_text(origin, &format!("sheet part {part}"), limits));
        }
    }
    Ok(())
}

fn shared_strings(origin: &str, part: &str, n: u64, limits: &Limits) -> SourceError {
    SourceError::limit(
        origin,
        "limit.shared_strings",
        format!("part {part} holds or declares {n} shared strings, more than {} (the limit: [limits] max_shared_strings)", limits.max_shared_strings),
    )
}

/// An ODS cell with content: calamine fills its rows from column 0 and repeats them.
fn ods_add(s: &mut XmlScan, cols: (u64, u64), origin: &str, part: &str, limits: &Limits) -> Result<(), SourceError> {
    let last_row = s.ods_row.saturating_add(s.ods_repeat.max(1) - 1).min(FAR);
    let Some(grid) = s.table.as_mut() else { return Ok(()) };
    grid.add((0, last_row), (0, cols.1));
    grid.check(origin, &format!("table of part {part}"), limits)
}

/// An `.xls` workbook: a BIFF stream in a compound file. Returns the compound file
/// calamine is to read: a new one holding only the stream checked here. calamine's own
/// compound-file reader takes the first directory entry named `Workbook` (else `Book`)
/// wherever it sits in the directory, linked into its tree or not, so a file can show
/// one stream to a reader that follows the tree and another to calamine; the copy
/// leaves calamine nothing but the checked bytes.
pub(crate) fn check_xls<F: Read + Seek>(file: F, origin: &str, limits: &Limits) -> Result<Vec<u8>, SourceError> {
    let mut cfb = cfb::CompoundFile::open(file).map_err(|e| SourceError::format(origin, format!("not a readable workbook (its compound file: {e})")))?;
    let name = ["/Workbook", "/Book"].into_iter().find(|n| cfb.is_stream(n)).ok_or_else(|| SourceError::format(origin, "not a readable workbook (no Workbook stream)"))?;
    let stream = cfb.open_stream(name).map_err(|e| SourceError::format(origin, format!("not a readable workbook ({e})")))?;
    if stream.len() > limits.max_workbook_part_bytes {
        return Err(part_too_big(origin, name, limits));
    }
    // Read as far as the file holds it (a declared length is not allocated up front).
    let mut bytes = Vec::new();
    stream.take(limits.max_workbook_part_bytes.saturating_add(1)).read_to_end(&mut bytes).map_err(|e| SourceError::format(origin, format!("not a readable workbook ({e})")))?;
    if bytes.len() as u64 > limits.max_workbook_part_bytes {
        return Err(part_too_big(origin, name, limits));
    }
    check_biff(&bytes, origin, limits)?;
    drop(cfb);
    clean_copy(&bytes, origin)
}

/// A compound file holding `stream` as its one `Workbook` stream.
fn clean_copy(stream: &[u8], origin: &str) -> Result<Vec<u8>, SourceError> {
    let io = |e: std::io::Error| SourceError::io(origin, e);
    let mut copy = cfb::CompoundFile::create(std::io::Cursor::new(Vec::with_capacity(stream.len() + 4096))).map_err(io)?;
    {
        let mut s = copy.create_stream("/Workbook").map_err(io)?;
        std::io::Write::write_all(&mut s, stream).map_err(io)?;
    }
    copy.flush().map_err(io)?;
    Ok(copy.into_inner().into_inner())
}

/// The checks of an .xls workbook stream (the module's doc says which).
fn check_biff(bytes: &[u8], origin: &str, limits: &Limits) -> Result<(), SourceError> {
    let mut stream = std::io::Cursor::new(bytes);
    let len = bytes.len() as u64;
    // The globals: the BOUNDSHEET records say where each sheet's records start; the
    // SST (and its CONTINUE records) how long each shared string is.
    let mut sheets = Vec::new();
    let mut data = Vec::new();
    let mut sst: Option<SstWalk> = None;
    let mut strings: Vec<u32> = Vec::new();
    while let Some(typ) = record(&mut stream, &mut data, origin)? {
        if typ != 0x003C
            && let Some(walk) = sst.take()
        {
            strings = walk.lens;
        }
        match typ {
            0x0085 if data.len() >= 4 => sheets.push(u64::from(u32::from_le_bytes([data[0], data[1], data[2], data[3]]))),
            // A double-byte code page puts a variable number of bytes per character,
            // which the SST walk below does not follow.
            0x0042 if data.len() >= 2 && [932, 936, 949, 950, 1361].contains(&u16::from_le_bytes([data[0], data[1]])) => {
                return Err(SourceError::format(origin, "an .xls in a double-byte code page (CJK) is not read: save it as .xlsx"));
            }
            0x00FC => {
                let mut walk = SstWalk::default();
                walk.segment(&data, true, origin, limits)?;
                sst = Some(walk);
            }
            0x003C => {
                if let Some(walk) = sst.as_mut() {
                    walk.segment(&data, false, origin, limits)?;
                }
            }
            0x000A => break,
            _ => {}
        }
        if sheets.len() > MAX_PARTS {
            return Err(SourceError::limit(origin, "limit.workbook_parts", format!("more than {MAX_PARTS} sheets")));
        }
    }
    for (n, start) in sheets.into_iter().enumerate() {
        if start >= len {
            continue;
        }
        stream.seek(SeekFrom::Start(start)).map_err(|e| SourceError::format(origin, format!("not a readable workbook ({e})")))?;
        let part = format!("sheet {} (its records at byte {start})", n + 1);
        let mut grid = Grid::default();
        let mut text = 0u64;
        // A String record (0x0207) is put where the last formula was: (0, 0) before one.
        let mut formula = (0u64, 0u64);
        let mut depth = 0u32;
        let mut seen_bof = false;
        while let Some(typ) = record(&mut stream, &mut data, origin)? {
            match typ {
                0x0809 if seen_bof => depth += 1,
                0x0809 => seen_bof = true,
                0x000A if depth == 0 => break,
                0x000A => depth -= 1,
                0x0200 => dimensions(&data).check(origin, &format!("{part}: its DIMENSIONS record"), limits)?,
                0x0203 | 0x0204 | 0x00D6 | 0x0205 | 0x027E | 0x00FD | 0x0006 if data.len() >= 4 => {
                    let (r, c) = (u64::from(u16::from_le_bytes([data[0], data[1]])), u64::from(u16::from_le_bytes([data[2], data[3]])));
                    if typ == 0x0006 {
                        formula = (r, c);
                    }
                    grid.add((r, r), (c, c));
                }
                0x0207 => grid.add((formula.0, formula.0), (formula.1, formula.1)),
                _ => {}
            }
            // A LABELSST cell gets its own copy of the shared string it names.
            if typ == 0x00FD && data.len() >= 10 {
                let index = u32::from_le_bytes([data[6], data[7], data[8], data[9]]) as usize;
                text = text.saturating_add(u64::from(strings.get(index).copied().unwrap_or(0)));
                if text > limits.max_sheet_text_bytes {
                    return Err(sheet_text(origin, &part, limits));
                }
            }
            match typ {
                0x00BD if data.len() >= 6 => {
                    // Six bytes a value after the row and first column, as calamine counts.
                    let r = u64::from(u16::from_le_bytes([data[0], data[1]]));
                    let first = u64::from(u16::from_le_bytes([data[2], data[3]]));
                    let values = (data.len() as u64 - 6) / 6;
                    grid.add((r, r), (first, first + values.max(1) - 1));
                }
                _ => {}
            }
            grid.check(origin, &part, limits)?;
        }
    }
    Ok(())
}

/// The shared strings of an .xls SST record and its CONTINUE records, walked as
/// calamine reads them (`xls.rs`: `parse_sst`, `read_rich_extended_string`,
/// `read_dbcs`, `Record::skip`): each string's header in one record, its characters
/// across records (a CONTINUE in the middle of them starts with a new flags byte), its
/// rich-text runs and phonetic block skipped across records. A string's length is
/// taken as three bytes per character, the most its UTF-8 form can need.
#[derive(Debug, Default)]
struct SstWalk {
    lens: Vec<u32>,
    /// Characters of the current string still to come, and their width.
    chars_left: usize,
    high_byte: bool,
    /// Bytes to skip after the characters (runs, phonetic data), and those left.
    after_chars: usize,
    skip_left: usize,
    /// A string header did not fit: calamine fails there, the walk stops.
    done: bool,
}

impl SstWalk {
    /// Takes one record's data: the SST's own (`first`: its 8-byte counts skipped) or
    /// a CONTINUE's.
    fn segment(&mut self, d: &[u8], first: bool, origin: &str, limits: &Limits) -> Result<(), SourceError> {
        if self.done {
            return Ok(());
        }
        let mut o = if first { 8.min(d.len()) } else { 0 };
        if self.chars_left > 0 {
            let Some(flags) = d.first() else { return Ok(()) };
            self.high_byte = flags & 1 != 0;
            o = 1;
        }
        loop {
            if self.chars_left > 0 {
                let width = if self.high_byte { 2 } else { 1 };
                let n = self.chars_left.min((d.len() - o) / width);
                o += n * width;
                self.chars_left -= n;
                if self.chars_left > 0 {
                    return Ok(());
                }
                self.skip_left = self.after_chars;
            }
            if self.skip_left > 0 {
                let n = self.skip_left.min(d.len() - o);
                o += n;
                self.skip_left -= n;
                if self.skip_left > 0 {
                    return Ok(());
                }
            }
            if o >= d.len() {
                return Ok(());
            }
            let head = &d[o..];
            if head.len() < 3 {
                self.done = true;
                return Ok(());
            }
            let cch = usize::from(u16::from_le_bytes([head[0], head[1]]));
            let flags = head[2];
            let mut at = 3;
            let mut runs = 0usize;
            let mut ext = 0usize;
            if flags & 0x8 != 0 {
                let Some(b) = head.get(at..at + 2) else {
                    self.done = true;
                    return Ok(());
                };
                runs = usize::from(u16::from_le_bytes([b[0], b[1]]));
                at += 2;
            }
            if flags & 0x4 != 0 {
                let Some(b) = head.get(at..at + 4) else {
                    self.done = true;
                    return Ok(());
                };
                // calamine reads it as i32 and casts: a negative one is huge.
                ext = i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
                at += 4;
            }
            o += at;
            if self.lens.len() as u64 >= limits.max_shared_strings {
                return Err(shared_strings(origin, "the SST record", self.lens.len() as u64 + 1, limits));
            }
            self.lens.push(u32::try_from(cch * 3).unwrap_or(u32::MAX));
            self.chars_left = cch;
            self.high_byte = flags & 1 != 0;
            self.after_chars = runs.saturating_mul(4).saturating_add(ext);
            if cch == 0 {
                self.skip_left = self.after_chars;
            }
        }
    }
}

/// What calamine reserves from an .xls DIMENSIONS record: rows x columns, in its own
/// unsigned 32-bit arithmetic (which wraps when the last row is before the first).
fn dimensions(r: &[u8]) -> Grid {
    let u16_at = |i: usize| u32::from(u16::from_le_bytes([r[i], r[i + 1]]));
    let u32_at = |i: usize| u32::from_le_bytes([r[i], r[i + 1], r[i + 2], r[i + 3]]);
    let (rf, rl, mut cf, cl) = match r.len() {
        10 => (u16_at(0), u16_at(2), u16_at(4), u16_at(6)),
        14 | 16 => (u32_at(0), u32_at(4), u16_at(8), u16_at(10)),
        _ => return Grid::default(),
    };
    if 0xFF < cf || cl < cf {
        cf = 0;
    }
    let (rows, cols) = if rl >= 1 && cl >= 1 { ((rl - 1).wrapping_sub(rf).wrapping_add(1), (cl - 1).wrapping_sub(cf).wrapping_add(1)) } else { (1, 1) };
    Grid { rows: (0, u64::from(rows).max(1) - 1), cols: (0, u64::from(cols).max(1) - 1), any: true }
}

/// Reads one BIFF record (type, then its data into `data`); `None` at the stream's end.
fn record<R: Read>(r: &mut R, data: &mut Vec<u8>, origin: &str) -> Result<Option<u16>, SourceError> {
    let mut head = [0u8; 4];
    match r.read_exact(&mut head) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(SourceError::format(origin, format!("not a readable workbook ({e})"))),
    }
    let typ = u16::from_le_bytes([head[0], head[1]]);
    let len = usize::from(u16::from_le_bytes([head[2], head[3]]));
    data.resize(len, 0);
    match r.read_exact(data) {
        Ok(()) => Ok(Some(typ)),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(None),
        Err(e) => Err(SourceError::format(origin, format!("not a readable workbook ({e})"))),
    }
}

#[cfg(test)]
mod tests;
