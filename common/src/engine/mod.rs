//! The automation engine: every rule of SPEC §2, pure. State and an event go
//! in (with `now`); decisions come out: the updated contact and run, the runs
//! to start, the steps to queue, and the I/O to perform (the exact Graph API
//! body, the webhook to post). The engine performs no I/O and never reads the
//! wall clock; `stages` wires it to the ports.
//!
//! One file per concern: [`messages`] (an inbound message: its sender, captures,
//! waiting runs, consent phrases and the trigger it fires), [`steps`] (one step
//! of a run; [`sends`] the Graph bodies of rich messages), [`flows`] (the steps that branch or hold a run: `wait_for_reply`,
//! `condition`, `wait_until`, `start_automation`), [`contacts`] (changes from
//! outside a run, lists and consent), [`dates`] (date triggers).

mod contacts;
mod dates;
mod flows;
mod messages;
mod sends;
mod steps;

pub use contacts::{ContactEdit, ContactPatch, Join, join_list, start_triggered_runs};
pub use dates::{date_rule, fire_date, next_date_due};
pub use flows::{ReplyOffer, ReplyOutcome, Waiting, offer_reply};
pub use messages::{MessageInput, MessageOutcome, Resolved, on_message, on_status};
pub use steps::{Execution, IoOutcome, Pending, StepInput, StepResult, end_for_deleted_contact, execute_step};

use crate::domain::automation::{ActionKind, Automation, SetFieldSource};
use crate::domain::contact::{ConsentChoice, Contact};
use crate::domain::ids::{AutomationId, FieldKey, ListName, Operator, RunId, Tag, Wamid};
use crate::domain::path::{Branch, StepPath};
use crate::domain::phone::ContactKey;
use crate::domain::run::{Run, RunCause, RunStatus};
use crate::time::Time;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Runs started by runs (lists, `start_automation`, consent changes) may nest this deep;
/// one more is `loop_detected`.
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
    /// The contact was deleted: its active runs end, their waits and retries skipped.
    pub const CONTACT_DELETED: &str = "contact_deleted";
    pub const LOOP_DETECTED: &str = "loop_detected";
    /// A rendered text is longer than WhatsApp accepts.
    pub const TEXT_TOO_LONG: &str = "text_too_long";
    /// The step crashed between recording its send and recording the result: it is never re-sent.
    pub const SEND_UNCONFIRMED: &str = "send_unconfirmed";
    /// WhatsApp reported the sent message as failed (a `failed` status webhook).
    pub const DELIVERY_FAILED: &str = "delivery_failed";
    /// The outbound webhook answered 4xx, or kept failing after its retries.
    pub const WEBHOOK_FAILED: &str = "webhook_failed";
    /// A marketing template for a contact who opted out of marketing messages.
    pub const MARKETING_OPT_OUT: &str = "marketing_opt_out";
    /// Meta refused a marketing template: the contact's per-user marketing limit (131049).
    pub const MARKETING_LIMIT: &str = "marketing_limit";
    /// `start_automation` names an automation that does not exist (or was deleted).
    pub const AUTOMATION_NOT_FOUND: &str = "automation_not_found";
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
    pub step: StepPath,
    #[serde(with = "crate::time::rfc3339")]
    pub due: Time,
}

/// A run to create and its first step to queue.
#[derive(Debug, Clone, PartialEq)]
pub struct RunStart {
    pub run: Run,
    pub first: StepDue,
}

impl RunStart {
    /// The run, kept `retention` once it ended (the workspace's `runs_retention`).
    pub fn kept_for(mut self, retention: crate::domain::Duration) -> Self {
        self.run.retention = retention;
        self
    }
}

/// One observable effect: a line of `avvio simulate`, a log line in production.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Effect {
    #[serde(with = "crate::time::rfc3339")]
    pub at: Time,
    pub contact: ContactKey,
    pub automation: AutomationId,
    pub run: RunId,
    pub step: StepPath,
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
    Request {
        request: crate::graph::GraphRequest,
    },
    Tag {
        tag: Tag,
    },
    List {
        list: ListName,
    },
    Operator {
        operator: Option<Operator>,
    },
    Field {
        field: FieldKey,
        value: String,
    },
    Capture {
        field: FieldKey,
        from: SetFieldSource,
    },
    /// Boxed: a JSON value is large, and every line holds a `Detail`.
    Webhook {
        url: String,
        body: Box<Value>,
    },
    Delivery {
        wamid: Wamid,
        status: String,
        meta_errors: Vec<Value>,
    },
    /// A `wait_for_reply` started (`until`: its timeout), or a `wait_until` holds the run.
    Until {
        #[serde(with = "crate::time::rfc3339")]
        until: Time,
    },
    /// A wait resolved: the branch taken, the reply as saved (`null` on timeout), and the
    /// field it was saved into.
    Reply {
        branch: Branch,
        value: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        field: Option<FieldKey>,
    },
    /// A `condition`: the branch taken, `null` when none ran.
    Chosen {
        branch: Option<Branch>,
    },
    /// A `start_automation`: the run it started.
    Started {
        started: RunId,
    },
    /// A `set_consent`.
    Consent {
        marketing: ConsentChoice,
    },
    Nothing {},
}

impl Effect {
    /// The line of `step` of `run` at `now`, for `contact` (the key it is known by now), with
    /// no detail yet.
    pub fn of(run: &Run, contact: ContactKey, step: StepPath, action: ActionKind, now: Time) -> Self {
        Self {
            at: now,
            contact,
            automation: run.automation.clone(),
            run: run.id.clone(),
            step,
            action,
            detail: Detail::Nothing {},
            error: None,
        }
    }
}

/// The deterministic id of the run `automation` starts for `contact` because of
/// `cause_key` (a wamid, a request id, `run:step path`, a date): the same cause never starts two runs.
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
    let first = StepDue { run: id.clone(), step: StepPath::first(), due: now + automation.steps[0].after.to_chrono() };
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
        retention: crate::domain::run::RUNS_RETENTION,
    };
    Ok(RunStart { run, first })
}
