//! The management API's rules (`/v1`): what may be stored, what a change sets
//! off (date triggers re-indexed, runs queued), and what is never shown
//! (write-only secrets). The HTTP layer only reads paths and bodies and maps
//! [`ManageError`] to a status; every decision is here, over the [`Management`] port.

use crate::domain::automation::{Automation, Trigger};
use crate::domain::contact::{ConsentChoice, Contact, MarketingConsent};
use crate::domain::ids::{AutomationId, Language, ListName, RunId, Tag, TemplateName, WorkspaceId};
use crate::domain::phone::{ContactKey, WaId};
use crate::domain::run::Run;
use crate::domain::workspace::{
    ParameterFormat, Secret, Template, TemplateButton, TemplateCategory, TemplateHeader, TemplateStatus, Workspace,
};
use crate::engine::{self, ContactEdit, ContactPatch};
use crate::ports::{
    ContactFilter, EventQueue, Management, Page, PipelineEvent, QueueError, RunFilter, RunPosition, StoreError,
    SyncError, TemplateAccount, TemplateSource, Versioned, WriteError,
};
use crate::stages::retry_lost_races;
use crate::time::Time;
use crate::validate::{Issue, check_automation, parse_document, validate_account, validate_template};
use serde::Deserialize;
use serde_json::Value;
use std::sync::Arc;

/// Why a management request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManageError {
    /// A value is wrong (422); the issue names its path.
    #[error("{0}")]
    Invalid(Issue),
    /// The change conflicts with what is stored (409): a phrase, a fallback, an id, a number.
    #[error("{0}")]
    Conflict(Issue),
    #[error("{0}")]
    NotFound(String),
    /// The store failed or kept losing races; the caller may retry.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Meta failed or refused what Avvio asked it (502): nothing was written.
    #[error(transparent)]
    Meta(#[from] SyncError),
}

impl ManageError {
    fn invalid(code: &'static str, path: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid(Issue::new(code, path, message))
    }

    fn conflict(code: &'static str, path: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Conflict(Issue::new(code, path, message))
    }
}

impl From<WriteError> for ManageError {
    fn from(e: WriteError) -> Self {
        match e {
            WriteError::Catalog(crate::catalog::CatalogError::NotFound(id)) => {
                Self::NotFound(format!("no automation `{id}`"))
            }
            WriteError::Catalog(c) => Self::conflict(c.code(), c.path(), c.to_string()),
            WriteError::IntegrationIdTaken(_) => Self::conflict("id_taken", "id", e.to_string()),
            WriteError::NumberTaken(_) => Self::conflict("number_taken", "whatsapp.phone_number_id", e.to_string()),
            WriteError::Store(s) => Self::Store(s),
        }
    }
}

impl crate::stages::LostRace for ManageError {
    fn lost_race(&self) -> bool {
        matches!(self, Self::Store(StoreError::Conflict(_)))
    }
}

/// [`retry_lost_races`] for management writes.
async fn retrying<T, F, Fut>(attempt: F) -> Result<T, ManageError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, ManageError>>,
{
    retry_lost_races(attempt).await
}

/// A fresh random token (`prefix` + 32 hex digits) from the OS's generator: ids, secrets, request ids.
pub fn fresh_token(prefix: &str) -> String {
    let mut bytes = [0u8; 16];
    getrandom::getrandom(&mut bytes).expect("the OS random generator is available");
    format!("{prefix}{}", hex::encode(bytes))
}

fn parse_id<T, E: std::fmt::Display>(
    parse: impl FnOnce(&str) -> Result<T, E>,
    raw: &str,
    what: &str,
) -> Result<T, ManageError> {
    parse(raw).map_err(|e| ManageError::invalid("invalid_value", what, e.to_string()))
}

/// Reads a contact key from a path: a phone (`+39 333 …`) or a BSUID.
pub fn contact_key(raw: &str) -> Result<ContactKey, ManageError> {
    parse_id(ContactKey::parse, raw, "phone")
}

// ---------------------------------------------------------------------------
// Workspace and templates
// ---------------------------------------------------------------------------

async fn stored_workspace<S: Management>(
    store: &S,
    ws: &WorkspaceId,
) -> Result<Versioned<Arc<Workspace>>, ManageError> {
    store
        .workspace_versioned(ws)
        .await?
        .ok_or_else(|| ManageError::NotFound("the workspace has no document yet: PUT /v1/workspace first".into()))
}

/// `GET /v1/workspace`: the document without its secrets.
pub async fn workspace<S: Management>(store: &S, ws: &WorkspaceId) -> Result<Value, ManageError> {
    Ok(stored_workspace(store, ws).await?.item.public_view())
}

