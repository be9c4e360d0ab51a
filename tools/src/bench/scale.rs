//! Scale: the largest network that converges on this machine.
//!
//! Networks of growing size (invented members, no directory) are started in turn. One
//! converges when every node sees every other connected and, after each member has issued
//! one alert, every node holds every member's alert. The ladder stops at the first size
//! that does not converge within its time box, or that the machine's free memory cannot
//! hold (judged from the resident size of the nodes already measured), so a failed step
//! says which limit it met.

use std::io::Write;
use std::path::Path;
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use reqwest::Method;
use serde::Serialize;
use serde_json::json;

use super::cluster::Cluster;
use super::memory::{self, MB, RssFigures};

/// Time for every node to see every other: a base, plus time per node, because the
/// connections to make grow with the square of the network and share two cores.
const CONNECT_BASE: Duration = Duration::from_secs(30);
/// See [`CONNECT_BASE`].
const CONNECT_PER_NODE: Duration = Duration::from_millis(600);
/// Time for every node to hold every member's alert once connected.
const CONVERGE_DEADLINE: Duration = Duration::from_secs(120);
/// Memory left to the rest of the machine (the other users' builds and tests).
const MEMORY_RESERVE_BYTES: u64 = 3 * 1024 * 1024 * 1024;
/// Resident size assumed per node before any has been measured: an idle node of a
/// 35-member network holds about 37 MB.
const ASSUMED_NODE_BYTES: u64 = 40_000_000;
/// Growth allowed per node over the largest size measured: connections, and so buffers,
/// grow with the network.
const NODE_BYTES_HEADROOM: f64 = 1.5;
/// Interval of the convergence polls.
const POLL: Duration = Duration::from_millis(250);

/// One step of the ladder.
#[derive(Debug, Clone, Serialize)]
pub struct ScaleStep {
    /// Nodes started.
    pub nodes: usize,
    /// Whether the network converged.
    pub converged: bool,
    /// Start → every node connected to every other, in seconds.
    pub connect_seconds: f64,
    /// First alert issued → every node holds every alert, in seconds.
    pub converge_seconds: f64,
    /// Resident memory of the nodes once converged.
    pub rss: RssFigures,
    /// Why the step failed or was not tried.
    pub limit: Option<String>,
}

/// What the scale benchmark found.
#[derive(Debug, Clone, Serialize)]
pub struct ScaleFigures {
    /// Sizes tried, in order.
    pub steps: Vec<ScaleStep>,
    /// The largest size that converged (0 if none).
    pub largest: usize,
}

/// Tries each size of `ladder` in turn under `dir`, then, if one fails after another
/// converged, once the size halfway between them; `node_bytes` is the largest node resident
/// size measured so far, if any. A failed step's files (node logs) are kept for diagnosis.
pub fn run(
    dir: &Path,
    ladder: &[usize],
    base_port: u16,
    node_bytes: Option<u64>,
    progress: &mut dyn Write,
) -> Result<ScaleFigures> {
    let mut steps: Vec<ScaleStep> = Vec::new();
    let mut per_node = node_bytes.unwrap_or(ASSUMED_NODE_BYTES);
    let mut sizes: Vec<usize> = ladder.to_vec();
    let mut index = 0;
    let mut bisected = false;
    while let Some(&nodes) = sizes.get(index) {
        index += 1;
        let step = step(dir, nodes, base_port, per_node, progress)?;
        if step.rss.nodes > 0 {
            per_node = per_node.max((step.rss.max_mb * MB) as u64);
        }
        let converged = step.converged;
        steps.push(step);
        if converged {
            continue;
        }
        let largest = steps.iter().filter(|s| s.converged).map(|s| s.nodes).max();
        match largest.map(|largest| (largest, largest + (nodes - largest) / 2)) {
            Some((largest, midpoint)) if !bisected && midpoint > largest => {
                bisected = true;
                sizes = vec![midpoint];
                index = 0;
            }
            _ => break,
        }
    }
    let largest = steps
        .iter()
        .filter(|s| s.converged)
        .map(|s| s.nodes)
        .max()
        .unwrap_or(0);
    Ok(ScaleFigures { steps, largest })
}

