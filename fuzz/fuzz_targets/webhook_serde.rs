//! The webhook's serde passes alone (`common/src/webhook/mod.rs`), as `parse_webhook` runs
//! them on a body the strict reader gives up on: any bytes are read or refused with a
//! reason, never a panic, and the events read survive the events queue.
#![no_main]

use avvio_common::webhook::{InboundEvent, parse_webhook, passes};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let reading = match std::str::from_utf8(data) {
        Ok(json) => passes::serde(json, &mut Vec::new()),
        // Not UTF-8: refused before any pass, by the public entry point.
        Err(_) => parse_webhook(data),
    };
    match reading {
        Ok(events) => {
            for event in events {
                let queued = serde_json::to_string(&event).expect("an event serialises");
                let read: InboundEvent = serde_json::from_str(&queued).expect("a queued event reads back");
                assert_eq!(read, event, "{queued}");
            }
        }
        Err(error) => assert!(!error.to_string().is_empty()),
    }
});
