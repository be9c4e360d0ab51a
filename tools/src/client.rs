//! The `vigia` command's HTTP client of a node's local API.
//!
//! Errors from the node are shown as the node said them (its `code`, `message` and
//! `field`), so a person sees the same words a script would read in the JSON.
//!
//! Bounds: every answer is read up to [`MAX_ANSWER_BYTES`], every event of the stream up to
//! [`MAX_EVENT_BYTES`], so a broken or hostile server costs bounded memory; every request
//! but the event stream ends by [`REQUEST_DEADLINE`], and the stream ends after
//! [`EVENT_SILENCE_LIMIT`] without a whole line, so it costs bounded time as well.

use std::io::{BufRead, Read};
use std::time::Duration;

use anyhow::{Context, Result};
use reqwest::Method;
use reqwest::blocking::{Client, RequestBuilder, Response};
use serde::Deserialize;
use serde_json::Value;

/// How long one request may take, from connecting to the last byte of the answer; imports
/// of large directories are the slow ones. A whole-answer deadline, not one per read, so a
/// server that sends a byte now and then cannot keep a command running for ever.
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(120);

/// Largest answer read. The largest legitimate one, every member's contacts as vCard at
/// the import limit of 10 000 contacts each, is about 35 × 10 000 × 500 B ≈ 175 MB.
pub const MAX_ANSWER_BYTES: u64 = 256 * 1024 * 1024;

/// Largest event of the event stream (lines of one event together). An alert is at most a
/// few kilobytes; anything far larger is not an event of a Vigía node.
pub const MAX_EVENT_BYTES: usize = 1024 * 1024;

/// Longest time on the event stream without a whole line before it counts as broken. The
/// node sends a keep-alive comment line every 15 s, so three missed ones mean the node or
/// the path is gone, even when no TCP reset arrives (a frozen host, a suspended laptop),
/// or that what answers sends bytes now and then but never an event.
pub const EVENT_SILENCE_LIMIT: Duration = Duration::from_secs(45);

/// An error answer of the node.
#[derive(Debug, thiserror::Error)]
#[error("the node answered {status}: {message}{}", field_note(field.as_deref()))]
pub struct NodeError {
    /// HTTP status.
    pub status: u16,
    /// Stable error code.
    pub code: String,
    /// What the node said.
    pub message: String,
    /// The field at fault, if any.
    pub field: Option<String>,
    /// Structured details (bad rows of an import).
    pub details: Option<Value>,
}

/// " (field `NAME`)" when the node named the field at fault.
fn field_note(field: Option<&str>) -> String {
    field.map(|f| format!(" (field `{f}`)")).unwrap_or_default()
}

impl NodeError {
    /// The error as the node sent it: `{"error": {"code", "message", "field", "details"}}`,
    /// for `--json` output.
    pub fn envelope(&self) -> Value {
        let mut error = serde_json::json!({ "code": self.code, "message": self.message });
        if let Some(field) = &self.field {
            error["field"] = Value::String(field.clone());
        }
        if let Some(details) = &self.details {
            error["details"] = details.clone();
        }
        serde_json::json!({ "error": error })
    }
}

/// One event of a server-sent event stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerEvent {
    /// The `event:` field (`message` when absent).
    pub name: String,
    /// The `id:` field, if any.
    pub id: Option<String>,
    /// The `data:` lines, joined by line breaks.
    pub data: String,
}

#[derive(Deserialize)]
struct Envelope {
    error: Body,
}

#[derive(Deserialize)]
struct Body {
    code: String,
    message: String,
    field: Option<String>,
    details: Option<Value>,
}

/// A node's API at `base` (such as `http://127.0.0.1:8440`), used with `token`. An empty
/// token sends no `Authorization` header, so the node answers a missing token in its own
/// words.
#[derive(Debug, Clone)]
pub struct NodeClient {
    http: Client,
    base: String,
    token: String,
    deadline: Duration,
    silence_limit: Duration,
}

