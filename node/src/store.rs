//! The node's redb store: entries, heads, fork evidence and the derived views.
//!
//! One redb file per node. Everything an applied batch changes (entries, heads, views,
//! arrival times) is written in one write transaction, so a crash leaves all of it or none
//! of it. Table layouts are in `docs/storage.md`. redb is synchronous: async callers go
//! through `spawn_blocking`.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use redb::{
    Database, Durability, ReadTransaction, ReadableDatabase, ReadableTable, TableDefinition,
    WriteTransaction,
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

/// Handle to the store; cheap to clone, safe to share between threads.
#[derive(Clone)]
pub struct Store {
    db: Arc<Database>,
}

impl Store {
    /// Opens or creates the store file, creating every table so readers never miss one. A
    /// new file is readable by its owner only: it holds the directory's contact data.
    pub fn open(path: &Path) -> Result<Self> {
        crate::files::create_private_file(path)?;
        let db = Database::create(path)
            .with_context(|| format!("cannot open store {}", path.display()))?;
        Self::with_tables(db)
    }

    /// Opens an existing store file for maintenance, never creating one: a mistyped path
    /// is an error, not a new empty store. redb verifies the checksum of every page as it
    /// opens the file, so damage done outside redb is an error here rather than a panic
    /// later. Fails with [`redb::DatabaseError::DatabaseAlreadyOpen`] in the chain while
    /// another process (a running node) has the file open.
    pub fn open_existing(path: &Path) -> Result<Self> {
        let db = Database::builder()
            .set_check_integrity_on_open(true)
            .open(path)
            .with_context(|| format!("cannot open store {}", path.display()))?;
        Self::with_tables(db)
    }

    fn with_tables(db: Database) -> Result<Self> {
        let store = Self { db: Arc::new(db) };
        let txn = store.db.begin_write()?;
        txn.open_table(ENTRIES)?;
        txn.open_table(HEADS)?;
        txn.open_table(FORKS)?;
        txn.open_table(ARRIVALS)?;
        views::create_tables(&txn)?;
        txn.commit().context("cannot initialise store tables")?;
        Ok(store)
    }

    /// Starts a write batch. Only one exists at a time; a second caller waits.
    pub fn batch(&self) -> Result<Batch> {
        Ok(Batch {
            txn: self
                .db
                .begin_write()
                .context("cannot start write transaction")?,
        })
    }

    /// Makes every deferred batch durable, with one empty durable commit.
    pub fn flush(&self) -> Result<()> {
        let txn = self
            .db
            .begin_write()
            .context("cannot start write transaction")?;
        txn.commit().context("cannot flush deferred commits")
    }

    /// A consistent read snapshot.
    pub fn read(&self) -> Result<ReadTransaction> {
        self.db
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
        let txn = self.db.begin_write()?;
        views::clear(&txn)?;
        let count = replay_views(&txn)?;
        txn.commit().context("cannot commit rebuilt views")?;
        Ok(count)
    }
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
