//! Catch-up: one member down while the others write, then the time it takes, once
//! restarted, to hold everything, and what that cost in bytes.
//!
//! Steps: stop one node cleanly; have every other member import new contacts of its own
//! synthetic directory at once (one entry each, together the number asked for); wait until
//! every running node holds the same heads; restart the stopped node and poll its counters
//! until it has applied every entry it missed. Bytes received are its sync protocol bytes
//! (`vigia_sync_bytes_received`) plus gossip bytes (gossipsub's count before duplicates are
//! dropped), both counted from zero since the restart. The size of what it missed is read
//! from its own store once it is stopped: the wire bytes of every entry past the heads it
//! had when it went down.

use std::collections::BTreeMap;
use std::io::Write;
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::Serialize;
use vigia_node::api::csv_format::{CONTACT_COLUMNS, contact_row};
use vigia_node::store::Store;
use vigia_protocol::MemberCode;

use super::cluster::Cluster;
use crate::testnet::directory;
use crate::testnet::members;
use crate::testnet::process;

/// Interval of the restarted node's counter polls: the resolution of the catch-up time.
const POLL: Duration = Duration::from_millis(10);
/// Longest wait for the running nodes to agree after the writes.
const CONVERGE_DEADLINE: Duration = Duration::from_secs(900);
/// Longest wait for the restarted node to catch up.
const CATCH_UP_DEADLINE: Duration = Duration::from_secs(300);
/// Interval of convergence checks of the running nodes.
const CONVERGE_POLL: Duration = Duration::from_millis(500);
/// Rows per import request. Thirty-four nodes writing at once and applying each other's
/// entries saturate two cores; small files keep each request well inside the client's
/// timeout, and rows the node already holds publish nothing.
const IMPORT_ROWS: usize = 50;

/// What the catch-up benchmark measured.
#[derive(Debug, Clone, Serialize)]
pub struct CatchUpFigures {
    /// Nodes in the network.
    pub nodes: usize,
    /// The member that was down.
    pub member: String,
    /// Entries written while it was down.
    pub written: usize,
    /// Seconds the other nodes took to write and replicate them among themselves.
    pub write_seconds: f64,
    /// Entries the restarted node applied.
    pub missed: u64,
    /// Restart (process start) → every missed entry applied, in ms.
    pub restart_ms: f64,
    /// First answer of its API → every missed entry applied, in ms.
    pub after_start_ms: f64,
    /// Sync bytes received since the restart.
    pub sync_bytes: f64,
    /// Gossip bytes received since the restart, duplicates included.
    pub gossip_bytes: f64,
    /// Wire size of the missed entries.
    pub missed_bytes: u64,
    /// (sync + gossip bytes) ÷ missed bytes.
    pub byte_ratio: f64,
    /// Heads the node held when it went down.
    #[serde(skip)]
    held: BTreeMap<String, u64>,
}

/// Catches up node `victim` of `cluster` after `entries` were written without it.
pub fn run(
    cluster: &Cluster,
    victim: usize,
    entries: usize,
    progress: &mut dyn Write,
) -> Result<CatchUpFigures> {
    let code = cluster.code(victim);
    let held = cluster.heads(victim)?;
    process::stop(cluster.layout(), code)?;
    writeln!(
        progress,
        "  {code} stopped; writing {entries} entries on the others"
    )?;
    let writers: Vec<usize> = (0..cluster.len())
        .filter(|index| *index != victim)
        .collect();
    let started = Instant::now();
    let written = write_across(cluster, &writers, entries)?;
    let network = wait_converged(cluster, &writers)?;
    let write_seconds = started.elapsed().as_secs_f64();
    let missed: u64 = network
        .iter()
        .map(|(member, seq)| seq.saturating_sub(held.get(member).copied().unwrap_or(0)))
        .sum();
    writeln!(
        progress,
        "  {written} written and replicated in {write_seconds:.1}s; restarting {code}"
    )?;

    let restarted = Instant::now();
    process::start(cluster.layout(), code)?;
    let (answered, caught_up, counters) = wait_caught_up(cluster, victim, missed)?;
    if cluster.heads(victim)? != network {
        bail!("{code} applied {missed} entries but its heads differ from the network's");
    }
    let sync_bytes = counters.get("vigia_sync_bytes_received_total");
    let gossip_bytes = counters.get("vigia_gossipsub_topic_msg_recv_bytes_unfiltered_total");
    Ok(CatchUpFigures {
        nodes: cluster.len(),
        member: code.to_string(),
        written,
        write_seconds,
        missed,
        restart_ms: (caught_up - restarted).as_secs_f64() * 1e3,
        after_start_ms: (caught_up - answered).as_secs_f64() * 1e3,
        sync_bytes,
        gossip_bytes,
        missed_bytes: 0,
        byte_ratio: 0.0,
        held,
    })
}