impl NodeClient {
    /// A client of the API at `base`.
    pub fn new(base: &str, token: &str) -> Result<Self> {
        // The client's timeout bounds each read; the request's own, set in `request`,
        // bounds the whole answer.
        let http = Client::builder()
            .timeout(REQUEST_DEADLINE)
            .build()
            .context("cannot set up the HTTP client")?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
            deadline: REQUEST_DEADLINE,
            silence_limit: EVENT_SILENCE_LIMIT,
        })
    }

    /// The same client with another deadline per request than [`REQUEST_DEADLINE`].
    pub fn with_deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    /// The API's base address.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The token sent with each request (empty: none).
    pub fn token(&self) -> &str {
        &self.token
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let url = format!("{}{path}", self.base);
        self.authorize(self.http.request(method, url).timeout(self.deadline))
    }

    fn authorize(&self, builder: RequestBuilder) -> RequestBuilder {
        if self.token.is_empty() {
            builder
        } else {
            builder.bearer_auth(&self.token)
        }
    }

    fn send(&self, builder: RequestBuilder, what: &str) -> Result<Response> {
        self.send_within(builder, what, self.deadline)
    }

    /// Sends a request whose timeout is `limit`, for the error that names it.
    fn send_within(
        &self,
        builder: RequestBuilder,
        what: &str,
        limit: Duration,
    ) -> Result<Response> {
        let response = match builder.send() {
            Ok(response) => response,
            Err(error) if error.is_timeout() => {
                return Err(self.overdue(what, limit, anyhow::Error::from(error)));
            }
            Err(error) => {
                let base = &self.base;
                return Err(error).context(format!("cannot reach the node at {base} ({what})"));
            }
        };
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status().as_u16();
        let text = self.read_within(response, what, limit).unwrap_or_default();
        match serde_json::from_str::<Envelope>(&text) {
            Ok(Envelope { error }) => Err(NodeError {
                status,
                code: error.code,
                message: error.message,
                field: error.field,
                details: error.details,
            }
            .into()),
            Err(_) => Err(NodeError {
                status,
                code: "http".into(),
                message: if text.is_empty() {
                    format!("HTTP {status}")
                } else {
                    text
                },
                field: None,
                details: None,
            }
            .into()),
        }
    }

    /// GET returning JSON.
    pub fn get(&self, path: &str) -> Result<Value> {
        let response = self.send(self.request(Method::GET, path), path)?;
        let text = self.read_text(response, path)?;
        serde_json::from_str(&text)
            .with_context(|| format!("the node's answer to {path} is not JSON"))
    }

    /// GET returning text (CSV, vCard, metrics).
    pub fn get_text(&self, path: &str) -> Result<String> {
        let response = self.send(self.request(Method::GET, path), path)?;
        self.read_text(response, path)
    }

    /// A request with a JSON body, returning JSON (or `null` for an empty answer).
    pub fn send_json(&self, method: Method, path: &str, body: &Value) -> Result<Value> {
        let response = self.send(self.request(method, path).json(body), path)?;
        self.json_or_null(response, path)
    }

    /// DELETE, returning JSON (or `null`).
    pub fn delete(&self, path: &str) -> Result<Value> {
        let response = self.send(self.request(Method::DELETE, path), path)?;
        self.json_or_null(response, path)
    }

    /// POST of raw bytes with a content type, returning JSON.
    pub fn post_bytes(&self, path: &str, content_type: &str, bytes: Vec<u8>) -> Result<Value> {
        let builder = self
            .request(Method::POST, path)
            .header("content-type", content_type)
            .body(bytes);
        let response = self.send(builder, path)?;
        self.json_or_null(response, path)
    }

    /// Opens the server-sent event stream at `path` and calls `on_event` with each event
    /// until it returns false or the stream ends (`Ok`), or the connection breaks or sends
    /// no whole line for [`EVENT_SILENCE_LIMIT`] (`Err`). The stream has no overall
    /// deadline: it is meant to stay open for days.
    pub fn watch(
        &self,
        path: &str,
        mut on_event: impl FnMut(&ServerEvent) -> Result<bool>,
    ) -> Result<()> {
        // The blocking client's timeout bounds each read of the body, not the whole
        // stream, which is meant to stay open for days.
        let http = Client::builder()
            .timeout(self.silence_limit)
            .build()
            .context("cannot set up the HTTP client")?;
        let builder = self
            .authorize(http.get(format!("{}{path}", self.base)))
            .header("accept", "text/event-stream");
        let response = self.send_within(builder, path, self.silence_limit)?;
        let mut reader = std::io::BufReader::new(LineWatch::new(response, self.silence_limit));
        let mut event = ServerEvent {
            name: "message".into(),
            id: None,
            data: String::new(),
        };
        let mut line = String::new();
        loop {
            line.clear();
            let limit = MAX_EVENT_BYTES.saturating_sub(event.data.len()) as u64 + 2;
            let read = (&mut reader)
                .take(limit)
                .read_line(&mut line)
                .context("the event stream broke")?;
            if read == 0 {
                return Ok(());
            }
            if !line.ends_with('\n') {
                if read as u64 >= limit {
                    anyhow::bail!("the event stream sent an event over {MAX_EVENT_BYTES} bytes");
                }
                // The node closed the stream in the middle of a line: the event is lost
                // with the connection, as any event in flight would be.
                return Ok(());
            }
            let line = line.trim_end_matches(['\r', '\n']);
            if line.is_empty() {
                if !event.data.is_empty() && !on_event(&event)? {
                    return Ok(());
                }
                event.name = "message".into();
                event.id = None;
                event.data.clear();
            } else if let Some(name) = line.strip_prefix("event:") {
                event.name = name.trim().to_owned();
            } else if let Some(id) = line.strip_prefix("id:") {
                event.id = Some(id.trim().to_owned());
            } else if let Some(chunk) = line.strip_prefix("data:") {
                if !event.data.is_empty() {
                    event.data.push('\n');
                }
                event
                    .data
                    .push_str(chunk.strip_prefix(' ').unwrap_or(chunk));
            }
        }
    }
}

