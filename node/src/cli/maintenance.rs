//! `vigia-node check`, `backup` and `restore`: the command-line side of
//! [`crate::maintenance`].
//!
//! redb lets one process open a store. `check` and `restore` need the node stopped and say
//! so when it is not; `backup` works either way: it opens the store itself when it can, and
//! otherwise asks the running node to write the backup through its local API.

use std::io::Write;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use vigia_protocol::Roster;

use crate::config::{NodeConfig, Overrides};
use crate::maintenance::restore::{self, RestoreError};
use crate::maintenance::{backup, check as store_check, open_stopped, store_in_use};
use crate::store::Store;

/// Longest wait for a running node to write a backup. Copying is bounded by the disk:
/// a store of a million entries (more than the network writes in years) takes a minute.
const BACKUP_TIMEOUT: Duration = Duration::from_secs(30 * 60);

fn load_roster(config: &NodeConfig) -> Result<Roster> {
    let text = std::fs::read_to_string(&config.roster)
        .with_context(|| format!("cannot read roster {}", config.roster.display()))?;
    Roster::from_toml(&text)
        .with_context(|| format!("roster {} is not usable", config.roster.display()))
}

/// `vigia-node check [FILE]`.
pub fn check(file: Option<PathBuf>, overrides: &Overrides, out: &mut dyn Write) -> Result<()> {
    let config = NodeConfig::load(overrides)?;
    let roster = load_roster(&config)?;
    let path = file.unwrap_or_else(|| config.store_path());
    let hint = "or check a backup (`vigia-node backup FILE`, then `vigia-node check FILE`)";
    let store = open_stopped(&path, Some(hint))?;
    let report = store_check::check(&store, &roster)?;
    writeln!(out, "{}: {report}", path.display())?;
    if !report.is_clean() {
        bail!(
            "{} fails its check with {} problems",
            path.display(),
            report.problem_count
        );
    }
    Ok(())
}

/// `vigia-node rebuild`. It opens only an existing store: a mistyped data directory is an
/// error, not a new empty store with nothing to rebuild.
pub fn rebuild(overrides: &Overrides, out: &mut dyn Write) -> Result<()> {
    let config = NodeConfig::load(overrides)?;
    let store = open_stopped(&config.store_path(), None)?;
    let count = store.rebuild_views()?;
    writeln!(out, "views rebuilt from {count} entries")?;
    Ok(())
}

/// `vigia-node backup FILE`.
pub fn back_up(
    file: &Path,
    token: Option<String>,
    overrides: &Overrides,
    out: &mut dyn Write,
) -> Result<()> {
    let config = NodeConfig::load(overrides)?;
    let target = std::path::absolute(file)
        .with_context(|| format!("cannot make {} absolute", file.display()))?;
    let store = match Store::open_existing(&config.store_path()) {
        Ok(store) => store,
        Err(error) if store_in_use(&error) => {
            return back_up_through_api(&config, token, &target, out);
        }
        Err(error) => return Err(error),
    };
    let summary = backup::write(&store, &target)?;
    writeln!(
        out,
        "backup of {} feeds, {} entries and {} forks written to {} ({} bytes); the node is \
         not running, so the store was read directly",
        summary.feeds,
        summary.entries,
        summary.forks,
        summary.path.display(),
        summary.bytes
    )?;
    Ok(())
}

/// The node holds its store, so it writes the backup: `POST /v1/admin/backup`.
fn back_up_through_api(
    config: &NodeConfig,
    token: Option<String>,
    target: &Path,
    out: &mut dyn Write,
) -> Result<()> {
    let token = token.context(
        "the store is in use, so the running node must write the backup: give an admin token \
         with --token or VIGIA_TOKEN",
    )?;
    let url = format!("http://{}/v1/admin/backup", api_address(config)?);
    let client = reqwest::blocking::Client::builder()
        .timeout(BACKUP_TIMEOUT)
        .build()
        .context("cannot set up the HTTP client")?;
    let response = client
        .post(&url)
        .bearer_auth(token.trim())
        .json(&serde_json::json!({ "path": target }))
        .send()
        .with_context(|| {
            format!(
                "the store is in use but no node answered at {url} in time (a backup whose \
                 request timed out may still be written)"
            )
        })?;
    let status = response.status();
    let body: serde_json::Value = response
        .json()
        .with_context(|| format!("the node's answer ({status}) is not JSON"))?;
    if !status.is_success() {
        let message = body["error"]["message"]
            .as_str()
            .unwrap_or("no reason given");
        return Err(anyhow!("the node refused the backup ({status}): {message}"));
    }
    writeln!(
        out,
        "backup of {} feeds, {} entries and {} forks written by the running node to {} ({} \
         bytes, {} ms)",
        body["feeds"],
        body["entries"],
        body["forks"],
        target.display(),
        body["bytes"],
        body["took_ms"]
    )?;
    Ok(())
}

/// The configured API address, on loopback if the node listens on every interface.
fn api_address(config: &NodeConfig) -> Result<SocketAddr> {
    let mut address = config.api.listen_address()?;
    if address.ip().is_unspecified() {
        match address {
            SocketAddr::V4(_) => address.set_ip(Ipv4Addr::LOCALHOST.into()),
            SocketAddr::V6(_) => address.set_ip(Ipv6Addr::LOCALHOST.into()),
        }
    }
    Ok(address)
}

/// `vigia-node restore FILE`.
pub fn restore(file: &Path, overrides: &Overrides, out: &mut dyn Write) -> Result<()> {
    let config = NodeConfig::load(overrides)?;
    let roster = load_roster(&config)?;
    let store_path = config.store_path();
    match restore::restore(file, &store_path, &roster) {
        Ok(restored) => {
            writeln!(out, "{}: {}", file.display(), restored.report)?;
            writeln!(
                out,
                "restored {} to {}",
                file.display(),
                store_path.display()
            )?;
            if let Some(previous) = restored.previous {
                writeln!(out, "the replaced store is kept as {}", previous.display())?;
            }
            if let Some(damage) = restored.previous_damage {
                writeln!(out, "the replaced store could not be opened: {damage}")?;
            }
            writeln!(
                out,
                "on start the node learns its own feed's head from its peers before it \
                 publishes, so entries written after the backup are fetched, not reused"
            )?;
            Ok(())
        }
        Err(RestoreError::Refused(report)) => {
            writeln!(out, "{}: {report}", file.display())?;
            Err(RestoreError::Refused(report).into())
        }
        Err(error) => Err(error.into()),
    }
}
