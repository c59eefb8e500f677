//! The durable queues of `avvio serve`: what SQS carries on AWS, as rows of the database
//! file. An event or step leaves its table only once its work is stored, so a crash (or a
//! `SIGKILL`) between the two makes it run again after the restart: the matcher and the
//! executor are idempotent for that (claims by wamid, steps recorded once per run).
//! Work that can never be done (it failed for good, or its row does not parse) leaves its
//! queue for the `dead_letters` table in the same commit, with the reason: kept, never retried.

use crate::db::Db;
use avvio_common::ports::{EventQueue, PipelineEvent, QueueError, StepMessage, StepQueue, StoreError};
use avvio_common::time::Time;
use rusqlite::{OptionalExtension, params};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

fn queue_error(e: StoreError) -> QueueError {
    QueueError(e.to_string())
}

fn micros(t: Time) -> i64 {
    t.timestamp_micros()
}

/// The queue a dead letter came from: its table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Queue {
    Events,
    Steps,
}

/// Moves row `id` of `queue` to `dead_letters` with `reason`, in one commit (a row already
/// gone moves nothing).
async fn bury(db: &Db, queue: Queue, id: i64, reason: String, now: Time) -> Result<(), StoreError> {
    db.write(move |conn| {
        let (copy, delete) = match queue {
            Queue::Events => (
                "INSERT INTO dead_letters (queue, body, due, reason, dead_at) \
                 SELECT 'events', event, NULL, ?2, ?3 FROM events WHERE seq = ?1",
                "DELETE FROM events WHERE seq = ?1",
            ),
            Queue::Steps => (
                "INSERT INTO dead_letters (queue, body, due, reason, dead_at) \
                 SELECT 'steps', message, due, ?2, ?3 FROM steps WHERE id = ?1",
                "DELETE FROM steps WHERE id = ?1",
            ),
        };
        conn.prepare_cached(copy)?.execute(params![id, reason, micros(now)])?;
        conn.prepare_cached(delete)?.execute([id])?;
        Ok(())
    })
    .await
}

/// How many dead letters the file keeps (both queues').
pub fn dead_letters(db: &Db) -> Result<usize, StoreError> {
    db.read(|conn| Ok(conn.query_row("SELECT count(*) FROM dead_letters", [], |r| r.get::<_, i64>(0))? as usize))
}

/// A queued row's text: `Err` with why when it is not text (a BLOB, invalid UTF-8).
fn text_of(row: &rusqlite::Row<'_>, column: usize) -> rusqlite::Result<Result<String, String>> {
    Ok(row.get_ref(column)?.as_str().map(str::to_string).map_err(|e| format!("not text: {e}")))
}

/// The events queue as opened: the queue, the receiving end the matcher drains, and why each
/// event left in the file that could not be read was moved to the dead letters.
pub struct Opened {
    pub queue: SqliteEventQueue,
    pub inbox: tokio::sync::mpsc::UnboundedReceiver<QueuedEvent>,
    pub buried: Vec<String>,
}

/// An event waiting for the matcher, by its place in the queue.
#[derive(Debug, Clone)]
pub struct QueuedEvent {
    pub seq: i64,
    pub event: PipelineEvent,
}

/// Events for the matcher, stored before the caller is answered (a webhook's 200 means its
/// events are in the file), handed to the matcher through a channel, deleted once handled.
#[derive(Clone)]
pub struct SqliteEventQueue {
    db: Db,
    tx: tokio::sync::mpsc::UnboundedSender<QueuedEvent>,
}