/// `PUT /v1/workspace`: replaces the document. The write-only secrets (`access_token`,
/// `webhook_secret`) keep their stored value when absent and are cleared by `""`.
/// A new timezone moves every date trigger, so they are re-indexed.
pub async fn put_workspace<S: Management>(
    store: &S,
    ws: &WorkspaceId,
    body: Value,
    now: Time,
) -> Result<Value, ManageError> {
    let given: Workspace = parse_document(without_read_only(body)).map_err(ManageError::Invalid)?;
    check_templates(&given.templates)?;
    Ok(write_workspace(store, ws, given, false, now).await?.public_view())
}

/// The console's workspace form: stores `settings` as `PUT /v1/workspace` stores a document,
/// except that the templates stay as stored when written (`settings.templates` is not read), so
/// a template changed meanwhile is not lost. A secret left `None` keeps its stored value.
pub async fn put_workspace_settings<S: Management>(
    store: &S,
    ws: &WorkspaceId,
    settings: Workspace,
    now: Time,
) -> Result<Workspace, ManageError> {
    write_workspace(store, ws, settings, true, now).await
}

/// Writes `given` over the stored document, keeping the stored secrets it leaves out (and
/// clearing those it sets to `""`) and, with `keep_templates`, the stored templates; then
/// re-indexes the date triggers when the timezone changed.
async fn write_workspace<S: Management>(
    store: &S,
    ws: &WorkspaceId,
    given: Workspace,
    keep_templates: bool,
    now: Time,
) -> Result<Workspace, ManageError> {
    if let Some(issue) = given.whatsapp.as_ref().and_then(|account| validate_account(account).into_iter().next()) {
        return Err(ManageError::Invalid(issue));
    }
    let (doc, moved) = retrying(|| async {
        let stored = store.workspace_versioned(ws).await?;
        let mut doc = given.clone();
        if keep_templates {
            doc.templates = stored.as_ref().map(|v| v.item.templates.clone()).unwrap_or_default();
        }
        if let Some(previous) = stored.as_ref().map(|v| &v.item) {
            if doc.webhook_secret.is_none() {
                doc.webhook_secret = previous.webhook_secret.clone();
            }
            if let (Some(account), Some(before)) = (doc.whatsapp.as_mut(), previous.whatsapp.as_ref()) {
                if account.access_token.is_none() {
                    account.access_token = before.access_token.clone();
                }
            }
        }
        clear_empty(&mut doc.webhook_secret);
        if let Some(account) = doc.whatsapp.as_mut() {
            clear_empty(&mut account.access_token);
        }
        let moved = stored.as_ref().is_some_and(|v| v.item.timezone != doc.timezone);
        store.put_workspace(ws, &doc, stored.and_then(|v| v.revision)).await?;
        Ok((doc, moved))
    })
    .await?;
    if moved {
        for automation in store.date_automations(ws).await? {
            reindex_dates(store, ws, &automation, now).await?;
        }
    }
    Ok(doc)
}

/// Drops what `GET /v1/workspace` adds (`access_token_set`, `webhook_secret_set`), so a
/// document read can be written back as it is.
fn without_read_only(mut body: Value) -> Value {
    if let Some(doc) = body.as_object_mut() {
        doc.remove("webhook_secret_set");
        if let Some(account) = doc.get_mut("whatsapp").and_then(Value::as_object_mut) {
            account.remove("access_token_set");
        }
    }
    body
}

fn clear_empty(secret: &mut Option<Secret>) {
    if secret.as_ref().is_some_and(|s| s.expose().is_empty()) {
        *secret = None;
    }
}

fn check_templates(templates: &[Template]) -> Result<(), ManageError> {
    for (i, t) in templates.iter().enumerate() {
        if let Some(issue) = validate_template(t).into_iter().next() {
            return Err(ManageError::Invalid(Issue { path: format!("templates[{i}].{}", issue.path), ..issue }));
        }
        if templates[..i].iter().any(|o| o.name == t.name && o.language == t.language) {
            return Err(ManageError::conflict(
                "duplicate_template",
                format!("templates[{i}]"),
                format!("template {}/{} is listed twice", t.name, t.language),
            ));
        }
    }
    Ok(())
}

/// The body of `PUT /v1/templates/{name}/{language}`: the name and language come from the path.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct TemplateInput {
    #[serde(default)]
    name: Option<TemplateName>,
    #[serde(default)]
    language: Option<Language>,
    status: TemplateStatus,
    #[serde(default)]
    category: TemplateCategory,
    #[serde(default)]
    parameter_format: ParameterFormat,
    body: String,
    #[serde(default)]
    header: Option<TemplateHeader>,
    #[serde(default, deserialize_with = "crate::domain::workspace::template_buttons")]
    buttons: Vec<TemplateButton>,
}

