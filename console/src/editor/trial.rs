//! "Try it": the automation on screen run by the simulator before it is saved or turned on.
//! The messages a test contact writes (one per line, a minute apart) or pasted events (the
//! lines of an events file) go through `avvio_api::simulate::run_scenario` over the stored
//! workspace and the workspace's other automations, on a fresh in-memory state: nothing is
//! sent or stored. Its lines are drawn here as a chat: the contact's messages and the sends as
//! bubbles, waits, branches taken and the other actions as notes between them.

use crate::i18n::Lang;
use crate::runs::texts::RunsTexts;
use crate::runs::{self, Code};
use avvio_common::domain::automation::{ActionKind, Automation};
use avvio_common::domain::path::{Branch, StepPath};
use avvio_common::simulate::Line;
use avvio_common::time::{Time, format_rfc3339};
use serde_json::value::RawValue;
use serde_json::{Value, json};

/// The test contact's WhatsApp id (an Italian mobile number no one has).
pub const TEST_CONTACT: &str = "393330000000";

/// The time between two messages the test contact writes.
pub const GAP: chrono::Duration = chrono::Duration::minutes(1);

/// The most messages one try writes (pasted events go up to the simulator's own limit).
pub const MAX_MESSAGES: usize = 50;

/// What the try's inputs hold, shown back as typed.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    pub messages: String,
    pub events: String,
}

/// The events a try runs, or why there are none.
pub fn events(
    inputs: &Inputs,
    phone_number_id: &str,
    start: Time,
    t: &TrialTexts,
) -> Result<Vec<Box<RawValue>>, String> {
    if !inputs.events.trim().is_empty() {
        return inputs
            .events
            .lines()
            .enumerate()
            .filter(|(_, line)| !line.trim().is_empty())
            .map(|(i, line)| {
                RawValue::from_string(line.trim().to_string())
                    .map_err(|e| format!("{} {}: {e}", t.line_not_json, i + 1))
            })
            .collect();
    }
    let messages: Vec<&str> = inputs.messages.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    if messages.is_empty() {
        return Err(t.nothing_to_try.to_string());
    }
    if messages.len() > MAX_MESSAGES {
        return Err(format!("{} {MAX_MESSAGES}", t.too_many_messages));
    }
    Ok(messages
        .iter()
        .enumerate()
        .map(|(i, text)| {
            let at = start + GAP * i32::try_from(i).unwrap_or(i32::MAX);
            let event = json!({ "at": format_rfc3339(at), "whatsapp": message(phone_number_id, i, at, text) });
            RawValue::from_string(event.to_string()).expect("a JSON value is JSON")
        })
        .collect())
}

/// What contacts write in `events` (texts, buttons pressed, list rows chosen), with when.
pub fn written(events: &[Box<RawValue>]) -> Vec<(Time, String)> {
    let mut written = Vec::new();
    for event in events {
        let Ok(event) = serde_json::from_str::<Value>(event.get()) else { continue };
        let Some(at) = event["at"].as_str().and_then(|at| avvio_common::time::parse_rfc3339(at).ok()) else {
            continue;
        };
        let changes = event["whatsapp"]["entry"].as_array().into_iter().flatten();
        let changes = changes.flat_map(|entry| entry["changes"].as_array().into_iter().flatten());
        for message in changes.flat_map(|change| change["value"]["messages"].as_array().into_iter().flatten()) {
            let interactive = &message["interactive"];
            let text = message["text"]["body"]
                .as_str()
                .or_else(|| interactive["button_reply"]["title"].as_str())
                .or_else(|| interactive["list_reply"]["title"].as_str())
                .or_else(|| message["button"]["text"].as_str());
            if let Some(text) = text {
                written.push((at, text.to_string()));
            }
        }
    }
    written
}

