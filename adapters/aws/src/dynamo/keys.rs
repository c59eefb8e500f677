//! Where every item lives: the one place that spells the table's keys (the
//! layout is tabled in the `dynamo` module's documentation).

use super::table::Key;
use avvio_common::domain::automation::{Automation, Trigger};
use avvio_common::domain::contact::ConsentChoice;
use avvio_common::domain::ids::{AutomationId, ListName, RunId, Wamid, WorkspaceId};
use avvio_common::domain::phone::ContactKey;
use avvio_common::domain::phrase::Phrase;
use avvio_common::ports::KeyHash;
use avvio_common::time::Time;
use chrono::NaiveDate;

/// The partition of one workspace's listed items (catalog, contacts, runs, date index).
pub fn workspace_pk(ws: &WorkspaceId) -> String {
    format!("WS#{ws}")
}

pub fn workspace(ws: &WorkspaceId) -> Key {
    Key::new(workspace_pk(ws), "WORKSPACE")
}

pub fn number(phone_number_id: &str) -> Key {
    Key::new(format!("NUMBER#{phone_number_id}"), "NUMBER")
}

/// The partition of the WhatsApp Business Account routes: one item per (account, workspace),
/// so template webhooks find an account's workspaces and the clock lists them all.
pub const WABA_PK: &str = "WABA";

/// The routes of account `waba_id` (digits: the `#` ends it, no other account's match).
pub fn waba_prefix(waba_id: &str) -> String {
    format!("{waba_id}#")
}

pub fn waba(waba_id: &str, ws: &WorkspaceId) -> Key {
    Key::new(WABA_PK, format!("{}{ws}", waba_prefix(waba_id)))
}

/// The last day the clock's daily template sync was claimed.
pub fn template_sync_claim() -> Key {
    Key::new("CLOCK#TEMPLATES", "CLOCK")
}

pub fn api_key(key: &KeyHash) -> Key {
    Key::new(format!("KEY#{}", key.as_str()), "KEY")
}

pub const HEAD_PREFIX: &str = "AUTO#";

pub fn head(ws: &WorkspaceId, id: &AutomationId) -> Key {
    Key::new(workspace_pk(ws), format!("{HEAD_PREFIX}{id}"))
}

pub fn version(ws: &WorkspaceId, id: &AutomationId, version: u32) -> Key {
    Key::new(workspace_pk(ws), format!("{}{version:010}", versions_prefix(id)))
}

/// Every version item of automation `id` (the id ends at `#`: no other id's versions match).
pub fn versions_prefix(id: &AutomationId) -> String {
    format!("AUTOV#{id}#")
}

/// Sort keys are at most 1024 bytes; a phrase may be 4096 characters.
const LONGEST_READABLE_PHRASE: usize = 900;

pub fn phrase(ws: &WorkspaceId, phrase: &Phrase) -> Key {
    let sk = if phrase.as_str().len() <= LONGEST_READABLE_PHRASE {
        format!("PHRASE#{phrase}")
    } else {
        format!("PHRASEH#{}", KeyHash::of(phrase.as_str()).as_str())
    };
    Key::new(workspace_pk(ws), sk)
}

pub const FALLBACK_PREFIX: &str = "FALLBACK#";

/// The kinds of fallback automations, each with one claim item.
pub const FALLBACK_KINDS: [&str; 2] = ["holiday", "outside_hours"];

pub fn fallback(ws: &WorkspaceId, kind: &str) -> Key {
    Key::new(workspace_pk(ws), format!("{FALLBACK_PREFIX}{kind}"))
}

pub fn list_automations_prefix(list: &ListName) -> String {
    format!("LISTAUTO#{list}#")
}

pub fn list_automation(ws: &WorkspaceId, list: &ListName, id: &AutomationId) -> Key {
    Key::new(workspace_pk(ws), format!("{}{id}", list_automations_prefix(list)))
}

pub fn consent_automations_prefix(marketing: ConsentChoice) -> String {
    format!("CONSENTAUTO#{}#", marketing.as_str())
}

pub fn consent_automation(ws: &WorkspaceId, marketing: ConsentChoice, id: &AutomationId) -> Key {
    Key::new(workspace_pk(ws), format!("{}{id}", consent_automations_prefix(marketing)))
}

pub const DATE_AUTOMATIONS_PREFIX: &str = "DATEAUTO#";

pub fn date_automation(ws: &WorkspaceId, id: &AutomationId) -> Key {
    Key::new(workspace_pk(ws), format!("{DATE_AUTOMATIONS_PREFIX}{id}"))
}

/// Integration ids name their hook URL, so their claim is global (not under `WS#`).
pub fn hook(id: &AutomationId) -> Key {
    Key::new(format!("HOOK#{id}"), "HOOK")
}

/// An index item of an automation version: what the pipeline looks automations up by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Index {
    /// Kept while the automation is disabled: re-enabling never conflicts.
    Phrase(Phrase),
    /// Only while enabled: at most one enabled automation per kind.
    Fallback(&'static str),
    /// Only while enabled.
    List(ListName),
    /// Only while enabled.
    Date,
    /// Only while enabled.
    Consent(ConsentChoice),
    /// Enabled or not: integration ids are unique across workspaces.
    Hook,
}

impl Index {
    /// The index items a version of an automation has.
    pub fn of(automation: &Automation) -> Vec<Index> {
        let enabled = automation.enabled;
        match &automation.trigger {
            Trigger::CustomerMessage { phrase } => vec![Self::Phrase(phrase.clone())],
            Trigger::Holiday { .. } | Trigger::OutsideHours { .. } if enabled => {
                vec![Self::Fallback(automation.trigger.kind())]
            }
            Trigger::List { list } if enabled => vec![Self::List(list.clone())],
            Trigger::Date { .. } if enabled => vec![Self::Date],
            Trigger::Consent { marketing } if enabled => vec![Self::Consent(*marketing)],
            Trigger::Integration { .. } => vec![Self::Hook],
            _ => Vec::new(),
        }
    }

