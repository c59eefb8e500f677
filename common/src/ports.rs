//! Ports: what the stages need from the outside world. Each has an in-memory
//! adapter (`crate::memory`, the embedded default of `avvio dev` and
//! `avvio simulate`) and an AWS/HTTP adapter.

use crate::calendar::Due;
use crate::catalog::{CatalogError, Fallbacks};
use crate::domain::automation::Automation;
use crate::domain::contact::{ConsentChoice, Contact};
use crate::domain::ids::{AutomationId, ListName, RunId, Tag, Wamid, WorkspaceId};
use crate::domain::path::StepPath;
use crate::domain::phone::ContactKey;
use crate::domain::phone::WaId;
use crate::domain::phrase::Phrase;
use crate::domain::run::Run;
use crate::domain::workspace::Workspace;
use crate::engine::{Liveness, StepDue};
use crate::stats::{DayCounters, Days, Tally};
use crate::time::Time;
use crate::webhook::StatusUpdate;
use serde_json::Value;
use std::future::Future;
use std::sync::Arc;

/// How long a status parked by [`Store::park_status`] is kept: a status whose message's send
/// is not recorded by then belongs to a message Avvio did not send (the business's inbox
/// shares the number) and is forgotten.
pub const PARKED_FOR: chrono::Duration = chrono::Duration::days(1);

/// Whether retrying the same call later may succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Throttling, 5xx, timeouts, races: try again later (SQS redelivers).
    Retryable,
    /// Bad input, not found, refused: retrying gives the same answer.
    Fatal,
}

/// A store failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// A conditional write lost a race (another writer changed the item first).
    #[error("{0} changed concurrently")]
    Conflict(String),
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A stored item cannot be read (a document that does not parse, an attribute missing or
    /// of the wrong type): reading it again gives the same answer, so it is not retried.
    #[error("unreadable stored item: {0}")]
    Corrupt(String),
}

impl StoreError {
    pub fn retry(&self) -> Retry {
        match self {
            Self::Conflict(_) | Self::Unavailable(_) => Retry::Retryable,
            Self::Corrupt(_) => Retry::Fatal,
        }
    }
}

/// A contact with the revision its conditional update must match.
#[derive(Debug, Clone, PartialEq)]
pub struct Versioned<T> {
    pub item: T,
    /// `None` for an item that does not exist yet.
    pub revision: Option<u64>,
}

/// A date trigger that came due for a contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueDate {
    pub workspace: WorkspaceId,
    pub automation: AutomationId,
    pub contact: ContactKey,
    pub due: Due,
}

/// A contact as read for a conditional write: the document, its revision, and the key the
/// store files it under (the key it was created by; others find it through that one).
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub contact: Contact,
    pub revision: u64,
    pub home: ContactKey,
}

/// Everything deciding an inbound message reads, in one round trip.
#[derive(Debug, Clone, Default)]
pub struct MessageView {
    pub workspace: Option<Arc<Workspace>>,
    /// `Some` when the wamid was claimed already, with the steps its first delivery queued
    /// (the first step of the run it started, the branch of the wait it resolved), each at
    /// the time it was due.
    pub claimed: Option<Vec<StepDue>>,
    /// The sender, by the first of its keys the store knows.
    pub contact: Option<Snapshot>,
    /// The automation (enabled or not) each phrase candidate names, in the candidates' order.
    pub phrases: Vec<Option<Arc<Automation>>>,
    /// The enabled `holiday` and `outside_hours` automations.
    pub fallbacks: Fallbacks,
}

/// The writes deciding an inbound message makes: all of them or none.
#[derive(Debug, Clone, Copy)]
pub struct MessageWrite<'a> {
    /// Claimed for good: a redelivery finds the claim (and the run it started).
    pub wamid: &'a Wamid,
    /// The sender as read (`None`: a new contact, whose keys must all be free).
    pub before: Option<&'a Snapshot>,
    pub contact: &'a Contact,
    /// The runs the message starts (the trigger's, with its first step's record when that
    /// step runs at once; the `consent` automations'): a run that exists already makes the
    /// message a duplicate.
    pub started: &'a [&'a Run],
    /// Waiting runs the message resolved or ended, each with the stored run it was decided on:
    /// one that changed since (its timeout won the race) is a [`StoreError::Conflict`].
    pub updated: &'a [(&'a Run, &'a RunBase)],
    /// The steps the message queues, remembered on the claim: a redelivery queues them
    /// again at their time (the executor runs each at most once).
    pub queued: &'a [StepDue],
}

