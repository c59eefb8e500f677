//! The automation engine: every rule of SPEC §2, pure. State and an event go
//! in (with `now`); decisions come out: the updated contact and run, the runs
//! to start, the steps to queue, and the I/O to perform (the exact Graph API
//! body, the webhook to post). The engine performs no I/O and never reads the
//! wall clock; `stages` wires it to the ports.

use crate::calendar::{self, DateRule, Due};
use crate::catalog::Fallbacks;
use crate::domain::automation::{Action, ActionKind, Automation, SetFieldSource, Trigger};
use crate::domain::contact::{Capture, Contact};
use crate::domain::ids::{AutomationId, FieldKey, ListName, Operator, RunId, Tag, Wamid};
use crate::domain::interpolate::{Interpolated, Variable};
use crate::domain::phone::ContactKey;
use crate::domain::run::{Run, RunCause, RunStatus, StepRecord, StepStatus};
use crate::domain::workspace::{TemplateStatus, Workspace};
use crate::graph;
use crate::time::Time;
use crate::validate::MAX_TEXT_CHARS;
use crate::webhook::{DeliveryStatus, InboundMessage, StatusUpdate};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Runs started by runs (through lists) may nest this deep; one more is `loop_detected`.
pub const MAX_DEPTH: u8 = 8;

/// The customer service window: free-form messages need an inbound message less than this old.
pub const SERVICE_WINDOW: chrono::Duration = chrono::Duration::hours(24);

/// How late the clock may be and still fire a date trigger after its target day ended.
pub const DATE_GRACE: chrono::Duration = chrono::Duration::hours(1);

/// Error codes a step can fail or be skipped with (SPEC §2).
pub mod codes {
    pub const MISSING_VARIABLE: &str = "missing_variable";
    pub const OUTSIDE_WINDOW: &str = "outside_customer_service_window";
    pub const TEMPLATE_NOT_APPROVED: &str = "template_not_approved";
    pub const TEMPLATE_PARAMS_MISMATCH: &str = "template_params_mismatch";
    pub const AUTOMATION_DISABLED: &str = "automation_disabled";
    pub const CONTACT_BLOCKED: &str = "contact_blocked";
    pub const LOOP_DETECTED: &str = "loop_detected";
    /// A rendered text is longer than WhatsApp accepts.
    pub const TEXT_TOO_LONG: &str = "text_too_long";
    /// The step crashed between recording its send and recording the result: it is never re-sent.
    pub const SEND_UNCONFIRMED: &str = "send_unconfirmed";
    /// WhatsApp reported the sent message as failed (a `failed` status webhook).
    pub const DELIVERY_FAILED: &str = "delivery_failed";
    /// The outbound webhook answered 4xx, or kept failing after its retries.
    pub const WEBHOOK_FAILED: &str = "webhook_failed";
}

/// Whether an automation's runs may go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Liveness {
    pub enabled: bool,
    pub last_disabled_version: u32,
}

impl Liveness {
    /// The liveness of an automation as read now: a run of this version may go on while it is enabled.
    pub fn of_current(automation: &Automation) -> Self {
        Self { enabled: automation.enabled, last_disabled_version: automation.version.saturating_sub(1) }
    }
}

/// A step to run at `due`: what the steps queue carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepDue {
    pub run: RunId,
    pub step: usize,
    #[serde(with = "crate::time::rfc3339")]
    pub due: Time,
}

/// A run to create and its first step to queue.
#[derive(Debug, Clone, PartialEq)]
pub struct RunStart {
    pub run: Run,
    pub first: StepDue,
}

/// One observable effect: a line of `avvio simulate`, a log line in production.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Effect {
    #[serde(with = "crate::time::rfc3339")]
    pub at: Time,
    pub contact: ContactKey,
    pub automation: AutomationId,
    pub run: RunId,
    pub step: usize,
    pub action: ActionKind,
    #[serde(flatten)]
    pub detail: Detail,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What an effect did, by kind of action.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Detail {
    Request { request: crate::graph::GraphRequest },
    Tag { tag: Tag },
    List { list: ListName },
    Operator { operator: Option<Operator> },
    Field { field: FieldKey, value: String },
    Capture { field: FieldKey, from: SetFieldSource },
    Webhook { url: String, body: Value },
    Delivery { wamid: Wamid, status: String, meta_errors: Vec<Value> },
    Nothing {},
}

