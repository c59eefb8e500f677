//! A workspace's automations, indexed the way the engine looks them up:
//! by phrase (O(1)), by list, the date automations, and the two fallbacks.
//! It enforces the cross-automation rules: one automation per normalised
//! phrase, at most one enabled `holiday` and one enabled `outside_hours`.

use crate::domain::automation::{Automation, Trigger};
use crate::domain::contact::ConsentChoice;
use crate::domain::ids::{AutomationId, ListName};
use crate::domain::phrase::Phrase;
use crate::fast::HashMap;
use std::sync::Arc;

/// Why an automation cannot join the catalog.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogError {
    #[error("the phrase \"{phrase}\" already starts automation `{holder}`")]
    PhraseConflict { phrase: Phrase, holder: AutomationId },
    #[error("automation `{holder}` is already the enabled {kind} automation; a workspace has at most one")]
    FallbackConflict { kind: &'static str, holder: AutomationId },
    #[error("an automation with id `{0}` already exists")]
    DuplicateId(AutomationId),
    #[error("no automation with id `{0}`")]
    NotFound(AutomationId),
}

impl CatalogError {
    /// The error code the API and `validate` report.
    pub fn code(&self) -> &'static str {
        match self {
            Self::PhraseConflict { .. } => "phrase_conflict",
            Self::FallbackConflict { .. } => "fallback_conflict",
            Self::DuplicateId(_) => "duplicate_id",
            Self::NotFound(_) => "not_found",
        }
    }

    /// Where in the document the conflict is.
    pub fn path(&self) -> &'static str {
        match self {
            Self::PhraseConflict { .. } => "trigger.phrase",
            Self::FallbackConflict { .. } => "trigger.type",
            Self::DuplicateId(_) | Self::NotFound(_) => "id",
        }
    }
}

/// One automation id's history.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Every version, oldest first; the last is current.
    pub versions: Vec<Arc<Automation>>,
    /// The last version at which the automation was disabled or deleted (0: never);
    /// runs pinned to an older version have their pending steps cancelled.
    pub last_disabled_version: u32,
}

impl Entry {
    pub fn current(&self) -> &Arc<Automation> {
        self.versions.last().expect("an entry holds at least one version")
    }

    pub fn version(&self, version: u32) -> Option<&Arc<Automation>> {
        self.versions.iter().find(|a| a.version == version)
    }
}

/// The automations of one workspace.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    entries: HashMap<AutomationId, Entry>,
    /// Deleted automations keep their versions so running runs can finish their lookups.
    deleted: HashMap<AutomationId, Entry>,
    phrases: HashMap<Phrase, AutomationId>,
    lists: HashMap<ListName, Vec<AutomationId>>,
    dates: Vec<AutomationId>,
    consents: HashMap<ConsentChoice, Vec<AutomationId>>,
    holiday: Option<AutomationId>,
    outside_hours: Option<AutomationId>,
}

impl Catalog {
    /// Adds a new automation as version 1 (its `version` field is overwritten).
    pub fn create(&mut self, mut automation: Automation) -> Result<Arc<Automation>, CatalogError> {
        let id = automation.id().clone();
        if self.entries.contains_key(&id) {
            return Err(CatalogError::DuplicateId(id));
        }
        self.check(&automation)?;
        automation.version = self.deleted.get(&id).map_or(1, |e| e.current().version + 1);
        let automation = Arc::new(automation);
        let mut entry = self.deleted.remove(&id).unwrap_or(Entry { versions: Vec::new(), last_disabled_version: 0 });
        entry.versions.push(automation.clone());
        self.index(&automation);
        self.entries.insert(id, entry);
        Ok(automation)
    }

    /// Replaces an automation with a new version; disabling it bumps its disable epoch.
    pub fn update(&mut self, mut automation: Automation) -> Result<Arc<Automation>, CatalogError> {
        let id = automation.id().clone();
        let previous = self.entries.get(&id).ok_or_else(|| CatalogError::NotFound(id.clone()))?.current().clone();
        self.unindex(&previous);
        if let Err(e) = self.check(&automation) {
            self.index(&previous);
            return Err(e);
        }
        let entry = self.entries.get_mut(&id).expect("checked above");
        automation.version = previous.version + 1;
        if previous.enabled && !automation.enabled {
            entry.last_disabled_version = automation.version;
        }
        let automation = Arc::new(automation);
        entry.versions.push(automation.clone());
        self.index(&automation);
        Ok(automation)
    }

    /// Deletes an automation: it stops firing, and its runs' pending steps are cancelled.
    pub fn delete(&mut self, id: &AutomationId) -> Result<(), CatalogError> {
        let mut entry = self.entries.remove(id).ok_or_else(|| CatalogError::NotFound(id.clone()))?;
        self.unindex(entry.current());
        // A re-created automation continues the version numbers, so this cancels every older run.
        entry.last_disabled_version = entry.current().version + 1;
        self.deleted.insert(id.clone(), entry);
        Ok(())
    }

