//! The one way handlers sign and publish entries: one publisher at a time, each body checked
//! against the protocol's rules first, every failure mapped to the API's error shape with
//! the field named as the request spells it.

use std::time::{SystemTime, UNIX_EPOCH};

use tokio::sync::MutexGuard;
use vigia_protocol::body::InvalidField;
use vigia_protocol::validate::ValidationError;
use vigia_protocol::{Body, EntryRef};

use super::Context;
use super::errors::{ApiError, ApiResult};
use super::indexer;
use crate::ledger::PublishError;
use crate::node::PublishFailure;
use crate::tokens::Caller;

/// Seconds a client refused because the store cannot write waits before retrying: the
/// node tries to reopen its store at least this often.
const STORE_RETRY_AFTER_SECS: u16 = 5;

/// Turns a protocol field path (`contact.availability.from`) into the request's
/// (`hours.from`).
pub type FieldNames = fn(&str) -> String;

/// Exclusive right to publish, held while a handler checks and publishes.
pub struct Publisher<'a> {
    context: &'a Context,
    /// Label of the token on whose behalf entries are published, for the log.
    caller: &'a str,
    _turn: MutexGuard<'a, ()>,
}

impl Context {
    /// Waits for the turn to publish on behalf of `caller`.
    pub async fn publisher<'a>(&'a self, caller: &'a Caller) -> Publisher<'a> {
        Publisher {
            context: self,
            caller: &caller.label,
            _turn: self.publishing.lock().await,
        }
    }
}

/// Milliseconds since the epoch, as the ledger stamps entries.
pub fn now_ms() -> u64 {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(since_epoch.as_millis()).unwrap_or(u64::MAX)
}

/// The protocol's verdict on a body, then the API's own rules for names (see
/// [`super::names`]), as an API error.
pub fn check(body: &Body, names: FieldNames) -> ApiResult<()> {
    body.validate(now_ms())
        .map_err(|invalid| invalid_field(&invalid, names))?;
    match super::names::problems(body).first() {
        Some(invalid) => Err(invalid_field(invalid, names)),
        None => Ok(()),
    }
}

/// A field the protocol (or the API's own stricter rules) refuses, as an API error naming
/// the request's field.
pub fn invalid_field(invalid: &InvalidField, names: FieldNames) -> ApiError {
    let field = names(&invalid.field);
    ApiError::invalid(field.clone(), format!("{field} {}", invalid.reason))
}

impl Publisher<'_> {
    /// Checks, signs, stores and gossips `body`, then updates the directory index so the
    /// caller reads its own write.
    pub async fn publish(&self, body: Body, names: FieldNames) -> ApiResult<EntryRef> {
        check(&body, names)?;
        let node = &self.context.node;
        match node.publish(body.clone()).await {
            Ok(entry) => {
                indexer::apply_body(&self.context.directory, entry, &body);
                tracing::info!(
                    member = %entry.author,
                    seq = entry.seq,
                    kind = body.kind(),
                    token = self.caller,
                    "entry published through the api"
                );
                Ok(entry)
            }
            Err(PublishFailure::NotReady) => Err(ApiError::unavailable(
                "not_ready",
                "this node has not yet confirmed its own feed with a peer, so it cannot \
                 publish without risking a fork; retry once it is connected (see /v1/network)",
            )),
            Err(PublishFailure::Invalid(PublishError::Invalid(ValidationError::InvalidField(
                invalid,
            )))) => Err(invalid_field(&invalid, names)),
            Err(PublishFailure::Invalid(PublishError::Invalid(ValidationError::TooLarge {
                len,
                limit,
            }))) => Err(ApiError::invalid(
                "body",
                format!("the signed entry would be {len} bytes, over the limit of {limit}"),
            )),
            Err(PublishFailure::StoreUnavailable(unavailable)) => Err(ApiError::unavailable(
                "store_unavailable",
                format!(
                    "nothing was published: the node's {unavailable}; it retries on its own \
                     and /v1/health says when it can write again"
                ),
            )
            .with_retry_after(STORE_RETRY_AFTER_SECS)),
            Err(PublishFailure::Internal(error)) => Err(ApiError::internal(&error)),
            Err(other) => Err(ApiError::internal(&anyhow::anyhow!(other))),
        }
    }
}

/// Field names of a body whose request fields are the protocol's without its prefix, with
/// some renamed: `contact.phones[1]` → `phones[1]`.
pub fn strip_prefix(field: &str, prefix: &str, renames: &[(&str, &str)]) -> String {
    let field = field.strip_prefix(prefix).unwrap_or(field);
    for (from, to) in renames {
        if let Some(rest) = field.strip_prefix(from) {
            return format!("{to}{rest}");
        }
    }
    field.to_owned()
}
