//! Entries: the signed, hash-chained records of each member's append-only feed.
//!
//! The author signs `ENTRY_DOMAIN ‖ encode(Entry)`; those are the *signed bytes*, and the
//! entry's hash is SHA-256 over them. The signature is not under the hash, and strict
//! verification refuses malleable signatures, so an entry has one hash.

use ed25519_dalek::{Signer, SigningKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::body::Body;
use crate::bytes::{Hash, Signature};
use crate::codec::{self, DecodeError, EncodeError, MAX_ENTRY_BYTES};
use crate::member::MemberCode;

/// Prefix of every signed entry, so an entry signature can never be replayed as a roster
/// signature or anything else the same key signs.
pub const ENTRY_DOMAIN: &[u8] = b"vigia/entry/v1\0";

/// One record of a member's feed, before signing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The network id (hash of the founding roster), so an entry of one network is
    /// refused by every other.
    pub network: Hash,
    /// The member that wrote and signed it.
    pub author: MemberCode,
    /// Position in the author's feed: 1 for the first entry, then one more each time.
    pub seq: u64,
    /// Hash of the author's previous entry, [`Hash::ZERO`] for the first.
    pub prev: Hash,
    /// When the author issued it, milliseconds since the Unix epoch (author's clock).
    pub issued_at_ms: u64,
    /// What it says.
    pub body: Body,
}

/// An entry with its author's signature: the unit that travels and is stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedEntry {
    /// The entry.
    pub entry: Entry,
    /// Ed25519 signature over the signed bytes.
    pub signature: Signature,
}

/// Names one entry across the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct EntryRef {
    /// The author.
    pub author: MemberCode,
    /// Its sequence number.
    pub seq: u64,
    /// Its hash.
    pub hash: Hash,
}

/// The latest entry of a feed: what nodes compare to find what they miss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    /// Sequence number of the latest entry.
    pub seq: u64,
    /// Hash of the latest entry.
    pub hash: Hash,
}

impl Entry {
    /// The bytes the author signs and the hash covers.
    pub fn signed_bytes(&self) -> Result<Vec<u8>, EncodeError> {
        let mut bytes = ENTRY_DOMAIN.to_vec();
        bytes.extend_from_slice(&codec::encode(self)?);
        Ok(bytes)
    }

    /// Signs the entry with the author's key.
    pub fn sign(self, key: &SigningKey) -> Result<SignedEntry, EncodeError> {
        let signature = Signature(key.sign(&self.signed_bytes()?).to_bytes());
        Ok(SignedEntry {
            entry: self,
            signature,
        })
    }
}

impl SignedEntry {
    /// The wire form.
    pub fn to_bytes(&self) -> Result<Vec<u8>, EncodeError> {
        codec::encode(self)
    }

    /// Decodes the wire form, refusing anything over [`MAX_ENTRY_BYTES`] and any encoding but
    /// the canonical one, so an entry's hash names exactly one byte string. This checks the
    /// encoding only; [`crate::validate`] checks the content.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        codec::decode_canonical::<Self, MAX_ENTRY_BYTES>(bytes)
    }
}

/// The leading fields of an entry, in the order [`Entry`] encodes them.
#[derive(Deserialize)]
struct Position {
    _network: Hash,
    author: MemberCode,
    seq: u64,
}

/// The author and sequence number of an entry in wire form, read from its first bytes only.
/// For checking that a sync page holds what was asked before verifying it; it proves
/// nothing about the signature or the rest of the entry.
pub fn peek_position(bytes: &[u8]) -> Option<(MemberCode, u64)> {
    let position: Position = codec::decode_prefix::<Position, 64>(bytes).ok()?;
    Some((position.author, position.seq))
}

/// SHA-256 of the signed bytes.
pub fn hash_signed_bytes(signed_bytes: &[u8]) -> Hash {
    Hash(Sha256::digest(signed_bytes).into())
}

/// The hash of an entry given in wire form, if the bytes decode. Used where only an id is
/// needed (gossip message ids); it proves nothing about the signature.
pub fn hash_of_wire_bytes(bytes: &[u8]) -> Option<Hash> {
    let signed = SignedEntry::from_bytes(bytes).ok()?;
    Some(hash_signed_bytes(&signed.entry.signed_bytes().ok()?))
}
