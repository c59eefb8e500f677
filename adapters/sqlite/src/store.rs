//! [`SqliteStore`]: the `Store` and `Management` ports on the database file.
//!
//! Contacts, runs, claims, outbound wamids, date triggers and stats live in tables and are
//! read as needed. The small, hot, rarely written things (workspace documents, API keys, each
//! workspace's automations) are also kept in memory, loaded when the file opens: this process
//! is the file's only writer, so its cache is never stale. They are written through one lock
//! (a cache update follows its commit), so concurrent writes of them apply in order.
//!
//! Every write of the pipeline is one job of the writer (see [`crate::db`]): its checks
//! (revisions, claims) and its writes are atomic, an `Err` leaving nothing behind.

use crate::db::{Db, Failure, OpenError};
use avvio_common::calendar::Due;
use avvio_common::catalog::{Catalog, Fallbacks};
use avvio_common::domain::automation::{Automation, Trigger};
use avvio_common::domain::contact::{ConsentChoice, Contact};
use avvio_common::domain::ids::{AutomationId, Language, ListName, RunId, TemplateName, Wamid, WorkspaceId};
use avvio_common::domain::path::StepPath;
use avvio_common::domain::phone::ContactKey;
use avvio_common::domain::phrase::Phrase;
use avvio_common::domain::run::{Run, StepStatus};
use avvio_common::domain::workspace::{TemplateStatus, Workspace};
use avvio_common::engine::{Liveness, StepDue};
use avvio_common::ports::{
    ContactFilter, DueDate, KeyHash, Management, MessageCommit, MessageView, MessageWrite, PARKED_FOR, Page, RunBase,
    RunFilter, RunPosition, Snapshot, StepView, StepWrite, Store, StoreError, StoredRun, Versioned, WriteError,
};
use avvio_common::stats::{Counter, DayCounters, Days, Delta, Tally};
use avvio_common::time::Time;
use avvio_common::webhook::StatusUpdate;
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};

/// The durable embedded store of `avvio serve`.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    cache: RwLock<Cache>,
    /// Serialises the writes of cached things (workspaces, automations, API keys).
    cached_writes: tokio::sync::Mutex<()>,
    /// Each number's next free send slot: this process is the only one sending.
    paces: Mutex<HashMap<String, Time>>,
    /// Sends are not paced (the pipeline benchmark measures the store, not Meta's rate).
    unpaced: bool,
}

#[derive(Default)]
struct Cache {
    workspaces: HashMap<WorkspaceId, (Arc<Workspace>, u64)>,
    numbers: HashMap<String, WorkspaceId>,
    catalogs: HashMap<WorkspaceId, Catalog>,
    api_keys: HashMap<KeyHash, WorkspaceId>,
}

impl Cache {
    fn set_workspace(&mut self, ws: &WorkspaceId, doc: Arc<Workspace>, revision: u64) {
        self.numbers.retain(|_, owner| owner != ws);
        if let Some(number) = doc.whatsapp.as_ref().map(|w| w.phone_number_id.clone()) {
            self.numbers.insert(number, ws.clone());
        }
        self.workspaces.insert(ws.clone(), (doc, revision));
    }

    fn workspace(&self, ws: &WorkspaceId) -> Option<Arc<Workspace>> {
        self.workspaces.get(ws).map(|(doc, _)| doc.clone())
    }

    /// The workspaces whose document names a WABA (`waba_id`, or any when `None`), in id order.
    fn waba_owners(&self, waba_id: Option<&str>) -> Vec<WorkspaceId> {
        let mut owners: Vec<WorkspaceId> = self
            .workspaces
            .iter()
            .filter(|(_, (doc, _))| {
                let waba = doc.whatsapp.as_ref().and_then(|w| w.waba_id.as_deref());
                waba.is_some() && waba_id.is_none_or(|wanted| waba == Some(wanted))
            })
            .map(|(ws, _)| ws.clone())
            .collect();
        owners.sort();
        owners
    }

    /// Whether another workspace has an integration automation with `automation`'s id.
    fn integration_id_taken(&self, ws: &WorkspaceId, automation: &Automation) -> Result<(), WriteError> {
        if !matches!(automation.trigger, Trigger::Integration { .. }) {
            return Ok(());
        }
        let id = automation.id();
        let taken = self.catalogs.iter().any(|(owner, catalog)| {
            owner != ws && catalog.current(id).is_some_and(|a| matches!(a.trigger, Trigger::Integration { .. }))
        });
        if taken { Err(WriteError::IntegrationIdTaken(id.clone())) } else { Ok(()) }
    }
}

fn micros(t: Time) -> i64 {
    t.timestamp_micros()
}

fn time(what: &str, micros: i64) -> Result<Time, StoreError> {
    chrono::DateTime::from_timestamp_micros(micros).ok_or_else(|| corrupt(what, "a time out of range"))
}

fn corrupt(what: &str, why: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {why}"))
}

fn encode(value: &impl Serialize) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Unavailable(format!("cannot encode a document: {e}")))
}

fn decode<T: DeserializeOwned>(what: &str, text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| corrupt(what, e))
}

fn parsed<T, E: std::fmt::Display>(what: &str, result: Result<T, E>) -> Result<T, StoreError> {
    result.map_err(|e| corrupt(what, e))
}

/// A contact ready to be written: its document encoded outside the writer.
struct ContactRow {
    ws: String,
    keys: Vec<String>,
    key: String,
    lists: Vec<String>,
    doc: String,
}

impl ContactRow {
    fn of(ws: &WorkspaceId, contact: &Contact) -> Result<Self, StoreError> {
        Ok(Self {
            ws: ws.to_string(),
            keys: contact.keys().iter().map(ToString::to_string).collect(),
            key: contact.key().to_string(),
            lists: contact.lists.iter().map(ToString::to_string).collect(),
            doc: encode(contact)?,
        })
    }

