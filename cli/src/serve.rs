//! `avvio serve`: the whole system of `avvio dev` on the durable embedded store — one SQLite
//! file holding the workspace, automations, contacts, runs, stats and both queues. What it
//! acknowledges is committed first; after a crash or a restart the queued events and steps
//! (delays, waits, timeouts) go on at their times, late ones at once in order.

use crate::dev::{CLOCK_IDLE, MATCHER_LANES, STEP_ATTEMPTS, STEP_CONCURRENCY, STEP_FIRST_BACKOFF, now, print};
use anyhow::Context;
use avvio_api::{App, IngestConfig, MetaTemplates};
use avvio_common::domain::WorkspaceId;
use avvio_common::outbound::Mode;
use avvio_common::ports::{KeyHash, Retry, StoreError};
use avvio_common::stages::{Deps, StageError};
use avvio_console::router;
use avvio_http::graph::{GraphConfig, GraphSender};
use avvio_http::webhooks::{HttpWebhookPoster, WebhookConfig};
use avvio_sqlite::queues::{self, Due, Opened, QueuedEvent, QueuedStep};
use avvio_sqlite::{SqliteEventQueue, SqliteStepQueue, SqliteStore};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Semaphore, watch};

type ServeDeps = Deps<SqliteStore, SqliteStepQueue, GraphSender, HttpWebhookPoster>;

/// How long `SIGTERM` waits for the events and steps being handled to be stored.
const DRAIN: Duration = Duration::from_secs(25);

/// How many due steps the executor reads at once.
const STEP_BATCH: usize = 256;

/// The configuration `avvio serve` refuses to start without.
const REQUIRED: [&str; 3] = ["AVVIO_API_KEY", "WHATSAPP_APP_SECRET", "WHATSAPP_VERIFY_TOKEN"];

/// `avvio serve`'s settings, from flags.
pub struct ServeOptions<'a> {
    pub data: &'a Path,
    pub listen: SocketAddr,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn required(name: &str) -> anyhow::Result<String> {
    env(name).with_context(|| format!("{name} is not set: `avvio serve` needs {}", REQUIRED.join(", ")))
}

pub fn run(options: ServeOptions<'_>) -> anyhow::Result<()> {
    let api_key = required("AVVIO_API_KEY")?;
    let app_secret = required("WHATSAPP_APP_SECRET")?;
    let verify_token = required("WHATSAPP_VERIFY_TOKEN")?;
    let mut graph = GraphConfig::default();
    if let Some(base) = env("WHATSAPP_API_BASE") {
        graph.api_base = base;
    }
    let sender = GraphSender::new(graph.clone()).context("WHATSAPP_API_BASE")?;
    let poster = HttpWebhookPoster::new(WebhookConfig::new(Mode::Local)).context("the webhook client")?;
    let templates = MetaTemplates::new(graph, env("WHATSAPP_ACCESS_TOKEN")).context("WHATSAPP_API_BASE")?;

    let opened = std::time::Instant::now();
    let store = SqliteStore::open(options.data)?;
    let steps = SqliteStepQueue::new(store.db());
    let ws = WorkspaceId::parse("default").expect("a valid id");

    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let Opened { queue: events, inbox, buried } = SqliteEventQueue::open(store.db(), now())
            .await
            .with_context(|| format!("{}: the events queue", options.data.display()))?;
        for reason in buried {
            eprintln!("avvio serve: a queued event failed for good (kept in dead_letters): {reason}");
        }
        store.replace_api_keys(&KeyHash::of(&api_key), &ws).await?;
        let deps = Arc::new(Deps { store, steps, sender, poster, default_access_token: env("WHATSAPP_ACCESS_TOKEN") });
        let app = Arc::new(App {
            store: deps.store.clone(),
            events,
            config: IngestConfig { app_secret, verify_token },
            templates,
        });
        let listener = tokio::net::TcpListener::bind(options.listen)
            .await
            .with_context(|| format!("cannot listen on {}", options.listen))?;
        let address = listener.local_addr()?;
        eprintln!(
            "avvio serve: {} opened in {} ms ({} events and {} steps queued)",
            options.data.display(),
            opened.elapsed().as_millis(),
            app.events.waiting()?,
            deps.steps.queued()?
        );
        let dead = queues::dead_letters(deps.store.db())?;
        if dead > 0 {
            eprintln!("avvio serve: {dead} events or steps failed for good, kept in the table dead_letters (docs/serve.md)");
        }
        eprintln!("avvio serve: listening on http://{address}");
        eprintln!("avvio serve: web console on http://{address}/console/");

        let (stop, stopping) = watch::channel(false);
        let matcher = Arc::new(Semaphore::new(MATCHER_LANES));
        let executor = Arc::new(Semaphore::new(STEP_CONCURRENCY));
        tokio::spawn(drain_events(deps.clone(), app.events.clone(), inbox, matcher.clone(), stopping.clone()));
        tokio::spawn(drive_steps(deps.clone(), executor.clone(), stopping.clone()));
        tokio::spawn(tick_clock(deps.clone(), app.templates.clone(), stopping));
        axum::serve(listener, router(app)).with_graceful_shutdown(terminated()).await?;

        eprintln!("avvio serve: stopping: finishing the events and steps under way");
        let _ = stop.send(true);
        let drained = tokio::time::timeout(DRAIN, async {
            let _events = matcher.acquire_many(MATCHER_LANES as u32).await;
            let _steps = executor.acquire_many(STEP_CONCURRENCY as u32).await;
        })
        .await;
        if drained.is_err() {
            eprintln!(
                "avvio serve: gave up waiting after {}s: what was under way runs again at the next start",
                DRAIN.as_secs()
            );
        }
        if let Err(e) = deps.store.close().await {
            eprintln!("avvio serve: the database was not checkpointed ({e}); it is whole, its WAL is replayed at the next start");
        }
        eprintln!("avvio serve: stopped");
        anyhow::Ok(())
    })
}

