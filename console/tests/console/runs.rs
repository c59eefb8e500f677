//! The Runs pages over runs the engine really made: the examples' events simulated on the
//! in-memory store (`avvio_common::simulate`), then that store served by the console.

use crate::support::{APP_SECRET, KEY, System, attribute_values};
use avvio_api::{App, IngestConfig};
use avvio_common::domain::{Run, RunStatus, StepStatus};
use avvio_common::memory::{MemoryEventQueue, MemoryStore};
use avvio_common::ports::{KeyHash, Management, Store};
use avvio_common::simulate::{Inputs, Simulation};
use avvio_common::validate::read_documents;
use axum::http::StatusCode;
use std::sync::Arc;

const WORKSPACE: &str = include_str!("../../../examples/workspace.json");
const AUTOMATIONS: &str = include_str!("../../../examples/automations.json");
const EVENTS: &str = include_str!("../../../examples/events.jsonl");

const MARIO: &str = "393331234567";
const LUCA: &str = "393289998877";
const SARA: &str = "393471112233";

/// How many runs the list shows at most.
const LIST_LIMIT: usize = 200;

/// The console over the store the examples' events leave behind, the clock run to `until`
/// (default: every step done).
async fn simulated(until: Option<&str>) -> System {
    let mut simulation = Simulation::load(Inputs {
        workspace_file: "workspace.json",
        workspace: WORKSPACE,
        automations: read_documents("automations.json", AUTOMATIONS).unwrap(),
        events_file: "events.jsonl",
        events: EVENTS,
        until: until.map(|u| avvio_common::time::parse_rfc3339(u).unwrap()),
    })
    .unwrap();
    simulation.run(|_| {}).await.unwrap();
    let (store, ws) = simulation.store();
    let store: MemoryStore = store.clone();
    store.put_api_key(&KeyHash::of(KEY), ws).await.unwrap();
    let (events, _) = MemoryEventQueue::new();
    let config = IngestConfig { app_secret: APP_SECRET.into(), verify_token: "verify".into() };
    let app = Arc::new(App { store: store.clone(), events, config, templates: avvio_api::MetaTemplates::meta() });
    System { router: avvio_console::router(app), store, keys: avvio_console::session::Keys::new(APP_SECRET) }
}

fn runs_of(system: &System, automation: &str, contact: &str) -> Vec<Run> {
    let ws = avvio_common::domain::WorkspaceId::parse(avvio_common::simulate::SIMULATED_WORKSPACE).unwrap();
    let mut runs: Vec<Run> = system
        .store
        .all_runs(&ws)
        .into_iter()
        .filter(|r| r.automation.as_str() == automation && r.contact.as_str() == contact)
        .collect();
    runs.sort_by_key(|r| r.started_at);
    runs
}

fn run_of(system: &System, automation: &str, contact: &str) -> Run {
    runs_of(system, automation, contact).into_iter().next().unwrap_or_else(|| panic!("a run of {automation}"))
}

/// How many times `needle` occurs in `haystack`.
fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

