//! `HttpWebhookPoster` against a stand-in receiver on a random loopback port.

mod support;

use avvio_common::outbound::{Mode, signature};
use avvio_common::ports::{Retry, WebhookError, WebhookPoster};
use avvio_http::webhooks::{HttpWebhookPoster, WebhookConfig};
use serde_json::{Value, json};
use std::time::Duration;
use support::{Reply, StandIn, closed_port_url};

/// A local-mode poster with tiny delays: 3 attempts, 10 ms first backoff, 200 ms timeout.
fn poster() -> HttpWebhookPoster {
    HttpWebhookPoster::new(WebhookConfig {
        mode: Mode::Local,
        timeout: Duration::from_millis(200),
        attempts: 3,
        backoff: Duration::from_millis(10),
        budget: Duration::from_secs(10),
    })
    .unwrap()
}

fn order() -> Value {
    json!({ "workspace": "pizzeria", "automation": { "id": "info-1.1", "name": "Richiesta informazioni" },
            "run": "r-1", "step": 2, "contact": { "phone": "393331234567", "name": "Mario" }, "note": "è ok" })
}

/// Posts `order()` to a stand-in answering `replies`; returns the result and the stand-in.
async fn post_answered_by(replies: impl IntoIterator<Item = Reply>) -> (Result<(), WebhookError>, StandIn) {
    let receiver = StandIn::start(replies).await;
    let result = poster().post(&format!("{}/hooks/avvio", receiver.url), &order(), None).await;
    (result, receiver)
}

#[tokio::test]
async fn a_webhook_post_carries_the_signed_body_and_its_signature() {
    let receiver = StandIn::start([Reply::status(204)]).await;
    let body = order();
    let signed = signature(b"workspace secret", body.to_string().as_bytes());

    poster().post(&format!("{}/hooks/avvio?source=avvio", receiver.url), &body, Some(&signed)).await.unwrap();

    let requests = receiver.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/hooks/avvio?source=avvio");
    assert_eq!(request.body, body.to_string().as_bytes(), "the bytes the signature was computed over");
    assert_eq!(request.header("x-avvio-signature"), signed);
    assert_eq!(request.header("content-type"), "application/json");
    assert_eq!(request.header("user-agent"), concat!("Avvio/", env!("CARGO_PKG_VERSION")));
}

#[tokio::test]
async fn a_webhook_without_a_signature_sends_no_signature_header() {
    let (result, receiver) = post_answered_by([Reply::status(200)]).await;
    result.unwrap();
    assert!(receiver.requests()[0].headers.get("x-avvio-signature").is_none());
}

#[tokio::test]
async fn a_server_error_then_success_is_ok_after_exactly_two_requests() {
    let (result, receiver) = post_answered_by([Reply::status(500), Reply::status(200)]).await;
    result.unwrap();
    let requests = receiver.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].body, requests[1].body, "a retry posts the same bytes");
}

#[tokio::test]
async fn a_not_found_is_fatal_after_exactly_one_request() {
    let (result, receiver) = post_answered_by([Reply::status(404), Reply::status(200)]).await;
    let error = result.unwrap_err();
    assert_eq!(error.retry, Retry::Fatal, "{error}");
    assert_eq!(error.message, "answered 404 Not Found");
    assert_eq!(receiver.requests().len(), 1);
}

#[tokio::test]
async fn three_unavailable_answers_exhaust_three_attempts_and_are_retryable() {
    let (result, receiver) = post_answered_by([Reply::status(503), Reply::status(503), Reply::status(503)]).await;
    let error = result.unwrap_err();
    assert_eq!(error.retry, Retry::Retryable, "{error}");
    assert_eq!(error.message, "answered 503 Service Unavailable (after 3 attempts)");
    assert_eq!(receiver.requests().len(), 3);
}

