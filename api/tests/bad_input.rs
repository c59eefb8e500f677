//! The bad-input matrix (issue 17): every kind of bad request to Meta's webhook, the
//! integration hook, `POST /v1/automations` and `POST /v1/simulate`, sent through the router
//! with `tower::ServiceExt::oneshot` over the in-memory store. Each is answered with a status
//! and an error naming what is wrong, leaves nothing behind (no contact, no run: the matcher
//! is run on whatever was queued before looking), and the router answers a good request
//! right after, on the same route.

use avvio_api::{App, IngestConfig, router};
use avvio_common::domain::WorkspaceId;
use avvio_common::memory::{MemoryEventQueue, MemoryPoster, MemorySender, MemoryStepQueue, MemoryStore};
use avvio_common::ports::{KeyHash, Management, PipelineEvent};
use avvio_common::stages::Deps;
use axum::Router;
use axum::body::Body;
use axum::http::Request;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use std::sync::Arc;
use tokio::sync::mpsc::UnboundedReceiver;
use tower::ServiceExt;

const APP_SECRET: &str = "test-app-secret";
const KEY: &str = "key-negozio";
const NUMBER: &str = "106540352242922";
/// The contact every bad request is about: never stored.
const MARIO: &str = "393331234567";
/// The contact of the good request after it.
const GIULIA: &str = "393339876543";
const SECRET: &str = "segreto-123";

struct System {
    router: Router,
    deps: Deps<MemoryStore, MemoryStepQueue, MemorySender, MemoryPoster>,
    events: UnboundedReceiver<PipelineEvent>,
}

/// A status and the JSON body (a string when the body is not JSON).
struct Reply {
    status: u16,
    body: Value,
}

fn workspace() -> WorkspaceId {
    WorkspaceId::parse("negozio").unwrap()
}

/// The router over a workspace with number [`NUMBER`], API key [`KEY`], the automation `info`
/// (the phrase "Info" tags `info`) and the integration `ordine` (secret [`SECRET`], tags `cliente`).
async fn start() -> System {
    let store = MemoryStore::new();
    let ws = workspace();
    let document = json!({ "timezone": "Europe/Rome", "whatsapp": { "phone_number_id": NUMBER } });
    store.load_workspace(&ws, serde_json::from_value(document).unwrap());
    store.put_api_key(&KeyHash::of(KEY), &ws).await.unwrap();
    for document in [
        json!({ "id": "info", "name": "info", "trigger": { "type": "customer_message", "phrase": "Info" },
                "steps": [ { "after": "0s", "action": { "type": "add_tag", "tag": "info" } } ] }),
        json!({ "id": "ordine", "name": "ordine", "trigger": { "type": "integration", "secret": SECRET },
                "steps": [ { "after": "0s", "action": { "type": "add_tag", "tag": "cliente" } } ] }),
    ] {
        let automation = avvio_common::validate::parse_automation(document).unwrap();
        store.with_catalog(&ws, |c| c.create(automation)).unwrap();
    }
    let (queue, events) = MemoryEventQueue::new();
    let app = Arc::new(App {
        store: store.clone(),
        events: queue,
        config: IngestConfig { app_secret: APP_SECRET.into(), verify_token: "verify".into() },
        templates: avvio_api::MetaTemplates::meta(),
    });
    let deps = Deps {
        store,
        steps: MemoryStepQueue::new(),
        sender: MemorySender::recording(),
        poster: MemoryPoster::default(),
        default_access_token: None,
    };
    System { router: router(app), deps, events }
}

