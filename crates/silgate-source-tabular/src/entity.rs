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
