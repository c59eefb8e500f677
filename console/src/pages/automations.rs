//! Automations: the list, with its on/off switch (an htmx partial). An automation's page is
//! its editor (`pages::editor`).

use crate::Console;
use crate::describe;
use crate::error::Failure;
use crate::form::Form;
use crate::i18n::Texts;
use crate::page::{Page, render, render_status};
use crate::session::Session;
use askama::Template;
use avvio_common::domain::{Automation, AutomationId, WorkspaceId};
use avvio_common::manage::{self, ManageError};
use avvio_common::ports::{EventQueue, Management};
use avvio_common::stats::{Counter, Days};
use avvio_common::time::Time;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Arc;

type Shared<S, E> = State<Arc<Console<S, E>>>;

const NAV: &str = "automations";

fn now() -> Time {
    chrono::Utc::now()
}

/// What the list shows of an automation's recent runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activity {
    /// Runs started in the 7 days before now.
    pub runs_7_days: u64,
    /// When the last run started.
    pub last_run: Option<Time>,
}

/// The recent runs of every automation of `workspace`, read from the stats counters (one read
/// whose cost grows with the automations that ran, never with their runs). Runs "in the last
/// 7 days" are those started on the 7 calendar days (UTC) ending today.
async fn activity<S: Management>(
    store: &S,
    workspace: &WorkspaceId,
    now: Time,
) -> Result<HashMap<AutomationId, Activity>, Failure> {
    let mut activity: HashMap<AutomationId, Activity> = HashMap::new();
    for (automation, day) in store.activity(workspace, Days::last(7, now.date_naive())).await? {
        let entry = activity.entry(automation).or_insert(Activity { runs_7_days: 0, last_run: None });
        let started = day.counters.get(&Counter::Started).copied().unwrap_or(0);
        entry.runs_7_days += u64::try_from(started).unwrap_or(0);
        entry.last_run = entry.last_run.max(day.last_started);
    }
    Ok(activity)
}

/// One row of the list (`templates/automations/_row.html`).
struct Row {
    id: String,
    name: String,
    trigger: String,
    enabled: bool,
    version: u32,
    runs_7_days: String,
    last_run: String,
    /// Why the last change of this row was refused, shown in the row.
    error: Option<String>,
}

impl Row {
    fn new(t: &Texts, automation: &Automation, activity: Option<Activity>, error: Option<String>) -> Self {
        let (runs_7_days, last_run) = match activity {
            Some(a) => (
                a.runs_7_days.to_string(),
                a.last_run.map_or_else(|| t.no_value.to_string(), |at| at.format("%Y-%m-%d %H:%M UTC").to_string()),
            ),
            None => (t.no_value.to_string(), t.no_value.to_string()),
        };
        Self {
            id: automation.id().to_string(),
            name: automation.name.clone(),
            trigger: describe::trigger(t, &automation.trigger),
            enabled: automation.enabled,
            version: automation.version,
            runs_7_days,
            last_run,
            error,
        }
    }
}

#[derive(Template)]
#[template(path = "automations/list.html")]
struct ListPage<'a> {
    page: &'a Page,
    t: &'static Texts,
    rows: Vec<Row>,
}

#[derive(Template)]
#[template(path = "automations/_row.html")]
struct RowPartial<'a> {
    page: &'a Page,
    t: &'static Texts,
    row: Row,
}

/// `GET automations`.
pub async fn list<S: Management, E: EventQueue>(
    State(console): Shared<S, E>,
    mut page: Page,
    session: Session,
) -> Result<Response, Failure> {
    page.nav = NAV;
    let store = &console.app.store;
    let mut automations = store.automations(&session.workspace).await?;
    automations.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.id().cmp(b.id())));
    let mut activity = activity(store, &session.workspace, now()).await?;
    let rows = automations
        .iter()
        .map(|automation| Row::new(page.t, automation, activity.remove(automation.id()), None))
        .collect();
    Ok(render(&ListPage { page: &page, t: page.t, rows }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnabledForm {
    /// `on` or `off`: the state wanted (so a repeated click does not flip it back).
    enabled: String,
}

/// `POST automations/{id}/enabled`: turns the automation on or off by storing its next version
/// (through `manage::update_automation`, like `PUT /v1/automations/{id}`). To htmx it answers the
/// row; a refused change shows its reason in the row (422). Without htmx it goes back to the list.
pub async fn set_enabled<S: Management, E: EventQueue>(
    State(console): Shared<S, E>,
    page: Page,
    session: Session,
    Path(id): Path<String>,
    Form(form): Form<EnabledForm>,
) -> Result<Response, Failure> {
    let wanted = match form.enabled.as_str() {
        "on" => true,
        "off" => false,
        other => return Err(Failure::malformed(format!("`enabled` is `on` or `off`, not `{other}`"))),
    };
    let store = &console.app.store;
    let current = manage::automation(store, &session.workspace, &id).await?;
    let result = if current.enabled == wanted {
        Ok(current.clone())
    } else {
        let mut next = Automation::clone(&current);
        next.enabled = wanted;
        let document = serde_json::to_value(&next).map_err(Failure::internal)?;
        manage::update_automation(store, &session.workspace, &id, document, now()).await
    };
    let (automation, error) = match result {
        Ok(stored) => (stored, None),
        Err(ManageError::Invalid(issue) | ManageError::Conflict(issue)) => (current, Some(issue.message)),
        Err(other) => return Err(other.into()),
    };
    if !page.htmx {
        return match error {
            None => Ok(page.redirect("automations")),
            Some(message) => Err(Failure::new(StatusCode::UNPROCESSABLE_ENTITY, message)),
        };
    }
    let status = if error.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    let activity = activity(store, &session.workspace, now()).await?.remove(automation.id());
    let row = Row::new(page.t, &automation, activity, error);
    Ok(render_status(status, &RowPartial { page: &page, t: page.t, row }))
}
