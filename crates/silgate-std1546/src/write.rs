//! canonical -> 1546 XML.
//!
//! The writer emits elements in the fixed order of the XSD sequences, with the
//! `cliclavoro:` prefix the ministry's examples use. It never fails: what the model
//! cannot say in XML (a missing communication code, a residence) is either reported by
//! validation of the output or, for residence and provenance, deliberately dropped.

use silgate_core::time_types::format_date;
use silgate_core::*;

/// Namespace of the CV document.
pub const NS_CANDIDATURA: &str = "http://servizi.lavoro.gov.it/candidatura";
/// Namespace of the vacancy document.
pub const NS_VACANCY: &str = "http://servizi.lavoro.gov.it/vacancy";
const P: &str = "cliclavoro:";

struct Out {
    s: String,
}

impl Out {
    fn open(&mut self, name: &str) {
        self.s.push('<');
        self.s.push_str(P);
        self.s.push_str(name);
        self.s.push('>');
    }

    fn close(&mut self, name: &str) {
        self.s.push_str("</");
        self.s.push_str(P);
        self.s.push_str(name);
        // One element per line: libxml2 reports errors by line, and a line then names
        // exactly one element of the document.
        self.s.push_str(">\n");
    }

    fn text(&mut self, t: &str) {
        for c in t.chars() {
            match c {
                '&' => self.s.push_str("&amp;"),
                '<' => self.s.push_str("&lt;"),
                '>' => self.s.push_str("&gt;"),
                '\r' => self.s.push_str("&#13;"),
                c => self.s.push(c),
            }
        }
    }

    fn el(&mut self, name: &str, value: &str) {
        self.open(name);
        self.text(value);
        self.close(name);
    }

    fn opt(&mut self, name: &str, value: Option<&str>) {
        if let Some(v) = value {
            self.el(name, v);
        }
    }

    fn opt_string(&mut self, name: &str, value: &Option<String>) {
        self.opt(name, value.as_deref());
    }

    fn yes_no(&mut self, name: &str, value: Option<bool>) {
        self.opt(name, value.map(yes_no));
    }

    fn date(&mut self, name: &str, value: Option<Date>) {
        if let Some(d) = value {
            self.el(name, &format_date(d));
        }
    }

    fn all(&mut self, name: &str, values: &[String]) {
        for v in values {
            self.el(name, v);
        }
    }
}

pub(crate) fn yes_no(b: bool) -> &'static str {
    if b { "SI" } else { "NO" }
}

fn header(out: &mut Out, root: &str, ns: &str) {
    out.s.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<");
    out.s.push_str(P);
    out.s.push_str(root);
    out.s.push_str(" xmlns:cliclavoro=\"");
    out.s.push_str(ns);
    out.s.push_str("\">\n");
}

fn language(out: &mut Out, l: &LanguageSkill) {
    out.el("idlingua", &l.language);
    out.opt("idlivelloletto", l.reading.map(Cefr::as_str));
    out.opt("idlivelloscritto", l.writing.map(Cefr::as_str));
    out.opt("idlivelloparlato", l.speaking.map(Cefr::as_str));
}

fn intermediary_contacts(out: &mut Out, i: &Intermediary) {
    out.opt_string("codicefiscaleintermediario", &i.fiscal_code);
    out.opt_string("denominazioneintermediario", &i.name);
    out.opt_string("indirizzo", &i.street);
    out.opt_string("idcomune", &i.comune);
    out.opt_string("cap", &i.cap);
    out.opt_string("telefono", &i.phone);
    out.opt_string("fax", &i.fax);
    out.opt_string("email", &i.email);
}

