//! Every endpoint of the local API against hostile requests: no token, a malformed or a
//! revoked one, bodies that are not JSON, fields of the wrong type, bad path and query
//! parameters, and bodies over `api.max_body_bytes`.
//!
//! Each such request must get a 4xx in the API's one error shape (`code`, `message`, and
//! `field` where one is at fault), and must apply nothing: the node's heads and directory
//! digest (`GET /v1/heads`) are the same after every request as before the first, and no
//! backup file appears.
//!
//! The endpoints come from one table, [`endpoints`], which a test holds against
//! `/v1/openapi.json`: a new endpoint without a row here fails that test. Endpoints that
//! take no body (every `GET` and `DELETE`) never read one, so the size limit applies to the
//! others only.

mod api_support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use api_support::{As, Client, MAX_BODY_BYTES, Network, TestNode, contact, institution};
use reqwest::{Method, StatusCode, header};
use serde_json::{Value, json};
use vigia_node::tokens::{Role, TokenStore};

/// Who may call an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    /// Anyone: the document, health and metrics.
    Public,
    /// A focal-point token or better.
    Focal,
    /// An admin token.
    Admin,
}

/// What an endpoint reads from the body.
#[derive(Debug, Clone)]
enum Takes {
    /// Nothing.
    Nothing,
    /// JSON: a valid body, and the same body with one field of the wrong type.
    Json {
        valid: Value,
        wrong_type: Value,
        field: &'static str,
    },
    /// A CSV file.
    Csv,
}

/// One documented operation, made concrete on the test node.
#[derive(Debug, Clone)]
struct Endpoint {
    method: Method,
    /// The path as `/v1/openapi.json` writes it.
    template: &'static str,
    /// A path of a record that exists on the test node.
    path: String,
    access: Access,
    takes: Takes,
    /// A path or query parameter that is not of its type, and the field the answer names.
    bad_parameter: Option<(String, &'static str)>,
}

impl Endpoint {
    fn new(method: Method, template: &'static str, path: impl Into<String>) -> Self {
        Self {
            method,
            template,
            path: path.into(),
            access: Access::Focal,
            takes: Takes::Nothing,
            bad_parameter: None,
        }
    }

    fn public(mut self) -> Self {
        self.access = Access::Public;
        self
    }

    fn admin(mut self) -> Self {
        self.access = Access::Admin;
        self
    }

    fn json(mut self, valid: Value, field: &'static str, wrong: Value) -> Self {
        let mut wrong_type = valid.clone();
        wrong_type[field] = wrong;
        self.takes = Takes::Json {
            valid,
            wrong_type,
            field,
        };
        self
    }

    fn csv(mut self) -> Self {
        self.takes = Takes::Csv;
        self
    }

    fn bad_parameter(mut self, path: impl Into<String>, field: &'static str) -> Self {
        self.bad_parameter = Some((path.into(), field));
        self
    }

    fn name(&self) -> String {
        format!("{} {}", self.method, self.template)
    }

