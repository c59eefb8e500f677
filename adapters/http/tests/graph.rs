//! `GraphSender` against a stand-in Graph API on a random loopback port.

mod support;

use avvio_common::domain::contact::Contact;
use avvio_common::domain::phone::{ContactKey, WaId};
use avvio_common::graph::{self, GraphRequest};
use avvio_common::ports::{Account, Retry, SendError, WhatsAppSender};
use avvio_http::graph::{GraphConfig, GraphSender};
use serde_json::json;
use std::time::Duration;
use support::{Reply, StandIn, closed_port_url};

const PHONE_NUMBER_ID: &str = "106540352242922";
const TOKEN: &str = "EAAG-test-token";

fn account() -> Account {
    Account { phone_number_id: PHONE_NUMBER_ID.into(), access_token: TOKEN.into() }
}

fn ciao() -> GraphRequest {
    let mario = Contact::new(&ContactKey::Phone(WaId::parse("393331234567").unwrap()));
    graph::text(&mario, "Ciao Mario!")
}

fn sender(api_base: &str) -> GraphSender {
    GraphSender::new(GraphConfig { api_base: api_base.into(), ..GraphConfig::default() }).unwrap()
}

fn meta_error(code: i64, message: &str) -> serde_json::Value {
    json!({ "error": {
        "message": message, "type": "OAuthException", "code": code,
        "error_data": { "messaging_product": "whatsapp", "details": "see the docs" },
        "fbtrace_id": "AbCdEf123"
    } })
}

/// Sends `ciao()` to a stand-in answering `reply`; returns the result and the stand-in.
async fn send_answered_by(reply: Reply) -> (Result<String, SendError>, StandIn) {
    let graph_api = StandIn::start([reply]).await;
    let result = sender(&graph_api.url).send(&account(), &ciao()).await.map(|wamid| wamid.as_str().to_owned());
    (result, graph_api)
}

#[tokio::test]
async fn a_send_posts_the_exact_body_with_the_bearer_token_and_returns_the_wamid() {
    let (result, graph_api) = send_answered_by(Reply::json(
        200,
        json!({
            "messaging_product": "whatsapp",
            "contacts": [{ "input": "393331234567", "wa_id": "393331234567" }],
            "messages": [{ "id": "wamid.HBgLMzkzMzMxMjM0NTY3FQIAERgSOTk=" }]
        }),
    ))
    .await;

    assert_eq!(result.unwrap(), "wamid.HBgLMzkzMzMxMjM0NTY3FQIAERgSOTk=");
    let requests = graph_api.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, format!("/v23.0/{PHONE_NUMBER_ID}/messages"));
    assert_eq!(request.header("authorization"), format!("Bearer {TOKEN}"));
    assert_eq!(request.header("content-type"), "application/json");
    assert_eq!(request.header("user-agent"), concat!("Avvio/", env!("CARGO_PKG_VERSION")));
    assert_eq!(request.body, ciao().as_str().as_bytes(), "the body is posted byte for byte");
}

#[tokio::test]
async fn the_configured_api_version_is_the_first_path_segment() {
    let graph_api = StandIn::start([Reply::json(200, json!({ "messages": [{ "id": "wamid.X" }] }))]).await;
    let config = GraphConfig { api_base: graph_api.url.clone(), api_version: "v21.0".into(), ..GraphConfig::default() };
    GraphSender::new(config).unwrap().send(&account(), &ciao()).await.unwrap();
    assert_eq!(graph_api.requests()[0].path, format!("/v21.0/{PHONE_NUMBER_ID}/messages"));
}

#[tokio::test]
async fn a_message_outside_the_customer_service_window_is_fatal() {
    let (result, _) = send_answered_by(Reply::json(400, meta_error(131047, "(#131047) Re-engagement message"))).await;
    let error = result.unwrap_err();
    assert_eq!((error.retry, error.code.as_str()), (Retry::Fatal, "131047"));
    assert_eq!(error.message, "(#131047) Re-engagement message: see the docs (fbtrace_id AbCdEf123)");
}

