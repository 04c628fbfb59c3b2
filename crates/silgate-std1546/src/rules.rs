//! Business rules beyond the XSD, checked on the canonical record.
//!
//! The XSD checks forms (patterns, lengths, enumerations); these rules check what a
//! schema cannot: checksums, coherence between fields, codes against the official
//! tables at the right date, and rules that hold only in some cases. A rule never
//! repeats a form check the XSD already makes, so each problem is reported once.
//!
//! Rule ids (stable, used by the CLI, quarantine and audit):
//!
//! | id | fires when |
//! |---|---|
//! | `cf.checksum` | the codice fiscale's check character (or the 11-digit check digit) is wrong |
//! | `cf.birth-date`, `cf.sex`, `cf.birthplace` | the codice fiscale disagrees with the record |
//! | `piva.checksum` | an employer's 11-digit partita IVA check digit is wrong |
//! | `comune.unknown` | a Belfiore code no comune or state ever had |
//! | `comune.not-valid-at-date` | the code was not in use at the relevant date (birth date for the birthplace, the check date for domicile and workplace) |
//! | `comune.unspecified` | warning: `0000` |
//! | `ateco.unknown` | an ATECO code missing from the complete ATECO 2007 table |
//! | `cp2011.unknown` | a profession outside every CP2011 grande gruppo (error), or missing from the incomplete table (warning) |
//! | `titolo.unknown`, `lingua.unknown`, `cittadinanza.unknown`, `patente.unknown`, `contratto.unknown` | warning: well-formed code missing from an incomplete table |
//! | `date.birth-in-future` | birth date after the check date |
//! | `date.birth-implausible` | the worker would be under 14 or over 100 when the CV was entered |
//! | `date.end-before-start` | an experience ends before it starts |
//! | `date.expiry-before-publication` | a vacancy expires before it is published |
//! | `date.expiry-before-insert` | a CV expires before it was entered |
//! | `closure.missing-previous` | a closure (`02`) without the code it closes |
//! | `closure.missing-reason` | a closure (`02`) without `motivochiusura` |
//! | `closure.reason-on-send` | a send (`01`) carrying a closure reason |

use silgate_codes::belfiore::PlaceCheck;
use silgate_codes::cf::{self, Checked};
use silgate_codes::{CodeCheck, CodeTables};
use silgate_core::*;

struct Rules<'a> {
    t: &'a CodeTables,
    today: Date,
    out: Vec<Issue>,
}

impl Rules<'_> {
    fn code(&mut self, path: &str, rule: &str, what: &str, code: &str, check: CodeCheck) {
        match check {
            CodeCheck::Known | CodeCheck::BadFormat => {}
            CodeCheck::NotInIncompleteTable => {
                self.out.push(Issue::warning(path, rule, format!("{what} '{code}' is not in the embedded table, which is incomplete")));
            }
            CodeCheck::Unknown => self.out.push(Issue::error(path, rule, format!("{what} '{code}' does not exist"))),
        }
    }

    fn place(&mut self, path: &str, code: &str, at: Date, at_what: &str) {
        match self.t.belfiore.check(code, Some(at)) {
            PlaceCheck::Valid(_) | PlaceCheck::BadFormat => {}
            PlaceCheck::Unspecified => self.out.push(Issue::warning(path, "comune.unspecified", "place is 0000 (not specified)")),
            PlaceCheck::Unknown => self.out.push(Issue::error(path, "comune.unknown", format!("Belfiore code '{code}' is no comune or foreign state"))),
            PlaceCheck::NotValidAt { periods } => {
                let spans: Vec<String> = periods
                    .iter()
                    .map(|p| {
                        let from = p.valid_from.map(time_types_fmt).unwrap_or_else(|| "?".into());
                        let to = p.valid_to.map(time_types_fmt).unwrap_or_else(|| "today".into());
                        format!("{from}..{to}")
                    })
                    .collect();
                self.out.push(Issue::error(path, "comune.not-valid-at-date", format!("Belfiore code '{code}' was not in use at the {at_what} (in use {})", spans.join(", "))));
            }
        }
    }

    fn profession(&mut self, path: &str, code: &str) {
        let check = self.t.check_profession(code);
        self.code(path, "cp2011.unknown", "CP2011 profession", code, check);
    }

    fn contract(&mut self, path: &str, code: &str) {
        let check = self.t.check_contract(code);
        self.code(path, "contratto.unknown", "contract type", code, check);
    }

    fn language(&mut self, path: &str, l: &LanguageSkill) {
        let check = self.t.check_lingua(&l.language);
        self.code(&format!("{path}/idlingua"), "lingua.unknown", "language", &l.language, check);
    }

    fn titolo(&mut self, path: &str, code: &str) {
        let check = self.t.check_titolo(code);
        self.code(path, "titolo.unknown", "education level", code, check);
    }

    fn patente(&mut self, path: &str, code: &str) {
        let check = self.t.check_patente(code);
        self.code(path, "patente.unknown", "driving licence", code, check);
    }

    fn communication(&mut self, base: &str, what: &str, c: &Communication) {
        let tipo = if what == "candidatura" { "tipocandidatura" } else { "tipoofferta" };
        match c.kind {
            CommunicationKind::Closure => {
                if c.previous_code.as_deref().is_none_or(str::is_empty) {
                    self.out.push(Issue::error(
                        format!("{base}/codice{what}precedente"),
                        "closure.missing-previous",
                        format!("a closure ({tipo} 02) must name the code it closes"),
                    ));
                }
                if c.closure_reason.as_deref().is_none_or(str::is_empty) {
                    self.out.push(Issue::error(format!("{base}/motivochiusura"), "closure.missing-reason", format!("a closure ({tipo} 02) must carry motivochiusura")));
                }
            }
            CommunicationKind::Send => {
                if c.closure_reason.is_some() {
                    self.out.push(Issue::error(format!("{base}/motivochiusura"), "closure.reason-on-send", format!("motivochiusura is only allowed on a closure ({tipo} 02)")));
                }
            }
        }
    }
}

