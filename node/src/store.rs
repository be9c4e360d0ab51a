//! The node's redb store: entries, heads, fork evidence and the derived views.
//!
//! One redb file per node. Everything an applied batch changes (entries, heads, views,
//! arrival times) is written in one write transaction, so a crash leaves all of it or none
//! of it. Table layouts are in `docs/storage.md`. redb is synchronous: async callers go
//! through `spawn_blocking`.
//!
//! Write failures: once a write fails with an I/O error (a full disk), redb refuses every
//! later write of the same handle ("previous I/O error"), while the file itself stays
//! consistent. [`Store::reopen`] drops the handle and opens the file again, which is the only
//! way back; [`crate::ledger::Ledger`], the one writer, decides when. The reason stays in
//! [`Store::write_failure`] until then, for the health check.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use anyhow::{Context, Result, bail};
use redb::{
    CommitError, Database, Durability, ReadTransaction, ReadableDatabase, ReadableTable,
    StorageError, TableDefinition, TableError, TransactionError, WriteTransaction,
};
use vigia_protocol::entry::Head;
use vigia_protocol::validate::{Fork, VerifiedEntry};
use vigia_protocol::{Hash, MemberCode};

use crate::views;

/// (author, seq) → entry hash ‖ entry wire bytes.
pub(crate) const ENTRIES: TableDefinition<(u16, u64), &[u8]> = TableDefinition::new("entries");
/// author → seq (8 bytes, big-endian) ‖ hash of the latest applied entry.
pub(crate) const HEADS: TableDefinition<u16, &[u8]> = TableDefinition::new("heads");
/// (author, seq, conflicting hash) → the conflicting entry's wire bytes.
pub(crate) const FORKS: TableDefinition<(u16, u64, &[u8]), &[u8]> = TableDefinition::new("forks");
/// (author, seq) → local arrival time (ms since the epoch). Not derived: survives rebuilds.
pub(crate) const ARRIVALS: TableDefinition<(u16, u64), u64> = TableDefinition::new("arrivals");

/// Attempts to open the file again, in one [`Store::reopen`], while a read still holds the
/// old handle.
const REOPEN_TRIES: u32 = 5;
/// Pause between two of them.
const REOPEN_PAUSE: std::time::Duration = std::time::Duration::from_millis(20);

/// A fork kept as evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForkEvidence {
    /// The member whose key signed two histories.
    pub author: MemberCode,
    /// Where they differ.
    pub seq: u64,
    /// Hash of the conflicting entry (the one not applied).
    pub conflicting: Hash,
    /// Its wire bytes.
    pub bytes: Vec<u8>,
}

/// Handle to the store; cheap to clone, safe to share between threads. Every clone sees the
/// same file handle, reopened or not.
#[derive(Clone)]
pub struct Store {
    shared: Arc<Shared>,
}

struct Shared {
    path: PathBuf,
    /// The open file; `None` between dropping a failed handle and opening the file again.
    db: RwLock<Option<Arc<Database>>>,
    /// Why writes fail, while they do.
    write_failure: Mutex<Option<String>>,
    /// Check every page when the file is opened (maintenance, which never creates one) or
    /// not (a node's start).
    check_integrity: bool,
}

impl Store {
    /// Opens or creates the store file, creating every table so readers never miss one. A
    /// new file is readable by its owner only: it holds the directory's contact data.
    pub fn open(path: &Path) -> Result<Self> {
        crate::files::create_private_file(path)?;
        Self::with_tables(path, false)
    }

    /// Opens an existing store file for maintenance, never creating one: a mistyped path
    /// is an error, not a new empty store. redb verifies the checksum of every page as it
    /// opens the file, so damage done outside redb is an error here rather than a panic
    /// later. Fails with [`redb::DatabaseError::DatabaseAlreadyOpen`] in the chain while
    /// another process (a running node) has the file open.
    pub fn open_existing(path: &Path) -> Result<Self> {
        Self::with_tables(path, true)
    }

