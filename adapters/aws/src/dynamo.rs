//! The DynamoDB store: [`Store`] and [`Management`] on one table, behaving like
//! `avvio_common::memory::MemoryStore` (the reference), every key scoped by workspace.
//!
//! # Table
//! Partition key `pk` (S), sort key `sk` (S); TTL on `expires_at` (N, epoch seconds);
//! four sparse global secondary indexes ([`INDEXES`]), each carried by one item family:
//!
//! | index | partition | sort | projected | items |
//! |---|---|---|---|---|
//! | `due` | `gsi1pk` | `gsi1sk` | all | date due |
//! | `runs` | `gsi2pk` | `gsi2sk` | keys only | run |
//! | `runs_by_contact` | `gsi3pk` | `gsi2sk` | keys and `gsi4pk` | run |
//! | `runs_by_automation` | `gsi4pk` | `gsi2sk` | keys only | run |
//!
//! Documents are stored as JSON strings in `doc` (exact round trips). [`create_table`]
//! makes it (on-demand billing).
//!
//! | item | `pk` | `sk` | attributes |
//! |---|---|---|---|
//! | workspace document | `WS#{ws}` | `WORKSPACE` | `doc` (stored view, secrets included), `rev`, `number`, `waba` |
//! | number route | `NUMBER#{phone_number_id}` | `NUMBER` | `ws` |
//! | account route (one per workspace of a WABA) | `WABA` | `{waba_id}#{ws}` | `ws`, `waba` |
//! | daily template sync claim | `CLOCK#TEMPLATES` | `CLOCK` | `day` (`YYYY-MM-DD`, UTC) |
//! | API key | `KEY#{sha256 hex}` | `KEY` | `ws` |
//! | automation head | `WS#{ws}` | `AUTO#{id}` | `id`, `doc` (current version), `version`, `enabled`, `last_disabled_version`, `deleted` |
//! | automation version | `WS#{ws}` | `AUTOV#{id}#{version:010}` | `id`, `doc` (immutable; kept after delete for pinned runs) |
//! | phrase claim | `WS#{ws}` | `PHRASE#{normalised phrase}` (over 900 bytes: `PHRASEH#{sha256}`) | `id`, `ws`, `doc` |
//! | fallback claim (enabled only) | `WS#{ws}` | `FALLBACK#holiday`, `FALLBACK#outside_hours` | `id`, `ws`, `doc` |
//! | list index (enabled only) | `WS#{ws}` | `LISTAUTO#{list}#{id}` | `id`, `ws`, `doc` |
//! | date index (enabled only) | `WS#{ws}` | `DATEAUTO#{id}` | `id`, `ws`, `doc` |
//! | consent index (enabled only) | `WS#{ws}` | `CONSENTAUTO#{opted_in\|opted_out}#{id}` | `id`, `ws`, `doc` |
//! | integration id claim | `HOOK#{id}` | `HOOK` | `id`, `ws`, `doc` |
//! | contact | `WS#{ws}` | `CONTACT#{primary key}` | `doc` (the contact), `rev` |
//! | contact alias | `WS#{ws}` | `ALIAS#{other key}` | `primary` |
//! | list membership | `WS#{ws}` | `MEMBER#{list}#{listed key}` (`Contact::key`: the phone once known; see `contacts`) | `primary`, `list` |
//! | stats counters | `WS#{ws}` | `STATS#{day}#{automation}#{shard:02}` | `automation`, `day`, `last_started`, one number per counter (`started`, `steps[0]:done`, …; see `stats`) |
//! | run | `WS#{ws}` | `RUN#{id}` | `doc`, `rev` (every write conditioned on it), `steps` (the recorded step paths, `,steps[0],steps[1],`), `gsi2pk` = `RUNS#{ws}`, `gsi2sk` = `{started_at, fixed width}#{id}`, `gsi3pk` = `RUNC#{ws}#{contact}`, `gsi4pk` = `RUNA#{ws}#{automation}` |
//! | date due | `WS#{ws}` | `DATE#{automation}#{contact}` | `ws`, `automation`, `contact`, `date`, `at`, `gsi1pk` = `DUE#{UTC day of at}`, `gsi1sk` = `{at, fixed width}#{ws}#{automation}#{contact}` |
//! | claimed message | `WS#{ws}#WAMID#{wamid}` | `WAMID` | `queued` (the steps the message queued, JSON), `expires_at` (+7 days) |
//! | outbound link | `WS#{ws}#OUT#{wamid}` | `OUT` | `run`, `step` (its path; a number `N` before flows: `steps[N]`), `expires_at` (+30 days) |
//! | parked status (its message not linked yet) | `WS#{ws}#PARK#{wamid}` | `{parked at}#{status}#{its time}` | `doc` (the status), `parked_at` (µs), `expires_at` (+1 day) |
//!
//! Index items (phrase, fallback, list, date, integration) carry the current version's
//! document, written in the same transaction as the head, so each pipeline lookup is one
//! read. Claimed messages and outbound links are never listed, so they live in partitions
//! of their own, off the workspace's busy one.
//!
//! # Listings
//! A page reads its own items, whatever the workspace holds (`docs/aws.md`, "Listings"):
//! - runs, newest first: one Query of a run index (the workspace's, the contact's or the
//!   automation's partition; both filters: the contact's, filtered on `gsi4pk`) for the
//!   page's keys and one more, `gsi2sk < ` the position's, descending; then the runs by key
//!   (BatchGetItem). The index keys never change after a run's creation, so later writes of
//!   a run write no index entry (keys-only projections). Runs written before the indexes
//!   are missing from pages until `DynamoStore::index_old_runs` gives them their keys (the
//!   clock function invoked with `{"index_old_runs": [...]}` runs it). The
//!   console's newest runs are such a page, and how many match is counted over the same
//!   index (`Select=COUNT`: keys only, no run read).
//! - contacts, by the key they are listed by: the `CONTACT#` items from the position's, merged
//!   with the phone aliases (`ALIAS#0`…`ALIAS#:`), which list the contacts created by their
//!   BSUID under the phone they got since; with a list, its `MEMBER#` items. A tag filter
//!   reads on until the page is full: it reads what it skips.
//! - automations, by id: the `AUTO#` heads from the position's; deleted ones are skipped.
//!
//! # Consistency
//! Base-table reads are strongly consistent, so a read followed by a conditional write
//! sees the latest revision (the indexes are eventually consistent: fine for the clock, and
//! a run created a moment ago may miss from a listing for as long).
//! Every [`Management`] write spanning items is one transaction; a lost optimistic race is
//! [`StoreError::Conflict`], throttling and service failures [`StoreError::Unavailable`].
//! The exceptions, best effort after the transaction: a deleted automation's date items,
//! and a deleted contact's items beyond 100 (stale ones are harmless: readers skip them).

