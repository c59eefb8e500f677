//! Meta's WhatsApp Cloud API webhooks: the POST body of the `messages` and
//! `user_preferences` fields, read into [`InboundEvent`]s.
//!
//! A `messages` body looks like this (fields Avvio does not read left out):
//!
//! ```json
//! {
//!   "object": "whatsapp_business_account",
//!   "entry": [{
//!     "id": "102290129340398",
//!     "changes": [{
//!       "field": "messages",
//!       "value": {
//!         "metadata": { "phone_number_id": "106540352242922" },
//!         "contacts": [{ "profile": { "name": "Giulia Rossi", "username": "@giulia.rossi" },
//!                        "wa_id": "393331234567", "user_id": "IT.13491208655302741918" }],
//!         "messages": [{ "from": "393331234567", "from_user_id": "IT.13491208655302741918",
//!                        "id": "wamid.HBgM…", "timestamp": "1778751012",
//!                        "type": "text", "text": { "body": "INFO" } }],
//!         "statuses": [{ "id": "wamid.HBgM…", "status": "delivered", "timestamp": "1778751387",
//!                        "recipient_id": "393331234567", "recipient_user_id": "IT.13491208655302741918" }]
//!       }
//!     }]
//!   }]
//! }
//! ```
//!
//! A `user_preferences` change reports a user who stopped or resumed marketing
//! messages; each `user_preferences[]` item becomes an
//! [`InboundEvent::Preference`], its user found as a message's sender is:
//!
//! ```json
//! {
//!   "field": "user_preferences",
//!   "value": {
//!     "metadata": { "phone_number_id": "106540352242922" },
//!     "contacts": [{ "profile": { "name": "Giulia Rossi" },
//!                    "wa_id": "393331234567", "user_id": "IT.13491208655302741918" }],
//!     "user_preferences": [{ "wa_id": "393331234567", "user_id": "IT.13491208655302741918",
//!                            "category": "marketing_messages", "value": "stop",
//!                            "detail": "User requested to stop marketing messages",
//!                            "timestamp": 1731705721 }]
//!   }
//! }
//! ```
//!
//! One body may hold several entries, changes, messages, statuses and
//! preferences: every one becomes an event, in body order (within one
//! `messages` change, its messages before its statuses). Changes of any other
//! `field` are skipped.
//!
//! # Who sent it
//!
//! Since 2026 Meta also sends each user's business-scoped user id (BSUID):
//! `contacts[].user_id`, `messages[].from_user_id`, `statuses[].recipient_user_id`
//! and `user_preferences[].user_id`. For a user who adopted a WhatsApp username
//! the phone may be left out (`contacts[].wa_id`, `messages[].from`,
//! `statuses[].recipient_id`, `user_preferences[].wa_id`), and the username
//! comes in `contacts[].profile.username`. An event's [`Sender`] joins the
//! event's own ids with its `contacts[]` entry; a message or status must end up
//! with a phone or a BSUID, or the body is refused.
//!
//! # Tolerance
//!
//! Meta adds fields over time, so unknown fields are ignored, unknown message
//! types become [`MessageContent::Other`], unknown statuses
//! [`DeliveryStatus::Other`], and unknown preference categories and values
//! [`PreferenceCategory::Other`] and [`PreferenceValue::Other`]. Beyond Meta's
//! reference the parser also accepts a `timestamp` sent as a JSON number, a
//! BSUID found in a phone field (`from`, `wa_id`, `recipient_id`), and a
//! username at `contacts[].username`, where some providers document it.
//!
//! A `user_preferences` change is newer and rarer than messages, and losing
//! the messages beside it would cost more than losing it: a change or item
//! Avvio cannot read (no `user_preferences`, an item without `category`,
//! `value` or `timestamp`, a value of the wrong type, no user id) is skipped,
//! not the body refused, and [`parse_webhook_noting`] says what it skipped.
//!
//! # Errors
//!
//! A [`WebhookError`] names the place it found wrong, written the way the body
//! nests: `entry[0].changes[0].value.messages[1]`, or down to the field for a
//! value of the wrong type: `entry[0].changes[0].value.messages[1].text.body`.
//! A note about a skipped preference names its place the same way:
//! `entry[0].changes[1].value.user_preferences[0]: no user id: …`.

mod fast;

pub(crate) use fast::Reader;

use std::fmt;

use std::borrow::Cow;

use serde::de::value::MapAccessDeserializer;
use serde::de::{self, Error as _, IgnoredAny, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use serde_json::value::RawValue;
use serde_path_to_error::Segment;

use crate::domain::ids::{IdError, Wamid};
use crate::domain::phone::{Bsuid, ContactKey, IdentityError, WaId};
use crate::time::{Time, from_unix_seconds};

/// The `object` of every WhatsApp Business Account webhook.
const WHATSAPP_BUSINESS_ACCOUNT: &str = "whatsapp_business_account";

/// The change `field` that carries messages and statuses.
const MESSAGES_FIELD: &str = "messages";

/// The change `field` that carries users' message preferences.
const PREFERENCES_FIELD: &str = "user_preferences";

/// The change `field` that carries a template's new review status.
const TEMPLATE_STATUS_FIELD: &str = "message_template_status_update";

/// One thing a webhook reports.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum InboundEvent {
    /// A user wrote to one of the business's numbers.
    Message(InboundMessage),
    /// A message the business sent was sent, delivered, read or failed.
    Status(StatusUpdate),
    /// A user stopped or resumed a category of messages (the `user_preferences` field).
    Preference(PreferenceUpdate),
    /// Meta reviewed, paused or disabled a template (the `message_template_status_update` field).
    TemplateStatus(TemplateStatusUpdate),
}

/// A template's new status (the `value` of a `message_template_status_update` change):
///
/// ```json
/// { "entry": [{ "id": "102290129340398", "changes": [{ "field": "message_template_status_update",
///     "value": { "event": "APPROVED", "message_template_id": 1180000000000001,
///                "message_template_name": "welcome", "message_template_language": "it",
///                "reason": "NONE" } }] }] }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TemplateStatusUpdate {
    /// The WhatsApp Business Account the template belongs to (the entry's `id`).
    pub waba_id: String,
    /// Meta's id of the template, as its JSON text (a number or a string).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_id: Option<String>,
    pub name: String,
    pub language: String,
    /// Meta's event as sent: `APPROVED`, `REJECTED`, `PAUSED`, `DISABLED`, …
    pub event: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A user's change of a message preference (`user_preferences[]` of a `user_preferences` change).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PreferenceUpdate {
    /// The business number the user changed it for (`value.metadata.phone_number_id`).
    pub phone_number_id: String,
    /// The user: its phone (`wa_id`) and BSUID (`user_id`) when given, at least one of them.
    pub user: Sender,
    /// Which messages: Meta sends `marketing_messages`; any other category is kept as sent.
    pub category: PreferenceCategory,
    /// `stop` or `resume`.
    pub value: PreferenceValue,
    /// When the user changed it.
    pub timestamp: Time,
}

/// A preference's `category`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PreferenceCategory {
    MarketingMessages,
    /// Any other category, kept as sent (Avvio acts on marketing messages only).
    Other(String),
}

/// A preference's `value`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PreferenceValue {
    Stop,
    Resume,
    /// Any other value, kept as sent (nothing changes for it).
    Other(String),
}

impl PreferenceCategory {
    fn from_meta(category: Str<'_>) -> Self {
        match category.as_str() {
            "marketing_messages" => Self::MarketingMessages,
            _ => Self::Other(category.into_owned()),
        }
    }
}

impl PreferenceValue {
    fn from_meta(value: Str<'_>) -> Self {
        match value.as_str() {
            "stop" => Self::Stop,
            "resume" => Self::Resume,
            _ => Self::Other(value.into_owned()),
        }
    }
}

/// A message a WhatsApp user sent to the business.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct InboundMessage {
    /// The business number that received it (`value.metadata.phone_number_id`).
    pub phone_number_id: String,
    /// WhatsApp's id of the message, the key that makes redelivered webhooks harmless.
    pub wamid: Wamid,
    /// Who wrote.
    pub sender: Sender,
    /// When WhatsApp received the message.
    pub timestamp: Time,
    /// What the message says.
    pub content: MessageContent,
}

/// Who sent a message. A parsed message's sender has a `phone`, a `bsuid`, or both.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Sender {
    /// The phone (`from`, else the contact's `wa_id`); absent for username users Meta hides it for.
    pub phone: Option<WaId>,
    /// The business-scoped user id (`from_user_id`, else the contact's `user_id`).
    pub bsuid: Option<Bsuid>,
    /// The WhatsApp profile name (`contacts[].profile.name`).
    pub name: Option<String>,
    /// The WhatsApp username (`contacts[].profile.username`), for users who adopted one.
    pub username: Option<String>,
}

impl Sender {
    /// Every id the user is known by: the phone first, then the BSUID.
    pub fn keys(&self) -> Vec<ContactKey> {
        let mut keys = Vec::with_capacity(2);
        keys.extend(self.phone.clone().map(ContactKey::Phone));
        keys.extend(self.bsuid.clone().map(ContactKey::Bsuid));
        keys
    }
}

/// The content of an inbound message, by Meta's message `type`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum MessageContent {
    /// `text`: a typed message.
    Text { body: String },
    /// `button`: a tap on a template's quick-reply button.
    Button { text: String, payload: Option<String> },
    /// `interactive` with `button_reply`: a tap on a reply button of an interactive message.
    ButtonReply { id: String, title: String },
    /// `interactive` with `list_reply`: a row picked from a list message.
    ListReply { id: String, title: String, description: Option<String> },
    /// `image`, `video`, `audio`, `document` or `sticker`; `kind` is the type.
    Media { kind: String, caption: Option<String> },
    /// Any other type (`location`, `contacts`, `reaction`, `order`, `system`,
    /// `unsupported`, …), and interactive replies other than buttons and lists.
    Other { kind: String },
}

impl MessageContent {
    /// Texts a trigger phrase is compared with, in priority order: the text
    /// body; a button's text, then its payload; an interactive reply's title,
    /// then its id. Media and other messages have none.
    pub fn phrase_candidates(&self) -> Vec<&str> {
        match self {
            Self::Text { body } => vec![body.as_str()],
            Self::Button { text, payload } => std::iter::once(text.as_str()).chain(payload.as_deref()).collect(),
            Self::ButtonReply { id, title } | Self::ListReply { id, title, .. } => vec![title.as_str(), id.as_str()],
            Self::Media { .. } | Self::Other { .. } => Vec::new(),
        }
    }

    /// What a `next_reply` capture saves: the text, the button or reply title,
    /// the media caption; otherwise the type in angle brackets (`<image>`,
    /// `<location>`).
    pub fn capture_value(&self) -> String {
        match self {
            Self::Text { body } => body.clone(),
            Self::Button { text, .. } => text.clone(),
            Self::ButtonReply { title, .. } | Self::ListReply { title, .. } => title.clone(),
            Self::Media { kind, caption } => caption.clone().unwrap_or_else(|| format!("<{kind}>")),
            Self::Other { kind } => format!("<{kind}>"),
        }
    }

    /// The message type as Meta names it: `text`, `button`, `interactive`, `image`, …
    pub fn kind(&self) -> &str {
        match self {
            Self::Text { .. } => "text",
            Self::Button { .. } => "button",
            Self::ButtonReply { .. } | Self::ListReply { .. } => "interactive",
            Self::Media { kind, .. } | Self::Other { kind } => kind,
        }
    }
}

/// What happened to a message the business sent.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StatusUpdate {
    /// The business number that sent the message (`value.metadata.phone_number_id`).
    pub phone_number_id: String,
    /// The id of the message the business sent.
    pub wamid: Wamid,
    /// What happened to it.
    pub status: DeliveryStatus,
    /// When it happened.
    pub timestamp: Time,
    /// The recipient's phone (`recipient_id`, else the contact's `wa_id`).
    pub recipient_phone: Option<WaId>,
    /// The recipient's BSUID (`recipient_user_id`, else the contact's `user_id`).
    pub recipient_bsuid: Option<Bsuid>,
    /// Why a `failed` message failed, as Meta reports it.
    pub errors: Vec<StatusError>,
}

/// A status's `status`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    Sent,
    Delivered,
    Read,
    Failed,
    /// Any other value, kept as sent (e.g. `played` for voice messages).
    Other(String),
}

impl DeliveryStatus {
    fn from_meta(status: Str<'_>) -> Self {
        match status.as_str() {
            "sent" => Self::Sent,
            "delivered" => Self::Delivered,
            "read" => Self::Read,
            "failed" => Self::Failed,
            _ => Self::Other(status.into_owned()),
        }
    }
}

/// One of a status's `errors[]`, e.g. code 131047, "Re-engagement message".
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StatusError {
    pub code: i64,
    pub title: String,
}

/// Why a webhook body was refused. Each variant with a `path` names the value
/// at fault, e.g. `entry[0].changes[0].value.messages[1]`. The underlying
/// serde or id error is part of the message, so it is not repeated as `source()`.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// The body is not JSON.
    #[error("webhook body is not valid JSON: {0}")]
    InvalidJson(serde_json::Error),
    /// The body is JSON, but a value Avvio needs is missing or of the wrong type.
    #[error("malformed webhook JSON at {path}: {reason}")]
    Malformed { path: String, reason: serde_json::Error },
    /// The body is not a WhatsApp webhook (Messenger sends `page`, Instagram `instagram`).
    #[error("not a WhatsApp Business Account webhook: `object` is {object:?}, expected `whatsapp_business_account`")]
    NotWhatsApp { object: String },
    /// A message gives neither a phone nor a BSUID for its sender.
    #[error("message at {path} has no sender id: neither `from` nor `from_user_id` gives a phone or BSUID")]
    MissingSender { path: String },
    /// A status gives neither a phone nor a BSUID for its recipient.
    #[error(
        "status at {path} has no recipient id: neither `recipient_id` nor `recipient_user_id` gives a phone or BSUID"
    )]
    MissingRecipient { path: String },
    /// A `timestamp` is not Unix seconds.
    #[error("bad timestamp at {path}: {raw} is not Unix seconds")]
    BadTimestamp { path: String, raw: String },
    /// A message or status `id` is not a usable message id.
    #[error("invalid message id at {path}: {reason}")]
    InvalidWamid { path: String, reason: IdError },
    /// A phone or BSUID field holds something that is neither.
    #[error("invalid user id at {path}: {reason}")]
    InvalidUserId { path: String, reason: IdentityError },
}

