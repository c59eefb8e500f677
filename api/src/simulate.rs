//! `POST /v1/simulate`: `avvio simulate` (SPEC §5) over the key's stored workspace
//! document and, unless the request gives its own, its stored automations (current
//! versions). The simulator runs on a fresh in-memory state, on a blocking thread and
//! within [`TIME_LIMIT`]: it sends nothing and stores nothing. The answer holds exactly
//! the lines `avvio simulate` prints.

use crate::manage::Tenant;
use crate::{ApiError, App};
use avvio_common::domain::WorkspaceId;
use avvio_common::domain::automation::Automation;
use avvio_common::ports::{EventQueue, Management};
use avvio_common::simulate::{Line, SimError, Simulation, Summary, stored_catalog};
use avvio_common::time::{Time, parse_rfc3339};
use avvio_common::validate::{Document, check_set, shape_code, shape_issue};
use axum::body::Body;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The most events one request simulates.
pub const MAX_EVENTS: usize = 10_000;

/// The largest body this route reads: [`MAX_EVENTS`] WhatsApp messages (about 500 bytes
/// each as Meta words them) fit. In AWS, Lambda's 6 MB payload limit applies first.
pub const MAX_BODY_BYTES: usize = 6 << 20;

/// The wall time one simulation may take.
pub const TIME_LIMIT: Duration = Duration::from_secs(2);

/// The request body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Request {
    /// Automation documents simulated instead of the stored ones.
    #[serde(default)]
    automations: Option<Vec<serde_json::Value>>,
    /// Each one object, as a line of the events file: the simulator reads them.
    events: Vec<Box<RawValue>>,
    #[serde(default)]
    until: Option<String>,
}

/// The automations a simulation runs.
enum Automations {
    /// The request's documents, checked as `avvio simulate` checks its files.
    Given(Vec<serde_json::Value>),
    /// The workspace's, as stored (already checked).
    Stored(Vec<Arc<Automation>>),
}

/// What one simulation runs: automation documents (the stored ones when `None`), events (each
/// an object, as a line of the events file) and the time its clock stops at.
pub struct Scenario {
    pub automations: Option<Vec<serde_json::Value>>,
    pub events: Vec<Box<RawValue>>,
    pub until: Option<Time>,
}

/// `POST /v1/simulate` → 200 `{"effects": [...]}`.
pub async fn run<S: Management, E: EventQueue>(
    State(app): State<Arc<App<S, E>>>,
    Tenant(ws): Tenant,
    body: Body,
) -> Result<Response, ApiError> {
    let body = crate::read_body_up_to(body, MAX_BODY_BYTES).await?;
    simulate(&app.store, &ws, &body, TIME_LIMIT).await
}