impl NodeClient {
    /// Reads a whole answer of at most [`MAX_ANSWER_BYTES`] as text.
    fn read_text(&self, response: Response, path: &str) -> Result<String> {
        self.read_within(response, path, self.deadline)
    }

    /// Like [`Self::read_text`], for a request whose timeout is `limit`.
    fn read_within(&self, response: Response, path: &str, limit: Duration) -> Result<String> {
        let mut bytes = Vec::new();
        if let Err(error) = response.take(MAX_ANSWER_BYTES + 1).read_to_end(&mut bytes) {
            if is_timeout(&error) {
                return Err(self.overdue(path, limit, error.into()));
            }
            let error = anyhow::Error::from(error);
            return Err(error.context(format!("cannot read the node's answer to {path}")));
        }
        if bytes.len() as u64 > MAX_ANSWER_BYTES {
            anyhow::bail!("the node's answer to {path} is over {MAX_ANSWER_BYTES} bytes");
        }
        String::from_utf8(bytes)
            .with_context(|| format!("the node's answer to {path} is not UTF-8"))
    }

    fn json_or_null(&self, response: Response, path: &str) -> Result<Value> {
        let text = self.read_text(response, path)?;
        if text.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text)
            .with_context(|| format!("the node's answer to {path} is not JSON"))
    }

    /// The error of a request that ran past its deadline. A request that changes something
    /// may still have been carried out by the node.
    fn overdue(&self, path: &str, limit: Duration, cause: anyhow::Error) -> anyhow::Error {
        cause.context(format!(
            "the node did not finish answering within {} s ({path} at {})",
            limit.as_secs_f64(),
            self.base
        ))
    }
}

/// A reader that fails once `limit` passes without a line break in what it reads: a byte
/// now and then resets the client's timeout of each read, but not this.
struct LineWatch<R> {
    inner: R,
    limit: Duration,
    last_line: std::time::Instant,
}

impl<R> LineWatch<R> {
    fn new(inner: R, limit: Duration) -> Self {
        Self {
            inner,
            limit,
            last_line: std::time::Instant::now(),
        }
    }
}

impl<R: Read> Read for LineWatch<R> {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        let read = self.inner.read(buffer)?;
        if buffer[..read].contains(&b'\n') {
            self.last_line = std::time::Instant::now();
        } else if read > 0 && self.last_line.elapsed() > self.limit {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!(
                    "the event stream sent no whole line for {} s",
                    self.limit.as_secs_f64()
                ),
            ));
        }
        Ok(read)
    }
}

