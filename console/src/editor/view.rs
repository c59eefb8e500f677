//! The editor drawn from a document: the name, the start step, and the chain of steps with
//! flow steps' branches nested inside them. Built from the JSON document (valid or not: a
//! form being edited is often neither), so whatever the user typed is shown back as typed.
//! Each input, step and branch has its document path; [`EditorView::place`] puts each
//! validation error at the deepest of them its path lies in.

use super::fields::{self, Input, Spec};
use super::texts::EditorTexts;
use super::trial::{Entry, Inputs, TrialTexts};
use crate::page::Page;
use askama::Template;
use avvio_common::domain::path::StepPath;
use avvio_common::domain::workspace::{TemplateButton, TemplateButtonKind, TemplateHeader, placeholders};
use avvio_common::stats::{Stats, StepStats};
use serde_json::Value;

/// What the editor offers beyond the document: the workspace's templates and automations, and
/// the live counters of the stored automation.
pub struct Context<'a> {
    pub page: &'a Page,
    pub e: &'static EditorTexts,
    /// The workspace's templates.
    pub templates: Vec<TemplateChoice>,
    /// `(id, name)` of the workspace's automations.
    pub automations: Vec<(String, String)>,
    pub stats: Option<Stats>,
}

/// A template the pickers offer, with what a send of it fills: its header and its buttons.
#[derive(Debug, Clone)]
pub struct TemplateChoice {
    pub name: String,
    pub language: String,
    /// How many params a send gives: its positional placeholders, or its names.
    pub params: usize,
    pub header: Option<TemplateHeader>,
    pub buttons: Vec<TemplateButton>,
}

/// One `<option>`.
#[derive(Debug, Clone)]
pub struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

/// One input, named by its document path.
#[derive(Debug, Clone)]
pub struct Field {
    pub name: String,
    /// The element id: the path with its brackets and dots made id-safe.
    pub id: String,
    pub label: String,
    pub hint: Option<String>,
    /// `text`, `textarea`, `lines`, `duration`, `time`, `number`, `decimal`, `checkbox`, `days`,
    /// `select`, `kind` (a type's select), `json`.
    pub input: &'static str,
    /// A select whose change draws the editor again (a type, a template).
    pub refresh: bool,
    pub value: String,
    pub checked: bool,
    pub choices: Vec<Choice>,
    pub error: Option<String>,
}

/// A `send_buttons` button: its two inputs and its place in the list.
#[derive(Debug, Clone)]
pub struct ButtonRow {
    pub path: String,
    pub id: Field,
    pub title: Field,
}

/// A template send's header: the select of its type and that type's inputs, or (a header those
/// inputs cannot show as it is) its JSON. Errors about the header as a whole land at the first.
pub struct HeaderInputs {
    pub path: String,
    pub fields: Vec<Field>,
}

/// One parameter of a template send's button: its place in the `buttons` list, which button it
/// fills (hidden inputs) and its value.
pub struct ParamRow {
    /// `…buttons[0]`: errors about the row land at its value.
    pub path: String,
    pub kind: String,
    pub index: String,
    pub value: Field,
    /// The chosen template has no such button: the row offers to remove it.
    pub stray: bool,
    /// The template's button needs its parameter (a url's ending, a coupon code).
    pub required: bool,
}

/// A template send's button parameters: a row per parameter given or per button of the
/// template that takes one; or (a list those rows cannot show as it is) its JSON.
pub struct ButtonParams {
    pub path: String,
    /// The element id of the list's error.
    pub id: String,
    pub rows: Vec<ParamRow>,
    pub json: Option<Field>,
    pub error: Option<String>,
}

/// A branch of a flow step: its head (the replies or the condition), its steps.
pub struct Branch<'a> {
    pub title: String,
    /// The branch's own path (`...branches[0]`, `...otherwise`), what removing it removes.
    pub path: String,
    /// Where its steps are listed (`...branches[0].steps`, `...otherwise`).
    pub steps_path: String,
    pub head: Option<Field>,
    pub steps: Vec<StepCard<'a>>,
    pub taken: Option<i64>,
    pub error: Option<String>,
}

