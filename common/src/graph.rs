//! The exact JSON bodies Avvio posts to the WhatsApp Cloud API
//! (`POST {WHATSAPP_API_BASE}/{version}/{phone_number_id}/messages`),
//! serialised once from typed shapes: what is printed is what is sent.

use crate::domain::automation::Button;
use crate::domain::contact::Contact;
use crate::domain::send::{ListSection, MediaKind};
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
    #[serde(skip_serializing_if = "Option::is_none")]
    image: Option<Media<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    video: Option<Media<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    document: Option<Media<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    audio: Option<Media<'a>>,
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

/// A component of a template message: `header`, `body`, or one `button` (with its
/// `sub_type` and `index`).
#[derive(Serialize)]
struct Component<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    sub_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    index: Option<String>,
    parameters: Vec<Parameter<'a>>,
}

/// A parameter of a template component, as Meta types it.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Parameter<'a> {
    Text {
        #[serde(skip_serializing_if = "Option::is_none")]
        parameter_name: Option<&'a str>,
        text: &'a str,
    },
    Image {
        image: Media<'a>,
    },
    Video {
        video: Media<'a>,
    },
    Document {
        document: Media<'a>,
    },
    Location {
        location: Location<'a>,
    },
    Payload {
        payload: &'a str,
    },
    CouponCode {
        coupon_code: &'a str,
    },
}

/// A medium by link, in a media message or a template header.
#[derive(Serialize)]
struct Media<'a> {
    link: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    caption: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    filename: Option<&'a str>,
}

#[derive(Serialize)]
struct Location<'a> {
    latitude: f64,
    longitude: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    address: Option<&'a str>,
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

/// The `action` of an interactive message: reply buttons, a list's sections, or a
/// call-to-action URL.
#[derive(Serialize)]
#[serde(untagged)]
enum InteractiveAction<'a> {
    Buttons { buttons: Vec<ReplyButton<'a>> },
    List { button: &'a str, sections: &'a [ListSection] },
    CtaUrl { name: &'static str, parameters: CtaUrl<'a> },
}

#[derive(Serialize)]
struct ReplyButton<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    reply: &'a Button,
}

#[derive(Serialize)]
struct CtaUrl<'a> {
    display_text: &'a str,
    url: &'a str,
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
        image: None,
        video: None,
        document: None,
        audio: None,
    }
}

fn serialise(message: &Message<'_>) -> GraphRequest {
    // `to_raw_value` keeps the text serde_json wrote (`RawValue::from_string` would parse it again).
    GraphRequest(serde_json::value::to_raw_value(message).expect("message bodies always serialise"))
}

/// A template header with its values rendered: what the send fills the template's header with.
#[derive(Debug, Clone, PartialEq)]
pub enum TemplateHeader {
    Image {
        link: String,
    },
    Video {
        link: String,
    },
    Document {
        link: String,
        filename: Option<String>,
    },
    /// `name`: the placeholder's name in a named template's header.
    Text {
        name: Option<String>,
        text: String,
    },
    Location {
        latitude: f64,
        longitude: f64,
        name: Option<String>,
        address: Option<String>,
    },
}

/// A body parameter: `name` for a named template, `None` for a positional one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyParam {
    pub name: Option<String>,
    pub text: String,
}

/// A button parameter with its value rendered, by the template button's index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateButton {
    /// The suffix a dynamic URL button's `{{1}}` is replaced with.
    Url {
        index: u8,
        text: String,
    },
    QuickReply {
        index: u8,
        payload: String,
    },
    CopyCode {
        index: u8,
        code: String,
    },
}

/// Everything a template message carries besides the recipient.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TemplateMessage<'a> {
    pub name: &'a str,
    pub language: &'a str,
    pub header: Option<TemplateHeader>,
    pub body: Vec<BodyParam>,
    pub buttons: Vec<TemplateButton>,
}

fn media<'a>(link: &'a str, filename: Option<&'a str>) -> Media<'a> {
    Media { link, caption: None, filename }
}

fn component<'a>(kind: &'static str, parameters: Vec<Parameter<'a>>) -> Component<'a> {
    Component { kind, sub_type: None, index: None, parameters }
}

