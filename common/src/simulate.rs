//! `avvio simulate` and `POST /v1/simulate`: the real engine and stages on the
//! in-memory adapters and a virtual clock. Reads the events (the lines of an
//! events file, or the API's list of them), checks all of it before anything
//! runs, then walks time forward: events, due steps and date triggers in time
//! order, printing one line per effect. It reads no clock: a caller that must
//! stop it in time passes a budget ([`Simulation::run_within`]).

use crate::catalog::{Catalog, CatalogError};
use crate::domain::automation::Automation;
use crate::domain::contact::ConsentChoice;
use crate::domain::ids::{AutomationId, ListName, Tag, WorkspaceId};
use crate::domain::ids::{FieldKey, Operator};
use crate::domain::phone::ContactKey;
use crate::domain::workspace::{WhatsAppAccount, Workspace};
use crate::engine::{ContactPatch, Effect};
use crate::memory::{MemoryPoster, MemorySender, MemoryStepQueue, MemoryStore};
use crate::stages::matcher::{IntegrationCall, integration_authorized};
use crate::stages::{Deps, StageError};
use crate::time::{Time, format_rfc3339, parse_rfc3339};
use crate::validate::{Document, Problem, check_set};
use crate::webhook::{InboundEvent, Reader, TypedWebhook, parse_webhook};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// How long the clock runs after the last event when no `--until` is given.
pub const DEFAULT_TAIL: chrono::Duration = chrono::Duration::days(31);

/// The id the simulated workspace has (it appears in default webhook bodies).
pub const SIMULATED_WORKSPACE: &str = "simulated";

/// Why a simulation could not run.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("{file}: {message}")]
    Workspace { file: String, message: String },
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Automations(Vec<Problem>),
    /// A line of the events file: `path` names the bad value inside the event (empty: the event).
    #[error("{file}: line {line}: {}", with_path(path, message))]
    Event { file: String, line: usize, path: String, message: String },
    /// An event of a list of them (the API's `events`), `index` from 0.
    #[error("events[{index}]{}{path}: {message}", if path.is_empty() { "" } else { "." })]
    Item { index: usize, path: String, message: String },
    /// The clock would stop before the first event.
    #[error("until {} is before the first event ({})", format_rfc3339(*until), format_rfc3339(*first))]
    UntilBeforeEvents { until: Time, first: Time },
    /// The caller's budget ran out before the clock reached `until`.
    #[error("the simulation ran out of time")]
    OutOfTime,
    #[error("the engine failed: {0}")]
    Stage(#[from] StageError),
}

fn with_path(path: &str, message: &str) -> String {
    if path.is_empty() { message.to_string() } else { format!("{path}: {message}") }
}

/// One event of the events file, checked.
#[derive(Debug, Clone)]
struct Event {
    line: usize,
    at: Time,
    kind: EventKind,
}

#[derive(Debug, Clone)]
/// The rare, large kinds are boxed: a simulation holds every event until it runs.
enum EventKind {
    WhatsApp(Vec<InboundEvent>),
    Integration(Box<Integration>),
    ListAdd {
        list: ListName,
        contact: ContactKey,
    },
    ListRemove {
        list: ListName,
        contact: ContactKey,
    },
    /// A contact upsert: the contact and the changes.
    Contact(Box<(ContactKey, ContactPatch)>),
}

