//! Fixtures shared by the integration tests: seeded member keys, a network whose roster every
//! member signed, and entries signed by its members.

// Each test binary compiles this module and uses a different part of it.
#![allow(dead_code)]

use std::sync::LazyLock;

use ed25519_dalek::SigningKey;
use rand::SeedableRng;
use rand::rngs::StdRng;
use vigia_protocol::body::Body;
use vigia_protocol::roster::{Member, NodeRecord, RosterBody, RosterFile};
use vigia_protocol::{Entry, Hash, MemberCode, PublicKey, Roster};

/// Seed of every test key, so a failing case names the same keys on every run.
pub const SEED: u64 = u64::from_be_bytes(*b"vigia\0\0\0");

/// The members of the fixture network, in roster order.
pub const MEMBERS: [&str; 3] = ["AR", "BR", "CL"];

/// A network built once per test binary: its verified roster and each member's key.
pub struct Network {
    /// The roster every member signed.
    pub roster: Roster,
    /// The file it was verified from.
    pub file: RosterFile,
    /// Member codes with their signing keys, in roster order.
    pub keys: Vec<(MemberCode, SigningKey)>,
}

static NETWORK: LazyLock<Network> = LazyLock::new(|| Network::new(&MEMBERS));

/// The shared fixture network.
pub fn network() -> &'static Network {
    &NETWORK
}

/// Parses a member code the test knows to be valid.
pub fn code(text: &str) -> MemberCode {
    text.parse().expect("test member codes are two capitals")
}

/// `count` keys drawn from the seeded RNG.
pub fn seeded_keys(count: usize) -> Vec<SigningKey> {
    let mut rng = StdRng::seed_from_u64(SEED);
    (0..count).map(|_| SigningKey::generate(&mut rng)).collect()
}

/// A roster body listing `codes` with `keys`, one node each, quorum of a simple majority.
pub fn roster_body(codes: &[MemberCode], keys: &[SigningKey]) -> RosterBody {
    let members = codes
        .iter()
        .zip(keys)
        .map(|(code, key)| Member {
            code: *code,
            name: format!("Estado {code}"),
            signing_key: PublicKey(key.verifying_key().to_bytes()),
            nodes: vec![NodeRecord {
                peer_id: format!("12D3KooW{code}"),
                addresses: vec![format!("/dns4/vigia.{code}.example/udp/4001/quic-v1")],
            }],
        })
        .collect::<Vec<_>>();
    let quorum = u32::try_from(members.len() / 2 + 1).expect("few members");
    RosterBody {
        network: "Vigía test".into(),
        quorum,
        members,
    }
}

/// A roster file carrying the signature of each `(code, key)` given.
pub fn signed_by(body: &RosterBody, signers: &[(MemberCode, &SigningKey)]) -> RosterFile {
    let mut file = RosterFile {
        body: body.clone(),
        signatures: Vec::new(),
    };
    for (code, key) in signers {
        file.add_signature(body.sign(*code, key));
    }
    file
}

impl Network {
    /// A network of `members`, each with a seeded key, whose roster all of them signed.
    pub fn new(members: &[&str]) -> Self {
        let codes: Vec<MemberCode> = members.iter().map(|text| code(text)).collect();
        let keys: Vec<(MemberCode, SigningKey)> = codes
            .iter()
            .copied()
            .zip(seeded_keys(codes.len()))
            .collect();
        let signing_keys: Vec<SigningKey> = keys.iter().map(|(_, key)| key.clone()).collect();
        let body = roster_body(&codes, &signing_keys);
        let signers: Vec<(MemberCode, &SigningKey)> =
            keys.iter().map(|(code, key)| (*code, key)).collect();
        let file = signed_by(&body, &signers);
        let roster = file
            .verify()
            .expect("a roster every member signed verifies");
        Self { roster, file, keys }
    }

    /// The signing key of `member`.
    pub fn key(&self, member: MemberCode) -> &SigningKey {
        let (_, key) = self
            .keys
            .iter()
            .find(|(code, _)| *code == member)
            .expect("a member");
        key
    }

    /// An entry of this network by `author`.
    pub fn entry(&self, author: MemberCode, seq: u64, prev: Hash, body: Body) -> Entry {
        Entry {
            network: self.roster.id(),
            author,
            seq,
            prev,
            issued_at_ms: 1_000,
            body,
        }
    }

    /// The wire bytes of `entry` signed with `signer`'s key, whoever the entry names.
    pub fn signed_bytes_by(&self, entry: Entry, signer: MemberCode) -> Vec<u8> {
        let signed = entry.sign(self.key(signer)).expect("test entries encode");
        signed.to_bytes().expect("test entries encode")
    }

    /// The wire bytes of `entry` signed by its author.
    pub fn signed_bytes(&self, entry: Entry) -> Vec<u8> {
        let author = entry.author;
        self.signed_bytes_by(entry, author)
    }
}

/// A body that is valid whatever its issue time.
pub fn remove_contact(id: &str) -> Body {
    Body::ContactRemove { id: id.into() }
}
