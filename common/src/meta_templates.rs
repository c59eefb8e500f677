//! Meta's message templates as `GET /{version}/{waba_id}/message_templates` lists them
//! (`name`, `language`, `status`, `category`, `parameter_format`, `components`), read into
//! the workspace's [`Template`]s, and the difference between two lists of templates
//! (`POST /v1/templates/sync`, SPEC §4). Pure: the pages come from a
//! [`crate::ports::TemplateSource`].
//!
//! One element of Meta's answer looks like this:
//!
//! ```json
//! { "name": "promo_natale", "language": "it", "status": "APPROVED", "category": "MARKETING",
//!   "parameter_format": "NAMED", "id": "1180000000000001",
//!   "components": [
//!     { "type": "HEADER", "format": "IMAGE", "example": { "header_handle": ["4::aW…"] } },
//!     { "type": "BODY", "text": "Ciao {{first_name}}, per te il {{sconto}} di sconto!" },
//!     { "type": "FOOTER", "text": "Rispondi STOP per non ricevere offerte" },
//!     { "type": "BUTTONS", "buttons": [
//!         { "type": "URL", "text": "Scopri", "url": "https://shop.example.com/{{1}}" },
//!         { "type": "QUICK_REPLY", "text": "Non mi interessa" } ] } ] }
//! ```
//!
//! # What Avvio does with what it does not know
//!
//! Meta adds kinds over time. The choices (also in `docs/api.md`):
//! - an unknown `status` reads as `disabled` (never sent), an unknown or absent `category`
//!   as `marketing` (the strictest), an absent `parameter_format` as `positional`;
//! - a component other than `HEADER`, `BODY`, `FOOTER` and `BUTTONS` (a carousel, a limited-time
//!   offer) is left out; a header of another format leaves the template without a header;
//! - an `OTP` button (authentication templates) is a `url` button: Meta sends its code as a
//!   `url` button parameter; the other buttons Avvio has no kind for (`FLOW`, `CATALOG`,
//!   `MPM`, `VOICE_CALL`, …) are left out **with every button after them**, so that each
//!   button kept keeps Meta's index (a send's `buttons[].index` names Meta's button), and a
//!   send naming a button left out is refused, not sent with the wrong parameters;
//! - an element without a usable `name` or `language`, or without a body text, is left out.
//!
//! Each of these is noted, and the notes come back with the sync's counts.

