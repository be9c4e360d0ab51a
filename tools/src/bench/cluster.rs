//! A network of real node processes for one measurement, on loopback ports of its own.
//!
//! Two ways to make one: [`Cluster::oas`] runs the first N OAS member states through
//! `vigia testnet init` and `up` (keys, roster, each member's directory imported), and
//! [`Cluster::synthetic`] writes the same layout for any N up to the roster's limit, with
//! invented two-letter members and no directory, for the scale test. Either way the nodes
//! are `vigia node run` processes started by [`process`], so what is measured is the
//! daemon as deployed.
//!
//! A cluster stops its nodes when dropped, so an error part way through a benchmark leaves
//! no process behind.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::Path;
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use ed25519_dalek::SigningKey;
use nix::sys::wait::{WaitPidFlag, waitpid};
use nix::unistd::Pid;
use serde_json::Value;
use sha2::{Digest, Sha256};
use vigia_node::keys::{self, MEMBER_KEY_FILE, NODE_KEY_FILE, PUBLIC_FILE, PublicIdentity};
use vigia_protocol::roster::{Member, NodeRecord, RosterBody, RosterFile};
use vigia_protocol::{MemberCode, PublicKey};

use super::cpu;
use super::memory::{self, RssFigures};
use crate::client::NodeClient;
use crate::testnet::init::{self, API_PORT_OFFSET, InitArgs};
use crate::testnet::layout::{Layout, Manifest, MemberEntry, MemberTokens};
use crate::testnet::{process, target, up};

/// Pause between polls of the nodes while waiting for them.
const POLL: Duration = Duration::from_millis(100);
/// Heads exchange interval of benchmark nodes, as in `vigia testnet`.
const SYNC_INTERVAL_SECS: u64 = 5;

/// Running nodes of one benchmark network.
pub struct Cluster {
    layout: Layout,
    members: Vec<MemberEntry>,
    clients: Vec<NodeClient>,
    tokens: Vec<String>,
}

/// One node's counters, read from its `/metrics`.
#[derive(Debug, Clone, Default)]
pub struct Counters {
    values: BTreeMap<String, f64>,
}

impl Counters {
    /// Parses the Prometheus text format, adding up every series of a name whatever its
    /// labels.
    pub fn parse(text: &str) -> Self {
        let mut values = BTreeMap::new();
        for line in text.lines().filter(|line| !line.starts_with('#')) {
            let Some((series, value)) = line.rsplit_once(' ') else {
                continue;
            };
            let name = series.split('{').next().unwrap_or(series);
            if let Ok(value) = value.parse::<f64>() {
                *values.entry(name.to_owned()).or_insert(0.0) += value;
            }
        }
        Self { values }
    }

    /// The sum of the series named `name`, zero if there are none.
    pub fn get(&self, name: &str) -> f64 {
        self.values.get(name).copied().unwrap_or(0.0)
    }
}

impl Cluster {
    /// Initialises and brings up the first `count` OAS members in `dir`, directories loaded.
    pub fn oas(dir: &Path, count: usize, base_port: u16, progress: &mut dyn Write) -> Result<Self> {
        let args = InitArgs {
            dir: dir.to_path_buf(),
            members: Some(count),
            codes: Vec::new(),
            seed: 1,
            base_port: Some(base_port),
            first_address: None,
        };
        Self::init_and_up(&args, progress)
    }

    /// Initialises and brings up one network of the given OAS members.
    pub fn oas_codes(
        dir: &Path,
        codes: &[&str],
        base_port: u16,
        progress: &mut dyn Write,
    ) -> Result<Self> {
        let args = InitArgs {
            dir: dir.to_path_buf(),
            members: None,
            codes: codes.iter().map(|code| (*code).to_owned()).collect(),
            seed: 1,
            base_port: Some(base_port),
            first_address: None,
        };
        Self::init_and_up(&args, progress)
    }

    fn init_and_up(args: &InitArgs, progress: &mut dyn Write) -> Result<Self> {
        let manifest = init::init(args, &mut std::io::sink())?;
        let cluster = Self::from_manifest(Layout::new(&args.dir), manifest)?;
        up::up(&cluster.layout, progress)?;
        Ok(cluster)
    }