/// Whether a read failed for its deadline: the blocking client reports a deadline as a
/// `TimedOut` I/O error, or as an I/O error wrapping reqwest's timeout.
fn is_timeout(error: &std::io::Error) -> bool {
    error.kind() == std::io::ErrorKind::TimedOut
        || error
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<reqwest::Error>())
            .is_some_and(reqwest::Error::is_timeout)
}

/// `text` as one percent-encoded path segment, so an id with `/`, spaces or accents names
/// one record and not a different path.
pub fn segment(text: &str) -> String {
    percent_encode(text)
}

/// `path` with `pairs` as its query string, each name and value percent-encoded; pairs
/// without a value are left out.
pub fn with_query(path: &str, pairs: &[(&str, Option<String>)]) -> String {
    let query: Vec<String> = pairs
        .iter()
        .filter_map(|(name, value)| {
            let value = value.as_ref()?;
            Some(format!(
                "{}={}",
                percent_encode(name),
                percent_encode(value)
            ))
        })
        .collect();
    if query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{}", query.join("&"))
    }
}

/// Percent-encodes every byte but RFC 3986's unreserved characters.
fn percent_encode(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_and_queries_are_percent_encoded_as_utf8() {
        assert_eq!(segment("pe-pnp/001 x"), "pe-pnp%2F001%20x");
        let path = with_query(
            "/v1/contacts",
            &[
                ("q", Some("José Perú & co".into())),
                ("member", None),
                ("page", Some("2".into())),
            ],
        );
        assert_eq!(
            path,
            "/v1/contacts?q=Jos%C3%A9%20Per%C3%BA%20%26%20co&page=2"
        );
        assert_eq!(with_query("/v1/alerts", &[("from", None)]), "/v1/alerts");
    }

    /// A server on loopback that answers one request with `head`, then sends the body one
    /// byte every `pause` until the client goes away (or 600 bytes, so it always ends).
    fn dribbling_server(head: &'static str, pause: Duration) -> String {
        use std::io::Write;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let address = listener.local_addr().expect("address");
        std::thread::spawn(move || {
            let Ok((mut stream, _)) = listener.accept() else {
                return;
            };
            let mut request = [0; 4096];
            let _ = stream.read(&mut request);
            if stream.write_all(head.as_bytes()).is_err() {
                return;
            }
            for _ in 0..600 {
                std::thread::sleep(pause);
                if stream
                    .write_all(b" ")
                    .and_then(|()| stream.flush())
                    .is_err()
                {
                    return;
                }
            }
        });
        format!("http://{address}")
    }

    #[test]
    fn an_answer_dribbled_past_the_deadline_fails_with_the_deadline() {
        let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                    content-length: 100000\r\n\r\n";
        let base = dribbling_server(head, Duration::from_millis(100));
        let client = NodeClient::new(&base, "")
            .expect("client")
            .with_deadline(Duration::from_secs(1));
        let started = std::time::Instant::now();
        let error = client.get("/v1/network").expect_err("past the deadline");
        assert!(started.elapsed() < Duration::from_secs(5), "{error:#}");
        let message = format!("{error:#}");
        assert!(
            message.starts_with("the node did not finish answering within 1 s"),
            "{message}"
        );
    }

    #[test]
    fn an_event_stream_that_dribbles_bytes_but_no_lines_counts_as_broken() {
        let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\n: hello\n";
        let base = dribbling_server(head, Duration::from_millis(100));
        let mut client = NodeClient::new(&base, "").expect("client");
        client.silence_limit = Duration::from_secs(1);
        let started = std::time::Instant::now();
        let error = client
            .watch("/v1/events", |_| Ok(true))
            .expect_err("a stalled stream");
        assert!(started.elapsed() < Duration::from_secs(5), "{error:#}");
        assert!(
            format!("{error:#}").contains("sent no whole line for 1 s"),
            "{error:#}"
        );
    }

    #[test]
    fn node_error_envelope_keeps_what_the_node_said() {
        let error = NodeError {
            status: 422,
            code: "invalid_rows".into(),
            message: "1 rows have errors".into(),
            field: None,
            details: Some(serde_json::json!({ "total": 1 })),
        };
        let envelope = error.envelope();
        assert_eq!(envelope["error"]["code"], "invalid_rows");
        assert_eq!(envelope["error"]["details"]["total"], 1);
        assert!(envelope["error"].get("field").is_none());
    }
}