    fn with_tables(path: &Path, check_integrity: bool) -> Result<Self> {
        let db = open_database(path, check_integrity, !check_integrity)?;
        let store = Self {
            shared: Arc::new(Shared {
                path: path.to_owned(),
                db: RwLock::new(Some(Arc::new(db))),
                write_failure: Mutex::new(None),
                check_integrity,
            }),
        };
        let txn = store.db()?.begin_write()?;
        txn.open_table(ENTRIES)?;
        txn.open_table(HEADS)?;
        txn.open_table(FORKS)?;
        txn.open_table(ARRIVALS)?;
        views::create_tables(&txn)?;
        txn.commit().context("cannot initialise store tables")?;
        Ok(store)
    }

    /// The open file handle.
    fn db(&self) -> Result<Arc<Database>> {
        let slot = self
            .shared
            .db
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        slot.clone()
            .context("the store is closed while it is opened again after a write failure")
    }

    /// Drops the file handle and opens the file again: after a failed write, redb refuses
    /// every write of the old handle. Fails, leaving the store closed until the next call,
    /// while a reader still holds the old handle (redb locks the file per handle) or the
    /// file cannot be opened.
    pub fn reopen(&self) -> Result<()> {
        let mut slot = self
            .shared
            .db
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        drop(slot.take());
        // A read that started before the drop holds the old handle's lock for as long as
        // it runs, a few ms; a short wait here keeps reads from failing until the next try.
        let mut tries = 0;
        let db = loop {
            match open_database(&self.shared.path, self.shared.check_integrity, false) {
                Ok(db) => break db,
                Err(_) if tries < REOPEN_TRIES => tries += 1,
                Err(err) => return Err(err),
            }
            std::thread::sleep(REOPEN_PAUSE);
        };
        *slot = Some(Arc::new(db));
        Ok(())
    }

    /// Whether writes fail (see [`Store::write_failure`]).
    pub fn is_failing(&self) -> bool {
        let failure = self.shared.write_failure.lock();
        failure.unwrap_or_else(PoisonError::into_inner).is_some()
    }

