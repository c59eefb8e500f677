//! Meta's webhook endpoint driven as Meta drives it: the handshake, signed
//! deliveries of real payload fixtures, and the bad-input matrix. The server
//! stays up through all of it.

use avvio_api::{App, IngestConfig, router};
use avvio_common::memory::{MemoryEventQueue, MemoryStore};
use avvio_common::ports::PipelineEvent;
use avvio_common::webhook::InboundEvent;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::sync::Arc;
use tokio::sync::mpsc::UnboundedReceiver;

const APP_SECRET: &str = "test-app-secret";
const VERIFY_TOKEN: &str = "test-verify-token";

struct TestApp {
    base: String,
    events: UnboundedReceiver<PipelineEvent>,
    http: reqwest::Client,
}

/// Starts the router on a random local port.
async fn spawn_app() -> TestApp {
    let (queue, events) = MemoryEventQueue::new();
    let app = Arc::new(App {
        store: MemoryStore::new(),
        events: queue,
        config: IngestConfig { app_secret: APP_SECRET.into(), verify_token: VERIFY_TOKEN.into() },
        templates: avvio_api::MetaTemplates::meta(),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router(app)).await.unwrap() });
    TestApp { base, events, http: reqwest::Client::new() }
}

fn sign(body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(APP_SECRET.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn fixture(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/meta").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

impl TestApp {
    async fn post_webhook(&self, body: Vec<u8>, signature: Option<String>) -> reqwest::Response {
        let mut request = self.http.post(format!("{}/webhooks/whatsapp", self.base)).body(body);
        if let Some(signature) = signature {
            request = request.header("X-Hub-Signature-256", signature);
        }
        request.send().await.unwrap()
    }

    fn queued(&mut self) -> Vec<PipelineEvent> {
        std::iter::from_fn(|| self.events.try_recv().ok()).collect()
    }

    async fn assert_still_up(&self) {
        let health = self.http.get(format!("{}/health", self.base)).send().await.unwrap();
        assert_eq!(health.status(), 200);
    }
}

async fn error_code(response: reqwest::Response) -> String {
    let body: serde_json::Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    body["error"]["code"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn the_verification_handshake_echoes_the_challenge_for_the_right_token() {
    let app = spawn_app().await;
    let url = |token: &str| {
        format!("{}/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token={token}&hub.challenge=1158201444", app.base)
    };
    let ok = app.http.get(url(VERIFY_TOKEN)).send().await.unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.text().await.unwrap(), "1158201444");
    let wrong = app.http.get(url("guess")).send().await.unwrap();
    assert_eq!(wrong.status(), 403);
}

#[tokio::test]
async fn a_signed_delivery_is_accepted_and_queued_event_by_event() {
    let mut app = spawn_app().await;
    let body = fixture("batch.json");
    let response = app.post_webhook(body.clone(), Some(sign(&body))).await;
    assert_eq!(response.status(), 200);
    let queued = app.queued();
    assert_eq!(queued.len(), 2);
    assert!(matches!(&queued[0], PipelineEvent::Whatsapp { event: InboundEvent::Message(_) }));
    assert!(matches!(&queued[1], PipelineEvent::Whatsapp { event: InboundEvent::Status(_) }));
}

#[tokio::test]
async fn the_signature_is_checked_over_the_raw_bytes_not_a_reserialisation() {
    let mut app = spawn_app().await;
    // Meta escapes non-ASCII as \uXXXX; the same JSON re-serialised would not match the signature.
    let body = String::from_utf8(fixture("text.json")).unwrap().replace("Mario", "Mar\\u00eco").into_bytes();
    let response = app.post_webhook(body.clone(), Some(sign(&body))).await;
    assert_eq!(response.status(), 200);
    assert_eq!(app.queued().len(), 1);
}

#[tokio::test]
async fn an_unsigned_or_wrongly_signed_delivery_is_refused_and_queues_nothing() {
    let mut app = spawn_app().await;
    let body = fixture("text.json");
    let unsigned = app.post_webhook(body.clone(), None).await;
    assert_eq!(unsigned.status(), 401);
    assert_eq!(error_code(unsigned).await, "unauthorized");
    let wrong = app.post_webhook(body.clone(), Some(sign(b"another body"))).await;
    assert_eq!(wrong.status(), 401);
    let garbage = app.post_webhook(body, Some("sha256=not-hex".into())).await;
    assert_eq!(garbage.status(), 401);
    assert!(app.queued().is_empty());
    app.assert_still_up().await;
}

#[tokio::test]
async fn a_signed_but_malformed_body_is_a_bad_request() {
    let mut app = spawn_app().await;
    let body = b"{\"object\": \"whatsapp_business_account\", \"entry\": [".to_vec();
    let response = app.post_webhook(body.clone(), Some(sign(&body))).await;
    assert_eq!(response.status(), 400);
    assert_eq!(error_code(response).await, "bad_request");
    assert!(app.queued().is_empty());
    app.assert_still_up().await;
}

#[tokio::test]
async fn a_body_over_one_mebibyte_is_refused_with_413() {
    let mut app = spawn_app().await;
    let body = vec![b' '; avvio_api::MAX_BODY_BYTES + 1];
    let response = app.post_webhook(body.clone(), Some(sign(&body))).await;
    assert_eq!(response.status(), 413);
    assert_eq!(error_code(response).await, "payload_too_large");
    assert!(app.queued().is_empty());
    app.assert_still_up().await;
}

#[tokio::test]
async fn a_preference_change_of_an_unknown_shape_is_acknowledged_and_the_rest_of_the_body_queued() {
    let mut app = spawn_app().await;
    let body = serde_json::json!({ "object": "whatsapp_business_account", "entry": [ { "id": "102290129340398", "changes": [
        { "field": "user_preferences", "value": { "messaging_product": "whatsapp",
            "metadata": { "display_phone_number": "390212345678", "phone_number_id": "106540352242922" },
            "user_preferences": [ { "wa_id": "393331234567", "category": "marketing_messages" },
                                  { "detail": "no user at all", "category": "marketing_messages", "value": "stop", "timestamp": 1731705721 } ] } },
        { "field": "user_preferences", "value": { "something": "else" } },
        { "field": "user_preferences", "value": { "messaging_product": "whatsapp",
            "metadata": { "display_phone_number": "390212345678", "phone_number_id": "106540352242922" },
            "user_preferences": [ { "wa_id": "393331234567", "category": "marketing_messages", "value": "stop", "timestamp": 1731705721 } ] } }
    ] } ] })
    .to_string()
    .into_bytes();
    let response = app.post_webhook(body.clone(), Some(sign(&body))).await;
    assert_eq!(response.status(), 200, "never a 4xx or 5xx for Meta's newer, rarer changes");
    let queued = app.queued();
    assert_eq!(queued.len(), 1, "the readable preference is queued, the others skipped: {queued:?}");
    assert!(matches!(&queued[0], PipelineEvent::Whatsapp { event: InboundEvent::Preference(_) }));
    app.assert_still_up().await;
}