    /// Writes the contact if its stored revision still is `expected` (`None`: none of its
    /// keys may be taken); indexes its keys and lists. Its new revision.
    fn write(&self, conn: &Connection, expected: Option<u64>) -> Result<u64, Failure> {
        let mut found = None;
        for key in &self.keys {
            let mut find = conn.prepare_cached("SELECT contact FROM contact_keys WHERE ws = ?1 AND key = ?2")?;
            found = find.query_row(params![self.ws, key], |row| row.get::<_, i64>(0)).optional()?;
            if found.is_some() {
                break;
            }
        }
        let conflict = || StoreError::Conflict(format!("contact {}", self.key));
        let (id, revision) = match (found, expected) {
            (Some(id), Some(expected)) => {
                let stored: u64 = conn
                    .prepare_cached("SELECT revision FROM contacts WHERE id = ?1")?
                    .query_row([id], |r| r.get(0))?;
                if stored != expected {
                    return Err(conflict().into());
                }
                conn.prepare_cached("UPDATE contacts SET key = ?2, revision = ?3, doc = ?4 WHERE id = ?1")?
                    .execute(params![id, self.key, expected + 1, self.doc])?;
                conn.prepare_cached("DELETE FROM list_members WHERE contact = ?1")?.execute([id])?;
                (id, expected + 1)
            }
            (None, None) => {
                conn.prepare_cached("INSERT INTO contacts (ws, home, key, revision, doc) VALUES (?1, ?2, ?2, 1, ?3)")?
                    .execute(params![self.ws, self.key, self.doc])?;
                (conn.last_insert_rowid(), 1)
            }
            _ => return Err(conflict().into()),
        };
        for key in &self.keys {
            conn.prepare_cached("INSERT OR REPLACE INTO contact_keys (ws, key, contact) VALUES (?1, ?2, ?3)")?
                .execute(params![self.ws, key, id])?;
        }
        for list in &self.lists {
            conn.prepare_cached(
                "INSERT OR REPLACE INTO list_members (ws, list, key, contact) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![self.ws, list, self.key, id])?;
        }
        Ok(revision)
    }
}

/// A run ready to be written, with the change it makes to its automation's counters.
struct RunRow {
    ws: String,
    id: String,
    automation: String,
    contact: String,
    started_at: i64,
    expires_at: Option<i64>,
    doc: String,
    delta: Option<Delta>,
}

impl RunRow {
    /// `run`, written over a stored run that counted `before` ([`Tally::NONE`]: created).
    fn of(ws: &WorkspaceId, run: &Run, before: &Tally) -> Result<Self, StoreError> {
        Ok(Self {
            ws: ws.to_string(),
            id: run.id.to_string(),
            automation: run.automation.to_string(),
            contact: run.contact.to_string(),
            started_at: micros(run.started_at),
            expires_at: run.expires_at().map(micros),
            doc: encode(run)?,
            delta: Delta::of(before, run),
        })
    }

    /// Creates the run; `false` (writing nothing) when its id exists.
    fn insert(&self, conn: &Connection) -> Result<bool, Failure> {
        let inserted = conn
            .prepare_cached(
                "INSERT INTO runs (ws, id, revision, automation, contact, started_at, expires_at, doc)
                 VALUES (?1, ?2, 1, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (ws, id) DO NOTHING",
            )?
            .execute(params![
                self.ws,
                self.id,
                self.automation,
                self.contact,
                self.started_at,
                self.expires_at,
                self.doc
            ])?;
        if inserted == 1 {
            self.count(conn)?;
        }
        Ok(inserted == 1)
    }

    /// Replaces the run stored at `revision`; its new revision.
    fn replace(&self, conn: &Connection, revision: u64) -> Result<u64, Failure> {
        let updated = conn
            .prepare_cached(
                "UPDATE runs SET revision = ?3, doc = ?4, expires_at = ?6 WHERE ws = ?1 AND id = ?2 AND revision = ?5",
            )?
            .execute(params![self.ws, self.id, revision + 1, self.doc, revision, self.expires_at])?;
        if updated != 1 {
            return Err(StoreError::Conflict(format!("run {}", self.id)).into());
        }
        self.count(conn)?;
        Ok(revision + 1)
    }

    fn count(&self, conn: &Connection) -> Result<(), Failure> {
        let Some(delta) = &self.delta else { return Ok(()) };
        let day = delta.day.to_string();
        for (counter, by) in &delta.changes {
            let counter = counter.to_string();
            conn.prepare_cached(
                "INSERT INTO stats (ws, automation, day, counter, n) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (ws, day, automation, counter) DO UPDATE SET n = n + excluded.n",
            )?
            .execute(params![self.ws, self.automation, day, counter, by])?;
            conn.prepare_cached(
                "DELETE FROM stats WHERE ws = ?1 AND day = ?2 AND automation = ?3 AND counter = ?4 AND n = 0",
            )?
            .execute(params![self.ws, day, self.automation, counter])?;
        }
        conn.prepare_cached(
            "INSERT INTO stats_days (ws, automation, day, last_started) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (ws, day, automation) DO UPDATE
             SET last_started = max(coalesce(last_started, excluded.last_started), coalesce(excluded.last_started, last_started))",
        )?
        .execute(params![self.ws, self.automation, day, delta.started_at.map(micros)])?;
        Ok(())
    }
}

fn contact_snapshot(conn: &Connection, ws: &str, keys: &[ContactKey]) -> Result<Option<Snapshot>, Failure> {
    let mut find = conn.prepare_cached(
        "SELECT c.revision, c.doc, c.home FROM contact_keys k JOIN contacts c ON c.id = k.contact
         WHERE k.ws = ?1 AND k.key = ?2",
    )?;
    for key in keys {
        let found = find
            .query_row(params![ws, key.as_str()], |row| {
                Ok((row.get::<_, u64>(0)?, row.get::<_, String>(1)?, row.get::<_, String>(2)?))
            })
            .optional()?;
        if let Some((revision, doc, home)) = found {
            let what = format!("contact {key}");
            let contact = decode(&what, &doc)?;
            let home = parsed(&what, ContactKey::parse(&home))?;
            return Ok(Some(Snapshot { contact, revision, home }));
        }
    }
    Ok(None)
}

fn stored_run(conn: &Connection, ws: &str, id: &str) -> Result<Option<StoredRun>, Failure> {
    let found = conn
        .prepare_cached("SELECT revision, doc FROM runs WHERE ws = ?1 AND id = ?2")?
        .query_row(params![ws, id], |row| Ok((row.get::<_, u64>(0)?, row.get::<_, String>(1)?)))
        .optional()?;
    found.map(|(revision, doc)| Ok(StoredRun { run: decode(&format!("run {id}"), &doc)?, revision })).transpose()
}

fn run_exists(conn: &Connection, ws: &str, id: &str) -> Result<bool, Failure> {
    Ok(conn.prepare_cached("SELECT 1 FROM runs WHERE ws = ?1 AND id = ?2")?.exists(params![ws, id])?)
}

fn docs<T: DeserializeOwned>(
    conn: &Connection,
    what: &str,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<T>, Failure> {
    let mut statement = conn.prepare_cached(sql)?;
    let rows = statement.query_map(params, |row| row.get::<_, String>(0))?;
    rows.map(|doc| Ok(decode(what, &doc?)?)).collect()
}

impl SqliteStore {
    /// Opens the store on the database file at `path` (created when missing), loading its
    /// workspaces, API keys and automations.
    pub fn open(path: &Path) -> Result<Self, OpenError> {
        Self::opened(path, false)
    }

    /// A store whose sends are never paced: every slot is `now` (as
    /// `MemoryStore::unpaced`). For measuring the store itself past one number's rate.
    pub fn open_unpaced(path: &Path) -> Result<Self, OpenError> {
        Self::opened(path, true)
    }

    fn opened(path: &Path, unpaced: bool) -> Result<Self, OpenError> {
        let db = Db::open(path)?;
        let damaged = |why: StoreError| OpenError::Damaged { path: path.to_path_buf(), why: why.to_string() };
        let cache = db.read(load_cache).map_err(damaged)?;
        Ok(Self {
            inner: Arc::new(Inner {
                db,
                cache: RwLock::new(cache),
                cached_writes: tokio::sync::Mutex::new(()),
                paces: Mutex::new(HashMap::new()),
                unpaced,
            }),
        })
    }

    /// Makes `key` the only API key selecting `ws` (`avvio serve` sets `AVVIO_API_KEY` at
    /// each start: a key changed in the environment stops the old one).
    pub async fn replace_api_keys(&self, key: &KeyHash, ws: &WorkspaceId) -> Result<(), StoreError> {
        let _turn = self.inner.cached_writes.lock().await;
        let (hash, owner) = (key.as_str().to_string(), ws.to_string());
        self.write(move |conn| {
            conn.prepare_cached("DELETE FROM api_keys WHERE ws = ?1")?.execute([&owner])?;
            conn.prepare_cached("INSERT OR REPLACE INTO api_keys (key_hash, ws) VALUES (?1, ?2)")?
                .execute(params![hash, owner])?;
            Ok(())
        })
        .await?;
        let mut cache = self.cache_mut();
        cache.api_keys.retain(|_, owner| owner != ws);
        cache.api_keys.insert(key.clone(), ws.clone());
        Ok(())
    }

    /// When the earliest date trigger comes due.
    pub fn next_date_due(&self) -> Result<Option<Time>, StoreError> {
        let at: Option<i64> =
            self.read(|conn| Ok(conn.query_row("SELECT min(at) FROM date_dues", [], |r| r.get(0))?))?;
        at.map(|at| time("the date index", at)).transpose()
    }

    /// Checkpoints and closes the database file (a clean stop): later calls fail.
    pub async fn close(&self) -> Result<(), StoreError> {
        self.inner.db.close().await
    }

    /// The open database (the queues share its writer).
    pub fn db(&self) -> &Db {
        &self.inner.db
    }

    fn cache(&self) -> std::sync::RwLockReadGuard<'_, Cache> {
        self.inner.cache.read().unwrap_or_else(|p| p.into_inner())
    }

    fn cache_mut(&self) -> std::sync::RwLockWriteGuard<'_, Cache> {
        self.inner.cache.write().unwrap_or_else(|p| p.into_inner())
    }

