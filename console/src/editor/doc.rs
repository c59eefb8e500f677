//! The automation editor's form, read back into a document, and the edits its buttons make.
//!
//! Every input of the editor is named by the JSON path of the value it holds, written the way
//! validation paths are (`name`, `trigger.phrase`, `steps[1].action.branches[0].reply`), so a
//! validation error lands at the input its path names. Reading a form builds the document in
//! the order of its inputs (each object's `type` comes first, as the validator wants it). A few
//! keys are not plain text: lists written one per line (`reply`, `params`), repeated inputs
//! (`days`), checkboxes, numbers, and JSON (a condition's `if`, a webhook's `body`). A template
//! send's header and button parameters are inputs of their own (`…header.type`, `…header.link`,
//! `…buttons[0].text`), tidied once the form is read: a header without a type is dropped, a
//! header keeps only its type's keys, and a button parameter left empty is left out.

use serde_json::{Map, Value, json};

/// One segment of a path: an object key or an array index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// A path that is not written as the editor writes them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a field of an automation")]
pub struct BadPath(pub String);

/// Reads `steps[1].action.branches[0]` into its segments.
pub fn parse_path(raw: &str) -> Result<Vec<Seg>, BadPath> {
    let bad = || BadPath(raw.to_string());
    let mut segs = Vec::new();
    for part in raw.split('.') {
        let (key, mut rest) = part.split_once('[').map_or((part, ""), |(k, r)| (k, r));
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') || part.ends_with('[') {
            return Err(bad());
        }
        segs.push(Seg::Key(key.to_string()));
        while !rest.is_empty() {
            let (index, after) = rest.split_once(']').ok_or_else(bad)?;
            let index: usize = index.parse().map_err(|_| bad())?;
            if index > MAX_INDEX {
                return Err(bad());
            }
            segs.push(Seg::Index(index));
            rest = match after {
                "" => "",
                more => more.strip_prefix('[').ok_or_else(bad)?,
            };
        }
    }
    Ok(segs)
}