/// `GET /v1/templates`.
pub async fn templates<S: Management>(store: &S, ws: &WorkspaceId) -> Result<Vec<Template>, ManageError> {
    Ok(stored_workspace(store, ws).await?.item.templates.clone())
}

/// `PUT /v1/templates/{name}/{language}`: creates (`true`) or replaces a template.
pub async fn put_template<S: Management>(
    store: &S,
    ws: &WorkspaceId,
    name: &str,
    language: &str,
    body: Value,
) -> Result<(bool, Template), ManageError> {
    let name = parse_id(|r| TemplateName::parse(r), name, "name")?;
    let language = parse_id(|r| Language::parse(r), language, "language")?;
    let input: TemplateInput = parse_document(body).map_err(ManageError::Invalid)?;
    if input.name.as_ref().is_some_and(|n| n != &name) {
        return Err(ManageError::invalid("invalid_value", "name", "the name differs from the one in the URL"));
    }
    if input.language.as_ref().is_some_and(|l| l != &language) {
        return Err(ManageError::invalid("invalid_value", "language", "the language differs from the one in the URL"));
    }
    let template = Template {
        name,
        language,
        status: input.status,
        category: input.category,
        parameter_format: input.parameter_format,
        body: input.body,
        header: input.header,
        buttons: input.buttons,
    };
    if let Some(issue) = validate_template(&template).into_iter().next() {
        return Err(ManageError::Invalid(issue));
    }
    retrying(|| async {
        let stored = stored_workspace(store, ws).await?;
        let mut doc = Workspace::clone(&stored.item);
        let created =
            match doc.templates.iter_mut().find(|t| t.name == template.name && t.language == template.language) {
                Some(existing) => {
                    *existing = template.clone();
                    false
                }
                None => {
                    doc.templates.push(template.clone());
                    true
                }
            };
        store.put_workspace(ws, &doc, stored.revision).await?;
        Ok((created, template.clone()))
    })
    .await
}

/// `DELETE /v1/templates/{name}/{language}`. Steps still naming it fail with `template_not_approved`.
pub async fn delete_template<S: Management>(
    store: &S,
    ws: &WorkspaceId,
    name: &str,
    language: &str,
) -> Result<(), ManageError> {
    let name = parse_id(|r| TemplateName::parse(r), name, "name")?;
    let language = parse_id(|r| Language::parse(r), language, "language")?;
    retrying(|| async {
        let stored = stored_workspace(store, ws).await?;
        let mut doc = Workspace::clone(&stored.item);
        let before = doc.templates.len();
        doc.templates.retain(|t| !(t.name == name && t.language == language));
        if doc.templates.len() == before {
            return Err(ManageError::NotFound(format!("no template {name}/{language}")));
        }
        store.put_workspace(ws, &doc, stored.revision).await?;
        Ok(())
    })
    .await
}

/// The most pages [`sync_templates`] reads (100 templates each): far beyond Meta's limits on a
/// WhatsApp Business Account, so only a looping `paging.next` reaches it.
pub const MAX_TEMPLATE_PAGES: usize = 1000;

/// What [`sync_templates`] did: the counts, and what it left out of Meta's templates
/// (see [`crate::meta_templates`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct TemplateSync {
    #[serde(flatten)]
    pub counts: crate::meta_templates::TemplateDiff,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// `POST /v1/templates/sync`: reads every page of Meta's templates of the workspace's