    pub fn key(&self, ws: &WorkspaceId, id: &AutomationId) -> Key {
        match self {
            Self::Phrase(p) => phrase(ws, p),
            Self::Fallback(kind) => fallback(ws, kind),
            Self::List(list) => list_automation(ws, list, id),
            Self::Date => date_automation(ws, id),
            Self::Consent(marketing) => consent_automation(ws, *marketing, id),
            Self::Hook => hook(id),
        }
    }
}

pub const CONTACT_PREFIX: &str = "CONTACT#";

pub fn contact(ws: &WorkspaceId, primary: &ContactKey) -> Key {
    Key::new(workspace_pk(ws), format!("{CONTACT_PREFIX}{primary}"))
}

pub const ALIAS_PREFIX: &str = "ALIAS#";

pub fn alias(ws: &WorkspaceId, key: &ContactKey) -> Key {
    Key::new(workspace_pk(ws), format!("{ALIAS_PREFIX}{key}"))
}

/// The sort keys of the aliases that are phones (digits only): from the first to past the last.
pub const PHONE_ALIASES: (&str, &str) = ("ALIAS#0", "ALIAS#:");

pub fn members_prefix(list: &ListName) -> String {
    format!("MEMBER#{list}#")
}

/// A membership of `list`, under the key the contact is listed by (its phone once it has one;
/// written before listings were paged: the key it was created by).
pub fn member(ws: &WorkspaceId, list: &ListName, listed: &ContactKey) -> Key {
    Key::new(workspace_pk(ws), format!("{}{listed}", members_prefix(list)))
}

/// Never listed, so in a partition of its own: the per-message write stays off the workspace's.
pub fn claimed_message(ws: &WorkspaceId, wamid: &Wamid) -> Key {
    Key::new(format!("WS#{ws}#WAMID#{wamid}"), "WAMID")
}

/// Never listed, so in a partition of its own, like [`claimed_message`].
pub fn outbound(ws: &WorkspaceId, wamid: &Wamid) -> Key {
    Key::new(format!("WS#{ws}#OUT#{wamid}"), "OUT")
}

/// The partition of the statuses parked for an outbound message not linked yet.
pub fn parked_statuses_pk(ws: &WorkspaceId, wamid: &Wamid) -> String {
    format!("WS#{ws}#PARK#{wamid}")
}

/// A parked status: ordered by when it was parked, then by when it happened (Meta's `sent`
/// before its `delivered`, parked at one instant), unique by what it says.
pub fn parked_status(ws: &WorkspaceId, wamid: &Wamid, parked_at: Time, status: &str, at: Time) -> Key {
    Key::new(
        parked_statuses_pk(ws, wamid),
        format!("{}#{}#{status}", sortable_instant(parked_at), sortable_instant(at)),
    )
}

pub const STATS_PREFIX: &str = "STATS#";

/// One shard of the stats counters of an automation's runs started on `day`.
pub fn stats(ws: &WorkspaceId, day: NaiveDate, id: &AutomationId, shard: u8) -> Key {
    Key::new(workspace_pk(ws), format!("{STATS_PREFIX}{day}#{id}#{shard:02}"))
}

pub const RUN_PREFIX: &str = "RUN#";

pub fn run(ws: &WorkspaceId, id: &RunId) -> Key {
    Key::new(workspace_pk(ws), format!("{RUN_PREFIX}{id}"))
}

/// The `runs` index's partition: every run of a workspace.
pub fn runs_pk(ws: &WorkspaceId) -> String {
    format!("RUNS#{ws}")
}

/// The `runs_by_contact` index's partition: the runs of one contact (the key the run names).
pub fn contact_runs_pk(ws: &WorkspaceId, contact: &ContactKey) -> String {
    format!("RUNC#{ws}#{contact}")
}

/// The `runs_by_automation` index's partition: the runs of one automation.
pub fn automation_runs_pk(ws: &WorkspaceId, automation: &AutomationId) -> String {
    format!("RUNA#{ws}#{automation}")
}

/// The run indexes' sort key: the start, fixed width, then the id (no id contains `#`), so
/// the strings sort like `RunPosition`s.
pub fn run_sort(started_at: Time, id: &RunId) -> String {
    format!("{}#{id}", sortable_instant(started_at))
}

pub fn dates_of_prefix(automation: &AutomationId) -> String {
    format!("DATE#{automation}#")
}

pub fn date_due(ws: &WorkspaceId, automation: &AutomationId, contact: &ContactKey) -> Key {
    Key::new(workspace_pk(ws), format!("{}{contact}", dates_of_prefix(automation)))
}

/// The due index's partition: one per UTC day.
pub fn due_day(day: NaiveDate) -> String {
    format!("DUE#{}", day.format("%Y-%m-%d"))
}

/// A fixed-width UTC instant, so strings sort like instants.
pub fn sortable_instant(at: Time) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.9fZ").to_string()
}

/// The due index's sort key: the instant first, the rest only to make it unique.
pub fn due_sort(at: Time, ws: &WorkspaceId, automation: &AutomationId, contact: &ContactKey) -> String {
    format!("{}#{ws}#{automation}#{contact}", sortable_instant(at))
}

/// Above every due sort key of an instant at or before `now` (`$` sorts right after `#`).
pub fn due_bound(now: Time) -> String {
    format!("{}$", sortable_instant(now))
}
