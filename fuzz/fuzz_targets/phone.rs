//! Contact identities (`common/src/domain/phone.rs`): any text is a phone, a BSUID or
//! refused, never a panic; a phone is 8 to 15 digits not starting with 0, and every id
//! reads back from its text as itself.
#![no_main]

use avvio_common::domain::phone::{Bsuid, ContactKey, WaId};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else { return };
    if let Ok(phone) = WaId::parse(raw) {
        let digits = phone.as_str();
        assert!((8..=15).contains(&digits.len()), "{raw:?} → {digits}");
        assert!(digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0'), "{raw:?} → {digits}");
        assert_eq!(WaId::parse(digits).as_ref(), Ok(&phone));
    }
    if let Ok(bsuid) = Bsuid::parse(raw) {
        assert_eq!(Bsuid::parse(bsuid.as_str()).as_ref(), Ok(&bsuid));
    }
    if let Ok(key) = ContactKey::parse(raw) {
        assert_eq!(ContactKey::parse(key.as_str()).as_ref(), Ok(&key));
        let json = serde_json::to_string(&key).expect("a key serialises");
        assert_eq!(serde_json::from_str::<ContactKey>(&json).ok().as_ref(), Some(&key), "{json}");
    }
});
