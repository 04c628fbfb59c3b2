//! The canonical records: [`Cv`] and [`Vacancy`], wrapped in [`Record`].
//!
//! Field names are English; each field's doc names the element of decreto 1546/2011
//! (Candidatura Rev.038, Vacancy Rev.064) it maps to, or says that it has none. Codes
//! are kept as the national code strings (`F839`, `52.29.10`, `5.1.2.2.0.1`): checking
//! them against the code tables is `silgate-std1546`'s job, so that a record with an
//! unknown code can still be represented, reported and quarantined.
//!
//! The serde form (JSON) is the canonical JSON of the CPI push API and of
//! `silgate translate --source canonical-json`: one [`Record`] per line, tagged by
//! `"kind": "cv" | "vacancy"`.

use crate::provenance::Provenance;
use crate::time_types::{Date, Timestamp, serde_date};
use serde::{Deserialize, Serialize};

/// A record of either kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Record {
    /// A worker's CV.
    Cv(Box<Cv>),
    /// An employer's vacancy.
    Vacancy(Box<Vacancy>),
}

/// The two kinds of record, as a plain value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    /// A worker's CV (Candidatura).
    Cv,
    /// An employer's vacancy.
    Vacancy,
}

impl RecordKind {
    /// `cv` or `vacancy`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cv => "cv",
            Self::Vacancy => "vacancy",
        }
    }
}

impl Record {
    /// Which kind this is.
    pub fn kind(&self) -> RecordKind {
        match self {
            Self::Cv(_) => RecordKind::Cv,
            Self::Vacancy(_) => RecordKind::Vacancy,
        }
    }

    /// Where the record came from.
    pub fn provenance(&self) -> &Provenance {
        match self {
            Self::Cv(c) => &c.provenance,
            Self::Vacancy(v) => &v.provenance,
        }
    }

    /// Mutable access to the provenance (adapters fill it in).
    pub fn provenance_mut(&mut self) -> &mut Provenance {
        match self {
            Self::Cv(c) => &mut c.provenance,
            Self::Vacancy(v) => &mut v.provenance,
        }
    }

    /// The communication data (kind, codes) of the record.
    pub fn communication(&self) -> &Communication {
        match self {
            Self::Cv(c) => &c.system.communication,
            Self::Vacancy(v) => &v.system.communication,
        }
    }

    /// Mutable access to the communication data (the code allocator fills it in).
    pub fn communication_mut(&mut self) -> &mut Communication {
        match self {
            Self::Cv(c) => &mut c.system.communication,
            Self::Vacancy(v) => &mut v.system.communication,
        }
    }

    /// The CPI the record itself names (its intermediary id), if any.
    pub fn written_cpi(&self) -> Option<&str> {
        match self {
            Self::Cv(c) => c.system.intermediary.id.as_deref(),
            Self::Vacancy(v) => v.system.intermediary.id.as_deref(),
        }
        .filter(|s| !s.is_empty())
    }

    /// The record's CPI, the one rule for it: the provenance's (the CPI its source speaks
    /// for), falling back on the one the record names ([`Record::written_cpi`]); empty
    /// when neither says.
    pub fn cpi(&self) -> &str {
        non_empty(&self.provenance().cpi).or(self.written_cpi()).unwrap_or("")
    }

    /// The business key: what identifies "the same record" across versions, always
    /// within one CPI (two CPIs' records never share a key).
    ///
    /// CV: codice fiscale + CPI. Vacancy: CPI + employer id (fiscal code, or name when
    /// the source has no fiscal code) + the source's own vacancy id (or, lacking one,
    /// the profession and publication time). The CPI is [`Record::cpi`].
    pub fn business_key(&self) -> String {
        match self {
            Self::Cv(c) => Self::cv_key(&c.worker.fiscal_code, self.cpi()),
            Self::Vacancy(v) => format!("vacancy:{}:{}", self.cpi(), vacancy_key(v)),
        }
    }

    /// The business key of the CVs of the person of `fiscal_code` at `cpi` (the one
    /// rule, also for finding a person's records to erase them).
    pub fn cv_key(fiscal_code: &str, cpi: &str) -> String {
        format!("cv:{fiscal_code}:{cpi}")
    }

