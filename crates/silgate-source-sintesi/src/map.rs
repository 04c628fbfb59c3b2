//! A `Lavoratore` to a [`Cv`], a `Richiesta` to a [`Vacancy`]: element checks against
//! the format's shape, then the field mapping. Every problem is collected; paths are
//! XPaths; messages hold no personal values.

use crate::Header;
use crate::tree::El;
use silgate_core::provenance::FieldNames;
use silgate_core::source::Rejection;
use silgate_core::time_types::parse_date;
use silgate_core::*;
use std::borrow::Cow;
use std::fmt::Display;
use std::sync::LazyLock;

/// The shape of an element: its attributes and children.
struct Spec {
    name: &'static str,
    attrs: &'static [&'static str],
    kids: &'static [Spec],
}

const fn leaf(name: &'static str, attrs: &'static [&'static str]) -> Spec {
    Spec { name, attrs, kids: &[] }
}

const LAVORATORE: Spec = Spec {
    name: "Lavoratore",
    attrs: &["id", "ultimaModifica", "stato"],
    kids: &[
        leaf("CodiceFiscale", &[]),
        leaf("Cognome", &[]),
        leaf("Nome", &[]),
        leaf("Sesso", &[]),
        leaf("DataNascita", &[]),
        leaf("ComuneNascita", &["codice"]),
        leaf("Cittadinanza", &["codice"]),
        leaf("Domicilio", &["comune", "cap"]),
        leaf("Email", &[]),
        leaf("Cellulare", &[]),
        leaf("Telefono", &[]),
        Spec {
            name: "Esperienze",
            attrs: &[],
            kids: &[Spec { name: "Esperienza", attrs: &["dal", "al", "contratto", "qualifica"], kids: &[leaf("Datore", &[]), leaf("Mansioni", &[])] }],
        },
        Spec { name: "Titoli", attrs: &[], kids: &[leaf("Titolo", &["livello"])] },
        Spec { name: "Lingue", attrs: &[], kids: &[leaf("Lingua", &["codice", "lettura", "scrittura", "parlato"])] },
        Spec { name: "Patenti", attrs: &[], kids: &[leaf("Patente", &["codice"])] },
        Spec { name: "Disponibilita", attrs: &[], kids: &[leaf("Professione", &["codice", "orario", "contratto"])] },
        leaf("Note", &[]),
    ],
};

const RICHIESTA: Spec = Spec {
    name: "Richiesta",
    attrs: &["id", "ultimaModifica", "stato"],
    kids: &[
        Spec { name: "Azienda", attrs: &["cf", "ateco", "comune", "cap"], kids: &[leaf("RagioneSociale", &[]), leaf("Indirizzo", &[]), leaf("Email", &[])] },
        leaf("Posti", &[]),
        leaf("Professione", &["codice"]),
        leaf("Descrizione", &[]),
        leaf("SedeLavoro", &["comune"]),
        leaf("Contratto", &["codice"]),
        leaf("Orario", &[]),
        leaf("Pubblicazione", &[]),
        leaf("Scadenza", &[]),
        Spec {
            name: "Requisiti",
            attrs: &[],
            kids: &[leaf("Titolo", &["livello"]), leaf("Lingua", &["codice", "lettura", "scrittura", "parlato"]), leaf("Patente", &["codice"]), leaf("Esperienza", &[])],
        },
    ],
};

/// True when `el` has only the attributes and children `spec` allows, at any depth
/// (no allocation: the common case costs nothing more).
fn fits(el: &El, spec: &Spec) -> bool {
    el.attrs.iter().all(|(k, _)| spec.attrs.contains(&k.as_ref())) && el.kids.iter().all(|k| spec.kids.iter().any(|s| s.name == k.name && fits(k, s)))
}

fn check_shape(el: &El, spec: &Spec, path: &str, issues: &mut Vec<Issue>) {
    if fits(el, spec) {
        return;
    }
    for (k, _) in &el.attrs {
        if !spec.attrs.contains(&k.as_ref()) {
            let at = format!("{path}/@{k}");
            issues.push(Issue::error(at.clone(), "sintesi.attribute", format!("attribute {k} is not part of {}", spec.name)).at_source(at));
        }
    }
    let mut seen: Vec<(&str, usize)> = Vec::new();
    for k in &el.kids {
        let n = match seen.iter_mut().find(|(name, _)| *name == k.name) {
            Some((_, n)) => {
                *n += 1;
                *n
            }
            None => {
                seen.push((&k.name, 1));
                1
            }
        };
        let p = format!("{path}/{}[{n}]", k.name);
        match spec.kids.iter().find(|s| s.name == k.name) {
            Some(s) => check_shape(k, s, &p, issues),
            None => issues.push(Issue::error(p.clone(), "sintesi.element", format!("element {} is not part of {}", k.name, spec.name)).at_source(p)),
        }
    }
}

struct F<'a> {
    base: &'a str,
    issues: Vec<Issue>,
}

