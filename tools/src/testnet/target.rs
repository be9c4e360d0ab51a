//! Pointing any `vigia` command at one member of a testnet: its API address and token.

use anyhow::Result;
use vigia_protocol::MemberCode;

use super::layout::{Layout, MemberTokens};
use crate::client::NodeClient;

/// A client of `code`'s node in the testnet at `layout`, with the member's admin token.
pub fn member_client(layout: &Layout, code: MemberCode) -> Result<NodeClient> {
    let member = layout.member(code)?;
    let tokens = MemberTokens::read(&layout.tokens(code))?;
    NodeClient::new(
        &format!("http://{}:{}", member.address, member.api_port),
        &tokens.admin,
    )
}
