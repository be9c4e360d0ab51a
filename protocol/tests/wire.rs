//! Property tests of the wire format: every wire type survives the binary codec and JSON, the
//! roster file survives TOML, no byte of a signed entry changes unnoticed, and the layouts that
//! `docs/wire-format.md` describes are pinned byte for byte.

mod support;

use std::fmt::Debug;

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::FileFailurePersistence;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use vigia_protocol::body::Body;
use vigia_protocol::codec::{self, MAX_ENTRY_BYTES, MAX_SYNC_MESSAGE_BYTES};
use vigia_protocol::entry::{ENTRY_DOMAIN, Head, hash_signed_bytes};
use vigia_protocol::roster::{ROSTER_DOMAIN, RosterBody, RosterFile};
use vigia_protocol::sync::{self, Request, Response, Status};
use vigia_protocol::validate::{ValidationError, verify_entry};
use vigia_protocol::{Entry, EntryRef, Hash, SignedEntry};

use support::{code, network};

/// Enough cases to reach every variant and every varint width many times, few enough that the
/// whole file runs in seconds.
const CASES: u32 = 256;

fn config() -> ProptestConfig {
    // Failures are saved beside this file: the default looks for a `lib.rs` that integration
    // tests do not have.
    let persistence = FileFailurePersistence::WithSource("proptest-regressions");
    ProptestConfig {
        cases: CASES,
        failure_persistence: Some(Box::new(persistence)),
        ..ProptestConfig::default()
    }
}

/// Strategies for any value of each wire type, valid or not: the codec must carry both.
mod arbitrary {
    use proptest::prelude::*;
    use vigia_protocol::body::{
        Acknowledgement, Alert, AlertReference, AlertRelation, Availability, Body, Certainty,
        Contact, Institution, InstitutionKind, LocalizedNames, Recipients, Severity, Tlp, Urgency,
    };
    use vigia_protocol::entry::Head;
    use vigia_protocol::roster::{Member, NodeRecord, RosterBody, RosterFile, RosterSignature};
    use vigia_protocol::sync::{Request, Response, Status};
    use vigia_protocol::{Entry, EntryRef, Hash, MemberCode, PublicKey, Signature, SignedEntry};

    pub const INSTITUTION_KINDS: [InstitutionKind; 10] = [
        InstitutionKind::Police,
        InstitutionKind::Intelligence,
        InstitutionKind::FinancialIntelligenceUnit,
        InstitutionKind::Prosecutor,
        InstitutionKind::Customs,
        InstitutionKind::Migration,
        InstitutionKind::Csirt,
        InstitutionKind::Ministry,
        InstitutionKind::Military,
        InstitutionKind::Other,
    ];
    pub const SEVERITIES: [Severity; 5] = [
        Severity::Extreme,
        Severity::Severe,
        Severity::Moderate,
        Severity::Minor,
        Severity::Unknown,
    ];
    pub const URGENCIES: [Urgency; 5] = [
        Urgency::Immediate,
        Urgency::Expected,
        Urgency::Future,
        Urgency::Past,
        Urgency::Unknown,
    ];
    pub const CERTAINTIES: [Certainty; 5] = [
        Certainty::Observed,
        Certainty::Likely,
        Certainty::Possible,
        Certainty::Unlikely,
        Certainty::Unknown,
    ];
    pub const TLPS: [Tlp; 5] = [
        Tlp::Clear,
        Tlp::Green,
        Tlp::Amber,
        Tlp::AmberStrict,
        Tlp::Red,
    ];
    pub const RELATIONS: [AlertRelation; 2] = [AlertRelation::Updates, AlertRelation::Cancels];

    /// Any string, control characters and all non-ASCII planes included.
    pub fn text() -> impl Strategy<Value = String> {
        prop::collection::vec(any::<char>(), 0..12).prop_map(String::from_iter)
    }

    fn texts() -> impl Strategy<Value = Vec<String>> {
        prop::collection::vec(text(), 0..4)
    }

    /// Integers of every varint width (1, 3, 5 and 9 bytes) and their boundaries.
    pub fn varint_u64() -> impl Strategy<Value = u64> {
        prop_oneof![
            0..=250u64,
            251..=u64::from(u16::MAX),
            u64::from(u16::MAX) + 1..=u64::from(u32::MAX),
            any::<u64>(),
            Just(u64::MAX),
        ]
    }

