//! The Graph bodies of the send actions beyond a plain text (SPEC §2.5): a template with its
//! header, body and button parameters, checked against the template as Meta approved it;
//! media, list and call-to-action messages. Values are rendered for the contact here.

use super::codes;
use crate::domain::contact::Contact;
use crate::domain::interpolate::Interpolated;
use crate::domain::send::{ButtonParam, HeaderParam, ListSection, MediaKind, TemplateParams};
use crate::domain::workspace::{ParameterFormat, Template, placeholders};
use crate::graph::{self, BodyParam, GraphRequest, TemplateButton, TemplateHeader, TemplateMessage};
use crate::validate::{MAX_BUTTON_TEXT_CHARS, MAX_CAPTION_CHARS, check_template_send};

fn render(text: &Interpolated, contact: &Contact) -> Result<String, &'static str> {
    text.render(contact).map_err(|_| codes::MISSING_VARIABLE)
}

fn render_optional(text: Option<&Interpolated>, contact: &Contact) -> Result<Option<String>, &'static str> {
    text.map(|t| render(t, contact)).transpose()
}

/// The parts of a `send_template` step.
pub(super) struct TemplateSend<'a> {
    pub header: Option<&'a HeaderParam>,
    pub params: &'a TemplateParams,
    pub buttons: &'a [ButtonParam],
}

/// A template message for `contact`, or `template_params_mismatch` when the send does not
/// fit the template (the rules of [`check_template_send`]), or `missing_variable`.
pub(super) fn template(
    contact: &Contact,
    known: &Template,
    send: TemplateSend<'_>,
) -> Result<GraphRequest, &'static str> {
    if !check_template_send(known, send.header, send.params, send.buttons, "").is_empty() {
        return Err(codes::TEMPLATE_PARAMS_MISMATCH);
    }
    let header = send.header.map(|h| header(known, h, contact)).transpose()?;
    let body = match send.params {
        TemplateParams::Positional(list) => list
            .iter()
            .map(|value| Ok(BodyParam { name: None, text: render(value, contact)? }))
            .collect::<Result<Vec<_>, &'static str>>()?,
        // In the order the body names them.
        TemplateParams::Named(list) => known
            .parameter_names()
            .into_iter()
            .filter_map(|name| list.iter().find(|p| p.name == name))
            .map(|p| Ok(BodyParam { name: Some(p.name.clone()), text: render(&p.value, contact)? }))
            .collect::<Result<Vec<_>, &'static str>>()?,
    };
    let mut buttons: Vec<&ButtonParam> = send.buttons.iter().collect();
    buttons.sort_by_key(|b| b.index());
    let buttons = buttons
        .into_iter()
        .map(|b| {
            let value = render(b.value(), contact)?;
            Ok(match b {
                ButtonParam::Url { index, .. } => TemplateButton::Url { index: *index, text: value },
                ButtonParam::QuickReply { index, .. } => TemplateButton::QuickReply { index: *index, payload: value },
                ButtonParam::CopyCode { index, .. } => TemplateButton::CopyCode { index: *index, code: value },
            })
        })
        .collect::<Result<Vec<_>, &'static str>>()?;
    let message =
        TemplateMessage { name: known.name.as_str(), language: known.language.as_str(), header, body, buttons };
    Ok(graph::rich_template(contact, &message))
}

fn header(known: &Template, header: &HeaderParam, contact: &Contact) -> Result<TemplateHeader, &'static str> {
    Ok(match header {
        HeaderParam::Image { link } => TemplateHeader::Image { link: render(link, contact)? },
        HeaderParam::Video { link } => TemplateHeader::Video { link: render(link, contact)? },
        HeaderParam::Document { link, filename } => TemplateHeader::Document {
            link: render(link, contact)?,
            filename: render_optional(filename.as_ref(), contact)?,
        },
        HeaderParam::Text { text } => {
            // A named template names its header's placeholder too.
            let name = (known.parameter_format == ParameterFormat::Named)
                .then(|| known.header.as_ref().and_then(|h| h.text.as_deref()).map(placeholders))
                .flatten()
                .and_then(|names| names.into_iter().next());
            TemplateHeader::Text { name, text: render(text, contact)? }
        }
        HeaderParam::Location { latitude, longitude, name, address } => TemplateHeader::Location {
            latitude: *latitude,
            longitude: *longitude,
            name: render_optional(name.as_ref(), contact)?,
            address: render_optional(address.as_ref(), contact)?,
        },
    })
}

