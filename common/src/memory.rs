//! In-memory adapters: the embedded default of `avvio dev` and `avvio simulate`
//! (not test doubles). One process, state behind a mutex, no persistence.

use crate::calendar::Due;
use crate::catalog::{Catalog, CatalogError, Fallbacks};
use crate::domain::automation::Automation;
use crate::domain::contact::{ConsentChoice, Contact};
use crate::domain::ids::{AutomationId, ListName, RunId, Wamid, WorkspaceId};
use crate::domain::path::StepPath;
use crate::domain::phone::ContactKey;
use crate::domain::phrase::Phrase;
use crate::domain::run::{Run, StepStatus};
use crate::domain::workspace::Workspace;
use crate::engine::{Liveness, StepDue};
use crate::fast::HashMap;
use crate::ports::{
    Account, ContactFilter, DueDate, EventQueue, KeyHash, Management, MessageCommit, MessageView, MessageWrite,
    PARKED_FOR, Page, PipelineEvent, QueueError, RunBase, RunFilter, RunPosition, SendError, Snapshot, StepMessage,
    StepQueue, StepView, StepWrite, Store, StoreError, StoredRun, Versioned, WebhookError, WebhookPoster,
    WhatsAppSender, WriteError,
};
use crate::stats::{DayCounters, Days, Delta, Tally};
use crate::time::Time;
use crate::webhook::StatusUpdate;
use chrono::NaiveDate;
use serde_json::Value;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// One workspace's data.
#[derive(Default)]
struct Tenant {
    doc: Option<Arc<Workspace>>,
    doc_revision: u64,
    catalog: Catalog,
    /// Contacts by internal slot; `keys` maps each phone and BSUID to its slot.
    contacts: Vec<(Contact, u64)>,
    keys: HashMap<ContactKey, usize>,
    /// Claimed inbound wamids, with the steps each one queued.
    seen: HashMap<Wamid, Claimed>,
    /// Boxed: the table stays small as it grows (a rehash moves pointers, not runs).
    runs: HashMap<RunId, Box<StoredRun>>,
    /// The runs in the order the lists read them.
    run_index: RunIndex,
    outbound: HashMap<Wamid, (RunId, StepPath)>,
    /// Statuses of messages with no outbound link yet, and when each wamid was first parked
    /// (oldest first: expiry drops from the front).
    parked: HashMap<Wamid, (Time, Vec<StatusUpdate>)>,
    parked_order: VecDeque<(Time, Wamid)>,
    /// Stats counters by the day runs started and their automation.
    stats: BTreeMap<NaiveDate, HashMap<AutomationId, DayCounters>>,
    /// Ended runs by when they are deleted ([`Run::expires_at`]); an entry whose run was
    /// written again since with another time is skipped.
    expiring: BTreeSet<(Time, RunId)>,
}

impl Tenant {
    /// Stores a new run and counts it.
    fn insert_run(&mut self, run: &Run) {
        count(&mut self.stats, &Tally::NONE, run);
        self.runs.insert(run.id.clone(), Box::new(StoredRun::created(run.clone())));
        self.run_index.unindexed.push(run.id.clone());
        self.note_expiry(run);
    }

    fn note_expiry(&mut self, run: &Run) {
        if let Some(at) = run.expires_at() {
            self.expiring.insert((at, run.id.clone()));
        }
    }

    /// Deletes the runs whose retention ended at `now`; how many.
    fn forget_expired_runs(&mut self, now: Time) -> usize {
        let mut forgotten = 0;
        while let Some((at, id)) = self.expiring.first().cloned().filter(|(at, _)| *at <= now) {
            self.expiring.pop_first();
            if self.runs.get(&id).is_none_or(|stored| stored.run.expires_at() != Some(at)) {
                continue;
            }
            let stored = self.runs.remove(&id).expect("checked above");
            let started = (stored.run.started_at, id);
            let index = &mut self.run_index;
            index.all.remove(&started);
            index.by_automation.get_mut(&stored.run.automation).map(|set| set.remove(&started));
            index.by_contact.get_mut(&stored.run.contact).map(|set| set.remove(&started));
            forgotten += 1;
        }
        forgotten
    }

    /// Replaces the run stored as `base` (in place) and counts the change; its new revision.
    fn replace_run(&mut self, run: &Run, base: &RunBase) -> Result<u64, StoreError> {
        match self.runs.get_mut(&run.id) {
            Some(stored) if stored.revision == base.revision => {
                let counted = Tally::of(&stored.run);
                debug_assert_eq!(counted, base.tally, "a run write's base counts what the stored run counts");
                count(&mut self.stats, &counted, run);
                stored.run.clone_from(run);
                stored.revision += 1;
                let revision = stored.revision;
                self.note_expiry(run);
                Ok(revision)
            }
            _ => Err(StoreError::Conflict(format!("run {}", run.id))),
        }
    }

    /// The newest `limit` runs matching `filter`, newest first, and how many match.
    fn newest_runs(&mut self, filter: &RunFilter, limit: usize) -> (Vec<Run>, usize) {
        let Self { runs, run_index: index, .. } = self;
        index.catch_up(runs);
        let Some(started) = index.of(filter) else { return (Vec::new(), 0) };
        let newest_first = started.iter().rev().filter_map(|(_, id)| runs.get(id)).map(|r| &r.run);
        if filter.contact.is_some() && filter.automation.is_some() {
            // A contact's runs (few), of one automation.
            let all: Vec<&Run> = newest_first.filter(|run| filter.matches(run)).collect();
            let total = all.len();
            (all.into_iter().take(limit).cloned().collect(), total)
        } else {
            (newest_first.take(limit).cloned().collect(), started.len())
        }
    }
}

impl Tenant {
    /// At most `limit` runs matching `filter` after `after`, newest first, read from the index.
    fn runs_page(&mut self, filter: &RunFilter, after: Option<&RunPosition>, limit: usize) -> Page<Run, RunPosition> {
        let Self { runs, run_index: index, .. } = self;
        index.catch_up(runs);
        let Some(started) = index.of(filter) else { return Page { items: Vec::new(), next: None } };
        let before = match after {
            Some(p) => started.range(..(p.started_at, p.id.clone())),
            None => started.range::<Started, _>(..),
        };
        let newest_first =
            before.rev().filter_map(|(_, id)| runs.get(id)).map(|r| &r.run).filter(|run| filter.matches(run));
        let page = Page::first(newest_first, limit, |run| RunPosition::of(run));
        Page { items: page.items.into_iter().cloned().collect(), next: page.next }
    }
}