/// The route's work with its time limit as an argument (a test gives `Duration::ZERO`).
pub async fn simulate<S: Management>(
    store: &S,
    ws: &WorkspaceId,
    body: &[u8],
    time_limit: Duration,
) -> Result<Response, ApiError> {
    let Request { automations, events, until } = read_request(body)?;
    let until = until.as_deref().map(read_until).transpose()?;
    let scenario = Scenario { automations, events, until };
    let sink = JsonLines { body: br#"{"effects":["#.to_vec(), first: true };
    let (_, mut body) = run_scenario(store, ws, scenario, time_limit, sink).await?;
    body.extend_from_slice(b"]}");
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// Where a simulation's lines go; handed back (as its output) when the simulation ends.
pub trait Sink: Send + 'static {
    type Output: Send + 'static;
    fn line(&mut self, line: &Line);
    fn finish(self) -> Self::Output;
}

/// Every line, kept.
impl Sink for Vec<Line> {
    type Output = Self;
    fn line(&mut self, line: &Line) {
        self.push(line.clone());
    }
    fn finish(self) -> Self {
        self
    }
}

/// The API's lines, written into a JSON array as they come.
struct JsonLines {
    body: Vec<u8>,
    first: bool,
}

impl Sink for JsonLines {
    type Output = Vec<u8>;
    fn line(&mut self, line: &Line) {
        if !std::mem::take(&mut self.first) {
            self.body.push(b',');
        }
        serde_json::to_writer(&mut self.body, line).expect("lines serialise");
    }
    fn finish(self) -> Vec<u8> {
        self.body
    }
}

/// Runs `scenario` over the stored workspace of `ws` within `time_limit`, handing each line to
/// `sink`: the core of `POST /v1/simulate`, and of the console's "Try it".
pub async fn run_scenario<S: Management, K: Sink>(
    store: &S,
    ws: &WorkspaceId,
    scenario: Scenario,
    time_limit: Duration,
    mut sink: K,
) -> Result<(Summary, K::Output), ApiError> {
    let Scenario { automations, events, until } = scenario;
    if events.len() > MAX_EVENTS {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_many_events",
            format!("{} events given; a simulation takes at most {MAX_EVENTS}", events.len()),
        ));
    }
    let workspace = store.workspace(ws).await.map_err(ApiError::store)?.ok_or_else(|| {
        ApiError::new(
            StatusCode::CONFLICT,
            "workspace_not_set",
            "the workspace has no document yet, so there is nothing to simulate over: PUT /v1/workspace first",
        )
    })?;
    let automations = match automations {
        Some(documents) => Automations::Given(documents),
        None => Automations::Stored(store.automations(ws).await.map_err(ApiError::store)?),
    };

    // The simulation is CPU work (its adapters never wait): it runs on a blocking thread,
    // polled there by the runtime's handle, and the clock it is stopped by starts now.
    let started = Instant::now();
    let runtime = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || -> Result<(Summary, K::Output), ApiError> {
        let workspace = Arc::unwrap_or_clone(workspace);
        let catalog = match automations {
            Automations::Given(documents) => {
                let documents = documents
                    .into_iter()
                    .enumerate()
                    .map(|(i, value)| Document { file: "automations".into(), index: Some(i), value })
                    .collect();
                check_set(documents, Some(&workspace)).map_err(SimError::Automations).map_err(refused)?
            }
            Automations::Stored(stored) => stored_catalog(stored).map_err(|conflict| {
                ApiError::new(
                    StatusCode::CONFLICT,
                    conflict.code(),
                    format!("the stored automations conflict: {conflict}"),
                )
            })?,
        };
        let mut simulation =
            Simulation::load_list(workspace, catalog, events.iter().map(|e| e.get()), until).map_err(refused)?;
        drop(events); // read: their texts are not needed any more
        let exhausted = || started.elapsed() >= time_limit;
        let summary =
            runtime.block_on(simulation.run_within(|line| sink.line(line), &exhausted)).map_err(|e| match e {
                SimError::OutOfTime => ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "simulation_too_long",
                    format!(
                        "the simulation takes longer than {} ms: simulate fewer events or an earlier `until`",
                        time_limit.as_millis()
                    ),
                ),
                e => refused(e),
            })?;
        let (events, steps, lines) = (summary.events, summary.steps, summary.lines);
        tracing::info!(events, steps, lines, elapsed = ?started.elapsed(), "simulated");
        Ok((summary, sink.finish()))
    })
    .await
    .map_err(|e| {
        tracing::error!(error = %e, "the simulation panicked");
        failed()
    })?
}

/// Reads the body: not JSON → 400; the wrong shape → 422 naming the path.
fn read_request(body: &[u8]) -> Result<Request, ApiError> {
    let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) { b"{}" } else { body };
    let de = &mut serde_json::Deserializer::from_slice(body);
    let request = serde_path_to_error::deserialize(&mut *de).map_err(|e| {
        if e.inner().is_data() {
            let issue = shape_issue(e.path(), e.inner().to_string());
            ApiError {
                path: Some(issue.path),
                ..ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, issue.code, issue.message)
            }
        } else {
            not_json(e.inner())
        }
    })?;
    de.end().map_err(|e| not_json(&e))?;
    Ok(request)
}

fn not_json(e: &serde_json::Error) -> ApiError {
    ApiError::bad_request(format!("the body is not JSON: {e}"))
}

fn read_until(raw: &str) -> Result<Time, ApiError> {
    parse_rfc3339(raw)
        .map_err(|e| ApiError::unprocessable("until", format!("`{raw}` is not an RFC 3339 timestamp: {e}")))
}

/// The answer to input the simulator refused: 422 naming the path in the request.
fn refused(e: SimError) -> ApiError {
    let at = |code: &'static str, path: String, message: String| ApiError {
        path: Some(path),
        ..ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    };
    match e {
        SimError::Automations(problems) => {
            let more = problems.len() - 1;
            let problem = problems.into_iter().next().expect("a refused set has a problem");
            let mut message = problem.issue.message;
            if more > 0 {
                message.push_str(&format!(" (and {more} more problem{})", if more == 1 { "" } else { "s" }));
            }
            at(problem.issue.code, format!("automations{}", problem.issue.path), message)
        }
        SimError::Item { index, path, message } => {
            let code = shape_code(&path, &message);
            let path = if path.is_empty() { format!("events[{index}]") } else { format!("events[{index}].{path}") };
            at(code, path, message)
        }
        e @ SimError::UntilBeforeEvents { .. } => at("invalid_value", "until".into(), e.to_string()),
        e => {
            tracing::error!(error = %e, "the simulation failed");
            failed()
        }
    }
}

/// 500: the simulator failed on input it had accepted (a bug); nothing changed.
fn failed() -> ApiError {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "simulation_failed",
        "the simulation failed; nothing was sent or stored. Please report it",
    )
}
