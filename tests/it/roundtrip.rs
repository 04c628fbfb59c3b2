//! Property: any record an adapter accepts round-trips source -> canonical -> national
//! XML -> canonical unchanged. Inputs are generated exports (SIL Plus, Access CSV) and
//! Sintesi feeds with arbitrary text in every free-text field (accents, the delimiter,
//! quotes, apostrophes, line breaks), arbitrary child counts and states.
#![allow(clippy::unwrap_used)]

use crate::generate::{self, Entity, Tables, Val};
use proptest::prelude::*;
use silgate_core::source::SourceItem;
use silgate_core::{CommunicationKind, Provenance, Record, Source};
use silgate_source_tabular::Limits;
use std::ops::ControlFlow;
use std::path::Path;

fn text() -> impl Strategy<Value = String> {
    "[A-Za-zàèéìòùÀÈ0-9' ;\"/()-]{0,20}(\r\n[A-Za-zà ;]{1,10})?".prop_map(|s| s.trim().to_string()).prop_filter("not empty", |s| !s.is_empty())
}

prop_compose! {
    fn tables()(people in 1u32..5, jobs in 0u32..4, shift in 0u32..40, texts in proptest::collection::vec(text(), 12)) -> Tables {
        let mut t = generate::valid(0, 0);
        for i in 1..=people {
            let (mut row, kids) = generate::worker(i + shift);
            row[2] = Val::S(texts[0].clone());
            row[3] = Val::S(texts[1].clone());
            row[10] = Val::S(texts[2].clone());
            t.get_mut(&Entity::Lavoratori).unwrap().push(row);
            for (e, mut r) in kids {
                match e {
                    Entity::Esperienze => { r[5] = Val::S(texts[3].clone()); r[6] = Val::S(texts[4].clone()); r[7] = Val::S(texts[5].clone()); }
                    Entity::Titoli => { r[2] = Val::S(texts[6].clone()); r[3] = Val::S(texts[7].clone()); }
                    Entity::Disponibilita => r[2] = Val::S(texts[8].clone()),
                    _ => {}
                }
                t.get_mut(&e).unwrap().push(r);
            }
        }
        for j in 1..=jobs {
            let mut r = generate::job(j + shift, 1 + j % 3, "51220-1");
            r[7] = Val::S(texts[9].clone());
            r[8] = Val::S(texts[10].clone());
            t.get_mut(&Entity::Richieste).unwrap().push(r);
        }
        if let Some(az) = t.get_mut(&Entity::Aziende).unwrap().get_mut(0) {
            az[2] = Val::S(texts[11].clone());
        }
        t
    }
}

fn read_all(mut src: Box<dyn Source>) -> Vec<Record> {
    let mut out = Vec::new();
    src.read(&mut |i| {
        if let SourceItem::Record(r) = i {
            out.push(*r);
        }
        ControlFlow::Continue(())
    })
    .unwrap();
    out
}

/// source -> canonical -> XML -> canonical; returns how many records made the trip.
fn round_trip(records: Vec<Record>) -> usize {
    let n = records.len();
    for mut rec in records {
        // Read back, a record's fields are named as the national document names them.
        *rec.provenance_mut() = Provenance { fields: silgate_core::SourceFields::national(), ..Provenance::default() };
        let c = rec.communication_mut();
        c.code = Some("1600026221100000000000001".into());
        if c.kind == CommunicationKind::Closure {
            c.previous_code = Some("1600026211100000000000002".into());
        }
        let xml = silgate_std1546::write::write_record(&rec);
        let (back, issues) = silgate_std1546::read::read_document(xml.as_bytes(), Provenance::default());
        let back = back.unwrap_or_else(|| panic!("{issues:?}\n{xml}"));
        assert_eq!(back, rec, "\n{xml}");
    }
    n
}

fn check(t: &Tables, dir: &Path) -> usize {
    let sil = dir.join("silplus");
    generate::silplus(&sil, t);
    let acc = dir.join("access");
    generate::access_csv(&acc, t);
    let feed = dir.join("feed.xml");
    std::fs::write(&feed, generate::sintesi(t)).unwrap();
    let mut n = round_trip(read_all(Box::new(silgate_source_silplus::open(&sil, None, Limits::default()).unwrap())));
    n += round_trip(read_all(Box::new(silgate_source_access::open(&acc, None, Limits::default()).unwrap())));
    n += round_trip(read_all(Box::new(silgate_source_sintesi::open(&feed).unwrap())));
    n
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
    #[test]
    fn given_any_accepted_record_it_should_round_trip_through_the_national_xml(t in tables()) {
        let dir = tempfile::tempdir().unwrap();
        let people = t[&Entity::Lavoratori].len();
        let n = check(&t, dir.path());
        // Every generated record is accepted by each of the three adapters.
        prop_assert_eq!(n, 3 * (people + t[&Entity::Richieste].len()));
    }
}
