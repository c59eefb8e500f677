//! SQS batches with partial failures (`ReportBatchItemFailures`): the handlers
//! of the matcher and the executor, over any adapters.
//!
//! A message whose processing failed in a way a retry may fix (throttling, 5xx,
//! a lost race) is reported, so SQS makes it visible again after the visibility
//! timeout and, after the queue's `maxReceiveCount`, moves it to the dead-letter
//! queue. A message that can never be handled goes to the dead-letter queue at once
//! ([`DeadLetter`]: the caller sends it there, or reports it when it cannot): a body
//! that cannot be read, or a stored item it needs that cannot be read
//! (`StoreError::Corrupt`). It is kept for inspection, the DLQ's alarm goes off, and
//! the rest of its batch succeeds. Another fatal failure (an automation deleted
//! meanwhile, an invalid call) is logged and not retried: retrying gives the same answer.

use avvio_common::metrics::Metrics;
use avvio_common::ports::{
    EventQueue, PipelineEvent, Retry, StepMessage, StepQueue, Store, StoreError, WebhookPoster, WhatsAppSender,
};
use avvio_common::stages::{Deps, Report, StageError};
use avvio_common::time::Time;
use avvio_common::webhook::InboundEvent;
use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use std::collections::HashSet;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};
use tracing::Instrument;
use tracing::field::Empty;

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

/// One message of a batch, as SQS delivered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    pub body: String,
    /// When it was queued (SQS's `SentTimestamp`), when the record says.
    pub sent_at: Option<Time>,
}

impl Delivered {
    fn of(record: SqsMessage) -> Self {
        let sent_at = record
            .attributes
            .get("SentTimestamp")
            .and_then(|millis| millis.parse().ok())
            .and_then(chrono::DateTime::from_timestamp_millis);
        Self { body: record.body.unwrap_or_default(), sent_at }
    }
}

/// What a batch handler did: the answer for Lambda (the messages to redeliver) and what the
/// batch counted, for CloudWatch ([`Metrics::to_emf`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Handled {
    pub response: SqsBatchResponse,
    pub metrics: Metrics,
    /// The messages to move to the dead-letter queue now (and not to report).
    pub dead_letters: Vec<DeadLetter>,
}

/// A message that can never be handled, to move to its queue's dead-letter queue at once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeadLetter {
    pub message_id: String,
    pub body: String,
    /// Its FIFO message group, if any (a FIFO queue's DLQ is FIFO too).
    pub group: Option<String>,
    /// Why it can never be handled.
    pub why: String,
}

impl Handled {
    /// Reports the dead letters that could not be moved, so SQS delivers them again (and
    /// dead-letters them after the queue's max receives): nothing is lost.
    pub fn report(&mut self, unmoved: impl IntoIterator<Item = String>) {
        for id in unmoved {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            self.response.batch_item_failures.push(failure);
        }
    }
}

/// A batch processed: the messages to redeliver, and those to dead-letter.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Settled {
    pub response: SqsBatchResponse,
    pub dead_letters: Vec<DeadLetter>,
}

impl From<Handled> for SqsBatchResponse {
    fn from(handled: Handled) -> Self {
        handled.response
    }
}

impl From<Settled> for SqsBatchResponse {
    fn from(settled: Settled) -> Self {
        settled.response
    }
}

impl From<Settled> for Handled {
    fn from(Settled { response, dead_letters }: Settled) -> Self {
        Self { response, dead_letters, ..Self::default() }
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
    /// Move it to the dead-letter queue now: it can never be handled, and someone should look.
    DeadLetter(String),
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
            Err(e @ StageError::Store(StoreError::Corrupt(_))) => Self::DeadLetter(e.to_string()),
            Err(e) if e.retry() == Retry::Retryable => Self::Retry(e.to_string()),
            Err(e) => Self::Drop(e.to_string()),
        }
    }

    /// Logs the outcome of message `message` (in its span) and adds it to `settled` when it is
    /// to be redelivered or dead-lettered.
    fn settle(self, message: Received, span: &tracing::Span, settled: &mut Settled) -> bool {
        let _in = span.enter();
        match self {
            Self::Done => false,
            Self::Drop(why) => {
                tracing::error!(%why, "message failed for good; not retried");
                false
            }
            Self::DeadLetter(why) => {
                tracing::error!(%why, "message can never be handled; moved to the dead-letter queue");
                let Received { id, body, group } = message;
                settled.dead_letters.push(DeadLetter { message_id: id, body, group, why });
                false
            }
            Self::Retry(why) => {
                tracing::warn!(%why, "message failed; SQS will redeliver it");
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = message.id;
                settled.response.batch_item_failures.push(failure);
                true
            }
        }
    }
}

