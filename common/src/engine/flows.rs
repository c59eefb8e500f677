//! Flow steps (SPEC §2.3): the steps that choose where a run goes on (`wait_for_reply`,
//! `condition`) or hold it (`wait_until`), and `start_automation`.
//!
//! A flow step is the last of its list, so a run goes on with the first step of the
//! branch it chose, and ends when that branch's steps end. A `wait_for_reply` records
//! itself `waiting` on the run and the contact (so a message of a contact with no
//! waiting run costs nothing more to decide), and queues itself again for its timeout:
//! the reply ([`offer_reply`], in the matcher) and the timeout ([`wait_timed_out`], in
//! the executor) each rewrite the run conditioned on the revision they read, so exactly
//! one of them resolves the wait.

use super::steps::{advance, cancellation, window_open};
use super::{Detail, Effect, Execution, Liveness, RunStart, StepDue, StepResult, codes};
use crate::calendar;
use crate::domain::automation::{Action, ActionKind, Automation, Predicate};
use crate::domain::contact::{Contact, Wait};
use crate::domain::ids::{FieldKey, RunId};
use crate::domain::path::{Branch, StepPath};
use crate::domain::phrase::{Phrase, normalise};
use crate::domain::run::{Run, RunCause, RunStatus, StepRecord, StepStatus};
use crate::domain::workspace::{Day, Workspace};
use crate::time::Time;
use crate::webhook::InboundMessage;
use std::borrow::Cow;
use std::sync::Arc;

/// A flow step about to run for the first time.
pub(super) struct FlowStep<'a, 'c> {
    pub workspace: &'a Workspace,
    pub automation: &'a Automation,
    pub action: &'a Action,
    pub run: Run,
    pub step: StepPath,
    pub contact: Cow<'c, Contact>,
    pub effect: Effect,
    pub now: Time,
}

/// Runs a `condition`, starts a `wait_for_reply` or holds the run for a `wait_until`.
pub(super) fn execute(flow: FlowStep<'_, '_>) -> Execution {
    let FlowStep { workspace, automation, action, mut run, step, contact, mut effect, now } = flow;
    let mut record = StepRecord::new(step, action.kind(), StepStatus::Done, now, None);
    let next = match action {
        Action::Condition { branches, otherwise } => {
            let chosen = branches
                .iter()
                .position(|b| holds(&b.when, &contact, workspace, now))
                .and_then(Branch::numbered)
                .or(otherwise.as_ref().map(|_| Branch::Otherwise));
            effect.detail = Detail::Chosen { branch: chosen };
            record.branch = chosen;
            chosen.and_then(|b| branch_start(automation, &step, b))
        }
        Action::WaitUntil { time, days, working_hours } => {
            let until = if *working_hours {
                next_open(workspace, now)
            } else {
                let time = time.expect("wait_until has a time or working_hours (validated)").0;
                calendar::next_local(workspace.timezone, now, time, days.as_deref().unwrap_or(&Day::ALL))
            };
            effect.detail = Detail::Until { until };
            record.until = Some(until);
            // The next step's delay counts from `until`: the run is held until then.
            automation.successor(&step).map(|(path, s)| (path, until - now + s.after.to_chrono()))
        }
        Action::WaitForReply { timeout, .. } => {
            return start_wait(run, step, contact.into_owned(), effect, now, *timeout);
        }
        _ => unreachable!("flows::execute runs flow steps only"),
    };
    run.record(record);
    let next = advance(&mut run, next, now);
    Execution::Finished(Box::new(StepResult { run, contact: None, effect, next, starts: Vec::new() }))
}

/// A `wait_for_reply` starts: recorded `waiting` on the run and on the contact, and queued
/// again for its timeout.
fn start_wait(
    mut run: Run,
    step: StepPath,
    mut contact: Contact,
    mut effect: Effect,
    now: Time,
    timeout: crate::domain::duration::Duration,
) -> Execution {
    let until = now + timeout.to_chrono();
    let mut record = StepRecord::new(step, ActionKind::WaitForReply, StepStatus::Waiting, now, None);
    record.until = Some(until);
    run.record(record);
    effect.detail = Detail::Until { until };
    contact.engine.waits.push(Wait {
        run: run.id.clone(),
        automation: run.automation.clone(),
        step,
        since: now,
        until,
    });
    // The timeout: this step again, at `until`.
    let timeout = StepDue { run: run.id.clone(), step, due: until };
    Execution::Finished(Box::new(StepResult {
        run,
        contact: Some(contact),
        effect,
        next: Some(timeout),
        starts: Vec::new(),
    }))
}

/// The first step of `branch` of the flow step at `step`, with its delay (none: the run ends).
fn branch_start(automation: &Automation, step: &StepPath, branch: Branch) -> Option<(StepPath, chrono::Duration)> {
    automation.branch_start(step, branch).map(|(path, s)| (path, s.after.to_chrono()))
}

