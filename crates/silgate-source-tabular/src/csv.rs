//! A delimited file as a [`RowReader`]: header row, quoted fields (which may hold the
//! delimiter and line breaks), Windows-1252 or UTF-8.
//!
//! Row-level problems are reported on the row, not as errors: a field with a byte that
//! Windows-1252 leaves undefined (`0x81`, `0x8D`, `0x8F`, `0x90`, `0x9D`: the sign of
//! a file in another encoding), invalid UTF-8, a row with more or fewer fields than the
//! header. Only an unreadable file stops the table.

use crate::cell::Cell;
use crate::engine::{RawRow, RowReader};
use silgate_core::source::SourceError;
use silgate_core::{Issue, Position};
use std::collections::VecDeque;
use std::io::Read;

/// The text encoding of a delimited file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Windows-1252 (SIL Plus, Access exports on Italian Windows).
    Windows1252,
    /// UTF-8.
    Utf8,
}

impl Encoding {
    /// `windows-1252` or `utf-8`.
    pub fn parse(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "windows-1252" | "cp1252" => Some(Self::Windows1252),
            "utf-8" | "utf8" => Some(Self::Utf8),
            _ => None,
        }
    }
}

/// Most bytes one record may span before the file is refused: a quote left open would
/// otherwise swallow the rest of the file into one record, in memory.
pub const MAX_RECORD_BYTES: u64 = 64 << 20;

/// The input under the CSV parser: counts bytes and remembers where the line breaks
/// are (a record's line is then 1 + the breaks before its first byte, whatever the
/// line ends: CRLF, LF, blank lines, breaks inside quotes), and stops a record that
/// runs past [`MAX_RECORD_BYTES`].
struct Tracked<R> {
    inner: R,
    offset: u64,
    /// Offsets of line breaks ahead of the parser, each with whether its line was blank.
    breaks: VecDeque<(u64, bool)>,
    /// Offset of the last line break seen (or -1 before the first).
    last_break: i64,
    /// The last byte of the previous read, for a line that spans two reads.
    last_byte: u8,
    lines_before: u64,
    record_start: u64,
    /// Set once a record ran past the limit: the error is the input's, not the disk's.
    over: bool,
    /// Where the record after the last one read starts (the one a failure is in).
    next_start: u64,
}

impl<R: Read> Read for Tracked<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.offset.saturating_sub(self.record_start) > MAX_RECORD_BYTES {
            self.over = true;
            return Err(std::io::Error::other("a record over the limit"));
        }
        let n = self.inner.read(buf)?;
        let data = &buf[..n];
        for i in memchr::memchr_iter(b'\n', data) {
            let at = self.offset as i64 + i as i64;
            // Blank: nothing, or a lone `\r`, since the previous break.
            let blank = match at - self.last_break - 1 {
                0 => true,
                1 => (if i >= 1 { data[i - 1] } else { self.last_byte }) == b'\r',
                _ => false,
            };
            self.breaks.push_back((at as u64, blank));
            self.last_break = at;
        }
        if let Some(b) = data.last() {
            self.last_byte = *b;
        }
        self.offset += n as u64;
        Ok(n)
    }
}

/// What a failed read of `origin` is: a record over the limit or a file that is not
/// CSV is the input's fault (it is set aside); only a failing read is local (retried).
fn csv_error<R: Read>(reader: &csv::Reader<Tracked<R>>, origin: &str, e: csv::Error) -> SourceError {
    let tracked = reader.get_ref();
    if tracked.over {
        let line = tracked.line_at(tracked.next_start);
        return SourceError::limit(origin, "limit.record_bytes", format!("the record from line {line} runs past {} MiB: a quote left open?", MAX_RECORD_BYTES >> 20));
    }
    let message = e.to_string();
    match e.into_kind() {
        csv::ErrorKind::Io(io) => SourceError::io(origin, io),
        _ => SourceError::format(origin, format!("not readable as CSV: {message}")),
    }
}

impl<R> Tracked<R> {
    /// The 1-based line of the byte at `start`, as [`Self::line_of`] counts it, without
    /// forgetting anything.
    fn line_at(&self, start: u64) -> u64 {
        let before = self.breaks.iter().take_while(|(b, _)| *b <= start).count();
        let blank = self.breaks.iter().skip(before).take_while(|(_, blank)| *blank).count();
        self.lines_before + (before + blank) as u64 + 1
    }

    /// The 1-based line of the byte at `start`, forgetting the breaks before it.
    fn line_of(&mut self, start: u64) -> u64 {
        // With CRLF, csv puts a record's start on the LF ending the one before: count it.
        while self.breaks.front().is_some_and(|(b, _)| *b <= start) {
            self.breaks.pop_front();
            self.lines_before += 1;
        }
        // Blank lines before a record are skipped by the parser: the record starts after.
        while self.breaks.front().is_some_and(|(_, blank)| *blank) {
            self.breaks.pop_front();
            self.lines_before += 1;
        }
        self.record_start = start;
        self.lines_before + 1
    }
}

/// One delimited file.
pub struct CsvTable<R: Read> {
    reader: csv::Reader<Tracked<R>>,
    record: csv::ByteRecord,
    header: Vec<String>,
    origin: String,
    table: String,
    encoding: Encoding,
}

