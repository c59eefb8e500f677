//! The catalog on DynamoDB: head and version items, and the index items that enforce
//! `avvio_common::catalog`'s rules with conditions (one automation per phrase, one
//! enabled fallback per kind, integration ids unique across workspaces), all written
//! in one transaction per create, update or delete.

use super::DynamoStore;
use super::keys::{self, Index};
use super::table::{
    Cond, Item, SortKeys, Tx, TxError, backoff, get_bool, get_doc, get_n, get_parsed, item, json, key_of, n, s,
};
use avvio_common::catalog::{CatalogError, Fallbacks};
use avvio_common::domain::automation::{Automation, Trigger};
use avvio_common::domain::contact::ConsentChoice;
use avvio_common::domain::ids::{AutomationId, ListName, WorkspaceId};
use avvio_common::domain::phrase::Phrase;
use avvio_common::engine::Liveness;
use avvio_common::ports::{Page, StoreError, WriteError};
use aws_sdk_dynamodb::types::AttributeValue;
use std::sync::Arc;

/// How many times a catalog write re-reads and decides again after another writer got in first.
const ATTEMPTS: u32 = 5;

/// An automation's head item: its current version and where it is in its life.
pub(super) struct Head {
    pub current: Arc<Automation>,
    pub last_disabled_version: u32,
    pub deleted: bool,
}

impl Head {
    /// Whether the automation's runs may go on (`None`: deleted).
    pub fn liveness(&self) -> Option<Liveness> {
        (!self.deleted)
            .then(|| Liveness { enabled: self.current.enabled, last_disabled_version: self.last_disabled_version })
    }
}

/// The enabled fallbacks among fallback claim items.
pub(super) fn fallbacks_of<'a>(items: impl IntoIterator<Item = &'a Item>) -> Result<Fallbacks, StoreError> {
    let mut fallbacks = Fallbacks::default();
    for item in items {
        let automation = Arc::new(get_doc::<Automation>(item)?);
        match automation.trigger {
            Trigger::Holiday { .. } if automation.enabled => fallbacks.holiday = Some(automation),
            Trigger::OutsideHours { .. } if automation.enabled => fallbacks.outside_hours = Some(automation),
            _ => {}
        }
    }
    Ok(fallbacks)
}

pub(super) fn read_head(item: &Item) -> Result<Head, StoreError> {
    let current: Automation = get_doc(item)?;
    Ok(Head {
        current: Arc::new(current),
        last_disabled_version: get_n(item, "last_disabled_version")?,
        deleted: get_bool(item, "deleted")?,
    })
}

fn head_item(
    ws: &WorkspaceId,
    current: &Automation,
    last_disabled_version: u32,
    deleted: bool,
) -> Result<Item, StoreError> {
    let id = current.id();
    Ok(item(
        &keys::head(ws, id),
        [
            ("id", s(id.as_str())),
            ("doc", json(current)?),
            ("version", n(current.version)),
            ("enabled", AttributeValue::Bool(current.enabled)),
            ("last_disabled_version", n(last_disabled_version)),
            ("deleted", AttributeValue::Bool(deleted)),
        ],
    ))
}

/// The head still is the one read: same version, same deletion state.
fn head_unchanged(head: &Head) -> Cond {
    Cond::equals("version", n(head.current.version)).and(Cond::equals("deleted", AttributeValue::Bool(head.deleted)))
}

/// What an operation of a catalog write is about.
enum Role {
    Head,
    Version,
    Claim(Index),
    Unindex,
}

/// How a catalog write attempt ended when it did not commit.
enum Failed {
    /// Another writer changed the automation or a claim meanwhile: read again and retry.
    Again,
    Refused(WriteError),
}

impl From<StoreError> for Failed {
    fn from(e: StoreError) -> Self {
        Self::Refused(e.into())
    }
}

impl DynamoStore {
    pub(super) async fn head(&self, ws: &WorkspaceId, id: &AutomationId) -> Result<Option<Head>, StoreError> {
        self.get(&keys::head(ws, id)).await?.as_ref().map(read_head).transpose()
    }

