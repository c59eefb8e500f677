//! The stages on the in-memory adapters, for what an events file cannot
//! express: automations edited or disabled mid-run, crashes between a send
//! and its record, redelivered step messages, a workspace changed after save.

use avvio_common::domain::{Automation, AutomationId, RunStatus, StepPath, StepStatus};
use avvio_common::engine::{self, Execution, StepInput};
use avvio_common::ports::{StepMessage, Store};
use avvio_common::time::{Time, parse_rfc3339};
use avvio_common::webhook::parse_webhook;
use avvio_tests::{MemoryDeps, memory_system, text_webhook};
use serde_json::{Value, json};

const NUMBER: &str = "106540352242922";
const MARIO: &str = "393331234567";

fn t(raw: &str) -> Time {
    parse_rfc3339(raw).unwrap()
}

fn workspace() -> Value {
    json!({
        "timezone": "Europe/Rome",
        "whatsapp": { "phone_number_id": NUMBER, "access_token": "token" },
        "templates": [ { "name": "welcome", "language": "it", "status": "approved", "body": "Ciao {{1}}" } ]
    })
}

fn automation(doc: Value) -> Automation {
    avvio_common::validate::parse_automation(doc).unwrap()
}

fn two_texts(second: &str) -> Automation {
    automation(json!({
        "id": "info", "name": "info", "trigger": { "type": "customer_message", "phrase": "Info" },
        "steps": [
            { "after": "0s", "action": { "type": "send_text", "text": "primo" } },
            { "after": "1h", "action": { "type": "send_text", "text": second } }
        ]
    }))
}

fn system_with(automation: Automation) -> (MemoryDeps, avvio_common::domain::WorkspaceId) {
    let (deps, ws) = memory_system("negozio", workspace());
    deps.store.with_catalog(&ws, |c| c.create(automation)).unwrap();
    (deps, ws)
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().build().unwrap()
}

/// Delivers Mario's "Info" at 09:00 (the matcher sends the first step at once); returns the second step's message.
async fn started(deps: &MemoryDeps) -> StepMessage {
    deliver_info(deps, "2026-11-23T09:00:00Z").await;
    assert_eq!(sent_texts(deps), ["primo"], "the reply goes out with the message");
    assert!(deps.steps.pop_due(t("2026-11-23T09:59:59Z")).is_none(), "nothing else is due before 10:00");
    deps.steps.pop_due(t("2026-11-23T10:00:00Z")).expect("the second step is queued")
}

/// Delivers Mario's "Info" (wamid.1) at `at`; returns what the matcher reported.
async fn deliver_info(deps: &MemoryDeps, at: &str) -> avvio_common::stages::Report {
    let body = text_webhook(NUMBER, MARIO, "wamid.1", "2026-11-23T09:00:00Z", "Info");
    let events = parse_webhook(&body).unwrap();
    assert_eq!(events.len(), 1);
    deps.handle_inbound(&events[0], t(at)).await.unwrap()
}

fn disable(deps: &MemoryDeps, ws: &avvio_common::domain::WorkspaceId) {
    let mut disabled = two_texts("secondo");
    disabled.enabled = false;
    deps.store.with_catalog(ws, |c| c.update(disabled)).unwrap();
}

/// The second step, when due, is skipped as `automation_disabled` and nothing more is sent.
async fn assert_second_step_cancelled(deps: &MemoryDeps, second: &StepMessage) {
    let report = deps.handle_step(second, t("2026-11-23T10:00:00Z")).await.unwrap();
    assert_eq!(report.effects[0].error.as_deref(), Some("automation_disabled"));
    assert_eq!(sent_texts(deps), ["primo"]);
}

fn sent_texts(deps: &MemoryDeps) -> Vec<String> {
    deps.sender.sent().iter().map(|(_, body)| body["text"]["body"].as_str().unwrap().to_string()).collect()
}

#[test]
fn disabling_an_automation_cancels_its_pending_steps() {
    rt().block_on(async {
        let (deps, ws) = system_with(two_texts("secondo"));
        let second = started(&deps).await;
        disable(&deps, &ws);

        assert_second_step_cancelled(&deps, &second).await;
        let run = deps.store.run(&ws, &second.step.run).await.unwrap().unwrap().run;
        assert_eq!(run.status, RunStatus::Cancelled { reason: "automation_disabled".into() });
        assert_eq!(run.step(&StepPath::top(1)).unwrap().status, StepStatus::Skipped);
    });
}

