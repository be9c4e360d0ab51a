//! The ledger over a real store: where each received entry goes (applied, buffered, duplicate,
//! fork, rejected), what `publish` signs, the views the applied entries produce, and what
//! survives a rebuild of the views or a reopening of the store.

mod support;

use proptest::prelude::*;
use vigia_node::ledger::{Ingested, Ledger, Placement, PublishError};
use vigia_node::store::ForkEvidence;
use vigia_node::views::{self, AlertStatus};
use vigia_protocol::body::AlertRelation;
use vigia_protocol::codec::MAX_ENTRY_BYTES;
use vigia_protocol::entry::Head;
use vigia_protocol::validate::{Fork, ValidationError};
use vigia_protocol::{Hash, MemberCode};

use support::{
    Fixture, NOW_MS, Network, Signed, acknowledgement, alert, alert_about, code, contact,
    contact_remove, contact_with, feed_of, institution, institution_remove, network, own, views_of,
};

fn applied_seqs(ingested: &Ingested) -> Vec<(MemberCode, u64)> {
    ingested
        .applied
        .iter()
        .map(|entry| (entry.signed.entry.author, entry.signed.entry.seq))
        .collect()
}

fn head_of(signed: &Signed) -> Head {
    Head {
        seq: signed.reference.seq,
        hash: signed.reference.hash,
    }
}

fn buffered(author: &str, seq: u64) -> Placement {
    Placement::Buffered {
        author: code(author),
        seq,
    }
}

mod opening {
    use super::*;

    #[test]
    fn ledger_refuses_a_key_that_is_not_the_members() {
        let fixture = Fixture::new();
        let network = network();
        let wrong_key = network.key(code("BR")).clone();
        let result = Ledger::new(
            fixture.store.clone(),
            network.roster.clone(),
            own(),
            wrong_key,
        );
        assert!(result.is_err());
    }

    #[test]
    fn ledger_refuses_a_member_outside_the_roster() {
        let fixture = Fixture::new();
        let network = network();
        let key = network.key(own()).clone();
        let result = Ledger::new(
            fixture.store.clone(),
            network.roster.clone(),
            code("UY"),
            key,
        );
        assert!(result.is_err());
    }
}

mod in_order {
    use super::*;

    #[test]
    fn entries_in_order_set_heads_contacts_and_institutions() {
        let mut fixture = Fixture::new();
        let network = network();
        let (mut ar, mut br, mut cl) = (
            network.feed(code("AR")),
            network.feed(code("BR")),
            network.feed(code("CL")),
        );
        let ar1 = ar.next(institution("pfa"));
        let ar2 = ar.next(contact("c-1", "pfa"));
        let br1 = br.next(contact("c-1", "pf"));
        let br2 = br.next(institution("pf"));
        let cl1 = cl.next(institution("pdi"));

        let ingested = fixture.ingest(&[&ar1, &br1, &ar2, &cl1, &br2]);

        assert_eq!(ingested.placements, vec![Placement::Applied; 5]);
        let expected = [("AR", 1), ("BR", 1), ("AR", 2), ("CL", 1), ("BR", 2)]
            .map(|(author, seq)| (code(author), seq));
        assert_eq!(applied_seqs(&ingested), expected);
        assert!(ingested.gaps.is_empty());
        assert!(ingested.new_forks.is_empty());
        let heads = [("AR", &ar2), ("BR", &br2), ("CL", &cl1)]
            .map(|(author, signed)| (code(author), head_of(signed)))
            .into();
        assert_eq!(fixture.ledger.heads(), &heads);
        assert_eq!(fixture.store.heads().expect("heads"), heads);

        let views = views_of(&fixture.store);
        let contacts: Vec<_> = views
            .contacts
            .iter()
            .map(|record| (record.member, record.contact.id.as_str(), record.entry))
            .collect();
        assert_eq!(
            contacts,
            [
                (code("AR"), "c-1", ar2.reference),
                (code("BR"), "c-1", br1.reference),
            ]
        );
        assert_eq!(views.contacts[0].contact.institution_id, "pfa");
        let institutions: Vec<_> = views
            .institutions
            .iter()
            .map(|record| (record.member, record.institution.id.as_str(), record.entry))
            .collect();
        assert_eq!(
            institutions,
            [
                (code("AR"), "pfa", ar1.reference),
                (code("BR"), "pf", br2.reference),
                (code("CL"), "pdi", cl1.reference),
            ]
        );
    }

    #[test]
    fn applied_entries_are_stored_with_their_arrival_time() {
        let mut fixture = Fixture::new();
        let mut br = network().feed(code("BR"));
        let first = br.next(contact("c-1", "pf"));
        let second = br.next(contact_remove("c-1"));

        fixture.ingest_bytes(std::slice::from_ref(&first.bytes), 7_000);
        fixture.ingest_bytes(std::slice::from_ref(&second.bytes), 9_000);

        assert_eq!(
            feed_of(&fixture.store, code("BR")),
            [first.bytes, second.bytes]
        );
        let arrivals = [1, 2].map(|seq| fixture.store.arrival_ms(code("BR"), seq).expect("read"));
        assert_eq!(arrivals, [Some(7_000), Some(9_000)]);
    }
}

mod reordered {
    use super::*;