    pub(super) async fn version_of(
        &self,
        ws: &WorkspaceId,
        id: &AutomationId,
        version: u32,
    ) -> Result<Option<Arc<Automation>>, StoreError> {
        let item = self.get(&keys::version(ws, id, version)).await?;
        item.map(|item| get_doc(&item).map(Arc::new)).transpose()
    }

    /// Every stored version of `id`, oldest first.
    pub(super) async fn all_versions(
        &self,
        ws: &WorkspaceId,
        id: &AutomationId,
    ) -> Result<Vec<Arc<Automation>>, StoreError> {
        let items = self.query_prefix(&keys::workspace_pk(ws), &keys::versions_prefix(id)).await?;
        items.iter().map(|item| get_doc(item).map(Arc::new)).collect()
    }

    pub(super) async fn by_phrase(
        &self,
        ws: &WorkspaceId,
        phrase: &Phrase,
    ) -> Result<Option<Arc<Automation>>, StoreError> {
        let item = self.get(&keys::phrase(ws, phrase)).await?;
        item.map(|item| get_doc(&item).map(Arc::new)).transpose()
    }

    pub(super) async fn by_hook(
        &self,
        id: &AutomationId,
    ) -> Result<Option<(WorkspaceId, Arc<Automation>)>, StoreError> {
        let Some(item) = self.get(&keys::hook(id)).await? else { return Ok(None) };
        let ws = get_parsed(&item, "ws", WorkspaceId::parse)?;
        let automation: Automation = get_doc(&item)?;
        Ok(matches!(automation.trigger, Trigger::Integration { .. }).then(|| (ws, Arc::new(automation))))
    }

    /// The documents of the index items under `prefix`.
    async fn indexed(&self, ws: &WorkspaceId, prefix: &str) -> Result<Vec<Arc<Automation>>, StoreError> {
        let items = self.query_prefix(&keys::workspace_pk(ws), prefix).await?;
        items.iter().map(|item| get_doc(item).map(Arc::new)).collect()
    }

    pub(super) async fn enabled_fallbacks(&self, ws: &WorkspaceId) -> Result<Fallbacks, StoreError> {
        fallbacks_of(&self.query_prefix(&keys::workspace_pk(ws), keys::FALLBACK_PREFIX).await?)
    }

    pub(super) async fn by_list(&self, ws: &WorkspaceId, list: &ListName) -> Result<Vec<Arc<Automation>>, StoreError> {
        let mut automations = self.indexed(ws, &keys::list_automations_prefix(list)).await?;
        // A list name may contain `#`: keep only this list's automations.
        automations.retain(|a| a.enabled && matches!(&a.trigger, Trigger::List { list: l } if l == list));
        Ok(automations)
    }

    pub(super) async fn by_consent(
        &self,
        ws: &WorkspaceId,
        marketing: ConsentChoice,
    ) -> Result<Vec<Arc<Automation>>, StoreError> {
        let mut automations = self.indexed(ws, &keys::consent_automations_prefix(marketing)).await?;
        automations.retain(|a| a.enabled && matches!(a.trigger, Trigger::Consent { marketing: m } if m == marketing));
        Ok(automations)
    }

    pub(super) async fn dated(&self, ws: &WorkspaceId) -> Result<Vec<Arc<Automation>>, StoreError> {
        let mut automations = self.indexed(ws, keys::DATE_AUTOMATIONS_PREFIX).await?;
        automations.retain(|a| a.enabled && matches!(a.trigger, Trigger::Date { .. }));
        Ok(automations)
    }

    /// Every head, deleted ones included, in id order.
    pub(super) async fn heads(&self, ws: &WorkspaceId) -> Result<Vec<Head>, StoreError> {
        let items = self.query_prefix(&keys::workspace_pk(ws), keys::HEAD_PREFIX).await?;
        items.iter().map(read_head).collect()
    }

    pub(super) async fn live_automations(&self, ws: &WorkspaceId) -> Result<Vec<Arc<Automation>>, StoreError> {
        let mut live: Vec<_> = self.heads(ws).await?.into_iter().filter(|h| !h.deleted).map(|h| h.current).collect();
        live.sort_by(|a, b| a.id().cmp(b.id()));
        Ok(live)
    }

