//! Runs in words (the Runs pages, SPEC §6): a run's steps as a timeline, each with its place in
//! the automation, its action, status, time, error code explained, delivery status and the
//! branch a flow step took; and the step a run is at, for the list.
//!
//! Everything here is pure: it reads a [`Run`] and the automation version the run is pinned to
//! (when still stored), and writes times in the workspace's zone. `pages::runs` reads the store.

pub mod explain;
pub mod texts;

use avvio_common::domain::automation::{Action, ActionKind, Automation};
use avvio_common::domain::path::{Branch, StepPath};
use avvio_common::domain::run::{Run, RunCause, RunStatus, StepRecord, StepStatus};
use avvio_common::domain::workspace::Timezone;
use avvio_common::time::Time;
use texts::RunsTexts;

/// How a text from the document (a message) is cut in a step's summary.
const SUMMARY_CHARS: usize = 80;

/// An instant: `iso` for `<time datetime>`, `local` in the workspace's zone for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct When {
    pub iso: String,
    pub local: String,
}

impl When {
    pub fn new(at: Time, zone: &Timezone, r: &RunsTexts) -> Self {
        Self {
            iso: at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            local: at.with_timezone(&zone.0).format(r.time_format()).to_string(),
        }
    }
}

/// A status as a badge: its words and its `.badge--…` modifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Badge {
    pub label: String,
    /// `""`: no colour.
    pub class: &'static str,
}

impl Badge {
    fn new(label: &str, class: &'static str) -> Self {
        Self { label: label.to_string(), class }
    }
}

/// An error code and what it means (`None`: a code nobody knows, shown alone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Code {
    pub code: String,
    pub explanation: Option<String>,
}

impl Code {
    pub fn new(code: &str, action: Option<ActionKind>, r: &RunsTexts) -> Self {
        Self { code: code.to_string(), explanation: explain::explain(code, action, r.lang) }
    }
}

/// A label and an instant (`Waiting for the reply until …`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Until {
    pub label: &'static str,
    pub at: When,
}

/// One entry of a run's timeline: a step it recorded, or the step it has scheduled next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// The step's path, as the document and the API write it.
    pub path: String,
    /// The path in words: `Step 3 › Reply “Prezzi” › Step 1`.
    pub place: String,
    /// The action's name in words.
    pub action: &'static str,
    /// What the action does, from the pinned version (`“welcome” (it)`).
    pub detail: Option<String>,
    pub status: Badge,
    /// The `.timeline__item--…` modifier (`""`: none).
    pub marker: &'static str,
    pub at: When,
    /// A sentence about the status (a step recorded as being sent).
    pub note: Option<String>,
    pub error: Option<Code>,
    pub delivery: Option<Badge>,
    /// The branch a flow step went on with, in words.
    pub branch: Option<String>,
    /// A `condition` branch's predicate, as the document writes it.
    pub predicate: Option<String>,
    /// The field a `wait_for_reply` saved the reply into.
    pub saved_in: Option<String>,
    pub until: Option<Until>,
    /// The runs this step started.
    pub started: Vec<String>,
}

impl Item {
    /// Whether the step has more to say than its status and time.
    pub fn has_facts(&self) -> bool {
        self.error.is_some()
            || self.delivery.is_some()
            || self.branch.is_some()
            || self.saved_in.is_some()
            || self.until.is_some()
            || !self.started.is_empty()
    }
}

/// What started a run, in words, and the run that did (when one did).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cause {
    pub text: String,
    pub by_run: Option<String>,
}

/// The step a run is at, for the list: where, which action, and since or until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Current {
    pub place: String,
    pub action: &'static str,
    pub note: Option<String>,
}

/// A run's status as a badge.
pub fn run_status(status: &RunStatus, r: &RunsTexts) -> Badge {
    match status {
        RunStatus::Active => Badge::new(r.run_active, "active"),
        RunStatus::Completed => Badge::new(r.run_completed, "done"),
        RunStatus::Cancelled { .. } => Badge::new(r.run_cancelled, "skipped"),
    }
}