    fn feed_of_three() -> [Signed; 3] {
        let mut br = network().feed(code("BR"));
        [
            br.next(institution("pf")),
            br.next(contact("c-1", "pf")),
            br.next(contact("c-2", "pf")),
        ]
    }

    #[test]
    fn reversed_feed_in_one_call_is_applied_in_order() {
        let mut fixture = Fixture::new();
        let [first, second, third] = feed_of_three();

        let ingested = fixture.ingest(&[&third, &second, &first]);

        let expected = vec![buffered("BR", 3), buffered("BR", 2), Placement::Applied];
        assert_eq!(ingested.placements, expected);
        let seqs = [1, 2, 3].map(|seq| (code("BR"), seq));
        assert_eq!(applied_seqs(&ingested), seqs);
        assert!(ingested.gaps.is_empty(), "{:?}", ingested.gaps);
        assert_eq!(
            fixture.ledger.heads().get(&code("BR")),
            Some(&head_of(&third))
        );
        assert_eq!(fixture.ledger.pending_len(), 0);
        let stored = feed_of(&fixture.store, code("BR"));
        assert_eq!(stored, [first.bytes, second.bytes, third.bytes]);
    }

    #[test]
    fn reversed_feed_across_calls_reports_the_gap_until_it_fills() {
        let mut fixture = Fixture::new();
        let [first, second, third] = feed_of_three();

        let ingested = fixture.ingest(&[&third]);
        assert_eq!(ingested.placements, [buffered("BR", 3)]);
        assert_eq!(ingested.gaps, [(code("BR"), 1)].into());
        assert!(ingested.applied.is_empty());

        let ingested = fixture.ingest(&[&second]);
        assert_eq!(ingested.placements, [buffered("BR", 2)]);
        assert_eq!(ingested.gaps, [(code("BR"), 1)].into());
        assert_eq!(fixture.ledger.pending_len(), 2);
        assert!(fixture.ledger.heads().is_empty());
        assert!(feed_of(&fixture.store, code("BR")).is_empty());

        let ingested = fixture.ingest(&[&first]);
        assert_eq!(ingested.placements, [Placement::Applied]);
        let seqs = [1, 2, 3].map(|seq| (code("BR"), seq));
        assert_eq!(applied_seqs(&ingested), seqs);
        assert!(ingested.gaps.is_empty(), "{:?}", ingested.gaps);
        assert_eq!(
            fixture.ledger.heads().get(&code("BR")),
            Some(&head_of(&third))
        );
        assert_eq!(fixture.ledger.pending_len(), 0);
    }

    #[test]
    fn filling_one_gap_reports_the_next() {
        let mut fixture = Fixture::new();
        let mut br = network().feed(code("BR"));
        let entries: Vec<Signed> = (1..=5)
            .map(|index| br.next(contact(&format!("c-{index}"), "pf")))
            .collect();

        let ingested = fixture.ingest(&[&entries[2], &entries[4]]);
        assert_eq!(ingested.gaps, [(code("BR"), 1)].into());

        let ingested = fixture.ingest(&[&entries[0], &entries[1]]);
        let seqs = [1, 2, 3].map(|seq| (code("BR"), seq));
        assert_eq!(applied_seqs(&ingested), seqs);
        assert_eq!(ingested.gaps, [(code("BR"), 4)].into());
        assert_eq!(fixture.ledger.pending_len(), 1);

        let ingested = fixture.ingest(&[&entries[3]]);
        assert_eq!(applied_seqs(&ingested), [(code("BR"), 4), (code("BR"), 5)]);
        assert!(ingested.gaps.is_empty());
    }

    #[test]
    fn gaps_of_each_feed_are_reported_separately() {
        let mut fixture = Fixture::new();
        let network = network();
        let (mut br, mut cl) = (network.feed(code("BR")), network.feed(code("CL")));
        let br1 = br.next(institution("pf"));
        let br2 = br.next(contact("c-1", "pf"));
        let cl1 = cl.next(institution("pdi"));
        let cl2 = cl.next(institution("carabineros"));
        let cl3 = cl.next(contact("c-1", "pdi"));

        let ingested = fixture.ingest(&[&br2, &cl1, &cl3]);

        assert_eq!(ingested.gaps, [(code("BR"), 1), (code("CL"), 2)].into());
        let ingested = fixture.ingest(&[&cl2, &br1]);
        let expected =
            [("CL", 2), ("CL", 3), ("BR", 1), ("BR", 2)].map(|(author, seq)| (code(author), seq));
        assert_eq!(applied_seqs(&ingested), expected);
        assert!(ingested.gaps.is_empty());
    }

    #[test]
    fn buffered_entry_that_breaks_the_chain_is_a_fork_and_the_gap_stays() {
        let mut fixture = Fixture::new();
        let mut br = network().feed(code("BR"));
        let first = br.next(institution("pf"));
        let second = br.next(contact("c-1", "pf"));
        let third = br.next(contact("c-2", "pf"));
        let forged_second = br.sign(2, Hash([9; 32]), contact("c-9", "pf"));

        let ingested = fixture.ingest(&[&third, &forged_second]);
        assert_eq!(ingested.placements, [buffered("BR", 3), buffered("BR", 2)]);

        let ingested = fixture.ingest(&[&first]);
        assert_eq!(applied_seqs(&ingested), [(code("BR"), 1)]);
        let fork = Fork {
            author: code("BR"),
            seq: 2,
            existing: first.reference.hash,
            conflicting: forged_second.reference.hash,
        };
        assert_eq!(ingested.new_forks, [fork]);
        // Seq 2 is still missing and seq 3 still waits for it.
        assert_eq!(ingested.gaps, [(code("BR"), 2)].into());
        assert_eq!(fixture.ledger.pending_len(), 1);

        let ingested = fixture.ingest(&[&second]);
        assert_eq!(applied_seqs(&ingested), [(code("BR"), 2), (code("BR"), 3)]);
        assert!(ingested.gaps.is_empty());
    }
}