    /// A page of the live automations after id `after`, in id order: the head items a Query
    /// page at a time from `after`'s, until the page and one more are found or none are left
    /// (deleted heads are read and skipped).
    pub(super) async fn listed_automations(
        &self,
        ws: &WorkspaceId,
        after: Option<&AutomationId>,
        limit: usize,
    ) -> Result<Page<Arc<Automation>, AutomationId>, StoreError> {
        if limit == 0 {
            return Ok(Page { items: Vec::new(), next: None });
        }
        let pk = keys::workspace_pk(ws);
        let mut position = after.map(|id| keys::head(ws, id).sk);
        let wanted = limit.saturating_add(1);
        let mut live = Vec::new();
        loop {
            let room = i32::try_from(wanted - live.len()).unwrap_or(i32::MAX);
            let page = self.page_limit.map_or(room, |p| p.min(room));
            let (items, next) =
                self.query_page(&pk, SortKeys::Prefix(keys::HEAD_PREFIX), position.as_deref(), page).await?;
            for item in &items {
                let head = read_head(item)?;
                if !head.deleted {
                    live.push(head.current);
                }
            }
            position = next;
            if live.len() >= wanted || position.is_none() {
                return Ok(Page::first(live, limit, |a| a.id().clone()));
            }
        }
    }

    /// `Catalog::create`: version 1, or the version after a deleted predecessor's.
    pub(super) async fn insert_automation(
        &self,
        ws: &WorkspaceId,
        automation: Automation,
    ) -> Result<Arc<Automation>, WriteError> {
        let id = automation.id().clone();
        for attempt in 0..ATTEMPTS {
            let head = self.head(ws, &id).await?;
            let mut next = automation.clone();
            let (last_disabled_version, head_cond) = match &head {
                Some(head) if !head.deleted => return Err(CatalogError::DuplicateId(id).into()),
                Some(head) => {
                    next.version = head.current.version + 1;
                    (head.last_disabled_version, head_unchanged(head))
                }
                None => {
                    next.version = 1;
                    (0, Cond::absent())
                }
            };
            let next = Arc::new(next);
            // A deleted predecessor's index items went with it.
            match self.write_version(ws, &next, last_disabled_version, head_cond, &[]).await {
                Ok(()) => return Ok(next),
                Err(Failed::Again) => backoff(attempt).await,
                Err(Failed::Refused(e)) => return Err(e),
            }
        }
        Err(StoreError::Conflict(format!("automation {id}")).into())
    }

    /// `Catalog::update`: the next version; disabling it moves `last_disabled_version` to it.
    pub(super) async fn replace_automation(
        &self,
        ws: &WorkspaceId,
        automation: Automation,
    ) -> Result<Arc<Automation>, WriteError> {
        let id = automation.id().clone();
        for attempt in 0..ATTEMPTS {
            let head = self.head(ws, &id).await?.filter(|h| !h.deleted);
            let head = head.ok_or_else(|| CatalogError::NotFound(id.clone()))?;
            let mut next = automation.clone();
            next.version = head.current.version + 1;
            let last_disabled_version =
                if head.current.enabled && !next.enabled { next.version } else { head.last_disabled_version };
            let next = Arc::new(next);
            let previous = Index::of(&head.current);
            match self.write_version(ws, &next, last_disabled_version, head_unchanged(&head), &previous).await {
                Ok(()) => return Ok(next),
                Err(Failed::Again) => backoff(attempt).await,
                Err(Failed::Refused(e)) => return Err(e),
            }
        }
        Err(StoreError::Conflict(format!("automation {id}")).into())
    }

    /// `Catalog::delete`: the head stays (deleted, so a re-create continues its versions) and
    /// so do the versions; the index items and the automation's date items go.
    pub(super) async fn remove_automation(&self, ws: &WorkspaceId, id: &AutomationId) -> Result<(), WriteError> {
        let what = format!("automation {id}");
        let mut removed = false;
        for attempt in 0..ATTEMPTS {
            let head = self.head(ws, id).await?.filter(|h| !h.deleted);
            let head = head.ok_or_else(|| CatalogError::NotFound(id.clone()))?;
            let mut tx = Tx::default();
            let last_disabled_version = head.current.version + 1;
            tx.put(Role::Head, head_item(ws, &head.current, last_disabled_version, true)?, Some(head_unchanged(&head)));
            for index in Index::of(&head.current) {
                tx.delete(Role::Unindex, index.key(ws, id), None);
            }
            match self.commit(tx, &what).await {
                Ok(()) => {
                    removed = true;
                    break;
                }
                Err(TxError::Store(StoreError::Conflict(_)) | TxError::Refused(_)) => backoff(attempt).await,
                Err(TxError::Store(e)) => return Err(e.into()),
            }
        }
        if !removed {
            return Err(StoreError::Conflict(what).into());
        }
        let dates = self.query_prefix(&keys::workspace_pk(ws), &keys::dates_of_prefix(id)).await?;
        let keys = dates.iter().map(key_of).collect::<Result<Vec<_>, _>>()?;
        Ok(self.batch_delete(keys).await?)
    }

