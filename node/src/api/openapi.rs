//! `GET /v1/openapi.json`: the OpenAPI 3.1 description of the API, which the `vigia`
//! command and any other client are written against.
//!
//! The document is `openapi.json` beside this file, written by hand and embedded at build
//! time, rather than derived (utoipa): the API's enums come from the protocol crate, which
//! must not depend on an HTTP documentation library, and a plain JSON file is what a
//! reviewer reads anyway. The unit tests below check that it parses and that every
//! reference resolves; the API tests call every operation it describes, so a described
//! route the router lacks fails them.

use std::sync::LazyLock;

use axum::Json;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::errors::ApiError;

/// The document, parsed once, with this build's version filled in.
static DOCUMENT: LazyLock<Result<Value, String>> = LazyLock::new(|| {
    let mut document: Value =
        serde_json::from_str(include_str!("openapi.json")).map_err(|error| error.to_string())?;
    document["info"]["version"] = Value::String(env!("CARGO_PKG_VERSION").to_owned());
    Ok(document)
});

/// `GET /v1/openapi.json`. Needs no token: it describes the API, not the data.
pub async fn document() -> Response {
    match &*DOCUMENT {
        Ok(document) => ([(header::CACHE_CONTROL, "no-cache")], Json(document)).into_response(),
        Err(error) => {
            ApiError::internal(&anyhow::anyhow!("embedded openapi.json: {error}")).into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn document() -> &'static Value {
        DOCUMENT.as_ref().expect("openapi.json parses")
    }

    #[test]
    fn document_is_openapi_3_with_this_version() {
        assert_eq!(document()["openapi"], "3.1.0");
        assert_eq!(document()["info"]["version"], env!("CARGO_PKG_VERSION"));
    }

    #[test]
    fn every_reference_resolves() {
        let text = document().to_string();
        for piece in text.split("#/components/schemas/").skip(1) {
            let name: String = piece.chars().take_while(|c| c.is_alphanumeric()).collect();
            assert!(
                document()["components"]["schemas"][&name].is_object(),
                "{name} is referenced but not defined"
            );
        }
    }

    #[test]
    fn every_operation_has_a_summary_and_responses() {
        let paths = document()["paths"].as_object().expect("paths");
        for (path, item) in paths {
            for (method, operation) in item.as_object().expect("path item") {
                if method == "parameters" {
                    continue;
                }
                assert!(operation["summary"].is_string(), "{method} {path}");
                assert!(operation["responses"].is_object(), "{method} {path}");
            }
        }
    }
}
