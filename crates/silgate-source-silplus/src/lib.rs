//! The SIL Plus adapter (Sicily): one export is a folder, or a zip of it, holding one
//! `;`-separated Windows-1252 file per entity (`LAVORATORI.CSV`, `ESPERIENZE.CSV`,
//! `TITOLI.CSV`, `LINGUE.CSV`, `DISPONIBILITA.CSV`, `AZIENDE.CSV`, `RICHIESTE.CSV`)
//! and the manifest `EXPORT.TXT`:
//!
//! ```text
//! LAVORATORI.CSV;1200;
//! ESPERIENZE.CSV;3400;
//! GENERATO;24/11/2026 23:10;
//! ```
//!
//! The manifest is what tells a complete export from a truncated upload, so it is
//! checked before anything is emitted: every file it lists must exist and hold exactly
//! that many rows (quoted line breaks do not count as rows), and every data file present
//! must be listed. Otherwise the export is refused whole, with an error naming the file
//! and both counts.
//!
//! The mapping, joins and local codes are `silgate-source-tabular`'s; this crate is the
//! storage: finding the files, unpacking the zip (with limits), the manifest.

#![deny(missing_docs)]
#![forbid(unsafe_code)]

use silgate_core::SourceSystem;
use silgate_core::source::SourceError;
use silgate_source_tabular::csv::{CsvTable, Encoding};
use silgate_source_tabular::engine::{RowReader, Scan, TableSet};
use silgate_source_tabular::unzip::{self, ZipLimits};
use silgate_source_tabular::{Limits, Mapping, Tabular};
use std::collections::BTreeMap;
use std::io::BufReader;
use std::path::{Path, PathBuf};

/// The manifest file's name.
pub const MANIFEST: &str = "EXPORT.TXT";

/// A SIL Plus export, opened: its folder (or the zip's unpacked copy) and manifest.
#[derive(Debug)]
pub struct Export {
    input: String,
    dir: PathBuf,
    zipped: bool,
    _unpacked: Option<tempfile::TempDir>,
    /// File name (upper case) -> rows, as the manifest says.
    pub manifest: BTreeMap<String, u64>,
    /// The manifest's `GENERATO` line, as written.
    pub generated: Option<String>,
    /// File name (upper case) -> actual file name.
    files: BTreeMap<String, String>,
    delimiter: u8,
    encoding: Encoding,
}

/// The SIL Plus source: an [`Export`] read through a mapping.
pub type SilPlus = Tabular<Export>;

/// Opens a SIL Plus export (folder or zip) with the `silplus-1` mapping, or `mapping`.
pub fn open(path: &Path, mapping: Option<Mapping>, limits: Limits) -> Result<SilPlus, SourceError> {
    let mapping = mapping.unwrap_or_else(Mapping::silplus);
    let export = Export::open(path, &mapping, ZipLimits::default())?;
    Ok(Tabular::new(export, mapping, limits))
}

fn find_manifest(dir: &Path, depth: u8) -> Option<PathBuf> {
    let entries: Vec<PathBuf> = std::fs::read_dir(dir).ok()?.filter_map(|e| e.ok().map(|e| e.path())).collect();
    if entries.iter().any(|p| p.is_file() && p.file_name().is_some_and(|n| n.to_string_lossy().eq_ignore_ascii_case(MANIFEST))) {
        return Some(dir.to_path_buf());
    }
    if depth == 0 {
        return None;
    }
    entries.iter().filter(|p| p.is_dir()).find_map(|p| find_manifest(p, depth - 1))
}

impl Export {
    /// Opens `path` (a folder, or a zip unpacked under `zip` limits) and reads its
    /// manifest.
    pub fn open(path: &Path, mapping: &Mapping, zip: ZipLimits) -> Result<Self, SourceError> {
        let input = path.display().to_string();
        let meta = std::fs::metadata(path).map_err(|e| SourceError::io(&input, e))?;
        let (root, unpacked, zipped) = if meta.is_dir() {
            (path.to_path_buf(), None, false)
        } else if unzip::is_zip(path) {
            let t = unzip::unpack(path, zip)?;
            (t.path().to_path_buf(), Some(t), true)
        } else {
            return Err(SourceError::format(&input, "not a SIL Plus export: expected a folder or a zip archive"));
        };
        let dir = find_manifest(&root, 2)
            .ok_or_else(|| SourceError::refused(&input, format!("no {MANIFEST}: without the manifest a complete export cannot be told from a truncated one")))?;
        let mut files = BTreeMap::new();
        for e in std::fs::read_dir(&dir).map_err(|e| SourceError::io(&input, e))?.flatten() {
            if e.path().is_file() {
                let n = e.file_name().to_string_lossy().to_string();
                if let Some(other) = files.insert(n.to_uppercase(), n.clone()) {
                    return Err(SourceError::refused(&input, format!("{other} and {n} differ only in case: which one is the export's is unknown")));
                }
            }
        }
        // A file cut in its last row still has that row's count: every data file must
        // end with its line break.
        for (upper, name) in &files {
            if upper.ends_with(".CSV") {
                let p = dir.join(name);
                let mut f = std::fs::File::open(&p).map_err(|e| SourceError::io(&input, e))?;
                let len = f.metadata().map_err(|e| SourceError::io(&input, e))?.len();
                if len > 0 {
                    use std::io::{Read, Seek, SeekFrom};
                    let mut last = [0u8; 1];
                    f.seek(SeekFrom::End(-1)).and_then(|_| f.read_exact(&mut last)).map_err(|e| SourceError::io(&input, e))?;
                    if last[0] != b'\n' {
                        return Err(SourceError::refused(&input, format!("{name} does not end with a line break: its last row is cut (a truncated upload?)")));
                    }
                }
            }
        }
        let encoding = Encoding::parse(&mapping.csv.encoding).unwrap_or(Encoding::Windows1252);
        let mut export = Self { input, dir, zipped, _unpacked: unpacked, manifest: BTreeMap::new(), generated: None, files, delimiter: mapping.delimiter(), encoding };
        export.read_manifest()?;
        Ok(export)
    }

