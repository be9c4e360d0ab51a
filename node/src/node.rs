//! The node: its shared state, the handle callers use, and the network event loop.
//!
//! Flow: the swarm hands gossip messages and sync pages to the loop, which queues them as
//! one ingest job at a time on a blocking thread (the [`Ledger`] is synchronous); when the
//! job is done the loop reports gossip verdicts, announces what was applied, and plans the
//! next range fetches from the heads peers announced. Publishing goes the other way: the
//! handle signs and applies through the ledger, then asks the loop to gossip the entry.
//!
//! A node publishes only once it knows its own feed's head is the network's (see
//! [`NodeHandle::publish`]): after a wipe or a restore from an old backup it would
//! otherwise reuse sequence numbers, which peers would rightly report as a fork.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use ed25519_dalek::SigningKey;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use libp2p::core::transport::ListenerId;
use libp2p::gossipsub::{self, IdentTopic, MessageAcceptance, MessageId, PublishError};
use libp2p::identity::Keypair;
use libp2p::request_response::{self, OutboundRequestId, ResponseChannel};
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::swarm::{ConnectionId, ListenError, SwarmEvent};
use libp2p::{Multiaddr, PeerId, Swarm, ping};
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use vigia_protocol::codec::MAX_ENTRY_BYTES;
use vigia_protocol::entry::Head;
use vigia_protocol::sync::{MAX_PAGE_BYTES, MAX_PAGE_ENTRIES, Request, Response, Status};
use vigia_protocol::validate::Fork;
use vigia_protocol::{Body, EntryRef, MemberCode, Roster};

use crate::clock::Clock;
use crate::conduct::{Conduct, Fault, Report};
use crate::config::NodeConfig;
use crate::ledger::{
    Ingested, Ledger, Placement, PublishError as LedgerPublishError, StoreUnavailable,
};
use crate::metrics::{MemberLabel, MemberReasonLabel, Metrics, ReasonLabel};
use crate::network::behaviour::{BehaviourEvent, Settings};
use crate::network::redial::Redial;
use crate::network::sync_codec::{FrameError, RequestFrame};
use crate::network::{Behaviour, RosterPeers, build_swarm};
use crate::store::Store;
use crate::sync_plan::SyncPlan;

/// Commands waiting for the event loop; publishers wait when it is full.
const COMMAND_QUEUE: usize = 256;
/// Events kept for slow subscribers; one that falls further behind misses events (and is
/// told so by the channel) rather than slowing the node.
const EVENT_QUEUE: usize = 4_096;
/// Gossip entries waiting for the ledger; beyond this they are dropped unjudged and sync
/// fetches them later.
const MAX_QUEUED_GOSSIP: usize = 8_192;
/// Most gossip entries of one feed in one ingest job. Gossip waits in one queue per feed and
/// each job takes up to this many from every feed, so a member that floods the network
/// delays the others' entries (an alert, say) by one job at most, not by its whole backlog.
const JOB_SHARE_PER_FEED: usize = 512;
/// Range requests served at once; more are refused with "busy" and asked elsewhere.
const MAX_CONCURRENT_SERVES: usize = 32;
/// Peers whose refusal is remembered so it is logged once.
const MAX_REFUSED_REMEMBERED: usize = 1_024;
/// Rival heads fetched as fork evidence; a key that forks more often than this is already
/// proven bad many times over.
const MAX_FORK_PROBES: usize = 1_024;
/// Longest wait for peers to acknowledge a shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);
/// How often dial schedules are checked.
const REDIAL_TICK: Duration = Duration::from_millis(250);
/// Failed pings in a row after which a connection is taken for dead.
const MAX_PING_FAILURES: u32 = 2;
/// Shortest spacing of this node's heads exchanges. The node exchanges heads with one
/// connected peer at a time, in turn, so that each peer is asked once per sync interval;
/// with many peers the turn slows to this spacing, so a node starts at most four exchanges
/// a second whatever the roster's size (every exchange is a stream, a negotiation and two
/// lists of N heads on both sides). A node still hears some peer's heads more often than
/// that, because every peer also asks it.
const MIN_HEADS_SPACING: Duration = Duration::from_millis(250);
/// Longest time a gossiped entry of another member stays committed but not yet on disk.
/// A crash loses at most this much of them, and sync fetches them again from the peers
/// that gossiped them; one flush a second costs a few milliseconds of disk time, where a
/// flush per entry took longer than everything else a receiver does with it.
const FLUSH_INTERVAL: Duration = Duration::from_secs(1);

/// What a node needs to start, already loaded and checked.
pub struct NodeSetup {
    /// The verified roster.
    pub roster: Roster,
    /// The member this node serves.
    pub member: MemberCode,
    /// The member's signing key.
    pub signing_key: SigningKey,
    /// The node's libp2p identity.
    pub identity: Keypair,
    /// The store file.
    pub store_path: PathBuf,
    /// Listen addresses; empty means the roster's addresses for this node.
    pub listen: Vec<Multiaddr>,
    /// Interval between heads exchanges.
    pub sync_interval: Duration,
    /// Largest gossip message.
    pub max_message_bytes: usize,
    /// The clock the node issues entries and talks to peers by.
    pub clock: Clock,
}

impl NodeSetup {
    /// Loads the roster and keys a configuration names.
    pub fn from_config(config: &NodeConfig) -> Result<Self> {
        let roster_text = std::fs::read_to_string(&config.roster)
            .with_context(|| format!("cannot read roster {}", config.roster.display()))?;
        let roster = Roster::from_toml(&roster_text)
            .with_context(|| format!("roster {} is not usable", config.roster.display()))?;
        let listen = config
            .listen
            .iter()
            .map(|address| {
                address
                    .parse()
                    .with_context(|| format!("bad listen address {address:?}"))
            })
            .collect::<Result<_>>()?;
        crate::files::create_private_dir(&config.data_dir)
            .context("cannot create data directory")?;
        crate::files::warn_if_exposed(&config.data_dir, "the data directory");
        crate::files::warn_if_exposed(&config.store_path(), "the store");
        Ok(Self {
            roster,
            member: config.member,
            signing_key: crate::keys::read_member_key(&config.member_key)?,
            identity: crate::keys::read_node_keypair(&config.node_key)?,
            store_path: config.store_path(),
            listen,
            sync_interval: config.sync_interval(),
            max_message_bytes: config.max_message_bytes,
            clock: Clock::system(),
        })
    }
}

/// Something that happened on the node, for subscribers.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum NodeEvent {
    /// An entry was applied (received or published here).
    Applied(EntryRef),
    /// A fork was found and kept as evidence.
    Fork(Fork),
    /// The first connection to a roster node opened.
    PeerConnected {
        /// Its member.
        member: MemberCode,
        /// Its peer id.
        peer: PeerId,
    },
    /// The last connection to a roster node closed.
    PeerLost {
        /// Its member.
        member: MemberCode,
        /// Its peer id.
        peer: PeerId,
    },
    /// A peer sent an invalid entry.
    Rejected {
        /// The sender.
        peer: PeerId,
        /// Why.
        reason: String,
    },
}

