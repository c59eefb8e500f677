//! Runs: the list (newest first, filtered by automation and contact) and a run's timeline.
//! The words come from `crate::runs`; this module reads the store (through `manage` for the
//! runs themselves, as `/v1/runs` does).

use crate::Console;
use crate::error::Failure;
use crate::i18n::Texts;
use crate::page::{Page, render, render_status};
use crate::runs::texts::RunsTexts;
use crate::runs::{self, Badge, Cause, Code, Current, Item, When};
use crate::session::Session;
use askama::Template;
use avvio_common::domain::automation::Automation;
use avvio_common::domain::workspace::Timezone;
use avvio_common::domain::{AutomationId, Run, WorkspaceId};
use avvio_common::manage::{self, ManageError};
use avvio_common::ports::{EventQueue, Management};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Arc;

type Shared<S, E> = State<Arc<Console<S, E>>>;

const NAV: &str = "runs";

/// The most rows the list shows: the newest ones.
pub const LIST_LIMIT: usize = 200;

/// The automation versions a page has read, by id and version (`None`: no longer stored).
#[derive(Default)]
struct Versions(HashMap<(AutomationId, u32), Option<Arc<Automation>>>);

impl Versions {
    async fn of<S: Management>(
        &mut self,
        store: &S,
        ws: &WorkspaceId,
        run: &Run,
    ) -> Result<Option<Arc<Automation>>, Failure> {
        let key = (run.automation.clone(), run.version);
        if let Some(known) = self.0.get(&key) {
            return Ok(known.clone());
        }
        let read = store.automation_version(ws, &run.automation, run.version).await?;
        self.0.insert(key, read.clone());
        Ok(read)
    }
}

/// The workspace's time zone (UTC when it has no document yet).
async fn zone<S: Management>(store: &S, ws: &WorkspaceId) -> Result<Timezone, Failure> {
    match store.workspace(ws).await? {
        Some(workspace) => Ok(workspace.timezone),
        None => serde_json::from_value(serde_json::json!("UTC")).map_err(Failure::internal),
    }
}

// ---------------------------------------------------------------------------
// The list
// ---------------------------------------------------------------------------

/// `GET runs?automation=&contact=`: both optional; empty means any.
#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    automation: Option<String>,
    #[serde(default)]
    contact: Option<String>,
}

/// One row of the list.
struct Row {
    id: String,
    started: When,
    automation: String,
    contact: String,
    status: Badge,
    current: Option<Current>,
}

/// An automation the filter offers.
struct Choice {
    id: String,
    name: String,
    selected: bool,
}

#[derive(Template)]
#[template(path = "runs/list.html")]
struct ListPage<'a> {
    page: &'a Page,
    t: &'static Texts,
    r: &'static RunsTexts,
    choices: Vec<Choice>,
    contact: String,
    contact_error: Option<&'static str>,
    filtered: bool,
    rows: Vec<Row>,
    /// How many runs match, and how many are shown.
    count: String,
    zone: String,
}