use crate::domain::ids::{Language, TemplateName};
use crate::domain::workspace::{
    HeaderFormat, ParameterFormat, Template, TemplateButton, TemplateButtonKind, TemplateCategory, TemplateHeader,
    TemplateStatus,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The `fields` Avvio asks Meta for.
pub const FIELDS: &str = "name,language,status,category,parameter_format,components";

/// The status a Meta status (`APPROVED`, `IN_APPEAL`, …; also a webhook's `event`) stands
/// for; `None` for one Avvio does not know.
pub fn status_of(meta: &str) -> Option<TemplateStatus> {
    Some(match meta.trim().to_ascii_uppercase().as_str() {
        "APPROVED" => TemplateStatus::Approved,
        "PENDING" => TemplateStatus::Pending,
        "REJECTED" => TemplateStatus::Rejected,
        "PAUSED" => TemplateStatus::Paused,
        "DISABLED" => TemplateStatus::Disabled,
        "IN_APPEAL" => TemplateStatus::InAppeal,
        "PENDING_DELETION" => TemplateStatus::PendingDeletion,
        "DELETED" => TemplateStatus::Deleted,
        "ARCHIVED" => TemplateStatus::Archived,
        "LIMIT_EXCEEDED" => TemplateStatus::LimitExceeded,
        _ => return None,
    })
}

/// One element of Meta's `data`, the fields Avvio reads.
#[derive(Debug, Deserialize)]
struct MetaTemplate {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    language: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    category: Option<String>,
    #[serde(default)]
    parameter_format: Option<String>,
    #[serde(default)]
    components: Vec<MetaComponent>,
}

#[derive(Debug, Deserialize)]
struct MetaComponent {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    format: Option<String>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    buttons: Vec<MetaButton>,
}

#[derive(Debug, Deserialize)]
struct MetaButton {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    phone_number: Option<String>,
}

/// Reads one element of Meta's `data` into a template, appending to `notes` what it left out
/// (see the module's documentation); `None` when the element names no usable template.
pub fn template_of(raw: &Value, notes: &mut Vec<String>) -> Option<Template> {
    let meta: MetaTemplate = match serde_json::from_value(raw.clone()) {
        Ok(meta) => meta,
        Err(e) => {
            notes.push(format!("an element of Meta's list is not a template ({e}): left out"));
            return None;
        }
    };
    let shown = format!("{}/{}", meta.name.as_deref().unwrap_or("?"), meta.language.as_deref().unwrap_or("?"));
    let name = meta.name.as_deref().map(TemplateName::parse);
    let language = meta.language.as_deref().map(Language::parse);
    let (Some(Ok(name)), Some(Ok(language))) = (name, language) else {
        notes.push(format!("template {shown}: no usable name or language: left out"));
        return None;
    };
    let status = match meta.status.as_deref().map(|s| (s, status_of(s))) {
        Some((_, Some(status))) => status,
        other => {
            let said = other.map_or("no status".to_string(), |(s, _)| format!("status `{s}`"));
            notes.push(format!("template {shown}: {said} read as disabled"));
            TemplateStatus::Disabled
        }
    };
    let category = match meta.category.as_deref().map(str::to_ascii_uppercase).as_deref() {
        Some("UTILITY") => TemplateCategory::Utility,
        Some("AUTHENTICATION") => TemplateCategory::Authentication,
        _ => TemplateCategory::Marketing,
    };
    let parameter_format = match meta.parameter_format.as_deref().map(str::to_ascii_uppercase).as_deref() {
        Some("NAMED") => ParameterFormat::Named,
        _ => ParameterFormat::Positional,
    };
    let (mut body, mut header, mut buttons) = (String::new(), None, Vec::new());
    for component in meta.components {
        match component.kind.to_ascii_uppercase().as_str() {
            "BODY" => body = component.text.unwrap_or_default(),
            "HEADER" => header = header_of(&component, &shown, notes),
            "FOOTER" => {}
            "BUTTONS" => buttons = buttons_of(component.buttons, &shown, notes),
            other => notes.push(format!("template {shown}: component `{other}` left out")),
        }
    }
    if body.trim().is_empty() {
        // Nothing to send: Avvio refuses such a template when written by hand too.
        notes.push(format!("template {shown}: no body text: left out"));
        return None;
    }
    Some(Template { name, language, status, category, parameter_format, body, header, buttons })
}

fn header_of(component: &MetaComponent, shown: &str, notes: &mut Vec<String>) -> Option<TemplateHeader> {
    let format = match component.format.as_deref().map(str::to_ascii_uppercase).as_deref() {
        Some("TEXT") => HeaderFormat::Text,
        Some("IMAGE") => HeaderFormat::Image,
        Some("VIDEO") => HeaderFormat::Video,
        Some("DOCUMENT") => HeaderFormat::Document,
        Some("LOCATION") => HeaderFormat::Location,
        other => {
            notes.push(format!("template {shown}: header format `{}` left out", other.unwrap_or("?")));
            return None;
        }
    };
    let text = if format == HeaderFormat::Text { component.text.clone() } else { None };
    Some(TemplateHeader { format, text })
}

/// The buttons up to the first one of a kind Avvio has none for (each keeps Meta's index).
fn buttons_of(raw: Vec<MetaButton>, shown: &str, notes: &mut Vec<String>) -> Vec<TemplateButton> {
    let total = raw.len();
    let mut buttons = Vec::with_capacity(total);
    for (index, button) in raw.into_iter().enumerate() {
        let kind = match button.kind.to_ascii_uppercase().as_str() {
            "QUICK_REPLY" => TemplateButtonKind::QuickReply,
            "URL" | "OTP" => TemplateButtonKind::Url,
            "COPY_CODE" => TemplateButtonKind::CopyCode,
            "PHONE_NUMBER" => TemplateButtonKind::PhoneNumber,
            other => {
                notes.push(format!(
                    "template {shown}: button {index} of kind `{other}` and the {} after it left out",
                    total - index - 1
                ));
                break;
            }
        };
        let text = button.text.unwrap_or_else(|| match kind {
            TemplateButtonKind::CopyCode | TemplateButtonKind::Url => "Copy code".to_string(),
            _ => String::new(),
        });
        buttons.push(TemplateButton { kind, text, url: button.url, phone_number: button.phone_number });
    }
    buttons
}

/// Meta's whole list read into templates, in Meta's order; a (name, language) listed twice
/// keeps its first element.
pub fn templates_of(elements: &[Value], notes: &mut Vec<String>) -> Vec<Template> {
    let mut templates: Vec<Template> = Vec::with_capacity(elements.len());
    for element in elements {
        if let Some(template) = template_of(element, notes) {
            if templates.iter().any(|t| t.name == template.name && t.language == template.language) {
                notes.push(format!("template {}/{} listed twice: the first kept", template.name, template.language));
            } else {
                templates.push(template);
            }
        }
    }
    templates
}

/// How a list of templates differs from the one it replaces, by (name, language).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateDiff {
    pub added: usize,
    pub changed: usize,
    pub removed: usize,
}