    fn read_manifest(&mut self) -> Result<(), SourceError> {
        let name = self.files.get(MANIFEST).cloned().unwrap_or_else(|| MANIFEST.to_string());
        let bytes = std::fs::read(self.dir.join(&name)).map_err(|e| SourceError::io(self.origin_of(&name), e))?;
        let (files, generated) = parse_manifest(&bytes).map_err(|m| SourceError::refused(&self.input, m))?;
        self.manifest = files;
        self.generated = Some(generated);
        Ok(())
    }

    fn origin_of(&self, file: &str) -> String {
        if self.zipped { format!("{}!{file}", self.input) } else { self.dir.join(file).display().to_string() }
    }
}

/// Parses a manifest (Windows-1252): `NAME;ROWS;` lines and the `GENERATO;...;` line.
/// Returns file (upper case) -> rows, and the generation time as written.
pub fn parse_manifest(bytes: &[u8]) -> Result<(BTreeMap<String, u64>, String), String> {
    let (text, _) = encoding_rs::WINDOWS_1252.decode_without_bom_handling(bytes);
    let mut files = BTreeMap::new();
    let mut generated = None;
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let mut parts = line.split(';');
        let file = parts.next().unwrap_or_default().trim().to_uppercase();
        let value = parts.next().unwrap_or_default().trim();
        if file == "GENERATO" {
            generated = Some(value.to_string());
            continue;
        }
        let rows = value.parse::<u64>().map_err(|_| format!("{MANIFEST} line {}: expected NAME;ROWS;", i + 1))?;
        if files.insert(file.clone(), rows).is_some() {
            return Err(format!("{MANIFEST} line {}: {file} is listed twice", i + 1));
        }
    }
    let generated = generated.ok_or_else(|| format!("{MANIFEST} has no GENERATO line: the manifest itself is truncated"))?;
    Ok((files, generated))
}

impl TableSet for Export {
    fn system(&self) -> SourceSystem {
        SourceSystem::SilPlus
    }

    fn tables(&self) -> Vec<String> {
        self.files.values().cloned().collect()
    }

    fn origin(&self) -> String {
        self.input.clone()
    }

    fn open(&self, table: &str) -> Result<Option<Box<dyn RowReader + '_>>, SourceError> {
        let Some(actual) = self.files.get(&table.to_uppercase()) else { return Ok(None) };
        let origin = self.origin_of(actual);
        let f = std::fs::File::open(self.dir.join(actual)).map_err(|e| SourceError::io(&origin, e))?;
        let t = CsvTable::new(BufReader::with_capacity(256 * 1024, f), &origin, &table.to_uppercase(), self.delimiter, self.encoding)?;
        Ok(Some(Box::new(t)))
    }

    fn check(&self, scans: &[Scan]) -> Result<(), SourceError> {
        for (file, &want) in &self.manifest {
            if !self.files.contains_key(file) {
                return Err(SourceError::refused(&self.input, format!("{file} is listed in {MANIFEST} ({want} rows) but missing: a truncated upload?")));
            }
            if let Some(s) = scans.iter().find(|s| s.table.eq_ignore_ascii_case(file))
                && s.rows != want
            {
                let hint = if s.rows < want { " (truncated, or a quote left open that swallowed the rows after it)" } else { "" };
                return Err(SourceError::refused(&self.input, format!("{file} holds {} rows, {MANIFEST} says {want}{hint}", s.rows)));
            }
        }
        for s in scans {
            if !self.manifest.contains_key(&s.table.to_uppercase()) {
                return Err(SourceError::refused(&self.input, format!("{} is not listed in {MANIFEST}", s.table)));
            }
        }
        Ok(())
    }
}
