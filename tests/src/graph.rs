//! A stand-in Graph API on a random loopback port: records every send and
//! answers with scripted replies first, then as Meta does on success.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One request the stand-in received.
#[derive(Debug, Clone, PartialEq)]
pub struct Sent {
    /// The path after the host, e.g. `v23.0/106540352242922/messages`.
    pub path: String,
    /// The `Authorization` header.
    pub authorization: String,
    /// The JSON body.
    pub body: Value,
}

#[derive(Default)]
struct Shared {
    sent: Mutex<Vec<Sent>>,
    script: Mutex<VecDeque<(u16, Value)>>,
    delay: Mutex<Duration>,
}

/// A running stand-in; it stops with the test's runtime.
#[derive(Clone)]
pub struct StandInGraph {
    /// `http://127.0.0.1:<port>`: the `WHATSAPP_API_BASE` to use.
    pub base: String,
    shared: Arc<Shared>,
}

impl StandInGraph {
    /// A stand-in answering every send like Meta on success.
    pub async fn start() -> Self {
        Self::scripted(Vec::new()).await
    }

    /// A stand-in answering its first sends with `script` (status, JSON body), then like Meta on success.
    pub async fn scripted(script: Vec<(u16, Value)>) -> Self {
        let shared = Arc::new(Shared { script: Mutex::new(script.into()), ..Shared::default() });
        let app = Router::new().route("/{*path}", post(messages)).with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind a loopback port");
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.expect("the stand-in serves") });
        Self { base, shared }
    }

    /// Every send received so far, in order.
    pub fn sent(&self) -> Vec<Sent> {
        self.shared.sent.lock().unwrap().clone()
    }

    /// Makes every later answer wait `by` after the request was recorded (a slow Graph API).
    pub fn delay_answers(&self, by: Duration) {
        *self.shared.delay.lock().unwrap() = by;
    }

    /// Waits until `n` sends arrived (panics after `within`) and returns them all.
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<Sent> {
        let deadline = Instant::now() + within;
        loop {
            let sent = self.sent();
            if sent.len() >= n {
                return sent;
            }
            assert!(Instant::now() < deadline, "{} of {n} sends reached the stand-in Graph API", sent.len());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn messages(
    State(shared): State<Arc<Shared>>,
    Path(path): Path<String>,
    headers: HeaderMap,
    body: String,
) -> (StatusCode, axum::Json<Value>) {
    let authorization = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let body: Value = serde_json::from_str(&body).unwrap_or(Value::String(body));
    let to = body["to"].as_str().or(body["recipient"].as_str()).unwrap_or_default().to_string();
    let count = {
        let mut sent = shared.sent.lock().unwrap();
        sent.push(Sent { path, authorization, body });
        sent.len()
    };
    let delay = *shared.delay.lock().unwrap();
    tokio::time::sleep(delay).await;
    if let Some((status, reply)) = shared.script.lock().unwrap().pop_front() {
        return (StatusCode::from_u16(status).unwrap(), axum::Json(reply));
    }
    let reply = json!({
        "messaging_product": "whatsapp",
        "contacts": [{ "input": to, "wa_id": to }],
        "messages": [{ "id": format!("wamid.standin.{count}") }]
    });
    (StatusCode::OK, axum::Json(reply))
}

/// The `X-Hub-Signature-256` value Meta sends with `body`, signed with `app_secret`.
pub fn signature(app_secret: &str, body: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(app_secret.as_bytes()).expect("any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}
