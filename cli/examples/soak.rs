//! Soak test of `avvio dev`, or with `--serve` of `avvio serve` on a database file (`--data FILE`,
//! default a new file in the temporary directory): run it with `scripts/soak`.
//!
//! Starts a stand-in Graph API and `avvio` pointed at it, then posts `--rate` signed webhooks
//! a second (default 500) for `--minutes` (default 30), open loop, from `--contacts` contacts
//! (default 20,000). Each webhook is one of:
//! - a trigger: "Soak" from an idle contact, starting a run of the flow [`AUTOMATION`]: a send,
//!   a second send 5 s later, then a wait for a reply (1 min) whose branch "si" and whose
//!   timeout each send a last message;
//! - a reply "si", for `--reply-percent` of the runs (default 50), 2 s after the stand-in got
//!   the run's second send (the wait has started); the other runs time out;
//! - a delivery status: every send gets `sent` (10% of them posted by the stand-in before it
//!   answers the send, so before the send's result can be stored; the others 1 s after), and
//!   half of them `delivered` 2 s after.
//!
//! Replies and statuses go first when due; triggers fill the rest of the rate. Each run's
//! messages carry the contact's profile name, `k<contact>x<cycle>`, so the stand-in knows which
//! run of which contact sent each message.
//!
//! Every 10 s it samples the process's resident memory (`/proc/PID/status`) and counts the
//! webhooks acknowledged, the sends the stand-in received and the runs ended (the automation's
//! stats). After `--minutes` it stops the triggers, lets the runs under way finish, then checks
//! that nothing is lost: every acknowledged trigger made exactly one run, completed down the
//! expected branch (`GET /v1/runs?phone=` for every contact), every expected message reached
//! the stand-in exactly once and nothing else did, and the stats counters agree (runs, steps,
//! branches, deliveries). It prints the memory table and the latencies, and exits 1 when
//! anything was lost or the memory after `--warmup` minutes (default 5) moved beyond ±10% of
//! its mean. `avvio dev` keeps every run in memory by design: there it fits the memory to the
//! runs stored (least squares) and fails when the bytes per stored run of the second half of
//! the samples after the warm-up are more than 10% above the first half's (see docs/soak.md).

use axum::Router;
use axum::extract::State;
use axum::routing::post;
use std::collections::{HashMap, VecDeque};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::{Avvio, arg, ms, percentile, resident_kib, start_dev_with, start_serve, status_webhook, text_webhook};

#[path = "support/mod.rs"]
mod support;

const APP_SECRET: &str = "load-app-secret";
const SERVE_API_KEY: &str = "load-api-key";
const AUTOMATION_ID: &str = "soak";

/// The flow every trigger starts: two sends 5 s apart, then a wait for "si" (1 min).
const AUTOMATION: &str = r#"{ "id": "soak", "name": "soak", "trigger": { "type": "customer_message", "phrase": "Soak" },
  "steps": [
    { "after": "0s", "action": { "type": "send_text", "text": "a {{name}}" } },
    { "after": "5s", "action": { "type": "send_text", "text": "b {{name}}" } },
    { "after": "0s", "action": { "type": "wait_for_reply", "timeout": "1m",
        "branches": [ { "reply": ["si"], "steps": [ { "after": "0s", "action": { "type": "send_text", "text": "yes {{name}}" } } ] } ],
        "on_timeout": [ { "after": "0s", "action": { "type": "send_text", "text": "late {{name}}" } } ] } } ] }"#;

/// The flow's delay between its two first sends, and its wait's timeout.
const DELAY: Duration = Duration::from_secs(5);
const TIMEOUT: Duration = Duration::from_secs(60);
/// How long after the second send a replying contact answers.
const REPLY_AFTER: Duration = Duration::from_secs(2);
const SENT_AFTER: Duration = Duration::from_secs(1);
const DELIVERED_AFTER: Duration = Duration::from_secs(2);
const SAMPLE_EVERY: Duration = Duration::from_secs(10);

/// The four messages of a run, by the word its text starts with.
const TAGS: [&str; 4] = ["a", "b", "yes", "late"];
const A: usize = 0;
const B: usize = 1;
const YES: usize = 2;
const LATE: usize = 3;

fn phone(contact: u32) -> String {
    format!("39{:010}", 3_500_000_000u64 + u64::from(contact))
}

fn name(contact: u32, cycle: u32) -> String {
    format!("k{contact}x{cycle}")
}

/// One run the generator started (a trigger posted) and what came of it.
#[derive(Default)]
struct Cycle {
    posted: Option<Instant>,
    /// The trigger's answer: `Some(true)` acknowledged with 200.
    acked: Option<bool>,
    replies: bool,
    reply_posted: Option<Instant>,
    reply_acked: Option<bool>,
    /// Per message (`TAGS`): how many reached the stand-in, the first's arrival and wamid.
    sends: [u32; 4],
    arrived: [Option<Instant>; 4],
    wamids: [Option<String>; 4],
}