    /// Why writes fail, while they do (set by the ledger, which reopens the store).
    pub fn write_failure(&self) -> Option<String> {
        let failure = self.shared.write_failure.lock();
        failure.unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Records why writes fail, or that they work again.
    pub fn set_write_failure(&self, reason: Option<String>) {
        let mut failure = self
            .shared
            .write_failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *failure = reason;
    }

    /// Starts a write batch. Only one exists at a time; a second caller waits.
    pub fn batch(&self) -> Result<Batch> {
        Ok(Batch {
            txn: self
                .db()?
                .begin_write()
                .context("cannot start write transaction")?,
        })
    }

    /// Makes every deferred batch durable, with one empty durable commit.
    pub fn flush(&self) -> Result<()> {
        let txn = self
            .db()?
            .begin_write()
            .context("cannot start write transaction")?;
        txn.commit().context("cannot flush deferred commits")
    }

    /// A consistent read snapshot.
    pub fn read(&self) -> Result<ReadTransaction> {
        self.db()?
            .begin_read()
            .context("cannot start read transaction")
    }

    /// The head of every feed held.
    pub fn heads(&self) -> Result<BTreeMap<MemberCode, Head>> {
        heads_in(&self.read()?)
    }

    /// Up to `max_entries` consecutive entries of `author` from `from_seq`, stopping before
    /// the total passes `max_bytes` (at least one entry is returned if there is one).
    pub fn entries(
        &self,
        author: MemberCode,
        from_seq: u64,
        max_entries: usize,
        max_bytes: usize,
    ) -> Result<Vec<Vec<u8>>> {
        let table = self.read()?.open_table(ENTRIES)?;
        let key = author.to_u16();
        let mut page = Vec::new();
        let mut total = 0;
        for row in table.range((key, from_seq)..=(key, u64::MAX))? {
            let (_, value) = row?;
            let bytes = &value.value()[Hash::LEN..];
            if page.len() == max_entries || (!page.is_empty() && total + bytes.len() > max_bytes) {
                break;
            }
            total += bytes.len();
            page.push(bytes.to_vec());
        }
        Ok(page)
    }

    /// Every fork kept as evidence.
    pub fn forks(&self) -> Result<Vec<ForkEvidence>> {
        let table = self.read()?.open_table(FORKS)?;
        let mut forks = Vec::new();
        for row in table.iter()? {
            let (key, value) = row?;
            let (author, seq, hash) = key.value();
            forks.push(ForkEvidence {
                author: member(author)?,
                seq,
                conflicting: Hash(
                    hash.try_into()
                        .context("fork key hash has the wrong length")?,
                ),
                bytes: value.value().to_vec(),
            });
        }
        Ok(forks)
    }

    /// When this node first received an entry, if it recorded it.
    pub fn arrival_ms(&self, author: MemberCode, seq: u64) -> Result<Option<u64>> {
        let table = self.read()?.open_table(ARRIVALS)?;
        Ok(table
            .get((author.to_u16(), seq))?
            .map(|value| value.value()))
    }

    /// Drops every derived view and rebuilds it from the entries, in one transaction.
    pub fn rebuild_views(&self) -> Result<u64> {
        let txn = self.db()?.begin_write()?;
        views::clear(&txn)?;
        let count = replay_views(&txn)?;
        txn.commit().context("cannot commit rebuilt views")?;
        Ok(count)
    }
}

/// Opens the store file (creating it if `create`), through the fault-injecting backend a
/// test set up for it, if any.
fn open_database(path: &Path, check_integrity: bool, create: bool) -> Result<Database> {
    let mut builder = Database::builder();
    builder.set_check_integrity_on_open(check_integrity);
    #[cfg(feature = "testing")]
    if let Some(backend) = crate::testing::faulty_backend(path)? {
        return builder
            .create_with_backend(backend)
            .with_context(|| format!("cannot open store {}", path.display()));
    }
    let opened = if create {
        builder.create(path)
    } else {
        builder.open(path)
    };
    opened.with_context(|| format!("cannot open store {}", path.display()))
}

/// The I/O failure in `error`'s chain after which redb refuses every write until the store
/// is reopened, as text for people; `None` for any other error.
pub fn write_failure_in(error: &anyhow::Error) -> Option<String> {
    error.chain().find_map(|cause| {
        let storage = if let Some(storage) = cause.downcast_ref::<StorageError>() {
            storage
        } else if let Some(CommitError::Storage(storage)) = cause.downcast_ref() {
            storage
        } else if let Some(TransactionError::Storage(storage)) = cause.downcast_ref() {
            storage
        } else if let Some(TableError::Storage(storage)) = cause.downcast_ref() {
            storage
        } else {
            return None;
        };
        match storage {
            StorageError::Io(io) => Some(io.to_string()),
            StorageError::PreviousIo => Some("an earlier write failed".to_owned()),
            _ => None,
        }
    })
}

/// Applies every entry of `txn`'s `entries`, in key order, to views that start empty;
/// returns how many entries it applied.
pub(crate) fn replay_views(txn: &WriteTransaction) -> Result<u64> {
    let entries = txn.open_table(ENTRIES)?;
    let mut count = 0;
    for row in entries.iter()? {
        let (_, value) = row?;
        // The hash first: it fails on a value too short to slice.
        let hash = stored_hash(value.value())?;
        let signed = vigia_protocol::SignedEntry::from_bytes(&value.value()[Hash::LEN..])
            .context("stored entry does not decode")?;
        views::apply(txn, &signed, hash)?;
        count += 1;
    }
    Ok(count)
}

/// A write transaction that applies entries. Nothing is visible until [`Batch::commit`].
pub struct Batch {
    txn: WriteTransaction,
}

impl Batch {
    /// The hash held at `seq` of `author`'s feed.
    pub fn hash_at(&self, author: MemberCode, seq: u64) -> Result<Option<Hash>> {
        let table = self.txn.open_table(ENTRIES)?;
        let value = table.get((author.to_u16(), seq))?;
        value.map(|value| stored_hash(value.value())).transpose()
    }

