//! `vigia testnet up` and `start`: start the nodes, wait until they are connected, and load
//! each member's directory through its own node.

use std::io::Write;
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::Value;
use vigia_protocol::MemberCode;

use super::layout::Layout;
use super::process;
use super::target::member_client;

/// How long nodes get to answer and connect before `up` gives up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(120);
/// Pause between polls of the nodes.
const POLL: Duration = Duration::from_millis(200);

/// Starts every member's node, waits until each sees every other, then loads directories.
pub fn up(layout: &Layout, out: &mut dyn Write) -> Result<()> {
    let manifest = layout.manifest()?;
    let codes: Vec<MemberCode> = manifest.members.iter().map(|member| member.code).collect();
    let mut started = 0;
    for code in &codes {
        started += usize::from(process::start(layout, *code)?);
    }
    writeln!(
        out,
        "started {started} node(s), {} already running",
        codes.len() - started
    )?;
    wait_connected(layout, &codes, out)?;
    for code in &codes {
        load_directory(layout, *code, out)?;
    }
    writeln!(
        out,
        "network up: {} members connected, directories loaded",
        codes.len()
    )?;
    Ok(())
}

/// Starts one member's node and waits until it is connected to every running member.
pub fn start_one(layout: &Layout, code: MemberCode, out: &mut dyn Write) -> Result<()> {
    layout.member(code)?;
    if !process::start(layout, code)? {
        writeln!(out, "{code} is already running")?;
        return Ok(());
    }
    // Started just now, so running by definition; the others only if their process lives.
    let running: Vec<MemberCode> = layout
        .manifest()?
        .members
        .iter()
        .map(|member| member.code)
        .filter(|other| *other == code || process::running_pid(layout, *other).is_some())
        .collect();
    wait_connected(layout, &running, out)?;
    writeln!(out, "{code} started and connected")?;
    Ok(())
}

/// Members each node at `codes` sees connected; waits until every node sees all the others
/// and may publish.
fn wait_connected(layout: &Layout, codes: &[MemberCode], out: &mut dyn Write) -> Result<()> {
    let started = Instant::now();
    let mut last_report = 0;
    loop {
        let mut ready = 0;
        for code in codes {
            // A node that exited (port taken, address missing) will never connect.
            if process::running_pid(layout, *code).is_none() {
                bail!(
                    "the node of {code} has stopped; see {}",
                    layout.log(*code).display()
                );
            }
            if sees_all(layout, *code, codes) {
                ready += 1;
            }
        }
        if ready != last_report {
            writeln!(
                out,
                "  {ready}/{} nodes connected to every other",
                codes.len()
            )?;
            last_report = ready;
        }
        if ready == codes.len() {
            return Ok(());
        }
        if started.elapsed() > CONNECT_TIMEOUT {
            bail!(
                "after {}s only {ready} of {} nodes are connected to every other; \
                 see DIR/CODE/node.log",
                CONNECT_TIMEOUT.as_secs(),
                codes.len()
            );
        }
        sleep(POLL);
    }
}

fn sees_all(layout: &Layout, code: MemberCode, codes: &[MemberCode]) -> bool {
    let Ok(client) = member_client(layout, code) else {
        return false;
    };
    let Ok(network) = client.get("/v1/network") else {
        return false;
    };
    if network["ready"] != Value::Bool(true) {
        return false;
    }
    let reachable = |other: &MemberCode| {
        network["members"].as_array().is_some_and(|members| {
            members.iter().any(|member| {
                member["member"] == other.as_str() && member["reachable"] == Value::Bool(true)
            })
        })
    };
    codes.iter().all(reachable)
}

/// Imports a member's institutions, then contacts, through its own node. Importing what is
/// already there publishes nothing, so `up` can run again safely.
fn load_directory(layout: &Layout, code: MemberCode, out: &mut dyn Write) -> Result<()> {
    let client = member_client(layout, code)?;
    let mut published = 0;
    for path in [layout.institutions_csv(code), layout.contacts_csv(code)] {
        let bytes =
            std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        let report = client
            .post_bytes("/v1/import?dry_run=false", "text/csv", bytes)
            .with_context(|| format!("importing {} into {code}", path.display()))?;
        published += report["published"].as_u64().unwrap_or(0);
    }
    writeln!(
        out,
        "  {code}: directory loaded ({published} entries published)"
    )?;
    Ok(())
}
