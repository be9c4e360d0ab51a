//! A roster member's node that misbehaves on purpose.
//!
//! It holds the member's genuine libp2p identity, so honest nodes accept the connection,
//! and speaks the node's protocols at the byte level: gossipsub on the network's topic with
//! the node's own configuration, ping (a node closes connections whose pings fail), and
//! `/vigia/sync/1` through a codec that writes whatever bytes the test gives it. So it can
//! send what a real node never would: forged or foreign entries, garbage and oversized
//! frames, answers that are not what was asked.
//!
//! The one difference from a node's gossip: each message gets a fresh id here, so this peer
//! can publish the same entry twice (a replay). Honest nodes still name messages by the
//! entry hash, as always.

use std::collections::HashMap;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Result, anyhow};
use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, StreamExt};
use libp2p::gossipsub::{self, IdentTopic, MessageAuthenticity};
use libp2p::identity::Keypair;
use libp2p::request_response::{self, OutboundRequestId, ProtocolSupport, ResponseChannel};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, PeerId, StreamProtocol, Swarm, noise, ping, tcp, yamux};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use vigia_node::network::behaviour::{GOSSIP_HEARTBEAT, Settings, gossip_config};
use vigia_protocol::codec::MAX_SYNC_MESSAGE_BYTES;
use vigia_protocol::entry::Head;
use vigia_protocol::sync::{self, Request, Response, Status};
use vigia_protocol::{MemberCode, Roster};

/// Commands waiting for the peer's loop.
const COMMAND_QUEUE: usize = 64;
/// Unanswered requests held open while answering [`Answer::Silent`]; beyond this they are
/// dropped (which the asker sees at once).
const MAX_SILENT: usize = 256;
/// Longest frame this peer reads; it reads honest frames only, so the protocol's limit.
const MAX_READ: usize = MAX_SYNC_MESSAGE_BYTES;

/// Entries of `feed` from `from_seq` on, as many as asked and a page holds.
fn feed_page(feed: &[Vec<u8>], from_seq: u64, max_entries: u32) -> Vec<Vec<u8>> {
    let first = usize::try_from(from_seq.saturating_sub(1)).unwrap_or(usize::MAX);
    let most = max_entries.min(sync::MAX_PAGE_ENTRIES) as usize;
    let mut bytes = 0;
    feed.iter()
        .skip(first)
        .take(most)
        .take_while(|entry| {
            bytes += entry.len();
            bytes <= sync::MAX_PAGE_BYTES
        })
        .cloned()
        .collect()
}

/// Frames a sync message as a node does: 4-byte big-endian length, then the bytes.
pub fn frame(body: &[u8]) -> Vec<u8> {
    let mut framed = u32::try_from(body.len())
        .expect("frame under 4 GiB")
        .to_be_bytes()
        .to_vec();
    framed.extend_from_slice(body);
    framed
}

/// A framed, well-formed sync response.
pub fn framed_response(response: &Response) -> Vec<u8> {
    frame(&sync::encode_response(response).expect("response encodes"))
}

/// A framed, well-formed sync request.
pub fn framed_request(request: &Request) -> Vec<u8> {
    frame(&sync::encode_request(request).expect("request encodes"))
}

/// The sync codec of a peer that writes raw bytes: requests and responses are the exact
/// bytes to put on the stream, framing included; what it reads is one frame's body.
#[derive(Debug, Clone, Default)]
struct RawCodec;

async fn read_frame<T: AsyncRead + Unpin + Send>(io: &mut T) -> io::Result<Vec<u8>> {
    let mut length = [0u8; 4];
    io.read_exact(&mut length).await?;
    let length = u32::from_be_bytes(length) as usize;
    if length > MAX_READ {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "frame over limit",
        ));
    }
    let mut body = Vec::new();
    io.take(length as u64).read_to_end(&mut body).await?;
    Ok(body)
}

