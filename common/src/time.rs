//! Instants. The engine never reads the wall clock: every function that needs
//! "now" takes a [`Time`] argument, so the simulator can run on a virtual clock.

use chrono::{DateTime, SecondsFormat, Utc};

/// A UTC instant.
pub type Time = DateTime<Utc>;

/// Parses an RFC 3339 timestamp (any offset) into UTC.
pub fn parse_rfc3339(raw: &str) -> Result<Time, chrono::ParseError> {
    if let Some(t) = parse_whole_seconds_utc(raw) {
        return Ok(t);
    }
    DateTime::parse_from_rfc3339(raw).map(|t| t.with_timezone(&Utc))
}

/// The common form, `2026-11-23T09:00:00Z`, read without chrono's general parser (an
/// events file holds one per line); `None` for any other form, which chrono reads.
fn parse_whole_seconds_utc(raw: &str) -> Option<Time> {
    let b = raw.as_bytes();
    if b.len() != 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' || b[19] != b'Z'
    {
        return None;
    }
    let number = |from: usize, to: usize| -> Option<u32> {
        b[from..to].iter().try_fold(0u32, |n, d| d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0')))
    };
    let date = chrono::NaiveDate::from_ymd_opt(number(0, 4)? as i32, number(5, 7)?, number(8, 10)?)?;
    // chrono reads a leap second (`:60`) into the previous second's nanoseconds: leave it to chrono.
    let time = chrono::NaiveTime::from_hms_opt(number(11, 13)?, number(14, 16)?, number(17, 19)?)?;
    Some(date.and_time(time).and_utc())
}

/// Formats an instant as RFC 3339 in UTC with a `Z`, with sub-second digits only when present.
pub fn format_rfc3339(t: Time) -> String {
    match whole_seconds(t) {
        Some(text) => String::from_utf8(text.to_vec()).expect("ASCII digits and separators"),
        None => t.to_rfc3339_opts(SecondsFormat::AutoSi, true),
    }
}

/// [`format_rfc3339`] of an instant in whole seconds of the years 0–9999 (every instant
/// events carry), written on the stack: `2026-11-23T09:00:00Z`. `None` for any other instant.
fn whole_seconds(t: Time) -> Option<[u8; 20]> {
    use chrono::{Datelike, Timelike};
    if t.nanosecond() != 0 || !(0..=9999).contains(&t.year()) {
        return None;
    }
    let mut out = *b"0000-00-00T00:00:00Z";
    let fields = [(0..4, t.year() as u32), (5..7, t.month()), (8..10, t.day())];
    let clock = [(11..13, t.hour()), (14..16, t.minute()), (17..19, t.second())];
    for (at, value) in fields.into_iter().chain(clock) {
        crate::fast::put_digits(&mut out[at], u64::from(value));
    }
    Some(out)
}

/// Converts Meta's `timestamp` (Unix seconds, sent as a string) into an instant.
pub fn from_unix_seconds(secs: i64) -> Option<Time> {
    DateTime::from_timestamp(secs, 0)
}

/// Serde helpers for RFC 3339 fields.
pub mod rfc3339 {
    use super::Time;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &Time, s: S) -> Result<S::Ok, S::Error> {
        match super::whole_seconds(*t) {
            Some(text) => s.serialize_str(std::str::from_utf8(&text).expect("ASCII digits and separators")),
            None => s.serialize_str(&super::format_rfc3339(*t)),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Time, D::Error> {
        let raw = String::deserialize(d)?;
        super::parse_rfc3339(&raw)
            .map_err(|e| serde::de::Error::custom(format!("`{raw}` is not an RFC 3339 timestamp: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn whole_seconds_are_written_as_chrono_writes_them(secs in -62_167_219_200i64..253_402_300_800i64, nanos in prop_oneof![Just(0u32), 1u32..1_000_000_000]) {
            let t = DateTime::from_timestamp(secs, nanos).unwrap();
            prop_assert_eq!(format_rfc3339(t), t.to_rfc3339_opts(SecondsFormat::AutoSi, true));
        }
    }

    proptest! {
        #[test]
        fn the_common_form_is_read_as_chrono_reads_it(raw in "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z") {
            let chrono = DateTime::parse_from_rfc3339(&raw).map(|t| t.with_timezone(&Utc)).ok();
            prop_assert_eq!(parse_rfc3339(&raw).ok(), chrono);
        }

        #[test]
        fn every_written_instant_reads_back(secs in 0i64..253_402_300_800i64) {
            let t = DateTime::from_timestamp(secs, 0).unwrap();
            prop_assert_eq!(parse_rfc3339(&format_rfc3339(t)).unwrap(), t);
        }
    }

    #[test]
    fn a_leap_second_and_other_forms_are_read_by_chrono() {
        for raw in
            ["2016-12-31T23:59:60Z", "2026-11-23T10:00:00+01:00", "2026-11-23T09:00:00.5Z", "2026-11-23t09:00:00z"]
        {
            let chrono = DateTime::parse_from_rfc3339(raw).map(|t| t.with_timezone(&Utc)).ok();
            assert_eq!(parse_rfc3339(raw).ok(), chrono, "{raw}");
        }
    }

    #[test]
    fn an_instant_outside_the_four_digit_years_is_written_by_chrono() {
        let t = DateTime::from_timestamp(253_402_300_800, 0).unwrap(); // 10000-01-01
        assert_eq!(format_rfc3339(t), "+10000-01-01T00:00:00Z");
    }
}

/// Serde helpers for optional RFC 3339 fields (`null` or absent: `None`).
pub mod optional_rfc3339 {
    use super::Time;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &Option<Time>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => super::rfc3339::serialize(t, s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Time>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|raw| super::parse_rfc3339(&raw).map_err(serde::de::Error::custom))
            .transpose()
    }
}
