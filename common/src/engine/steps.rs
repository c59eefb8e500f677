//! One step of a run: what it does to the contact, the message or webhook it sends, and
//! where the run goes next. A step is found by its path in the automation version the
//! run is pinned to; the flow steps' own rules are in [`super::flows`].

use super::flows;
use super::sends;
use super::{Detail, Effect, Liveness, RunStart, SERVICE_WINDOW, StepDue, codes};
use crate::domain::automation::{Action, Automation, SetFieldSource};
use crate::domain::contact::{Capture, Contact, MarketingConsent};
use crate::domain::ids::Wamid;
use crate::domain::interpolate::{Interpolated, Variable};
use crate::domain::path::StepPath;
use crate::domain::run::{RetryState, Run, RunCause, RunStatus, StepRecord, StepStatus};
use crate::domain::workspace::{TemplateCategory, TemplateStatus, Workspace};
use crate::graph;
use crate::time::Time;
use crate::validate::{MAX_BUTTON_TEXT_CHARS, MAX_TEXT_CHARS};
use serde_json::Value;
use std::borrow::Cow;
use std::sync::Arc;

/// What the engine needs to execute one step.
pub struct StepInput<'a> {
    pub workspace: &'a Workspace,
    /// The version of the automation the run is pinned to.
    pub automation: &'a Automation,
    /// The automation as it is now; `None` once deleted.
    pub live: Option<Liveness>,
    pub run: Run,
    pub step: StepPath,
    pub contact: &'a Contact,
    /// The automations the step may start, as the stage read them for it: for `add_to_list`
    /// the enabled `list` automations of that list, for `set_consent` the enabled `consent`
    /// automations of that value, for `start_automation` the named automation's current
    /// version (enabled or not; none when it does not exist). Empty for other steps.
    pub related: &'a [Arc<Automation>],
    pub workspace_id: &'a str,
    pub now: Time,
}

/// The decision about one step.
#[derive(Debug)]
pub enum Execution {
    /// Nothing to do: the run is over, or this step and its successor already ran (a redelivery).
    Ignore,
    /// This step already ran but its successor (or a run it started) never did, or it holds
    /// the run until later: queue `next` again, each at the time it is due (a first delivery
    /// may have stopped between recording the step and queueing what follows; a wait's
    /// timeout may come early).
    Requeue {
        next: Vec<StepDue>,
    },
    Finished(Box<StepResult>),
    /// Send [`Pending::request`] to the Graph API, then [`Pending::finish`]. Persist
    /// `pending.run` (which records the intent) before sending.
    Send {
        pending: Pending,
    },
    /// Post `body` to `url` signed with `signature`, then [`Pending::finish`].
    Webhook {
        url: String,
        body: Box<Value>,
        signature: Option<String>,
        pending: Pending,
    },
}

impl Execution {
    /// The run recording the step's I/O as under way: stored before the I/O goes out.
    pub fn intent(&self) -> Option<&Run> {
        match self {
            Self::Send { pending } | Self::Webhook { pending, .. } => Some(&pending.run),
            Self::Ignore | Self::Requeue { .. } | Self::Finished(_) => None,
        }
    }
}

/// The result of a step: what to store, print and queue.
#[derive(Debug, Clone, PartialEq)]
pub struct StepResult {
    pub run: Run,
    /// The contact, when the step changed it.
    pub contact: Option<Contact>,
    pub effect: Effect,
    pub next: Option<StepDue>,
    /// Runs started by this step (a list joined, an automation started, a consent changed).
    pub starts: Vec<RunStart>,
}

/// A step waiting for the result of its I/O.
#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    pub run: Run,
    step: StepPath,
    effect: Effect,
    /// The next step of the list and its delay, if there is one.
    next: Option<(StepPath, chrono::Duration)>,
}

/// The result of a send or a webhook post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IoOutcome {
    Sent { wamid: Option<Wamid> },
    Failed { code: String },
}

impl Pending {
    /// The step whose I/O this is.
    pub fn step(&self) -> StepPath {
        self.step
    }

    /// The Graph API body a send step posts.
    pub fn request(&self) -> &crate::graph::GraphRequest {
        match &self.effect.detail {
            Detail::Request { request } => request,
            _ => unreachable!("only send steps ask for a request"),
        }
    }

