//! `vigia bench`: how close Vigía is to what this machine allows, measured.
//!
//! Every figure is printed next to its floor or ceiling measured in the same run, so a
//! ratio holds even on a busy machine. Who measures what:
//! - [`floor`]: one loopback TCP round trip; with one signature check from [`ingest`], the
//!   floor of alert propagation;
//! - [`ingest`]: the ledger's entries per second beside raw ed25519 and redb rates;
//! - [`propagation`]: alert propagation on real node processes, and gossip duplicates;
//! - [`catchup`]: a member down while the others write, then its catch-up;
//! - [`search`]: directory search over the API beside an HTTP round trip;
//! - [`memory`]: resident memory of node processes; [`cpu`]: their CPU time;
//! - [`scale`]: the largest network that converges;
//! - [`cluster`] runs node processes on loopback; [`events`] reads their event streams;
//!   [`report`] renders the table.
//!
//! The whole result also goes to `--json FILE`. `--quick` shrinks every count so that the
//! run takes seconds; the smoke test uses it so that the benchmark never rots.

pub mod catchup;
pub mod cluster;
pub mod cpu;
pub mod events;
pub mod floor;
pub mod ingest;
pub mod memory;
pub mod propagation;
pub mod report;
pub mod scale;
pub mod search;
pub mod stats;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use serde::Serialize;

use self::catchup::CatchUpFigures;
use self::cluster::Cluster;
use self::ingest::IngestFigures;
use self::memory::RssFigures;
use self::propagation::PropagationFigures;
use self::scale::ScaleFigures;
use self::search::SearchFigures;
use self::stats::Summary;

/// First port of benchmark networks: node i listens on BASE+i and serves its API on
/// BASE+500+i. Above Linux's default ephemeral range (32768–60999), so no outgoing
/// connection of this machine can hold a node's port, and away from the ranges `vigia
/// testnet` picks by itself (21000–31999).
pub const DEFAULT_BASE_PORT: u16 = 61_000;
/// Largest network of OAS members (`vigia testnet` has 35 states); larger ones are the
/// scale test's.
const MAX_OAS_NODES: usize = 35;
/// Longest wait for a network's directories to finish replicating before it is measured.
const SETTLE_DEADLINE: Duration = Duration::from_secs(300);

/// Arguments of `vigia bench`.
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// A run of seconds with tiny networks and counts (the smoke test's).
    #[arg(long)]
    pub quick: bool,
    /// Also write every figure as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Network sizes for propagation, duplicates and memory (at most 35, OAS members).
    #[arg(long, value_delimiter = ',')]
    pub nodes: Vec<usize>,
    /// Alerts issued on each network [default: 200; quick: 10].
    #[arg(long)]
    pub alerts: Option<usize>,
    /// Entries written while one member is down, on the largest network [default: 10000].
    #[arg(long)]
    pub catch_up_entries: Option<usize>,
    /// Entries of the ingest benchmark [default: 20000].
    #[arg(long)]
    pub ingest_entries: Option<usize>,
    /// Contacts of the searched directory [default: 100000].
    #[arg(long)]
    pub contacts: Option<usize>,
    /// Searches timed [default: 2000].
    #[arg(long)]
    pub searches: Option<usize>,
    /// Network sizes the scale test tries in turn [default: 50,100,150,200].
    #[arg(long, value_delimiter = ',')]
    pub scale: Vec<usize>,
    /// Only these parts (default: all).
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<Part>,
    /// Keep the networks' files (logs, stores) here instead of a temporary directory.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// First port of the benchmark networks.
    #[arg(long, default_value_t = DEFAULT_BASE_PORT)]
    pub base_port: u16,
}

/// A part of the benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Part {
    /// Ledger and raw verification and storage rates.
    Ingest,
    /// Alert propagation, duplicates and memory on each network size.
    Propagation,
    /// Catch-up after downtime, on the largest network.
    CatchUp,
    /// Directory search.
    Search,
    /// The largest network that converges.
    Scale,
}

