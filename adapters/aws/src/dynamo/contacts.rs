//! Contacts: one document item under the contact's primary key (the key it was created
//! by), an alias item for each other key, and a membership item per list it is in.
//!
//! A contact keeps its primary key for life (a contact created by BSUID and later linked
//! to its phone stays under the BSUID); lookups go through aliases first, so a key moved to
//! another contact by a webhook carrying both ids finds the contact it was linked to last,
//! as in `MemoryStore`.
//!
//! Listings go by the key a contact is *listed* by, `Contact::key` (its phone once it has
//! one), which differs from the primary key only for a contact created by its BSUID that has
//! a phone since. Such a contact is listed through its phone's alias item, and its
//! memberships are kept under its phone (moved there when it gets it), so that a page of
//! contacts, or of a list, reads the items of its own keys only.

use super::DynamoStore;
use super::dates::date_item;
use super::keys;
use super::table::{
    Cond, Item, Key, SortKeys, TRANSACTION_MAX, Tx, TxError, get_doc, get_n, get_parsed, get_s, item, json, key_of, n,
    s,
};
use avvio_common::calendar::Due;
use avvio_common::domain::contact::Contact;
use avvio_common::domain::ids::{AutomationId, ListName, WorkspaceId};
use avvio_common::domain::phone::ContactKey;
use avvio_common::ports::{ContactFilter, Page, Snapshot, StoreError};
use std::collections::{HashMap, VecDeque};

/// The most lists whose memberships the write giving a contact created by its BSUID its phone
/// moves under the phone (two operations each, in that write's transaction, which DynamoDB
/// bounds at 100). A contact in more lists keeps them under its BSUID: still a member, listed
/// at the BSUID's place in a list's pages.
const MOVED_LISTS_MAX: usize = 16;

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

/// A membership of `list` under the key the contact is `listed` by, naming its `primary` key.
fn membership(ws: &WorkspaceId, list: &ListName, listed: &ContactKey, primary: &ContactKey) -> Item {
    item(&keys::member(ws, list, listed), [("primary", s(primary.as_str())), ("list", s(list.as_str()))])
}

/// The key at the end of a sort key after `prefix`: `None` for another family's item (a list
/// whose name extends the one read: no key contains `#`).
fn key_after(item: &Item, prefix: &str) -> Result<Option<ContactKey>, StoreError> {
    let sk = key_of(item)?.sk;
    Ok(sk.strip_prefix(prefix).filter(|rest| !rest.contains('#')).and_then(|rest| ContactKey::parse(rest).ok()))
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
    // Memberships go under the key the contact is listed by; one written elsewhere (before
    // the contact got its phone, or before listings were paged) may be under its other keys.
    let listed = contact.key();
    let listed_before = before.map(|b| b.contact.key());
    let mut positions = vec![&listed, &home];
    positions.extend(listed_before.as_ref());
    positions.sort();
    positions.dedup();
    let empty = Default::default();
    let lists_before = before.map_or(&empty, |b| &b.contact.lists);
    let moved = listed_before.as_ref().is_some_and(|k| *k != listed) && contact.lists.len() <= MOVED_LISTS_MAX;
    for list in &contact.lists {
        let stays = lists_before.contains(list);
        if !stays || moved {
            tx.put(role.clone(), membership(ws, list, &listed, &home), None);
        }
        if stays && moved {
            for position in positions.iter().filter(|p| ***p != listed) {
                tx.delete(role.clone(), keys::member(ws, list, position), None);
            }
        }
    }
    for list in lists_before.difference(&contact.lists) {
        for position in &positions {
            tx.delete(role.clone(), keys::member(ws, list, position), None);
        }
    }
    Ok(Snapshot { contact: contact.clone(), revision, home })
}

/// Where a listing reads contacts from, in the order of the keys they are listed by.
#[derive(Debug, Clone)]
enum Source {
    /// Contact documents, each under its primary key: listed there while that is the key it is
    /// listed by (not once a contact created by its BSUID has a phone).
    Documents,
    /// The aliases that are phones: each names a contact created by its BSUID, listed by the phone.
    PhoneAliases,
    /// The memberships of a list, under the keys their contacts are listed by.
    Members(ListName),
}

