//! The session guard, layered on every page but sign-in, the language switch and the assets
//! (see `pages::router`): a route behind it cannot be reached without a valid session nor
//! changed without the session's CSRF token, whatever its handler does.
//!
//! - No cookie, a forged or expired one, or a key that no longer selects a workspace → the
//!   sign-in page (303, or `HX-Redirect` for htmx), which comes back here afterwards.
//! - A request other than GET/HEAD must carry the CSRF token: header `X-CSRF-Token` (htmx, set
//!   by `app.js`) or form field `csrf`; else 403.
//! - Then the handler finds the [`Session`] (workspace, CSRF token) and a [`Page`] with
//!   `signed_in` and `csrf` set in the request.

use crate::error::Failure;
use crate::form::{CSRF_FIELD, EDITOR_FORM_LIMIT};
use crate::page::Page;
use crate::session::{Keys, SESSION_COOKIE, Session, cookie};
use crate::{Console, unix_now};
use avvio_common::ports::{EventQueue, Management};
use axum::body::Body;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::Method;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// The header htmx requests carry the CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";

pub async fn require_session<S: Management, E: EventQueue>(
    State(console): State<Arc<Console<S, E>>>,
    mut request: Request,
    next: Next,
) -> Response {
    let mut page =
        request.extensions().get::<Page>().cloned().unwrap_or_else(|| Page::new(request.uri(), request.headers()));
    let Some(claims) = cookie(request.headers(), SESSION_COOKIE).and_then(|v| console.keys.open(v, unix_now())) else {
        return page.sign_in_redirect();
    };
    let workspace = match console.app.store.workspace_for_key(&claims.key).await {
        Ok(Some(workspace)) => workspace,
        Ok(None) => return page.sign_in_redirect(),
        Err(e) => return Failure::unavailable(e).into_response(),
    };
    if !matches!(*request.method(), Method::GET | Method::HEAD) {
        request = match verify_csrf(request, &console.keys, &claims.nonce).await {
            Ok(request) => request,
            Err(failure) => return failure.into_response(),
        };
    }
    let session = Session { workspace, csrf: console.keys.csrf_token(&claims.nonce) };
    page.csrf = session.csrf.clone();
    page.signed_in = true;
    request.extensions_mut().insert(page);
    request.extensions_mut().insert(session);
    next.run(request).await
}

/// Checks that `request` carries the CSRF token of `nonce`, in the `X-CSRF-Token` header or the
/// form field `csrf` (the body is read, up to [`EDITOR_FORM_LIMIT`], and given back for the
/// handler). 403 without it.
pub async fn verify_csrf(request: Request, keys: &Keys, nonce: &str) -> Result<Request, Failure> {
    if let Some(token) = request.headers().get(CSRF_HEADER) {
        let token = token.to_str().unwrap_or_default();
        return if keys.check_csrf(nonce, token) { Ok(request) } else { Err(Failure::forbidden()) };
    }
    let (parts, body) = request.into_parts();
    let bytes = crate::form::read_body(&parts.headers, body, EDITOR_FORM_LIMIT).await?;
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes).unwrap_or_default();
    let token = pairs.iter().find(|(name, _)| name == CSRF_FIELD).map(|(_, v)| v.as_str()).unwrap_or_default();
    if keys.check_csrf(nonce, token) {
        Ok(Request::from_parts(parts, Body::from(bytes)))
    } else {
        Err(Failure::forbidden())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Session {
    type Rejection = Failure;

    /// The session [`require_session`] verified. A handler outside the guard gets a 500: the
    /// route belongs behind it.
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Failure> {
        parts.extensions.get::<Session>().cloned().ok_or_else(|| {
            Failure::internal(format!("{} asks for a session but is not behind the session guard", parts.uri.path()))
        })
    }
}
