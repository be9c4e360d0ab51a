//! Alerts through the local API: issuing, listing, reading with every recipient's status,
//! acknowledging, the event stream across two nodes, and the network view.

mod api_support;

use api_support::{As, Network, TestNode, alert, eventually};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn two_nodes() -> (Network, TestNode, TestNode) {
    let network = Network::new(&[("PE", "Perú"), ("BR", "Brasil")]);
    let pe = network.start(0).await;
    let br = network.start(1).await;
    pe.wait_ready().await;
    br.wait_ready().await;
    (network, pe, br)
}

#[tokio::test]
async fn an_alert_issued_on_one_node_streams_to_the_other_and_its_acknowledgement_returns() {
    let (_network, pe, br) = two_nodes().await;
    let mut br_events = br.client.events().await;
    let mut pe_events = pe.client.events().await;

    let issued = pe
        .client
        .post("/v1/alerts", alert("Alerta de frontera"))
        .await;
    let seq = issued["seq"].as_u64().expect("seq");
    assert_eq!(issued["status"], "active");
    assert_eq!(issued["not_acknowledged"], json!(["BR"]));
    assert_eq!(issued["acknowledgements"][0]["acknowledged"], false);

    let received = br_events.next_named("alert").await;
    assert_eq!(received.data["title"], "Alerta de frontera");
    assert_eq!(received.data["addressed_to_us"], true);
    assert_eq!(received.id.as_deref(), Some(format!("PE/{seq}").as_str()));
    assert_eq!(pe_events.next_named("alert").await.data["seq"], seq);

    let waiting = br.client.get("/v1/alerts?unacknowledged=true").await;
    assert_eq!(waiting["total"], 1);
    let path = format!("/v1/alerts/PE/{seq}/ack");
    let ack = br
        .client
        .call(
            Method::POST,
            &path,
            As::Focal,
            Some(json!({ "note": "Recibido, patrullas alertadas" })),
        )
        .await;
    assert_eq!(ack.status, StatusCode::CREATED, "{}", ack.text);
    assert_eq!(ack.json()["member"], "BR");
    let twice = br
        .client
        .call(Method::POST, &path, As::Focal, Some(json!({})))
        .await;
    assert_eq!(twice.status, StatusCode::CONFLICT);
    assert_eq!(
        br.client.get("/v1/alerts?unacknowledged=true").await["total"],
        0
    );

    let streamed = pe_events.next_named("acknowledgement").await;
    assert_eq!(streamed.data["member"], "BR");
    assert_eq!(streamed.data["alert"]["seq"], seq);
    assert_eq!(streamed.data["note"], "Recibido, patrullas alertadas");
    let detail = pe.client.get(&format!("/v1/alerts/PE/{seq}")).await;
    assert_eq!(detail["acknowledged"], 1);
    assert_eq!(detail["not_acknowledged"], json!([]));
    let br_status = &detail["acknowledgements"][0];
    assert_eq!(br_status["member"], "BR");
    assert_eq!(br_status["name"], "Brasil");
    assert_eq!(br_status["acknowledged"], true);
    br.stop().await;
    pe.stop().await;
}

#[tokio::test]
async fn the_network_view_shows_each_member_reachable_and_caught_up() {
    let (_network, pe, br) = two_nodes().await;
    br.client.post("/v1/alerts", alert("Prueba")).await;
    let client = pe.client.clone();
    eventually("PE holds BR's alert", || {
        let client = client.clone();
        async move { client.get("/v1/alerts?from=BR").await["total"] == 1 }
    })
    .await;
    let network = pe.client.get("/v1/network").await;
    assert_eq!(network["member"], "PE");
    assert_eq!(network["ready"], true);
    let members = network["members"].as_array().expect("members");
    let by_code = |code: &str| {
        members
            .iter()
            .find(|member| member["member"] == code)
            .expect("member listed")
            .clone()
    };
    let (own, other) = (by_code("PE"), by_code("BR"));
    assert_eq!(own["self"], true);
    assert_eq!(other["reachable"], true);
    assert_eq!(other["latest_seq"], 1);
    assert_eq!(other["behind"], 0);
    assert_eq!(other["forks"], json!([]));
    assert!(other["last_seen"].is_string(), "{other}");
    assert_eq!(other["nodes"][0]["connected"], true);
    let no_token = pe
        .client
        .call(Method::GET, "/v1/network", As::Nobody, None)
        .await;
    assert_eq!(no_token.status, StatusCode::UNAUTHORIZED);
    br.stop().await;
    pe.stop().await;
}

