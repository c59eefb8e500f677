//! Contact identity: a phone (`wa_id`) when known, else the business-scoped
//! user id (BSUID) Meta sends for users who adopted a WhatsApp username.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;

/// Why a phone or BSUID was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    #[error("`{0}` is not a phone number: use digits with the country code, e.g. +39 333 123 4567")]
    BadPhone(String),
    #[error("`{0}` is not a business-scoped user id (e.g. IT.1502576394655843)")]
    BadBsuid(String),
}

/// A phone number in WhatsApp's `wa_id` form: digits only, country code first.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(try_from = "String")]
pub struct WaId(Arc<str>);

impl Serialize for WaId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl WaId {
    /// Normalises a human-written number: `+39 333 123 4567`, `0039-333-1234567`
    /// and `393331234567` all become `393331234567`.
    pub fn parse(raw: &str) -> Result<Self, IdentityError> {
        // The usual case, a `wa_id` from Meta, is already in this form.
        if (8..=15).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_digit()) && !raw.starts_with('0') {
            return Ok(Self(raw.into()));
        }
        let bad = || IdentityError::BadPhone(raw.to_string());
        let trimmed = raw.trim();
        let without_plus = trimmed.strip_prefix('+').unwrap_or(trimmed);
        let mut digits = String::with_capacity(without_plus.len());
        for c in without_plus.chars() {
            match c {
                '0'..='9' => digits.push(c),
                ' ' | '-' | '.' | '(' | ')' | '\u{a0}' => {}
                _ => return Err(bad()),
            }
        }
        let digits = match digits.strip_prefix("00") {
            Some(rest) if !trimmed.starts_with('+') => rest.to_string(),
            _ => digits,
        };
        // E.164: at most 15 digits; the shortest real numbers have 8 with country code.
        if !(8..=15).contains(&digits.len()) || digits.starts_with('0') {
            return Err(bad());
        }
        Ok(Self(digits.into()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for WaId {
    type Error = IdentityError;
    fn try_from(raw: String) -> Result<Self, IdentityError> {
        Self::parse(&raw)
    }
}

impl From<WaId> for String {
    fn from(id: WaId) -> String {
        id.0.to_string()
    }
}

impl fmt::Display for WaId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A business-scoped user id, e.g. `IT.1502576394655843`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(try_from = "String")]
pub struct Bsuid(Arc<str>);

impl Serialize for Bsuid {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl Bsuid {
    pub fn parse(raw: &str) -> Result<Self, IdentityError> {
        let raw = raw.trim();
        // `CC.<up to 128 letters/digits>`; parent BSUIDs have one more segment (`US.ENT.…`).
        let valid = matches!(raw.split_once('.'), Some((country, id))
            if !country.is_empty()
                && country.chars().all(|c| c.is_ascii_uppercase())
                && id.split('.').all(|part| !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric())))
            && raw.len() <= 160;
        if valid { Ok(Self(raw.into())) } else { Err(IdentityError::BadBsuid(raw.to_string())) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Bsuid {
    type Error = IdentityError;
    fn try_from(raw: String) -> Result<Self, IdentityError> {
        Self::parse(&raw)
    }
}

impl From<Bsuid> for String {
    fn from(id: Bsuid) -> String {
        id.0.to_string()
    }
}

impl fmt::Display for Bsuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Either id of a contact: what a request or an event names it by.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ContactKey {
    Phone(WaId),
    Bsuid(Bsuid),
}

impl ContactKey {
    /// Reads a phone (`+39 333 …`) or a BSUID (`IT.150…`): a BSUID has letters before its dot.
    pub fn parse(raw: &str) -> Result<Self, IdentityError> {
        if raw.trim().starts_with(|c: char| c.is_ascii_alphabetic()) {
            Bsuid::parse(raw).map(Self::Bsuid)
        } else {
            WaId::parse(raw).map(Self::Phone)
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::Phone(p) => p.as_str(),
            Self::Bsuid(b) => b.as_str(),
        }
    }
}

impl fmt::Display for ContactKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ContactKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ContactKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_human_written_italian_number_becomes_its_wa_id() {
        assert_eq!(WaId::parse("+39 333 123 4567").unwrap().as_str(), "393331234567");
        assert_eq!(WaId::parse("0039-333-123.4567").unwrap().as_str(), "393331234567");
        assert_eq!(WaId::parse("(39) 3331234567").unwrap().as_str(), "393331234567");
    }

    #[test]
    fn letters_short_numbers_and_long_numbers_are_not_phones() {
        for bad in ["", "+39 333 abc", "1234567", "1234567890123456", "+", "0333"] {
            assert!(WaId::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn a_key_with_a_country_prefix_is_a_bsuid() {
        assert_eq!(
            ContactKey::parse("IT.1502576394655843").unwrap(),
            ContactKey::Bsuid(Bsuid::parse("IT.1502576394655843").unwrap())
        );
        assert!(matches!(ContactKey::parse("+39 333 123 4567"), Ok(ContactKey::Phone(_))));
    }

    proptest! {
        #[test]
        fn phone_normalisation_is_idempotent(raw in "\\+?[0-9 ()-]{0,24}") {
            if let Ok(once) = WaId::parse(&raw) {
                prop_assert_eq!(WaId::parse(once.as_str()).unwrap(), once);
            }
        }
    }
}
