//! Fixtures for the node's integration tests: a three-member network with seeded keys, feeds
//! that sign their next entry, bodies of every kind, and a ledger over a store in a temporary
//! directory.

// Each test binary compiles this module and uses a different part of it.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock};

use ed25519_dalek::SigningKey;
use rand::SeedableRng;
use rand::rngs::StdRng;
use tempfile::TempDir;
use vigia_node::ledger::{Ingested, Ledger};
use vigia_node::store::Store;
use vigia_node::views::{self, AckRecord, AlertRecord, ContactRecord, InstitutionRecord};
use vigia_protocol::body::{
    Acknowledgement, Alert, AlertReference, AlertRelation, Availability, Certainty, Contact,
    Institution, InstitutionKind, LocalizedNames, Recipients, Severity, Tlp, Urgency,
};
use vigia_protocol::entry::{Head, hash_signed_bytes};
use vigia_protocol::roster::{Member, NodeRecord, RosterBody, RosterFile};
use vigia_protocol::{Body, Entry, EntryRef, Hash, MemberCode, PublicKey, Roster};

/// Seed of every test key, so a failing case names the same keys on every run.
pub const SEED: u64 = u64::from_be_bytes(*b"vigia\0\0\0");

/// The members of the fixture network, in roster order; the ledger under test is the first.
pub const MEMBERS: [&str; 3] = ["AR", "BR", "CL"];

/// When every fixture entry is issued (author's clock).
pub const ISSUED_AT_MS: u64 = 1_750_000_000_000;

/// When the node under test receives what it is given, unless a test says otherwise.
pub const NOW_MS: u64 = ISSUED_AT_MS + 5_000;

/// One day, how long fixture alerts stay in force.
const DAY_MS: u64 = 24 * 60 * 60 * 1_000;

/// A network: its verified roster and each member's key.
pub struct Network {
    /// The roster every member signed.
    pub roster: Arc<Roster>,
    /// Member codes with their signing keys, in roster order.
    pub keys: Vec<(MemberCode, SigningKey)>,
}

static NETWORK: LazyLock<Network> = LazyLock::new(|| Network::named("Vigía test"));

/// The shared fixture network.
pub fn network() -> &'static Network {
    &NETWORK
}

/// Parses a member code the test knows to be valid.
pub fn code(text: &str) -> MemberCode {
    text.parse().expect("test member codes are two capitals")
}

impl Network {
    /// A network of [`MEMBERS`] with the seeded keys, whose roster all of them signed. Two
    /// networks with different names share keys but not their id.
    pub fn named(name: &str) -> Self {
        let mut rng = StdRng::seed_from_u64(SEED);
        let keys: Vec<(MemberCode, SigningKey)> = MEMBERS
            .iter()
            .map(|text| (code(text), SigningKey::generate(&mut rng)))
            .collect();
        let body = RosterBody {
            network: name.into(),
            quorum: 2,
            members: keys.iter().map(|(code, key)| member(*code, key)).collect(),
        };
        let mut file = RosterFile {
            body: body.clone(),
            signatures: Vec::new(),
        };
        for (code, key) in &keys {
            file.add_signature(body.sign(*code, key));
        }
        let roster = file
            .verify()
            .expect("a roster every member signed verifies");
        Self {
            roster: Arc::new(roster),
            keys,
        }
    }

    /// The signing key of `member`.
    pub fn key(&self, member: MemberCode) -> &SigningKey {
        let (_, key) = self
            .keys
            .iter()
            .find(|(code, _)| *code == member)
            .expect("a member of the fixture network");
        key
    }

    /// An empty feed of `author`, signed with its own key.
    pub fn feed(&self, author: MemberCode) -> Feed {
        self.forged_feed(author, author)
    }

    /// An empty feed that names `author` but is signed with `signer`'s key.
    pub fn forged_feed(&self, author: MemberCode, signer: MemberCode) -> Feed {
        Feed {
            network: self.roster.id(),
            author,
            key: self.key(signer).clone(),
            head: None,
        }
    }
}