#[tokio::test]
async fn a_finished_flow_shows_each_step_its_status_and_the_branch_taken() {
    let system = simulated(None).await;
    let run = run_of(&system, "info-1.1", MARIO);
    assert_eq!(run.status, RunStatus::Completed);
    let reply = system.signed_in().await.get(&format!("/console/runs/{}", run.id)).await;
    assert_eq!(reply.status, StatusCode::OK);
    let page = reply.text();
    assert!(page.contains("<h1>Run of 1.1 primo messaggio</h1>"), "{page}");
    assert!(page.contains(r#"href="../automations/info-1.1">1.1 primo messaggio</a>"#));
    assert!(page.contains("Version 1"));
    assert!(
        page.contains(r#"href="../contacts/393331234567">Mario Rossi <span class="muted">393331234567</span></a>"#)
    );
    assert!(page.contains("A message from the contact"));
    assert!(page.contains(r#"<span class="badge badge--done">Completed</span>"#));
    assert!(page.contains("Times in Europe/Rome."));

    // Every step the run recorded, in the order it went, each with its place and status.
    assert_eq!(count(&page, r#"<li class="timeline__item"#), run.steps.len());
    assert_eq!(count(&page, r#"<span class="badge badge--done">Done</span>"#), run.steps.len());
    let places = [
        "Step 1 <code",
        "Step 2 <code",
        "Step 3 <code",
        "Step 3 › Reply “Prezzi” › Step 1 <code",
        "Step 3 › Reply “Prezzi” › Step 2 <code",
        "Step 3 › Reply “Prezzi” › Step 2 › Otherwise › Step 1 <code",
    ];
    let mut from = 0;
    for place in places {
        let at = page[from..].find(place).unwrap_or_else(|| panic!("{place} after the previous step:\n{page}"));
        from += at + place.len();
    }
    assert!(
        page.contains(
            r#"title="Path in the document">steps[2].action.branches[0].steps[1].action.otherwise[0]</code>"#
        )
    );
    assert!(page.contains("<h3 class=\"run-step__title\">Send a template</h3>"));
    assert!(page.contains("“welcome” (it)"));
    assert!(page.contains("<h3 class=\"run-step__title\">Wait for the reply</h3>"));
    assert!(page.contains("<h3 class=\"run-step__title\">Add to a list</h3>"));

    // The branches taken, and where the replies went.
    assert!(page.contains("<dt>Branch taken</dt>\n            <dd>The reply matched “Prezzi”, “1.1.1”</dd>"), "{page}");
    assert!(page.contains("<dd>Otherwise: a reply no branch expects</dd>"));
    assert!(page.contains("<dt>Reply saved in</dt>\n            <dd><code>interesse</code></dd>"));
    assert!(page.contains("<dd><code>city</code></dd>"));
    // Times in the workspace's zone: the first step ran at 09:00:00Z, 10:00 in Rome.
    assert!(
        page.contains(r#"<time class="timeline__time" datetime="2026-11-23T09:00:00Z">2026-11-23 10:00:00</time>"#)
    );
    // The first message was reported delivered.
    assert!(
        page.contains(r#"<dt>Delivery</dt>"#) && page.contains(r#"<span class="badge badge--done">Delivered</span>"#)
    );
    // Joining the list started a run of `lista-prezzi`: linked.
    let started = run_of(&system, "lista-prezzi", MARIO);
    assert!(page.contains(&format!(r#"<a href="../runs/{0}"><code>{0}</code></a>"#, started.id)));
}

#[tokio::test]
async fn a_condition_shows_the_branch_that_held_and_its_predicate() {
    let system = simulated(None).await;
    let run = run_of(&system, "iscrizione", MARIO);
    let page = system.signed_in().await.get(&format!("/console/runs/{}", run.id)).await.text();
    assert!(page.contains("<h3 class=\"run-step__title\">Branch on a condition</h3>"));
    assert!(page.contains("<dd>Condition 1 <code>{&#34;service_window_open&#34;:true}</code></dd>"), "{page}");
    assert!(page.contains("Step 1 › Condition 1 › Step 1 <code"));
    assert!(page.contains("The contact&#39;s marketing consent changed"));
}

#[tokio::test]
async fn a_failed_step_shows_its_code_and_what_it_means() {
    let system = simulated(None).await;
    let mut browser = system.signed_in().await;

    let holiday = run_of(&system, "festivi", MARIO);
    assert_eq!(holiday.steps[1].error.as_deref(), Some("template_not_approved"));
    let page = browser.get(&format!("/console/runs/{}", holiday.id)).await.text();
    assert!(page.contains(r#"<span class="badge badge--failed">Failed</span>"#));
    assert!(page.contains(r#"<li class="timeline__item timeline__item--failed">"#));
    assert!(page.contains(
        "<dt>Error</dt>\n            <dd><code>template_not_approved</code><span class=\"explain\">The template is not in the \
         workspace in this language, or WhatsApp has not approved it"
    ), "{page}");

    let window = run_of(&system, "disiscrizione", LUCA);
    let page = browser.get(&format!("/console/runs/{}", window.id)).await.text();
    assert!(page.contains("<code>outside_customer_service_window</code>"));
    assert!(page.contains("Free messages (texts, buttons) can only be sent within 24 hours"));
    assert!(page.contains("The contact&#39;s marketing consent changed"), "what started it");

    // WhatsApp reported a sent message as failed: the step failed with `delivery_failed`.
    let failed = runs_of(&system, "info-1.1", SARA)
        .into_iter()
        .find(|r| r.steps.iter().any(|s| s.error.as_deref() == Some("delivery_failed")))
        .expect("a run whose message failed");
    let page = browser.get(&format!("/console/runs/{}", failed.id)).await.text();
    assert!(page.contains("<code>delivery_failed</code>"));
    assert!(page.contains("WhatsApp accepted the message, then reported that it could not be delivered."));
    assert!(page.contains(r#"<span class="badge badge--failed">Not delivered</span>"#));
}

#[tokio::test]
async fn a_waiting_run_says_until_when_and_a_scheduled_step_when_it_is_due() {
    // Mario answered "Prezzi" at 09:01 and is asked for his city (he answers at 09:02).
    let system = simulated(Some("2026-11-23T09:01:30Z")).await;
    let mut browser = system.signed_in().await;

    let waiting = run_of(&system, "info-1.1", MARIO);
    assert!(waiting.steps.iter().any(|s| s.status == StepStatus::Waiting));
    let page = browser.get(&format!("/console/runs/{}", waiting.id)).await.text();
    assert!(page.contains(r#"<span class="badge badge--active">Active</span>"#));
    assert!(page.contains(r#"<li class="timeline__item timeline__item--waiting">"#));
    assert!(page.contains(r#"<span class="badge badge--waiting">Waiting</span>"#));
    assert!(page.contains("<dt>Waiting for the reply until</dt>\n            <dd><time datetime=\"2026-11-24T09:01:00Z\">2026-11-24 10:01:00</time></dd>"), "{page}");

    let list = browser.get("/console/runs").await.text();
    assert!(list.contains("Waiting for the reply until 2026-11-24 10:01:00"), "the list says where the run is: {list}");

    // Luca's order waits 2h for its webhook.
    let system = simulated(Some("2026-11-23T10:30:00Z")).await;
    let mut browser = system.signed_in().await;
    let order = run_of(&system, "ordine-ricevuto", LUCA);
    let page = browser.get(&format!("/console/runs/{}", order.id)).await.text();
    assert!(page.contains(r#"<span class="badge badge--pending">Scheduled</span>"#), "{page}");
    assert!(
        page.contains(r#"<time class="timeline__time" datetime="2026-11-23T12:00:00Z">2026-11-23 13:00:00</time>"#)
    );
    assert!(page.contains("Call a webhook") && page.contains("https://crm.negozio.example/ordini"));

    let list = browser.get("/console/runs").await.text();
    assert!(list.contains("Due at 2026-11-23 13:00:00"), "{list}");
}

#[tokio::test]
async fn the_list_shows_the_newest_runs_first_with_their_automation_contact_and_status() {
    let system = simulated(None).await;
    let reply = system.signed_in().await.get("/console/runs").await;
    assert_eq!(reply.status, StatusCode::OK);
    let page = reply.text();
    assert!(page.contains(r#"aria-current="page">Runs"#));
    let ws = avvio_common::domain::WorkspaceId::parse(avvio_common::simulate::SIMULATED_WORKSPACE).unwrap();
    let mut all = system.store.all_runs(&ws);
    assert!(page.contains(&format!("{} runs.", all.len())), "{page}");
    all.sort_by(|a, b| b.started_at.cmp(&a.started_at).then(b.id.cmp(&a.id)));
    let newest = &all[0];
    let first_link = attribute_values(&page, "href").into_iter().find(|h| h.starts_with("runs/")).unwrap();
    assert_eq!(first_link, format!("runs/{}", newest.id), "the newest run is first");
    assert!(page.contains("<td data-label=\"Automation\"><span class=\"cell\">1.1 primo messaggio</span></td>"));
    assert!(page.contains("<td data-label=\"Contact\"><span class=\"cell\">IT.1502576394655843</span></td>"));
    assert!(page.contains(r#"<span class="badge badge--done">Completed</span>"#));
}

#[tokio::test]
async fn the_list_filters_by_automation_and_by_contact() {
    let system = simulated(None).await;
    let mut browser = system.signed_in().await;
    let links = |page: &str| -> Vec<String> {
        attribute_values(page, "href").into_iter().filter(|h| h.starts_with("runs/")).collect()
    };

    let page = browser.get("/console/runs?automation=info-1.1").await.text();
    let info: Vec<Run> =
        [MARIO, SARA, "IT.1502576394655843"].iter().flat_map(|c| runs_of(&system, "info-1.1", c)).collect();
    assert_eq!(links(&page).len(), info.len(), "{page}");
    for run in &info {
        assert!(page.contains(&format!(r#"href="runs/{}""#, run.id)));
    }
    assert!(page.contains(r#"<option value="info-1.1" selected>1.1 primo messaggio</option>"#));
    assert!(page.contains(r#"<a class="btn btn--secondary" href="runs">Show all</a>"#));

    let page = browser.get("/console/runs?contact=%2B39%20328%20999%208877").await.text();
    let ws = avvio_common::domain::WorkspaceId::parse(avvio_common::simulate::SIMULATED_WORKSPACE).unwrap();
    let lucas: Vec<Run> = system.store.all_runs(&ws).into_iter().filter(|r| r.contact.as_str() == LUCA).collect();
    assert!(lucas.len() >= 3);
    assert_eq!(links(&page).len(), lucas.len(), "a phone written as people write it finds the contact");
    assert!(page.contains(r#"value="+39 328 999 8877""#));

    let both = browser.get(&format!("/console/runs?automation=disiscrizione&contact={LUCA}")).await.text();
    assert_eq!(links(&both).len(), 1);

    let none = browser.get("/console/runs?automation=compleanno&contact=393331234567").await;
    assert_eq!(none.status, StatusCode::OK);
    assert!(none.text().contains("No run matches this filter."));

    let empty = browser.get("/console/runs?automation=&contact=").await.text();
    assert!(!empty.contains("Show all"), "empty filters filter nothing");
}

#[tokio::test]
async fn a_contact_that_is_no_phone_is_shown_at_its_field() {
    let system = simulated(None).await;
    let reply = system.signed_in().await.get("/console/runs?contact=not%20a%20phone").await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    let page = reply.text();
    assert!(
        page.contains(r#"aria-describedby="filter-contact-hint filter-contact-error" aria-invalid="true""#),
        "{page}"
    );
    assert!(page.contains(r#"<p class="field-error" id="filter-contact-error">This is neither a phone number"#));
    assert!(!page.contains("No run matches"), "no result is claimed for a filter that was not applied");
}

#[tokio::test]
async fn a_workspace_without_runs_says_how_runs_start() {
    let system = crate::support::start().await;
    let page = system.signed_in().await.get("/console/runs").await.text();
    assert!(page.contains("No runs yet"));
    assert!(page.contains("A run starts when an automation&#39;s start step fires"));
    assert!(!page.contains("<table"));
}

#[tokio::test]
async fn the_list_shows_only_the_newest_runs_and_says_so() {
    let system = crate::support::start().await;
    let ws = crate::support::workspace_id();
    let template = r#"{"id": "r-0", "automation": "info-1.1", "version": 1, "contact": "393331234567",
        "started_at": "2026-11-23T09:00:00Z", "cause": {"type": "manual"}, "depth": 0, "block_epoch": 0,
        "status": {"state": "completed"}, "steps": []}"#;
    let mut run: Run = serde_json::from_str(template).unwrap();
    let total = LIST_LIMIT + 5;
    for i in 0..total {
        run.id = avvio_common::domain::RunId::parse(format!("r-{i:04}")).unwrap();
        run.started_at =
            avvio_common::time::parse_rfc3339("2026-11-23T09:00:00Z").unwrap() + chrono::Duration::minutes(i as i64);
        assert!(system.store.create_run(&ws, &run).await.unwrap());
    }
    let page = system.signed_in().await.get("/console/runs").await.text();
    assert!(page.contains(&format!("Showing the newest 200 of {total} runs.")), "{page}");
    assert_eq!(attribute_values(&page, "href").iter().filter(|h| h.starts_with("runs/")).count(), 200);
    assert!(page.contains(&format!(r#"href="runs/r-{:04}""#, total - 1)), "the newest is shown");
    assert!(!page.contains(r#"href="runs/r-0000""#), "the oldest is not");
}

#[tokio::test]
async fn an_unknown_run_is_an_html_404() {
    let system = simulated(None).await;
    let mut browser = system.signed_in().await;
    for path in ["/console/runs/r-nothing", "/console/runs/not%20an%20id"] {
        let reply = browser.get(path).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{path}");
        assert!(reply.is_html(), "{path}");
        assert!(reply.text().contains("no run `"), "{path}");
    }
}

#[tokio::test]
async fn the_runs_pages_speak_italian() {
    let system = simulated(None).await;
    let mut browser = system.signed_in().await;
    browser.headers = vec![("accept-language".into(), "it-IT,it;q=0.9".into())];
    let list = browser.get("/console/runs").await.text();
    assert!(list.contains(r#"<html lang="it">"#));
    assert!(list.contains("Tutte le automazioni") && list.contains("Step attuale") && list.contains("Completata"));
    assert!(list.contains("Orari in Europe/Rome."));

    let run = run_of(&system, "festivi", MARIO);
    let page = browser.get(&format!("/console/runs/{}", run.id)).await.text();
    assert!(page.contains("<h1>Esecuzione di 7 risposta nei giorni festivi</h1>"), "{page}");
    assert!(page.contains("<h3 class=\"run-step__title\">Invia un template</h3>"));
    assert!(page.contains("Il template non c&#39;è nel workspace in questa lingua"));
    assert!(page.contains(r#"<span class="badge badge--failed">Fallito</span>"#));
    assert!(page.contains(r#"datetime="2026-12-08T09:30:00Z">08/12/2026 10:30:00</time>"#));

    let flow = run_of(&system, "info-1.1", MARIO);
    let page = browser.get(&format!("/console/runs/{}", flow.id)).await.text();
    assert!(page.contains("Step 3 › Risposta «Prezzi» › Step 2"));
    assert!(page.contains("La risposta corrispondeva a «Prezzi», «1.1.1»"));
    assert!(page.contains("Altrimenti: una risposta che nessun ramo prevede"));
}

#[tokio::test]
async fn every_link_on_the_runs_pages_is_relative() {
    let system = simulated(None).await;
    let mut browser = system.signed_in().await;
    let run = run_of(&system, "info-1.1", MARIO);
    for path in
        ["/console/runs".to_string(), "/console/runs?contact=x".to_string(), format!("/console/runs/{}", run.id)]
    {
        let page = browser.get(&path).await.text();
        for attribute in ["href", "src", "action"] {
            for value in attribute_values(&page, attribute) {
                assert!(!value.starts_with('/') && !value.contains("://"), "{path}: {attribute}=\"{value}\"");
            }
        }
        assert!(!page.contains(" style=") && !page.contains("<style") && !page.contains("onclick"), "{path}");
    }
}

#[tokio::test]
async fn the_runs_pages_need_a_session() {
    let system = simulated(None).await;
    let reply = system.get("/console/runs").await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(reply.location(), "sign-in?next=runs");
}