/// Why publishing failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PublishFailure {
    /// The node has not yet confirmed its own feed's head with a peer.
    #[error("this node has not yet confirmed its own feed with any peer; retry when connected")]
    NotReady,
    /// The body breaks a protocol rule.
    #[error(transparent)]
    Invalid(#[from] LedgerPublishError),
    /// The store cannot write (a full disk): nothing was acknowledged. The entry may still
    /// have reached the disk if the failure came at the very end of its commit; then it is
    /// published once the store is reopened.
    #[error(transparent)]
    StoreUnavailable(StoreUnavailable),
    /// Storage or the node itself failed.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// One roster node as this node sees it.
#[derive(Debug, Clone)]
pub struct PeerStatus {
    /// Its member.
    pub member: MemberCode,
    /// Its peer id.
    pub peer: PeerId,
    /// Whether a connection is open.
    pub connected: bool,
    /// When this node last heard from the peer (ms since the epoch): a connection opening,
    /// a message, a sync exchange or a ping answered; `None` if never since this node
    /// started. A connection closing is not counted: a dead peer's connection closes by
    /// timeout, long after its last word.
    pub last_seen_ms: Option<u64>,
    /// The peer's clock minus ours at its last heads exchange, in ms (network delay
    /// included, so a few ms of noise).
    pub clock_offset_ms: Option<i64>,
    /// The largest gossip message the peer accepts, as it said at its last heads exchange.
    pub max_message_bytes: Option<u32>,
    /// Provably invalid things it sent since this node started, by reason (see
    /// [`crate::conduct`]); empty for a peer that never misbehaved.
    pub faults: BTreeMap<&'static str, u64>,
    /// The latest of them.
    pub last_fault: Option<Fault>,
}

/// A snapshot of the node's network state.
#[derive(Debug, Clone)]
pub struct NetworkStatus {
    /// Whether the node may publish.
    pub ready: bool,
    /// Heads held.
    pub heads: BTreeMap<MemberCode, Head>,
    /// Every other roster node.
    pub peers: Vec<PeerStatus>,
    /// Entries waiting for a gap to fill.
    pub pending: usize,
    /// Per feed, how many entries connected peers hold that this node does not yet.
    pub behind: BTreeMap<MemberCode, u64>,
    /// The largest gossip message this node accepts.
    pub max_message_bytes: usize,
}

enum Command {
    Gossip(Vec<u8>, Head),
    Block(BTreeSet<MemberCode>, oneshot::Sender<()>),
    Status(oneshot::Sender<NetworkStatus>),
    Shutdown,
    #[cfg(feature = "testing")]
    RawGossip(Vec<u8>, oneshot::Sender<Result<(), String>>),
}

struct Shared {
    ledger: Mutex<Ledger>,
    store: Store,
    roster: Arc<Roster>,
    member: MemberCode,
    peer_id: PeerId,
    events: broadcast::Sender<NodeEvent>,
    metrics: Arc<Metrics>,
    clock: Clock,
    ready: watch::Receiver<bool>,
    listening: watch::Receiver<Vec<Multiaddr>>,
}

/// A handle to a running node; cheap to clone.
#[derive(Clone)]
pub struct NodeHandle {
    shared: Arc<Shared>,
    commands: mpsc::Sender<Command>,
}

/// A running node: its handle and its event loop task.
pub struct Node {
    handle: NodeHandle,
    task: JoinHandle<()>,
}

impl Node {
    /// Opens the store, starts listening and dialing, and runs the event loop.
    pub async fn start(setup: NodeSetup) -> Result<Node> {
        let roster = Arc::new(setup.roster);
        let peer_id = setup.identity.public().to_peer_id();
        let roster_peers = RosterPeers::from_roster(&roster, peer_id)?;
        let store_path = setup.store_path.clone();
        let store = tokio::task::spawn_blocking(move || Store::open(&store_path)).await??;
        let ledger = Ledger::new(
            store.clone(),
            roster.clone(),
            setup.member,
            setup.signing_key,
        )?;
        let heads = ledger.heads().clone();
        let settings = Settings {
            max_message_bytes: setup.max_message_bytes,
            heartbeat: crate::network::behaviour::GOSSIP_HEARTBEAT,
        };
        let metrics = Arc::new(Metrics::default());
        let mut swarm = build_swarm(setup.identity, &roster_peers, &settings, &metrics)?;
        let topic = IdentTopic::new(format!("/vigia/{}/entries/1", roster.id()));
        swarm
            .behaviour_mut()
            .gossipsub
            .subscribe(&topic)
            .context("cannot subscribe to gossip")?;
        let listen = if setup.listen.is_empty() {
            roster_peers.own_addresses.clone()
        } else {
            setup.listen
        };
        if listen.is_empty() {
            return Err(anyhow!(
                "no listen address: the roster lists none for {peer_id} and none is configured"
            ));
        }
        let mut listeners = Vec::new();
        for address in &listen {
            listeners.push(listen_with_retry(&mut swarm, address).await?);
        }
        let (commands_tx, commands_rx) = mpsc::channel(COMMAND_QUEUE);
        let (events, _) = broadcast::channel(EVENT_QUEUE);
        let alone = roster_peers.peers.is_empty();
        let (ready_tx, ready_rx) = watch::channel(alone);
        let (listening_tx, listening_rx) = watch::channel(Vec::new());
        let shared = Arc::new(Shared {
            ledger: Mutex::new(ledger),
            store,
            roster,
            member: setup.member,
            peer_id,
            events,
            metrics,
            clock: setup.clock,
            ready: ready_rx,
            listening: listening_rx,
        });
        let redial = Redial::new(
            roster_peers
                .peers
                .iter()
                .map(|(peer, (_, addresses))| (*peer, addresses.clone())),
            Instant::now(),
        );
        tracing::info!(
            member = %setup.member,
            peer = %peer_id,
            network = %shared.roster.network(),
            "node starting",
        );
        let event_loop = EventLoop {
            swarm,
            topic,
            shared: shared.clone(),
            roster_peers,
            redial,
            plan: SyncPlan::default(),
            heads,
            commands: commands_rx,
            ready: ready_tx,
            listening: listening_tx,
            ingest: None,
            queued: Job::default(),
            gossip_queue: BTreeMap::new(),
            gossip_queued: 0,
            serving: FuturesUnordered::new(),
            refused: HashSet::new(),
            range_requests: BTreeMap::new(),
            sync_interval: setup.sync_interval,
            max_message_bytes: setup.max_message_bytes,
            listeners,
            last_seen: HashMap::new(),
            clock_offsets: HashMap::new(),
            heard_from_peer: false,
            fork_probes: HashSet::new(),
            peer_limits: HashMap::new(),
            conduct: Conduct::default(),
            unflushed: false,
            lag_changed: true,
            ping_failures: HashMap::new(),
            heads_order: Vec::new(),
            heads_turn: 0,
        };
        let task = tokio::spawn(event_loop.run());
        Ok(Node {
            handle: NodeHandle {
                shared,
                commands: commands_tx,
            },
            task,
        })
    }

    /// Stops the node abruptly, as a crash would: no orderly goodbye to peers. The store
    /// stays consistent because every write is one transaction.
    pub async fn abort(self) {
        self.task.abort();
        // Cancellation drops the loop's state (swarm, sockets, store) once it is awaited.
        let _ = self.task.await;
    }

    /// A handle for callers.
    pub fn handle(&self) -> NodeHandle {
        self.handle.clone()
    }

    /// Stops the event loop after the current ingest job, and waits for it.
    pub async fn shutdown(self) -> Result<()> {
        // A closed queue means the loop already stopped, which is what we want.
        let _ = self.handle.commands.send(Command::Shutdown).await;
        self.task.await.context("node event loop panicked")
    }
}

/// How long to keep trying a listen address that is still held, as it is for a moment when
/// a node restarts right after its previous instance (the old sockets drain asynchronously).
const LISTEN_RETRY_FOR: Duration = Duration::from_secs(5);

async fn listen_with_retry(
    swarm: &mut Swarm<Behaviour>,
    address: &Multiaddr,
) -> Result<ListenerId> {
    let started = Instant::now();
    loop {
        match swarm.listen_on(address.clone()) {
            Ok(id) => return Ok(id),
            Err(err) if started.elapsed() < LISTEN_RETRY_FOR => {
                tracing::debug!(%address, %err, "listen address busy; retrying");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(err) => return Err(err).with_context(|| format!("cannot listen on {address}")),
        }
    }
}

impl NodeHandle {
    /// This node's member.
    pub fn member(&self) -> MemberCode {
        self.shared.member
    }

    /// This node's peer id.
    pub fn peer_id(&self) -> PeerId {
        self.shared.peer_id
    }

    /// The roster.
    pub fn roster(&self) -> &Roster {
        &self.shared.roster
    }

    /// The node's metrics.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.shared.metrics
    }

    /// The store, for queries.
    pub fn store(&self) -> &Store {
        &self.shared.store
    }

    /// Addresses the node listens on (empty until the first one is bound).
    pub fn listening(&self) -> Vec<Multiaddr> {
        self.shared.listening.borrow().clone()
    }

    /// Events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<NodeEvent> {
        self.shared.events.subscribe()
    }

    /// Why the store cannot write, while it cannot (see [`crate::ledger`]).
    pub fn store_failure(&self) -> Option<String> {
        self.shared.store.write_failure()
    }

    /// Whether the node may publish.
    pub fn is_ready(&self) -> bool {
        *self.shared.ready.borrow()
    }

    /// Waits until the node may publish.
    pub async fn wait_ready(&self) -> Result<()> {
        let mut ready = self.shared.ready.clone();
        ready
            .wait_for(|ready| *ready)
            .await
            .map(|_| ())
            .map_err(|_| anyhow!("node stopped"))
    }

    /// Heads of every feed held.
    pub fn heads(&self) -> Result<BTreeMap<MemberCode, Head>> {
        self.shared.store.heads()
    }

    /// The node's view of the network.
    pub async fn status(&self) -> Result<NetworkStatus> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::Status(reply))
            .await
            .map_err(|_| anyhow!("node stopped"))?;
        answer.await.map_err(|_| anyhow!("node stopped"))
    }

    /// Cuts this node off from every node of `members`, and reconnects to all others: an
    /// operator's block of a misbehaving member, or a partition in a test network. The set
    /// replaces the previous one; an empty set lifts every block.
    pub async fn block_members(&self, members: BTreeSet<MemberCode>) -> Result<()> {
        let (done, applied) = oneshot::channel();
        self.commands
            .send(Command::Block(members, done))
            .await
            .map_err(|_| anyhow!("node stopped"))?;
        // Returns once the node refuses them, so a caller that blocks and then checks sees
        // the cut in place.
        applied.await.map_err(|_| anyhow!("node stopped"))
    }

    /// Signs `body` as this member's next entry, stores it and gossips it.
    pub async fn publish(&self, body: Body) -> Result<EntryRef, PublishFailure> {
        if !self.is_ready() {
            return Err(PublishFailure::NotReady);
        }
        let shared = self.shared.clone();
        let entry = tokio::task::spawn_blocking(move || {
            let mut ledger = shared
                .ledger
                .lock()
                .map_err(|_| anyhow!("ledger lock poisoned"))?;
            let now = shared.clock.now_ms();
            ledger.publish(body, now)
        })
        .await
        .context("publish task failed")?
        .map_err(|err| match err.downcast_ref::<StoreUnavailable>() {
            Some(unavailable) => PublishFailure::StoreUnavailable(unavailable.clone()),
            None => PublishFailure::Internal(err),
        })?
        .map_err(PublishFailure::Invalid)?;
        let reference = entry.reference();
        self.shared.metrics.entries_applied.inc();
        let _ = self.shared.events.send(NodeEvent::Applied(reference));
        tracing::debug!(member = %reference.author, seq = reference.seq, "entry published");
        let head = entry.as_head();
        self.commands
            .send(Command::Gossip(entry.bytes, head))
            .await
            .map_err(|_| anyhow!("node stopped after storing the entry; sync will deliver it"))?;
        Ok(reference)
    }

    /// Puts raw bytes on the gossip topic without any check, as a misbehaving node would.
    #[cfg(feature = "testing")]
    /// Fails if gossip took it nowhere (no peer subscribed yet), so a test can retry.
    pub async fn gossip_raw(&self, bytes: Vec<u8>) -> Result<()> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::RawGossip(bytes, reply))
            .await
            .map_err(|_| anyhow!("node stopped"))?;
        answer
            .await
            .map_err(|_| anyhow!("node stopped"))?
            .map_err(anyhow::Error::msg)
    }
}

