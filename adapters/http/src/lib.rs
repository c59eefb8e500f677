//! Avvio's HTTP adapters: the ports of `avvio_common::ports` that talk HTTP.
//!
//! - [`graph::GraphSender`] implements `WhatsAppSender` on Meta's WhatsApp
//!   Cloud API (`POST {api_base}/{version}/{phone_number_id}/messages`).
//! - [`templates::GraphTemplates`] implements `TemplateSource` on Meta's template list
//!   (`GET {api_base}/{version}/{waba_id}/message_templates`, following `paging.next`).
//! - [`webhooks::HttpWebhookPoster`] implements `WebhookPoster` for the
//!   `send_webhook` action, refusing private targets in production.
//!
//! Each builds its `reqwest::Client` once and reuses it for every call.

pub mod graph;
pub mod templates;
pub mod webhooks;

/// The `User-Agent` of every request Avvio makes (`Avvio/<crate version>`).
pub const USER_AGENT: &str = concat!("Avvio/", env!("CARGO_PKG_VERSION"));

/// Why an adapter could not be built (a configuration error: fail fast at start-up).
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// `api_base` is not an absolute http(s) URL.
    #[error("WhatsApp API base `{value}` is not an http(s) URL: {reason}")]
    ApiBase { value: String, reason: String },
    /// `api_version` is not a Graph API version (`v23.0`).
    #[error("WhatsApp API version `{0}` is not a Graph API version like `v23.0`")]
    ApiVersion(String),
    /// The HTTP client could not be built (TLS back end initialisation).
    #[error("could not build the HTTP client: {0}")]
    Client(#[source] reqwest::Error),
}

/// An error and its causes, outermost first (`error sending request: dns error: …`).
fn describe(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.ends_with(&cause_text) {
            text = format!("{text}: {cause_text}");
        }
        source = cause.source();
    }
    text
}
