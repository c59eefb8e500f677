//! The pipeline's reads and writes, a round trip each. The matcher reads everything an
//! inbound message needs in one BatchGetItem (workspace, wamid claim, the sender by each
//! key, each phrase candidate's claim, the fallback claims) and writes its outcome in one
//! transaction (claim, contact, run). The executor reads a step's run, then the rest in
//! one BatchGetItem, and writes the step's result in one transaction.

use super::DynamoStore;
use super::automations::{fallbacks_of, read_head};
use super::contacts::{lookup_keys, stage_contact};
use super::keys;
use super::runs::{at_revision, claim_item, claimed_queued, outbound_item, run_item};
use super::stats::stage_counts;
use super::table::{Cond, Tx, TxError, get_doc};
use avvio_common::domain::automation::Automation;
use avvio_common::domain::ids::{RunId, Wamid, WorkspaceId};
use avvio_common::domain::phone::ContactKey;
use avvio_common::domain::phrase::Phrase;
use avvio_common::domain::workspace::Workspace;
use avvio_common::ports::{
    MessageCommit, MessageView, MessageWrite, Snapshot, StepView, StepWrite, StoreError, StoredRun,
};
use avvio_common::stats::Tally;
use avvio_common::time::Time;
use std::sync::Arc;

/// What an operation of a pipeline transaction is about, to tell a duplicate from a lost race.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Claim,
    Contact,
    /// A run created (the message's, a step's) or the step's own run.
    Run,
    /// A waiting run the message resolves.
    Waiting,
    Link,
}

impl DynamoStore {
    pub(super) async fn read_message_view(
        &self,
        ws: &WorkspaceId,
        wamid: &Wamid,
        keys: &[ContactKey],
        phrases: &[Phrase],
    ) -> Result<MessageView, StoreError> {
        let workspace_key = keys::workspace(ws);
        let claim_key = keys::claimed_message(ws, wamid);
        let phrase_keys: Vec<_> = phrases.iter().map(|p| keys::phrase(ws, p)).collect();
        let fallback_keys = keys::FALLBACK_KINDS.map(|kind| keys::fallback(ws, kind));
        let wanted = [workspace_key.clone(), claim_key.clone()]
            .into_iter()
            .chain(lookup_keys(ws, keys))
            .chain(phrase_keys.iter().cloned())
            .chain(fallback_keys.iter().cloned());
        let mut found = self.batch_get(wanted).await?;
        let automation = |item| get_doc::<Automation>(item).map(Arc::new);
        Ok(MessageView {
            workspace: found.get(&workspace_key).map(|item| get_doc::<Workspace>(item).map(Arc::new)).transpose()?,
            claimed: found.get(&claim_key).map(claimed_queued).transpose()?,
            phrases: phrase_keys
                .iter()
                .map(|key| found.get(key).map(automation).transpose())
                .collect::<Result<_, _>>()?,
            fallbacks: fallbacks_of(fallback_keys.iter().filter_map(|key| found.get(key)))?,
            contact: self.resolve_from(ws, keys, &mut found).await?,
        })
    }

    pub(super) async fn write_message(
        &self,
        ws: &WorkspaceId,
        write: MessageWrite<'_>,
        now: Time,
    ) -> Result<MessageCommit, StoreError> {
        let MessageWrite { wamid, before, contact, started, updated, queued } = write;
        let mut tx = Tx::default();
        tx.put(Part::Claim, claim_item(ws, wamid, queued, now)?, Some(Cond::absent()));
        let after = stage_contact(&mut tx, Part::Contact, ws, contact, before)?;
        for run in started {
            tx.put(Part::Run, run_item(ws, run, StoredRun::CREATED)?, Some(Cond::absent()));
        }
        // The race between a reply and its wait's timeout: whoever rewrites the run first wins.
        for (run, base) in updated {
            tx.put(Part::Waiting, run_item(ws, run, base.revision + 1)?, Some(at_revision(base.revision)));
        }
        let new = Tally::NONE;
        let counted =
            (started.iter().map(|run| (&new, *run))).chain(updated.iter().map(|(run, base)| (&base.tally, *run)));
        stage_counts(&mut tx, Part::Run, ws, counted);
        match self.commit(tx, &format!("message {wamid}")).await {
            Ok(()) => Ok(MessageCommit::Written { revision: after.revision, home: after.home }),
            // The claim (or a run it starts) is there: another delivery of the message got in first.
            Err(TxError::Refused(refused))
                if refused.iter().any(|(part, _)| matches!(part, Part::Claim | Part::Run)) =>
            {
                Ok(MessageCommit::Duplicate)
            }
            Err(TxError::Refused(refused)) if refused.iter().any(|(part, _)| *part == Part::Waiting) => {
                Err(StoreError::Conflict("a waiting run".into()))
            }
            Err(TxError::Refused(_)) => Err(StoreError::Conflict(format!("contact {}", contact.key()))),
            Err(TxError::Store(e)) => Err(e),
        }
    }

    pub(super) async fn read_step_view(&self, ws: &WorkspaceId, id: &RunId) -> Result<StepView, StoreError> {
        let Some(stored) = self.read_run(ws, id).await? else { return Ok(StepView::default()) };
        let run = &stored.run;
        let version_key = keys::version(ws, &run.automation, run.version);
        let head_key = keys::head(ws, &run.automation);
        let workspace_key = keys::workspace(ws);
        let contact_keys = [run.contact.clone()];
        let wanted = [version_key.clone(), head_key.clone(), workspace_key.clone()]
            .into_iter()
            .chain(lookup_keys(ws, &contact_keys));
        let mut found = self.batch_get(wanted).await?;
        Ok(StepView {
            automation: found.get(&version_key).map(|item| get_doc::<Automation>(item).map(Arc::new)).transpose()?,
            liveness: found.get(&head_key).map(read_head).transpose()?.and_then(|head| head.liveness()),
            workspace: found.get(&workspace_key).map(|item| get_doc::<Workspace>(item).map(Arc::new)).transpose()?,
            contact: self.resolve_from(ws, &contact_keys, &mut found).await?,
            run: Some(stored),
        })
    }

    pub(super) async fn write_step(
        &self,
        ws: &WorkspaceId,
        write: StepWrite<'_>,
        now: Time,
    ) -> Result<Option<Snapshot>, StoreError> {
        let StepWrite { run, base, contact, sent, started } = write;
        let mut tx = Tx::default();
        tx.put(Part::Run, run_item(ws, run, base.revision + 1)?, Some(at_revision(base.revision)));
        for started in started {
            tx.put(Part::Run, run_item(ws, started, StoredRun::CREATED)?, Some(Cond::absent()));
        }
        let new = Tally::NONE;
        let counted = std::iter::once((&base.tally, run)).chain(started.iter().map(|run| (&new, *run)));
        stage_counts(&mut tx, Part::Run, ws, counted);
        let after = match contact {
            Some((contact, before)) => Some(stage_contact(&mut tx, Part::Contact, ws, contact, Some(before))?),
            None => None,
        };
        if let Some((wamid, step)) = sent {
            tx.put(Part::Link, outbound_item(ws, wamid, &run.id, step, now), None);
        }
        match self.commit(tx, &format!("run {}", run.id)).await {
            Ok(()) => Ok(after),
            Err(TxError::Refused(refused)) if refused.iter().any(|(part, _)| *part == Part::Run) => {
                Err(StoreError::Conflict(format!("run {}", run.id)))
            }
            Err(TxError::Refused(_)) => Err(StoreError::Conflict(format!("contact {}", run.contact))),
            Err(TxError::Store(e)) => Err(e),
        }
    }
}
