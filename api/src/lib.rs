//! The one HTTP router (SPEC §4). It serves API Gateway through `lambda_http`
//! and `avvio dev` through a local listener. Ingest only verifies, parses and
//! queues: the work happens behind the events queue, so Meta gets its 200 fast.

mod error;
mod hooks;
mod ingest;

pub use error::ApiError;

use avvio_common::ports::{EventQueue, Store};
use axum::Router;
use axum::routing::{get, post};
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
}

/// The router over `app`.
pub fn router<S: Store + 'static, E: EventQueue + 'static>(app: Arc<App<S, E>>) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/webhooks/whatsapp", get(ingest::verify::<S, E>).post(ingest::receive::<S, E>))
        .route("/hooks/automations/{id}", post(hooks::call::<S, E>))
        .with_state(app)
}

/// Reads a request body of at most [`MAX_BODY_BYTES`].
async fn read_body(body: axum::body::Body) -> Result<axum::body::Bytes, ApiError> {
    axum::body::to_bytes(body, MAX_BODY_BYTES).await.map_err(|_| {
        ApiError::new(
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the body is larger than {MAX_BODY_BYTES} bytes"),
        )
    })
}

async fn health() -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({ "status": "ok" }))
}