    /// A request carrying a valid body, if the endpoint takes one, so that only what the
    /// test changes is wrong.
    fn request(&self, client: &Client, who: As) -> reqwest::RequestBuilder {
        let request = client.request(self.method.clone(), &self.path, who);
        match &self.takes {
            Takes::Nothing => request,
            Takes::Json { valid, .. } => request.json(valid),
            Takes::Csv => request
                .header(header::CONTENT_TYPE, "text/csv")
                .body(VALID_CSV),
        }
    }
}

/// A contacts file the test node would accept.
const VALID_CSV: &str = "id,given_names,family_names,institution_id,always_on\n\
                         lr,Luis,Rojas,pnp,true\n";

/// Every documented operation, on a node holding institution `pnp`, contact `jq` and the
/// alert at `alert_seq`; a backup would go to `backup`.
fn endpoints(alert_seq: u64, backup: &Path) -> Vec<Endpoint> {
    use Method as M;
    let alert = format!("/v1/alerts/PE/{alert_seq}");
    vec![
        Endpoint::new(M::GET, "/v1/openapi.json", "/v1/openapi.json").public(),
        Endpoint::new(M::GET, "/v1/health", "/v1/health").public(),
        Endpoint::new(M::GET, "/metrics", "/metrics").public(),
        Endpoint::new(M::GET, "/v1/me", "/v1/me"),
        Endpoint::new(M::GET, "/v1/contacts", "/v1/contacts")
            .bad_parameter("/v1/contacts?per_page=many", "per_page"),
        Endpoint::new(M::GET, "/v1/contacts/{member}/{id}", "/v1/contacts/PE/jq")
            .bad_parameter("/v1/contacts/P3/jq", "member"),
        Endpoint::new(M::PUT, "/v1/contacts/{member}/{id}", "/v1/contacts/PE/jq")
            .admin()
            .json(contact("José", "Quispe", "pnp"), "given_names", json!(42))
            .bad_parameter("/v1/contacts/P3/jq", "member"),
        Endpoint::new(
            M::DELETE,
            "/v1/contacts/{member}/{id}",
            "/v1/contacts/PE/jq",
        )
        .admin()
        .bad_parameter("/v1/contacts/P3/jq", "member"),
        Endpoint::new(M::GET, "/v1/institutions", "/v1/institutions")
            .bad_parameter("/v1/institutions?member=12", "member"),
        Endpoint::new(
            M::GET,
            "/v1/institutions/{member}/{id}",
            "/v1/institutions/PE/pnp",
        )
        .bad_parameter("/v1/institutions/P3/pnp", "member"),
        Endpoint::new(
            M::PUT,
            "/v1/institutions/{member}/{id}",
            "/v1/institutions/PE/pnp",
        )
        .admin()
        .json(institution("Policía", "police"), "kind", json!(7))
        .bad_parameter("/v1/institutions/P3/pnp", "member"),
        Endpoint::new(
            M::DELETE,
            "/v1/institutions/{member}/{id}",
            "/v1/institutions/PE/pnp",
        )
        .admin()
        .bad_parameter("/v1/institutions/P3/pnp", "member"),
        Endpoint::new(M::GET, "/v1/alerts", "/v1/alerts")
            .bad_parameter("/v1/alerts?unacknowledged=perhaps", "unacknowledged"),
        Endpoint::new(M::POST, "/v1/alerts", "/v1/alerts").json(
            alert_body(),
            "expires_in_minutes",
            json!("soon"),
        ),
        Endpoint::new(M::GET, "/v1/alerts/{member}/{seq}", alert.clone())
            .bad_parameter("/v1/alerts/PE/first", "seq"),
        Endpoint::new(
            M::POST,
            "/v1/alerts/{member}/{seq}/ack",
            format!("{alert}/ack"),
        )
        .json(json!({ "note": "Recibido" }), "note", json!(["Recibido"]))
        .bad_parameter("/v1/alerts/PE/-1/ack", "seq"),
        Endpoint::new(M::GET, "/v1/events", "/v1/events"),
        Endpoint::new(M::GET, "/v1/network", "/v1/network"),
        Endpoint::new(M::GET, "/v1/heads", "/v1/heads"),
        Endpoint::new(
            M::PUT,
            "/v1/admin/blocked-members",
            "/v1/admin/blocked-members",
        )
        .admin()
        .json(json!({ "members": [] }), "members", json!("AR")),
        Endpoint::new(M::POST, "/v1/admin/backup", "/v1/admin/backup")
            .admin()
            .json(json!({ "path": backup }), "path", json!(42)),
        Endpoint::new(M::POST, "/v1/import", "/v1/import?dry_run=false")
            .admin()
            .csv()
            .bad_parameter("/v1/import?dry_run=perhaps", "dry_run"),
        Endpoint::new(M::GET, "/v1/export.csv", "/v1/export.csv")
            .bad_parameter("/v1/export.csv?bom=perhaps", "bom"),
        Endpoint::new(M::GET, "/v1/export.vcf", "/v1/export.vcf")
            .bad_parameter("/v1/export.vcf?member=PER", "member"),
    ]
}

fn alert_body() -> Value {
    json!({
        "title": "Vehículo sospechoso en la frontera",
        "severity": "severe",
        "urgency": "immediate",
        "certainty": "likely",
        "tlp": "amber",
        "recipients": "network",
        "expires_in_minutes": 120,
    })
}

/// The test node, holding one record of each kind so that every path names something real
/// (a write that got through would change it).
struct Fixture {
    network: Network,
    node: TestNode,
    endpoints: Vec<Endpoint>,
    /// `GET /v1/heads` before the first hostile request.
    before: Value,
    /// Where a backup request would write; it must never appear.
    backup: PathBuf,
}

impl Fixture {
    async fn start() -> Self {
        let network = Network::single();
        let node = network.start(0).await;
        let client = &node.client;
        client
            .put(
                "/v1/institutions/PE/pnp",
                institution("Policía Nacional del Perú", "police"),
            )
            .await;
        client
            .put("/v1/contacts/PE/jq", contact("José", "Quispe", "pnp"))
            .await;
        let alert = client.post("/v1/alerts", alert_body()).await;
        let seq = alert["seq"].as_u64().expect("alert seq");
        let before = client.get("/v1/heads").await;
        let backup = network.data_dir(0).join("robustness-backup.redb");
        Self {
            endpoints: endpoints(seq, &backup),
            network,
            node,
            before,
            backup,
        }
    }

