//! The management API (`/v1`) driven as a user's script drives it: every route,
//! the bad-input matrix, the effects that reach WhatsApp, tenant isolation, and
//! flows and marketing consent as the API shows them.

mod support;

use avvio_common::domain::contact::ConsentChoice;
use avvio_common::ports::PipelineEvent;
use serde_json::{Value, json};
use support::{KEY_A, KEY_B, NUMBER_A, appointment_flow, phrase_automation, promemoria, start, text_webhook};

/// Every management route, with a method and a concrete path.
const ROUTES: &[(&str, &str)] = &[
    ("GET", "/v1/workspace"),
    ("PUT", "/v1/workspace"),
    ("GET", "/v1/templates"),
    ("POST", "/v1/templates/sync"),
    ("PUT", "/v1/templates/benvenuto/it"),
    ("DELETE", "/v1/templates/benvenuto/it"),
    ("GET", "/v1/automations"),
    ("POST", "/v1/automations"),
    ("GET", "/v1/automations/info"),
    ("PUT", "/v1/automations/info"),
    ("DELETE", "/v1/automations/info"),
    ("POST", "/v1/automations/info/run"),
    ("GET", "/v1/contacts"),
    ("GET", "/v1/contacts/393331234567"),
    ("PUT", "/v1/contacts/393331234567"),
    ("DELETE", "/v1/contacts/393331234567"),
    ("PUT", "/v1/lists/vip/contacts/393331234567"),
    ("DELETE", "/v1/lists/vip/contacts/393331234567"),
    ("GET", "/v1/runs"),
    ("GET", "/v1/runs/r-00"),
];

#[tokio::test]
async fn every_management_route_refuses_a_missing_or_wrong_key_with_401() {
    let system = start().await;
    for (method, path) in ROUTES {
        for key in [None, Some("not-a-key")] {
            let (status, body) = system.call(method, path, key, Some(json!({}))).await;
            assert_eq!(status, 401, "{method} {path} with {key:?}: {body}");
            assert_eq!(body["error"]["code"], "unauthorized");
        }
    }
    let (status, _) = system.call("GET", "/v1/workspace", Some("Basic abc"), None).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn the_workspace_round_trips_without_ever_returning_its_secrets() {
    let system = start().await;
    let (status, body) = system.get("/v1/workspace", KEY_A).await;
    assert_eq!(status, 200);
    assert_eq!(body["whatsapp"]["access_token_set"], true);
    assert_eq!(body["webhook_secret_set"], true);
    let text = body.to_string();
    assert!(!text.contains("EAAG-segreto") && !text.contains("webhook-segreto"), "{text}");

    // A user PUTs back what they read (without secrets, with the `…_set` flags): the secrets are kept.
    let mut doc = body.clone();
    doc["timezone"] = json!("Europe/London");
    let (status, after) = system.put("/v1/workspace", KEY_A, doc.clone()).await;
    assert_eq!(status, 200, "{after}");
    assert_eq!(after["timezone"], "Europe/London");
    assert_eq!(
        (after["whatsapp"]["access_token_set"].as_bool(), after["webhook_secret_set"].as_bool()),
        (Some(true), Some(true))
    );

    // An empty string clears a secret.
    doc["webhook_secret"] = json!("");
    let (_, after) = system.put("/v1/workspace", KEY_A, doc.clone()).await;
    assert_eq!(after["webhook_secret_set"], false);

    // Runs are kept 90 days unless the workspace says otherwise.
    assert_eq!(after["runs_retention"], "90d");
    doc["runs_retention"] = json!("30d");
    let (status, after) = system.put("/v1/workspace", KEY_A, doc).await;
    assert_eq!((status, &after["runs_retention"]), (200, &json!("30d")), "{after}");
}

#[tokio::test]
async fn a_bad_workspace_document_is_422_naming_the_path_and_changes_nothing() {
    let system = start().await;
    let cases = [
        (json!({ "timezone": "Europe/Milano" }), "timezone"),
        (json!({ "timezone": "Europe/Rome", "holidays": ["christmas"] }), "holidays[0]"),
        (json!({ "timezone": "Europe/Rome", "working_hours": { "mon": ["18:00-09:00"] } }), "working_hours.mon[0]"),
        (json!({ "timezone": "Europe/Rome", "colour": "blue" }), "colour"),
        (
            json!({ "timezone": "Europe/Rome", "whatsapp": { "phone_number_id": "1065", "max_sends_per_second": 5000 } }),
            "whatsapp.max_sends_per_second",
        ),
        (
            json!({ "timezone": "Europe/Rome", "whatsapp": { "phone_number_id": "1065", "retry_for": "forever" } }),
            "whatsapp.retry_for",
        ),
        (json!({ "timezone": "Europe/Rome", "runs_retention": "12h" }), "runs_retention"),
        (json!({ "timezone": "Europe/Rome", "runs_retention": "400d" }), "runs_retention"),
        (json!({ "timezone": "Europe/Rome", "runs_retention": 90 }), "runs_retention"),
    ];
    for (doc, path) in cases {
        let (status, body) = system.put("/v1/workspace", KEY_A, doc.clone()).await;
        assert_eq!(status, 422, "{doc}: {body}");
        assert_eq!(body["error"]["path"], path, "{doc}: {body}");
    }
    let (_, body) = system.get("/v1/workspace", KEY_A).await;
    assert_eq!(body["timezone"], "Europe/Rome");
}

#[tokio::test]
async fn a_waba_id_that_is_not_digits_is_refused_with_422_naming_it_and_changes_nothing() {
    let system = start().await;
    for waba_id in ["", " ", "WABA-1022", "1022 "] {
        let doc = json!({ "timezone": "Europe/Rome",
                          "whatsapp": { "phone_number_id": NUMBER_A, "waba_id": waba_id } });
        let (status, body) = system.put("/v1/workspace", KEY_A, doc).await;
        assert_eq!(status, 422, "{waba_id:?}: {body}");
        assert_eq!(body["error"]["code"], "invalid_value", "{body}");
        assert_eq!(body["error"]["path"], "whatsapp.waba_id", "{body}");
    }
    let (_, stored) = system.get("/v1/workspace", KEY_A).await;
    assert!(stored["whatsapp"].get("waba_id").is_none(), "{stored}");
    // Digits are an account; `null` is none.
    for (waba_id, shown) in [(json!("102290129340398"), json!("102290129340398")), (Value::Null, Value::Null)] {
        let doc = json!({ "timezone": "Europe/Rome",
                          "whatsapp": { "phone_number_id": NUMBER_A, "waba_id": waba_id } });
        let (status, body) = system.put("/v1/workspace", KEY_A, doc).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["whatsapp"].get("waba_id").cloned().unwrap_or(Value::Null), shown, "{body}");
    }
}

#[tokio::test]
async fn a_template_with_an_empty_body_is_refused_with_422_naming_body() {
    let system = start().await;
    let (status, body) =
        system.put("/v1/templates/spedizione/it", KEY_A, json!({ "status": "approved", "body": "" })).await;
    assert_eq!(
        (status, &body["error"]["code"], &body["error"]["path"]),
        (422, &json!("invalid_value"), &json!("body"))
    );
    let mut workspace = system.get("/v1/workspace", KEY_A).await.1;
    workspace["templates"]
        .as_array_mut()
        .unwrap()
        .push(json!({ "name": "spedizione", "language": "it", "status": "approved", "body": "" }));
    let (status, body) = system.put("/v1/workspace", KEY_A, workspace).await;
    assert_eq!((status, &body["error"]["path"]), (422, &json!("templates[1].body")), "{body}");
    let (_, list) = system.get("/v1/templates", KEY_A).await;
    assert_eq!(list["templates"].as_array().unwrap().len(), 1, "nothing stored: {list}");
}

