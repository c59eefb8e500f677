//! Workspace documents, the number routes webhooks resolve, and API keys.

use super::DynamoStore;
use super::keys;
use super::table::{Cond, Item, Tx, TxError, get_doc, get_n, get_parsed, item, n, s};
use avvio_common::domain::ids::WorkspaceId;
use avvio_common::domain::workspace::Workspace;
use avvio_common::ports::{KeyHash, StoreError, Versioned, WriteError};
use std::sync::Arc;

/// What a workspace write's operations are about.
enum Role {
    Document,
    Number(String),
    OldNumber,
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
        match self.commit(tx, &format!("workspace {ws}")).await {
            Ok(()) => Ok(next),
            Err(TxError::Store(e)) => Err(e.into()),
            Err(TxError::Refused(refused)) => {
                let taken = refused.into_iter().find_map(|(role, _)| match role {
                    Role::Number(number) => Some(number),
                    Role::Document | Role::OldNumber => None,
                });
                Err(taken.map_or_else(conflict, WriteError::NumberTaken))
            }
        }
    }
}