fn sign_with(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// `X-Hub-Signature-256` as Meta computes it.
fn sign(body: &[u8]) -> String {
    sign_with(APP_SECRET, body)
}

/// One change of Meta's: a text message from `from` to `number`.
fn text_change(number: &str, from: &str, wamid: &str, text: &str) -> Value {
    json!({ "field": "messages", "value": {
        "messaging_product": "whatsapp",
        "metadata": { "display_phone_number": "390212345678", "phone_number_id": number },
        "contacts": [{ "profile": { "name": "Mario" }, "wa_id": from }],
        "messages": [{ "from": from, "id": wamid, "timestamp": chrono::Utc::now().timestamp().to_string(),
                       "type": "text", "text": { "body": text } }]
    } })
}

/// A webhook body of these entries.
fn envelope(entries: Vec<Value>) -> Vec<u8> {
    json!({ "object": "whatsapp_business_account", "entry": entries }).to_string().into_bytes()
}

/// A webhook body with one text message from `from` to `number`.
fn text_webhook(number: &str, from: &str, wamid: &str, text: &str) -> Vec<u8> {
    envelope(vec![json!({ "id": "102290129340398", "changes": [text_change(number, from, wamid, text)] })])
}

/// Arrays nested `depth` deep: JSON, nested deeper than any reader here follows.
fn nested_arrays(depth: usize) -> Vec<u8> {
    [vec![b'['; depth], vec![b']'; depth]].concat()
}

impl Reply {
    /// Asserts a JSON error answer: `status`, `code`, and a message that says `says`.
    fn assert_error(&self, status: u16, code: &str, says: &str) {
        assert_eq!(self.status, status, "{}", self.body);
        assert_eq!(self.body["error"]["code"], code, "{}", self.body);
        let message = self.body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(says), "the message should say {says:?}: {message}");
    }
}

impl System {
    async fn send(&self, request: Request<Body>) -> Reply {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status().as_u16();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        Reply { status, body }
    }

    /// `POST /webhooks/whatsapp` with `signature` as `X-Hub-Signature-256` (none: no header).
    async fn webhook(&self, body: Vec<u8>, signature: Option<String>) -> Reply {
        let mut request = Request::post("/webhooks/whatsapp");
        if let Some(signature) = signature {
            request = request.header("x-hub-signature-256", signature);
        }
        self.send(request.body(Body::from(body)).unwrap()).await
    }

    /// `POST /webhooks/whatsapp`, signed as Meta signs.
    async fn signed_webhook(&self, body: Vec<u8>) -> Reply {
        let signature = sign(&body);
        self.webhook(body, Some(signature)).await
    }

    /// `POST /hooks/automations/{id}`.
    async fn hook(&self, id: &str, body: impl Into<Body>) -> Reply {
        self.send(Request::post(format!("/hooks/automations/{id}")).body(body.into()).unwrap()).await
    }

    /// A management call with [`KEY`].
    async fn api(&self, method: &str, path: &str, body: impl Into<Body>) -> Reply {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", format!("Bearer {KEY}"))
            .header("content-type", "application/json")
            .body(body.into())
            .unwrap();
        self.send(request).await
    }

    /// Runs the matcher on every queued event and the executor on every step due now, until
    /// nothing is left; answers how many events were queued.
    async fn settle(&mut self) -> usize {
        let mut handled = 0;
        let mut pending = Vec::new();
        loop {
            pending.extend(std::iter::from_fn(|| self.events.try_recv().ok()));
            let mut worked = !pending.is_empty();
            for event in std::mem::take(&mut pending) {
                let report = self.deps.handle_event(&event, chrono::Utc::now()).await.unwrap();
                pending.extend(report.follow_up);
                handled += 1;
            }
            while let Some(step) = self.deps.steps.pop_due(chrono::Utc::now()) {
                self.deps.handle_step(&step, chrono::Utc::now()).await.unwrap();
                worked = true;
            }
            if !worked {
                return handled;
            }
        }
    }

    /// No contact `phone`, no run, nothing sent: after the matcher ran on whatever was queued.
    async fn assert_nothing_stored_for(&mut self, phone: &str) {
        self.settle().await;
        let contact = self.api("GET", &format!("/v1/contacts/{phone}"), Body::empty()).await;
        assert_eq!(contact.status, 404, "no contact {phone} may be stored: {}", contact.body);
        assert_eq!(self.deps.store.all_runs(&workspace()), [], "no run may be created");
        assert_eq!(self.deps.sender.sent(), [], "nothing may be sent");
    }