fn member(code: MemberCode, key: &SigningKey) -> Member {
    Member {
        code,
        name: format!("Estado {code}"),
        signing_key: PublicKey(key.verifying_key().to_bytes()),
        nodes: vec![NodeRecord {
            peer_id: format!("12D3KooW{code}"),
            addresses: vec![format!("/ip4/127.0.0.1/udp/4001/quic-v1/{code}")],
        }],
    }
}

/// An entry in wire form with the reference other entries use for it.
#[derive(Debug, Clone)]
pub struct Signed {
    /// Wire bytes.
    pub bytes: Vec<u8>,
    /// Author, sequence number and hash.
    pub reference: EntryRef,
}

/// The writer's side of one feed: signs entries that extend it.
#[derive(Clone)]
pub struct Feed {
    network: Hash,
    author: MemberCode,
    key: SigningKey,
    head: Option<Head>,
}

impl Feed {
    /// Signs `body` as the next entry and makes it the head.
    pub fn next(&mut self, body: Body) -> Signed {
        let (seq, prev) = self
            .head
            .map_or((1, Hash::ZERO), |head| (head.seq + 1, head.hash));
        let signed = self.sign(seq, prev, body);
        self.head = Some(Head {
            seq,
            hash: signed.reference.hash,
        });
        signed
    }

    /// Signs an entry at any position without moving the head.
    pub fn sign(&self, seq: u64, prev: Hash, body: Body) -> Signed {
        let entry = Entry {
            network: self.network,
            author: self.author,
            seq,
            prev,
            issued_at_ms: ISSUED_AT_MS,
            body,
        };
        let hash = hash_signed_bytes(&entry.signed_bytes().expect("test entries encode"));
        let bytes = entry
            .sign(&self.key)
            .and_then(|signed| signed.to_bytes())
            .expect("test entries encode");
        let reference = EntryRef {
            author: self.author,
            seq,
            hash,
        };
        Signed { bytes, reference }
    }

    /// The latest entry signed with [`Feed::next`].
    pub fn head(&self) -> Option<Head> {
        self.head
    }
}

/// A valid contact of an institution.
pub fn contact(id: &str, institution_id: &str) -> Body {
    contact_with(id, institution_id, "+541143701234", "")
}

/// A contact with the given phone and notes (notes make entries of a chosen size).
pub fn contact_with(id: &str, institution_id: &str, phone: &str, notes: &str) -> Body {
    Body::ContactPut(Contact {
        id: id.into(),
        given_names: "María José".into(),
        family_names: "Pereyra Souza".into(),
        institution_id: institution_id.into(),
        role: "Oficial de guardia".into(),
        emails: vec!["guardia@seguridad.example.org".into()],
        phones: vec![phone.into()],
        languages: vec!["es".into(), "pt".into()],
        availability: Availability::AlwaysOn,
        notes: notes.into(),
    })
}

/// Removes one of the author's contacts.
pub fn contact_remove(id: &str) -> Body {
    Body::ContactRemove { id: id.into() }
}

/// A valid institution.
pub fn institution(id: &str) -> Body {
    Body::InstitutionPut(Institution {
        id: id.into(),
        name: format!("Policía Federal {id}"),
        names: LocalizedNames {
            en: Some("Federal Police".into()),
            ..LocalizedNames::default()
        },
        kind: InstitutionKind::Police,
        address: "Avenida Siempre Viva 742".into(),
        phones: vec!["+541143705678".into()],
        emails: vec!["mesa@policia.example.org".into()],
    })
}

/// Removes one of the author's institutions.
pub fn institution_remove(id: &str) -> Body {
    Body::InstitutionRemove { id: id.into() }
}

/// An alert to the whole network that references nothing.
pub fn alert(id: &str) -> Body {
    Body::Alert(alert_record(id, None))
}

/// An alert that updates or cancels `target`.
pub fn alert_about(id: &str, relation: AlertRelation, target: EntryRef) -> Body {
    let reference = AlertReference {
        relation,
        alert: target,
    };
    Body::Alert(alert_record(id, Some(reference)))
}

