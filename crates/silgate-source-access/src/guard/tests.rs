//! Hostile workbooks are refused by their rule before calamine sees them; real ones pass.
#![allow(clippy::unwrap_used)] // test fixtures: a failed setup step is a failed test

use super::*;
use std::io::{Cursor, Write};

fn zip(parts: &[(&str, &str)]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, body) in parts {
        w.start_file(*name, zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated)).unwrap();
        w.write_all(body.as_bytes()).unwrap();
    }
    w.finish().unwrap().into_inner()
}

fn sheet(cells: &str) -> String {
    format!(r#"<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>{cells}</sheetData></worksheet>"#)
}

fn rule<T>(r: Result<T, SourceError>) -> &'static str {
    match r {
        Ok(_) => "ok",
        Err(e) => e.as_code(),
    }
}

fn xlsx(cells: &str) -> Result<(), SourceError> {
    check_zip(Cursor::new(zip(&[("xl/worksheets/sheet1.xml", &sheet(cells))])), "t.xlsx", &Limits::default())
}

#[test]
fn given_a1_and_xfd1048576_the_sheet_should_be_refused_by_its_cell_count() {
    let far = r#"<row r="1"><c r="A1" t="n"><v>1</v></c></row><row r="1048576"><c r="XFD1048576" t="n"><v>2</v></c></row>"#;
    let e = xlsx(far).unwrap_err();
    assert_eq!(e.as_code(), "limit.sheet_cells");
    let text = e.to_string();
    assert!(text.contains("t.xlsx") && text.contains("xl/worksheets/sheet1.xml") && text.contains("1048576 rows x 16384 columns"), "{text}");
}

