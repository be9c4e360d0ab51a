//! Messages of the pull protocol `/vigia/sync/1`.
//!
//! A node asks a peer for its heads, sending its own, and then asks for the ranges it
//! misses, one page at a time. Each request has exactly one response; the transport pairs
//! them. Entries travel as their exact wire bytes so the receiver checks the same bytes
//! the author signed.

use serde::{Deserialize, Serialize};

use crate::bytes::Hash;
use crate::codec::{self, DecodeError, EncodeError, MAX_SYNC_MESSAGE_BYTES};
use crate::entry::Head;
use crate::member::MemberCode;

/// Protocol name, with its version.
pub const PROTOCOL_NAME: &str = "/vigia/sync/1";

/// Most entries in one page: enough to catch up quickly, small enough that one slow page
/// does not hold a connection for long.
pub const MAX_PAGE_ENTRIES: u32 = 1_024;

/// A page is cut before it grows past this many bytes, leaving room under
/// [`MAX_SYNC_MESSAGE_BYTES`] for one more maximal entry and the framing.
pub const MAX_PAGE_BYTES: usize = 2 * 1024 * 1024;

/// What a node says about itself in a heads exchange.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// The network id; a peer of another network is refused.
    pub network: Hash,
    /// The sender's head of every feed it holds.
    pub heads: Vec<(MemberCode, Head)>,
    /// The sender's clock, milliseconds since the Unix epoch, to report skew.
    pub now_ms: u64,
    /// The largest gossip message the sender accepts, to detect mismatched limits.
    pub max_message_bytes: u32,
}

/// A sync request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// "Here are my heads; what are yours?"
    Heads(Status),
    /// "Send me `author`'s entries from `from_seq` on, at most `max_entries`."
    Range {
        /// Whose feed.
        author: MemberCode,
        /// First sequence number wanted.
        from_seq: u64,
        /// Most entries wanted (the server caps it at [`MAX_PAGE_ENTRIES`]).
        max_entries: u32,
    },
}

/// A sync response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    /// The responder's status.
    Heads(Status),
    /// Consecutive entries of one feed, from the requested sequence number, as wire bytes.
    /// Fewer than asked means the responder has no more or the page was full.
    Entries(Vec<Vec<u8>>),
    /// The request was refused (other network, malformed request).
    Refused(String),
}

/// Encodes a request.
pub fn encode_request(request: &Request) -> Result<Vec<u8>, EncodeError> {
    codec::encode(request)
}

/// Decodes a request.
pub fn decode_request(bytes: &[u8]) -> Result<Request, DecodeError> {
    codec::decode::<Request, MAX_SYNC_MESSAGE_BYTES>(bytes)
}

/// Encodes a response.
pub fn encode_response(response: &Response) -> Result<Vec<u8>, EncodeError> {
    codec::encode(response)
}

/// Decodes a response.
pub fn decode_response(bytes: &[u8]) -> Result<Response, DecodeError> {
    codec::decode::<Response, MAX_SYNC_MESSAGE_BYTES>(bytes)
}