    /// Writes a network of `count` invented members (`AA`, `AB`, …) in `dir` without
    /// starting it: keys derived from their code, a roster every member signs, a
    /// configuration and an admin token each.
    pub fn synthetic(dir: &Path, count: usize, base_port: u16) -> Result<Self> {
        let layout = Layout::new(dir);
        fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let mut members = Vec::new();
        let mut roster_members = Vec::new();
        let mut signing_keys = Vec::new();
        for index in 0..count {
            let entry = synthetic_entry(index, base_port)?;
            let (key, public) = write_synthetic_keys(&layout, entry.code)?;
            roster_members.push(roster_member(&entry, &public));
            signing_keys.push((entry.code, key));
            members.push(entry);
        }
        write_roster(&layout, roster_members, &signing_keys)?;
        for entry in &members {
            write_config(&layout, entry)?;
            init::write_tokens(&layout, entry, "bench")?;
        }
        let manifest = Manifest { seed: 0, members };
        let text = toml::to_string_pretty(&manifest).context("cannot encode the manifest")?;
        fs::write(layout.manifest_path(), text).context("cannot write the manifest")?;
        Self::from_manifest(layout, manifest)
    }

    fn from_manifest(layout: Layout, manifest: Manifest) -> Result<Self> {
        let mut clients = Vec::new();
        let mut tokens = Vec::new();
        for member in &manifest.members {
            clients.push(target::member_client(&layout, member.code)?);
            tokens.push(MemberTokens::read(&layout.tokens(member.code))?.admin);
        }
        Ok(Self {
            layout,
            members: manifest.members,
            clients,
            tokens,
        })
    }

    /// The cluster's files.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether the cluster has no node.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The member of node `index`.
    pub fn code(&self, index: usize) -> MemberCode {
        self.members[index].code
    }

    /// The API port of node `index`.
    pub fn api_port(&self, index: usize) -> u16 {
        self.members[index].api_port
    }

    /// The admin token of node `index`.
    pub fn token(&self, index: usize) -> &str {
        &self.tokens[index]
    }

    /// An API client of node `index`.
    pub fn client(&self, index: usize) -> &NodeClient {
        &self.clients[index]
    }

    /// Starts every node that is not running.
    pub fn start_all(&self) -> Result<()> {
        for member in &self.members {
            process::start(&self.layout, member.code)?;
        }
        Ok(())
    }

    /// Waits until every node may publish and sees every other connected, as its
    /// `/v1/health` says; fails after `timeout`.
    pub fn wait_connected(&self, timeout: Duration) -> Result<Duration> {
        let started = Instant::now();
        let peers = self.len() - 1;
        loop {
            let connected = (0..self.len())
                .filter(|index| {
                    self.client(*index).get("/v1/health").is_ok_and(|health| {
                        health["ready"] == Value::Bool(true)
                            && health["connected_peers"].as_u64() == Some(peers as u64)
                    })
                })
                .count();
            if connected == self.len() {
                return Ok(started.elapsed());
            }
            if started.elapsed() > timeout {
                bail!(
                    "after {}s only {connected} of {} nodes saw every other",
                    timeout.as_secs(),
                    self.len()
                );
            }
            sleep(POLL);
        }
    }

    /// The process of node `index`, if it runs.
    pub fn pid(&self, index: usize) -> Option<Pid> {
        process::running_pid(&self.layout, self.code(index))
    }

    /// Resident memory of the nodes that run.
    pub fn resident_memory(&self) -> RssFigures {
        let processes: Vec<_> = (0..self.len())
            .filter_map(|node| self.pid(node))
            .filter_map(|pid| memory::resident(pid).ok())
            .collect();
        RssFigures::of(&processes)
    }

    /// CPU seconds the nodes that run have used since they started, together.
    pub fn cpu_seconds(&self) -> f64 {
        (0..self.len())
            .filter_map(|node| self.pid(node))
            .filter_map(|pid| cpu::cpu_seconds(pid).ok())
            .sum()
    }

    /// Node `index`'s counters.
    pub fn counters(&self, index: usize) -> Result<Counters> {
        let text = self.client(index).get_text("/metrics")?;
        Ok(Counters::parse(&text))
    }

    /// Every node's counters, in node order.
    pub fn all_counters(&self) -> Result<Vec<Counters>> {
        (0..self.len()).map(|index| self.counters(index)).collect()
    }

    /// Node `index`'s head sequence number per feed.
    pub fn heads(&self, index: usize) -> Result<BTreeMap<String, u64>> {
        let answer = self.client(index).get("/v1/heads")?;
        let heads = answer["heads"]
            .as_object()
            .context("the node's /v1/heads has no heads")?;
        Ok(heads
            .iter()
            .map(|(member, head)| (member.clone(), head["seq"].as_u64().unwrap_or(0)))
            .collect())
    }

    /// Stops every node (SIGTERM, in parallel).
    pub fn stop_all(&self) -> Result<()> {
        let codes: Vec<MemberCode> = self.members.iter().map(|member| member.code).collect();
        let pids: Vec<Pid> = (0..self.len())
            .filter_map(|index| self.pid(index))
            .collect();
        process::stop_all(&self.layout, &codes)?;
        // The nodes are this process's children: collect their exit status, or a long run
        // (the scale test starts hundreds) would leave as many zombies until it ends.
        for pid in pids {
            let _ = waitpid(pid, Some(WaitPidFlag::WNOHANG));
        }
        Ok(())
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Err(err) = self.stop_all() {
            eprintln!(
                "bench: cannot stop the nodes in {}: {err:#}",
                self.layout.root().display()
            );
        }
    }
}