    pub fn varint_u32() -> impl Strategy<Value = u32> {
        prop_oneof![0..=250u32, 251..=u32::from(u16::MAX), any::<u32>()]
    }

    pub fn member_code() -> impl Strategy<Value = MemberCode> {
        (b'A'..=b'Z', b'A'..=b'Z')
            .prop_map(|(a, b)| MemberCode::from_bytes([a, b]).expect("two capitals"))
    }

    pub fn hash() -> impl Strategy<Value = Hash> {
        any::<[u8; 32]>().prop_map(Hash)
    }

    pub fn public_key() -> impl Strategy<Value = PublicKey> {
        any::<[u8; 32]>().prop_map(PublicKey)
    }

    pub fn signature() -> impl Strategy<Value = Signature> {
        prop::array::uniform::<_, 64>(any::<u8>()).prop_map(Signature)
    }

    pub fn entry_ref() -> impl Strategy<Value = EntryRef> {
        (member_code(), varint_u64(), hash()).prop_map(|(author, seq, hash)| EntryRef {
            author,
            seq,
            hash,
        })
    }

    pub fn head() -> impl Strategy<Value = Head> {
        (varint_u64(), hash()).prop_map(|(seq, hash)| Head { seq, hash })
    }

    fn availability() -> impl Strategy<Value = Availability> {
        prop_oneof![
            Just(Availability::AlwaysOn),
            (text(), text(), text()).prop_map(|(time_zone, from, to)| Availability::Hours {
                time_zone,
                from,
                to
            }),
        ]
    }

    fn contact() -> impl Strategy<Value = Contact> {
        let names = (text(), text(), text(), text(), text());
        let rest = (texts(), texts(), texts(), availability(), text());
        (names, rest).prop_map(
            |(
                (id, given_names, family_names, institution_id, role),
                (emails, phones, languages, availability, notes),
            )| Contact {
                id,
                given_names,
                family_names,
                institution_id,
                role,
                emails,
                phones,
                languages,
                availability,
                notes,
            },
        )
    }

    fn localized_names() -> impl Strategy<Value = LocalizedNames> {
        let name = || proptest::option::of(text());
        (name(), name(), name(), name()).prop_map(|(en, es, pt, fr)| LocalizedNames {
            en,
            es,
            pt,
            fr,
        })
    }

    fn institution() -> impl Strategy<Value = Institution> {
        let kind = prop::sample::select(INSTITUTION_KINDS.as_slice());
        (
            text(),
            text(),
            localized_names(),
            kind,
            text(),
            texts(),
            texts(),
        )
            .prop_map(
                |(id, name, names, kind, address, phones, emails)| Institution {
                    id,
                    name,
                    names,
                    kind,
                    address,
                    phones,
                    emails,
                },
            )
    }

    fn recipients() -> impl Strategy<Value = Recipients> {
        prop_oneof![
            Just(Recipients::Network),
            prop::collection::vec(member_code(), 0..6).prop_map(Recipients::Members),
        ]
    }

    fn alert_reference() -> impl Strategy<Value = AlertReference> {
        (prop::sample::select(RELATIONS.as_slice()), entry_ref())
            .prop_map(|(relation, alert)| AlertReference { relation, alert })
    }

    fn alert() -> impl Strategy<Value = Alert> {
        let words = (text(), text(), text());
        let labels = (
            prop::sample::select(SEVERITIES.as_slice()),
            prop::sample::select(URGENCIES.as_slice()),
            prop::sample::select(CERTAINTIES.as_slice()),
            prop::sample::select(TLPS.as_slice()),
        );
        let rest = (
            recipients(),
            varint_u64(),
            proptest::option::of(varint_u64()),
            proptest::option::of(alert_reference()),
        );
        (words, labels, rest).prop_map(
            |(
                (id, title, description),
                (severity, urgency, certainty, tlp),
                (recipients, expires_at_ms, respond_by_ms, references),
            )| Alert {
                id,
                title,
                description,
                severity,
                urgency,
                certainty,
                tlp,
                recipients,
                expires_at_ms,
                respond_by_ms,
                references,
            },
        )
    }

    fn acknowledgement() -> impl Strategy<Value = Acknowledgement> {
        (entry_ref(), proptest::option::of(text()))
            .prop_map(|(alert, note)| Acknowledgement { alert, note })
    }

