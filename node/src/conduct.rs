//! What each roster peer sent that no correct node sends: counts by reason, the latest
//! fault, and when to say so in the log.
//!
//! Only provable faults are recorded: an entry invalid on its own (bad bytes, bad
//! signature, a field against the rules) and a sync message that breaks the protocol (an
//! undecodable or oversized frame, a page that is not the range asked for). An entry that
//! is early, late or already held is nobody's fault and is never counted. A fork is its
//! author's fault, not the forwarder's, and is reported with the author's feed.
//!
//! The node reports such a peer and keeps talking to it. Every invalid message already
//! costs little (one signature check, bounded queues), gossip does not forward it, and a
//! bad sync answer sends the range to another peer; cutting off a roster member on the
//! node's own judgement would risk partitioning the network over a version mismatch, so
//! that decision is left to the operator's block list.
//!
//! The log says each (peer, reason) once at `warn`, then at most once per
//! [`WARN_INTERVAL`] with how many more arrived, so a flood of garbage cannot flood the
//! log. Memory is bounded by the roster: the caller records roster peers only (no other
//! peer can connect), and reasons are a closed set of static names.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Display;
use std::time::{Duration, Instant};

use libp2p::PeerId;

/// Shortest time between two warnings about the same peer and reason.
pub const WARN_INTERVAL: Duration = Duration::from_secs(60);

/// Longest detail kept of a fault: enough to name what was wrong, no room for a peer to
/// store much of its own text in our status.
const MAX_DETAIL_CHARS: usize = 200;

/// The latest fault of a peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// Stable reason name, such as `bad_signature` or `sync_wrong_author`.
    pub reason: &'static str,
    /// What exactly was wrong, cut to a bounded length.
    pub detail: String,
    /// When it arrived, ms since the Unix epoch (this node's clock).
    pub at_ms: u64,
}

/// What the log should say about a fault just recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Report {
    /// The first of its kind from this peer: warn with the detail.
    First,
    /// Another after [`WARN_INTERVAL`]: warn with how many arrived since the last warning
    /// (this one included).
    Again {
        /// Faults of this reason since the last warning.
        since_last_warning: u64,
    },
    /// Said recently: stay quiet (debug at most).
    Quiet,
}

#[derive(Debug)]
struct Warned {
    at: Instant,
    since: u64,
}

/// One peer's record.
#[derive(Debug, Default)]
pub struct PeerConduct {
    counts: BTreeMap<&'static str, u64>,
    last: Option<Fault>,
    warned: BTreeMap<&'static str, Warned>,
}

impl PeerConduct {
    /// Faults by reason since this node started.
    pub fn counts(&self) -> &BTreeMap<&'static str, u64> {
        &self.counts
    }

    /// The latest fault.
    pub fn last(&self) -> Option<&Fault> {
        self.last.as_ref()
    }
}

/// Every roster peer's record.
#[derive(Debug, Default)]
pub struct Conduct {
    peers: HashMap<PeerId, PeerConduct>,
}

impl Conduct {
    /// Records a fault of `peer` and says whether to warn about it.
    pub fn record(
        &mut self,
        peer: PeerId,
        reason: &'static str,
        detail: &dyn Display,
        at_ms: u64,
        now: Instant,
    ) -> Report {
        let record = self.peers.entry(peer).or_default();
        *record.counts.entry(reason).or_default() += 1;
        record.last = Some(Fault {
            reason,
            detail: bounded(detail),
            at_ms,
        });
        match record.warned.get_mut(reason) {
            None => {
                record.warned.insert(reason, Warned { at: now, since: 0 });
                Report::First
            }
            Some(warned) => {
                warned.since += 1;
                if now.duration_since(warned.at) < WARN_INTERVAL {
                    return Report::Quiet;
                }
                let since_last_warning = warned.since;
                *warned = Warned { at: now, since: 0 };
                Report::Again { since_last_warning }
            }
        }
    }

    /// The record of `peer`, if it ever sent anything invalid.
    pub fn of(&self, peer: &PeerId) -> Option<&PeerConduct> {
        self.peers.get(peer)
    }
}

fn bounded(detail: &dyn Display) -> String {
    let text = detail.to_string();
    match text.char_indices().nth(MAX_DETAIL_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_reason_warns_once_then_once_per_interval_with_the_count() {
        let mut conduct = Conduct::default();
        let peer = PeerId::random();
        let start = Instant::now();
        let record = |conduct: &mut Conduct, reason, at: Duration| {
            conduct.record(peer, reason, &"detail", 0, start + at)
        };

        assert_eq!(
            record(&mut conduct, "bad_signature", Duration::ZERO),
            Report::First
        );
        for second in 1..=59 {
            let at = Duration::from_secs(second);
            assert_eq!(record(&mut conduct, "bad_signature", at), Report::Quiet);
        }
        assert_eq!(
            record(&mut conduct, "malformed", Duration::from_secs(30)),
            Report::First,
            "another reason is news"
        );
        assert_eq!(
            record(&mut conduct, "bad_signature", WARN_INTERVAL),
            Report::Again {
                since_last_warning: 60
            }
        );
        assert_eq!(
            record(
                &mut conduct,
                "bad_signature",
                WARN_INTERVAL + Duration::from_secs(1)
            ),
            Report::Quiet
        );

        let counts = conduct.of(&peer).expect("recorded").counts();
        assert_eq!(counts.get("bad_signature"), Some(&62));
        assert_eq!(counts.get("malformed"), Some(&1));
        assert!(conduct.of(&PeerId::random()).is_none());
    }

    #[test]
    fn latest_fault_is_kept_with_a_bounded_detail() {
        let mut conduct = Conduct::default();
        let peer = PeerId::random();
        conduct.record(peer, "malformed", &"short", 5, Instant::now());
        let long = "é".repeat(10 * MAX_DETAIL_CHARS);
        conduct.record(peer, "invalid_field", &long, 9, Instant::now());

        let last = conduct.of(&peer).and_then(PeerConduct::last).expect("kept");
        assert_eq!((last.reason, last.at_ms), ("invalid_field", 9));
        assert_eq!(last.detail.chars().count(), MAX_DETAIL_CHARS + 1);
    }
}
