//! An automation drawn as a Mermaid `flowchart TD` (`GET /v1/automations/{id}/diagram`):
//! the trigger, each step with its delay and a short summary of its action, and the
//! branches of flow steps, drawn the way the engine runs them.
//!
//! - A step goes on to the next step of its list; the end of a list is the end of the run
//!   (`End`): a branch's steps end the run when they end (SPEC §2.3), an empty branch at once.
//! - `wait_for_reply`: an edge per branch (its reply wordings), `otherwise` (absent: a reply
//!   that matches nothing is not taken and the run keeps waiting, a loop on the step) and
//!   `no reply after <timeout>` (`on_timeout`, absent: the run ends). `condition`: an edge per
//!   branch (its predicate) and `otherwise` (absent: the run ends).
//! - A flow step is the last of its list: steps after one (refused at save time) are never
//!   reached, so they are not drawn.
//!
//! Pure and deterministic: one statement per line, in document order. Node ids follow step
//! paths (`steps[1].action.branches[0].steps[2]` → `s1_b0_2`, `otherwise[0]` → `o0`,
//! `on_timeout[0]` → `t0`). Every label is quoted, and the document's text in it is cut to a
//! few words and written with Mermaid's entity codes (`#quot;`, `#35;`, …) for anything but
//! letters, digits, spaces and plain punctuation, so no text can end a label, a line or a
//! statement.

use crate::domain::automation::{Action, Automation, Predicate, Step, Trigger};
use crate::domain::duration::Duration;
use std::fmt::Write;

/// The start node's id.
const START: &str = "start";
/// The end node's id (`end` is a Mermaid keyword).
const END: &str = "done";
/// How much of a free text (a message, a URL) a node shows.
const TEXT_CHARS: usize = 40;
/// How much of an edge label (reply wordings, a predicate) is shown.
const EDGE_CHARS: usize = 80;

/// The automation's flow as Mermaid `flowchart TD` text, ending with a newline.
pub fn mermaid(automation: &Automation) -> String {
    let mut chart = Chart { text: String::from("flowchart TD\n") };
    chart.node(START, Shape::Rounded, &trigger_label(&automation.trigger));
    chart.edge(START, None, &entry(&automation.steps, "s"));
    chart.steps(&automation.steps, "s");
    chart.node(END, Shape::Rounded, &Label::of("End"));
    chart.text
}

/// The first node of a list of steps whose ids start with `prefix` (an empty list: the end).
fn entry(steps: &[Step], prefix: &str) -> String {
    if steps.is_empty() { END.to_string() } else { format!("{prefix}0") }
}

#[derive(Clone, Copy)]
enum Shape {
    /// A rounded box: the trigger and the end.
    Rounded,
    /// A box: a step.
    Step,
    /// A rhombus: a flow step that chooses a branch.
    Choice,
}

/// The text being written, one statement per line.
struct Chart {
    text: String,
}

impl Chart {
    fn node(&mut self, id: &str, shape: Shape, label: &Label) {
        let (open, close) = match shape {
            Shape::Rounded => ("([", "])"),
            Shape::Step => ("[", "]"),
            Shape::Choice => ("{", "}"),
        };
        let _ = writeln!(self.text, "    {id}{open}\"{}\"{close}", label.text);
    }

    fn edge(&mut self, from: &str, label: Option<&Label>, to: &str) {
        let _ = match label {
            Some(label) => writeln!(self.text, "    {from} -->|\"{}\"| {to}", label.text),
            None => writeln!(self.text, "    {from} --> {to}"),
        };
    }

    /// Draws `steps`, whose ids are `prefix` and their index, and every branch in them.
    fn steps(&mut self, steps: &[Step], prefix: &str) {
        for (index, step) in steps.iter().enumerate() {
            let id = format!("{prefix}{index}");
            if step.action.branches() {
                self.node(&id, Shape::Choice, &step_label(step));
                self.branches(&id, &step.action);
                // A flow step is the last of its list: the run never goes past it.
                return;
            }
            self.node(&id, Shape::Step, &step_label(step));
            let next = if index + 1 < steps.len() { format!("{prefix}{}", index + 1) } else { END.to_string() };
            self.edge(&id, None, &next);
        }
    }

