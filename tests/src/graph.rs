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
    /// When it arrived.
    pub at: Instant,
}

/// The limits a stand-in enforces as Meta does (SPEC §2.6), each answered with Meta's error.
#[derive(Debug, Clone, Default)]
pub struct Limits {
    /// The most sends it takes in any one second; past it: 130429 (throughput reached).
    pub per_second: Option<usize>,
    /// The least time between two sends to one recipient; sooner: 131056 (pair rate).
    pub pair_interval: Option<Duration>,
    /// Recipients refused with a Meta code, every time (131050, 131049…).
    pub refuse: Vec<(String, i64)>,
}

#[derive(Default)]
struct Shared {
    /// What `GET …/message_templates` serves: (status, body, whether `paging.next` is rewritten).
    templates: Mutex<Vec<(u16, String, bool)>>,
    template_requests: Mutex<Vec<TemplateRequest>>,
    sent: Mutex<Vec<Sent>>,
    script: Mutex<VecDeque<(u16, Value)>>,
    delay: Mutex<Duration>,
    limits: Mutex<Limits>,
    /// The sends it took (answered with a wamid): when, to whom.
    accepted: Mutex<Vec<(Instant, String)>>,
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
        let app = Router::new().route("/{*path}", post(messages).get(message_templates)).with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind a loopback port");
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.expect("the stand-in serves") });
        Self { base, shared }
    }

    /// Enforces `limits` on every later send.
    pub fn enforce(&self, limits: Limits) {
        *self.shared.limits.lock().unwrap() = limits;
    }

    /// The sends it took (a wamid answered), in order: when each arrived and its recipient.
    pub fn accepted(&self) -> Vec<(Instant, String)> {
        self.shared.accepted.lock().unwrap().clone()
    }

    /// Every send received so far, in order (refused ones too).
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
        sent.push(Sent { path, authorization, body, at: Instant::now() });
        sent.len()
    };
    let delay = *shared.delay.lock().unwrap();
    tokio::time::sleep(delay).await;
    if let Some((status, reply)) = shared.script.lock().unwrap().pop_front() {
        return (StatusCode::from_u16(status).unwrap(), axum::Json(reply));
    }
    if let Some(code) = refusal(&shared, &to) {
        let error = json!({ "error": { "message": format!("(#{code}) refused by the stand-in"), "type": "OAuthException",
                                       "code": code, "fbtrace_id": "standin" } });
        return (StatusCode::BAD_REQUEST, axum::Json(error));
    }
    let reply = json!({
        "messaging_product": "whatsapp",
        "contacts": [{ "input": to, "wa_id": to }],
        "messages": [{ "id": format!("wamid.standin.{count}") }]
    });
    (StatusCode::OK, axum::Json(reply))
}

/// The Meta code a send to `to` is refused with under the stand-in's limits; else the send is
/// taken (recorded as accepted).
fn refusal(shared: &Shared, to: &str) -> Option<i64> {
    let limits = shared.limits.lock().unwrap().clone();
    if let Some((_, code)) = limits.refuse.iter().find(|(recipient, _)| recipient == to) {
        return Some(*code);
    }
    let now = Instant::now();
    let mut accepted = shared.accepted.lock().unwrap();
    if let Some(max) = limits.per_second {
        let in_last_second = accepted.iter().rev().take_while(|(at, _)| now - *at < Duration::from_secs(1)).count();
        if in_last_second >= max {
            return Some(130429);
        }
    }
    if let Some(interval) = limits.pair_interval {
        let last_to = accepted.iter().rev().find(|(_, recipient)| recipient == to);
        if last_to.is_some_and(|(at, _)| now - *at < interval) {
            return Some(131056);
        }
    }
    accepted.push((now, to.to_string()));
    None
}

impl StandInGraph {
    /// Serves `pages` (Meta's JSON answers, e.g. `tests/fixtures/meta/message_templates_page1.json`)
    /// at `GET /{version}/{waba_id}/message_templates`, in order: each page's `paging.next` is
    /// rewritten to the stand-in's own URL of the page after it (`?after=N`), and left out of
    /// the last.
    pub fn with_templates(self, pages: Vec<Value>) -> Self {
        *self.shared.templates.lock().unwrap() = pages.into_iter().map(|p| (200, p.to_string(), true)).collect();
        self
    }

    /// Serves `answers` (status, raw body) as the pages of the template list, as they are
    /// (`paging.next` not rewritten): Meta's errors, bodies that are not JSON, foreign links.
    pub fn with_template_answers(self, answers: Vec<(u16, String)>) -> Self {
        *self.shared.templates.lock().unwrap() = answers.into_iter().map(|(s, b)| (s, b, false)).collect();
        self
    }

    /// Every `GET …/message_templates` received so far, in order.
    pub fn template_requests(&self) -> Vec<TemplateRequest> {
        self.shared.template_requests.lock().unwrap().clone()
    }
}

/// One read of the template list the stand-in received.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateRequest {
    /// The path after the host, with its query: `v23.0/102290129340398/message_templates?fields=…`.
    pub path: String,
    /// The `Authorization` header.
    pub authorization: String,
}

/// `GET /{version}/{waba_id}/message_templates?…&after=N`: page N of the configured pages.
async fn message_templates(
    State(shared): State<Arc<Shared>>,
    Path(path): Path<String>,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
    headers: HeaderMap,
) -> (StatusCode, [(axum::http::HeaderName, &'static str); 1], String) {
    // `{version}/{waba_id}/message_templates` (one catch-all route serves sends and reads).
    let json_type = [(axum::http::header::CONTENT_TYPE, "application/json")];
    let (version, waba_id) = match path.split('/').collect::<Vec<_>>()[..] {
        [version, waba_id, "message_templates"] => (version.to_string(), waba_id.to_string()),
        _ => {
            return (
                StatusCode::NOT_FOUND,
                json_type,
                json!({ "error": { "message": "unknown path", "code": 100 } }).to_string(),
            );
        }
    };
    let query = query.unwrap_or_default();
    let authorization = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let path = format!("{version}/{waba_id}/message_templates?{query}");
    shared.template_requests.lock().unwrap().push(TemplateRequest { path, authorization });
    let page: usize = query.split('&').find_map(|pair| pair.strip_prefix("after=")?.parse().ok()).unwrap_or(0);
    let pages = shared.templates.lock().unwrap().clone();
    let json = [(axum::http::header::CONTENT_TYPE, "application/json")];
    let Some((status, body, rewrite)) = pages.get(page).cloned() else {
        let empty = json!({ "data": [], "paging": { "cursors": { "before": "", "after": "" } } });
        return (StatusCode::OK, json, empty.to_string());
    };
    let body = match serde_json::from_str::<Value>(&body) {
        Ok(mut answer) if rewrite && answer.get("paging").is_some_and(Value::is_object) => {
            let paging = answer["paging"].as_object_mut().expect("an object");
            if page + 1 < pages.len() {
                let host = headers.get("host").and_then(|v| v.to_str().ok()).unwrap_or("127.0.0.1");
                let next = format!(
                    "http://{host}/{version}/{waba_id}/message_templates\
                     ?fields=name,language,status,category,parameter_format,components&limit=100&after={}",
                    page + 1
                );
                paging.insert("next".into(), Value::String(next));
            } else {
                paging.remove("next");
            }
            answer.to_string()
        }
        _ => body,
    };
    (StatusCode::from_u16(status).unwrap(), json, body)
}

/// The `X-Hub-Signature-256` value Meta sends with `body`, signed with `app_secret`.
pub fn signature(app_secret: &str, body: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(app_secret.as_bytes()).expect("any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}
