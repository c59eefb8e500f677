//! Moving messages that can never be handled to their queue's dead-letter queue at once
//! ([`batch::DeadLetter`]), rather than after the queue's `maxReceiveCount` receives: an
//! unreadable body, or a stored item the message needs that cannot be read. The DLQ's alarm
//! goes off; the message is kept for inspection (its reason in the `avvio_reason` attribute)
//! and can be moved back with SQS's redrive once the cause is fixed.

use crate::batch::{DeadLetter, Handled};
use aws_sdk_sqs::types::MessageAttributeValue;

/// The attribute of a dead-lettered message naming why it can never be handled.
pub const REASON_ATTRIBUTE: &str = "avvio_reason";

/// The dead-letter queue of the queue a function consumes.
#[derive(Debug, Clone)]
pub struct DeadLetterQueue {
    sqs: aws_sdk_sqs::Client,
    url: String,
}

impl DeadLetterQueue {
    pub fn new(sqs: aws_sdk_sqs::Client, url: impl Into<String>) -> Self {
        Self { sqs, url: url.into() }
    }

    /// Moves `handled`'s dead letters to the queue; those that cannot be moved are reported
    /// instead, so SQS delivers them again (and dead-letters them after the max receives).
    pub async fn settle(&self, handled: &mut Handled) {
        let mut unmoved = Vec::new();
        for letter in std::mem::take(&mut handled.dead_letters) {
            if let Err(why) = self.send(&letter).await {
                tracing::error!(message_id = %letter.message_id, %why, "cannot move the message to the dead-letter queue; reported instead");
                unmoved.push(letter.message_id);
            }
        }
        handled.report(unmoved);
    }

    async fn send(&self, letter: &DeadLetter) -> Result<(), String> {
        // The reason, cut to fit a message attribute comfortably.
        let why: String = letter.why.chars().take(1024).collect();
        let reason = MessageAttributeValue::builder()
            .data_type("String")
            .string_value(why)
            .build()
            .map_err(|e| e.to_string())?;
        let mut request = self
            .sqs
            .send_message()
            .queue_url(&self.url)
            .message_body(&letter.body)
            .message_attributes(REASON_ATTRIBUTE, reason);
        // A FIFO queue's DLQ is FIFO: the message keeps its group, and its id dedupes a retry.
        if let Some(group) = &letter.group {
            request = request.message_group_id(group).message_deduplication_id(&letter.message_id);
        }
        request.send().await.map(|_| ()).map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())
    }
}