    /// The exits of the flow step `id`, then each branch's steps.
    fn branches<'a>(&mut self, id: &str, action: &'a Action) {
        let mut lists: Vec<(String, &'a [Step])> = Vec::new();
        let mut exit = |chart: &mut Self, label: Label, steps: Option<&'a [Step]>, prefix: String| match steps {
            Some(steps) => {
                chart.edge(id, Some(&label), &entry(steps, &prefix));
                lists.push((prefix, steps));
            }
            None => chart.edge(id, Some(&label), END),
        };
        match action {
            Action::WaitForReply { timeout, branches, otherwise, on_timeout, .. } => {
                for (i, branch) in branches.iter().enumerate() {
                    let mut label = Label::new(EDGE_CHARS);
                    for (n, wording) in branch.reply.iter().enumerate() {
                        if n > 0 {
                            label.ours(" / ");
                        }
                        label.theirs(wording.text(), EDGE_CHARS);
                    }
                    exit(self, label, Some(&branch.steps), format!("{id}_b{i}_"));
                }
                match otherwise {
                    Some(steps) => exit(self, Label::of("otherwise"), Some(steps), format!("{id}_o")),
                    // Not taken: the message goes on to the triggers, the run keeps waiting.
                    None => self.edge(id, Some(&Label::of("no match: keeps waiting")), id),
                }
                let label = Label::of(&format!("no reply after {timeout}"));
                exit(self, label, on_timeout.as_deref(), format!("{id}_t"));
            }
            Action::Condition { branches, otherwise } => {
                for (i, branch) in branches.iter().enumerate() {
                    let mut label = Label::new(EDGE_CHARS);
                    predicate(&mut label, &branch.when, false);
                    exit(self, label, Some(&branch.steps), format!("{id}_b{i}_"));
                }
                exit(self, Label::of("otherwise"), otherwise.as_deref(), format!("{id}_o"));
            }
            _ => {}
        }
        for (prefix, steps) in lists {
            self.steps(steps, &prefix);
        }
    }
}

/// The trigger's kind and what sets it off (never an integration's secret).
fn trigger_label(trigger: &Trigger) -> Label {
    let mut label = Label::new(usize::MAX);
    label.ours(trigger.kind());
    match trigger {
        Trigger::CustomerMessage { phrase } => {
            label.ours(": ");
            label.theirs(phrase.as_str(), TEXT_CHARS);
        }
        Trigger::Integration { .. } => {}
        Trigger::List { list } => {
            label.ours(": ");
            label.theirs(list.as_str(), TEXT_CHARS);
        }
        Trigger::Date { field, offset_days, time, annual } => {
            label.ours(&format!(": at {} on ", time.0.format("%H:%M")));
            label.theirs(field.as_str(), TEXT_CHARS);
            if *offset_days != 0 {
                label.ours(&format!(" {offset_days:+}d"));
            }
            if *annual {
                label.ours(", every year");
            }
        }
        Trigger::OutsideHours { cooldown } | Trigger::Holiday { cooldown } => {
            label.ours(&format!(": once per {cooldown}"));
        }
        Trigger::Consent { marketing } => {
            label.ours(": ");
            label.ours(marketing.as_str());
        }
    }
    label
}

