//! Load generator for `avvio dev` (run it with `scripts/load`).
//!
//! Starts a stand-in Graph API and `avvio dev` pointed at it, then posts signed
//! webhooks, each a text from a new contact matching a phrase automation whose
//! first step sends a text. It measures, per message, the time from posting the
//! webhook to the stand-in receiving the send for that contact.
//!
//! 1. Paced: `--rate` webhooks per second (open loop) for `--seconds`; prints
//!    webhook→Graph-send latency p50/p90/p99/max.
//! 2. Flat out: `--concurrency` clients posting back to back for `--seconds`;
//!    prints webhooks/s acknowledged and sends/s reaching the Graph API.

use axum::Router;
use axum::extract::State;
use axum::routing::post;
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const APP_SECRET: &str = "load-app-secret";
const NUMBER: &str = "106540352242922";

/// When each contact's webhook was posted, and when its send reached the stand-in.
#[derive(Default)]
struct Clock {
    posted: Mutex<HashMap<String, Instant>>,
    latencies: Mutex<Vec<Duration>>,
    sends: AtomicU64,
}

async fn graph(State(clock): State<Arc<Clock>>, body: axum::body::Bytes) -> axum::Json<serde_json::Value> {
    let arrived = Instant::now();
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let to = body["to"].as_str().unwrap_or_default().to_string();
    let n = clock.sends.fetch_add(1, Ordering::Relaxed);
    if let Some(posted) = clock.posted.lock().unwrap().remove(&to) {
        clock.latencies.lock().unwrap().push(arrived - posted);
    }
    axum::Json(serde_json::json!({
        "messaging_product": "whatsapp",
        "contacts": [{ "input": to, "wa_id": to }],
        "messages": [{ "id": format!("wamid.load.{n}") }]
    }))
}

struct Dev(Child);