impl Cycle {
    /// The last message this run should send.
    fn last(&self) -> usize {
        if self.reply_acked == Some(true) { YES } else { LATE }
    }
}

/// What the stand-in answered a send with, and the statuses posted for it.
#[derive(Default)]
struct Outbound {
    contact: u32,
    cycle: u32,
    tag: usize,
    early_sent: Option<bool>,
    late_sent: Option<bool>,
    delivered: Option<bool>,
}

/// A webhook waiting to be posted once due.
enum Due {
    Reply { contact: u32, cycle: u32 },
    Status { wamid: String, delivered: bool },
}

#[derive(Default)]
struct Ledger {
    /// Per contact: its current cycle and whether a run of it is under way.
    contacts: Vec<(u32, bool)>,
    next_contact: usize,
    cycles: HashMap<(u32, u32), Cycle>,
    outbound: HashMap<String, Outbound>,
    /// Sends the stand-in could not place (a text or a name it did not write).
    strangers: Vec<String>,
    /// Three FIFOs: each kind's delay is constant, so each is in due order.
    replies: VecDeque<(Instant, Due)>,
    sents: VecDeque<(Instant, Due)>,
    delivereds: VecDeque<(Instant, Due)>,
    busy: usize,
}

impl Ledger {
    /// The next webhook due at `now`: a reply or a status, else (while `triggers`) a trigger.
    fn next(&mut self, now: Instant, triggers: bool, reply_percent: u64) -> Option<Job> {
        let heads = [&self.replies, &self.sents, &self.delivereds].map(|q| q.front().map(|(at, _)| *at));
        let earliest = (0..3).filter(|&k| heads[k].is_some_and(|at| at <= now)).min_by_key(|&k| heads[k]);
        if let Some(k) = earliest {
            let queue = [&mut self.replies, &mut self.sents, &mut self.delivereds][k].pop_front();
            return queue.map(|(_, due)| match due {
                Due::Reply { contact, cycle } => {
                    let c = self.cycles.get_mut(&(contact, cycle)).expect("a reply's cycle");
                    c.reply_posted = Some(Instant::now());
                    Job::Reply { contact, cycle }
                }
                Due::Status { wamid, delivered } => {
                    let to = self.outbound[&wamid].contact;
                    Job::Status { to, wamid, delivered }
                }
            });
        }
        if !triggers {
            return None;
        }
        let n = self.contacts.len();
        for _ in 0..n {
            let contact = self.next_contact;
            self.next_contact = (self.next_contact + 1) % n;
            let (cycle, busy) = &mut self.contacts[contact];
            if *busy {
                continue;
            }
            *busy = true;
            *cycle += 1;
            let (contact, cycle) = (contact as u32, *cycle);
            // Spread the replying runs over contacts and cycles.
            let replies = (u64::from(contact) * 7 + u64::from(cycle) * 13) % 100 < reply_percent;
            self.cycles.insert((contact, cycle), Cycle { posted: Some(now), replies, ..Cycle::default() });
            self.busy += 1;
            return Some(Job::Trigger { contact, cycle });
        }
        None
    }

    fn finish(&mut self, contact: u32) {
        let slot = &mut self.contacts[contact as usize];
        if slot.1 {
            slot.1 = false;
            self.busy -= 1;
        }
    }
}

enum Job {
    Trigger { contact: u32, cycle: u32 },
    Reply { contact: u32, cycle: u32 },
    Status { to: u32, wamid: String, delivered: bool },
}

/// Counters sampled every 10 s.
#[derive(Default)]
struct Counts {
    acked: AtomicU64,
    refused: AtomicU64,
    sends: AtomicU64,
    /// Early statuses posted by the stand-in: the pacer skips a tick for each, to keep the rate.
    owed: AtomicU64,
}

struct Soak {
    http: reqwest::Client,
    /// `avvio`'s webhook URL, once it listens.
    webhooks: std::sync::OnceLock<String>,
    ledger: Mutex<Ledger>,
    counts: Counts,
    inbound: AtomicU64,
}

impl Soak {
    async fn post(&self, (body, signature): (Vec<u8>, String)) -> bool {
        let answer = self
            .http
            .post(self.webhooks.get().expect("avvio listens"))
            .header("X-Hub-Signature-256", signature)
            .body(body)
            .send()
            .await;
        let ok = answer.is_ok_and(|r| r.status() == 200);
        let counter = if ok { &self.counts.acked } else { &self.counts.refused };
        counter.fetch_add(1, Ordering::Relaxed);
        ok
    }