/// The first `n` of `contacts` by key, in key order, copied (the rest is never sorted).
fn first_by_key(mut contacts: Vec<(ContactKey, &Contact)>, n: usize) -> impl Iterator<Item = Contact> + '_ {
    if n < contacts.len() {
        contacts.select_nth_unstable_by(n, |a, b| a.0.cmp(&b.0));
        contacts.truncate(n);
    }
    contacts.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    contacts.into_iter().map(|(_, c)| c.clone())
}

/// A run's start and id: ordered as runs are listed (newest last).
type Started = (Time, RunId);

/// The runs by their start (all, by automation, by contact), for the lists of the console and
/// `/v1/runs`. Storing a run only notes its id; a listing adds the runs noted since, so the
/// pipeline does not pay for the lists.
#[derive(Default)]
struct RunIndex {
    unindexed: Vec<RunId>,
    all: BTreeSet<Started>,
    by_automation: HashMap<AutomationId, BTreeSet<Started>>,
    by_contact: HashMap<ContactKey, BTreeSet<Started>>,
}

impl RunIndex {
    /// The runs `filter` reads from: a contact's (filtered by automation when both are given),
    /// an automation's, or all.
    fn of(&self, filter: &RunFilter) -> Option<&BTreeSet<Started>> {
        match (&filter.contact, &filter.automation) {
            (Some(contact), _) => self.by_contact.get(contact),
            (None, Some(automation)) => self.by_automation.get(automation),
            (None, None) => Some(&self.all),
        }
    }

    /// Adds the runs stored since the last listing (a run's start, automation and contact never change).
    fn catch_up(&mut self, runs: &HashMap<RunId, Box<StoredRun>>) {
        for id in self.unindexed.drain(..) {
            let Some(stored) = runs.get(&id) else { continue };
            let run = &stored.run;
            let started = (run.started_at, id);
            self.by_automation.entry(run.automation.clone()).or_default().insert(started.clone());
            self.by_contact.entry(run.contact.clone()).or_default().insert(started.clone());
            self.all.insert(started);
        }
    }
}

/// Adds what a write of `after` over a run that counted `before` changes to the counters.
fn count(stats: &mut BTreeMap<NaiveDate, HashMap<AutomationId, DayCounters>>, before: &Tally, after: &Run) {
    if let Some(delta) = Delta::of(before, after) {
        stats.entry(delta.day).or_default().entry(delta.automation.clone()).or_default().apply(&delta);
    }
}

/// The steps a claimed message queued: usually one, kept without a list.
#[derive(Debug, Clone)]
enum Claimed {
    One(StepDue),
    Many(Vec<StepDue>),
}

impl Claimed {
    fn of(steps: &[StepDue]) -> Self {
        match steps {
            [one] => Self::One(one.clone()),
            many => Self::Many(many.to_vec()),
        }
    }

    fn to_vec(&self) -> Vec<StepDue> {
        match self {
            Self::One(one) => vec![one.clone()],
            Self::Many(many) => many.clone(),
        }
    }
}

impl Tenant {
    /// The stored contacts, without the empty slots deleted ones leave.
    fn live_contacts(&self) -> impl Iterator<Item = &Contact> {
        self.contacts.iter().map(|(c, _)| c).filter(|c| c.phone.is_some() || c.bsuid.is_some())
    }

    /// The contact the first known of `keys` finds.
    fn snapshot(&self, keys: &[ContactKey]) -> Option<Snapshot> {
        keys.iter().find_map(|key| {
            let (contact, revision) = &self.contacts[*self.keys.get(key)?];
            Some(Snapshot { contact: contact.clone(), revision: *revision, home: key.clone() })
        })
    }

    /// Where a write of `contact` expecting revision `expected` goes, or why it may not.
    fn contact_slot(&self, contact: &Contact, expected: Option<u64>) -> Result<Option<usize>, StoreError> {
        let slot = contact.keys().iter().find_map(|k| self.keys.get(k).copied());
        match (slot, expected) {
            (Some(slot), Some(expected)) if self.contacts[slot].1 == expected => Ok(Some(slot)),
            (None, None) => Ok(None),
            _ => Err(StoreError::Conflict(format!("contact {}", contact.key()))),
        }
    }

    /// Writes `contact` where [`Self::contact_slot`] said (`None`: a new slot); indexes every key it has.
    fn write_contact(&mut self, contact: &Contact, slot: Option<usize>) -> u64 {
        let slot = slot.unwrap_or_else(|| {
            self.contacts.push((Contact::default(), 0));
            self.contacts.len() - 1
        });
        let revision = self.contacts[slot].1 + 1;
        self.contacts[slot] = (contact.clone(), revision);
        for key in contact.keys() {
            self.keys.insert(key, slot);
        }
        revision
    }
}

type DueKey = (Time, WorkspaceId, AutomationId, ContactKey);

#[derive(Default)]
struct State {
    /// The last day the clock's daily template sync was claimed.
    template_sync_day: Option<chrono::NaiveDate>,
    tenants: HashMap<WorkspaceId, Tenant>,
    api_keys: HashMap<KeyHash, WorkspaceId>,
    numbers: HashMap<String, WorkspaceId>,
    /// The date index: what the clock queries, ordered by due time.
    due: BTreeSet<(DueKey, chrono::NaiveDate)>,
    due_by_pair: HashMap<(WorkspaceId, AutomationId, ContactKey), (Time, chrono::NaiveDate)>,
    /// Each number's next free send slot ([`crate::pacing::take_slots`]).
    paces: HashMap<String, Time>,
    /// Sends are not paced (`avvio simulate`: its clock is not the wall clock).
    unpaced: bool,
}

/// The workspaces whose document names a WABA (`waba_id`, or any when `None`), in id order
/// (few workspaces: a scan).
fn waba_owners(state: &State, waba_id: Option<&str>) -> Vec<WorkspaceId> {
    let mut owners: Vec<WorkspaceId> = state
        .tenants
        .iter()
        .filter(|(_, t)| {
            let waba = t.doc.as_ref().and_then(|d| d.whatsapp.as_ref()).and_then(|w| w.waba_id.as_deref());
            waba.is_some() && waba_id.is_none_or(|wanted| waba == Some(wanted))
        })
        .map(|(ws, _)| ws.clone())
        .collect();
    owners.sort();
    owners
}

