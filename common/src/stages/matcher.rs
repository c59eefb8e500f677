//! The matcher stage: one event (an inbound WhatsApp message or status, an
//! integration call, a list change, a contact upsert) → contact updated, runs
//! started, first steps queued.

use super::{Deps, Report, StageError, retry_conflicts};
use crate::domain::Duration;
use crate::domain::automation::Trigger;
use crate::domain::contact::{ConsentChoice, Contact};
use crate::domain::ids::{AutomationId, ListName, RunId, WorkspaceId};
use crate::domain::phone::{ContactKey, WaId};
use crate::domain::phrase::Phrase;
use crate::domain::run::{Run, RunCause};
use crate::domain::workspace::Workspace;
use crate::engine::{self, ContactPatch, Join, Liveness, MessageInput, RunStart, StepDue, StepInput, Waiting};
use crate::ports::{
    MessageCommit, MessageWrite, Retry, RunBase, Snapshot, StepMessage, StepQueue, Store, StoredRun, Versioned,
    WebhookPoster, WhatsAppSender,
};
use crate::stats::Tally;
use crate::time::Time;
use crate::webhook::{InboundEvent, InboundMessage, PreferenceCategory, PreferenceUpdate, PreferenceValue};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How many members one event of a list run starts (each a run written and its first step
/// queued: a page fits well inside one Lambda message's budget).
pub const LIST_RUN_PAGE: usize = 200;

/// How many runs of a list run's page are created at once.
const LIST_RUN_CONCURRENCY: usize = 16;

/// How long after a retryable failure of a first step run by the matcher the executor tries it again.
pub const FIRST_STEP_RETRY: chrono::Duration = chrono::Duration::seconds(5);

/// The body of `POST /hooks/automations/{id}` (the shape Spoki users already send).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntegrationCall {
    #[serde(default)]
    pub secret: Option<String>,
    pub phone: String,
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub last_name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    /// Values may be strings, numbers or booleans; they are stored as text.
    #[serde(default)]
    pub custom_fields: BTreeMap<String, serde_json::Value>,
}

impl IntegrationCall {
    /// The contact key and the changes the call makes, or what is wrong with it (with its path).
    pub fn to_patch(&self) -> Result<(WaId, ContactPatch), (String, String)> {
        let phone = WaId::parse(&self.phone).map_err(|e| ("phone".to_string(), e.to_string()))?;
        let mut patch = ContactPatch::default();
        let name = [&self.first_name, &self.last_name]
            .into_iter()
            .flatten()
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        if !name.is_empty() {
            patch.name = Some(name);
        }
        let known = [("first_name", &self.first_name), ("last_name", &self.last_name), ("email", &self.email)];
        let mut fields = Vec::new();
        for (key, value) in known {
            if let Some(value) = value {
                fields.push((key.to_string(), value.clone()));
            }
        }
        for (key, value) in &self.custom_fields {
            let text = match value {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Number(_) | serde_json::Value::Bool(_) => value.to_string(),
                serde_json::Value::Null => continue,
                _ => {
                    return Err((format!("custom_fields.{key}"), "must be a string, number or boolean".into()));
                }
            };
            fields.push((key.clone(), text));
        }
        for (key, value) in fields {
            let field = crate::domain::ids::FieldKey::parse(key.as_str())
                .map_err(|e| (format!("custom_fields.{key}"), e.to_string()))?;
            patch.fields.insert(field, Some(value));
        }
        Ok((phone, patch))
    }
}

/// Whether an integration call carries the automation's secret, in the body or as
/// `X-Avvio-Signature: sha256=<hmac of the raw body>`. An automation without a secret accepts any call.
pub fn integration_authorized(
    trigger_secret: Option<&str>,
    call: &IntegrationCall,
    raw_body: &[u8],
    signature: Option<&str>,
) -> bool {
    let Some(expected) = trigger_secret else { return true };
    let body_ok = call
        .secret
        .as_deref()
        .is_some_and(|given| crate::outbound::constant_time_eq(given.as_bytes(), expected.as_bytes()));
    body_ok || signature.is_some_and(|sig| crate::outbound::verify_signature(expected.as_bytes(), raw_body, sig))
}