/// Where a queued entry came from, so its verdict goes back to the right place.
#[derive(Debug)]
enum Origin {
    Gossip { id: MessageId, peer: PeerId },
    Sync { peer: PeerId, author: MemberCode },
}

/// Entries handed to the ledger in one transaction.
#[derive(Debug, Default)]
struct Job {
    items: Vec<Vec<u8>>,
    origins: Vec<Origin>,
    /// Range answers in this job: (peer, author, first sequence number asked).
    pages: Vec<(PeerId, MemberCode, u64)>,
    /// Whether to put deferred commits on disk after the entries.
    flush: bool,
}

struct IngestDone {
    origins: Vec<Origin>,
    pages: Vec<(PeerId, MemberCode, u64)>,
    result: Result<Ingested>,
    /// Whether the ledger holds a deferred commit not yet on disk.
    unflushed: bool,
    /// The ledger's heads, when it reopened the store during the job.
    reloaded_heads: Option<BTreeMap<MemberCode, Head>>,
}

/// A range request in flight, kept to check that its answer is what was asked.
#[derive(Debug, Clone, Copy)]
struct RangeRequest {
    peer: PeerId,
    author: MemberCode,
    from_seq: u64,
    max_entries: u32,
}

/// Largest honest page: the server cuts a page once it passes [`MAX_PAGE_BYTES`], so the
/// last entry may take it over by at most one entry.
const MAX_HONEST_PAGE_BYTES: usize = MAX_PAGE_BYTES + MAX_ENTRY_BYTES;

/// Why a range answer is not what was asked: each is the answering peer's fault.
#[derive(Debug, thiserror::Error)]
enum PageFault {
    #[error("page of {entries} entries and {bytes} bytes for a request of at most {asked}")]
    TooLarge {
        entries: usize,
        bytes: usize,
        asked: u32,
    },
    #[error("page for {asked}'s feed holds an entry of {found}")]
    WrongAuthor {
        asked: MemberCode,
        found: MemberCode,
    },
    #[error("page entry {index} has seq {found}, expected {expected}")]
    OutOfRange {
        index: usize,
        expected: u64,
        found: u64,
    },
}

impl PageFault {
    fn reason(&self) -> &'static str {
        match self {
            PageFault::TooLarge { .. } => "sync_page_too_large",
            PageFault::WrongAuthor { .. } => "sync_wrong_author",
            PageFault::OutOfRange { .. } => "sync_out_of_range",
        }
    }
}

/// Checks that a page holds consecutive entries of the asked feed from the asked seq, no
/// more than asked. Entries whose first bytes do not decode are left to the ledger, which
/// rejects them with the reason.
fn check_page(request: &RangeRequest, entries: &[Vec<u8>]) -> Result<(), PageFault> {
    let bytes: usize = entries.iter().map(Vec::len).sum();
    let asked = request.max_entries.min(MAX_PAGE_ENTRIES);
    if entries.len() > asked as usize || bytes > MAX_HONEST_PAGE_BYTES {
        return Err(PageFault::TooLarge {
            entries: entries.len(),
            bytes,
            asked,
        });
    }
    for (index, entry) in entries.iter().enumerate() {
        let Some((author, seq)) = vigia_protocol::entry::peek_position(entry) else {
            continue;
        };
        if author != request.author {
            return Err(PageFault::WrongAuthor {
                asked: request.author,
                found: author,
            });
        }
        let expected = request.from_seq.saturating_add(index as u64);
        if seq != expected {
            return Err(PageFault::OutOfRange {
                index,
                expected,
                found: seq,
            });
        }
    }
    Ok(())
}