/// Meta's webhook body of a text the test contact writes.
fn message(phone_number_id: &str, i: usize, at: Time, text: &str) -> Value {
    json!({ "object": "whatsapp_business_account", "entry": [{ "id": "0", "changes": [{ "field": "messages", "value": {
        "messaging_product": "whatsapp",
        "metadata": { "display_phone_number": TEST_CONTACT, "phone_number_id": phone_number_id },
        "contacts": [{ "profile": { "name": "Test" }, "wa_id": TEST_CONTACT }],
        "messages": [{ "from": TEST_CONTACT, "id": format!("wamid.try.{i}"), "timestamp": at.timestamp().to_string(),
                       "type": "text", "text": { "body": text } }]
    } }] }] })
}

/// One entry of the chat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// `in` (the contact wrote), `out` (a send), `note` (anything else), `error`.
    pub class: &'static str,
    /// Since the first event: `+0s`, `+1m 5s`.
    pub at: String,
    pub text: String,
    /// A buttons message's buttons.
    pub buttons: Vec<String>,
    /// Where in which automation (`Step 2 · Send buttons`), for what the automation did.
    pub step: Option<String>,
    pub code: Option<Code>,
}

/// The chat of a try: the test contact's messages and the simulator's lines, in time order.
pub fn chat(
    messages: &[(Time, String)],
    lines: &[Line],
    tried: Option<&Automation>,
    start: Time,
    lang: Lang,
) -> Vec<Entry> {
    let (t, r) = (TrialTexts::of(lang), RunsTexts::of(lang));
    let mut timed: Vec<(Time, u8, Entry)> = messages
        .iter()
        .map(|(at, text)| {
            let entry = Entry {
                class: "in",
                at: offset(*at - start),
                text: text.clone(),
                buttons: Vec::new(),
                step: None,
                code: None,
            };
            (*at, 0, entry)
        })
        .collect();
    for line in lines {
        let Ok(value) = serde_json::to_value(line) else { continue };
        let Some(at) = value["at"].as_str().and_then(|at| avvio_common::time::parse_rfc3339(at).ok()) else {
            continue;
        };
        timed.push((at, 1, entry(&value, at - start, tried, t, r)));
    }
    // Stable: at one instant the contact's message comes before what it caused.
    timed.sort_by_key(|(at, order, _)| (*at, *order));
    timed.into_iter().map(|(_, _, entry)| entry).collect()
}

/// One simulator line as an entry.
fn entry(line: &Value, since: chrono::Duration, tried: Option<&Automation>, t: &TrialTexts, r: &RunsTexts) -> Entry {
    let action: Option<ActionKind> = serde_json::from_value(line["action"].clone()).ok();
    let automation = line["automation"].as_str().unwrap_or_default();
    let is_tried = tried.is_some_and(|a| a.id().as_str() == automation);
    let doc = tried.filter(|_| is_tried);
    let path: Option<StepPath> = line["step"].as_str().and_then(|p| p.parse().ok());
    let action_words =
        line["action"].as_str().map_or("", |kind| crate::editor::texts::EditorTexts::of(r.lang).kind(kind));
    let step = path.as_ref().map(|p| {
        let place = runs::place(p, doc, r);
        if is_tried {
            format!("{place} · {action_words}")
        } else {
            format!("{automation} · {place} · {action_words}")
        }
    });
    let mut entry =
        Entry { class: "note", at: offset(since), text: String::new(), buttons: Vec::new(), step, code: None };
    if let Some(code) = line["error"].as_str() {
        entry.class = "error";
        entry.text = t.failed.to_string();
        entry.code = Some(Code::new(code, action, r));
        return entry;
    }
    let flow = path.as_ref().and_then(|p| doc?.step(p)).map(|s| &s.action);
    let branch = |raw: &Value| -> Option<String> {
        let branch: Branch = raw.as_str()?.parse().ok()?;
        Some(runs::branch_name(branch, flow, r))
    };
    if let Some(request) = line.get("request") {
        entry.class = "out";
        (entry.text, entry.buttons) = sent(request, t);
    } else if line.get("until").is_some() {
        let label = if action == Some(ActionKind::WaitForReply) { t.waits_for_reply } else { t.waits_until };
        entry.text = format!("{label} {}", offset(until_since_start(line, since)));
    } else if line.get("value").is_some() && line.get("branch").is_some() {
        let taken = branch(&line["branch"]).unwrap_or_default();
        entry.text = match line["value"].as_str() {
            Some(reply) => format!("{} {} → {} {taken}", t.reply, r.quoted(reply), t.goes_on_with),
            None => format!("{} → {taken}", t.no_reply_in_time),
        };
    } else if let Some(chosen) = line.get("branch") {
        entry.text = match branch(chosen) {
            Some(taken) => format!("{} → {taken}", t.condition),
            None => t.no_branch.to_string(),
        };
    } else {
        entry.text = effect_words(line, action_words, r);
    }
    entry
}

