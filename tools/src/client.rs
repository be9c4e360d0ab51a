//! The `vigia` command's HTTP client of a node's local API.
//!
//! Errors from the node are shown as the node said them (its `code`, `message` and
//! `field`), so a person sees the same words a script would read in the JSON.

use std::io::BufRead;
use std::time::Duration;

use anyhow::{Context, Result};
use reqwest::Method;
use reqwest::blocking::{Client, RequestBuilder, Response};
use serde::Deserialize;
use serde_json::Value;

/// How long one request may take; imports of large directories are the slow ones.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// An error answer of the node.
#[derive(Debug, thiserror::Error)]
#[error("the node answered {status}: {message}{}", field.as_ref().map(|f| format!(" (field `{f}`)")).unwrap_or_default())]
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

/// A node's API at `base` (such as `http://127.0.0.1:8440`), used with `token`.
#[derive(Debug, Clone)]
pub struct NodeClient {
    http: Client,
    base: String,
    token: String,
}

impl NodeClient {
    /// A client of the API at `base`.
    pub fn new(base: &str, token: &str) -> Result<Self> {
        let http = Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .context("cannot set up the HTTP client")?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
        })
    }

    /// The API's base address.
    pub fn base(&self) -> &str {
        &self.base
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
    }

    fn send(&self, builder: RequestBuilder, what: &str) -> Result<Response> {
        let response = builder
            .send()
            .with_context(|| format!("cannot reach the node at {} ({what})", self.base))?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status().as_u16();
        let text = response.text().unwrap_or_default();
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
        response
            .json()
            .with_context(|| format!("the node's answer to {path} is not JSON"))
    }

    /// GET returning text (CSV, vCard, metrics).
    pub fn get_text(&self, path: &str) -> Result<String> {
        let response = self.send(self.request(Method::GET, path), path)?;
        response
            .text()
            .with_context(|| format!("cannot read the node's answer to {path}"))
    }

    /// A request with a JSON body, returning JSON (or `null` for an empty answer).
    pub fn send_json(&self, method: Method, path: &str, body: &Value) -> Result<Value> {
        let response = self.send(self.request(method, path).json(body), path)?;
        json_or_null(response, path)
    }

    /// DELETE, returning JSON (or `null`).
    pub fn delete(&self, path: &str) -> Result<Value> {
        let response = self.send(self.request(Method::DELETE, path), path)?;
        json_or_null(response, path)
    }

    /// POST of raw bytes with a content type, returning JSON.
    pub fn post_bytes(&self, path: &str, content_type: &str, bytes: Vec<u8>) -> Result<Value> {
        let builder = self
            .request(Method::POST, path)
            .header("content-type", content_type)
            .body(bytes);
        let response = self.send(builder, path)?;
        json_or_null(response, path)
    }

    /// Opens the server-sent event stream at `path` and calls `on_event` with each event's
    /// data until it returns false or the stream ends.
    pub fn watch(
        &self,
        path: &str,
        mut on_event: impl FnMut(&str, &str) -> Result<bool>,
    ) -> Result<()> {
        // No overall timeout: the stream is meant to stay open for days.
        let http = Client::builder()
            .build()
            .context("cannot set up the HTTP client")?;
        let builder = http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .header("accept", "text/event-stream");
        let response = self.send(builder, path)?;
        let mut event = String::from("message");
        let mut data = String::new();
        for line in std::io::BufReader::new(response).lines() {
            let line = line.context("the event stream broke")?;
            if line.is_empty() {
                if !data.is_empty() && !on_event(&event, &data)? {
                    return Ok(());
                }
                event = "message".into();
                data.clear();
            } else if let Some(name) = line.strip_prefix("event:") {
                event = name.trim().to_owned();
            } else if let Some(chunk) = line.strip_prefix("data:") {
                if !data.is_empty() {
                    data.push('\n');
                }
                data.push_str(chunk.strip_prefix(' ').unwrap_or(chunk));
            }
        }
        Ok(())
    }
}

fn json_or_null(response: Response, path: &str) -> Result<Value> {
    let text = response
        .text()
        .with_context(|| format!("cannot read the node's answer to {path}"))?;
    if text.trim().is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_str(&text).with_context(|| format!("the node's answer to {path} is not JSON"))
}