/// One size: checked against free memory, tried, and its files removed if it converged.
fn step(
    dir: &Path,
    nodes: usize,
    base_port: u16,
    per_node: u64,
    progress: &mut dyn Write,
) -> Result<ScaleStep> {
    let per_node = (per_node as f64 * NODE_BYTES_HEADROOM) as u64;
    let needed = per_node.saturating_mul(nodes as u64) + MEMORY_RESERVE_BYTES;
    let available = memory::available_bytes()?;
    if available < needed {
        return Ok(skipped(nodes, available, needed));
    }
    writeln!(progress, "scale: {nodes} nodes")?;
    let step_dir = dir.join(format!("scale-{nodes}"));
    let step = try_size(&step_dir, nodes, base_port, progress).unwrap_or_else(|err| ScaleStep {
        nodes,
        converged: false,
        connect_seconds: 0.0,
        converge_seconds: 0.0,
        rss: RssFigures::default(),
        limit: Some(format!("{err:#}")),
    });
    match &step.limit {
        Some(limit) => writeln!(
            progress,
            "  not converged: {limit}; logs in {}",
            step_dir.display()
        )?,
        // Best effort: a full disk would only fail the next step's start.
        None => drop(std::fs::remove_dir_all(&step_dir)),
    }
    Ok(step)
}

fn skipped(nodes: usize, available: u64, needed: u64) -> ScaleStep {
    ScaleStep {
        nodes,
        converged: false,
        connect_seconds: 0.0,
        converge_seconds: 0.0,
        rss: RssFigures::default(),
        limit: Some(format!(
            "not tried: {:.0} MB available, {:.0} MB needed",
            available as f64 / MB,
            needed as f64 / MB
        )),
    }
}

fn try_size(
    dir: &Path,
    nodes: usize,
    base_port: u16,
    progress: &mut dyn Write,
) -> Result<ScaleStep> {
    let cluster = Cluster::synthetic(dir, nodes, base_port)?;
    cluster.start_all()?;
    let connect_timeout = CONNECT_BASE + CONNECT_PER_NODE * nodes as u32;
    let connected = cluster.wait_connected(connect_timeout)?;
    writeln!(progress, "  connected in {:.1}s", connected.as_secs_f64())?;
    let started = Instant::now();
    for node in 0..nodes {
        let body = json!({
            "title": "Prueba de escala",
            "severity": "minor",
            "urgency": "future",
            "certainty": "unlikely",
            "tlp": "green",
            "recipients": "network",
            "expires_in_minutes": 60,
        });
        cluster
            .client(node)
            .send_json(Method::POST, "/v1/alerts", &body)?;
    }
    wait_all_hold(&cluster, nodes)?;
    let converge = started.elapsed();
    writeln!(progress, "  converged in {:.1}s", converge.as_secs_f64())?;
    Ok(ScaleStep {
        nodes,
        converged: true,
        connect_seconds: connected.as_secs_f64(),
        converge_seconds: converge.as_secs_f64(),
        rss: cluster.resident_memory(),
        limit: None,
    })
}

/// Waits until every node holds an entry of every member.
fn wait_all_hold(cluster: &Cluster, nodes: usize) -> Result<()> {
    let started = Instant::now();
    let mut pending: Vec<usize> = (0..nodes).collect();
    loop {
        pending.retain(|node| {
            cluster.heads(*node).map_or(true, |heads| {
                heads.values().filter(|seq| **seq >= 1).count() < nodes
            })
        });
        if pending.is_empty() {
            return Ok(());
        }
        if started.elapsed() > CONVERGE_DEADLINE {
            bail!(
                "{} of {nodes} nodes still missed alerts after {}s",
                pending.len(),
                CONVERGE_DEADLINE.as_secs()
            );
        }
        sleep(POLL);
    }
}
