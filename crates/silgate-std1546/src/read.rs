//! 1546 XML -> canonical.
//!
//! Reading never stops at the first problem: every missing, unexpected or unreadable
//! element becomes an [`Issue`] with its path, and the record is returned when all its
//! mandatory fields could be read. Element order is the XSD's business, not the
//! reader's: the reader finds children by name.

use crate::tree::{self, Element};
use crate::write::{NS_CANDIDATURA, NS_VACANCY};
use silgate_core::time_types::parse_date;
use silgate_core::*;

struct Ctx {
    issues: Vec<Issue>,
    /// A mandatory field could not be read: no record.
    failed: bool,
}

impl Ctx {
    fn error(&mut self, path: &str, rule: &str, msg: impl Into<String>) {
        // The source is a national document: an issue's field is its own path.
        self.issues.push(Issue::error(path, rule, msg).at_source(path));
        self.failed = true;
    }
}

#[derive(Clone, Copy)]
struct Node<'a> {
    el: &'a Element,
}

fn join(parent: &str, name: &str) -> String {
    format!("{parent}/{name}")
}

impl<'a> Node<'a> {
    fn find(&self, name: &str) -> Option<&'a Element> {
        self.el.children.iter().find(|c| c.name == name)
    }

    fn all<'n>(&self, name: &'n str) -> impl Iterator<Item = (usize, &'a Element)> + use<'a, 'n> {
        self.el.children.iter().filter(move |c| c.name == name).enumerate().map(|(i, c)| (i + 1, c))
    }

    fn opt(&self, name: &str) -> Option<String> {
        self.find(name).map(|c| c.text.clone())
    }

    fn req(&self, path: &str, name: &str, ctx: &mut Ctx) -> String {
        match self.find(name) {
            Some(c) => c.text.clone(),
            None => {
                ctx.error(&join(path, name), "xml.missing", format!("mandatory element '{name}' is missing"));
                String::new()
            }
        }
    }

    fn req_node(&self, path: &str, name: &str, ctx: &mut Ctx) -> Option<Node<'a>> {
        let found = self.find(name).map(|el| Node { el });
        if found.is_none() {
            ctx.error(&join(path, name), "xml.missing", format!("mandatory element '{name}' is missing"));
        }
        found
    }

    fn many(&self, name: &str) -> Vec<String> {
        self.all(name).map(|(_, c)| c.text.clone()).collect()
    }

    /// Reports every child not in `known`.
    fn only(&self, path: &str, known: &[&str], ctx: &mut Ctx) {
        for c in &self.el.children {
            if !known.contains(&c.name.as_str()) {
                ctx.error(&join(path, &c.name), "xml.unexpected-element", format!("element '{}' is not part of '{}'", c.name, self.el.name));
            }
        }
    }
}

fn yes_no(path: &str, v: Option<String>, ctx: &mut Ctx) -> Option<bool> {
    match v.as_deref() {
        None => None,
        Some("SI") => Some(true),
        Some("NO") => Some(false),
        Some(_) => {
            ctx.error(path, "xml.yes-no", "value must be SI or NO");
            None
        }
    }
}

fn date(path: &str, v: Option<String>, ctx: &mut Ctx) -> Option<Date> {
    let v = v?;
    match parse_date(&v) {
        Ok(d) => Some(d),
        Err(e) => {
            ctx.error(path, "xml.date", e.to_string());
            None
        }
    }
}

fn timestamp(path: &str, v: String, ctx: &mut Ctx) -> Option<Timestamp> {
    match v.parse::<Timestamp>() {
        Ok(t) => Some(t),
        Err(e) => {
            ctx.error(path, "xml.datetime", e.to_string());
            None
        }
    }
}

fn number<T: std::str::FromStr>(path: &str, v: Option<String>, ctx: &mut Ctx) -> Option<T> {
    let v = v?;
    match v.parse::<T>() {
        Ok(n) if v.bytes().all(|b| b.is_ascii_digit()) => Some(n),
        _ => {
            ctx.error(path, "xml.number", "value is not a number in range");
            None
        }
    }
}

fn cefr(path: &str, v: Option<String>, ctx: &mut Ctx) -> Option<Cefr> {
    let v = v?;
    let c = Cefr::parse(&v);
    if c.is_none() {
        ctx.error(path, "xml.cefr", format!("'{v}' is not a CEFR level A1..C2"));
    }
    c
}