/// A contact of a listing, and the key it stands at (the key it is listed by, but for a
/// membership written under the primary key before its contact got its phone).
struct Listed {
    position: ContactKey,
    contact: Contact,
}

/// A [`Source`] being read a Query page at a time: where it goes on, and what is left of the
/// page read last.
struct Reader {
    source: Source,
    after: Option<String>,
    done: bool,
    ready: VecDeque<Listed>,
}

impl Reader {
    /// Reads `source` from after the contacts listed up to `after`.
    fn new(ws: &WorkspaceId, source: Source, after: Option<&ContactKey>) -> Self {
        let (after, done) = match (&source, after) {
            (_, None) => (None, false),
            (Source::Documents, Some(key)) => (Some(keys::contact(ws, key).sk), false),
            (Source::PhoneAliases, Some(key @ ContactKey::Phone(_))) => (Some(keys::alias(ws, key).sk), false),
            // Every phone comes before every BSUID.
            (Source::PhoneAliases, Some(ContactKey::Bsuid(_))) => (None, true),
            (Source::Members(list), Some(key)) => (Some(keys::member(ws, list, key).sk), false),
        };
        Self { source, after, done, ready: VecDeque::new() }
    }

    /// The next contact, reading Query pages of `page` items until one is found or none are left.
    async fn peek(&mut self, store: &DynamoStore, ws: &WorkspaceId, page: i32) -> Result<Option<&Listed>, StoreError> {
        while self.ready.is_empty() && !self.done {
            let pk = keys::workspace_pk(ws);
            let members;
            let range = match &self.source {
                Source::Documents => SortKeys::Prefix(keys::CONTACT_PREFIX),
                Source::PhoneAliases => SortKeys::Between(keys::PHONE_ALIASES.0, keys::PHONE_ALIASES.1),
                Source::Members(list) => {
                    members = keys::members_prefix(list);
                    SortKeys::Prefix(&members)
                }
            };
            let (items, next) = store.query_page(&pk, range, self.after.as_deref(), page).await?;
            self.done = next.is_none();
            self.after = next;
            let listed = match &self.source {
                Source::Documents => listed_documents(&items)?,
                Source::PhoneAliases => store.aliased_contacts(ws, &items).await?,
                Source::Members(list) => store.members_of(ws, list, &items).await?,
            };
            self.ready.extend(listed);
        }
        Ok(self.ready.front())
    }
}

