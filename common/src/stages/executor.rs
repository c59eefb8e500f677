//! The executor stage: one step message → the step's effects → the next step
//! queued. Idempotent per (run, step): a redelivered message does nothing more, and
//! a send is claimed (recorded as under way) before it goes out, so neither a crash
//! nor two deliveries of one message ever send twice.

use super::{Deps, Report, StageError, retry_conflicts};
use crate::domain::automation::{Action, Automation};
use crate::domain::contact::ConsentChoice;
use crate::domain::ids::{Wamid, WorkspaceId};
use crate::domain::path::StepPath;
use crate::domain::phone::ContactKey;
use crate::domain::run::{RetryState, Run, StepStatus};
use crate::domain::workspace::Workspace;
use crate::engine::{self, Execution, IoOutcome, Pending, StepInput, StepResult};
use crate::pacing::{self, Refusal};
use crate::ports::{
    Account, Retry, RunBase, Snapshot, StepMessage, StepQueue, StepView, StepWrite, Store, StoreError, Versioned,
    WebhookPoster, WhatsAppSender,
};
use crate::time::Time;
use std::sync::Arc;

/// The error code of a send step whose workspace has no WhatsApp number or token.
pub const WHATSAPP_NOT_CONFIGURED: &str = "whatsapp_not_configured";

/// The longest a send is held in process for its slot of the number's rate; a later slot sends
/// it back to the queue (SQS delays count whole seconds), due this long before the slot so that
/// it comes back early and waits for the slot here.
const MAX_PAUSE: chrono::Duration = chrono::Duration::seconds(1);

/// How late past its slot a send that waited for it may leave. Later (the process stalled while
/// it waited), it takes a fresh slot rather than leave bunched with the sends after it. Under
/// 50 ms, the 5% headroom of `pacing::interval`, no second holds more sends than the rate.
const LATE: std::time::Duration = std::time::Duration::from_millis(25);

/// How many times the result of a step that performed its I/O is written while the store is
/// unavailable (throttled, 5xx past the SDK's own retries), 100 ms, 200 ms, 400 ms… apart.
const RESULT_WRITE_ATTEMPTS: usize = 5;

/// The pause before writing a result again, after `attempts` failed writes.
async fn pause_before_rewrite(attempts: usize) {
    tokio::time::sleep(std::time::Duration::from_millis(100 << attempts.min(6))).await;
}

/// How many times a step that performed its I/O carries its outcome onto a run that keeps
/// changing under it (each change another writer's progress) before giving up for now.
const REBASE_ATTEMPTS: usize = 16;

/// Where a decided step stands when its result is written.
#[derive(Debug, Clone)]
pub(super) struct StepAt {
    /// The stored run the result is written over.
    base: RunBase,
    /// The step performed I/O (a send or a webhook, claimed first): its outcome is kept.
    performed: bool,
}

/// A send whose slot is further off than [`MAX_PAUSE`], as it waits for it: the run with the
/// step `retrying`, holding the slot, and the step queued a pause before it (to come back
/// early and wait for the slot in process).
pub(super) fn held(pending: Pending, slot: Time, now: Time) -> (Run, crate::engine::StepDue) {
    let retry = match pending.retry().cloned() {
        Some(tried) => RetryState { slot: Some(slot), ..tried },
        None => RetryState { attempts: 0, since: now, slot: Some(slot) },
    };
    pending.defer(retry, slot - MAX_PAUSE, None, now)
}

impl<S: Store, Q: StepQueue, W: WhatsAppSender, H: WebhookPoster> Deps<S, Q, W, H> {
    /// Executes one due step.
    pub async fn handle_step(&self, message: &StepMessage, now: Time) -> Result<Report, StageError> {
        retry_conflicts(|| self.execute(message, now)).await
    }