    /// The business key builds before the keyed dedup index (schema 4) used: a
    /// vacancy's without its CPI. Only for adopting what those builds stored.
    pub fn legacy_business_key(&self) -> String {
        match self {
            Self::Cv(_) => self.business_key(),
            Self::Vacancy(v) => format!("vacancy:{}", vacancy_key(v)),
        }
    }
}

/// A vacancy's employer and local id, the part of its key beside the CPI.
fn vacancy_key(v: &Vacancy) -> String {
    let employer = v.employer.fiscal_code.as_deref().unwrap_or(&v.employer.name);
    match &v.system.source_vacancy_id {
        Some(id) => format!("{employer}:{id}"),
        None => format!("{employer}:{}@{}", v.profile.profession, v.publication.published_at),
    }
}

fn non_empty(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

/// Sex as the fiscal code and the standard encode it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum Sex {
    /// Male (`M`).
    M,
    /// Female (`F`).
    F,
}

/// A CEFR language level (`idlivelloletto`, `idlivelloscritto`, `idlivelloparlato`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[allow(missing_docs, reason = "the six CEFR levels are their own documentation")]
pub enum Cefr {
    A1,
    A2,
    B1,
    B2,
    C1,
    C2,
}

impl Cefr {
    /// All levels, lowest first.
    pub const ALL: [Cefr; 6] = [Cefr::A1, Cefr::A2, Cefr::B1, Cefr::B2, Cefr::C1, Cefr::C2];

    /// The code as written in the standard.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::A1 => "A1",
            Self::A2 => "A2",
            Self::B1 => "B1",
            Self::B2 => "B2",
            Self::C1 => "C1",
            Self::C2 => "C2",
        }
    }

    /// Parses `A1`..`C2`.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// A place: comune or foreign state (Belfiore code), with postcode and street.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Address {
    /// Belfiore code of the comune or foreign state (`idcomune`).
    pub comune: String,
    /// Postcode, 5 digits (`cap`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cap: Option<String>,
    /// Street and number (`indirizzo`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub street: Option<String>,
}

/// How to reach the worker (`Recapiti`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Contacts {
    /// Landline (`telefono`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// Mobile (`cellulare`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mobile: Option<String>,
    /// Fax (`fax`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fax: Option<String>,
    /// E-mail, mandatory in the standard (`email`).
    pub email: String,
}

/// The worker: identity, birth, citizenship, residence, domicile, contacts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Worker {
    /// Codice fiscale, 16 characters (or 11 digits for a provisional code) (`codicefiscale`).
    pub fiscal_code: String,
    /// Surname (`cognome`).
    pub surname: String,
    /// Given name (`nome`).
    pub name: String,
    /// Sex (`sesso`).
    pub sex: Sex,
    /// Birth date (`datanascita`).
    #[serde(with = "serde_date")]
    #[cfg_attr(feature = "schema", schemars(with = "crate::time_types::DateSchema"))]
    pub birth_date: Date,
    /// Belfiore code of the birthplace, comune or foreign state (`DatiAnagrafici/idcomune`).
    pub birthplace: String,
    /// Citizenship code, 3 digits, `000` Italian (`idcittadinanza`).
    pub citizenship: String,
    /// Residence, when the source has it and it differs from the domicile. The national
    /// document has no residence: the writer drops it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub residence: Option<Address>,
    /// Domicile (`Domicilio/idcomune`, `Domicilio/cap`; street in `Recapiti/indirizzo`).
    pub domicile: Address,
    /// Phone, mobile, fax, e-mail (`Recapiti`).
    pub contacts: Contacts,
}

/// One past job (`EsperienzeLavorative`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct WorkExperience {
    /// Contract type of the experience, ClicLavoro form `A02` (`tipoesperienza`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contract_type: Option<String>,
    /// Profession held, CP2011 six-segment code (`qualificasvolta`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profession: Option<String>,
    /// Profession held, as text (`descrqualificasvolta`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profession_title: Option<String>,
    /// Main duties (`principalimansioni`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duties: Option<String>,
    /// Employer's name (`nomedatore`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub employer_name: Option<String>,
    /// Start (`datainizio`).
    #[serde(default, with = "serde_date::option", skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(with = "Option<crate::time_types::DateSchema>"))]
    pub start: Option<Date>,
    /// End (`datafine`).
    #[serde(default, with = "serde_date::option", skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(with = "Option<crate::time_types::DateSchema>"))]
    pub end: Option<Date>,
    /// Employer's address (`indirizzodatore`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub employer_address: Option<String>,
}

