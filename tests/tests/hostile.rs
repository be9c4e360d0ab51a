//! Forged, misattributed, replayed, reordered and forked entries, and a stranger's node.

use std::collections::BTreeSet;
use std::time::Duration;

use libp2p::identity::Keypair;
use vigia_node::node::Node;
use vigia_protocol::{Body, Entry, Hash, MemberCode, SignedEntry};
use vigia_tests::{
    TestNetwork, contact, free_port, gossip_raw, init_logs, rejected_events, seeded_secret,
    wait_until,
};

const SETTLE: Duration = Duration::from_secs(20);

fn code(text: &str) -> MemberCode {
    text.parse().expect("valid code")
}

/// Signs an entry of `network.members[author]`'s feed.
fn entry(network: &TestNetwork, author: usize, seq: u64, prev: Hash, body: Body) -> SignedEntry {
    let member = &network.members[author];
    Entry {
        network: network.roster.id(),
        author: member.code,
        seq,
        prev,
        issued_at_ms: 1_700_000_000_000 + seq,
        body,
    }
    .sign(&member.signing_key)
    .expect("signs")
}

fn hash_of(signed: &SignedEntry) -> Hash {
    vigia_protocol::entry::hash_of_wire_bytes(&signed.to_bytes().expect("encodes")).expect("hash")
}

