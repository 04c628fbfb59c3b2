//! One worker (with its child rows) to a [`Cv`], one vacancy (with its employer) to a
//! [`Vacancy`]: the field mapping, local code forms and row-level checks.
//!
//! Every problem of a record is collected, not only the first: the rejection lists
//! them all, each naming `TABLE/COLUMN` and a rule. Messages never quote personal
//! values; they quote codes (a code is not personal data) and the expected form.
//!
//! Local code forms (sources.md): qualifications without dots (`51220` ->
//! `5.1.2.2.0`, `51220-1` -> `5.1.2.2.0.1`), ATECO without dots (`620100` ->
//! `62.01.00`), contracts as CO codes (`A.02.00` -> the ClicLavoro form `A02`); a
//! mapping's `[codes.*]` tables are applied first.

use crate::cell::Cell;
use crate::engine::Row;
use crate::entity::Entity;
use crate::mapping::Mapping;
use silgate_core::provenance::{FieldNames, field_at};
use silgate_core::source::Rejection;
use silgate_core::*;
use std::borrow::Cow;

/// What the builders need besides the rows.
#[derive(Debug)]
pub(crate) struct Ctx<'a> {
    pub(crate) mapping: &'a Mapping,
    pub(crate) system: SourceSystem,
    /// For each entity (by [`Entity::ALL`] order), the canonical fields its columns
    /// fill with the names the mapping gives those columns, and each one's column.
    names: Vec<(FieldNames, Vec<usize>)>,
}

impl<'a> Ctx<'a> {
    /// The context of one read with `mapping`.
    pub(crate) fn new(mapping: &'a Mapping, system: SourceSystem) -> Self {
        let names = Entity::ALL
            .iter()
            .map(|&e| {
                let (names, at): (Vec<_>, Vec<_>) =
                    e.columns().iter().enumerate().filter_map(|(i, c)| e.canonical(c).map(|f| ((Cow::Borrowed(f), Cow::Owned(mapping.column(e, c).to_string())), i))).unzip();
                (FieldNames::new(names), at)
            })
            .collect();
        Self { mapping, system, names }
    }

    /// Notes in `map` the row `row` of `e` as the part `list`/`index` of the record
    /// (`""` and `None`: the record itself), with the columns it filled: issues found
    /// later on the record (the XSD, the rules) then name the column and the line.
    fn note(&self, map: &mut FieldMap, e: Entity, row: &Row, list: &'static str, index: Option<usize>) {
        let Some((names, at)) = Entity::ALL.iter().position(|x| *x == e).and_then(|i| self.names.get(i)) else { return };
        let filled = at.iter().enumerate().filter(|(_, c)| !matches!(row.cells.get(**c), None | Some(Cell::Null))).fold(0u64, |m, (bit, _)| m | (1u64 << bit.min(63)));
        map.part(list, index, row.table.clone(), row.position.clone(), names, filled);
    }
}

/// Reads the logical columns of one row, collecting issues.
struct Fields<'r> {
    e: Entity,
    row: &'r mut Row,
    mapping: &'r Mapping,
    issues: &'r mut Vec<Issue>,
}