#[test]
fn enabling_it_again_before_the_step_is_due_does_not_revive_the_run() {
    rt().block_on(async {
        let (deps, ws) = system_with(two_texts("secondo"));
        let second = started(&deps).await;
        disable(&deps, &ws);
        deps.store.with_catalog(&ws, |c| c.update(two_texts("secondo"))).unwrap();

        assert_second_step_cancelled(&deps, &second).await;
    });
}

#[test]
fn deleting_an_automation_cancels_its_pending_steps() {
    rt().block_on(async {
        let (deps, ws) = system_with(two_texts("secondo"));
        let second = started(&deps).await;
        deps.store.with_catalog(&ws, |c| c.delete(&AutomationId::parse("info").unwrap())).unwrap();

        assert_second_step_cancelled(&deps, &second).await;
    });
}

#[test]
fn a_run_executes_the_version_it_started_with() {
    rt().block_on(async {
        let (deps, ws) = system_with(two_texts("vecchio"));
        let second = started(&deps).await;
        let updated = deps.store.with_catalog(&ws, |c| c.update(two_texts("nuovo"))).unwrap();
        assert_eq!(updated.version, 2);

        deps.handle_step(&second, t("2026-11-23T10:00:00Z")).await.unwrap();
        assert_eq!(sent_texts(&deps), ["primo", "vecchio"]);
    });
}

#[test]
fn a_redelivered_step_message_sends_nothing_more() {
    rt().block_on(async {
        let (deps, _) = system_with(two_texts("secondo"));
        let second = started(&deps).await;
        deps.handle_step(&second, t("2026-11-23T10:00:00Z")).await.unwrap();
        let again = deps.handle_step(&second, t("2026-11-23T10:00:30Z")).await.unwrap();

        assert!(again.effects.is_empty());
        assert_eq!(again.ignored, Some("step already executed or run over"));
        assert_eq!(sent_texts(&deps), ["primo", "secondo"]);
    });
}

#[test]
fn a_step_that_crashed_after_recording_its_send_is_never_sent_again() {
    rt().block_on(async {
        let (deps, ws) = system_with(two_texts("secondo"));
        let second = started(&deps).await;
        // The executor records its intent, then dies before the Graph call returns.
        let stored = deps.store.run(&ws, &second.step.run).await.unwrap().unwrap();
        let (base, revision) = (stored.base(), stored.revision);
        let run = stored.run;
        let automation = deps.store.automation_version(&ws, &run.automation, run.version).await.unwrap().unwrap();
        let contact = deps.store.contact(&ws, &run.contact).await.unwrap().unwrap().item;
        let workspace = deps.store.workspace(&ws).await.unwrap().unwrap();
        let Execution::Send { pending, .. } = engine::execute_step(StepInput {
            workspace: &workspace,
            automation: &automation,
            live: deps.store.liveness(&ws, &run.automation).await.unwrap(),
            run,
            step: StepPath::top(1),
            contact: &contact,
            related: &[],
            workspace_id: ws.as_str(),
            now: t("2026-11-23T10:00:00Z"),
        }) else {
            panic!("the second step sends");
        };
        assert_eq!(
            deps.store.claim_step(&ws, &pending.run, StepPath::top(1), &base).await.unwrap(),
            Some(revision + 1)
        );
        assert_eq!(
            deps.store.claim_step(&ws, &pending.run, StepPath::top(1), &base).await.unwrap(),
            None,
            "a step is claimed once"
        );

        // SQS redelivers the message after the visibility timeout.
        let report = deps.handle_step(&second, t("2026-11-23T10:05:00Z")).await.unwrap();
        assert_eq!(report.effects[0].error.as_deref(), Some("send_unconfirmed"));
        assert_eq!(sent_texts(&deps), ["primo"], "nothing is sent twice");
        let run = deps.store.run(&ws, &second.step.run).await.unwrap().unwrap().run;
        assert_eq!(run.status, RunStatus::Completed);
    });
}

