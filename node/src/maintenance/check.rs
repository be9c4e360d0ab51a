//! `vigia-node check`: verifies a store against the invariants of `docs/storage.md`.
//!
//! Everything is read from one snapshot, in one pass over `entries` in key order (author,
//! then sequence number), which is also the order a rebuild replays them in:
//! 1. each feed holds 1..=its last entry with no hole, each entry decodes, verifies against
//!    the roster (signature, network, fields), sits under its own author and sequence
//!    number, carries the hash its bytes give, and links to the entry before it;
//! 2. `heads` names each feed's last entry, and only feeds that have entries;
//! 3. `arrivals` has a time for exactly the entries held;
//! 4. each fork kept as evidence verifies, is what its key says, is not the entry applied
//!    at its place, and is at most one past its feed's head;
//! 5. the view tables equal a replay of the entries into an in-memory redb, row by row
//!    (the replay takes as much memory as the views take on disk: tens of megabytes for
//!    the whole network's directory).
//!
//! Entries are checked against the roster the node is configured with. A roster that
//! rotated a key would make the older entries of that member fail here; rosters do not
//! change yet, and the day they do this check must learn which key held when.

use std::collections::BTreeMap;
use std::fmt;

use anyhow::{Context, Result};
use redb::{Database, ReadTransaction, ReadableDatabase, ReadableTable, WriteTransaction};
use vigia_protocol::entry::{Head, hash_signed_bytes};
use vigia_protocol::validate::verify_entry;
use vigia_protocol::{Hash, MemberCode, Roster, SignedEntry};

use crate::store::{self, ARRIVALS, ENTRIES, FORKS, HEADS, Store};
use crate::views::{self, ViewDifference};

/// Most problems listed one by one; past this they are only counted. A store damaged
/// everywhere would otherwise take a line of memory per entry, and the first ten thousand
/// say what happened as well as all of them.
pub const MAX_LISTED_PROBLEMS: usize = 10_000;

/// One thing wrong with a store.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Problem {
    /// A row whose key or value does not have the table's layout.
    Unreadable {
        /// The table.
        table: &'static str,
        /// The row's key, as text.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Entries `from..=to` of a feed are missing below a later entry.
    Missing {
        /// The feed.
        author: MemberCode,
        /// First missing sequence number.
        from: u64,
        /// Last missing sequence number.
        to: u64,
    },
    /// A stored entry fails validation on its own (decoding, roster, signature, fields).
    Invalid {
        /// The feed.
        author: MemberCode,
        /// Where it is stored.
        seq: u64,
        /// Why.
        reason: String,
    },
    /// An entry stored under another author's or sequence number's key.
    Misplaced {
        /// The key's author.
        author: MemberCode,
        /// The key's sequence number.
        seq: u64,
        /// The author the entry names.
        names_author: MemberCode,
        /// The sequence number the entry names.
        names_seq: u64,
    },
    /// The hash stored beside an entry is not the hash of its bytes.
    HashMismatch {
        /// The feed.
        author: MemberCode,
        /// The entry.
        seq: u64,
        /// The hash stored.
        stored: Hash,
        /// The hash of the bytes.
        computed: Hash,
    },
    /// An entry's `prev` is not the hash of the entry before it (zero for the first).
    BrokenLink {
        /// The feed.
        author: MemberCode,
        /// The entry whose link is wrong.
        seq: u64,
        /// What it names.
        prev: Hash,
        /// What it should name.
        expected: Hash,
    },
    /// `heads` disagrees with the last entry held.
    WrongHead {
        /// The feed.
        author: MemberCode,
        /// What `heads` holds.
        held: Option<Head>,
        /// The last entry's sequence number (0 if the feed has no entries).
        last_seq: u64,
        /// The hash of its bytes, if they decode.
        last_hash: Option<Hash>,
    },
    /// An entry without an arrival time, or an arrival time without its entry.
    Arrival {
        /// The feed.
        author: MemberCode,
        /// The entry.
        seq: u64,
        /// True if the entry is held and its time is not, false for the reverse.
        entry_held: bool,
    },
    /// Fork evidence that is not what it should be.
    BadFork {
        /// The feed named by its key.
        author: MemberCode,
        /// The sequence number in its key.
        seq: u64,
        /// What is wrong.
        reason: String,
    },
    /// A view row that differs from a replay of the entries.
    View(ViewDifference),
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Unreadable { table, key, reason } => {
                write!(f, "{table} row {key} is unreadable: {reason}")
            }
            Problem::Missing { author, from, to } if from == to => {
                write!(f, "{author} entry {from} is missing")
            }
            Problem::Missing { author, from, to } => {
                write!(f, "{author} entries {from} to {to} are missing")
            }
            Problem::Invalid {
                author,
                seq,
                reason,
            } => write!(f, "{author} entry {seq} is invalid: {reason}"),
            Problem::Misplaced {
                author,
                seq,
                names_author,
                names_seq,
            } => write!(
                f,
                "{author} entry {seq} is stored there but is {names_author} entry {names_seq}"
            ),
            Problem::HashMismatch {
                author,
                seq,
                stored,
                computed,
            } => write!(
                f,
                "{author} entry {seq} is stored with hash {stored} but its bytes hash to {computed}"
            ),
            Problem::BrokenLink {
                author,
                seq,
                prev,
                expected,
            } => write!(
                f,
                "{author} entry {seq} links to {prev}, not to the entry before it ({expected})"
            ),
            Problem::WrongHead {
                author,
                held,
                last_seq,
                last_hash,
            } => {
                let held = match held {
                    Some(head) => format!("{} ({})", head.seq, head.hash),
                    None => "missing".into(),
                };
                let hash = last_hash
                    .map(|hash| format!(" ({hash})"))
                    .unwrap_or_default();
                write!(
                    f,
                    "{author} head is {held} but the last entry is {last_seq}{hash}"
                )
            }
            Problem::Arrival {
                author,
                seq,
                entry_held: true,
            } => write!(f, "{author} entry {seq} has no arrival time"),
            Problem::Arrival { author, seq, .. } => {
                write!(
                    f,
                    "{author} entry {seq} has an arrival time but is not held"
                )
            }
            Problem::BadFork {
                author,
                seq,
                reason,
            } => write!(f, "fork evidence for {author} entry {seq}: {reason}"),
            Problem::View(difference) => {
                let what = match difference.difference {
                    views::RowDifference::Missing => "is missing",
                    views::RowDifference::Unexpected => "is not produced by the entries",
                    views::RowDifference::Changed => "differs from what the entries produce",
                };
                write!(f, "view row {} {} {what}", difference.table, difference.key)
            }
        }
    }
}