/// One school qualification (`Istruzione`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Education {
    /// Level code, 2 digits (`titolostudio`).
    pub level: String,
    /// Description (`descrizioneistruzione`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Final grade as written (`votazione`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grade: Option<String>,
}

/// Unit of a course duration (`idtipologiadurata`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum DurationUnit {
    /// Hours (`O`, ore).
    O,
    /// Days (`G`, giorni).
    G,
    /// Months (`M`, mesi).
    M,
    /// Years (`A`, anni).
    A,
}

/// Certificate obtained at the end of a course (`idattestazione`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[allow(missing_docs, reason = "the ministry's letters; their meaning is in the standard's table")]
pub enum Attestation {
    N,
    F,
    Q,
    S,
    C,
    T,
}

/// One training course (`Formazione`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Training {
    /// Course title (`titolocorso`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Belfiore code of the place of the course (`idsede`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub place: Option<String>,
    /// Duration, at most 4 digits (`durata`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<u16>,
    /// Unit of the duration (`idtipologiadurata`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_unit: Option<DurationUnit>,
    /// Certificate obtained (`idattestazione`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attestation: Option<Attestation>,
    /// Qualification obtained, CP2011 six-segment code (`idqualifica`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qualification: Option<String>,
    /// Qualification obtained, as text (`descrqualifica`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qualification_title: Option<String>,
}

/// One language with CEFR levels (`Lingue` in the CV, `Lingua` in the vacancy).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct LanguageSkill {
    /// Language code: 3 digits, or ISO 639-2 in capitals (`idlingua`).
    pub language: String,
    /// Reading (`idlivelloletto`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reading: Option<Cefr>,
    /// Writing (`idlivelloscritto`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub writing: Option<Cefr>,
    /// Speaking (`idlivelloparlato`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speaking: Option<Cefr>,
}

/// IT skills (`ConoscenzeInformatiche`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ItSkills {
    /// Kind of knowledge (`tipoconoscenza`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Details (`specifiche`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<String>,
}

/// Licences, registers and permits (`AbilitazioniPatenti`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Licences {
    /// Professional registers, `00NN` (`idalbo`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub registers: Vec<String>,
    /// Driving licences, 2 digits (`idpatenteguida`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub driving: Vec<String>,
    /// Permits ("patentini"), 2 digits (`idpatentino`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub permits: Vec<String>,
}

impl Licences {
    /// True when nothing is listed.
    pub fn is_empty(&self) -> bool {
        self.registers.is_empty() && self.driving.is_empty() && self.permits.is_empty()
    }
}

/// A desired profession and availability (`ProfessioneDesiderataDisponibilita`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct DesiredProfession {
    /// CP2011 six-segment code (`idprofessione`).
    pub profession: String,
    /// Profession as text (`descrprofessione`).
    pub title: String,
    /// Longer description (`descrizioneprofessione`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Has experience in the sector (`esperienzasettore`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sector_experience: Option<bool>,
    /// Description of that experience (`descrizioneesperienza`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub experience_description: Option<String>,
    /// Available for travel (`trasferte`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub travel: Option<bool>,
    /// Working-time modes, `FT`/`PT`/... (`idmodalitalavorativa`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub working_time: Vec<String>,
    /// Accepted contract types, ClicLavoro form `A01` (`idtipologiacontratto`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contract_types: Vec<String>,
    /// Has own means of transport (`mezzitrasporto`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub own_transport: Option<bool>,
}

/// Scope of publication (`ambitodiffusione`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Diffusion {
    /// `01` regionale.
    Regional,
    /// `02` nazionale.
    National,
    /// `03` europeo.
    European,
}

impl Diffusion {
    /// The two-digit code.
    pub fn code(self) -> &'static str {
        match self {
            Self::Regional => "01",
            Self::National => "02",
            Self::European => "03",
        }
    }

    /// Parses `01`, `02`, `03`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "01" => Some(Self::Regional),
            "02" => Some(Self::National),
            "03" => Some(Self::European),
            _ => None,
        }
    }
}

