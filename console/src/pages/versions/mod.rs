//! An automation's version history (SPEC §6 "Version history with restore"): every stored
//! version (`automations/{id}/versions`), one version's document against another as a line
//! diff (`…/versions/{n}?against=m`), and restoring it (`POST …/versions/{n}/restore`), which
//! saves its document as the next version through `manage::update_automation`, as the editor
//! saves. The store keeps every version, so these are plain reads of `manage::versions`.

mod diff;
mod texts;

use crate::Console;
use crate::error::Failure;
use crate::i18n::{Lang, Texts};
use crate::page::{Page, render};
use crate::session::Session;
use askama::Template;
use avvio_common::domain::workspace::Timezone;
use avvio_common::domain::{Automation, WorkspaceId};
use avvio_common::manage::{self, ManageError};
use avvio_common::ports::{EventQueue, Management};
use avvio_common::time::Time;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use diff::{Diff, Mark, Row};
use serde::Deserialize;
use serde_json::Value;
use std::sync::Arc;
pub use texts::VersionTexts;

type Shared<S, E> = State<Arc<Console<S, E>>>;

const NAV: &str = "automations";

/// The editor's link to the history, in the page's language: "History · 3 versions" (the store
/// keeps versions 1 to the current one, so the count is the current number).
pub fn history_link(lang: Lang, versions: u32) -> String {
    VersionTexts::of(lang).history_link(versions)
}

/// The editor's flash after `restore`: "Version n restored as version k".
pub fn restored_flash(lang: Lang, restored: &str, current: u32) -> Option<String> {
    let n: u32 = restored.parse().ok()?;
    Some(VersionTexts::of(lang).restored(n, current))
}

/// A version's document as it is compared and restored: without what the store sets.
fn document(version: &Automation) -> Result<Value, Failure> {
    let mut doc = serde_json::to_value(version).map_err(Failure::internal)?;
    if let Some(object) = doc.as_object_mut() {
        object.remove("version");
        object.remove("saved_at");
    }
    Ok(doc)
}

/// The document pretty-printed, as the diff compares it (keys in the document's order).
fn pretty(version: &Automation) -> Result<String, Failure> {
    serde_json::to_string_pretty(&document(version)?).map_err(Failure::internal)
}

/// An id as a path segment (ids are checked, but encode anyway).
fn segment(id: &str) -> String {
    let mut encoded = String::with_capacity(id.len());
    for byte in id.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => encoded.push(byte as char),
            other => encoded.push_str(&format!("%{other:02X}")),
        }
    }
    encoded
}

/// The stored automation, or the 404 page (an id that cannot be one names none either).
async fn current<S: Management>(store: &S, ws: &WorkspaceId, id: &str) -> Result<Arc<Automation>, Failure> {
    match manage::automation(store, ws, id).await {
        Ok(automation) => Ok(automation),
        Err(ManageError::Invalid(_) | ManageError::NotFound(_)) => Err(Failure::not_found(format!("automation {id}"))),
        Err(other) => Err(other.into()),
    }
}

/// Version `n` of automation `id`, or the 404 page (`n` not a number included).
async fn version<S: Management>(store: &S, ws: &WorkspaceId, id: &str, n: &str) -> Result<Arc<Automation>, Failure> {
    match manage::version(store, ws, id, n).await {
        Ok(version) => Ok(version),
        Err(ManageError::Invalid(_) | ManageError::NotFound(_)) => {
            Err(Failure::not_found(format!("automation {id}, version {n}")))
        }
        Err(other) => Err(other.into()),
    }
}

/// The workspace's time zone (UTC when it has no document yet).
async fn zone<S: Management>(store: &S, ws: &WorkspaceId) -> Result<Timezone, Failure> {
    match store.workspace(ws).await? {
        Some(workspace) => Ok(workspace.timezone),
        None => serde_json::from_value(serde_json::json!("UTC")).map_err(Failure::internal),
    }
}

/// When a version was saved: `iso` for `<time datetime>`, `local` for people; both absent on
/// versions stored before the time was kept.
struct Saved {
    iso: Option<String>,
    local: String,
}

