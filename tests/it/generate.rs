//! The tests' own generators of source inputs: one set of people, employers and
//! vacancies written as a SIL Plus export, Campania's Access CSV exports and workbook,
//! and a Sintesi feed; plus broken inputs, each with the quarantine line it must give.
//!
//! `SILGATE_BLESS=1 cargo nextest run fixtures` rewrites tests/fixtures/{silplus,
//! access,sintesi}; otherwise a test checks the committed fixtures are what the
//! generators write.
#![allow(clippy::unwrap_used)]

pub(crate) use silgate_source_tabular::Entity;
use silgate_source_tabular::Mapping;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

/// One value, typed the way Access and Excel type it; CSV writes text.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Val {
    S(String),
    /// Raw bytes written as they are (a broken encoding byte).
    Bytes(Vec<u8>),
    Date(u16, u8, u8),
    DateTime(u16, u8, u8, u8, u8),
    Bool(bool),
    Num(f64),
    Empty,
}

fn s(v: impl Into<String>) -> Val {
    Val::S(v.into())
}

/// Rows per logical table, in SIL Plus column order.
pub(crate) type Tables = BTreeMap<Entity, Vec<Vec<Val>>>;

const SURNAMES: [&str; 8] = ["Esposito", "Russo", "Citrà", "Colombo", "D'Angelo", "Marino", "Greco", "Bruno"];
const NAMES: [(&str, char); 6] = [("Gennaro", 'M'), ("Giulia", 'F'), ("Niccolò", 'M'), ("Maria", 'F'), ("Salvatore", 'M'), ("Rosa", 'F')];
const PLACES: [&str; 4] = ["F839", "A662", "G273", "C352"];
pub(crate) const CPI: &str = "CPI160601";

fn letters(word: &str) -> String {
    let up: String = word.to_uppercase().chars().filter(char::is_ascii_alphabetic).collect();
    let mut out: String = up.chars().filter(|c| !"AEIOU".contains(*c)).chain(up.chars().filter(|c| "AEIOU".contains(*c))).take(3).collect();
    while out.len() < 3 {
        out.push('X');
    }
    out
}

/// A codice fiscale coherent with sex, birth date and place, with its check character.
pub(crate) fn fiscal_code(surname: &str, name: &str, sex: char, (y, m, d): (u16, u8, u8), place: &str) -> String {
    let day = if sex == 'F' { d + 40 } else { d };
    let month = b"ABCDEHLMPRST"[usize::from(m - 1)] as char;
    let first15 = format!("{}{}{:02}{month}{day:02}{place}", letters(surname), letters(name), y % 100);
    let check = silgate_codes::cf::check_char(first15.as_bytes()).unwrap();
    format!("{first15}{check}")
}

fn piva(n: u32) -> String {
    let first10 = format!("0{n:09}");
    let check = silgate_codes::piva::check_digit(first10.as_bytes()).unwrap();
    format!("{first10}{check}")
}