/// The intermediary that holds the record: the CPI (`DatiSistema`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Intermediary {
    /// CPI code, at most 11 characters (`idintermediario` / `intermediario`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The intermediary's fiscal code (`codicefiscaleintermediario`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fiscal_code: Option<String>,
    /// Name (`denominazioneintermediario`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Street (`indirizzo`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub street: Option<String>,
    /// Belfiore code (`idcomune`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comune: Option<String>,
    /// Postcode (`cap`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cap: Option<String>,
    /// Phone (`telefono`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// Fax (`fax`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fax: Option<String>,
    /// E-mail (`email`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

/// Insert/update or closure (`tipocandidatura` / `tipoofferta`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum CommunicationKind {
    /// `01` invio: a new record or a new version of it.
    #[default]
    Send,
    /// `02` chiusura: the record is closed or withdrawn.
    Closure,
}

impl CommunicationKind {
    /// The two-digit code.
    pub fn code(self) -> &'static str {
        match self {
            Self::Send => "01",
            Self::Closure => "02",
        }
    }

    /// Parses `01`, `02`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "01" => Some(Self::Send),
            "02" => Some(Self::Closure),
            _ => None,
        }
    }
}

/// Which communication this version of the record is.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Communication {
    /// Send or closure.
    #[serde(default)]
    pub kind: CommunicationKind,
    /// Reason of a closure, 2 characters (`motivochiusura`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closure_reason: Option<String>,
    /// The 25-character code of this communication (`codicecandidatura` /
    /// `codiceofferta`). `None` until allocated: a code is allocated once per version,
    /// before the first send, and reused on every retry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// The code of the version this one replaces (`...precedente`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_code: Option<String>,
}

/// Consent given by the worker.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Consent {
    /// The CV may be shown to employers (`visibilita`). `None`: not stated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visible: Option<bool>,
}

/// The system part of a CV (`DatiSistema`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct CvSystem {
    /// Scope of publication (`ambitodiffusione`).
    pub diffusion: Diffusion,
    /// When the CV was entered or last changed at the CPI (`datainserimento`).
    pub inserted_at: Timestamp,
    /// Until when the CV stands (`datascadenza`).
    #[serde(default, with = "serde_date::option", skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(with = "Option<crate::time_types::DateSchema>"))]
    pub expires_on: Option<Date>,
    /// The CPI that holds the CV.
    #[serde(default)]
    pub intermediary: Intermediary,
    /// Send or closure, and the codes.
    #[serde(default)]
    pub communication: Communication,
    /// Receives income support (`percettore`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub income_support: Option<bool>,
}

/// A worker's CV: the "candidatura" of decreto 1546/2011.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Cv {
    /// Where it came from.
    #[serde(default)]
    pub provenance: Provenance,
    /// Identity, birth, citizenship, residence, domicile, contacts (`Lavoratore`).
    pub worker: Worker,
    /// Past jobs (`EsperienzeLavorative`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub experiences: Vec<WorkExperience>,
    /// School qualifications (`Istruzione`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub education: Vec<Education>,
    /// Training courses (`Formazione`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub training: Vec<Training>,
    /// Languages (`Lingue`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub languages: Vec<LanguageSkill>,
    /// IT skills (`ConoscenzeInformatiche`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub it_skills: Option<ItSkills>,
    /// Registers, driving licences, permits (`AbilitazioniPatenti`).
    #[serde(default, skip_serializing_if = "Licences::is_empty")]
    pub licences: Licences,
    /// Desired professions and availability; at least one (`ProfessioneDesiderataDisponibilita`).
    pub desired: Vec<DesiredProfession>,
    /// Consent given by the worker.
    #[serde(default)]
    pub consent: Consent,
    /// System data (`DatiSistema`).
    pub system: CvSystem,
}

/// The employer (`DatoreLavoro`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Employer {
    /// Codice fiscale or partita IVA (`codicefiscale`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fiscal_code: Option<String>,
    /// Company name (`denominazione`).
    pub name: String,
    /// ATECO 2007 sottocategoria `NN.NN.NN` (`settore`).
    pub sector: String,
    /// Size class `0N` (`ampiezza`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_class: Option<String>,
    /// Web site (`web`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web: Option<String>,
    /// Contact address (`DatiContatto`).
    pub address: Address,
    /// Phone (`telefono`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// Fax (`fax`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fax: Option<String>,
    /// E-mail, mandatory (`email`).
    pub email: String,
}

