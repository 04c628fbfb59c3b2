//! The national path -> canonical field table against the writer: every element the
//! writer writes maps to a field of the record that holds its value.

use super::generators;
use crate::fields::{canonical, name_sources, national};
use crate::tree::{self, Element};
use proptest::prelude::*;
use silgate_core::{FieldMap, Issue, Position, Provenance, Record, RecordKind, SourceFields, SourceSystem};

/// Every element of `el` (its own path `path`) with its path.
fn walk<'e>(el: &'e Element, path: String, out: &mut Vec<(String, &'e Element)>) {
    for i in 0..el.children.len() {
        let p = format!("{path}/{}", crate::xsd::segment(el, i));
        walk(&el.children[i], p.clone(), out);
        out.push((p, &el.children[i]));
    }
}

/// Fields whose XML form is not their JSON form (dates, booleans, enumerations,
/// numbers): for those only presence is checked.
fn same_form(pointer: &str, v: &serde_json::Value) -> bool {
    !v.is_string()
        || ["birth_date", "start", "end", "expires_on", "inserted_at", "published_at", "diffusion", "kind", "duration_unit", "attestation", "reading", "writing", "speaking"]
            .iter()
            .any(|f| pointer.ends_with(f))
}

/// The table's key of a national path: under the root, indices as `[]`.
fn table_key(path: &str) -> String {
    path.split('/').skip(2).map(|s| s.split_once('[').map_or_else(|| s.to_string(), |(n, _)| format!("{n}[]"))).collect::<Vec<_>>().join("/")
}

fn check(rec: &Record) -> Result<(), TestCaseError> {
    let xml = crate::write::write_record(rec);
    let root = tree::parse(xml.as_bytes()).map_err(|e| TestCaseError::fail(e.message))?;
    let json = serde_json::to_value(rec).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let mut all = Vec::new();
    walk(&root, format!("/{}", root.name), &mut all);
    for (path, el) in all {
        let pointer = canonical(rec.kind(), &path);
        prop_assert!(pointer.is_some(), "{path} maps to no canonical field");
        // A value is named by its own entry, not by the group that holds it.
        if el.children.is_empty() {
            let key = table_key(&path);
            prop_assert!(crate::fields::table(rec.kind()).any(|(n, _)| *n == key), "{} ({}) has no entry of its own", path, key);
        }
        let pointer = pointer.unwrap_or_default();
        let v = json.pointer(&pointer);
        prop_assert!(v.is_some_and(|v| !v.is_null()), "{path} -> {pointer}: the record holds nothing there");
        if let Some(v) = v
            && el.children.is_empty()
            && !same_form(&pointer, v)
        {
            prop_assert_eq!(v.as_str().unwrap_or_default(), el.text.as_str(), "{} -> {}", path, pointer);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn every_element_of_a_cv_maps_to_the_field_it_is_written_from(cv in generators::cv()) {
        check(&Record::Cv(Box::new(cv)))?;
    }

    #[test]
    fn every_element_of_a_vacancy_maps_to_the_field_it_is_written_from(v in generators::vacancy()) {
        check(&Record::Vacancy(Box::new(v)))?;
    }
}

#[test]
fn given_a_path_under_an_element_it_should_name_the_nearest_part_and_shift_indices_to_zero() {
    let cv = RecordKind::Cv;
    assert_eq!(canonical(cv, "/Candidatura/DatiCurriculari/EsperienzeLavorative[3]").as_deref(), Some("/experiences/2"));
    assert_eq!(canonical(cv, "/Candidatura/DatiCurriculari/ProfessioneDesiderataDisponibilita[2]/idtipologiacontratto[1]").as_deref(), Some("/desired/1/contract_types/0"));
    assert_eq!(canonical(cv, "DatiSistema/codicecandidaturaprecedente").as_deref(), Some("/system/communication/previous_code"));
    assert_eq!(canonical(RecordKind::Vacancy, "/Vacancy/Richiesta/DurataRichiesta/datascadenza").as_deref(), Some("/publication/expires_on"));
    // A path of the other kind, a line, the root, an index 0: no field.
    assert_eq!(canonical(cv, "/Vacancy/DatiSistema/codiceofferta"), None);
    assert_eq!(canonical(cv, "line 7"), None);
    assert_eq!(canonical(cv, "/Candidatura"), None);
    assert_eq!(canonical(cv, "/"), None);
    assert_eq!(canonical(cv, "/Candidatura/DatiCurriculari/EsperienzeLavorative[0]/datafine"), None);
    assert_eq!(national(cv, "DatiSistema/codicecandidatura").as_deref(), Some("/Candidatura/DatiSistema/codicecandidatura"));
}

#[test]
fn given_each_way_a_source_names_fields_the_issue_should_name_the_source() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    #[allow(clippy::expect_used, reason = "tests")]
    let mut cv = generators::cv().new_tree(&mut runner).expect("a generated CV").current();
    cv.experiences = vec![silgate_core::WorkExperience::default()];
    let path = "/Candidatura/DatiCurriculari/EsperienzeLavorative[1]/datafine";
    let named = |cv: &silgate_core::Cv| {
        let mut issues = vec![Issue::error(path, "date.end-before-start", "m"), Issue::error("", "x", "m").at_source("kept")];
        name_sources(&Record::Cv(Box::new(cv.clone())), &mut issues);
        assert_eq!(issues[1].source_field.as_deref(), Some("kept"), "a source already named stays");
        issues.swap_remove(0).source_field
    };
    cv.provenance = Provenance::new(SourceSystem::CanonicalJson, "in.jsonl", Position::Line(7));
    assert_eq!(named(&cv).as_deref(), Some("/experiences/0/end line 7"));
    cv.provenance.fields = SourceFields::national();
    assert_eq!(named(&cv).as_deref(), Some(path));
    let mut map = FieldMap::default();
    map.add("", "LAVORATORI.CSV line 2");
    map.add("/experiences/0", "ESPERIENZE.CSV line 7");
    map.add("/experiences/0/start", "ESPERIENZE.CSV/DT_INIZIO line 7");
    cv.provenance.fields = SourceFields::mapped(map.clone());
    assert_eq!(named(&cv).as_deref(), Some("ESPERIENZE.CSV line 7"), "a field the source left empty names its row");
    map.add("/experiences/0/end", "ESPERIENZE.CSV/DT_FINE line 7");
    cv.provenance.fields = SourceFields::mapped(map);
    assert_eq!(named(&cv).as_deref(), Some("ESPERIENZE.CSV/DT_FINE line 7"));
}
