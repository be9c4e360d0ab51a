//! Which feed ranges to fetch from which peer.
//!
//! Peers announce their heads; the plan remembers, per connected peer, how far each feed
//! goes there, and asks for what this node misses: one request per feed at a time, spread
//! over the peers that have more. An answer that adds nothing lowers what that peer is
//! believed to hold, so the rest is fetched from another; an answer that moves the feed on
//! leaves the claim, because a page is bounded and the claim is what tells this node it is
//! not caught up yet. Nothing is cached across
//! connections: a peer's claims are dropped when it disconnects and re-learned on the next
//! heads exchange.

use std::collections::{BTreeMap, HashMap};

use libp2p::PeerId;
use vigia_protocol::MemberCode;
use vigia_protocol::entry::Head;

/// A range request to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetch {
    /// Who to ask.
    pub peer: PeerId,
    /// Whose feed.
    pub author: MemberCode,
    /// First sequence number wanted.
    pub from_seq: u64,
}

/// What is known of peers' feeds and what is being fetched.
#[derive(Debug, Default)]
pub struct SyncPlan {
    claims: HashMap<PeerId, BTreeMap<MemberCode, u64>>,
    /// The highest claim of any peer, per feed: kept current on every change of `claims`,
    /// because the node asks for it after every applied batch, and walking every peer's
    /// claims each time cost more CPU at 35 members than the entries themselves.
    best: BTreeMap<MemberCode, u64>,
    in_flight: BTreeMap<MemberCode, PeerId>,
    turn: usize,
}

impl SyncPlan {
    /// Records the heads a peer announced, replacing what it said before.
    pub fn heads_announced(&mut self, peer: PeerId, heads: &[(MemberCode, Head)]) {
        let claims: BTreeMap<MemberCode, u64> = heads
            .iter()
            .map(|(member, head)| (*member, head.seq))
            .collect();
        let mut changed: Vec<MemberCode> = claims.keys().copied().collect();
        if let Some(before) = self.claims.insert(peer, claims) {
            changed.extend(before.into_keys());
        }
        self.refresh_best(changed);
    }

    /// Records that `peer` holds `author`'s feed at least up to `seq` (it forwarded it).
    pub fn holds_at_least(&mut self, peer: PeerId, author: MemberCode, seq: u64) {
        let claim = self
            .claims
            .entry(peer)
            .or_default()
            .entry(author)
            .or_default();
        *claim = (*claim).max(seq);
        let best = self.best.entry(author).or_default();
        *best = (*best).max(seq);
    }

    /// Forgets a peer that disconnected, and what was asked of it.
    pub fn peer_gone(&mut self, peer: &PeerId) {
        if let Some(claims) = self.claims.remove(peer) {
            self.refresh_best(claims.into_keys());
        }
        self.in_flight.retain(|_, asked| asked != peer);
    }

    /// A range answer from `asked_from` on arrived; `reached` is the feed's head after
    /// applying it.
    pub fn answered(&mut self, peer: &PeerId, author: MemberCode, asked_from: u64, reached: u64) {
        if self.in_flight.get(&author) == Some(peer) {
            self.in_flight.remove(&author);
        }
        // A page that moved the feed on is one page of what the peer holds (pages are
        // bounded), so its claim stands and the rest is asked next. A page that added
        // nothing shows the peer does not hold what it claimed, or holds a rival chain:
        // believing the claim would ask it again forever and keep this node from ever
        // counting itself caught up.
        if reached >= asked_from {
            return;
        }
        if let Some(claim) = self
            .claims
            .get_mut(peer)
            .and_then(|claims| claims.get_mut(&author))
        {
            *claim = (*claim).min(reached);
            self.refresh_best([author]);
        }
    }

    /// A range request failed: ask someone else next time.
    pub fn failed(&mut self, peer: &PeerId, author: MemberCode) {
        if self.in_flight.get(&author) == Some(peer) {
            self.in_flight.remove(&author);
        }
        if let Some(claims) = self.claims.get_mut(peer) {
            claims.remove(&author);
            self.refresh_best([author]);
        }
    }

    /// The highest sequence number any connected peer claims for `author`.
    pub fn best_known(&self, author: MemberCode) -> u64 {
        self.best.get(&author).copied().unwrap_or(0)
    }

    /// Recomputes the best claim of each of `authors` from every peer's claims.
    fn refresh_best(&mut self, authors: impl IntoIterator<Item = MemberCode>) {
        for author in authors {
            let best = self
                .claims
                .values()
                .filter_map(|claims| claims.get(&author))
                .copied()
                .max();
            match best {
                Some(seq) => self.best.insert(author, seq),
                None => self.best.remove(&author),
            };
        }
    }

    /// Whether a range request for `author` is outstanding.
    pub fn is_fetching(&self, author: MemberCode) -> bool {
        self.in_flight.contains_key(&author)
    }

