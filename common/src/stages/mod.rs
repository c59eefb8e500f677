//! The stages of the pipeline, generic over the ports: `matcher` (events →
//! runs started), `executor` (one step → effects → next step) and `clock`
//! (date triggers). Each is a plain async function the Lambda handlers, `avvio
//! dev` and `avvio simulate` call; the rules themselves live in `crate::engine`.

pub mod clock;
pub mod executor;
pub mod matcher;
mod statuses;

use crate::domain::contact::Contact;
use crate::domain::ids::WorkspaceId;
use crate::domain::workspace::Workspace;
use crate::engine::{self, Effect, RunStart};
use crate::ports::{
    QueueError, Retry, SendError, StepMessage, StepQueue, Store, StoreError, WebhookError, WebhookPoster,
    WhatsAppSender,
};
use crate::time::Time;

/// The adapters a stage runs on.
pub struct Deps<S, Q, W, H> {
    pub store: S,
    pub steps: Q,
    pub sender: W,
    pub poster: H,
    /// Used when a workspace document has no `whatsapp.access_token` (`WHATSAPP_ACCESS_TOKEN`).
    pub default_access_token: Option<String>,
}

/// What a stage did, for the simulator's output and the logs.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Report {
    pub effects: Vec<Effect>,
    /// Why the input was ignored, when it was (duplicate message, unknown number, …).
    pub ignored: Option<&'static str>,
    /// An event to queue once this one is done: the next page of a list run. The caller queues
    /// it before acknowledging this one (a redelivery of this page is harmless).
    pub follow_up: Option<crate::ports::PipelineEvent>,
    /// The code Meta refused a send with (throttling: 130429, 131056…) when the send is tried
    /// again later rather than failed: no effect says so, the metrics count it.
    pub throttled: Option<String>,
}

impl Report {
    pub fn ignored(why: &'static str) -> Self {
        Self { effects: Vec::new(), ignored: Some(why), follow_up: None, throttled: None }
    }
}

/// Why a stage failed. Retryable failures are redelivered by the queue; fatal ones are reported.
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error(transparent)]
    Send(#[from] SendError),
    #[error(transparent)]
    Webhook(#[from] WebhookError),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
}

impl StageError {
    pub fn retry(&self) -> Retry {
        match self {
            Self::Store(e) => e.retry(),
            Self::Queue(_) => Retry::Retryable,
            Self::Send(e) => e.retry,
            Self::Webhook(e) => e.retry,
            Self::NotFound(_) | Self::Invalid(_) => Retry::Fatal,
        }
    }
}

/// How many times a read-modify-write is re-done after losing a race.
const CONFLICT_ATTEMPTS: usize = 5;

/// An error that may be a lost optimistic-concurrency race (worth re-reading and deciding again).
pub(crate) trait LostRace {
    fn lost_race(&self) -> bool;
}

impl LostRace for StageError {
    fn lost_race(&self) -> bool {
        matches!(self, Self::Store(StoreError::Conflict(_)))
    }
}

/// Runs `attempt` again while it loses optimistic-concurrency races.
pub(crate) async fn retry_lost_races<T, E, F, Fut>(mut attempt: F) -> Result<T, E>
where
    E: LostRace,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    let mut tries = 0;
    loop {
        match attempt().await {
            Err(e) if e.lost_race() && tries + 1 < CONFLICT_ATTEMPTS => tries += 1,
            other => return other,
        }
    }
}

/// [`retry_lost_races`] for the stages.
async fn retry_conflicts<T, F, Fut>(attempt: F) -> Result<T, StageError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, StageError>>,
{
    retry_lost_races(attempt).await
}

impl<S: Store, Q: StepQueue, W: WhatsAppSender, H: WebhookPoster> Deps<S, Q, W, H> {
    pub(crate) async fn workspace(&self, ws: &WorkspaceId) -> Result<std::sync::Arc<Workspace>, StageError> {
        self.store.workspace(ws).await?.ok_or_else(|| StageError::NotFound(format!("no workspace `{ws}`")))
    }

    /// Creates a run and queues its first step. Idempotent: a run that exists
    /// already (same cause) has its first step queued again only if it never ran.
    pub(crate) async fn begin_run(&self, ws: &WorkspaceId, start: RunStart, now: Time) -> Result<(), StageError> {
        let created = self.store.create_run(ws, &start.run).await?;
        let never_ran = created
            || self
                .store
                .run(ws, &start.run.id)
                .await?
                .is_some_and(|r| r.run.steps.is_empty() && r.run.status == crate::domain::run::RunStatus::Active);
        if never_ran {
            self.steps.schedule(StepMessage { workspace: ws.clone(), step: start.first }, now).await?;
        }
        Ok(())
    }

    /// Re-computes when each date automation next comes due for a contact whose fields may have changed.
    pub(crate) async fn refresh_dates(
        &self,
        ws: &WorkspaceId,
        workspace: &Workspace,
        contact: &Contact,
        now: Time,
    ) -> Result<(), StageError> {
        Ok(refresh_dates(&self.store, ws, workspace, contact, now).await?)
    }
}

/// Re-computes when each enabled date automation next comes due for `contact`
/// (after its fields changed, or it was created).
pub async fn refresh_dates<S: Store>(
    store: &S,
    ws: &WorkspaceId,
    workspace: &Workspace,
    contact: &Contact,
    now: Time,
) -> Result<(), StoreError> {
    let today = crate::calendar::local(workspace.timezone, now).date();
    for automation in store.date_automations(ws).await? {
        let due = engine::next_date_due(&automation, contact, workspace, today);
        store.set_date_due(ws, automation.id(), &contact.key(), due).await?;
    }
    Ok(())
}
