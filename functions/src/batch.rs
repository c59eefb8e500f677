//! SQS batches with partial failures (`ReportBatchItemFailures`): the handlers
//! of the matcher and the executor, over any adapters.
//!
//! A message whose processing failed in a way a retry may fix (throttling, 5xx,
//! a lost race) is reported, so SQS makes it visible again after the visibility
//! timeout and, after the queue's `maxReceiveCount`, moves it to the dead-letter
//! queue. A body that cannot be read is reported too: it ends in the DLQ, kept for
//! inspection, while the rest of its batch succeeds. A fatal failure (an
//! automation deleted meanwhile, an invalid call) is logged and not retried:
//! retrying gives the same answer.

use avvio_common::ports::{
    EventQueue, PipelineEvent, Retry, StepMessage, StepQueue, Store, WebhookPoster, WhatsAppSender,
};
use avvio_common::stages::{Deps, Report, StageError};
use avvio_common::time::Time;
use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use std::collections::HashSet;
use std::time::{Duration, SystemTime};

/// The longest one message may take (the Graph API's 10 s timeout and the store's calls
/// around it). A message is not started with less time than this left before the
/// invocation's deadline: it is reported instead, so SQS delivers it again rather than
/// the whole batch timing out and a send in flight ending unconfirmed.
pub const MESSAGE_BUDGET: Duration = Duration::from_secs(12);

/// When the invocation ends (Lambda's `Context::deadline`), if known.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Deadline(Option<SystemTime>);

impl Deadline {
    /// No deadline (tests, local runs).
    pub const NONE: Self = Self(None);

    /// From Lambda's `Context::deadline`, milliseconds since the Unix epoch.
    pub fn from_epoch_millis(millis: u64) -> Self {
        Self(Some(SystemTime::UNIX_EPOCH + Duration::from_millis(millis)))
    }

    fn too_close(self) -> bool {
        self.0.is_some_and(|end| SystemTime::now() + MESSAGE_BUDGET > end)
    }
}

/// What became of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Done,
    /// Report it: SQS redelivers it later (and dead-letters it after the queue's max receives).
    Retry(String),
    /// Acknowledge it although it failed: a retry would fail the same way.
    Drop(String),
}

impl Outcome {
    fn of(result: Result<Report, StageError>) -> Self {
        match result {
            Ok(report) => {
                if let Some(why) = report.ignored {
                    tracing::info!(why, "event ignored");
                }
                Self::Done
            }
            Err(e) if e.retry() == Retry::Retryable => Self::Retry(e.to_string()),
            Err(e) => Self::Drop(e.to_string()),
        }
    }
}

/// Processes a batch one message at a time and reports the ones to redeliver. On a FIFO
/// queue (records with a `MessageGroupId`), once a message of a group is reported, the
/// later messages of that group are reported unprocessed, so the group keeps its order.
/// Messages left when the `deadline` is near are reported unprocessed.
pub async fn process<F, Fut>(event: SqsEvent, deadline: Deadline, mut handle: F) -> SqsBatchResponse
where
    F: FnMut(String) -> Fut,
    Fut: std::future::Future<Output = Outcome>,
{
    let mut failures = Vec::new();
    let mut failed_groups = HashSet::new();
    for record in event.records {
        let id = record.message_id.clone().unwrap_or_default();
        let group = record.attributes.get("MessageGroupId").cloned();
        let outcome = match &group {
            Some(group) if failed_groups.contains(group) => {
                Outcome::Retry("an earlier message of its group failed".into())
            }
            _ if deadline.too_close() => Outcome::Retry("not started: the invocation's deadline is near".into()),
            _ => handle(record.body.unwrap_or_default()).await,
        };
        match outcome {
            Outcome::Done => {}
            Outcome::Drop(why) => tracing::error!(message_id = %id, %why, "message failed for good; not retried"),
            Outcome::Retry(why) => {
                tracing::warn!(message_id = %id, %why, "message failed; SQS will redeliver it");
                failed_groups.extend(group);
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = id;
                failures.push(failure);
            }
        }
    }
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failures;
    response
}

