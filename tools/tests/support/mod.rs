//! Harness of the command-line client tests: real member nodes started in this process
//! (seeded keys, loopback ports, an API on 127.0.0.1:0 with an admin and a focal-point
//! token), and the built `vigia` binary run against them.
//!
//! The nodes run on a tokio runtime the harness owns, so the tests themselves are plain
//! blocking functions, like the `vigia` command they drive. Every `vigia` run gets its own
//! empty home directory and no `VIGIA_*` variables, so a developer's profile never leaks in.

// Each test binary compiles this module and uses a different part of it.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use tempfile::TempDir;
use tokio::runtime::Runtime;
use vigia_node::api::{ApiServer, ApiSettings};
use vigia_node::node::{Node, NodeSetup};
use vigia_node::testing::{TestMember, signed_roster};
use vigia_node::tokens::{Role, TokenStore};
use vigia_protocol::{MemberCode, Roster};

/// Seed of every test key.
const SEED: u64 = 0x7669_6769_6163_6c69;

/// Body limit of test APIs, the node's default.
const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// How long a test waits for something that happens over the network.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// Members, their signed roster, a directory for their files and the runtime of their
/// nodes.
pub struct Network {
    roster: Roster,
    members: Vec<TestMember>,
    dir: TempDir,
    runtime: Runtime,
}

/// A running node with its API and tokens.
pub struct TestNode {
    node: Option<Node>,
    api: Option<ApiServer>,
    index: usize,
    /// Where its API listens.
    pub address: SocketAddr,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The admin token.
    pub admin: String,
    /// The focal-point token.
    pub focal: String,
    /// Its member.
    pub member: MemberCode,
}

impl Network {
    /// A network of members given as (code, name); names are what search matches.
    pub fn new(members: &[(&str, &str)]) -> Self {
        let members: Vec<TestMember> = members
            .iter()
            .map(|(code, name)| TestMember::seeded(code, name, SEED))
            .collect();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime");
        Self {
            roster: signed_roster("vigia-cli-test", &members),
            members,
            dir: tempfile::tempdir().expect("temporary directory"),
            runtime,
        }
    }

    /// A one-member network (Perú): its node may publish at once.
    pub fn single() -> Self {
        Self::new(&[("PE", "Perú")])
    }

    fn data_dir(&self, index: usize) -> PathBuf {
        self.dir.path().join(self.members[index].code.as_str())
    }

    fn tokens_path(&self, index: usize) -> PathBuf {
        self.data_dir(index).join(vigia_node::config::TOKENS_FILE)
    }

    /// Starts member `index`'s node and its API on a free port, with new tokens.
    pub fn start(&self, index: usize) -> TestNode {
        let tokens = TokenStore::new(self.tokens_path(index));
        std::fs::create_dir_all(self.data_dir(index)).expect("data directory");
        let admin = tokens.create(Role::Admin, "admin").expect("admin token").1;
        let focal = tokens.create(Role::Focal, "focal").expect("focal token").1;
        let listen = "127.0.0.1:0".parse().expect("address");
        self.launch(index, listen, admin, focal)
    }

    /// Stops `node` and starts it again on the same API port, store and tokens, as an
    /// operator's restart would.
    pub fn restart(&self, node: TestNode) -> TestNode {
        let (index, address) = (node.index, node.address);
        let (admin, focal) = (node.admin.clone(), node.focal.clone());
        self.stop(node);
        self.launch(index, address, admin, focal)
    }

    fn launch(&self, index: usize, listen: SocketAddr, admin: String, focal: String) -> TestNode {
        let member = &self.members[index];
        let setup = NodeSetup {
            roster: self.roster.clone(),
            member: member.code,
            signing_key: member.signing_key.clone(),
            identity: member.identity(),
            store_path: self.data_dir(index).join("vigia.redb"),
            listen: Vec::new(),
            sync_interval: Duration::from_secs(2),
            max_message_bytes: vigia_node::config::DEFAULT_MAX_MESSAGE_BYTES,
            clock: vigia_node::clock::Clock::system(),
        };
        let settings = ApiSettings {
            listen,
            max_body_bytes: MAX_BODY_BYTES,
            tokens_path: self.tokens_path(index),
            connections: vigia_node::api::ConnectionLimits::default(),
        };
        let (node, api) = self.runtime.block_on(async {
            let node = Node::start(setup).await.expect("node starts");
            let api = ApiServer::start(node.handle(), settings)
                .await
                .expect("api starts");
            (node, api)
        });
        let address = api.local_addr();
        TestNode {
            node: Some(node),
            api: Some(api),
            index,
            address,
            base: format!("http://{address}"),
            admin,
            focal,
            member: member.code,
        }
    }

    /// Waits until `node` may publish.
    pub fn wait_ready(&self, node: &TestNode) {
        let handle = node.node.as_ref().expect("running").handle();
        self.runtime.block_on(async {
            tokio::time::timeout(PATIENCE, handle.wait_ready())
                .await
                .expect("ready in time")
                .expect("node running");
        });
    }

    /// Stops the API and the node.
    pub fn stop(&self, mut node: TestNode) {
        let (api, running) = (node.api.take(), node.node.take());
        self.runtime.block_on(async {
            if let Some(api) = api {
                api.shutdown().await.expect("api stops");
            }
            if let Some(running) = running {
                running.shutdown().await.expect("node stops");
            }
        });
    }
}

/// A place for `vigia`'s home directory and the files a test writes.
pub struct Workspace {
    dir: TempDir,
}

impl Default for Workspace {
    fn default() -> Self {
        Self::new()
    }
}

impl Workspace {
    /// An empty workspace.
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temporary directory"),
        }
    }

    /// Its directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a file and returns its path.
    pub fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, contents).expect("file written");
        path
    }

    /// The `vigia` binary with this workspace as its home and working directory, and no
    /// `VIGIA_*` variables.
    pub fn command(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_vigia"));
        command
            .current_dir(self.dir.path())
            .env("HOME", self.dir.path())
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("VIGIA_NODE")
            .env_remove("VIGIA_TOKEN");
        command
    }

    /// Runs `vigia --node BASE --token TOKEN ARGS…`.
    pub fn run(&self, node: &TestNode, token: &str, args: &[&str]) -> Output {
        self.command()
            .args(["--node", &node.base, "--token", token])
            .args(args)
            .output()
            .expect("the vigia binary runs")
    }

    /// Runs a command as a focal point; it must succeed; returns its standard output.
    pub fn focal(&self, node: &TestNode, args: &[&str]) -> String {
        succeeded(&self.run(node, &node.focal, args), args)
    }

    /// Runs a command with the admin token; it must succeed; returns its standard output.
    pub fn admin(&self, node: &TestNode, args: &[&str]) -> String {
        succeeded(&self.run(node, &node.admin, args), args)
    }
}

/// Standard output of a run that must have succeeded.
pub fn succeeded(output: &Output, args: &[&str]) -> String {
    assert!(
        output.status.success(),
        "vigia {args:?} failed ({}): {}{}",
        output.status,
        stdout(output),
        stderr(output)
    );
    stdout(output)
}

/// Standard output as text.
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Standard error as text.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}
