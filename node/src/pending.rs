//! Entries that arrived ahead of their predecessor, waiting while the gap is fetched.

use std::collections::BTreeMap;

use vigia_protocol::MemberCode;
use vigia_protocol::validate::VerifiedEntry;

/// Most entries waiting at once, across all feeds. A node that falls this far behind
/// catches up through sync pages instead, which need no buffer.
pub const MAX_PENDING_ENTRIES: usize = 4_096;

/// Most bytes waiting at once (64 full-size entries' worth of headroom per feed is plenty).
pub const MAX_PENDING_BYTES: usize = 32 * 1024 * 1024;

/// Verified entries keyed by (author, seq), bounded in count and bytes.
#[derive(Default)]
pub struct Pending {
    entries: BTreeMap<(MemberCode, u64), VerifiedEntry>,
    bytes: usize,
}

impl Pending {
    /// Keeps an entry. When full, the entry furthest ahead of any feed is dropped (it is
    /// the last one needed); returns false if that is the new entry itself.
    pub fn insert(&mut self, entry: VerifiedEntry) -> bool {
        let key = (entry.signed.entry.author, entry.signed.entry.seq);
        if self.entries.contains_key(&key) {
            return true;
        }
        self.bytes += entry.bytes.len();
        self.entries.insert(key, entry);
        let mut kept = true;
        while self.entries.len() > MAX_PENDING_ENTRIES || self.bytes > MAX_PENDING_BYTES {
            let Some(evict) = self.furthest_ahead() else {
                break;
            };
            kept &= evict != key;
            self.remove(evict);
        }
        kept
    }

    /// Takes the entry at `seq` of `author`, if waiting.
    pub fn take(&mut self, author: MemberCode, seq: u64) -> Option<VerifiedEntry> {
        self.remove((author, seq))
    }

    /// Drops every waiting entry of `author` at or below `seq` (already applied).
    pub fn discard_through(&mut self, author: MemberCode, seq: u64) {
        let stale: Vec<_> = self
            .entries
            .range((author, 0)..=(author, seq))
            .map(|(k, _)| *k)
            .collect();
        for key in stale {
            self.remove(key);
        }
    }

    /// Whether any entry of `author` waits.
    pub fn holds_any_of(&self, author: MemberCode) -> bool {
        self.entries
            .range((author, 0)..=(author, u64::MAX))
            .next()
            .is_some()
    }

    /// Number of entries waiting.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn remove(&mut self, key: (MemberCode, u64)) -> Option<VerifiedEntry> {
        let entry = self.entries.remove(&key)?;
        self.bytes -= entry.bytes.len();
        Some(entry)
    }

    fn furthest_ahead(&self) -> Option<(MemberCode, u64)> {
        // Feeds are independent; the highest sequence number overall is a fair proxy for
        // "needed last" and costs one scan of at most MAX_PENDING_ENTRIES keys.
        self.entries.keys().max_by_key(|(_, seq)| *seq).copied()
    }
}

#[cfg(test)]
mod tests {
    use vigia_protocol::{Body, Entry, Hash, Signature, SignedEntry};

    use super::*;

    fn code(text: &str) -> MemberCode {
        text.parse().expect("test member codes are two capitals")
    }

    /// An entry as the buffer sees it. The buffer trusts the ledger to have verified what
    /// it keeps, so the signature and hash need not be real.
    fn waiting(author: &str, seq: u64, size: usize) -> VerifiedEntry {
        let entry = Entry {
            network: Hash::ZERO,
            author: code(author),
            seq,
            prev: Hash::ZERO,
            issued_at_ms: 0,
            body: Body::ContactRemove { id: "c-1".into() },
        };
        VerifiedEntry {
            signed: SignedEntry {
                entry,
                signature: Signature([0; 64]),
            },
            hash: Hash::ZERO,
            bytes: vec![0; size],
        }
    }

