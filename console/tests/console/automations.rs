use crate::support::{start, start_empty, workspace_id};
use avvio_common::ports::Management;
use axum::http::StatusCode;

/// `text` as askama escapes it in HTML.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&#34;").replace('\'', "&#39;")
}

async fn stored(system: &crate::support::System, id: &str) -> (bool, u32) {
    let automations = system.store.automations(&workspace_id()).await.unwrap();
    let automation = automations.iter().find(|a| a.id().as_str() == id).unwrap();
    (automation.enabled, automation.version)
}

#[tokio::test]
async fn the_list_shows_the_example_automations() {
    let system = start().await;
    let mut browser = system.signed_in().await;
    let reply = browser.get("/console/automations").await;
    assert_eq!(reply.status, StatusCode::OK);
    let page = reply.text();
    for automation in system.store.automations(&workspace_id()).await.unwrap() {
        assert!(page.contains(&escape(&automation.name)), "{} in the list", automation.name);
        assert!(page.contains(&format!(r#"href="automations/{}""#, automation.id())), "a link to {}", automation.id());
    }
    assert!(page.contains("1.1 primo messaggio"));
    assert!(page.contains("A customer writes “vorrei informazioni”"), "the trigger in words");
    assert!(page.contains(r#"role="switch" aria-checked="true""#));
    assert!(page.contains(r#"href="automations/new""#), "the New automation button");
    assert!(page.contains(r#"aria-current="page">Automations"#));
}

#[tokio::test]
async fn the_list_shows_a_dash_until_run_counters_are_known() {
    let system = start().await;
    let page = system.signed_in().await.get("/console/automations").await.text();
    assert!(page.contains(r#"data-label="Runs (7 days)" class="num">—</td>"#), "{page}");
    assert!(page.contains(r#"data-label="Last run">—</td>"#));
}

#[tokio::test]
async fn an_empty_workspace_shows_the_empty_state() {
    let system = start_empty().await;
    let page = system.signed_in().await.get("/console/automations").await.text();
    assert!(page.contains("No automations yet"));
    assert!(!page.contains("<table"));
    assert!(page.contains(r#"href="automations/new""#));
}

#[tokio::test]
async fn the_switch_turns_an_automation_off_and_stores_a_new_version() {
    let system = start().await;
    let mut browser = system.signed_in().await;
    let (enabled, version) = stored(&system, "info-1.1").await;
    assert!(enabled);
    let csrf = browser.csrf().await;
    let reply = browser.post("/console/automations/info-1.1/enabled", &[("csrf", &csrf), ("enabled", "off")]).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.text());
    assert_eq!(reply.location(), "../../automations");
    assert_eq!(stored(&system, "info-1.1").await, (false, version + 1));
    let page = browser.get("/console/automations").await.text();
    assert!(page.contains(r#"aria-checked="false""#));
}

#[tokio::test]
async fn the_switch_answers_htmx_with_the_row_it_swaps() {
    let system = start().await;
    let mut browser = system.signed_in().await;
    let csrf = browser.csrf().await;
    let (_, version) = stored(&system, "compleanno").await;
    browser.headers = vec![
        ("hx-request".into(), "true".into()),
        ("x-console-root".into(), "".into()),
        ("hx-current-url".into(), "http://localhost:3000/console/automations".into()),
    ];
    let reply = browser
        .post_body("/console/automations/compleanno/enabled", "enabled=off".into(), &[("x-csrf-token", &csrf)])
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let row = reply.text();
    assert!(row.trim_start().starts_with("<tr id=\"row-compleanno\""), "{row}");
    assert!(!row.contains("<html"));
    assert!(row.contains(r#"aria-checked="false""#) && row.contains(r#"value="on""#));
    assert!(row.contains(r#"href="automations/compleanno""#), "links relative to the list page: {row}");
    assert!(row.contains(&format!(r#"class="num">{}</td>"#, version + 1)), "{row}");
    assert_eq!(stored(&system, "compleanno").await, (false, version + 1));

    let again = browser
        .post_body("/console/automations/compleanno/enabled", "enabled=on".into(), &[("x-csrf-token", &csrf)])
        .await;
    assert!(again.text().contains(r#"aria-checked="true""#));
    assert_eq!(stored(&system, "compleanno").await, (true, version + 2));
}

#[tokio::test]
async fn asking_for_the_state_it_already_has_stores_nothing() {
    let system = start().await;
    let mut browser = system.signed_in().await;
    let csrf = browser.csrf().await;
    let before = stored(&system, "info-1.1").await;
    browser.post("/console/automations/info-1.1/enabled", &[("csrf", &csrf), ("enabled", "on")]).await;
    assert_eq!(stored(&system, "info-1.1").await, before);
}

#[tokio::test]
async fn a_switch_with_a_wrong_value_is_a_400_page_and_changes_nothing() {
    let system = start().await;
    let mut browser = system.signed_in().await;
    let csrf = browser.csrf().await;
    let before = stored(&system, "info-1.1").await;
    let reply = browser.post("/console/automations/info-1.1/enabled", &[("csrf", &csrf), ("enabled", "maybe")]).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(reply.is_html() && reply.text().contains("maybe"));
    let reply = browser.post("/console/automations/info-1.1/enabled", &[("csrf", &csrf)]).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(stored(&system, "info-1.1").await, before);
}

#[tokio::test]
async fn an_automation_page_is_its_editor_filled_with_its_document() {
    let system = start().await;
    let mut browser = system.signed_in().await;
    let reply = browser.get("/console/automations/info-1.1").await;
    assert_eq!(reply.status, StatusCode::OK);
    let page = reply.text();
    assert!(page.contains("<h1>1.1 primo messaggio</h1>"));
    assert!(page.contains(r#"name="trigger.phrase" value="vorrei informazioni""#), "the phrase at its input: {page}");
    assert!(page.contains(r#"name="steps[2].action.branches[0].reply""#), "branches drawn nested");
    assert!(page.contains(r#"href="../automations""#), "links go back up from one level down");
    assert!(page.contains(r#"href="../assets/app."#));
}

#[tokio::test]
async fn an_unknown_automation_is_an_html_404() {
    let system = start().await;
    let reply = system.signed_in().await.get("/console/automations/nessuna").await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert!(reply.is_html());
    assert!(reply.text().contains("Page not found") && reply.text().contains("nessuna"));
}

#[tokio::test]
async fn the_list_finds_automations_by_name_id_or_phrase() {
    let system = start().await;
    let mut browser = system.signed_in().await;
    for q in ["PRIMO", "info-1.1", "vorrei%20informazioni"] {
        let page = browser.get(&format!("/console/automations?q={q}")).await.text();
        assert!(page.contains("1.1 primo messaggio"), "{q}: {page}");
        assert!(!page.contains(r#"href="automations/compleanno""#), "{q}: only what matches");
    }
    let reply = browser.get("/console/automations?q=nessuna").await;
    assert_eq!(reply.status, StatusCode::OK);
    let page = reply.text();
    assert!(page.contains("No automation matches") && !page.contains("<table"), "{page}");
    assert!(page.contains(r#"value="nessuna""#), "the search stays in its input");
    assert!(page.contains(r#"href="automations">Clear"#), "a way back to every automation");
}

#[tokio::test]
async fn a_long_list_shows_its_first_rows_by_name_and_says_so() {
    let system = start_empty().await;
    let total = 205;
    for i in 0..total {
        let document = serde_json::json!({
            "id": format!("a-{i:03}"), "name": format!("Offerta {i:03}"),
            "trigger": { "type": "customer_message", "phrase": format!("offerta {i:03}") },
            "steps": [ { "after": "0s", "action": { "type": "add_tag", "tag": "lead" } } ]
        });
        avvio_common::manage::create_automation(&system.store, &workspace_id(), document, chrono::Utc::now())
            .await
            .unwrap();
    }
    let page = system.signed_in().await.get("/console/automations").await.text();
    assert!(page.contains(&format!("Showing the first 200 of {total} automations.")), "{page}");
    assert!(page.contains(r#"href="automations/a-199""#) && !page.contains(r#"href="automations/a-200""#));
}