/// Why a cancelled run was cancelled.
pub fn cancel_reason(status: &RunStatus, r: &RunsTexts) -> Option<Code> {
    match status {
        RunStatus::Cancelled { reason } => Some(Code::new(reason, None, r)),
        _ => None,
    }
}

/// What started the run.
pub fn cause(cause: &RunCause, r: &RunsTexts) -> Cause {
    let (text, by_run) = match cause {
        RunCause::Message { .. } => (r.cause_message.to_string(), None),
        RunCause::Integration => (r.cause_integration.to_string(), None),
        RunCause::List { by_run } => (r.cause_list.to_string(), by_run.as_ref()),
        RunCause::Date { date } => (format!("{} {date}", r.cause_date), None),
        RunCause::Manual => (r.cause_manual.to_string(), None),
        RunCause::Started { by_run } => (r.cause_started.to_string(), Some(by_run)),
        RunCause::Consent { by_run } => (r.cause_consent.to_string(), by_run.as_ref()),
    };
    Cause { text, by_run: by_run.map(ToString::to_string) }
}

/// The run's steps in the order it went through them, then the step it has scheduled next.
pub fn timeline(run: &Run, doc: Option<&Automation>, zone: &Timezone, r: &RunsTexts) -> Vec<Item> {
    let mut records: Vec<&StepRecord> = run.steps.iter().collect();
    records.sort_by_key(|record| record.step);
    let mut items: Vec<Item> = records.into_iter().map(|record| recorded(record, doc, zone, r)).collect();
    if let Some((path, due)) = scheduled(run, doc) {
        let action = doc.and_then(|d| d.step(&path)).map(|s| &s.action);
        items.push(Item {
            path: path.to_string(),
            place: place(&path, doc, r),
            action: action.map_or("", |a| r.action(a.kind())),
            detail: action.and_then(|a| summary(a, r)),
            status: Badge::new(r.step_scheduled, "pending"),
            marker: "",
            at: When::new(due, zone, r),
            note: None,
            error: None,
            delivery: None,
            branch: None,
            predicate: None,
            saved_in: None,
            until: None,
            started: Vec::new(),
        });
    }
    items
}

/// The step a run is at: the one it waits on, the one it has scheduled, or the last it ran.
pub fn current(run: &Run, doc: Option<&Automation>, zone: &Timezone, r: &RunsTexts) -> Option<Current> {
    if let Some(waiting) = run.steps.iter().find(|s| s.status == StepStatus::Waiting) {
        return Some(Current {
            place: place(&waiting.step, doc, r),
            action: r.action(waiting.action),
            note: waiting.until.map(|until| format!("{} {}", r.waiting_until, When::new(until, zone, r).local)),
        });
    }
    if let Some((path, due)) = scheduled(run, doc) {
        return Some(Current {
            place: place(&path, doc, r),
            action: doc.and_then(|d| d.step(&path)).map_or("", |s| r.action(s.action.kind())),
            note: Some(format!("{} {}", r.due_at, When::new(due, zone, r).local)),
        });
    }
    let last = run.steps.iter().max_by_key(|s| s.step)?;
    Some(Current { place: place(&last.step, doc, r), action: r.action(last.action), note: None })
}

/// The step an active run has queued next and when it is due: what follows its last step (a
/// flow step's branch, else the next step of its list), counted from when that step ran (a
/// `wait_until`: from the instant it holds the run until). `None` while a step waits or is
/// being sent, once the run is over, or without the pinned version.
pub fn scheduled(run: &Run, doc: Option<&Automation>) -> Option<(StepPath, Time)> {
    if run.status != RunStatus::Active {
        return None;
    }
    let doc = doc?;
    let Some(last) = run.steps.iter().max_by_key(|s| s.step) else {
        let first = doc.steps.first()?;
        return Some((StepPath::first(), run.started_at + first.after.to_chrono()));
    };
    if matches!(last.status, StepStatus::Waiting | StepStatus::Sending | StepStatus::Retrying) {
        return None;
    }
    let step = doc.step(&last.step)?;
    let (path, next) = match last.branch {
        Some(branch) => doc.branch_start(&last.step, branch)?,
        None if step.action.branches() => return None,
        None => doc.successor(&last.step)?,
    };
    let base = match last.action {
        ActionKind::WaitUntil => last.until.unwrap_or(last.at),
        _ => last.at,
    };
    Some((path, base + next.after.to_chrono()))
}

