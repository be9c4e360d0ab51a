//! A node whose clock is ten minutes wrong still replicates both ways, and its peers show
//! how far off it is. Nothing in validation compares an entry's time with the receiver's
//! clock, so a skewed clock changes the times entries carry and nothing else.

use std::time::Duration;

use vigia_node::NodeHandle;
use vigia_node::clock::Clock;
use vigia_node::node::Node;
use vigia_protocol::{MemberCode, SignedEntry};
use vigia_tests::{TestNetwork, alert, contact, init_logs, same_heads, wait_ready, wait_until};

const SETTLE: Duration = Duration::from_secs(30);
const TEN_MINUTES_MS: i64 = 10 * 60 * 1000;
/// Measured offsets include a heads exchange's one-way delay, and on a busy machine the
/// event loops' queues; the skew itself is 600,000 ms.
const TOLERANCE_MS: i64 = 5_000;

fn code(text: &str) -> MemberCode {
    text.parse().expect("valid code")
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as i64
}

async fn offset_seen(handle: &NodeHandle, member: MemberCode) -> i64 {
    let status = handle.status().await.expect("status");
    let peer = status.peers.iter().find(|peer| peer.member == member);
    peer.and_then(|peer| peer.clock_offset_ms)
        .expect("offset known after a heads exchange")
}

/// AR and BR keep time; CL's clock is `skew_ms` off.
async fn skewed_node_replicates_both_ways_and_is_reported(skew_ms: i64, seed: u64) {
    init_logs();
    let network = TestNetwork::new(&["AR", "BR", "CL"], seed);
    let mut nodes = vec![network.start(0).await, network.start(1).await];
    let mut setup = network.setup(2);
    setup.clock = Clock::skewed(skew_ms);
    nodes.push(Node::start(setup).await.expect("skewed node starts"));
    for node in &nodes {
        wait_ready(node).await;
    }
    let (ar, cl) = (nodes[0].handle(), nodes[2].handle());
    ar.publish(contact("ar-1", "Ana", "García"))
        .await
        .expect("publish");
    ar.publish(alert("ar-a", "Alerta del reloj correcto"))
        .await
        .expect("publish");
    cl.publish(contact("cl-1", "Camila", "Núñez"))
        .await
        .expect("publish");
    let issued = now_ms();
    cl.publish(alert("cl-a", "Alerta del reloj desviado"))
        .await
        .expect("publish");

    let all: Vec<&Node> = nodes.iter().collect();
    wait_until("every feed reaches every node", SETTLE, || {
        same_heads(&all)
            && ar
                .heads()
                .expect("heads")
                .values()
                .filter(|head| head.seq == 2)
                .count()
                == 2
    })
    .await
    .expect("replicated both ways");
    // The skewed node's entries carry its clock's time, and were still accepted.
    let page = ar
        .store()
        .entries(code("CL"), 2, 1, 1 << 20)
        .expect("entries");
    let held = SignedEntry::from_bytes(&page[0]).expect("decodes");
    let carried = held.entry.issued_at_ms as i64 - issued;
    assert!(
        (carried - skew_ms).abs() < TOLERANCE_MS,
        "CL's alert carries a time {carried} ms off, not its clock's {skew_ms}"
    );

    // A heads exchange on connecting measured each offset; a later one confirms it.
    for node in &nodes {
        let handle = node.handle();
        let seen = offset_seen(
            &handle,
            if handle.member() == code("CL") {
                code("AR")
            } else {
                code("CL")
            },
        )
        .await;
        let expected = if handle.member() == code("CL") {
            -skew_ms
        } else {
            skew_ms
        };
        println!(
            "{} sees offset {seen} ms (skew {expected} ms)",
            handle.member()
        );
        assert!(
            (seen - expected).abs() < TOLERANCE_MS,
            "{} shows {seen} ms for a skew of {expected} ms",
            handle.member()
        );
    }
    let honest = offset_seen(&ar, code("BR")).await;
    assert!(honest.abs() < TOLERANCE_MS, "AR shows BR {honest} ms off");
    let metrics = ar.metrics().encode();
    let line = metrics
        .lines()
        .find(|line| line.starts_with("vigia_peer_clock_offset_milliseconds{member=\"CL\"}"))
        .expect("offset metric for CL");
    let value: i64 = line
        .rsplit(' ')
        .next()
        .and_then(|v| v.parse().ok())
        .expect("a number");
    assert!((value - skew_ms).abs() < TOLERANCE_MS, "{line}");
    for node in nodes {
        node.shutdown().await.expect("shutdown");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_ten_minutes_ahead_replicates_both_ways_and_peers_show_its_offset() {
    skewed_node_replicates_both_ways_and_is_reported(TEN_MINUTES_MS, 31).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_ten_minutes_behind_replicates_both_ways_and_peers_show_its_offset() {
    skewed_node_replicates_both_ways_and_is_reported(-TEN_MINUTES_MS, 32).await;
}
