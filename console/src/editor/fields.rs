//! Which inputs each trigger and action has (SPEC §2.1, §2.2, §2.3), and how each is entered.
//! The editor draws these, and keeps only these keys when a step's type changes.

/// How an input is entered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    Text,
    LongText,
    /// One item per line (`reply`, `params`).
    Lines,
    /// A list message's sections, one row per line (`editor::doc::menu_from_text`).
    Menu,
    /// A duration (`0s`, `2h`, `1d`).
    Duration,
    /// `HH:MM`.
    Time,
    Number,
    Checkbox,
    /// A checkbox per weekday.
    Days,
    /// One of fixed values.
    Choice(&'static [&'static str]),
    /// The workspace's templates.
    Template,
    /// The templates' languages.
    Language,
    /// The workspace's other automations.
    Automation,
    /// A number with decimals (a location's latitude and longitude).
    Decimal,
    /// JSON text (a condition's predicate, a webhook's body).
    Json,
    /// A template send's header: a select of its type, then that type's inputs ([`header`]).
    Header,
    /// A template send's button parameters: one input per button of the template that takes
    /// one ([`button_param_key`]).
    ButtonParams,
}

/// One input of a trigger or action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spec {
    pub key: &'static str,
    pub input: Input,
}

const CONSENT: &[&str] = &["opted_in", "opted_out"];
const MEDIA: &[&str] = &["image", "video", "document", "audio"];

/// Every trigger type, in the order the start step's picker offers them.
pub const TRIGGERS: &[&str] =
    &["customer_message", "integration", "list", "date", "outside_hours", "holiday", "consent"];

/// Every action type, in the order the step's picker offers them.
pub const ACTIONS: &[&str] = &[
    "send_text",
    "send_template",
    "send_buttons",
    "send_media",
    "send_list",
    "send_cta_url",
    "wait_for_reply",
    "condition",
    "wait_until",
    "add_tag",
    "remove_tag",
    "add_to_list",
    "remove_from_list",
    "set_field",
    "assign_operator",
    "unassign_operator",
    "set_consent",
    "send_webhook",
    "start_automation",
    "block_contact",
    "unblock_contact",
];

/// The inputs of a trigger type.
pub fn trigger(kind: &str) -> &'static [Spec] {
    match kind {
        "customer_message" => &[Spec { key: "phrase", input: Input::Text }],
        "integration" => &[Spec { key: "secret", input: Input::Text }],
        "list" => &[Spec { key: "list", input: Input::Text }],
        "date" => &[
            Spec { key: "field", input: Input::Text },
            Spec { key: "offset_days", input: Input::Number },
            Spec { key: "time", input: Input::Time },
            Spec { key: "annual", input: Input::Checkbox },
        ],
        "outside_hours" | "holiday" => &[Spec { key: "cooldown", input: Input::Duration }],
        "consent" => &[Spec { key: "marketing", input: Input::Choice(CONSENT) }],
        _ => &[],
    }
}

/// The inputs of an action type (a button list and flow branches are drawn apart).
pub fn action(kind: &str) -> &'static [Spec] {
    match kind {
        "send_template" => &[
            Spec { key: "template", input: Input::Template },
            Spec { key: "language", input: Input::Language },
            Spec { key: "params", input: Input::Lines },
            Spec { key: "header", input: Input::Header },
            Spec { key: "buttons", input: Input::ButtonParams },
        ],
        "send_text" | "send_buttons" => &[Spec { key: "text", input: Input::LongText }],
        "send_media" => &[
            Spec { key: "media", input: Input::Choice(MEDIA) },
            Spec { key: "link", input: Input::Text },
            Spec { key: "caption", input: Input::LongText },
            Spec { key: "filename", input: Input::Text },
        ],
        "send_list" => &[
            Spec { key: "text", input: Input::LongText },
            Spec { key: "button", input: Input::Text },
            Spec { key: "sections", input: Input::Menu },
        ],
        "send_cta_url" => &[
            Spec { key: "text", input: Input::LongText },
            Spec { key: "display_text", input: Input::Text },
            Spec { key: "url", input: Input::Text },
        ],
        "add_tag" | "remove_tag" => &[Spec { key: "tag", input: Input::Text }],
        "add_to_list" | "remove_from_list" => &[Spec { key: "list", input: Input::Text }],
        "set_field" => &[
            Spec { key: "field", input: Input::Text },
            Spec { key: "value", input: Input::Text },
            Spec { key: "from", input: Input::Choice(&["next_reply"]) },
        ],
        "send_webhook" => &[Spec { key: "url", input: Input::Text }, Spec { key: "body", input: Input::Json }],
        "assign_operator" => &[Spec { key: "operator", input: Input::Text }],
        "set_consent" => &[Spec { key: "marketing", input: Input::Choice(CONSENT) }],
        "wait_for_reply" => {
            &[Spec { key: "timeout", input: Input::Duration }, Spec { key: "save_to", input: Input::Text }]
        }
        "wait_until" => &[
            Spec { key: "time", input: Input::Time },
            Spec { key: "days", input: Input::Days },
            Spec { key: "working_hours", input: Input::Checkbox },
        ],
        "start_automation" => &[Spec { key: "automation", input: Input::Automation }],
        _ => &[],
    }
}

