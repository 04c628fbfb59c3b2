//! The [`Tabular`] source: scan, check, join, map, emit.
//!
//! Two passes over the storage:
//!
//! 1. **Scan** every table once: count its rows and check whether it is sorted by its
//!    join key. The counts let an adapter refuse an export whole before anything is
//!    emitted ([`TableSet::check`], the SIL Plus manifest); the order decides the join.
//! 2. **Join and emit.** Vacancies first: the employer table is indexed in memory
//!    (employers are few; the index is bounded by [`Limits::max_index_rows`]), then
//!    vacancies stream. Then CVs: when the worker table and its four child tables are
//!    all sorted by `ID_LAV`, a **merge join** walks the five tables side by side and
//!    holds one worker's rows at a time, so memory does not grow with the export; when
//!    any is not sorted, the children are indexed by `ID_LAV` in memory, bounded by
//!    the same limit, past which the export is refused with an error that says to
//!    sort it.
//!
//! Child rows whose key names no worker (or employer) are rejections of that child
//! row, never of a parent. A problem inside a child row (a bad date, a bad encoding
//! byte) rejects the CV it belongs to, naming the child table and column: a CV is
//! never sent with part of it silently dropped.

use crate::build;
use crate::cell::Cell;
use crate::entity::{Entity, key_cmp};
use crate::mapping::Mapping;
use silgate_core::source::{Emit, ReadSummary, Rejection, Source, SourceError, SourceItem};
use silgate_core::{Issue, Position, Provenance, SourceSystem};
use std::cmp::Ordering;
use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::Arc;

/// One row as the storage gives it.
#[derive(Debug, Clone, PartialEq)]
pub struct RawRow {
    /// Where it is (line of a CSV file, row of a table or sheet).
    pub position: Position,
    /// Its values, in header order (fewer or more than the header when the row is
    /// malformed: `issues` then says so).
    pub cells: Vec<Cell>,
    /// Problems of the row itself (encoding, field count), paths as `TABLE/COLUMN`.
    pub issues: Vec<Issue>,
}

/// A table being read, row by row.
pub trait RowReader {
    /// The column names, as written.
    fn header(&self) -> &[String];
    /// The file or table the rows come from (provenance `origin`).
    fn origin(&self) -> &str;
    /// The next row; `None` at the end. An error means the table cannot be read on.
    fn next_row(&mut self) -> Result<Option<RawRow>, SourceError>;

    /// Passes over the next row, writing only the text of column `key` into `out`
    /// (empty when the row has none): the scan's fast path. `false` at the end.
    fn next_key(&mut self, key: usize, out: &mut String) -> Result<bool, SourceError> {
        out.clear();
        let Some(r) = self.next_row()? else { return Ok(false) };
        if let Some(c) = r.cells.get(key) {
            out.push_str(&c.key());
        }
        Ok(true)
    }
}

/// What a storage adapter gives: its tables by physical name.
pub trait TableSet {
    /// The kind of system (provenance).
    fn system(&self) -> SourceSystem;
    /// Opens a table; `None` when the storage has no such table.
    fn open(&self, table: &str) -> Result<Option<Box<dyn RowReader + '_>>, SourceError>;
    /// The tables the storage has, for error messages.
    fn tables(&self) -> Vec<String> {
        Vec::new()
    }
    /// The input, for errors about it as a whole.
    fn origin(&self) -> String {
        "input".to_string()
    }
    /// Checks the scan of every table before anything is emitted (the SIL Plus
    /// manifest); an error refuses the input whole.
    fn check(&self, _scans: &[Scan]) -> Result<(), SourceError> {
        Ok(())
    }
}

/// What the scan found in one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scan {
    /// The logical table.
    pub entity: Entity,
    /// The physical table.
    pub table: String,
    /// Rows, header excluded.
    pub rows: u64,
    /// Sorted by the join key.
    pub sorted: bool,
}