/// A media message; its caption at most 1024 characters once rendered.
pub(super) fn media(
    contact: &Contact,
    kind: MediaKind,
    link: &Interpolated,
    caption: Option<&Interpolated>,
    filename: Option<&Interpolated>,
) -> Result<GraphRequest, &'static str> {
    let link = render(link, contact)?;
    let caption = render_optional(caption, contact)?;
    if caption.as_ref().is_some_and(|c| c.chars().count() > MAX_CAPTION_CHARS) {
        return Err(codes::TEXT_TOO_LONG);
    }
    let filename = render_optional(filename, contact)?;
    Ok(graph::media_message(contact, kind, &link, caption.as_deref(), filename.as_deref()))
}

/// The rendered text of an interactive message, at most 1024 characters.
fn interactive_text(text: &Interpolated, contact: &Contact) -> Result<String, &'static str> {
    let body = render(text, contact)?;
    if body.chars().count() > MAX_BUTTON_TEXT_CHARS { Err(codes::TEXT_TOO_LONG) } else { Ok(body) }
}

/// An interactive list message.
pub(super) fn list(
    contact: &Contact,
    text: &Interpolated,
    button: &str,
    sections: &[ListSection],
) -> Result<GraphRequest, &'static str> {
    Ok(graph::list(contact, &interactive_text(text, contact)?, button, sections))
}

/// An interactive call-to-action URL message.
pub(super) fn cta_url(
    contact: &Contact,
    text: &Interpolated,
    display_text: &str,
    url: &Interpolated,
) -> Result<GraphRequest, &'static str> {
    let body = interactive_text(text, contact)?;
    Ok(graph::cta_url(contact, &body, display_text, &render(url, contact)?))
}

#[cfg(test)]
mod tests {
    use crate::simulate::{Line, Simulation};
    use crate::validate::{Document, check_set};
    use serde_json::{Value, json};

    const MARIO: &str = "393331234567";

    /// A webhook line: Mario writes `text` (opening the 24h window), or picks a list row.
    fn wrote(at: &str, id: &str, message: Value) -> String {
        let mut message = message;
        message["from"] = json!(MARIO);
        message["id"] = json!(format!("wamid.{id}"));
        message["timestamp"] = json!(crate::time::parse_rfc3339(at).unwrap().timestamp().to_string());
        json!({ "at": at, "whatsapp": { "object": "whatsapp_business_account", "entry": [ { "id": "1", "changes": [ {
            "field": "messages", "value": { "messaging_product": "whatsapp",
                "metadata": { "display_phone_number": "390212345678", "phone_number_id": "106540352242922" },
                "contacts": [ { "profile": { "name": "Mario Rossi" }, "wa_id": MARIO } ],
                "messages": [ message ] } } ] } ] } })
        .to_string()
    }

    fn text(body: &str) -> Value {
        json!({ "type": "text", "text": { "body": body } })
    }

    fn workspace() -> crate::domain::workspace::Workspace {
        serde_json::from_value(json!({ "timezone": "Europe/Rome",
            "whatsapp": { "phone_number_id": "106540352242922" },
            "templates": [
                { "name": "promo_natale", "language": "it", "status": "approved", "category": "utility",
                  "parameter_format": "named", "body": "Ciao {{first_name}}, per te il {{sconto}} di sconto!",
                  "header": { "format": "image" },
                  "buttons": [ { "type": "url", "text": "Scopri", "url": "https://shop.example.com/{{1}}" },
                               { "type": "quick_reply", "text": "Non mi interessa" } ] },
                { "name": "in_pausa", "language": "it", "status": "paused", "category": "utility", "body": "Ciao" },
                { "name": "spento", "language": "it", "status": "disabled", "category": "utility", "body": "Ciao" } ] }))
        .unwrap()
    }

