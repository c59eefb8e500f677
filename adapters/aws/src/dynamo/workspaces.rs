//! Workspace documents, the number and account (WABA) routes webhooks resolve, API keys,
//! and the claim of the clock's daily template sync.

use super::DynamoStore;
use super::keys;
use super::table::{Cond, Item, Tx, TxError, get_doc, get_n, get_parsed, item, n, s};
use avvio_common::domain::ids::{Language, TemplateName, WorkspaceId};
use avvio_common::domain::workspace::{TemplateStatus, Workspace};
use avvio_common::ports::{KeyHash, StoreError, Versioned, WriteError};
use std::sync::Arc;

/// What a workspace write's operations are about.
enum Role {
    Document,
    Number(String),
    OldNumber,
    Waba,
    OldWaba,
}

fn workspace_id(item: &Item) -> Result<WorkspaceId, StoreError> {
    get_parsed(item, "ws", WorkspaceId::parse)
}

impl DynamoStore {
    pub(super) async fn workspace_doc(
        &self,
        ws: &WorkspaceId,
    ) -> Result<Option<Versioned<Arc<Workspace>>>, StoreError> {
        let Some(item) = self.get(&keys::workspace(ws)).await? else { return Ok(None) };
        let doc: Workspace = get_doc(&item)?;
        Ok(Some(Versioned { item: Arc::new(doc), revision: Some(get_n(&item, "rev")?) }))
    }

    pub(super) async fn number_route(&self, phone_number_id: &str) -> Result<Option<WorkspaceId>, StoreError> {
        self.get(&keys::number(phone_number_id)).await?.map(|item| workspace_id(&item)).transpose()
    }

    /// The workspaces routed from WhatsApp Business Account `waba_id` (`None`: every account's).
    pub(super) async fn waba_routes(&self, waba_id: Option<&str>) -> Result<Vec<WorkspaceId>, StoreError> {
        let items = match waba_id {
            Some(waba_id) => self.query_prefix(keys::WABA_PK, &keys::waba_prefix(waba_id)).await?,
            // Every route: account ids are digits, so every sort key lies between these.
            None => self.query_between(keys::WABA_PK, "0", "~").await?,
        };
        let mut routes = items.iter().map(workspace_id).collect::<Result<Vec<_>, _>>()?;
        routes.sort();
        routes.dedup();
        Ok(routes)
    }

    /// Sets a template's status in the document, re-reading it when a concurrent write wins.
    pub(super) async fn write_template_status(
        &self,
        ws: &WorkspaceId,
        name: &TemplateName,
        language: &Language,
        status: TemplateStatus,
    ) -> Result<bool, StoreError> {
        let mut attempt = 0;
        loop {
            let Some(stored) = self.workspace_doc(ws).await? else { return Ok(false) };
            let Some(template) = stored.item.template(name, language) else { return Ok(false) };
            if template.status == status {
                return Ok(true);
            }
            let mut doc = Workspace::clone(&stored.item);
            if let Some(t) = doc.templates.iter_mut().find(|t| &t.name == name && &t.language == language) {
                t.status = status;
            }
            match self.write_workspace(ws, &doc, stored.revision).await {
                Ok(_) => return Ok(true),
                Err(WriteError::Store(StoreError::Conflict(_))) if attempt < 4 => attempt += 1,
                Err(WriteError::Store(e)) => return Err(e),
                Err(other) => return Err(StoreError::Unavailable(other.to_string())),
            }
        }
    }

    /// Claims the daily template sync of `day`: a consistent read, and a conditional write
    /// only on the first pass of the day.
    pub(super) async fn claim_sync_day(&self, day: chrono::NaiveDate) -> Result<bool, StoreError> {
        let key = keys::template_sync_claim();
        let wanted = day.format("%Y-%m-%d").to_string();
        let claimed = self.get(&key).await?.and_then(|item| item.get("day").and_then(|v| v.as_s().ok()).cloned());
        if claimed.as_ref().is_some_and(|claimed| *claimed >= wanted) {
            return Ok(false);
        }
        let cond = match &claimed {
            Some(before) => Cond::equals("day", s(before)),
            None => Cond::absent(),
        };
        let mut tx = Tx::default();
        tx.put((), item(&key, [("day", s(&wanted))]), Some(cond));
        match self.commit(tx, "the template sync claim").await {
            Ok(()) => Ok(true),
            Err(TxError::Refused(_)) | Err(TxError::Store(StoreError::Conflict(_))) => Ok(false),
            Err(TxError::Store(e)) => Err(e),
        }
    }