#[test]
fn a_template_changed_after_save_fails_the_step_with_params_mismatch() {
    rt().block_on(async {
        let (deps, ws) = system_with(automation(json!({
            "id": "info", "name": "info", "trigger": { "type": "customer_message", "phrase": "Info" },
            "steps": [
                { "after": "0s", "action": { "type": "send_template", "template": "welcome", "language": "it", "params": ["{{name}}"] } },
                { "after": "0s", "action": { "type": "add_tag", "tag": "dopo" } }
            ]
        })));
        let mut changed = workspace();
        changed["templates"][0]["body"] = json!("Ciao {{1}}, il tuo codice è {{2}}");
        deps.store.load_workspace(&ws, serde_json::from_value(changed).unwrap());

        let report = deliver_info(&deps, "2026-11-23T09:00:00Z").await;
        assert_eq!(report.effects[0].error.as_deref(), Some("template_params_mismatch"));
        let next = deps.steps.pop_due(t("2026-11-23T09:00:00Z")).expect("the run goes on");
        assert_eq!(next.step.step, StepPath::top(1));
        assert!(deps.sender.sent().is_empty());
    });
}

#[test]
fn a_message_delivered_again_hands_its_first_step_to_the_executor_which_sends_nothing_more() {
    rt().block_on(async {
        let (deps, _) = system_with(two_texts("secondo"));
        let second = started(&deps).await;

        // Meta retries after the events queue's dedupe window; the first delivery may have stopped mid-way.
        let again = deliver_info(&deps, "2026-11-23T09:20:00Z").await;
        assert_eq!(again.ignored, Some("duplicate message"));
        let handed = deps.steps.pop_due(t("2026-11-23T09:20:00Z")).expect("step 0 goes to the executor");
        assert_eq!((handed.step.run.clone(), handed.step.step), (second.step.run.clone(), StepPath::first()));

        // Step 0 is done; step 1 was never run, so it is queued again at the time it was due.
        let report = deps.handle_step(&handed, t("2026-11-23T09:20:00Z")).await.unwrap();
        assert_eq!(report.ignored, Some("step already executed; what follows it queued again"));
        let requeued = deps.steps.pop_due(t("2026-11-23T10:00:00Z")).expect("step 1 queued again");
        assert_eq!(requeued, second);

        for message in [&second, &requeued] {
            deps.handle_step(message, t("2026-11-23T10:00:00Z")).await.unwrap();
        }
        assert_eq!(sent_texts(&deps), ["primo", "secondo"], "every step is sent once");
        assert!(deps.steps.is_empty());
    });
}

#[test]
fn a_message_delivered_again_hands_a_delayed_first_step_over_at_its_own_time() {
    rt().block_on(async {
        let (deps, _) = system_with(automation(json!({
            "id": "info", "name": "info", "trigger": { "type": "customer_message", "phrase": "Info" },
            "steps": [ { "after": "1h", "action": { "type": "send_text", "text": "più tardi" } } ]
        })));
        deliver_info(&deps, "2026-11-23T09:00:00Z").await;
        let queued = deps.steps.pop_due(t("2026-11-23T10:00:00Z")).expect("step 0 waits an hour");

        let again = deliver_info(&deps, "2026-11-23T09:20:00Z").await;
        assert_eq!(again.ignored, Some("duplicate message"));
        assert!(deps.steps.pop_due(t("2026-11-23T09:59:59Z")).is_none(), "nothing is sent early");
        let handed = deps.steps.pop_due(t("2026-11-23T10:00:00Z")).expect("handed over for 10:00");
        assert_eq!(handed, queued);
        for message in [&queued, &handed] {
            deps.handle_step(message, t("2026-11-23T10:00:00Z")).await.unwrap();
        }
        assert_eq!(sent_texts(&deps), ["più tardi"]);
    });
}

#[test]
fn a_step_whose_successor_is_recorded_is_ignored_when_delivered_again() {
    rt().block_on(async {
        let (deps, ws) = system_with(two_texts("secondo"));
        let second = started(&deps).await;
        deps.handle_step(&second, t("2026-11-23T10:00:00Z")).await.unwrap();
        let run = deps.store.run(&ws, &second.step.run).await.unwrap().unwrap().run;
        assert_eq!(run.status, RunStatus::Completed);

        let first = StepMessage {
            step: avvio_common::engine::StepDue { step: StepPath::first(), ..second.step.clone() },
            ..second
        };
        let report = deps.handle_step(&first, t("2026-11-23T10:05:00Z")).await.unwrap();
        assert_eq!(report.ignored, Some("step already executed or run over"));
        assert!(deps.steps.is_empty());
    });
}