#[tokio::test]
async fn alerts_are_listed_filtered_updated_and_cancelled() {
    let network = Network::single();
    let node = network.start(0).await;
    let client = &node.client;
    let mut minor = alert("Aviso menor");
    minor["severity"] = json!("minor");
    minor["id"] = json!("aviso-1");
    let first = client.post("/v1/alerts", minor).await;
    let second = client.post("/v1/alerts", alert("Alerta grave")).await;
    assert_eq!(first["id"], "aviso-1");
    assert!(second["id"].as_str().expect("id").starts_with("a-"));

    let all = client.get("/v1/alerts").await;
    assert_eq!(all["total"], 2);
    assert_eq!(all["items"][0]["title"], "Alerta grave", "newest first");
    let minors = client.get("/v1/alerts?severity=minor&from=PE").await;
    assert_eq!(minors["total"], 1);
    assert_eq!(client.get("/v1/alerts?from=BR").await["total"], 0);

    let mut cancel = alert("Se cancela el aviso");
    cancel["references"] = json!({ "relation": "cancels", "seq": first["seq"] });
    let cancelling = client.post("/v1/alerts", cancel).await;
    assert_eq!(cancelling["references"]["seq"], first["seq"]);
    let cancelled = client.get(&format!("/v1/alerts/PE/{}", first["seq"])).await;
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(cancelled["superseded_by"]["seq"], cancelling["seq"]);
    let active = client.get("/v1/alerts?active=true").await;
    assert_eq!(
        active["total"], 1,
        "a cancellation is not in force: {active}"
    );
    assert_eq!(active["items"][0]["title"], "Alerta grave");
    let inactive = client.get("/v1/alerts?active=false").await;
    assert_eq!(inactive["total"], 2);
    let page = client.get("/v1/alerts?per_page=1&page=2").await;
    assert_eq!(page["items"].as_array().expect("items").len(), 1);
    node.stop().await;
}

#[tokio::test]
async fn a_cancellation_withdraws_the_alert_everywhere_and_asks_no_acknowledgement() {
    let (_network, pe, br) = two_nodes().await;
    let mut br_events = br.client.events().await;
    let first = pe.client.post("/v1/alerts", alert("Vehículo robado")).await;
    let seq = first["seq"].as_u64().expect("seq");
    assert_eq!(first["kind"], "alert");
    assert_eq!(
        first["to_acknowledge"], false,
        "the author acknowledges nothing"
    );
    assert_eq!(
        br_events.next_named("alert").await.data["to_acknowledge"],
        true
    );

    let mut cancel = json!({ "title": "Vehículo recuperado", "severity": "minor" });
    for field in [
        "urgency",
        "certainty",
        "tlp",
        "recipients",
        "expires_in_minutes",
    ] {
        cancel[field] = alert("")[field].clone();
    }
    cancel["references"] = json!({ "relation": "cancels", "seq": seq });
    let cancelling = pe.client.post("/v1/alerts", cancel).await;
    let cancel_seq = cancelling["seq"].as_u64().expect("seq");
    assert_eq!(cancelling["kind"], "cancel");
    assert_eq!(cancelling["status"], "cancellation");
    assert_eq!(cancelling["expected"], 0);
    assert_eq!(cancelling["not_acknowledged"], json!([]));
    assert_eq!(cancelling["acknowledgements"], json!([]));

    let streamed = br_events.next_named("alert").await.data;
    assert_eq!(streamed["kind"], "cancel");
    assert_eq!(streamed["status"], "cancellation");
    assert_eq!(streamed["references"]["seq"], seq);
    assert_eq!(streamed["addressed_to_us"], false);
    assert_eq!(streamed["to_acknowledge"], false);

    let cancelled = br.client.get(&format!("/v1/alerts/PE/{seq}")).await;
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(cancelled["superseded_by"]["seq"], cancel_seq);
    assert_eq!(cancelled["to_acknowledge"], false);
    let waiting = br.client.get("/v1/alerts?unacknowledged=true").await;
    assert_eq!(waiting["total"], 0, "{waiting}");
    assert_eq!(br.client.get("/v1/alerts?active=true").await["total"], 0);
    for refused in [seq, cancel_seq] {
        let path = format!("/v1/alerts/PE/{refused}/ack");
        let answer = br
            .client
            .call(Method::POST, &path, As::Focal, Some(json!({})))
            .await;
        assert_eq!(answer.status, StatusCode::CONFLICT, "{}", answer.text);
    }
    br.stop().await;
    pe.stop().await;
}