fn time_types_fmt(d: Date) -> String {
    silgate_core::time_types::format_date(d)
}

/// Checks a CV; `today` is the date against which "still in use" and "in the future" are judged.
pub fn check_cv(cv: &Cv, t: &CodeTables, today: Date) -> Vec<Issue> {
    let mut r = Rules { t, today, out: Vec::new() };
    let w = &cv.worker;
    let pa = "/Candidatura/Lavoratore/DatiAnagrafici";
    match cf::check(&w.fiscal_code) {
        Ok(Checked::Personal(d)) => {
            let place = (w.birthplace != "0000").then_some(w.birthplace.as_str());
            for m in cf::coherence(&d, Some(w.birth_date), Some(w.sex), place) {
                r.out.push(Issue::error(format!("{pa}/codicefiscale"), m.as_code(), m.message()));
            }
        }
        Ok(Checked::Numeric) => {}
        Err(e @ (cf::CfError::Month | cf::CfError::Day)) => r.out.push(Issue::error(format!("{pa}/codicefiscale"), "cf.format", e.to_string())),
        Err(e) if e.as_code() == "cf.checksum" => r.out.push(Issue::error(format!("{pa}/codicefiscale"), "cf.checksum", e.to_string())),
        Err(_) => {} // length and characters: the XSD pattern reports them
    }
    if w.birth_date > r.today {
        r.out.push(Issue::error(format!("{pa}/datanascita"), "date.birth-in-future", "birth date is after today"));
    } else {
        let at = cv.system.inserted_at.date();
        let age_years = (at - w.birth_date).whole_days() / 365;
        if !(14..=100).contains(&age_years) {
            r.out.push(Issue::error(format!("{pa}/datanascita"), "date.birth-implausible", "the worker would be under 14 or over 100 when the CV was entered"));
        }
    }
    r.place(&format!("{pa}/idcomune"), &w.birthplace, w.birth_date, "birth date");
    let c = r.t.check_cittadinanza(&w.citizenship);
    r.code(&format!("{pa}/idcittadinanza"), "cittadinanza.unknown", "citizenship", &w.citizenship, c);
    r.place("/Candidatura/Lavoratore/Domicilio/idcomune", &w.domicile.comune, today, "check date");

    let pc = "/Candidatura/DatiCurriculari";
    for (i, e) in cv.experiences.iter().enumerate() {
        let p = format!("{pc}/EsperienzeLavorative[{}]", i + 1);
        if let Some(ct) = &e.contract_type {
            r.contract(&format!("{p}/tipoesperienza"), ct);
        }
        if let Some(q) = &e.profession {
            r.profession(&format!("{p}/qualificasvolta"), q);
        }
        if let (Some(s), Some(f)) = (e.start, e.end)
            && f < s
        {
            r.out.push(Issue::error(format!("{p}/datafine"), "date.end-before-start", "datafine is before datainizio"));
        }
    }
    for (i, e) in cv.education.iter().enumerate() {
        r.titolo(&format!("{pc}/Istruzione[{}]/titolostudio", i + 1), &e.level);
    }
    for (i, tr) in cv.training.iter().enumerate() {
        let p = format!("{pc}/Formazione[{}]", i + 1);
        if let Some(place) = &tr.place
            && !matches!(r.t.belfiore.check(place, None), PlaceCheck::Valid(_) | PlaceCheck::BadFormat | PlaceCheck::Unspecified)
        {
            r.out.push(Issue::error(format!("{p}/idsede"), "comune.unknown", format!("Belfiore code '{place}' is no comune or foreign state")));
        }
        if let Some(q) = &tr.qualification {
            r.profession(&format!("{p}/idqualifica"), q);
        }
    }
    for (i, l) in cv.languages.iter().enumerate() {
        r.language(&format!("{pc}/Lingue[{}]", i + 1), l);
    }
    for (i, d) in cv.licences.driving.iter().enumerate() {
        r.patente(&format!("{pc}/AbilitazioniPatenti/idpatenteguida[{}]", i + 1), d);
    }
    for (i, d) in cv.desired.iter().enumerate() {
        let p = format!("{pc}/ProfessioneDesiderataDisponibilita[{}]", i + 1);
        r.profession(&format!("{p}/idprofessione"), &d.profession);
        for (j, ct) in d.contract_types.iter().enumerate() {
            r.contract(&format!("{p}/idtipologiacontratto[{}]", j + 1), ct);
        }
    }
    let ps = "/Candidatura/DatiSistema";
    if let Some(exp) = cv.system.expires_on
        && exp < cv.system.inserted_at.date()
    {
        r.out.push(Issue::error(format!("{ps}/datascadenza"), "date.expiry-before-insert", "datascadenza is before datainserimento"));
    }
    if let Some(c) = &cv.system.intermediary.comune {
        r.place(&format!("{ps}/idcomune"), c, today, "check date");
    }
    r.communication(ps, "candidatura", &cv.system.communication);
    r.out
}