mod rejected {
    use super::*;

    fn assert_nothing_stored(fixture: &Fixture) {
        assert!(fixture.ledger.heads().is_empty());
        assert!(fixture.store.heads().expect("heads").is_empty());
        for member in support::MEMBERS {
            assert!(feed_of(&fixture.store, code(member)).is_empty());
        }
        assert!(fixture.store.forks().expect("forks").is_empty());
        assert_eq!(fixture.ledger.pending_len(), 0);
        let views = views_of(&fixture.store);
        assert!(views.contacts.is_empty() && views.institutions.is_empty());
    }

    fn rejection(fixture: &mut Fixture, bytes: Vec<u8>) -> ValidationError {
        let ingested = fixture.ingest_bytes(&[bytes], NOW_MS);
        assert!(ingested.applied.is_empty() && ingested.gaps.is_empty());
        match ingested.placements.as_slice() {
            [Placement::Rejected(error)] => error.clone(),
            other => panic!("expected one rejection, got {other:?}"),
        }
    }

    #[test]
    fn flipped_signature_byte_is_a_bad_signature() {
        let mut fixture = Fixture::new();
        let mut bytes = network().feed(code("BR")).next(institution("pf")).bytes;
        let last = bytes.len() - 1;
        bytes[last] ^= 0x01;

        let error = rejection(&mut fixture, bytes);

        assert_eq!(error, ValidationError::BadSignature { author: code("BR") });
        assert_nothing_stored(&fixture);
    }

    #[test]
    fn entry_naming_another_author_than_its_signer_is_a_bad_signature() {
        let mut fixture = Fixture::new();
        let mut forged = network().forged_feed(code("BR"), code("CL"));
        let bytes = forged.next(institution("pf")).bytes;

        let error = rejection(&mut fixture, bytes);

        assert_eq!(error, ValidationError::BadSignature { author: code("BR") });
        assert_nothing_stored(&fixture);
    }

    #[test]
    fn entry_of_another_network_is_refused() {
        let mut fixture = Fixture::new();
        let other = Network::named("Otra red");
        assert_ne!(other.roster.id(), network().roster.id());
        let bytes = other.feed(code("BR")).next(institution("pf")).bytes;

        let error = rejection(&mut fixture, bytes);

        let expected = ValidationError::OtherNetwork {
            expected: network().roster.id(),
            found: other.roster.id(),
        };
        assert_eq!(error, expected);
        assert_nothing_stored(&fixture);
    }

    #[test]
    fn garbage_is_malformed() {
        let mut fixture = Fixture::new();
        for garbage in [Vec::new(), b"not an entry".to_vec(), vec![0xFF; 200]] {
            let error = rejection(&mut fixture, garbage.clone());
            assert!(
                matches!(error, ValidationError::Malformed(_)),
                "{garbage:?}: {error}"
            );
        }
        assert_nothing_stored(&fixture);
    }

    #[test]
    fn input_over_the_entry_limit_is_too_large() {
        let mut fixture = Fixture::new();
        let error = rejection(&mut fixture, vec![0; MAX_ENTRY_BYTES + 1]);
        assert!(matches!(error, ValidationError::TooLarge { .. }), "{error}");
        assert_nothing_stored(&fixture);
    }

    #[test]
    fn rejection_does_not_stop_the_valid_entries_of_the_same_call() {
        let mut fixture = Fixture::new();
        let mut br = network().feed(code("BR"));
        let first = br.next(institution("pf"));
        let second = br.next(contact("c-1", "pf"));
        let items = [
            first.bytes.clone(),
            b"garbage".to_vec(),
            second.bytes.clone(),
        ];

        let ingested = fixture.ingest_bytes(&items, NOW_MS);

        assert_eq!(ingested.placements[0], Placement::Applied);
        assert!(matches!(ingested.placements[1], Placement::Rejected(_)));
        assert_eq!(ingested.placements[2], Placement::Applied);
        assert_eq!(
            feed_of(&fixture.store, code("BR")),
            [first.bytes, second.bytes]
        );
    }
}

mod duplicates {
    use super::*;