/// Bounds of what one tabular input may make the reader hold: its in-memory indexes
/// and, for workbooks, the sizes calamine would allocate from (checked before it reads).
///
/// The gateway's `[limits]` table: every field optional, defaults below.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Most rows held by the employer index, or by the child index of an unsorted
    /// export, before the input is refused.
    pub max_index_rows: u64,
    /// Most cells of one sheet's grid: the bounding box of its valued cells, rows times
    /// columns (and an .xls sheet's declared dimensions). The default, 2^24, is an .xls
    /// sheet's whole grid (65,536 x 256): about 512 MiB of cells.
    pub max_sheet_cells: u64,
    /// Most strings a workbook's shared-string table may declare.
    pub max_shared_strings: u64,
    /// Most bytes one part of a workbook (a sheet's XML, the shared strings, an .xls
    /// workbook stream) may hold once inflated.
    pub max_workbook_part_bytes: u64,
    /// Most bytes of text one sheet's cells expand to when read: the reader copies a
    /// shared string into every cell that names it, and an ODS cell's text into every
    /// column and row it is repeated over (`limit.sheet_text_bytes`).
    pub max_sheet_text_bytes: u64,
    /// Longest XML event of a Sintesi feed (a text node, a tag, a comment, a CDATA
    /// section) before the feed is refused (`limit.xml_event_bytes`): the XML reader
    /// holds one event whole.
    pub max_xml_event_bytes: u64,
    /// Longest line of a canonical JSON lines input: a longer one is skipped unread and
    /// its record rejected (`limit.line_bytes`).
    pub max_line_bytes: u64,
    /// Reads of one input (an inbox file, a PEC message, a pulled feed) started and
    /// never finished (the process died in them), or, for a message or a feed, failed,
    /// before the input is set aside (`source.poison`): a crash loop stops there.
    pub max_unfinished_reads: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_index_rows: 500_000,
            max_sheet_cells: 1 << 24,
            max_shared_strings: 1 << 24,
            max_workbook_part_bytes: 1 << 30,
            max_sheet_text_bytes: 1 << 30,
            max_xml_event_bytes: 64 << 20,
            max_line_bytes: 16 << 20,
            max_unfinished_reads: 3,
        }
    }
}

/// A mapped row: logical cells, provenance, issues.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    pub(crate) table: Arc<str>,
    pub(crate) origin: Arc<str>,
    pub(crate) position: Position,
    pub(crate) n: u64,
    /// One per logical column of the entity.
    pub(crate) cells: Vec<Cell>,
    pub(crate) issues: Vec<Issue>,
}

impl Row {
    pub(crate) fn key(&self, e: Entity) -> std::borrow::Cow<'_, str> {
        e.index(e.key()).and_then(|i| self.cells.get(i)).map_or(std::borrow::Cow::Borrowed(""), Cell::key)
    }

    pub(crate) fn provenance(&self, system: SourceSystem) -> Provenance {
        Provenance::new(system, &*self.origin, self.position.clone())
    }
}

struct Table<'a> {
    entity: Entity,
    name: Arc<str>,
    origin: Arc<str>,
    reader: Box<dyn RowReader + 'a>,
    index: Vec<Option<usize>>,
    /// For each logical column, whether a later one reads the same physical column.
    again: Vec<bool>,
    /// The physical columns the mapping reads.
    used: Vec<String>,
    n: u64,
    peeked: Option<Row>,
}

impl Table<'_> {
    fn next(&mut self) -> Result<Option<Row>, SourceError> {
        if let Some(r) = self.peeked.take() {
            return Ok(Some(r));
        }
        let Some(raw) = self.reader.next_row()? else { return Ok(None) };
        self.n += 1;
        let mut cells = raw.cells;
        // A physical column may serve several logical ones: the last use takes the
        // value, the others copy it.
        let logical = self
            .index
            .iter()
            .zip(&self.again)
            .map(|(i, again)| i.and_then(|i| cells.get_mut(i).map(|c| if *again { c.clone() } else { std::mem::take(c) })).unwrap_or(Cell::Null))
            .collect();
        // A problem in a column the mapping does not read (a photo, an attachment, a
        // spreadsheet error in a note column) is not the record's problem.
        let mut issues = raw.issues;
        issues.retain(|i| {
            let column = i.path.rsplit('/').next().unwrap_or_default();
            column.starts_with("line ") || self.used.iter().any(|u| u.eq_ignore_ascii_case(column))
        });
        Ok(Some(Row { table: self.name.clone(), origin: self.origin.clone(), position: raw.position, n: self.n, cells: logical, issues }))
    }

    fn peek(&mut self) -> Result<Option<&Row>, SourceError> {
        if self.peeked.is_none() {
            self.peeked = self.next()?;
        }
        Ok(self.peeked.as_ref())
    }
}

