//! An inbound message, in the order its rules apply: what it tells about its sender,
//! the marketing consent it changes (a consent phrase), the `next_reply` captures it
//! fills, the waiting run that takes it, and — when none does — the automation it
//! starts (a phrase beats `holiday`, which beats `outside_hours`). And a delivery status.

use super::flows::{ReplyOffer, ReplyOutcome, Waiting, offer_reply};
use super::{Detail, Effect, RunStart, StepDue, codes, start_run};
use crate::calendar;
use crate::catalog::Fallbacks;
use crate::domain::automation::{ActionKind, Automation, Trigger};
use crate::domain::contact::{ConsentChoice, Contact};
use crate::domain::ids::RunId;
use crate::domain::path::StepPath;
use crate::domain::phrase::Phrase;
use crate::domain::run::{Run, RunCause, StepStatus};
use crate::domain::workspace::Workspace;
use crate::time::Time;
use crate::webhook::{DeliveryStatus, InboundMessage, StatusUpdate};
use std::sync::Arc;

/// What the engine needs to decide about one inbound message.
pub struct MessageInput<'a> {
    pub workspace: &'a Workspace,
    /// The stored contact, if the sender is known.
    pub contact: Option<Contact>,
    pub message: &'a InboundMessage,
    /// The message's phrase candidates, normalised, in priority order.
    pub phrases: &'a [Phrase],
    /// The automation the message's phrase candidates name, first match in priority order.
    pub phrase_match: Option<&'a Arc<Automation>>,
    pub fallbacks: &'a Fallbacks,
    /// The contact's waiting runs as read, by run id (the stage reads one per wait).
    pub waiting: &'a [(RunId, Waiting)],
    pub now: Time,
}

/// The decision about one inbound message.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageOutcome {
    pub contact: Contact,
    /// Lines of the captures the message filled and of the waits it resolved or ended.
    pub effects: Vec<Effect>,
    pub start: Option<RunStart>,
    /// Waiting runs the message resolved (the one that took it) or ended (cancelled meanwhile).
    pub resolved: Vec<Resolved>,
    /// The consent a consent phrase changed the contact to: its `consent` automations start.
    pub consent: Option<ConsentChoice>,
}

/// A waiting run rewritten by a message, and where it goes on.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    pub run: Run,
    pub next: Option<StepDue>,
}

/// Records an inbound message on its sender, changes its consent on a consent phrase,
/// fills pending `next_reply` captures, offers the message to the waiting runs (the last
/// to start waiting first), and, when none takes it, picks the automation it starts: a
/// phrase match beats `holiday`, which beats `outside_hours`; a blocked contact only
/// starts phrase automations that unblock.
pub fn on_message(input: MessageInput<'_>) -> MessageOutcome {
    let MessageInput { workspace, contact, message, phrases, phrase_match, fallbacks, waiting, now } = input;
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
    // A consent phrase changes the consent first; the message then goes on as usual.
    let consent = workspace.consent.choice(phrases).filter(|choice| contact.set_consent(*choice));

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

    let (resolved, taken) = offer_to_waits(&mut contact, &mut effects, message, phrases, waiting, now);
    let start = if taken { None } else { pick_trigger(workspace, &mut contact, message, phrase_match, fallbacks, now) };
    MessageOutcome { contact, effects, start, resolved, consent }
}

/// Offers the message to the contact's waiting runs, the last to start waiting first,
/// until one takes it. Returns the runs rewritten and whether one took it.
fn offer_to_waits(
    contact: &mut Contact,
    effects: &mut Vec<Effect>,
    message: &InboundMessage,
    phrases: &[Phrase],
    waiting: &[(RunId, Waiting)],
    now: Time,
) -> (Vec<Resolved>, bool) {
    let mut resolved = Vec::new();
    if contact.engine.waits.is_empty() {
        return (resolved, false);
    }
    let mut waits = contact.engine.waits.clone();
    // Stable: of two waits that started at one instant, the one recorded later goes first.
    waits.reverse();
    waits.sort_by_key(|w| std::cmp::Reverse(w.since));
    let unread = Waiting::default();
    for wait in &waits {
        let read = waiting.iter().find(|(id, _)| *id == wait.run).map_or(&unread, |(_, w)| w);
        let offer = ReplyOffer { wait, waiting: read, message, phrases, now };
        match offer_reply(offer, contact) {
            ReplyOutcome::Declined => {}
            ReplyOutcome::Ended { run, effect } => {
                effects.extend(effect);
                resolved.extend(run.map(|run| Resolved { run, next: None }));
            }
            ReplyOutcome::Taken { run, effect, next } => {
                effects.push(effect);
                resolved.push(Resolved { run, next });
                return (resolved, true);
            }
        }
    }
    (resolved, false)
}

/// The run a message no waiting run took starts, if any.
fn pick_trigger(
    workspace: &Workspace,
    contact: &mut Contact,
    message: &InboundMessage,
    phrase_match: Option<&Arc<Automation>>,
    fallbacks: &Fallbacks,
    now: Time,
) -> Option<RunStart> {
    let chosen = match phrase_match.filter(|a| a.enabled) {
        Some(automation) if !contact.blocked || automation.unblocks() => Some(automation.clone()),
        Some(_) => None,
        None if contact.blocked => None,
        None => pick_fallback(workspace, contact, message.timestamp, fallbacks),
    }?;
    if !matches!(chosen.trigger, Trigger::CustomerMessage { .. }) {
        contact.engine.fallback_fired.insert(chosen.id().clone(), message.timestamp);
    }
    let cause = RunCause::Message { wamid: message.wamid.clone() };
    let start = start_run(&chosen, contact, cause, message.wamid.as_str(), 0, now).expect("depth 0 is never a loop");
    Some(start.kept_for(workspace.runs_retention))
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
pub fn on_status(run: &mut Run, step: &StepPath, status: &StatusUpdate, now: Time) -> Option<Effect> {
    let record = run.steps.iter_mut().find(|s| s.step == *step)?;
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
        step: *step,
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
