//! The queues of `avvio serve`: work that can never be done leaves its queue for the
//! `dead_letters` table in one commit, and an unreadable row never holds back the others.

use avvio_common::domain::ids::{ListName, RunId, WorkspaceId};
use avvio_common::domain::path::StepPath;
use avvio_common::engine::StepDue;
use avvio_common::ports::{EventQueue, PipelineEvent, StepMessage, StepQueue};
use avvio_common::time::Time;
use avvio_sqlite::db::Db;
use avvio_sqlite::queues::dead_letters;
use avvio_sqlite::{SqliteEventQueue, SqliteStepQueue, SqliteStore};
use std::sync::atomic::{AtomicU32, Ordering};

static FILES: AtomicU32 = AtomicU32::new(0);

/// A fresh store on a new file under the system's temporary directory.
fn store() -> SqliteStore {
    let dir = std::env::temp_dir().join(format!("avvio-sqlite-queues-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let path = dir.join(format!("{}.db", FILES.fetch_add(1, Ordering::Relaxed)));
    SqliteStore::open(&path).expect("a new database opens")
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
        contact: avvio_common::domain::ContactKey::parse("393331234567").unwrap(),
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
fn buried(db: &Db) -> Vec<(String, String, Option<i64>, String)> {
    db.read(|conn| {
        let mut statement = conn.prepare("SELECT queue, body, due, reason FROM dead_letters ORDER BY id")?;
        let rows = statement.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    })
    .unwrap()
}

#[tokio::test]
async fn an_unreadable_step_row_is_buried_and_the_steps_due_after_it_still_run() {
    let store = store();
    let steps = SqliteStepQueue::new(store.db());
    let now = t("2026-12-05T10:00:00Z");
    steps.schedule(step("run-1", t("2026-12-05T09:59:00Z")), now).await.unwrap();
    // Due first, and not a step message.
    raw(store.db(), "INSERT INTO steps (due, message) VALUES (0, '{\"not\": \"a step\"')").await;
    steps.schedule(step("run-2", t("2026-12-05T09:59:30Z")), now).await.unwrap();

    let taken = steps.take_due(now, 10).await.unwrap();

    let runs: Vec<_> = taken.iter().map(|s| s.message.step.run.to_string()).collect();
    assert_eq!(runs, ["run-1", "run-2"]);
    let dead = buried(store.db());
    assert_eq!(dead.len(), 1);
    let (queue, body, due, reason) = &dead[0];
    assert_eq!((queue.as_str(), body.as_str(), *due), ("steps", "{\"not\": \"a step\"", Some(0)));
    assert!(reason.starts_with("unreadable queued step"), "{reason}");
    assert_eq!(steps.queued().unwrap(), 2, "the buried row left the queue");
    assert!(steps.take_due(now, 10).await.unwrap().is_empty(), "the two taken are in flight");
}

#[tokio::test]
async fn a_step_that_failed_for_good_leaves_the_queue_for_the_dead_letters_with_its_reason() {
    let store = store();
    let steps = SqliteStepQueue::new(store.db());
    let now = t("2026-12-05T10:00:00Z");
    let message = step("run-1", t("2026-12-05T09:59:00Z"));
    steps.schedule(message.clone(), now).await.unwrap();
    let taken = steps.take_due(now, 10).await.unwrap();

    steps.dead(taken[0].id, "unreadable stored item: run run-1".into(), now).await.unwrap();

    assert_eq!(steps.queued().unwrap(), 0);
    assert_eq!(dead_letters(store.db()).unwrap(), 1);
    let (queue, body, due, reason) = buried(store.db()).remove(0);
    assert_eq!((queue.as_str(), reason.as_str()), ("steps", "unreadable stored item: run run-1"));
    assert_eq!(serde_json::from_str::<StepMessage>(&body).unwrap(), message, "kept as queued");
    assert_eq!(due, Some(message.step.due.timestamp_micros()));
}

#[tokio::test]
async fn an_event_that_failed_for_good_leaves_the_queue_for_the_dead_letters() {
    let store = store();
    let now = t("2026-12-05T10:00:00Z");
    let (events, mut inbox) = SqliteEventQueue::open(store.db(), now).await.unwrap();
    events.enqueue(list_join("req-1")).await.unwrap();
    let queued = inbox.recv().await.unwrap();

    events.dead(queued.seq, "unreadable stored item: contact".into(), now).await.unwrap();

    assert_eq!(events.waiting().unwrap(), 0);
    let (queue, body, due, reason) = buried(store.db()).remove(0);
    assert_eq!((queue.as_str(), due, reason.as_str()), ("events", None, "unreadable stored item: contact"));
    assert_eq!(serde_json::from_str::<PipelineEvent>(&body).unwrap(), list_join("req-1"));
}

#[tokio::test]
async fn an_unreadable_event_left_in_the_file_is_buried_at_open_and_the_others_are_handed_on() {
    let store = store();
    let now = t("2026-12-05T10:00:00Z");
    {
        let (events, _inbox) = SqliteEventQueue::open(store.db(), now).await.unwrap();
        events.enqueue(list_join("req-1")).await.unwrap();
        raw(store.db(), "INSERT INTO events (event) VALUES ('[1, 2')").await;
        events.enqueue(list_join("req-2")).await.unwrap();
    }

    // As at the next start of the process.
    let (events, mut inbox) = SqliteEventQueue::open(store.db(), now).await.unwrap();

    let first = inbox.recv().await.unwrap().event;
    let second = inbox.recv().await.unwrap().event;
    assert_eq!((first, second), (list_join("req-1"), list_join("req-2")));
    assert!(inbox.try_recv().is_err(), "nothing else was handed on");
    assert_eq!(events.waiting().unwrap(), 2);
    let dead = buried(store.db());
    assert_eq!(dead.len(), 1);
    assert_eq!((dead[0].0.as_str(), dead[0].1.as_str()), ("events", "[1, 2"));
    assert!(dead[0].3.starts_with("unreadable queued event"), "{}", dead[0].3);
}