/// The in-memory store.
#[derive(Default, Clone)]
pub struct MemoryStore {
    state: Arc<Mutex<State>>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// A store whose sends are never paced: every slot is `now`. For `avvio simulate`, whose
    /// clock jumps: it shows what is sent, not how a second is shared out.
    pub fn unpaced() -> Self {
        let store = Self::default();
        store.lock().unpaced = true;
        store
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data behind; keep serving it.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Creates or replaces a workspace document and routes its phone number to it
    /// (loading files: a number another workspace had moves to this one).
    pub fn load_workspace(&self, ws: &WorkspaceId, doc: Workspace) {
        let mut state = self.lock();
        set_workspace(&mut state, ws, doc);
    }

    /// Routes an extra WhatsApp `phone_number_id` to a workspace.
    pub fn route_number(&self, phone_number_id: &str, ws: &WorkspaceId) {
        self.lock().numbers.insert(phone_number_id.to_string(), ws.clone());
    }

    /// Replaces a workspace's automations with an already validated catalog.
    pub fn load_catalog(&self, ws: &WorkspaceId, catalog: Catalog) {
        self.lock().tenants.entry(ws.clone()).or_default().catalog = catalog;
    }

    /// Runs `f` on a workspace's catalog (creating, updating or deleting automations).
    pub fn with_catalog<T>(
        &self,
        ws: &WorkspaceId,
        f: impl FnOnce(&mut Catalog) -> Result<T, CatalogError>,
    ) -> Result<T, CatalogError> {
        f(&mut self.lock().tenants.entry(ws.clone()).or_default().catalog)
    }

    /// Makes room for `messages` more inbound messages in a workspace (their claims, the runs
    /// and sends they cause), for a caller that knows how many are coming (`avvio simulate`).
    pub fn reserve_messages(&self, ws: &WorkspaceId, messages: usize) {
        let mut state = self.lock();
        let t = state.tenants.entry(ws.clone()).or_default();
        t.seen.reserve(messages);
        t.runs.reserve(messages);
        t.run_index.unindexed.reserve(messages);
        t.outbound.reserve(messages);
    }

    /// Every run of a workspace, oldest first.
    pub fn all_runs(&self, ws: &WorkspaceId) -> Vec<Run> {
        let state = self.lock();
        let mut runs: Vec<Run> =
            state.tenants.get(ws).map(|t| t.runs.values().map(|r| r.run.clone()).collect()).unwrap_or_default();
        runs.sort_by(|a, b| (a.started_at, &a.id).cmp(&(b.started_at, &b.id)));
        runs
    }
}

fn tenant<'a>(state: &'a State, ws: &WorkspaceId) -> Option<&'a Tenant> {
    state.tenants.get(ws)
}

fn set_workspace(state: &mut State, ws: &WorkspaceId, doc: Workspace) -> u64 {
    state.numbers.retain(|_, owner| owner != ws);
    if let Some(number) = doc.whatsapp.as_ref().map(|w| w.phone_number_id.clone()) {
        state.numbers.insert(number, ws.clone());
    }
    let tenant = state.tenants.entry(ws.clone()).or_default();
    tenant.doc = Some(Arc::new(doc));
    tenant.doc_revision += 1;
    tenant.doc_revision
}

/// Whether another workspace has an integration automation with `automation`'s id.
fn integration_id_taken(state: &State, ws: &WorkspaceId, automation: &Automation) -> Result<(), WriteError> {
    if !matches!(automation.trigger, crate::domain::automation::Trigger::Integration { .. }) {
        return Ok(());
    }
    let id = automation.id();
    let taken = state.tenants.iter().any(|(owner, t)| {
        owner != ws
            && t.catalog
                .current(id)
                .is_some_and(|a| matches!(a.trigger, crate::domain::automation::Trigger::Integration { .. }))
    });
    if taken { Err(WriteError::IntegrationIdTaken(id.clone())) } else { Ok(()) }
}

fn clear_dates(state: &mut State, ws: &WorkspaceId, keep: impl Fn(&AutomationId, &ContactKey) -> bool) {
    let State { due, due_by_pair, .. } = state;
    due_by_pair.retain(|(owner, automation, contact), (at, date)| {
        let drop = owner == ws && !keep(automation, contact);
        if drop {
            due.remove(&((*at, owner.clone(), automation.clone(), contact.clone()), *date));
        }
        !drop
    });
}

impl Store for MemoryStore {
    async fn message_view(
        &self,
        ws: &WorkspaceId,
        wamid: &Wamid,
        keys: &[ContactKey],
        phrases: &[Phrase],
    ) -> Result<MessageView, StoreError> {
        let state = self.lock();
        let Some(t) = tenant(&state, ws) else {
            return Ok(MessageView { phrases: vec![None; phrases.len()], ..MessageView::default() });
        };
        Ok(MessageView {
            workspace: t.doc.clone(),
            claimed: t.seen.get(wamid).map(Claimed::to_vec),
            contact: t.snapshot(keys),
            phrases: phrases.iter().map(|p| t.catalog.by_phrase(p).cloned()).collect(),
            fallbacks: t.catalog.fallbacks(),
        })
    }

    async fn commit_message(
        &self,
        ws: &WorkspaceId,
        write: MessageWrite<'_>,
        _now: Time,
    ) -> Result<MessageCommit, StoreError> {
        let MessageWrite { wamid, before, contact, started, updated, queued } = write;
        let mut state = self.lock();
        let t = state.tenants.entry(ws.clone()).or_default();
        if t.seen.contains_key(wamid) || started.iter().any(|r| t.runs.contains_key(&r.id)) {
            return Ok(MessageCommit::Duplicate);
        }
        // All or nothing: every revision is checked before anything is written.
        for (run, base) in updated {
            if t.runs.get(&run.id).is_none_or(|stored| stored.revision != base.revision) {
                return Err(StoreError::Conflict(format!("run {}", run.id)));
            }
        }
        let slot = t.contact_slot(contact, before.map(|b| b.revision))?;
        let revision = t.write_contact(contact, slot);
        t.seen.insert(wamid.clone(), Claimed::of(queued));
        for run in started {
            t.insert_run(run);
        }
        for (run, base) in updated {
            t.replace_run(run, base)?;
        }
        let home = before.map_or_else(|| contact.key(), |b| b.home.clone());
        Ok(MessageCommit::Written { revision, home })
    }

