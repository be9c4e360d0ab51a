//! Members write, stop, restart and go quiet; every node ends with the same feeds.

use std::time::{Duration, Instant};

use std::sync::Arc;

use vigia_node::ledger::Ledger;
use vigia_node::node::Node;
use vigia_node::store::Store;
use vigia_node::testing::signed_feed;
use vigia_node::views;
use vigia_tests::{TestNetwork, alert, contact, init_logs, same_heads, wait_ready, wait_until};

const CONVERGE: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_members_writing_converge_to_same_heads_and_contacts() {
    init_logs();
    let network = TestNetwork::new(&["AR", "BR", "CL"], 1);
    let nodes = network.start_all().await;
    let names = [
        ("José", "Pérez Núñez"),
        ("João", "Conceição"),
        ("Ñuñoa", "Muñoz"),
    ];
    for (index, node) in nodes.iter().enumerate() {
        for n in 0..10 {
            let (given, family) = names[index];
            let body = contact(&format!("c-{n}"), given, family);
            node.handle().publish(body).await.expect("publish");
        }
    }
    let all: Vec<_> = nodes.iter().collect();
    wait_until("heads agree", CONVERGE, || same_heads(&all))
        .await
        .expect("converged");
    let heads = nodes[0].handle().heads().expect("heads");
    assert_eq!(heads.len(), 3);
    assert!(heads.values().all(|head| head.seq == 10));
    let directories: Vec<_> = nodes
        .iter()
        .map(|node| {
            views::contacts(&node.handle().store().read().expect("read")).expect("contacts")
        })
        .collect();
    assert_eq!(directories[0].len(), 30);
    assert!(
        directories.windows(2).all(|pair| pair[0] == pair[1]),
        "directories differ"
    );
    for node in nodes {
        node.shutdown().await.expect("clean shutdown");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopped_node_catches_up_on_500_entries_with_no_writes_after_restart() {
    init_logs();
    let network = TestNetwork::new(&["AR", "BR", "CL"], 2);
    let mut nodes = network.start_all().await;
    let stopped = nodes.remove(2);
    stopped.shutdown().await.expect("shutdown");
    for n in 0..250 {
        nodes[0]
            .handle()
            .publish(contact(&format!("ar-{n}"), "Ana", "García"))
            .await
            .expect("publish");
        nodes[1]
            .handle()
            .publish(contact(&format!("br-{n}"), "Bia", "Souza"))
            .await
            .expect("publish");
    }
    let live: Vec<_> = nodes.iter().collect();
    wait_until("live nodes agree", CONVERGE, || same_heads(&live))
        .await
        .expect("live converged");

    let returning = network.start(2).await;
    let restart = Instant::now();
    let mut all: Vec<_> = nodes.iter().collect();
    all.push(&returning);
    wait_until("returning node caught up", CONVERGE, || same_heads(&all))
        .await
        .expect("caught up");
    let took = restart.elapsed();
    println!(
        "catch-up of 500 entries after restart: {} ms",
        took.as_millis()
    );
    let heads = returning.handle().heads().expect("heads");
    assert_eq!(heads[&"AR".parse().expect("code")].seq, 250);
    assert_eq!(heads[&"BR".parse().expect("code")].seq, 250);
    returning.shutdown().await.expect("shutdown");
    for node in nodes {
        node.shutdown().await.expect("shutdown");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_restarted_at_once_with_same_identity_publishes_and_receives() {
    init_logs();
    let network = TestNetwork::new(&["AR", "BR", "CL"], 3);
    let mut nodes = network.start_all().await;
    nodes[2]
        .handle()
        .publish(contact("before", "Carla", "Rojas"))
        .await
        .expect("publish");
    let old = nodes.remove(2);
    // Abort rather than shut down: peers get no orderly goodbye before the new node dials.
    old.abort().await;
    let again = network.start(2).await;
    wait_ready(&again).await;
    again
        .handle()
        .publish(contact("after", "Carla", "Rojas"))
        .await
        .expect("publish");
    nodes[0]
        .handle()
        .publish(alert("a-1", "Prueba tras reinicio"))
        .await
        .expect("publish");
    let mut all: Vec<_> = nodes.iter().collect();
    all.push(&again);
    wait_until("all agree", CONVERGE, || same_heads(&all))
        .await
        .expect("converged");
    let heads = nodes[0].handle().heads().expect("heads");
    assert_eq!(
        heads[&"CL".parse().expect("code")].seq,
        2,
        "restarted node's entry arrived"
    );
    assert_eq!(
        again.handle().heads().expect("heads")[&"AR".parse().expect("code")].seq,
        1
    );
    again.shutdown().await.expect("shutdown");
    for node in nodes {
        node.shutdown().await.expect("shutdown");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_after_silence_longer_than_idle_timeout_reaches_every_node_by_gossip() {
    init_logs();
    let mut network = TestNetwork::new(&["AR", "BR", "CL", "CO"], 4);
    // Heads exchanges would hide a lost gossip path; make them too rare to matter here.
    network.sync_interval = Duration::from_secs(600);
    let nodes = network.start_all().await;
    // libp2p closes idle connections after 10 s by default; stay quiet for longer.
    tokio::time::sleep(Duration::from_secs(12)).await;
    for node in &nodes {
        let status = node.handle().status().await.expect("status");
        assert!(
            status.peers.iter().all(|peer| peer.connected),
            "a connection dropped while idle"
        );
    }
    let issued = Instant::now();
    nodes[3]
        .handle()
        .publish(alert("quiet-1", "Alerta tras silencio"))
        .await
        .expect("publish");
    let all: Vec<_> = nodes.iter().collect();
    wait_until("alert everywhere", Duration::from_secs(5), || {
        same_heads(&all)
    })
    .await
    .expect("alert delivered by gossip");
    println!(
        "alert after silence delivered to all in {} ms",
        issued.elapsed().as_millis()
    );
    for node in nodes {
        node.shutdown().await.expect("shutdown");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wiped_node_recovers_its_own_feed_before_publishing_and_continues_the_sequence() {
    init_logs();
    let network = TestNetwork::new(&["AR", "BR", "CL"], 8);
    let mut nodes = network.start_all().await;
    for n in 0..5 {
        nodes[0]
            .handle()
            .publish(contact(&format!("ar-{n}"), "Ana", "Gómez"))
            .await
            .expect("publish");
    }
    let all: Vec<_> = nodes.iter().collect();
    wait_until("all agree", CONVERGE, || same_heads(&all))
        .await
        .expect("converged");
    let wiped = nodes.remove(0);
    wiped.shutdown().await.expect("shutdown");
    std::fs::remove_file(network.store_path(0)).expect("store wiped");

    let again = network.start(0).await;
    wait_ready(&again).await;
    let ar = "AR".parse().expect("code");
    assert_eq!(
        again.handle().heads().expect("heads")[&ar].seq,
        5,
        "own feed recovered first"
    );
    let next = again
        .handle()
        .publish(contact("ar-5", "Ana", "Gómez"))
        .await
        .expect("publish");
    assert_eq!(next.seq, 6);
    nodes.push(again);
    agree_without_forks_then_stop(nodes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wiped_node_with_a_feed_of_several_pages_publishes_only_after_holding_all_of_it() {
    init_logs();
    // AR's feed is more than three sync pages long and held by BR and CL; AR's own store is
    // gone. Pages arrive one at a time, so AR must not count itself caught up at a page
    // boundary: it would publish a sequence number its peers already hold, a fork.
    let network = TestNetwork::new(&["AR", "BR", "CL"], 12);
    let feed_length = 3 * u64::from(vigia_protocol::sync::MAX_PAGE_ENTRIES) + 200;
    let feed = signed_feed(&network.roster, &network.members[0], feed_length, |seq| {
        contact(&format!("ar-{seq}"), "Ana", "Gómez")
    });
    for holder in [1, 2] {
        let store = Store::open(&network.store_path(holder)).expect("store");
        let member = &network.members[holder];
        let mut ledger = Ledger::new(
            store,
            Arc::new(network.roster.clone()),
            member.code,
            member.signing_key.clone(),
        )
        .expect("ledger");
        for chunk in feed.chunks(1_000) {
            let ingested = ledger.ingest(chunk, 0).expect("ingest");
            assert_eq!(ingested.applied.len(), chunk.len());
        }
    }
    let nodes = network.start_all().await;
    wait_ready(&nodes[0]).await;
    let ar = network.members[0].code;
    assert_eq!(
        nodes[0].handle().heads().expect("heads")[&ar].seq,
        feed_length,
        "ready before holding its whole feed"
    );
    let next = nodes[0]
        .handle()
        .publish(contact("ar-next", "Ana", "Gómez"))
        .await
        .expect("publish");
    assert_eq!(next.seq, feed_length + 1);
    agree_without_forks_then_stop(nodes).await;
}

/// Waits until every node holds the same heads, checks that none saw a fork (a reused
/// sequence number), and stops them.
async fn agree_without_forks_then_stop(nodes: Vec<Node>) {
    let all: Vec<_> = nodes.iter().collect();
    wait_until("all agree", CONVERGE, || same_heads(&all))
        .await
        .expect("converged");
    for node in &nodes {
        assert!(
            node.handle().store().forks().expect("forks").is_empty(),
            "sequence reused"
        );
    }
    for node in nodes {
        node.shutdown().await.expect("shutdown");
    }
}
