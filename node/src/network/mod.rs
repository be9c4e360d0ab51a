//! The libp2p side of a node: transports, behaviours and the roster's rules.
//!
//! - [`behaviour`]: the composed behaviour (allow-list, limits, identify, ping, gossip, sync);
//! - [`sync_codec`]: framing of `/vigia/sync/1` messages;
//! - [`redial`]: when to dial each roster peer again.

pub mod behaviour;
pub mod redial;
pub mod sync_codec;

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{Context, Result};
use libp2p::identity::Keypair;
use libp2p::{Multiaddr, PeerId, Swarm, noise, tcp, yamux};
use vigia_protocol::{MemberCode, Roster};

pub use behaviour::Behaviour;

use crate::metrics::Metrics;

/// Connections are never closed for being quiet: only roster peers can connect, and a dead
/// connection is found by failed pings instead. libp2p's 10 s default would let a quiet
/// network drift apart (gossipsub keeps only its mesh connections alive).
pub const IDLE_CONNECTION_TIMEOUT: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// The roster's nodes as libp2p sees them.
#[derive(Debug, Clone)]
pub struct RosterPeers {
    /// Every node but this one: peer id → (member, dial addresses).
    pub peers: HashMap<PeerId, (MemberCode, Vec<Multiaddr>)>,
    /// The addresses the roster gives this node.
    pub own_addresses: Vec<Multiaddr>,
}

impl RosterPeers {
    /// Parses the roster's peer ids and addresses, naming the member of any bad value.
    pub fn from_roster(roster: &Roster, local: PeerId) -> Result<Self> {
        let mut peers = HashMap::new();
        let mut own_addresses = Vec::new();
        for member in roster.members() {
            for node in &member.nodes {
                let peer: PeerId = node.peer_id.parse().with_context(|| {
                    format!(
                        "roster: member {} has an invalid peer id {:?}",
                        member.code, node.peer_id
                    )
                })?;
                let addresses = node
                    .addresses
                    .iter()
                    .map(|address| {
                        address.parse::<Multiaddr>().with_context(|| {
                            format!(
                                "roster: member {} has an invalid address {address:?}",
                                member.code
                            )
                        })
                    })
                    .collect::<Result<Vec<_>>>()?;
                if peer == local {
                    own_addresses = addresses;
                } else {
                    peers.insert(peer, (member.code, addresses));
                }
            }
        }
        Ok(Self {
            peers,
            own_addresses,
        })
    }

    /// The member that runs `peer`, if it is a roster node.
    pub fn member_of(&self, peer: &PeerId) -> Option<MemberCode> {
        self.peers.get(peer).map(|(member, _)| *member)
    }
}

/// Builds the swarm: TCP (noise, yamux) and QUIC, DNS for roster host names. The
/// behaviours count what they receive in `metrics`.
pub fn build_swarm(
    identity: Keypair,
    roster: &RosterPeers,
    settings: &behaviour::Settings,
    metrics: &Metrics,
) -> Result<Swarm<Behaviour>> {
    let swarm = libp2p::SwarmBuilder::with_existing_identity(identity)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .context("cannot set up the TCP transport")?
        .with_quic()
        .with_dns()
        .context("cannot set up DNS resolution")?
        .with_behaviour(|key| Behaviour::new(key, roster, settings, metrics))
        .map_err(|err| anyhow::anyhow!("cannot build the network behaviour: {err}"))?
        .with_swarm_config(|config| config.with_idle_connection_timeout(IDLE_CONNECTION_TIMEOUT))
        .build();
    Ok(swarm)
}