/// Writes segments back as a path.
pub fn write_path(segs: &[Seg]) -> String {
    let mut out = String::new();
    for seg in segs {
        match seg {
            Seg::Key(k) if out.is_empty() => out.push_str(k),
            Seg::Key(k) => {
                out.push('.');
                out.push_str(k);
            }
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// No list of a document the editor builds is longer (a form naming `steps[999999]` would
/// otherwise make a million-element array).
const MAX_INDEX: usize = 999;

/// Keys whose text is a list, one item per line.
const LINES: &[&str] = &["reply", "params"];
/// Keys sent once per checked box, read as a list.
const REPEATED: &[&str] = &["days"];
/// Checkboxes (a hidden `false` input before each, so an unchecked box still says so).
const BOOLS: &[&str] = &["enabled", "working_hours", "annual"];
/// Whole numbers.
const NUMBERS: &[&str] = &["offset_days", "index"];
/// Numbers with decimals (a decimal comma reads too); text that is not one stays text, for the
/// validator to name its input.
const DECIMALS: &[&str] = &["latitude", "longitude"];
/// JSON text.
const JSON: &[&str] = &["if", "body", "header", "buttons"];
/// Optional branch lists: the form holds an empty input for each one present, so a list that has
/// no step yet stays in the document (an array, kept whatever its steps' inputs add to it).
const BRANCH_LISTS: &[&str] = &["otherwise", "on_timeout"];
/// Optional keys: left out when their input is empty (a required one stays `""`, so the
/// validator names its input).
const OPTIONAL: &[&str] =
    &["save_to", "value", "from", "time", "secret", "body", "offset_days", "header", "buttons", "caption", "filename"];

/// Optional keys of a template send's header (`…header.name` is not the automation's `name`).
const HEADER_OPTIONAL: &[&str] = &["filename", "name", "address"];

/// The document a submitted form describes. Inputs whose names are not paths are refused.
pub fn document_from_form(pairs: &[(String, String)]) -> Result<Value, BadPath> {
    let mut doc = Value::Object(Map::new());
    let mut parts = TemplateParts::default();
    for (name, raw) in pairs {
        let segs = parse_path(name)?;
        let Some(Seg::Key(key)) = segs.last() else { return Err(BadPath(name.clone())) };
        let key = key.as_str();
        let in_header = parts.note(&segs, key);
        if BRANCH_LISTS.contains(&key) && raw.is_empty() {
            let slot = slot(&mut doc, &segs);
            if !slot.is_array() {
                *slot = Value::Array(Vec::new());
            }
            continue;
        }
        let value = if key == "sections" {
            menu_from_text(raw)
        } else if LINES.contains(&key) {
            lines(key, raw)
        } else if BOOLS.contains(&key) {
            Value::Bool(raw == "true" || raw == "on")
        } else if raw.trim().is_empty() && (OPTIONAL.contains(&key) || in_header && HEADER_OPTIONAL.contains(&key)) {
            remove(&mut doc, &segs);
            continue;
        } else if NUMBERS.contains(&key) {
            raw.trim().parse::<i64>().map_or_else(|_| json!(raw), |n| json!(n))
        } else if DECIMALS.contains(&key) {
            decimal(raw)
        } else if JSON.contains(&key) {
            serde_json::from_str(raw).unwrap_or_else(|_| json!(raw))
        } else {
            json!(raw)
        };
        let slot = slot(&mut doc, &segs);
        if REPEATED.contains(&key) {
            match slot {
                Value::Array(items) => items.push(value),
                other => *other = json!([value]),
            }
        } else {
            *slot = value;
        }
    }
    parts.tidy(&mut doc);
    Ok(doc)
}

/// A number written in a form (`45.4642`, `45,4642`, `-9`) as JSON writes it, so a document's
/// number reads back the same; anything else stays the text typed.
fn decimal(raw: &str) -> Value {
    let trimmed = raw.trim();
    let number = |text: &str| serde_json::from_str::<serde_json::Number>(text).ok();
    let comma = (!trimmed.contains('.')).then(|| trimmed.replacen(',', ".", 1));
    match number(trimmed).or_else(|| comma.as_deref().and_then(number)) {
        Some(n) => Value::Number(n),
        None => json!(raw),
    }
}

/// Where a form wrote a template send's header and button parameters input by input (not as
/// JSON text, which is kept as written), so they can be tidied once the form is read.
#[derive(Default)]
struct TemplateParts {
    /// `…action.header` paths with inputs of their own (`…header.type`, `…header.link`).
    headers: Vec<Vec<Seg>>,
    /// `…action.buttons` lists, and whether their rows were template button parameters
    /// (`…buttons[0].index`) or `send_buttons` buttons (`…buttons[0].title`).
    buttons: Vec<(Vec<Seg>, bool)>,
}

impl TemplateParts {
    /// Notes the input at `segs` (whose last key is `key`); whether it is inside a header.
    fn note(&mut self, segs: &[Seg], key: &str) -> bool {
        let n = segs.len();
        let parent_is = |at: usize, name: &str| n > at && matches!(&segs[n - 1 - at], Seg::Key(k) if k == name);
        if parent_is(1, "header") {
            let header = segs[..n - 1].to_vec();
            if !self.headers.contains(&header) {
                self.headers.push(header);
            }
            return true;
        }
        if parent_is(2, "buttons") && matches!(segs[n - 2], Seg::Index(_)) {
            let list = segs[..n - 2].to_vec();
            let params = ["index", "type", "text", "payload", "code"].contains(&key);
            if !self.buttons.iter().any(|(l, _)| *l == list) {
                self.buttons.push((list, params));
            }
        }
        false
    }

    /// A header whose type is "none" (empty) is dropped, and one of a known type keeps only its
    /// type's keys (the inputs of the type it had before a change are still posted once). A
    /// button parameter left empty is left out; a type change drops the other kind's buttons
    /// (a template's parameters are not a `send_buttons` list, nor the other way round).
    fn tidy(&self, doc: &mut Value) {
        for header in &self.headers {
            let Some(Value::Object(object)) = get_mut(doc, header) else { continue };
            match object.get("type").and_then(Value::as_str) {
                Some("") => {
                    remove(doc, header);
                }
                Some(kind) if super::fields::HEADERS.contains(&kind) => {
                    let specs = super::fields::header(kind);
                    object.retain(|key, _| key == "type" || specs.iter().any(|s| s.key == key));
                }
                _ => {}
            }
        }
        for (list, params) in &self.buttons {
            let action = &list[..list.len() - 1];
            let template_send =
                get(doc, action).and_then(|a| a.get("type")).and_then(Value::as_str) == Some("send_template");
            if template_send != *params {
                remove(doc, list);
                continue;
            }
            if let Some(Value::Array(rows)) = get_mut(doc, list).filter(|_| *params) {
                rows.retain(|row| {
                    let key = row.get("type").and_then(Value::as_str).and_then(super::fields::button_param_key);
                    match key {
                        Some(key) => row.get(key).and_then(Value::as_str).is_some_and(|v| !v.trim().is_empty()),
                        None => !row.is_null(),
                    }
                });
                if rows.is_empty() {
                    remove(doc, list);
                }
            }
        }
    }
}

/// A list message's sections written as a menu, one line each: `# Title` starts a section, any
/// other line is a row, `Title | description | id` (the description and the id optional; the
/// id is the title when absent). Rows before any `#` line make a section without a title. Text
/// starting with `[` is read as the sections' JSON.
pub fn menu_from_text(raw: &str) -> Value {
    if raw.trim_start().starts_with('[') {
        return serde_json::from_str(raw).unwrap_or_else(|_| json!(raw));
    }
    let mut sections: Vec<Value> = Vec::new();
    for line in raw.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if let Some(title) = line.strip_prefix('#') {
            sections.push(json!({ "title": title.trim(), "rows": [] }));
            continue;
        }
        if sections.is_empty() {
            sections.push(json!({ "rows": [] }));
        }
        let mut parts = line.split('|').map(str::trim);
        let title = parts.next().unwrap_or_default();
        let description = parts.next().filter(|d| !d.is_empty());
        let id = parts.next().filter(|i| !i.is_empty()).unwrap_or(title);
        let mut row = json!({ "id": id, "title": title });
        if let Some(description) = description {
            row["description"] = json!(description);
        }
        let section = sections.last_mut().expect("a section was pushed");
        section["rows"].as_array_mut().expect("rows are an array").push(row);
    }
    Value::Array(sections)
}

/// A list message's sections as the menu text [`menu_from_text`] reads.
pub fn menu_to_text(sections: &Value) -> String {
    let Some(sections) = sections.as_array() else { return sections.as_str().unwrap_or_default().to_string() };
    let mut lines = Vec::new();
    for section in sections {
        if let Some(title) = section.get("title").and_then(Value::as_str) {
            lines.push(format!("# {title}"));
        }
        for row in section.get("rows").and_then(Value::as_array).into_iter().flatten() {
            let text = |key: &str| row.get(key).and_then(Value::as_str).unwrap_or_default();
            let (title, description, id) = (text("title"), text("description"), text("id"));
            lines.push(match (description.is_empty(), id == title) {
                (true, true) => title.to_string(),
                (false, true) => format!("{title} | {description}"),
                (true, false) => format!("{title} | | {id}"),
                (false, false) => format!("{title} | {description} | {id}"),
            });
        }
    }
    lines.join("\n")
}

/// A list written one item per line; `params` written as `name=value` lines (a template with
/// named parameters) is an object of names.
fn lines(key: &str, raw: &str) -> Value {
    let items: Vec<&str> = raw.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    fn named(line: &str) -> Option<(&str, &str)> {
        let (name, value) = line.split_once('=')?;
        let name = name.trim();
        let valid = !name.is_empty() && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        valid.then_some((name, value.trim()))
    }
    if key == "params" && !items.is_empty() && items.iter().all(|l| named(l).is_some()) {
        let pairs = items.iter().filter_map(|l| named(l)).map(|(name, value)| (name.to_string(), json!(value)));
        return Value::Object(pairs.collect());
    }
    Value::Array(items.into_iter().map(|l| json!(l)).collect())
}

/// The value at `segs`, created (objects, arrays padded with nulls) when missing.
fn slot<'a>(doc: &'a mut Value, segs: &[Seg]) -> &'a mut Value {
    let mut at = doc;
    for seg in segs {
        at = match seg {
            Seg::Key(k) => {
                if !at.is_object() {
                    *at = Value::Object(Map::new());
                }
                at.as_object_mut().expect("made an object").entry(k.clone()).or_insert(Value::Null)
            }
            Seg::Index(i) => {
                if !at.is_array() {
                    *at = Value::Array(Vec::new());
                }
                let items = at.as_array_mut().expect("made an array");
                if items.len() <= *i {
                    items.resize(i + 1, Value::Null);
                }
                &mut items[*i]
            }
        };
    }
    at
}