/// The deterministic id of the run `automation` starts for `contact` because of
/// `cause_key` (a wamid, a request id, `run:step`, a date): the same cause never starts two runs.
pub fn run_id(automation: &AutomationId, contact: &ContactKey, cause_key: &str) -> RunId {
    let mut hash = Sha256::new();
    for part in [automation.as_str(), contact.as_str(), cause_key] {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    let digest = hash.finalize();
    let mut id = [0u8; 22];
    id[..2].copy_from_slice(b"r-");
    hex::encode_to_slice(&digest[..10], &mut id[2..]).expect("20 hex digits fit");
    RunId::derived(std::str::from_utf8(&id).expect("hex is ASCII"))
}

/// Starts `automation` for `contact`, refusing a chain deeper than [`MAX_DEPTH`].
pub fn start_run(
    automation: &Automation,
    contact: &Contact,
    cause: RunCause,
    cause_key: &str,
    depth: u8,
    now: Time,
) -> Result<RunStart, &'static str> {
    if depth > MAX_DEPTH {
        return Err(codes::LOOP_DETECTED);
    }
    let key = contact.key();
    let id = run_id(automation.id(), &key, cause_key);
    let first = StepDue { run: id.clone(), step: 0, due: now + automation.steps[0].after.to_chrono() };
    let run = Run {
        id,
        automation: automation.id().clone(),
        version: automation.version,
        contact: key,
        started_at: now,
        cause,
        depth,
        block_epoch: contact.engine.block_epoch,
        status: RunStatus::Active,
        steps: Vec::new(),
    };
    Ok(RunStart { run, first })
}

// ---------------------------------------------------------------------------
// Inbound messages
// ---------------------------------------------------------------------------

/// What the engine needs to decide about one inbound message.
pub struct MessageInput<'a> {
    pub workspace: &'a Workspace,
    /// The stored contact, if the sender is known.
    pub contact: Option<Contact>,
    pub message: &'a InboundMessage,
    /// The automation the message's phrase candidates name, first match in priority order.
    pub phrase_match: Option<&'a Arc<Automation>>,
    pub fallbacks: &'a Fallbacks,
    pub now: Time,
}

/// The decision about one inbound message.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageOutcome {
    pub contact: Contact,
    /// `set_field` lines of the `next_reply` captures the message filled.
    pub effects: Vec<Effect>,
    pub start: Option<RunStart>,
}

/// Records an inbound message on its sender, fills pending `next_reply`
/// captures, and picks the automation it starts: a phrase match beats `holiday`,
/// which beats `outside_hours`; a blocked contact only starts phrase automations that unblock.
pub fn on_message(input: MessageInput<'_>) -> MessageOutcome {
    let MessageInput { workspace, contact, message, phrase_match, fallbacks, now } = input;
    let sender = &message.sender;
    let mut contact = contact.unwrap_or_default();
    // What the message says about its sender, written only where it differs (the usual
    // message changes none of it).
    fn learn<T: PartialEq + Clone>(known: &mut Option<T>, said: Option<&T>) {
        if let Some(said) = said
            && known.as_ref() != Some(said)
        {
            *known = Some(said.clone());
        }
    }
    learn(&mut contact.phone, sender.phone.as_ref());
    learn(&mut contact.bsuid, sender.bsuid.as_ref());
    learn(&mut contact.name, sender.name.as_ref().filter(|n| !n.trim().is_empty()));
    learn(&mut contact.username, sender.username.as_ref());
    contact.last_inbound_at = contact.last_inbound_at.max(Some(message.timestamp));

    let mut effects = Vec::new();
    if !contact.engine.captures.is_empty() {
        let value = message.content.capture_value();
        for capture in std::mem::take(&mut contact.engine.captures) {
            contact.fields.insert(capture.field.clone(), value.clone());
            effects.push(Effect {
                at: now,
                contact: contact.key(),
                automation: capture.automation,
                run: capture.run,
                step: capture.step,
                action: ActionKind::SetField,
                detail: Detail::Field { field: capture.field, value: value.clone() },
                error: None,
            });
        }
    }

    let cause = RunCause::Message { wamid: message.wamid.clone() };
    let cause_key = message.wamid.as_str();
    let chosen = match phrase_match.filter(|a| a.enabled) {
        Some(automation) if !contact.blocked || automation.unblocks() => Some(automation.clone()),
        Some(_) => None,
        None if contact.blocked => None,
        None => pick_fallback(workspace, &contact, message.timestamp, fallbacks),
    };
    let start = chosen.map(|automation| {
        if !matches!(automation.trigger, Trigger::CustomerMessage { .. }) {
            contact.engine.fallback_fired.insert(automation.id().clone(), message.timestamp);
        }
        start_run(&automation, &contact, cause, cause_key, 0, now).expect("depth 0 is never a loop")
    });
    MessageOutcome { contact, effects, start }
}

