//! A network cut in two keeps working on both sides and converges when healed.

use std::collections::BTreeSet;
use std::time::Duration;

use vigia_protocol::MemberCode;
use vigia_tests::{
    TestNetwork, alert, contact, init_logs, same_heads, wait_until, wait_until_async,
};

fn codes(list: &[&str]) -> BTreeSet<MemberCode> {
    list.iter()
        .map(|code| code.parse().expect("valid code"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partition_two_three_with_writes_on_both_sides_converges_after_heal() {
    init_logs();
    let network = TestNetwork::new(&["AR", "BR", "CL", "CO", "PE"], 7);
    let nodes = network.start_all().await;
    let left = ["AR", "BR"];
    let right = ["CL", "CO", "PE"];
    for (index, node) in nodes.iter().enumerate() {
        let other_side = if index < 2 {
            codes(&right)
        } else {
            codes(&left)
        };
        node.handle()
            .block_members(other_side)
            .await
            .expect("blocked");
    }
    for node in &nodes {
        let handle = node.handle();
        let on_left = left.contains(&handle.member().as_str());
        wait_until_async("the cut is in place", Duration::from_secs(10), || {
            connected_to_own_side_only(&handle, &left, on_left)
        })
        .await
        .expect("partitioned");
    }
    nodes[0]
        .handle()
        .publish(alert("left-1", "Alerta lado izquierdo"))
        .await
        .expect("publish");
    nodes[3]
        .handle()
        .publish(contact("co-1", "Camila", "Ospina Díaz"))
        .await
        .expect("publish");
    nodes[4]
        .handle()
        .publish(alert("right-1", "Alerta lado derecho"))
        .await
        .expect("publish");
    let left_nodes: Vec<_> = nodes[..2].iter().collect();
    let right_nodes: Vec<_> = nodes[2..].iter().collect();
    let side = Duration::from_secs(15);
    wait_until("left side agrees", side, || same_heads(&left_nodes))
        .await
        .expect("left");
    wait_until("right side agrees", side, || same_heads(&right_nodes))
        .await
        .expect("right");
    let left_heads = nodes[0].handle().heads().expect("heads");
    assert!(
        !left_heads.contains_key(&"PE".parse().expect("code")),
        "the cut leaked"
    );

    for node in &nodes {
        node.handle()
            .block_members(BTreeSet::new())
            .await
            .expect("healed");
    }
    let all: Vec<_> = nodes.iter().collect();
    let took = wait_until("all agree after heal", Duration::from_secs(30), || {
        same_heads(&all)
    })
    .await
    .expect("converged after heal");
    println!("converged {} ms after heal", took.as_millis());
    assert_eq!(nodes[1].handle().heads().expect("heads").len(), 3);
    for node in nodes {
        node.shutdown().await.expect("shutdown");
    }
}

/// Whether a node is connected to the nodes of its own side of the cut and to no other.
async fn connected_to_own_side_only(
    handle: &vigia_node::NodeHandle,
    left: &[&str],
    on_left: bool,
) -> bool {
    let Ok(status) = handle.status().await else {
        return false;
    };
    status.peers.iter().all(|peer| {
        let same_side = left.contains(&peer.member.as_str()) == on_left;
        peer.connected == same_side
    })
}