    /// Records the outcome of the I/O and decides the next step.
    pub fn finish(mut self, outcome: IoOutcome, now: Time) -> StepResult {
        let (status, error, wamid) = match outcome {
            IoOutcome::Sent { wamid } => (StepStatus::Done, None, wamid),
            IoOutcome::Failed { code } => (StepStatus::Failed, Some(code), None),
        };
        self.effect.error = error.clone();
        let mut record = StepRecord::new(self.step, self.effect.action, status, now, None);
        (record.error, record.wamid, record.retry) = (error, wamid, self.retry().cloned());
        self.run.record(record);
        let next = advance(&mut self.run, self.next, now);
        StepResult { run: self.run, contact: None, effect: self.effect, next, starts: Vec::new() }
    }

    /// The run as it was before the intent was recorded: for a retryable failure
    /// (throttling, 5xx) that leaves the step to be retried.
    pub fn abandon(mut self) -> Run {
        self.run.steps.retain(|s| s.step != self.step);
        self.run
    }

    /// How the send has been tried so far, when it was tried (or deferred) before.
    pub fn retry(&self) -> Option<&RetryState> {
        self.run.step(&self.step).and_then(|r| r.retry.as_ref())
    }

    /// The run with the send left to be tried again at `at` (nothing went out): `retry` says
    /// how it was tried, `error` the code Meta refused it with (none when pacing deferred it).
    /// The step is queued again for `at`.
    pub fn defer(mut self, retry: RetryState, at: Time, error: Option<String>, now: Time) -> (Run, StepDue) {
        let mut record = StepRecord::new(self.step, self.effect.action, StepStatus::Retrying, now, None);
        (record.until, record.error, record.retry) = (Some(at), error, Some(retry));
        self.run.record(record);
        let due = StepDue { run: self.run.id.clone(), step: self.step, due: at };
        (self.run, due)
    }
}

/// The step due after `next` (a step and its delay counted from `now`), or the run completed.
pub(super) fn advance(run: &mut Run, next: Option<(StepPath, chrono::Duration)>, now: Time) -> Option<StepDue> {
    match next {
        Some((step, after)) => Some(StepDue { run: run.id.clone(), step, due: now + after }),
        None => {
            run.status = RunStatus::Completed;
            None
        }
    }
}

/// Ends `run`, whose contact was deleted: `cancelled` with `contact_deleted`, a step waiting
/// for a reply or to be tried again `skipped`. `false` when the run was over already. A step
/// being sent keeps its record: its result is written over this when it comes.
pub fn end_for_deleted_contact(run: &mut Run, now: Time) -> bool {
    if run.status != RunStatus::Active {
        return false;
    }
    for record in &mut run.steps {
        if matches!(record.status, StepStatus::Waiting | StepStatus::Retrying) {
            (record.status, record.error, record.at) = (StepStatus::Skipped, Some(codes::CONTACT_DELETED.into()), now);
        }
    }
    run.status = RunStatus::Cancelled { reason: codes::CONTACT_DELETED.to_string() };
    true
}

/// The next step of the list of `step` and its delay: where a step that is not a flow step goes on.
fn successor(automation: &Automation, step: &StepPath) -> Option<(StepPath, chrono::Duration)> {
    automation.successor(step).map(|(path, s)| (path, s.after.to_chrono()))
}

/// Why a run's pending step does not run: the automation was disabled or deleted since the
/// run started, or the contact was blocked.
pub(super) fn cancellation(live: Option<Liveness>, run: &Run, contact: &Contact) -> Option<&'static str> {
    if live.is_none_or(|l| !l.enabled || l.last_disabled_version > run.version) {
        Some(codes::AUTOMATION_DISABLED)
    } else if contact.engine.block_epoch != run.block_epoch {
        Some(codes::CONTACT_BLOCKED)
    } else {
        None
    }
}

/// What follows a step its run records already (a redelivery of it): its successor and the
/// runs it started, queued again if they never ran.
fn follow_up(automation: &Automation, run: &Run, record: &StepRecord) -> Execution {
    let successor = flows::continuation(automation, record)
        .filter(|(path, _)| run.status == RunStatus::Active && run.step(path).is_none())
        .map(|(path, due)| StepDue { run: run.id.clone(), step: path, due });
    let started = record.started.iter().map(|s| StepDue { run: s.run.clone(), step: StepPath::first(), due: s.due });
    let next: Vec<StepDue> = successor.into_iter().chain(started).collect();
    if next.is_empty() { Execution::Ignore } else { Execution::Requeue { next } }
}

