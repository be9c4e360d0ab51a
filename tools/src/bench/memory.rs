//! Memory of node processes: resident set size from `/proc/PID/status` (`VmRSS`), the
//! memory a node really holds, shared libraries included.

use anyhow::{Context, Result};
use nix::unistd::Pid;
use serde::Serialize;

/// Bytes in a megabyte (10^6), the unit of the report and of the memory goal.
pub const MB: f64 = 1_000_000.0;

/// Resident set size of `pid`, in bytes.
pub fn rss_bytes(pid: Pid) -> Result<u64> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
    let kib = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .with_context(|| format!("{path} has no VmRSS line"))?;
    Ok(kib * 1024)
}

/// Memory available for new processes (`MemAvailable` of `/proc/meminfo`), in bytes.
pub fn available_bytes() -> Result<u64> {
    meminfo("MemAvailable:")
}

/// The machine's memory (`MemTotal` of `/proc/meminfo`), in bytes.
pub fn total_bytes() -> Result<u64> {
    meminfo("MemTotal:")
}

fn meminfo(field: &str) -> Result<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").context("cannot read /proc/meminfo")?;
    let kib = info
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .with_context(|| format!("/proc/meminfo has no {field} line"))?;
    Ok(kib * 1024)
}

/// Resident memory of a set of nodes, in MB.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct RssFigures {
    /// Nodes measured.
    pub nodes: usize,
    /// Smallest node.
    pub min_mb: f64,
    /// Median node.
    pub median_mb: f64,
    /// Largest node.
    pub max_mb: f64,
    /// All nodes together.
    pub total_mb: f64,
}

impl RssFigures {
    /// Summarises per-node resident sizes in bytes.
    pub fn of(bytes: &[u64]) -> Self {
        let mut mb: Vec<f64> = bytes.iter().map(|b| *b as f64 / MB).collect();
        if mb.is_empty() {
            return Self::default();
        }
        mb.sort_by(f64::total_cmp);
        Self {
            nodes: mb.len(),
            min_mb: mb[0],
            median_mb: mb[(mb.len() - 1) / 2],
            max_mb: mb[mb.len() - 1],
            total_mb: mb.iter().sum(),
        }
    }
}