    /// A refused request queued nothing, and stored nothing for [`MARIO`].
    async fn assert_refused_whole(&mut self) {
        assert_eq!(self.settle().await, 0, "a refused request queues nothing");
        self.assert_nothing_stored_for(MARIO).await;
    }

    /// The contact `phone` as `GET /v1/contacts/{phone}` answers it, with its tags.
    async fn tags_of(&self, phone: &str) -> Value {
        let contact = self.api("GET", &format!("/v1/contacts/{phone}"), Body::empty()).await;
        assert_eq!(contact.status, 200, "{}", contact.body);
        contact.body["tags"].clone()
    }

    /// A good delivery is still taken, and the pipeline behind it still works: Giulia's "Info"
    /// starts `info`, which tags her.
    async fn assert_webhooks_still_work(&mut self) {
        let reply = self.signed_webhook(text_webhook(NUMBER, GIULIA, "wamid.good", "Info")).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(self.settle().await, 1);
        assert_eq!(self.tags_of(GIULIA).await, json!(["info"]));
    }

    /// A good integration call is still taken: it starts `ordine` for Giulia, which tags her.
    async fn assert_hooks_still_work(&mut self) {
        let body = json!({ "secret": SECRET, "phone": format!("+{GIULIA}"), "first_name": "Giulia" });
        let reply = self.hook("ordine", body.to_string()).await;
        assert_eq!(reply.status, 202, "{}", reply.body);
        assert_eq!(self.settle().await, 1);
        assert_eq!(self.tags_of(GIULIA).await, json!(["cliente"]));
    }

    /// A good automation is still stored.
    async fn assert_automations_still_work(&self) {
        let document = json!({ "id": "buono", "name": "buono", "trigger": { "type": "integration", "secret": SECRET },
                               "steps": [ { "after": "0s", "action": { "type": "add_tag", "tag": "buono" } } ] });
        let reply = self.api("POST", "/v1/automations", document.to_string()).await;
        assert_eq!(reply.status, 201, "{}", reply.body);
        assert_eq!(self.api("GET", "/v1/automations/buono", Body::empty()).await.status, 200);
    }

    /// A good simulation still runs: Giulia's "Info" tags her, on the simulator's own state.
    async fn assert_simulations_still_work(&mut self) {
        let event = json!({ "at": "2026-11-23T09:00:00Z",
                            "whatsapp": serde_json::from_slice::<Value>(&text_webhook(NUMBER, GIULIA, "wamid.sim", "Info")).unwrap() });
        let reply = self.api("POST", "/v1/simulate", json!({ "events": [event] }).to_string()).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        let actions: Vec<&Value> = reply.body["effects"].as_array().unwrap().iter().map(|e| &e["action"]).collect();
        assert_eq!(actions, [&json!("add_tag")]);
        self.assert_nothing_stored_for(GIULIA).await;
    }
}

// --- Meta's webhook ----------------------------------------------------------------------

#[tokio::test]
async fn a_webhook_with_a_missing_or_bad_signature_is_refused_with_401() {
    let mut system = start().await;
    let body = text_webhook(NUMBER, MARIO, "wamid.bad", "Info");
    let missing = system.webhook(body.clone(), None).await;
    missing.assert_error(401, "unauthorized", "X-Hub-Signature-256 is missing");
    for bad in [
        "sha256=not-hex".to_string(),
        "sha256=".to_string(),
        "deadbeef".to_string(),
        sign(&body).replace("sha256=", "sha1="),
        sign(&body)[..40].to_string(),
        sign_with("another-app-secret", &body),
    ] {
        let reply = system.webhook(body.clone(), Some(bad.clone())).await;
        reply.assert_error(401, "unauthorized", "X-Hub-Signature-256 does not match the body");
    }
    system.assert_refused_whole().await;
    system.assert_webhooks_still_work().await;
}

