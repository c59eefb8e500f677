//! `POST /hooks/automations/{id}`: the integration trigger, called by external
//! tools with the body Spoki users already send. The secret comes in the body
//! or as `X-Avvio-Signature: sha256=<hmac of the body>`; the contact upsert and
//! the run happen behind the events queue.

use crate::{ApiError, App, Segments};
use avvio_common::domain::AutomationId;
use avvio_common::ports::{EventQueue, PipelineEvent, Store};
use avvio_common::stages::matcher::{IntegrationCall, integration_authorized};
use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use std::sync::Arc;

/// The header that may carry the HMAC of the body instead of a `secret` in it.
pub const SIGNATURE_HEADER: &str = "x-avvio-signature";

pub async fn call<S: Store, E: EventQueue>(
    State(app): State<Arc<App<S, E>>>,
    Segments(id): Segments<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let raw = crate::read_body(body).await?;
    let not_found = || ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("no integration automation `{id}`"));
    let id = AutomationId::parse(id.as_str()).map_err(|_| not_found())?;
    let (workspace, automation) =
        app.store.integration_automation(&id).await.map_err(ApiError::store)?.ok_or_else(not_found)?;

    let call = read_call(&raw)?;
    let signature = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok());
    if !integration_authorized(automation.trigger.integration_secret(), &call, &raw, signature) {
        return Err(ApiError::unauthorized("the secret or X-Avvio-Signature does not match"));
    }
    call.to_patch().map_err(|(path, message)| ApiError::unprocessable(path, message))?;

    let request_id = avvio_common::manage::fresh_token("req-");
    app.events
        .enqueue(PipelineEvent::Integration { workspace, automation: id, call, request_id: request_id.clone() })
        .await
        .map_err(|_| ApiError::unavailable())?;
    Ok((StatusCode::ACCEPTED, Json(serde_json::json!({ "status": "accepted", "request_id": request_id }))))
}

/// Reads a call's body: 400 when it is not JSON, 422 naming the field whose value has the
/// wrong shape. Public for the fuzz target in `fuzz/`, not part of the API.
#[doc(hidden)]
pub fn read_call(raw: &[u8]) -> Result<IntegrationCall, ApiError> {
    let value: serde_json::Value =
        serde_json::from_slice(raw).map_err(|e| ApiError::bad_request(format!("the body is not JSON: {e}")))?;
    serde_path_to_error::deserialize(value)
        .map_err(|e| ApiError::unprocessable(e.path().to_string(), e.inner().to_string()))
}