/// The source over a [`TableSet`].
#[derive(Debug)]
pub struct Tabular<S> {
    set: S,
    mapping: Mapping,
    limits: Limits,
}

impl<S: TableSet> Tabular<S> {
    /// A source reading `set` through `mapping`.
    pub fn new(set: S, mapping: Mapping, limits: Limits) -> Self {
        Self { set, mapping, limits }
    }

    /// The storage.
    pub fn set(&self) -> &S {
        &self.set
    }

    fn open(&self, e: Entity) -> Result<Option<Table<'_>>, SourceError> {
        let name = self.mapping.table(e);
        let Some(reader) = self.set.open(&name)? else { return Ok(None) };
        let header: Vec<String> = reader.header().iter().map(|h| h.trim().trim_start_matches('\u{feff}').to_uppercase()).collect();
        let mut index = Vec::new();
        for logical in e.columns() {
            let physical = self.mapping.column(e, logical);
            let at = header.iter().position(|h| *h == physical.to_uppercase());
            if at.is_none() && e.required().contains(logical) {
                return Err(SourceError::refused(reader.origin(), format!("table {name}: required column {physical} is missing from the header")));
            }
            index.push(at);
        }
        let origin: Arc<str> = reader.origin().into();
        let again = index.iter().enumerate().map(|(at, i)| i.is_some() && index[at + 1..].contains(i)).collect();
        let used = index.iter().flatten().filter_map(|i| reader.header().get(*i).map(|h| h.trim().trim_start_matches('\u{feff}').to_string())).collect();
        Ok(Some(Table { entity: e, name: name.into(), origin, reader, index, again, used, n: 0, peeked: None }))
    }

    /// Pass 1: rows and key order of every table present.
    pub fn scan(&self) -> Result<Vec<Scan>, SourceError> {
        let mut out = Vec::new();
        for e in Entity::ALL {
            let Some(mut t) = self.open(e)? else { continue };
            let (mut rows, mut sorted) = (0u64, true);
            let key = e.index(e.key()).and_then(|i| t.index[i]);
            let (mut last, mut cur) = (String::new(), String::new());
            loop {
                let more = match key {
                    Some(k) => t.reader.next_key(k, &mut cur)?,
                    None => t.reader.next_row()?.is_some(),
                };
                if !more {
                    break;
                }
                if rows > 0 && sorted && key_cmp(&cur, &last) == Ordering::Less {
                    sorted = false;
                }
                rows += 1;
                std::mem::swap(&mut last, &mut cur);
            }
            out.push(Scan { entity: e, table: t.name.to_string(), rows, sorted });
        }
        Ok(out)
    }

    fn vacancies(&self, sum: &mut ReadSummary, emit: &mut Emit<'_>) -> Result<ControlFlow<()>, SourceError> {
        let system = self.set.system();
        let Some(mut req) = self.open(Entity::Richieste)? else { return Ok(ControlFlow::Continue(())) };
        let mut companies: HashMap<String, Row> = HashMap::new();
        if let Some(mut az) = self.open(Entity::Aziende)? {
            while let Some(r) = az.next()? {
                if companies.len() as u64 >= self.limits.max_index_rows {
                    return Err(SourceError::refused(&*az.origin, format!("table {} has more than {} employers: raise the index limit", az.name, self.limits.max_index_rows)));
                }
                let key = r.key(Entity::Aziende).into_owned();
                if companies.contains_key(&key) {
                    let dup = Rejection::one(
                        r.provenance(self.set.system()),
                        format!("{}/{}", r.table, self.mapping.column(Entity::Aziende, "ID_AZ")),
                        "row.duplicate-key",
                        "another employer row has the same id: which one the vacancies mean is unknown",
                    );
                    if sum.emit(emit, SourceItem::Rejected(dup)).is_break() {
                        return Ok(ControlFlow::Break(()));
                    }
                    continue;
                }
                companies.insert(key, r);
            }
        }
        let ctx = build::Ctx::new(&self.mapping, system);
        while let Some(r) = req.next()? {
            let key = r.key(Entity::Richieste).into_owned();
            let item = match companies.get(&key) {
                Some(az) => build::vacancy(&ctx, r, az.clone()),
                None => Err(Box::new(Rejection::one(
                    r.provenance(system),
                    format!("{}/{}", r.table, self.mapping.column(Entity::Richieste, "ID_AZ")),
                    "row.orphan",
                    format!("no employer with this id in {}", self.mapping.table(Entity::Aziende)),
                ))),
            };
            if sum.emit(emit, to_item(item)).is_break() {
                return Ok(ControlFlow::Break(()));
            }
        }
        Ok(ControlFlow::Continue(()))
    }

    fn orphan(&self, r: &Row, e: Entity) -> SourceItem {
        SourceItem::Rejected(Rejection::one(
            r.provenance(self.set.system()),
            format!("{}/{}", r.table, self.mapping.column(e, "ID_LAV")),
            "row.orphan",
            format!("no worker with this id in {} (or its row was rejected)", self.mapping.table(Entity::Lavoratori)),
        ))
    }

    fn duplicate_worker(&self, r: &Row) -> SourceItem {
        SourceItem::Rejected(Rejection::one(
            r.provenance(self.set.system()),
            format!("{}/{}", r.table, self.mapping.column(Entity::Lavoratori, "ID_LAV")),
            "row.duplicate-key",
            "another worker row has the same id: whose experiences and languages follow is unknown",
        ))
    }

    fn cvs_merged(&self, sum: &mut ReadSummary, emit: &mut Emit<'_>) -> Result<ControlFlow<()>, SourceError> {
        let system = self.set.system();
        let ctx = build::Ctx::new(&self.mapping, system);
        let Some(mut lav) = self.open(Entity::Lavoratori)? else { return Ok(ControlFlow::Continue(())) };
        let mut kids: Vec<Table<'_>> = Vec::new();
        for e in Entity::CV_CHILDREN {
            if let Some(t) = self.open(e)? {
                kids.push(t);
            }
        }
        let mut previous: Option<String> = None;
        while let Some(parent) = lav.next()? {
            let key = parent.key(Entity::Lavoratori).into_owned();
            if previous.as_deref() == Some(key.as_str()) {
                if sum.emit(emit, self.duplicate_worker(&parent)).is_break() {
                    return Ok(ControlFlow::Break(()));
                }
                continue;
            }
            previous = Some(key.clone());
            let mut children: [Vec<Row>; 4] = Default::default();
            let mut held = 0u64;
            for t in &mut kids {
                let entity = t.entity;
                loop {
                    let ord = match t.peek()? {
                        None => break,
                        Some(r) => key_cmp(&r.key(entity), &key),
                    };
                    match ord {
                        Ordering::Greater => break,
                        Ordering::Less => {
                            if let Some(r) = t.next()?
                                && sum.emit(emit, self.orphan(&r, t.entity)).is_break()
                            {
                                return Ok(ControlFlow::Break(()));
                            }
                        }
                        Ordering::Equal => {
                            held += 1;
                            if held > self.limits.max_index_rows {
                                return Err(SourceError::refused(&*t.origin, format!("more than {} child rows for one worker id", self.limits.max_index_rows)));
                            }
                            if let Some(r) = t.next()? {
                                children[child_slot(t.entity)].push(r);
                            }
                        }
                    }
                }
            }
            if sum.emit(emit, to_item(build::cv(&ctx, parent, children))).is_break() {
                return Ok(ControlFlow::Break(()));
            }
        }
        for t in &mut kids {
            while let Some(r) = t.next()? {
                if sum.emit(emit, self.orphan(&r, t.entity)).is_break() {
                    return Ok(ControlFlow::Break(()));
                }
            }
        }
        Ok(ControlFlow::Continue(()))
    }

    fn cvs_indexed(&self, sum: &mut ReadSummary, emit: &mut Emit<'_>) -> Result<ControlFlow<()>, SourceError> {
        let system = self.set.system();
        let ctx = build::Ctx::new(&self.mapping, system);
        let Some(mut lav) = self.open(Entity::Lavoratori)? else { return Ok(ControlFlow::Continue(())) };
        let mut index: HashMap<String, [Vec<Row>; 4]> = HashMap::new();
        let mut held = 0u64;
        for e in Entity::CV_CHILDREN {
            let Some(mut t) = self.open(e)? else { continue };
            while let Some(r) = t.next()? {
                held += 1;
                if held > self.limits.max_index_rows {
                    return Err(SourceError::refused(
                        &*t.origin,
                        format!(
                            "the export is not sorted by {} and its child tables hold more than {} rows: sort every file by {} (or raise the index limit)",
                            e.key(),
                            self.limits.max_index_rows,
                            e.key()
                        ),
                    ));
                }
                index.entry(r.key(e).into_owned()).or_default()[child_slot(e)].push(r);
            }
        }
        let mut seen: std::collections::HashSet<String> = std::collections::HashSet::new();
        while let Some(parent) = lav.next()? {
            if !seen.insert(parent.key(Entity::Lavoratori).into_owned()) {
                if sum.emit(emit, self.duplicate_worker(&parent)).is_break() {
                    return Ok(ControlFlow::Break(()));
                }
                continue;
            }
            let children = index.remove(&*parent.key(Entity::Lavoratori)).unwrap_or_default();
            if sum.emit(emit, to_item(build::cv(&ctx, parent, children))).is_break() {
                return Ok(ControlFlow::Break(()));
            }
        }
        let mut left: Vec<(Entity, Row)> =
            index.into_values().flat_map(|kids| Entity::CV_CHILDREN.into_iter().zip(kids).flat_map(|(e, rows)| rows.into_iter().map(move |r| (e, r)))).collect();
        left.sort_by_key(|(e, r)| (*e, r.n));
        for (e, r) in left {
            if sum.emit(emit, self.orphan(&r, e)).is_break() {
                return Ok(ControlFlow::Break(()));
            }
        }
        Ok(ControlFlow::Continue(()))
    }
}

