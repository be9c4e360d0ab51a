//! `kill -9` loops: a `vigia-node` process is killed at a random moment (seeded) during a
//! bulk import through its API, or while it catches up from a peer, and started again on
//! the same store, many times. After every kill the store must open, pass the full check
//! (chains, signatures, heads, views), and hold everything the node acknowledged before it
//! died: every imported row whose answer arrived, every head its API reported.
//!
//! Each loop is bounded by `VIGIA_CRASH_ITERATIONS` (default 25) and `VIGIA_CRASH_SECONDS`
//! (default 120), whichever comes first, and prints what it did.

mod crash_support;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use reqwest::StatusCode;
use vigia_node::ledger::Ledger;
use vigia_node::maintenance::check::check;
use vigia_node::node::{Node, NodeSetup};
use vigia_node::store::Store;
use vigia_node::views;
use vigia_protocol::Roster;

use crash_support::{
    Budget, NodeFiles, SEED, START_PATIENCE, TestMember, member, roster, signed_feed,
};

/// Rows per import request: a spreadsheet of a small institution directory.
const ROWS_PER_IMPORT: usize = 20;

/// Kills per store before the loop starts over on an empty one, so that the checks after
/// each kill stay quick while the same file still survives several crashes in a row.
const KILLS_PER_STORE: u32 = 10;

/// Latest kill after the process starts. Startup of a debug build takes a few hundred
/// milliseconds, so the range covers kills during startup, during recovery of the store,
/// and well into the import or the catch-up.
const MAX_KILL_AFTER: Duration = Duration::from_millis(2_500);

/// Entries of the feed the catching-up node fetches: several sync pages (1,024 entries
/// each), so kills fall between page commits and inside them.
const SOURCE_ENTRIES: u64 = 6_000;

/// What one kill loop saw.
#[derive(Debug, Default)]
struct Tally {
    kills: u32,
    /// Kills before the node acknowledged anything in that iteration.
    before_first_ack: u32,
    /// Kills that found writes stored but not yet acknowledged: in the middle of a request
    /// or of a catch-up.
    mid_write: u32,
    acknowledged: u64,
}

/// Opens the killed node's store as its next start would, checks it, and returns it.
fn reopen_and_check(files: &NodeFiles, roster: &Roster, iteration: u32) -> Store {
    let path = files.store_path();
    let store = Store::open(&path).unwrap_or_else(|error| {
        panic!(
            "iteration {iteration}: store does not open after kill -9: {error:#}\n{}",
            files.log_tail()
        )
    });
    let report = check(&store, roster).expect("store readable");
    assert!(
        report.is_clean(),
        "iteration {iteration}: store fails its check after kill -9:\n{report}"
    );
    store
}

/// Kills the process and waits for it to be gone.
async fn kill(child: &mut tokio::process::Child) {
    // SIGKILL on Unix: no handler runs, nothing is flushed by the process.
    child.start_kill().expect("kill sent");
    child.wait().await.expect("killed process reaped");
}

