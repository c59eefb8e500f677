//! The automation editor: "New" (`automations/new`) and an automation's page
//! (`automations/{id}`), the seed's screen. Each button posts the whole form with its `edit`
//! (add, move or remove a step or branch, switch tab, save); the server reads the form into a
//! document, applies the edit and draws the editor again (htmx swaps it; without JavaScript
//! the whole page comes back). Saving checks the document like `/v1` does and shows every
//! error at its input.

use crate::Console;
use crate::editor::doc::{BadPath, Edit, document_from_form};
use crate::editor::fields;
use crate::editor::texts::EditorTexts;
use crate::editor::trial::{self, Entry, Inputs, TrialTexts};
use crate::editor::view::{Context, EditorView, TemplateChoice};
use crate::error::Failure;
use crate::form::{EDITOR_FORM_LIMIT, Form};
use crate::i18n::Lang;
use crate::i18n::Texts;
use crate::page::{Page, render, render_status};
use crate::session::Session;
use askama::Template;
use avvio_api::simulate::{Scenario, TIME_LIMIT, run_scenario};
use avvio_common::domain::Workspace;
use avvio_common::domain::workspace::ParameterFormat;
use avvio_common::domain::{Automation, AutomationId, WorkspaceId};
use avvio_common::manage::{self, ManageError};
use avvio_common::ports::{EventQueue, Management};
use avvio_common::simulate::Line;
use avvio_common::stats::{Days, Stats};
use avvio_common::validate::{check_automation, parse_document};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::Timelike;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

type Shared<S, E> = State<Arc<Console<S, E>>>;

/// The id a new automation is checked and tried under until it is stored.
const NEW_ID: &str = "new";

/// How many days of counters an automation's page shows on its steps.
const STATS_DAYS: u32 = 30;

#[derive(Template)]
#[template(path = "editor/page.html")]
struct EditorPage<'a> {
    page: &'a Page,
    t: &'static Texts,
    title: String,
    /// The stored automation (`None` for "New").
    stored: Option<Arc<Automation>>,
    editor: EditorView<'a>,
}

/// What a new automation starts from: a phrase trigger and no steps.
fn blank() -> Value {
    json!({ "name": "", "enabled": true, "trigger": { "type": "customer_message", "phrase": "" }, "steps": [] })
}

/// The templates and automations the editor's pickers offer, and the stored one's counters.
async fn context<'p, S: Management>(
    store: &S,
    ws: &WorkspaceId,
    page: &'p Page,
    stored: Option<&Automation>,
) -> Result<Context<'p>, Failure> {
    let templates = manage::templates(store, ws).await?;
    let automations = store.automations(ws).await?;
    let stats = match stored {
        Some(a) => {
            let days = Days::last(STATS_DAYS, chrono::Utc::now().date_naive());
            Some(Stats::sum(&store.stats(ws, a.id(), days).await?))
        }
        None => None,
    };
    Ok(Context {
        page,
        e: EditorTexts::of(page.lang),
        templates: templates
            .iter()
            .map(|t| {
                let params = match t.parameter_format {
                    ParameterFormat::Positional => t.placeholder_count(),
                    ParameterFormat::Named => t.parameter_names().len(),
                };
                TemplateChoice {
                    name: t.name.to_string(),
                    language: t.language.to_string(),
                    params,
                    header: t.header.clone(),
                    buttons: t.buttons.clone(),
                }
            })
            .collect(),
        automations: automations
            .iter()
            .filter(|a| stored.is_none_or(|s| s.id() != a.id()))
            .map(|a| (a.id().to_string(), a.name.clone()))
            .collect(),
        stats,
    })
}

/// The document as the editor shows it: the stored one without what the API sets.
fn editable(automation: &Automation) -> Result<Value, Failure> {
    let mut doc = serde_json::to_value(automation).map_err(Failure::internal)?;
    if let Some(object) = doc.as_object_mut() {
        object.remove("version");
        object.remove("saved_at");
    }
    Ok(doc)
}

fn show<'a>(
    status: StatusCode,
    page: &'a Page,
    title: String,
    stored: Option<Arc<Automation>>,
    editor: EditorView<'a>,
) -> Response {
    if page.htmx {
        render_status(status, &editor)
    } else {
        render_status(status, &EditorPage { page, t: page.t, title, stored, editor })
    }
}