    async fn step_view(&self, ws: &WorkspaceId, id: &RunId) -> Result<StepView, StoreError> {
        let state = self.lock();
        let Some(t) = tenant(&state, ws) else { return Ok(StepView::default()) };
        let Some(stored) = t.runs.get(id) else {
            return Ok(StepView { workspace: t.doc.clone(), ..StepView::default() });
        };
        let run = &stored.run;
        Ok(StepView {
            automation: t.catalog.version(&run.automation, run.version).cloned(),
            liveness: t.catalog.liveness(&run.automation),
            contact: t.snapshot(std::slice::from_ref(&run.contact)),
            workspace: t.doc.clone(),
            run: Some(StoredRun::clone(stored)),
        })
    }

    async fn send_slot(&self, phone_number_id: &str, rate: u32, now: Time) -> Result<Time, StoreError> {
        let mut state = self.lock();
        if state.unpaced {
            return Ok(now);
        }
        let next_free = state.paces.get(phone_number_id).copied();
        let (slot, next_free) = crate::pacing::take_slots(next_free, rate, 1, now);
        state.paces.insert(phone_number_id.to_string(), next_free);
        Ok(slot)
    }

    async fn claim_step(
        &self,
        ws: &WorkspaceId,
        run: &Run,
        step: StepPath,
        base: &RunBase,
    ) -> Result<Option<u64>, StoreError> {
        let mut state = self.lock();
        let t = state.tenants.entry(ws.clone()).or_default();
        let recorded = |stored: &StoredRun| stored.run.step(&step).is_some_and(|r| r.status != StepStatus::Retrying);
        if t.runs.get(&run.id).map(Box::as_ref).is_some_and(recorded) {
            return Ok(None);
        }
        t.replace_run(run, base).map(Some)
    }

    async fn commit_step(
        &self,
        ws: &WorkspaceId,
        write: StepWrite<'_>,
        _now: Time,
    ) -> Result<Option<Snapshot>, StoreError> {
        let StepWrite { run, base, contact, sent, started } = write;
        let mut state = self.lock();
        let t = state.tenants.entry(ws.clone()).or_default();
        // All or nothing: the run's revision and the contact's are checked before either is written.
        if t.runs.get(&run.id).is_none_or(|stored| stored.revision != base.revision) {
            return Err(StoreError::Conflict(format!("run {}", run.id)));
        }
        if let Some(taken) = started.iter().find(|r| t.runs.contains_key(&r.id)) {
            return Err(StoreError::Conflict(format!("run {}", taken.id)));
        }
        let slot = contact.map(|(contact, before)| t.contact_slot(contact, Some(before.revision))).transpose()?;
        let written = contact.zip(slot).map(|((contact, before), slot)| {
            let revision = t.write_contact(contact, slot);
            Snapshot { contact: contact.clone(), revision, home: before.home.clone() }
        });
        t.replace_run(run, base)?;
        for started in started {
            t.insert_run(started);
        }
        if let Some((wamid, step)) = sent {
            t.outbound.insert(wamid.clone(), (run.id.clone(), step));
        }
        Ok(written)
    }

    async fn workspace(&self, ws: &WorkspaceId) -> Result<Option<Arc<Workspace>>, StoreError> {
        Ok(tenant(&self.lock(), ws).and_then(|t| t.doc.clone()))
    }

    async fn workspace_for_number(&self, phone_number_id: &str) -> Result<Option<WorkspaceId>, StoreError> {
        Ok(self.lock().numbers.get(phone_number_id).cloned())
    }

    async fn workspaces_for_waba(&self, waba_id: &str) -> Result<Vec<WorkspaceId>, StoreError> {
        Ok(waba_owners(&self.lock(), Some(waba_id)))
    }

    async fn set_template_status(
        &self,
        ws: &WorkspaceId,
        name: &crate::domain::ids::TemplateName,
        language: &crate::domain::ids::Language,
        status: crate::domain::workspace::TemplateStatus,
    ) -> Result<bool, StoreError> {
        let mut state = self.lock();
        let Some(doc) = tenant(&state, ws).and_then(|t| t.doc.clone()) else { return Ok(false) };
        let Some(template) = doc.template(name, language) else { return Ok(false) };
        if template.status != status {
            let mut doc = Workspace::clone(&doc);
            if let Some(t) = doc.templates.iter_mut().find(|t| &t.name == name && &t.language == language) {
                t.status = status;
            }
            set_workspace(&mut state, ws, doc);
        }
        Ok(true)
    }

    async fn automation_by_phrase(
        &self,
        ws: &WorkspaceId,
        phrase: &Phrase,
    ) -> Result<Option<Arc<Automation>>, StoreError> {
        Ok(tenant(&self.lock(), ws).and_then(|t| t.catalog.by_phrase(phrase).cloned()))
    }

    async fn fallbacks(&self, ws: &WorkspaceId) -> Result<Fallbacks, StoreError> {
        Ok(tenant(&self.lock(), ws).map(|t| t.catalog.fallbacks()).unwrap_or_default())
    }

    async fn list_automations(&self, ws: &WorkspaceId, list: &ListName) -> Result<Vec<Arc<Automation>>, StoreError> {
        Ok(tenant(&self.lock(), ws).map(|t| t.catalog.by_list(list).cloned().collect()).unwrap_or_default())
    }

    async fn consent_automations(
        &self,
        ws: &WorkspaceId,
        marketing: ConsentChoice,
    ) -> Result<Vec<Arc<Automation>>, StoreError> {
        Ok(tenant(&self.lock(), ws).map(|t| t.catalog.by_consent(marketing).cloned().collect()).unwrap_or_default())
    }

    async fn date_automations(&self, ws: &WorkspaceId) -> Result<Vec<Arc<Automation>>, StoreError> {
        Ok(tenant(&self.lock(), ws).map(|t| t.catalog.dated().cloned().collect()).unwrap_or_default())
    }

