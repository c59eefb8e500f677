//! Load generator for `avvio dev`, or with `--serve` for `avvio serve` on a database file
//! (`--data FILE`, default a new file in the temporary directory) (run it with `scripts/load`).
//!
//! Starts a stand-in Graph API and `avvio dev` (or `serve`) pointed at it, then posts signed
//! webhooks, each a text from a new contact matching a phrase automation whose
//! first step sends a text. It measures, per message, the time from posting the
//! webhook to the stand-in receiving the send for that contact.
//!
//! The workspace's number may send `--sends-per-second` messages (default and most: 1000), so
//! the pacing of sends is in place.
//!
//! 1. Paced: `--rate` webhooks per second (open loop, default 900: under the number's rate)
//!    for `--seconds`; prints webhook→Graph-send latency p50/p90/p99/max.
//! 2. Flat out: `--concurrency` clients posting back to back for `--seconds`;
//!    prints webhooks/s acknowledged and sends/s reaching the Graph API (at most the number's
//!    rate: the rest wait their turn).

use axum::Router;
use axum::extract::State;
use axum::routing::post;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::{arg, ms, percentile, start_dev_with, start_serve, text_webhook};

#[path = "support/mod.rs"]
mod support;

const APP_SECRET: &str = "load-app-secret";
const API_KEY: &str = "load-api-key";

/// The phrase automation every webhook starts.
const AUTOMATION: &str = r#"{ "id": "info", "name": "info", "trigger": { "type": "customer_message", "phrase": "Info" },
    "steps": [ { "after": "0s", "action": { "type": "send_text", "text": "Ciao {{name}}, come possiamo aiutarti?" } } ] }"#;

/// Puts the workspace and the automation through the API (`avvio serve` loads no files).
async fn configure(base: &str, workspace: &serde_json::Value) {
    let http = reqwest::Client::new();
    let put = http
        .put(format!("{base}/v1/workspace"))
        .bearer_auth(API_KEY)
        .header("content-type", "application/json")
        .body(workspace.to_string())
        .send()
        .await
        .unwrap();
    assert!(put.status().is_success(), "PUT /v1/workspace: {}", put.text().await.unwrap());
    let automation: serde_json::Value = serde_json::from_str(AUTOMATION).unwrap();
    let post = http
        .post(format!("{base}/v1/automations"))
        .bearer_auth(API_KEY)
        .header("content-type", "application/json")
        .body(automation.to_string())
        .send()
        .await
        .unwrap();
    assert!(post.status().is_success(), "POST /v1/automations: {}", post.text().await.unwrap());
}

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
        let (body, signature) = text_webhook(APP_SECRET, &phone, "Cliente", n, "Info");
        self.clock.posted.lock().unwrap().insert(phone, Instant::now());
        let reply = self.http.post(&self.url).header("X-Hub-Signature-256", signature).body(body).send().await;
        reply.is_ok_and(|r| r.status() == 200)
    }
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
    let rate = arg(&args, "--rate", 900);
    let sends_per_second = arg(&args, "--sends-per-second", 1000);
    let seconds = arg(&args, "--seconds", 10);
    let concurrency = arg(&args, "--concurrency", 32);

    let clock = Arc::new(Clock::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let graph_base = format!("http://{}", listener.local_addr().unwrap());
    let app = Router::new().route("/{*path}", post(graph)).with_state(clock.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    // The example workspace, its number allowed `--sends-per-second` (1000 at most, Meta's top tier).
    let mut workspace: serde_json::Value = serde_json::from_str(include_str!("../../examples/workspace.json")).unwrap();
    workspace["whatsapp"]["max_sends_per_second"] = sends_per_second.into();
    let scratch = std::env::temp_dir().join(format!("avvio-load-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).unwrap();
    let (_avvio, base) = if args.iter().any(|a| a == "--serve") {
        let data = args
            .iter()
            .position(|a| a == "--data")
            .and_then(|i| args.get(i + 1))
            .map_or_else(|| scratch.join("avvio.db"), std::path::PathBuf::from);
        println!("avvio serve on {}", data.display());
        let (avvio, base) = start_serve(&graph_base, APP_SECRET, API_KEY, &data);
        configure(&base, &workspace).await;
        (avvio, base)
    } else {
        start_dev_with(&scratch, &graph_base, APP_SECRET, &workspace, AUTOMATION)
    };
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
            "  webhook→Graph send latency: p50 {} ms, p90 {} ms, p99 {} ms, max {} ms",
            ms(percentile(&latencies, 0.50)),
            ms(percentile(&latencies, 0.90)),
            ms(percentile(&latencies, 0.99)),
            ms(*latencies.last().unwrap()),
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
    let _ = std::fs::remove_dir_all(&scratch);
}
