//! Runs: one execution of one automation version for one contact, with the
//! outcome of every step.

use super::automation::ActionKind;
use super::duration::Duration;
use super::ids::{AutomationId, RunId, Wamid};
use super::path::{Branch, StepPath};
use super::phone::ContactKey;
use crate::time::Time;
use serde::{Deserialize, Serialize};

/// Where a run is in its life.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum RunStatus {
    /// Steps remain; the next one is queued.
    Active,
    /// Every step ran (done, failed or skipped).
    Completed,
    /// Pending steps were cancelled; `reason` is an error code (`contact_blocked`, `automation_disabled`).
    Cancelled { reason: String },
}

/// A step's outcome, as the run history shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    /// The send was recorded as about to happen; a crash here means "maybe sent", never re-sent.
    Sending,
    /// A `wait_for_reply` waiting for the contact's reply, until `until`.
    Waiting,
    /// A send that did not go out yet and is tried again at `until`: Meta throttled it or failed
    /// transiently, or it waits for its turn within the number's rate (see `retry`).
    Retrying,
    Done,
    Failed,
    Skipped,
}

/// One executed (or skipped) step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepRecord {
    /// The step's path in the automation version the run executes; runs stored before
    /// flows wrote a number `N`, read as `steps[N]`.
    pub step: StepPath,
    pub action: ActionKind,
    pub status: StepStatus,
    #[serde(with = "crate::time::rfc3339")]
    pub at: Time,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The id WhatsApp gave the message this step sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wamid: Option<Wamid>,
    /// The latest delivery status WhatsApp reported for that message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<String>,
    /// The branch a flow step went on with (`condition`: absent when none ran).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<Branch>,
    /// Until when the step holds the run: a `wait_for_reply`'s timeout, a `wait_until`'s instant.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "crate::time::optional_rfc3339")]
    pub until: Option<Time>,
    /// The runs the step started (a list joined, an automation started, a consent changed),
    /// by run and first step: created with the step's result, queued after it, and queued
    /// again by a redelivery of the step (the first delivery may have stopped in between).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub started: Vec<Started>,
    /// A send's tries so far, when it needed more than one (kept on its final record).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetryState>,
}

/// How a send that did not go out at once is being tried again (SPEC §2.6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryState {
    /// Tries Meta refused transiently (throttling, 5xx, timeouts); `error` holds the last code.
    pub attempts: u32,
    /// When the first try was refused: retries end `whatsapp.retry_for` after it.
    #[serde(with = "crate::time::rfc3339")]
    pub since: Time,
    /// The send slot of the number's rate reserved for the next try, when pacing deferred it.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "crate::time::optional_rfc3339")]
    pub slot: Option<Time>,
}

/// A run a step started, and when its first step was due.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Started {
    pub run: RunId,
    #[serde(with = "crate::time::rfc3339")]
    pub due: Time,
}

impl StepRecord {
    /// A record with no I/O detail: status, time and error only.
    pub fn new(step: StepPath, action: ActionKind, status: StepStatus, at: Time, error: Option<&str>) -> Self {
        Self {
            step,
            action,
            status,
            at,
            error: error.map(str::to_string),
            wamid: None,
            delivery: None,
            branch: None,
            until: None,
            started: Vec::new(),
            retry: None,
        }
    }
}

/// What started a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum RunCause {
    Message {
        wamid: Wamid,
    },
    Integration,
    List {
        by_run: Option<RunId>,
    },
    Date {
        date: chrono::NaiveDate,
    },
    Manual,
    /// A `start_automation` step of run `by_run`.
    Started {
        by_run: RunId,
    },
    /// The contact's consent changed (by a step of `by_run`, or from outside a run).
    Consent {
        by_run: Option<RunId>,
    },
}

/// One execution of one automation version for one contact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Run {
    pub id: RunId,
    pub automation: AutomationId,
    /// The automation version the run executes, whatever happens to the automation later.
    pub version: u32,
    pub contact: ContactKey,
    #[serde(with = "crate::time::rfc3339")]
    pub started_at: Time,
    pub cause: RunCause,
    /// 0 for runs started from outside; a run started by a step of a run of depth d has depth d + 1.
    pub depth: u8,
    /// The contact's block epoch when the run started.
    pub block_epoch: u32,
    pub status: RunStatus,
    pub steps: Vec<StepRecord>,
    /// How long the run is kept once it ended: the workspace's `runs_retention` when it
    /// started (runs stored before retention read as [`RUNS_RETENTION`]).
    #[serde(default = "default_retention")]
    pub retention: Duration,
}

/// How long an ended run is kept when the workspace does not say (`runs_retention`).
pub const RUNS_RETENTION: Duration = Duration::from_secs(90 * 86_400);

fn default_retention() -> Duration {
    RUNS_RETENTION
}

