//! A contact: who a run is for, what it knows about them, and the engine's
//! per-contact bookkeeping (cooldowns, pending reply captures, fired dates).

use super::ids::{AutomationId, FieldKey, ListName, Operator, RunId, Tag};
use super::interpolate::Variables;
use super::path::StepPath;
use super::phone::{Bsuid, ContactKey, WaId};
use crate::time::Time;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// A contact of one workspace.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Contact {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<WaId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bsuid: Option<Bsuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default)]
    pub tags: BTreeSet<Tag>,
    #[serde(default)]
    pub lists: BTreeSet<ListName>,
    #[serde(default)]
    pub fields: BTreeMap<FieldKey, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<Operator>,
    #[serde(default)]
    pub blocked: bool,
    /// Whether the contact accepts marketing messages (SPEC §2.4).
    #[serde(default)]
    pub marketing: MarketingConsent,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "crate::time::optional_rfc3339")]
    pub last_inbound_at: Option<Time>,
    /// The engine's bookkeeping; not part of the contact a user edits.
    #[serde(default)]
    pub engine: EngineState,
}

/// Per-contact state the engine keeps to apply its rules.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct EngineState {
    /// Incremented by every `block_contact`: steps of runs started under an older epoch are cancelled.
    #[serde(default)]
    pub block_epoch: u32,
    /// `set_field … from next_reply` steps waiting for the contact's next message.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub captures: Vec<Capture>,
    /// `wait_for_reply` steps of this contact's runs waiting for its next message, in the
    /// order they started waiting (the last one is offered a message first). Kept on the
    /// contact so a message from a contact with no waiting run costs no extra read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub waits: Vec<Wait>,
    /// The cause of the last consent change from outside a run (a preference webhook, a
    /// contact event): its redelivery starts the `consent` automations again, not nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent_cause: Option<String>,
    /// When each fallback automation (`outside_hours`, `holiday`) last fired for this contact.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fallback_fired: BTreeMap<AutomationId, Time>,
    /// (automation, target date) pairs a `date` trigger has fired for.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub dates_fired: BTreeSet<(AutomationId, NaiveDate)>,
}

/// A pending `next_reply` capture.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capture {
    pub field: FieldKey,
    pub run: RunId,
    pub automation: AutomationId,
    pub step: StepPath,
}

/// A run waiting for the contact's reply at its `wait_for_reply` step `step`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Wait {
    pub run: RunId,
    pub automation: AutomationId,
    pub step: StepPath,
    #[serde(with = "crate::time::rfc3339")]
    pub since: Time,
    /// When the wait times out.
    #[serde(with = "crate::time::rfc3339")]
    pub until: Time,
}

/// A contact's marketing consent: `unknown` until it changes (SPEC §2.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MarketingConsent {
    #[default]
    Unknown,
    OptedIn,
    OptedOut,
}

/// A consent a contact can be changed to: what `set_consent`, the `consent` trigger and the
/// API name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentChoice {
    OptedIn,
    OptedOut,
}

impl ConsentChoice {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OptedIn => "opted_in",
            Self::OptedOut => "opted_out",
        }
    }
}

impl From<ConsentChoice> for MarketingConsent {
    fn from(choice: ConsentChoice) -> Self {
        match choice {
            ConsentChoice::OptedIn => Self::OptedIn,
            ConsentChoice::OptedOut => Self::OptedOut,
        }
    }
}

impl Contact {
    /// Changes the marketing consent; `true` when it changed (and `consent` triggers fire).
    pub fn set_consent(&mut self, choice: ConsentChoice) -> bool {
        let changed = self.marketing != MarketingConsent::from(choice);
        self.marketing = choice.into();
        changed
    }

    /// Blocks the contact (what `block_contact` does, SPEC §2.2): it leaves every list, its reply
    /// captures and waits are dropped (its waiting runs' timeouts end them), and the block epoch
    /// moves on, so its runs' pending steps are cancelled (`contact_blocked`).
    pub fn block(&mut self) {
        self.blocked = true;
        self.lists.clear();
        self.engine.captures.clear();
        self.engine.waits.clear();
        self.engine.block_epoch += 1;
    }

    /// A new contact known by `key`.
    pub fn new(key: &ContactKey) -> Self {
        let mut contact = Self::default();
        match key {
            ContactKey::Phone(p) => contact.phone = Some(p.clone()),
            ContactKey::Bsuid(b) => contact.bsuid = Some(b.clone()),
        }
        contact
    }

    /// How the contact is named in runs and output: the phone when known, else the BSUID.
    pub fn key(&self) -> ContactKey {
        match (&self.phone, &self.bsuid) {
            (Some(p), _) => ContactKey::Phone(p.clone()),
            (None, Some(b)) => ContactKey::Bsuid(b.clone()),
            (None, None) => unreachable!("a contact is always created from a phone or a BSUID"),
        }
    }

    /// Every id the contact can be found by.
    pub fn keys(&self) -> Vec<ContactKey> {
        let mut keys = Vec::with_capacity(2);
        keys.extend(self.phone.clone().map(ContactKey::Phone));
        keys.extend(self.bsuid.clone().map(ContactKey::Bsuid));
        keys
    }

    /// The contact as the API and webhooks show it: without the engine's bookkeeping.
    pub fn public_view(&self) -> serde_json::Value {
        let mut value = serde_json::to_value(self).expect("a contact always serialises");
        if let Some(map) = value.as_object_mut() {
            map.remove("engine");
        }
        value
    }
}

impl Variables for Contact {
    fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    fn phone(&self) -> Option<&str> {
        self.phone.as_ref().map(WaId::as_str)
    }

    fn field(&self, key: &str) -> Option<&str> {
        self.fields.get(key).map(String::as_str)
    }
}