/// Where a run goes on after a step it records as run, and when: a flow step's branch (or
/// nothing, when it chose none), else the next step of its list, counted from when the
/// step ran (a `wait_until`: from the instant it held the run until).
pub(super) fn continuation(automation: &Automation, record: &StepRecord) -> Option<(StepPath, Time)> {
    let step = automation.step(&record.step)?;
    let (path, next) = match record.branch {
        Some(branch) => automation.branch_start(&record.step, branch)?,
        None if step.action.branches() => return None,
        None => automation.successor(&record.step)?,
    };
    let base = match record.action {
        ActionKind::WaitUntil => record.until.unwrap_or(record.at),
        _ => record.at,
    };
    Some((path, base + next.after.to_chrono()))
}

/// A `wait_for_reply` step delivered again at its timeout.
pub(super) struct Timeout<'a> {
    pub automation: &'a Automation,
    pub live: Option<Liveness>,
    pub run: Run,
    pub step: StepPath,
    pub contact: &'a Contact,
    pub now: Time,
}

/// The timeout of a waiting `wait_for_reply`: `on_timeout` (or the run ends), unless the
/// run was cancelled meanwhile. Early (a redelivery, a clock ahead): back to the queue.
pub(super) fn wait_timed_out(timeout: Timeout<'_>) -> Execution {
    let Timeout { automation, live, mut run, step, contact, now } = timeout;
    let Some(until) = run.step(&step).and_then(|r| r.until) else { return Execution::Ignore };
    if now < until {
        return Execution::Requeue { next: vec![StepDue { run: run.id.clone(), step, due: until }] };
    }
    let Some(Action::WaitForReply { save_to, .. }) = automation.step(&step).map(|s| &s.action) else {
        return Execution::Ignore;
    };
    let mut contact = contact.clone();
    let was_waiting = forget_wait(&mut contact, &run.id, &step);
    let mut effect = Effect::of(&run, contact.key(), step, ActionKind::WaitForReply, now);
    let next = match cancellation(live, &run, &contact) {
        Some(reason) => {
            end_wait(&mut run, &step, reason, now);
            effect.error = Some(reason.to_string());
            None
        }
        None => {
            effect.detail = Detail::Reply { branch: Branch::OnTimeout, value: None, field: save_to.clone() };
            resolve(&mut run, automation, &step, Branch::OnTimeout, now)
        }
    };
    let contact = was_waiting.then_some(contact);
    Execution::Finished(Box::new(StepResult { run, contact, effect, next, starts: Vec::new() }))
}

/// Records the wait at `step` resolved by `branch` and decides its branch's first step
/// (none: the run is completed).
fn resolve(run: &mut Run, automation: &Automation, step: &StepPath, branch: Branch, now: Time) -> Option<StepDue> {
    if let Some(record) = run.steps.iter_mut().find(|r| r.step == *step) {
        (record.status, record.branch, record.at) = (StepStatus::Done, Some(branch), now);
    }
    advance(run, branch_start(automation, step, branch), now)
}

/// Ends a run whose wait at `step` is cancelled (`reason`: an error code).
fn end_wait(run: &mut Run, step: &StepPath, reason: &str, now: Time) {
    if let Some(record) = run.steps.iter_mut().find(|r| r.step == *step) {
        (record.status, record.error, record.at) = (StepStatus::Skipped, Some(reason.to_string()), now);
    }
    run.status = RunStatus::Cancelled { reason: reason.to_string() };
}

/// Removes the contact's wait of `run` at `step`; whether it had one.
fn forget_wait(contact: &mut Contact, run: &RunId, step: &StepPath) -> bool {
    let before = contact.engine.waits.len();
    contact.engine.waits.retain(|w| !(w.run == *run && w.step == *step));
    contact.engine.waits.len() != before
}

// ---------------------------------------------------------------------------
// Replies
// ---------------------------------------------------------------------------

/// A waiting run as read for a message of its contact.
#[derive(Debug, Clone, Default)]
pub struct Waiting {
    /// `None`: the run is gone.
    pub run: Option<Run>,
    /// The version the run is pinned to.
    pub automation: Option<Arc<Automation>>,
    /// The automation as it is now (`None`: deleted).
    pub live: Option<Liveness>,
}

/// A message offered to one waiting run.
pub struct ReplyOffer<'a> {
    pub wait: &'a Wait,
    pub waiting: &'a Waiting,
    pub message: &'a InboundMessage,
    /// The message's phrase candidates, normalised.
    pub phrases: &'a [Phrase],
    pub now: Time,
}

/// What a waiting run did with a message.
#[derive(Debug, Clone, PartialEq)]
pub enum ReplyOutcome {
    /// Not taken (no branch matches and there is no `otherwise`, or the wait timed out
    /// before the message was sent): the run keeps waiting, the message goes on.
    Declined,
    /// The wait is over without the message: its run was cancelled (`run`, with its line),
    /// or it was stale (nothing to write but the contact). The message goes on.
    Ended { run: Option<Run>, effect: Option<Effect> },
    /// The run took the message: its wait resolved, its branch's first step `next`.
    Taken { run: Run, effect: Effect, next: Option<StepDue> },
}

