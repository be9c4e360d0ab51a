//! Fixtures for the workspace's test harnesses: members with keys derived from a seed, free
//! loopback ports, a founding roster every member signed, and a store whose disk can be
//! made to fill up ([`inject_store_faults`]).
//!
//! Keys come from a seed so that a failing run can be reproduced; ports are picked free on
//! loopback (TCP and UDP alike) because the roster must name every node's addresses before
//! any node starts. Only built with the `testing` feature.

use std::net::{TcpListener, UdpSocket};

use ed25519_dalek::SigningKey;
use libp2p::identity::Keypair;
use sha2::{Digest, Sha256};
use vigia_protocol::entry::hash_signed_bytes;
use vigia_protocol::roster::{Member, NodeRecord, RosterBody, RosterFile};
use vigia_protocol::{Body, Entry, Hash, MemberCode, PublicKey, Roster};

/// Deterministic 32 bytes from a seed and a label.
pub fn seeded_secret(seed: u64, label: &str) -> [u8; 32] {
    Sha256::new()
        .chain_update(seed.to_le_bytes())
        .chain_update(label.as_bytes())
        .finalize()
        .into()
}

/// A port free on 127.0.0.1 for both TCP and UDP right now.
pub fn free_port() -> u16 {
    loop {
        let tcp = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let port = tcp.local_addr().expect("local address").port();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// One member of a test network: its keys and the port its node listens on.
pub struct TestMember {
    /// Its code.
    pub code: MemberCode,
    /// Its name in the roster (what a directory search by country matches).
    pub name: String,
    /// Its signing key.
    pub signing_key: SigningKey,
    /// Its node's libp2p identity secret.
    pub identity_secret: [u8; 32],
    /// The port its node listens on, TCP and UDP (QUIC).
    pub port: u16,
}

impl TestMember {
    /// A member named `name` with keys derived from `seed` and a free port.
    pub fn seeded(code: &str, name: &str, seed: u64) -> Self {
        Self {
            code: code.parse().expect("valid member code"),
            name: name.to_owned(),
            signing_key: SigningKey::from_bytes(&seeded_secret(seed, &format!("{code}/member"))),
            identity_secret: seeded_secret(seed, &format!("{code}/node")),
            port: free_port(),
        }
    }

    /// Its node's identity.
    pub fn identity(&self) -> Keypair {
        let mut secret = self.identity_secret;
        Keypair::ed25519_from_bytes(&mut secret).expect("32-byte secret")
    }

    /// Its record in the roster: one node on 127.0.0.1 over QUIC and TCP.
    pub fn roster_member(&self) -> Member {
        let port = self.port;
        Member {
            code: self.code,
            name: self.name.clone(),
            signing_key: PublicKey(self.signing_key.verifying_key().to_bytes()),
            nodes: vec![NodeRecord {
                peer_id: self.identity().public().to_peer_id().to_string(),
                addresses: vec![
                    format!("/ip4/127.0.0.1/udp/{port}/quic-v1"),
                    format!("/ip4/127.0.0.1/tcp/{port}"),
                ],
            }],
        }
    }
}

/// The founding roster file of network `name`, signed by every member.
pub fn signed_roster_file(name: &str, members: &[TestMember]) -> RosterFile {
    let body = RosterBody {
        network: name.into(),
        quorum: u32::try_from(members.len())
            .expect("few members")
            .div_ceil(2),
        members: members.iter().map(TestMember::roster_member).collect(),
    };
    let mut file = RosterFile {
        body: body.clone(),
        signatures: Vec::new(),
    };
    for member in members {
        file.add_signature(body.sign(member.code, &member.signing_key));
    }
    file
}

/// The founding roster of network `name`, signed by every member and verified.
pub fn signed_roster(name: &str, members: &[TestMember]) -> Roster {
    signed_roster_file(name, members)
        .verify()
        .expect("test roster verifies")
}

/// The first `count` entries of `author`'s feed as wire bytes, the body of entry `seq` made
/// by `body(seq)`, all issued now.
pub fn signed_feed(
    roster: &Roster,
    author: &TestMember,
    count: u64,
    body: impl Fn(u64) -> Body,
) -> Vec<Vec<u8>> {
    let mut prev = Hash::ZERO;
    let issued_at_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as u64;
    (1..=count)
        .map(|seq| {
            let entry = Entry {
                network: roster.id(),
                author: author.code,
                seq,
                prev,
                issued_at_ms,
                body: body(seq),
            };
            prev = hash_signed_bytes(&entry.signed_bytes().expect("encodes"));
            entry
                .sign(&author.signing_key)
                .and_then(|signed| signed.to_bytes())
                .expect("encodes")
        })
        .collect()
}

/// A disk a test can fill: while full, every write to the store file fails as a full disk
/// does, with `ENOSPC`. Reads still work, as on a real full disk.
#[derive(Debug, Default)]
pub struct StoreFaults {
    full: std::sync::atomic::AtomicBool,
}

impl StoreFaults {
    /// Fills the disk (`true`) or frees space on it (`false`).
    pub fn set_full(&self, full: bool) {
        self.full.store(full, std::sync::atomic::Ordering::SeqCst);
    }

    fn check(&self) -> Result<(), redb::BackendError> {
        if self.full.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(redb::BackendError::Io(std::io::Error::from_raw_os_error(
                28, // ENOSPC
            )));
        }
        Ok(())
    }
}

/// Stores opened at these paths go through [`StoreFaults`].
static FAULTY_STORES: std::sync::Mutex<Vec<(std::path::PathBuf, std::sync::Arc<StoreFaults>)>> =
    std::sync::Mutex::new(Vec::new());

/// Makes every store opened at `path` from now on (a node's, and each reopening) write
/// through the returned switch.
pub fn inject_store_faults(path: &std::path::Path) -> std::sync::Arc<StoreFaults> {
    let faults = std::sync::Arc::new(StoreFaults::default());
    let mut stores = FAULTY_STORES.lock().expect("faulty stores lock");
    stores.retain(|(known, _)| known != path);
    stores.push((path.to_owned(), faults.clone()));
    faults
}

/// The fault-injecting backend of the store at `path`, if a test asked for one.
pub(crate) fn faulty_backend(path: &std::path::Path) -> anyhow::Result<Option<FaultyBackend>> {
    let faults = {
        let stores = FAULTY_STORES
            .lock()
            .map_err(|_| anyhow::anyhow!("faulty stores lock poisoned"))?;
        stores
            .iter()
            .find(|(known, _)| known == path)
            .map(|(_, faults)| faults.clone())
    };
    let Some(faults) = faults else {
        return Ok(None);
    };
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)?;
    Ok(Some(FaultyBackend {
        file: redb::backends::FileBackend::new(file),
        faults,
    }))
}

