//! `vigia testnet up` and `start`: start the nodes, wait until they are connected as far as
//! any partition in place allows, and load each member's directory through its own node on
//! its first start.

use std::io::Write;
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::Value;
use vigia_protocol::MemberCode;

use super::layout::Layout;
use super::partition::{self, Partition};
use super::process;
use super::target::member_client;

/// How long nodes get to answer and connect before `up` gives up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(120);
/// Pause between polls of the nodes.
const POLL: Duration = Duration::from_millis(200);

/// Starts every member's node, waits until each sees every other it may, then loads the
/// generated directory into each member whose feed is still empty.
pub fn up(layout: &Layout, out: &mut dyn Write) -> Result<()> {
    let manifest = layout.manifest()?;
    let codes: Vec<MemberCode> = manifest.members.iter().map(|member| member.code).collect();
    let mut started = Vec::new();
    for code in &codes {
        if process::start(layout, *code)? {
            started.push(*code);
        }
    }
    writeln!(
        out,
        "started {} node(s), {} already running",
        started.len(),
        codes.len() - started.len()
    )?;
    rejoin_partition(layout, &started)?;
    let sides = sides(layout, &codes)?;
    wait_connected(layout, &sides, out)?;
    for code in &codes {
        load_directory(layout, *code, out)?;
    }
    let connected = if sides.len() > 1 {
        "connected within each side of the partition"
    } else {
        "connected"
    };
    writeln!(out, "network up: {} members {connected}", codes.len())?;
    Ok(())
}

/// Starts one member's node and waits until it is connected to every running member on
/// its side of the partition in place (every running member, when there is none).
pub fn start_one(layout: &Layout, code: MemberCode, out: &mut dyn Write) -> Result<()> {
    layout.member(code)?;
    if !process::start(layout, code)? {
        writeln!(out, "{code} is already running")?;
        return Ok(());
    }
    rejoin_partition(layout, &[code])?;
    // Started just now, so running by definition; the others only if their process lives.
    let running: Vec<MemberCode> = layout
        .manifest()?
        .members
        .iter()
        .map(|member| member.code)
        .filter(|other| *other == code || process::running_pid(layout, *other).is_some())
        .collect();
    let side: Vec<MemberCode> = sides(layout, &running)?
        .into_iter()
        .find(|side| side.contains(&code))
        .unwrap_or_else(|| vec![code]);
    if side.len() == 1 {
        // Only a peer can confirm how far its own feed goes, so it cannot publish yet.
        writeln!(
            out,
            "{code} started; no other member it may reach is running, so it publishes once \
             one is"
        )?;
        return Ok(());
    }
    wait_connected(layout, std::slice::from_ref(&side), out)?;
    let others = if Partition::read(layout)?.is_some() {
        "every running member on its side of the partition"
    } else {
        "every running member"
    };
    writeln!(out, "{code} started and connected to {others}")?;
    Ok(())
}

/// Gives nodes just started the block lists of the partition in place, if any. Until then
/// they may reach the other side only where none of its nodes runs: a running node keeps
/// refusing the other side.
fn rejoin_partition(layout: &Layout, started: &[MemberCode]) -> Result<()> {
    if Partition::read(layout)?.is_none() {
        return Ok(());
    }
    for code in started {
        wait_answering(layout, *code)?;
        partition::apply_to(layout, *code)?;
    }
    Ok(())
}

/// `codes` split by the partition in place: each group's members among `codes`, or all of
/// them as one group.
fn sides(layout: &Layout, codes: &[MemberCode]) -> Result<Vec<Vec<MemberCode>>> {
    let Some(partition) = Partition::read(layout)? else {
        return Ok(vec![codes.to_vec()]);
    };
    let mut sides: Vec<Vec<MemberCode>> = partition
        .groups
        .iter()
        .map(|group| {
            codes
                .iter()
                .copied()
                .filter(|code| group.contains(code))
                .collect()
        })
        .filter(|side: &Vec<MemberCode>| !side.is_empty())
        .collect();
    // A member added to the manifest after the partition would be on no side; it waits
    // with everyone, as without a partition.
    let unplaced: Vec<MemberCode> = codes
        .iter()
        .copied()
        .filter(|code| partition.side_of(*code).is_none())
        .collect();
    if !unplaced.is_empty() {
        sides.push(unplaced);
    }
    Ok(sides)
}

/// Waits until `code`'s API answers, so that its block list can be set.
fn wait_answering(layout: &Layout, code: MemberCode) -> Result<()> {
    let started = Instant::now();
    let client = member_client(layout, code)?;
    while client.get("/v1/health").is_err() {
        if process::running_pid(layout, code).is_none() {
            bail!(
                "the node of {code} has stopped; see {}",
                layout.log(code).display()
            );
        }
        if started.elapsed() > CONNECT_TIMEOUT {
            bail!(
                "the API of {code} did not answer within {}s; see {}",
                CONNECT_TIMEOUT.as_secs(),
                layout.log(code).display()
            );
        }
        sleep(POLL);
    }
    Ok(())
}

/// Waits until, within each side, every node sees every other and may publish.
fn wait_connected(layout: &Layout, sides: &[Vec<MemberCode>], out: &mut dyn Write) -> Result<()> {
    let started = Instant::now();
    let total: usize = sides.iter().map(Vec::len).sum();
    let mut last_report = 0;
    loop {
        let mut waiting = Vec::new();
        for side in sides {
            for code in side {
                // A node that exited (port taken, address missing) will never connect.
                if process::running_pid(layout, *code).is_none() {
                    bail!(
                        "the node of {code} has stopped; see {}",
                        layout.log(*code).display()
                    );
                }
                if !sees_all(layout, *code, side) {
                    waiting.push(*code);
                }
            }
        }
        let ready = total - waiting.len();
        if ready != last_report {
            writeln!(
                out,
                "  {ready}/{total} nodes connected to every other they may reach"
            )?;
            last_report = ready;
        }
        if waiting.is_empty() {
            return Ok(());
        }
        if started.elapsed() > CONNECT_TIMEOUT {
            let logs: Vec<String> = waiting
                .iter()
                .map(|code| layout.log(*code).display().to_string())
                .collect();
            bail!(
                "after {}s only {ready} of {total} nodes are connected to every other they \
                 may reach; see {}",
                CONNECT_TIMEOUT.as_secs(),
                logs.join(", ")
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

/// Whether `code`'s own feed is empty everywhere its node can tell: nothing held, and no
/// connected peer holding more. Only then is this the member's first start.
fn own_feed_empty(layout: &Layout, code: MemberCode) -> Result<bool> {
    let network = member_client(layout, code)?.get("/v1/network")?;
    let own = network["members"]
        .as_array()
        .and_then(|members| {
            members
                .iter()
                .find(|member| member["self"] == Value::Bool(true))
        })
        .with_context(|| format!("the node of {code} does not list its own member"))?;
    let count = |field: &str| own[field].as_u64().unwrap_or(0);
    Ok(count("latest_seq") == 0 && count("behind") == 0)
}

/// Imports a member's institutions, then contacts, through its own node, on its first
/// start only: later the directory is the member's own, edits included, and the generated
/// files would put back what was changed.
fn load_directory(layout: &Layout, code: MemberCode, out: &mut dyn Write) -> Result<()> {
    if !own_feed_empty(layout, code)? {
        writeln!(
            out,
            "  {code}: directory kept as it is (the generated one is loaded on a first start)"
        )?;
        return Ok(());
    }
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