    async fn integration_automation(
        &self,
        id: &AutomationId,
    ) -> Result<Option<(WorkspaceId, Arc<Automation>)>, StoreError> {
        let state = self.lock();
        Ok(state.tenants.iter().find_map(|(ws, t)| {
            let automation = t.catalog.current(id)?;
            matches!(automation.trigger, crate::domain::automation::Trigger::Integration { .. })
                .then(|| (ws.clone(), automation.clone()))
        }))
    }

    async fn automation(&self, ws: &WorkspaceId, id: &AutomationId) -> Result<Option<Arc<Automation>>, StoreError> {
        Ok(tenant(&self.lock(), ws).and_then(|t| t.catalog.current(id).cloned()))
    }

    async fn automation_version(
        &self,
        ws: &WorkspaceId,
        id: &AutomationId,
        version: u32,
    ) -> Result<Option<Arc<Automation>>, StoreError> {
        Ok(tenant(&self.lock(), ws).and_then(|t| t.catalog.version(id, version).cloned()))
    }

    async fn liveness(&self, ws: &WorkspaceId, id: &AutomationId) -> Result<Option<Liveness>, StoreError> {
        Ok(tenant(&self.lock(), ws).and_then(|t| t.catalog.liveness(id)))
    }

    async fn contact(&self, ws: &WorkspaceId, key: &ContactKey) -> Result<Option<Versioned<Contact>>, StoreError> {
        let state = self.lock();
        Ok(tenant(&state, ws).and_then(|t| {
            let (contact, revision) = &t.contacts[*t.keys.get(key)?];
            Some(Versioned { item: contact.clone(), revision: Some(*revision) })
        }))
    }

    async fn put_contact(&self, ws: &WorkspaceId, contact: &Contact, expected: Option<u64>) -> Result<u64, StoreError> {
        let mut state = self.lock();
        let t = state.tenants.entry(ws.clone()).or_default();
        let slot = t.contact_slot(contact, expected)?;
        Ok(t.write_contact(contact, slot))
    }

    async fn list_members(&self, ws: &WorkspaceId, list: &ListName) -> Result<Vec<Contact>, StoreError> {
        let state = self.lock();
        Ok(tenant(&state, ws)
            .map(|t| t.live_contacts().filter(|c| c.lists.contains(list)).cloned().collect())
            .unwrap_or_default())
    }

    async fn list_members_page(
        &self,
        ws: &WorkspaceId,
        list: &ListName,
        after: Option<&ContactKey>,
        limit: usize,
    ) -> Result<(Vec<Contact>, Option<ContactKey>), StoreError> {
        let state = self.lock();
        let Some(t) = tenant(&state, ws) else { return Ok((Vec::new(), None)) };
        let after = after.map(ContactKey::as_str);
        let mut members: Vec<(ContactKey, &Contact)> = t
            .live_contacts()
            .filter(|c| c.lists.contains(list))
            .map(|c| (c.key(), c))
            .filter(|(key, _)| after.is_none_or(|after| key.as_str() > after))
            .collect();
        members.sort_by(|(a, _), (b, _)| a.as_str().cmp(b.as_str()));
        let more = members.len() > limit;
        members.truncate(limit);
        let next = if more { members.last().map(|(key, _)| key.clone()) } else { None };
        Ok((members.into_iter().map(|(_, c)| c.clone()).collect(), next))
    }

    async fn create_run(&self, ws: &WorkspaceId, run: &Run) -> Result<bool, StoreError> {
        let mut state = self.lock();
        let t = state.tenants.entry(ws.clone()).or_default();
        if t.runs.contains_key(&run.id) {
            return Ok(false);
        }
        t.insert_run(run);
        Ok(true)
    }

    async fn run(&self, ws: &WorkspaceId, id: &RunId) -> Result<Option<StoredRun>, StoreError> {
        Ok(tenant(&self.lock(), ws).and_then(|t| t.runs.get(id).map(|r| StoredRun::clone(r))))
    }

    async fn put_run(&self, ws: &WorkspaceId, run: &Run, base: &RunBase) -> Result<u64, StoreError> {
        self.lock().tenants.entry(ws.clone()).or_default().replace_run(run, base)
    }

    async fn outbound(&self, ws: &WorkspaceId, wamid: &Wamid) -> Result<Option<(RunId, StepPath)>, StoreError> {
        Ok(tenant(&self.lock(), ws).and_then(|t| t.outbound.get(wamid).cloned()))
    }

    async fn park_status(&self, ws: &WorkspaceId, status: &StatusUpdate, now: Time) -> Result<(), StoreError> {
        let mut state = self.lock();
        let t = state.tenants.entry(ws.clone()).or_default();
        while let Some((at, _)) = t.parked_order.front()
            && *at + PARKED_FOR <= now
        {
            let (at, wamid) = t.parked_order.pop_front().expect("the front was just read");
            // Not a wamid dropped and parked again since.
            if t.parked.get(&wamid).is_some_and(|(parked_at, _)| *parked_at == at) {
                t.parked.remove(&wamid);
            }
        }
        let (_, parked) = t.parked.entry(status.wamid.clone()).or_insert_with(|| (now, Vec::new()));
        if parked.is_empty() {
            t.parked_order.push_back((now, status.wamid.clone()));
        }
        parked.push(status.clone());
        Ok(())
    }

    async fn parked_statuses(
        &self,
        ws: &WorkspaceId,
        wamid: &Wamid,
        now: Time,
    ) -> Result<Vec<StatusUpdate>, StoreError> {
        let state = self.lock();
        let parked = tenant(&state, ws).and_then(|t| t.parked.get(wamid));
        Ok(parked.filter(|(at, _)| now < *at + PARKED_FOR).map(|(_, statuses)| statuses.clone()).unwrap_or_default())
    }

    async fn drop_parked(&self, ws: &WorkspaceId, wamid: &Wamid) -> Result<(), StoreError> {
        if let Some(t) = self.lock().tenants.get_mut(ws) {
            t.parked.remove(wamid);
        }
        Ok(())
    }

    async fn forget_expired_runs(&self, now: Time) -> Result<usize, StoreError> {
        Ok(self.lock().tenants.values_mut().map(|t| t.forget_expired_runs(now)).sum())
    }

