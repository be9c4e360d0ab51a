//! The composed libp2p behaviour of a node.
//!
//! Order matters: the allow-list and connection limits come first so that a connection
//! they deny never reaches the protocols. The allow-list acts after the encryption
//! handshake, so a host firewall remains the first line against strangers.

use std::time::Duration;

use libp2p::gossipsub::{self, MessageAuthenticity, ValidationMode};
use libp2p::identity::Keypair;
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::NetworkBehaviour;
use libp2p::{StreamProtocol, allow_block_list, connection_limits, identify, ping};
use sha2::{Digest, Sha256};

use super::RosterPeers;
use super::sync_codec::SyncCodec;
use crate::metrics::Metrics;

/// Ping every few seconds; two pings in a row unanswered within [`PING_TIMEOUT`] close the
/// connection (see `node::MAX_PING_FAILURES`), which the redialer then replaces.
pub const PING_INTERVAL: Duration = Duration::from_secs(5);
/// How long one ping may take.
pub const PING_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a sync request may take before it is abandoned and retried elsewhere.
pub const SYNC_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Sync streams open at once per connection: one per feed being fetched is plenty.
pub const MAX_SYNC_STREAMS: usize = 64;
/// At most two connections per peer: one each way while both dial at once.
pub const MAX_CONNECTIONS_PER_PEER: u32 = 2;
/// Handshakes in progress from unknown senders; bounds the cost of a connection flood.
pub const MAX_PENDING_INCOMING: u32 = 64;

/// Gossip heartbeat of every node (a little under gossipsub's 1 s default).
pub const GOSSIP_HEARTBEAT: Duration = Duration::from_millis(700);

/// Settings the behaviour takes from the node configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Largest gossip message, both ways.
    pub max_message_bytes: usize,
    /// Gossip heartbeat.
    pub heartbeat: Duration,
}

/// Everything the swarm runs. (The derive generates `BehaviourEvent`, whose variants mirror
/// these fields.)
#[allow(missing_docs)]
mod composed {
    use super::*;

    #[derive(NetworkBehaviour)]
    pub struct Behaviour {
        /// Refuses peers the roster does not name.
        pub allowed: allow_block_list::Behaviour<allow_block_list::AllowedPeers>,
        /// Roster peers cut off on purpose (an operator's block, a test partition).
        pub blocked: allow_block_list::Behaviour<allow_block_list::BlockedPeers>,
        /// Bounds connection counts.
        pub limits: connection_limits::Behaviour,
        /// Tells peers our version and listen addresses.
        pub identify: identify::Behaviour,
        /// Detects dead connections.
        pub ping: ping::Behaviour,
        /// Pushes new entries.
        pub gossipsub: gossipsub::Behaviour,
        /// Pulls missing entries.
        pub sync: request_response::Behaviour<SyncCodec>,
    }
}

pub use composed::{Behaviour, BehaviourEvent};

impl Behaviour {
    /// Builds the behaviour for a node with identity `key` in the given roster.
    pub fn new(
        key: &Keypair,
        roster: &RosterPeers,
        settings: &Settings,
        metrics: &Metrics,
    ) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        let mut allowed = allow_block_list::Behaviour::default();
        for peer in roster.peers.keys() {
            allowed.allow_peer(*peer);
        }
        let node_count = u32::try_from(roster.peers.len()).unwrap_or(u32::MAX);
        let limits = connection_limits::Behaviour::new(
            connection_limits::ConnectionLimits::default()
                .with_max_pending_incoming(Some(MAX_PENDING_INCOMING))
                .with_max_established_per_peer(Some(MAX_CONNECTIONS_PER_PEER))
                .with_max_established(Some(
                    node_count.saturating_mul(MAX_CONNECTIONS_PER_PEER) + 8,
                )),
        );
        let identify = identify::Behaviour::new(
            identify::Config::new("/vigia/id/1".into(), key.public())
                .with_agent_version(format!("vigia-node/{}", env!("CARGO_PKG_VERSION"))),
        );
        let ping = ping::Behaviour::new(
            ping::Config::new()
                .with_interval(PING_INTERVAL)
                .with_timeout(PING_TIMEOUT),
        );
        let sync = request_response::Behaviour::with_codec(
            SyncCodec::counting(metrics.sync_bytes_received.clone()),
            [(
                StreamProtocol::new(vigia_protocol::sync::PROTOCOL_NAME),
                ProtocolSupport::Full,
            )],
            request_response::Config::default()
                .with_request_timeout(SYNC_REQUEST_TIMEOUT)
                .with_max_concurrent_streams(MAX_SYNC_STREAMS),
        );
        Ok(Self {
            allowed,
            blocked: allow_block_list::Behaviour::default(),
            limits,
            identify,
            ping,
            gossipsub: gossip(settings, metrics)?,
            sync,
        })
    }
}

