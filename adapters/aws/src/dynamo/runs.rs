//! Runs, the claims that dedupe inbound messages, and the links from outbound
//! messages to the run steps that sent them.

use super::DynamoStore;
use super::keys;
use super::stats::stage_counts;
use super::table::{
    AUTOMATION_RUNS_PK, CONTACT_RUNS_PK, Changes, Cond, EXPIRES_AT, IndexSpec, Item, Key, RUN_SORT, RUNS,
    RUNS_BY_AUTOMATION, RUNS_BY_CONTACT, RUNS_PK, SortKeys, Tx, TxError, get_doc, get_n, get_parsed, item, json,
    key_of, n, s,
};
use avvio_common::domain::ids::{RunId, Wamid, WorkspaceId};
use avvio_common::domain::path::StepPath;
use avvio_common::domain::run::{Run, StepStatus};
use avvio_common::engine::StepDue;
use avvio_common::ports::{PARKED_FOR, Page, RunBase, RunFilter, RunPosition, StoreError, StoredRun};
use avvio_common::stats::Tally;
use avvio_common::time::{Time, parse_rfc3339};
use avvio_common::webhook::StatusUpdate;
use aws_sdk_dynamodb::types::AttributeValue;

/// How long a claimed message id is remembered: Meta redelivers for days, not weeks.
const CLAIM_DAYS: i64 = 7;
/// How long delivery statuses of an outbound message can still be recorded on its run.
const OUTBOUND_DAYS: i64 = 30;

fn expires(at: Time, days: i64) -> aws_sdk_dynamodb::types::AttributeValue {
    n((at + chrono::Duration::days(days)).timestamp())
}

/// The claim of an inbound message, naming the steps it queued (the first step of the run it
/// started, the branch of the wait it resolved), as JSON in `queued`.
pub(super) fn claim_item(ws: &WorkspaceId, wamid: &Wamid, queued: &[StepDue], now: Time) -> Result<Item, StoreError> {
    let mut claim = item(&keys::claimed_message(ws, wamid), [(EXPIRES_AT, expires(now, CLAIM_DAYS))]);
    if !queued.is_empty() {
        claim.insert(QUEUED.into(), json(&queued)?);
    }
    Ok(claim)
}

/// The attribute of a claim listing the steps the message queued.
const QUEUED: &str = "queued";

/// The steps the message a claim is of queued. A claim written before flows names at most
/// one, the first step of the run it started, in `run`, `step` (its index) and `due`.
pub(super) fn claimed_queued(claim: &Item) -> Result<Vec<StepDue>, StoreError> {
    if claim.contains_key(QUEUED) {
        return get_parsed(claim, QUEUED, serde_json::from_str);
    }
    if !claim.contains_key("run") {
        return Ok(Vec::new());
    }
    Ok(vec![StepDue {
        run: get_parsed(claim, "run", RunId::parse)?,
        step: StepPath::top(get_n(claim, "step")?),
        due: get_parsed(claim, "due", parse_rfc3339)?,
    }])
}

/// A run's item: the document, its revision `rev` (every write of a run is conditioned on
/// the revision it was decided on: [`at_revision`]), `steps`, the paths of the steps it
/// records as `,steps[0],steps[1],`, so that a step is claimed only while unrecorded
/// ([`step_unrecorded`]), and its keys in the run indexes ([`listed_in`]). A step to be tried
/// again (`retrying`) is not listed: it is claimed anew. Every write of a run item builds it here.
pub(super) fn run_item(ws: &WorkspaceId, run: &Run, revision: u64) -> Result<Item, StoreError> {
    let steps: String =
        run.steps.iter().filter(|r| r.status != StepStatus::Retrying).map(|r| format!("{},", r.step)).collect();
    let mut run_item =
        item(&keys::run(ws, &run.id), [("doc", json(run)?), (REV, n(revision)), ("steps", s(format!(",{steps}")))]);
    run_item.extend(listed_in(ws, run).map(|(name, value)| (name.to_string(), value)));
    // An ended run is deleted by the table's TTL its retention after its last step.
    if let Some(at) = run.expires_at() {
        run_item.insert(EXPIRES_AT.into(), n(at.timestamp()));
    }
    Ok(run_item)
}

