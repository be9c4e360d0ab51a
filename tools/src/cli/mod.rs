//! The client commands: what focal points and IT teams run against their own node's local
//! API (`vigia contacts …`, `alerts …`, `network`, `import`).
//!
//! Who owns what:
//! - [`connection`]: which node and token (flags, environment, profile, testnet);
//! - [`output`]: tables and details for people, the node's JSON for `--json`;
//! - [`contacts`], [`institutions`], [`alerts`], [`network`]: one module per command
//!   group; [`watch`] follows the node's event stream for `alerts watch`;
//! - [`directory_admin`]: put and remove of the node's own records (admin token);
//! - [`transfer`]: CSV import and CSV, vCard and JSON export.
//!
//! Each command is a function of a [`Session`] (a client of one node plus the output
//! format) and the writer its results go to. The node is the authority: the commands check
//! only what saves a round trip (enumerations, member codes) and show the node's errors in
//! its own words.

pub mod alerts;
pub mod connection;
pub mod contacts;
pub mod directory_admin;
pub mod institutions;
pub mod network;
pub mod output;
pub mod transfer;
pub mod watch;

use std::io::{Read, Write};
use std::path::Path;

use anyhow::{Context, Result};
use serde_json::Value;
use vigia_protocol::MemberCode;

use crate::client::{NodeClient, NodeError};
use connection::{Connection, ConnectionArgs};

/// `--json`: print the node's JSON instead of tables, for scripts.
#[derive(Debug, Clone, Copy, Default, clap::Args)]
pub struct FormatArgs {
    /// Print the node's JSON answer instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
}

/// One node's client and how to show its answers.
#[derive(Debug)]
pub struct Session {
    /// The client of the node's API.
    pub client: NodeClient,
    /// Whether to print JSON.
    pub json: bool,
    /// The flags that named the node, such as `--testnet DIR --member PE`, for hints.
    pub connection_flags: String,
}

impl Session {
    /// A command to suggest, with the flags that named this node: a hint that dropped them
    /// would ask another node (or none) when copied.
    pub fn hint(&self, command: &str) -> String {
        if self.connection_flags.is_empty() {
            format!("vigia {command}")
        } else {
            format!("vigia {} {command}", self.connection_flags)
        }
    }
}

/// The connection flags of `args` as a person would type them again. A token is shown as
/// `--token …`: hints are printed, and printed output ends up in terminals' scrollback,
/// logs and tickets.
pub fn connection_flags(args: &ConnectionArgs) -> String {
    let mut flags = Vec::new();
    if let (Some(dir), Some(member)) = (&args.testnet, &args.member) {
        flags.push(format!(
            "--testnet {}",
            shell_word(&dir.display().to_string())
        ));
        flags.push(format!("--member {}", shell_word(member)));
    }
    if let Some(node) = &args.node {
        flags.push(format!("--node {}", shell_word(node)));
    }
    if args.token.is_some() {
        flags.push("--token …".to_owned());
    }
    if let Some(profile) = &args.profile {
        flags.push(format!(
            "--profile {}",
            shell_word(&profile.display().to_string())
        ));
    }
    flags.join(" ")
}

/// `text` as one word of a POSIX shell command line: as it is when that is safe, else in
/// single quotes.
fn shell_word(text: &str) -> String {
    let safe = |c: char| c.is_alphanumeric() || "-_./:=@%+,".contains(c);
    if !text.is_empty() && text.chars().all(safe) {
        return text.to_owned();
    }
    format!("'{}'", text.replace('\'', "'\\''"))
}

/// Resolves the connection, runs `command` with a session, and explains the node's errors.
pub fn run_with_session(
    args: &ConnectionArgs,
    json: bool,
    out: &mut dyn Write,
    command: impl FnOnce(&Session, &mut dyn Write) -> Result<()>,
) -> Result<()> {
    let connection = connection::resolve(args, &|name| std::env::var(name).ok())?;
    for warning in &connection.warnings {
        eprintln!("warning: {warning}");
    }
    let token = connection
        .token
        .as_ref()
        .map_or("", |(token, _)| token.as_str());
    let session = Session {
        client: NodeClient::new(&connection.node, token)?,
        json,
        connection_flags: connection_flags(args),
    };
    command(&session, out).map_err(|error| explain(error, &connection, json, out))
}