/// What replacing `before` with `after` adds, changes and removes.
pub fn diff(before: &[Template], after: &[Template]) -> TemplateDiff {
    let find =
        |list: &[Template], t: &Template| list.iter().find(|o| o.name == t.name && o.language == t.language).cloned();
    let mut counts = TemplateDiff::default();
    for t in after {
        match find(before, t) {
            None => counts.added += 1,
            Some(old) if old != *t => counts.changed += 1,
            Some(_) => {}
        }
    }
    counts.removed = before.iter().filter(|t| find(after, t).is_none()).count();
    counts
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fixture(name: &str) -> Value {
        let path = format!("{}/../tests/fixtures/meta/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))).unwrap()
    }

    fn both_pages() -> Vec<Value> {
        let mut data = fixture("message_templates_page1.json")["data"].as_array().unwrap().clone();
        data.extend(fixture("message_templates_page2.json")["data"].as_array().unwrap().clone());
        data
    }

    #[test]
    fn meta_s_documented_pages_read_into_the_workspace_s_templates() {
        let mut notes = Vec::new();
        let templates = templates_of(&both_pages(), &mut notes);
        let names: Vec<String> = templates.iter().map(|t| format!("{}/{}", t.name, t.language)).collect();
        assert_eq!(
            names,
            [
                "welcome/it",
                "promo_natale/it",
                "order_update/en_US",
                "codice_accesso/it",
                "hello_world/en_US",
                "promo_estate/it",
                "nuovo_catalogo/it"
            ]
        );
        let promo = &templates[1];
        let expected: Template = serde_json::from_value(json!({
            "name": "promo_natale", "language": "it", "status": "approved", "category": "marketing",
            "parameter_format": "named", "body": "Ciao {{first_name}}, per te il {{sconto}} di sconto!",
            "header": { "format": "image" },
            "buttons": [ { "type": "url", "text": "Scopri", "url": "https://shop.example.com/{{1}}" },
                         { "type": "quick_reply", "text": "Non mi interessa" } ]
        }))
        .unwrap();
        assert_eq!(promo, &expected);
        let order = &templates[2];
        assert_eq!(order.header, Some(TemplateHeader { format: HeaderFormat::Text, text: Some("Order {{1}}".into()) }));
        assert_eq!((order.category, order.status), (TemplateCategory::Utility, TemplateStatus::Approved));
        assert_eq!(order.buttons[0].kind, TemplateButtonKind::PhoneNumber);
        assert_eq!(order.buttons[0].phone_number.as_deref(), Some("+390212345678"));
        let code = &templates[3];
        assert_eq!(code.category, TemplateCategory::Authentication);
        assert_eq!(code.buttons[0].kind, TemplateButtonKind::Url, "an OTP button is sent as a url button");
        assert_eq!(templates[5].status, TemplateStatus::Paused);
        // A flow button and the one after it are left out; the copy-code before keeps index 0.
        let catalogue = &templates[6];
        assert_eq!(catalogue.status, TemplateStatus::Rejected);
        assert_eq!(catalogue.buttons.len(), 1);
        assert_eq!(catalogue.buttons[0].kind, TemplateButtonKind::CopyCode);
        assert!(notes.iter().any(|n| n.contains("`FLOW`")), "{notes:?}");
        assert!(notes.iter().any(|n| n.contains("`CAROUSEL`")), "{notes:?}");
    }

    #[test]
    fn unknown_statuses_read_as_disabled_and_only_approved_is_approved() {
        assert_eq!(status_of("APPROVED"), Some(TemplateStatus::Approved));
        assert_eq!(status_of("IN_APPEAL"), Some(TemplateStatus::InAppeal));
        assert_eq!(status_of("LIMIT_EXCEEDED"), Some(TemplateStatus::LimitExceeded));
        assert_eq!(status_of("FLAGGED"), None);
        let mut notes = Vec::new();
        let t = template_of(
            &json!({ "name": "x", "language": "it", "status": "FLAGGED", "components": [ { "type": "BODY", "text": "x" } ] }),
            &mut notes,
        )
        .unwrap();
        assert_eq!(t.status, TemplateStatus::Disabled);
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(template_of(&json!({ "language": "it", "status": "APPROVED" }), &mut notes).is_none());
    }

    #[test]
    fn the_diff_counts_added_changed_and_removed_by_name_and_language() {
        let t = |name: &str, language: &str, body: &str| -> Template {
            serde_json::from_value(json!({ "name": name, "language": language, "status": "approved", "body": body }))
                .unwrap()
        };
        let before = [t("a", "it", "x"), t("b", "it", "x"), t("c", "it", "x")];
        let after = [t("a", "it", "x"), t("b", "it", "y"), t("c", "en", "x"), t("d", "it", "x")];
        assert_eq!(diff(&before, &after), TemplateDiff { added: 2, changed: 1, removed: 1 });
        assert_eq!(diff(&after, &after), TemplateDiff::default());
    }
}
