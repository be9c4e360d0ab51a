//! `vigia network`: every roster member as the local node sees it: reachable now, last
//! heard from, how far its feed goes, how far behind we are, forks, and invalid data its
//! nodes sent.

use std::io::Write;

use anyhow::Result;
use serde_json::Value;

use super::connection::ConnectionArgs;
use super::output::{self, Table};
use super::{FormatArgs, Session, printed_json, run_with_session};

/// Arguments of `vigia network`.
#[derive(Debug, Clone, clap::Args)]
pub struct NetworkArgs {
    /// Output format.
    #[command(flatten)]
    pub format: FormatArgs,
}

/// Runs `vigia network` against the node `connection` names.
pub fn run(connection: &ConnectionArgs, args: &NetworkArgs, out: &mut dyn Write) -> Result<()> {
    run_with_session(connection, args.format.json, out, show)
}

fn show(session: &Session, out: &mut dyn Write) -> Result<()> {
    let network = session.client.get("/v1/network")?;
    if printed_json(session, out, &network)? {
        return Ok(());
    }
    let roster = output::text(&network, "network_id");
    writeln!(
        out,
        "network {} (roster {}); this node: {}, publishing: {}, entries waiting for a gap: {}",
        output::clean(output::text(&network, "network")),
        roster.get(..8).unwrap_or(roster),
        output::text(&network, "member"),
        output::yes_no(network["ready"] == Value::Bool(true)),
        output::number(&network, "pending"),
    )?;
    let mut table = Table::new(&[
        "member",
        "name",
        "reachable",
        "last seen",
        "latest",
        "behind",
        "clock",
        "forks",
        "invalid data",
    ])
    .right(4)
    .right(5)
    .right(6);
    for member in network["members"].as_array().into_iter().flatten() {
        table.row(row(member));
    }
    table.write(out)?;
    if !network["ready"].as_bool().unwrap_or(false) {
        writeln!(
            out,
            "this node cannot publish until a peer confirms how far its own feed goes"
        )?;
    }
    Ok(())
}

fn row(member: &Value) -> Vec<String> {
    let is_self = member["self"] == Value::Bool(true);
    let reachable = if is_self {
        "this node".to_owned()
    } else {
        output::yes_no(member["reachable"] == Value::Bool(true))
    };
    let last_seen = member["last_seen"]
        .as_str()
        .map(output::ago)
        .unwrap_or_default();
    let clock = member["clock_offset_ms"]
        .as_i64()
        .map(|offset| format!("{offset:+} ms"))
        .unwrap_or_default();
    let forks = match output::list_numbers(member, "forks") {
        forks if forks.is_empty() => String::new(),
        forks => format!("FORKED at {forks}"),
    };
    let faults = match member["faults_total"].as_u64() {
        Some(total) if total > 0 => {
            let last = member["nodes"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|node| node["last_fault"]["reason"].as_str())
                .next()
                .unwrap_or_default();
            format!("{total} (last: {})", output::clean(last))
        }
        _ => String::new(),
    };
    vec![
        output::text(member, "member").to_owned(),
        output::text(member, "name").to_owned(),
        reachable,
        last_seen,
        output::number(member, "latest_seq").to_string(),
        output::number(member, "behind").to_string(),
        clock,
        forks,
        faults,
    ]
}