mod automations;
mod contacts;
mod dates;
mod keys;
mod pace;
mod pipeline;
mod runs;
mod stats;
mod table;
mod workspaces;

pub use table::{
    AUTOMATION_RUNS_PK, CONTACT_RUNS_PK, DUE_INDEX, DUE_PK, DUE_SK, EXPIRES_AT, INDEXES, IndexSpec, PK, Projected,
    RUN_SORT, RUNS_BY_AUTOMATION_INDEX, RUNS_BY_CONTACT_INDEX, RUNS_INDEX, RUNS_PK, SK, create_table,
};

use avvio_common::calendar::Due;
use avvio_common::catalog::Fallbacks;
use avvio_common::domain::automation::Automation;
use avvio_common::domain::contact::{ConsentChoice, Contact};
use avvio_common::domain::ids::{AutomationId, ListName, RunId, Wamid, WorkspaceId};
use avvio_common::domain::path::StepPath;
use avvio_common::domain::phone::ContactKey;
use avvio_common::domain::phrase::Phrase;
use avvio_common::domain::run::Run;
use avvio_common::domain::workspace::Workspace;
use avvio_common::engine::Liveness;
use avvio_common::ports::{
    ContactFilter, DueDate, KeyHash, Management, MessageCommit, MessageView, MessageWrite, Page, RunBase, RunFilter,
    RunPosition, Snapshot, StepView, StepWrite, Store, StoreError, StoredRun, Versioned, WriteError,
};
use avvio_common::stats::{DayCounters, Days};
use avvio_common::time::Time;
use avvio_common::webhook::StatusUpdate;
use std::sync::Arc;
use table::key_of;

