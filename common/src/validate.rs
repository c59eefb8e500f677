//! Reading automation documents and checking every rule of SPEC §2 that can be
//! checked before a run: each problem comes with the JSON path it is at
//! (`steps[2].action.buttons`) and an error code.

use crate::catalog::Catalog;
use crate::domain::automation::{Action, Automation, Predicate, SetFieldSource, Step, Trigger};
use crate::domain::duration::Duration;
use crate::domain::path::{Branch, MAX_BRANCHES, MAX_NESTING};
use crate::domain::phrase::Phrase;
use crate::domain::workspace::Workspace;
use serde::Serialize;
use std::fmt;

pub const MAX_TEXT_CHARS: usize = 4096;
pub const MAX_BUTTON_TEXT_CHARS: usize = 1024;
pub const MAX_BUTTONS: usize = 3;
pub const MAX_BUTTON_TITLE_CHARS: usize = 20;
pub const MAX_BUTTON_ID_CHARS: usize = 256;
/// Steps in all, branches included.
pub const MAX_STEPS: usize = 200;
/// Reply values of one `wait_for_reply` branch.
pub const MAX_REPLY_VALUES: usize = 20;
/// The shortest and longest `wait_for_reply` timeout.
pub const MIN_TIMEOUT: Duration = Duration::from_secs(60);
pub const MAX_TIMEOUT: Duration = Duration::from_secs(30 * 86_400);
pub const MAX_OFFSET_DAYS: i32 = 3660;

/// One problem with a document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Issue {
    pub code: &'static str,
    pub message: String,
    pub path: String,
}

impl Issue {
    pub fn new(code: &'static str, path: impl Into<String>, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), path: path.into() }
    }
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Reads one automation document; the issue names the path of the first shape error.
pub fn parse_automation(value: serde_json::Value) -> Result<Automation, Issue> {
    parse_document(value)
}

/// Reads any document (automation, workspace, template, contact change); the issue
/// names the path of the first shape error and classifies it.
pub fn parse_document<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> Result<T, Issue> {
    serde_path_to_error::deserialize(value).map_err(|e| shape_issue(e.path(), e.inner().to_string()))
}

/// The issue of a shape error at `path` (as `serde_path_to_error` traced it), classified
/// by what serde's `message` says.
pub fn shape_issue(path: &serde_path_to_error::Path, message: String) -> Issue {
    let path = match path.to_string() {
        p if p == "." || p == "?" => String::new(),
        p => p,
    };
    Issue::new(shape_code(&path, &message), path, message)
}

/// The code of a shape error serde words as `message` at `path`: `unknown_field`,
/// `missing_field`, `unknown_type` (an unknown `type`) or `invalid_value`.
pub fn shape_code(path: &str, message: &str) -> &'static str {
    if message.starts_with("unknown field") {
        "unknown_field"
    } else if message.starts_with("missing field") {
        "missing_field"
    } else if message.starts_with("unknown variant") && (path == "type" || path.ends_with(".type")) {
        "unknown_type"
    } else {
        "invalid_value"
    }
}

/// Checks the rules that span fields of one automation. `workspace`, when
/// known, lets template params be checked against the templates it declares.
pub fn check_automation(a: &Automation, workspace: Option<&Workspace>) -> Vec<Issue> {
    let mut issues = Vec::new();
    if a.name.trim().is_empty() {
        issues.push(Issue::new("invalid_value", "name", "name must not be empty"));
    }
    if let Trigger::Date { offset_days, .. } = a.trigger {
        if offset_days.abs() > MAX_OFFSET_DAYS {
            issues.push(Issue::new(
                "invalid_value",
                "trigger.offset_days",
                format!("offset_days must be between -{MAX_OFFSET_DAYS} and {MAX_OFFSET_DAYS}"),
            ));
        }
    }
    if let Trigger::Integration { secret: Some(secret) } = &a.trigger {
        if secret.len() < 8 {
            issues.push(Issue::new("invalid_value", "trigger.secret", "secret must be at least 8 characters"));
        }
    }
    if a.steps.is_empty() {
        issues.push(Issue::new("invalid_value", "steps", "an automation needs at least one step"));
    }
    let mut count = 0;
    crate::domain::automation::visit_steps(&a.steps, &mut |_| count += 1);
    if count > MAX_STEPS {
        issues.push(Issue::new(
            "too_long",
            "steps",
            format!("an automation has at most {MAX_STEPS} steps, branches included ({count} given)"),
        ));
    } else {
        let context = Context { automation: a, workspace };
        check_steps(&a.steps, "steps", 0, &context, &mut issues);
    }
    issues
}