#[tokio::test]
async fn a_template_error_is_fatal() {
    let (result, _) =
        send_answered_by(Reply::json(400, meta_error(132000, "(#132000) Number of parameters does not match"))).await;
    let error = result.unwrap_err();
    assert_eq!((error.retry, error.code.as_str()), (Retry::Fatal, "132000"));
}

#[tokio::test]
async fn a_throttled_send_is_retryable() {
    let (result, _) = send_answered_by(Reply::json(400, meta_error(130429, "(#130429) Rate limit hit"))).await;
    let error = result.unwrap_err();
    assert_eq!((error.retry, error.code.as_str()), (Retry::Retryable, "130429"));
}

#[tokio::test]
async fn a_bare_server_error_is_retryable_and_named_by_its_status() {
    let (result, _) = send_answered_by(Reply::text(500, "Internal Server Error")).await;
    let error = result.unwrap_err();
    assert_eq!((error.retry, error.code.as_str()), (Retry::Retryable, "http_500"));
    assert_eq!(error.message, "HTTP 500 Internal Server Error: Internal Server Error");
}

#[tokio::test]
async fn a_server_error_with_a_meta_code_is_retryable_and_named_by_the_code() {
    let (result, _) = send_answered_by(Reply::json(500, meta_error(131000, "(#131000) Something went wrong"))).await;
    let error = result.unwrap_err();
    assert_eq!((error.retry, error.code.as_str()), (Retry::Retryable, "131000"));
}

#[tokio::test]
async fn a_graph_api_slower_than_the_timeout_is_a_retryable_timeout() {
    let graph_api = StandIn::start([
        Reply::json(200, json!({ "messages": [{ "id": "wamid.late" }] })).after(Duration::from_secs(30))
    ])
    .await;
    let config =
        GraphConfig { api_base: graph_api.url.clone(), timeout: Duration::from_millis(200), ..GraphConfig::default() };
    let error = GraphSender::new(config).unwrap().send(&account(), &ciao()).await.unwrap_err();
    assert_eq!((error.retry, error.code.as_str()), (Retry::Retryable, "timeout"), "{error}");
}

#[tokio::test]
async fn an_unreachable_graph_api_is_a_retryable_connection_error() {
    let error = sender(&closed_port_url().await).send(&account(), &ciao()).await.unwrap_err();
    assert_eq!((error.retry, error.code.as_str()), (Retry::Retryable, "connection"), "{error}");
}

#[tokio::test]
async fn a_success_without_a_message_id_is_fatal() {
    let (result, _) =
        send_answered_by(Reply::json(200, json!({ "messaging_product": "whatsapp", "messages": [] }))).await;
    let error = result.unwrap_err();
    assert_eq!((error.retry, error.code.as_str()), (Retry::Fatal, "invalid_response"), "{error}");
}

#[tokio::test]
async fn a_phone_number_id_that_is_not_digits_is_fatal_without_a_request() {
    let graph_api = StandIn::start([]).await;
    let account = Account { phone_number_id: "../me".into(), access_token: TOKEN.into() };
    let error = sender(&graph_api.url).send(&account, &ciao()).await.unwrap_err();
    assert_eq!((error.retry, error.code.as_str()), (Retry::Fatal, "invalid_phone_number_id"));
    assert!(graph_api.requests().is_empty());
}

#[tokio::test]
async fn the_access_token_appears_in_no_error() {
    let (result, _) = send_answered_by(Reply::json(401, meta_error(190, "(#190) Access token has expired"))).await;
    let error = result.unwrap_err();
    assert_eq!((error.retry, error.code.as_str()), (Retry::Fatal, "190"));
    assert!(!format!("{error} {error:?}").contains(TOKEN));
}