/// Until when a wait holds, as an offset from the first event (what the timeline counts in).
fn until_since_start(line: &Value, since: chrono::Duration) -> chrono::Duration {
    let at = line["at"].as_str().and_then(|at| avvio_common::time::parse_rfc3339(at).ok());
    let until = line["until"].as_str().and_then(|until| avvio_common::time::parse_rfc3339(until).ok());
    match (at, until) {
        (Some(at), Some(until)) => since + (until - at),
        _ => since,
    }
}

/// What a send shows: its text (or the template's name and parameters) and its buttons.
fn sent(request: &Value, t: &TrialTexts) -> (String, Vec<String>) {
    match request["type"].as_str() {
        Some("text") => (request["text"]["body"].as_str().unwrap_or_default().to_string(), Vec::new()),
        Some("interactive") => {
            let interactive = &request["interactive"];
            let action = &interactive["action"];
            let buttons = match interactive["type"].as_str() {
                // A list shows the button that opens it; a call to action, its button and link.
                Some("list") => action["button"].as_str().map(|b| vec![format!("☰ {b}")]).unwrap_or_default(),
                Some("cta_url") => {
                    let parameters = &action["parameters"];
                    let (label, url) = (parameters["display_text"].as_str(), parameters["url"].as_str());
                    vec![format!("{} ↗ {}", label.unwrap_or_default(), url.unwrap_or_default())]
                }
                _ => action["buttons"]
                    .as_array()
                    .map(|b| b.iter().filter_map(|b| b["reply"]["title"].as_str().map(str::to_string)).collect())
                    .unwrap_or_default(),
            };
            (interactive["body"]["text"].as_str().unwrap_or_default().to_string(), buttons)
        }
        Some(kind @ ("image" | "video" | "document" | "audio")) => {
            let media = &request[kind];
            let words = media["caption"].as_str().or(media["filename"].as_str()).or(media["link"].as_str());
            (format!("[{kind}] {}", words.unwrap_or_default()), Vec::new())
        }
        Some("template") => {
            let template = &request["template"];
            let params: Vec<&str> = template["components"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|c| c["type"] != "button")
                .flat_map(|c| c["parameters"].as_array().into_iter().flatten())
                .filter_map(|p| p["text"].as_str())
                .collect();
            let mut text = format!(
                "{} “{}” ({})",
                t.template,
                template["name"].as_str().unwrap_or_default(),
                template["language"]["code"].as_str().unwrap_or_default()
            );
            if !params.is_empty() {
                text.push_str(&format!(": {}", params.join(" · ")));
            }
            // A media header shows as its kind, before the text.
            let header = template["components"].as_array().into_iter().flatten().find(|c| c["type"] == "header");
            if let Some(kind) = header.and_then(|h| h["parameters"][0]["type"].as_str()).filter(|k| *k != "text") {
                text = format!("[{kind}] {text}");
            }
            let buttons = template["components"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|c| c["type"] == "button")
                .filter_map(|c| {
                    let parameter = &c["parameters"][0];
                    parameter["payload"].as_str().or(parameter["coupon_code"].as_str()).map(str::to_string)
                })
                .collect();
            (text, buttons)
        }
        _ => (request.to_string(), Vec::new()),
    }
}

