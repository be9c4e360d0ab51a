//! The roster: who is in the network, with which keys and nodes.
//!
//! The roster file is TOML that people can read and review. What members sign is the
//! canonical encoding of its [`RosterBody`] under [`ROSTER_DOMAIN`]; the network id is the
//! SHA-256 of those same bytes, so every entry names the exact founding roster it belongs to.
//!
//! A founding roster must carry a valid signature of every member it lists. Changing the
//! roster later (with a quorum of signatures) is not implemented yet: a node loads one
//! roster and keeps it until restarted.

use std::collections::BTreeSet;

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::bytes::{Hash, PublicKey, Signature};
use crate::codec;
use crate::entry::hash_signed_bytes;
use crate::member::MemberCode;

/// Prefix of the bytes a member signs to approve a roster.
pub const ROSTER_DOMAIN: &[u8] = b"vigia/roster/v1\0";

/// Most members a roster may list (the OAS has 35; room for observers and growth).
pub const MAX_MEMBERS: usize = 256;
/// Most nodes one member may run.
pub const MAX_NODES_PER_MEMBER: usize = 8;
/// Most addresses per node.
pub const MAX_ADDRESSES_PER_NODE: usize = 8;

/// One node that a member runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeRecord {
    /// The node's libp2p peer id (base58).
    pub peer_id: String,
    /// Multiaddresses at which other nodes dial it.
    pub addresses: Vec<String>,
}

/// One member state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// ISO 3166-1 alpha-2 code.
    pub code: MemberCode,
    /// Name of the state.
    pub name: String,
    /// Public key that signs the member's feed.
    pub signing_key: PublicKey,
    /// The member's nodes.
    pub nodes: Vec<NodeRecord>,
}

/// What the members sign.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RosterBody {
    /// Human name of the network.
    pub network: String,
    /// Signatures needed to change the roster.
    pub quorum: u32,
    /// The members, in the order they were listed.
    pub members: Vec<Member>,
}

/// One member's approval of a roster body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RosterSignature {
    /// Who signed.
    pub member: MemberCode,
    /// Signature over `ROSTER_DOMAIN ‖ encode(body)`.
    pub signature: Signature,
}

/// The roster file as written on disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RosterFile {
    /// The signed content.
    #[serde(flatten)]
    pub body: RosterBody,
    /// Approvals collected so far.
    #[serde(default)]
    pub signatures: Vec<RosterSignature>,
}

/// A roster whose content is well formed and carries every member's signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roster {
    body: RosterBody,
    id: Hash,
}

/// Why a roster is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RosterError {
    /// The file is not valid roster TOML.
    #[error("roster file is not valid: {0}")]
    Parse(String),
    /// The roster lists no member, or more than [`MAX_MEMBERS`].
    #[error("roster must list 1 to {MAX_MEMBERS} members, it lists {0}")]
    MemberCount(usize),
    /// A member appears twice.
    #[error("member {0} is listed twice")]
    DuplicateMember(MemberCode),
    /// Two members share a signing key or a node.
    #[error("member {member} reuses {what} of another member")]
    SharedIdentity {
        /// The second member to use it.
        member: MemberCode,
        /// `signing key` or `peer id …`.
        what: String,
    },
    /// A field is out of range.
    #[error("member {member}: {reason}")]
    InvalidMember {
        /// The member.
        member: MemberCode,
        /// What is wrong.
        reason: String,
    },
    /// The quorum cannot be met or is zero.
    #[error("quorum {quorum} must be between 1 and the number of members ({members})")]
    Quorum {
        /// The quorum.
        quorum: u32,
        /// Number of members.
        members: usize,
    },
    /// A member has not signed yet.
    #[error("member {0} has not signed the roster")]
    MissingSignature(MemberCode),
    /// A signature does not verify with the signer's key.
    #[error("signature of member {0} does not verify")]
    BadSignature(MemberCode),
    /// A signature comes from a code that is not a member.
    #[error("signature from {0}, which is not a member")]
    UnknownSigner(MemberCode),
}

impl RosterBody {
    /// The bytes members sign; their hash is the network id.
    pub fn signed_bytes(&self) -> Vec<u8> {
        let mut bytes = ROSTER_DOMAIN.to_vec();
        // Roster types hold only strings, integers and byte arrays, which always encode.
        bytes.extend_from_slice(&codec::encode(self).unwrap_or_default());
        bytes
    }