impl F<'_> {
    fn err(&mut self, at: impl Display, rule: &str, msg: impl Into<String>) {
        // The path is the feed's own: it names the source field too.
        let path = format!("{}/{at}", self.base);
        self.issues.push(Issue::error(path.clone(), rule, msg).at_source(path));
    }

    fn req_text(&mut self, el: &El, name: &str) -> String {
        match el.child(name).and_then(El::value) {
            Some(v) => v,
            None => {
                self.err(name, "field.required", "is required and missing or empty");
                String::new()
            }
        }
    }

    fn req_attr(&mut self, el: Option<&El>, at: impl Display + Copy, attr: &str) -> String {
        match el.and_then(|e| e.attr(attr)) {
            Some(v) => v.to_string(),
            None => {
                self.err(format_args!("{at}/@{attr}"), "field.required", "is required and missing or empty");
                String::new()
            }
        }
    }

    fn date(&mut self, v: Option<&str>, at: impl Display + Copy) -> Option<Date> {
        let v = v?;
        match parse_date(v) {
            Ok(d) => Some(d),
            Err(e) => {
                self.err(at, "field.date", e.to_string());
                None
            }
        }
    }

    fn timestamp(&mut self, v: Option<&str>, at: impl Display + Copy) -> Option<Timestamp> {
        let Some(v) = v else {
            self.err(at, "field.required", "is required and missing or empty");
            return None;
        };
        match v.parse::<Timestamp>() {
            Ok(t) => Some(t),
            Err(e) => {
                self.err(at, "field.datetime", e.to_string());
                None
            }
        }
    }

    fn cefr(&mut self, v: Option<&str>, at: impl Display + Copy) -> Option<Cefr> {
        let v = v?;
        let c = Cefr::parse(v);
        if c.is_none() {
            self.err(at, "field.cefr", "expected a CEFR level A1..C2");
        }
        c
    }

    fn contract(&mut self, v: Option<&str>, at: impl Display + Copy) -> Option<String> {
        let v = v?;
        let clic = silgate_codes::tables::contract_clic(v);
        if clic.is_some() {
            clic
        } else {
            self.err(at, "code.unknown", format!("contract code '{}' is not a CO code (A.02.00)", v.chars().take(12).collect::<String>()));
            None
        }
    }

    fn working_time(&mut self, v: Option<String>, at: impl Display + Copy) -> Option<String> {
        let v = v?;
        match v.as_str() {
            "FT" | "PT" => Some(v),
            _ => {
                self.err(at, "code.unknown", "working time must be FT or PT");
                None
            }
        }
    }

    fn language(&mut self, l: &El, at: impl Display + Copy) -> LanguageSkill {
        LanguageSkill {
            language: self.req_attr(Some(l), at, "codice"),
            reading: self.cefr(l.attr("lettura"), format_args!("{at}/@lettura")),
            writing: self.cefr(l.attr("scrittura"), format_args!("{at}/@scrittura")),
            speaking: self.cefr(l.attr("parlato"), format_args!("{at}/@parlato")),
        }
    }
}

/// Where a repeated element is, formatted only when an issue names it. `g` is the
/// group's own index, written only when the record has several such groups.
#[derive(Clone, Copy)]
struct Loc<'a> {
    group: &'a str,
    g: Option<usize>,
    item: &'a str,
    n: usize,
}

impl Display for Loc<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.g {
            Some(g) => write!(f, "{}[{g}]/{}[{}]", self.group, self.item, self.n),
            None => write!(f, "{}/{}[{}]", self.group, self.item, self.n),
        }
    }
}

fn indexed<'a>(el: &'a El, group: &'a str, item: &'a str) -> impl Iterator<Item = (Loc<'a>, &'a El)> + 'a {
    let several = el.children(group).nth(1).is_some();
    el.children(group).enumerate().flat_map(move |(gi, g)| g.children(item).enumerate().map(move |(i, e)| (Loc { group, g: several.then_some(gi + 1), item, n: i + 1 }, e)))
}