fn recorded(record: &StepRecord, doc: Option<&Automation>, zone: &Timezone, r: &RunsTexts) -> Item {
    let action = doc.and_then(|d| d.step(&record.step)).map(|s| &s.action);
    let (status, marker) = match record.status {
        StepStatus::Sending => (Badge::new(r.step_sending, "pending"), ""),
        StepStatus::Waiting => (Badge::new(r.step_waiting, "waiting"), "waiting"),
        StepStatus::Retrying => (Badge::new(r.step_retrying, "pending"), "waiting"),
        StepStatus::Done => (Badge::new(r.step_done, "done"), "done"),
        StepStatus::Failed => (Badge::new(r.step_failed, "failed"), "failed"),
        StepStatus::Skipped => (Badge::new(r.step_skipped, "skipped"), ""),
    };
    let until = record.until.map(|at| Until {
        label: match record.action {
            ActionKind::WaitForReply => r.waiting_until,
            _ if record.status == StepStatus::Retrying => r.retrying_at,
            _ => r.held_until,
        },
        at: When::new(at, zone, r),
    });
    // A resolved wait keeps its timeout only as history: what counts is the branch it took.
    let until = until.filter(|_| record.status == StepStatus::Waiting || record.action != ActionKind::WaitForReply);
    let (branch, predicate) = branch_taken(record, action, r);
    let saved_in = match (action, record.branch) {
        (Some(Action::WaitForReply { save_to: Some(field), .. }), Some(branch)) if branch != Branch::OnTimeout => {
            Some(field.to_string())
        }
        _ => None,
    };
    Item {
        path: record.step.to_string(),
        place: place(&record.step, doc, r),
        action: r.action(record.action),
        detail: action.and_then(|a| summary(a, r)),
        status,
        marker,
        at: When::new(record.at, zone, r),
        note: match (record.status, &record.retry) {
            (StepStatus::Sending, _) => Some(r.sending_hint.to_string()),
            (_, Some(retry)) if retry.attempts > 0 => Some(format!("{} {}", r.attempts, retry.attempts)),
            (StepStatus::Retrying, _) => Some(r.paced_hint.to_string()),
            _ => None,
        },
        error: record.error.as_deref().map(|code| Code::new(code, Some(record.action), r)),
        delivery: record.delivery.as_deref().map(|d| delivery(d, r)),
        branch,
        predicate,
        saved_in,
        until,
        started: record.started.iter().map(|s| s.run.to_string()).collect(),
    }
}

/// A delivery status WhatsApp reported, as a badge.
pub fn delivery(status: &str, r: &RunsTexts) -> Badge {
    match status {
        "sent" => Badge::new(r.delivery_sent, "pending"),
        "delivered" => Badge::new(r.delivery_delivered, "done"),
        "read" => Badge::new(r.delivery_read, "done"),
        "failed" => Badge::new(r.delivery_failed, "failed"),
        // Meta may add statuses (`played`); shown as they come, without a colour.
        other => Badge::new(other, ""),
    }
}