    /// Whether `automation` could join without a conflict (ignoring its own current version).
    pub fn check(&self, automation: &Automation) -> Result<(), CatalogError> {
        let id = automation.id();
        match &automation.trigger {
            Trigger::CustomerMessage { phrase } => match self.phrases.get(phrase) {
                Some(holder) if holder != id => {
                    Err(CatalogError::PhraseConflict { phrase: phrase.clone(), holder: holder.clone() })
                }
                _ => Ok(()),
            },
            Trigger::Holiday { .. } | Trigger::OutsideHours { .. } if automation.enabled => {
                let holder = match automation.trigger {
                    Trigger::Holiday { .. } => &self.holiday,
                    _ => &self.outside_hours,
                };
                match holder {
                    Some(holder) if holder != id => {
                        Err(CatalogError::FallbackConflict { kind: automation.trigger.kind(), holder: holder.clone() })
                    }
                    _ => Ok(()),
                }
            }
            _ => Ok(()),
        }
    }

    fn index(&mut self, a: &Automation) {
        let id = a.id().clone();
        match &a.trigger {
            // A phrase stays claimed while its automation is disabled: re-enabling never conflicts.
            Trigger::CustomerMessage { phrase } => {
                self.phrases.insert(phrase.clone(), id);
            }
            Trigger::List { list } => self.lists.entry(list.clone()).or_default().push(id),
            Trigger::Date { .. } => self.dates.push(id),
            Trigger::Consent { marketing } => self.consents.entry(*marketing).or_default().push(id),
            Trigger::Holiday { .. } if a.enabled => self.holiday = Some(id),
            Trigger::OutsideHours { .. } if a.enabled => self.outside_hours = Some(id),
            _ => {}
        }
    }

    fn unindex(&mut self, a: &Automation) {
        let id = a.id();
        match &a.trigger {
            Trigger::CustomerMessage { phrase } => {
                self.phrases.remove(phrase);
            }
            Trigger::List { list } => {
                if let Some(ids) = self.lists.get_mut(list) {
                    ids.retain(|i| i != id);
                }
            }
            Trigger::Date { .. } => self.dates.retain(|i| i != id),
            Trigger::Consent { marketing } => {
                if let Some(ids) = self.consents.get_mut(marketing) {
                    ids.retain(|i| i != id);
                }
            }
            Trigger::Holiday { .. } if self.holiday.as_ref() == Some(id) => self.holiday = None,
            Trigger::OutsideHours { .. } if self.outside_hours.as_ref() == Some(id) => self.outside_hours = None,
            _ => {}
        }
    }

    /// The live entry of `id` (not deleted).
    pub fn entry(&self, id: &AutomationId) -> Option<&Entry> {
        self.entries.get(id)
    }

    /// Whether runs of `id` may go on: `None` once it is deleted.
    pub fn liveness(&self, id: &AutomationId) -> Option<crate::engine::Liveness> {
        self.entries.get(id).map(|e| crate::engine::Liveness {
            enabled: e.current().enabled,
            last_disabled_version: e.last_disabled_version,
        })
    }

    /// A version of `id`, live or deleted: what a pinned run executes.
    pub fn version(&self, id: &AutomationId, version: u32) -> Option<&Arc<Automation>> {
        self.entries.get(id).or_else(|| self.deleted.get(id)).and_then(|e| e.version(version))
    }

    /// Every version of `id`, live or deleted, oldest first.
    pub fn versions(&self, id: &AutomationId) -> &[Arc<Automation>] {
        self.entries.get(id).or_else(|| self.deleted.get(id)).map_or(&[], |e| &e.versions)
    }

    pub fn current(&self, id: &AutomationId) -> Option<&Arc<Automation>> {
        self.entries.get(id).map(Entry::current)
    }

    /// The automation a phrase starts, enabled or not.
    pub fn by_phrase(&self, phrase: &Phrase) -> Option<&Arc<Automation>> {
        self.phrases.get(phrase).and_then(|id| self.current(id))
    }

    /// The enabled automations with a `list` trigger on `list`.
    pub fn by_list<'a>(&'a self, list: &ListName) -> impl Iterator<Item = &'a Arc<Automation>> + 'a {
        self.lists.get(list).into_iter().flatten().filter_map(|id| self.current(id)).filter(|a| a.enabled)
    }

    /// The enabled automations with a `consent` trigger on `marketing`.
    pub fn by_consent(&self, marketing: ConsentChoice) -> impl Iterator<Item = &Arc<Automation>> {
        self.consents.get(&marketing).into_iter().flatten().filter_map(|id| self.current(id)).filter(|a| a.enabled)
    }

    /// The enabled automations with a `date` trigger.
    pub fn dated(&self) -> impl Iterator<Item = &Arc<Automation>> {
        self.dates.iter().filter_map(|id| self.current(id)).filter(|a| a.enabled)
    }

    /// The enabled `holiday` and `outside_hours` automations.
    pub fn fallbacks(&self) -> Fallbacks {
        Fallbacks {
            holiday: self.holiday.as_ref().and_then(|id| self.current(id)).cloned(),
            outside_hours: self.outside_hours.as_ref().and_then(|id| self.current(id)).cloned(),
        }
    }

    /// Every live automation's current version, in id order.
    pub fn all(&self) -> Vec<Arc<Automation>> {
        let mut all: Vec<_> = self.entries.values().map(|e| e.current().clone()).collect();
        all.sort_by(|a, b| a.id().cmp(b.id()));
        all
    }
}

/// The workspace's enabled fallback automations.
#[derive(Debug, Clone, Default)]
pub struct Fallbacks {
    pub holiday: Option<Arc<Automation>>,
    pub outside_hours: Option<Arc<Automation>>,
}