impl<S: Store, Q: StepQueue, W: WhatsAppSender, H: WebhookPoster> Deps<S, Q, W, H> {
    /// Handles one event from the events queue.
    pub async fn handle_event(&self, event: &crate::ports::PipelineEvent, now: Time) -> Result<Report, StageError> {
        match event {
            crate::ports::PipelineEvent::Whatsapp { event } => self.handle_inbound(event, now).await,
            crate::ports::PipelineEvent::Integration { workspace, automation, call, request_id } => {
                self.handle_integration(workspace, automation, call, request_id, now).await
            }
            crate::ports::PipelineEvent::Manual { workspace, automation, phone: Some(phone), request_id, .. } => {
                self.handle_manual(workspace, automation, phone, request_id, now).await
            }
            crate::ports::PipelineEvent::Manual { workspace, automation, phone: None, request_id, after } => {
                self.handle_list_run_page(workspace, automation, request_id, after.as_ref(), now).await
            }
            crate::ports::PipelineEvent::ListAdd { workspace, list, contact, request_id } => {
                self.handle_list_add(workspace, list, contact, request_id, now).await
            }
            crate::ports::PipelineEvent::ListRemove { workspace, list, contact, .. } => {
                self.handle_list_remove(workspace, list, contact).await
            }
            crate::ports::PipelineEvent::ConsentChanged { workspace, contact, marketing, request_id } => {
                self.handle_consent_changed(workspace, contact, *marketing, request_id, now).await
            }
        }
    }

    /// Handles one parsed webhook event.
    pub async fn handle_inbound(&self, event: &InboundEvent, now: Time) -> Result<Report, StageError> {
        match event {
            InboundEvent::Message(message) => self.handle_message(message, now).await,
            InboundEvent::Status(status) => self.handle_status(status, now).await,
            InboundEvent::Preference(preference) => self.handle_preference(preference, now).await,
            InboundEvent::TemplateStatus(update) => self.handle_template_status(update).await,
        }
    }

    /// An inbound message: dedupe by wamid, update the sender, fill captures, start at most
    /// one run. A run whose first step is due at once (a reply) runs that step here: its send
    /// is claimed in the same write as the message, so a reply costs one read and one write.
    pub async fn handle_message(&self, message: &InboundMessage, now: Time) -> Result<Report, StageError> {
        let Some(ws) = self.store.workspace_for_number(&message.phone_number_id).await? else {
            return Ok(Report::ignored("unknown phone_number_id"));
        };
        retry_conflicts(|| self.decide_message(&ws, message, now)).await
    }