/// `GET automations/new`.
pub async fn new<S: Management, E: EventQueue>(
    State(console): Shared<S, E>,
    mut page: Page,
    session: Session,
) -> Result<Response, Failure> {
    page.nav = "automations";
    let context = context(&console.app.store, &session.workspace, &page, None).await?;
    let editor = context.editor("new".into(), &blank());
    Ok(render(&EditorPage { page: &page, t: page.t, title: page.t.new_automation.to_string(), stored: None, editor }))
}

#[derive(Deserialize)]
pub struct ShowQuery {
    saved: Option<String>,
    /// The version just restored (`pages::versions::restore`).
    restored: Option<String>,
}

/// `GET automations/{id}`: the automation's editor, with its live counters.
pub async fn edit<S: Management, E: EventQueue>(
    State(console): Shared<S, E>,
    mut page: Page,
    session: Session,
    Path(id): Path<String>,
    Query(query): Query<ShowQuery>,
) -> Result<Response, Failure> {
    page.nav = "automations";
    let store = &console.app.store;
    let stored = manage::automation(store, &session.workspace, &id).await?;
    let context = context(store, &session.workspace, &page, Some(&stored)).await?;
    let mut editor = context.editor(form_action(&id), &editable(&stored)?);
    editor.saved = query.saved.is_some();
    editor.restored = query.restored.and_then(|n| super::versions::restored_flash(page.lang, &n, stored.version));
    Ok(render(&EditorPage { page: &page, t: page.t, title: stored.name.clone(), stored: Some(stored.clone()), editor }))
}

/// Where the editor of automation `id` posts, relative to its page (`automations/{id}`).
fn form_action(id: &str) -> String {
    let mut encoded = String::new();
    for byte in id.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => encoded.push(byte as char),
            other => encoded.push_str(&format!("%{other:02X}")),
        }
    }
    encoded
}

/// The editor's form read back: the document, the edit asked for and the tab shown.
struct Submitted {
    doc: Value,
    edit: String,
    tab: &'static str,
    /// The "Try it" panel's inputs.
    trial: Inputs,
    /// Why the JSON tab's text is not a document.
    json_error: Option<String>,
}

fn read_form(pairs: Vec<(String, String)>) -> Result<Submitted, Failure> {
    let mut edit = "refresh".to_string();
    let mut tab = "flow";
    let mut json_text = None;
    let mut trial = Inputs::default();
    let mut inputs = Vec::with_capacity(pairs.len());
    for (name, value) in pairs {
        match name.as_str() {
            "edit" => edit = value,
            "try_messages" => trial.messages = value,
            "try_events" => trial.events = value,
            "tab" => tab = if value == "json" { "json" } else { "flow" },
            "json" => json_text = Some(value),
            _ => inputs.push((name, value)),
        }
    }
    let (doc, json_error) = match json_text {
        Some(text) => match serde_json::from_str::<Value>(&text) {
            Ok(doc) if doc.is_object() => (doc, None),
            Ok(_) => (json!({}), Some("the JSON is not an object".to_string())),
            Err(e) => (Value::String(text), Some(format!("the JSON cannot be read: {e}"))),
        },
        None => {
            let mut doc = document_from_form(&inputs).map_err(|BadPath(p)| Failure::malformed(format!("`{p}`")))?;
            prune_all(&mut doc);
            (doc, None)
        }
    };
    Ok(Submitted { doc, edit, tab, trial, json_error })
}

/// Drops the keys a trigger or action does not have (left over after its type changed).
fn prune_all(doc: &mut Value) {
    if let Some(trigger) = doc.get_mut("trigger").and_then(Value::as_object_mut) {
        fields::prune(trigger, true);
    }
    fn steps(list: Option<&mut Value>) {
        for step in list.and_then(Value::as_array_mut).into_iter().flatten() {
            let Some(action) = step.get_mut("action").and_then(Value::as_object_mut) else { continue };
            fields::prune(action, false);
            for branch in action.get_mut("branches").and_then(Value::as_array_mut).into_iter().flatten() {
                steps(branch.get_mut("steps"));
            }
            steps(action.get_mut("otherwise"));
            steps(action.get_mut("on_timeout"));
        }
    }
    steps(doc.get_mut("steps"));
}