/// True when `el` holds a value where `rel` names (`Domicilio/@cap`, `Email`, `@stato`:
/// first children, then an attribute or the last one's text; `""`: its own text).
fn present(el: &El, rel: &str) -> bool {
    let mut at = el;
    for seg in rel.split('/').filter(|s| !s.is_empty()) {
        match seg.strip_prefix('@') {
            Some(a) => return at.attr(a).is_some(),
            None => match at.child(seg) {
                Some(c) => at = c,
                None => return false,
            },
        }
    }
    at.value().is_some()
}

/// Notes in `map` the element `el` (at XPath `at`) as the part `list`/`index` of the
/// record (`""` and `None`: the record itself), with the fields of `names` it holds:
/// issues found later on the record (the XSD, the rules) then name the element or
/// attribute to fix.
fn note(map: &mut FieldMap, el: &El, at: &str, list: &'static str, index: Option<usize>, names: &Names) {
    let filled = names.fields.iter().enumerate().filter(|(_, (_, rel))| present(el, rel)).fold(0u64, |m, (bit, _)| m | (1u64 << bit.min(63)));
    map.part(list, index, at.into(), Position::Unknown, &names.shared, filled);
}

/// The source fields of one kind of element, by canonical field under its part: the
/// table, and the same shared by every record.
struct Names {
    fields: &'static [(&'static str, &'static str)],
    shared: FieldNames,
}

impl Names {
    fn new(fields: &'static [(&'static str, &'static str)]) -> Self {
        Self { fields, shared: FieldNames::new(fields.iter().map(|(p, n)| (Cow::Borrowed(*p), Cow::Borrowed(*n))).collect()) }
    }
}

static WORKER: LazyLock<Names> = LazyLock::new(|| {
    Names::new(&[
        ("/worker/fiscal_code", "CodiceFiscale"),
        ("/worker/surname", "Cognome"),
        ("/worker/name", "Nome"),
        ("/worker/sex", "Sesso"),
        ("/worker/birth_date", "DataNascita"),
        ("/worker/birthplace", "ComuneNascita/@codice"),
        ("/worker/citizenship", "Cittadinanza/@codice"),
        ("/worker/domicile/comune", "Domicilio/@comune"),
        ("/worker/domicile/cap", "Domicilio/@cap"),
        ("/worker/domicile/street", "Domicilio"),
        ("/worker/contacts/phone", "Telefono"),
        ("/worker/contacts/mobile", "Cellulare"),
        ("/worker/contacts/email", "Email"),
        ("/system/inserted_at", "@ultimaModifica"),
        ("/system/communication/kind", "@stato"),
    ])
});
static EXPERIENCE: LazyLock<Names> = LazyLock::new(|| {
    Names::new(&[("/start", "@dal"), ("/end", "@al"), ("/contract_type", "@contratto"), ("/profession", "@qualifica"), ("/duties", "Mansioni"), ("/employer_name", "Datore")])
});
static TITLE: LazyLock<Names> = LazyLock::new(|| Names::new(&[("/level", "@livello"), ("/description", "")]));
static LANGUAGE: LazyLock<Names> = LazyLock::new(|| Names::new(&[("/language", "@codice"), ("/reading", "@lettura"), ("/writing", "@scrittura"), ("/speaking", "@parlato")]));
static DESIRED: LazyLock<Names> = LazyLock::new(|| Names::new(&[("/profession", "@codice"), ("/title", ""), ("/working_time/0", "@orario"), ("/contract_types/0", "@contratto")]));
static LICENCE: LazyLock<Names> = LazyLock::new(|| Names::new(&[("", "@codice")]));
static VACANCY: LazyLock<Names> = LazyLock::new(|| {
    Names::new(&[
        ("/system/source_vacancy_id", "@id"),
        ("/system/communication/kind", "@stato"),
        ("/profile/positions", "Posti"),
        ("/profile/profession", "Professione/@codice"),
        ("/profile/profession_title", "Professione"),
        ("/profile/description", "Descrizione"),
        ("/profile/experience_required", "Requisiti/Esperienza"),
        ("/conditions/workplace", "SedeLavoro/@comune"),
        ("/conditions/contract_type", "Contratto/@codice"),
        ("/conditions/working_time", "Orario"),
        ("/publication/published_at", "Pubblicazione"),
        ("/publication/expires_on", "Scadenza"),
    ])
});
static EMPLOYER: LazyLock<Names> = LazyLock::new(|| {
    Names::new(&[
        ("/fiscal_code", "@cf"),
        ("/name", "RagioneSociale"),
        ("/sector", "@ateco"),
        ("/address/comune", "@comune"),
        ("/address/cap", "@cap"),
        ("/address/street", "Indirizzo"),
        ("/email", "Email"),
    ])
});

