//! Instants. The engine never reads the wall clock: every function that needs
//! "now" takes a [`Time`] argument, so the simulator can run on a virtual clock.

use chrono::{DateTime, SecondsFormat, Utc};

/// A UTC instant.
pub type Time = DateTime<Utc>;

/// Parses an RFC 3339 timestamp (any offset) into UTC.
pub fn parse_rfc3339(raw: &str) -> Result<Time, chrono::ParseError> {
    DateTime::parse_from_rfc3339(raw).map(|t| t.with_timezone(&Utc))
}

/// Formats an instant as RFC 3339 in UTC with a `Z`, with sub-second digits only when present.
pub fn format_rfc3339(t: Time) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
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
        s.serialize_str(&super::format_rfc3339(*t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Time, D::Error> {
        let raw = String::deserialize(d)?;
        super::parse_rfc3339(&raw)
            .map_err(|e| serde::de::Error::custom(format!("`{raw}` is not an RFC 3339 timestamp: {e}")))
    }
}