/// Processes a batch of a standard queue (no message groups, no order to keep) with every
/// message at once, and reports the ones to redeliver: the executor's steps of one batch wait on
/// their Graph calls together, and their sends share the instance's lease of send slots. When
/// the `deadline` is near, none is started: all are reported.
pub async fn process_at_once<F, Fut>(event: SqsEvent, deadline: Deadline, mut handle: F) -> SqsBatchResponse
where
    F: FnMut(String) -> Fut,
    Fut: std::future::Future<Output = Outcome>,
{
    let too_close = deadline.too_close();
    let mut ids = Vec::with_capacity(event.records.len());
    let mut handled = Vec::with_capacity(event.records.len());
    for record in event.records {
        ids.push(record.message_id.clone().unwrap_or_default());
        if !too_close {
            handled.push(handle(record.body.unwrap_or_default()));
        }
    }
    let outcomes = if too_close {
        ids.iter().map(|_| Outcome::Retry("not started: the invocation's deadline is near".into())).collect()
    } else {
        futures_util::future::join_all(handled).await
    };
    let mut response = SqsBatchResponse::default();
    for (id, outcome) in ids.into_iter().zip(outcomes) {
        match outcome {
            Outcome::Done => {}
            Outcome::Drop(why) => tracing::error!(message_id = %id, %why, "message failed for good; not retried"),
            Outcome::Retry(why) => {
                tracing::warn!(message_id = %id, %why, "message failed; SQS will redeliver it");
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = id;
                response.batch_item_failures.push(failure);
            }
        }
    }
    response
}

/// [`process`] for messages whose bodies are JSON documents of type `T`; an unreadable body is
/// reported (so it ends in the dead-letter queue), the stage's result decides the rest.
async fn process_json<T, F, Fut>(
    event: SqsEvent,
    deadline: Deadline,
    what: &str,
    order: Order,
    mut handle: F,
) -> SqsBatchResponse
where
    T: serde::de::DeserializeOwned,
    F: FnMut(T) -> Fut,
    Fut: std::future::Future<Output = Result<Report, StageError>>,
{
    let read = |body: String| {
        let parsed = serde_json::from_str::<T>(&body).map_err(|e| format!("not {what}: {e}"));
        let handled = parsed.map(&mut handle);
        async move {
            match handled {
                Ok(handled) => Outcome::of(handled.await),
                Err(why) => Outcome::Retry(why),
            }
        }
    };
    match order {
        Order::InTurn => process(event, deadline, read).await,
        Order::AtOnce => process_at_once(event, deadline, read).await,
    }
}

/// How a batch's messages are handled: one after another ([`process`]: the FIFO events queue),
/// or all at once ([`process_at_once`]: the standard steps queue).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Order {
    InTurn,
    AtOnce,
}

/// The matcher: each message is a [`PipelineEvent`]. An event's follow-up (the next page of a
/// list run) is queued on `events` before the event is acknowledged: if queueing fails, the
/// event comes back and its page, which starts nothing twice, is done again.
pub async fn match_events<S, Q, W, H, E>(
    deps: &Deps<S, Q, W, H>,
    events: &E,
    event: SqsEvent,
    deadline: Deadline,
    now: impl Fn() -> Time,
) -> SqsBatchResponse
where
    S: Store,
    Q: StepQueue,
    W: WhatsAppSender,
    H: WebhookPoster,
    E: EventQueue,
{
    process_json(event, deadline, "a pipeline event", Order::InTurn, |e: PipelineEvent| {
        let now = now();
        async move {
            let report = deps.handle_event(&e, now).await?;
            if let Some(next) = &report.follow_up {
                events.enqueue(next.clone()).await?;
            }
            Ok(report)
        }
    })
    .await
}