/// The contact documents among `items` listed by their primary key.
fn listed_documents(items: &[Item]) -> Result<Vec<Listed>, StoreError> {
    let mut listed = Vec::with_capacity(items.len());
    for item in items {
        let Some(primary) = key_after(item, keys::CONTACT_PREFIX)? else { continue };
        let contact = read_contact(item)?;
        if contact.key() == primary {
            listed.push(Listed { position: primary, contact });
        }
    }
    Ok(listed)
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
        let mut members: Vec<Contact> =
            self.members_of(ws, list, &items).await?.into_iter().map(|m| m.contact).collect();
        members.sort_by_key(Contact::key);
        Ok(members)
    }

    /// The members of `list` that membership `items` name, in their order: one batch read of
    /// their documents. Skips a membership left by a contact deleted and created again, one
    /// under a key its contact is no longer listed by, and lists whose name extends this one's.
    async fn members_of(&self, ws: &WorkspaceId, list: &ListName, items: &[Item]) -> Result<Vec<Listed>, StoreError> {
        let prefix = keys::members_prefix(list);
        let mut named = Vec::with_capacity(items.len());
        for item in items {
            if let Some(position) = key_after(item, &prefix)? {
                named.push((position, get_parsed(item, "primary", ContactKey::parse)?));
            }
        }
        let found = self.batch_get(named.iter().map(|(_, primary)| keys::contact(ws, primary))).await?;
        let mut members = Vec::with_capacity(named.len());
        for (position, primary) in named {
            let Some(item) = found.get(&keys::contact(ws, &primary)) else { continue };
            let contact = read_contact(item)?;
            // Under its primary key: written before the contact got its phone, and not moved.
            if contact.lists.contains(list) && (contact.key() == position || primary == position) {
                members.push(Listed { position, contact });
            }
        }
        Ok(members)
    }

    /// The contacts that phone alias `items` name, listed by those phones: one batch read of
    /// their documents. Skips an alias whose contact is gone or has another phone.
    async fn aliased_contacts(&self, ws: &WorkspaceId, items: &[Item]) -> Result<Vec<Listed>, StoreError> {
        let mut named = Vec::with_capacity(items.len());
        for item in items {
            if let Some(position) = key_after(item, keys::ALIAS_PREFIX)? {
                named.push((position, get_parsed(item, "primary", ContactKey::parse)?));
            }
        }
        let found = self.batch_get(named.iter().map(|(_, primary)| keys::contact(ws, primary))).await?;
        let mut listed = Vec::with_capacity(named.len());
        for (position, primary) in named {
            let Some(item) = found.get(&keys::contact(ws, &primary)) else { continue };
            let contact = read_contact(item)?;
            if primary != position && contact.key() == position {
                listed.push(Listed { position, contact });
            }
        }
        Ok(listed)
    }

    /// A page of the contacts matching `filter` listed after `after`, by key. Merges the
    /// sources the listing reads (a list's memberships; else the documents and the phone
    /// aliases), a Query page of each at a time, until the page and one more are found or
    /// none are left: the reads grow with the page and with what a tag filter skips.
    pub(super) async fn listed_contacts(
        &self,
        ws: &WorkspaceId,
        filter: &ContactFilter,
        after: Option<&ContactKey>,
        limit: usize,
    ) -> Result<Page<Contact, ContactKey>, StoreError> {
        if limit == 0 {
            return Ok(Page { items: Vec::new(), next: None });
        }
        let sources = match &filter.list {
            Some(list) => vec![Source::Members(list.clone())],
            None => vec![Source::Documents, Source::PhoneAliases],
        };
        let mut readers: Vec<Reader> = sources.into_iter().map(|source| Reader::new(ws, source, after)).collect();
        let wanted = limit.saturating_add(1);
        let page = i32::try_from(wanted).unwrap_or(i32::MAX);
        let page = self.page_limit.map_or(page, |p| p.min(page));
        let mut found: Vec<Listed> = Vec::new();
        while found.len() < wanted {
            // The reader whose next contact comes first (on a tie, the documents').
            let mut first: Option<(usize, ContactKey)> = None;
            for (i, reader) in readers.iter_mut().enumerate() {
                if let Some(next) = reader.peek(self, ws, page).await?
                    && first.as_ref().is_none_or(|(_, key)| next.position < *key)
                {
                    first = Some((i, next.position.clone()));
                }
            }
            let Some((i, _)) = first else { break };
            let Some(listed) = readers[i].ready.pop_front() else { break };
            if filter.matches(&listed.contact) {
                found.push(listed);
            }
        }
        let more = found.len() > limit;
        found.truncate(limit);
        let next = if more { found.last().map(|l| l.position.clone()) } else { None };
        Ok(Page { items: found.into_iter().map(|l| l.contact).collect(), next })
    }

    /// A page of the members of `list` after `after`, in key order, and the key to go on after.
    pub(super) async fn members_page(
        &self,
        ws: &WorkspaceId,
        list: &ListName,
        after: Option<&ContactKey>,
        limit: usize,
    ) -> Result<(Vec<Contact>, Option<ContactKey>), StoreError> {
        let members = ContactFilter { tag: None, list: Some(list.clone()) };
        let page = self.listed_contacts(ws, &members, after, limit).await?;
        Ok((page.items, page.next))
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
        let mut positions = vec![primary.clone(), stored.contact.key()];
        positions.dedup();
        let mut rest: Vec<_> =
            stored.contact.lists.iter().flat_map(|l| positions.iter().map(move |p| keys::member(ws, l, p))).collect();
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