/// The DynamoDB store. Cheap to clone (the SDK client is shared).
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: aws_sdk_dynamodb::Client,
    table: Arc<str>,
    /// `Limit` of every Query; `None`: DynamoDB's 1 MB pages.
    page_limit: Option<i32>,
    /// This instance's leases of send slots, per WhatsApp number.
    leases: pace::Leases,
}

impl DynamoStore {
    /// The store on table `table` (made by [`create_table`]).
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self { client, table: Arc::from(table.into()), page_limit: None, leases: pace::Leases::default() }
    }

    /// The store another Lambda instance holds: the same table, its own send-slot leases.
    pub fn another_instance(&self) -> Self {
        Self { leases: pace::Leases::default(), ..self.clone() }
    }

    /// Caps every Query page at `items` items (tests use it to exercise pagination).
    pub fn with_page_limit(mut self, items: i32) -> Self {
        self.page_limit = Some(items.max(1));
        self
    }

    pub fn table(&self) -> &str {
        &self.table
    }
}

impl Store for DynamoStore {
    async fn message_view(
        &self,
        ws: &WorkspaceId,
        wamid: &Wamid,
        keys: &[ContactKey],
        phrases: &[Phrase],
    ) -> Result<MessageView, StoreError> {
        self.read_message_view(ws, wamid, keys, phrases).await
    }

    async fn commit_message(
        &self,
        ws: &WorkspaceId,
        write: MessageWrite<'_>,
        now: Time,
    ) -> Result<MessageCommit, StoreError> {
        self.write_message(ws, write, now).await
    }

    async fn step_view(&self, ws: &WorkspaceId, id: &RunId) -> Result<StepView, StoreError> {
        self.read_step_view(ws, id).await
    }

    async fn send_slot(&self, phone_number_id: &str, rate: u32, now: Time) -> Result<Time, StoreError> {
        self.pace_slot(phone_number_id, rate, now).await
    }

    async fn claim_step(
        &self,
        ws: &WorkspaceId,
        run: &Run,
        step: StepPath,
        base: &RunBase,
    ) -> Result<Option<u64>, StoreError> {
        self.claim_run_step(ws, run, step, base).await
    }

    async fn commit_step(
        &self,
        ws: &WorkspaceId,
        write: StepWrite<'_>,
        now: Time,
    ) -> Result<Option<Snapshot>, StoreError> {
        self.write_step(ws, write, now).await
    }

    async fn workspaces_for_waba(&self, waba_id: &str) -> Result<Vec<WorkspaceId>, StoreError> {
        self.waba_routes(Some(waba_id)).await
    }

    async fn set_template_status(
        &self,
        ws: &WorkspaceId,
        name: &avvio_common::domain::ids::TemplateName,
        language: &avvio_common::domain::ids::Language,
        status: avvio_common::domain::workspace::TemplateStatus,
    ) -> Result<bool, StoreError> {
        self.write_template_status(ws, name, language, status).await
    }

    async fn workspace(&self, ws: &WorkspaceId) -> Result<Option<Arc<Workspace>>, StoreError> {
        Ok(self.workspace_doc(ws).await?.map(|v| v.item))
    }

    async fn workspace_for_number(&self, phone_number_id: &str) -> Result<Option<WorkspaceId>, StoreError> {
        self.number_route(phone_number_id).await
    }

    async fn automation_by_phrase(
        &self,
        ws: &WorkspaceId,
        phrase: &Phrase,
    ) -> Result<Option<Arc<Automation>>, StoreError> {
        self.by_phrase(ws, phrase).await
    }

    async fn fallbacks(&self, ws: &WorkspaceId) -> Result<Fallbacks, StoreError> {
        self.enabled_fallbacks(ws).await
    }

    async fn list_automations(&self, ws: &WorkspaceId, list: &ListName) -> Result<Vec<Arc<Automation>>, StoreError> {
        self.by_list(ws, list).await
    }

    async fn consent_automations(
        &self,
        ws: &WorkspaceId,
        marketing: ConsentChoice,
    ) -> Result<Vec<Arc<Automation>>, StoreError> {
        self.by_consent(ws, marketing).await
    }