/// Writes a CV as a Candidatura Rev.038 document.
pub fn write_cv(cv: &Cv) -> String {
    let mut o = Out { s: String::with_capacity(4096) };
    header(&mut o, "Candidatura", NS_CANDIDATURA);
    let w = &cv.worker;
    o.open("Lavoratore");
    o.open("DatiAnagrafici");
    o.el("codicefiscale", &w.fiscal_code);
    o.el("cognome", &w.surname);
    o.el("nome", &w.name);
    o.el(
        "sesso",
        match w.sex {
            Sex::M => "M",
            Sex::F => "F",
        },
    );
    o.date("datanascita", Some(w.birth_date));
    o.el("idcomune", &w.birthplace);
    o.el("idcittadinanza", &w.citizenship);
    o.close("DatiAnagrafici");
    o.open("Domicilio");
    o.el("idcomune", &w.domicile.comune);
    o.opt_string("cap", &w.domicile.cap);
    o.close("Domicilio");
    o.open("Recapiti");
    o.opt_string("indirizzo", &w.domicile.street);
    o.opt_string("telefono", &w.contacts.phone);
    o.opt_string("cellulare", &w.contacts.mobile);
    o.opt_string("fax", &w.contacts.fax);
    o.el("email", &w.contacts.email);
    o.close("Recapiti");
    o.close("Lavoratore");

    o.open("DatiCurriculari");
    for e in &cv.experiences {
        o.open("EsperienzeLavorative");
        o.opt_string("tipoesperienza", &e.contract_type);
        o.opt_string("qualificasvolta", &e.profession);
        o.opt_string("descrqualificasvolta", &e.profession_title);
        o.opt_string("principalimansioni", &e.duties);
        o.opt_string("nomedatore", &e.employer_name);
        o.date("datainizio", e.start);
        o.date("datafine", e.end);
        o.opt_string("indirizzodatore", &e.employer_address);
        o.close("EsperienzeLavorative");
    }
    for e in &cv.education {
        o.open("Istruzione");
        o.el("titolostudio", &e.level);
        o.opt_string("descrizioneistruzione", &e.description);
        o.opt_string("votazione", &e.grade);
        o.close("Istruzione");
    }
    for t in &cv.training {
        o.open("Formazione");
        o.opt_string("titolocorso", &t.title);
        o.opt_string("idsede", &t.place);
        o.opt("durata", t.duration.map(|d| d.to_string()).as_deref());
        o.opt(
            "idtipologiadurata",
            t.duration_unit.map(|u| match u {
                DurationUnit::O => "O",
                DurationUnit::G => "G",
                DurationUnit::M => "M",
                DurationUnit::A => "A",
            }),
        );
        o.opt("idattestazione", t.attestation.map(attestation_code));
        o.opt_string("idqualifica", &t.qualification);
        o.opt_string("descrqualifica", &t.qualification_title);
        o.close("Formazione");
    }
    for l in &cv.languages {
        o.open("Lingue");
        language(&mut o, l);
        o.close("Lingue");
    }
    if let Some(it) = &cv.it_skills {
        o.open("ConoscenzeInformatiche");
        o.opt_string("tipoconoscenza", &it.kind);
        o.opt_string("specifiche", &it.details);
        o.close("ConoscenzeInformatiche");
    }
    if !cv.licences.is_empty() {
        o.open("AbilitazioniPatenti");
        o.all("idalbo", &cv.licences.registers);
        o.all("idpatenteguida", &cv.licences.driving);
        o.all("idpatentino", &cv.licences.permits);
        o.close("AbilitazioniPatenti");
    }
    for d in &cv.desired {
        o.open("ProfessioneDesiderataDisponibilita");
        o.el("idprofessione", &d.profession);
        o.el("descrprofessione", &d.title);
        o.opt_string("descrizioneprofessione", &d.description);
        o.yes_no("esperienzasettore", d.sector_experience);
        o.opt_string("descrizioneesperienza", &d.experience_description);
        o.yes_no("trasferte", d.travel);
        o.all("idmodalitalavorativa", &d.working_time);
        o.all("idtipologiacontratto", &d.contract_types);
        o.yes_no("mezzitrasporto", d.own_transport);
        o.close("ProfessioneDesiderataDisponibilita");
    }
    o.close("DatiCurriculari");

    let s = &cv.system;
    o.open("DatiSistema");
    o.el("ambitodiffusione", s.diffusion.code());
    o.el("datainserimento", &s.inserted_at.to_string());
    o.date("datascadenza", s.expires_on);
    o.opt_string("idintermediario", &s.intermediary.id);
    intermediary_contacts(&mut o, &s.intermediary);
    o.yes_no("visibilita", cv.consent.visible);
    communication(&mut o, &s.communication, "candidatura");
    o.yes_no("percettore", s.income_support);
    o.close("DatiSistema");
    o.close("Candidatura");
    o.s
}

fn communication(o: &mut Out, c: &Communication, what: &str) {
    o.el(&format!("tipo{}", if what == "candidatura" { "candidatura" } else { "offerta" }), c.kind.code());
    o.opt_string("motivochiusura", &c.closure_reason);
    // An unallocated code is written empty: the XSD then names the missing code.
    o.el(&format!("codice{what}"), c.code.as_deref().unwrap_or(""));
    o.opt(&format!("codice{what}precedente"), c.previous_code.as_deref());
}