fn child_slot(e: Entity) -> usize {
    Entity::CV_CHILDREN.iter().position(|c| *c == e).unwrap_or(0)
}

fn to_item(r: Result<silgate_core::Record, Box<Rejection>>) -> SourceItem {
    match r {
        Ok(rec) => SourceItem::Record(Box::new(rec)),
        Err(rej) => SourceItem::Rejected(*rej),
    }
}

impl<S: TableSet> Source for Tabular<S> {
    fn system(&self) -> SourceSystem {
        self.set.system()
    }

    fn read(&mut self, emit: &mut Emit<'_>) -> Result<ReadSummary, SourceError> {
        let scans = self.scan()?;
        self.set.check(&scans)?;
        let has = |e: Entity| scans.iter().any(|s| s.entity == e);
        if !has(Entity::Lavoratori) && !has(Entity::Richieste) {
            let want = format!("{} or {}", self.mapping.table(Entity::Lavoratori), self.mapping.table(Entity::Richieste));
            let found = self.set.tables();
            let found = if found.is_empty() { "none".to_string() } else { found.join(", ") };
            return Err(SourceError::refused(self.set.origin(), format!("neither {want} is in the input (tables found: {found}): is the mapping right?")));
        }
        let cv_tables: Vec<&Scan> = scans.iter().filter(|s| s.entity == Entity::Lavoratori || Entity::CV_CHILDREN.contains(&s.entity)).collect();
        let sorted = cv_tables.iter().all(|s| s.sorted);
        let child_rows: u64 = cv_tables.iter().filter(|s| s.entity != Entity::Lavoratori).map(|s| s.rows).sum();
        if !sorted && child_rows > self.limits.max_index_rows {
            let unsorted: Vec<&str> = cv_tables.iter().filter(|s| !s.sorted).map(|s| s.table.as_str()).collect();
            return Err(SourceError::refused(
                self.set.origin(),
                format!(
                    "{} not sorted by ID_LAV and the child tables hold {child_rows} rows, more than the {} an unsorted export may: sort every file by ID_LAV (or raise the index limit)",
                    unsorted.join(", "),
                    self.limits.max_index_rows
                ),
            ));
        }
        let mut sum = ReadSummary::default();
        if self.vacancies(&mut sum, emit)?.is_break() {
            return Ok(sum);
        }
        if sorted {
            let _ = self.cvs_merged(&mut sum, emit)?;
        } else {
            let _ = self.cvs_indexed(&mut sum, emit)?;
        }
        Ok(sum)
    }
}