impl SqliteEventQueue {
    /// The queue and the receiving end the matcher drains: first the events a previous run
    /// of the process left (in arrival order), then new ones. A left event that does not
    /// parse is moved to the dead letters (`now` is when), and said in [`Opened::buried`].
    pub async fn open(db: &Db, now: Time) -> Result<Opened, StoreError> {
        let (tx, inbox) = tokio::sync::mpsc::unbounded_channel();
        let left = db.read(|conn| {
            let mut statement = conn.prepare("SELECT seq, event FROM events ORDER BY seq")?;
            let rows = statement.query_map([], |r| Ok((r.get::<_, i64>(0)?, text_of(r, 1)?)))?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })?;
        let mut buried = Vec::new();
        for (seq, text) in left {
            match text.and_then(|text| serde_json::from_str(&text).map_err(|e| e.to_string())) {
                Ok(event) => {
                    let _ = tx.send(QueuedEvent { seq, event });
                }
                Err(e) => {
                    let reason = format!("unreadable queued event {seq}: {e}");
                    bury(db, Queue::Events, seq, reason.clone(), now).await?;
                    buried.push(reason);
                }
            }
        }
        Ok(Opened { queue: Self { db: db.clone(), tx }, inbox, buried })
    }

    /// Removes a handled event.
    pub async fn done(&self, seq: i64) -> Result<(), StoreError> {
        self.db
            .write(move |conn| {
                conn.prepare_cached("DELETE FROM events WHERE seq = ?1")?.execute([seq])?;
                Ok(())
            })
            .await
    }

    /// Moves an event that failed for good to the dead letters, with the reason.
    pub async fn dead(&self, seq: i64, reason: String, now: Time) -> Result<(), StoreError> {
        bury(&self.db, Queue::Events, seq, reason, now).await
    }

    /// How many events wait (handled ones not yet deleted included).
    pub fn waiting(&self) -> Result<usize, StoreError> {
        self.db.read(|conn| Ok(conn.query_row("SELECT count(*) FROM events", [], |r| r.get::<_, i64>(0))? as usize))
    }
}

impl EventQueue for SqliteEventQueue {
    async fn enqueue(&self, event: PipelineEvent) -> Result<(), QueueError> {
        let text = serde_json::to_string(&event).map_err(|e| QueueError(format!("cannot encode the event: {e}")))?;
        let seq = self
            .db
            .write(move |conn| {
                conn.prepare_cached("INSERT INTO events (event) VALUES (?1)")?.execute([text])?;
                Ok(conn.last_insert_rowid())
            })
            .await
            .map_err(queue_error)?;
        self.tx.send(QueuedEvent { seq, event }).map_err(|_| QueueError("the matcher has stopped".into()))
    }
}

/// A step message taken from the queue, by its row.
#[derive(Debug, Clone)]
pub struct QueuedStep {
    pub id: i64,
    pub message: StepMessage,
}

/// The steps taken by [`SqliteStepQueue::take_due`], and why each row met on the way that
/// could not be read was moved to the dead letters.
#[derive(Debug, Default)]
pub struct Due {
    pub steps: Vec<QueuedStep>,
    pub buried: Vec<String>,
}

/// Steps for the executor by due time. Taking due steps marks them in flight in this process
/// (the row stays until [`SqliteStepQueue::done`]): after a restart every row is due again.
#[derive(Clone)]
pub struct SqliteStepQueue {
    db: Db,
    in_flight: Arc<Mutex<HashSet<i64>>>,
    notify: Arc<tokio::sync::Notify>,
}

impl SqliteStepQueue {
    pub fn new(db: &Db) -> Self {
        Self { db: db.clone(), in_flight: Arc::default(), notify: Arc::default() }
    }

