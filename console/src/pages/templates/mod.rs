//! Templates: the workspace's message templates (name, language, category, status), read-only.
//! They are written through the API (`PUT /v1/templates/{name}/{language}`), or synced from
//! Meta: "Sync from Meta" (shown when the workspace has a `whatsapp.waba_id`) calls
//! `manage::sync_templates`, as `POST /v1/templates/sync` does, and shows the counts or Meta's error.

mod texts;

use crate::Console;
use crate::error::Failure;
use crate::i18n::Texts;
use crate::page::{Page, render_status};
use crate::session::Session;
use askama::Template;
use avvio_common::domain::TemplateStatus;
use avvio_common::domain::workspace::TemplateCategory;
use avvio_common::ports::{EventQueue, Management};
use axum::extract::State;
use axum::http::StatusCode;
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
    /// Whether the workspace names a WhatsApp Business Account (the sync button shows).
    can_sync: bool,
    /// What the last sync did, when this page answers one: (ok, message).
    synced: Option<(bool, String)>,
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
        TemplateStatus::InAppeal => (tx.in_appeal, "pending"),
        TemplateStatus::PendingDeletion => (tx.pending_deletion, "off"),
        TemplateStatus::Deleted => (tx.deleted, "off"),
        TemplateStatus::Archived => (tx.archived, "off"),
        TemplateStatus::LimitExceeded => (tx.limit_exceeded, "failed"),
    }
}

/// `GET templates`: the templates of the stored workspace document, by name and language
/// (none while the workspace has no document).
pub async fn list<S: Management, E: EventQueue>(
    State(console): State<Arc<Console<S, E>>>,
    page: Page,
    session: Session,
) -> Result<Response, Failure> {
    list_page(&console, page, &session, None, StatusCode::OK).await
}

/// `POST templates/sync`: the templates made equal to Meta's, then the list with the counts,
/// or with Meta's error (502) and the templates unchanged.
pub async fn sync<S: Management, E: EventQueue>(
    State(console): State<Arc<Console<S, E>>>,
    page: Page,
    session: Session,
) -> Result<Response, Failure> {
    let tx = TemplateTexts::of(page.lang);
    let meta = &console.app.templates;
    let token = meta.default_access_token.as_deref();
    let (synced, status) =
        match avvio_common::manage::sync_templates(&console.app.store, &meta.source, &session.workspace, token).await {
            Ok(sync) => {
                let c = sync.counts;
                (Some((true, tx.synced(c.added, c.changed, c.removed))), StatusCode::OK)
            }
            Err(avvio_common::manage::ManageError::Meta(e)) => {
                (Some((false, format!("{} {e}", tx.sync_failed))), StatusCode::BAD_GATEWAY)
            }
            Err(avvio_common::manage::ManageError::Invalid(issue)) => {
                (Some((false, issue.message)), StatusCode::UNPROCESSABLE_ENTITY)
            }
            Err(other) => return Err(other.into()),
        };
    list_page(&console, page, &session, synced, status).await
}

async fn list_page<S: Management, E: EventQueue>(
    console: &Console<S, E>,
    mut page: Page,
    session: &Session,
    synced: Option<(bool, String)>,
    status_code: StatusCode,
) -> Result<Response, Failure> {
    page.nav = "templates";
    let tx = TemplateTexts::of(page.lang);
    let workspace = console.app.store.workspace(&session.workspace).await?;
    let can_sync = workspace.as_ref().and_then(|w| w.whatsapp.as_ref()).is_some_and(|w| w.waba_id.is_some());
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
    Ok(render_status(status_code, &ListPage { page: &page, t: page.t, tx, rows, can_sync, synced }))
}