    pub fn body() -> impl Strategy<Value = Body> {
        prop_oneof![
            contact().prop_map(Body::ContactPut),
            text().prop_map(|id| Body::ContactRemove { id }),
            institution().prop_map(Body::InstitutionPut),
            text().prop_map(|id| Body::InstitutionRemove { id }),
            alert().prop_map(Body::Alert),
            acknowledgement().prop_map(Body::Acknowledgement),
        ]
    }

    pub fn entry() -> impl Strategy<Value = Entry> {
        (
            hash(),
            member_code(),
            varint_u64(),
            hash(),
            varint_u64(),
            body(),
        )
            .prop_map(|(network, author, seq, prev, issued_at_ms, body)| Entry {
                network,
                author,
                seq,
                prev,
                issued_at_ms,
                body,
            })
    }

    pub fn signed_entry() -> impl Strategy<Value = SignedEntry> {
        (entry(), signature()).prop_map(|(entry, signature)| SignedEntry { entry, signature })
    }

    pub fn status() -> impl Strategy<Value = Status> {
        let heads = prop::collection::vec((member_code(), head()), 0..6);
        (hash(), heads, varint_u64(), varint_u32()).prop_map(
            |(network, heads, now_ms, max_message_bytes)| Status {
                network,
                heads,
                now_ms,
                max_message_bytes,
            },
        )
    }

    pub fn request() -> impl Strategy<Value = Request> {
        prop_oneof![
            status().prop_map(Request::Heads),
            (member_code(), varint_u64(), varint_u32()).prop_map(
                |(author, from_seq, max_entries)| Request::Range {
                    author,
                    from_seq,
                    max_entries
                }
            ),
        ]
    }

    pub fn response() -> impl Strategy<Value = Response> {
        let entry_bytes = prop::collection::vec(any::<u8>(), 0..300);
        prop_oneof![
            status().prop_map(Response::Heads),
            prop::collection::vec(entry_bytes, 0..4).prop_map(Response::Entries),
            text().prop_map(Response::Refused),
        ]
    }

    fn node_record() -> impl Strategy<Value = NodeRecord> {
        (text(), texts()).prop_map(|(peer_id, addresses)| NodeRecord { peer_id, addresses })
    }

    fn member() -> impl Strategy<Value = Member> {
        let nodes = prop::collection::vec(node_record(), 0..3);
        (member_code(), text(), public_key(), nodes).prop_map(|(code, name, signing_key, nodes)| {
            Member {
                code,
                name,
                signing_key,
                nodes,
            }
        })
    }

    pub fn roster_body() -> impl Strategy<Value = RosterBody> {
        let members = prop::collection::vec(member(), 0..4);
        (text(), varint_u32(), members).prop_map(|(network, quorum, members)| RosterBody {
            network,
            quorum,
            members,
        })
    }

    pub fn roster_file() -> impl Strategy<Value = RosterFile> {
        let signature = (member_code(), signature())
            .prop_map(|(member, signature)| RosterSignature { member, signature });
        (roster_body(), prop::collection::vec(signature, 0..4))
            .prop_map(|(body, signatures)| RosterFile { body, signatures })
    }
}

/// Strategies for entries that pass every check, signed by a member of the fixture network.
mod valid {
    use proptest::prelude::*;
    use vigia_protocol::body::{
        Acknowledgement, Alert, AlertReference, Availability, Body, Contact, Institution,
        LocalizedNames, Recipients,
    };
    use vigia_protocol::{Entry, EntryRef, MemberCode};

    use super::arbitrary::{
        self, CERTAINTIES, INSTITUTION_KINDS, RELATIONS, SEVERITIES, TLPS, URGENCIES,
    };
    use crate::support::{MEMBERS, code, network};

    fn id() -> impl Strategy<Value = String> {
        "[A-Za-z0-9._-]{1,64}"
    }

    fn name() -> impl Strategy<Value = String> {
        "[A-Za-zÀ-ÖØ-öø-ÿ][A-Za-zÀ-ÖØ-öø-ÿ' -]{0,40}"
    }

    fn note() -> impl Strategy<Value = String> {
        "[^\\p{Cc}]{0,40}"
    }

    fn list(item: &'static str) -> impl Strategy<Value = Vec<String>> {
        prop::collection::vec(item, 0..4)
    }

