//! The DynamoDB store against the real DynamoDB API served by moto
//! (`scripts/test`, or `source scripts/moto` first): the store contract every adapter
//! passes, what only DynamoDB items can show, and the pipeline stages running on it.

mod support;

use avvio_common::calendar::Due;
use avvio_common::domain::contact::Contact;
use avvio_common::domain::path::StepPath;
use avvio_common::domain::run::RunCause;
use avvio_common::domain::{AutomationId, Bsuid, ContactKey, ListName, Run, RunId, RunStatus, StepStatus, WaId};
use avvio_common::ports::{
    ContactFilter, DueDate, Management, Page, RunBase, RunFilter, RunPosition, Store, StoreError, StoredRun,
};
use avvio_common::time::Time;
use avvio_tests::text_webhook;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
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
        retention: avvio_common::domain::run::RUNS_RETENTION,
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
async fn a_corrupt_item_is_reported_as_corrupt_naming_its_key_so_it_is_not_retried() {
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
    assert_eq!(err.retry(), avvio_common::ports::Retry::Fatal, "{err:?}");
    let StoreError::Corrupt(message) = err else { panic!("{err:?}") };
    assert!(message.contains("WS#negozio / RUN#run-1"), "{message}");
}

// ---------------------------------------------------------------- listings

/// Counts the items DynamoDB reads: those a Query evaluates (`ScannedCount`), those a
/// BatchGetItem or GetItem returns; and, apart, the items it returns (a `Select=COUNT` Query
/// evaluates index entries and returns none).
#[derive(Debug, Clone, Default)]
struct ItemsRead(Arc<AtomicUsize>, Arc<AtomicUsize>);

impl ItemsRead {
    /// The items read since the last `take`.
    fn take(&self) -> usize {
        self.0.swap(0, Ordering::SeqCst)
    }

    /// The items returned since the last `take_returned`.
    fn take_returned(&self) -> usize {
        self.1.swap(0, Ordering::SeqCst)
    }
}

impl aws_sdk_dynamodb::config::Intercept for ItemsRead {
    fn name(&self) -> &'static str {
        "ItemsRead"
    }

    fn read_after_execution(
        &self,
        context: &aws_sdk_dynamodb::config::interceptors::FinalizerInterceptorContextRef<'_>,
        _components: &aws_sdk_dynamodb::config::RuntimeComponents,
        _cfg: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        use aws_sdk_dynamodb::operation::query::QueryOutput;
        use aws_sdk_dynamodb::operation::{batch_get_item::BatchGetItemOutput, get_item::GetItemOutput};
        let Some(Ok(output)) = context.output_or_error() else { return Ok(()) };
        let (read, returned) = if let Some(got) = output.downcast_ref::<QueryOutput>() {
            (usize::try_from(got.scanned_count()).unwrap_or_default(), got.items().len())
        } else if let Some(got) = output.downcast_ref::<BatchGetItemOutput>() {
            let items = got.responses().map_or(0, |tables| tables.values().map(Vec::len).sum());
            (items, items)
        } else if let Some(got) = output.downcast_ref::<GetItemOutput>() {
            let items = usize::from(got.item().is_some());
            (items, items)
        } else {
            (0, 0)
        };
        self.0.fetch_add(read, Ordering::SeqCst);
        self.1.fetch_add(returned, Ordering::SeqCst);
        Ok(())
    }
}

/// A store on a fresh table whose DynamoDB calls `ItemsRead` counts.
async fn counted_store() -> (avvio_aws::dynamo::DynamoStore, ItemsRead) {
    let counter = ItemsRead::default();
    let config = aws_sdk_dynamodb::config::Builder::from(&sdk_config().await).interceptor(counter.clone()).build();
    let client = aws_sdk_dynamodb::Client::from_conf(config);
    let table = avvio_common::manage::fresh_token("avvio-test-");
    avvio_aws::dynamo::create_table(&client, &table).await.unwrap();
    (avvio_aws::dynamo::DynamoStore::new(client, table), counter)
}

