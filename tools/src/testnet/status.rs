//! `vigia testnet status`: per member, whether its node runs, its peers, heads, lag and forks.

use std::io::Write;

use anyhow::Result;
use serde::Serialize;
use serde_json::Value;
use vigia_protocol::MemberCode;

use super::layout::Layout;
use super::process;
use super::target::member_client;

/// One member's line.
#[derive(Debug, Clone, Serialize)]
pub struct MemberStatus {
    /// ISO code.
    pub member: MemberCode,
    /// Whether its node process runs.
    pub running: bool,
    /// Whether its API answered.
    pub answering: bool,
    /// Members it is connected to.
    pub peers: usize,
    /// Total entries it holds (sum of its heads).
    pub entries: u64,
    /// Entries its peers hold that it does not yet.
    pub behind: u64,
    /// Forks it has seen, across all feeds.
    pub forks: usize,
    /// Whether it may publish.
    pub ready: bool,
}

/// Collects every member's status.
pub fn collect(layout: &Layout) -> Result<Vec<MemberStatus>> {
    let manifest = layout.manifest()?;
    Ok(manifest
        .members
        .iter()
        .map(|member| member_status(layout, member.code))
        .collect())
}

fn member_status(layout: &Layout, code: MemberCode) -> MemberStatus {
    let running = process::running_pid(layout, code).is_some();
    let mut status = MemberStatus {
        member: code,
        running,
        answering: false,
        peers: 0,
        entries: 0,
        behind: 0,
        forks: 0,
        ready: false,
    };
    let network = running
        .then(|| member_client(layout, code).and_then(|client| client.get("/v1/network")))
        .and_then(Result::ok);
    let Some(network) = network else {
        return status;
    };
    status.answering = true;
    status.ready = network["ready"] == Value::Bool(true);
    for member in network["members"].as_array().into_iter().flatten() {
        let is_self = member["self"] == Value::Bool(true);
        if !is_self && member["reachable"] == Value::Bool(true) {
            status.peers += 1;
        }
        status.entries += member["latest_seq"].as_u64().unwrap_or(0);
        status.behind += member["behind"].as_u64().unwrap_or(0);
        status.forks += member["forks"].as_array().map_or(0, Vec::len);
    }
    status
}

/// Prints the status table, or JSON.
pub fn print(layout: &Layout, json: bool, out: &mut dyn Write) -> Result<()> {
    let rows = collect(layout)?;
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(&rows)?)?;
        return Ok(());
    }
    writeln!(
        out,
        "member  node     peers  entries  behind  forks  publishing"
    )?;
    for row in &rows {
        let node = match (row.running, row.answering) {
            (false, _) => "stopped",
            (true, false) => "starting",
            (true, true) => "running",
        };
        writeln!(
            out,
            "{:<7} {:<8} {:>5}  {:>7}  {:>6}  {:>5}  {}",
            row.member.as_str(),
            node,
            row.peers,
            row.entries,
            row.behind,
            row.forks,
            if row.ready { "yes" } else { "no" }
        )?;
    }
    Ok(())
}
