//! What the DynamoDB tests share: a fresh table per test on the endpoint
//! `scripts/test` (or `source scripts/moto`) starts, and documents to store.

// Each test binary compiles its own copy and uses only some of the helpers.
#![allow(dead_code)]

use avvio_aws::dynamo::{DynamoStore, create_table};
use avvio_common::domain::workspace::Workspace;
use avvio_common::domain::{Automation, WorkspaceId};
use avvio_common::manage::fresh_token;
use avvio_common::time::{Time, parse_rfc3339};
use serde_json::{Value, json};

/// The SDK client for the local emulator. Fails (never skips) without one.
pub async fn client() -> aws_sdk_dynamodb::Client {
    if std::env::var_os("AWS_ENDPOINT_URL").is_none() {
        panic!(
            "AWS_ENDPOINT_URL is not set: these tests run against a local DynamoDB. \
             Run scripts/test, or `source scripts/moto` before `cargo test -p avvio-aws`."
        );
    }
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await;
    aws_sdk_dynamodb::Client::new(&config)
}

/// A store on a table of its own, so tests run in parallel.
pub async fn store() -> DynamoStore {
    let client = client().await;
    let table = fresh_token("avvio-test-");
    create_table(&client, &table).await.unwrap_or_else(|e| panic!("cannot create table {table}: {e}"));
    DynamoStore::new(client, table)
}

pub fn ws(id: &str) -> WorkspaceId {
    WorkspaceId::parse(id).unwrap()
}

pub fn t(raw: &str) -> Time {
    parse_rfc3339(raw).unwrap()
}

pub const NUMBER: &str = "106540352242922";
pub const MARIO: &str = "393331234567";

/// A workspace document with a number, secrets and a template.
pub fn workspace_doc(number: &str) -> Workspace {
    serde_json::from_value(json!({
        "timezone": "Europe/Rome",
        "working_hours": { "mon": ["09:00-13:00", "14:00-18:00"] },
        "holidays": ["12-25", "easter_monday"],
        "whatsapp": { "phone_number_id": number, "access_token": "EAAG-secret" },
        "webhook_secret": "hook-secret",
        "templates": [ { "name": "welcome", "language": "it", "status": "approved", "body": "Ciao {{1}}" } ]
    }))
    .unwrap()
}

pub fn automation(doc: Value) -> Automation {
    avvio_common::validate::parse_automation(doc).unwrap()
}

/// A `customer_message` automation sending one text.
pub fn phrase_automation(id: &str, phrase: &str) -> Automation {
    automation(json!({
        "id": id, "name": id, "trigger": { "type": "customer_message", "phrase": phrase },
        "steps": [ { "after": "0s", "action": { "type": "send_text", "text": "Ciao {{name}}!" } } ]
    }))
}

/// An automation with `trigger` and one tag step.
pub fn triggered(id: &str, trigger: Value) -> Automation {
    automation(json!({
        "id": id, "name": id, "trigger": trigger,
        "steps": [ { "after": "0s", "action": { "type": "add_tag", "tag": "seen" } } ]
    }))
}

/// A Meta webhook body with one text message.
pub fn text_webhook(phone_number_id: &str, from: &str, wamid: &str, at: &str, body: &str) -> Vec<u8> {
    let ts = t(at).timestamp();
    json!({
        "object": "whatsapp_business_account",
        "entry": [{ "id": "102290129340398", "changes": [{ "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": { "display_phone_number": "390212345678", "phone_number_id": phone_number_id },
            "contacts": [{ "profile": { "name": "Mario" }, "wa_id": from }],
            "messages": [{ "from": from, "id": wamid, "timestamp": ts.to_string(), "type": "text", "text": { "body": body } }]
        } }] }]
    })
    .to_string()
    .into_bytes()
}
