//! Alert propagation: an alert issued on one member, until it is applied on every other.
//!
//! Method. Every node's event stream is watched ([`super::events`]); an alert's arrival at a
//! node is when that node's `alert` event reaches this process. Propagation to a receiver
//! is its arrival minus the author's own arrival (the author applies the alert and emits
//! the event just before gossiping it), so the stream's cost, the same on both sides,
//! cancels and only node-to-node time remains, on one monotonic clock. Alerts are issued
//! one at a time, rotating the author, each after the previous one reached every node:
//! this is latency on a quiet network, not under load. As a cross-check the nodes' own
//! `vigia_alert_propagation_seconds` histograms give the mean from the author's issue time
//! (millisecond clock, the signing and the author's commit included).
//!
//! Gossip amplification is read from the same run: gossipsub's counters of messages before
//! and after it drops duplicates, and the node's own duplicate counter for copies that got
//! past it (a sync answer racing gossip).

use std::collections::HashMap;
use std::io::Write;
use std::sync::mpsc::{Receiver, RecvTimeoutError, sync_channel};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use reqwest::Method;
use serde::Serialize;
use serde_json::json;

use super::cluster::{Cluster, Counters};
use super::events::{Seen, Watch};
use super::stats::Summary;

/// Longest wait for one alert to reach every node; one that does not is counted missing.
const ALERT_DEADLINE: Duration = Duration::from_secs(10);
/// Longest wait for every event stream to open.
const OPEN_DEADLINE: Duration = Duration::from_secs(10);
/// Reports waiting to be read: far more than one alert's worth, so stream threads never
/// wait on the measuring thread while it issues the next alert.
const SEEN_QUEUE: usize = 65_536;
/// Pause after the last alert before reading counters, so late duplicate copies that are
/// still in flight are counted.
const SETTLE: Duration = Duration::from_secs(1);
/// Description length of a benchmark alert: a paragraph, as operators write them.
const DESCRIPTION_CHARS: usize = 400;

/// What the propagation benchmark measured on one network.
#[derive(Debug, Clone, Serialize)]
pub struct PropagationFigures {
    /// Nodes in the network.
    pub nodes: usize,
    /// Alerts issued.
    pub alerts: usize,
    /// (alert, receiver) pairs that did not arrive within the deadline.
    pub missing: usize,
    /// (alert, receiver) pairs whose receiver's event reached this process before the
    /// author's own (the author's stream thread was descheduled): counted as 0 ms.
    pub before_author: usize,
    /// Author applied → receiver applied, over every (alert, receiver) pair.
    pub to_each: Summary,
    /// Author applied → the last receiver applied, one sample per alert.
    pub to_all: Summary,
    /// `POST /v1/alerts` sent → applied on the author (signing and one commit).
    pub issue: Summary,
    /// Mean of the nodes' own propagation histograms over this run, in ms.
    pub node_histogram_mean_ms: f64,
    /// Gossip amplification over this run.
    pub gossip: GossipFigures,
    /// CPU time of all nodes together while the alerts were issued, per alert, in ms:
    /// what one alert costs the network, background work (pings, heartbeats) included.
    pub cpu_ms_per_alert: f64,
    /// Cores the nodes kept busy while the alerts were issued, on average.
    pub busy_cores: f64,
}

/// Copies of entries received, from the nodes' counters.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct GossipFigures {
    /// Entries applied from the network (every node, publishing excluded).
    pub delivered: f64,
    /// Gossip messages received, duplicates included.
    pub gossip_copies: f64,
    /// Gossip messages left after gossipsub dropped duplicates.
    pub gossip_first_copies: f64,
    /// Entries the node judged duplicate (past gossipsub: sync racing gossip).
    pub node_duplicates: f64,
    /// Copies received beyond the first, per delivered entry.
    pub duplicates_per_entry: f64,
}

/// Counter names, as the nodes export them.
mod names {
    pub const APPLIED: &str = "vigia_entries_applied_total";
    pub const DUPLICATE: &str = "vigia_entries_duplicate_total";
    pub const COPIES: &str = "vigia_gossipsub_topic_msg_recv_counts_unfiltered_total";
    pub const FIRST_COPIES: &str = "vigia_gossipsub_topic_msg_recv_counts_total";
    pub const DELAY_SUM: &str = "vigia_alert_propagation_seconds_sum";
    pub const DELAY_COUNT: &str = "vigia_alert_propagation_seconds_count";
}

/// Issues `alerts` alerts on `cluster` and times their arrival everywhere.
pub fn run(
    cluster: &Cluster,
    alerts: usize,
    progress: &mut dyn Write,
) -> Result<PropagationFigures> {
    let (sender, seen) = sync_channel(SEEN_QUEUE);
    let mut watches = Vec::new();
    for node in 0..cluster.len() {
        watches.push(Watch::open(
            node,
            cluster.api_port(node),
            cluster.token(node),
            sender.clone(),
        )?);
    }
    drop(sender);
    let measured = wait_opened(&seen, cluster.len()).and_then(|()| {
        let before = cluster.all_counters()?;
        let (cpu_before, started) = (cluster.cpu_seconds(), Instant::now());
        let timing = issue_all(cluster, alerts, &seen, progress)?;
        let cpu = Cpu {
            seconds: cluster.cpu_seconds() - cpu_before,
            wall: started.elapsed(),
        };
        std::thread::sleep(SETTLE);
        let after = cluster.all_counters()?;
        Ok((timing, cpu, before, after))
    });
    for watch in watches {
        watch.stop()?;
    }
    let (timing, cpu, before, after) = measured?;
    Ok(PropagationFigures {
        nodes: cluster.len(),
        alerts,
        missing: timing.missing,
        before_author: timing.before_author,
        to_each: Summary::of(&timing.to_each),
        to_all: Summary::of(&timing.to_all),
        issue: Summary::of(&timing.issue),
        node_histogram_mean_ms: histogram_mean_ms(&before, &after),
        gossip: gossip_figures(&before, &after, alerts as f64),
        cpu_ms_per_alert: cpu.seconds * 1e3 / alerts.max(1) as f64,
        busy_cores: cpu.seconds / cpu.wall.as_secs_f64().max(f64::EPSILON),
    })
}

