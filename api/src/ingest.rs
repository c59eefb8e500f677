//! Meta's webhook: the verification handshake and signed deliveries.

use crate::{ApiError, App};
use avvio_common::outbound::verify_signature;
use avvio_common::ports::{EventQueue, PipelineEvent, Store};
use avvio_common::webhook::parse_webhook_noting;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use std::collections::HashMap;
use std::sync::Arc;

/// The header Meta signs deliveries with: `sha256=<hex HMAC-SHA256(app secret, raw body)>`.
pub const SIGNATURE_HEADER: &str = "x-hub-signature-256";

/// `GET /webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=T&hub.challenge=C`: answers `C`
/// when `T` is the configured verify token.
pub async fn verify<S: Store, E: EventQueue>(
    State(app): State<Arc<App<S, E>>>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<String, ApiError> {
    let given = query.get("hub.verify_token").map(String::as_bytes).unwrap_or_default();
    let subscribing = query.get("hub.mode").is_some_and(|m| m == "subscribe");
    match query.get("hub.challenge") {
        Some(challenge)
            if subscribing && avvio_common::outbound::constant_time_eq(given, app.config.verify_token.as_bytes()) =>
        {
            Ok(challenge.clone())
        }
        _ => Err(ApiError::new(StatusCode::FORBIDDEN, "forbidden", "the verify token does not match")),
    }
}

/// `POST /webhooks/whatsapp`: checks the signature over the raw bytes (Meta signs its own
/// serialisation, so the body is never re-serialised first), parses, queues each event. A
/// part of the body the parser skips (a `user_preferences` change it cannot read) is logged,
/// and the rest still queued.
pub async fn receive<S: Store, E: EventQueue>(
    State(app): State<Arc<App<S, E>>>,
    headers: HeaderMap,
    body: Body,
) -> Result<StatusCode, ApiError> {
    let raw = crate::read_body(body).await?;
    let signature = headers
        .get(SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| ApiError::unauthorized("X-Hub-Signature-256 is missing"))?;
    if !verify_signature(app.config.app_secret.as_bytes(), &raw, signature) {
        return Err(ApiError::unauthorized("X-Hub-Signature-256 does not match the body"));
    }
    let mut skipped = Vec::new();
    let events = parse_webhook_noting(&raw, &mut skipped).map_err(|e| ApiError::bad_request(e.to_string()))?;
    for note in &skipped {
        tracing::warn!(%note, "skipped part of a webhook");
    }
    for event in events {
        app.events.enqueue(PipelineEvent::Whatsapp { event }).await.map_err(|e| {
            tracing::error!(error = %e, "could not queue a webhook event");
            // Meta retries deliveries that do not get a 200.
            ApiError::unavailable()
        })?;
    }
    Ok(StatusCode::OK)
}