/// Executes one step of a run, or says why it does not run.
pub fn execute_step(input: StepInput<'_>) -> Execution {
    let StepInput { workspace, automation, live, mut run, step, contact, related, workspace_id, now } = input;
    // Borrowed: only the steps that change the contact copy it.
    let mut contact = Cow::Borrowed(contact);
    let Some(action) = automation.step(&step).map(|s| &s.action) else { return Execution::Ignore };
    let mut effect = Effect::of(&run, contact.key(), step, action.kind(), now);
    match run.step(&step) {
        // A step recorded already (a redelivery): what follows it, queued again if it never ran.
        Some(record) if !matches!(record.status, StepStatus::Sending | StepStatus::Waiting | StepStatus::Retrying) => {
            return follow_up(automation, &run, record);
        }
        _ if run.status != RunStatus::Active => return Execution::Ignore,
        // Never sent, or deferred (throttled, paced): decided again, its tries kept.
        None => {}
        Some(r) if r.status == StepStatus::Retrying => {}
        // Recorded as being sent, never recorded as sent: it may have gone out, so it never goes again.
        Some(r) if r.status == StepStatus::Sending => {
            effect.error = Some(codes::SEND_UNCONFIRMED.to_string());
            let pending = Pending { run, step, effect, next: successor(automation, &step) };
            return Execution::Finished(Box::new(
                pending.finish(IoOutcome::Failed { code: codes::SEND_UNCONFIRMED.into() }, now),
            ));
        }
        // A wait whose timeout came due (or came early: it goes back to the queue).
        Some(_) => {
            return flows::wait_timed_out(flows::Timeout { automation, live, run, step, contact: &contact, now });
        }
    }

    if let Some(reason) = cancellation(live, &run, &contact) {
        run.status = RunStatus::Cancelled { reason: reason.to_string() };
        run.record(StepRecord::new(step, action.kind(), StepStatus::Skipped, now, Some(reason)));
        effect.error = Some(reason.to_string());
        return Execution::Finished(Box::new(StepResult {
            run,
            contact: None,
            effect,
            next: None,
            starts: Vec::new(),
        }));
    }

    let next = successor(automation, &step);
    let finished = |mut run: Run,
                    contact: Option<Contact>,
                    mut effect: Effect,
                    outcome: Result<(), &str>,
                    mut starts: Vec<RunStart>| {
        // A run started by a run is kept as long as the run that started it.
        for start in &mut starts {
            start.run.retention = run.retention;
        }
        let (status, error) = match outcome {
            Ok(()) => (StepStatus::Done, None),
            Err(code) if code == codes::CONTACT_BLOCKED || code == codes::MARKETING_OPT_OUT => {
                (StepStatus::Skipped, Some(code))
            }
            Err(code) => (StepStatus::Failed, Some(code)),
        };
        effect.error = error.map(str::to_string);
        let mut record = StepRecord::new(step, action.kind(), status, now, error);
        record.started =
            starts.iter().map(|s| crate::domain::run::Started { run: s.run.id.clone(), due: s.first.due }).collect();
        run.record(record);
        let next = advance(&mut run, next, now);
        Execution::Finished(Box::new(StepResult { run, contact, effect, next, starts }))
    };
    // A step started by this one goes one level deeper, caused by `run:step`.
    let cause_key = || format!("{}:{step}", run.id);

    match action {
        Action::SendTemplate { .. }
        | Action::SendText { .. }
        | Action::SendButtons { .. }
        | Action::SendMedia { .. }
        | Action::SendList { .. }
        | Action::SendCtaUrl { .. } => match build_message(workspace, action, &contact, now) {
            Ok(request) => {
                effect.detail = Detail::Request { request };
                let retry = run.step(&step).and_then(|r| r.retry.clone());
                run.record(StepRecord {
                    retry,
                    ..StepRecord::new(step, action.kind(), StepStatus::Sending, now, None)
                });
                Execution::Send { pending: Pending { run, step, effect, next } }
            }
            Err(code) => finished(run, None, effect, Err(code), Vec::new()),
        },
        Action::AddTag { tag } => {
            contact.to_mut().tags.insert(tag.clone());
            effect.detail = Detail::Tag { tag: tag.clone() };
            finished(run, Some(contact.into_owned()), effect, Ok(()), Vec::new())
        }
        Action::RemoveTag { tag } => {
            contact.to_mut().tags.remove(tag);
            effect.detail = Detail::Tag { tag: tag.clone() };
            finished(run, Some(contact.into_owned()), effect, Ok(()), Vec::new())
        }
        Action::AddToList { list } => {
            effect.detail = Detail::List { list: list.clone() };
            match super::join_list(contact.to_mut(), list) {
                super::Join::Blocked => finished(run, None, effect, Err(codes::CONTACT_BLOCKED), Vec::new()),
                super::Join::AlreadyMember => finished(run, None, effect, Ok(()), Vec::new()),
                super::Join::Joined => {
                    let cause = RunCause::List { by_run: Some(run.id.clone()) };
                    match super::start_triggered_runs(related, &contact, cause, &cause_key(), run.depth + 1, now) {
                        Ok(starts) => finished(run, Some(contact.into_owned()), effect, Ok(()), starts),
                        // The contact stays in the list; only the runs it would start are refused.
                        Err(code) => finished(run, Some(contact.into_owned()), effect, Err(code), Vec::new()),
                    }
                }
            }
        }
        Action::RemoveFromList { list } => {
            contact.to_mut().lists.remove(list);
            effect.detail = Detail::List { list: list.clone() };
            finished(run, Some(contact.into_owned()), effect, Ok(()), Vec::new())
        }
        Action::SetField { field, value: Some(value), .. } => match render(value, &contact) {
            Ok(value) => {
                contact.to_mut().fields.insert(field.clone(), value.clone());
                effect.detail = Detail::Field { field: field.clone(), value };
                finished(run, Some(contact.into_owned()), effect, Ok(()), Vec::new())
            }
            Err(code) => finished(run, None, effect, Err(code), Vec::new()),
        },
        Action::SetField { field, value: None, .. } => {
            let captures = &mut contact.to_mut().engine.captures;
            captures.retain(|c| c.field != *field);
            captures.push(Capture {
                field: field.clone(),
                run: run.id.clone(),
                automation: run.automation.clone(),
                step,
            });
            effect.detail = Detail::Capture { field: field.clone(), from: SetFieldSource::NextReply };
            finished(run, Some(contact.into_owned()), effect, Ok(()), Vec::new())
        }
        Action::BlockContact {} => {
            contact.to_mut().block();
            finished(run, Some(contact.into_owned()), effect, Ok(()), Vec::new())
        }
        Action::UnblockContact {} => {
            contact.to_mut().blocked = false;
            finished(run, Some(contact.into_owned()), effect, Ok(()), Vec::new())
        }
        Action::AssignOperator { operator } => {
            contact.to_mut().operator = Some(operator.clone());
            effect.detail = Detail::Operator { operator: Some(operator.clone()) };
            finished(run, Some(contact.into_owned()), effect, Ok(()), Vec::new())
        }
        Action::UnassignOperator {} => {
            contact.to_mut().operator = None;
            effect.detail = Detail::Operator { operator: None };
            finished(run, Some(contact.into_owned()), effect, Ok(()), Vec::new())
        }
        Action::SetConsent { marketing } => {
            effect.detail = Detail::Consent { marketing: *marketing };
            if !contact.to_mut().set_consent(*marketing) {
                return finished(run, None, effect, Ok(()), Vec::new());
            }
            let cause = RunCause::Consent { by_run: Some(run.id.clone()) };
            match super::start_triggered_runs(related, &contact, cause, &cause_key(), run.depth + 1, now) {
                Ok(starts) => finished(run, Some(contact.into_owned()), effect, Ok(()), starts),
                // The consent changes; only the runs it would start are refused.
                Err(code) => finished(run, Some(contact.into_owned()), effect, Err(code), Vec::new()),
            }
        }
        Action::StartAutomation { .. } => {
            let started = flows::start_automation(related, &contact, &run, &cause_key(), now);
            match started {
                Ok(start) => {
                    effect.detail = Detail::Started { started: start.run.id.clone() };
                    finished(run, None, effect, Ok(()), vec![start])
                }
                Err(code) => finished(run, None, effect, Err(code), Vec::new()),
            }
        }
        Action::Condition { .. } | Action::WaitUntil { .. } | Action::WaitForReply { .. } => {
            flows::execute(flows::FlowStep { workspace, automation, action, run, step, contact, effect, now })
        }
        Action::SendWebhook { url, body } => {
            let body = match body {
                Some(body) => render_json(body, &contact),
                None => Ok(default_webhook_body(workspace_id, automation, &run, step, &contact)),
            };
            match body {
                Ok(body) => {
                    effect.detail = Detail::Webhook { url: url.clone(), body: Box::new(body.clone()) };
                    let signature = workspace.webhook_secret.as_ref().map(|secret| {
                        crate::outbound::signature(secret.expose().as_bytes(), body.to_string().as_bytes())
                    });
                    run.record(StepRecord::new(step, action.kind(), StepStatus::Sending, now, None));
                    Execution::Webhook {
                        url: url.clone(),
                        body: Box::new(body),
                        signature,
                        pending: Pending { run, step, effect, next },
                    }
                }
                Err(code) => finished(run, None, effect, Err(code), Vec::new()),
            }
        }
    }
}

