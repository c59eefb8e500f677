//! What the message actions carry beyond a text (SPEC §2.5): a template send's header,
//! its positional or named params and its button parameters; a media message's kind; a
//! list message's sections and rows.
//!
//! Shapes only: how they must match a template, and Meta's limits, are checked in
//! [`crate::validate`]; the Graph bodies they become are in [`crate::graph`].

use super::interpolate::Interpolated;
use super::tagged::type_tagged;
use super::workspace::{HeaderFormat, TemplateButtonKind};
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Deserialize, Serialize};
use std::fmt;

type_tagged! {
    /// The header a template send fills: a medium by link, a text, or a location.
    #[derive(Debug, Clone, PartialEq)]
    pub enum HeaderParam {
        Image = "image" {
            link: Interpolated,
        },
        Video = "video" {
            link: Interpolated,
        },
        Document = "document" {
            link: Interpolated,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            filename: Option<Interpolated>,
        },
        Text = "text" {
            text: Interpolated,
        },
        Location = "location" {
            latitude: f64,
            longitude: f64,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            name: Option<Interpolated>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            address: Option<Interpolated>,
        },
    }
}

impl HeaderParam {
    /// The template header format this header fills.
    pub fn format(&self) -> HeaderFormat {
        match self {
            Self::Image { .. } => HeaderFormat::Image,
            Self::Video { .. } => HeaderFormat::Video,
            Self::Document { .. } => HeaderFormat::Document,
            Self::Text { .. } => HeaderFormat::Text,
            Self::Location { .. } => HeaderFormat::Location,
        }
    }

    /// The link of a media header.
    pub fn link(&self) -> Option<&Interpolated> {
        match self {
            Self::Image { link } | Self::Video { link } | Self::Document { link, .. } => Some(link),
            Self::Text { .. } | Self::Location { .. } => None,
        }
    }
}

/// One param of a named template send: `"first_name": "{{name}}"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedParam {
    pub name: String,
    pub value: Interpolated,
}

/// A template send's params: a list for a positional template (`{{1}}`, `{{2}}`…), an
/// object for a named one (`{"first_name": "{{name}}"}`, kept in the order written).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateParams {
    Positional(Vec<Interpolated>),
    Named(Vec<NamedParam>),
}

impl Default for TemplateParams {
    fn default() -> Self {
        Self::Positional(Vec::new())
    }
}

impl TemplateParams {
    /// How many params are given.
    pub fn len(&self) -> usize {
        match self {
            Self::Positional(list) => list.len(),
            Self::Named(list) => list.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every value, in the order written.
    pub fn values(&self) -> Vec<&Interpolated> {
        match self {
            Self::Positional(list) => list.iter().collect(),
            Self::Named(list) => list.iter().map(|p| &p.value).collect(),
        }
    }
}

impl Serialize for TemplateParams {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Positional(list) => {
                let mut seq = s.serialize_seq(Some(list.len()))?;
                for value in list {
                    seq.serialize_element(value)?;
                }
                seq.end()
            }
            Self::Named(list) => {
                let mut map = s.serialize_map(Some(list.len()))?;
                for param in list {
                    map.serialize_entry(&param.name, &param.value)?;
                }
                map.end()
            }
        }
    }
}

/// Read by a visitor (not an untagged enum), so an error names its element:
/// `params[1]`, `params.first_name`.
impl<'de> Deserialize<'de> for TemplateParams {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ParamsVisitor;

        impl<'de> Visitor<'de> for ParamsVisitor {
            type Value = TemplateParams;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of params (positional template) or an object of named params")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<TemplateParams, A::Error> {
                let mut list = Vec::new();
                while let Some(value) = seq.next_element::<Interpolated>()? {
                    list.push(value);
                }
                Ok(TemplateParams::Positional(list))
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<TemplateParams, A::Error> {
                let mut list: Vec<NamedParam> = Vec::new();
                while let Some(name) = map.next_key::<String>()? {
                    let value = map.next_value::<Interpolated>()?;
                    if list.iter().any(|p| p.name == name) {
                        return Err(de::Error::custom(format!("the param `{name}` is given twice")));
                    }
                    list.push(NamedParam { name, value });
                }
                Ok(TemplateParams::Named(list))
            }
        }

        d.deserialize_any(ParamsVisitor)
    }
}