/// `whatsapp.waba_id` first, then makes the workspace's templates equal to Meta's in one
/// conditional write. Any failure reading Meta writes nothing. `default_access_token` is used
/// when the workspace has none (`WHATSAPP_ACCESS_TOKEN` in `avvio dev`).
pub async fn sync_templates<S: Management, T: TemplateSource>(
    store: &S,
    source: &T,
    ws: &WorkspaceId,
    default_access_token: Option<&str>,
) -> Result<TemplateSync, ManageError> {
    let stored = stored_workspace(store, ws).await?.item;
    let account = stored.whatsapp.as_ref();
    let waba_id = account.and_then(|a| a.waba_id.clone()).ok_or_else(|| {
        ManageError::invalid(
            "missing_field",
            "whatsapp.waba_id",
            "the workspace has no whatsapp.waba_id: set the WhatsApp Business Account whose templates to read",
        )
    })?;
    let access_token = account
        .and_then(|a| a.access_token.as_ref().map(|t| t.expose().to_string()))
        .or_else(|| default_access_token.map(str::to_string))
        .ok_or_else(|| {
            ManageError::invalid("missing_field", "whatsapp.access_token", "the workspace has no whatsapp.access_token")
        })?;
    let account = TemplateAccount { waba_id, access_token };
    let mut elements = Vec::new();
    let mut next: Option<String> = None;
    for page in 0.. {
        if page == MAX_TEMPLATE_PAGES {
            return Err(SyncError::Refused(format!("Meta's list goes on past {MAX_TEMPLATE_PAGES} pages")).into());
        }
        let read = source.page(&account, next.as_deref()).await?;
        elements.extend(read.templates);
        match read.next {
            Some(url) if Some(&url) == next.as_ref() => {
                return Err(SyncError::Refused(format!("Meta's paging.next repeats the page it is on: {url}")).into());
            }
            Some(url) => next = Some(url),
            None => break,
        }
    }
    let mut notes = Vec::new();
    let templates = crate::meta_templates::templates_of(&elements, &mut notes);
    let counts = retrying(|| async {
        let stored = stored_workspace(store, ws).await?;
        let counts = crate::meta_templates::diff(&stored.item.templates, &templates);
        if counts != crate::meta_templates::TemplateDiff::default() || stored.item.templates != templates {
            let mut doc = Workspace::clone(&stored.item);
            doc.templates = templates.clone();
            store.put_workspace(ws, &doc, stored.revision).await?;
        }
        Ok(counts)
    })
    .await?;
    Ok(TemplateSync { counts, notes })
}

// ---------------------------------------------------------------------------
// Automations
// ---------------------------------------------------------------------------

/// Reads and checks an automation document against the workspace's templates.
/// `id`: the automation's id when the URL names it (an update): the document's must agree,
/// and an absent one is filled in before the checks (which compare steps with the id).
fn read_automation(
    body: Value,
    id: Option<&AutomationId>,
    workspace: Option<&Workspace>,
) -> Result<Automation, ManageError> {
    let mut automation: Automation = parse_document(body).map_err(ManageError::Invalid)?;
    if let Some(id) = id {
        match &automation.id {
            Some(given) if given != id => {
                return Err(ManageError::invalid("invalid_value", "id", "the id differs from the one in the URL"));
            }
            _ => automation.id = Some(id.clone()),
        }
    }
    match check_automation(&automation, workspace).into_iter().next() {
        Some(issue) => Err(ManageError::Invalid(issue)),
        None => Ok(automation),
    }
}

/// `POST /v1/automations`: stores a new automation as version 1. The id and an
/// integration trigger's secret are generated when absent.
pub async fn create_automation<S: Management>(
    store: &S,
    ws: &WorkspaceId,
    body: Value,
    now: Time,
) -> Result<Arc<Automation>, ManageError> {
    let workspace = store.workspace(ws).await?;
    let mut automation = read_automation(body, None, workspace.as_deref())?;
    if automation.id.is_none() {
        automation.id = Some(AutomationId::parse(fresh_token("a-")).expect("a valid id"));
    }
    if let Trigger::Integration { secret: secret @ None } = &mut automation.trigger {
        *secret = Some(fresh_token(""));
    }
    automation.saved_at = Some(now);
    let stored = store.create_automation(ws, automation).await?;
    if engine::date_rule(&stored.trigger).is_some() {
        reindex_dates(store, ws, &stored, now).await?;
    }
    Ok(stored)
}

/// `PUT /v1/automations/{id}`: stores the next version. An integration trigger without a
/// secret keeps the one it had. Runs already started keep the version they started with.
pub async fn update_automation<S: Management>(
    store: &S,
    ws: &WorkspaceId,
    id: &str,
    body: Value,
    now: Time,
) -> Result<Arc<Automation>, ManageError> {
    let id = parse_id(|r| AutomationId::parse(r), id, "id")?;
    let previous =
        store.automation(ws, &id).await?.ok_or_else(|| ManageError::NotFound(format!("no automation `{id}`")))?;
    let workspace = store.workspace(ws).await?;
    let mut automation = read_automation(body, Some(&id), workspace.as_deref())?;
    if let Trigger::Integration { secret: secret @ None } = &mut automation.trigger {
        *secret = previous.trigger.integration_secret().map(str::to_string).or_else(|| Some(fresh_token("")));
    }
    automation.saved_at = Some(now);
    let stored = store.update_automation(ws, automation).await?;
    if engine::date_rule(&previous.trigger).is_some() || engine::date_rule(&stored.trigger).is_some() {
        reindex_dates(store, ws, &stored, now).await?;
    }
    Ok(stored)
}

/// `GET /v1/automations/{id}`.
pub async fn automation<S: Management>(store: &S, ws: &WorkspaceId, id: &str) -> Result<Arc<Automation>, ManageError> {
    let id = parse_id(|r| AutomationId::parse(r), id, "id")?;
    store.automation(ws, &id).await?.ok_or_else(|| ManageError::NotFound(format!("no automation `{id}`")))
}