    #[test]
    fn replayed_entry_is_a_duplicate_and_changes_nothing() {
        let mut fixture = Fixture::new();
        let mut br = network().feed(code("BR"));
        let first = br.next(contact("c-1", "pf"));
        let second = br.next(contact_remove("c-1"));
        fixture.ingest(&[&first, &second]);
        let heads = fixture.ledger.heads().clone();
        let views = views_of(&fixture.store);

        let ingested = fixture.ingest_bytes(&[first.bytes.clone(), second.bytes.clone()], 99);

        assert_eq!(
            ingested.placements,
            [Placement::Duplicate, Placement::Duplicate]
        );
        assert!(ingested.applied.is_empty() && ingested.new_forks.is_empty());
        assert_eq!(fixture.ledger.heads(), &heads);
        assert_eq!(fixture.store.heads().expect("heads"), heads);
        assert_eq!(
            views_of(&fixture.store),
            views,
            "a replayed put must not revive c-1"
        );
        assert_eq!(
            feed_of(&fixture.store, code("BR")),
            [first.bytes, second.bytes]
        );
        assert_eq!(
            fixture.store.arrival_ms(code("BR"), 1).expect("read"),
            Some(NOW_MS)
        );
        assert!(fixture.store.forks().expect("forks").is_empty());
    }

    #[test]
    fn entry_repeated_in_one_call_is_applied_once() {
        let mut fixture = Fixture::new();
        let first = network().feed(code("CL")).next(institution("pdi"));

        let ingested = fixture.ingest(&[&first, &first]);

        assert_eq!(
            ingested.placements,
            [Placement::Applied, Placement::Duplicate]
        );
        assert_eq!(ingested.applied.len(), 1);
    }
}

mod forks {
    use super::*;

    #[test]
    fn second_entry_at_a_held_seq_is_kept_as_evidence_once() {
        let mut fixture = Fixture::new();
        let mut br = network().feed(code("BR"));
        let first = br.next(institution("pf"));
        let mut rival_writer = br.clone();
        let second = br.next(contact("c-1", "pf"));
        let rival = rival_writer.next(contact("c-1-rival", "pf"));
        assert_eq!(rival.reference.seq, 2);

        let placements = fixture.ingest(&[&first, &second]).placements;
        assert_eq!(placements, [Placement::Applied, Placement::Applied]);
        let views = views_of(&fixture.store);
        let ingested = fixture.ingest(&[&rival]);

        let fork = Fork {
            author: code("BR"),
            seq: 2,
            existing: second.reference.hash,
            conflicting: rival.reference.hash,
        };
        assert_eq!(ingested.placements, [Placement::Fork(fork.clone())]);
        assert_eq!(ingested.new_forks, std::slice::from_ref(&fork));
        assert!(ingested.applied.is_empty());
        let evidence = ForkEvidence {
            author: code("BR"),
            seq: 2,
            conflicting: rival.reference.hash,
            bytes: rival.bytes.clone(),
        };
        let forks = fixture.store.forks().expect("forks");
        assert_eq!(forks, std::slice::from_ref(&evidence));
        assert_eq!(
            feed_of(&fixture.store, code("BR")),
            [first.bytes.clone(), second.bytes.clone()]
        );
        assert_eq!(
            fixture.ledger.heads().get(&code("BR")),
            Some(&head_of(&second))
        );
        assert_eq!(views_of(&fixture.store), views);

        let again = fixture.ingest(&[&rival]);
        assert_eq!(again.placements, [Placement::Fork(fork)]);
        assert!(again.new_forks.is_empty());
        assert_eq!(fixture.store.forks().expect("forks"), [evidence]);
    }

    #[test]
    fn rival_entries_in_one_call_apply_the_first_and_keep_the_second() {
        let mut fixture = Fixture::new();
        let br = network().feed(code("BR"));
        let one = br.clone().next(institution("pf"));
        let other = br.clone().next(institution("pf-rival"));

        let ingested = fixture.ingest(&[&one, &other]);

        assert_eq!(ingested.placements[0], Placement::Applied);
        assert!(matches!(ingested.placements[1], Placement::Fork(_)));
        assert_eq!(ingested.new_forks.len(), 1);
        assert_eq!(feed_of(&fixture.store, code("BR")), [one.bytes]);
        assert_eq!(fixture.store.forks().expect("forks")[0].bytes, other.bytes);
    }

    #[test]
    fn next_entry_not_linked_to_the_head_is_a_fork() {
        let mut fixture = Fixture::new();
        let mut br = network().feed(code("BR"));
        let first = br.next(institution("pf"));
        let second = br.next(contact("c-1", "pf"));
        fixture.ingest(&[&first, &second]);
        let unlinked = br.sign(3, first.reference.hash, contact("c-2", "pf"));

        let ingested = fixture.ingest(&[&unlinked]);

        let fork = Fork {
            author: code("BR"),
            seq: 3,
            existing: second.reference.hash,
            conflicting: unlinked.reference.hash,
        };
        assert_eq!(ingested.placements, [Placement::Fork(fork.clone())]);
        assert_eq!(ingested.new_forks, [fork]);
        assert_eq!(
            fixture.ledger.heads().get(&code("BR")),
            Some(&head_of(&second))
        );
        assert_eq!(feed_of(&fixture.store, code("BR")).len(), 2);
        let forks = fixture.store.forks().expect("forks");
        assert_eq!(forks.len(), 1);
        assert_eq!((forks[0].seq, &forks[0].bytes), (3, &unlinked.bytes));
        let contact_ids: Vec<_> = views_of(&fixture.store)
            .contacts
            .into_iter()
            .map(|record| record.contact.id)
            .collect();
        assert_eq!(contact_ids, ["c-1"]);
    }

