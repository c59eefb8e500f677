//! Webhook→send throughput of the pipeline on the durable store (`avvio serve`'s), without
//! HTTP and without pacing: each of `MESSAGES` signed-webhook events (a text from a new
//! contact matching a phrase automation whose first step sends a text) is queued in the
//! file, handled by the matcher (which sends the reply itself, recording it before and after)
//! and deleted from the queue, `LANES` at a time as `avvio serve` runs them. Every commit is
//! durable (`synchronous=FULL`, group commit). Sends go to a counting sender.
//!
//! `cargo bench -p avvio-sqlite --bench pipeline` (figures go in the README).

use avvio_common::memory::{MemoryPoster, MemorySender};
use avvio_common::ports::{EventQueue, Management, PipelineEvent};
use avvio_common::stages::Deps;
use avvio_sqlite::{SqliteEventQueue, SqliteStepQueue, SqliteStore};
use std::sync::Arc;
use std::time::{Duration, Instant};

const MESSAGES: usize = 50_000;
const LANES: usize = 64;

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p) as usize].as_secs_f64() * 1000.0
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let dir = std::env::temp_dir().join(format!("avvio-sqlite-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let store = SqliteStore::open_unpaced(&dir.join("avvio.db")).unwrap();
    let ws = avvio_common::domain::WorkspaceId::parse("default").unwrap();
    let workspace = serde_json::from_str(include_str!("../../../examples/workspace.json")).unwrap();
    store.put_workspace(&ws, &workspace, None).await.unwrap();
    let automation = serde_json::from_value(serde_json::json!({
        "id": "info", "name": "info", "trigger": { "type": "customer_message", "phrase": "Info" },
        "steps": [ { "after": "0s", "action": { "type": "send_text", "text": "Ciao {{name}}, come possiamo aiutarti?" } } ] }))
    .unwrap();
    store.create_automation(&ws, automation).await.unwrap();
    let avvio_sqlite::queues::Opened { queue: events, mut inbox, .. } =
        SqliteEventQueue::open(store.db(), chrono::Utc::now()).await.unwrap();
    let sender = MemorySender::counting();
    let deps = Arc::new(Deps {
        steps: SqliteStepQueue::new(store.db()),
        store,
        sender: sender.clone(),
        poster: MemoryPoster::default(),
        default_access_token: Some("bench".into()),
    });
    let now = chrono::Utc::now();
    let webhooks: Vec<PipelineEvent> = (0..MESSAGES)
        .map(|n| {
            let body = avvio_tests::text_webhook(
                "106540352242922",
                &format!("39{:010}", 3_000_000_000u64 + n as u64),
                &format!("wamid.bench.{n}"),
                &now.to_rfc3339(),
                "Info",
            );
            let event = avvio_common::webhook::parse_webhook(&body).unwrap().remove(0);
            PipelineEvent::Whatsapp { event }
        })
        .collect();

    let started = Instant::now();
    // Ingest: `LANES` callers queue the webhooks' events in the file, each answered once committed.
    let posted: Arc<std::sync::Mutex<std::collections::HashMap<String, Instant>>> = Arc::default();
    let work = Arc::new(std::sync::Mutex::new(webhooks.into_iter()));
    for _ in 0..LANES {
        let (events, work, posted) = (events.clone(), work.clone(), posted.clone());
        tokio::spawn(async move {
            loop {
                let Some(event) = work.lock().unwrap().next() else { return };
                posted.lock().unwrap().insert(event.dedupe_key(), Instant::now());
                events.enqueue(event).await.unwrap();
            }
        });
    }
    // The matcher: up to `LANES` events at once, each deleted from the queue once handled.
    let busy = Arc::new(tokio::sync::Semaphore::new(LANES));
    let latencies = Arc::new(std::sync::Mutex::new(Vec::with_capacity(MESSAGES)));
    for _ in 0..MESSAGES {
        let queued = inbox.recv().await.unwrap();
        let permit = busy.clone().acquire_owned().await.unwrap();
        let (deps, events, posted, latencies) = (deps.clone(), events.clone(), posted.clone(), latencies.clone());
        tokio::spawn(async move {
            let _permit = permit;
            deps.handle_event(&queued.event, chrono::Utc::now()).await.unwrap();
            let at = posted.lock().unwrap().remove(&queued.event.dedupe_key()).unwrap();
            latencies.lock().unwrap().push(at.elapsed());
            events.done(queued.seq).await.unwrap();
        });
    }
    let _all = busy.acquire_many(LANES as u32).await.unwrap();
    let elapsed = started.elapsed().as_secs_f64();
    let mut latencies = std::mem::take(&mut *latencies.lock().unwrap());
    latencies.sort();
    assert_eq!(sender.count() as usize, MESSAGES, "every message was sent once");
    println!(
        "{MESSAGES} webhooks → sends on the SQLite store, {LANES} at once: {:.0} sends/s; queued→sent (the callers flood the queue) p50 {:.0} ms, p99 {:.0} ms; {} events left queued",
        MESSAGES as f64 / elapsed,
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        events.waiting().unwrap()
    );
    let _ = std::fs::remove_dir_all(&dir);
}