/// `GET /v1/automations/{id}/versions`: every stored version, oldest first (a deleted
/// automation's too: its runs may still be read).
pub async fn versions<S: Management>(
    store: &S,
    ws: &WorkspaceId,
    id: &str,
) -> Result<Vec<Arc<Automation>>, ManageError> {
    let id = parse_id(|r| AutomationId::parse(r), id, "id")?;
    let versions = store.versions(ws, &id).await?;
    if versions.is_empty() {
        return Err(ManageError::NotFound(format!("no automation `{id}`")));
    }
    Ok(versions)
}

/// `GET /v1/automations/{id}/versions/{n}`.
pub async fn version<S: Management>(
    store: &S,
    ws: &WorkspaceId,
    id: &str,
    version: &str,
) -> Result<Arc<Automation>, ManageError> {
    let id = parse_id(|r| AutomationId::parse(r), id, "id")?;
    let not_found = || ManageError::NotFound(format!("automation `{id}` has no version `{version}`"));
    let number: u32 = version.parse().map_err(|_| not_found())?;
    store.automation_version(ws, &id, number).await?.ok_or_else(not_found)
}

/// `GET /v1/automations/{id}/stats`: the counters of the runs started in `days`.
pub async fn stats<S: Management>(
    store: &S,
    ws: &WorkspaceId,
    id: &str,
    days: crate::stats::Days,
) -> Result<crate::stats::Stats, ManageError> {
    let id = parse_id(|r| AutomationId::parse(r), id, "id")?;
    // Version 1 is kept for good: an automation that ever existed has it.
    if store.automation_version(ws, &id, 1).await?.is_none() {
        return Err(ManageError::NotFound(format!("no automation `{id}`")));
    }
    Ok(crate::stats::Stats::sum(&store.stats(ws, &id, days).await?))
}

/// `DELETE /v1/automations/{id}`: it stops firing and its runs' pending steps are cancelled.
pub async fn delete_automation<S: Management>(store: &S, ws: &WorkspaceId, id: &str) -> Result<(), ManageError> {
    let id = parse_id(|r| AutomationId::parse(r), id, "id")?;
    Ok(store.delete_automation(ws, &id).await?)
}

/// Re-computes, for every contact, when `automation` next comes due (nothing when
/// it is disabled or no longer a date automation).
async fn reindex_dates<S: Management>(
    store: &S,
    ws: &WorkspaceId,
    automation: &Automation,
    now: Time,
) -> Result<(), ManageError> {
    let Some(workspace) = store.workspace(ws).await? else { return Ok(()) };
    let today = crate::calendar::local(workspace.timezone, now).date();
    for contact in store.contacts(ws, &ContactFilter::default()).await? {
        let due =
            if automation.enabled { engine::next_date_due(automation, &contact, &workspace, today) } else { None };
        store.set_date_due(ws, automation.id(), &contact.key(), due).await?;
    }
    Ok(())
}

/// The body of `POST /v1/automations/{id}/run`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RunRequest {
    #[serde(default)]
    phone: Option<String>,
}

/// `POST /v1/automations/{id}/run`: checks the request and returns the event that
/// starts the run(s), for the caller to queue. `{"phone": …}` runs for one contact
/// (any trigger); `{}` runs a `list` automation for every current member.
pub async fn manual_run<S: Management>(
    store: &S,
    ws: &WorkspaceId,
    id: &str,
    body: Value,
    request_id: String,
) -> Result<PipelineEvent, ManageError> {
    let automation = automation(store, ws, id).await?;
    let request: RunRequest = parse_document(body).map_err(ManageError::Invalid)?;
    if !automation.enabled {
        return Err(ManageError::conflict(
            "automation_disabled",
            "enabled",
            format!("automation `{}` is disabled: enable it to run it", automation.id()),
        ));
    }
    let phone = request.phone.as_deref().map(|raw| parse_id(WaId::parse, raw, "phone")).transpose()?;
    if phone.is_none() && !matches!(automation.trigger, Trigger::List { .. }) {
        return Err(ManageError::invalid(
            "missing_field",
            "phone",
            format!("a {} automation runs for one contact: give a phone", automation.trigger.kind()),
        ));
    }
    Ok(PipelineEvent::Manual {
        workspace: ws.clone(),
        automation: automation.id().clone(),
        phone,
        request_id,
        after: None,
    })
}

// ---------------------------------------------------------------------------
// Contacts and lists
// ---------------------------------------------------------------------------