/// The requested profile (`ProfiloRichiesto`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Number of positions, 1 to 99 (`numerolavoratori`).
    pub positions: u8,
    /// CP2011 six-segment code (`idprofessione`).
    pub profession: String,
    /// Profession as text (`descrprofessione`).
    pub profession_title: String,
    /// What the job is (`descrizionericerca`).
    pub description: String,
    /// Experience required (`esperienzarichiesta`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub experience_required: Option<bool>,
    /// Which experience (`descrizioneesperienza`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub experience_description: Option<String>,
}

/// A required school qualification (`titolostudio`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct EducationRequirement {
    /// Level code, 2 digits (`idtitolostudio`).
    pub level: String,
    /// Description (`descrizionestudio`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// Requirements (`IstruzioneFormazione`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Requirements {
    /// Qualifications (`titolostudio`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub education: Vec<EducationRequirement>,
    /// Professional register (`idalbo`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub register: Option<String>,
    /// Languages (`Lingua`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub languages: Vec<LanguageSkill>,
    /// IT skills (`conoscenzeinformatiche`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub it_skills: Option<String>,
    /// Other skills (`altrecapacita`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub other_skills: Option<String>,
    /// Travel required (`trasferte`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub travel: Option<bool>,
    /// Driving licences (`idpatenteguida`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub driving_licences: Vec<String>,
    /// Own means of transport (`idmezzitrasporto`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub own_transport: Option<bool>,
    /// Permits (`idpatentino`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub permits: Vec<String>,
    /// Further requirements (`ulteriorirequisiti`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub further: Option<String>,
}

/// What is offered (`CondizioniOfferte`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Conditions {
    /// Belfiore code of the workplace (`idcomune`).
    pub workplace: String,
    /// Contract type, ClicLavoro form `A02` (`idtipologiacontratto`).
    pub contract_type: String,
    /// Duration as text (`durata`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
    /// CCNL code (`idccnl`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ccnl: Option<String>,
    /// Contract level, one digit (`idlivellocontrattuale`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contract_level: Option<u8>,
    /// Working time `FT`/`PT`/... (`idmodalitalavoro`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_time: Option<String>,
    /// Gross yearly pay in euro (`retribuzioneannualorda`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annual_gross_pay: Option<u32>,
    /// Further conditions (`ulterioricondizioni`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub further: Option<String>,
}

/// When the vacancy is published (`DurataRichiesta`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Publication {
    /// Publication time (`datapubblicazione`).
    pub published_at: Timestamp,
    /// Last day to apply (`datascadenza`).
    #[serde(default, with = "serde_date::option", skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(with = "Option<crate::time_types::DateSchema>"))]
    pub expires_on: Option<Date>,
}

/// The system part of a vacancy (`DatiSistema`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct VacancySystem {
    /// The CPI that publishes the vacancy; candidates apply through it.
    #[serde(default)]
    pub intermediary: Intermediary,
    /// Visible on the national portal (`visibilita`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visible: Option<bool>,
    /// Send or closure, and the codes.
    #[serde(default)]
    pub communication: Communication,
    /// The source system's own id of the vacancy (`codiceoffertaintermediario`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_vacancy_id: Option<String>,
}

/// An employer's vacancy: the "ricerca di personale" of decreto 1546/2011.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Vacancy {
    /// Where it came from.
    #[serde(default)]
    pub provenance: Provenance,
    /// The employer (`DatoreLavoro`).
    pub employer: Employer,
    /// The profile sought (`ProfiloRichiesto`).
    pub profile: Profile,
    /// Requirements (`IstruzioneFormazione`).
    #[serde(default)]
    pub requirements: Requirements,
    /// Workplace, contract, working time, pay (`CondizioniOfferte`).
    pub conditions: Conditions,
    /// Publication period (`DurataRichiesta`).
    pub publication: Publication,
    /// Nulla osta required (`AltreInformazioni/N.O.`), Rev.064.
    #[serde(default)]
    pub nulla_osta: bool,
    /// System data (`DatiSistema`); how to apply is through this intermediary.
    #[serde(default)]
    pub system: VacancySystem,
}

#[cfg(test)]
mod tests;