/// What checking a step may need beyond the step.
struct Context<'a> {
    automation: &'a Automation,
    workspace: Option<&'a Workspace>,
}

/// Checks a list of steps at `path` (`steps`, `steps[1].action.otherwise`, …), `depth` flow
/// steps deep: each step's action, and that nothing follows a step that branches.
fn check_steps(steps: &[Step], path: &str, depth: usize, context: &Context<'_>, issues: &mut Vec<Issue>) {
    for (i, step) in steps.iter().enumerate() {
        let step_path = format!("{path}[{i}]");
        if i > 0 && steps[i - 1].action.branches() {
            issues.push(Issue::new(
                "unreachable_step",
                step_path,
                format!(
                    "this step never runs: {path}[{}] is a {} and the run goes on in its branches; move this step into them",
                    i - 1,
                    kind_name(&steps[i - 1].action)
                ),
            ));
            // One report per list: every later step is unreachable for the same reason.
            return;
        }
        let action_path = format!("{step_path}.action");
        check_action(&step.action, &action_path, context.workspace, issues);
        check_flow(&step.action, &action_path, depth, context, issues);
    }
}

fn kind_name(action: &Action) -> String {
    serde_json::to_value(action.kind()).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

/// The rules of flow steps (SPEC §2.3), and the steps of their branches.
fn check_flow(action: &Action, path: &str, depth: usize, context: &Context<'_>, issues: &mut Vec<Issue>) {
    match action {
        Action::WaitForReply { timeout, branches, .. } => {
            if *timeout < MIN_TIMEOUT || *timeout > MAX_TIMEOUT {
                issues.push(Issue::new(
                    "invalid_value",
                    format!("{path}.timeout"),
                    "timeout must be between 1m and 30d",
                ));
            }
            if branches.len() > MAX_BRANCHES {
                issues.push(Issue::new(
                    "invalid_branches",
                    format!("{path}.branches"),
                    format!("wait_for_reply has at most {MAX_BRANCHES} branches, {} given", branches.len()),
                ));
                return;
            }
            let mut seen: Vec<(&Phrase, usize)> = Vec::new();
            for (j, branch) in branches.iter().enumerate() {
                let reply_path = format!("{path}.branches[{j}].reply");
                if branch.reply.is_empty() || branch.reply.len() > MAX_REPLY_VALUES {
                    issues.push(Issue::new(
                        "invalid_value",
                        reply_path.clone(),
                        format!("a branch needs 1 to {MAX_REPLY_VALUES} reply values, {} given", branch.reply.len()),
                    ));
                }
                for (k, value) in branch.reply.iter().enumerate() {
                    match seen.iter().find(|(phrase, other)| *phrase == value.phrase() && *other != j) {
                        Some((_, other)) => issues.push(Issue::new(
                            "duplicate_reply",
                            format!("{reply_path}[{k}]"),
                            format!(
                                "\"{}\" is also a reply of {path}.branches[{other}]: a reply chooses one branch",
                                value.text()
                            ),
                        )),
                        None => seen.push((value.phrase(), j)),
                    }
                }
            }
        }
        Action::Condition { branches, .. } => {
            if branches.is_empty() || branches.len() > MAX_BRANCHES {
                issues.push(Issue::new(
                    "invalid_branches",
                    format!("{path}.branches"),
                    format!("condition needs 1 to {MAX_BRANCHES} branches, {} given", branches.len()),
                ));
                return;
            }
            for (j, branch) in branches.iter().enumerate() {
                check_predicate(&branch.when, &format!("{path}.branches[{j}].if"), issues);
            }
        }
        Action::WaitUntil { time, days, working_hours } => match (time, working_hours) {
            (Some(_), true) => issues.push(Issue::new(
                "invalid_value",
                path,
                "wait_until takes either `time` (with `days`) or `\"working_hours\": true`, not both",
            )),
            (None, false) => issues.push(Issue::new(
                "missing_field",
                path,
                "wait_until needs `time` (with `days`) or `\"working_hours\": true`",
            )),
            (None, true) if days.is_some() => {
                issues.push(Issue::new("invalid_value", format!("{path}.days"), "`days` goes with `time`"))
            }
            _ if days.as_ref().is_some_and(Vec::is_empty) => issues.push(Issue::new(
                "invalid_value",
                format!("{path}.days"),
                "days must name at least one day (leave it out for every day)",
            )),
            _ => {}
        },
        Action::StartAutomation { automation } if context.automation.id.as_ref() == Some(automation) => {
            issues.push(Issue::new("invalid_value", format!("{path}.automation"), "an automation cannot start itself"));
        }
        _ => {}
    }
    let lists = action.branch_lists();
    if lists.is_empty() {
        return;
    }
    if depth + 1 > MAX_NESTING {
        issues.push(Issue::new(
            "too_deep",
            path,
            format!("flow steps nest at most {MAX_NESTING} deep: move these branches into another automation (start_automation)"),
        ));
        return;
    }
    for (branch, steps) in lists {
        let list_path = match branch {
            Branch::Branches(j) => format!("{path}.branches[{j}].steps"),
            other => format!("{path}.{other}"),
        };
        check_steps(steps, &list_path, depth + 1, context, issues);
    }
}

/// `all` and `any` need something to combine.
fn check_predicate(predicate: &Predicate, path: &str, issues: &mut Vec<Issue>) {
    match predicate {
        Predicate::All(list) | Predicate::Any(list) => {
            let key = if matches!(predicate, Predicate::All(_)) { "all" } else { "any" };
            if list.is_empty() {
                issues.push(Issue::new(
                    "invalid_value",
                    format!("{path}.{key}"),
                    format!("`{key}` needs at least one predicate"),
                ));
            }
            for (i, inner) in list.iter().enumerate() {
                check_predicate(inner, &format!("{path}.{key}[{i}]"), issues);
            }
        }
        Predicate::Not(inner) => check_predicate(inner, &format!("{path}.not"), issues),
        _ => {}
    }
}

fn too_long(path: String, what: &str, max: usize) -> Issue {
    Issue::new("too_long", path, format!("{what} must be at most {max} characters"))
}

fn check_action(action: &Action, path: &str, workspace: Option<&Workspace>, issues: &mut Vec<Issue>) {
    match action {
        Action::SendTemplate { template, language, params } => {
            if let Some(known) = workspace.and_then(|ws| ws.template(template, language)) {
                let expected = known.placeholder_count();
                if params.len() != expected {
                    issues.push(Issue::new(
                        "template_params_mismatch",
                        format!("{path}.params"),
                        format!("template `{template}` ({language}) takes {expected} params, {} given", params.len()),
                    ));
                }
            }
        }
        Action::SendText { text } => {
            if text.source().trim().is_empty() {
                issues.push(Issue::new("invalid_value", format!("{path}.text"), "text must not be empty"));
            }
            if text.source().chars().count() > MAX_TEXT_CHARS {
                issues.push(too_long(format!("{path}.text"), "text", MAX_TEXT_CHARS));
            }
        }
        Action::SendButtons { text, buttons } => {
            if text.source().trim().is_empty() {
                issues.push(Issue::new("invalid_value", format!("{path}.text"), "text must not be empty"));
            }
            if text.source().chars().count() > MAX_BUTTON_TEXT_CHARS {
                issues.push(too_long(format!("{path}.text"), "text", MAX_BUTTON_TEXT_CHARS));
            }
            if buttons.is_empty() || buttons.len() > MAX_BUTTONS {
                issues.push(Issue::new(
                    "invalid_buttons",
                    format!("{path}.buttons"),
                    format!("send_buttons needs 1 to {MAX_BUTTONS} buttons, {} given", buttons.len()),
                ));
            }
            for (j, b) in buttons.iter().enumerate() {
                let bpath = format!("{path}.buttons[{j}]");
                if b.id.trim().is_empty() {
                    issues.push(Issue::new("invalid_value", format!("{bpath}.id"), "button id must not be empty"));
                }
                if b.id.chars().count() > MAX_BUTTON_ID_CHARS {
                    issues.push(too_long(format!("{bpath}.id"), "button id", MAX_BUTTON_ID_CHARS));
                }
                if b.title.trim().is_empty() {
                    issues.push(Issue::new(
                        "invalid_value",
                        format!("{bpath}.title"),
                        "button title must not be empty",
                    ));
                }
                if b.title.chars().count() > MAX_BUTTON_TITLE_CHARS {
                    issues.push(too_long(format!("{bpath}.title"), "button title", MAX_BUTTON_TITLE_CHARS));
                }
                if buttons[..j].iter().any(|other| other.title == b.title) {
                    issues.push(Issue::new(
                        "invalid_buttons",
                        format!("{bpath}.title"),
                        format!("button title \"{}\" is used twice", b.title),
                    ));
                }
                if buttons[..j].iter().any(|other| other.id == b.id) {
                    issues.push(Issue::new(
                        "invalid_buttons",
                        format!("{bpath}.id"),
                        format!("button id \"{}\" is used twice", b.id),
                    ));
                }
            }
        }
        Action::SetField { value, from, .. } => match (value, from) {
            (Some(_), None) | (None, Some(SetFieldSource::NextReply)) => {}
            (Some(_), Some(_)) => {
                issues.push(Issue::new("invalid_value", path, "set_field takes either `value` or `from`, not both"))
            }
            (None, None) => {
                issues.push(Issue::new("missing_field", path, "set_field needs `value` or `\"from\": \"next_reply\"`"))
            }
        },
        Action::SendWebhook { url, body } => {
            if let Err(message) = crate::outbound::check_webhook_url(url, crate::outbound::Mode::Local) {
                issues.push(Issue::new("invalid_url", format!("{path}.url"), message));
            }
            if let Some(body) = body {
                check_body_strings(body, &format!("{path}.body"), issues);
            }
        }
        // Flow steps: `check_flow`.
        Action::AddTag { .. }
        | Action::RemoveTag { .. }
        | Action::AddToList { .. }
        | Action::RemoveFromList { .. }
        | Action::BlockContact {}
        | Action::UnblockContact {}
        | Action::AssignOperator { .. }
        | Action::UnassignOperator {}
        | Action::SetConsent { .. }
        | Action::WaitForReply { .. }
        | Action::Condition { .. }
        | Action::WaitUntil { .. }
        | Action::StartAutomation { .. } => {}
    }
}

/// Every string in a webhook body is interpolated at run time; parse them now.
fn check_body_strings(value: &serde_json::Value, path: &str, issues: &mut Vec<Issue>) {
    match value {
        serde_json::Value::String(s) => {
            if let Err(e) = crate::domain::interpolate::Interpolated::parse(s) {
                issues.push(Issue::new("invalid_value", path, e.to_string()));
            }
        }
        serde_json::Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                check_body_strings(item, &format!("{path}[{i}]"), issues);
            }
        }
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                check_body_strings(v, &format!("{path}.{k}"), issues);
            }
        }
        _ => {}
    }
}

