//! Shared helpers of Avvio's scenario and end-to-end tests.

pub mod contract;
pub mod graph;
pub mod retention;

use avvio_common::simulate::{Inputs, Line, SimError, Simulation};
use avvio_common::validate::read_documents;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The fixtures directory (`tests/fixtures`).
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// Runs a simulation from files and returns its output lines as JSON values.
pub fn simulate_files(
    workspace: &Path,
    automations: &Path,
    events: &Path,
    until: Option<&str>,
) -> Result<Vec<Value>, SimError> {
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()));
    let workspace_text = read(workspace);
    let automations_text = read(automations);
    let events_text = read(events);
    let documents = read_documents(&automations.display().to_string(), &automations_text)
        .map_err(|p| SimError::Automations(vec![p]))?;
    simulate_texts(&workspace_text, documents, &events_text, until)
}

/// Runs a simulation from in-memory texts.
pub fn simulate_texts(
    workspace: &str,
    automations: Vec<avvio_common::validate::Document>,
    events: &str,
    until: Option<&str>,
) -> Result<Vec<Value>, SimError> {
    let mut simulation = Simulation::load(Inputs {
        workspace_file: "workspace.json",
        workspace,
        automations,
        events_file: "events.jsonl",
        events,
        until: until.map(|u| avvio_common::time::parse_rfc3339(u).expect("a valid --until")),
    })?;
    let mut lines = Vec::new();
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("a runtime");
    runtime.block_on(simulation.run(|line: &Line| lines.push(serde_json::to_value(line).expect("lines serialise"))))?;
    runtime.block_on(assert_stats_equal_a_recount(&simulation));
    Ok(lines)
}

/// Every automation's stats counters of every day equal a recount of the runs that started
/// that day, however the simulation wrote them.
pub async fn assert_stats_equal_a_recount(simulation: &Simulation) {
    use avvio_common::ports::Management;
    use avvio_common::stats::{Days, Stats};
    let (store, ws) = simulation.store();
    let runs = store.all_runs(ws);
    let mut cohorts: std::collections::BTreeMap<_, Vec<_>> = std::collections::BTreeMap::new();
    for run in &runs {
        cohorts.entry((run.automation.clone(), run.started_at.date_naive())).or_default().push(run);
    }
    for ((automation, day), runs) in cohorts {
        let counted = store.stats(ws, &automation, Days::new(day, day).expect("one day")).await.expect("stats");
        assert_eq!(Stats::sum(&counted), Stats::recount(runs), "the counters of {automation} on {day}");
    }
}

/// Checks `actual` against `expected` line by line: same number of lines, and every
/// key an expected line names has the same value in the actual line.
pub fn assert_lines_match(actual: &[Value], expected: &[Value], context: &str) {
    let show = |lines: &[Value]| lines.iter().map(Value::to_string).collect::<Vec<_>>().join("\n");
    assert_eq!(
        actual.len(),
        expected.len(),
        "{context}: {} lines printed, {} expected.\n--- printed:\n{}\n--- expected:\n{}",
        actual.len(),
        expected.len(),
        show(actual),
        show(expected)
    );
    for (i, (a, e)) in actual.iter().zip(expected).enumerate() {
        let e = e.as_object().unwrap_or_else(|| panic!("{context}: expected line {} is not an object", i + 1));
        for (key, want) in e {
            assert_eq!(
                a.get(key),
                Some(want),
                "{context}: line {} key `{key}` differs.\n--- printed line:\n{a}\n--- expected line:\n{}\n--- all printed:\n{}",
                i + 1,
                Value::Object(e.clone()),
                show(actual)
            );
        }
    }
}

/// The in-memory system `avvio dev` and `simulate` run on, with a recording sender.
pub type MemoryDeps = avvio_common::stages::Deps<
    avvio_common::memory::MemoryStore,
    avvio_common::memory::MemoryStepQueue,
    avvio_common::memory::MemorySender,
    avvio_common::memory::MemoryPoster,
>;

/// A fresh in-memory system holding `workspace` (JSON) as workspace `ws`.
pub fn memory_system(ws: &str, workspace: Value) -> (MemoryDeps, avvio_common::domain::WorkspaceId) {
    use avvio_common::memory::*;
    let id = avvio_common::domain::WorkspaceId::parse(ws).unwrap();
    let store = MemoryStore::new();
    store.load_workspace(&id, serde_json::from_value(workspace).expect("a valid workspace"));
    let deps = avvio_common::stages::Deps {
        store,
        steps: MemoryStepQueue::new(),
        sender: MemorySender::recording(),
        poster: MemoryPoster::default(),
        default_access_token: None,
    };
    (deps, id)
}

/// A Meta webhook body with one delivery status (`sent`, `delivered`, `read`, `failed`) of
/// message `wamid` the business sent to `recipient`.
pub fn status_webhook(phone_number_id: &str, recipient: &str, wamid: &str, status: &str) -> Vec<u8> {
    let ts = chrono::Utc::now().timestamp();
    serde_json::json!({
        "object": "whatsapp_business_account",
        "entry": [{ "id": "102290129340398", "changes": [{ "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": { "display_phone_number": "390212345678", "phone_number_id": phone_number_id },
            "statuses": [{ "id": wamid, "status": status, "timestamp": ts.to_string(), "recipient_id": recipient }]
        } }] }]
    })
    .to_string()
    .into_bytes()
}

/// A Meta webhook body with one text message.
pub fn text_webhook(phone_number_id: &str, from: &str, wamid: &str, at: &str, body: &str) -> Vec<u8> {
    let ts = avvio_common::time::parse_rfc3339(at).unwrap().timestamp();
    serde_json::json!({
        "object": "whatsapp_business_account",
        "entry": [{ "id": "102290129340398", "changes": [{ "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": { "display_phone_number": "390212345678", "phone_number_id": phone_number_id },
            "contacts": [{ "profile": { "name": "Mario" }, "wa_id": from }],
            "messages": [{ "from": from, "id": wamid, "timestamp": ts.to_string(), "type": "text", "text": { "body": body } }]
        } }] }]
    })
    .to_string()
    .into_bytes()
}