/// Resolves on `SIGTERM` (systemd's stop) or Ctrl-C.
async fn terminated() {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("a SIGTERM handler installs");
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

/// The matcher, as in `avvio dev` ([`MATCHER_LANES`] lanes by group key, one contact's events
/// in order), deleting each event from the file once handled. A lane holds a permit of `busy`
/// while it handles an event, so stopping can wait for them.
async fn drain_events(
    deps: Arc<ServeDeps>,
    events: SqliteEventQueue,
    mut inbox: tokio::sync::mpsc::UnboundedReceiver<QueuedEvent>,
    busy: Arc<Semaphore>,
    stopping: watch::Receiver<bool>,
) {
    use avvio_common::ports::EventQueue;
    use std::hash::{BuildHasher, RandomState};
    let hasher = RandomState::new();
    let lanes: Vec<_> = (0..MATCHER_LANES)
        .map(|_| {
            let (lane, mut queue) = tokio::sync::mpsc::unbounded_channel::<QueuedEvent>();
            let (deps, events, busy, stopping) = (deps.clone(), events.clone(), busy.clone(), stopping.clone());
            tokio::spawn(async move {
                while let Some(QueuedEvent { seq, event }) = queue.recv().await {
                    if *stopping.borrow() {
                        return;
                    }
                    let Ok(_permit) = busy.acquire().await else { return };
                    match deps.handle_event(&event, now()).await {
                        Ok(report) => {
                            print(&report);
                            if let Some(next) = report.follow_up {
                                if let Err(e) = events.enqueue(next).await {
                                    // Not deleted: the page runs again after a restart.
                                    eprintln!("avvio serve: the next page of a list run could not be queued: {e}");
                                    continue;
                                }
                            }
                        }
                        Err(e) if e.retry() == Retry::Retryable => {
                            // Left in the file: tried again at the next start.
                            eprintln!("avvio serve: an event failed (kept for the next start): {e}");
                            continue;
                        }
                        Err(e @ StageError::Store(StoreError::Corrupt(_))) => {
                            match events.dead(seq, e.to_string(), now()).await {
                                Ok(()) => {
                                    eprintln!("avvio serve: an event failed for good (kept in dead_letters): {e}")
                                }
                                Err(why) => {
                                    eprintln!("avvio serve: an event failed for good ({e}) and stays queued: {why}")
                                }
                            }
                            continue;
                        }
                        // As on Lambda: an event that lost a race (its automation deleted
                        // since it was accepted…) is dropped, said on stderr.
                        Err(e) => eprintln!("avvio serve: an event failed for good: {e}"),
                    }
                    if let Err(e) = events.done(seq).await {
                        eprintln!("avvio serve: a handled event stays queued: {e}");
                    }
                }
            });
            lane
        })
        .collect();
    while let Some(queued) = inbox.recv().await {
        let lane = hasher.hash_one(queued.event.group_key()) as usize % lanes.len();
        let _ = lanes[lane].send(queued);
    }
}

/// The executor: takes due steps from the file (earliest first) up to [`STEP_CONCURRENCY`] at
/// a time; a step leaves the file once its result is stored, or is put back for later after
/// a passing failure.
async fn drive_steps(deps: Arc<ServeDeps>, limit: Arc<Semaphore>, mut stopping: watch::Receiver<bool>) {
    let attempts: Arc<std::sync::Mutex<HashMap<i64, u32>>> = Arc::default();
    loop {
        if *stopping.borrow() {
            return;
        }
        let due = match deps.steps.take_due(now(), STEP_BATCH).await {
            Ok(Due { steps, buried }) => {
                for reason in buried {
                    eprintln!("avvio serve: a queued step failed for good (kept in dead_letters): {reason}");
                }
                steps
            }
            Err(e) => {
                eprintln!("avvio serve: cannot read the due steps: {e}");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if due.is_empty() {
            let wait = match deps.steps.next_due_after(now()) {
                Ok(Some(at)) => (at - now()).to_std().unwrap_or(Duration::ZERO),
                _ => Duration::from_secs(1),
            };
            tokio::select! {
                () = tokio::time::sleep(wait.min(Duration::from_secs(1))) => {}
                () = deps.steps.changed() => {}
                _ = stopping.changed() => {}
            }
            continue;
        }
        for QueuedStep { id, message } in due {
            let Ok(permit) = limit.clone().acquire_owned().await else { return };
            let (deps, attempts) = (deps.clone(), attempts.clone());
            tokio::spawn(async move {
                let _permit = permit;
                let outcome = deps.handle_step(&message, now()).await;
                let tried = {
                    let mut attempts = attempts.lock().unwrap_or_else(|p| p.into_inner());
                    match &outcome {
                        Ok(_) => attempts.remove(&id).map_or(0, |_| 0),
                        Err(_) => {
                            let tried = attempts.entry(id).or_insert(0);
                            *tried += 1;
                            *tried
                        }
                    }
                };
                let stored = match outcome {
                    Ok(report) => {
                        print(&report);
                        deps.steps.done(id).await
                    }
                    Err(e) if e.retry() == Retry::Retryable && tried < STEP_ATTEMPTS => {
                        let backoff = STEP_FIRST_BACKOFF * 2i32.pow(tried - 1);
                        eprintln!(
                            "avvio serve: step {} of run {} failed ({e}); trying again in {}s",
                            message.step.step,
                            message.step.run,
                            backoff.num_seconds()
                        );
                        deps.steps.retry(id, now() + backoff).await
                    }
                    // Unreadable, or still failing after its last attempt: kept, as Lambda's
                    // DLQ keeps it. Other errors no retry fixes drop it, as on Lambda.
                    Err(e) => {
                        attempts.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
                        let (step, run) = (message.step.step, &message.step.run);
                        let reason = match &e {
                            StageError::Store(StoreError::Corrupt(_)) => Some(e.to_string()),
                            e if e.retry() == Retry::Retryable => Some(format!("after {tried} attempts: {e}")),
                            _ => None,
                        };
                        match reason {
                            Some(reason) => {
                                let buried = deps.steps.dead(id, reason.clone(), now()).await;
                                if buried.is_ok() {
                                    eprintln!(
                                        "avvio serve: step {step} of run {run} failed for good (kept in dead_letters): {reason}"
                                    );
                                }
                                buried
                            }
                            None => {
                                eprintln!("avvio serve: step {step} of run {run} failed for good: {e}");
                                deps.steps.done(id).await
                            }
                        }
                    }
                };
                if let Err(e) = stored {
                    eprintln!("avvio serve: step {} of run {} stays queued: {e}", message.step.step, message.step.run);
                }
            });
        }
    }
}

/// The clock: date triggers as they come due, and the daily template sync.
async fn tick_clock(deps: Arc<ServeDeps>, templates: MetaTemplates, mut stopping: watch::Receiver<bool>) {
    loop {
        let wait = match deps.store.next_date_due() {
            Ok(Some(due)) => (due - now()).to_std().unwrap_or(Duration::ZERO).min(CLOCK_IDLE),
            _ => CLOCK_IDLE,
        };
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            _ = stopping.changed() => return,
        }
        match deps.run_clock_once(now()).await {
            Ok(report) => print(&report),
            Err(e) => eprintln!("avvio serve: the clock failed: {e}"),
        }
        crate::dev::sync_templates_daily(&deps.store, &templates).await;
    }
}