#[tokio::test]
async fn an_update_replaces_the_alert_and_asks_for_acknowledgement_itself() {
    let (_network, pe, br) = two_nodes().await;
    let first = pe.client.post("/v1/alerts", alert("Vehículo robado")).await;
    let seq = first["seq"].as_u64().expect("seq");
    let mut update = alert("Vehículo robado: nueva placa");
    update["references"] = json!({ "relation": "updates", "seq": seq });
    let updating = pe.client.post("/v1/alerts", update).await;
    assert_eq!(updating["kind"], "update");
    assert_eq!(updating["status"], "active");
    assert_eq!(updating["not_acknowledged"], json!(["BR"]));
    let update_seq = updating["seq"].as_u64().expect("seq");

    let client = br.client.clone();
    eventually("BR holds the update", || {
        let client = client.clone();
        async move { client.get("/v1/alerts?from=PE").await["total"] == 2 }
    })
    .await;
    let waiting = br.client.get("/v1/alerts?unacknowledged=true").await;
    assert_eq!(waiting["total"], 1, "{waiting}");
    assert_eq!(waiting["items"][0]["seq"], update_seq);
    let updated = br.client.get(&format!("/v1/alerts/PE/{seq}")).await;
    assert_eq!(updated["status"], "updated");
    assert_eq!(updated["to_acknowledge"], false);
    let path = format!("/v1/alerts/PE/{seq}/ack");
    let answer = br
        .client
        .call(Method::POST, &path, As::Focal, Some(json!({})))
        .await;
    assert_eq!(answer.status, StatusCode::CONFLICT, "{}", answer.text);
    assert!(
        answer.text.contains(&format!("PE/{update_seq}")),
        "{}",
        answer.text
    );
    br.stop().await;
    pe.stop().await;
}