#[tokio::test]
async fn a_webhook_signed_over_another_body_is_refused_with_401() {
    let mut system = start().await;
    let signed = text_webhook(NUMBER, MARIO, "wamid.bad", "Ciao");
    let sent = text_webhook(NUMBER, MARIO, "wamid.bad", "Info");
    let reply = system.webhook(sent, Some(sign(&signed))).await;
    reply.assert_error(401, "unauthorized", "X-Hub-Signature-256 does not match the body");
    system.assert_refused_whole().await;
    system.assert_webhooks_still_work().await;
}

#[tokio::test]
async fn a_signed_webhook_that_is_not_json_is_refused_with_400() {
    let mut system = start().await;
    let whole = text_webhook(NUMBER, MARIO, "wamid.bad", "Info");
    for body in [whole[..whole.len() - 3].to_vec(), b"entry=1".to_vec(), b"{\"object\": }".to_vec(), Vec::new()] {
        let reply = system.signed_webhook(body).await;
        reply.assert_error(400, "bad_request", "webhook body is not valid JSON");
    }
    system.assert_refused_whole().await;
    system.assert_webhooks_still_work().await;
}

#[tokio::test]
async fn a_signed_webhook_of_the_wrong_shape_is_refused_with_400_naming_the_place() {
    let mut system = start().await;
    let mut no_sender = text_change(NUMBER, MARIO, "wamid.bad", "Info");
    no_sender["value"]["messages"][0].as_object_mut().unwrap().remove("from");
    no_sender["value"]["contacts"] = json!([]);
    let mut bad_timestamp = text_change(NUMBER, MARIO, "wamid.bad", "Info");
    bad_timestamp["value"]["messages"][0]["timestamp"] = json!("yesterday");
    let cases = [
        (b"[1, 2, 3]".to_vec(), "malformed webhook JSON"),
        (b"\"whatsapp\"".to_vec(), "malformed webhook JSON"),
        (json!({ "object": "page", "entry": [] }).to_string().into_bytes(), "`object` is \"page\""),
        (json!({ "object": "whatsapp_business_account" }).to_string().into_bytes(), "missing field `entry`"),
        (json!({ "object": "whatsapp_business_account", "entry": { "id": "1" } }).to_string().into_bytes(), "at entry"),
        (envelope(vec![json!({ "id": "1", "changes": [no_sender] })]), "entry[0].changes[0].value.messages[0]"),
        (envelope(vec![json!({ "id": "1", "changes": [bad_timestamp] })]), "bad timestamp at entry[0]"),
    ];
    for (body, says) in cases {
        let reply = system.signed_webhook(body).await;
        reply.assert_error(400, "bad_request", says);
    }
    system.assert_refused_whole().await;
    system.assert_webhooks_still_work().await;
}