    /// Checks the content, not the signatures.
    pub fn check(&self) -> Result<(), RosterError> {
        let count = self.members.len();
        if count == 0 || count > MAX_MEMBERS {
            return Err(RosterError::MemberCount(count));
        }
        if self.quorum == 0 || self.quorum as usize > count {
            return Err(RosterError::Quorum {
                quorum: self.quorum,
                members: count,
            });
        }
        let mut codes = BTreeSet::new();
        let mut keys = BTreeSet::new();
        let mut peers = BTreeSet::new();
        for member in &self.members {
            if !codes.insert(member.code) {
                return Err(RosterError::DuplicateMember(member.code));
            }
            if !keys.insert(member.signing_key) {
                return Err(RosterError::SharedIdentity {
                    member: member.code,
                    what: "signing key".into(),
                });
            }
            check_member(member)?;
            for node in &member.nodes {
                if !peers.insert(node.peer_id.clone()) {
                    return Err(RosterError::SharedIdentity {
                        member: member.code,
                        what: format!("peer id {}", node.peer_id),
                    });
                }
            }
        }
        Ok(())
    }

    /// Signs the body as `member` and returns the signature to add to the file.
    pub fn sign(&self, member: MemberCode, key: &SigningKey) -> RosterSignature {
        let signature = Signature(key.sign(&self.signed_bytes()).to_bytes());
        RosterSignature { member, signature }
    }
}

fn check_member(member: &Member) -> Result<(), RosterError> {
    let invalid = |reason: String| RosterError::InvalidMember {
        member: member.code,
        reason,
    };
    if member.name.trim().is_empty() || member.name.chars().count() > 200 {
        return Err(invalid("name must be 1 to 200 characters".into()));
    }
    if VerifyingKey::from_bytes(&member.signing_key.0).is_err() {
        return Err(invalid(
            "signing_key is not a valid ed25519 public key".into(),
        ));
    }
    if member.nodes.len() > MAX_NODES_PER_MEMBER {
        return Err(invalid(format!("more than {MAX_NODES_PER_MEMBER} nodes")));
    }
    for node in &member.nodes {
        if node.peer_id.is_empty() || node.addresses.len() > MAX_ADDRESSES_PER_NODE {
            return Err(invalid(format!(
                "node {:?} needs a peer id and at most {MAX_ADDRESSES_PER_NODE} addresses",
                node.peer_id
            )));
        }
    }
    Ok(())
}

impl RosterFile {
    /// Parses roster TOML without checking it.
    pub fn from_toml(text: &str) -> Result<Self, RosterError> {
        toml::from_str(text).map_err(|err| RosterError::Parse(err.to_string()))
    }

    /// Writes the file back as TOML.
    pub fn to_toml(&self) -> String {
        // Roster types map onto TOML tables and strings, which always serialize.
        toml::to_string_pretty(self).unwrap_or_default()
    }

    /// Checks the content and that every member signed it.
    pub fn verify(&self) -> Result<Roster, RosterError> {
        self.body.check()?;
        let bytes = self.body.signed_bytes();
        let mut signed = BTreeSet::new();
        for approval in &self.signatures {
            let member = self
                .body
                .members
                .iter()
                .find(|member| member.code == approval.member)
                .ok_or(RosterError::UnknownSigner(approval.member))?;
            let key = VerifyingKey::from_bytes(&member.signing_key.0)
                .map_err(|_| RosterError::BadSignature(member.code))?;
            let signature = ed25519_dalek::Signature::from_bytes(&approval.signature.0);
            key.verify_strict(&bytes, &signature)
                .map_err(|_| RosterError::BadSignature(member.code))?;
            signed.insert(member.code);
        }
        if let Some(missing) = self.body.members.iter().find(|m| !signed.contains(&m.code)) {
            return Err(RosterError::MissingSignature(missing.code));
        }
        Ok(Roster {
            id: hash_signed_bytes(&bytes),
            body: self.body.clone(),
        })
    }

    /// Adds or replaces `member`'s signature.
    pub fn add_signature(&mut self, signature: RosterSignature) {
        self.signatures
            .retain(|existing| existing.member != signature.member);
        self.signatures.push(signature);
    }
}

impl Roster {
    /// Parses and verifies a roster file.
    pub fn from_toml(text: &str) -> Result<Self, RosterError> {
        RosterFile::from_toml(text)?.verify()
    }

    /// The network id: hash of the founding roster.
    pub fn id(&self) -> Hash {
        self.id
    }

    /// The network's name.
    pub fn network(&self) -> &str {
        &self.body.network
    }

    /// The members.
    pub fn members(&self) -> &[Member] {
        &self.body.members
    }

    /// One member, if listed.
    pub fn member(&self, code: MemberCode) -> Option<&Member> {
        self.body.members.iter().find(|member| member.code == code)
    }

    /// The member that runs the node with this peer id.
    pub fn member_of_peer(&self, peer_id: &str) -> Option<&Member> {
        self.body
            .members
            .iter()
            .find(|member| member.nodes.iter().any(|node| node.peer_id == peer_id))
    }

    /// The signed content.
    pub fn body(&self) -> &RosterBody {
        &self.body
    }
}