/// What a check found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Feeds held (authors with entries or a head).
    pub feeds: usize,
    /// Entries held.
    pub entries: u64,
    /// Forks kept as evidence.
    pub forks: u64,
    /// Arrival times held.
    pub arrivals: u64,
    /// View rows held.
    pub view_rows: u64,
    /// Every problem found, in the order found, up to [`MAX_LISTED_PROBLEMS`].
    pub problems: Vec<Problem>,
    /// How many problems were found, listed or not.
    pub problem_count: u64,
}

impl Report {
    /// Whether the store holds every invariant.
    pub fn is_clean(&self) -> bool {
        self.problem_count == 0
    }

    fn add(&mut self, problem: Problem) {
        self.problem_count += 1;
        if self.problems.len() < MAX_LISTED_PROBLEMS {
            self.problems.push(problem);
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} feeds, {} entries, {} forks kept as evidence, {} arrival times, {} view rows",
            self.feeds, self.entries, self.forks, self.arrivals, self.view_rows
        )?;
        for problem in &self.problems {
            writeln!(f, "problem: {problem}")?;
        }
        let unlisted = self.problem_count - self.problems.len() as u64;
        if unlisted > 0 {
            writeln!(f, "… and {unlisted} more problems")?;
        }
        match self.problem_count {
            0 => write!(f, "clean: every invariant holds"),
            1 => write!(f, "1 problem found"),
            count => write!(f, "{count} problems found"),
        }
    }
}

/// Checks `store` against `roster`, from one read snapshot. An error means the store could
/// not be read at all; everything wrong with what it holds is in the report.
pub fn check(store: &Store, roster: &Roster) -> Result<Report> {
    check_snapshot(&store.read()?, roster)
}

/// Checks one read snapshot of a store.
pub fn check_snapshot(read: &ReadTransaction, roster: &Roster) -> Result<Report> {
    let replay = Database::builder()
        .create_with_backend(redb::backends::InMemoryBackend::new())
        .context("cannot create the in-memory database for the views replay")?;
    let replay_txn = replay.begin_write()?;
    views::create_tables(&replay_txn)?;
    let mut walk = Walk {
        roster,
        read,
        replay: &replay_txn,
        report: Report::default(),
        heads: read_heads(read)?,
        feed: None,
        last_heads: BTreeMap::new(),
    };
    walk.entries()?;
    walk.arrivals()?;
    walk.forks()?;
    let mut report = walk.report;
    replay_txn
        .commit()
        .context("cannot commit the views replay")?;
    let replayed = replay.begin_read()?;
    report.view_rows = views::compare(read, &replayed, &mut |difference| {
        report.add(Problem::View(difference));
    })?;
    Ok(report)
}

/// A `heads` row as read: the head, or why it cannot be read.
type HeadRow = std::result::Result<Head, String>;

