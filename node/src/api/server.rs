//! Accepting API connections: how many may be open at once and how long a client may take
//! to send a request's headers.
//!
//! One task accepts; each connection runs in its own task of a [`JoinSet`], served by
//! hyper's HTTP/1 server. The accept task alone keeps the table of open connections, so it
//! needs no lock: a connection's task ends, the accept task reaps it and forgets it.
//!
//! Why oldest-idle eviction rather than making new clients wait: a connection limit
//! reached by clients that send nothing would otherwise lock out everyone else, monitoring
//! included. At the limit, a new connection closes the oldest connection that is not in
//! the middle of a request (idle keep-alive, or still sending its headers) and takes its
//! place; a client that was closed this way reconnects, as it would after any keep-alive
//! close. Only when every open connection is serving a request is the new one closed at
//! once: the node is then busy with real work, and requests in flight are bounded anyway.
//! Slow senders are also cut by the header timeout, which hyper applies from the moment it
//! waits for a request, so it bounds idle keep-alive connections as well.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::Router;
use axum::body::{Body, Bytes};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{AbortHandle, Id, JoinSet};
use tower::ServiceExt as _;

/// Largest request head (request line and headers). The API's requests carry a token and a
/// few ordinary headers: a few hundred bytes. hyper answers 431 beyond it.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// Largest read buffer of a connection, hyper's smallest allowed value: with
/// [`MAX_HEADER_BYTES`] it bounds the memory an open connection holds before a handler
/// runs, so that the connection limit bounds memory too.
const MAX_READ_BUFFER_BYTES: usize = 8 * 1024 + MAX_HEADER_BYTES;

/// Pause after a failed accept (out of file descriptors, most likely), so the loop does not
/// spin while the condition lasts.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// How many API connections may be open, and how long a request's headers may take.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Most connections open at once.
    pub max_connections: usize,
    /// Longest time from waiting for a request (a new connection, or after the previous
    /// answer) to its last header byte.
    pub header_read_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            max_connections: crate::config::DEFAULT_API_MAX_CONNECTIONS,
            header_read_timeout: Duration::from_secs(
                crate::config::DEFAULT_API_HEADER_READ_TIMEOUT_SECS,
            ),
        }
    }
}

/// One open connection, as the accept task knows it.
struct Open {
    /// Accept order: the smallest is the oldest.
    order: u64,
    /// Requests the connection is serving, response bodies included.
    busy: Arc<AtomicUsize>,
    abort: AbortHandle,
}

/// Serves `app` on `listener` until `stopping` turns true, then lets each connection finish
/// its request and waits for them.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    stopping: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let stopped = stop_signal(stopping.clone());
    tokio::pin!(stopped);
    let mut tasks = JoinSet::new();
    let mut open: HashMap<Id, Open> = HashMap::new();
    let mut accepted: u64 = 0;
    let mut at_limit = false;
    loop {
        tokio::select! {
            result = listener.accept() => {
                let stream = match result {
                    Ok((stream, _)) => stream,
                    Err(err) => {
                        tracing::warn!(%err, "cannot accept an api connection");
                        tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                        continue;
                    }
                };
                let full = open.len() >= limits.max_connections;
                if full != at_limit {
                    at_limit = full;
                    log_limit(full, limits.max_connections);
                }
                if full && !evict_oldest_idle(&mut open) {
                    tracing::debug!("api connection closed: every open connection is busy");
                    continue;
                }
                accepted += 1;
                let busy = Arc::new(AtomicUsize::new(0));
                let connection = connect(stream, app.clone(), limits, &busy, stopping.clone());
                let abort = tasks.spawn(connection);
                open.insert(abort.id(), Open { order: accepted, busy, abort });
            }
            Some(done) = tasks.join_next_with_id() => {
                let id = done.map_or_else(|err| err.id(), |(id, ())| id);
                open.remove(&id);
            }
            () = &mut stopped => break,
        }
    }
    drop(listener);
    while tasks.join_next().await.is_some() {}
    Ok(())
}

fn log_limit(full: bool, max_connections: usize) {
    if full {
        tracing::warn!(
            max_connections,
            "api connection limit reached; new connections close the oldest idle one"
        );
    } else {
        tracing::info!(max_connections, "api connections below the limit again");
    }
}

/// Closes the oldest connection that serves no request; false if every one does.
fn evict_oldest_idle(open: &mut HashMap<Id, Open>) -> bool {
    let oldest = open
        .iter()
        .filter(|(_, connection)| connection.busy.load(Ordering::Acquire) == 0)
        .min_by_key(|(_, connection)| connection.order)
        .map(|(id, _)| *id);
    let Some(id) = oldest else {
        return false;
    };
    if let Some(connection) = open.remove(&id) {
        connection.abort.abort();
    }
    true
}

/// Serves one connection until the client leaves, a limit cuts it, or the API stops (then
/// after the request in progress).
fn connect(
    stream: TcpStream,
    app: Router,
    limits: ConnectionLimits,
    busy: &Arc<AtomicUsize>,
    stopping: watch::Receiver<bool>,
) -> impl Future<Output = ()> + Send + 'static {
    // Without TCP_NODELAY, Nagle's algorithm holds a response's or an event's last small
    // write until the client acknowledges the previous one, and a client that delays its
    // acknowledgements (Linux does, by up to 40 ms) then sees it that much later.
    if let Err(err) = stream.set_nodelay(true) {
        tracing::debug!(%err, "cannot set TCP_NODELAY on an api connection");
    }
    let busy = busy.clone();
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let busy = Busy::enter(busy.clone());
        let app = app.clone();
        async move {
            let response = app.oneshot(request.map(Body::new)).await?;
            // Counted until the body is sent, so that a long download or an event stream is
            // never taken for an idle connection.
            Ok::<_, Infallible>(response.map(|body| body_holding(body, busy)))
        }
    });
    async move {
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout)
            .max_header_size(MAX_HEADER_BYTES)
            .max_buf_size(MAX_READ_BUFFER_BYTES);
        let connection = builder.serve_connection(TokioIo::new(stream), service);
        tokio::pin!(connection);
        let result = tokio::select! {
            result = connection.as_mut() => result,
            () = stop_signal(stopping) => {
                connection.as_mut().graceful_shutdown();
                connection.await
            }
        };
        if let Err(err) = result {
            tracing::debug!(%err, "api connection ended with an error");
        }
    }
}

/// Resolves when the API stops (or its stop sender is gone).
async fn stop_signal(mut stopping: watch::Receiver<bool>) {
    let _ = stopping.wait_for(|stop| *stop).await;
}

/// Counts a request as in progress on its connection while it lives.
struct Busy(Arc<AtomicUsize>);

impl Busy {
    fn enter(count: Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::AcqRel);
        Self(count)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A response body that keeps `held` until it is sent or the client leaves; its length,
/// when known, is kept, so the answer still carries `Content-Length`.
pub(crate) fn body_holding<T: Send + Unpin + 'static>(body: Body, held: T) -> Body {
    Body::new(Holding { body, _held: held })
}

struct Holding<T> {
    body: Body,
    _held: T,
}

impl<T: Unpin> http_body::Body for Holding<T> {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(context)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}