#[derive(Debug, Clone)]
struct Integration {
    automation: AutomationId,
    call: IntegrationCall,
    /// The body as the hook route would receive it (what a signature is computed over).
    raw: Vec<u8>,
    contact: ContactKey,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "an event: an object with `at` and one of whatsapp, integration, list_add, list_remove, contact"
)]
struct RawEvent<'a> {
    #[serde(borrow)]
    at: Cow<'a, str>,
    /// Borrowed from the line: read by `parse_webhook` as Meta's body.
    #[serde(default, borrow)]
    whatsapp: Option<&'a serde_json::value::RawValue>,
    #[serde(default)]
    integration: Option<RawIntegration>,
    #[serde(default)]
    list_add: Option<RawList>,
    #[serde(default)]
    list_remove: Option<RawList>,
    #[serde(default)]
    contact: Option<RawContact>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIntegration {
    automation: String,
    body: serde_json::Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawList {
    list: ListName,
    phone: ContactKey,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawContact {
    phone: ContactKey,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    fields: BTreeMap<FieldKey, String>,
    #[serde(default)]
    tags: Option<BTreeSet<Tag>>,
    #[serde(default)]
    operator: Option<Operator>,
    #[serde(default)]
    marketing: Option<ConsentChoice>,
}

/// A line the simulator prints for an event it refused (an integration call with a wrong secret).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rejection {
    #[serde(with = "crate::time::rfc3339")]
    pub at: Time,
    pub contact: ContactKey,
    pub automation: AutomationId,
    pub run: Option<()>,
    pub step: Option<()>,
    pub action: &'static str,
    pub error: &'static str,
}

/// One output line.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Line {
    Effect(Effect),
    Rejected(Rejection),
}

/// Totals of a finished simulation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    pub events: usize,
    pub steps: usize,
    pub lines: usize,
}

type MemoryDeps = Deps<MemoryStore, MemoryStepQueue, MemorySender, MemoryPoster>;

/// A loaded simulation, ready to run.
pub struct Simulation {
    deps: MemoryDeps,
    ws: WorkspaceId,
    events: Vec<Event>,
    until: Time,
}

/// The files of a simulation, as text.
pub struct Inputs<'a> {
    pub workspace_file: &'a str,
    pub workspace: &'a str,
    pub automations: Vec<Document>,
    pub events_file: &'a str,
    pub events: &'a str,
    pub until: Option<Time>,
}

impl Simulation {
    /// The simulated store and workspace, to look at what the run left behind.
    pub fn store(&self) -> (&MemoryStore, &WorkspaceId) {
        (&self.deps.store, &self.ws)
    }

    /// Checks every input; nothing runs unless all of it is valid.
    pub fn load(inputs: Inputs<'_>) -> Result<Self, SimError> {
        let workspace: Workspace = {
            let de = &mut serde_json::Deserializer::from_str(inputs.workspace);
            serde_path_to_error::deserialize(de).map_err(|e| SimError::Workspace {
                file: inputs.workspace_file.to_string(),
                message: match e.path().to_string().as_str() {
                    "." => e.inner().to_string(),
                    path => format!("{path}: {}", e.inner()),
                },
            })?
        };
        let catalog = check_set(inputs.automations, Some(&workspace)).map_err(SimError::Automations)?;
        let events = read_events(Source::File(inputs.events_file), inputs.events, &catalog)?;
        Self::new(workspace, catalog, events, inputs.until)
    }

