//! National paths -> canonical fields -> the source's own fields.
//!
//! Every issue of the standard (an XSD facet, a business rule, a code, an optional
//! element left out) names its element by national path:
//! `/Candidatura/DatiCurriculari/EsperienzeLavorative[2]/qualificasvolta`, 1-based
//! indices on repeatable elements. The writer writes each element from one field of
//! the canonical record; [`canonical`] names that field as a JSON pointer into the
//! record (`/experiences/1/profession`, 0-based). The record's provenance then says
//! how its source names that field ([`silgate_core::SourceFields`]): [`name_sources`]
//! puts it on each issue, so the operator knows which column of which line to fix.
//!
//! The tables below are the writer's element order read the other way; a property
//! test writes generated records and checks that every element written maps to a
//! field that holds a value.

use silgate_core::{Issue, Record, RecordKind};

/// (national path under the root, with `[]` for each index, canonical pointer with
/// `[]` for each index in the same order). A group maps to its part, so that an issue
/// on the group itself (a child missing) names the part.
const CV: &[(&str, &str)] = &[
    ("Lavoratore", "/worker"),
    ("Lavoratore/DatiAnagrafici", "/worker"),
    ("Lavoratore/DatiAnagrafici/codicefiscale", "/worker/fiscal_code"),
    ("Lavoratore/DatiAnagrafici/cognome", "/worker/surname"),
    ("Lavoratore/DatiAnagrafici/nome", "/worker/name"),
    ("Lavoratore/DatiAnagrafici/sesso", "/worker/sex"),
    ("Lavoratore/DatiAnagrafici/datanascita", "/worker/birth_date"),
    ("Lavoratore/DatiAnagrafici/idcomune", "/worker/birthplace"),
    ("Lavoratore/DatiAnagrafici/idcittadinanza", "/worker/citizenship"),
    ("Lavoratore/Domicilio", "/worker/domicile"),
    ("Lavoratore/Domicilio/idcomune", "/worker/domicile/comune"),
    ("Lavoratore/Domicilio/cap", "/worker/domicile/cap"),
    ("Lavoratore/Recapiti", "/worker/contacts"),
    ("Lavoratore/Recapiti/indirizzo", "/worker/domicile/street"),
    ("Lavoratore/Recapiti/telefono", "/worker/contacts/phone"),
    ("Lavoratore/Recapiti/cellulare", "/worker/contacts/mobile"),
    ("Lavoratore/Recapiti/fax", "/worker/contacts/fax"),
    ("Lavoratore/Recapiti/email", "/worker/contacts/email"),
    ("DatiCurriculari", ""),
    ("DatiCurriculari/EsperienzeLavorative[]", "/experiences/[]"),
    ("DatiCurriculari/EsperienzeLavorative[]/tipoesperienza", "/experiences/[]/contract_type"),
    ("DatiCurriculari/EsperienzeLavorative[]/qualificasvolta", "/experiences/[]/profession"),
    ("DatiCurriculari/EsperienzeLavorative[]/descrqualificasvolta", "/experiences/[]/profession_title"),
    ("DatiCurriculari/EsperienzeLavorative[]/principalimansioni", "/experiences/[]/duties"),
    ("DatiCurriculari/EsperienzeLavorative[]/nomedatore", "/experiences/[]/employer_name"),
    ("DatiCurriculari/EsperienzeLavorative[]/datainizio", "/experiences/[]/start"),
    ("DatiCurriculari/EsperienzeLavorative[]/datafine", "/experiences/[]/end"),
    ("DatiCurriculari/EsperienzeLavorative[]/indirizzodatore", "/experiences/[]/employer_address"),
    ("DatiCurriculari/Istruzione[]", "/education/[]"),
    ("DatiCurriculari/Istruzione[]/titolostudio", "/education/[]/level"),
    ("DatiCurriculari/Istruzione[]/descrizioneistruzione", "/education/[]/description"),
    ("DatiCurriculari/Istruzione[]/votazione", "/education/[]/grade"),
    ("DatiCurriculari/Formazione[]", "/training/[]"),
    ("DatiCurriculari/Formazione[]/titolocorso", "/training/[]/title"),
    ("DatiCurriculari/Formazione[]/idsede", "/training/[]/place"),
    ("DatiCurriculari/Formazione[]/durata", "/training/[]/duration"),
    ("DatiCurriculari/Formazione[]/idtipologiadurata", "/training/[]/duration_unit"),
    ("DatiCurriculari/Formazione[]/idattestazione", "/training/[]/attestation"),
    ("DatiCurriculari/Formazione[]/idqualifica", "/training/[]/qualification"),
    ("DatiCurriculari/Formazione[]/descrqualifica", "/training/[]/qualification_title"),
    ("DatiCurriculari/Lingue[]", "/languages/[]"),
    ("DatiCurriculari/Lingue[]/idlingua", "/languages/[]/language"),
    ("DatiCurriculari/Lingue[]/idlivelloletto", "/languages/[]/reading"),
    ("DatiCurriculari/Lingue[]/idlivelloscritto", "/languages/[]/writing"),
    ("DatiCurriculari/Lingue[]/idlivelloparlato", "/languages/[]/speaking"),
    ("DatiCurriculari/ConoscenzeInformatiche", "/it_skills"),
    ("DatiCurriculari/ConoscenzeInformatiche/tipoconoscenza", "/it_skills/kind"),
    ("DatiCurriculari/ConoscenzeInformatiche/specifiche", "/it_skills/details"),
    ("DatiCurriculari/AbilitazioniPatenti", "/licences"),
    ("DatiCurriculari/AbilitazioniPatenti/idalbo[]", "/licences/registers/[]"),
    ("DatiCurriculari/AbilitazioniPatenti/idpatenteguida[]", "/licences/driving/[]"),
    ("DatiCurriculari/AbilitazioniPatenti/idpatentino[]", "/licences/permits/[]"),
    ("DatiCurriculari/ProfessioneDesiderataDisponibilita[]", "/desired/[]"),
    ("DatiCurriculari/ProfessioneDesiderataDisponibilita[]/idprofessione", "/desired/[]/profession"),
    ("DatiCurriculari/ProfessioneDesiderataDisponibilita[]/descrprofessione", "/desired/[]/title"),
    ("DatiCurriculari/ProfessioneDesiderataDisponibilita[]/descrizioneprofessione", "/desired/[]/description"),
    ("DatiCurriculari/ProfessioneDesiderataDisponibilita[]/esperienzasettore", "/desired/[]/sector_experience"),
    ("DatiCurriculari/ProfessioneDesiderataDisponibilita[]/descrizioneesperienza", "/desired/[]/experience_description"),
    ("DatiCurriculari/ProfessioneDesiderataDisponibilita[]/trasferte", "/desired/[]/travel"),
    ("DatiCurriculari/ProfessioneDesiderataDisponibilita[]/idmodalitalavorativa[]", "/desired/[]/working_time/[]"),
    ("DatiCurriculari/ProfessioneDesiderataDisponibilita[]/idtipologiacontratto[]", "/desired/[]/contract_types/[]"),
    ("DatiCurriculari/ProfessioneDesiderataDisponibilita[]/mezzitrasporto", "/desired/[]/own_transport"),
    ("DatiSistema", "/system"),
    ("DatiSistema/ambitodiffusione", "/system/diffusion"),
    ("DatiSistema/datainserimento", "/system/inserted_at"),
    ("DatiSistema/datascadenza", "/system/expires_on"),
    ("DatiSistema/idintermediario", "/system/intermediary/id"),
    ("DatiSistema/visibilita", "/consent/visible"),
    ("DatiSistema/tipocandidatura", "/system/communication/kind"),
    ("DatiSistema/motivochiusura", "/system/communication/closure_reason"),
    ("DatiSistema/codicecandidatura", "/system/communication/code"),
    ("DatiSistema/codicecandidaturaprecedente", "/system/communication/previous_code"),
    ("DatiSistema/percettore", "/system/income_support"),
];