/// The worker `i` (1-based): every shape by `i` (children 0..2, quoted fields with the
/// delimiter and line breaks, accented names, closed workers, missing phone).
pub(crate) fn worker(i: u32) -> (Vec<Val>, Vec<(Entity, Vec<Val>)>) {
    let id = i * 10;
    let surname = SURNAMES[i as usize % SURNAMES.len()];
    let (name, sex) = NAMES[i as usize % NAMES.len()];
    let birth = (1960 + (i % 40) as u16, 1 + (i % 12) as u8, 1 + (i % 28) as u8);
    let place = PLACES[i as usize % PLACES.len()];
    let street = if i.is_multiple_of(3) { format!("Via Roma {i}; scala B\r\ninterno \"2\"") } else { format!("Via Roma {i}") };
    let row = vec![
        Val::Num(f64::from(id)),
        s(fiscal_code(surname, name, sex, birth, place)),
        s(surname),
        s(name),
        s(sex.to_string()),
        Val::Date(birth.0, birth.1, birth.2),
        s(place),
        s("000"),
        s(place),
        s("80100"),
        s(street),
        if i.is_multiple_of(2) { s(format!("081{i:07}")) } else { Val::Empty },
        s(format!("333{i:07}")),
        s(format!("p{i}@example.it")),
        s(CPI),
        Val::DateTime(2026, 10, 1 + (i % 28) as u8, 9, (i % 60) as u8),
        s(if i.is_multiple_of(7) { "C" } else { "A" }),
    ];
    let idv = || Val::Num(f64::from(id));
    let mut kids = Vec::new();
    for k in 0..i % 3 {
        kids.push((
            Entity::Esperienze,
            vec![
                idv(),
                Val::Date(2010 + k as u16, 2, 1),
                if k == 0 { Val::Date(2014, 6, 30) } else { Val::Empty },
                s("A.02.00"),
                s("51220-1"),
                s("Addetto alle vendite"),
                s("Supermercati del Sud srl"),
                s("Cassa; scaffali"),
            ],
        ));
    }
    if i % 2 == 1 {
        kids.push((Entity::Titoli, vec![idv(), s("40"), s("Diploma di ragioneria"), s("80/100")]));
    }
    for (k, lang) in ["ENG", "SPA"].iter().enumerate().take((i % 3) as usize) {
        kids.push((Entity::Lingue, vec![idv(), s(*lang), s(if k == 0 { "B2" } else { "A2" }), s("B1"), s("B2")]));
    }
    for k in 0..1 + i % 2 {
        kids.push((
            Entity::Disponibilita,
            vec![idv(), s("51220-1"), s("Addetto alle vendite"), s(if k == 0 { "F" } else { "P" }), s(if k == 0 { "A.01.00" } else { "A.02.00" }), Val::Bool(k == 0)],
        ));
    }
    (row, kids)
}

pub(crate) fn company(c: u32, ateco: &str) -> Vec<Val> {
    vec![
        Val::Num(f64::from(c)),
        s(piva(c)),
        s(format!("Ditta {c} srl")),
        s(ateco),
        s("F839"),
        s("80100"),
        s(format!("Corso Umberto {c}")),
        s(format!("ditta{c}@example.it")),
        s(format!("081555{c:04}")),
    ]
}

pub(crate) fn job(j: u32, az: u32, qual: &str) -> Vec<Val> {
    let state = if j.is_multiple_of(5) {
        "C"
    } else if j.is_multiple_of(6) {
        "R"
    } else {
        "A"
    };
    vec![
        s(format!("2026/{j}")),
        Val::Num(f64::from(az)),
        s(CPI),
        Val::DateTime(2026, 11, 1 + (j % 20) as u8, 10, 0),
        Val::Date(2027, 1, 31),
        Val::Num(f64::from(1 + j % 3)),
        s(qual),
        s("Commesso"),
        s(format!("Vendita al banco; turni\r\nsu sei giorni ({j})")),
        s("F839"),
        s("A.02.00"),
        s("F"),
        s(state),
        Val::Num(18_000.0 + f64::from(j)),
    ]
}

/// `people` workers and `jobs` vacancies over three employers.
pub(crate) fn valid(people: u32, jobs: u32) -> Tables {
    let mut t = Tables::new();
    for e in Entity::ALL {
        t.insert(e, Vec::new());
    }
    for i in 1..=people {
        let (row, kids) = worker(i);
        t.get_mut(&Entity::Lavoratori).unwrap().push(row);
        for (e, r) in kids {
            t.get_mut(&e).unwrap().push(r);
        }
    }
    for c in 1..=3 {
        t.get_mut(&Entity::Aziende).unwrap().push(company(c, if c % 2 == 0 { "56.10.11" } else { "471140" }));
    }
    for j in 1..=jobs {
        t.get_mut(&Entity::Richieste).unwrap().push(job(j, 1 + j % 3, "51220-1"));
    }
    t
}

/// The expected quarantine line of a broken row: (table, row index in that table, field, rule).
pub(crate) type Expect = (Entity, usize, String, String);