    const EMAIL: &str = "[a-z0-9._+-]{1,16}@[a-z0-9-]{1,16}\\.[a-z]{2,6}";
    const PHONE: &str = "\\+[1-9][0-9]{1,14}";

    fn clock() -> impl Strategy<Value = String> {
        (0..24u8, 0..60u8).prop_map(|(hours, minutes)| format!("{hours:02}:{minutes:02}"))
    }

    fn availability() -> impl Strategy<Value = Availability> {
        prop_oneof![
            Just(Availability::AlwaysOn),
            ("[A-Z][a-z]{1,12}/[A-Z][a-z_]{1,16}", clock(), clock()).prop_map(
                |(time_zone, from, to)| Availability::Hours {
                    time_zone,
                    from,
                    to
                }
            ),
        ]
    }

    fn contact() -> impl Strategy<Value = Contact> {
        let names = (id(), name(), name(), id(), note());
        let rest = (
            list(EMAIL),
            list(PHONE),
            list("[a-z]{2}"),
            availability(),
            note(),
        );
        (names, rest).prop_map(
            |(
                (id, given_names, family_names, institution_id, role),
                (emails, phones, languages, availability, notes),
            )| Contact {
                id,
                given_names,
                family_names,
                institution_id,
                role,
                emails,
                phones,
                languages,
                availability,
                notes,
            },
        )
    }

    fn institution() -> impl Strategy<Value = Institution> {
        let localized = || proptest::option::of(name());
        let names = (localized(), localized(), localized(), localized())
            .prop_map(|(en, es, pt, fr)| LocalizedNames { en, es, pt, fr });
        let kind = prop::sample::select(INSTITUTION_KINDS.as_slice());
        (id(), name(), names, kind, note(), list(PHONE), list(EMAIL)).prop_map(
            |(id, name, names, kind, address, phones, emails)| Institution {
                id,
                name,
                names,
                kind,
                address,
                phones,
                emails,
            },
        )
    }

    fn recipients() -> impl Strategy<Value = Recipients> {
        let members = prop::collection::btree_set(arbitrary::member_code(), 1..6);
        prop_oneof![
            Just(Recipients::Network),
            members.prop_map(|members| Recipients::Members(members.into_iter().collect())),
        ]
    }

    /// What an alert in entry `seq` of `author` may update or cancel: an earlier alert of the
    /// same author, so none for the first entry of a feed.
    fn reference(author: MemberCode, seq: u64) -> BoxedStrategy<Option<AlertReference>> {
        if seq == 1 {
            return Just(None).boxed();
        }
        let relation = prop::sample::select(RELATIONS.as_slice());
        let reference =
            (relation, 1..seq, arbitrary::hash()).prop_map(move |(relation, seq, hash)| {
                AlertReference {
                    relation,
                    alert: EntryRef { author, seq, hash },
                }
            });
        proptest::option::of(reference).boxed()
    }

    /// An alert in entry `seq` of `author`, issued at `issued_at_ms`: it expires later, any
    /// answer is due in between.
    fn alert(author: MemberCode, seq: u64, issued_at_ms: u64) -> impl Strategy<Value = Alert> {
        let times = (1..=1u64 << 40).prop_flat_map(move |lifetime| {
            let respond_by = proptest::option::of(1..=lifetime);
            (
                Just(issued_at_ms + lifetime),
                respond_by.prop_map(move |after| after.map(|after| issued_at_ms + after)),
            )
        });
        let labels = (
            prop::sample::select(SEVERITIES.as_slice()),
            prop::sample::select(URGENCIES.as_slice()),
            prop::sample::select(CERTAINTIES.as_slice()),
            prop::sample::select(TLPS.as_slice()),
        );
        let words = (id(), name(), "[^\\p{Cc}]{0,200}");
        let rest = (recipients(), times, reference(author, seq));
        (words, labels, rest).prop_map(
            |(
                (id, title, description),
                (severity, urgency, certainty, tlp),
                (recipients, (expires_at_ms, respond_by_ms), references),
            )| Alert {
                id,
                title,
                description,
                severity,
                urgency,
                certainty,
                tlp,
                recipients,
                expires_at_ms,
                respond_by_ms,
                references,
            },
        )
    }

    fn acknowledgement() -> impl Strategy<Value = Acknowledgement> {
        (arbitrary::entry_ref(), proptest::option::of(note()))
            .prop_map(|(alert, note)| Acknowledgement { alert, note })
    }

