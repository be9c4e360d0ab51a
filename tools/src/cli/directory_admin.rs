//! `vigia contacts|institutions put|remove`: changes to this node's own member's directory,
//! which the node signs and publishes to the network. They need an admin token.
//!
//! `put` takes the record as a JSON file in the API's shape (`ContactInput`,
//! `InstitutionInput` in `/v1/openapi.json`). The output of `show --json` is such a file:
//! the read-only fields it carries are accepted back unchanged, so an IT team edits a
//! record by showing it, editing the file and putting it.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use reqwest::Method;
use serde_json::Value;
use vigia_protocol::MemberCode;

use super::output;
use super::{Session, node_error, parse_member, printed_json, read_input};
use crate::client::segment;

/// Largest record file read: a record is a few kilobytes; the node refuses bodies over its
/// own limit anyway, and a bigger file is the wrong file.
const MAX_RECORD_FILE_BYTES: u64 = 1024 * 1024;

/// Which directory records a command changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    /// People.
    Contact,
    /// Authorities.
    Institution,
}

impl RecordKind {
    /// The API's collection.
    pub fn collection(self) -> &'static str {
        match self {
            RecordKind::Contact => "contacts",
            RecordKind::Institution => "institutions",
        }
    }

    /// The word people read.
    pub fn noun(self) -> &'static str {
        match self {
            RecordKind::Contact => "contact",
            RecordKind::Institution => "institution",
        }
    }

    fn path(self, record: &RecordPath) -> String {
        format!(
            "/v1/{}/{}/{}",
            self.collection(),
            record.member,
            segment(&record.id)
        )
    }
}

/// `MEMBER ID`: one record of the directory.
#[derive(Debug, Clone, clap::Args)]
pub struct RecordPath {
    /// The member, such as PE.
    #[arg(value_parser = parse_member)]
    pub member: MemberCode,
    /// The record's id among the member's, such as pe-pnp-001.
    pub id: String,
}

/// Arguments of `put`.
#[derive(Debug, Clone, clap::Args)]
pub struct PutArgs {
    /// The record.
    #[command(flatten)]
    pub record: RecordPath,
    /// JSON file with the record in the API's shape (`-` reads standard input).
    #[arg(long, value_name = "FILE")]
    pub file: PathBuf,
}

/// Creates or replaces a record.
pub fn put(session: &Session, kind: RecordKind, args: &PutArgs, out: &mut dyn Write) -> Result<()> {
    let body = read_record(&args.file)?;
    let path = kind.path(&args.record);
    // Read first, to tell a person whether the put created, changed or left the record:
    // the node answers a put equal to the record with the record, publishing nothing.
    let before = match session.client.get(&path) {
        Ok(record) => Some(record),
        Err(error) if node_error(&error).is_some_and(|node| node.status == 404) => None,
        Err(error) => return Err(error),
    };
    let after = session.client.send_json(Method::PUT, &path, &body)?;
    if printed_json(session, out, &after)? {
        return Ok(());
    }
    let what = match &before {
        None => "created",
        Some(before) if before["entry"] == after["entry"] => "unchanged",
        Some(_) => "replaced",
    };
    let (noun, member, id) = (kind.noun(), args.record.member, &args.record.id);
    writeln!(
        out,
        "{what} {noun} {member} {id} (entry {})",
        output::entry(&after["entry"])
    )?;
    Ok(())
}

/// Removes a record.
pub fn remove(
    session: &Session,
    kind: RecordKind,
    record: &RecordPath,
    out: &mut dyn Write,
) -> Result<()> {
    let removed = session.client.delete(&kind.path(record))?;
    if printed_json(session, out, &removed)? {
        return Ok(());
    }
    let (noun, member, id) = (kind.noun(), record.member, &record.id);
    writeln!(
        out,
        "removed {noun} {member} {id} (entry {})",
        output::entry(&removed["entry"])
    )?;
    Ok(())
}

/// Reads a JSON object from `path`, or standard input for `-`.
fn read_record(path: &Path) -> Result<Value> {
    let name = path.display();
    let bytes = read_input(path, MAX_RECORD_FILE_BYTES, "a record is a few kilobytes")?;
    let value: Value =
        serde_json::from_slice(&bytes).with_context(|| format!("{name} is not JSON"))?;
    if !value.is_object() {
        bail!("{name} holds no JSON object; `show --json` prints one to start from");
    }
    Ok(value)
}