#[test]
fn messages_and_statuses_for_an_unknown_number_are_ignored() {
    rt().block_on(async {
        let (deps, ws) = system_with(two_texts("secondo"));
        let body = text_webhook("999999999999999", MARIO, "wamid.1", "2026-11-23T09:00:00Z", "Info");
        let report = deps.handle_inbound(&parse_webhook(&body).unwrap()[0], t("2026-11-23T09:00:00Z")).await.unwrap();
        assert_eq!(report.ignored, Some("unknown phone_number_id"));
        assert!(deps.steps.is_empty());
        assert!(deps.store.all_runs(&ws).is_empty());
    });
}

#[test]
fn a_contact_write_with_a_stale_revision_is_a_conflict() {
    rt().block_on(async {
        let (deps, ws) = memory_system("negozio", workspace());
        let key = avvio_common::domain::ContactKey::parse(MARIO).unwrap();
        let contact = avvio_common::domain::Contact::new(&key);
        let first = deps.store.put_contact(&ws, &contact, None).await.unwrap();
        assert!(deps.store.put_contact(&ws, &contact, None).await.is_err(), "creating it twice races");
        deps.store.put_contact(&ws, &contact, Some(first)).await.unwrap();
        let stale = deps.store.put_contact(&ws, &contact, Some(first)).await;
        assert!(matches!(stale, Err(avvio_common::ports::StoreError::Conflict(_))), "{stale:?}");
    });
}

/// A sender that, once armed, holds its next send until told to go on (the Graph API taking
/// its time), saying when it has started.
#[derive(Default)]
struct HeldSender {
    inner: avvio_common::memory::MemorySender,
    hold: std::sync::Mutex<Option<(tokio::sync::oneshot::Sender<()>, tokio::sync::oneshot::Receiver<()>)>>,
}

impl avvio_common::ports::WhatsAppSender for HeldSender {
    async fn send(
        &self,
        account: &avvio_common::ports::Account,
        request: &avvio_common::graph::GraphRequest,
    ) -> Result<avvio_common::domain::Wamid, avvio_common::ports::SendError> {
        let hold = self.hold.lock().unwrap().take();
        if let Some((started, go_on)) = hold {
            started.send(()).unwrap();
            go_on.await.unwrap();
        }
        self.inner.send(account, request).await
    }
}

#[test]
fn a_delivery_status_recorded_while_a_step_is_being_sent_is_kept_with_the_steps_result() {
    rt().block_on(async {
        let (plain, ws) = system_with(two_texts("secondo"));
        let deps = avvio_common::stages::Deps {
            store: plain.store.clone(),
            steps: plain.steps.clone(),
            sender: HeldSender::default(),
            poster: plain.poster.clone(),
            default_access_token: None,
        };
        deliver_info(&plain, "2026-11-23T09:00:00Z").await;
        let second = deps.steps.pop_due(t("2026-11-23T10:00:00Z")).expect("the second step is queued");
        let first_sent = deps.store.run(&ws, &second.step.run).await.unwrap().unwrap().run.steps[0].wamid.clone();
        let delivered = avvio_common::webhook::StatusUpdate {
            phone_number_id: NUMBER.into(),
            wamid: first_sent.expect("the reply was sent"),
            status: avvio_common::webhook::DeliveryStatus::Read,
            timestamp: t("2026-11-23T10:00:01Z"),
            recipient_phone: Some(avvio_common::domain::WaId::parse(MARIO).unwrap()),
            recipient_bsuid: None,
            errors: Vec::new(),
        };

        // The executor claims step 1 and calls the Graph API; Mario reads the reply meanwhile.
        let (started, send_started) = tokio::sync::oneshot::channel();
        let (go_on, held) = tokio::sync::oneshot::channel();
        *deps.sender.hold.lock().unwrap() = Some((started, held));
        let (step, status) = tokio::join!(deps.handle_step(&second, t("2026-11-23T10:00:00Z")), async {
            send_started.await.unwrap();
            let status = deps.handle_status(&delivered, t("2026-11-23T10:00:01Z")).await;
            go_on.send(()).unwrap();
            status
        });
        step.unwrap();
        status.unwrap();

        let run = deps.store.run(&ws, &second.step.run).await.unwrap().unwrap().run;
        assert_eq!(
            run.step(&StepPath::top(0)).unwrap().delivery.as_deref(),
            Some("read"),
            "the status is not overwritten"
        );
        assert_eq!(run.step(&StepPath::top(1)).unwrap().status, StepStatus::Done, "the step's result is recorded");
        assert!(run.step(&StepPath::top(1)).unwrap().wamid.is_some());
        assert_eq!(run.status, RunStatus::Completed);
        assert_eq!(deps.sender.inner.count(), 1, "the held step was sent once");
    });
}