fn bytes(signed: &SignedEntry) -> Vec<u8> {
    signed.to_bytes().expect("encodes")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_entries_are_never_stored_reordered_ones_apply_and_forks_are_kept() {
    init_logs();
    // CO's node never runs: its entries reach the others only through AR, as a relay would.
    let network = TestNetwork::new(&["AR", "BR", "CL", "CO"], 5);
    let nodes = network.start_first(3).await;
    let relay = nodes[0].handle();
    let mut watchers: Vec<_> = nodes[1..]
        .iter()
        .map(|node| node.handle().subscribe())
        .collect();

    let first = entry(
        &network,
        3,
        1,
        Hash::ZERO,
        contact("co-1", "Camilo", "Ortiz Ruiz"),
    );
    let second = entry(
        &network,
        3,
        2,
        hash_of(&first),
        contact("co-2", "Lucía", "Díaz"),
    );
    let third = entry(
        &network,
        3,
        3,
        hash_of(&second),
        contact("co-3", "Iván", "Peña"),
    );
    let fork = entry(
        &network,
        3,
        2,
        hash_of(&first),
        contact("co-2", "Otra", "Versión"),
    );
    let mut forged = entry(
        &network,
        3,
        4,
        hash_of(&third),
        contact("co-4", "Falso", "Firma"),
    );
    forged.signature.0[10] ^= 0x01;
    // Claims to be BR's first entry but carries CL's signature.
    let misattributed = {
        let mut claimed = entry(&network, 2, 1, Hash::ZERO, contact("br-x", "No", "Soy"));
        claimed.entry.author = code("BR");
        claimed
    };

    gossip_raw(&nodes[0], &bytes(&first)).await;
    // Reordered: the third arrives before the second.
    gossip_raw(&nodes[0], &bytes(&third)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    gossip_raw(&nodes[0], &bytes(&second)).await;
    gossip_raw(&nodes[0], &bytes(&forged)).await;
    gossip_raw(&nodes[0], &bytes(&misattributed)).await;
    gossip_raw(&nodes[0], &[0xde, 0xad, 0xbe, 0xef]).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    gossip_raw(&nodes[0], &bytes(&fork)).await;
    // A replay carries the same entry hash, hence the same gossip id: gossip refuses it at
    // the source, and a copy that still reached a ledger would be a duplicate there (see
    // node/tests/ledger.rs).
    let replay = relay.gossip_raw(bytes(&first)).await;
    assert!(
        replay.is_err_and(|err| err.to_string().contains("Duplicate")),
        "replay gossiped"
    );

    for node in &nodes[1..] {
        let handle = node.handle();
        wait_until("CO's feed reaches 3 and the fork is kept", SETTLE, || {
            let heads = handle.heads().expect("heads");
            let forks = handle.store().forks().expect("forks");
            heads.get(&code("CO")).map(|head| head.seq) == Some(3) && forks.len() == 1
        })
        .await
        .expect("settled");
        let heads = handle.heads().expect("heads");
        assert_eq!(
            heads[&code("CO")].hash,
            hash_of(&third),
            "reordered entries applied in order"
        );
        assert!(
            !heads.contains_key(&code("BR")),
            "misattributed entry stored"
        );
        let forks = handle.store().forks().expect("forks");
        assert_eq!((forks[0].author, forks[0].seq), (code("CO"), 2));
        assert_eq!(forks[0].conflicting, hash_of(&fork));
        let page = handle
            .store()
            .entries(code("CO"), 1, 10, 1 << 20)
            .expect("entries");
        assert_eq!(
            page,
            vec![bytes(&first), bytes(&second), bytes(&third)],
            "forged stored"
        );
    }
    for watcher in &mut watchers {
        // Forged, misattributed and garbage: three rejections each.
        assert_eq!(rejected_events(watcher), 3);
    }
    for node in nodes {
        node.shutdown().await.expect("shutdown");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_not_in_roster_cannot_connect_or_deliver_even_with_a_member_key() {
    init_logs();
    let network = TestNetwork::new(&["AR", "BR", "CL"], 6);
    let nodes = network.start_first(2).await;
    // CL's genuine signing key on a machine whose node identity the roster does not list.
    let mut setup = network.setup(2);
    let mut secret = seeded_secret(99, "stranger");
    setup.identity = Keypair::ed25519_from_bytes(&mut secret).expect("identity");
    setup.listen = vec![
        format!("/ip4/127.0.0.1/tcp/{}", free_port())
            .parse()
            .expect("addr"),
    ];
    let stranger = Node::start(setup).await.expect("stranger starts");
    let valid = entry(
        &network,
        2,
        1,
        Hash::ZERO,
        contact("cl-1", "Extraño", "Nodo"),
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    let sent = stranger.handle().gossip_raw(bytes(&valid)).await;
    assert!(sent.is_err(), "a stranger's gossip found a subscribed peer");
    tokio::time::sleep(Duration::from_secs(2)).await;

    // The stranger may see its dial complete for an instant before the member drops it (the
    // allow list decides once the handshake reveals the peer id), so what counts is the
    // members' side: they never hold a connection to it, and it never got an answer.
    assert!(
        !stranger.handle().is_ready(),
        "stranger may not publish without peers"
    );
    for node in &nodes {
        let heads = node.handle().heads().expect("heads");
        assert!(
            !heads.contains_key(&code("CL")),
            "stranger's entry reached a member"
        );
        let status = node.handle().status().await.expect("status");
        let cl = status
            .peers
            .iter()
            .find(|peer| peer.member == code("CL"))
            .expect("CL listed");
        assert!(!cl.connected);
    }
    stranger.shutdown().await.expect("shutdown");
    for node in nodes {
        node.shutdown().await.expect("shutdown");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fork_made_on_both_sides_of_a_partition_is_found_when_it_heals() {
    init_logs();
    // CO's node never runs; its key signs two different first entries, one relayed on each
    // side of a cut {AR, BR} | {CL, PE}.
    let network = TestNetwork::new(&["AR", "BR", "CL", "PE", "CO"], 9);
    let nodes = network.start_first(4).await;
    let left: BTreeSet<_> = [code("AR"), code("BR")].into_iter().collect();
    let right: BTreeSet<_> = [code("CL"), code("PE")].into_iter().collect();
    for (index, node) in nodes.iter().enumerate() {
        let other_side = if index < 2 {
            right.clone()
        } else {
            left.clone()
        };
        node.handle().block_members(other_side).await.expect("cut");
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let one = entry(
        &network,
        4,
        1,
        Hash::ZERO,
        contact("co-1", "Una", "Versión"),
    );
    let other = entry(
        &network,
        4,
        1,
        Hash::ZERO,
        contact("co-1", "Otra", "Versión"),
    );
    gossip_raw(&nodes[0], &bytes(&one)).await;
    gossip_raw(&nodes[2], &bytes(&other)).await;
    let (br, pe) = (nodes[1].handle(), nodes[3].handle());
    wait_until("each side holds its version", SETTLE, || {
        let held = |handle: &vigia_node::NodeHandle| {
            handle
                .heads()
                .expect("heads")
                .get(&code("CO"))
                .map(|head| head.hash)
        };
        held(&br) == Some(hash_of(&one)) && held(&pe) == Some(hash_of(&other))
    })
    .await
    .expect("both versions applied");
    for node in &nodes {
        node.handle()
            .block_members(BTreeSet::new())
            .await
            .expect("healed");
    }
    for node in &nodes {
        let handle = node.handle();
        wait_until("the fork is found", SETTLE, || {
            handle.store().forks().expect("forks").len() == 1
        })
        .await
        .expect("fork found after heal");
    }
    assert_eq!(
        br.heads().expect("heads")[&code("CO")].hash,
        hash_of(&one),
        "silent switch"
    );
    assert_eq!(
        pe.heads().expect("heads")[&code("CO")].hash,
        hash_of(&other),
        "silent switch"
    );
    for node in nodes {
        node.shutdown().await.expect("shutdown");
    }
}