/// The step's delay (when not zero), its action's kind and a summary of what it does.
fn step_label(step: &Step) -> Label {
    let mut label = Label::new(usize::MAX);
    if step.after != Duration::ZERO {
        label.ours(&format!("after {} · ", step.after));
    }
    let action = &step.action;
    label.ours(&wire(action.kind()));
    let mut say = |text: &str| {
        label.ours(": ");
        label.theirs(text, TEXT_CHARS);
    };
    match action {
        Action::SendTemplate { template, language, .. } => {
            say(template.as_str());
            label.ours(" (");
            label.theirs(language.as_str(), TEXT_CHARS);
            label.ours(")");
        }
        Action::SendText { text } => say(text.source()),
        Action::SendButtons { text, buttons } => {
            say(text.source());
            for (n, button) in buttons.iter().enumerate() {
                label.ours(if n == 0 { " · " } else { " / " });
                label.theirs(&button.title, TEXT_CHARS);
            }
        }
        Action::SendMedia { media, caption, .. } => {
            label.ours(": ");
            label.ours(media.as_str());
            if let Some(caption) = caption {
                label.ours(" · ");
                label.theirs(caption.source(), TEXT_CHARS);
            }
        }
        Action::SendList { text, button, .. } => {
            say(text.source());
            label.ours(" · ");
            label.theirs(button, TEXT_CHARS);
        }
        Action::SendCtaUrl { text, display_text, .. } => {
            say(text.source());
            label.ours(" · ");
            label.theirs(display_text, TEXT_CHARS);
        }
        Action::AddTag { tag } | Action::RemoveTag { tag } => say(tag.as_str()),
        Action::AddToList { list } | Action::RemoveFromList { list } => say(list.as_str()),
        Action::SetField { field, value, .. } => {
            say(field.as_str());
            match value {
                Some(value) => {
                    label.ours(" = ");
                    label.theirs(value.source(), TEXT_CHARS);
                }
                None => label.ours(" from the next reply"),
            }
        }
        Action::SendWebhook { url, .. } => say(url),
        Action::AssignOperator { operator } => say(operator.as_str()),
        Action::SetConsent { marketing } => {
            label.ours(": ");
            label.ours(marketing.as_str());
        }
        Action::WaitForReply { timeout, save_to, .. } => {
            label.ours(&format!(": up to {timeout}"));
            if let Some(field) = save_to {
                label.ours(", saved to ");
                label.theirs(field.as_str(), TEXT_CHARS);
            }
        }
        Action::WaitUntil { time, days, working_hours } => {
            match time {
                Some(time) if !working_hours => label.ours(&format!(": until {}", time.0.format("%H:%M"))),
                _ => label.ours(": until working hours"),
            }
            for (n, day) in days.iter().flatten().enumerate() {
                label.ours(if n == 0 { " on " } else { ", " });
                label.ours(&wire(day));
            }
        }
        Action::StartAutomation { automation } => say(automation.as_str()),
        Action::BlockContact {}
        | Action::UnblockContact {}
        | Action::UnassignOperator {}
        | Action::Condition { .. } => {}
    }
    label
}

/// A short rendering of a condition's predicate (`nested`: inside `all`, `any` or `not`).
fn predicate(label: &mut Label, when: &Predicate, nested: bool) {
    let on_off = |b: &bool, yes: &'static str, no: &'static str| if *b { yes } else { no };
    match when {
        Predicate::HasTag(tag) => {
            label.ours("has tag ");
            label.theirs(tag.as_str(), TEXT_CHARS);
        }
        Predicate::InList(list) => {
            label.ours("in list ");
            label.theirs(list.as_str(), TEXT_CHARS);
        }
        Predicate::FieldEquals { field, value } => {
            label.theirs(field.as_str(), TEXT_CHARS);
            label.ours(" = ");
            label.theirs(value.text(), TEXT_CHARS);
        }
        Predicate::FieldExists { field, exists } => {
            label.theirs(field.as_str(), TEXT_CHARS);
            label.ours(on_off(exists, " is set", " is not set"));
        }
        Predicate::HasOperator(b) => label.ours(on_off(b, "has an operator", "has no operator")),
        Predicate::WorkingHours(b) => label.ours(on_off(b, "in working hours", "outside working hours")),
        Predicate::ServiceWindowOpen(b) => label.ours(on_off(b, "service window open", "service window closed")),
        Predicate::Marketing(consent) => label.ours(&format!("marketing {}", wire(consent))),
        Predicate::All(all) => joined(label, all, " and ", nested),
        Predicate::Any(any) => joined(label, any, " or ", nested),
        Predicate::Not(not) => {
            label.ours("not ");
            predicate(label, not, true);
        }
    }
}

fn joined(label: &mut Label, predicates: &[Predicate], with: &'static str, nested: bool) {
    if nested {
        label.ours("(");
    }
    for (n, p) in predicates.iter().enumerate() {
        if n > 0 {
            label.ours(with);
        }
        predicate(label, p, true);
    }
    if nested {
        label.ours(")");
    }
}

/// A value's name as documents write it (`send_text`, `opted_in`, `mon`).
fn wire(value: impl serde::Serialize) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => name,
        _ => String::new(),
    }
}

/// A label's text, escaped as it is built, shown up to a number of characters (then `…`).
struct Label {
    text: String,
    /// How many more characters may be shown.
    left: usize,
}

impl Label {
    fn new(limit: usize) -> Self {
        Self { text: String::new(), left: limit }
    }

    /// A label of Avvio's own words.
    fn of(words: &str) -> Self {
        let mut label = Self::new(usize::MAX);
        label.ours(words);
        label
    }