fn header_component(header: &TemplateHeader) -> Component<'_> {
    let parameter = match header {
        TemplateHeader::Image { link } => Parameter::Image { image: media(link, None) },
        TemplateHeader::Video { link } => Parameter::Video { video: media(link, None) },
        TemplateHeader::Document { link, filename } => {
            Parameter::Document { document: media(link, filename.as_deref()) }
        }
        TemplateHeader::Text { name, text } => Parameter::Text { parameter_name: name.as_deref(), text },
        TemplateHeader::Location { latitude, longitude, name, address } => Parameter::Location {
            location: Location {
                latitude: *latitude,
                longitude: *longitude,
                name: name.as_deref(),
                address: address.as_deref(),
            },
        },
    };
    component("header", vec![parameter])
}

fn button_component(button: &TemplateButton) -> Component<'_> {
    let (sub_type, index, parameter) = match button {
        TemplateButton::Url { index, text } => ("url", index, Parameter::Text { parameter_name: None, text }),
        TemplateButton::QuickReply { index, payload } => ("quick_reply", index, Parameter::Payload { payload }),
        TemplateButton::CopyCode { index, code } => ("copy_code", index, Parameter::CouponCode { coupon_code: code }),
    };
    Component { kind: "button", sub_type: Some(sub_type), index: Some(index.to_string()), parameters: vec![parameter] }
}

/// A template message: its `header`, `body` and `button` components, each only when it has
/// parameters (a template with none has no `components`).
pub fn rich_template(contact: &Contact, message: &TemplateMessage<'_>) -> GraphRequest {
    let mut components: Vec<Component<'_>> = message.header.iter().map(header_component).collect();
    if !message.body.is_empty() {
        let parameters =
            message.body.iter().map(|p| Parameter::Text { parameter_name: p.name.as_deref(), text: &p.text }).collect();
        components.push(component("body", parameters));
    }
    components.extend(message.buttons.iter().map(button_component));
    let mut envelope = envelope(contact, "template");
    envelope.template = Some(Template { name: message.name, language: Code { code: message.language }, components });
    serialise(&envelope)
}

/// A template message with positional body parameters only.
pub fn template(contact: &Contact, name: &str, language: &str, params: &[String]) -> GraphRequest {
    let body = params.iter().map(|text| BodyParam { name: None, text: text.clone() }).collect();
    rich_template(contact, &TemplateMessage { name, language, body, ..TemplateMessage::default() })
}

/// A free-form text message (customer service window only).
pub fn text(contact: &Contact, body: &str) -> GraphRequest {
    let mut message = envelope(contact, "text");
    message.text = Some(Text { preview_url: false, body });
    serialise(&message)
}

/// An interactive reply-buttons message (customer service window only).
pub fn buttons(contact: &Contact, body: &str, buttons: &[Button]) -> GraphRequest {
    interactive(
        contact,
        "button",
        body,
        InteractiveAction::Buttons {
            buttons: buttons.iter().map(|reply| ReplyButton { kind: "reply", reply }).collect(),
        },
    )
}

/// An interactive list message: `button` opens the sections (customer service window only).
pub fn list(contact: &Contact, body: &str, button: &str, sections: &[ListSection]) -> GraphRequest {
    interactive(contact, "list", body, InteractiveAction::List { button, sections })
}

/// An interactive call-to-action URL message (customer service window only).
pub fn cta_url(contact: &Contact, body: &str, display_text: &str, url: &str) -> GraphRequest {
    let parameters = CtaUrl { display_text, url };
    interactive(contact, "cta_url", body, InteractiveAction::CtaUrl { name: "cta_url", parameters })
}

fn interactive<'a>(
    contact: &'a Contact,
    kind: &'static str,
    body: &'a str,
    action: InteractiveAction<'a>,
) -> GraphRequest {
    let mut message = envelope(contact, "interactive");
    message.interactive = Some(Interactive { kind, body: InteractiveBody { text: body }, action });
    serialise(&message)
}