    async fn date_automations(&self, ws: &WorkspaceId) -> Result<Vec<Arc<Automation>>, StoreError> {
        self.dated(ws).await
    }

    async fn integration_automation(
        &self,
        id: &AutomationId,
    ) -> Result<Option<(WorkspaceId, Arc<Automation>)>, StoreError> {
        self.by_hook(id).await
    }

    async fn automation(&self, ws: &WorkspaceId, id: &AutomationId) -> Result<Option<Arc<Automation>>, StoreError> {
        Ok(self.head(ws, id).await?.filter(|h| !h.deleted).map(|h| h.current))
    }

    async fn automation_version(
        &self,
        ws: &WorkspaceId,
        id: &AutomationId,
        version: u32,
    ) -> Result<Option<Arc<Automation>>, StoreError> {
        self.version_of(ws, id, version).await
    }

    async fn liveness(&self, ws: &WorkspaceId, id: &AutomationId) -> Result<Option<Liveness>, StoreError> {
        Ok(self.head(ws, id).await?.and_then(|h| h.liveness()))
    }

    async fn contact(&self, ws: &WorkspaceId, key: &ContactKey) -> Result<Option<Versioned<Contact>>, StoreError> {
        let stored = self.resolve(ws, std::slice::from_ref(key)).await?;
        Ok(stored.map(|s| Versioned { item: s.contact, revision: Some(s.revision) }))
    }

    async fn put_contact(&self, ws: &WorkspaceId, contact: &Contact, expected: Option<u64>) -> Result<u64, StoreError> {
        self.write_contact(ws, contact, expected).await
    }

    async fn list_members(&self, ws: &WorkspaceId, list: &ListName) -> Result<Vec<Contact>, StoreError> {
        self.members(ws, list).await
    }

    async fn list_members_page(
        &self,
        ws: &WorkspaceId,
        list: &ListName,
        after: Option<&ContactKey>,
        limit: usize,
    ) -> Result<(Vec<Contact>, Option<ContactKey>), StoreError> {
        self.members_page(ws, list, after, limit).await
    }

    async fn create_run(&self, ws: &WorkspaceId, run: &Run) -> Result<bool, StoreError> {
        self.insert_run(ws, run).await
    }

    async fn run(&self, ws: &WorkspaceId, id: &RunId) -> Result<Option<StoredRun>, StoreError> {
        self.read_run(ws, id).await
    }

    async fn put_run(&self, ws: &WorkspaceId, run: &Run, base: &RunBase) -> Result<u64, StoreError> {
        self.write_run(ws, run, base).await
    }

    async fn outbound(&self, ws: &WorkspaceId, wamid: &Wamid) -> Result<Option<(RunId, StepPath)>, StoreError> {
        self.read_outbound(ws, wamid).await
    }

    async fn park_status(&self, ws: &WorkspaceId, status: &StatusUpdate, now: Time) -> Result<(), StoreError> {
        self.write_parked(ws, status, now).await
    }

    async fn parked_statuses(
        &self,
        ws: &WorkspaceId,
        wamid: &Wamid,
        now: Time,
    ) -> Result<Vec<StatusUpdate>, StoreError> {
        Ok(self.read_parked(ws, wamid, now).await?.into_iter().map(|(_, status)| status).collect())
    }

    /// Ended runs are deleted by the table's TTL on `expires_at` ([`runs::run_item`]).
    async fn forget_expired_runs(&self, _now: Time) -> Result<usize, StoreError> {
        Ok(0)
    }

    async fn drop_parked(&self, ws: &WorkspaceId, wamid: &Wamid) -> Result<(), StoreError> {
        let keys = self.query_prefix(&keys::parked_statuses_pk(ws, wamid), "").await?;
        self.batch_delete(keys.iter().map(key_of).collect::<Result<_, _>>()?).await
    }

    async fn set_date_due(
        &self,
        ws: &WorkspaceId,
        automation: &AutomationId,
        contact: &ContactKey,
        due: Option<Due>,
    ) -> Result<(), StoreError> {
        self.write_date_due(ws, automation, contact, due).await
    }

