//! The exact JSON bodies Avvio posts to the WhatsApp Cloud API
//! (`POST {WHATSAPP_API_BASE}/{version}/{phone_number_id}/messages`).

use crate::domain::automation::Button;
use crate::domain::contact::Contact;
use serde_json::{Value, json};

/// The recipient keys of a message: `"to": phone` when the phone is known, else `"recipient": BSUID`.
fn addressed(contact: &Contact, mut body: Value) -> Value {
    let map = body.as_object_mut().expect("message bodies are objects");
    map.insert("messaging_product".into(), "whatsapp".into());
    map.insert("recipient_type".into(), "individual".into());
    match (&contact.phone, &contact.bsuid) {
        (Some(phone), _) => map.insert("to".into(), phone.as_str().into()),
        (None, Some(bsuid)) => map.insert("recipient".into(), bsuid.as_str().into()),
        (None, None) => unreachable!("a contact always has a phone or a BSUID"),
    };
    body
}

/// A template message with its body parameters.
pub fn template(contact: &Contact, name: &str, language: &str, params: &[String]) -> Value {
    let mut template = json!({ "name": name, "language": { "code": language } });
    if !params.is_empty() {
        let parameters: Vec<Value> = params.iter().map(|p| json!({ "type": "text", "text": p })).collect();
        template["components"] = json!([{ "type": "body", "parameters": parameters }]);
    }
    addressed(contact, json!({ "type": "template", "template": template }))
}

/// A free-form text message (customer service window only).
pub fn text(contact: &Contact, body: &str) -> Value {
    addressed(
        contact,
        json!({ "type": "text", "text": { "preview_url": false, "body": body } }),
    )
}

/// An interactive reply-buttons message (customer service window only).
pub fn buttons(contact: &Contact, body: &str, buttons: &[Button]) -> Value {
    let buttons: Vec<Value> = buttons
        .iter()
        .map(|b| json!({ "type": "reply", "reply": { "id": b.id, "title": b.title } }))
        .collect();
    addressed(
        contact,
        json!({
            "type": "interactive",
            "interactive": { "type": "button", "body": { "text": body }, "action": { "buttons": buttons } }
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::phone::{Bsuid, ContactKey, WaId};

    #[test]
    fn a_template_names_its_language_and_body_parameters() {
        let contact = Contact::new(&ContactKey::Phone(WaId::parse("393331234567").unwrap()));
        assert_eq!(
            template(&contact, "welcome", "it", &["Mario".into()]),
            json!({
                "messaging_product": "whatsapp", "recipient_type": "individual", "to": "393331234567",
                "type": "template",
                "template": { "name": "welcome", "language": { "code": "it" },
                              "components": [{ "type": "body", "parameters": [{ "type": "text", "text": "Mario" }] }] }
            })
        );
    }

    #[test]
    fn a_contact_known_only_by_bsuid_is_addressed_as_recipient() {
        let contact = Contact::new(&ContactKey::Bsuid(Bsuid::parse("IT.1502576394655843").unwrap()));
        let body = text(&contact, "Ciao");
        assert_eq!(body["recipient"], "IT.1502576394655843");
        assert!(body.get("to").is_none());
    }

    #[test]
    fn reply_buttons_carry_their_ids_and_titles() {
        let contact = Contact::new(&ContactKey::Phone(WaId::parse("393331234567").unwrap()));
        let body = buttons(
            &contact,
            "Scegli",
            &[Button {
                id: "1.1.1".into(),
                title: "Sì".into(),
            }],
        );
        assert_eq!(
            body["interactive"]["action"]["buttons"][0],
            json!({ "type": "reply", "reply": { "id": "1.1.1", "title": "Sì" } })
        );
    }
}
