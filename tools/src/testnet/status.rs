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
    /// Total entries it holds (sum of its heads); unknown (`null`) unless its API answered.
    pub entries: Option<u64>,
    /// Entries its peers hold that it does not yet; unknown unless its API answered.
    pub behind: Option<u64>,
    /// Forks it has seen, across all feeds; unknown unless its API answered.
    pub forks: Option<usize>,
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
        entries: None,
        behind: None,
        forks: None,
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
    let (mut entries, mut behind, mut forks) = (0, 0, 0);
    for member in network["members"].as_array().into_iter().flatten() {
        let is_self = member["self"] == Value::Bool(true);
        if !is_self && member["reachable"] == Value::Bool(true) {
            status.peers += 1;
        }
        entries += member["latest_seq"].as_u64().unwrap_or(0);
        behind += member["behind"].as_u64().unwrap_or(0);
        forks += member["forks"].as_array().map_or(0, Vec::len);
    }
    status.entries = Some(entries);
    status.behind = Some(behind);
    status.forks = Some(forks);
    status
}

/// Prints the status table, or JSON.
pub fn print(layout: &Layout, json: bool, out: &mut dyn Write) -> Result<()> {
    write_rows(&collect(layout)?, json, out)
}

/// A count, or `-` when the node did not say.
fn known<T: ToString>(value: Option<T>) -> String {
    value.map_or_else(|| "-".to_owned(), |value| value.to_string())
}

fn write_rows(rows: &[MemberStatus], json: bool, out: &mut dyn Write) -> Result<()> {
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(&rows)?)?;
        return Ok(());
    }
    writeln!(
        out,
        "member  node     peers  entries  behind  forks  publishing"
    )?;
    for row in rows {
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
            known(row.entries),
            known(row.behind),
            known(row.forks),
            if row.ready { "yes" } else { "no" }
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(code: &str, running: bool) -> MemberStatus {
        let known = running.then_some(12);
        MemberStatus {
            member: code.parse().expect("code"),
            running,
            answering: running,
            peers: usize::from(running),
            entries: known,
            behind: known.map(|_| 0),
            forks: known.map(|_| 0),
            ready: running,
        }
    }

    #[test]
    fn a_stopped_node_s_counts_are_unknown_not_zero() {
        let rows = [row("AR", true), row("PE", false)];
        let mut table = Vec::new();
        write_rows(&rows, false, &mut table).expect("written");
        let table = String::from_utf8(table).expect("UTF-8");
        let stopped = table
            .lines()
            .find(|line| line.starts_with("PE"))
            .expect("PE");
        let cells: Vec<&str> = stopped.split_whitespace().collect();
        assert_eq!(
            cells,
            ["PE", "stopped", "0", "-", "-", "-", "no"],
            "{table}"
        );
        let running = table
            .lines()
            .find(|line| line.starts_with("AR"))
            .expect("AR");
        assert!(running.contains(" 12 "), "{table}");

        let mut json = Vec::new();
        write_rows(&rows, true, &mut json).expect("written");
        let json: Value = serde_json::from_slice(&json).expect("JSON");
        assert_eq!(json[1]["entries"], Value::Null);
        assert_eq!(json[0]["entries"], 12);
    }
}
