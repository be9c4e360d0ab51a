//! The contract two Vigía nodes must agree on, whatever their versions.
//!
//! This crate has no networking and no storage. It owns:
//! - [`member`]: ISO 3166-1 alpha-2 member codes;
//! - [`codec`]: the one place that turns wire types into bytes and back, with a hard size limit;
//! - [`entry`]: the signed entries that make up each member's append-only feed;
//! - [`body`]: what an entry can say (contacts, institutions, alerts, acknowledgements);
//! - [`validate`]: checks of an entry on its own and against the feed it extends;
//! - [`roster`]: the signed list of members, their keys and their nodes;
//! - [`sync`]: the request and response messages of the pull protocol.
//!
//! Every check returns a typed error saying exactly what was wrong, so a node can log it,
//! count it and tell the peer that sent it.
#![deny(missing_docs)]

pub mod body;
pub mod bytes;
pub mod codec;
pub mod entry;
pub mod member;
pub mod roster;
pub mod sync;
pub mod validate;

pub use body::Body;
pub use bytes::{Hash, PublicKey, Signature};
pub use entry::{Entry, EntryRef, SignedEntry};
pub use member::MemberCode;
pub use roster::Roster;