    fn read<R>(&self, f: impl FnOnce(&Connection) -> Result<R, Failure>) -> Result<R, StoreError> {
        self.inner.db.read(f)
    }

    async fn write<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<R, Failure> + Send + 'static,
    ) -> Result<R, StoreError> {
        self.inner.db.write(f).await
    }

    /// Stores a workspace document (cache and file) at the revision after `current`.
    async fn store_workspace(&self, ws: &WorkspaceId, doc: Workspace, current: Option<u64>) -> Result<u64, StoreError> {
        let revision = current.map_or(1, |r| r + 1);
        let text = encode(&doc.stored_view())?;
        let key = ws.to_string();
        self.write(move |conn| {
            conn.prepare_cached("INSERT OR REPLACE INTO workspaces (ws, revision, doc) VALUES (?1, ?2, ?3)")?
                .execute(params![key, revision, text])?;
            Ok(())
        })
        .await?;
        self.cache_mut().set_workspace(ws, Arc::new(doc), revision);
        Ok(revision)
    }

    /// Applies `change` to a copy of a workspace's catalog, logs the version it made (`None`:
    /// the automation deleted) with `also` in the same commit, and then installs the copy.
    async fn change_catalog<T: Clone>(
        &self,
        ws: &WorkspaceId,
        change: impl FnOnce(&Cache, &mut Catalog) -> Result<(T, AutomationId, u32, Option<Arc<Automation>>), WriteError>,
        also: impl FnOnce(&Connection) -> Result<(), Failure> + Send + 'static,
    ) -> Result<T, WriteError> {
        let _turn = self.inner.cached_writes.lock().await;
        let (mut catalog, answer, id, version, doc) = {
            let cache = self.cache();
            let mut catalog = cache.catalogs.get(ws).cloned().unwrap_or_default();
            let (answer, id, version, doc) = change(&cache, &mut catalog)?;
            (catalog, answer, id, version, doc)
        };
        let doc = doc.map(|a| encode(&*a)).transpose()?;
        let (key, automation) = (ws.to_string(), id.to_string());
        self.write(move |conn| {
            conn.prepare_cached("INSERT INTO automation_log (ws, id, version, doc) VALUES (?1, ?2, ?3, ?4)")?
                .execute(params![key, automation, version, doc])?;
            also(conn)
        })
        .await?;
        std::mem::swap(self.cache_mut().catalogs.entry(ws.clone()).or_default(), &mut catalog);
        Ok(answer)
    }
}

/// Reads the cached things: workspaces, API keys, and each workspace's catalog (its log replayed).
fn load_cache(conn: &Connection) -> Result<Cache, Failure> {
    let mut cache = Cache::default();
    let mut workspaces = conn.prepare("SELECT ws, revision, doc FROM workspaces")?;
    let rows =
        workspaces.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, u64>(1)?, r.get::<_, String>(2)?)))?;
    for row in rows {
        let (ws, revision, doc) = row?;
        let what = format!("workspace {ws}");
        let doc: Workspace = decode(&what, &doc)?;
        cache.set_workspace(&parsed(&what, WorkspaceId::parse(ws.as_str()))?, Arc::new(doc), revision);
    }
    let mut keys = conn.prepare("SELECT key_hash, ws FROM api_keys")?;
    for row in keys.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))? {
        let (hash, ws) = row?;
        let key = KeyHash::from_hex(&hash).ok_or_else(|| corrupt("API key", "not a SHA-256"))?;
        cache.api_keys.insert(key, parsed("API key", WorkspaceId::parse(ws.as_str()))?);
    }
    let mut log = conn.prepare("SELECT seq, ws, id, version, doc FROM automation_log ORDER BY seq")?;
    let rows = log.query_map([], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, u32>(3)?,
            r.get::<_, Option<String>>(4)?,
        ))
    })?;
    for row in rows {
        let (seq, ws, id, version, doc) = row?;
        let what = format!("automation log entry {seq}");
        let ws = parsed(&what, WorkspaceId::parse(ws.as_str()))?;
        let id = parsed(&what, AutomationId::parse(id.as_str()))?;
        let catalog = cache.catalogs.entry(ws).or_default();
        let replayed = match doc {
            None => catalog.delete(&id).map(|()| version),
            Some(doc) => {
                let automation: Automation = decode(&what, &doc)?;
                let written = if catalog.current(&id).is_some() {
                    catalog.update(automation)
                } else {
                    catalog.create(automation)
                };
                written.map(|a| a.version)
            }
        };
        match replayed {
            Ok(replayed) if replayed == version => {}
            Ok(replayed) => {
                return Err(corrupt(&what, format!("replays as version {replayed}, logged as {version}")).into());
            }
            Err(e) => return Err(corrupt(&what, e).into()),
        }
    }
    Ok(cache)
}