/// `GET /v1/contacts/{phone}`.
pub async fn contact<S: Management>(store: &S, ws: &WorkspaceId, key: &str) -> Result<Contact, ManageError> {
    let key = contact_key(key)?;
    Ok(store.contact(ws, &key).await?.ok_or_else(|| ManageError::NotFound(format!("no contact `{key}`")))?.item)
}

/// What `PUT /v1/contacts/{phone}` did.
#[derive(Debug, Clone, PartialEq)]
pub struct ContactPut {
    pub created: bool,
    pub contact: Contact,
    /// When the consent changed: the event that starts its `consent` automations, for the
    /// caller to queue (and the consent before, for [`undo_consent`] when it cannot).
    pub consent_changed: Option<(PipelineEvent, MarketingConsent)>,
}

/// `PUT /v1/contacts/{phone}`: creates or changes a contact. `name` and `operator`
/// replace (`"operator": null` unassigns), `fields` are merged in (a field given `null` is
/// removed), `tags` replace the set when given, `marketing` sets the
/// consent (a change starts the `consent` automations, through the returned event).
/// Lists change through `/v1/lists`, which fires list triggers.
pub async fn put_contact<S: Management>(
    store: &S,
    ws: &WorkspaceId,
    key: &str,
    body: Value,
    now: Time,
) -> Result<ContactPut, ManageError> {
    let key = contact_key(key)?;
    let patch: ContactPatch = parse_document(body).map_err(ManageError::Invalid)?;
    change_contact(store, ws, &key, true, now, |contact| patch.clone().apply(contact)).await
}

/// What [`edit_contact`] did: the contact changed, and the list changes it asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct ContactEdited {
    pub put: ContactPut,
    /// The events that bring the contact's lists to the ones wanted, for the caller to queue
    /// after the consent's ([`queue_consent_change`]), as `/v1/lists` queues them: a new
    /// member fires the list's automations. None adds a blocked contact (it is in no list).
    pub list_changes: Vec<PipelineEvent>,
}

/// The console's contact form: sets an existing contact's name, fields, tags, operator,
/// consent and blocked state as given ([`ContactEdit`]), as `PUT /v1/contacts/{phone}` stores
/// a change (date triggers re-indexed, a consent change's event returned, put back when
/// refused), and returns the list changes for the lists wanted.
pub async fn edit_contact<S: Management>(
    store: &S,
    ws: &WorkspaceId,
    key: &str,
    edit: ContactEdit,
    now: Time,
) -> Result<ContactEdited, ManageError> {
    let key = contact_key(key)?;
    let wanted = edit.lists.clone();
    let put = change_contact(store, ws, &key, false, now, |contact| edit.clone().apply(contact)).await?;
    let contact = put.contact.key();
    let change = |list: &ListName, add: bool| {
        let (workspace, list, contact, request_id) = (ws.clone(), list.clone(), contact.clone(), fresh_token("req-"));
        if add {
            PipelineEvent::ListAdd { workspace, list, contact, request_id }
        } else {
            PipelineEvent::ListRemove { workspace, list, contact, request_id }
        }
    };
    let mut list_changes: Vec<PipelineEvent> =
        put.contact.lists.difference(&wanted).map(|list| change(list, false)).collect();
    if !put.contact.blocked {
        list_changes.extend(wanted.difference(&put.contact.lists).map(|list| change(list, true)));
    }
    Ok(ContactEdited { put, list_changes })
}

/// Changes the contact `key` (creating it when `create`, else `NotFound`), stores it, and
/// re-indexes its date triggers; a changed consent is put back when that fails. `change`
/// returns the consent the contact changed to, when it changed.
async fn change_contact<S: Management>(
    store: &S,
    ws: &WorkspaceId,
    key: &ContactKey,
    create: bool,
    now: Time,
    change: impl Fn(&mut Contact) -> Option<ConsentChoice>,
) -> Result<ContactPut, ManageError> {
    let workspace = stored_workspace(store, ws).await?.item;
    let (created, contact, consent, before) = retrying(|| async {
        let (mut contact, revision) = match store.contact(ws, key).await? {
            Some(Versioned { item, revision }) => (item, revision),
            None if create => (Contact::new(key), None),
            None => return Err(ManageError::NotFound(format!("no contact `{key}`"))),
        };
        let before = contact.marketing;
        let consent = change(&mut contact);
        store.put_contact(ws, &contact, revision).await?;
        Ok((revision.is_none(), contact, consent, before))
    })
    .await?;
    if let Err(e) = crate::stages::refresh_dates(store, ws, &workspace, &contact, now).await {
        // Refused: a changed consent is put back, so a retry changes it (and queues its event).
        if let Some(marketing) = consent {
            let _ = put_back_consent(store, ws, &contact.key(), marketing, before).await;
        }
        return Err(e.into());
    }
    let consent_changed = consent.map(|marketing| {
        let event = PipelineEvent::ConsentChanged {
            workspace: ws.clone(),
            contact: contact.key(),
            marketing,
            request_id: fresh_token("req-"),
        };
        (event, before)
    });
    Ok(ContactPut { created, contact, consent_changed })
}

