//! `avvio simulate`: the real engine and stages on the in-memory adapters and a
//! virtual clock. Reads the events file (JSON lines), checks all of it before
//! anything runs, then walks time forward: events, due steps and date triggers
//! in time order, printing one line per effect.

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
    #[error("{file}: line {line}: {message}")]
    Event { file: String, line: usize, message: String },
    #[error("the engine failed: {0}")]
    Stage(#[from] StageError),
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
#[serde(deny_unknown_fields)]
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
    /// Checks every input; nothing runs unless all of it is valid.
    pub fn load(inputs: Inputs<'_>) -> Result<Self, SimError> {
        let mut workspace: Workspace = {
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
        let events = read_events(inputs.events_file, inputs.events, &catalog)?;

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
                };
                if route_all && !numbers.contains(number) {
                    numbers.push(number.clone());
                }
            }
        }
        if route_all {
            let sending = numbers.first().cloned().unwrap_or_else(|| SIMULATED_WORKSPACE.to_string());
            workspace.whatsapp = Some(WhatsAppAccount { phone_number_id: sending, access_token: None });
        }

        let ws = WorkspaceId::parse(SIMULATED_WORKSPACE).expect("a valid id");
        let store = MemoryStore::new();
        store.load_workspace(&ws, workspace);
        for number in numbers {
            store.route_number(&number, &ws);
        }
        store.load_catalog(&ws, catalog);
        store.reserve_messages(&ws, messages);
        let until =
            inputs.until.unwrap_or_else(|| events.last().map_or_else(chrono::Utc::now, |e| e.at) + DEFAULT_TAIL);
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
    pub async fn run(&mut self, mut out: impl FnMut(&Line)) -> Result<Summary, SimError> {
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

/// Reads and checks the events file: every line parsed, times in order, ids known.
fn read_events(file: &str, text: &str, catalog: &crate::catalog::Catalog) -> Result<Vec<Event>, SimError> {
    // Sized once: the events are kept until they run, and growing moves them all. An event
    // line takes 48 bytes at the least: blank and comment lines do not size it.
    let lines: Vec<&str> = text.lines().collect();
    let mut events: Vec<Event> = Vec::with_capacity(lines.len().min(text.len() / 48 + 1));
    for (i, raw_line) in lines.into_iter().enumerate() {
        let line = i + 1;
        let fail = |message: String| SimError::Event { file: file.to_string(), line, message };
        if raw_line.trim().is_empty() || raw_line.trim_start().starts_with("//") {
            continue;
        }
        let (at, body) = read_line(raw_line).map_err(fail)?;
        let at = parse_rfc3339(&at).map_err(|e| fail(format!("at: `{at}` is not an RFC 3339 timestamp: {e}")))?;
        if let Some(previous) = events.last().filter(|p| p.at > at) {
            return Err(fail(format!(
                "events must be in time order: {} is before the previous event's {} (line {})",
                format_rfc3339(at),
                format_rfc3339(previous.at),
                previous.line
            )));
        }
        let kind = match body {
            LineBody::WhatsApp(body) => EventKind::WhatsApp(body.events().map_err(|e| fail(format!("whatsapp: {e}")))?),
            LineBody::Other(raw) => event_kind(*raw, catalog).map_err(fail)?,
        };
        events.push(Event { line, at, kind });
    }
    Ok(events)
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
fn read_line(line: &str) -> Result<(Cow<'_, str>, LineBody<'_>), String> {
    if let Some((at, whatsapp)) = read_webhook_line(line) {
        return Ok((Cow::Borrowed(at), LineBody::WhatsApp(whatsapp)));
    }
    match serde_json::from_str::<RawEvent<'_>>(line) {
        Ok(raw) => Ok((raw.at.clone(), LineBody::Other(Box::new(raw)))),
        Err(first) => {
            let de = &mut serde_json::Deserializer::from_str(line);
            let traced: Result<RawEvent<'_>, _> = serde_path_to_error::deserialize(de);
            Err(match traced {
                Err(e) if e.path().to_string() != "." => format!("{}: {}", e.path(), e.inner()),
                _ => first.to_string(),
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
fn event_kind(raw: RawEvent<'_>, catalog: &crate::catalog::Catalog) -> Result<EventKind, String> {
    let given = [
        raw.whatsapp.is_some(),
        raw.integration.is_some(),
        raw.list_add.is_some(),
        raw.list_remove.is_some(),
        raw.contact.is_some(),
    ];
    if given.iter().filter(|g| **g).count() != 1 {
        return Err("each event needs exactly one of whatsapp, integration, list_add, list_remove, contact".into());
    }
    Ok(if let Some(body) = raw.whatsapp {
        EventKind::WhatsApp(parse_webhook(body.get().as_bytes()).map_err(|e| format!("whatsapp: {e}"))?)
    } else if let Some(integration) = raw.integration {
        let id =
            AutomationId::parse(integration.automation.as_str()).map_err(|e| format!("integration.automation: {e}"))?;
        match catalog.current(&id).map(|a| a.trigger.kind()) {
            Some("integration") => {}
            Some(other) => {
                return Err(format!(
                    "integration.automation: automation `{id}` has a {other} trigger, not integration"
                ));
            }
            None => return Err(format!("integration.automation: no automation `{id}` in the automations file")),
        }
        let raw_body = integration.body.to_string().into_bytes();
        let call: IntegrationCall =
            serde_json::from_value(integration.body).map_err(|e| format!("integration.body: {e}"))?;
        let (phone, _) = call.to_patch().map_err(|(path, message)| format!("integration.body.{path}: {message}"))?;
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
                fields: contact.fields,
                tags: contact.tags,
                operator: contact.operator,
                marketing: contact.marketing,
            },
        )))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;

    fn line(body: &str) -> String {
        format!(
            r#"{{"at":"2026-11-23T09:00:00Z","whatsapp":{{"object":"whatsapp_business_account","entry":[{{"changes":[{{"field":"messages","value":{{"metadata":{{"phone_number_id":"106540352242922"}},"messages":[{{"from":"393331234567","id":"wamid.1","timestamp":"1795424400","type":"text","text":{{"body":{body}}}}}]}}}}]}}]}}}}"#
        )
    }

    fn events(text: &str) -> Result<Vec<InboundEvent>, SimError> {
        let events = read_events("events.jsonl", text, &Catalog::default())?;
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
}
