//! `GET /v1/heads` and `PUT /v1/admin/blocked-members`: what testnet verify and partition use.

mod api_support;

use api_support::{As, Network, eventually, institution};
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn heads_name_every_feed_and_the_digest_follows_the_directory() {
    let network = Network::single();
    let node = network.start(0).await;
    let client = &node.client;
    let before = client.get("/v1/heads").await;
    assert_eq!(before["heads"], json!({}));
    let empty_digest = before["directory_digest"]
        .as_str()
        .expect("digest")
        .to_owned();
    assert_eq!(empty_digest.len(), 64);
    client
        .put(
            "/v1/institutions/PE/pnp",
            institution("Policía Nacional", "police"),
        )
        .await;
    let after = client.get("/v1/heads").await;
    assert_eq!(after["heads"]["PE"]["seq"], 1);
    let held = node.node.handle().heads().expect("heads");
    let pe = "PE".parse().expect("code");
    assert_eq!(after["heads"]["PE"]["hash"], held[&pe].hash.to_hex());
    assert_ne!(
        after["directory_digest"],
        empty_digest.as_str(),
        "digest ignores the directory"
    );
    let nobody = client
        .call(Method::GET, "/v1/heads", As::Nobody, None)
        .await;
    assert_eq!(nobody.status, StatusCode::UNAUTHORIZED);
    node.stop().await;
}

#[tokio::test]
async fn blocking_members_needs_admin_names_bad_members_and_cuts_the_peer() {
    let network = Network::new(&[("PE", "Perú"), ("CL", "Chile")]);
    let pe = network.start(0).await;
    let cl = network.start(1).await;
    pe.wait_ready().await;
    let client = &pe.client;
    let path = "/v1/admin/blocked-members";
    let focal = client
        .call(
            Method::PUT,
            path,
            As::Focal,
            Some(json!({"members": ["CL"]})),
        )
        .await;
    assert_eq!(focal.status, StatusCode::FORBIDDEN);
    for (members, field) in [
        (json!(["XX"]), "members[0]"),
        (json!(["CL", "PE"]), "members[1]"),
    ] {
        let answer = client
            .call(
                Method::PUT,
                path,
                As::Admin,
                Some(json!({ "members": members })),
            )
            .await;
        assert_eq!(
            answer.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            answer.text
        );
        assert_eq!(answer.field(), field);
    }
    let blocked = client
        .call(
            Method::PUT,
            path,
            As::Admin,
            Some(json!({"members": ["CL"]})),
        )
        .await;
    assert_eq!(blocked.status, StatusCode::OK, "{}", blocked.text);
    assert_eq!(blocked.json()["blocked"], json!(["CL"]));
    api_support::eventually("CL is unreachable", || async {
        let network = client.get("/v1/network").await;
        let members = network["members"].as_array().cloned().unwrap_or_default();
        members
            .iter()
            .any(|member| member["member"] == "CL" && member["reachable"] == false)
    })
    .await;
    let healed = client
        .call(Method::PUT, path, As::Admin, Some(json!({"members": []})))
        .await;
    assert_eq!(healed.status, StatusCode::OK);
    api_support::eventually("CL is reachable again", || async {
        let network = client.get("/v1/network").await;
        let members = network["members"].as_array().cloned().unwrap_or_default();
        members
            .iter()
            .any(|member| member["member"] == "CL" && member["reachable"] == true)
    })
    .await;
    cl.stop().await;
    pe.stop().await;
}

/// `last_seen` of `member` in `/v1/network`, in ms since the epoch, and whether it is
/// reachable.
async fn seen(client: &api_support::Client, member: &str) -> (Option<u64>, bool) {
    let network = client.get("/v1/network").await;
    let view = network["members"]
        .as_array()
        .expect("members")
        .iter()
        .find(|view| view["member"] == member)
        .expect("member listed")
        .clone();
    let last_seen = view["last_seen"]
        .as_str()
        .map(|text| vigia_node::api::time::parse(text).expect("RFC 3339"));
    (last_seen, view["reachable"] == true)
}

#[tokio::test]
async fn last_seen_follows_pings_while_connected_and_stops_at_the_last_contact() {
    let network = Network::new(&[("PE", "Perú"), ("CL", "Chile")]);
    let pe = network.start(0).await;
    let cl = network.start(1).await;
    pe.wait_ready().await;
    let client = pe.client.clone();
    let (first, reachable) = seen(&client, "CL").await;
    let first = first.expect("CL seen on connecting");
    assert!(reachable);
    eventually("answered pings move last_seen on a quiet network", || {
        let client = client.clone();
        async move { seen(&client, "CL").await.0.is_some_and(|at| at > first) }
    })
    .await;

    // Cutting CL off closes the connection from this side: a close that is not contact,
    // as when a killed peer's connection times out. Until the block is in place CL may
    // still be heard (a ping, a heads exchange), so the reference time is taken once the
    // node has applied it; the connection closes after that.
    let blocked = client
        .call(
            Method::PUT,
            "/v1/admin/blocked-members",
            As::Admin,
            Some(json!({"members": ["CL"]})),
        )
        .await;
    assert_eq!(blocked.status, StatusCode::OK, "{}", blocked.text);
    let cut_at = now_ms();
    eventually("CL is unreachable", || {
        let client = client.clone();
        async move { !seen(&client, "CL").await.1 }
    })
    .await;
    let (last, _) = seen(&client, "CL").await;
    let last = last.expect("still shown");
    assert!(
        last <= cut_at,
        "last_seen ({last}) moved when the connection closed, after CL was cut off ({cut_at})"
    );
    cl.stop().await;
    pe.stop().await;
}

fn now_ms() -> u64 {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970");
    u64::try_from(since_epoch.as_millis()).expect("ms fit")
}
