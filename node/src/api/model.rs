//! Shapes of the JSON the API writes that several resources share.

use serde::Serialize;
use vigia_protocol::{EntryRef, MemberCode};

use super::Context;
use super::errors::ApiError;

/// An entry, as the API names it.
#[derive(Debug, Clone, Serialize)]
pub struct EntryView {
    /// Its author.
    pub member: MemberCode,
    /// Its position in the author's feed.
    pub seq: u64,
    /// Its hash, hexadecimal.
    pub hash: String,
}

impl From<EntryRef> for EntryView {
    fn from(entry: EntryRef) -> Self {
        Self {
            member: entry.author,
            seq: entry.seq,
            hash: entry.hash.to_hex(),
        }
    }
}

/// One page of a longer list.
#[derive(Debug, Serialize)]
pub struct PageView<T> {
    /// Items in all pages.
    pub total: usize,
    /// This page's number, from 1.
    pub page: usize,
    /// Items per page.
    pub per_page: usize,
    /// This page's items.
    pub items: Vec<T>,
}

impl Context {
    /// Refuses a member the roster does not list (404: there is nothing of it to find).
    pub fn known_member(&self, member: MemberCode) -> Result<MemberCode, ApiError> {
        match self.node.roster().member(member) {
            Some(_) => Ok(member),
            None => Err(ApiError::not_found(format!(
                "{member} is not a member of this network"
            ))),
        }
    }

    /// Refuses a change to another member's records: each node writes only its own
    /// member's feed, which only its key can sign.
    pub fn own_member(&self, member: MemberCode) -> Result<MemberCode, ApiError> {
        let own = self.node.member();
        if member == own {
            Ok(member)
        } else {
            Err(ApiError::forbidden(format!(
                "this node writes {own}'s directory only; \
                 {member}'s records change on {member}'s node"
            )))
        }
    }
}