    async fn decide_message(
        &self,
        ws: &WorkspaceId,
        message: &InboundMessage,
        now: Time,
    ) -> Result<Report, StageError> {
        let keys = message.sender.keys();
        let phrases: Vec<Phrase> = message
            .content
            .phrase_candidates()
            .into_iter()
            .filter_map(|candidate| Phrase::parse(candidate).ok())
            .collect();
        let view = self.store.message_view(ws, &message.wamid, &keys, &phrases).await?;
        let workspace = view.workspace.ok_or_else(|| StageError::NotFound(format!("no workspace `{ws}`")))?;
        if let Some(queued) = view.claimed {
            return self.redelivered(ws, &workspace, view.contact, queued, now).await;
        }
        let phrase_match = view.phrases.into_iter().flatten().find(|a| a.enabled);
        let before = view.contact;
        // Only a contact with waiting runs costs more reads: one step view per wait.
        let (waiting, bases) = match &before {
            Some(b) if !b.contact.engine.waits.is_empty() => self.read_waiting(ws, &b.contact).await?,
            _ => (Vec::new(), Vec::new()),
        };
        let outcome = engine::on_message(MessageInput {
            workspace: &workspace,
            contact: before.as_ref().map(|b| b.contact.clone()),
            message,
            phrases: &phrases,
            phrase_match: phrase_match.as_ref(),
            fallbacks: &view.fallbacks,
            waiting: &waiting,
            now,
        });
        let consent_starts = match outcome.consent {
            Some(choice) => {
                let starts = self.consent_starts(ws, &outcome.contact, choice, message.wamid.as_str(), now).await?;
                kept_for(starts, workspace.runs_retention)
            }
            None => Vec::new(),
        };
        // The automation a run started is the phrase match or a fallback: the one to run step 0 of.
        let started = outcome.start.as_ref().and_then(|start| {
            [phrase_match.as_ref(), view.fallbacks.holiday.as_ref(), view.fallbacks.outside_hours.as_ref()]
                .into_iter()
                .flatten()
                .find(|a| a.id() == &start.run.automation && a.version == start.run.version)
                .map(|automation| (start, automation))
        });
        // A step due at once runs here, claimed in the message's own write: step 0 of the run
        // the message starts (the reply to a phrase), or the first step of the branch a reply
        // chose (the answer to an answer). The revision is the run's once the write is done.
        let base_of = |id: &RunId| waiting.iter().position(|(w, _)| w == id).map(|i| &bases[i]);
        let revision_of = |id: &RunId| base_of(id).map_or(0, |b| b.revision);
        let inline_target = match (started, outcome.resolved.last()) {
            (Some((start, automation)), _) if start.first.due <= now => {
                let live = Some(Liveness::of_current(automation));
                Some((&**automation, live, &start.run, &start.first, StoredRun::CREATED))
            }
            (None, Some(resolved)) if resolved.next.as_ref().is_some_and(|next| next.due <= now) => {
                let (_, read) = waiting.iter().find(|(id, _)| *id == resolved.run.id).expect("resolved runs were read");
                let automation = read.automation.as_deref().expect("a resolved run's version was read");
                let step = resolved.next.as_ref().expect("checked above");
                Some((automation, read.live, &resolved.run, step, revision_of(&resolved.run.id) + 1))
            }
            _ => None,
        };
        let (inline, inline_revision) = match inline_target {
            Some((automation, live, run, step, revision)) => {
                let related = self.related_automations(ws, automation, &step.step).await?;
                let execution = engine::execute_step(StepInput {
                    workspace: &workspace,
                    automation,
                    live,
                    run: run.clone(),
                    step: step.step,
                    contact: &outcome.contact,
                    related: &related,
                    workspace_id: ws.as_str(),
                    now,
                });
                (Some((execution, step.clone())), revision)
            }
            None => (None, 0),
        };
        // An inline send waits for its turn of the number's rate before the message's write
        // claims it; when the turn is further off, the run is written holding its slot and the
        // executor sends it then.
        let (mut inline, mut held) = (inline, None);
        if let Some((execution, _)) = &inline
            && let Some(slot) = self.turn(&workspace, execution, now).await?
        {
            let Some((engine::Execution::Send { pending }, _)) = inline.take() else {
                unreachable!("only sends wait for a slot")
            };
            held = Some(super::executor::held(pending, slot, now));
        }
        // The step queued for the held send, in place of the same step due now.
        let swap = |step: &'_ StepDue| -> StepDue {
            match &held {
                Some((_, due)) if due.run == step.run && due.step == step.step => due.clone(),
                _ => step.clone(),
            }
        };
        let intent = held.as_ref().map(|(run, _)| run).or_else(|| inline.as_ref().and_then(|(e, _)| e.intent()));
        let intent_of = |run: &Run| intent.filter(|i| i.id == run.id);
        let started_run = outcome.start.as_ref().map(|s| intent_of(&s.run).unwrap_or(&s.run));
        let updated: Vec<(&Run, &RunBase)> = (outcome.resolved.iter())
            .map(|r| (intent_of(&r.run).unwrap_or(&r.run), base_of(&r.run.id).expect("resolved runs were read")))
            .collect();
        // The usual message starts one run and queues its first step: no lists built for it.
        let (created, queued): (Vec<&Run>, Vec<StepDue>);
        let first: Option<StepDue>;
        let (created, queued) = if consent_starts.is_empty() && outcome.resolved.is_empty() && held.is_none() {
            (started_run.as_slice(), outcome.start.as_ref().map_or(&[][..], |s| std::slice::from_ref(&s.first)))
        } else if consent_starts.is_empty() && outcome.resolved.is_empty() {
            first = outcome.start.as_ref().map(|s| swap(&s.first));
            (started_run.as_slice(), first.as_slice())
        } else {
            created = started_run.into_iter().chain(consent_starts.iter().map(|s| &s.run)).collect();
            queued = (outcome.start.iter().map(|s| swap(&s.first)))
                .chain(consent_starts.iter().map(|s| s.first.clone()))
                .chain(outcome.resolved.iter().filter_map(|r| r.next.as_ref().map(swap)))
                .collect();
            (created.as_slice(), queued.as_slice())
        };
        // The inline step's run as this message writes it: what its result is written over.
        let inline_base = inline.as_ref().map(|(_, step)| {
            let written = (created.iter().copied().chain(updated.iter().map(|(run, _)| *run)))
                .find(|run| run.id == step.run)
                .expect("the inline step's run is written with the message");
            RunBase::of(written, inline_revision)
        });
        let write = MessageWrite {
            wamid: &message.wamid,
            before: before.as_ref(),
            contact: &outcome.contact,
            started: created,
            updated: &updated,
            queued,
        };
        let written = match self.store.commit_message(ws, write, now).await? {
            MessageCommit::Written { revision, home } => Snapshot { contact: outcome.contact, revision, home },
            MessageCommit::Duplicate => return Ok(Report::ignored("duplicate message")),
        };
        let mut report = Report { effects: outcome.effects, ..Report::default() };
        let inline_step = inline.as_ref().map(|(_, step)| step.clone());
        if let Some(((execution, step), base)) = inline.zip(inline_base) {
            match self.perform(ws, &workspace, execution, &written, base, now).await {
                Ok(done) => {
                    report.effects.extend(done.effects);
                    report.throttled = done.throttled;
                }
                // Nothing is lost: the step was given back (or its send is recorded as under
                // way) and the executor takes it from here, with the queue's retries.
                Err(e) if e.retry() == Retry::Retryable => {
                    let step = StepDue { due: now + FIRST_STEP_RETRY, ..step };
                    self.steps.schedule(StepMessage { workspace: ws.clone(), step }, now).await?;
                }
                Err(e) => return Err(e),
            }
        }
        let later = (outcome.start.iter().map(|s| swap(&s.first)))
            .chain(consent_starts.iter().map(|s| s.first.clone()))
            .chain(outcome.resolved.iter().filter_map(|r| r.next.as_ref().map(swap)))
            .filter(|step| Some(step) != inline_step.as_ref());
        for step in later {
            self.steps.schedule(StepMessage { workspace: ws.clone(), step }, now).await?;
        }
        // After the reply: date triggers follow the fields a capture filled (a new contact has none yet).
        let fields_before = before.as_ref().map(|b| &b.contact.fields);
        if fields_before.map_or(!written.contact.fields.is_empty(), |f| *f != written.contact.fields) {
            self.refresh_dates(ws, &workspace, &written.contact, now).await?;
        }
        Ok(report)
    }

    /// The contact's waiting runs, each with what deciding a reply needs, and what their writes
    /// are based on (in the same order).
    async fn read_waiting(
        &self,
        ws: &WorkspaceId,
        contact: &Contact,
    ) -> Result<(Vec<(RunId, Waiting)>, Vec<RunBase>), StageError> {
        let (mut read, mut bases) = (Vec::new(), Vec::new());
        for wait in &contact.engine.waits {
            if read.iter().any(|(id, _): &(RunId, Waiting)| *id == wait.run) {
                continue;
            }
            let view = self.store.step_view(ws, &wait.run).await?;
            bases.push(view.run.as_ref().map_or(RunBase { revision: 0, tally: Tally::NONE }, StoredRun::base));
            let waiting = Waiting { run: view.run.map(|r| r.run), automation: view.automation, live: view.liveness };
            read.push((wait.run.clone(), waiting));
        }
        Ok((read, bases))
    }

    /// A message claimed before. Its first delivery may have stopped after writing: before
    /// queueing or finishing the steps it decided (which go to the executor, at the time they
    /// were due, to be run, finished or ignored there), or before indexing the sender's date
    /// triggers (done again).
    async fn redelivered(
        &self,
        ws: &WorkspaceId,
        workspace: &Workspace,
        contact: Option<Snapshot>,
        queued: Vec<StepDue>,
        now: Time,
    ) -> Result<Report, StageError> {
        if let Some(contact) = contact.filter(|c| !c.contact.fields.is_empty()) {
            self.refresh_dates(ws, workspace, &contact.contact, now).await?;
        }
        for step in queued {
            self.steps.schedule(StepMessage { workspace: ws.clone(), step }, now).await?;
        }
        Ok(Report::ignored("duplicate message"))
    }

    /// Meta's `message_template_status_update`: the template's status changes in every
    /// workspace of the account (`waba_id`) that has it. An unknown account, template or
    /// status is ignored (the report says which).
    pub async fn handle_template_status(
        &self,
        update: &crate::webhook::TemplateStatusUpdate,
    ) -> Result<Report, StageError> {
        use crate::domain::ids::{Language, TemplateName};
        let Some(status) = crate::meta_templates::status_of(&update.event) else {
            return Ok(Report::ignored("a template status Avvio does not know"));
        };
        let (Ok(name), Ok(language)) =
            (TemplateName::parse(update.name.as_str()), Language::parse(update.language.as_str()))
        else {
            return Ok(Report::ignored("unknown template"));
        };
        let workspaces = self.store.workspaces_for_waba(&update.waba_id).await?;
        if workspaces.is_empty() {
            return Ok(Report::ignored("unknown waba_id"));
        }
        let mut found = false;
        for ws in &workspaces {
            found |= self.store.set_template_status(ws, &name, &language, status).await?;
        }
        Ok(if found { Report::default() } else { Report::ignored("unknown template") })
    }

    /// Meta's `user_preferences`: a user stopped or resumed marketing messages. The contact's
    /// consent changes (created when unknown) and its `consent` automations start.
    pub async fn handle_preference(&self, preference: &PreferenceUpdate, now: Time) -> Result<Report, StageError> {
        let Some(ws) = self.store.workspace_for_number(&preference.phone_number_id).await? else {
            return Ok(Report::ignored("unknown phone_number_id"));
        };
        if preference.category != PreferenceCategory::MarketingMessages {
            return Ok(Report::ignored("a preference of a category Avvio does not act on"));
        }
        let choice = match preference.value {
            PreferenceValue::Stop => ConsentChoice::OptedOut,
            PreferenceValue::Resume => ConsentChoice::OptedIn,
            PreferenceValue::Other(_) => return Ok(Report::ignored("a preference value Avvio does not know")),
        };
        let user = &preference.user;
        let keys = user.keys();
        if keys.is_empty() {
            return Ok(Report::ignored("a preference of no user"));
        }
        let cause_key = format!("preference:{}:{}", choice.as_str(), preference.timestamp.timestamp());
        retry_conflicts(|| async {
            let (mut contact, revision) = self.contact_or_new(&ws, &keys).await?;
            let before = contact.clone();
            contact.phone = contact.phone.take().or_else(|| user.phone.clone());
            contact.bsuid = contact.bsuid.take().or_else(|| user.bsuid.clone());
            if !self.change_consent(&ws, &mut contact, choice, &cause_key, (&before, revision), now).await? {
                return Ok(Report::ignored("the consent is already that"));
            }
            Ok(Report::default())
        })
        .await
    }

    /// Changes a contact's consent from outside a run (stored, with the cause on the contact)
    /// and starts the `consent` automations. A redelivery of the same cause, which finds the
    /// consent changed already, starts them again (their run ids make that idempotent): the
    /// first delivery may have stopped between the write and the runs. `false` when the
    /// consent already was `choice` for another reason: nothing starts.
    pub(super) async fn change_consent(
        &self,
        ws: &WorkspaceId,
        contact: &mut Contact,
        choice: ConsentChoice,
        cause_key: &str,
        (before, revision): (&Contact, Option<u64>),
        now: Time,
    ) -> Result<bool, StageError> {
        if contact.set_consent(choice) {
            contact.engine.consent_cause = Some(cause_key.to_string());
        } else if contact.engine.consent_cause.as_deref() != Some(cause_key) {
            return Ok(false);
        }
        if contact != before || revision.is_none() {
            self.store.put_contact(ws, contact, revision).await?;
        }
        self.start_consent_runs(ws, contact, choice, cause_key, now).await?;
        Ok(true)
    }

    /// `PUT /v1/contacts/{phone}` changed a contact's consent: its `consent` automations
    /// start, unless the consent changed again since.
    pub async fn handle_consent_changed(
        &self,
        ws: &WorkspaceId,
        key: &ContactKey,
        choice: ConsentChoice,
        request_id: &str,
        now: Time,
    ) -> Result<Report, StageError> {
        let Some(Versioned { item: contact, .. }) = self.store.contact(ws, key).await? else {
            return Ok(Report::ignored("unknown contact"));
        };
        if contact.marketing != choice.into() {
            return Ok(Report::ignored("the consent changed again since"));
        }
        self.start_consent_runs(ws, &contact, choice, request_id, now).await?;
        Ok(Report::default())
    }

    /// The runs of the `consent` automations of `choice` for a contact whose consent just
    /// changed to it from outside a run (depth 0).
    async fn consent_starts(
        &self,
        ws: &WorkspaceId,
        contact: &Contact,
        choice: ConsentChoice,
        cause_key: &str,
        now: Time,
    ) -> Result<Vec<RunStart>, StageError> {
        let automations = self.store.consent_automations(ws, choice).await?;
        let cause = RunCause::Consent { by_run: None };
        Ok(engine::start_triggered_runs(&automations, contact, cause, cause_key, 0, now)
            .expect("depth 0 is never a loop"))
    }

    /// Begins `starts`, runs started from outside a run, kept for the workspace's retention
    /// (read only when there is a run to begin).
    async fn begin_runs(&self, ws: &WorkspaceId, starts: Vec<RunStart>, now: Time) -> Result<(), StageError> {
        if starts.is_empty() {
            return Ok(());
        }
        let retention = self.workspace(ws).await?.runs_retention;
        for start in kept_for(starts, retention) {
            self.begin_run(ws, start, now).await?;
        }
        Ok(())
    }

    /// Starts the `consent` automations of `choice` for a contact whose consent just changed to it.
    async fn start_consent_runs(
        &self,
        ws: &WorkspaceId,
        contact: &Contact,
        choice: ConsentChoice,
        cause_key: &str,
        now: Time,
    ) -> Result<(), StageError> {
        let starts = self.consent_starts(ws, contact, choice, cause_key, now).await?;
        self.begin_runs(ws, starts, now).await
    }

    /// `POST /hooks/automations/{id}`: upserts the contact, then starts a run. The caller
    /// has checked the secret ([`integration_authorized`]); `request_id` makes retries idempotent.
    pub async fn handle_integration(
        &self,
        ws: &WorkspaceId,
        automation_id: &AutomationId,
        call: &IntegrationCall,
        request_id: &str,
        now: Time,
    ) -> Result<Report, StageError> {
        let automation = self
            .store
            .automation(ws, automation_id)
            .await?
            .filter(|a| matches!(a.trigger, Trigger::Integration { .. }))
            .ok_or_else(|| StageError::NotFound(format!("no integration automation `{automation_id}`")))?;
        let (phone, patch) =
            call.to_patch().map_err(|(path, message)| StageError::Invalid(format!("{path}: {message}")))?;
        let key = ContactKey::Phone(phone);
        retry_conflicts(|| async {
            let workspace = self.workspace(ws).await?;
            let (contact, revision) = self.contact_or_new(ws, std::slice::from_ref(&key)).await?;
            let mut contact = contact;
            // An integration call names no consent.
            let _ = patch.clone().apply(&mut contact);
            self.store.put_contact(ws, &contact, revision).await?;
            self.refresh_dates(ws, &workspace, &contact, now).await?;
            if automation.enabled {
                let start = engine::start_run(&automation, &contact, RunCause::Integration, request_id, 0, now)
                    .expect("depth 0 is never a loop");
                self.begin_run(ws, start.kept_for(workspace.runs_retention), now).await?;
            }
            Ok(Report::default())
        })
        .await
    }

    /// `POST /v1/automations/{id}/run` with a phone: starts the automation for that contact
    /// (created when unknown), unless it is blocked. Without a phone it is a list run
    /// ([`Self::handle_list_run_page`]).
    pub async fn handle_manual(
        &self,
        ws: &WorkspaceId,
        automation_id: &AutomationId,
        phone: &WaId,
        request_id: &str,
        now: Time,
    ) -> Result<Report, StageError> {
        let automation = self.enabled_automation(ws, automation_id).await?;
        let key = ContactKey::Phone(phone.clone());
        let contact = retry_conflicts(|| async {
            let (contact, revision) = self.contact_or_new(ws, std::slice::from_ref(&key)).await?;
            if revision.is_none() {
                self.store.put_contact(ws, &contact, None).await?;
            }
            Ok(contact)
        })
        .await?;
        if contact.blocked {
            return Ok(Report::ignored("no contact to run for"));
        }
        let retention = self.workspace(ws).await?.runs_retention;
        let start = engine::start_run(&automation, &contact, RunCause::Manual, request_id, 0, now)
            .expect("depth 0 is never a loop");
        self.begin_run(ws, start.kept_for(retention), now).await?;
        Ok(Report::default())
    }

    /// The automation `id`, when it exists and is enabled.
    async fn enabled_automation(
        &self,
        ws: &WorkspaceId,
        id: &AutomationId,
    ) -> Result<std::sync::Arc<crate::domain::automation::Automation>, StageError> {
        self.store
            .automation(ws, id)
            .await?
            .filter(|a| a.enabled)
            .ok_or_else(|| StageError::NotFound(format!("no enabled automation `{id}`")))
    }

    /// One page of a list run (`POST /v1/automations/{id}/run` with `{}`): the runs of the
    /// [`LIST_RUN_PAGE`] members after `after`, and the next page as the report's follow-up
    /// event. A page redelivered (the process died midway) starts nothing twice: run ids come
    /// from the request and the member. Progress shows in the automation's stats.
    pub async fn handle_list_run_page(
        &self,
        ws: &WorkspaceId,
        automation_id: &AutomationId,
        request_id: &str,
        after: Option<&ContactKey>,
        now: Time,
    ) -> Result<Report, StageError> {
        let automation = self.enabled_automation(ws, automation_id).await?;
        let Trigger::List { list } = &automation.trigger else {
            return Err(StageError::Invalid(format!(
                "a {} automation runs for one contact: give a phone",
                automation.trigger.kind()
            )));
        };
        let (members, next) = self.store.list_members_page(ws, list, after, LIST_RUN_PAGE).await?;
        let retention = self.workspace(ws).await?.runs_retention;
        // The page's runs are created [`LIST_RUN_CONCURRENCY`] at a time: each is a write and a
        // queued step, so one after another would cap a list run near 50 starts/s on AWS.
        let members: Vec<&Contact> = members.iter().filter(|c| !c.blocked).collect();
        for chunk in members.chunks(LIST_RUN_CONCURRENCY) {
            let mut begun = Vec::with_capacity(chunk.len());
            for contact in chunk {
                let start = engine::start_run(&automation, contact, RunCause::Manual, request_id, 0, now)
                    .expect("depth 0 is never a loop");
                begun.push(self.begin_run(ws, start.kept_for(retention), now));
            }
            for result in futures_util::future::join_all(begun).await {
                result?;
            }
        }
        let follow_up = next.map(|after| crate::ports::PipelineEvent::Manual {
            workspace: ws.clone(),
            automation: automation_id.clone(),
            phone: None,
            request_id: request_id.to_string(),
            after: Some(after),
        });
        let ignored = (after.is_none() && members.is_empty()).then_some("no contact to run for");
        Ok(Report { ignored, follow_up, ..Report::default() })
    }

    /// Adds a contact to a list (creating the contact if needed); a new member starts the list's automations.
    pub async fn handle_list_add(
        &self,
        ws: &WorkspaceId,
        list: &ListName,
        key: &ContactKey,
        cause_key: &str,
        now: Time,
    ) -> Result<Report, StageError> {
        retry_conflicts(|| async {
            let (mut contact, revision) = self.contact_or_new(ws, std::slice::from_ref(key)).await?;
            match engine::join_list(&mut contact, list) {
                Join::Joined => {}
                Join::AlreadyMember => return Ok(Report::ignored("already a member")),
                Join::Blocked => return Ok(Report::ignored("contact is blocked")),
            }
            self.store.put_contact(ws, &contact, revision).await?;
            let automations = self.store.list_automations(ws, list).await?;
            let starts = engine::start_triggered_runs(
                &automations,
                &contact,
                RunCause::List { by_run: None },
                cause_key,
                0,
                now,
            )
            .expect("depth 0 is never a loop");
            self.begin_runs(ws, starts, now).await?;
            Ok(Report::default())
        })
        .await
    }

    /// Removes a contact from a list.
    pub async fn handle_list_remove(
        &self,
        ws: &WorkspaceId,
        list: &ListName,
        key: &ContactKey,
    ) -> Result<Report, StageError> {
        retry_conflicts(|| async {
            let Some(Versioned { item: mut contact, revision }) = self.store.contact(ws, key).await? else {
                return Ok(Report::ignored("unknown contact"));
            };
            if !contact.lists.remove(list) {
                return Ok(Report::ignored("not a member"));
            }
            self.store.put_contact(ws, &contact, revision).await?;
            Ok(Report::default())
        })
        .await
    }

    /// Creates or changes a contact from outside a run; a consent it changes starts the
    /// `consent` automations (`cause_key` makes a redelivery start them once).
    pub async fn handle_contact_upsert(
        &self,
        ws: &WorkspaceId,
        key: &ContactKey,
        patch: &ContactPatch,
        cause_key: &str,
        now: Time,
    ) -> Result<Report, StageError> {
        retry_conflicts(|| async {
            let workspace = self.workspace(ws).await?;
            let (mut contact, revision) = self.contact_or_new(ws, std::slice::from_ref(key)).await?;
            let before = contact.clone();
            let mut patch = patch.clone();
            // The consent goes through `change_consent`, which knows a redelivery from a no-change.
            let consent = patch.marketing.take();
            patch.apply(&mut contact);
            let changed = match consent {
                Some(choice) => {
                    self.change_consent(ws, &mut contact, choice, cause_key, (&before, revision), now).await?
                }
                None => false,
            };
            if !changed {
                self.store.put_contact(ws, &contact, revision).await?;
            }
            self.refresh_dates(ws, &workspace, &contact, now).await?;
            Ok(Report::default())
        })
        .await
    }

    /// The contact by the first of `keys` the store knows, or a new one known by them all.
    async fn contact_or_new(
        &self,
        ws: &WorkspaceId,
        keys: &[ContactKey],
    ) -> Result<(Contact, Option<u64>), StageError> {
        for key in keys {
            if let Some(Versioned { item, revision }) = self.store.contact(ws, key).await? {
                return Ok((item, revision));
            }
        }
        let mut contact = Contact::new(&keys[0]);
        for key in &keys[1..] {
            match key {
                ContactKey::Phone(phone) => contact.phone = Some(phone.clone()),
                ContactKey::Bsuid(bsuid) => contact.bsuid = Some(bsuid.clone()),
            }
        }
        Ok((contact, None))
    }
}

/// `starts`, each kept `retention` once it ended.
fn kept_for(starts: Vec<RunStart>, retention: Duration) -> Vec<RunStart> {
    starts.into_iter().map(|start| start.kept_for(retention)).collect()
}

#[cfg(test)]
mod tests {
    use super::IntegrationCall;

    /// Found by fuzzing (`fuzz/README.md`): without serde_json's `float_roundtrip`, a custom
    /// field such as `9999…9` (an integer too long for u64) came back off the events queue as
    /// the next float up, so the contact got a different value than the caller sent.
    #[test]
    fn an_integration_call_crosses_the_events_queue_with_its_numbers_unchanged() {
        let body = format!(
            r#"{{"phone": "+39 333 1234567", "custom_fields": {{"order_id": {}, "big": 1e73, "small": 0.1}}}}"#,
            "9".repeat(60)
        );
        let call: IntegrationCall = serde_json::from_str(&body).unwrap();
        let queued = serde_json::to_string(&call).unwrap();
        let read: IntegrationCall = serde_json::from_str(&queued).unwrap();
        assert_eq!(read, call, "{queued}");
    }
}
