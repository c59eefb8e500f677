//! A recurring EventBridge Scheduler schedule → the date triggers that came due, and once a
//! day the workspaces' templates synced from Meta; invoked by hand with
//! `{"index_old_runs": [...]}`, the index keys given to runs stored before the run indexes.

// The runtime's futures nest deeply; rustc's default limit (128) is just short of them.
#![recursion_limit = "256"]

use avvio_functions::{
    ClockRequest, clock_tick, config::ProcessEnv, index_old_runs, init_logging, or_exit, templates_tick, wiring,
};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_logging();
    let clients = wiring::Clients::new(&wiring::aws_config().await);
    let deps = &or_exit(wiring::queueing(&ProcessEnv, &clients).await);
    let templates = &or_exit(wiring::clock_templates(&ProcessEnv));
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move {
        match ClockRequest::of(&event.payload)? {
            ClockRequest::Tick => {
                let now = chrono::Utc::now();
                let dates = clock_tick(deps, now).await;
                templates_tick(&deps.store, templates, now).await;
                dates.map(|()| Value::Null).map_err(Error::from)
            }
            ClockRequest::IndexOldRuns(workspaces) => {
                index_old_runs(&deps.store, &workspaces).await.map_err(Error::from)
            }
        }
    }))
    .await
}