impl CatchUpFigures {
    /// Completes the byte figures from the store of the node that caught up, which must
    /// be stopped first (a redb file has one user at a time).
    pub fn measure_missed(&mut self, cluster: &Cluster) -> Result<()> {
        let code: MemberCode = self.member.parse()?;
        let store = Store::open(&store_path(cluster, code))?;
        let mut bytes = 0u64;
        for (member, head) in store.heads()? {
            let from = self.held.get(member.as_str()).copied().unwrap_or(0) + 1;
            if head.seq >= from {
                let entries = store.entries(member, from, usize::MAX, usize::MAX)?;
                bytes += entries.iter().map(|entry| entry.len() as u64).sum::<u64>();
            }
        }
        self.missed_bytes = bytes;
        if bytes > 0 {
            self.byte_ratio = (self.sync_bytes + self.gossip_bytes) / bytes as f64;
        }
        Ok(())
    }
}

/// Imports new contacts on every writer at once, `entries` in all; returns how many
/// entries were published.
fn write_across(cluster: &Cluster, writers: &[usize], entries: usize) -> Result<usize> {
    let oas = members::oas_members()?;
    let share = entries / writers.len();
    let rest = entries % writers.len();
    std::thread::scope(|scope| {
        let jobs: Vec<_> = writers
            .iter()
            .enumerate()
            .map(|(place, node)| {
                let extra = share + usize::from(place < rest);
                let code = cluster.code(*node);
                let member = oas.iter().find(|member| member.alpha2 == code).cloned();
                scope.spawn(move || -> Result<usize> {
                    let member = member.with_context(|| format!("{code} is not an OAS member"))?;
                    import_more(cluster, *node, &member, extra)
                })
            })
            .collect();
        jobs.into_iter()
            .map(|job| {
                job.join()
                    .map_err(|_| anyhow::anyhow!("writer thread panicked"))?
            })
            .sum()
    })
}

/// Imports `extra` contacts beyond those the member holds: a larger synthetic directory
/// keeps the contacts of a smaller one, so only the new rows publish.
fn import_more(
    cluster: &Cluster,
    node: usize,
    member: &members::OasMember,
    extra: usize,
) -> Result<usize> {
    if extra == 0 {
        return Ok(0);
    }
    let path = format!("/v1/contacts?member={}&per_page=1", member.alpha2);
    let held = cluster.client(node).get(&path)?["total"]
        .as_u64()
        .unwrap_or(0) as usize;
    let generated = directory::generate_many(member, 1, held + extra);
    let mut published = 0;
    for rows in generated.contacts.chunks(IMPORT_ROWS) {
        let report = cluster
            .client(node)
            .post_bytes("/v1/import?dry_run=false", "text/csv", contacts_csv(rows)?)
            .with_context(|| format!("importing contacts on {}", member.alpha2))?;
        published += report["published"].as_u64().unwrap_or(0) as usize;
    }
    Ok(published)
}

/// Contacts as a CSV file in the import format.
pub fn contacts_csv(contacts: &[vigia_protocol::body::Contact]) -> Result<Vec<u8>> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(CONTACT_COLUMNS)?;
    for contact in contacts {
        writer.write_record(contact_row(contact))?;
    }
    writer.into_inner().context("cannot write the CSV")
}

/// Waits until every writer holds the same heads; returns them.
fn wait_converged(cluster: &Cluster, writers: &[usize]) -> Result<BTreeMap<String, u64>> {
    let started = Instant::now();
    loop {
        let heads: Vec<BTreeMap<String, u64>> = writers
            .iter()
            .map(|node| cluster.heads(*node))
            .collect::<Result<_>>()?;
        if heads.windows(2).all(|pair| pair[0] == pair[1]) {
            return Ok(heads.into_iter().next().unwrap_or_default());
        }
        if started.elapsed() > CONVERGE_DEADLINE {
            bail!(
                "the running nodes did not agree within {}s",
                CONVERGE_DEADLINE.as_secs()
            );
        }
        sleep(CONVERGE_POLL);
    }
}

/// Polls the restarted node until it has applied `missed` entries; returns when its API
/// first answered, when it caught up, and its counters then.
fn wait_caught_up(
    cluster: &Cluster,
    node: usize,
    missed: u64,
) -> Result<(Instant, Instant, super::cluster::Counters)> {
    let started = Instant::now();
    let mut answered = None;
    loop {
        if let Ok(counters) = cluster.counters(node) {
            let now = Instant::now();
            let answered = *answered.get_or_insert(now);
            if counters.get("vigia_entries_applied_total") >= missed as f64 {
                return Ok((answered, now, counters));
            }
        }
        if started.elapsed() > CATCH_UP_DEADLINE {
            bail!(
                "{} did not catch up within {}s",
                cluster.code(node),
                CATCH_UP_DEADLINE.as_secs()
            );
        }
        sleep(POLL);
    }
}

/// Where a member's node keeps its store in a cluster (`data_dir/vigia.redb`, as the node
/// configuration places it).
pub fn store_path(cluster: &Cluster, code: MemberCode) -> std::path::PathBuf {
    cluster.layout().data(code).join("vigia.redb")
}