/// What a message was, kept to report or dead-letter it once handled.
struct Received {
    id: String,
    body: String,
    group: Option<String>,
}

impl Received {
    fn of(record: &SqsMessage) -> Self {
        Self {
            id: record.message_id.clone().unwrap_or_default(),
            body: record.body.clone().unwrap_or_default(),
            group: record.attributes.get("MessageGroupId").cloned(),
        }
    }
}

/// The span of one message: every line logged while it is handled carries its SQS message id
/// and, once its body is read ([`Traced`]), the workspace, run, step, wamid or request it names.
fn message_span(id: &str) -> tracing::Span {
    tracing::info_span!(
        "message",
        message_id = %id,
        workspace = Empty,
        run_id = Empty,
        step = Empty,
        wamid = Empty,
        request_id = Empty
    )
}

/// What a message names, recorded on its span ([`message_span`]).
trait Traced {
    fn trace(&self, span: &tracing::Span);
}

impl Traced for StepMessage {
    fn trace(&self, span: &tracing::Span) {
        span.record("workspace", self.workspace.as_str());
        span.record("run_id", self.step.run.as_str());
        span.record("step", tracing::field::display(&self.step.step));
    }
}

impl Traced for PipelineEvent {
    fn trace(&self, span: &tracing::Span) {
        match self {
            Self::Whatsapp { event: InboundEvent::Message(message) } => {
                span.record("wamid", message.wamid.as_str());
            }
            Self::Whatsapp { event: InboundEvent::Status(status) } => {
                span.record("wamid", status.wamid.as_str());
            }
            Self::Whatsapp { .. } => {}
            Self::Integration { workspace, request_id, .. }
            | Self::Manual { workspace, request_id, .. }
            | Self::ListAdd { workspace, request_id, .. }
            | Self::ListRemove { workspace, request_id, .. }
            | Self::ConsentChanged { workspace, request_id, .. } => {
                span.record("workspace", workspace.as_str());
                span.record("request_id", request_id.as_str());
            }
        }
    }
}

/// Processes a batch one message at a time and reports the ones to redeliver. On a FIFO
/// queue (records with a `MessageGroupId`), once a message of a group is reported, the
/// later messages of that group are reported unprocessed, so the group keeps its order.
/// Messages left when the `deadline` is near are reported unprocessed.
pub async fn process<F, Fut>(event: SqsEvent, deadline: Deadline, mut handle: F) -> Settled
where
    F: FnMut(Delivered) -> Fut,
    Fut: std::future::Future<Output = Outcome>,
{
    let mut settled = Settled::default();
    let mut failed_groups = HashSet::new();
    for record in event.records {
        let received = Received::of(&record);
        let group = received.group.clone();
        let span = message_span(&received.id);
        let outcome = match &group {
            Some(group) if failed_groups.contains(group) => {
                Outcome::Retry("an earlier message of its group failed".into())
            }
            _ if deadline.too_close() => Outcome::Retry("not started: the invocation's deadline is near".into()),
            _ => span.in_scope(|| handle(Delivered::of(record))).instrument(span.clone()).await,
        };
        // A dead-lettered message leaves the queue: the later ones of its group go on.
        if outcome.settle(received, &span, &mut settled) {
            failed_groups.extend(group);
        }
    }
    settled
}

/// Processes a batch of a standard queue (no message groups, no order to keep) with every
/// message at once, and reports the ones to redeliver: the executor's steps of one batch wait on
/// their Graph calls together, and their sends share the instance's lease of send slots. When
/// the `deadline` is near, none is started: all are reported.
pub async fn process_at_once<F, Fut>(event: SqsEvent, deadline: Deadline, mut handle: F) -> Settled
where
    F: FnMut(Delivered) -> Fut,
    Fut: std::future::Future<Output = Outcome>,
{
    let too_close = deadline.too_close();
    let mut started = Vec::with_capacity(event.records.len());
    let mut handled = Vec::with_capacity(event.records.len());
    for record in event.records {
        let received = Received::of(&record);
        let span = message_span(&received.id);
        if !too_close {
            handled.push(span.in_scope(|| handle(Delivered::of(record))).instrument(span.clone()));
        }
        started.push((received, span));
    }
    let outcomes = if too_close {
        started.iter().map(|_| Outcome::Retry("not started: the invocation's deadline is near".into())).collect()
    } else {
        futures_util::future::join_all(handled).await
    };
    let mut settled = Settled::default();
    for ((received, span), outcome) in started.into_iter().zip(outcomes) {
        outcome.settle(received, &span, &mut settled);
    }
    settled
}