/// Any other action's line in words: the action and what it did.
fn effect_words(line: &Value, action_words: &str, r: &RunsTexts) -> String {
    let detail = if let Some(tag) = line["tag"].as_str() {
        r.quoted(tag)
    } else if let Some(list) = line["list"].as_str() {
        r.quoted(list)
    } else if let (Some(field), Some(value)) = (line["field"].as_str(), line["value"].as_str()) {
        format!("{} = {}", r.quoted(field), r.quoted(value))
    } else if let Some(field) = line["field"].as_str() {
        format!("{} {}", r.quoted(field), r.from_next_reply)
    } else if let Some(url) = line["url"].as_str() {
        url.to_string()
    } else if let Some(operator) = line["operator"].as_str() {
        operator.to_string()
    } else if let Some(marketing) = line["marketing"].as_str() {
        marketing.to_string()
    } else if let Some(status) = line["status"].as_str() {
        status.to_string()
    } else {
        String::new()
    };
    if detail.is_empty() { action_words.to_string() } else { format!("{action_words}: {detail}") }
}

/// A duration since the first event, in the units a flow is written in: `+0s`, `+1m 5s`, `+1d 2h`.
pub fn offset(since: chrono::Duration) -> String {
    let mut seconds = since.num_seconds().max(0);
    let mut parts = Vec::new();
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60)] {
        if seconds >= size {
            parts.push(format!("{}{unit}", seconds / size));
            seconds %= size;
        }
    }
    if seconds > 0 || parts.is_empty() {
        parts.push(format!("{seconds}s"));
    }
    format!("+{}", parts.join(" "))
}

/// The try panel's words.
pub struct TrialTexts {
    pub title: &'static str,
    pub hint: &'static str,
    pub messages: &'static str,
    pub messages_hint: &'static str,
    pub events: &'static str,
    pub events_hint: &'static str,
    pub run: &'static str,
    pub result: &'static str,
    pub empty: &'static str,
    pub fix_first: &'static str,
    pub nothing_to_try: &'static str,
    pub too_many_messages: &'static str,
    pub line_not_json: &'static str,
    pub failed: &'static str,
    pub waits_for_reply: &'static str,
    pub waits_until: &'static str,
    pub reply: &'static str,
    pub goes_on_with: &'static str,
    pub no_reply_in_time: &'static str,
    pub condition: &'static str,
    pub no_branch: &'static str,
    pub template: &'static str,
    pub contact_wrote: &'static str,
    pub no_workspace: &'static str,
    pub automation_sent: &'static str,
}

pub const EN: TrialTexts = TrialTexts {
    title: "Try it",
    hint: "Runs the automation as it is on screen, saved or not, on or off, with the workspace's other \
           automations. Nothing is sent or stored.",
    messages: "Messages from a test contact, one per line",
    messages_hint: "Each is written a minute after the one before. Type a button's title to press it.",
    events: "Or paste events (the lines of an events file)",
    events_hint: "One JSON object per line, as `avvio simulate` reads them. When given, the messages above are not used.",
    run: "Try",
    result: "What happens",
    empty: "Nothing happens: no automation answers these messages.",
    fix_first: "Fix the fields marked in the editor to try the automation.",
    nothing_to_try: "Write a message (or paste events) to try the automation.",
    too_many_messages: "Too many messages: a try takes at most",
    line_not_json: "This line is not JSON: line",
    failed: "The step failed",
    waits_for_reply: "Waits for a reply until",
    waits_until: "Waits until",
    reply: "The contact answers",
    goes_on_with: "goes on with",
    no_reply_in_time: "No reply in time",
    condition: "Condition",
    no_branch: "Condition: no branch matched",
    template: "Template",
    contact_wrote: "The contact writes",
    no_workspace: "The workspace has no settings yet: set them under Workspace first.",
    automation_sent: "Avvio sends",
};