    /// Runs `steps` for Mario through the real engine: started by his message "Info" (the
    /// window open) or by the integration URL (the window closed); then `events`.
    fn run(steps: Value, by_message: bool, events: Vec<String>, ws: crate::domain::workspace::Workspace) -> Vec<Value> {
        let trigger = if by_message {
            json!({ "type": "customer_message", "phrase": "Info" })
        } else {
            json!({ "type": "integration", "secret": "segreto-123" })
        };
        let doc = json!({ "id": "a", "name": "A", "trigger": trigger, "steps": steps });
        let catalog = check_set(vec![Document { file: "a.json".into(), index: None, value: doc }], None).unwrap();
        let start = if by_message {
            wrote("2026-11-23T09:00:00Z", "1", text("Info"))
        } else {
            json!({ "at": "2026-11-23T09:00:00Z", "integration": { "automation": "a",
                "body": { "secret": "segreto-123", "phone": MARIO, "first_name": "Mario" } } })
            .to_string()
        };
        let lines: Vec<String> = std::iter::once(start).chain(events).collect();
        let mut simulation = Simulation::load_list(ws, catalog, lines.iter().map(String::as_str), None).unwrap();
        let mut out = Vec::new();
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        runtime.block_on(simulation.run(|line: &Line| out.push(serde_json::to_value(line).unwrap()))).unwrap();
        out
    }

    fn step(action: Value) -> Value {
        json!({ "after": "0s", "action": action })
    }

    fn promo(extra: Value) -> Value {
        let mut action = json!({ "type": "send_template", "template": "promo_natale", "language": "it",
            "header": { "type": "image", "link": "https://shop.example.com/natale.jpg" },
            "params": { "sconto": "20%", "first_name": "{{name}}" },
            "buttons": [ { "index": 1, "type": "quick_reply", "payload": "NO_PROMO" },
                         { "index": 0, "type": "url", "text": "natale?c={{name}}" } ] });
        action.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        action
    }

    #[test]
    fn a_named_template_sends_its_parameter_names_header_and_buttons_in_meta_s_order() {
        let lines = run(json!([step(promo(json!({})))]), false, Vec::new(), workspace());
        let components = &lines[0]["request"]["template"]["components"];
        assert_eq!(
            components,
            &json!([
                { "type": "header", "parameters": [ { "type": "image", "image": { "link": "https://shop.example.com/natale.jpg" } } ] },
                { "type": "body", "parameters": [ { "type": "text", "parameter_name": "first_name", "text": "Mario" },
                                                  { "type": "text", "parameter_name": "sconto", "text": "20%" } ] },
                { "type": "button", "sub_type": "url", "index": "0", "parameters": [ { "type": "text", "text": "natale?c=Mario" } ] },
                { "type": "button", "sub_type": "quick_reply", "index": "1", "parameters": [ { "type": "payload", "payload": "NO_PROMO" } ] }
            ]),
            "a template is sent outside the window too"
        );
    }

    #[test]
    fn a_named_template_s_text_header_names_its_placeholder() {
        let mut ws = workspace();
        ws.templates.push(
            serde_json::from_value(json!({ "name": "spedito", "language": "it", "status": "approved",
                "category": "utility", "parameter_format": "named", "body": "Ciao {{first_name}}",
                "header": { "format": "text", "text": "Ordine {{order_id}}" } }))
            .unwrap(),
        );
        let action = json!({ "type": "send_template", "template": "spedito", "language": "it",
            "header": { "type": "text", "text": "{{fields.order_id|A-1}}" }, "params": { "first_name": "{{name}}" } });
        let lines = run(json!([step(action)]), false, Vec::new(), ws);
        assert_eq!(
            lines[0]["request"]["template"]["components"][0],
            json!({ "type": "header", "parameters": [ { "type": "text", "parameter_name": "order_id", "text": "A-1" } ] })
        );
    }