/// The runs a listing reads: the `WHERE` of a filter and its parameters.
fn run_filter(ws: &WorkspaceId, filter: &RunFilter) -> (&'static str, Vec<String>) {
    let ws = ws.to_string();
    match (&filter.contact, &filter.automation) {
        (Some(c), Some(a)) => ("ws = ?1 AND contact = ?2 AND automation = ?3", vec![ws, c.to_string(), a.to_string()]),
        (Some(c), None) => ("ws = ?1 AND contact = ?2", vec![ws, c.to_string()]),
        (None, Some(a)) => ("ws = ?1 AND automation = ?2", vec![ws, a.to_string()]),
        (None, None) => ("ws = ?1", vec![ws]),
    }
}

impl Store for SqliteStore {
    async fn message_view(
        &self,
        ws: &WorkspaceId,
        wamid: &Wamid,
        keys: &[ContactKey],
        phrases: &[Phrase],
    ) -> Result<MessageView, StoreError> {
        let (claimed, contact) = self.read(|conn| {
            let claimed = conn
                .prepare_cached("SELECT queued FROM claims WHERE ws = ?1 AND wamid = ?2")?
                .query_row(params![ws.as_str(), wamid.as_str()], |row| row.get::<_, String>(0))
                .optional()?;
            let claimed = claimed.map(|q| decode::<Vec<StepDue>>(&format!("claim {wamid}"), &q)).transpose()?;
            Ok((claimed, contact_snapshot(conn, ws.as_str(), keys)?))
        })?;
        let cache = self.cache();
        let catalog = cache.catalogs.get(ws);
        Ok(MessageView {
            workspace: cache.workspace(ws),
            claimed,
            contact,
            phrases: phrases.iter().map(|p| catalog.and_then(|c| c.by_phrase(p).cloned())).collect(),
            fallbacks: catalog.map(Catalog::fallbacks).unwrap_or_default(),
        })
    }

