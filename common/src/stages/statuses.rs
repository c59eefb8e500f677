//! Delivery statuses (`sent`, `delivered`, `read`, `failed`): recorded on the run step that
//! sent the message. A status can arrive before that step's result is stored (Meta's `sent`
//! may beat the executor's write by milliseconds; on AWS the two are different functions), so
//! a status with no outbound link yet is parked by wamid, and the writer of the step's result
//! applies what is parked. Both sides look again after writing — the status handler reads the
//! link after parking, the executor reads the parked statuses after linking — so whichever
//! writes second sees the other's write, and a status is applied at least once (applying one
//! twice changes nothing: a delivery status only moves forward).

use super::{Deps, Report, StageError, retry_conflicts};
use crate::domain::ids::{RunId, Wamid, WorkspaceId};
use crate::domain::path::StepPath;
use crate::engine;
use crate::ports::{StepQueue, Store, WebhookPoster, WhatsAppSender};
use crate::time::Time;
use crate::webhook::StatusUpdate;

impl<S: Store, Q: StepQueue, W: WhatsAppSender, H: WebhookPoster> Deps<S, Q, W, H> {
    /// A delivery status from Meta: recorded on the run step that sent the message, or parked
    /// until that step's result is stored. Never starts a run.
    pub async fn handle_status(&self, status: &StatusUpdate, now: Time) -> Result<Report, StageError> {
        let Some(ws) = self.store.workspace_for_number(&status.phone_number_id).await? else {
            return Ok(Report::ignored("unknown phone_number_id"));
        };
        let link = match self.store.outbound(&ws, &status.wamid).await? {
            Some(link) => link,
            None => {
                self.store.park_status(&ws, status, now).await?;
                // The step's result may have been stored between the read and the park, its
                // writer finding nothing parked yet: look again.
                match self.store.outbound(&ws, &status.wamid).await? {
                    Some(link) => link,
                    None => return Ok(Report::ignored("status parked until its message's send is stored")),
                }
            }
        };
        let (run, step) = link;
        self.record_status(&ws, &run, &step, status, now).await
    }

    /// Applies the statuses parked for `wamid`, the message step `step` of run `run` sent, now
    /// that its outbound link is stored; then forgets them.
    pub(super) async fn apply_parked(
        &self,
        ws: &WorkspaceId,
        wamid: &Wamid,
        run: &RunId,
        step: &StepPath,
        now: Time,
    ) -> Result<Vec<engine::Effect>, StageError> {
        let parked = self.store.parked_statuses(ws, wamid, now).await?;
        if parked.is_empty() {
            return Ok(Vec::new());
        }
        let mut effects = Vec::new();
        for status in &parked {
            effects.extend(self.record_status(ws, run, step, status, now).await?.effects);
        }
        self.store.drop_parked(ws, wamid).await?;
        Ok(effects)
    }

    /// Records `status` on step `step` of run `run`, at the run's revision (a result written
    /// meanwhile makes it read the run again).
    async fn record_status(
        &self,
        ws: &WorkspaceId,
        run_id: &RunId,
        step: &StepPath,
        status: &StatusUpdate,
        now: Time,
    ) -> Result<Report, StageError> {
        retry_conflicts(|| async {
            let Some(stored) = self.store.run(ws, run_id).await? else {
                return Ok(Report::ignored("status of a run that no longer exists"));
            };
            let base = stored.base();
            let mut run = stored.run;
            let before = run.step(step).cloned();
            let effect = engine::on_status(&mut run, step, status, now);
            if run.step(step) == before.as_ref() {
                return Ok(Report::ignored("the status changes nothing recorded"));
            }
            self.store.put_run(ws, &run, &base).await?;
            Ok(Report { effects: effect.into_iter().collect(), ..Report::default() })
        })
        .await
    }
}