    async fn run(&self, job: Job) {
        match job {
            Job::Trigger { contact, cycle } => {
                let n = self.inbound.fetch_add(1, Ordering::Relaxed);
                let ok = self.post(text_webhook(APP_SECRET, &phone(contact), &name(contact, cycle), n, "Soak")).await;
                let mut ledger = self.ledger.lock().unwrap();
                ledger.cycles.get_mut(&(contact, cycle)).unwrap().acked = Some(ok);
                if !ok {
                    ledger.finish(contact);
                }
            }
            Job::Reply { contact, cycle } => {
                let n = self.inbound.fetch_add(1, Ordering::Relaxed);
                let ok = self.post(text_webhook(APP_SECRET, &phone(contact), &name(contact, cycle), n, "si")).await;
                self.ledger.lock().unwrap().cycles.get_mut(&(contact, cycle)).unwrap().reply_acked = Some(ok);
            }
            Job::Status { to, wamid, delivered } => {
                let status = if delivered { "delivered" } else { "sent" };
                let ok = self.post(status_webhook(APP_SECRET, &phone(to), &wamid, status)).await;
                let mut ledger = self.ledger.lock().unwrap();
                let out = ledger.outbound.get_mut(&wamid).unwrap();
                *(if delivered { &mut out.delivered } else { &mut out.late_sent }) = Some(ok);
            }
        }
    }

    /// Notes a send that reached the stand-in (answered with `wamid`); schedules its statuses and
    /// the reply it calls for. Whether its `sent` status goes out before the answer.
    fn sent(&self, arrived: Instant, to: &str, text: &str, wamid: &str, n: u64) -> bool {
        let mut ledger = self.ledger.lock().unwrap();
        let placed = text.split_once(' ').and_then(|(tag, name)| {
            let tag = TAGS.iter().position(|t| *t == tag)?;
            let (contact, cycle) = name.strip_prefix('k')?.split_once('x')?;
            let (contact, cycle): (u32, u32) = (contact.parse().ok()?, cycle.parse().ok()?);
            (phone(contact) == to && ledger.cycles.contains_key(&(contact, cycle))).then_some((contact, cycle, tag))
        });
        let Some((contact, cycle, tag)) = placed else {
            ledger.strangers.push(format!("to {to}: {text:?}"));
            return false;
        };
        let c = ledger.cycles.get_mut(&(contact, cycle)).unwrap();
        c.sends[tag] += 1;
        if c.sends[tag] > 1 {
            return false;
        }
        c.arrived[tag] = Some(arrived);
        c.wamids[tag] = Some(wamid.to_string());
        let reply = tag == B && c.replies;
        if tag == YES || tag == LATE {
            ledger.finish(contact);
        }
        if reply {
            ledger.replies.push_back((arrived + REPLY_AFTER, Due::Reply { contact, cycle }));
        }
        let early = n % 10 == 5;
        let delivered = n % 2 == 0;
        let out = Outbound { contact, cycle, tag, early_sent: early.then_some(false), ..Outbound::default() };
        ledger.outbound.insert(wamid.to_string(), out);
        if !early {
            ledger.sents.push_back((arrived + SENT_AFTER, Due::Status { wamid: wamid.to_string(), delivered: false }));
        }
        if delivered {
            let status = Due::Status { wamid: wamid.to_string(), delivered: true };
            ledger.delivereds.push_back((arrived + DELIVERED_AFTER, status));
        }
        early
    }
}

/// The stand-in Graph API: takes every send, answers with a new wamid.
async fn graph(State(soak): State<Arc<Soak>>, body: axum::body::Bytes) -> axum::Json<serde_json::Value> {
    let arrived = Instant::now();
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let to = body["to"].as_str().unwrap_or_default().to_string();
    let text = body["text"]["body"].as_str().unwrap_or_default();
    let n = soak.counts.sends.fetch_add(1, Ordering::Relaxed);
    let wamid = format!("wamid.soak.out.{n}");
    if soak.sent(arrived, &to, text, &wamid, n) {
        // Meta's `sent` before its answer: the send's result cannot be stored yet.
        soak.counts.owed.fetch_add(1, Ordering::Relaxed);
        let ok = soak.post(status_webhook(APP_SECRET, &to, &wamid, "sent")).await;
        soak.ledger.lock().unwrap().outbound.get_mut(&wamid).unwrap().early_sent = Some(ok);
    }
    axum::Json(serde_json::json!({
        "messaging_product": "whatsapp",
        "contacts": [{ "input": to, "wa_id": to }],
        "messages": [{ "id": wamid }]
    }))
}

/// One 10 s sample.
struct Sample {
    at: Duration,
    rss: u64,
    anon: u64,
    acked: u64,
    sends: u64,
    started: i64,
    ended: i64,
}

#[derive(Clone)]
struct Api {
    http: reqwest::Client,
    base: String,
    key: String,
}