/// Valid data plus one broken thing of each kind, and what each must give.
pub(crate) fn broken() -> (Tables, Vec<Expect>) {
    let mut t = valid(6, 4);
    let mut want = Vec::new();
    let lav = |t: &Tables| t[&Entity::Lavoratori].len();
    let add_worker = |t: &mut Tables, i: u32, edit: &dyn Fn(&mut Vec<Val>)| {
        let (mut row, kids) = worker(i);
        edit(&mut row);
        t.get_mut(&Entity::Lavoratori).unwrap().push(row);
        for (e, r) in kids {
            t.get_mut(&e).unwrap().push(r);
        }
    };
    let e = |f: &str, r: &str| (f.to_string(), r.to_string());
    let at = lav(&t);
    add_worker(&mut t, 901, &|r| r[2] = Val::Bytes(b"Espo\x81ito".to_vec()));
    let (f, r) = e("LAVORATORI.CSV/COGNOME", "encoding.windows-1252");
    want.push((Entity::Lavoratori, at, f, r));
    add_worker(&mut t, 902, &|r| {
        if let Val::S(cf) = &mut r[1] {
            let last = if cf.ends_with('A') { 'B' } else { 'A' };
            cf.pop();
            cf.push(last);
        }
    });
    let (f, r) = e("/Candidatura/Lavoratore/DatiAnagrafici/codicefiscale", "cf.checksum");
    want.push((Entity::Lavoratori, at + 1, f, r));
    add_worker(&mut t, 903, &|r| r[5] = s("31/02/1990"));
    let (f, r) = e("LAVORATORI.CSV/DT_NASC", "field.date");
    want.push((Entity::Lavoratori, at + 2, f, r));
    add_worker(&mut t, 904, &|r| r.truncate(15));
    want.push((Entity::Lavoratori, at + 3, "LAVORATORI.CSV/line *".into(), "row.columns".into()));
    add_worker(&mut t, 905, &|r| r[4] = s("X"));
    let (f, r) = e("LAVORATORI.CSV/SESSO", "code.unknown");
    want.push((Entity::Lavoratori, at + 4, f, r));
    // A language of a worker that does not exist.
    let li = t[&Entity::Lingue].len();
    t.get_mut(&Entity::Lingue).unwrap().push(vec![Val::Num(99_999.0), s("ENG"), s("B1"), s("B1"), s("B1")]);
    want.push((Entity::Lingue, li, "LINGUE.CSV/ID_LAV".into(), "row.orphan".into()));
    // Vacancies: an unknown local qualification, an unknown employer, an unknown ATECO.
    t.get_mut(&Entity::Aziende).unwrap().push(company(9, "999999"));
    let ri = t[&Entity::Richieste].len();
    t.get_mut(&Entity::Richieste).unwrap().push(job(91, 1, "ABC"));
    want.push((Entity::Richieste, ri, "RICHIESTE.CSV/COD_QUAL".into(), "code.unknown".into()));
    t.get_mut(&Entity::Richieste).unwrap().push(job(92, 777, "51220-1"));
    want.push((Entity::Richieste, ri + 1, "RICHIESTE.CSV/ID_AZ".into(), "row.orphan".into()));
    t.get_mut(&Entity::Richieste).unwrap().push(job(93, 9, "51220-1"));
    want.push((Entity::Richieste, ri + 2, "/Vacancy/DatoreLavoro/DatiAnagrafici/settore".into(), "ateco.unknown".into()));
    (t, want)
}

fn text(v: &Val) -> Vec<u8> {
    let t = match v {
        Val::S(s) => s.clone(),
        Val::Bytes(b) => return b.clone(),
        Val::Date(y, m, d) => format!("{d:02}/{m:02}/{y}"),
        Val::DateTime(y, m, d, h, mi) => format!("{d:02}/{m:02}/{y} {h:02}:{mi:02}"),
        Val::Bool(b) => if *b { "S" } else { "N" }.into(),
        Val::Num(n) if n.fract() == 0.0 => format!("{n:.0}"),
        Val::Num(n) => format!("{n}"),
        Val::Empty => String::new(),
    };
    encoding_rs::WINDOWS_1252.encode(&t).0.into_owned()
}

/// Writes one delimited file (Windows-1252, CRLF, quoting as needed); returns the line
/// each row starts on.
fn write_csv(path: &Path, header: &[String], rows: &[Vec<Val>]) -> Vec<u64> {
    let mut out = Vec::new();
    let mut lines = Vec::new();
    let mut line = 1u64;
    let put = |out: &mut Vec<u8>, fields: Vec<Vec<u8>>, line: &mut u64| {
        for (i, f) in fields.iter().enumerate() {
            if i > 0 {
                out.push(b';');
            }
            if f.iter().any(|b| b";\"\r\n".contains(b)) {
                out.push(b'"');
                for &b in f {
                    if b == b'"' {
                        out.push(b'"');
                    }
                    out.push(b);
                }
                out.push(b'"');
            } else {
                out.extend_from_slice(f);
            }
            *line += f.iter().filter(|&&b| b == b'\n').count() as u64;
        }
        out.extend_from_slice(b"\r\n");
        *line += 1;
    };
    put(&mut out, header.iter().map(|h| h.as_bytes().to_vec()).collect(), &mut line);
    for r in rows {
        lines.push(line);
        put(&mut out, r.iter().map(text).collect(), &mut line);
    }
    std::fs::write(path, out).unwrap();
    lines
}

