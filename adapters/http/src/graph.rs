//! The WhatsApp Cloud API sender: posts Graph API message bodies to
//! `{api_base}/{version}/{phone_number_id}/messages`, reads the new message's
//! wamid from Meta's answer, and turns Meta's errors into retryable or fatal
//! [`SendError`]s (the classification lives in one place: [`classify`]).

use crate::{BuildError, USER_AGENT, describe};
use avvio_common::domain::ids::Wamid;
use avvio_common::graph::GraphRequest;
use avvio_common::ports::{Account, Retry, SendError, WhatsAppSender};
use reqwest::header::CONTENT_TYPE;
use reqwest::{StatusCode, Url};
use serde::Deserialize;
use std::time::Duration;

/// Meta's Graph API host, the default `WHATSAPP_API_BASE`.
pub const DEFAULT_API_BASE: &str = "https://graph.facebook.com";
/// The Graph API version Avvio is written against.
pub const DEFAULT_API_VERSION: &str = "v23.0";
/// How long one send may take, connection and answer included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Meta error codes worth retrying later: the same request may then succeed.
///
/// | code | meaning |
/// |---|---|
/// | 2 | API service: temporary downtime or overload |
/// | 4 | application request limit reached |
/// | 80007 | WhatsApp Business Account rate limit |
/// | 130429 | Cloud API throughput reached |
/// | 131000 | something went wrong (unknown, transient) |
/// | 131016 | service unavailable |
/// | 131056 | (business, consumer) pair rate limit |
/// | 131057 | business account in maintenance mode |
const RETRYABLE_CODES: [i64; 8] = [2, 4, 80007, 130429, 131000, 131016, 131056, 131057];

/// Where and how long [`GraphSender`] sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphConfig {
    /// Scheme, host and optional path prefix of the Graph API (`WHATSAPP_API_BASE`);
    /// default [`DEFAULT_API_BASE`]. Tests point it at a local stand-in.
    pub api_base: String,
    /// The Graph API version path segment; default [`DEFAULT_API_VERSION`].
    pub api_version: String,
    /// Limit on a whole send, connection and answer included; default [`DEFAULT_TIMEOUT`].
    pub timeout: Duration,
}