    pub(super) async fn key_route(&self, key: &KeyHash) -> Result<Option<WorkspaceId>, StoreError> {
        self.get(&keys::api_key(key)).await?.map(|item| workspace_id(&item)).transpose()
    }

    pub(super) async fn write_key_route(&self, key: &KeyHash, ws: &WorkspaceId) -> Result<(), StoreError> {
        self.put(item(&keys::api_key(key), [("ws", s(ws.as_str()))])).await
    }

    /// The document (conditional on its revision), its number's route (refused when another
    /// workspace holds the number) and the removal of the route of a number it no longer has.
    pub(super) async fn write_workspace(
        &self,
        ws: &WorkspaceId,
        doc: &Workspace,
        expected: Option<u64>,
    ) -> Result<u64, WriteError> {
        let conflict = || WriteError::Store(StoreError::Conflict(format!("workspace {ws}")));
        let key = keys::workspace(ws);
        let stored = self.get(&key).await?;
        let (revision, old_number) = match &stored {
            Some(item) => (Some(get_n::<u64>(item, "rev")?), item.get("number").and_then(|v| v.as_s().ok()).cloned()),
            None => (None, None),
        };
        let old_waba = stored.as_ref().and_then(|item| item.get("waba")).and_then(|v| v.as_s().ok()).cloned();
        let waba = doc.whatsapp.as_ref().and_then(|w| w.waba_id.clone());
        if revision != expected {
            return Err(conflict());
        }
        let next = expected.map_or(1, |r| r + 1);
        let number = doc.whatsapp.as_ref().map(|w| w.phone_number_id.clone());
        let document = serde_json::to_string(&doc.stored_view())
            .map_err(|e| StoreError::Unavailable(format!("cannot encode workspace {ws}: {e}")))?;
        let mut attributes = item(&key, [("doc", s(document)), ("rev", n(next)), ("ws", s(ws.as_str()))]);
        if let Some(number) = &number {
            attributes.insert("number".into(), s(number));
        }
        if let Some(waba) = &waba {
            attributes.insert("waba".into(), s(waba));
        }
        let mut tx = Tx::default();
        let doc_cond = match expected {
            Some(r) => Cond::equals("rev", n(r)),
            None => Cond::absent(),
        };
        tx.put(Role::Document, attributes, Some(doc_cond));
        let ours = || Cond::absent().or(Cond::equals("ws", s(ws.as_str())));
        if let Some(number) = &number {
            let route = item(&keys::number(number), [("ws", s(ws.as_str()))]);
            tx.put(Role::Number(number.clone()), route, Some(ours()));
        }
        if let Some(old) = old_number.filter(|old| Some(old) != number.as_ref()) {
            tx.delete(Role::OldNumber, keys::number(&old), Some(ours()));
        }
        // Accounts are shared (several workspaces may send from numbers of one account): a
        // route per (account, workspace), written when the account is new to the document.
        if let Some(waba) = waba.as_ref().filter(|waba| old_waba.as_ref() != Some(*waba)) {
            let route = item(&keys::waba(waba, ws), [("ws", s(ws.as_str())), ("waba", s(waba))]);
            tx.put(Role::Waba, route, None);
        }
        if let Some(old) = old_waba.filter(|old| Some(old) != waba.as_ref()) {
            tx.delete(Role::OldWaba, keys::waba(&old, ws), None);
        }
        match self.commit(tx, &format!("workspace {ws}")).await {
            Ok(()) => Ok(next),
            Err(TxError::Store(e)) => Err(e.into()),
            Err(TxError::Refused(refused)) => {
                let taken = refused.into_iter().find_map(|(role, _)| match role {
                    Role::Number(number) => Some(number),
                    Role::Document | Role::OldNumber | Role::Waba | Role::OldWaba => None,
                });
                Err(taken.map_or_else(conflict, WriteError::NumberTaken))
            }
        }
    }
}