/// Every problem of a document, each at its path: its shape (the first), else every rule.
fn problems(doc: &Value, id: Option<&str>, workspace: Option<&Workspace>) -> Vec<(String, String)> {
    let mut doc = doc.clone();
    if let (Some(id), Some(object)) = (id, doc.as_object_mut()) {
        object.insert("id".into(), json!(id));
    }
    match parse_document::<Automation>(doc) {
        Err(issue) => vec![(issue.path, issue.message)],
        Ok(automation) if automation.id.is_some() => {
            check_automation(&automation, workspace).into_iter().map(|i| (i.path, i.message)).collect()
        }
        // A new automation's id is generated when it is stored; check it under a stand-in.
        Ok(mut automation) => {
            automation.id = Some(AutomationId::parse(NEW_ID).expect("a valid id"));
            check_automation(&automation, workspace).into_iter().map(|i| (i.path, i.message)).collect()
        }
    }
}

/// `POST automations/new` and `POST automations/{id}`: an edit of the form, or saving it.
async fn submit<S: Management, E: EventQueue>(
    console: &Console<S, E>,
    page: &Page,
    session: &Session,
    id: Option<String>,
    pairs: Vec<(String, String)>,
) -> Result<Response, Failure> {
    let store = &console.app.store;
    let ws = &session.workspace;
    let stored = match &id {
        Some(id) => Some(manage::automation(store, ws, id).await?),
        None => None,
    };
    let Submitted { mut doc, edit, mut tab, trial, json_error } = read_form(pairs)?;
    let title = stored.as_ref().map_or_else(|| page.t.new_automation.to_string(), |a| a.name.clone());
    let context = context(store, ws, page, stored.as_deref()).await?;
    let action = id.as_deref().map_or_else(|| "new".to_string(), form_action);
    let mut errors = Vec::new();
    let mut tried = None;
    match edit.as_str() {
        "try" if json_error.is_none() => {
            let workspace = store.workspace(ws).await?;
            errors = problems(&doc, id.as_deref(), workspace.as_deref());
            let t = TrialTexts::of(page.lang);
            tried = Some(if errors.is_empty() {
                try_it(store, ws, workspace.as_deref(), &doc, id.as_deref(), &trial, page.lang).await?
            } else {
                Tried::Notice(t.fix_first.to_string())
            });
        }
        "save" if json_error.is_none() => {
            let workspace = store.workspace(ws).await?;
            errors = problems(&doc, id.as_deref(), workspace.as_deref());
            if errors.is_empty() {
                let saved = match &id {
                    Some(id) => manage::update_automation(store, ws, id, doc.clone(), chrono::Utc::now()).await,
                    None => manage::create_automation(store, ws, doc.clone(), chrono::Utc::now()).await,
                };
                match saved {
                    Ok(automation) => {
                        let target = format!("automations/{}?saved=1", form_action(automation.id().as_str()));
                        return Ok(page.redirect(&target));
                    }
                    Err(ManageError::Invalid(issue) | ManageError::Conflict(issue)) => {
                        errors.push((issue.path, issue.message));
                    }
                    Err(other) => return Err(other.into()),
                }
            }
        }
        "save" | "refresh" => {}
        "tab:json" => tab = "json",
        "tab:flow" => tab = if json_error.is_some() { "json" } else { "flow" },
        other => match Edit::parse(other) {
            Ok(edit) if json_error.is_none() => edit.apply(&mut doc),
            Ok(_) => {}
            Err(BadPath(p)) => return Err(Failure::malformed(format!("`{p}` is not an edit of the editor"))),
        },
    }
    let mut editor = match (&doc, &json_error) {
        (Value::String(text), Some(_)) => {
            let mut editor = context.editor(action, &json!({}));
            editor.json = text.clone();
            editor
        }
        _ => context.editor(action, &doc),
    };
    editor.tab = tab;
    editor.trial = trial;
    match tried {
        Some(Tried::Chat(chat)) => editor.chat = Some(chat),
        Some(Tried::Notice(notice)) => editor.notice = Some(notice),
        None => {}
    }
    if let Some(error) = json_error {
        errors.push((String::new(), error));
    }
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    if tab == "json" {
        editor.errors = errors.into_iter().map(|(p, m)| if p.is_empty() { m } else { format!("{p}: {m}") }).collect();
        editor.any_error = !editor.errors.is_empty();
    } else {
        editor.place(errors);
    }
    Ok(show(status, page, title, stored, editor))
}