    async fn set_date_due(
        &self,
        ws: &WorkspaceId,
        automation: &AutomationId,
        contact: &ContactKey,
        due: Option<Due>,
    ) -> Result<(), StoreError> {
        let mut state = self.lock();
        let pair = (ws.clone(), automation.clone(), contact.clone());
        if let Some((at, date)) = state.due_by_pair.remove(&pair) {
            state.due.remove(&((at, pair.0.clone(), pair.1.clone(), pair.2.clone()), date));
        }
        if let Some(due) = due {
            state.due.insert(((due.at, pair.0.clone(), pair.1.clone(), pair.2.clone()), due.date));
            state.due_by_pair.insert(pair, (due.at, due.date));
        }
        Ok(())
    }

    async fn due_dates(&self, now: Time) -> Result<Vec<DueDate>, StoreError> {
        let state = self.lock();
        Ok(state
            .due
            .iter()
            .take_while(|((at, ..), _)| *at <= now)
            .map(|((at, ws, automation, contact), date)| DueDate {
                workspace: ws.clone(),
                automation: automation.clone(),
                contact: contact.clone(),
                due: Due { date: *date, at: *at },
            })
            .collect())
    }
}

impl Management for MemoryStore {
    async fn workspace_for_key(&self, key: &KeyHash) -> Result<Option<WorkspaceId>, StoreError> {
        Ok(self.lock().api_keys.get(key).cloned())
    }

    async fn put_api_key(&self, key: &KeyHash, ws: &WorkspaceId) -> Result<(), StoreError> {
        self.lock().api_keys.insert(key.clone(), ws.clone());
        Ok(())
    }

    async fn workspace_versioned(&self, ws: &WorkspaceId) -> Result<Option<Versioned<Arc<Workspace>>>, StoreError> {
        let state = self.lock();
        Ok(tenant(&state, ws).and_then(|t| Some(Versioned { item: t.doc.clone()?, revision: Some(t.doc_revision) })))
    }

    async fn put_workspace(&self, ws: &WorkspaceId, doc: &Workspace, expected: Option<u64>) -> Result<u64, WriteError> {
        let mut state = self.lock();
        let current = tenant(&state, ws).and_then(|t| t.doc.as_ref().map(|_| t.doc_revision));
        if current != expected {
            return Err(StoreError::Conflict(format!("workspace {ws}")).into());
        }
        if let Some(number) = doc.whatsapp.as_ref().map(|w| &w.phone_number_id) {
            if state.numbers.get(number).is_some_and(|owner| owner != ws) {
                return Err(WriteError::NumberTaken(number.clone()));
            }
        }
        Ok(set_workspace(&mut state, ws, doc.clone()))
    }

    async fn workspaces_with_waba(&self) -> Result<Vec<WorkspaceId>, StoreError> {
        Ok(waba_owners(&self.lock(), None))
    }

    async fn claim_template_sync(&self, day: chrono::NaiveDate) -> Result<bool, StoreError> {
        let mut state = self.lock();
        if state.template_sync_day.is_some_and(|claimed| claimed >= day) {
            return Ok(false);
        }
        state.template_sync_day = Some(day);
        Ok(true)
    }

    async fn automations(&self, ws: &WorkspaceId) -> Result<Vec<Arc<Automation>>, StoreError> {
        Ok(tenant(&self.lock(), ws).map(|t| t.catalog.all()).unwrap_or_default())
    }

    async fn create_automation(&self, ws: &WorkspaceId, automation: Automation) -> Result<Arc<Automation>, WriteError> {
        let mut state = self.lock();
        integration_id_taken(&state, ws, &automation)?;
        Ok(state.tenants.entry(ws.clone()).or_default().catalog.create(automation)?)
    }

    async fn update_automation(&self, ws: &WorkspaceId, automation: Automation) -> Result<Arc<Automation>, WriteError> {
        let mut state = self.lock();
        integration_id_taken(&state, ws, &automation)?;
        Ok(state.tenants.entry(ws.clone()).or_default().catalog.update(automation)?)
    }

    async fn versions(&self, ws: &WorkspaceId, id: &AutomationId) -> Result<Vec<Arc<Automation>>, StoreError> {
        Ok(tenant(&self.lock(), ws).map(|t| t.catalog.versions(id).to_vec()).unwrap_or_default())
    }

    async fn stats(&self, ws: &WorkspaceId, id: &AutomationId, days: Days) -> Result<Vec<DayCounters>, StoreError> {
        let state = self.lock();
        let Some(t) = tenant(&state, ws) else { return Ok(Vec::new()) };
        Ok(days.iter().filter_map(|day| t.stats.get(&day)?.get(id).cloned()).collect())
    }

    async fn activity(&self, ws: &WorkspaceId, days: Days) -> Result<Vec<(AutomationId, DayCounters)>, StoreError> {
        let state = self.lock();
        let Some(t) = tenant(&state, ws) else { return Ok(Vec::new()) };
        Ok(t.stats
            .range(days.since..=days.until)
            .flat_map(|(_, automations)| automations.iter().map(|(id, counters)| (id.clone(), counters.clone())))
            .collect())
    }

    async fn delete_automation(&self, ws: &WorkspaceId, id: &AutomationId) -> Result<(), WriteError> {
        let mut state = self.lock();
        state.tenants.entry(ws.clone()).or_default().catalog.delete(id)?;
        clear_dates(&mut state, ws, |automation, _| automation != id);
        Ok(())
    }

    async fn contacts(&self, ws: &WorkspaceId, filter: &ContactFilter) -> Result<Vec<Contact>, StoreError> {
        let state = self.lock();
        let mut contacts: Vec<Contact> = tenant(&state, ws)
            .map(|t| t.live_contacts().filter(|c| filter.matches(c)).cloned().collect())
            .unwrap_or_default();
        contacts.sort_by_key(Contact::key);
        Ok(contacts)
    }

    async fn delete_contact(&self, ws: &WorkspaceId, key: &ContactKey) -> Result<bool, StoreError> {
        let mut state = self.lock();
        let Some(t) = state.tenants.get_mut(ws) else { return Ok(false) };
        let Some(slot) = t.keys.get(key).copied() else { return Ok(false) };
        // The slot stays (other slots keep their indexes) but no key finds it any more.
        let (contact, _) = std::mem::take(&mut t.contacts[slot]);
        let keys = contact.keys();
        for k in &keys {
            t.keys.remove(k);
        }
        clear_dates(&mut state, ws, |_, contact| !keys.contains(contact));
        Ok(true)
    }