/// The branch a flow step went on with, in words, and a condition branch's predicate.
fn branch_taken(record: &StepRecord, action: Option<&Action>, r: &RunsTexts) -> (Option<String>, Option<String>) {
    let Some(branch) = record.branch else {
        let none_ran = record.action == ActionKind::Condition && record.status == StepStatus::Done;
        return (none_ran.then(|| r.branch_none.to_string()), None);
    };
    match (branch, record.action) {
        (Branch::OnTimeout, _) => (Some(r.branch_timeout.to_string()), None),
        (Branch::Otherwise, ActionKind::Condition) => (Some(r.branch_otherwise_condition.to_string()), None),
        (Branch::Otherwise, _) => (Some(r.branch_otherwise_reply.to_string()), None),
        (Branch::Branches(b), _) => {
            let b = usize::from(b);
            match action {
                Some(Action::WaitForReply { branches, .. }) if b < branches.len() => {
                    let replies: Vec<String> = branches[b].reply.iter().map(|w| r.quoted(w.text())).collect();
                    (Some(format!("{} {}", r.branch_reply, replies.join(", "))), None)
                }
                Some(Action::Condition { branches, .. }) if b < branches.len() => {
                    let predicate = serde_json::to_string(&branches[b].when).ok();
                    (Some(format!("{} {}", r.condition_number, b + 1)), predicate)
                }
                _ => {
                    let name = match record.action {
                        ActionKind::WaitForReply => r.reply_number,
                        ActionKind::Condition => r.condition_number,
                        _ => r.branch_number,
                    };
                    (Some(format!("{name} {}", b + 1)), None)
                }
            }
        }
    }
}

/// A step's path in words: `Step 3 › Reply “Prezzi” › Step 1`. Steps count from 1; a branch
/// is named by its first reply value or its number, from the pinned version when stored.
pub fn place(path: &StepPath, doc: Option<&Automation>, r: &RunsTexts) -> String {
    let (first, rest) = path.walk();
    let mut words = vec![format!("{} {}", r.step_number, first + 1)];
    let mut at = Some(StepPath::top(first));
    for (branch, index) in rest {
        let flow = at.and_then(|p| doc?.step(&p)).map(|s| &s.action);
        words.push(branch_name(branch, flow, r));
        words.push(format!("{} {}", r.step_number, index + 1));
        at = at.and_then(|p| p.child(branch, index));
    }
    words.join(" › ")
}

/// A branch in words: `Reply “Prezzi”`, `Condition 2`, `Otherwise`, `No reply`.
pub fn branch_name(branch: Branch, flow: Option<&Action>, r: &RunsTexts) -> String {
    match branch {
        Branch::Otherwise => r.otherwise.to_string(),
        Branch::OnTimeout => r.no_reply.to_string(),
        Branch::Branches(b) => {
            let b = usize::from(b);
            match flow {
                Some(Action::WaitForReply { branches, .. }) => {
                    match branches.get(b).and_then(|branch| branch.reply.first()) {
                        Some(reply) => format!("{} {}", r.reply_number, r.quoted(reply.text())),
                        None => format!("{} {}", r.reply_number, b + 1),
                    }
                }
                Some(Action::Condition { .. }) => format!("{} {}", r.condition_number, b + 1),
                _ => format!("{} {}", r.branch_number, b + 1),
            }
        }
    }
}

