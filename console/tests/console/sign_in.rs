use crate::support::{KEY, start};
use axum::http::StatusCode;

#[tokio::test]
async fn signing_in_with_a_wrong_key_shows_the_form_again_with_401() {
    let system = start().await;
    let mut browser = system.browser();
    let reply = browser.sign_in("not-the-key").await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert!(reply.is_html());
    let page = reply.text();
    assert!(page.contains("This API key is not valid"), "{page}");
    assert!(page.contains(r#"aria-invalid="true""#) && page.contains(r#"id="key-error""#));
    assert!(reply.set_cookie("avvio_session").is_none());
    assert!(!page.contains("not-the-key"), "the key is never written back into the page");
}

#[tokio::test]
async fn signing_in_with_no_key_asks_for_one() {
    let system = start().await;
    let reply = system.browser().sign_in("  ").await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert!(reply.text().contains("Enter your API key"));
}

#[tokio::test]
async fn signing_in_with_the_right_key_sets_an_http_only_strict_session_cookie() {
    let system = start().await;
    let mut browser = system.browser();
    let reply = browser.sign_in(KEY).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(reply.location(), "automations");
    let cookie = reply.set_cookie("avvio_session").expect("a session cookie");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"] {
        assert!(cookie.contains(attribute), "{attribute} in {cookie}");
    }
    assert!(!cookie.contains("Secure"), "no Secure on a loopback host: {cookie}");
    assert!(!cookie.contains(KEY), "the cookie holds the key's hash, not the key");
    let list = browser.get("/console/automations").await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(!list.text().contains(KEY));
}

#[tokio::test]
async fn the_session_cookie_is_secure_on_any_host_but_loopback() {
    let system = start().await;
    for (host, secure) in
        [("127.0.0.1:3000", false), ("[::1]:3000", false), ("abc123.execute-api.eu-south-1.amazonaws.com", true)]
    {
        let mut browser = system.browser();
        browser.host = host.into();
        let cookie = browser.sign_in(KEY).await.set_cookie("avvio_session").unwrap();
        assert_eq!(cookie.contains("; Secure"), secure, "{host}: {cookie}");
    }
}

#[tokio::test]
async fn signing_in_goes_back_to_the_page_that_asked_for_it() {
    let system = start().await;
    let mut browser = system.browser();
    let asked = browser.get("/console/automations/info-1.1").await;
    assert_eq!(asked.status, StatusCode::SEE_OTHER);
    assert_eq!(asked.location(), "../sign-in?next=automations/info-1.1");
    let form = browser.get("/console/sign-in?next=automations/info-1.1").await;
    let reply = browser
        .post("/console/sign-in", &[("csrf", &form.csrf()), ("key", KEY), ("next", "automations/info-1.1")])
        .await;
    assert_eq!(reply.location(), "automations/info-1.1");
}

#[tokio::test]
async fn signing_in_never_sends_the_browser_to_another_site() {
    let system = start().await;
    let mut browser = system.browser();
    let form = browser.get("/console/sign-in").await;
    let reply =
        browser.post("/console/sign-in", &[("csrf", &form.csrf()), ("key", KEY), ("next", "//evil.example/")]).await;
    assert_eq!(reply.location(), "automations");
}

#[tokio::test]
async fn a_sign_in_without_the_forms_token_is_refused() {
    let system = start().await;
    let mut browser = system.browser();
    browser.get("/console/sign-in").await;
    let reply = browser.post("/console/sign-in", &[("key", KEY)]).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert!(reply.is_html());
    assert!(reply.set_cookie("avvio_session").is_none());
    let mut stranger = system.browser();
    let token = browser.get("/console/sign-in").await.csrf();
    let reply = stranger.post("/console/sign-in", &[("csrf", &token), ("key", KEY)]).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "a token from another browser's form does not sign in");
}

#[tokio::test]
async fn the_sign_in_page_sends_a_signed_in_browser_on() {
    let system = start().await;
    let mut browser = system.signed_in().await;
    let reply = browser.get("/console/sign-in").await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(reply.location(), "automations");
}

#[tokio::test]
async fn signing_out_clears_the_session() {
    let system = start().await;
    let mut browser = system.signed_in().await;
    let csrf = browser.csrf().await;
    let reply = browser.post("/console/sign-out", &[("csrf", &csrf)]).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(reply.location(), "sign-in");
    assert!(reply.set_cookie("avvio_session").unwrap().contains("Max-Age=0"));
    assert_eq!(browser.get("/console/automations").await.status, StatusCode::SEE_OTHER);
}