#[tokio::test]
async fn a_phone_number_id_already_routed_to_another_workspace_is_409() {
    let system = start().await;
    let (status, body) = system
        .put("/v1/workspace", KEY_B, json!({ "timezone": "Europe/Rome", "whatsapp": { "phone_number_id": NUMBER_A } }))
        .await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("number_taken")), "{body}");
}

#[tokio::test]
async fn templates_are_created_replaced_listed_and_deleted() {
    let system = start().await;
    let template = json!({ "status": "approved", "body": "Ordine {{1}} spedito il {{2}}" });
    let (status, body) = system.put("/v1/templates/spedizione/it", KEY_A, template.clone()).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!((body["name"].as_str(), body["language"].as_str()), (Some("spedizione"), Some("it")));
    let (status, _) =
        system.put("/v1/templates/spedizione/it", KEY_A, json!({ "status": "pending", "body": "x" })).await;
    assert_eq!(status, 200);
    let (_, list) = system.get("/v1/templates", KEY_A).await;
    let names: Vec<_> =
        list["templates"].as_array().unwrap().iter().map(|t| (t["name"].clone(), t["status"].clone())).collect();
    assert_eq!(names, vec![(json!("benvenuto"), json!("approved")), (json!("spedizione"), json!("pending"))]);
    assert_eq!(system.delete("/v1/templates/spedizione/it", KEY_A).await.0, 204);
    assert_eq!(system.delete("/v1/templates/spedizione/it", KEY_A).await.0, 404);
}

#[tokio::test]
async fn bad_templates_are_422_naming_the_field() {
    let system = start().await;
    let cases = [
        ("/v1/templates/Spedizione/it", json!({ "status": "approved", "body": "x" }), "name"),
        ("/v1/templates/spedizione/it", json!({ "status": "approvato", "body": "x" }), "status"),
        ("/v1/templates/spedizione/it", json!({ "status": "approved", "body": "  " }), "body"),
        ("/v1/templates/spedizione/it", json!({ "status": "approved", "body": "x", "name": "altro" }), "name"),
        ("/v1/templates/spedizione/it", json!({ "status": "approved" }), ""),
    ];
    for (path, doc, at) in cases {
        let (status, body) = system.put(path, KEY_A, doc.clone()).await;
        assert_eq!((status, body["error"]["path"].as_str()), (422, Some(at)), "{path} {doc}: {body}");
    }
}

#[tokio::test]
async fn automations_are_created_at_version_1_and_each_update_bumps_the_version() {
    let system = start().await;
    let mut doc = phrase_automation("info", "Vorrei informazioni");
    let (status, created) = system.post("/v1/automations", KEY_A, doc.clone()).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!((created["id"].as_str(), created["version"].as_u64()), (Some("info"), Some(1)));

    doc["name"] = json!("Informazioni v2");
    doc["version"] = json!(41); // ignored on input
    let (status, updated) = system.put("/v1/automations/info", KEY_A, doc).await;
    assert_eq!((status, updated["version"].as_u64()), (200, Some(2)), "{updated}");
    let (_, fetched) = system.get("/v1/automations/info", KEY_A).await;
    assert_eq!(fetched, updated);
    let (_, list) = system.get("/v1/automations", KEY_A).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);

    assert_eq!(system.delete("/v1/automations/info", KEY_A).await.0, 204);
    assert_eq!(system.get("/v1/automations/info", KEY_A).await.0, 404);
    assert_eq!(system.delete("/v1/automations/info", KEY_A).await.0, 404);
    assert_eq!(system.put("/v1/automations/info", KEY_A, phrase_automation("info", "x")).await.0, 404);
}

#[tokio::test]
async fn an_automation_without_an_id_gets_one_and_an_integration_gets_a_secret() {
    let system = start().await;
    let doc = json!({ "name": "ordine", "trigger": { "type": "integration" },
                      "steps": [ { "after": "0s", "action": { "type": "add_tag", "tag": "cliente" } } ] });
    let (status, created) = system.post("/v1/automations", KEY_A, doc.clone()).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    let secret = created["trigger"]["secret"].as_str().unwrap().to_string();
    assert!(id.starts_with("a-") && secret.len() >= 32, "{created}");
    // An update without the secret keeps it.
    let (_, updated) = system.put(&format!("/v1/automations/{id}"), KEY_A, doc).await;
    assert_eq!(updated["trigger"]["secret"], secret.as_str());
}

#[tokio::test]
async fn a_template_meta_would_reject_is_422_at_its_path_and_nothing_is_stored() {
    let system = start().await;
    let quick: Vec<Value> =
        ["Sì", "No", "Forse", "Mai"].iter().map(|t| json!({ "type": "quick_reply", "text": t })).collect();
    let cases = [
        (json!({ "status": "approved", "body": "x", "header": { "format": "gif" } }), "header.format"),
        (json!({ "status": "approved", "body": "x", "buttons": quick }), "buttons"),
        (
            json!({ "status": "approved", "body": "x", "buttons": [ { "type": "url", "text": "Vai", "url": "http://shop.example.com" } ] }),
            "buttons[0].url",
        ),
        (
            json!({ "status": "approved", "body": "x", "buttons": [ { "type": "quick_reply", "text": "Un testo di bottone troppo lungo" } ] }),
            "buttons[0].text",
        ),
        (json!({ "status": "approved", "body": "x", "buttons": [""] }), "buttons[0].text"),
        (json!({ "status": "approved", "parameter_format": "named", "body": "Ciao {{Nome}}" }), "body"),
    ];
    for (doc, at) in cases {
        let (status, body) = system.put("/v1/templates/promo/it", KEY_A, doc.clone()).await;
        assert_eq!((status, body["error"]["path"].as_str()), (422, Some(at)), "{doc}: {body}");
    }
    let mut workspace = system.get("/v1/workspace", KEY_A).await.1;
    workspace["templates"].as_array_mut().unwrap().push(json!({ "name": "promo", "language": "it",
        "status": "approved", "body": "x", "buttons": [ { "type": "url", "text": "Vai", "url": "shop.example.com" } ] }));
    let (status, body) = system.put("/v1/workspace", KEY_A, workspace).await;
    assert_eq!((status, body["error"]["path"].as_str()), (422, Some("templates[1].buttons[0].url")), "{body}");
    let (_, list) = system.get("/v1/templates", KEY_A).await;
    assert_eq!(list["templates"].as_array().unwrap().len(), 1, "{list}");
}

#[tokio::test]
async fn a_rich_template_send_is_checked_against_the_template_at_save_time() {
    let system = start().await;
    let promo = json!({ "status": "approved", "parameter_format": "named", "body": "Ciao {{first_name}}",
        "header": { "format": "image" },
        "buttons": [ { "type": "url", "text": "Scopri", "url": "https://shop.example.com/{{1}}" } ] });
    assert_eq!(system.put("/v1/templates/promo/it", KEY_A, promo).await.0, 201);
    let send = |action: Value| {
        json!({ "id": "p", "name": "p", "trigger": { "type": "customer_message", "phrase": "promo" },
                "steps": [ { "after": "0s", "action": action } ] })
    };
    let good = json!({ "type": "send_template", "template": "promo", "language": "it",
        "header": { "type": "image", "link": "https://shop.example.com/a.jpg" },
        "params": { "first_name": "{{name}}" }, "buttons": [ { "index": 0, "type": "url", "text": "natale" } ] });
    let mut cases = Vec::new();
    for (key, value, path) in [
        ("params", json!({ "nome": "{{name}}" }), "steps[0].action.params.nome"),
        ("header", json!({ "type": "video", "link": "https://shop.example.com/a.mp4" }), "steps[0].action.header"),
        ("buttons", json!([ { "index": 0, "type": "quick_reply", "payload": "x" } ]), "steps[0].action.buttons[0]"),
    ] {
        let mut action = good.clone();
        action[key] = value;
        cases.push((action, path));
    }
    for (action, path) in cases {
        let (status, body) = system.post("/v1/automations", KEY_A, send(action.clone())).await;
        assert_eq!((status, body["error"]["path"].as_str()), (422, Some(path)), "{action}: {body}");
        assert_eq!(body["error"]["code"], "template_params_mismatch", "{body}");
    }
    let (status, body) = system.post("/v1/automations", KEY_A, send(good.clone())).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["steps"][0]["action"], good, "read back as written");
}

