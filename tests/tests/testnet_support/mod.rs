//! What the end-to-end tests of real node processes share: the built `vigia` binary, a port
//! range of their own, the testnet directory read as any outside tool reads it (manifest,
//! tokens, each member's API), and [`Testnet`], whose drop always takes the network down.
//!
//! These tests treat `vigia testnet` as a tester does: they run the binary and talk HTTP to
//! the nodes, and read no type of `vigia-tools`, so the testnet's file formats and command
//! line are what they check.

// Each test binary compiles this module and uses a different part of it.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::thread::sleep;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde::Deserialize;
use serde_json::{Value, json};

/// First libp2p port of the test ranges. It lies below Linux's ephemeral ports (32768 and
/// up), so that no outgoing connection, and no in-process test's OS-assigned port, can take
/// a port between the probe and the node's start.
const PORT_SEARCH_START: u16 = 24_000;
/// Ports per range, so also the most members a test may run.
const PORTS_PER_RANGE: u16 = 10;
/// Ranges to choose from. Together they stay under the 500 ports that separate a member's
/// libp2p port from its API port, so no test's API ports meet another's libp2p ports.
const PORT_RANGES: u16 = 40;
/// Offset of API ports from libp2p ports, as `vigia testnet init` assigns them.
const API_PORT_OFFSET: u16 = 500;
/// How long one API request may take before the test calls the node unresponsive.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause between polls of the nodes.
const POLL: Duration = Duration::from_millis(100);
/// Lines of each node's log shown when a test fails.
const LOG_TAIL_LINES: usize = 25;

/// The `vigia` binary of this build. Integration tests of another package have no
/// `CARGO_BIN_EXE_vigia`, so it is found beside this test binary's own directory:
/// `target/<profile>/deps/<test>` → `target/<profile>/vigia`. Cargo builds it for the
/// workspace's tests because `vigia-tools` has integration tests of its own; a run of this
/// package alone (`-p vigia-tests`) may find a stale one.
pub fn vigia_binary() -> PathBuf {
    let test_binary = std::env::current_exe().expect("the test binary's own path");
    let profile_dir = test_binary
        .parent()
        .and_then(Path::parent)
        .expect("the test binary lies in target/<profile>/deps");
    let binary = profile_dir.join("vigia");
    assert!(
        binary.is_file(),
        "no vigia binary at {}: run with `cargo nextest run --workspace` so it is built",
        binary.display()
    );
    binary
}

/// A libp2p port range nobody else uses, held until the returned lock file is dropped.
///
/// The search starts at a range derived from the test's name, so tests running at the same
/// time rarely probe the same range; the lock makes sure two of them never share one, and the
/// probe that nothing else on the machine holds its ports. The lock files stay behind (empty,
/// at most [`PORT_RANGES`]): removing one that another test holds would let a third test lock
/// a new file of the same name.
fn reserve_ports(test: &str, members: u16) -> (u16, File) {
    assert!(
        members <= PORTS_PER_RANGE,
        "at most {PORTS_PER_RANGE} members"
    );
    let first = name_hash(test) % u64::from(PORT_RANGES);
    let first = u16::try_from(first).expect("fewer than 2^16 ranges");
    for attempt in 0..PORT_RANGES {
        let range = (first + attempt) % PORT_RANGES;
        let base = PORT_SEARCH_START + range * PORTS_PER_RANGE;
        let lock_path = std::env::temp_dir().join(format!("vigia-e2e-ports-{base}.lock"));
        let lock = File::create(&lock_path).expect("create a port lock file");
        if lock.try_lock().is_ok() && ports_free(base, members) {
            return (base, lock);
        }
    }
    panic!("no free port range from {PORT_SEARCH_START} on 127.0.0.1");
}