fn alert_record(id: &str, references: Option<AlertReference>) -> Alert {
    Alert {
        id: id.into(),
        title: format!("Alerta {id}"),
        description: "Vehículo robado cruzando la frontera".into(),
        severity: Severity::Severe,
        urgency: Urgency::Immediate,
        certainty: Certainty::Likely,
        tlp: Tlp::Amber,
        recipients: Recipients::Network,
        expires_at_ms: ISSUED_AT_MS + DAY_MS,
        respond_by_ms: None,
        references,
    }
}

/// Acknowledges `alert`.
pub fn acknowledgement(alert: EntryRef, note: &str) -> Body {
    Body::Acknowledgement(Acknowledgement {
        alert,
        note: Some(note.into()),
    })
}

/// Everything the derived views hold, for comparing two stores or two moments.
#[derive(Debug, PartialEq, Eq)]
pub struct Views {
    /// Every contact.
    pub contacts: Vec<ContactRecord>,
    /// Every institution.
    pub institutions: Vec<InstitutionRecord>,
    /// Every alert.
    pub alerts: Vec<AlertRecord>,
    /// The acknowledgements of each alert held.
    pub acknowledgements: BTreeMap<EntryRef, Vec<AckRecord>>,
}

/// Reads every view of `store` in one snapshot.
pub fn views_of(store: &Store) -> Views {
    let read = store.read().expect("read transaction");
    let alerts = views::alerts(&read).expect("alerts view");
    let acknowledgements = alerts
        .iter()
        .map(|record| {
            let acks = views::acknowledgements(&read, &record.entry).expect("acks view");
            (record.entry, acks)
        })
        .collect();
    Views {
        contacts: views::contacts(&read).expect("contacts view"),
        institutions: views::institutions(&read).expect("institutions view"),
        alerts,
        acknowledgements,
    }
}

/// Every entry `store` holds of `author`, in wire form.
pub fn feed_of(store: &Store, author: MemberCode) -> Vec<Vec<u8>> {
    store
        .entries(author, 1, usize::MAX, usize::MAX)
        .expect("entries readable")
}

/// A ledger of the first member over a store in its own temporary directory.
pub struct Fixture {
    /// Holds the store file; removed on drop.
    pub dir: TempDir,
    /// The store the ledger writes.
    pub store: Store,
    /// The ledger under test.
    pub ledger: Ledger,
}

impl Fixture {
    /// A fresh, empty store and its ledger.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let (store, ledger) = open(&dir);
        Self { dir, store, ledger }
    }

    /// Closes the ledger and the store, then opens both again from the same file.
    pub fn reopen(self) -> Self {
        let Self { dir, store, ledger } = self;
        drop(ledger);
        drop(store);
        let (store, ledger) = open(&dir);
        Self { dir, store, ledger }
    }

    /// Gives the ledger entries in one call, received at [`NOW_MS`].
    pub fn ingest(&mut self, entries: &[&Signed]) -> Ingested {
        let items: Vec<Vec<u8>> = entries.iter().map(|signed| signed.bytes.clone()).collect();
        self.ingest_bytes(&items, NOW_MS)
    }

    /// Gives the ledger raw items in one call.
    pub fn ingest_bytes(&mut self, items: &[Vec<u8>], now_ms: u64) -> Ingested {
        self.ledger
            .ingest(items, now_ms)
            .expect("the store accepts writes")
    }
}

/// The ledger's own member.
pub fn own() -> MemberCode {
    code(MEMBERS[0])
}

fn open(dir: &TempDir) -> (Store, Ledger) {
    let store = Store::open(&dir.path().join("vigia.redb")).expect("store opens");
    let network = network();
    let ledger = Ledger::new(
        store.clone(),
        network.roster.clone(),
        own(),
        network.key(own()).clone(),
    )
    .expect("the member and key match the roster");
    (store, ledger)
}
