//! Each typed error of validation is returned where it should be: `verify_entry` for an entry on
//! its own, `check_chain` against the feed, and `RosterFile::verify` for the roster.

mod support;

use vigia_protocol::body::{Availability, Body, Contact, InvalidField};
use vigia_protocol::codec::MAX_ENTRY_BYTES;
use vigia_protocol::entry::Head;
use vigia_protocol::roster::{RosterError, RosterFile, RosterSignature};
use vigia_protocol::validate::{
    ChainPosition, Fork, ValidationError, VerifiedEntry, check_chain, verify_entry,
};
use vigia_protocol::{Entry, Hash, Roster, Signature};

use support::{MEMBERS, code, network, remove_contact, roster_body, seeded_keys, signed_by};

fn verified(entry: Entry) -> VerifiedEntry {
    let network = network();
    verify_entry(&network.roster, &network.signed_bytes(entry)).expect("a valid entry")
}

fn verify(entry: Entry) -> Result<VerifiedEntry, ValidationError> {
    let network = network();
    verify_entry(&network.roster, &network.signed_bytes(entry))
}

fn contact_with_phone(phone: &str) -> Body {
    Body::ContactPut(Contact {
        id: "c-1".into(),
        given_names: "Ana".into(),
        family_names: "Pereira".into(),
        institution_id: "pf".into(),
        role: "Plantão".into(),
        emails: vec!["plantao@pf.example.br".into()],
        phones: vec![phone.into()],
        languages: vec!["pt".into()],
        availability: Availability::AlwaysOn,
        notes: String::new(),
    })
}

/// `check_chain`'s lookup for cases where the head alone decides.
fn not_consulted(seq: u64) -> Option<Hash> {
    panic!("stored hash at seq {seq} looked up, but the head alone decides")
}

mod verify_entry_errors {
    use super::*;

    #[test]
    fn valid_entry_is_accepted_with_its_hash_and_bytes() {
        let network = network();
        let entry = network.entry(code("AR"), 1, Hash::ZERO, remove_contact("c-1"));
        let bytes = network.signed_bytes(entry.clone());
        let verified = verify_entry(&network.roster, &bytes).expect("valid");
        assert_eq!(verified.signed.entry, entry);
        assert_eq!(verified.bytes, bytes);
        let reference = verified.reference();
        assert_eq!(
            (reference.author, reference.seq, reference.hash),
            (code("AR"), 1, verified.hash)
        );
    }

    #[test]
    fn author_outside_the_roster_is_unknown() {
        let network = network();
        let entry = network.entry(code("ZZ"), 1, Hash::ZERO, remove_contact("c-1"));
        let bytes = network.signed_bytes_by(entry, code("AR"));
        let result = verify_entry(&network.roster, &bytes);
        assert_eq!(result, Err(ValidationError::UnknownAuthor(code("ZZ"))));
    }

    #[test]
    fn entry_of_another_network_is_refused() {
        let mut entry = network().entry(code("AR"), 1, Hash::ZERO, remove_contact("c-1"));
        entry.network = Hash([0xEE; 32]);
        let expected = ValidationError::OtherNetwork {
            expected: network().roster.id(),
            found: Hash([0xEE; 32]),
        };
        assert_eq!(verify(entry), Err(expected));
    }

    #[test]
    fn entry_signed_by_another_member_is_a_bad_signature() {
        let network = network();
        let entry = network.entry(code("BR"), 1, Hash::ZERO, remove_contact("c-1"));
        let bytes = network.signed_bytes_by(entry, code("AR"));
        let result = verify_entry(&network.roster, &bytes);
        assert_eq!(
            result,
            Err(ValidationError::BadSignature { author: code("BR") })
        );
    }

    #[test]
    fn corrupted_signature_is_a_bad_signature() {
        let network = network();
        let entry = network.entry(code("CL"), 1, Hash::ZERO, remove_contact("c-1"));
        let mut bytes = network.signed_bytes(entry);
        let last = bytes.len() - 1;
        bytes[last] ^= 0x01;
        let result = verify_entry(&network.roster, &bytes);
        assert_eq!(
            result,
            Err(ValidationError::BadSignature { author: code("CL") })
        );
    }

    #[test]
    fn field_breaking_a_rule_is_named() {
        let entry = network().entry(code("AR"), 1, Hash::ZERO, contact_with_phone("5411"));
        let Err(ValidationError::InvalidField(invalid)) = verify(entry) else {
            panic!("a phone without + must be an invalid field");
        };
        assert_eq!(invalid.field, "contact.phones[0]");
    }

    #[test]
    fn sequence_zero_is_an_invalid_field() {
        let entry = network().entry(code("AR"), 0, Hash::ZERO, remove_contact("c-1"));
        let Err(ValidationError::InvalidField(invalid)) = verify(entry) else {
            panic!("seq 0 must be an invalid field");
        };
        assert_eq!(invalid.field, "seq");
    }