    async fn commit_message(
        &self,
        ws: &WorkspaceId,
        write: MessageWrite<'_>,
        _now: Time,
    ) -> Result<MessageCommit, StoreError> {
        let MessageWrite { wamid, before, contact, started, updated, queued } = write;
        let row = ContactRow::of(ws, contact)?;
        let expected = before.map(|b| b.revision);
        let home = before.map_or_else(|| contact.key(), |b| b.home.clone());
        let started = started.iter().map(|r| RunRow::of(ws, r, &Tally::NONE)).collect::<Result<Vec<_>, _>>()?;
        let updated = updated
            .iter()
            .map(|(run, base)| Ok((RunRow::of(ws, run, &base.tally)?, base.revision)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        let (key, wamid, queued) = (ws.to_string(), wamid.to_string(), encode(&queued)?);
        self.write(move |conn| {
            let claimed = conn
                .prepare_cached("SELECT 1 FROM claims WHERE ws = ?1 AND wamid = ?2")?
                .exists(params![key, wamid])?;
            if claimed {
                return Ok(MessageCommit::Duplicate);
            }
            for run in &started {
                if run_exists(conn, &key, &run.id)? {
                    return Ok(MessageCommit::Duplicate);
                }
            }
            let revision = row.write(conn, expected)?;
            conn.prepare_cached("INSERT INTO claims (ws, wamid, queued) VALUES (?1, ?2, ?3)")?
                .execute(params![key, wamid, queued])?;
            for run in &started {
                run.insert(conn)?;
            }
            for (run, revision) in &updated {
                run.replace(conn, *revision)?;
            }
            Ok(MessageCommit::Written { revision, home })
        })
        .await
    }

    async fn step_view(&self, ws: &WorkspaceId, id: &RunId) -> Result<StepView, StoreError> {
        let (run, contact) = self.read(|conn| {
            let Some(stored) = stored_run(conn, ws.as_str(), id.as_str())? else { return Ok((None, None)) };
            let contact = contact_snapshot(conn, ws.as_str(), std::slice::from_ref(&stored.run.contact))?;
            Ok((Some(stored), contact))
        })?;
        let cache = self.cache();
        let catalog = cache.catalogs.get(ws);
        Ok(StepView {
            automation: run
                .as_ref()
                .and_then(|r| catalog.and_then(|c| c.version(&r.run.automation, r.run.version).cloned())),
            liveness: run.as_ref().and_then(|r| catalog.and_then(|c| c.liveness(&r.run.automation))),
            contact,
            workspace: cache.workspace(ws),
            run,
        })
    }

    async fn claim_step(
        &self,
        ws: &WorkspaceId,
        run: &Run,
        step: StepPath,
        base: &RunBase,
    ) -> Result<Option<u64>, StoreError> {
        let row = RunRow::of(ws, run, &base.tally)?;
        let revision = base.revision;
        self.write(move |conn| {
            let stored = stored_run(conn, &row.ws, &row.id)?;
            let recorded = |s: &StoredRun| s.run.step(&step).is_some_and(|r| r.status != StepStatus::Retrying);
            if stored.as_ref().is_some_and(recorded) {
                return Ok(None);
            }
            Ok(Some(row.replace(conn, revision)?))
        })
        .await
    }

    async fn commit_step(
        &self,
        ws: &WorkspaceId,
        write: StepWrite<'_>,
        _now: Time,
    ) -> Result<Option<Snapshot>, StoreError> {
        let StepWrite { run, base, contact, sent, started } = write;
        let row = RunRow::of(ws, run, &base.tally)?;
        let revision = base.revision;
        let contact_row =
            contact.map(|(c, before)| Ok::<_, StoreError>((ContactRow::of(ws, c)?, before.revision))).transpose()?;
        let written = contact.map(|(c, before)| Snapshot {
            contact: c.clone(),
            revision: before.revision + 1,
            home: before.home.clone(),
        });
        let started = started.iter().map(|r| RunRow::of(ws, r, &Tally::NONE)).collect::<Result<Vec<_>, _>>()?;
        let sent = sent.map(|(wamid, step)| (wamid.to_string(), step.to_string()));
        self.write(move |conn| {
            // Checked in the memory store's order, so a refusal names the same item.
            row.replace(conn, revision)?;
            for run in &started {
                if run_exists(conn, &run.ws, &run.id)? {
                    return Err(StoreError::Conflict(format!("run {}", run.id)).into());
                }
            }
            if let Some((contact, revision)) = &contact_row {
                contact.write(conn, Some(*revision))?;
            }
            for run in &started {
                run.insert(conn)?;
            }
            if let Some((wamid, step)) = &sent {
                conn.prepare_cached("INSERT OR REPLACE INTO outbound (ws, wamid, run, step) VALUES (?1, ?2, ?3, ?4)")?
                    .execute(params![row.ws, wamid, row.id, step])?;
            }
            Ok(())
        })
        .await?;
        Ok(written)
    }

    async fn workspace(&self, ws: &WorkspaceId) -> Result<Option<Arc<Workspace>>, StoreError> {
        Ok(self.cache().workspace(ws))
    }

    async fn workspace_for_number(&self, phone_number_id: &str) -> Result<Option<WorkspaceId>, StoreError> {
        Ok(self.cache().numbers.get(phone_number_id).cloned())
    }

    async fn workspaces_for_waba(&self, waba_id: &str) -> Result<Vec<WorkspaceId>, StoreError> {
        Ok(self.cache().waba_owners(Some(waba_id)))
    }

    async fn set_template_status(
        &self,
        ws: &WorkspaceId,
        name: &TemplateName,
        language: &Language,
        status: TemplateStatus,
    ) -> Result<bool, StoreError> {
        let _turn = self.inner.cached_writes.lock().await;
        let Some((doc, revision)) = self.cache().workspaces.get(ws).cloned() else { return Ok(false) };
        let Some(template) = doc.template(name, language) else { return Ok(false) };
        if template.status != status {
            let mut doc = Workspace::clone(&doc);
            if let Some(t) = doc.templates.iter_mut().find(|t| &t.name == name && &t.language == language) {
                t.status = status;
            }
            self.store_workspace(ws, doc, Some(revision)).await?;
        }
        Ok(true)
    }

    async fn automation_by_phrase(
        &self,
        ws: &WorkspaceId,
        phrase: &Phrase,
    ) -> Result<Option<Arc<Automation>>, StoreError> {
        Ok(self.cache().catalogs.get(ws).and_then(|c| c.by_phrase(phrase).cloned()))
    }

    async fn fallbacks(&self, ws: &WorkspaceId) -> Result<Fallbacks, StoreError> {
        Ok(self.cache().catalogs.get(ws).map(Catalog::fallbacks).unwrap_or_default())
    }

    async fn list_automations(&self, ws: &WorkspaceId, list: &ListName) -> Result<Vec<Arc<Automation>>, StoreError> {
        Ok(self.cache().catalogs.get(ws).map(|c| c.by_list(list).cloned().collect()).unwrap_or_default())
    }

    async fn consent_automations(
        &self,
        ws: &WorkspaceId,
        marketing: ConsentChoice,
    ) -> Result<Vec<Arc<Automation>>, StoreError> {
        Ok(self.cache().catalogs.get(ws).map(|c| c.by_consent(marketing).cloned().collect()).unwrap_or_default())
    }

    async fn date_automations(&self, ws: &WorkspaceId) -> Result<Vec<Arc<Automation>>, StoreError> {
        Ok(self.cache().catalogs.get(ws).map(|c| c.dated().cloned().collect()).unwrap_or_default())
    }

    async fn integration_automation(
        &self,
        id: &AutomationId,
    ) -> Result<Option<(WorkspaceId, Arc<Automation>)>, StoreError> {
        Ok(self.cache().catalogs.iter().find_map(|(ws, catalog)| {
            let automation = catalog.current(id)?;
            matches!(automation.trigger, Trigger::Integration { .. }).then(|| (ws.clone(), automation.clone()))
        }))
    }

    async fn automation(&self, ws: &WorkspaceId, id: &AutomationId) -> Result<Option<Arc<Automation>>, StoreError> {
        Ok(self.cache().catalogs.get(ws).and_then(|c| c.current(id).cloned()))
    }

    async fn automation_version(
        &self,
        ws: &WorkspaceId,
        id: &AutomationId,
        version: u32,
    ) -> Result<Option<Arc<Automation>>, StoreError> {
        Ok(self.cache().catalogs.get(ws).and_then(|c| c.version(id, version).cloned()))
    }

    async fn liveness(&self, ws: &WorkspaceId, id: &AutomationId) -> Result<Option<Liveness>, StoreError> {
        Ok(self.cache().catalogs.get(ws).and_then(|c| c.liveness(id)))
    }

    async fn contact(&self, ws: &WorkspaceId, key: &ContactKey) -> Result<Option<Versioned<Contact>>, StoreError> {
        let found = self.read(|conn| contact_snapshot(conn, ws.as_str(), std::slice::from_ref(key)))?;
        Ok(found.map(|s| Versioned { item: s.contact, revision: Some(s.revision) }))
    }

    async fn put_contact(&self, ws: &WorkspaceId, contact: &Contact, expected: Option<u64>) -> Result<u64, StoreError> {
        let row = ContactRow::of(ws, contact)?;
        self.write(move |conn| row.write(conn, expected)).await
    }

    async fn list_members(&self, ws: &WorkspaceId, list: &ListName) -> Result<Vec<Contact>, StoreError> {
        self.read(|conn| {
            docs(
                conn,
                "a list member",
                "SELECT c.doc FROM list_members m JOIN contacts c ON c.id = m.contact
                 WHERE m.ws = ?1 AND m.list = ?2 ORDER BY m.key",
                params![ws.as_str(), list.as_str()],
            )
        })
    }

    async fn list_members_page(
        &self,
        ws: &WorkspaceId,
        list: &ListName,
        after: Option<&ContactKey>,
        limit: usize,
    ) -> Result<(Vec<Contact>, Option<ContactKey>), StoreError> {
        let mut members: Vec<Contact> = self.read(|conn| {
            docs(
                conn,
                "a list member",
                "SELECT c.doc FROM list_members m JOIN contacts c ON c.id = m.contact
                 WHERE m.ws = ?1 AND m.list = ?2 AND m.key > ?3 ORDER BY m.key LIMIT ?4",
                params![ws.as_str(), list.as_str(), after.map_or("", ContactKey::as_str), limit as i64 + 1],
            )
        })?;
        let more = members.len() > limit;
        members.truncate(limit);
        let next = if more { members.last().map(Contact::key) } else { None };
        Ok((members, next))
    }

    async fn create_run(&self, ws: &WorkspaceId, run: &Run) -> Result<bool, StoreError> {
        let row = RunRow::of(ws, run, &Tally::NONE)?;
        self.write(move |conn| row.insert(conn)).await
    }

    async fn run(&self, ws: &WorkspaceId, id: &RunId) -> Result<Option<StoredRun>, StoreError> {
        self.read(|conn| stored_run(conn, ws.as_str(), id.as_str()))
    }

    async fn put_run(&self, ws: &WorkspaceId, run: &Run, base: &RunBase) -> Result<u64, StoreError> {
        let row = RunRow::of(ws, run, &base.tally)?;
        let revision = base.revision;
        self.write(move |conn| row.replace(conn, revision)).await
    }

    async fn outbound(&self, ws: &WorkspaceId, wamid: &Wamid) -> Result<Option<(RunId, StepPath)>, StoreError> {
        let found = self.read(|conn| {
            Ok(conn
                .prepare_cached("SELECT run, step FROM outbound WHERE ws = ?1 AND wamid = ?2")?
                .query_row(params![ws.as_str(), wamid.as_str()], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
                })
                .optional()?)
        })?;
        let what = format!("outbound {wamid}");
        found
            .map(|(run, step)| {
                Ok((parsed(&what, RunId::parse(run.as_str()))?, parsed(&what, step.parse::<StepPath>())?))
            })
            .transpose()
    }

    async fn park_status(&self, ws: &WorkspaceId, status: &StatusUpdate, now: Time) -> Result<(), StoreError> {
        let (ws, wamid, text) = (ws.to_string(), status.wamid.to_string(), encode(status)?);
        self.write(move |conn| {
            conn.prepare_cached("DELETE FROM parked_statuses WHERE parked_at <= ?1")?
                .execute(params![micros(now - PARKED_FOR)])?;
            conn.prepare_cached(
                "INSERT INTO parked_statuses (ws, wamid, seq, status, parked_at) \
                 SELECT ?1, ?2, COALESCE(MAX(seq), 0) + 1, ?3, ?4 FROM parked_statuses WHERE ws = ?1 AND wamid = ?2",
            )?
            .execute(params![ws, wamid, text, micros(now)])?;
            Ok(())
        })
        .await
    }

    async fn parked_statuses(
        &self,
        ws: &WorkspaceId,
        wamid: &Wamid,
        now: Time,
    ) -> Result<Vec<StatusUpdate>, StoreError> {
        let texts = self.read(|conn| {
            let mut query = conn.prepare_cached(
                "SELECT status FROM parked_statuses WHERE ws = ?1 AND wamid = ?2 AND parked_at > ?3 ORDER BY seq",
            )?;
            let rows = query
                .query_map(params![ws.as_str(), wamid.as_str(), micros(now - PARKED_FOR)], |r| r.get::<_, String>(0))?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })?;
        let what = format!("parked status of {wamid}");
        texts.iter().map(|text| decode(&what, text)).collect()
    }

    async fn drop_parked(&self, ws: &WorkspaceId, wamid: &Wamid) -> Result<(), StoreError> {
        let (ws, wamid) = (ws.to_string(), wamid.to_string());
        self.write(move |conn| {
            conn.prepare_cached("DELETE FROM parked_statuses WHERE ws = ?1 AND wamid = ?2")?
                .execute(params![ws, wamid])?;
            Ok(())
        })
        .await
    }

    async fn forget_expired_runs(&self, now: Time) -> Result<usize, StoreError> {
        let now = micros(now);
        // A clock tick is a short write: at most a few thousand runs each (the rest next tick).
        self.write(move |conn| {
            let forgotten = conn
                .prepare_cached(
                    "DELETE FROM runs WHERE rowid IN
                     (SELECT rowid FROM runs WHERE expires_at IS NOT NULL AND expires_at <= ?1 LIMIT 5000)",
                )?
                .execute([now])?;
            Ok(forgotten)
        })
        .await
    }

    async fn set_date_due(
        &self,
        ws: &WorkspaceId,
        automation: &AutomationId,
        contact: &ContactKey,
        due: Option<Due>,
    ) -> Result<(), StoreError> {
        let (ws, automation, contact) = (ws.to_string(), automation.to_string(), contact.to_string());
        self.write(move |conn| {
            match due {
                Some(due) => conn
                    .prepare_cached("INSERT OR REPLACE INTO date_dues (ws, automation, contact, at, date) VALUES (?1, ?2, ?3, ?4, ?5)")?
                    .execute(params![ws, automation, contact, micros(due.at), due.date.to_string()])?,
                None => conn
                    .prepare_cached("DELETE FROM date_dues WHERE ws = ?1 AND automation = ?2 AND contact = ?3")?
                    .execute(params![ws, automation, contact])?,
            };
            Ok(())
        })
        .await
    }

    async fn due_dates(&self, now: Time) -> Result<Vec<DueDate>, StoreError> {
        let rows = self.read(|conn| {
            let mut statement = conn.prepare_cached(
                "SELECT ws, automation, contact, at, date FROM date_dues WHERE at <= ?1 ORDER BY at, ws, automation, contact",
            )?;
            let rows = statement.query_map([micros(now)], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, i64>(3)?, r.get::<_, String>(4)?))
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })?;
        rows.into_iter()
            .map(|(ws, automation, contact, at, date)| {
                let what = format!("date trigger {ws}/{automation}/{contact}");
                Ok(DueDate {
                    workspace: parsed(&what, WorkspaceId::parse(ws.as_str()))?,
                    automation: parsed(&what, AutomationId::parse(automation.as_str()))?,
                    contact: parsed(&what, ContactKey::parse(&contact))?,
                    due: Due { date: parsed(&what, date.parse())?, at: time(&what, at)? },
                })
            })
            .collect()
    }

