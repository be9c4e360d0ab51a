//! Sync requests and responses from arbitrary bytes, and what a node does next with them.
//!
//! Every input is decoded both as a request and as a response. Asserts: nothing panics; a
//! decoded message encodes again and decodes to the same value (the encoding of a value is
//! a fixed point); the entries of an `Entries` page go through `verify_entry` as the node
//! puts them; the heads of a `Heads` status go through the sync plan, which asks only for
//! what a peer claims beyond this node's heads.
#![no_main]

use std::collections::BTreeMap;
use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use libp2p::PeerId;
use libp2p::identity::Keypair;
use vigia_fuzz_fixtures::{fixture, sample_status};
use vigia_node::sync_plan::SyncPlan;
use vigia_protocol::MemberCode;
use vigia_protocol::entry::Head;
use vigia_protocol::sync::{
    Request, Response, Status, decode_request, decode_response, encode_request, encode_response,
};
use vigia_protocol::validate::verify_entry;

/// The peer that sent the message.
static PEER: LazyLock<PeerId> = LazyLock::new(|| {
    let keypair = Keypair::ed25519_from_bytes([7; 32]).expect("32 bytes make a key");
    keypair.public().to_peer_id()
});

/// This node's heads: the fixture feeds.
static OURS: LazyLock<BTreeMap<MemberCode, Head>> =
    LazyLock::new(|| sample_status().heads.into_iter().collect());

fn plan_from(status: &Status) {
    let ours = &*OURS;
    let peer = *PEER;
    let mut plan = SyncPlan::default();
    plan.heads_announced(peer, &status.heads);
    for fetch in plan.next_fetches(ours) {
        let have = ours.get(&fetch.author).map_or(0, |head| head.seq);
        assert_eq!(fetch.from_seq, have + 1);
        assert!(plan.best_known(fetch.author) > have);
        // An answer that added nothing: the only peer does not hold what it claimed.
        plan.answered(&peer, fetch.author, fetch.from_seq, have);
        assert_eq!(plan.best_known(fetch.author), have);
    }
}

fn check_request(request: &Request) {
    let bytes = encode_request(request).expect("a decoded request encodes");
    assert_eq!(decode_request(&bytes).as_ref(), Ok(request));
    assert_eq!(encode_request(request).as_ref(), Ok(&bytes));
    if let Request::Heads(status) = request {
        plan_from(status);
    }
}

fn check_response(response: &Response) {
    let bytes = encode_response(response).expect("a decoded response encodes");
    assert_eq!(decode_response(&bytes).as_ref(), Ok(response));
    match response {
        Response::Heads(status) => plan_from(status),
        Response::Entries(entries) => {
            for entry in entries {
                if let Ok(verified) = verify_entry(&fixture().roster, entry) {
                    assert_eq!(&verified.bytes, entry);
                }
            }
        }
        Response::Refused(_) => {}
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = decode_request(data) {
        check_request(&request);
    }
    if let Ok(response) = decode_response(data) {
        check_response(&response);
    }
});
