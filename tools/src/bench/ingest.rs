//! Ingest: entries verified and applied per second through the node's own [`Ledger`],
//! beside the floors that bound it, measured in the same run on the same entries: raw
//! ed25519 verification (one by one, and batched) and raw redb commits.
//!
//! Two ledger paths are timed, as a node uses them: sync pages (up to
//! [`MAX_PAGE_ENTRIES`] entries in one call, so one commit) and gossip, where a quiet
//! network hands the ledger one entry per call and so one commit per entry. Everything
//! runs on one thread, as the node's ledger does.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use ed25519_dalek::{Signature, SigningKey, VerifyingKey};
use redb::{Database, Durability, TableDefinition};
use serde::Serialize;
use vigia_node::ledger::{Ledger, Placement};
use vigia_node::store::Store;
use vigia_protocol::body::{Availability, Contact};
use vigia_protocol::roster::{Member, RosterBody, RosterFile};
use vigia_protocol::sync::MAX_PAGE_ENTRIES;
use vigia_protocol::{Body, Entry, Hash, MemberCode, PublicKey, Roster, SignedEntry};

use super::stats::per_second;

/// Entries per ingest call on the sync path: a full sync page.
const PAGE: usize = MAX_PAGE_ENTRIES as usize;
/// Most single-entry commits timed: enough for a steady rate, few enough that a slow disk
/// does not stretch the run to minutes.
const MAX_SINGLE_COMMITS: usize = 2_000;
/// A fixed issue time, so the generated feed is the same in every run.
const ISSUED_AT_MS: u64 = 1_700_000_000_000;

/// What the ingest benchmark measured.
#[derive(Debug, Clone, Serialize)]
pub struct IngestFigures {
    /// Entries in the feed ingested.
    pub entries: usize,
    /// Mean wire size of those entries, in bytes.
    pub entry_bytes: usize,
    /// Entries verified, chained and committed per second, a sync page per commit.
    pub ledger_pages_per_sec: f64,
    /// The same, one entry per call and commit, as gossip on a quiet network delivers them.
    pub ledger_single_per_sec: f64,
    /// ed25519 strict verifications per second of the same entries, one at a time.
    pub verify_single_per_sec: f64,
    /// ed25519 verifications per second of the same entries in batches of a page.
    pub verify_batch_per_sec: f64,
    /// Durable redb write transactions of one entry-sized row, per second.
    pub redb_commits_per_sec: f64,
    /// The same without waiting for the disk (`Durability::None`): what a commit costs
    /// when it does not flush.
    pub redb_volatile_commits_per_sec: f64,
    /// Entry-sized rows per second, a page of rows per durable transaction.
    pub redb_rows_per_sec: f64,
}

/// Runs the ingest benchmark over `count` entries in a temporary directory.
pub fn run(count: usize) -> Result<IngestFigures> {
    let author_key = key("bench-author");
    let receiver_key = key("bench-receiver");
    let (roster, author, receiver) = bench_roster(&author_key, &receiver_key)?;
    let roster = Arc::new(roster);
    let feed = signed_feed(&roster, author, &author_key, count)?;
    let entry_bytes = feed.iter().map(Vec::len).sum::<usize>() / feed.len().max(1);
    let dir = tempfile::tempdir().context("cannot create a temporary directory")?;

    // The ledger's own member is the other one, so the feed is foreign to it, as it is
    // to a node receiving it.
    let ledger = |name: &str| -> Result<Ledger> {
        let store = Store::open(&dir.path().join(name))?;
        Ledger::new(store, roster.clone(), receiver, receiver_key.clone())
    };
    let ledger_pages_per_sec = ingest_rate(&mut ledger("pages.redb")?, &feed, PAGE)?;
    let singles = &feed[..count.min(MAX_SINGLE_COMMITS)];
    let ledger_single_per_sec = ingest_rate(&mut ledger("singles.redb")?, singles, 1)?;

    let signed = decode_signed(&feed)?;
    let verifying = author_key.verifying_key();
    let verify_single_per_sec = single_rate(&signed, &verifying)?;
    let verify_batch_per_sec = batch_rate(&signed, &verifying)?;
    let redb = redb_rates(dir.path(), count, entry_bytes + Hash::LEN)?;
    Ok(IngestFigures {
        entries: count,
        entry_bytes,
        ledger_pages_per_sec,
        ledger_single_per_sec,
        verify_single_per_sec,
        verify_batch_per_sec,
        redb_commits_per_sec: redb.commits_per_sec,
        redb_volatile_commits_per_sec: redb.volatile_commits_per_sec,
        redb_rows_per_sec: redb.rows_per_sec,
    })
}

/// Entries per second through `ledger`, `per_call` entries per ingest call; every entry
/// must be applied, or the rate would not be what it claims.
fn ingest_rate(ledger: &mut Ledger, feed: &[Vec<u8>], per_call: usize) -> Result<f64> {
    let started = Instant::now();
    for call in feed.chunks(per_call) {
        let ingested = ledger.ingest(call, ISSUED_AT_MS)?;
        if let Some(other) = ingested
            .placements
            .iter()
            .find(|p| **p != Placement::Applied)
        {
            anyhow::bail!("benchmark entry not applied: {other:?}");
        }
    }
    Ok(per_second(feed.len(), started.elapsed()))
}

fn key(label: &str) -> SigningKey {
    let seed: [u8; 32] = <sha2::Sha256 as sha2::Digest>::digest(label.as_bytes()).into();
    SigningKey::from_bytes(&seed)
}

