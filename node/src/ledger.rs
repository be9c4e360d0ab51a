//! The ledger: decides what to do with each entry and applies feeds to the store.
//!
//! It is the only writer. It owns the in-memory copy of the heads, the buffer of entries
//! that arrived early, and the member's signing key. Callers hand it raw entry bytes from
//! any source and get back, per entry, where it went; everything applied in one call is
//! committed in one transaction.
//!
//! Durability: this member's own entries and fork evidence are on disk before the call
//! returns. Other members' entries may be committed deferred ([`Ledger::ingest_deferred`]):
//! visible at once, on disk at the next durable commit or [`Ledger::flush`]. A crash loses
//! only deferred entries, which peers still hold and sync fetches again; every commit,
//! deferred or not, writes entries and heads together, so the store stays consistent.
//!
//! Write failures: after a write fails with an I/O error (a full disk), the ledger refuses
//! every write at once with [`StoreUnavailable`] and, no more often than a capped backoff
//! allows, reopens the store and reloads its heads from it (a reopened store holds only
//! what reached the disk). Entries that failed to apply came from peers, which still hold
//! them; sync fetches them again. A publish that failed is reported as failed.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use ed25519_dalek::SigningKey;
use vigia_protocol::entry::Head;
use vigia_protocol::validate::{ChainPosition, Fork, ValidationError, VerifiedEntry};
use vigia_protocol::validate::{check_chain, verify_entry};
use vigia_protocol::{Body, Entry, Hash, MemberCode, Roster};

use crate::pending::Pending;
use crate::store::{Batch, Store, write_failure_in};

/// First wait before reopening a store that failed to write: a full disk is rarely freed
/// within a second, and a reopen costs little.
const FIRST_REOPEN_WAIT: Duration = Duration::from_secs(1);
/// Longest wait between two attempts to reopen it, so that writes resume within this long
/// of the disk having room again.
const MAX_REOPEN_WAIT: Duration = Duration::from_secs(5);

/// Where one received entry went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// Appended to its feed.
    Applied,
    /// Already held.
    Duplicate,
    /// Waiting for earlier entries of its feed.
    Buffered {
        /// Its author.
        author: MemberCode,
        /// Its sequence number.
        seq: u64,
    },
    /// Conflicts with the feed held: kept as evidence.
    Fork(Fork),
    /// Invalid on its own: the sender is at fault.
    Rejected(ValidationError),
}

/// What one call to [`Ledger::ingest`] did.
#[derive(Debug, Default)]
pub struct Ingested {
    /// One placement per input, in input order.
    pub placements: Vec<Placement>,
    /// Every entry appended, including earlier arrivals released from the buffer, in the
    /// order applied.
    pub applied: Vec<VerifiedEntry>,
    /// Feeds with a gap: author → first missing sequence number.
    pub gaps: BTreeMap<MemberCode, u64>,
    /// Forks seen for the first time.
    pub new_forks: Vec<Fork>,
}

/// Why the node cannot publish.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PublishError {
    /// The body breaks a protocol rule.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
}

/// The store cannot write: an earlier write failed with an I/O error, and the store has not
/// yet been reopened. Nothing of the refused call was applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("store cannot write: {reason}")]
pub struct StoreUnavailable {
    /// The I/O error of the write that failed, such as "No space left on device".
    pub reason: String,
}

/// A store that failed to write, and when to try reopening it.
#[derive(Debug)]
struct Outage {
    reason: String,
    retry_at: Instant,
    wait: Duration,
}

/// The single writer of a node's store.
pub struct Ledger {
    store: Store,
    roster: Arc<Roster>,
    heads: BTreeMap<MemberCode, Head>,
    pending: Pending,
    member: MemberCode,
    key: SigningKey,
    /// Whether a deferred commit is not yet on disk.
    unflushed: bool,
    /// Set while the store cannot write.
    outage: Option<Outage>,
    /// The store was reopened and the heads reloaded since [`Ledger::take_reopened`].
    reopened: bool,
}