impl Fields<'_> {
    fn cell(&self, logical: &str) -> &Cell {
        self.e.index(logical).and_then(|i| self.row.cells.get(i)).unwrap_or(&Cell::Null)
    }

    fn path(&self, logical: &str) -> String {
        format!("{}/{}", self.row.table, self.mapping.column(self.e, logical))
    }

    fn error(&mut self, logical: &str, rule: &str, message: impl Into<String>) {
        let p = self.path(logical);
        let at = field_at(&self.row.table, self.mapping.column(self.e, logical), &self.row.position);
        self.issues.push(Issue::error(p, rule, message).at_source(at));
    }

    /// The text of a column, moved out of the row (each column is read once).
    fn text(&mut self, logical: &str) -> Option<String> {
        self.e.index(logical).and_then(|i| self.row.cells.get_mut(i)).and_then(Cell::take_text)
    }

    fn req(&mut self, logical: &str) -> String {
        self.text(logical).unwrap_or_else(|| {
            self.error(logical, "field.required", "is required and empty");
            String::new()
        })
    }

    /// A fixed-width code column (CAP, partita IVA, citizenship, title level): a number
    /// typed by Access or Excel lost its leading zeros, which are put back.
    fn digits(&mut self, logical: &str, width: usize) -> Option<String> {
        let numeric = matches!(self.cell(logical), Cell::Int(_) | Cell::Float(_));
        let t = self.text(logical)?;
        if numeric && t.len() < width && t.bytes().all(|b| b.is_ascii_digit()) { Some(format!("{t:0>width$}")) } else { Some(t) }
    }

    fn datetime(&mut self, logical: &str, required: bool) -> Option<time::PrimitiveDateTime> {
        match self.cell(logical).datetime() {
            Ok(Some(d)) => Some(d),
            Ok(None) => {
                if required {
                    self.error(logical, "field.required", "is required and empty");
                }
                None
            }
            Err(m) => {
                self.error(logical, "field.date", m);
                None
            }
        }
    }

    fn date(&mut self, logical: &str, required: bool) -> Option<Date> {
        self.datetime(logical, required).map(|d| d.date())
    }

    fn boolean(&mut self, logical: &str) -> Option<bool> {
        self.cell(logical).boolean().unwrap_or_else(|m| {
            self.error(logical, "field.boolean", m);
            None
        })
    }

    fn number(&mut self, logical: &str) -> Option<i64> {
        self.cell(logical).number().unwrap_or_else(|m| {
            self.error(logical, "field.number", m);
            None
        })
    }

    /// A code: the mapping's local table first, then `form` (the built-in local form);
    /// `None` from `form` is an error naming the code and the table.
    fn code(&mut self, logical: &str, table: &str, required: bool, form: fn(&str) -> Option<String>) -> Option<String> {
        self.code_with(logical, table, required, |v| form(&v).ok_or(v))
    }

    /// [`Fields::code`] with a form that takes the value (no copy when it is kept).
    fn code_with(&mut self, logical: &str, table: &str, required: bool, form: impl FnOnce(String) -> Result<String, String>) -> Option<String> {
        self.code_padded(logical, table, required, 0, form)
    }

    /// [`Fields::code_with`] for a fixed-width numeric code (`width` digits; 0: none).
    fn code_padded(&mut self, logical: &str, table: &str, required: bool, width: usize, form: impl FnOnce(String) -> Result<String, String>) -> Option<String> {
        let value = if width > 0 { self.digits(logical, width) } else { self.text(logical) };
        let Some(v) = value else {
            if required {
                self.error(logical, "field.required", "is required and empty");
            }
            return None;
        };
        // A local table's national code still goes through the form check: a mapping
        // cannot smuggle a malformed code in.
        let v = match self.mapping.local_code(table, &v) {
            Some(n) => n.to_string(),
            None => v,
        };
        match form(v) {
            Ok(n) => Some(n),
            Err(v) => {
                let shown = if v.chars().count() <= 12 && v.chars().all(|c| c.is_ascii_alphanumeric() || ".-".contains(c)) { v } else { "(value)".to_string() };
                self.error(logical, "code.unknown", format!("local code '{shown}' is not in table {table} nor in its national form"));
                None
            }
        }
    }
}

fn same(v: String) -> Result<String, String> {
    Ok(v)
}

/// `51220` -> `5.1.2.2.0`; `51220-1` -> `5.1.2.2.0.1`; a dotted code is kept.
pub fn qualification(v: &str) -> Option<String> {
    if v.contains('.') {
        return v.split('.').all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())).then(|| v.to_string());
    }
    let (main, sixth) = match v.split_once('-') {
        Some((m, s)) => (m, Some(s)),
        None => (v, None),
    };
    if main.len() != 5 || !main.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut out = String::with_capacity(16);
    for (i, c) in main.chars().enumerate() {
        if i > 0 {
            out.push('.');
        }
        out.push(c);
    }
    if let Some(s) = sixth {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        out.push('.');
        out.push_str(s);
    }
    Some(out)
}