    /// A buffer holding `MAX_PENDING_ENTRIES` entries of BR, seqs 2 and up.
    fn full() -> Pending {
        let mut pending = Pending::default();
        for seq in 2..2 + MAX_PENDING_ENTRIES as u64 {
            assert!(pending.insert(waiting("BR", seq, 10)));
        }
        assert_eq!(pending.len(), MAX_PENDING_ENTRIES);
        pending
    }

    #[test]
    fn full_buffer_drops_the_entry_furthest_ahead() {
        let mut pending = full();
        let furthest = 1 + MAX_PENDING_ENTRIES as u64;

        assert!(pending.insert(waiting("CL", 3, 10)));

        assert_eq!(pending.len(), MAX_PENDING_ENTRIES);
        assert!(pending.take(code("BR"), furthest).is_none());
        assert!(pending.take(code("BR"), furthest - 1).is_some());
        assert!(pending.take(code("CL"), 3).is_some());
        assert_eq!(pending.bytes, (MAX_PENDING_ENTRIES - 2) * 10);
    }

    #[test]
    fn entry_further_ahead_than_a_full_buffer_is_not_kept() {
        let mut pending = full();
        let beyond = 100 + MAX_PENDING_ENTRIES as u64;

        assert!(!pending.insert(waiting("CL", beyond, 10)));

        assert_eq!(pending.len(), MAX_PENDING_ENTRIES);
        assert!(pending.take(code("CL"), beyond).is_none());
        assert!(!pending.holds_any_of(code("CL")));
    }

    #[test]
    fn byte_bound_drops_the_entry_furthest_ahead() {
        let quarter = MAX_PENDING_BYTES / 4;
        let mut pending = Pending::default();
        for seq in 2..=5 {
            assert!(pending.insert(waiting("BR", seq, quarter)));
        }
        assert_eq!(pending.bytes, MAX_PENDING_BYTES);

        assert!(pending.insert(waiting("AR", 2, 1)));

        assert_eq!(pending.len(), 4);
        assert!(!pending.entries.contains_key(&(code("BR"), 5)));
        assert_eq!(pending.bytes, 3 * quarter + 1);
    }

    #[test]
    fn waiting_entry_inserted_again_is_held_once() {
        let mut pending = Pending::default();

        assert!(pending.insert(waiting("BR", 4, 100)));
        assert!(pending.insert(waiting("BR", 4, 100)));

        assert_eq!(pending.len(), 1);
        assert_eq!(pending.bytes, 100);
    }

    #[test]
    fn take_hands_over_the_entry_once() {
        let mut pending = Pending::default();
        pending.insert(waiting("BR", 4, 100));

        let taken = pending.take(code("BR"), 4).expect("waiting");

        assert_eq!(taken.signed.entry.seq, 4);
        assert!(pending.take(code("BR"), 4).is_none());
        assert!(pending.is_empty());
        assert_eq!(pending.bytes, 0);
    }

    #[test]
    fn holds_any_of_looks_at_one_author_only() {
        let mut pending = Pending::default();
        pending.insert(waiting("BR", u64::MAX, 10));
        pending.insert(waiting("BR", 1, 10));

        assert!(pending.holds_any_of(code("BR")));
        assert!(!pending.holds_any_of(code("AR")));
        assert!(!pending.holds_any_of(code("BS")));
        assert!(!pending.holds_any_of(code("CL")));
    }

    #[test]
    fn discard_through_drops_one_authors_entries_up_to_seq() {
        let mut pending = Pending::default();
        for (author, seq) in [("BR", 2), ("BR", 3), ("BR", 5), ("AR", 1), ("CL", 3)] {
            pending.insert(waiting(author, seq, 10));
        }

        pending.discard_through(code("BR"), 3);

        let left: Vec<_> = pending.entries.keys().copied().collect();
        let expected = [("AR", 1), ("BR", 5), ("CL", 3)].map(|(author, seq)| (code(author), seq));
        assert_eq!(left, expected);
        assert_eq!(pending.bytes, 30);
        pending.discard_through(code("BR"), u64::MAX);
        assert!(!pending.holds_any_of(code("BR")));
        assert_eq!(pending.len(), 2);
    }
}