    /// A simulation over documents already read (`POST /v1/simulate`): the workspace, the
    /// automations of `catalog` (see [`check_set`], [`stored_catalog`]) and the events, one
    /// JSON object each as a line of the events file holds. The n-th event (from 1) plays the
    /// part of line n, so a list of a file's lines (no blank or comment lines) simulates as the file.
    pub fn load_list<'a>(
        workspace: Workspace,
        catalog: Catalog,
        events: impl ExactSizeIterator<Item = &'a str>,
        until: Option<Time>,
    ) -> Result<Self, SimError> {
        let events = read_list(events, &catalog)?;
        Self::new(workspace, catalog, events, until)
    }

    fn new(
        mut workspace: Workspace,
        catalog: Catalog,
        events: Vec<Event>,
        until: Option<Time>,
    ) -> Result<Self, SimError> {
        if let (Some(until), Some(first)) = (until, events.first())
            && until < first.at
        {
            return Err(SimError::UntilBeforeEvents { until, first: first.at });
        }

        // Nothing is sent: the simulation holds no secret.
        workspace.webhook_secret = None;
        if let Some(account) = &mut workspace.whatsapp {
            account.access_token = None;
        }

        // One pass over the webhook events: how many messages the store makes room for, and
        // the numbers they use (a workspace file without a WhatsApp number receives them all).
        let route_all = workspace.whatsapp.is_none();
        let (mut messages, mut numbers) = (0, Vec::<String>::new());
        for inbound in events.iter().filter_map(|event| match &event.kind {
            EventKind::WhatsApp(inbound) => Some(inbound),
            _ => None,
        }) {
            for e in inbound {
                let number = match e {
                    InboundEvent::Message(m) => {
                        messages += 1;
                        &m.phone_number_id
                    }
                    InboundEvent::Status(s) => &s.phone_number_id,
                    InboundEvent::Preference(p) => &p.phone_number_id,
                    // Routed by the account (`waba_id`), not by a number.
                    InboundEvent::TemplateStatus(_) => continue,
                };
                if route_all && !numbers.contains(number) {
                    numbers.push(number.clone());
                }
            }
        }
        if route_all {
            let sending = numbers.first().cloned().unwrap_or_else(|| SIMULATED_WORKSPACE.to_string());
            workspace.whatsapp = Some(WhatsAppAccount::new(sending, None));
        }

        let ws = WorkspaceId::parse(SIMULATED_WORKSPACE).expect("a valid id");
        let store = MemoryStore::unpaced();
        store.load_workspace(&ws, workspace);
        for number in numbers {
            store.route_number(&number, &ws);
        }
        store.load_catalog(&ws, catalog);
        store.reserve_messages(&ws, messages);
        // With no event nothing ever comes due, so where the clock would stop does not matter.
        let until = until.unwrap_or_else(|| events.last().map_or(Time::MIN_UTC, |e| e.at + DEFAULT_TAIL));
        let deps = Deps {
            store,
            steps: MemoryStepQueue::new(),
            sender: MemorySender::counting(),
            poster: MemoryPoster::default(),
            default_access_token: Some("simulated".into()),
        };
        Ok(Self { deps, ws, events, until })
    }

    /// Runs the clock to `until`, handing each line to `out` in time order. The
    /// simulation keeps its final state (dropped with it) for inspection.
    pub async fn run(&mut self, out: impl FnMut(&Line)) -> Result<Summary, SimError> {
        self.run_within(out, &|| false).await
    }

    /// [`Simulation::run`] within a budget: `exhausted` is asked before each event, step and
    /// clock tick, and once it answers `true` the run stops with [`SimError::OutOfTime`]
    /// (the lines already handed to `out` are a prefix of the whole output).
    pub async fn run_within(
        &mut self,
        mut out: impl FnMut(&Line),
        exhausted: &dyn Fn() -> bool,
    ) -> Result<Summary, SimError> {
        let Self { deps, ws, events, until } = self;
        let (deps, ws, until) = (&*deps, &*ws, *until);
        let events = std::mem::take(events);
        let mut summary = Summary { events: events.len(), ..Summary::default() };
        let mut emit = |line: Line, summary: &mut Summary| {
            summary.lines += 1;
            out(&line);
        };
        let mut events = events.into_iter().peekable();
        // The virtual clock never goes back: a date that came due in the past (a field
        // set later the same day) fires at the current instant.
        let mut clock = events.peek().map(|e| e.at);
        loop {
            let next_event = events.peek().map(|e| e.at);
            let next_step = deps.steps.next_due();
            let next_date = deps.store.next_date_due();
            let Some(earliest) = [next_event, next_step, next_date].into_iter().flatten().min() else {
                break;
            };
            let now = clock.map_or(earliest, |c| c.max(earliest));
            clock = Some(now);
            if now > until {
                break;
            }
            if exhausted() {
                return Err(SimError::OutOfTime);
            }
            // At one instant: the clock first, then steps already queued, then the next event.
            if next_date.is_some_and(|d| d <= now) {
                deps.run_clock_once(now).await?;
                continue;
            }
            if next_step.is_some_and(|s| s <= now) {
                let message = deps.steps.pop_due(now).expect("a step is due now");
                summary.steps += 1;
                for effect in deps.handle_step(&message, now).await?.effects {
                    emit(Line::Effect(effect), &mut summary);
                }
                continue;
            }
            let event = events.next().expect("an event is next");
            apply(deps, ws, event, &mut |line| emit(line, &mut summary)).await?;
        }
        Ok(summary)
    }
}