/// `620100` -> `62.01.00`; a dotted code is kept.
pub fn ateco(v: &str) -> Option<String> {
    let b = v.as_bytes();
    if b.len() == 8 && b[2] == b'.' && b[5] == b'.' {
        return Some(v.to_string());
    }
    (b.len() == 6 && b.iter().all(u8::is_ascii_digit)).then(|| format!("{}.{}.{}", &v[..2], &v[2..4], &v[4..]))
}

/// A CO code `A.02.00` -> `A02`; a ClicLavoro code `A02` is kept
/// ([`silgate_codes::tables::contract_clic`]).
pub fn contract(v: &str) -> Option<String> {
    silgate_codes::tables::contract_clic(v)
}

fn working_time(v: &str) -> Option<String> {
    let u = v.to_ascii_uppercase();
    match u.as_str() {
        "F" | "FT" | "TEMPO PIENO" => Some("FT".into()),
        "P" | "PT" | "PART-TIME" | "PART TIME" => Some("PT".into()),
        _ if (u.starts_with("FT") || u.starts_with("PT")) && u.len() <= 3 => Some(u),
        _ => None,
    }
}

fn sex(v: &str) -> Option<String> {
    match v.to_ascii_uppercase().as_str() {
        "M" => Some("M".into()),
        "F" => Some("F".into()),
        _ => None,
    }
}

fn cefr(v: &str) -> Option<String> {
    Cefr::parse(&v.to_ascii_uppercase()).map(|c| c.as_str().to_string())
}

fn worker_state(v: &str) -> Option<String> {
    match v.to_ascii_uppercase().as_str() {
        "A" | "ATTIVO" => Some("A".into()),
        "C" | "CHIUSO" => Some("C".into()),
        _ => None,
    }
}

fn vacancy_state(v: &str) -> Option<String> {
    match v.to_ascii_uppercase().as_str() {
        "A" | "APERTA" => Some("A".into()),
        "C" | "CHIUSA" => Some("C".into()),
        "R" | "RITIRATA" => Some("R".into()),
        _ => None,
    }
}

fn timestamp(d: time::PrimitiveDateTime) -> Timestamp {
    Timestamp::local(d)
}

