//! `POST /v1/simulate`: the seed example answers what `avvio simulate` prints, over the
//! stored automations or the given ones; nothing is sent or stored; too many events, too
//! long a run and every kind of bad input are refused naming what is wrong.

mod support;

use avvio_common::domain::WorkspaceId;
use avvio_common::ports::{KeyHash, Management};
use avvio_common::simulate::{Inputs, Simulation};
use avvio_common::validate::read_documents;
use serde_json::{Value, json};
use std::time::Duration;
use support::{KEY_A, NUMBER_A, System, phrase_automation, start};

fn example(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// The lines of an events file, each as the JSON object it holds.
fn event_list(text: &str) -> Vec<Value> {
    text.lines().filter(|l| !l.trim().is_empty()).map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// What the simulator prints for these files, as JSON values.
async fn simulator(workspace: &str, automations: &str, events: &str) -> Vec<Value> {
    let mut simulation = Simulation::load(Inputs {
        workspace_file: "workspace.json",
        workspace,
        automations: read_documents("automations.json", automations).unwrap(),
        events_file: "events.jsonl",
        events,
        until: None,
    })
    .unwrap();
    let mut lines = Vec::new();
    simulation.run(|line| lines.push(serde_json::to_value(line).unwrap())).await.unwrap();
    lines
}

/// Workspace `a` with the seed's workspace document and automations, stored through the API.
async fn seeded() -> System {
    let system = start().await;
    let (status, body) =
        system.put("/v1/workspace", KEY_A, serde_json::from_str(&example("workspace.json")).unwrap()).await;
    assert_eq!(status, 200, "{body}");
    let automations: Vec<Value> = serde_json::from_str(&example("automations.json")).unwrap();
    for automation in automations {
        let (status, body) = system.post("/v1/automations", KEY_A, automation).await;
        assert_eq!(status, 201, "{body}");
    }
    system
}

/// An event: a text message from `from` to workspace `a`'s number at 2026-11-23T09:00:00Z.
fn message(from: &str, wamid: &str, text: &str) -> Value {
    json!({ "at": "2026-11-23T09:00:00Z", "whatsapp": {
        "object": "whatsapp_business_account",
        "entry": [{ "id": "102290129340398", "changes": [{ "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": { "display_phone_number": "390212345678", "phone_number_id": NUMBER_A },
            "contacts": [{ "profile": { "name": "Mario" }, "wa_id": from }],
            "messages": [{ "from": from, "id": wamid, "timestamp": "1795424400", "type": "text", "text": { "body": text } }]
        } }] }] } })
}

fn effects(body: &Value) -> &Vec<Value> {
    body["effects"].as_array().unwrap_or_else(|| panic!("no effects: {body}"))
}

#[tokio::test]
async fn the_seed_example_answers_exactly_what_the_simulator_prints() {
    let system = seeded().await;
    let events = example("events.jsonl");
    let (status, body) = system.post("/v1/simulate", KEY_A, json!({ "events": event_list(&events) })).await;
    assert_eq!(status, 200, "{body}");
    let printed = simulator(&example("workspace.json"), &example("automations.json"), &events).await;
    assert!(printed.len() > 10, "the seed example does things: {printed:?}");
    assert_eq!(effects(&body), &printed);
}

#[tokio::test]
async fn the_stored_automations_run_unless_the_request_gives_its_own() {
    let system = start().await;
    let (status, body) = system.post("/v1/automations", KEY_A, phrase_automation("info", "Info")).await;
    assert_eq!(status, 201, "{body}");
    let events = json!([message("393331234567", "wamid.s1", "info")]);

    let (status, stored) = system.post("/v1/simulate", KEY_A, json!({ "events": events })).await;
    assert_eq!(status, 200, "{stored}");
    let sent: Vec<(&Value, &Value)> =
        effects(&stored).iter().map(|e| (&e["automation"], &e["request"]["text"]["body"])).collect();
    assert_eq!(sent, [(&json!("info"), &json!("Ciao Mario!"))]);

    let mut given = phrase_automation("benvenuto", "Info");
    given["steps"][0]["action"]["text"] = json!("Benvenuto {{name}}, ecco le informazioni.");
    let body = json!({ "automations": [given], "events": events });
    let (status, answer) = system.post("/v1/simulate", KEY_A, body).await;
    assert_eq!(status, 200, "{answer}");
    let sent: Vec<(&Value, &Value)> =
        effects(&answer).iter().map(|e| (&e["automation"], &e["request"]["text"]["body"])).collect();
    assert_eq!(sent, [(&json!("benvenuto"), &json!("Benvenuto Mario, ecco le informazioni."))]);

    // An empty list simulates no automation at all.
    let (status, none) = system.post("/v1/simulate", KEY_A, json!({ "automations": [], "events": events })).await;
    assert_eq!((status, none), (200, json!({ "effects": [] })));
}

#[tokio::test]
async fn a_simulation_sends_nothing_and_stores_nothing() {
    let mut system = seeded().await;
    let (_, before) = system.get("/v1/automations", KEY_A).await;
    let events = event_list(&example("events.jsonl"));
    let (status, body) = system.post("/v1/simulate", KEY_A, json!({ "events": events })).await;
    assert_eq!(status, 200, "{body}");
    assert!(effects(&body).iter().any(|e| e["request"].is_object()), "the example sends messages: {body}");

    for effect in effects(&body) {
        let contact = effect["contact"].as_str().unwrap();
        let (status, found) = system.get(&format!("/v1/contacts/{contact}"), KEY_A).await;
        assert_eq!(status, 404, "contact {contact} was stored: {found}");
        if let Some(run) = effect["run"].as_str() {
            let (status, found) = system.get(&format!("/v1/runs/{run}"), KEY_A).await;
            assert_eq!(status, 404, "run {run} was stored: {found}");
        }
    }
    let (_, runs) = system.get("/v1/runs", KEY_A).await;
    assert!(!runs.to_string().contains("\"r-"), "{runs}");
    assert_eq!(system.get("/v1/automations", KEY_A).await.1, before);
    assert!(system.sent().is_empty(), "{:?}", system.sent());
    assert!(system.queued().is_empty(), "nothing is queued for the matcher");
}

#[tokio::test]
async fn more_than_ten_thousand_events_are_413() {
    let system = start().await;
    let event = json!({ "at": "2026-11-23T09:00:00Z", "list_remove": { "list": "vip", "phone": "393331234567" } });
    let events = vec![event; avvio_api::simulate::MAX_EVENTS + 1];
    let (status, body) = system.post("/v1/simulate", KEY_A, json!({ "events": events })).await;
    assert_eq!((status, body["error"]["code"].as_str()), (413, Some("too_many_events")), "{body}");
}

#[tokio::test]
async fn ten_thousand_whatsapp_messages_fit_in_one_request() {
    let system = start().await;
    let mut events: Vec<Value> =
        (0..avvio_api::simulate::MAX_EVENTS).map(|i| message("393331234567", &format!("wamid.{i}"), "ciao")).collect();
    // The last one is out of order: the whole list is read, and nothing runs.
    events.last_mut().unwrap()["at"] = json!("2026-11-22T09:00:00Z");
    let body = json!({ "events": events });
    assert!(body.to_string().len() > avvio_api::MAX_BODY_BYTES, "larger than the other routes take");
    let (status, body) = system.post("/v1/simulate", KEY_A, body).await;
    assert_eq!((status, &body["error"]["path"]), (422, &json!("events[9999].at")), "{body}");
}

#[tokio::test]
async fn a_simulation_past_its_time_limit_is_422_and_answers_nothing_else() {
    let system = start().await;
    let ws = WorkspaceId::parse("a").unwrap();
    let body = json!({ "automations": [phrase_automation("info", "Info")],
                       "events": [message("393331234567", "wamid.t1", "info")] })
    .to_string();
    let simulate = |limit| avvio_api::simulate::simulate(&system.deps.store, &ws, body.as_bytes(), limit);

    let error = simulate(Duration::ZERO).await.unwrap_err();
    assert_eq!((error.status.as_u16(), error.code), (422, "simulation_too_long"), "{error:?}");
    assert!(simulate(Duration::from_secs(60)).await.is_ok());
}

#[tokio::test]
async fn a_workspace_without_a_document_has_nothing_to_simulate_over() {
    let system = start().await;
    system.deps.store.put_api_key(&KeyHash::of("key-c"), &WorkspaceId::parse("c").unwrap()).await.unwrap();
    let (status, body) = system.post("/v1/simulate", "key-c", json!({ "events": [] })).await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("workspace_not_set")), "{body}");
}

