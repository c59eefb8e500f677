//! `avvio dev`: the whole system in one process on the embedded in-memory
//! adapters, serving the HTTP surface on localhost. Sends go to the Graph API
//! at `WHATSAPP_API_BASE` (Meta's by default; a local stand-in in tests), and
//! each effect is printed as a JSON line, as `simulate` prints it.

use anyhow::Context;
use avvio_api::{App, IngestConfig, MetaTemplates};
use avvio_common::domain::workspace::Workspace;
use avvio_common::domain::{StepPath, WorkspaceId};
use avvio_common::memory::{MemoryEventQueue, MemoryStepQueue, MemoryStore};
use avvio_common::outbound::Mode;
use avvio_common::ports::{EventQueue, KeyHash, Management, Retry, StepMessage, StepQueue};
use avvio_common::stages::{Deps, Report};
use avvio_common::validate::{Document, check_set, read_documents};
use avvio_console::router;
use avvio_http::graph::{GraphConfig, GraphSender};
use avvio_http::webhooks::{HttpWebhookPoster, WebhookConfig};
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// The examples `avvio dev` loads when no files are given (compiled in, so it runs from anywhere).
const EXAMPLE_WORKSPACE: &str = include_str!("../../examples/workspace.json");
const EXAMPLE_AUTOMATIONS: &str = include_str!("../../examples/automations.json");

/// The management API key when `AVVIO_API_KEY` is unset (the server listens on localhost only).
const DEFAULT_API_KEY: &str = "dev-api-key";

/// How often a retryable step failure (throttling, 5xx) is tried, and the first backoff
/// (doubled after each failure: 1s, 2s, 4s, 8s).
pub(crate) const STEP_ATTEMPTS: u32 = 5;
pub(crate) const STEP_FIRST_BACKOFF: chrono::Duration = chrono::Duration::seconds(1);

/// How many events the matcher handles at once (each may wait on the Graph API for its reply).
pub(crate) const MATCHER_LANES: usize = 64;

/// How many steps run at once (each mostly waits on the Graph API or a webhook).
pub(crate) const STEP_CONCURRENCY: usize = 64;

/// How often the clock looks for date triggers when none is due sooner.
pub(crate) const CLOCK_IDLE: Duration = Duration::from_secs(60);

type DevDeps = Deps<MemoryStore, MemoryStepQueue, GraphSender, HttpWebhookPoster>;

/// `avvio dev`'s settings, from flags and the environment.
pub struct DevOptions<'a> {
    pub port: u16,
    pub workspace: Option<&'a Path>,
    pub automations: Option<&'a Path>,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