fn language(n: Node<'_>, path: &str, ctx: &mut Ctx) -> Option<LanguageSkill> {
    n.only(path, &["idlingua", "idlivelloletto", "idlivelloscritto", "idlivelloparlato"], ctx);
    let lang = n.req(path, "idlingua", ctx);
    Some(LanguageSkill {
        language: lang,
        reading: cefr(&join(path, "idlivelloletto"), n.opt("idlivelloletto"), ctx),
        writing: cefr(&join(path, "idlivelloscritto"), n.opt("idlivelloscritto"), ctx),
        speaking: cefr(&join(path, "idlivelloparlato"), n.opt("idlivelloparlato"), ctx),
    })
}

fn communication(n: Node<'_>, path: &str, what: &str, ctx: &mut Ctx) -> Communication {
    let tipo = if what == "candidatura" { "tipocandidatura" } else { "tipoofferta" };
    let kind_text = n.req(path, tipo, ctx);
    let kind = CommunicationKind::parse(&kind_text).unwrap_or_else(|| {
        if !kind_text.is_empty() {
            ctx.error(&join(path, tipo), "xml.enumeration", "value must be 01 (invio) or 02 (chiusura)");
        }
        CommunicationKind::Send
    });
    Communication {
        kind,
        closure_reason: n.opt("motivochiusura"),
        code: Some(n.req(path, &format!("codice{what}"), ctx)),
        previous_code: n.opt(&format!("codice{what}precedente")),
    }
}

fn intermediary(n: Node<'_>, id_name: &str) -> Intermediary {
    Intermediary {
        id: n.opt(id_name),
        fiscal_code: n.opt("codicefiscaleintermediario"),
        name: n.opt("denominazioneintermediario"),
        street: n.opt("indirizzo"),
        comune: n.opt("idcomune"),
        cap: n.opt("cap"),
        phone: n.opt("telefono"),
        fax: n.opt("fax"),
        email: n.opt("email"),
    }
}