/// One step, and inside a flow step its branches.
#[derive(Template)]
#[template(path = "editor/step.html")]
pub struct StepCard<'a> {
    pub page: &'a Page,
    pub e: &'static EditorTexts,
    pub path: String,
    /// Shown to the user: `1`, `2.1.3`.
    pub number: String,
    /// The action's name in words.
    pub title: &'static str,
    pub first: bool,
    pub last: bool,
    pub after: Field,
    pub kind: Field,
    pub fields: Vec<Field>,
    /// A `send_template`'s header and button parameters.
    pub header: Option<HeaderInputs>,
    pub button_params: Option<ButtonParams>,
    pub buttons: Option<Vec<ButtonRow>>,
    /// The path of the buttons list, for "add a button".
    pub buttons_path: String,
    pub branches: Vec<Branch<'a>>,
    /// `(edit, label)` of the buttons adding branches.
    pub add_branch: Vec<(String, &'static str)>,
    pub counters: Vec<(String, &'static str, &'static str)>,
    pub error: Option<String>,
}

/// The whole editor form (inside the page, or alone as htmx's answer).
#[derive(Template)]
#[template(path = "editor/form.html")]
pub struct EditorView<'a> {
    pub page: &'a Page,
    pub e: &'static EditorTexts,
    /// Where the form posts (relative to the page): `new` or `{id}`.
    pub action: String,
    pub name: Field,
    pub enabled: Field,
    pub trigger_kind: Field,
    pub trigger: Vec<Field>,
    pub steps: Vec<StepCard<'a>>,
    pub json: String,
    /// Errors no input, step or branch holds (and the summary above the form).
    pub errors: Vec<String>,
    pub any_error: bool,
    pub saved: bool,
    /// After a restore from the history: "Version n restored as version k".
    pub restored: Option<String>,
    /// Which tab shows: `flow` or `json`.
    pub tab: &'static str,
    /// The "Try it" panel: its words, its inputs as typed, and what the last try showed.
    pub tt: &'static TrialTexts,
    pub trial: Inputs,
    pub chat: Option<Vec<Entry>>,
    /// Why there is no chat to show (nothing typed, errors to fix first, a refused try).
    pub notice: Option<String>,
}

fn dom_id(path: &str) -> String {
    let mut id = String::from("f-");
    id.extend(path.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }));
    id
}