/// Counts of one run, after defaults.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// Whether this is a quick run.
    pub quick: bool,
    /// Network sizes.
    pub nodes: Vec<usize>,
    /// Alerts per network.
    pub alerts: usize,
    /// Entries written during downtime.
    pub catch_up_entries: usize,
    /// Ingest entries.
    pub ingest_entries: usize,
    /// Directory size.
    pub contacts: usize,
    /// Searches.
    pub searches: usize,
    /// Scale ladder.
    pub scale: Vec<usize>,
    /// Loopback round trips timed.
    pub round_trips: usize,
    /// Parts run.
    pub parts: Vec<Part>,
}

impl Plan {
    fn of(args: &BenchArgs) -> Result<Self> {
        let quick = args.quick;
        let pick = |given: Option<usize>, full: usize, small: usize| {
            given.unwrap_or(if quick { small } else { full })
        };
        let or = |given: &Vec<usize>, full: &[usize], small: &[usize]| {
            if !given.is_empty() {
                given.clone()
            } else if quick {
                small.to_vec()
            } else {
                full.to_vec()
            }
        };
        let nodes = or(&args.nodes, &[5, MAX_OAS_NODES], &[3]);
        if let Some(wrong) = nodes.iter().find(|n| !(2..=MAX_OAS_NODES).contains(*n)) {
            bail!("--nodes takes 2 to {MAX_OAS_NODES} (the OAS members), not {wrong}; see --scale");
        }
        let parts = if args.only.is_empty() {
            vec![
                Part::Ingest,
                Part::Propagation,
                Part::CatchUp,
                Part::Search,
                Part::Scale,
            ]
        } else {
            args.only.clone()
        };
        Ok(Self {
            quick,
            nodes,
            alerts: pick(args.alerts, 200, 10),
            catch_up_entries: pick(args.catch_up_entries, 10_000, 100),
            ingest_entries: pick(args.ingest_entries, 20_000, 2_000),
            contacts: pick(args.contacts, 100_000, 2_000),
            searches: pick(args.searches, 2_000, 100),
            scale: or(&args.scale, &[50, 100, 150, 200], &[4]),
            round_trips: if quick { 1_000 } else { 10_000 },
            parts,
        })
    }

    fn runs(&self, part: Part) -> bool {
        self.parts.contains(&part)
    }
}

/// The machine the run was on.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// CPU model, from `/proc/cpuinfo`.
    pub cpu: String,
    /// Logical CPUs available.
    pub cpus: usize,
    /// Memory, in GB.
    pub memory_gb: f64,
    /// Kernel release.
    pub kernel: String,
    /// One-minute load average when the run started.
    pub load_before: f64,
    /// One-minute load average when it ended.
    pub load_after: f64,
}

/// The floors every latency is set against.
#[derive(Debug, Clone, Serialize)]
pub struct Floors {
    /// One loopback TCP round trip.
    pub loopback: Summary,
    /// One strict ed25519 verification of an entry, in ms.
    pub verify_ms: f64,
}

/// What one network size measured.
#[derive(Debug, Clone, Serialize)]
pub struct NetworkFigures {
    /// Nodes.
    pub nodes: usize,
    /// Alert propagation and duplicates.
    pub propagation: PropagationFigures,
    /// Resident memory with directories loaded, before the alerts.
    pub idle: RssFigures,
    /// Resident memory after the alerts (and, on the largest network, the catch-up).
    pub loaded: RssFigures,
}