/// The fallback a message outside hours or on a holiday starts, if its cooldown allows.
fn pick_fallback(workspace: &Workspace, contact: &Contact, at: Time, fallbacks: &Fallbacks) -> Option<Arc<Automation>> {
    let local = calendar::local(workspace.timezone, at);
    let holiday = calendar::is_holiday(&workspace.holidays, local.date());
    let candidate = if holiday && fallbacks.holiday.is_some() {
        // On a holiday the holiday automation answers; while it cools down, nothing else does.
        fallbacks.holiday.as_ref()
    } else if holiday || !calendar::is_open(workspace.working_hours.as_ref(), local) {
        fallbacks.outside_hours.as_ref()
    } else {
        None
    }?;
    let cooldown = match candidate.trigger {
        Trigger::Holiday { cooldown } | Trigger::OutsideHours { cooldown } => cooldown,
        _ => unreachable!("fallbacks hold only holiday and outside_hours automations"),
    };
    let cooled =
        contact.engine.fallback_fired.get(candidate.id()).is_none_or(|last| at - *last >= cooldown.to_chrono());
    cooled.then(|| candidate.clone())
}

/// Records a delivery status on the run step that sent the message; a `failed`
/// status fails the step with [`codes::DELIVERY_FAILED`] and yields its effect line.
pub fn on_status(run: &mut Run, step: usize, status: &StatusUpdate, now: Time) -> Option<Effect> {
    let record = run.steps.iter_mut().find(|s| s.step == step)?;
    let name = match &status.status {
        DeliveryStatus::Sent => "sent",
        DeliveryStatus::Delivered => "delivered",
        DeliveryStatus::Read => "read",
        DeliveryStatus::Failed => "failed",
        DeliveryStatus::Other(other) => other.as_str(),
    };
    // A late `delivered` never overwrites `read` or `failed`.
    let rank = |s: &str| match s {
        "sent" => 1,
        "delivered" => 2,
        "read" => 3,
        "failed" => 4,
        _ => 0,
    };
    if record.delivery.as_deref().is_some_and(|d| rank(d) >= rank(name)) {
        return None;
    }
    record.delivery = Some(name.to_string());
    if status.status != DeliveryStatus::Failed {
        return None;
    }
    record.status = StepStatus::Failed;
    record.error = Some(codes::DELIVERY_FAILED.to_string());
    Some(Effect {
        at: now,
        contact: run.contact.clone(),
        automation: run.automation.clone(),
        run: run.id.clone(),
        step,
        action: record.action,
        detail: Detail::Delivery {
            wamid: status.wamid.clone(),
            status: name.to_string(),
            meta_errors: status
                .errors
                .iter()
                .map(|e| serde_json::json!({ "code": e.code, "title": e.title }))
                .collect(),
        },
        error: Some(codes::DELIVERY_FAILED.to_string()),
    })
}

// ---------------------------------------------------------------------------
// Contacts and lists
// ---------------------------------------------------------------------------

/// The outcome of adding a contact to a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Join {
    /// Newly a member: `list` automations fire.
    Joined,
    AlreadyMember,
    /// Blocked contacts are in no list.
    Blocked,
}

/// Adds `contact` to `list`.
pub fn join_list(contact: &mut Contact, list: &ListName) -> Join {
    if contact.blocked {
        Join::Blocked
    } else if contact.lists.insert(list.clone()) {
        Join::Joined
    } else {
        Join::AlreadyMember
    }
}