    async fn runs(&self, ws: &WorkspaceId, filter: &RunFilter) -> Result<Vec<Run>, StoreError> {
        Ok(self.newest_runs(ws, filter, usize::MAX).await?.0)
    }

    async fn first_contacts(
        &self,
        ws: &WorkspaceId,
        filter: &ContactFilter,
        keep: &(dyn Fn(&Contact) -> bool + Sync),
        limit: usize,
    ) -> Result<(Vec<Contact>, usize), StoreError> {
        let state = self.lock();
        let Some(t) = tenant(&state, ws) else { return Ok((Vec::new(), 0)) };
        let matching: Vec<(ContactKey, &Contact)> =
            t.live_contacts().filter(|c| filter.matches(c) && keep(c)).map(|c| (c.key(), c)).collect();
        let total = matching.len();
        Ok((first_by_key(matching, limit).collect(), total))
    }

    async fn contacts_page(
        &self,
        ws: &WorkspaceId,
        filter: &ContactFilter,
        after: Option<&ContactKey>,
        limit: usize,
    ) -> Result<Page<Contact, ContactKey>, StoreError> {
        let state = self.lock();
        let Some(t) = tenant(&state, ws) else { return Ok(Page { items: Vec::new(), next: None }) };
        let matching: Vec<(ContactKey, &Contact)> = t
            .live_contacts()
            .filter(|c| filter.matches(c))
            .map(|c| (c.key(), c))
            .filter(|(key, _)| after.is_none_or(|after| key > after))
            .collect();
        // One more than the page tells whether a next page exists.
        Ok(Page::first(first_by_key(matching, limit.saturating_add(1)), limit, Contact::key))
    }

    async fn runs_page(
        &self,
        ws: &WorkspaceId,
        filter: &RunFilter,
        after: Option<&RunPosition>,
        limit: usize,
    ) -> Result<Page<Run, RunPosition>, StoreError> {
        let mut state = self.lock();
        Ok(state
            .tenants
            .get_mut(ws)
            .map_or(Page { items: Vec::new(), next: None }, |t| t.runs_page(filter, after, limit)))
    }

    async fn newest_runs(
        &self,
        ws: &WorkspaceId,
        filter: &RunFilter,
        limit: usize,
    ) -> Result<(Vec<Run>, usize), StoreError> {
        let mut state = self.lock();
        Ok(state.tenants.get_mut(ws).map(|t| t.newest_runs(filter, limit)).unwrap_or_default())
    }
}

impl MemoryStore {
    /// When the earliest date trigger comes due, for a virtual clock to jump to.
    pub fn next_date_due(&self) -> Option<Time> {
        self.lock().due.first().map(|((at, ..), _)| *at)
    }
}

type Heap = BinaryHeap<Reverse<(Time, u64, Queued)>>;
type SendLog = Vec<(Account, Value)>;
type PostLog = Vec<(String, Value, Option<String>)>;

/// A timer heap of step messages: `simulate` pops it on a virtual clock,
/// `avvio dev` with real timers.
#[derive(Default, Clone)]
pub struct MemoryStepQueue {
    heap: Arc<Mutex<Heap>>,
    seq: Arc<AtomicU64>,
    notify: Arc<tokio::sync::Notify>,
}

/// A heap entry; ordered by (due, seq) only.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Queued(StepMessage);

impl PartialOrd for Queued {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Queued {
    fn cmp(&self, _: &Self) -> std::cmp::Ordering {
        std::cmp::Ordering::Equal
    }
}

impl MemoryStepQueue {
    pub fn new() -> Self {
        Self::default()
    }

    fn heap(&self) -> MutexGuard<'_, Heap> {
        self.heap.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// When the earliest queued step is due.
    pub fn next_due(&self) -> Option<Time> {
        self.heap().peek().map(|Reverse((due, ..))| *due)
    }

    /// Takes the earliest step due at or before `now`; ties go in queueing order.
    pub fn pop_due(&self, now: Time) -> Option<StepMessage> {
        let mut heap = self.heap();
        match heap.peek() {
            Some(Reverse((due, ..))) if *due <= now => heap.pop().map(|Reverse((_, _, Queued(m)))| m),
            _ => None,
        }
    }

    /// Resolves when a step is queued (for the real-time driver of `avvio dev`).
    pub async fn changed(&self) {
        self.notify.notified().await
    }

    pub fn len(&self) -> usize {
        self.heap().len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap().is_empty()
    }
}

impl StepQueue for MemoryStepQueue {
    async fn schedule(&self, message: StepMessage, _now: Time) -> Result<(), QueueError> {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        self.heap().push(Reverse((message.step.due, seq, Queued(message))));
        self.notify.notify_one();
        Ok(())
    }
}

/// Sends nothing: answers every message with a fresh wamid (`wamid.avvio.000001`, …)
/// and, when built with [`MemorySender::recording`], keeps what it was given.
#[derive(Default, Clone)]
pub struct MemorySender {
    count: Arc<AtomicU64>,
    log: Option<Arc<Mutex<SendLog>>>,
}

impl MemorySender {
    /// Counts sends without keeping them (the simulator prints them itself).
    pub fn counting() -> Self {
        Self::default()
    }

    /// Keeps every send for [`MemorySender::sent`].
    pub fn recording() -> Self {
        Self { log: Some(Arc::default()), ..Self::default() }
    }

    pub fn sent(&self) -> Vec<(Account, Value)> {
        self.log.as_ref().map(|log| log.lock().unwrap_or_else(|p| p.into_inner()).clone()).unwrap_or_default()
    }

    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }
}

impl WhatsAppSender for MemorySender {
    async fn send(&self, account: &Account, request: &crate::graph::GraphRequest) -> Result<Wamid, SendError> {
        let n = self.count.fetch_add(1, Ordering::Relaxed) + 1;
        if let Some(log) = &self.log {
            log.lock().unwrap_or_else(|p| p.into_inner()).push((account.clone(), request.to_value()));
        }
        Ok(simulated_wamid(n))
    }
}

