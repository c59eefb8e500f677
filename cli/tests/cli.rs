//! The `avvio` binary as a user runs it: exit codes, `FILE: PATH: message`
//! lines from `validate`, JSON lines from `simulate`, and bad input refused
//! with the line it is on.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn avvio(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_avvio")).args(args).output().expect("avvio runs")
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn example(name: &str) -> String {
    repo().join("examples").join(name).display().to_string()
}

/// A scratch directory for this test's files.
fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("avvio-cli-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).unwrap()
}

const ONE_STEP: &str = r#"[{ "after": "0s", "action": { "type": "add_tag", "tag": "x" } }]"#;

fn automation(id: &str, trigger: &str) -> String {
    format!(r#"{{ "id": "{id}", "name": "{id}", "trigger": {trigger}, "steps": {ONE_STEP} }}"#)
}

#[test]
fn the_examples_are_valid() {
    let out = avvio(&["validate", "--workspace", &example("workspace.json"), &example("automations.json")]);
    assert!(out.status.success(), "stdout:\n{}\nstderr:\n{}", stdout(&out), stderr(&out));
    assert_eq!(stdout(&out), "");
}

#[test]
fn validate_prints_one_line_per_problem_with_file_and_path_and_exits_1() {
    let dir = scratch("validate-problems");
    let bad = write(
        &dir,
        "bad.json",
        r#"{ "id": "b", "name": "B", "trigger": { "type": "integration" }, "steps": [
             { "after": "0s", "action": { "type": "add_tag", "tag": "x" } },
             { "after": "0s", "action": { "type": "send_buttons", "text": "?", "buttons": [
                 { "id": "1", "title": "uno" }, { "id": "2", "title": "due" }, { "id": "3", "title": "tre" }, { "id": "4", "title": "quattro" } ] } },
             { "after": "0s", "action": { "type": "send_text", "text": "" } } ] }"#,
    );
    let out = avvio(&["validate", &bad]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stdout(&out),
        format!(
            "{bad}: steps[1].action.buttons: send_buttons needs 1 to 3 buttons, 4 given\n\
             {bad}: steps[2].action.text: text must not be empty\n"
        )
    );
}

