//! Playing, on a local emulator (moto), the parts of AWS that only run in AWS:
//! the Lambda event source mapping that polls SQS ([`Poller`]) and the resources
//! `template.yaml` declares ([`bootstrap`]). Scheduler firing is
//! [`avvio_aws::local::fire_due_schedules`].
//!
//! The poller does what the mapping does with `ReportBatchItemFailures`: receive a
//! batch, hand it to the handler as a real [`SqsEvent`], delete the messages the
//! handler did not report. Reported messages stay in the queue: SQS makes them
//! visible again after the visibility timeout and, past the redrive policy's
//! `maxReceiveCount`, moves them to the dead-letter queue — the emulator does that,
//! as SQS does. The messages the handler dead-letters go to the queue's DLQ at once, as
//! `run_sqs` sends them in Lambda.

use crate::batch::Handled;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use aws_sdk_sqs::config::interceptors::FinalizerInterceptorContextRef;
use aws_sdk_sqs::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName, QueueAttributeName};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

pub use avvio_aws::local::LocalError;

fn fail(what: &str, error: impl std::error::Error) -> LocalError {
    LocalError::of(what, error)
}

/// The largest batch an SQS event source mapping hands to one invocation of a FIFO consumer
/// (and what one `ReceiveMessage` returns).
pub const BATCH_SIZE: i32 = 10;

/// One SQS queue as a Lambda event source mapping sees it.
#[derive(Debug, Clone)]
pub struct Poller {
    sqs: aws_sdk_sqs::Client,
    url: String,
    arn: String,
    dead_letters: Option<crate::dead_letters::DeadLetterQueue>,
}

impl Poller {
    pub fn new(sqs: aws_sdk_sqs::Client, url: impl Into<String>, arn: impl Into<String>) -> Self {
        Self { sqs, url: url.into(), arn: arn.into(), dead_letters: None }
    }

    /// The poller of `queue`, moving what its handler dead-letters to the queue's DLQ.
    pub fn of(sqs: aws_sdk_sqs::Client, queue: &Queue) -> Self {
        let dead_letters = crate::dead_letters::DeadLetterQueue::new(sqs.clone(), &queue.dlq_url);
        Self { dead_letters: Some(dead_letters), ..Self::new(sqs, &queue.url, &queue.arn) }
    }

    /// One receive, as the mapping's poller does it: up to [`BATCH_SIZE`] messages with
    /// their system attributes, as the `SqsEvent` Lambda would deliver.
    pub async fn receive(&self) -> Result<SqsEvent, LocalError> {
        let received = self
            .sqs
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(BATCH_SIZE)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .wait_time_seconds(0)
            .send()
            .await
            .map_err(|e| fail("receive", e))?;
        let mut event = SqsEvent::default();
        event.records = received.messages().iter().map(|m| self.record(m)).collect();
        Ok(event)
    }

    fn record(&self, message: &aws_sdk_sqs::types::Message) -> SqsMessage {
        let mut record = SqsMessage::default();
        record.message_id = message.message_id().map(str::to_string);
        record.receipt_handle = message.receipt_handle().map(str::to_string);
        record.body = message.body().map(str::to_string);
        record.md5_of_body = message.md5_of_body().map(str::to_string);
        record.attributes = message
            .attributes()
            .map(|attributes| attributes.iter().map(|(k, v)| (k.as_str().to_string(), v.clone())).collect())
            .unwrap_or_default();
        record.event_source = Some("aws:sqs".into());
        record.event_source_arn = Some(self.arn.clone());
        record.aws_region = self.arn.split(':').nth(3).map(str::to_string);
        record
    }