    #[test]
    fn input_over_the_entry_limit_is_too_large() {
        let bytes = vec![0; MAX_ENTRY_BYTES + 1];
        let result = verify_entry(&network().roster, &bytes);
        let expected = ValidationError::TooLarge {
            len: MAX_ENTRY_BYTES + 1,
            limit: MAX_ENTRY_BYTES,
        };
        assert_eq!(result, Err(expected));
    }

    #[test]
    fn signed_entry_over_the_limit_is_too_large() {
        let body = Body::ContactRemove {
            id: "x".repeat(MAX_ENTRY_BYTES),
        };
        let entry = network().entry(code("AR"), 1, Hash::ZERO, body);
        assert!(matches!(
            verify(entry),
            Err(ValidationError::TooLarge { .. })
        ));
    }

    #[test]
    fn bytes_that_are_not_one_entry_are_malformed() {
        let network = network();
        let valid =
            network.signed_bytes(network.entry(code("AR"), 1, Hash::ZERO, remove_contact("c")));
        let mut trailing = valid.clone();
        trailing.push(0);
        let cases: [(&str, &[u8]); 4] = [
            ("empty", &[]),
            ("garbage", &[0xFF; 16]),
            ("truncated", &valid[..valid.len() - 1]),
            ("trailing byte", &trailing),
        ];
        for (case, bytes) in cases {
            let result = verify_entry(&network.roster, bytes);
            assert!(
                matches!(result, Err(ValidationError::Malformed(_))),
                "{case}: {result:?}"
            );
        }
    }

    #[test]
    fn each_error_has_a_stable_reason() {
        let reasons = [
            (ValidationError::TooLarge { len: 2, limit: 1 }, "too_large"),
            (ValidationError::Malformed(String::new()), "malformed"),
            (ValidationError::UnknownAuthor(code("ZZ")), "unknown_author"),
            (
                ValidationError::OtherNetwork {
                    expected: Hash::ZERO,
                    found: Hash::ZERO,
                },
                "other_network",
            ),
            (
                ValidationError::BadSignature { author: code("AR") },
                "bad_signature",
            ),
            (
                ValidationError::InvalidField(InvalidField {
                    field: "seq".into(),
                    reason: String::new(),
                }),
                "invalid_field",
            ),
        ];
        for (error, reason) in reasons {
            assert_eq!(error.reason(), reason);
        }
    }
}

mod chain {
    use super::*;

    fn first() -> VerifiedEntry {
        verified(network().entry(code("AR"), 1, Hash::ZERO, remove_contact("c-1")))
    }

    fn after(previous: &VerifiedEntry, id: &str) -> VerifiedEntry {
        let seq = previous.signed.entry.seq + 1;
        verified(network().entry(code("AR"), seq, previous.hash, remove_contact(id)))
    }

    #[test]
    fn first_entry_of_an_empty_feed_is_next() {
        assert_eq!(
            check_chain(None, &first(), not_consulted),
            Ok(ChainPosition::Next)
        );
    }

    #[test]
    fn entry_linking_to_the_head_is_next() {
        let first = first();
        let second = after(&first, "c-2");
        let position = check_chain(Some(first.as_head()), &second, not_consulted);
        assert_eq!(position, Ok(ChainPosition::Next));
    }

    #[test]
    fn entry_already_held_is_a_duplicate() {
        let first = first();
        let second = after(&first, "c-2");
        let stored = |seq| (seq == 1).then_some(first.hash);
        let position = check_chain(Some(second.as_head()), &first, stored);
        assert_eq!(position, Ok(ChainPosition::Duplicate));
    }

    #[test]
    fn entry_past_the_head_is_ahead_from_the_first_missing() {
        let first = first();
        let second = after(&first, "c-2");
        let third = after(&second, "c-3");
        let position = check_chain(Some(first.as_head()), &third, not_consulted);
        assert_eq!(position, Ok(ChainPosition::Ahead { missing_from: 2 }));
        let position = check_chain(None, &second, not_consulted);
        assert_eq!(position, Ok(ChainPosition::Ahead { missing_from: 1 }));
    }

    #[test]
    fn other_entry_at_a_held_seq_is_a_fork() {
        let first = first();
        let second = after(&first, "c-2");
        let rival = after(&first, "rival");
        let stored = |seq| (seq == 2).then_some(second.hash);
        let head = Head {
            seq: 3,
            hash: Hash([3; 32]),
        };
        let fork = Fork {
            author: code("AR"),
            seq: 2,
            existing: second.hash,
            conflicting: rival.hash,
        };
        assert_eq!(check_chain(Some(head), &rival, stored), Err(fork));
    }