/// Reads a webhook POST body into its events, in body order. A preference it
/// cannot read is skipped silently: [`parse_webhook_noting`] says which.
///
/// # Errors
///
/// Refuses the whole body, naming the place at fault, when it is not JSON, is
/// not a WhatsApp Business Account webhook, or holds a message or status that
/// lacks an id, a usable timestamp, or any id of its user.
///
/// # Examples
///
/// ```
/// use avvio_common::webhook::{InboundEvent, MessageContent, parse_webhook};
///
/// let body = br#"{"object": "whatsapp_business_account", "entry": [{"id": "102290129340398", "changes": [{
///     "field": "messages",
///     "value": {
///         "metadata": {"display_phone_number": "393401122334", "phone_number_id": "106540352242922"},
///         "contacts": [{"profile": {"name": "Giulia Rossi"}, "wa_id": "393331234567"}],
///         "messages": [{"from": "393331234567", "id": "wamid.HBgMMzkzMzMxMjM0NTY3FQIAEhgUM0VCMEQA",
///                       "timestamp": "1778751012", "type": "text", "text": {"body": "INFO"}}]
///     }
/// }]}]}"#;
/// let events = parse_webhook(body)?;
/// let [InboundEvent::Message(message)] = events.as_slice() else { panic!("one message expected") };
/// assert_eq!(message.content, MessageContent::Text { body: "INFO".into() });
/// assert_eq!(message.sender.name.as_deref(), Some("Giulia Rossi"));
/// # Ok::<(), avvio_common::webhook::WebhookError>(())
/// ```
pub fn parse_webhook(body: &[u8]) -> Result<Vec<InboundEvent>, WebhookError> {
    parse_webhook_noting(body, &mut Vec::new())
}

/// Reads a webhook POST body into its events, in body order, as [`parse_webhook`] does,
/// and appends to `notes` one line per part of the body it skipped rather than refused:
/// a `user_preferences` change or item it cannot read, named by its place and then why,
/// e.g. `entry[0].changes[1].value.user_preferences[0]: missing field `value``.
///
/// # Errors
///
/// As [`parse_webhook`]; `notes` may then hold notes about the parts read before.
///
/// # Examples
///
/// ```
/// use avvio_common::webhook::{InboundEvent, PreferenceValue, parse_webhook_noting};
///
/// let body = br#"{"object": "whatsapp_business_account", "entry": [{"id": "102290129340398", "changes": [{
///     "field": "user_preferences",
///     "value": {
///         "metadata": {"display_phone_number": "393401122334", "phone_number_id": "106540352242922"},
///         "user_preferences": [
///             {"wa_id": "393331234567", "category": "marketing_messages", "value": "stop", "timestamp": 1731705721},
///             {"category": "marketing_messages", "value": "stop", "timestamp": 1731705721}
///         ]
///     }
/// }]}]}"#;
/// let mut notes = Vec::new();
/// let events = parse_webhook_noting(body, &mut notes)?;
/// let [InboundEvent::Preference(preference)] = events.as_slice() else { panic!("one preference expected") };
/// assert_eq!(preference.value, PreferenceValue::Stop);
/// assert_eq!(
///     notes,
///     ["entry[0].changes[0].value.user_preferences[1]: no user id: neither `wa_id` nor `user_id` gives a phone or BSUID"]
/// );
/// # Ok::<(), avvio_common::webhook::WebhookError>(())
/// ```
pub fn parse_webhook_noting(body: &[u8], notes: &mut Vec<String>) -> Result<Vec<InboundEvent>, WebhookError> {
    // Checked once here, so serde can borrow strings without checking each one.
    let json = std::str::from_utf8(body).map_err(|_| not_utf8(body))?;
    // Meta's usual form, read in one strict pass over the bytes.
    if let Some(envelope) = fast::envelope(json) {
        return read_envelope(envelope, notes);
    }
    read_by_serde(json, notes)
}

/// Reads a body the strict reader gave up on: the serde passes, from the fastest that
/// can read it to the one that only delimits each change's `value`.
fn read_by_serde(json: &str, notes: &mut Vec<String>) -> Result<Vec<InboundEvent>, WebhookError> {
    // One typed pass, reading every change's `value` as a `messages` value:
    // Meta sends `value` before `field`, so the field is not known yet.
    let typed = serde_json::from_str::<RawEnvelope<'_, RawChangeValue<'_>>>(json).ok();
    if let Some(envelope) = typed.filter(|envelope| !envelope.has_preferences() && !envelope.has_template_updates()) {
        return read_envelope(envelope, notes);
    }
    // A change of another field with another shape, a `user_preferences` change
    // (left to this pass by the two before), or a malformed body: this pass only
    // delimits each `value`, read later as its `field` says.
    let envelope = serde_json::from_str::<RawEnvelope<'_, &RawValue>>(json).map_err(|error| refusal(json, error))?;
    read_envelope(envelope, notes)
}

/// Each reading [`parse_webhook_noting`] chooses from, alone: for the fuzz targets in
/// `fuzz/`, which hold the two to each other. Not part of Avvio's API.
#[doc(hidden)]
pub mod passes {
    use super::{InboundEvent, WebhookError, fast, read_envelope};

    /// The strict reader's reading of `json`; `None` when it gives up.
    pub fn strict(json: &str, notes: &mut Vec<String>) -> Option<Result<Vec<InboundEvent>, WebhookError>> {
        fast::envelope(json).map(|envelope| read_envelope(envelope, notes))
    }

    /// The serde passes' reading of `json`, as if the strict reader had given up.
    pub fn serde(json: &str, notes: &mut Vec<String>) -> Result<Vec<InboundEvent>, WebhookError> {
        super::read_by_serde(json, notes)
    }
}

/// A webhook body read by the strict reader [`parse_webhook`] tries first, borrowing from
/// the text it is read from: for a reader that finds the body inside a larger document (a
/// line of `avvio simulate`'s events file) and wants it read once. When the strict reader
/// gives up, the body may still be valid: [`parse_webhook`] on its text decides, and words
/// the error.
pub struct TypedWebhook<'a>(RawEnvelope<'a, RawChangeValue<'a>>);

impl<'a> TypedWebhook<'a> {
    /// The body at `reader`, read by the strict reader [`parse_webhook`] tries first; `None`
    /// when that reader gives up (deserialize the text then).
    pub(crate) fn read(reader: &mut Reader<'a>) -> Option<Self> {
        reader.envelope().map(TypedWebhook)
    }

    /// The events of the body, exactly as [`parse_webhook`] reads them. (The strict reader
    /// gives up on a body with a `user_preferences` change, so none is skipped here.)
    pub fn events(self) -> Result<Vec<InboundEvent>, WebhookError> {
        read_envelope(self.0, &mut Vec::new())
    }
}

/// Reads the events out of a body read into its envelope, noting the preferences it skips.
fn read_envelope<'a, V: ChangeValue<'a>>(
    envelope: RawEnvelope<'a, V>,
    notes: &mut Vec<String>,
) -> Result<Vec<InboundEvent>, WebhookError> {
    if envelope.object.as_str() != WHATSAPP_BUSINESS_ACCOUNT {
        return Err(WebhookError::NotWhatsApp { object: envelope.object.into_owned() });
    }
    let top = Path::Top;
    let entries = envelope.entry.ok_or_else(|| missing_field("entry", &top))?;
    let mut events = Vec::new();
    for (i, entry) in entries.into_iter().enumerate() {
        let entry_path = top.item("entry", i);
        let entry_id = entry.id;
        for (j, change) in entry.changes.into_iter().enumerate() {
            let change_path = entry_path.item("changes", j);
            match change.field.as_str() {
                MESSAGES_FIELD => {
                    let value = change.value.ok_or_else(|| missing_field("value", &change_path))?;
                    let value_path = change_path.field("value");
                    read_value(value.read(&value_path)?, &value_path, &mut events)?;
                }
                PREFERENCES_FIELD => read_preferences(change.value, &change_path, &mut events, notes),
                TEMPLATE_STATUS_FIELD => {
                    read_template_status(entry_id, change.value, &entry_path, &change_path, &mut events, notes)
                }
                _ => {}
            }
        }
    }
    Ok(events)
}

/// Why a body that is not UTF-8 is not JSON, as serde_json words it.
#[cold]
fn not_utf8(body: &[u8]) -> WebhookError {
    let error = match serde_json::from_slice::<Value>(body) {
        Err(error) => error,
        // Unreachable: JSON text outside strings is ASCII, and serde_json checks strings.
        Ok(_) => serde_json::Error::custom("invalid UTF-8"),
    };
    WebhookError::InvalidJson(error)
}

/// Why the typed pass refused the envelope, checked again in the documented
/// order: not JSON at all, then not a WhatsApp webhook, then malformed.
#[cold]
fn refusal(json: &str, error: serde_json::Error) -> WebhookError {
    // The typed pass skips values it does not read without checking them as
    // strictly as a full parse does; a full parse words syntax errors as before.
    if let Err(error) = serde_json::from_str::<Value>(json) {
        return WebhookError::InvalidJson(error);
    }
    let top = Path::Top;
    match decode::<RawObject<'_>>(json, &top) {
        Err(refusal) => refusal,
        Ok(RawObject { object, .. }) if object.as_str() != WHATSAPP_BUSINESS_ACCOUNT => {
            WebhookError::NotWhatsApp { object: object.into_owned() }
        }
        Ok(_) => locate::<RawEnvelope<'_, &RawValue>>(json, &top, error),
    }
}

/// Reads one `messages` change's `value`, appending its messages, then its statuses.
fn read_value(value: RawChangeValue<'_>, path: &Path<'_>, events: &mut Vec<InboundEvent>) -> Result<(), WebhookError> {
    let phone_number_id = value.metadata.phone_number_id.as_str();
    let contacts = read_contacts(value.contacts, path)?;
    let (messages, statuses) = (value.messages.unwrap_or_default(), value.statuses.unwrap_or_default());
    // Exactly: a body usually holds one event, and a simulation keeps every body's events.
    events.reserve_exact(messages.len() + statuses.len());
    for (k, RawMessageObject(message)) in messages.into_iter().enumerate() {
        let message = read_message(message, &path.item("messages", k), phone_number_id, &contacts)?;
        events.push(InboundEvent::Message(message));
    }
    for (k, status) in statuses.into_iter().enumerate() {
        let status = read_status(status, &path.item("statuses", k), phone_number_id, &contacts)?;
        events.push(InboundEvent::Status(status));
    }
    Ok(())
}

/// Reads a change value's `contacts[]`, `path` naming the value.
#[inline(always)] // Read in `read_value` as if written there, as before preferences read contacts too.
fn read_contacts<'a>(contacts: Option<Vec<RawContact<'a>>>, path: &Path<'_>) -> Result<Vec<Contact<'a>>, WebhookError> {
    contacts
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(k, contact)| Contact::read(contact, &path.item("contacts", k)))
        .collect()
}

/// Reads one `user_preferences` change, appending an event per item it reads and noting
/// each item it skips, or the whole change when its value is not one Avvio can read.
// Cold: rare beside messages, and kept out of `read_envelope`, on the path of every message.
#[cold]
fn read_preferences<'a, V: ChangeValue<'a>>(
    value: Option<V>,
    path: &Path<'_>,
    events: &mut Vec<InboundEvent>,
    notes: &mut Vec<String>,
) {
    let value_path = path.field("value");
    let read = match value {
        Some(value) => value.preferences(&value_path).map_err(Skipped::from),
        None => Err(Skipped::from(missing_field("value", path))),
    };
    if let Err(Skipped(note)) = read.and_then(|value| read_preference_value(value, &value_path, events, notes)) {
        notes.push(note);
    }
}

/// Reads a `user_preferences` change's `value`, as [`read_preferences`] says; `Err` skips it.
fn read_preference_value(
    value: RawPreferenceValue<'_>,
    path: &Path<'_>,
    events: &mut Vec<InboundEvent>,
    notes: &mut Vec<String>,
) -> Result<(), Skipped> {
    let contacts = read_contacts(value.contacts, path)?;
    let items = value.user_preferences.ok_or_else(|| missing_field("user_preferences", path))?;
    for (k, item) in items.into_iter().enumerate() {
        match read_preference(item, &path.item("user_preferences", k), &value.metadata.phone_number_id, &contacts) {
            Ok(preference) => events.push(InboundEvent::Preference(preference)),
            Err(Skipped(note)) => notes.push(note),
        }
    }
    Ok(())
}