/// Starts every `list` automation for a contact who just joined, at `depth`.
pub fn start_list_runs(
    automations: &[Arc<Automation>],
    contact: &Contact,
    cause: RunCause,
    cause_key: &str,
    depth: u8,
    now: Time,
) -> Result<Vec<RunStart>, &'static str> {
    automations.iter().map(|a| start_run(a, contact, cause.clone(), cause_key, depth, now)).collect()
}

/// Changes to a contact from outside a run: the API, an integration call, a `contact` event.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactPatch {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub fields: BTreeMap<FieldKey, String>,
    /// Replaces the tag set when present.
    #[serde(default)]
    pub tags: Option<std::collections::BTreeSet<Tag>>,
    #[serde(default)]
    pub operator: Option<Operator>,
}

impl ContactPatch {
    pub fn apply(self, contact: &mut Contact) {
        if let Some(name) = self.name.filter(|n| !n.trim().is_empty()) {
            contact.name = Some(name);
        }
        contact.fields.extend(self.fields);
        if let Some(tags) = self.tags {
            contact.tags = tags;
        }
        if let Some(operator) = self.operator {
            contact.operator = Some(operator);
        }
    }
}

// ---------------------------------------------------------------------------
// Date triggers
// ---------------------------------------------------------------------------

/// The field and rule of a `date` trigger.
pub fn date_rule(trigger: &Trigger) -> Option<(&FieldKey, DateRule)> {
    match trigger {
        Trigger::Date { field, offset_days, time, annual } => {
            Some((field, DateRule { offset_days: *offset_days, time: time.0, annual: *annual }))
        }
        _ => None,
    }
}

/// When `automation` next comes due for `contact`, looking from the local date
/// `from` on (so a field set later the same day still fires that day).
pub fn next_date_due(
    automation: &Automation,
    contact: &Contact,
    workspace: &Workspace,
    from: NaiveDate,
) -> Option<Due> {
    let (field, rule) = date_rule(&automation.trigger)?;
    let base = calendar::field_date(contact.fields.get(field)?, workspace.timezone)?;
    let mut from = from;
    loop {
        let due = rule.next_due(base, from, workspace.timezone)?;
        if !contact.engine.dates_fired.contains(&(automation.id().clone(), due.date)) {
            return Some(due);
        }
        from = due.date.succ_opt()?;
    }
}

/// Fires a date trigger found due by the clock, if it still holds: the field
/// still targets `date`, it has not fired for it, and `now` is on that local day
/// (or at most [`DATE_GRACE`] after it came due). Marks it fired on the contact.
pub fn fire_date(
    automation: &Automation,
    contact: &mut Contact,
    workspace: &Workspace,
    due: Due,
    now: Time,
) -> Option<RunStart> {
    let (field, rule) = date_rule(&automation.trigger)?;
    let base = calendar::field_date(contact.fields.get(field)?, workspace.timezone)?;
    let on_time = calendar::local(workspace.timezone, now).date() == due.date || now - due.at <= DATE_GRACE;
    if !automation.enabled
        || contact.blocked
        || due.at > now
        || !on_time
        || !rule.targets(base, due.date, workspace.timezone)
    {
        return None;
    }
    if !contact.engine.dates_fired.insert((automation.id().clone(), due.date)) {
        return None;
    }
    // Forget dates older than a year: they can never come due again.
    if let Some(horizon) = due.date.checked_sub_days(chrono::Days::new(400)) {
        contact.engine.dates_fired.retain(|(_, d)| *d >= horizon);
    }
    let cause_key = format!("date:{}", due.date);
    start_run(automation, contact, RunCause::Date { date: due.date }, &cause_key, 0, now).ok()
}

// ---------------------------------------------------------------------------
// Steps
// ---------------------------------------------------------------------------

/// What the engine needs to execute one step.
pub struct StepInput<'a> {
    pub workspace: &'a Workspace,
    /// The version of the automation the run is pinned to.
    pub automation: &'a Automation,
    /// The automation as it is now; `None` once deleted.
    pub live: Option<Liveness>,
    pub run: Run,
    pub step: usize,
    pub contact: &'a Contact,
    /// For `add_to_list`: the enabled `list` automations of that list.
    pub list_automations: &'a [Arc<Automation>],
    pub workspace_id: &'a str,
    pub now: Time,
}

