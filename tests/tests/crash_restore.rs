//! A node restored from an old backup, taken while it ran, comes back without harm: it
//! learns the rest of its own feed from its peers before it publishes, so it never signs a
//! second entry at a sequence number it already used (which peers would keep as a fork).

use std::time::Duration;

use vigia_node::maintenance::check::check;
use vigia_node::maintenance::{backup, restore};
use vigia_tests::{TestNetwork, contact, init_logs, same_heads, wait_ready, wait_until};

const CONVERGE: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_restored_from_an_old_backup_continues_its_feed_without_reusing_a_sequence_number() {
    init_logs();
    let network = TestNetwork::new(&["AR", "BR", "CL"], 21);
    let mut nodes = network.start_all().await;
    let publish = |node: &vigia_node::Node, id: &str| {
        let handle = node.handle();
        let body = contact(id, "Ana", "Gómez");
        async move { handle.publish(body).await.expect("publish") }
    };
    for n in 0..3 {
        publish(&nodes[0], &format!("ar-{n}")).await;
    }
    let dir = tempfile::tempdir().expect("dir");
    let old_backup = dir.path().join("ar-old.redb");
    let store = nodes[0].handle().store().clone();
    let summary = tokio::task::spawn_blocking({
        let target = old_backup.clone();
        move || backup::write(&store, &target)
    })
    .await
    .expect("backup task")
    .expect("backup of the running node");
    assert_eq!(summary.entries, 3);
    for n in 3..6 {
        publish(&nodes[0], &format!("ar-{n}")).await;
    }
    let all: Vec<_> = nodes.iter().collect();
    wait_until("all hold AR's six entries", CONVERGE, || same_heads(&all))
        .await
        .expect("converged");

    let restored = nodes.remove(0);
    restored.shutdown().await.expect("shutdown");
    let outcome = restore::restore(&old_backup, &network.store_path(0), &network.roster)
        .expect("restore of the old backup");
    assert!(outcome.report.is_clean());
    assert!(outcome.previous.is_some(), "the replaced store is kept");

    let again = network.start(0).await;
    wait_ready(&again).await;
    let ar = "AR".parse().expect("code");
    let head = again.handle().heads().expect("heads")[&ar].seq;
    assert_eq!(
        head, 6,
        "the restored node learned its own head before publishing"
    );
    let next = publish(&again, "ar-6").await;
    assert_eq!(
        next.seq, 7,
        "the sequence continues past what the backup held"
    );
    nodes.insert(0, again);
    let all: Vec<_> = nodes.iter().collect();
    wait_until("all hold AR's seventh entry", CONVERGE, || same_heads(&all))
        .await
        .expect("converged");
    for node in &nodes {
        let handle = node.handle();
        assert!(
            handle.store().forks().expect("forks").is_empty(),
            "a sequence number was reused"
        );
        let report = check(handle.store(), &network.roster).expect("check");
        assert!(report.is_clean(), "{report}");
    }
    for node in nodes {
        node.shutdown().await.expect("shutdown");
    }
}
