//! The steps queue (SQS standard) → one step per message, idempotent.

// The runtime's futures nest deeply; rustc's default limit (128) is just short of them.
#![recursion_limit = "256"]

use avvio_functions::{batch, config::ProcessEnv, init_logging, or_exit, run_sqs, wiring};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    init_logging();
    let clients = wiring::Clients::new(&wiring::aws_config().await);
    let deps = &or_exit(wiring::sending(&ProcessEnv, &clients).await);
    let dead_letters = &or_exit(wiring::dead_letters(&ProcessEnv, &clients));
    run_sqs(dead_letters, |event, deadline| batch::execute_steps(deps, event, deadline, chrono::Utc::now)).await
}
