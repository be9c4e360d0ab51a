//! The benchmark's markdown: the machine, then one table whose every row holds a figure,
//! its floor or ceiling from the same run, their ratio, and the issue's goal where there
//! is one.

use std::fmt::Write as _;

use super::Report;
use super::catchup::CatchUpFigures;
use super::ingest::IngestFigures;
use super::search::SearchFigures;
use super::{NetworkFigures, scale::ScaleFigures};

/// Goals of issue 5, at N = 35.
mod goal {
    pub const PROPAGATION_P50_MS: f64 = 10.0;
    pub const PROPAGATION_P99_MS: f64 = 50.0;
    pub const DUPLICATES: f64 = 2.5;
    pub const CATCH_UP_MS: f64 = 1_000.0;
    pub const BYTE_RATIO: f64 = 1.1;
    pub const INGEST_SHARE_OF_VERIFY: f64 = 0.5;
    pub const SEARCH_P99_MS: f64 = 2.0;
    pub const IDLE_NODE_MB: f64 = 30.0;
    pub const SCALE_NODES: usize = 200;
    /// The network size the goals are set for.
    pub const NODES: usize = 35;
}

/// One table row.
struct Row {
    part: &'static str,
    figure: String,
    measured: String,
    floor: String,
    ratio: String,
    goal: String,
    met: Option<bool>,
}

impl Row {
    fn new(part: &'static str, figure: String, measured: String) -> Self {
        Self {
            part,
            figure,
            measured,
            floor: String::new(),
            ratio: String::new(),
            goal: String::new(),
            met: None,
        }
    }

    fn floor(mut self, floor: String, ratio: Option<f64>) -> Self {
        self.floor = floor;
        self.ratio = ratio.map_or_else(String::new, |ratio| format!("{ratio:.1}×"));
        self
    }

    fn goal(mut self, goal: String, met: bool) -> Self {
        self.goal = goal;
        self.met = Some(met);
        self
    }
}

/// The report as markdown.
pub fn markdown(report: &Report) -> String {
    let mut text = String::new();
    let machine = &report.machine;
    let _ = writeln!(
        text,
        "Machine: {} ({} CPUs), {:.1} GB, Linux {}; load average {:.2} at start, {:.2} at end; \
         {:.0} s.\n",
        machine.cpu,
        machine.cpus,
        machine.memory_gb,
        machine.kernel,
        machine.load_before,
        machine.load_after,
        report.seconds
    );
    let _ = writeln!(
        text,
        "| # | figure | measured | floor / ceiling, same run | ratio | goal | met |"
    );
    let _ = writeln!(text, "|---|---|---|---|---|---|---|");
    for row in rows(report) {
        let met = match row.met {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "",
        };
        let _ = writeln!(
            text,
            "| {} | {} | {} | {} | {} | {} | {} |",
            row.part, row.figure, row.measured, row.floor, row.ratio, row.goal, met
        );
    }
    for failure in &report.failures {
        let _ = writeln!(text, "\nFailed: {failure}");
    }
    text
}

fn rows(report: &Report) -> Vec<Row> {
    let mut rows = Vec::new();
    for network in &report.networks {
        propagation_rows(report, network, &mut rows);
    }
    for network in &report.networks {
        duplicates_row(network, &mut rows);
    }
    if let Some(catch_up) = &report.catch_up {
        catch_up_rows(catch_up, report.ingest.as_ref(), &mut rows);
    }
    if let Some(ingest) = &report.ingest {
        ingest_rows(ingest, &mut rows);
    }
    if let Some(search) = &report.search {
        search_rows(search, &mut rows);
    }
    for network in &report.networks {
        memory_rows(network, &mut rows);
    }
    if let Some(search) = &report.search {
        rows.push(Row::new(
            "6",
            format!(
                "RSS of the node holding {} contacts",
                thousands(search.contacts as f64)
            ),
            format!("{:.1} MB", search.node_rss_mb),
        ));
    }
    if let Some(scale) = &report.scale {
        scale_rows(scale, &mut rows);
    }
    rows
}

