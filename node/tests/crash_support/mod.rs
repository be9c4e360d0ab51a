//! Harness of the crash tests: a `vigia-node` process with its own keys, roster,
//! configuration and admin token, which a test kills with SIGKILL and starts again on the
//! same store, and the bounds of a kill loop.
//!
//! Keys come from a seed and ports from binding 127.0.0.1:0, so a failing run names the
//! same members on every run and everything stays on loopback.

// Each test binary compiles this module and uses a different part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

pub use vigia_node::testing::TestMember;
use vigia_node::testing::{free_port, signed_roster_file};
use vigia_node::tokens::{Role, TokenStore};
use vigia_protocol::body::{Availability, Contact};
use vigia_protocol::{Body, Roster};

/// Seed of every key and of the kill schedule.
pub const SEED: u64 = u64::from_be_bytes(*b"crash-9\0");

/// Iterations of a kill loop when `VIGIA_CRASH_ITERATIONS` is not set: what fits a CI run
/// of a debug build on two cores in well under a minute per loop.
pub const DEFAULT_ITERATIONS: u32 = 25;

/// Seconds a kill loop may take when `VIGIA_CRASH_SECONDS` is not set; the loop stops at
/// whichever bound it reaches first and reports how many iterations ran.
pub const DEFAULT_SECONDS: u64 = 120;

/// How long a test waits for a node's API to answer after starting it.
pub const START_PATIENCE: Duration = Duration::from_secs(30);

/// How many times a kill loop runs, and for how long at most.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// Iterations wanted.
    pub iterations: u32,
    /// Time allowed.
    pub time: Duration,
}

impl Budget {
    /// From `VIGIA_CRASH_ITERATIONS` and `VIGIA_CRASH_SECONDS`, or the defaults.
    pub fn from_env() -> Self {
        let number = |name: &str, default: u64| {
            std::env::var(name)
                .ok()
                .and_then(|text| text.trim().parse::<u64>().ok())
                .unwrap_or(default)
        };
        Self {
            iterations: u32::try_from(number(
                "VIGIA_CRASH_ITERATIONS",
                u64::from(DEFAULT_ITERATIONS),
            ))
            .unwrap_or(u32::MAX),
            time: Duration::from_secs(number("VIGIA_CRASH_SECONDS", DEFAULT_SECONDS)),
        }
    }

    /// Whether iteration `done + 1` may start.
    pub fn allows(&self, done: u32, started: Instant) -> bool {
        done < self.iterations && started.elapsed() < self.time
    }
}

/// A member with keys derived from [`SEED`] and a free port.
pub fn member(code: &str) -> TestMember {
    TestMember::seeded(code, &format!("Estado {code}"), SEED)
}

/// A roster every member signed, verified and as the TOML file nodes read.
pub fn roster(members: &[TestMember]) -> (Roster, String) {
    let file = signed_roster_file("vigia-crash-test", members);
    (file.verify().expect("roster verifies"), file.to_toml())
}

/// The files of a node run as a child process: keys, roster, configuration, token, log.
pub struct NodeFiles {
    /// Holds everything.
    pub dir: PathBuf,
    /// The configuration file.
    pub config: PathBuf,
    /// The API address.
    pub api: String,
    /// An admin token of its API.
    pub token: String,
    /// Where the process writes its log (appended across restarts).
    pub log: PathBuf,
}

impl NodeFiles {
    /// Writes the files of `member`'s node into `dir`.
    pub fn write(dir: &Path, member: &TestMember, roster_toml: &str) -> Self {
        std::fs::create_dir_all(dir.join("data")).expect("data directory");
        std::fs::write(dir.join("roster.toml"), roster_toml).expect("roster file");
        vigia_node::keys::write_secret(&dir.join("member.key"), &member.signing_key.to_bytes())
            .expect("member key");
        vigia_node::keys::write_secret(&dir.join("node.key"), &member.identity_secret)
            .expect("node key");
        let api = format!("127.0.0.1:{}", free_port());
        let config = dir.join("node.toml");
        let text = format!(
            "member = \"{}\"\nroster = \"roster.toml\"\nmember_key = \"member.key\"\n\
             node_key = \"node.key\"\ndata_dir = \"data\"\nsync_interval_secs = 2\n\
             log = \"info\"\n[api]\nlisten = \"{api}\"\n",
            member.code
        );
        std::fs::write(&config, text).expect("configuration");
        let tokens = TokenStore::new(dir.join("data").join(vigia_node::config::TOKENS_FILE));
        let (_, token) = tokens.create(Role::Admin, "crash-test").expect("token");
        Self {
            dir: dir.to_owned(),
            config,
            api,
            token,
            log: dir.join("node.log"),
        }
    }

    /// The store file.
    pub fn store_path(&self) -> PathBuf {
        self.dir.join("data").join("vigia.redb")
    }

    /// Starts `vigia-node run` on these files; it is killed if the handle is dropped.
    pub fn spawn(&self) -> tokio::process::Child {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("log file");
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_vigia-node"));
        command
            .arg("run")
            .arg("--config")
            .arg(&self.config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .kill_on_drop(true);
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("VIGIA_") {
                command.env_remove(key);
            }
        }
        command.spawn().expect("vigia-node starts")
    }

    /// The last lines of the log, for a failure message.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// `http://ADDRESS{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.api)
    }
}

/// The first `count` entries of `author`'s feed, each a contact, as wire bytes.
pub fn signed_feed(roster: &Roster, author: &TestMember, count: u64) -> Vec<Vec<u8>> {
    vigia_node::testing::signed_feed(roster, author, count, |seq| contact(&format!("c-{seq}")))
}

fn contact(id: &str) -> Body {
    Body::ContactPut(Contact {
        id: id.into(),
        given_names: "Inés".into(),
        family_names: "Gutiérrez Ñáñez".into(),
        institution_id: "policia".into(),
        role: "Oficial de enlace".into(),
        emails: vec![format!("{id}@enlace.example.org")],
        phones: vec!["+541143701234".into()],
        languages: vec!["es".into()],
        availability: Availability::AlwaysOn,
        notes: String::new(),
    })
}