/// Imports institution rows in batches until the process stops answering; records the ids
/// of every batch whose answer arrived. Returns an answer no live node should give.
async fn import_until_killed(
    files: Arc<NodeFiles>,
    prefix: String,
    acked: Arc<Mutex<Vec<String>>>,
) -> Option<String> {
    let client = reqwest::Client::new();
    let started = Instant::now();
    for batch in 0.. {
        let ids: Vec<String> = (0..ROWS_PER_IMPORT)
            .map(|row| format!("{prefix}-b{batch}-r{row}"))
            .collect();
        let mut csv = String::from("id,name,kind\n");
        for id in &ids {
            csv.push_str(&format!("{id},Policía de Investigaciones {id},police\n"));
        }
        loop {
            let answer = client
                .post(files.url("/v1/import"))
                .bearer_auth(&files.token)
                .header(reqwest::header::CONTENT_TYPE, "text/csv")
                .body(csv.clone())
                .send()
                .await;
            match answer {
                Ok(response) if response.status() == StatusCode::OK => {
                    // Only an answer read in full is an acknowledgement.
                    if response.bytes().await.is_ok() {
                        acked.lock().expect("ack list").extend(ids);
                    }
                    break;
                }
                // Not listening yet; the test aborts this task once it killed the node.
                Err(error) if started.elapsed() < START_PATIENCE && error.is_connect() => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Ok(response) => {
                    let status = response.status();
                    let body = response.text().await.unwrap_or_default();
                    return Some(format!("import answered {status}: {body}"));
                }
                Err(_) => return None,
            }
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_killed_during_bulk_import_keeps_every_acknowledged_row() {
    let budget = Budget::from_env();
    let member = member("PE");
    let (roster, roster_toml) = roster(std::slice::from_ref(&member));
    let dir = tempfile::tempdir().expect("dir");
    let files = Arc::new(NodeFiles::write(dir.path(), &member, &roster_toml));
    let mut rng = StdRng::seed_from_u64(SEED);
    let mut tally = Tally::default();
    let mut acked_this_store: BTreeSet<String> = BTreeSet::new();
    let started = Instant::now();

    while budget.allows(tally.kills, started) {
        let iteration = tally.kills;
        if iteration % KILLS_PER_STORE == 0 {
            let _ = std::fs::remove_file(files.store_path());
            acked_this_store.clear();
        }
        let mut child = files.spawn();
        let acked = Arc::new(Mutex::new(Vec::new()));
        let prefix = format!("i{iteration}");
        let importer = tokio::spawn(import_until_killed(files.clone(), prefix, acked.clone()));
        let delay = rng.random_range(0..=MAX_KILL_AFTER.as_millis() as u64);
        tokio::time::sleep(Duration::from_millis(delay)).await;
        kill(&mut child).await;
        importer.abort();
        if let Ok(Some(unexpected)) = importer.await {
            panic!("iteration {iteration}: {unexpected}\n{}", files.log_tail());
        }
        tally.kills += 1;

        let store = reopen_and_check(&files, &roster, iteration);
        let acked = std::mem::take(&mut *acked.lock().expect("ack list"));
        if acked.is_empty() {
            tally.before_first_ack += 1;
        }
        tally.acknowledged += acked.len() as u64;
        acked_this_store.extend(acked);
        let read = store.read().expect("read");
        let held: BTreeSet<String> = views::institutions(&read)
            .expect("institutions")
            .into_iter()
            .map(|record| record.institution.id)
            .collect();
        let lost: Vec<_> = acked_this_store.difference(&held).collect();
        assert!(
            lost.is_empty(),
            "iteration {iteration}: acknowledged rows lost after kill -9 at {delay} ms: {lost:?}"
        );
        let prefix = format!("i{iteration}-");
        let unacknowledged = held
            .iter()
            .filter(|id| id.starts_with(&prefix) && !acked_this_store.contains(*id))
            .count();
        if unacknowledged > 0 {
            tally.mid_write += 1;
        }
    }

    println!(
        "bulk import kill loop: {} kills in {:.1} s (budget {} or {:?}); the store opened \
         and checked clean after every one; {} acknowledged rows, all present; {} kills came \
         before the first acknowledgement, {} in the middle of an import request (rows stored, \
         answer not received)",
        tally.kills,
        started.elapsed().as_secs_f64(),
        budget.iterations,
        budget.time,
        tally.acknowledged,
        tally.before_first_ack,
        tally.mid_write
    );
    assert!(tally.kills > 0, "the loop ran");
    assert!(
        tally.acknowledged > 0,
        "some kills came after acknowledged imports"
    );
}

/// Polls the catching-up node's heads and keeps the highest sequence number of the
/// source's feed it reported: what the node acknowledged as stored.
async fn watch_heads(files: Arc<NodeFiles>, source: String, seen: Arc<AtomicU64>) {
    let client = reqwest::Client::new();
    let started = Instant::now();
    loop {
        let answer = client
            .get(files.url("/v1/heads"))
            .bearer_auth(&files.token)
            .send()
            .await;
        match answer {
            Ok(response) => {
                let Ok(body) = response.json::<serde_json::Value>().await else {
                    return;
                };
                if let Some(seq) = body["heads"][&source]["seq"].as_u64() {
                    seen.fetch_max(seq, Ordering::Relaxed);
                }
            }
            // Not listening yet; the test aborts this task once it killed the node.
            Err(error) if started.elapsed() < START_PATIENCE && error.is_connect() => {}
            Err(_) => return,
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The source's store, filled with [`SOURCE_ENTRIES`] entries in a few transactions.
fn fill_source(path: &std::path::Path, roster: &Roster, source: &TestMember) {
    let store = Store::open(path).expect("source store");
    let mut ledger = Ledger::new(
        store,
        Arc::new(roster.clone()),
        source.code,
        source.signing_key.clone(),
    )
    .expect("source ledger");
    let feed = signed_feed(roster, source, SOURCE_ENTRIES);
    for chunk in feed.chunks(1_000) {
        let ingested = ledger.ingest(chunk, 0).expect("source accepts its feed");
        assert_eq!(ingested.applied.len(), chunk.len());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_killed_during_catch_up_keeps_every_entry_it_reported() {
    let budget = Budget::from_env();
    let source_member = member("AR");
    let member = member("BR");
    let members = [source_member, member];
    let (roster, roster_toml) = roster(&members);
    let [source_member, member] = members;
    let dir = tempfile::tempdir().expect("dir");
    let source_path = dir.path().join("source.redb");
    fill_source(&source_path, &roster, &source_member);
    let source = Node::start(NodeSetup {
        roster: roster.clone(),
        member: source_member.code,
        signing_key: source_member.signing_key.clone(),
        identity: source_member.identity(),
        store_path: source_path,
        listen: Vec::new(),
        sync_interval: Duration::from_secs(2),
        max_message_bytes: vigia_node::config::DEFAULT_MAX_MESSAGE_BYTES,
        clock: vigia_node::clock::Clock::system(),
    })
    .await
    .expect("source node starts");
    let files = Arc::new(NodeFiles::write(
        &dir.path().join("BR"),
        &member,
        &roster_toml,
    ));
    let mut rng = StdRng::seed_from_u64(SEED ^ 1);
    let mut tally = Tally::default();
    let mut whole_catch_ups = 0;
    let started = Instant::now();

    while budget.allows(tally.kills, started) {
        let iteration = tally.kills;
        let mut child = files.spawn();
        let seen = Arc::new(AtomicU64::new(0));
        let code = source_member.code.to_string();
        let watcher = tokio::spawn(watch_heads(files.clone(), code, seen.clone()));
        let delay = rng.random_range(0..=MAX_KILL_AFTER.as_millis() as u64);
        tokio::time::sleep(Duration::from_millis(delay)).await;
        kill(&mut child).await;
        watcher.abort();
        let _ = watcher.await;
        tally.kills += 1;

        let store = reopen_and_check(&files, &roster, iteration);
        let reported = seen.load(Ordering::Relaxed);
        let held = store
            .heads()
            .expect("heads")
            .get(&source_member.code)
            .map_or(0, |head| head.seq);
        assert!(
            held >= reported,
            "iteration {iteration}: the node reported {reported} entries, holds {held} after \
             kill -9 at {delay} ms"
        );
        if reported == 0 {
            tally.before_first_ack += 1;
        }
        if held > 0 && held < SOURCE_ENTRIES {
            tally.mid_write += 1;
        }
        tally.acknowledged += reported;
        drop(store);
        // A whole feed teaches nothing more: start the next catch-up from nothing.
        if held == SOURCE_ENTRIES {
            whole_catch_ups += 1;
            std::fs::remove_file(files.store_path()).expect("store removed");
        }
    }

    source.shutdown().await.expect("source stops");
    println!(
        "catch-up kill loop: {} kills in {:.1} s (budget {} or {:?}); the store opened and \
         checked clean after every one; heads reported before each kill were always held; \
         {} kills came in the middle of a catch-up, {} before the first report; \
         {whole_catch_ups} catch-ups of {SOURCE_ENTRIES} entries completed between kills",
        tally.kills,
        started.elapsed().as_secs_f64(),
        budget.iterations,
        budget.time,
        tally.mid_write,
        tally.before_first_ack
    );
    assert!(tally.kills > 0, "the loop ran");
    assert!(
        tally.acknowledged > 0,
        "some kills came after entries were reported"
    );
}
