//! A strict, zero-copy reader for webhook bodies as Meta writes them: one pass
//! over the bytes straight into the shapes the typed serde pass reads.
//!
//! It takes a narrow form of JSON and gives up (`None`) at the first thing
//! outside it: a string with an escape, a `null`, a number other than a short
//! integer, an array where an object is expected, a duplicate or missing field,
//! nesting deeper than [`MAX_DEPTH`], malformed JSON. The serde passes then read
//! the body as before and word any error, so a body this reader takes is one
//! serde reads the same way, and one it refuses costs one pass more. Property
//! tests hold it to the serde pass.
//!
//! It also gives up on a body with a `user_preferences` change: those are rare,
//! and read by the pass that only delimits each change's `value`, so that one
//! Avvio cannot read is skipped rather than the body refused.

use super::{
    JsonText, PREFERENCES_FIELD, RawButton, RawChange, RawChangeValue, RawContact, RawEntry, RawEnvelope,
    RawInteractive, RawMedia, RawMessage, RawMetadata, RawProfile, RawReply, RawStatus, RawStatusError, RawText, Str,
    TEMPLATE_STATUS_FIELD,
};
use std::borrow::Cow;

/// Nesting this reader follows; serde_json's own limit is 128.
const MAX_DEPTH: usize = 64;
/// The most keys an object read here has (Meta's have at most about 15).
const MAX_KEYS: usize = 32;

/// What a read gives: `None` hands the text to the serde passes.
type Read<T> = Option<T>;