    #[test]
    fn a_send_that_no_longer_fits_its_template_fails_with_params_mismatch() {
        for extra in [
            json!({ "header": null }),
            json!({ "params": { "first_name": "{{name}}" } }),
            json!({ "params": ["Mario", "20%"] }),
            json!({ "buttons": [] }),
            json!({ "header": { "type": "video", "link": "https://shop.example.com/natale.mp4" } }),
        ] {
            let mut action = promo(extra.clone());
            action.as_object_mut().unwrap().retain(|_, v| !v.is_null());
            let lines = run(json!([step(action)]), false, Vec::new(), workspace());
            assert_eq!(lines[0]["error"], "template_params_mismatch", "{extra}");
            assert!(lines[0].get("request").is_none());
        }
    }

    #[test]
    fn paused_and_disabled_templates_are_not_sent() {
        for name in ["in_pausa", "spento"] {
            let action = json!({ "type": "send_template", "template": name, "language": "it", "params": [] });
            let lines = run(json!([step(action)]), true, Vec::new(), workspace());
            assert_eq!(lines[0]["error"], "template_not_approved", "{name}");
        }
    }

    fn rich_messages() -> Value {
        json!([
            step(
                json!({ "type": "send_media", "media": "document", "link": "https://shop.example.com/{{fields.order_id|ordine}}.pdf",
                         "caption": "Ciao {{name}}", "filename": "ordine.pdf" })
            ),
            step(json!({ "type": "send_list", "text": "Dove ritiri, {{name}}?", "button": "Sedi",
                         "sections": [ { "rows": [ { "id": "mi", "title": "Milano" }, { "id": "rm", "title": "Roma" } ] } ] })),
            step(json!({ "type": "send_cta_url", "text": "Il tuo ordine", "display_text": "Segui",
                         "url": "https://shop.example.com/o/{{phone}}" })),
        ])
    }

    #[test]
    fn media_list_and_cta_messages_are_sent_inside_the_window() {
        let lines = run(rich_messages(), true, Vec::new(), workspace());
        assert_eq!(
            lines[0]["request"]["document"],
            json!({ "link": "https://shop.example.com/ordine.pdf", "caption": "Ciao Mario Rossi", "filename": "ordine.pdf" })
        );
        assert_eq!(lines[1]["request"]["interactive"]["type"], "list");
        assert_eq!(lines[1]["request"]["interactive"]["body"]["text"], "Dove ritiri, Mario Rossi?");
        assert_eq!(
            lines[2]["request"]["interactive"]["action"],
            json!({ "name": "cta_url", "parameters": { "display_text": "Segui", "url": "https://shop.example.com/o/393331234567" } })
        );
    }

    #[test]
    fn media_list_and_cta_messages_fail_outside_the_window() {
        let lines = run(rich_messages(), false, Vec::new(), workspace());
        let errors: Vec<&Value> = lines.iter().map(|l| &l["error"]).collect();
        assert_eq!(errors, [&json!("outside_customer_service_window"); 3]);
    }

    #[test]
    fn a_list_reply_chooses_a_wait_s_branch_by_row_id_or_title() {
        let steps = json!([
            step(json!({ "type": "send_list", "text": "Dove ritiri?", "button": "Sedi",
                         "sections": [ { "rows": [ { "id": "sede_mi", "title": "Milano" }, { "id": "sede_rm", "title": "Roma" } ] } ] })),
            step(json!({ "type": "wait_for_reply", "timeout": "1h", "branches": [
                { "reply": ["sede_mi"], "steps": [ step(json!({ "type": "add_tag", "tag": "milano" })) ] },
                { "reply": ["Roma"], "steps": [ step(json!({ "type": "add_tag", "tag": "roma" })) ] } ] })),
        ]);
        for (row, title, tag) in [("sede_mi", "Milano", "milano"), ("sede_rm", "Roma", "roma")] {
            let picked = json!({ "type": "interactive",
                "interactive": { "type": "list_reply", "list_reply": { "id": row, "title": title } } });
            let lines = run(steps.clone(), true, vec![wrote("2026-11-23T09:01:00Z", "2", picked)], workspace());
            assert!(lines.iter().any(|l| l["tag"] == tag), "{row}: {lines:?}");
        }
    }
}
