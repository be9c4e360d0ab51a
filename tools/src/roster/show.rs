//! `vigia roster show`: a roster's members, nodes and signatures, as a table or as JSON.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use serde::Serialize;
use vigia_protocol::roster::{NodeRecord, RosterFile};
use vigia_protocol::{Hash, MemberCode, PublicKey};

use super::{SignatureStatus, read_roster, signature_status};

/// Hex characters of a signing key shown in the table: enough to tell keys apart by eye.
const KEY_PREFIX_CHARS: usize = 16;

/// Columns of the table.
const HEADER: [&str; 6] = ["CODE", "NAME", "KEY", "SIGNED", "PEER ID", "ADDRESSES"];

/// Arguments of `vigia roster show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The roster file.
    #[arg(value_name = "FILE")]
    roster: PathBuf,
    /// Print JSON for scripts instead of a table.
    #[arg(long)]
    json: bool,
}

/// What `show` reports; with `--json`, its field names are what scripts rely on.
#[derive(Debug, Serialize)]
struct RosterView<'a> {
    network: &'a str,
    quorum: u32,
    /// The network id, known once the roster verifies (every member signed).
    id: Option<Hash>,
    /// Why the roster does not verify, while it does not.
    problem: Option<String>,
    members: Vec<MemberView<'a>>,
}

#[derive(Debug, Serialize)]
struct MemberView<'a> {
    code: MemberCode,
    name: &'a str,
    signing_key: PublicKey,
    nodes: &'a [NodeRecord],
    signature: SignatureStatus,
}

/// Prints the roster file named in `args`.
pub fn show(args: &ShowArgs, out: &mut dyn Write) -> Result<()> {
    let file = read_roster(&args.roster)?;
    let view = RosterView::new(&file);
    if args.json {
        serde_json::to_writer_pretty(&mut *out, &view).context("cannot write JSON")?;
        writeln!(out)?;
    } else {
        write_table(&view, out)?;
    }
    Ok(())
}

impl<'a> RosterView<'a> {
    fn new(file: &'a RosterFile) -> Self {
        let (id, problem) = match file.verify() {
            Ok(roster) => (Some(roster.id()), None),
            Err(err) => (None, Some(err.to_string())),
        };
        let signed_bytes = file.body.signed_bytes();
        let members = file
            .body
            .members
            .iter()
            .map(|member| MemberView {
                code: member.code,
                name: &member.name,
                signing_key: member.signing_key,
                nodes: &member.nodes,
                signature: signature_status(file, &signed_bytes, member),
            })
            .collect();
        Self {
            network: &file.body.network,
            quorum: file.body.quorum,
            id,
            problem,
            members,
        }
    }
}

fn write_table(view: &RosterView<'_>, out: &mut dyn Write) -> Result<()> {
    writeln!(out, "network: {}", view.network)?;
    writeln!(
        out,
        "quorum:  {} of {} members",
        view.quorum,
        view.members.len()
    )?;
    match (&view.id, &view.problem) {
        (Some(id), _) => writeln!(out, "id:      {id}")?,
        (None, problem) => {
            let reason = problem.as_deref().unwrap_or("does not verify");
            writeln!(out, "id:      none yet ({reason})")?;
        }
    }
    writeln!(out)?;

    let mut rows = vec![HEADER.map(String::from)];
    rows.extend(view.members.iter().flat_map(member_rows));
    let mut widths = [0; HEADER.len()];
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    for row in &rows {
        let cells: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        writeln!(out, "{}", cells.join("  ").trim_end())?;
    }
    Ok(())
}

/// One line per address of each node; the member's own columns only on its first line.
fn member_rows(member: &MemberView<'_>) -> Vec<[String; HEADER.len()]> {
    let mut rows = Vec::new();
    for node in member.nodes {
        let none = ["-".to_owned()];
        let addresses = if node.addresses.is_empty() {
            &none[..]
        } else {
            &node.addresses[..]
        };
        for (index, address) in addresses.iter().enumerate() {
            let peer = if index == 0 {
                node.peer_id.clone()
            } else {
                String::new()
            };
            let blank = String::new;
            rows.push([blank(), blank(), blank(), blank(), peer, address.clone()]);
        }
    }
    if rows.is_empty() {
        rows.push(["", "", "", "", "-", "-"].map(String::from));
    }
    if let Some(first) = rows.first_mut() {
        let key = member.signing_key.to_hex();
        first[0] = member.code.to_string();
        first[1] = member.name.to_owned();
        first[2] = format!("{}…", &key[..KEY_PREFIX_CHARS]);
        first[3] = signed_label(member.signature).to_owned();
    }
    rows
}

fn signed_label(status: SignatureStatus) -> &'static str {
    match status {
        SignatureStatus::Valid => "yes",
        SignatureStatus::Missing => "no",
        SignatureStatus::Invalid => "INVALID",
    }
}