/// A media message by link: `caption` (not for audio) and `filename` (documents) when given
/// (customer service window only).
pub fn media_message(
    contact: &Contact,
    kind: MediaKind,
    link: &str,
    caption: Option<&str>,
    filename: Option<&str>,
) -> GraphRequest {
    let mut message = envelope(contact, kind.as_str());
    let medium = Some(Media { link, caption, filename });
    match kind {
        MediaKind::Image => message.image = medium,
        MediaKind::Video => message.video = medium,
        MediaKind::Document => message.document = medium,
        MediaKind::Audio => message.audio = medium,
    }
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

    /// One of Meta's documented bodies, saved under `tests/fixtures/meta/`.
    fn meta(name: &str) -> serde_json::Value {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/meta").join(name);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        serde_json::from_str(&text).unwrap()
    }

    fn named(name: &str, text: &str) -> BodyParam {
        BodyParam { name: Some(name.into()), text: text.into() }
    }

    fn positional(text: &str) -> BodyParam {
        BodyParam { name: None, text: text.into() }
    }

    #[test]
    fn a_named_template_with_an_image_header_and_a_url_button_is_meta_s_body() {
        let message = TemplateMessage {
            name: "promo_natale",
            language: "it",
            header: Some(TemplateHeader::Image { link: "https://shop.example.com/natale.jpg".into() }),
            body: vec![named("first_name", "Mario"), named("sconto", "20%")],
            buttons: vec![
                TemplateButton::Url { index: 0, text: "natale?c=mario".into() },
                TemplateButton::QuickReply { index: 1, payload: "NO_PROMO".into() },
            ],
        };
        assert_eq!(rich_template(&mario(), &message).to_value(), meta("template_named_image_header_url_button.json"));
    }

    #[test]
    fn a_document_header_keeps_its_filename_and_a_copy_code_button_sends_a_coupon_code() {
        let message = TemplateMessage {
            name: "fattura_sconto",
            language: "it",
            header: Some(TemplateHeader::Document {
                link: "https://shop.example.com/fatture/42.pdf".into(),
                filename: Some("fattura-42.pdf".into()),
            }),
            body: vec![positional("Mario"), positional("42")],
            buttons: vec![TemplateButton::CopyCode { index: 0, code: "GRAZIE10".into() }],
        };
        assert_eq!(rich_template(&mario(), &message).to_value(), meta("template_document_header_copy_code.json"));
    }

    #[test]
    fn location_and_text_headers_are_meta_s_bodies() {
        let location = TemplateMessage {
            name: "ritiro_ordine",
            language: "it",
            header: Some(TemplateHeader::Location {
                latitude: 45.4642,
                longitude: 9.19,
                name: Some("Negozio Milano Centro".into()),
                address: Some("Via Torino 21, Milano".into()),
            }),
            ..TemplateMessage::default()
        };
        assert_eq!(rich_template(&mario(), &location).to_value(), meta("template_location_header.json"));
        let text = TemplateMessage {
            name: "ordine_spedito",
            language: "it",
            header: Some(TemplateHeader::Text { name: None, text: "42".into() }),
            body: vec![positional("Mario")],
            ..TemplateMessage::default()
        };
        assert_eq!(rich_template(&mario(), &text).to_value(), meta("template_text_header.json"));
    }

    #[test]
    fn media_messages_are_meta_s_bodies() {
        let image = media_message(
            &mario(),
            MediaKind::Image,
            "https://shop.example.com/menu.jpg",
            Some("Il menu di oggi"),
            None,
        );
        assert_eq!(image.to_value(), meta("media_image.json"));
        let document = media_message(
            &mario(),
            MediaKind::Document,
            "https://shop.example.com/listino.pdf",
            Some("Il listino 2026"),
            Some("listino-2026.pdf"),
        );
        assert_eq!(document.to_value(), meta("media_document.json"));
        let audio = media_message(&mario(), MediaKind::Audio, "https://shop.example.com/benvenuto.mp3", None, None);
        assert_eq!(audio.to_value(), meta("media_audio.json"));
    }

    #[test]
    fn a_list_message_is_meta_s_body() {
        let fixture = meta("list.json");
        let sections: Vec<ListSection> =
            serde_json::from_value(fixture["interactive"]["action"]["sections"].clone()).unwrap();
        let body = list(&mario(), "In quale sede vuoi ritirare?", "Scegli la sede", &sections);
        assert_eq!(body.to_value(), fixture);
    }

    #[test]
    fn a_cta_url_message_is_meta_s_body() {
        let body =
            cta_url(&mario(), "Il tuo ordine è in viaggio.", "Segui l'ordine", "https://shop.example.com/ordini/42");
        assert_eq!(body.to_value(), meta("cta_url.json"));
    }

    #[test]
    fn template_components_come_in_meta_s_key_order() {
        let message = TemplateMessage {
            name: "t",
            language: "it",
            buttons: vec![TemplateButton::Url { index: 1, text: "x".into() }],
            ..TemplateMessage::default()
        };
        let text = rich_template(&mario(), &message);
        assert!(
            text.as_str().contains(
                r#"{"type":"button","sub_type":"url","index":"1","parameters":[{"type":"text","text":"x"}]}"#
            ),
            "{text:?}"
        );
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
