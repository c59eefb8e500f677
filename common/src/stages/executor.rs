//! The executor stage: one step message → the step's effects → the next step
//! queued. Idempotent per (run, step): a redelivered message does nothing, and a
//! send is recorded as intended before it goes out, so a crash never sends twice.

use super::{Deps, Report, StageError, retry_conflicts};
use crate::domain::automation::Action;
use crate::domain::ids::WorkspaceId;
use crate::domain::workspace::Workspace;
use crate::engine::{self, Execution, IoOutcome, StepInput, StepResult};
use crate::ports::{Account, Retry, StepMessage, StepQueue, Store, WebhookPoster, WhatsAppSender};
use crate::time::Time;

/// The error code of a send step whose workspace has no WhatsApp number or token.
pub const WHATSAPP_NOT_CONFIGURED: &str = "whatsapp_not_configured";

impl<S: Store, Q: StepQueue, W: WhatsAppSender, H: WebhookPoster> Deps<S, Q, W, H> {
    /// Executes one due step.
    pub async fn handle_step(&self, message: &StepMessage, now: Time) -> Result<Report, StageError> {
        retry_conflicts(|| self.execute(message, now)).await
    }

    async fn execute(&self, message: &StepMessage, now: Time) -> Result<Report, StageError> {
        let ws = &message.workspace;
        let Some(run) = self.store.run(ws, &message.step.run).await? else {
            return Ok(Report::ignored("unknown run"));
        };
        let Some(automation) = self.store.automation_version(ws, &run.automation, run.version).await? else {
            return Ok(Report::ignored("the run's automation version is gone"));
        };
        let Some(stored) = self.store.contact(ws, &run.contact).await? else {
            return Ok(Report::ignored("the run's contact is gone"));
        };
        let live = self.store.liveness(ws, &run.automation).await?;
        let workspace = self.workspace(ws).await?;
        let list_automations = match automation.steps.get(message.step.step).map(|s| &s.action) {
            Some(Action::AddToList { list }) => self.store.list_automations(ws, list).await?,
            _ => Vec::new(),
        };
        let execution = engine::execute_step(StepInput {
            workspace: &workspace,
            automation: &automation,
            live,
            run,
            step: message.step.step,
            contact: stored.item,
            list_automations: &list_automations,
            workspace_id: ws.as_str(),
            now,
        });
        let result = match execution {
            Execution::Ignore => return Ok(Report::ignored("step already executed or run over")),
            Execution::Finished(result) => *result,
            Execution::Send { pending } => {
                let account = workspace.whatsapp.as_ref().and_then(|w| {
                    let token = w
                        .access_token
                        .as_ref()
                        .map(|t| t.expose().to_string())
                        .or_else(|| self.default_access_token.clone())?;
                    Some(Account { phone_number_id: w.phone_number_id.clone(), access_token: token })
                });
                let Some(account) = account else {
                    return self
                        .commit(
                            ws,
                            &workspace,
                            pending.finish(IoOutcome::Failed { code: WHATSAPP_NOT_CONFIGURED.into() }, now),
                            stored.revision,
                            now,
                        )
                        .await;
                };
                // Intent first: if we crash after the send, the redelivery sees it and never re-sends.
                self.store.put_run(ws, &pending.run).await?;
                match self.sender.send(&account, pending.request()).await {
                    Ok(wamid) => {
                        self.store.link_outbound(ws, &wamid, &pending.run.id, message.step.step).await?;
                        pending.finish(IoOutcome::Sent { wamid: Some(wamid) }, now)
                    }
                    Err(e) if e.retry == Retry::Retryable => {
                        self.store.put_run(ws, &pending.abandon()).await?;
                        return Err(e.into());
                    }
                    Err(e) => pending.finish(IoOutcome::Failed { code: e.code }, now),
                }
            }
            Execution::Webhook { url, body, signature, pending } => {
                self.store.put_run(ws, &pending.run).await?;
                match self.poster.post(&url, &body, signature.as_deref()).await {
                    Ok(()) => pending.finish(IoOutcome::Sent { wamid: None }, now),
                    Err(e) if e.retry == Retry::Retryable => {
                        self.store.put_run(ws, &pending.abandon()).await?;
                        return Err(e.into());
                    }
                    Err(_) => pending.finish(IoOutcome::Failed { code: engine::codes::WEBHOOK_FAILED.into() }, now),
                }
            }
        };
        self.commit(ws, &workspace, result, stored.revision, now).await
    }

    /// Stores a step's result, starts the runs it caused and queues the next step.
    async fn commit(
        &self,
        ws: &WorkspaceId,
        workspace: &Workspace,
        result: StepResult,
        revision: Option<u64>,
        now: Time,
    ) -> Result<Report, StageError> {
        let StepResult { run, contact, effect, next, starts } = result;
        if let Some(contact) = &contact {
            self.store.put_contact(ws, contact, revision).await?;
            self.refresh_dates(ws, workspace, contact, now).await?;
        }
        self.store.put_run(ws, &run).await?;
        for start in starts {
            self.begin_run(ws, start, now).await?;
        }
        if let Some(next) = next {
            self.steps.schedule(StepMessage { workspace: ws.clone(), step: next }, now).await?;
        }
        Ok(Report { effects: vec![effect], ignored: None })
    }
}