    /// Avvio's own words (kinds, durations, times): letters, digits and punctuation that
    /// never needs escaping inside a quoted label.
    fn ours(&mut self, words: &str) {
        debug_assert!(words.chars().all(|c| c.is_alphanumeric() || " .,:_+-/()=·".contains(c)), "{words}");
        for c in words.chars() {
            if !self.room() {
                return;
            }
            self.text.push(c);
        }
    }

    /// The document's text: blanks collapsed to one space, cut at `max` characters (then
    /// `…`), everything but letters, digits, spaces and plain punctuation as entity codes.
    fn theirs(&mut self, text: &str, max: usize) {
        let words: Vec<&str> =
            text.split(|c: char| c.is_whitespace() || c.is_control()).filter(|w| !w.is_empty()).collect();
        let plain = words.join(" ");
        let mut chars = plain.chars();
        for c in chars.by_ref().take(max) {
            if !self.room() {
                return;
            }
            escape(c, &mut self.text);
        }
        if chars.next().is_some() {
            self.ellipsis();
        }
    }

    /// Whether one more character may be shown; the first past the limit shows as `…`.
    fn room(&mut self) -> bool {
        if self.left == 0 {
            self.ellipsis();
            return false;
        }
        self.left -= 1;
        true
    }

    fn ellipsis(&mut self) {
        if !self.text.ends_with('…') {
            self.text.push('…');
        }
    }
}

/// The punctuation written as it is in a quoted label.
const PLAIN: &str = " .,-_/!?'+*=@";

