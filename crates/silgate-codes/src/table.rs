//! The embedded table format: UTF-8 TSV with `# key: value` metadata lines, one header
//! line, then rows. Metadata keys: `table`, `source`, `licence`, `complete`
//! (`yes`, or `no: why`).

use std::collections::HashMap;

/// What a table is and where its rows come from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TableInfo {
    /// What the table holds.
    pub title: String,
    /// Where its rows come from.
    pub source: String,
    /// Licence of the data.
    pub licence: String,
    /// True when the table lists every valid code.
    pub complete: bool,
    /// Why it is incomplete, when it is.
    pub incomplete_because: Option<String>,
    /// Number of rows.
    pub rows: usize,
}

/// A table that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TableError {
    /// A metadata line is missing.
    #[error("table {table}: missing metadata '# {key}:'")]
    MissingMeta {
        /// Table name.
        table: String,
        /// The missing key.
        key: &'static str,
    },
    /// The header line is missing or lacks a column.
    #[error("table {table}: header must start with {expected}")]
    Header {
        /// Table name.
        table: String,
        /// The expected first columns.
        expected: String,
    },
    /// A row has fewer columns than the header.
    #[error("table {table}: line {line}: expected {expected} columns, found {found}")]
    Row {
        /// Table name.
        table: String,
        /// 1-based line.
        line: usize,
        /// Header width.
        expected: usize,
        /// Found.
        found: usize,
    },
    /// A date column does not hold `YYYY-MM-DD`.
    #[error("table {table}: line {line}: bad date")]
    Date {
        /// Table name.
        table: String,
        /// 1-based line.
        line: usize,
    },
}

impl TableError {
    /// Stable code for CLI and logs.
    pub fn as_code(&self) -> &'static str {
        match self {
            Self::MissingMeta { .. } => "table.meta",
            Self::Header { .. } => "table.header",
            Self::Row { .. } => "table.row",
            Self::Date { .. } => "table.date",
        }
    }
}

/// A parsed TSV table: metadata plus rows of string columns.
#[derive(Debug, Clone)]
pub struct RawTable<'a> {
    /// Metadata.
    pub info: TableInfo,
    /// Rows with their 1-based line numbers.
    pub rows: Vec<(usize, Vec<&'a str>)>,
}

/// Parses `text` as table `name` whose header starts with `columns`.
pub fn parse<'a>(name: &str, text: &'a str, columns: &[&str]) -> Result<RawTable<'a>, TableError> {
    let mut meta: HashMap<&str, &str> = HashMap::new();
    let mut rows = Vec::new();
    let mut header: Option<usize> = None;
    for (i, line) in text.lines().enumerate() {
        if let Some(m) = line.strip_prefix("# ") {
            if let Some((k, v)) = m.split_once(": ") {
                meta.insert(k, v);
            }
            continue;
        }
        if line.is_empty() {
            continue;
        }
        let cols: Vec<&str> = line.split('\t').collect();
        match header {
            None => {
                if cols.len() < columns.len() || cols.iter().zip(columns).any(|(a, b)| a != b) {
                    return Err(TableError::Header { table: name.into(), expected: columns.join(",") });
                }
                header = Some(cols.len());
            }
            Some(width) => {
                if cols.len() < width {
                    return Err(TableError::Row { table: name.into(), line: i + 1, expected: width, found: cols.len() });
                }
                rows.push((i + 1, cols));
            }
        }
    }
    if header.is_none() {
        return Err(TableError::Header { table: name.into(), expected: columns.join(",") });
    }
    let get = |key: &'static str| meta.get(key).map(|s| s.to_string()).ok_or_else(|| TableError::MissingMeta { table: name.into(), key });
    let complete_text = get("complete")?;
    let complete = complete_text == "yes";
    let info = TableInfo {
        title: get("table")?,
        source: get("source")?,
        licence: get("licence")?,
        complete,
        incomplete_because: (!complete).then(|| complete_text.trim_start_matches("no").trim_start_matches(':').trim().to_string()),
        rows: rows.len(),
    };
    Ok(RawTable { info, rows })
}

/// A set of codes with their titles, from a table whose first columns are `code`, `title`.
#[derive(Debug, Clone)]
pub struct CodeSet {
    /// Metadata.
    pub info: TableInfo,
    codes: HashMap<String, String>,
}

impl CodeSet {
    /// Parses a `code`/`title` table (first two columns).
    pub fn parse(name: &str, text: &str, columns: &[&str]) -> Result<Self, TableError> {
        let raw = parse(name, text, columns)?;
        let codes = raw.rows.into_iter().map(|(_, c)| (c[0].to_string(), c.get(1).copied().unwrap_or("").to_string())).collect();
        Ok(Self { info: raw.info, codes })
    }

    /// The title of `code`, if listed.
    pub fn get(&self, code: &str) -> Option<&str> {
        self.codes.get(code).map(String::as_str)
    }

    /// True if `code` is listed.
    pub fn contains(&self, code: &str) -> bool {
        self.codes.contains_key(code)
    }

    /// Number of codes.
    pub fn len(&self) -> usize {
        self.codes.len()
    }

    /// True when no code is listed.
    pub fn is_empty(&self) -> bool {
        self.codes.is_empty()
    }
}
