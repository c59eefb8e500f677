//! `POST /hooks/automations/{id}` driven as an external tool drives it: the
//! secret in the body or as an HMAC header, and the bad-input matrix.

use avvio_api::{App, IngestConfig, router};
use avvio_common::domain::WorkspaceId;
use avvio_common::memory::{MemoryEventQueue, MemoryStore};
use avvio_common::ports::PipelineEvent;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use std::sync::Arc;
use tokio::sync::mpsc::UnboundedReceiver;

struct TestApp {
    base: String,
    events: UnboundedReceiver<PipelineEvent>,
    http: reqwest::Client,
}

async fn spawn_app() -> TestApp {
    let store = MemoryStore::new();
    let ws = WorkspaceId::parse("negozio").unwrap();
    store.load_workspace(&ws, serde_json::from_value(json!({ "timezone": "Europe/Rome" })).unwrap());
    let automations = [
        json!({ "id": "ordine", "name": "ordine", "trigger": { "type": "integration", "secret": "segreto-123" },
                "steps": [ { "after": "0s", "action": { "type": "add_tag", "tag": "cliente" } } ] }),
        json!({ "id": "info", "name": "info", "trigger": { "type": "customer_message", "phrase": "Info" },
                "steps": [ { "after": "0s", "action": { "type": "add_tag", "tag": "info" } } ] }),
    ];
    for doc in automations {
        let automation = avvio_common::validate::parse_automation(doc).unwrap();
        store.with_catalog(&ws, |c| c.create(automation)).unwrap();
    }
    let (queue, events) = MemoryEventQueue::new();
    let app = Arc::new(App {
        store,
        events: queue,
        config: IngestConfig { app_secret: "app-secret".into(), verify_token: "token".into() },
        templates: avvio_api::MetaTemplates::meta(),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router(app)).await.unwrap() });
    TestApp { base, events, http: reqwest::Client::new() }
}

impl TestApp {
    async fn call(&self, id: &str, body: &str, signature: Option<String>) -> (u16, Value) {
        let mut request = self.http.post(format!("{}/hooks/automations/{id}", self.base)).body(body.to_string());
        if let Some(signature) = signature {
            request = request.header("X-Avvio-Signature", signature);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, serde_json::from_slice(&response.bytes().await.unwrap()).unwrap())
    }

    fn queued(&mut self) -> Vec<PipelineEvent> {
        std::iter::from_fn(|| self.events.try_recv().ok()).collect()
    }
}

const SPOKI_BODY: &str = r#"{"secret": "segreto-123", "phone": "+39 333 123 4567", "first_name": "Mario",
  "last_name": "Rossi", "email": "mario@example.com", "custom_fields": {"order_id": "123"}}"#;

#[tokio::test]
async fn a_call_with_the_right_secret_is_accepted_and_queued() {
    let mut app = spawn_app().await;
    let (status, body) = app.call("ordine", SPOKI_BODY, None).await;
    assert_eq!(status, 202, "{body}");
    let queued = app.queued();
    let [PipelineEvent::Integration { workspace, automation, call, request_id }] = queued.as_slice() else {
        panic!("one integration event expected: {queued:?}");
    };
    assert_eq!((workspace.as_str(), automation.as_str()), ("negozio", "ordine"));
    assert_eq!(call.custom_fields["order_id"], "123");
    assert_eq!(body["request_id"], request_id.as_str());
}

#[tokio::test]
async fn the_secret_may_come_as_an_hmac_of_the_body() {
    let mut app = spawn_app().await;
    let body = r#"{"phone": "393331234567"}"#;
    let mut mac = Hmac::<Sha256>::new_from_slice(b"segreto-123").unwrap();
    mac.update(body.as_bytes());
    let signature = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    let (status, _) = app.call("ordine", body, Some(signature)).await;
    assert_eq!(status, 202);
    assert_eq!(app.queued().len(), 1);
}

#[tokio::test]
async fn a_wrong_or_missing_secret_is_refused_with_401() {
    let mut app = spawn_app().await;
    let (status, body) = app.call("ordine", &SPOKI_BODY.replace("segreto-123", "sbagliato"), None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (401, Some("unauthorized")));
    let (status, _) = app.call("ordine", r#"{"phone": "393331234567"}"#, Some("sha256=00".into())).await;
    assert_eq!(status, 401);
    assert!(app.queued().is_empty());
}

#[tokio::test]
async fn an_unknown_or_non_integration_automation_is_404() {
    let mut app = spawn_app().await;
    assert_eq!(app.call("nessuna", SPOKI_BODY, None).await.0, 404);
    assert_eq!(app.call("info", SPOKI_BODY, None).await.0, 404);
    assert!(app.queued().is_empty());
}

#[tokio::test]
async fn a_bad_phone_is_422_naming_the_field() {
    let mut app = spawn_app().await;
    let (status, body) = app.call("ordine", &SPOKI_BODY.replace("+39 333 123 4567", "+39 abc"), None).await;
    assert_eq!(status, 422);
    assert_eq!(body["error"]["path"], "phone");
    let (status, body) = app.call("ordine", r#"{"secret": "segreto-123"}"#, None).await;
    assert_eq!(status, 422, "a missing phone: {body}");
    assert!(app.queued().is_empty());
}

#[tokio::test]
async fn a_body_that_is_not_json_is_400() {
    let mut app = spawn_app().await;
    let (status, body) = app.call("ordine", "phone=393331234567", None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("bad_request")));
    assert!(app.queued().is_empty());
}