fn read_cv(root: Node<'_>, provenance: Provenance, ctx: &mut Ctx) -> Option<Cv> {
    let p = "/Candidatura";
    root.only(p, &["Lavoratore", "DatiCurriculari", "DatiSistema"], ctx);
    let lav = root.req_node(p, "Lavoratore", ctx);
    let cur = root.req_node(p, "DatiCurriculari", ctx);
    let sys = root.req_node(p, "DatiSistema", ctx);
    let (lav, cur, sys) = (lav?, cur?, sys?);

    let pl = "/Candidatura/Lavoratore";
    lav.only(pl, &["DatiAnagrafici", "Domicilio", "Recapiti"], ctx);
    let ana = lav.req_node(pl, "DatiAnagrafici", ctx);
    let dom = lav.req_node(pl, "Domicilio", ctx);
    let rec = lav.req_node(pl, "Recapiti", ctx);
    let (ana, dom, rec) = (ana?, dom?, rec?);
    let pa = "/Candidatura/Lavoratore/DatiAnagrafici";
    ana.only(pa, &["codicefiscale", "cognome", "nome", "sesso", "datanascita", "idcomune", "idcittadinanza"], ctx);
    let sex = match ana.req(pa, "sesso", ctx).as_str() {
        "M" => Some(Sex::M),
        "F" => Some(Sex::F),
        "" => None,
        _ => {
            ctx.error(&join(pa, "sesso"), "xml.enumeration", "value must be M or F");
            None
        }
    };
    let birth_text = ana.req(pa, "datanascita", ctx);
    let birth = if birth_text.is_empty() { None } else { date(&join(pa, "datanascita"), Some(birth_text), ctx) };
    let pd = "/Candidatura/Lavoratore/Domicilio";
    dom.only(pd, &["idcomune", "cap"], ctx);
    let pr = "/Candidatura/Lavoratore/Recapiti";
    rec.only(pr, &["indirizzo", "telefono", "cellulare", "fax", "email"], ctx);
    let worker_partial = (
        ana.req(pa, "codicefiscale", ctx),
        ana.req(pa, "cognome", ctx),
        ana.req(pa, "nome", ctx),
        ana.req(pa, "idcomune", ctx),
        ana.req(pa, "idcittadinanza", ctx),
        Address { comune: dom.req(pd, "idcomune", ctx), cap: dom.opt("cap"), street: rec.opt("indirizzo") },
        Contacts { phone: rec.opt("telefono"), mobile: rec.opt("cellulare"), fax: rec.opt("fax"), email: rec.req(pr, "email", ctx) },
    );

    let pc = "/Candidatura/DatiCurriculari";
    cur.only(pc, &["EsperienzeLavorative", "Istruzione", "Formazione", "Lingue", "ConoscenzeInformatiche", "AbilitazioniPatenti", "ProfessioneDesiderataDisponibilita"], ctx);
    let mut experiences = Vec::new();
    for (i, el) in cur.all("EsperienzeLavorative") {
        let n = Node { el };
        let path = format!("{pc}/EsperienzeLavorative[{i}]");
        n.only(&path, &["tipoesperienza", "qualificasvolta", "descrqualificasvolta", "principalimansioni", "nomedatore", "datainizio", "datafine", "indirizzodatore"], ctx);
        experiences.push(WorkExperience {
            contract_type: n.opt("tipoesperienza"),
            profession: n.opt("qualificasvolta"),
            profession_title: n.opt("descrqualificasvolta"),
            duties: n.opt("principalimansioni"),
            employer_name: n.opt("nomedatore"),
            start: date(&join(&path, "datainizio"), n.opt("datainizio"), ctx),
            end: date(&join(&path, "datafine"), n.opt("datafine"), ctx),
            employer_address: n.opt("indirizzodatore"),
        });
    }
    let mut education = Vec::new();
    for (i, el) in cur.all("Istruzione") {
        let n = Node { el };
        let path = format!("{pc}/Istruzione[{i}]");
        n.only(&path, &["titolostudio", "descrizioneistruzione", "votazione"], ctx);
        education.push(Education { level: n.req(&path, "titolostudio", ctx), description: n.opt("descrizioneistruzione"), grade: n.opt("votazione") });
    }
    let mut training = Vec::new();
    for (i, el) in cur.all("Formazione") {
        let n = Node { el };
        let path = format!("{pc}/Formazione[{i}]");
        n.only(&path, &["titolocorso", "idsede", "durata", "idtipologiadurata", "idattestazione", "idqualifica", "descrqualifica"], ctx);
        let unit = match n.opt("idtipologiadurata").as_deref() {
            None => None,
            Some("O") => Some(DurationUnit::O),
            Some("G") => Some(DurationUnit::G),
            Some("M") => Some(DurationUnit::M),
            Some("A") => Some(DurationUnit::A),
            Some(_) => {
                ctx.error(&join(&path, "idtipologiadurata"), "xml.enumeration", "value must be O, G, M or A");
                None
            }
        };
        let att = match n.opt("idattestazione").as_deref() {
            None => None,
            Some(s) => {
                let a =
                    [Attestation::N, Attestation::F, Attestation::Q, Attestation::S, Attestation::C, Attestation::T].into_iter().find(|a| crate::write::attestation_code(*a) == s);
                if a.is_none() {
                    ctx.error(&join(&path, "idattestazione"), "xml.enumeration", "value must be one of N F Q S C T");
                }
                a
            }
        };
        training.push(Training {
            title: n.opt("titolocorso"),
            place: n.opt("idsede"),
            duration: number(&join(&path, "durata"), n.opt("durata").filter(|d| !d.is_empty()), ctx),
            duration_unit: unit,
            attestation: att,
            qualification: n.opt("idqualifica"),
            qualification_title: n.opt("descrqualifica"),
        });
    }
    let mut languages = Vec::new();
    for (i, el) in cur.all("Lingue") {
        if let Some(l) = language(Node { el }, &format!("{pc}/Lingue[{i}]"), ctx) {
            languages.push(l);
        }
    }
    let it_skills = cur.find("ConoscenzeInformatiche").map(|el| {
        let n = Node { el };
        n.only(&join(pc, "ConoscenzeInformatiche"), &["tipoconoscenza", "specifiche"], ctx);
        ItSkills { kind: n.opt("tipoconoscenza"), details: n.opt("specifiche") }
    });
    let licences = cur
        .find("AbilitazioniPatenti")
        .map(|el| {
            let n = Node { el };
            n.only(&join(pc, "AbilitazioniPatenti"), &["idalbo", "idpatenteguida", "idpatentino"], ctx);
            Licences { registers: n.many("idalbo"), driving: n.many("idpatenteguida"), permits: n.many("idpatentino") }
        })
        .unwrap_or_default();
    let mut desired = Vec::new();
    for (i, el) in cur.all("ProfessioneDesiderataDisponibilita") {
        let n = Node { el };
        let path = format!("{pc}/ProfessioneDesiderataDisponibilita[{i}]");
        n.only(
            &path,
            &[
                "idprofessione",
                "descrprofessione",
                "descrizioneprofessione",
                "esperienzasettore",
                "descrizioneesperienza",
                "trasferte",
                "idmodalitalavorativa",
                "idtipologiacontratto",
                "mezzitrasporto",
            ],
            ctx,
        );
        desired.push(DesiredProfession {
            profession: n.req(&path, "idprofessione", ctx),
            title: n.req(&path, "descrprofessione", ctx),
            description: n.opt("descrizioneprofessione"),
            sector_experience: yes_no(&join(&path, "esperienzasettore"), n.opt("esperienzasettore"), ctx),
            experience_description: n.opt("descrizioneesperienza"),
            travel: yes_no(&join(&path, "trasferte"), n.opt("trasferte"), ctx),
            working_time: n.many("idmodalitalavorativa"),
            contract_types: n.many("idtipologiacontratto"),
            own_transport: yes_no(&join(&path, "mezzitrasporto"), n.opt("mezzitrasporto"), ctx),
        });
    }
    if desired.is_empty() {
        ctx.error(&join(pc, "ProfessioneDesiderataDisponibilita"), "xml.missing", "at least one desired profession is mandatory");
    }

    let ps = "/Candidatura/DatiSistema";
    sys.only(
        ps,
        &[
            "ambitodiffusione",
            "datainserimento",
            "datascadenza",
            "idintermediario",
            "codicefiscaleintermediario",
            "denominazioneintermediario",
            "indirizzo",
            "idcomune",
            "cap",
            "telefono",
            "fax",
            "email",
            "visibilita",
            "tipocandidatura",
            "motivochiusura",
            "codicecandidatura",
            "codicecandidaturaprecedente",
            "percettore",
        ],
        ctx,
    );
    let diff_text = sys.req(ps, "ambitodiffusione", ctx);
    let diffusion = Diffusion::parse(&diff_text);
    if diffusion.is_none() && !diff_text.is_empty() {
        ctx.error(&join(ps, "ambitodiffusione"), "xml.enumeration", "value must be 01, 02 or 03");
    }
    let ins_text = sys.req(ps, "datainserimento", ctx);
    let inserted = if ins_text.is_empty() { None } else { timestamp(&join(ps, "datainserimento"), ins_text, ctx) };
    let system_partial = (
        date(&join(ps, "datascadenza"), sys.opt("datascadenza"), ctx),
        intermediary(sys, "idintermediario"),
        communication(sys, ps, "candidatura", ctx),
        yes_no(&join(ps, "percettore"), sys.opt("percettore"), ctx),
    );
    let visible = yes_no(&join(ps, "visibilita"), sys.opt("visibilita"), ctx);
    if ctx.failed {
        return None;
    }
    let (fiscal_code, surname, name, birthplace, citizenship, domicile, contacts) = worker_partial;
    let (expires_on, intermediary, communication, income_support) = system_partial;
    Some(Cv {
        provenance,
        worker: Worker { fiscal_code, surname, name, sex: sex?, birth_date: birth?, birthplace, citizenship, residence: None, domicile, contacts },
        experiences,
        education,
        training,
        languages,
        it_skills,
        licences,
        desired,
        consent: Consent { visible },
        system: CvSystem { diffusion: diffusion?, inserted_at: inserted?, expires_on, intermediary, communication, income_support },
    })
}