/// A `Lavoratore` to a CV.
pub(crate) fn worker(el: &El, h: &Header, prov: Provenance, base: &str) -> Result<Record, Box<Rejection>> {
    let mut issues = Vec::new();
    check_shape(el, &LAVORATORE, base, &mut issues);
    let mut f = F { base, issues };
    let modified = f.timestamp(el.attr("ultimaModifica"), "@ultimaModifica");
    let closed = match el.attr("stato") {
        None | Some("attivo") => false,
        Some("chiuso") => true,
        Some(_) => {
            f.err("@stato", "field.value", "stato must be attivo or chiuso");
            false
        }
    };
    let fiscal_code = f.req_text(el, "CodiceFiscale").to_uppercase();
    let surname = f.req_text(el, "Cognome");
    let name = f.req_text(el, "Nome");
    let sex = match el.child("Sesso").and_then(El::value).as_deref() {
        Some("M") => Some(Sex::M),
        Some("F") => Some(Sex::F),
        Some(_) => {
            f.err("Sesso", "field.value", "sex must be M or F");
            None
        }
        None => {
            f.err("Sesso", "field.required", "is required and missing or empty");
            None
        }
    };
    let birth = el.child("DataNascita").and_then(El::value);
    if birth.is_none() {
        f.err("DataNascita", "field.required", "is required and missing or empty");
    }
    let birth_date = f.date(birth.as_deref(), "DataNascita");
    let birthplace = f.req_attr(el.child("ComuneNascita"), "ComuneNascita", "codice");
    let citizenship = f.req_attr(el.child("Cittadinanza"), "Cittadinanza", "codice");
    let dom = el.child("Domicilio");
    let domicile = Address { comune: f.req_attr(dom, "Domicilio", "comune"), cap: dom.and_then(|d| d.attr("cap")).map(str::to_string), street: dom.and_then(El::value) };
    let contacts = Contacts { phone: el.child("Telefono").and_then(El::value), mobile: el.child("Cellulare").and_then(El::value), fax: None, email: f.req_text(el, "Email") };
    let mut experiences = Vec::new();
    for (at, e) in indexed(el, "Esperienze", "Esperienza") {
        experiences.push(WorkExperience {
            start: f.date(e.attr("dal"), format_args!("{at}/@dal")),
            end: f.date(e.attr("al"), format_args!("{at}/@al")),
            contract_type: f.contract(e.attr("contratto"), format_args!("{at}/@contratto")),
            profession: e.attr("qualifica").map(str::to_string),
            profession_title: None,
            duties: e.child("Mansioni").and_then(El::value),
            employer_name: e.child("Datore").and_then(El::value),
            employer_address: None,
        });
    }
    let mut education = Vec::new();
    for (at, t) in indexed(el, "Titoli", "Titolo") {
        education.push(Education { level: f.req_attr(Some(t), at, "livello"), description: t.value(), grade: None });
    }
    let mut languages = Vec::new();
    for (at, l) in indexed(el, "Lingue", "Lingua") {
        languages.push(f.language(l, at));
    }
    let mut licences = Licences::default();
    for (at, p) in indexed(el, "Patenti", "Patente") {
        licences.driving.push(f.req_attr(Some(p), at, "codice"));
    }
    let mut desired = Vec::new();
    for (at, p) in indexed(el, "Disponibilita", "Professione") {
        desired.push(DesiredProfession {
            profession: f.req_attr(Some(p), at, "codice"),
            title: p.value().unwrap_or_else(|| {
                f.err(at, "field.required", "the profession's description is required");
                String::new()
            }),
            working_time: f.working_time(p.attr("orario").map(str::to_string), format_args!("{at}/@orario")).into_iter().collect(),
            contract_types: f.contract(p.attr("contratto"), format_args!("{at}/@contratto")).into_iter().collect(),
            ..Default::default()
        });
    }
    if desired.is_empty() {
        f.err("Disponibilita", "field.required", "at least one Disponibilita/Professione is required");
    }
    let mut map = FieldMap::default();
    note(&mut map, el, base, "", None, &WORKER);
    for (list, group, item, names) in [
        ("/experiences", "Esperienze", "Esperienza", &*EXPERIENCE),
        ("/education", "Titoli", "Titolo", &*TITLE),
        ("/languages", "Lingue", "Lingua", &*LANGUAGE),
        ("/desired", "Disponibilita", "Professione", &*DESIRED),
    ] {
        for (i, (at, e)) in indexed(el, group, item).enumerate() {
            note(&mut map, e, &format!("{base}/{at}"), list, Some(i), names);
        }
    }
    for (i, (at, p)) in indexed(el, "Patenti", "Patente").enumerate() {
        note(&mut map, p, &format!("{base}/{at}"), "/licences/driving", Some(i), &LICENCE);
    }
    let mut prov = prov;
    prov.fields = SourceFields::mapped(map);
    if prov.cpi.is_empty() {
        prov.cpi.clone_from(&h.cpi);
    }
    prov.modified_ms = modified.as_ref().and_then(|t| std::num::NonZeroI64::new(t.unix_ms()));
    let issues = f.issues;
    let (Some(sex), Some(birth_date), Some(modified)) = (sex, birth_date, modified) else {
        return Err(Box::new(Rejection { provenance: prov, issues }));
    };
    if silgate_core::issue::has_errors(&issues) {
        return Err(Box::new(Rejection { provenance: prov, issues }));
    }
    Ok(Record::Cv(Box::new(Cv {
        worker: Worker { fiscal_code, surname, name, sex, birth_date, birthplace, citizenship, residence: None, domicile, contacts },
        experiences,
        education,
        training: Vec::new(),
        languages,
        it_skills: None,
        licences,
        desired,
        consent: Consent::default(),
        system: CvSystem {
            diffusion: Diffusion::National,
            inserted_at: modified,
            expires_on: None,
            intermediary: Intermediary { id: Some(prov.cpi.clone()).filter(|c| !c.is_empty()), ..Default::default() },
            communication: Communication {
                kind: if closed { CommunicationKind::Closure } else { CommunicationKind::Send },
                closure_reason: closed.then(|| "01".to_string()),
                code: None,
                previous_code: None,
            },
            income_support: None,
        },
        provenance: prov,
    })))
}

