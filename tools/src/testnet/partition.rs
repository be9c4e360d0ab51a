//! `vigia testnet partition` and `heal`: cut the network into groups that cannot reach each
//! other, and join it again. On one host the cut is each node's operator block list (the
//! nodes refuse each other); `testnet/netns.sh` makes real network cuts instead.

use std::collections::BTreeSet;
use std::io::Write;

use anyhow::{Context, Result, bail};
use serde_json::json;
use vigia_protocol::MemberCode;

use super::layout::Layout;
use super::process;
use super::target::member_client;

/// Parses groups such as `AR,BR` `CL,CO`.
pub fn parse_groups(groups: &[String]) -> Result<Vec<BTreeSet<MemberCode>>> {
    if groups.len() < 2 {
        bail!("a partition needs at least two groups, such as `AR,BR CL,CO`");
    }
    let mut seen = BTreeSet::new();
    let mut parsed = Vec::new();
    for group in groups {
        let mut members = BTreeSet::new();
        for code in group.split(',').filter(|code| !code.is_empty()) {
            let code: MemberCode = code
                .trim()
                .to_uppercase()
                .parse()
                .with_context(|| format!("in group {group:?}"))?;
            if !seen.insert(code) {
                bail!("{code} is in two groups");
            }
            members.insert(code);
        }
        parsed.push(members);
    }
    Ok(parsed)
}

/// Makes every running node of each group refuse the members of all other groups. Members
/// in no group keep talking to everyone.
pub fn partition(
    layout: &Layout,
    groups: &[BTreeSet<MemberCode>],
    out: &mut dyn Write,
) -> Result<()> {
    let manifest = layout.manifest()?;
    for group in groups {
        for code in group {
            layout.member(*code)?;
        }
    }
    for member in &manifest.members {
        let Some(own) = groups.iter().find(|group| group.contains(&member.code)) else {
            continue;
        };
        let others: BTreeSet<MemberCode> = groups
            .iter()
            .filter(|group| *group != own)
            .flatten()
            .copied()
            .collect();
        set_blocked(layout, member.code, &others)?;
    }
    let shown: Vec<String> = groups
        .iter()
        .map(|group| {
            group
                .iter()
                .map(MemberCode::as_str)
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect();
    writeln!(out, "partitioned: {}", shown.join(" | "))?;
    Ok(())
}

/// Lifts every block on every running node.
pub fn heal(layout: &Layout, out: &mut dyn Write) -> Result<()> {
    for member in &layout.manifest()?.members {
        set_blocked(layout, member.code, &BTreeSet::new())?;
    }
    writeln!(out, "healed: every node may reach every other")?;
    Ok(())
}

fn set_blocked(layout: &Layout, code: MemberCode, blocked: &BTreeSet<MemberCode>) -> Result<()> {
    if process::running_pid(layout, code).is_none() {
        return Ok(());
    }
    let members: Vec<&str> = blocked.iter().map(MemberCode::as_str).collect();
    member_client(layout, code)?
        .send_json(
            reqwest::Method::PUT,
            "/v1/admin/blocked-members",
            &json!({ "members": members }),
        )
        .with_context(|| format!("cannot set the blocked members of {code}"))?;
    Ok(())
}
