//! `POST /v1/templates/sync` against the stand-in Graph API serving Meta's documented pages,
//! and Meta's `message_template_status_update` webhook changing a template's status.

mod support;

use avvio_tests::graph::StandInGraph;
use serde_json::{Value, json};
use support::{KEY_A, KEY_B, NUMBER_A, start, start_with_graph};

const WABA: &str = "102290129340398";

fn fixture(name: &str) -> Value {
    let path = avvio_tests::fixtures().join("meta").join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// Workspace `a` with an account (`waba_id`) and two templates: `welcome` (as Meta has it but
/// for its body) and `vecchio` (gone from Meta).
fn workspace_with_account() -> Value {
    json!({
        "timezone": "Europe/Rome",
        "whatsapp": { "phone_number_id": NUMBER_A, "waba_id": WABA, "access_token": "EAAG-segreto" },
        "templates": [
            { "name": "welcome", "language": "it", "status": "approved", "category": "utility", "body": "Ciao {{1}}!" },
            { "name": "vecchio", "language": "it", "status": "approved", "body": "Non c'è più" }
        ]
    })
}

async fn templates_of(system: &support::System, key: &str) -> Value {
    let (status, body) = system.get("/v1/templates", key).await;
    assert_eq!(status, 200);
    body["templates"].clone()
}

#[tokio::test]
async fn a_sync_over_two_pages_makes_the_templates_equal_to_meta_s() {
    let graph = StandInGraph::start()
        .await
        .with_templates(vec![fixture("message_templates_page1.json"), fixture("message_templates_page2.json")]);
    let system = start_with_graph(&graph.base).await;
    assert_eq!(system.put("/v1/workspace", KEY_A, workspace_with_account()).await.0, 200);

    let (status, body) = system.post("/v1/templates/sync", KEY_A, json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["added"].clone(), body["changed"].clone(), body["removed"].clone()),
        (json!(6), json!(1), json!(1))
    );
    assert!(body["notes"].as_array().unwrap().iter().any(|n| n.as_str().unwrap().contains("FLOW")), "{body}");

    let requests = graph.template_requests();
    assert_eq!(requests.len(), 2, "both pages read");
    assert!(requests[0].path.starts_with(&format!("v23.0/{WABA}/message_templates?fields=name%2Clanguage")));
    assert!(requests[0].path.ends_with("&limit=100"), "{}", requests[0].path);
    assert!(requests[1].path.ends_with("&after=1"), "{}", requests[1].path);
    assert!(requests.iter().all(|r| r.authorization == "Bearer EAAG-segreto"));

    let templates = templates_of(&system, KEY_A).await;
    let names: Vec<String> = templates
        .as_array()
        .unwrap()
        .iter()
        .map(|t| format!("{}/{}", t["name"].as_str().unwrap(), t["language"].as_str().unwrap()))
        .collect();
    assert_eq!(
        names,
        [
            "welcome/it",
            "promo_natale/it",
            "order_update/en_US",
            "codice_accesso/it",
            "hello_world/en_US",
            "promo_estate/it",
            "nuovo_catalogo/it"
        ]
    );
    assert_eq!(templates[0]["body"], "Ciao {{1}}, grazie per averci scritto!");
    assert_eq!(templates[5]["status"], "paused");
    // Synced again with nothing changed at Meta: nothing to count.
    let (_, again) = system.post("/v1/templates/sync", KEY_A, json!({})).await;
    assert_eq!(
        (again["added"].clone(), again["changed"].clone(), again["removed"].clone()),
        (json!(0), json!(0), json!(0))
    );
    // The other workspace is untouched.
    assert_eq!(templates_of(&system, KEY_B).await.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_page_that_is_not_json_is_a_502_and_the_templates_stay_as_they_were() {
    let mut first = fixture("message_templates_page1.json");
    let graph = StandInGraph::start().await;
    let next = format!("{}/v23.0/{WABA}/message_templates?after=1", graph.base);
    first["paging"]["next"] = json!(next);
    let graph = graph.with_template_answers(vec![
        (200, first.to_string()),
        (200, "<html><body>Service Unavailable</body></html>".into()),
    ]);
    let system = start_with_graph(&graph.base).await;
    system.put("/v1/workspace", KEY_A, workspace_with_account()).await;
    let before = templates_of(&system, KEY_A).await;

    let (status, body) = system.post("/v1/templates/sync", KEY_A, json!({})).await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["error"]["code"], "meta_invalid_answer");
    assert_eq!(graph.template_requests().len(), 2, "the first page was read, then the second refused");
    assert_eq!(templates_of(&system, KEY_A).await, before, "nothing written");
}

#[tokio::test]
async fn meta_s_error_is_a_502_naming_meta_s_code() {
    let error = json!({ "error": { "message": "Error validating access token: Session has expired",
                                   "type": "OAuthException", "code": 190, "error_subcode": 463, "fbtrace_id": "AbCdEf" } });
    let graph = StandInGraph::start().await.with_template_answers(vec![(401, error.to_string())]);
    let system = start_with_graph(&graph.base).await;
    system.put("/v1/workspace", KEY_A, workspace_with_account()).await;
    let before = templates_of(&system, KEY_A).await;

    let (status, body) = system.post("/v1/templates/sync", KEY_A, json!({})).await;
    assert_eq!(status, 502);
    assert_eq!(body["error"]["code"], "meta_error");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("190") && message.contains("Session has expired"), "{message}");
    assert_eq!(templates_of(&system, KEY_A).await, before);
}

