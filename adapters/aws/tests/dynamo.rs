//! The DynamoDB store against the real DynamoDB API served by moto
//! (`scripts/test`, or `source scripts/moto` first): the store contract every adapter
//! passes, what only DynamoDB items can show, and the pipeline stages running on it.

mod support;

use avvio_common::calendar::Due;
use avvio_common::domain::contact::Contact;
use avvio_common::domain::path::StepPath;
use avvio_common::domain::run::RunCause;
use avvio_common::domain::{AutomationId, Bsuid, ContactKey, ListName, Run, RunId, RunStatus, StepStatus, WaId};
use avvio_common::ports::{ContactFilter, DueDate, Management, RunBase, RunFilter, Store, StoreError, StoredRun};
use avvio_common::time::Time;
use avvio_tests::text_webhook;
use support::*;

// Every check of the contract on a table of its own, with Query pages of two items so that
// every read that pages goes over several.
avvio_tests::store_contract_tests!(async { store().await.with_page_limit(2) });

fn id(raw: &str) -> AutomationId {
    AutomationId::parse(raw).unwrap()
}

fn phone(raw: &str) -> ContactKey {
    ContactKey::Phone(WaId::parse(raw).unwrap())
}

fn bsuid(raw: &str) -> ContactKey {
    ContactKey::Bsuid(Bsuid::parse(raw).unwrap())
}

fn list(raw: &str) -> ListName {
    ListName::parse(raw).unwrap()
}

fn run(run_id: &str, automation: &str, contact: &ContactKey, started_at: Time) -> Run {
    Run {
        id: RunId::parse(run_id).unwrap(),
        automation: id(automation),
        version: 1,
        contact: contact.clone(),
        started_at,
        cause: RunCause::Manual,
        depth: 0,
        block_epoch: 0,
        status: RunStatus::Active,
        steps: Vec::new(),
    }
}

fn due(date: &str, at: &str) -> Due {
    Due { date: chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").unwrap(), at: t(at) }
}

// ---------------------------------------------------------------- imports

#[tokio::test]
async fn imported_contacts_read_back_like_written_ones_with_their_keys_lists_and_dates() {
    let store = store().await;
    let negozio = ws("negozio");
    let mut anna = Contact::new(&phone("393470000001"));
    anna.bsuid = Some(Bsuid::parse("IT.7").unwrap());
    anna.lists.insert(list("vip"));
    let when = due("2026-03-10", "2026-03-10T08:00:00Z");
    let mut contacts = vec![(anna.clone(), vec![(id("auguri"), when)])];
    contacts.extend((0..40).map(|i| (Contact::new(&phone(&format!("3933300000{i:02}"))), Vec::new())));
    store.import_contacts(&negozio, &contacts).await.unwrap();

    let found = store.contact(&negozio, &bsuid("IT.7")).await.unwrap().unwrap();
    assert_eq!((found.item, found.revision), (anna.clone(), Some(1)), "found through its alias");
    assert_eq!(store.list_members(&negozio, &list("vip")).await.unwrap(), [anna.clone()]);
    assert_eq!(store.contacts(&negozio, &ContactFilter::default()).await.unwrap().len(), 41, "over two batches");
    let due_now = store.due_dates(t("2026-03-10T09:00:00Z")).await.unwrap();
    assert_eq!(
        due_now,
        [DueDate { workspace: negozio.clone(), automation: id("auguri"), contact: phone("393470000001"), due: when }]
    );
    // An imported contact is an ordinary one from then on: its revision guards the next write.
    let stale = store.put_contact(&negozio, &anna, None).await;
    assert!(matches!(stale, Err(StoreError::Conflict(_))), "{stale:?}");
    store.put_contact(&negozio, &anna, Some(1)).await.unwrap();
}

// ---------------------------------------------------------------- robustness

#[tokio::test]
async fn a_corrupt_item_is_reported_as_unavailable_naming_its_key() {
    let store = store().await;
    let client = client().await;
    use aws_sdk_dynamodb::types::AttributeValue::S;
    client
        .put_item()
        .table_name(store.table())
        .item("pk", S("WS#negozio".into()))
        .item("sk", S("RUN#run-1".into()))
        .item("doc", S("{not json".into()))
        .send()
        .await
        .unwrap();
    let err = store.run(&ws("negozio"), &RunId::parse("run-1").unwrap()).await.unwrap_err();
    let StoreError::Unavailable(message) = err else { panic!("{err:?}") };
    assert!(message.contains("WS#negozio / RUN#run-1"), "{message}");
}

// ---------------------------------------------------------------- the pipeline on DynamoDB

type DynamoDeps = avvio_common::stages::Deps<
    avvio_aws::dynamo::DynamoStore,
    avvio_common::memory::MemoryStepQueue,
    avvio_common::memory::MemorySender,
    avvio_common::memory::MemoryPoster,
>;

async fn pipeline() -> (DynamoDeps, avvio_common::domain::WorkspaceId) {
    let store = store().await;
    let negozio = ws("negozio");
    store.put_workspace(&negozio, &workspace_doc(NUMBER), None).await.unwrap();
    store.create_automation(&negozio, phrase_automation("info", "Vorrei informazioni")).await.unwrap();
    let deps = avvio_common::stages::Deps {
        store,
        steps: avvio_common::memory::MemoryStepQueue::new(),
        sender: avvio_common::memory::MemorySender::recording(),
        poster: avvio_common::memory::MemoryPoster::default(),
        default_access_token: Some("t".into()),
    };
    (deps, negozio)
}

/// Delivers a webhook to the matcher, then runs every step due by `now`.
async fn deliver(deps: &DynamoDeps, body: &[u8], now: Time) {
    for event in avvio_common::webhook::parse_webhook(body).unwrap() {
        deps.handle_inbound(&event, now).await.unwrap();
    }
    while let Some(step) = deps.steps.pop_due(now) {
        deps.handle_step(&step, now).await.unwrap();
    }
}

#[tokio::test]
async fn a_text_message_runs_its_automation_on_dynamodb() {
    let (deps, negozio) = pipeline().await;
    let now = t("2026-11-23T09:00:00Z");
    deliver(&deps, &text_webhook(NUMBER, MARIO, "wamid.1", "2026-11-23T09:00:00Z", "vorrei  informazioni"), now).await;

    let sent = deps.sender.sent();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].1["to"], MARIO);
    assert_eq!(sent[0].1["text"]["body"], "Ciao Mario!");
    let runs = deps.store.runs(&negozio, &RunFilter::default()).await.unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].status, RunStatus::Completed);
    assert_eq!(runs[0].steps[0].status, StepStatus::Done);
    let wamid = runs[0].steps[0].wamid.clone().unwrap();
    assert_eq!(deps.store.outbound(&negozio, &wamid).await.unwrap(), Some((runs[0].id.clone(), StepPath::first())));
    let contact = deps.store.contact(&negozio, &phone(MARIO)).await.unwrap().unwrap().item;
    assert_eq!(contact.name.as_deref(), Some("Mario"));
    assert_eq!(contact.last_inbound_at, Some(now));
}

