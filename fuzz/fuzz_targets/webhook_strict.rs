//! The webhook's strict reader alone (`common/src/webhook/fast.rs`): any text is read or
//! given up on, never a panic, and a body it reads has events that survive the events queue.
#![no_main]

use avvio_common::webhook::{InboundEvent, passes};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(json) = std::str::from_utf8(data) else { return };
    match passes::strict(json, &mut Vec::new()) {
        None => {}
        Some(Ok(events)) => {
            // Each event crosses the events queue as JSON.
            for event in events {
                let queued = serde_json::to_string(&event).expect("an event serialises");
                let read: InboundEvent = serde_json::from_str(&queued).expect("a queued event reads back");
                assert_eq!(read, event, "{queued}");
            }
        }
        Some(Err(error)) => assert!(!error.to_string().is_empty()),
    }
});