/// The decision about one step.
#[derive(Debug)]
pub enum Execution {
    /// Nothing to do: the run is over, or this step and its successor already ran (a redelivery).
    Ignore,
    /// This step already ran but its successor never did: queue `next` again, at the time it
    /// was due (the first delivery may have stopped between recording the step and queueing it).
    Requeue {
        next: StepDue,
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
        body: Value,
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
    /// Runs started by this step (a list joined).
    pub starts: Vec<RunStart>,
}

/// A step waiting for the result of its I/O.
#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    pub run: Run,
    step: usize,
    effect: Effect,
    next_after: Option<chrono::Duration>,
}

/// The result of a send or a webhook post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IoOutcome {
    Sent { wamid: Option<Wamid> },
    Failed { code: String },
}

impl Pending {
    /// The step whose I/O this is.
    pub fn step(&self) -> usize {
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
        self.run.record(StepRecord {
            step: self.step,
            action: self.effect.action,
            status,
            at: now,
            error,
            wamid,
            delivery: None,
        });
        let next = advance(&mut self.run, self.step, self.next_after, now);
        StepResult { run: self.run, contact: None, effect: self.effect, next, starts: Vec::new() }
    }

    /// The run as it was before the intent was recorded: for a retryable failure
    /// (throttling, 5xx) that leaves the step to be retried.
    pub fn abandon(mut self) -> Run {
        self.run.steps.retain(|s| s.step != self.step);
        self.run
    }
}

/// Moves the run past `step`: the next step's due time, or the run completed.
fn advance(run: &mut Run, step: usize, next_after: Option<chrono::Duration>, now: Time) -> Option<StepDue> {
    match next_after {
        Some(after) => Some(StepDue { run: run.id.clone(), step: step + 1, due: now + after }),
        None => {
            run.status = RunStatus::Completed;
            None
        }
    }
}