    fn client(&self) -> &Client {
        &self.node.client
    }

    fn protected(&self) -> impl Iterator<Item = &Endpoint> {
        self.endpoints
            .iter()
            .filter(|endpoint| endpoint.access != Access::Public)
    }

    fn with_body(&self) -> impl Iterator<Item = &Endpoint> {
        self.endpoints
            .iter()
            .filter(|endpoint| !matches!(endpoint.takes, Takes::Nothing))
    }

    /// The strongest token the endpoint accepts, so that only the request is at fault.
    fn caller(endpoint: &Endpoint) -> As {
        match endpoint.access {
            Access::Admin => As::Admin,
            Access::Public | Access::Focal => As::Focal,
        }
    }

    /// Panics if anything was published since the fixture was set up.
    async fn assert_nothing_applied(&self, after: &str) {
        let now = self.client().get("/v1/heads").await;
        assert_eq!(now, self.before, "heads or directory changed after {after}");
        assert!(!self.backup.exists(), "a backup was written after {after}");
    }

    /// Stops the node before its data directory goes with the network.
    async fn stop(self) {
        self.node.stop().await;
        drop(self.network);
    }
}

/// Panics unless `answer` is a `status` in the API's error shape with this `code`, naming
/// `field` if one is given, and says something.
fn assert_refused(
    answer: &api_support::Answer,
    status: StatusCode,
    code: &str,
    field: Option<&str>,
    request: &str,
) {
    assert_eq!(answer.status, status, "{request}: {}", answer.text);
    assert!(
        answer.content_type.starts_with("application/json"),
        "{request}: content type {:?}",
        answer.content_type
    );
    let body = answer.json();
    let error = body["error"].as_object().expect("an error object");
    let keys: BTreeSet<&str> = error.keys().map(String::as_str).collect();
    let allowed = BTreeSet::from(["code", "message", "field", "details"]);
    assert!(keys.is_subset(&allowed), "{request}: error keys {keys:?}");
    assert_eq!(answer.code(), code, "{request}: {}", answer.text);
    let message = error["message"].as_str().unwrap_or_default();
    assert!(!message.trim().is_empty(), "{request}: no message");
    if let Some(field) = field {
        assert_eq!(answer.field(), field, "{request}: {}", answer.text);
    }
}

#[tokio::test]
async fn every_documented_operation_has_a_row_in_the_robustness_table() {
    let fixture = Fixture::start().await;
    let document = fixture.client().get("/v1/openapi.json").await;
    let mut documented = BTreeSet::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            if method != "parameters" {
                documented.insert(format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    let tested: BTreeSet<String> = fixture.endpoints.iter().map(Endpoint::name).collect();
    assert_eq!(tested, documented);
    for endpoint in &fixture.endpoints {
        let secured = document["paths"][endpoint.template][endpoint.method.as_str().to_lowercase()]
            ["security"]
            .as_array()
            .is_none_or(|schemes| !schemes.is_empty());
        assert_eq!(
            secured,
            endpoint.access != Access::Public,
            "{}",
            endpoint.name()
        );
    }
    fixture.stop().await;
}

#[tokio::test]
async fn a_missing_or_malformed_token_gets_401_everywhere_and_applies_nothing() {
    let fixture = Fixture::start().await;
    let client = fixture.client();
    let malformed = [
        None,
        Some("Basic YWRtaW46YWRtaW4="),
        Some("Bearer"),
        Some("Bearer    "),
        Some(client.admin.as_str()),
        Some("Token vigia_0123"),
    ];
    for endpoint in fixture.protected() {
        for authorization in malformed {
            let mut request = endpoint.request(client, As::Nobody);
            if let Some(value) = authorization {
                request = request.header(header::AUTHORIZATION, value);
            }
            let answer = client.send(request).await;
            let what = format!("{} with Authorization {authorization:?}", endpoint.name());
            assert_refused(
                &answer,
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                None,
                &what,
            );
            fixture.assert_nothing_applied(&what).await;
        }
    }
    fixture.stop().await;
}

#[tokio::test]
async fn a_revoked_token_gets_401_at_the_next_request_everywhere_and_applies_nothing() {
    let fixture = Fixture::start().await;
    let client = fixture.client();
    let tokens = TokenStore::new(fixture.network.tokens_path(0));
    let (_, token) = tokens.create(Role::Admin, "revocable").expect("token");
    let me = client.send(
        client
            .request(Method::GET, "/v1/me", As::Nobody)
            .bearer_auth(&token),
    );
    assert_eq!(me.await.status, StatusCode::OK);

    tokens.revoke("revocable").expect("revoke");
    for endpoint in fixture.protected() {
        let request = endpoint.request(client, As::Nobody).bearer_auth(&token);
        let answer = client.send(request).await;
        let what = format!("{} with a revoked token", endpoint.name());
        assert_refused(
            &answer,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            None,
            &what,
        );
        assert!(answer.text.contains("revoked"), "{what}: {}", answer.text);
        fixture.assert_nothing_applied(&what).await;
    }
    // The tokens that were not revoked still work.
    assert_eq!(client.get("/v1/me").await["label"], "focal");
    fixture.stop().await;
}

/// Bodies that are not JSON at all, refused as 400 naming the body, before any field is
/// looked at.
const NOT_JSON: [&[u8]; 7] = [
    b"{",
    b"{\"given_names\": }",
    b"[1, 2",
    b"{\"note\": \"unterminated}",
    b"{} {}",
    b"\xff\xfe{}",
    b"<contact><id>jq</id></contact>",
];

/// JSON, but not an object: refused as 422 naming the body, since every body is an object.
const NOT_AN_OBJECT: [&str; 6] = ["[]", "[\"Ana\"]", "42", "\"text\"", "true", "null"];

#[tokio::test]
async fn malformed_json_gets_400_and_applies_nothing() {
    let fixture = Fixture::start().await;
    let client = fixture.client();
    for endpoint in fixture.with_body() {
        let Takes::Json { valid, .. } = &endpoint.takes else {
            continue;
        };
        let who = Fixture::caller(endpoint);
        for body in NOT_JSON {
            let request = client
                .request(endpoint.method.clone(), &endpoint.path, who)
                .header(header::CONTENT_TYPE, "application/json")
                .body(body);
            let answer = client.send(request).await;
            let what = format!("{} with body {:?}", endpoint.name(), body.escape_ascii());
            let status = StatusCode::BAD_REQUEST;
            assert_refused(&answer, status, "bad_request", Some("body"), &what);
            fixture.assert_nothing_applied(&what).await;
        }
        for body in NOT_AN_OBJECT {
            let request = client
                .request(endpoint.method.clone(), &endpoint.path, who)
                .header(header::CONTENT_TYPE, "application/json")
                .body(body);
            let answer = client.send(request).await;
            let what = format!("{} with body {body}", endpoint.name());
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            assert_refused(&answer, status, "invalid_field", Some("body"), &what);
            fixture.assert_nothing_applied(&what).await;
        }
        let request = client
            .request(endpoint.method.clone(), &endpoint.path, who)
            .header(header::CONTENT_TYPE, "text/plain")
            .body(valid.to_string());
        let answer = client.send(request).await;
        let what = format!("{} as text/plain", endpoint.name());
        let status = StatusCode::UNSUPPORTED_MEDIA_TYPE;
        assert_refused(&answer, status, "unsupported_media_type", None, &what);
        fixture.assert_nothing_applied(&what).await;
    }
    fixture.stop().await;
}

#[tokio::test]
async fn malformed_csv_gets_4xx_saying_where_and_applies_nothing() {
    let fixture = Fixture::start().await;
    let client = fixture.client();
    // (file, status, error code, expected (line, column) of the first bad row)
    type Case<'a> = (&'a [u8], StatusCode, &'a str, Option<(u64, &'a str)>);
    let cases: [Case; 5] = [
        (b"", StatusCode::BAD_REQUEST, "bad_request", None),
        (
            b"id,given_names\n\xff\xfe\n",
            StatusCode::BAD_REQUEST,
            "bad_request",
            None,
        ),
        (
            b"{\"id\": \"jq\"}",
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_rows",
            Some((1, "")),
        ),
        (
            b"id,given_names,family_names,institution_id,always_on\nx,A,B,pnp,maybe\n",
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_rows",
            Some((2, "always_on")),
        ),
        (
            b"id,given_names,family_names,institution_id,always_on,phones\n\
              y,A,B,pnp,true,+51 1 418\n",
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_rows",
            Some((2, "phones")),
        ),
    ];
    for (body, status, code, first_error) in cases {
        let request = client
            .request(Method::POST, "/v1/import?dry_run=false", As::Admin)
            .header(header::CONTENT_TYPE, "text/csv")
            .body(body);
        let answer = client.send(request).await;
        let what = format!("POST /v1/import with {:?}", body.escape_ascii());
        assert_refused(&answer, status, code, None, &what);
        if let Some((line, column)) = first_error {
            let first = &answer.json()["error"]["details"]["errors"][0];
            assert_eq!(first["line"], line, "{what}: {}", answer.text);
            assert_eq!(first["column"], column, "{what}: {}", answer.text);
        } else {
            assert_eq!(answer.field(), "body", "{what}");
        }
        fixture.assert_nothing_applied(&what).await;
    }
    fixture.stop().await;
}

#[tokio::test]
async fn fields_and_parameters_of_the_wrong_type_are_named_and_apply_nothing() {
    let fixture = Fixture::start().await;
    let client = fixture.client();
    for endpoint in &fixture.endpoints {
        let who = Fixture::caller(endpoint);
        if let Takes::Json {
            wrong_type, field, ..
        } = &endpoint.takes
        {
            let request = client
                .request(endpoint.method.clone(), &endpoint.path, who)
                .json(wrong_type);
            let answer = client.send(request).await;
            let what = format!("{} with {field} = {}", endpoint.name(), wrong_type[field]);
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            assert_refused(&answer, status, "invalid_field", Some(field), &what);
            fixture.assert_nothing_applied(&what).await;
        }
        if let Some((path, field)) = &endpoint.bad_parameter {
            let with_bad_parameter = Endpoint {
                path: path.clone(),
                ..endpoint.clone()
            };
            let request = with_bad_parameter.request(client, who);
            let answer = client.send(request).await;
            let what = format!("{} {path}", endpoint.method);
            assert_refused(
                &answer,
                StatusCode::BAD_REQUEST,
                "bad_request",
                Some(field),
                &what,
            );
            fixture.assert_nothing_applied(&what).await;
        }
    }
    fixture.stop().await;
}

/// A body one byte over the limit that would otherwise be accepted as far as its syntax
/// goes: a valid JSON document or CSV file, padded.
fn oversized(endpoint: &Endpoint) -> (Vec<u8>, &'static str) {
    match &endpoint.takes {
        Takes::Json { valid, .. } => {
            let mut body = valid.clone();
            body["padding"] = json!("");
            let frame = serde_json::to_vec(&body).expect("serialises").len();
            body["padding"] = json!("x".repeat(MAX_BODY_BYTES + 1 - frame));
            (
                serde_json::to_vec(&body).expect("serialises"),
                "application/json",
            )
        }
        Takes::Csv | Takes::Nothing => {
            let mut file = VALID_CSV.as_bytes().to_vec();
            while file.len() <= MAX_BODY_BYTES {
                file.extend_from_slice(b"lr,Luis,Rojas,pnp,true\n");
            }
            (file, "text/csv")
        }
    }
}

#[tokio::test]
async fn bodies_over_max_body_bytes_get_413_and_apply_nothing() {
    let fixture = Fixture::start().await;
    let client = fixture.client();
    for endpoint in fixture.with_body() {
        let who = Fixture::caller(endpoint);
        let (body, content_type) = oversized(endpoint);
        assert!(body.len() > MAX_BODY_BYTES);

        // Once with its length declared, once streamed in chunks without one.
        let declared = client
            .request(endpoint.method.clone(), &endpoint.path, who)
            .header(header::CONTENT_TYPE, content_type)
            .body(body.clone());
        let chunks: Vec<Result<Vec<u8>, std::io::Error>> = body
            .chunks(16 * 1024)
            .map(|chunk| Ok(chunk.to_vec()))
            .collect();
        let streamed = client
            .request(endpoint.method.clone(), &endpoint.path, who)
            .header(header::CONTENT_TYPE, content_type)
            .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)));
        for (how, request) in [("declared", declared), ("streamed", streamed)] {
            let answer = client.send(request).await;
            let what = format!(
                "{} with a {how} body of {} bytes",
                endpoint.name(),
                body.len()
            );
            let status = StatusCode::PAYLOAD_TOO_LARGE;
            assert_refused(&answer, status, "body_too_large", None, &what);
            fixture.assert_nothing_applied(&what).await;
        }
    }
    fixture.stop().await;
}