#[tokio::test]
async fn a_message_delivered_twice_sends_once() {
    let (deps, negozio) = pipeline().await;
    let now = t("2026-11-23T09:00:00Z");
    let body = text_webhook(NUMBER, MARIO, "wamid.1", "2026-11-23T09:00:00Z", "Vorrei informazioni");
    deliver(&deps, &body, now).await;
    deliver(&deps, &body, now + chrono::Duration::seconds(30)).await;

    assert_eq!(deps.sender.sent().len(), 1);
    assert_eq!(deps.store.runs(&negozio, &RunFilter::default()).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_run_written_before_revisions_reads_as_revision_0_and_is_updated_over_it() {
    use aws_sdk_dynamodb::types::AttributeValue::S;
    let store = store().await;
    let negozio = ws("negozio");
    let old = run("run-old", "info", &phone(MARIO), t("2026-11-23T09:00:00Z"));
    // As the version before revisions wrote it: the document and the recorded steps, no `rev`.
    client()
        .await
        .put_item()
        .table_name(store.table())
        .item("pk", S("WS#negozio".into()))
        .item("sk", S("RUN#run-old".into()))
        .item("doc", S(serde_json::to_string(&old).unwrap()))
        .item("steps", S(",".into()))
        .send()
        .await
        .unwrap();

    assert_eq!(store.run(&negozio, &old.id).await.unwrap(), Some(StoredRun { run: old.clone(), revision: 0 }));
    let mut done = old.clone();
    done.status = RunStatus::Completed;
    assert_eq!(store.put_run(&negozio, &done, &RunBase::of(&old, 0)).await.unwrap(), 1);
    let again = store.put_run(&negozio, &old, &RunBase::of(&old, 0)).await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "revision 0 is gone once written over: {again:?}");
    assert_eq!(
        store.run(&negozio, &old.id).await.unwrap().map(|r| (r.run.status, r.revision)),
        Some((RunStatus::Completed, 1))
    );

    let ghost = run("run-ghost", "info", &phone(MARIO), t("2026-11-23T09:00:00Z"));
    let write = store.put_run(&negozio, &ghost, &RunBase::of(&ghost, 0)).await;
    assert!(matches!(write, Err(StoreError::Conflict(_))), "a write at revision 0 creates no run: {write:?}");
    assert_eq!(store.run(&negozio, &ghost.id).await.unwrap(), None);
}

#[tokio::test]
async fn two_instances_pacing_one_number_take_disjoint_leases_in_batches() {
    // Two Lambda instances: two stores (each with its own leases) on one table.
    let first = store().await;
    let second = first.another_instance();
    let rate = 80;
    let start = t("2026-11-23T09:00:00Z");
    let mut slots = Vec::new();
    // Each instance sends steadily, one message every 25 ms (40/s each, the rate together).
    for i in 0..400i64 {
        let now = start + chrono::Duration::milliseconds(25 * (i / 2));
        let instance = if i % 2 == 0 { &first } else { &second };
        let slot = instance.send_slot("106540352242922", rate, now).await.unwrap();
        assert!(slot >= now, "a slot is never in the past");
        slots.push(slot);
    }
    let calls = first.pace_calls() + second.pace_calls();
    assert!(calls <= 400 / 10 + 10, "{calls} UpdateItem calls for 400 sends");
    // Every slot handed out was taken from the number's timeline: a third instance asking at the
    // start finds it taken for at least 400 slots.
    let third = first.another_instance().send_slot("106540352242922", rate, start).await.unwrap();
    let taken = avvio_common::pacing::interval(rate) * 400;
    assert!(third >= start + taken, "the timeline holds {} of 400 slots", (third - start).num_milliseconds());
    println!("pacing: 400 sends from two instances, {calls} UpdateItem calls ({:.3} per send)", calls as f64 / 400.0);
}