/// Line numbers of each table's rows, as written.
pub(crate) type Lines = BTreeMap<Entity, Vec<u64>>;

/// A SIL Plus export in `dir`: one file per table and the manifest.
pub(crate) fn silplus(dir: &Path, t: &Tables) -> Lines {
    std::fs::create_dir_all(dir).unwrap();
    let mut manifest = String::new();
    let mut lines = Lines::new();
    for (e, rows) in t {
        let name = format!("{}.CSV", e.name());
        let header: Vec<String> = e.columns().iter().map(|c| c.to_string()).collect();
        lines.insert(*e, write_csv(&dir.join(&name), &header, rows));
        manifest.push_str(&format!("{name};{};\r\n", rows.len()));
    }
    manifest.push_str("GENERATO;24/11/2026 23:10;\r\n");
    std::fs::write(dir.join("EXPORT.TXT"), manifest).unwrap();
    lines
}

/// Campania's CSV exports (`campania-1` names) in `dir`.
pub(crate) fn access_csv(dir: &Path, t: &Tables) {
    std::fs::create_dir_all(dir).unwrap();
    let m = Mapping::campania1();
    for (e, rows) in t {
        let header: Vec<String> = e.columns().iter().map(|c| m.column(*e, c).to_string()).collect();
        write_csv(&dir.join(format!("{}.csv", m.table(*e))), &header, rows);
    }
}

/// Campania's workbook: one sheet per table, typed cells (dates, numbers, booleans).
pub(crate) fn access_xlsx(path: &Path, t: &Tables) {
    use rust_xlsxwriter::{DocProperties, ExcelDateTime, Format, Workbook};
    let m = Mapping::campania1();
    let mut book = Workbook::new();
    let created = ExcelDateTime::from_ymd(2026, 11, 24).unwrap();
    book.set_properties(&DocProperties::new().set_creation_datetime(&created));
    let date = Format::new().set_num_format("dd/mm/yyyy");
    let stamp = Format::new().set_num_format("dd/mm/yyyy hh:mm");
    for (e, rows) in t {
        let sheet = book.add_worksheet();
        sheet.set_name(m.table(*e)).unwrap();
        for (c, name) in e.columns().iter().enumerate() {
            sheet.write_string(0, c as u16, m.column(*e, name)).unwrap();
        }
        for (r, row) in rows.iter().enumerate() {
            let r = r as u32 + 1;
            for (c, v) in row.iter().enumerate() {
                let c = c as u16;
                match v {
                    Val::S(s) => {
                        sheet.write_string(r, c, s).unwrap();
                    }
                    Val::Bytes(b) => {
                        sheet.write_string(r, c, String::from_utf8_lossy(b)).unwrap();
                    }
                    Val::Date(y, mo, d) => {
                        sheet.write_datetime_with_format(r, c, ExcelDateTime::from_ymd(*y, *mo, *d).unwrap(), &date).unwrap();
                    }
                    Val::DateTime(y, mo, d, h, mi) => {
                        let dt = ExcelDateTime::from_ymd(*y, *mo, *d).unwrap().and_hms(u16::from(*h), *mi, 0).unwrap();
                        sheet.write_datetime_with_format(r, c, &dt, &stamp).unwrap();
                    }
                    Val::Bool(b) => {
                        sheet.write_boolean(r, c, *b).unwrap();
                    }
                    Val::Num(n) => {
                        sheet.write_number(r, c, *n).unwrap();
                    }
                    Val::Empty => {}
                }
            }
        }
    }
    book.save(path).unwrap();
}