/// The types of a template send's header, in the order its select offers them.
pub const HEADERS: &[&str] = &["image", "video", "document", "text", "location"];

/// The inputs of a template send's header of type `kind` (SPEC §2.5; `domain::send::HeaderParam`).
pub fn header(kind: &str) -> &'static [Spec] {
    const LINK: Spec = Spec { key: "link", input: Input::Text };
    match kind {
        "image" | "video" => &[LINK],
        "document" => &[LINK, Spec { key: "filename", input: Input::Text }],
        "text" => &[Spec { key: "text", input: Input::Text }],
        "location" => &[
            Spec { key: "latitude", input: Input::Decimal },
            Spec { key: "longitude", input: Input::Decimal },
            Spec { key: "name", input: Input::Text },
            Spec { key: "address", input: Input::Text },
        ],
        _ => &[],
    }
}

/// The key of a template button parameter's value, by the button's type
/// (`domain::send::ButtonParam`).
pub fn button_param_key(kind: &str) -> Option<&'static str> {
    match kind {
        "url" => Some("text"),
        "quick_reply" => Some("payload"),
        "copy_code" => Some("code"),
        _ => None,
    }
}

/// The keys an action of `kind` keeps besides its inputs: its buttons, its branches.
pub fn action_lists(kind: &str) -> &'static [&'static str] {
    match kind {
        "send_buttons" => &["buttons"],
        "wait_for_reply" => &["branches", "otherwise", "on_timeout"],
        "condition" => &["branches", "otherwise"],
        _ => &[],
    }
}

/// Leaves in an action or trigger object only the keys its type has (after its type changed).
pub fn prune(object: &mut serde_json::Map<String, serde_json::Value>, trigger: bool) {
    let kind = object.get("type").and_then(|t| t.as_str()).unwrap_or_default().to_string();
    let (specs, lists) = if trigger { (self::trigger(&kind), &[][..]) } else { (action(&kind), action_lists(&kind)) };
    object.retain(|key, _| key == "type" || specs.iter().any(|s| s.key == key) || lists.contains(&key.as_str()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_and_trigger_of_the_document_has_a_place_in_the_editor() {
        use avvio_common::domain::automation::ActionKind;
        for kind in ACTIONS {
            let parsed: ActionKind = serde_json::from_value(serde_json::json!(kind)).expect("an action type");
            assert_eq!(serde_json::to_value(parsed).unwrap(), *kind);
        }
        assert_eq!(ACTIONS.len(), 21, "every ActionKind is offered");
        assert_eq!(TRIGGERS.len(), 7);
    }

    #[test]
    fn every_header_type_the_editor_offers_reads_as_a_template_sends_header() {
        use avvio_common::domain::send::HeaderParam;
        for kind in HEADERS {
            let mut written = serde_json::json!({ "type": kind });
            for spec in header(kind) {
                written[spec.key] = match spec.input {
                    Input::Decimal => serde_json::json!(45.5),
                    _ => serde_json::json!("https://x.example/a"),
                };
            }
            let read: HeaderParam = serde_json::from_value(written.clone()).expect("a header");
            assert_eq!(serde_json::to_value(read).unwrap(), written, "{kind} has every input it reads");
        }
        for kind in ["url", "quick_reply", "copy_code"] {
            let button = serde_json::json!({ "type": kind, "index": 0, button_param_key(kind).unwrap(): "x" });
            let read: avvio_common::domain::send::ButtonParam = serde_json::from_value(button.clone()).expect(kind);
            assert_eq!(serde_json::to_value(read).unwrap(), button);
        }
    }

    #[test]
    fn a_type_change_keeps_only_the_new_types_keys() {
        let mut action = serde_json::json!({ "type": "add_tag", "text": "ciao", "tag": "vip", "buttons": [] });
        prune(action.as_object_mut().unwrap(), false);
        assert_eq!(action, serde_json::json!({ "type": "add_tag", "tag": "vip" }));
    }
}
