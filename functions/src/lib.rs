//! Avvio's Lambda functions. Each binary in `src/bin/` only reads its
//! [`config`], builds the adapters ([`wiring`]) and hands a handler from here to
//! the runtime; the handlers are plain async functions that tests call with a real
//! `SqsEvent` (`LambdaEvent::new(event, Context::default())` needs no runtime).
//!
//! - `ingest`: API Gateway (HTTP API) → the one router of `avvio-api` through `lambda_http`.
//!   It also serves the `/v1` management API: one router, one function, one cold start to
//!   pay; the routes share the store and the events queue, and a separate function would
//!   only duplicate that wiring.
//! - `matcher`: the events queue (SQS FIFO) → runs started, first steps queued.
//! - `executor`: the steps queue (SQS standard) → one step each, idempotent.
//! - `clock`: a recurring EventBridge Scheduler schedule → due date triggers.

pub mod batch;
pub mod config;
pub mod dead_letters;
pub mod local;
pub mod wiring;

use avvio_common::metrics::Metrics;
use avvio_common::ports::{StepQueue, Store, WebhookPoster, WhatsAppSender};
use avvio_common::stages::{Deps, StageError};
use avvio_common::time::Time;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use dead_letters::DeadLetterQueue;

/// The clock: fires the date triggers due at `now`. A failure fails the invocation, which
/// Scheduler made asynchronously: Lambda tries it again (the template allows one retry),
/// and the next tick finds whatever is still due (each pass is idempotent).
pub async fn clock_tick<S, Q, W, H>(deps: &Deps<S, Q, W, H>, now: Time) -> Result<(), StageError>
where
    S: Store,
    Q: StepQueue,
    W: WhatsAppSender,
    H: WebhookPoster,
{
    deps.run_clock_once(now).await.map(|_| ())
}

/// What an invocation of the clock asks for, read from its payload: the tick of its
/// schedule (the schedule sends `{"source":"avvio.clock"}`; any payload without the key below
/// is a tick), or, invoked by hand, `{"index_old_runs": ["negozio", …]}`: the index keys given
/// to those workspaces' runs stored before the run indexes existed (docs/deploy.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClockRequest {
    Tick,
    IndexOldRuns(Vec<avvio_common::domain::WorkspaceId>),
}

/// A clock payload that asks for something malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("index_old_runs must be an array of workspace ids, as [\"negozio\"]: {0}")]
pub struct BadClockRequest(String);

impl ClockRequest {
    pub fn of(payload: &serde_json::Value) -> Result<Self, BadClockRequest> {
        match payload.get("index_old_runs") {
            None => Ok(Self::Tick),
            Some(workspaces) => serde_json::from_value(workspaces.clone())
                .map(Self::IndexOldRuns)
                .map_err(|e| BadClockRequest(e.to_string())),
        }
    }
}

/// Gives the runs of `workspaces` stored before the run indexes their index keys
/// ([`avvio_aws::dynamo::DynamoStore::index_old_runs`]); the answer says how many runs of each
/// workspace it changed: `{"indexed": {"negozio": 12}}`. Idempotent: a second call changes 0.
pub async fn index_old_runs(
    store: &avvio_aws::dynamo::DynamoStore,
    workspaces: &[avvio_common::domain::WorkspaceId],
) -> Result<serde_json::Value, avvio_common::ports::StoreError> {
    let mut indexed = serde_json::Map::new();
    for ws in workspaces {
        let changed = store.index_old_runs(ws).await?;
        tracing::info!(workspace = %ws, changed, "old runs indexed");
        indexed.insert(ws.to_string(), changed.into());
    }
    Ok(serde_json::json!({ "indexed": indexed }))
}

/// The clock's daily template sync ([`avvio_common::stages::clock::sync_templates_daily`]):
/// every outcome is logged, and nothing fails the invocation (a workspace whose sync failed
/// is tried again the next day; a pass that could not claim the day, at the next tick).
pub async fn templates_tick<S, T>(store: &S, templates: &T, now: Time)
where
    S: avvio_common::ports::Management,
    T: avvio_common::ports::TemplateSource,
{
    match avvio_common::stages::clock::sync_templates_daily(store, templates, None, now).await {
        Ok(outcomes) => {
            for outcome in outcomes {
                match outcome.result {
                    Ok(sync) => tracing::info!(
                        workspace = %outcome.workspace, added = sync.counts.added, changed = sync.counts.changed,
                        removed = sync.counts.removed, notes = ?sync.notes, "templates synced from Meta"
                    ),
                    Err(e) => {
                        tracing::warn!(workspace = %outcome.workspace, "template sync failed (tried again tomorrow): {e}")
                    }
                }
            }
        }
        Err(e) => tracing::warn!("the daily template sync could not start (tried again at the next tick): {e}"),
    }
}

/// Serves an SQS event source: each invocation's batch goes to `handle` with the
/// invocation's deadline; the messages it can never handle go to `dead_letters`, its answer
/// (the partial batch failures) goes back to Lambda, and what it counted is printed for
/// CloudWatch ([`print_metrics`]) under the function's name.
pub async fn run_sqs<F, Fut>(dead_letters: &DeadLetterQueue, handle: F) -> Result<(), lambda_runtime::Error>
where
    F: Fn(SqsEvent, batch::Deadline) -> Fut,
    Fut: std::future::Future<Output = batch::Handled>,
{
    lambda_runtime::run(lambda_runtime::service_fn(|event: lambda_runtime::LambdaEvent<SqsEvent>| {
        let function = std::sync::Arc::clone(&event.context.env_config);
        let handled = handle(event.payload, batch::Deadline::from_epoch_millis(event.context.deadline));
        async move {
            let mut handled = handled.await;
            dead_letters.settle(&mut handled).await;
            print_metrics(&mut std::io::stdout().lock(), &handled.metrics, &function.function_name, chrono::Utc::now());
            Ok::<SqsBatchResponse, lambda_runtime::Error>(handled.response)
        }
    }))
    .await
}

/// Writes `metrics` as CloudWatch embedded-metric-format lines (Lambda's stdout goes to the
/// function's log group, where CloudWatch turns such lines into metrics). Best effort: metrics
/// that cannot be written are lost, the invocation's work is not.
pub fn print_metrics(out: &mut impl std::io::Write, metrics: &Metrics, function: &str, at: Time) {
    for line in metrics.to_emf(function, at) {
        let _ = writeln!(out, "{line}");
    }
}

/// Sets up logging as Lambda expects it: JSON lines when the function's log format is JSON
/// (`AWS_LAMBDA_LOG_FORMAT`, as template.yaml sets it), at `AWS_LAMBDA_LOG_LEVEL`. A line logged
/// while a message is handled carries the message's span ([`batch`]): `span.run_id`,
/// `span.wamid`, `span.workspace`…
pub fn init_logging() {
    lambda_runtime::tracing::init_default_subscriber();
}

/// The configured value, or the reason the function cannot start, logged on one line
/// (Lambda shows it as the init failure) before exiting.
pub fn or_exit<T>(configured: Result<T, config::ConfigError>) -> T {
    configured.unwrap_or_else(|e| {
        tracing::error!("cannot start: {e}");
        std::process::exit(1)
    })
}