/// The value at `segs`, if there is one.
pub fn get<'a>(doc: &'a Value, segs: &[Seg]) -> Option<&'a Value> {
    segs.iter().try_fold(doc, |at, seg| match seg {
        Seg::Key(k) => at.get(k),
        Seg::Index(i) => at.get(i),
    })
}

fn get_mut<'a>(doc: &'a mut Value, segs: &[Seg]) -> Option<&'a mut Value> {
    segs.iter().try_fold(doc, |at, seg| match seg {
        Seg::Key(k) => at.get_mut(k),
        Seg::Index(i) => at.get_mut(i),
    })
}

/// Removes the value at `segs` (an object's key or an array's item).
fn remove(doc: &mut Value, segs: &[Seg]) -> Option<Value> {
    let (last, parent) = segs.split_last()?;
    match (get_mut(doc, parent)?, last) {
        (Value::Object(map), Seg::Key(k)) => map.shift_remove(k),
        (Value::Array(items), Seg::Index(i)) if *i < items.len() => Some(items.remove(*i)),
        _ => None,
    }
}

/// What one of the editor's buttons does to the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Edit {
    /// Re-render only (a type changed: the inputs of the new type appear).
    Refresh,
    /// Appends a new step to the list of steps at the path (`steps`, `...branches[0].steps`).
    AddStep(Vec<Seg>),
    /// Appends an item to the list at the path: a button, a reply branch, a condition branch.
    AddItem(Vec<Seg>),
    /// Makes the optional branch list at the path exist (`otherwise`, `on_timeout`).
    AddBranchList(Vec<Seg>),
    /// Removes the list item (or optional branch list) at the path.
    Remove(Vec<Seg>),
    /// Moves the list item at the path one place up or down.
    MoveUp(Vec<Seg>),
    MoveDown(Vec<Seg>),
}