/// FNV-1a: stable across runs and Rust versions, unlike the standard library's hasher.
fn name_hash(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn ports_free(base: u16, members: u16) -> bool {
    (base..base + members).all(|port| {
        TcpListener::bind(("127.0.0.1", port)).is_ok()
            && UdpSocket::bind(("127.0.0.1", port)).is_ok()
            && TcpListener::bind(("127.0.0.1", port + API_PORT_OFFSET)).is_ok()
    })
}

/// `testnet.toml`, the parts these tests read.
#[derive(Debug, Deserialize)]
struct Manifest {
    members: Vec<ManifestMember>,
}

#[derive(Debug, Deserialize)]
struct ManifestMember {
    code: String,
    #[serde(default = "loopback")]
    address: String,
    api_port: u16,
}

fn loopback() -> String {
    "127.0.0.1".into()
}

/// `CODE/tokens.toml`.
#[derive(Debug, Deserialize)]
struct Tokens {
    admin: String,
}

/// One member as a client of its node sees it.
#[derive(Debug, Clone)]
pub struct Member {
    /// ISO code.
    pub code: String,
    /// Base address of its node's API.
    pub api: String,
    /// Its admin token.
    pub token: String,
}

/// A member's head: sequence number and hash of its feed's latest entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// Sequence number.
    pub seq: u64,
    /// SHA-256 of the entry, hex.
    pub hash: String,
}

/// A testnet in a temporary directory, driven through the `vigia` binary. Dropping it runs
/// `vigia testnet down`, kills any node process that outlived it, and, when the test is
/// failing, prints the end of every node's log.
pub struct Testnet {
    binary: PathBuf,
    members: Vec<Member>,
    http: reqwest::blocking::Client,
    // Dropped after `Drop::drop` has stopped the nodes, in this order: the directory goes
    // only once nothing writes to it, the ports only once nothing listens on them.
    dir: tempfile::TempDir,
    _ports: File,
}

impl Testnet {
    /// `vigia testnet init --members N` in a fresh directory with a port range of this test's
    /// own, plus `extra` arguments. Nothing runs yet.
    pub fn init(test: &str, members: u16, extra: &[&str]) -> Self {
        let binary = vigia_binary();
        let (base_port, ports) = reserve_ports(test, members);
        let dir = tempfile::Builder::new()
            .prefix("vigia-e2e-")
            .tempdir()
            .expect("temporary directory");
        let dir_arg = dir
            .path()
            .to_str()
            .expect("UTF-8 temporary path")
            .to_owned();
        let count = members.to_string();
        let base = base_port.to_string();
        let mut args = vec!["testnet", "init", "--dir", &dir_arg, "--members", &count];
        args.extend(["--base-port", &base]);
        args.extend(extra);
        let output = run(&binary, &args);
        assert!(
            output.status.success(),
            "init failed: {}",
            describe(&output)
        );
        let http = reqwest::blocking::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .expect("HTTP client");
        let members = read_members(dir.path());
        Self {
            binary,
            members,
            http,
            dir,
            _ports: ports,
        }
    }

    /// The testnet directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The members, in manifest order.
    pub fn members(&self) -> &[Member] {
        &self.members
    }

    /// The codes of the members, in manifest order.
    pub fn codes(&self) -> Vec<String> {
        self.members.iter().map(|m| m.code.clone()).collect()
    }

    /// The `vigia` binary the testnet runs.
    pub fn binary(&self) -> &Path {
        &self.binary
    }

    /// `vigia testnet COMMAND --dir DIR ARGS…`, whatever its outcome.
    pub fn testnet(&self, command: &str, args: &[&str]) -> Output {
        let dir = self.dir_arg();
        let mut all = vec!["testnet", command, "--dir", &dir];
        all.extend(args);
        run(&self.binary, &all)
    }