    fn in_flight(&self) -> std::sync::MutexGuard<'_, HashSet<i64>> {
        self.in_flight.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Up to `limit` steps due at or before `now` and not in flight, earliest first (ties in
    /// queueing order), now in flight. A row that does not parse is moved to the dead letters
    /// on the way (it never holds back the steps due after it).
    pub async fn take_due(&self, now: Time, limit: usize) -> Result<Due, StoreError> {
        let skip = self.in_flight().len();
        let rows = self.db.read(|conn| {
            let mut statement =
                conn.prepare_cached("SELECT id, message FROM steps WHERE due <= ?1 ORDER BY due, id LIMIT ?2")?;
            let rows = statement.query_map(params![micros(now), (limit + skip) as i64], |r| {
                Ok((r.get::<_, i64>(0)?, text_of(r, 1)?))
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })?;
        let mut taken = Vec::new();
        let mut unreadable = Vec::new();
        {
            let mut in_flight = self.in_flight();
            for (id, text) in rows {
                if taken.len() == limit || in_flight.contains(&id) {
                    continue;
                }
                match text.and_then(|text| serde_json::from_str(&text).map_err(|e| e.to_string())) {
                    Ok(message) => {
                        in_flight.insert(id);
                        taken.push(QueuedStep { id, message });
                    }
                    Err(e) => unreadable.push((id, format!("unreadable queued step {id}: {e}"))),
                }
            }
        }
        let mut buried = Vec::with_capacity(unreadable.len());
        for (id, reason) in unreadable {
            if let Err(e) = bury(&self.db, Queue::Steps, id, reason.clone(), now).await {
                // Taken steps are in flight: give them back before answering the error.
                let mut in_flight = self.in_flight();
                for step in &taken {
                    in_flight.remove(&step.id);
                }
                return Err(e);
            }
            buried.push(reason);
        }
        Ok(Due { steps: taken, buried })
    }

    /// When the earliest step due after `now` is due.
    pub fn next_due_after(&self, now: Time) -> Result<Option<Time>, StoreError> {
        let due: Option<i64> = self.db.read(|conn| {
            Ok(conn
                .prepare_cached("SELECT min(due) FROM steps WHERE due > ?1")?
                .query_row([micros(now)], |r| r.get(0))
                .optional()?
                .flatten())
        })?;
        Ok(due.and_then(chrono::DateTime::from_timestamp_micros))
    }

    /// Resolves when a step is queued or given back.
    pub async fn changed(&self) {
        self.notify.notified().await
    }

    /// Moves a step that failed for good to the dead letters, with the reason.
    pub async fn dead(&self, id: i64, reason: String, now: Time) -> Result<(), StoreError> {
        let buried = bury(&self.db, Queue::Steps, id, reason, now).await;
        self.in_flight().remove(&id);
        buried
    }

    /// Removes a step whose work is stored.
    pub async fn done(&self, id: i64) -> Result<(), StoreError> {
        let deleted = self
            .db
            .write(move |conn| {
                conn.prepare_cached("DELETE FROM steps WHERE id = ?1")?.execute([id])?;
                Ok(())
            })
            .await;
        self.in_flight().remove(&id);
        deleted
    }

    /// Gives a step back to be taken again at `due` (a retry after a passing failure).
    pub async fn retry(&self, id: i64, due: Time) -> Result<(), StoreError> {
        let moved = self
            .db
            .write(move |conn| {
                conn.prepare_cached("UPDATE steps SET due = ?2 WHERE id = ?1")?.execute(params![id, micros(due)])?;
                Ok(())
            })
            .await;
        self.in_flight().remove(&id);
        self.notify.notify_one();
        moved
    }

    /// How many steps are queued (in flight included).
    pub fn queued(&self) -> Result<usize, StoreError> {
        self.db.read(|conn| Ok(conn.query_row("SELECT count(*) FROM steps", [], |r| r.get::<_, i64>(0))? as usize))
    }
}

impl StepQueue for SqliteStepQueue {
    async fn schedule(&self, message: StepMessage, _now: Time) -> Result<(), QueueError> {
        let text = serde_json::to_string(&message).map_err(|e| QueueError(format!("cannot encode the step: {e}")))?;
        let due = micros(message.step.due);
        self.db
            .write(move |conn| {
                conn.prepare_cached("INSERT INTO steps (due, message) VALUES (?1, ?2)")?.execute(params![due, text])?;
                Ok(())
            })
            .await
            .map_err(queue_error)?;
        self.notify.notify_one();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use avvio_common::domain::ids::{ListName, RunId, WorkspaceId};
    use avvio_common::domain::{ContactKey, path::StepPath};
    use avvio_common::engine::StepDue;
    use std::sync::atomic::{AtomicU32, Ordering};

    static FILES: AtomicU32 = AtomicU32::new(0);

    /// A fresh database on a new file under the system's temporary directory.
    fn fresh_db() -> Db {
        let dir = std::env::temp_dir().join(format!("avvio-sqlite-queues-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        let path = dir.join(format!("{}.db", FILES.fetch_add(1, Ordering::Relaxed)));
        Db::open(&path).expect("a new database opens")
    }

    fn t(raw: &str) -> Time {
        raw.parse().unwrap()
    }

    fn step(run: &str, due: Time) -> StepMessage {
        StepMessage {
            workspace: WorkspaceId::parse("default").unwrap(),
            step: StepDue { run: RunId::parse(run).unwrap(), step: StepPath::top(0), due },
        }
    }

    fn list_join(request_id: &str) -> PipelineEvent {
        PipelineEvent::ListAdd {
            workspace: WorkspaceId::parse("default").unwrap(),
            list: ListName::parse("vip").unwrap(),
            contact: ContactKey::parse("393331234567").unwrap(),
            request_id: request_id.into(),
        }
    }

    /// Writes `sql` as it is, the way a damaged file or a hand edit would.
    async fn raw(db: &Db, sql: &'static str) {
        db.write(move |conn| {
            conn.execute_batch(sql)?;
            Ok(())
        })
        .await
        .unwrap();
    }

    /// The dead letters: queue, body, due, reason.
    fn letters(db: &Db) -> Vec<(String, String, Option<i64>, String)> {
        db.read(|conn| {
            let mut statement = conn.prepare("SELECT queue, body, due, reason FROM dead_letters ORDER BY id")?;
            let rows = statement.query_map([], |r| {
                // Kept as it was queued: text, or the bytes that were not.
                let body = String::from_utf8_lossy(r.get_ref(1)?.as_bytes()?).into_owned();
                Ok((r.get(0)?, body, r.get(2)?, r.get(3)?))
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .unwrap()
    }

    fn runs(due: &Due) -> Vec<String> {
        due.steps.iter().map(|s| s.message.step.run.to_string()).collect()
    }

    #[tokio::test]
    async fn unreadable_step_rows_are_buried_and_the_steps_due_after_them_still_run() {
        let db = fresh_db();
        let steps = SqliteStepQueue::new(&db);
        let now = t("2026-12-05T10:00:00Z");
        steps.schedule(step("run-1", t("2026-12-05T09:59:00Z")), now).await.unwrap();
        // Due first: JSON that is no step, and bytes that are not even text.
        raw(&db, "INSERT INTO steps (due, message) VALUES (0, '{\"not\": \"a step\"')").await;
        raw(&db, "INSERT INTO steps (due, message) VALUES (1, x'00ff')").await;
        steps.schedule(step("run-2", t("2026-12-05T09:59:30Z")), now).await.unwrap();

        let due = steps.take_due(now, 10).await.unwrap();

        assert_eq!(runs(&due), ["run-1", "run-2"]);
        assert_eq!(due.buried.len(), 2, "{:?}", due.buried);
        let dead = letters(&db);
        assert_eq!(dead.len(), 2);
        assert_eq!((dead[0].0.as_str(), dead[0].1.as_str(), dead[0].2), ("steps", "{\"not\": \"a step\"", Some(0)));
        assert_eq!((dead[1].0.as_str(), dead[1].2), ("steps", Some(1)));
        assert_eq!([&dead[0].3, &dead[1].3], [&due.buried[0], &due.buried[1]], "said as stored");
        assert!(dead.iter().all(|d| d.3.starts_with("unreadable queued step")), "{dead:?}");
        assert_eq!(steps.queued().unwrap(), 2, "the buried rows left the queue");
        assert!(steps.take_due(now, 10).await.unwrap().steps.is_empty(), "the two taken are in flight");
    }

    #[tokio::test]
    async fn a_step_that_failed_for_good_leaves_the_queue_for_the_dead_letters_once_with_its_reason() {
        let db = fresh_db();
        let steps = SqliteStepQueue::new(&db);
        let now = t("2026-12-05T10:00:00Z");
        let message = step("run-1", t("2026-12-05T09:59:00Z"));
        steps.schedule(message.clone(), now).await.unwrap();
        let id = steps.take_due(now, 10).await.unwrap().steps[0].id;

        steps.dead(id, "unreadable stored item: run run-1".into(), now).await.unwrap();
        // A second word on a row already gone moves nothing.
        steps.dead(id, "again".into(), now).await.unwrap();

        assert_eq!(steps.queued().unwrap(), 0);
        assert_eq!(dead_letters(&db).unwrap(), 1);
        let (queue, body, due, reason) = letters(&db).remove(0);
        assert_eq!((queue.as_str(), reason.as_str()), ("steps", "unreadable stored item: run run-1"));
        assert_eq!(serde_json::from_str::<StepMessage>(&body).unwrap(), message, "kept as queued");
        assert_eq!(due, Some(message.step.due.timestamp_micros()));
    }

    #[tokio::test]
    async fn an_event_that_failed_for_good_leaves_the_queue_for_the_dead_letters() {
        let db = fresh_db();
        let now = t("2026-12-05T10:00:00Z");
        let Opened { queue: events, mut inbox, buried } = SqliteEventQueue::open(&db, now).await.unwrap();
        assert!(buried.is_empty());
        events.enqueue(list_join("req-1")).await.unwrap();
        let queued = inbox.recv().await.unwrap();

        events.dead(queued.seq, "unreadable stored item: contact".into(), now).await.unwrap();

        assert_eq!(events.waiting().unwrap(), 0);
        let (queue, body, due, reason) = letters(&db).remove(0);
        assert_eq!((queue.as_str(), due, reason.as_str()), ("events", None, "unreadable stored item: contact"));
        assert_eq!(serde_json::from_str::<PipelineEvent>(&body).unwrap(), list_join("req-1"));
    }

    #[tokio::test]
    async fn unreadable_events_left_in_the_file_are_buried_at_open_and_the_others_handed_on() {
        let db = fresh_db();
        let now = t("2026-12-05T10:00:00Z");
        {
            // The inbox kept open, as by a running matcher that handles nothing.
            let Opened { queue: events, inbox: _inbox, .. } = SqliteEventQueue::open(&db, now).await.unwrap();
            events.enqueue(list_join("req-1")).await.unwrap();
            raw(&db, "INSERT INTO events (event) VALUES ('[1, 2')").await;
            raw(&db, "INSERT INTO events (event) VALUES (x'c328')").await;
            events.enqueue(list_join("req-2")).await.unwrap();
        }

        // As at the next start of the process.
        let Opened { queue: events, mut inbox, buried } = SqliteEventQueue::open(&db, now).await.unwrap();

        let first = inbox.recv().await.unwrap().event;
        let second = inbox.recv().await.unwrap().event;
        assert_eq!((first, second), (list_join("req-1"), list_join("req-2")));
        assert!(inbox.try_recv().is_err(), "nothing else was handed on");
        assert_eq!(events.waiting().unwrap(), 2);
        assert_eq!(buried.len(), 2, "{buried:?}");
        let dead = letters(&db);
        assert_eq!(dead.iter().map(|d| d.0.as_str()).collect::<Vec<_>>(), ["events", "events"]);
        assert_eq!(dead[0].1, "[1, 2");
        assert!(dead.iter().all(|d| d.3.starts_with("unreadable queued event")), "{dead:?}");
    }
}
