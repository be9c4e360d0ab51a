//! The local HTTP/JSON API: what the `vigia` command, scripts and monitoring use.
//!
//! Everything is under `/v1` (described by `/v1/openapi.json`) except `/metrics`. Who owns
//! what:
//! - [`router`] maps paths to handlers and measures each request;
//! - [`auth`] checks bearer tokens against [`crate::tokens`]; [`extract`] decodes bodies
//!   and query strings; [`errors`] is the one error shape;
//! - [`contacts`], [`institutions`], [`alerts`], [`network`], [`import`] and [`export`]
//!   are the resources ([`check_import`] is the import's parser and checks on their own,
//!   for fuzzing); [`backup`] has the node copy its store to a file; [`events`] streams
//!   new alerts and acknowledgements, shown as [`alert_views`] shows them;
//! - [`indexer`] keeps the in-memory [`crate::search::Directory`] in step with the store by
//!   following the node's events; [`publish`] is the single way handlers sign and publish.
//!
//! Reads come from the directory index (contacts, institutions) or a store snapshot
//! (alerts); writes go through [`crate::node::NodeHandle::publish`], one at a time, and
//! update the index before answering so a client reads its own write.
//!
//! Bounds: open connections, the time and bytes to send a request's headers ([`server`],
//! `api.max_connections`, `api.header_read_timeout_secs`), request bodies
//! (`api.max_body_bytes`), requests in flight ([`router`]), exports built at once
//! ([`MAX_EXPORTS`]), open event streams ([`MAX_EVENT_STREAMS`]), page sizes and import
//! rows.

mod alert_views;
mod alerts;
mod auth;
mod backup;
mod contacts;
pub mod csv_format;
mod errors;
mod events;
mod export;
mod extract;
mod import;
mod indexer;
mod institutions;
mod languages;
mod model;
mod names;
mod network;
mod openapi;
mod publish;
mod records;
mod router;
mod server;
pub mod time;
mod vcard;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result, anyhow};
use tokio::net::TcpListener;
use tokio::sync::{Mutex, Semaphore, watch};
use tokio::task::JoinHandle;

use crate::config::NodeConfig;
use crate::node::NodeHandle;
use crate::search::Directory;
use crate::tokens::TokenVerifier;

pub use import::{
    Change, CheckedImport, CheckedRow, ImportError, MAX_IMPORT_ROWS, MAX_REPORTED_ERRORS,
    RowErrors, check_import,
};
pub use server::{ConnectionLimits, MAX_HEADER_BYTES};

/// Most event streams open at once: each holds a connection and a subscription to the
/// node's events; a handful of watch screens per state is the expected use.
const MAX_EVENT_STREAMS: usize = 64;

/// Exports built at once. Each holds the whole file in memory until it is sent (a vCard of
/// the full directory is a few MB), so this bounds what exports can take together; a
/// script or two and a person at a time is the expected use.
const MAX_EXPORTS: usize = 3;

/// Longest wait for open requests when the API stops; event streams end at once.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// What the API needs to start.
#[derive(Debug, Clone)]
pub struct ApiSettings {
    /// Socket address to listen on; port 0 picks a free one.
    pub listen: SocketAddr,
    /// Largest request body, in bytes.
    pub max_body_bytes: usize,
    /// The token file.
    pub tokens_path: PathBuf,
    /// Open connections and header timeout.
    pub connections: ConnectionLimits,
}

impl ApiSettings {
    /// The API settings of a node configuration.
    pub fn from_config(config: &NodeConfig) -> Result<Self> {
        Ok(Self {
            listen: config.api.listen_address()?,
            max_body_bytes: config.api.max_body_bytes,
            tokens_path: config.tokens_path(),
            connections: ConnectionLimits {
                max_connections: config.api.max_connections,
                header_read_timeout: Duration::from_secs(config.api.header_read_timeout_secs),
            },
        })
    }
}

/// What every handler shares.
pub(crate) struct Context {
    node: NodeHandle,
    directory: Arc<Directory>,
    tokens: TokenVerifier,
    /// Held while publishing, so that entries of this node follow one another in the order
    /// handlers checked them (an import checks every row against the directory first).
    publishing: Mutex<()>,
    streams: Arc<Semaphore>,
    /// One permit per export being built or sent ([`MAX_EXPORTS`]).
    exports: Arc<Semaphore>,
    /// Becomes true when the API stops; event streams end on it.
    stopping: watch::Receiver<bool>,
}

/// The shared context, as handlers receive it.
pub(crate) type Shared = Arc<Context>;

/// The running API server.
pub struct ApiServer {
    address: SocketAddr,
    stop: watch::Sender<bool>,
    server: JoinHandle<std::io::Result<()>>,
    indexer: JoinHandle<()>,
}

impl ApiServer {
    /// Loads the directory index, binds the address and serves until [`ApiServer::shutdown`].
    pub async fn start(node: NodeHandle, settings: ApiSettings) -> Result<Self> {
        let listener = TcpListener::bind(settings.listen)
            .await
            .with_context(|| format!("cannot listen for the API on {}", settings.listen))?;
        let address = listener.local_addr()?;
        if !address.ip().is_loopback() {
            tracing::warn!(%address, "api listens beyond loopback; firewall it or add TLS");
        }
        let member_names = node
            .roster()
            .members()
            .iter()
            .map(|member| (member.code, member.name.clone()))
            .collect::<Vec<_>>();
        let directory = Arc::new(Directory::new(member_names));
        // Subscribed before the first load, so nothing applied in between is missed.
        let events = node.subscribe();
        indexer::load(&node, &directory).await?;
        let indexer = tokio::spawn(indexer::follow(node.clone(), directory.clone(), events));
        let (stop, stopping) = watch::channel(false);
        let context = Arc::new(Context {
            node,
            directory,
            tokens: TokenVerifier::new(&settings.tokens_path),
            publishing: Mutex::new(()),
            streams: Arc::new(Semaphore::new(MAX_EVENT_STREAMS)),
            exports: Arc::new(Semaphore::new(MAX_EXPORTS)),
            stopping: stopping.clone(),
        });
        let app = router::build(context, settings.max_body_bytes);
        let server = tokio::spawn(server::serve(listener, app, settings.connections, stopping));
        tracing::info!(%address, "api listening");
        Ok(Self {
            address,
            stop,
            server,
            indexer,
        })
    }

    /// The address the API listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.address
    }

    /// Stops accepting requests, ends event streams and waits briefly for open requests.
    pub async fn shutdown(self) -> Result<()> {
        self.stop.send_replace(true);
        self.indexer.abort();
        let mut server = self.server;
        let result = match tokio::time::timeout(SHUTDOWN_GRACE, &mut server).await {
            Ok(joined) => joined
                .context("api server task panicked")?
                .context("api server failed"),
            Err(_) => {
                // Dropping a task's handle does not stop it; the open requests must end.
                server.abort();
                Err(anyhow!("api requests still open after {SHUTDOWN_GRACE:?}"))
            }
        };
        tracing::info!("api stopped");
        result
    }
}
