//! `avvio dev` end to end: the binary on the examples, a stand-in Graph API on
//! a random local port, a signed webhook in, the send out, Ctrl-C to stop.

use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

type Recorded = Arc<Mutex<Vec<(String, String, serde_json::Value)>>>;

/// A stand-in Graph API: records (path, authorization, body) and answers like Meta.
async fn stand_in_graph() -> (String, Recorded) {
    let recorded: Recorded = Arc::default();
    async fn messages(
        State(recorded): State<Recorded>,
        axum::extract::Path(path): axum::extract::Path<String>,
        headers: HeaderMap,
        body: String,
    ) -> axum::Json<serde_json::Value> {
        let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        let mut all = recorded.lock().unwrap();
        all.push((path, auth, body));
        axum::Json(serde_json::json!({
            "messaging_product": "whatsapp",
            "contacts": [{ "input": "393331234567", "wa_id": "393331234567" }],
            "messages": [{ "id": format!("wamid.standin.{}", all.len()) }]
        }))
    }
    let app = Router::new().route("/{*path}", post(messages)).with_state(recorded.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, recorded)
}

struct Dev {
    child: Child,
    base: String,
}

impl Drop for Dev {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

fn start_dev(graph_base: &str) -> Dev {
    let mut child = Command::new(env!("CARGO_BIN_EXE_avvio"))
        .args(["dev", "--port", "0"])
        .env("WHATSAPP_API_BASE", graph_base)
        .env("WHATSAPP_ACCESS_TOKEN", "dev-test-token")
        .env("WHATSAPP_APP_SECRET", "dev-test-secret")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("avvio dev starts");
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let base = loop {
        let line = lines.next().expect("avvio dev prints where it listens").unwrap();
        if let Some(address) = line.strip_prefix("avvio dev: listening on ") {
            break address.to_string();
        }
    };
    // Keep draining stderr so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Dev { child, base }
}

fn signed_text(body_text: &str) -> (Vec<u8>, String) {
    let ts = chrono::Utc::now().timestamp();
    let body = serde_json::json!({
        "object": "whatsapp_business_account",
        "entry": [{ "id": "102290129340398", "changes": [{ "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": { "display_phone_number": "390212345678", "phone_number_id": "106540352242922" },
            "contacts": [{ "profile": { "name": "Mario Rossi" }, "wa_id": "393331234567" }],
            "messages": [{ "from": "393331234567", "id": format!("wamid.dev.{ts}"), "timestamp": ts.to_string(),
                           "type": "text", "text": { "body": body_text } }]
        } }] }]
    })
    .to_string()
    .into_bytes();
    let mut mac = Hmac::<Sha256>::new_from_slice(b"dev-test-secret").unwrap();
    mac.update(&body);
    (body, format!("sha256={}", hex::encode(mac.finalize().into_bytes())))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_webhook_to_avvio_dev_sends_the_examples_welcome_template() {
    let (graph, recorded) = stand_in_graph().await;
    let mut dev = start_dev(&graph);
    let http = reqwest::Client::new();
    assert_eq!(http.get(format!("{}/health", dev.base)).send().await.unwrap().status(), 200);

    let (body, signature) = signed_text("Vorrei informazioni");
    let response = http
        .post(format!("{}/webhooks/whatsapp", dev.base))
        .header("X-Hub-Signature-256", signature)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let deadline = Instant::now() + Duration::from_secs(10);
    let first = loop {
        if let Some(first) = recorded.lock().unwrap().first().cloned() {
            break first;
        }
        assert!(Instant::now() < deadline, "no message reached the stand-in Graph API");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let (path, auth, request) = first;
    assert_eq!(path, "v23.0/106540352242922/messages");
    assert_eq!(auth, "Bearer dev-test-token");
    assert_eq!(request["to"], "393331234567");
    assert_eq!(request["template"]["name"], "welcome");
    assert_eq!(request["template"]["components"][0]["parameters"][0]["text"], "Mario Rossi");

    // Ctrl-C stops it cleanly.
    let pid = dev.child.id().to_string();
    assert!(Command::new("kill").args(["-INT", &pid]).status().unwrap().success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = dev.child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "avvio dev did not stop on Ctrl-C");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}");
}