fn read_preference(
    raw: JsonText<'_>,
    path: &Path<'_>,
    phone_number_id: &Str<'_>,
    contacts: &[Contact<'_>],
) -> Result<PreferenceUpdate, Skipped> {
    let RawPreferenceObject(raw) = decode(raw.0, path)?;
    let timestamp = read_timestamp(raw.timestamp, path)?;
    let ids =
        Ids::new(read_key(raw.wa_id.as_ref(), path, "wa_id")?, read_bsuid(raw.user_id.as_ref(), path, "user_id")?);
    let contact = ids.contact_in(contacts);
    let ids = ids.completed_by(contact);
    if ids.is_empty() {
        return Err(Skipped::at(path, "no user id: neither `wa_id` nor `user_id` gives a phone or BSUID"));
    }
    Ok(PreferenceUpdate {
        phone_number_id: phone_number_id.as_str().to_owned(),
        user: ids.into_sender(contact),
        category: PreferenceCategory::from_meta(raw.category),
        value: PreferenceValue::from_meta(raw.value),
        timestamp,
    })
}

/// Reads one `message_template_status_update` change into an event, or notes why it skipped
/// it (as a preference, a change Avvio cannot read is skipped, not the body refused).
#[cold]
fn read_template_status<'a, V: ChangeValue<'a>>(
    entry_id: Option<JsonText<'_>>,
    value: Option<V>,
    entry_path: &Path<'_>,
    path: &Path<'_>,
    events: &mut Vec<InboundEvent>,
    notes: &mut Vec<String>,
) {
    let value_path = path.field("value");
    let read = match value {
        Some(value) => value.template_status(&value_path).map_err(Skipped::from),
        None => Err(Skipped::from(missing_field("value", path))),
    };
    let event = read.and_then(|raw| {
        let waba_id = entry_id
            .and_then(json_id)
            .ok_or_else(|| Skipped::at(entry_path, "no `id` (the WhatsApp Business Account)"))?;
        let text = |field: Option<Str<'_>>, name: &'static str| {
            non_blank_owned(field).ok_or_else(|| Skipped::from(missing_field(name, &value_path)))
        };
        Ok(TemplateStatusUpdate {
            waba_id,
            template_id: raw.message_template_id.and_then(json_id),
            name: text(raw.message_template_name, "message_template_name")?,
            language: text(raw.message_template_language, "message_template_language")?,
            event: text(raw.event, "event")?,
            reason: non_blank_owned(raw.reason),
        })
    });
    match event {
        Ok(event) => events.push(InboundEvent::TemplateStatus(event)),
        Err(Skipped(note)) => notes.push(note),
    }
}

/// An id written as a JSON string or number, as its text; `None` for anything else.
fn json_id(raw: JsonText<'_>) -> Option<String> {
    match serde_json::from_str::<Value>(raw.0).ok()? {
        Value::String(id) if !id.trim().is_empty() => Some(id.trim().to_string()),
        Value::Number(id) => Some(id.to_string()),
        _ => None,
    }
}

/// A part of a body skipped rather than refused, as its note says it: where, then why.
#[derive(Debug)]
struct Skipped(String);

impl Skipped {
    fn at(path: &Path<'_>, reason: &str) -> Self {
        Self(format!("{path}: {reason}"))
    }
}

impl From<WebhookError> for Skipped {
    fn from(error: WebhookError) -> Self {
        Self(match error {
            WebhookError::Malformed { path, reason } => format!("{path}: {reason}"),
            WebhookError::BadTimestamp { path, raw } => format!("{path}: {raw} is not Unix seconds"),
            WebhookError::InvalidUserId { path, reason } => format!("{path}: {reason}"),
            // Not met reading a preference: worded as the error is.
            error => error.to_string(),
        })
    }
}

fn read_message(
    raw: RawMessage<'_>,
    path: &Path<'_>,
    phone_number_id: &str,
    contacts: &[Contact<'_>],
) -> Result<InboundMessage, WebhookError> {
    let wamid = read_wamid(&raw.id, path)?;
    let timestamp = read_timestamp(raw.timestamp, path)?;
    let ids = Ids::new(
        read_key(raw.from.as_ref(), path, "from")?,
        read_bsuid(raw.from_user_id.as_ref(), path, "from_user_id")?,
    );
    let contact = ids.contact_in(contacts);
    let ids = ids.completed_by(contact);
    if ids.is_empty() {
        return Err(WebhookError::MissingSender { path: path.to_string() });
    }
    let content = raw.into_content(path)?;
    Ok(InboundMessage {
        phone_number_id: phone_number_id.to_owned(),
        wamid,
        sender: ids.into_sender(contact),
        timestamp,
        content,
    })
}

fn read_status(
    raw: RawStatus<'_>,
    path: &Path<'_>,
    phone_number_id: &str,
    contacts: &[Contact<'_>],
) -> Result<StatusUpdate, WebhookError> {
    let wamid = read_wamid(&raw.id, path)?;
    let timestamp = read_timestamp(raw.timestamp, path)?;
    // In a group, `recipient_id` is the group; the person is the participant.
    let (phone_field, phone_raw) = match raw.recipient_type.as_ref().map(Str::as_str) {
        Some("group") => ("recipient_participant_id", raw.recipient_participant_id),
        _ => ("recipient_id", raw.recipient_id),
    };
    let ids = Ids::new(
        read_key(phone_raw.as_ref(), path, phone_field)?,
        read_bsuid(raw.recipient_user_id.as_ref(), path, "recipient_user_id")?,
    );
    let contact = ids.contact_in(contacts);
    let ids = ids.completed_by(contact);
    if ids.is_empty() {
        return Err(WebhookError::MissingRecipient { path: path.to_string() });
    }
    Ok(StatusUpdate {
        phone_number_id: phone_number_id.to_owned(),
        wamid,
        status: DeliveryStatus::from_meta(raw.status),
        timestamp,
        recipient_phone: ids.phone,
        recipient_bsuid: ids.bsuid,
        errors: raw.errors.unwrap_or_default().into_iter().map(RawStatusError::into_error).collect(),
    })
}

/// A user's ids as one object of the body gives them.
#[derive(Debug)]
struct Ids {
    phone: Option<WaId>,
    bsuid: Option<Bsuid>,
}

impl Ids {
    /// Joins a phone field's value (which may also hold a BSUID) with a BSUID
    /// field's; the BSUID field wins when both give a BSUID.
    fn new(phone_field: Option<ContactKey>, bsuid_field: Option<Bsuid>) -> Self {
        let (phone, bsuid) = match phone_field {
            Some(ContactKey::Phone(phone)) => (Some(phone), None),
            Some(ContactKey::Bsuid(bsuid)) => (None, Some(bsuid)),
            None => (None, None),
        };
        Self { phone, bsuid: bsuid_field.or(bsuid) }
    }

    fn is_empty(&self) -> bool {
        self.phone.is_none() && self.bsuid.is_none()
    }

    /// The `contacts[]` entry about this user: one sharing an id with it and
    /// contradicting none, else the only contact if it contradicts none.
    fn contact_in<'c, 'a>(&self, contacts: &'c [Contact<'a>]) -> Option<&'c Contact<'a>> {
        let shares_an_id = |c: &Contact<'_>| {
            (c.phone.is_some() && c.phone == self.phone) || (c.bsuid.is_some() && c.bsuid == self.bsuid)
        };
        contacts.iter().find(|c| shares_an_id(c) && self.agrees_with(c)).or(match contacts {
            [only] if self.agrees_with(only) => Some(only),
            _ => None,
        })
    }

    /// Whether no id known to both sides differs.
    fn agrees_with(&self, contact: &Contact<'_>) -> bool {
        fn agree<T: PartialEq>(a: Option<&T>, b: Option<&T>) -> bool {
            !matches!((a, b), (Some(a), Some(b)) if a != b)
        }
        agree(self.phone.as_ref(), contact.phone.as_ref()) && agree(self.bsuid.as_ref(), contact.bsuid.as_ref())
    }

    /// The user these ids are, named as its contact names it.
    #[inline(always)] // As `read_contacts`.
    fn into_sender(self, contact: Option<&Contact<'_>>) -> Sender {
        Sender {
            phone: self.phone,
            bsuid: self.bsuid,
            name: contact.and_then(|c| c.name.as_ref()).map(|name| name.as_str().to_owned()),
            username: contact.and_then(|c| c.username.as_ref()).map(|username| username.as_str().to_owned()),
        }
    }

    /// Fills the ids this object left out from its contact.
    fn completed_by(self, contact: Option<&Contact<'_>>) -> Self {
        match contact {
            Some(c) => {
                Self { phone: self.phone.or_else(|| c.phone.clone()), bsuid: self.bsuid.or_else(|| c.bsuid.clone()) }
            }
            None => self,
        }
    }
}

/// A `contacts[]` entry, read; its texts still borrowed from the body.
#[derive(Debug)]
struct Contact<'a> {
    phone: Option<WaId>,
    bsuid: Option<Bsuid>,
    name: Option<Str<'a>>,
    username: Option<Str<'a>>,
}

impl<'a> Contact<'a> {
    #[inline(always)] // As `read_contacts`.
    fn read(raw: RawContact<'a>, path: &Path<'_>) -> Result<Self, WebhookError> {
        let ids =
            Ids::new(read_key(raw.wa_id.as_ref(), path, "wa_id")?, read_bsuid(raw.user_id.as_ref(), path, "user_id")?);
        let profile = raw.profile.unwrap_or_default();
        Ok(Self {
            phone: ids.phone,
            bsuid: ids.bsuid,
            name: non_blank(profile.name),
            username: non_blank(profile.username).or_else(|| non_blank(raw.username)),
        })
    }
}

/// Where a value sits in the body, e.g. `entry[0].changes[1].value.messages[2]`:
/// a chain of steps on the stack, written out only when an error names it.
#[derive(Debug, Clone, Copy)]
enum Path<'p> {
    Top,
    Field(&'p Path<'p>, &'static str),
    Item(&'p Path<'p>, &'static str, usize),
}

impl<'p> Path<'p> {
    fn field(&'p self, name: &'static str) -> Self {
        Self::Field(self, name)
    }

    fn item(&'p self, name: &'static str, index: usize) -> Self {
        Self::Item(self, name, index)
    }

    fn write(&self, out: &mut String) {
        match *self {
            Self::Top => {}
            Self::Field(parent, name) => {
                parent.write(out);
                push_field(out, name);
            }
            Self::Item(parent, name, index) => {
                parent.write(out);
                push_field(out, name);
                push_index(out, index);
            }
        }
    }

    /// This path followed by `rest`, a path serde_path_to_error found below it.
    fn join(&self, rest: &serde_path_to_error::Path) -> String {
        let mut out = String::new();
        self.write(&mut out);
        for segment in rest {
            match segment {
                Segment::Seq { index } => push_index(&mut out, *index),
                Segment::Map { key } => push_field(&mut out, key),
                Segment::Enum { variant } => push_field(&mut out, variant),
                Segment::Unknown => push_field(&mut out, "?"),
            }
        }
        shown(out)
    }
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::new();
        self.write(&mut out);
        f.write_str(&shown(out))
    }
}

fn push_field(out: &mut String, name: &str) {
    if !out.is_empty() {
        out.push('.');
    }
    out.push_str(name);
}

fn push_index(out: &mut String, index: usize) {
    use fmt::Write as _;
    let _ = write!(out, "[{index}]");
}

/// A written path, or what errors call the empty one.
fn shown(path: String) -> String {
    if path.is_empty() { "the top level".to_owned() } else { path }
}

/// Deserializes `json`, the text of the value at `path`.
fn decode<'a, T: Deserialize<'a>>(json: &'a str, path: &Path<'_>) -> Result<T, WebhookError> {
    serde_json::from_str(json).map_err(|error| locate::<T>(json, path, error))
}

/// Turns `error`, met deserializing `json` (the value at `path`) as a `T`,
/// into a [`WebhookError::Malformed`] naming the place at fault: `json` is
/// deserialized again, this time tracking where the deserializer is.
#[cold]
fn locate<'a, T: Deserialize<'a>>(json: &'a str, path: &Path<'_>, error: serde_json::Error) -> WebhookError {
    let mut deserializer = serde_json::Deserializer::from_str(json);
    let (path, reason) = match serde_path_to_error::deserialize::<_, T>(&mut deserializer) {
        Err(tracked) => (path.join(tracked.path()), tracked.into_inner()),
        // Not met inside the value (e.g. trailing characters): blame the value.
        Ok(_) => (path.to_string(), error),
    };
    WebhookError::Malformed { path, reason: without_position(reason) }
}

/// `error` without serde_json's ` at line L column C`: the path says where,
/// and a position would count from the start of the change's `value`.
fn without_position(error: serde_json::Error) -> serde_json::Error {
    if error.line() == 0 {
        return error;
    }
    let message = error.to_string();
    let position = format!(" at line {} column {}", error.line(), error.column());
    serde_json::Error::custom(message.strip_suffix(&position).unwrap_or(&message))
}

fn missing_field(field: &'static str, path: &Path<'_>) -> WebhookError {
    WebhookError::Malformed { path: path.to_string(), reason: serde_json::Error::missing_field(field) }
}

fn read_wamid(id: &Str<'_>, path: &Path<'_>) -> Result<Wamid, WebhookError> {
    Wamid::parse(id.as_str())
        .map_err(|reason| WebhookError::InvalidWamid { path: path.field("id").to_string(), reason })
}

/// Reads Meta's `timestamp`: Unix seconds, as a string (or, leniently, a number).
fn read_timestamp(raw: JsonText<'_>, path: &Path<'_>) -> Result<Time, WebhookError> {
    let JsonText(raw) = raw;
    // Meta's own form, a string of digits without escapes, is read here directly.
    let plain = raw.strip_prefix('"').and_then(|text| text.strip_suffix('"')).filter(|text| !text.contains('\\'));
    let seconds = match plain {
        Some(text) => text.trim().parse().ok(),
        None => serde_json::from_str::<UnixSeconds>(raw).ok().and_then(|seconds| seconds.0),
    };
    seconds.and_then(from_unix_seconds).ok_or_else(|| WebhookError::BadTimestamp {
        path: path.field("timestamp").to_string(),
        // As compact JSON, whatever the spacing and escapes in the body.
        raw: serde_json::from_str::<Value>(raw).map_or_else(|_| raw.to_owned(), |v| v.to_string()),
    })
}

