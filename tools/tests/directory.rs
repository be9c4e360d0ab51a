//! The synthetic testnet directories: valid for the protocol, deterministic, and shaped like
//! a real member's (its languages, calling code, time zone, kinds of institution).

use std::collections::HashSet;

use vigia_protocol::Body;
use vigia_protocol::body::{Availability, InstitutionKind};
use vigia_tools::testnet::directory::{Directory, generate, generate_many};
use vigia_tools::testnet::members::{OasMember, oas_members};

const SEEDS: [u64; 4] = [0, 1, 42, u64::MAX];

/// The eight kinds of institution every member designates.
const KINDS: [InstitutionKind; 8] = [
    InstitutionKind::Police,
    InstitutionKind::FinancialIntelligenceUnit,
    InstitutionKind::Intelligence,
    InstitutionKind::Prosecutor,
    InstitutionKind::Customs,
    InstitutionKind::Migration,
    InstitutionKind::Csirt,
    InstitutionKind::Ministry,
];

fn members() -> Vec<OasMember> {
    oas_members().expect("the embedded member list parses")
}

fn member(code: &str) -> OasMember {
    members()
        .into_iter()
        .find(|member| member.alpha2.as_str() == code)
        .expect("a member state")
}

fn all_phones(directory: &Directory) -> impl Iterator<Item = &String> {
    let institutions = directory.institutions.iter().flat_map(|i| &i.phones);
    institutions.chain(directory.contacts.iter().flat_map(|c| &c.phones))
}

#[test]
fn every_member_directory_passes_validation() {
    for member in members() {
        for seed in SEEDS {
            let directory = generate(&member, seed, 4);
            for institution in &directory.institutions {
                let body = Body::InstitutionPut(institution.clone());
                assert_eq!(body.validate(0), Ok(()), "{institution:?}");
            }
            for contact in &directory.contacts {
                assert_eq!(
                    Body::ContactPut(contact.clone()).validate(0),
                    Ok(()),
                    "{contact:?}"
                );
                assert!(!contact.role.is_empty(), "{contact:?}");
            }
        }
    }
}

#[test]
fn same_seed_gives_the_same_directory_and_another_seed_a_different_one() {
    for member in members() {
        let first = generate(&member, 7, 3);
        assert_eq!(first, generate(&member, 7, 3), "{}", member.alpha2);
        let other = generate(&member, 8, 3);
        assert_ne!(first.contacts, other.contacts, "{}", member.alpha2);
    }
}

#[test]
fn more_contacts_extend_each_institution_without_changing_earlier_ones() {
    let peru = member("PE");
    let small = generate(&peru, 3, 2);
    let large = generate(&peru, 3, 5);
    assert_eq!(small.institutions, large.institutions);
    for contact in &small.contacts {
        assert!(large.contacts.contains(contact), "{} changed", contact.id);
    }
}

#[test]
fn every_member_has_each_kind_of_institution() {
    for member in members() {
        let directory = generate(&member, 1, 1);
        for kind in KINDS {
            let has_kind = directory.institutions.iter().any(|i| i.kind == kind);
            assert!(has_kind, "{} has no {kind:?}", member.alpha2);
        }
    }
}

#[test]
fn ids_are_unique_and_carry_member_and_institution() {
    for member in members() {
        let directory = generate(&member, 5, 3);
        let prefix = format!("{}-", member.alpha2.as_str().to_ascii_lowercase());
        let ids: HashSet<&str> = directory.contacts.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids.len(), directory.contacts.len(), "{}", member.alpha2);
        let institutions: HashSet<&str> = directory
            .institutions
            .iter()
            .map(|i| i.id.as_str())
            .collect();
        for contact in &directory.contacts {
            assert!(institutions.contains(contact.institution_id.as_str()));
            assert!(
                contact
                    .id
                    .starts_with(&format!("{}-", contact.institution_id))
            );
            assert!(contact.id.starts_with(&prefix), "{}", contact.id);
        }
    }
    let peru = generate(&member("PE"), 5, 1);
    assert!(
        peru.contacts
            .iter()
            .any(|contact| contact.id == "pe-pnp-001")
    );
}

#[test]
fn phones_start_with_the_members_calling_code() {
    for member in members() {
        let directory = generate(&member, 11, 3);
        for phone in all_phones(&directory) {
            assert!(
                phone.starts_with(&member.calling_code),
                "{phone} in {}",
                member.alpha2
            );
            // NANP numbers, +1268 and +1 alike, have ten digits after the 1.
            if member.calling_code.starts_with("+1") {
                assert_eq!(phone.len(), 12, "{phone}");
            }
        }
    }
}

#[test]
fn emails_use_example_domains_of_the_country() {
    for member in members() {
        let directory = generate(&member, 2, 2);
        let suffix = format!(".example.{}", member.alpha2.as_str().to_ascii_lowercase());
        let institutions = directory.institutions.iter().flat_map(|i| &i.emails);
        for email in institutions.chain(directory.contacts.iter().flat_map(|c| &c.emails)) {
            assert!(email.ends_with(&suffix), "{email}");
            assert!(email.is_ascii(), "{email}");
        }
    }
}

