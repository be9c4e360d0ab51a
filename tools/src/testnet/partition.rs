//! `vigia testnet partition` and `heal`: cut the network into groups that cannot reach each
//! other, and join it again. On one host the cut is each node's operator block list (the
//! nodes refuse each other); `testnet/netns.sh` makes real network cuts instead.
//!
//! A node forgets its block list when it stops, so the groups are also written to
//! `DIR/partition.toml`: `start` and `up` give a restarted node its block list again, and
//! wait only for the connections the cut allows. `heal` and `down` remove the file.

use std::collections::BTreeSet;
use std::io::Write;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use serde_json::json;
use vigia_protocol::MemberCode;

use super::layout::Layout;
use super::process;
use super::target::member_client;

/// The groups of a partition in place, as `DIR/partition.toml` holds them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Partition {
    /// Members of each group; every member of the testnet is in exactly one.
    pub groups: Vec<BTreeSet<MemberCode>>,
}

impl Partition {
    /// The partition in place in the testnet at `layout`, if any.
    pub fn read(layout: &Layout) -> Result<Option<Self>> {
        let path = layout.partition();
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => {
                return Err(error).with_context(|| format!("cannot read {}", path.display()));
            }
        };
        let partition = toml::from_str(&text)
            .with_context(|| format!("{} is not a partition", path.display()))?;
        Ok(Some(partition))
    }

    fn write(&self, layout: &Layout) -> Result<()> {
        let path = layout.partition();
        let text = toml::to_string(self).context("cannot encode the partition")?;
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))
    }

    /// Removes the record of the partition, if there is one.
    pub fn remove(layout: &Layout) -> Result<()> {
        let path = layout.partition();
        match std::fs::remove_file(&path) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                Err(error).with_context(|| format!("cannot remove {}", path.display()))
            }
            _ => Ok(()),
        }
    }

    /// The group of `code`.
    pub fn side_of(&self, code: MemberCode) -> Option<&BTreeSet<MemberCode>> {
        self.groups.iter().find(|group| group.contains(&code))
    }

    /// The members `code`'s node refuses: every member of the other groups.
    pub fn blocked_by(&self, code: MemberCode) -> BTreeSet<MemberCode> {
        self.groups
            .iter()
            .filter(|group| !group.contains(&code))
            .flatten()
            .copied()
            .collect()
    }
}

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

/// Makes every running node of each group refuse the members of all other groups, and
/// records the groups for nodes started later. Every member must be in a group, stopped
/// ones too: one in none would connect to both sides and carry their entries across.
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
    let left_out: Vec<&str> = manifest
        .members
        .iter()
        .filter(|member| !groups.iter().any(|group| group.contains(&member.code)))
        .map(|member| member.code.as_str())
        .collect();
    if !left_out.is_empty() {
        bail!(
            "{} {} in no group: put every member of the testnet on one side (stopped ones \
             too, for when they start), since a member on neither side would connect to both \
             and carry their entries across the cut",
            left_out.join(", "),
            if left_out.len() == 1 { "is" } else { "are" }
        );
    }
    let partition = Partition {
        groups: groups.to_vec(),
    };
    partition.write(layout)?;
    for member in &manifest.members {
        set_blocked(layout, member.code, &partition.blocked_by(member.code))?;
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
    // Forgotten first, so that a node started meanwhile is not cut off again.
    Partition::remove(layout)?;
    for member in &layout.manifest()?.members {
        set_blocked(layout, member.code, &BTreeSet::new())?;
    }
    writeln!(out, "healed: every node may reach every other")?;
    Ok(())
}

/// Gives `code`'s node the block list of the partition in place, if any: a node forgets
/// its list when it stops.
pub fn apply_to(layout: &Layout, code: MemberCode) -> Result<()> {
    match Partition::read(layout)? {
        Some(partition) => set_blocked(layout, code, &partition.blocked_by(code)),
        None => Ok(()),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(text: &str) -> BTreeSet<MemberCode> {
        text.split(',')
            .map(|code| code.parse().expect("code"))
            .collect()
    }

    #[test]
    fn each_member_refuses_exactly_the_other_groups() {
        let partition = Partition {
            groups: vec![codes("AR,BR"), codes("CL,CO"), codes("PE")],
        };
        let ar = "AR".parse().expect("code");
        assert_eq!(partition.blocked_by(ar), codes("CL,CO,PE"));
        assert_eq!(partition.side_of(ar), Some(&codes("AR,BR")));
        let text = toml::to_string(&partition).expect("encoded");
        assert_eq!(
            toml::from_str::<Partition>(&text).expect("decoded"),
            partition
        );
    }
}