pub const IT: TrialTexts = TrialTexts {
    title: "Prova",
    hint: "Esegue l'automazione com'è sullo schermo, salvata o no, attiva o no, con le altre automazioni \
           dello spazio di lavoro. Non invia né salva nulla.",
    messages: "Messaggi di un contatto di prova, uno per riga",
    messages_hint: "Ognuno è scritto un minuto dopo il precedente. Scrivi il titolo di un pulsante per premerlo.",
    events: "Oppure incolla degli eventi (le righe di un file di eventi)",
    events_hint: "Un oggetto JSON per riga, come li legge `avvio simulate`. Se ci sono, i messaggi sopra non si usano.",
    run: "Prova",
    result: "Cosa succede",
    empty: "Non succede nulla: nessuna automazione risponde a questi messaggi.",
    fix_first: "Correggi i campi segnati nell'editor per provare l'automazione.",
    nothing_to_try: "Scrivi un messaggio (o incolla degli eventi) per provare l'automazione.",
    too_many_messages: "Troppi messaggi: una prova ne accetta al massimo",
    line_not_json: "Questa riga non è JSON: riga",
    failed: "Lo step è fallito",
    waits_for_reply: "Attende una risposta fino a",
    waits_until: "Attende fino a",
    reply: "Il contatto risponde",
    goes_on_with: "prosegue con",
    no_reply_in_time: "Nessuna risposta in tempo",
    condition: "Condizione",
    no_branch: "Condizione: nessun ramo corrisponde",
    template: "Template",
    contact_wrote: "Il contatto scrive",
    no_workspace: "Lo spazio di lavoro non ha ancora impostazioni: impostale prima in Spazio di lavoro.",
    automation_sent: "Avvio invia",
};

impl TrialTexts {
    pub fn of(lang: Lang) -> &'static Self {
        match lang {
            Lang::En => &EN,
            Lang::It => &IT,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_offset_reads_in_the_units_flows_are_written_in() {
        assert_eq!(offset(chrono::Duration::zero()), "+0s");
        assert_eq!(offset(chrono::Duration::seconds(65)), "+1m 5s");
        assert_eq!(offset(chrono::Duration::hours(26)), "+1d 2h");
    }

    #[test]
    fn messages_become_text_webhooks_a_minute_apart() {
        let inputs = Inputs { messages: "Ciao\n\n  Orari \n".into(), events: String::new() };
        let start = avvio_common::time::parse_rfc3339("2026-12-04T10:00:00Z").unwrap();
        let events = events(&inputs, "106540352242922", start, &EN).unwrap();
        assert_eq!(events.len(), 2, "blank lines are skipped");
        let second: Value = serde_json::from_str(events[1].get()).unwrap();
        assert_eq!(second["at"], "2026-12-04T10:01:00Z");
        let message = &second["whatsapp"]["entry"][0]["changes"][0]["value"]["messages"][0];
        assert_eq!(message["text"]["body"], "Orari");
        assert_eq!(message["from"], TEST_CONTACT);
    }

    #[test]
    fn a_pasted_line_that_is_not_json_is_named_by_its_number() {
        let inputs = Inputs { messages: "ignored".into(), events: "{}\n{nope\n".into() };
        let error = events(&inputs, "1", Time::UNIX_EPOCH, &EN).unwrap_err();
        assert!(error.contains("line 2"), "{error}");
    }

    #[test]
    fn nothing_typed_is_nothing_to_try() {
        assert_eq!(events(&Inputs::default(), "1", Time::UNIX_EPOCH, &IT).unwrap_err(), IT.nothing_to_try);
    }
}