type Serving = JoinHandle<(ResponseChannel<Response>, Response)>;

struct EventLoop {
    swarm: Swarm<Behaviour>,
    topic: IdentTopic,
    shared: Arc<Shared>,
    roster_peers: RosterPeers,
    redial: Redial,
    plan: SyncPlan,
    /// The loop's copy of the heads, so it never waits on the ledger lock.
    heads: BTreeMap<MemberCode, Head>,
    commands: mpsc::Receiver<Command>,
    ready: watch::Sender<bool>,
    listening: watch::Sender<Vec<Multiaddr>>,
    ingest: Option<JoinHandle<IngestDone>>,
    /// Sync pages waiting for the ledger; the next job takes them all (requests in flight
    /// bound them).
    queued: Job,
    /// Gossip waiting for the ledger, per claimed author (`None`: bytes that name no roster
    /// member); see [`JOB_SHARE_PER_FEED`].
    gossip_queue: BTreeMap<Option<MemberCode>, VecDeque<(Vec<u8>, Origin)>>,
    /// Entries in `gossip_queue`.
    gossip_queued: usize,
    serving: FuturesUnordered<Serving>,
    refused: HashSet<PeerId>,
    range_requests: BTreeMap<OutboundRequestId, RangeRequest>,
    sync_interval: Duration,
    max_message_bytes: usize,
    listeners: Vec<ListenerId>,
    last_seen: HashMap<PeerId, u64>,
    clock_offsets: HashMap<PeerId, i64>,
    /// Whether any peer has announced its heads since start (see `update_readiness`).
    heard_from_peer: bool,
    /// Rival heads already fetched, so each is fetched once.
    fork_probes: HashSet<(MemberCode, u64, vigia_protocol::Hash)>,
    /// The gossip limit each peer announced at its latest heads exchange: an entry over a
    /// peer's limit reaches it through sync only.
    peer_limits: HashMap<PeerId, u32>,
    /// What each peer sent that no correct node sends.
    conduct: Conduct,
    /// Whether the ledger holds a deferred commit not yet on disk.
    unflushed: bool,
    /// Whether heads or peers' claims changed since the lag gauges were last set.
    lag_changed: bool,
    /// Failed pings in a row, per open connection that has any.
    ping_failures: HashMap<ConnectionId, u32>,
    /// Every roster peer in a fixed order, the order of heads exchanges.
    heads_order: Vec<PeerId>,
    /// Position in `heads_order` of the next heads exchange.
    heads_turn: usize,
}

async fn next_ingest(ingest: &mut Option<JoinHandle<IngestDone>>) -> IngestDone {
    match ingest.as_mut() {
        Some(task) => {
            let done = task.await.unwrap_or_else(|err| IngestDone {
                origins: Vec::new(),
                pages: Vec::new(),
                result: Err(anyhow!("ingest task failed: {err}")),
                unflushed: true,
                reloaded_heads: None,
            });
            *ingest = None;
            done
        }
        None => std::future::pending().await,
    }
}

async fn next_served(
    serving: &mut FuturesUnordered<Serving>,
) -> Option<(ResponseChannel<Response>, Response)> {
    if serving.is_empty() {
        return std::future::pending().await;
    }
    serving.next().await.and_then(Result::ok)
}

/// An orderly stop leaves nothing for sync to fetch again.
/// Time between two heads exchanges, so that each of `peers` is asked once per
/// `sync_interval`, or once per `peers` × [`MIN_HEADS_SPACING`] when that is longer.
fn heads_spacing(sync_interval: Duration, peers: usize) -> Duration {
    let peers = u32::try_from(peers.max(1)).unwrap_or(u32::MAX);
    (sync_interval / peers).max(MIN_HEADS_SPACING)
}

/// Logs a failed write as an error, except while the store cannot write: the ledger logged
/// that once, and each refused write since says nothing new.
fn log_store_error(err: &anyhow::Error, message: &'static str) {
    if err.downcast_ref::<StoreUnavailable>().is_some() {
        tracing::debug!(err = %format!("{err:#}"), "{message}");
    } else {
        tracing::error!(err = %format!("{err:#}"), "{message}");
    }
}

async fn flush_before_stop(shared: Arc<Shared>) {
    let flushed = tokio::task::spawn_blocking(move || {
        shared
            .ledger
            .lock()
            .map_err(|_| anyhow!("ledger lock poisoned"))
            .and_then(|mut ledger| ledger.flush())
    })
    .await;
    match flushed {
        Ok(Ok(())) => {}
        Ok(Err(err)) => tracing::error!(err = %format!("{err:#}"), "cannot flush the store"),
        // The runtime is being torn down under the node (its owner stopped without a
        // shutdown); what was not flushed is fetched again by sync on the next start.
        Err(err) if err.is_cancelled() => {
            tracing::warn!("stopped before the store was flushed; peers will resend the rest")
        }
        Err(err) => tracing::error!(err = %err, "flush task failed"),
    }
}

