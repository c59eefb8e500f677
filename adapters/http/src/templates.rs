//! Meta's template list: `GET {api_base}/{version}/{waba_id}/message_templates` with the
//! account's bearer token, one page per call ([`TemplateSource`]), following `paging.next`
//! only on the Graph API's own host.
//!
//! Defences: a `paging.next` on another scheme, host or port than `WHATSAPP_API_BASE` is
//! refused before any request (the token must not travel there); redirects are not
//! followed; an answer over [`MAX_PAGE_BYTES`] is refused; the page cap is the caller's
//! (`manage::MAX_TEMPLATE_PAGES`).

use crate::graph::GraphConfig;
use crate::{BuildError, USER_AGENT, describe};
use avvio_common::meta_templates::FIELDS;
use avvio_common::ports::{SyncError, TemplateAccount, TemplatePage, TemplateSource};
use reqwest::Url;
use serde::Deserialize;
use serde_json::Value;

/// The largest page accepted (100 templates are far smaller).
pub const MAX_PAGE_BYTES: usize = 4 << 20;

/// Templates asked per page.
pub const PAGE_LIMIT: u32 = 100;

/// Reads Meta's message templates. Build it once and share it: it holds one connection pool.
#[derive(Debug, Clone)]
pub struct GraphTemplates {
    client: reqwest::Client,
    /// `{api_base}/{api_version}`.
    versioned_base: Url,
}

