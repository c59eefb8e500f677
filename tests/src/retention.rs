//! Runs retention on the stores that delete expired runs themselves (memory, SQLite; DynamoDB
//! leaves it to its TTL on `expires_at`): an ended run is deleted once its retention has
//! passed since its last step, an active run never.

use avvio_common::domain::automation::ActionKind;
use avvio_common::domain::run::{Run, RunCause, RunStatus, StepRecord, StepStatus};
use avvio_common::domain::{AutomationId, ContactKey, Duration, RunId, StepPath, WaId, WorkspaceId};
use avvio_common::ports::{Management, RunBase, RunFilter};
use avvio_common::time::{Time, parse_rfc3339};

fn t(raw: &str) -> Time {
    parse_rfc3339(raw).unwrap()
}

fn run(id: &str, started_at: Time, retention: Duration) -> Run {
    Run {
        id: RunId::parse(id).unwrap(),
        automation: AutomationId::parse("info").unwrap(),
        version: 1,
        contact: ContactKey::Phone(WaId::parse("393331234567").unwrap()),
        started_at,
        cause: RunCause::Manual,
        depth: 0,
        block_epoch: 0,
        status: RunStatus::Active,
        steps: Vec::new(),
        retention,
    }
}

/// Ends `run` with a step done at `at`, written over its stored revision `revision`.
async fn end<S: Management>(store: &S, ws: &WorkspaceId, run: &Run, revision: u64, at: Time) -> Run {
    let mut ended = run.clone();
    ended.record(StepRecord::new(StepPath::first(), ActionKind::SendText, StepStatus::Done, at, None));
    ended.status = RunStatus::Completed;
    store.put_run(ws, &ended, &RunBase::of(run, revision)).await.unwrap();
    ended
}

pub async fn ended_runs_are_forgotten_once_their_retention_has_passed<S: Management>(store: &S) {
    let ws = WorkspaceId::parse("negozio").unwrap();
    let day = Duration::from_secs(86_400);
    let start = t("2026-11-23T09:00:00Z");
    let (short, long, active) = (
        run("r-short", start, day),
        run("r-long", start, Duration::from_secs(3 * 86_400)),
        run("r-active", start, day),
    );
    for run in [&short, &long, &active] {
        assert!(store.create_run(&ws, run).await.unwrap());
    }
    let ended_at = t("2026-11-23T10:00:00Z");
    let short = end(store, &ws, &short, 1, ended_at).await;
    end(store, &ws, &long, 1, ended_at).await;
    assert_eq!(short.expires_at(), Some(t("2026-11-24T10:00:00Z")), "a day after its last step");

    assert_eq!(store.forget_expired_runs(t("2026-11-24T09:59:59Z")).await.unwrap(), 0, "not a second early");
    assert!(store.run(&ws, &short.id).await.unwrap().is_some());
    assert_eq!(store.forget_expired_runs(t("2026-11-24T10:00:00Z")).await.unwrap(), 1);
    assert_eq!(store.run(&ws, &short.id).await.unwrap(), None);
    let listed: Vec<String> =
        store.runs(&ws, &RunFilter::default()).await.unwrap().iter().map(|r| r.id.to_string()).collect();
    assert_eq!(listed.len(), 2, "the listing no longer shows it: {listed:?}");
    assert!(!listed.contains(&"r-short".to_string()), "{listed:?}");

    // A year on: the three-day run is gone too; the active one stays, whatever its age.
    assert_eq!(store.forget_expired_runs(t("2027-11-23T09:00:00Z")).await.unwrap(), 1);
    assert!(store.run(&ws, &active.id).await.unwrap().is_some(), "an active run is never deleted");
    assert_eq!(store.forget_expired_runs(t("2027-11-23T09:00:00Z")).await.unwrap(), 0, "nothing twice");
}