    /// Appends an entry that extends its feed: entry, head, arrival and views.
    pub fn append(&mut self, entry: &VerifiedEntry, received_at_ms: u64) -> Result<()> {
        let author = entry.signed.entry.author.to_u16();
        let seq = entry.signed.entry.seq;
        let mut stored = Vec::with_capacity(Hash::LEN + entry.bytes.len());
        stored.extend_from_slice(&entry.hash.0);
        stored.extend_from_slice(&entry.bytes);
        self.txn
            .open_table(ENTRIES)?
            .insert((author, seq), stored.as_slice())?;
        self.txn
            .open_table(HEADS)?
            .insert(author, encode_head(&entry.as_head()).as_slice())?;
        self.txn
            .open_table(ARRIVALS)?
            .insert((author, seq), received_at_ms)?;
        views::apply(&self.txn, &entry.signed, entry.hash)
    }

    /// Keeps a conflicting entry as evidence. Returns false if it was already kept.
    pub fn record_fork(&mut self, fork: &Fork, entry: &VerifiedEntry) -> Result<bool> {
        let mut table = self.txn.open_table(FORKS)?;
        let key = (
            fork.author.to_u16(),
            fork.seq,
            fork.conflicting.0.as_slice(),
        );
        let previous = table.insert(key, entry.bytes.as_slice())?;
        Ok(previous.is_none())
    }

    /// Makes the batch durable, with every deferred batch committed before it.
    pub fn commit(self) -> Result<()> {
        self.txn.commit().context("cannot commit applied entries")
    }

    /// Commits the batch without waiting for the disk: readers see it at once, but a crash
    /// before the next durable commit (see [`Store::flush`]) rolls it back, whole, with
    /// every deferred batch after the last durable one.
    pub fn commit_deferred(mut self) -> Result<()> {
        self.txn
            .set_durability(Durability::None)
            .context("cannot defer the commit")?;
        self.txn.commit().context("cannot commit applied entries")
    }
}

/// The head of every feed in a read snapshot.
pub fn heads_in(read: &ReadTransaction) -> Result<BTreeMap<MemberCode, Head>> {
    let table = read.open_table(HEADS)?;
    let mut heads = BTreeMap::new();
    for row in table.iter()? {
        let (author, value) = row?;
        heads.insert(member(author.value())?, decode_head(value.value())?);
    }
    Ok(heads)
}

fn member(value: u16) -> Result<MemberCode> {
    MemberCode::from_u16(value).context("store holds an invalid member code")
}

/// The hash at the front of an `entries` value.
pub(crate) fn stored_hash(value: &[u8]) -> Result<Hash> {
    match value.get(..Hash::LEN).map(<[u8; 32]>::try_from) {
        Some(Ok(hash)) => Ok(Hash(hash)),
        _ => bail!("stored entry is shorter than its hash"),
    }
}

fn encode_head(head: &Head) -> Vec<u8> {
    let mut bytes = head.seq.to_be_bytes().to_vec();
    bytes.extend_from_slice(&head.hash.0);
    bytes
}

/// A `heads` value: sequence number and hash.
pub(crate) fn decode_head(bytes: &[u8]) -> Result<Head> {
    let (seq, hash) = bytes
        .split_at_checked(8)
        .context("stored head is too short")?;
    let seq = u64::from_be_bytes(seq.try_into()?);
    let hash = Hash(
        hash.try_into()
            .context("stored head hash has the wrong length")?,
    );
    Ok(Head { seq, hash })
}
