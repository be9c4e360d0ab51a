//! Request extractors that answer in the API's error shape and name the field at fault:
//! JSON bodies, query strings and the parameters they carry.
//!
//! axum's own `Json` and `Query` answer a bad request with a plain-text message; scripts
//! need the field, so these decode with `serde_path_to_error` and map every failure to an
//! [`ApiError`].

use std::str::FromStr;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use serde::de::{DeserializeOwned, IgnoredAny};
use vigia_protocol::MemberCode;

use super::errors::ApiError;

/// A JSON request body, decoded: always an object.
pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let content_type = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        if let Some(content_type) = content_type
            && !content_type.starts_with("application/json")
        {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                format!("the body must be application/json, not {content_type}"),
            ));
        }
        let bytes = body_bytes(request, state).await?;
        // An empty body reads as `{}`, so a body that needs fields says which one is missing
        // and one whose fields are all optional can be left out.
        let text: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            &bytes
        };
        // Syntax first, trailing data included: decoding straight into `T` reports a body
        // cut short (`[1, 2`) as a field of the wrong type when a field fails before the
        // end is reached.
        serde_json::from_slice::<IgnoredAny>(text).map_err(|error| {
            ApiError::bad_request("body", format!("the body is not valid JSON: {error}"))
        })?;
        // serde would take a list for a struct, field by field (`["Ana"]`); every body of
        // this API is an object.
        if text.trim_ascii_start().first() != Some(&b'{') {
            return Err(ApiError::invalid("body", "the body must be a JSON object"));
        }
        let mut decoder = serde_json::Deserializer::from_slice(text);
        let value = serde_path_to_error::deserialize(&mut decoder)
            .map_err(|error| wrong_field::<T>(text, error))?;
        Ok(Self(value))
    }
}

/// The answer to valid JSON that does not decode into `T`: the field at fault and why.
///
/// serde_json reports a number or a list where an enum belongs (`"kind": 7`) as a syntax
/// error, "expected value"; decoding the parsed document again, as a value, says what was
/// found and what was expected. Only the error path pays for it.
fn wrong_field<T: DeserializeOwned>(
    text: &[u8],
    error: serde_path_to_error::Error<serde_json::Error>,
) -> ApiError {
    let field = error.path().to_string();
    let inner = error.into_inner();
    if inner.is_data() {
        return ApiError::invalid(field, json_message(&inner));
    }
    let message = serde_json::from_slice::<serde_json::Value>(text)
        .ok()
        .and_then(|document| serde_path_to_error::deserialize::<_, T>(document).err())
        .map_or_else(
            || json_message(&inner),
            |error| error.into_inner().to_string(),
        );
    ApiError::invalid(field, message)
}

/// serde_json appends "at line 1 column 20" to data errors, which means nothing once the
/// field is named.
fn json_message(error: &serde_json::Error) -> String {
    let text = error.to_string();
    match text.rfind(" at line ") {
        Some(at) if error.is_data() => text[..at].to_owned(),
        _ => text,
    }
}

/// Reads the whole body within the configured limit.
pub async fn body_bytes<S: Send + Sync>(request: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(request, state)
        .await
        .map_err(|rejection: BytesRejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "body_too_large",
                    "the body is over this node's api.max_body_bytes",
                )
            } else {
                ApiError::bad_request("body", rejection.body_text())
            }
        })
}

/// A decoded query string. Every parameter is a string to the decoder (the handlers parse
/// them, naming the parameter on failure); unknown or repeated parameters are refused, so
/// a typo is not silently a filter that does nothing.
pub struct QueryParams<T>(pub T);

impl<S, T> FromRequestParts<S> for QueryParams<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        let pairs = decode_query(query)?;
        let mut map = serde_json::Map::new();
        for (key, value) in pairs {
            if map.contains_key(&key) {
                return Err(ApiError::bad_request(
                    key.clone(),
                    format!("query parameter {key} is given twice"),
                ));
            }
            map.insert(key, serde_json::Value::String(value));
        }
        serde_path_to_error::deserialize(serde_json::Value::Object(map))
            .map(Self)
            .map_err(|error| {
                let field = error.path().to_string();
                let message = error.into_inner().to_string();
                let field = unknown_field(&message).unwrap_or(field);
                ApiError::bad_request(field, format!("bad query string: {message}"))
            })
    }
}

/// The pairs of a query string as `application/x-www-form-urlencoded` spells them (`+` is a
/// space, `%XX` a byte), in order. Unlike `serde_urlencoded`, which puts U+FFFD in place of
/// bytes that are not UTF-8, a parameter that does not decode to UTF-8 is refused, naming
/// it: a search for `%FF%FE` would otherwise be a search for nothing, which lists everything.
fn decode_query(query: &str) -> Result<Vec<(String, String)>, ApiError> {
    let mut pairs = Vec::new();
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = String::from_utf8(percent_decode(key))
            .map_err(|_| ApiError::bad_request("query", "a query parameter's name is not UTF-8"))?;
        let value = String::from_utf8(percent_decode(value)).map_err(|_| {
            ApiError::bad_request(key.clone(), format!("query parameter {key} is not UTF-8"))
        })?;
        pairs.push((key, value));
    }
    Ok(pairs)
}

