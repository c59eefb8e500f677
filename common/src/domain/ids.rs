//! Identifier newtypes. Each is built by `parse` (or `TryFrom<String>` for
//! serde), so a value of the type is always well formed.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;

/// Why an identifier was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} {reason}")]
pub struct IdError {
    pub what: &'static str,
    pub reason: String,
}

macro_rules! string_id {
    ($(#[$meta:meta])* $name:ident, $what:literal, max = $max:expr, allowed = $allowed:expr) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
        #[serde(try_from = "String")]
        pub struct $name(Arc<str>);

        /// Written as the string it is (no copy into a `String` first).
        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl $name {
            /// Checks `raw` and wraps it.
            pub fn parse(raw: impl Into<Arc<str>>) -> Result<Self, IdError> {
                let raw: Arc<str> = raw.into();
                let allowed: fn(char) -> bool = $allowed;
                if raw.is_empty() {
                    return Err(IdError { what: $what, reason: "must not be empty".into() });
                }
                // Bytes bound characters: only a long id needs counting.
                if raw.len() > $max && raw.chars().count() > $max {
                    return Err(IdError { what: $what, reason: format!("must be at most {} characters", $max) });
                }
                if let Some(bad) = raw.chars().find(|c| !allowed(*c)) {
                    return Err(IdError { what: $what, reason: format!("must not contain {bad:?}") });
                }
                Ok(Self(raw))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(raw: String) -> Result<Self, IdError> {
                Self::parse(raw)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0.to_string()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }
    };
}

fn slug_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')
}

fn printable(c: char) -> bool {
    !c.is_control()
}

string_id!(
    /// A tenant.
    WorkspaceId, "workspace id", max = 64, allowed = slug_char
);
string_id!(
    /// An automation's id, chosen by the user or generated (`info-1.1`).
    AutomationId, "automation id", max = 64, allowed = slug_char
);
string_id!(
    /// One run of one automation for one contact.
    RunId, "run id", max = 64, allowed = slug_char
);
string_id!(
    /// WhatsApp's message id (`wamid.…`), the dedupe key of inbound messages.
    Wamid, "message id", max = 256, allowed = printable
);
string_id!(
    /// An approved template's name (`welcome`).
    TemplateName, "template name", max = 512, allowed = |c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'
);
string_id!(
    /// A template language code (`it`, `en_US`).
    Language, "language", max = 16, allowed = |c| c.is_ascii_alphanumeric() || c == '_' || c == '-'
);
string_id!(
    /// A contact list (`vip`).
    ListName, "list name", max = 100, allowed = printable
);
string_id!(
    /// A contact tag (`lead`).
    Tag, "tag", max = 100, allowed = printable
);
string_id!(
    /// A dynamic field's key (`city`, `birthday`).
    FieldKey, "field name", max = 64, allowed = |c| c.is_alphanumeric() || matches!(c, '-' | '_')
);

impl RunId {
    /// An id Avvio derived itself (`r-` and hex digits), valid by construction: not checked again.
    pub(crate) fn derived(id: &str) -> Self {
        debug_assert!(Self::parse(id).is_ok(), "`{id}` is a run id");
        Self(id.into())
    }
}

impl Wamid {
    /// An id the simulated sender made (`wamid.avvio.000001`), valid by construction: not checked again.
    pub(crate) fn simulated(id: &str) -> Self {
        debug_assert!(Self::parse(id).is_ok(), "`{id}` is a wamid");
        Self(id.into())
    }
}

/// An operator, identified by email.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(try_from = "String")]
pub struct Operator(String);

impl Serialize for Operator {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl Operator {
    pub fn parse(raw: impl Into<String>) -> Result<Self, IdError> {
        let raw = raw.into().trim().to_string();
        let valid = raw.len() <= 254
            && !raw.chars().any(char::is_whitespace)
            && matches!(raw.split_once('@'), Some((local, domain)) if !local.is_empty() && domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.'));
        if valid {
            Ok(Self(raw))
        } else {
            Err(IdError { what: "operator", reason: format!("`{raw}` is not an email address") })
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Operator {
    type Error = IdError;
    fn try_from(raw: String) -> Result<Self, IdError> {
        Self::parse(raw)
    }
}

impl From<Operator> for String {
    fn from(op: Operator) -> String {
        op.0
    }
}

impl fmt::Display for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn automation_ids_accept_dotted_names() {
        assert_eq!(AutomationId::parse("info-1.1").unwrap().as_str(), "info-1.1");
    }

    #[test]
    fn ids_with_spaces_are_refused_naming_the_character() {
        let err = AutomationId::parse("info 1").unwrap_err();
        assert_eq!(err.to_string(), "automation id must not contain ' '");
    }

    #[test]
    fn operators_must_be_email_addresses() {
        assert!(Operator::parse("anna@shop.it").is_ok());
        assert!(Operator::parse("anna").is_err());
        assert!(Operator::parse("anna@shop").is_err());
    }
}
