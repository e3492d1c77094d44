//! An instant as AWS reports it: ISO-8601 text from the CLI, epoch seconds on the wire.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Milliseconds since the Unix epoch, UTC.
///
/// Millisecond precision is what CodePipeline itself returns; storing an integer keeps
/// equality exact, so an observation that is serialised and parsed back compares equal.
/// The range is what RFC 3339 can write (years 0000 to 9999), so every value can be printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

/// 0000-01-01T00:00:00Z and 9999-12-31T23:59:59.999Z in milliseconds.
const MIN_MILLIS: i64 = -62_167_219_200_000;
const MAX_MILLIS: i64 = 253_402_300_799_999;

impl Timestamp {
    /// `None` outside years 0000 to 9999.
    pub fn from_unix_millis(millis: i64) -> Option<Self> {
        (MIN_MILLIS..=MAX_MILLIS)
            .contains(&millis)
            .then_some(Self(millis))
    }

    /// Epoch seconds as the wire sends them (fractional, possibly in exponent form).
    pub fn from_unix_seconds(seconds: f64) -> Option<Self> {
        let millis = (seconds * 1000.0).round();
        // `as` saturates for out-of-range floats; the range check then rejects them.
        #[allow(clippy::cast_possible_truncation)]
        let millis = millis as i64;
        if seconds.is_finite() {
            Self::from_unix_millis(millis)
        } else {
            None
        }
    }

    /// The current time from the system clock.
    pub fn now() -> Self {
        let since_epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let millis = i64::try_from(since_epoch.as_millis()).unwrap_or(MAX_MILLIS);
        Self(millis.clamp(MIN_MILLIS, MAX_MILLIS))
    }

    pub fn unix_millis(self) -> i64 {
        self.0
    }

    fn to_datetime(self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.0) * 1_000_000)
            .expect("the constructor keeps the value within RFC 3339's range")
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self
            .to_datetime()
            .format(&Rfc3339)
            .map_err(|_| fmt::Error)?;
        f.write_str(&text)
    }
}

impl std::str::FromStr for Timestamp {
    type Err = time::error::Parse;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let parsed = OffsetDateTime::parse(text, &Rfc3339)?;
        let millis = parsed.unix_timestamp_nanos().div_euclid(1_000_000);
        // RFC 3339 text cannot leave years 0000..9999, so the millis always fit.
        Ok(Self(
            i64::try_from(millis)
                .unwrap_or(i64::MAX)
                .clamp(MIN_MILLIS, MAX_MILLIS),
        ))
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Timestamp;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "a timestamp: ISO-8601 text or epoch seconds between years 0000 and 9999",
                )
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Timestamp, E> {
                v.parse()
                    .map_err(|e| E::custom(format_args!("invalid timestamp {v:?}: {e}")))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Timestamp, E> {
                Timestamp::from_unix_seconds(v)
                    .ok_or_else(|| E::custom(format_args!("timestamp {v:e} is out of range")))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Timestamp, E> {
                v.checked_mul(1000)
                    .and_then(Timestamp::from_unix_millis)
                    .ok_or_else(|| E::custom(format_args!("timestamp {v} is out of range")))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Timestamp, E> {
                i64::try_from(v)
                    .map_err(|_| E::custom(format_args!("timestamp {v} is out of range")))
                    .and_then(|v| self.visit_i64(v))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_seconds_keep_millisecond_precision() {
        let ts = Timestamp::from_unix_seconds(1_763_630_043.512).unwrap();
        assert_eq!(ts.unix_millis(), 1_763_630_043_512);
        assert_eq!(ts.to_string(), "2025-11-20T09:14:03.512Z");
    }

    #[test]
    fn text_with_an_offset_is_normalised_to_utc() {
        let ts: Timestamp = "2025-11-20T10:14:03.512+01:00".parse().unwrap();
        assert_eq!(ts.to_string(), "2025-11-20T09:14:03.512Z");
    }

    #[test]
    fn a_value_of_another_type_is_refused_with_what_was_expected() {
        let error = serde_json::from_str::<Timestamp>("true").unwrap_err();
        assert!(
            error
                .to_string()
                .contains("expected a timestamp: ISO-8601 text"),
            "{error}"
        );
    }

    #[test]
    fn out_of_range_and_non_finite_values_are_refused() {
        assert_eq!(Timestamp::from_unix_seconds(f64::NAN), None);
        assert_eq!(Timestamp::from_unix_seconds(1e300), None);
        assert_eq!(Timestamp::from_unix_millis(i64::MAX), None);
        assert!(serde_json::from_str::<Timestamp>("1e300").is_err());
        assert!(serde_json::from_str::<Timestamp>("18446744073709551615").is_err());
    }

    #[test]
    fn every_timestamp_prints_and_parses_back() {
        for millis in [MIN_MILLIS, -1, 0, 1, 1_763_630_043_512, MAX_MILLIS] {
            let ts = Timestamp::from_unix_millis(millis).unwrap();
            assert_eq!(ts.to_string().parse::<Timestamp>().unwrap(), ts, "{ts}");
        }
    }
}