/// Zips every file of `dir` (flat) into `zip`, with fixed timestamps.
pub(crate) fn zip_dir(dir: &Path, zip: &Path) {
    let mut w = zip::ZipWriter::new(std::fs::File::create(zip).unwrap());
    let opts = zip::write::SimpleFileOptions::default().last_modified_time(zip::DateTime::from_date_and_time(2026, 11, 24, 23, 10, 0).unwrap());
    let mut names: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_file()).collect();
    names.sort();
    for p in names {
        w.start_file(p.file_name().unwrap().to_string_lossy(), opts).unwrap();
        w.write_all(&std::fs::read(&p).unwrap()).unwrap();
    }
    w.finish().unwrap();
}

fn xml_escape(v: &str) -> String {
    v.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn val(v: &Val) -> String {
    match v {
        Val::S(s) => xml_escape(s),
        Val::Bytes(b) => xml_escape(&String::from_utf8_lossy(b)),
        Val::Date(y, m, d) => format!("{y}-{m:02}-{d:02}"),
        Val::DateTime(y, m, d, h, mi) => format!("{y}-{m:02}-{d:02}T{h:02}:{mi:02}:00"),
        Val::Bool(b) => if *b { "SI" } else { "NO" }.into(),
        Val::Num(n) => format!("{n:.0}"),
        Val::Empty => String::new(),
    }
}

fn co(v: &Val) -> String {
    val(v)
}

fn cp2011(v: &Val) -> String {
    let s = val(v);
    let (main, six) = s.split_once('-').unwrap_or((&s, ""));
    let mut parts: Vec<String> = main.chars().map(String::from).collect();
    if !six.is_empty() {
        parts.push(six.to_string());
    }
    parts.join(".")
}

/// The same data as a Sintesi feed.
pub(crate) fn sintesi(t: &Tables) -> String {
    let mut x = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<SintesiExport xmlns=\"urn:silgate:sintesi:export:1\" provincia=\"BA\" cpi=\"{CPI}\" generato=\"2026-11-24T23:10:00\">\n"
    );
    let kids = |e: Entity, id: &Val| t[&e].iter().filter(|r| r[0] == *id).cloned().collect::<Vec<_>>();
    for r in &t[&Entity::Lavoratori] {
        let stato = if val(&r[16]) == "C" { "chiuso" } else { "attivo" };
        x.push_str(&format!("  <Lavoratore id=\"{}\" ultimaModifica=\"{}\" stato=\"{stato}\">\n", val(&r[0]), val(&r[15])));
        x.push_str(&format!(
            "    <CodiceFiscale>{}</CodiceFiscale><Cognome>{}</Cognome><Nome>{}</Nome><Sesso>{}</Sesso><DataNascita>{}</DataNascita>\n",
            val(&r[1]),
            val(&r[2]),
            val(&r[3]),
            val(&r[4]),
            val(&r[5])
        ));
        x.push_str(&format!(
            "    <ComuneNascita codice=\"{}\"/><Cittadinanza codice=\"{}\"/><Domicilio comune=\"{}\" cap=\"{}\">{}</Domicilio>\n",
            val(&r[6]),
            val(&r[7]),
            val(&r[8]),
            val(&r[9]),
            val(&r[10])
        ));
        x.push_str(&format!("    <Email>{}</Email><Cellulare>{}</Cellulare>\n", val(&r[13]), val(&r[12])));
        if r[11] != Val::Empty {
            x.push_str(&format!("    <Telefono>{}</Telefono>\n", val(&r[11])));
        }
        let exp = kids(Entity::Esperienze, &r[0]);
        if !exp.is_empty() {
            x.push_str("    <Esperienze>\n");
            for e in exp {
                let al = if e[2] == Val::Empty { String::new() } else { format!(" al=\"{}\"", val(&e[2])) };
                x.push_str(&format!(
                    "      <Esperienza dal=\"{}\"{al} contratto=\"{}\" qualifica=\"{}\"><Datore>{}</Datore><Mansioni>{}</Mansioni></Esperienza>\n",
                    val(&e[1]),
                    co(&e[3]),
                    cp2011(&e[4]),
                    val(&e[6]),
                    val(&e[7])
                ));
            }
            x.push_str("    </Esperienze>\n");
        }
        let tit = kids(Entity::Titoli, &r[0]);
        if !tit.is_empty() {
            x.push_str("    <Titoli>");
            for ti in tit {
                x.push_str(&format!("<Titolo livello=\"{}\">{}</Titolo>", val(&ti[1]), val(&ti[2])));
            }
            x.push_str("</Titoli>\n");
        }
        let lin = kids(Entity::Lingue, &r[0]);
        if !lin.is_empty() {
            x.push_str("    <Lingue>");
            for l in lin {
                x.push_str(&format!("<Lingua codice=\"{}\" lettura=\"{}\" scrittura=\"{}\" parlato=\"{}\"/>", val(&l[1]), val(&l[2]), val(&l[3]), val(&l[4])));
            }
            x.push_str("</Lingue>\n");
        }
        x.push_str("    <Disponibilita>");
        for d in kids(Entity::Disponibilita, &r[0]) {
            let orario = if val(&d[3]) == "F" { "FT" } else { "PT" };
            x.push_str(&format!("<Professione codice=\"{}\" orario=\"{orario}\" contratto=\"{}\">{}</Professione>", cp2011(&d[1]), co(&d[4]), val(&d[2])));
        }
        x.push_str("</Disponibilita>\n  </Lavoratore>\n");
    }
    for r in &t[&Entity::Richieste] {
        let Some(az) = t[&Entity::Aziende].iter().find(|a| a[0] == r[1]) else { continue };
        let stato = match val(&r[12]).as_str() {
            "C" => "chiusa",
            "R" => "ritirata",
            _ => "aperta",
        };
        let ateco = val(&az[3]);
        let ateco = if ateco.contains('.') { ateco } else { format!("{}.{}.{}", &ateco[..2], &ateco[2..4], &ateco[4..]) };
        x.push_str(&format!("  <Richiesta id=\"{}\" ultimaModifica=\"{}\" stato=\"{stato}\">\n", val(&r[0]), val(&r[3])));
        x.push_str(&format!(
            "    <Azienda cf=\"{}\" ateco=\"{ateco}\" comune=\"{}\" cap=\"{}\"><RagioneSociale>{}</RagioneSociale><Indirizzo>{}</Indirizzo><Email>{}</Email></Azienda>\n",
            val(&az[1]),
            val(&az[4]),
            val(&az[5]),
            val(&az[2]),
            val(&az[6]),
            val(&az[7])
        ));
        x.push_str(&format!(
            "    <Posti>{}</Posti><Professione codice=\"{}\">{}</Professione><Descrizione>{}</Descrizione><SedeLavoro comune=\"{}\"/><Contratto codice=\"{}\"/><Orario>FT</Orario>\n",
            val(&r[5]),
            cp2011(&r[6]),
            val(&r[7]),
            val(&r[8]),
            val(&r[9]),
            co(&r[10])
        ));
        x.push_str(&format!(
            "    <Pubblicazione>{}</Pubblicazione><Scadenza>{}</Scadenza>\n    <Requisiti><Esperienza>NO</Esperienza></Requisiti>\n  </Richiesta>\n",
            val(&r[3]),
            val(&r[4])
        ));
    }
    x.push_str("</SintesiExport>\n");
    x
}