    #[test]
    fn first_entry_not_linked_to_zero_is_a_fork() {
        let mut fixture = Fixture::new();
        let unlinked = network()
            .feed(code("CL"))
            .sign(1, Hash([1; 32]), institution("pdi"));

        let ingested = fixture.ingest(&[&unlinked]);

        assert!(matches!(ingested.placements[..], [Placement::Fork(_)]));
        assert!(fixture.ledger.heads().is_empty());
        assert_eq!(fixture.store.forks().expect("forks").len(), 1);
    }
}

mod publishing {
    use super::*;

    #[test]
    fn publish_signs_the_next_entry_and_applies_it() {
        let mut fixture = Fixture::new();

        let first = fixture
            .ledger
            .publish(institution("pfa"), 1_000)
            .expect("store works")
            .expect("valid body");
        let second = fixture
            .ledger
            .publish(contact("c-1", "pfa"), 2_000)
            .expect("store works")
            .expect("valid body");

        let entry = &first.signed.entry;
        assert_eq!(
            (entry.author, entry.seq, entry.prev),
            (own(), 1, Hash::ZERO)
        );
        assert_eq!(
            (entry.network, entry.issued_at_ms),
            (network().roster.id(), 1_000)
        );
        let entry = &second.signed.entry;
        assert_eq!((entry.seq, entry.prev), (2, first.hash));
        assert_eq!(fixture.ledger.heads().get(&own()), Some(&second.as_head()));
        assert_eq!(
            fixture.store.heads().expect("heads").get(&own()),
            Some(&second.as_head())
        );
        let views = views_of(&fixture.store);
        assert_eq!(views.contacts[0].entry, second.reference());
        assert_eq!(views.institutions[0].entry, first.reference());
        assert_eq!(feed_of(&fixture.store, own()), [first.bytes, second.bytes]);
    }

    #[test]
    fn publish_continues_the_feed_received_from_peers() {
        let mut fixture = Fixture::new();
        let mut ar = network().feed(own());
        let first = ar.next(institution("pfa"));
        let second = ar.next(contact("c-1", "pfa"));
        fixture.ingest(&[&first, &second]);

        let third = fixture
            .ledger
            .publish(contact_remove("c-1"), NOW_MS)
            .expect("store works")
            .expect("valid body");

        let entry = &third.signed.entry;
        assert_eq!((entry.seq, entry.prev), (3, second.reference.hash));
        assert_eq!(feed_of(&fixture.store, own()).len(), 3);
    }

    #[test]
    fn invalid_body_is_refused_and_nothing_is_stored() {
        let mut fixture = Fixture::new();
        fixture
            .ledger
            .publish(institution("pfa"), 1_000)
            .expect("store works")
            .expect("valid body");
        let heads = fixture.ledger.heads().clone();
        let stored = feed_of(&fixture.store, own());
        let views = views_of(&fixture.store);

        let result = fixture
            .ledger
            .publish(contact_with("c-1", "pfa", "5411 4370", ""), 2_000)
            .expect("store works");

        let Err(PublishError::Invalid(ValidationError::InvalidField(invalid))) = result else {
            panic!("a phone without + must be refused, got {result:?}");
        };
        assert_eq!(invalid.field, "contact.phones[0]");
        assert_eq!(fixture.ledger.heads(), &heads);
        assert_eq!(fixture.store.heads().expect("heads"), heads);
        assert_eq!(feed_of(&fixture.store, own()), stored);
        assert_eq!(views_of(&fixture.store), views);
    }

    #[test]
    fn alert_about_another_members_alert_is_refused() {
        let mut fixture = Fixture::new();
        let br_alert = network().feed(code("BR")).next(alert("a-1"));
        fixture.ingest(&[&br_alert]);

        let body = alert_about("a-2", AlertRelation::Cancels, br_alert.reference);
        let result = fixture.ledger.publish(body, NOW_MS).expect("store works");

        assert!(
            matches!(result, Err(PublishError::Invalid(_))),
            "{result:?}"
        );
        assert!(fixture.ledger.heads().get(&own()).is_none());
        assert_eq!(
            views_of(&fixture.store).alerts[0].status,
            AlertStatus::Active
        );
    }
}

mod derived_views {
    use super::*;

    #[test]
    fn contact_put_then_removed_leaves_no_contact() {
        let mut fixture = Fixture::new();
        let mut br = network().feed(code("BR"));
        let put = br.next(contact("c-1", "pf"));
        let other = br.next(contact("c-2", "pf"));
        fixture.ingest(&[&put, &other]);
        assert_eq!(views_of(&fixture.store).contacts.len(), 2);

        let remove = br.next(contact_remove("c-1"));
        fixture.ingest(&[&remove]);

        let contacts = views_of(&fixture.store).contacts;
        let ids: Vec<_> = contacts
            .iter()
            .map(|record| record.contact.id.as_str())
            .collect();
        assert_eq!(ids, ["c-2"]);
    }

    #[test]
    fn contact_put_again_replaces_the_record() {
        let mut fixture = Fixture::new();
        let mut br = network().feed(code("BR"));
        let put = br.next(contact("c-1", "pf"));
        let replaced = br.next(contact("c-1", "pf-2"));
        fixture.ingest(&[&put, &replaced]);

        let contacts = views_of(&fixture.store).contacts;

        assert_eq!(contacts.len(), 1);
        assert_eq!(contacts[0].contact.institution_id, "pf-2");
        assert_eq!(contacts[0].entry, replaced.reference);
    }

