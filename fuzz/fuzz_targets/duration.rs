//! Step delays and cooldowns (`common/src/domain/duration.rs`): any text is a duration or
//! refused, never a panic; a duration is at most 366 days and reads back from its
//! canonical text as itself.
#![no_main]

use avvio_common::domain::duration::{Duration, MAX_DURATION_SECS};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else { return };
    let Ok(duration) = Duration::parse(raw) else { return };
    assert!(duration.as_secs() <= MAX_DURATION_SECS, "{raw:?}");
    assert_eq!(Duration::parse(&duration.to_string()), Ok(duration), "{raw:?}");
    assert_eq!(duration.to_chrono().num_seconds().unsigned_abs(), duration.as_secs());
});
