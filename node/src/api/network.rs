//! `/v1/network`, `/v1/health` and `/metrics`: how this node sees the network, whether it
//! is alive, and its Prometheus metrics.
//!
//! How fast a dead peer shows: `reachable` and `connected` follow open connections. A peer
//! that stops or dies over TCP is gone at once (its kernel closes the socket); over QUIC, or
//! when a host or link goes down, the connection closes only when pings go unanswered
//! ([`crate::network::behaviour::PING_INTERVAL`] plus [`crate::network::behaviour::PING_TIMEOUT`])
//! or QUIC's idle timeout runs out. `last_seen` is the last time the peer was heard from,
//! never the close, so it stops moving the moment the peer dies (the API document says the
//! same for clients).
//!
//! Health and metrics need no token: monitoring systems poll them, and they hold counts,
//! member codes and readiness only, never directory or alert content. The API listens on
//! loopback unless the IT team configures otherwise.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use vigia_protocol::MemberCode;

use super::auth::Focal;
use super::errors::{ApiError, ApiResult};
use super::{Shared, time};
use crate::node::NetworkStatus;

/// Longest wait for the node's event loop to report its status; a loop that takes longer
/// is stuck, which is what the health check is for.
const STATUS_TIMEOUT: Duration = Duration::from_secs(2);

/// One node of a member.
#[derive(Debug, Serialize)]
struct NodeView {
    peer: String,
    connected: bool,
    last_seen: Option<String>,
    clock_offset_ms: Option<i64>,
    /// The largest gossip message it accepts, as it announced.
    max_message_bytes: Option<u32>,
    /// Its limit is below ours: larger entries reach it through sync only.
    smaller_message_limit: bool,
    /// It sent provably invalid data (bad signatures, malformed entries or sync messages)
    /// since this node started.
    misbehaving: bool,
    /// What it sent, by reason.
    faults: BTreeMap<&'static str, u64>,
    /// The latest of them.
    last_fault: Option<FaultView>,
}

/// A peer's latest fault.
#[derive(Debug, Serialize)]
struct FaultView {
    reason: &'static str,
    detail: String,
    at: String,
}

/// A member as this node sees it.
#[derive(Debug, Serialize)]
struct MemberView {
    member: MemberCode,
    name: String,
    /// This node's own member.
    #[serde(rename = "self")]
    is_self: bool,
    /// A connection to one of its nodes is open (always true for this node's own member).
    reachable: bool,
    /// The latest time one of its nodes was heard from (not a connection closing).
    last_seen: Option<String>,
    /// Its feed's latest entry held here.
    latest_seq: u64,
    /// Entries of its feed that connected peers hold and this node does not yet.
    behind: u64,
    /// Sequence numbers where its feed forked (evidence of a misbehaving key).
    forks: Vec<u64>,
    /// Its clock minus ours, from the latest heads exchange with any of its nodes.
    clock_offset_ms: Option<i64>,
    /// One of its nodes sent provably invalid data since this node started.
    misbehaving: bool,
    /// How many invalid things its nodes sent.
    faults_total: u64,
    nodes: Vec<NodeView>,
}

/// The network.
#[derive(Debug, Serialize)]
struct NetworkView {
    network: String,
    network_id: String,
    member: MemberCode,
    peer_id: String,
    /// Whether this node may publish (its own feed is confirmed with a peer).
    ready: bool,
    /// Entries waiting for a gap in their feed to fill.
    pending: usize,
    members: Vec<MemberView>,
}

async fn status(context: &Shared) -> ApiResult<NetworkStatus> {
    match tokio::time::timeout(STATUS_TIMEOUT, context.node.status()).await {
        Ok(Ok(status)) => Ok(status),
        Ok(Err(err)) => Err(ApiError::unavailable("node_stopped", format!("{err:#}"))),
        Err(_) => Err(ApiError::unavailable(
            "node_busy",
            "the node's event loop did not answer in time",
        )),
    }
}

/// `GET /v1/network`.
pub async fn network(
    State(context): State<Shared>,
    _caller: Focal,
) -> ApiResult<impl IntoResponse> {
    let status = status(&context).await?;
    let store = context.node.store().clone();
    let forks = tokio::task::spawn_blocking(move || store.forks())
        .await
        .map_err(anyhow::Error::from)??;
    let mut forks_of: BTreeMap<MemberCode, Vec<u64>> = BTreeMap::new();
    for fork in forks {
        forks_of.entry(fork.author).or_default().push(fork.seq);
    }
    let own = context.node.member();
    let own_limit = status.max_message_bytes;
    let roster = context.node.roster();
    let members = roster
        .members()
        .iter()
        .map(|member| {
            let nodes: Vec<NodeView> = status
                .peers
                .iter()
                .filter(|peer| peer.member == member.code)
                .map(|peer| NodeView {
                    peer: peer.peer.to_string(),
                    connected: peer.connected,
                    last_seen: peer.last_seen_ms.map(time::format),
                    clock_offset_ms: peer.clock_offset_ms,
                    max_message_bytes: peer.max_message_bytes,
                    smaller_message_limit: peer
                        .max_message_bytes
                        .is_some_and(|limit| (limit as usize) < own_limit),
                    misbehaving: !peer.faults.is_empty(),
                    faults: peer.faults.clone(),
                    last_fault: peer.last_fault.as_ref().map(|fault| FaultView {
                        reason: fault.reason,
                        detail: fault.detail.clone(),
                        at: time::format(fault.at_ms),
                    }),
                })
                .collect();
            let peers = status
                .peers
                .iter()
                .filter(|peer| peer.member == member.code);
            let last_seen_ms = peers.clone().filter_map(|peer| peer.last_seen_ms).max();
            let latest = peers.max_by_key(|peer| peer.last_seen_ms);
            let mut forks = forks_of.remove(&member.code).unwrap_or_default();
            forks.dedup();
            let faults_total = nodes.iter().flat_map(|node| node.faults.values()).sum();
            MemberView {
                member: member.code,
                name: member.name.clone(),
                is_self: member.code == own,
                reachable: member.code == own || nodes.iter().any(|node| node.connected),
                last_seen: last_seen_ms.map(time::format),
                latest_seq: status.heads.get(&member.code).map_or(0, |head| head.seq),
                behind: status.behind.get(&member.code).copied().unwrap_or(0),
                forks,
                clock_offset_ms: latest.and_then(|peer| peer.clock_offset_ms),
                misbehaving: nodes.iter().any(|node| node.misbehaving),
                faults_total,
                nodes,
            }
        })
        .collect();
    Ok(Json(NetworkView {
        network: roster.network().to_owned(),
        network_id: roster.id().to_hex(),
        member: own,
        peer_id: context.node.peer_id().to_string(),
        ready: status.ready,
        pending: status.pending,
        members,
    }))
}