impl request_response::Codec for RawCodec {
    type Protocol = StreamProtocol;
    type Request = Vec<u8>;
    type Response = Vec<u8>;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Vec<u8>>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_frame(io).await
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Vec<u8>>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_frame(io).await
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        bytes: Vec<u8>,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        io.write_all(&bytes).await?;
        io.close().await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        bytes: Vec<u8>,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        io.write_all(&bytes).await?;
        io.close().await
    }
}

#[derive(NetworkBehaviour)]
struct Behaviour {
    ping: ping::Behaviour,
    gossipsub: gossipsub::Behaviour,
    sync: request_response::Behaviour<RawCodec>,
}

/// How the peer answers range requests from honest nodes.
#[derive(Debug, Clone)]
pub enum Answer {
    /// Never answers (the request times out on the asker's side).
    Silent,
    /// These exact bytes, framing included, whatever was asked.
    Raw(Vec<u8>),
    /// A well-framed page of these entries, whatever was asked.
    Page(Vec<Vec<u8>>),
    /// Honest answers from one member's feed (entry `n` holding sequence number `n + 1`),
    /// as a node serves ranges: what was asked, within the page limits; nothing of other
    /// members' feeds.
    Feed(MemberCode, Arc<Vec<Vec<u8>>>),
}

/// What the peer has seen, readable while it runs.
#[derive(Debug, Default)]
pub struct Seen {
    /// Range requests honest nodes sent it.
    pub range_requests: AtomicU64,
    /// Heads requests honest nodes sent it.
    pub heads_requests: AtomicU64,
    /// Peers connected now.
    pub connected: AtomicUsize,
}

enum Command {
    Publish(Vec<u8>, oneshot::Sender<Result<(), String>>),
    PublishBatch(Vec<Vec<u8>>, oneshot::Sender<usize>),
    Request(PeerId, Vec<u8>, oneshot::Sender<Result<Vec<u8>, String>>),
    SetAnswer(Answer),
    SetHeads(Vec<(MemberCode, Head)>),
    Announce(PeerId),
}

/// A running misbehaving peer.
pub struct HostilePeer {
    commands: mpsc::Sender<Command>,
    task: JoinHandle<()>,
    /// What it has seen.
    pub seen: Arc<Seen>,
    /// Its peer id (the member's genuine one).
    pub peer_id: PeerId,
}

struct PeerLoop {
    swarm: Swarm<Behaviour>,
    topic: IdentTopic,
    roster: Roster,
    heads: Vec<(MemberCode, Head)>,
    answer: Answer,
    seen: Arc<Seen>,
    commands: mpsc::Receiver<Command>,
    requests: HashMap<OutboundRequestId, oneshot::Sender<Result<Vec<u8>, String>>>,
    silent: Vec<ResponseChannel<Vec<u8>>>,
}

/// The gossip configuration of a node, with a fresh message id per publish (see the module
/// documentation).
fn gossip() -> gossipsub::Behaviour {
    let settings = Settings {
        max_message_bytes: vigia_node::config::DEFAULT_MAX_MESSAGE_BYTES,
        heartbeat: GOSSIP_HEARTBEAT,
    };
    let node_config = gossip_config(&settings).expect("node gossip config");
    let counter = AtomicU64::new(0);
    let config = gossipsub::ConfigBuilder::from(node_config)
        .message_id_fn(move |_| {
            let id = counter.fetch_add(1, Ordering::Relaxed);
            gossipsub::MessageId::from(id.to_be_bytes().to_vec())
        })
        .build()
        .expect("gossip config");
    gossipsub::Behaviour::new(MessageAuthenticity::Anonymous, config).expect("gossip")
}