    fn body(author: MemberCode, seq: u64, issued_at_ms: u64) -> impl Strategy<Value = Body> {
        prop_oneof![
            contact().prop_map(Body::ContactPut),
            id().prop_map(|id| Body::ContactRemove { id }),
            institution().prop_map(Body::InstitutionPut),
            id().prop_map(|id| Body::InstitutionRemove { id }),
            alert(author, seq, issued_at_ms).prop_map(Body::Alert),
            acknowledgement().prop_map(Body::Acknowledgement),
        ]
    }

    fn author() -> impl Strategy<Value = MemberCode> {
        prop::sample::select(MEMBERS.as_slice()).prop_map(code)
    }

    /// Wire bytes of a valid entry of the fixture network, signed by its author.
    pub fn signed_entry_bytes() -> impl Strategy<Value = Vec<u8>> {
        let seq = arbitrary::varint_u64().prop_map(|seq| seq.max(1));
        let header = (author(), seq, arbitrary::hash(), 0..=1u64 << 50);
        header.prop_flat_map(|(author, seq, prev, issued_at_ms)| {
            body(author, seq, issued_at_ms).prop_map(move |body| {
                let network = network();
                let entry = Entry {
                    network: network.roster.id(),
                    author,
                    seq,
                    prev,
                    issued_at_ms,
                    body,
                };
                network.signed_bytes(entry)
            })
        })
    }
}

/// Encodes with the codec and decodes under `LIMIT`, expecting the value back.
fn binary_round_trip<T, const LIMIT: usize>(value: &T) -> Result<(), TestCaseError>
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let bytes = codec::encode(value).expect("every wire value encodes");
    let decoded = codec::decode::<T, LIMIT>(&bytes);
    prop_assert_eq!(decoded.as_ref(), Ok(value));
    Ok(())
}

/// Writes JSON and reads it back, expecting the value back.
fn json_round_trip<T>(value: &T) -> Result<(), TestCaseError>
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let json = serde_json::to_string(value).expect("every wire value has a JSON form");
    let decoded: T = serde_json::from_str(&json).expect("JSON written is JSON read");
    prop_assert_eq!(&decoded, value);
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn body_round_trips(body in arbitrary::body()) {
        binary_round_trip::<Body, MAX_ENTRY_BYTES>(&body)?;
        json_round_trip(&body)?;
    }

    #[test]
    fn entry_round_trips(entry in arbitrary::entry()) {
        binary_round_trip::<Entry, MAX_ENTRY_BYTES>(&entry)?;
        json_round_trip(&entry)?;
    }

    #[test]
    fn signed_entry_round_trips(signed in arbitrary::signed_entry()) {
        let bytes = signed.to_bytes().expect("every entry encodes");
        prop_assert_eq!(SignedEntry::from_bytes(&bytes), Ok(signed.clone()));
        json_round_trip(&signed)?;
    }

    #[test]
    fn position_peeked_from_wire_bytes_is_the_entrys(signed in arbitrary::signed_entry()) {
        let bytes = signed.to_bytes().expect("every entry encodes");
        let position = vigia_protocol::entry::peek_position(&bytes);
        prop_assert_eq!(position, Some((signed.entry.author, signed.entry.seq)));
        prop_assert_eq!(vigia_protocol::entry::peek_position(&bytes[..20]), None);
    }

    #[test]
    fn entry_ref_and_head_round_trip(
        reference in arbitrary::entry_ref(),
        head in arbitrary::head(),
    ) {
        binary_round_trip::<EntryRef, MAX_ENTRY_BYTES>(&reference)?;
        binary_round_trip::<Head, MAX_ENTRY_BYTES>(&head)?;
        json_round_trip(&reference)?;
        json_round_trip(&head)?;
    }

    #[test]
    fn sync_status_round_trips(status in arbitrary::status()) {
        binary_round_trip::<Status, MAX_SYNC_MESSAGE_BYTES>(&status)?;
        json_round_trip(&status)?;
    }

    #[test]
    fn sync_request_round_trips(request in arbitrary::request()) {
        let bytes = sync::encode_request(&request).expect("every request encodes");
        prop_assert_eq!(sync::decode_request(&bytes), Ok(request.clone()));
        json_round_trip(&request)?;
    }

    #[test]
    fn sync_response_round_trips(response in arbitrary::response()) {
        let bytes = sync::encode_response(&response).expect("every response encodes");
        prop_assert_eq!(sync::decode_response(&bytes), Ok(response.clone()));
        json_round_trip(&response)?;
    }

    #[test]
    fn roster_body_round_trips(body in arbitrary::roster_body()) {
        binary_round_trip::<RosterBody, MAX_SYNC_MESSAGE_BYTES>(&body)?;
        json_round_trip(&body)?;
    }

    #[test]
    fn roster_file_round_trips_through_toml(file in arbitrary::roster_file()) {
        let text = file.to_toml();
        prop_assert_eq!(RosterFile::from_toml(&text), Ok(file.clone()), "TOML:\n{}", text);
        json_round_trip(&file)?;
    }

    #[test]
    fn valid_signed_entry_verifies(bytes in valid::signed_entry_bytes()) {
        let verified = verify_entry(&network().roster, &bytes);
        prop_assert!(verified.is_ok(), "{:?}", verified);
        let verified = verified.expect("checked above");
        let signed_bytes = verified.signed.entry.signed_bytes().expect("entry encodes");
        prop_assert_eq!(verified.hash, hash_signed_bytes(&signed_bytes));
        prop_assert_eq!(verified.bytes, bytes);
    }

    #[test]
    fn flipping_any_byte_is_refused(
        bytes in valid::signed_entry_bytes(),
        index in any::<Index>(),
        mask in 1..=u8::MAX,
    ) {
        let mut tampered = bytes;
        let index = index.index(tampered.len());
        tampered[index] ^= mask;
        let result = verify_entry(&network().roster, &tampered);
        prop_assert!(result.is_err(), "byte {} ^ {:#04x} accepted", index, mask);
    }

    #[test]
    fn appending_a_byte_is_refused(bytes in valid::signed_entry_bytes(), extra in any::<u8>()) {
        let mut tampered = bytes;
        tampered.push(extra);
        prop_assert!(verify_entry(&network().roster, &tampered).is_err());
    }

    #[test]
    fn truncating_is_refused(bytes in valid::signed_entry_bytes(), cut in any::<Index>()) {
        let kept = cut.index(bytes.len());
        prop_assert!(verify_entry(&network().roster, &bytes[..kept]).is_err());
    }
}

