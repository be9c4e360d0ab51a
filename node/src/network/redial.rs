//! When to dial each roster peer again.
//!
//! Every roster node is dialed forever, from the roster's addresses only (never from
//! addresses learned at run time, which a peer could poison). After a connection drops
//! the first redial is immediate, since the peer may just have restarted; after each
//! failed dial the wait doubles up to [`MAX_BACKOFF`].

use std::collections::HashMap;
use std::time::{Duration, Instant};

use libp2p::{Multiaddr, PeerId};

/// First wait after a failed dial.
pub const INITIAL_BACKOFF: Duration = Duration::from_millis(250);
/// Longest wait between dials of one peer: a returning node is found within this time.
pub const MAX_BACKOFF: Duration = Duration::from_secs(15);

#[derive(Debug)]
struct Target {
    addresses: Vec<Multiaddr>,
    connections: u32,
    failures: u32,
    next_dial: Instant,
}

/// Dial schedule of every roster peer.
#[derive(Debug, Default)]
pub struct Redial {
    targets: HashMap<PeerId, Target>,
}

impl Redial {
    /// Schedules every peer for a dial at `now`.
    pub fn new(peers: impl IntoIterator<Item = (PeerId, Vec<Multiaddr>)>, now: Instant) -> Self {
        let targets = peers
            .into_iter()
            .map(|(peer, addresses)| {
                (
                    peer,
                    Target {
                        addresses,
                        connections: 0,
                        failures: 0,
                        next_dial: now,
                    },
                )
            })
            .collect();
        Self { targets }
    }

    /// A connection to `peer` was established.
    pub fn connected(&mut self, peer: &PeerId) {
        if let Some(target) = self.targets.get_mut(peer) {
            target.connections += 1;
            target.failures = 0;
        }
    }

    /// A connection to `peer` closed; `remaining` are still open.
    pub fn closed(&mut self, peer: &PeerId, remaining: u32, now: Instant) {
        if let Some(target) = self.targets.get_mut(peer) {
            target.connections = remaining;
            if remaining == 0 {
                target.next_dial = now;
            }
        }
    }

    /// A dial of `peer` failed.
    pub fn failed(&mut self, peer: &PeerId, now: Instant) {
        if let Some(target) = self.targets.get_mut(peer) {
            target.failures = target.failures.saturating_add(1);
            target.next_dial = now + backoff(target.failures);
        }
    }

    /// Forgets past failures of `peer` and dials it at the next tick (after a block is
    /// lifted, say, when waiting out the backoff would only delay healing).
    pub fn retry_now(&mut self, peer: &PeerId, now: Instant) {
        if let Some(target) = self.targets.get_mut(peer) {
            target.failures = 0;
            target.next_dial = now;
        }
    }

    /// Peers to dial now. Each is rescheduled as if the dial will fail, so a dial that never
    /// reports back is still retried.
    pub fn due(&mut self, now: Instant) -> Vec<(PeerId, Vec<Multiaddr>)> {
        let mut due = Vec::new();
        for (peer, target) in &mut self.targets {
            if target.connections == 0 && target.next_dial <= now {
                target.next_dial = now + backoff(target.failures.saturating_add(1));
                due.push((*peer, target.addresses.clone()));
            }
        }
        due
    }

    /// Whether any connection to `peer` is open.
    pub fn is_connected(&self, peer: &PeerId) -> bool {
        self.targets
            .get(peer)
            .is_some_and(|target| target.connections > 0)
    }
}

fn backoff(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    INITIAL_BACKOFF
        .saturating_mul(1 << doublings)
        .min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        assert_eq!(backoff(1), INITIAL_BACKOFF);
        assert_eq!(backoff(2), INITIAL_BACKOFF * 2);
        assert_eq!(backoff(3), INITIAL_BACKOFF * 4);
        assert_eq!(backoff(40), MAX_BACKOFF);
    }

    #[test]
    fn dropped_peer_is_due_at_once_and_connected_peer_never() {
        let start = Instant::now();
        let peer = PeerId::random();
        let mut redial = Redial::new([(peer, vec![])], start);
        assert_eq!(redial.due(start).len(), 1);
        assert!(
            redial.due(start).is_empty(),
            "a dial in flight is not repeated at once"
        );
        redial.connected(&peer);
        assert!(redial.due(start + MAX_BACKOFF * 2).is_empty());
        let later = start + Duration::from_secs(100);
        redial.closed(&peer, 0, later);
        assert_eq!(redial.due(later).len(), 1);
    }

    #[test]
    fn failed_dials_wait_longer_each_time() {
        let start = Instant::now();
        let peer = PeerId::random();
        let mut redial = Redial::new([(peer, vec![])], start);
        redial.due(start);
        redial.failed(&peer, start);
        assert!(redial.due(start + INITIAL_BACKOFF / 2).is_empty());
        assert_eq!(redial.due(start + INITIAL_BACKOFF).len(), 1);
        redial.failed(&peer, start);
        assert!(redial.due(start + INITIAL_BACKOFF).is_empty());
        assert_eq!(redial.due(start + INITIAL_BACKOFF * 2).len(), 1);
    }
}