impl<R: Read> std::fmt::Debug for CsvTable<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CsvTable").field("origin", &self.origin).field("table", &self.table).finish_non_exhaustive()
    }
}

const UNDEFINED_1252: [char; 5] = ['\u{81}', '\u{8d}', '\u{8f}', '\u{90}', '\u{9d}'];

fn decode(bytes: &[u8], enc: Encoding) -> Result<String, &'static str> {
    match enc {
        Encoding::Utf8 => std::str::from_utf8(bytes).map(str::to_string).map_err(|_| "encoding.utf-8"),
        Encoding::Windows1252 => {
            let (s, _) = encoding_rs::WINDOWS_1252.decode_without_bom_handling(bytes);
            if s.contains(UNDEFINED_1252) { Err("encoding.windows-1252") } else { Ok(s.into_owned()) }
        }
    }
}

impl<R: Read> CsvTable<R> {
    /// Reads the header of `input`. `origin` names the file in provenance and errors,
    /// `table` prefixes issue paths (`LAVORATORI.CSV/COD_FISC`).
    pub fn new(input: R, origin: &str, table: &str, delimiter: u8, encoding: Encoding) -> Result<Self, SourceError> {
        let tracked = Tracked { inner: input, offset: 0, breaks: VecDeque::new(), last_break: -1, last_byte: 0, lines_before: 0, record_start: 0, over: false, next_start: 0 };
        let mut reader = csv::ReaderBuilder::new().delimiter(delimiter).has_headers(false).flexible(true).buffer_capacity(256 * 1024).from_reader(tracked);
        let mut record = csv::ByteRecord::new();
        let read = reader.read_byte_record(&mut record);
        if !read.map_err(|e| csv_error(&reader, origin, e))? {
            return Err(SourceError::format(origin, "empty file: no header row"));
        }
        let next = reader.position().byte();
        reader.get_mut().next_start = next;
        let mut encoding = encoding;
        if record.get(0).is_some_and(|f| f.starts_with(b"\xEF\xBB\xBF")) {
            encoding = Encoding::Utf8;
        }
        let mut header = Vec::new();
        for f in &record {
            let f = f.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(f);
            header.push(decode(f, encoding).map_err(|_| SourceError::format(origin, "the header row is not valid text in the declared encoding"))?.trim().to_string());
        }
        Ok(Self { reader, record, header, origin: origin.to_string(), table: table.to_string(), encoding })
    }
}

impl<R: Read> RowReader for CsvTable<R> {
    fn header(&self) -> &[String] {
        &self.header
    }

    fn origin(&self) -> &str {
        &self.origin
    }

    fn next_key(&mut self, key: usize, out: &mut String) -> Result<bool, SourceError> {
        out.clear();
        let read = self.reader.read_byte_record(&mut self.record);
        let more = read.map_err(|e| csv_error(&self.reader, &self.origin, e))?;
        let next = self.reader.position().byte();
        self.reader.get_mut().next_start = next;
        if !more {
            return Ok(false);
        }
        let start = self.record.position().map_or(0, csv::Position::byte);
        self.reader.get_mut().line_of(start);
        if let Some(f) = self.record.get(key) {
            match self.encoding {
                Encoding::Utf8 => out.push_str(std::str::from_utf8(f).unwrap_or_default().trim()),
                Encoding::Windows1252 => out.push_str(encoding_rs::WINDOWS_1252.decode_without_bom_handling(f).0.trim()),
            }
        }
        Ok(true)
    }

    fn next_row(&mut self) -> Result<Option<RawRow>, SourceError> {
        let read = self.reader.read_byte_record(&mut self.record);
        let more = read.map_err(|e| csv_error(&self.reader, &self.origin, e))?;
        let next = self.reader.position().byte();
        self.reader.get_mut().next_start = next;
        if !more {
            return Ok(None);
        }
        let start = self.record.position().map_or(0, csv::Position::byte);
        let line = self.reader.get_mut().line_of(start);
        let mut issues = Vec::new();
        let mut cells = Vec::with_capacity(self.header.len());
        for (i, f) in self.record.iter().enumerate() {
            match decode(f, self.encoding) {
                Ok(s) if s.is_empty() => cells.push(Cell::Null),
                Ok(s) => cells.push(Cell::Text(s)),
                Err(rule) => {
                    let col = self.header.get(i).map_or_else(|| format!("field {}", i + 1), Clone::clone);
                    let what = if rule == "encoding.utf-8" { "is not valid UTF-8" } else { "holds a byte Windows-1252 does not define (is the file in another encoding?)" };
                    let at = silgate_core::provenance::field_at(&self.table, &col, &Position::Line(line));
                    issues.push(Issue::error(format!("{}/{col}", self.table), rule, what).at_source(at));
                    cells.push(Cell::Null);
                }
            }
        }
        if self.record.len() != self.header.len() {
            issues.push(
                Issue::error(
                    format!("{}/line {line}", self.table),
                    "row.columns",
                    format!("the row has {} fields, the header {} (a quote left open, or a delimiter inside an unquoted field?)", self.record.len(), self.header.len()),
                )
                .at_source(silgate_core::provenance::field_at(&self.table, "", &Position::Line(line))),
            );
        }
        Ok(Some(RawRow { position: Position::Line(line), cells, issues }))
    }
}