    #[test]
    fn removing_affects_only_the_authors_own_records() {
        let mut fixture = Fixture::new();
        let network = network();
        let (mut br, mut cl) = (network.feed(code("BR")), network.feed(code("CL")));
        let br_put = br.next(institution("policia"));
        let cl_put = cl.next(institution("policia"));
        let cl_remove = cl.next(institution_remove("policia"));
        fixture.ingest(&[&br_put, &cl_put]);
        assert_eq!(views_of(&fixture.store).institutions.len(), 2);

        fixture.ingest(&[&cl_remove]);

        let institutions = views_of(&fixture.store).institutions;
        assert_eq!(institutions.len(), 1);
        assert_eq!(institutions[0].member, code("BR"));
        assert_eq!(institutions[0].entry, br_put.reference);
    }

    #[test]
    fn later_alert_cancels_or_updates_an_earlier_one() {
        let mut fixture = Fixture::new();
        let mut br = network().feed(code("BR"));
        let cancelled = br.next(alert("a-1"));
        let updated = br.next(alert("a-2"));
        let cancel = br.next(alert_about(
            "a-3",
            AlertRelation::Cancels,
            cancelled.reference,
        ));
        let update = br.next(alert_about(
            "a-4",
            AlertRelation::Updates,
            updated.reference,
        ));

        fixture.ingest(&[&cancelled, &updated]);
        let statuses: Vec<_> = views_of(&fixture.store)
            .alerts
            .into_iter()
            .map(|a| a.status)
            .collect();
        assert_eq!(statuses, [AlertStatus::Active, AlertStatus::Active]);
        fixture.ingest(&[&cancel, &update]);

        let alerts = views_of(&fixture.store).alerts;
        let statuses: Vec<_> = alerts
            .iter()
            .map(|record| (record.entry, &record.status))
            .collect();
        assert_eq!(
            statuses,
            [
                (
                    cancelled.reference,
                    &AlertStatus::Cancelled {
                        by: cancel.reference
                    }
                ),
                (
                    updated.reference,
                    &AlertStatus::Updated {
                        by: update.reference
                    }
                ),
                (cancel.reference, &AlertStatus::Active),
                (update.reference, &AlertStatus::Active),
            ]
        );
        assert_eq!(alerts[0].alert.id, "a-1");
        assert_eq!(alerts[0].issued_at_ms, support::ISSUED_AT_MS);
    }

    #[test]
    fn reference_with_the_wrong_hash_leaves_the_alert_active() {
        let mut fixture = Fixture::new();
        let mut br = network().feed(code("BR"));
        let first = br.next(alert("a-1"));
        let mut wrong = first.reference;
        wrong.hash = Hash([7; 32]);
        let cancel = br.next(alert_about("a-2", AlertRelation::Cancels, wrong));

        fixture.ingest(&[&first, &cancel]);

        let alerts = views_of(&fixture.store).alerts;
        assert_eq!(alerts.len(), 2);
        assert_eq!(alerts[0].status, AlertStatus::Active);
    }

    #[test]
    fn acknowledgements_are_listed_per_alert_by_member() {
        let mut fixture = Fixture::new();
        let network = network();
        let (mut br, mut cl) = (network.feed(code("BR")), network.feed(code("CL")));
        let acked = br.next(alert("a-1"));
        let other = br.next(alert("a-2"));
        let cl_ack = cl.next(acknowledgement(acked.reference, "recibido"));
        let cl_other_ack = cl.next(acknowledgement(other.reference, "visto"));
        // An acknowledgement may arrive before the alert it names.
        fixture.ingest(&[&cl_ack, &cl_other_ack, &acked, &other]);
        let own_ack = fixture
            .ledger
            .publish(acknowledgement(acked.reference, "recebido"), NOW_MS)
            .expect("store works")
            .expect("valid body");

        let read = fixture.store.read().expect("read transaction");
        let acks = views::acknowledgements(&read, &acked.reference).expect("acks view");

        let listed: Vec<_> = acks
            .iter()
            .map(|ack| (ack.member, ack.entry, ack.acknowledgement.note.as_deref()))
            .collect();
        assert_eq!(
            listed,
            [
                (own(), own_ack.reference(), Some("recebido")),
                (code("CL"), cl_ack.reference, Some("recibido")),
            ]
        );
        assert!(
            acks.iter()
                .all(|ack| ack.acknowledgement.alert == acked.reference)
        );
        let others = views::acknowledgements(&read, &other.reference).expect("acks view");
        assert_eq!(others.len(), 1);
        assert_eq!(others[0].entry, cl_other_ack.reference);
    }
}

