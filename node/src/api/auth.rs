//! Who may call what: the bearer token of each request, checked against the token file,
//! and the role each handler requires.
//!
//! A handler states its requirement by taking [`Focal`] or [`Admin`] as an argument; axum
//! runs these extractors before it reads the body, so an unauthenticated request costs no
//! body parsing.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;

use super::Shared;
use super::errors::ApiError;
use crate::tokens::{Caller, Role, Verdict};

/// A caller with at least the focal-point role.
pub struct Focal(pub Caller);

/// A caller with the admin role.
pub struct Admin(pub Caller);

impl FromRequestParts<Shared> for Focal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Shared) -> Result<Self, ApiError> {
        authorize(parts, state, Role::Focal).map(Focal)
    }
}

impl FromRequestParts<Shared> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Shared) -> Result<Self, ApiError> {
        authorize(parts, state, Role::Admin).map(Admin)
    }
}

fn authorize(parts: &Parts, state: &Shared, required: Role) -> Result<Caller, ApiError> {
    let token = bearer_token(parts)?;
    let caller = match state.tokens.verify(token)? {
        Verdict::Valid(caller) => caller,
        Verdict::Unknown => {
            let route = parts.uri.path();
            tracing::warn!(%route, "api request with an unknown or revoked token refused");
            return Err(ApiError::unauthorized(
                "the token is not valid on this node (unknown or revoked)",
                true,
            ));
        }
        Verdict::NoTokens => {
            return Err(ApiError::unauthorized(
                "this node has no API tokens yet; create one with `vigia-node token create`",
                true,
            ));
        }
    };
    if !caller.role.allows(required) {
        return Err(ApiError::forbidden(format!(
            "this needs the {} role; the token {:?} has the {} role",
            required.as_str(),
            caller.label,
            caller.role.as_str()
        )));
    }
    Ok(caller)
}

fn bearer_token(parts: &Parts) -> Result<&str, ApiError> {
    let missing = || {
        ApiError::unauthorized(
            "send a token in the header `Authorization: Bearer <token>`",
            false,
        )
    };
    let value = parts
        .headers
        .get(header::AUTHORIZATION)
        .ok_or_else(missing)?
        .to_str()
        .map_err(|_| missing())?;
    let (scheme, token) = value.trim().split_once(' ').ok_or_else(missing)?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(missing());
    }
    Ok(token.trim())
}

/// Who the token belongs to, for `GET /v1/me`.
#[derive(Debug, serde::Serialize)]
pub struct Me {
    member: vigia_protocol::MemberCode,
    network: String,
    token_id: String,
    label: String,
    role: Role,
}

/// `GET /v1/me`: the caller's token and the node's member, so a client can check its setup.
pub async fn me(
    axum::extract::State(context): axum::extract::State<Shared>,
    Focal(caller): Focal,
) -> axum::Json<Me> {
    axum::Json(Me {
        member: context.node.member(),
        network: context.node.roster().network().to_owned(),
        token_id: caller.id,
        label: caller.label,
        role: caller.role,
    })
}