type_tagged! {
    /// A parameter of one of the template's buttons, by the button's index: a URL button's
    /// suffix (filling its `{{1}}`), a quick reply's payload, a copy-code button's code.
    #[derive(Debug, Clone, PartialEq)]
    pub enum ButtonParam {
        Url = "url" {
            index: u8,
            text: Interpolated,
        },
        QuickReply = "quick_reply" {
            index: u8,
            payload: Interpolated,
        },
        CopyCode = "copy_code" {
            index: u8,
            code: Interpolated,
        },
    }
}

impl ButtonParam {
    /// The index of the template button it fills (0-based).
    pub fn index(&self) -> u8 {
        match self {
            Self::Url { index, .. } | Self::QuickReply { index, .. } | Self::CopyCode { index, .. } => *index,
        }
    }

    /// The kind of template button it fills.
    pub fn kind(&self) -> TemplateButtonKind {
        match self {
            Self::Url { .. } => TemplateButtonKind::Url,
            Self::QuickReply { .. } => TemplateButtonKind::QuickReply,
            Self::CopyCode { .. } => TemplateButtonKind::CopyCode,
        }
    }

    /// The value the button is filled with.
    pub fn value(&self) -> &Interpolated {
        match self {
            Self::Url { text, .. } => text,
            Self::QuickReply { payload, .. } => payload,
            Self::CopyCode { code, .. } => code,
        }
    }

    /// The name of its value in the document (`text`, `payload`, `code`).
    pub fn value_key(&self) -> &'static str {
        match self {
            Self::Url { .. } => "text",
            Self::QuickReply { .. } => "payload",
            Self::CopyCode { .. } => "code",
        }
    }
}

/// The kind of a `send_media` message: the Graph message `type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaKind {
    Image,
    Video,
    Document,
    Audio,
}

impl MediaKind {
    /// The name documents and Meta use.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Image => "image",
            Self::Video => "video",
            Self::Document => "document",
            Self::Audio => "audio",
        }
    }
}

/// A section of a `send_list` message: an optional title and its rows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListSection {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    pub rows: Vec<ListRow>,
}

/// A row the contact can pick from a list message; its id or title comes back as the reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListRow {
    pub id: String,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn params_read_as_a_list_or_an_object_and_write_back_as_written() {
        let positional: TemplateParams = serde_json::from_value(json!(["{{name}}", "10%"])).unwrap();
        assert_eq!(positional.len(), 2);
        assert!(matches!(positional, TemplateParams::Positional(_)));
        assert_eq!(serde_json::to_value(&positional).unwrap(), json!(["{{name}}", "10%"]));
        let named: TemplateParams = serde_json::from_str(r#"{"sconto": "10%", "first_name": "{{name}}"}"#).unwrap();
        let TemplateParams::Named(list) = &named else { panic!("named") };
        assert_eq!(list[0].name, "sconto", "the order written is kept");
        assert_eq!(serde_json::to_string(&named).unwrap(), r#"{"sconto":"10%","first_name":"{{name}}"}"#);
    }

    #[test]
    fn a_bad_param_is_named_by_its_place() {
        let at = |value: serde_json::Value| {
            serde_path_to_error::deserialize::<_, TemplateParams>(value).unwrap_err().path().to_string()
        };
        assert_eq!(at(json!(["ok", "{{surname}}"])), "[1]");
        assert_eq!(at(json!({ "first_name": "{{nome}}" })), "first_name");
        assert!(serde_json::from_value::<TemplateParams>(json!("Mario")).is_err());
    }

    #[test]
    fn headers_and_buttons_read_by_their_type() {
        let header: HeaderParam =
            serde_json::from_value(json!({ "type": "document", "link": "https://x.it/a.pdf", "filename": "a.pdf" }))
                .unwrap();
        assert_eq!(header.format(), HeaderFormat::Document);
        let button: ButtonParam =
            serde_json::from_value(json!({ "index": 1, "type": "url", "text": "ordine/42" })).unwrap();
        assert_eq!((button.index(), button.kind()), (1, TemplateButtonKind::Url));
        assert!(serde_json::from_value::<HeaderParam>(json!({ "type": "gif", "link": "https://x.it" })).is_err());
        assert!(serde_json::from_value::<ButtonParam>(json!({ "index": 0, "type": "url", "url": "x" })).is_err());
    }
}