/// What a try showed: the chat, or why there is none.
enum Tried {
    Chat(Vec<Entry>),
    Notice(String),
}

/// The most entries a try's chat shows (a pasted events file can make thousands).
const MAX_CHAT_ENTRIES: usize = 500;

/// Runs the document on screen (valid: checked by the caller) with the workspace's other
/// automations on the test contact's messages or the pasted events; on, whatever its switch.
async fn try_it<S: Management>(
    store: &S,
    ws: &WorkspaceId,
    workspace: Option<&Workspace>,
    doc: &Value,
    id: Option<&str>,
    inputs: &Inputs,
    lang: Lang,
) -> Result<Tried, Failure> {
    let t = TrialTexts::of(lang);
    let Some(workspace) = workspace else { return Ok(Tried::Notice(t.no_workspace.to_string())) };
    let phone_number_id = workspace.whatsapp.as_ref().map_or("0", |w| w.phone_number_id.as_str());
    let start = chrono::Utc::now().with_nanosecond(0).unwrap_or_else(chrono::Utc::now);
    let events = match trial::events(inputs, phone_number_id, start, t) {
        Ok(events) => events,
        Err(notice) => return Ok(Tried::Notice(notice)),
    };
    let messages = trial::written(&events);
    let id = id.unwrap_or(NEW_ID);
    let mut tried = doc.clone();
    if let Some(object) = tried.as_object_mut() {
        object.insert("id".into(), json!(id));
        object.insert("enabled".into(), json!(true));
    }
    let mut documents = Vec::new();
    for automation in store.automations(ws).await? {
        if automation.id().as_str() != id {
            documents.push(editable(&automation)?);
        }
    }
    let automation = parse_document::<Automation>(tried.clone()).ok();
    documents.push(tried);
    let scenario = Scenario { automations: Some(documents), events, until: None };
    match run_scenario(store, ws, scenario, TIME_LIMIT, Vec::<Line>::new()).await {
        Ok((_, lines)) if lines.is_empty() => Ok(Tried::Notice(t.empty.to_string())),
        Ok((_, lines)) => {
            let mut chat = trial::chat(&messages, &lines, automation.as_ref(), start, lang);
            chat.truncate(MAX_CHAT_ENTRIES);
            Ok(Tried::Chat(chat))
        }
        Err(refused) => Ok(Tried::Notice(match refused.path {
            Some(path) => format!("{path}: {}", refused.message),
            None => refused.message,
        })),
    }
}

/// `POST automations/new`.
pub async fn submit_new<S: Management, E: EventQueue>(
    State(console): Shared<S, E>,
    mut page: Page,
    session: Session,
    Form(pairs): Form<Vec<(String, String)>, EDITOR_FORM_LIMIT>,
) -> Result<Response, Failure> {
    page.nav = "automations";
    submit(&console, &page, &session, None, pairs).await
}

/// `POST automations/{id}`.
pub async fn submit_existing<S: Management, E: EventQueue>(
    State(console): Shared<S, E>,
    mut page: Page,
    session: Session,
    Path(id): Path<String>,
    Form(pairs): Form<Vec<(String, String)>, EDITOR_FORM_LIMIT>,
) -> Result<Response, Failure> {
    page.nav = "automations";
    submit(&console, &page, &session, Some(id), pairs).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_form_whose_type_changed_keeps_only_the_new_types_inputs() {
        let pairs = vec![
            ("name".to_string(), "x".to_string()),
            ("steps[0].after".into(), "0s".into()),
            ("steps[0].action.type".into(), "add_tag".into()),
            ("steps[0].action.text".into(), "left over".into()),
            ("steps[0].action.tag".into(), "vip".into()),
        ];
        let submitted = read_form(pairs).unwrap();
        assert_eq!(submitted.doc["steps"][0]["action"], json!({ "type": "add_tag", "tag": "vip" }));
    }

    #[test]
    fn a_new_automation_is_checked_under_a_stand_in_id() {
        let doc = json!({ "name": "", "trigger": { "type": "customer_message", "phrase": "Ciao" },
                          "steps": [ { "after": "0s", "action": { "type": "send_text", "text": "" } } ] });
        let found = problems(&doc, None, None);
        let paths: Vec<&str> = found.iter().map(|(p, _)| p.as_str()).collect();
        assert!(paths.contains(&"name") && paths.contains(&"steps[0].action.text"), "{found:?}");
    }
}
