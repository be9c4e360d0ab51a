//! A node whose disk fills up: publishing answers 503 naming the cause and acknowledges
//! nothing, `/v1/health` reports the failing store, and once the disk has room the node
//! reopens its store and writes again without a restart.
//!
//! Two disks: one that a test fills on demand (`testing::inject_store_faults`, every write
//! of the store file failing with `ENOSPC`), and a real tmpfs of a few MB filled with a
//! file, which needs root to mount and is skipped with a printed reason without it.

mod api_support;

use std::path::Path;
use std::time::{Duration, Instant};

use api_support::{As, Network, TestNode, alert};
use reqwest::{Method, StatusCode};
use serde_json::Value;

/// Longest time from the disk having room again to the node writing: the ledger reopens the
/// store at most 5 s apart, and the event loop's flush tick adds a second.
const RECOVERY_BOUND: Duration = Duration::from_secs(10);

async fn own_head(node: &TestNode) -> u64 {
    let heads = node.client.get("/v1/heads").await;
    heads["heads"][node.member.as_str()]["seq"]
        .as_u64()
        .unwrap_or(0)
}

async fn health(node: &TestNode) -> (StatusCode, Value) {
    let request = node.client.request(Method::GET, "/v1/health", As::Nobody);
    let answer = node.client.send(request).await;
    (answer.status, answer.json())
}

/// Publishes while the disk is full, then frees it and checks that writing resumes.
async fn full_disk_then_room(node: &TestNode, fill: impl FnOnce(), free: impl FnOnce()) {
    node.client.post("/v1/alerts", alert("Antes")).await;
    let before = own_head(node).await;

    fill();
    let refused = node
        .client
        .call(Method::POST, "/v1/alerts", As::Focal, Some(alert("Lleno")))
        .await;
    assert_eq!(
        refused.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        refused.text
    );
    assert_eq!(refused.code(), "store_unavailable", "{}", refused.text);
    assert!(
        refused.text.contains("No space left on device"),
        "the answer does not name the cause: {}",
        refused.text
    );
    let (status, body) = health(node).await;
    println!("health while the disk is full: {status} {body}");
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["status"], "store_failing");
    assert!(
        body["store"]
            .as_str()
            .is_some_and(|reason| reason.contains("No space left on device")),
        "{body}"
    );
    // Refused at once, without touching the store, until it is reopened.
    let again = node
        .client
        .send(
            node.client
                .request(Method::POST, "/v1/alerts", As::Focal)
                .json(&alert("Lleno otra vez")),
        )
        .await;
    assert_eq!(
        again.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        again.text
    );

    free();
    let freed = Instant::now();
    loop {
        let (status, body) = health(node).await;
        if status == StatusCode::OK {
            println!("health ok {:?} after the disk had room", freed.elapsed());
            break;
        }
        assert!(
            freed.elapsed() < RECOVERY_BOUND,
            "store still failing {RECOVERY_BOUND:?} after the disk had room: {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let published = node.client.post("/v1/alerts", alert("Después")).await;
    println!("published after recovery: seq {}", published["seq"]);
    // The refused alerts were never acknowledged and took no sequence number.
    assert_eq!(own_head(node).await, before + 1);
}

#[tokio::test]
async fn full_disk_is_reported_and_writes_resume_once_it_has_room() {
    let network = Network::single();
    std::fs::create_dir_all(network.data_dir(0)).expect("data directory");
    let faults = vigia_node::testing::inject_store_faults(&network.data_dir(0).join("vigia.redb"));
    let node = network.start(0).await;
    node.wait_ready().await;
    full_disk_then_room(&node, || faults.set_full(true), || faults.set_full(false)).await;
    node.stop().await;
}

/// A tmpfs this test mounted; unmounted when dropped, even when the test fails.
struct Tmpfs(std::path::PathBuf);

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazy, so that a node a failing test left running does not keep it mounted.
        let unmounted = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
        println!("tmpfs unmounted: {unmounted:?}");
    }
}

/// Mounts a tmpfs of `megabytes` at `dir`; `None` (with the reason printed) when this
/// process may not.
fn mount_tmpfs(dir: &Path, megabytes: u32) -> Option<Tmpfs> {
    if !is_root() {
        println!("skipped: mounting a tmpfs needs root");
        return None;
    }
    std::fs::create_dir_all(dir).expect("mount point");
    let status = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={megabytes}m"), "tmpfs"])
        .arg(dir)
        .status();
    match status {
        Ok(status) if status.success() => Some(Tmpfs(dir.to_owned())),
        other => {
            println!("skipped: cannot mount a tmpfs: {other:?}");
            None
        }
    }
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|status| {
        status
            .lines()
            .find(|line| line.starts_with("Uid:"))
            .and_then(|line| line.split_whitespace().nth(2))
            == Some("0")
    })
}

/// Writes zeros to `path` until the file system is full.
fn fill_disk(path: &Path) {
    use std::io::Write as _;
    let mut file = std::fs::File::create(path).expect("filler file");
    let block = vec![0; 64 * 1024];
    while file.write_all(&block).is_ok() {}
    let _ = file.sync_all();
}

#[tokio::test]
async fn a_real_full_tmpfs_is_reported_and_writes_resume_once_it_has_room() {
    let network = Network::single();
    let data_dir = network.data_dir(0);
    let Some(_tmpfs) = mount_tmpfs(&data_dir, 8) else {
        return;
    };
    let node = network.start(0).await;
    node.wait_ready().await;
    let filler = data_dir.join("filler");
    full_disk_then_room(
        &node,
        || fill_disk(&filler),
        || std::fs::remove_file(&filler).expect("free the disk"),
    )
    .await;
    node.stop().await;
}