    async fn execute(&self, message: &StepMessage, now: Time) -> Result<Report, StageError> {
        let ws = &message.workspace;
        let StepView { run, automation, liveness, contact, workspace } =
            self.store.step_view(ws, &message.step.run).await?;
        let Some(stored) = run else {
            return Ok(Report::ignored("unknown run"));
        };
        let base = stored.base();
        let run = stored.run;
        let Some(automation) = automation else {
            return Ok(Report::ignored("the run's automation version is gone"));
        };
        let Some(contact) = contact else {
            return Ok(Report::ignored("the run's contact is gone"));
        };
        let workspace = workspace.ok_or_else(|| StageError::NotFound(format!("no workspace `{ws}`")))?;
        let step = message.step.step;
        // A redelivery of a step that sent: its first delivery may have stopped before applying
        // the statuses parked for the message ([`Self::finish`]).
        let sent_before = run.step(&step).and_then(|r| r.wamid.clone());
        let related = self.related_automations(ws, &automation, &step).await?;
        let execution = engine::execute_step(StepInput {
            workspace: &workspace,
            automation: &automation,
            live: liveness,
            run,
            step,
            contact: &contact.contact,
            related: &related,
            workspace_id: ws.as_str(),
            now,
        });
        if let (Some(wamid), Execution::Ignore | Execution::Requeue { .. }) = (&sent_before, &execution) {
            self.apply_parked(ws, wamid, &message.step.run, &step, now).await?;
        }
        // A send waits for its turn of the number's rate before it is claimed: a crash while
        // it waits leaves nothing claimed, and the redelivery sends it.
        if let Some(slot) = self.turn(&workspace, &execution, now).await? {
            let Execution::Send { pending } = execution else { unreachable!("only sends wait for a slot") };
            let (run, due) = held(pending, slot, now);
            self.store.put_run(ws, &run, &base).await?;
            self.steps.schedule(StepMessage { workspace: ws.clone(), step: due }, now).await?;
            return Ok(Report::ignored("the send waits for its turn of the number's rate"));
        }
        // Claim first: after a crash past this point the redelivery never repeats the I/O, and
        // of two deliveries of one message only the first to claim performs it.
        let base = match execution.intent() {
            Some(intent) => match self.store.claim_step(ws, intent, step, &base).await? {
                Some(claimed) => RunBase::of(intent, claimed),
                None => return Ok(Report::ignored("step taken by another delivery of its message")),
            },
            None => base,
        };
        self.perform(ws, &workspace, execution, &contact, base, now).await
    }

    /// The automations the step at `step` may start ([`StepInput::related`]): the enabled
    /// `list` automations of the list an `add_to_list` joins, the enabled `consent`
    /// automations of a `set_consent`'s value, the automation a `start_automation` names.
    pub(super) async fn related_automations(
        &self,
        ws: &WorkspaceId,
        automation: &Automation,
        step: &StepPath,
    ) -> Result<Vec<Arc<Automation>>, StageError> {
        Ok(match automation.step(step).map(|s| &s.action) {
            Some(Action::AddToList { list }) => self.store.list_automations(ws, list).await?,
            Some(Action::SetConsent { marketing }) => self.store.consent_automations(ws, *marketing).await?,
            Some(Action::StartAutomation { automation }) => {
                self.store.automation(ws, automation).await?.into_iter().collect()
            }
            _ => Vec::new(),
        })
    }