impl Drop for Dev {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_dev(binary: &str, graph_base: &str, automations: &std::path::Path) -> (Dev, String) {
    let mut child = Command::new(binary)
        .args(["dev", "--port", "0", "--automations"])
        .arg(automations)
        .env("WHATSAPP_API_BASE", graph_base)
        .env("WHATSAPP_ACCESS_TOKEN", "load-token")
        .env("WHATSAPP_APP_SECRET", APP_SECRET)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {binary}: {e}"));
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let base = loop {
        let line = lines.next().expect("avvio dev prints where it listens").unwrap();
        if let Some(address) = line.strip_prefix("avvio dev: listening on ") {
            break address.to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    (Dev(child), base)
}

/// A signed webhook: one text "Info" from `phone`.
fn webhook(phone: &str, n: u64) -> (Vec<u8>, String) {
    let ts = chrono::Utc::now().timestamp();
    let body = format!(
        r#"{{"object":"whatsapp_business_account","entry":[{{"id":"102290129340398","changes":[{{"field":"messages","value":{{"messaging_product":"whatsapp","metadata":{{"display_phone_number":"390212345678","phone_number_id":"{NUMBER}"}},"contacts":[{{"profile":{{"name":"Cliente"}},"wa_id":"{phone}"}}],"messages":[{{"from":"{phone}","id":"wamid.load.in.{n}","timestamp":"{ts}","type":"text","text":{{"body":"Info"}}}}]}}}}]}}]}}"#
    )
    .into_bytes();
    let signature = avvio_tests::graph::signature(APP_SECRET, &body);
    (body, signature)
}

struct Load {
    http: reqwest::Client,
    url: String,
    clock: Arc<Clock>,
    next: AtomicU64,
}

impl Load {
    /// Posts one webhook from a new contact; `true` when acknowledged with 200.
    async fn post_one(&self) -> bool {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let phone = format!("39{:010}", 3_000_000_000u64 + n);
        let (body, signature) = webhook(&phone, n);
        self.clock.posted.lock().unwrap().insert(phone, Instant::now());
        let reply = self.http.post(&self.url).header("X-Hub-Signature-256", signature).body(body).send().await;
        reply.is_ok_and(|r| r.status() == 200)
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn arg(args: &[String], name: &str, default: u64) -> u64 {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| v.parse().unwrap_or_else(|_| panic!("{name} takes a number")))
        .unwrap_or(default)
}

async fn wait_for_sends(clock: &Clock, expected: u64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while clock.sends.load(Ordering::Relaxed) < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rate = arg(&args, "--rate", 1000);
    let seconds = arg(&args, "--seconds", 10);
    let concurrency = arg(&args, "--concurrency", 32);
    let binary = std::env::var("AVVIO_BIN").unwrap_or_else(|_| {
        let exe = std::env::current_exe().unwrap();
        exe.parent().and_then(|examples| examples.parent()).unwrap().join("avvio").display().to_string()
    });

    let clock = Arc::new(Clock::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let graph_base = format!("http://{}", listener.local_addr().unwrap());
    let app = Router::new().route("/{*path}", post(graph)).with_state(clock.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let automations = std::env::temp_dir().join(format!("avvio-load-{}.json", std::process::id()));
    std::fs::write(
        &automations,
        r#"[{ "id": "info", "name": "info", "trigger": { "type": "customer_message", "phrase": "Info" },
              "steps": [ { "after": "0s", "action": { "type": "send_text", "text": "Ciao {{name}}, come possiamo aiutarti?" } } ] }]"#,
    )
    .unwrap();
    let (_dev, base) = start_dev(&binary, &graph_base, &automations);
    let load = Arc::new(Load {
        http: reqwest::Client::builder().pool_max_idle_per_host(256).build().unwrap(),
        url: format!("{base}/webhooks/whatsapp"),
        clock: clock.clone(),
        next: AtomicU64::new(0),
    });

    // Warm up connections and the server.
    for _ in 0..200 {
        load.post_one().await;
    }
    wait_for_sends(&clock, 200).await;
    clock.latencies.lock().unwrap().clear();

    // 1. Paced.
    let total = rate * seconds;
    let before = clock.sends.load(Ordering::Relaxed);
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut tasks = Vec::with_capacity(total as usize);
    for _ in 0..total {
        ticker.tick().await;
        let load = load.clone();
        tasks.push(tokio::spawn(async move { load.post_one().await }));
    }
    let mut failed = 0;
    for task in tasks {
        failed += u64::from(!task.await.unwrap());
    }
    wait_for_sends(&clock, before + total).await;
    let mut latencies = std::mem::take(&mut *clock.latencies.lock().unwrap());
    latencies.sort();
    println!("paced: {rate} webhooks/s for {seconds}s: {} sends measured, {failed} webhooks refused", latencies.len());
    if !latencies.is_empty() {
        println!(
            "  webhook→Graph send latency: p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            percentile(&latencies, 0.50).as_secs_f64() * 1e3,
            percentile(&latencies, 0.90).as_secs_f64() * 1e3,
            percentile(&latencies, 0.99).as_secs_f64() * 1e3,
            latencies.last().unwrap().as_secs_f64() * 1e3,
        );
    }

    // 2. Flat out.
    let acked = Arc::new(AtomicU64::new(0));
    let before = clock.sends.load(Ordering::Relaxed);
    let started = Instant::now();
    let stop = started + Duration::from_secs(seconds);
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (load, acked) = (load.clone(), acked.clone());
            tokio::spawn(async move {
                while Instant::now() < stop {
                    if load.post_one().await {
                        acked.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.unwrap();
    }
    let posting = started.elapsed().as_secs_f64();
    let acked = acked.load(Ordering::Relaxed);
    wait_for_sends(&clock, before + acked).await;
    let sent = clock.sends.load(Ordering::Relaxed) - before;
    let all = started.elapsed().as_secs_f64();
    println!(
        "flat out: {concurrency} clients for {seconds}s: {:.0} webhooks/s acknowledged, {:.0} sends/s to the Graph API ({sent} of {acked} in {all:.1}s)",
        acked as f64 / posting,
        sent as f64 / all,
    );
    let _ = std::fs::remove_file(&automations);
}
