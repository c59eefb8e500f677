//! Load generator for the web console of `avvio dev` (run it with `scripts/console-load`).
//!
//! Starts a stand-in Graph API and `avvio dev` with a workspace and `--automations` phrase
//! automations (each: a text, a tag, then a `wait_for_reply` with two branches), then fills the
//! in-memory store the way real traffic does: `--runs` signed webhooks, each a phrase from one of
//! `--contacts` contacts (every tenth one the first automation's, the rest spread over all of
//! them), posted by `--concurrency` clients back to back; then a fifth of the contacts answer
//! "Sì" and a fifth "No", which the newest waiting run of each takes.
//!
//! Then it signs in to the console (the sign-in form's CSRF cookie and field, the API key) and
//! requests the console's pages at `--rate` requests per second (open loop) for `--seconds`:
//! each page alone, then a mix of every page in turn. Pages with an id get a real one: the
//! automation with the most runs, a contact with runs, that contact's newest run. It prints, per
//! page, the answer's size and latency p50/p90/p99/max, timed from sending the request to
//! reading the last byte of the answer.

use axum::Router;
use axum::extract::State;
use axum::routing::post;
use std::ffi::OsStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use support::{arg, ms, percentile, start_dev, text_webhook};

#[path = "support/mod.rs"]
mod support;

const APP_SECRET: &str = "console-load-app-secret";
const WORKSPACE: &str = include_str!("../../examples/workspace.json");

/// Counts the sends reaching the stand-in Graph API.
async fn graph(State(sends): State<Arc<AtomicU64>>, body: axum::body::Bytes) -> axum::Json<serde_json::Value> {
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let to = body["to"].as_str().unwrap_or_default().to_string();
    let n = sends.fetch_add(1, Ordering::Relaxed);
    axum::Json(serde_json::json!({
        "messaging_product": "whatsapp",
        "contacts": [{ "input": to, "wa_id": to }],
        "messages": [{ "id": format!("wamid.console-load.{n}") }]
    }))
}

/// The id of automation `i`.
fn automation_id(i: u64) -> String {
    format!("offerta-{i:04}")
}

/// `count` phrase automations: a text, a tag, then a wait for "Sì" or "No" (a day at most).
fn automations(count: u64) -> String {
    let documents: Vec<serde_json::Value> = (0..count)
        .map(|i| {
            serde_json::json!({
                "id": automation_id(i),
                "name": format!("Offerta {i:04}"),
                "trigger": { "type": "customer_message", "phrase": format!("Offerta {i:04}") },
                "steps": [
                    { "after": "0s", "action": { "type": "send_text",
                        "text": format!("Ciao {{{{name|}}}}, ti interessa l'offerta {i:04}? Rispondi Sì o No.") } },
                    { "after": "0s", "action": { "type": "add_tag", "tag": "lead" } },
                    { "after": "0s", "action": { "type": "wait_for_reply", "timeout": "1d", "save_to": "risposta",
                        "branches": [
                            { "reply": ["Sì", "si"], "steps": [
                                { "after": "0s", "action": { "type": "send_text", "text": "Perfetto, ti scriviamo a breve." } } ] },
                            { "reply": ["No"], "steps": [
                                { "after": "0s", "action": { "type": "add_tag", "tag": "non-interessato" } } ] } ],
                        "on_timeout": [ { "after": "0s", "action": { "type": "add_tag", "tag": "silenzioso" } } ] } }
                ]
            })
        })
        .collect();
    serde_json::to_string(&documents).unwrap()
}

/// The phone of contact `c`.
fn phone(c: u64) -> String {
    format!("39{:010}", 3_000_000_000u64 + c)
}

/// Which automation's phrase message `n` writes: every tenth the first one's, the others spread.
fn automation_of(n: u64, automations: u64) -> u64 {
    if n % 10 == 0 {
        return 0;
    }
    // A fixed scramble (splitmix64), so a contact's messages name different automations.
    let mut z = n.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    (z ^ (z >> 31)) % automations
}