fn propagation_rows(report: &Report, network: &NetworkFigures, rows: &mut Vec<Row>) {
    let floors = &report.floors;
    let p = &network.propagation;
    let n = network.nodes;
    // A receiver also commits the alert before it counts as applied: shown beside the
    // issue's floor, not added to it.
    let commit_ms = report
        .ingest
        .as_ref()
        .map(|ingest| 1e3 / ingest.redb_commits_per_sec);
    let floor_text = |rtt: f64| {
        let floor = rtt + floors.verify_ms;
        let mut text = format!(
            "{} (loopback RTT {} + verify {})",
            ms(floor),
            ms(rtt),
            ms(floors.verify_ms)
        );
        if let Some(commit_ms) = commit_ms {
            let _ = write!(text, "; with one redb commit {}", ms(floor + commit_ms));
        }
        text
    };
    let at_goal = n == goal::NODES;
    let figure = |what: &str| {
        format!(
            "alert propagation {what}, N={n} ({} alerts; {} missing, {} before the author)",
            p.alerts, p.missing, p.before_author
        )
    };
    let row = |what: &str, measured: f64, rtt: f64| {
        Row::new("1", figure(what), ms(measured))
            .floor(floor_text(rtt), ratio(measured, rtt + floors.verify_ms))
    };
    let mut p50 = row("p50", p.to_each.p50_ms, floors.loopback.p50_ms);
    let mut p99 = row("p99", p.to_each.p99_ms, floors.loopback.p99_ms);
    if at_goal {
        let complete = p.missing == 0;
        p50 = p50.goal(
            format!("≤ {} ms", goal::PROPAGATION_P50_MS),
            complete && p.to_each.p50_ms <= goal::PROPAGATION_P50_MS,
        );
        p99 = p99.goal(
            format!("≤ {} ms", goal::PROPAGATION_P99_MS),
            complete && p.to_each.p99_ms <= goal::PROPAGATION_P99_MS,
        );
    }
    rows.push(p50);
    rows.push(p99);
    rows.push(row("max", p.to_each.max_ms, floors.loopback.max_ms));
    rows.push(Row::new(
        "1",
        format!("until the last of N−1 receivers, N={n}: p50 / p99"),
        format!("{} / {}", ms(p.to_all.p50_ms), ms(p.to_all.p99_ms)),
    ));
    rows.push(Row::new(
        "1",
        format!("cross-checks, N={n}: issue (POST → author applied) p50; nodes' histogram mean"),
        format!("{}; {}", ms(p.issue.p50_ms), ms(p.node_histogram_mean_ms)),
    ));
    // What one alert costs all the nodes together: spread over the machine's cores, it is
    // the least time the last receiver can take while the nodes share them.
    let cores = report.machine.cpus.max(1) as f64;
    rows.push(Row::new(
        "1",
        format!("(context) CPU of all {n} nodes per alert ÷ {cores} cores; cores kept busy"),
        format!(
            "{} ÷ {cores} = {}; {:.2}",
            ms(p.cpu_ms_per_alert),
            ms(p.cpu_ms_per_alert / cores),
            p.busy_cores
        ),
    ));
}

fn duplicates_row(network: &NetworkFigures, rows: &mut Vec<Row>) {
    let gossip = &network.propagation.gossip;
    let mut row = Row::new(
        "2",
        format!("duplicates per delivered entry, N={}", network.nodes),
        format!("{:.2}", gossip.duplicates_per_entry),
    )
    .floor(
        format!(
            "0 (each node receives each entry once); {} copies for {} deliveries",
            thousands(gossip.gossip_copies + gossip.node_duplicates),
            thousands(gossip.delivered)
        ),
        None,
    );
    if network.nodes == goal::NODES {
        row = row.goal(
            format!("≤ {}", goal::DUPLICATES),
            gossip.duplicates_per_entry <= goal::DUPLICATES,
        );
    }
    rows.push(row);
}

