//! The whole system in the test process: the router on a random port over the
//! in-memory adapters, and [`System::settle`] to run the matcher and every due
//! step deterministically (no sleeps). Two workspaces, each with its own API key.
//! [`System::queued`] shows what the API queued for the matcher before it runs.

#![allow(dead_code)]

use avvio_api::{App, IngestConfig, router};
use avvio_common::domain::WorkspaceId;
use avvio_common::memory::{MemoryEventQueue, MemoryPoster, MemorySender, MemoryStepQueue, MemoryStore};
use avvio_common::ports::{KeyHash, Management, PipelineEvent};
use avvio_common::stages::Deps;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use std::sync::Arc;
use tokio::sync::mpsc::UnboundedReceiver;

pub const APP_SECRET: &str = "test-app-secret";
pub const KEY_A: &str = "key-negozio-a";
pub const KEY_B: &str = "key-negozio-b";
pub const NUMBER_A: &str = "106540352242922";
pub const NUMBER_B: &str = "106540352249999";

pub struct System {
    pub base: String,
    pub http: reqwest::Client,
    pub deps: Arc<Deps<MemoryStore, MemoryStepQueue, MemorySender, MemoryPoster>>,
    events: UnboundedReceiver<PipelineEvent>,
    /// Events taken off the queue by [`System::queued`], not handled yet.
    pub pending: Vec<PipelineEvent>,
}

fn workspace(number: &str) -> Value {
    json!({
        "timezone": "Europe/Rome",
        "whatsapp": { "phone_number_id": number, "access_token": "EAAG-segreto" },
        "webhook_secret": "webhook-segreto",
        "templates": [ { "name": "benvenuto", "language": "it", "status": "approved", "body": "Ciao {{1}}!" } ]
    })
}

/// Starts the router; workspace `a` (key [`KEY_A`]) and `b` (key [`KEY_B`]).
pub async fn start() -> System {
    start_with(avvio_api::MetaTemplates::meta()).await
}

/// [`start`], reading Meta's templates from the Graph API at `api_base` (a stand-in).
pub async fn start_with_graph(api_base: &str) -> System {
    let config = avvio_http::graph::GraphConfig { api_base: api_base.into(), ..Default::default() };
    start_with(avvio_api::MetaTemplates::new(config, None).unwrap()).await
}

async fn start_with(templates: avvio_api::MetaTemplates) -> System {
    let store = MemoryStore::new();
    for (ws, key, number) in [("a", KEY_A, NUMBER_A), ("b", KEY_B, NUMBER_B)] {
        let ws = WorkspaceId::parse(ws).unwrap();
        store.load_workspace(&ws, serde_json::from_value(workspace(number)).unwrap());
        store.put_api_key(&KeyHash::of(key), &ws).await.unwrap();
    }
    let deps = Arc::new(Deps {
        store: store.clone(),
        steps: MemoryStepQueue::new(),
        sender: MemorySender::recording(),
        poster: MemoryPoster::default(),
        default_access_token: None,
    });
    let (queue, events) = MemoryEventQueue::new();
    let app = Arc::new(App {
        store,
        events: queue,
        config: IngestConfig { app_secret: APP_SECRET.into(), verify_token: "verify".into() },
        templates,
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router(app)).await.unwrap() });
    System { base, http: reqwest::Client::new(), deps, events, pending: Vec::new() }
}

/// A status and a JSON body (`null` when empty).
pub type Reply = (u16, Value);

impl System {
    /// Calls the API with `key` (or none).
    pub async fn call(&self, method: &str, path: &str, key: Option<&str>, body: Option<Value>) -> Reply {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        if let Some(body) = body {
            request = request.header("content-type", "application/json").body(body.to_string());
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let bytes = response.bytes().await.unwrap();
        let body = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap() };
        (status, body)
    }

    pub async fn get(&self, path: &str, key: &str) -> Reply {
        self.call("GET", path, Some(key), None).await
    }

    pub async fn put(&self, path: &str, key: &str, body: Value) -> Reply {
        self.call("PUT", path, Some(key), Some(body)).await
    }

    pub async fn post(&self, path: &str, key: &str, body: Value) -> Reply {
        self.call("POST", path, Some(key), Some(body)).await
    }

    pub async fn delete(&self, path: &str, key: &str) -> Reply {
        self.call("DELETE", path, Some(key), None).await
    }