/// A run's keys in the `runs`, `runs_by_contact` and `runs_by_automation` indexes: the same on
/// every write of the run (its start, id, contact and automation never change), so only its
/// creation writes index entries.
fn listed_in(ws: &WorkspaceId, run: &Run) -> [(&'static str, AttributeValue); 4] {
    [
        (RUNS_PK, s(keys::runs_pk(ws))),
        (RUN_SORT, s(keys::run_sort(run.started_at, &run.id))),
        (CONTACT_RUNS_PK, s(keys::contact_runs_pk(ws, &run.contact))),
        (AUTOMATION_RUNS_PK, s(keys::automation_runs_pk(ws, &run.automation))),
    ]
}

/// The stored run is at revision `expected` (0: a run item written before runs had revisions).
pub(super) fn at_revision(expected: u64) -> Cond {
    if expected == 0 { Cond::present().and(Cond::missing(REV)) } else { Cond::equals(REV, n(expected)) }
}

/// The stored run does not record step `step`.
pub(super) fn step_unrecorded(step: StepPath) -> Cond {
    Cond::lacks("steps", &format!(",{step},"))
}

/// The attribute holding a run's revision.
const REV: &str = "rev";

/// A run item read back.
pub(super) fn stored_run(item: &Item) -> Result<StoredRun, StoreError> {
    let revision = if item.contains_key(REV) { get_n(item, REV)? } else { 0 };
    Ok(StoredRun { run: get_doc(item)?, revision })
}

/// The link from an outbound message to the run step that sent it.
pub(super) fn outbound_item(ws: &WorkspaceId, wamid: &Wamid, run: &RunId, step: StepPath, now: Time) -> Item {
    item(
        &keys::outbound(ws, wamid),
        [("run", s(run.as_str())), ("step", s(step.to_string())), (EXPIRES_AT, expires(now, OUTBOUND_DAYS))],
    )
}

/// The step of an outbound link: its path, or a number written before flows.
fn linked_step(link: &Item) -> Result<StepPath, StoreError> {
    match link.get("step") {
        Some(aws_sdk_dynamodb::types::AttributeValue::N(_)) => Ok(StepPath::top(get_n(link, "step")?)),
        _ => get_parsed(link, "step", str::parse::<StepPath>),
    }
}

/// A status's name as Meta spells it (`sent`, `delivered`, …), for its parked item's key.
fn json_name(status: &StatusUpdate) -> Result<String, StoreError> {
    match serde_json::to_value(&status.status) {
        Ok(serde_json::Value::String(name)) => Ok(name),
        _ => Err(StoreError::Unavailable(format!("cannot name the status of {}", status.wamid))),
    }
}

impl DynamoStore {
    /// Writes `run` over the stored run `before` (`None`: creates it) if `cond` holds, with
    /// its stats counters, in one transaction; `false` when `cond` does not hold.
    async fn write_counted(
        &self,
        ws: &WorkspaceId,
        run: &Run,
        before: Option<&RunBase>,
        cond: Cond,
    ) -> Result<bool, StoreError> {
        let revision = before.map_or(StoredRun::CREATED, |b| b.revision + 1);
        let mut tx = Tx::default();
        tx.put((), run_item(ws, run, revision)?, Some(cond));
        stage_counts(&mut tx, (), ws, [(before.map_or(&Tally::NONE, |b| &b.tally), run)]);
        match self.commit(tx, &format!("run {}", run.id)).await {
            Ok(()) => Ok(true),
            Err(TxError::Refused(_)) => Ok(false),
            Err(TxError::Store(e)) => Err(e),
        }
    }

    pub(super) async fn insert_run(&self, ws: &WorkspaceId, run: &Run) -> Result<bool, StoreError> {
        self.write_counted(ws, run, None, Cond::absent()).await
    }

    pub(super) async fn write_run(&self, ws: &WorkspaceId, run: &Run, base: &RunBase) -> Result<u64, StoreError> {
        if self.write_counted(ws, run, Some(base), at_revision(base.revision)).await? {
            Ok(base.revision + 1)
        } else {
            Err(StoreError::Conflict(format!("run {}", run.id)))
        }
    }

    /// Writes `run` over the stored run `base`; `None` when it records `step` already, a
    /// conflict when it changed otherwise.
    pub(super) async fn claim_run_step(
        &self,
        ws: &WorkspaceId,
        run: &Run,
        step: StepPath,
        base: &RunBase,
    ) -> Result<Option<u64>, StoreError> {
        let claim = at_revision(base.revision).and(step_unrecorded(step));
        if self.write_counted(ws, run, Some(base), claim).await? {
            return Ok(Some(base.revision + 1));
        }
        // Refused: off the hot path, read why.
        match self.read_run(ws, &run.id).await? {
            Some(stored) if stored.run.step(&step).is_some_and(|r| r.status != StepStatus::Retrying) => Ok(None),
            _ => Err(StoreError::Conflict(format!("run {}", run.id))),
        }
    }

    pub(super) async fn read_run(&self, ws: &WorkspaceId, id: &RunId) -> Result<Option<StoredRun>, StoreError> {
        self.get(&keys::run(ws, id)).await?.map(|item| stored_run(&item)).transpose()
    }

    /// Every run of the workspace is read and filtered here: listing is a management call.
    pub(super) async fn matching_runs(&self, ws: &WorkspaceId, filter: &RunFilter) -> Result<Vec<Run>, StoreError> {
        let items = self.query_prefix(&keys::workspace_pk(ws), keys::RUN_PREFIX).await?;
        let mut runs = Vec::new();
        for item in &items {
            let run: Run = get_doc(item)?;
            if filter.matches(&run) {
                runs.push(run);
            }
        }
        runs.sort_by(|a, b| (b.started_at, &b.id).cmp(&(a.started_at, &a.id)));
        Ok(runs)
    }

    /// A page of the runs matching `filter`, newest first, after `after`: one index Query (more
    /// when a page spans DynamoDB's pages) for the page's keys and one more entry, which tells
    /// whether more follow, then the runs by key (BatchGetItem, consistent). Filtered by contact
    /// and automation, the contact's index is read and its entries of other automations are
    /// skipped (read, not returned). Runs written before the indexes are not found.
    pub(super) async fn listed_runs(
        &self,
        ws: &WorkspaceId,
        filter: &RunFilter,
        after: Option<&RunPosition>,
        limit: usize,
    ) -> Result<Page<Run, RunPosition>, StoreError> {
        if limit == 0 {
            return Ok(Page { items: Vec::new(), next: None });
        }
        let (index, partition, automation) = run_index(ws, filter);
        let only = automation.as_deref().map(|a| (AUTOMATION_RUNS_PK, a));
        let before = after.map(|p| keys::run_sort(p.started_at, &p.id));
        let wanted = limit.saturating_add(1);
        let mut found = Vec::new();
        let mut start = None;
        loop {
            let room = i32::try_from(wanted - found.len()).unwrap_or(i32::MAX);
            let page = self.page_limit.map_or(room, |p| p.min(room));
            let (entries, next) =
                self.query_index_newest(index, &partition, before.as_deref(), only, start, page).await?;
            for entry in &entries {
                found.push(key_of(entry)?);
            }
            start = next;
            if found.len() >= wanted || start.is_none() {
                break;
            }
        }
        let more = found.len() > limit;
        found.truncate(limit);
        let mut items = self.batch_get(found.iter().cloned()).await?;
        let mut runs = Vec::with_capacity(found.len());
        for key in &found {
            // Gone since the index was read (an ended run's TTL): skipped.
            if let Some(item) = items.remove(key) {
                runs.push(get_doc::<Run>(&item)?);
            }
        }
        let next = if more { runs.last().map(RunPosition::of) } else { None };
        Ok(Page { items: runs, next })
    }

    /// The newest `limit` runs matching `filter` and how many match in all (a console page):
    /// the page as [`Self::listed_runs`] reads it, then, when more runs follow, the matching
    /// index entries counted (keys only, no run read). Runs written before the indexes are
    /// neither listed nor counted.
    pub(super) async fn newest_listed_runs(
        &self,
        ws: &WorkspaceId,
        filter: &RunFilter,
        limit: usize,
    ) -> Result<(Vec<Run>, usize), StoreError> {
        let page = self.listed_runs(ws, filter, None, limit).await?;
        if page.next.is_none() && limit > 0 {
            let total = page.items.len();
            return Ok((page.items, total));
        }
        let (index, partition, automation) = run_index(ws, filter);
        let only = automation.as_deref().map(|a| (AUTOMATION_RUNS_PK, a));
        let total = self.count_index(index, &partition, only).await?;
        // An index read is eventually consistent: never say fewer than the page says there are.
        let more = page.items.len() + usize::from(page.next.is_some());
        Ok((page.items, total.max(more)))
    }

    /// Gives the runs of `ws` written before the run indexes existed their index keys, so that
    /// [`Self::listed_runs`] finds them; the number of runs changed. Reads every run of the
    /// workspace once; a run written meanwhile (which sets its keys itself) is left alone.
    pub async fn index_old_runs(&self, ws: &WorkspaceId) -> Result<usize, StoreError> {
        let pk = keys::workspace_pk(ws);
        let mut indexed = 0;
        let mut after = None;
        // A page at a time (DynamoDB's 1 MB pages): memory stays bounded whatever the runs.
        loop {
            let limit = self.page_limit.unwrap_or(1_000);
            let (items, next) =
                self.query_page(&pk, SortKeys::Prefix(keys::RUN_PREFIX), after.as_deref(), limit).await?;
            for item in items.iter().filter(|item| !item.contains_key(RUNS_PK)) {
                let run: Run = get_doc(item)?;
                let changes = listed_in(ws, &run).into_iter().fold(Changes::default(), |c, (name, v)| c.set(name, v));
                let unindexed = Cond::present().and(Cond::missing(RUNS_PK));
                if self.update_if(&keys::run(ws, &run.id), changes, unindexed).await? {
                    indexed += 1;
                }
            }
            after = next;
            if after.is_none() {
                return Ok(indexed);
            }
        }
    }

    /// Parks `status` (its message has no outbound link yet), expiring with [`PARKED_FOR`].
    pub(super) async fn write_parked(
        &self,
        ws: &WorkspaceId,
        status: &StatusUpdate,
        now: Time,
    ) -> Result<(), StoreError> {
        let key = keys::parked_status(ws, &status.wamid, now, &json_name(status)?, status.timestamp);
        let expires_at = n((now + PARKED_FOR).timestamp());
        let mut parked = item(&key, [(EXPIRES_AT, expires_at), ("parked_at", n(now.timestamp_micros()))]);
        parked.insert("doc".into(), json(status)?);
        self.put(parked).await
    }

    /// The statuses parked for `wamid`, not expired at `now` (TTL deletes lag), oldest first.
    pub(super) async fn read_parked(
        &self,
        ws: &WorkspaceId,
        wamid: &Wamid,
        now: Time,
    ) -> Result<Vec<(Key, StatusUpdate)>, StoreError> {
        let items = self.query_prefix(&keys::parked_statuses_pk(ws, wamid), "").await?;
        let fresh = |item: &Item| {
            get_n::<i64>(item, "parked_at")
                .map(|at| now.timestamp_micros() - at < PARKED_FOR.num_microseconds().unwrap_or(i64::MAX))
        };
        let mut parked = Vec::new();
        for item in &items {
            if fresh(item)? {
                parked.push((key_of(item)?, get_doc(item)?));
            }
        }
        Ok(parked)
    }

    pub(super) async fn read_outbound(
        &self,
        ws: &WorkspaceId,
        wamid: &Wamid,
    ) -> Result<Option<(RunId, StepPath)>, StoreError> {
        let Some(item) = self.get(&keys::outbound(ws, wamid)).await? else { return Ok(None) };
        Ok(Some((get_parsed(&item, "run", RunId::parse)?, linked_step(&item)?)))
    }
}

/// The index that lists the runs `filter` keeps, its partition, and the automation partition
/// to keep only the entries of (filtering by contact and automation, the contact's index is
/// read and its other automations' entries are skipped).
fn run_index(ws: &WorkspaceId, filter: &RunFilter) -> (IndexSpec, String, Option<String>) {
    let automation = filter.automation.as_ref().map(|a| keys::automation_runs_pk(ws, a));
    match (&filter.contact, automation) {
        (Some(contact), only) => (RUNS_BY_CONTACT, keys::contact_runs_pk(ws, contact), only),
        (None, Some(automation)) => (RUNS_BY_AUTOMATION, automation, None),
        (None, None) => (RUNS, keys::runs_pk(ws), None),
    }
}