/// Queues the event of a contact's consent change, if it changed: its `consent` automations
/// start behind the queue. When it cannot be queued, the consent is put back ([`undo_consent`],
/// best effort) so that a retry of the request changes it, and queues the event, again.
pub async fn queue_consent_change<S: Management, E: EventQueue>(
    store: &S,
    events: &E,
    ws: &WorkspaceId,
    put: &ContactPut,
) -> Result<(), QueueError> {
    let Some((event, _)) = &put.consent_changed else { return Ok(()) };
    if let Err(e) = events.enqueue(event.clone()).await {
        let _ = undo_consent(store, ws, put).await;
        return Err(e);
    }
    Ok(())
}

/// Puts a contact's consent back to `before` when the event of its change could not be
/// queued, so that a retry of the request changes it (and queues the event) again. Best
/// effort: a contact changed meanwhile is left as it is.
pub async fn undo_consent<S: Management>(store: &S, ws: &WorkspaceId, put: &ContactPut) -> Result<(), ManageError> {
    match &put.consent_changed {
        Some((PipelineEvent::ConsentChanged { contact, marketing, .. }, before)) => {
            put_back_consent(store, ws, contact, *marketing, *before).await
        }
        _ => Ok(()),
    }
}

/// Sets a contact's consent back to `before` if it still is `changed_to`.
async fn put_back_consent<S: Management>(
    store: &S,
    ws: &WorkspaceId,
    key: &ContactKey,
    changed_to: ConsentChoice,
    before: MarketingConsent,
) -> Result<(), ManageError> {
    if let Some(Versioned { item: mut contact, revision }) = store.contact(ws, key).await?
        && contact.marketing == MarketingConsent::from(changed_to)
    {
        contact.marketing = before;
        store.put_contact(ws, &contact, revision).await?;
    }
    Ok(())
}

/// `DELETE /v1/contacts/{phone}`: the contact, its keys and its date triggers. Its pending steps find no contact and do nothing.
pub async fn delete_contact<S: Management>(
    store: &S,
    ws: &WorkspaceId,
    key: &str,
    now: Time,
) -> Result<(), ManageError> {
    let key = contact_key(key)?;
    let not_found = || ManageError::NotFound(format!("no contact `{key}`"));
    let contact = store.contact(ws, &key).await?.ok_or_else(not_found)?.item;
    if !store.delete_contact(ws, &key).await? {
        return Err(not_found());
    }
    // Its active runs end (`contact_deleted`): their pending steps would find no contact.
    for key in contact.keys() {
        let filter = RunFilter { contact: Some(key), automation: None };
        for run in store.runs(ws, &filter).await? {
            if run.status == crate::domain::run::RunStatus::Active {
                end_run_of_deleted_contact(store, ws, &run.id, now).await?;
            }
        }
    }
    Ok(())
}

/// Ends one run of a deleted contact at its stored revision, read again when a delivery status
/// or a step's result changed it meanwhile.
async fn end_run_of_deleted_contact<S: Management>(
    store: &S,
    ws: &WorkspaceId,
    id: &crate::domain::ids::RunId,
    now: Time,
) -> Result<(), StoreError> {
    const ATTEMPTS: usize = 5;
    for attempt in 1..=ATTEMPTS {
        let Some(stored) = store.run(ws, id).await? else { return Ok(()) };
        let base = stored.base();
        let mut run = stored.run;
        if !engine::end_for_deleted_contact(&mut run, now) {
            return Ok(());
        }
        match store.put_run(ws, &run, &base).await {
            Err(StoreError::Conflict(_)) if attempt < ATTEMPTS => continue,
            other => return other.map(|_| ()),
        }
    }
    Ok(())
}

/// `GET /v1/contacts?tag=&list=`.
pub async fn contacts<S: Management>(
    store: &S,
    ws: &WorkspaceId,
    tag: Option<&str>,
    list: Option<&str>,
) -> Result<Vec<Contact>, ManageError> {
    Ok(store.contacts(ws, &contact_filter(tag, list)?).await?)
}