fn read_heads(read: &ReadTransaction) -> Result<BTreeMap<u16, HeadRow>> {
    let table = read.open_table(HEADS)?;
    let mut heads = BTreeMap::new();
    for row in table.iter()? {
        let (author, value) = row?;
        let head = store::decode_head(value.value()).map_err(|error| format!("{error:#}"));
        heads.insert(author.value(), head);
    }
    Ok(heads)
}

/// The feed being walked.
struct Feed {
    author: MemberCode,
    /// The sequence number the next row should have: one past the latest walked.
    next_seq: u64,
    /// The hash of the bytes of entry `next_seq - 1`: `None` before the first entry, after
    /// a hole, or when that entry does not decode.
    last_hash: Option<Hash>,
}

struct Walk<'a> {
    roster: &'a Roster,
    read: &'a ReadTransaction,
    replay: &'a WriteTransaction,
    report: Report,
    /// `heads` rows not yet matched with a feed.
    heads: BTreeMap<u16, HeadRow>,
    feed: Option<Feed>,
    /// Each feed's last sequence number, for the fork checks.
    last_heads: BTreeMap<MemberCode, u64>,
}

impl Walk<'_> {
    fn entries(&mut self) -> Result<()> {
        let entries = self.read.open_table(ENTRIES)?;
        let arrivals = self.read.open_table(ARRIVALS)?;
        for row in entries.iter()? {
            let (key, value) = row?;
            let (raw_author, seq) = key.value();
            let Some(author) = self.member("entries", raw_author, seq) else {
                continue;
            };
            self.report.entries += 1;
            self.enter(author, seq);
            if arrivals.get((raw_author, seq))?.is_none() {
                self.report.add(Problem::Arrival {
                    author,
                    seq,
                    entry_held: true,
                });
            }
            self.entry(author, seq, value.value())?;
        }
        self.leave();
        let unmatched = std::mem::take(&mut self.heads);
        for (raw_author, held) in unmatched {
            if let Some(author) = self.member("heads", raw_author, 0) {
                self.report.feeds += 1;
                self.compare_head(author, held.map(Some), 0, None);
            }
        }
        Ok(())
    }

    fn member(&mut self, table: &'static str, raw: u16, seq: u64) -> Option<MemberCode> {
        match MemberCode::from_u16(raw) {
            Ok(code) => Some(code),
            Err(error) => {
                self.report.add(Problem::Unreadable {
                    table,
                    key: format!("{raw:#06x}/{seq}"),
                    reason: error.to_string(),
                });
                None
            }
        }
    }

    /// Starts a new feed when the walk reaches another author, and reports any hole.
    fn enter(&mut self, author: MemberCode, seq: u64) {
        if self.feed.as_ref().is_none_or(|feed| feed.author != author) {
            self.leave();
            self.report.feeds += 1;
            self.feed = Some(Feed {
                author,
                next_seq: 1,
                last_hash: None,
            });
        }
        let Some(feed) = self.feed.as_mut() else {
            return;
        };
        if seq > feed.next_seq {
            let missing = Problem::Missing {
                author,
                from: feed.next_seq,
                to: seq - 1,
            };
            feed.last_hash = None;
            self.report.add(missing);
        }
    }

    /// Moves the walk past entry `seq`, whose bytes hash to `hash` if they decode.
    fn walked(&mut self, seq: u64, hash: Option<Hash>) {
        if let Some(feed) = self.feed.as_mut() {
            feed.next_seq = seq.saturating_add(1);
            feed.last_hash = hash;
        }
    }

    /// Ends the feed being walked: its head must name its last entry.
    fn leave(&mut self) {
        let Some(feed) = self.feed.take() else {
            return;
        };
        let held = self.heads.remove(&feed.author.to_u16()).transpose();
        let last_seq = feed.next_seq.saturating_sub(1);
        self.last_heads.insert(feed.author, last_seq);
        self.compare_head(feed.author, held, last_seq, feed.last_hash);
    }

    fn compare_head(
        &mut self,
        author: MemberCode,
        held: std::result::Result<Option<Head>, String>,
        last_seq: u64,
        last_hash: Option<Hash>,
    ) {
        let held = match held {
            Ok(held) => held,
            Err(reason) => {
                self.report.add(Problem::Unreadable {
                    table: "heads",
                    key: author.to_string(),
                    reason,
                });
                return;
            }
        };
        let agrees = match held {
            Some(head) => head.seq == last_seq && last_hash.is_none_or(|hash| hash == head.hash),
            None => last_seq == 0,
        };
        if !agrees {
            self.report.add(Problem::WrongHead {
                author,
                held,
                last_seq,
                last_hash,
            });
        }
    }

    /// Checks one stored entry and replays it into the views, as a rebuild would.
    fn entry(&mut self, author: MemberCode, seq: u64, value: &[u8]) -> Result<()> {
        let unreadable = |reason: String| Problem::Unreadable {
            table: "entries",
            key: format!("{author}/{seq}"),
            reason,
        };
        let stored = match store::stored_hash(value) {
            Ok(hash) => hash,
            Err(error) => {
                self.report.add(unreadable(format!("{error:#}")));
                self.walked(seq, None);
                return Ok(());
            }
        };
        let bytes = &value[Hash::LEN..];
        let decoded = SignedEntry::from_bytes(bytes)
            .map_err(|error| error.to_string())
            .and_then(|signed| {
                let signed_bytes = signed.entry.signed_bytes().map_err(|e| e.to_string())?;
                Ok((hash_signed_bytes(&signed_bytes), signed))
            });
        let (computed, signed) = match decoded {
            Ok(decoded) => decoded,
            Err(reason) => {
                let reason = format!("does not decode: {reason}");
                self.report.add(Problem::Invalid {
                    author,
                    seq,
                    reason,
                });
                self.walked(seq, None);
                return Ok(());
            }
        };
        if let Err(error) = verify_entry(self.roster, bytes) {
            let reason = error.to_string();
            self.report.add(Problem::Invalid {
                author,
                seq,
                reason,
            });
        }
        let entry = &signed.entry;
        if entry.author != author || entry.seq != seq {
            self.report.add(Problem::Misplaced {
                author,
                seq,
                names_author: entry.author,
                names_seq: entry.seq,
            });
        }
        if stored != computed {
            self.report.add(Problem::HashMismatch {
                author,
                seq,
                stored,
                computed,
            });
        }
        self.check_link(author, seq, entry.prev);
        self.walked(seq, Some(computed));
        // The stored hash, as `Store::rebuild_views` uses it: the replay must be a rebuild.
        views::apply(self.replay, &signed, stored)
    }

    fn check_link(&mut self, author: MemberCode, seq: u64, prev: Hash) {
        let expected = match self.feed.as_ref().and_then(|feed| feed.last_hash) {
            _ if seq == 1 => Hash::ZERO,
            Some(hash) => hash,
            // The entry before is missing or does not decode, which is reported already.
            None => return,
        };
        if prev != expected {
            self.report.add(Problem::BrokenLink {
                author,
                seq,
                prev,
                expected,
            });
        }
    }

    /// Every arrival time must belong to an entry held (the reverse is checked per entry).
    fn arrivals(&mut self) -> Result<()> {
        let arrivals = self.read.open_table(ARRIVALS)?;
        let entries = self.read.open_table(ENTRIES)?;
        for row in arrivals.iter()? {
            let (key, _) = row?;
            let (raw_author, seq) = key.value();
            self.report.arrivals += 1;
            if entries.get((raw_author, seq))?.is_some() {
                continue;
            }
            if let Some(author) = self.member("arrivals", raw_author, seq) {
                self.report.add(Problem::Arrival {
                    author,
                    seq,
                    entry_held: false,
                });
            }
        }
        Ok(())
    }

    fn forks(&mut self) -> Result<()> {
        let forks = self.read.open_table(FORKS)?;
        let entries = self.read.open_table(ENTRIES)?;
        for row in forks.iter()? {
            let (key, value) = row?;
            let (raw_author, seq, key_hash) = key.value();
            self.report.forks += 1;
            let Some(author) = self.member("forks", raw_author, seq) else {
                continue;
            };
            let held = entries
                .get((raw_author, seq))?
                .map(|value| store::stored_hash(value.value()))
                .transpose()
                .unwrap_or(None);
            if let Some(reason) = self.fork_fault(author, seq, key_hash, value.value(), held) {
                self.report.add(Problem::BadFork {
                    author,
                    seq,
                    reason,
                });
            }
        }
        Ok(())
    }

    /// What is wrong with one fork row, if anything. `held` is the hash of the entry applied
    /// at the same place.
    fn fork_fault(
        &self,
        author: MemberCode,
        seq: u64,
        key_hash: &[u8],
        bytes: &[u8],
        held: Option<Hash>,
    ) -> Option<String> {
        let entry = match verify_entry(self.roster, bytes) {
            Ok(entry) => entry,
            Err(error) => return Some(format!("invalid: {error}")),
        };
        let named = &entry.signed.entry;
        if named.author != author || named.seq != seq {
            return Some(format!("holds {} entry {}", named.author, named.seq));
        }
        if key_hash != entry.hash.0.as_slice() {
            return Some(format!("its key names another hash than {}", entry.hash));
        }
        if held == Some(entry.hash) {
            return Some("it is the entry applied, not a rival".into());
        }
        // A fork is found at the head or below it, or as a next entry that does not link.
        let head = self.last_heads.get(&author).copied().unwrap_or(0);
        if seq > head + 1 {
            return Some(format!("it is beyond the feed's head {head} plus one"));
        }
        None
    }
}