    /// Carries out a decided step whose intent (if it has I/O) is stored: the send or the
    /// webhook, then the result. `contact` is the snapshot the step was decided on; `base`
    /// the stored run's (with the intent, when there is one).
    pub(super) async fn perform(
        &self,
        ws: &WorkspaceId,
        workspace: &Workspace,
        execution: Execution,
        contact: &Snapshot,
        base: RunBase,
        now: Time,
    ) -> Result<Report, StageError> {
        let performed = execution.intent().is_some();
        let (result, sent) = match execution {
            Execution::Ignore => return Ok(Report::ignored("step already executed or run over")),
            Execution::Requeue { next } => {
                for step in next {
                    self.steps.schedule(StepMessage { workspace: ws.clone(), step }, now).await?;
                }
                return Ok(Report::ignored("step already executed; what follows it queued again"));
            }
            Execution::Finished(result) => (*result, None),
            Execution::Send { pending } => {
                let (Some(account), Some(whatsapp)) = (self.account(workspace), workspace.whatsapp.as_ref()) else {
                    let failed = IoOutcome::Failed { code: WHATSAPP_NOT_CONFIGURED.into() };
                    let at = StepAt { base, performed };
                    return self.finish(ws, workspace, pending.finish(failed, now), None, contact, at, now).await;
                };
                // Its turn came before it was claimed ([`Self::turn`]).
                let tried = pending.retry().cloned();
                match self.sender.send(&account, pending.request()).await {
                    Ok(wamid) => (pending.finish(IoOutcome::Sent { wamid: Some(wamid.clone()) }, now), Some(wamid)),
                    Err(e) => {
                        // Nothing went out. Throttling and passing failures are tried again later
                        // (within `retry_for`); the marketing refusals have their own outcomes.
                        let attempts = tried.as_ref().map_or(0, |t| t.attempts) + 1;
                        let since = tried.as_ref().filter(|t| t.attempts > 0).map_or(now, |t| t.since);
                        let retryable = e.retry == Retry::Retryable;
                        let retry_for = whatsapp.retry_for.to_chrono();
                        let failed = |code: String| IoOutcome::Failed { code };
                        match pacing::after_refusal(&e.code, retryable, attempts, since, retry_for, now) {
                            Refusal::RetryAt(at) => {
                                let retry = RetryState { attempts, since, slot: None };
                                return self.defer(ws, pending, base, retry, at, Some(e.code), now).await;
                            }
                            Refusal::Fail(code) => (pending.finish(failed(code), now), None),
                            Refusal::OptOut => {
                                let cause = format!("meta:{}:{}:{}", e.code, pending.run.id, pending.step());
                                self.opted_out_by_meta(ws, &contact.home, &cause, now).await?;
                                (pending.finish(failed(engine::codes::MARKETING_OPT_OUT.into()), now), None)
                            }
                        }
                    }
                }
            }
            Execution::Webhook { url, body, signature, pending } => {
                match self.poster.post(&url, &body, signature.as_deref()).await {
                    Ok(()) => (pending.finish(IoOutcome::Sent { wamid: None }, now), None),
                    Err(e) if e.retry == Retry::Retryable => {
                        self.give_back(ws, pending, base).await;
                        return Err(e.into());
                    }
                    Err(_) => {
                        let failed = IoOutcome::Failed { code: engine::codes::WEBHOOK_FAILED.into() };
                        (pending.finish(failed, now), None)
                    }
                }
            }
        };
        self.finish(ws, workspace, result, sent, contact, StepAt { base, performed }, now).await
    }

    /// Writes back the run of a step that was claimed and then not performed, so that a
    /// redelivery performs it. A run changed since the claim (a delivery status) is re-read
    /// and the claim removed from it, unless the step was recorded otherwise meanwhile.
    /// Best effort: the caller reports the send's own (retryable) error whatever happens
    /// here; a claim left in place makes the redelivery record `send_unconfirmed`.
    async fn give_back(&self, ws: &WorkspaceId, pending: Pending, base: RunBase) {
        let step = pending.step();
        let _ = self.replace_claim(ws, &pending.abandon(), step, base).await;
    }

    /// Writes `run` over a stored run that records step `step` as being sent (its claim): over
    /// `base`, or, when a delivery status changed the run since, over the run as it is now (the
    /// step's record carried onto it). `false` when the run is gone or records the step otherwise
    /// by then: nothing is written.
    async fn replace_claim(
        &self,
        ws: &WorkspaceId,
        run: &Run,
        step: StepPath,
        base: RunBase,
    ) -> Result<bool, StoreError> {
        let (mut rebased, mut base, mut attempts) = (None::<Run>, base, 0);
        loop {
            attempts += 1;
            match self.store.put_run(ws, rebased.as_ref().unwrap_or(run), &base).await {
                Ok(_) => return Ok(true),
                Err(StoreError::Conflict(e)) if attempts == REBASE_ATTEMPTS => {
                    return Err(StoreError::Unavailable(format!("{e} kept changing")));
                }
                Err(StoreError::Conflict(_)) => {}
                Err(other) => return Err(other),
            }
            let Some(current) = self.store.run(ws, &run.id).await? else { return Ok(false) };
            if current.run.step(&step).map(|r| r.status) != Some(StepStatus::Sending) {
                return Ok(false);
            }
            base = current.base();
            rebased = Some(run.rebased(&step, current.run));
        }
    }

