//! Optional codes the standard cannot carry: mapped by the region's table, left out
//! with a warning, or rejected.

use super::generators::cv;
use super::xsd;
use crate::fit::{RULE, Unmappable, fit, five_level};
use crate::write;
use proptest::prelude::*;
use silgate_codes::{CodeTables, TableName};
use silgate_core::{Cv, Record, WorkExperience};

#[test]
fn given_codes_it_should_tell_the_five_level_units() {
    assert_eq!(five_level("51220").as_deref(), Some("5.1.2.2.0"));
    assert_eq!(five_level("5.1.2.2.0").as_deref(), Some("5.1.2.2.0"));
    for not in ["5.1.2.2.0.1", "5122", "512201", "5.1.2.2", "5.1.2.22.0", "a1220", "", "5.1.2.2.x"] {
        assert_eq!(five_level(not), None, "{not}");
    }
}

/// `c` with one more experience naming `code`, first.
fn with_experience(mut c: Cv, code: &str) -> Record {
    let e = WorkExperience {
        contract_type: None,
        profession: Some(code.to_string()),
        profession_title: Some("Commesso".into()),
        duties: None,
        employer_name: None,
        start: None,
        end: None,
        employer_address: None,
    };
    c.experiences.insert(0, e);
    Record::Cv(Box::new(c))
}

fn first_profession(r: &Record) -> Option<String> {
    match r {
        Record::Cv(c) => c.experiences[0].profession.clone(),
        Record::Vacancy(_) => None,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Under `omit` a five-level code in an optional element is left out with a warning
    /// naming the element, and the document passes the XSD; under `reject` it is an
    /// error at the same element.
    #[test]
    fn any_cv_with_a_five_level_experience_code_is_delivered_without_it_or_rejected(c in cv(), unit in "[1-9][0-9]{4}") {
        let tables = CodeTables::embedded();
        let mut omitted = with_experience(c.clone(), &unit);
        let issues = fit(&mut omitted, tables, Unmappable::Omit);
        let path = "/Candidatura/DatiCurriculari/EsperienzeLavorative[1]/qualificasvolta";
        prop_assert!(issues.iter().any(|i| i.rule == RULE && i.path == path && !i.is_error()), "{issues:?}");
        prop_assert!(issues.iter().all(|i| !i.is_error()));
        prop_assert_eq!(first_profession(&omitted), None);
        let xml = write::write_record(&omitted);
        let xsd_issues = xsd().validate(omitted.kind(), xml.as_bytes()).expect("validator");
        prop_assert!(xsd_issues.is_empty(), "{xsd_issues:?}");

        let mut rejected = with_experience(c, &unit);
        let issues = fit(&mut rejected, tables, Unmappable::Reject);
        prop_assert!(issues.iter().any(|i| i.rule == RULE && i.path == path && i.is_error()), "{issues:?}");
        prop_assert_eq!(first_profession(&rejected), Some(unit));
    }
}

#[test]
fn given_the_regions_table_it_should_take_its_six_segment_code_over_the_policy() {
    let table = "# table: t\n# source: the region\n# licence: none\n# complete: no: a test\nunit\tcode\tsource\n5.1.2.2.0\t5.1.2.2.0.3\tregion\n";
    let tables = CodeTables::load(&|t| (t == TableName::Cp2011Sixth).then(|| table.to_string())).expect("tables");
    let base = Cv { experiences: vec![], ..super_cv() };
    for (code, policy) in [("51220", Unmappable::Reject), ("5.1.2.2.0", Unmappable::Omit)] {
        let mut r = with_experience(base.clone(), code);
        assert!(fit(&mut r, &tables, policy).is_empty(), "mapped, nothing to say");
        assert_eq!(first_profession(&r).as_deref(), Some("5.1.2.2.0.3"));
    }
    // A unit the table does not list falls to the policy; a six-segment code and a code
    // that is no unit at all are left alone (the XSD judges the latter).
    let mut r = with_experience(base.clone(), "6.1.2.2.0");
    assert_eq!(fit(&mut r, &tables, Unmappable::Omit).len(), 1);
    for code in ["5.1.2.2.0.1", "garbage"] {
        let mut r = with_experience(base.clone(), code);
        assert!(fit(&mut r, &tables, Unmappable::Reject).is_empty(), "{code}");
        assert_eq!(first_profession(&r).as_deref(), Some(code));
    }
}

/// One generated CV, for the example-based test.
fn super_cv() -> Cv {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    #[allow(clippy::expect_used, reason = "tests")]
    cv().new_tree(&mut runner).expect("a generated CV").current()
}