    async fn due_dates(&self, now: Time) -> Result<Vec<DueDate>, StoreError> {
        self.read_due_dates(now).await
    }
}

impl Management for DynamoStore {
    async fn workspace_for_key(&self, key: &KeyHash) -> Result<Option<WorkspaceId>, StoreError> {
        self.key_route(key).await
    }

    async fn put_api_key(&self, key: &KeyHash, ws: &WorkspaceId) -> Result<(), StoreError> {
        self.write_key_route(key, ws).await
    }

    async fn workspace_versioned(&self, ws: &WorkspaceId) -> Result<Option<Versioned<Arc<Workspace>>>, StoreError> {
        self.workspace_doc(ws).await
    }

    async fn workspaces_with_waba(&self) -> Result<Vec<WorkspaceId>, StoreError> {
        self.waba_routes(None).await
    }

    async fn claim_template_sync(&self, day: chrono::NaiveDate) -> Result<bool, StoreError> {
        self.claim_sync_day(day).await
    }

    async fn put_workspace(&self, ws: &WorkspaceId, doc: &Workspace, expected: Option<u64>) -> Result<u64, WriteError> {
        self.write_workspace(ws, doc, expected).await
    }

    async fn automations(&self, ws: &WorkspaceId) -> Result<Vec<Arc<Automation>>, StoreError> {
        self.live_automations(ws).await
    }

    async fn create_automation(&self, ws: &WorkspaceId, automation: Automation) -> Result<Arc<Automation>, WriteError> {
        self.insert_automation(ws, automation).await
    }

    async fn update_automation(&self, ws: &WorkspaceId, automation: Automation) -> Result<Arc<Automation>, WriteError> {
        self.replace_automation(ws, automation).await
    }

    async fn versions(&self, ws: &WorkspaceId, id: &AutomationId) -> Result<Vec<Arc<Automation>>, StoreError> {
        self.all_versions(ws, id).await
    }

    async fn stats(&self, ws: &WorkspaceId, id: &AutomationId, days: Days) -> Result<Vec<DayCounters>, StoreError> {
        self.read_stats(ws, id, days).await
    }

    async fn activity(&self, ws: &WorkspaceId, days: Days) -> Result<Vec<(AutomationId, DayCounters)>, StoreError> {
        self.read_activity(ws, days).await
    }

    async fn delete_automation(&self, ws: &WorkspaceId, id: &AutomationId) -> Result<(), WriteError> {
        self.remove_automation(ws, id).await
    }

    async fn contacts(&self, ws: &WorkspaceId, filter: &ContactFilter) -> Result<Vec<Contact>, StoreError> {
        self.matching_contacts(ws, filter).await
    }

    async fn delete_contact(&self, ws: &WorkspaceId, key: &ContactKey) -> Result<bool, StoreError> {
        self.remove_contact(ws, key).await
    }

    async fn runs(&self, ws: &WorkspaceId, filter: &RunFilter) -> Result<Vec<Run>, StoreError> {
        self.matching_runs(ws, filter).await
    }

    async fn contacts_page(
        &self,
        ws: &WorkspaceId,
        filter: &ContactFilter,
        after: Option<&ContactKey>,
        limit: usize,
    ) -> Result<Page<Contact, ContactKey>, StoreError> {
        self.listed_contacts(ws, filter, after, limit).await
    }

    async fn runs_page(
        &self,
        ws: &WorkspaceId,
        filter: &RunFilter,
        after: Option<&RunPosition>,
        limit: usize,
    ) -> Result<Page<Run, RunPosition>, StoreError> {
        self.listed_runs(ws, filter, after, limit).await
    }

    async fn automations_page(
        &self,
        ws: &WorkspaceId,
        after: Option<&AutomationId>,
        limit: usize,
    ) -> Result<Page<Arc<Automation>, AutomationId>, StoreError> {
        self.listed_automations(ws, after, limit).await
    }

    async fn newest_runs(
        &self,
        ws: &WorkspaceId,
        filter: &RunFilter,
        limit: usize,
    ) -> Result<(Vec<Run>, usize), StoreError> {
        self.newest_listed_runs(ws, filter, limit).await
    }
}