impl Api {
    async fn get(&self, path: &str) -> Result<serde_json::Value, String> {
        let answer = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.key)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = answer.status();
        let text = answer.text().await.map_err(|e| e.to_string())?;
        if !status.is_success() {
            return Err(format!("GET {path}: {status} {text}"));
        }
        serde_json::from_str(&text).map_err(|e| e.to_string())
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: &serde_json::Value) {
        let answer = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .bearer_auth(&self.key)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let status = answer.status();
        assert!(status.is_success(), "{method} {path}: {status} {}", answer.text().await.unwrap());
    }

    async fn stats(&self) -> Result<serde_json::Value, String> {
        self.get(&format!("/v1/automations/{AUTOMATION_ID}/stats")).await
    }
}

fn mib(kib: u64) -> String {
    format!("{:.1}", kib as f64 / 1024.0)
}

fn clock(d: Duration) -> String {
    let s = d.as_secs();
    format!("{:02}:{:02}", s / 60, s % 60)
}

/// Sorted `values`' p50, p99 and max, in ms.
fn spread(label: &str, mut values: Vec<Duration>) {
    values.sort();
    if values.is_empty() {
        println!("  {label}: none");
        return;
    }
    println!(
        "  {label}: p50 {} ms, p99 {} ms, max {} ms ({} measured)",
        ms(percentile(&values, 0.50)),
        ms(percentile(&values, 0.99)),
        ms(*values.last().unwrap()),
        values.len()
    );
}

/// Least squares `y = a + b·x`.
fn fit(points: &[(f64, f64)]) -> (f64, f64) {
    let n = points.len() as f64;
    let (mx, my) = (points.iter().map(|p| p.0).sum::<f64>() / n, points.iter().map(|p| p.1).sum::<f64>() / n);
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let b = if sxx > 0.0 { sxy / sxx } else { 0.0 };
    (my - b * mx, b)
}