// ---------------------------------------------------------------------------
// Flows: a wait across edits of its automation
// ---------------------------------------------------------------------------

/// "Domanda" → wait 1h for "si" (`tag`) or anything else (otherwise: `altro`).
fn question(tag: &str) -> Automation {
    automation(json!({
        "id": "domanda", "name": "Domanda", "trigger": { "type": "customer_message", "phrase": "Domanda" },
        "steps": [ { "after": "0s", "action": { "type": "wait_for_reply", "timeout": "1h",
            "branches": [ { "reply": ["si"], "steps": [ { "after": "0s", "action": { "type": "add_tag", "tag": tag } } ] } ],
            "otherwise": [ { "after": "0s", "action": { "type": "add_tag", "tag": "altro" } } ] } } ]
    }))
}

/// Mario writes `text` (wamid `wamid`) at `at`.
async fn say(deps: &MemoryDeps, wamid: &str, at: &str, text: &str) -> avvio_common::stages::Report {
    let body = text_webhook(NUMBER, MARIO, wamid, at, text);
    deps.handle_inbound(&parse_webhook(&body).unwrap()[0], t(at)).await.unwrap()
}

/// Runs every step due at or before `at`; the lines they printed.
async fn run_due(deps: &MemoryDeps, at: &str) -> Vec<avvio_common::engine::Effect> {
    let mut effects = Vec::new();
    while let Some(step) = deps.steps.pop_due(t(at)) {
        effects.extend(deps.handle_step(&step, t(at)).await.unwrap().effects);
    }
    effects
}

async fn mario_tags(deps: &MemoryDeps, ws: &avvio_common::domain::WorkspaceId) -> Vec<String> {
    let key = avvio_common::domain::ContactKey::parse(MARIO).unwrap();
    let contact = deps.store.contact(ws, &key).await.unwrap().unwrap().item;
    contact.tags.iter().map(ToString::to_string).collect()
}

#[test]
fn a_run_waiting_across_a_version_change_finishes_its_branch_from_its_own_version() {
    rt().block_on(async {
        let (deps, ws) = system_with(question("v1"));
        say(&deps, "wamid.q", "2026-11-23T09:00:00Z", "Domanda").await;
        deps.store.with_catalog(&ws, |c| c.update(question("v2"))).unwrap();

        let reply = say(&deps, "wamid.r", "2026-11-23T09:10:00Z", "Si").await;
        assert_eq!(
            reply.effects[0].detail,
            avvio_common::engine::Detail::Reply {
                branch: avvio_common::domain::Branch::Branches(0),
                value: Some("Si".into()),
                field: None,
            }
        );
        run_due(&deps, "2026-11-23T09:10:00Z").await;
        assert_eq!(mario_tags(&deps, &ws).await, ["v1"], "the branch of version 1 ran");
        // A new run starts on version 2.
        say(&deps, "wamid.q2", "2026-11-23T09:20:00Z", "Domanda").await;
        say(&deps, "wamid.r2", "2026-11-23T09:21:00Z", "si").await;
        run_due(&deps, "2026-11-23T09:21:00Z").await;
        assert_eq!(mario_tags(&deps, &ws).await, ["v1", "v2"]);
    });
}

