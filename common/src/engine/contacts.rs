//! Changes to a contact from outside a run (the API, an integration call, a `contact`
//! event), list memberships, and the runs a list join or a consent change starts.

use super::{RunStart, start_run};
use crate::domain::automation::Automation;
use crate::domain::contact::{ConsentChoice, Contact};
use crate::domain::ids::{FieldKey, ListName, Operator, Tag};
use crate::domain::run::RunCause;
use crate::time::Time;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// The outcome of adding a contact to a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Join {
    /// Newly a member: `list` automations fire.
    Joined,
    AlreadyMember,
    /// Blocked contacts are in no list.
    Blocked,
}

/// Adds `contact` to `list`.
pub fn join_list(contact: &mut Contact, list: &ListName) -> Join {
    if contact.blocked {
        Join::Blocked
    } else if contact.lists.insert(list.clone()) {
        Join::Joined
    } else {
        Join::AlreadyMember
    }
}

/// Starts `automations` for a contact that just fired their trigger, at `depth`: the `list`
/// automations of a list it joined, the `consent` automations of the consent it changed to.
/// A blocked contact starts none (it joins no list; its consent changes but starts nothing,
/// as no date trigger or fallback fires for it).
pub fn start_triggered_runs(
    automations: &[Arc<Automation>],
    contact: &Contact,
    cause: RunCause,
    cause_key: &str,
    depth: u8,
    now: Time,
) -> Result<Vec<RunStart>, &'static str> {
    if contact.blocked {
        return Ok(Vec::new());
    }
    automations.iter().map(|a| start_run(a, contact, cause.clone(), cause_key, depth, now)).collect()
}

/// Changes to a contact from outside a run: the API, an integration call, a `contact` event.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactPatch {
    #[serde(default)]
    pub name: Option<String>,
    /// Merged into the contact's fields; a field given `null` is removed.
    #[serde(default)]
    pub fields: BTreeMap<FieldKey, Option<String>>,
    /// Replaces the tag set when present.
    #[serde(default)]
    pub tags: Option<BTreeSet<Tag>>,
    /// `Some(None)` (`"operator": null`) unassigns; absent (`None`) keeps the operator.
    #[serde(default, deserialize_with = "present")]
    pub operator: Option<Option<Operator>>,
    /// Changes the marketing consent (the caller starts the `consent` automations it fires).
    #[serde(default)]
    pub marketing: Option<ConsentChoice>,
}

impl ContactPatch {
    /// Applies the changes; the consent the contact changed to, when it changed (its
    /// `consent` automations are the caller's to start).
    pub fn apply(self, contact: &mut Contact) -> Option<ConsentChoice> {
        if let Some(name) = self.name.filter(|n| !n.trim().is_empty()) {
            contact.name = Some(name);
        }
        for (field, value) in self.fields {
            match value {
                Some(value) => contact.fields.insert(field, value),
                None => contact.fields.remove(&field),
            };
        }
        if let Some(tags) = self.tags {
            contact.tags = tags;
        }
        if let Some(operator) = self.operator {
            contact.operator = operator;
        }
        self.marketing.filter(|choice| contact.set_consent(*choice))
    }
}

/// A field that is present, `null` included: `Some(None)` for `null` (absent: the `default`).
fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// A contact as the console's form sets it: every value it edits given in full, replacing what
/// is stored. Lists are the ones wanted: they change through list events (which fire list
/// triggers), never here (see `manage::edit_contact`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContactEdit {
    /// `None` (or blank) leaves the contact without a name.
    pub name: Option<String>,
    pub fields: BTreeMap<FieldKey, String>,
    pub tags: BTreeSet<Tag>,
    pub lists: BTreeSet<ListName>,
    pub operator: Option<Operator>,
    /// `None` keeps the consent: it cannot be set back to `unknown`.
    pub marketing: Option<ConsentChoice>,
    /// Blocking does what `block_contact` does ([`Contact::block`]); unblocking only unblocks.
    pub blocked: bool,
}

impl ContactEdit {
    /// Applies the changes but the lists'; the consent the contact changed to, when it changed
    /// (its `consent` automations are the caller's to start).
    pub fn apply(self, contact: &mut Contact) -> Option<ConsentChoice> {
        contact.name = self.name.filter(|n| !n.trim().is_empty());
        contact.fields = self.fields;
        contact.tags = self.tags;
        contact.operator = self.operator;
        if self.blocked && !contact.blocked {
            contact.block();
        } else if !self.blocked {
            contact.blocked = false;
        }
        self.marketing.filter(|choice| contact.set_consent(*choice))
    }
}