/// A Sintesi feed with broken records, and the (XPath, field, rule) each must give.
pub(crate) fn sintesi_broken() -> (String, Vec<(String, String, String)>) {
    let t = valid(3, 0);
    let good = sintesi(&t);
    let body_start = good.find("  <Lavoratore").unwrap();
    let records: Vec<&str> = good[body_start..].split_inclusive("</Lavoratore>\n").filter(|r| r.contains("<Lavoratore")).collect();
    let head = &good[..body_start];
    let w = |i: usize| records[i % records.len()].to_string();
    let mut body = String::new();
    let mut want = Vec::new();
    // 1: fine. 2: an element the format does not have.
    body.push_str(&w(0));
    body.push_str(&w(1).replace("<Email>", "<Soprannome>Gegè</Soprannome><Email>"));
    want.push(("/SintesiExport/Lavoratore[2]".into(), "/SintesiExport/Lavoratore[2]/Soprannome[1]".into(), "sintesi.element".into()));
    // 3: a wrong check character.
    let bad_cf = {
        let r = w(2);
        let start = r.find("<CodiceFiscale>").unwrap() + "<CodiceFiscale>".len();
        let end = r.find("</CodiceFiscale>").unwrap();
        let cf = &r[start..end];
        let last = if cf.ends_with('A') { "B" } else { "A" };
        format!("{}{}{last}{}", &r[..start], &cf[..15], &r[end..])
    };
    body.push_str(&bad_cf);
    want.push(("/SintesiExport/Lavoratore[3]".into(), "/Candidatura/Lavoratore/DatiAnagrafici/codicefiscale".into(), "cf.checksum".into()));
    // 4: an unknown contract code. 5: no e-mail. 6: an impossible birth date.
    body.push_str(&w(0).replace("contratto=\"A.01.00\"", "contratto=\"X.99\""));
    want.push(("/SintesiExport/Lavoratore[4]".into(), "/SintesiExport/Lavoratore[4]/Disponibilita/Professione[1]/@contratto".into(), "code.unknown".into()));
    let no_mail = {
        let r = w(1);
        let a = r.find("<Email>").unwrap();
        let b = r.find("</Email>").unwrap() + "</Email>".len();
        format!("{}{}", &r[..a], &r[b..])
    };
    body.push_str(&no_mail);
    want.push(("/SintesiExport/Lavoratore[5]".into(), "/SintesiExport/Lavoratore[5]/Email".into(), "field.required".into()));
    let bad_date = {
        let r = w(2);
        let a = r.find("<DataNascita>").unwrap() + "<DataNascita>".len();
        format!("{}1990-02-31{}", &r[..a], &r[a + 10..])
    };
    body.push_str(&bad_date);
    want.push(("/SintesiExport/Lavoratore[6]".into(), "/SintesiExport/Lavoratore[6]/DataNascita".into(), "field.date".into()));
    // An element that is no record at all.
    body.push_str("  <Pippo>?</Pippo>\n");
    want.push(("/SintesiExport/Pippo[1]".into(), "/SintesiExport/Pippo[1]".into(), "sintesi.element".into()));
    (format!("{head}{body}</SintesiExport>\n"), want)
}

