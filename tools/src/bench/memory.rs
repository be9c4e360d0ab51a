//! Memory of node processes: resident set size from `/proc/PID/status` (`VmRSS`), the
//! memory a node really holds, shared libraries included, and its two parts: anonymous
//! memory (`RssAnon`: heap, stacks, buffers; the node's own) and file-backed pages
//! (`RssFile`: the binary's code and data and shared libraries, which every node of the
//! same binary on one machine shares, so that N nodes hold them once, not N times).

use anyhow::{Context, Result};
use nix::unistd::Pid;
use serde::Serialize;

/// Bytes in a megabyte (10^6), the unit of the report and of the memory goal.
pub const MB: f64 = 1_000_000.0;

/// Resident memory of one process, in bytes.
#[derive(Debug, Clone, Copy, Default)]
pub struct Resident {
    /// All resident pages (`VmRSS`).
    pub total: u64,
    /// Anonymous pages (`RssAnon`): what this process alone holds.
    pub anon: u64,
    /// File-backed pages (`RssFile`): shared with other processes mapping the same files.
    pub file: u64,
}

/// Resident memory of `pid`.
pub fn resident(pid: Pid) -> Result<Resident> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
    let field = |name: &str| {
        kib_field(&status, name)
            .map(|kib| kib * 1024)
            .with_context(|| format!("{path} has no {name} line"))
    };
    Ok(Resident {
        total: field("VmRSS:")?,
        anon: field("RssAnon:")?,
        file: field("RssFile:")?,
    })
}

/// Resident set size of `pid`, in bytes.
pub fn rss_bytes(pid: Pid) -> Result<u64> {
    Ok(resident(pid)?.total)
}

/// The value of a `Name:   123 kB` line of a `/proc` file, in KiB.
fn kib_field(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix(name))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
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
    let kib =
        kib_field(&info, field).with_context(|| format!("/proc/meminfo has no {field} line"))?;
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
    /// Median node's anonymous memory (heap, stacks, buffers).
    pub anon_median_mb: f64,
    /// Median node's file-backed memory (binary and libraries, shared between nodes).
    pub file_median_mb: f64,
}

impl RssFigures {
    /// Summarises the resident memory of several processes.
    pub fn of(processes: &[Resident]) -> Self {
        if processes.is_empty() {
            return Self::default();
        }
        let total = sorted_mb(processes.iter().map(|p| p.total));
        Self {
            nodes: total.len(),
            min_mb: total[0],
            median_mb: median(&total),
            max_mb: total[total.len() - 1],
            total_mb: total.iter().sum(),
            anon_median_mb: median(&sorted_mb(processes.iter().map(|p| p.anon))),
            file_median_mb: median(&sorted_mb(processes.iter().map(|p| p.file))),
        }
    }
}

fn sorted_mb(bytes: impl Iterator<Item = u64>) -> Vec<f64> {
    let mut mb: Vec<f64> = bytes.map(|b| b as f64 / MB).collect();
    mb.sort_by(f64::total_cmp);
    mb
}

/// The middle value (the lower of the two middle ones) of a sorted, non-empty slice.
fn median(sorted: &[f64]) -> f64 {
    sorted[(sorted.len() - 1) / 2]
}
