//! The exact JSON bodies Avvio posts to the WhatsApp Cloud API
//! (`POST {WHATSAPP_API_BASE}/{version}/{phone_number_id}/messages`),
//! serialised once from typed shapes: what is printed is what is sent.

use crate::domain::automation::Button;
use crate::domain::contact::Contact;
use serde::Serialize;
use serde_json::value::RawValue;
use std::fmt;

/// A serialised Graph API message body.
#[derive(Clone, Serialize)]
#[serde(transparent)]
pub struct GraphRequest(Box<RawValue>);

impl GraphRequest {
    /// The body's JSON text, byte for byte what is posted.
    pub fn as_str(&self) -> &str {
        self.0.get()
    }

    /// The body as a JSON value (for inspection).
    pub fn to_value(&self) -> serde_json::Value {
        serde_json::from_str(self.as_str()).expect("a request is valid JSON")
    }
}

impl PartialEq for GraphRequest {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl fmt::Debug for GraphRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Serialize)]
struct Message<'a> {
    messaging_product: &'static str,
    recipient_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    to: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    recipient: Option<&'a str>,
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<Text<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    template: Option<Template<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    interactive: Option<Interactive<'a>>,
}

#[derive(Serialize)]
struct Text<'a> {
    preview_url: bool,
    body: &'a str,
}

#[derive(Serialize)]
struct Template<'a> {
    name: &'a str,
    language: Code<'a>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    components: Vec<Component<'a>>,
}

#[derive(Serialize)]
struct Code<'a> {
    code: &'a str,
}

#[derive(Serialize)]
struct Component<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    parameters: Vec<TextParameter<'a>>,
}

#[derive(Serialize)]
struct TextParameter<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    text: &'a str,
}

#[derive(Serialize)]
struct Interactive<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    body: InteractiveBody<'a>,
    action: InteractiveAction<'a>,
}

#[derive(Serialize)]
struct InteractiveBody<'a> {
    text: &'a str,
}

#[derive(Serialize)]
struct InteractiveAction<'a> {
    buttons: Vec<ReplyButton<'a>>,
}

#[derive(Serialize)]
struct ReplyButton<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    reply: &'a Button,
}

/// The common envelope: `"to": phone` when the phone is known, else `"recipient": BSUID`.
fn envelope<'a>(contact: &'a Contact, kind: &'static str) -> Message<'a> {
    let (to, recipient) = match (&contact.phone, &contact.bsuid) {
        (Some(phone), _) => (Some(phone.as_str()), None),
        (None, Some(bsuid)) => (None, Some(bsuid.as_str())),
        (None, None) => unreachable!("a contact always has a phone or a BSUID"),
    };
    Message {
        messaging_product: "whatsapp",
        recipient_type: "individual",
        to,
        recipient,
        kind,
        text: None,
        template: None,
        interactive: None,
    }
}

fn serialise(message: &Message<'_>) -> GraphRequest {
    // `to_raw_value` keeps the text serde_json wrote (`RawValue::from_string` would parse it again).
    GraphRequest(serde_json::value::to_raw_value(message).expect("message bodies always serialise"))
}

/// A template message with its body parameters.
pub fn template(contact: &Contact, name: &str, language: &str, params: &[String]) -> GraphRequest {
    let components = if params.is_empty() {
        Vec::new()
    } else {
        let parameters = params.iter().map(|p| TextParameter { kind: "text", text: p }).collect();
        vec![Component { kind: "body", parameters }]
    };
    let mut message = envelope(contact, "template");
    message.template = Some(Template { name, language: Code { code: language }, components });
    serialise(&message)
}

/// A free-form text message (customer service window only).
pub fn text(contact: &Contact, body: &str) -> GraphRequest {
    let mut message = envelope(contact, "text");
    message.text = Some(Text { preview_url: false, body });
    serialise(&message)
}

/// An interactive reply-buttons message (customer service window only).
pub fn buttons(contact: &Contact, body: &str, buttons: &[Button]) -> GraphRequest {
    let mut message = envelope(contact, "interactive");
    message.interactive = Some(Interactive {
        kind: "button",
        body: InteractiveBody { text: body },
        action: InteractiveAction {
            buttons: buttons.iter().map(|reply| ReplyButton { kind: "reply", reply }).collect(),
        },
    });
    serialise(&message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::phone::{Bsuid, ContactKey, WaId};
    use serde_json::json;

    fn mario() -> Contact {
        Contact::new(&ContactKey::Phone(WaId::parse("393331234567").unwrap()))
    }

    #[test]
    fn a_template_names_its_language_and_body_parameters() {
        assert_eq!(
            template(&mario(), "welcome", "it", &["Mario".into()]).to_value(),
            json!({
                "messaging_product": "whatsapp", "recipient_type": "individual", "to": "393331234567",
                "type": "template",
                "template": { "name": "welcome", "language": { "code": "it" },
                              "components": [{ "type": "body", "parameters": [{ "type": "text", "text": "Mario" }] }] }
            })
        );
    }

    #[test]
    fn a_template_without_params_has_no_components() {
        let body = template(&mario(), "plain", "it", &[]).to_value();
        assert!(body["template"].get("components").is_none(), "{body}");
    }

    #[test]
    fn keys_come_in_the_order_of_meta_s_documentation() {
        assert_eq!(
            text(&mario(), "Ciao").as_str(),
            r#"{"messaging_product":"whatsapp","recipient_type":"individual","to":"393331234567","type":"text","text":{"preview_url":false,"body":"Ciao"}}"#
        );
    }

    #[test]
    fn a_contact_known_only_by_bsuid_is_addressed_as_recipient() {
        let contact = Contact::new(&ContactKey::Bsuid(Bsuid::parse("IT.1502576394655843").unwrap()));
        let body = text(&contact, "Ciao").to_value();
        assert_eq!(body["recipient"], "IT.1502576394655843");
        assert!(body.get("to").is_none());
    }

    #[test]
    fn reply_buttons_carry_their_ids_and_titles() {
        let body = buttons(&mario(), "Scegli", &[Button { id: "1.1.1".into(), title: "Sì".into() }]).to_value();
        assert_eq!(
            body["interactive"],
            json!({ "type": "button", "body": { "text": "Scegli" },
                    "action": { "buttons": [{ "type": "reply", "reply": { "id": "1.1.1", "title": "Sì" } }] } })
        );
    }
}