#[tokio::test]
async fn bad_alerts_and_acknowledgements_are_refused_and_nothing_is_published() {
    let network = Network::single();
    let node = network.start(0).await;
    let client = &node.client;
    let issued = client.post("/v1/alerts", alert("Base")).await;
    let heads = || format!("{:?}", node.node.handle().heads().expect("heads"));
    let before = heads();
    let change = |key: &str, value: Value| {
        let mut body = alert("Mala");
        if value.is_null() {
            body.as_object_mut().expect("object").remove(key);
        } else {
            body[key] = value;
        }
        body
    };
    let cases = [
        (
            change("severity", json!("apocalyptic")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "severity",
        ),
        (
            change("expires_in_minutes", Value::Null),
            StatusCode::UNPROCESSABLE_ENTITY,
            "expires_at",
        ),
        (
            change("expires_at", json!("2030-01-01T00:00:00Z")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "expires_in_minutes",
        ),
        (
            {
                let mut body = change("expires_in_minutes", Value::Null);
                body["expires_at"] = json!("9999-12-31T23:59:59Z");
                body
            },
            StatusCode::UNPROCESSABLE_ENTITY,
            "expires_at",
        ),
        (
            change("expires_in_minutes", json!(0)),
            StatusCode::UNPROCESSABLE_ENTITY,
            "expires_in_minutes",
        ),
        (
            change("respond_in_minutes", json!(500)),
            StatusCode::UNPROCESSABLE_ENTITY,
            "respond_by",
        ),
        (
            change("recipients", json!(["ZZ"])),
            StatusCode::UNPROCESSABLE_ENTITY,
            "recipients[0]",
        ),
        (
            change("recipients", json!("everyone")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "recipients",
        ),
        (
            change("title", json!("   ")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "title",
        ),
        (
            change("title", json!("\u{feff}\u{200b}")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "title",
        ),
        (
            change("title", json!("Alerta \u{202e}atrela")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "title",
        ),
        (
            change("references", json!({ "relation": "updates", "seq": 99 })),
            StatusCode::UNPROCESSABLE_ENTITY,
            "references.seq",
        ),
        (
            change("id", issued["id"].clone()),
            StatusCode::CONFLICT,
            "id",
        ),
        (
            change("colour", json!("red")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "",
        ),
    ];
    for (body, status, field) in cases {
        let answer = client
            .call(Method::POST, "/v1/alerts", As::Focal, Some(body.clone()))
            .await;
        assert_eq!(answer.status, status, "{body}: {}", answer.text);
        if !field.is_empty() {
            assert_eq!(answer.field(), field, "{}", answer.text);
        }
    }
    let mut past = alert("Pasada");
    past.as_object_mut()
        .expect("object")
        .remove("expires_in_minutes");
    past.as_object_mut()
        .expect("object")
        .remove("respond_in_minutes");
    past["expires_at"] = json!("2020-01-01T00:00:00Z");
    let answer = client
        .call(Method::POST, "/v1/alerts", As::Focal, Some(past))
        .await;
    assert_eq!(
        answer.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        answer.text
    );
    assert_eq!(answer.field(), "expires_at");

    let seq = issued["seq"].as_u64().expect("seq");
    let own = client
        .call(
            Method::POST,
            &format!("/v1/alerts/PE/{seq}/ack"),
            As::Focal,
            None,
        )
        .await;
    assert_eq!(
        own.status,
        StatusCode::CONFLICT,
        "an own alert needs no acknowledgement"
    );
    let missing = client
        .call(Method::POST, "/v1/alerts/PE/999/ack", As::Focal, None)
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let bad_seq = client
        .call(Method::GET, "/v1/alerts/PE/first", As::Focal, None)
        .await;
    assert_eq!(bad_seq.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad_seq.field(), "seq");
    let no_token = client
        .call(Method::POST, "/v1/alerts", As::Nobody, Some(alert("X")))
        .await;
    assert_eq!(no_token.status, StatusCode::UNAUTHORIZED);
    let filter = client
        .call(Method::GET, "/v1/alerts?severity=huge", As::Focal, None)
        .await;
    assert_eq!(filter.status, StatusCode::BAD_REQUEST);
    assert_eq!(filter.field(), "severity");
    assert_eq!(heads(), before);
    node.stop().await;
}

#[tokio::test]
async fn an_acknowledgement_with_a_bad_note_names_the_field() {
    let (_network, pe, br) = two_nodes().await;
    let seq = pe.client.post("/v1/alerts", alert("Nota")).await["seq"]
        .as_u64()
        .expect("seq");
    let client = br.client.clone();
    eventually("BR holds PE's alert", || {
        let client = client.clone();
        async move { client.get("/v1/alerts?from=PE").await["total"] == 1 }
    })
    .await;
    let path = format!("/v1/alerts/PE/{seq}/ack");
    let bell = br
        .client
        .call(
            Method::POST,
            &path,
            As::Focal,
            Some(json!({ "note": "campana \u{7}" })),
        )
        .await;
    assert_eq!(
        bell.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        bell.text
    );
    assert_eq!(bell.field(), "note");
    let plain = br.client.call(Method::POST, &path, As::Focal, None).await;
    assert_eq!(
        plain.status,
        StatusCode::CREATED,
        "an empty body acknowledges without a note"
    );
    br.stop().await;
    pe.stop().await;
}