/// Everything one run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The command line of the run.
    pub command: String,
    /// Seconds since the Unix epoch when the run started.
    pub started_at: u64,
    /// Seconds the run took.
    pub seconds: f64,
    /// The machine.
    pub machine: Machine,
    /// Counts used.
    pub plan: Plan,
    /// Floors.
    pub floors: Floors,
    /// Ingest rates.
    pub ingest: Option<IngestFigures>,
    /// One entry per network size.
    pub networks: Vec<NetworkFigures>,
    /// Catch-up on the largest network.
    pub catch_up: Option<CatchUpFigures>,
    /// Directory search.
    pub search: Option<SearchFigures>,
    /// Scale ladder.
    pub scale: Option<ScaleFigures>,
    /// Parts that failed, with why.
    pub failures: Vec<String>,
}

/// Runs the benchmark, prints the table to `out` and progress to standard error.
pub fn run(args: &BenchArgs, out: &mut dyn Write) -> Result<()> {
    let plan = Plan::of(args)?;
    let started = Instant::now();
    let temporary = match &args.dir {
        Some(_) => None,
        None => Some(tempfile::tempdir().context("cannot create a temporary directory")?),
    };
    let work = match (&args.dir, &temporary) {
        (Some(dir), _) => dir.clone(),
        (None, Some(temporary)) => temporary.path().to_path_buf(),
        (None, None) => bail!("no working directory"),
    };
    std::fs::create_dir_all(&work).with_context(|| format!("cannot create {}", work.display()))?;
    let mut progress = std::io::stderr();
    let report = measure(&plan, &work, args.base_port, &mut progress, started)?;
    let table = report::markdown(&report);
    out.write_all(table.as_bytes())?;
    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(&report).context("cannot encode the report")?;
        std::fs::write(path, json).with_context(|| format!("cannot write {}", path.display()))?;
    }
    if !report.failures.is_empty() {
        bail!(
            "{} part(s) failed: {}",
            report.failures.len(),
            report.failures.join("; ")
        );
    }
    Ok(())
}

fn measure(
    plan: &Plan,
    work: &Path,
    base_port: u16,
    progress: &mut dyn Write,
    started: Instant,
) -> Result<Report> {
    let started_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    let load_before = load_average();
    writeln!(progress, "bench: floors")?;
    let loopback = floor::loopback_round_trip(plan.round_trips)?;
    let mut failures = Vec::new();
    let ingest = if plan.runs(Part::Ingest) {
        writeln!(progress, "bench: ingest of {} entries", plan.ingest_entries)?;
        keep(ingest::run(plan.ingest_entries), "ingest", &mut failures)
    } else {
        None
    };
    let verify_per_sec = match &ingest {
        Some(figures) => figures.verify_single_per_sec,
        None => ingest::verify_rate(plan.round_trips)?,
    };
    let mut networks = Vec::new();
    let mut catch_up = None;
    if plan.runs(Part::Propagation) || plan.runs(Part::CatchUp) {
        let largest = plan.nodes.iter().copied().max().unwrap_or(0);
        for &nodes in &plan.nodes {
            let with_catch_up = plan.runs(Part::CatchUp) && nodes == largest;
            if !plan.runs(Part::Propagation) && !with_catch_up {
                continue;
            }
            let dir = work.join(format!("network-{nodes}"));
            let measured = network(plan, &dir, nodes, base_port, with_catch_up, progress);
            if let Some((figures, caught_up)) =
                keep(measured, &format!("network of {nodes}"), &mut failures)
            {
                networks.push(figures);
                if let Some(caught_up) = caught_up {
                    catch_up = keep(caught_up, "catch-up", &mut failures);
                }
            }
        }
    }
    let search = if plan.runs(Part::Search) {
        writeln!(progress, "bench: search over {} contacts", plan.contacts)?;
        let measured =
            Cluster::oas_codes(&work.join("search"), &[search::MEMBER], base_port, progress)
                .and_then(|cluster| search::run(&cluster, plan.contacts, plan.searches, progress));
        keep(measured, "search", &mut failures)
    } else {
        None
    };
    let scale = if plan.runs(Part::Scale) {
        // Scale nodes hold one alert each: the idle size is theirs, not the loaded one.
        let node_bytes = networks
            .iter()
            .map(|network| (network.idle.max_mb * memory::MB) as u64)
            .max();
        let measured = scale::run(work, &plan.scale, base_port, node_bytes, progress);
        keep(measured, "scale", &mut failures)
    } else {
        None
    };
    Ok(Report {
        command: std::env::args().collect::<Vec<_>>().join(" "),
        started_at,
        seconds: started.elapsed().as_secs_f64(),
        machine: machine(load_before),
        plan: plan.clone(),
        floors: Floors {
            loopback,
            verify_ms: if verify_per_sec > 0.0 {
                1e3 / verify_per_sec
            } else {
                0.0
            },
        },
        ingest,
        networks,
        catch_up,
        search,
        scale,
        failures,
    })
}