/// The intermediary's fields of `DatiSistema`, the same in both modules.
const INTERMEDIARY: &[(&str, &str)] = &[
    ("DatiSistema/codicefiscaleintermediario", "/system/intermediary/fiscal_code"),
    ("DatiSistema/denominazioneintermediario", "/system/intermediary/name"),
    ("DatiSistema/indirizzo", "/system/intermediary/street"),
    ("DatiSistema/idcomune", "/system/intermediary/comune"),
    ("DatiSistema/cap", "/system/intermediary/cap"),
    ("DatiSistema/telefono", "/system/intermediary/phone"),
    ("DatiSistema/fax", "/system/intermediary/fax"),
    ("DatiSistema/email", "/system/intermediary/email"),
];

/// The table of `kind`: its own entries, then the intermediary's.
pub(crate) fn table(kind: RecordKind) -> impl Iterator<Item = &'static (&'static str, &'static str)> {
    let own = match kind {
        RecordKind::Cv => CV,
        RecordKind::Vacancy => VACANCY,
    };
    own.iter().chain(INTERMEDIARY)
}

/// The same as `CV` for a Vacancy document.
const VACANCY: &[(&str, &str)] = &[
    ("DatoreLavoro", "/employer"),
    ("DatoreLavoro/DatiAnagrafici", "/employer"),
    ("DatoreLavoro/DatiAnagrafici/codicefiscale", "/employer/fiscal_code"),
    ("DatoreLavoro/DatiAnagrafici/denominazione", "/employer/name"),
    ("DatoreLavoro/DatiAnagrafici/settore", "/employer/sector"),
    ("DatoreLavoro/DatiAnagrafici/ampiezza", "/employer/size_class"),
    ("DatoreLavoro/DatiAnagrafici/web", "/employer/web"),
    ("DatoreLavoro/DatiContatto", "/employer"),
    ("DatoreLavoro/DatiContatto/indirizzo", "/employer/address/street"),
    ("DatoreLavoro/DatiContatto/idcomune", "/employer/address/comune"),
    ("DatoreLavoro/DatiContatto/cap", "/employer/address/cap"),
    ("DatoreLavoro/DatiContatto/telefono", "/employer/phone"),
    ("DatoreLavoro/DatiContatto/fax", "/employer/fax"),
    ("DatoreLavoro/DatiContatto/email", "/employer/email"),
    ("Richiesta", ""),
    ("Richiesta/ProfiloRichiesto", "/profile"),
    ("Richiesta/ProfiloRichiesto/numerolavoratori", "/profile/positions"),
    ("Richiesta/ProfiloRichiesto/idprofessione", "/profile/profession"),
    ("Richiesta/ProfiloRichiesto/descrprofessione", "/profile/profession_title"),
    ("Richiesta/ProfiloRichiesto/descrizionericerca", "/profile/description"),
    ("Richiesta/ProfiloRichiesto/esperienzarichiesta", "/profile/experience_required"),
    ("Richiesta/ProfiloRichiesto/descrizioneesperienza", "/profile/experience_description"),
    ("Richiesta/IstruzioneFormazione", "/requirements"),
    ("Richiesta/IstruzioneFormazione/titolostudio[]", "/requirements/education/[]"),
    ("Richiesta/IstruzioneFormazione/titolostudio[]/idtitolostudio", "/requirements/education/[]/level"),
    ("Richiesta/IstruzioneFormazione/titolostudio[]/descrizionestudio", "/requirements/education/[]/description"),
    ("Richiesta/IstruzioneFormazione/idalbo", "/requirements/register"),
    ("Richiesta/IstruzioneFormazione/Lingua[]", "/requirements/languages/[]"),
    ("Richiesta/IstruzioneFormazione/Lingua[]/idlingua", "/requirements/languages/[]/language"),
    ("Richiesta/IstruzioneFormazione/Lingua[]/idlivelloletto", "/requirements/languages/[]/reading"),
    ("Richiesta/IstruzioneFormazione/Lingua[]/idlivelloscritto", "/requirements/languages/[]/writing"),
    ("Richiesta/IstruzioneFormazione/Lingua[]/idlivelloparlato", "/requirements/languages/[]/speaking"),
    ("Richiesta/IstruzioneFormazione/conoscenzeinformatiche", "/requirements/it_skills"),
    ("Richiesta/IstruzioneFormazione/altrecapacita", "/requirements/other_skills"),
    ("Richiesta/IstruzioneFormazione/trasferte", "/requirements/travel"),
    ("Richiesta/IstruzioneFormazione/idpatenteguida[]", "/requirements/driving_licences/[]"),
    ("Richiesta/IstruzioneFormazione/idmezzitrasporto", "/requirements/own_transport"),
    ("Richiesta/IstruzioneFormazione/idpatentino[]", "/requirements/permits/[]"),
    ("Richiesta/IstruzioneFormazione/ulteriorirequisiti", "/requirements/further"),
    ("Richiesta/CondizioniOfferte", "/conditions"),
    ("Richiesta/CondizioniOfferte/idcomune", "/conditions/workplace"),
    ("Richiesta/CondizioniOfferte/idtipologiacontratto", "/conditions/contract_type"),
    ("Richiesta/CondizioniOfferte/durata", "/conditions/duration"),
    ("Richiesta/CondizioniOfferte/idccnl", "/conditions/ccnl"),
    ("Richiesta/CondizioniOfferte/idlivellocontrattuale", "/conditions/contract_level"),
    ("Richiesta/CondizioniOfferte/idmodalitalavoro", "/conditions/working_time"),
    ("Richiesta/CondizioniOfferte/retribuzioneannualorda", "/conditions/annual_gross_pay"),
    ("Richiesta/CondizioniOfferte/ulterioricondizioni", "/conditions/further"),
    ("Richiesta/DurataRichiesta", "/publication"),
    ("Richiesta/DurataRichiesta/datapubblicazione", "/publication/published_at"),
    ("Richiesta/DurataRichiesta/datascadenza", "/publication/expires_on"),
    ("AltreInformazioni", ""),
    ("AltreInformazioni/N.O.", "/nulla_osta"),
    ("DatiSistema", "/system"),
    ("DatiSistema/intermediario", "/system/intermediary/id"),
    ("DatiSistema/visibilita", "/system/visible"),
    ("DatiSistema/tipoofferta", "/system/communication/kind"),
    ("DatiSistema/motivochiusura", "/system/communication/closure_reason"),
    ("DatiSistema/codiceofferta", "/system/communication/code"),
    ("DatiSistema/codiceoffertaprecedente", "/system/communication/previous_code"),
    ("DatiSistema/codiceoffertaintermediario", "/system/source_vacancy_id"),
];

