//! The body of `POST /hooks/automations/{id}` (`api/src/hooks.rs`, `read_call`): any bytes
//! are a call or refused with a 400 or a 422, never a panic; a call is authorised or not,
//! turns into its contact change or names what is wrong, and crosses the events queue as itself.
#![no_main]

use avvio_api::read_call;
use avvio_common::stages::matcher::{IntegrationCall, integration_authorized};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let call = match read_call(data) {
        Ok(call) => call,
        Err(error) => {
            assert!(matches!(error.status.as_u16(), 400 | 422), "{error:?}");
            return;
        }
    };
    let _ = integration_authorized(Some("segreto-123"), &call, data, Some("sha256=00ff"));
    let _ = integration_authorized(None, &call, data, None);
    if let Ok((phone, patch)) = call.to_patch() {
        assert!(phone.as_str().bytes().all(|b| b.is_ascii_digit()));
        assert!(patch.name.as_deref().is_none_or(|name| !name.is_empty() && name.trim() == name));
    }
    let queued = serde_json::to_string(&call).expect("a call serialises");
    let read: IntegrationCall = serde_json::from_str(&queued).expect("a queued call reads back");
    assert_eq!(read, call, "{queued}");
});

