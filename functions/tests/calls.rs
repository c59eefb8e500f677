//! The AWS calls on the hot path (a customer's phrase → the reply sent), counted
//! by an SDK interceptor on the functions' own clients. The README's figures come
//! from `cargo test -p avvio-functions --test calls -- --nocapture`; the bounds
//! here keep them from growing unnoticed.

mod support;

use avvio_common::domain::{Contact, ContactKey, FieldKey, WorkspaceId};
use avvio_common::engine;
use avvio_common::ports::Store;
use avvio_functions::local::Calls;
use support::{System, mario_says, phrase, text};

fn show(stage: &str, calls: &Calls) {
    let list: Vec<String> = calls.by_operation.iter().map(|(op, n)| format!("{op}×{n}")).collect();
    println!("{stage:>9}: {:>2} calls, {:>2} items read  {}", calls.total(), calls.items_read, list.join(" "));
}

/// The calls a stage makes before the stand-in Graph API receives its `n`th send, and after.
async fn around_send(system: &System, n: usize, stage: impl std::future::Future<Output = usize>) -> [Calls; 2] {
    let (handled, before) = tokio::join!(stage, async {
        system.graph.wait_for(n, std::time::Duration::from_secs(20)).await;
        system.calls.take()
    });
    assert_eq!(handled, 1);
    [before, system.calls.take()]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phrase_reply_takes_at_most_five_aws_calls_before_its_send() {
    let system = System::start().await;
    let steps = [("0s", text("Ciao {{name}}!")), ("0s", text("Come posso aiutarti?"))];
    system.automation(phrase("info", "Vorrei informazioni", &steps)).await;
    // The answers wait a little, so the calls before a send are told from those after it.
    system.graph.delay_answers(std::time::Duration::from_millis(200));

    for (who, wamid, sent) in [("new", "wamid.calls.1", 0), ("returning", "wamid.calls.2", 2)] {
        system.calls.take();
        system.webhook(&mario_says(wamid, "Vorrei informazioni")).await.expect_status(200);
        let ingest = system.calls.take();
        let [matcher, matcher_after] = around_send(&system, sent + 1, system.match_once()).await;
        let [executor, executor_after] = around_send(&system, sent + 2, system.execute_once()).await;
        println!("a {who} contact's phrase → the reply (step 0, sent by the matcher), then step 1 (the executor):");
        show("ingest", &ingest);
        show("matcher", &matcher);
        show("  after", &matcher_after);
        show("executor", &executor);
        show("  after", &executor_after);
        let hot = ingest.total() + matcher.total();
        println!("    webhook → reply sent: {hot} calls");
        assert_eq!(ingest.total(), 1, "ingest only queues the event");
        // 4, and the number's pace: one lease of send slots per up to 10 sends of a busy
        // instance (docs/aws.md, "Pacing"), one for a lone message like this one at most.
        assert!(hot <= 5, "the hot path grew to {hot} calls");
        assert!(executor.total() <= 4, "a step grew to {} calls before its send", executor.total());
    }
    assert_eq!(system.graph.sent().len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_to_a_waiting_run_reads_that_run_and_sends_its_branch_from_the_matcher() {
    let system = System::start().await;
    let wait = serde_json::json!({ "type": "wait_for_reply", "timeout": "1h",
        "branches": [ { "reply": ["si"], "steps": [ { "after": "0s", "action": text("Perfetto!") } ] } ] });
    system.automation(phrase("domanda", "Domanda", &[("0s", text("Confermi?")), ("0s", wait)])).await;
    system.graph.delay_answers(std::time::Duration::from_millis(200));
    system.webhook(&mario_says("wamid.wait.1", "Domanda")).await.expect_status(200);
    system.settle().await;
    assert_eq!(system.graph.sent().len(), 1);

    system.calls.take();
    system.webhook(&mario_says("wamid.wait.2", "si")).await.expect_status(200);
    let ingest = system.calls.take();
    let [matcher, matcher_after] = around_send(&system, 2, system.match_once()).await;
    println!("a reply taken by a waiting run → its branch's first step (sent by the matcher):");
    show("ingest", &ingest);
    show("matcher", &matcher);
    show("  after", &matcher_after);
    let hot = ingest.total() + matcher.total();
    println!("    webhook → branch step sent: {hot} calls");
    // The message's reads and write (3), the waiting run's step view (2), a pace lease (1).
    assert!(hot <= 7, "resolving a wait grew to {hot} calls before the send");
    assert_eq!(system.graph.sent()[1].body["text"]["body"], "Perfetto!");
}

/// How many contacts the clock measurement loads (`AVVIO_BENCH_CONTACTS`, default 10,000),
/// and how many of them are due.
fn contacts() -> usize {
    std::env::var("AVVIO_BENCH_CONTACTS").ok().and_then(|n| n.parse().ok()).unwrap_or(10_000)
}
const DUE: usize = 100;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: loading thousands of contacts into the emulator takes minutes (scripts/bench-aws runs it)"]
async fn the_clock_reads_grow_with_the_contacts_due_not_with_all_contacts() {
    use chrono::Datelike;
    let system = System::start().await;
    system
        .automation(serde_json::json!({ "id": "compleanno", "name": "compleanno",
            "trigger": { "type": "date", "field": "birthday", "offset_days": 0, "time": "00:00", "annual": true },
            "steps": [ { "after": "0s", "action": { "type": "add_tag", "tag": "auguri" } } ] }))
        .await;
    let today = system.now().with_timezone(&chrono_tz::Europe::Rome).date_naive();
    // Loaded in bulk (`DynamoStore::import_contacts`: the items the API's contact upsert
    // writes, 25 to a call): through the API, moto's transactions and queries take time that
    // grows with the table, and 10,000 contacts took most of an hour.
    let ws = WorkspaceId::parse("negozio").unwrap();
    let store = &system.matcher.store;
    let workspace = store.workspace(&ws).await.unwrap().expect("the workspace");
    let automations = store.date_automations(&ws).await.unwrap();
    let [birthday] = &automations[..] else { panic!("one date automation") };
    let contacts: Vec<_> = (0..contacts())
        .map(|i| {
            // The first DUE contacts were born today; the others on the days of the year after today.
            let born = if i < DUE { today } else { today + chrono::Days::new(1 + (i % 360) as u64) };
            let born = born.with_year(1980 + (i % 30) as i32).unwrap_or(born);
            let mut contact = Contact::new(&ContactKey::parse(&format!("39300{i:07}")).unwrap());
            contact.fields.insert(FieldKey::parse("birthday").unwrap(), born.format("%Y-%m-%d").to_string());
            let due = engine::next_date_due(birthday, &contact, &workspace, today);
            (contact, due.map(|due| (birthday.id().clone(), due)).into_iter().collect())
        })
        .collect();
    for chunk in contacts.chunks(500) {
        store.import_contacts(&ws, chunk).await.expect("import the contacts");
    }
    let contacts = contacts.len();

    system.calls.take();
    system.tick().await;
    let tick = system.calls.take();
    show("clock", &tick);
    println!("{contacts} contacts, {DUE} due: {} DynamoDB items read", tick.items_read);
    system.settle().await;
    let runs = system.api("GET", "/v1/runs?automation=compleanno&limit=1000", None).await;
    assert_eq!(runs.body["items"].as_array().map(Vec::len), Some(DUE), "every contact due got its run");
    // Per contact due: its index item, its document, and the re-read before the write (a known limit).
    assert!(tick.items_read <= 3 * DUE + 10, "the clock read {} items for {DUE} due", tick.items_read);
}