/// The least and most of `values` relative to their mean, in percent.
fn band(values: &[f64]) -> (f64, f64, f64) {
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    let min = values.iter().cloned().fold(f64::INFINITY, f64::min);
    let max = values.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    (mean, (min / mean - 1.0) * 100.0, (max / mean - 1.0) * 100.0)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let serve = args.iter().any(|a| a == "--serve");
    let rate = arg(&args, "--rate", 500);
    let minutes = arg(&args, "--minutes", 30);
    let contacts = arg(&args, "--contacts", 20_000) as usize;
    let warmup = Duration::from_secs(arg(&args, "--warmup", 5) * 60);
    let reply_percent = arg(&args, "--reply-percent", 50);
    let table_every = arg(&args, "--table-every", 60).max(10);
    let text_arg = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();

    let soak = Arc::new(Soak {
        http: reqwest::Client::builder().pool_max_idle_per_host(256).build().unwrap(),
        webhooks: std::sync::OnceLock::new(),
        ledger: Mutex::new(Ledger { contacts: vec![(0, false); contacts], ..Ledger::default() }),
        counts: Counts::default(),
        inbound: AtomicU64::new(0),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let graph_base = format!("http://{}", listener.local_addr().unwrap());
    let app = Router::new().route("/{*path}", post(graph)).with_state(soak.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    // The example workspace, its number at Meta's top rate (1,000 sends/s), and the run
    // retention when asked for.
    let mut workspace: serde_json::Value = serde_json::from_str(include_str!("../../examples/workspace.json")).unwrap();
    workspace["whatsapp"]["max_sends_per_second"] = 1000.into();
    if let Some(retention) = text_arg("--runs-retention") {
        workspace["runs_retention"] = retention.into();
    }
    let scratch = std::env::temp_dir().join(format!("avvio-soak-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).unwrap();
    let (avvio, api) = if serve {
        let data = text_arg("--data").map_or_else(|| scratch.join("avvio.db"), std::path::PathBuf::from);
        println!("avvio serve on {}", data.display());
        let (avvio, base) = start_serve(&graph_base, APP_SECRET, SERVE_API_KEY, &data);
        let api = Api { http: reqwest::Client::new(), base, key: SERVE_API_KEY.into() };
        api.send(reqwest::Method::PUT, "/v1/workspace", &workspace).await;
        let automation: serde_json::Value = serde_json::from_str(AUTOMATION).unwrap();
        api.send(reqwest::Method::POST, "/v1/automations", &automation).await;
        (avvio, api)
    } else {
        let (avvio, base) = start_dev_with(&scratch, &graph_base, APP_SECRET, &workspace, AUTOMATION);
        let key = std::env::var("AVVIO_API_KEY").ok().filter(|k| !k.is_empty()).unwrap_or_else(|| "dev-api-key".into());
        (avvio, Api { http: reqwest::Client::new(), base, key })
    };
    soak.webhooks.set(format!("{}/webhooks/whatsapp", api.base)).unwrap();

    let passed = drive(
        &soak,
        &avvio,
        &api,
        Plan {
            rate,
            minutes,
            warmup,
            reply_percent,
            table_every,
            serve,
            retention: text_arg("--runs-retention").is_some(),
        },
    )
    .await;
    drop(avvio);
    let _ = std::fs::remove_dir_all(&scratch);
    if passed { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

struct Plan {
    rate: u64,
    minutes: u64,
    warmup: Duration,
    reply_percent: u64,
    table_every: u64,
    serve: bool,
    /// `--runs-retention` given: stored runs are pruned, so `dev` must stay flat too.
    retention: bool,
}

async fn drive(soak: &Arc<Soak>, avvio: &Avvio, api: &Api, plan: Plan) -> bool {
    let started = Instant::now();
    let triggers_until = started + Duration::from_secs(plan.minutes * 60);
    println!(
        "{} webhooks/s for {} min, {} contacts, {}% replying; warm-up {} min; sample every 10 s",
        plan.rate,
        plan.minutes,
        soak.ledger.lock().unwrap().contacts.len(),
        plan.reply_percent,
        plan.warmup.as_secs() / 60
    );
    println!(
        "{:>6} {:>9} {:>9} {:>10} {:>9} {:>9} {:>9} {:>6}",
        "time", "RSS MiB", "anon MiB", "webhooks", "sends", "runs", "ended", "busy"
    );

    // The sampler.
    let samples = Arc::new(Mutex::new(Vec::<Sample>::new()));
    let sampler = {
        let (soak, samples, pid) = (soak.clone(), samples.clone(), avvio.pid());
        let api = Api { http: reqwest::Client::new(), base: api.base.clone(), key: api.key.clone() };
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(SAMPLE_EVERY);
            loop {
                ticker.tick().await;
                let at = started.elapsed();
                let Some((rss, anon, _)) = resident_kib(pid) else { break };
                let stats = api.stats().await.unwrap_or_default();
                let sample = Sample {
                    at,
                    rss,
                    anon,
                    acked: soak.counts.acked.load(Ordering::Relaxed),
                    sends: soak.counts.sends.load(Ordering::Relaxed),
                    started: stats["runs"]["started"].as_i64().unwrap_or(-1),
                    ended: stats["runs"]["ended"].as_i64().unwrap_or(-1),
                };
                let busy = soak.ledger.lock().unwrap().busy;
                println!(
                    "{:>6} {:>9} {:>9} {:>10} {:>9} {:>9} {:>9} {:>6}",
                    clock(at),
                    mib(rss),
                    mib(anon),
                    sample.acked,
                    sample.sends,
                    sample.started,
                    sample.ended,
                    busy
                );
                samples.lock().unwrap().push(sample);
            }
        })
    };

    // The pacer: `rate` webhooks a second, open loop; then the runs under way finish.
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / plan.rate as f64));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut idle_ticks = 0u64;
    let drain_until = triggers_until + TIMEOUT + Duration::from_secs(120);
    loop {
        ticker.tick().await;
        let owed = &soak.counts.owed;
        if owed.load(Ordering::Relaxed) > 0 {
            owed.fetch_sub(1, Ordering::Relaxed);
            continue;
        }
        let now = Instant::now();
        let triggers = now < triggers_until;
        let job = soak.ledger.lock().unwrap().next(now, triggers, plan.reply_percent);
        match job {
            Some(job) => {
                let soak = soak.clone();
                tokio::spawn(async move { soak.run(job).await });
            }
            None if triggers => idle_ticks += 1,
            None => {
                let ledger = soak.ledger.lock().unwrap();
                let queued = ledger.replies.len() + ledger.sents.len() + ledger.delivereds.len();
                if (ledger.busy == 0 && queued == 0) || now > drain_until {
                    break;
                }
            }
        }
    }
    let drained = started.elapsed();
    // The last statuses: let their events be matched and counted.
    let expected_delivered =
        soak.ledger.lock().unwrap().outbound.values().filter(|o| o.delivered == Some(true)).count();
    let settle = Instant::now() + Duration::from_secs(60);
    let mut stats = api.stats().await.unwrap_or_default();
    while Instant::now() < settle {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let again = api.stats().await.unwrap_or_default();
        let delivered: i64 =
            again["steps"].as_object().map_or(0, |s| s.values().map(|v| v["delivered"].as_i64().unwrap_or(0)).sum());
        let done = delivered as usize >= expected_delivered && again["runs"]["active"] == 0;
        stats = again;
        if done {
            break;
        }
    }
    tokio::time::sleep(SAMPLE_EVERY).await;
    sampler.abort();
    println!("triggers stopped at {}, runs under way finished at {}", clock(triggers_until - started), clock(drained));
    if idle_ticks > 0 {
        println!("{idle_ticks} ticks found no idle contact (raise --contacts)");
    }

    let lost = check(soak, api, &stats).await;
    let samples = std::mem::take(&mut *samples.lock().unwrap());
    let flat = memory(&samples, triggers_until - started, &plan);
    latencies(soak);
    println!("lost or wrong: {lost}");
    println!("{}", if lost == 0 && flat { "PASS" } else { "FAIL" });
    lost == 0 && flat
}

/// Checks every run, every send and the stats counters; the number of problems found.
async fn check(soak: &Soak, api: &Api, stats: &serde_json::Value) -> usize {
    let mut problems: Vec<String> = Vec::new();
    let refused = soak.counts.refused.load(Ordering::Relaxed);
    println!("webhooks acknowledged: {}, refused or failed: {refused}", soak.counts.acked.load(Ordering::Relaxed));
    if refused > 0 {
        problems.push(format!("{refused} webhooks not acknowledged"));
    }

    // 1. The stand-in: each acknowledged run's messages exactly once, nothing else.
    let (mut by_contact, runs, replied, contacts) = {
        let ledger = soak.ledger.lock().unwrap();
        let never_answered = ledger.cycles.values().filter(|c| c.acked.is_none()).count();
        if never_answered > 0 {
            problems.push(format!("{never_answered} triggers never answered"));
        }
        let mut expected = [0u64; 4];
        let mut by_contact: HashMap<u32, Vec<u32>> = HashMap::new();
        let (mut runs, mut replied) = (0i64, 0i64);
        for (&(contact, cycle), c) in &ledger.cycles {
            if c.acked != Some(true) {
                if c.sends.iter().any(|n| *n > 0) {
                    problems.push(format!("contact {contact} cycle {cycle}: a send for a trigger not acknowledged"));
                }
                continue;
            }
            runs += 1;
            replied += i64::from(c.last() == YES);
            by_contact.entry(contact).or_default().push(cycle);
            for tag in [A, B, YES, LATE] {
                let want = u32::from(tag == A || tag == B || tag == c.last());
                expected[tag] += u64::from(want);
                if c.sends[tag] != want {
                    problems.push(format!(
                        "contact {contact} cycle {cycle}: {} \"{}\" sends, expected {want}",
                        c.sends[tag], TAGS[tag]
                    ));
                }
            }
            if c.replies && c.reply_acked != Some(true) {
                problems.push(format!("contact {contact} cycle {cycle}: its reply was never acknowledged"));
            }
        }
        for stranger in ledger.strangers.iter().take(5) {
            problems.push(format!("unexpected send {stranger}"));
        }
        if ledger.strangers.len() > 5 {
            problems.push(format!("… {} unexpected sends in all", ledger.strangers.len()));
        }
        println!(
            "runs started by acknowledged triggers: {runs} ({replied} replied to); sends expected {} (a {}, b {}, yes {}, late {}), received {}",
            expected.iter().sum::<u64>(),
            expected[A],
            expected[B],
            expected[YES],
            expected[LATE],
            soak.counts.sends.load(Ordering::Relaxed),
        );
        (by_contact, runs, replied, ledger.contacts.len() as u32)
    };

    // 2. The runs, contact by contact (16 at a time).
    let listed = Instant::now();
    let mut runs_seen = 0usize;
    let all: Vec<u32> = (0..contacts).collect();
    for chunk in all.chunks(16) {
        let mut lists = tokio::task::JoinSet::new();
        for &contact in chunk {
            let api = api.clone();
            lists.spawn(async move { (contact, api.get_runs(contact).await) });
        }
        let answers = lists.join_all().await;
        let ledger = soak.ledger.lock().unwrap();
        for (contact, answer) in answers {
            let listed = match answer {
                Ok(listed) => listed,
                Err(e) => {
                    problems.push(format!("contact {contact}: {e}"));
                    continue;
                }
            };
            runs_seen += listed.len();
            let mut found: Vec<u32> = Vec::new();
            for run in &listed {
                match check_run(&ledger, contact, run) {
                    Ok(cycle) => found.push(cycle),
                    Err(e) => problems.push(format!("run {} of contact {contact}: {e}", run["id"])),
                }
            }
            found.sort();
            let mut want = by_contact.remove(&contact).unwrap_or_default();
            want.sort();
            if found != want {
                problems.push(format!("contact {contact}: runs for cycles {found:?}, acknowledged triggers {want:?}"));
            }
        }
    }
    println!("runs listed: {runs_seen} ({contacts} contacts in {:.1} s)", listed.elapsed().as_secs_f64());

    // 3. The stats counters.
    let ledger = soak.ledger.lock().unwrap();
    let step = |path: &str| stats["steps"][path].clone();
    let mut want = vec![
        ("runs.started", stats["runs"]["started"].clone(), runs),
        ("runs.ended", stats["runs"]["ended"].clone(), runs),
        ("runs.active", stats["runs"]["active"].clone(), 0),
        ("steps[0].done", step("steps[0]")["done"].clone(), runs),
        ("steps[1].done", step("steps[1]")["done"].clone(), runs),
        ("steps[2].done", step("steps[2]")["done"].clone(), runs),
        ("steps[2] branches[0]", step("steps[2]")["branches"]["branches[0]"].clone(), replied),
        ("steps[2] on_timeout", step("steps[2]")["branches"]["on_timeout"].clone(), runs - replied),
    ];
    let yes_path = "steps[2].action.branches[0].steps[0]";
    let late_path = "steps[2].action.on_timeout[0]";
    want.push(("yes.done", step(yes_path)["done"].clone(), replied));
    want.push(("late.done", step(late_path)["done"].clone(), runs - replied));
    for (what, got, want) in want {
        if got.as_i64().unwrap_or(0) != want {
            problems.push(format!("stats {what}: {got}, expected {want}"));
        }
    }
    let paths = ["steps[0]", "steps[1]", "steps[2]", yes_path, late_path];
    for path in paths {
        let s = step(path);
        for field in ["failed", "skipped"] {
            if s[field].as_object().is_some_and(|m| !m.is_empty()) {
                problems.push(format!("stats {path}.{field}: {}", s[field]));
            }
        }
        if s["pending"].as_i64().unwrap_or(0) != 0 {
            problems.push(format!("stats {path}.pending: {}", s["pending"]));
        }
    }
    let total = |field: &str| -> i64 { paths.iter().map(|p| step(p)[field].as_i64().unwrap_or(0)).sum() };
    let outbound = ledger.outbound.values();
    let delivered = outbound.clone().filter(|o| o.delivered == Some(true)).count() as i64;
    let early_only = outbound.clone().filter(|o| o.early_sent.is_some() && o.delivered.is_none()).count() as i64;
    let all = ledger.outbound.len() as i64;
    let early = outbound.filter(|o| o.early_sent == Some(true)).count();
    if total("delivered") != delivered {
        problems.push(format!("stats delivered: {}, {delivered} delivered statuses acknowledged", total("delivered")));
    }
    // Every message gets a `sent`; one that beat its send's result is parked and applied, so
    // none is lost.
    let sent = total("sent");
    if sent != all {
        problems.push(format!("stats sent: {sent}, expected {all}: one per message, the early ones included"));
    }
    println!(
        "statuses: {early} `sent` posted before the send was answered, {} after; {delivered} `delivered`; stats: sent {sent} (of {all} messages; {} of the {early_only} with only an early `sent` counted), delivered {}",
        ledger.outbound.values().filter(|o| o.late_sent == Some(true)).count(),
        sent - (all - early_only),
        total("delivered"),
    );
    for p in problems.iter().take(20) {
        println!("  LOST/WRONG: {p}");
    }
    if problems.len() > 20 {
        println!("  … {} problems in all", problems.len());
    }
    problems.len()
}

/// Checks one listed run against the ledger; the cycle it belongs to.
fn check_run(ledger: &Ledger, contact: u32, run: &serde_json::Value) -> Result<u32, String> {
    if run["status"]["state"] != "completed" {
        return Err(format!("state {}", run["status"]));
    }
    let steps = run["steps"].as_array().ok_or("no steps")?;
    let record = |path: &str| steps.iter().find(|s| s["step"] == path);
    let first = record("steps[0]").ok_or("no steps[0]")?;
    let wamid = first["wamid"].as_str().ok_or("steps[0] has no wamid")?;
    let out = ledger.outbound.get(wamid).ok_or_else(|| format!("steps[0]'s wamid {wamid} was never answered"))?;
    if out.contact != contact || out.tag != A {
        return Err(format!("steps[0]'s wamid {wamid} belongs to contact {} message {}", out.contact, TAGS[out.tag]));
    }
    let cycle = out.cycle;
    let c = &ledger.cycles[&(contact, cycle)];
    let (branch, last_path) = if c.last() == YES {
        ("branches[0]", "steps[2].action.branches[0].steps[0]")
    } else {
        ("on_timeout", "steps[2].action.on_timeout[0]")
    };
    for (path, tag) in [("steps[0]", Some(A)), ("steps[1]", Some(B)), ("steps[2]", None), (last_path, Some(c.last()))] {
        let s = record(path).ok_or_else(|| format!("cycle {cycle}: no {path}"))?;
        if s["status"] != "done" {
            return Err(format!("cycle {cycle}: {path} is {}", s["status"]));
        }
        match tag {
            Some(tag) if s["wamid"].as_str() != c.wamids[tag].as_deref() => {
                return Err(format!(
                    "cycle {cycle}: {path} wamid {}, the stand-in answered {:?}",
                    s["wamid"], c.wamids[tag]
                ));
            }
            None if s["branch"] != branch => {
                return Err(format!("cycle {cycle}: {path} branch {}, expected {branch}", s["branch"]));
            }
            _ => {}
        }
    }
    if steps.len() != 4 {
        return Err(format!("cycle {cycle}: {} step records", steps.len()));
    }
    Ok(cycle)
}

impl Api {
    async fn get_runs(&self, contact: u32) -> Result<Vec<serde_json::Value>, String> {
        let listed = self.get(&format!("/v1/runs?phone={}", phone(contact))).await?;
        Ok(listed["items"].as_array().cloned().unwrap_or_default())
    }
}

/// Prints the memory table and verdict; whether it stayed within ±10% after the warm-up.
fn memory(samples: &[Sample], traffic: Duration, plan: &Plan) -> bool {
    println!("\nresident memory (VmRSS) every {} s:", plan.table_every);
    println!(
        "| time | RSS MiB | of which heap MiB | webhooks acknowledged | sends received | runs stored | runs ended |"
    );
    println!("|---|---|---|---|---|---|---|");
    let mut next = 0;
    for s in samples {
        if s.at.as_secs() + 5 >= next {
            println!(
                "| {} | {} | {} | {} | {} | {} | {} |",
                clock(s.at),
                mib(s.rss),
                mib(s.anon),
                s.acked,
                s.sends,
                s.started,
                s.ended
            );
            next = (s.at.as_secs() + 5) / plan.table_every * plan.table_every + plan.table_every;
        }
    }
    let steady: Vec<&Sample> = samples.iter().filter(|s| s.at >= plan.warmup && s.at <= traffic).collect();
    if steady.len() < 3 {
        println!("too few samples after the warm-up to judge the memory");
        return false;
    }
    let rss: Vec<f64> = steady.iter().map(|s| s.rss as f64 * 1024.0).collect();
    let (mean, low, high) = band(&rss);
    println!(
        "after the warm-up ({} min) to the end of traffic, {} samples: RSS mean {:.1} MiB, min {low:+.1}%, max {high:+.1}%",
        plan.warmup.as_secs() / 60,
        steady.len(),
        mean / 1048576.0
    );
    let flat = low >= -10.0 && high <= 10.0;
    if plan.serve || plan.retention {
        println!("memory {}", if flat { "flat (within ±10%)" } else { "NOT flat (beyond ±10%)" });
        return flat;
    }
    // `avvio dev` keeps every run: take out the stored runs' share, fitted.
    let points: Vec<(f64, f64)> = steady.iter().zip(&rss).map(|(s, r)| (s.started as f64, *r)).collect();
    let (base, per_run) = fit(&points);
    let half = points.len() / 2;
    let (_, first_half) = fit(&points[..half]);
    let (_, second_half) = fit(&points[half..]);
    let rest: Vec<f64> = points.iter().map(|(runs, r)| r - per_run * runs).collect();
    let (rest_mean, rest_low, rest_high) = band(&rest);
    println!(
        "avvio dev keeps every run in memory: RSS = {:.1} MiB + {:.0} bytes × runs stored (least squares; {:.0} bytes/run in the first half, {:.0} in the second)",
        base / 1048576.0,
        per_run,
        first_half,
        second_half
    );
    println!(
        "RSS less the stored runs' share: mean {:.1} MiB, min {rest_low:+.1}%, max {rest_high:+.1}%",
        rest_mean / 1048576.0
    );
    // Flat once the stored runs are counted: memory per stored run does not grow as the run
    // goes on (a leak would add to it). Step changes (tables doubling) make the rest move by
    // more than 10%, so its band is shown, not judged.
    let linear = second_half <= first_half * 1.1;
    println!(
        "memory {}",
        if linear {
            "linear in the stored runs (bytes per run in the second half at most 10% above the first)"
        } else {
            "NOT linear in the stored runs (bytes per run in the second half more than 10% above the first)"
        }
    );
    linear
}

fn latencies(soak: &Soak) {
    let ledger = soak.ledger.lock().unwrap();
    let (mut first, mut delay, mut reply, mut timeout) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let late = |a: Instant, b: Instant, by: Duration| (b - a).saturating_sub(by);
    for c in ledger.cycles.values() {
        if let (Some(posted), Some(a)) = (c.posted, c.arrived[A]) {
            first.push(a - posted);
        }
        if let (Some(a), Some(b)) = (c.arrived[A], c.arrived[B]) {
            delay.push(late(a, b, DELAY));
        }
        if let (Some(posted), Some(yes)) = (c.reply_posted, c.arrived[YES]) {
            reply.push(yes.saturating_duration_since(posted));
        }
        if let (Some(b), Some(l)) = (c.arrived[B], c.arrived[LATE]) {
            timeout.push(late(b, l, TIMEOUT));
        }
    }
    println!("latencies:");
    spread("trigger webhook → first send", first);
    spread("delayed send, after its 5 s", delay);
    spread("reply webhook → branch send", reply);
    spread("timeout send, after its 1 min (counted from the send before the wait)", timeout);
}
