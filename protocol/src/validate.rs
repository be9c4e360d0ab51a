//! Validation: an entry on its own ([`verify_entry`]), then against its feed ([`check_chain`]).
//!
//! The first step needs only the roster and is what makes a peer provably at fault when it
//! fails (bad bytes, bad signature). The second needs the receiver's state: an entry that
//! is not next may simply be early or late, which is nobody's fault, except a fork, which
//! is the author's.

use ed25519_dalek::VerifyingKey;

use crate::body::InvalidField;
use crate::bytes::Hash;
use crate::codec::{DecodeError, MAX_ENTRY_BYTES};
use crate::entry::{EntryRef, Head, SignedEntry, hash_signed_bytes};
use crate::member::MemberCode;
use crate::roster::Roster;

/// An entry whose bytes, author, network, signature and fields have been checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedEntry {
    /// The entry.
    pub signed: SignedEntry,
    /// Its hash.
    pub hash: Hash,
    /// Its wire form, kept so storing and forwarding it does not encode it again.
    pub bytes: Vec<u8>,
}

impl VerifiedEntry {
    /// The reference other entries use for this one.
    pub fn reference(&self) -> EntryRef {
        EntryRef {
            author: self.signed.entry.author,
            seq: self.signed.entry.seq,
            hash: self.hash,
        }
    }

    /// The head a feed has once this entry is its latest.
    pub fn as_head(&self) -> Head {
        Head {
            seq: self.signed.entry.seq,
            hash: self.hash,
        }
    }
}

/// Why an entry is invalid on its own. Each of these proves the sender sent garbage or a
/// forgery, so a node may count it against the peer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValidationError {
    /// The entry is over [`MAX_ENTRY_BYTES`].
    #[error("entry of {len} bytes is over the limit of {limit} bytes")]
    TooLarge {
        /// Its length.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// The bytes do not decode to exactly one entry.
    #[error("malformed entry bytes: {0}")]
    Malformed(String),
    /// The author is not in the roster.
    #[error("author {0} is not a member of this network")]
    UnknownAuthor(MemberCode),
    /// The entry belongs to another network.
    #[error("entry belongs to network {found}, not {expected}")]
    OtherNetwork {
        /// This network's id.
        expected: Hash,
        /// The id in the entry.
        found: Hash,
    },
    /// The signature does not verify with the author's roster key.
    #[error("signature does not verify with the key of {author}")]
    BadSignature {
        /// The claimed author.
        author: MemberCode,
    },
    /// A field breaks the protocol's rules.
    #[error(transparent)]
    InvalidField(#[from] InvalidField),
}

impl ValidationError {
    /// Short stable name, for metrics labels and counters.
    pub fn reason(&self) -> &'static str {
        match self {
            ValidationError::TooLarge { .. } => "too_large",
            ValidationError::Malformed(_) => "malformed",
            ValidationError::UnknownAuthor(_) => "unknown_author",
            ValidationError::OtherNetwork { .. } => "other_network",
            ValidationError::BadSignature { .. } => "bad_signature",
            ValidationError::InvalidField(_) => "invalid_field",
        }
    }
}

impl From<DecodeError> for ValidationError {
    fn from(error: DecodeError) -> Self {
        match error {
            DecodeError::TooLarge { len, limit } => ValidationError::TooLarge { len, limit },
            other => ValidationError::Malformed(other.to_string()),
        }
    }
}