/// Reads a phone field (`from`, `wa_id`, `recipient_id`), which may also hold a BSUID.
fn read_key(raw: Option<&Str<'_>>, path: &Path<'_>, field: &'static str) -> Result<Option<ContactKey>, WebhookError> {
    present(raw).map(|raw| ContactKey::parse(raw).map_err(|reason| invalid_user_id(reason, path, field))).transpose()
}

/// Reads a BSUID field (`from_user_id`, `user_id`, `recipient_user_id`).
fn read_bsuid(raw: Option<&Str<'_>>, path: &Path<'_>, field: &'static str) -> Result<Option<Bsuid>, WebhookError> {
    present(raw).map(|raw| Bsuid::parse(raw).map_err(|reason| invalid_user_id(reason, path, field))).transpose()
}

fn invalid_user_id(reason: IdentityError, path: &Path<'_>, field: &'static str) -> WebhookError {
    WebhookError::InvalidUserId { path: path.field(field).to_string(), reason }
}

/// An id field that is set and not blank.
fn present<'s>(raw: Option<&'s Str<'_>>) -> Option<&'s str> {
    raw.map(Str::as_str).filter(|raw| !raw.trim().is_empty())
}

/// An optional text that is set and not blank.
fn non_blank(text: Option<Str<'_>>) -> Option<Str<'_>> {
    text.filter(|text| !text.as_str().trim().is_empty())
}

/// An optional text that is set and not blank, owned.
fn non_blank_owned(text: Option<Str<'_>>) -> Option<String> {
    non_blank(text).map(Str::into_owned)
}

// ---------------------------------------------------------------------------
// Meta's shapes, as far as Avvio reads them. Unknown fields are ignored.
// Texts borrow from the body; they are copied only into the events.

/// A JSON string: borrowed from the body, or owned when it had escapes to undo.
#[derive(Debug, Default)]
struct Str<'a>(Cow<'a, str>);

impl Str<'_> {
    fn as_str(&self) -> &str {
        &self.0
    }

    fn into_owned(self) -> String {
        self.0.into_owned()
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Str<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StrVisitor;

        impl<'de> Visitor<'de> for StrVisitor {
            type Value = Str<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }

            fn visit_borrowed_str<E: de::Error>(self, text: &'de str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Borrowed(text)))
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(text.to_owned())))
            }

            fn visit_string<E: de::Error>(self, text: String) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(text)))
            }
        }

        deserializer.deserialize_str(StrVisitor)
    }
}

/// A value's JSON text, as the body writes it (without the spacing around it).
#[derive(Debug, Clone, Copy)]
struct JsonText<'a>(&'a str);

impl<'de: 'a, 'a> Deserialize<'de> for JsonText<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        <&'de RawValue>::deserialize(deserializer).map(|raw| JsonText(raw.get()))
    }
}

/// A `timestamp`'s Unix seconds: from a string of digits or, leniently, an
/// integer; `None` for any other string or number. Other JSON fails.
struct UnixSeconds(Option<i64>);

impl<'de> Deserialize<'de> for UnixSeconds {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SecondsVisitor;

        impl Visitor<'_> for SecondsVisitor {
            type Value = UnixSeconds;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("Unix seconds as a string or a number")
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
                Ok(UnixSeconds(text.trim().parse().ok()))
            }

            fn visit_i64<E: de::Error>(self, seconds: i64) -> Result<Self::Value, E> {
                Ok(UnixSeconds(Some(seconds)))
            }

            fn visit_u64<E: de::Error>(self, seconds: u64) -> Result<Self::Value, E> {
                Ok(UnixSeconds(i64::try_from(seconds).ok()))
            }

            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Ok(UnixSeconds(None))
            }
        }

        deserializer.deserialize_any(SecondsVisitor)
    }
}

/// The envelope's `object` alone, to tell other products' bodies apart before
/// complaining about their shape; `entry` is here for array-shaped bodies.
#[derive(Deserialize)]
#[serde(expecting = "a webhook object with `object` and `entry`")]
struct RawObject<'a> {
    #[serde(borrow)]
    object: Str<'a>,
    #[serde(rename = "entry")]
    _entry: Option<IgnoredAny>,
}

/// The body; `V` is how each change's `value` is read (see [`ChangeValue`]).
#[derive(Deserialize)]
#[serde(expecting = "a webhook object with `object` and `entry`")]
struct RawEnvelope<'a, V> {
    #[serde(borrow)]
    object: Str<'a>,
    #[serde(borrow)]
    entry: Option<Vec<RawEntry<'a, V>>>,
}

impl<V> RawEnvelope<'_, V> {
    /// Whether a change is of the `user_preferences` field.
    fn has_preferences(&self) -> bool {
        let mut changes = self.entry.iter().flatten().flat_map(|entry| &entry.changes);
        changes.any(|change| change.field.as_str() == PREFERENCES_FIELD)
    }

    /// Whether a change is of the `message_template_status_update` field (read, like
    /// preferences, by the pass that only delimits values).
    fn has_template_updates(&self) -> bool {
        let mut changes = self.entry.iter().flatten().flat_map(|entry| &entry.changes);
        changes.any(|change| change.field.as_str() == TEMPLATE_STATUS_FIELD)
    }
}

#[derive(Deserialize)]
#[serde(expecting = "an entry object with `changes`")]
struct RawEntry<'a, V> {
    #[serde(borrow)]
    changes: Vec<RawChange<'a, V>>,
    /// The WhatsApp Business Account, read for template changes only (the strict reader,
    /// which leaves those to the serde passes, does not read it).
    #[serde(borrow, default)]
    id: Option<JsonText<'a>>,
}

#[derive(Deserialize)]
#[serde(expecting = "a change object with `field` and `value`")]
struct RawChange<'a, V> {
    #[serde(borrow)]
    field: Str<'a>,
    value: Option<V>,
}

/// A change's `value`, as the pass over the body left it: read as a
/// `messages` value already, or only delimited, as it may be of any shape.
trait ChangeValue<'a> {
    /// The `messages` value this is, `path` naming it.
    fn read(self, path: &Path<'_>) -> Result<RawChangeValue<'a>, WebhookError>;

    /// The `user_preferences` value this is, `path` naming it.
    fn preferences(self, path: &Path<'_>) -> Result<RawPreferenceValue<'a>, WebhookError>;

    /// The `message_template_status_update` value this is, `path` naming it.
    fn template_status(self, path: &Path<'_>) -> Result<RawTemplateStatus<'a>, WebhookError>;
}

impl<'a> ChangeValue<'a> for RawChangeValue<'a> {
    fn read(self, _: &Path<'_>) -> Result<RawChangeValue<'a>, WebhookError> {
        Ok(self)
    }

    /// Not met: a body with a `user_preferences` change is read by the pass that only
    /// delimits values ([`parse_webhook_noting`]). Were it met, the change would be skipped
    /// with this note, not the body refused.
    fn preferences(self, path: &Path<'_>) -> Result<RawPreferenceValue<'a>, WebhookError> {
        let reason = serde_json::Error::custom("read as a `messages` value, its `user_preferences` not kept");
        Err(WebhookError::Malformed { path: path.to_string(), reason })
    }

    /// Not met, as [`ChangeValue::preferences`]: template changes are left to the pass that
    /// only delimits values.
    fn template_status(self, path: &Path<'_>) -> Result<RawTemplateStatus<'a>, WebhookError> {
        let reason = serde_json::Error::custom("read as a `messages` value, its template status not kept");
        Err(WebhookError::Malformed { path: path.to_string(), reason })
    }
}

impl<'a> ChangeValue<'a> for &'a RawValue {
    fn read(self, path: &Path<'_>) -> Result<RawChangeValue<'a>, WebhookError> {
        decode(self.get(), path)
    }

    fn preferences(self, path: &Path<'_>) -> Result<RawPreferenceValue<'a>, WebhookError> {
        decode(self.get(), path)
    }

    fn template_status(self, path: &Path<'_>) -> Result<RawTemplateStatus<'a>, WebhookError> {
        decode(self.get(), path)
    }
}

/// A `message_template_status_update` change's `value`.
#[derive(Deserialize)]
#[serde(expecting = "a template status object")]
struct RawTemplateStatus<'a> {
    #[serde(borrow, default)]
    event: Option<Str<'a>>,
    #[serde(borrow, default)]
    message_template_id: Option<JsonText<'a>>,
    #[serde(borrow, default)]
    message_template_name: Option<Str<'a>>,
    #[serde(borrow, default)]
    message_template_language: Option<Str<'a>>,
    #[serde(borrow, default)]
    reason: Option<Str<'a>>,
}

#[derive(Deserialize)]
#[serde(expecting = "a change value with `metadata`")]
struct RawChangeValue<'a> {
    #[serde(borrow)]
    metadata: RawMetadata<'a>,
    #[serde(borrow)]
    contacts: Option<Vec<RawContact<'a>>>,
    #[serde(borrow)]
    messages: Option<Vec<RawMessageObject<'a>>>,
    #[serde(borrow)]
    statuses: Option<Vec<RawStatus<'a>>>,
}

/// A `user_preferences` change's `value`.
#[derive(Deserialize)]
#[serde(expecting = "a change value with `metadata`")]
struct RawPreferenceValue<'a> {
    #[serde(borrow)]
    metadata: RawMetadata<'a>,
    #[serde(borrow)]
    contacts: Option<Vec<RawContact<'a>>>,
    /// Each item only delimited here, so that one Avvio cannot read is skipped alone.
    #[serde(borrow)]
    user_preferences: Option<Vec<JsonText<'a>>>,
}

#[derive(Deserialize)]
#[serde(expecting = "a metadata object with `phone_number_id`")]
struct RawMetadata<'a> {
    #[serde(borrow)]
    phone_number_id: Str<'a>,
}

#[derive(Deserialize)]
#[serde(expecting = "a contact object")]
struct RawContact<'a> {
    #[serde(borrow)]
    wa_id: Option<Str<'a>>,
    #[serde(borrow)]
    user_id: Option<Str<'a>>,
    #[serde(borrow)]
    profile: Option<RawProfile<'a>>,
    /// Where some providers document the username; Meta puts it in `profile`.
    #[serde(borrow)]
    username: Option<Str<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(expecting = "a profile object")]
struct RawProfile<'a> {
    #[serde(borrow)]
    name: Option<Str<'a>>,
    #[serde(borrow)]
    username: Option<Str<'a>>,
}

/// A `messages[]` item, which must be a JSON object: serde would also read
/// a [`RawMessage`] from an array, by position.
struct RawMessageObject<'a>(RawMessage<'a>);

impl<'de: 'a, 'a> Deserialize<'de> for RawMessageObject<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor;

        impl<'de> Visitor<'de> for ObjectVisitor {
            type Value = RawMessageObject<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a message object")
            }

            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                RawMessage::deserialize(MapAccessDeserializer::new(map)).map(RawMessageObject)
            }
        }

        deserializer.deserialize_map(ObjectVisitor)
    }
}

#[derive(Deserialize)]
#[serde(expecting = "a message object")]
struct RawMessage<'a> {
    #[serde(borrow)]
    id: Str<'a>,
    #[serde(borrow)]
    from: Option<Str<'a>>,
    #[serde(borrow)]
    from_user_id: Option<Str<'a>>,
    /// Any JSON: read by [`read_timestamp`], which quotes it when it is not Unix seconds.
    #[serde(borrow)]
    timestamp: JsonText<'a>,
    #[serde(rename = "type", borrow)]
    kind: Str<'a>,
    // The objects the content may sit in, by `type`.
    #[serde(borrow)]
    text: Option<RawText<'a>>,
    #[serde(borrow)]
    button: Option<RawButton<'a>>,
    /// Boxed: it is large and rarely there, and a message is moved around whole.
    #[serde(borrow)]
    interactive: Option<Box<RawInteractive<'a>>>,
    #[serde(borrow)]
    image: Option<RawMedia<'a>>,
    #[serde(borrow)]
    video: Option<RawMedia<'a>>,
    #[serde(borrow)]
    audio: Option<RawMedia<'a>>,
    #[serde(borrow)]
    document: Option<RawMedia<'a>>,
    #[serde(borrow)]
    sticker: Option<RawMedia<'a>>,
}

impl RawMessage<'_> {
    fn into_content(self, path: &Path<'_>) -> Result<MessageContent, WebhookError> {
        let media = match self.kind.as_str() {
            "text" => {
                let text = self.text.ok_or_else(|| missing_field("text", path))?;
                return Ok(MessageContent::Text { body: text.body.into_owned() });
            }
            "button" => {
                let button = self.button.ok_or_else(|| missing_field("button", path))?;
                return Ok(MessageContent::Button {
                    text: button.text.into_owned(),
                    payload: non_blank_owned(button.payload),
                });
            }
            "interactive" => {
                let interactive = self.interactive.ok_or_else(|| missing_field("interactive", path))?;
                return interactive.into_content(&path.field("interactive"));
            }
            "image" => self.image,
            "video" => self.video,
            "audio" => self.audio,
            "document" => self.document,
            "sticker" => self.sticker,
            _ => {
                return Ok(MessageContent::Other { kind: self.kind.into_owned() });
            }
        };
        Ok(MessageContent::Media {
            kind: self.kind.into_owned(),
            caption: media.and_then(|media| non_blank_owned(media.caption)),
        })
    }
}

#[derive(Deserialize)]
#[serde(expecting = "a text object with `body`")]
struct RawText<'a> {
    #[serde(borrow)]
    body: Str<'a>,
}

#[derive(Deserialize)]
#[serde(expecting = "a button object with `text`")]
struct RawButton<'a> {
    #[serde(borrow)]
    text: Str<'a>,
    #[serde(borrow)]
    payload: Option<Str<'a>>,
}