#[tokio::test]
async fn a_page_reads_its_own_items_whatever_the_workspace_holds() {
    let (store, counter) = counted_store().await;
    let negozio = ws("negozio");
    let contacts: Vec<_> = (0..80)
        .map(|i| {
            let mut contact = Contact::new(&phone(&format!("3933300000{i:02}")));
            contact.lists.insert(list("vip"));
            (contact, Vec::new())
        })
        .collect();
    store.import_contacts(&negozio, &contacts).await.unwrap();
    let at = t("2026-11-23T10:00:00Z");
    for i in 0..80 {
        let contact = phone(&format!("3933300000{:02}", i % 4));
        let started =
            run(&format!("run-{i:02}"), ["info", "promo"][i % 2], &contact, at + chrono::Duration::seconds(i as i64));
        store.create_run(&negozio, &started).await.unwrap();
    }
    for i in 0..30 {
        store
            .create_automation(&negozio, phrase_automation(&format!("auto-{i:02}"), &format!("parola{i}")))
            .await
            .unwrap();
    }

    // A page of 5 reads 6 keys (the sixth tells whether more follow) and what they name.
    counter.take();
    let middle = phone("393330000040");
    for (filter, after) in [
        (ContactFilter::default(), None),
        (ContactFilter::default(), Some(&middle)),
        (ContactFilter { tag: None, list: Some(list("vip")) }, Some(&middle)),
    ] {
        let page = store.contacts_page(&negozio, &filter, after, 5).await.unwrap();
        assert_eq!(page.items.len(), 5);
        let read = counter.take();
        assert!(read <= 12, "{filter:?}: {read} items read for a page of 5 of 80");
    }
    let middle = RunPosition { started_at: at + chrono::Duration::seconds(40), id: RunId::parse("run-40").unwrap() };
    for (filter, after) in [
        (RunFilter::default(), None),
        (RunFilter::default(), Some(&middle)),
        (RunFilter { contact: Some(phone("393330000001")), automation: None }, Some(&middle)),
        (RunFilter { contact: None, automation: Some(id("promo")) }, None),
        (RunFilter { contact: Some(phone("393330000001")), automation: Some(id("promo")) }, None),
    ] {
        let page = store.runs_page(&negozio, &filter, after, 5).await.unwrap();
        assert_eq!(page.items.len(), 5, "{filter:?}");
        let read = counter.take();
        assert!(read <= 11, "{filter:?}: {read} items read for a page of 5 of 80");
    }
    let page = store.automations_page(&negozio, Some(&id("auto-10")), 5).await.unwrap();
    assert_eq!(
        page.items.iter().map(|a| a.id().to_string()).collect::<Vec<_>>(),
        ["auto-11", "auto-12", "auto-13", "auto-14", "auto-15"]
    );
    assert_eq!(counter.take(), 6, "a page of 5 of 30 automations");
}

#[tokio::test]
async fn the_newest_runs_are_counted_over_the_index_reading_only_the_runs_shown() {
    let (store, counter) = counted_store().await;
    // Pages of 7 entries: counting takes several Queries, as 1 MB pages would on AWS.
    let store = store.with_page_limit(7);
    let negozio = ws("negozio");
    let at = t("2026-11-23T10:00:00Z");
    for i in 0..60 {
        // Three contacts, each with runs of both automations.
        let contact = phone(&format!("3933300000{:02}", i % 3));
        let started =
            run(&format!("run-{i:02}"), ["info", "promo"][i % 2], &contact, at + chrono::Duration::seconds(i as i64));
        store.create_run(&negozio, &started).await.unwrap();
    }
    let mario = phone("393330000001");
    counter.take_returned();
    for (filter, newest, total) in [
        (RunFilter::default(), "run-59", 60),
        (RunFilter { contact: None, automation: Some(id("promo")) }, "run-59", 30),
        (RunFilter { contact: Some(mario.clone()), automation: None }, "run-58", 20),
        // Contact 01's runs are 1, 4, 7…: info when even, promo when odd; the count filters too.
        (RunFilter { contact: Some(mario.clone()), automation: Some(id("promo")) }, "run-55", 10),
        (RunFilter { contact: Some(mario.clone()), automation: Some(id("info")) }, "run-58", 10),
    ] {
        let (runs, counted) = store.newest_runs(&negozio, &filter, 5).await.unwrap();
        assert_eq!(runs.len(), 5, "{filter:?}");
        assert_eq!(runs[0].id.as_str(), newest, "{filter:?}");
        assert_eq!(counted, total, "{filter:?}");
        // The page's index entries (six: the sixth says more follow) and its five runs.
        assert_eq!(counter.take_returned(), 11, "{filter:?}: items returned for 5 runs of {total}");
    }
    let nobody = RunFilter { contact: Some(phone("393330000009")), automation: None };
    assert_eq!(store.newest_runs(&negozio, &nobody, 5).await.unwrap(), (Vec::new(), 0));
    // A page that holds every match needs no count: 60 index entries and 60 runs read, once.
    counter.take();
    let (runs, counted) = store.newest_runs(&negozio, &RunFilter::default(), 100).await.unwrap();
    assert_eq!((runs.len(), counted), (60, 60));
    assert_eq!(counter.take(), 120);
}

