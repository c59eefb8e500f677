//! API Gateway (HTTP API) → the Avvio router: Meta's webhooks, integration hooks, `/v1`, the web console.

// The runtime's futures nest deeply; rustc's default limit (128) is just short of them.
#![recursion_limit = "256"]

use avvio_functions::{config::ProcessEnv, init_logging, or_exit, wiring};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    init_logging();
    let clients = wiring::Clients::new(&wiring::aws_config().await);
    let app = or_exit(wiring::ingest(&ProcessEnv, &clients).await);
    lambda_http::run(avvio_console::router(app)).await
}