/// Writes `c` as Mermaid shows it inside a quoted label: letters, digits, spaces and plain
/// punctuation as they are, anything else as an entity code (`#quot;`, `#35;`), so text can
/// never end the label or the line, start a comment or a directive, or be read as HTML. The
/// two characters Mermaid marks its own entity codes with (`ﬂ`, `¶`) are written as codes too.
fn escape(c: char, out: &mut String) {
    match c {
        '"' => out.push_str("#quot;"),
        '\u{FB02}' | '\u{B6}' => {
            let _ = write!(out, "#{};", u32::from(c));
        }
        c if c.is_ascii_alphanumeric() || PLAIN.contains(c) => out.push(c),
        c if !c.is_ascii() && !c.is_control() && !c.is_whitespace() => out.push(c),
        c => {
            let _ = write!(out, "#{};", u32::from(c));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};
    use std::collections::{BTreeMap, BTreeSet};

    fn automation(trigger: Value, steps: Value) -> Automation {
        serde_json::from_value(json!({ "id": "a", "name": "A", "trigger": trigger, "steps": steps })).unwrap()
    }

    fn phrase() -> Value {
        json!({ "type": "customer_message", "phrase": "Vorrei informazioni" })
    }

    fn step(action: Value) -> Value {
        json!({ "after": "0s", "action": action })
    }

    fn tag(tag: &str) -> Value {
        step(json!({ "type": "add_tag", "tag": tag }))
    }

    fn text(text: &str) -> Value {
        step(json!({ "type": "send_text", "text": text }))
    }

    /// A drawn chart read back: its nodes (id → label, entity codes decoded) and edges
    /// (from, label, to), in order. Panics on any line that is not one well-formed statement.
    struct Drawn {
        nodes: BTreeMap<String, String>,
        edges: Vec<(String, Option<String>, String)>,
    }

    impl Drawn {
        fn read(chart: &str) -> Self {
            let mut lines = chart.lines();
            assert_eq!(lines.next(), Some("flowchart TD"));
            assert!(chart.ends_with('\n') && !chart.ends_with("\n\n"), "{chart}");
            let mut drawn = Self { nodes: BTreeMap::new(), edges: Vec::new() };
            for line in lines {
                let line = line.strip_prefix("    ").unwrap_or_else(|| panic!("not indented: {line}"));
                if let Some((from, rest)) = line.split_once(" -->") {
                    let (label, to) = match rest.strip_prefix('|') {
                        Some(rest) => {
                            let (label, to) = rest.split_once("| ").unwrap_or_else(|| panic!("{line}"));
                            (Some(decode(unquote(label))), to)
                        }
                        None => (None, rest.strip_prefix(' ').unwrap_or_else(|| panic!("{line}"))),
                    };
                    drawn.edges.push((id(from).into(), label, id(to).into()));
                } else {
                    let open = line.find(['(', '[', '{']).unwrap_or_else(|| panic!("not a node: {line}"));
                    let (name, shape) = line.split_at(open);
                    let label = ["([", "[", "{"]
                        .iter()
                        .zip(["])", "]", "}"])
                        .find_map(|(o, c)| shape.strip_prefix(o)?.strip_suffix(c))
                        .unwrap_or_else(|| panic!("unknown shape: {line}"));
                    let before = drawn.nodes.insert(id(name).into(), decode(unquote(label)));
                    assert!(before.is_none(), "node {name} drawn twice");
                }
            }
            drawn
        }

        fn exits(&self, from: &str) -> Vec<(Option<&str>, &str)> {
            self.edges.iter().filter(|e| e.0 == from).map(|(_, l, to)| (l.as_deref(), to.as_str())).collect()
        }

        fn label(&self, id: &str) -> &str {
            self.nodes.get(id).unwrap_or_else(|| panic!("no node {id}"))
        }

        /// Every edge joins drawn nodes, every node but the start is entered, the end left by none.
        fn assert_connected(&self) {
            for (from, _, to) in &self.edges {
                assert!(self.nodes.contains_key(from) && self.nodes.contains_key(to), "{from} --> {to}");
            }
            let entered: BTreeSet<&str> = self.edges.iter().map(|e| e.2.as_str()).collect();
            for id in self.nodes.keys().filter(|id| *id != START) {
                assert!(entered.contains(id.as_str()), "nothing leads to {id}");
            }
            assert!(self.exits(END).is_empty());
        }
    }

    /// A Mermaid id: letters, digits and `_`.
    fn id(raw: &str) -> &str {
        assert!(!raw.is_empty() && raw.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'), "bad id `{raw}`");
        raw
    }

    /// The text of a quoted label, which must hold nothing that could end it, the line or a
    /// statement, nor start a comment, a directive or HTML.
    fn unquote(label: &str) -> &str {
        let inner = label.strip_prefix('"').and_then(|l| l.strip_suffix('"')).unwrap_or_else(|| panic!("{label}"));
        for forbidden in ['"', '\n', '\r', '<', '>', '&', '`', '|', '%', '{', '}', '[', ']', '\u{FB02}', '\u{B6}'] {
            assert!(!inner.contains(forbidden), "{forbidden:?} in {label}");
        }
        // `#` and `;` only as entity codes: `#quot;`, `#35;`.
        let mut rest = inner;
        while let Some(at) = rest.find(['#', ';']) {
            let code = rest[at..].strip_prefix('#').unwrap_or_else(|| panic!("a bare `;` in {label}"));
            let end = code.find(';').unwrap_or_else(|| panic!("an unterminated code in {label}"));
            assert!(code[..end].chars().all(|c| c.is_ascii_alphanumeric()) && end > 0, "{label}");
            rest = &code[end + 1..];
        }
        inner
    }

    /// Mermaid's entity codes back to the characters they stand for.
    fn decode(text: &str) -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(at) = rest.find('#') {
            out.push_str(&rest[..at]);
            let (code, after) = rest[at + 1..].split_once(';').unwrap();
            out.push(match code {
                "quot" => '"',
                n => char::from_u32(n.parse().unwrap()).unwrap(),
            });
            rest = after;
        }
        out + rest
    }

    #[test]
    fn a_linear_flow_is_the_trigger_then_each_step_with_its_delay_then_the_end() {
        let chart = mermaid(&automation(
            phrase(),
            json!([
                step(json!({ "type": "send_template", "template": "welcome", "language": "it", "params": ["{{name}}"] })),
                { "after": "10m", "action": { "type": "add_tag", "tag": "lead" } },
                { "after": "1d", "action": { "type": "send_text", "text": "Ciao {{name}}!" } },
            ]),
        ));
        let expected = r#"flowchart TD
    start(["customer_message: vorrei informazioni"])
    start --> s0
    s0["send_template: welcome (it)"]
    s0 --> s1
    s1["after 10m · add_tag: lead"]
    s1 --> s2
    s2["after 1d · send_text: Ciao #123;#123;name#125;#125;!"]
    s2 --> done
    done(["End"])
"#;
        assert_eq!(chart, expected);
        Drawn::read(&chart).assert_connected();
    }

    #[test]
    fn media_list_and_link_messages_are_labelled_by_what_the_contact_sees() {
        let steps = json!([
            step(
                json!({ "type": "send_media", "media": "document", "link": "https://x.it/a.pdf", "caption": "Il listino" })
            ),
            step(json!({ "type": "send_list", "text": "Dove ritiri?", "button": "Sedi",
                         "sections": [ { "rows": [ { "id": "mi", "title": "Milano" } ] } ] })),
            step(
                json!({ "type": "send_cta_url", "text": "Il negozio", "display_text": "Apri", "url": "https://x.it" })
            ),
        ]);
        let chart = mermaid(&automation(json!({ "type": "integration" }), steps));
        let drawn = Drawn::read(&chart);
        assert_eq!(drawn.label("s0"), "send_media: document · Il listino");
        assert_eq!(drawn.label("s1"), "send_list: Dove ritiri? · Sedi");
        assert_eq!(drawn.label("s2"), "send_cta_url: Il negozio · Apri");
    }

    #[test]
    fn a_wait_for_reply_leaves_by_each_branch_otherwise_and_its_timeout() {
        let wait = json!({ "after": "0s", "action": { "type": "wait_for_reply", "timeout": "24h", "save_to": "conferma",
            "branches": [
                { "reply": ["Confermo", "si"], "steps": [tag("confermato"), tag("cliente")] },
                { "reply": ["Annulla", "no"], "steps": [text("Va bene, a presto!")] } ],
            "otherwise": [ step(json!({ "type": "assign_operator", "operator": "anna@example.com" })) ],
            "on_timeout": [ step(json!({ "type": "send_template", "template": "promemoria", "language": "it" })) ] } });
        let buttons = step(json!({ "type": "send_buttons", "text": "Confermi l'appuntamento di domani?",
            "buttons": [ { "id": "si", "title": "Confermo" }, { "id": "no", "title": "Annulla" } ] }));
        let chart = mermaid(&automation(json!({ "type": "integration", "secret": "s3greto" }), json!([buttons, wait])));
        let drawn = Drawn::read(&chart);
        drawn.assert_connected();

        assert_eq!(drawn.label(START), "integration", "the secret is never shown");
        assert_eq!(drawn.label("s0"), "send_buttons: Confermi l'appuntamento di domani? · Confermo / Annulla");
        assert_eq!(drawn.label("s1"), "wait_for_reply: up to 1d, saved to conferma");
        assert!(chart.contains("    s1{\""), "a flow step is a rhombus: {chart}");
        assert_eq!(
            drawn.exits("s1"),
            [
                (Some("Confermo / si"), "s1_b0_0"),
                (Some("Annulla / no"), "s1_b1_0"),
                (Some("otherwise"), "s1_o0"),
                (Some("no reply after 1d"), "s1_t0"),
            ]
        );
        // Each branch runs to its end, and the run ends there.
        assert_eq!(drawn.exits("s1_b0_0"), [(None, "s1_b0_1")]);
        for last in ["s1_b0_1", "s1_b1_0", "s1_o0", "s1_t0"] {
            assert_eq!(drawn.exits(last), [(None, END)], "{last}");
        }
        assert_eq!(drawn.label("s1_o0"), "assign_operator: anna@example.com");
        assert_eq!(drawn.label("s1_t0"), "send_template: promemoria (it)");
    }

    #[test]
    fn a_wait_without_otherwise_keeps_waiting_and_without_on_timeout_ends_at_the_timeout() {
        let wait = step(json!({ "type": "wait_for_reply", "timeout": "1h30m",
            "branches": [ { "reply": ["Sì"], "steps": [tag("ok")] } ] }));
        let drawn = Drawn::read(&mermaid(&automation(phrase(), json!([wait]))));
        drawn.assert_connected();
        assert_eq!(
            drawn.exits("s0"),
            [(Some("Sì"), "s0_b0_0"), (Some("no match: keeps waiting"), "s0"), (Some("no reply after 1h30m"), END)]
        );
    }

    #[test]
    fn a_condition_leaves_by_each_predicate_and_nested_conditions_are_drawn_inside_their_branch() {
        let inner = step(json!({ "type": "condition",
            "branches": [ { "if": { "field": "city", "equals": "Milano" }, "steps": [tag("milanese")] } ],
            "otherwise": [tag("altrove")] }));
        let outer = json!({ "after": "2h", "action": { "type": "condition",
            "branches": [
                { "if": { "all": [ { "has_tag": "vip" }, { "not": { "marketing": "opted_out" } },
                                   { "any": [ { "in_list": "clienti" }, { "field": "email", "exists": true } ] } ] },
                  "steps": [inner] },
                { "if": { "working_hours": false }, "steps": [tag("fuori orario")] } ] } });
        let chart = mermaid(&automation(json!({ "type": "list", "list": "clienti" }), json!([outer])));
        let drawn = Drawn::read(&chart);
        drawn.assert_connected();

        assert_eq!(drawn.label(START), "list: clienti");
        assert_eq!(drawn.label("s0"), "after 2h · condition");
        let exits = drawn.exits("s0");
        assert_eq!(
            exits[0],
            (Some("has tag vip and not marketing opted_out and (in list clienti or email is set)"), "s0_b0_0")
        );
        assert_eq!(exits[1..], [(Some("outside working hours"), "s0_b1_0"), (Some("otherwise"), END)]);
        assert_eq!(
            drawn.exits("s0_b0_0"),
            [(Some("city = Milano"), "s0_b0_0_b0_0"), (Some("otherwise"), "s0_b0_0_o0")]
        );
        assert_eq!(drawn.label("s0_b0_0_b0_0"), "add_tag: milanese");
        for last in ["s0_b0_0_b0_0", "s0_b0_0_o0", "s0_b1_0"] {
            assert_eq!(drawn.exits(last), [(None, END)], "{last}");
        }
    }

    #[test]
    fn an_empty_branch_goes_straight_to_the_end() {
        let wait = step(json!({ "type": "wait_for_reply", "timeout": "10m",
            "branches": [ { "reply": ["stop"], "steps": [] } ], "otherwise": [], "on_timeout": [] }));
        let drawn = Drawn::read(&mermaid(&automation(phrase(), json!([tag("in attesa"), wait]))));
        drawn.assert_connected();
        assert_eq!(drawn.exits("s0"), [(None, "s1")]);
        assert_eq!(
            drawn.exits("s1"),
            [(Some("stop"), END), (Some("otherwise"), END), (Some("no reply after 10m"), END)]
        );
        assert_eq!(drawn.nodes.len(), 4, "start, two steps, the end");
    }

    #[test]
    fn steps_after_a_flow_step_are_never_reached_and_not_drawn() {
        let condition =
            step(json!({ "type": "condition", "branches": [ { "if": { "has_operator": true }, "steps": [] } ] }));
        let drawn = Drawn::read(&mermaid(&automation(phrase(), json!([condition, tag("mai")]))));
        drawn.assert_connected();
        assert!(!drawn.nodes.contains_key("s1"));
    }

    #[test]
    fn hostile_text_can_never_break_the_chart_and_reads_back_as_written() {
        let hostile = [
            "\"]) --> x[\"pwned\"]",
            "a\nb\r\nflowchart LR\n    x --> y",
            "<script>alert(1)</script> & <b>",
            "#quot; #35; ### ;;; end",
            "%%{init: {\"theme\": \"dark\"}}%% click x call f()",
            "a|b|c `md` {x} [y] (z) --> ==> -.-",
            "style s0 fill:#f00; classDef x fill:#fff;",
            "Caffè ☕ 東京 ﬂ°°60¶ß end",
            "style:\"x\" end; subgraph A\u{2028}click s0 href \"javascript:alert(1)\"",
        ];
        for (n, raw) in hostile.iter().enumerate() {
            // Tags and list names hold no control characters.
            let name: String = raw.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
            let wait = step(json!({ "type": "wait_for_reply", "timeout": "1d",
                "branches": [ { "reply": [raw], "steps": [step(json!({ "type": "send_buttons", "text": raw,
                    "buttons": [ { "id": "b", "title": raw.chars().take(20).collect::<String>() } ] }))] } ] }));
            let condition = step(json!({ "type": "condition",
                "branches": [ { "if": { "field": "x", "equals": raw }, "steps": [tag(&name)] } ] }));
            let doc = automation(
                json!({ "type": "list", "list": name }),
                json!([
                    text(raw),
                    step(json!({ "type": "set_field", "field": "nota", "value": raw })),
                    step(json!({ "type": "send_webhook", "url": format!("https://example.com/{raw}") })),
                    tag(&name),
                    condition,
                ]),
            );
            let chart = mermaid(&doc);
            let drawn = Drawn::read(&chart);
            drawn.assert_connected();
            // What is shown is the text as written, blanks collapsed, cut at 40 characters.
            let plain: String = raw.split_whitespace().collect::<Vec<_>>().join(" ");
            let shown: String = plain.chars().take(TEXT_CHARS).collect();
            assert!(drawn.label(START).contains(&shown), "case {n}: {}\n{chart}", drawn.label(START));
            assert!(drawn.label("s0").contains(&shown), "case {n}: {}", drawn.label("s0"));
            assert_eq!(
                drawn.label("s3"),
                format!("add_tag: {shown}{}", if plain.chars().count() > 40 { "…" } else { "" })
            );
            let predicate = drawn.exits("s4")[0].0.unwrap();
            assert!(predicate.starts_with("x = ") && plain.starts_with(predicate[4..].trim_end_matches('…')));

            let drawn = Drawn::read(&mermaid(&automation(phrase(), json!([wait]))));
            drawn.assert_connected();
            let reply = drawn.exits("s0")[0].0.unwrap();
            assert!(plain.starts_with(reply.trim_end_matches('…')), "case {n}: {reply}");
        }
    }

    #[test]
    fn long_texts_are_cut_and_edge_labels_stay_short() {
        let long = "Buongiorno! Le ricordiamo l'appuntamento di domani alle dieci in negozio.";
        let replies: Vec<String> = (0..20).map(|i| format!("risposta numero {i}")).collect();
        let wait = step(json!({ "type": "wait_for_reply", "timeout": "30d",
            "branches": [ { "reply": replies, "steps": [] } ] }));
        let drawn = Drawn::read(&mermaid(&automation(phrase(), json!([text(long), wait]))));
        assert_eq!(drawn.label("s0"), "send_text: Buongiorno! Le ricordiamo l'appuntamento…");
        let reply = drawn.exits("s1")[0].0.unwrap();
        assert_eq!(reply.chars().count(), EDGE_CHARS + 1, "{reply}");
        assert!(reply.starts_with("risposta numero 0 / risposta numero 1 / ") && reply.ends_with('…'));
    }

    #[test]
    fn every_trigger_and_action_is_summarised_and_the_output_is_the_same_every_time() {
        let steps = json!([
            step(json!({ "type": "remove_tag", "tag": "lead" })),
            step(json!({ "type": "add_to_list", "list": "vip" })),
            step(json!({ "type": "remove_from_list", "list": "vip" })),
            step(json!({ "type": "set_field", "field": "città", "from": "next_reply" })),
            step(json!({ "type": "block_contact" })),
            step(json!({ "type": "unblock_contact" })),
            step(json!({ "type": "unassign_operator" })),
            step(json!({ "type": "set_consent", "marketing": "opted_in" })),
            step(json!({ "type": "wait_until", "time": "09:30", "days": ["mon", "fri"] })),
            { "after": "1d1h1m1s", "action": { "type": "wait_until", "working_hours": true } },
            step(json!({ "type": "start_automation", "automation": "figlio-1.2" })),
        ]);
        let doc = automation(
            json!({ "type": "date", "field": "compleanno", "offset_days": -1, "time": "08:00", "annual": true }),
            steps,
        );
        let chart = mermaid(&doc);
        assert_eq!(chart, mermaid(&doc.clone()));
        let drawn = Drawn::read(&chart);
        drawn.assert_connected();
        let labels: Vec<&str> = (0..11).map(|i| drawn.label(&format!("s{i}"))).collect();
        assert_eq!(
            labels,
            [
                "remove_tag: lead",
                "add_to_list: vip",
                "remove_from_list: vip",
                "set_field: città from the next reply",
                "block_contact",
                "unblock_contact",
                "unassign_operator",
                "set_consent: opted_in",
                "wait_until: until 09:30 on mon, fri",
                "after 1d1h1m1s · wait_until: until working hours",
                "start_automation: figlio-1.2",
            ]
        );
        assert_eq!(drawn.label(START), "date: at 08:00 on compleanno -1d, every year");

        for (trigger, shown) in [
            (json!({ "type": "outside_hours" }), "outside_hours: once per 1d"),
            (json!({ "type": "holiday", "cooldown": "2h" }), "holiday: once per 2h"),
            (json!({ "type": "consent", "marketing": "opted_out" }), "consent: opted_out"),
        ] {
            let drawn = Drawn::read(&mermaid(&automation(trigger, json!([tag("x")]))));
            assert_eq!(drawn.label(START), shown);
        }
    }
}