    /// One transaction: the head (if `head_cond` holds), the new version item, the new
    /// version's index claims, and the removal of the `previous` indexes it no longer has.
    async fn write_version(
        &self,
        ws: &WorkspaceId,
        next: &Arc<Automation>,
        last_disabled_version: u32,
        head_cond: Cond,
        previous: &[Index],
    ) -> Result<(), Failed> {
        let id = next.id();
        let doc = json(&**next)?;
        let indexes = Index::of(next);
        let mut tx = Tx::default();
        // Claims first: the likeliest refusals.
        for index in &indexes {
            let cond = match index {
                Index::Phrase(_) | Index::Fallback(_) => Some(Cond::absent().or(Cond::equals("id", s(id.as_str())))),
                Index::Hook => Some(Cond::absent().or(Cond::equals("ws", s(ws.as_str())))),
                Index::List(_) | Index::Date | Index::Consent(_) => None,
            };
            let claim =
                item(&index.key(ws, id), [("id", s(id.as_str())), ("ws", s(ws.as_str())), ("doc", doc.clone())]);
            tx.put(Role::Claim(index.clone()), claim, cond);
        }
        for index in previous.iter().filter(|i| !indexes.contains(i)) {
            tx.delete(Role::Unindex, index.key(ws, id), None);
        }
        tx.put(Role::Head, head_item(ws, next, last_disabled_version, false)?, Some(head_cond));
        let version = item(&keys::version(ws, id, next.version), [("id", s(id.as_str())), ("doc", doc)]);
        tx.put(Role::Version, version, Some(Cond::absent()));
        match self.commit(tx, &format!("automation {id}")).await {
            Ok(()) => Ok(()),
            Err(TxError::Store(StoreError::Conflict(_))) => Err(Failed::Again),
            Err(TxError::Store(e)) => Err(e.into()),
            Err(TxError::Refused(refused)) => Err(self.refusal(ws, id, refused).await),
        }
    }

    /// Which rule a refused catalog write broke, in `MemoryStore`'s order: the integration id,
    /// then the id (a changed head: decided again on a fresh read), then phrase and fallback.
    async fn refusal(&self, ws: &WorkspaceId, id: &AutomationId, refused: Vec<(Role, Option<Item>)>) -> Failed {
        if refused.iter().any(|(role, _)| matches!(role, Role::Claim(Index::Hook))) {
            return Failed::Refused(WriteError::IntegrationIdTaken(id.clone()));
        }
        if refused.iter().any(|(role, _)| matches!(role, Role::Head | Role::Version | Role::Unindex)) {
            return Failed::Again;
        }
        for (role, old) in refused {
            let Role::Claim(index) = role else { continue };
            let holder = match old {
                Some(old) => Some(old),
                None => match self.get(&index.key(ws, id)).await {
                    Ok(found) => found,
                    Err(e) => return e.into(),
                },
            };
            // The holder let go meanwhile: try again.
            let Some(holder) = holder else { return Failed::Again };
            let holder = match get_parsed(&holder, "id", AutomationId::parse) {
                Ok(holder) => holder,
                Err(e) => return e.into(),
            };
            let error = match index {
                Index::Phrase(phrase) => CatalogError::PhraseConflict { phrase, holder },
                Index::Fallback(kind) => CatalogError::FallbackConflict { kind, holder },
                Index::List(_) | Index::Date | Index::Consent(_) | Index::Hook => continue,
            };
            return Failed::Refused(error.into());
        }
        Failed::Again
    }
}