/// redb's file backend, with writes failing while [`StoreFaults`] says the disk is full.
#[derive(Debug)]
pub(crate) struct FaultyBackend {
    file: redb::backends::FileBackend,
    faults: std::sync::Arc<StoreFaults>,
}

type Bound = std::ops::Bound<u64>;

impl redb::StorageBackend for FaultyBackend {
    fn len(&self) -> Result<u64, redb::BackendError> {
        self.file.len()
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), redb::BackendError> {
        self.file.read(offset, out)
    }

    fn set_len(&self, len: u64) -> Result<(), redb::BackendError> {
        self.faults.check()?;
        self.file.set_len(len)
    }

    fn sync_data(&self) -> Result<(), redb::BackendError> {
        self.faults.check()?;
        self.file.sync_data()
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), redb::BackendError> {
        self.faults.check()?;
        self.file.write(offset, data)
    }

    fn close(&self) -> Result<(), redb::BackendError> {
        self.file.close()
    }

    fn try_lock_range(&self, start: Bound, end: Bound) -> Result<bool, redb::BackendError> {
        self.file.try_lock_range(start, end)
    }

    fn try_lock_shared_range(&self, start: Bound, end: Bound) -> Result<bool, redb::BackendError> {
        self.file.try_lock_shared_range(start, end)
    }

    fn lock_range(&self, start: Bound, end: Bound) -> Result<(), redb::BackendError> {
        self.file.lock_range(start, end)
    }

    fn lock_shared_range(&self, start: Bound, end: Bound) -> Result<(), redb::BackendError> {
        self.file.lock_shared_range(start, end)
    }

    fn unlock_range(&self, start: Bound, end: Bound) -> Result<(), redb::BackendError> {
        self.file.unlock_range(start, end)
    }

    fn query_lock_range(&self, start: Bound, end: Bound) -> Result<bool, redb::BackendError> {
        self.file.query_lock_range(start, end)
    }
}
