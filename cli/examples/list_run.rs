//! A list run at scale on `avvio dev` (run it with `scripts/list-run`).
//!
//! Starts a stand-in Graph API and `avvio dev` with a `list` automation whose one step tags the
//! contact (no send: what is measured is the fan-out, not the pacing of sends), adds
//! `--members` contacts to its list through `PUT /v1/lists/{list}/contacts/{phone}` (before the
//! automation exists, so joining starts nothing), then `POST /v1/automations/{id}/run` with
//! `{}` and polls the automation's stats until every member's run has started and ended. It
//! prints how long the answer took, how long until every run started and ended, and the
//! resident memory of the `avvio dev` process before and after.

use axum::Router;
use axum::routing::post;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use support::{arg, start_dev};

#[path = "support/mod.rs"]
mod support;

const APP_SECRET: &str = "list-run-app-secret";
const KEY: &str = "dev-api-key";

/// The resident memory of process `pid`, in MiB (Linux).
fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let members = arg(&args, "--members", 100_000);
    let concurrency = arg(&args, "--concurrency", 32);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let graph_base = format!("http://{}", listener.local_addr().unwrap());
    let app = Router::new().route("/{*path}", post(|| async { "{}" }));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let files = std::env::temp_dir().join(format!("avvio-list-run-{}", std::process::id()));
    std::fs::create_dir_all(&files).unwrap();
    let empty = files.join("automations.json");
    std::fs::write(&empty, "[]").unwrap();
    let (dev, base) = start_dev(&graph_base, APP_SECRET, &[std::ffi::OsStr::new("--automations"), empty.as_os_str()]);
    let pid = dev.pid();
    let http = reqwest::Client::builder().pool_max_idle_per_host(256).build().unwrap();

    // The members join first.
    let started = Instant::now();
    let next = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (http, base, next) = (http.clone(), base.clone(), next.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= members {
                        break;
                    }
                    let url = format!("{base}/v1/lists/clienti/contacts/39{}", 3_500_000_000u64 + i);
                    let reply = http.put(url).bearer_auth(KEY).send().await.expect("avvio dev answers");
                    assert!(reply.status().is_success(), "{}", reply.status());
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.unwrap();
    }
    let stats_url = format!("{base}/v1/automations/campagna/stats");
    while list_size(&http, &base).await < members {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!("{members} members joined in {:.1}s; avvio dev: {:.0} MiB", started.elapsed().as_secs_f64(), rss_mib(pid));

    let campaign = serde_json::json!({ "id": "campagna", "name": "campagna", "trigger": { "type": "list", "list": "clienti" },
        "steps": [ { "after": "0s", "action": { "type": "add_tag", "tag": "campagna" } } ] });
    let created = http
        .post(format!("{base}/v1/automations"))
        .bearer_auth(KEY)
        .header("content-type", "application/json")
        .body(campaign.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);

    let started = Instant::now();
    let run = http
        .post(format!("{base}/v1/automations/campagna/run"))
        .bearer_auth(KEY)
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(run.status(), 202);
    let answered = started.elapsed();
    let (mut all_started, mut peak) = (None, 0.0f64);
    loop {
        peak = peak.max(rss_mib(pid));
        let reply = http.get(&stats_url).bearer_auth(KEY).send().await.unwrap();
        let stats: serde_json::Value = serde_json::from_slice(&reply.bytes().await.unwrap()).unwrap();
        let (runs_started, ended) =
            (stats["runs"]["started"].as_u64().unwrap_or(0), stats["runs"]["ended"].as_u64().unwrap_or(0));
        if all_started.is_none() && runs_started >= members {
            all_started = Some(started.elapsed());
        }
        if ended >= members {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(600), "{runs_started} started, {ended} ended after 10 minutes");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "list run of {members}: 202 in {:.1} ms; every run started in {:.1}s, ended in {:.1}s; avvio dev: {:.0} MiB after, {peak:.0} MiB at the peak",
        answered.as_secs_f64() * 1e3,
        all_started.unwrap_or_default().as_secs_f64(),
        started.elapsed().as_secs_f64(),
        rss_mib(pid),
    );
    let _ = std::fs::remove_dir_all(&files);
}

/// The members of `clienti`, read a page of 1000 at a time.
async fn list_size(http: &reqwest::Client, base: &str) -> u64 {
    let (mut size, mut cursor) = (0, String::new());
    loop {
        let url = format!("{base}/v1/contacts?list=clienti&limit=1000{cursor}");
        let reply = http.get(url).bearer_auth(KEY).send().await.unwrap();
        let page: serde_json::Value = serde_json::from_slice(&reply.bytes().await.unwrap()).unwrap();
        size += page["items"].as_array().map_or(0, Vec::len) as u64;
        match page["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => return size,
        }
    }
}
