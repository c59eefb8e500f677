//! The events queue (SQS FIFO) → runs started, first steps queued.

// The runtime's futures nest deeply; rustc's default limit (128) is just short of them.
#![recursion_limit = "256"]

use avvio_functions::batch::{self, Deadline};
use avvio_functions::{config::ProcessEnv, init_logging, or_exit, wiring};
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_logging();
    let clients = wiring::Clients::new(&wiring::aws_config().await);
    let deps = &or_exit(wiring::pipeline(&ProcessEnv, &clients).await);
    lambda_runtime::run(service_fn(|event: LambdaEvent<SqsEvent>| async move {
        Ok::<SqsBatchResponse, Error>(
            batch::match_events(
                deps,
                event.payload,
                Deadline::from_epoch_millis(event.context.deadline),
                chrono::Utc::now,
            )
            .await,
        )
    }))
    .await
}
