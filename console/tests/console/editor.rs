//! The automation editor: building a flow from an empty form with its buttons, errors shown at
//! their inputs, saving new versions, and the JSON tab.

use crate::support::{Browser, start, workspace_id};
use avvio_common::domain::AutomationId;
use avvio_common::ports::{Management, Store};
use axum::http::StatusCode;
use serde_json::{Value, json};

/// The inputs of the seed's flow, as the editor names them.
fn seed_flow(csrf: &str) -> Vec<(&'static str, String)> {
    let pairs = [
        ("csrf", csrf),
        ("tab", "flow"),
        ("name", "Benvenuto dal console"),
        ("enabled", "false"),
        ("enabled", "true"),
        ("trigger.type", "customer_message"),
        ("trigger.phrase", "Ciao Avvio"),
        ("steps[0].after", "0s"),
        ("steps[0].action.type", "send_buttons"),
        ("steps[0].action.text", "Come possiamo aiutarti?"),
        ("steps[0].action.buttons[0].title", "Prezzi"),
        ("steps[0].action.buttons[0].id", "prezzi"),
        ("steps[0].action.buttons[1].title", "Orari"),
        ("steps[0].action.buttons[1].id", "orari"),
        ("steps[1].after", "0s"),
        ("steps[1].action.type", "wait_for_reply"),
        ("steps[1].action.timeout", "1d"),
        ("steps[1].action.save_to", ""),
        ("steps[1].action.branches[0].reply", "Prezzi\nprezzi"),
        ("steps[1].action.branches[0].steps[0].after", "0s"),
        ("steps[1].action.branches[0].steps[0].action.type", "send_text"),
        ("steps[1].action.branches[0].steps[0].action.text", "Da 19 €"),
        ("steps[1].action.branches[1].reply", "Orari\norari"),
        ("steps[1].action.branches[1].steps[0].after", "0s"),
        ("steps[1].action.branches[1].steps[0].action.type", "send_text"),
        ("steps[1].action.branches[1].steps[0].action.text", "9:00–18:00"),
        ("steps[1].action.on_timeout[0].after", "0s"),
        ("steps[1].action.on_timeout[0].action.type", "add_tag"),
        ("steps[1].action.on_timeout[0].action.tag", "silenzioso"),
    ];
    pairs.iter().map(|(k, v)| (*k, v.to_string())).collect()
}

async fn post(browser: &mut Browser<'_>, path: &str, pairs: &[(&str, String)], edit: &str) -> crate::support::Reply {
    let mut fields: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    fields.push(("edit", edit));
    browser.post(path, &fields).await
}