#[tokio::test]
async fn runs_written_before_the_run_indexes_are_listed_once_indexed() {
    use aws_sdk_dynamodb::types::AttributeValue::{N, S};
    let store = store().await.with_page_limit(2);
    let negozio = ws("negozio");
    let at = t("2026-11-23T09:00:00Z");
    for i in 0..3 {
        store
            .create_run(&negozio, &run(&format!("run-{i}"), "info", &phone(MARIO), at + chrono::Duration::hours(i)))
            .await
            .unwrap();
    }
    let old = run("run-old", "info", &phone(MARIO), at + chrono::Duration::minutes(30));
    // As the version before the run indexes wrote it: no index keys.
    client()
        .await
        .put_item()
        .table_name(store.table())
        .item("pk", S("WS#negozio".into()))
        .item("sk", S("RUN#run-old".into()))
        .item("doc", S(serde_json::to_string(&old).unwrap()))
        .item("rev", N("3".into()))
        .item("steps", S(",".into()))
        .send()
        .await
        .unwrap();
    let ids = |page: Page<Run, RunPosition>| page.items.iter().map(|r| r.id.to_string()).collect::<Vec<_>>();
    let marios = RunFilter { contact: Some(phone(MARIO)), automation: Some(id("info")) };
    assert_eq!(ids(store.runs_page(&negozio, &marios, None, 10).await.unwrap()), ["run-2", "run-1", "run-0"]);
    assert_eq!(store.runs(&negozio, &marios).await.unwrap().len(), 4, "the whole listing reads every run");

    assert_eq!(store.index_old_runs(&negozio).await.unwrap(), 1);
    assert_eq!(store.index_old_runs(&negozio).await.unwrap(), 0, "once");
    for filter in [RunFilter::default(), marios] {
        assert_eq!(
            ids(store.runs_page(&negozio, &filter, None, 10).await.unwrap()),
            ["run-2", "run-1", "run-old", "run-0"]
        );
    }
    // Untouched otherwise: the run is still at its revision.
    assert_eq!(store.run(&negozio, &old.id).await.unwrap(), Some(StoredRun { run: old.clone(), revision: 3 }));
    store.put_run(&negozio, &old, &RunBase::of(&old, 3)).await.unwrap();
}