#[tokio::test]
async fn a_body_that_is_not_json_is_400() {
    let system = start().await;
    for raw in ["{\"events\": [", "events", "{\"events\": []} []"] {
        let response =
            system.http.post(format!("{}/v1/simulate", system.base)).bearer_auth(KEY_A).body(raw).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 400, "{raw}");
        let body: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
        assert_eq!(body["error"]["code"], "bad_request", "{raw}: {body}");
    }
}

#[tokio::test]
async fn bad_input_is_422_naming_its_path_in_the_request() {
    let system = start().await;
    let contact = |at: &str| json!({ "at": at, "contact": { "phone": "393331234567" } });
    let ok = contact("2026-11-23T09:00:00Z");
    let mut blank_text = phrase_automation("info", "Info");
    blank_text["steps"][0]["action"]["text"] = json!(" ");
    let mut no_id = phrase_automation("info", "Info");
    no_id.as_object_mut().unwrap().remove("id");
    let integration = |automation: &str| {
        json!({ "at": "2026-11-23T09:00:00Z",
                "integration": { "automation": automation, "body": { "phone": "393331234567" } } })
    };
    let cases = [
        (json!({}), "missing_field", ""),
        (json!({ "events": {} }), "invalid_value", "events"),
        (json!({ "events": [], "until": 7 }), "invalid_value", "until"),
        (json!({ "events": [], "extra": true }), "unknown_field", "extra"),
        (json!({ "events": [ok, ok, ok, contact("ieri")] }), "invalid_value", "events[3].at"),
        (json!({ "events": [ok, contact("2026-11-22T09:00:00Z")] }), "invalid_value", "events[1].at"),
        (json!({ "events": [{ "at": "2026-11-23T09:00:00Z" }] }), "invalid_value", "events[0]"),
        (json!({ "events": [7] }), "invalid_value", "events[0]"),
        (
            json!({ "events": [{ "at": "2026-11-23T09:00:00Z", "contact": { "phone": "393331234567", "nome": "x" } }] }),
            "unknown_field",
            "events[0].contact.nome",
        ),
        (
            json!({ "events": [{ "at": "2026-11-23T09:00:00Z", "list_add": { "list": "vip", "phone": "zero" } }] }),
            "invalid_value",
            "events[0].list_add.phone",
        ),
        (
            json!({ "automations": [phrase_automation("ok", "Ok"), blank_text], "events": [] }),
            "invalid_value",
            "automations[1].steps[0].action.text",
        ),
        (json!({ "automations": [no_id], "events": [] }), "missing_field", "automations[0].id"),
        (
            json!({ "automations": [phrase_automation("info", "Info"), phrase_automation("info-2", "info")], "events": [] }),
            "phrase_conflict",
            "automations[1].trigger.phrase",
        ),
        (
            json!({ "automations": [], "events": [integration("ordine")] }),
            "invalid_value",
            "events[0].integration.automation",
        ),
        (
            json!({ "automations": [phrase_automation("info", "Info")], "events": [integration("info")] }),
            "invalid_value",
            "events[0].integration.automation",
        ),
        (json!({ "events": [ok], "until": "domani" }), "invalid_value", "until"),
        (json!({ "events": [ok], "until": "2026-11-23T08:59:59Z" }), "invalid_value", "until"),
    ];
    for (request, code, path) in cases {
        let (status, body) = system.post("/v1/simulate", KEY_A, request.clone()).await;
        assert_eq!(
            (status, body["error"]["code"].as_str(), body["error"]["path"].as_str()),
            (422, Some(code), Some(path)),
            "{request}: {body}"
        );
    }
    // Until the first event's instant is fine: the event runs, and nothing after it.
    let (status, body) =
        system.post("/v1/simulate", KEY_A, json!({ "events": [ok], "until": "2026-11-23T09:00:00Z" })).await;
    assert_eq!((status, body), (200, json!({ "effects": [] })));
}
