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
    let app = Arc::new(App { store: store.clone(), events, config });
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