/// Posts the messages `messages(i)` for `i` in `0..total`, `concurrency` at a time; how many were
/// acknowledged with 200, and the seconds it took.
async fn post_all(
    http: &reqwest::Client,
    url: &str,
    total: u64,
    concurrency: u64,
    message: impl Fn(u64) -> (Vec<u8>, String) + Send + Sync + 'static,
) -> (u64, f64) {
    let next = Arc::new(AtomicU64::new(0));
    let acked = Arc::new(AtomicU64::new(0));
    let message = Arc::new(message);
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (http, url, next, acked, message) =
                (http.clone(), url.to_string(), next.clone(), acked.clone(), message.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= total {
                        break;
                    }
                    let (body, signature) = message(i);
                    let reply = http.post(&url).header("X-Hub-Signature-256", signature).body(body).send().await;
                    if reply.is_ok_and(|r| r.status() == 200) {
                        acked.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.unwrap();
    }
    (acked.load(Ordering::Relaxed), started.elapsed().as_secs_f64())
}

/// Waits until `expected` sends reached the stand-in, then until none arrived for a second (the
/// steps after the sends: tags, waits); false when they did not all arrive within a minute.
async fn settle(sends: &AtomicU64, expected: u64) -> bool {
    let deadline = Instant::now() + Duration::from_secs(60);
    while sends.load(Ordering::Relaxed) < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    sends.load(Ordering::Relaxed) >= expected
}

/// The `name=value` of a `Set-Cookie` header named `name`.
fn set_cookie(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .find(|pair| pair.starts_with(&format!("{name}=")))
        .unwrap_or_else(|| panic!("the answer sets no cookie `{name}`"))
        .to_string()
}

/// Signs in to the console with `key`; the `Cookie` header of the session.
async fn sign_in(http: &reqwest::Client, console: &str, key: &str) -> String {
    let form = http.get(format!("{console}sign-in")).send().await.unwrap();
    let pre_session = set_cookie(&form, "avvio_pre_session");
    let html = form.text().await.unwrap();
    let csrf = html
        .split(r#"name="csrf" value=""#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the sign-in form has a csrf field");
    let signed_in = http
        .post(format!("{console}sign-in"))
        .header(reqwest::header::COOKIE, &pre_session)
        .form(&[("csrf", csrf), ("key", key), ("next", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), 303, "signing in with the API key redirects");
    set_cookie(&signed_in, "avvio_session")
}

/// A page measured: what the table calls it and its path below `/console/`.
struct Page {
    name: &'static str,
    path: String,
}

/// One request: which page, how long, whether it answered 200, its size.
struct Sample {
    page: usize,
    latency: Duration,
    ok: bool,
    bytes: usize,
}

async fn get(http: &reqwest::Client, url: &str, cookie: &str) -> (bool, usize) {
    match http.get(url).header(reqwest::header::COOKIE, cookie).send().await {
        Ok(reply) => {
            let ok = reply.status() == 200;
            (ok, reply.bytes().await.map_or(0, |b| b.len()))
        }
        Err(_) => (false, 0),
    }
}

/// Requests `pick(i)` of `pages` at `rate` per second for `seconds` (open loop).
async fn paced(
    http: &reqwest::Client,
    console: &str,
    cookie: &str,
    pages: &[Page],
    rate: u64,
    seconds: u64,
    pick: impl Fn(u64) -> usize,
) -> Vec<Sample> {
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut tasks = Vec::with_capacity((rate * seconds) as usize);
    for i in 0..rate * seconds {
        ticker.tick().await;
        let page = pick(i);
        let (http, url, cookie) = (http.clone(), format!("{console}{}", pages[page].path), cookie.to_string());
        tasks.push(tokio::spawn(async move {
            let sent = Instant::now();
            let (ok, bytes) = get(&http, &url, &cookie).await;
            Sample { page, latency: sent.elapsed(), ok, bytes }
        }));
    }
    let mut samples = Vec::with_capacity(tasks.len());
    for task in tasks {
        samples.push(task.await.unwrap());
    }
    samples
}

/// One line of the table: `samples` of one page (or of the mix).
fn report(name: &str, samples: &[&Sample]) {
    let mut latencies: Vec<Duration> = samples.iter().map(|s| s.latency).collect();
    latencies.sort();
    let failed = samples.iter().filter(|s| !s.ok).count();
    let bytes = samples.iter().map(|s| s.bytes).max().unwrap_or(0);
    println!(
        "  {name:<34} {:>8} {:>6} {:>8} {:>8} {:>8} {:>8}{}",
        bytes,
        samples.len(),
        ms(percentile(&latencies, 0.50)),
        ms(percentile(&latencies, 0.90)),
        ms(percentile(&latencies, 0.99)),
        ms(*latencies.last().unwrap()),
        if failed > 0 { format!("  ({failed} not 200)") } else { String::new() },
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rate = arg(&args, "--rate", 100);
    let seconds = arg(&args, "--seconds", 10);
    let automation_count = arg(&args, "--automations", 1000);
    let runs = arg(&args, "--runs", 100_000);
    let contacts = arg(&args, "--contacts", 10_000);
    let concurrency = arg(&args, "--concurrency", 32);
    let key = std::env::var("AVVIO_API_KEY").ok().filter(|k| !k.is_empty()).unwrap_or_else(|| "dev-api-key".into());

    let sends = Arc::new(AtomicU64::new(0));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let graph_base = format!("http://{}", listener.local_addr().unwrap());
    let app = Router::new().route("/{*path}", post(graph)).with_state(sends.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let files = std::env::temp_dir().join(format!("avvio-console-load-{}", std::process::id()));
    std::fs::create_dir_all(&files).unwrap();
    let (workspace_file, automations_file) = (files.join("workspace.json"), files.join("automations.json"));
    std::fs::write(&workspace_file, WORKSPACE).unwrap();
    std::fs::write(&automations_file, automations(automation_count)).unwrap();
    let started = Instant::now();
    let args = [
        OsStr::new("--workspace"),
        workspace_file.as_os_str(),
        OsStr::new("--automations"),
        automations_file.as_os_str(),
    ];
    let (_dev, base) = start_dev(&graph_base, APP_SECRET, &args);
    println!("avvio dev: {automation_count} automations loaded in {:.1}s", started.elapsed().as_secs_f64());
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let webhooks = format!("{base}/webhooks/whatsapp");

    // The runs: one per phrase message.
    let (acked, took) = post_all(&http, &webhooks, runs, concurrency, move |n| {
        let text = format!("Offerta {:04}", automation_of(n, automation_count));
        text_webhook(APP_SECRET, &phone(n % contacts), &format!("Cliente {n}"), n, &text)
    })
    .await;
    let all_sent = settle(&sends, acked).await;
    println!(
        "runs: {acked} of {runs} webhooks acknowledged in {took:.1}s ({:.0}/s) from {contacts} contacts; {} sends{}",
        acked as f64 / took,
        sends.load(Ordering::Relaxed),
        if all_sent { "" } else { " (not all arrived)" },
    );
    // Replies: contacts 0, 5, 10… answer "Sì" (a text sent), 1, 6, 11… "No".
    let answering = contacts.div_ceil(5) + (contacts + 3) / 5;
    let before = sends.load(Ordering::Relaxed);
    let (answered, took) = post_all(&http, &webhooks, answering, concurrency, move |i| {
        let (c, text) =
            if i < contacts.div_ceil(5) { (i * 5, "Sì") } else { ((i - contacts.div_ceil(5)) * 5 + 1, "No") };
        text_webhook(APP_SECRET, &phone(c), "Cliente", runs + i, text)
    })
    .await;
    settle(&sends, before + contacts.div_ceil(5)).await;
    println!("replies: {answered} acknowledged in {took:.1}s; {} sends", sends.load(Ordering::Relaxed) - before);

    // Real ids: the automation with the most runs, a contact, its newest run.
    let console = format!("{base}/console/");
    let cookie = sign_in(&http, &console, &key).await;
    let busy = automation_id(0);
    let contact = phone(0);
    let contact_runs = http.get(format!("{base}/v1/runs?phone={contact}")).bearer_auth(&key).send().await.unwrap();
    let contact_runs: serde_json::Value = serde_json::from_slice(&contact_runs.bytes().await.unwrap()).unwrap();
    let run = contact_runs["items"][0]["id"].as_str().expect("the contact has runs").to_string();
    let pages = vec![
        Page { name: "automations", path: "automations".into() },
        Page { name: "automations/new", path: "automations/new".into() },
        Page { name: "automations/{id} (editor)", path: format!("automations/{busy}") },
        Page { name: "automations/{id}/versions", path: format!("automations/{busy}/versions") },
        Page { name: "contacts", path: "contacts".into() },
        Page { name: "contacts/{phone}", path: format!("contacts/{contact}") },
        Page { name: "runs", path: "runs".into() },
        Page { name: "runs?automation={id}", path: format!("runs?automation={busy}") },
        Page { name: "runs/{id}", path: format!("runs/{run}") },
        Page { name: "templates", path: "templates".into() },
        Page { name: "workspace", path: "workspace".into() },
    ];
    // Warm up, and leave out a page this build does not have.
    let mut served = Vec::new();
    for page in pages {
        let url = format!("{console}{}", page.path);
        let mut answers = Vec::new();
        for _ in 0..20 {
            answers.push(get(&http, &url, &cookie).await);
        }
        if answers.iter().all(|(ok, _)| *ok) {
            served.push(page);
        } else {
            println!("{}: not 200, left out", page.path);
        }
    }

    println!("pages at {rate} requests/s for {seconds}s (latency in ms, request sent → last byte read):");
    println!("  {:<34} {:>8} {:>6} {:>8} {:>8} {:>8} {:>8}", "page", "bytes", "n", "p50", "p90", "p99", "max");
    for (index, page) in served.iter().enumerate() {
        let samples = paced(&http, &console, &cookie, &served, rate, seconds, |_| index).await;
        report(page.name, &samples.iter().collect::<Vec<_>>());
    }
    let mix = paced(&http, &console, &cookie, &served, rate, seconds, |i| i as usize % served.len()).await;
    report("mix (every page in turn)", &mix.iter().collect::<Vec<_>>());
    println!("  the mix, by page:");
    for (index, page) in served.iter().enumerate() {
        report(page.name, &mix.iter().filter(|s| s.page == index).collect::<Vec<_>>());
    }
    let _ = std::fs::remove_dir_all(&files);
}
