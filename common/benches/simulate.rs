//! Throughput of `avvio simulate`: 100k inbound WhatsApp webhook events, each
//! matching a phrase automation that sends a text, on one core (the simulator
//! is single-threaded). Run with 10 and with 100k automations: phrase lookup is
//! a hash lookup, so the second run should cost no more than 1.2× the first.
//!
//! The flow workload: 100k events where every other one is a reply resolving a
//! `wait_for_reply` (the phrase starts the wait, the contact's next message answers it and
//! the branch sends a text), with each wait's timeout queued and found resolved at the end.
//!
//! `cargo bench -p avvio-common --bench simulate` (figures go in the README);
//! `AVVIO_BENCH_ONLY=flow` runs the flow workload alone.

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

/// The kind of automation a workload runs.
#[derive(Clone, Copy, PartialEq)]
enum Workload {
    /// A phrase sends a text.
    Phrase,
    /// A phrase starts a wait for a reply; the reply's branch sends a text.
    Flow,
}

fn automations(count: usize, workload: Workload) -> Vec<Document> {
    let steps = match workload {
        Workload::Phrase => {
            json!([ { "after": "0s", "action": { "type": "send_text", "text": "Ciao {{name|amico}}, grazie!" } } ])
        }
        Workload::Flow => json!([ { "after": "0s", "action": { "type": "wait_for_reply", "timeout": "1h",
            "branches": [ { "reply": ["si", "certo"], "steps": [ { "after": "0s", "action": { "type": "send_text", "text": "Perfetto {{name|amico}}!" } } ] } ],
            "otherwise": [ { "after": "0s", "action": { "type": "send_text", "text": "Ti richiamiamo noi." } } ] } } ]),
    };
    (0..count)
        .map(|i| Document {
            file: "bench".into(),
            index: Some(i),
            value: json!({
                "id": format!("a{i}"), "name": format!("automation {i}"),
                "trigger": { "type": "customer_message", "phrase": format!("Frase numero {i}") },
                "steps": steps,
            }),
        })
        .collect()
}

/// 100k webhook events from 1000 contacts, one second apart, each naming one of the first ten phrases
/// (the same stream for every catalog size, so only the number of automations differs). In the
/// flow workload every other message of a contact answers the wait its previous one started.
fn events(workload: Workload) -> String {
    let start = 1_795_424_400i64; // 2026-11-23T09:00:00Z
    let mut out = String::with_capacity(EVENTS * 600);
    for i in 0..EVENTS {
        let at = chrono::DateTime::from_timestamp(start + i as i64, 0).unwrap();
        let phone = format!("3933300{:05}", i % CONTACTS);
        let text = match workload {
            // Contact i % CONTACTS writes for the (i / CONTACTS)th time: a phrase, then its answer.
            Workload::Flow if (i / CONTACTS) % 2 == 1 => "Sì".to_string(),
            _ => format!("frase NUMERO {}", (i * 7919) % 10),
        };
        let line = json!({
            "at": avvio_common::time::format_rfc3339(at),
            "whatsapp": { "object": "whatsapp_business_account", "entry": [ { "id": "102290129340398", "changes": [ { "field": "messages", "value": {
                "messaging_product": "whatsapp",
                "metadata": { "display_phone_number": "390212345678", "phone_number_id": "106540352242922" },
                "contacts": [ { "profile": { "name": "Cliente" }, "wa_id": phone } ],
                "messages": [ { "from": phone, "id": format!("wamid.bench.{i}"), "timestamp": (start + i as i64).to_string(),
                                "type": "text", "text": { "body": text } } ]
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

fn bench(label: &str, count: usize, workload: Workload, events: &str) -> Duration {
    let automations = automations(count, workload);
    // A phrase sends one text; in the flow workload a phrase prints its wait, a reply its
    // resolution and its branch's text.
    let expected = match workload {
        Workload::Phrase => EVENTS,
        Workload::Flow => EVENTS / 2 + EVENTS,
    };
    let mut totals = Vec::new();
    let mut loads = Vec::new();
    let mut runs = Vec::new();
    for _ in 0..repeats() {
        let t = once(&automations, events);
        assert_eq!(t.lines, expected, "every event prints its lines");
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
    // `AVVIO_BENCH_ONLY=10` or `=100000` runs one catalog size of the phrase workload, `=flow`
    // the flow workload (for profiling).
    let only = std::env::var("AVVIO_BENCH_ONLY").ok();
    if only.as_deref() == Some("flow") {
        bench("flow, 10 automations", 10, Workload::Flow, &events(Workload::Flow));
        return;
    }
    let phrases = events(Workload::Phrase);
    if let Some(count) = only.and_then(|c| c.parse().ok()) {
        bench(&format!("{count} automations"), count, Workload::Phrase, &phrases);
        return;
    }
    let small = bench("10 automations", 10, Workload::Phrase, &phrases);
    let large = bench("100k automations", 100_000, Workload::Phrase, &phrases);
    // Loading 100k automations is set-up; the ratio compares the event-processing phase.
    println!("engine-phase ratio, 100k vs 10 automations: {:.3}", large.as_secs_f64() / small.as_secs_f64());
    bench("flow, 10 automations", 10, Workload::Flow, &events(Workload::Flow));
}
