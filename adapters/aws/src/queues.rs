//! The queues between the Lambdas.
//!
//! - Events (ingest → matcher): an SQS FIFO queue. The message group is one
//!   contact ([`PipelineEvent::group_key`]), so one contact's events are processed
//!   in order; the deduplication id is the wamid (or the request id), so Meta
//!   delivering a webhook twice within SQS's 5-minute window queues it once (the
//!   store's wamid claim catches later redeliveries).
//! - Steps (matcher/executor → executor): an SQS standard queue, because FIFO
//!   queues refuse per-message `DelaySeconds`. A step due within 15 minutes is
//!   sent with that delay (second precision); a later one becomes a one-time
//!   EventBridge Scheduler schedule `at(…)` that sends the same message to the
//!   steps queue and deletes itself (`ActionAfterCompletion: DELETE`); Scheduler
//!   fires within the minute, so delays beyond 15 minutes are minute-precise.
//!   Schedule names derive from (run, step): scheduling the same step twice is a
//!   `ConflictException`, taken as success.

use avvio_common::ports::{EventQueue, PipelineEvent, QueueError, StepMessage, StepQueue};
use avvio_common::time::Time;
use aws_sdk_scheduler::types::{ActionAfterCompletion, FlexibleTimeWindow, FlexibleTimeWindowMode, Target};
use sha2::{Digest, Sha256};

/// The longest delay SQS applies to one message.
pub const MAX_SQS_DELAY_SECS: i64 = 900;

/// SQS's limit on message group and deduplication ids.
const MAX_SQS_ID: usize = 128;

/// An SQS id (group or deduplication): kept when it is short and plain, else hashed.
fn sqs_id(raw: &str) -> String {
    let plain = raw.len() <= MAX_SQS_ID && raw.chars().all(|c| c.is_ascii_graphic());
    if plain { raw.to_string() } else { hex::encode(Sha256::digest(raw.as_bytes())) }
}

fn queue_error(what: &str, error: impl std::error::Error) -> QueueError {
    QueueError(format!("{what}: {}", aws_sdk_sqs::error::DisplayErrorContext(error)))
}

/// The events queue (SQS FIFO).
#[derive(Clone, Debug)]
pub struct SqsEventQueue {
    client: aws_sdk_sqs::Client,
    url: String,
}

impl SqsEventQueue {
    pub fn new(client: aws_sdk_sqs::Client, url: impl Into<String>) -> Self {
        Self { client, url: url.into() }
    }
}

impl EventQueue for SqsEventQueue {
    async fn enqueue(&self, event: PipelineEvent) -> Result<(), QueueError> {
        let body = serde_json::to_string(&event).expect("pipeline events always serialise");
        self.client
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .message_group_id(sqs_id(&event.group_key()))
            .message_deduplication_id(sqs_id(&event.dedupe_key()))
            .send()
            .await
            .map_err(|e| queue_error("send to the events queue", e))?;
        Ok(())
    }
}

/// Where long delays are scheduled.
#[derive(Clone, Debug)]
pub struct Schedules {
    pub client: aws_sdk_scheduler::Client,
    /// The schedule group steps are created in.
    pub group: String,
    /// The role Scheduler assumes to send to the steps queue.
    pub role_arn: String,
}

/// The steps queue (SQS standard) with EventBridge Scheduler for delays over 15 minutes.
#[derive(Clone, Debug)]
pub struct SqsStepQueue {
    sqs: aws_sdk_sqs::Client,
    url: String,
    arn: String,
    schedules: Schedules,
}

impl SqsStepQueue {
    /// `arn` is the steps queue's ARN: the target of the schedules.
    pub fn new(sqs: aws_sdk_sqs::Client, url: impl Into<String>, arn: impl Into<String>, schedules: Schedules) -> Self {
        Self { sqs, url: url.into(), arn: arn.into(), schedules }
    }
}

/// The deterministic schedule name of a step due at its time (≤ 64 characters,
/// `[0-9a-zA-Z-_.]`): the same message scheduled twice is one schedule, and a step tried again
/// later (Meta throttled it, or it waits for its send slot) gets a schedule of its own.
pub fn schedule_name(message: &StepMessage) -> String {
    let key = format!(
        "{}/{}/{}/{}",
        message.workspace,
        message.step.run,
        message.step.step,
        message.step.due.timestamp_millis()
    );
    format!("step-{}", &hex::encode(Sha256::digest(key.as_bytes()))[..40])
}

/// Scheduler's `at()` expression for an instant (UTC, rounded up to the second).
pub fn at_expression(due: Time) -> String {
    let rounded = if due.timestamp_subsec_nanos() > 0 { due + chrono::Duration::seconds(1) } else { due };
    format!("at({})", rounded.format("%Y-%m-%dT%H:%M:%S"))
}

impl StepQueue for SqsStepQueue {
    async fn schedule(&self, message: StepMessage, now: Time) -> Result<(), QueueError> {
        let body = serde_json::to_string(&message).expect("step messages always serialise");
        let delay = (message.step.due - now).num_milliseconds().max(0);
        let delay_secs = (delay + 999) / 1000;
        if delay_secs <= MAX_SQS_DELAY_SECS {
            self.sqs
                .send_message()
                .queue_url(&self.url)
                .message_body(body)
                .delay_seconds(delay_secs as i32)
                .send()
                .await
                .map_err(|e| queue_error("send to the steps queue", e))?;
            return Ok(());
        }
        let build = |what: &str, e: aws_sdk_scheduler::error::BuildError| QueueError(format!("{what}: {e}"));
        let window =
            FlexibleTimeWindow::builder().mode(FlexibleTimeWindowMode::Off).build().map_err(|e| build("window", e))?;
        let target = Target::builder()
            .arn(&self.arn)
            .role_arn(&self.schedules.role_arn)
            .input(body)
            .build()
            .map_err(|e| build("target", e))?;
        let created = self
            .schedules
            .client
            .create_schedule()
            .name(schedule_name(&message))
            .group_name(&self.schedules.group)
            .schedule_expression(at_expression(message.step.due))
            .schedule_expression_timezone("UTC")
            .flexible_time_window(window)
            .target(target)
            .action_after_completion(ActionAfterCompletion::Delete)
            .send()
            .await;
        match created {
            Ok(_) => Ok(()),
            // Scheduled already (a redelivered message scheduling the same step): nothing to do.
            Err(e) if e.as_service_error().is_some_and(|s| s.is_conflict_exception()) => Ok(()),
            Err(e) => Err(QueueError(format!(
                "create the schedule of a step: {}",
                aws_sdk_scheduler::error::DisplayErrorContext(e)
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_or_unusual_sqs_ids_are_hashed_and_plain_ones_kept() {
        assert_eq!(sqs_id("wamid.HBgM+/=="), "wamid.HBgM+/==");
        assert_eq!(sqs_id(&"x".repeat(129)).len(), 64);
        assert_eq!(sqs_id("con spazio").len(), 64);
    }

    #[test]
    fn at_expressions_round_up_to_the_second() {
        let due = chrono::DateTime::parse_from_rfc3339("2026-11-24T10:00:00.250Z").unwrap().to_utc();
        assert_eq!(at_expression(due), "at(2026-11-24T10:00:01)");
        let due = chrono::DateTime::parse_from_rfc3339("2026-11-24T10:00:00Z").unwrap().to_utc();
        assert_eq!(at_expression(due), "at(2026-11-24T10:00:00)");
    }
}
