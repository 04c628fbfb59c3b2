//! Property tests: any canonical record the generators make (valid under the XSD's
//! forms) round-trips canonical -> XML -> canonical unchanged, and a sample of what
//! they emit validates under our XSD and the ministry's with `xmllint`.

use super::*;
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use silgate_core::*;

fn text(max: usize) -> impl Strategy<Value = String> {
    // Letters, accents, digits, punctuation, the XML specials and a line break.
    proptest::string::string_regex(&format!("[A-Za-zàèéìòù0-9 .,'&<>\"/\\n-]{{1,{max}}}")).expect("regex")
}

fn digits(n: usize) -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!("[0-9]{{{n}}}")).expect("regex")
}

fn belfiore() -> impl Strategy<Value = String> {
    prop_oneof![Just("F839".to_string()), Just("B963".to_string()), Just("C352".to_string()), Just("Z404".to_string()), "[A-Z][0-9]{3}"]
}

fn profession() -> impl Strategy<Value = String> {
    "[1-9]\\.[0-9]\\.[0-9]\\.[0-9]\\.[0-9]\\.[0-9]{1,2}"
}

fn contract() -> impl Strategy<Value = String> {
    "[A-Z][0-9]{2}"
}

fn email() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9_%+-]{0,8}(\\.[a-z0-9]{1,5})?@[a-z]{1,10}\\.(it|eu)"
}

fn date_s() -> impl Strategy<Value = Date> {
    (1950i32..2030, 1u8..=12, 1u8..=28).prop_map(|(y, m, d)| Date::from_calendar_date(y, time::Month::try_from(m).expect("month"), d).expect("date"))
}

fn timestamp() -> impl Strategy<Value = Timestamp> {
    (date_s(), 0u8..24, 0u8..60, 0u8..60, option::of(-12i8..=12)).prop_map(|(d, h, m, s, off)| Timestamp {
        local: time::PrimitiveDateTime::new(d, time::Time::from_hms(h, m, s).expect("time")),
        offset: off.map(|o| time::UtcOffset::from_hms(o, 0, 0).expect("offset")),
    })
}

fn cefr() -> impl Strategy<Value = Option<Cefr>> {
    option::of(proptest::sample::select(Cefr::ALL.to_vec()))
}

fn language() -> impl Strategy<Value = LanguageSkill> {
    (prop_oneof![digits(3), "[A-Z]{3}", Just("WU".to_string())], cefr(), cefr(), cefr()).prop_map(|(language, reading, writing, speaking)| LanguageSkill {
        language,
        reading,
        writing,
        speaking,
    })
}

fn communication() -> impl Strategy<Value = Communication> {
    (any::<bool>(), option::of(digits(2)), digits(25), option::of(digits(25))).prop_map(|(closure, reason, code, prev)| Communication {
        kind: if closure { CommunicationKind::Closure } else { CommunicationKind::Send },
        closure_reason: reason,
        code: Some(code),
        previous_code: prev,
    })
}

fn intermediary() -> impl Strategy<Value = Intermediary> {
    (
        option::of("[A-Z0-9]{1,11}"),
        option::of("[A-Z0-9]{1,16}"),
        option::of(text(200)),
        option::of(text(100)),
        option::of(belfiore()),
        option::of(digits(5)),
        option::of(digits(10)),
        option::of(email()),
    )
        .prop_map(|(id, fiscal_code, name, street, comune, cap, phone, email)| Intermediary { id, fiscal_code, name, street, comune, cap, phone, fax: None, email })
}

fn fiscal_code() -> impl Strategy<Value = String> {
    prop_oneof!["[A-Z]{6}[0-9LMNPQRSTUV]{2}[A-Z][0-9LMNPQRSTUV]{2}[A-Z][0-9LMNPQRSTUV]{3}[A-Z]", digits(11)]
}

fn worker() -> impl Strategy<Value = Worker> {
    (
        fiscal_code(),
        text(50),
        text(50),
        any::<bool>(),
        date_s(),
        belfiore(),
        digits(3),
        (belfiore(), option::of(digits(5)), option::of(text(100))),
        (option::of(digits(10)), option::of(digits(10)), option::of(digits(10)), email()),
    )
        .prop_map(|(fiscal_code, surname, name, female, birth_date, birthplace, citizenship, (comune, cap, street), (phone, mobile, fax, email))| Worker {
            fiscal_code,
            surname,
            name,
            sex: if female { Sex::F } else { Sex::M },
            birth_date,
            birthplace,
            citizenship,
            residence: None,
            domicile: Address { comune, cap, street },
            contacts: Contacts { phone, mobile, fax, email },
        })
}

