//! The events queue (SQS FIFO) → runs started, first steps queued.

// The runtime's futures nest deeply; rustc's default limit (128) is just short of them.
#![recursion_limit = "256"]

use avvio_functions::{batch, config::ProcessEnv, init_logging, or_exit, run_sqs, wiring};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    init_logging();
    let clients = wiring::Clients::new(&wiring::aws_config().await);
    let deps = &or_exit(wiring::sending(&ProcessEnv, &clients).await);
    // The next page of a list run goes back onto the events queue.
    let events = &or_exit(wiring::events(&ProcessEnv, &clients));
    let dead_letters = &or_exit(wiring::dead_letters(&ProcessEnv, &clients));
    run_sqs(dead_letters, |event, deadline| batch::match_events(deps, events, event, deadline, chrono::Utc::now)).await
}
