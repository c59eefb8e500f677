//! The one HTTP router (SPEC §4). It serves API Gateway through `lambda_http`
//! and `avvio dev` through a local listener. Ingest only verifies, parses and
//! queues: the work happens behind the events queue, so Meta gets its 200 fast.

mod error;
mod hooks;
mod ingest;
mod manage;
mod paging;
pub mod simulate;

pub use error::ApiError;
#[doc(hidden)]
pub use hooks::read_call;

use avvio_common::ports::{EventQueue, Management};
use axum::Router;
use axum::routing::{get, post, put};
use std::sync::Arc;

/// The largest request body accepted (Meta's webhooks are far smaller).
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// The secrets ingest checks Meta's requests with.
#[derive(Clone)]
pub struct IngestConfig {
    /// `WHATSAPP_APP_SECRET`: the key of `X-Hub-Signature-256`.
    pub app_secret: String,
    /// `WHATSAPP_VERIFY_TOKEN`: what Meta's verification handshake must present.
    pub verify_token: String,
}

impl std::fmt::Debug for IngestConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IngestConfig { .. }")
    }
}

/// What the handlers share.
pub struct App<S, E> {
    pub store: S,
    pub events: E,
    pub config: IngestConfig,
    /// Where `POST /v1/templates/sync` reads Meta's templates.
    pub templates: MetaTemplates,
}

/// Meta's template list as `POST /v1/templates/sync` reads it: the Graph API at
/// `WHATSAPP_API_BASE`, and the access token used when a workspace has none
/// (`WHATSAPP_ACCESS_TOKEN` in `avvio dev`).
#[derive(Debug, Clone)]
pub struct MetaTemplates {
    pub source: avvio_http::templates::GraphTemplates,
    pub default_access_token: Option<String>,
}

impl MetaTemplates {
    /// The Graph API at `config.api_base` (a local stand-in in tests).
    pub fn new(
        config: avvio_http::graph::GraphConfig,
        default_access_token: Option<String>,
    ) -> Result<Self, avvio_http::BuildError> {
        Ok(Self { source: avvio_http::templates::GraphTemplates::new(config)?, default_access_token })
    }

    /// Meta's own Graph API, with no default token.
    pub fn meta() -> Self {
        Self::new(avvio_http::graph::GraphConfig::default(), None).expect("Meta's Graph API base is valid")
    }
}

/// The OpenAPI description of every route, served at `/openapi.json`.
pub const OPENAPI: &str = include_str!("../openapi.json");

/// The router over `app`.
pub fn router<S: Management + 'static, E: EventQueue + 'static>(app: Arc<App<S, E>>) -> Router {
    use manage as m;
    Router::new()
        .route("/health", get(health))
        .route("/openapi.json", get(openapi))
        .route("/webhooks/whatsapp", get(ingest::verify::<S, E>).post(ingest::receive::<S, E>))
        .route("/hooks/automations/{id}", post(hooks::call::<S, E>))
        .route("/v1/workspace", get(m::get_workspace::<S, E>).put(m::put_workspace::<S, E>))
        .route("/v1/templates", get(m::list_templates::<S, E>))
        .route("/v1/templates/sync", post(m::sync_templates::<S, E>))
        .route("/v1/templates/{name}/{language}", put(m::put_template::<S, E>).delete(m::delete_template::<S, E>))
        .route("/v1/automations", get(m::list_automations::<S, E>).post(m::create_automation::<S, E>))
        .route(
            "/v1/automations/{id}",
            get(m::get_automation::<S, E>).put(m::put_automation::<S, E>).delete(m::delete_automation::<S, E>),
        )
        .route("/v1/automations/{id}/run", post(m::run_automation::<S, E>))
        .route("/v1/automations/{id}/versions", get(m::list_versions::<S, E>))
        .route("/v1/automations/{id}/versions/{version}", get(m::get_version::<S, E>))
        .route("/v1/automations/{id}/stats", get(m::stats::<S, E>))
        .route("/v1/automations/{id}/diagram", get(m::diagram::<S, E>))
        .route("/v1/contacts", get(m::list_contacts::<S, E>))
        .route(
            "/v1/contacts/{phone}",
            get(m::get_contact::<S, E>).put(m::put_contact::<S, E>).delete(m::delete_contact::<S, E>),
        )
        .route("/v1/lists/{list}/contacts/{phone}", put(m::add_to_list::<S, E>).delete(m::remove_from_list::<S, E>))
        .route("/v1/runs", get(m::list_runs::<S, E>))
        .route("/v1/runs/{id}", get(m::get_run::<S, E>))
        .route("/v1/simulate", post(simulate::run::<S, E>))
        .fallback(no_route)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(app)
}

async fn openapi() -> impl axum::response::IntoResponse {
    ([(axum::http::header::CONTENT_TYPE, "application/json")], OPENAPI)
}

async fn no_route(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(axum::http::StatusCode::NOT_FOUND, "no_route", format!("no route {method} {}", uri.path()))
}

async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{method} is not allowed on {}", uri.path()),
    )
}

/// Path parameters. A malformed one (not UTF-8 once decoded) is a JSON 400, like every other error.
pub(crate) struct Segments<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned + Send> axum::extract::FromRequestParts<S> for Segments<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(t)| Self(t))
            .map_err(|e| ApiError::bad_request(e.body_text()))
    }
}

/// Reads a request body of at most [`MAX_BODY_BYTES`].
async fn read_body(body: axum::body::Body) -> Result<axum::body::Bytes, ApiError> {
    read_body_up_to(body, MAX_BODY_BYTES).await
}

/// Reads a request body of at most `limit` bytes (a route that needs more than [`MAX_BODY_BYTES`]).
async fn read_body_up_to(body: axum::body::Body, limit: usize) -> Result<axum::body::Bytes, ApiError> {
    axum::body::to_bytes(body, limit).await.map_err(|_| {
        ApiError::new(
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the body is larger than {limit} bytes"),
        )
    })
}

async fn health() -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({ "status": "ok" }))
}