/// Three feeds whose entries exercise every view: puts, removals, an alert that another
/// alert cancels, one that another updates, and acknowledgements across feeds.
fn mixed_feeds() -> Vec<Signed> {
    let network = network();
    let (mut ar, mut br, mut cl) = (
        network.feed(code("AR")),
        network.feed(code("BR")),
        network.feed(code("CL")),
    );
    let mut entries = vec![
        ar.next(institution("pfa")),
        ar.next(contact("c-1", "pfa")),
        ar.next(contact("c-2", "pfa")),
        ar.next(contact_remove("c-1")),
        br.next(institution("pf")),
        br.next(institution("prf")),
        br.next(institution_remove("prf")),
    ];
    let br_alert = br.next(alert("a-1"));
    let br_updated = br.next(alert("a-2"));
    let cl_alert = cl.next(alert("a-1"));
    entries.extend([
        cl.next(acknowledgement(br_alert.reference, "recibido")),
        ar.next(acknowledgement(br_alert.reference, "recibido")),
        br.next(alert_about(
            "a-3",
            AlertRelation::Cancels,
            br_alert.reference,
        )),
        br.next(alert_about(
            "a-4",
            AlertRelation::Updates,
            br_updated.reference,
        )),
        br.next(acknowledgement(cl_alert.reference, "recebido")),
        cl.next(alert_about(
            "a-2",
            AlertRelation::Cancels,
            cl_alert.reference,
        )),
        cl.next(contact("c-1", "pdi")),
        br_alert,
        br_updated,
        cl_alert,
    ]);
    entries.sort_by_key(|signed| (signed.reference.author, signed.reference.seq));
    entries
}

mod rebuild {
    use super::*;

    #[test]
    fn rebuilt_views_equal_the_views_built_while_applying() {
        let mut fixture = Fixture::new();
        let entries = mixed_feeds();
        let refs: Vec<&Signed> = entries.iter().rev().collect();
        let ingested = fixture.ingest(&refs);
        assert_eq!(ingested.applied.len(), entries.len());
        let before = views_of(&fixture.store);
        assert!(
            before
                .alerts
                .iter()
                .any(|a| matches!(a.status, AlertStatus::Cancelled { .. }))
        );
        assert!(
            before
                .alerts
                .iter()
                .any(|a| matches!(a.status, AlertStatus::Updated { .. }))
        );
        assert!(before.acknowledgements.values().any(|acks| acks.len() == 2));

        let rebuilt = fixture.store.rebuild_views().expect("rebuild");

        assert_eq!(rebuilt, u64::try_from(entries.len()).expect("few entries"));
        assert_eq!(views_of(&fixture.store), before);
    }

    #[test]
    fn rebuild_keeps_arrival_times() {
        let mut fixture = Fixture::new();
        let first = network().feed(code("BR")).next(institution("pf"));
        fixture.ingest_bytes(std::slice::from_ref(&first.bytes), 4_242);

        fixture.store.rebuild_views().expect("rebuild");

        assert_eq!(
            fixture.store.arrival_ms(code("BR"), 1).expect("read"),
            Some(4_242)
        );
    }
}

mod persistence {
    use super::*;

    #[test]
    fn reopened_ledger_has_the_same_heads_views_and_forks() {
        let mut fixture = Fixture::new();
        let entries = mixed_feeds();
        let refs: Vec<&Signed> = entries.iter().collect();
        fixture.ingest(&refs);
        let mut br = network().feed(code("BR"));
        let rival = br.next(institution("pf-rival"));
        fixture.ingest(&[&rival]);
        let heads = fixture.ledger.heads().clone();
        let views = views_of(&fixture.store);
        let forks = fixture.store.forks().expect("forks");
        assert_eq!(forks.len(), 1);

        let mut fixture = fixture.reopen();

        assert_eq!(fixture.ledger.heads(), &heads);
        assert_eq!(views_of(&fixture.store), views);
        assert_eq!(fixture.store.forks().expect("forks"), forks);
        let published = fixture
            .ledger
            .publish(contact("c-3", "pfa"), NOW_MS)
            .expect("store works")
            .expect("valid body");
        assert_eq!(published.signed.entry.prev, heads[&own()].hash);
        assert_eq!(published.signed.entry.seq, heads[&own()].seq + 1);
    }

    #[test]
    fn buffered_entries_do_not_survive_a_restart() {
        // The buffer is in memory only: after a restart an early entry must be delivered
        // again once its gap fills.
        let mut fixture = Fixture::new();
        let mut br = network().feed(code("BR"));
        let first = br.next(institution("pf"));
        let second = br.next(contact("c-1", "pf"));
        fixture.ingest(&[&second]);

        let mut fixture = fixture.reopen();
        let ingested = fixture.ingest(&[&first]);

        assert_eq!(applied_seqs(&ingested), [(code("BR"), 1)]);
        assert_eq!(fixture.ledger.pending_len(), 0);
        assert_eq!(fixture.ingest(&[&second]).placements, [Placement::Applied]);
    }
}

mod paging {
    use super::*;

    /// A feed of five entries of growing size, applied; returns their wire bytes.
    fn stored_feed(fixture: &mut Fixture) -> Vec<Vec<u8>> {
        let mut br = network().feed(code("BR"));
        let entries: Vec<Signed> = (1..=5)
            .map(|index| {
                let notes = "n".repeat(index * 300);
                br.next(contact_with(
                    &format!("c-{index}"),
                    "pf",
                    "+5561999999999",
                    &notes,
                ))
            })
            .collect();
        let refs: Vec<&Signed> = entries.iter().collect();
        fixture.ingest(&refs);
        entries.into_iter().map(|signed| signed.bytes).collect()
    }

    #[test]
    fn page_stops_at_max_entries() {
        let mut fixture = Fixture::new();
        let all = stored_feed(&mut fixture);

        let page = fixture
            .store
            .entries(code("BR"), 2, 2, usize::MAX)
            .expect("page");

        assert_eq!(page, all[1..3]);
    }

