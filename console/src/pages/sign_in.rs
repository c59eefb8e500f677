//! Sign-in with the API key, and sign-out. The form is protected against login CSRF: its GET
//! sets a pre-session cookie with a random nonce and the form carries the token derived from it.
//! A right key sets the session cookie (see `session`); the key itself is never kept.

use crate::error::Failure;
use crate::form::Form;
use crate::guard::verify_csrf;
use crate::i18n::Texts;
use crate::page::{Page, render, render_status, safe_next, see_other};
use crate::session::{
    PRE_SESSION_COOKIE, PRE_SESSION_SECONDS, SESSION_COOKIE, SESSION_SECONDS, SameSite, add_cookie, cookie,
    fresh_nonce, is_nonce, set_cookie,
};
use crate::{Console, unix_now};
use askama::Template;
use avvio_common::ports::{EventQueue, KeyHash, Management};
use axum::extract::{FromRequest, Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use std::sync::Arc;

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignInPage<'a> {
    page: &'a Page,
    t: &'static Texts,
    csrf: String,
    next: &'a str,
    error: Option<&'static str>,
}

#[derive(Deserialize)]
pub struct NextQuery {
    #[serde(default)]
    next: String,
}

#[derive(Deserialize)]
pub struct SignInFields {
    #[serde(default)]
    key: String,
    #[serde(default)]
    next: String,
}

/// `GET sign-in`: the form (or, already signed in, where it would lead).
pub async fn form<S: Management, E: EventQueue>(
    State(console): State<Arc<Console<S, E>>>,
    page: Page,
    headers: HeaderMap,
    Query(query): Query<NextQuery>,
) -> Result<Response, Failure> {
    let next = safe_next(&query.next).unwrap_or("automations");
    if let Some(claims) = cookie(&headers, SESSION_COOKIE).and_then(|v| console.keys.open(v, unix_now()))
        && console.app.store.workspace_for_key(&claims.key).await?.is_some()
    {
        return Ok(page.redirect(next));
    }
    let existing = cookie(&headers, PRE_SESSION_COOKIE).filter(|n| is_nonce(n));
    let nonce = existing.map_or_else(fresh_nonce, str::to_string);
    let csrf = console.keys.csrf_token(&nonce);
    let mut response =
        render(&SignInPage { page: &page, t: page.t, csrf, next: safe_next(&query.next).unwrap_or(""), error: None });
    if existing.is_none() {
        let pre =
            set_cookie(PRE_SESSION_COOKIE, &nonce, PRE_SESSION_SECONDS, SameSite::Strict, true, page.secure_cookies());
        add_cookie(&mut response, &pre)?;
    }
    Ok(response)
}

/// `POST sign-in`: a right key signs in and goes on to `next`; a wrong one shows the form again (401).
pub async fn submit<S: Management, E: EventQueue>(
    State(console): State<Arc<Console<S, E>>>,
    page: Page,
    request: Request,
) -> Result<Response, Failure> {
    let nonce = cookie(request.headers(), PRE_SESSION_COOKIE).filter(|n| is_nonce(n)).map(str::to_string);
    let nonce = nonce.ok_or_else(Failure::forbidden)?;
    let request = verify_csrf(request, &console.keys, &nonce).await?;
    let Form(fields) = Form::<SignInFields>::from_request(request, &()).await?;
    let key = fields.key.trim();
    let error = if key.is_empty() {
        Some(page.t.api_key_missing)
    } else if console.app.store.workspace_for_key(&KeyHash::of(key)).await?.is_none() {
        Some(page.t.api_key_wrong)
    } else {
        None
    };
    if let Some(error) = error {
        let next = safe_next(&fields.next).unwrap_or("");
        let form =
            SignInPage { page: &page, t: page.t, csrf: console.keys.csrf_token(&nonce), next, error: Some(error) };
        return Ok(render_status(StatusCode::UNAUTHORIZED, &form));
    }
    let (session, _) = console.keys.seal(&KeyHash::of(key), unix_now());
    let next = safe_next(&fields.next).unwrap_or("automations");
    let mut response = see_other(&format!("{}{next}", page.request_root));
    let secure = page.secure_cookies();
    add_cookie(&mut response, &set_cookie(SESSION_COOKIE, &session, SESSION_SECONDS, SameSite::Strict, true, secure))?;
    add_cookie(&mut response, &set_cookie(PRE_SESSION_COOKIE, "", 0, SameSite::Strict, true, secure))?;
    Ok(response)
}

/// `POST sign-out` (behind the guard, so with its CSRF token): clears the session cookie.
pub async fn sign_out(page: Page) -> Result<Response, Failure> {
    let mut response = page.redirect("sign-in");
    add_cookie(&mut response, &set_cookie(SESSION_COOKIE, "", 0, SameSite::Strict, true, page.secure_cookies()))?;
    Ok(response)
}