fn text_of(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

impl<'a> Context<'a> {
    fn field(&self, path: String, spec: Spec, value: Option<&Value>) -> Field {
        let (label, hint) = self.e.label(spec.key);
        let mut field = Field {
            id: dom_id(&path),
            name: path,
            label: label.to_string(),
            hint: hint.map(str::to_string),
            input: "text",
            value: text_of(value),
            refresh: false,
            checked: false,
            choices: Vec::new(),
            error: None,
        };
        match spec.input {
            Input::Text => {}
            Input::LongText => field.input = "textarea",
            Input::Lines => {
                field.input = "lines";
                field.value = match value {
                    Some(Value::Array(items)) => items.iter().map(|i| text_of(Some(i))).collect::<Vec<_>>().join("\n"),
                    // Named template parameters: one `name=value` per line.
                    Some(Value::Object(named)) => {
                        named.iter().map(|(k, v)| format!("{k}={}", text_of(Some(v)))).collect::<Vec<_>>().join("\n")
                    }
                    other => text_of(other),
                };
            }
            Input::Menu => {
                field.input = "lines";
                field.value = value.map(super::doc::menu_to_text).unwrap_or_default();
            }
            Input::Duration => field.input = "duration",
            Input::Time => field.input = "time",
            Input::Number => field.input = "number",
            Input::Decimal => field.input = "decimal",
            Input::Checkbox => {
                field.input = "checkbox";
                field.checked = value.and_then(Value::as_bool).unwrap_or(false);
            }
            Input::Days => {
                field.input = "days";
                let chosen: Vec<&str> = value
                    .and_then(Value::as_array)
                    .map(|d| d.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                field.choices = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
                    .iter()
                    .map(|d| Choice { value: d.to_string(), label: d.to_string(), selected: chosen.contains(d) })
                    .collect();
            }
            Input::Choice(values) => {
                let current = field.value.clone();
                field.input = "select";
                field.choices = values.iter().map(|v| choice(v, v, &current)).collect();
            }
            Input::Template => {
                let current = field.value.clone();
                field.input = "select";
                // Its header and buttons have inputs of their own: draw them when it changes.
                field.refresh = true;
                let mut names: Vec<&TemplateChoice> = self.templates.iter().collect();
                names.dedup_by(|a, b| a.name == b.name);
                field.choices = names
                    .iter()
                    .map(|t| Choice {
                        value: t.name.clone(),
                        label: format!("{} · {} {}", t.name, t.params, self.e.params_of),
                        selected: t.name == current,
                    })
                    .collect();
                if self.templates.is_empty() {
                    field.hint = Some(self.e.no_templates.to_string());
                }
            }
            Input::Language => {
                let current = field.value.clone();
                field.input = "select";
                let mut languages: Vec<&String> = self.templates.iter().map(|t| &t.language).collect();
                languages.sort();
                languages.dedup();
                field.choices = languages.iter().map(|l| choice(l, l, &current)).collect();
            }
            Input::Automation => {
                let current = field.value.clone();
                field.input = "select";
                field.choices = self.automations.iter().map(|(id, name)| choice(id, name, &current)).collect();
            }
            // A header or button parameters drawn as JSON: the ones their inputs cannot show.
            Input::Json | Input::Header | Input::ButtonParams => {
                field.input = "json";
                field.value = match value {
                    None | Some(Value::Null) => String::new(),
                    Some(Value::String(s)) => s.clone(),
                    Some(other) => serde_json::to_string(other).unwrap_or_default(),
                };
            }
        }
        if field.input == "select" && !field.choices.iter().any(|c| c.selected) {
            // What the document holds stays visible (and selected) even when nothing offers it.
            let placeholder = if field.value.is_empty() { self.e.choose.to_string() } else { field.value.clone() };
            field.choices.insert(0, Choice { value: field.value.clone(), label: placeholder, selected: true });
        }
        field
    }

    fn kind_field(&self, path: String, label: &'static str, kinds: &[&str], current: &str) -> Field {
        let mut choices: Vec<Choice> = kinds.iter().map(|k| choice(k, self.e.kind(k), current)).collect();
        if !kinds.contains(&current) {
            choices.insert(0, Choice { value: current.to_string(), label: self.e.choose.to_string(), selected: true });
        }
        Field {
            id: dom_id(&path),
            name: path,
            label: label.to_string(),
            hint: None,
            input: "kind",
            value: current.to_string(),
            refresh: true,
            checked: false,
            choices,
            error: None,
        }
    }

    /// The template a `send_template` action names: in its language, else in any.
    fn template_of(&self, action: Option<&Value>) -> Option<&TemplateChoice> {
        let text = |key: &str| action.and_then(|a| a.get(key)).and_then(Value::as_str).unwrap_or_default();
        let (name, language) = (text("template"), text("language"));
        let named = || self.templates.iter().filter(move |t| t.name == name);
        named().find(|t| t.language == language).or_else(|| named().next())
    }

    /// A template send's header: the select of its type ("none" first), then that type's inputs.
    fn header(&self, path: String, value: Option<&Value>, template: Option<&TemplateChoice>) -> HeaderInputs {
        let Some(kind) = header_kind(value) else {
            let json = self.field(path.clone(), Spec { key: "header", input: Input::Json }, value);
            return HeaderInputs { path, fields: vec![json] };
        };
        let name = format!("{path}.type");
        let mut choices = vec![choice("", self.e.header_kind(""), kind)];
        choices.extend(fields::HEADERS.iter().map(|k| choice(k, self.e.header_kind(k), kind)));
        let mut fields = vec![Field {
            id: dom_id(&name),
            name,
            label: self.e.label("header.type").0.to_string(),
            hint: Some(self.e.header_hint(template.map(|t| (t.name.as_str(), t.header.as_ref())))),
            input: "select",
            value: kind.to_string(),
            refresh: true,
            checked: false,
            choices,
            error: None,
        }];
        for spec in fields::header(kind) {
            let field = self.field(format!("{path}.{}", spec.key), *spec, value.and_then(|h| h.get(spec.key)));
            let (label, hint) = self.e.label(&format!("header.{}", spec.key));
            fields.push(Field { label: label.to_string(), hint: hint.map(str::to_string), ..field });
        }
        HeaderInputs { path, fields }
    }

    /// A template send's button parameters: a row per parameter given, then one per button of
    /// the template that takes one and has none yet; nothing when there are none of either.
    fn button_params(
        &self,
        path: String,
        value: Option<&Value>,
        template: Option<&TemplateChoice>,
    ) -> Option<ButtonParams> {
        let given = match value {
            None | Some(Value::Null) => &[][..],
            Some(Value::Array(rows)) if rows.iter().all(param_row_shown) => rows.as_slice(),
            Some(_) => {
                let json = self.field(path.clone(), Spec { key: "buttons", input: Input::Json }, value);
                return Some(ButtonParams { id: dom_id(&path), path, rows: Vec::new(), json: Some(json), error: None });
            }
        };
        let buttons = template.map(|t| t.buttons.as_slice()).unwrap_or_default();
        let mut rows: Vec<ParamRow> = given
            .iter()
            .enumerate()
            .map(|(j, row)| {
                let kind = row["type"].as_str().unwrap_or_default();
                let index = row["index"].as_u64().unwrap_or_default();
                let button =
                    usize::try_from(index).ok().and_then(|i| buttons.get(i)).filter(|b| kind_name(b.kind) == kind);
                let key = fields::button_param_key(kind).unwrap_or_default();
                self.param_row(&path, j, kind, index, row.get(key), button)
            })
            .collect();
        for (i, button) in buttons.iter().enumerate() {
            let index = i as u64;
            if takes_param(button) && !given.iter().any(|row| row["index"].as_u64() == Some(index)) {
                rows.push(self.param_row(&path, rows.len(), kind_name(button.kind), index, None, Some(button)));
            }
        }
        (!rows.is_empty()).then(|| ButtonParams { id: dom_id(&path), path, rows, json: None, error: None })
    }

    fn param_row(
        &self,
        list: &str,
        j: usize,
        kind: &str,
        index: u64,
        value: Option<&Value>,
        button: Option<&TemplateButton>,
    ) -> ParamRow {
        let path = format!("{list}[{j}]");
        let name = format!("{path}.{}", fields::button_param_key(kind).unwrap_or("text"));
        let (label, hint) = self.e.button_param(kind, button.map(|b| (b.text.as_str(), b.url.as_deref())), index);
        ParamRow {
            value: Field {
                id: dom_id(&name),
                name,
                label,
                hint,
                input: "text",
                value: text_of(value),
                refresh: false,
                checked: false,
                choices: Vec::new(),
                error: None,
            },
            path,
            kind: kind.to_string(),
            index: index.to_string(),
            stray: button.is_none(),
            required: button.is_some() && kind != "quick_reply",
        }
    }

    fn step_stats(&self, path: &str) -> Option<&StepStats> {
        let path: StepPath = path.parse().ok()?;
        self.stats.as_ref()?.steps.get(&path)
    }

    fn steps(&'a self, list: &str, number: &str, steps: Option<&Value>) -> Vec<StepCard<'a>> {
        let steps = steps.and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
        steps
            .iter()
            .enumerate()
            .map(|(i, step)| {
                let number = if number.is_empty() { (i + 1).to_string() } else { format!("{number}.{}", i + 1) };
                self.step(format!("{list}[{i}]"), number, i == 0, i + 1 == steps.len(), step)
            })
            .collect()
    }

    fn step(&'a self, path: String, number: String, first: bool, last: bool, step: &Value) -> StepCard<'a> {
        let action = step.get("action");
        let kind = text_of(action.and_then(|a| a.get("type")));
        let at = |key: &str| format!("{path}.action.{key}");
        let after =
            self.field(format!("{path}.after"), Spec { key: "after", input: Input::Duration }, step.get("after"));
        let after = Field { label: self.e.when.to_string(), hint: Some(self.e.when_hint.to_string()), ..after };
        let mut header = None;
        let mut button_params = None;
        let mut fields = Vec::new();
        for spec in fields::action(&kind) {
            let value = action.and_then(|a| a.get(spec.key));
            match spec.input {
                Input::Header => header = Some(self.header(at("header"), value, self.template_of(action))),
                Input::ButtonParams => {
                    button_params = self.button_params(at("buttons"), value, self.template_of(action));
                }
                _ => fields.push(self.field(at(spec.key), *spec, value)),
            }
        }
        let buttons = (kind == "send_buttons").then(|| {
            let listed = action.and_then(|a| a.get("buttons")).and_then(Value::as_array);
            listed
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .enumerate()
                .map(|(i, b)| {
                    let path = at(&format!("buttons[{i}]"));
                    let input = |key: &'static str| {
                        self.field(format!("{path}.{key}"), Spec { key, input: Input::Text }, b.get(key))
                    };
                    ButtonRow { id: input("id"), title: input("title"), path }
                })
                .collect()
        });
        let stats = self.step_stats(&path);
        let taken = |branch: &str| stats.map(|s| s.branches.get(branch).copied().unwrap_or(0));
        let mut branches = Vec::new();
        let mut add_branch = Vec::new();
        if kind == "wait_for_reply" || kind == "condition" {
            let listed = action.and_then(|a| a.get("branches")).and_then(Value::as_array);
            for (i, branch) in listed.map(Vec::as_slice).unwrap_or_default().iter().enumerate() {
                let branch_path = at(&format!("branches[{i}]"));
                let head = if kind == "wait_for_reply" {
                    self.field(
                        format!("{branch_path}.reply"),
                        Spec { key: "reply", input: Input::Lines },
                        branch.get("reply"),
                    )
                } else {
                    self.field(format!("{branch_path}.if"), Spec { key: "if", input: Input::Json }, branch.get("if"))
                };
                let title = if kind == "wait_for_reply" { self.e.branch_reply } else { self.e.branch_if };
                let steps_path = format!("{branch_path}.steps");
                branches.push(Branch {
                    title: title.to_string(),
                    steps: self.steps(&steps_path, &format!("{number}.{}", i + 1), branch.get("steps")),
                    head: Some(head),
                    taken: taken(&format!("branches[{i}]")),
                    path: branch_path,
                    steps_path,
                    error: None,
                });
            }
            let add = if kind == "wait_for_reply" { self.e.add_reply_branch } else { self.e.add_condition_branch };
            add_branch.push((format!("add-item:{}", at("branches")), add));
            let mut optional = vec![("otherwise", self.e.otherwise, self.e.add_otherwise)];
            if kind == "wait_for_reply" {
                optional.push(("on_timeout", self.e.on_timeout, self.e.add_on_timeout));
            }
            for (key, title, add) in optional {
                match action.and_then(|a| a.get(key)) {
                    Some(steps) => branches.push(Branch {
                        title: title.to_string(),
                        path: at(key),
                        steps_path: at(key),
                        head: None,
                        steps: self.steps(&at(key), &format!("{number}.{}", branches.len() + 1), Some(steps)),
                        taken: taken(key),
                        error: None,
                    }),
                    None => add_branch.push((format!("add-branches:{}", at(key)), add)),
                }
            }
        }
        let counters = stats.map_or_else(Vec::new, |s| {
            let mut shown = vec![(s.done.to_string(), self.e.counters_done, "done")];
            if s.pending > 0 {
                shown.push((s.pending.to_string(), self.e.counters_pending, "waiting"));
            }
            if s.failed_total() > 0 {
                shown.push((s.failed_total().to_string(), self.e.counters_failed, "failed"));
            }
            if s.skipped_total() > 0 {
                shown.push((s.skipped_total().to_string(), self.e.counters_skipped, "skipped"));
            }
            if s.read > 0 {
                shown.push((s.read.to_string(), self.e.counters_read, "done"));
            }
            shown
        });
        StepCard {
            page: self.page,
            e: self.e,
            kind: self.kind_field(at("type"), self.e.your_action, fields::ACTIONS, &kind),
            buttons_path: at("buttons"),
            title: self.e.kind(&kind),
            path,
            number,
            first,
            last,
            after,
            fields,
            header,
            button_params,
            buttons,
            branches,
            add_branch,
            counters,
            error: None,
        }
    }

    /// The editor of `doc`, posting to `action`.
    pub fn editor(&'a self, action: String, doc: &Value) -> EditorView<'a> {
        let trigger = doc.get("trigger");
        let trigger_kind = text_of(trigger.and_then(|t| t.get("type")));
        let name = self.field("name".into(), Spec { key: "name", input: Input::Text }, doc.get("name"));
        let enabled_value = doc.get("enabled").cloned().unwrap_or(Value::Bool(true));
        let enabled =
            self.field("enabled".into(), Spec { key: "enabled", input: Input::Checkbox }, Some(&enabled_value));
        EditorView {
            page: self.page,
            e: self.e,
            action,
            name: Field { label: self.e.name.to_string(), hint: None, ..name },
            enabled: Field { label: self.e.enabled.to_string(), hint: None, ..enabled },
            trigger_kind: self.kind_field("trigger.type".into(), self.e.trigger_type, fields::TRIGGERS, &trigger_kind),
            trigger: fields::trigger(&trigger_kind)
                .iter()
                .map(|spec| self.field(format!("trigger.{}", spec.key), *spec, trigger.and_then(|t| t.get(spec.key))))
                .collect(),
            steps: self.steps("steps", "", doc.get("steps")),
            json: serde_json::to_string_pretty(doc).unwrap_or_default(),
            errors: Vec::new(),
            any_error: false,
            saved: false,
            restored: None,
            tab: "flow",
            tt: TrialTexts::of(self.page.lang),
            trial: Inputs::default(),
            chat: None,
            notice: None,
        }
    }
}

/// The type of a header its inputs show as it is (`""`: no header), or `None`: a header of
/// another shape (an unknown type, a key its type does not have), drawn as JSON.
fn header_kind(value: Option<&Value>) -> Option<&str> {
    let object = match value {
        None | Some(Value::Null) => return Some(""),
        Some(Value::Object(object)) => object,
        Some(_) => return None,
    };
    let kind = object.get("type").and_then(Value::as_str).filter(|k| fields::HEADERS.contains(k))?;
    let specs = fields::header(kind);
    let shown = |key: &String, value: &Value| {
        key == "type"
            || specs
                .iter()
                .any(|s| s.key == key && (value.is_string() || s.input == Input::Decimal && value.is_number()))
    };
    object.iter().all(|(k, v)| shown(k, v)).then_some(kind)
}

/// Whether a button parameter's row shows it as it is: `type`, `index` and the type's value.
fn param_row_shown(row: &Value) -> bool {
    let Some(object) = row.as_object() else { return false };
    let key = object.get("type").and_then(Value::as_str).and_then(fields::button_param_key);
    let index = object.get("index").and_then(Value::as_u64).is_some_and(|i| i <= u64::from(u8::MAX));
    key.is_some_and(|key| {
        index
            && object.get(key).is_some_and(Value::is_string)
            && object.keys().all(|k| ["type", "index", key].contains(&k.as_str()))
    })
}

/// Whether a template button takes a parameter at send time: a URL ending in a variable, a
/// copy-code button, a quick reply (its payload, optional). A phone number button takes none.
fn takes_param(button: &TemplateButton) -> bool {
    match button.kind {
        TemplateButtonKind::Url => button.url.as_deref().is_some_and(|url| !placeholders(url).is_empty()),
        TemplateButtonKind::CopyCode | TemplateButtonKind::QuickReply => true,
        TemplateButtonKind::PhoneNumber => false,
    }
}

fn kind_name(kind: TemplateButtonKind) -> &'static str {
    match kind {
        TemplateButtonKind::Url => "url",
        TemplateButtonKind::QuickReply => "quick_reply",
        TemplateButtonKind::CopyCode => "copy_code",
        TemplateButtonKind::PhoneNumber => "phone_number",
    }
}

fn choice(value: &str, label: &str, current: &str) -> Choice {
    Choice { value: value.to_string(), label: label.to_string(), selected: value == current }
}

/// Whether `path` lies inside `anchor` (equal, or below it at a `.` or `[`).
fn inside(path: &str, anchor: &str) -> bool {
    anchor.is_empty()
        || path == anchor
        || path.strip_prefix(anchor).is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
}

/// Every place an error can be shown: its path and its error slot.
type Anchors<'v> = Vec<(String, &'v mut Option<String>)>;

impl StepCard<'_> {
    fn anchors<'v>(&'v mut self, out: &mut Anchors<'v>) {
        out.push((self.path.clone(), &mut self.error));
        for field in [&mut self.after, &mut self.kind].into_iter().chain(self.fields.iter_mut()) {
            out.push((field.name.clone(), &mut field.error));
        }
        if let Some(header) = &mut self.header {
            // The first input (the type's select, or the JSON) holds what is said of the whole.
            for (i, field) in header.fields.iter_mut().enumerate() {
                let anchor = if i == 0 { header.path.clone() } else { field.name.clone() };
                out.push((anchor, &mut field.error));
            }
        }
        if let Some(params) = &mut self.button_params {
            match &mut params.json {
                Some(json) => out.push((json.name.clone(), &mut json.error)),
                None => out.push((params.path.clone(), &mut params.error)),
            }
            for row in &mut params.rows {
                out.push((row.path.clone(), &mut row.value.error));
            }
        }
        for row in self.buttons.iter_mut().flatten() {
            out.push((row.id.name.clone(), &mut row.id.error));
            out.push((row.title.name.clone(), &mut row.title.error));
        }
        for branch in &mut self.branches {
            out.push((branch.path.clone(), &mut branch.error));
            if let Some(head) = &mut branch.head {
                out.push((head.name.clone(), &mut head.error));
            }
            for step in &mut branch.steps {
                step.anchors(out);
            }
        }
    }
}

