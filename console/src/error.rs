//! Error pages. A handler (or an extractor) answers [`Failure`]: a status and, maybe, a detail.
//! The console's layer ([`decorate`]) turns it into an HTML page in the request's language, with
//! the reason and a link back, and does the same for any other error answer that is not HTML (an
//! axum rejection), so nothing under `/console` is ever JSON or a stack trace. It also puts the
//! security headers on every answer.

use crate::i18n::Texts;
use crate::page::{Page, render_status};
use askama::Template;
use avvio_common::manage::ManageError;
use avvio_common::ports::StoreError;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Why a console request failed, for its error page. The page's title and explanation come
/// from the status (in the request's language); `detail` says what exactly, when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub status: StatusCode,
    pub detail: Detail,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Detail {
    None,
    /// A sentence shown as it is (a validation message, the name of what was not found).
    Text(String),
    /// The size limit a body went over, in bytes.
    Limit(usize),
}

impl Failure {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self { status, detail: Detail::Text(detail.into()) }
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, detail)
    }

    /// A POST without its valid CSRF token (403).
    pub fn forbidden() -> Self {
        Self { status: StatusCode::FORBIDDEN, detail: Detail::None }
    }

    /// A body over `limit` bytes (413).
    pub fn too_large(limit: usize) -> Self {
        Self { status: StatusCode::PAYLOAD_TOO_LARGE, detail: Detail::Limit(limit) }
    }

    /// A body or a URL that cannot be read (400), with the reason.
    pub fn malformed(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, detail)
    }

    /// The store failed (503): logged; the page only says to try again.
    pub fn unavailable(error: impl std::fmt::Display) -> Self {
        tracing::error!(%error, "console: the store failed");
        Self { status: StatusCode::SERVICE_UNAVAILABLE, detail: Detail::None }
    }

    /// A bug (500): logged; the page only says to try again.
    pub fn internal(error: impl std::fmt::Display) -> Self {
        tracing::error!(%error, "console: internal error");
        Self { status: StatusCode::INTERNAL_SERVER_ERROR, detail: Detail::None }
    }

    /// The error page's title and explanation.
    fn words(&self, t: &'static Texts) -> (&'static str, &'static str) {
        match self.status.as_u16() {
            403 => (t.error_forbidden_title, t.error_forbidden),
            404 => (t.error_not_found_title, t.error_not_found),
            405 => (t.error_method_title, t.error_method),
            409 | 422 => (t.error_refused_title, t.error_refused),
            413 => (t.error_too_large_title, t.error_too_large),
            400..=499 => (t.error_malformed_title, t.error_malformed),
            _ => (t.error_unavailable_title, t.error_unavailable),
        }
    }

    /// The error page, for `page`.
    pub fn page(&self, page: &Page) -> Response {
        let (title, reason) = self.words(page.t);
        let detail = match &self.detail {
            Detail::None => None,
            Detail::Text(text) => Some(text.clone()),
            Detail::Limit(bytes) => Some(format!("{}: {} KiB", page.t.error_limit, bytes / 1024)),
        };
        let template = ErrorPage { page, t: page.t, status: self.status.as_u16(), title, reason, detail };
        let mut response = render_status(self.status, &template);
        if response.status() != self.status {
            // The error template itself failed: a plain text answer, still with the reason.
            response = (self.status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], reason).into_response();
        }
        response
    }
}

impl IntoResponse for Failure {
    /// The status and the failure itself, for [`decorate`] to render with the request's page.
    fn into_response(self) -> Response {
        let mut response = self.status.into_response();
        response.extensions_mut().insert(self);
        response
    }
}

impl From<ManageError> for Failure {
    fn from(e: ManageError) -> Self {
        match e {
            ManageError::Invalid(issue) => Self::new(StatusCode::UNPROCESSABLE_ENTITY, issue.message),
            ManageError::Conflict(issue) => Self::new(StatusCode::CONFLICT, issue.message),
            ManageError::NotFound(message) => Self::not_found(message),
            ManageError::Store(e) => Self::unavailable(e),
            ManageError::Meta(e) => Self::new(StatusCode::BAD_GATEWAY, e.to_string()),
        }
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Self::unavailable(e)
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    page: &'a Page,
    t: &'static Texts,
    status: u16,
    title: &'static str,
    reason: &'static str,
    detail: Option<String>,
}

/// The Content-Security-Policy of every console answer: nothing inline, nothing from another host.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// The console's outer layer: reads the request's [`Page`] for the handlers, turns failures and
/// non-HTML errors into error pages, and sets the security headers (and `Cache-Control: no-store`
/// unless the handler chose one, as the assets do).
pub async fn decorate(mut request: Request, next: Next) -> Response {
    let page = Page::new(request.uri(), request.headers());
    request.extensions_mut().insert(page.clone());
    let response = next.run(request).await;
    let mut response = as_html(&page, response).await;
    secure(response.headers_mut());
    response
}

/// An error answer as an HTML page: a [`Failure`] rendered, any other non-HTML error (an axum
/// rejection's text) shown as its detail.
async fn as_html(page: &Page, response: Response) -> Response {
    if let Some(failure) = response.extensions().get::<Failure>().cloned() {
        return failure.page(page);
    }
    let status = response.status();
    let html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if !(status.is_client_error() || status.is_server_error()) || html {
        return response;
    }
    let text = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/plain"));
    let body = axum::body::to_bytes(response.into_body(), 4096).await.unwrap_or_default();
    let detail = match String::from_utf8(body.to_vec()) {
        Ok(detail) if text && !detail.trim().is_empty() => Detail::Text(detail.trim().to_string()),
        _ => Detail::None,
    };
    Failure { status, detail }.page(page)
}

/// The security headers of every console answer.
fn secure(headers: &mut HeaderMap) {
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
}

/// The console's fallback: an HTML 404.
pub async fn not_found(page: Page) -> Failure {
    Failure::not_found(format!("/console/{}", page.here.split('?').next().unwrap_or_default()))
}

/// A known address asked with a method it does not take: an HTML 405.
pub async fn method_not_allowed() -> Failure {
    Failure { status: StatusCode::METHOD_NOT_ALLOWED, detail: Detail::None }
}