#[derive(Deserialize)]
#[serde(expecting = "an interactive object with `type`")]
struct RawInteractive<'a> {
    #[serde(rename = "type", borrow)]
    kind: Str<'a>,
    #[serde(borrow)]
    button_reply: Option<RawReply<'a>>,
    #[serde(borrow)]
    list_reply: Option<RawReply<'a>>,
}

impl RawInteractive<'_> {
    fn into_content(self, path: &Path<'_>) -> Result<MessageContent, WebhookError> {
        match self.kind.as_str() {
            "button_reply" => {
                let reply = self.button_reply.ok_or_else(|| missing_field("button_reply", path))?;
                Ok(MessageContent::ButtonReply { id: reply.id.into_owned(), title: reply.title.into_owned() })
            }
            "list_reply" => {
                let reply = self.list_reply.ok_or_else(|| missing_field("list_reply", path))?;
                Ok(MessageContent::ListReply {
                    id: reply.id.into_owned(),
                    title: reply.title.into_owned(),
                    description: non_blank_owned(reply.description),
                })
            }
            // Flow replies (`nfm_reply`) and whatever Meta adds next.
            _ => Ok(MessageContent::Other { kind: "interactive".to_owned() }),
        }
    }
}

#[derive(Deserialize)]
#[serde(expecting = "a reply object with `id` and `title`")]
struct RawReply<'a> {
    #[serde(borrow)]
    id: Str<'a>,
    #[serde(borrow)]
    title: Str<'a>,
    #[serde(borrow)]
    description: Option<Str<'a>>,
}

#[derive(Deserialize)]
#[serde(expecting = "a media object")]
struct RawMedia<'a> {
    #[serde(borrow)]
    caption: Option<Str<'a>>,
}

#[derive(Deserialize)]
#[serde(expecting = "a status object")]
struct RawStatus<'a> {
    #[serde(borrow)]
    id: Str<'a>,
    #[serde(borrow)]
    status: Str<'a>,
    /// Any JSON, as a message's `timestamp`.
    #[serde(borrow)]
    timestamp: JsonText<'a>,
    #[serde(borrow)]
    recipient_id: Option<Str<'a>>,
    #[serde(borrow)]
    recipient_user_id: Option<Str<'a>>,
    #[serde(borrow)]
    recipient_type: Option<Str<'a>>,
    #[serde(borrow)]
    recipient_participant_id: Option<Str<'a>>,
    #[serde(borrow)]
    errors: Option<Vec<RawStatusError<'a>>>,
}

#[derive(Deserialize)]
#[serde(expecting = "an error object with `code`")]
struct RawStatusError<'a> {
    code: i64,
    #[serde(borrow)]
    title: Option<Str<'a>>,
    #[serde(borrow)]
    message: Option<Str<'a>>,
}

impl RawStatusError<'_> {
    fn into_error(self) -> StatusError {
        StatusError { code: self.code, title: self.title.or(self.message).map(Str::into_owned).unwrap_or_default() }
    }
}

/// A `user_preferences[]` item, which must be a JSON object: serde would also read
/// a [`RawPreference`] from an array, by position.
struct RawPreferenceObject<'a>(RawPreference<'a>);

impl<'de: 'a, 'a> Deserialize<'de> for RawPreferenceObject<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor;

        impl<'de> Visitor<'de> for ObjectVisitor {
            type Value = RawPreferenceObject<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a preference object")
            }

            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                RawPreference::deserialize(MapAccessDeserializer::new(map)).map(RawPreferenceObject)
            }
        }

        deserializer.deserialize_map(ObjectVisitor)
    }
}