#[test]
fn given_rows_past_2_to_the_31_the_check_should_not_clamp_them_together() {
    // Found by the workbook_shapes fuzz target: both rows clamped to one looked like a
    // 1 x 10,000 sheet to an earlier check, and calamine asked for 2 billion rows.
    let r = xlsx(r#"<row r="4294963200"><c r="HDX4294963200" t="s"><v>0</v></c></row><row r="2147483648"><c r="K2147483648" t="inlineStr"><is><t>x</t></is></c></row>"#);
    assert_eq!(rule(r), "limit.sheet_cells");
    // A row's reference may carry a column, as calamine reads it.
    assert_eq!(rule(xlsx(r#"<row r="A1"><c><v>1</v></c></row><row r="A2000000000"><c><v>1</v></c><c><v>1</v></c></row>"#)), "limit.sheet_cells");
}

#[test]
fn given_the_shapes_a_review_found_calamine_reading_bigger_they_should_be_refused() {
    // A cell's r moves the column only: the next cell sits on the row's row.
    assert_eq!(rule(xlsx(r#"<row r="1048576"><c r="A1"><v>1</v></c><c r="XFC1"><v>1</v></c><c><v>1</v></c></row>"#)), "limit.sheet_cells");
    // calamine counts in u32 and wraps: a position at 2^32 - 1 or past it is refused.
    assert_eq!(rule(xlsx(r#"<row><c r="A4294967295"><v>1</v></c><c r="A4294967297"><v>1</v></c></row>"#)), "limit.sheet_cells");
    // Two r attributes (readers keep different ones) or a malformed one: refused.
    assert_eq!(rule(xlsx(r#"<row><c r="A1" r="XFD1048576"><v>1</v></c></row>"#)), "source.format");
    assert_eq!(rule(xlsx(r#"<row><c foo r="A1"><v>1</v></c></row>"#)), "source.format");
    // A nested sheetData does not start a new grid.
    assert_eq!(rule(xlsx(r#"<row r="1"><c r="A1"><v>1</v></c></row><x:sheetData><row r="1048576"><c r="XFD1048576"><v>1</v></c></row></x:sheetData>"#)), "limit.sheet_cells");
    // Many valued cells at one position are held one by one.
    let limits = Limits { max_sheet_cells: 100, ..Limits::default() };
    let same = format!("<row r=\"1\">{}</row>", "<c r=\"A1\"><v>1</v></c>".repeat(101));
    assert_eq!(rule(check_zip(Cursor::new(zip(&[("xl/worksheets/sheet1.xml", &sheet(&same))])), "t.xlsx", &limits)), "limit.sheet_cells");
    // Strings are counted as they come, not only as declared.
    let limits = Limits { max_shared_strings: 10, ..Limits::default() };
    let sst = format!(r#"<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="1" uniqueCount="1">{}</sst>"#, "<si><t/></si>".repeat(11));
    assert_eq!(rule(check_zip(Cursor::new(zip(&[("xl/sharedStrings.xml", &sst)])), "t.xlsx", &limits)), "limit.shared_strings");
}

#[test]
fn given_ods_cells_valued_by_any_attribute_or_with_huge_spaces_they_should_count() {
    let table = |cell: &str, rows: &str| {
        format!(
            r#"<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"><office:body><office:spreadsheet><table:table table:name="T"><table:table-row table:number-rows-repeated="{rows}">{cell}</table:table-row></table:table></office:spreadsheet></office:body></office:document-content>"#
        )
    };
    let ods = |c: String| rule(check_zip(Cursor::new(zip(&[("content.xml", &c)])), "t.ods", &Limits::default()));
    assert_eq!(ods(table(r#"<table:table-cell table:number-columns-repeated="16384" office:string-value="x"/>"#, "1048576")), "limit.sheet_cells");
    assert_eq!(ods(table(r#"<table:table-cell table:number-columns-repeated="16384" table:formula="of:=1"/>"#, "1048576")), "limit.sheet_cells");
    assert_eq!(ods(table(r#"<table:table-cell><text:p><text:s text:c="4000000000"/></text:p></table:table-cell>"#, "1")), "limit.cell_text");
    // A repeat a reader parses differently (`+6000`) is refused, not read as 1.
    assert_eq!(ods(table(r#"<table:table-cell office:value-type="float" office:value="1"/>"#, "+6000")), "source.format");
    // A cell before any row, and an element named table in another namespace: no panic, no reset.
    assert_eq!(ods(table(r#"<x:table xmlns:x="urn:x"></x:table><table:table-cell table:number-columns-repeated="16384" office:value="1"/>"#, "1048576")), "limit.sheet_cells");
}

#[test]
fn given_xls_string_records_and_mulrk_they_should_be_placed_as_calamine_places_them() {
    // A String record before any formula lands at (0, 0).
    assert_eq!(xls_rule(&[(0x0207, vec![1, 0, 0, b'x']), number_cell(65_535, 65_535)]), "limit.sheet_cells");
    // MulRk spans as many columns as its values, whatever its last field says.
    let values = 300u16;
    let mulrk = (0x00BD, [0u16.to_le_bytes().to_vec(), 0u16.to_le_bytes().to_vec(), vec![0; 6 * values as usize], 1u16.to_le_bytes().to_vec()].concat());
    assert_eq!(xls_rule(&[mulrk, number_cell(60_000, 0)]), "limit.sheet_cells");
}

#[test]
fn given_styled_empty_cells_far_away_the_sheet_should_pass() {
    // Formatting a whole row writes empty cells to XFD: calamine keeps no grid for them.
    assert_eq!(rule(xlsx(r#"<row r="1"><c r="A1"><v>1</v></c><c r="XFD1" s="3"/></row><row r="1048576"><c r="B1048576" s="1"></c></row>"#)), "ok");
}

#[test]
fn given_cells_without_references_the_position_should_follow_the_rows() {
    // 300 cells in one row, then the same width 60,000 rows down: 60,000 x 300 > 2^24.
    let row = |r: u32| format!("<row r=\"{r}\">{}</row>", "<c><v>1</v></c>".repeat(300));
    assert_eq!(rule(xlsx(&format!("{}{}", row(1), row(60_000)))), "limit.sheet_cells");
    assert_eq!(rule(xlsx(&format!("{}{}", row(1), row(50_000)))), "ok");
}

#[test]
fn given_a_huge_shared_string_count_the_workbook_should_be_refused() {
    let sst = r#"<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="1" uniqueCount="4000000000"><si><t>a</t></si></sst>"#;
    let r = check_zip(Cursor::new(zip(&[("xl/sharedStrings.xml", sst)])), "t.xlsx", &Limits::default());
    assert_eq!(rule(r), "limit.shared_strings");
}

#[test]
fn given_a_part_inflating_past_the_limit_the_workbook_should_be_refused() {
    let limits = Limits { max_workbook_part_bytes: 10_000, ..Limits::default() };
    let big = sheet(&format!("<row r=\"1\"><c r=\"A1\" t=\"inlineStr\"><is><t>{}</t></is></c></row>", "x".repeat(20_000)));
    let r = check_zip(Cursor::new(zip(&[("xl/worksheets/sheet1.xml", &big)])), "t.xlsx", &limits);
    assert_eq!(rule(r), "limit.workbook_part_bytes");
}

#[test]
fn given_an_ods_row_and_cell_repeated_across_the_grid_it_should_be_refused() {
    let content = r#"<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"><office:body><office:spreadsheet><table:table table:name="Offerte"><table:table-row table:number-rows-repeated="1048576"><table:table-cell table:number-columns-repeated="16384" office:value-type="float" office:value="1"/></table:table-row></table:table></office:spreadsheet></office:body></office:document-content>"#;
    let r = check_zip(Cursor::new(zip(&[("content.xml", content)])), "t.ods", &Limits::default());
    assert_eq!(rule(r), "limit.sheet_cells");
    // Text content counts as a value too; a small table passes.
    let small = content.replace("1048576", "3").replace("16384\" office:value-type=\"float\" office:value=\"1\"/>", "2\"><text:p>x</text:p></table:table-cell>");
    assert_eq!(rule(check_zip(Cursor::new(zip(&[("content.xml", &small)])), "t.ods", &Limits::default())), "ok");
    let text_far =
        small.replace("table:number-rows-repeated=\"3\"", "table:number-rows-repeated=\"1048576\"").replace("number-columns-repeated=\"2\"", "number-columns-repeated=\"1000\"");
    assert_eq!(rule(check_zip(Cursor::new(zip(&[("content.xml", &text_far)])), "t.ods", &Limits::default())), "limit.sheet_cells");
}

/// BIFF records: (type, data).
fn biff(records: &[(u16, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (t, d) in records {
        out.extend_from_slice(&t.to_le_bytes());
        out.extend_from_slice(&u16::try_from(d.len()).unwrap().to_le_bytes());
        out.extend_from_slice(d);
    }
    out
}

/// An .xls compound file: globals with one BOUNDSHEET, then the sheet's records.
fn xls(sheet: &[(u16, Vec<u8>)]) -> Vec<u8> {
    xls_with(&[], sheet)
}

/// [`xls`] with more records in the globals (an SST, a CODEPAGE).
fn xls_with(extra: &[(u16, Vec<u8>)], sheet: &[(u16, Vec<u8>)]) -> Vec<u8> {
    // Past the mini-stream cutoff or not, the compound file reader finds it.
    let mut c = cfb::CompoundFile::create(Cursor::new(Vec::new())).unwrap();
    c.create_stream("/Workbook").unwrap().write_all(&xls_stream(b'S', extra, sheet)).unwrap();
    c.flush().unwrap();
    c.into_inner().into_inner()
}

/// A workbook stream: globals naming one sheet `name` (and `extra`), then its records.
fn xls_stream(name: u8, extra: &[(u16, Vec<u8>)], sheet: &[(u16, Vec<u8>)]) -> Vec<u8> {
    let bof = (0x0809, vec![0x00, 0x06, 0x05, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    let globals = |off: u32| {
        let mut g = vec![bof.clone(), (0x0085, [off.to_le_bytes().to_vec(), vec![0, 0, 1, 0, name]].concat())];
        g.extend_from_slice(extra);
        g.push((0x000A, vec![]));
        biff(&g)
    };
    let off = u32::try_from(globals(0).len()).unwrap();
    let mut stream = globals(off);
    let mut records = vec![bof];
    records.extend_from_slice(sheet);
    records.push((0x000A, vec![]));
    stream.extend(biff(&records));
    stream
}

#[test]
fn given_an_xls_with_a_second_workbook_entry_outside_the_tree_calamine_reads_only_the_checked_one() {
    // Entry 1 ("Aaaa", a book whose sheet is H) and entry 2 ("Workbook", sheet S).
    let mut c = cfb::CompoundFile::create(Cursor::new(Vec::new())).unwrap();
    c.create_stream("/Aaaa").unwrap().write_all(&xls_stream(b'H', &[], &[number_cell(0, 0)])).unwrap();
    c.create_stream("/Workbook").unwrap().write_all(&xls_stream(b'S', &[], &[number_cell(0, 0)])).unwrap();
    c.flush().unwrap();
    let mut file = c.into_inner().into_inner();
    // Entry 1 renamed "Workbook" and cut out of the tree: the root's child is entry 2,
    // alone. A reader of the tree finds entry 2; calamine, which takes the first entry
    // of that name in the directory's order, would find entry 1.
    let shift = u32::from_le_bytes(file[30..32].try_into().map(|b: [u8; 2]| [b[0], b[1], 0, 0]).unwrap());
    let sector = 1usize << shift;
    let dir_start = u32::from_le_bytes(file[48..52].try_into().unwrap()) as usize;
    let entry = |i: usize| (dir_start + 1) * sector + 128 * i;
    let none = u32::MAX.to_le_bytes();
    let (root, one, two) = (entry(0), entry(1), entry(2));
    let name: Vec<u8> = "Workbook".encode_utf16().chain([0]).flat_map(u16::to_le_bytes).collect();
    assert_eq!(&file[two..two + name.len()], &name[..], "entry 2 is the Workbook stream");
    file[one..one + 64].fill(0);
    file[one..one + name.len()].copy_from_slice(&name);
    file[one + 64..one + 66].copy_from_slice(&u16::try_from(name.len()).unwrap().to_le_bytes());
    for at in [one + 68, one + 72, one + 76, two + 68, two + 72] {
        file[at..at + 4].copy_from_slice(&none);
    }
    file[two + 67] = 1; // black
    file[root + 76..root + 80].copy_from_slice(&2u32.to_le_bytes());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("two.xls");
    std::fs::write(&path, &file).unwrap();
    // Unpatched, calamine reads the stream the check never saw.
    let raw: calamine::Xls<_> = calamine::open_workbook(&path).unwrap();
    assert_eq!(calamine::Reader::sheet_names(&raw), vec!["H".to_string()]);
    let book = crate::Workbook::open(&path, "two.xls", &Limits::default()).unwrap();
    assert_eq!(book.sheets, vec!["S".to_string()], "calamine read the checked stream");
}

fn dims(rf: u32, rl: u32, cf: u16, cl: u16) -> (u16, Vec<u8>) {
    (0x0200, [rf.to_le_bytes().to_vec(), rl.to_le_bytes().to_vec(), cf.to_le_bytes().to_vec(), cl.to_le_bytes().to_vec(), vec![0, 0]].concat())
}

fn number_cell(r: u16, c: u16) -> (u16, Vec<u8>) {
    (0x0203, [r.to_le_bytes().to_vec(), c.to_le_bytes().to_vec(), vec![0, 0], 1f64.to_le_bytes().to_vec()].concat())
}

fn xls_rule(sheet: &[(u16, Vec<u8>)]) -> &'static str {
    rule(check_xls(Cursor::new(xls(sheet)), "t.xls", &Limits::default()))
}

#[test]
fn given_xls_dimensions_past_the_limit_it_should_be_refused() {
    assert_eq!(xls_rule(&[dims(0, 4_000_000_000, 0, 255)]), "limit.sheet_cells");
    // The last row before the first wraps in calamine's arithmetic: refused too.
    assert_eq!(xls_rule(&[dims(10, 2, 0, 4)]), "limit.sheet_cells");
    assert_eq!(xls_rule(&[dims(0, 100, 0, 4), number_cell(0, 0), number_cell(99, 3)]), "ok");
}

#[test]
fn given_xls_cells_spanning_past_the_limit_it_should_be_refused() {
    assert_eq!(xls_rule(&[number_cell(0, 0), number_cell(65_535, 65_535)]), "limit.sheet_cells");
}

#[test]
fn given_the_repository_s_workbooks_they_should_pass() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/access");
    for name in ["export.xlsx", "regression-calamine-overflow.xlsx"] {
        let r = check(&dir.join(name), name, "xlsx", &Limits::default());
        assert!(matches!(r, Ok(_) | Err(SourceError::Format { .. })), "{name}: {:?}", r.err());
    }
    assert_eq!(rule(check(&dir.join("export.xlsx"), "export.xlsx", "xlsx", &Limits::default())), "ok");
}

#[test]
fn given_cell_references_they_should_parse_as_calamine_places_them() {
    assert_eq!(cell_ref(b"A1"), Some((0, 0)));
    assert_eq!(cell_ref(b"XFD1048576"), Some((1_048_575, 16_383)));
    assert_eq!(cell_ref(b"a2"), Some((1, 0)));
    assert_eq!(cell_ref(b"A0"), None);
    assert_eq!(cell_ref(b"12"), None);
    assert!(cell_ref(b"ZZZZZZZZZZZZZZZ99999999999999999999").is_some_and(|(r, c)| r < FAR && c < FAR));
}

#[test]
fn given_one_long_shared_string_named_by_many_cells_the_sheet_should_be_refused_by_its_text() {
    // 30,000 bytes copied into each of 5,000 cells: 150 MB of text from a tiny file.
    let long = "x".repeat(30_000);
    let sst = format!(
        r#"<?xml version="1.0"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="5001" uniqueCount="2"><si><t>short</t></si><si><t>{long}</t></si></sst>"#
    );
    let cells: String = (1..=5_000).map(|r| format!(r#"<row r="{r}"><c r="A{r}" t="s"><v>1</v></c></row>"#)).collect();
    let limits = Limits { max_sheet_text_bytes: 100 << 20, ..Limits::default() };
    // The sheet before the shared strings in the zip: the lengths are read first.
    let book = zip(&[("xl/worksheets/sheet1.xml", &sheet(&cells)), ("xl/sharedStrings.xml", &sst)]);
    let e = check_zip(Cursor::new(book), "t.xlsx", &limits).unwrap_err();
    assert_eq!(e.as_code(), "limit.sheet_text_bytes", "{e}");
    assert!(e.to_string().contains("xl/worksheets/sheet1.xml"), "{e}");
    // The same cells naming the short string pass; so does the long one named a few times.
    let short: String = (1..=5_000).map(|r| format!(r#"<row r="{r}"><c r="A{r}" t="s"><v>0</v></c></row>"#)).collect();
    let book = zip(&[("xl/sharedStrings.xml", &sst), ("xl/worksheets/sheet1.xml", &sheet(&short))]);
    assert_eq!(rule(check_zip(Cursor::new(book), "t.xlsx", &limits)), "ok");
    let few: String = (1..=100).map(|r| format!(r#"<row r="{r}"><c r="A{r}" t="s"><v>1</v></c></row>"#)).collect();
    let book = zip(&[("xl/sharedStrings.xml", &sst), ("xl/worksheets/sheet1.xml", &sheet(&few))]);
    assert_eq!(rule(check_zip(Cursor::new(book), "t.xlsx", &limits)), "ok");
}

#[test]
fn given_an_ods_cell_with_long_text_repeated_across_columns_and_rows_it_should_be_refused_by_its_text() {
    let text = "y".repeat(10_000);
    let content = |cols: u32, rows: u32| {
        format!(
            r#"<?xml version="1.0"?><office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"><office:body><office:spreadsheet><table:table table:name="T"><table:table-row table:number-rows-repeated="{rows}"><table:table-cell table:number-columns-repeated="{cols}" office:value-type="string"><text:p>{text}</text:p></table:table-cell></table:table-row></table:table></office:spreadsheet></office:body></office:document-content>"#
        )
    };
    let limits = Limits { max_sheet_text_bytes: 100 << 20, ..Limits::default() };
    // 10,000 bytes x 200 columns x 100 rows = 200 MB.
    let e = check_zip(Cursor::new(zip(&[("content.xml", &content(200, 100))])), "t.ods", &limits).unwrap_err();
    assert_eq!(e.as_code(), "limit.sheet_text_bytes", "{e}");
    assert_eq!(rule(check_zip(Cursor::new(zip(&[("content.xml", &content(20, 10))])), "t.ods", &limits)), "ok");
}

/// An SST record's data: the counts, then each string compressed (one byte a character).
fn sst(strings: &[&str]) -> Vec<u8> {
    let mut d = [u32::try_from(strings.len()).unwrap().to_le_bytes(), u32::try_from(strings.len()).unwrap().to_le_bytes()].concat();
    for s in strings {
        d.extend_from_slice(&u16::try_from(s.len()).unwrap().to_le_bytes());
        d.push(0);
        d.extend_from_slice(s.as_bytes());
    }
    d
}

fn label_sst(r: u16, index: u32) -> (u16, Vec<u8>) {
    (0x00FD, [r.to_le_bytes().to_vec(), 0u16.to_le_bytes().to_vec(), vec![0, 0], index.to_le_bytes().to_vec()].concat())
}

#[test]
fn given_an_xls_shared_string_named_by_many_cells_the_sheet_should_be_refused_by_its_text() {
    let long = "x".repeat(30_000);
    let limits = Limits { max_sheet_text_bytes: 100 << 20, ..Limits::default() };
    let check = |index: u32, cells: u16| {
        let sheet: Vec<(u16, Vec<u8>)> = (0..cells).map(|r| label_sst(r, index)).collect();
        rule(check_xls(Cursor::new(xls_with(&[(0x00FC, sst(&["a", &long]))], &sheet)), "t.xls", &limits))
    };
    // 30,000 characters (up to 90,000 bytes) in each of 5,000 cells: past 100 MiB.
    assert_eq!(check(1, 5_000), "limit.sheet_text_bytes");
    assert_eq!(check(0, 5_000), "ok");
    assert_eq!(check(1, 100), "ok");
    // A double-byte code page is not walked: refused.
    let cjk = check_xls(Cursor::new(xls_with(&[(0x0042, 932u16.to_le_bytes().to_vec())], &[])), "t.xls", &limits);
    assert_eq!(rule(cjk), "source.format");
}

#[test]
fn given_sst_strings_split_across_continue_records_their_lengths_should_be_read_as_calamine_reads_them() {
    let limits = Limits::default();
    let mut walk = SstWalk::default();
    // "abc" whole; then a 6-character string with rich-text runs (1 run, 4 bytes) and a
    // phonetic block (2 bytes), cut after 2 characters; the CONTINUE restarts the
    // characters with a flags byte saying two bytes a character; then a third string.
    let mut first = [2u32.to_le_bytes(), 3u32.to_le_bytes()].concat();
    first.extend_from_slice(&[3, 0, 0, b'a', b'b', b'c']);
    first.extend_from_slice(&[6, 0, 0x0C, 1, 0, 2, 0, 0, 0, b'd', b'e']);
    walk.segment(&first, true, "t.xls", &limits).unwrap();
    let mut cont = vec![1u8];
    cont.extend_from_slice(&[b'f', 0, b'g', 0, b'h', 0, b'i', 0]);
    cont.extend_from_slice(&[9, 9, 9, 9, 7, 7]);
    cont.extend_from_slice(&[1, 0, 0, b'z']);
    walk.segment(&cont, false, "t.xls", &limits).unwrap();
    assert_eq!(walk.lens, [9, 18, 3], "three bytes a character, each string whole");
    assert!(!walk.done);
}
