//! TEMPORARY interface copy while the real parser is written (replaced by the helper's module).
use crate::domain::ids::Wamid;
use crate::domain::phone::{Bsuid, WaId};
use crate::time::Time;

pub fn parse_webhook(_body: &[u8]) -> Result<Vec<InboundEvent>, WebhookError> {
    Err(WebhookError::Malformed("parser not yet written".into()))
}
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InboundEvent { Message(InboundMessage), Status(StatusUpdate) }
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundMessage { pub phone_number_id: String, pub wamid: Wamid, pub sender: Sender, pub timestamp: Time, pub content: MessageContent }
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Sender { pub phone: Option<WaId>, pub bsuid: Option<Bsuid>, pub name: Option<String>, pub username: Option<String> }
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageContent {
    Text { body: String },
    Button { text: String, payload: Option<String> },
    ButtonReply { id: String, title: String },
    ListReply { id: String, title: String, description: Option<String> },
    Media { kind: String, caption: Option<String> },
    Other { kind: String },
}
impl MessageContent {
    pub fn phrase_candidates(&self) -> Vec<&str> { match self { Self::Text { body } => vec![body], _ => vec![] } }
    pub fn capture_value(&self) -> String { String::new() }
}
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusUpdate { pub phone_number_id: String, pub wamid: Wamid, pub status: DeliveryStatus, pub timestamp: Time, pub recipient_phone: Option<WaId>, pub recipient_bsuid: Option<Bsuid>, pub errors: Vec<StatusError> }
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryStatus { Sent, Delivered, Read, Failed, Other(String) }
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusError { pub code: i64, pub title: String }
#[derive(Debug, thiserror::Error)]
pub enum WebhookError { #[error("{0}")] Malformed(String) }
