//! Interpolation of `{{name}}`, `{{phone}}`, `{{fields.KEY}}` and
//! `{{fields.KEY|default}}` in texts, template params and webhook bodies.
//! Texts are parsed once (at save time, so unknown variables are caught then)
//! and rendered per contact.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A variable a text can refer to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Variable {
    Name,
    Phone,
    Field(String),
}

impl fmt::Display for Variable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Name => f.write_str("name"),
            Self::Phone => f.write_str("phone"),
            Self::Field(key) => write!(f, "fields.{key}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Variable { variable: Variable, default: Option<String> },
}

/// Why a text could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InterpolationError {
    #[error("`{{{{` at character {0} is never closed with `}}}}`")]
    Unclosed(usize),
    #[error("unknown variable `{0}`: use name, phone or fields.KEY")]
    UnknownVariable(String),
}

/// The values a text is rendered with.
pub trait Variables {
    fn name(&self) -> Option<&str>;
    fn phone(&self) -> Option<&str>;
    fn field(&self, key: &str) -> Option<&str>;
}

/// A parsed text. Serialises back to exactly the text it was parsed from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interpolated {
    source: String,
    segments: Vec<Segment>,
}

impl Interpolated {
    pub fn parse(source: &str) -> Result<Self, InterpolationError> {
        let mut segments = Vec::new();
        let mut rest = source;
        let mut offset = 0;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                segments.push(Segment::Literal(rest[..open].to_string()));
            }
            let inner_start = open + 2;
            let close = rest[inner_start..]
                .find("}}")
                .ok_or(InterpolationError::Unclosed(source[..offset + open].chars().count()))?;
            let inner = &rest[inner_start..inner_start + close];
            segments.push(parse_variable(inner)?);
            let consumed = inner_start + close + 2;
            offset += consumed;
            rest = &rest[consumed..];
        }
        if !rest.is_empty() {
            segments.push(Segment::Literal(rest.to_string()));
        }
        Ok(Self { source: source.to_string(), segments })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// Renders with `vars`; the first variable with no value and no default is the error.
    pub fn render(&self, vars: &impl Variables) -> Result<String, Variable> {
        let mut out = String::with_capacity(self.source.len());
        for segment in &self.segments {
            match segment {
                Segment::Literal(text) => out.push_str(text),
                Segment::Variable { variable, default } => {
                    let value = match variable {
                        Variable::Name => vars.name(),
                        Variable::Phone => vars.phone(),
                        Variable::Field(key) => vars.field(key),
                    };
                    match value.filter(|v| !v.is_empty()).or(default.as_deref()) {
                        Some(v) => out.push_str(v),
                        None => return Err(variable.clone()),
                    }
                }
            }
        }
        Ok(out)
    }

    /// Whether the text holds no variable at all.
    pub fn is_literal(&self) -> bool {
        self.segments.iter().all(|s| matches!(s, Segment::Literal(_)))
    }
}

fn parse_variable(inner: &str) -> Result<Segment, InterpolationError> {
    let (name, default) = match inner.split_once('|') {
        Some((name, default)) => (name.trim(), Some(default.to_string())),
        None => (inner.trim(), None),
    };
    let variable = match name {
        "name" => Variable::Name,
        "phone" => Variable::Phone,
        _ => match name.strip_prefix("fields.") {
            Some(key) if !key.is_empty() && key.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '-') => {
                Variable::Field(key.to_string())
            }
            _ => return Err(InterpolationError::UnknownVariable(name.to_string())),
        },
    };
    Ok(Segment::Variable { variable, default })
}

impl Serialize for Interpolated {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.source)
    }
}

impl<'de> Deserialize<'de> for Interpolated {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    struct Vars {
        name: Option<&'static str>,
        fields: HashMap<&'static str, &'static str>,
    }

    impl Variables for Vars {
        fn name(&self) -> Option<&str> {
            self.name
        }
        fn phone(&self) -> Option<&str> {
            Some("393331234567")
        }
        fn field(&self, key: &str) -> Option<&str> {
            self.fields.get(key).copied()
        }
    }

    fn mario() -> Vars {
        Vars { name: Some("Mario"), fields: HashMap::from([("city", "Roma")]) }
    }

    #[test]
    fn variables_are_replaced_by_the_contact_values() {
        let text = Interpolated::parse("Ciao {{name}} da {{ fields.city }} ({{phone}})").unwrap();
        assert_eq!(text.render(&mario()).unwrap(), "Ciao Mario da Roma (393331234567)");
    }

    #[test]
    fn a_default_fills_a_missing_field() {
        let text = Interpolated::parse("{{fields.zip|00100}} {{fields.city|Milano}}").unwrap();
        assert_eq!(text.render(&mario()).unwrap(), "00100 Roma");
    }

    #[test]
    fn a_missing_value_without_default_names_the_variable() {
        let text = Interpolated::parse("Ciao {{fields.surname}}").unwrap();
        assert_eq!(text.render(&mario()), Err(Variable::Field("surname".into())));
        let nameless = Vars { name: None, fields: HashMap::new() };
        assert_eq!(Interpolated::parse("{{name}}").unwrap().render(&nameless), Err(Variable::Name));
    }

    #[test]
    fn unknown_variables_and_unclosed_braces_are_parse_errors() {
        assert_eq!(Interpolated::parse("{{surname}}"), Err(InterpolationError::UnknownVariable("surname".into())));
        assert_eq!(Interpolated::parse("ciao {{name"), Err(InterpolationError::Unclosed(5)));
    }

    #[test]
    fn single_braces_are_literal_text() {
        let text = Interpolated::parse("{ok} }}").unwrap();
        assert!(text.is_literal());
        assert_eq!(text.render(&mario()).unwrap(), "{ok} }}");
    }

    proptest! {
        #[test]
        fn interpolation_never_panics(raw in "\\PC{0,80}|[{}|a-z. ]{0,40}") {
            if let Ok(text) = Interpolated::parse(&raw) {
                let _ = text.render(&mario());
                prop_assert_eq!(text.source(), raw.as_str());
            }
        }
    }
}
