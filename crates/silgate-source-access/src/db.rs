//! An Access database read with jetdb, one table at a time, in chunks of rows.

use crate::ole_datetime;
use jetdb::{ColumnType, PageReader, RowPosition, TableDef, TableRows, Value};
use silgate_core::Position;
use silgate_core::source::SourceError;
use silgate_source_tabular::Cell;
use silgate_source_tabular::engine::{RawRow, RowReader};
use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};

/// An opened database: its file and its user tables.
#[derive(Debug)]
pub struct Database {
    path: PathBuf,
    origin: String,
    /// User table names, as written.
    pub tables: Vec<String>,
    /// Table name -> its definition page, from the catalog read at open.
    pages: Vec<(String, u32)>,
}

fn jet(origin: &str, e: &jetdb::FileError) -> SourceError {
    SourceError::format(origin, format!("not a readable Access (Jet/ACE) database: {e}"))
}

impl Database {
    /// The input as named in errors and provenance.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Opens `path` and reads its catalog.
    pub fn open(path: &Path, origin: &str) -> Result<Self, SourceError> {
        let mut r = PageReader::open(path).map_err(|e| match e {
            jetdb::FileError::Io(io) => SourceError::io(origin, io),
            other => jet(origin, &other),
        })?;
        let tables = jetdb::table_names(&mut r).map_err(|e| jet(origin, &e))?;
        let catalog = jetdb::read_catalog(&mut r).map_err(|e| jet(origin, &e))?;
        let pages = catalog.into_iter().filter(|e| tables.contains(&e.name)).map(|e| (e.name, e.table_page)).collect();
        Ok(Self { path: path.to_path_buf(), origin: origin.to_string(), tables, pages })
    }

    /// Opens a table by name (any case).
    pub fn open_table(&self, table: &str) -> Result<Option<Box<dyn RowReader + '_>>, SourceError> {
        Ok(self.table(table)?.map(|t| Box::new(t) as Box<dyn RowReader>))
    }

    /// A reader over one table.
    pub fn table(&self, table: &str) -> Result<Option<DbTable>, SourceError> {
        let Some(name) = self.tables.iter().find(|t| t.eq_ignore_ascii_case(table)).cloned() else { return Ok(None) };
        let origin = format!("{}!{name}", self.origin);
        let mut reader = PageReader::open(&self.path).map_err(|e| jet(&origin, &e))?;
        let page = self.pages.iter().find(|(n, _)| *n == name).map(|(_, p)| *p).ok_or_else(|| SourceError::format(&origin, "table listed but not in the catalog"))?;
        let def = jetdb::read_table_def(&mut reader, &name, page).map_err(|e| jet(&origin, &e))?;
        let calculated = jetdb::calculated_column_types(&mut reader, &def);
        let header = def.columns.iter().map(|c| c.name.clone()).collect();
        Ok(Some(DbTable { reader, def, calculated, header, origin, name, next: Some(RowPosition::default()), buffer: VecDeque::new(), n: 0 }))
    }
}

/// One table being read.
pub struct DbTable {
    reader: PageReader,
    def: TableDef,
    calculated: HashMap<String, ColumnType>,
    header: Vec<String>,
    origin: String,
    name: String,
    next: Option<RowPosition>,
    buffer: VecDeque<Vec<Value>>,
    n: u64,
}

impl std::fmt::Debug for DbTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbTable").field("origin", &self.origin).field("n", &self.n).finish_non_exhaustive()
    }
}

const CHUNK: usize = 1024;

impl DbTable {
    fn fill(&mut self) -> Result<(), SourceError> {
        let Some(pos) = self.next else { return Ok(()) };
        let mut rows = TableRows::new(&self.def, &self.calculated).starting_at(pos);
        for _ in 0..CHUNK {
            match rows.next_row(&mut self.reader).map_err(|e| SourceError::format(&self.origin, format!("unreadable data page: {e}")))? {
                Some(r) => self.buffer.push_back(r.values),
                None => {
                    self.next = None;
                    return Ok(());
                }
            }
        }
        self.next = Some(rows.position());
        Ok(())
    }

    /// The raw jetdb values of the next row (for tests comparing with mdb-export).
    pub fn next_values(&mut self) -> Result<Option<Vec<Value>>, SourceError> {
        if self.buffer.is_empty() {
            self.fill()?;
        }
        Ok(self.buffer.pop_front())
    }
}

/// A jetdb value as a cell; `Err` for a value that cannot be one (binary, a date out
/// of range).
pub fn cell(v: Value) -> Result<Cell, &'static str> {
    Ok(match v {
        Value::Null => Cell::Null,
        Value::Bool(b) => Cell::Bool(b),
        Value::Byte(b) => Cell::Int(i64::from(b)),
        Value::Int(i) => Cell::Int(i64::from(i)),
        Value::Long(i) => Cell::Int(i64::from(i)),
        Value::BigInt(i) => Cell::Int(i),
        Value::Float(f) => Cell::Float(f64::from(f)),
        Value::Double(f) => Cell::Float(f),
        Value::Text(s) | Value::Money(s) | Value::Numeric(s) | Value::Guid(s) | Value::DateTimeExtended(s) => Cell::Text(s),
        Value::Timestamp(d) => Cell::DateTime(ole_datetime(d).ok_or("a date out of range")?),
        Value::Binary(_) => return Err("binary data where text was expected"),
        _ => return Err("a value of a type this adapter does not read"),
    })
}

impl RowReader for DbTable {
    fn header(&self) -> &[String] {
        &self.header
    }

    fn origin(&self) -> &str {
        &self.origin
    }

    fn next_row(&mut self) -> Result<Option<RawRow>, SourceError> {
        let Some(values) = self.next_values()? else { return Ok(None) };
        self.n += 1;
        let mut issues = Vec::new();
        let mut cells = Vec::with_capacity(values.len());
        for (i, v) in values.into_iter().enumerate() {
            match cell(v) {
                Ok(c) => cells.push(c),
                Err(m) => {
                    issues.push(crate::cell_issue(&self.name, &self.header, i, &Position::Row { table: self.name.clone(), row: self.n }, m));
                    cells.push(Cell::Null);
                }
            }
        }
        Ok(Some(RawRow { position: Position::Row { table: self.name.clone(), row: self.n }, cells, issues }))
    }
}