fn experience() -> impl Strategy<Value = WorkExperience> {
    (
        option::of(contract()),
        option::of(profession()),
        option::of(text(250)),
        option::of(text(250)),
        option::of(text(100)),
        option::of(date_s()),
        option::of(date_s()),
        option::of(text(100)),
    )
        .prop_map(|(contract_type, profession, profession_title, duties, employer_name, start, end, employer_address)| WorkExperience {
            contract_type,
            profession,
            profession_title,
            duties,
            employer_name,
            start,
            end,
            employer_address,
        })
}

fn training() -> impl Strategy<Value = Training> {
    (
        option::of(text(100)),
        option::of(belfiore()),
        option::of(0u16..10000),
        option::of(proptest::sample::select(vec![DurationUnit::O, DurationUnit::G, DurationUnit::M, DurationUnit::A])),
        option::of(proptest::sample::select(vec![Attestation::N, Attestation::F, Attestation::Q, Attestation::S, Attestation::C, Attestation::T])),
        option::of(profession()),
        option::of(text(250)),
    )
        .prop_map(|(title, place, duration, duration_unit, attestation, qualification, qualification_title)| Training {
            title,
            place,
            duration,
            duration_unit,
            attestation,
            qualification,
            qualification_title,
        })
}

fn desired() -> impl Strategy<Value = DesiredProfession> {
    (
        profession(),
        text(250),
        option::of(text(300)),
        option::of(any::<bool>()),
        option::of(text(300)),
        option::of(any::<bool>()),
        vec("[A-Z]{2}", 0..3),
        vec(contract(), 0..3),
        option::of(any::<bool>()),
    )
        .prop_map(|(profession, title, description, sector_experience, experience_description, travel, working_time, contract_types, own_transport)| DesiredProfession {
            profession,
            title,
            description,
            sector_experience,
            experience_description,
            travel,
            working_time,
            contract_types,
            own_transport,
        })
}

/// Any CV the XSD's forms allow.
pub(crate) fn cv() -> impl Strategy<Value = Cv> {
    (
        worker(),
        vec(experience(), 0..3),
        vec((digits(2), option::of(text(100)), option::of(text(30))).prop_map(|(level, description, grade)| Education { level, description, grade }), 0..3),
        vec(training(), 0..2),
        vec(language(), 0..3),
        option::of((option::of(text(1000)), option::of(text(1000))).prop_map(|(kind, details)| ItSkills { kind, details })),
        (vec("00[0-9]{2}", 0..2), vec(digits(2), 0..3), vec(digits(2), 0..2)).prop_map(|(registers, driving, permits)| Licences { registers, driving, permits }),
        vec(desired(), 1..3),
        option::of(any::<bool>()),
        (
            proptest::sample::select(vec![Diffusion::Regional, Diffusion::National, Diffusion::European]),
            timestamp(),
            option::of(date_s()),
            intermediary(),
            communication(),
            option::of(any::<bool>()),
        ),
    )
        .prop_map(
            |(
                worker,
                experiences,
                education,
                training,
                languages,
                it_skills,
                licences,
                desired,
                visible,
                (diffusion, inserted_at, expires_on, intermediary, communication, income_support),
            )| Cv {
                provenance: prov(),
                worker,
                experiences,
                education,
                training,
                languages,
                it_skills,
                licences,
                desired,
                consent: Consent { visible },
                system: CvSystem { diffusion, inserted_at, expires_on, intermediary, communication, income_support },
            },
        )
}

