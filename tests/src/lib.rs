//! Harness for end-to-end tests: a network of member nodes on 127.0.0.1, in this process.
//!
//! Keys come from a seed, so a failing run can be reproduced; ports are picked free on
//! loopback (TCP and UDP alike) because the roster must name every node's addresses before
//! any node starts.

pub mod hostile_peer;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use vigia_node::node::{Node, NodeSetup};
pub use vigia_node::testing::{TestMember, free_port, seeded_secret, signed_roster};
use vigia_protocol::body::{
    Alert, Availability, Certainty, Contact, Recipients, Severity, Tlp, Urgency,
};
use vigia_protocol::{Body, Roster};

/// Members, their roster and a directory for their stores.
pub struct TestNetwork {
    /// The verified roster.
    pub roster: Roster,
    /// The members, in roster order.
    pub members: Vec<TestMember>,
    /// Seconds between heads exchanges for nodes started by [`TestNetwork::start`].
    pub sync_interval: Duration,
    dir: tempfile::TempDir,
}

impl TestNetwork {
    /// A network of the given members, keys derived from `seed`.
    pub fn new(codes: &[&str], seed: u64) -> Self {
        let members: Vec<TestMember> = codes
            .iter()
            .map(|code| TestMember::seeded(code, &format!("Member {code}"), seed))
            .collect();
        let roster = signed_roster("vigia-test", &members);
        let dir = tempfile::tempdir().expect("temporary directory");
        Self {
            roster,
            members,
            sync_interval: Duration::from_secs(5),
            dir,
        }
    }

    /// The store file of member `index`.
    pub fn store_path(&self, index: usize) -> PathBuf {
        self.dir
            .path()
            .join(format!("{}.redb", self.members[index].code))
    }

    /// What member `index`'s node starts from.
    pub fn setup(&self, index: usize) -> NodeSetup {
        let member = &self.members[index];
        NodeSetup {
            roster: self.roster.clone(),
            member: member.code,
            signing_key: member.signing_key.clone(),
            identity: member.identity(),
            store_path: self.store_path(index),
            listen: Vec::new(),
            sync_interval: self.sync_interval,
            max_message_bytes: vigia_node::config::DEFAULT_MAX_MESSAGE_BYTES,
            clock: vigia_node::clock::Clock::system(),
        }
    }

    /// Starts member `index`'s node.
    pub async fn start(&self, index: usize) -> Node {
        Node::start(self.setup(index)).await.expect("node starts")
    }

    /// Starts every node and waits until each may publish.
    pub async fn start_all(&self) -> Vec<Node> {
        self.start_first(self.members.len()).await
    }

    /// Starts the first `count` members' nodes (the others stay down) and waits until each
    /// may publish.
    pub async fn start_first(&self, count: usize) -> Vec<Node> {
        let mut nodes = Vec::new();
        for index in 0..count {
            nodes.push(self.start(index).await);
        }
        for node in &nodes {
            wait_ready(node).await;
        }
        nodes
    }
}

/// Waits until `node` may publish, failing after 30 s.
pub async fn wait_ready(node: &Node) {
    tokio::time::timeout(Duration::from_secs(30), node.handle().wait_ready())
        .await
        .expect("node ready within 30 s")
        .expect("node running");
}

/// Polls `check` every 50 ms until it is true; fails with `what` after `timeout`.
pub async fn wait_until(
    what: &str,
    timeout: Duration,
    mut check: impl FnMut() -> bool,
) -> Result<Duration> {
    let start = Instant::now();
    while !check() {
        if start.elapsed() > timeout {
            bail!("timed out after {timeout:?} waiting until {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(start.elapsed())
}

/// Like [`wait_until`], for a check that has to await (a node's status, say).
pub async fn wait_until_async<F, Fut>(
    what: &str,
    timeout: Duration,
    mut check: F,
) -> Result<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !check().await {
        if start.elapsed() > timeout {
            bail!("timed out after {timeout:?} waiting until {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(start.elapsed())
}

/// Puts raw bytes on the gossip topic from `node`, retrying while gossip has no subscribed
/// peer yet (the mesh forms a heartbeat or two after connecting).
pub async fn gossip_raw(node: &Node, bytes: &[u8]) {
    let start = Instant::now();
    loop {
        match node.handle().gossip_raw(bytes.to_vec()).await {
            Ok(()) => return,
            Err(_) if start.elapsed() < Duration::from_secs(10) => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(err) => panic!("gossip took the bytes nowhere for 10 s: {err:#}"),
        }
    }
}

/// Whether every node holds the same heads.
pub fn same_heads(nodes: &[&Node]) -> bool {
    let heads: Vec<_> = nodes
        .iter()
        .map(|node| node.handle().heads().ok())
        .collect();
    heads
        .windows(2)
        .all(|pair| pair[0].is_some() && pair[0] == pair[1])
}

/// A synthetic contact of `member`.
pub fn contact(id: &str, given: &str, family: &str) -> Body {
    Body::ContactPut(Contact {
        id: id.into(),
        given_names: given.into(),
        family_names: family.into(),
        institution_id: "policia-nacional".into(),
        role: "Oficial de enlace".into(),
        emails: vec![format!("{id}@enlace.example.org")],
        phones: vec!["+5114181234".into()],
        languages: vec!["es".into()],
        availability: Availability::AlwaysOn,
        notes: String::new(),
    })
}

/// A network-wide alert that expires in a day.
pub fn alert(id: &str, title: &str) -> Body {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as u64;
    Body::Alert(Alert {
        id: id.into(),
        title: title.into(),
        description: "Ejercicio de comunicación.".into(),
        severity: Severity::Severe,
        urgency: Urgency::Immediate,
        certainty: Certainty::Likely,
        tlp: Tlp::Amber,
        recipients: Recipients::Network,
        expires_at_ms: now + 24 * 60 * 60 * 1000,
        respond_by_ms: None,
        references: None,
    })
}

/// Logs to the test output when `RUST_LOG` is set.
pub fn init_logs() {
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
    }
}

/// How many entries `events` reported rejected since it was last drained (drains it).
pub fn rejected_events(
    events: &mut tokio::sync::broadcast::Receiver<vigia_node::node::NodeEvent>,
) -> usize {
    let mut count = 0;
    while let Ok(event) = events.try_recv() {
        if let vigia_node::node::NodeEvent::Rejected { .. } = event {
            count += 1;
        }
    }
    count
}
