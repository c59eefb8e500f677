use crate::support::{KEY, attribute_values, start};
use axum::body::Body;
use axum::http::{Request, StatusCode};

#[tokio::test]
async fn the_root_and_the_console_redirect_relatively() {
    let system = start().await;
    for (path, location) in [("/", "console/"), ("/console", "console/"), ("/console/", "automations")] {
        let reply = system.get(path).await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(reply.location(), location, "{path}");
    }
}

#[tokio::test]
async fn the_api_is_still_served_beside_the_console() {
    let system = start().await;
    let reply = system.get("/health").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.header("content-type").starts_with("application/json"));
    let reply = system.get("/v1/workspace").await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "the API still wants its bearer key");
}

#[tokio::test]
async fn every_link_asset_and_form_action_is_relative() {
    let system = start().await;
    let mut browser = system.browser();
    let mut pages = vec![browser.get("/console/sign-in").await.text(), browser.sign_in("wrong").await.text()];
    let reply = browser.sign_in(KEY).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    for path in [
        "/console/automations",
        "/console/automations/info-1.1",
        "/console/automations/info-1.1/versions",
        "/console/automations/info-1.1/versions/1",
        "/console/nowhere",
        "/console/automations/x/y/z",
    ] {
        pages.push(browser.get(path).await.text());
    }
    for page in &pages {
        for attribute in ["href", "src", "action", "hx-post", "hx-get"] {
            for value in attribute_values(page, attribute) {
                assert!(!value.starts_with('/') && !value.contains("://"), "{attribute}=\"{value}\" is not relative");
            }
        }
        assert!(!page.contains("href=\"/") && !page.contains("src=\"/") && !page.contains("action=\"/"));
    }
}

#[tokio::test]
async fn italian_is_chosen_from_accept_language() {
    let system = start().await;
    let mut browser = system.signed_in().await;
    browser.headers = vec![("accept-language".into(), "it-IT,it;q=0.9,en-US;q=0.8,en;q=0.7".into())];
    let page = browser.get("/console/automations").await.text();
    assert!(page.contains(r#"<html lang="it">"#));
    assert!(page.contains("Automazioni") && page.contains("Nuova automazione") && page.contains("Step di avvio"));
    assert!(page.contains("Un cliente scrive «vorrei informazioni»"));
    browser.headers = vec![("accept-language".into(), "en-GB,en;q=0.9,it;q=0.8".into())];
    assert!(browser.get("/console/automations").await.text().contains(r#"<html lang="en">"#));
}

#[tokio::test]
async fn the_language_switch_remembers_the_choice_in_a_cookie() {
    let system = start().await;
    let mut browser = system.signed_in().await;
    browser.headers = vec![("accept-language".into(), "en".into())];
    let page = browser.get("/console/automations/info-1.1").await.text();
    assert!(page.contains(r#"href="../lang?to=it&amp;next=automations/info-1.1""#), "{page}");
    let reply = browser.get("/console/lang?to=it&next=automations/info-1.1").await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(reply.location(), "automations/info-1.1");
    let cookie = reply.set_cookie("lang").unwrap();
    assert!(cookie.starts_with("lang=it;") && cookie.contains("Max-Age=31536000") && cookie.contains("SameSite=Lax"));
    let page = browser.get("/console/automations/info-1.1").await.text();
    assert!(page.contains(r#"<html lang="it">"#), "the cookie wins over Accept-Language");
    assert!(page.contains("Torna alle automazioni"));
    let reply = browser.get("/console/lang?to=en&next=https://evil.example").await;
    assert_eq!(reply.location(), "automations");
}

#[tokio::test]
async fn the_sign_in_page_speaks_italian_too() {
    let system = start().await;
    let mut browser = system.browser();
    browser.headers = vec![("accept-language".into(), "it".into())];
    let page = browser.get("/console/sign-in").await.text();
    assert!(page.contains("Accedi ad Avvio") && page.contains("Chiave API"));
    let reply = browser.sign_in("sbagliata").await;
    assert!(reply.text().contains("Questa chiave API non è valida"));
}

#[tokio::test]
async fn an_oversized_form_is_refused_with_an_html_413_and_changes_nothing() {
    let system = start().await;
    let mut browser = system.signed_in().await;
    let csrf = browser.csrf().await;
    let body = format!("enabled=off&padding={}", "x".repeat(70 * 1024));
    let reply = browser.post_body("/console/automations/info-1.1/enabled", body, &[("x-csrf-token", &csrf)]).await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(reply.is_html());
    assert!(reply.text().contains("The form is too large") && reply.text().contains("64 KiB"), "{}", reply.text());
    let body = format!("csrf={csrf}&enabled=off&padding={}", "x".repeat(2 << 20));
    let reply = browser.post_body("/console/automations/info-1.1/enabled", body, &[]).await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(reply.is_html());
    let page = browser.get("/console/automations").await.text();
    assert!(!page.contains(r#"aria-checked="false""#), "nothing was stored");
}

#[tokio::test]
async fn nothing_under_the_console_answers_json() {
    let system = start().await;
    let mut browser = system.signed_in().await;
    let csrf = browser.csrf().await;
    let mut replies = vec![
        browser.get("/console/nowhere").await,
        browser.get("/console/automations/nessuna").await,
        browser.get("/console/automations/info-1.1/enabled").await,
        browser.get("/console/lang").await,
        browser.get("/console/lang?to=fr").await,
        browser.post("/console/automations/nessuna/enabled", &[("csrf", &csrf), ("enabled", "off")]).await,
        browser.post("/console/automations/info-1.1/enabled", &[("enabled", "off")]).await,
    ];
    let json = Request::post("/console/automations/info-1.1/enabled")
        .header("host", "localhost")
        .header("cookie", format!("avvio_session={}", browser.cookies["avvio_session"]))
        .header("x-csrf-token", &csrf)
        .header("content-type", "application/json")
        .body(Body::from(r#"{"enabled": "off"}"#))
        .unwrap();
    replies.push(system.send(json).await);
    for reply in replies {
        assert!(reply.status.is_client_error(), "{:?}", reply.status);
        assert!(reply.is_html(), "{:?}: {:?}", reply.status, reply.headers);
        let page = reply.text();
        assert!(page.contains("<!doctype html>") && page.contains("data-reason"), "{page}");
        assert!(!page.trim_start().starts_with('{'));
    }
}