fn read_vacancy(root: Node<'_>, provenance: Provenance, ctx: &mut Ctx) -> Option<Vacancy> {
    let p = "/Vacancy";
    root.only(p, &["DatoreLavoro", "Richiesta", "AltreInformazioni", "DatiSistema"], ctx);
    let dl = root.req_node(p, "DatoreLavoro", ctx);
    let ri = root.req_node(p, "Richiesta", ctx);
    let ai = root.req_node(p, "AltreInformazioni", ctx);
    let sys = root.req_node(p, "DatiSistema", ctx);
    let (dl, ri, ai, sys) = (dl?, ri?, ai?, sys?);

    let pdl = "/Vacancy/DatoreLavoro";
    dl.only(pdl, &["DatiAnagrafici", "DatiContatto"], ctx);
    let ana = dl.req_node(pdl, "DatiAnagrafici", ctx);
    let con = dl.req_node(pdl, "DatiContatto", ctx);
    let (ana, con) = (ana?, con?);
    let pa = "/Vacancy/DatoreLavoro/DatiAnagrafici";
    ana.only(pa, &["codicefiscale", "denominazione", "settore", "ampiezza", "web"], ctx);
    let pc = "/Vacancy/DatoreLavoro/DatiContatto";
    con.only(pc, &["indirizzo", "idcomune", "cap", "telefono", "fax", "email"], ctx);
    let employer = Employer {
        fiscal_code: ana.opt("codicefiscale"),
        name: ana.req(pa, "denominazione", ctx),
        sector: ana.req(pa, "settore", ctx),
        size_class: ana.opt("ampiezza"),
        web: ana.opt("web"),
        address: Address { comune: con.req(pc, "idcomune", ctx), cap: con.opt("cap"), street: con.opt("indirizzo") },
        phone: con.opt("telefono"),
        fax: con.opt("fax"),
        email: con.req(pc, "email", ctx),
    };

    let pr = "/Vacancy/Richiesta";
    ri.only(pr, &["ProfiloRichiesto", "IstruzioneFormazione", "CondizioniOfferte", "DurataRichiesta"], ctx);
    let pro = ri.req_node(pr, "ProfiloRichiesto", ctx);
    let ist = ri.req_node(pr, "IstruzioneFormazione", ctx);
    let cond = ri.req_node(pr, "CondizioniOfferte", ctx);
    let dur = ri.req_node(pr, "DurataRichiesta", ctx);
    let (pro, ist, cond, dur) = (pro?, ist?, cond?, dur?);
    let pp = "/Vacancy/Richiesta/ProfiloRichiesto";
    pro.only(pp, &["numerolavoratori", "idprofessione", "descrprofessione", "descrizionericerca", "esperienzarichiesta", "descrizioneesperienza"], ctx);
    let positions_text = pro.req(pp, "numerolavoratori", ctx);
    let positions = if positions_text.is_empty() { None } else { number::<u8>(&join(pp, "numerolavoratori"), Some(positions_text), ctx) };
    let profile_partial = (
        pro.req(pp, "idprofessione", ctx),
        pro.req(pp, "descrprofessione", ctx),
        pro.req(pp, "descrizionericerca", ctx),
        yes_no(&join(pp, "esperienzarichiesta"), pro.opt("esperienzarichiesta"), ctx),
        pro.opt("descrizioneesperienza"),
    );
    let pi = "/Vacancy/Richiesta/IstruzioneFormazione";
    ist.only(
        pi,
        &["titolostudio", "idalbo", "Lingua", "conoscenzeinformatiche", "altrecapacita", "trasferte", "idpatenteguida", "idmezzitrasporto", "idpatentino", "ulteriorirequisiti"],
        ctx,
    );
    let mut education = Vec::new();
    for (i, el) in ist.all("titolostudio") {
        let n = Node { el };
        let path = format!("{pi}/titolostudio[{i}]");
        n.only(&path, &["idtitolostudio", "descrizionestudio"], ctx);
        education.push(EducationRequirement { level: n.req(&path, "idtitolostudio", ctx), description: n.opt("descrizionestudio") });
    }
    let mut languages = Vec::new();
    for (i, el) in ist.all("Lingua") {
        if let Some(l) = language(Node { el }, &format!("{pi}/Lingua[{i}]"), ctx) {
            languages.push(l);
        }
    }
    let requirements = Requirements {
        education,
        register: ist.opt("idalbo"),
        languages,
        it_skills: ist.opt("conoscenzeinformatiche"),
        other_skills: ist.opt("altrecapacita"),
        travel: yes_no(&join(pi, "trasferte"), ist.opt("trasferte"), ctx),
        driving_licences: ist.many("idpatenteguida"),
        own_transport: yes_no(&join(pi, "idmezzitrasporto"), ist.opt("idmezzitrasporto"), ctx),
        permits: ist.many("idpatentino"),
        further: ist.opt("ulteriorirequisiti"),
    };
    let pco = "/Vacancy/Richiesta/CondizioniOfferte";
    cond.only(pco, &["idcomune", "idtipologiacontratto", "durata", "idccnl", "idlivellocontrattuale", "idmodalitalavoro", "retribuzioneannualorda", "ulterioricondizioni"], ctx);
    let conditions = Conditions {
        workplace: cond.req(pco, "idcomune", ctx),
        contract_type: cond.req(pco, "idtipologiacontratto", ctx),
        duration: cond.opt("durata"),
        ccnl: cond.opt("idccnl"),
        contract_level: number(&join(pco, "idlivellocontrattuale"), cond.opt("idlivellocontrattuale"), ctx),
        working_time: cond.opt("idmodalitalavoro"),
        annual_gross_pay: number(&join(pco, "retribuzioneannualorda"), cond.opt("retribuzioneannualorda"), ctx),
        further: cond.opt("ulterioricondizioni"),
    };
    let pd = "/Vacancy/Richiesta/DurataRichiesta";
    dur.only(pd, &["datapubblicazione", "datascadenza"], ctx);
    let pub_text = dur.req(pd, "datapubblicazione", ctx);
    let published = if pub_text.is_empty() { None } else { timestamp(&join(pd, "datapubblicazione"), pub_text, ctx) };
    let expires_on = date(&join(pd, "datascadenza"), dur.opt("datascadenza"), ctx);

    let pai = "/Vacancy/AltreInformazioni";
    ai.only(pai, &["N.O."], ctx);
    let no_text = ai.req(pai, "N.O.", ctx);
    let nulla_osta = if no_text.is_empty() { None } else { yes_no(&join(pai, "N.O."), Some(no_text), ctx) };

    let ps = "/Vacancy/DatiSistema";
    sys.only(
        ps,
        &[
            "intermediario",
            "codicefiscaleintermediario",
            "denominazioneintermediario",
            "indirizzo",
            "idcomune",
            "cap",
            "telefono",
            "fax",
            "email",
            "visibilita",
            "tipoofferta",
            "motivochiusura",
            "codiceofferta",
            "codiceoffertaprecedente",
            "codiceoffertaintermediario",
        ],
        ctx,
    );
    let system = VacancySystem {
        intermediary: intermediary(sys, "intermediario"),
        visible: yes_no(&join(ps, "visibilita"), sys.opt("visibilita"), ctx),
        communication: communication(sys, ps, "offerta", ctx),
        source_vacancy_id: sys.opt("codiceoffertaintermediario"),
    };
    if ctx.failed {
        return None;
    }
    let (profession, profession_title, description, experience_required, experience_description) = profile_partial;
    Some(Vacancy {
        provenance,
        employer,
        profile: Profile { positions: positions?, profession, profession_title, description, experience_required, experience_description },
        requirements,
        conditions,
        publication: Publication { published_at: published?, expires_on },
        nulla_osta: nulla_osta?,
        system,
    })
}

