//! Time and randomness, the only two inputs that could make the mock non-deterministic.
//!
//! Both are owned by one UKO instance and advanced only by its operations: a mutation takes a
//! [`Clock::stamp`] (strictly increasing, whole seconds, so every mutation yields a new ETag) and ids come
//! from the instance's seeded [`Rng`]. The wall clock is read only in [`ClockMode::Wall`].

use serde::{Deserialize, Serialize, Serializer};
use time::macros::format_description;
use time::{Date, Duration, Month, OffsetDateTime};

/// A UTC instant with whole-second precision (UKO's ETags have one-second granularity).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Timestamp(#[serde(with = "time::serde::rfc3339")] OffsetDateTime);

impl Timestamp {
    /// Truncates to whole seconds in UTC.
    pub fn new(instant: OffsetDateTime) -> Self {
        let utc = instant.to_offset(time::UtcOffset::UTC);
        Timestamp(utc.replace_nanosecond(0).unwrap_or(utc))
    }

    /// Parses RFC 3339 (`2022-05-26T14:18:10.000Z`, `2022-05-26T14:18:10Z`, offsets allowed).
    pub fn parse(text: &str) -> Option<Self> {
        OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok().map(Timestamp::new)
    }

    /// Seconds since the Unix epoch.
    pub fn unix_seconds(self) -> i64 {
        self.0.unix_timestamp()
    }

    /// From seconds since the Unix epoch; `None` when out of range.
    pub fn from_unix_seconds(seconds: i64) -> Option<Self> {
        OffsetDateTime::from_unix_timestamp(seconds).ok().map(Timestamp)
    }

    /// The ETag form: `2022-05-26T14:18:10Z`, unquoted, as real UKO sends it.
    pub fn etag(self) -> String {
        match date_time_digits(self.0) {
            Some(digits) => format!("{}Z", ascii(&digits)),
            None => {
                let format = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
                self.0.format(&format).unwrap_or_default()
            }
        }
    }

    /// The body form of a date-time: `2022-05-26T14:18:10.000Z`.
    pub fn to_rfc3339_millis(self) -> String {
        self.rfc3339_millis().to_string()
    }

    /// The body form, written where it is displayed (a JSON body) instead of into a new `String`.
    pub fn rfc3339_millis(self) -> Rfc3339Millis {
        Rfc3339Millis(self)
    }

    /// The calendar date (UTC).
    pub fn date(self) -> Date {
        self.0.date()
    }

    /// This instant moved by `seconds` (saturating at the representable range).
    pub fn plus_seconds(self, seconds: i64) -> Self {
        Timestamp(self.0.checked_add(Duration::seconds(seconds)).unwrap_or(self.0))
    }
}

/// A timestamp displayed as `2022-05-26T14:18:10.000Z`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rfc3339Millis(Timestamp);

impl std::fmt::Display for Rfc3339Millis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match date_time_digits(self.0 .0) {
            Some(digits) => {
                f.write_str(ascii(&digits))?;
                f.write_str(".000Z")
            }
            None => {
                let format = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].000Z");
                f.write_str(&self.0 .0.format(&format).unwrap_or_default())
            }
        }
    }
}