/// Adds what the node cannot know to its error: where the token came from, or that none
/// was given. With `--json` the node's error object is also printed, for scripts.
fn explain(
    error: anyhow::Error,
    connection: &Connection,
    json: bool,
    out: &mut dyn Write,
) -> anyhow::Error {
    let Some(node_error) = node_error(&error) else {
        return explain_unreachable(error, connection);
    };
    if json {
        // The error itself still goes to stderr with a failing exit code, so a failed
        // write here loses nothing a person needs.
        let _ = output::json(out, &node_error.envelope());
    }
    if node_error.status != 401 {
        return error;
    }
    match &connection.token {
        None => {
            let profile = connection
                .profile_path
                .as_ref()
                .map_or_else(|| "a profile".to_owned(), |path| path.display().to_string());
            error.context(format!(
                "no API token was given: pass --token, set ${}, \
                 or put token = \"…\" in {profile}",
                connection::TOKEN_VARIABLE
            ))
        }
        Some((_, source)) => error.context(format!(
            "the node at {} refused the token from {source}",
            connection.node
        )),
    }
}

/// Says where the address came from when no node answers there: the usual first-day
/// mistake is a node that is not running or an address that names another port.
fn explain_unreachable(error: anyhow::Error, connection: &Connection) -> anyhow::Error {
    let refused = error
        .chain()
        .filter_map(|cause| cause.downcast_ref::<reqwest::Error>())
        .any(reqwest::Error::is_connect);
    if !refused {
        return error;
    }
    error.context(format!(
        "no node answers at {} (address from {}); is vigia-node running there? \
         --node, ${} or a profile name another address",
        connection.node,
        connection.node_source,
        connection::NODE_VARIABLE
    ))
}

/// The node's error in `error`'s chain, if the node answered with one.
pub fn node_error(error: &anyhow::Error) -> Option<&NodeError> {
    error
        .chain()
        .find_map(|cause| cause.downcast_ref::<NodeError>())
}

/// Parses a member code as the command line takes it (`pe` or `PE`).
pub fn parse_member(text: &str) -> Result<MemberCode> {
    text.trim()
        .to_ascii_uppercase()
        .parse()
        .with_context(|| format!("{text:?} is not a member code such as PE"))
}

/// Prints `value` as JSON when the session asks for it; returns whether it did, so the
/// caller prints its table otherwise.
pub fn printed_json(session: &Session, out: &mut dyn Write, value: &Value) -> Result<bool> {
    if session.json {
        output::json(out, value)?;
    }
    Ok(session.json)
}

/// Reads at most `limit` bytes from `path`, or from standard input for `-`; a larger input
/// is refused with `advice`, since a wrong file (a log, a disk image) should fail fast.
pub fn read_input(path: &Path, limit: u64, advice: &str) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    let name = path.display().to_string();
    if name == "-" {
        std::io::stdin()
            .take(limit + 1)
            .read_to_end(&mut bytes)
            .context("cannot read standard input")?;
    } else {
        std::fs::File::open(path)
            .and_then(|file| file.take(limit + 1).read_to_end(&mut bytes))
            .with_context(|| format!("cannot read {name}"))?;
    }
    if bytes.len() as u64 > limit {
        anyhow::bail!("{name} is over {limit} bytes; {advice}");
    }
    Ok(bytes)
}

/// The name the API uses for a value of a command-line enumeration.
pub fn api_name<T: clap::ValueEnum>(value: &T) -> String {
    value
        .to_possible_value()
        .map(|possible| possible.get_name().to_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    #[test]
    fn hints_repeat_the_flags_that_named_the_node_but_not_the_token() {
        let testnet = ConnectionArgs {
            testnet: Some(PathBuf::from("/tmp/vigia demo")),
            member: Some("pe".into()),
            ..ConnectionArgs::default()
        };
        assert_eq!(
            connection_flags(&testnet),
            "--testnet '/tmp/vigia demo' --member pe"
        );
        let node = ConnectionArgs {
            node: Some("http://127.0.0.1:8441".into()),
            token: Some("vigia_secret".into()),
            ..ConnectionArgs::default()
        };
        assert_eq!(
            connection_flags(&node),
            "--node http://127.0.0.1:8441 --token …"
        );
        assert_eq!(connection_flags(&ConnectionArgs::default()), "");
        assert_eq!(shell_word("it's"), "'it'\\''s'");
    }
}

#[cfg(test)]
pub(crate) mod contract {
    //! The command line's enumerations must match the API's, which the OpenAPI document
    //! states; these helpers read it.

    use serde_json::Value;

    const OPENAPI: &str = include_str!("../../../node/src/api/openapi.json");

    /// The values of schema `name`'s enumeration.
    pub fn api_enum(name: &str) -> Vec<String> {
        let document: Value = serde_json::from_str(OPENAPI).expect("openapi.json is JSON");
        document["components"]["schemas"][name]["enum"]
            .as_array()
            .unwrap_or_else(|| panic!("schema {name} has an enum"))
            .iter()
            .map(|value| value.as_str().expect("string").to_owned())
            .collect()
    }

    /// The names of a clap value enumeration.
    pub fn cli_enum<T: clap::ValueEnum>() -> Vec<String> {
        T::value_variants()
            .iter()
            .filter_map(|value| value.to_possible_value())
            .map(|value| value.get_name().to_owned())
            .collect()
    }
}