/// How committing a message ended.
#[derive(Debug, Clone, PartialEq)]
pub enum MessageCommit {
    /// Written: the contact's new revision, and the key it is filed under.
    Written { revision: u64, home: ContactKey },
    /// The wamid was claimed meanwhile (a concurrent redelivery): nothing was written.
    Duplicate,
}

/// A run as stored, with its revision: every write of a run is conditioned on the revision
/// it was decided on, so a delivery status recorded by the matcher and a step's result
/// recorded by the executor never overwrite each other.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRun {
    pub run: Run,
    /// [`StoredRun::CREATED`] when created; one more with each write.
    pub revision: u64,
}

impl StoredRun {
    /// The revision of a run as created.
    pub const CREATED: u64 = 1;

    /// A run as created.
    pub fn created(run: Run) -> Self {
        Self { run, revision: Self::CREATED }
    }

    /// What a write of this run is based on.
    pub fn base(&self) -> RunBase {
        RunBase::of(&self.run, self.revision)
    }
}

/// What a conditional write of a run is based on: the stored run's revision (the write is
/// refused if the run moved on) and what its record counts in its automation's stats (the
/// write adds the difference to the counters, see [`crate::stats`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunBase {
    pub revision: u64,
    pub tally: Tally,
}

impl RunBase {
    /// `run` as stored at `revision`.
    pub fn of(run: &Run, revision: u64) -> Self {
        Self { revision, tally: Tally::of(run) }
    }
}

/// Everything executing a step of a run reads.
#[derive(Debug, Clone, Default)]
pub struct StepView {
    pub run: Option<StoredRun>,
    /// The automation version the run is pinned to.
    pub automation: Option<Arc<Automation>>,
    /// Whether the automation's runs may go on (`None`: deleted).
    pub liveness: Option<Liveness>,
    pub contact: Option<Snapshot>,
    pub workspace: Option<Arc<Workspace>>,
}

/// The writes a step's result makes: all of them or none.
#[derive(Debug, Clone, Copy)]
pub struct StepWrite<'a> {
    pub run: &'a Run,
    /// The stored run the result was decided on (or claimed at).
    pub base: &'a RunBase,
    /// The contact the step changed, and the snapshot the change was made on.
    pub contact: Option<(&'a Contact, &'a Snapshot)>,
    /// The message the step sent (its delivery statuses come back by this wamid).
    pub sent: Option<(&'a Wamid, StepPath)>,
    /// The runs the step starts, created with its result (each must not exist yet: its id
    /// comes from this step, which records its result once).
    pub started: &'a [&'a Run],
}

/// Persistent state, every key scoped by workspace.
pub trait Store: Send + Sync {
    /// What deciding an inbound message reads (`keys`: the sender's; `phrases`: the candidates).
    fn message_view(
        &self,
        ws: &WorkspaceId,
        wamid: &Wamid,
        keys: &[ContactKey],
        phrases: &[Phrase],
    ) -> impl Future<Output = Result<MessageView, StoreError>> + Send;
    /// Claims the wamid, writes the contact (if it still is `before`), creates the runs and
    /// rewrites the waiting runs, atomically. [`StoreError::Conflict`] when the contact or a
    /// rewritten run changed, or one of a new contact's keys was taken.
    fn commit_message(
        &self,
        ws: &WorkspaceId,
        write: MessageWrite<'_>,
        now: Time,
    ) -> impl Future<Output = Result<MessageCommit, StoreError>> + Send;
    /// What executing a step of run `id` reads.
    fn step_view(&self, ws: &WorkspaceId, id: &RunId) -> impl Future<Output = Result<StepView, StoreError>> + Send;
    /// Writes `run`, which records step `step` as being sent, if the stored run is still the
    /// one of `base`: the run's new revision, or `None` when the stored run records that step
    /// already (another delivery of the step message got there first: it owns the step).
    /// [`StoreError::Conflict`] when the run changed otherwise (a delivery status): decide again.
    fn claim_step(
        &self,
        ws: &WorkspaceId,
        run: &Run,
        step: StepPath,
        base: &RunBase,
    ) -> impl Future<Output = Result<Option<u64>, StoreError>> + Send;
    /// Writes a step's result atomically; returns the contact's new snapshot when it wrote one.
    /// [`StoreError::Conflict`] when the contact changed since its snapshot, or the run since
    /// `write.base`.
    fn commit_step(
        &self,
        ws: &WorkspaceId,
        write: StepWrite<'_>,
        now: Time,
    ) -> impl Future<Output = Result<Option<Snapshot>, StoreError>> + Send;