/// A `Richiesta` to a vacancy.
pub(crate) fn vacancy(el: &El, h: &Header, prov: Provenance, base: &str) -> Result<Record, Box<Rejection>> {
    let mut issues = Vec::new();
    check_shape(el, &RICHIESTA, base, &mut issues);
    let mut f = F { base, issues };
    let id = el.attr("id").map(str::to_string).unwrap_or_else(|| {
        f.err("@id", "field.required", "is required and missing or empty");
        String::new()
    });
    let modified = f.timestamp(el.attr("ultimaModifica"), "@ultimaModifica");
    let (kind, reason) = match el.attr("stato") {
        None | Some("aperta") => (CommunicationKind::Send, None),
        Some("chiusa") => (CommunicationKind::Closure, Some("01")),
        Some("ritirata") => (CommunicationKind::Closure, Some("03")),
        Some(_) => {
            f.err("@stato", "field.value", "stato must be aperta, chiusa or ritirata");
            (CommunicationKind::Send, None)
        }
    };
    let az = el.child("Azienda");
    if az.is_none() {
        f.err("Azienda", "field.required", "is required and missing");
    }
    let employer = Employer {
        fiscal_code: az.and_then(|a| a.attr("cf")).map(str::to_uppercase),
        name: az.map(|a| f.req_text(a, "RagioneSociale")).unwrap_or_default(),
        sector: f.req_attr(az, "Azienda", "ateco"),
        size_class: None,
        web: None,
        address: Address {
            comune: f.req_attr(az, "Azienda", "comune"),
            cap: az.and_then(|a| a.attr("cap")).map(str::to_string),
            street: az.and_then(|a| a.child("Indirizzo")).and_then(El::value),
        },
        phone: None,
        fax: None,
        email: az.map(|a| f.req_text(a, "Email")).unwrap_or_default(),
    };
    let positions = match el.child("Posti").and_then(El::value) {
        None => 1,
        Some(p) => match p.parse::<u8>() {
            Ok(n @ 1..=99) => n,
            _ => {
                f.err("Posti", "field.range", "must be a number between 1 and 99");
                1
            }
        },
    };
    let prof = el.child("Professione");
    let profession = f.req_attr(prof, "Professione", "codice");
    let profession_title = prof.and_then(El::value).unwrap_or_else(|| {
        f.err("Professione", "field.required", "the profession's description is required");
        String::new()
    });
    let description = f.req_text(el, "Descrizione");
    let workplace = f.req_attr(el.child("SedeLavoro"), "SedeLavoro", "comune");
    let contract_code = el.child("Contratto").and_then(|c| c.attr("codice"));
    if contract_code.is_none() {
        f.err("Contratto/@codice", "field.required", "is required and missing or empty");
    }
    let contract_type = f.contract(contract_code, "Contratto/@codice").unwrap_or_default();
    let working_time = f.working_time(el.child("Orario").and_then(El::value), "Orario");
    let published = f.timestamp(el.child("Pubblicazione").and_then(|p| p.value()).as_deref(), "Pubblicazione");
    let expires_on = f.date(el.child("Scadenza").and_then(El::value).as_deref(), "Scadenza");
    let mut requirements = Requirements::default();
    if let Some(r) = el.child("Requisiti") {
        for (i, t) in r.children("Titolo").enumerate() {
            let at = Loc { group: "Requisiti", g: None, item: "Titolo", n: i + 1 };
            requirements.education.push(EducationRequirement { level: f.req_attr(Some(t), at, "livello"), description: t.value() });
        }
        for (i, l) in r.children("Lingua").enumerate() {
            let skill = f.language(l, Loc { group: "Requisiti", g: None, item: "Lingua", n: i + 1 });
            requirements.languages.push(skill);
        }
        for (i, p) in r.children("Patente").enumerate() {
            let code = f.req_attr(Some(p), Loc { group: "Requisiti", g: None, item: "Patente", n: i + 1 }, "codice");
            requirements.driving_licences.push(code);
        }
    }
    let experience_required = match el.child("Requisiti").and_then(|r| r.child("Esperienza")).and_then(El::value).as_deref() {
        None => None,
        Some("SI") => Some(true),
        Some("NO") => Some(false),
        Some(_) => {
            f.err("Requisiti/Esperienza", "field.value", "must be SI or NO");
            None
        }
    };
    let mut map = FieldMap::default();
    note(&mut map, el, base, "", None, &VACANCY);
    if let Some(a) = el.child("Azienda") {
        note(&mut map, a, &format!("{base}/Azienda"), "/employer", None, &EMPLOYER);
    }
    if let Some(r) = el.child("Requisiti") {
        for (list, item, names) in
            [("/requirements/education", "Titolo", &*TITLE), ("/requirements/languages", "Lingua", &*LANGUAGE), ("/requirements/driving_licences", "Patente", &*LICENCE)]
        {
            for (i, t) in r.children(item).enumerate() {
                note(&mut map, t, &format!("{base}/Requisiti/{item}[{}]", i + 1), list, Some(i), names);
            }
        }
    }
    let mut prov = prov;
    prov.fields = SourceFields::mapped(map);
    if prov.cpi.is_empty() {
        prov.cpi.clone_from(&h.cpi);
    }
    prov.modified_ms = modified.as_ref().and_then(|t| std::num::NonZeroI64::new(t.unix_ms()));
    let issues = f.issues;
    let Some(published_at) = published else { return Err(Box::new(Rejection { provenance: prov, issues })) };
    if silgate_core::issue::has_errors(&issues) {
        return Err(Box::new(Rejection { provenance: prov, issues }));
    }
    Ok(Record::Vacancy(Box::new(Vacancy {
        employer,
        profile: Profile { positions, profession, profession_title, description, experience_required, experience_description: None },
        requirements,
        conditions: Conditions { workplace, contract_type, working_time, ..Default::default() },
        publication: Publication { published_at, expires_on },
        nulla_osta: false,
        system: VacancySystem {
            intermediary: Intermediary { id: Some(prov.cpi.clone()).filter(|c| !c.is_empty()), ..Default::default() },
            visible: None,
            communication: Communication { kind, closure_reason: reason.map(str::to_string), code: None, previous_code: None },
            source_vacancy_id: Some(id),
        },
        provenance: prov,
    })))
}