    #[test]
    fn next_entry_with_the_wrong_prev_is_a_fork() {
        let first = first();
        let stray = verified(network().entry(code("AR"), 2, Hash([9; 32]), remove_contact("c-2")));
        let fork = Fork {
            author: code("AR"),
            seq: 2,
            existing: first.hash,
            conflicting: stray.hash,
        };
        assert_eq!(
            check_chain(Some(first.as_head()), &stray, not_consulted),
            Err(fork)
        );
    }

    #[test]
    fn first_entry_not_linking_to_zero_is_a_fork() {
        let stray = verified(network().entry(code("AR"), 1, Hash([9; 32]), remove_contact("c-1")));
        let fork = Fork {
            author: code("AR"),
            seq: 1,
            existing: Hash::ZERO,
            conflicting: stray.hash,
        };
        assert_eq!(check_chain(None, &stray, not_consulted), Err(fork));
    }
}

mod roster {
    use super::*;

    /// The fixture network's roster file, which every member signed.
    fn signed_file() -> RosterFile {
        network().file.clone()
    }

    fn codes(texts: &[&str]) -> Vec<vigia_protocol::MemberCode> {
        texts.iter().map(|text| code(text)).collect()
    }

    #[test]
    fn roster_every_member_signed_verifies_and_survives_toml() {
        let file = signed_file();
        let roster = file.verify().expect("signed by all");
        assert_eq!(Roster::from_toml(&file.to_toml()), Ok(roster));
    }

    #[test]
    fn member_that_did_not_sign_is_missing() {
        let network = network();
        let signers: Vec<_> = network.keys[..2]
            .iter()
            .map(|(code, key)| (*code, key))
            .collect();
        let file = signed_by(network.roster.body(), &signers);
        assert_eq!(
            file.verify(),
            Err(RosterError::MissingSignature(code("CL")))
        );
    }

    #[test]
    fn signature_by_the_wrong_key_is_bad() {
        let network = network();
        let mut file = signed_file();
        file.add_signature(
            network
                .roster
                .body()
                .sign(code("BR"), network.key(code("CL"))),
        );
        assert_eq!(file.verify(), Err(RosterError::BadSignature(code("BR"))));
    }

    #[test]
    fn body_changed_after_signing_breaks_the_signatures() {
        let mut file = signed_file();
        file.body.network.push_str(" (edited)");
        assert_eq!(file.verify(), Err(RosterError::BadSignature(code("AR"))));
    }

    #[test]
    fn member_listed_twice_is_a_duplicate() {
        let body = roster_body(&codes(&["AR", "BR", "AR"]), &seeded_keys(3));
        let file = RosterFile {
            body,
            signatures: Vec::new(),
        };
        assert_eq!(file.verify(), Err(RosterError::DuplicateMember(code("AR"))));
    }

    #[test]
    fn key_shared_by_two_members_is_refused() {
        let key = seeded_keys(1).remove(0);
        let body = roster_body(&codes(&["AR", "BR"]), &[key.clone(), key]);
        let file = RosterFile {
            body,
            signatures: Vec::new(),
        };
        let Err(RosterError::SharedIdentity { member, .. }) = file.verify() else {
            panic!("a shared key must be refused");
        };
        assert_eq!(member, code("BR"));
    }

    #[test]
    fn quorum_outside_one_to_member_count_is_refused() {
        for quorum in [0, 4] {
            let mut file = signed_file();
            file.body.quorum = quorum;
            assert_eq!(
                file.verify(),
                Err(RosterError::Quorum { quorum, members: 3 })
            );
        }
    }

    #[test]
    fn roster_without_members_is_refused() {
        let mut file = signed_file();
        file.body.members.clear();
        assert_eq!(file.verify(), Err(RosterError::MemberCount(0)));
    }

    #[test]
    fn signature_from_a_non_member_is_an_unknown_signer() {
        let mut file = signed_file();
        file.add_signature(RosterSignature {
            member: code("ZZ"),
            signature: Signature([0; 64]),
        });
        assert_eq!(file.verify(), Err(RosterError::UnknownSigner(code("ZZ"))));

        // A valid signature does not make a non-member's approval count either.
        let outsider = seeded_keys(MEMBERS.len() + 1).remove(MEMBERS.len());
        file.add_signature(file.body.sign(code("ZZ"), &outsider));
        assert_eq!(file.verify(), Err(RosterError::UnknownSigner(code("ZZ"))));
    }

    #[test]
    fn text_that_is_not_a_roster_is_a_parse_error() {
        let result = RosterFile::from_toml("network = 3");
        assert!(matches!(result, Err(RosterError::Parse(_))), "{result:?}");
    }
}
