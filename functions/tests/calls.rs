//! The AWS calls on the hot path (a customer's phrase → the reply sent), counted
//! by an SDK interceptor on the functions' own clients. The README's figures come
//! from `cargo test -p avvio-functions --test calls -- --nocapture`; the bounds
//! here keep them from growing unnoticed.

mod support;

use avvio_functions::local::Calls;
use support::{System, mario_says, phrase, text};

fn show(stage: &str, calls: &Calls) {
    let list: Vec<String> = calls.by_operation.iter().map(|(op, n)| format!("{op}×{n}")).collect();
    println!("{stage:>9}: {:>2} calls, {:>2} items read  {}", calls.total(), calls.items_read, list.join(" "));
}

/// One inbound message through ingest, the matcher and the executor; the calls of each.
async fn one_message(system: &System, wamid: &str) -> [Calls; 3] {
    system.calls.take();
    system.webhook(&mario_says(wamid, "Vorrei informazioni")).await.expect_status(200);
    let ingest = system.calls.take();
    assert_eq!(system.match_once().await, 1);
    let matcher = system.calls.take();
    assert_eq!(system.execute_once().await, 1);
    let executor = system.calls.take();
    [ingest, matcher, executor]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phrase_reply_takes_a_bounded_number_of_aws_calls() {
    let system = System::start().await;
    system.automation(phrase("info", "Vorrei informazioni", &[("0s", text("Ciao {{name}}!"))])).await;

    for (who, wamid) in [("new", "wamid.calls.1"), ("returning", "wamid.calls.2")] {
        let stages = one_message(&system, wamid).await;
        println!("a {who} contact's phrase → reply:");
        for (name, calls) in ["ingest", "matcher", "executor"].iter().zip(&stages) {
            show(name, calls);
        }
        let total: usize = stages.iter().map(Calls::total).sum();
        println!("    total: {total} calls");
        assert_eq!(stages[0].total(), 1, "ingest only queues the event");
        assert!(total <= 20, "the hot path grew to {total} calls");
    }
    assert_eq!(system.graph.sent().len(), 2);
}

/// How many contacts the clock measurement loads (`AVVIO_BENCH_CONTACTS`, default 10,000),
/// and how many of them are due.
fn contacts() -> usize {
    std::env::var("AVVIO_BENCH_CONTACTS").ok().and_then(|n| n.parse().ok()).unwrap_or(10_000)
}
const DUE: usize = 100;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: loading thousands of contacts into the emulator takes minutes (scripts/bench-aws runs it)"]
async fn the_clock_reads_grow_with_the_contacts_due_not_with_all_contacts() {
    use chrono::Datelike;
    let system = std::sync::Arc::new(System::start().await);
    system
        .automation(serde_json::json!({ "id": "compleanno", "name": "compleanno",
            "trigger": { "type": "date", "field": "birthday", "offset_days": 0, "time": "00:00", "annual": true },
            "steps": [ { "after": "0s", "action": { "type": "add_tag", "tag": "auguri" } } ] }))
        .await;
    let today = system.now().with_timezone(&chrono_tz::Europe::Rome).date_naive();
    let mut tasks = tokio::task::JoinSet::new();
    let contacts = contacts();
    for i in 0..contacts {
        // The first DUE contacts were born today; the others on the days of the year after today.
        let born = if i < DUE { today } else { today + chrono::Days::new(1 + (i % 360) as u64) };
        let born = born.with_year(1980 + (i % 30) as i32).unwrap_or(born);
        let system = system.clone();
        tasks.spawn(async move {
            let contact = serde_json::json!({ "fields": { "birthday": born.format("%Y-%m-%d").to_string() } });
            // moto, threaded, now and then fails a call with a 500 that AWS would not: try again, as a client would.
            for attempt in 0..20 {
                let reply = system.api("PUT", &format!("/v1/contacts/39300{i:07}"), Some(contact.clone())).await;
                if reply.status != 503 {
                    return reply.expect_status(201);
                }
                tokio::time::sleep(std::time::Duration::from_millis(10 << attempt.min(6))).await;
            }
            panic!("the emulator kept failing");
        });
        if tasks.len() >= 8 {
            tasks.join_next().await.unwrap().unwrap();
        }
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }

    system.calls.take();
    system.tick().await;
    let tick = system.calls.take();
    show("clock", &tick);
    println!("{contacts} contacts, {DUE} due: {} DynamoDB items read", tick.items_read);
    system.settle().await;
    let runs = system.api("GET", "/v1/runs?automation=compleanno", None).await;
    assert_eq!(runs.body["runs"].as_array().map(Vec::len), Some(DUE), "every contact due got its run");
    // Per contact due: its index item, its document, and the re-read before the write (a known limit).
    assert!(tick.items_read <= 3 * DUE + 10, "the clock read {} items for {DUE} due", tick.items_read);
}
