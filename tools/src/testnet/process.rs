//! Starting and stopping a testnet's node processes.
//!
//! Each node runs as `vigia node run --config DIR/CODE/node.toml`: this same executable,
//! whose `node` command is the `vigia-node` daemon's own command line, so a testnet never
//! runs a stale daemon left over from another build. Nodes get their own process group, so a
//! Ctrl-C in the terminal reaches only `vigia`, which then stops them in order.
//!
//! A process id is trusted only while `/proc/PID/cmdline` still names the member's
//! configuration, so a recycled pid is never signalled.

use std::fs::{self, OpenOptions};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use vigia_protocol::MemberCode;

use super::layout::Layout;

/// How long a started process may take to become the node.
const EXEC_WAIT: Duration = Duration::from_secs(5);
/// How long a node gets to stop after SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// The running node of `code`, if any.
pub fn running_pid(layout: &Layout, code: MemberCode) -> Option<Pid> {
    let text = fs::read_to_string(layout.pid(code)).ok()?;
    let pid: i32 = text.trim().parse().ok()?;
    let cmdline = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let config = config_argument(layout, code);
    let config = config.to_string_lossy();
    let ours = cmdline
        .split(|byte| *byte == 0)
        .any(|arg| arg == config.as_bytes());
    ours.then_some(Pid::from_raw(pid))
}

/// The configuration path a node of `code` is started with: canonical, so that a command
/// given the testnet directory under another spelling (relative, from another directory,
/// through a symbolic link) still recognises the node.
pub fn config_argument(layout: &Layout, code: MemberCode) -> PathBuf {
    let config = layout.config(code);
    fs::canonicalize(&config).unwrap_or(config)
}

/// Starts `code`'s node unless it runs already; returns whether it was started.
pub fn start(layout: &Layout, code: MemberCode) -> Result<bool> {
    if running_pid(layout, code).is_some() {
        return Ok(false);
    }
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(layout.log(code))
        .with_context(|| format!("cannot open {}", layout.log(code).display()))?;
    let executable = std::env::current_exe().context("cannot find the vigia executable")?;
    let mut command = Command::new(executable);
    // A testnet node takes its settings from its own file only: `VIGIA_` variables the
    // operator exported for a real node or for the client must not reach it.
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("VIGIA_") {
            command.env_remove(key);
        }
    }
    let child = command
        .args(["node", "run", "--config"])
        .arg(config_argument(layout, code))
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .env("VIGIA_LOG_FORMAT", "text")
        .process_group(0)
        .spawn()
        .with_context(|| format!("cannot start the node of {code}"))?;
    fs::write(layout.pid(code), format!("{}\n", child.id()))
        .with_context(|| format!("cannot write {}", layout.pid(code).display()))?;
    // Until the child has exec'd, /proc shows our own command line; wait so that every
    // later check recognises it.
    let started = Instant::now();
    while running_pid(layout, code).is_none() {
        if started.elapsed() > EXEC_WAIT {
            bail!(
                "the node of {code} did not start; see {}",
                layout.log(code).display()
            );
        }
        sleep(Duration::from_millis(5));
    }
    Ok(true)
}

/// Kills `code`'s node at once, as a crash would; returns whether one was running.
pub fn kill_now(layout: &Layout, code: MemberCode) -> Result<bool> {
    let Some(pid) = running_pid(layout, code) else {
        return Ok(false);
    };
    kill(pid, Signal::SIGKILL).with_context(|| format!("cannot kill the node of {code}"))?;
    wait_gone(pid, STOP_GRACE);
    let _ = fs::remove_file(layout.pid(code));
    Ok(true)
}

/// Stops `code`'s node cleanly (SIGTERM), killing it if it does not stop in time.
pub fn stop(layout: &Layout, code: MemberCode) -> Result<bool> {
    let Some(pid) = running_pid(layout, code) else {
        return Ok(false);
    };
    kill(pid, Signal::SIGTERM).with_context(|| format!("cannot stop the node of {code}"))?;
    if !wait_gone(pid, STOP_GRACE) {
        kill(pid, Signal::SIGKILL).with_context(|| format!("cannot kill the node of {code}"))?;
        wait_gone(pid, STOP_GRACE);
    }
    let _ = fs::remove_file(layout.pid(code));
    Ok(true)
}

/// Stops every node: SIGTERM to all first, so they stop in parallel.
pub fn stop_all(layout: &Layout, codes: &[MemberCode]) -> Result<usize> {
    let running: Vec<(MemberCode, Pid)> = codes
        .iter()
        .filter_map(|code| running_pid(layout, *code).map(|pid| (*code, pid)))
        .collect();
    for (_, pid) in &running {
        let _ = kill(*pid, Signal::SIGTERM);
    }
    let deadline = Instant::now() + STOP_GRACE;
    for (code, pid) in &running {
        let left = deadline.saturating_duration_since(Instant::now());
        if !wait_gone(*pid, left) {
            let _ = kill(*pid, Signal::SIGKILL);
            wait_gone(*pid, STOP_GRACE);
        }
        let _ = fs::remove_file(layout.pid(*code));
    }
    Ok(running.len())
}

/// Waits until `pid` has exited (and been reaped, if it is our child); false on timeout.
fn wait_gone(pid: Pid, timeout: Duration) -> bool {
    let start = Instant::now();
    loop {
        reap(pid);
        if kill(pid, None).is_err() || is_zombie(pid) {
            return true;
        }
        if start.elapsed() >= timeout {
            return false;
        }
        sleep(Duration::from_millis(20));
    }
}

/// Collects the exit status of a child of this process, so it does not linger as a zombie
/// (which would still answer signals).
fn reap(pid: Pid) {
    use nix::sys::wait::{WaitPidFlag, waitpid};
    let _ = waitpid(pid, Some(WaitPidFlag::WNOHANG));
}

/// Whether `pid` has exited but is not yet reaped. A node outlives the `vigia` that started
/// it, so its parent is init, which may reap late (every 2 s on some virtual machines) or
/// never (a container whose first process does not reap). An exited node has closed its
/// sockets and files, so it counts as gone.
fn is_zombie(pid: Pid) -> bool {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // The state follows the command name, which is in parentheses and may hold anything.
    stat.rsplit_once(')')
        .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
}

/// Fails unless `code`'s node runs.
pub fn require_running(layout: &Layout, code: MemberCode) -> Result<Pid> {
    match running_pid(layout, code) {
        Some(pid) => Ok(pid),
        None => bail!(
            "the node of {code} is not running; `vigia testnet start --dir {} {code}`",
            layout.root().display()
        ),
    }
}
