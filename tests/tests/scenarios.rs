//! Scenario tests: each directory under `tests/fixtures/scenarios/` holds
//! `automations.json`, `events.jsonl` and `expected.jsonl` (and optionally its own
//! `workspace.json` and an `until` file); the simulator's output must match
//! `expected.jsonl` line by line on every key the expected line names.

use avvio_tests::{assert_lines_match, fixtures, simulate_files};
use serde_json::Value;
use std::path::Path;

fn run_scenario(name: &str) {
    let dir = fixtures().join("scenarios").join(name);
    let workspace = match dir.join("workspace.json") {
        own if own.exists() => own,
        _ => fixtures().join("scenarios").join("workspace.json"),
    };
    let until = std::fs::read_to_string(dir.join("until")).ok();
    let actual = simulate_files(
        &workspace,
        &dir.join("automations.json"),
        &dir.join("events.jsonl"),
        until.as_deref().map(str::trim),
    )
    .unwrap_or_else(|e| panic!("scenario {name} failed to run: {e}"));
    let expected: Vec<Value> = std::fs::read_to_string(dir.join("expected.jsonl"))
        .unwrap_or_else(|e| panic!("scenario {name} has no expected.jsonl: {e}"))
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with("//"))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("scenario {name}: bad expected line {l}: {e}")))
        .collect();
    assert_lines_match(&actual, &expected, name);
}

macro_rules! scenarios {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                run_scenario(stringify!($name));
            }
        )*

        #[test]
        fn every_scenario_directory_has_a_test() {
            let listed = [$(stringify!($name)),*];
            for entry in std::fs::read_dir(fixtures().join("scenarios")).unwrap() {
                let entry = entry.unwrap();
                if entry.file_type().unwrap().is_dir() {
                    let name = entry.file_name().into_string().unwrap();
                    assert!(listed.contains(&name.as_str()), "scenario directory {name} is not listed in scenarios.rs");
                }
            }
            assert!(Path::new(&fixtures()).exists());
        }
    };
}

scenarios!(
    a_phrase_starts_its_automation_whatever_the_case_and_spacing,
    button_and_interactive_replies_match_phrases_by_title_or_id,
    an_integration_call_upserts_the_contact_and_a_wrong_secret_is_rejected,
    joining_a_list_fires_list_automations_once_per_membership,
    date_triggers_fire_at_local_time_across_dst,
    outside_hours_fires_once_per_cooldown,
    a_phrase_beats_holiday_which_beats_outside_hours,
    free_messages_need_a_reply_less_than_24_hours_old,
    a_message_delivered_twice_starts_one_run_and_statuses_start_none,
    a_chain_of_list_runs_deeper_than_8_is_a_loop,
    next_reply_captures_text_titles_captions_and_media_types,
    blocking_cancels_pending_steps_and_only_unblock_automations_answer,
    send_failures_are_recorded_and_the_run_goes_on,
    a_contact_known_only_by_bsuid_is_addressed_by_recipient,
    webhooks_tags_fields_and_operators_apply_in_order,
    a_reply_chooses_a_branch_and_is_saved_into_a_field,
    no_reply_takes_the_timeout_path_or_ends_the_run,
    an_untaken_reply_goes_on_to_the_triggers_and_a_taken_one_starts_nothing,
    of_two_waiting_runs_the_last_to_start_waiting_takes_the_reply,
    a_reply_and_the_timeout_at_the_same_instant_resolve_the_wait_once,
    blocking_a_waiting_contact_ends_its_wait,
    conditions_choose_by_tags_fields_lists_consent_and_hours,
    wait_until_holds_the_run_to_a_local_time_across_dst,
    start_automation_starts_another_one_level_deeper,
    consent_changes_by_phrase_action_contact_and_preference,
);