fn bench_roster(
    author: &SigningKey,
    receiver: &SigningKey,
) -> Result<(Roster, MemberCode, MemberCode)> {
    let author_code: MemberCode = "AR".parse()?;
    let receiver_code: MemberCode = "BR".parse()?;
    let member = |code: MemberCode, key: &SigningKey| Member {
        code,
        name: format!("Member {code}"),
        signing_key: PublicKey(key.verifying_key().to_bytes()),
        nodes: Vec::new(),
    };
    let body = RosterBody {
        network: "bench".into(),
        quorum: 1,
        members: vec![member(author_code, author), member(receiver_code, receiver)],
    };
    let mut file = RosterFile {
        body: body.clone(),
        signatures: Vec::new(),
    };
    file.add_signature(body.sign(author_code, author));
    file.add_signature(body.sign(receiver_code, receiver));
    Ok((file.verify()?, author_code, receiver_code))
}

/// `count` consecutive contact entries of one author, in wire form.
fn signed_feed(
    roster: &Roster,
    author: MemberCode,
    key: &SigningKey,
    count: usize,
) -> Result<Vec<Vec<u8>>> {
    let mut prev = Hash::ZERO;
    let mut feed = Vec::with_capacity(count);
    for seq in 1..=count as u64 {
        let entry = Entry {
            network: roster.id(),
            author,
            seq,
            prev,
            issued_at_ms: ISSUED_AT_MS + seq,
            body: Body::ContactPut(contact(seq)),
        };
        let signed = entry.sign(key)?;
        prev = vigia_protocol::entry::hash_signed_bytes(&signed.entry.signed_bytes()?);
        feed.push(signed.to_bytes()?);
    }
    Ok(feed)
}

fn contact(seq: u64) -> Contact {
    Contact {
        id: format!("ar-{seq:06}"),
        given_names: "María José".into(),
        family_names: "Fernández Quispe".into(),
        institution_id: "pfa".into(),
        role: "Oficial de enlace".into(),
        emails: vec![format!("enlace{seq}@pfa.example.ar")],
        phones: vec!["+541143707000".into()],
        languages: vec!["es".into(), "en".into()],
        availability: Availability::AlwaysOn,
        notes: String::new(),
    }
}

/// The signed bytes and signature of each entry, as the ledger verifies them.
fn decode_signed(feed: &[Vec<u8>]) -> Result<Vec<(Vec<u8>, Signature)>> {
    feed.iter()
        .map(|bytes| {
            let signed = SignedEntry::from_bytes(bytes)?;
            let message = signed.entry.signed_bytes()?;
            Ok((message, Signature::from_bytes(&signed.signature.0)))
        })
        .collect()
}

/// Strict verifications per second of `count` entries, one at a time: the signature
/// floor when the ingest benchmark itself is not run.
pub fn verify_rate(count: usize) -> Result<f64> {
    let author_key = key("bench-author");
    let (roster, author, _) = bench_roster(&author_key, &key("bench-receiver"))?;
    let feed = signed_feed(&roster, author, &author_key, count)?;
    single_rate(&decode_signed(&feed)?, &author_key.verifying_key())
}

fn single_rate(signed: &[(Vec<u8>, Signature)], verifying: &VerifyingKey) -> Result<f64> {
    let started = Instant::now();
    for (message, signature) in signed {
        verifying
            .verify_strict(message, signature)
            .context("benchmark signature invalid")?;
    }
    Ok(per_second(signed.len(), started.elapsed()))
}

fn batch_rate(signed: &[(Vec<u8>, Signature)], verifying: &VerifyingKey) -> Result<f64> {
    let started = Instant::now();
    for page in signed.chunks(PAGE) {
        let messages: Vec<&[u8]> = page.iter().map(|(message, _)| message.as_slice()).collect();
        let signatures: Vec<Signature> = page.iter().map(|(_, signature)| *signature).collect();
        let keys = vec![*verifying; page.len()];
        ed25519_dalek::verify_batch(&messages, &signatures, &keys)
            .context("batch verification failed")?;
    }
    Ok(per_second(signed.len(), started.elapsed()))
}

const ROWS: TableDefinition<u64, &[u8]> = TableDefinition::new("rows");

/// Raw redb rates.
struct RedbRates {
    commits_per_sec: f64,
    volatile_commits_per_sec: f64,
    rows_per_sec: f64,
}

/// Durable commits of one row per second, the same without a flush, then rows per second
/// a page per durable commit.
fn redb_rates(dir: &Path, count: usize, row_bytes: usize) -> Result<RedbRates> {
    let db = Database::create(dir.join("raw.redb")).context("cannot create a redb file")?;
    let row = vec![7u8; row_bytes];
    let commits = count.min(MAX_SINGLE_COMMITS);
    let one_row_commits = |first: u64, durability: Durability| -> Result<f64> {
        let started = Instant::now();
        for key in first..first + commits as u64 {
            let mut txn = db.begin_write()?;
            txn.set_durability(durability)?;
            txn.open_table(ROWS)?.insert(key, row.as_slice())?;
            txn.commit()?;
        }
        Ok(per_second(commits, started.elapsed()))
    };
    let commits_per_sec = one_row_commits(0, Durability::Immediate)?;
    let volatile_commits_per_sec = one_row_commits(commits as u64, Durability::None)?;
    let started = Instant::now();
    let first = 2 * commits as u64;
    let keys: Vec<u64> = (first..first + count as u64).collect();
    for page in keys.chunks(PAGE) {
        let txn = db.begin_write()?;
        {
            let mut table = txn.open_table(ROWS)?;
            for key in page {
                table.insert(*key, row.as_slice())?;
            }
        }
        txn.commit()?;
    }
    Ok(RedbRates {
        commits_per_sec,
        volatile_commits_per_sec,
        rows_per_sec: per_second(count, started.elapsed()),
    })
}
