//! Fuzz target, structure-aware: workbooks whose shapes bytes alone never reach (cells
//! at any reference up to past XFD1048576, rows and columns repeated across the grid,
//! declared shared-string counts and .xls DIMENSIONS of any size), built as .xlsx, .ods
//! or .xls from the input, then the adapter's check and, when it passes, calamine on
//! every sheet. Under libFuzzer's malloc limit, an allocation the check should have
//! refused is a crash; so is a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use silgate_source_access::{Container, check_workbook};
use silgate_source_tabular::Limits;
use std::io::{Cursor, Write};

/// Small enough that calamine's grid stays under a few hundred MiB when the check
/// passes.
const LIMITS: Limits = Limits { max_index_rows: 1 << 16, max_sheet_cells: 1 << 22, max_shared_strings: 1 << 20, max_workbook_part_bytes: 16 << 20, max_sheet_text_bytes: 64 << 20, max_xml_event_bytes: 1 << 20, max_line_bytes: 1 << 20, max_unfinished_reads: 3 };

/// One cell the input asks for.
struct Cell {
    row: u32,
    col: u32,
    flags: u8,
}

fn cells(data: &[u8]) -> Vec<Cell> {
    data.chunks_exact(7)
        .take(256)
        .map(|c| {
            let row = u32::from_le_bytes([c[0], c[1], c[2], 0]).wrapping_mul(if c[6] & 0x80 != 0 { 4096 } else { 1 });
            let col = u32::from(u16::from_le_bytes([c[3], c[4]]));
            Cell { row, col: col % 20_000, flags: c[5] ^ c[6] }
        })
        .collect()
}

fn col_name(mut c: u32) -> String {
    let mut s = Vec::new();
    c += 1;
    while c > 0 {
        s.push(b'A' + ((c - 1) % 26) as u8);
        c = (c - 1) / 26;
    }
    s.reverse();
    String::from_utf8(s).unwrap_or_default()
}

fn zip(parts: &[(&str, String)]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, body) in parts {
        if w.start_file(*name, zip::write::SimpleFileOptions::default()).is_err() || w.write_all(body.as_bytes()).is_err() {
            return Vec::new();
        }
    }
    w.finish().map(Cursor::into_inner).unwrap_or_default()
}

const RELS: &str = r#"<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#;
const WB: &str = r#"<?xml version="1.0"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Richieste" sheetId="1" r:id="rId1"/></sheets></workbook>"#;
const WB_RELS: &str = r#"<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>"#;
const CT: &str = r#"<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/><Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>"#;

fn xlsx(count: u64, cells: &[Cell]) -> Vec<u8> {
    let mut sheet = String::from(r#"<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>"#);
    for c in cells {
        let r = if c.flags & 1 != 0 { format!(r#" r="{}{}""#, col_name(c.col), c.row) } else { String::new() };
        let value = match c.flags >> 1 & 3 {
            0 => String::new(),
            1 => "<v>1</v>".into(),
            2 => r#"<is><t>x</t></is>"#.into(),
            _ => "<v>0</v>".into(),
        };
        let kind = if c.flags >> 1 & 3 == 2 { r#" t="inlineStr""# } else if c.flags >> 1 & 3 == 3 { r#" t="s""# } else { "" };
        sheet.push_str(&format!(r#"<row r="{}"><c{r}{kind}>{value}</c></row>"#, c.row));
    }
    sheet.push_str("</sheetData></worksheet>");
    let sst = format!(r#"<?xml version="1.0"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="{count}" uniqueCount="{count}"><si><t>a</t></si></sst>"#);
    zip(&[
        ("[Content_Types].xml", CT.into()),
        ("_rels/.rels", RELS.into()),
        ("xl/workbook.xml", WB.into()),
        ("xl/_rels/workbook.xml.rels", WB_RELS.into()),
        ("xl/sharedStrings.xml", sst),
        ("xl/worksheets/sheet1.xml", sheet),
    ])
}

fn ods(cells: &[Cell]) -> Vec<u8> {
    let mut body = String::from(
        r#"<?xml version="1.0"?><office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"><office:body><office:spreadsheet><table:table table:name="Richieste">"#,
    );
    for c in cells {
        let value = if c.flags & 2 != 0 { r#" office:value-type="float" office:value="1""# } else { "" };
        let content = if c.flags & 4 != 0 { "<text:p>x</text:p>" } else { "" };
        body.push_str(&format!(
            r#"<table:table-row table:number-rows-repeated="{}"><table:table-cell table:number-columns-repeated="{}"/><table:table-cell{value}>{content}</table:table-cell></table:table-row>"#,
            c.row.max(1),
            c.col.max(1)
        ));
    }
    body.push_str("</table:table></office:spreadsheet></office:body></office:document-content>");
    zip(&[("mimetype", "application/vnd.oasis.opendocument.spreadsheet".into()), ("content.xml", body)])
}

fn record(out: &mut Vec<u8>, typ: u16, data: &[u8]) {
    out.extend_from_slice(&typ.to_le_bytes());
    out.extend_from_slice(&(data.len() as u16).to_le_bytes());
    out.extend_from_slice(data);
}

fn xls(dims: [u8; 12], cells: &[Cell]) -> Vec<u8> {
    let bof = [0x00, 0x06, 0x05, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    // The globals: BOF (4 + 16), BOUNDSHEET (4 + 17), EOF (4); then the sheet.
    let sheet_at: u32 = 20 + 21 + 4;
    let mut s = Vec::new();
    record(&mut s, 0x0809, &bof);
    record(&mut s, 0x0085, &[&sheet_at.to_le_bytes()[..], &[0, 0, 9, 0], b"Richieste"].concat());
    record(&mut s, 0x000A, &[]);
    record(&mut s, 0x0809, &bof);
    record(&mut s, 0x0200, &[&dims[..], &[0, 0]].concat());
    for c in cells {
        let (r, col) = ((c.row & 0xFFFF) as u16, (c.col & 0xFFFF) as u16);
        record(&mut s, 0x0203, &[&r.to_le_bytes()[..], &col.to_le_bytes(), &[0, 0], &1f64.to_le_bytes()].concat());
    }
    record(&mut s, 0x000A, &[]);
    let Ok(mut c) = cfb::CompoundFile::create(Cursor::new(Vec::new())) else { return Vec::new() };
    let written = c.create_stream("/Workbook").and_then(|mut st| st.write_all(&s));
    if written.is_err() || c.flush().is_err() {
        return Vec::new();
    }
    c.into_inner().into_inner()
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 14 {
        return;
    }
    let (head, rest) = data.split_at(14);
    let cells = cells(rest);
    let (bytes, container) = match head[0] % 3 {
        0 => (xlsx(u64::from_le_bytes([head[1], head[2], head[3], head[4], head[5], 0, 0, 0]), &cells), Container::Zip),
        1 => (ods(&cells), Container::Zip),
        _ => (xls(head[2..14].try_into().unwrap_or([0; 12]), &cells), Container::Xls),
    };
    let Ok(copy) = check_workbook(Cursor::new(&bytes), container, "fuzz", &LIMITS) else {
        return;
    };
    // Passed: calamine must then stay within what was checked, reading what silgate
    // gives it (the bytes of a zip, the checked copy of an .xls).
    if let Ok(mut book) = calamine::open_workbook_auto_from_rs(Cursor::new(copy.unwrap_or(bytes))) {
        use calamine::Reader;
        for name in book.sheet_names().into_iter().take(4) {
            let _ = book.worksheet_range(&name);
        }
    }
});
