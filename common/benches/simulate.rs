//! Throughput of `avvio simulate`: 100k inbound WhatsApp webhook events, each
//! matching a phrase automation that sends a text, on one core (the simulator
//! is single-threaded). Run with 10 and with 100k automations: phrase lookup is
//! a hash lookup, so the second run should cost no more than 1.2× the first.
//!
//! `cargo bench -p avvio-common --bench simulate` (figures go in the README).

use avvio_common::simulate::{Inputs, Simulation};
use avvio_common::validate::Document;
use serde_json::json;
use std::io::Write;
use std::time::{Duration, Instant};

/// The allocator the `avvio` binary ships with (cli/src/main.rs).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const EVENTS: usize = 100_000;
const CONTACTS: usize = 1_000;
/// Repetitions per variant (median reported); `AVVIO_BENCH_REPEATS` overrides it, e.g. for profiling.
fn repeats() -> usize {
    std::env::var("AVVIO_BENCH_REPEATS").ok().and_then(|r| r.parse().ok()).unwrap_or(5)
}

fn workspace() -> String {
    json!({ "timezone": "Europe/Rome", "whatsapp": { "phone_number_id": "106540352242922" } }).to_string()
}

fn automations(count: usize) -> Vec<Document> {
    (0..count)
        .map(|i| Document {
            file: "bench".into(),
            index: Some(i),
            value: json!({
                "id": format!("a{i}"), "name": format!("automation {i}"),
                "trigger": { "type": "customer_message", "phrase": format!("Frase numero {i}") },
                "steps": [ { "after": "0s", "action": { "type": "send_text", "text": "Ciao {{name|amico}}, grazie!" } } ]
            }),
        })
        .collect()
}

/// 100k webhook events from 1000 contacts, one second apart, each naming one of the first ten phrases
/// (the same stream for every catalog size, so only the number of automations differs).
fn events() -> String {
    let start = 1_795_424_400i64; // 2026-11-23T09:00:00Z
    let mut out = String::with_capacity(EVENTS * 600);
    for i in 0..EVENTS {
        let at = chrono::DateTime::from_timestamp(start + i as i64, 0).unwrap();
        let phone = format!("3933300{:05}", i % CONTACTS);
        let line = json!({
            "at": avvio_common::time::format_rfc3339(at),
            "whatsapp": { "object": "whatsapp_business_account", "entry": [ { "id": "102290129340398", "changes": [ { "field": "messages", "value": {
                "messaging_product": "whatsapp",
                "metadata": { "display_phone_number": "390212345678", "phone_number_id": "106540352242922" },
                "contacts": [ { "profile": { "name": "Cliente" }, "wa_id": phone } ],
                "messages": [ { "from": phone, "id": format!("wamid.bench.{i}"), "timestamp": (start + i as i64).to_string(),
                                "type": "text", "text": { "body": format!("frase NUMERO {}", (i * 7919) % 10) } } ]
            } } ] } ] }
        });
        out.push_str(&line.to_string());
        out.push('\n');
    }
    out
}

struct Timing {
    load: Duration,
    run: Duration,
    lines: usize,
}

fn once(automations: &[Document], events: &str) -> Timing {
    let workspace = workspace();
    let automations = automations.to_vec();
    let started = Instant::now();
    let mut simulation = Simulation::load(Inputs {
        workspace_file: "workspace.json",
        workspace: &workspace,
        automations,
        events_file: "events.jsonl",
        events,
        until: None,
    })
    .expect("the bench input is valid");
    let loaded = Instant::now();
    let mut sink = std::io::sink();
    let mut lines = 0;
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    runtime
        .block_on(simulation.run(|line| {
            serde_json::to_writer(&mut sink, line).unwrap();
            sink.write_all(b"\n").unwrap();
            lines += 1;
        }))
        .unwrap();
    Timing { load: loaded - started, run: loaded.elapsed(), lines }
}

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

fn bench(label: &str, count: usize, events: &str) -> Duration {
    let automations = automations(count);
    let mut totals = Vec::new();
    let mut loads = Vec::new();
    let mut runs = Vec::new();
    for _ in 0..repeats() {
        let t = once(&automations, events);
        assert_eq!(t.lines, EVENTS, "every event sends one text");
        loads.push(t.load);
        runs.push(t.run);
        totals.push(t.load + t.run);
    }
    let (load, run, total) = (median(loads), median(runs), median(totals));
    println!(
        "{label:>18}: {EVENTS} events in {:>7.1} ms = {:>9.0} events/s (parse+load {:>6.1} ms, engine {:>6.1} ms = {:>9.0} events/s), median of {}",
        total.as_secs_f64() * 1e3,
        EVENTS as f64 / total.as_secs_f64(),
        load.as_secs_f64() * 1e3,
        run.as_secs_f64() * 1e3,
        EVENTS as f64 / run.as_secs_f64(),
        repeats(),
    );
    run
}

fn main() {
    // `cargo test --benches` runs this binary with `--bench` absent: keep that quick.
    if !std::env::args().any(|a| a == "--bench") {
        println!("simulate bench: run with `cargo bench -p avvio-common --bench simulate`");
        return;
    }
    let events = events();
    // `AVVIO_BENCH_ONLY=10` or `=100000` runs one catalog size (for profiling).
    if let Some(count) = std::env::var("AVVIO_BENCH_ONLY").ok().and_then(|c| c.parse().ok()) {
        bench(&format!("{count} automations"), count, &events);
        return;
    }
    let small = bench("10 automations", 10, &events);
    let large = bench("100k automations", 100_000, &events);
    // Loading 100k automations is set-up; the ratio compares the event-processing phase.
    println!("engine-phase ratio, 100k vs 10 automations: {:.3}", large.as_secs_f64() / small.as_secs_f64());
}