/// Executes one step of a run, or says why it does not run.
pub fn execute_step(input: StepInput<'_>) -> Execution {
    let StepInput { workspace, automation, live, mut run, step, contact, list_automations, workspace_id, now } = input;
    // Borrowed: only the steps that change the contact copy it.
    let mut contact = std::borrow::Cow::Borrowed(contact);
    if run.status != RunStatus::Active || step >= automation.steps.len() {
        return Execution::Ignore;
    }
    let action = &automation.steps[step].action;
    let next_after = automation.steps.get(step + 1).map(|s| s.after.to_chrono());
    let mut effect = Effect {
        at: now,
        contact: contact.key(),
        automation: run.automation.clone(),
        run: run.id.clone(),
        step,
        action: action.kind(),
        detail: Detail::Nothing {},
        error: None,
    };

    match run.step(step).map(|r| r.status) {
        None => {}
        // Recorded as being sent, never recorded as sent: it may have gone out, so it never goes again.
        Some(StepStatus::Sending) => {
            effect.error = Some(codes::SEND_UNCONFIRMED.to_string());
            let pending = Pending { run, step, effect, next_after };
            return Execution::Finished(Box::new(
                pending.finish(IoOutcome::Failed { code: codes::SEND_UNCONFIRMED.into() }, now),
            ));
        }
        Some(_) => {
            let recorded = run.step(step).map(|r| r.at);
            return match (recorded, next_after) {
                (Some(at), Some(after)) if run.step(step + 1).is_none() => {
                    Execution::Requeue { next: StepDue { run: run.id.clone(), step: step + 1, due: at + after } }
                }
                _ => Execution::Ignore,
            };
        }
    }

    let cancelled = if live.is_none_or(|l| !l.enabled || l.last_disabled_version > run.version) {
        Some(codes::AUTOMATION_DISABLED)
    } else if contact.engine.block_epoch != run.block_epoch {
        Some(codes::CONTACT_BLOCKED)
    } else {
        None
    };
    if let Some(reason) = cancelled {
        run.status = RunStatus::Cancelled { reason: reason.to_string() };
        run.record(record(step, action, StepStatus::Skipped, now, Some(reason)));
        effect.error = Some(reason.to_string());
        return Execution::Finished(Box::new(StepResult {
            run,
            contact: None,
            effect,
            next: None,
            starts: Vec::new(),
        }));
    }

    let finished = |mut run: Run, contact: Option<Contact>, mut effect: Effect, outcome: Result<(), &str>, starts| {
        let (status, error) = match outcome {
            Ok(()) => (StepStatus::Done, None),
            Err(code) if code == codes::CONTACT_BLOCKED => (StepStatus::Skipped, Some(code)),
            Err(code) => (StepStatus::Failed, Some(code)),
        };
        effect.error = error.map(str::to_string);
        run.record(record(step, action, status, now, error));
        let next = advance(&mut run, step, next_after, now);
        Execution::Finished(Box::new(StepResult { run, contact, effect, next, starts }))
    };

    match action {
        Action::SendTemplate { .. } | Action::SendText { .. } | Action::SendButtons { .. } => {
            match build_message(workspace, action, &contact, now) {
                Ok(request) => {
                    effect.detail = Detail::Request { request };
                    run.record(record(step, action, StepStatus::Sending, now, None));
                    Execution::Send { pending: Pending { run, step, effect, next_after } }
                }
                Err(code) => finished(run, None, effect, Err(code), Vec::new()),
            }
        }
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
            match join_list(contact.to_mut(), list) {
                Join::Blocked => finished(run, None, effect, Err(codes::CONTACT_BLOCKED), Vec::new()),
                Join::AlreadyMember => finished(run, None, effect, Ok(()), Vec::new()),
                Join::Joined => {
                    let cause = RunCause::List { by_run: Some(run.id.clone()) };
                    let cause_key = format!("{}:{step}", run.id);
                    match start_list_runs(list_automations, &contact, cause, &cause_key, run.depth + 1, now) {
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
            let blocked = contact.to_mut();
            blocked.blocked = true;
            blocked.lists.clear();
            blocked.engine.captures.clear();
            blocked.engine.block_epoch += 1;
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
        Action::SendWebhook { url, body } => {
            let body = match body {
                Some(body) => render_json(body, &contact),
                None => Ok(default_webhook_body(workspace_id, automation, &run, step, &contact)),
            };
            match body {
                Ok(body) => {
                    effect.detail = Detail::Webhook { url: url.clone(), body: body.clone() };
                    let signature = workspace.webhook_secret.as_ref().map(|secret| {
                        crate::outbound::signature(secret.expose().as_bytes(), body.to_string().as_bytes())
                    });
                    run.record(record(step, action, StepStatus::Sending, now, None));
                    Execution::Webhook {
                        url: url.clone(),
                        body,
                        signature,
                        pending: Pending { run, step, effect, next_after },
                    }
                }
                Err(code) => finished(run, None, effect, Err(code), Vec::new()),
            }
        }
    }
}

fn record(step: usize, action: &Action, status: StepStatus, at: Time, error: Option<&str>) -> StepRecord {
    StepRecord {
        step,
        action: action.kind(),
        status,
        at,
        error: error.map(str::to_string),
        wamid: None,
        delivery: None,
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
    step: usize,
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

/// Builds the Graph API body of a send step, or the code it fails with.
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
        Action::SendTemplate { template, language, params } => {
            let known = workspace
                .template(template, language)
                .filter(|t| t.status == TemplateStatus::Approved)
                .ok_or(codes::TEMPLATE_NOT_APPROVED)?;
            if known.placeholder_count() != params.len() {
                return Err(codes::TEMPLATE_PARAMS_MISMATCH);
            }
            let params = params.iter().map(|p| render(p, contact)).collect::<Result<Vec<_>, _>>()?;
            Ok(graph::template(contact, template.as_str(), language.as_str(), &params))
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
            if body.chars().count() > crate::validate::MAX_BUTTON_TEXT_CHARS {
                return Err(codes::TEXT_TOO_LONG);
            }
            Ok(graph::buttons(contact, &body, buttons))
        }
        _ => unreachable!("build_message is called for send actions only"),
    }
}

/// Free-form messages need an inbound message less than 24 hours old.
fn require_window(contact: &Contact, now: Time) -> Result<(), &'static str> {
    match contact.last_inbound_at {
        Some(last) if now - last < SERVICE_WINDOW => Ok(()),
        _ => Err(codes::OUTSIDE_WINDOW),
    }
}
