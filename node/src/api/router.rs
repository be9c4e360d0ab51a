//! The routes, and what wraps every request: the body limit, a bound on requests in
//! flight, and the latency histogram per route.
//!
//! `/v1/health` and `/metrics` are outside the bound on requests in flight: they read
//! counters and the event loop's status, cost next to nothing, and must answer while the
//! node is busy, or monitoring would report an outage that is only load. Connections are
//! bounded before any route is reached (see [`super::server`]).

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use tokio::sync::Semaphore;

use super::errors::ApiError;
use super::{
    Shared, alerts, auth, backup, contacts, events, export, import, institutions, network, openapi,
};
use crate::metrics::RouteLabel;

/// Requests handled at once; more get 503 at once rather than queueing without bound.
/// Loopback clients are a command line, a web page and monitoring: a few at a time.
const MAX_REQUESTS_IN_FLIGHT: usize = 256;

/// Every route of the API.
pub fn build(context: Shared, max_body_bytes: usize) -> Router {
    let in_flight = Arc::new(Semaphore::new(MAX_REQUESTS_IN_FLIGHT));
    let monitoring = Router::new()
        .route("/v1/health", get(network::health))
        .route("/metrics", get(network::metrics))
        .route_layer(middleware::from_fn_with_state(context.clone(), measure));
    let routes = Router::new()
        .route("/v1/openapi.json", get(openapi::document))
        .route("/v1/me", get(auth::me))
        .route("/v1/contacts", get(contacts::search))
        .route(
            "/v1/contacts/{member}/{id}",
            get(contacts::get)
                .put(contacts::put)
                .delete(contacts::delete),
        )
        .route("/v1/institutions", get(institutions::list))
        .route(
            "/v1/institutions/{member}/{id}",
            get(institutions::get)
                .put(institutions::put)
                .delete(institutions::delete),
        )
        .route("/v1/alerts", get(alerts::list).post(alerts::issue))
        .route("/v1/alerts/{member}/{seq}", get(alerts::get))
        .route("/v1/alerts/{member}/{seq}/ack", post(alerts::acknowledge))
        .route("/v1/events", get(events::stream))
        .route("/v1/network", get(network::network))
        .route("/v1/heads", get(network::heads))
        .route("/v1/admin/blocked-members", put(network::set_blocked))
        .route("/v1/admin/backup", post(backup::create))
        .route("/v1/import", post(import::import))
        .route("/v1/export.csv", get(export::csv))
        .route("/v1/export.vcf", get(export::vcf))
        .route_layer(middleware::from_fn_with_state(context.clone(), measure))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(middleware::from_fn_with_state(in_flight, bound_in_flight));
    routes.merge(monitoring).with_state(context)
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint; /v1/openapi.json lists them")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not take that method; /v1/openapi.json lists what it takes",
    )
}

async fn bound_in_flight(
    State(in_flight): State<Arc<Semaphore>>,
    request: Request,
    next: Next,
) -> Response {
    match in_flight.try_acquire() {
        Ok(_permit) => next.run(request).await,
        Err(_) => ApiError::unavailable("busy", "the node is answering too many requests; retry")
            .into_response(),
    }
}

/// Records the latency of each request under its route pattern, which keeps the label set
/// as small as the route table.
async fn measure(State(context): State<Shared>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let method = match *request.method() {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        _ => "other",
    };
    let started = Instant::now();
    let response = next.run(request).await;
    let label = RouteLabel {
        method: method.to_owned(),
        route,
        status: response.status().as_u16(),
    };
    context
        .node
        .metrics()
        .api_request_seconds
        .get_or_create(&label)
        .observe(started.elapsed().as_secs_f64());
    response
}