/// The catalog of automations already checked and stored (a workspace's current versions),
/// for [`Simulation::load_list`]. Each one is version 1 of the fresh catalog, as a file's are.
pub fn stored_catalog(automations: impl IntoIterator<Item = Arc<Automation>>) -> Result<Catalog, CatalogError> {
    let mut catalog = Catalog::default();
    for automation in automations {
        catalog.create(Arc::unwrap_or_clone(automation))?;
    }
    Ok(catalog)
}

/// Runs one event, handing each line it prints to `emit`.
async fn apply(deps: &MemoryDeps, ws: &WorkspaceId, event: Event, emit: &mut impl FnMut(Line)) -> Result<(), SimError> {
    let now = event.at;
    let report = match event.kind {
        EventKind::WhatsApp(inbound) => {
            for e in &inbound {
                deps.handle_inbound(e, now).await?.effects.into_iter().for_each(|effect| emit(Line::Effect(effect)));
            }
            return Ok(());
        }
        EventKind::Integration(integration) => {
            let Integration { automation, call, raw, contact } = *integration;
            let current =
                crate::ports::Store::automation(&deps.store, ws, &automation).await.map_err(StageError::from)?;
            let secret = current.as_ref().and_then(|a| a.trigger.integration_secret());
            if !integration_authorized(secret, &call, &raw, None) {
                emit(Line::Rejected(Rejection {
                    at: now,
                    contact,
                    automation,
                    run: None,
                    step: None,
                    action: "integration",
                    error: "invalid_secret",
                }));
                return Ok(());
            }
            let request_id = format!("line-{}", event.line);
            deps.handle_integration(ws, &automation, &call, &request_id, now).await?
        }
        EventKind::ListAdd { list, contact } => {
            deps.handle_list_add(ws, &list, &contact, &format!("line-{}", event.line), now).await?
        }
        EventKind::ListRemove { list, contact } => deps.handle_list_remove(ws, &list, &contact).await?,
        EventKind::Contact(upsert) => {
            deps.handle_contact_upsert(ws, &upsert.0, &upsert.1, &format!("line-{}", event.line), now).await?
        }
    };
    report.effects.into_iter().for_each(|effect| emit(Line::Effect(effect)));
    Ok(())
}

/// Where events come from: the lines of an events file, or a list of them (the API's `events`).
#[derive(Clone, Copy)]
enum Source<'a> {
    File(&'a str),
    List,
}

impl Source<'_> {
    /// The error of the event at `number` (its line, or its position from 1).
    fn error(self, number: usize, fault: Fault) -> SimError {
        let Fault { path, message } = fault;
        match self {
            Self::File(file) => SimError::Event { file: file.to_string(), line: number, path, message },
            Self::List => SimError::Item { index: number - 1, path, message },
        }
    }

    /// How a message names the event at `number`.
    fn name(self, number: usize) -> String {
        match self {
            Self::File(_) => format!("line {number}"),
            Self::List => format!("events[{}]", number - 1),
        }
    }
}

/// What is wrong with an event: the path of the bad value inside it (empty: the event itself).
struct Fault {
    path: String,
    message: String,
}

impl Fault {
    fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self { path: path.into(), message: message.into() }
    }
}

/// Reads and checks the events file: every line parsed, times in order, ids known.
fn read_events(source: Source<'_>, text: &str, catalog: &Catalog) -> Result<Vec<Event>, SimError> {
    // Sized once: the events are kept until they run, and growing moves them all. An event
    // line takes 48 bytes at the least: blank and comment lines do not size it.
    let lines: Vec<&str> = text.lines().collect();
    let mut events: Vec<Event> = Vec::with_capacity(lines.len().min(text.len() / 48 + 1));
    for (i, raw_line) in lines.into_iter().enumerate() {
        if raw_line.trim().is_empty() || raw_line.trim_start().starts_with("//") {
            continue;
        }
        push_event(&mut events, source, i + 1, raw_line, catalog)?;
    }
    Ok(events)
}