    /// Like [`Testnet::testnet`], failing the test unless the command succeeds; returns its
    /// standard output.
    pub fn succeed(&self, command: &str, args: &[&str]) -> String {
        let output = self.testnet(command, args);
        assert!(
            output.status.success(),
            "`vigia testnet {command} {args:?}` failed: {}",
            describe(&output)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// `vigia testnet verify`, which must succeed within `timeout_secs`.
    pub fn verify(&self, timeout_secs: u64) -> String {
        self.succeed("verify", &["--timeout", &timeout_secs.to_string()])
    }

    fn dir_arg(&self) -> String {
        self.dir()
            .to_str()
            .expect("UTF-8 temporary path")
            .to_owned()
    }

    /// The member with `code`.
    pub fn member(&self, code: &str) -> &Member {
        self.members
            .iter()
            .find(|member| member.code == code)
            .unwrap_or_else(|| panic!("{code} is not a member of this testnet"))
    }

    /// A member's store file.
    pub fn store(&self, code: &str) -> PathBuf {
        self.dir().join(code).join("data").join("vigia.redb")
    }

    /// GET `path` from `code`'s node as its admin; fails the test unless it answers 2xx.
    pub fn get(&self, code: &str, path: &str) -> Value {
        let member = self.member(code);
        let response = self
            .http
            .get(format!("{}{path}", member.api))
            .bearer_auth(&member.token)
            .send()
            .unwrap_or_else(|err| panic!("{code} does not answer GET {path}: {err}"));
        let status = response.status();
        let body: Value = response.json().unwrap_or(Value::Null);
        assert!(status.is_success(), "{code} GET {path}: {status} {body}");
        body
    }

    /// PUT `body` to `path` on `code`'s node as its admin; fails the test unless it answers
    /// 2xx.
    pub fn put(&self, code: &str, path: &str, body: &Value) -> Value {
        let member = self.member(code);
        let response = self
            .http
            .put(format!("{}{path}", member.api))
            .bearer_auth(&member.token)
            .json(body)
            .send()
            .unwrap_or_else(|err| panic!("{code} does not answer PUT {path}: {err}"));
        let status = response.status();
        let answer: Value = response.json().unwrap_or(Value::Null);
        assert!(status.is_success(), "{code} PUT {path}: {status} {answer}");
        answer
    }

    /// Issues a network-wide alert through `code`'s node; returns the node's answer.
    pub fn issue_alert(&self, code: &str, id: &str, title: &str) -> Value {
        let member = self.member(code);
        let request = json!({
            "id": id, "title": title,
            "severity": "severe", "urgency": "immediate", "certainty": "likely",
            "tlp": "amber", "recipients": "network", "expires_in_minutes": 60
        });
        let response = self
            .http
            .post(format!("{}/v1/alerts", member.api))
            .bearer_auth(&member.token)
            .json(&request)
            .send()
            .unwrap_or_else(|err| panic!("{code} does not answer POST /v1/alerts: {err}"));
        let status = response.status();
        let body: Value = response.json().unwrap_or(Value::Null);
        assert_eq!(
            status.as_u16(),
            201,
            "{code} did not issue alert {id}: {body}"
        );
        body
    }

    /// The ids of the alerts `code`'s node holds.
    pub fn alert_ids(&self, code: &str) -> Vec<String> {
        let page = self.get(code, "/v1/alerts?per_page=100");
        page["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|alert| alert["id"].as_str().map(str::to_owned))
            .collect()
    }

    /// Whether `code`'s node holds the alert `id`; false also when it does not answer.
    pub fn holds_alert(&self, code: &str, id: &str) -> bool {
        let member = self.member(code);
        let answer = self
            .http
            .get(format!("{}/v1/alerts?per_page=100", member.api))
            .bearer_auth(&member.token)
            .send()
            .and_then(|response| response.error_for_status())
            .and_then(|response| response.json::<Value>());
        answer.is_ok_and(|page| {
            page["items"]
                .as_array()
                .is_some_and(|items| items.iter().any(|alert| alert["id"] == id))
        })
    }

    /// The heads `code`'s node holds, by feed.
    pub fn heads(&self, code: &str) -> BTreeMap<String, Head> {
        let answer = self.get(code, "/v1/heads");
        answer["heads"]
            .as_object()
            .expect("heads is an object")
            .iter()
            .map(|(feed, head)| {
                let head = Head {
                    seq: head["seq"].as_u64().expect("seq"),
                    hash: head["hash"].as_str().expect("hash").to_owned(),
                };
                (feed.clone(), head)
            })
            .collect()
    }

    /// The other members `code`'s node is connected to now; empty also when it does not
    /// answer.
    pub fn reachable(&self, code: &str) -> BTreeSet<String> {
        let member = self.member(code);
        let answer = self
            .http
            .get(format!("{}/v1/network", member.api))
            .bearer_auth(&member.token)
            .send()
            .and_then(|response| response.error_for_status())
            .and_then(|response| response.json::<Value>());
        let Ok(network) = answer else {
            return BTreeSet::new();
        };
        network["members"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|other| other["reachable"] == true && other["self"] != true)
            .filter_map(|other| other["member"].as_str().map(str::to_owned))
            .collect()
    }

    /// Sequence numbers at which any feed forked, as `code`'s node reports them, by feed.
    pub fn forks(&self, code: &str) -> BTreeMap<String, Vec<u64>> {
        let network = self.get(code, "/v1/network");
        network["members"]
            .as_array()
            .expect("members is a list")
            .iter()
            .filter_map(|member| {
                let forks: Vec<u64> = member["forks"]
                    .as_array()?
                    .iter()
                    .filter_map(Value::as_u64)
                    .collect();
                let feed = member["member"].as_str()?.to_owned();
                (!forks.is_empty()).then_some((feed, forks))
            })
            .collect()
    }

    /// Ends every process that still runs with this testnet's directory in its command line.
    fn kill_stragglers(&self) {
        let dir = fs::canonicalize(self.dir()).unwrap_or_else(|_| self.dir().to_path_buf());
        for pid in processes_naming(&dir) {
            eprintln!("killing node process {pid}, still running after `testnet down`");
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }

    /// Prints the end of every node's log, for a failing test.
    fn print_log_tails(&self) {
        for member in &self.members {
            let log = self.dir().join(&member.code).join("node.log");
            let text = fs::read_to_string(&log).unwrap_or_default();
            // One line per loaded directory entry would hide everything else.
            let lines: Vec<&str> = text
                .lines()
                .filter(|line| !line.contains("entry published through the api"))
                .collect();
            let tail = &lines[lines.len().saturating_sub(LOG_TAIL_LINES)..];
            eprintln!("---- {} ({})", member.code, log.display());
            for line in tail {
                eprintln!("{line}");
            }
        }
    }
}

impl Drop for Testnet {
    fn drop(&mut self) {
        let down = self.testnet("down", &[]);
        if !down.status.success() {
            eprintln!("`vigia testnet down` failed: {}", describe(&down));
        }
        self.kill_stragglers();
        if std::thread::panicking() {
            self.print_log_tails();
        }
    }
}

/// Runs the `vigia` binary with `args`, in the environment of an operator who also runs a
/// real node: a testnet node must take none of these settings (a zero sync interval is
/// refused, so a node that read it would not start).
pub fn run(binary: &Path, args: &[&str]) -> Output {
    Command::new(binary)
        .args(args)
        .env("VIGIA_SYNC_INTERVAL_SECS", "0")
        .env("VIGIA_DATA_DIR", "/nonexistent/vigia-data")
        .output()
        .unwrap_or_else(|err| panic!("cannot run {}: {err}", binary.display()))
}

/// Exit status, standard output and standard error of a command, for failure messages.
pub fn describe(output: &Output) -> String {
    format!(
        "{}\n--- stdout\n{}--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn read_members(dir: &Path) -> Vec<Member> {
    let text = fs::read_to_string(dir.join("testnet.toml")).expect("init wrote testnet.toml");
    let manifest: Manifest = toml::from_str(&text).expect("testnet.toml parses");
    manifest
        .members
        .into_iter()
        .map(|member| {
            let tokens = dir.join(&member.code).join("tokens.toml");
            let tokens = fs::read_to_string(&tokens).expect("init wrote tokens.toml");
            let tokens: Tokens = toml::from_str(&tokens).expect("tokens.toml parses");
            Member {
                api: format!("http://{}:{}", member.address, member.api_port),
                code: member.code,
                token: tokens.admin,
            }
        })
        .collect()
}

/// Processes whose command line has an argument under `dir`.
fn processes_naming(dir: &Path) -> Vec<i32> {
    let dir = dir.to_string_lossy().into_owned();
    let inside = format!("{dir}/");
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            cmdline
                .split(|byte| *byte == 0)
                .map(String::from_utf8_lossy)
                .any(|arg| arg == dir || arg.starts_with(&inside))
        })
        .collect()
}

/// Polls `check` until it holds; fails the test, naming `what`, after `timeout`. Returns how
/// long it took.
pub fn wait_until(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    while !check() {
        assert!(
            started.elapsed() < timeout,
            "timed out after {timeout:?} waiting until {what}"
        );
        sleep(POLL);
    }
    started.elapsed()
}
