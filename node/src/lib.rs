//! A Vigía member node.
//!
//! How the parts fit, from the wire inward:
//! - [`network`] runs the libp2p swarm: gossip for new entries, the `/vigia/sync/1`
//!   request-response protocol for catching up, and the roster allow-list and redialer that
//!   keep exactly the roster's nodes connected.
//! - [`node`] owns the event loop: it feeds what the network receives to the [`ledger`],
//!   reports verdicts back to gossip, and plans sync requests from the heads peers announce.
//!   What a peer sends that no correct node would is counted against it in [`conduct`].
//! - [`ledger`] is the single writer: it validates entries, chains them, buffers early ones
//!   ([`pending`]) and applies batches to the [`store`] in one transaction each.
//! - [`store`] is the redb file; [`views`] are the directory and alerts derived from it;
//!   [`maintenance`] checks a store, backs it up from a running node and restores it.
//! - [`config`] and [`keys`] load settings and key files; [`files`] holds the rules for
//!   reading and writing them (bounded reads, no accidental overwrite, atomic replace).
//! - [`api`] is the local HTTP/JSON API for the `vigia` command, scripts and monitoring: it
//!   reads the directory through [`search`] (an in-memory index that follows the node's
//!   events), alerts through [`views`], and publishes through [`node::NodeHandle`];
//!   [`tokens`] holds its bearer tokens, in a file of their own beside the store.
//! - [`cli`] is the `vigia-node` command line, shared with `vigia node`.
#![deny(missing_docs)]

pub mod api;
pub mod cli;
pub mod clock;
pub mod conduct;
pub mod config;
pub mod files;
pub mod keys;
pub mod ledger;
pub mod maintenance;
pub mod metrics;
pub mod network;
pub mod node;
pub mod pending;
pub mod search;
pub mod store;
pub mod sync_plan;
#[cfg(feature = "testing")]
pub mod testing;
pub mod tokens;
pub mod views;

pub use node::{Node, NodeHandle};
