//! Trigger phrases and their normalisation: trim, collapse inner whitespace,
//! Unicode lowercase. Two phrases are the same trigger when their normal forms are equal.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The longest phrase accepted, in characters (a WhatsApp text is at most 4096).
pub const MAX_PHRASE_CHARS: usize = 4096;

/// Why a phrase was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhraseError {
    #[error("phrase must contain something other than whitespace")]
    Empty,
    #[error("phrase must be at most {MAX_PHRASE_CHARS} characters")]
    TooLong,
}

/// A normalised phrase: the key of the phrase index.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(try_from = "String")]
pub struct Phrase(String);

impl Serialize for Phrase {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl Phrase {
    /// Normalises `raw`; fails when nothing is left or it is too long.
    pub fn parse(raw: &str) -> Result<Self, PhraseError> {
        let normal = normalise(raw);
        if normal.is_empty() {
            Err(PhraseError::Empty)
        } else if normal.len() > MAX_PHRASE_CHARS && normal.chars().count() > MAX_PHRASE_CHARS {
            Err(PhraseError::TooLong)
        } else {
            Ok(Self(normal))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The normal form of any text: what inbound messages are compared by.
pub fn normalise(raw: &str) -> String {
    if raw.is_ascii() {
        return normalise_ascii(raw);
    }
    let mut out = String::with_capacity(raw.len());
    for word in raw.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        for c in word.chars() {
            out.extend(c.to_lowercase());
        }
    }
    out
}

/// [`normalise`] of an ASCII text (most messages), a byte at a time: ASCII's whitespace as
/// `char::is_whitespace` knows it (tab to carriage return, space), ASCII lowercase.
fn normalise_ascii(raw: &str) -> String {
    let mut out = Vec::with_capacity(raw.len());
    let mut gap = false;
    for &b in raw.as_bytes() {
        if b == b' ' || (b'\t'..=b'\r').contains(&b) {
            gap = !out.is_empty();
        } else {
            if gap {
                out.push(b' ');
                gap = false;
            }
            out.push(b.to_ascii_lowercase());
        }
    }
    String::from_utf8(out).expect("ASCII in, ASCII out")
}

impl TryFrom<String> for Phrase {
    type Error = PhraseError;
    fn try_from(raw: String) -> Result<Self, PhraseError> {
        Self::parse(&raw)
    }
}

impl From<Phrase> for String {
    fn from(p: Phrase) -> String {
        p.0
    }
}

impl fmt::Display for Phrase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A text as the user wrote it (a reply value, a consent phrase), with its phrase: kept as
/// written for documents and screens, compared by its normal form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wording {
    text: String,
    phrase: Phrase,
}

impl Wording {
    /// Checks `text` as a phrase and keeps both.
    pub fn parse(text: &str) -> Result<Self, PhraseError> {
        Ok(Self { phrase: Phrase::parse(text)?, text: text.to_string() })
    }

    /// As written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The normal form, what messages are compared with.
    pub fn phrase(&self) -> &Phrase {
        &self.phrase
    }
}

impl Serialize for Wording {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Wording {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = std::borrow::Cow::<str>::deserialize(d)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn case_and_spacing_do_not_make_a_different_phrase() {
        assert_eq!(Phrase::parse("  Vorrei   INFORMAZIONI\n").unwrap(), Phrase::parse("vorrei informazioni").unwrap());
    }

    #[test]
    fn unicode_letters_are_lowercased_too() {
        assert_eq!(Phrase::parse("PERCHÉ ÀNCORA").unwrap().as_str(), "perché àncora");
    }

    #[test]
    fn a_blank_phrase_is_refused() {
        assert_eq!(Phrase::parse(" \t "), Err(PhraseError::Empty));
    }

    /// The general path of [`normalise`], for comparing the ASCII one with.
    fn normalise_chars(raw: &str) -> String {
        raw.split_whitespace()
            .map(|word| word.chars().flat_map(char::to_lowercase).collect::<String>())
            .collect::<Vec<_>>()
            .join(" ")
    }

    proptest! {
        #[test]
        fn ascii_texts_normalise_as_any_text_does(raw in "[\\x00-\\x7f]{0,64}") {
            prop_assert_eq!(normalise_ascii(&raw), normalise_chars(&raw));
        }

        #[test]
        fn normalisation_is_idempotent(raw in "\\PC{0,64}") {
            let once = normalise(&raw);
            prop_assert_eq!(normalise(&once), once);
        }
    }
}
