use crate::support::{KEY, start};
use avvio_common::ports::Management;
use axum::http::StatusCode;

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

#[tokio::test]
async fn a_page_without_a_session_sends_the_browser_to_sign_in() {
    let system = start().await;
    let reply = system.get("/console/automations").await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(reply.location(), "sign-in?next=automations");
}

#[tokio::test]
async fn a_forged_cookie_sends_the_browser_to_sign_in() {
    let system = start().await;
    let mut browser = system.browser();
    let forged =
        avvio_console::session::Keys::new("another-secret").seal(&avvio_common::ports::KeyHash::of(KEY), now()).0;
    browser.cookies.insert("avvio_session".into(), forged);
    let reply = browser.get("/console/automations").await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(reply.location(), "sign-in?next=automations");
    browser.cookies.insert("avvio_session".into(), "garbage".into());
    assert_eq!(browser.get("/console/automations").await.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn an_expired_cookie_sends_the_browser_to_sign_in() {
    let system = start().await;
    let mut browser = system.browser();
    browser.cookies.insert("avvio_session".into(), system.forge_session(KEY, now() + 60));
    assert_eq!(browser.get("/console/automations").await.status, StatusCode::OK, "a session still valid works");
    browser.cookies.insert("avvio_session".into(), system.forge_session(KEY, now() - 1));
    let reply = browser.get("/console/automations").await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(reply.location(), "sign-in?next=automations");
}

#[tokio::test]
async fn a_tampered_signature_sends_the_browser_to_sign_in() {
    let system = start().await;
    let mut browser = system.signed_in().await;
    let cookie = browser.cookies["avvio_session"].clone();
    let last = cookie.chars().last().unwrap();
    let tampered = format!("{}{}", &cookie[..cookie.len() - 1], if last == '0' { '1' } else { '0' });
    browser.cookies.insert("avvio_session".into(), tampered);
    assert_eq!(browser.get("/console/automations").await.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_session_for_a_key_that_selects_no_workspace_sends_the_browser_to_sign_in() {
    let system = start().await;
    let mut browser = system.browser();
    browser.cookies.insert("avvio_session".into(), system.forge_session("a-revoked-key", now() + 600));
    assert_eq!(browser.get("/console/automations").await.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn an_htmx_request_without_a_session_is_redirected_by_htmx() {
    let system = start().await;
    let mut browser = system.browser();
    browser.headers = vec![
        ("hx-request".into(), "true".into()),
        ("x-console-root".into(), "".into()),
        ("hx-current-url".into(), "http://localhost:3000/console/automations".into()),
    ];
    let reply = browser.post_body("/console/automations/info-1.1/enabled", "enabled=off".into(), &[]).await;
    assert_eq!(reply.header("hx-redirect"), "sign-in?next=automations");
}

#[tokio::test]
async fn a_post_without_its_csrf_token_is_refused_with_an_html_403() {
    let system = start().await;
    let mut browser = system.signed_in().await;
    let reply = browser.post("/console/automations/info-1.1/enabled", &[("enabled", "off")]).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert!(reply.is_html());
    assert!(reply.text().contains("This form has expired"), "{}", reply.text());
    let reply = browser
        .post_body("/console/automations/info-1.1/enabled", "enabled=off".into(), &[("x-csrf-token", "00ff")])
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    let stored = system.store.automations(&crate::support::workspace_id()).await.unwrap();
    assert!(stored.iter().find(|a| a.id().as_str() == "info-1.1").unwrap().enabled, "nothing was changed");
}

#[tokio::test]
async fn another_sessions_csrf_token_is_refused() {
    let system = start().await;
    let mut mine = system.signed_in().await;
    let mut theirs = system.signed_in().await;
    let their_token = theirs.csrf().await;
    assert_ne!(mine.csrf().await, their_token);
    let reply = mine.post("/console/automations/info-1.1/enabled", &[("csrf", &their_token), ("enabled", "off")]).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn every_console_answer_has_the_security_headers() {
    let system = start().await;
    let mut browser = system.signed_in().await;
    for path in ["/console/automations", "/console/sign-in", "/console/nowhere", "/console/automations/info-1.1"] {
        let reply = browser.get(path).await;
        let csp = reply.header("content-security-policy");
        assert!(csp.contains("default-src 'self'") && csp.contains("script-src 'self'"), "{path}: {csp}");
        assert!(csp.contains("frame-ancestors 'none'") && csp.contains("base-uri 'none'"), "{path}: {csp}");
        assert_eq!(reply.header("referrer-policy"), "same-origin", "{path}");
        assert_eq!(reply.header("x-frame-options"), "DENY", "{path}");
        assert_eq!(reply.header("x-content-type-options"), "nosniff", "{path}");
        if reply.status != StatusCode::SEE_OTHER {
            assert_eq!(reply.header("cache-control"), "no-store", "{path}");
        }
    }
}

#[tokio::test]
async fn pages_have_no_inline_script_style_or_event_handler() {
    let system = start().await;
    let mut browser = system.signed_in().await;
    for path in ["/console/automations", "/console/automations/info-1.1", "/console/nowhere"] {
        let page = browser.get(path).await.text();
        assert!(!page.contains("<script>") && !page.contains("<style"), "{path}");
        assert!(!page.contains(" style=\"") && !page.contains(" onclick="), "{path}");
        for script in page.match_indices("<script").map(|(i, _)| &page[i..i + 80.min(page.len() - i)]) {
            assert!(script.contains(" src=\""), "{path}: {script}");
        }
    }
}
