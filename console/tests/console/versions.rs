//! An automation's version history: the list, a version's diff against another, and restoring
//! an old version as a new one.

use crate::support::{System, start, workspace_id};
use avvio_common::manage;
use axum::http::StatusCode;
use serde_json::{Value, json};

const ID: &str = "info-1.1";
const OLD_TEXT: &str = "{{name|Ciao}}, come possiamo aiutarti?";
const NEW_TEXT: &str = "{{name|Ciao}}, in cosa possiamo esserti utili?";

/// Version `n`'s document without what the store sets.
async fn document(system: &System, n: u32) -> Value {
    let version = manage::version(&system.store, &workspace_id(), ID, &n.to_string()).await.unwrap();
    let mut doc = serde_json::to_value(&*version).unwrap();
    let object = doc.as_object_mut().unwrap();
    object.remove("version");
    object.remove("saved_at");
    doc
}

/// Saves version 2 of the welcome automation: the buttons' question reworded.
async fn save_a_change(system: &System) {
    let mut doc = document(system, 1).await;
    assert_eq!(doc["steps"][1]["action"]["text"], json!(OLD_TEXT));
    doc["steps"][1]["action"]["text"] = json!(NEW_TEXT);
    let saved = manage::update_automation(&system.store, &workspace_id(), ID, doc, chrono::Utc::now()).await.unwrap();
    assert_eq!(saved.version, 2);
}

async fn versions_stored(system: &System) -> usize {
    manage::versions(&system.store, &workspace_id(), ID).await.unwrap().len()
}