/// The CV of one worker row and its child rows (by [`Entity::CV_CHILDREN`] order).
pub(crate) fn cv(ctx: &Ctx<'_>, mut lav: Row, mut kids: [Vec<Row>; 4]) -> Result<Record, Box<Rejection>> {
    let mut issues: Vec<Issue> = std::mem::take(&mut lav.issues);
    for rows in &mut kids {
        for r in rows {
            issues.append(&mut r.issues);
        }
    }
    let lav = &mut lav;
    let m = ctx.mapping;
    let mut fields = FieldMap::default();
    ctx.note(&mut fields, Entity::Lavoratori, lav, "", None);
    for (e, (rows, list)) in Entity::CV_CHILDREN.into_iter().zip(kids.iter().zip(["/experiences", "/education", "/languages", "/desired"])) {
        for (i, r) in rows.iter().enumerate() {
            ctx.note(&mut fields, e, r, list, Some(i));
        }
    }
    let mut f = Fields { e: Entity::Lavoratori, row: lav, mapping: m, issues: &mut issues };
    let cpi = f.req("COD_CPI");
    let fiscal_code = f.req("COD_FISC").to_uppercase();
    let surname = f.req("COGNOME");
    let name = f.req("NOME");
    let sex = f.code("SESSO", "sesso", true, sex).map(|s| if s == "F" { Sex::F } else { Sex::M });
    let birth = f.date("DT_NASC", true);
    let birthplace = f.code_with("COM_NASC", "comune", true, same).unwrap_or_default();
    let citizenship = f.code_padded("CITT", "cittadinanza", true, 3, same).unwrap_or_default();
    let dom = f.code_with("COM_DOM", "comune", true, same).unwrap_or_default();
    let cap = f.digits("CAP_DOM", 5);
    let street = f.text("INDIRIZZO");
    let phone = f.text("TEL");
    let mobile = f.text("CELL");
    let email = f.req("EMAIL");
    let modified = f.datetime("DT_ULT_MOD", true);
    let state = f.code("STATO", "stato_lavoratore", false, worker_state);

    let mut experiences = Vec::new();
    for r in &mut kids[0] {
        let mut f = Fields { e: Entity::Esperienze, row: r, mapping: m, issues: &mut issues };
        experiences.push(WorkExperience {
            start: f.date("DT_INIZIO", false),
            end: f.date("DT_FINE", false),
            contract_type: f.code("COD_CONTR", "contratto", false, contract),
            profession: f.code("COD_QUAL", "qualifica", false, qualification),
            profession_title: f.text("DESCR_QUAL"),
            employer_name: f.text("DATORE"),
            duties: f.text("MANSIONI"),
            employer_address: None,
        });
    }
    let mut education = Vec::new();
    for r in &mut kids[1] {
        let mut f = Fields { e: Entity::Titoli, row: r, mapping: m, issues: &mut issues };
        education.push(Education { level: f.code_padded("COD_TITOLO", "titolo", true, 2, same).unwrap_or_default(), description: f.text("DESCR"), grade: f.text("VOTO") });
    }
    let mut languages = Vec::new();
    for r in &mut kids[2] {
        let mut f = Fields { e: Entity::Lingue, row: r, mapping: m, issues: &mut issues };
        let language = f.code_with("COD_LINGUA", "lingua", true, same).unwrap_or_default();
        let mut level = |c: &str| f.code(c, "livello", false, cefr).and_then(|s| Cefr::parse(&s));
        let (reading, writing, speaking) = (level("LIV_LETTO"), level("LIV_SCRITTO"), level("LIV_PARLATO"));
        languages.push(LanguageSkill { language, reading, writing, speaking });
    }
    let mut desired = Vec::new();
    for r in &mut kids[3] {
        let mut f = Fields { e: Entity::Disponibilita, row: r, mapping: m, issues: &mut issues };
        desired.push(DesiredProfession {
            profession: f.code("COD_QUAL", "qualifica", true, qualification).unwrap_or_default(),
            title: f.req("DESCR_QUAL"),
            working_time: f.code("ORARIO", "orario", false, working_time).into_iter().collect(),
            contract_types: f.code("COD_CONTR", "contratto", false, contract).into_iter().collect(),
            travel: f.boolean("TRASFERTE"),
            ..Default::default()
        });
    }
    let mut prov = lav.provenance(ctx.system);
    prov.cpi.clone_from(&cpi);
    prov.modified_ms = modified.and_then(|d| std::num::NonZeroI64::new(timestamp(d).unix_ms()));
    prov.fields = SourceFields::mapped(fields);
    let (Some(sex), Some(birth_date), Some(modified)) = (sex, birth, modified) else {
        return Err(Box::new(Rejection { provenance: prov, issues }));
    };
    if silgate_core::issue::has_errors(&issues) {
        return Err(Box::new(Rejection { provenance: prov, issues }));
    }
    let closed = state.as_deref() == Some("C");
    let communication = Communication {
        kind: if closed { CommunicationKind::Closure } else { CommunicationKind::Send },
        closure_reason: closed.then(|| "01".to_string()),
        code: None,
        previous_code: None,
    };
    Ok(Record::Cv(Box::new(Cv {
        provenance: prov,
        worker: Worker {
            fiscal_code,
            surname,
            name,
            sex,
            birth_date,
            birthplace,
            citizenship,
            residence: None,
            domicile: Address { comune: dom, cap, street },
            contacts: Contacts { phone, mobile, fax: None, email },
        },
        experiences,
        education,
        training: Vec::new(),
        languages,
        it_skills: None,
        licences: Licences::default(),
        desired,
        consent: Consent::default(),
        system: CvSystem {
            diffusion: Diffusion::National,
            inserted_at: timestamp(modified),
            expires_on: None,
            intermediary: Intermediary { id: Some(cpi), ..Default::default() },
            communication,
            income_support: None,
        },
    })))
}

