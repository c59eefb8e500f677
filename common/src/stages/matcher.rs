//! The matcher stage: one event (an inbound WhatsApp message or status, an
//! integration call, a list change, a contact upsert) → contact updated, runs
//! started, first steps queued.

use super::{Deps, Report, StageError, retry_conflicts};
use crate::domain::automation::Trigger;
use crate::domain::contact::Contact;
use crate::domain::ids::{AutomationId, ListName, WorkspaceId};
use crate::domain::phone::{ContactKey, WaId};
use crate::domain::phrase::Phrase;
use crate::domain::run::RunCause;
use crate::engine::{self, ContactPatch, Join, MessageInput};
use crate::ports::{StepQueue, Store, Versioned, WebhookPoster, WhatsAppSender};
use crate::time::Time;
use crate::webhook::{InboundEvent, InboundMessage, StatusUpdate};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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
            patch.fields.insert(field, value);
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
            crate::ports::PipelineEvent::Manual { workspace, automation, phone, request_id } => {
                self.handle_manual(workspace, automation, phone.as_ref(), request_id, now).await
            }
            crate::ports::PipelineEvent::ListAdd { workspace, list, contact, request_id } => {
                self.handle_list_add(workspace, list, contact, request_id, now).await
            }
            crate::ports::PipelineEvent::ListRemove { workspace, list, contact, .. } => {
                self.handle_list_remove(workspace, list, contact).await
            }
        }
    }

    /// Handles one parsed webhook event.
    pub async fn handle_inbound(&self, event: &InboundEvent, now: Time) -> Result<Report, StageError> {
        match event {
            InboundEvent::Message(message) => self.handle_message(message, now).await,
            InboundEvent::Status(status) => self.handle_status(status, now).await,
        }
    }

    /// An inbound message: dedupe by wamid, update the sender, fill captures, start at most one run.
    pub async fn handle_message(&self, message: &InboundMessage, now: Time) -> Result<Report, StageError> {
        let Some(ws) = self.store.workspace_for_number(&message.phone_number_id).await? else {
            return Ok(Report::ignored("unknown phone_number_id"));
        };
        if !self.store.claim_message(&ws, &message.wamid, now).await? {
            return Ok(Report::ignored("duplicate message"));
        }
        let result = retry_conflicts(|| self.decide_message(&ws, message, now)).await;
        if result.is_err() {
            // Nothing was written: give the claim back so the redelivery is processed.
            self.store.release_message(&ws, &message.wamid).await?;
        }
        result
    }

    async fn decide_message(
        &self,
        ws: &WorkspaceId,
        message: &InboundMessage,
        now: Time,
    ) -> Result<Report, StageError> {
        let workspace = self.workspace(ws).await?;
        let keys = message
            .sender
            .phone
            .clone()
            .map(ContactKey::Phone)
            .into_iter()
            .chain(message.sender.bsuid.clone().map(ContactKey::Bsuid));
        let mut stored = None;
        for key in keys {
            if let Some(found) = self.store.contact(ws, &key).await? {
                stored = Some(found);
                break;
            }
        }
        let mut phrase_match = None;
        for candidate in message.content.phrase_candidates() {
            let Ok(phrase) = Phrase::parse(candidate) else { continue };
            if let Some(automation) = self.store.automation_by_phrase(ws, &phrase).await?.filter(|a| a.enabled) {
                phrase_match = Some(automation);
                break;
            }
        }
        // The fallbacks are looked up only when no phrase matched.
        let fallbacks = match phrase_match {
            Some(_) => Default::default(),
            None => self.store.fallbacks(ws).await?,
        };
        let (contact, revision) = split(stored);
        let fields_before = contact.as_ref().map(|c| c.fields.clone());
        let outcome = engine::on_message(MessageInput {
            workspace: &workspace,
            contact,
            message,
            phrase_match: phrase_match.as_ref(),
            fallbacks: &fallbacks,
            now,
        });
        self.store.put_contact(ws, &outcome.contact, revision).await?;
        if fields_before.as_ref() != Some(&outcome.contact.fields) {
            self.refresh_dates(ws, &workspace, &outcome.contact, now).await?;
        }
        if let Some(start) = outcome.start {
            self.begin_run(ws, start, now).await?;
        }
        Ok(Report { effects: outcome.effects, ignored: None })
    }

    /// A delivery status: recorded on the run step that sent the message; never starts a run.
    pub async fn handle_status(&self, status: &StatusUpdate, now: Time) -> Result<Report, StageError> {
        let Some(ws) = self.store.workspace_for_number(&status.phone_number_id).await? else {
            return Ok(Report::ignored("unknown phone_number_id"));
        };
        let Some((run_id, step)) = self.store.outbound(&ws, &status.wamid).await? else {
            return Ok(Report::ignored("status of a message Avvio did not send"));
        };
        let Some(mut run) = self.store.run(&ws, &run_id).await? else {
            return Ok(Report::ignored("status of a run that no longer exists"));
        };
        let effect = engine::on_status(&mut run, step, status, now);
        self.store.put_run(&ws, &run).await?;
        Ok(Report { effects: effect.into_iter().collect(), ignored: None })
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
            let (contact, revision) = self.contact_or_new(ws, &key).await?;
            let mut contact = contact;
            patch.clone().apply(&mut contact);
            self.store.put_contact(ws, &contact, revision).await?;
            self.refresh_dates(ws, &workspace, &contact, now).await?;
            if automation.enabled {
                let start = engine::start_run(&automation, &contact, RunCause::Integration, request_id, 0, now)
                    .expect("depth 0 is never a loop");
                self.begin_run(ws, start, now).await?;
            }
            Ok(Report::default())
        })
        .await
    }

    /// `POST /v1/automations/{id}/run`: starts the automation for one contact (created when
    /// unknown), or with no phone for every member of its list. Blocked contacts are skipped.
    pub async fn handle_manual(
        &self,
        ws: &WorkspaceId,
        automation_id: &AutomationId,
        phone: Option<&WaId>,
        request_id: &str,
        now: Time,
    ) -> Result<Report, StageError> {
        let automation = self
            .store
            .automation(ws, automation_id)
            .await?
            .filter(|a| a.enabled)
            .ok_or_else(|| StageError::NotFound(format!("no enabled automation `{automation_id}`")))?;
        let contacts = match (phone, &automation.trigger) {
            (Some(phone), _) => {
                let key = ContactKey::Phone(phone.clone());
                let contact = retry_conflicts(|| async {
                    let (contact, revision) = self.contact_or_new(ws, &key).await?;
                    if revision.is_none() {
                        self.store.put_contact(ws, &contact, None).await?;
                    }
                    Ok(contact)
                })
                .await?;
                vec![contact]
            }
            (None, Trigger::List { list }) => self.store.list_members(ws, list).await?,
            (None, trigger) => {
                return Err(StageError::Invalid(format!(
                    "a {} automation runs for one contact: give a phone",
                    trigger.kind()
                )));
            }
        };
        let mut report = Report::default();
        for contact in contacts.iter().filter(|c| !c.blocked) {
            let start = engine::start_run(&automation, contact, RunCause::Manual, request_id, 0, now)
                .expect("depth 0 is never a loop");
            self.begin_run(ws, start, now).await?;
        }
        if contacts.iter().all(|c| c.blocked) {
            report.ignored = Some("no contact to run for");
        }
        Ok(report)
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
            let (mut contact, revision) = self.contact_or_new(ws, key).await?;
            match engine::join_list(&mut contact, list) {
                Join::Joined => {}
                Join::AlreadyMember => return Ok(Report::ignored("already a member")),
                Join::Blocked => return Ok(Report::ignored("contact is blocked")),
            }
            self.store.put_contact(ws, &contact, revision).await?;
            let automations = self.store.list_automations(ws, list).await?;
            let starts =
                engine::start_list_runs(&automations, &contact, RunCause::List { by_run: None }, cause_key, 0, now)
                    .expect("depth 0 is never a loop");
            for start in starts {
                self.begin_run(ws, start, now).await?;
            }
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

    /// Creates or changes a contact from outside a run.
    pub async fn handle_contact_upsert(
        &self,
        ws: &WorkspaceId,
        key: &ContactKey,
        patch: &ContactPatch,
        now: Time,
    ) -> Result<Report, StageError> {
        retry_conflicts(|| async {
            let workspace = self.workspace(ws).await?;
            let (mut contact, revision) = self.contact_or_new(ws, key).await?;
            patch.clone().apply(&mut contact);
            self.store.put_contact(ws, &contact, revision).await?;
            self.refresh_dates(ws, &workspace, &contact, now).await?;
            Ok(Report::default())
        })
        .await
    }

    async fn contact_or_new(&self, ws: &WorkspaceId, key: &ContactKey) -> Result<(Contact, Option<u64>), StageError> {
        Ok(match self.store.contact(ws, key).await? {
            Some(Versioned { item, revision }) => (item, revision),
            None => (Contact::new(key), None),
        })
    }
}

fn split(stored: Option<Versioned<Contact>>) -> (Option<Contact>, Option<u64>) {
    match stored {
        Some(Versioned { item, revision }) => (Some(item), revision),
        None => (None, None),
    }
}