/// `AR` packed big-endian into a `u16` (0x4152), then written as a three-byte varint.
const AR: [u8; 3] = [251, 0x52, 0x41];

/// A small entry whose every byte the tests below spell out.
fn small_entry() -> Entry {
    Entry {
        network: Hash([0x11; 32]),
        author: code("AR"),
        seq: 1,
        prev: Hash::ZERO,
        issued_at_ms: 1_000,
        body: Body::ContactRemove { id: "c-1".into() },
    }
}

fn small_entry_bytes() -> Vec<u8> {
    let mut expected = vec![32];
    expected.extend([0x11; 32]);
    expected.extend(AR);
    expected.push(1);
    expected.push(32);
    expected.extend([0; 32]);
    expected.extend([251, 0xE8, 0x03]);
    expected.extend([1, 3, b'c', b'-', b'1']);
    expected
}

#[test]
fn varints_take_one_three_five_or_nine_bytes() {
    let cases: [(u64, &[u8]); 7] = [
        (0, &[0]),
        (250, &[250]),
        (251, &[251, 251, 0]),
        (u64::from(u16::MAX), &[251, 0xFF, 0xFF]),
        (1 << 16, &[252, 0, 0, 1, 0]),
        (u64::from(u32::MAX), &[252, 0xFF, 0xFF, 0xFF, 0xFF]),
        (1 << 32, &[253, 0, 0, 0, 0, 1, 0, 0, 0]),
    ];
    for (value, expected) in cases {
        assert_eq!(codec::encode(&value).expect("encodes"), expected, "{value}");
    }
}

#[test]
fn options_strings_and_byte_strings_are_tagged_or_length_prefixed() {
    assert_eq!(codec::encode(&None::<u64>).expect("encodes"), [0]);
    assert_eq!(
        codec::encode(&Some(300u64)).expect("encodes"),
        [1, 251, 0x2C, 0x01]
    );
    assert_eq!(
        codec::encode(&"sí").expect("encodes"),
        [3, b's', 0xC3, 0xAD]
    );
    let hash = codec::encode(&Hash([7; 32])).expect("encodes");
    assert_eq!((hash.len(), hash[0], hash[1]), (33, 32, 7));
}

