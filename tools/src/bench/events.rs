//! Watching nodes' `GET /v1/events` streams and timestamping each alert as it arrives.
//!
//! Every node's stream is read by a thread of its own, which takes the time the moment its
//! read returns, before any parsing, and sends it on one channel. All timestamps come from
//! this process's monotonic clock, so arrival times at different nodes compare exactly;
//! what a stream adds (the node renders the alert, writes it to the socket, this thread
//! wakes) is the same path for the author's own copy and every receiver's.
//!
//! The request is HTTP/1.0, so the node sends the stream without chunked framing and ends
//! it by closing: each line on the socket is an event line. [`Watch::stop`] shuts the
//! socket down, which ends the thread's read at once.
//!
//! The reader acknowledges every segment at once (`TCP_QUICKACK`, re-armed after each read,
//! as Linux clears it). The node's API socket does not set `TCP_NODELAY`, so Nagle's
//! algorithm holds a small write while an earlier one is unacknowledged, and with Linux's
//! delayed acknowledgements that wait is up to 40 ms: an artefact of the stream, which
//! would otherwise land at random on the author's or a receiver's arrival.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::mpsc::SyncSender;
use std::thread::JoinHandle;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use socket2::SockRef;

/// Largest stream head (status line and headers) accepted.
const MAX_HEAD_BYTES: usize = 16 * 1024;
/// Largest event accepted; an alert with its longest description is well under it.
const MAX_EVENT_BYTES: usize = 256 * 1024;
/// Bytes read at once.
const READ_CHUNK: usize = 16 * 1024;

/// What a stream reported.
#[derive(Debug, Clone)]
pub enum Seen {
    /// The subscription of node `node` is in place: later alerts will be reported.
    Opened {
        /// Index of the node.
        node: usize,
    },
    /// An alert was applied on node `node`.
    Alert {
        /// Index of the node.
        node: usize,
        /// The alert's author.
        member: String,
        /// Its sequence number.
        seq: u64,
        /// When its event reached this process.
        at: Instant,
    },
}

/// One node's event stream being read.
pub struct Watch {
    socket: TcpStream,
    thread: JoinHandle<Result<()>>,
}

#[derive(Deserialize)]
struct AlertData {
    member: String,
    seq: u64,
}

impl Watch {
    /// Opens node `node`'s stream on `api_port` and reports what it sees to `seen`.
    pub fn open(node: usize, api_port: u16, token: &str, seen: SyncSender<Seen>) -> Result<Self> {
        let mut socket = TcpStream::connect(("127.0.0.1", api_port))
            .with_context(|| format!("cannot connect to the API on port {api_port}"))?;
        socket.set_nodelay(true)?;
        let request = format!(
            "GET /v1/events HTTP/1.0\r\nHost: 127.0.0.1:{api_port}\r\n\
             Authorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n"
        );
        socket.write_all(request.as_bytes())?;
        let reader = socket.try_clone()?;
        let thread = std::thread::spawn(move || read_stream(node, reader, &seen));
        Ok(Self { socket, thread })
    }

    /// Closes the stream and waits for its thread; returns what stopped it, if not this.
    pub fn stop(self) -> Result<()> {
        // Already closed by the node if it stopped first; nothing to undo then.
        let _ = self.socket.shutdown(Shutdown::Both);
        self.thread
            .join()
            .map_err(|_| anyhow::anyhow!("event stream thread panicked"))?
    }
}

fn read_stream(node: usize, mut socket: TcpStream, seen: &SyncSender<Seen>) -> Result<()> {
    let mut buffer = Vec::new();
    let mut chunk = vec![0u8; READ_CHUNK];
    let mut head_done = false;
    let mut event = Event::default();
    loop {
        // Best effort: without it only the 40 ms artefact comes back.
        let _ = SockRef::from(&socket).set_tcp_quickack(true);
        let read = match socket.read(&mut chunk) {
            Ok(0) | Err(_) => return Ok(()),
            Ok(read) => read,
        };
        let at = Instant::now();
        buffer.extend_from_slice(&chunk[..read]);
        if !head_done {
            let Some(end) = find(&buffer, b"\r\n\r\n") else {
                if buffer.len() > MAX_HEAD_BYTES {
                    bail!("node {node}'s event stream head is too long");
                }
                continue;
            };
            let head = String::from_utf8_lossy(&buffer[..end]).into_owned();
            if !head.starts_with("HTTP/1.0 200") && !head.starts_with("HTTP/1.1 200") {
                let status = head.lines().next().unwrap_or_default().to_owned();
                bail!("node {node} refused its event stream: {status}");
            }
            buffer.drain(..end + 4);
            head_done = true;
        }
        while let Some(end) = find(&buffer, b"\n") {
            let line = String::from_utf8_lossy(&buffer[..end])
                .trim_end_matches('\r')
                .to_owned();
            buffer.drain(..=end);
            if let Some(report) = event.line(&line, node, at)
                && seen.send(report).is_err()
            {
                return Ok(());
            }
        }
        if buffer.len() > MAX_EVENT_BYTES {
            bail!("node {node} sent an event line over {MAX_EVENT_BYTES} bytes");
        }
    }
}

/// The event being read, line by line.
#[derive(Default)]
struct Event {
    name: String,
    data: String,
}

impl Event {
    /// Takes one line; at the blank line that ends an event, returns what it reports.
    fn line(&mut self, line: &str, node: usize, at: Instant) -> Option<Seen> {
        if let Some(name) = line.strip_prefix("event:") {
            self.name = name.trim().to_owned();
        } else if let Some(data) = line.strip_prefix("data:") {
            self.data.push_str(data.strip_prefix(' ').unwrap_or(data));
        } else if line.is_empty() {
            let event = std::mem::take(self);
            return match event.name.as_str() {
                "open" => Some(Seen::Opened { node }),
                "alert" => {
                    let alert: AlertData = serde_json::from_str(&event.data).ok()?;
                    Some(Seen::Alert {
                        node,
                        member: alert.member,
                        seq: alert.seq,
                        at,
                    })
                }
                _ => None,
            };
        }
        None
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}