pub fn run(options: DevOptions<'_>) -> anyhow::Result<()> {
    let (workspace_name, workspace_text) = match options.workspace {
        Some(path) => (path.display().to_string(), crate::read(path)?),
        None => ("examples/workspace.json".to_string(), EXAMPLE_WORKSPACE.to_string()),
    };
    let documents: Vec<Document> = match options.automations {
        Some(path) => {
            read_documents(&path.display().to_string(), &crate::read(path)?).map_err(|p| anyhow::anyhow!("{p}"))?
        }
        None => read_documents("examples/automations.json", EXAMPLE_AUTOMATIONS).map_err(|p| anyhow::anyhow!("{p}"))?,
    };
    let workspace: Workspace = crate::parse_workspace(&workspace_name, &workspace_text)?;
    let catalog = check_set(documents, Some(&workspace)).map_err(|problems| {
        anyhow::anyhow!("{}", problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))
    })?;

    let app_secret = env("WHATSAPP_APP_SECRET").unwrap_or_else(|| "dev-app-secret".into());
    let verify_token = env("WHATSAPP_VERIFY_TOKEN").unwrap_or_else(|| "dev-verify-token".into());
    let api_key = env("AVVIO_API_KEY").unwrap_or_else(|| DEFAULT_API_KEY.into());
    let mut graph = GraphConfig::default();
    if let Some(base) = env("WHATSAPP_API_BASE") {
        graph.api_base = base;
    }
    let sender = GraphSender::new(graph.clone()).context("WHATSAPP_API_BASE")?;
    let poster = HttpWebhookPoster::new(WebhookConfig::new(Mode::Local)).context("the webhook client")?;

    let ws = WorkspaceId::parse("default").expect("a valid id");
    let key_ws = ws.clone();
    let store = MemoryStore::new();
    store.load_workspace(&ws, workspace);
    store.load_catalog(&ws, catalog);
    let deps = Arc::new(Deps {
        store,
        steps: MemoryStepQueue::new(),
        sender,
        poster,
        default_access_token: env("WHATSAPP_ACCESS_TOKEN"),
    });
    let (events, inbox) = MemoryEventQueue::new();
    let templates = MetaTemplates::new(graph, env("WHATSAPP_ACCESS_TOKEN")).context("WHATSAPP_API_BASE")?;
    let app = Arc::new(App {
        store: deps.store.clone(),
        events,
        config: IngestConfig { app_secret, verify_token },
        templates,
    });

    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", options.port))
            .await
            .with_context(|| format!("cannot listen on 127.0.0.1:{}", options.port))?;
        app.store.put_api_key(&KeyHash::of(&api_key), &key_ws).await?;
        eprintln!("avvio dev: listening on http://{}", listener.local_addr()?);
        eprintln!("avvio dev: web console on http://{}/console/", listener.local_addr()?);
        if api_key == DEFAULT_API_KEY {
            eprintln!("avvio dev: management API key `{DEFAULT_API_KEY}` (set AVVIO_API_KEY to change it)");
        }
        tokio::spawn(drain_events(deps.clone(), app.events.clone(), inbox));
        tokio::spawn(drive_steps(deps.clone()));
        tokio::spawn(tick_clock(deps, app.templates.clone()));
        axum::serve(listener, router(app)).with_graceful_shutdown(ctrl_c()).await?;
        eprintln!("avvio dev: stopped");
        anyhow::Ok(())
    })
}

async fn ctrl_c() {
    let _ = tokio::signal::ctrl_c().await;
}

pub(crate) fn now() -> avvio_common::time::Time {
    chrono::Utc::now()
}

/// Once a day, the templates of the workspace (when it has a `whatsapp.waba_id`) synced from
/// Meta; what happened is printed, a failure is tried again the next day.
pub(crate) async fn sync_templates_daily<S: Management>(store: &S, templates: &MetaTemplates) {
    use avvio_common::stages::clock::sync_templates_daily;
    let token = templates.default_access_token.as_deref();
    match sync_templates_daily(store, &templates.source, token, now()).await {
        Ok(outcomes) => {
            for outcome in outcomes {
                match outcome.result {
                    Ok(sync) => eprintln!(
                        "avvio: templates synced from Meta: {} added, {} changed, {} removed",
                        sync.counts.added, sync.counts.changed, sync.counts.removed
                    ),
                    Err(e) => eprintln!("avvio: the template sync failed (tried again tomorrow): {e}"),
                }
            }
        }
        Err(e) => eprintln!("avvio: the template sync could not start: {e}"),
    }
}

/// Prints each effect as a JSON line.
pub(crate) fn print(report: &Report) {
    let mut out = std::io::stdout().lock();
    for effect in &report.effects {
        if serde_json::to_writer(&mut out, effect).is_ok() {
            let _ = out.write_all(b"\n");
        }
    }
    let _ = out.flush();
}

