//! Fuzz target: an Access database (jetdb) and an Excel workbook (calamine) on arbitrary
//! bytes, through the adapter's value conversion and its workbook size check. It must
//! never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::io::Cursor;

fuzz_target!(|data: &[u8]| {
    if let Ok(mut r) = jetdb::PageReader::open_reader(Cursor::new(data.to_vec())) {
        if let Ok(catalog) = jetdb::read_catalog(&mut r) {
            for e in catalog.iter().take(8) {
                if let Ok(def) = jetdb::read_table_def(&mut r, &e.name, e.table_page) {
                    let calc = std::collections::HashMap::new();
                    let mut rows = jetdb::TableRows::new(&def, &calc);
                    for _ in 0..256 {
                        match rows.next_row(&mut r) {
                            Ok(Some(row)) => {
                                for v in row.values {
                                    let _ = silgate_source_access::jet_cell(v);
                                }
                            }
                            _ => break,
                        }
                    }
                }
            }
        }
    }
    // A workbook reaches calamine only past the adapter's size check, as in silgate.
    let container = if data.starts_with(b"PK") { silgate_source_access::Container::Zip } else { silgate_source_access::Container::Xls };
    let Ok(copy) = silgate_source_access::check_workbook(Cursor::new(data), container, "fuzz", &silgate_source_tabular::Limits::default()) else {
        return;
    };
    // What silgate gives calamine: the bytes of a zip, the checked copy of an .xls.
    if let Ok(mut book) = calamine::open_workbook_auto_from_rs(Cursor::new(copy.unwrap_or_else(|| data.to_vec()))) {
        use calamine::Reader;
        for name in book.sheet_names().into_iter().take(8) {
            let _ = book.worksheet_range(&name);
        }
    }
});
