//! The templates page: the workspace's templates, read-only.

use crate::support::{APP_SECRET, KEY, System, start, workspace_id};
use avvio_api::{App, IngestConfig};
use avvio_common::memory::{MemoryEventQueue, MemoryStore};
use avvio_common::ports::{KeyHash, Management, Store};
use axum::http::StatusCode;
use std::sync::Arc;

#[tokio::test]
async fn the_templates_page_lists_every_template_with_its_category_and_status() {
    let system = start().await;
    let mut browser = system.signed_in().await;
    let reply = browser.get("/console/templates").await;
    assert_eq!(reply.status, StatusCode::OK);
    let page = reply.text();
    assert!(page.contains(r#"aria-current="page">Templates"#));
    for template in system.store.workspace(&workspace_id()).await.unwrap().unwrap().templates.iter() {
        assert!(page.contains(&format!("<code>{}</code>", template.name.as_str())), "{}", template.name.as_str());
    }
    let row = page.split("<code>novita</code>").nth(1).unwrap().split("</tr>").next().unwrap();
    assert!(row.contains(">it<") && row.contains(">Marketing<"), "{row}");
    assert!(row.contains(r#"<span class="badge badge--pending">Pending</span>"#), "{row}");
    let row = page.split("<code>welcome</code>").nth(1).unwrap().split("</tr>").next().unwrap();
    assert!(row.contains(">Utility<") && row.contains(r#"badge--done">Approved<"#), "{row}");
    assert!(page.contains("PUT /v1/templates/{name}/{language}"), "how templates are written");
    assert!(!page.contains("<form method=\"post\""), "read-only");
}

#[tokio::test]
async fn a_workspace_without_a_document_has_no_templates_yet() {
    let store = MemoryStore::new();
    store.put_api_key(&KeyHash::of(KEY), &workspace_id()).await.unwrap();
    let (events, _) = MemoryEventQueue::new();
    let config = IngestConfig { app_secret: APP_SECRET.into(), verify_token: "verify".into() };
    let app = Arc::new(App { store: store.clone(), events, config, templates: avvio_api::MetaTemplates::meta() });
    let keys = avvio_console::session::Keys::new(APP_SECRET);
    let system = System { router: avvio_console::router(app), store, keys };
    let reply = system.signed_in().await.get("/console/templates").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.text().contains("No templates yet"));
}

#[tokio::test]
async fn the_templates_page_speaks_italian() {
    let system = start().await;
    let mut browser = system.signed_in().await;
    browser.headers = vec![("accept-language".into(), "it".into())];
    let page = browser.get("/console/templates").await.text();
    assert!(page.contains("<h1>Modelli</h1>") && page.contains("Promozionale") && page.contains("Servizio"));
    assert!(page.contains("Approvato") && page.contains("In revisione") && page.contains("Categoria"));
}

/// The examples' workspace with an account (`waba_id`), reading Meta's templates from `graph`.
async fn with_account(graph: &avvio_tests::graph::StandInGraph) -> System {
    let store = MemoryStore::new();
    let mut doc: serde_json::Value = serde_json::from_str(include_str!("../../../examples/workspace.json")).unwrap();
    doc["whatsapp"]["waba_id"] = serde_json::json!("102290129340398");
    doc["whatsapp"]["access_token"] = serde_json::json!("EAAG-console");
    store.load_workspace(&workspace_id(), serde_json::from_value(doc).unwrap());
    store.put_api_key(&KeyHash::of(KEY), &workspace_id()).await.unwrap();
    let (events, _) = MemoryEventQueue::new();
    let config = IngestConfig { app_secret: APP_SECRET.into(), verify_token: "verify".into() };
    let graph_config = avvio_http::graph::GraphConfig { api_base: graph.base.clone(), ..Default::default() };
    let templates = avvio_api::MetaTemplates::new(graph_config, None).unwrap();
    let app = Arc::new(App { store: store.clone(), events, config, templates });
    System { router: avvio_console::router(app), store, keys: avvio_console::session::Keys::new(APP_SECRET) }
}

fn meta_page(name: &str) -> serde_json::Value {
    let path = avvio_tests::fixtures().join("meta").join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[tokio::test]
async fn sync_from_meta_shows_the_counts_and_lists_meta_s_templates() {
    let graph = avvio_tests::graph::StandInGraph::start()
        .await
        .with_templates(vec![meta_page("message_templates_page1.json"), meta_page("message_templates_page2.json")]);
    let system = with_account(&graph).await;
    let mut browser = system.signed_in().await;
    let page = browser.get("/console/templates").await.text();
    assert!(page.contains(r#"<form method="post" action="templates/sync">"#) && page.contains("Sync from Meta"));
    let csrf = browser.csrf().await;
    let reply = browser.post("/console/templates/sync", &[("csrf", &csrf)]).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let page = reply.text();
    assert!(page.contains("Synced from Meta:"), "{page}");
    assert!(page.contains("<code>promo_estate</code>") && page.contains("<code>nuovo_catalogo</code>"));
    let row = page.split("<code>promo_estate</code>").nth(1).unwrap().split("</tr>").next().unwrap();
    assert!(row.contains(r#"badge--waiting">Paused<"#), "{row}");
    assert_eq!(graph.template_requests().len(), 2);
    let templates = system.store.workspace(&workspace_id()).await.unwrap().unwrap().templates.len();
    assert_eq!(templates, 7);
}

#[tokio::test]
async fn a_failed_sync_shows_meta_s_error_and_changes_nothing() {
    let error = r#"{"error":{"message":"Invalid OAuth access token","type":"OAuthException","code":190}}"#;
    let graph = avvio_tests::graph::StandInGraph::start().await.with_template_answers(vec![(401, error.into())]);
    let system = with_account(&graph).await;
    let before = system.store.workspace(&workspace_id()).await.unwrap().unwrap().templates.clone();
    let mut browser = system.signed_in().await;
    browser.headers = vec![("accept-language".into(), "it".into())];
    let csrf = browser.csrf().await;
    let reply = browser.post("/console/templates/sync", &[("csrf", &csrf)]).await;
    assert_eq!(reply.status, StatusCode::BAD_GATEWAY);
    let page = reply.text();
    assert!(page.contains("Meta non ha fornito i modelli") && page.contains("190"), "{page}");
    assert!(page.contains("Sincronizza da Meta"));
    assert_eq!(system.store.workspace(&workspace_id()).await.unwrap().unwrap().templates, before);
}