#[tokio::test]
async fn an_eight_mebibyte_webhook_is_refused_with_413() {
    let mut system = start().await;
    let mut body = text_webhook(NUMBER, MARIO, "wamid.bad", "Info");
    let padding = format!(r#", "padding": "{}"}}"#, "x".repeat(8 << 20));
    body.truncate(body.len() - 1);
    body.extend_from_slice(padding.as_bytes());
    let reply = system.signed_webhook(body).await;
    reply.assert_error(413, "payload_too_large", &format!("larger than {} bytes", avvio_api::MAX_BODY_BYTES));
    system.assert_refused_whole().await;
    system.assert_webhooks_still_work().await;
}

#[tokio::test]
async fn a_webhook_with_ten_thousand_entries_of_messages_is_refused_with_413() {
    let mut system = start().await;
    let entries = (0..10_000)
        .map(|i| json!({ "id": "1", "changes": [text_change(NUMBER, MARIO, &format!("wamid.m{i}"), "Info")] }))
        .collect();
    let body = envelope(entries);
    assert!(body.len() > avvio_api::MAX_BODY_BYTES);
    system.signed_webhook(body).await.assert_error(413, "payload_too_large", "larger than");
    system.assert_refused_whole().await;
    system.assert_webhooks_still_work().await;
}

#[tokio::test]
async fn a_webhook_with_ten_thousand_empty_entries_is_acknowledged_and_queues_nothing() {
    let mut system = start().await;
    let body = envelope((0..10_000).map(|i| json!({ "id": i.to_string(), "changes": [] })).collect());
    let reply = system.signed_webhook(body).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    system.assert_refused_whole().await;
    system.assert_webhooks_still_work().await;
}

#[tokio::test]
async fn a_webhook_whose_last_entry_is_bad_queues_none_of_the_good_ones_before_it() {
    let mut system = start().await;
    let mut entries: Vec<Value> = (0..2_000)
        .map(|i| json!({ "id": "1", "changes": [text_change(NUMBER, MARIO, &format!("wamid.m{i}"), "Info")] }))
        .collect();
    entries.push(json!({ "id": "1", "changes": [text_change(NUMBER, "+39 abc", "wamid.last", "Info")] }));
    let body = envelope(entries);
    assert!(body.len() <= avvio_api::MAX_BODY_BYTES);
    system.signed_webhook(body).await.assert_error(400, "bad_request", "entry[2000].changes[0]");
    system.assert_refused_whole().await;
    system.assert_webhooks_still_work().await;
}

#[tokio::test]
async fn a_webhook_nested_a_hundred_thousand_arrays_deep_is_refused_with_400() {
    let mut system = start().await;
    let mut nested_value =
        br#"{"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages", "value": "#
            .to_vec();
    nested_value.extend(nested_arrays(100_000));
    for body in [nested_arrays(100_000), nested_value] {
        let reply = system.signed_webhook(body).await;
        reply.assert_error(400, "bad_request", "recursion limit exceeded");
    }
    system.assert_refused_whole().await;
    system.assert_webhooks_still_work().await;
}

#[tokio::test]
async fn a_signed_webhook_that_is_not_utf8_is_refused_with_400() {
    let mut system = start().await;
    let mut body = text_webhook(NUMBER, MARIO, "wamid.bad", "Info-XX");
    let at = body.windows(2).position(|w| w == b"XX").unwrap();
    body[at..at + 2].copy_from_slice(&[0xC3, 0x28]);
    let reply = system.signed_webhook(body).await;
    reply.assert_error(400, "bad_request", "webhook body is not valid JSON: invalid unicode code point at line 1");
    system.assert_refused_whole().await;
    system.assert_webhooks_still_work().await;
}

#[tokio::test]
async fn a_webhook_to_an_unknown_phone_number_id_is_acknowledged_and_ignored() {
    let mut system = start().await;
    let reply = system.signed_webhook(text_webhook("999999999999999", MARIO, "wamid.elsewhere", "Info")).await;
    assert_eq!(reply.status, 200, "Meta gets its 200, or it retries: {}", reply.body);
    assert_eq!(system.settle().await, 1, "queued, and ignored by the matcher");
    system.assert_nothing_stored_for(MARIO).await;
    system.assert_webhooks_still_work().await;
}

// --- the integration hook ----------------------------------------------------------------

#[tokio::test]
async fn an_integration_call_with_a_wrong_secret_is_refused_with_401() {
    let mut system = start().await;
    let body = json!({ "secret": "sbagliato", "phone": MARIO }).to_string();
    let wrong = system.hook("ordine", body.clone()).await;
    wrong.assert_error(401, "unauthorized", "the secret or X-Avvio-Signature does not match");
    let missing = system.hook("ordine", json!({ "phone": MARIO }).to_string()).await;
    missing.assert_error(401, "unauthorized", "the secret or X-Avvio-Signature does not match");
    system.assert_refused_whole().await;
    system.assert_hooks_still_work().await;
}

#[tokio::test]
async fn an_integration_call_with_a_bad_phone_is_refused_with_422_naming_the_phone() {
    let mut system = start().await;
    let cases = [
        (json!("+39 abc"), "`+39 abc` is not a phone number: use digits with the country code"),
        (json!(""), "`` is not a phone number"),
        (json!("12"), "`12` is not a phone number"),
        (json!(393331234567_u64), "invalid type: integer `393331234567`, expected a string"),
        (json!(null), "invalid type: null, expected a string"),
    ];
    for (phone, says) in cases {
        let reply = system.hook("ordine", json!({ "secret": SECRET, "phone": phone }).to_string()).await;
        reply.assert_error(422, "invalid_value", says);
        assert_eq!(reply.body["error"]["path"], "phone", "{phone}: {}", reply.body);
    }
    system.assert_refused_whole().await;
    system.assert_hooks_still_work().await;
}

#[tokio::test]
async fn an_integration_call_that_is_not_json_or_too_deep_or_too_big_is_refused() {
    let mut system = start().await;
    system.hook("ordine", vec![0xFF, 0xFE]).await.assert_error(400, "bad_request", "the body is not JSON");
    system.hook("ordine", nested_arrays(100_000)).await.assert_error(400, "bad_request", "recursion limit exceeded");
    let big = vec![b' '; 8 << 20];
    system.hook("ordine", big).await.assert_error(413, "payload_too_large", "larger than");
    system.assert_refused_whole().await;
    system.assert_hooks_still_work().await;
}

// --- automations -------------------------------------------------------------------------

/// An automation whose one step waits for a reply and goes on with `otherwise`.
fn waiting(otherwise: Vec<Value>) -> Value {
    json!({ "after": "0s", "action": { "type": "wait_for_reply", "timeout": "1h", "otherwise": otherwise } })
}

fn automation(id: &str, steps: Vec<Value>) -> Value {
    json!({ "id": id, "name": id, "trigger": { "type": "integration", "secret": SECRET }, "steps": steps })
}

fn add_tag() -> Value {
    json!({ "after": "0s", "action": { "type": "add_tag", "tag": "x" } })
}

/// `depth` `wait_for_reply` steps, each in the `otherwise` of the one before, as text (a
/// `serde_json::Value` that deep would overflow the test's own stack when written or dropped).
fn nested_waits(depth: usize) -> String {
    let open = r#"{"after": "0s", "action": {"type": "wait_for_reply", "timeout": "1h", "otherwise": ["#;
    format!("{}{}{}", open.repeat(depth), add_tag(), "]}}".repeat(depth))
}

/// An automation document whose steps are `steps`, as text.
fn automation_text(id: &str, steps: &str) -> String {
    let placeholder = automation(id, vec![json!("STEPS")]).to_string();
    placeholder.replace(r#"["STEPS"]"#, &format!("[{steps}]"))
}

#[tokio::test]
async fn an_automation_with_a_ten_thousand_step_branch_is_refused_with_422() {
    let system = start().await;
    let document = automation("lungo", vec![waiting((0..10_000).map(|_| add_tag()).collect())]);
    let reply = system.api("POST", "/v1/automations", document.to_string()).await;
    reply.assert_error(422, "too_long", "an automation has at most 200 steps, branches included (10001 given)");
    assert_eq!(reply.body["error"]["path"], "steps");
    assert_eq!(system.api("GET", "/v1/automations/lungo", Body::empty()).await.status, 404);
    system.assert_automations_still_work().await;
}

#[tokio::test]
async fn an_automation_nested_ten_thousand_branches_deep_is_refused_with_400_on_the_default_stack() {
    let system = start().await;
    let body = automation_text("profondo", &nested_waits(10_000));
    assert!(body.len() <= avvio_api::MAX_BODY_BYTES);
    let reply = system.api("POST", "/v1/automations", body).await;
    reply.assert_error(400, "bad_request", "recursion limit exceeded");
    assert_eq!(system.api("GET", "/v1/automations/profondo", Body::empty()).await.status, 404);
    system.assert_automations_still_work().await;
}

#[tokio::test]
async fn an_automation_nested_as_deep_as_json_is_read_is_refused_with_422_naming_the_nesting_limit() {
    let system = start().await;
    // Three JSON levels a wait, two for the automation and two for the last step: as deep as
    // serde_json reads (128 levels).
    let depth = (128 - 4) / 3;
    let reply = system.api("POST", "/v1/automations", automation_text("profondo", &nested_waits(depth))).await;
    reply.assert_error(422, "too_deep", "flow steps nest at most 8 deep");
    assert_eq!(system.api("GET", "/v1/automations/profondo", Body::empty()).await.status, 404);
    system.assert_automations_still_work().await;
}

#[tokio::test]
async fn a_condition_with_predicates_nested_as_deep_as_json_is_read_is_stored_and_runs_on_the_default_stack() {
    let mut system = start().await;
    // Seven JSON levels down to the predicate, one a `not`, one for `has_tag`: 127 in all.
    // An odd number of `not`s around "has the tag vip" holds for Giulia, who has no tag.
    let predicate = (0..119).fold(json!({ "has_tag": "vip" }), |inner, _| json!({ "not": inner }));
    let condition = json!({ "after": "0s", "action": { "type": "condition",
        "branches": [ { "if": predicate, "steps": [add_tag()] } ] } });
    let reply = system.api("POST", "/v1/automations", automation("predicato", vec![condition]).to_string()).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    let stored = system.api("GET", "/v1/automations/predicato", Body::empty()).await;
    assert_eq!(stored.body["steps"], reply.body["steps"], "it reads back as written");
    assert_eq!(system.api("GET", "/v1/automations/predicato/diagram", Body::empty()).await.status, 200);

    let call = json!({ "secret": SECRET, "phone": GIULIA });
    assert_eq!(system.hook("predicato", call.to_string()).await.status, 202);
    assert_eq!(system.settle().await, 1);
    assert_eq!(system.tags_of(GIULIA).await, json!(["x"]));
}

// --- simulate ----------------------------------------------------------------------------

#[tokio::test]
async fn a_simulation_body_over_six_mebibytes_is_refused_with_413() {
    let mut system = start().await;
    let body = format!(r#"{{"events": [], "padding": "{}"}}"#, "x".repeat(8 << 20));
    let reply = system.api("POST", "/v1/simulate", body).await;
    reply.assert_error(413, "payload_too_large", &format!("larger than {} bytes", avvio_api::simulate::MAX_BODY_BYTES));
    system.assert_simulations_still_work().await;
}

#[tokio::test]
async fn a_simulation_body_nested_a_hundred_thousand_arrays_deep_is_refused() {
    let mut system = start().await;
    let deep = String::from_utf8(nested_arrays(100_000)).unwrap();
    let cases = [
        (deep.clone(), 400, "bad_request", "recursion limit exceeded", None),
        (format!(r#"{{"automations": [{deep}], "events": []}}"#), 400, "bad_request", "recursion limit exceeded", None),
        (
            format!(r#"{{"events": [{deep}]}}"#),
            422,
            "invalid_value",
            "invalid type: array, expected an event: an object with `at`",
            Some("events[0]"),
        ),
        (
            format!(r#"{{"events": [{{"at": "2026-11-23T09:00:00Z", "whatsapp": {deep}}}]}}"#),
            422,
            "invalid_value",
            "recursion limit exceeded",
            Some("events[0].whatsapp"),
        ),
    ];
    for (body, status, code, says, path) in cases {
        let reply = system.api("POST", "/v1/simulate", body).await;
        reply.assert_error(status, code, says);
        assert_eq!(reply.body["error"]["path"].as_str(), path, "{}", reply.body);
    }
    system.assert_simulations_still_work().await;
}