impl EditorView<'_> {
    /// Puts each error (path, message) at the deepest input, step or branch its path lies in;
    /// the rest (and a summary) above the form.
    pub fn place(&mut self, errors: Vec<(String, String)>) {
        self.any_error = !errors.is_empty();
        let mut anchors: Anchors<'_> = Vec::new();
        for field in [&mut self.name, &mut self.enabled].into_iter().chain(self.trigger.iter_mut()) {
            anchors.push((field.name.clone(), &mut field.error));
        }
        // The trigger's type input holds what is said of the trigger as a whole.
        anchors.push(("trigger".into(), &mut self.trigger_kind.error));
        for step in &mut self.steps {
            step.anchors(&mut anchors);
        }
        let mut unplaced = Vec::new();
        for (path, message) in errors {
            let best =
                anchors.iter_mut().filter(|(anchor, _)| inside(&path, anchor)).max_by_key(|(anchor, _)| anchor.len());
            match best {
                Some((_, slot)) => match slot.as_mut() {
                    Some(existing) => {
                        existing.push_str(" · ");
                        existing.push_str(&message);
                    }
                    None => **slot = Some(message),
                },
                None => unplaced.push(if path.is_empty() { message } else { format!("{path}: {message}") }),
            }
        }
        self.errors = unplaced;
        for step in &mut self.steps {
            step.settle_missing_params();
        }
    }
}

