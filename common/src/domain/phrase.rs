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
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Phrase(String);

impl Phrase {
    /// Normalises `raw`; fails when nothing is left or it is too long.
    pub fn parse(raw: &str) -> Result<Self, PhraseError> {
        let normal = normalise(raw);
        if normal.is_empty() {
            Err(PhraseError::Empty)
        } else if normal.chars().count() > MAX_PHRASE_CHARS {
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

    proptest! {
        #[test]
        fn normalisation_is_idempotent(raw in "\\PC{0,64}") {
            let once = normalise(&raw);
            prop_assert_eq!(normalise(&once), once);
        }
    }
}