/// What an action does, in a few words from the document: the template, the text, the tag.
pub fn summary(action: &Action, r: &RunsTexts) -> Option<String> {
    let text = match action {
        Action::SendTemplate { template, language, .. } => format!("{} ({language})", r.quoted(template)),
        Action::SendText { text } => r.quoted(cut(text.source())),
        Action::SendButtons { text, buttons } => {
            let titles: Vec<&str> = buttons.iter().map(|b| b.title.as_str()).collect();
            format!("{} · {}", r.quoted(cut(text.source())), titles.join(" / "))
        }
        Action::SendMedia { media, caption, link, .. } => match caption {
            Some(caption) => format!("{} · {}", media.as_str(), r.quoted(cut(caption.source()))),
            None => format!("{} · {}", media.as_str(), cut(link.source())),
        },
        Action::SendList { text, button, .. } => format!("{} · {}", r.quoted(cut(text.source())), button),
        Action::SendCtaUrl { text, display_text, .. } => {
            format!("{} · {}", r.quoted(cut(text.source())), display_text)
        }
        Action::AddTag { tag } | Action::RemoveTag { tag } => r.quoted(tag),
        Action::AddToList { list } | Action::RemoveFromList { list } => r.quoted(list),
        Action::SetField { field, value: Some(value), .. } => {
            format!("{} = {}", r.quoted(field), r.quoted(cut(value.source())))
        }
        Action::SetField { field, value: None, .. } => format!("{} {}", r.quoted(field), r.from_next_reply),
        Action::SendWebhook { url, .. } => url.clone(),
        Action::AssignOperator { operator } => operator.to_string(),
        Action::SetConsent { marketing } => marketing.as_str().to_string(),
        Action::WaitForReply { timeout, .. } => format!("{} {timeout}", r.up_to),
        Action::WaitUntil { working_hours: true, .. } => r.working_hours.to_string(),
        Action::WaitUntil { time, days, .. } => {
            let mut words = time.map(|t| t.0.format("%H:%M").to_string()).unwrap_or_default();
            if let Some(days) = days {
                let names: Vec<String> =
                    days.iter().filter_map(|d| serde_json::to_value(d).ok()?.as_str().map(str::to_string)).collect();
                words = format!("{words} ({})", names.join(", "));
            }
            words
        }
        Action::StartAutomation { automation } => r.quoted(automation),
        Action::Condition { .. }
        | Action::BlockContact {}
        | Action::UnblockContact {}
        | Action::UnassignOperator {} => {
            return None;
        }
    };
    Some(text)
}

/// `text` cut to [`SUMMARY_CHARS`] characters, with `…` when cut.
fn cut(text: &str) -> String {
    match text.char_indices().nth(SUMMARY_CHARS) {
        Some((end, _)) => format!("{}…", text[..end].trim_end()),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::texts::{EN, IT};
    use super::*;
    use serde_json::json;

    fn automation() -> Automation {
        serde_json::from_value(json!({
            "id": "a", "name": "A", "trigger": {"type": "integration"},
            "steps": [
                {"after": "0s", "action": {"type": "send_text", "text": "Ciao"}},
                {"after": "5s", "action": {"type": "wait_for_reply", "timeout": "1d", "save_to": "interesse",
                    "branches": [{"reply": ["Prezzi", "1"], "steps": [
                        {"after": "0s", "action": {"type": "condition",
                            "branches": [{"if": {"has_tag": "vip"}, "steps": [
                                {"after": "0s", "action": {"type": "add_tag", "tag": "x"}}]}],
                            "otherwise": [{"after": "2m", "action": {"type": "add_tag", "tag": "y"}}]}}]}],
                    "on_timeout": [{"after": "0s", "action": {"type": "add_tag", "tag": "silent"}}]}}
            ]
        }))
        .unwrap()
    }

    fn path(text: &str) -> StepPath {
        text.parse().unwrap()
    }

    #[test]
    fn a_path_reads_as_steps_and_branches_counted_from_one() {
        let doc = automation();
        let deep = path("steps[1].action.branches[0].steps[0].action.otherwise[0]");
        assert_eq!(place(&deep, Some(&doc), &EN), "Step 2 › Reply “Prezzi” › Step 1 › Otherwise › Step 1");
        let condition = path("steps[1].action.branches[0].steps[0].action.branches[0].steps[0]");
        assert_eq!(place(&condition, Some(&doc), &IT), "Step 2 › Risposta «Prezzi» › Step 1 › Condizione 1 › Step 1");
        assert_eq!(place(&path("steps[1].action.on_timeout[0]"), None, &EN), "Step 2 › No reply › Step 1");
        assert_eq!(place(&path("steps[1].action.branches[2].steps[0]"), None, &IT), "Step 2 › Ramo 3 › Step 1");
    }

    #[test]
    fn a_long_text_is_cut_in_the_summary() {
        let long = "a".repeat(100);
        let action: Action = serde_json::from_value(json!({"type": "send_text", "text": long})).unwrap();
        let words = summary(&action, &EN).unwrap();
        assert_eq!(words.chars().count(), SUMMARY_CHARS + 3, "{words}");
        assert!(words.ends_with("…”"));
    }
}