#[tokio::test]
async fn a_template_button_index_past_the_tenth_is_refused_with_422_naming_it() {
    let system = start().await;
    // The template is unknown (it may be added later): the index is checked on its own.
    let send = |index: u64| {
        json!({ "id": "codice", "name": "codice", "trigger": { "type": "customer_message", "phrase": "codice" },
            "steps": [ { "after": "0s", "action": { "type": "send_template", "template": "sconto", "language": "it",
                "buttons": [ { "index": index, "type": "copy_code", "code": "BENVENUTO10" } ] } } ] })
    };
    let (status, body) = system.post("/v1/automations", KEY_A, send(10)).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "invalid_value", "{body}");
    assert_eq!(body["error"]["path"], "steps[0].action.buttons[0].index", "{body}");
    assert_eq!(system.get("/v1/automations/codice", KEY_A).await.0, 404, "nothing stored");
    assert_eq!(system.post("/v1/automations", KEY_A, send(9)).await.0, 201);
}

#[tokio::test]
async fn invalid_automations_are_422_naming_the_path() {
    let system = start().await;
    let buttons = json!({ "id": "b", "name": "b", "trigger": { "type": "customer_message", "phrase": "menu" },
        "steps": [ { "after": "0s", "action": { "type": "send_buttons", "text": "Scegli",
            "buttons": [ {"id": "1", "title": "a"}, {"id": "2", "title": "b"}, {"id": "3", "title": "c"}, {"id": "4", "title": "d"} ] } } ] });
    let params = json!({ "id": "t", "name": "t", "trigger": { "type": "customer_message", "phrase": "ciao" },
        "steps": [ { "after": "0s", "action": { "type": "send_template", "template": "benvenuto", "language": "it", "params": [] } } ] });
    let typo = json!({ "id": "x", "name": "x", "trigger": { "type": "customer_message", "phrase": "ciao" },
        "steps": [ { "afterr": "0s", "action": { "type": "add_tag", "tag": "t" } } ] });
    let cases = [
        (buttons, "steps[0].action.buttons", "invalid_buttons"),
        (params, "steps[0].action.params", "template_params_mismatch"),
        (typo, "steps[0].afterr", "unknown_field"),
    ];
    for (doc, path, code) in cases {
        let (status, body) = system.post("/v1/automations", KEY_A, doc.clone()).await;
        assert_eq!((status, body["error"]["path"].as_str()), (422, Some(path)), "{doc}: {body}");
        assert_eq!(body["error"]["code"], code, "{body}");
    }
    let (_, list) = system.get("/v1/automations", KEY_A).await;
    assert_eq!(list["items"], json!([]));
}

#[tokio::test]
async fn a_second_automation_for_the_same_phrase_or_fallback_is_409() {
    let system = start().await;
    assert_eq!(system.post("/v1/automations", KEY_A, phrase_automation("info", "Vorrei informazioni")).await.0, 201);
    let (status, body) =
        system.post("/v1/automations", KEY_A, phrase_automation("info-2", "  vorrei   INFORMAZIONI ")).await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("phrase_conflict")), "{body}");
    assert_eq!(body["error"]["path"], "trigger.phrase");
    let (status, body) = system.post("/v1/automations", KEY_A, phrase_automation("info", "altro")).await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("duplicate_id")), "{body}");

    let fallback = |id: &str| {
        json!({ "id": id, "name": id, "trigger": { "type": "outside_hours" },
                "steps": [ { "after": "0s", "action": { "type": "send_text", "text": "Siamo chiusi" } } ] })
    };
    assert_eq!(system.post("/v1/automations", KEY_A, fallback("chiuso")).await.0, 201);
    let (status, body) = system.post("/v1/automations", KEY_A, fallback("chiuso-2")).await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("fallback_conflict")), "{body}");
    // The other workspace has its own phrases.
    assert_eq!(system.post("/v1/automations", KEY_B, phrase_automation("info", "Vorrei informazioni")).await.0, 201);
}

#[tokio::test]
async fn integration_ids_are_unique_across_workspaces_because_they_name_the_hook_url() {
    let system = start().await;
    let doc = json!({ "id": "ordine", "name": "ordine", "trigger": { "type": "integration" },
                      "steps": [ { "after": "0s", "action": { "type": "add_tag", "tag": "cliente" } } ] });
    assert_eq!(system.post("/v1/automations", KEY_A, doc.clone()).await.0, 201);
    let (status, body) = system.post("/v1/automations", KEY_B, doc).await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("id_taken")), "{body}");
}

#[tokio::test]
async fn a_disabled_automation_does_not_fire_and_fires_again_once_enabled() {
    let mut system = start().await;
    let mut doc = phrase_automation("info", "Info");
    doc["enabled"] = json!(false);
    assert_eq!(system.post("/v1/automations", KEY_A, doc.clone()).await.0, 201);
    assert_eq!(system.webhook(text_webhook(NUMBER_A, "393331234567", "wamid.1", "info")).await, 200);
    system.settle().await;
    assert!(system.sent().is_empty());
    assert_eq!(system.get("/v1/runs", KEY_A).await.1["items"], json!([]));

    doc["enabled"] = json!(true);
    assert_eq!(system.put("/v1/automations/info", KEY_A, doc).await.0, 200);
    system.webhook(text_webhook(NUMBER_A, "393331234567", "wamid.2", "info")).await;
    system.settle().await;
    let sent = system.sent();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!((sent[0]["to"].as_str(), sent[0]["text"]["body"].as_str()), (Some("393331234567"), Some("Ciao Mario!")));
}

#[tokio::test]
async fn an_integration_created_through_the_api_runs_with_the_right_secret_only() {
    let mut system = start().await;
    let doc = json!({ "id": "ordine", "name": "ordine", "trigger": { "type": "integration" },
        "steps": [ { "after": "0s", "action": { "type": "send_template", "template": "benvenuto", "language": "it",
                                                "params": ["{{fields.first_name}}"] } } ] });
    let (_, created) = system.post("/v1/automations", KEY_A, doc).await;
    let secret = created["trigger"]["secret"].as_str().unwrap();
    let call = |secret: &str| json!({ "secret": secret, "phone": "+39 333 123 4567", "first_name": "Mario" });
    let (status, _) = system.call("POST", "/hooks/automations/ordine", None, Some(call("sbagliato"))).await;
    assert_eq!(status, 401);
    let (status, _) = system.call("POST", "/hooks/automations/ordine", None, Some(call(secret))).await;
    assert_eq!(status, 202);
    system.settle().await;
    let sent = system.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["template"]["components"][0]["parameters"][0]["text"], "Mario");
    let (_, contact) = system.get("/v1/contacts/393331234567", KEY_A).await;
    assert_eq!(contact["fields"]["first_name"], "Mario");
}

fn list_automation() -> Value {
    json!({ "id": "benvenuto-vip", "name": "benvenuto vip", "trigger": { "type": "list", "list": "vip" },
            "steps": [ { "after": "0s", "action": { "type": "add_tag", "tag": "vip-accolto" } } ] })
}

