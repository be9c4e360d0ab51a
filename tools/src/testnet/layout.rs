//! Where a testnet keeps its files, and its manifest `testnet.toml`.
//!
//! ```text
//! DIR/testnet.toml          the manifest: seed, members, their ports
//! DIR/roster.toml           founding roster, signed by every member
//! DIR/partition.toml        the groups of `testnet partition`, until `heal` or `down`
//! DIR/CODE/keys/            member.key, node.key (0600), public.toml
//! DIR/CODE/node.toml        the member's node configuration
//! DIR/CODE/data/            the store (vigia.redb) and tokens.json
//! DIR/CODE/tokens.toml      the member's admin and focal tokens, in clear (0600)
//! DIR/CODE/institutions.csv the member's synthetic institutions, in the import format
//! DIR/CODE/contacts.csv     the member's synthetic contacts, in the import format
//! DIR/CODE/node.log         the running node's log
//! DIR/CODE/node.pid         the running node's process id
//! ```
//!
//! Every path a command needs comes from here, so the layout is written down once.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use vigia_protocol::MemberCode;

/// Name of the manifest file.
pub const MANIFEST: &str = "testnet.toml";

/// One member of a testnet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberEntry {
    /// ISO code.
    pub code: MemberCode,
    /// English name.
    pub name: String,
    /// Address its node listens on, libp2p and API alike: 127.0.0.1 unless `init
    /// --first-address` gave each member its own (for `testnet/netns.sh`).
    #[serde(default = "loopback")]
    pub address: Ipv4Addr,
    /// libp2p port (TCP and UDP).
    pub p2p_port: u16,
    /// Local API port.
    pub api_port: u16,
}

fn loopback() -> Ipv4Addr {
    Ipv4Addr::LOCALHOST
}

/// What `testnet init` decided, read by every other testnet command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Seed of the keys and directories.
    pub seed: u64,
    /// The members, in roster order.
    pub members: Vec<MemberEntry>,
}

/// The files of one testnet.
#[derive(Debug, Clone)]
pub struct Layout {
    root: PathBuf,
}

impl Layout {
    /// The testnet in `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The testnet's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The manifest.
    pub fn manifest_path(&self) -> PathBuf {
        self.root.join(MANIFEST)
    }

    /// The roster.
    pub fn roster(&self) -> PathBuf {
        self.root.join("roster.toml")
    }

    /// The partition in place, if any (see `testnet::partition`).
    pub fn partition(&self) -> PathBuf {
        self.root.join("partition.toml")
    }

    /// A member's directory.
    pub fn member_dir(&self, code: MemberCode) -> PathBuf {
        self.root.join(code.as_str())
    }

    /// A member's key directory.
    pub fn keys(&self, code: MemberCode) -> PathBuf {
        self.member_dir(code).join("keys")
    }

    /// A member's node configuration.
    pub fn config(&self, code: MemberCode) -> PathBuf {
        self.member_dir(code).join("node.toml")
    }

    /// A member's data directory.
    pub fn data(&self, code: MemberCode) -> PathBuf {
        self.member_dir(code).join("data")
    }

    /// A member's clear-text tokens.
    pub fn tokens(&self, code: MemberCode) -> PathBuf {
        self.member_dir(code).join("tokens.toml")
    }

    /// A member's synthetic institutions, as CSV in the import format.
    pub fn institutions_csv(&self, code: MemberCode) -> PathBuf {
        self.member_dir(code).join("institutions.csv")
    }

    /// A member's synthetic contacts, as CSV in the import format.
    pub fn contacts_csv(&self, code: MemberCode) -> PathBuf {
        self.member_dir(code).join("contacts.csv")
    }

    /// A member's node log.
    pub fn log(&self, code: MemberCode) -> PathBuf {
        self.member_dir(code).join("node.log")
    }

    /// A member's node process id.
    pub fn pid(&self, code: MemberCode) -> PathBuf {
        self.member_dir(code).join("node.pid")
    }

    /// Reads the manifest, saying plainly when `DIR` is not a testnet.
    pub fn manifest(&self) -> Result<Manifest> {
        let path = self.manifest_path();
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "{} is not a testnet (no {MANIFEST}); run `vigia testnet init` first",
                self.root.display()
            )
        })?;
        toml::from_str(&text).with_context(|| format!("{} is not a valid manifest", path.display()))
    }

    /// The manifest entry of `code`.
    pub fn member(&self, code: MemberCode) -> Result<MemberEntry> {
        let manifest = self.manifest()?;
        manifest
            .members
            .into_iter()
            .find(|member| member.code == code)
            .with_context(|| {
                format!(
                    "{code} is not a member of the testnet in {}",
                    self.root.display()
                )
            })
    }
}

/// Clear-text tokens of one member, so testers and scripts can call its API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberTokens {
    /// Token with the admin role.
    pub admin: String,
    /// Token with the focal role.
    pub focal: String,
}

impl MemberTokens {
    /// Reads a member's tokens file.
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read tokens {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("{} is not a tokens file", path.display()))
    }
}