/// Checks a vacancy; `today` as for [`check_cv`].
pub fn check_vacancy(v: &Vacancy, t: &CodeTables, today: Date) -> Vec<Issue> {
    let mut r = Rules { t, today, out: Vec::new() };
    let pa = "/Vacancy/DatoreLavoro/DatiAnagrafici";
    if let Some(fc) = &v.employer.fiscal_code {
        let path = format!("{pa}/codicefiscale");
        if fc.len() == 11 {
            if let Err(e) = silgate_codes::piva::check(fc)
                && e.as_code() == "piva.checksum"
            {
                r.out.push(Issue::error(path, "piva.checksum", e.to_string()));
            }
        } else {
            match cf::check(fc) {
                Err(e @ (cf::CfError::Month | cf::CfError::Day)) => r.out.push(Issue::error(path, "cf.format", e.to_string())),
                Err(e) if e.as_code() == "cf.checksum" => r.out.push(Issue::error(path, "cf.checksum", e.to_string())),
                _ => {}
            }
        }
    }
    let check = r.t.check_ateco(&v.employer.sector);
    r.code(&format!("{pa}/settore"), "ateco.unknown", "ATECO 2007 code", &v.employer.sector, check);
    r.place("/Vacancy/DatoreLavoro/DatiContatto/idcomune", &v.employer.address.comune, today, "check date");
    r.profession("/Vacancy/Richiesta/ProfiloRichiesto/idprofessione", &v.profile.profession);
    let pi = "/Vacancy/Richiesta/IstruzioneFormazione";
    for (i, e) in v.requirements.education.iter().enumerate() {
        r.titolo(&format!("{pi}/titolostudio[{}]/idtitolostudio", i + 1), &e.level);
    }
    for (i, l) in v.requirements.languages.iter().enumerate() {
        r.language(&format!("{pi}/Lingua[{}]", i + 1), l);
    }
    for (i, d) in v.requirements.driving_licences.iter().enumerate() {
        r.patente(&format!("{pi}/idpatenteguida[{}]", i + 1), d);
    }
    let pco = "/Vacancy/Richiesta/CondizioniOfferte";
    r.place(&format!("{pco}/idcomune"), &v.conditions.workplace, today, "check date");
    r.contract(&format!("{pco}/idtipologiacontratto"), &v.conditions.contract_type);
    if let Some(exp) = v.publication.expires_on
        && exp < v.publication.published_at.date()
    {
        r.out.push(Issue::error("/Vacancy/Richiesta/DurataRichiesta/datascadenza", "date.expiry-before-publication", "datascadenza is before datapubblicazione"));
    }
    let ps = "/Vacancy/DatiSistema";
    if let Some(c) = &v.system.intermediary.comune {
        r.place(&format!("{ps}/idcomune"), c, today, "check date");
    }
    r.communication(ps, "offerta", &v.system.communication);
    r.out
}

/// Checks either kind.
pub fn check_record(rec: &Record, t: &CodeTables, today: Date) -> Vec<Issue> {
    match rec {
        Record::Cv(c) => check_cv(c, t, today),
        Record::Vacancy(v) => check_vacancy(v, t, today),
    }
}
