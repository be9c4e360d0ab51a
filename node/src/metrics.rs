//! Prometheus metrics of a node, in one registry that the local API serves.
//!
//! The event loop and the ledger's callers update these; nothing reads them back except the
//! exporter, so they cost an atomic add each.

use std::sync::Mutex;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Label for a rejection reason.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    /// Stable reason name, such as `bad_signature`.
    pub reason: String,
}

/// Label for a member.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MemberLabel {
    /// ISO code.
    pub member: String,
}

/// Label for a peer's fault: its member and a stable reason name. Both come from closed
/// sets (the roster, the protocol's reasons), so the series stay few.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MemberReasonLabel {
    /// ISO code of the peer's member.
    pub member: String,
    /// Stable reason name, such as `bad_signature` or `sync_malformed`.
    pub reason: String,
}

/// Label for an API route.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabel {
    /// HTTP method.
    pub method: String,
    /// Route pattern, such as `/v1/contacts/{member}/{id}`.
    pub route: String,
    /// Status code.
    pub status: u16,
}

/// Every metric a node exports.
pub struct Metrics {
    registry: Mutex<Registry>,
    /// Roster nodes with an open connection.
    pub connected_peers: Gauge,
    /// Entries appended to the store (received or published).
    pub entries_applied: Counter,
    /// Entries rejected as invalid, by reason.
    pub entries_rejected: Family<ReasonLabel, Counter>,
    /// Entries received that were already held.
    pub entries_duplicate: Counter,
    /// Gossip messages handed to the ledger (applied, duplicate or otherwise).
    pub gossip_received: Counter,
    /// Bytes of `/vigia/sync/1` messages read from peers, requests and answers, framing
    /// included (the encryption and multiplexing below it are not counted).
    pub sync_bytes_received: Counter,
    /// Forks found.
    pub forks: Counter,
    /// Provably invalid entries and sync messages received, by the sending peer's member
    /// and reason (see [`crate::conduct`]).
    pub peer_rejections: Family<MemberReasonLabel, Counter>,
    /// The largest gossip message each member's node accepts, as it announced.
    pub peer_max_message_bytes: Family<MemberLabel, Gauge>,
    /// Each member's node clock minus ours at the latest heads exchange, in ms.
    pub peer_clock_offset: Family<MemberLabel, Gauge>,
    /// Entries a peer claims that this node does not hold yet, per feed.
    pub sync_lag: Family<MemberLabel, Gauge>,
    /// Seconds from an alert's issue time to its arrival here (clock skew included).
    pub alert_propagation_seconds: Histogram,
    /// Seconds to answer an API request.
    pub api_request_seconds: Family<RouteLabel, Histogram>,
}

fn latency_buckets() -> Histogram {
    // 0.5 ms to about 30 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 17))
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("vigia");
        let metrics = Self {
            registry: Mutex::new(Registry::default()),
            connected_peers: Gauge::default(),
            entries_applied: Counter::default(),
            entries_rejected: Family::default(),
            entries_duplicate: Counter::default(),
            gossip_received: Counter::default(),
            sync_bytes_received: Counter::default(),
            forks: Counter::default(),
            peer_rejections: Family::default(),
            peer_max_message_bytes: Family::default(),
            peer_clock_offset: Family::default(),
            sync_lag: Family::default(),
            alert_propagation_seconds: latency_buckets(),
            api_request_seconds: Family::new_with_constructor(latency_buckets),
        };
        registry.register(
            "connected_peers",
            "Roster nodes connected",
            metrics.connected_peers.clone(),
        );
        registry.register(
            "entries_applied",
            "Entries applied",
            metrics.entries_applied.clone(),
        );
        registry.register(
            "entries_rejected",
            "Invalid entries rejected",
            metrics.entries_rejected.clone(),
        );
        registry.register(
            "entries_duplicate",
            "Entries received again",
            metrics.entries_duplicate.clone(),
        );
        registry.register(
            "gossip_received",
            "Gossip messages judged",
            metrics.gossip_received.clone(),
        );
        registry.register(
            "sync_bytes_received",
            "Bytes of sync messages read from peers",
            metrics.sync_bytes_received.clone(),
        );
        registry.register("forks", "Forks found", metrics.forks.clone());
        registry.register(
            "peer_rejections",
            "Provably invalid entries and sync messages received, by member and reason",
            metrics.peer_rejections.clone(),
        );
        registry.register(
            "peer_max_message_bytes",
            "Largest gossip message a member's node accepts, as announced",
            metrics.peer_max_message_bytes.clone(),
        );
        registry.register(
            "peer_clock_offset_milliseconds",
            "A member's node clock minus this node's, at the latest heads exchange",
            metrics.peer_clock_offset.clone(),
        );
        registry.register(
            "sync_lag_entries",
            "Entries known elsewhere, not held here",
            metrics.sync_lag.clone(),
        );
        registry.register(
            "alert_propagation_seconds",
            "Alert arrival time minus issue time",
            metrics.alert_propagation_seconds.clone(),
        );
        registry.register(
            "api_request_seconds",
            "Local API request latency",
            metrics.api_request_seconds.clone(),
        );
        *metrics
            .registry
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = registry;
        metrics
    }
}

impl Metrics {
    /// Lets a libp2p behaviour register its own metrics under `prefix`, so the exporter
    /// serves them beside ours (gossipsub's duplicate counts, for instance).
    pub fn register_with<T>(&self, prefix: &str, register: impl FnOnce(&mut Registry) -> T) -> T {
        let mut registry = self
            .registry
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        register(registry.sub_registry_with_prefix(prefix))
    }

    /// The metrics in the Prometheus text format.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        let registry = self
            .registry
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &registry);
        text
    }
}