/// The matcher: [`MATCHER_LANES`] lanes, each handling its events one at a time in arrival
/// order, an event's lane picked by its group key, as the FIFO events queue groups them on
/// AWS: one contact's events stay in order, other contacts' go on meanwhile (the matcher
/// sends replies itself, so a lane waits on the Graph API).
async fn drain_events(
    deps: Arc<DevDeps>,
    events: MemoryEventQueue,
    mut inbox: tokio::sync::mpsc::UnboundedReceiver<avvio_common::ports::PipelineEvent>,
) {
    use std::hash::{BuildHasher, RandomState};
    let hasher = RandomState::new();
    let lanes: Vec<_> = (0..MATCHER_LANES)
        .map(|_| {
            let (lane, mut queue) = tokio::sync::mpsc::unbounded_channel::<avvio_common::ports::PipelineEvent>();
            let (deps, events) = (deps.clone(), events.clone());
            tokio::spawn(async move {
                while let Some(event) = queue.recv().await {
                    match deps.handle_event(&event, now()).await {
                        Ok(report) => {
                            if let Some(why) =
                                report.ignored.filter(|why| why.contains("template") || why.contains("waba"))
                            {
                                eprintln!("avvio dev: a template status update was ignored: {why}");
                            }
                            print(&report);
                            // The next page of a list run goes round the queue, as on AWS.
                            if let Some(next) = report.follow_up {
                                let _ = events.enqueue(next).await;
                            }
                        }
                        Err(e) => eprintln!("avvio dev: an event failed: {e}"),
                    }
                }
            });
            lane
        })
        .collect();
    while let Some(event) = inbox.recv().await {
        let lane = hasher.hash_one(event.group_key()) as usize % lanes.len();
        // A lane only stops with the runtime.
        let _ = lanes[lane].send(event);
    }
}

/// Failed attempts per (run, step), for the retry backoff.
type Attempts = Arc<std::sync::Mutex<HashMap<(String, StepPath), u32>>>;

/// The executor: runs each step when it comes due, up to [`STEP_CONCURRENCY`] at a time
/// (steps of one run never overlap: the next is queued only once the previous is stored);
/// retryable failures are tried again later.
async fn drive_steps(deps: Arc<DevDeps>) {
    let attempts = Attempts::default();
    let limit = Arc::new(tokio::sync::Semaphore::new(STEP_CONCURRENCY));
    loop {
        let wait = match deps.steps.next_due() {
            Some(due) => (due - now()).to_std().unwrap_or(Duration::ZERO),
            None => Duration::from_secs(3600),
        };
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = deps.steps.changed() => continue,
        }
        while let Some(message) = deps.steps.pop_due(now()) {
            let permit = limit.clone().acquire_owned().await.expect("the semaphore is never closed");
            let (deps, attempts) = (deps.clone(), attempts.clone());
            tokio::spawn(async move {
                let _permit = permit;
                let key = (message.step.run.to_string(), message.step.step);
                match deps.handle_step(&message, now()).await {
                    Ok(report) => {
                        attempts.lock().unwrap_or_else(|p| p.into_inner()).remove(&key);
                        print(&report);
                    }
                    Err(e) => {
                        if let Some(retry) = retry_later(&attempts, key, message, e) {
                            let _ = deps.steps.schedule(retry, now()).await;
                        }
                    }
                }
            });
        }
    }
}

/// The step to queue again after a failure, with its backoff; `None` once it failed for good.
fn retry_later(
    attempts: &Attempts,
    key: (String, StepPath),
    mut message: StepMessage,
    error: avvio_common::stages::StageError,
) -> Option<StepMessage> {
    let mut attempts = attempts.lock().unwrap_or_else(|p| p.into_inner());
    let tried = attempts.entry(key.clone()).or_insert(0);
    *tried += 1;
    if error.retry() == Retry::Retryable && *tried < STEP_ATTEMPTS {
        let backoff = STEP_FIRST_BACKOFF * 2i32.pow(*tried - 1);
        eprintln!(
            "avvio dev: step {} of run {} failed ({error}); trying again in {}s",
            key.1,
            key.0,
            backoff.num_seconds()
        );
        message.step.due = now() + backoff;
        Some(message)
    } else {
        eprintln!("avvio dev: step {} of run {} failed for good: {error}", key.1, key.0);
        attempts.remove(&key);
        None
    }
}

/// The clock: fires date triggers when they come due.
async fn tick_clock(deps: Arc<DevDeps>, templates: MetaTemplates) {
    loop {
        let wait = deps
            .store
            .next_date_due()
            .map_or(CLOCK_IDLE, |due| (due - now()).to_std().unwrap_or(Duration::ZERO).min(CLOCK_IDLE));
        tokio::time::sleep(wait).await;
        if let Err(e) = deps.run_clock_once(now()).await {
            eprintln!("avvio dev: the clock failed: {e}");
        }
        sync_templates_daily(&deps.store, &templates).await;
    }
}