/// Reads and checks a list of events, one JSON object each: as [`read_events`] reads lines.
fn read_list<'a>(items: impl ExactSizeIterator<Item = &'a str>, catalog: &Catalog) -> Result<Vec<Event>, SimError> {
    let mut events: Vec<Event> = Vec::with_capacity(items.len());
    for (i, item) in items.enumerate() {
        push_event(&mut events, Source::List, i + 1, item, catalog)?;
    }
    Ok(events)
}

/// Reads the event at `number` (its line, or its position from 1) and adds it after `events`:
/// parsed, in time order, the automations it names known.
fn push_event(
    events: &mut Vec<Event>,
    source: Source<'_>,
    number: usize,
    text: &str,
    catalog: &Catalog,
) -> Result<(), SimError> {
    let fail = |fault: Fault| source.error(number, fault);
    let (at, body) = read_line(text).map_err(fail)?;
    let at =
        parse_rfc3339(&at).map_err(|e| fail(Fault::new("at", format!("`{at}` is not an RFC 3339 timestamp: {e}"))))?;
    if let Some(previous) = events.last().filter(|p| p.at > at) {
        // A file's message names the line; a list's names the value.
        let path = if matches!(source, Source::List) { "at" } else { "" };
        return Err(fail(Fault::new(
            path,
            format!(
                "events must be in time order: {} is before the previous event's {} ({})",
                format_rfc3339(at),
                format_rfc3339(previous.at),
                source.name(previous.line)
            ),
        )));
    }
    let kind = match body {
        LineBody::WhatsApp(body) => {
            EventKind::WhatsApp(body.events().map_err(|e| fail(Fault::new("whatsapp", e.to_string())))?)
        }
        LineBody::Other(raw) => event_kind(*raw, catalog).map_err(fail)?,
    };
    events.push(Event { line: number, at, kind });
    Ok(())
}

/// A line's event, read as far as one pass over the line goes.
enum LineBody<'a> {
    /// A webhook, read by the strict reader (the common line: read once, its body not delimited first).
    WhatsApp(TypedWebhook<'a>),
    /// Any other line, or a webhook the strict reader did not take ([`parse_webhook`] reads it).
    Other(Box<RawEvent<'a>>),
}

/// Reads a line's `at` and its event. A good line is read once; a bad one again, tracking
/// the path, to say where it is wrong.
fn read_line(line: &str) -> Result<(Cow<'_, str>, LineBody<'_>), Fault> {
    if let Some((at, whatsapp)) = read_webhook_line(line) {
        return Ok((Cow::Borrowed(at), LineBody::WhatsApp(whatsapp)));
    }
    match serde_json::from_str::<RawEvent<'_>>(line) {
        Ok(raw) => Ok((raw.at.clone(), LineBody::Other(Box::new(raw)))),
        // serde reads a struct from an array too, and would name its items (`[0]: invalid type`).
        Err(_) if line.trim_start().starts_with('[') => Err(Fault::new(
            "",
            "invalid type: array, expected an event: an object with `at` and one of whatsapp, integration, list_add, list_remove, contact",
        )),
        Err(first) => {
            let de = &mut serde_json::Deserializer::from_str(line);
            let traced: Result<RawEvent<'_>, _> = serde_path_to_error::deserialize(de);
            Err(match traced {
                Err(e) if e.path().to_string() != "." => Fault::new(e.path().to_string(), e.inner().to_string()),
                _ => Fault::new("", first.to_string()),
            })
        }
    }
}

/// The common line, `{"at": …, "whatsapp": {…}}` and nothing else, in Meta's usual form,
/// read by the webhook's strict reader ([`TypedWebhook::read`]); `None` when it gives up
/// (serde then reads the line as any other, and words what is wrong with it).
fn read_webhook_line(line: &str) -> Option<(&str, TypedWebhook<'_>)> {
    let mut reader = Reader::new(line);
    let (mut at, mut whatsapp) = (None, None);
    reader.object(|reader, key| match key {
        "at" if at.is_none() => reader.string().map(|text| at = Some(text)),
        "whatsapp" if whatsapp.is_none() => TypedWebhook::read(reader).map(|body| whatsapp = Some(body)),
        // Unknown and repeated fields are serde's to refuse.
        _ => None,
    })?;
    reader.end()?;
    Some((at?, whatsapp?))
}