/// The executor: each message is a [`StepMessage`], all of a batch at once (their sends wait
/// on the Graph API together and share the instance's lease of send slots).
pub async fn execute_steps<S, Q, W, H>(
    deps: &Deps<S, Q, W, H>,
    event: SqsEvent,
    deadline: Deadline,
    now: impl Fn() -> Time,
) -> SqsBatchResponse
where
    S: Store,
    Q: StepQueue,
    W: WhatsAppSender,
    H: WebhookPoster,
{
    process_json(event, deadline, "a step message", Order::AtOnce, |step: StepMessage| {
        let now = now();
        async move { deps.handle_step(&step, now).await }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lambda_events::event::sqs::SqsMessage;

    fn record(id: &str, group: Option<&str>, body: &str) -> SqsMessage {
        let mut message = SqsMessage::default();
        message.message_id = Some(id.into());
        message.body = Some(body.into());
        if let Some(group) = group {
            message.attributes.insert("MessageGroupId".into(), group.into());
        }
        message
    }

    fn batch(records: Vec<SqsMessage>) -> SqsEvent {
        let mut event = SqsEvent::default();
        event.records = records;
        event
    }

    fn reported(response: &SqsBatchResponse) -> Vec<&str> {
        response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect()
    }

    #[tokio::test]
    async fn a_standard_queue_s_batch_is_handled_at_once_and_its_failures_reported() {
        // Three handlers that each wait for the other two: done one after another, they never end.
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(3));
        let event = batch(vec![record("s1", None, "ok"), record("s2", None, "retry"), record("s3", None, "ok")]);
        let handled = process_at_once(event, Deadline::NONE, |body| {
            let barrier = barrier.clone();
            async move {
                barrier.wait().await;
                if body == "retry" { Outcome::Retry("5xx".into()) } else { Outcome::Done }
            }
        });
        let response = tokio::time::timeout(std::time::Duration::from_secs(5), handled).await.expect("all at once");
        assert_eq!(reported(&response), ["s2"]);
    }

    #[tokio::test]
    async fn only_the_messages_that_may_succeed_later_are_reported() {
        let event = batch(vec![record("1", None, "ok"), record("2", None, "retry"), record("3", None, "fatal")]);
        let response = process(event, Deadline::NONE, |body| async move {
            match body.as_str() {
                "ok" => Outcome::Done,
                "retry" => Outcome::Retry("throttled".into()),
                _ => Outcome::Drop("gone".into()),
            }
        })
        .await;
        assert_eq!(reported(&response), ["2"]);
    }

    #[tokio::test]
    async fn after_a_failure_the_rest_of_its_fifo_group_waits_but_other_groups_go_on() {
        let event = batch(vec![
            record("a1", Some("a"), "retry"),
            record("b1", Some("b"), "ok"),
            record("a2", Some("a"), "ok"),
            record("b2", Some("b"), "ok"),
        ]);
        let mut handled = Vec::new();
        let response = process(event, Deadline::NONE, |body| {
            handled.push(body.clone());
            async move { if body == "retry" { Outcome::Retry("5xx".into()) } else { Outcome::Done } }
        })
        .await;
        assert_eq!(reported(&response), ["a1", "a2"]);
        assert_eq!(handled, ["retry", "ok", "ok"], "a2 is not processed ahead of a1");
    }

    #[tokio::test]
    async fn the_matcher_reports_an_unreadable_body_and_acknowledges_a_handled_event() {
        use avvio_common::memory::{MemoryEventQueue, MemoryPoster, MemorySender, MemoryStepQueue, MemoryStore};
        let (events, _inbox) = MemoryEventQueue::new();
        let deps = Deps {
            store: MemoryStore::new(),
            steps: MemoryStepQueue::new(),
            sender: MemorySender::counting(),
            poster: MemoryPoster::default(),
            default_access_token: None,
        };
        let removal = serde_json::json!({ "kind": "list_remove", "workspace": "negozio", "list": "vip",
                                          "contact": "393331234567", "request_id": "req-1" });
        let event = batch(vec![record("1", None, "{ not json"), record("2", None, &removal.to_string())]);
        let response = match_events(&deps, &events, event, Deadline::NONE, chrono::Utc::now).await;
        assert_eq!(reported(&response), ["1"]);
    }

    #[tokio::test]
    async fn messages_are_not_started_when_the_invocations_deadline_is_near() {
        let soon = SystemTime::now() + MESSAGE_BUDGET + Duration::from_millis(300);
        let deadline =
            Deadline::from_epoch_millis(soon.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_millis() as u64);
        let event = batch(vec![record("1", None, "slow"), record("2", None, "ok"), record("3", None, "ok")]);
        let mut started = Vec::new();
        let response = process(event, deadline, |body| {
            started.push(body.clone());
            async move {
                if body == "slow" {
                    tokio::time::sleep(Duration::from_millis(400)).await;
                }
                Outcome::Done
            }
        })
        .await;
        assert_eq!(started, ["slow"], "the first fits in the time left, the others do not");
        assert_eq!(reported(&response), ["2", "3"]);
    }
}
