//! The strict reader against the serde passes: `parse_webhook` takes a body the strict
//! reader reads without asking serde, so whatever it reads (events, notes, or the refusal's
//! wording) must be what the serde passes read from the same text.
#![no_main]

use avvio_common::webhook::passes;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(json) = std::str::from_utf8(data) else { return };
    let mut strict_notes = Vec::new();
    let Some(strict) = passes::strict(json, &mut strict_notes) else { return };
    let mut serde_notes = Vec::new();
    let serde = passes::serde(json, &mut serde_notes);
    match (strict, serde) {
        (Ok(strict), Ok(serde)) => {
            assert_eq!(strict, serde, "the passes read different events from {json}");
            assert_eq!(strict_notes, serde_notes, "the passes noted different things of {json}");
        }
        (Err(strict), Err(serde)) => {
            assert_eq!(strict.to_string(), serde.to_string(), "the passes refuse {json} differently")
        }
        (strict, serde) => panic!("the passes disagree on {json}:\n strict: {strict:?}\n serde: {serde:?}"),
    }
});