/// Decodes and checks an entry on its own: size, encoding, author, network, signature and
/// fields, in that order (cheapest first).
pub fn verify_entry(roster: &Roster, bytes: &[u8]) -> Result<VerifiedEntry, ValidationError> {
    if bytes.len() > MAX_ENTRY_BYTES {
        return Err(ValidationError::TooLarge {
            len: bytes.len(),
            limit: MAX_ENTRY_BYTES,
        });
    }
    let signed = SignedEntry::from_bytes(bytes)?;
    let entry = &signed.entry;
    let member = roster
        .member(entry.author)
        .ok_or(ValidationError::UnknownAuthor(entry.author))?;
    if entry.network != roster.id() {
        return Err(ValidationError::OtherNetwork {
            expected: roster.id(),
            found: entry.network,
        });
    }
    if entry.seq == 0 {
        return Err(InvalidField {
            field: "seq".into(),
            reason: "starts at 1".into(),
        }
        .into());
    }
    let signed_bytes = entry
        .signed_bytes()
        .map_err(|err| ValidationError::Malformed(err.to_string()))?;
    let bad_signature = ValidationError::BadSignature {
        author: entry.author,
    };
    let key = VerifyingKey::from_bytes(&member.signing_key.0).map_err(|_| bad_signature.clone())?;
    let signature = ed25519_dalek::Signature::from_bytes(&signed.signature.0);
    key.verify_strict(&signed_bytes, &signature)
        .map_err(|_| bad_signature)?;
    entry.body.validate(entry.issued_at_ms)?;
    check_alert_reference(entry)?;
    let hash = hash_signed_bytes(&signed_bytes);
    Ok(VerifiedEntry {
        signed,
        hash,
        bytes: bytes.to_vec(),
    })
}

/// An alert may update or cancel only an earlier alert of its own author: no member can
/// withdraw another's alert.
fn check_alert_reference(entry: &crate::entry::Entry) -> Result<(), InvalidField> {
    let crate::Body::Alert(alert) = &entry.body else {
        return Ok(());
    };
    match &alert.references {
        Some(target) if target.alert.author != entry.author || target.alert.seq >= entry.seq => {
            Err(InvalidField {
                field: "alert.references.alert".into(),
                reason: "must name an earlier alert of the same author".into(),
            })
        }
        _ => Ok(()),
    }
}

/// Where a verified entry stands against the receiver's copy of the author's feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainPosition {
    /// It extends the feed: apply it.
    Next,
    /// The receiver already has this exact entry.
    Duplicate,
    /// Entries between the head and this one are missing; `missing_from` is the first.
    Ahead {
        /// First missing sequence number.
        missing_from: u64,
    },
}

/// An entry that is signed by its author but contradicts the author's feed: proof that the
/// author's key signed two histories. Kept as evidence, never resolved silently.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "fork in the feed of {author} at seq {seq}: {existing} already held, {conflicting} received"
)]
pub struct Fork {
    /// The author whose key signed both.
    pub author: MemberCode,
    /// The sequence number at which the histories differ.
    pub seq: u64,
    /// Hash of the entry the receiver holds (or, for a bad predecessor link, the hash of
    /// the receiver's entry at `seq - 1`).
    pub existing: Hash,
    /// Hash of the conflicting entry received.
    pub conflicting: Hash,
}

/// Places `entry` against the author's feed whose latest entry is `head`.
///
/// `stored_hash` returns the hash the receiver holds at a sequence number at or below the
/// head. A next entry whose `prev` is not the head's hash is a fork one step back.
pub fn check_chain(
    head: Option<Head>,
    entry: &VerifiedEntry,
    stored_hash: impl FnOnce(u64) -> Option<Hash>,
) -> Result<ChainPosition, Fork> {
    let seq = entry.signed.entry.seq;
    let author = entry.signed.entry.author;
    let (head_seq, head_hash) = head.map_or((0, Hash::ZERO), |head| (head.seq, head.hash));
    if seq == head_seq + 1 {
        if entry.signed.entry.prev == head_hash {
            return Ok(ChainPosition::Next);
        }
        return Err(Fork {
            author,
            seq,
            existing: head_hash,
            conflicting: entry.hash,
        });
    }
    if seq > head_seq {
        return Ok(ChainPosition::Ahead {
            missing_from: head_seq + 1,
        });
    }
    match stored_hash(seq) {
        Some(hash) if hash == entry.hash => Ok(ChainPosition::Duplicate),
        Some(hash) => Err(Fork {
            author,
            seq,
            existing: hash,
            conflicting: entry.hash,
        }),
        // The receiver's own store is missing an entry below its head: treat the entry as
        // already known rather than guess; the store's check reports the hole.
        None => Ok(ChainPosition::Duplicate),
    }
}