impl Default for GraphConfig {
    fn default() -> Self {
        Self {
            api_base: DEFAULT_API_BASE.to_owned(),
            api_version: DEFAULT_API_VERSION.to_owned(),
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

/// Sends WhatsApp messages through Meta's Cloud API.
///
/// Build it once at start-up and share it: it holds one connection pool.
/// It keeps no credentials; each send carries its account's token, which is
/// never logged (reqwest marks the `Authorization` header sensitive).
#[derive(Debug, Clone)]
pub struct GraphSender {
    client: reqwest::Client,
    /// `{api_base}/{api_version}`, to which each send appends `{phone_number_id}/messages`.
    versioned_base: Url,
    timeout: Duration,
}

impl GraphSender {
    /// Checks `config` and builds the HTTP client. Redirects are not followed:
    /// the Graph API does not redirect, and a bearer token should not travel.
    pub fn new(config: GraphConfig) -> Result<Self, BuildError> {
        let versioned_base = versioned_base(&config.api_base, &config.api_version)?;
        let client = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .timeout(config.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(BuildError::Client)?;
        Ok(Self { client, versioned_base, timeout: config.timeout })
    }

    /// `{api_base}/{api_version}/{phone_number_id}/messages`.
    pub fn messages_url(&self, phone_number_id: &str) -> Url {
        let mut url = self.versioned_base.clone();
        url.path_segments_mut()
            .expect("checked in `new`: the base is an http(s) URL")
            .extend([phone_number_id, "messages"]);
        url
    }

    async fn try_send(&self, account: &Account, request: &GraphRequest) -> Result<Wamid, SendError> {
        let phone_number_id = &account.phone_number_id;
        if phone_number_id.is_empty() || !phone_number_id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(SendError {
                retry: Retry::Fatal,
                code: "invalid_phone_number_id".into(),
                message: format!("phone_number_id `{phone_number_id}` is not a Graph API id (digits only)"),
            });
        }
        let response = self
            .client
            .post(self.messages_url(phone_number_id))
            .bearer_auth(&account.access_token)
            .header(CONTENT_TYPE, "application/json")
            .body(request.as_str().to_owned())
            .send()
            .await
            .map_err(|e| self.transport_error(&e))?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| self.transport_error(&e))?;
        if status.is_success() { wamid_of(&body) } else { Err(meta_error(status, &body)) }
    }

    fn transport_error(&self, error: &reqwest::Error) -> SendError {
        if error.is_timeout() {
            SendError {
                retry: Retry::Retryable,
                code: "timeout".into(),
                message: format!("no answer from the WhatsApp Cloud API within {:?}", self.timeout),
            }
        } else if error.is_builder() {
            SendError { retry: Retry::Fatal, code: "invalid_request".into(), message: describe(error) }
        } else {
            SendError { retry: Retry::Retryable, code: "connection".into(), message: describe(error) }
        }
    }
}

impl WhatsAppSender for GraphSender {
    /// Posts `request.as_str()` byte for byte. A timeout is retryable even
    /// though Meta may have accepted the message before it: the engine records
    /// the intent before sending, so a retry is what it decides, not this adapter.
    async fn send(&self, account: &Account, request: &GraphRequest) -> Result<Wamid, SendError> {
        let result = self.try_send(account, request).await;
        match &result {
            Ok(wamid) => tracing::debug!(phone_number_id = %account.phone_number_id, %wamid, "WhatsApp message sent"),
            Err(e) => tracing::warn!(
                phone_number_id = %account.phone_number_id, code = %e.code, retry = ?e.retry,
                "WhatsApp send failed: {}", e.message
            ),
        }
        result
    }
}

/// Whether a failed send may succeed later, from the HTTP status of Meta's
/// answer and the `error.code` in its body (if any).
///
/// Retryable: Meta's throttling and transient codes (2, 4, 80007, 130429,
/// 131000, 131016, 131056, 131057), any 5xx, and a 429 without a Meta code (a
/// throttling proxy). Fatal: everything else, notably 131047 (outside the
/// 24h window), 132000–132999 (template errors), 131026 (undeliverable),
/// 100 (invalid parameter) and 190 (expired token).
pub fn classify(status: u16, meta_code: Option<i64>) -> Retry {
    let transient_code = meta_code.is_some_and(|code| RETRYABLE_CODES.contains(&code));
    if transient_code || (500..600).contains(&status) || status == 429 { Retry::Retryable } else { Retry::Fatal }
}

/// `{api_base}/{api_version}`, checked.
fn versioned_base(api_base: &str, api_version: &str) -> Result<Url, BuildError> {
    let refuse = |reason: &str| BuildError::ApiBase { value: api_base.to_owned(), reason: reason.to_owned() };
    let mut url = Url::parse(api_base).map_err(|e| refuse(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
        return Err(refuse("the scheme must be http or https"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(refuse("it must not have a query or a fragment"));
    }
    let well_formed = api_version.strip_prefix('v').is_some_and(|number| {
        number.starts_with(|c: char| c.is_ascii_digit()) && number.chars().all(|c| c.is_ascii_digit() || c == '.')
    });
    if !well_formed {
        return Err(BuildError::ApiVersion(api_version.to_owned()));
    }
    url.path_segments_mut().map_err(|()| refuse("it cannot be a base URL"))?.pop_if_empty().push(api_version);
    Ok(url)
}

/// Meta's success answer: `{"messaging_product":"whatsapp","contacts":[…],"messages":[{"id":"wamid.…"}]}`.
#[derive(Deserialize)]
struct Sent {
    #[serde(default)]
    messages: Vec<SentMessage>,
}

#[derive(Deserialize)]
struct SentMessage {
    id: String,
}

/// The wamid of a 2xx answer. Without one the send is fatal: Meta accepted
/// the request, so sending it again could deliver the message twice.
fn wamid_of(body: &[u8]) -> Result<Wamid, SendError> {
    let invalid = |why: String| SendError { retry: Retry::Fatal, code: "invalid_response".into(), message: why };
    let sent: Sent =
        serde_json::from_slice(body).map_err(|e| invalid(format!("a 2xx answer that is not Meta's JSON ({e})")))?;
    let id = sent
        .messages
        .into_iter()
        .next()
        .map(|m| m.id)
        .ok_or_else(|| invalid(format!("a 2xx answer without messages[0].id: {}", snippet(body))))?;
    Wamid::parse(id).map_err(|e| invalid(format!("a 2xx answer with a bad messages[0].id: {e}")))
}

/// Meta's error answer: `{"error":{"message","type","code","error_subcode","error_data":{"details"},"fbtrace_id"}}`.
#[derive(Deserialize)]
struct ErrorEnvelope {
    error: MetaError,
}

#[derive(Deserialize)]
struct MetaError {
    code: Option<i64>,
    #[serde(default)]
    message: String,
    error_data: Option<ErrorData>,
    fbtrace_id: Option<String>,
}

#[derive(Deserialize)]
struct ErrorData {
    details: Option<String>,
}

/// The error a non-2xx answer stands for: Meta's code when the body has one, else `http_<status>`.
fn meta_error(status: StatusCode, body: &[u8]) -> SendError {
    let meta = serde_json::from_slice::<ErrorEnvelope>(body).ok().map(|envelope| envelope.error);
    match meta {
        Some(MetaError { code: Some(code), message, error_data, fbtrace_id }) => {
            let mut text = if message.is_empty() { format!("HTTP {status}") } else { message };
            if let Some(details) = error_data.and_then(|d| d.details).filter(|d| !d.is_empty()) {
                text = format!("{text}: {details}");
            }
            if let Some(trace) = fbtrace_id {
                text = format!("{text} (fbtrace_id {trace})");
            }
            SendError { retry: classify(status.as_u16(), Some(code)), code: code.to_string(), message: text }
        }
        _ => SendError {
            retry: classify(status.as_u16(), None),
            code: format!("http_{}", status.as_u16()),
            message: match snippet(body) {
                s if s.is_empty() => format!("HTTP {status}"),
                s => format!("HTTP {status}: {s}"),
            },
        },
    }
}

/// The start of a body, for error messages.
fn snippet(body: &[u8]) -> String {
    const MAX_CHARS: usize = 200;
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    match text.char_indices().nth(MAX_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_sorts_meta_codes_and_statuses_into_retryable_and_fatal() {
        use Retry::{Fatal, Retryable};
        let table: &[(u16, Option<i64>, Retry, &str)] = &[
            (400, Some(130429), Retryable, "throughput reached"),
            (400, Some(131056), Retryable, "pair rate limit"),
            (400, Some(80007), Retryable, "WABA rate limit"),
            (400, Some(131057), Retryable, "account in maintenance mode"),
            (400, Some(131049), Fatal, "per-user marketing limit: the engine fails the step"),
            (400, Some(131050), Fatal, "user stopped marketing: the engine opts the contact out"),
            (400, Some(4), Retryable, "app rate limit"),
            (500, Some(131000), Retryable, "something went wrong"),
            (503, Some(131016), Retryable, "service unavailable"),
            (503, Some(2), Retryable, "API service down"),
            (400, Some(2), Retryable, "API service down, whatever the status"),
            (500, None, Retryable, "a bare 500"),
            (502, None, Retryable, "a bare 502"),
            (503, Some(131047), Retryable, "any 5xx, whatever the code"),
            (429, None, Retryable, "a throttling proxy"),
            (400, Some(131047), Fatal, "outside the 24h window"),
            (400, Some(132000), Fatal, "template parameter count mismatch"),
            (400, Some(132001), Fatal, "template does not exist"),
            (400, Some(132999), Fatal, "template error range end"),
            (400, Some(131026), Fatal, "undeliverable"),
            (400, Some(100), Fatal, "invalid parameter"),
            (401, Some(190), Fatal, "expired token"),
            (400, Some(1), Fatal, "API unknown"),
            (400, None, Fatal, "a bare 400"),
            (404, None, Fatal, "a bare 404"),
            (302, None, Fatal, "a redirect"),
        ];
        for &(status, code, expected, what) in table {
            assert_eq!(classify(status, code), expected, "{what}: status {status}, code {code:?}");
        }
    }

    #[test]
    fn a_meta_error_carries_its_code_message_details_and_trace() {
        let body = br#"{"error":{"message":"(#131047) Re-engagement message","type":"OAuthException","code":131047,
            "error_data":{"messaging_product":"whatsapp","details":"More than 24 hours have passed"},
            "fbtrace_id":"Az8or2yhqkZfEZ-_4Qn_Bam"}}"#;
        let error = meta_error(StatusCode::BAD_REQUEST, body);
        assert_eq!(error.retry, Retry::Fatal);
        assert_eq!(error.code, "131047");
        assert_eq!(
            error.message,
            "(#131047) Re-engagement message: More than 24 hours have passed (fbtrace_id Az8or2yhqkZfEZ-_4Qn_Bam)"
        );
    }

    #[test]
    fn a_body_without_a_meta_error_is_named_by_its_status() {
        let error = meta_error(StatusCode::BAD_GATEWAY, b"<html>upstream down</html>");
        assert_eq!(error.retry, Retry::Retryable);
        assert_eq!(error.code, "http_502");
        assert_eq!(error.message, "HTTP 502 Bad Gateway: <html>upstream down</html>");
        assert_eq!(meta_error(StatusCode::FORBIDDEN, br#"{"error":{"message":"no code"}}"#).code, "http_403");
    }

    #[test]
    fn a_success_names_the_first_message_id() {
        let body = br#"{"messaging_product":"whatsapp","contacts":[{"input":"393331234567","wa_id":"393331234567"}],
            "messages":[{"id":"wamid.HBgLMzkzMzMxMjM0NTY3FQIAERgSQzg=","message_status":"accepted"}]}"#;
        assert_eq!(wamid_of(body).unwrap().as_str(), "wamid.HBgLMzkzMzMxMjM0NTY3FQIAERgSQzg=");
        for bad in [&br#"{"messages":[]}"#[..], br#"{"messages":[{}]}"#, b"ok", br#"{"messages":[{"id":""}]}"#] {
            let error = wamid_of(bad).unwrap_err();
            assert_eq!((error.retry, error.code.as_str()), (Retry::Fatal, "invalid_response"), "{error}");
        }
    }

    #[test]
    fn the_messages_url_keeps_the_base_path_and_appends_version_and_number() {
        let sender =
            |base: &str| GraphSender::new(GraphConfig { api_base: base.into(), ..GraphConfig::default() }).unwrap();
        assert_eq!(
            sender("https://graph.facebook.com").messages_url("106540352242922").as_str(),
            "https://graph.facebook.com/v23.0/106540352242922/messages"
        );
        assert_eq!(
            sender("http://127.0.0.1:9000/graph/").messages_url("1").as_str(),
            "http://127.0.0.1:9000/graph/v23.0/1/messages"
        );
    }

    #[test]
    fn a_malformed_api_base_or_version_is_refused_at_build_time() {
        for base in ["graph.facebook.com", "ftp://graph.facebook.com", "https://graph.facebook.com/?x=1", ""] {
            let config = GraphConfig { api_base: base.into(), ..GraphConfig::default() };
            assert!(matches!(GraphSender::new(config), Err(BuildError::ApiBase { .. })), "{base} accepted");
        }
        for version in ["", "23.0", "v", "..", "v23.0/extra", "../v1"] {
            let config = GraphConfig { api_version: version.into(), ..GraphConfig::default() };
            assert!(matches!(GraphSender::new(config), Err(BuildError::ApiVersion(_))), "{version} accepted");
        }
    }

    #[test]
    fn snippets_cut_long_bodies_on_a_character_boundary() {
        let long = "è".repeat(300);
        let cut = snippet(long.as_bytes());
        assert_eq!(cut.chars().count(), 201);
        assert!(cut.ends_with('…'));
    }
}