/// Health as monitoring sees it.
#[derive(Debug, Serialize)]
struct Health {
    /// `ok` when the node answers, `unavailable` when it does not, `store_failing` when it
    /// answers but cannot write to its store.
    status: &'static str,
    /// Whether the node may publish.
    ready: bool,
    /// Roster nodes connected now.
    connected_peers: usize,
    /// Why the store cannot write, while it cannot.
    #[serde(skip_serializing_if = "Option::is_none")]
    store: Option<String>,
}

/// `GET /v1/health`: 200 while the node's event loop answers and its store can write, 503
/// with the reason when either fails.
pub async fn health(State(context): State<Shared>) -> Response {
    let status = status(&context).await.ok();
    let connected_peers = status.as_ref().map_or(0, |status| {
        status.peers.iter().filter(|peer| peer.connected).count()
    });
    let (status, store) = match (status, context.node.store_failure()) {
        (Some(status), None) => (status, None),
        (Some(_), Some(reason)) => {
            let store = format!("store cannot write: {reason}");
            return unhealthy("store_failing", connected_peers, Some(store));
        }
        (None, store) => {
            let store = store.map(|reason| format!("store cannot write: {reason}"));
            return unhealthy("unavailable", connected_peers, store);
        }
    };
    Json(Health {
        status: "ok",
        ready: status.ready,
        connected_peers,
        store,
    })
    .into_response()
}

fn unhealthy(status: &'static str, connected_peers: usize, store: Option<String>) -> Response {
    let health = Health {
        status,
        ready: false,
        connected_peers,
        store,
    };
    (StatusCode::SERVICE_UNAVAILABLE, Json(health)).into_response()
}

/// `GET /metrics`: the Prometheus text format.
pub async fn metrics(State(context): State<Shared>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        context.node.metrics().encode(),
    )
        .into_response()
}

/// One feed's head.
#[derive(Debug, Serialize)]
struct HeadView {
    seq: u64,
    hash: String,
}

/// What `GET /v1/heads` answers: enough to tell whether two nodes agree.
#[derive(Debug, Serialize)]
struct HeadsView {
    heads: BTreeMap<MemberCode, HeadView>,
    directory_digest: String,
}

/// `GET /v1/heads`: the head of every feed held and a digest of the directory, read in one
/// snapshot so the two always belong together.
pub async fn heads(State(context): State<Shared>, _caller: Focal) -> ApiResult<impl IntoResponse> {
    let store = context.node.store().clone();
    let (heads, digest) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let read = store.read()?;
        Ok((
            crate::store::heads_in(&read)?,
            crate::views::directory_digest(&read)?,
        ))
    })
    .await
    .map_err(anyhow::Error::from)??;
    let heads = heads
        .into_iter()
        .map(|(member, head)| {
            (
                member,
                HeadView {
                    seq: head.seq,
                    hash: head.hash.to_hex(),
                },
            )
        })
        .collect();
    Ok(Json(HeadsView {
        heads,
        directory_digest: digest.to_hex(),
    }))
}

/// Body of `PUT /v1/admin/blocked-members`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockedInput {
    members: Vec<String>,
}

/// `PUT /v1/admin/blocked-members`: the members this node refuses to talk to, replacing the
/// previous list (empty lifts every block). For cutting off a misbehaving member while the
/// roster is changed, and for partitions in test networks. Not persisted: a restart lifts it.
pub async fn set_blocked(
    State(context): State<Shared>,
    _caller: crate::api::auth::Admin,
    crate::api::extract::JsonBody(input): crate::api::extract::JsonBody<BlockedInput>,
) -> ApiResult<impl IntoResponse> {
    let mut members = std::collections::BTreeSet::new();
    for (index, text) in input.members.iter().enumerate() {
        let field = format!("members[{index}]");
        let code: MemberCode = text
            .parse()
            .map_err(|err| ApiError::invalid(&field, format!("{err}")))?;
        if context.node.roster().member(code).is_none() {
            return Err(ApiError::invalid(
                &field,
                format!("{code} is not a member of this network"),
            ));
        }
        if code == context.node.member() {
            return Err(ApiError::invalid(
                &field,
                "a node cannot block its own member",
            ));
        }
        members.insert(code);
    }
    context
        .node
        .block_members(members.clone())
        .await
        .map_err(|err| ApiError::unavailable("node_stopped", format!("{err:#}")))?;
    let members: Vec<MemberCode> = members.into_iter().collect();
    Ok(Json(serde_json::json!({ "blocked": members })))
}