    /// Waits for the turn of a send step (`execution`) at its number's rate: `Some(slot)` when
    /// the slot is too far off to wait for here ([`MAX_PAUSE`]). Other steps go at once. Called
    /// before the step's intent is stored, so that a crash while it waits loses nothing.
    pub(super) async fn turn(
        &self,
        workspace: &Workspace,
        execution: &Execution,
        now: Time,
    ) -> Result<Option<Time>, StageError> {
        let Execution::Send { pending } = execution else { return Ok(None) };
        let (Some(account), Some(whatsapp)) = (self.account(workspace), workspace.whatsapp.as_ref()) else {
            return Ok(None);
        };
        self.pace(&account, whatsapp.max_sends_per_second, pending.retry(), now).await
    }

    /// Waits for the account's next send slot when it is near ([`MAX_PAUSE`]); the slot when it is
    /// further off (the send goes back to the queue for it). A send deferred before holds its slot.
    /// A wait that overran its slot by more than [`LATE`] takes a fresh slot, once.
    async fn pace(
        &self,
        account: &Account,
        rate: u32,
        tried: Option<&RetryState>,
        now: Time,
    ) -> Result<Option<Time>, StageError> {
        let started = tokio::time::Instant::now();
        let since_start = || now + chrono::Duration::from_std(started.elapsed()).unwrap_or(MAX_PAUSE);
        let mut slot = match tried.and_then(|t| t.slot) {
            Some(held) => held,
            None => self.store.send_slot(&account.phone_number_id, rate, now).await?,
        };
        for retaken in [false, true] {
            let wait = slot - since_start();
            if wait > MAX_PAUSE {
                return Ok(Some(slot));
            }
            let Ok(wait) = wait.to_std() else { break };
            if wait.is_zero() {
                break;
            }
            let asleep = tokio::time::Instant::now();
            tokio::time::sleep(wait).await;
            if retaken || asleep.elapsed() <= wait + LATE {
                break;
            }
            slot = self.store.send_slot(&account.phone_number_id, rate, since_start()).await?;
        }
        Ok(None)
    }

    /// Leaves a claimed send to be tried again at `at` (the run records it `retrying`, with how
    /// it was tried), then queues its step for `at`. Carried onto a run a delivery status
    /// changed since, as a result is.
    #[allow(clippy::too_many_arguments)]
    async fn defer(
        &self,
        ws: &WorkspaceId,
        pending: Pending,
        base: RunBase,
        retry: RetryState,
        at: Time,
        error: Option<String>,
        now: Time,
    ) -> Result<Report, StageError> {
        let step = pending.step();
        let throttled = error.clone();
        let (run, due) = pending.defer(retry, at, error, now);
        if !self.replace_claim(ws, &run, step, base).await? {
            return Ok(Report::ignored("the deferred step's run is gone or recorded it otherwise meanwhile"));
        }
        self.steps.schedule(StepMessage { workspace: ws.clone(), step: due }, now).await?;
        Ok(Report { throttled, ..Report::ignored("the send waits for its turn or for Meta to take it again") })
    }

    /// Meta answered 131050: the contact stopped marketing messages. Its consent becomes
    /// `opted_out` (stored with `cause`) and its `consent` automations start, as when Meta's
    /// `user_preferences` webhook says so.
    async fn opted_out_by_meta(
        &self,
        ws: &WorkspaceId,
        key: &ContactKey,
        cause: &str,
        now: Time,
    ) -> Result<(), StageError> {
        retry_conflicts(|| async {
            let Some(Versioned { item: mut contact, revision }) = self.store.contact(ws, key).await? else {
                return Ok(());
            };
            let before = contact.clone();
            self.change_consent(ws, &mut contact, ConsentChoice::OptedOut, cause, (&before, revision), now).await?;
            Ok(())
        })
        .await
    }