#[test]
fn small_entry_encodes_as_documented() {
    let entry = small_entry();
    assert_eq!(codec::encode(&entry).expect("encodes"), small_entry_bytes());
}

#[test]
fn signed_entry_is_entry_then_length_prefixed_signature() {
    let signed = SignedEntry {
        entry: small_entry(),
        signature: vigia_protocol::Signature([9; 64]),
    };
    let mut expected = small_entry_bytes();
    expected.push(64);
    expected.extend([9; 64]);
    assert_eq!(signed.to_bytes().expect("encodes"), expected);
}

#[test]
fn entry_hash_is_sha256_of_domain_and_entry() {
    let signed_bytes = small_entry().signed_bytes().expect("encodes");
    let mut expected = b"vigia/entry/v1\0".to_vec();
    expected.extend(small_entry_bytes());
    assert_eq!(ENTRY_DOMAIN, b"vigia/entry/v1\0");
    assert_eq!(signed_bytes, expected);
    let digest: [u8; 32] = Sha256::digest(&expected).into();
    assert_eq!(hash_signed_bytes(&signed_bytes), Hash(digest));
}

#[test]
fn network_id_is_sha256_of_domain_and_roster_body() {
    let network = network();
    let body = network.roster.body();
    let mut expected = b"vigia/roster/v1\0".to_vec();
    expected.extend(codec::encode(body).expect("encodes"));
    assert_eq!(ROSTER_DOMAIN, b"vigia/roster/v1\0");
    assert_eq!(body.signed_bytes(), expected);
    let digest: [u8; 32] = Sha256::digest(&expected).into();
    assert_eq!(network.roster.id(), Hash(digest));
}

#[test]
fn roster_body_encodes_fields_in_order() {
    let body = RosterBody {
        network: "V".into(),
        quorum: 1,
        members: Vec::new(),
    };
    assert_eq!(codec::encode(&body).expect("encodes"), [1, b'V', 1, 0]);
}

#[test]
fn sync_messages_start_with_their_variant_index() {
    let range = Request::Range {
        author: code("AR"),
        from_seq: 5,
        max_entries: 100,
    };
    let mut expected = vec![1];
    expected.extend(AR);
    expected.extend([5, 100]);
    assert_eq!(sync::encode_request(&range).expect("encodes"), expected);

    let entries = Response::Entries(vec![vec![0xAA, 0xBB]]);
    assert_eq!(
        sync::encode_response(&entries).expect("encodes"),
        [1, 1, 2, 0xAA, 0xBB]
    );
    let refused = Response::Refused("no".into());
    assert_eq!(
        sync::encode_response(&refused).expect("encodes"),
        [2, 2, b'n', b'o']
    );

    let status = Status {
        network: Hash([0x22; 32]),
        heads: vec![(
            code("AR"),
            Head {
                seq: 2,
                hash: Hash([0x33; 32]),
            },
        )],
        now_ms: 7,
        max_message_bytes: 65_536,
    };
    let mut expected = vec![0, 32];
    expected.extend([0x22; 32]);
    expected.push(1);
    expected.extend(AR);
    expected.extend([2, 32]);
    expected.extend([0x33; 32]);
    expected.extend([7, 252, 0, 0, 1, 0]);
    assert_eq!(
        sync::encode_request(&Request::Heads(status)).expect("encodes"),
        expected
    );
}

/// Regression: bincode accepts a varint written wider than needed, so without a canonical
/// check a relay could rewrite an entry into other bytes that still verify with the same hash.
#[test]
fn entry_with_a_widened_varint_is_refused() {
    let network = network();
    let entry = network.entry(code("AR"), 1, Hash::ZERO, support::remove_contact("c-1"));
    let bytes = network.signed_bytes(entry);
    assert!(verify_entry(&network.roster, &bytes).is_ok());

    let seq_offset = 33 + AR.len();
    assert_eq!(bytes[seq_offset], 1);
    let mut widened = bytes[..seq_offset].to_vec();
    widened.extend([251, 1, 0]);
    widened.extend(&bytes[seq_offset + 1..]);
    let result = verify_entry(&network.roster, &widened);
    assert!(
        matches!(result, Err(ValidationError::Malformed(_))),
        "{result:?}"
    );
}