/// The texts of the diff's lines marked `modifier` (`added`, `removed`, `same`), unescaped.
fn diff_lines(html: &str, modifier: &str) -> Vec<String> {
    let marker = format!(r#"class="diff__line diff__line--{modifier}""#);
    html.split(&marker)
        .skip(1)
        .map(|rest| {
            let start = rest.find(r#"<code class="diff__text">"#).unwrap() + r#"<code class="diff__text">"#.len();
            let text = &rest[start..start + rest[start..].find("</code>").unwrap()];
            text.replace("&#34;", "\"")
                .replace("&quot;", "\"")
                .replace("&#39;", "'")
                .replace("&amp;", "&")
                .replace("&lt;", "<")
                .replace("&gt;", ">")
        })
        .collect()
}

#[tokio::test]
async fn the_history_lists_every_version_newest_first_and_marks_the_current_one() {
    let system = start().await;
    save_a_change(&system).await;
    let mut browser = system.signed_in().await;
    let page = browser.get("/console/automations/info-1.1/versions").await;
    assert_eq!(page.status, StatusCode::OK);
    let html = page.text();
    let (two, one) = (html.find(">Version 2</a>").unwrap(), html.find(">Version 1</a>").unwrap());
    assert!(two < one, "newest first");
    assert!(html.contains(r#"href="../../automations/info-1.1/versions/2""#), "{html}");
    assert!(html.contains(r#"href="../../automations/info-1.1/versions/1""#));
    assert_eq!(html.matches(r#"class="badge badge--active">Current<"#).count(), 1);
    assert!(html[two..one].contains("Current"), "version 2 is the current one");
    assert!(html.contains("1 line added, 1 removed"), "version 2's changes");
    assert!(html.contains("First version"));
    // Version 2 has its time of saving; version 1, loaded from a file, has none.
    assert!(html[two..one].contains("<time datetime="));
    assert!(html[one..].contains("—"));
}

#[tokio::test]
async fn the_editor_links_to_the_history_with_its_count_of_versions() {
    let system = start().await;
    save_a_change(&system).await;
    let mut browser = system.signed_in().await;
    let html = browser.get("/console/automations/info-1.1").await.text();
    assert!(html.contains(r#"href="../automations/info-1.1/versions">History · 2 versions</a>"#), "{html}");
}

#[tokio::test]
async fn a_versions_diff_shows_the_changed_line_removed_and_added_and_folds_the_rest() {
    let system = start().await;
    save_a_change(&system).await;
    let mut browser = system.signed_in().await;
    let page = browser.get("/console/automations/info-1.1/versions/2").await;
    assert_eq!(page.status, StatusCode::OK);
    let html = page.text();
    assert!(html.contains("Changes from version 1 to version 2"), "{html}");
    assert_eq!(diff_lines(&html, "removed"), [format!(r#"        "text": "{OLD_TEXT}","#)]);
    assert_eq!(diff_lines(&html, "added"), [format!(r#"        "text": "{NEW_TEXT}","#)]);
    // Not by colour alone: a sign, and a word for screen readers.
    assert!(html.contains(
        r#"<span class="diff__sign" aria-hidden="true">−</span><span class="visually-hidden">removed: </span>"#
    ));
    assert!(html.contains(
        r#"<span class="diff__sign" aria-hidden="true">+</span><span class="visually-hidden">added: </span>"#
    ));
    // A few lines of context around the change; the lines far from it are folded.
    let context = diff_lines(&html, "same");
    assert!((2..=6).contains(&context.len()), "{context:?}");
    assert!(!html.contains("Ti mettiamo in contatto con Anna"), "an unchanged line far from the change is folded");
    assert!(!html.contains("1.1 primo messaggio&#34;"), "the name line is folded");
    assert!(html.contains("unchanged lines"));
    // The current version: nothing to restore.
    assert!(!html.contains("/restore") && html.contains("This is the current version."));
}

#[tokio::test]
async fn version_one_is_compared_with_nothing_and_offers_its_restore() {
    let system = start().await;
    save_a_change(&system).await;
    let mut browser = system.signed_in().await;
    let html = browser.get("/console/automations/info-1.1/versions/1").await.text();
    assert!(html.contains("The whole document of version 1"), "{html}");
    assert!(diff_lines(&html, "removed").is_empty() && diff_lines(&html, "same").is_empty());
    let added = diff_lines(&html, "added");
    assert_eq!(added.first().map(String::as_str), Some("{"));
    assert!(added.iter().any(|line| line.contains(OLD_TEXT)));
    assert!(!added.iter().any(|line| line.contains("\"version\"") || line.contains("saved_at")));
    assert!(html.contains(r#"<option value="none" selected>"#));
    assert!(html.contains(r#"action="../../../automations/info-1.1/versions/1/restore""#));
    assert!(html.contains("Saves this document as version 3"));
}

#[tokio::test]
async fn against_chooses_the_version_to_compare_with_and_a_bad_one_is_a_400_page() {
    let system = start().await;
    save_a_change(&system).await;
    let mut browser = system.signed_in().await;
    let html = browser.get("/console/automations/info-1.1/versions/1?against=2").await.text();
    assert!(html.contains("Changes from version 2 to version 1"), "{html}");
    assert!(html.contains(r#"<option value="2" selected>"#));
    assert_eq!(diff_lines(&html, "removed"), [format!(r#"        "text": "{NEW_TEXT}","#)]);
    let whole = browser.get("/console/automations/info-1.1/versions/2?against=none").await.text();
    assert!(whole.contains("The whole document of version 2") && diff_lines(&whole, "removed").is_empty());
    for bad in ["7", "due", "-1"] {
        let page = browser.get(&format!("/console/automations/info-1.1/versions/2?against={bad}")).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "against={bad}");
        assert!(page.is_html() && page.text().contains("is not a version of this automation"));
    }
}

#[tokio::test]
async fn restoring_version_one_saves_it_as_version_three_with_version_ones_document() {
    let system = start().await;
    save_a_change(&system).await;
    let mut browser = system.signed_in().await;
    let csrf = browser.get("/console/automations/info-1.1/versions/1").await.csrf();
    let reply = browser.post("/console/automations/info-1.1/versions/1/restore", &[("csrf", &csrf)]).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.text());
    assert_eq!(reply.location(), "../../../../automations/info-1.1?restored=1");
    assert_eq!(versions_stored(&system).await, 3);
    assert_eq!(document(&system, 3).await, document(&system, 1).await);
    assert_ne!(document(&system, 3).await, document(&system, 2).await);
    let editor = browser.get("/console/automations/info-1.1?restored=1").await.text();
    assert!(editor.contains("Version 1 restored as version 3."), "{editor}");
    let diff = browser.get("/console/automations/info-1.1/versions/3?against=1").await.text();
    assert!(diff.contains("No differences"), "{diff}");
}

#[tokio::test]
async fn restoring_keeps_the_old_versions_on_or_off() {
    let system = start().await;
    let mut off = document(&system, 1).await;
    off["enabled"] = json!(false);
    manage::update_automation(&system.store, &workspace_id(), ID, off, chrono::Utc::now()).await.unwrap();
    let mut browser = system.signed_in().await;
    let csrf = browser.get("/console/automations/info-1.1/versions/1").await.csrf();
    let reply = browser.post("/console/automations/info-1.1/versions/1/restore", &[("csrf", &csrf)]).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(document(&system, 3).await["enabled"], json!(true));
}

#[tokio::test]
async fn a_restore_without_the_csrf_token_is_forbidden_and_stores_nothing() {
    let system = start().await;
    save_a_change(&system).await;
    let mut browser = system.signed_in().await;
    let reply = browser.post("/console/automations/info-1.1/versions/1/restore", &[]).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert!(reply.is_html());
    assert_eq!(versions_stored(&system).await, 2);
}

#[tokio::test]
async fn a_restore_the_rules_refuse_today_is_a_422_page_and_stores_nothing() {
    let system = start().await;
    save_a_change(&system).await;
    // The `welcome` template version 1 sends with one parameter now takes two.
    let template = json!({ "status": "approved", "category": "utility", "body": "Ciao {{1}}, benvenuto da {{2}}!" });
    manage::put_template(&system.store, &workspace_id(), "welcome", "it", template).await.unwrap();
    let mut browser = system.signed_in().await;
    let csrf = browser.get("/console/automations/info-1.1/versions/1").await.csrf();
    let reply = browser.post("/console/automations/info-1.1/versions/1/restore", &[("csrf", &csrf)]).await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(reply.is_html());
    let html = reply.text();
    assert!(html.contains("Version 1 cannot be restored as it is: steps[0].action.params"), "{html}");
    assert!(html.contains("welcome") && html.contains("Nothing was saved."));
    assert_eq!(versions_stored(&system).await, 2);
}

#[tokio::test]
async fn a_restore_whose_phrase_another_automation_took_is_a_409_page_and_stores_nothing() {
    let system = start().await;
    let mut doc = document(&system, 1).await;
    doc["trigger"]["phrase"] = json!("Informazioni per favore");
    manage::update_automation(&system.store, &workspace_id(), ID, doc, chrono::Utc::now()).await.unwrap();
    let other = json!({ "id": "altra", "name": "Altra", "trigger": { "type": "customer_message", "phrase": "Vorrei informazioni" },
                        "steps": [ { "after": "0s", "action": { "type": "add_tag", "tag": "x" } } ] });
    manage::create_automation(&system.store, &workspace_id(), other, chrono::Utc::now()).await.unwrap();
    let mut browser = system.signed_in().await;
    let csrf = browser.get("/console/automations/info-1.1/versions/1").await.csrf();
    let reply = browser.post("/console/automations/info-1.1/versions/1/restore", &[("csrf", &csrf)]).await;
    assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.text());
    assert!(reply.is_html() && reply.text().contains("Version 1 cannot be restored as it is"));
    assert_eq!(versions_stored(&system).await, 2);
}

#[tokio::test]
async fn restoring_the_current_version_stores_nothing() {
    let system = start().await;
    save_a_change(&system).await;
    let mut browser = system.signed_in().await;
    let csrf = browser.get("/console/automations/info-1.1/versions/2").await.csrf();
    let reply = browser.post("/console/automations/info-1.1/versions/2/restore", &[("csrf", &csrf)]).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(reply.location(), "../../../../automations/info-1.1");
    assert_eq!(versions_stored(&system).await, 2);
}

#[tokio::test]
async fn an_unknown_automation_or_version_is_a_404_page() {
    let system = start().await;
    let mut browser = system.signed_in().await;
    for path in [
        "/console/automations/nessuna/versions",
        "/console/automations/nessuna/versions/1",
        "/console/automations/info-1.1/versions/2",
        "/console/automations/info-1.1/versions/0",
        "/console/automations/info-1.1/versions/uno",
        "/console/automations/info-1.1/versions/99999999999",
    ] {
        let page = browser.get(path).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{path}");
        assert!(page.is_html(), "{path}");
    }
    let csrf = browser.get("/console/automations/info-1.1/versions/1").await.csrf();
    let reply = browser.post("/console/automations/info-1.1/versions/5/restore", &[("csrf", &csrf)]).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(versions_stored(&system).await, 1);
}

#[tokio::test]
async fn the_history_and_a_version_speak_italian() {
    let system = start().await;
    save_a_change(&system).await;
    let mut browser = system.signed_in().await;
    browser.headers = vec![("accept-language".into(), "it-IT,it;q=0.9".into())];
    let history = browser.get("/console/automations/info-1.1/versions").await.text();
    assert!(history.contains("<h1>Cronologia</h1>") && history.contains(">Versione 2</a>"), "{history}");
    assert!(history.contains("1 riga aggiunta, 1 tolta") && history.contains("Attuale"));
    let version = browser.get("/console/automations/info-1.1/versions/1").await.text();
    assert!(version.contains("Il documento intero della versione 1") && version.contains("Ripristina questa versione"));
    assert!(version.contains(r#"<span class="visually-hidden">aggiunta: </span>"#));
    let editor = browser.get("/console/automations/info-1.1?restored=1").await.text();
    assert!(editor.contains("Cronologia · 2 versioni") && editor.contains("Versione 1 ripristinata come versione 2."));
}