/// The id of the `n`th simulated send: `wamid.avvio.000001`, … (six digits at the least).
fn simulated_wamid(n: u64) -> Wamid {
    if n >= 1_000_000 {
        return Wamid::simulated(&format!("wamid.avvio.{n}"));
    }
    let mut id = *b"wamid.avvio.000000";
    crate::fast::put_digits(&mut id[12..], n);
    Wamid::simulated(std::str::from_utf8(&id).expect("ASCII"))
}

/// Posts nothing; keeps every webhook it was given.
#[derive(Default, Clone)]
pub struct MemoryPoster {
    log: Arc<Mutex<PostLog>>,
}

impl MemoryPoster {
    pub fn posted(&self) -> Vec<(String, Value, Option<String>)> {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl WebhookPoster for MemoryPoster {
    async fn post(&self, url: &str, body: &Value, signature: Option<&str>) -> Result<(), WebhookError> {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).push((
            url.to_string(),
            body.clone(),
            signature.map(str::to_string),
        ));
        Ok(())
    }
}

/// An in-process events queue: ingest pushes, one worker (`avvio dev`) drains.
#[derive(Clone)]
pub struct MemoryEventQueue {
    tx: tokio::sync::mpsc::UnboundedSender<PipelineEvent>,
}

impl MemoryEventQueue {
    /// The queue and the receiving end its worker drains.
    pub fn new() -> (Self, tokio::sync::mpsc::UnboundedReceiver<PipelineEvent>) {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        (Self { tx }, rx)
    }
}

impl EventQueue for MemoryEventQueue {
    async fn enqueue(&self, event: PipelineEvent) -> Result<(), QueueError> {
        self.tx.send(event).map_err(|_| QueueError("the event worker has stopped".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::phone::WaId;
    use crate::domain::run::{RunCause, RunStatus};

    #[test]
    fn simulated_sends_are_numbered_with_six_digits_at_the_least() {
        assert_eq!(super::simulated_wamid(1).as_str(), "wamid.avvio.000001");
        assert_eq!(super::simulated_wamid(999_999).as_str(), "wamid.avvio.999999");
        assert_eq!(super::simulated_wamid(1_000_000).as_str(), "wamid.avvio.1000000");
    }

    fn phone(digits: &str) -> ContactKey {
        ContactKey::Phone(WaId::parse(digits).unwrap())
    }

    fn run(id: &str, automation: &str, contact: &ContactKey, minute: i64) -> Run {
        Run {
            id: RunId::parse(id).unwrap(),
            automation: AutomationId::parse(automation).unwrap(),
            version: 1,
            contact: contact.clone(),
            started_at: crate::time::parse_rfc3339("2026-12-04T10:00:00Z").unwrap() + chrono::Duration::minutes(minute),
            cause: RunCause::Manual,
            depth: 0,
            block_epoch: 0,
            status: RunStatus::Active,
            steps: Vec::new(),
            retention: crate::domain::run::RUNS_RETENTION,
        }
    }

    #[tokio::test]
    async fn the_newest_runs_are_listed_with_how_many_match_including_runs_stored_after_a_listing() {
        let (store, ws) = (MemoryStore::new(), WorkspaceId::parse("negozio").unwrap());
        let (mario, anna) = (phone("393331234567"), phone("393470000001"));
        // Stored out of order: the lists go by start (then id), not by storing.
        for (i, minute) in [3, 0, 4, 1, 2, 4].into_iter().enumerate() {
            let (contact, automation) = if i % 2 == 0 { (&anna, "promo") } else { (&mario, "info") };
            assert!(store.create_run(&ws, &run(&format!("run-{i}"), automation, contact, minute)).await.unwrap());
        }
        let ids = |(runs, total): (Vec<Run>, usize)| (runs.iter().map(|r| r.id.to_string()).collect::<Vec<_>>(), total);
        let all = RunFilter::default();
        assert_eq!(
            ids(store.newest_runs(&ws, &all, 3).await.unwrap()),
            (vec!["run-5".into(), "run-2".into(), "run-0".into()], 6)
        );
        let marios = RunFilter { contact: Some(mario.clone()), automation: None };
        assert_eq!(
            ids(store.newest_runs(&ws, &marios, 10).await.unwrap()),
            (vec!["run-5".into(), "run-3".into(), "run-1".into()], 3)
        );

        assert!(store.create_run(&ws, &run("run-6", "info", &mario, 9)).await.unwrap());
        let promos = RunFilter { contact: None, automation: Some(AutomationId::parse("promo").unwrap()) };
        assert_eq!(ids(store.newest_runs(&ws, &promos, 1).await.unwrap()), (vec!["run-2".into()], 3));
        let marios_info = RunFilter { contact: Some(mario), automation: Some(AutomationId::parse("info").unwrap()) };
        assert_eq!(
            ids(store.newest_runs(&ws, &marios_info, 2).await.unwrap()),
            (vec!["run-6".into(), "run-5".into()], 4)
        );
        assert_eq!(store.runs(&ws, &all).await.unwrap().len(), 7);
        let nobody = RunFilter { contact: Some(phone("393000000000")), automation: None };
        assert_eq!(store.newest_runs(&ws, &nobody, 10).await.unwrap().1, 0);
    }

    #[tokio::test]
    async fn the_first_contacts_by_key_are_read_with_how_many_match() {
        let (store, ws) = (MemoryStore::new(), WorkspaceId::parse("negozio").unwrap());
        for digits in ["393330000004", "393330000001", "393330000003", "393330000002", "393330000000"] {
            let mut contact = Contact::new(&phone(digits));
            contact.name = Some(if digits.ends_with(['0', '2', '4']) { "Anna" } else { "Mario" }.to_string());
            store.put_contact(&ws, &contact, None).await.unwrap();
        }
        let annas = |c: &Contact| c.name.as_deref() == Some("Anna");
        let (first, total) = store.first_contacts(&ws, &ContactFilter::default(), &annas, 2).await.unwrap();
        let keys: Vec<String> = first.iter().map(|c| c.key().to_string()).collect();
        assert_eq!((keys, total), (vec!["393330000000".to_string(), "393330000002".to_string()], 3));
        let everyone = |_: &Contact| true;
        assert_eq!(store.first_contacts(&ws, &ContactFilter::default(), &everyone, 10).await.unwrap().1, 5);
    }
}
