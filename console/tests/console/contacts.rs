//! The contacts pages: the list (search, tag and list filters), a contact's page (its values,
//! its runs) and its form, which stores through `manage` as `PUT /v1/contacts/{phone}` does and
//! queues the events the API queues.

use crate::support::{APP_SECRET, KEY, Reply, System, attribute_values, start, workspace_id};
use avvio_api::{App, IngestConfig};
use avvio_common::domain::contact::MarketingConsent;
use avvio_common::domain::run::RunCause;
use avvio_common::domain::{AutomationId, Contact, ContactKey, FieldKey, ListName, Run, RunId, RunStatus, Tag, WaId};
use avvio_common::memory::{MemoryEventQueue, MemoryStore};
use avvio_common::ports::{PipelineEvent, Store};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use std::sync::Arc;
use tokio::sync::mpsc::UnboundedReceiver;

const MARIA: &str = "393331234567";
const LUCA: &str = "393479876543";

/// The examples' system, with its events queue's receiving end kept (what the matcher drains).
async fn start_queued() -> (System, UnboundedReceiver<PipelineEvent>) {
    let examples = start().await;
    let store: MemoryStore = examples.store.clone();
    let (events, queued) = MemoryEventQueue::new();
    let config = IngestConfig { app_secret: APP_SECRET.into(), verify_token: "verify".into() };
    let app = Arc::new(App { store: store.clone(), events, config, templates: avvio_api::MetaTemplates::meta() });
    let system = System { router: avvio_console::router(app), store, keys: examples.keys };
    (system, queued)
}

fn queued(receiver: &mut UnboundedReceiver<PipelineEvent>) -> Vec<PipelineEvent> {
    std::iter::from_fn(|| receiver.try_recv().ok()).collect()
}

fn key(phone: &str) -> ContactKey {
    ContactKey::Phone(WaId::parse(phone).unwrap())
}

/// Calls the API with the workspace's key.
async fn api(system: &System, method: &str, path: &str, body: serde_json::Value) -> Reply {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {KEY}"))
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    system.send(request).await
}

/// Maria (tags, lists, fields, a last message, engine bookkeeping) and Luca, stored directly.
async fn two_contacts(system: &System) {
    let mut maria = Contact::new(&key(MARIA));
    maria.name = Some("Maria Rossi".into());
    maria.username = Some("maria.r".into());
    maria.tags = [Tag::parse("vip").unwrap(), Tag::parse("cliente").unwrap()].into();
    maria.lists = [ListName::parse("newsletter").unwrap()].into();
    maria.fields.insert(FieldKey::parse("city").unwrap(), "Milano".into());
    maria.fields.insert(FieldKey::parse("order_id").unwrap(), "A-17".into());
    maria.marketing = MarketingConsent::OptedIn;
    maria.last_inbound_at = Some("2026-03-02T10:15:00Z".parse().unwrap());
    maria.engine.consent_cause = Some("req-before".into());
    system.store.put_contact(&workspace_id(), &maria, None).await.unwrap();
    let mut luca = Contact::new(&key(LUCA));
    luca.name = Some("Luca Bianchi".into());
    luca.tags = [Tag::parse("lead").unwrap()].into();
    system.store.put_contact(&workspace_id(), &luca, None).await.unwrap();
}

async fn stored(system: &System, phone: &str) -> Contact {
    system.store.contact(&workspace_id(), &key(phone)).await.unwrap().unwrap().item
}

/// The form of Maria's page as it is, with `changes` made.
fn maria_form<'a>(csrf: &'a str, changes: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut form = vec![
        ("csrf", csrf),
        ("name", "Maria Rossi"),
        ("fields[0].key", "city"),
        ("fields[0].value", "Milano"),
        ("fields[1].key", "order_id"),
        ("fields[1].value", "A-17"),
        ("fields[2].key", ""),
        ("fields[2].value", ""),
        ("tags", "cliente\nvip"),
        ("lists", "newsletter"),
        ("marketing", "opted_in"),
        ("operator", ""),
    ];
    for (name, value) in changes {
        match form.iter_mut().find(|(n, _)| n == name) {
            Some(field) => field.1 = value,
            None => form.push((name, value)),
        }
    }
    form
}