/// [`process`] for messages whose bodies are JSON documents of type `T`; an unreadable body is
/// dead-lettered, the stage's result decides the rest. `handle` gets each document with when
/// it was queued.
async fn process_json<T, F, Fut>(
    event: SqsEvent,
    deadline: Deadline,
    what: &str,
    order: Order,
    mut handle: F,
) -> Settled
where
    T: serde::de::DeserializeOwned + Traced,
    F: FnMut(T, Option<Time>) -> Fut,
    Fut: std::future::Future<Output = Result<Report, StageError>>,
{
    let read = |message: Delivered| {
        let parsed = serde_json::from_str::<T>(&message.body).map_err(|e| format!("not {what}: {e}"));
        if let Ok(parsed) = &parsed {
            parsed.trace(&tracing::Span::current());
        }
        let handled = parsed.map(|parsed| handle(parsed, message.sent_at));
        async move {
            match handled {
                Ok(handled) => Outcome::of(handled.await),
                Err(why) => Outcome::DeadLetter(why),
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
/// event comes back and its page, which starts nothing twice, is done again. A reply the
/// matcher sends counts its latency from the event's queueing (its webhook's arrival).
pub async fn match_events<S, Q, W, H, E>(
    deps: &Deps<S, Q, W, H>,
    events: &E,
    event: SqsEvent,
    deadline: Deadline,
    now: impl Fn() -> Time,
) -> Handled
where
    S: Store,
    Q: StepQueue,
    W: WhatsAppSender,
    H: WebhookPoster,
    E: EventQueue,
{
    let (metrics, now) = (Mutex::new(Metrics::default()), &now);
    let Settled { response, dead_letters } =
        process_json(event, deadline, "a pipeline event", Order::InTurn, |e: PipelineEvent, sent_at| {
            let (started, metrics) = (now(), &metrics);
            async move {
                let report = deps.handle_event(&e, started).await?;
                if let Some(next) = &report.follow_up {
                    events.enqueue(next.clone()).await?;
                }
                let mut metrics = metrics.lock().expect("metrics are never poisoned");
                metrics.count(&report);
                if let Some(received) = sent_at {
                    metrics.answered(&report, received, now());
                }
                Ok(report)
            }
        })
        .await;
    Handled { response, metrics: metrics.into_inner().expect("metrics are never poisoned"), dead_letters }
}

/// The executor: each message is a [`StepMessage`], all of a batch at once (their sends wait
/// on the Graph API together and share the instance's lease of send slots). Each step counts
/// its lag behind its due time.
pub async fn execute_steps<S, Q, W, H>(
    deps: &Deps<S, Q, W, H>,
    event: SqsEvent,
    deadline: Deadline,
    now: impl Fn() -> Time,
) -> Handled
where
    S: Store,
    Q: StepQueue,
    W: WhatsAppSender,
    H: WebhookPoster,
{
    let metrics = Mutex::new(Metrics::default());
    let Settled { response, dead_letters } =
        process_json(event, deadline, "a step message", Order::AtOnce, |step: StepMessage, _| {
            let (now, metrics) = (now(), &metrics);
            metrics.lock().expect("metrics are never poisoned").step_started(step.step.due, now);
            async move {
                let report = deps.handle_step(&step, now).await?;
                metrics.lock().expect("metrics are never poisoned").count(&report);
                Ok(report)
            }
        })
        .await;
    Handled { response, metrics: metrics.into_inner().expect("metrics are never poisoned"), dead_letters }
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
        let handled = process_at_once(event, Deadline::NONE, |message| {
            let barrier = barrier.clone();
            async move {
                barrier.wait().await;
                if message.body == "retry" { Outcome::Retry("5xx".into()) } else { Outcome::Done }
            }
        });
        let response = tokio::time::timeout(std::time::Duration::from_secs(5), handled).await.expect("all at once");
        assert_eq!(reported(&response.response), ["s2"]);
    }

    #[tokio::test]
    async fn only_the_messages_that_may_succeed_later_are_reported() {
        let event = batch(vec![record("1", None, "ok"), record("2", None, "retry"), record("3", None, "fatal")]);
        let response = process(event, Deadline::NONE, |message| async move {
            match message.body.as_str() {
                "ok" => Outcome::Done,
                "retry" => Outcome::Retry("throttled".into()),
                _ => Outcome::Drop("gone".into()),
            }
        })
        .await;
        assert_eq!(reported(&response.response), ["2"]);
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
        let response = process(event, Deadline::NONE, |message| {
            handled.push(message.body.clone());
            async move { if message.body == "retry" { Outcome::Retry("5xx".into()) } else { Outcome::Done } }
        })
        .await;
        assert_eq!(reported(&response.response), ["a1", "a2"]);
        assert_eq!(handled, ["retry", "ok", "ok"], "a2 is not processed ahead of a1");
    }

    #[tokio::test]
    async fn the_matcher_dead_letters_an_unreadable_body_at_once_and_acknowledges_a_handled_event() {
        let (events, _inbox) = avvio_common::memory::MemoryEventQueue::new();
        let deps = memory_deps();
        let removal = serde_json::json!({ "kind": "list_remove", "workspace": "negozio", "list": "vip",
                                          "contact": "393331234567", "request_id": "req-1" });
        let event = batch(vec![record("1", Some("g"), "{ not json"), record("2", Some("g"), &removal.to_string())]);
        let handled = match_events(&deps, &events, event, Deadline::NONE, chrono::Utc::now).await;
        assert_eq!(reported(&handled.response), Vec::<&str>::new(), "the group goes on past a dead letter");
        let [dead] = handled.dead_letters.as_slice() else { panic!("{:?}", handled.dead_letters) };
        assert_eq!(
            (dead.message_id.as_str(), dead.body.as_str(), dead.group.as_deref()),
            ("1", "{ not json", Some("g"))
        );
        assert!(dead.why.starts_with("not a pipeline event"), "{}", dead.why);
    }

    #[tokio::test]
    async fn a_step_whose_stored_run_cannot_be_read_is_dead_lettered_not_retried() {
        let outcome = Outcome::of(Err(StageError::Store(StoreError::Corrupt("item WS#negozio/RUN#r-1: doc".into()))));
        assert!(matches!(&outcome, Outcome::DeadLetter(why) if why.contains("RUN#r-1")), "{outcome:?}");
        let passing = Outcome::of(Err(StageError::Store(StoreError::Unavailable("throttled".into()))));
        assert!(matches!(passing, Outcome::Retry(_)), "a passing failure is still retried");
    }

    fn memory_deps() -> Deps<
        avvio_common::memory::MemoryStore,
        avvio_common::memory::MemoryStepQueue,
        avvio_common::memory::MemorySender,
        avvio_common::memory::MemoryPoster,
    > {
        use avvio_common::memory::{MemoryPoster, MemorySender, MemoryStepQueue, MemoryStore};
        Deps {
            store: MemoryStore::new(),
            steps: MemoryStepQueue::new(),
            sender: MemorySender::counting(),
            poster: MemoryPoster::default(),
            default_access_token: None,
        }
    }

    /// Collects what the handlers log, as Lambda's JSON format writes it
    /// (`lambda_runtime::tracing::init_default_subscriber` with `AWS_LAMBDA_LOG_FORMAT=JSON`).
    #[derive(Clone, Default)]
    struct Logged(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Logged {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Logged {
        fn subscriber(&self) -> impl tracing::Subscriber + Send + Sync {
            let writer = self.clone();
            lambda_runtime::tracing::subscriber::fmt()
                .json()
                .with_target(false)
                .without_time()
                .with_writer(move || writer.clone())
                .finish()
        }

        fn lines(&self) -> Vec<serde_json::Value> {
            let text = String::from_utf8(self.0.lock().unwrap().clone()).unwrap();
            text.lines().map(|line| serde_json::from_str(line).expect("every line is JSON")).collect()
        }
    }

    #[tokio::test]
    async fn a_step_s_log_lines_are_json_naming_its_run_and_an_event_s_its_wamid() {
        let logged = Logged::default();
        // Tests running alongside hit the same call sites with no subscriber. With a single
        // dispatcher registered, tracing caches what their thread's default says (nothing);
        // with two, every call site asks each, so this thread's subscriber gets its lines.
        let _second = tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default());
        let _default = tracing::subscriber::set_default(logged.subscriber());
        let deps = memory_deps();
        let step = serde_json::json!({ "workspace": "negozio", "run": "r-0123456789abcdef0123", "step": "steps[1]",
                                       "due": "2026-03-01T09:00:00Z" });
        let at = "2026-03-01T09:00:00Z";
        let message = avvio_common::webhook::parse_webhook(&avvio_tests::text_webhook(
            "106540352242922",
            "393331234567",
            "wamid.log.1",
            at,
            "Ciao",
        ))
        .unwrap()
        .remove(0);
        let event = serde_json::to_string(&PipelineEvent::Whatsapp { event: message }).unwrap();

        execute_steps(&deps, batch(vec![record("s-1", None, &step.to_string())]), Deadline::NONE, chrono::Utc::now)
            .await;
        let (events, _inbox) = avvio_common::memory::MemoryEventQueue::new();
        match_events(&deps, &events, batch(vec![record("e-1", None, &event)]), Deadline::NONE, chrono::Utc::now).await;

        let lines = logged.lines();
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert_eq!(lines[0]["fields"]["why"], "unknown run", "{}", lines[0]);
        let span = &lines[0]["span"];
        assert_eq!(
            (&span["message_id"], &span["workspace"], &span["run_id"], &span["step"]),
            (&"s-1".into(), &"negozio".into(), &"r-0123456789abcdef0123".into(), &"steps[1]".into()),
            "{}",
            lines[0]
        );
        assert_eq!(lines[1]["fields"]["why"], "unknown phone_number_id", "{}", lines[1]);
        assert_eq!(lines[1]["span"]["wamid"], "wamid.log.1", "{}", lines[1]);
        assert_eq!(lines[1]["span"]["message_id"], "e-1", "{}", lines[1]);
    }

    #[tokio::test]
    async fn a_step_counts_its_lag_behind_its_due_time() {
        let deps = memory_deps();
        let step = serde_json::json!({ "workspace": "negozio", "run": "r-0123456789abcdef0123", "step": "steps[1]",
                                       "due": "2026-03-01T09:00:00Z" });
        let started = chrono::DateTime::parse_from_rfc3339("2026-03-01T09:00:01.250Z").unwrap().to_utc();
        let handled =
            execute_steps(&deps, batch(vec![record("s-1", None, &step.to_string())]), Deadline::NONE, || started).await;
        assert!(handled.response.batch_item_failures.is_empty(), "{handled:?}");
        assert_eq!(handled.metrics.step_lag, [1250]);
        assert_eq!(handled.metrics.sends, 0, "an unknown run sends nothing");
    }

    #[test]
    fn a_record_s_sent_timestamp_is_when_it_was_queued() {
        let mut message = record("1", None, "{}");
        message.attributes.insert("SentTimestamp".into(), "1772355600250".into());
        let delivered = Delivered::of(message);
        assert_eq!(delivered.sent_at.map(|t| t.to_rfc3339()), Some("2026-03-01T09:00:00.250+00:00".to_string()));
        assert_eq!(Delivered::of(record("2", None, "{}")).sent_at, None, "unknown without the attribute");
    }

    #[tokio::test]
    async fn messages_are_not_started_when_the_invocations_deadline_is_near() {
        let soon = SystemTime::now() + MESSAGE_BUDGET + Duration::from_millis(300);
        let deadline =
            Deadline::from_epoch_millis(soon.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_millis() as u64);
        let event = batch(vec![record("1", None, "slow"), record("2", None, "ok"), record("3", None, "ok")]);
        let mut started = Vec::new();
        let response = process(event, deadline, |message| {
            started.push(message.body.clone());
            async move {
                if message.body == "slow" {
                    tokio::time::sleep(Duration::from_millis(400)).await;
                }
                Outcome::Done
            }
        })
        .await;
        assert_eq!(started, ["slow"], "the first fits in the time left, the others do not");
        assert_eq!(reported(&response.response), ["2", "3"]);
    }
}
