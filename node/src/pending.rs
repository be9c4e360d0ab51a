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