#[test]
fn validate_reports_a_phrase_conflict_across_files() {
    let dir = scratch("validate-conflict");
    let a = write(&dir, "a.json", &automation("a", r#"{ "type": "customer_message", "phrase": "Ciao" }"#));
    let b = write(&dir, "b.json", &automation("b", r#"{ "type": "customer_message", "phrase": " CIAO " }"#));
    let out = avvio(&["validate", &a, &b]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stdout(&out), format!("{b}: trigger.phrase: the phrase \"ciao\" already starts automation `a`\n"));
}

#[test]
fn validate_reports_two_holiday_automations_across_files() {
    let dir = scratch("validate-holiday");
    let a = write(&dir, "a.json", &automation("a", r#"{ "type": "holiday" }"#));
    let b = write(&dir, "b.json", &format!("[{}]", automation("b", r#"{ "type": "holiday", "cooldown": "1h" }"#)));
    let out = avvio(&["validate", &a, &b]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).starts_with(&format!("{b}: [0].trigger.type: automation `a` is already the enabled holiday")),
        "{}",
        stdout(&out)
    );
}

#[test]
fn validate_names_the_line_of_malformed_json() {
    let dir = scratch("validate-json");
    let bad = write(&dir, "bad.json", "{\n  \"id\": \"x\",\n  \"name\": \n}");
    let out = avvio(&["validate", &bad]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).starts_with(&format!("{bad}: line 4 column 1: malformed JSON")), "{}", stdout(&out));
}

#[test]
fn validate_checks_template_params_against_the_workspace() {
    let dir = scratch("validate-template");
    let a = write(
        &dir,
        "a.json",
        r#"{ "id": "a", "name": "a", "trigger": { "type": "integration" }, "steps": [
             { "after": "0s", "action": { "type": "send_template", "template": "welcome", "language": "it" } } ] }"#,
    );
    let out = avvio(&["validate", "--workspace", &example("workspace.json"), &a]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stdout(&out), format!("{a}: steps[0].action.params: template `welcome` (it) takes 1 params, 0 given\n"));
}

#[test]
fn validate_refuses_a_workspace_template_meta_would_reject_naming_its_path() {
    let dir = scratch("validate-bad-template");
    let ws = write(
        &dir,
        "workspace.json",
        r#"{ "timezone": "Europe/Rome", "templates": [ { "name": "promo", "language": "it", "status": "approved",
             "body": "x", "buttons": [ { "type": "url", "text": "Vai", "url": "http://shop.example.com" } ] } ] }"#,
    );
    let a = write(&dir, "a.json", &automation("a", r#"{ "type": "integration" }"#));
    let out = avvio(&["validate", "--workspace", &ws, &a]);
    assert_ne!(out.status.code(), Some(0));
    assert!(stderr(&out).contains(&format!("{ws}: templates[0].buttons[0].url: ")), "{}", stderr(&out));
}

#[test]
fn validate_refuses_a_workspace_whose_account_id_is_not_digits_naming_it() {
    let dir = scratch("validate-bad-waba");
    let ws = write(
        &dir,
        "workspace.json",
        r#"{ "timezone": "Europe/Rome", "whatsapp": { "phone_number_id": "106540352242922", "waba_id": "" } }"#,
    );
    let a = write(&dir, "a.json", &automation("a", r#"{ "type": "integration" }"#));
    let out = avvio(&["validate", "--workspace", &ws, &a]);
    assert_ne!(out.status.code(), Some(0));
    assert!(stderr(&out).contains(&format!("{ws}: whatsapp.waba_id: ")), "{}", stderr(&out));
}

#[test]
fn simulate_prints_the_examples_timeline_as_json_lines_in_time_order() {
    let out = simulate(&example("automations.json"), &example("events.jsonl"), &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let lines: Vec<serde_json::Value> = stdout(&out).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(lines.len() > 20, "only {} lines", lines.len());
    for line in &lines {
        for key in ["at", "contact", "automation", "run", "step", "action"] {
            assert!(line.get(key).is_some(), "line without `{key}`: {line}");
        }
    }
    let times: Vec<&str> = lines.iter().map(|l| l["at"].as_str().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "lines out of time order");
    let actions: std::collections::BTreeSet<&str> = lines.iter().map(|l| l["action"].as_str().unwrap()).collect();
    for action in [
        "send_template",
        "send_text",
        "send_buttons",
        "add_tag",
        "remove_tag",
        "add_to_list",
        "remove_from_list",
        "set_field",
        "block_contact",
        "unblock_contact",
        "send_webhook",
        "assign_operator",
        "unassign_operator",
        "wait_for_reply",
        "condition",
    ] {
        assert!(actions.contains(action), "the example timeline never shows {action}");
    }
}

/// `avvio simulate` on the example workspace with the given automations and events files.
fn simulate(automations: &str, events: &str, extra: &[&str]) -> Output {
    let workspace = example("workspace.json");
    let mut args = vec!["simulate", "--workspace", &workspace, "--automations", automations, "--events", events];
    args.extend_from_slice(extra);
    avvio(&args)
}

fn simulate_with_events(test: &str, events: &str) -> Output {
    let dir = scratch(test);
    let events = write(&dir, "events.jsonl", events);
    simulate(&example("automations.json"), &events, &[])
}

const CONTACT: &str = r#"{"at":"2026-11-23T09:00:00Z","contact":{"phone":"+39 333 123 4567","name":"Mario"}}"#;

#[test]
fn simulate_refuses_a_malformed_events_line_naming_it() {
    let out = simulate_with_events("sim-malformed", &format!("{CONTACT}\n{{\"at\": \"2026-11-23T09:00:00Z\", \n"));
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("events.jsonl: line 2: "), "{}", stderr(&out));
    assert_eq!(stdout(&out), "", "nothing runs when the input is bad");
}

#[test]
fn simulate_refuses_a_misspelt_event_key() {
    let out = simulate_with_events("sim-typo", r#"{"at":"2026-11-23T09:00:00Z","contatto":{"phone":"393331234567"}}"#);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("line 1: contatto: unknown field `contatto`"), "{}", stderr(&out));
}

#[test]
fn simulate_refuses_events_out_of_time_order() {
    let out = simulate_with_events(
        "sim-order",
        &format!(
            "{CONTACT}\n{}\n",
            r#"{"at":"2026-11-23T08:59:59Z","list_add":{"list":"vip","phone":"393331234567"}}"#
        ),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("line 2: events must be in time order"), "{}", stderr(&out));
}

#[test]
fn simulate_refuses_an_unknown_automation_id() {
    let out = simulate_with_events(
        "sim-unknown",
        r#"{"at":"2026-11-23T09:00:00Z","integration":{"automation":"nope","body":{"phone":"393331234567"}}}"#,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("line 1: integration.automation: no automation `nope`"), "{}", stderr(&out));
}

#[test]
fn simulate_refuses_a_bad_phone() {
    let out = simulate_with_events(
        "sim-phone",
        r#"{"at":"2026-11-23T09:00:00Z","list_add":{"list":"vip","phone":"+39 abc"}}"#,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("line 1: list_add.phone: "), "{}", stderr(&out));
}

#[test]
fn simulate_refuses_an_event_with_two_kinds() {
    let out = simulate_with_events(
        "sim-two",
        r#"{"at":"2026-11-23T09:00:00Z","list_add":{"list":"vip","phone":"393331234567"},"list_remove":{"list":"vip","phone":"393331234567"}}"#,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("line 1: each event needs exactly one of"), "{}", stderr(&out));
}

#[test]
fn simulate_refuses_an_invalid_automations_file() {
    let dir = scratch("sim-bad-automation");
    let automations =
        write(&dir, "a.json", r#"[{ "id": "a", "name": "a", "trigger": { "type": "nope" }, "steps": [] }]"#);
    let events = write(&dir, "events.jsonl", CONTACT);
    let out = simulate(&automations, &events, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(&format!("{automations}: [0].trigger.type: unknown variant `nope`")),
        "{}",
        stderr(&out)
    );
}

#[test]
fn simulate_stops_the_clock_at_until() {
    let dir = scratch("sim-until");
    let events = write(
        &dir,
        "events.jsonl",
        r#"{"at":"2026-11-23T09:00:00Z","integration":{"automation":"ordine-ricevuto","body":{"secret":"shopify-segreto-123","phone":"393331234567","custom_fields":{"order_id":"1"}}}}"#,
    );
    let run = |until: &str| {
        let out = simulate(&example("automations.json"), &events, &["--until", until]);
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out).lines().count()
    };
    // The last step (a webhook) comes 2h after the call.
    assert_eq!(run("2026-11-23T10:59:59Z") + 1, run("2026-11-23T11:00:00Z"));
}