/// Offers a message to a waiting run. The contact loses the wait unless the message is
/// declined, and gains the `save_to` field when it is taken.
pub fn offer_reply(offer: ReplyOffer<'_>, contact: &mut Contact) -> ReplyOutcome {
    let ReplyOffer { wait, waiting, message, phrases, now } = offer;
    // Sent at or after the timeout: the timeout resolves the wait, whenever it is processed.
    // Sent before the wait started (a webhook delivered late): not an answer to it. Meta's
    // timestamps are whole seconds: a reply within the second the wait started is in time.
    if message.timestamp >= wait.until || message.timestamp < chrono::SubsecRound::trunc_subsecs(wait.since, 0) {
        return ReplyOutcome::Declined;
    }
    let stale = |contact: &mut Contact| {
        forget_wait(contact, &wait.run, &wait.step);
        ReplyOutcome::Ended { run: None, effect: None }
    };
    let (Some(run), Some(automation)) = (&waiting.run, waiting.automation.as_deref()) else { return stale(contact) };
    let waiting_here =
        run.status == RunStatus::Active && run.step(&wait.step).is_some_and(|r| r.status == StepStatus::Waiting);
    let Some(Action::WaitForReply { branches, otherwise, save_to, .. }) =
        automation.step(&wait.step).map(|s| &s.action).filter(|_| waiting_here)
    else {
        return stale(contact);
    };
    let mut run = run.clone();
    let mut effect = Effect::of(&run, contact.key(), wait.step, ActionKind::WaitForReply, now);
    if let Some(reason) = cancellation(waiting.live, &run, contact) {
        forget_wait(contact, &wait.run, &wait.step);
        end_wait(&mut run, &wait.step, reason, now);
        effect.error = Some(reason.to_string());
        return ReplyOutcome::Ended { run: Some(run), effect: Some(effect) };
    }
    let matched = branches.iter().position(|b| b.reply.iter().any(|value| phrases.contains(value.phrase())));
    let Some(branch) = matched.and_then(Branch::numbered).or(otherwise.as_ref().map(|_| Branch::Otherwise)) else {
        return ReplyOutcome::Declined;
    };
    forget_wait(contact, &wait.run, &wait.step);
    let value = message.content.capture_value();
    if let Some(field) = save_to {
        contact.fields.insert(field.clone(), value.clone());
    }
    effect.detail = Detail::Reply { branch, value: Some(value), field: save_to.clone() };
    let next = resolve(&mut run, automation, &wait.step, branch, now);
    ReplyOutcome::Taken { run, effect, next }
}

// ---------------------------------------------------------------------------
// Conditions, waits and sub-automations
// ---------------------------------------------------------------------------

/// Whether `predicate` holds for `contact` at `now`.
pub(super) fn holds(predicate: &Predicate, contact: &Contact, workspace: &Workspace, now: Time) -> bool {
    match predicate {
        Predicate::HasTag(tag) => contact.tags.contains(tag),
        Predicate::InList(list) => contact.lists.contains(list),
        Predicate::FieldEquals { field, value } => field_equals(contact, field, value.phrase()),
        Predicate::FieldExists { field, exists } => contact.fields.contains_key(field) == *exists,
        Predicate::HasOperator(has) => contact.operator.is_some() == *has,
        Predicate::WorkingHours(open) => is_open(workspace, now) == *open,
        Predicate::ServiceWindowOpen(open) => window_open(contact, now) == *open,
        Predicate::Marketing(consent) => contact.marketing == *consent,
        Predicate::All(all) => all.iter().all(|p| holds(p, contact, workspace, now)),
        Predicate::Any(any) => any.iter().any(|p| holds(p, contact, workspace, now)),
        Predicate::Not(not) => !holds(not, contact, workspace, now),
    }
}

fn field_equals(contact: &Contact, field: &FieldKey, value: &Phrase) -> bool {
    contact.fields.get(field).is_some_and(|v| normalise(v) == value.as_str())
}

/// Inside working hours and not on a holiday.
fn is_open(workspace: &Workspace, now: Time) -> bool {
    let local = calendar::local(workspace.timezone, now);
    !calendar::is_holiday(&workspace.holidays, local.date())
        && calendar::is_open(workspace.working_hours.as_ref(), local)
}

/// When the workspace is next open: `now` when it is; a workspace closed for a whole year
/// ahead (no hours on any day) lets the run go on at once rather than hold it forever.
fn next_open(workspace: &Workspace, now: Time) -> Time {
    if is_open(workspace, now) {
        return now;
    }
    calendar::next_opening(workspace.timezone, workspace.working_hours.as_ref(), &workspace.holidays, now)
        .unwrap_or(now)
}

/// Starts the automation a `start_automation` step names (`related`: its current version,
/// if it exists) one level deeper than `run`.
pub(super) fn start_automation(
    related: &[Arc<Automation>],
    contact: &Contact,
    run: &Run,
    cause_key: &str,
    now: Time,
) -> Result<RunStart, &'static str> {
    let target = related.first().ok_or(codes::AUTOMATION_NOT_FOUND)?;
    if !target.enabled {
        return Err(codes::AUTOMATION_DISABLED);
    }
    let cause = RunCause::Started { by_run: run.id.clone() };
    super::start_run(target, contact, cause, cause_key, run.depth + 1, now)
}
