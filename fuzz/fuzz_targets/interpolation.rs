//! Interpolated texts (`common/src/domain/interpolate.rs`) and template placeholders: any
//! text is parsed or refused, never a panic; a parsed text keeps its source, renders with
//! or without values, and reads back from JSON as itself.
#![no_main]

use avvio_common::domain::interpolate::{Interpolated, InterpolationError, Variables};
use avvio_common::domain::workspace::placeholders;
use libfuzzer_sys::fuzz_target;

/// A contact with every value: `name`, `phone` and any field.
struct Everything;

impl Variables for Everything {
    fn name(&self) -> Option<&str> {
        Some("Giulia")
    }
    fn phone(&self) -> Option<&str> {
        Some("393331234567")
    }
    fn field(&self, _: &str) -> Option<&str> {
        Some("Roma")
    }
}

/// A contact with no value at all.
struct Nothing;

impl Variables for Nothing {
    fn name(&self) -> Option<&str> {
        None
    }
    fn phone(&self) -> Option<&str> {
        None
    }
    fn field(&self, _: &str) -> Option<&str> {
        None
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(source) = std::str::from_utf8(data) else { return };
    let _ = placeholders(source);
    match Interpolated::parse(source) {
        Ok(text) => {
            assert_eq!(text.source(), source);
            let rendered = text.render(&Everything);
            assert!(rendered.is_ok(), "every variable has a value: {source:?}");
            if text.is_literal() {
                assert_eq!(rendered.as_deref(), Ok(source));
                assert_eq!(text.render(&Nothing).as_deref(), Ok(source));
            } else {
                let _ = text.render(&Nothing);
            }
            let json = serde_json::to_string(&text).expect("a text serialises");
            assert_eq!(serde_json::from_str::<Interpolated>(&json).as_ref().ok(), Some(&text), "{json}");
        }
        Err(InterpolationError::Unclosed(at)) => assert!(at < source.chars().count(), "{source:?}: {at}"),
        Err(InterpolationError::UnknownVariable(_)) => {}
    }
});