impl Saved {
    fn new(at: Option<Time>, zone: &Timezone, vt: &VersionTexts) -> Self {
        match at {
            Some(at) => Self {
                iso: Some(at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
                local: at.with_timezone(&zone.0).format(vt.time_format()).to_string(),
            },
            None => Self { iso: None, local: vt.unknown_time.to_string() },
        }
    }
}

// ---------------------------------------------------------------------------
// The history
// ---------------------------------------------------------------------------

/// One stored version, as the history lists it.
struct VersionRow {
    number: u32,
    saved: Saved,
    name: String,
    enabled: bool,
    current: bool,
    /// Lines added and removed since the version before it (none for the first).
    changes: Option<String>,
}

#[derive(Template)]
#[template(path = "versions/list.html")]
struct HistoryPage<'a> {
    page: &'a Page,
    t: &'static Texts,
    vt: &'static VersionTexts,
    id: String,
    name: String,
    zone: String,
    rows: Vec<VersionRow>,
}

/// `GET automations/{id}/versions`: every stored version, newest first.
pub async fn history<S: Management, E: EventQueue>(
    State(console): Shared<S, E>,
    mut page: Page,
    session: Session,
    Path(id): Path<String>,
) -> Result<Response, Failure> {
    page.nav = NAV;
    let vt = VersionTexts::of(page.lang);
    let (store, ws) = (&console.app.store, &session.workspace);
    let automation = current(store, ws, &id).await?;
    let versions = manage::versions(store, ws, &id).await?;
    let zone = zone(store, ws).await?;
    let texts = versions.iter().map(|v| pretty(v)).collect::<Result<Vec<_>, _>>()?;
    let mut rows: Vec<VersionRow> = versions
        .iter()
        .enumerate()
        .map(|(i, v)| VersionRow {
            number: v.version,
            saved: Saved::new(v.saved_at, &zone, vt),
            name: v.name.clone(),
            enabled: v.enabled,
            current: v.version == automation.version,
            changes: i.checked_sub(1).map(|before| {
                let (added, removed) = diff::counts(&texts[before], &texts[i]);
                vt.counts(added, removed)
            }),
        })
        .collect();
    rows.reverse();
    Ok(render(&HistoryPage {
        page: &page,
        t: page.t,
        vt,
        id: automation.id().to_string(),
        name: automation.name.clone(),
        zone: zone.0.name().to_string(),
        rows,
    }))
}

// ---------------------------------------------------------------------------
// A version, against another
// ---------------------------------------------------------------------------

/// `GET automations/{id}/versions/{n}?against=m`: `m` a version, or `none` for the whole document.
#[derive(Debug, Default, Deserialize)]
pub struct ShowQuery {
    #[serde(default)]
    against: Option<String>,
}

/// An entry of the "Compare with" select.
struct Choice {
    value: String,
    label: String,
    selected: bool,
}

#[derive(Template)]
#[template(path = "versions/show.html")]
struct VersionPage<'a> {
    page: &'a Page,
    t: &'static Texts,
    vt: &'static VersionTexts,
    id: String,
    /// The automation's current name (the breadcrumb's).
    automation: String,
    number: u32,
    name: String,
    enabled: bool,
    saved: Saved,
    current: bool,
    /// The version after the current one: what a restore would make.
    next: u32,
    choices: Vec<Choice>,
    heading: String,
    summary: String,
    diff: Diff,
}

/// What version `number` is compared with: the one asked for, else the one before it (none
/// for the first). `Err` for an `against` that is no stored version.
fn against(raw: Option<&str>, number: u32, versions: &[Arc<Automation>]) -> Result<Option<u32>, ()> {
    match raw.map(str::trim) {
        None | Some("") => Ok(versions.iter().map(|v| v.version).filter(|v| *v < number).max()),
        Some("none") => Ok(None),
        Some(raw) => match raw.parse::<u32>() {
            Ok(m) if versions.iter().any(|v| v.version == m) => Ok(Some(m)),
            _ => Err(()),
        },
    }
}

