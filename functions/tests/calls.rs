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
