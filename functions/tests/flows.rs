//! Flows end to end on AWS APIs served locally: a `wait_for_reply` whose timeout is a
//! Scheduler schedule (over 15 minutes), resolved by a reply through ingest and the
//! matcher, or by the timeout through the schedule, the steps queue and the executor —
//! exactly once, however often the reply or the schedule is delivered.

mod support;

use serde_json::{Value, json};
use support::{MARIO, System, mario_says};

/// SPEC §2.3's appointment confirmation: buttons, then a wait of `timeout` for the answer.
fn confirmation(timeout: &str) -> Value {
    json!({ "id": "appuntamento", "name": "Conferma appuntamento",
            "trigger": { "type": "customer_message", "phrase": "Appuntamento" },
            "steps": [
                { "after": "0s", "action": { "type": "send_buttons", "text": "Confermi l'appuntamento di domani?",
                    "buttons": [ { "id": "si", "title": "Confermo" }, { "id": "no", "title": "Annulla" } ] } },
                { "after": "0s", "action": { "type": "wait_for_reply", "timeout": timeout, "save_to": "conferma",
                    "branches": [
                        { "reply": ["Confermo", "si"], "steps": [ { "after": "0s", "action": { "type": "send_text", "text": "Perfetto, a domani!" } } ] },
                        { "reply": ["Annulla", "no"], "steps": [ { "after": "0s", "action": { "type": "send_text", "text": "Va bene, a presto!" } } ] } ],
                    "on_timeout": [ { "after": "0s", "action": { "type": "send_template", "template": "benvenuto", "language": "it", "params": ["{{name}}"] } } ] } }
            ] })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_resolves_a_wait_once_however_often_it_or_the_timeout_is_delivered() {
    let system = System::start().await;
    system.automation(confirmation("2h")).await;
    system.webhook(&mario_says("wamid.flow.1", "Appuntamento")).await.expect_status(200);
    system.settle().await;
    assert_eq!(system.graph.sent().len(), 1, "the buttons went out");
    assert_eq!(system.schedules().await, 1, "the 2h timeout is a schedule");

    let reply = mario_says("wamid.flow.2", "  CONFERMO ");
    system.webhook(&reply).await.expect_status(200);
    system.settle().await;
    let sent = system.graph.sent();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[1].body["text"]["body"], "Perfetto, a domani!");

    system.redeliver_after_the_dedupe_window(&reply).await;
    system.settle().await;
    let past_the_timeout = chrono::Duration::hours(2) + chrono::Duration::minutes(1);
    assert_eq!(system.advance(past_the_timeout).await, 1, "the timeout's schedule fires (within the minute)");
    system.settle().await;
    assert_eq!(system.graph.sent().len(), 2, "neither the redelivered reply nor the timeout sends again");

    let runs = system.runs(MARIO).await;
    assert_eq!(runs.len(), 1, "the reply started no other run");
    let run = &runs[0];
    assert_eq!(run["status"]["state"], "completed", "{run}");
    assert_eq!(run["steps"][1]["step"], "steps[1]");
    assert_eq!(run["steps"][1]["branch"], "branches[0]", "{run}");
    assert_eq!(run["steps"][2]["step"], "steps[1].action.branches[0].steps[0]", "{run}");
    let contact = system.api("GET", &format!("/v1/contacts/{MARIO}"), None).await;
    assert_eq!(contact.body["fields"]["conferma"], "  CONFERMO ", "the reply is saved as written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_reply_within_a_timeout_over_15_minutes_takes_the_on_timeout_path_through_scheduler() {
    let system = System::start().await;
    system.automation(confirmation("2h")).await;
    system.webhook(&mario_says("wamid.quiet.1", "Appuntamento")).await.expect_status(200);
    system.settle().await;
    assert_eq!(system.graph.sent().len(), 1);

    assert_eq!(system.advance(chrono::Duration::minutes(119)).await, 0, "not due a minute early");
    assert_eq!(system.advance(chrono::Duration::seconds(61)).await, 1, "due once 2h have passed");
    system.settle().await;
    let sent = system.graph.sent();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[1].body["template"]["name"], "benvenuto", "the on_timeout step");

    // Once the wait is over, the answer is an ordinary message: it starts nothing here.
    system.webhook(&mario_says("wamid.quiet.2", "Confermo")).await.expect_status(200);
    system.settle().await;
    assert_eq!(system.graph.sent().len(), 2);
    let run = &system.runs(MARIO).await[0];
    assert_eq!(run["steps"][1]["branch"], "on_timeout", "{run}");
    assert_eq!(run["status"]["state"], "completed", "{run}");
}