    /// Deletes the messages of `event` that `response` does not report as failed; returns how many.
    pub async fn acknowledge(&self, event: &SqsEvent, response: &SqsBatchResponse) -> Result<usize, LocalError> {
        let reported: Vec<&str> = response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
        let entries: Vec<DeleteMessageBatchRequestEntry> = event
            .records
            .iter()
            .filter(|r| !reported.contains(&r.message_id.as_deref().unwrap_or_default()))
            .enumerate()
            .map(|(i, r)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(r.receipt_handle.clone().unwrap_or_default())
                    .build()
                    .expect("id and receipt handle are set")
            })
            .collect();
        if entries.is_empty() {
            return Ok(0);
        }
        let deleted = entries.len();
        let answer = self
            .sqs
            .delete_message_batch()
            .queue_url(&self.url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| fail("delete", e))?;
        if let Some(failed) = answer.failed().first() {
            return Err(LocalError::new(format!("delete message {}: {:?}", failed.id(), failed.message())));
        }
        Ok(deleted)
    }

    /// Receives one batch, hands it to `handler` and acknowledges what it did not report.
    /// Returns how many messages the batch held (0: nothing was visible).
    pub async fn poll<F, Fut>(&self, handler: F) -> Result<usize, LocalError>
    where
        F: FnOnce(SqsEvent) -> Fut,
        Fut: std::future::Future<Output: Into<Handled>>,
    {
        let event = self.receive().await?;
        let received = event.records.len();
        if received == 0 {
            return Ok(0);
        }
        let mut handled = handler(event.clone()).await.into();
        match &self.dead_letters {
            Some(queue) => queue.settle(&mut handled).await,
            // No DLQ to move them to: reported, so the redrive policy moves them.
            None => {
                let ids = std::mem::take(&mut handled.dead_letters).into_iter().map(|d| d.message_id);
                handled.report(ids);
            }
        }
        self.acknowledge(&event, &handled.response).await?;
        Ok(received)
    }

    /// Messages in the queue: visible, in flight (received, not yet deleted) and delayed.
    pub async fn depth(&self) -> Result<QueueDepth, LocalError> {
        depth(&self.sqs, &self.url).await
    }
}

/// What a queue holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueDepth {
    pub visible: u64,
    pub in_flight: u64,
    pub delayed: u64,
}

impl QueueDepth {
    pub fn total(self) -> u64 {
        self.visible + self.in_flight + self.delayed
    }
}

/// How many messages `url` holds.
pub async fn depth(sqs: &aws_sdk_sqs::Client, url: &str) -> Result<QueueDepth, LocalError> {
    let answer = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .map_err(|e| fail("get queue attributes", e))?;
    let attributes = answer.attributes().cloned().unwrap_or_default();
    let count = |name: QueueAttributeName| attributes.get(&name).and_then(|v| v.parse().ok()).unwrap_or(0);
    Ok(QueueDepth {
        visible: count(QueueAttributeName::ApproximateNumberOfMessages),
        in_flight: count(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
        delayed: count(QueueAttributeName::ApproximateNumberOfMessagesDelayed),
    })
}

/// The queues of [`bootstrap`], and the attributes they are created with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueSettings {
    /// Seconds a received message stays invisible before SQS delivers it again.
    pub visibility_timeout: u32,
    /// Receives after which SQS moves a message to the dead-letter queue.
    pub max_receive_count: u32,
}

/// The settings `template.yaml` gives both queues: a visibility timeout of 6× the
/// consumers' 30 s timeout (AWS's advice for Lambda event sources) and 5 receives.
/// Tests use shorter ones so redeliveries happen within a test.
pub const DEPLOYED: QueueSettings = QueueSettings { visibility_timeout: 180, max_receive_count: 5 };

/// A queue and its dead-letter queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queue {
    pub url: String,
    pub arn: String,
    pub dlq_url: String,
    pub dlq_arn: String,
}

/// What [`bootstrap`] created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resources {
    pub table: String,
    pub events: Queue,
    pub steps: Queue,
    pub schedule_group: String,
}

/// The names `template.yaml` gives the resources of a stack (`prefix` = the stack's name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    pub table: String,
    pub events: String,
    pub events_dlq: String,
    pub steps: String,
    pub steps_dlq: String,
    pub schedule_group: String,
}

impl Names {
    pub fn of(prefix: &str) -> Self {
        Self {
            table: format!("{prefix}-table"),
            events: format!("{prefix}-events.fifo"),
            events_dlq: format!("{prefix}-events-dlq.fifo"),
            steps: format!("{prefix}-steps"),
            steps_dlq: format!("{prefix}-steps-dlq"),
            schedule_group: format!("{prefix}-steps"),
        }
    }
}

