//! All of Avvio's AWS side on the local emulator: the resources the template
//! declares (fresh names per test), the four functions wired by the same code as
//! their `main`s, the event source mappings played by [`Poller`]s, Scheduler
//! played by `fire_due_schedules`, and a stand-in Graph API.

// Each test binary compiles its own copy and uses only some of the helpers.
#![allow(dead_code)]

use avvio_aws::local::fire_due_schedules;
use avvio_common::manage::fresh_token;
use avvio_common::ports::{KeyHash, Management};
use avvio_common::time::Time;
use avvio_functions::batch::{self, Deadline};
use avvio_functions::clock_tick;
use avvio_functions::config::{self, Env};
use avvio_functions::local::{CallCounter, Poller, QueueSettings, Resources, bootstrap};
use avvio_functions::wiring::{self, Ingest, Pipeline};
use avvio_tests::graph::{StandInGraph, signature};
use lambda_http::{Adapter, Context, LambdaEvent, request::LambdaRequest, tower};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const APP_SECRET: &str = "e2e-app-secret";
pub const VERIFY_TOKEN: &str = "e2e-verify-token";
pub const API_KEY: &str = "e2e-api-key";
pub const NUMBER: &str = "106540352242922";
pub const MARIO: &str = "393331234567";

/// Seconds a received message stays invisible: short, so redeliveries happen within a test.
pub const VISIBILITY_TIMEOUT: u32 = 1;
/// Receives before a message goes to its dead-letter queue.
pub const MAX_RECEIVES: u32 = 3;

/// The SDK configuration for the local emulator. Fails (never skips) without one.
pub async fn sdk_config() -> aws_config::SdkConfig {
    if std::env::var_os("AWS_ENDPOINT_URL").is_none() {
        panic!(
            "AWS_ENDPOINT_URL is not set: these tests run against AWS APIs served locally by moto. \
             Run scripts/test, or `source scripts/moto` before `cargo test -p avvio-functions`."
        );
    }
    wiring::aws_config().await
}

pub struct System {
    pub aws: aws_config::SdkConfig,
    pub resources: Resources,
    /// The functions' environment, as the template sets it.
    pub env: HashMap<&'static str, String>,
    pub ingest: Arc<Ingest>,
    pub matcher: Pipeline,
    pub executor: Pipeline,
    pub clock: Pipeline,
    pub events: Poller,
    pub steps: Poller,
    pub sqs: aws_sdk_sqs::Client,
    pub scheduler: aws_sdk_scheduler::Client,
    pub graph: StandInGraph,
    /// The AWS calls the functions made (not the event source mappings' nor the tests' own).
    pub calls: CallCounter,
    /// How far the functions' clock runs ahead of the wall clock (to reach long delays).
    ahead: Mutex<chrono::Duration>,
}

/// Borrows an owned environment as the functions read it.
pub struct OwnedEnv<'a>(pub &'a HashMap<&'static str, String>);

impl Env for OwnedEnv<'_> {
    fn get(&self, name: &str) -> Option<String> {
        self.0.get(name).cloned()
    }
}