/// A page of `GET /v1/contacts`: at most `limit` contacts after key `after`.
pub async fn contacts_page<S: Management>(
    store: &S,
    ws: &WorkspaceId,
    tag: Option<&str>,
    list: Option<&str>,
    after: Option<&ContactKey>,
    limit: usize,
) -> Result<Page<Contact, ContactKey>, ManageError> {
    Ok(store.contacts_page(ws, &contact_filter(tag, list)?, after, limit).await?)
}

/// The first `limit` contacts of [`contacts`] that `keep` keeps, and how many it keeps in all.
pub async fn first_contacts<S: Management>(
    store: &S,
    ws: &WorkspaceId,
    tag: Option<&str>,
    list: Option<&str>,
    keep: &(dyn Fn(&Contact) -> bool + Sync),
    limit: usize,
) -> Result<(Vec<Contact>, usize), ManageError> {
    let filter = contact_filter(tag, list)?;
    Ok(store.first_contacts(ws, &filter, keep, limit).await?)
}

fn contact_filter(tag: Option<&str>, list: Option<&str>) -> Result<ContactFilter, ManageError> {
    Ok(ContactFilter {
        tag: tag.map(|t| parse_id(|r| Tag::parse(r), t, "tag")).transpose()?,
        list: list.map(|l| parse_id(|r| ListName::parse(r), l, "list")).transpose()?,
    })
}

/// `PUT` (`add`) or `DELETE /v1/lists/{list}/contacts/{phone}`: checks the request and
/// returns the event that changes the membership, for the caller to queue (in order with
/// the contact's other events). Adding a blocked contact is refused: blocked contacts are in no list.
pub async fn list_change<S: Management>(
    store: &S,
    ws: &WorkspaceId,
    list: &str,
    key: &str,
    add: bool,
    request_id: String,
) -> Result<PipelineEvent, ManageError> {
    let list = parse_id(|r| ListName::parse(r), list, "list")?;
    let contact = contact_key(key)?;
    if !add {
        return Ok(PipelineEvent::ListRemove { workspace: ws.clone(), list, contact, request_id });
    }
    if store.contact(ws, &contact).await?.is_some_and(|c| c.item.blocked) {
        return Err(ManageError::conflict("contact_blocked", "phone", format!("contact `{contact}` is blocked")));
    }
    Ok(PipelineEvent::ListAdd { workspace: ws.clone(), list, contact, request_id })
}

// ---------------------------------------------------------------------------
// Runs
// ---------------------------------------------------------------------------

/// `GET /v1/runs?phone=&automation=`, newest first.
pub async fn runs<S: Management>(
    store: &S,
    ws: &WorkspaceId,
    phone: Option<&str>,
    automation: Option<&str>,
) -> Result<Vec<Run>, ManageError> {
    Ok(store.runs(ws, &run_filter(store, ws, phone, automation).await?).await?)
}

/// A page of `GET /v1/runs`: at most `limit` runs after `after`, newest first.
pub async fn runs_page<S: Management>(
    store: &S,
    ws: &WorkspaceId,
    phone: Option<&str>,
    automation: Option<&str>,
    after: Option<&RunPosition>,
    limit: usize,
) -> Result<Page<Run, RunPosition>, ManageError> {
    Ok(store.runs_page(ws, &run_filter(store, ws, phone, automation).await?, after, limit).await?)
}

/// The newest `limit` runs of [`runs`], and how many there are in all.
pub async fn newest_runs<S: Management>(
    store: &S,
    ws: &WorkspaceId,
    phone: Option<&str>,
    automation: Option<&str>,
    limit: usize,
) -> Result<(Vec<Run>, usize), ManageError> {
    Ok(store.newest_runs(ws, &run_filter(store, ws, phone, automation).await?, limit).await?)
}

async fn run_filter<S: Management>(
    store: &S,
    ws: &WorkspaceId,
    phone: Option<&str>,
    automation: Option<&str>,
) -> Result<RunFilter, ManageError> {
    let mut filter = RunFilter {
        contact: phone.map(contact_key).transpose()?,
        automation: automation.map(|a| parse_id(|r| AutomationId::parse(r), a, "automation")).transpose()?,
    };
    // Runs name a contact by its phone when known: a BSUID query finds the contact's phone.
    if let Some(key @ ContactKey::Bsuid(_)) = &filter.contact {
        if let Some(stored) = store.contact(ws, key).await? {
            filter.contact = Some(stored.item.key());
        }
    }
    Ok(filter)
}

/// `GET /v1/runs/{id}`.
pub async fn run<S: Management>(store: &S, ws: &WorkspaceId, id: &str) -> Result<Run, ManageError> {
    let id = parse_id(|r| RunId::parse(r), id, "id")?;
    let stored = store.run(ws, &id).await?;
    stored.map(|s| s.run).ok_or_else(|| ManageError::NotFound(format!("no run `{id}`")))
}