/// `GET runs`: the newest [`LIST_LIMIT`] runs matching the filter.
pub async fn list<S: Management, E: EventQueue>(
    State(console): Shared<S, E>,
    mut page: Page,
    session: Session,
    Query(query): Query<ListQuery>,
) -> Result<Response, Failure> {
    page.nav = NAV;
    let r = RunsTexts::of(page.lang);
    let store = &console.app.store;
    let ws = &session.workspace;
    let wanted = |value: Option<String>| value.map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
    let (automation, contact) = (wanted(query.automation), wanted(query.contact));

    let automations = store.automations(ws).await?;
    let names: HashMap<&AutomationId, &str> = automations.iter().map(|a| (a.id(), a.name.as_str())).collect();
    let mut choices: Vec<Choice> = automations
        .iter()
        .map(|a| Choice {
            id: a.id().to_string(),
            name: a.name.clone(),
            selected: automation.as_deref() == Some(a.id().as_str()),
        })
        .collect();
    if let Some(id) = automation.as_deref().filter(|id| !choices.iter().any(|c| c.id == *id)) {
        // A deleted automation's runs stay: keep its id selectable.
        choices.push(Choice { id: id.to_string(), name: id.to_string(), selected: true });
    }

    let newest = manage::newest_runs(store, ws, contact.as_deref(), automation.as_deref(), LIST_LIMIT).await;
    let ((found, total), contact_error) = match newest {
        Ok(newest) => (newest, None),
        Err(ManageError::Invalid(issue)) if issue.path == "phone" => ((Vec::new(), 0), Some(r.contact_invalid)),
        // An id no automation can have matches no run.
        Err(ManageError::Invalid(_)) => ((Vec::new(), 0), None),
        Err(other) => return Err(other.into()),
    };
    let zone = zone(store, ws).await?;
    let mut versions = Versions::default();
    let mut rows = Vec::with_capacity(found.len());
    for run in &found {
        let doc = versions.of(store, ws, run).await?;
        rows.push(Row {
            id: run.id.to_string(),
            started: When::new(run.started_at, &zone, r),
            automation: names.get(&run.automation).map_or_else(|| run.automation.to_string(), |n| n.to_string()),
            contact: run.contact.to_string(),
            status: runs::run_status(&run.status, r),
            current: runs::current(run, doc.as_deref(), &zone, r),
        });
    }
    let count = if total > LIST_LIMIT {
        r.showing_newest.replace("{shown}", &LIST_LIMIT.to_string()).replace("{total}", &total.to_string())
    } else if total == 1 {
        r.count_one.to_string()
    } else {
        r.count_many.replace("{total}", &total.to_string())
    };
    let template = ListPage {
        page: &page,
        t: page.t,
        r,
        choices,
        contact: contact.clone().unwrap_or_default(),
        contact_error,
        filtered: automation.is_some() || contact.is_some(),
        rows,
        count,
        zone: zone.0.name().to_string(),
    };
    let status = if contact_error.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    Ok(render_status(status, &template))
}

// ---------------------------------------------------------------------------
// A run
// ---------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "runs/show.html")]
struct RunPage<'a> {
    page: &'a Page,
    t: &'static Texts,
    r: &'static RunsTexts,
    id: String,
    automation_id: String,
    automation: String,
    version: u32,
    /// The automation's version now, when it moved on (`None` with `deleted` false: the same).
    current_version: Option<u32>,
    deleted: bool,
    /// Whether the pinned version is stored (else steps are named by kind only).
    pinned: bool,
    contact: String,
    contact_name: Option<String>,
    status: Badge,
    cancelled: Option<Code>,
    started: When,
    cause: Cause,
    depth: u8,
    items: Vec<Item>,
    zone: String,
}

/// `GET runs/{id}`: the run's timeline. An unknown (or impossible) id is a 404.
pub async fn show<S: Management, E: EventQueue>(
    State(console): Shared<S, E>,
    mut page: Page,
    session: Session,
    Path(id): Path<String>,
) -> Result<Response, Failure> {
    page.nav = NAV;
    let r = RunsTexts::of(page.lang);
    let store = &console.app.store;
    let ws = &session.workspace;
    let run = match manage::run(store, ws, &id).await {
        Ok(run) => run,
        Err(ManageError::Invalid(_) | ManageError::NotFound(_)) => {
            return Err(Failure::not_found(format!("no run `{id}`")));
        }
        Err(other) => return Err(other.into()),
    };
    let pinned = store.automation_version(ws, &run.automation, run.version).await?;
    let now = store.automation(ws, &run.automation).await?;
    let contact = store.contact(ws, &run.contact).await?;
    let zone = zone(store, ws).await?;
    let name = pinned.as_ref().or(now.as_ref()).map_or_else(|| run.automation.to_string(), |a| a.name.clone());
    let template = RunPage {
        page: &page,
        t: page.t,
        r,
        id: run.id.to_string(),
        automation_id: run.automation.to_string(),
        automation: name,
        version: run.version,
        current_version: now.as_ref().map(|a| a.version).filter(|v| *v != run.version),
        deleted: now.is_none(),
        pinned: pinned.is_some(),
        contact: run.contact.to_string(),
        contact_name: contact.and_then(|c| c.item.name).filter(|n| !n.is_empty()),
        status: runs::run_status(&run.status, r),
        cancelled: runs::cancel_reason(&run.status, r),
        started: When::new(run.started_at, &zone, r),
        cause: runs::cause(&run.cause, r),
        depth: run.depth,
        items: runs::timeline(&run, pinned.as_deref(), &zone, r),
        zone: zone.0.name().to_string(),
    };
    Ok(render(&template))
}