#[tokio::test]
async fn a_contact_in_more_lists_than_a_write_moves_stays_a_member_under_its_bsuid() {
    let store = store().await.with_page_limit(2);
    let negozio = ws("negozio");
    let lists: Vec<ListName> = (0..17).map(|i| list(&format!("l{i:02}"))).collect();
    let mut other = Contact::new(&phone("393330000001"));
    other.lists.insert(lists[0].clone());
    store.put_contact(&negozio, &other, None).await.unwrap();
    let mut contact = Contact::new(&bsuid("IT.5"));
    contact.lists.extend(lists.iter().cloned());
    let revision = store.put_contact(&negozio, &contact, None).await.unwrap();
    // Its phone comes before the other member's: its memberships are not moved there.
    contact.phone = Some(WaId::parse("393330000000").unwrap());
    let revision = store.put_contact(&negozio, &contact, Some(revision)).await.unwrap();

    let first = ContactFilter { tag: None, list: Some(lists[0].clone()) };
    let keys = |page: Page<Contact, ContactKey>| page.items.iter().map(|c| c.key().to_string()).collect::<Vec<_>>();
    assert_eq!(keys(store.contacts_page(&negozio, &first, None, 10).await.unwrap()), ["393330000001", "393330000000"]);
    assert_eq!(store.list_members(&negozio, &lists[16]).await.unwrap(), [contact.clone()]);
    let page = store.contacts_page(&negozio, &first, None, 1).await.unwrap();
    let rest = store.contacts_page(&negozio, &first, page.next.as_ref(), 1).await.unwrap();
    assert_eq!(keys(rest), ["393330000000"], "paged at its BSUID's place");

    // Leaving a list leaves it; a list joined now has it under its phone.
    contact.lists.remove(&lists[0]);
    contact.lists.insert(list("nuova"));
    store.put_contact(&negozio, &contact, Some(revision)).await.unwrap();
    assert_eq!(keys(store.contacts_page(&negozio, &first, None, 10).await.unwrap()), ["393330000001"]);
    assert!(store.list_members(&negozio, &lists[0]).await.unwrap().len() == 1);
    let nuova = ContactFilter { tag: None, list: Some(list("nuova")) };
    assert_eq!(keys(store.contacts_page(&negozio, &nuova, None, 10).await.unwrap()), ["393330000000"]);

    // Deleted, it leaves every list, under either key.
    assert!(store.delete_contact(&negozio, &bsuid("IT.5")).await.unwrap());
    for list in lists.iter().chain([&list("nuova")]) {
        let members = ContactFilter { tag: None, list: Some(list.clone()) };
        assert!(
            store
                .contacts_page(&negozio, &members, None, 10)
                .await
                .unwrap()
                .items
                .iter()
                .all(|c| c.key() != phone("393330000000")),
            "{list}"
        );
    }
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
    let marios = RunFilter { contact: Some(phone(MARIO)), automation: Some(id("info")) };
    let page = deps.store.runs_page(&negozio, &marios, None, 10).await.unwrap();
    assert_eq!(page, Page { items: runs.clone(), next: None }, "written by the pipeline's transactions, listed");
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

// ---------------------------------------------------------------- runs retention

#[tokio::test]
async fn an_ended_run_carries_its_ttl_and_an_active_one_none() {
    let store = store().await;
    let client = client().await;
    let negozio = ws("negozio");
    let started = run("r-kept", "info", &phone("393331234567"), t("2026-11-23T09:00:00Z"));
    assert!(store.create_run(&negozio, &started).await.unwrap());
    let expires_at = |id: &str| {
        let client = client.clone();
        let table = store.table().to_string();
        let key = format!("RUN#{id}");
        async move {
            let item = client
                .get_item()
                .table_name(table)
                .key("pk", aws_sdk_dynamodb::types::AttributeValue::S("WS#negozio".into()))
                .key("sk", aws_sdk_dynamodb::types::AttributeValue::S(key))
                .consistent_read(true)
                .send()
                .await
                .unwrap()
                .item
                .expect("the run item");
            item.get("expires_at").map(|v| v.as_n().unwrap().parse::<i64>().unwrap())
        }
    };
    assert_eq!(expires_at("r-kept").await, None, "an active run is never deleted");

    let mut ended = started.clone();
    ended.record(avvio_common::domain::StepRecord::new(
        StepPath::first(),
        avvio_common::domain::automation::ActionKind::SendText,
        StepStatus::Done,
        t("2026-11-23T10:00:00Z"),
        None,
    ));
    ended.status = RunStatus::Completed;
    store.put_run(&negozio, &ended, &RunBase::of(&started, 1)).await.unwrap();
    // 90 days (the default retention) after its last step, in epoch seconds for the TTL.
    assert_eq!(expires_at("r-kept").await, Some(t("2027-02-21T10:00:00Z").timestamp()));
}