impl Edit {
    /// Reads a button's value, `verb:path` (`add-step:steps[1].action.otherwise`, `remove:steps[2]`).
    pub fn parse(raw: &str) -> Result<Self, BadPath> {
        if raw == "refresh" {
            return Ok(Self::Refresh);
        }
        let bad = || BadPath(raw.to_string());
        let (verb, path) = raw.split_once(':').ok_or_else(bad)?;
        let segs = parse_path(path)?;
        Ok(match verb {
            "add-step" => Self::AddStep(segs),
            "add-item" => Self::AddItem(segs),
            "add-branches" => Self::AddBranchList(segs),
            "remove" => Self::Remove(segs),
            "up" => Self::MoveUp(segs),
            "down" => Self::MoveDown(segs),
            _ => return Err(bad()),
        })
    }

    /// Applies the edit; an edit whose path names nothing changes nothing.
    pub fn apply(&self, doc: &mut Value) {
        match self {
            Self::Refresh => {}
            Self::AddStep(list) => {
                let step = json!({ "after": "0s", "action": { "type": "send_text", "text": "" } });
                push(doc, list, step);
            }
            Self::AddItem(list) => {
                let item = match list.last() {
                    Some(Seg::Key(k)) if k == "buttons" => json!({ "id": "", "title": "" }),
                    Some(Seg::Key(k)) if k == "branches" => {
                        let flow = &list[..list.len() - 1];
                        match get(doc, flow).and_then(|a| a.get("type")).and_then(Value::as_str) {
                            Some("condition") => json!({ "if": { "has_tag": "" }, "steps": [] }),
                            _ => json!({ "reply": [], "steps": [] }),
                        }
                    }
                    _ => return,
                };
                push(doc, list, item);
            }
            Self::AddBranchList(list) => {
                if get(doc, list).is_none() {
                    *slot(doc, list) = json!([]);
                }
            }
            Self::Remove(at) => {
                remove(doc, at);
            }
            Self::MoveUp(at) | Self::MoveDown(at) => {
                let Some((Seg::Index(i), parent)) = at.split_last() else { return };
                let Some(Value::Array(items)) = get_mut(doc, parent) else { return };
                let j = if matches!(self, Self::MoveUp(_)) { i.checked_sub(1) } else { Some(i + 1) };
                if let Some(j) = j.filter(|j| *j < items.len() && *i < items.len()) {
                    items.swap(*i, j);
                }
            }
        }
    }
}