impl System {
    /// Bootstraps fresh resources, stores Meta's secrets in SSM, wires the functions,
    /// creates workspace `negozio` with [`NUMBER`] through the management API.
    pub async fn start() -> Self {
        let aws = sdk_config().await;
        let prefix = fresh_token("e2e-");
        let settings = QueueSettings { visibility_timeout: VISIBILITY_TIMEOUT, max_receive_count: MAX_RECEIVES };
        let resources = bootstrap(&aws, &prefix, &settings).await.expect("bootstrap the resources");
        let ssm = aws_sdk_ssm::Client::new(&aws);
        for (name, value) in [("app-secret", APP_SECRET), ("verify-token", VERIFY_TOKEN), ("access-token", "EAAG-env")]
        {
            ssm.put_parameter()
                .name(format!("/{prefix}/{name}"))
                .value(value)
                .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
                .send()
                .await
                .expect("store a secret");
        }
        let graph = StandInGraph::start().await;
        let env: HashMap<&'static str, String> = HashMap::from([
            (config::TABLE, resources.table.clone()),
            (config::EVENTS_QUEUE_URL, resources.events.url.clone()),
            // The matcher's (the executor's is the steps DLQ); the tests' pollers move what the
            // handlers dead-letter to their own queue's DLQ (`Poller::of`).
            (config::DEAD_LETTER_QUEUE_URL, resources.events.dlq_url.clone()),
            (config::STEPS_QUEUE_URL, resources.steps.url.clone()),
            (config::STEPS_QUEUE_ARN, resources.steps.arn.clone()),
            (config::SCHEDULE_GROUP, resources.schedule_group.clone()),
            (config::SCHEDULER_ROLE_ARN, "arn:aws:iam::123456789012:role/avvio-scheduler".into()),
            (config::WHATSAPP_API_BASE, graph.base.clone()),
            (config::APP_SECRET_PARAMETER, format!("/{prefix}/app-secret")),
            (config::VERIFY_TOKEN_PARAMETER, format!("/{prefix}/verify-token")),
            (config::ACCESS_TOKEN_PARAMETER, format!("/{prefix}/access-token")),
        ]);
        let calls = CallCounter::default();
        let clients = wiring::Clients::intercepted(&aws, calls.clone());
        let ingest = wiring::ingest(&OwnedEnv(&env), &clients).await.expect("ingest starts");
        let matcher = wiring::sending(&OwnedEnv(&env), &clients).await.expect("the matcher starts");
        let executor = wiring::sending(&OwnedEnv(&env), &clients).await.expect("the executor starts");
        let clock = wiring::queueing(&OwnedEnv(&env), &clients).await.expect("the clock starts");
        let sqs = aws_sdk_sqs::Client::new(&aws);
        let system = Self {
            events: Poller::of(sqs.clone(), &resources.events),
            steps: Poller::of(sqs.clone(), &resources.steps),
            scheduler: aws_sdk_scheduler::Client::new(&aws),
            sqs,
            aws,
            resources,
            env,
            ingest,
            matcher,
            executor,
            clock,
            graph,
            calls,
            ahead: Mutex::new(chrono::Duration::zero()),
        };
        let ws = avvio_common::domain::WorkspaceId::parse("negozio").unwrap();
        system.ingest.store.put_api_key(&KeyHash::of(API_KEY), &ws).await.unwrap();
        let workspace = json!({
            "timezone": "Europe/Rome",
            "whatsapp": { "phone_number_id": NUMBER, "access_token": "EAAG-negozio" },
            "templates": [ { "name": "benvenuto", "language": "it", "status": "approved", "body": "Ciao {{1}}!" } ]
        });
        system.api("PUT", "/v1/workspace", Some(workspace)).await.expect_status(200);
        system
    }

    /// The functions' clock: the wall clock, plus how far [`System::advance`] moved it.
    pub fn now(&self) -> Time {
        chrono::Utc::now() + *self.ahead.lock().unwrap()
    }

    /// Moves the functions' clock `by` ahead and fires the schedules due by then (Scheduler's part).
    pub async fn advance(&self, by: chrono::Duration) -> usize {
        *self.ahead.lock().unwrap() += by;
        self.fire_schedules().await
    }

    /// Delivers the schedules due by [`System::now`] to their queue.
    pub async fn fire_schedules(&self) -> usize {
        fire_due_schedules(&self.scheduler, &self.sqs, &self.resources.schedule_group, self.now())
            .await
            .expect("fire the due schedules")
    }

    /// The step schedules waiting in the group.
    pub async fn schedules(&self) -> usize {
        let listed = self
            .scheduler
            .list_schedules()
            .group_name(&self.resources.schedule_group)
            .send()
            .await
            .expect("list schedules");
        listed.schedules().len()
    }

    /// A request to ingest as API Gateway (HTTP API, payload 2.0) delivers it.
    pub async fn request(&self, method: &str, path_and_query: &str, headers: Value, body: Option<&[u8]>) -> Reply {
        let (path, query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
        let body = body.map(|b| String::from_utf8(b.to_vec()).expect("UTF-8 bodies"));
        let event = json!({
            "version": "2.0",
            "routeKey": "$default",
            "rawPath": path,
            "rawQueryString": query,
            "headers": headers,
            "requestContext": {
                "accountId": "123456789012", "apiId": "avvio", "domainName": "avvio.execute-api.eu-south-1.amazonaws.com",
                "domainPrefix": "avvio", "requestId": fresh_token("req-"), "routeKey": "$default", "stage": "$default",
                "time": "24/Nov/2026:10:00:00 +0000", "timeEpoch": 1_795_519_200_000_i64,
                "http": { "method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.7", "userAgent": "e2e" }
            },
            "body": body,
            "isBase64Encoded": false
        });
        let request: LambdaRequest = serde_json::from_value(event).expect("an API Gateway v2 event");
        let answer = {
            let mut adapter = Adapter::from(avvio_console::router(self.ingest.clone()));
            tower::Service::call(&mut adapter, LambdaEvent::new(request, Context::default()))
        };
        let response = answer.await.expect("the router answers");
        let response = serde_json::to_value(response).expect("the response serialises");
        let status = response["statusCode"].as_u64().unwrap_or_default() as u16;
        let body = response["body"].as_str().unwrap_or_default();
        Reply { status, body: serde_json::from_str(body).unwrap_or_else(|_| Value::String(body.to_string())) }
    }

    /// A management API call with the workspace's key.
    pub async fn api(&self, method: &str, path: &str, body: Option<Value>) -> Reply {
        let headers = json!({ "authorization": format!("Bearer {API_KEY}"), "content-type": "application/json" });
        let body = body.map(|b| b.to_string().into_bytes());
        self.request(method, path, headers, body.as_deref()).await
    }

    /// Meta delivering `body` to the webhook, signed with the app secret.
    pub async fn webhook(&self, body: &[u8]) -> Reply {
        let headers = json!({ "content-type": "application/json", "x-hub-signature-256": signature(APP_SECRET, body) });
        self.request("POST", "/webhooks/whatsapp", headers, Some(body)).await
    }

    /// Creates an automation through the management API.
    pub async fn automation(&self, document: Value) -> Value {
        let reply = self.api("POST", "/v1/automations", Some(document)).await;
        reply.expect_status(201);
        reply.body
    }

    /// One event source mapping invocation of the matcher; how many messages it got.
    pub async fn match_once(&self) -> usize {
        self.events
            .poll(|batch| batch::match_events(&self.matcher, &self.ingest.events, batch, Deadline::NONE, || self.now()))
            .await
            .expect("poll events")
    }

    /// One event source mapping invocation of the executor; how many messages it got.
    pub async fn execute_once(&self) -> usize {
        self.steps
            .poll(|batch| batch::execute_steps(&self.executor, batch, Deadline::NONE, || self.now()))
            .await
            .expect("poll steps")
    }

    /// One tick of the clock's recurring schedule.
    pub async fn tick(&self) {
        clock_tick(&self.clock, self.now()).await.expect("the clock ticks");
    }

    /// Runs the matcher and the executor until both queues are empty (delayed and
    /// in-flight messages included; schedules are left to [`System::advance`]).
    pub async fn settle(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let handled = self.match_once().await + self.execute_once().await;
            if handled == 0 {
                let (events, steps) = (self.events.depth().await.unwrap(), self.steps.depth().await.unwrap());
                if events.total() + steps.total() == 0 {
                    return;
                }
                assert!(Instant::now() < deadline, "the queues did not drain: events {events:?}, steps {steps:?}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }

    /// The contact's runs, newest first, from the management API.
    pub async fn runs(&self, phone: &str) -> Vec<Value> {
        let reply = self.api("GET", &format!("/v1/runs?phone={phone}"), None).await;
        reply.expect_status(200);
        reply.body["items"].as_array().cloned().unwrap_or_default()
    }

    /// Queues the events of `webhook` again under a fresh deduplication id: Meta redelivering
    /// it after SQS FIFO's 5-minute deduplication window.
    pub async fn redeliver_after_the_dedupe_window(&self, webhook: &[u8]) {
        for inbound in avvio_common::webhook::parse_webhook(webhook).unwrap() {
            let event = avvio_common::ports::PipelineEvent::Whatsapp { event: inbound };
            self.sqs
                .send_message()
                .queue_url(&self.resources.events.url)
                .message_body(serde_json::to_string(&event).unwrap())
                .message_group_id(event.group_key())
                .message_deduplication_id("after-the-window")
                .send()
                .await
                .unwrap();
        }
    }

    /// How many messages wait in the queue at `url`.
    pub async fn messages_in(&self, url: &str) -> u64 {
        avvio_functions::local::depth(&self.sqs, url).await.unwrap().total()
    }
}

/// What ingest answered.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
}

impl Reply {
    pub fn expect_status(&self, status: u16) {
        assert_eq!(self.status, status, "unexpected answer: {}", self.body);
    }
}

/// A phrase automation: `steps` as (after, action).
pub fn phrase(id: &str, phrase: &str, steps: &[(&str, Value)]) -> Value {
    let steps: Vec<Value> = steps.iter().map(|(after, action)| json!({ "after": after, "action": action })).collect();
    json!({ "id": id, "name": id, "trigger": { "type": "customer_message", "phrase": phrase }, "steps": steps })
}

pub fn text(text: &str) -> Value {
    json!({ "type": "send_text", "text": text })
}

pub fn template(name: &str, params: &[&str]) -> Value {
    json!({ "type": "send_template", "template": name, "language": "it", "params": params })
}

/// A Meta webhook with one text from Mario, sent now.
pub fn mario_says(wamid: &str, body: &str) -> Vec<u8> {
    avvio_tests::text_webhook(NUMBER, MARIO, wamid, &chrono::Utc::now().to_rfc3339(), body)
}
