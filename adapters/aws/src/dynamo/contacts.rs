//! Contacts: one document item under the contact's primary key (the key it was created
//! by), an alias item for each other key, and a membership item per list it is in.
//!
//! A contact keeps its primary key for life (a contact created by BSUID and later linked
//! to its phone stays under the BSUID); lookups go through aliases first, so a key moved to
//! another contact by a webhook carrying both ids finds the contact it was linked to last,
//! as in `MemoryStore`.

use super::DynamoStore;
use super::dates::date_item;
use super::keys;
use super::table::{
    Cond, Item, Key, TRANSACTION_MAX, Tx, TxError, get_doc, get_n, get_parsed, get_s, item, json, key_of, n, s,
};
use avvio_common::calendar::Due;
use avvio_common::domain::contact::Contact;
use avvio_common::domain::ids::{AutomationId, ListName, WorkspaceId};
use avvio_common::domain::phone::ContactKey;
use avvio_common::ports::{ContactFilter, Snapshot, StoreError};
use std::collections::HashMap;

/// A contact document; one without any key would break every reader, so it counts as corrupt.
fn read_contact(item: &Item) -> Result<Contact, StoreError> {
    let contact: Contact = get_doc(item)?;
    if contact.keys().is_empty() {
        return Err(StoreError::Unavailable(format!(
            "corrupt item {}: a contact without phone or BSUID",
            key_of(item)?
        )));
    }
    Ok(contact)
}

fn membership(ws: &WorkspaceId, list: &ListName, primary: &ContactKey) -> Item {
    item(&keys::member(ws, list, primary), [("primary", s(primary.as_str())), ("list", s(list.as_str()))])
}

/// The items [`DynamoStore::resolve_from`] looks a contact up in: each key's alias and document.
pub(super) fn lookup_keys<'a>(ws: &'a WorkspaceId, keys: &'a [ContactKey]) -> impl Iterator<Item = Key> + 'a {
    keys.iter().flat_map(move |k| [keys::alias(ws, k), keys::contact(ws, k)])
}

/// Adds to `tx` the writes that store `contact` over `before` (`None`: a new contact, whose
/// keys must all be free): the document if its revision still is `before`'s, an alias item
/// for each key it gained, membership items for the lists it joined and left. Returns the
/// contact as stored once `tx` commits.
pub(super) fn stage_contact<R: Clone>(
    tx: &mut Tx<R>,
    role: R,
    ws: &WorkspaceId,
    contact: &Contact,
    before: Option<&Snapshot>,
) -> Result<Snapshot, StoreError> {
    let keys = contact.keys();
    if keys.is_empty() {
        return Err(StoreError::Unavailable("a contact needs a phone or a BSUID to be stored".into()));
    }
    let (home, revision, doc_cond) = match before {
        Some(before) => (before.home.clone(), before.revision + 1, Cond::equals("rev", n(before.revision))),
        None => (contact.key(), 1, Cond::absent()),
    };
    let doc = item(&keys::contact(ws, &home), [("doc", json(contact)?), ("rev", n(revision))]);
    tx.put(role.clone(), doc, Some(doc_cond));
    let had = |key: &ContactKey| before.is_some_and(|b| b.contact.keys().contains(key));
    for key in keys.iter().filter(|k| **k != home && !had(k)) {
        let alias = item(&keys::alias(ws, key), [("primary", s(home.as_str()))]);
        if before.is_none() {
            // A new contact: none of its keys may find another one.
            tx.put(role.clone(), alias, Some(Cond::absent()));
            tx.check(role.clone(), keys::contact(ws, key), Cond::absent());
        } else {
            // A key learned later joins this contact (MemoryStore relinks it too).
            tx.put(role.clone(), alias, None);
        }
    }
    if before.is_none() {
        tx.check(role.clone(), keys::alias(ws, &home), Cond::absent());
    }
    let empty = Default::default();
    let lists_before = before.map_or(&empty, |b| &b.contact.lists);
    for list in contact.lists.difference(lists_before) {
        tx.put(role.clone(), membership(ws, list, &home), None);
    }
    for list in lists_before.difference(&contact.lists) {
        tx.delete(role.clone(), keys::member(ws, list, &home), None);
    }
    Ok(Snapshot { contact: contact.clone(), revision, home })
}