/// Writes every fixture under `root` (tests/fixtures, or a scratch folder to compare).
pub(crate) fn write_fixtures(root: &Path) {
    let t = valid(12, 6);
    silplus(&root.join("silplus/valid"), &t);
    let (b, _) = broken();
    silplus(&root.join("silplus/broken"), &b);
    // Truncated: the manifest promises one more experience than the file holds.
    silplus(&root.join("silplus/truncated"), &t);
    let m = std::fs::read_to_string(root.join("silplus/truncated/EXPORT.TXT")).unwrap();
    let n = t[&Entity::Esperienze].len();
    std::fs::write(root.join("silplus/truncated/EXPORT.TXT"), m.replace(&format!("ESPERIENZE.CSV;{n};"), &format!("ESPERIENZE.CSV;{};", n + 1))).unwrap();
    // A required column missing from the header.
    silplus(&root.join("silplus/missing-column"), &t);
    let p = root.join("silplus/missing-column/LAVORATORI.CSV");
    let bytes = std::fs::read(&p).unwrap();
    let text = String::from_utf8_lossy(&bytes).replacen("ID_LAV;COD_FISC;", "ID_LAV;CODICE;", 1);
    std::fs::write(&p, encoding_rs::WINDOWS_1252.encode(&text).0).unwrap();
    // A quote opened and never closed: it swallows the rows after it.
    let mut q = t.clone();
    q.get_mut(&Entity::Titoli).unwrap()[0][2] = Val::Bytes(b"\"Diploma".to_vec());
    silplus(&root.join("silplus/unbalanced-quote"), &q);
    let p = root.join("silplus/unbalanced-quote/TITOLI.CSV");
    let raw = std::fs::read(&p).unwrap();
    // The writer quoted the field; undo the closing quote to leave it open.
    let fixed = String::from_utf8_lossy(&raw).replacen("\"\"\"Diploma\";", "\"Diploma;", 1);
    std::fs::write(&p, fixed.as_bytes()).unwrap();
    access_csv(&root.join("access/csv"), &t);
    access_xlsx(&root.join("access/export.xlsx"), &t);
    zip_dir(&root.join("access/csv"), &root.join("access/csv.zip"));
    zip_dir(&root.join("silplus/valid"), &root.join("silplus/valid.zip"));
    std::fs::create_dir_all(root.join("sintesi")).unwrap();
    std::fs::write(root.join("sintesi/valid.xml"), sintesi(&t)).unwrap();
    std::fs::write(root.join("sintesi/broken.xml"), sintesi_broken().0).unwrap();
}
