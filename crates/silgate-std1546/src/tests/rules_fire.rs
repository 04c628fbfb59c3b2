//! One test per business rule: start from a valid example, break one thing, and see
//! exactly that rule fire at exactly that path.

use super::*;
use silgate_codes::cf::check_char;
use silgate_core::*;

fn example(name: &str) -> Record {
    let xml = std::fs::read_to_string(shared().join("formats/examples").join(name)).expect("read");
    judge(&xml).record.expect("record")
}

fn cv() -> Cv {
    match example("candidatura-901.xml") {
        Record::Cv(c) => *c,
        Record::Vacancy(_) => unreachable!("a CV example"),
    }
}

fn vacancy() -> Vacancy {
    match example("vacancy-903.xml") {
        Record::Vacancy(v) => *v,
        Record::Cv(_) => unreachable!("a vacancy example"),
    }
}

fn with_check(body: &str) -> String {
    format!("{body}{}", check_char(body.as_bytes()).expect("chars"))
}

fn fires(rec: Record, rule: &str, path: &str) {
    let issues = rules::check_record(&rec, CodeTables::embedded(), TODAY);
    let fired = issues.iter().find(|i| i.rule == rule && i.path == path).unwrap_or_else(|| panic!("expected {rule} at {path}, got {issues:#?}"));
    // and the untouched example does not fire it
    let base = match rec {
        Record::Cv(_) => Record::Cv(Box::new(cv())),
        Record::Vacancy(_) => Record::Vacancy(Box::new(vacancy())),
    };
    let clean = rules::check_record(&base, CodeTables::embedded(), TODAY);
    assert!(!clean.contains(fired), "{rule} fires the same way on the clean example: {clean:#?}");
}

macro_rules! rule_test {
    ($name:ident, cv, $rule:literal, $path:literal, |$c:ident| $mutate:expr) => {
        #[test]
        fn $name() {
            let mut $c = cv();
            $mutate;
            fires(Record::Cv(Box::new($c)), $rule, $path);
        }
    };
    ($name:ident, vacancy, $rule:literal, $path:literal, |$v:ident| $mutate:expr) => {
        #[test]
        fn $name() {
            let mut $v = vacancy();
            $mutate;
            fires(Record::Vacancy(Box::new($v)), $rule, $path);
        }
    };
}

const CF: &str = "/Candidatura/Lavoratore/DatiAnagrafici/codicefiscale";

rule_test!(cf_checksum_fires, cv, "cf.checksum", "/Candidatura/Lavoratore/DatiAnagrafici/codicefiscale", |c| c.worker.fiscal_code = "SPSGNR88B14F839M".into());
rule_test!(cf_birth_date_fires, cv, "cf.birth-date", "/Candidatura/Lavoratore/DatiAnagrafici/codicefiscale", |c| c.worker.birth_date = time::macros::date!(1988 - 02 - 15));
rule_test!(cf_sex_fires, cv, "cf.sex", "/Candidatura/Lavoratore/DatiAnagrafici/codicefiscale", |c| c.worker.sex = Sex::F);
rule_test!(cf_birthplace_fires, cv, "cf.birthplace", "/Candidatura/Lavoratore/DatiAnagrafici/codicefiscale", |c| c.worker.birthplace = "B963".into());
rule_test!(comune_unknown_fires, cv, "comune.unknown", "/Candidatura/Lavoratore/Domicilio/idcomune", |c| c.worker.domicile.comune = "Z999".into());
rule_test!(comune_unspecified_warns, cv, "comune.unspecified", "/Candidatura/Lavoratore/Domicilio/idcomune", |c| c.worker.domicile.comune = "0000".into());
rule_test!(cittadinanza_unknown_warns, cv, "cittadinanza.unknown", "/Candidatura/Lavoratore/DatiAnagrafici/idcittadinanza", |c| c.worker.citizenship = "999".into());
rule_test!(birth_in_future_fires, cv, "date.birth-in-future", "/Candidatura/Lavoratore/DatiAnagrafici/datanascita", |c| c.worker.birth_date = time::macros::date!(2027 - 01 - 01));
rule_test!(birth_implausible_fires, cv, "date.birth-implausible", "/Candidatura/Lavoratore/DatiAnagrafici/datanascita", |c| c.worker.birth_date =
    time::macros::date!(2020 - 01 - 01));
rule_test!(end_before_start_fires, cv, "date.end-before-start", "/Candidatura/DatiCurriculari/EsperienzeLavorative[1]/datafine", |c| c.experiences[0].end =
    Some(time::macros::date!(2014 - 01 - 01)));
rule_test!(cv_expiry_before_insert_fires, cv, "date.expiry-before-insert", "/Candidatura/DatiSistema/datascadenza", |c| c.system.expires_on =
    Some(time::macros::date!(2026 - 01 - 01)));
rule_test!(cp2011_unknown_fires, cv, "cp2011.unknown", "/Candidatura/DatiCurriculari/ProfessioneDesiderataDisponibilita[1]/idprofessione", |c| c.desired[0].profession =
    "0.1.2.2.0.1".into());