impl HostilePeer {
    /// Starts the peer with `identity`, listening on `listen` and dialing `dial` (honest
    /// nodes' addresses, with their peer ids).
    pub async fn start(
        identity: Keypair,
        roster: &Roster,
        listen: Vec<Multiaddr>,
        dial: Vec<(PeerId, Multiaddr)>,
    ) -> Result<Self> {
        let peer_id = identity.public().to_peer_id();
        let mut swarm = libp2p::SwarmBuilder::with_existing_identity(identity)
            .with_tokio()
            .with_tcp(
                tcp::Config::default().nodelay(true),
                noise::Config::new,
                yamux::Config::default,
            )?
            .with_quic()
            .with_behaviour(|_| Behaviour {
                ping: ping::Behaviour::new(ping::Config::new()),
                gossipsub: gossip(),
                sync: request_response::Behaviour::with_codec(
                    RawCodec,
                    [(
                        StreamProtocol::new(sync::PROTOCOL_NAME),
                        ProtocolSupport::Full,
                    )],
                    request_response::Config::default()
                        .with_request_timeout(Duration::from_secs(10)),
                ),
            })?
            .with_swarm_config(|config| {
                config.with_idle_connection_timeout(Duration::from_secs(3600))
            })
            .build();
        let topic = IdentTopic::new(format!("/vigia/{}/entries/1", roster.id()));
        swarm.behaviour_mut().gossipsub.subscribe(&topic)?;
        for address in listen {
            swarm.listen_on(address)?;
        }
        for (peer, address) in dial {
            swarm.add_peer_address(peer, address.clone());
            swarm.dial(address)?;
        }
        let (commands_tx, commands) = mpsc::channel(COMMAND_QUEUE);
        let seen = Arc::new(Seen::default());
        let peer_loop = PeerLoop {
            swarm,
            topic,
            roster: roster.clone(),
            heads: Vec::new(),
            answer: Answer::Silent,
            seen: seen.clone(),
            commands,
            requests: HashMap::new(),
            silent: Vec::new(),
        };
        Ok(Self {
            commands: commands_tx,
            task: tokio::spawn(peer_loop.run()),
            seen,
            peer_id,
        })
    }

    async fn send(&self, command: Command) -> Result<()> {
        self.commands
            .send(command)
            .await
            .map_err(|_| anyhow!("hostile peer stopped"))
    }