/// The vacancy of one request row and its employer row.
pub(crate) fn vacancy(ctx: &Ctx<'_>, mut req: Row, mut az: Row) -> Result<Record, Box<Rejection>> {
    let mut issues: Vec<Issue> = std::mem::take(&mut req.issues);
    issues.append(&mut az.issues);
    let (req, az) = (&mut req, &mut az);
    let m = ctx.mapping;
    let mut fields = FieldMap::default();
    ctx.note(&mut fields, Entity::Richieste, req, "", None);
    ctx.note(&mut fields, Entity::Aziende, az, "/employer", None);
    let mut f = Fields { e: Entity::Aziende, row: az, mapping: m, issues: &mut issues };
    let employer = Employer {
        fiscal_code: f.digits("CF_PIVA", 11).map(|s| s.to_uppercase()),
        name: f.req("RAG_SOC"),
        sector: f.code("ATECO", "ateco", true, ateco).unwrap_or_default(),
        size_class: None,
        web: None,
        address: Address { comune: f.code_with("COM_SEDE", "comune", true, same).unwrap_or_default(), cap: f.digits("CAP", 5), street: f.text("INDIRIZZO") },
        phone: f.text("TEL"),
        fax: None,
        email: f.req("EMAIL"),
    };
    let mut f = Fields { e: Entity::Richieste, row: req, mapping: m, issues: &mut issues };
    let id = f.req("ID_RIC");
    let cpi = f.req("COD_CPI");
    let published = f.datetime("DT_PUBBL", true);
    let expires_on = f.date("DT_SCAD", false);
    let positions = match f.number("N_POSTI") {
        None => 1,
        Some(n @ 1..=99) => u8::try_from(n).unwrap_or(1),
        Some(_) => {
            f.error("N_POSTI", "field.range", "must be between 1 and 99");
            1
        }
    };
    let profession = f.code("COD_QUAL", "qualifica", true, qualification).unwrap_or_default();
    let profession_title = f.req("DESCR_QUAL");
    let description = f.req("DESCRIZIONE");
    let workplace = f.code_with("COM_LAVORO", "comune", true, same).unwrap_or_default();
    let contract_type = f.code("COD_CONTR", "contratto", true, contract).unwrap_or_default();
    let working = f.code("ORARIO", "orario", false, working_time);
    let state = f.code("STATO", "stato_richiesta", false, vacancy_state);
    let pay = match f.number("RETRIB") {
        None => None,
        Some(n) => match u32::try_from(n) {
            Ok(n) => Some(n),
            Err(_) => {
                f.error("RETRIB", "field.range", "must be a positive yearly amount in euro");
                None
            }
        },
    };
    let mut prov = req.provenance(ctx.system);
    prov.cpi.clone_from(&cpi);
    prov.fields = SourceFields::mapped(fields);
    let Some(published) = published else { return Err(Box::new(Rejection { provenance: prov, issues })) };
    if silgate_core::issue::has_errors(&issues) {
        return Err(Box::new(Rejection { provenance: prov, issues }));
    }
    let (kind, reason) = match state.as_deref() {
        Some("C") => (CommunicationKind::Closure, Some("01")),
        Some("R") => (CommunicationKind::Closure, Some("03")),
        _ => (CommunicationKind::Send, None),
    };
    Ok(Record::Vacancy(Box::new(Vacancy {
        provenance: prov,
        employer,
        profile: Profile { positions, profession, profession_title, description, experience_required: None, experience_description: None },
        requirements: Requirements::default(),
        conditions: Conditions { workplace, contract_type, working_time: working, annual_gross_pay: pay, ..Default::default() },
        publication: Publication { published_at: timestamp(published), expires_on },
        nulla_osta: false,
        system: VacancySystem {
            intermediary: Intermediary { id: Some(cpi), ..Default::default() },
            visible: None,
            communication: Communication { kind, closure_reason: reason.map(str::to_string), code: None, previous_code: None },
            source_vacancy_id: Some(id),
        },
    })))
}