impl Serialize for Rfc3339Millis {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Formats a date as `YYYY-MM-DD`.
pub fn format_date(date: Date) -> String {
    match date_digits(date) {
        Some(digits) => ascii(&digits).to_owned(),
        None => {
            let format = format_description!("[year]-[month]-[day]");
            date.format(&format).unwrap_or_default()
        }
    }
}

// Every body and ETag carries several timestamps; writing the digits directly costs a fraction of
// `time`'s general formatter, which interprets a format description on each call. Years outside
// 0000–9999 (which need a sign or a fifth digit) take the general path.

/// `YYYY-MM-DD`, or `None` outside four-digit years.
fn date_digits(date: Date) -> Option<[u8; 10]> {
    let year = u32::try_from(date.year()).ok().filter(|year| *year <= 9999)?;
    let mut digits = *b"0000-00-00";
    put_digits(&mut digits[0..4], year);
    put_digits(&mut digits[5..7], u32::from(u8::from(date.month())));
    put_digits(&mut digits[8..10], u32::from(date.day()));
    Some(digits)
}

/// `YYYY-MM-DDTHH:MM:SS`, or `None` outside four-digit years.
fn date_time_digits(instant: OffsetDateTime) -> Option<[u8; 19]> {
    let mut digits = *b"0000-00-00T00:00:00";
    digits[..10].copy_from_slice(&date_digits(instant.date())?);
    put_digits(&mut digits[11..13], u32::from(instant.hour()));
    put_digits(&mut digits[14..16], u32::from(instant.minute()));
    put_digits(&mut digits[17..19], u32::from(instant.second()));
    Some(digits)
}

/// Writes `value` into `slot` as zero-padded decimal digits (`value` has at most `slot.len()` digits).
fn put_digits(slot: &mut [u8], mut value: u32) {
    for byte in slot.iter_mut().rev() {
        *byte = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

/// The digits and separators written above are ASCII.
fn ascii(digits: &[u8]) -> &str {
    std::str::from_utf8(digits).unwrap_or_default()
}

/// Parses a strict `YYYY-MM-DD` date.
pub fn parse_date(text: &str) -> Option<Date> {
    let bytes = text.as_bytes();
    let shape_ok = bytes.len() == 10
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && bytes.iter().enumerate().all(|(i, b)| i == 4 || i == 7 || b.is_ascii_digit());
    if !shape_ok {
        return None;
    }
    let format = format_description!("[year]-[month]-[day]");
    Date::parse(text, &format).ok()
}

/// Serde helpers for optional `YYYY-MM-DD` dates in fixture files.
pub mod serde_date {
    use super::{format_date, parse_date};
    use serde::{Deserialize, Deserializer, Serializer};
    use time::Date;

    /// Serializes `Some(date)` as `"YYYY-MM-DD"` and `None` as null.
    pub fn serialize<S: Serializer>(date: &Option<Date>, serializer: S) -> Result<S::Ok, S::Error> {
        match date {
            Some(date) => serializer.serialize_str(&format_date(*date)),
            None => serializer.serialize_none(),
        }
    }

    /// Accepts `"YYYY-MM-DD"` or null.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Date>, D::Error> {
        let text: Option<String> = Option::deserialize(deserializer)?;
        match text {
            None => Ok(None),
            Some(text) => parse_date(&text)
                .map(Some)
                .ok_or_else(|| serde::de::Error::custom(format!("expected a date YYYY-MM-DD, found '{text}'"))),
        }
    }
}

/// Whether the instance clock follows the wall clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ClockMode {
    /// Time moves only by mutations (one second each) and by the control plane: fully reproducible.
    #[default]
    Virtual,
    /// Time follows the machine's clock, still strictly increasing per mutation.
    Wall,
}

/// The clock of one UKO instance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Clock {
    /// The current instant as the instance sees it.
    pub now: Timestamp,
    /// The last stamp handed to a mutation; the next one is at least one second later.
    #[serde(default)]
    pub last_stamp: Option<Timestamp>,
    #[serde(default)]
    pub mode: ClockMode,
}

impl Clock {
    /// A clock starting at `start`.
    pub fn new(start: Timestamp, mode: ClockMode) -> Self {
        Clock { now: start, last_stamp: None, mode }
    }

    /// The current instant, for reads and rule checks (4-hour destroy rule, heartbeats).
    pub fn now(&mut self) -> Timestamp {
        if self.mode == ClockMode::Wall {
            self.now = self.now.max(Timestamp::new(OffsetDateTime::now_utc()));
        }
        self.now
    }

    /// The `updated_at` for a mutation: never earlier than now and strictly after every earlier stamp,
    /// so two mutations inside one second still get distinct ETags.
    pub fn stamp(&mut self) -> Timestamp {
        let now = self.now();
        let stamp = match self.last_stamp {
            Some(last) if last >= now => last.plus_seconds(1),
            _ => now,
        };
        self.last_stamp = Some(stamp);
        self.now = stamp;
        stamp
    }

    /// Moves virtual time forward (control plane).
    pub fn advance(&mut self, seconds: i64) {
        self.now = self.now.plus_seconds(seconds.max(0));
    }
}

/// SplitMix64: tiny, fast and good enough to make ids and fault decisions reproducible from a seed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rng {
    pub state: u64,
}

impl Rng {
    /// A generator whose whole sequence is determined by `seed`.
    pub fn new(seed: u64) -> Self {
        Rng { state: seed }
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A lowercase RFC 4122 version-4 UUID string.
    pub fn uuid(&mut self) -> String {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&self.next_u64().to_le_bytes());
        bytes[8..].copy_from_slice(&self.next_u64().to_le_bytes());
        uuid::Builder::from_random_bytes(bytes).into_uuid().to_string()
    }

    /// `len` upper-case hex digits.
    pub fn hex(&mut self, len: usize) -> String {
        let mut out = String::with_capacity(len);
        while out.len() < len {
            out.push_str(&format!("{:016X}", self.next_u64()));
        }
        out.truncate(len);
        out
    }
}