fn with(pairs: &[(&'static str, String)], name: &'static str, value: &str) -> Vec<(&'static str, String)> {
    let mut pairs = pairs.to_vec();
    match pairs.iter_mut().find(|(k, _)| *k == name) {
        Some(pair) => pair.1 = value.to_string(),
        None => pairs.push((name, value.to_string())),
    }
    pairs
}

async fn count(system: &crate::support::System) -> usize {
    system.store.automations(&workspace_id()).await.unwrap().len()
}

#[tokio::test]
async fn the_new_form_starts_empty_with_a_phrase_trigger() {
    let system = start().await;
    let mut browser = system.signed_in().await;
    let page = browser.get("/console/automations/new").await;
    assert_eq!(page.status, StatusCode::OK);
    let html = page.text();
    assert!(html.contains(r#"name="name" value="""#), "{html}");
    assert!(html.contains(r#"<option value="customer_message" selected>"#));
    assert!(html.contains(r#"name="trigger.phrase""#));
    assert!(!html.contains("steps[0]"), "no step yet");
}

#[tokio::test]
async fn the_editors_buttons_add_move_and_remove_steps() {
    let system = start().await;
    let mut browser = system.signed_in().await;
    let before = count(&system).await;
    let csrf = browser.csrf().await;
    let base = vec![("csrf", csrf.clone()), ("name", "x".to_string()), ("trigger.type", "customer_message".into())];
    let reply = post(&mut browser, "/console/automations/new", &base, "add-step:steps").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.text().contains(r#"name="steps[0].action.type""#), "a step was added");

    let two = [
        base.clone(),
        vec![
            ("steps[0].after", "0s".into()),
            ("steps[0].action.type", "add_tag".into()),
            ("steps[0].action.tag", "primo".into()),
            ("steps[1].after", "1h".into()),
            ("steps[1].action.type", "add_tag".into()),
            ("steps[1].action.tag", "secondo".into()),
        ],
    ]
    .concat();
    let moved = post(&mut browser, "/console/automations/new", &two, "down:steps[0]").await.text();
    let first = moved.find(r#"value="secondo""#).expect("the second step is shown");
    let second = moved.find(r#"value="primo""#).expect("the first step is shown");
    assert!(first < second, "the first step moved below the second");

    let removed = post(&mut browser, "/console/automations/new", &two, "remove:steps[0]").await.text();
    assert!(!removed.contains(r#"value="primo""#) && removed.contains(r#"value="secondo""#));
    assert!(!removed.contains("steps[1]"), "one step is left, at steps[0]");
    assert_eq!(count(&system).await, before, "edits store nothing");
}

#[tokio::test]
async fn a_flow_steps_branches_are_added_from_its_buttons() {
    let system = start().await;
    let mut browser = system.signed_in().await;
    let csrf = browser.csrf().await;
    let pairs = vec![
        ("csrf", csrf),
        ("name", "x".to_string()),
        ("trigger.type", "customer_message".into()),
        ("steps[0].after", "0s".into()),
        ("steps[0].action.type", "wait_for_reply".into()),
    ];
    let html = post(&mut browser, "/console/automations/new", &pairs, "add-item:steps[0].action.branches").await.text();
    assert!(html.contains(r#"name="steps[0].action.branches[0].reply""#), "{html}");
    let html =
        post(&mut browser, "/console/automations/new", &pairs, "add-branches:steps[0].action.on_timeout").await.text();
    assert!(html.contains(r#"value="add-step:steps[0].action.on_timeout""#), "the no-reply path takes steps: {html}");
    assert!(html.contains(r#"<input type="hidden" name="steps[0].action.on_timeout" value="">"#));

    // The next edit sends the path's empty input back: the path, still without a step, stays.
    let with_path = [pairs.clone(), vec![("steps[0].action.on_timeout", String::new())]].concat();
    let html = post(&mut browser, "/console/automations/new", &with_path, "refresh").await.text();
    assert!(html.contains(r#"value="add-step:steps[0].action.on_timeout""#), "{html}");
    assert!(!html.contains(r#"value="add-branches:steps[0].action.on_timeout""#), "not offered again");
}

#[tokio::test]
async fn an_invalid_field_shows_its_error_next_to_it_and_nothing_is_stored() {
    let system = start().await;
    let mut browser = system.signed_in().await;
    let before = count(&system).await;
    let csrf = browser.csrf().await;
    let pairs = with(&seed_flow(&csrf), "steps[1].action.timeout", "domani");
    let reply = post(&mut browser, "/console/automations/new", &pairs, "save").await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(reply.is_html());
    let html = reply.text();
    let input = html.find(r#"id="f-steps-1--action-timeout""#).expect("the timeout input");
    let error = html.find(r#"id="f-steps-1--action-timeout-error""#).expect("its error, by its id");
    assert!(error > input && html[input..error].matches("<div class=\"field").count() == 0, "right after the input");
    assert!(html[input..].contains(r#"aria-invalid="true""#));
    assert!(html.contains(r#"value="domani""#), "what was typed is kept");
    assert_eq!(count(&system).await, before);
}

#[tokio::test]
async fn an_empty_name_and_a_step_without_text_are_each_shown_at_their_input() {
    let system = start().await;
    let mut browser = system.signed_in().await;
    let csrf = browser.csrf().await;
    let pairs = with(&with(&seed_flow(&csrf), "name", ""), "steps[1].action.branches[1].steps[0].action.text", "");
    let html = post(&mut browser, "/console/automations/new", &pairs, "save").await.text();
    assert!(html.contains(r#"id="f-name-error""#), "{html}");
    assert!(html.contains(r#"id="f-steps-1--action-branches-1--steps-0--action-text-error""#), "{html}");
}

#[tokio::test]
async fn saving_the_seeds_flow_stores_it_live_and_shows_it() {
    let system = start().await;
    let mut browser = system.signed_in().await;
    let csrf = browser.csrf().await;
    let reply = post(&mut browser, "/console/automations/new", &seed_flow(&csrf), "save").await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.text());
    let location = reply.location().to_string();
    let id = location.strip_prefix("../automations/").and_then(|l| l.strip_suffix("?saved=1")).expect(&location);
    let stored =
        system.store.automation(&workspace_id(), &AutomationId::parse(id).unwrap()).await.unwrap().expect("stored");
    assert!(stored.enabled);
    assert_eq!(stored.version, 1);
    let doc = serde_json::to_value(&*stored).unwrap();
    assert_eq!(doc["steps"][0]["action"]["buttons"][1], json!({ "id": "orari", "title": "Orari" }));
    assert_eq!(doc["steps"][1]["action"]["branches"][1]["reply"], json!(["Orari", "orari"]));
    assert_eq!(doc["steps"][1]["action"]["on_timeout"][0]["action"], json!({ "type": "add_tag", "tag": "silenzioso" }));
    assert!(doc["steps"][1]["action"].get("save_to").is_none(), "an empty optional input is left out");

    let page = browser.get(&format!("/console/automations/{id}?saved=1")).await.text();
    assert!(page.contains("flash--ok"), "the page says it was saved");
    assert!(page.contains(r#"value="Benvenuto dal console""#));
}

#[tokio::test]
async fn saving_through_htmx_sends_the_browser_to_the_automation() {
    let system = start().await;
    let mut browser = system.signed_in().await;
    let csrf = browser.csrf().await;
    browser.headers.push(("hx-request".into(), "true".into()));
    let reply = post(&mut browser, "/console/automations/new", &seed_flow(&csrf), "save").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.header("hx-redirect").contains("automations/"), "{:?}", reply.headers);
}

#[tokio::test]
async fn saving_an_automation_stores_its_next_version() {
    let system = start().await;
    let mut browser = system.signed_in().await;
    let page = browser.get("/console/automations/info-1.1").await;
    let html = page.text();
    let csrf = page.csrf();
    // The form as the page drew it: every input's name and value, in order.
    let mut pairs = inputs(&html);
    assert!(pairs.iter().any(|(k, _)| k == "steps[2].action.branches[2].steps[1].action.text"));
    for pair in &mut pairs {
        if pair.0 == "name" {
            pair.1 = "1.1 primo messaggio (nuovo)".into();
        }
    }
    let mut fields: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    fields.push(("edit", "save"));
    let reply = browser.post("/console/automations/info-1.1", &fields).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.text());
    let versions = system.store.versions(&workspace_id(), &AutomationId::parse("info-1.1").unwrap()).await.unwrap();
    assert_eq!(versions.len(), 2);
    let (old, new) = (serde_json::to_value(&*versions[0]).unwrap(), serde_json::to_value(&*versions[1]).unwrap());
    assert_eq!(new["name"], "1.1 primo messaggio (nuovo)");
    assert_eq!(without(&old, &["name", "version", "saved_at"]), without(&new, &["name", "version", "saved_at"]));
    assert_eq!(csrf.len(), browser.csrf().await.len());
}

#[tokio::test]
async fn the_json_tab_shows_the_document_and_saves_what_is_typed_there() {
    let system = start().await;
    let mut browser = system.signed_in().await;
    let before = count(&system).await;
    let csrf = browser.csrf().await;
    let html = post(&mut browser, "/console/automations/new", &seed_flow(&csrf), "tab:json").await.text();
    assert!(html.contains(r#"name="json""#) && html.contains("Ciao Avvio"), "{html}");
    let document = json!({ "name": "Da JSON", "trigger": { "type": "customer_message", "phrase": "json" },
                           "steps": [ { "after": "0s", "action": { "type": "add_tag", "tag": "json" } } ] });
    let pairs = vec![("csrf", csrf), ("tab", "json".into()), ("json", document.to_string())];
    let reply = post(&mut browser, "/console/automations/new", &pairs, "save").await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.text());
    assert_eq!(count(&system).await, before + 1);
}

#[tokio::test]
async fn json_that_cannot_be_read_is_kept_with_the_reason_and_nothing_is_stored() {
    let system = start().await;
    let mut browser = system.signed_in().await;
    let before = count(&system).await;
    let csrf = browser.csrf().await;
    let pairs = vec![("csrf", csrf), ("tab", "json".into()), ("json", r#"{"name": "rotto""#.into())];
    let reply = post(&mut browser, "/console/automations/new", &pairs, "save").await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    let html = reply.text();
    assert!(html.contains("cannot be read"), "{html}");
    assert!(html.contains("{&#34;name&#34;: &#34;rotto&#34;"), "the text is kept as typed");
    assert_eq!(count(&system).await, before);
}

#[tokio::test]
async fn an_edit_the_editor_does_not_know_is_a_400_page() {
    let system = start().await;
    let mut browser = system.signed_in().await;
    let before = count(&system).await;
    let csrf = browser.csrf().await;
    let reply = post(&mut browser, "/console/automations/new", &seed_flow(&csrf), "explode:steps[0]").await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(reply.is_html() && reply.text().contains("explode"));
    let pairs = vec![("csrf", csrf), ("steps[0].<script>", "x".to_string())];
    let reply = post(&mut browser, "/console/automations/new", &pairs, "refresh").await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(!reply.text().contains("<script>"), "the name is escaped");
    assert_eq!(count(&system).await, before);
}

#[tokio::test]
async fn a_form_over_the_editors_limit_is_refused_with_a_page() {
    let system = start().await;
    let mut browser = system.signed_in().await;
    let before = count(&system).await;
    let csrf = browser.csrf().await;
    let big = "x".repeat(1_100_000);
    let pairs = vec![("csrf", csrf), ("name", big)];
    let reply = post(&mut browser, "/console/automations/new", &pairs, "save").await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(reply.is_html());
    assert_eq!(count(&system).await, before);
}

#[tokio::test]
async fn the_italian_editor_speaks_italian() {
    let system = start().await;
    let mut browser = system.signed_in().await;
    browser.headers.push(("accept-language".into(), "it-IT,it;q=0.9".into()));
    let html = browser.get("/console/automations/new").await.text();
    assert!(html.contains("Quando?") || html.contains("Step di avvio"), "{html}");
}

/// Every named input of `html`'s editor form with its value, as a browser would send them.
fn inputs(html: &str) -> Vec<(String, String)> {
    let form = &html[html.find(r#"<form id="editor""#).unwrap()..];
    let form = &form[..form.find("</form>").unwrap()];
    let mut pairs = Vec::new();
    let mut rest = form;
    while let Some(start) = rest.find('<') {
        rest = &rest[start..];
        let end = rest.find('>').unwrap();
        let tag = &rest[..=end];
        let attr = |name: &str| {
            let needle = format!(" {name}=\"");
            tag.find(&needle).map(|i| unescape(tag[i + needle.len()..].split('"').next().unwrap()))
        };
        if tag.starts_with("<input") {
            let kind = attr("type").unwrap_or_default();
            if let Some(name) = attr("name")
                && (kind != "checkbox" || tag.contains(" checked"))
            {
                pairs.push((name, attr("value").unwrap_or_default()));
            }
        } else if tag.starts_with("<textarea") {
            let close = rest.find("</textarea>").unwrap();
            pairs.push((attr("name").unwrap(), unescape(&rest[end + 1..close])));
        } else if tag.starts_with("<select") {
            let close = rest.find("</select>").unwrap();
            let options = &rest[..close];
            let selected = options
                .find(" selected>")
                .map(|i| {
                    let start = options[..i].rfind("value=\"").unwrap() + 7;
                    unescape(options[start..].split('"').next().unwrap())
                })
                .unwrap_or_default();
            pairs.push((attr("name").unwrap(), selected));
        }
        rest = &rest[end + 1..];
    }
    pairs
}

fn unescape(text: &str) -> String {
    text.replace("&#34;", "\"").replace("&#39;", "'").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
}

fn without(doc: &Value, keys: &[&str]) -> Value {
    let mut doc = doc.clone();
    for key in keys {
        doc.as_object_mut().unwrap().remove(*key);
    }
    doc
}

#[tokio::test]
async fn trying_the_seeds_flow_shows_the_chat_with_the_second_branch_taken_and_stores_nothing() {
    let system = start().await;
    let mut browser = system.signed_in().await;
    let before = count(&system).await;
    let csrf = browser.csrf().await;
    let mut pairs = with(&seed_flow(&csrf), "enabled", "false");
    pairs.retain(|(k, v)| !(*k == "enabled" && v == "true"));
    pairs.push(("try_messages", "Ciao Avvio\nOrari".into()));
    let reply = post(&mut browser, "/console/automations/new", &pairs, "try").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let html = reply.text();
    let chat = &html[html.find(r#"id="try-result""#).expect("the result")..];
    let order = [
        r#"<li class="bubble bubble--in"><span class="visually-hidden">The contact writes: </span>Ciao Avvio"#,
        "Come possiamo aiutarti?",
        "<span>Prezzi</span><span>Orari</span>",
        "Waits for a reply until +1d",
        "Orari<span class=\"bubble__meta\">+1m",
        "The contact answers “Orari” → goes on with Reply “Orari”",
        "9:00–18:00",
    ];
    let mut at = 0;
    for expected in order {
        let found = chat[at..].find(expected).unwrap_or_else(|| panic!("`{expected}` after byte {at} of {chat}"));
        at += found + expected.len();
    }
    assert!(!chat.contains("Da 19 €"), "the first branch is not taken");
    assert!(html.contains(">Ciao Avvio\nOrari</textarea>"), "the messages are kept as typed");
    assert_eq!(count(&system).await, before, "a try stores no automation");
    let runs = system.store.runs(&workspace_id(), &Default::default()).await.unwrap();
    assert!(runs.is_empty(), "nor any run: {runs:?}");
}

#[tokio::test]
async fn trying_an_automation_with_errors_shows_them_first() {
    let system = start().await;
    let mut browser = system.signed_in().await;
    let csrf = browser.csrf().await;
    let mut pairs = with(&seed_flow(&csrf), "steps[1].action.timeout", "presto");
    pairs.push(("try_messages", "Ciao Avvio".into()));
    let reply = post(&mut browser, "/console/automations/new", &pairs, "try").await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    let html = reply.text();
    assert!(html.contains(r#"id="f-steps-1--action-timeout-error""#));
    assert!(html.contains("Fix the fields marked in the editor to try the automation."));
    assert!(!html.contains("bubble--out"));
}

#[tokio::test]
async fn a_try_with_nothing_written_or_a_broken_event_line_says_why() {
    let system = start().await;
    let mut browser = system.signed_in().await;
    let csrf = browser.csrf().await;
    let html = post(&mut browser, "/console/automations/new", &seed_flow(&csrf), "try").await.text();
    assert!(html.contains("Write a message (or paste events) to try the automation."), "{html}");
    let mut pairs = seed_flow(&csrf);
    pairs.push(("try_events", "{\"at\": \"2026-12-04T10:00:00Z\"}\n{oops".into()));
    let html = post(&mut browser, "/console/automations/new", &pairs, "try").await.text();
    assert!(html.contains("This line is not JSON: line 2"), "{html}");
}

#[tokio::test]
async fn a_stored_automation_is_tried_as_it_is_on_screen_not_as_stored() {
    let system = start().await;
    let mut browser = system.signed_in().await;
    let page = browser.get("/console/automations/info-1.1").await;
    let mut pairs = inputs(&page.text());
    for pair in &mut pairs {
        if pair.0 == "steps[2].action.branches[1].steps[0].action.text" {
            pair.1 = "Aperti anche il sabato".into();
        }
    }
    pairs.push(("try_messages".into(), "Vorrei informazioni\nOrari".into()));
    pairs.push(("edit".into(), "try".into()));
    let fields: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let html = browser.post("/console/automations/info-1.1", &fields).await.text();
    assert!(html.contains("Aperti anche il sabato"), "{html}");
    assert!(html.contains("Template “welcome” (it)"), "a template send is named");
    let stored = system.store.versions(&workspace_id(), &AutomationId::parse("info-1.1").unwrap()).await.unwrap();
    assert_eq!(stored.len(), 1, "trying saves nothing");
}

/// A flow of the rich messages, as the editor names their inputs.
fn rich_flow(csrf: &str) -> Vec<(&'static str, String)> {
    let pairs = [
        ("csrf", csrf),
        ("tab", "flow"),
        ("name", "Menu ricco"),
        ("enabled", "true"),
        ("trigger.type", "customer_message"),
        ("trigger.phrase", "Menu ricco"),
        ("steps[0].after", "0s"),
        ("steps[0].action.type", "send_list"),
        ("steps[0].action.text", "Dove ritiri?"),
        ("steps[0].action.button", "Scegli la sede"),
        ("steps[0].action.sections", r#"[{"rows": [{"id": "mi", "title": "Milano"}, {"id": "rm", "title": "Roma"}]}]"#),
        ("steps[1].after", "0s"),
        ("steps[1].action.type", "send_media"),
        ("steps[1].action.media", "document"),
        ("steps[1].action.link", "https://shop.example.com/listino.pdf"),
        ("steps[1].action.caption", "Il listino"),
        ("steps[1].action.filename", "listino.pdf"),
        ("steps[2].after", "0s"),
        ("steps[2].action.type", "send_cta_url"),
        ("steps[2].action.text", "Il negozio online"),
        ("steps[2].action.display_text", "Apri"),
        ("steps[2].action.url", "https://shop.example.com"),
        ("steps[3].after", "0s"),
        ("steps[3].action.type", "send_template"),
        ("steps[3].action.template", "promo_natale"),
        ("steps[3].action.language", "it"),
        ("steps[3].action.params", "first_name={{name}}\nsconto = 20%"),
        ("steps[3].action.header.type", "image"),
        ("steps[3].action.header.link", "https://shop.example.com/natale.jpg"),
        ("steps[3].action.buttons[0].type", "url"),
        ("steps[3].action.buttons[0].index", "0"),
        ("steps[3].action.buttons[0].text", "natale"),
    ];
    pairs.iter().map(|(k, v)| (*k, v.to_string())).collect()
}

async fn with_rich_template(system: &crate::support::System) {
    let promo = json!({ "status": "approved", "category": "utility", "parameter_format": "named",
        "body": "Ciao {{first_name}}, per te il {{sconto}} di sconto!", "header": { "format": "image" },
        "buttons": [ { "type": "url", "text": "Scopri", "url": "https://shop.example.com/{{1}}" } ] });
    avvio_common::manage::put_template(&system.store, &workspace_id(), "promo_natale", "it", promo).await.unwrap();
}

#[tokio::test]
async fn the_rich_messages_are_built_saved_and_tried_from_the_form() {
    let system = start().await;
    with_rich_template(&system).await;
    let mut browser = system.signed_in().await;
    let csrf = browser.csrf().await;
    let mut pairs = rich_flow(&csrf);
    pairs.push(("try_messages", "Menu ricco".into()));
    let reply = post(&mut browser, "/console/automations/new", &pairs, "try").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let html = reply.text();
    let chat = &html[html.find(r#"id="try-result""#).expect("the result")..];
    let mut at = 0;
    for expected in [
        "Dove ritiri?",
        "☰ Scegli la sede",
        "[document] Il listino",
        "Il negozio online",
        "Apri ↗ https://shop.example.com",
        "[image] Template “promo_natale” (it)",
    ] {
        let found = chat[at..].find(expected).unwrap_or_else(|| panic!("`{expected}` after byte {at} of {chat}"));
        at += found;
    }
    assert!(
        html.contains("first_name={{name}}\nsconto = 20%") || html.contains("first_name={{name}}"),
        "kept as typed"
    );

    let reply = post(&mut browser, "/console/automations/new", &rich_flow(&csrf), "save").await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.text());
    let location = reply.location().to_string();
    let id = location.strip_prefix("../automations/").and_then(|l| l.strip_suffix("?saved=1")).expect(&location);
    let stored =
        system.store.automation(&workspace_id(), &AutomationId::parse(id).unwrap()).await.unwrap().expect("stored");
    let doc = serde_json::to_value(&*stored).unwrap();
    assert_eq!(doc["steps"][3]["action"]["params"], json!({ "first_name": "{{name}}", "sconto": "20%" }));
    assert_eq!(doc["steps"][1]["action"]["filename"], "listino.pdf");
    let page = browser.get(&format!("/console/automations/{id}")).await.text();
    assert!(page.contains("first_name={{name}}\nsconto=20%"), "named params read back one per line");
}

#[tokio::test]
async fn a_rich_message_s_error_lands_at_its_input() {
    let system = start().await;
    with_rich_template(&system).await;
    let mut browser = system.signed_in().await;
    let csrf = browser.csrf().await;
    let cases = [
        (
            "steps[0].action.sections",
            r#"[{"rows": [{"id": "mi", "title": "Milano"}, {"id": "mi", "title": "Roma"}]}]"#,
            "f-steps-0--action-sections-error",
        ),
        ("steps[1].action.link", "http://shop.example.com/listino.pdf", "f-steps-1--action-link-error"),
        ("steps[2].action.display_text", "Apri il negozio online", "f-steps-2--action-display-text-error"),
        ("steps[3].action.params", "first_name={{name}}\nnome=Mario", "f-steps-3--action-params-error"),
        ("steps[3].action.header.type", "video", "f-steps-3--action-header-type-error"),
        ("steps[3].action.header.link", "http://shop.example.com/natale.jpg", "f-steps-3--action-header-link-error"),
        ("steps[3].action.buttons[0].text", "", "f-steps-3--action-buttons-0--text-error"),
    ];
    for (name, value, error) in cases {
        let pairs = with(&rich_flow(&csrf), name, value);
        let reply = post(&mut browser, "/console/automations/new", &pairs, "save").await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{name}");
        let html = reply.text();
        assert!(html.contains(&format!(r#"id="{error}""#)), "{name}: {html}");
    }
}

/// The document the JSON tab shows after posting `pairs`.
async fn json_tab_of(browser: &mut Browser<'_>, pairs: &[(&str, String)]) -> Value {
    let reply = post(browser, "/console/automations/new", pairs, "tab:json").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let html = reply.text();
    let start = html.find(r#"id="f-json""#).expect("the JSON tab");
    let text = &html[start..];
    let text = &text[text.find('>').unwrap() + 1..text.find("</textarea>").unwrap()];
    serde_json::from_str(&unescape(text)).expect("the JSON tab shows JSON")
}

/// The flow tab's inputs (named, as a browser sends them) drawn from `doc`.
async fn form_of(browser: &mut Browser<'_>, csrf: &str, doc: &Value) -> (String, Vec<(String, String)>) {
    let json = serde_json::to_string_pretty(doc).unwrap();
    let fields = [("csrf", csrf), ("tab", "json"), ("json", json.as_str()), ("edit", "tab:flow")];
    let reply = browser.post("/console/automations/new", &fields).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let html = reply.text();
    let pairs = inputs(&html);
    (html, pairs)
}

/// Posts the form again as drawn: the document it reads back.
async fn reread(browser: &mut Browser<'_>, pairs: &[(String, String)]) -> Value {
    let pairs: Vec<(&str, String)> = pairs.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    json_tab_of(browser, &pairs).await
}

fn template_send(pairs: &[(&'static str, String)]) -> Vec<(&'static str, String)> {
    pairs.iter().filter(|(k, _)| !k.starts_with("steps[3].action.header")).cloned().collect()
}

#[tokio::test]
async fn a_header_of_each_kind_round_trips_through_the_form() {
    let system = start().await;
    with_rich_template(&system).await;
    let mut browser = system.signed_in().await;
    let csrf = browser.csrf().await;
    let cases: [(&[(&'static str, &str)], Value); 6] = [
        (
            &[("type", "image"), ("link", "https://x.example/a.jpg")],
            json!({ "type": "image", "link": "https://x.example/a.jpg" }),
        ),
        (
            &[("type", "video"), ("link", "https://x.example/a.mp4")],
            json!({ "type": "video", "link": "https://x.example/a.mp4" }),
        ),
        (
            &[("type", "document"), ("link", "https://x.example/l.pdf"), ("filename", "listino.pdf")],
            json!({ "type": "document", "link": "https://x.example/l.pdf", "filename": "listino.pdf" }),
        ),
        (
            &[("type", "document"), ("link", "https://x.example/l.pdf"), ("filename", "")],
            json!({ "type": "document", "link": "https://x.example/l.pdf" }),
        ),
        (&[("type", "text"), ("text", "Ciao {{name}}")], json!({ "type": "text", "text": "Ciao {{name}}" })),
        (
            &[
                ("type", "location"),
                ("latitude", "45,4642"),
                ("longitude", "9.19"),
                ("name", "Negozio"),
                ("address", ""),
            ],
            json!({ "type": "location", "latitude": 45.4642, "longitude": 9.19, "name": "Negozio" }),
        ),
    ];
    for (inputs, expected) in cases {
        let mut pairs = template_send(&rich_flow(&csrf));
        for (key, value) in inputs {
            let name: &'static str = format!("steps[3].action.header.{key}").leak();
            pairs.push((name, value.to_string()));
        }
        let doc = json_tab_of(&mut browser, &pairs).await;
        assert_eq!(doc["steps"][3]["action"]["header"], expected, "{inputs:?}");
        let (html, drawn) = form_of(&mut browser, &csrf, &doc).await;
        assert!(html.contains(r#"name="steps[3].action.header.type""#), "drawn as inputs: {html}");
        assert!(!html.contains(r#"name="steps[3].action.header""#), "not as JSON");
        assert_eq!(reread(&mut browser, &drawn).await, doc, "{inputs:?} reads back the same");
    }
}

#[tokio::test]
async fn choosing_no_header_removes_it_and_another_type_keeps_only_its_inputs() {
    let system = start().await;
    with_rich_template(&system).await;
    let mut browser = system.signed_in().await;
    let csrf = browser.csrf().await;
    // The select changed: the old type's inputs are still posted once.
    let pairs = with(&rich_flow(&csrf), "steps[3].action.header.type", "");
    let doc = json_tab_of(&mut browser, &pairs).await;
    assert!(doc["steps"][3]["action"].get("header").is_none(), "{doc}");
    assert_eq!(doc["steps"][3]["action"]["template"], "promo_natale", "the rest stays");
    let pairs = with(&rich_flow(&csrf), "steps[3].action.header.type", "location");
    let doc = json_tab_of(&mut browser, &pairs).await;
    assert_eq!(doc["steps"][3]["action"]["header"], json!({ "type": "location" }), "the link is gone");
    let (html, _) = form_of(&mut browser, &csrf, &doc).await;
    for input in ["latitude", "longitude", "name", "address"] {
        assert!(html.contains(&format!(r#"name="steps[3].action.header.{input}""#)), "{input}");
    }
    assert!(!html.contains(r#"name="steps[3].action.header.link""#));
    assert!(html.contains(r#"<option value="location" selected>"#));
    assert!(
        html.contains(r#"data-refresh="true""#)
            && html.contains("The template “promo_natale” has a header: choose “Image”.")
    );
}

#[tokio::test]
async fn an_invalid_header_input_shows_its_error_at_that_input() {
    let system = start().await;
    with_rich_template(&system).await;
    let mut browser = system.signed_in().await;
    let csrf = browser.csrf().await;
    let pairs = with(&rich_flow(&csrf), "steps[3].action.header.link", "shop.example.com/natale.jpg");
    let reply = post(&mut browser, "/console/automations/new", &pairs, "save").await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    let html = reply.text();
    let input = &html[html.find(r#"id="f-steps-3--action-header-link""#).expect("the link input")..];
    let input = &input[..input.find('>').unwrap()];
    assert!(
        input.contains(r#"aria-invalid="true""#) && input.contains("f-steps-3--action-header-link-error"),
        "{input}"
    );
    assert!(html.contains(r#"value="shop.example.com/natale.jpg""#), "kept as typed");

    let mut pairs = template_send(&rich_flow(&csrf));
    pairs.extend([
        ("steps[3].action.header.type", "location".to_string()),
        ("steps[3].action.header.latitude", "a nord".to_string()),
        ("steps[3].action.header.longitude", "9.19".to_string()),
    ]);
    let reply = post(&mut browser, "/console/automations/new", &pairs, "save").await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    let html = reply.text();
    assert!(html.contains(r#"id="f-steps-3--action-header-latitude-error""#), "{html}");
    assert!(html.contains(r#"value="a nord""#), "what is not a number is kept as typed");
}

/// A template with a button of each kind: a quick reply, a url ending in {{1}}, a coupon code
/// and a phone number (which takes no parameter).
async fn with_buttons_template(system: &crate::support::System) {
    let offerta = json!({ "status": "approved", "category": "marketing", "body": "Ciao {{1}}",
        "buttons": [ { "type": "quick_reply", "text": "Non mi interessa" },
                     { "type": "url", "text": "Scopri", "url": "https://shop.example.com/{{1}}" },
                     { "type": "copy_code", "text": "Copia il codice" },
                     { "type": "phone_number", "text": "Chiamaci", "phone_number": "+390212345678" } ] });
    avvio_common::manage::put_template(&system.store, &workspace_id(), "offerta", "it", offerta).await.unwrap();
}

fn offerta_flow(csrf: &str) -> Vec<(&'static str, String)> {
    let pairs = [
        ("csrf", csrf),
        ("tab", "flow"),
        ("name", "Offerta"),
        ("enabled", "true"),
        ("trigger.type", "customer_message"),
        ("trigger.phrase", "Offerta"),
        ("steps[0].after", "0s"),
        ("steps[0].action.type", "send_template"),
        ("steps[0].action.template", "offerta"),
        ("steps[0].action.language", "it"),
        ("steps[0].action.params", "{{name}}"),
    ];
    pairs.iter().map(|(k, v)| (*k, v.to_string())).collect()
}

#[tokio::test]
async fn a_template_s_buttons_get_an_input_each_and_make_its_buttons_entries() {
    let system = start().await;
    with_buttons_template(&system).await;
    let mut browser = system.signed_in().await;
    let csrf = browser.csrf().await;
    let html = post(&mut browser, "/console/automations/new", &offerta_flow(&csrf), "refresh").await.text();
    for label in
        ["Payload for “Non mi interessa” (optional)", "Link ending for “Scopri”", "Coupon code for “Copia il codice”"]
    {
        assert!(html.contains(label), "{label}: {html}");
    }
    assert!(html.contains("https://shop.example.com/{{1}}"), "the link it completes");
    assert!(!html.contains("Chiamaci"), "a phone number button takes nothing");
    let mut pairs = inputs(&html);
    for (name, value) in &mut pairs {
        match name.as_str() {
            "steps[0].action.buttons[1].text" => *value = "natale".into(),
            "steps[0].action.buttons[2].code" => *value = "NATALE20".into(),
            _ => {}
        }
    }
    let doc = reread(&mut browser, &pairs).await;
    assert_eq!(
        doc["steps"][0]["action"]["buttons"],
        json!([ { "type": "url", "index": 1, "text": "natale" }, { "type": "copy_code", "index": 2, "code": "NATALE20" } ]),
        "the empty payload is left out"
    );
    let pairs: Vec<(&str, String)> = pairs.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    let reply = post(&mut browser, "/console/automations/new", &pairs, "save").await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.text());

    let (html, drawn) = form_of(&mut browser, &csrf, &doc).await;
    assert!(html.contains(r#"name="steps[0].action.buttons[0].text" value="natale""#), "{html}");
    assert!(html.contains(r#"name="steps[0].action.buttons[2].payload" value="""#), "the payload is offered again");
    assert_eq!(reread(&mut browser, &drawn).await, doc);

    let mut pairs = offerta_flow(&csrf);
    pairs.extend([
        ("steps[0].action.buttons[0].type", "url".into()),
        ("steps[0].action.buttons[0].index", "1".into()),
        ("steps[0].action.buttons[0].text", "".into()),
    ]);
    let reply = post(&mut browser, "/console/automations/new", &pairs, "save").await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    let html = reply.text();
    for (input, error) in [("buttons-1--text", true), ("buttons-2--code", true), ("buttons-0--payload", false)] {
        let id = format!(r#"id="f-steps-0--action-{input}-error""#);
        assert_eq!(html.contains(&id), error, "{input} is required: {error}");
    }
    assert!(html.contains("Required: the template"), "said in words");
}

#[tokio::test]
async fn a_header_or_buttons_the_inputs_cannot_show_keep_reading_as_json() {
    let system = start().await;
    with_buttons_template(&system).await;
    let mut browser = system.signed_in().await;
    let csrf = browser.csrf().await;
    let mut doc = json!({ "name": "Strano", "enabled": true, "trigger": { "type": "customer_message", "phrase": "Strano" },
        "steps": [ { "after": "0s", "action": { "type": "send_template", "template": "offerta", "language": "it",
            "params": ["x"] } } ] });
    let odd_headers = [
        json!({ "type": "sticker", "link": "https://x.example/a.webp" }),
        json!({ "type": "image", "link": "https://x.example/a.jpg", "caption": "no" }),
        json!({ "type": "location", "latitude": true, "longitude": 9 }),
        json!("https://x.example/a.jpg"),
    ];
    let odd_buttons = [
        json!({ "index": 1, "type": "url", "text": "a" }),
        json!([ { "index": 1, "type": "url", "text": "a", "extra": 1 } ]),
        json!([ { "index": 300, "type": "url", "text": "a" } ]),
        json!([ { "index": 0, "type": "quick_reply" } ]),
    ];
    for (header, buttons) in odd_headers.into_iter().zip(odd_buttons) {
        doc["steps"][0]["action"]["header"] = header.clone();
        doc["steps"][0]["action"]["buttons"] = buttons.clone();
        let (html, drawn) = form_of(&mut browser, &csrf, &doc).await;
        assert!(
            html.contains(r#"<textarea id="f-steps-0--action-header" name="steps[0].action.header""#),
            "{header}: {html}"
        );
        assert!(html.contains(r#"name="steps[0].action.buttons""#), "{buttons}");
        assert_eq!(reread(&mut browser, &drawn).await, doc, "{header} {buttons} read back the same");
    }
    // A button the template does not have is drawn with a way to remove it.
    doc["steps"][0]["action"]["header"] = json!({ "type": "text", "text": "Ciao" });
    doc["steps"][0]["action"]["buttons"] = json!([ { "type": "url", "index": 3, "text": "a" } ]);
    let (html, drawn) = form_of(&mut browser, &csrf, &doc).await;
    assert!(
        html.contains("Button 4: link ending") && html.contains(r#"value="remove:steps[0].action.buttons[0]""#),
        "{html}"
    );
    assert_eq!(
        reread(&mut browser, &drawn).await["steps"][0]["action"]["buttons"][0],
        doc["steps"][0]["action"]["buttons"][0]
    );
}