/// A reader over one JSON text.
pub(crate) struct Reader<'a> {
    text: &'a str,
    pos: usize,
    depth: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        Self { text, pos: 0, depth: 0 }
    }

    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    /// The next byte that is not JSON whitespace.
    fn peek(&mut self) -> Read<u8> {
        let bytes = self.bytes();
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = bytes.get(self.pos) {
            self.pos += 1;
        }
        bytes.get(self.pos).copied()
    }

    fn eat(&mut self, byte: u8) -> Read<()> {
        (self.peek()? == byte).then(|| self.pos += 1)
    }

    /// Only whitespace is left.
    pub(crate) fn end(&mut self) -> Read<()> {
        self.peek().is_none().then_some(())
    }

    /// A string without escapes or control characters, borrowed.
    pub(crate) fn string(&mut self) -> Read<&'a str> {
        self.eat(b'"')?;
        let start = self.pos;
        let len = string_end(&self.bytes()[start..])?;
        if self.bytes()[start + len] != b'"' {
            return None;
        }
        self.pos = start + len + 1;
        // Both ends sit next to an ASCII quote: character boundaries.
        Some(&self.text[start..start + len])
    }

    fn str(&mut self) -> Read<Str<'a>> {
        self.string().map(|text| Str(Cow::Borrowed(text)))
    }

    /// An integer of at most 18 digits (no fraction, no exponent): always an `i64`. Not `-0`,
    /// which serde_json reads as a float.
    fn integer(&mut self) -> Read<&'a str> {
        self.peek()?;
        let start = self.pos;
        let bytes = self.bytes();
        let negative = bytes.get(self.pos) == Some(&b'-');
        if negative {
            self.pos += 1;
        }
        let digits = bytes[self.pos..].iter().take_while(|b| b.is_ascii_digit()).count();
        let leading_zero = digits > 0 && bytes[self.pos] == b'0' && (digits > 1 || negative);
        if digits == 0 || digits > 18 || leading_zero {
            return None;
        }
        self.pos += digits;
        if let Some(b'.' | b'e' | b'E') = bytes.get(self.pos) {
            return None;
        }
        Some(&self.text[start..self.pos])
    }

    fn literal(&mut self, word: &str) -> Read<()> {
        self.peek()?;
        self.text[self.pos..].starts_with(word).then(|| self.pos += word.len())
    }

    /// Steps over one value of the narrow form, whatever its type.
    fn skip(&mut self) -> Read<()> {
        match self.peek()? {
            b'"' => self.string().map(drop),
            b'{' => self.object(|reader, _| reader.skip()),
            b'[' => self.array(Self::skip),
            b't' => self.literal("true"),
            b'f' => self.literal("false"),
            b'-' | b'0'..=b'9' => self.integer().map(drop),
            _ => None,
        }
    }

    /// One value's text, as written.
    fn raw(&mut self) -> Read<JsonText<'a>> {
        self.peek()?;
        let start = self.pos;
        self.skip()?;
        Some(JsonText(&self.text[start..self.pos]))
    }

    fn enter(&mut self, open: u8) -> Read<()> {
        self.eat(open)?;
        self.depth += 1;
        (self.depth <= MAX_DEPTH).then_some(())
    }

    /// An object: `field` reads (or skips) the value of each key, in order. An object with a
    /// key given twice (or with more keys than Meta's objects have) is left to serde, which
    /// refuses duplicates of the fields it reads (found by the `webhook_differential` fuzz
    /// target: an entry with two `id`s was read here and refused there).
    pub(crate) fn object(&mut self, mut field: impl FnMut(&mut Self, &'a str) -> Read<()>) -> Read<()> {
        self.enter(b'{')?;
        let (mut seen, mut count) = ([""; MAX_KEYS], 0);
        if self.peek()? != b'}' {
            loop {
                let key = self.string()?;
                if count == MAX_KEYS || seen[..count].contains(&key) {
                    return None;
                }
                seen[count] = key;
                count += 1;
                self.eat(b':')?;
                field(self, key)?;
                if self.peek()? != b',' {
                    break;
                }
                self.pos += 1;
            }
        }
        self.eat(b'}')?;
        self.depth -= 1;
        Some(())
    }

    /// An array: `item` reads each element, in order.
    fn array(&mut self, mut item: impl FnMut(&mut Self) -> Read<()>) -> Read<()> {
        self.enter(b'[')?;
        if self.peek()? != b']' {
            loop {
                item(self)?;
                if self.peek()? != b',' {
                    break;
                }
                self.pos += 1;
            }
        }
        self.eat(b']')?;
        self.depth -= 1;
        Some(())
    }

    /// An array read into a vector, each element by `read`.
    fn list<T>(&mut self, mut read: impl FnMut(&mut Self) -> Read<T>) -> Read<Vec<T>> {
        let mut items = Vec::new();
        self.array(|reader| read(reader).map(|item| items.push(item)))?;
        Some(items)
    }

    /// A webhook body, as the typed serde pass reads it.
    pub(super) fn envelope(&mut self) -> Read<RawEnvelope<'a, RawChangeValue<'a>>> {
        let (mut object, mut entry) = (None, None);
        self.object(|r, key| match key {
            "object" => set(&mut object, r.str()?),
            "entry" => set(&mut entry, r.list(Self::entry)?),
            _ => r.skip(),
        })?;
        Some(RawEnvelope { object: object?, entry })
    }

    fn entry(&mut self) -> Read<RawEntry<'a, RawChangeValue<'a>>> {
        let mut changes = None;
        self.object(|r, key| match key {
            "changes" => set(&mut changes, r.list(Self::change)?),
            _ => r.skip(),
        })?;
        Some(RawEntry { changes: changes?, id: None })
    }

    fn change(&mut self) -> Read<RawChange<'a, RawChangeValue<'a>>> {
        let (mut field, mut value) = (None, None);
        self.object(|r, key| match key {
            // `user_preferences` and template changes are left to the pass that reads them tolerantly.
            "field" => set(
                &mut field,
                r.str().filter(|field| !matches!(field.as_str(), PREFERENCES_FIELD | TEMPLATE_STATUS_FIELD))?,
            ),
            "value" => set(&mut value, r.value()?),
            _ => r.skip(),
        })?;
        Some(RawChange { field: field?, value })
    }

    fn value(&mut self) -> Read<RawChangeValue<'a>> {
        let (mut metadata, mut contacts, mut messages, mut statuses) = (None, None, None, None);
        self.object(|r, key| match key {
            "metadata" => set(&mut metadata, r.metadata()?),
            "contacts" => set(&mut contacts, r.list(Self::contact)?),
            "messages" => set(&mut messages, r.list(|r| r.message().map(super::RawMessageObject))?),
            "statuses" => set(&mut statuses, r.list(Self::status)?),
            _ => r.skip(),
        })?;
        Some(RawChangeValue { metadata: metadata?, contacts, messages, statuses })
    }

    fn metadata(&mut self) -> Read<RawMetadata<'a>> {
        let mut phone_number_id = None;
        self.object(|r, key| match key {
            "phone_number_id" => set(&mut phone_number_id, r.str()?),
            _ => r.skip(),
        })?;
        Some(RawMetadata { phone_number_id: phone_number_id? })
    }

    fn contact(&mut self) -> Read<RawContact<'a>> {
        let (mut wa_id, mut user_id, mut profile, mut username) = (None, None, None, None);
        self.object(|r, key| match key {
            "wa_id" => set(&mut wa_id, r.str()?),
            "user_id" => set(&mut user_id, r.str()?),
            "profile" => set(&mut profile, r.profile()?),
            "username" => set(&mut username, r.str()?),
            _ => r.skip(),
        })?;
        Some(RawContact { wa_id, user_id, profile, username })
    }

    fn profile(&mut self) -> Read<RawProfile<'a>> {
        let (mut name, mut username) = (None, None);
        self.object(|r, key| match key {
            "name" => set(&mut name, r.str()?),
            "username" => set(&mut username, r.str()?),
            _ => r.skip(),
        })?;
        Some(RawProfile { name, username })
    }

    fn message(&mut self) -> Read<RawMessage<'a>> {
        let (mut id, mut from, mut from_user_id, mut timestamp, mut kind) = (None, None, None, None, None);
        let (mut text, mut button, mut interactive) = (None, None, None);
        let (mut image, mut video, mut audio, mut document, mut sticker) = (None, None, None, None, None);
        self.object(|r, key| match key {
            "id" => set(&mut id, r.str()?),
            "from" => set(&mut from, r.str()?),
            "from_user_id" => set(&mut from_user_id, r.str()?),
            "timestamp" => set(&mut timestamp, r.raw()?),
            "type" => set(&mut kind, r.str()?),
            "text" => set(&mut text, r.text()?),
            "button" => set(&mut button, r.button()?),
            "interactive" => set(&mut interactive, Box::new(r.interactive()?)),
            "image" => set(&mut image, r.media()?),
            "video" => set(&mut video, r.media()?),
            "audio" => set(&mut audio, r.media()?),
            "document" => set(&mut document, r.media()?),
            "sticker" => set(&mut sticker, r.media()?),
            _ => r.skip(),
        })?;
        Some(RawMessage {
            id: id?,
            from,
            from_user_id,
            timestamp: timestamp?,
            kind: kind?,
            text,
            button,
            interactive,
            image,
            video,
            audio,
            document,
            sticker,
        })
    }

    fn text(&mut self) -> Read<RawText<'a>> {
        let mut body = None;
        self.object(|r, key| match key {
            "body" => set(&mut body, r.str()?),
            _ => r.skip(),
        })?;
        Some(RawText { body: body? })
    }

    fn button(&mut self) -> Read<RawButton<'a>> {
        let (mut text, mut payload) = (None, None);
        self.object(|r, key| match key {
            "text" => set(&mut text, r.str()?),
            "payload" => set(&mut payload, r.str()?),
            _ => r.skip(),
        })?;
        Some(RawButton { text: text?, payload })
    }

    fn interactive(&mut self) -> Read<RawInteractive<'a>> {
        let (mut kind, mut button_reply, mut list_reply) = (None, None, None);
        self.object(|r, key| match key {
            "type" => set(&mut kind, r.str()?),
            "button_reply" => set(&mut button_reply, r.reply()?),
            "list_reply" => set(&mut list_reply, r.reply()?),
            _ => r.skip(),
        })?;
        Some(RawInteractive { kind: kind?, button_reply, list_reply })
    }

    fn reply(&mut self) -> Read<RawReply<'a>> {
        let (mut id, mut title, mut description) = (None, None, None);
        self.object(|r, key| match key {
            "id" => set(&mut id, r.str()?),
            "title" => set(&mut title, r.str()?),
            "description" => set(&mut description, r.str()?),
            _ => r.skip(),
        })?;
        Some(RawReply { id: id?, title: title?, description })
    }

    fn media(&mut self) -> Read<RawMedia<'a>> {
        let mut caption = None;
        self.object(|r, key| match key {
            "caption" => set(&mut caption, r.str()?),
            _ => r.skip(),
        })?;
        Some(RawMedia { caption })
    }

    fn status(&mut self) -> Read<RawStatus<'a>> {
        let (mut id, mut status, mut timestamp) = (None, None, None);
        let (mut recipient_id, mut recipient_user_id, mut recipient_type, mut recipient_participant_id) =
            (None, None, None, None);
        let mut errors = None;
        self.object(|r, key| match key {
            "id" => set(&mut id, r.str()?),
            "status" => set(&mut status, r.str()?),
            "timestamp" => set(&mut timestamp, r.raw()?),
            "recipient_id" => set(&mut recipient_id, r.str()?),
            "recipient_user_id" => set(&mut recipient_user_id, r.str()?),
            "recipient_type" => set(&mut recipient_type, r.str()?),
            "recipient_participant_id" => set(&mut recipient_participant_id, r.str()?),
            "errors" => set(&mut errors, r.list(Self::status_error)?),
            _ => r.skip(),
        })?;
        Some(RawStatus {
            id: id?,
            status: status?,
            timestamp: timestamp?,
            recipient_id,
            recipient_user_id,
            recipient_type,
            recipient_participant_id,
            errors,
        })
    }

    fn status_error(&mut self) -> Read<RawStatusError<'a>> {
        let (mut code, mut title, mut message) = (None, None, None);
        self.object(|r, key| match key {
            "code" => set(&mut code, r.integer()?.parse().ok()?),
            "title" => set(&mut title, r.str()?),
            "message" => set(&mut message, r.str()?),
            _ => r.skip(),
        })?;
        Some(RawStatusError { code: code?, title, message })
    }
}