#[tokio::test]
async fn the_list_finds_contacts_by_part_of_their_number_or_their_name() {
    let system = start().await;
    two_contacts(&system).await;
    let mut browser = system.signed_in().await;
    let page = browser.get("/console/contacts").await;
    assert_eq!(page.status, StatusCode::OK);
    let page = page.text();
    assert!(page.contains("Maria Rossi") && page.contains("Luca Bianchi"), "{page}");
    assert!(page.contains(r#"href="contacts/393331234567""#), "a link to the contact's page");
    assert!(page.contains(r#"aria-current="page">Contacts"#));
    assert!(page.contains("+393331234567") && page.contains("2 contacts"));
    for q in ["333%20123", "%2B39%20333", "maria", "ROSSI"] {
        let page = browser.get(&format!("/console/contacts?q={q}")).await.text();
        assert!(page.contains("Maria Rossi") && !page.contains("Luca Bianchi"), "{q}: {page}");
    }
    let page = browser.get("/console/contacts?q=nessuno").await.text();
    assert!(page.contains("No contact matches") && !page.contains("<table"));
    assert!(page.contains(r#"value="nessuno""#), "the search stays in its input");
}

#[tokio::test]
async fn the_list_filters_by_tag_and_by_list() {
    let system = start().await;
    two_contacts(&system).await;
    let mut browser = system.signed_in().await;
    let page = browser.get("/console/contacts?tag=lead").await.text();
    assert!(page.contains("Luca Bianchi") && !page.contains("Maria Rossi"), "{page}");
    let page = browser.get("/console/contacts?list=newsletter&tag=").await.text();
    assert!(page.contains("Maria Rossi") && !page.contains("Luca Bianchi"), "{page}");
    assert!(page.contains(r#"href="contacts?tag=vip""#), "a tag links to its filter");
    let page = browser.get("/console/contacts?list=newsletter&tag=lead").await.text();
    assert!(page.contains("No contact matches"));
}

#[tokio::test]
async fn an_unusable_filter_is_shown_at_its_input() {
    let system = start().await;
    two_contacts(&system).await;
    let mut browser = system.signed_in().await;
    let reply = browser.get(&format!("/console/contacts?tag={}", "x".repeat(101))).await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    let page = reply.text();
    assert!(page.contains(r#"aria-invalid="true" aria-describedby="tag-error""#), "{page}");
    assert!(page.contains(r#"id="tag-error""#) && page.contains("A tag has at most 100 characters"));
}

#[tokio::test]
async fn an_empty_workspace_shows_how_contacts_arrive() {
    let system = start().await;
    let page = system.signed_in().await.get("/console/contacts").await.text();
    assert!(page.contains("No contacts yet") && !page.contains("<table"));
}

#[tokio::test]
async fn the_contact_page_shows_its_fields_tags_lists_and_consent() {
    let system = start().await;
    two_contacts(&system).await;
    let mut browser = system.signed_in().await;
    let reply = browser.get("/console/contacts/%2B39%20333%20123%204567").await;
    assert_eq!(reply.status, StatusCode::OK, "any notation of the phone finds the contact");
    let page = reply.text();
    assert!(page.contains("<h1>Maria Rossi</h1>"));
    assert!(page.contains(r#"name="fields[0].key" type="text" value="city""#), "{page}");
    assert!(page.contains(r#"name="fields[0].value" type="text" value="Milano""#));
    assert!(page.contains(r#"name="fields[2].key" type="text" value="""#), "an empty row for a new field");
    assert!(page.contains(">cliente\nvip</textarea>") && page.contains(">newsletter</textarea>"));
    assert!(page.contains(r#"value="opted_in" checked"#) && !page.contains(r#"value="unknown""#));
    assert!(page.contains("Marketing messages: Agreed"));
    assert!(page.contains("2026-03-02 10:15 UTC") && page.contains("maria.r"));
    assert!(page.contains(r#"action="../contacts/393331234567""#));
    assert!(page.contains("No automation has run for this contact yet."));
    for id in attribute_values(&page, "aria-describedby")
        .iter()
        .flat_map(|v| v.split(' ').map(str::to_string))
        .collect::<Vec<_>>()
    {
        assert!(page.contains(&format!(r#"id="{id}""#)), "aria-describedby names #{id}, which exists");
    }
}

#[tokio::test]
async fn the_contact_page_lists_its_own_runs_with_links_to_them() {
    let system = start().await;
    two_contacts(&system).await;
    let run = |id: &str, phone: &str, status: RunStatus| Run {
        id: RunId::parse(id).unwrap(),
        automation: AutomationId::parse("info-1.1").unwrap(),
        version: 1,
        contact: key(phone),
        started_at: "2026-03-02T10:15:00Z".parse().unwrap(),
        cause: RunCause::Manual,
        depth: 0,
        block_epoch: 0,
        status,
        steps: Vec::new(),
        retention: avvio_common::domain::run::RUNS_RETENTION,
    };
    let ws = workspace_id();
    system.store.create_run(&ws, &run("r-maria", MARIA, RunStatus::Active)).await.unwrap();
    let cancelled = RunStatus::Cancelled { reason: "contact_blocked".into() };
    system.store.create_run(&ws, &run("r-maria-2", MARIA, cancelled)).await.unwrap();
    system.store.create_run(&ws, &run("r-luca", LUCA, RunStatus::Completed)).await.unwrap();
    let page = system.signed_in().await.get("/console/contacts/393331234567").await.text();
    assert!(page.contains(r#"href="../runs/r-maria""#) && page.contains(r#"href="../runs/r-maria-2""#), "{page}");
    assert!(!page.contains("r-luca"), "only the contact's own runs");
    assert!(page.contains("1.1 primo messaggio"), "the automation's name");
    assert!(page.contains("Cancelled") && page.contains("contact_blocked"));
    assert!(page.contains(r#"href="../runs?contact=393331234567""#));
}

#[tokio::test]
async fn a_contact_edited_in_the_console_keeps_its_other_fields() {
    let (system, mut events) = start_queued().await;
    two_contacts(&system).await;
    let before = stored(&system, MARIA).await;
    let mut browser = system.signed_in().await;
    let csrf = browser.csrf().await;
    let form = maria_form(
        &csrf,
        &[
            ("name", "Maria Verdi"),
            ("fields[1].value", ""),
            ("fields[2].key", "birthday"),
            ("fields[2].value", "1990-04-01"),
            ("tags", "vip\n\n  nuovo  "),
            ("operator", "anna@example.com"),
        ],
    );
    let reply = browser.post("/console/contacts/393331234567", &form).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.text());
    assert_eq!(reply.location(), "../contacts/393331234567?saved=1");
    let after = stored(&system, MARIA).await;
    assert_eq!(after.name.as_deref(), Some("Maria Verdi"));
    let fields: Vec<(&str, &str)> = after.fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(fields, [("birthday", "1990-04-01"), ("city", "Milano")], "an emptied value removes its field");
    assert_eq!(after.tags.iter().map(Tag::as_str).collect::<Vec<_>>(), ["nuovo", "vip"]);
    assert_eq!(after.operator.as_ref().map(|o| o.as_str()), Some("anna@example.com"));
    assert_eq!(
        (&after.username, after.last_inbound_at, &after.engine, after.marketing, &after.lists),
        (&before.username, before.last_inbound_at, &before.engine, before.marketing, &before.lists),
        "what the form does not edit stays"
    );
    assert!(queued(&mut events).is_empty(), "nothing changed that starts anything");
    let page = browser.get("/console/contacts/393331234567?saved=1").await.text();
    assert!(page.contains(r#"role="status">Saved."#) && page.contains("<h1>Maria Verdi</h1>"));
}

#[tokio::test]
async fn a_consent_change_in_the_console_queues_its_event_as_the_api_does() {
    let (system, mut events) = start_queued().await;
    two_contacts(&system).await;
    let mut browser = system.signed_in().await;
    let csrf = browser.csrf().await;
    let reply = browser.post("/console/contacts/393331234567", &maria_form(&csrf, &[("marketing", "opted_out")])).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.text());
    assert_eq!(stored(&system, MARIA).await.marketing, MarketingConsent::OptedOut);
    let queued = queued(&mut events);
    assert!(
        matches!(&queued[..], [PipelineEvent::ConsentChanged { contact, marketing, .. }]
            if *contact == key(MARIA) && marketing.as_str() == "opted_out"),
        "{queued:?}"
    );
    // The API's PUT goes through the same rule: back to opted in, one event.
    let reply = api(&system, "PUT", "/v1/contacts/393331234567", serde_json::json!({ "marketing": "opted_in" })).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(events.try_recv().ok().map(|e| matches!(e, PipelineEvent::ConsentChanged { .. })), Some(true));
}

#[tokio::test]
async fn a_consent_change_that_cannot_be_queued_is_put_back() {
    // The examples' system drops its queue's receiving end: nothing can be queued.
    let system = start().await;
    two_contacts(&system).await;
    let mut browser = system.signed_in().await;
    let csrf = browser.csrf().await;
    let reply = browser.post("/console/contacts/393331234567", &maria_form(&csrf, &[("marketing", "opted_out")])).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(reply.is_html() && reply.text().contains("Try again in a moment"));
    assert_eq!(stored(&system, MARIA).await.marketing, MarketingConsent::OptedIn, "a retry changes it again");
}

#[tokio::test]
async fn list_changes_are_queued_as_the_list_routes_queue_them() {
    let (system, mut events) = start_queued().await;
    two_contacts(&system).await;
    let mut browser = system.signed_in().await;
    let csrf = browser.csrf().await;
    let reply =
        browser.post("/console/contacts/393331234567", &maria_form(&csrf, &[("lists", "clienti\nvip day")])).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.text());
    assert_eq!(reply.location(), "../contacts/393331234567?saved=lists");
    let mut changes: Vec<(bool, String)> = queued(&mut events)
        .into_iter()
        .map(|event| match event {
            PipelineEvent::ListAdd { list, contact, .. } if contact == key(MARIA) => (true, list.as_str().to_string()),
            PipelineEvent::ListRemove { list, contact, .. } if contact == key(MARIA) => {
                (false, list.as_str().to_string())
            }
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    changes.sort();
    assert_eq!(changes, [(false, "newsletter".into()), (true, "clienti".into()), (true, "vip day".into())]);
    assert_eq!(stored(&system, MARIA).await.lists.len(), 1, "the matcher changes the lists, in order");
    let page = browser.get("/console/contacts/393331234567?saved=lists").await.text();
    assert!(page.contains("List changes take effect in a few seconds"));
}

#[tokio::test]
async fn blocking_a_contact_takes_it_out_of_its_lists_and_cancels_its_steps() {
    let (system, mut events) = start_queued().await;
    two_contacts(&system).await;
    let epoch = stored(&system, MARIA).await.engine.block_epoch;
    let mut browser = system.signed_in().await;
    let csrf = browser.csrf().await;
    let form = maria_form(&csrf, &[("blocked", "on"), ("lists", "newsletter\nclienti")]);
    let reply = browser.post("/console/contacts/393331234567", &form).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.text());
    let maria = stored(&system, MARIA).await;
    assert!(maria.blocked && maria.lists.is_empty());
    assert_eq!(maria.engine.block_epoch, epoch + 1, "its runs' pending steps are cancelled");
    assert!(queued(&mut events).is_empty(), "a blocked contact joins no list");
    let page = browser.get("/console/contacts/393331234567").await.text();
    assert!(page.contains(r#"type="checkbox" value="on" aria-describedby="blocked-hint" checked"#), "{page}");
    let list = browser.get("/console/contacts").await.text();
    assert!(list.contains(r#"<span class="badge badge--failed">Blocked</span>"#));
    // Unticked: unblocked, and the lists can be given again.
    let form = maria_form(&csrf, &[("lists", "clienti")]);
    assert_eq!(browser.post("/console/contacts/393331234567", &form).await.status, StatusCode::SEE_OTHER);
    assert!(!stored(&system, MARIA).await.blocked);
    assert!(matches!(&queued(&mut events)[..], [PipelineEvent::ListAdd { .. }]));
}

#[tokio::test]
async fn bad_values_are_shown_at_their_inputs_and_nothing_is_stored() {
    let (system, mut events) = start_queued().await;
    two_contacts(&system).await;
    let before = stored(&system, MARIA).await;
    let mut browser = system.signed_in().await;
    let csrf = browser.csrf().await;
    let long_tag = "t".repeat(101);
    let form = maria_form(
        &csrf,
        &[
            ("name", "Nome nuovo"),
            ("fields[2].key", "citta natale"),
            ("fields[2].value", "Roma"),
            ("tags", &long_tag),
            ("operator", "non un'email"),
            ("marketing", "unknown"),
        ],
    );
    let reply = browser.post("/console/contacts/393331234567", &form).await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(reply.is_html());
    let page = reply.text();
    assert!(page.contains("Nothing was saved. Correct the values marked below"), "{page}");
    assert!(page.contains(r#"aria-invalid="true" aria-describedby="field-2-key-error""#), "{page}");
    assert!(page.contains(r#"<p class="field-error field-rows__error" id="field-2-key-error">A field name has"#));
    assert!(page.contains(r#"aria-describedby="tags-hint tags-error""#) && page.contains(r#"id="tags-error""#));
    assert!(page.contains(r#"aria-describedby="operator-hint operator-error""#));
    assert!(page.contains(r#"id="marketing-error">An answer cannot be set back"#));
    assert!(page.contains(r#"value="Nome nuovo""#) && page.contains(r#"value="citta natale""#), "what was typed stays");
    assert_eq!(stored(&system, MARIA).await, before, "nothing stored");
    assert!(queued(&mut events).is_empty());
}

#[tokio::test]
async fn a_malformed_or_oversized_form_is_refused_with_an_html_page_and_stores_nothing() {
    let system = start().await;
    two_contacts(&system).await;
    let before = stored(&system, MARIA).await;
    let mut browser = system.signed_in().await;
    let csrf = browser.csrf().await;
    let reply = browser.post("/console/contacts/393331234567", &maria_form(&csrf, &[("engine", "{}")])).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(reply.is_html() && reply.text().contains("the form has no field `engine`"), "{}", reply.text());
    let body = format!("csrf={csrf}&name=X&tags={}", "x".repeat(70 * 1024));
    let reply = browser.post_body("/console/contacts/393331234567", body, &[]).await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(reply.is_html() && reply.text().contains("The form is too large"));
    assert_eq!(stored(&system, MARIA).await, before);
}

#[tokio::test]
async fn an_unknown_contact_is_an_html_404() {
    let system = start().await;
    let mut browser = system.signed_in().await;
    for path in ["/console/contacts/393330000000", "/console/contacts/not-a-phone"] {
        let reply = browser.get(path).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{path}");
        assert!(reply.is_html() && reply.text().contains("Page not found"));
    }
    let csrf = browser.csrf().await;
    let reply = browser.post("/console/contacts/393330000000", &[("csrf", &csrf), ("name", "Nuovo")]).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert!(system.store.contact(&workspace_id(), &key("393330000000")).await.unwrap().is_none(), "none created");
}

#[tokio::test]
async fn a_post_without_its_csrf_token_is_refused_and_stores_nothing() {
    let system = start().await;
    two_contacts(&system).await;
    let before = stored(&system, MARIA).await;
    let mut browser = system.signed_in().await;
    let reply = browser.post("/console/contacts/393331234567", &[("name", "Intruso")]).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert!(reply.is_html() && reply.text().contains("This form has expired"));
    assert_eq!(stored(&system, MARIA).await, before);
}

#[tokio::test]
async fn the_contacts_pages_speak_italian() {
    let system = start().await;
    two_contacts(&system).await;
    let mut browser = system.signed_in().await;
    browser.headers = vec![("accept-language".into(), "it-IT,it;q=0.9".into())];
    let list = browser.get("/console/contacts").await.text();
    assert!(list.contains(r#"<html lang="it">"#) && list.contains("Telefono o nome") && list.contains("2 contatti"));
    assert!(list.contains("Messaggi promozionali") && list.contains("Accettati") && list.contains("Non chiesto"));
    let page = browser.get("/console/contacts/393331234567").await.text();
    assert!(page.contains("Torna ai contatti") && page.contains("Blocca questo contatto") && page.contains("Salva"));
    let csrf = page.split(r#"name="csrf" value=""#).nth(1).unwrap().split('"').next().unwrap().to_string();
    let reply = browser.post("/console/contacts/393331234567", &maria_form(&csrf, &[("operator", "x")])).await;
    assert!(reply.text().contains("Scrivi un indirizzo email"), "errors in Italian too");
}

#[tokio::test]
async fn every_link_and_form_action_of_the_contacts_pages_is_relative() {
    let system = start().await;
    two_contacts(&system).await;
    let mut browser = system.signed_in().await;
    for path in ["/console/contacts", "/console/contacts?tag=vip", "/console/contacts/393331234567"] {
        let page = browser.get(path).await.text();
        for attribute in ["href", "src", "action"] {
            for value in attribute_values(&page, attribute) {
                assert!(!value.starts_with('/') && !value.contains("://"), "{path}: {attribute}=\"{value}\"");
            }
        }
    }
}

#[tokio::test]
async fn the_list_needs_a_session() {
    let system = start().await;
    let reply = system.get("/console/contacts").await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(reply.location(), "sign-in?next=contacts");
}