/// Peers a node forwards each new entry to (gossipsub's D). The author already sends its
/// entry to every peer (flood publish), and every roster node connects to every other, so
/// the mesh is the fallback for a copy the author could not deliver, not the main path:
/// every mesh peer forwards one more copy of every entry to a node that usually holds it
/// already. Three keeps a second path to each node while cutting the copies (and the CPU
/// that decrypting and dropping them costs) to half of gossipsub's default of six.
const MESH_PEERS: usize = 3;
/// Peers told of recent message ids (IHAVE) at each heartbeat, beside the mesh: a third
/// path for an entry both the author and the mesh missed, before sync's heads exchange.
const LAZY_PEERS: usize = 3;

/// Messages waiting to be sent to one peer (gossipsub's default is 5,000). A peer that
/// falls further behind, such as every peer of a saturated machine during a write storm,
/// loses the newest forwards and fetches them by sync instead, rather than this node
/// holding 5,000 copies for each of its peers: at N=35 that was 34 × 5,000 × ~700 bytes.
const MAX_QUEUED_PER_PEER: usize = 1_024;

/// Room above the message limit for what gossipsub's reader may hold besides one message.
/// libp2p-gossipsub 0.50 compares its whole read buffer with the limit before it cuts out a
/// message, and a read adds up to 8 KiB, which may be the start of the next message: a
/// message within a few KiB of the limit would otherwise fail and close the stream, and
/// what the peer sent after it would be lost. Entries are held to their own, lower limit
/// ([`vigia_protocol::codec::MAX_ENTRY_BYTES`]) when they are decoded.
const READ_HEADROOM: usize = 8 * 1024;

/// The gossipsub configuration every node uses (public so that tests can build a peer that
/// speaks exactly like a node).
///
/// Peer scoring stays off: a node validates every entry before gossip forwards it, so an
/// invalid message travels one hop at most, and the node keeps its own per-peer record
/// ([`crate::conduct`]); scoring could instead push an honest node out of the mesh for
/// forwarding a fork, which must travel so that every node keeps the evidence.
pub fn gossip_config(
    settings: &Settings,
) -> Result<gossipsub::Config, Box<dyn std::error::Error + Send + Sync>> {
    let config = gossipsub::ConfigBuilder::default()
        .validation_mode(ValidationMode::Anonymous)
        .validate_messages()
        .max_transmit_size(settings.max_message_bytes + READ_HEADROOM)
        .heartbeat_interval(settings.heartbeat)
        .mesh_n(MESH_PEERS)
        .mesh_n_low(MESH_PEERS - 1)
        .mesh_n_high(MESH_PEERS + 1)
        .mesh_outbound_min(1)
        .gossip_lazy(LAZY_PEERS)
        .gossip_factor(0.0)
        .connection_handler_queue_len(MAX_QUEUED_PER_PEER)
        .message_id_fn(|message| {
            let id = vigia_protocol::entry::hash_of_wire_bytes(&message.data)
                .map(|hash| hash.0)
                .unwrap_or_else(|| Sha256::digest(&message.data).into());
            gossipsub::MessageId::from(id.to_vec())
        })
        .build()?;
    Ok(config)
}

/// Gossip carries entries that hold their author's signature, so messages are published
/// unsigned and anonymous, and a message's id is the entry hash: the same entry arriving by
/// two paths is one message, and two different entries never share an id.
///
/// Its metrics (under `vigia_gossipsub_`) count messages before and after duplicates are
/// dropped, which the node's own counters cannot see: gossipsub drops a duplicate before
/// the node hears of it.
fn gossip(
    settings: &Settings,
    metrics: &Metrics,
) -> Result<gossipsub::Behaviour, Box<dyn std::error::Error + Send + Sync>> {
    let behaviour =
        gossipsub::Behaviour::new(MessageAuthenticity::Anonymous, gossip_config(settings)?)?;
    Ok(metrics.register_with("gossipsub", |registry| {
        behaviour.with_metrics(registry, gossipsub::MetricsConfig::default())
    }))
}