/// The figures of a part that succeeded; a failed part is noted and the run goes on.
fn keep<T>(measured: Result<T>, part: &str, failures: &mut Vec<String>) -> Option<T> {
    match measured {
        Ok(figures) => Some(figures),
        Err(err) => {
            eprintln!("bench: {part} failed: {err:#}");
            failures.push(format!("{part}: {err:#}"));
            None
        }
    }
}

/// Brings up `nodes` OAS members, measures memory and propagation, and on the largest
/// network the catch-up, whose failure is reported on its own so that the network's other
/// figures stay.
fn network(
    plan: &Plan,
    dir: &Path,
    nodes: usize,
    base_port: u16,
    with_catch_up: bool,
    progress: &mut dyn Write,
) -> Result<(NetworkFigures, Option<Result<CatchUpFigures>>)> {
    writeln!(progress, "bench: network of {nodes} nodes")?;
    let cluster = Cluster::oas(dir, nodes, base_port, progress)?;
    settle(&cluster)?;
    let idle = cluster.resident_memory();
    writeln!(progress, "bench: {} alerts on {nodes} nodes", plan.alerts)?;
    let propagation = propagation::run(&cluster, plan.alerts, progress)?;
    let mut catch_up = None;
    if with_catch_up {
        let entries = plan.catch_up_entries;
        writeln!(progress, "bench: catch-up of {entries} entries")?;
        catch_up = Some(catchup::run(&cluster, nodes - 1, entries, progress));
    }
    let loaded = cluster.resident_memory();
    cluster.stop_all()?;
    if let Some(Ok(figures)) = catch_up.as_mut() {
        figures.measure_missed(&cluster)?;
    }
    let figures = NetworkFigures {
        nodes,
        propagation,
        idle,
        loaded,
    };
    Ok((figures, catch_up))
}

/// Waits until every node holds the same heads: the directories `up` imported have
/// reached everyone, and the network is quiet.
fn settle(cluster: &Cluster) -> Result<()> {
    let started = Instant::now();
    loop {
        let heads: Vec<_> = (0..cluster.len())
            .map(|node| cluster.heads(node))
            .collect::<Result<_>>()?;
        if heads.windows(2).all(|pair| pair[0] == pair[1]) {
            return Ok(());
        }
        if started.elapsed() > SETTLE_DEADLINE {
            bail!(
                "the nodes did not agree within {}s",
                SETTLE_DEADLINE.as_secs()
            );
        }
        sleep(Duration::from_millis(250));
    }
}

fn machine(load_before: f64) -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|line| line.strip_prefix("model name"))
        .and_then(|rest| rest.split_once(':'))
        .map_or_else(
            || "unknown".to_owned(),
            |(_, model)| model.trim().to_owned(),
        );
    let memory_gb = memory::total_bytes().unwrap_or(0) as f64 / 1e9;
    Machine {
        cpu,
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        memory_gb,
        kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map_or_else(|_| "unknown".to_owned(), |text| text.trim().to_owned()),
        load_before,
        load_after: load_average(),
    }
}

/// The one-minute load average, 0 if unknown.
fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0)
}
