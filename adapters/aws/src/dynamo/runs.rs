//! Runs, the claims that dedupe inbound messages, and the links from outbound
//! messages to the run steps that sent them.

use super::DynamoStore;
use super::keys;
use super::stats::stage_counts;
use super::table::{Cond, EXPIRES_AT, Item, Tx, TxError, get_doc, get_n, get_parsed, item, json, n, s};
use avvio_common::domain::ids::{RunId, Wamid, WorkspaceId};
use avvio_common::domain::path::StepPath;
use avvio_common::domain::run::{Run, StepStatus};
use avvio_common::engine::StepDue;
use avvio_common::ports::{RunBase, RunFilter, StoreError, StoredRun};
use avvio_common::stats::Tally;
use avvio_common::time::{Time, parse_rfc3339};

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
/// the revision it was decided on: [`at_revision`]), and `steps`, the paths of the steps it
/// records as `,steps[0],steps[1],`, so that a step is claimed only while unrecorded
/// ([`step_unrecorded`]). A step to be tried again (`retrying`) is not listed: it is claimed anew.
pub(super) fn run_item(ws: &WorkspaceId, run: &Run, revision: u64) -> Result<Item, StoreError> {
    let steps: String =
        run.steps.iter().filter(|r| r.status != StepStatus::Retrying).map(|r| format!("{},", r.step)).collect();
    Ok(item(&keys::run(ws, &run.id), [("doc", json(run)?), (REV, n(revision)), ("steps", s(format!(",{steps}")))]))
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

    pub(super) async fn read_outbound(
        &self,
        ws: &WorkspaceId,
        wamid: &Wamid,
    ) -> Result<Option<(RunId, StepPath)>, StoreError> {
        let Some(item) = self.get(&keys::outbound(ws, wamid)).await? else { return Ok(None) };
        Ok(Some((get_parsed(&item, "run", RunId::parse)?, linked_step(&item)?)))
    }
}
