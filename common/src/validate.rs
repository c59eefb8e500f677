//! Reading automation documents and checking every rule of SPEC §2 that can be
//! checked before a run: each problem comes with the JSON path it is at
//! (`steps[2].action.buttons`) and an error code.

use crate::catalog::Catalog;
use crate::domain::automation::{Action, Automation, Predicate, SetFieldSource, Step, Trigger};
use crate::domain::duration::Duration;
use crate::domain::interpolate::Interpolated;
use crate::domain::path::{Branch, MAX_BRANCHES, MAX_NESTING};
use crate::domain::phrase::Phrase;
use crate::domain::send::{ButtonParam, HeaderParam, ListSection, MediaKind, TemplateParams};
use crate::domain::workspace::{
    HeaderFormat, ParameterFormat, Template, TemplateButtonKind, WhatsAppAccount, Workspace, placeholders,
};
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
/// Meta's limits on media, list and call-to-action messages (SPEC §2.5).
pub const MAX_CAPTION_CHARS: usize = 1024;
pub const MAX_LIST_BUTTON_CHARS: usize = 20;
pub const MAX_LIST_SECTIONS: usize = 10;
pub const MAX_LIST_ROWS: usize = 10;
pub const MAX_SECTION_TITLE_CHARS: usize = 24;
pub const MAX_ROW_ID_CHARS: usize = 200;
pub const MAX_ROW_TITLE_CHARS: usize = 24;
pub const MAX_ROW_DESCRIPTION_CHARS: usize = 72;
pub const MAX_DISPLAY_TEXT_CHARS: usize = 20;
/// Meta's limits on a template document.
pub const MAX_TEMPLATE_BODY_CHARS: usize = 1024;
pub const MAX_TEMPLATE_HEADER_CHARS: usize = 60;
pub const MAX_TEMPLATE_BUTTONS: usize = 10;
pub const MAX_TEMPLATE_QUICK_REPLIES: usize = 3;
pub const MAX_TEMPLATE_BUTTON_TEXT_CHARS: usize = 25;

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
        if secret.chars().count() < 8 {
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
        Action::SendTemplate { template, language, header, params, buttons } => {
            if let Some(header) = header {
                check_header_param(header, &format!("{path}.header"), issues);
            }
            for (j, button) in buttons.iter().enumerate() {
                if usize::from(button.index()) >= MAX_TEMPLATE_BUTTONS {
                    issues.push(Issue::new(
                        "invalid_value",
                        format!("{path}.buttons[{j}].index"),
                        format!(
                            "a template has at most {MAX_TEMPLATE_BUTTONS} buttons: index is 0 to {}, not {}",
                            MAX_TEMPLATE_BUTTONS - 1,
                            button.index()
                        ),
                    ));
                }
                if buttons[..j].iter().any(|other| other.index() == button.index()) {
                    issues.push(Issue::new(
                        "invalid_buttons",
                        format!("{path}.buttons[{j}].index"),
                        format!("button {} is given twice", button.index()),
                    ));
                }
            }
            if let Some(known) = workspace.and_then(|ws| ws.template(template, language)) {
                issues.extend(check_template_send(known, header.as_ref(), params, buttons, path));
            }
        }
        Action::SendMedia { media, link, caption, filename } => {
            check_https(link, &format!("{path}.link"), issues);
            match (media, caption) {
                (MediaKind::Audio, Some(_)) => issues.push(Issue::new(
                    "invalid_value",
                    format!("{path}.caption"),
                    "an audio message has no caption",
                )),
                (_, Some(caption)) if caption.source().chars().count() > MAX_CAPTION_CHARS => {
                    issues.push(too_long(format!("{path}.caption"), "caption", MAX_CAPTION_CHARS))
                }
                _ => {}
            }
            if filename.is_some() && *media != MediaKind::Document {
                issues.push(Issue::new("invalid_value", format!("{path}.filename"), "only a document has a filename"));
            }
        }
        Action::SendList { text, button, sections } => {
            check_message_text(text, path, issues);
            check_title(button, &format!("{path}.button"), "button", MAX_LIST_BUTTON_CHARS, issues);
            check_sections(sections, &format!("{path}.sections"), issues);
        }
        Action::SendCtaUrl { text, display_text, url } => {
            check_message_text(text, path, issues);
            check_title(display_text, &format!("{path}.display_text"), "display_text", MAX_DISPLAY_TEXT_CHARS, issues);
            check_https(url, &format!("{path}.url"), issues);
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

/// A link Meta fetches: https, with a host before any variable (`https://shop.it/{{fields.order}}.pdf`).
fn check_https(link: &Interpolated, path: &str, issues: &mut Vec<Issue>) {
    let host = link.source().strip_prefix("https://").and_then(|rest| rest.split(['/', '{', '?']).next());
    if host.is_none_or(str::is_empty) {
        issues.push(Issue::new(
            "invalid_url",
            path,
            format!("`{}` is not an https link: write it as https://host/…", link.source()),
        ));
    }
}

/// The body text of an interactive message: not empty, at most 1024 characters.
fn check_message_text(text: &Interpolated, path: &str, issues: &mut Vec<Issue>) {
    if text.source().trim().is_empty() {
        issues.push(Issue::new("invalid_value", format!("{path}.text"), "text must not be empty"));
    }
    if text.source().chars().count() > MAX_BUTTON_TEXT_CHARS {
        issues.push(too_long(format!("{path}.text"), "text", MAX_BUTTON_TEXT_CHARS));
    }
}

/// A short label (a button, a row title): not empty, at most `max` characters.
fn check_title(title: &str, path: &str, what: &str, max: usize, issues: &mut Vec<Issue>) {
    if title.trim().is_empty() {
        issues.push(Issue::new("invalid_value", path, format!("{what} must not be empty")));
    } else if title.chars().count() > max {
        issues.push(too_long(path.to_string(), what, max));
    }
}

/// A list message's sections: 1–10, 1–10 rows in all with unique ids, titles when there are
/// several sections (Meta's rules).
fn check_sections(sections: &[ListSection], path: &str, issues: &mut Vec<Issue>) {
    if sections.is_empty() || sections.len() > MAX_LIST_SECTIONS {
        issues.push(Issue::new(
            "invalid_sections",
            path,
            format!("send_list needs 1 to {MAX_LIST_SECTIONS} sections, {} given", sections.len()),
        ));
        return;
    }
    let rows: usize = sections.iter().map(|s| s.rows.len()).sum();
    if rows == 0 || rows > MAX_LIST_ROWS {
        issues.push(Issue::new(
            "invalid_sections",
            path,
            format!("a list has 1 to {MAX_LIST_ROWS} rows in all its sections, {rows} given"),
        ));
    }
    let mut ids: Vec<&str> = Vec::new();
    for (i, section) in sections.iter().enumerate() {
        let section_path = format!("{path}[{i}]");
        match &section.title {
            Some(title) => {
                check_title(title, &format!("{section_path}.title"), "section title", MAX_SECTION_TITLE_CHARS, issues)
            }
            None if sections.len() > 1 => issues.push(Issue::new(
                "missing_field",
                format!("{section_path}.title"),
                "a list with several sections needs a title on each",
            )),
            None => {}
        }
        if section.rows.is_empty() {
            issues.push(Issue::new("invalid_sections", format!("{section_path}.rows"), "a section needs rows"));
        }
        for (j, row) in section.rows.iter().enumerate() {
            let row_path = format!("{section_path}.rows[{j}]");
            check_title(&row.id, &format!("{row_path}.id"), "row id", MAX_ROW_ID_CHARS, issues);
            check_title(&row.title, &format!("{row_path}.title"), "row title", MAX_ROW_TITLE_CHARS, issues);
            if let Some(description) = &row.description {
                if description.chars().count() > MAX_ROW_DESCRIPTION_CHARS {
                    issues.push(too_long(format!("{row_path}.description"), "description", MAX_ROW_DESCRIPTION_CHARS));
                }
            }
            if ids.contains(&row.id.as_str()) {
                issues.push(Issue::new(
                    "invalid_sections",
                    format!("{row_path}.id"),
                    format!("row id \"{}\" is used twice", row.id),
                ));
            }
            ids.push(&row.id);
        }
    }
}

/// A template send's header on its own: media by https link, a location on Earth.
fn check_header_param(header: &HeaderParam, path: &str, issues: &mut Vec<Issue>) {
    if let Some(link) = header.link() {
        check_https(link, &format!("{path}.link"), issues);
    }
    if let HeaderParam::Location { latitude, longitude, .. } = header {
        if !(-90.0..=90.0).contains(latitude) {
            issues.push(Issue::new("invalid_value", format!("{path}.latitude"), "latitude is between -90 and 90"));
        }
        if !(-180.0..=180.0).contains(longitude) {
            issues.push(Issue::new("invalid_value", format!("{path}.longitude"), "longitude is between -180 and 180"));
        }
    }
}

fn mismatch(path: String, message: String) -> Issue {
    Issue::new("template_params_mismatch", path, message)
}

/// Whether a template button takes a parameter at send time, and must be given one: a URL
/// ending in a variable (its suffix) and a copy-code button (its code) must; a quick reply
/// may (its payload); a phone number button takes none.
fn button_param_need(button: &crate::domain::workspace::TemplateButton) -> Option<bool> {
    match button.kind {
        TemplateButtonKind::Url => {
            button.url.as_deref().is_some_and(|url| !placeholders(url).is_empty()).then_some(true)
        }
        TemplateButtonKind::CopyCode => Some(true),
        TemplateButtonKind::QuickReply => Some(false),
        TemplateButtonKind::PhoneNumber => None,
    }
}

/// Checks a `send_template` against the template it names (SPEC §2.5): params in the
/// template's `parameter_format`, the header its header format needs, a parameter for each
/// button that needs one and none for a button that takes none. Used at save time and,
/// with the same rules, when the step runs (`template_params_mismatch`).
pub fn check_template_send(
    template: &Template,
    header: Option<&HeaderParam>,
    params: &TemplateParams,
    buttons: &[ButtonParam],
    path: &str,
) -> Vec<Issue> {
    let mut issues = Vec::new();
    let name = format!("template `{}` ({})", template.name, template.language);
    match (template.parameter_format, params) {
        (ParameterFormat::Positional, TemplateParams::Positional(list)) => {
            let expected = template.placeholder_count();
            if list.len() != expected {
                issues.push(mismatch(
                    format!("{path}.params"),
                    format!("{name} takes {expected} params, {} given", list.len()),
                ));
            }
        }
        (ParameterFormat::Positional, TemplateParams::Named(list)) => {
            if !(list.is_empty() && template.placeholder_count() == 0) {
                issues.push(mismatch(
                    format!("{path}.params"),
                    format!(
                        "{name} has positional params ({{{{1}}}}, {{{{2}}}}…): give them as a list of {}, not by name",
                        template.placeholder_count()
                    ),
                ));
            }
        }
        (ParameterFormat::Named, TemplateParams::Positional(list)) => {
            let names = template.parameter_names();
            if !(list.is_empty() && names.is_empty()) {
                issues.push(mismatch(
                    format!("{path}.params"),
                    format!("{name} has named params: give them as an object with {}", names.join(", ")),
                ));
            }
        }
        (ParameterFormat::Named, TemplateParams::Named(list)) => {
            let names = template.parameter_names();
            for param in list {
                if !names.contains(&param.name) {
                    issues.push(mismatch(
                        format!("{path}.params.{}", param.name),
                        format!("{name} has no param `{}` (it has: {})", param.name, names.join(", ")),
                    ));
                }
            }
            for missing in names.iter().filter(|n| !list.iter().any(|p| &p.name == *n)) {
                issues
                    .push(mismatch(format!("{path}.params.{missing}"), format!("{name} needs the param `{missing}`")));
            }
        }
    }
    let header_path = format!("{path}.header");
    match (&template.header, header) {
        (None, None) => {}
        (None, Some(_)) => issues.push(mismatch(header_path, format!("{name} has no header: leave `header` out"))),
        (Some(expected), given) => {
            let variable = expected.format != HeaderFormat::Text
                || expected.text.as_deref().is_some_and(|text| !placeholders(text).is_empty());
            let format = serde_json::to_value(expected.format).ok().and_then(|v| v.as_str().map(str::to_string));
            let format = format.unwrap_or_default();
            match given {
                None if variable => issues.push(mismatch(
                    header_path,
                    format!("{name} has a {format} header: give `header` with \"type\": \"{format}\""),
                )),
                Some(_) if !variable => {
                    issues.push(mismatch(header_path, format!("{name} has a fixed text header: leave `header` out")))
                }
                Some(given) if given.format() != expected.format => issues.push(mismatch(
                    header_path,
                    format!("{name} has a {format} header: give `header` with \"type\": \"{format}\""),
                )),
                _ => {}
            }
        }
    }
    for (j, button) in buttons.iter().enumerate() {
        let button_path = format!("{path}.buttons[{j}]");
        let index = usize::from(button.index());
        match template.buttons.get(index) {
            None => issues.push(mismatch(
                button_path,
                format!("{name} has {} buttons: there is no button {index}", template.buttons.len()),
            )),
            Some(expected) if expected.kind != button.kind() => {
                let kind = serde_json::to_value(expected.kind).ok().and_then(|v| v.as_str().map(str::to_string));
                issues.push(mismatch(
                    button_path,
                    format!("button {index} of {name} is a {} button", kind.unwrap_or_default()),
                ))
            }
            Some(expected) if button_param_need(expected).is_none() => issues.push(mismatch(
                button_path,
                format!("button {index} of {name} (\"{}\") takes no parameter", expected.text),
            )),
            _ => {}
        }
    }
    for (index, expected) in template.buttons.iter().enumerate() {
        let given = buttons.iter().any(|b| usize::from(b.index()) == index);
        if button_param_need(expected) == Some(true) && !given {
            let what = if expected.kind == TemplateButtonKind::Url {
                "\"type\": \"url\" and the `text` its link ends with"
            } else {
                "\"type\": \"copy_code\" and its `code`"
            };
            issues.push(mismatch(
                format!("{path}.buttons"),
                format!(
                    "button {index} of {name} (\"{}\") needs a parameter: give {{\"index\": {index}, {what}}}",
                    expected.text
                ),
            ));
        }
    }
    issues
}

/// Checks a template document against what Meta would refuse (paths relative to the
/// template): an empty or over-long body, placeholders not in its `parameter_format`, a
/// header text missing or misplaced, more than 10 buttons or 3 quick replies, a button text
/// empty or over 25 characters, a URL button without an https `url`.
pub fn validate_template(template: &Template) -> Vec<Issue> {
    let mut issues = Vec::new();
    if template.body.trim().is_empty() {
        issues.push(Issue::new("invalid_value", "body", "body must not be empty"));
    } else if template.body.chars().count() > MAX_TEMPLATE_BODY_CHARS {
        issues.push(too_long("body".into(), "body", MAX_TEMPLATE_BODY_CHARS));
    }
    let header_text = template.header.as_ref().and_then(|h| h.text.as_deref());
    for (text, path) in [(Some(template.body.as_str()), "body"), (header_text, "header.text")] {
        let Some(text) = text else { continue };
        let bad = placeholders(text).into_iter().find(|p| match template.parameter_format {
            ParameterFormat::Positional => p.parse::<usize>().map_or(true, |n| n == 0),
            ParameterFormat::Named => !p.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
        });
        if let Some(bad) = bad {
            let rule = match template.parameter_format {
                ParameterFormat::Positional => "a positional template numbers its placeholders {{1}}, {{2}}…",
                ParameterFormat::Named => "a named placeholder is written with a-z, 0-9 and _ only",
            };
            issues.push(Issue::new("invalid_value", path, format!("`{{{{{bad}}}}}`: {rule}")));
        }
    }
    if let Some(header) = &template.header {
        match (header.format, &header.text) {
            (HeaderFormat::Text, None) => {
                issues.push(Issue::new("missing_field", "header.text", "a text header needs its `text`"))
            }
            (HeaderFormat::Text, Some(text)) => {
                if text.trim().is_empty() {
                    issues.push(Issue::new("invalid_value", "header.text", "header text must not be empty"));
                } else if text.chars().count() > MAX_TEMPLATE_HEADER_CHARS {
                    issues.push(too_long("header.text".into(), "header text", MAX_TEMPLATE_HEADER_CHARS));
                }
                if placeholders(text).len() > 1 {
                    issues.push(Issue::new(
                        "invalid_value",
                        "header.text",
                        "a header text has at most one placeholder",
                    ));
                }
            }
            (_, Some(_)) => issues.push(Issue::new("invalid_value", "header.text", "only a text header has a `text`")),
            (_, None) => {}
        }
    }
    if template.buttons.len() > MAX_TEMPLATE_BUTTONS {
        issues.push(Issue::new(
            "invalid_buttons",
            "buttons",
            format!("a template has at most {MAX_TEMPLATE_BUTTONS} buttons, {} given", template.buttons.len()),
        ));
    }
    let quick_replies = template.buttons.iter().filter(|b| b.kind == TemplateButtonKind::QuickReply).count();
    if quick_replies > MAX_TEMPLATE_QUICK_REPLIES {
        issues.push(Issue::new(
            "invalid_buttons",
            "buttons",
            format!("a template has at most {MAX_TEMPLATE_QUICK_REPLIES} quick replies, {quick_replies} given"),
        ));
    }
    for (i, button) in template.buttons.iter().enumerate() {
        let path = format!("buttons[{i}]");
        check_title(&button.text, &format!("{path}.text"), "button text", MAX_TEMPLATE_BUTTON_TEXT_CHARS, &mut issues);
        match (button.kind, &button.url) {
            (TemplateButtonKind::Url, None) => {
                issues.push(Issue::new("missing_field", format!("{path}.url"), "a url button needs its `url`"))
            }
            (TemplateButtonKind::Url, Some(url)) => {
                let host = url.strip_prefix("https://").and_then(|rest| rest.split(['/', '{', '?']).next());
                if host.is_none_or(str::is_empty) {
                    issues.push(Issue::new(
                        "invalid_url",
                        format!("{path}.url"),
                        format!("`{url}` is not an https link: write it as https://host/…"),
                    ));
                }
                let variables = placeholders(url);
                if !(variables.is_empty() || (variables == ["1"] && url.trim_end().ends_with("{{1}}"))) {
                    issues.push(Issue::new(
                        "invalid_url",
                        format!("{path}.url"),
                        "a url button's link may only end with one variable, {{1}}",
                    ));
                }
            }
            (_, Some(_)) => {
                issues.push(Issue::new("invalid_value", format!("{path}.url"), "only a url button has a `url`"))
            }
            (_, None) => {}
        }
        match (button.kind, &button.phone_number) {
            (TemplateButtonKind::PhoneNumber, None) => issues.push(Issue::new(
                "missing_field",
                format!("{path}.phone_number"),
                "a phone_number button needs its `phone_number`",
            )),
            (TemplateButtonKind::PhoneNumber, Some(_)) | (_, None) => {}
            (_, Some(_)) => issues.push(Issue::new(
                "invalid_value",
                format!("{path}.phone_number"),
                "only a phone_number button has a `phone_number`",
            )),
        }
    }
    issues
}

/// Checks a workspace's WhatsApp account (paths from the document: `whatsapp.waba_id`): the
/// Business Account a sync reads is named by its Graph API id, digits only.
pub fn validate_account(account: &WhatsAppAccount) -> Vec<Issue> {
    let mut issues = Vec::new();
    if let Some(waba_id) = &account.waba_id {
        if waba_id.is_empty() || !waba_id.bytes().all(|b| b.is_ascii_digit()) {
            issues.push(Issue::new(
                "invalid_value",
                "whatsapp.waba_id",
                format!(
                    "`{waba_id}` is not a WhatsApp Business Account id: write its digits, as WhatsApp Manager shows them (or leave waba_id out)"
                ),
            ));
        }
    }
    issues
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
    use crate::domain::workspace::Template;
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

    fn rich_workspace() -> Workspace {
        serde_json::from_value(json!({ "timezone": "Europe/Rome", "templates": [
            { "name": "welcome", "language": "it", "status": "approved", "body": "Ciao {{1}}" },
            { "name": "promo_natale", "language": "it", "status": "approved", "parameter_format": "named",
              "body": "Ciao {{first_name}}, per te il {{sconto}} di sconto!", "header": { "format": "image" },
              "buttons": [ { "type": "url", "text": "Scopri", "url": "https://shop.example.com/{{1}}" },
                           { "type": "quick_reply", "text": "Non mi interessa" },
                           { "type": "copy_code", "text": "Copia il codice" },
                           { "type": "phone_number", "text": "Chiamaci", "phone_number": "+390212345678" } ] },
            { "name": "spedito", "language": "it", "status": "approved",
              "body": "Ciao {{1}}", "header": { "format": "text", "text": "Ordine {{1}}" } },
            { "name": "fisso", "language": "it", "status": "approved",
              "body": "Grazie!", "header": { "format": "text", "text": "Ciao" } },
            { "name": "ritiro", "language": "it", "status": "approved", "body": "Ti aspettiamo",
              "header": { "format": "location" } } ] }))
        .unwrap()
    }

    fn send_issues(send: serde_json::Value) -> Vec<Issue> {
        let mut action = json!({ "type": "send_template", "language": "it" });
        action.as_object_mut().unwrap().extend(send.as_object().unwrap().clone());
        match parse_automation(with_action(action)) {
            Ok(a) => check_automation(&a, Some(&rich_workspace())),
            Err(issue) => vec![issue],
        }
    }

    fn promo(extra: serde_json::Value) -> serde_json::Value {
        let mut send = json!({ "template": "promo_natale",
            "header": { "type": "image", "link": "https://shop.example.com/natale.jpg" },
            "params": { "first_name": "{{name}}", "sconto": "20%" },
            "buttons": [ { "index": 0, "type": "url", "text": "natale" }, { "index": 2, "type": "copy_code", "code": "NATALE20" } ] });
        send.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        send
    }

    #[test]
    fn a_named_send_with_its_header_and_buttons_fits_its_template() {
        assert_eq!(codes_and_paths(&send_issues(promo(json!({})))), []);
        let with_payload = promo(json!({ "buttons": [ { "index": 0, "type": "url", "text": "natale" },
            { "index": 1, "type": "quick_reply", "payload": "NO" }, { "index": 2, "type": "copy_code", "code": "X" } ] }));
        assert_eq!(codes_and_paths(&send_issues(with_payload)), []);
    }

    #[test]
    fn named_params_must_be_exactly_the_template_s_names() {
        let wrong = send_issues(promo(json!({ "params": { "first_name": "{{name}}", "discount": "20%" } })));
        assert_eq!(
            codes_and_paths(&wrong),
            [
                ("template_params_mismatch", "steps[1].action.params.discount"),
                ("template_params_mismatch", "steps[1].action.params.sconto")
            ]
        );
        let listed = send_issues(promo(json!({ "params": ["Mario", "20%"] })));
        assert_eq!(codes_and_paths(&listed), [("template_params_mismatch", "steps[1].action.params")]);
        let named_for_positional = send_issues(json!({ "template": "welcome", "params": { "first_name": "x" } }));
        assert_eq!(codes_and_paths(&named_for_positional), [("template_params_mismatch", "steps[1].action.params")]);
    }

    #[test]
    fn a_header_must_match_the_template_s_header_format() {
        let missing = send_issues(promo(json!({ "header": null })));
        assert_eq!(codes_and_paths(&missing), [("template_params_mismatch", "steps[1].action.header")], "null is none");
        let mut without = promo(json!({}));
        without.as_object_mut().unwrap().remove("header");
        assert_eq!(codes_and_paths(&send_issues(without)), [("template_params_mismatch", "steps[1].action.header")]);
        let video = send_issues(promo(json!({ "header": { "type": "video", "link": "https://x.it/v.mp4" } })));
        assert_eq!(codes_and_paths(&video), [("template_params_mismatch", "steps[1].action.header")]);
        let http = send_issues(promo(json!({ "header": { "type": "image", "link": "http://x.it/a.jpg" } })));
        assert_eq!(codes_and_paths(&http), [("invalid_url", "steps[1].action.header.link")]);
        let unwanted =
            send_issues(json!({ "template": "welcome", "params": ["x"], "header": { "type": "text", "text": "x" } }));
        assert_eq!(codes_and_paths(&unwanted), [("template_params_mismatch", "steps[1].action.header")]);
        let no_text = send_issues(json!({ "template": "spedito", "params": ["x"] }));
        assert_eq!(codes_and_paths(&no_text), [("template_params_mismatch", "steps[1].action.header")]);
        let text =
            send_issues(json!({ "template": "spedito", "params": ["x"], "header": { "type": "text", "text": "42" } }));
        assert_eq!(codes_and_paths(&text), []);
        let fixed = send_issues(json!({ "template": "fisso", "header": { "type": "text", "text": "42" } }));
        assert_eq!(codes_and_paths(&fixed), [("template_params_mismatch", "steps[1].action.header")]);
        let place = json!({ "type": "location", "latitude": 45.46, "longitude": 9.19, "name": "Negozio" });
        assert_eq!(codes_and_paths(&send_issues(json!({ "template": "ritiro", "header": place }))), []);
        let far = json!({ "type": "location", "latitude": 145.0, "longitude": 9.19 });
        let far = send_issues(json!({ "template": "ritiro", "header": far }));
        assert_eq!(codes_and_paths(&far), [("invalid_value", "steps[1].action.header.latitude")]);
        let gif = send_issues(promo(json!({ "header": { "type": "gif", "link": "https://x.it/a.gif" } })));
        assert_eq!(codes_and_paths(&gif), [("unknown_type", "steps[1].action.header.type")]);
    }

    #[test]
    fn buttons_must_match_the_template_s_buttons_by_index_and_type() {
        let cases = [
            (json!([ { "index": 2, "type": "copy_code", "code": "X" } ]), "steps[1].action.buttons"),
            (
                json!([ { "index": 0, "type": "quick_reply", "payload": "x" }, { "index": 2, "type": "copy_code", "code": "X" } ]),
                "steps[1].action.buttons[0]",
            ),
            (
                json!([ { "index": 0, "type": "url", "text": "x" }, { "index": 2, "type": "copy_code", "code": "X" },
                        { "index": 4, "type": "url", "text": "x" } ]),
                "steps[1].action.buttons[2]",
            ),
            (
                json!([ { "index": 0, "type": "url", "text": "x" }, { "index": 2, "type": "copy_code", "code": "X" },
                        { "index": 3, "type": "url", "text": "x" } ]),
                "steps[1].action.buttons[2]",
            ),
            (json!([ { "index": 0, "type": "url", "text": "x" } ]), "steps[1].action.buttons"),
        ];
        for (buttons, path) in cases {
            let issues = send_issues(promo(json!({ "buttons": buttons })));
            let codes = codes_and_paths(&issues);
            assert!(codes.contains(&("template_params_mismatch", path)), "{buttons}: {codes:?}");
        }
        let twice = send_issues(promo(json!({ "buttons": [ { "index": 0, "type": "url", "text": "x" },
            { "index": 0, "type": "url", "text": "y" }, { "index": 2, "type": "copy_code", "code": "X" } ] })));
        assert_eq!(codes_and_paths(&twice), [("invalid_buttons", "steps[1].action.buttons[1].index")]);
        let shape = send_issues(promo(json!({ "buttons": [ { "index": 0, "type": "url", "suffix": "x" } ] })));
        assert_eq!(codes_and_paths(&shape), [("unknown_field", "steps[1].action.buttons[0]")]);
    }

    #[test]
    fn an_old_positional_send_still_reads_and_writes_the_same() {
        let doc = with_action(
            json!({ "type": "send_template", "template": "welcome", "language": "it", "params": ["{{name}}"] }),
        );
        let a = parse_automation(doc.clone()).unwrap();
        assert!(check_automation(&a, Some(&rich_workspace())).is_empty());
        assert_eq!(serde_json::to_value(&a).unwrap()["steps"], doc["steps"]);
    }

    #[test]
    fn media_list_and_cta_messages_keep_meta_s_limits() {
        let cases = [
            (
                json!({ "type": "send_media", "media": "image", "link": "http://x.it/a.jpg" }),
                "invalid_url",
                "steps[1].action.link",
            ),
            (
                json!({ "type": "send_media", "media": "audio", "link": "https://x.it/a.mp3", "caption": "x" }),
                "invalid_value",
                "steps[1].action.caption",
            ),
            (
                json!({ "type": "send_media", "media": "image", "link": "https://x.it/a.jpg", "filename": "a.jpg" }),
                "invalid_value",
                "steps[1].action.filename",
            ),
            (
                json!({ "type": "send_media", "media": "image", "link": "https://x.it/a.jpg", "caption": "x".repeat(1025) }),
                "too_long",
                "steps[1].action.caption",
            ),
            (
                json!({ "type": "send_media", "media": "sticker", "link": "https://x.it/a.webp" }),
                "invalid_value",
                "steps[1].action.media",
            ),
            (
                json!({ "type": "send_cta_url", "text": "Vai", "display_text": "Apri", "url": "shop.example.com" }),
                "invalid_url",
                "steps[1].action.url",
            ),
            (
                json!({ "type": "send_cta_url", "text": "Vai", "display_text": "Un testo troppo lungo!", "url": "https://x.it" }),
                "too_long",
                "steps[1].action.display_text",
            ),
            (
                json!({ "type": "send_cta_url", "text": "", "display_text": "Apri", "url": "https://x.it" }),
                "invalid_value",
                "steps[1].action.text",
            ),
        ];
        for (action, code, path) in cases {
            assert_eq!(codes_and_paths(&issues_of(with_action(action.clone()))), [(code, path)], "{action}");
        }
        let fine = [
            json!({ "type": "send_media", "media": "document", "link": "https://x.it/{{fields.order}}.pdf", "caption": "Fattura", "filename": "fattura.pdf" }),
            json!({ "type": "send_media", "media": "audio", "link": "https://x.it/a.mp3" }),
            json!({ "type": "send_cta_url", "text": "Ciao {{name}}", "display_text": "Apri", "url": "https://x.it/o/{{fields.order}}" }),
        ];
        for action in fine {
            assert_eq!(codes_and_paths(&issues_of(with_action(action.clone()))), [], "{action}");
        }
    }

    fn list_with(sections: serde_json::Value) -> Vec<Issue> {
        issues_of(with_action(
            json!({ "type": "send_list", "text": "Scegli la sede", "button": "Sedi", "sections": sections }),
        ))
    }

    #[test]
    fn a_list_has_1_to_10_sections_and_rows_with_unique_ids() {
        let row = |id: &str| json!({ "id": id, "title": format!("Sede {id}") });
        assert_eq!(codes_and_paths(&list_with(json!([ { "rows": [row("mi"), row("rm")] } ]))), []);
        assert_eq!(codes_and_paths(&list_with(json!([]))), [("invalid_sections", "steps[1].action.sections")]);
        let eleven: Vec<_> = (0..11).map(|i| row(&format!("r{i}"))).collect();
        assert_eq!(
            codes_and_paths(&list_with(json!([ { "rows": eleven } ]))),
            [("invalid_sections", "steps[1].action.sections")]
        );
        assert_eq!(
            codes_and_paths(&list_with(
                json!([ { "title": "A", "rows": [row("mi")] }, { "title": "B", "rows": [row("mi")] } ])
            )),
            [("invalid_sections", "steps[1].action.sections[1].rows[0].id")]
        );
        assert_eq!(
            codes_and_paths(&list_with(json!([ { "title": "A", "rows": [row("mi")] }, { "rows": [row("rm")] } ]))),
            [("missing_field", "steps[1].action.sections[1].title")]
        );
        let long = json!([ { "rows": [ { "id": "x", "title": "Un titolo di riga lunghissimo", "description": "d".repeat(73) } ] } ]);
        assert_eq!(
            codes_and_paths(&list_with(long)),
            [
                ("too_long", "steps[1].action.sections[0].rows[0].title"),
                ("too_long", "steps[1].action.sections[0].rows[0].description")
            ]
        );
        let button =
            issues_of(with_action(json!({ "type": "send_list", "text": "x", "button": "Un bottone troppo lungo",
            "sections": [ { "rows": [row("mi")] } ] })));
        assert_eq!(codes_and_paths(&button), [("too_long", "steps[1].action.button")]);
        let id = "i".repeat(201);
        assert_eq!(
            codes_and_paths(&list_with(json!([ { "rows": [ { "id": id, "title": "x" } ] } ]))),
            [("too_long", "steps[1].action.sections[0].rows[0].id")]
        );
    }

    fn template_issues(template: serde_json::Value) -> Vec<(&'static str, String)> {
        let mut doc = json!({ "name": "t", "language": "it", "status": "approved" });
        doc.as_object_mut().unwrap().extend(template.as_object().unwrap().clone());
        match parse_document::<Template>(doc) {
            Ok(t) => validate_template(&t).into_iter().map(|i| (i.code, i.path)).collect(),
            Err(issue) => vec![(issue.code, issue.path)],
        }
    }

    #[test]
    fn a_template_meta_would_reject_is_named_at_its_path() {
        let quick =
            |n: usize| (0..n).map(|i| json!({ "type": "quick_reply", "text": format!("R{i}") })).collect::<Vec<_>>();
        let cases = [
            (json!({ "body": "x", "header": { "format": "gif" } }), "invalid_value", "header.format"),
            (json!({ "body": "x", "buttons": quick(4) }), "invalid_buttons", "buttons"),
            (
                json!({ "body": "x", "buttons": [ { "type": "url", "text": "Vai", "url": "http://x.it" } ] }),
                "invalid_url",
                "buttons[0].url",
            ),
            (
                json!({ "body": "x", "buttons": [ { "type": "url", "text": "Vai" } ] }),
                "missing_field",
                "buttons[0].url",
            ),
            (
                json!({ "body": "x", "buttons": [ { "type": "url", "text": "Vai", "url": "https://x.it/{{1}}/a" } ] }),
                "invalid_url",
                "buttons[0].url",
            ),
            (
                json!({ "body": "x", "buttons": [ { "type": "quick_reply", "text": "Un testo di bottone troppo lungo" } ] }),
                "too_long",
                "buttons[0].text",
            ),
            (
                json!({ "body": "x", "buttons": [ { "type": "quick_reply", "text": " " } ] }),
                "invalid_value",
                "buttons[0].text",
            ),
            (json!({ "body": "x", "buttons": ["Sì", ""] }), "invalid_value", "buttons[1].text"),
            (json!({ "body": "" }), "invalid_value", "body"),
            (json!({ "body": "Ciao {{First-Name}}", "parameter_format": "named" }), "invalid_value", "body"),
            (json!({ "body": "Ciao {{name}}" }), "invalid_value", "body"),
            (json!({ "body": "x", "header": { "format": "text" } }), "missing_field", "header.text"),
            (json!({ "body": "x", "header": { "format": "image", "text": "x" } }), "invalid_value", "header.text"),
            (
                json!({ "body": "x", "buttons": [ { "type": "phone_number", "text": "Chiama" } ] }),
                "missing_field",
                "buttons[0].phone_number",
            ),
        ];
        for (template, code, path) in cases {
            let issues = template_issues(template.clone());
            assert_eq!(issues.first().map(|(c, p)| (*c, p.as_str())), Some((code, path)), "{template}: {issues:?}");
        }
        let many: Vec<_> =
            (0..11).map(|i| json!({ "type": "url", "text": format!("U{i}"), "url": "https://x.it" })).collect();
        assert_eq!(template_issues(json!({ "body": "x", "buttons": many }))[0], ("invalid_buttons", "buttons".into()));
        let fine = json!({ "body": "Ciao {{first_name}}, il {{sconto_2}}", "parameter_format": "named",
            "header": { "format": "image" }, "buttons": [ { "type": "url", "text": "Scopri", "url": "https://x.it/{{1}}" } ] });
        assert_eq!(template_issues(fine), []);
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