#[derive(Deserialize)]
#[serde(expecting = "a preference object with `category`, `value` and `timestamp`")]
struct RawPreference<'a> {
    #[serde(borrow)]
    wa_id: Option<Str<'a>>,
    #[serde(borrow)]
    user_id: Option<Str<'a>>,
    #[serde(borrow)]
    category: Str<'a>,
    #[serde(borrow)]
    value: Str<'a>,
    /// Any JSON, as a message's `timestamp`.
    #[serde(borrow)]
    timestamp: JsonText<'a>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    const TEXT: &str = include_str!("../../../tests/fixtures/meta/text.json");
    const TEXT_BSUID_ONLY: &str = include_str!("../../../tests/fixtures/meta/text_bsuid_only.json");
    const TEXT_PHONE_AND_BSUID: &str = include_str!("../../../tests/fixtures/meta/text_phone_and_bsuid.json");
    const BUTTON: &str = include_str!("../../../tests/fixtures/meta/button.json");
    const BUTTON_REPLY: &str = include_str!("../../../tests/fixtures/meta/button_reply.json");
    const LIST_REPLY: &str = include_str!("../../../tests/fixtures/meta/list_reply.json");
    const IMAGE_WITH_CAPTION: &str = include_str!("../../../tests/fixtures/meta/image_with_caption.json");
    const IMAGE: &str = include_str!("../../../tests/fixtures/meta/image.json");
    const LOCATION: &str = include_str!("../../../tests/fixtures/meta/location.json");
    const REACTION: &str = include_str!("../../../tests/fixtures/meta/reaction.json");
    const STATUS_DELIVERED: &str = include_str!("../../../tests/fixtures/meta/status_delivered.json");
    const STATUS_FAILED: &str = include_str!("../../../tests/fixtures/meta/status_failed.json");
    const BATCH: &str = include_str!("../../../tests/fixtures/meta/batch.json");
    const NOT_WHATSAPP: &str = include_str!("../../../tests/fixtures/meta/not_whatsapp.json");
    const USER_PREFERENCES_STOP: &str = include_str!("../../../tests/fixtures/meta/user_preferences_stop.json");
    const USER_PREFERENCES_RESUME: &str = include_str!("../../../tests/fixtures/meta/user_preferences_resume.json");
    const TEMPLATE_STATUS_UPDATE: &str = include_str!("../../../tests/fixtures/meta/template_status_update.json");

    const BUSINESS_NUMBER: &str = "106540352242922";
    const GIULIA_PHONE: &str = "393331234567";
    const GIULIA_BSUID: &str = "IT.13491208655302741918";

    // --- helpers ------------------------------------------------------------

    fn parse(body: &str) -> Vec<InboundEvent> {
        parse_webhook(body.as_bytes()).unwrap_or_else(|e| panic!("refused: {e}"))
    }

    fn only_message(body: &str) -> InboundMessage {
        match parse(body).as_slice() {
            [InboundEvent::Message(message)] => message.clone(),
            other => panic!("expected one message, got {other:?}"),
        }
    }

    fn only_status(body: &str) -> StatusUpdate {
        match parse(body).as_slice() {
            [InboundEvent::Status(status)] => status.clone(),
            other => panic!("expected one status, got {other:?}"),
        }
    }

    /// A body's events and the notes about what it skipped.
    fn parse_noting(body: &Value) -> (Vec<InboundEvent>, Vec<String>) {
        let mut notes = Vec::new();
        let events =
            parse_webhook_noting(body.to_string().as_bytes(), &mut notes).unwrap_or_else(|e| panic!("refused: {e}"));
        (events, notes)
    }

    fn only_preference(body: &str) -> PreferenceUpdate {
        match parse(body).as_slice() {
            [InboundEvent::Preference(preference)] => preference.clone(),
            other => panic!("expected one preference, got {other:?}"),
        }
    }

    fn refusal(body: &Value) -> WebhookError {
        parse_webhook(body.to_string().as_bytes()).expect_err("the body was accepted")
    }

    fn at(seconds: i64) -> Time {
        from_unix_seconds(seconds).unwrap()
    }

    fn wamid(id: &str) -> Wamid {
        Wamid::parse(id).unwrap()
    }

    fn phone(raw: &str) -> Option<WaId> {
        Some(WaId::parse(raw).unwrap())
    }

    fn bsuid(raw: &str) -> Option<Bsuid> {
        Some(Bsuid::parse(raw).unwrap())
    }

    fn giulia() -> Sender {
        let name = Some("Giulia Rossi".to_owned());
        Sender { phone: phone(GIULIA_PHONE), bsuid: bsuid(GIULIA_BSUID), name, username: None }
    }

    fn text(body: &str) -> MessageContent {
        MessageContent::Text { body: body.into() }
    }

    fn button(text: &str, payload: Option<&str>) -> MessageContent {
        MessageContent::Button { text: text.into(), payload: payload.map(Into::into) }
    }

    fn button_reply(id: &str, title: &str) -> MessageContent {
        MessageContent::ButtonReply { id: id.into(), title: title.into() }
    }

    fn list_reply(id: &str, title: &str, description: Option<&str>) -> MessageContent {
        MessageContent::ListReply { id: id.into(), title: title.into(), description: description.map(Into::into) }
    }

    fn media(kind: &str, caption: Option<&str>) -> MessageContent {
        MessageContent::Media { kind: kind.into(), caption: caption.map(Into::into) }
    }

    fn other(kind: &str) -> MessageContent {
        MessageContent::Other { kind: kind.into() }
    }

    /// A body with one `messages` change holding `value`.
    fn body_with(value: Value) -> Value {
        json!({
            "object": "whatsapp_business_account",
            "entry": [{ "id": "102290129340398", "changes": [{ "field": "messages", "value": value }] }]
        })
    }

    /// A body with these messages, and no contacts.
    fn body_with_messages(messages: Value) -> Value {
        body_with(json!({
            "messaging_product": "whatsapp",
            "metadata": { "display_phone_number": "393401122334", "phone_number_id": BUSINESS_NUMBER },
            "messages": messages
        }))
    }

    /// A body with these statuses, and no contacts.
    fn body_with_statuses(statuses: Value) -> Value {
        body_with(json!({ "metadata": { "phone_number_id": BUSINESS_NUMBER }, "statuses": statuses }))
    }

    /// A body with one entry holding these changes.
    fn body_with_changes(changes: Value) -> Value {
        json!({ "object": "whatsapp_business_account", "entry": [{ "id": "102290129340398", "changes": changes }] })
    }

    /// A `messages` change with one text from Giulia.
    fn message_change(body: &str) -> Value {
        let metadata = json!({ "phone_number_id": BUSINESS_NUMBER });
        json!({ "field": "messages", "value": { "metadata": metadata, "messages": [text_from(GIULIA_PHONE, body)] } })
    }

    /// A `user_preferences` change holding these items, and no contacts.
    fn preference_change(items: Value) -> Value {
        let metadata = json!({ "display_phone_number": "393401122334", "phone_number_id": BUSINESS_NUMBER });
        json!({ "field": "user_preferences", "value": { "messaging_product": "whatsapp", "metadata": metadata, "user_preferences": items } })
    }

    fn marketing(wa_id: Option<&str>, user_id: Option<&str>, value: &str) -> Value {
        json!({
            "wa_id": wa_id, "user_id": user_id, "detail": format!("User requested to {value} marketing messages"),
            "category": "marketing_messages", "value": value, "timestamp": 1_778_751_600
        })
    }

    fn text_from(from: &str, body: &str) -> Value {
        json!({
            "from": from, "id": "wamid.HBgMMzkzMzMxMjM0NTY3FQIAEhgUM0VCMEQA", "timestamp": "1778751012",
            "type": "text", "text": { "body": body }
        })
    }

    // --- fixtures -----------------------------------------------------------

    #[test]
    fn a_text_message_carries_its_body_sender_business_number_and_time() {
        let expected = InboundMessage {
            phone_number_id: BUSINESS_NUMBER.into(),
            wamid: wamid("wamid.HBgMMzkzMzMxMjM0NTY3FQIAEhgUM0VCMEQ0QjJBRTc5NkQ5RjE0QzYA"),
            sender: Sender { bsuid: None, ..giulia() },
            timestamp: at(1_778_751_012),
            content: text("INFO"),
        };
        assert_eq!(only_message(TEXT), expected);
    }

    #[test]
    fn a_username_user_without_a_phone_is_known_by_bsuid_and_username() {
        let message = only_message(TEXT_BSUID_ONLY);
        let username = Some("@giulia.rossi".to_owned());
        assert_eq!(message.sender, Sender { phone: None, username, ..giulia() });
        assert_eq!(message.content, text("Avete disponibilità sabato?"));
    }

    #[test]
    fn a_user_with_phone_and_bsuid_is_known_by_both() {
        assert_eq!(only_message(TEXT_PHONE_AND_BSUID).sender, giulia());
    }

    #[test]
    fn a_template_quick_reply_is_a_button_with_its_payload() {
        let message = only_message(BUTTON);
        assert_eq!(message.content, button("Confermo", Some("CONFERMA_APPUNTAMENTO")));
        assert_eq!(message.sender, giulia());
        assert_eq!(message.timestamp, at(1_778_751_100));
    }

    #[test]
    fn an_interactive_button_reply_carries_its_id_and_title() {
        assert_eq!(only_message(BUTTON_REPLY).content, button_reply("orari", "Orari di apertura"));
    }

    #[test]
    fn a_list_reply_carries_its_id_title_and_description() {
        let expected = list_reply("sede_milano", "Milano Centro", Some("Via Torino 21, aperto fino alle 19"));
        assert_eq!(only_message(LIST_REPLY).content, expected);
    }

    #[test]
    fn an_image_with_a_caption_is_media_with_that_caption() {
        assert_eq!(only_message(IMAGE_WITH_CAPTION).content, media("image", Some("Lo scontrino dell'ordine")));
    }

    #[test]
    fn an_image_without_a_caption_is_media_without_one() {
        assert_eq!(only_message(IMAGE).content, media("image", None));
    }

    #[test]
    fn a_location_is_other_content_of_kind_location() {
        assert_eq!(only_message(LOCATION).content, other("location"));
    }

    #[test]
    fn a_reaction_is_other_content_of_kind_reaction() {
        let message = only_message(REACTION);
        assert_eq!(message.content, other("reaction"));
        assert_eq!(message.sender, giulia());
    }

    #[test]
    fn a_delivered_status_names_the_sent_message_and_its_recipient() {
        let expected = StatusUpdate {
            phone_number_id: BUSINESS_NUMBER.into(),
            wamid: wamid("wamid.HBgMMzkzMzMxMjM0NTY3FQIAERgSNUI3RjNBMkQ4QzFFOUE0NjBBAA=="),
            status: DeliveryStatus::Delivered,
            timestamp: at(1_778_751_387),
            recipient_phone: phone(GIULIA_PHONE),
            recipient_bsuid: bsuid(GIULIA_BSUID),
            errors: vec![],
        };
        assert_eq!(only_status(STATUS_DELIVERED), expected);
    }

    #[test]
    fn a_failed_status_carries_metas_error_codes_and_titles() {
        let status = only_status(STATUS_FAILED);
        assert_eq!(status.status, DeliveryStatus::Failed);
        let re_engagement = StatusError { code: 131_047, title: "Re-engagement message".into() };
        assert_eq!(status.errors, [re_engagement]);
        assert_eq!(status.recipient_phone, phone(GIULIA_PHONE));
        assert_eq!(status.recipient_bsuid, None);
    }

    #[test]
    fn a_batch_yields_every_event_in_body_order_with_its_own_business_number() {
        let events = parse(BATCH);
        let [InboundEvent::Message(message), InboundEvent::Status(status)] = events.as_slice() else {
            panic!("expected a message then a status, got {events:?}");
        };
        assert_eq!(message.phone_number_id, BUSINESS_NUMBER);
        assert_eq!(message.sender.name.as_deref(), Some("Marco Bianchi"));
        assert_eq!(message.content, text("Prenota"));
        assert_eq!(status.phone_number_id, "114896151713920");
        assert_eq!(status.status, DeliveryStatus::Read);
        assert_eq!(status.recipient_bsuid, bsuid(GIULIA_BSUID));
    }

    #[test]
    fn a_marketing_stop_carries_the_users_phone_bsuid_name_and_time() {
        let expected = PreferenceUpdate {
            phone_number_id: BUSINESS_NUMBER.into(),
            user: giulia(),
            category: PreferenceCategory::MarketingMessages,
            value: PreferenceValue::Stop,
            timestamp: at(1_778_751_600),
        };
        assert_eq!(only_preference(USER_PREFERENCES_STOP), expected);
    }

    #[test]
    fn a_marketing_resume_carries_the_users_phone_bsuid_name_and_time() {
        let preference = only_preference(USER_PREFERENCES_RESUME);
        assert_eq!(preference.value, PreferenceValue::Resume);
        assert_eq!(preference.category, PreferenceCategory::MarketingMessages);
        assert_eq!(preference.user, giulia());
        assert_eq!(preference.timestamp, at(1_779_356_400));
        assert_eq!(preference.phone_number_id, BUSINESS_NUMBER);
    }

    #[test]
    fn a_body_for_another_meta_product_is_refused_naming_its_object() {
        let error = parse_webhook(NOT_WHATSAPP.as_bytes()).unwrap_err();
        assert!(matches!(&error, WebhookError::NotWhatsApp { object } if object == "page"), "{error:?}");
        assert_eq!(
            error.to_string(),
            "not a WhatsApp Business Account webhook: `object` is \"page\", expected `whatsapp_business_account`"
        );
    }

    // --- shapes beyond the fixtures -----------------------------------------

    #[test]
    fn changes_of_other_fields_are_skipped() {
        let mut body = body_with_messages(json!([text_from(GIULIA_PHONE, "INFO")]));
        let template_update = json!({
            "field": "message_template_status_update",
            "value": { "event": "APPROVED", "message_template_id": 1_234_567_890_u64, "reason": null }
        });
        body["entry"][0]["changes"].as_array_mut().unwrap().insert(0, template_update);
        assert_eq!(parse(&body.to_string()).len(), 1);
    }

    #[test]
    fn a_value_with_neither_messages_nor_statuses_yields_nothing() {
        let body = body_with(json!({ "metadata": { "phone_number_id": BUSINESS_NUMBER }, "contacts": [] }));
        assert_eq!(parse(&body.to_string()), []);
    }

    #[test]
    fn unknown_fields_are_ignored_at_every_level() {
        let mut message = text_from(GIULIA_PHONE, "INFO");
        message["brand_new_field"] = json!({ "nested": [1, 2, 3] });
        let mut body = body_with_messages(json!([message]));
        body["brand_new_top_level_field"] = json!(true);
        body["entry"][0]["changes"][0]["value"]["metadata"]["brand_new"] = json!("x");
        assert_eq!(only_message(&body.to_string()).content, text("INFO"));
    }

    #[test]
    fn the_sender_is_the_contact_sharing_its_id_among_several() {
        let mut body = body_with_messages(json!([text_from("393471122334", "INFO")]));
        body["entry"][0]["changes"][0]["value"]["contacts"] = json!([
            { "profile": { "name": "Giulia Rossi" }, "wa_id": GIULIA_PHONE },
            { "profile": { "name": "Marco Bianchi" }, "wa_id": "393471122334", "user_id": "IT.20573918466203817745" }
        ]);
        let sender = only_message(&body.to_string()).sender;
        assert_eq!(sender.name.as_deref(), Some("Marco Bianchi"));
        assert_eq!(sender.bsuid, bsuid("IT.20573918466203817745"));
    }

    #[test]
    fn a_lone_contact_with_another_phone_is_not_taken_for_the_sender() {
        let mut body = body_with_messages(json!([text_from("393471122334", "INFO")]));
        body["entry"][0]["changes"][0]["value"]["contacts"] =
            json!([{ "profile": { "name": "Giulia Rossi" }, "wa_id": GIULIA_PHONE }]);
        let expected = Sender { phone: phone("393471122334"), ..Sender::default() };
        assert_eq!(only_message(&body.to_string()).sender, expected);
    }

    #[test]
    fn a_bsuid_sent_in_from_is_read_as_a_bsuid() {
        let body = body_with_messages(json!([text_from(GIULIA_BSUID, "INFO")]));
        let expected = Sender { bsuid: bsuid(GIULIA_BSUID), ..Sender::default() };
        assert_eq!(only_message(&body.to_string()).sender, expected);
    }

    #[test]
    fn a_username_beside_the_profile_is_accepted_too() {
        let mut body = body_with_messages(json!([text_from(GIULIA_PHONE, "INFO")]));
        body["entry"][0]["changes"][0]["value"]["contacts"] =
            json!([{ "profile": { "name": "Giulia Rossi" }, "username": "@giulia.rossi", "wa_id": GIULIA_PHONE }]);
        let sender = only_message(&body.to_string()).sender;
        assert_eq!(sender.username.as_deref(), Some("@giulia.rossi"));
    }

    #[test]
    fn a_timestamp_sent_as_a_number_is_accepted() {
        let mut message = text_from(GIULIA_PHONE, "INFO");
        message["timestamp"] = json!(1_778_751_012);
        let body = body_with_messages(json!([message]));
        assert_eq!(only_message(&body.to_string()).timestamp, at(1_778_751_012));
    }

    #[test]
    fn audio_is_media_and_a_flow_reply_is_other_interactive_content() {
        let body = body_with_messages(json!([
            { "from": GIULIA_PHONE, "id": "wamid.A1", "timestamp": "1778751012", "type": "audio",
              "audio": { "mime_type": "audio/ogg; codecs=opus", "id": "1045223450203940", "voice": true } },
            { "from": GIULIA_PHONE, "id": "wamid.A2", "timestamp": "1778751012", "type": "interactive",
              "interactive": { "type": "nfm_reply", "nfm_reply": { "response_json": "{}", "name": "flow" } } }
        ]));
        let contents: Vec<_> = parse(&body.to_string())
            .into_iter()
            .map(|event| match event {
                InboundEvent::Message(message) => message.content,
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(contents, [media("audio", None), other("interactive")]);
    }

    #[test]
    fn an_unknown_status_is_kept_as_sent() {
        let body = body_with_statuses(json!([
            { "id": "wamid.S1", "status": "played", "timestamp": "1778751387", "recipient_id": GIULIA_PHONE }
        ]));
        assert_eq!(only_status(&body.to_string()).status, DeliveryStatus::Other("played".into()));
    }

    #[test]
    fn a_group_status_is_about_the_participant_not_the_group() {
        let body = body_with_statuses(json!([
            { "id": "wamid.S1", "status": "read", "timestamp": "1778751387", "recipient_type": "group",
              "recipient_id": "120363418770915618@g.us", "recipient_participant_id": GIULIA_PHONE }
        ]));
        assert_eq!(only_status(&body.to_string()).recipient_phone, phone(GIULIA_PHONE));
    }

    // --- preferences --------------------------------------------------------

    #[test]
    fn a_message_and_a_preference_in_one_body_come_in_body_order() {
        let body = body_with_changes(json!([
            message_change("INFO"),
            preference_change(json!([marketing(Some(GIULIA_PHONE), None, "stop")])),
            message_change("START"),
        ]));
        let contents: Vec<String> = parse(&body.to_string())
            .into_iter()
            .map(|event| match event {
                InboundEvent::Message(message) => message.content.capture_value(),
                InboundEvent::Preference(preference) => format!("{:?}", preference.value),
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(contents, ["INFO", "Stop", "START"]);
    }

    #[test]
    fn every_item_of_a_preference_change_is_an_event_in_order() {
        let items = json!([marketing(Some(GIULIA_PHONE), None, "stop"), marketing(Some(GIULIA_PHONE), None, "resume")]);
        let values: Vec<_> = parse(&body_with_changes(json!([preference_change(items)])).to_string())
            .into_iter()
            .map(|event| match event {
                InboundEvent::Preference(preference) => preference.value,
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(values, [PreferenceValue::Stop, PreferenceValue::Resume]);
    }

    #[test]
    fn an_unknown_preference_category_and_value_are_kept_as_sent() {
        let mut item = marketing(Some(GIULIA_PHONE), None, "stop");
        item["category"] = json!("utility_messages");
        item["value"] = json!("pause");
        let preference = only_preference(&body_with_changes(json!([preference_change(json!([item]))])).to_string());
        assert_eq!(preference.category, PreferenceCategory::Other("utility_messages".into()));
        assert_eq!(preference.value, PreferenceValue::Other("pause".into()));
    }

    #[test]
    fn a_preference_timestamp_sent_as_a_string_is_accepted() {
        let mut item = marketing(Some(GIULIA_PHONE), None, "stop");
        item["timestamp"] = json!("1778751600");
        let preference = only_preference(&body_with_changes(json!([preference_change(json!([item]))])).to_string());
        assert_eq!(preference.timestamp, at(1_778_751_600));
    }

    #[test]
    fn a_username_users_preference_is_known_by_bsuid_and_completed_from_its_contact() {
        let mut change = preference_change(json!([marketing(None, Some(GIULIA_BSUID), "stop")]));
        change["value"]["contacts"] =
            json!([{ "profile": { "name": "Giulia Rossi", "username": "@giulia.rossi" }, "user_id": GIULIA_BSUID }]);
        let user = only_preference(&body_with_changes(json!([change.clone()])).to_string()).user;
        let username = Some("@giulia.rossi".to_owned());
        assert_eq!(user, Sender { phone: None, username: username.clone(), ..giulia() });
        // The contact gives the phone the item leaves out.
        change["value"]["contacts"][0]["wa_id"] = json!(GIULIA_PHONE);
        let user = only_preference(&body_with_changes(json!([change])).to_string()).user;
        assert_eq!(user, Sender { username, ..giulia() });
    }

    #[test]
    fn a_malformed_preference_is_skipped_with_a_note_and_the_rest_of_the_body_still_read() {
        let good = marketing(Some(GIULIA_PHONE), Some(GIULIA_BSUID), "stop");
        let without_value = {
            let mut item = good.clone();
            item.as_object_mut().unwrap().remove("value");
            item
        };
        let without_category = {
            let mut item = good.clone();
            item.as_object_mut().unwrap().remove("category");
            item
        };
        let numeric_value = {
            let mut item = good.clone();
            item["value"] = json!(1);
            item
        };
        let bad_time = {
            let mut item = good.clone();
            item["timestamp"] = json!("soon");
            item
        };
        let bad_phone = {
            let mut item = good.clone();
            item["wa_id"] = json!("12ab");
            item
        };
        let items = json!([
            without_value,
            good,
            marketing(None, None, "stop"),
            without_category,
            numeric_value,
            bad_time,
            bad_phone,
            ["393331234567", "marketing_messages", "stop", 1_778_751_600],
            "stop"
        ]);
        let body = body_with_changes(json!([preference_change(items), message_change("INFO")]));
        let (events, notes) = parse_noting(&body);
        let [InboundEvent::Preference(preference), InboundEvent::Message(message)] = events.as_slice() else {
            panic!("expected the good preference then the message, got {events:?}");
        };
        assert_eq!(preference.user.bsuid, bsuid(GIULIA_BSUID));
        assert_eq!(message.content, text("INFO"));
        let at = "entry[0].changes[0].value.user_preferences";
        let expected = [
            format!("{at}[0]: missing field `value`"),
            format!("{at}[2]: no user id: neither `wa_id` nor `user_id` gives a phone or BSUID"),
            format!("{at}[3]: missing field `category`"),
            format!("{at}[4].value: invalid type: integer `1`, expected a string"),
            format!("{at}[5].timestamp: \"soon\" is not Unix seconds"),
            format!(
                "{at}[6].wa_id: `12ab` is not a phone number: use digits with the country code, e.g. +39 333 123 4567"
            ),
            format!("{at}[7]: invalid type: sequence, expected a preference object"),
            format!("{at}[8]: invalid type: string \"stop\", expected a preference object"),
        ];
        assert_eq!(notes, expected);
        // `parse_webhook` skips the same, silently.
        assert_eq!(parse(&body.to_string()), events);
    }

    #[test]
    fn a_preference_change_of_an_unknown_shape_is_skipped_with_a_note_and_the_rest_of_the_body_still_read() {
        let items = json!([marketing(Some(GIULIA_PHONE), None, "stop")]);
        let shape = |edit: fn(&mut Value)| {
            let mut change = preference_change(items.clone());
            edit(&mut change);
            change
        };
        let not_a_phone = "`12ab` is not a phone number: use digits with the country code, e.g. +39 333 123 4567";
        #[rustfmt::skip]
        let cases = [
            (shape(|c| drop(c["value"].as_object_mut().unwrap().remove("user_preferences"))),
             "entry[0].changes[1].value: missing field `user_preferences`".to_owned()),
            (shape(|c| c["value"]["user_preferences"] = Value::Null),
             "entry[0].changes[1].value: missing field `user_preferences`".to_owned()),
            (shape(|c| c["value"]["user_preferences"] = json!({ "value": "stop" })),
             "entry[0].changes[1].value.user_preferences: invalid type: map, expected a sequence".to_owned()),
            (shape(|c| drop(c["value"].as_object_mut().unwrap().remove("metadata"))),
             "entry[0].changes[1].value: missing field `metadata`".to_owned()),
            (shape(|c| c["value"]["metadata"]["phone_number_id"] = json!(106_540_352_242_922_u64)),
             "entry[0].changes[1].value.metadata.phone_number_id: \
              invalid type: integer `106540352242922`, expected a string".to_owned()),
            (shape(|c| c["value"]["contacts"] = json!([{ "wa_id": "12ab" }])),
             format!("entry[0].changes[1].value.contacts[0].wa_id: {not_a_phone}")),
            (shape(|c| c["value"] = json!("stop")),
             "entry[0].changes[1].value: invalid type: string \"stop\", expected a change value with `metadata`".to_owned()),
            (shape(|c| drop(c.as_object_mut().unwrap().remove("value"))),
             "entry[0].changes[1]: missing field `value`".to_owned()),
        ];
        for (change, note) in cases {
            let body = body_with_changes(json!([message_change("INFO"), change, message_change("STOP")]));
            let (events, notes) = parse_noting(&body);
            let texts: Vec<_> = events
                .iter()
                .map(|event| match event {
                    InboundEvent::Message(message) => message.content.capture_value(),
                    other => panic!("unexpected {other:?}"),
                })
                .collect();
            assert_eq!(texts, ["INFO", "STOP"], "{body}");
            assert_eq!(notes, [note], "{body}");
        }
    }

    #[test]
    fn a_preference_list_beside_a_messages_changes_messages_is_ignored() {
        let mut body = body_with_messages(json!([text_from(GIULIA_PHONE, "INFO")]));
        body["entry"][0]["changes"][0]["value"]["user_preferences"] = json!("not a list");
        let (events, notes) = parse_noting(&body);
        assert_eq!(events.len(), 1);
        assert_eq!(notes, Vec::<String>::new());
    }

    #[test]
    fn a_malformed_message_beside_a_preference_still_refuses_the_body() {
        let mut message = message_change("INFO");
        message["value"]["messages"][0].as_object_mut().unwrap().remove("id");
        let body = body_with_changes(json!([
            preference_change(json!([marketing(Some(GIULIA_PHONE), None, "stop")])),
            message
        ]));
        let expected = "malformed webhook JSON at entry[0].changes[1].value.messages[0]: missing field `id`";
        assert_eq!(refusal(&body).to_string(), expected);
    }

    // --- content helpers ----------------------------------------------------

    #[test]
    fn phrase_candidates_come_in_priority_order() {
        assert_eq!(text("INFO").phrase_candidates(), ["INFO"]);
        assert_eq!(button("Confermo", Some("CONFERMA")).phrase_candidates(), ["Confermo", "CONFERMA"]);
        assert_eq!(button("Confermo", None).phrase_candidates(), ["Confermo"]);
        assert_eq!(button_reply("orari", "Orari").phrase_candidates(), ["Orari", "orari"]);
        assert_eq!(list_reply("milano", "Milano", Some("Centro")).phrase_candidates(), ["Milano", "milano"]);
        assert!(media("image", Some("INFO")).phrase_candidates().is_empty());
        assert!(other("location").phrase_candidates().is_empty());
    }

    #[test]
    fn capture_value_is_the_text_title_or_caption_else_the_kind_in_brackets() {
        let cases = [
            (text("Via Roma 1"), "Via Roma 1"),
            (button("Confermo", Some("CONFERMA")), "Confermo"),
            (button_reply("orari", "Orari"), "Orari"),
            (list_reply("mi", "Milano", None), "Milano"),
            (media("image", Some("Scontrino")), "Scontrino"),
            (media("image", None), "<image>"),
            (media("document", None), "<document>"),
            (other("location"), "<location>"),
        ];
        for (content, expected) in cases {
            assert_eq!(content.capture_value(), expected, "{content:?}");
        }
    }

    #[test]
    fn kind_is_the_type_as_meta_names_it() {
        let bodies = [TEXT, BUTTON, BUTTON_REPLY, LIST_REPLY, IMAGE, LOCATION, REACTION];
        let kinds = bodies.map(|body| only_message(body).content.kind().to_owned()).join(" ");
        assert_eq!(kinds, "text button interactive interactive image location reaction");
    }

    // --- refusals -----------------------------------------------------------

    #[test]
    fn a_body_that_is_not_json_is_refused_with_serdes_message() {
        let error = parse_webhook(br#"{"object": "whatsapp_business_account", "entry": ["#).unwrap_err();
        assert!(matches!(error, WebhookError::InvalidJson(_)), "{error:?}");
        assert_eq!(error.to_string(), "webhook body is not valid JSON: EOF while parsing a list at line 1 column 50");
        assert!(matches!(parse_webhook(b""), Err(WebhookError::InvalidJson(_))));
    }

    #[test]
    fn a_message_without_an_id_is_refused_naming_its_place() {
        let mut second = text_from(GIULIA_PHONE, "INFO");
        second.as_object_mut().unwrap().remove("id");
        let error = refusal(&body_with_messages(json!([text_from(GIULIA_PHONE, "INFO"), second])));
        let expected = "malformed webhook JSON at entry[0].changes[0].value.messages[1]: missing field `id`";
        assert_eq!(error.to_string(), expected);
    }

    #[test]
    fn a_body_without_object_is_refused_at_the_top_level() {
        let error = refusal(&json!({ "entry": [] }));
        assert_eq!(error.to_string(), "malformed webhook JSON at the top level: missing field `object`");
    }

    #[test]
    fn a_change_without_metadata_is_refused_naming_its_value() {
        let error = refusal(&body_with(json!({ "messages": [] })));
        let expected = "malformed webhook JSON at entry[0].changes[0].value: missing field `metadata`";
        assert_eq!(error.to_string(), expected);
    }

    #[test]
    fn a_text_message_without_its_text_object_is_refused() {
        let mut message = text_from(GIULIA_PHONE, "INFO");
        message.as_object_mut().unwrap().remove("text");
        let error = refusal(&body_with_messages(json!([message])));
        let expected = "malformed webhook JSON at entry[0].changes[0].value.messages[0]: missing field `text`";
        assert_eq!(error.to_string(), expected);
    }

    #[test]
    fn a_message_with_neither_phone_nor_bsuid_is_refused_naming_it() {
        let mut message = text_from(GIULIA_PHONE, "INFO");
        message.as_object_mut().unwrap().remove("from");
        let error = refusal(&body_with_messages(json!([message])));
        let WebhookError::MissingSender { path } = &error else { panic!("{error:?}") };
        assert_eq!(path, "entry[0].changes[0].value.messages[0]");
        let expected = "message at entry[0].changes[0].value.messages[0] has no sender id: \
                        neither `from` nor `from_user_id` gives a phone or BSUID";
        assert_eq!(error.to_string(), expected);
    }

    #[test]
    fn a_status_with_neither_phone_nor_bsuid_is_refused_naming_it() {
        let error = refusal(&body_with_statuses(json!([
            { "id": "wamid.S1", "status": "sent", "timestamp": "1778751387" }
        ])));
        let WebhookError::MissingRecipient { path } = &error else { panic!("{error:?}") };
        assert_eq!(path, "entry[0].changes[0].value.statuses[0]");
    }

    #[test]
    fn a_timestamp_that_is_not_unix_seconds_is_refused_naming_it() {
        let mut message = text_from(GIULIA_PHONE, "INFO");
        message["timestamp"] = json!("yesterday");
        let error = refusal(&body_with_messages(json!([message])));
        let expected =
            "bad timestamp at entry[0].changes[0].value.messages[0].timestamp: \"yesterday\" is not Unix seconds";
        assert_eq!(error.to_string(), expected);
    }

    #[test]
    fn a_phone_field_holding_neither_phone_nor_bsuid_is_refused_naming_it() {
        let error = refusal(&body_with_messages(json!([text_from("12ab", "INFO")])));
        let WebhookError::InvalidUserId { path, .. } = &error else { panic!("{error:?}") };
        assert_eq!(path, "entry[0].changes[0].value.messages[0].from");
    }

    #[test]
    fn an_empty_message_id_is_refused_naming_it() {
        let mut message = text_from(GIULIA_PHONE, "INFO");
        message["id"] = json!("");
        let error = refusal(&body_with_messages(json!([message])));
        let expected = "invalid message id at entry[0].changes[0].value.messages[0].id: message id must not be empty";
        assert_eq!(error.to_string(), expected);
    }

    // --- properties ---------------------------------------------------------

    /// Keys Meta's payloads use, so noise lands on fields the parser reads.
    #[rustfmt::skip]
    const KEYS: &[&str] = &[
        "id", "from", "from_user_id", "timestamp", "type", "text", "body", "button", "payload", "interactive",
        "button_reply", "list_reply", "title", "description", "image", "audio", "caption", "status", "errors",
        "code", "message", "recipient_id", "recipient_user_id", "recipient_type", "recipient_participant_id",
        "wa_id", "user_id", "profile", "name", "username", "category", "value", "detail",
    ];

    /// Values of phone fields (`from`, `wa_id`, `recipient_id`): valid, then odd or wrong.
    const PHONES: (&[&str], &[&str]) =
        (&["393331234567", "393471122334", "+39 333 123 4567"], &[GIULIA_BSUID, "12ab", ""]);

    /// Values of BSUID fields: valid, then odd or wrong.
    const BSUIDS: (&[&str], &[&str]) = (&[GIULIA_BSUID, "IT.20573918466203817745"], &["IT.ENT.1181", "it.lower", ""]);

    #[rustfmt::skip]
    const TYPES: &[&str] = &[
        "text", "button", "interactive", "image", "video", "audio", "document", "sticker", "location", "reaction",
        "order", "system", "unsupported", "",
    ];

    const SUBTYPES: &[&str] = &["button_reply", "list_reply", "nfm_reply", ""];

    const STATUSES: &[&str] = &["sent", "delivered", "read", "failed", "played", ""];

    const CATEGORIES: &[&str] = &["marketing_messages", "marketing_messages", "utility_messages", ""];

    const PREFERENCE_VALUES: &[&str] = &["stop", "resume", "pause", ""];

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            prop::sample::select(PHONES.0).prop_map(Value::from),
            "\\PC{0,12}".prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 48, 6, |inner| {
            prop_oneof![prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from), json_object(inner, 8)]
        })
    }

    fn json_object(values: impl Strategy<Value = Value>, max_fields: usize) -> impl Strategy<Value = Value> {
        prop::collection::btree_map(prop::sample::select(KEYS), values, 0..max_fields)
            .prop_map(|fields| Value::Object(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()))
    }

    /// Overlays a few arbitrary fields on plausible objects, so most parse and some break.
    fn with_noise(plausible: impl Strategy<Value = Value>) -> impl Strategy<Value = Value> {
        (plausible, json_object(json_value(), 2)).prop_map(|(mut object, noise)| {
            if let (Value::Object(fields), Value::Object(noise)) = (&mut object, noise) {
                fields.extend(noise);
            }
            object
        })
    }

    fn timestamp() -> impl Strategy<Value = Value> {
        prop_oneof![
            8 => (0i64..4_102_444_800).prop_map(|s| Value::from(s.to_string())),
            1 => any::<i64>().prop_map(Value::from),
            1 => "\\PC{0,12}".prop_map(Value::from),
        ]
    }

    /// Absent, or one of `(valid, odd)`, mostly valid.
    fn optional(
        (valid, odd): (&'static [&'static str], &'static [&'static str]),
    ) -> impl Strategy<Value = Option<&'static str>> {
        prop::option::of(prop_oneof![8 => prop::sample::select(valid), 1 => prop::sample::select(odd)])
    }

    fn plausible_message() -> impl Strategy<Value = Value> {
        let words = "\\PC{0,12}";
        let content = (words, words, prop::sample::select(SUBTYPES)).prop_map(|(text, title, subtype)| {
            json!({
                "body": text, "text": text, "payload": title, "caption": text, "type": subtype,
                "button_reply": { "id": title, "title": text },
                "list_reply": { "id": title, "title": text, "description": title }
            })
        });
        let ids = (optional(PHONES), optional(BSUIDS));
        (prop::sample::select(TYPES), ids, timestamp(), content).prop_map(|(kind, (from, user), timestamp, content)| {
            let mut message = json!({
                "id": "wamid.HBgM", "from": from, "from_user_id": user, "timestamp": timestamp, "type": kind
            });
            message[kind] = content;
            message
        })
    }

    fn plausible_status() -> impl Strategy<Value = Value> {
        let ids = (optional(PHONES), optional(BSUIDS), optional((&["individual"], &["group"])));
        let errors = prop::collection::vec((any::<i64>(), "\\PC{0,12}"), 0..2);
        (prop::sample::select(STATUSES), ids, timestamp(), errors).prop_map(|(status, ids, timestamp, errors)| {
            let (recipient, user, recipient_type) = ids;
            let errors: Vec<Value> =
                errors.into_iter().map(|(code, title)| json!({ "code": code, "title": title })).collect();
            json!({
                "id": "wamid.HBgM", "status": status, "timestamp": timestamp, "recipient_id": recipient,
                "recipient_user_id": user, "recipient_type": recipient_type, "recipient_participant_id": recipient,
                "errors": errors
            })
        })
    }

    fn plausible_preference() -> impl Strategy<Value = Value> {
        let ids = (optional(PHONES), optional(BSUIDS));
        let kind = (prop::sample::select(CATEGORIES), prop::sample::select(PREFERENCE_VALUES));
        (ids, kind, timestamp(), "\\PC{0,12}").prop_map(|((phone, user), (category, value), timestamp, detail)| {
            let mut preference =
                json!({ "category": category, "value": value, "timestamp": timestamp, "detail": detail });
            // Meta leaves an id out rather than sending `null`, which the strict reader leaves to serde.
            for (field, id) in [("wa_id", phone), ("user_id", user)] {
                if let Some(id) = id {
                    preference[field] = json!(id);
                }
            }
            preference
        })
    }

    /// A `user_preferences` list: mostly plausible items with noise, sometimes any JSON at all.
    fn plausible_preferences() -> impl Strategy<Value = Value> {
        prop_oneof![
            6 => prop::collection::vec(with_noise(plausible_preference()), 0..3).prop_map(Value::from),
            1 => json_value(),
        ]
    }

    fn plausible_contact() -> impl Strategy<Value = Value> {
        (optional(PHONES), optional(BSUIDS), "\\PC{0,12}").prop_map(|(phone, user, name)| {
            json!({ "wa_id": phone, "user_id": user, "profile": { "name": name, "username": name } })
        })
    }

    /// Bodies shaped like Meta's: plausible contacts, messages, statuses and preferences, with noise.
    fn webhook_shaped() -> impl Strategy<Value = Value> {
        let field = prop::sample::select(&["messages", "messages", "user_preferences", "account_update"][..]);
        let contacts = prop::collection::vec(with_noise(plausible_contact()), 0..3);
        let messages = prop::collection::vec(with_noise(plausible_message()), 0..3);
        let statuses = prop::collection::vec(with_noise(plausible_status()), 0..3);
        let preferences = prop::option::weighted(0.7, plausible_preferences());
        let events = (messages, statuses, preferences);
        let change = (field, contacts, events).prop_map(|(field, contacts, (messages, statuses, preferences))| {
            let metadata = json!({ "phone_number_id": BUSINESS_NUMBER });
            let mut value = json!({ "metadata": metadata, "contacts": contacts });
            // Each change holds what its field carries, and sometimes what another one does.
            if field != PREFERENCES_FIELD || messages.len() > 1 {
                value["messages"] = json!(messages);
                value["statuses"] = json!(statuses);
            }
            if let Some(preferences) = preferences.filter(|_| field == PREFERENCES_FIELD || statuses.len() > 1) {
                value["user_preferences"] = preferences;
            }
            json!({ "field": field, "value": value })
        });
        prop::collection::vec(prop::collection::vec(change, 0..3), 0..3).prop_map(|entries| {
            let entries: Vec<Value> = entries.into_iter().map(|changes| json!({ "changes": changes })).collect();
            json!({ "object": "whatsapp_business_account", "entry": entries })
        })
    }

    /// Bodies of `user_preferences` changes as Meta writes them (ids left out, not `null`),
    /// some beside a message, some items with noise: mostly read without a note.
    fn preference_shaped() -> impl Strategy<Value = Value> {
        let contact = (optional(PHONES), optional(BSUIDS), "\\PC{0,12}").prop_map(|(phone, user, name)| {
            let mut contact = json!({ "profile": { "name": name } });
            for (field, id) in [("wa_id", phone), ("user_id", user)] {
                if let Some(id) = id {
                    contact[field] = json!(id);
                }
            }
            contact
        });
        let items = prop::collection::vec(
            prop_oneof![3 => plausible_preference(), 1 => with_noise(plausible_preference())],
            0..3,
        );
        let preferences = (prop::collection::vec(contact, 0..2), items).prop_map(|(contacts, items)| {
            let mut change = preference_change(json!(items));
            change["value"]["contacts"] = json!(contacts);
            change
        });
        let change = prop_oneof![3 => preferences, 1 => "\\PC{0,12}".prop_map(|text| message_change(&text))];
        prop::collection::vec(change, 1..3).prop_map(|changes| body_with_changes(json!(changes)))
    }

    /// Bodies of either shape. The strict reader gives up on preference bodies, but not
    /// always on a damaged one (its `field` damaged, say): the properties hold it to serde.
    fn any_shaped() -> impl Strategy<Value = Value> {
        prop_oneof![3 => webhook_shaped(), 1 => preference_shaped()]
    }

    /// What reading a body gives: its events and notes, or the refusal, worded.
    type Reading = Result<(Vec<InboundEvent>, Vec<String>), String>;

    fn read<'a, V: ChangeValue<'a>>(envelope: RawEnvelope<'a, V>) -> Reading {
        let mut notes = Vec::new();
        read_envelope(envelope, &mut notes).map(|events| (events, notes)).map_err(|e| e.to_string())
    }

    /// A body as the typed serde pass reads it, or `None` when it does not.
    fn read_by_serde(json: &str) -> Option<Reading> {
        serde_json::from_str::<RawEnvelope<'_, RawChangeValue<'_>>>(json).ok().map(read)
    }

    /// A body as the strict reader reads it, or `None` when it gives up.
    fn read_strictly(json: &str) -> Option<Reading> {
        fast::envelope(json).map(read)
    }

    /// A body as [`parse_webhook_noting`] reads it, by whichever pass.
    fn read_by_any_pass(json: &str) -> Reading {
        let mut notes = Vec::new();
        parse_webhook_noting(json.as_bytes(), &mut notes).map(|events| (events, notes)).map_err(|e| e.to_string())
    }

    #[test]
    fn a_template_status_update_names_its_account_template_and_event() {
        let events = parse(TEMPLATE_STATUS_UPDATE);
        let [InboundEvent::TemplateStatus(update)] = events.as_slice() else {
            panic!("one update expected: {events:?}")
        };
        assert_eq!(
            update,
            &TemplateStatusUpdate {
                waba_id: "102290129340398".into(),
                template_id: Some("1180000000000002".into()),
                name: "promo_natale".into(),
                language: "it".into(),
                event: "PAUSED".into(),
                reason: Some("LOW_QUALITY".into()),
            }
        );
        // Left to the tolerant pass, like preferences: the strict reader gives up on it.
        assert_eq!(read_strictly(TEMPLATE_STATUS_UPDATE), None);
    }

    #[test]
    fn a_template_update_beside_a_message_comes_in_body_order_and_a_bad_one_is_skipped_with_a_note() {
        let update = |value: Value| json!({ "field": "message_template_status_update", "value": value });
        let good = json!({ "event": "APPROVED", "message_template_id": "77", "message_template_name": "welcome",
                           "message_template_language": "it", "reason": null });
        let body =
            body_with_changes(json!([update(good), message_change("INFO"), update(json!({ "event": "APPROVED" }))]));
        let (events, notes) = read_by_any_pass(&body.to_string()).unwrap();
        assert!(matches!(&events[0], InboundEvent::TemplateStatus(u) if u.name == "welcome" && u.reason.is_none()));
        assert!(matches!(&events[1], InboundEvent::Message(_)));
        assert_eq!(events.len(), 2);
        assert_eq!(notes, ["entry[0].changes[2].value: missing field `message_template_name`"]);
    }

    #[test]
    fn the_strict_reader_takes_meta_s_bodies() {
        for body in [TEXT, TEXT_BSUID_ONLY, TEXT_PHONE_AND_BSUID, BUTTON, BUTTON_REPLY] {
            assert_eq!(read_strictly(body), read_by_serde(body), "{body}");
            assert!(read_strictly(body).is_some_and(|events| events.is_ok()), "{body}");
        }
    }

    #[test]
    fn bodies_with_a_preference_change_are_left_to_the_pass_that_delimits_values() {
        let beside_a_message = body_with_changes(json!([
            message_change("INFO"),
            preference_change(json!([marketing(Some(GIULIA_PHONE), None, "stop")]))
        ]))
        .to_string();
        for body in [USER_PREFERENCES_STOP, USER_PREFERENCES_RESUME, &beside_a_message] {
            assert_eq!(read_strictly(body), None, "{body}");
            let typed = serde_json::from_str::<RawEnvelope<'_, RawChangeValue<'_>>>(body).unwrap();
            assert!(typed.has_preferences(), "{body}");
            let (events, notes) = read_by_any_pass(body).unwrap();
            assert!(events.iter().any(|event| matches!(event, InboundEvent::Preference(_))), "{body}");
            assert_eq!(notes, Vec::<String>::new());
        }
        // A `messages` body is still the strict reader's.
        assert!(read_strictly(&body_with_changes(json!([message_change("INFO")])).to_string()).is_some());
    }

    #[test]
    fn the_strict_reader_leaves_escapes_nulls_repeats_fractions_and_negative_zero_to_serde() {
        let body = |message: Value| body_with_messages(json!([message])).to_string();
        let text = text_from("393331234567", "ciao");
        let escaped = body(text_from("393331234567", "\"ciao\""));
        let null_field = {
            let mut m = text.clone();
            m["from_user_id"] = Value::Null;
            body(m)
        };
        let repeated = body(text.clone()).replacen(r#""type":"text""#, r#""type":"text","type":"image""#, 1);
        let fraction = body_with_statuses(json!([{ "id": "wamid.1", "status": "failed", "timestamp": "1778751387",
            "recipient_id": "393331234567", "errors": [{ "code": 1.5 }] }]))
        .to_string();
        // serde_json reads `-0` as a float, which `code` refuses.
        let negative_zero = fraction.replace("1.5", "-0");
        assert!(parse_webhook(negative_zero.as_bytes()).is_err());
        for json in [escaped, null_field, repeated, fraction, negative_zero] {
            assert_eq!(read_strictly(&json), None, "{json}");
        }
        assert!(parse_webhook(body(text_from("393331234567", "\"ciao\"")).as_bytes()).is_ok());
    }

    proptest! {
        #[test]
        fn what_the_strict_reader_reads_serde_reads_the_same(body in any_shaped(), pretty in any::<bool>()) {
            let json = if pretty { serde_json::to_string_pretty(&body).unwrap() } else { body.to_string() };
            if let Some(strict) = read_strictly(&json) {
                prop_assert_eq!(Some(strict), read_by_serde(&json));
            }
        }

        #[test]
        fn a_damaged_body_the_strict_reader_reads_serde_reads_the_same(
            body in any_shaped(),
            at in any::<prop::sample::Index>(),
            cut in 0usize..3,
            insert in prop::sample::select(&["", ",", "}", "]", "[", "{", "\"", ":", "null", "\\", " ", "0", "-", "-0", "01", "1e5", "1.5", "tru", "\u{1}", "é"][..]),
        ) {
            let json = body.to_string();
            let boundaries: Vec<usize> = (0..=json.len()).filter(|i| json.is_char_boundary(*i)).collect();
            let start = boundaries[at.index(boundaries.len())];
            let end = boundaries.iter().copied().filter(|i| *i >= start).nth(cut).unwrap_or(json.len());
            let damaged = format!("{}{insert}{}", &json[..start], &json[end..]);
            if let Some(strict) = read_strictly(&damaged) {
                prop_assert_eq!(Some(strict), read_by_serde(&damaged), "{}", damaged);
            }
        }

        #[test]
        fn preference_changes_never_change_how_the_rest_of_a_body_reads(body in any_shaped()) {
            let mut without = body.clone();
            for entry in without["entry"].as_array_mut().into_iter().flatten() {
                for change in entry["changes"].as_array_mut().into_iter().flatten() {
                    if change["field"] == PREFERENCES_FIELD {
                        change["field"] = json!("account_update");
                    }
                }
            }
            let not_preferences = |reading: Reading| {
                reading.map(|(events, _)| {
                    events.into_iter().filter(|e| !matches!(e, InboundEvent::Preference(_))).collect::<Vec<_>>()
                })
            };
            let (with, without) = (read_by_any_pass(&body.to_string()), read_by_any_pass(&without.to_string()));
            prop_assert_eq!(not_preferences(with), not_preferences(without));
        }

        #[test]
        fn arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..1024)) {
            let _ = parse_webhook(&body);
        }

        #[test]
        fn arbitrary_json_ish_text_never_panics(body in r#"[{}\[\]":,0-9a-z_. \-]{0,256}"#) {
            let _ = parse_webhook(body.as_bytes());
        }

        #[test]
        fn arbitrary_webhook_shaped_json_never_panics_and_explains_refusals(body in webhook_shaped()) {
            if let Err(error) = parse_webhook(body.to_string().as_bytes()) {
                prop_assert!(!error.to_string().is_empty());
            }
        }

        #[test]
        fn any_text_message_reads_back_its_body_sender_and_time(
            body in any::<String>(),
            from in "[1-9][0-9]{7,14}",
            seconds in 0i64..4_102_444_800,
        ) {
            let mut message = text_from(&from, &body);
            message["timestamp"] = json!(seconds.to_string());
            let message = only_message(&body_with_messages(json!([message])).to_string());
            prop_assert_eq!(message.content, text(&body));
            prop_assert_eq!(message.sender.phone, phone(&from));
            prop_assert_eq!(message.timestamp, at(seconds));
        }
    }
}