/// `%XX` as the byte, `+` as a space; a `%` not followed by two hex digits stays as it is.
fn percent_decode(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let hex = bytes
            .get(index + 1..index + 3)
            .and_then(|digits| std::str::from_utf8(digits).ok())
            .and_then(|digits| u8::from_str_radix(digits, 16).ok());
        match (bytes[index], hex) {
            (b'%', Some(byte)) => {
                decoded.push(byte);
                index += 3;
                continue;
            }
            (b'+', _) => decoded.push(b' '),
            (byte, _) => decoded.push(byte),
        }
        index += 1;
    }
    decoded
}

/// Free text to search for, from query parameter `name`: `None` when absent, empty or only
/// spaces (no filter). Text with no letter or digit left once folded (only punctuation,
/// controls or invisible characters such as U+200B) is refused: it would match everything,
/// which is never what was asked.
pub fn search_text(name: &str, value: Option<String>) -> Result<Option<String>, ApiError> {
    let Some(text) = value.filter(|text| !text.trim().is_empty()) else {
        return Ok(None);
    };
    if crate::search::terms(&crate::search::fold(&text))
        .next()
        .is_none()
    {
        return Err(ApiError::bad_request(
            name,
            format!("{name}={text:?} has no letter or digit to search for"),
        ));
    }
    Ok(Some(text))
}

/// serde names an unknown parameter only inside its message: "unknown field `x`, expected …".
fn unknown_field(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    Some(rest[..rest.find('`')?].to_owned())
}

/// A query parameter that is absent or empty is no filter.
pub fn present(value: &Option<String>) -> Option<&str> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|value| !value.is_empty())
}

/// Parses an optional parameter with `FromStr`, naming it on failure.
pub fn parse_param<T: FromStr>(
    name: &str,
    value: &Option<String>,
    expected: &str,
) -> Result<Option<T>, ApiError> {
    present(value)
        .map(|text| {
            text.parse().map_err(|_| {
                ApiError::bad_request(name, format!("{name}={text:?} is not {expected}"))
            })
        })
        .transpose()
}

/// Parses an optional boolean parameter (`true`/`false`, `1`/`0`, `yes`/`no`).
pub fn parse_bool(name: &str, value: &Option<String>) -> Result<Option<bool>, ApiError> {
    present(value)
        .map(|text| match text.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Ok(true),
            "false" | "0" | "no" => Ok(false),
            _ => Err(ApiError::bad_request(
                name,
                format!("{name}={text:?} is not true or false"),
            )),
        })
        .transpose()
}

/// Parses a member code, accepting lower case (`pe` is PE).
pub fn parse_member(name: &str, text: &str) -> Result<MemberCode, ApiError> {
    text.trim().to_ascii_uppercase().parse().map_err(|_| {
        ApiError::bad_request(
            name,
            format!("{text:?} is not a member code such as PE (ISO 3166-1 alpha-2)"),
        )
    })
}

/// Checks that the `id` and `member` a PUT body may carry (it may send back what it read)
/// name the record in the path, so a copied body cannot silently overwrite another record.
pub fn check_body_matches_path(
    body_id: Option<&str>,
    body_member: Option<&str>,
    member: MemberCode,
    id: &str,
) -> Result<(), ApiError> {
    if let Some(body_id) = body_id
        && body_id != id
    {
        return Err(ApiError::invalid(
            "id",
            format!("id {body_id:?} differs from the id in the path, {id:?}"),
        ));
    }
    if let Some(body_member) = body_member
        && parse_member("member", body_member)? != member
    {
        return Err(ApiError::invalid(
            "member",
            format!("member {body_member:?} differs from the member in the path, {member}"),
        ));
    }
    Ok(())
}

/// Parses an optional member code parameter.
pub fn parse_member_param(
    name: &str,
    value: &Option<String>,
) -> Result<Option<MemberCode>, ApiError> {
    present(value)
        .map(|text| parse_member(name, text))
        .transpose()
}

/// Parses an enum written in snake_case, as the API writes them (`financial_intelligence_unit`).
pub fn parse_enum<T: DeserializeOwned>(
    name: &str,
    value: &Option<String>,
) -> Result<Option<T>, ApiError> {
    present(value)
        .map(|text| {
            serde_json::from_value(serde_json::Value::String(text.to_owned())).map_err(|_| {
                ApiError::bad_request(name, format!("{name}={text:?} is not a known value"))
            })
        })
        .transpose()
}

/// Page number and size, checked.
pub fn paging(
    page: &Option<String>,
    per_page: &Option<String>,
    default_per_page: usize,
    max_per_page: usize,
) -> Result<(usize, usize), ApiError> {
    let page: usize = parse_param("page", page, "a page number from 1")?.unwrap_or(1);
    let per_page: usize =
        parse_param("per_page", per_page, "a number")?.unwrap_or(default_per_page);
    if page == 0 {
        return Err(ApiError::bad_request("page", "page numbers start at 1"));
    }
    if per_page == 0 || per_page > max_per_page {
        return Err(ApiError::bad_request(
            "per_page",
            format!("per_page must be 1 to {max_per_page}"),
        ));
    }
    Ok((page, per_page))
}