impl EventLoop {
    async fn run(mut self) {
        let mut redial_tick = tokio::time::interval(REDIAL_TICK);
        self.heads_order = self.roster_peers.peers.keys().copied().collect();
        self.heads_order.sort();
        let mut sync_tick =
            tokio::time::interval(heads_spacing(self.sync_interval, self.heads_order.len()));
        sync_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut flush_tick = tokio::time::interval(FLUSH_INTERVAL);
        flush_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
                command = self.commands.recv() => match command {
                    Some(Command::Shutdown) | None => break,
                    Some(command) => self.on_command(command),
                },
                done = next_ingest(&mut self.ingest) => self.on_ingested(done),
                served = next_served(&mut self.serving) => {
                    if let Some((channel, response)) = served {
                        // The requester may have gone; nothing to do then.
                        let _ = self.swarm.behaviour_mut().sync.send_response(channel, response);
                    }
                }
                _ = redial_tick.tick() => {
                    self.redial_due();
                    self.update_lag_metrics();
                }
                _ = sync_tick.tick() => self.exchange_heads_in_turn(),
                // A store that cannot write is reopened by the ledger on a flush, so the
                // ticks go on until it can, even when nothing else writes.
                _ = flush_tick.tick(), if self.unflushed || self.shared.store.is_failing() => {
                    self.queued.flush = true;
                    self.start_ingest();
                }
            }
        }
        if let Some(task) = self.ingest.take() {
            // Let the running transaction finish so its verdicts are not lost mid-write.
            let _ = task.await;
        }
        flush_before_stop(self.shared.clone()).await;
        self.close_network().await;
        tracing::info!(member = %self.shared.member, "node stopped");
    }

    /// Says goodbye to peers and releases the listening sockets before returning, so a node
    /// started right after on the same ports can bind them.
    async fn close_network(&mut self) {
        let peers: Vec<PeerId> = self.swarm.connected_peers().copied().collect();
        for peer in peers {
            let _ = self.swarm.disconnect_peer_id(peer);
        }
        let mut open = self.listeners.len();
        for listener in self.listeners.drain(..) {
            self.swarm.remove_listener(listener);
        }
        let deadline = tokio::time::sleep(SHUTDOWN_GRACE);
        tokio::pin!(deadline);
        while open > 0 || self.swarm.connected_peers().next().is_some() {
            tokio::select! {
                event = self.swarm.select_next_some() => {
                    if let SwarmEvent::ListenerClosed { .. } = event {
                        open = open.saturating_sub(1);
                    }
                }
                _ = &mut deadline => break,
            }
        }
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Gossip(bytes, head) => {
                self.heads.insert(self.shared.member, head);
                self.publish_gossip(bytes);
                self.offer_to_smaller_peers();
            }
            Command::Block(members, done) => {
                self.block_members(&members);
                let _ = done.send(());
            }
            Command::Status(reply) => {
                let _ = reply.send(self.status());
            }
            Command::Shutdown => {}
            #[cfg(feature = "testing")]
            Command::RawGossip(bytes, reply) => {
                let topic = self.topic.clone();
                let sent = self.swarm.behaviour_mut().gossipsub.publish(topic, bytes);
                let _ = reply.send(sent.map(|_| ()).map_err(|err| err.to_string()));
            }
        }
    }

    fn block_members(&mut self, members: &BTreeSet<MemberCode>) {
        let peers: Vec<(PeerId, MemberCode)> = self
            .roster_peers
            .peers
            .iter()
            .map(|(peer, (member, _))| (*peer, *member))
            .collect();
        for (peer, member) in peers {
            let blocked = &mut self.swarm.behaviour_mut().blocked;
            if members.contains(&member) {
                if blocked.block_peer(peer) {
                    tracing::warn!(%member, peer = %peer, "peer blocked by operator");
                }
            } else if blocked.unblock_peer(peer) {
                tracing::info!(%member, peer = %peer, "peer unblocked");
                self.redial.retry_now(&peer, Instant::now());
            }
        }
    }

    fn publish_gossip(&mut self, bytes: Vec<u8>) {
        let topic = self.topic.clone();
        match self.swarm.behaviour_mut().gossipsub.publish(topic, bytes) {
            Ok(_) => {}
            // Stored already: sync delivers it when peers appear.
            Err(PublishError::NoPeersSubscribedToTopic | PublishError::Duplicate) => {
                tracing::debug!("entry stored but not gossiped now; sync will deliver it");
            }
            Err(err) => tracing::warn!(%err, "cannot gossip entry; sync will deliver it"),
        }
    }

    fn status(&self) -> NetworkStatus {
        let mut peers: Vec<PeerStatus> = self
            .roster_peers
            .peers
            .iter()
            .map(|(peer, (member, _))| PeerStatus {
                member: *member,
                peer: *peer,
                connected: self.redial.is_connected(peer),
                last_seen_ms: self.last_seen.get(peer).copied(),
                clock_offset_ms: self.clock_offsets.get(peer).copied(),
                max_message_bytes: self.peer_limits.get(peer).copied(),
                faults: self
                    .conduct
                    .of(peer)
                    .map(|record| record.counts().clone())
                    .unwrap_or_default(),
                last_fault: self
                    .conduct
                    .of(peer)
                    .and_then(|record| record.last().cloned()),
            })
            .collect();
        peers.sort_by_key(|status| status.member);
        let pending = self
            .shared
            .ledger
            .try_lock()
            .map(|ledger| ledger.pending_len())
            .unwrap_or(0);
        NetworkStatus {
            ready: *self.ready.borrow(),
            heads: self.heads.clone(),
            peers,
            pending,
            behind: self.behind(),
            max_message_bytes: self.max_message_bytes,
        }
    }

    fn behind(&self) -> BTreeMap<MemberCode, u64> {
        self.shared
            .roster
            .members()
            .iter()
            .map(|member| {
                let have = self.heads.get(&member.code).map_or(0, |head| head.seq);
                (
                    member.code,
                    self.plan.best_known(member.code).saturating_sub(have),
                )
            })
            .collect()
    }

    /// Sets the lag gauges, at most once a redial tick: computing them walks every member's
    /// claims from every peer, too much to do for each applied batch.
    fn update_lag_metrics(&mut self) {
        if !std::mem::take(&mut self.lag_changed) {
            return;
        }
        for (member, behind) in self.behind() {
            let label = MemberLabel {
                member: member.to_string(),
            };
            self.shared
                .metrics
                .sync_lag
                .get_or_create(&label)
                .set(behind as i64);
        }
    }

    fn seen(&mut self, peer: PeerId) {
        if self.roster_peers.peers.contains_key(&peer) {
            self.last_seen.insert(peer, self.shared.clock.now_ms());
        }
    }

    fn count_connected(&self) {
        let connected = self
            .roster_peers
            .peers
            .keys()
            .filter(|p| self.redial.is_connected(p));
        self.shared
            .metrics
            .connected_peers
            .set(connected.count() as i64);
    }

    fn own_status(&self) -> Status {
        Status {
            network: self.shared.roster.id(),
            heads: self
                .heads
                .iter()
                .map(|(member, head)| (*member, *head))
                .collect(),
            now_ms: self.shared.clock.now_ms(),
            max_message_bytes: u32::try_from(self.max_message_bytes).unwrap_or(u32::MAX),
        }
    }

    fn member_of(&self, peer: &PeerId) -> Option<MemberCode> {
        self.roster_peers.member_of(peer)
    }

    fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::NewListenAddr { address, .. } => {
                tracing::info!(%address, "listening");
                self.listening.send_modify(|list| list.push(address));
            }
            SwarmEvent::ConnectionEstablished {
                peer_id,
                num_established,
                ..
            } => {
                self.redial.connected(&peer_id);
                self.seen(peer_id);
                self.count_connected();
                if num_established.get() == 1
                    && let Some(member) = self.member_of(&peer_id)
                {
                    tracing::info!(%member, peer = %peer_id, "peer connected");
                    let event = NodeEvent::PeerConnected {
                        member,
                        peer: peer_id,
                    };
                    let _ = self.shared.events.send(event);
                }
                // Every new connection compares heads: the peer may have been wiped or
                // restarted, and nothing learned before is trusted.
                self.exchange_heads(peer_id);
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                connection_id,
                num_established,
                cause,
                ..
            } => {
                self.ping_failures.remove(&connection_id);
                self.redial
                    .closed(&peer_id, num_established, Instant::now());
                self.count_connected();
                if num_established == 0 {
                    self.plan.peer_gone(&peer_id);
                    self.lag_changed = true;
                    self.range_requests
                        .retain(|_, request| request.peer != peer_id);
                    if let Some(member) = self.member_of(&peer_id) {
                        let cause = cause.map(|cause| cause.to_string()).unwrap_or_default();
                        tracing::info!(%member, peer = %peer_id, %cause, "peer lost");
                        let _ = self.shared.events.send(NodeEvent::PeerLost {
                            member,
                            peer: peer_id,
                        });
                    }
                    self.schedule_fetches();
                }
            }
            SwarmEvent::IncomingConnectionError {
                error,
                peer_id,
                send_back_addr,
                ..
            } => {
                self.on_incoming_error(error, peer_id, send_back_addr);
            }
            SwarmEvent::OutgoingConnectionError {
                peer_id: Some(peer),
                error,
                ..
            } => {
                tracing::debug!(peer = %peer, err = %error, "dial failed");
                self.redial.failed(&peer, Instant::now());
            }
            SwarmEvent::Behaviour(event) => self.on_behaviour_event(event),
            _ => {}
        }
    }

    fn on_incoming_error(&mut self, error: ListenError, peer: Option<PeerId>, from: Multiaddr) {
        match (error, peer) {
            (ListenError::Denied { cause }, Some(peer)) if self.member_of(&peer).is_none() => {
                if self.refused.len() < MAX_REFUSED_REMEMBERED && self.refused.insert(peer) {
                    tracing::warn!(
                        peer = %peer,
                        address = %from,
                        %cause,
                        "refused a peer not in the roster",
                    );
                }
            }
            (error, peer) => {
                let peer = peer.map(|peer| peer.to_string()).unwrap_or_default();
                tracing::debug!(%peer, address = %from, err = %error, "incoming connection failed");
            }
        }
    }

    fn on_behaviour_event(&mut self, event: BehaviourEvent) {
        match event {
            BehaviourEvent::Gossipsub(gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            }) => {
                self.queue_gossip(propagation_source, message_id, message.data);
            }
            BehaviourEvent::Ping(ping::Event {
                peer,
                connection,
                result,
            }) => self.on_ping(peer, connection, result),
            BehaviourEvent::Sync(event) => self.on_sync_event(event),
            _ => {}
        }
    }

    /// A connection is closed after [`MAX_PING_FAILURES`] failed pings in a row, not one: on
    /// a saturated CPU a ping stream can time out in negotiation on a live connection, and
    /// closing it costs a redial and a handshake on the same saturated CPU.
    fn on_ping(
        &mut self,
        peer: PeerId,
        connection: ConnectionId,
        result: Result<Duration, ping::Failure>,
    ) {
        let err = match result {
            Ok(_) => {
                // An answered ping is contact: it keeps `last_seen` current on a quiet
                // network.
                self.seen(peer);
                self.ping_failures.remove(&connection);
                return;
            }
            Err(err) => err,
        };
        let failures = self.ping_failures.entry(connection).or_default();
        *failures += 1;
        if *failures < MAX_PING_FAILURES {
            tracing::debug!(peer = %peer, %err, failures = *failures, "ping failed");
            return;
        }
        tracing::warn!(peer = %peer, %err, "pings failed repeatedly; closing the connection");
        self.ping_failures.remove(&connection);
        self.swarm.close_connection(connection);
    }

    fn queue_gossip(&mut self, peer: PeerId, id: MessageId, data: Vec<u8>) {
        self.seen(peer);
        self.shared.metrics.gossip_received.inc();
        if self.gossip_queued >= MAX_QUEUED_GOSSIP {
            tracing::warn!(
                peer = %peer,
                "ingest queue full; dropping a gossip entry for sync to fetch",
            );
            self.swarm
                .behaviour_mut()
                .gossipsub
                .report_message_validation_result(&id, &peer, MessageAcceptance::Ignore);
            return;
        }
        let author = vigia_protocol::entry::peek_position(&data)
            .map(|(author, _)| author)
            .filter(|author| self.shared.roster.member(*author).is_some());
        self.gossip_queue
            .entry(author)
            .or_default()
            .push_back((data, Origin::Gossip { id, peer }));
        self.gossip_queued += 1;
        self.start_ingest();
    }

    fn on_sync_event(&mut self, event: request_response::Event<RequestFrame, Response>) {
        use request_response::{Event, Message};
        match event {
            Event::Message {
                peer,
                message:
                    Message::Request {
                        request, channel, ..
                    },
                ..
            } => {
                self.on_sync_request(peer, request, channel);
            }
            Event::Message {
                peer,
                message:
                    Message::Response {
                        request_id,
                        response,
                    },
                ..
            } => {
                self.on_sync_response(peer, request_id, response);
            }
            Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                tracing::debug!(peer = %peer, err = %error, "sync request failed");
                if let request_response::OutboundFailure::Io(error) = &error
                    && let Some(fault) = FrameError::of(error)
                {
                    self.fault(peer, fault.reason(), fault);
                }
                if let Some(request) = self.range_requests.remove(&request_id) {
                    self.plan.failed(&request.peer, request.author);
                    self.schedule_fetches();
                }
            }
            Event::InboundFailure { peer, error, .. } => {
                tracing::debug!(peer = %peer, err = %error, "sync answer failed");
            }
            Event::ResponseSent { .. } => {}
        }
    }

    fn on_sync_request(
        &mut self,
        peer: PeerId,
        request: RequestFrame,
        channel: ResponseChannel<Response>,
    ) {
        let request = match request {
            RequestFrame::Valid(request) => request,
            RequestFrame::Invalid(fault) => {
                self.fault(peer, fault.reason(), &fault);
                let refusal = Response::Refused(fault.to_string());
                let _ = self
                    .swarm
                    .behaviour_mut()
                    .sync
                    .send_response(channel, refusal);
                return;
            }
        };
        let response = match request {
            Request::Heads(status) => match self.learn_status(peer, status) {
                Ok(()) => Response::Heads(self.own_status()),
                Err(reason) => Response::Refused(reason),
            },
            Request::Range {
                author,
                from_seq,
                max_entries,
            } => {
                if self.serving.len() >= MAX_CONCURRENT_SERVES {
                    Response::Refused("busy; ask another node".into())
                } else {
                    self.serve_range(channel, author, from_seq, max_entries);
                    return;
                }
            }
        };
        let _ = self
            .swarm
            .behaviour_mut()
            .sync
            .send_response(channel, response);
    }

    fn serve_range(
        &mut self,
        channel: ResponseChannel<Response>,
        author: MemberCode,
        from: u64,
        max: u32,
    ) {
        let store = self.shared.store.clone();
        let max = max.min(MAX_PAGE_ENTRIES) as usize;
        self.serving.push(tokio::task::spawn_blocking(move || {
            let response = match store.entries(author, from, max, MAX_PAGE_BYTES) {
                Ok(entries) => Response::Entries(entries),
                Err(err) => {
                    tracing::error!(member = %author, err = %err, "cannot read entries to serve");
                    Response::Refused("storage error".into())
                }
            };
            (channel, response)
        }));
    }

    fn on_sync_response(
        &mut self,
        peer: PeerId,
        request_id: OutboundRequestId,
        response: Response,
    ) {
        match response {
            Response::Heads(status) => {
                if let Err(reason) = self.learn_status(peer, status) {
                    tracing::warn!(peer = %peer, %reason, "peer's heads refused");
                }
            }
            Response::Entries(entries) => {
                let Some(request) = self.range_requests.remove(&request_id) else {
                    return;
                };
                let (peer, author) = (request.peer, request.author);
                // A page that is not what was asked is dropped whole: its entries may be
                // valid, but the range comes more cheaply from another peer than from
                // sorting out what this one meant.
                if let Err(fault) = check_page(&request, &entries) {
                    self.fault(peer, fault.reason(), &fault);
                    self.plan.failed(&peer, author);
                    self.schedule_fetches();
                    return;
                }
                self.seen(peer);
                self.queued
                    .origins
                    .extend(entries.iter().map(|_| Origin::Sync { peer, author }));
                self.queued.items.extend(entries);
                self.queued.pages.push((peer, author, request.from_seq));
                self.start_ingest();
            }
            Response::Refused(reason) => {
                tracing::debug!(peer = %peer, %reason, "sync request refused");
                if let Some(request) = self.range_requests.remove(&request_id) {
                    self.plan.failed(&request.peer, request.author);
                    self.schedule_fetches();
                }
            }
        }
    }

    fn learn_status(&mut self, peer: PeerId, status: Status) -> Result<(), String> {
        if status.network != self.shared.roster.id() {
            let reason = format!("other network {}", status.network);
            tracing::warn!(peer = %peer, %reason, "sync refused");
            return Err(reason);
        }
        self.learn_limit(peer, status.max_message_bytes);
        self.seen(peer);
        let now = i64::try_from(self.shared.clock.now_ms()).unwrap_or(i64::MAX);
        let offset = i64::try_from(status.now_ms)
            .unwrap_or(i64::MAX)
            .saturating_sub(now);
        self.clock_offsets.insert(peer, offset);
        if let Some(member) = self.member_of(&peer) {
            let label = MemberLabel {
                member: member.to_string(),
            };
            self.shared
                .metrics
                .peer_clock_offset
                .get_or_create(&label)
                .set(offset);
        }
        self.plan.heads_announced(peer, &status.heads);
        self.probe_forks(peer, &status.heads);
        self.lag_changed = true;
        self.heard_from_peer = true;
        self.update_readiness();
        self.schedule_fetches();
        Ok(())
    }

    /// Remembers a peer's gossip limit; a smaller one than ours is logged when first seen
    /// (or when it changes) and shown in status and metrics.
    fn learn_limit(&mut self, peer: PeerId, limit: u32) {
        let own_limit = u32::try_from(self.max_message_bytes).unwrap_or(u32::MAX);
        let previous = self.peer_limits.insert(peer, limit);
        if limit < own_limit && previous != Some(limit) {
            let member = self
                .member_of(&peer)
                .map(|m| m.to_string())
                .unwrap_or_default();
            tracing::warn!(
                peer = %peer,
                %member,
                peer_limit = limit,
                own_limit = self.max_message_bytes,
                "peer accepts smaller gossip messages; larger entries reach it through sync only"
            );
        }
        if let Some(member) = self.member_of(&peer) {
            let label = MemberLabel {
                member: member.to_string(),
            };
            self.shared
                .metrics
                .peer_max_message_bytes
                .get_or_create(&label)
                .set(i64::from(limit));
        }
    }

    /// After this node applied or published anything, tells every connected peer whose
    /// gossip limit is below ours our heads, so it fetches now what gossip may not have
    /// carried to it rather than at the next periodic exchange.
    ///
    /// Every time, not only after an entry over its limit: a gossip message over the
    /// receiver's limit is dropped with a debug line on its side only, and it also closes
    /// the receiver's inbound gossip stream, losing whatever the sender writes next before
    /// it notices, however much later that is. The cost is one heads exchange per ingest
    /// job or publish, to misconfigured peers only.
    fn offer_to_smaller_peers(&mut self) {
        let own_limit = self.max_message_bytes;
        let smaller: Vec<PeerId> = self
            .peer_limits
            .iter()
            .filter(|(peer, limit)| {
                (**limit as usize) < own_limit && self.redial.is_connected(peer)
            })
            .map(|(peer, _)| *peer)
            .collect();
        for peer in smaller {
            tracing::debug!(peer = %peer, "peer takes smaller gossip; offering heads by sync");
            self.exchange_heads(peer);
        }
    }

    /// Counts a provable fault against `peer`, and logs it as [`Conduct`] decides.
    fn fault(&mut self, peer: PeerId, reason: &'static str, detail: &dyn std::fmt::Display) {
        let Some(member) = self.member_of(&peer) else {
            return;
        };
        let label = MemberReasonLabel {
            member: member.to_string(),
            reason: reason.to_owned(),
        };
        self.shared
            .metrics
            .peer_rejections
            .get_or_create(&label)
            .inc();
        let now = self.shared.clock.now_ms();
        match self
            .conduct
            .record(peer, reason, detail, now, Instant::now())
        {
            Report::First => tracing::warn!(
                peer = %peer,
                %member,
                reason,
                err = %detail,
                "peer sent invalid data; counted against it",
            ),
            Report::Again { since_last_warning } => tracing::warn!(
                peer = %peer,
                %member,
                reason,
                count = since_last_warning,
                err = %detail,
                "peer keeps sending invalid data",
            ),
            Report::Quiet => {
                tracing::debug!(peer = %peer, %member, reason, err = %detail, "invalid data")
            }
        }
    }

    /// A peer whose head has our head's sequence number but another hash holds a rival
    /// entry: fetch it so the ledger keeps it as evidence. Without this, two histories that
    /// each stop at the same length would never meet.
    fn probe_forks(&mut self, peer: PeerId, heads: &[(MemberCode, Head)]) {
        for (member, head) in heads {
            let rival = self
                .heads
                .get(member)
                .is_some_and(|ours| ours.seq == head.seq && ours.hash != head.hash);
            if !rival || self.fork_probes.len() >= MAX_FORK_PROBES {
                continue;
            }
            if self.fork_probes.insert((*member, head.seq, head.hash)) {
                tracing::warn!(
                    %member,
                    seq = head.seq,
                    peer = %peer,
                    "peer holds a different entry at our head; fetching it as evidence",
                );
                let request = Request::Range {
                    author: *member,
                    from_seq: head.seq,
                    max_entries: 1,
                };
                let id = self
                    .swarm
                    .behaviour_mut()
                    .sync
                    .send_request(&peer, RequestFrame::Valid(request));
                let range = RangeRequest {
                    peer,
                    author: *member,
                    from_seq: head.seq,
                    max_entries: 1,
                };
                self.range_requests.insert(id, range);
            }
        }
    }

    fn exchange_heads(&mut self, peer: PeerId) {
        let request = Request::Heads(self.own_status());
        self.swarm
            .behaviour_mut()
            .sync
            .send_request(&peer, RequestFrame::Valid(request));
    }

    /// Exchanges heads with the next connected peer in turn.
    fn exchange_heads_in_turn(&mut self) {
        for _ in 0..self.heads_order.len() {
            let peer = self.heads_order[self.heads_turn % self.heads_order.len()];
            self.heads_turn = (self.heads_turn + 1) % self.heads_order.len();
            if self.swarm.is_connected(&peer) {
                self.exchange_heads(peer);
                return;
            }
        }
    }

    fn schedule_fetches(&mut self) {
        for fetch in self.plan.next_fetches(&self.heads) {
            let request = Request::Range {
                author: fetch.author,
                from_seq: fetch.from_seq,
                max_entries: MAX_PAGE_ENTRIES,
            };
            let id = self
                .swarm
                .behaviour_mut()
                .sync
                .send_request(&fetch.peer, RequestFrame::Valid(request));
            let range = RangeRequest {
                peer: fetch.peer,
                author: fetch.author,
                from_seq: fetch.from_seq,
                max_entries: MAX_PAGE_ENTRIES,
            };
            self.range_requests.insert(id, range);
        }
    }

    /// Publishing becomes allowed once a peer has told us its heads and we hold at least as
    /// much of our own feed as any connected peer claims.
    fn update_readiness(&mut self) {
        if *self.ready.borrow() || !self.heard_from_peer {
            return;
        }
        let own = self.shared.member;
        let have = self.heads.get(&own).map_or(0, |head| head.seq);
        if have >= self.plan.best_known(own) && !self.plan.is_fetching(own) {
            tracing::info!(
                member = %own,
                seq = have,
                "own feed confirmed with peers; publishing enabled",
            );
            self.ready.send_replace(true);
        }
    }

    fn start_ingest(&mut self) {
        let queued = &self.queued;
        let idle = queued.items.is_empty() && queued.pages.is_empty() && !queued.flush;
        if self.ingest.is_some() || idle && self.gossip_queued == 0 {
            return;
        }
        let mut job = std::mem::take(&mut self.queued);
        for queue in self.gossip_queue.values_mut() {
            let share = queue.len().min(JOB_SHARE_PER_FEED);
            for (data, origin) in queue.drain(..share) {
                job.items.push(data);
                job.origins.push(origin);
            }
            self.gossip_queued -= share;
        }
        self.gossip_queue.retain(|_, queue| !queue.is_empty());
        let shared = self.shared.clone();
        self.ingest = Some(tokio::task::spawn_blocking(move || {
            let mut ledger = match shared.ledger.lock() {
                Ok(ledger) => ledger,
                Err(_) => {
                    return IngestDone {
                        origins: job.origins,
                        pages: job.pages,
                        result: Err(anyhow!("ledger lock poisoned")),
                        unflushed: true,
                        reloaded_heads: None,
                    };
                }
            };
            // Gossip alone is deferred: its entries are held by the peers that sent them.
            // A sync page is durable, so that catching up never goes backwards after a
            // crash and the heads the node reports during it are on disk.
            let result = if job.pages.is_empty() {
                ledger.ingest_deferred(&job.items, shared.clock.now_ms())
            } else {
                ledger.ingest(&job.items, shared.clock.now_ms())
            };
            if job.flush
                && let Err(err) = ledger.flush()
            {
                log_store_error(&err, "cannot flush the store");
            }
            IngestDone {
                origins: job.origins,
                pages: job.pages,
                result,
                unflushed: ledger.is_unflushed(),
                reloaded_heads: ledger.take_reopened().then(|| ledger.heads().clone()),
            }
        }));
    }

    fn on_ingested(&mut self, done: IngestDone) {
        self.unflushed = done.unflushed;
        if let Some(heads) = done.reloaded_heads {
            // The reopened store holds only what reached the disk; sync asks for the rest.
            self.heads = heads;
        }
        let ingested = match done.result {
            Ok(ingested) => ingested,
            Err(err) => {
                log_store_error(&err, "cannot apply entries; they will be fetched again");
                self.settle_unjudged(&done.origins);
                for (peer, author, _) in done.pages {
                    self.plan.failed(&peer, author);
                }
                self.start_ingest();
                return;
            }
        };
        // Pages that held an invalid entry: the rest of their range is asked elsewhere.
        let mut faulty_pages = HashSet::new();
        for (origin, placement) in done.origins.iter().zip(&ingested.placements) {
            self.settle(origin, placement);
            if let (Origin::Sync { peer, author }, Placement::Rejected(_)) = (origin, placement) {
                faulty_pages.insert((*peer, *author));
            }
        }
        let now = self.shared.clock.now_ms();
        for entry in &ingested.applied {
            self.heads
                .insert(entry.signed.entry.author, entry.as_head());
            if let Body::Alert(_) = entry.signed.entry.body {
                let delay_ms = now.saturating_sub(entry.signed.entry.issued_at_ms);
                self.shared
                    .metrics
                    .alert_propagation_seconds
                    .observe(delay_ms as f64 / 1000.0);
            }
            let _ = self
                .shared
                .events
                .send(NodeEvent::Applied(entry.reference()));
        }
        self.shared
            .metrics
            .entries_applied
            .inc_by(ingested.applied.len() as u64);
        for fork in &ingested.new_forks {
            self.shared.metrics.forks.inc();
            let _ = self.shared.events.send(NodeEvent::Fork(fork.clone()));
        }
        if !ingested.applied.is_empty() {
            tracing::debug!(applied = ingested.applied.len(), "entries applied");
        }
        for (peer, author, asked_from) in done.pages {
            if faulty_pages.contains(&(peer, author)) {
                self.plan.failed(&peer, author);
            } else {
                let reached = self.heads.get(&author).map_or(0, |head| head.seq);
                self.plan.answered(&peer, author, asked_from, reached);
            }
        }
        if !ingested.applied.is_empty() {
            self.offer_to_smaller_peers();
        }
        self.update_readiness();
        self.lag_changed |= !ingested.applied.is_empty();
        self.schedule_fetches();
        self.start_ingest();
    }

    fn settle_unjudged(&mut self, origins: &[Origin]) {
        for origin in origins {
            if let Origin::Gossip { id, peer } = origin {
                self.swarm
                    .behaviour_mut()
                    .gossipsub
                    .report_message_validation_result(id, peer, MessageAcceptance::Ignore);
            }
        }
    }

    fn settle(&mut self, origin: &Origin, placement: &Placement) {
        let (peer, gossip_id) = match origin {
            Origin::Gossip { id, peer } => (*peer, Some(id)),
            Origin::Sync { peer, .. } => (*peer, None),
        };
        let acceptance = match placement {
            Placement::Rejected(error) => {
                let label = ReasonLabel {
                    reason: error.reason().to_string(),
                };
                self.shared
                    .metrics
                    .entries_rejected
                    .get_or_create(&label)
                    .inc();
                self.fault(peer, error.reason(), error);
                let _ = self.shared.events.send(NodeEvent::Rejected {
                    peer,
                    reason: error.to_string(),
                });
                MessageAcceptance::Reject
            }
            Placement::Duplicate => {
                self.shared.metrics.entries_duplicate.inc();
                MessageAcceptance::Ignore
            }
            Placement::Buffered { author, seq } => {
                self.plan.holds_at_least(peer, *author, *seq);
                MessageAcceptance::Accept
            }
            // Forks are forwarded so that every node keeps the evidence.
            Placement::Applied | Placement::Fork(_) => MessageAcceptance::Accept,
        };
        if let Some(id) = gossip_id {
            self.swarm
                .behaviour_mut()
                .gossipsub
                .report_message_validation_result(id, &peer, acceptance);
        }
    }

    fn redial_due(&mut self) {
        for (peer, addresses) in self.redial.due(Instant::now()) {
            let options = DialOpts::peer_id(peer)
                .addresses(addresses)
                .condition(PeerCondition::DisconnectedAndNotDialing)
                .build();
            if let Err(err) = self.swarm.dial(options) {
                tracing::debug!(peer = %peer, %err, "cannot dial");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use vigia_protocol::{Hash, Signature, SignedEntry};

    use super::*;

    fn code(text: &str) -> MemberCode {
        text.parse().expect("valid code")
    }

    /// Wire bytes of an entry; the page check reads positions only, so it need not be signed.
    fn wire(author: &str, seq: u64) -> Vec<u8> {
        let entry = vigia_protocol::Entry {
            network: Hash::ZERO,
            author: code(author),
            seq,
            prev: Hash::ZERO,
            issued_at_ms: 0,
            body: Body::ContactRemove { id: "c-1".into() },
        };
        let signed = SignedEntry {
            entry,
            signature: Signature([0; 64]),
        };
        signed.to_bytes().expect("encodes")
    }

    fn request(from_seq: u64, max_entries: u32) -> RangeRequest {
        RangeRequest {
            peer: PeerId::random(),
            author: code("AR"),
            from_seq,
            max_entries,
        }
    }

    #[test]
    fn page_of_the_asked_range_passes_and_garbage_is_left_to_the_ledger() {
        let page = vec![wire("AR", 5), vec![0xff; 3], wire("AR", 7)];
        assert!(check_page(&request(5, 10), &page).is_ok());
        assert!(check_page(&request(5, 10), &[]).is_ok());
    }

    #[test]
    fn page_that_is_not_what_was_asked_names_the_fault() {
        let reason = |request: RangeRequest, page: &[Vec<u8>]| {
            check_page(&request, page).map_err(|fault| (fault.reason(), fault.to_string()))
        };
        let (name, text) =
            reason(request(5, 10), &[wire("AR", 5), wire("BR", 6)]).expect_err("wrong author");
        assert_eq!(name, "sync_wrong_author");
        assert!(text.contains("BR"), "{text}");
        let (name, text) =
            reason(request(5, 10), &[wire("AR", 5), wire("AR", 9)]).expect_err("out of range");
        assert_eq!(name, "sync_out_of_range");
        assert!(text.contains("seq 9, expected 6"), "{text}");
        let replay = reason(request(5, 10), &[wire("AR", 1)]).expect_err("replay");
        assert_eq!(replay.0, "sync_out_of_range");
        let long: Vec<_> = (5..8).map(|seq| wire("AR", seq)).collect();
        let (name, _) = reason(request(5, 2), &long).expect_err("too many");
        assert_eq!(name, "sync_page_too_large");
        let heavy = vec![vec![0; MAX_ENTRY_BYTES]; MAX_HONEST_PAGE_BYTES / MAX_ENTRY_BYTES + 1];
        let (name, text) = reason(request(5, 1_000), &heavy).expect_err("too heavy");
        assert_eq!(name, "sync_page_too_large");
        assert!(text.contains("bytes"), "{text}");
    }
}