impl Run {
    /// When the run's history is deleted: [`Self::retention`] after it ended (its last step's
    /// time, or its start when no step ran); never while it is active.
    pub fn expires_at(&self) -> Option<Time> {
        if self.status == RunStatus::Active {
            return None;
        }
        let ended = self.steps.iter().map(|s| s.at).max().unwrap_or(self.started_at).max(self.started_at);
        Some(ended + self.retention.to_chrono())
    }

    /// The record of step `path`, if it ran.
    pub fn step(&self, path: &StepPath) -> Option<&StepRecord> {
        self.steps.iter().find(|s| s.step == *path)
    }

    /// Writes (or replaces) the record of a step.
    pub fn record(&mut self, record: StepRecord) {
        match self.steps.iter_mut().find(|s| s.step == record.step) {
            Some(existing) => *existing = record,
            None => self.steps.push(record),
        }
    }

    /// This run's outcome of `step` carried onto `current`, the same run as stored since it
    /// was read (a delivery status recorded on another step meanwhile): what a step that has
    /// performed its I/O writes after losing the race for the run. `current` keeps everything
    /// else; the step's record (or its absence) is this run's, and so is the run's status
    /// unless `current` has moved on without it (finished, or a later step recorded: another
    /// delivery of the step went on from it).
    pub fn rebased(&self, step: &StepPath, mut current: Run) -> Run {
        let moved_on = current.status != RunStatus::Active || current.steps.iter().any(|s| s.step > *step);
        match self.step(step) {
            Some(record) => current.record(record.clone()),
            None => current.steps.retain(|s| s.step != *step),
        }
        if !moved_on {
            current.status = self.status.clone();
        }
        current
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::automation::ActionKind;
    use crate::domain::ids::{AutomationId, RunId};
    use crate::domain::phone::{ContactKey, WaId};

    fn record(step: usize, status: StepStatus, delivery: Option<&str>) -> StepRecord {
        let at = chrono::DateTime::from_timestamp(1_795_424_400, 0).unwrap();
        StepRecord {
            delivery: delivery.map(str::to_string),
            ..StepRecord::new(StepPath::top(step), ActionKind::SendText, status, at, None)
        }
    }

    fn run(steps: Vec<StepRecord>, status: RunStatus) -> Run {
        Run {
            id: RunId::parse("r-1").unwrap(),
            automation: AutomationId::parse("a").unwrap(),
            version: 1,
            contact: ContactKey::Phone(WaId::parse("393331234567").unwrap()),
            started_at: chrono::DateTime::from_timestamp(1_795_424_400, 0).unwrap(),
            cause: RunCause::Manual,
            depth: 0,
            block_epoch: 0,
            status,
            steps,
            retention: crate::domain::run::RUNS_RETENTION,
        }
    }

    #[test]
    fn a_run_stored_with_numbered_steps_reads_them_as_paths() {
        let stored = r#"{"step": 2, "action": "send_text", "status": "done", "at": "2026-11-23T09:00:00Z"}"#;
        let record: StepRecord = serde_json::from_str(stored).unwrap();
        assert_eq!(record.step, StepPath::top(2));
        let written = serde_json::to_value(&record).unwrap();
        assert_eq!(written["step"], "steps[2]");
    }

    #[test]
    fn a_rebased_step_result_keeps_the_delivery_status_recorded_meanwhile() {
        let decided =
            run(vec![record(0, StepStatus::Done, None), record(1, StepStatus::Done, None)], RunStatus::Completed);
        let current = run(
            vec![record(0, StepStatus::Done, Some("read")), record(1, StepStatus::Sending, None)],
            RunStatus::Active,
        );
        let merged = decided.rebased(&StepPath::top(1), current);
        assert_eq!(merged.steps, vec![record(0, StepStatus::Done, Some("read")), record(1, StepStatus::Done, None)]);
        assert_eq!(merged.status, RunStatus::Completed);
    }

    #[test]
    fn a_rebased_step_result_does_not_reopen_a_run_that_went_on_without_it() {
        // Another delivery of step 1 recorded it `send_unconfirmed` and the run finished meanwhile.
        let decided =
            run(vec![record(0, StepStatus::Done, None), record(1, StepStatus::Done, None)], RunStatus::Active);
        let current = run(
            vec![
                record(0, StepStatus::Done, None),
                record(1, StepStatus::Failed, None),
                record(2, StepStatus::Done, None),
            ],
            RunStatus::Completed,
        );
        let merged = decided.rebased(&StepPath::top(1), current);
        assert_eq!(merged.status, RunStatus::Completed);
        assert_eq!(merged.step(&StepPath::top(1)).unwrap().status, StepStatus::Done, "the step's real outcome is kept");
    }

    #[test]
    fn a_rebased_give_back_removes_only_the_step_given_back() {
        let given_back = run(vec![record(0, StepStatus::Done, None)], RunStatus::Active);
        let current = run(
            vec![record(0, StepStatus::Done, Some("delivered")), record(1, StepStatus::Sending, None)],
            RunStatus::Active,
        );
        let merged = given_back.rebased(&StepPath::top(1), current);
        assert_eq!(merged.steps, vec![record(0, StepStatus::Done, Some("delivered"))]);
    }
}
