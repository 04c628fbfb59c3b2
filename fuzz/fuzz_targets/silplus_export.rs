//! Fuzz target: a SIL Plus export on arbitrary bytes. The input is split at 0x1E bytes
//! into the manifest and the seven entity files; the files go through the real CSV
//! reader (Windows-1252, quoting), the scan, the manifest check, both joins and the
//! mapping. It must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use silgate_core::source::SourceError;
use silgate_core::{Source, SourceSystem};
use silgate_source_tabular::csv::{CsvTable, Encoding};
use silgate_source_tabular::engine::{RowReader, TableSet};
use silgate_source_tabular::{Entity, Limits, Mapping, Tabular};
use std::ops::ControlFlow;

struct Parts(Vec<Vec<u8>>);

impl TableSet for Parts {
    fn system(&self) -> SourceSystem {
        SourceSystem::SilPlus
    }
    fn open(&self, table: &str) -> Result<Option<Box<dyn RowReader + '_>>, SourceError> {
        let Some(i) = Entity::ALL.iter().position(|e| format!("{}.CSV", e.name()) == table) else { return Ok(None) };
        match self.0.get(i + 1) {
            Some(bytes) => Ok(Some(Box::new(CsvTable::new(&bytes[..], table, table, b';', Encoding::Windows1252)?))),
            None => Ok(None),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let parts: Vec<Vec<u8>> = data.split(|b| *b == 0x1e).map(<[u8]>::to_vec).collect();
    let _ = silgate_source_silplus::parse_manifest(&parts[0]);
    // A small index limit makes the unsorted path's refusal reachable too.
    let mut src = Tabular::new(Parts(parts), Mapping::silplus(), Limits { max_index_rows: 64, ..Limits::default() });
    let _ = src.read(&mut |_| ControlFlow::Continue(()));
});