impl Ledger {
    /// Opens the ledger over a store, for the member whose key is given.
    pub fn new(
        store: Store,
        roster: Arc<Roster>,
        member: MemberCode,
        key: SigningKey,
    ) -> Result<Self> {
        let listed = roster
            .member(member)
            .with_context(|| format!("{member} is not in the roster"))?;
        if listed.signing_key.0 != key.verifying_key().to_bytes() {
            bail!("the signing key does not match the roster's key for {member}");
        }
        let heads = store.heads()?;
        Ok(Self {
            store,
            roster,
            heads,
            pending: Pending::default(),
            member,
            key,
            unflushed: false,
            outage: None,
            reopened: false,
        })
    }

    /// Whether the store was reopened since the last call, so that copies of the heads made
    /// before must be replaced with [`Ledger::heads`]: writes deferred before the failure
    /// may be gone.
    pub fn take_reopened(&mut self) -> bool {
        std::mem::take(&mut self.reopened)
    }

    /// Refuses at once while the store cannot write, except when it is time to reopen it.
    fn writable(&mut self) -> Result<()> {
        let Some(outage) = &mut self.outage else {
            return Ok(());
        };
        let unavailable = StoreUnavailable {
            reason: outage.reason.clone(),
        };
        if Instant::now() < outage.retry_at {
            return Err(unavailable.into());
        }
        match self.store.reopen().and_then(|()| self.store.heads()) {
            Ok(heads) => {
                tracing::info!(err = %outage.reason, "store reopened; writes resume");
                self.heads = heads;
                self.unflushed = false;
                self.outage = None;
                self.reopened = true;
                self.store.set_write_failure(None);
                Ok(())
            }
            Err(err) => {
                outage.wait = (outage.wait * 2).min(MAX_REOPEN_WAIT);
                outage.retry_at = Instant::now() + outage.wait;
                tracing::debug!(err = %format!("{err:#}"), "store cannot be reopened yet");
                Err(unavailable.into())
            }
        }
    }

    /// Turns a failed write into [`StoreUnavailable`] when it left the store unable to
    /// write, logging the change once.
    fn failed(&mut self, err: anyhow::Error) -> anyhow::Error {
        let Some(reason) = write_failure_in(&err) else {
            return err;
        };
        let reason = match &self.outage {
            Some(outage) => outage.reason.clone(),
            None => {
                tracing::error!(
                    err = %format!("{err:#}"),
                    "store cannot write; writes stop until it is reopened"
                );
                self.store.set_write_failure(Some(reason.clone()));
                self.outage = Some(Outage {
                    reason: reason.clone(),
                    retry_at: Instant::now() + FIRST_REOPEN_WAIT,
                    wait: FIRST_REOPEN_WAIT,
                });
                reason
            }
        };
        err.context(StoreUnavailable { reason })
    }

    /// The head of every feed held.
    pub fn heads(&self) -> &BTreeMap<MemberCode, Head> {
        &self.heads
    }

    /// Number of entries waiting for a gap to fill.
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// Validates and places received entries; everything applied is committed at once,
    /// durably.
    pub fn ingest(&mut self, items: &[Vec<u8>], now_ms: u64) -> Result<Ingested> {
        self.ingest_with(items, now_ms, false)
    }

    /// As [`Ledger::ingest`], but the commit does not wait for the disk unless it applies
    /// an entry of this member's own feed or keeps fork evidence. For entries that peers
    /// also hold, such as gossip: a flush per entry would cost more than the entry.
    pub fn ingest_deferred(&mut self, items: &[Vec<u8>], now_ms: u64) -> Result<Ingested> {
        self.ingest_with(items, now_ms, true)
    }

    /// Whether a deferred commit is not yet on disk, or the store cannot write: either way
    /// the caller should call [`Ledger::flush`] again soon.
    pub fn is_unflushed(&self) -> bool {
        self.unflushed || self.outage.is_some()
    }

    /// Puts every deferred commit on disk; does nothing if there is none. While the store
    /// cannot write, tries to reopen it when due.
    pub fn flush(&mut self) -> Result<()> {
        self.writable()?;
        if self.unflushed {
            self.store.flush().map_err(|err| self.failed(err))?;
            self.unflushed = false;
        }
        Ok(())
    }