fn push(doc: &mut Value, list: &[Seg], item: Value) {
    let at = slot(doc, list);
    match at {
        Value::Array(items) if items.len() <= MAX_INDEX => items.push(item),
        Value::Array(_) => {}
        other => *other = json!([item]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn a_path_reads_into_segments_and_back() {
        let raw = "steps[1].action.branches[0].steps[12].action.text";
        assert_eq!(write_path(&parse_path(raw).unwrap()), raw);
        for bad in ["", "steps[", "steps[x]", "steps[1]x", "a..b", "steps[1000000]", "a-b", "<script>"] {
            assert!(parse_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_form_reads_into_the_document_its_inputs_name_in_their_order() {
        let doc = document_from_form(&form(&[
            ("name", "1.1 primo messaggio"),
            ("enabled", "false"),
            ("enabled", "true"),
            ("trigger.type", "customer_message"),
            ("trigger.phrase", "Ciao"),
            ("steps[0].after", "0s"),
            ("steps[0].action.type", "wait_for_reply"),
            ("steps[0].action.timeout", "1d"),
            ("steps[0].action.save_to", ""),
            ("steps[0].action.branches[0].reply", "Sì\r\n  si \n\n"),
            ("steps[0].action.branches[0].steps[0].after", "2h"),
            ("steps[0].action.branches[0].steps[0].action.type", "wait_until"),
            ("steps[0].action.branches[0].steps[0].action.days", "mon"),
            ("steps[0].action.branches[0].steps[0].action.days", "tue"),
            ("steps[0].action.otherwise[0].action.type", "condition"),
            ("steps[0].action.otherwise[0].action.branches[0].if", r#"{"has_tag": "vip"}"#),
        ]))
        .unwrap();
        assert_eq!(
            doc,
            json!({
                "name": "1.1 primo messaggio", "enabled": true,
                "trigger": { "type": "customer_message", "phrase": "Ciao" },
                "steps": [ { "after": "0s", "action": { "type": "wait_for_reply", "timeout": "1d",
                    "branches": [ { "reply": ["Sì", "si"], "steps": [ { "after": "2h",
                        "action": { "type": "wait_until", "days": ["mon", "tue"] } } ] } ],
                    "otherwise": [ { "action": { "type": "condition",
                        "branches": [ { "if": { "has_tag": "vip" } } ] } } ] } } ]
            })
        );
        let keys: Vec<&String> = doc["steps"][0]["action"].as_object().unwrap().keys().collect();
        assert_eq!(keys[0], "type", "the type comes first, as the form has it");
    }

    #[test]
    fn json_that_does_not_parse_stays_text_for_the_validator_to_name() {
        let doc = document_from_form(&form(&[("steps[0].action.branches[0].if", "{has_tag")])).unwrap();
        assert_eq!(doc["steps"][0]["action"]["branches"][0]["if"], "{has_tag");
    }

    #[test]
    fn an_empty_branch_list_stays_whether_its_marker_comes_before_or_after_its_steps() {
        let doc = document_from_form(&form(&[
            ("steps[0].action.type", "wait_for_reply"),
            ("steps[0].action.on_timeout", ""),
            ("steps[0].action.otherwise", ""),
            ("steps[0].action.otherwise[0].after", "0s"),
        ]))
        .unwrap();
        assert_eq!(doc["steps"][0]["action"]["on_timeout"], json!([]), "a list with no step yet");
        assert_eq!(doc["steps"][0]["action"]["otherwise"], json!([{ "after": "0s" }]));
        let doc = document_from_form(&form(&[
            ("steps[0].action.otherwise[0].after", "0s"),
            ("steps[0].action.otherwise", ""),
        ]))
        .unwrap();
        assert_eq!(doc["steps"][0]["action"]["otherwise"], json!([{ "after": "0s" }]), "the steps are kept");
    }

    #[test]
    fn a_list_menu_is_written_one_line_a_row_and_reads_back_the_same() {
        let text = "# Sedi\nMilano | Via Roma 1\nTorino\n# Altro\nParla con noi | | operatore";
        let sections = menu_from_text(text);
        assert_eq!(
            sections,
            json!([
                { "title": "Sedi", "rows": [ { "id": "Milano", "title": "Milano", "description": "Via Roma 1" },
                                             { "id": "Torino", "title": "Torino" } ] },
                { "title": "Altro", "rows": [ { "id": "operatore", "title": "Parla con noi" } ] }
            ])
        );
        assert_eq!(menu_to_text(&sections), text);
        assert_eq!(
            menu_from_text("Sì\nNo"),
            json!([{ "rows": [ { "id": "Sì", "title": "Sì" }, { "id": "No", "title": "No" } ] }])
        );
        assert_eq!(menu_from_text(r#"[{"rows": []}]"#), json!([{ "rows": [] }]), "JSON still reads");
    }

    #[test]
    fn a_number_reads_as_json_writes_it_and_anything_else_stays_text() {
        assert_eq!(decimal("45.4642"), json!(45.4642));
        assert_eq!(decimal(" 45,4642 "), json!(45.4642), "a decimal comma");
        assert_eq!(decimal("-9"), json!(-9), "a whole number stays whole");
        assert_eq!(decimal("1,000.5"), json!("1,000.5"));
        assert_eq!(decimal("a nord"), json!("a nord"));
    }

    #[test]
    fn a_template_sends_header_and_button_inputs_are_tidied_once_read() {
        let read = |pairs: &[(&str, &str)]| document_from_form(&form(pairs)).unwrap()["steps"][0]["action"].clone();
        let action = read(&[
            ("steps[0].action.type", "send_template"),
            ("steps[0].action.header.type", "text"),
            ("steps[0].action.header.link", "https://left.over/a.jpg"),
            ("steps[0].action.header.text", "Ciao"),
            ("steps[0].action.buttons[0].type", "quick_reply"),
            ("steps[0].action.buttons[0].index", "0"),
            ("steps[0].action.buttons[0].payload", ""),
            ("steps[0].action.buttons[1].type", "url"),
            ("steps[0].action.buttons[1].index", "1"),
            ("steps[0].action.buttons[1].text", "natale"),
        ]);
        assert_eq!(
            action,
            json!({ "type": "send_template", "header": { "type": "text", "text": "Ciao" },
                    "buttons": [ { "type": "url", "index": 1, "text": "natale" } ] })
        );
        let action = read(&[
            ("steps[0].action.type", "send_template"),
            ("steps[0].action.header.type", ""),
            ("steps[0].action.header.name", "left over"),
            ("steps[0].action.buttons[0].type", "quick_reply"),
            ("steps[0].action.buttons[0].index", "0"),
            ("steps[0].action.buttons[0].payload", " "),
        ]);
        assert_eq!(action, json!({ "type": "send_template" }), "no header, no parameter given");
        let action = read(&[
            ("steps[0].action.type", "send_buttons"),
            ("steps[0].action.buttons[0].type", "url"),
            ("steps[0].action.buttons[0].index", "0"),
            ("steps[0].action.buttons[0].text", "natale"),
        ]);
        assert_eq!(action, json!({ "type": "send_buttons" }), "a template's parameters are not its buttons");
        let action = read(&[
            ("steps[0].action.type", "send_template"),
            ("steps[0].action.buttons[0].title", "Prezzi"),
            ("steps[0].action.header", r#"{"type": "image", "link": "https://x.example/a.jpg", "caption": "x"}"#),
        ]);
        assert_eq!(
            action,
            json!({ "type": "send_template", "header": { "type": "image", "link": "https://x.example/a.jpg", "caption": "x" } }),
            "send_buttons' buttons are dropped; a header written as JSON is kept as written"
        );
    }

    #[test]
    fn an_input_that_is_not_a_path_is_refused() {
        assert!(document_from_form(&form(&[("steps[0]]", "x")])).is_err());
        assert!(document_from_form(&form(&[("steps[0]", "x")])).is_err(), "a value is always at a key");
    }

    #[test]
    fn steps_and_branches_are_added_moved_and_removed() {
        let mut doc =
            json!({ "steps": [ { "after": "0s", "action": { "type": "wait_for_reply", "timeout": "1d" } } ] });
        let edit = |raw: &str, doc: &mut Value| Edit::parse(raw).unwrap().apply(doc);
        edit("add-item:steps[0].action.branches", &mut doc);
        edit("add-step:steps[0].action.branches[0].steps", &mut doc);
        edit("add-branches:steps[0].action.on_timeout", &mut doc);
        edit("add-step:steps", &mut doc);
        assert_eq!(
            doc["steps"][0]["action"]["branches"][0],
            json!({ "reply": [], "steps": [
            { "after": "0s", "action": { "type": "send_text", "text": "" } } ] })
        );
        assert_eq!(doc["steps"][0]["action"]["on_timeout"], json!([]));
        edit("up:steps[1]", &mut doc);
        assert_eq!(doc["steps"][0]["action"]["type"], "send_text");
        edit("down:steps[0]", &mut doc);
        edit("down:steps[1]", &mut doc);
        assert_eq!(doc["steps"][0]["action"]["type"], "wait_for_reply", "the last step stays last");
        edit("remove:steps[0].action.on_timeout", &mut doc);
        edit("remove:steps[1]", &mut doc);
        edit("remove:steps[7]", &mut doc);
        assert_eq!(doc["steps"].as_array().unwrap().len(), 1);
        assert!(doc["steps"][0]["action"].get("on_timeout").is_none());
        let mut condition = json!({ "steps": [ { "action": { "type": "condition", "branches": [] } } ] });
        edit("add-item:steps[0].action.branches", &mut condition);
        assert_eq!(condition["steps"][0]["action"]["branches"][0]["if"], json!({ "has_tag": "" }));
        assert!(Edit::parse("explode:steps").is_err());
    }
}