pub(crate) fn attestation_code(a: Attestation) -> &'static str {
    match a {
        Attestation::N => "N",
        Attestation::F => "F",
        Attestation::Q => "Q",
        Attestation::S => "S",
        Attestation::C => "C",
        Attestation::T => "T",
    }
}

/// Writes a vacancy as a Vacancy Rev.064 document.
pub fn write_vacancy(v: &Vacancy) -> String {
    let mut o = Out { s: String::with_capacity(4096) };
    header(&mut o, "Vacancy", NS_VACANCY);
    let e = &v.employer;
    o.open("DatoreLavoro");
    o.open("DatiAnagrafici");
    o.opt_string("codicefiscale", &e.fiscal_code);
    o.el("denominazione", &e.name);
    o.el("settore", &e.sector);
    o.opt_string("ampiezza", &e.size_class);
    o.opt_string("web", &e.web);
    o.close("DatiAnagrafici");
    o.open("DatiContatto");
    o.opt_string("indirizzo", &e.address.street);
    o.el("idcomune", &e.address.comune);
    o.opt_string("cap", &e.address.cap);
    o.opt_string("telefono", &e.phone);
    o.opt_string("fax", &e.fax);
    o.el("email", &e.email);
    o.close("DatiContatto");
    o.close("DatoreLavoro");

    o.open("Richiesta");
    let p = &v.profile;
    o.open("ProfiloRichiesto");
    o.el("numerolavoratori", &p.positions.to_string());
    o.el("idprofessione", &p.profession);
    o.el("descrprofessione", &p.profession_title);
    o.el("descrizionericerca", &p.description);
    o.yes_no("esperienzarichiesta", p.experience_required);
    o.opt_string("descrizioneesperienza", &p.experience_description);
    o.close("ProfiloRichiesto");
    let r = &v.requirements;
    o.open("IstruzioneFormazione");
    for t in &r.education {
        o.open("titolostudio");
        o.el("idtitolostudio", &t.level);
        o.opt_string("descrizionestudio", &t.description);
        o.close("titolostudio");
    }
    o.opt_string("idalbo", &r.register);
    for l in &r.languages {
        o.open("Lingua");
        language(&mut o, l);
        o.close("Lingua");
    }
    o.opt_string("conoscenzeinformatiche", &r.it_skills);
    o.opt_string("altrecapacita", &r.other_skills);
    o.yes_no("trasferte", r.travel);
    o.all("idpatenteguida", &r.driving_licences);
    o.yes_no("idmezzitrasporto", r.own_transport);
    o.all("idpatentino", &r.permits);
    o.opt_string("ulteriorirequisiti", &r.further);
    o.close("IstruzioneFormazione");
    let c = &v.conditions;
    o.open("CondizioniOfferte");
    o.el("idcomune", &c.workplace);
    o.el("idtipologiacontratto", &c.contract_type);
    o.opt_string("durata", &c.duration);
    o.opt_string("idccnl", &c.ccnl);
    o.opt("idlivellocontrattuale", c.contract_level.map(|l| l.to_string()).as_deref());
    o.opt_string("idmodalitalavoro", &c.working_time);
    o.opt("retribuzioneannualorda", c.annual_gross_pay.map(|l| l.to_string()).as_deref());
    o.opt_string("ulterioricondizioni", &c.further);
    o.close("CondizioniOfferte");
    o.open("DurataRichiesta");
    o.el("datapubblicazione", &v.publication.published_at.to_string());
    o.date("datascadenza", v.publication.expires_on);
    o.close("DurataRichiesta");
    o.close("Richiesta");

    o.open("AltreInformazioni");
    o.el("N.O.", yes_no(v.nulla_osta));
    o.close("AltreInformazioni");

    let s = &v.system;
    o.open("DatiSistema");
    o.opt_string("intermediario", &s.intermediary.id);
    intermediary_contacts(&mut o, &s.intermediary);
    o.yes_no("visibilita", s.visible);
    communication(&mut o, &s.communication, "offerta");
    o.opt_string("codiceoffertaintermediario", &s.source_vacancy_id);
    o.close("DatiSistema");
    o.close("Vacancy");
    o.s
}

/// Writes either kind.
pub fn write_record(r: &Record) -> String {
    match r {
        Record::Cv(c) => write_cv(c),
        Record::Vacancy(v) => write_vacancy(v),
    }
}