/// Reads a 1546 document (CV or vacancy, told apart by the root element). Returns the
/// record when its mandatory fields could be read, and every issue found.
pub fn read_document(input: &[u8], provenance: Provenance) -> (Option<Record>, Vec<Issue>) {
    let (_, record, issues) = read_with_kind(input, provenance);
    (record, issues)
}

/// [`read_document`], also returning the document's kind when its root element and
/// namespaces are right (whether or not its fields could be read), so that callers
/// pick the schema from the parse already done.
pub(crate) fn read_with_kind(input: &[u8], mut provenance: Provenance) -> (Option<RecordKind>, Option<Record>, Vec<Issue>) {
    // The source is a national document: its fields are the national paths.
    provenance.fields = silgate_core::SourceFields::national();
    let mut ctx = Ctx { issues: Vec::new(), failed: false };
    let root = match tree::parse(input) {
        Ok(r) => r,
        Err(m) => {
            ctx.error(&format!("line {}", m.line), "xml.malformed", m.message);
            return (None, None, ctx.issues);
        }
    };
    let expected_ns = match root.name.as_str() {
        "Candidatura" => NS_CANDIDATURA,
        "Vacancy" => NS_VACANCY,
        other => {
            ctx.error(&format!("/{other}"), "xml.root", "root element must be Candidatura or Vacancy");
            return (None, None, ctx.issues);
        }
    };
    check_namespaces(&root, &format!("/{}", root.name), expected_ns, &mut ctx);
    if ctx.failed {
        return (None, None, ctx.issues);
    }
    let node = Node { el: &root };
    if root.name == "Candidatura" {
        (Some(RecordKind::Cv), read_cv(node, provenance, &mut ctx).map(|c| Record::Cv(Box::new(c))), ctx.issues)
    } else {
        (Some(RecordKind::Vacancy), read_vacancy(node, provenance, &mut ctx).map(|v| Record::Vacancy(Box::new(v))), ctx.issues)
    }
}

fn check_namespaces(el: &Element, path: &str, ns: &str, ctx: &mut Ctx) {
    if el.ns.as_deref() != Some(ns) {
        let found = el.ns.as_deref().unwrap_or("no namespace");
        ctx.error(path, "xml.namespace", format!("element '{}' is in {found}, expected {ns}", el.name));
        return;
    }
    for c in &el.children {
        check_namespaces(c, &join(path, &c.name), ns, ctx);
    }
}
