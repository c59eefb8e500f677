//! Step delays and cooldowns: `"0s"`, `"90s"`, `"10m"`, `"2h"`, `"1d"`, `"1h30m"`.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The longest delay or cooldown accepted.
pub const MAX_DURATION_SECS: u64 = 366 * 86_400;

/// Why a duration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("`{0}` is not a duration: write e.g. \"0s\", \"90s\", \"10m\", \"2h\", \"1d\" or \"1h30m\"")]
    Malformed(String),
    #[error("`{0}` is longer than 366 days")]
    TooLong(String),
}

/// A whole number of seconds, written as `<n>d<n>h<n>m<n>s` with units in that order, each at most once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Duration(u64);

const UNITS: [(char, u64); 4] = [('d', 86_400), ('h', 3_600), ('m', 60), ('s', 1)];

impl Duration {
    pub const ZERO: Self = Self(0);

    pub const fn from_secs(secs: u64) -> Self {
        Self(secs)
    }

    pub fn as_secs(self) -> u64 {
        self.0
    }

    pub fn to_chrono(self) -> chrono::Duration {
        chrono::Duration::seconds(self.0 as i64)
    }

    pub fn parse(raw: &str) -> Result<Self, DurationError> {
        let malformed = || DurationError::Malformed(raw.to_string());
        let mut rest = raw.trim();
        if rest.is_empty() {
            return Err(malformed());
        }
        let mut total: u64 = 0;
        let mut next_unit = 0; // index into UNITS: units must come in descending order
        while !rest.is_empty() {
            let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(malformed)?;
            if digits == 0 {
                return Err(malformed());
            }
            let n: u64 = rest[..digits].parse().map_err(|_| DurationError::TooLong(raw.to_string()))?;
            let unit = rest[digits..].chars().next().ok_or_else(malformed)?;
            let position = UNITS[next_unit..].iter().position(|(u, _)| *u == unit).ok_or_else(malformed)?;
            let (_, secs) = UNITS[next_unit + position];
            next_unit += position + 1;
            total = n
                .checked_mul(secs)
                .and_then(|s| total.checked_add(s))
                .ok_or_else(|| DurationError::TooLong(raw.to_string()))?;
            rest = &rest[digits + unit.len_utf8()..];
        }
        if total > MAX_DURATION_SECS {
            return Err(DurationError::TooLong(raw.to_string()));
        }
        Ok(Self(total))
    }
}

impl fmt::Display for Duration {
    /// The canonical form: largest units first, zero parts left out, `0s` for nothing.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            return f.write_str("0s");
        }
        let mut left = self.0;
        for (unit, secs) in UNITS {
            if left >= secs {
                write!(f, "{}{unit}", left / secs)?;
                left %= secs;
            }
        }
        Ok(())
    }
}

impl TryFrom<String> for Duration {
    type Error = DurationError;
    fn try_from(raw: String) -> Result<Self, DurationError> {
        Self::parse(&raw)
    }
}

impl From<Duration> for String {
    fn from(d: Duration) -> String {
        d.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_spec_examples_parse() {
        for (raw, secs) in [("0s", 0), ("90s", 90), ("10m", 600), ("2h", 7200), ("1d", 86_400), ("1h30m", 5400)] {
            assert_eq!(Duration::parse(raw).unwrap().as_secs(), secs, "{raw}");
        }
    }

    #[test]
    fn units_out_of_order_repeated_or_unknown_are_refused() {
        for bad in ["", "10", "m", "30m1h", "1h1h", "5w", "-5m", "1.5h", "1 h", "h1"] {
            assert!(Duration::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn more_than_a_year_is_refused() {
        assert_eq!(Duration::parse("367d"), Err(DurationError::TooLong("367d".into())));
        assert!(Duration::parse("99999999999999999999s").is_err());
    }

    #[test]
    fn display_is_canonical() {
        assert_eq!(Duration::parse("90s").unwrap().to_string(), "1m30s");
        assert_eq!(Duration::parse("0m").unwrap().to_string(), "0s");
    }

    proptest! {
        #[test]
        fn durations_round_trip_through_their_text(secs in 0..=MAX_DURATION_SECS) {
            let d = Duration::from_secs(secs);
            prop_assert_eq!(Duration::parse(&d.to_string()).unwrap(), d);
        }
    }
}
