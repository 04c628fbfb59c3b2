//! The seven logical tables and their logical columns.

/// A logical table of a table-shaped export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Entity {
    /// Workers (`LAVORATORI.CSV`, Access `Anagrafica`): one CV each.
    Lavoratori,
    /// Past jobs, children of a worker.
    Esperienze,
    /// School titles, children of a worker.
    Titoli,
    /// Languages, children of a worker.
    Lingue,
    /// Desired professions, children of a worker.
    Disponibilita,
    /// Employers, referenced by vacancies.
    Aziende,
    /// Vacancies: one each.
    Richieste,
}

impl Entity {
    /// Every entity, parents before children.
    pub const ALL: [Entity; 7] = [Self::Lavoratori, Self::Esperienze, Self::Titoli, Self::Lingue, Self::Disponibilita, Self::Aziende, Self::Richieste];

    /// The children of a worker, in the order they are joined.
    pub const CV_CHILDREN: [Entity; 4] = [Self::Esperienze, Self::Titoli, Self::Lingue, Self::Disponibilita];

    /// The logical name (the SIL Plus file stem).
    pub fn name(self) -> &'static str {
        match self {
            Self::Lavoratori => "LAVORATORI",
            Self::Esperienze => "ESPERIENZE",
            Self::Titoli => "TITOLI",
            Self::Lingue => "LINGUE",
            Self::Disponibilita => "DISPONIBILITA",
            Self::Aziende => "AZIENDE",
            Self::Richieste => "RICHIESTE",
        }
    }

    /// The logical columns, in the SIL Plus order.
    pub fn columns(self) -> &'static [&'static str] {
        match self {
            Self::Lavoratori => &[
                "ID_LAV",
                "COD_FISC",
                "COGNOME",
                "NOME",
                "SESSO",
                "DT_NASC",
                "COM_NASC",
                "CITT",
                "COM_DOM",
                "CAP_DOM",
                "INDIRIZZO",
                "TEL",
                "CELL",
                "EMAIL",
                "COD_CPI",
                "DT_ULT_MOD",
                "STATO",
            ],
            Self::Esperienze => &["ID_LAV", "DT_INIZIO", "DT_FINE", "COD_CONTR", "COD_QUAL", "DESCR_QUAL", "DATORE", "MANSIONI"],
            Self::Titoli => &["ID_LAV", "COD_TITOLO", "DESCR", "VOTO"],
            Self::Lingue => &["ID_LAV", "COD_LINGUA", "LIV_LETTO", "LIV_SCRITTO", "LIV_PARLATO"],
            Self::Disponibilita => &["ID_LAV", "COD_QUAL", "DESCR_QUAL", "ORARIO", "COD_CONTR", "TRASFERTE"],
            Self::Aziende => &["ID_AZ", "CF_PIVA", "RAG_SOC", "ATECO", "COM_SEDE", "CAP", "INDIRIZZO", "EMAIL", "TEL"],
            Self::Richieste => {
                &["ID_RIC", "ID_AZ", "COD_CPI", "DT_PUBBL", "DT_SCAD", "N_POSTI", "COD_QUAL", "DESCR_QUAL", "DESCRIZIONE", "COM_LAVORO", "COD_CONTR", "ORARIO", "STATO", "RETRIB"]
            }
        }
    }

    /// Columns whose absence from a header refuses the export: the keys and what
    /// every record needs. The others may be missing (their values are then empty).
    pub fn required(self) -> &'static [&'static str] {
        match self {
            Self::Lavoratori => &["ID_LAV", "COD_FISC", "COGNOME", "NOME", "SESSO", "DT_NASC", "COM_NASC", "EMAIL", "COD_CPI"],
            Self::Esperienze | Self::Titoli | Self::Lingue | Self::Disponibilita => &["ID_LAV"],
            Self::Aziende => &["ID_AZ", "RAG_SOC", "ATECO", "EMAIL"],
            Self::Richieste => &["ID_RIC", "ID_AZ", "COD_CPI", "DT_PUBBL", "COD_QUAL", "DESCRIZIONE", "COM_LAVORO", "COD_CONTR"],
        }
    }

    /// The join key: the parent's id for children, the own id for parents.
    pub fn key(self) -> &'static str {
        match self {
            Self::Lavoratori | Self::Esperienze | Self::Titoli | Self::Lingue | Self::Disponibilita => "ID_LAV",
            Self::Aziende | Self::Richieste => "ID_AZ",
        }
    }

    /// The canonical field a logical column is read into, as a JSON pointer under
    /// the part its row builds (the record for a worker or a vacancy, `/employer` for
    /// an employer, one item of a list for a worker's child rows); `None` for the keys
    /// that only join rows.
    pub fn canonical(self, column: &str) -> Option<&'static str> {
        Some(match (self, column) {
            (Self::Lavoratori, "COD_FISC") => "/worker/fiscal_code",
            (Self::Lavoratori, "COGNOME") => "/worker/surname",
            (Self::Lavoratori, "NOME") => "/worker/name",
            (Self::Lavoratori, "SESSO") => "/worker/sex",
            (Self::Lavoratori, "DT_NASC") => "/worker/birth_date",
            (Self::Lavoratori, "COM_NASC") => "/worker/birthplace",
            (Self::Lavoratori, "CITT") => "/worker/citizenship",
            (Self::Lavoratori, "COM_DOM") => "/worker/domicile/comune",
            (Self::Lavoratori, "CAP_DOM") => "/worker/domicile/cap",
            (Self::Lavoratori, "INDIRIZZO") => "/worker/domicile/street",
            (Self::Lavoratori, "TEL") => "/worker/contacts/phone",
            (Self::Lavoratori, "CELL") => "/worker/contacts/mobile",
            (Self::Lavoratori, "EMAIL") => "/worker/contacts/email",
            (Self::Lavoratori | Self::Richieste, "COD_CPI") => "/system/intermediary/id",
            (Self::Lavoratori, "DT_ULT_MOD") => "/system/inserted_at",
            (Self::Lavoratori | Self::Richieste, "STATO") => "/system/communication/kind",
            (Self::Esperienze, "DT_INIZIO") => "/start",
            (Self::Esperienze, "DT_FINE") => "/end",
            (Self::Esperienze, "COD_CONTR") => "/contract_type",
            (Self::Esperienze, "COD_QUAL") => "/profession",
            (Self::Esperienze, "DESCR_QUAL") => "/profession_title",
            (Self::Esperienze, "DATORE") => "/employer_name",
            (Self::Esperienze, "MANSIONI") => "/duties",
            (Self::Titoli, "COD_TITOLO") => "/level",
            (Self::Titoli, "DESCR") => "/description",
            (Self::Titoli, "VOTO") => "/grade",
            (Self::Lingue, "COD_LINGUA") => "/language",
            (Self::Lingue, "LIV_LETTO") => "/reading",
            (Self::Lingue, "LIV_SCRITTO") => "/writing",
            (Self::Lingue, "LIV_PARLATO") => "/speaking",
            (Self::Disponibilita, "COD_QUAL") => "/profession",
            (Self::Disponibilita, "DESCR_QUAL") => "/title",
            (Self::Disponibilita, "ORARIO") => "/working_time/0",
            (Self::Disponibilita, "COD_CONTR") => "/contract_types/0",
            (Self::Disponibilita, "TRASFERTE") => "/travel",
            (Self::Aziende, "CF_PIVA") => "/fiscal_code",
            (Self::Aziende, "RAG_SOC") => "/name",
            (Self::Aziende, "ATECO") => "/sector",
            (Self::Aziende, "COM_SEDE") => "/address/comune",
            (Self::Aziende, "CAP") => "/address/cap",
            (Self::Aziende, "INDIRIZZO") => "/address/street",
            (Self::Aziende, "EMAIL") => "/email",
            (Self::Aziende, "TEL") => "/phone",
            (Self::Richieste, "ID_RIC") => "/system/source_vacancy_id",
            (Self::Richieste, "DT_PUBBL") => "/publication/published_at",
            (Self::Richieste, "DT_SCAD") => "/publication/expires_on",
            (Self::Richieste, "N_POSTI") => "/profile/positions",
            (Self::Richieste, "COD_QUAL") => "/profile/profession",
            (Self::Richieste, "DESCR_QUAL") => "/profile/profession_title",
            (Self::Richieste, "DESCRIZIONE") => "/profile/description",
            (Self::Richieste, "COM_LAVORO") => "/conditions/workplace",
            (Self::Richieste, "COD_CONTR") => "/conditions/contract_type",
            (Self::Richieste, "ORARIO") => "/conditions/working_time",
            (Self::Richieste, "RETRIB") => "/conditions/annual_gross_pay",
            _ => return None,
        })
    }

    /// The index of a logical column.
    pub fn index(self, column: &str) -> Option<usize> {
        self.columns().iter().position(|c| *c == column)
    }

    /// Parses a logical name, any case.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.name().eq_ignore_ascii_case(name))
    }
}

/// Compares two keys the way exports sort them: all-digit keys first, in numeric order
/// (`9` < `10`), then the others as text. A total order that agrees with string
/// equality: numerically equal keys written differently (`007`, `7`) are ordered by
/// their text, so the merge join and the index join see the same keys.
pub fn key_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let num = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
    match (num(a), num(b)) {
        (true, true) => {
            let (x, y) = (a.trim_start_matches('0'), b.trim_start_matches('0'));
            x.len().cmp(&y.len()).then_with(|| x.cmp(y)).then_with(|| a.cmp(b))
        }
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) => a.cmp(b),
    }
}