    async fn send_slot(&self, phone_number_id: &str, rate: u32, now: Time) -> Result<Time, StoreError> {
        if self.inner.unpaced {
            return Ok(now);
        }
        let mut paces = self.inner.paces.lock().unwrap_or_else(|p| p.into_inner());
        let next_free = paces.get(phone_number_id).copied();
        let (slot, next_free) = avvio_common::pacing::take_slots(next_free, rate, 1, now);
        paces.insert(phone_number_id.to_string(), next_free);
        Ok(slot)
    }
}

/// The stats rows of `sql` (automation, day, counter, n), grouped into counters per
/// automation and day, with each day's latest start.
fn counters(
    conn: &Connection,
    ws: &str,
    automation: Option<&str>,
    days: Days,
) -> Result<Vec<(AutomationId, chrono::NaiveDate, DayCounters)>, Failure> {
    let (since, until) = (days.since.to_string(), days.until.to_string());
    let mut grouped: Vec<(AutomationId, chrono::NaiveDate, DayCounters)> = Vec::new();
    let mut statement = conn.prepare_cached(
        "SELECT automation, day, last_started FROM stats_days
         WHERE ws = ?1 AND day BETWEEN ?2 AND ?3 AND (?4 IS NULL OR automation = ?4) ORDER BY day, automation",
    )?;
    let rows = statement.query_map(params![ws, since, until, automation], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, Option<i64>>(2)?))
    })?;
    for row in rows {
        let (automation, day, last) = row?;
        let what = format!("stats of {automation} on {day}");
        let counters =
            DayCounters { last_started: last.map(|t| time(&what, t)).transpose()?, ..DayCounters::default() };
        grouped.push((parsed(&what, AutomationId::parse(automation.as_str()))?, parsed(&what, day.parse())?, counters));
    }
    let mut statement = conn.prepare_cached(
        "SELECT automation, day, counter, n FROM stats
         WHERE ws = ?1 AND day BETWEEN ?2 AND ?3 AND (?4 IS NULL OR automation = ?4)",
    )?;
    let rows = statement.query_map(params![ws, since, until, automation], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, i64>(3)?))
    })?;
    for row in rows {
        let (automation, day, counter, n) = row?;
        let what = format!("stats of {automation} on {day}");
        let counter: Counter = parsed(&what, counter.parse())?;
        let day: chrono::NaiveDate = parsed(&what, day.parse())?;
        if let Some((_, _, counters)) = grouped.iter_mut().find(|(a, d, _)| a.as_str() == automation && *d == day) {
            counters.counters.insert(counter, n);
        }
    }
    Ok(grouped)
}

