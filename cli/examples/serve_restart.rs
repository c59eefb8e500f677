//! How long `avvio serve` takes from start to serving on a large file (run it with
//! `scripts/serve-restart [--runs 1000000] [--steps 100000] [--data FILE]`).
//!
//! Fills a database file through the store (a workspace, an automation, `--runs` runs of
//! `--steps`/10 000 contacts each… and `--steps` pending steps due over the next days), closes
//! it, then starts `avvio serve` on it three times and prints the time from spawning the
//! process to its first `GET /health` answered 200.

use avvio_common::domain::ids::{AutomationId, RunId, WorkspaceId};
use avvio_common::domain::phone::{ContactKey, WaId};
use avvio_common::domain::run::{Run, RunCause, RunStatus};
use avvio_common::engine::StepDue;
use avvio_common::ports::{Management, StepMessage, StepQueue, Store};
use avvio_sqlite::{SqliteStepQueue, SqliteStore};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{arg, ms, start_serve};

#[path = "support/mod.rs"]
mod support;

/// Writes in flight at once while filling (the writer commits them in groups).
const IN_FLIGHT: usize = 1024;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let runs = arg(&args, "--runs", 1_000_000);
    let steps = arg(&args, "--steps", 100_000);
    let scratch = std::env::temp_dir().join(format!("avvio-serve-restart-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).unwrap();
    let data = args
        .iter()
        .position(|a| a == "--data")
        .and_then(|i| args.get(i + 1))
        .map_or_else(|| scratch.join("avvio.db"), std::path::PathBuf::from);

    let filling = Instant::now();
    fill(&data, runs, steps).await;
    let size = std::fs::metadata(&data).map(|m| m.len()).unwrap_or(0);
    println!(
        "filled {} with {runs} runs and {steps} pending steps in {:.1}s: {:.0} MiB",
        data.display(),
        filling.elapsed().as_secs_f64(),
        size as f64 / (1024.0 * 1024.0)
    );

    let http = reqwest::Client::new();
    for attempt in 1..=3 {
        let started = Instant::now();
        let (avvio, base) = start_serve("http://127.0.0.1:9", "restart-secret", "restart-key", &data);
        let listening = started.elapsed();
        while !http.get(format!("{base}/health")).send().await.is_ok_and(|r| r.status() == 200) {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        println!(
            "start {attempt}: listening after {} ms, serving (GET /health 200) after {} ms",
            ms(listening),
            ms(started.elapsed())
        );
        let _ = std::process::Command::new("kill").args(["-TERM", &avvio.pid().to_string()]).status();
        tokio::time::sleep(Duration::from_secs(1)).await;
        drop(avvio);
    }
    let _ = std::fs::remove_dir_all(&scratch);
}

async fn fill(path: &std::path::Path, runs: u64, steps: u64) {
    let store = SqliteStore::open(path).expect("the database opens");
    let ws = WorkspaceId::parse("default").unwrap();
    let workspace = serde_json::from_str(include_str!("../../examples/workspace.json")).unwrap();
    if store.workspace(&ws).await.unwrap().is_none() {
        store.put_workspace(&ws, &workspace, None).await.unwrap();
    }
    let automation: avvio_common::domain::Automation = serde_json::from_value(serde_json::json!({
        "id": "promemoria", "name": "promemoria", "trigger": { "type": "customer_message", "phrase": "Promemoria" },
        "steps": [ { "after": "0s", "action": { "type": "send_text", "text": "Ciao!" } },
                   { "after": "2d", "action": { "type": "send_text", "text": "Ci vediamo domani" } } ] }))
    .unwrap();
    let id = AutomationId::parse("promemoria").unwrap();
    if store.automation(&ws, &id).await.unwrap().is_none() {
        store.create_automation(&ws, automation).await.unwrap();
    }
    let store = Arc::new(store);
    let queue = Arc::new(SqliteStepQueue::new(store.db()));
    let now = chrono::Utc::now();
    let limit = Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..runs.max(steps) {
        let permit = limit.clone().acquire_owned().await.unwrap();
        let (store, queue, ws, id) = (store.clone(), queue.clone(), ws.clone(), id.clone());
        tasks.spawn(async move {
            let _permit = permit;
            let run_id = RunId::parse(format!("run-{n:08}")).unwrap();
            if n < runs {
                let run = Run {
                    id: run_id.clone(),
                    automation: id,
                    version: 1,
                    contact: ContactKey::Phone(WaId::parse(&format!("39{:010}", 3_000_000_000 + n % 100_000)).unwrap()),
                    started_at: now - chrono::Duration::seconds((runs - n) as i64),
                    cause: RunCause::Integration,
                    depth: 0,
                    block_epoch: 0,
                    status: if n < steps { RunStatus::Active } else { RunStatus::Completed },
                    steps: Vec::new(),
                    retention: avvio_common::domain::run::RUNS_RETENTION,
                };
                store.create_run(&ws, &run).await.unwrap();
            }
            if n < steps {
                let due = now + chrono::Duration::seconds(60 + (n as i64 * 7) % 172_800);
                let step = StepDue { run: run_id, step: "steps[1]".parse().unwrap(), due };
                queue.schedule(StepMessage { workspace: ws, step }, now).await.unwrap();
            }
        });
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
    store.close().await.unwrap();
}