    fn ingest_with(&mut self, items: &[Vec<u8>], now_ms: u64, defer: bool) -> Result<Ingested> {
        self.writable()?;
        self.try_ingest(items, now_ms, defer)
            .map_err(|err| self.failed(err))
    }

    fn try_ingest(&mut self, items: &[Vec<u8>], now_ms: u64, defer: bool) -> Result<Ingested> {
        let mut result = Ingested::default();
        let mut heads = self.heads.clone();
        let checked = verify_all(&self.roster, items);
        let mut batch = self.store.batch()?;
        for checked in checked {
            let placement = match checked {
                Ok(entry) => self.place(&mut batch, &mut heads, entry, now_ms, &mut result)?,
                Err(error) => Placement::Rejected(error),
            };
            result.placements.push(placement);
        }
        if !result.applied.is_empty() || !result.new_forks.is_empty() {
            let own = |entry: &VerifiedEntry| entry.signed.entry.author == self.member;
            if defer && result.new_forks.is_empty() && !result.applied.iter().any(own) {
                batch.commit_deferred()?;
                self.unflushed = true;
            } else {
                batch.commit()?;
                self.unflushed = false;
            }
            self.heads = heads;
        }
        Ok(result)
    }

    /// Signs `body` as the next entry of this member's feed and applies it.
    ///
    /// The caller must know that this node's head of its own feed is the network's (see
    /// `node::Readiness`), or it would reuse a sequence number. Fails with
    /// [`StoreUnavailable`] in the chain while the store cannot write; a commit that failed
    /// this way may still have reached the disk, and then the entry is published after all
    /// once the store is reopened (sync spreads it), under the same sequence number.
    pub fn publish(
        &mut self,
        body: Body,
        now_ms: u64,
    ) -> Result<Result<VerifiedEntry, PublishError>> {
        self.writable()?;
        self.try_publish(body, now_ms)
            .map_err(|err| self.failed(err))
    }

    fn try_publish(
        &mut self,
        body: Body,
        now_ms: u64,
    ) -> Result<Result<VerifiedEntry, PublishError>> {
        let head = self.heads.get(&self.member).copied();
        let (seq, prev) = head.map_or((1, Hash::ZERO), |head| (head.seq + 1, head.hash));
        let entry = Entry {
            network: self.roster.id(),
            author: self.member,
            seq,
            prev,
            issued_at_ms: now_ms,
            body,
        };
        let bytes = entry.sign(&self.key)?.to_bytes()?;
        let verified = match verify_entry(&self.roster, &bytes) {
            Ok(verified) => verified,
            Err(error) => return Ok(Err(error.into())),
        };
        let mut batch = self.store.batch()?;
        batch.append(&verified, now_ms)?;
        batch.commit()?;
        self.unflushed = false;
        self.heads.insert(self.member, verified.as_head());
        Ok(Ok(verified))
    }

    fn place(
        &mut self,
        batch: &mut Batch,
        heads: &mut BTreeMap<MemberCode, Head>,
        entry: VerifiedEntry,
        now_ms: u64,
        result: &mut Ingested,
    ) -> Result<Placement> {
        let author = entry.signed.entry.author;
        let seq = entry.signed.entry.seq;
        let head = heads.get(&author).copied();
        let stored = match head {
            Some(head) if seq <= head.seq => batch.hash_at(author, seq)?,
            _ => None,
        };
        let position = check_chain(head, &entry, |_| stored);
        match position {
            Ok(ChainPosition::Next) => {
                self.append(batch, heads, entry, now_ms, result)?;
                self.release_waiting(batch, heads, author, now_ms, result)?;
                Ok(Placement::Applied)
            }
            Ok(ChainPosition::Duplicate) => Ok(Placement::Duplicate),
            Ok(ChainPosition::Ahead { missing_from }) => {
                self.pending.insert(entry);
                result.gaps.insert(author, missing_from);
                Ok(Placement::Buffered { author, seq })
            }
            Err(fork) => {
                keep_fork(batch, &fork, &entry, result)?;
                Ok(Placement::Fork(fork))
            }
        }
    }