/// `GET automations/{id}/versions/{n}`: version n's document against another, and its restore.
pub async fn show<S: Management, E: EventQueue>(
    State(console): Shared<S, E>,
    mut page: Page,
    session: Session,
    Path((id, n)): Path<(String, String)>,
    Query(query): Query<ShowQuery>,
) -> Result<Response, Failure> {
    page.nav = NAV;
    let vt = VersionTexts::of(page.lang);
    let (store, ws) = (&console.app.store, &session.workspace);
    let automation = current(store, ws, &id).await?;
    let shown = version(store, ws, &id, &n).await?;
    let number = shown.version;
    let versions = manage::versions(store, ws, &id).await?;
    let raw = query.against.as_deref();
    let against =
        against(raw, number, &versions).map_err(|()| Failure::malformed(vt.bad_against(raw.unwrap_or(""))))?;
    let old = match against.and_then(|m| versions.iter().find(|v| v.version == m)) {
        Some(before) => pretty(before)?,
        None => String::new(),
    };
    let diff = diff::lines(&old, &pretty(&shown)?, diff::CONTEXT);
    let mut choices: Vec<Choice> = versions
        .iter()
        .rev()
        .filter(|v| v.version != number)
        .map(|v| {
            let mut label = vt.version_n(v.version);
            if v.version + 1 == number {
                label = format!("{label} ({})", vt.the_one_before);
            }
            if v.version == automation.version {
                label = format!("{label} · {}", vt.current);
            }
            Choice { value: v.version.to_string(), label, selected: against == Some(v.version) }
        })
        .collect();
    choices.push(Choice { value: "none".into(), label: vt.nothing.into(), selected: against.is_none() });
    let zone = zone(store, ws).await?;
    Ok(render(&VersionPage {
        page: &page,
        t: page.t,
        vt,
        id: automation.id().to_string(),
        automation: automation.name.clone(),
        number,
        name: shown.name.clone(),
        enabled: shown.enabled,
        saved: Saved::new(shown.saved_at, &zone, vt),
        current: number == automation.version,
        next: automation.version + 1,
        choices,
        heading: vt.changes_from(against, number),
        summary: vt.counts(diff.added, diff.removed),
        diff,
    }))
}

// ---------------------------------------------------------------------------
// Restore
// ---------------------------------------------------------------------------

/// `POST automations/{id}/versions/{n}/restore`: saves version n's document (on or off as it
/// was) as the next version, checked as every save is; then the editor says so. The current
/// version is not saved again. A document the rules refuse today (a template since deleted, a
/// phrase another automation took) is a 422 or 409 page with the reason, nothing stored.
pub async fn restore<S: Management, E: EventQueue>(
    State(console): Shared<S, E>,
    mut page: Page,
    session: Session,
    Path((id, n)): Path<(String, String)>,
) -> Result<Response, Failure> {
    page.nav = NAV;
    let vt = VersionTexts::of(page.lang);
    let (store, ws) = (&console.app.store, &session.workspace);
    let automation = current(store, ws, &id).await?;
    let old = version(store, ws, &id, &n).await?;
    let editor = format!("automations/{}", segment(automation.id().as_str()));
    if old.version == automation.version {
        return Ok(page.redirect(&editor));
    }
    match manage::update_automation(store, ws, &id, document(&old)?, chrono::Utc::now()).await {
        Ok(_) => Ok(page.redirect(&format!("{editor}?restored={}", old.version))),
        Err(ManageError::Invalid(issue)) => Err(Failure::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            vt.cannot_restore(old.version, &issue.path, &issue.message),
        )),
        Err(ManageError::Conflict(issue)) => {
            Err(Failure::new(StatusCode::CONFLICT, vt.cannot_restore(old.version, &issue.path, &issue.message)))
        }
        Err(other) => Err(other.into()),
    }
}

impl VersionPage<'_> {
    /// A diff line's sign (shown, hidden from screen readers, which read the word instead).
    fn sign(&self, mark: &Mark) -> &'static str {
        match mark {
            Mark::Same => " ",
            Mark::Added => "+",
            Mark::Removed => "−",
        }
    }

    /// A diff line's class modifier.
    fn modifier(&self, mark: &Mark) -> &'static str {
        match mark {
            Mark::Same => "same",
            Mark::Added => "added",
            Mark::Removed => "removed",
        }
    }

    /// A fold's words: "12 unchanged lines".
    fn folded(&self, lines: &usize) -> String {
        self.vt.folded(*lines)
    }

    /// The word a screen reader says before a changed line.
    fn word(&self, mark: &Mark) -> &'static str {
        match mark {
            Mark::Same => "",
            Mark::Added => self.vt.added,
            Mark::Removed => self.vt.removed,
        }
    }
}