/// One automation document of a set being validated together, with where it came from.
#[derive(Debug, Clone)]
pub struct Document {
    pub file: String,
    /// Its index when the file holds an array of automations.
    pub index: Option<usize>,
    pub value: serde_json::Value,
}

/// A problem found in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: String,
    pub issue: Issue,
}

impl fmt::Display for Problem {
    /// `FILE: PATH: message`, as `avvio validate` prints it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = if self.issue.path.is_empty() { "(document)" } else { &self.issue.path };
        write!(f, "{}: {}: {}", self.file, path, self.issue.message)
    }
}

/// Reads an automations file: one JSON document or an array of them.
pub fn read_documents(file: &str, text: &str) -> Result<Vec<Document>, Problem> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| Problem {
        file: file.to_string(),
        issue: Issue::new(
            "invalid_json",
            format!("line {} column {}", e.line(), e.column()),
            format!("malformed JSON: {e}"),
        ),
    })?;
    Ok(match value {
        serde_json::Value::Array(items) => items
            .into_iter()
            .enumerate()
            .map(|(i, value)| Document { file: file.to_string(), index: Some(i), value })
            .collect(),
        value => vec![Document { file: file.to_string(), index: None, value }],
    })
}

/// Validates a set of documents together, as `avvio validate` and `simulate` do:
/// each one alone, then their conflicts (same phrase, two fallbacks, same id).
/// Returns the catalog when every document is valid, else every problem.
pub fn check_set(documents: Vec<Document>, workspace: Option<&Workspace>) -> Result<Catalog, Vec<Problem>> {
    let mut problems = Vec::new();
    let mut catalog = Catalog::default();
    for doc in documents {
        let prefix = doc.index.map(|i| format!("[{i}]")).unwrap_or_default();
        let mut report = |issue: Issue| {
            let path = match (prefix.is_empty(), issue.path.is_empty()) {
                (true, _) => issue.path,
                (false, true) => prefix.clone(),
                (false, false) => format!("{prefix}.{}", issue.path),
            };
            problems.push(Problem { file: doc.file.clone(), issue: Issue { path, ..issue } });
        };
        let automation = match parse_automation(doc.value) {
            Ok(a) => a,
            Err(issue) => {
                report(issue);
                continue;
            }
        };
        let mut issues = check_automation(&automation, workspace);
        if automation.id.is_none() {
            issues.insert(0, Issue::new("missing_field", "id", "automations in files and simulations need an `id`"));
        }
        if issues.is_empty() {
            if let Err(conflict) = catalog.create(automation) {
                issues.push(Issue::new(conflict.code(), conflict.path(), conflict.to_string()));
            }
        }
        issues.into_iter().for_each(&mut report);
    }
    if problems.is_empty() { Ok(catalog) } else { Err(problems) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn issues_of(doc: serde_json::Value) -> Vec<Issue> {
        match parse_automation(doc) {
            Ok(a) => check_automation(&a, None),
            Err(issue) => vec![issue],
        }
    }

    fn with_action(action: serde_json::Value) -> serde_json::Value {
        json!({ "id": "a", "name": "A", "trigger": { "type": "integration" },
                "steps": [ { "after": "0s", "action": { "type": "add_tag", "tag": "x" } },
                           { "after": "0s", "action": action } ] })
    }

    #[test]
    fn too_many_buttons_are_reported_at_the_buttons_path() {
        let buttons: Vec<_> = (0..4).map(|i| json!({ "id": format!("b{i}"), "title": format!("B{i}") })).collect();
        let issues = issues_of(with_action(json!({ "type": "send_buttons", "text": "Scegli", "buttons": buttons })));
        assert_eq!(issues.len(), 1);
        assert_eq!(issues[0].path, "steps[1].action.buttons");
        assert_eq!(issues[0].code, "invalid_buttons");
    }

    #[test]
    fn a_long_or_repeated_button_title_is_named_by_index() {
        let issues = issues_of(with_action(json!({ "type": "send_buttons", "text": "Scegli", "buttons": [
            { "id": "1", "title": "Un titolo davvero troppo lungo" }, { "id": "2", "title": "Sì" }, { "id": "3", "title": "Sì" } ] })));
        let paths: Vec<_> = issues.iter().map(|i| i.path.as_str()).collect();
        assert_eq!(paths, ["steps[1].action.buttons[0].title", "steps[1].action.buttons[2].title"]);
    }

    #[test]
    fn an_unknown_action_type_names_the_step() {
        let issue = &issues_of(with_action(json!({ "type": "send_fax", "text": "x" })))[0];
        assert_eq!((issue.code, issue.path.as_str()), ("unknown_type", "steps[1].action.type"));
        assert!(issue.message.contains("send_fax"), "{}", issue.message);
    }

    #[test]
    fn a_misspelt_field_is_an_unknown_field_not_silently_ignored() {
        let issue = &issues_of(with_action(json!({ "type": "add_tag", "tga": "x" })))[0];
        assert_eq!(issue.code, "unknown_field");
        assert_eq!(issue.path, "steps[1].action.tga");
    }

    #[test]
    fn an_action_whose_type_comes_last_is_read_and_its_errors_named_at_the_action() {
        let doc = with_action(json!({ "tag": "x", "type": "add_tag" }));
        assert!(issues_of(doc).is_empty());
        let issue = &issues_of(with_action(json!({ "tga": "x", "type": "add_tag" })))[0];
        assert_eq!((issue.code, issue.path.as_str()), ("unknown_field", "steps[1].action"));
        let issue = &issues_of(with_action(json!({ "tag": "x" })))[0];
        assert_eq!((issue.code, issue.path.as_str()), ("missing_field", "steps[1].action"));
    }

    #[test]
    fn a_bad_duration_is_reported_at_its_after() {
        let mut doc = with_action(json!({ "type": "add_tag", "tag": "y" }));
        doc["steps"][1]["after"] = json!("10 minutes");
        let issue = &issues_of(doc)[0];
        assert_eq!((issue.code, issue.path.as_str()), ("invalid_value", "steps[1].after"));
    }

    #[test]
    fn template_params_must_match_a_known_template() {
        let ws: Workspace = serde_json::from_value(json!({ "timezone": "Europe/Rome", "templates": [
            { "name": "welcome", "language": "it", "status": "approved", "body": "Ciao {{1}}" } ] }))
        .unwrap();
        let a = parse_automation(with_action(
            json!({ "type": "send_template", "template": "welcome", "language": "it", "params": [] }),
        ))
        .unwrap();
        let issues = check_automation(&a, Some(&ws));
        assert_eq!(issues[0].code, "template_params_mismatch");
        assert_eq!(issues[0].path, "steps[1].action.params");
    }

    #[test]
    fn set_field_needs_exactly_one_source() {
        let issues = issues_of(with_action(json!({ "type": "set_field", "field": "city" })));
        assert_eq!(issues[0].path, "steps[1].action");
        let issues = issues_of(with_action(
            json!({ "type": "set_field", "field": "city", "value": "Roma", "from": "next_reply" }),
        ));
        assert_eq!(issues[0].code, "invalid_value");
    }

    fn wait(extra: serde_json::Value) -> serde_json::Value {
        let mut wait = json!({ "type": "wait_for_reply", "timeout": "1h",
            "branches": [ { "reply": ["si"], "steps": [ { "after": "0s", "action": { "type": "add_tag", "tag": "si" } } ] } ] });
        wait.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        wait
    }

    fn codes_and_paths(issues: &[Issue]) -> Vec<(&'static str, &str)> {
        issues.iter().map(|i| (i.code, i.path.as_str())).collect()
    }

    #[test]
    fn a_step_after_a_branching_step_is_unreachable() {
        let mut doc = with_action(wait(json!({})));
        doc["steps"]
            .as_array_mut()
            .unwrap()
            .push(json!({ "after": "0s", "action": { "type": "add_tag", "tag": "x" } }));
        doc["steps"]
            .as_array_mut()
            .unwrap()
            .push(json!({ "after": "0s", "action": { "type": "add_tag", "tag": "y" } }));
        assert_eq!(codes_and_paths(&issues_of(doc)), [("unreachable_step", "steps[2]")]);
    }

    #[test]
    fn an_error_deep_in_a_branch_names_its_full_path() {
        let inner = json!({ "type": "condition", "branches": [ { "if": { "has_tag": "vip" }, "steps": [
            { "after": "0s", "action": { "type": "send_text", "text": " " } } ] } ] });
        let doc = with_action(wait(json!({ "otherwise": [ { "after": "0s", "action": inner } ] })));
        assert_eq!(
            codes_and_paths(&issues_of(doc)),
            [("invalid_value", "steps[1].action.otherwise[0].action.branches[0].steps[0].action.text")]
        );
    }

    #[test]
    fn a_shape_error_deep_in_a_branch_names_its_full_path() {
        let doc = with_action(wait(
            json!({ "on_timeout": [ { "after": "soon", "action": { "type": "add_tag", "tag": "x" } } ] }),
        ));
        assert_eq!(codes_and_paths(&issues_of(doc)), [("invalid_value", "steps[1].action.on_timeout[0].after")]);
    }

    #[test]
    fn wait_limits_are_checked() {
        let short = issues_of(with_action(wait(json!({ "timeout": "30s" }))));
        assert_eq!(codes_and_paths(&short), [("invalid_value", "steps[1].action.timeout")]);
        let long = issues_of(with_action(wait(json!({ "timeout": "31d" }))));
        assert_eq!(codes_and_paths(&long), [("invalid_value", "steps[1].action.timeout")]);
        let branch = |i: usize| json!({ "reply": [format!("r{i}")], "steps": [] });
        let many = issues_of(with_action(wait(json!({ "branches": (0..11).map(branch).collect::<Vec<_>>() }))));
        assert_eq!(codes_and_paths(&many), [("invalid_branches", "steps[1].action.branches")]);
        let values: Vec<_> = (0..21).map(|i| format!("v{i}")).collect();
        let wordy = issues_of(with_action(wait(json!({ "branches": [ { "reply": values, "steps": [] } ] }))));
        assert_eq!(codes_and_paths(&wordy), [("invalid_value", "steps[1].action.branches[0].reply")]);
        let none = issues_of(with_action(wait(json!({ "branches": [ { "reply": [], "steps": [] } ] }))));
        assert_eq!(codes_and_paths(&none), [("invalid_value", "steps[1].action.branches[0].reply")]);
    }

    #[test]
    fn a_reply_in_two_branches_of_one_wait_is_refused_after_normalisation() {
        let doc = with_action(wait(json!({ "branches": [
            { "reply": ["Sì", "Certo"], "steps": [] }, { "reply": ["no", "  CERTO "], "steps": [] } ] })));
        let issues = issues_of(doc);
        assert_eq!(codes_and_paths(&issues), [("duplicate_reply", "steps[1].action.branches[1].reply[1]")]);
        assert!(issues[0].message.contains("branches[0]"), "{}", issues[0].message);
    }

    #[test]
    fn predicates_take_one_key_and_field_takes_equals_or_exists() {
        let condition = |when: serde_json::Value| {
            with_action(json!({ "type": "condition", "branches": [ { "if": when, "steps": [] } ] }))
        };
        for (when, path) in [
            (json!({ "has_tag": "vip", "in_list": "clienti" }), "steps[1].action.branches[0].if"),
            (json!({ "field": "city" }), "steps[1].action.branches[0].if"),
            (json!({ "equals": "Milano" }), "steps[1].action.branches[0].if"),
            (json!({}), "steps[1].action.branches[0].if"),
            (
                json!({ "all": [ { "not": { "field": "city", "equals": "x", "exists": true } } ] }),
                "steps[1].action.branches[0].if.all[0].not",
            ),
        ] {
            let issues = issues_of(condition(when.clone()));
            assert_eq!(codes_and_paths(&issues), [("invalid_value", path)], "{when}");
        }
        let unknown = issues_of(condition(json!({ "has_tags": "vip" })));
        assert_eq!(codes_and_paths(&unknown), [("unknown_field", "steps[1].action.branches[0].if.has_tags")]);
        let empty = issues_of(condition(json!({ "any": [] })));
        assert_eq!(codes_and_paths(&empty), [("invalid_value", "steps[1].action.branches[0].if.any")]);
        let none = issues_of(with_action(json!({ "type": "condition", "branches": [] })));
        assert_eq!(codes_and_paths(&none), [("invalid_branches", "steps[1].action.branches")]);
    }

    #[test]
    fn predicates_read_back_as_written() {
        let written = json!({ "all": [ { "field": "city", "equals": "Milano" }, { "not": { "has_operator": true } },
                                        { "any": [ { "marketing": "opted_in" }, { "working_hours": false } ] } ] });
        let predicate: crate::domain::automation::Predicate = serde_json::from_value(written.clone()).unwrap();
        assert_eq!(serde_json::to_value(&predicate).unwrap(), written);
    }

    #[test]
    fn wait_until_takes_a_time_or_working_hours() {
        let both = issues_of(with_action(json!({ "type": "wait_until", "time": "09:00", "working_hours": true })));
        assert_eq!(codes_and_paths(&both), [("invalid_value", "steps[1].action")]);
        let neither = issues_of(with_action(json!({ "type": "wait_until" })));
        assert_eq!(codes_and_paths(&neither), [("missing_field", "steps[1].action")]);
        let no_days = issues_of(with_action(json!({ "type": "wait_until", "time": "09:00", "days": [] })));
        assert_eq!(codes_and_paths(&no_days), [("invalid_value", "steps[1].action.days")]);
        let bad_day = issues_of(with_action(json!({ "type": "wait_until", "time": "09:00", "days": ["lun"] })));
        assert_eq!(codes_and_paths(&bad_day), [("invalid_value", "steps[1].action.days[0]")]);
        assert!(
            issues_of(with_action(json!({ "type": "wait_until", "time": "09:00", "days": ["mon", "fri"] }))).is_empty()
        );
    }

    #[test]
    fn an_automation_cannot_start_itself() {
        let issues = issues_of(with_action(json!({ "type": "start_automation", "automation": "a" })));
        assert_eq!(codes_and_paths(&issues), [("invalid_value", "steps[1].action.automation")]);
        assert!(issues_of(with_action(json!({ "type": "start_automation", "automation": "b" }))).is_empty());
    }

    #[test]
    fn flow_steps_nest_at_most_eight_deep() {
        let nest = |levels: usize| {
            let mut steps = json!([ { "after": "0s", "action": { "type": "add_tag", "tag": "fondo" } } ]);
            for _ in 0..levels {
                steps = json!([ { "after": "0s", "action": { "type": "condition",
                    "branches": [ { "if": { "has_tag": "x" }, "steps": steps } ] } } ]);
            }
            json!({ "id": "a", "name": "A", "trigger": { "type": "integration" }, "steps": steps })
        };
        assert!(issues_of(nest(8)).is_empty());
        let deep = issues_of(nest(9));
        let path = format!("steps[0]{}.action", ".action.branches[0].steps[0]".repeat(8));
        assert_eq!(codes_and_paths(&deep), [("too_deep", path.as_str())]);
    }

    #[test]
    fn steps_are_counted_in_all_branches() {
        let tags: Vec<_> = (0..100)
            .map(|i| json!({ "after": "0s", "action": { "type": "add_tag", "tag": format!("t{i}") } }))
            .collect();
        let doc = |otherwise: &[serde_json::Value]| {
            json!({ "id": "a", "name": "A", "trigger": { "type": "integration" },
            "steps": [ { "after": "0s", "action": { "type": "condition",
                "branches": [ { "if": { "has_tag": "x" }, "steps": tags } ], "otherwise": otherwise } } ] })
        };
        assert!(issues_of(doc(&tags[..99])).is_empty(), "200 steps in all are allowed");
        assert_eq!(codes_and_paths(&issues_of(doc(&tags))), [("too_long", "steps")]);
    }

    #[test]
    fn phrases_equal_after_normalisation_conflict_across_files() {
        let doc = |id: &str, phrase: &str| Document {
            file: format!("{id}.json"),
            index: None,
            value: json!({ "id": id, "name": id, "trigger": { "type": "customer_message", "phrase": phrase },
                          "steps": [ { "after": "0s", "action": { "type": "add_tag", "tag": "x" } } ] }),
        };
        let problems =
            check_set(vec![doc("a", "Vorrei informazioni"), doc("b", "  vorrei  INFORMAZIONI ")], None).unwrap_err();
        assert_eq!(problems.len(), 1);
        assert_eq!(
            problems[0].to_string(),
            "b.json: trigger.phrase: the phrase \"vorrei informazioni\" already starts automation `a`"
        );
        assert_eq!(problems[0].issue.code, "phrase_conflict");
    }

    #[test]
    fn two_enabled_holiday_automations_conflict_but_a_disabled_one_does_not() {
        let doc = |id: &str, enabled: bool| Document {
            file: "all.json".to_string(),
            index: Some(usize::from(id == "b")),
            value: json!({ "id": id, "name": id, "enabled": enabled, "trigger": { "type": "holiday" },
                          "steps": [ { "after": "0s", "action": { "type": "add_tag", "tag": "x" } } ] }),
        };
        assert!(check_set(vec![doc("a", true), doc("b", false)], None).is_ok());
        let problems = check_set(vec![doc("a", true), doc("b", true)], None).unwrap_err();
        assert_eq!(problems[0].issue.code, "fallback_conflict");
        assert_eq!(problems[0].issue.path, "[1].trigger.type");
    }
}
