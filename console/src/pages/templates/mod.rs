//! Templates: the workspace's message templates (name, language, category, status), read-only.
//! They are written through the API (`PUT /v1/templates/{name}/{language}`).

mod texts;

use crate::Console;
use crate::error::Failure;
use crate::i18n::Texts;
use crate::page::{Page, render};
use crate::session::Session;
use askama::Template;
use avvio_common::domain::TemplateStatus;
use avvio_common::domain::workspace::TemplateCategory;
use avvio_common::ports::{EventQueue, Management};
use axum::extract::State;
use axum::response::Response;
use std::sync::Arc;
pub use texts::TemplateTexts;

/// One template, in words.
struct Row {
    name: String,
    language: String,
    category: &'static str,
    /// The status in words and its badge's modifier.
    status: (&'static str, &'static str),
    body: String,
    buttons: Vec<String>,
}

#[derive(Template)]
#[template(path = "templates/list.html")]
struct ListPage<'a> {
    page: &'a Page,
    t: &'static Texts,
    tx: &'static TemplateTexts,
    rows: Vec<Row>,
}

fn category(tx: &TemplateTexts, category: TemplateCategory) -> &'static str {
    match category {
        TemplateCategory::Marketing => tx.marketing,
        TemplateCategory::Utility => tx.utility,
        TemplateCategory::Authentication => tx.authentication,
    }
}

fn status(tx: &TemplateTexts, status: TemplateStatus) -> (&'static str, &'static str) {
    match status {
        TemplateStatus::Approved => (tx.approved, "done"),
        TemplateStatus::Pending => (tx.pending, "pending"),
        TemplateStatus::Rejected => (tx.rejected, "failed"),
        TemplateStatus::Paused => (tx.paused, "waiting"),
        TemplateStatus::Disabled => (tx.disabled, "off"),
    }
}

/// `GET templates`: the templates of the stored workspace document, by name and language
/// (none while the workspace has no document).
pub async fn list<S: Management, E: EventQueue>(
    State(console): State<Arc<Console<S, E>>>,
    mut page: Page,
    session: Session,
) -> Result<Response, Failure> {
    page.nav = "templates";
    let tx = TemplateTexts::of(page.lang);
    let workspace = console.app.store.workspace(&session.workspace).await?;
    let mut templates = workspace.map(|w| w.templates.clone()).unwrap_or_default();
    templates.sort_by(|a, b| (a.name.as_str(), a.language.as_str()).cmp(&(b.name.as_str(), b.language.as_str())));
    let rows = templates
        .iter()
        .map(|t| Row {
            name: t.name.as_str().to_string(),
            language: t.language.as_str().to_string(),
            category: category(tx, t.category),
            status: status(tx, t.status),
            body: t.body.clone(),
            buttons: t.buttons.iter().map(|b| b.text.clone()).collect(),
        })
        .collect();
    Ok(render(&ListPage { page: &page, t: page.t, tx, rows }))
}