#[test]
fn disabling_an_automation_ends_its_waiting_run_and_the_reply_goes_on_to_the_triggers() {
    rt().block_on(async {
        let (deps, ws) = system_with(question("si"));
        deps.store.with_catalog(&ws, |c| c.create(two_texts("secondo"))).unwrap();
        let started = say(&deps, "wamid.q", "2026-11-23T09:00:00Z", "Domanda").await;
        let run = started.effects[0].run.clone();
        let mut disabled = question("si");
        disabled.enabled = false;
        deps.store.with_catalog(&ws, |c| c.update(disabled)).unwrap();

        // "Info" would be taken by the wait's otherwise; the wait is over, so it starts `info`.
        let reply = say(&deps, "wamid.r", "2026-11-23T09:10:00Z", "Info").await;
        assert_eq!(reply.effects[0].error.as_deref(), Some("automation_disabled"));
        assert_eq!(sent_texts(&deps), ["primo"], "the message went on to the `info` automation");
        let stored = deps.store.run(&ws, &run).await.unwrap().unwrap().run;
        assert_eq!(stored.status, RunStatus::Cancelled { reason: "automation_disabled".into() });
        assert_eq!(stored.step(&StepPath::first()).unwrap().status, StepStatus::Skipped);
        // The timeout finds the run over: nothing more.
        assert!(run_due(&deps, "2026-11-23T10:00:00Z").await.iter().all(|e| e.run != run));
        assert!(mario_tags(&deps, &ws).await.is_empty());
    });
}

#[test]
fn deleting_an_automation_ends_its_waiting_run_at_the_timeout() {
    rt().block_on(async {
        let (deps, ws) = system_with(question("si"));
        say(&deps, "wamid.q", "2026-11-23T09:00:00Z", "Domanda").await;
        deps.store.with_catalog(&ws, |c| c.delete(&AutomationId::parse("domanda").unwrap())).unwrap();

        let timeout = run_due(&deps, "2026-11-23T10:00:00Z").await;
        assert_eq!(timeout.len(), 1);
        assert_eq!(timeout[0].error.as_deref(), Some("automation_disabled"));
        let key = avvio_common::domain::ContactKey::parse(MARIO).unwrap();
        let contact = deps.store.contact(&ws, &key).await.unwrap().unwrap().item;
        assert!(contact.engine.waits.is_empty(), "the contact no longer waits");
    });
}

#[test]
fn a_timeout_delivered_early_goes_back_to_the_queue_and_a_late_reply_does_not_take_the_wait() {
    rt().block_on(async {
        let (deps, ws) = system_with(question("si"));
        say(&deps, "wamid.q", "2026-11-23T09:00:00Z", "Domanda").await;
        let timeout = deps.steps.pop_due(t("2026-11-23T10:00:00Z")).unwrap();
        // Delivered a minute early (a clock ahead): queued again at its time, nothing decided.
        let early = deps.handle_step(&timeout, t("2026-11-23T09:59:00Z")).await.unwrap();
        assert!(early.effects.is_empty());
        assert_eq!(deps.steps.next_due(), Some(t("2026-11-23T10:00:00Z")));
        // A reply sent at the timeout's instant, processed before the timeout: not taken.
        say(&deps, "wamid.r", "2026-11-23T10:00:00Z", "si").await;
        let resolved = run_due(&deps, "2026-11-23T10:00:00Z").await;
        assert_eq!(
            resolved[0].detail,
            avvio_common::engine::Detail::Reply {
                branch: avvio_common::domain::Branch::OnTimeout,
                value: None,
                field: None,
            }
        );
        assert!(mario_tags(&deps, &ws).await.is_empty());
    });
}

#[test]
fn a_blocked_contacts_consent_changes_but_starts_no_consent_automation() {
    rt().block_on(async {
        let blocker = automation(json!({ "id": "blocca", "name": "blocca",
            "trigger": { "type": "customer_message", "phrase": "Blocca" },
            "steps": [ { "after": "0s", "action": { "type": "block_contact" } } ] }));
        let (deps, ws) = system_with(blocker);
        let consent = automation(json!({ "id": "disiscritto", "name": "disiscritto",
            "trigger": { "type": "consent", "marketing": "opted_out" },
            "steps": [ { "after": "0s", "action": { "type": "add_tag", "tag": "disiscritto" } } ] }));
        deps.store.with_catalog(&ws, |c| c.create(consent)).unwrap();
        say(&deps, "wamid.b", "2026-11-23T09:00:00Z", "Blocca").await;

        say(&deps, "wamid.s", "2026-11-23T09:01:00Z", "STOP").await;
        run_due(&deps, "2026-11-23T09:01:00Z").await;
        let key = avvio_common::domain::ContactKey::parse(MARIO).unwrap();
        let contact = deps.store.contact(&ws, &key).await.unwrap().unwrap().item;
        assert_eq!(contact.marketing, avvio_common::domain::contact::MarketingConsent::OptedOut);
        assert!(contact.tags.is_empty(), "no consent automation ran");
        assert_eq!(deps.store.all_runs(&ws).len(), 1, "only the blocking run");
    });
}