/// Creates Avvio's table, queues (with their dead-letter queues and redrive
/// policies) and schedule group, named from `prefix` as the template names them.
pub async fn bootstrap(
    aws: &aws_config::SdkConfig,
    prefix: &str,
    settings: &QueueSettings,
) -> Result<Resources, LocalError> {
    let dynamodb = aws_sdk_dynamodb::Client::new(aws);
    let sqs = aws_sdk_sqs::Client::new(aws);
    let scheduler = aws_sdk_scheduler::Client::new(aws);
    let names = Names::of(prefix);
    avvio_aws::dynamo::create_table(&dynamodb, &names.table)
        .await
        .map_err(|e| LocalError::new(format!("create table: {e}")))?;
    let events = create_queue(&sqs, &names.events, &names.events_dlq, true, settings).await?;
    let steps = create_queue(&sqs, &names.steps, &names.steps_dlq, false, settings).await?;
    scheduler
        .create_schedule_group()
        .name(&names.schedule_group)
        .send()
        .await
        .map_err(|e| fail("create the schedule group", e))?;
    Ok(Resources { table: names.table, events, steps, schedule_group: names.schedule_group })
}

async fn create_queue(
    sqs: &aws_sdk_sqs::Client,
    name: &str,
    dlq_name: &str,
    fifo: bool,
    settings: &QueueSettings,
) -> Result<Queue, LocalError> {
    let mut dlq_attributes = HashMap::new();
    if fifo {
        dlq_attributes.insert(QueueAttributeName::FifoQueue, "true".to_string());
    }
    let (dlq_url, dlq_arn) = create(sqs, dlq_name, dlq_attributes).await?;
    let redrive = serde_json::json!({ "deadLetterTargetArn": dlq_arn, "maxReceiveCount": settings.max_receive_count });
    let mut attributes = HashMap::from([
        (QueueAttributeName::VisibilityTimeout, settings.visibility_timeout.to_string()),
        (QueueAttributeName::RedrivePolicy, redrive.to_string()),
    ]);
    if fifo {
        attributes.insert(QueueAttributeName::FifoQueue, "true".to_string());
    }
    let (url, arn) = create(sqs, name, attributes).await?;
    Ok(Queue { url, arn, dlq_url, dlq_arn })
}

async fn create(
    sqs: &aws_sdk_sqs::Client,
    name: &str,
    attributes: HashMap<QueueAttributeName, String>,
) -> Result<(String, String), LocalError> {
    let created = sqs
        .create_queue()
        .queue_name(name)
        .set_attributes(Some(attributes))
        .send()
        .await
        .map_err(|e| fail("create a queue", e))?;
    let url =
        created.queue_url().ok_or_else(|| LocalError::new(format!("no URL for the new queue {name}")))?.to_string();
    let described = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| fail("get a queue's ARN", e))?;
    let arn = described
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn))
        .ok_or_else(|| LocalError::new(format!("no ARN for the new queue {name}")))?
        .to_string();
    Ok((url, arn))
}

/// Counts the AWS API calls made through clients built with
/// [`crate::wiring::Clients::intercepted`], by service and operation (one per call,
/// whatever its retries), and the DynamoDB items those calls read.
#[derive(Clone, Debug, Default)]
pub struct CallCounter(Arc<Mutex<Calls>>);

/// What a [`CallCounter`] saw.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Calls {
    /// `"Service.Operation"` → calls.
    pub by_operation: BTreeMap<String, usize>,
    /// Items returned by DynamoDB reads (`GetItem`, `BatchGetItem`, `Query`, `Scan`).
    pub items_read: usize,
}

impl Calls {
    pub fn total(&self) -> usize {
        self.by_operation.values().sum()
    }
}

impl CallCounter {
    /// What was counted since the last `take`; resets the count.
    pub fn take(&self) -> Calls {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "CallCounter"
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let mut calls = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(operation) = cfg.load::<Metadata>() {
            *calls.by_operation.entry(format!("{}.{}", operation.service(), operation.name())).or_default() += 1;
        }
        use aws_sdk_dynamodb::operation::{batch_get_item::BatchGetItemOutput, get_item::GetItemOutput};
        use aws_sdk_dynamodb::operation::{query::QueryOutput, scan::ScanOutput};
        let Some(Ok(output)) = context.output_or_error() else { return Ok(()) };
        let items = if let Some(got) = output.downcast_ref::<GetItemOutput>() {
            usize::from(got.item().is_some())
        } else if let Some(got) = output.downcast_ref::<BatchGetItemOutput>() {
            got.responses().map_or(0, |tables| tables.values().map(Vec::len).sum())
        } else if let Some(got) = output.downcast_ref::<QueryOutput>() {
            got.items().len()
        } else if let Some(got) = output.downcast_ref::<ScanOutput>() {
            got.items().len()
        } else {
            0
        };
        calls.items_read += items;
        Ok(())
    }
}
