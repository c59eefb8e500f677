//! End to end on AWS APIs served locally: a request through ingest (as API
//! Gateway delivers it) → the events queue → the matcher (which sends a reply due at
//! once itself) → the steps queue (or a Scheduler schedule) → the executor → the
//! stand-in Graph API, for every kind of trigger the pipeline carries.

mod support;

use avvio_functions::batch::{self, Deadline};
use avvio_tests::graph::Limits;
use chrono::Datelike;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use support::{MARIO, System, mario_says, phrase, template, text};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phrase_with_a_short_delay_is_answered_through_sqs_and_the_delay_is_an_sqs_delay() {
    let system = System::start().await;
    system
        .automation(phrase(
            "info",
            "Vorrei informazioni",
            &[("0s", text("Ciao {{name}}!")), ("2s", text("Ancora qui?"))],
        ))
        .await;

    system.webhook(&mario_says("wamid.short.1", "Vorrei informazioni")).await.expect_status(200);
    assert_eq!(system.match_once().await, 1, "ingest queued one event");
    let first = system.graph.sent();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].path, format!("v23.0/{}/messages", support::NUMBER));
    assert_eq!(first[0].authorization, "Bearer EAAG-negozio");
    assert_eq!(first[0].body["to"], MARIO);
    assert_eq!(first[0].body["text"]["body"], "Ciao Mario!");

    let steps = system.steps.depth().await.unwrap();
    assert_eq!(steps.delayed, 1, "the second step waits in SQS as a delayed message: {steps:?}");
    assert_eq!(system.schedules().await, 0, "no schedule for a delay under 15 minutes");
    system.settle().await;
    let sent = system.graph.sent();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[1].body["text"]["body"], "Ancora qui?");

    let runs = system.runs(MARIO).await;
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["status"]["state"], "completed", "{}", runs[0]);
    assert_eq!(runs[0]["steps"][1]["wamid"], "wamid.standin.2", "{}", runs[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phrase_with_a_long_delay_waits_in_a_scheduler_schedule_that_deletes_itself() {
    let system = System::start().await;
    system
        .automation(phrase("promemoria", "Ricordamelo", &[("0s", text("Va bene")), ("2h", text("Ecco il promemoria"))]))
        .await;

    system.webhook(&mario_says("wamid.long.1", "Ricordamelo")).await.expect_status(200);
    system.settle().await;
    assert_eq!(system.graph.sent().len(), 1, "only the first step ran");
    assert_eq!(system.schedules().await, 1, "the 2h step is a one-time schedule");

    assert_eq!(system.advance(chrono::Duration::minutes(119)).await, 0, "not due a minute early");
    assert_eq!(system.advance(chrono::Duration::seconds(61)).await, 1, "due once 2h have passed");
    assert_eq!(system.schedules().await, 0, "the schedule is deleted once it fired");
    system.settle().await;
    let sent = system.graph.sent();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[1].body["text"]["body"], "Ecco il promemoria");
    assert_eq!(system.runs(MARIO).await[0]["status"]["state"], "completed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joining_a_list_through_the_api_starts_the_lists_automation_once() {
    let system = System::start().await;
    system
        .automation(json!({ "id": "vip", "name": "vip", "trigger": { "type": "list", "list": "vip" },
                            "steps": [ { "after": "0s", "action": template("benvenuto", &["{{name|cliente}}"]) } ] }))
        .await;
    system.api("PUT", &format!("/v1/contacts/{MARIO}"), Some(json!({ "name": "Mario" }))).await.expect_status(201);

    system.api("PUT", &format!("/v1/lists/vip/contacts/{MARIO}"), None).await.expect_status(202);
    system.api("PUT", &format!("/v1/lists/vip/contacts/{MARIO}"), None).await.expect_status(202);
    system.settle().await;

    let sent = system.graph.sent();
    assert_eq!(sent.len(), 1, "a contact already in the list does not join it again");
    assert_eq!(sent[0].body["template"]["name"], "benvenuto");
    assert_eq!(sent[0].body["template"]["components"][0]["parameters"][0]["text"], "Mario");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_integration_call_upserts_the_contact_and_starts_a_run() {
    let system = System::start().await;
    let created = system
        .automation(json!({ "id": "ordine", "name": "ordine", "trigger": { "type": "integration", "secret": "segreto-ordine" },
                            "steps": [ { "after": "0s", "action": template("benvenuto", &["{{fields.order_id}}"]) } ] }))
        .await;
    assert_eq!(created["trigger"]["type"], "integration");

    let call = |secret: &str| {
        json!({ "secret": secret, "phone": "+39 333 123 4567", "first_name": "Mario", "last_name": "Rossi",
                "custom_fields": { "order_id": "A-123" } })
        .to_string()
        .into_bytes()
    };
    let headers = json!({ "content-type": "application/json" });
    let wrong = system.request("POST", "/hooks/automations/ordine", headers.clone(), Some(&call("sbagliato"))).await;
    wrong.expect_status(401);
    let right = system.request("POST", "/hooks/automations/ordine", headers, Some(&call("segreto-ordine"))).await;
    right.expect_status(202);
    system.settle().await;

    let sent = system.graph.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].body["to"], MARIO);
    assert_eq!(sent[0].body["template"]["components"][0]["parameters"][0]["text"], "A-123");
    let contact = system.api("GET", &format!("/v1/contacts/{MARIO}"), None).await;
    assert_eq!(contact.body["name"], "Mario Rossi", "{}", contact.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_clock_finds_a_birthday_due_today_and_the_executor_sends_it() {
    let system = System::start().await;
    system
        .automation(json!({ "id": "compleanno", "name": "compleanno",
                            "trigger": { "type": "date", "field": "birthday", "offset_days": 0, "time": "00:00", "annual": true },
                            "steps": [ { "after": "0s", "action": template("benvenuto", &["{{name}}"]) } ] }))
        .await;
    let today_in_rome = system.now().with_timezone(&chrono_tz::Europe::Rome).date_naive();
    let born = today_in_rome.with_year(1990).unwrap_or(today_in_rome);
    let contact = json!({ "name": "Mario", "fields": { "birthday": born.format("%Y-%m-%d").to_string() } });
    system.api("PUT", &format!("/v1/contacts/{MARIO}"), Some(contact)).await.expect_status(201);

    system.tick().await;
    system.settle().await;
    system.tick().await;
    system.settle().await;

    let sent = system.graph.sent();
    assert_eq!(sent.len(), 1, "one birthday message, however often the clock ticks");
    assert_eq!(sent[0].body["template"]["components"][0]["parameters"][0]["text"], "Mario");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_handled_batch_returns_and_prints_its_metrics_for_cloudwatch() {
    let system = System::start().await;
    system
        .automation(phrase("info", "Vorrei informazioni", &[("0s", text("Ciao!")), ("0s", text("Poi questo"))]))
        .await;
    system.webhook(&mario_says("wamid.metrics.1", "Vorrei informazioni")).await.expect_status(200);

    // The matcher sends the reply itself: one send, timed from the event's queueing by ingest.
    let events = system.events.receive().await.unwrap();
    let matched =
        batch::match_events(&system.matcher, &system.ingest.events, events.clone(), Deadline::NONE, || system.now())
            .await;
    system.events.acknowledge(&events, &matched.response).await.unwrap();
    assert_eq!(matched.metrics.sends, 1, "{:?}", matched.metrics);
    assert_eq!(matched.metrics.webhook_to_send.len(), 1, "{:?}", matched.metrics);
    assert!(matched.metrics.webhook_to_send[0] < 10_000, "{:?}", matched.metrics);
    assert!(matched.metrics.step_lag.is_empty(), "the matcher runs no queued step");

    // Meta throttles the second message: the executor counts the step's lag and the throttle.
    system.graph.enforce(Limits { refuse: vec![(MARIO.to_string(), 130429)], ..Limits::default() });
    let steps = system.steps.receive().await.unwrap();
    assert_eq!(steps.records.len(), 1);
    let executed = batch::execute_steps(&system.executor, steps.clone(), Deadline::NONE, || system.now()).await;
    system.steps.acknowledge(&steps, &executed.response).await.unwrap();
    assert_eq!(executed.metrics.sends, 0);
    assert_eq!(executed.metrics.throttles, BTreeMap::from([("130429".to_string(), 1)]));
    assert_eq!(executed.metrics.step_lag.len(), 1);

    // What the function prints: the invocation's line, then one per error code.
    let mut printed = Vec::new();
    avvio_functions::print_metrics(&mut printed, &executed.metrics, "avvio-executor", system.now());
    let lines: Vec<Value> =
        String::from_utf8(printed).unwrap().lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    let directive = &lines[0]["_aws"]["CloudWatchMetrics"][0];
    assert_eq!(directive["Namespace"], "Avvio");
    assert_eq!(directive["Dimensions"], json!([["FunctionName"]]));
    assert_eq!(
        (&lines[0]["FunctionName"], &lines[0]["Sends"], &lines[0]["Throttles"]),
        (&json!("avvio-executor"), &json!(0), &json!(1))
    );
    assert_eq!(lines[0]["StepLag"].as_array().map(Vec::len), Some(1));
    assert_eq!(lines[1]["_aws"]["CloudWatchMetrics"][0]["Dimensions"], json!([["FunctionName", "code"]]));
    assert_eq!((&lines[1]["code"], &lines[1]["Throttles"]), (&json!("130429"), &json!(1)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_status_the_matcher_reads_before_the_sends_result_is_stored_is_applied_when_it_is() {
    let system = System::start().await;
    system.automation(phrase("info", "Vorrei informazioni", &[("0s", text("Ciao {{name}}!"))])).await;

    // Meta's `sent` and `delivered` for the reply Avvio is about to send (the stand-in Graph
    // API's first id) reach the matcher first: nothing links them to a run step yet.
    for status in ["sent", "delivered"] {
        let body = avvio_tests::status_webhook(support::NUMBER, MARIO, "wamid.standin.1", status);
        system.webhook(&body).await.expect_status(200);
    }
    assert_eq!(system.match_once().await, 2, "ingest queued both statuses");
    assert!(system.runs(MARIO).await.is_empty(), "a parked status starts nothing");

    system.webhook(&mario_says("wamid.parked.1", "Vorrei informazioni")).await.expect_status(200);
    system.settle().await;
    let runs = system.runs(MARIO).await;
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["steps"][0]["wamid"], "wamid.standin.1", "{}", runs[0]);
    assert_eq!(runs[0]["steps"][0]["delivery"], "delivered", "the parked statuses were applied: {}", runs[0]);
}

#[tokio::test]
async fn the_clock_invoked_with_index_old_runs_gives_runs_stored_before_the_indexes_their_keys() {
    use avvio_functions::{ClockRequest, index_old_runs};
    let system = System::start().await;
    system.automation(phrase("info", "Vorrei informazioni", &[("0s", text("Ciao {{name}}!"))])).await;
    system.webhook(&mario_says("wamid.old.1", "Vorrei informazioni")).await.expect_status(200);
    system.settle().await;
    let runs = system.runs(MARIO).await;
    assert_eq!(runs.len(), 1);
    // As the functions before the run indexes wrote it: no index keys.
    let key = |name: &str, value: String| (name.to_string(), aws_sdk_dynamodb::types::AttributeValue::S(value));
    aws_sdk_dynamodb::Client::new(&system.aws)
        .update_item()
        .table_name(&system.resources.table)
        .set_key(Some(
            [key("pk", "WS#negozio".into()), key("sk", format!("RUN#{}", runs[0]["id"].as_str().unwrap()))].into(),
        ))
        .update_expression("REMOVE gsi2pk, gsi2sk, gsi3pk, gsi4pk")
        .send()
        .await
        .unwrap();
    assert!(system.runs(MARIO).await.is_empty(), "missing from the listing");

    // What `aws lambda invoke --payload '{"index_old_runs":["negozio"]}'` hands the clock.
    let request = ClockRequest::of(&json!({ "index_old_runs": ["negozio"] })).unwrap();
    let ClockRequest::IndexOldRuns(workspaces) = request else { panic!("{request:?}") };
    let answer = index_old_runs(&system.clock.store, &workspaces).await.unwrap();

    assert_eq!(answer, json!({ "indexed": { "negozio": 1 } }));
    assert_eq!(system.runs(MARIO).await, runs, "listed again, as it was");
    let again = index_old_runs(&system.clock.store, &workspaces).await.unwrap();
    assert_eq!(again, json!({ "indexed": { "negozio": 0 } }), "once");
    // The schedule's own payload is a tick; a malformed request is refused, naming the key.
    assert_eq!(ClockRequest::of(&json!({ "source": "avvio.clock" })), Ok(ClockRequest::Tick));
    for bad in [json!({ "index_old_runs": "negozio" }), json!({ "index_old_runs": ["not a workspace!"] })] {
        let refused = ClockRequest::of(&bad).unwrap_err().to_string();
        assert!(refused.starts_with("index_old_runs must be an array of workspace ids"), "{refused}");
    }
}
