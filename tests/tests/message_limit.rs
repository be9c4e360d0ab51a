//! A node that accepts smaller gossip messages than its peers (an older or differently
//! configured node) is shown in status and metrics, and still receives every entry: what
//! gossip cannot carry to it comes by sync at once, not at the next periodic exchange.

use std::time::{Duration, Instant};

use vigia_node::node::Node;
use vigia_protocol::MemberCode;
use vigia_protocol::body::Body;
use vigia_tests::{TestNetwork, alert, contact, init_logs, wait_ready, wait_until};

const SMALL_LIMIT: usize = 8 * 1024;

fn code(text: &str) -> MemberCode {
    text.parse().expect("valid code")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entry_over_a_peers_smaller_gossip_limit_reaches_it_by_sync_at_once() {
    init_logs();
    let mut network = TestNetwork::new(&["AR", "BR", "CL"], 41);
    // Far longer than the test: only the offer made for the large entry can deliver it.
    network.sync_interval = Duration::from_secs(600);
    let mut nodes = vec![network.start(0).await, network.start(1).await];
    let mut setup = network.setup(2);
    setup.max_message_bytes = SMALL_LIMIT;
    nodes.push(Node::start(setup).await.expect("small-limit node starts"));
    for node in &nodes {
        wait_ready(node).await;
    }
    let (ar, cl) = (nodes[0].handle(), nodes[2].handle());

    // Each limit is learned at the first heads exchange with that peer.
    vigia_tests::wait_until_async(
        "AR knows every peer's limit",
        Duration::from_secs(15),
        || async {
            let status = ar.status().await.expect("status");
            status
                .peers
                .iter()
                .all(|peer| peer.max_message_bytes.is_some())
        },
    )
    .await
    .expect("limits known");
    let status = ar.status().await.expect("status");
    let limit_of = |member: &str| {
        status
            .peers
            .iter()
            .find(|peer| peer.member == code(member))
            .and_then(|peer| peer.max_message_bytes)
    };
    assert_eq!(limit_of("CL"), Some(SMALL_LIMIT as u32));
    let default = vigia_node::config::DEFAULT_MAX_MESSAGE_BYTES as u32;
    assert_eq!(limit_of("BR"), Some(default));
    let metrics = ar.metrics().encode();
    let line = format!("vigia_peer_max_message_bytes{{member=\"CL\"}} {SMALL_LIMIT}");
    assert!(metrics.contains(&line), "metrics lack {line}");

    // About 16 KiB: twice what CL takes by gossip.
    let mut large = alert("ar-grande", "Alerta con anexo largo");
    if let Body::Alert(alert) = &mut large {
        alert.description = "ñ".repeat(8_000);
    }
    let sent = Instant::now();
    let reference = ar.publish(large).await.expect("publish");
    let holds = |handle: &vigia_node::NodeHandle, seq: u64| {
        handle
            .heads()
            .expect("heads")
            .get(&code("AR"))
            .map(|head| head.seq)
            >= Some(seq)
    };
    let took = wait_until("CL holds the large entry", Duration::from_secs(15), || {
        holds(&cl, 1)
    })
    .await
    .expect("delivered by sync");
    println!(
        "entry of about 16 KiB reached CL (limit {SMALL_LIMIT} B) in {} ms",
        took.as_millis()
    );
    let held = cl
        .store()
        .entries(code("AR"), 1, 1, 1 << 20)
        .expect("entries");
    assert!(
        held[0].len() > SMALL_LIMIT,
        "the entry was not over CL's limit"
    );
    assert_eq!(cl.heads().expect("heads")[&code("AR")].hash, reference.hash);
    let br = nodes[1].handle();
    wait_until("BR holds it too", Duration::from_secs(15), || holds(&br, 1))
        .await
        .expect("gossiped to BR");

    // Small entries keep flowing to CL afterwards.
    ar.publish(contact("ar-1", "Ana", "García"))
        .await
        .expect("publish");
    wait_until("CL holds the next entry", Duration::from_secs(15), || {
        holds(&cl, 2)
    })
    .await
    .expect("delivered");
    println!(
        "the next small entry followed {} ms after the large one",
        sent.elapsed().as_millis()
    );
    for node in nodes {
        node.shutdown().await.expect("shutdown");
    }
}
