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

/// The SDK configuration for the local emulator. Fails (never skips) without one.
pub async fn sdk_config() -> aws_config::SdkConfig {
    if std::env::var_os("AWS_ENDPOINT_URL").is_none() {
        panic!(
            "AWS_ENDPOINT_URL is not set: these tests run against AWS APIs served locally by moto. \
             Run scripts/test, or `source scripts/moto` before `cargo test -p avvio-aws`."
        );
    }
    aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await
}

/// The DynamoDB client for the local emulator.
pub async fn client() -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(&sdk_config().await)
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
