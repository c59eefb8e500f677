//! Runs, the claims that dedupe inbound messages, and the links from outbound
//! messages to the run steps that sent them.

use super::DynamoStore;
use super::keys;
use super::table::{Cond, EXPIRES_AT, get_doc, get_n, get_parsed, item, json, n, s};
use avvio_common::domain::ids::{RunId, Wamid, WorkspaceId};
use avvio_common::domain::run::Run;
use avvio_common::ports::{RunFilter, StoreError};
use avvio_common::time::Time;

/// How long a claimed message id is remembered: Meta redelivers for days, not weeks.
const CLAIM_DAYS: i64 = 7;
/// How long delivery statuses of an outbound message can still be recorded on its run.
const OUTBOUND_DAYS: i64 = 30;

fn expires(at: Time, days: i64) -> aws_sdk_dynamodb::types::AttributeValue {
    n((at + chrono::Duration::days(days)).timestamp())
}

impl DynamoStore {
    /// A conditional put: `false` when the message was claimed before (until its claim expires).
    pub(super) async fn claim(&self, ws: &WorkspaceId, wamid: &Wamid, now: Time) -> Result<bool, StoreError> {
        let claim = item(&keys::claimed_message(ws, wamid), [(EXPIRES_AT, expires(now, CLAIM_DAYS))]);
        self.put_if(claim, Cond::absent()).await
    }

    pub(super) async fn insert_run(&self, ws: &WorkspaceId, run: &Run) -> Result<bool, StoreError> {
        self.put_if(item(&keys::run(ws, &run.id), [("doc", json(run)?)]), Cond::absent()).await
    }

    pub(super) async fn write_run(&self, ws: &WorkspaceId, run: &Run) -> Result<(), StoreError> {
        self.put(item(&keys::run(ws, &run.id), [("doc", json(run)?)])).await
    }

    pub(super) async fn read_run(&self, ws: &WorkspaceId, id: &RunId) -> Result<Option<Run>, StoreError> {
        self.get(&keys::run(ws, id)).await?.map(|item| get_doc(&item)).transpose()
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

    /// The port gives no `now` here: the wall clock only sets when DynamoDB may forget the link.
    pub(super) async fn write_outbound(
        &self,
        ws: &WorkspaceId,
        wamid: &Wamid,
        run: &RunId,
        step: usize,
    ) -> Result<(), StoreError> {
        let link = item(
            &keys::outbound(ws, wamid),
            [("run", s(run.as_str())), ("step", n(step)), (EXPIRES_AT, expires(chrono::Utc::now(), OUTBOUND_DAYS))],
        );
        self.put(link).await
    }

    pub(super) async fn read_outbound(
        &self,
        ws: &WorkspaceId,
        wamid: &Wamid,
    ) -> Result<Option<(RunId, usize)>, StoreError> {
        let Some(item) = self.get(&keys::outbound(ws, wamid)).await? else { return Ok(None) };
        Ok(Some((get_parsed(&item, "run", RunId::parse)?, get_n(&item, "step")?)))
    }
}