rule_test!(titolo_unknown_warns, cv, "titolo.unknown", "/Candidatura/DatiCurriculari/Istruzione[1]/titolostudio", |c| c.education[0].level = "99".into());
rule_test!(contratto_unknown_warns, cv, "contratto.unknown", "/Candidatura/DatiCurriculari/EsperienzeLavorative[1]/tipoesperienza", |c| c.experiences[0].contract_type =
    Some("Z99".into()));
rule_test!(closure_missing_previous_fires, cv, "closure.missing-previous", "/Candidatura/DatiSistema/codicecandidaturaprecedente", |c| {
    c.system.communication.kind = CommunicationKind::Closure;
    c.system.communication.closure_reason = Some("01".into());
});
rule_test!(closure_missing_reason_fires, cv, "closure.missing-reason", "/Candidatura/DatiSistema/motivochiusura", |c| {
    c.system.communication.kind = CommunicationKind::Closure;
    c.system.communication.previous_code = Some("1600026221000000000000901".into());
});
rule_test!(closure_reason_on_send_fires, cv, "closure.reason-on-send", "/Candidatura/DatiSistema/motivochiusura", |c| c.system.communication.closure_reason = Some("01".into()));
rule_test!(piva_checksum_fires, vacancy, "piva.checksum", "/Vacancy/DatoreLavoro/DatiAnagrafici/codicefiscale", |v| v.employer.fiscal_code = Some("07654321096".into()));
rule_test!(ateco_unknown_fires, vacancy, "ateco.unknown", "/Vacancy/DatoreLavoro/DatiAnagrafici/settore", |v| v.employer.sector = "52.29.99".into());
rule_test!(workplace_not_valid_today_fires, vacancy, "comune.not-valid-at-date", "/Vacancy/Richiesta/CondizioniOfferte/idcomune", |v| v.conditions.workplace = "Z105".into());
rule_test!(expiry_before_publication_fires, vacancy, "date.expiry-before-publication", "/Vacancy/Richiesta/DurataRichiesta/datascadenza", |v| v.publication.expires_on =
    Some(time::macros::date!(2026 - 01 - 31)));
rule_test!(lingua_unknown_warns, vacancy, "lingua.unknown", "/Vacancy/Richiesta/IstruzioneFormazione/Lingua[1]/idlingua", |v| v.requirements.languages[0].language = "XXX".into());
rule_test!(patente_unknown_warns, vacancy, "patente.unknown", "/Vacancy/Richiesta/IstruzioneFormazione/idpatenteguida[1]", |v| v.requirements.driving_licences[0] = "42".into());

#[test]
fn given_a_birthplace_suppressed_before_the_birth_should_fire_not_valid_at_date() {
    // Born 1995 "in" Cecoslovacchia (ceased 1993-01-01): the code did not exist at birth.
    let mut c = cv();
    c.worker.birthplace = "Z105".into();
    c.worker.birth_date = time::macros::date!(1995 - 01 - 01);
    c.worker.sex = Sex::M;
    c.worker.fiscal_code = with_check("SPSGNR95A01Z105");
    fires(Record::Cv(Box::new(c.clone())), "comune.not-valid-at-date", "/Candidatura/Lavoratore/DatiAnagrafici/idcomune");
    // the same person born in 1980 is fine
    c.worker.birth_date = time::macros::date!(1980 - 01 - 01);
    c.worker.fiscal_code = with_check("SPSGNR80A01Z105");
    let issues = rules::check_record(&Record::Cv(Box::new(c)), CodeTables::embedded(), TODAY);
    assert!(!issues.iter().any(|i| i.path.ends_with("idcomune") || i.path == CF), "{issues:#?}");
}

#[test]
fn given_an_omocode_fiscal_code_should_accept_it() {
    let mut c = cv();
    // SPSGNR88B14F839 with the last digit (9) replaced by V: omocodia.
    c.worker.fiscal_code = with_check("SPSGNR88B14F83V");
    let issues = rules::check_record(&Record::Cv(Box::new(c)), CodeTables::embedded(), TODAY);
    assert!(!issues.iter().any(|i| i.path == CF), "{issues:#?}");
}

rule_test!(cf_impossible_month_fires, cv, "cf.format", "/Candidatura/Lavoratore/DatiAnagrafici/codicefiscale", |c| c.worker.fiscal_code = with_check("SPSGNR88F14F839"));

#[test]
fn given_an_unspecified_birthplace_should_not_fire_cf_birthplace() {
    let mut c = cv();
    c.worker.birthplace = "0000".into();
    let issues = rules::check_record(&Record::Cv(Box::new(c)), CodeTables::embedded(), TODAY);
    assert!(!issues.iter().any(|i| i.rule == "cf.birthplace"), "{issues:#?}");
    assert!(issues.iter().any(|i| i.rule == "comune.unspecified"), "{issues:#?}");
}