/// Any vacancy the XSD's forms allow.
pub(crate) fn vacancy() -> impl Strategy<Value = Vacancy> {
    (
        (
            option::of(fiscal_code()),
            text(100),
            "[0-9]{2}\\.[0-9]{2}\\.[0-9]{2}",
            option::of("0[0-9]"),
            option::of(text(256)),
            belfiore(),
            option::of(digits(5)),
            option::of(text(100)),
            option::of(digits(10)),
            email(),
        ),
        (1u8..100, profession(), text(250), text(2000), option::of(any::<bool>()), option::of(text(2000))),
        (
            vec((digits(2), option::of(text(100))).prop_map(|(level, description)| EducationRequirement { level, description }), 0..3),
            option::of("00[0-9]{2}"),
            vec(language(), 0..3),
            option::of(text(1000)),
            option::of(text(500)),
            option::of(any::<bool>()),
            vec(digits(2), 0..3),
            option::of(any::<bool>()),
            vec(digits(2), 0..2),
            option::of(text(1000)),
        ),
        (
            belfiore(),
            contract(),
            option::of(text(30)),
            option::of(prop_oneof!["[0-9A-Z]{3}", "[A-Z]{2}"]),
            option::of(0u8..10),
            option::of("[A-Z]{2}"),
            option::of(0u32..1_000_000_000),
            option::of(text(1000)),
        ),
        (timestamp(), option::of(date_s()), any::<bool>()),
        (intermediary(), option::of(any::<bool>()), communication(), option::of("[A-Za-z0-9/]{1,25}")),
    )
        .prop_map(|(e, p, r, c, (published_at, expires_on, nulla_osta), (intermediary, visible, communication, source_vacancy_id))| Vacancy {
            provenance: prov(),
            employer: Employer {
                fiscal_code: e.0,
                name: e.1,
                sector: e.2,
                size_class: e.3,
                web: e.4,
                address: Address { comune: e.5, cap: e.6, street: e.7 },
                phone: e.8,
                fax: None,
                email: e.9,
            },
            profile: Profile { positions: p.0, profession: p.1, profession_title: p.2, description: p.3, experience_required: p.4, experience_description: p.5 },
            requirements: Requirements {
                education: r.0,
                register: r.1,
                languages: r.2,
                it_skills: r.3,
                other_skills: r.4,
                travel: r.5,
                driving_licences: r.6,
                own_transport: r.7,
                permits: r.8,
                further: r.9,
            },
            conditions: Conditions { workplace: c.0, contract_type: c.1, duration: c.2, ccnl: c.3, contract_level: c.4, working_time: c.5, annual_gross_pay: c.6, further: c.7 },
            publication: Publication { published_at, expires_on },
            nulla_osta,
            system: VacancySystem { intermediary, visible, communication, source_vacancy_id },
        })
}

fn round_trip(rec: &Record) -> Result<(), TestCaseError> {
    let xml = write::write_record(rec);
    let (mut back, issues) = read::read_document(xml.as_bytes(), prov());
    prop_assert!(issues.is_empty(), "{issues:?}\n{xml}");
    // Read back, its fields are named as the national document names them.
    if let Some(b) = back.as_mut() {
        prop_assert!(b.provenance().fields.is_national());
        b.provenance_mut().fields = rec.provenance().fields.clone();
    }
    prop_assert_eq!(back.as_ref(), Some(rec));
    let xsd_issues = xsd().validate(rec.kind(), xml.as_bytes()).expect("validator");
    prop_assert!(xsd_issues.is_empty(), "{xsd_issues:?}\n{xml}");
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn any_cv_round_trips_through_xml(c in cv()) {
        round_trip(&Record::Cv(Box::new(c)))?;
    }

    #[test]
    fn any_vacancy_round_trips_through_xml(v in vacancy()) {
        round_trip(&Record::Vacancy(Box::new(v)))?;
    }
}

#[test]
fn given_generated_documents_xmllint_should_accept_them_under_both_schemas() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let dir = tempfile::tempdir().expect("tmp");
    let mut runner = TestRunner::deterministic();
    let (mut cvs, mut vacs) = (Vec::new(), Vec::new());
    for i in 0..40 {
        let c = cv().new_tree(&mut runner).expect("tree").current();
        let p = dir.path().join(format!("cv-{i}.xml"));
        std::fs::write(&p, write::write_cv(&c)).expect("write");
        cvs.push(p);
        let v = vacancy().new_tree(&mut runner).expect("tree").current();
        let p = dir.path().join(format!("vacancy-{i}.xml"));
        std::fs::write(&p, write::write_vacancy(&v)).expect("write");
        vacs.push(p);
    }
    xmllint(&ours(RecordKind::Cv), &cvs);
    xmllint(&ministry(RecordKind::Cv), &cvs);
    xmllint(&ours(RecordKind::Vacancy), &vacs);
    xmllint(&ministry(RecordKind::Vacancy), &vacs);
}