fn render(text: &Interpolated, contact: &Contact) -> Result<String, &'static str> {
    text.render(contact).map_err(|_: Variable| codes::MISSING_VARIABLE)
}

fn render_json(value: &Value, contact: &Contact) -> Result<Value, &'static str> {
    Ok(match value {
        Value::String(s) => {
            let text = Interpolated::parse(s).map_err(|_| codes::MISSING_VARIABLE)?;
            Value::String(render(&text, contact)?)
        }
        Value::Array(items) => Value::Array(items.iter().map(|v| render_json(v, contact)).collect::<Result<_, _>>()?),
        Value::Object(map) => Value::Object(
            map.iter().map(|(k, v)| Ok((k.clone(), render_json(v, contact)?))).collect::<Result<_, &'static str>>()?,
        ),
        other => other.clone(),
    })
}

/// The body `send_webhook` posts when the automation gives none.
fn default_webhook_body(
    workspace_id: &str,
    automation: &Automation,
    run: &Run,
    step: StepPath,
    contact: &Contact,
) -> Value {
    serde_json::json!({
        "workspace": workspace_id,
        "automation": { "id": automation.id(), "name": automation.name, "version": automation.version },
        "run": run.id,
        "step": step,
        "contact": contact.public_view(),
    })
}

/// Builds the Graph API body of a send step, or the code it fails (or is skipped) with.
fn build_message(
    workspace: &Workspace,
    action: &Action,
    contact: &Contact,
    now: Time,
) -> Result<crate::graph::GraphRequest, &'static str> {
    if contact.blocked {
        return Err(codes::CONTACT_BLOCKED);
    }
    match action {
        Action::SendTemplate { template, language, header, params, buttons } => {
            // Paused, disabled, pending and rejected templates are not sent.
            let known = workspace
                .template(template, language)
                .filter(|t| t.status == TemplateStatus::Approved)
                .ok_or(codes::TEMPLATE_NOT_APPROVED)?;
            if known.category == TemplateCategory::Marketing && contact.marketing == MarketingConsent::OptedOut {
                return Err(codes::MARKETING_OPT_OUT);
            }
            sends::template(contact, known, sends::TemplateSend { header: header.as_ref(), params, buttons })
        }
        Action::SendMedia { media, link, caption, filename } => {
            require_window(contact, now)?;
            sends::media(contact, *media, link, caption.as_ref(), filename.as_ref())
        }
        Action::SendList { text, button, sections } => {
            require_window(contact, now)?;
            sends::list(contact, text, button, sections)
        }
        Action::SendCtaUrl { text, display_text, url } => {
            require_window(contact, now)?;
            sends::cta_url(contact, text, display_text, url)
        }
        Action::SendText { text } => {
            require_window(contact, now)?;
            let body = render(text, contact)?;
            if body.chars().count() > MAX_TEXT_CHARS {
                return Err(codes::TEXT_TOO_LONG);
            }
            Ok(graph::text(contact, &body))
        }
        Action::SendButtons { text, buttons } => {
            require_window(contact, now)?;
            let body = render(text, contact)?;
            if body.chars().count() > MAX_BUTTON_TEXT_CHARS {
                return Err(codes::TEXT_TOO_LONG);
            }
            Ok(graph::buttons(contact, &body, buttons))
        }
        _ => unreachable!("build_message is called for send actions only"),
    }
}

/// Whether the contact wrote less than 24 hours before `now` (free-form messages need it).
pub(super) fn window_open(contact: &Contact, now: Time) -> bool {
    contact.last_inbound_at.is_some_and(|last| now - last < SERVICE_WINDOW)
}

fn require_window(contact: &Contact, now: Time) -> Result<(), &'static str> {
    if window_open(contact, now) { Ok(()) } else { Err(codes::OUTSIDE_WINDOW) }
}