impl DynamoStore {
    /// The contact the first of `keys` that is known finds: one batch read of each key's
    /// alias and document items, plus one read when the key is an alias.
    pub(super) async fn resolve(&self, ws: &WorkspaceId, keys: &[ContactKey]) -> Result<Option<Snapshot>, StoreError> {
        let mut found = self.batch_get(lookup_keys(ws, keys)).await?;
        self.resolve_from(ws, keys, &mut found).await
    }

    /// [`Self::resolve`] on items read already (at least those of [`lookup_keys`]).
    pub(super) async fn resolve_from(
        &self,
        ws: &WorkspaceId,
        keys: &[ContactKey],
        found: &mut HashMap<Key, Item>,
    ) -> Result<Option<Snapshot>, StoreError> {
        for key in keys {
            let home = match found.get(&keys::alias(ws, key)) {
                Some(alias) => get_parsed(alias, "primary", ContactKey::parse)?,
                None if found.contains_key(&keys::contact(ws, key)) => key.clone(),
                None => continue,
            };
            let doc_key = keys::contact(ws, &home);
            let item = match found.remove(&doc_key) {
                Some(item) => Some(item),
                None => self.get(&doc_key).await?,
            };
            // An alias whose contact is gone finds nothing.
            if let Some(item) = item {
                return Ok(Some(Snapshot { contact: read_contact(&item)?, revision: get_n(&item, "rev")?, home }));
            }
        }
        Ok(None)
    }

    /// Writes the contact if its stored revision still is `expected` (`None`: it must not exist).
    pub(super) async fn write_contact(
        &self,
        ws: &WorkspaceId,
        contact: &Contact,
        expected: Option<u64>,
    ) -> Result<u64, StoreError> {
        let what = format!("contact {}", contact.key());
        let conflict = || StoreError::Conflict(what.clone());
        let before = match (self.resolve(ws, &contact.keys()).await?, expected) {
            (Some(stored), Some(expected)) if stored.revision == expected => Some(stored),
            (None, None) => None,
            _ => return Err(conflict()),
        };
        let mut tx = Tx::default();
        let after = stage_contact(&mut tx, (), ws, contact, before.as_ref())?;
        match self.commit(tx, &what).await {
            Ok(()) => Ok(after.revision),
            Err(TxError::Refused(_)) => Err(conflict()),
            Err(TxError::Store(e)) => Err(e),
        }
    }

    /// Bulk loading (a migration, a benchmark): writes contacts that do not exist yet, each
    /// with when its date automations next come due, in 25-item `BatchWriteItem`s, without
    /// conditions. Nothing else may write these contacts meanwhile; `put_contact` is the
    /// checked way.
    pub async fn import_contacts(
        &self,
        ws: &WorkspaceId,
        contacts: &[(Contact, Vec<(AutomationId, Due)>)],
    ) -> Result<(), StoreError> {
        let mut items = Vec::new();
        for (contact, dates) in contacts {
            let mut tx = Tx::default();
            stage_contact(&mut tx, (), ws, contact, None)?;
            items.extend(tx.into_puts());
            items.extend(dates.iter().map(|(automation, due)| date_item(ws, automation, &contact.key(), *due)));
        }
        self.batch_put(items).await
    }

    /// The members of `list`, by key.
    pub(super) async fn members(&self, ws: &WorkspaceId, list: &ListName) -> Result<Vec<Contact>, StoreError> {
        let items = self.query_prefix(&keys::workspace_pk(ws), &keys::members_prefix(list)).await?;
        let (mut members, _) = self.contacts_of_memberships(ws, list, &items).await?;
        members.sort_by_key(Contact::key);
        Ok(members)
    }

    /// The contacts that membership `items` of `list` name, in their order, and the last key
    /// named. Skips a membership left by a contact deleted and created again, and lists whose
    /// name extends this one's.
    async fn contacts_of_memberships(
        &self,
        ws: &WorkspaceId,
        list: &ListName,
        items: &[Item],
    ) -> Result<(Vec<Contact>, Option<ContactKey>), StoreError> {
        let primaries =
            items.iter().map(|item| get_parsed(item, "primary", ContactKey::parse)).collect::<Result<Vec<_>, _>>()?;
        let found = self.batch_get(primaries.iter().map(|p| keys::contact(ws, p))).await?;
        let mut members = Vec::with_capacity(found.len());
        for primary in &primaries {
            let Some(item) = found.get(&keys::contact(ws, primary)) else { continue };
            let contact = read_contact(item)?;
            if contact.lists.contains(list) {
                members.push(contact);
            }
        }
        Ok((members, primaries.last().cloned()))
    }

