//! The directory through the local API: putting and removing institutions and contacts,
//! reading them back, searching across languages, and every way a request is refused
//! (no token, wrong role, another member's records, bad input) without anything applied.

mod api_support;

use api_support::{As, Network, TestNode, contact, institution};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn node_with_institution() -> (Network, TestNode) {
    let network = Network::single();
    let node = network.start(0).await;
    node.client
        .put(
            "/v1/institutions/PE/pnp",
            institution("Policía Nacional del Perú", "police"),
        )
        .await;
    (network, node)
}

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|item| item["id"].as_str().expect("id").to_owned())
        .collect()
}

#[tokio::test]
async fn put_then_get_then_delete_a_contact() {
    let (_network, node) = node_with_institution().await;
    let client = &node.client;
    let body = contact("José María", "Quispe Mamani", "pnp");
    let created = client
        .call(
            Method::PUT,
            "/v1/contacts/PE/jose",
            As::Admin,
            Some(body.clone()),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let contact = created.json();
    assert_eq!(contact["member"], "PE");
    assert_eq!(contact["institution"]["kind"], "police");
    let seq = contact["entry"]["seq"].as_u64().expect("seq");

    let again = client
        .call(Method::PUT, "/v1/contacts/pe/jose", As::Admin, Some(body))
        .await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(
        again.json()["entry"]["seq"],
        seq,
        "an unchanged put publishes nothing"
    );

    let read = client.get("/v1/contacts/PE/jose").await;
    assert_eq!(read["given_names"], "José María");
    // What was read can be sent back as it is.
    let mut edited = read.clone();
    edited["role"] = json!("Jefe de guardia");
    let updated = client.put("/v1/contacts/PE/jose", edited).await;
    assert_eq!(updated["role"], "Jefe de guardia");
    assert_eq!(updated["entry"]["seq"], seq + 1);

    let removed = client
        .call(Method::DELETE, "/v1/contacts/PE/jose", As::Admin, None)
        .await;
    assert_eq!(removed.status, StatusCode::OK, "{}", removed.text);
    assert_eq!(removed.json()["entry"]["seq"], seq + 2);
    let gone = client
        .call(Method::GET, "/v1/contacts/PE/jose", As::Focal, None)
        .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    assert_eq!(gone.code(), "not_found");
    node.stop().await;
}

#[tokio::test]
async fn institutions_are_listed_filtered_and_protected_while_in_use() {
    let (_network, node) = node_with_institution().await;
    let client = &node.client;
    client
        .put(
            "/v1/institutions/PE/uif",
            institution(
                "Unidad de Inteligencia Financiera",
                "financial_intelligence_unit",
            ),
        )
        .await;
    client
        .put("/v1/contacts/PE/ana", contact("Ana", "Rojas", "uif"))
        .await;
    let all = client.get("/v1/institutions").await;
    assert_eq!(all["total"], 2);
    let fiu = client
        .get("/v1/institutions?kind=financial_intelligence_unit&member=PE")
        .await;
    assert_eq!(ids(&fiu), ["uif"]);
    assert_eq!(fiu["items"][0]["contacts"], 1);
    let by_text = client.get("/v1/institutions?q=policia%20nacional").await;
    assert_eq!(ids(&by_text), ["pnp"]);
    let one = client.get("/v1/institutions/PE/uif").await;
    assert_eq!(one["names"]["en"], "Unidad de Inteligencia Financiera (en)");

    let in_use = client
        .call(Method::DELETE, "/v1/institutions/PE/uif", As::Admin, None)
        .await;
    assert_eq!(in_use.status, StatusCode::CONFLICT, "{}", in_use.text);
    client
        .call(Method::DELETE, "/v1/contacts/PE/ana", As::Admin, None)
        .await;
    let removed = client
        .call(Method::DELETE, "/v1/institutions/PE/uif", As::Admin, None)
        .await;
    assert_eq!(removed.status, StatusCode::OK, "{}", removed.text);
    assert_eq!(client.get("/v1/institutions").await["total"], 1);
    node.stop().await;
}

#[tokio::test]
async fn search_ignores_case_and_accents_in_four_languages() {
    // A node writes only its own member's directory, so every person here is PE's; search
    // reads whatever the store holds, whoever wrote it.
    let network = Network::single();
    let node = network.start(0).await;
    let client = &node.client;
    client
        .put(
            "/v1/institutions/PE/sp",
            institution("Polícia Civil de São Paulo", "police"),
        )
        .await;
    client
        .put(
            "/v1/institutions/PE/qc",
            institution("Sûreté du Québec", "police"),
        )
        .await;
    let people = [
        ("jose", "José Ignacio", "Núñez Peña", "sp"),
        ("joao", "João", "Gonçalves", "sp"),
        ("francois", "François", "Lefèvre-Côté", "qc"),
        ("mary", "Mary-Ann", "O'Connor", "qc"),
    ];
    for (id, given, family, institution_id) in people {
        client
            .put(
                &format!("/v1/contacts/PE/{id}"),
                contact(given, family, institution_id),
            )
            .await;
    }
    let cases = [
        ("jose peru", vec!["jose"]),
        ("NUNEZ", vec!["jose"]),
        ("pena jose", vec!["jose"]),
        ("sao paulo", vec!["jose", "joao"]),
        ("JOÃO GONCALVES", vec!["joao"]),
        ("francois lefevre", vec!["francois"]),
        ("quebec cote", vec!["francois"]),
        ("surete", vec!["francois", "mary"]),
        ("mary ann o'connor", vec!["mary"]),
        ("connor", vec!["mary"]),
        ("jo", vec!["joao", "jose"]),
    ];
    for (query, expected) in cases {
        let path = format!(
            "/v1/contacts?q={}",
            query.replace(' ', "%20").replace('\'', "%27")
        );
        let mut found = ids(&client.get(&path).await);
        let mut expected: Vec<String> = expected.iter().map(|id| (*id).to_owned()).collect();
        found.sort();
        expected.sort();
        assert_eq!(found, expected, "query {query:?}");
    }
    node.stop().await;
}

#[tokio::test]
async fn search_filters_rank_and_pages() {
    let (_network, node) = node_with_institution().await;
    let client = &node.client;
    for n in 0..7 {
        let mut body = contact("Martín", &format!("Rojas {n}"), "pnp");
        if n % 2 == 1 {
            body["always_on"] = json!(false);
            body["hours"] = json!({ "time_zone": "America/Lima", "from": "08:00", "to": "17:00" });
            body["languages"] = json!(["es", "qu"]);
        }
        client.put(&format!("/v1/contacts/PE/m{n}"), body).await;
    }
    let mut named = contact("Ana", "Martínez", "pnp");
    named["role"] = json!("Fiscal adjunta");
    client.put("/v1/contacts/PE/ana", named).await;

    let ranked = client.get("/v1/contacts?q=martin&per_page=3").await;
    assert_eq!(ranked["total"], 8);
    assert_eq!(ranked["items"].as_array().expect("items").len(), 3);
    assert!(ranked["items"][0]["score"].as_u64() > Some(0));
    let last = client.get("/v1/contacts?q=martin&per_page=3&page=3").await;
    assert_eq!(last["items"].as_array().expect("items").len(), 2);

    let quechua = client.get("/v1/contacts?language=qu").await;
    assert_eq!(quechua["total"], 3);
    let office = client.get("/v1/contacts?always_on=false&member=pe").await;
    assert_eq!(office["total"], 3);
    assert_eq!(office["items"][0]["hours"]["time_zone"], "America/Lima");
    let fiscal = client.get("/v1/contacts?role=fiscal&kind=police").await;
    assert_eq!(ids(&fiscal), ["ana"]);
    let customs = client.get("/v1/contacts?kind=customs").await;
    assert_eq!(customs["total"], 0);
    node.stop().await;
}

#[tokio::test]
async fn missing_and_unknown_tokens_get_401_and_focal_points_cannot_write() {
    let (network, node) = node_with_institution().await;
    let client = &node.client;
    let no_token = client
        .call(Method::GET, "/v1/contacts", As::Nobody, None)
        .await;
    assert_eq!(no_token.status, StatusCode::UNAUTHORIZED);
    assert_eq!(no_token.code(), "unauthorized");
    let forged = client
        .send(
            client
                .request(Method::GET, "/v1/contacts", As::Nobody)
                .bearer_auth("vigia_00"),
        )
        .await;
    assert_eq!(forged.status, StatusCode::UNAUTHORIZED);

    let body = contact("Ana", "Rojas", "pnp");
    let focal = client
        .call(
            Method::PUT,
            "/v1/contacts/PE/ana",
            As::Focal,
            Some(body.clone()),
        )
        .await;
    assert_eq!(focal.code(), "forbidden");
    assert_eq!(focal.status, StatusCode::FORBIDDEN);
    for (method, path) in [
        (Method::DELETE, "/v1/institutions/PE/pnp"),
        (Method::PUT, "/v1/institutions/PE/x"),
        (Method::POST, "/v1/import"),
    ] {
        let answer = client
            .call(method.clone(), path, As::Focal, Some(json!({})))
            .await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{method} {path}");
    }

    // Another member's records change on that member's node only.
    let other_member = client
        .call(Method::PUT, "/v1/contacts/AR/ana", As::Admin, Some(body))
        .await;
    assert_eq!(other_member.status, StatusCode::FORBIDDEN);

    // A revoked token stops working at once, while the node runs.
    let tokens = vigia_node::tokens::TokenStore::new(network.tokens_path(0));
    tokens.revoke("focal").expect("revoke");
    let revoked = client
        .call(Method::GET, "/v1/contacts", As::Focal, None)
        .await;
    assert_eq!(revoked.status, StatusCode::UNAUTHORIZED);
    let admin = client
        .call(Method::GET, "/v1/contacts", As::Admin, None)
        .await;
    assert_eq!(admin.json()["total"], 0, "nothing was applied");
    node.stop().await;
}

#[tokio::test]
async fn bad_input_names_the_field_and_applies_nothing() {
    let (_network, node) = node_with_institution().await;
    let client = &node.client;
    let head = || node.node.handle().heads().expect("heads");
    let before = head();
    let mut cases: Vec<(Value, StatusCode, &str)> = Vec::new();
    let mut bad_phone = contact("Ana", "Rojas", "pnp");
    bad_phone["phones"] = json!(["+5114181234", "014181234"]);
    cases.push((bad_phone, StatusCode::UNPROCESSABLE_ENTITY, "phones[1]"));
    let mut missing = contact("Ana", "Rojas", "pnp");
    missing
        .as_object_mut()
        .expect("object")
        .remove("given_names");
    cases.push((missing, StatusCode::UNPROCESSABLE_ENTITY, ""));
    let mut wrong_type = contact("Ana", "Rojas", "pnp");
    wrong_type["emails"] = json!("not-a-list");
    cases.push((wrong_type, StatusCode::UNPROCESSABLE_ENTITY, "emails"));
    let mut typo = contact("Ana", "Rojas", "pnp");
    typo["telefonos"] = json!([]);
    cases.push((typo, StatusCode::UNPROCESSABLE_ENTITY, ""));
    let unknown_institution = contact("Ana", "Rojas", "nada");
    cases.push((
        unknown_institution,
        StatusCode::UNPROCESSABLE_ENTITY,
        "institution_id",
    ));
    let mut hours = contact("Ana", "Rojas", "pnp");
    hours["always_on"] = json!(false);
    hours["hours"] = json!({ "time_zone": "America/Lima", "from": "8:00", "to": "17:00" });
    cases.push((hours, StatusCode::UNPROCESSABLE_ENTITY, "hours.from"));
    let mut no_hours = contact("Ana", "Rojas", "pnp");
    no_hours["always_on"] = json!(false);
    cases.push((no_hours, StatusCode::UNPROCESSABLE_ENTITY, "hours"));
    let invisible = contact("\u{200b}\u{200d}", "Rojas", "pnp");
    cases.push((invisible, StatusCode::UNPROCESSABLE_ENTITY, "given_names"));
    let overridden = contact("Ana", "Rojas\u{202e}sarom", "pnp");
    cases.push((overridden, StatusCode::UNPROCESSABLE_ENTITY, "family_names"));
    let mut other_id = contact("Ana", "Rojas", "pnp");
    other_id["id"] = json!("otra");
    cases.push((other_id, StatusCode::UNPROCESSABLE_ENTITY, "id"));
    for (body, status, field) in cases {
        let answer = client
            .call(
                Method::PUT,
                "/v1/contacts/PE/ana",
                As::Admin,
                Some(body.clone()),
            )
            .await;
        assert_eq!(answer.status, status, "{body}: {}", answer.text);
        if !field.is_empty() {
            assert_eq!(answer.field(), field, "{}", answer.text);
        }
        assert!(
            !answer.json()["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .is_empty()
        );
    }
    let missing = client
        .call(
            Method::PUT,
            "/v1/contacts/PE/ana",
            As::Admin,
            Some(json!({ "family_names": "R" })),
        )
        .await;
    assert!(
        missing.json()["error"]["message"]
            .as_str()
            .expect("message")
            .contains("given_names")
    );

    let bad_id = client
        .call(
            Method::PUT,
            "/v1/contacts/PE/a%20b",
            As::Admin,
            Some(contact("A", "B", "pnp")),
        )
        .await;
    assert_eq!(bad_id.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad_id.field(), "id");

    let bad_kind = client
        .call(
            Method::PUT,
            "/v1/institutions/PE/x",
            As::Admin,
            Some(institution("X", "navy")),
        )
        .await;
    assert_eq!(bad_kind.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad_kind.field(), "kind");
    let mut isolated = institution("X", "police");
    isolated["names"]["en"] = json!("\u{2067}X\u{2069}");
    let bidi_name = client
        .call(
            Method::PUT,
            "/v1/institutions/PE/x",
            As::Admin,
            Some(isolated),
        )
        .await;
    assert_eq!(bidi_name.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bidi_name.field(), "names.en", "{}", bidi_name.text);
    assert!(bidi_name.text.contains("U+2067"), "{}", bidi_name.text);

    let not_json = client
        .send(
            client
                .request(Method::PUT, "/v1/contacts/PE/ana", As::Admin)
                .header("content-type", "application/json")
                .body("{not json"),
        )
        .await;
    assert_eq!(not_json.status, StatusCode::BAD_REQUEST);
    let form = client
        .send(
            client
                .request(Method::PUT, "/v1/contacts/PE/ana", As::Admin)
                .header("content-type", "application/x-www-form-urlencoded")
                .body("a=b"),
        )
        .await;
    assert_eq!(form.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let mut huge = contact("Ana", "Rojas", "pnp");
    huge["notes"] = json!("x".repeat(api_support::MAX_BODY_BYTES + 1));
    let too_large = client
        .call(Method::PUT, "/v1/contacts/PE/ana", As::Admin, Some(huge))
        .await;
    assert_eq!(too_large.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(too_large.code(), "body_too_large");

    for (path, field) in [
        ("/v1/contacts?per_page=0", "per_page"),
        ("/v1/contacts?page=x", "page"),
        ("/v1/contacts?member=PER", "member"),
        ("/v1/contacts?kind=navy", "kind"),
        ("/v1/contacts?always_on=maybe", "always_on"),
        ("/v1/contacts?language=spa", "language"),
        ("/v1/contacts?colour=red", "colour"),
        ("/v1/contacts?q=a&q=b", "q"),
        // Searches for nothing would list everything.
        ("/v1/contacts?q=%FF%FE", "q"),
        ("/v1/contacts?q=%00", "q"),
        ("/v1/contacts?q=%E2%80%8B", "q"),
        ("/v1/contacts?q=--", "q"),
        ("/v1/institutions?q=%E2%80%8B", "q"),
        ("/v1/institutions?q=%C3", "q"),
    ] {
        let answer = client.call(Method::GET, path, As::Focal, None).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{path}");
        assert_eq!(answer.field(), field, "{path}: {}", answer.text);
    }
    let unknown_member = client
        .call(Method::GET, "/v1/contacts/ZZ/x", As::Focal, None)
        .await;
    assert_eq!(unknown_member.status, StatusCode::NOT_FOUND);
    assert_eq!(head(), before, "nothing was published");
    assert_eq!(client.get("/v1/contacts").await["total"], 0);
    node.stop().await;
}

#[tokio::test]
async fn a_node_not_yet_ready_refuses_writes_with_503_and_still_reads() {
    let network = Network::new(&[("PE", "Perú"), ("BR", "Brasil")]);
    // BR's node never starts, so PE's cannot confirm its own feed with a peer.
    let node = network.start(0).await;
    let client = &node.client;
    let answer = client
        .call(
            Method::PUT,
            "/v1/institutions/PE/pnp",
            As::Admin,
            Some(institution("Policía Nacional del Perú", "police")),
        )
        .await;
    assert_eq!(
        answer.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        answer.text
    );
    assert_eq!(answer.code(), "not_ready");
    assert_eq!(client.get("/v1/institutions").await["total"], 0);
    let health = client.get("/v1/health").await;
    assert_eq!(health["ready"], false);
    node.stop().await;
}

#[tokio::test]
async fn every_documented_operation_is_routed() {
    let network = Network::single();
    let node = network.start(0).await;
    let client = &node.client;
    let document = client.get("/v1/openapi.json").await;
    assert_eq!(document["openapi"], "3.1.0");
    let public = ["/v1/openapi.json", "/v1/health", "/metrics"];
    for (path, item) in document["paths"].as_object().expect("paths") {
        let concrete = path
            .replace("{member}", "PE")
            .replace("{id}", "x")
            .replace("{seq}", "1");
        for method in item.as_object().expect("item").keys() {
            if method == "parameters" {
                continue;
            }
            let method: Method = method.to_uppercase().parse().expect("method");
            let answer = client
                .call(method.clone(), &concrete, As::Nobody, None)
                .await;
            let expected = if public.contains(&path.as_str()) {
                StatusCode::OK
            } else {
                StatusCode::UNAUTHORIZED
            };
            assert_eq!(answer.status, expected, "{method} {path}: {}", answer.text);
        }
    }
    let missing = client
        .call(Method::GET, "/v1/nothing", As::Focal, None)
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.code(), "not_found");
    let wrong_method = client
        .call(Method::PATCH, "/v1/contacts", As::Focal, None)
        .await;
    assert_eq!(wrong_method.status, StatusCode::METHOD_NOT_ALLOWED);
    node.stop().await;
}

#[tokio::test]
async fn health_metrics_and_me_answer() {
    let (_network, node) = node_with_institution().await;
    let client = &node.client;
    let health = client
        .call(Method::GET, "/v1/health", As::Nobody, None)
        .await;
    assert_eq!(health.status, StatusCode::OK);
    assert_eq!(health.json()["status"], "ok");
    assert_eq!(health.json()["ready"], true);
    let metrics = client.call(Method::GET, "/metrics", As::Nobody, None).await;
    assert_eq!(metrics.status, StatusCode::OK);
    assert!(
        metrics.text.contains("vigia_entries_applied_total"),
        "{}",
        metrics.text
    );
    assert!(
        metrics
            .text
            .contains(r#"route="/v1/institutions/{member}/{id}",status="201""#),
        "{}",
        metrics.text
    );
    let me = client.get("/v1/me").await;
    assert_eq!(me["role"], "focal");
    assert_eq!(me["member"], "PE");
    let me = client.call(Method::GET, "/v1/me", As::Admin, None).await;
    assert_eq!(me.json()["role"], "admin");
    node.stop().await;
}

#[tokio::test]
async fn vcard_export_is_vcard_4_with_crlf_and_folding() {
    let (_network, node) = node_with_institution().await;
    let client = &node.client;
    let mut body = contact("José María", "Quispe, Mamani", "pnp");
    body["phones"] = json!(["+5114181234", "+51999888777"]);
    body["emails"] = json!(["jq@pnp.example.pe", "guardia@pnp.example.pe"]);
    body["languages"] = json!(["es", "qu"]);
    body["notes"] = json!("Turno de noche; atiende en quechua y castellano. ".repeat(3));
    client.put("/v1/contacts/PE/jq", body).await;
    let answer = client
        .call(Method::GET, "/v1/export.vcf?member=PE", As::Focal, None)
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(answer.content_type.starts_with("text/vcard"));
    let card = &answer.text;
    assert!(card.starts_with("BEGIN:VCARD\r\nVERSION:4.0\r\n"), "{card}");
    assert!(
        card.contains("FN:José María Quispe\\, Mamani\r\n"),
        "{card}"
    );
    assert!(
        card.contains("N:Quispe\\, Mamani;José María;;;\r\n"),
        "{card}"
    );
    assert!(card.contains("ORG:Policía Nacional del Perú\r\n"), "{card}");
    assert!(
        card.contains("TEL;VALUE=uri;TYPE=work:tel:+51999888777\r\n"),
        "{card}"
    );
    assert!(
        card.contains("EMAIL;TYPE=work:guardia@pnp.example.pe\r\n"),
        "{card}"
    );
    assert!(card.contains("LANG;PREF=1:es\r\n"), "{card}");
    assert!(card.ends_with("END:VCARD\r\n"));
    for line in card.split("\r\n") {
        assert!(line.len() <= 75, "line of {} octets: {line:?}", line.len());
    }
    node.stop().await;
}