#[test]
fn every_member_has_always_on_desks_and_office_hours_in_its_capital() {
    for member in members() {
        let directory = generate(&member, 9, 3);
        let always_on = directory
            .contacts
            .iter()
            .filter(|contact| contact.availability == Availability::AlwaysOn)
            .count();
        assert!(
            always_on >= 5,
            "{}: {always_on} always-on contacts",
            member.alpha2
        );
        for contact in &directory.contacts {
            if let Availability::Hours { time_zone, .. } = &contact.availability {
                assert_eq!(time_zone, &member.time_zone);
            }
        }
    }
}

#[test]
fn members_speaking_spanish_portuguese_or_french_have_accented_names() {
    for member in members() {
        let romance = ["es", "pt", "fr"];
        if !member
            .languages
            .iter()
            .any(|l| romance.contains(&l.as_str()))
        {
            continue;
        }
        for seed in SEEDS {
            let directory = generate(&member, seed, 5);
            let accented = directory
                .contacts
                .iter()
                .any(|c| !c.given_names.is_ascii() || !c.family_names.is_ascii());
            assert!(accented, "{} seed {seed}: no accent", member.alpha2);
        }
    }
}

#[test]
fn spanish_speakers_carry_two_family_names_and_haitians_one() {
    let argentina = generate(&member("AR"), 4, 3);
    for contact in &argentina.contacts {
        assert_eq!(contact.family_names.split(' ').count(), 2, "{contact:?}");
        assert!(contact.languages.first().is_some_and(|l| l == "es"));
    }
    let haiti = generate(&member("HT"), 4, 3);
    for contact in &haiti.contacts {
        assert!(!contact.family_names.contains(' '), "{contact:?}");
        assert_eq!(contact.languages[..2], ["fr", "ht"]);
    }
}

#[test]
fn institutions_are_named_in_the_countrys_languages() {
    let peru = generate(&member("PE"), 0, 0);
    let police = peru
        .institutions
        .iter()
        .find(|i| i.id == "pe-pnp")
        .expect("PNP");
    assert_eq!(police.name, "Policía Nacional del Perú");
    assert_eq!(
        police.names.es.as_deref(),
        Some("Policía Nacional del Perú")
    );
    assert_eq!(police.names.en.as_deref(), Some("National Police of Peru"));
    assert!(police.address.ends_with(", Lima"), "{}", police.address);
    let brazil = generate(&member("BR"), 0, 0);
    assert!(
        brazil
            .institutions
            .iter()
            .all(|i| i.names.pt.as_ref() == Some(&i.name))
    );
    let canada = generate(&member("CA"), 0, 0);
    assert!(
        canada
            .institutions
            .iter()
            .all(|i| i.names.en.is_some() && i.names.fr.is_some())
    );
    let haiti = generate(&member("HT"), 0, 0);
    assert!(
        haiti
            .institutions
            .iter()
            .all(|i| i.names.fr.as_ref() == Some(&i.name))
    );
}

#[test]
fn large_directory_has_unique_ids_spread_over_the_institutions() {
    let mexico = member("MX");
    let directory = generate_many(&mexico, 1, 100_000);
    assert_eq!(directory.contacts.len(), 100_000);
    let ids: HashSet<&str> = directory.contacts.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids.len(), 100_000);
    let share = 100_000 / directory.institutions.len();
    for institution in &directory.institutions {
        let staff = directory
            .contacts
            .iter()
            .filter(|c| c.institution_id == institution.id);
        assert!(staff.count().abs_diff(share) <= 1, "{}", institution.id);
    }
    for contact in directory.contacts.iter().step_by(997) {
        assert_eq!(
            Body::ContactPut(contact.clone()).validate(0),
            Ok(()),
            "{contact:?}"
        );
    }
}

#[test]
fn large_directory_matches_the_per_institution_one_when_counts_agree() {
    let chile = member("CL");
    let per_institution = generate(&chile, 6, 4);
    let total = per_institution.contacts.len();
    assert_eq!(generate_many(&chile, 6, total), per_institution);
}

/// The README's search on a member's node, `contacts search aduanas --member AR
/// --always-on`, finds someone on the demo (seed 1, three contacts per institution).
#[test]
fn the_readme_search_finds_an_always_on_customs_contact_of_argentina() {
    let directory = generate(&member("AR"), 1, 3);
    let customs: Vec<&str> = directory
        .institutions
        .iter()
        .filter(|institution| institution.name.contains("Aduanas"))
        .map(|institution| institution.id.as_str())
        .collect();
    let found = directory.contacts.iter().any(|contact| {
        contact.availability == Availability::AlwaysOn
            && customs.contains(&contact.institution_id.as_str())
    });
    assert!(found, "{customs:?}");
}