    #[test]
    fn page_stops_before_passing_max_bytes() {
        let mut fixture = Fixture::new();
        let all = stored_feed(&mut fixture);
        let two = all[0].len() + all[1].len();

        let exact = fixture.store.entries(code("BR"), 1, 10, two).expect("page");
        let short = fixture
            .store
            .entries(code("BR"), 1, 10, two - 1)
            .expect("page");

        assert_eq!(exact, all[..2]);
        assert_eq!(short, all[..1]);
    }

    #[test]
    fn page_holds_one_entry_even_over_max_bytes() {
        let mut fixture = Fixture::new();
        let all = stored_feed(&mut fixture);

        let page = fixture.store.entries(code("BR"), 4, 10, 1).expect("page");

        assert_eq!(page, all[3..4]);
    }

    #[test]
    fn page_past_the_head_or_of_another_feed_is_empty() {
        let mut fixture = Fixture::new();
        stored_feed(&mut fixture);

        let past = fixture
            .store
            .entries(code("BR"), 6, 10, usize::MAX)
            .expect("page");
        let other = fixture
            .store
            .entries(code("CL"), 1, 10, usize::MAX)
            .expect("page");

        assert!(past.is_empty() && other.is_empty());
    }

    #[test]
    fn page_from_the_start_is_the_whole_feed_in_order() {
        let mut fixture = Fixture::new();
        let all = stored_feed(&mut fixture);

        let page = fixture
            .store
            .entries(code("BR"), 1, usize::MAX, usize::MAX)
            .expect("page");

        assert_eq!(page, all);
    }
}

/// What a store ends up holding, to compare two deliveries of the same feeds.
fn outcome(fixture: &Fixture) -> impl PartialEq + std::fmt::Debug {
    let feeds: Vec<_> = support::MEMBERS
        .iter()
        .map(|member| feed_of(&fixture.store, code(member)))
        .collect();
    (
        fixture.ledger.heads().clone(),
        feeds,
        views_of(&fixture.store),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Views are a function of the entries alone: any order of arrival, split into any
    /// calls, ends where delivery in order ends.
    #[test]
    fn any_delivery_order_ends_like_delivery_in_order(
        order in Just((0..mixed_feeds().len()).collect::<Vec<_>>()).prop_shuffle(),
        calls in prop::collection::vec(1..6usize, 1..8),
    ) {
        let entries = mixed_feeds();
        let mut in_order = Fixture::new();
        in_order.ingest(&entries.iter().collect::<Vec<_>>());

        let mut shuffled = Fixture::new();
        let mut remaining: Vec<&Signed> = order.iter().map(|index| &entries[*index]).collect();
        for size in calls.iter().cycle() {
            if remaining.is_empty() {
                break;
            }
            let rest = remaining.split_off((*size).min(remaining.len()));
            let ingested = shuffled.ingest(&remaining);
            prop_assert!(ingested.new_forks.is_empty());
            remaining = rest;
        }

        prop_assert_eq!(shuffled.ledger.pending_len(), 0);
        prop_assert_eq!(outcome(&shuffled), outcome(&in_order));
    }
}

/// A full disk: the ledger refuses writes with `StoreUnavailable` naming the cause, and once
/// the disk has room it reopens the store, reloads its heads from it and applies again.
#[test]
fn full_disk_refuses_writes_then_the_reopened_store_applies_again() {
    use vigia_node::ledger::StoreUnavailable;

    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("vigia.redb");
    let faults = vigia_node::testing::inject_store_faults(&path);
    let store = vigia_node::store::Store::open(&path).expect("store opens");
    let mut ledger = Ledger::new(
        store.clone(),
        network().roster.clone(),
        own(),
        network().key(own()).clone(),
    )
    .expect("ledger");
    let mut br = network().feed(code("BR"));
    let first = br.next(institution("pf"));
    let second = br.next(institution("pc"));
    ledger
        .ingest_deferred(std::slice::from_ref(&first.bytes), NOW_MS)
        .expect("applied");

    faults.set_full(true);
    let err = ledger
        .ingest(std::slice::from_ref(&second.bytes), NOW_MS)
        .expect_err("a full disk refuses the write");
    let unavailable = err.downcast_ref::<StoreUnavailable>().expect("typed");
    assert!(unavailable.reason.contains("No space left"), "{err:#}");
    assert!(store.write_failure().is_some());
    let refused = ledger.publish(alert("a1"), NOW_MS);
    assert!(refused.is_err_and(|err| err.is::<StoreUnavailable>()));

    faults.set_full(false);
    // The first reopening is due a second after the failure.
    std::thread::sleep(std::time::Duration::from_millis(1_100));
    ledger.flush().expect("the store is reopened");
    assert!(ledger.take_reopened());
    assert!(store.write_failure().is_none());
    assert_eq!(ledger.heads(), &store.heads().expect("heads"));

    // What the failure lost, sync delivers again.
    ledger
        .ingest(&[first.bytes.clone(), second.bytes.clone()], NOW_MS)
        .expect("applied after reopening");
    assert_eq!(ledger.heads()[&code("BR")].seq, 2);
    assert!(ledger.publish(alert("a2"), NOW_MS).expect("stored").is_ok());
}