impl StepCard<'_> {
    /// What lands at a template send's button list (its rows drawn) is that a button needs its
    /// parameter: said at the empty inputs that need one instead, so the focus goes there.
    fn settle_missing_params(&mut self) {
        if let Some(params) = self.button_params.as_mut().filter(|p| p.error.is_some()) {
            let mut missing =
                params.rows.iter_mut().filter(|r| r.required && r.value.value.trim().is_empty()).peekable();
            if missing.peek().is_some() {
                for row in missing {
                    row.value.error = Some(self.e.param_needed.to_string());
                }
                params.error = None;
            }
        }
        for step in self.branches.iter_mut().flat_map(|b| b.steps.iter_mut()) {
            step.settle_missing_params();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_lands_at_the_deepest_place_its_path_lies_in() {
        assert!(inside("steps[1].action.text", "steps[1]"));
        assert!(inside("steps[1].action.text", "steps[1].action.text"));
        assert!(!inside("steps[10].action", "steps[1]"), "steps[10] is not inside steps[1]");
        assert!(!inside("steps[1].actions", "steps[1].action"));
    }

    #[test]
    fn element_ids_are_safe_whatever_the_path() {
        assert_eq!(dom_id("steps[1].action.branches[0].reply"), "f-steps-1--action-branches-0--reply");
    }
}