impl Management for SqliteStore {
    async fn workspace_for_key(&self, key: &KeyHash) -> Result<Option<WorkspaceId>, StoreError> {
        Ok(self.cache().api_keys.get(key).cloned())
    }

    async fn put_api_key(&self, key: &KeyHash, ws: &WorkspaceId) -> Result<(), StoreError> {
        let _turn = self.inner.cached_writes.lock().await;
        let (hash, owner) = (key.as_str().to_string(), ws.to_string());
        self.write(move |conn| {
            conn.prepare_cached("INSERT OR REPLACE INTO api_keys (key_hash, ws) VALUES (?1, ?2)")?
                .execute(params![hash, owner])?;
            Ok(())
        })
        .await?;
        self.cache_mut().api_keys.insert(key.clone(), ws.clone());
        Ok(())
    }

    async fn workspace_versioned(&self, ws: &WorkspaceId) -> Result<Option<Versioned<Arc<Workspace>>>, StoreError> {
        Ok(self
            .cache()
            .workspaces
            .get(ws)
            .map(|(doc, revision)| Versioned { item: doc.clone(), revision: Some(*revision) }))
    }

    async fn put_workspace(&self, ws: &WorkspaceId, doc: &Workspace, expected: Option<u64>) -> Result<u64, WriteError> {
        let _turn = self.inner.cached_writes.lock().await;
        {
            let cache = self.cache();
            if cache.workspaces.get(ws).map(|(_, r)| *r) != expected {
                return Err(StoreError::Conflict(format!("workspace {ws}")).into());
            }
            if let Some(number) = doc.whatsapp.as_ref().map(|w| &w.phone_number_id) {
                if cache.numbers.get(number).is_some_and(|owner| owner != ws) {
                    return Err(WriteError::NumberTaken(number.clone()));
                }
            }
        }
        Ok(self.store_workspace(ws, doc.clone(), expected).await?)
    }

    async fn workspaces_with_waba(&self) -> Result<Vec<WorkspaceId>, StoreError> {
        Ok(self.cache().waba_owners(None))
    }

    async fn claim_template_sync(&self, day: chrono::NaiveDate) -> Result<bool, StoreError> {
        let day = day.to_string();
        self.write(move |conn| {
            let claimed: Option<String> = conn
                .prepare_cached("SELECT day FROM template_sync WHERE one = 1")?
                .query_row([], |r| r.get(0))
                .optional()?;
            if claimed.is_some_and(|claimed| claimed >= day) {
                return Ok(false);
            }
            conn.prepare_cached("INSERT OR REPLACE INTO template_sync (one, day) VALUES (1, ?1)")?.execute([day])?;
            Ok(true)
        })
        .await
    }

    async fn automations(&self, ws: &WorkspaceId) -> Result<Vec<Arc<Automation>>, StoreError> {
        Ok(self.cache().catalogs.get(ws).map(Catalog::all).unwrap_or_default())
    }

    async fn create_automation(&self, ws: &WorkspaceId, automation: Automation) -> Result<Arc<Automation>, WriteError> {
        self.change_catalog(
            ws,
            |cache, catalog| {
                cache.integration_id_taken(ws, &automation)?;
                let created = catalog.create(automation)?;
                Ok((created.clone(), created.id().clone(), created.version, Some(created)))
            },
            |_| Ok(()),
        )
        .await
    }

    async fn update_automation(&self, ws: &WorkspaceId, automation: Automation) -> Result<Arc<Automation>, WriteError> {
        self.change_catalog(
            ws,
            |cache, catalog| {
                cache.integration_id_taken(ws, &automation)?;
                let updated = catalog.update(automation)?;
                Ok((updated.clone(), updated.id().clone(), updated.version, Some(updated)))
            },
            |_| Ok(()),
        )
        .await
    }

    async fn versions(&self, ws: &WorkspaceId, id: &AutomationId) -> Result<Vec<Arc<Automation>>, StoreError> {
        Ok(self.cache().catalogs.get(ws).map(|c| c.versions(id).to_vec()).unwrap_or_default())
    }

    async fn stats(&self, ws: &WorkspaceId, id: &AutomationId, days: Days) -> Result<Vec<DayCounters>, StoreError> {
        let rows = self.read(|conn| counters(conn, ws.as_str(), Some(id.as_str()), days))?;
        Ok(rows.into_iter().map(|(_, _, counters)| counters).collect())
    }