#[tokio::test]
async fn a_paging_next_to_another_host_is_not_followed() {
    let mut first = fixture("message_templates_page1.json");
    first["paging"]["next"] = json!(format!("https://evil.example.com/v23.0/{WABA}/message_templates?after=x"));
    let graph = StandInGraph::start().await.with_template_answers(vec![(200, first.to_string())]);
    let system = start_with_graph(&graph.base).await;
    system.put("/v1/workspace", KEY_A, workspace_with_account()).await;
    let before = templates_of(&system, KEY_A).await;

    let (status, body) = system.post("/v1/templates/sync", KEY_A, json!({})).await;
    assert_eq!(status, 502);
    assert_eq!(body["error"]["code"], "meta_refused");
    assert!(body["error"]["message"].as_str().unwrap().contains("evil.example.com"));
    assert_eq!(templates_of(&system, KEY_A).await, before);
}

#[tokio::test]
async fn a_workspace_without_an_account_cannot_sync() {
    let system = start().await;
    let (status, body) = system.post("/v1/templates/sync", KEY_A, json!({})).await;
    assert_eq!(status, 422);
    assert_eq!(body["error"]["path"], "whatsapp.waba_id");
    assert_eq!(system.call("POST", "/v1/templates/sync", None, None).await.0, 401);
}

#[tokio::test]
async fn meta_s_status_update_changes_the_template_s_status_in_the_account_s_workspace() {
    let mut system = start().await;
    let mut doc = workspace_with_account();
    doc["templates"] = json!([
        { "name": "promo_natale", "language": "it", "status": "approved", "body": "Ciao {{1}}!" },
        { "name": "welcome", "language": "it", "status": "approved", "body": "Ciao {{1}}!" }
    ]);
    assert_eq!(system.put("/v1/workspace", KEY_A, doc).await.0, 200);
    let body = std::fs::read(avvio_tests::fixtures().join("meta/template_status_update.json")).unwrap();
    assert_eq!(system.webhook(body).await, 200);
    system.settle().await;
    let templates = templates_of(&system, KEY_A).await;
    assert_eq!(templates[0]["status"], "paused");
    assert_eq!(templates[1]["status"], "approved");
    // Workspace `b` has no account: its template of the same name is untouched.
    assert_eq!(templates_of(&system, KEY_B).await[0]["status"], "approved");

    // An unknown template of the account is ignored.
    let unknown = json!({ "object": "whatsapp_business_account", "entry": [{ "id": WABA, "changes": [{
        "field": "message_template_status_update",
        "value": { "event": "APPROVED", "message_template_id": 9, "message_template_name": "sconosciuto",
                   "message_template_language": "it", "reason": "NONE" } }] }] });
    assert_eq!(system.webhook(unknown.to_string().into_bytes()).await, 200);
    system.settle().await;
    assert_eq!(templates_of(&system, KEY_A).await, templates);
}