impl GraphTemplates {
    /// Checks `config` (as [`crate::graph::GraphSender::new`] does) and builds the client.
    pub fn new(config: GraphConfig) -> Result<Self, BuildError> {
        let refuse = |reason: &str| BuildError::ApiBase { value: config.api_base.clone(), reason: reason.to_owned() };
        let mut url = Url::parse(&config.api_base).map_err(|e| refuse(&e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
            return Err(refuse("the scheme must be http or https"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(refuse("it must not have a query or a fragment"));
        }
        let version = &config.api_version;
        let well_formed = version.strip_prefix('v').is_some_and(|number| {
            number.starts_with(|c: char| c.is_ascii_digit()) && number.chars().all(|c| c.is_ascii_digit() || c == '.')
        });
        if !well_formed {
            return Err(BuildError::ApiVersion(version.clone()));
        }
        url.path_segments_mut().map_err(|()| refuse("it cannot be a base URL"))?.pop_if_empty().push(version);
        let client = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .timeout(config.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(BuildError::Client)?;
        Ok(Self { client, versioned_base: url })
    }

    /// The first page's URL: `{api_base}/{version}/{waba_id}/message_templates?fields=…&limit=100`.
    pub fn first_url(&self, waba_id: &str) -> Url {
        let mut url = self.versioned_base.clone();
        url.path_segments_mut().expect("checked in `new`").extend([waba_id, "message_templates"]);
        url.query_pairs_mut().append_pair("fields", FIELDS).append_pair("limit", &PAGE_LIMIT.to_string());
        url
    }

    /// `next` if it is on the Graph API's scheme, host and port (and under its path).
    fn checked_next(&self, next: &str) -> Result<Url, SyncError> {
        let refused =
            || SyncError::Refused(format!("Meta's paging.next `{next}` is not on the Graph API's host: not followed"));
        let url = Url::parse(next).map_err(|_| refused())?;
        let base = &self.versioned_base;
        let same_origin = url.scheme() == base.scheme()
            && url.host_str() == base.host_str()
            && url.port_or_known_default() == base.port_or_known_default();
        let base_path = base.path().rsplit_once('/').map_or("", |(prefix, _)| prefix);
        if !same_origin || !url.path().starts_with(base_path) || url.username() != "" || url.password().is_some() {
            return Err(refused());
        }
        Ok(url)
    }

    async fn get(&self, url: Url, account: &TemplateAccount) -> Result<TemplatePage, SyncError> {
        let unreachable = |e: reqwest::Error| SyncError::Unreachable(describe(&e));
        let mut response = self.client.get(url).bearer_auth(&account.access_token).send().await.map_err(unreachable)?;
        let status = response.status();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(unreachable)? {
            if body.len() + chunk.len() > MAX_PAGE_BYTES {
                return Err(SyncError::InvalidAnswer(format!("a page larger than {MAX_PAGE_BYTES} bytes")));
            }
            body.extend_from_slice(&chunk);
        }
        if !status.is_success() {
            return Err(meta_error(status.as_u16(), &body));
        }
        let page: Page = serde_json::from_slice(&body).map_err(|e| {
            SyncError::InvalidAnswer(format!(
                "HTTP {status} with a body that is not a template page ({e}): {}",
                snippet(&body)
            ))
        })?;
        Ok(TemplatePage { templates: page.data, next: page.paging.and_then(|p| p.next).filter(|n| !n.is_empty()) })
    }
}

impl TemplateSource for GraphTemplates {
    async fn page(&self, account: &TemplateAccount, next: Option<&str>) -> Result<TemplatePage, SyncError> {
        let waba_id = &account.waba_id;
        if waba_id.is_empty() || !waba_id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(SyncError::Refused(format!("waba_id `{waba_id}` is not a Graph API id (digits only)")));
        }
        let url = match next {
            None => self.first_url(waba_id),
            Some(next) => self.checked_next(next)?,
        };
        let result = self.get(url, account).await;
        if let Err(e) = &result {
            tracing::warn!(waba_id = %account.waba_id, code = e.code(), "reading Meta's templates failed: {e}");
        }
        result
    }
}

/// A page of Meta's answer: `{"data": [...], "paging": {"cursors": {...}, "next": "..."}}`.
#[derive(Deserialize)]
struct Page {
    data: Vec<Value>,
    #[serde(default)]
    paging: Option<Paging>,
}

#[derive(Deserialize)]
struct Paging {
    #[serde(default)]
    next: Option<String>,
}

/// Meta's error answer `{"error": {"code", "message", "error_subcode", "fbtrace_id"}}`; else the status.
fn meta_error(status: u16, body: &[u8]) -> SyncError {
    #[derive(Deserialize)]
    struct Envelope {
        error: MetaError,
    }
    #[derive(Deserialize)]
    struct MetaError {
        code: Option<i64>,
        #[serde(default)]
        message: String,
        error_subcode: Option<i64>,
        fbtrace_id: Option<String>,
    }
    match serde_json::from_slice::<Envelope>(body).map(|e| e.error) {
        Ok(MetaError { code: Some(code), message, error_subcode, fbtrace_id }) => {
            let mut text = if message.is_empty() { format!("HTTP {status}") } else { message };
            if let Some(sub) = error_subcode {
                text = format!("{text} (subcode {sub})");
            }
            if let Some(trace) = fbtrace_id {
                text = format!("{text} (fbtrace_id {trace})");
            }
            SyncError::Meta { code: code.to_string(), message: text }
        }
        _ => SyncError::Meta { code: format!("http_{status}"), message: format!("HTTP {status}: {}", snippet(body)) },
    }
}

/// The start of a body, for error messages.
fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    match text.char_indices().nth(200) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(base: &str) -> GraphTemplates {
        GraphTemplates::new(GraphConfig { api_base: base.into(), ..GraphConfig::default() }).unwrap()
    }

    #[test]
    fn the_first_page_asks_for_the_fields_sync_reads() {
        let url = source("https://graph.facebook.com").first_url("102290129340398");
        assert_eq!(
            url.as_str(),
            "https://graph.facebook.com/v23.0/102290129340398/message_templates\
             ?fields=name%2Clanguage%2Cstatus%2Ccategory%2Cparameter_format%2Ccomponents&limit=100"
        );
    }

    #[test]
    fn a_next_page_on_another_host_is_refused() {
        let graph = source("https://graph.facebook.com");
        assert!(graph.checked_next("https://graph.facebook.com/v23.0/1022/message_templates?after=x").is_ok());
        for elsewhere in [
            "https://evil.example.com/v23.0/1022/message_templates?after=x",
            "http://graph.facebook.com/v23.0/1022/message_templates",
            "https://graph.facebook.com:8443/v23.0/1022/message_templates",
            "https://user@graph.facebook.com/v23.0/1022/message_templates",
            "not a url",
        ] {
            assert!(matches!(graph.checked_next(elsewhere), Err(SyncError::Refused(_))), "{elsewhere}");
        }
        let prefixed = source("http://127.0.0.1:9/graph");
        assert!(prefixed.checked_next("http://127.0.0.1:9/graph/v23.0/1/message_templates").is_ok());
        assert!(prefixed.checked_next("http://127.0.0.1:9/other/v23.0/1/message_templates").is_err());
    }

    #[test]
    fn meta_s_error_json_is_named_by_its_code() {
        let body = br#"{"error":{"message":"Invalid OAuth access token - Cannot parse access token","type":"OAuthException","code":190,"fbtrace_id":"AbC"}}"#;
        assert_eq!(
            meta_error(401, body),
            SyncError::Meta {
                code: "190".into(),
                message: "Invalid OAuth access token - Cannot parse access token (fbtrace_id AbC)".into()
            }
        );
        assert!(matches!(meta_error(502, b"<html>"), SyncError::Meta { code, .. } if code == "http_502"));
    }
}