/// The two-letter code of the `index`th invented member: AA, AB, … ZZ.
fn synthetic_code(index: usize) -> Result<MemberCode> {
    const LETTERS: usize = 26;
    if index >= LETTERS * LETTERS {
        bail!("at most {} invented members", LETTERS * LETTERS);
    }
    let letter = |place: usize| b'A' + u8::try_from(place).unwrap_or(0);
    Ok(MemberCode::from_bytes([
        letter(index / LETTERS),
        letter(index % LETTERS),
    ])?)
}

fn synthetic_entry(index: usize, base_port: u16) -> Result<MemberEntry> {
    let code = synthetic_code(index)?;
    let offset = u16::try_from(index).context("too many members")?;
    let p2p_port = base_port
        .checked_add(offset)
        .context("base port too high")?;
    let api_port = p2p_port
        .checked_add(API_PORT_OFFSET)
        .context("base port too high")?;
    Ok(MemberEntry {
        code,
        name: format!("Benchmark member {code}"),
        address: Ipv4Addr::LOCALHOST,
        p2p_port,
        api_port,
    })
}

/// A benchmark secret: derived from the code, so worthless outside a benchmark.
fn derived_secret(code: MemberCode, purpose: &str) -> [u8; 32] {
    Sha256::new()
        .chain_update(b"vigia-bench-key\0")
        .chain_update(code.as_str())
        .chain_update(purpose)
        .finalize()
        .into()
}

fn write_synthetic_keys(layout: &Layout, code: MemberCode) -> Result<(SigningKey, PublicIdentity)> {
    let dir = layout.keys(code);
    fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let member_secret = derived_secret(code, "member");
    let node_secret = derived_secret(code, "node");
    keys::write_secret(&dir.join(MEMBER_KEY_FILE), &member_secret)?;
    keys::write_secret(&dir.join(NODE_KEY_FILE), &node_secret)?;
    let key = SigningKey::from_bytes(&member_secret);
    let public = PublicIdentity {
        signing_key: PublicKey(key.verifying_key().to_bytes()),
        peer_id: keys::node_keypair(&node_secret)?
            .public()
            .to_peer_id()
            .to_string(),
    };
    keys::write_public(&dir.join(PUBLIC_FILE), &public)?;
    Ok((key, public))
}

fn roster_member(entry: &MemberEntry, public: &PublicIdentity) -> Member {
    let port = entry.p2p_port;
    Member {
        code: entry.code,
        name: entry.name.clone(),
        signing_key: public.signing_key,
        nodes: vec![NodeRecord {
            peer_id: public.peer_id.clone(),
            addresses: vec![
                format!("/ip4/127.0.0.1/udp/{port}/quic-v1"),
                format!("/ip4/127.0.0.1/tcp/{port}"),
            ],
        }],
    }
}

fn write_roster(
    layout: &Layout,
    members: Vec<Member>,
    keys: &[(MemberCode, SigningKey)],
) -> Result<()> {
    let count = u32::try_from(members.len()).context("too many members")?;
    let body = RosterBody {
        network: "vigia-bench".into(),
        quorum: count / 2 + 1,
        members,
    };
    body.check().context("benchmark roster is invalid")?;
    let mut file = RosterFile {
        body: body.clone(),
        signatures: Vec::new(),
    };
    for (code, key) in keys {
        file.add_signature(body.sign(*code, key));
    }
    file.verify().context("benchmark roster does not verify")?;
    fs::write(layout.roster(), file.to_toml()).context("cannot write the roster")
}

fn write_config(layout: &Layout, entry: &MemberEntry) -> Result<()> {
    let mut text = String::new();
    writeln!(
        text,
        "# Benchmark node {}; see configs/node.toml.",
        entry.code
    )?;
    writeln!(text, "member = \"{}\"", entry.code)?;
    writeln!(text, "roster = \"../roster.toml\"")?;
    writeln!(text, "member_key = \"keys/member.key\"")?;
    writeln!(text, "node_key = \"keys/node.key\"")?;
    writeln!(text, "data_dir = \"data\"")?;
    writeln!(text, "sync_interval_secs = {SYNC_INTERVAL_SECS}")?;
    writeln!(text, "\n[api]\nlisten = \"127.0.0.1:{}\"", entry.api_port)?;
    fs::write(layout.config(entry.code), text).context("cannot write a node configuration")
}
