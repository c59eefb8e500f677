//! A recurring EventBridge Scheduler schedule → the date triggers that came due, and once a
//! day the workspaces' templates synced from Meta.

// The runtime's futures nest deeply; rustc's default limit (128) is just short of them.
#![recursion_limit = "256"]

use avvio_functions::{clock_tick, config::ProcessEnv, init_logging, or_exit, templates_tick, wiring};
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_logging();
    let clients = wiring::Clients::new(&wiring::aws_config().await);
    let deps = &or_exit(wiring::queueing(&ProcessEnv, &clients).await);
    let templates = &or_exit(wiring::clock_templates(&ProcessEnv));
    lambda_runtime::run(service_fn(|_: LambdaEvent<serde_json::Value>| async move {
        let now = chrono::Utc::now();
        let dates = clock_tick(deps, now).await;
        templates_tick(&deps.store, templates, now).await;
        dates.map_err(Error::from)
    }))
    .await
}
