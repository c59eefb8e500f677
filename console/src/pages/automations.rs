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
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;

type Shared<S, E> = State<Arc<Console<S, E>>>;

const NAV: &str = "automations";
/// The most rows the list shows: past it, the page asks to search.
const MAX_ROWS: usize = 200;

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
    /// The search, as typed.
    q: String,
    rows: Vec<Row>,
    /// How many automations match (the rows may be fewer).
    matching: usize,
}

#[derive(Template)]
#[template(path = "automations/_row.html")]
struct RowPartial<'a> {
    page: &'a Page,
    t: &'static Texts,
    row: Row,
}

/// `GET automations?q=`: the search is optional; empty means every automation.
#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    q: String,
}

/// Whether `automation` matches the search `q` (already lowercased): its name, its id or its
/// trigger in words (`trigger`, which holds a phrase) contains it.
fn matches(automation: &Automation, trigger: &str, q: &str) -> bool {
    q.is_empty()
        || automation.name.to_lowercase().contains(q)
        || automation.id().as_str().contains(q)
        || trigger.to_lowercase().contains(q)
}

/// How people order names: runs of digits by their value ("2 lista" before "10 niente"), the
/// rest by character, case aside.
fn natural_order(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a.chars().peekable(), b.chars().peekable());
    loop {
        match (a.peek().copied(), b.peek().copied()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                let number = |chars: &mut std::iter::Peekable<std::str::Chars>| {
                    let mut digits = String::new();
                    while let Some(d) = chars.next_if(char::is_ascii_digit) {
                        digits.push(d);
                    }
                    digits.trim_start_matches('0').to_string()
                };
                let (x, y) = (number(&mut a), number(&mut b));
                match x.len().cmp(&y.len()).then_with(|| x.cmp(&y)) {
                    Ordering::Equal => {}
                    unequal => return unequal,
                }
            }
            (Some(x), Some(y)) => {
                match x.to_lowercase().cmp(y.to_lowercase()) {
                    Ordering::Equal => {}
                    unequal => return unequal,
                }
                a.next();
                b.next();
            }
        }
    }
}

/// `GET automations`: the automations that match the search, in the natural order of their
/// names, the first `MAX_ROWS`.
pub async fn list<S: Management, E: EventQueue>(
    State(console): Shared<S, E>,
    mut page: Page,
    session: Session,
    Query(query): Query<ListQuery>,
) -> Result<Response, Failure> {
    page.nav = NAV;
    let store = &console.app.store;
    let q = query.q.trim().to_lowercase();
    let mut automations: Vec<(Arc<Automation>, String)> = store
        .automations(&session.workspace)
        .await?
        .into_iter()
        .map(|automation| {
            let trigger = describe::trigger(page.t, &automation.trigger);
            (automation, trigger)
        })
        .filter(|(automation, trigger)| matches(automation, trigger, &q))
        .collect();
    let matching = automations.len();
    automations.sort_by(|(a, _), (b, _)| natural_order(&a.name, &b.name).then_with(|| a.id().cmp(b.id())));
    automations.truncate(MAX_ROWS);
    let mut activity = activity(store, &session.workspace, now()).await?;
    let rows = automations
        .iter()
        .map(|(automation, _)| Row::new(page.t, automation, activity.remove(automation.id()), None))
        .collect();
    let q = query.q.trim().to_string();
    Ok(render(&ListPage { page: &page, t: page.t, q, rows, matching }))
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

#[cfg(test)]
mod tests {
    use super::natural_order;

    #[test]
    fn names_are_ordered_as_people_count() {
        let mut names = vec!["10 niente", "2 lista", "1.1 primo", "Offerta 010", "offerta 9", "1.10 altro", "1.2 poi"];
        names.sort_by(|a, b| natural_order(a, b));
        assert_eq!(names, ["1.1 primo", "1.2 poi", "1.10 altro", "2 lista", "10 niente", "offerta 9", "Offerta 010"]);
    }
}