#[test]
fn a_run_started_by_a_step_is_queued_again_when_the_step_is_redelivered() {
    rt().block_on(async {
        let parent = automation(json!({ "id": "avvia", "name": "avvia",
            "trigger": { "type": "customer_message", "phrase": "Info" },
            "steps": [ { "after": "0s", "action": { "type": "start_automation", "automation": "figlio" } } ] }));
        let (deps, ws) = system_with(parent);
        let child = automation(json!({ "id": "figlio", "name": "figlio", "trigger": { "type": "integration" },
            "steps": [ { "after": "1h", "action": { "type": "add_tag", "tag": "figlio" } } ] }));
        deps.store.with_catalog(&ws, |c| c.create(child)).unwrap();
        deliver_info(&deps, "2026-11-23T09:00:00Z").await;
        // The child run exists with the parent's result, its first step queued for 10:00.
        let child_step = deps.steps.pop_due(t("2026-11-23T10:00:00Z")).expect("the child's first step");
        assert!(deps.store.run(&ws, &child_step.step.run).await.unwrap().is_some());
        // The first delivery stopped before queueing it (it was popped above and lost): the
        // parent step, delivered again, queues it again at its time.
        let parent_run = deps.store.all_runs(&ws).into_iter().find(|r| r.automation.as_str() == "avvia").unwrap();
        let parent_step = StepMessage {
            workspace: ws.clone(),
            step: avvio_common::engine::StepDue {
                run: parent_run.id,
                step: StepPath::first(),
                due: t("2026-11-23T09:00:00Z"),
            },
        };
        deps.handle_step(&parent_step, t("2026-11-23T09:30:00Z")).await.unwrap();
        assert_eq!(deps.steps.pop_due(t("2026-11-23T10:00:00Z")), Some(child_step.clone()));
        deps.handle_step(&child_step, t("2026-11-23T10:00:00Z")).await.unwrap();
        assert_eq!(mario_tags(&deps, &ws).await, ["figlio"]);
    });
}

#[test]
fn the_memory_store_forgets_ended_runs_once_their_retention_has_passed() {
    rt().block_on(async {
        let store = avvio_common::memory::MemoryStore::new();
        avvio_tests::retention::ended_runs_are_forgotten_once_their_retention_has_passed(&store).await;
    });
}

#[test]
fn a_run_is_kept_for_the_workspaces_retention_after_it_ended_and_the_clock_then_deletes_it() {
    rt().block_on(async {
        let mut doc = workspace();
        doc["runs_retention"] = json!("2d");
        let (deps, ws) = memory_system("negozio", doc);
        deps.store.with_catalog(&ws, |c| c.create(two_texts("secondo"))).unwrap();
        let second = started(&deps).await;
        deps.handle_step(&second, t("2026-11-23T10:00:00Z")).await.unwrap();
        let run = deps.store.run(&ws, &second.step.run).await.unwrap().unwrap().run;
        assert_eq!((run.status.clone(), run.retention.to_string()), (RunStatus::Completed, "2d".to_string()));
        assert_eq!(run.expires_at(), Some(t("2026-11-25T10:00:00Z")), "two days after its last step");

        deps.run_clock_once(t("2026-11-25T09:59:00Z")).await.unwrap();
        assert!(deps.store.run(&ws, &run.id).await.unwrap().is_some(), "kept until then");
        deps.run_clock_once(t("2026-11-25T10:00:00Z")).await.unwrap();
        assert_eq!(deps.store.run(&ws, &run.id).await.unwrap(), None, "the clock's pass deleted it");
    });
}