#[tokio::test]
async fn a_redirect_is_fatal_and_not_followed() {
    // Relative, so a client that wrongly followed it would stay on the stand-in (and be counted).
    let (result, receiver) = post_answered_by([Reply::status(307).header("location", "/elsewhere")]).await;
    let error = result.unwrap_err();
    assert_eq!(error.retry, Retry::Fatal, "{error}");
    assert!(error.message.contains("redirects are not followed"), "{error}");
    assert_eq!(receiver.requests().len(), 1);
}

#[tokio::test]
async fn a_receiver_slower_than_the_timeout_is_retried_then_retryable() {
    let slow = || Reply::status(200).after(Duration::from_secs(30));
    let receiver = StandIn::start([slow(), slow()]).await;
    let config = WebhookConfig {
        mode: Mode::Local,
        timeout: Duration::from_millis(100),
        attempts: 2,
        backoff: Duration::from_millis(10),
        budget: Duration::from_secs(10),
    };
    let poster = HttpWebhookPoster::new(config).unwrap();
    let error = poster.post(&format!("{}/hooks/avvio", receiver.url), &order(), None).await.unwrap_err();
    assert_eq!(error.retry, Retry::Retryable, "{error}");
    assert_eq!(error.message, "no answer within 100ms (after 2 attempts)");
    assert_eq!(receiver.requests().len(), 2);
}

#[tokio::test]
async fn an_unreachable_receiver_is_retryable() {
    let error = poster().post(&format!("{}/hooks/avvio", closed_port_url().await), &order(), None).await.unwrap_err();
    assert_eq!(error.retry, Retry::Retryable, "{error}");
}

#[tokio::test]
async fn production_refuses_loopback_targets_without_any_request() {
    let receiver = StandIn::start([Reply::status(200), Reply::status(200), Reply::status(200)]).await;
    let port = receiver.url.rsplit(':').next().unwrap().to_owned();
    let production = HttpWebhookPoster::new(WebhookConfig {
        backoff: Duration::from_millis(10),
        ..WebhookConfig::new(Mode::Production)
    })
    .unwrap();
    for url in [
        format!("https://127.0.0.1:{port}/hooks/avvio"),
        format!("https://localhost:{port}/hooks/avvio"),
        format!("http://127.0.0.1:{port}/hooks/avvio"),
    ] {
        let error = production.post(&url, &order(), None).await.unwrap_err();
        assert_eq!(error.retry, Retry::Fatal, "{url}: {error}");
        assert_eq!(error.url, url);
    }
    assert!(receiver.requests().is_empty());
}

#[tokio::test]
async fn local_mode_refuses_plain_http_beyond_loopback() {
    let error = poster().post("http://192.168.1.20/hooks/avvio", &order(), None).await.unwrap_err();
    assert_eq!(error.retry, Retry::Fatal, "{error}");
}

#[tokio::test]
async fn a_receiver_that_never_answers_costs_one_budget_not_every_attempts_timeout() {
    // Three attempts of 30 s each would outlast the executor's invocation; the budget bounds
    // the whole post: the first attempt gets the budget, no retry starts without time left.
    let hang = || Reply::status(200).after(Duration::from_secs(60));
    let receiver = StandIn::start([hang(), hang(), hang()]).await;
    let config = WebhookConfig {
        mode: Mode::Local,
        timeout: Duration::from_secs(30),
        attempts: 3,
        backoff: Duration::from_millis(10),
        budget: Duration::from_millis(700),
    };
    let poster = HttpWebhookPoster::new(config).unwrap();
    let started = std::time::Instant::now();
    let error = poster.post(&format!("{}/hooks/avvio", receiver.url), &order(), None).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5), "bounded by the budget, took {:?}", started.elapsed());
    assert_eq!(error.retry, Retry::Retryable, "{error}");
    assert!(error.message.contains("in the 700ms a post may take"), "{error}");
    assert_eq!(receiver.requests().len(), 1, "no retry without time left for it");
}

#[test]
fn the_default_budget_fits_in_the_time_the_executor_gives_one_step() {
    let config = WebhookConfig::new(Mode::Production);
    assert!(config.budget <= Duration::from_secs(10), "batch::MESSAGE_BUDGET is 12 s, the store's calls included");
    assert!(config.timeout <= config.budget);
}