    /// Puts bytes on the gossip topic; fails if no peer took them (mesh not formed yet).
    pub async fn publish(&self, bytes: Vec<u8>) -> Result<()> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::Publish(bytes, reply)).await?;
        answer.await?.map_err(anyhow::Error::msg)
    }

    /// Publishes each of `batch` in one turn of the peer's loop (a flood's step); returns how
    /// many gossip took.
    pub async fn publish_batch(&self, batch: Vec<Vec<u8>>) -> Result<usize> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::PublishBatch(batch, reply)).await?;
        Ok(answer.await?)
    }

    /// Publishes, retrying for up to 10 s while no peer is subscribed yet.
    pub async fn publish_when_meshed(&self, bytes: Vec<u8>) -> Result<()> {
        let start = std::time::Instant::now();
        loop {
            match self.publish(bytes.clone()).await {
                Ok(()) => return Ok(()),
                Err(_) if start.elapsed() < Duration::from_secs(10) => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(err) => return Err(err.context("gossip took the bytes nowhere for 10 s")),
            }
        }
    }

    /// Sends raw bytes (framing included) as a sync request to `peer`; returns the body of
    /// the answer, or why there was none.
    pub async fn request(&self, peer: PeerId, bytes: Vec<u8>) -> Result<Vec<u8>, String> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::Request(peer, bytes, reply))
            .await
            .map_err(|err| err.to_string())?;
        answer.await.map_err(|err| err.to_string())?
    }

    /// Sets how range requests are answered from now on.
    pub async fn set_answer(&self, answer: Answer) -> Result<()> {
        self.send(Command::SetAnswer(answer)).await
    }

    /// Sets the heads this peer claims in heads exchanges.
    pub async fn set_heads(&self, heads: Vec<(MemberCode, Head)>) -> Result<()> {
        self.send(Command::SetHeads(heads)).await
    }

    /// Tells `peer` this peer's claimed heads now, as a node does on connecting.
    pub async fn announce(&self, peer: PeerId) -> Result<()> {
        self.send(Command::Announce(peer)).await
    }

    /// Stops the peer and closes its connections.
    pub async fn stop(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

impl PeerLoop {
    async fn run(mut self) {
        loop {
            tokio::select! {
                event = self.swarm.select_next_some() => self.on_event(event),
                command = self.commands.recv() => match command {
                    Some(command) => self.on_command(command),
                    None => break,
                },
            }
        }
    }

    fn status(&self) -> Status {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock after 1970")
            .as_millis() as u64;
        Status {
            network: self.roster.id(),
            heads: self.heads.clone(),
            now_ms,
            max_message_bytes: vigia_node::config::DEFAULT_MAX_MESSAGE_BYTES as u32,
        }
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Publish(bytes, reply) => {
                let topic = self.topic.clone();
                let sent = self.swarm.behaviour_mut().gossipsub.publish(topic, bytes);
                let _ = reply.send(sent.map(|_| ()).map_err(|err| err.to_string()));
            }
            Command::PublishBatch(batch, reply) => {
                let mut published = 0;
                for bytes in batch {
                    let topic = self.topic.clone();
                    if self
                        .swarm
                        .behaviour_mut()
                        .gossipsub
                        .publish(topic, bytes)
                        .is_ok()
                    {
                        published += 1;
                    }
                }
                let _ = reply.send(published);
            }
            Command::Request(peer, bytes, reply) => {
                let id = self.swarm.behaviour_mut().sync.send_request(&peer, bytes);
                self.requests.insert(id, reply);
            }
            Command::SetAnswer(answer) => self.answer = answer,
            Command::SetHeads(heads) => self.heads = heads,
            Command::Announce(peer) => {
                let request = framed_request(&Request::Heads(self.status()));
                self.swarm.behaviour_mut().sync.send_request(&peer, request);
            }
        }
    }

    fn on_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::ConnectionEstablished { .. } | SwarmEvent::ConnectionClosed { .. } => {
                let connected = self.swarm.connected_peers().count();
                self.seen.connected.store(connected, Ordering::Relaxed);
            }
            SwarmEvent::Behaviour(BehaviourEvent::Sync(event)) => self.on_sync(event),
            _ => {}
        }
    }

    fn on_sync(&mut self, event: request_response::Event<Vec<u8>, Vec<u8>>) {
        use request_response::{Event, Message};
        match event {
            Event::Message {
                message:
                    Message::Request {
                        request, channel, ..
                    },
                ..
            } => self.answer(&request, channel),
            Event::Message {
                message:
                    Message::Response {
                        request_id,
                        response,
                    },
                ..
            } => {
                if let Some(reply) = self.requests.remove(&request_id) {
                    let _ = reply.send(Ok(response));
                }
            }
            Event::OutboundFailure {
                request_id, error, ..
            } => {
                if let Some(reply) = self.requests.remove(&request_id) {
                    let _ = reply.send(Err(error.to_string()));
                }
            }
            _ => {}
        }
    }

    fn answer(&mut self, request: &[u8], channel: ResponseChannel<Vec<u8>>) {
        let bytes = match sync::decode_request(request) {
            Ok(Request::Heads(_)) => {
                self.seen.heads_requests.fetch_add(1, Ordering::Relaxed);
                framed_response(&Response::Heads(self.status()))
            }
            Ok(Request::Range {
                author,
                from_seq,
                max_entries,
            }) => {
                self.seen.range_requests.fetch_add(1, Ordering::Relaxed);
                match &self.answer {
                    Answer::Silent => {
                        // Held, not dropped: a dropped channel would tell the asker at once.
                        if self.silent.len() < MAX_SILENT {
                            self.silent.push(channel);
                        }
                        return;
                    }
                    Answer::Raw(bytes) => bytes.clone(),
                    Answer::Page(entries) => framed_response(&Response::Entries(entries.clone())),
                    Answer::Feed(member, feed) => {
                        let page = if *member == author {
                            feed_page(feed, from_seq, max_entries)
                        } else {
                            Vec::new()
                        };
                        framed_response(&Response::Entries(page))
                    }
                }
            }
            Err(_) => return,
        };
        let _ = self
            .swarm
            .behaviour_mut()
            .sync
            .send_response(channel, bytes);
    }
}
