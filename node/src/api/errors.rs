//! The API's one error shape: `{"error": {"code", "message", "field", "details"}}` with the
//! HTTP status that fits.
//!
//! `code` is a stable snake_case name for scripts, `message` a sentence for people, `field`
//! the request field at fault (a JSON path, a query parameter or a CSV column), `details`
//! anything a list of problems needs (the bad rows of an import).

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    body: ErrorBody,
    /// Extra `WWW-Authenticate` challenge for 401 answers.
    challenge: Option<&'static str>,
    /// Seconds after which a retry may succeed, sent as `Retry-After`.
    retry_after: Option<u16>,
}

#[derive(Debug, Serialize)]
struct ErrorBody {
    code: &'static str,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    details: Option<serde_json::Value>,
}

#[derive(Serialize)]
struct Envelope<'a> {
    error: &'a ErrorBody,
}

/// Result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    /// An error with any status and code.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            body: ErrorBody {
                code,
                message: message.into(),
                field: None,
                details: None,
            },
            challenge: None,
            retry_after: None,
        }
    }

    /// Tells the client, in `Retry-After`, when a retry may succeed.
    pub fn with_retry_after(mut self, seconds: u16) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// Names the field at fault.
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.body.field = Some(field.into());
        self
    }

    /// Attaches structured details.
    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.body.details = Some(details);
        self
    }

    /// The status the answer carries.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// 400: the request is malformed (bad query parameter, unreadable body).
    pub fn bad_request(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message).with_field(field)
    }

    /// 422: the request is well-formed but a field breaks a rule.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", message).with_field(field)
    }

    /// 401: no token, or not a current one.
    pub fn unauthorized(message: impl Into<String>, invalid_token: bool) -> Self {
        let mut error = Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message);
        error.challenge = Some(if invalid_token {
            r#"Bearer realm="vigia", error="invalid_token""#
        } else {
            r#"Bearer realm="vigia""#
        });
        error
    }

    /// 403: the token's role, or the node's member, does not allow this.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 404: no such record.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 409: the request conflicts with the current state.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }

    /// 503: the node cannot do this right now; retrying later may work.
    pub fn unavailable(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, code, message)
    }

    /// 500: something broke inside the node. The cause is logged, not shown: it may name
    /// files and internals that are nobody's business on the other end.
    pub fn internal(error: &anyhow::Error) -> Self {
        tracing::error!(err = %format!("{error:#}"), "api request failed inside the node");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the node failed to answer; its log has the cause",
        )
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(error: anyhow::Error) -> Self {
        Self::internal(&error)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_client_error() {
            tracing::debug!(
                status = self.status.as_u16(),
                code = self.body.code,
                field = self.body.field.as_deref().unwrap_or(""),
                reason = %self.body.message,
                "api request refused"
            );
        }
        let mut response = (self.status, Json(Envelope { error: &self.body })).into_response();
        if let Some(challenge) = self.challenge {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}