    /// New requests to send, given this node's heads; each is recorded as in flight.
    pub fn next_fetches(&mut self, heads: &BTreeMap<MemberCode, Head>) -> Vec<Fetch> {
        // Only feeds some peer holds further than this node are looked at peer by peer:
        // on a network that is caught up, none.
        let behind: Vec<(MemberCode, u64)> = self
            .best
            .iter()
            .map(|(author, best)| (*author, *best, heads.get(author).map_or(0, |head| head.seq)))
            .filter(|(author, best, have)| best > have && !self.in_flight.contains_key(author))
            .map(|(author, _, have)| (author, have))
            .collect();
        let mut fetches = Vec::new();
        for (author, have) in behind {
            let mut holders: Vec<PeerId> = self
                .claims
                .iter()
                .filter(|(_, claims)| claims.get(&author).is_some_and(|seq| *seq > have))
                .map(|(peer, _)| *peer)
                .collect();
            if holders.is_empty() {
                continue;
            }
            holders.sort();
            // Rotate through holders so one slow peer does not serve every feed.
            self.turn = self.turn.wrapping_add(1);
            let peer = holders[self.turn % holders.len()];
            self.in_flight.insert(author, peer);
            fetches.push(Fetch {
                peer,
                author,
                from_seq: have + 1,
            });
        }
        fetches
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigia_protocol::Hash;

    fn code(text: &str) -> MemberCode {
        text.parse().expect("valid code")
    }

    fn head(seq: u64) -> Head {
        Head {
            seq,
            hash: Hash::ZERO,
        }
    }

    #[test]
    fn fetches_only_what_a_peer_has_beyond_our_head() {
        let mut plan = SyncPlan::default();
        let peer = PeerId::random();
        plan.heads_announced(peer, &[(code("AR"), head(10)), (code("BR"), head(3))]);
        let ours = BTreeMap::from([(code("AR"), head(4)), (code("BR"), head(3))]);
        let fetches = plan.next_fetches(&ours);
        assert_eq!(
            fetches,
            vec![Fetch {
                peer,
                author: code("AR"),
                from_seq: 5
            }]
        );
        assert!(
            plan.next_fetches(&ours).is_empty(),
            "one request per feed at a time"
        );
    }

    #[test]
    fn answer_that_adds_nothing_moves_the_rest_to_another_peer() {
        let mut plan = SyncPlan::default();
        let first = PeerId::random();
        let second = PeerId::random();
        plan.heads_announced(first, &[(code("AR"), head(10))]);
        plan.heads_announced(second, &[(code("AR"), head(10))]);
        let asked = plan.next_fetches(&BTreeMap::new())[0].peer;
        plan.answered(&asked, code("AR"), 1, 0);
        let next = plan.next_fetches(&BTreeMap::new());
        let other = if asked == first { second } else { first };
        assert_eq!(
            next,
            vec![Fetch {
                peer: other,
                author: code("AR"),
                from_seq: 1
            }]
        );
    }

    #[test]
    fn page_that_moves_the_feed_on_keeps_the_claim_until_caught_up() {
        let mut plan = SyncPlan::default();
        let only = PeerId::random();
        plan.heads_announced(only, &[(code("AR"), head(3000))]);
        plan.next_fetches(&BTreeMap::new());
        plan.answered(&only, code("AR"), 1, 1024);
        assert_eq!(plan.best_known(code("AR")), 3000);
        let ours = BTreeMap::from([(code("AR"), head(1024))]);
        assert_eq!(
            plan.next_fetches(&ours),
            vec![Fetch {
                peer: only,
                author: code("AR"),
                from_seq: 1025
            }]
        );
    }

    #[test]
    fn gone_peer_is_forgotten() {
        let mut plan = SyncPlan::default();
        let peer = PeerId::random();
        plan.heads_announced(peer, &[(code("AR"), head(10))]);
        assert_eq!(plan.next_fetches(&BTreeMap::new()).len(), 1);
        plan.peer_gone(&peer);
        assert!(!plan.is_fetching(code("AR")));
        assert!(plan.next_fetches(&BTreeMap::new()).is_empty());
        assert_eq!(plan.best_known(code("AR")), 0);
    }

    #[test]
    fn best_known_follows_every_change_of_claims() {
        let mut plan = SyncPlan::default();
        let (a, b) = (PeerId::random(), PeerId::random());
        let ar = code("AR");
        plan.heads_announced(a, &[(ar, head(10))]);
        plan.heads_announced(b, &[(ar, head(7))]);
        assert_eq!(plan.best_known(ar), 10);
        // A peer's new announcement replaces its old one, even when lower.
        plan.heads_announced(a, &[(ar, head(5))]);
        assert_eq!(plan.best_known(ar), 7);
        plan.holds_at_least(a, ar, 12);
        assert_eq!(plan.best_known(ar), 12);
        // An answer that added nothing lowers that peer's claim.
        let fetches = plan.next_fetches(&BTreeMap::from([(ar, head(7))]));
        assert_eq!(fetches.len(), 1);
        plan.answered(&a, ar, 8, 7);
        assert_eq!(plan.best_known(ar), 7);
        plan.failed(&b, ar);
        assert_eq!(plan.best_known(ar), 7);
        plan.peer_gone(&a);
        assert_eq!(plan.best_known(ar), 0);
        assert!(plan.next_fetches(&BTreeMap::new()).is_empty());
    }
}