#[tokio::test]
async fn adding_a_new_member_to_a_list_fires_its_list_automations_once() {
    let mut system = start().await;
    assert_eq!(system.post("/v1/automations", KEY_A, list_automation()).await.0, 201);
    let (status, body) = system.put("/v1/lists/vip/contacts/+393331234567", KEY_A, json!({})).await;
    assert_eq!(status, 202, "{body}");
    assert!(body["request_id"].as_str().unwrap().starts_with("req-"));
    system.settle().await;
    let (_, contact) = system.get("/v1/contacts/393331234567", KEY_A).await;
    assert_eq!((contact["lists"].clone(), contact["tags"].clone()), (json!(["vip"]), json!(["vip-accolto"])));
    // Already a member: nothing fires again.
    system.put("/v1/lists/vip/contacts/393331234567", KEY_A, json!({})).await;
    system.settle().await;
    let (_, runs) = system.get("/v1/runs?automation=benvenuto-vip&limit=1000", KEY_A).await;
    assert_eq!(runs["items"].as_array().unwrap().len(), 1, "{runs}");

    assert_eq!(system.delete("/v1/lists/vip/contacts/393331234567", KEY_A).await.0, 202);
    system.settle().await;
    let (_, contact) = system.get("/v1/contacts/393331234567", KEY_A).await;
    assert_eq!(contact["lists"], json!([]));
}

#[tokio::test]
async fn a_manual_run_starts_for_one_contact_or_for_every_member_of_the_list() {
    let mut system = start().await;
    system.post("/v1/automations", KEY_A, phrase_automation("info", "Info")).await;
    system.post("/v1/automations", KEY_A, list_automation()).await;
    for phone in ["393331111111", "393332222222"] {
        system.put(&format!("/v1/lists/vip/contacts/{phone}"), KEY_A, json!({})).await;
    }
    system.settle().await;

    let (status, _) = system.post("/v1/automations/benvenuto-vip/run", KEY_A, json!({})).await;
    assert_eq!(status, 202);
    let (status, _) = system.post("/v1/automations/info/run", KEY_A, json!({ "phone": "+39 333 999 9999" })).await;
    assert_eq!(status, 202);
    system.settle().await;
    let (_, runs) = system.get("/v1/runs?automation=benvenuto-vip&limit=1000", KEY_A).await;
    assert_eq!(runs["items"].as_array().unwrap().len(), 4, "two joins and two manual runs: {runs}");
    let (_, runs) = system.get("/v1/runs?phone=393339999999", KEY_A).await;
    let runs = runs["items"].as_array().unwrap();
    assert_eq!((runs.len(), runs[0]["cause"]["type"].as_str()), (1, Some("manual")));
    // The manual run's text is outside the 24h window: recorded as failed with the code.
    let (_, run) = system.get(&format!("/v1/runs/{}", runs[0]["id"].as_str().unwrap()), KEY_A).await;
    assert_eq!(run["steps"][0]["status"], "failed");
    assert_eq!(run["steps"][0]["error"], "outside_customer_service_window");
}

#[tokio::test]
async fn deleting_a_contact_ends_its_active_runs_with_contact_deleted_and_keeps_the_others() {
    let mut system = start().await;
    let waiting = json!({ "id": "domanda", "name": "domanda", "trigger": { "type": "integration" },
        "steps": [ { "after": "0s", "action": { "type": "wait_for_reply", "timeout": "1h",
            "branches": [ { "reply": ["si"], "steps": [ { "after": "0s", "action": { "type": "add_tag", "tag": "si" } } ] } ] } } ] });
    let (status, created) = system.post("/v1/automations", KEY_A, waiting).await;
    assert_eq!(status, 201, "{created}");
    for phone in ["393331111111", "393332222222"] {
        let (status, _) = system.post("/v1/automations/domanda/run", KEY_A, json!({ "phone": phone })).await;
        assert_eq!(status, 202);
    }
    system.settle().await;
    let run_of = |runs: Value| runs["items"][0].clone();
    let before = run_of(system.get("/v1/runs?phone=393331111111", KEY_A).await.1);
    assert_eq!(
        (before["status"]["state"].as_str(), before["steps"][0]["status"].as_str()),
        (Some("active"), Some("waiting"))
    );

    assert_eq!(system.delete("/v1/contacts/393331111111", KEY_A).await.0, 204);
    let ended = run_of(system.get("/v1/runs?phone=393331111111", KEY_A).await.1);
    assert_eq!(ended["status"], json!({ "state": "cancelled", "reason": "contact_deleted" }), "{ended}");
    assert_eq!(
        (ended["steps"][0]["status"].as_str(), ended["steps"][0]["error"].as_str()),
        (Some("skipped"), Some("contact_deleted"))
    );
    let other = run_of(system.get("/v1/runs?phone=393332222222", KEY_A).await.1);
    assert_eq!(other["status"]["state"], "active", "another contact's run goes on: {other}");
}

#[tokio::test]
async fn a_list_run_goes_through_its_members_a_page_at_a_time_and_a_page_done_twice_starts_nothing_twice() {
    let mut system = start().await;
    // The members join before the automation exists: only the list run starts runs.
    let members = avvio_common::stages::matcher::LIST_RUN_PAGE * 2 + 50;
    for i in 0..members {
        system.put(&format!("/v1/lists/vip/contacts/39333{i:07}"), KEY_A, json!({})).await;
    }
    system.settle().await;
    system.post("/v1/automations", KEY_A, list_automation()).await;
    let (status, _) = system.post("/v1/automations/benvenuto-vip/run", KEY_A, json!({})).await;
    assert_eq!(status, 202, "answered before any run starts");
    let first_page = system.queued().to_vec();
    assert_eq!(first_page.len(), 1, "one event for the whole list");
    system.settle().await;
    let (_, runs) = system.get("/v1/runs?automation=benvenuto-vip&limit=1000", KEY_A).await;
    assert_eq!(runs["items"].as_array().unwrap().len(), members);

    // The first page delivered again (the matcher died before acknowledging it): its follow-up
    // is queued again and every page is done again, starting no run twice.
    let report = system.deps.handle_event(&first_page[0], chrono::Utc::now()).await.unwrap();
    assert!(report.follow_up.is_some(), "the first page names the next");
    system.pending.extend(report.follow_up);
    system.settle().await;
    let (_, runs) = system.get("/v1/runs?automation=benvenuto-vip&limit=1000", KEY_A).await;
    assert_eq!(runs["items"].as_array().unwrap().len(), members, "each member's run once");
}

#[tokio::test]
async fn bad_manual_runs_are_refused_with_the_reason() {
    let system = start().await;
    system.post("/v1/automations", KEY_A, phrase_automation("info", "Info")).await;
    let mut disabled = phrase_automation("spento", "Spento");
    disabled["enabled"] = json!(false);
    system.post("/v1/automations", KEY_A, disabled).await;
    let cases = [
        ("/v1/automations/info/run", json!({}), 422, "missing_field"),
        ("/v1/automations/info/run", json!({ "phone": "+39 abc" }), 422, "invalid_value"),
        ("/v1/automations/info/run", json!({ "telefono": "393331234567" }), 422, "unknown_field"),
        ("/v1/automations/spento/run", json!({ "phone": "393331234567" }), 409, "automation_disabled"),
        ("/v1/automations/nessuna/run", json!({ "phone": "393331234567" }), 404, "not_found"),
    ];
    for (path, body, status, code) in cases {
        let (got, reply) = system.post(path, KEY_A, body.clone()).await;
        assert_eq!((got, reply["error"]["code"].as_str()), (status, Some(code)), "{path} {body}: {reply}");
    }
}

