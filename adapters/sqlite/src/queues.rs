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
    /// parse is moved to the dead letters (`now` is when).
    pub async fn open(
        db: &Db,
        now: Time,
    ) -> Result<(Self, tokio::sync::mpsc::UnboundedReceiver<QueuedEvent>), StoreError> {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let left = db.read(|conn| {
            let mut statement = conn.prepare("SELECT seq, event FROM events ORDER BY seq")?;
            let rows = statement.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })?;
        for (seq, text) in left {
            match serde_json::from_str(&text) {
                Ok(event) => {
                    let _ = tx.send(QueuedEvent { seq, event });
                }
                Err(e) => bury(db, Queue::Events, seq, format!("unreadable queued event: {e}"), now).await?,
            }
        }
        Ok((Self { db: db.clone(), tx }, rx))
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
    pub async fn take_due(&self, now: Time, limit: usize) -> Result<Vec<QueuedStep>, StoreError> {
        let skip = self.in_flight().len();
        let rows = self.db.read(|conn| {
            let mut statement =
                conn.prepare_cached("SELECT id, message FROM steps WHERE due <= ?1 ORDER BY due, id LIMIT ?2")?;
            let rows = statement.query_map(params![micros(now), (limit + skip) as i64], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
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
                match serde_json::from_str(&text) {
                    Ok(message) => {
                        in_flight.insert(id);
                        taken.push(QueuedStep { id, message });
                    }
                    Err(e) => unreadable.push((id, format!("unreadable queued step: {e}"))),
                }
            }
        }
        for (id, reason) in unreadable {
            if let Err(e) = bury(&self.db, Queue::Steps, id, reason, now).await {
                // Taken steps are in flight: give them back before answering the error.
                let mut in_flight = self.in_flight();
                for step in &taken {
                    in_flight.remove(&step.id);
                }
                return Err(e);
            }
        }
        Ok(taken)
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