/// An ISO-8601 period as used by template `key.activation_date`/`expiration_date` (`P5Y1M1W2D`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Period {
    pub years: u32,
    pub months: u32,
    pub weeks: u32,
    pub days: u32,
}

impl Period {
    /// Parses `P[nY][nM][nW][nD]` (at least one component). Time components are not used by UKO.
    pub fn parse(text: &str) -> Option<Period> {
        let rest = text.strip_prefix('P')?;
        if rest.is_empty() {
            return None;
        }
        let mut period = Period::default();
        let mut digits = String::new();
        let mut last_rank = 0;
        for character in rest.chars() {
            if character.is_ascii_digit() {
                digits.push(character);
                continue;
            }
            let value: u32 = digits.parse().ok().filter(|v| *v <= 10_000)?;
            digits.clear();
            let rank = match character {
                'Y' => 1,
                'M' => 2,
                'W' => 3,
                'D' => 4,
                _ => return None,
            };
            if rank <= last_rank {
                return None;
            }
            last_rank = rank;
            match rank {
                1 => period.years = value,
                2 => period.months = value,
                3 => period.weeks = value,
                _ => period.days = value,
            }
        }
        digits.is_empty().then_some(period)
    }

    /// Calendar addition in the order years, months, weeks, days (the order that reproduces
    /// the planned dates of IBM's captured outputs); the day is clamped to the month's length.
    pub fn add_to(self, date: Date) -> Option<Date> {
        let total_months =
            date.year() as i64 * 12 + (date.month() as i64 - 1) + self.years as i64 * 12 + self.months as i64;
        let year = i32::try_from(total_months.div_euclid(12)).ok()?;
        let month = Month::try_from(u8::try_from(total_months.rem_euclid(12) + 1).ok()?).ok()?;
        let day = date.day().min(time::util::days_in_month(month, year));
        let shifted = Date::from_calendar_date(year, month, day).ok()?;
        shifted.checked_add(Duration::days(self.weeks as i64 * 7 + self.days as i64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn period_arithmetic_matches_ibm_captured_outputs() {
        let created = parse_date("2022-05-26").unwrap();
        let activation = Period::parse("P5Y1M1W2D").unwrap().add_to(created).unwrap();
        assert_eq!(format_date(activation), "2027-07-05");
        let expiration = Period::parse("P1Y2M1W4D").unwrap().add_to(activation).unwrap();
        assert_eq!(format_date(expiration), "2028-09-16");
        let created = parse_date("2023-06-05").unwrap();
        let activation = Period::parse("P5Y1M1W2D").unwrap().add_to(created).unwrap();
        assert_eq!(format_date(activation), "2028-07-14");
    }

    #[test]
    fn direct_formatting_matches_the_time_crate() {
        let general = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
        let mut seconds = -62_167_219_200; // 0000-01-01T00:00:00Z
        while seconds < 253_402_300_800 {
            // up to 9999-12-31T23:59:59Z, in steps that visit every field value over the range
            let stamp = Timestamp::from_unix_seconds(seconds).unwrap();
            let expected = stamp.0.format(&general).unwrap();
            assert_eq!(stamp.etag(), expected);
            assert_eq!(stamp.to_rfc3339_millis(), expected.replace('Z', ".000Z"));
            assert_eq!(format_date(stamp.date()), expected[..10]);
            seconds += 86_399 * 37 + 13;
        }
        // Outside four-digit years the general formatter answers (with its sign).
        let early = Timestamp::from_unix_seconds(-62_167_219_201).unwrap();
        assert_eq!(early.etag(), "-0001-12-31T23:59:59Z");
    }

    #[test]
    fn period_rejects_malformed_text() {
        for text in ["", "P", "5Y", "P1D1Y", "PXD", "P1Y2", "P1H"] {
            assert_eq!(Period::parse(text), None, "{text}");
        }
    }

    #[test]
    fn stamps_strictly_increase_within_one_second() {
        let start = Timestamp::parse("2026-01-01T00:00:00Z").unwrap();
        let mut clock = Clock::new(start, ClockMode::Virtual);
        let first = clock.stamp();
        let second = clock.stamp();
        assert_eq!(first.etag(), "2026-01-01T00:00:00Z");
        assert_eq!(second.etag(), "2026-01-01T00:00:01Z");
        assert_eq!(second.to_rfc3339_millis(), "2026-01-01T00:00:01.000Z");
    }

    #[test]
    fn same_seed_gives_same_ids() {
        let (mut a, mut b) = (Rng::new(7), Rng::new(7));
        assert_eq!(a.uuid(), b.uuid());
        let id = a.uuid();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
    }
}
