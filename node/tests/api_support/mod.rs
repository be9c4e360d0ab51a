//! Harness of the API tests: member nodes with seeded keys on free loopback ports, each with
//! its API on 127.0.0.1:0 and an admin and a focal-point token, and a small HTTP client.

// Each test binary compiles this module and uses a different part of it.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tempfile::TempDir;
use vigia_node::api::{ApiServer, ApiSettings, ConnectionLimits};
use vigia_node::node::{Node, NodeSetup};
use vigia_node::testing::{TestMember, signed_roster};
use vigia_node::tokens::{Role, TokenStore};
use vigia_protocol::{MemberCode, Roster};

/// Seed of every test key.
pub const SEED: u64 = 0x7669_6769_6170_6931;

/// Body limit of test APIs: small, so that a 413 is cheap to provoke, and still above the
/// largest valid entry.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// How long a test waits for something that happens over the network.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// Members (code and roster name), their signed roster and a directory for their files.
pub struct Network {
    roster: Roster,
    members: Vec<TestMember>,
    dir: TempDir,
    /// The connection limits of every API started.
    pub connections: ConnectionLimits,
}

impl Network {
    /// A network of members given as (code, name); names are what search matches.
    pub fn new(members: &[(&str, &str)]) -> Self {
        let members: Vec<TestMember> = members
            .iter()
            .map(|(code, name)| TestMember::seeded(code, name, SEED))
            .collect();
        Self {
            roster: signed_roster("vigia-api-test", &members),
            members,
            dir: tempfile::tempdir().expect("temporary directory"),
            connections: ConnectionLimits::default(),
        }
    }

    /// A one-member network: its node may publish at once.
    pub fn single() -> Self {
        Self::new(&[("PE", "Perú")])
    }

    /// The data directory of member `index`: its store and its token file.
    pub fn data_dir(&self, index: usize) -> std::path::PathBuf {
        self.dir.path().join(self.members[index].code.as_str())
    }

    /// The token file of member `index`, where `vigia-node token` puts it.
    pub fn tokens_path(&self, index: usize) -> std::path::PathBuf {
        self.data_dir(index).join(vigia_node::config::TOKENS_FILE)
    }

    /// Starts member `index`'s node and its API.
    pub async fn start(&self, index: usize) -> TestNode {
        let member = &self.members[index];
        let setup = NodeSetup {
            roster: self.roster.clone(),
            member: member.code,
            signing_key: member.signing_key.clone(),
            identity: member.identity(),
            store_path: {
                std::fs::create_dir_all(self.data_dir(index)).expect("data directory");
                self.data_dir(index).join("vigia.redb")
            },
            listen: Vec::new(),
            sync_interval: Duration::from_secs(2),
            max_message_bytes: vigia_node::config::DEFAULT_MAX_MESSAGE_BYTES,
            clock: vigia_node::clock::Clock::system(),
        };
        let node = Node::start(setup).await.expect("node starts");
        let tokens = TokenStore::new(self.tokens_path(index));
        let admin = tokens.create(Role::Admin, "admin").expect("admin token").1;
        let focal = tokens.create(Role::Focal, "focal").expect("focal token").1;
        let settings = ApiSettings {
            listen: "127.0.0.1:0".parse().expect("address"),
            max_body_bytes: MAX_BODY_BYTES,
            tokens_path: self.tokens_path(index),
            connections: self.connections,
        };
        let api = ApiServer::start(node.handle(), settings)
            .await
            .expect("api starts");
        let client = Client {
            base: format!("http://{}", api.local_addr()),
            http: reqwest::Client::new(),
            admin,
            focal,
        };
        TestNode {
            node,
            api,
            client,
            member: member.code,
        }
    }
}

/// A running node with its API.
pub struct TestNode {
    /// The node.
    pub node: Node,
    /// Its API server.
    pub api: ApiServer,
    /// A client of its API.
    pub client: Client,
    /// Its member.
    pub member: MemberCode,
}

impl TestNode {
    /// Waits until the node may publish.
    pub async fn wait_ready(&self) {
        tokio::time::timeout(PATIENCE, self.node.handle().wait_ready())
            .await
            .expect("ready in time")
            .expect("node running");
    }

    /// Stops the API and the node.
    pub async fn stop(self) {
        self.api.shutdown().await.expect("api stops");
        self.node.shutdown().await.expect("node stops");
    }
}

/// Which token a request carries.
#[derive(Debug, Clone, Copy)]
pub enum As {
    /// No token at all.
    Nobody,
    /// The focal-point token.
    Focal,
    /// The admin token.
    Admin,
}

/// An HTTP client of one node's API.
#[derive(Clone)]
pub struct Client {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The HTTP client.
    pub http: reqwest::Client,
    /// The admin token.
    pub admin: String,
    /// The focal-point token.
    pub focal: String,
}

/// A response: status, headers and body (as JSON when it is JSON, else as a string).
#[derive(Debug)]
pub struct Answer {
    /// Status.
    pub status: StatusCode,
    /// Content type.
    pub content_type: String,
    /// Body text.
    pub text: String,
}