    /// A page of the members of `list` after `after`, in key order, and the key to go on after.
    pub(super) async fn members_page(
        &self,
        ws: &WorkspaceId,
        list: &ListName,
        after: Option<&ContactKey>,
        limit: usize,
    ) -> Result<(Vec<Contact>, Option<ContactKey>), StoreError> {
        let after_sk = after.map(|key| keys::member(ws, list, key).sk);
        let limit = i32::try_from(limit).unwrap_or(i32::MAX);
        let (items, more) = self
            .query_prefix_page(&keys::workspace_pk(ws), &keys::members_prefix(list), after_sk.as_deref(), limit)
            .await?;
        let (members, last) = self.contacts_of_memberships(ws, list, &items).await?;
        Ok((members, last.filter(|_| more)))
    }

    pub(super) async fn matching_contacts(
        &self,
        ws: &WorkspaceId,
        filter: &ContactFilter,
    ) -> Result<Vec<Contact>, StoreError> {
        let mut contacts = match &filter.list {
            Some(list) => self.members(ws, list).await?,
            None => {
                let items = self.query_prefix(&keys::workspace_pk(ws), keys::CONTACT_PREFIX).await?;
                items.iter().map(read_contact).collect::<Result<Vec<_>, _>>()?
            }
        };
        contacts.retain(|c| filter.matches(c));
        contacts.sort_by_key(Contact::key);
        Ok(contacts)
    }

    /// Deletes the document, its aliases, memberships and date items (found through the
    /// workspace's automation heads: the reads grow with automations, not with contacts).
    pub(super) async fn remove_contact(&self, ws: &WorkspaceId, key: &ContactKey) -> Result<bool, StoreError> {
        let Some(stored) = self.resolve(ws, std::slice::from_ref(key)).await? else { return Ok(false) };
        let primary = &stored.home;
        let mut contact_keys = stored.contact.keys();
        for k in [primary, key] {
            if !contact_keys.contains(k) {
                contact_keys.push(k.clone());
            }
        }
        let aliases: Vec<_> = contact_keys.iter().filter(|k| *k != primary).map(|k| keys::alias(ws, k)).collect();
        let heads = self.heads(ws).await?;
        let dates: Vec<_> =
            heads.iter().flat_map(|h| contact_keys.iter().map(|k| keys::date_due(ws, h.current.id(), k))).collect();
        let found = self.batch_get(aliases.iter().chain(&dates).cloned()).await?;

        let mut tx = Tx::default();
        tx.delete((), keys::contact(ws, primary), Some(Cond::equals("rev", n(stored.revision))));
        // An alias another contact has taken over since stays with it.
        let ours = |alias: &Key| found.get(alias).and_then(|i| get_s(i, "primary").ok()) == Some(primary.as_str());
        for alias in aliases.into_iter().filter(ours) {
            tx.delete((), alias, Some(Cond::equals("primary", s(primary.as_str()))));
        }
        // What does not fit in one transaction goes after it: stale items are harmless
        // (readers skip memberships and date items of missing contacts).
        let mut rest: Vec<_> = stored.contact.lists.iter().map(|l| keys::member(ws, l, primary)).collect();
        rest.extend(dates.into_iter().filter(|d| found.contains_key(d)));
        let room = TRANSACTION_MAX.saturating_sub(tx.len()).min(rest.len());
        for key in rest.drain(..room) {
            tx.delete((), key, None);
        }
        match self.commit(tx, &format!("contact {key}")).await {
            Ok(()) => {}
            Err(TxError::Refused(_)) => return Err(StoreError::Conflict(format!("contact {key}"))),
            Err(TxError::Store(e)) => return Err(e),
        }
        self.batch_delete(rest).await?;
        Ok(true)
    }
}
