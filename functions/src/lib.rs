//! Avvio's Lambda functions. Each binary in `src/bin/` only reads its
//! [`config`], builds the adapters and hands a handler from here to the
//! runtime; the handlers are plain async functions that tests call with a real
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