/// The root element of a kind's document.
fn root(kind: RecordKind) -> &'static str {
    match kind {
        RecordKind::Cv => "Candidatura",
        RecordKind::Vacancy => "Vacancy",
    }
}

/// The full national path of `path`: as given when it starts at the document's root
/// (`/Candidatura/...`), else read under the root (`DatiSistema/codicecandidatura`).
/// `None` for what is no element path (`line 7`, an empty path).
pub fn national(kind: RecordKind, path: &str) -> Option<String> {
    let r = root(kind);
    let under = match path.strip_prefix('/') {
        Some(p) => p.strip_prefix(r)?.strip_prefix('/').unwrap_or_default(),
        None => path,
    };
    (!under.is_empty() && under.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())).then(|| format!("/{r}/{under}"))
}

/// The canonical field (a JSON pointer into the record) the element at national path
/// `path` is written from: the element's own field, else that of the nearest group
/// holding it. `None` when no part of the path is written from the record.
///
/// ```
/// use silgate_core::RecordKind;
/// use silgate_std1546::fields::canonical;
/// let p = canonical(RecordKind::Cv, "/Candidatura/DatiCurriculari/EsperienzeLavorative[2]/qualificasvolta");
/// assert_eq!(p.as_deref(), Some("/experiences/1/profession"));
/// ```
pub fn canonical(kind: RecordKind, path: &str) -> Option<String> {
    let full = national(kind, path)?;
    // Segments under the root, each with its 1-based index when it has one.
    let mut segs: Vec<(&str, Option<usize>)> = Vec::new();
    for s in full.split('/').skip(2) {
        segs.push(match s.strip_suffix(']').and_then(|s| s.split_once('[')) {
            Some((name, n)) => (name, Some(n.parse::<usize>().ok()?)),
            None => (s, None),
        });
    }
    while !segs.is_empty() {
        let key: Vec<String> = segs.iter().map(|(n, i)| if i.is_some() { format!("{n}[]") } else { (*n).to_string() }).collect();
        let key = key.join("/");
        if let Some((_, pointer)) = table(kind).find(|(n, _)| *n == key) {
            let mut out = String::with_capacity(pointer.len() + 8);
            let mut indices = segs.iter().filter_map(|(_, i)| *i);
            for (k, part) in pointer.split("[]").enumerate() {
                if k > 0 {
                    out.push_str(&indices.next()?.checked_sub(1)?.to_string());
                }
                out.push_str(part);
            }
            return Some(out);
        }
        segs.pop();
    }
    None
}

/// Names, on each issue about `record` that does not name it yet, the source's own
/// field and position of the element at its path (see the module).
pub fn name_sources(record: &Record, issues: &mut [Issue]) {
    let prov = record.provenance();
    for i in issues.iter_mut().filter(|i| i.source_field.is_none()) {
        let Some(pointer) = canonical(record.kind(), &i.path) else { continue };
        let national = national(record.kind(), &i.path).unwrap_or_default();
        i.source_field = prov.source_of(&pointer, &national);
    }
}