    /// The account a workspace sends from, when it has a number and a token.
    fn account(&self, workspace: &Workspace) -> Option<Account> {
        let whatsapp = workspace.whatsapp.as_ref()?;
        let token = whatsapp
            .access_token
            .as_ref()
            .map(|t| t.expose().to_string())
            .or_else(|| self.default_access_token.clone())?;
        Some(Account { phone_number_id: whatsapp.phone_number_id.clone(), access_token: token })
    }

    /// Stores a step's result in one write (run, changed contact, link of the sent message),
    /// then starts the runs it caused and queues the next step.
    #[allow(clippy::too_many_arguments)]
    async fn finish(
        &self,
        ws: &WorkspaceId,
        workspace: &Workspace,
        result: StepResult,
        sent: Option<Wamid>,
        before: &Snapshot,
        at: StepAt,
        now: Time,
    ) -> Result<Report, StageError> {
        let StepResult { run, contact, effect, next, starts } = result;
        let changed = contact.as_ref().map(|c| (c, before));
        let link = sent.as_ref().map(|wamid| (wamid, effect.step));
        // The runs the step starts are created with its result (and queued after it).
        let started: Vec<&Run> = starts.iter().map(|s| &s.run).collect();
        let (mut rebased, mut base, mut attempts) = (None::<Run>, at.base, 0);
        let written = loop {
            let write = StepWrite {
                run: rebased.as_ref().unwrap_or(&run),
                base: &base,
                contact: changed,
                sent: link,
                started: &started,
            };
            match self.store.commit_step(ws, write, now).await {
                // A step without I/O is decided again from the start (`retry_conflicts`); one
                // whose send or webhook went out keeps its outcome, carried onto the run as it is
                // now (the conflict is a delivery status: such a step changes no contact).
                // Each lost race is another writer's progress (a status): keep going, but not forever.
                Err(StoreError::Conflict(_)) if at.performed && attempts + 1 < REBASE_ATTEMPTS => {
                    attempts += 1;
                    let Some(current) = self.store.run(ws, &run.id).await? else {
                        return Ok(Report::ignored("the run is gone"));
                    };
                    base = current.base();
                    rebased = Some(run.rebased(&effect.step, current.run));
                }
                // Out of attempts: a retryable failure that is not a lost race, so the step is not
                // decided again at once (it would find itself under way); SQS redelivers it.
                Err(StoreError::Conflict(e)) if at.performed => {
                    return Err(StoreError::Unavailable(format!("{e} kept changing")).into());
                }
                // The send went out: its outcome (the wamid, the link statuses follow) is written
                // again after a pause rather than left to a redelivery, which could only record
                // `send_unconfirmed`. A store down for longer still ends that way.
                Err(StoreError::Unavailable(_)) if at.performed && attempts + 1 < RESULT_WRITE_ATTEMPTS => {
                    attempts += 1;
                    pause_before_rewrite(attempts).await;
                }
                other => break other?,
            }
        };
        if let Some(written) = written
            && written.contact.fields != before.contact.fields
        {
            self.refresh_dates(ws, workspace, &written.contact, now).await?;
        }
        for start in starts {
            self.steps.schedule(StepMessage { workspace: ws.clone(), step: start.first }, now).await?;
        }
        if let Some(next) = next {
            self.steps.schedule(StepMessage { workspace: ws.clone(), step: next }, now).await?;
        }
        let mut effects = vec![effect];
        if let Some(wamid) = &sent {
            // Statuses that arrived before the link was stored. Failing here leaves them parked:
            // the redelivery of this step finds it done and applies them then.
            let step = effects[0].step;
            let parked = self.apply_parked(ws, wamid, &run.id, &step, now).await?;
            effects.extend(parked);
        }
        Ok(Report { effects, ..Report::default() })
    }
}