fn catch_up_rows(catch_up: &CatchUpFigures, ingest: Option<&IngestFigures>, rows: &mut Vec<Row>) {
    let n = catch_up.nodes;
    let at_goal = n == goal::NODES;
    let floor_ms = ingest.map(|ingest| catch_up.missed as f64 / ingest.ledger_pages_per_sec * 1e3);
    let mut time = Row::new(
        "3",
        format!(
            "catch-up of {} missed entries, N={n}: restart → caught up (API up → caught up)",
            thousands(catch_up.missed as f64)
        ),
        format!(
            "{} ({})",
            ms(catch_up.restart_ms),
            ms(catch_up.after_start_ms)
        ),
    );
    if let Some(floor_ms) = floor_ms {
        time = time.floor(
            format!("{} (missed ÷ ledger page rate)", ms(floor_ms)),
            ratio(catch_up.restart_ms, floor_ms),
        );
    }
    let mut bytes = Row::new(
        "3",
        format!("catch-up bytes received ÷ wire size of missed entries, N={n}"),
        format!(
            "{:.2} ({} sync + {} gossip B ÷ {} B)",
            catch_up.byte_ratio,
            thousands(catch_up.sync_bytes),
            thousands(catch_up.gossip_bytes),
            thousands(catch_up.missed_bytes as f64)
        ),
    )
    .floor("1.00".into(), None);
    if at_goal {
        time = time.goal(
            format!("≤ {} s", goal::CATCH_UP_MS / 1e3),
            catch_up.restart_ms <= goal::CATCH_UP_MS,
        );
        bytes = bytes.goal(
            format!("≤ {}", goal::BYTE_RATIO),
            catch_up.byte_ratio <= goal::BYTE_RATIO,
        );
    }
    rows.push(time);
    rows.push(bytes);
    rows.push(Row::new(
        "3",
        format!(
            "(context) {} entries written on N−1 nodes and replicated among them",
            thousands(catch_up.written as f64)
        ),
        format!("{:.1} s", catch_up.write_seconds),
    ));
}

fn ingest_rows(ingest: &IngestFigures, rows: &mut Vec<Row>) {
    let share = ingest.ledger_pages_per_sec / ingest.verify_single_per_sec;
    rows.push(
        Row::new(
            "4",
            format!(
                "ingest, sync pages ({} entries of {} B)",
                thousands(ingest.entries as f64),
                ingest.entry_bytes
            ),
            format!("{}/s", thousands(ingest.ledger_pages_per_sec)),
        )
        .floor(
            format!(
                "verify {}/s single, {}/s batch; redb {}/s rows in page commits",
                thousands(ingest.verify_single_per_sec),
                thousands(ingest.verify_batch_per_sec),
                thousands(ingest.redb_rows_per_sec)
            ),
            Some(share),
        )
        .goal(
            format!("≥ {} × single verify", goal::INGEST_SHARE_OF_VERIFY),
            share >= goal::INGEST_SHARE_OF_VERIFY,
        ),
    );
    rows.push(
        Row::new(
            "4",
            "ingest, one entry per commit (gossip on a quiet network)".into(),
            format!("{}/s", thousands(ingest.ledger_single_per_sec)),
        )
        .floor(
            format!(
                "redb {}/s durable one-row commits ({}/s without flush)",
                thousands(ingest.redb_commits_per_sec),
                thousands(ingest.redb_volatile_commits_per_sec)
            ),
            Some(ingest.ledger_single_per_sec / ingest.redb_commits_per_sec),
        ),
    );
}