    async fn activity(&self, ws: &WorkspaceId, days: Days) -> Result<Vec<(AutomationId, DayCounters)>, StoreError> {
        let rows = self.read(|conn| counters(conn, ws.as_str(), None, days))?;
        Ok(rows.into_iter().map(|(automation, _, counters)| (automation, counters)).collect())
    }

    async fn delete_automation(&self, ws: &WorkspaceId, id: &AutomationId) -> Result<(), WriteError> {
        let (key, automation) = (ws.to_string(), id.to_string());
        self.change_catalog(
            ws,
            |_, catalog| {
                let version = catalog.current(id).map_or(0, |a| a.version);
                catalog.delete(id)?;
                Ok(((), id.clone(), version, None))
            },
            move |conn| {
                conn.prepare_cached("DELETE FROM date_dues WHERE ws = ?1 AND automation = ?2")?
                    .execute(params![key, automation])?;
                Ok(())
            },
        )
        .await
    }

    async fn contacts(&self, ws: &WorkspaceId, filter: &ContactFilter) -> Result<Vec<Contact>, StoreError> {
        let contacts: Vec<Contact> = self.read(|conn| match &filter.list {
            Some(list) => docs(
                conn,
                "a contact",
                "SELECT c.doc FROM list_members m JOIN contacts c ON c.id = m.contact
                 WHERE m.ws = ?1 AND m.list = ?2 ORDER BY m.key",
                params![ws.as_str(), list.as_str()],
            ),
            None => docs(conn, "a contact", "SELECT doc FROM contacts WHERE ws = ?1 ORDER BY key", [ws.as_str()]),
        })?;
        Ok(contacts.into_iter().filter(|c| filter.matches(c)).collect())
    }

    async fn delete_contact(&self, ws: &WorkspaceId, key: &ContactKey) -> Result<bool, StoreError> {
        let (ws, key) = (ws.to_string(), key.to_string());
        self.write(move |conn| {
            let found = conn
                .prepare_cached(
                    "SELECT c.id, c.doc FROM contact_keys k JOIN contacts c ON c.id = k.contact WHERE k.ws = ?1 AND k.key = ?2",
                )?
                .query_row(params![ws, key], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))
                .optional()?;
            let Some((id, doc)) = found else { return Ok(false) };
            let contact: Contact = decode(&format!("contact {key}"), &doc)?;
            for statement in [
                "DELETE FROM contacts WHERE id = ?1",
                "DELETE FROM contact_keys WHERE contact = ?1",
                "DELETE FROM list_members WHERE contact = ?1",
            ] {
                conn.prepare_cached(statement)?.execute([id])?;
            }
            for key in contact.keys() {
                conn.prepare_cached("DELETE FROM date_dues WHERE ws = ?1 AND contact = ?2")?.execute(params![ws, key.as_str()])?;
            }
            Ok(true)
        })
        .await
    }

    async fn runs(&self, ws: &WorkspaceId, filter: &RunFilter) -> Result<Vec<Run>, StoreError> {
        Ok(self.newest_runs(ws, filter, usize::MAX).await?.0)
    }

    async fn contacts_page(
        &self,
        ws: &WorkspaceId,
        filter: &ContactFilter,
        after: Option<&ContactKey>,
        limit: usize,
    ) -> Result<Page<Contact, ContactKey>, StoreError> {
        // Keys from the index, in order; a tag filter reads on until the page is full.
        let after = after.map_or(String::new(), ContactKey::to_string);
        let contacts: Vec<Contact> = self.read(|conn| {
            let (sql, values) = match &filter.list {
                Some(list) => (
                    "SELECT c.doc FROM list_members m JOIN contacts c ON c.id = m.contact
                     WHERE m.ws = ?1 AND m.list = ?2 AND m.key > ?3 ORDER BY m.key",
                    vec![ws.as_str(), list.as_str(), after.as_str()],
                ),
                None => (
                    "SELECT doc FROM contacts WHERE ws = ?1 AND key > ?2 ORDER BY key",
                    vec![ws.as_str(), after.as_str()],
                ),
            };
            let mut statement = conn.prepare_cached(sql)?;
            let rows = statement.query_map(rusqlite::params_from_iter(values), |row| row.get::<_, String>(0))?;
            let mut page = Vec::new();
            for doc in rows {
                let contact: Contact = decode("a contact", &doc?)?;
                if filter.matches(&contact) {
                    page.push(contact);
                    if page.len() > limit {
                        break;
                    }
                }
            }
            Ok(page)
        })?;
        Ok(Page::first(contacts, limit, Contact::key))
    }

    async fn runs_page(
        &self,
        ws: &WorkspaceId,
        filter: &RunFilter,
        after: Option<&RunPosition>,
        limit: usize,
    ) -> Result<Page<Run, RunPosition>, StoreError> {
        use rusqlite::types::Value;
        let (condition, values) = run_filter(ws, filter);
        let mut values: Vec<Value> = values.into_iter().map(Value::Text).collect();
        let mut sql = format!("SELECT doc FROM runs WHERE {condition}");
        if let Some(after) = after {
            let (at, id) = (values.len() + 1, values.len() + 2);
            sql += &format!(" AND (started_at < ?{at} OR (started_at = ?{at} AND id < ?{id}))");
            values.push(Value::Integer(micros(after.started_at)));
            values.push(Value::Text(after.id.to_string()));
        }
        values.push(Value::Integer(i64::try_from(limit).unwrap_or(i64::MAX - 1) + 1));
        sql += &format!(" ORDER BY started_at DESC, id DESC LIMIT ?{}", values.len());
        let runs: Vec<Run> = self.read(|conn| docs(conn, "a run", &sql, rusqlite::params_from_iter(&values)))?;
        Ok(Page::first(runs, limit, RunPosition::of))
    }

    async fn newest_runs(
        &self,
        ws: &WorkspaceId,
        filter: &RunFilter,
        limit: usize,
    ) -> Result<(Vec<Run>, usize), StoreError> {
        let (condition, values) = run_filter(ws, filter);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(|conn| {
            let total: i64 = conn
                .prepare_cached(&format!("SELECT count(*) FROM runs WHERE {condition}"))?
                .query_row(rusqlite::params_from_iter(&values), |r| r.get(0))?;
            let mut values: Vec<&dyn rusqlite::ToSql> = values.iter().map(|v| v as &dyn rusqlite::ToSql).collect();
            values.push(&limit);
            let sql = format!(
                "SELECT doc FROM runs WHERE {condition} ORDER BY started_at DESC, id DESC LIMIT ?{}",
                values.len()
            );
            let runs = docs(conn, "a run", &sql, values.as_slice())?;
            Ok((runs, total as usize))
        })
    }
}