    /// The workspace document.
    fn workspace(&self, ws: &WorkspaceId) -> impl Future<Output = Result<Option<Arc<Workspace>>, StoreError>> + Send;
    /// Which workspace owns a WhatsApp `phone_number_id`.
    fn workspace_for_number(
        &self,
        phone_number_id: &str,
    ) -> impl Future<Output = Result<Option<WorkspaceId>, StoreError>> + Send;
    /// The workspaces whose `whatsapp.waba_id` is `waba_id` (Meta's template webhooks name the
    /// WhatsApp Business Account; several workspaces may send from numbers of one account).
    fn workspaces_for_waba(&self, waba_id: &str) -> impl Future<Output = Result<Vec<WorkspaceId>, StoreError>> + Send;
    /// Sets the status of template `name`/`language` in the workspace document (Meta's
    /// `message_template_status_update` webhook), re-reading it when a concurrent write
    /// wins; `false` when the workspace has no such template.
    fn set_template_status(
        &self,
        ws: &WorkspaceId,
        name: &crate::domain::ids::TemplateName,
        language: &crate::domain::ids::Language,
        status: crate::domain::workspace::TemplateStatus,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// The automation a normalised phrase starts (enabled or not).
    fn automation_by_phrase(
        &self,
        ws: &WorkspaceId,
        phrase: &Phrase,
    ) -> impl Future<Output = Result<Option<Arc<Automation>>, StoreError>> + Send;
    /// The enabled `holiday` and `outside_hours` automations.
    fn fallbacks(&self, ws: &WorkspaceId) -> impl Future<Output = Result<Fallbacks, StoreError>> + Send;
    /// The enabled `list` automations of `list`.
    fn list_automations(
        &self,
        ws: &WorkspaceId,
        list: &ListName,
    ) -> impl Future<Output = Result<Vec<Arc<Automation>>, StoreError>> + Send;
    /// The enabled `consent` automations of `marketing`.
    fn consent_automations(
        &self,
        ws: &WorkspaceId,
        marketing: ConsentChoice,
    ) -> impl Future<Output = Result<Vec<Arc<Automation>>, StoreError>> + Send;
    /// The enabled `date` automations.
    fn date_automations(
        &self,
        ws: &WorkspaceId,
    ) -> impl Future<Output = Result<Vec<Arc<Automation>>, StoreError>> + Send;
    /// The workspace and current version of the integration automation `id`, across
    /// workspaces (`POST /hooks/automations/{id}` names no workspace; integration ids are
    /// unique across workspaces).
    fn integration_automation(
        &self,
        id: &AutomationId,
    ) -> impl Future<Output = Result<Option<(WorkspaceId, Arc<Automation>)>, StoreError>> + Send;
    /// The current version of an automation (`None` when deleted or unknown).
    fn automation(
        &self,
        ws: &WorkspaceId,
        id: &AutomationId,
    ) -> impl Future<Output = Result<Option<Arc<Automation>>, StoreError>> + Send;
    /// One version of an automation, kept after updates and deletion for the runs pinned to it.
    fn automation_version(
        &self,
        ws: &WorkspaceId,
        id: &AutomationId,
        version: u32,
    ) -> impl Future<Output = Result<Option<Arc<Automation>>, StoreError>> + Send;
    /// Whether an automation's runs may go on (`None`: deleted).
    fn liveness(
        &self,
        ws: &WorkspaceId,
        id: &AutomationId,
    ) -> impl Future<Output = Result<Option<Liveness>, StoreError>> + Send;

    /// A contact by phone or BSUID.
    fn contact(
        &self,
        ws: &WorkspaceId,
        key: &ContactKey,
    ) -> impl Future<Output = Result<Option<Versioned<Contact>>, StoreError>> + Send;
    /// Writes a contact if its stored revision still is `expected` (`None`: must not exist);
    /// indexes every key it has. Returns the new revision.
    fn put_contact(
        &self,
        ws: &WorkspaceId,
        contact: &Contact,
        expected: Option<u64>,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;
    /// The contacts in a list.
    fn list_members(
        &self,
        ws: &WorkspaceId,
        list: &ListName,
    ) -> impl Future<Output = Result<Vec<Contact>, StoreError>> + Send;
    /// A page of a list's members: at most `limit`, in the order of their keys, those after
    /// `after`; and the key to go on after when more may follow. Costs the page, not the list.
    fn list_members_page(
        &self,
        ws: &WorkspaceId,
        list: &ListName,
        after: Option<&ContactKey>,
        limit: usize,
    ) -> impl Future<Output = Result<(Vec<Contact>, Option<ContactKey>), StoreError>> + Send;

    /// Creates a run; `false` when a run with its (deterministic) id exists already.
    fn create_run(&self, ws: &WorkspaceId, run: &Run) -> impl Future<Output = Result<bool, StoreError>> + Send;
    fn run(&self, ws: &WorkspaceId, id: &RunId) -> impl Future<Output = Result<Option<StoredRun>, StoreError>> + Send;
    /// Replaces the run stored as `base`; its new revision. [`StoreError::Conflict`] when the
    /// stored run is at another revision (or gone).
    fn put_run(
        &self,
        ws: &WorkspaceId,
        run: &Run,
        base: &RunBase,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;
    fn outbound(
        &self,
        ws: &WorkspaceId,
        wamid: &Wamid,
    ) -> impl Future<Output = Result<Option<(RunId, StepPath)>, StoreError>> + Send;
    /// Keeps a delivery status of a message that has no outbound link yet: its send's result
    /// is not stored (Meta's `sent` can beat it by milliseconds, and on AWS the status and the
    /// result are written by different functions). Kept [`PARKED_FOR`]; whoever writes the
    /// link then applies it ([`Self::parked_statuses`]).
    fn park_status(
        &self,
        ws: &WorkspaceId,
        status: &StatusUpdate,
        now: Time,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// The statuses parked for `wamid` and not expired at `now`, in the order they were parked.
    fn parked_statuses(
        &self,
        ws: &WorkspaceId,
        wamid: &Wamid,
        now: Time,
    ) -> impl Future<Output = Result<Vec<StatusUpdate>, StoreError>> + Send;
    /// Forgets the statuses parked for `wamid` (they were applied).
    fn drop_parked(&self, ws: &WorkspaceId, wamid: &Wamid) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Deletes the runs whose [`Run::expires_at`] is at or before `now` (the clock calls it
    /// each tick; a store may delete them on its own, as DynamoDB's TTL does); how many.
    fn forget_expired_runs(&self, now: Time) -> impl Future<Output = Result<usize, StoreError>> + Send;

    /// Sets (or with `None` clears) when a date automation next comes due for a contact.
    fn set_date_due(
        &self,
        ws: &WorkspaceId,
        automation: &AutomationId,
        contact: &ContactKey,
        due: Option<Due>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Every date trigger due at or before `now`, across workspaces, earliest first.
    fn due_dates(&self, now: Time) -> impl Future<Output = Result<Vec<DueDate>, StoreError>> + Send;
    /// Reserves the next send slot of WhatsApp number `phone_number_id` sending at most `rate`
    /// messages per second (SPEC §2.6), across every process sending for it: the time, at or
    /// after `now`, at which the caller may send one message. Slots are `1/rate` apart
    /// ([`crate::pacing::take_slots`]); a reserved slot left unused is lost, never given twice.
    fn send_slot(
        &self,
        phone_number_id: &str,
        rate: u32,
        now: Time,
    ) -> impl Future<Output = Result<Time, StoreError>> + Send;
}

/// The SHA-256 (hex) of a management API key: what the store keeps instead of the key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyHash(String);

impl KeyHash {
    /// Hashes a key as presented in `Authorization: Bearer <key>`. Keys are long random
    /// strings, so a fast hash is enough: there is nothing to brute-force.
    pub fn of(key: &str) -> Self {
        use sha2::{Digest, Sha256};
        Self(hex::encode(Sha256::digest(key.as_bytes())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A hash as [`KeyHash::as_str`] wrote it (64 lowercase hex digits), read back from
    /// somewhere that kept it (the console's signed session cookie); `None` for anything else.
    pub fn from_hex(hash: &str) -> Option<Self> {
        let hex = hash.len() == 64 && hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        hex.then(|| Self(hash.to_string()))
    }
}

/// Why a management write was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WriteError {
    /// A rule across the workspace's automations (phrase, fallback, id).
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// Integration ids name their hook URL, so they are unique across workspaces.
    #[error("the id `{0}` is taken by an integration automation of another workspace")]
    IntegrationIdTaken(AutomationId),
    /// A `phone_number_id` routes webhooks to one workspace only.
    #[error("phone_number_id `{0}` belongs to another workspace")]
    NumberTaken(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Which contacts `GET /v1/contacts` lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContactFilter {
    pub tag: Option<Tag>,
    pub list: Option<ListName>,
}

impl ContactFilter {
    pub fn matches(&self, contact: &Contact) -> bool {
        self.tag.as_ref().is_none_or(|t| contact.tags.contains(t))
            && self.list.as_ref().is_none_or(|l| contact.lists.contains(l))
    }
}

/// Which runs `GET /v1/runs` lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunFilter {
    pub contact: Option<ContactKey>,
    pub automation: Option<AutomationId>,
}

impl RunFilter {
    pub fn matches(&self, run: &Run) -> bool {
        self.contact.as_ref().is_none_or(|c| &run.contact == c)
            && self.automation.as_ref().is_none_or(|a| &run.automation == a)
    }
}

/// The most items one page of a listing holds (`?limit=`).
pub const PAGE_MAX: usize = 1000;

/// One page of a listing, and the position of its last item when more may follow: the next
/// page is the items after it. Positions are the listing's order: contacts by key, runs newest
/// first by [`RunPosition`], automations by id.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T, P> {
    pub items: Vec<T>,
    pub next: Option<P>,
}

impl<T, P> Page<T, P> {
    /// The first `limit` of `items` (in the listing's order, starting after the position asked
    /// for), with the last one's position when there are more.
    pub fn first(items: impl IntoIterator<Item = T>, limit: usize, position: impl Fn(&T) -> P) -> Self {
        let mut items = items.into_iter();
        let page: Vec<T> = items.by_ref().take(limit).collect();
        let next = if page.len() == limit && items.next().is_some() { page.last().map(&position) } else { None };
        Self { items: page, next }
    }
}

/// Where a run stands in the run listing: newest first by start, then by id (descending), so
/// runs started at the same instant keep one order on every store.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RunPosition {
    pub started_at: Time,
    pub id: RunId,
}

impl RunPosition {
    pub fn of(run: &Run) -> Self {
        Self { started_at: run.started_at, id: run.id.clone() }
    }

    /// Whether `run` comes after this position in the listing (it is older, or as old with a
    /// smaller id).
    pub fn precedes(&self, run: &Run) -> bool {
        (run.started_at, &run.id) < (self.started_at, &self.id)
    }
}

/// What the management API (`/v1`) needs beyond what the pipeline reads and writes.
/// Every write that spans items is atomic: a refused write changes nothing.
pub trait Management: Store {
    /// The workspace an API key selects.
    fn workspace_for_key(&self, key: &KeyHash) -> impl Future<Output = Result<Option<WorkspaceId>, StoreError>> + Send;
    /// Lets `key` select `ws` (provisioning; `avvio dev` registers `AVVIO_API_KEY`).
    fn put_api_key(&self, key: &KeyHash, ws: &WorkspaceId) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The workspace document with the revision its conditional update must match.
    fn workspace_versioned(
        &self,
        ws: &WorkspaceId,
    ) -> impl Future<Output = Result<Option<Versioned<Arc<Workspace>>>, StoreError>> + Send;
    /// Writes the workspace document if its revision still is `expected` (`None`: must not
    /// exist) and routes its `phone_number_id` to it. Returns the new revision.
    fn put_workspace(
        &self,
        ws: &WorkspaceId,
        doc: &Workspace,
        expected: Option<u64>,
    ) -> impl Future<Output = Result<u64, WriteError>> + Send;
    /// Every workspace with a `whatsapp.waba_id`, in id order (the clock's daily template sync).
    fn workspaces_with_waba(&self) -> impl Future<Output = Result<Vec<WorkspaceId>, StoreError>> + Send;
    /// Claims the daily template sync of `day` (UTC): `true` for the first caller of the day
    /// only, so concurrent clocks sync once. A cheap read when the day is claimed already.
    fn claim_template_sync(&self, day: chrono::NaiveDate) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Every live automation's current version, in id order.
    fn automations(&self, ws: &WorkspaceId) -> impl Future<Output = Result<Vec<Arc<Automation>>, StoreError>> + Send;
    /// Stores a new automation as version 1 (or the version after its deleted predecessor's).
    fn create_automation(
        &self,
        ws: &WorkspaceId,
        automation: Automation,
    ) -> impl Future<Output = Result<Arc<Automation>, WriteError>> + Send;
    /// Stores the next version of an automation.
    fn update_automation(
        &self,
        ws: &WorkspaceId,
        automation: Automation,
    ) -> impl Future<Output = Result<Arc<Automation>, WriteError>> + Send;
    /// Every stored version of an automation (deleted or not), oldest first; empty when unknown.
    fn versions(
        &self,
        ws: &WorkspaceId,
        id: &AutomationId,
    ) -> impl Future<Output = Result<Vec<Arc<Automation>>, StoreError>> + Send;
    /// The stats counters of an automation's runs that started on each day of `days` (days
    /// with no runs may be left out).
    fn stats(
        &self,
        ws: &WorkspaceId,
        id: &AutomationId,
        days: Days,
    ) -> impl Future<Output = Result<Vec<DayCounters>, StoreError>> + Send;
    /// The stats counters of every automation with runs started in `days`, one entry per
    /// automation and day.
    fn activity(
        &self,
        ws: &WorkspaceId,
        days: Days,
    ) -> impl Future<Output = Result<Vec<(AutomationId, DayCounters)>, StoreError>> + Send;
    /// Deletes an automation; its versions stay readable for the runs pinned to them.
    fn delete_automation(
        &self,
        ws: &WorkspaceId,
        id: &AutomationId,
    ) -> impl Future<Output = Result<(), WriteError>> + Send;

    /// The contacts matching `filter`, by key.
    fn contacts(
        &self,
        ws: &WorkspaceId,
        filter: &ContactFilter,
    ) -> impl Future<Output = Result<Vec<Contact>, StoreError>> + Send;
    /// Deletes a contact (every key it has) and its date triggers; `false` when unknown.
    fn delete_contact(
        &self,
        ws: &WorkspaceId,
        key: &ContactKey,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// The runs matching `filter`, newest first.
    fn runs(&self, ws: &WorkspaceId, filter: &RunFilter) -> impl Future<Output = Result<Vec<Run>, StoreError>> + Send;

    /// A page of [`Self::contacts`]: at most `limit` contacts after key `after`. By default
    /// the whole listing, cut; a store reads only the page (and, filtering by tag, what it skips).
    fn contacts_page(
        &self,
        ws: &WorkspaceId,
        filter: &ContactFilter,
        after: Option<&ContactKey>,
        limit: usize,
    ) -> impl Future<Output = Result<Page<Contact, ContactKey>, StoreError>> + Send {
        async move {
            let contacts = self.contacts(ws, filter).await?;
            let rest = contacts.into_iter().filter(|c| after.is_none_or(|after| c.key() > *after));
            Ok(Page::first(rest, limit, Contact::key))
        }
    }

    /// A page of [`Self::runs`]: at most `limit` runs after `after`, newest first. By default
    /// the whole listing, cut; a store reads only the page.
    fn runs_page(
        &self,
        ws: &WorkspaceId,
        filter: &RunFilter,
        after: Option<&RunPosition>,
        limit: usize,
    ) -> impl Future<Output = Result<Page<Run, RunPosition>, StoreError>> + Send {
        async move {
            let runs = self.runs(ws, filter).await?;
            let rest = runs.into_iter().filter(|r| after.is_none_or(|after| after.precedes(r)));
            Ok(Page::first(rest, limit, RunPosition::of))
        }
    }

    /// A page of [`Self::automations`]: at most `limit` automations after id `after`.
    fn automations_page(
        &self,
        ws: &WorkspaceId,
        after: Option<&AutomationId>,
        limit: usize,
    ) -> impl Future<Output = Result<Page<Arc<Automation>, AutomationId>, StoreError>> + Send {
        async move {
            let automations = self.automations(ws).await?;
            let rest = automations.into_iter().filter(|a| after.is_none_or(|after| a.id() > after));
            Ok(Page::first(rest, limit, |a| a.id().clone()))
        }
    }

    /// The first `limit` contacts by key matching `filter` and `keep`, and how many match in all
    /// (a page of the console). By default [`Management::contacts`], cut; a store may avoid
    /// reading what is not shown (the memory store copies only the contacts returned).
    fn first_contacts(
        &self,
        ws: &WorkspaceId,
        filter: &ContactFilter,
        keep: &(dyn Fn(&Contact) -> bool + Sync),
        limit: usize,
    ) -> impl Future<Output = Result<(Vec<Contact>, usize), StoreError>> + Send {
        async move {
            let mut contacts = self.contacts(ws, filter).await?;
            contacts.retain(|c| keep(c));
            let total = contacts.len();
            contacts.truncate(limit);
            Ok((contacts, total))
        }
    }

    /// The newest `limit` runs matching `filter`, newest first, and how many match in all (a
    /// page of the console). By default [`Management::runs`], cut; a store may avoid reading
    /// what is not shown (the memory store keeps the runs indexed by start).
    fn newest_runs(
        &self,
        ws: &WorkspaceId,
        filter: &RunFilter,
        limit: usize,
    ) -> impl Future<Output = Result<(Vec<Run>, usize), StoreError>> + Send {
        async move {
            let mut runs = self.runs(ws, filter).await?;
            let total = runs.len();
            runs.truncate(limit);
            Ok((runs, total))
        }
    }
}

/// A step queue failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("could not queue the step: {0}")]
pub struct QueueError(pub String);

/// A step message: run `step` of `run` in `workspace` at `due`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StepMessage {
    pub workspace: WorkspaceId,
    #[serde(flatten)]
    pub step: StepDue,
}

/// Delivers step messages at their due time (SQS delays, EventBridge Scheduler; a timer heap in memory).
/// Delivery is at least once: the executor is idempotent per (run, step).
pub trait StepQueue: Send + Sync {
    fn schedule(&self, message: StepMessage, now: Time) -> impl Future<Output = Result<(), QueueError>> + Send;
}

/// The sending WhatsApp account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub phone_number_id: String,
    pub access_token: String,
}

/// Why a send failed; `code` is Meta's error code (or an HTTP status) as a string.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("WhatsApp refused the message ({code}): {message}")]
pub struct SendError {
    pub retry: Retry,
    pub code: String,
    pub message: String,
}

/// Sends messages through the WhatsApp Cloud API.
pub trait WhatsAppSender: Send + Sync {
    /// Posts `request` (a Graph API message body); returns the new message's wamid.
    fn send(
        &self,
        account: &Account,
        request: &crate::graph::GraphRequest,
    ) -> impl Future<Output = Result<Wamid, SendError>> + Send;
}

/// Why an outbound webhook failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("webhook to {url} failed: {message}")]
pub struct WebhookError {
    pub retry: Retry,
    pub url: String,
    pub message: String,
}

/// Posts outbound webhooks (`send_webhook`), retrying 5xx and timeouts itself.
pub trait WebhookPoster: Send + Sync {
    fn post(
        &self,
        url: &str,
        body: &Value,
        signature: Option<&str>,
    ) -> impl Future<Output = Result<(), WebhookError>> + Send;
}

/// One unit of work for the matcher: what the events queue carries. Ingest
/// answers its caller once the event is queued; the matcher processes it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PipelineEvent {
    /// A message or status from Meta's webhook.
    Whatsapp { event: crate::webhook::InboundEvent },
    /// A call of `POST /hooks/automations/{id}`, its secret already checked.
    Integration {
        workspace: WorkspaceId,
        automation: AutomationId,
        call: crate::stages::matcher::IntegrationCall,
        request_id: String,
    },
    /// `POST /v1/automations/{id}/run`: one contact (`phone`), or every member of a `list` automation's list.
    Manual {
        workspace: WorkspaceId,
        automation: AutomationId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        phone: Option<WaId>,
        request_id: String,
        /// A list run goes through the members a page at a time, each page an event: the key
        /// after which this page starts (absent: the first page).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<ContactKey>,
    },
    /// `PUT /v1/lists/{list}/contacts/{phone}`: a new member fires the list's automations.
    ListAdd { workspace: WorkspaceId, list: ListName, contact: ContactKey, request_id: String },
    /// `DELETE /v1/lists/{list}/contacts/{phone}`.
    ListRemove { workspace: WorkspaceId, list: ListName, contact: ContactKey, request_id: String },
    /// `PUT /v1/contacts/{phone}` changed the contact's consent to `marketing`: its `consent`
    /// automations start (if the consent is still that when the event is processed).
    ConsentChanged { workspace: WorkspaceId, contact: ContactKey, marketing: ConsentChoice, request_id: String },
}

impl PipelineEvent {
    /// The key whose events are processed in order, one at a time (SQS FIFO message group):
    /// one contact of one number or workspace. WhatsApp events name the number (ingest does
    /// not resolve the workspace) and the BSUID when present (Meta sends it in every webhook
    /// since 2026), else the phone. Events of one contact from other sources may land in another
    /// group; optimistic concurrency on the contact keeps its state consistent either way.
    pub fn group_key(&self) -> String {
        use crate::webhook::InboundEvent;
        match self {
            Self::Whatsapp { event: InboundEvent::Message(m) } => {
                let who = m.sender.bsuid.as_ref().map(|b| b.as_str()).or(m.sender.phone.as_ref().map(|p| p.as_str()));
                format!("{}:{}", m.phone_number_id, who.unwrap_or("-"))
            }
            Self::Whatsapp { event: InboundEvent::Status(s) } => {
                let who =
                    s.recipient_bsuid.as_ref().map(|b| b.as_str()).or(s.recipient_phone.as_ref().map(|p| p.as_str()));
                format!("{}:{}", s.phone_number_id, who.unwrap_or("-"))
            }
            Self::Whatsapp { event: InboundEvent::Preference(p) } => {
                let who = p.user.bsuid.as_ref().map(|b| b.as_str()).or(p.user.phone.as_ref().map(|p| p.as_str()));
                format!("{}:{}", p.phone_number_id, who.unwrap_or("-"))
            }
            // One template's updates in order; they name the account, not a number.
            Self::Whatsapp { event: InboundEvent::TemplateStatus(t) } => {
                format!("waba:{}:{}:{}", t.waba_id, t.name, t.language)
            }
            Self::Integration { workspace, call, .. } => match WaId::parse(&call.phone) {
                Ok(phone) => format!("{workspace}:{phone}"),
                Err(_) => format!("{workspace}:{}", call.phone.trim()),
            },
            Self::Manual { workspace, automation, phone, .. } => match phone {
                Some(phone) => format!("{workspace}:{phone}"),
                None => format!("{workspace}:{automation}"),
            },
            Self::ListAdd { workspace, contact, .. }
            | Self::ListRemove { workspace, contact, .. }
            | Self::ConsentChanged { workspace, contact, .. } => format!("{workspace}:{contact}"),
        }
    }

    /// The key that makes a redelivered event harmless (SQS FIFO deduplication id).
    pub fn dedupe_key(&self) -> String {
        match self {
            Self::Whatsapp { event: crate::webhook::InboundEvent::Message(m) } => m.wamid.to_string(),
            Self::Whatsapp { event: crate::webhook::InboundEvent::Status(s) } => {
                format!("{}:{:?}", s.wamid, s.status)
            }
            // A preference has no id of its own: the user, the value and when it was set.
            Self::Whatsapp { event: crate::webhook::InboundEvent::Preference(p) } => {
                let who = p.user.bsuid.as_ref().map(|b| b.as_str()).or(p.user.phone.as_ref().map(|p| p.as_str()));
                format!("pref:{}:{}:{:?}:{}", p.phone_number_id, who.unwrap_or("-"), p.value, p.timestamp.timestamp())
            }
            // No id of its own either: the template and the event (a status set twice is harmless).
            Self::Whatsapp { event: crate::webhook::InboundEvent::TemplateStatus(t) } => {
                format!("template:{}:{}:{}:{}", t.waba_id, t.name, t.language, t.event)
            }
            Self::Manual { request_id, after: Some(after), .. } => format!("{request_id}:{after}"),
            Self::Integration { request_id, .. }
            | Self::Manual { request_id, .. }
            | Self::ListAdd { request_id, .. }
            | Self::ListRemove { request_id, .. }
            | Self::ConsentChanged { request_id, .. } => request_id.clone(),
        }
    }
}

/// Carries events from ingest to the matcher (SQS FIFO in AWS, a channel in memory).
pub trait EventQueue: Send + Sync {
    fn enqueue(&self, event: PipelineEvent) -> impl Future<Output = Result<(), QueueError>> + Send;
}

/// The WhatsApp Business Account whose templates a [`TemplateSource`] reads.
#[derive(Clone, PartialEq, Eq)]
pub struct TemplateAccount {
    pub waba_id: String,
    pub access_token: String,
}

impl std::fmt::Debug for TemplateAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TemplateAccount").field("waba_id", &self.waba_id).finish_non_exhaustive()
    }
}

/// One page of Meta's template list: its `data` elements (read by
/// [`crate::meta_templates::templates_of`]) and the `paging.next` URL of the page after it.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplatePage {
    pub templates: Vec<Value>,
    pub next: Option<String>,
}

/// Why Meta's templates could not be read. Each names what Meta (or the answer) said.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyncError {
    /// Meta answered with its error JSON: its `error.code` and `error.message`.
    #[error("Meta answered error {code}: {message}")]
    Meta { code: String, message: String },
    /// An answer that is not a page of templates (not JSON, no `data`, too large).
    #[error("Meta's answer is not a page of templates: {0}")]
    InvalidAnswer(String),
    /// Meta could not be reached, or did not answer in time.
    #[error("Meta could not be reached: {0}")]
    Unreachable(String),
    /// Avvio refused to go on: a `paging.next` to another host, too many pages.
    #[error("{0}")]
    Refused(String),
}

impl SyncError {
    /// The error code an API answer names it by.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Meta { .. } => "meta_error",
            Self::InvalidAnswer(_) => "meta_invalid_answer",
            Self::Unreachable(_) => "meta_unreachable",
            Self::Refused(_) => "meta_refused",
        }
    }
}

/// Reads Meta's message templates (`GET /{version}/{waba_id}/message_templates`).
pub trait TemplateSource: Send + Sync {
    /// The first page (`next: None`), or the page at `next`, a `paging.next` URL an earlier
    /// page gave. A `next` on another host than the Graph API's is refused (the account's
    /// token must not travel there).
    fn page(
        &self,
        account: &TemplateAccount,
        next: Option<&str>,
    ) -> impl Future<Output = Result<TemplatePage, SyncError>> + Send;
}
