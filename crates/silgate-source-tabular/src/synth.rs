//! Synthetic exports of any size, written as a stream (flat memory), for benchmarks and
//! fuzz seeds: `workers` rows in the worker table with one experience, one desired
//! profession and (every other worker) one language each; one vacancy per ten workers
//! over a hundred employers. Tables are named and laid out by a [`Mapping`]; files are
//! Windows-1252 with accented text, CRLF, and a quoted field holding the delimiter and
//! a line break in every tenth worker.

use crate::entity::Entity;
use crate::mapping::Mapping;
use std::io::{BufWriter, Write};
use std::path::Path;

fn cells(e: Entity, i: u64) -> Vec<String> {
    let id = i.to_string();
    match e {
        Entity::Lavoratori => {
            let street = if i.is_multiple_of(10) { format!("\"Via Citt\u{e0} {i}; scala B\r\nint. 2\"") } else { format!("Via Roma {i}") };
            vec![
                id,
                format!("RSSMRA{:02}A01F839X", i % 100),
                "Rossi".into(),
                "Niccol\u{f2}".into(),
                "M".into(),
                format!("{:02}/0{}/19{:02}", 1 + i % 28, 1 + i % 9, 50 + i % 50),
                "F839".into(),
                "000".into(),
                "F839".into(),
                "80100".into(),
                street,
                String::new(),
                format!("333{i:07}"),
                format!("p{i}@example.it"),
                "CPI160601".into(),
                "01/10/2026 09:00".into(),
                "A".into(),
            ]
        }
        Entity::Esperienze => {
            vec![id, "01/02/2015".into(), "30/06/2019".into(), "A.02.00".into(), "51220-1".into(), "Addetto alle vendite".into(), "Supermercati srl".into(), "Cassa".into()]
        }
        Entity::Titoli => vec![id, "40".into(), "Diploma".into(), "80/100".into()],
        Entity::Lingue => vec![id, "ENG".into(), "B2".into(), "B1".into(), "B2".into()],
        Entity::Disponibilita => vec![id, "51220-1".into(), "Addetto alle vendite".into(), "F".into(), "A.01.00".into(), "S".into()],
        Entity::Aziende => vec![
            id,
            format!("0{i:010}"),
            format!("Ditta {i} srl"),
            "471140".into(),
            "F839".into(),
            "80100".into(),
            "Corso Umberto 1".into(),
            "ditta@example.it".into(),
            String::new(),
        ],
        Entity::Richieste => vec![
            format!("2026/{i}"),
            (1 + i % 100).to_string(),
            "CPI160601".into(),
            "01/11/2026 10:00".into(),
            "31/01/2027".into(),
            "1".into(),
            "51220-1".into(),
            "Commesso".into(),
            "Vendita al banco".into(),
            "F839".into(),
            "A.02.00".into(),
            "F".into(),
            "A".into(),
            "18000".into(),
        ],
    }
}

/// Rows per table for `workers` workers.
pub fn rows(e: Entity, workers: u64) -> u64 {
    match e {
        Entity::Lavoratori | Entity::Esperienze | Entity::Disponibilita => workers,
        Entity::Lingue | Entity::Titoli => workers.div_ceil(2),
        Entity::Aziende => 100,
        Entity::Richieste => workers / 10,
    }
}

/// Writes the export into `dir`: one file per table named `<table><suffix>` (e.g.
/// `LAVORATORI.CSV` with the `silplus-1` mapping and suffix `""`, `Anagrafica.csv` with
/// `campania-1` and `.csv`), plus a SIL Plus manifest when `manifest` is true. Returns
/// the bytes written.
pub fn write_export(dir: &Path, mapping: &Mapping, suffix: &str, workers: u64, manifest: bool) -> std::io::Result<u64> {
    std::fs::create_dir_all(dir)?;
    let mut total = 0u64;
    let mut list = String::new();
    for e in Entity::ALL {
        let name = format!("{}{suffix}", mapping.table(e));
        let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(dir.join(&name))?);
        let header: Vec<&str> = e.columns().iter().map(|c| mapping.column(e, c)).collect();
        let mut line = header.join(";");
        line.push_str("\r\n");
        w.write_all(line.as_bytes())?;
        total += line.len() as u64;
        let n = rows(e, workers);
        for k in 0..n {
            let i = match e {
                Entity::Lingue | Entity::Titoli => 2 * k + 1,
                Entity::Aziende => k + 1,
                Entity::Richieste => 10 * k + 1,
                _ => k + 1,
            };
            let mut line = cells(e, i).join(";");
            line.push_str("\r\n");
            let (bytes, _, _) = encoding_rs::WINDOWS_1252.encode(&line);
            w.write_all(&bytes)?;
            total += bytes.len() as u64;
        }
        w.flush()?;
        list.push_str(&format!("{name};{n};\r\n"));
    }
    if manifest {
        list.push_str("GENERATO;24/11/2026 23:10;\r\n");
        std::fs::write(dir.join("EXPORT.TXT"), list)?;
    }
    Ok(total)
}
