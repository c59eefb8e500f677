//! The failures AWS and Meta really produce, on AWS APIs served locally: Meta
//! retrying a webhook, a function dying mid-step, Scheduler delivering twice, a
//! poison message, two matchers on one contact at once.

mod support;

use avvio_functions::batch::{self, Deadline};
use avvio_functions::wiring;
use aws_lambda_events::event::sqs::SqsEvent;
use serde_json::json;
use std::time::Duration;
use support::{MARIO, OwnedEnv, System, VISIBILITY_TIMEOUT, mario_says, phrase, template, text};

/// Waits until the messages received but not acknowledged become visible again.
async fn visibility_timeout_passes() {
    tokio::time::sleep(Duration::from_millis(u64::from(VISIBILITY_TIMEOUT) * 1000 + 200)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_webhook_delivered_ten_times_sends_one_reply() {
    let system = System::start().await;
    system.automation(phrase("info", "Vorrei informazioni", &[("0s", text("Ciao!"))])).await;
    let webhook = mario_says("wamid.retried.1", "Vorrei informazioni");
    for _ in 0..10 {
        system.webhook(&webhook).await.expect_status(200);
    }
    system.settle().await;
    assert_eq!(system.graph.sent().len(), 1);
    assert_eq!(system.runs(MARIO).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_redelivered_after_the_dedupe_window_still_sends_one_reply() {
    let system = System::start().await;
    system.automation(phrase("info", "Vorrei informazioni", &[("0s", text("Ciao!"))])).await;
    let webhook = mario_says("wamid.late.1", "Vorrei informazioni");
    system.webhook(&webhook).await.expect_status(200);
    system.settle().await;
    // SQS FIFO forgets deduplication ids after 5 minutes: a redelivery past that window is
    // queued again and reaches the matcher a second time.
    system.redeliver_after_the_dedupe_window(&webhook).await;
    assert_eq!(system.match_once().await, 1, "the matcher gets the event again");
    system.settle().await;
    assert_eq!(system.graph.sent().len(), 1, "the wamid claim keeps the second delivery from replying");
}

/// An automation replying at once (the matcher sends step 0) and going on at once (the executor sends step 1).
fn reply_then(second: &str) -> serde_json::Value {
    phrase("info", "Vorrei informazioni", &[("0s", text("Ciao!")), ("0s", text(second))])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_executor_dying_after_the_step_but_before_acknowledging_sends_nothing_more() {
    let system = System::start().await;
    system.automation(reply_then("Poi questo")).await;
    system.webhook(&mario_says("wamid.crash.1", "Vorrei informazioni")).await.expect_status(200);
    assert_eq!(system.match_once().await, 1);
    assert_eq!(system.graph.sent().len(), 1, "the matcher sent the reply");

    // Step 1 runs to its end, then the function dies: nothing is acknowledged.
    let batch = system.steps.receive().await.unwrap();
    assert_eq!(batch.records.len(), 1);
    let handled = batch::execute_steps(&system.executor, batch, Deadline::NONE, || system.now()).await;
    assert!(handled.response.batch_item_failures.is_empty());
    assert_eq!(system.graph.sent().len(), 2);

    visibility_timeout_passes().await;
    assert_eq!(system.execute_once().await, 1, "SQS delivers the step again");
    system.settle().await;
    assert_eq!(system.graph.sent().len(), 2, "the redelivered step sends nothing");
    let runs = system.runs(MARIO).await;
    assert_eq!(runs[0]["steps"][1]["status"], "done", "{}", runs[0]);
    assert_eq!(runs[0]["status"]["state"], "completed", "{}", runs[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_executor_dying_while_the_graph_api_answers_never_sends_twice() {
    let system = System::start().await;
    let steps = [("0s", text("Ciao!")), ("0s", text("Poi questo")), ("0s", text("Infine"))];
    system.automation(phrase("info", "Vorrei informazioni", &steps)).await;
    system.webhook(&mario_says("wamid.crash.2", "Vorrei informazioni")).await.expect_status(200);
    assert_eq!(system.match_once().await, 1);

    // The Graph API has step 1's message, but the function is killed before its answer arrives.
    system.graph.delay_answers(Duration::from_secs(5));
    let batch = system.steps.receive().await.unwrap();
    let killed = tokio::time::timeout(
        Duration::from_millis(500),
        batch::execute_steps(&system.executor, batch, Deadline::NONE, || system.now()),
    )
    .await;
    assert!(killed.is_err(), "the invocation was cut short");
    assert_eq!(system.graph.sent().len(), 2, "Meta received the message");
    system.graph.delay_answers(Duration::ZERO);

    visibility_timeout_passes().await;
    system.settle().await;
    let texts: Vec<_> = system.graph.sent().iter().map(|s| s.body["text"]["body"].clone()).collect();
    assert_eq!(texts, ["Ciao!", "Poi questo", "Infine"], "no second copy, and the run went on");
    let run = &system.runs(MARIO).await[0];
    assert_eq!(
        (run["steps"][1]["status"].as_str(), run["steps"][1]["error"].as_str()),
        (Some("failed"), Some("send_unconfirmed")),
        "the unknown outcome is recorded, not guessed: {run}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_matcher_dying_while_the_graph_api_answers_its_reply_never_sends_twice() {
    let system = System::start().await;
    system.automation(reply_then("Poi questo")).await;
    system.webhook(&mario_says("wamid.crash.3", "Vorrei informazioni")).await.expect_status(200);

    // The reply reaches Meta, but the matcher is killed before the answer: the event is not acknowledged.
    system.graph.delay_answers(Duration::from_secs(5));
    let batch = system.events.receive().await.unwrap();
    let killed = tokio::time::timeout(
        Duration::from_millis(500),
        batch::match_events(&system.matcher, &system.ingest.events, batch, Deadline::NONE, || system.now()),
    )
    .await;
    assert!(killed.is_err(), "the invocation was cut short");
    assert_eq!(system.graph.sent().len(), 1, "Meta received the reply");
    system.graph.delay_answers(Duration::ZERO);

    // SQS delivers the event again: its claim names the run, whose step 0 goes to the executor.
    visibility_timeout_passes().await;
    system.settle().await;
    let texts: Vec<_> = system.graph.sent().iter().map(|s| s.body["text"]["body"].clone()).collect();
    assert_eq!(texts, ["Ciao!", "Poi questo"], "no second reply, and the run went on");
    let run = &system.runs(MARIO).await[0];
    assert_eq!(run["steps"][0]["error"], "send_unconfirmed", "{run}");
    assert_eq!(run["status"]["state"], "completed", "{run}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schedule_delivered_twice_executes_its_step_once() {
    let system = System::start().await;
    system.automation(phrase("dopo", "Ricordamelo", &[("1h", text("Ecco il promemoria"))])).await;
    system.webhook(&mario_says("wamid.twice.1", "Ricordamelo")).await.expect_status(200);
    system.settle().await;

    let listed = system.scheduler.list_schedules().group_name(&system.resources.schedule_group).send().await.unwrap();
    let name = listed.schedules()[0].name().unwrap().to_string();
    let schedule =
        system.scheduler.get_schedule().group_name(&system.resources.schedule_group).name(&name).send().await.unwrap();
    let input = schedule.target().unwrap().input().unwrap().to_string();

    assert_eq!(system.advance(chrono::Duration::minutes(61)).await, 1);
    // Scheduler's delivery is at least once: the same input arrives a second time.
    system.sqs.send_message().queue_url(&system.resources.steps.url).message_body(input).send().await.unwrap();
    system.settle().await;

    assert_eq!(system.graph.sent().len(), 1);
    let run = &system.runs(MARIO).await[0];
    assert_eq!(run["status"]["state"], "completed", "{run}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_message_goes_to_the_dead_letter_queue_at_once_with_its_reason_and_its_batch_succeeds() {
    let system = System::start().await;
    system.automation(phrase("info", "Vorrei informazioni", &[("0s", text("Ciao!"))])).await;
    system
        .sqs
        .send_message()
        .queue_url(&system.resources.events.url)
        .message_body("{ this is not an event")
        .message_group_id("poison")
        .message_deduplication_id("poison-1")
        .send()
        .await
        .unwrap();
    system.webhook(&mario_says("wamid.poison.1", "Vorrei informazioni")).await.expect_status(200);

    let mut poison_seen = 0;
    system
        .events
        .poll(|batch: SqsEvent| {
            poison_seen += batch.records.iter().filter(|r| r.body.as_deref() == Some("{ this is not an event")).count();
            batch::match_events(&system.matcher, &system.ingest.events, batch, Deadline::NONE, || system.now())
        })
        .await
        .unwrap();
    assert_eq!(poison_seen, 1, "handled once: reading it again cannot succeed");
    assert_eq!(system.messages_in(&system.resources.events.url).await, 0, "acknowledged, not retried");
    let dead = dead_letters(&system, &system.resources.events.dlq_url).await;
    let [(body, reason)] = dead.as_slice() else { panic!("{dead:?}") };
    assert_eq!(body, "{ this is not an event");
    assert!(reason.starts_with("not a pipeline event"), "{reason}");
    system.settle().await;
    assert_eq!(system.graph.sent().len(), 1, "the good message of the batch went through");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_whose_stored_run_cannot_be_read_goes_to_the_dead_letter_queue_at_once() {
    let system = System::start().await;
    system
        .automation(phrase("info", "Vorrei informazioni", &[("0s", text("Ciao!")), ("2s", text("Ancora qui?"))]))
        .await;
    system.webhook(&mario_says("wamid.corrupt.1", "Vorrei informazioni")).await.expect_status(200);
    assert_eq!(system.match_once().await, 1);
    let run = system.runs(MARIO).await[0]["id"].as_str().unwrap().to_string();
    // The run's document is damaged before its second step comes due.
    aws_sdk_dynamodb::Client::new(&system.aws)
        .update_item()
        .table_name(&system.resources.table)
        .key("pk", aws_sdk_dynamodb::types::AttributeValue::S("WS#negozio".into()))
        .key("sk", aws_sdk_dynamodb::types::AttributeValue::S(format!("RUN#{run}")))
        .update_expression("SET doc = :bad")
        .expression_attribute_values(":bad", aws_sdk_dynamodb::types::AttributeValue::S("{ not a run".into()))
        .send()
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert_eq!(system.execute_once().await, 1);
    assert_eq!(system.messages_in(&system.resources.steps.url).await, 0, "not retried");
    let dead = dead_letters(&system, &system.resources.steps.dlq_url).await;
    let [(body, reason)] = dead.as_slice() else { panic!("{dead:?}") };
    assert!(body.contains(&run), "{body}");
    assert!(reason.contains("unreadable stored item") && reason.contains(&format!("RUN#{run}")), "{reason}");
    assert_eq!(system.graph.sent().len(), 1, "the second step sent nothing");
}

/// The messages in a dead-letter queue: each body and the reason Avvio gave.
async fn dead_letters(system: &System, url: &str) -> Vec<(String, String)> {
    let received = system
        .sqs
        .receive_message()
        .queue_url(url)
        .max_number_of_messages(10)
        .message_attribute_names("All")
        .send()
        .await
        .unwrap();
    received
        .messages()
        .iter()
        .map(|m| {
            let reason = m.message_attributes().and_then(|a| a.get("avvio_reason")).and_then(|v| v.string_value());
            (m.body().unwrap_or_default().to_string(), reason.unwrap_or_default().to_string())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_matchers_racing_on_one_contact_leave_it_consistent() {
    let system = System::start().await;
    system
        .automation(json!({ "id": "vip", "name": "vip", "trigger": { "type": "list", "list": "vip" },
                            "steps": [ { "after": "0s", "action": template("benvenuto", &["{{name|cliente}}"]) } ] }))
        .await;
    system.automation(phrase("info", "Vorrei informazioni", &[("0s", text("Ciao {{name}}!"))])).await;
    // A second matcher instance: its own clients, as another Lambda execution environment has.
    let other = wiring::sending(&OwnedEnv(&system.env), &wiring::Clients::new(&system.aws)).await.unwrap();

    let phones: Vec<String> = (0..5).map(|i| format!("39333000000{i}")).collect();
    for phone in &phones {
        let at = chrono::Utc::now().to_rfc3339();
        let webhook = avvio_tests::text_webhook(
            support::NUMBER,
            phone,
            &format!("wamid.race.{phone}"),
            &at,
            "Vorrei informazioni",
        );
        system.webhook(&webhook).await.expect_status(200);
        system.api("PUT", &format!("/v1/lists/vip/contacts/{phone}"), None).await.expect_status(202);
    }
    // The message and the list join are in different FIFO groups: two invocations may take them at once.
    let mut pending = phones.len() * 2;
    while pending > 0 {
        let batch = system.events.receive().await.unwrap();
        let (mine, theirs): (Vec<_>, Vec<_>) = batch.records.iter().cloned().enumerate().partition(|(i, _)| i % 2 == 0);
        let split = |records: Vec<(usize, aws_lambda_events::event::sqs::SqsMessage)>| {
            let mut event = SqsEvent::default();
            event.records = records.into_iter().map(|(_, r)| r).collect();
            event
        };
        let (mine, theirs) = (split(mine), split(theirs));
        let (a, b) = tokio::join!(
            batch::match_events(&system.matcher, &system.ingest.events, mine.clone(), Deadline::NONE, || system.now()),
            batch::match_events(&other, &system.ingest.events, theirs.clone(), Deadline::NONE, || system.now()),
        );
        // Lost races are retried inside the matcher; anything reported comes back and `settle` takes it.
        system.events.acknowledge(&mine, &a.response).await.unwrap();
        system.events.acknowledge(&theirs, &b.response).await.unwrap();
        pending -= batch.records.len();
    }
    system.settle().await;

    for phone in &phones {
        let contact = system.api("GET", &format!("/v1/contacts/{phone}"), None).await;
        assert_eq!(contact.body["name"], "Mario", "the message's update survived: {}", contact.body);
        assert_eq!(contact.body["lists"], json!(["vip"]), "the list join survived: {}", contact.body);
        assert_eq!(system.runs(phone).await.len(), 2, "one run per cause for {phone}");
    }
    assert_eq!(system.graph.sent().len(), phones.len() * 2);
}