    fn append(
        &mut self,
        batch: &mut Batch,
        heads: &mut BTreeMap<MemberCode, Head>,
        entry: VerifiedEntry,
        now_ms: u64,
        result: &mut Ingested,
    ) -> Result<()> {
        batch.append(&entry, now_ms)?;
        heads.insert(entry.signed.entry.author, entry.as_head());
        result.applied.push(entry);
        Ok(())
    }

    /// After `author`'s feed grew, applies the buffered entries that now follow it.
    fn release_waiting(
        &mut self,
        batch: &mut Batch,
        heads: &mut BTreeMap<MemberCode, Head>,
        author: MemberCode,
        now_ms: u64,
        result: &mut Ingested,
    ) -> Result<()> {
        loop {
            let Some(head) = heads.get(&author).copied() else {
                return Ok(());
            };
            self.pending.discard_through(author, head.seq);
            let Some(entry) = self.pending.take(author, head.seq + 1) else {
                self.report_gap(author, head.seq + 1, result);
                return Ok(());
            };
            match check_chain(Some(head), &entry, |_| None) {
                Ok(ChainPosition::Next) => self.append(batch, heads, entry, now_ms, result)?,
                Ok(_) => return Ok(()),
                Err(fork) => {
                    keep_fork(batch, &fork, &entry, result)?;
                    // A rival fills nothing: later entries still wait for this seq, and
                    // a gap reported earlier in this call may name a seq now applied.
                    self.report_gap(author, head.seq + 1, result);
                    return Ok(());
                }
            }
        }
    }

    /// Reports `author`'s feed as missing `missing` while later entries wait, else as whole.
    fn report_gap(&self, author: MemberCode, missing: u64, result: &mut Ingested) {
        if self.pending.holds_any_of(author) {
            result.gaps.insert(author, missing);
        } else {
            result.gaps.remove(&author);
        }
    }
}

/// Entries from which a batch is checked on several threads: below it, starting the
/// threads costs more than they save.
const PARALLEL_CHECK_FROM: usize = 64;
/// Most threads that check one batch.
const MAX_CHECK_THREADS: usize = 4;

/// Checks every entry on its own ([`verify_entry`], strict signature check included), in
/// input order. A sync page is checked on every core: the signatures are most of the
/// ledger's time, and while a node catches up it has little else to do. Each entry gets
/// exactly the single check a gossiped entry gets, so every node judges an entry alike.
fn verify_all(roster: &Roster, items: &[Vec<u8>]) -> Vec<Result<VerifiedEntry, ValidationError>> {
    let check = |part: &[Vec<u8>]| -> Vec<_> {
        part.iter()
            .map(|bytes| verify_entry(roster, bytes))
            .collect()
    };
    let threads = std::thread::available_parallelism()
        .map_or(1, |cores| cores.get())
        .min(MAX_CHECK_THREADS);
    if threads < 2 || items.len() < PARALLEL_CHECK_FROM {
        return check(items);
    }
    std::thread::scope(|scope| {
        let parts: Vec<_> = items
            .chunks(items.len().div_ceil(threads))
            .map(|part| {
                // A thread that cannot start leaves its part to this one.
                let spawned = std::thread::Builder::new()
                    .name("vigia-check".into())
                    .spawn_scoped(scope, move || check(part));
                (part, spawned.ok())
            })
            .collect();
        parts
            .into_iter()
            .flat_map(|(part, thread)| match thread {
                Some(thread) => thread
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
                None => check(part),
            })
            .collect()
    })
}

/// Stores a fork as evidence; the first time it is seen, logs it and reports it.
fn keep_fork(
    batch: &mut Batch,
    fork: &Fork,
    entry: &VerifiedEntry,
    result: &mut Ingested,
) -> Result<()> {
    if batch.record_fork(fork, entry)? {
        tracing::warn!(member = %fork.author, seq = fork.seq, err = %fork, "fork kept as evidence");
        result.new_forks.push(fork.clone());
    }
    Ok(())
}