/// Where a string's text stops: the first `"`, `\\` or control character, found eight bytes
/// at a time (the lowest flagged byte of a word is exact; flags above it may be carries).
fn string_end(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_le_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_le_bytes([0x80; 8]);
    let below = |word: u64, byte: u8| word.wrapping_sub(ONES * u64::from(byte)) & !word & HIGH;
    let mut words = bytes.chunks_exact(8);
    let mut at = 0;
    for chunk in &mut words {
        let word = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
        let hits =
            below(word ^ (ONES * u64::from(b'"')), 1) | below(word ^ (ONES * u64::from(b'\\')), 1) | below(word, 0x20);
        if hits != 0 {
            return Some(at + hits.trailing_zeros() as usize / 8);
        }
        at += 8;
    }
    words.remainder().iter().position(|&b| b == b'"' || b == b'\\' || b < 0x20).map(|i| at + i)
}

/// Fills a field seen for the first time; a field given twice is serde's to refuse.
fn set<T>(slot: &mut Option<T>, value: T) -> Read<()> {
    slot.is_none().then(|| *slot = Some(value))
}

/// A whole body, as the typed serde pass reads it.
pub(super) fn envelope(json: &str) -> Read<RawEnvelope<'_, RawChangeValue<'_>>> {
    let mut reader = Reader::new(json);
    let envelope = reader.envelope()?;
    reader.end()?;
    Some(envelope)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn naive_string_end(bytes: &[u8]) -> Option<usize> {
        bytes.iter().position(|&b| b == b'"' || b == b'\\' || b < 0x20)
    }

    proptest! {
        #[test]
        fn a_string_ends_at_the_first_quote_backslash_or_control_character(
            bytes in prop::collection::vec(prop_oneof![4 => 0x20u8..=0xff, 1 => Just(b'"'), 1 => Just(b'\\'), 1 => 0u8..0x20], 0..40),
        ) {
            prop_assert_eq!(string_end(&bytes), naive_string_end(&bytes));
        }
    }

    #[test]
    fn a_key_given_twice_is_left_to_serde_which_refuses_it() {
        // Found by the `webhook_differential` fuzz target: an entry with two `id`s (a field
        // this reader skips) was read here as no events and refused by the serde pass.
        let body = r#"{"object":"whatsapp_business_account","entry":[{"id":"1","id":"2","changes":[]}]}"#;
        assert!(envelope(body).is_none(), "given up");
        let refused = super::super::parse_webhook(body.as_bytes()).unwrap_err().to_string();
        assert!(refused.contains("duplicate field `id`"), "{refused}");
        let once = r#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[]}]}"#;
        assert!(envelope(once).is_some(), "read here");
    }

    #[test]
    fn nesting_deeper_than_the_limit_is_left_to_serde() {
        let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        assert_eq!(Reader::new(&deep).skip(), None);
        let shallow = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert_eq!(Reader::new(&shallow).skip(), Some(()));
    }

    #[test]
    fn integers_are_short_and_plain() {
        for (text, read) in [
            ("0", Some("0")),
            ("-12", Some("-12")),
            ("01", None),
            ("1.5", None),
            ("1e3", None),
            ("-", None),
            ("-0", None),
        ] {
            assert_eq!(Reader::new(text).integer(), read, "{text}");
        }
        assert_eq!(Reader::new("1234567890123456789").integer(), None);
    }
}