/// CPU the nodes used over a stretch of wall-clock time.
struct Cpu {
    seconds: f64,
    wall: Duration,
}

fn wait_opened(seen: &Receiver<Seen>, nodes: usize) -> Result<()> {
    let deadline = Instant::now() + OPEN_DEADLINE;
    let mut opened = 0;
    while opened < nodes {
        let left = deadline.saturating_duration_since(Instant::now());
        match seen.recv_timeout(left) {
            Ok(Seen::Opened { .. }) => opened += 1,
            Ok(Seen::Alert { .. }) => {}
            Err(_) => bail!("only {opened} of {nodes} event streams opened"),
        }
    }
    Ok(())
}

/// Samples of one run.
#[derive(Default)]
struct Timing {
    to_each: Vec<Duration>,
    to_all: Vec<Duration>,
    issue: Vec<Duration>,
    missing: usize,
    before_author: usize,
}

fn issue_all(
    cluster: &Cluster,
    alerts: usize,
    seen: &Receiver<Seen>,
    progress: &mut dyn Write,
) -> Result<Timing> {
    let mut timing = Timing::default();
    let mut arrivals: HashMap<(String, u64), HashMap<usize, Instant>> = HashMap::new();
    for number in 0..alerts {
        let author = number % cluster.len();
        let sent = Instant::now();
        let answer = cluster
            .client(author)
            .send_json(Method::POST, "/v1/alerts", &alert_body(number))
            .with_context(|| format!("issuing benchmark alert {number}"))?;
        let member = answer["member"]
            .as_str()
            .context("alert answer has no member")?
            .to_owned();
        let seq = answer["seq"].as_u64().context("alert answer has no seq")?;
        let key = (member, seq);
        let deadline = Instant::now() + ALERT_DEADLINE;
        while arrivals.get(&key).map_or(0, HashMap::len) < cluster.len() {
            let left = deadline.saturating_duration_since(Instant::now());
            match seen.recv_timeout(left) {
                Ok(Seen::Alert {
                    node,
                    member,
                    seq,
                    at,
                }) => {
                    arrivals
                        .entry((member, seq))
                        .or_default()
                        .entry(node)
                        .or_insert(at);
                }
                Ok(Seen::Opened { .. }) => {}
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => bail!("every event stream closed"),
            }
        }
        let arrived = arrivals.remove(&key).unwrap_or_default();
        record(&mut timing, &arrived, author, sent, cluster.len());
        if (number + 1) % 50 == 0 {
            writeln!(progress, "  {} of {alerts} alerts issued", number + 1)?;
        }
    }
    Ok(timing)
}

fn record(
    timing: &mut Timing,
    arrived: &HashMap<usize, Instant>,
    author: usize,
    sent: Instant,
    nodes: usize,
) {
    let Some(authored) = arrived.get(&author).copied() else {
        timing.missing += nodes - 1;
        return;
    };
    timing.issue.push(authored.saturating_duration_since(sent));
    let receivers: Vec<Duration> = arrived
        .iter()
        .filter(|(node, _)| **node != author)
        .map(|(_, at)| at.saturating_duration_since(authored))
        .collect();
    timing.before_author += receivers.iter().filter(|took| took.is_zero()).count();
    timing.missing += nodes - 1 - receivers.len();
    if receivers.len() == nodes - 1
        && let Some(last) = receivers.iter().max()
    {
        timing.to_all.push(*last);
    }
    timing.to_each.extend(receivers);
}

fn alert_body(number: usize) -> serde_json::Value {
    let description: String = "Movimiento sospechoso de fondos vinculado a la red investigada. "
        .chars()
        .cycle()
        .take(DESCRIPTION_CHARS)
        .collect();
    json!({
        "title": format!("Alerta de prueba {number}: transferencias inusuales"),
        "description": description,
        "severity": "moderate",
        "urgency": "expected",
        "certainty": "possible",
        "tlp": "green",
        "recipients": "network",
        "expires_in_minutes": 60,
    })
}

fn delta(before: &[Counters], after: &[Counters], name: &str) -> f64 {
    after.iter().map(|c| c.get(name)).sum::<f64>() - before.iter().map(|c| c.get(name)).sum::<f64>()
}

fn histogram_mean_ms(before: &[Counters], after: &[Counters]) -> f64 {
    let count = delta(before, after, names::DELAY_COUNT);
    if count > 0.0 {
        delta(before, after, names::DELAY_SUM) / count * 1e3
    } else {
        0.0
    }
}

/// Amplification between two counter snapshots, `published` entries having been written
/// in between (an author's own entry is applied, not delivered).
pub fn gossip_figures(before: &[Counters], after: &[Counters], published: f64) -> GossipFigures {
    let delivered = delta(before, after, names::APPLIED) - published;
    let gossip_copies = delta(before, after, names::COPIES);
    let gossip_first_copies = delta(before, after, names::FIRST_COPIES);
    let node_duplicates = delta(before, after, names::DUPLICATE);
    let extra = gossip_copies - gossip_first_copies + node_duplicates;
    GossipFigures {
        delivered,
        gossip_copies,
        gossip_first_copies,
        node_duplicates,
        duplicates_per_entry: if delivered > 0.0 {
            extra / delivered
        } else {
            0.0
        },
    }
}