#[tokio::test]
async fn contacts_are_upserted_unassigned_and_cleared_by_null_listed_by_tag_and_list_and_deleted() {
    let mut system = start().await;
    let (status, created) = system
        .put(
            "/v1/contacts/+39 333 123 4567",
            KEY_A,
            json!({ "name": "Mario", "tags": ["cliente"], "fields": { "citta": "Roma" } }),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["phone"], "393331234567");
    assert!(created.get("engine").is_none(), "the engine's bookkeeping stays inside: {created}");
    let (status, changed) =
        system.put("/v1/contacts/393331234567", KEY_A, json!({ "fields": { "cap": "00100" } })).await;
    assert_eq!(status, 200);
    assert_eq!(changed["fields"], json!({ "cap": "00100", "citta": "Roma" }));
    let (status, assigned) = system
        .put("/v1/contacts/393331234567", KEY_A, json!({ "operator": "anna@negozio.it", "fields": { "cap": null } }))
        .await;
    assert_eq!(status, 200, "{assigned}");
    assert_eq!((&assigned["operator"], &assigned["fields"]), (&json!("anna@negozio.it"), &json!({ "citta": "Roma" })));
    let (_, kept) = system.put("/v1/contacts/393331234567", KEY_A, json!({ "name": "Mario Rossi" })).await;
    assert_eq!(kept["operator"], "anna@negozio.it", "an absent operator is kept");
    let (_, unassigned) = system.put("/v1/contacts/393331234567", KEY_A, json!({ "operator": null })).await;
    assert_eq!(unassigned["operator"], Value::Null, "`null` unassigns: {unassigned}");
    system.put("/v1/contacts/393332222222", KEY_A, json!({ "name": "Anna" })).await;
    system.put("/v1/lists/vip/contacts/393332222222", KEY_A, json!({})).await;
    system.settle().await;

    let phones = |reply: Value| -> Vec<String> {
        reply["items"].as_array().unwrap().iter().map(|c| c["phone"].as_str().unwrap().to_string()).collect()
    };
    assert_eq!(phones(system.get("/v1/contacts", KEY_A).await.1), ["393331234567", "393332222222"]);
    assert_eq!(phones(system.get("/v1/contacts?tag=cliente", KEY_A).await.1), ["393331234567"]);
    assert_eq!(phones(system.get("/v1/contacts?list=vip", KEY_A).await.1), ["393332222222"]);
    assert_eq!(phones(system.get("/v1/contacts?list=vip&tag=cliente", KEY_A).await.1), Vec::<String>::new());

    assert_eq!(system.delete("/v1/contacts/393331234567", KEY_A).await.0, 204);
    assert_eq!(system.get("/v1/contacts/393331234567", KEY_A).await.0, 404);
    assert_eq!(system.delete("/v1/contacts/393331234567", KEY_A).await.0, 404);
    assert_eq!(phones(system.get("/v1/contacts", KEY_A).await.1), ["393332222222"]);
}