/// The event of a line the strict webhook reader did not take, checked against the catalog.
fn event_kind(raw: RawEvent<'_>, catalog: &Catalog) -> Result<EventKind, Fault> {
    let given = [
        raw.whatsapp.is_some(),
        raw.integration.is_some(),
        raw.list_add.is_some(),
        raw.list_remove.is_some(),
        raw.contact.is_some(),
    ];
    if given.iter().filter(|g| **g).count() != 1 {
        return Err(Fault::new(
            "",
            "each event needs exactly one of whatsapp, integration, list_add, list_remove, contact",
        ));
    }
    Ok(if let Some(body) = raw.whatsapp {
        EventKind::WhatsApp(parse_webhook(body.get().as_bytes()).map_err(|e| Fault::new("whatsapp", e.to_string()))?)
    } else if let Some(integration) = raw.integration {
        let at_automation = |message: String| Fault::new("integration.automation", message);
        let id = AutomationId::parse(integration.automation.as_str()).map_err(|e| at_automation(e.to_string()))?;
        match catalog.current(&id).map(|a| a.trigger.kind()) {
            Some("integration") => {}
            Some(other) => {
                return Err(at_automation(format!("automation `{id}` has a {other} trigger, not integration")));
            }
            None => return Err(at_automation(format!("no automation `{id}` among the simulated automations"))),
        }
        let raw_body = integration.body.to_string().into_bytes();
        let call: IntegrationCall =
            serde_json::from_value(integration.body).map_err(|e| Fault::new("integration.body", e.to_string()))?;
        let (phone, _) =
            call.to_patch().map_err(|(path, message)| Fault::new(format!("integration.body.{path}"), message))?;
        EventKind::Integration(Box::new(Integration {
            automation: id,
            call,
            raw: raw_body,
            contact: ContactKey::Phone(phone),
        }))
    } else if let Some(list) = raw.list_add {
        EventKind::ListAdd { list: list.list, contact: list.phone }
    } else if let Some(list) = raw.list_remove {
        EventKind::ListRemove { list: list.list, contact: list.phone }
    } else {
        let contact = raw.contact.expect("exactly one kind is present");
        EventKind::Contact(Box::new((
            contact.phone,
            ContactPatch {
                name: contact.name,
                fields: contact.fields.into_iter().map(|(k, v)| (k, Some(v))).collect(),
                tags: contact.tags,
                operator: contact.operator.map(Some),
                marketing: contact.marketing,
            },
        )))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(body: &str) -> String {
        format!(
            r#"{{"at":"2026-11-23T09:00:00Z","whatsapp":{{"object":"whatsapp_business_account","entry":[{{"changes":[{{"field":"messages","value":{{"metadata":{{"phone_number_id":"106540352242922"}},"messages":[{{"from":"393331234567","id":"wamid.1","timestamp":"1795424400","type":"text","text":{{"body":{body}}}}}]}}}}]}}]}}}}"#
        )
    }

    fn events(text: &str) -> Result<Vec<InboundEvent>, SimError> {
        let events = read_events(Source::File("events.jsonl"), text, &Catalog::default())?;
        Ok(events
            .into_iter()
            .flat_map(|event| match event.kind {
                EventKind::WhatsApp(inbound) => inbound,
                _ => Vec::new(),
            })
            .collect())
    }

    #[test]
    fn a_webhook_line_the_strict_reader_leaves_is_read_by_serde_to_the_same_events() {
        assert!(read_webhook_line(&line(r#""ciao""#)).is_some());
        assert!(read_webhook_line(&line(r#""ci\u0061o""#)).is_none());
        assert_eq!(events(&line(r#""ci\u0061o""#)).unwrap(), events(&line(r#""ciao""#)).unwrap());
    }

    #[test]
    fn a_webhook_line_with_an_unknown_field_is_refused_naming_it() {
        let text = line(r#""ciao""#).replacen('{', r#"{"extra":1,"#, 1);
        let error = events(&text).unwrap_err().to_string();
        assert!(error.contains("unknown field `extra`"), "{error}");
    }

    fn example(name: &str) -> String {
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples").join(name))
            .unwrap()
    }

    /// The seed example, as files.
    fn seed() -> Simulation {
        let automations = crate::validate::read_documents("automations.json", &example("automations.json")).unwrap();
        let (workspace, events) = (example("workspace.json"), example("events.jsonl"));
        Simulation::load(Inputs {
            workspace_file: "workspace.json",
            workspace: &workspace,
            automations,
            events_file: "events.jsonl",
            events: &events,
            until: None,
        })
        .unwrap()
    }

    /// The seed example's workspace, automations and events as read documents, for [`Simulation::load_list`].
    fn seed_parts() -> (Workspace, Catalog, Vec<String>) {
        let workspace: Workspace = serde_json::from_str(&example("workspace.json")).unwrap();
        let automations = crate::validate::read_documents("automations.json", &example("automations.json")).unwrap();
        let catalog = check_set(automations, Some(&workspace)).unwrap();
        let events = example("events.jsonl").lines().filter(|l| !l.trim().is_empty()).map(str::to_string).collect();
        (workspace, catalog, events)
    }

    fn lines(simulation: &mut Simulation, exhausted: &dyn Fn() -> bool) -> (Vec<Line>, Result<Summary, SimError>) {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let mut lines = Vec::new();
        let result = runtime.block_on(simulation.run_within(|line| lines.push(line.clone()), exhausted));
        (lines, result)
    }

    #[test]
    fn a_list_of_a_files_lines_simulates_as_the_file_does() {
        let (from_file, summary) = lines(&mut seed(), &|| false);
        assert!(summary.is_ok() && from_file.len() > 10, "{summary:?}");
        let (workspace, catalog, events) = seed_parts();
        let mut listed = Simulation::load_list(workspace, catalog, events.iter().map(String::as_str), None).unwrap();
        assert_eq!(lines(&mut listed, &|| false).0, from_file);
    }

    #[test]
    fn a_simulation_stops_between_events_and_steps_once_its_budget_runs_out() {
        let (all, _) = lines(&mut seed(), &|| false);
        let (none, result) = lines(&mut seed(), &|| true);
        assert!(matches!(result, Err(SimError::OutOfTime)) && none.is_empty(), "{result:?}");

        // Out of budget at the sixth question: five events, steps or ticks ran.
        let asked = std::cell::Cell::new(0);
        let exhausted = || {
            asked.set(asked.get() + 1);
            asked.get() > 5
        };
        let (some, result) = lines(&mut seed(), &exhausted);
        assert!(matches!(result, Err(SimError::OutOfTime)), "{result:?}");
        assert_eq!((asked.get(), &all[..some.len()]), (6, &some[..]));
        assert!(some.len() < all.len());

        // With nothing left to do, the budget is not asked.
        let (workspace, catalog, _) = seed_parts();
        let mut empty = Simulation::load_list(workspace, catalog, std::iter::empty(), None).unwrap();
        assert!(matches!(lines(&mut empty, &|| true), (lines, Ok(_)) if lines.is_empty()));
    }

    #[test]
    fn a_listed_event_is_refused_naming_its_index_and_the_value() {
        let (workspace, catalog, mut events) = seed_parts();
        events[3] = events[3].replacen("2026-11-23", "2026-11-22", 1);
        let error = Simulation::load_list(workspace, catalog, events.iter().map(String::as_str), None).err().unwrap();
        assert!(
            matches!(&error, SimError::Item { index: 3, path, message } if path == "at" && message.contains("(events[2])")),
            "{error:?}"
        );
    }

    #[test]
    fn a_simulation_whose_clock_stops_before_the_first_event_is_refused() {
        let (workspace, catalog, events) = seed_parts();
        let until = parse_rfc3339("2026-11-23T07:59:59Z").ok();
        let error = Simulation::load_list(workspace, catalog, events.iter().map(String::as_str), until).err().unwrap();
        assert_eq!(error.to_string(), "until 2026-11-23T07:59:59Z is before the first event (2026-11-23T08:00:00Z)");
    }
}