fn search_rows(search: &SearchFigures, rows: &mut Vec<Row>) {
    let figure = |what: &str| {
        format!(
            "search {what} over {} contacts (mean {:.0} matches)",
            thousands(search.contacts as f64),
            search.mean_matches
        )
    };
    rows.push(
        Row::new("5", figure("p50"), ms(search.search.p50_ms)).floor(
            format!("{} (GET /v1/health p50)", ms(search.health.p50_ms)),
            ratio(search.search.p50_ms, search.health.p50_ms),
        ),
    );
    rows.push(
        Row::new("5", figure("p99"), ms(search.search.p99_ms))
            .floor(
                format!("{} (GET /v1/health p99)", ms(search.health.p99_ms)),
                ratio(search.search.p99_ms, search.health.p99_ms),
            )
            .goal(
                format!("≤ {} ms", goal::SEARCH_P99_MS),
                search.search.p99_ms <= goal::SEARCH_P99_MS,
            ),
    );
    let slowest = search
        .by_kind
        .iter()
        .max_by(|a, b| a.search.p99_ms.total_cmp(&b.search.p99_ms));
    if let Some(slowest) = slowest {
        rows.push(Row::new(
            "5",
            format!(
                "(context) slowest kind of query: {} (mean {:.0} matches) p50 / p99",
                slowest.kind, slowest.mean_matches
            ),
            format!(
                "{} / {}",
                ms(slowest.search.p50_ms),
                ms(slowest.search.p99_ms)
            ),
        ));
    }
    rows.push(Row::new(
        "5",
        "(context) import through the API, one entry per row".into(),
        format!("{}/s", thousands(search.import_per_sec)),
    ));
}

fn memory_rows(network: &NetworkFigures, rows: &mut Vec<Row>) {
    let n = network.nodes;
    let mut idle = Row::new(
        "6",
        format!("RSS per idle node, N={n}: median / max"),
        two_mb(network.idle.median_mb, network.idle.max_mb),
    );
    if n == goal::NODES {
        idle = idle.goal(
            format!("≤ {} MB", goal::IDLE_NODE_MB),
            network.idle.max_mb <= goal::IDLE_NODE_MB,
        );
    }
    rows.push(idle);
    rows.push(Row::new(
        "6",
        format!("(context) of which, median idle node at N={n}: anonymous / file-backed"),
        two_mb(network.idle.anon_median_mb, network.idle.file_median_mb),
    ));
    rows.push(Row::new(
        "6",
        format!("RSS per node after load, N={n}: median / max"),
        two_mb(network.loaded.median_mb, network.loaded.max_mb),
    ));
    rows.push(Row::new(
        "6",
        format!("RSS of all {n} nodes: idle / after load"),
        format!(
            "{:.0} / {:.0} MB",
            network.idle.total_mb, network.loaded.total_mb
        ),
    ));
}

/// Two sizes in MB, as "a / b MB".
fn two_mb(a: f64, b: f64) -> String {
    format!("{a:.1} / {b:.1} MB")
}

fn scale_rows(scale: &ScaleFigures, rows: &mut Vec<Row>) {
    let tried: Vec<String> = scale
        .steps
        .iter()
        .map(|step| {
            if step.converged {
                format!(
                    "{} ✓ ({:.0} s + {:.1} s, {:.0} MB)",
                    step.nodes, step.connect_seconds, step.converge_seconds, step.rss.total_mb
                )
            } else {
                format!(
                    "{} ✗ ({})",
                    step.nodes,
                    step.limit.as_deref().unwrap_or("failed")
                )
            }
        })
        .collect();
    rows.push(
        Row::new(
            "7",
            "largest network that converges".into(),
            format!("{}", scale.largest),
        )
        .floor(format!("tried: {}", tried.join("; ")), None)
        .goal(
            format!("{}", goal::SCALE_NODES),
            scale.largest >= goal::SCALE_NODES,
        ),
    );
}

fn ms(millis: f64) -> String {
    if millis >= 1_000.0 {
        format!("{:.2} s", millis / 1e3)
    } else if millis >= 10.0 {
        format!("{millis:.1} ms")
    } else {
        format!("{millis:.3} ms")
    }
}

fn ratio(measured: f64, floor: f64) -> Option<f64> {
    (floor > 0.0).then(|| measured / floor)
}

/// A count with thousands separated by commas, rounded.
fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.abs());
    let mut grouped = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    if value < 0.0 {
        format!("-{grouped}")
    } else {
        grouped
    }
}

#[cfg(test)]
mod tests {
    use super::thousands;

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(thousands(1234567.4), "1,234,567");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(-1000.0), "-1,000");
    }
}