#[tokio::test]
async fn bad_contact_requests_are_refused_with_the_reason() {
    let system = start().await;
    let cases = [
        ("GET", "/v1/contacts/abc123", None, 422),
        ("PUT", "/v1/contacts/+39%20abc", Some(json!({ "name": "x" })), 422),
        ("PUT", "/v1/contacts/393331234567", Some(json!({ "lists": ["vip"] })), 422),
        ("PUT", "/v1/contacts/393331234567", Some(json!({ "tags": "vip" })), 422),
        ("GET", "/v1/contacts?tags=vip", None, 400),
        ("GET", "/v1/contacts/393330000000", None, 404),
        ("GET", "/v1/contacts/%FF", None, 400),
        ("PUT", "/v1/lists/vip/contacts/39-abc", None, 422),
        ("PUT", "/v1/templates/benvenuto/it%20IT", Some(json!({ "status": "approved", "body": "x" })), 422),
    ];
    for (method, path, body, status) in cases {
        let (got, reply) = system.call(method, path, Some(KEY_A), body.clone()).await;
        assert_eq!(got, status, "{method} {path} {body:?}: {reply}");
        assert!(reply["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{reply}");
    }
}

#[tokio::test]
async fn bodies_that_are_not_json_or_too_large_are_refused() {
    let system = start().await;
    let send = |body: Vec<u8>| {
        system.http.post(format!("{}/v1/automations", system.base)).bearer_auth(KEY_A).body(body).send()
    };
    let reply = send(b"{ not json".to_vec()).await.unwrap();
    assert_eq!(reply.status().as_u16(), 400);
    let reply = send(vec![b' '; avvio_api::MAX_BODY_BYTES + 1]).await.unwrap();
    assert_eq!(reply.status().as_u16(), 413);
    assert_eq!(system.get("/health", KEY_A).await.0, 200, "the server stays up");
}

#[tokio::test]
async fn a_date_automation_created_later_comes_due_for_contacts_that_already_exist() {
    let system = start().await;
    system.put("/v1/contacts/393331234567", KEY_A, json!({ "fields": { "compleanno": "1990-03-14" } })).await;
    assert_eq!(system.deps.store.next_date_due(), None);
    let doc = json!({ "id": "auguri", "name": "auguri",
        "trigger": { "type": "date", "field": "compleanno", "time": "09:00", "annual": true },
        "steps": [ { "after": "0s", "action": { "type": "send_template", "template": "benvenuto", "language": "it", "params": ["{{name|amico}}"] } } ] });
    assert_eq!(system.post("/v1/automations", KEY_A, doc.clone()).await.0, 201);
    let due = system.deps.store.next_date_due().expect("indexed when the automation was created");
    assert_eq!(due.format("%m-%d").to_string(), "03-14");
    // Disabling it takes it out of the index.
    let mut disabled = doc;
    disabled["enabled"] = json!(false);
    system.put("/v1/automations/auguri", KEY_A, disabled).await;
    assert_eq!(system.deps.store.next_date_due(), None);
}

#[tokio::test]
async fn one_workspace_can_neither_read_nor_change_another_workspaces_data() {
    let mut system = start().await;
    system.post("/v1/automations", KEY_A, phrase_automation("info", "Info")).await;
    system.put("/v1/contacts/393331234567", KEY_A, json!({ "name": "Mario" })).await;
    system.webhook(text_webhook(NUMBER_A, "393331234567", "wamid.a", "info")).await;
    system.settle().await;
    let (_, runs) = system.get("/v1/runs", KEY_A).await;
    let run_id = runs["items"][0]["id"].as_str().unwrap().to_string();

    // B sees none of it...
    assert_eq!(system.get("/v1/automations/info", KEY_B).await.0, 404);
    assert_eq!(system.get("/v1/automations", KEY_B).await.1["items"], json!([]));
    assert_eq!(system.get("/v1/contacts/393331234567", KEY_B).await.0, 404);
    assert_eq!(system.get("/v1/contacts", KEY_B).await.1["items"], json!([]));
    assert_eq!(system.get(&format!("/v1/runs/{run_id}"), KEY_B).await.0, 404);
    assert_eq!(system.get("/v1/runs", KEY_B).await.1["items"], json!([]));
    // ...and changes none of it.
    assert_eq!(system.put("/v1/automations/info", KEY_B, phrase_automation("info", "Rubato")).await.0, 404);
    assert_eq!(system.delete("/v1/automations/info", KEY_B).await.0, 404);
    assert_eq!(system.delete("/v1/contacts/393331234567", KEY_B).await.0, 404);
    assert_eq!(system.post("/v1/automations/info/run", KEY_B, json!({ "phone": "393331234567" })).await.0, 404);
    let (_, a) = system.get("/v1/automations/info", KEY_A).await;
    assert_eq!((a["version"].as_u64(), a["trigger"]["phrase"].as_str()), (Some(1), Some("info")));
    assert_eq!(system.get("/v1/contacts/393331234567", KEY_A).await.1["name"], "Mario");
    assert_eq!(system.get(&format!("/v1/runs/{run_id}"), KEY_A).await.0, 200);
}

#[tokio::test]
async fn run_history_shows_each_step_with_status_time_and_error() {
    let mut system = start().await;
    let doc = json!({ "id": "info", "name": "info", "trigger": { "type": "customer_message", "phrase": "Info" },
        "steps": [ { "after": "0s", "action": { "type": "send_text", "text": "Ciao {{fields.citta}}" } },
                   { "after": "0s", "action": { "type": "add_tag", "tag": "lead" } } ] });
    system.post("/v1/automations", KEY_A, doc).await;
    system.webhook(text_webhook(NUMBER_A, "393331234567", "wamid.h", "Info")).await;
    system.settle().await;
    let (_, runs) = system.get("/v1/runs?phone=%2B39%20333%20123%204567&automation=info", KEY_A).await;
    let id = runs["items"][0]["id"].as_str().unwrap();
    let (status, run) = system.get(&format!("/v1/runs/{id}"), KEY_A).await;
    assert_eq!(status, 200);
    assert_eq!(run["status"]["state"], "completed");
    let steps: Vec<_> = run["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["action"].clone(), s["status"].clone(), s.get("error").cloned(), s["at"].is_string()))
        .collect();
    assert_eq!(
        steps,
        vec![
            (json!("send_text"), json!("failed"), Some(json!("missing_variable")), true),
            (json!("add_tag"), json!("done"), None, true),
        ]
    );
    assert_eq!(system.get("/v1/runs/r-nessuna", KEY_A).await.0, 404);
}

fn meta_fixture(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/meta").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[tokio::test]
async fn meta_delivering_a_message_twice_starts_one_run_and_its_statuses_land_on_the_run() {
    let mut system = start().await;
    let doc = json!({ "id": "info", "name": "info", "trigger": { "type": "customer_message", "phrase": "info" },
        "steps": [ { "after": "0s", "action": { "type": "send_template", "template": "benvenuto", "language": "it", "params": ["{{name|amico}}"] } } ] });
    system.post("/v1/automations", KEY_A, doc).await;
    let text = meta_fixture("text.json").into_bytes();
    assert_eq!(system.webhook(text.clone()).await, 200);
    assert_eq!(system.webhook(text).await, 200);
    system.settle().await;
    assert_eq!(system.sent().len(), 1, "the redelivery starts nothing");
    let (_, runs) = system.get("/v1/runs", KEY_A).await;
    assert_eq!(runs["items"].as_array().unwrap().len(), 1);
    let run_id = runs["items"][0]["id"].as_str().unwrap().to_string();
    let (_, run) = system.get(&format!("/v1/runs/{run_id}"), KEY_A).await;
    let wamid = run["steps"][0]["wamid"].as_str().unwrap().to_string();

    // Meta's status webhooks for the message the step sent: recorded, never a new run.
    for (fixture, status) in [("status_delivered.json", "delivered"), ("status_failed.json", "failed")] {
        let body = meta_fixture(fixture);
        let original = body.split("\"id\": \"wamid.").nth(1).unwrap().split('"').next().unwrap();
        let body = body.replace(&format!("wamid.{original}"), &wamid);
        assert_eq!(system.webhook(body.into_bytes()).await, 200);
        system.settle().await;
        let (_, run) = system.get(&format!("/v1/runs/{run_id}"), KEY_A).await;
        assert_eq!(run["steps"][0]["delivery"], status, "{run}");
    }
    assert_eq!(system.get("/v1/runs", KEY_A).await.1["items"].as_array().unwrap().len(), 1);
    assert_eq!(system.sent().len(), 1);
}

#[tokio::test]
async fn statuses_that_arrive_before_the_sends_result_is_stored_are_parked_and_then_applied() {
    let mut system = start().await;
    system.post("/v1/automations", KEY_A, phrase_automation("info", "Info")).await;
    // Meta's `sent` and `delivered` for the message the step is about to send (the in-memory
    // sender's first id) are read before the executor stores the send's result.
    for status in ["sent", "delivered"] {
        let body = avvio_tests::status_webhook(NUMBER_A, "393331234567", "wamid.avvio.000001", status);
        assert_eq!(system.webhook(body).await, 200);
    }
    system.settle().await;
    assert_eq!(system.get("/v1/runs", KEY_A).await.1["items"], json!([]), "a parked status starts nothing");

    assert_eq!(system.webhook(text_webhook(NUMBER_A, "393331234567", "wamid.in.1", "Info")).await, 200);
    system.settle().await;
    let (_, runs) = system.get("/v1/runs", KEY_A).await;
    let run = &runs["items"][0];
    assert_eq!(run["steps"][0]["wamid"], "wamid.avvio.000001", "{run}");
    assert_eq!(run["steps"][0]["delivery"], "delivered", "the parked statuses were applied: {run}");

    // Applied once: a later `read` moves it on as usual.
    let read = avvio_tests::status_webhook(NUMBER_A, "393331234567", "wamid.avvio.000001", "read");
    assert_eq!(system.webhook(read).await, 200);
    system.settle().await;
    assert_eq!(system.get("/v1/runs", KEY_A).await.1["items"][0]["steps"][0]["delivery"], "read");
}

/// Every item of a listing, following `next_cursor` a page of `limit` at a time: the ids
/// (`key` of each item) and the number of pages.
async fn all_pages(system: &support::System, listing: &str, limit: usize, key: &str) -> (Vec<String>, usize) {
    let (mut ids, mut pages, mut cursor) = (Vec::new(), 0, String::new());
    let sep = if listing.contains('?') { '&' } else { '?' };
    loop {
        let (status, page) = system.get(&format!("{listing}{sep}limit={limit}{cursor}"), KEY_A).await;
        assert_eq!(status, 200, "{page}");
        pages += 1;
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= limit, "{page}");
        ids.extend(items.iter().map(|item| item[key].as_str().unwrap().to_string()));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => return (ids, pages),
        }
    }
}

#[tokio::test]
async fn listings_come_a_page_at_a_time_and_the_pages_add_up_to_the_whole_listing() {
    let mut system = start().await;
    for i in 0..5 {
        system.post("/v1/automations", KEY_A, phrase_automation(&format!("info-{i}"), &format!("Info {i}"))).await;
    }
    for i in 0..7 {
        let from = format!("39333123456{i}");
        let text = format!("Info {}", i % 5);
        assert_eq!(system.webhook(text_webhook(NUMBER_A, &from, &format!("wamid.page.{i}"), &text)).await, 200);
    }
    system.settle().await;

    for (listing, key, total) in [("/v1/automations", "id", 5), ("/v1/contacts", "phone", 7), ("/v1/runs", "id", 7)] {
        let (whole, pages) = all_pages(&system, listing, 1000, key).await;
        assert_eq!((whole.len(), pages), (total, 1), "{listing}");
        for limit in [1, 2, 3, 7] {
            let (paged, pages) = all_pages(&system, listing, limit, key).await;
            assert_eq!(paged, whole, "{listing} in pages of {limit}");
            assert_eq!(pages, total.div_ceil(limit), "{listing} in pages of {limit}: no empty last page");
        }
    }
    let (ids, _) = all_pages(&system, "/v1/automations", 2, "id").await;
    assert_eq!(ids, ["info-0", "info-1", "info-2", "info-3", "info-4"], "automations by id");
    let (filtered, pages) = all_pages(&system, "/v1/runs?automation=info-1", 1, "id").await;
    assert_eq!((filtered.len(), pages), (2, 2), "a filter pages too: {filtered:?}");

    // A cursor names its listing; a bad limit or cursor is 400 naming the parameter.
    let (_, first) = system.get("/v1/contacts?limit=2", KEY_A).await;
    let contacts_cursor = first["next_cursor"].as_str().unwrap();
    for (query, parameter) in [
        (format!("/v1/runs?cursor={contacts_cursor}"), "cursor"),
        ("/v1/contacts?cursor=nothex".into(), "cursor"),
        ("/v1/automations?cursor=".into(), "cursor"),
        ("/v1/contacts?limit=0".into(), "limit"),
        ("/v1/runs?limit=1001".into(), "limit"),
        ("/v1/automations?limit=many".into(), "limit"),
        ("/v1/automations?page=2".into(), "page"),
    ] {
        let (status, body) = system.get(&query, KEY_A).await;
        assert_eq!((status, body["error"]["code"].as_str()), (400, Some("bad_request")), "{query}: {body}");
        assert!(body["error"]["message"].as_str().unwrap().contains(parameter), "{query}: {body}");
    }
}

#[tokio::test]
async fn a_webhook_for_an_unknown_phone_number_id_is_acknowledged_and_ignored() {
    let mut system = start().await;
    system.post("/v1/automations", KEY_A, phrase_automation("info", "Info")).await;
    assert_eq!(system.webhook(text_webhook("999999999999999", "393331234567", "wamid.x", "Info")).await, 200);
    system.settle().await;
    assert!(system.sent().is_empty());
    assert_eq!(system.get("/v1/contacts", KEY_A).await.1["items"], json!([]));
    assert_eq!(system.get("/v1/runs", KEY_A).await.1["items"], json!([]));
}

// ---------------------------------------------------------------------------
// Flows and marketing consent
// ---------------------------------------------------------------------------

fn integration(secret: &str) -> Value {
    json!({ "type": "integration", "secret": secret })
}

#[tokio::test]
async fn a_flow_automation_is_created_and_read_back_as_written() {
    let system = start().await;
    assert_eq!(system.put("/v1/templates/promemoria/it", KEY_A, promemoria()).await.0, 201);
    let doc = appointment_flow("conferma", integration("segreto-agenda-456"));
    let (status, created) = system.post("/v1/automations", KEY_A, doc.clone()).await;
    assert_eq!(status, 201, "{created}");
    let mut expected = doc;
    expected["enabled"] = json!(true);
    expected["version"] = json!(1);
    expected["steps"][1]["action"]["timeout"] = json!("1d"); // durations read back in canonical form
    let saved_at = created["saved_at"].as_str().expect("when it was saved");
    assert!(avvio_common::time::parse_rfc3339(saved_at).is_ok(), "{saved_at}");
    expected["saved_at"] = json!(saved_at);
    assert_eq!(created, expected);
    let (status, fetched) = system.get("/v1/automations/conferma", KEY_A).await;
    assert_eq!((status, &fetched), (200, &expected));
    assert_eq!(system.get("/v1/automations", KEY_A).await.1["items"], json!([expected]));
}

/// Malformed flow documents with id `id`, each a change of the appointment flow: what is
/// wrong, the document, and the path and code of its 422.
fn broken_flows(id: &str) -> Vec<(&'static str, Value, String, &'static str)> {
    let flow = || appointment_flow(id, integration("segreto-agenda-456"));
    let with = |change: &dyn Fn(&mut Value)| {
        let mut doc = flow();
        change(&mut doc);
        doc
    };
    let condition = |when: Value| json!({ "type": "condition", "branches": [ { "if": when, "steps": [] } ] });
    let mut nested = json!([ { "after": "0s", "action": { "type": "add_tag", "tag": "fondo" } } ]);
    for _ in 0..9 {
        nested = json!([ { "after": "0s", "action": { "type": "condition",
            "branches": [ { "if": { "has_tag": "x" }, "steps": nested } ] } } ]);
    }
    let innermost = format!("steps[0]{}.action", ".action.branches[0].steps[0]".repeat(8));
    let eleven: Vec<Value> = (0..11).map(|i| json!({ "reply": [format!("r{i}")], "steps": [] })).collect();
    vec![
        (
            "a step after a wait_for_reply",
            with(&|doc| {
                let later = json!({ "after": "1h", "action": { "type": "add_tag", "tag": "mai" } });
                doc["steps"].as_array_mut().unwrap().push(later);
            }),
            "steps[2]".into(),
            "unreachable_step",
        ),
        (
            "a blank text deep in a branch",
            with(&|doc| {
                doc["steps"][1]["action"]["branches"][0]["steps"][0]["action"] =
                    json!({ "type": "send_text", "text": " " })
            }),
            "steps[1].action.branches[0].steps[0].action.text".into(),
            "invalid_value",
        ),
        (
            "a text that is not a string deep in a branch",
            with(&|doc| doc["steps"][1]["action"]["branches"][1]["steps"][0]["action"]["text"] = json!(5)),
            "steps[1].action.branches[1].steps[0].action.text".into(),
            "invalid_value",
        ),
        (
            "a timeout of 30s",
            with(&|doc| doc["steps"][1]["action"]["timeout"] = json!("30s")),
            "steps[1].action.timeout".into(),
            "invalid_value",
        ),
        (
            "11 branches",
            with(&|doc| doc["steps"][1]["action"]["branches"] = json!(eleven)),
            "steps[1].action.branches".into(),
            "invalid_branches",
        ),
        (
            "a reply value in two branches",
            with(&|doc| doc["steps"][1]["action"]["branches"][1]["reply"] = json!(["  CONFERMO ", "no"])),
            "steps[1].action.branches[1].reply[0]".into(),
            "duplicate_reply",
        ),
        (
            "a predicate with two keys",
            with(&|doc| doc["steps"][1]["action"] = condition(json!({ "has_tag": "vip", "in_list": "clienti" }))),
            "steps[1].action.branches[0].if".into(),
            "invalid_value",
        ),
        (
            "a predicate with field but neither equals nor exists",
            with(&|doc| doc["steps"][1]["action"] = condition(json!({ "all": [ { "field": "city" } ] }))),
            "steps[1].action.branches[0].if.all[0]".into(),
            "invalid_value",
        ),
        (
            "a start_automation of itself",
            with(&|doc| doc["steps"][1]["action"] = json!({ "type": "start_automation", "automation": id })),
            "steps[1].action.automation".into(),
            "invalid_value",
        ),
        ("flow steps nested 9 deep", with(&|doc| doc["steps"] = nested.clone()), innermost, "too_deep"),
        (
            "a wait_until with both time and working_hours",
            with(&|doc| {
                doc["steps"][1]["action"] = json!({ "type": "wait_until", "time": "09:00", "working_hours": true })
            }),
            "steps[1].action".into(),
            "invalid_value",
        ),
    ]
}

#[tokio::test]
async fn malformed_flows_are_422_naming_the_exact_path_and_nothing_is_stored() {
    let system = start().await;
    system.put("/v1/templates/promemoria/it", KEY_A, promemoria()).await;
    let flow = appointment_flow("conferma", integration("segreto-agenda-456"));
    assert_eq!(system.post("/v1/automations", KEY_A, flow).await.0, 201);
    let (_, before) = system.get("/v1/automations", KEY_A).await;

    // A new automation and the next version of a stored one are refused alike.
    for (what, doc, path, code) in broken_flows("rotto").into_iter().chain(broken_flows("conferma")) {
        let (status, body) = if doc["id"] == "rotto" {
            system.post("/v1/automations", KEY_A, doc).await
        } else {
            system.put("/v1/automations/conferma", KEY_A, doc).await
        };
        assert_eq!(
            (status, body["error"]["code"].as_str(), body["error"]["path"].as_str()),
            (422, Some(code), Some(path.as_str())),
            "{what}: {body}"
        );
        assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{what}: {body}");
    }
    assert_eq!(system.get("/v1/automations", KEY_A).await.1, before);
    assert_eq!(system.get("/v1/automations/rotto", KEY_A).await.0, 404);
    assert_eq!(system.get("/v1/automations/conferma", KEY_A).await.1["version"], 1);
}

#[tokio::test]
async fn a_flow_run_names_each_step_by_its_path_with_the_branch_it_took() {
    let mut system = start().await;
    system.put("/v1/templates/promemoria/it", KEY_A, promemoria()).await;
    let trigger = json!({ "type": "customer_message", "phrase": "Il mio appuntamento" });
    assert_eq!(system.post("/v1/automations", KEY_A, appointment_flow("conferma", trigger)).await.0, 201);
    system.webhook(text_webhook(NUMBER_A, "393331234567", "wamid.f1", "il mio appuntamento")).await;
    system.settle().await;

    let (_, runs) = system.get("/v1/runs?automation=conferma", KEY_A).await;
    let id = runs["items"][0]["id"].as_str().unwrap().to_string();
    let (status, run) = system.get(&format!("/v1/runs/{id}"), KEY_A).await;
    assert_eq!(status, 200);
    assert_eq!(run["status"]["state"], "active", "the run waits for the reply: {run}");
    let steps = run["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 2, "{run}");
    assert_eq!(
        (&steps[0]["step"], &steps[0]["action"], &steps[0]["status"]),
        (&json!("steps[0]"), &json!("send_buttons"), &json!("done"))
    );
    assert_eq!(
        (&steps[1]["step"], &steps[1]["action"], &steps[1]["status"]),
        (&json!("steps[1]"), &json!("wait_for_reply"), &json!("waiting"))
    );
    let at = chrono::DateTime::parse_from_rfc3339(steps[1]["at"].as_str().unwrap()).unwrap();
    let until = chrono::DateTime::parse_from_rfc3339(steps[1]["until"].as_str().unwrap()).unwrap();
    assert_eq!(until - at, chrono::Duration::hours(24), "the wait holds the run until its timeout: {run}");
    assert!(steps[1].get("branch").is_none(), "{run}");

    // The reply chooses the first branch: the wait is done, and the branch's step is named inside it.
    system.webhook(text_webhook(NUMBER_A, "393331234567", "wamid.f2", "confermo")).await;
    system.settle().await;
    let (_, run) = system.get(&format!("/v1/runs/{id}"), KEY_A).await;
    assert_eq!(run["status"]["state"], "completed", "{run}");
    let steps: Vec<_> = run["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["step"].clone(), s["action"].clone(), s["status"].clone(), s.get("branch").cloned()))
        .collect();
    assert_eq!(
        steps,
        vec![
            (json!("steps[0]"), json!("send_buttons"), json!("done"), None),
            (json!("steps[1]"), json!("wait_for_reply"), json!("done"), Some(json!("branches[0]"))),
            (json!("steps[1].action.branches[0].steps[0]"), json!("add_tag"), json!("done"), None),
        ]
    );
    let (_, contact) = system.get("/v1/contacts/393331234567", KEY_A).await;
    assert_eq!(
        (&contact["tags"], &contact["fields"]["conferma"]),
        (&json!(["confermato"]), &json!("confermo")),
        "{contact}"
    );
    assert_eq!(
        system.get("/v1/runs", KEY_A).await.1["items"].as_array().unwrap().len(),
        1,
        "a reply taken starts nothing else"
    );
}

#[tokio::test]
async fn a_marketing_change_through_the_api_is_stored_and_queues_the_consent_automations_once() {
    let mut system = start().await;
    let consent = json!({ "id": "disiscritto", "name": "disiscritto", "trigger": { "type": "consent", "marketing": "opted_out" },
        "steps": [ { "after": "0s", "action": { "type": "add_tag", "tag": "disiscritto" } } ] });
    assert_eq!(system.post("/v1/automations", KEY_A, consent).await.0, 201);

    let (status, created) =
        system.put("/v1/contacts/+39 333 123 4567", KEY_A, json!({ "marketing": "opted_out" })).await;
    assert_eq!((status, &created["marketing"]), (201, &json!("opted_out")), "{created}");
    assert_eq!(system.get("/v1/contacts/393331234567", KEY_A).await.1["marketing"], "opted_out");
    let queued = system.queued().to_vec();
    assert!(
        matches!(queued.as_slice(), [PipelineEvent::ConsentChanged { contact, marketing: ConsentChoice::OptedOut, .. }]
            if contact.to_string() == "393331234567"),
        "{queued:?}"
    );
    system.settle().await;
    let (_, runs) = system.get("/v1/runs?automation=disiscritto", KEY_A).await;
    assert_eq!(runs["items"][0]["cause"], json!({ "type": "consent", "by_run": null }), "{runs}");
    assert_eq!(system.get("/v1/contacts/393331234567", KEY_A).await.1["tags"], json!(["disiscritto"]));

    // The same consent again changes nothing and queues nothing.
    let (status, same) = system.put("/v1/contacts/393331234567", KEY_A, json!({ "marketing": "opted_out" })).await;
    assert_eq!((status, &same["marketing"]), (200, &json!("opted_out")), "{same}");
    assert!(system.queued().is_empty(), "{:?}", system.queued());
    system.settle().await;
    assert_eq!(system.get("/v1/runs?automation=disiscritto", KEY_A).await.1["items"].as_array().unwrap().len(), 1);

    // Only a consent a contact can be changed to is accepted.
    for value in [json!("unknown"), json!("si"), json!(true)] {
        let (status, body) = system.put("/v1/contacts/393331234567", KEY_A, json!({ "marketing": value })).await;
        assert_eq!((status, body["error"]["path"].as_str()), (422, Some("marketing")), "{value}: {body}");
    }
    assert!(system.queued().is_empty());
    assert_eq!(system.get("/v1/contacts/393331234567", KEY_A).await.1["marketing"], "opted_out");
}

#[tokio::test]
async fn an_update_without_an_id_cannot_make_an_automation_start_itself() {
    let system = start().await;
    let ping = json!({ "id": "ping", "name": "ping", "trigger": { "type": "integration", "secret": "segreto-ping-123" },
        "steps": [ { "after": "0s", "action": { "type": "add_tag", "tag": "x" } } ] });
    assert_eq!(system.post("/v1/automations", KEY_A, ping).await.0, 201);
    // No `id` in the body: the URL's is the one the self-start check compares with.
    let itself = json!({ "name": "ping", "trigger": { "type": "integration", "secret": "segreto-ping-123" },
        "steps": [ { "after": "0s", "action": { "type": "start_automation", "automation": "ping" } } ] });
    let (status, body) = system.put("/v1/automations/ping", KEY_A, itself).await;
    assert_eq!((status, body["error"]["path"].as_str()), (422, Some("steps[0].action.automation")), "{body}");
    assert_eq!(system.get("/v1/automations/ping", KEY_A).await.1["version"], 1, "nothing stored");
}

#[tokio::test]
async fn a_consent_change_whose_event_cannot_be_queued_is_put_back() {
    use avvio_common::ports::Store;
    let store = avvio_common::memory::MemoryStore::new();
    let ws = avvio_common::domain::WorkspaceId::parse("negozio").unwrap();
    store.load_workspace(&ws, serde_json::from_value(json!({ "timezone": "Europe/Rome" })).unwrap());
    let now = chrono::Utc::now();
    let put = avvio_common::manage::put_contact(&store, &ws, "393331234567", json!({ "marketing": "opted_out" }), now)
        .await
        .unwrap();
    assert!(put.consent_changed.is_some());
    // The API answers 503 when the event cannot be queued, after putting the consent back.
    avvio_common::manage::undo_consent(&store, &ws, &put).await.unwrap();
    let key = avvio_common::domain::ContactKey::parse("393331234567").unwrap();
    let contact = store.contact(&ws, &key).await.unwrap().unwrap().item;
    assert_eq!(contact.marketing, avvio_common::domain::contact::MarketingConsent::Unknown);
    // So a retry changes it again and queues its event.
    let retry =
        avvio_common::manage::put_contact(&store, &ws, "393331234567", json!({ "marketing": "opted_out" }), now)
            .await
            .unwrap();
    assert!(retry.consent_changed.is_some(), "the retry queues the consent automations");
}