impl Answer {
    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|err| panic!("body is not JSON ({err}): {}", self.text))
    }

    /// The error code of an error answer.
    pub fn code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The field named by an error answer.
    pub fn field(&self) -> String {
        self.json()["error"]["field"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

impl Client {
    /// A request with any method, token and body.
    pub fn request(&self, method: Method, path: &str, who: As) -> reqwest::RequestBuilder {
        let request = self.http.request(method, format!("{}{path}", self.base));
        match who {
            As::Nobody => request,
            As::Focal => request.bearer_auth(&self.focal),
            As::Admin => request.bearer_auth(&self.admin),
        }
    }

    /// Sends a request and reads the whole answer.
    pub async fn send(&self, request: reqwest::RequestBuilder) -> Answer {
        let response = request.send().await.expect("request answered");
        let status = response.status();
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let text = response.text().await.expect("body read");
        Answer {
            status,
            content_type,
            text,
        }
    }

    /// A request with a JSON body (or none).
    pub async fn call(&self, method: Method, path: &str, who: As, body: Option<Value>) -> Answer {
        let mut request = self.request(method, path, who);
        if let Some(body) = body {
            request = request.json(&body);
        }
        self.send(request).await
    }

    /// `GET` as a focal point, expecting 200 and JSON.
    pub async fn get(&self, path: &str) -> Value {
        let answer = self.call(Method::GET, path, As::Focal, None).await;
        assert_eq!(answer.status, StatusCode::OK, "GET {path}: {}", answer.text);
        answer.json()
    }

    /// `PUT` as admin, expecting success.
    pub async fn put(&self, path: &str, body: Value) -> Value {
        let answer = self.call(Method::PUT, path, As::Admin, Some(body)).await;
        assert!(answer.status.is_success(), "PUT {path}: {}", answer.text);
        answer.json()
    }

    /// `POST` as a focal point, expecting success.
    pub async fn post(&self, path: &str, body: Value) -> Value {
        let answer = self.call(Method::POST, path, As::Focal, Some(body)).await;
        assert!(answer.status.is_success(), "POST {path}: {}", answer.text);
        answer.json()
    }

    /// Sends a CSV file to `/v1/import`.
    pub async fn import(&self, csv: impl Into<Vec<u8>>, dry_run: bool) -> Answer {
        let request = self
            .request(
                Method::POST,
                &format!("/v1/import?dry_run={dry_run}"),
                As::Admin,
            )
            .header(reqwest::header::CONTENT_TYPE, "text/csv")
            .body(csv.into());
        self.send(request).await
    }
}

/// An institution body.
pub fn institution(name: &str, kind: &str) -> Value {
    json!({
        "name": name,
        "names": { "en": format!("{name} (en)") },
        "kind": kind,
        "address": "Av. España 450",
        "phones": ["+5114181234"],
        "emails": ["mesa@institucion.example.org"],
    })
}

/// An alert body to the whole network, with a response deadline.
pub fn alert(title: &str) -> Value {
    json!({
        "title": title,
        "description": "Vehículo robado rumbo a la frontera norte.",
        "severity": "severe",
        "urgency": "immediate",
        "certainty": "likely",
        "tlp": "amber",
        "recipients": "network",
        "expires_in_minutes": 120,
        "respond_in_minutes": 30,
    })
}

/// A contact body of institution `institution_id`.
pub fn contact(given: &str, family: &str, institution_id: &str) -> Value {
    json!({
        "given_names": given,
        "family_names": family,
        "institution_id": institution_id,
        "role": "Oficial de enlace",
        "emails": ["enlace@institucion.example.org"],
        "phones": ["+5114181234"],
        "languages": ["es"],
        "always_on": true,
        "notes": "",
    })
}

/// Polls `check` every 50 ms until it returns true or [`PATIENCE`] runs out.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !check().await {
        assert!(
            started.elapsed() < PATIENCE,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One server-sent event.
#[derive(Debug, Clone)]
pub struct ServerEvent {
    /// The `event:` field.
    pub name: String,
    /// The `id:` field, if any.
    pub id: Option<String>,
    /// The `data:` field, as JSON.
    pub data: Value,
}

/// A client's end of `GET /v1/events`.
pub struct EventStream {
    body: std::pin::Pin<Box<dyn futures::Stream<Item = reqwest::Result<Vec<u8>>> + Send>>,
    buffer: String,
}

impl Client {
    /// Opens the event stream as a focal point and waits for its `open` event, after which
    /// every alert the node applies is delivered.
    pub async fn events(&self) -> EventStream {
        let response = self
            .request(Method::GET, "/v1/events", As::Focal)
            .send()
            .await
            .expect("stream opens");
        assert_eq!(response.status(), StatusCode::OK);
        let mut stream = EventStream {
            body: Box::pin(futures::StreamExt::map(response.bytes_stream(), |chunk| {
                chunk.map(|bytes| bytes.to_vec())
            })),
            buffer: String::new(),
        };
        let open = stream.next().await;
        assert_eq!(open.name, "open");
        stream
    }
}

impl EventStream {
    /// The next event (keep-alive comments skipped), within [`PATIENCE`].
    pub async fn next(&mut self) -> ServerEvent {
        tokio::time::timeout(PATIENCE, self.read())
            .await
            .expect("an event in time")
    }

    /// The next event with this name, skipping others.
    pub async fn next_named(&mut self, name: &str) -> ServerEvent {
        loop {
            let event = self.next().await;
            if event.name == name {
                return event;
            }
        }
    }

    async fn read(&mut self) -> ServerEvent {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                if let Some(event) = parse_event(&block) {
                    return event;
                }
                continue;
            }
            let chunk = futures::StreamExt::next(&mut self.body)
                .await
                .expect("stream still open")
                .expect("chunk read");
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
}

fn parse_event(block: &str) -> Option<ServerEvent> {
    let mut name = String::from("message");
    let mut id = None;
    let mut data = String::new();
    for line in block.lines() {
        if let Some(value) = line.strip_prefix("event:") {
            name = value.trim().to_owned();
        } else if let Some(value) = line.strip_prefix("id:") {
            id = Some(value.trim().to_owned());
        } else if let Some(value) = line.strip_prefix("data:") {
            data.push_str(value.trim_start());
        }
    }
    if data.is_empty() {
        return None;
    }
    Some(ServerEvent {
        name,
        id,
        data: serde_json::from_str(&data).expect("event data is JSON"),
    })
}