    /// Posts a signed Meta webhook body.
    pub async fn webhook(&self, body: Vec<u8>) -> u16 {
        let mut mac = Hmac::<Sha256>::new_from_slice(APP_SECRET.as_bytes()).unwrap();
        mac.update(&body);
        let signature = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        let response = self
            .http
            .post(format!("{}/webhooks/whatsapp", self.base))
            .header("X-Hub-Signature-256", signature)
            .body(body)
            .send()
            .await
            .unwrap();
        response.status().as_u16()
    }

    /// The events queued for the matcher and not handled yet, oldest first.
    pub fn queued(&mut self) -> &[PipelineEvent] {
        while let Ok(event) = self.events.try_recv() {
            self.pending.push(event);
        }
        &self.pending
    }

    /// Runs the matcher on every queued event and the executor on every step due now,
    /// until nothing is left to do.
    pub async fn settle(&mut self) {
        loop {
            let mut worked = false;
            self.queued();
            for event in std::mem::take(&mut self.pending) {
                let report = self.deps.handle_event(&event, chrono::Utc::now()).await.unwrap();
                // The next page of a list run, queued as the matcher's caller queues it.
                self.pending.extend(report.follow_up);
                worked = true;
            }
            while let Some(step) = self.deps.steps.pop_due(chrono::Utc::now()) {
                self.deps.handle_step(&step, chrono::Utc::now()).await.unwrap();
                worked = true;
            }
            if !worked {
                return;
            }
        }
    }

    /// The Graph API bodies sent so far.
    pub fn sent(&self) -> Vec<Value> {
        self.deps.sender.sent().into_iter().map(|(_, body)| body).collect()
    }
}

/// A Meta webhook body with one text message to `number`, sent now.
pub fn text_webhook(number: &str, from: &str, wamid: &str, text: &str) -> Vec<u8> {
    json!({
        "object": "whatsapp_business_account",
        "entry": [{ "id": "102290129340398", "changes": [{ "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": { "display_phone_number": "390212345678", "phone_number_id": number },
            "contacts": [{ "profile": { "name": "Mario" }, "wa_id": from }],
            "messages": [{ "from": from, "id": wamid, "timestamp": chrono::Utc::now().timestamp().to_string(),
                           "type": "text", "text": { "body": text } }]
        } }] }]
    })
    .to_string()
    .into_bytes()
}

/// A `customer_message` automation answering `phrase` with a text.
pub fn phrase_automation(id: &str, phrase: &str) -> Value {
    json!({ "id": id, "name": format!("{id}"), "trigger": { "type": "customer_message", "phrase": phrase },
            "steps": [ { "after": "0s", "action": { "type": "send_text", "text": "Ciao {{name}}!" } } ] })
}

/// SPEC §2.3's appointment confirmation as a whole automation: a `send_buttons`, then a
/// `wait_for_reply` with two reply branches, `otherwise` and `on_timeout` (which sends the
/// template `promemoria`, no params).
pub fn appointment_flow(id: &str, trigger: Value) -> Value {
    json!({ "id": id, "name": "Conferma appuntamento", "trigger": trigger, "steps": [
        { "after": "0s", "action": { "type": "send_buttons", "text": "Confermi l'appuntamento di domani?",
            "buttons": [ { "id": "si", "title": "Confermo" }, { "id": "no", "title": "Annulla" } ] } },
        { "after": "0s", "action": { "type": "wait_for_reply", "timeout": "24h", "save_to": "conferma",
            "branches": [
              { "reply": ["Confermo", "si"], "steps": [ { "after": "0s", "action": { "type": "add_tag", "tag": "confermato" } } ] },
              { "reply": ["Annulla", "no"],  "steps": [ { "after": "0s", "action": { "type": "send_text", "text": "Va bene, a presto!" } } ] } ],
            "otherwise":  [ { "after": "0s", "action": { "type": "assign_operator", "operator": "anna@example.com" } } ],
            "on_timeout": [ { "after": "0s", "action": { "type": "send_template", "template": "promemoria", "language": "it", "params": [] } } ] } }
    ] })
}

/// The template SPEC §2.3's example sends on timeout: a utility reminder without params.
pub fn promemoria() -> Value {
    json!({ "status": "approved", "category": "utility", "body": "Ti ricordiamo l'appuntamento di domani." })
}
