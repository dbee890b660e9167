//! Time as stores see it, and the injectable clock that makes expiry testable without sleeping.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch. One integer every store can index and compare.
///
/// ```
/// use sessile::Timestamp;
/// use std::time::Duration;
/// let t = Timestamp::from_millis(1_000);
/// assert_eq!(t + Duration::from_secs(1), Timestamp::from_millis(2_000));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(i64);

impl Timestamp {
    /// Wraps milliseconds since the Unix epoch.
    pub const fn from_millis(millis: i64) -> Self {
        Self(millis)
    }

    /// Milliseconds since the Unix epoch.
    pub const fn as_millis(self) -> i64 {
        self.0
    }

    /// The time elapsed from `earlier` to `self`, zero if `earlier` is later. Never overflows:
    /// either side may come from a store, and a record holding an extreme time must not panic
    /// a request.
    ///
    /// ```
    /// use sessile::Timestamp;
    /// use std::time::Duration;
    /// let now = Timestamp::from_millis(5_000);
    /// assert_eq!(now.since(Timestamp::from_millis(2_000)), Duration::from_secs(3));
    /// assert_eq!(now.since(Timestamp::from_millis(9_000)), Duration::ZERO);
    /// assert!(now.since(Timestamp::from_millis(i64::MIN)) > Duration::from_secs(1 << 50));
    /// ```
    pub fn since(self, earlier: Timestamp) -> Duration {
        // The difference of two i64 always fits an i128, and a non-negative one a u64.
        let elapsed = i128::from(self.0) - i128::from(earlier.0);
        Duration::from_millis(u64::try_from(elapsed).unwrap_or(0))
    }
}

impl std::ops::Add<Duration> for Timestamp {
    type Output = Timestamp;
    fn add(self, duration: Duration) -> Timestamp {
        let millis = i64::try_from(duration.as_millis()).unwrap_or(i64::MAX);
        Timestamp(self.0.saturating_add(millis))
    }
}

impl std::ops::Sub<Duration> for Timestamp {
    type Output = Timestamp;
    fn sub(self, duration: Duration) -> Timestamp {
        let millis = i64::try_from(duration.as_millis()).unwrap_or(i64::MAX);
        Timestamp(self.0.saturating_sub(millis))
    }
}

/// A [`Timestamp`] a platform's time type cannot hold: [`SystemTime`] on some platforms, and the
/// `time` crate's `OffsetDateTime` beyond the years -9999..=9999.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{timestamp} ({} ms since the Unix epoch) is out of range for {target}", timestamp.0)]
pub struct OutOfRange {
    timestamp: Timestamp,
    target: &'static str,
}

impl OutOfRange {
    /// The timestamp that did not fit.
    pub fn timestamp(&self) -> Timestamp {
        self.timestamp
    }
}

/// A system time as milliseconds since the epoch, sub-millisecond digits dropped (times before
/// the epoch round down). Saturates at the ends of the range, as `Timestamp + Duration` does: a
/// system time 292 million years away is no time a session lives to.
///
/// ```
/// use std::time::{Duration, SystemTime, UNIX_EPOCH};
/// use sessile::Timestamp;
/// let at = UNIX_EPOCH + Duration::from_millis(1_700_000_000_000);
/// assert_eq!(Timestamp::from(at), Timestamp::from_millis(1_700_000_000_000));
/// assert_eq!(SystemTime::try_from(Timestamp::from(at)), Ok(at));
/// ```
impl From<SystemTime> for Timestamp {
    fn from(time: SystemTime) -> Self {
        let millis = match time.duration_since(UNIX_EPOCH) {
            Ok(after) => i64::try_from(after.as_millis()).unwrap_or(i64::MAX),
            Err(before) => {
                let before = before.duration();
                // -1.5 ms is the millisecond starting at -2 ms, as for times after the epoch.
                let whole = before.as_millis() + u128::from(before.subsec_nanos() % 1_000_000 != 0);
                i64::try_from(whole).map_or(i64::MIN, |millis| -millis)
            }
        };
        Timestamp(millis)
    }
}

/// The system time of a timestamp; [`OutOfRange`] where the platform's `SystemTime` cannot
/// reach it (every `Timestamp` fits on Linux and macOS).
impl TryFrom<Timestamp> for SystemTime {
    type Error = OutOfRange;

    fn try_from(timestamp: Timestamp) -> Result<Self, OutOfRange> {
        let magnitude = Duration::from_millis(timestamp.0.unsigned_abs());
        let time = if timestamp.0 >= 0 {
            UNIX_EPOCH.checked_add(magnitude)
        } else {
            UNIX_EPOCH.checked_sub(magnitude)
        };
        time.ok_or(OutOfRange {
            timestamp,
            target: "SystemTime",
        })
    }
}

/// The instant as a UTC `OffsetDateTime`.
///
/// ```
/// use sessile::Timestamp;
/// use time::macros::datetime;
/// let at = Timestamp::from_millis(1_700_000_000_123);
/// let date = time::OffsetDateTime::try_from(at)?;
/// assert_eq!(date, datetime!(2023-11-14 22:13:20.123 UTC));
/// assert_eq!(Timestamp::from(date), at);
/// # Ok::<(), sessile::time::OutOfRange>(())
/// ```
#[cfg(feature = "time")]
#[cfg_attr(docsrs, doc(cfg(feature = "time")))]
impl TryFrom<Timestamp> for ::time::OffsetDateTime {
    type Error = OutOfRange;

    fn try_from(timestamp: Timestamp) -> Result<Self, OutOfRange> {
        ::time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(timestamp.0) * 1_000_000)
            .map_err(|_| OutOfRange {
                timestamp,
                target: "time::OffsetDateTime",
            })
    }
}

/// The instant in milliseconds, sub-millisecond digits dropped (rounding down, as for
/// `SystemTime`). Every `OffsetDateTime` fits.
#[cfg(feature = "time")]
#[cfg_attr(docsrs, doc(cfg(feature = "time")))]
impl From<::time::OffsetDateTime> for Timestamp {
    fn from(date: ::time::OffsetDateTime) -> Self {
        let millis = date.unix_timestamp_nanos().div_euclid(1_000_000);
        Timestamp(i64::try_from(millis).unwrap_or(if millis < 0 { i64::MIN } else { i64::MAX }))
    }
}

/// RFC 3339 in UTC with milliseconds, `2023-11-14T22:13:20.000Z`: what a log line or a page
/// shows. Years outside 0000..=9999, which RFC 3339 cannot write, get ISO 8601's expanded form
/// (a sign and more digits) rather than a wrong date.
///
/// ```
/// use sessile::Timestamp;
/// assert_eq!(Timestamp::from_millis(1_700_000_000_000).to_string(), "2023-11-14T22:13:20.000Z");
/// assert_eq!(Timestamp::from_millis(0).to_string(), "1970-01-01T00:00:00.000Z");
/// assert_eq!(Timestamp::from_millis(-1).to_string(), "1969-12-31T23:59:59.999Z");
/// ```
impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        const DAY_MS: i64 = 86_400_000;
        let (days, in_day) = (self.0.div_euclid(DAY_MS), self.0.rem_euclid(DAY_MS));
        let (year, month, day) = civil_from_days(days);
        if (0..=9999).contains(&year) {
            write!(f, "{year:04}")?;
        } else {
            write!(f, "{year:+05}")?;
        }
        write!(
            f,
            "-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
            in_day / 3_600_000,
            in_day / 60_000 % 60,
            in_day / 1_000 % 60,
            in_day % 1_000
        )
    }
}

/// The proleptic Gregorian (year, month, day) of a day count from 1970-01-01: Howard Hinnant's
/// `civil_from_days` (<https://howardhinnant.github.io/date_algorithms.html>), exact for every
/// `i64` millisecond count's day.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let shifted = days + 719_468; // days from 0000-03-01
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_from_march + 2) / 5 + 1) as u32;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Where "now" comes from. The engine and the stores' cleanup ask it, never the system directly.
pub trait Clock: Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> Timestamp;
}

/// The system's wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp(i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX))
    }
}

/// A clock that moves only when told: for tests of idle and absolute expiry.
///
/// ```
/// use sessile::{Clock, ManualClock, Timestamp};
/// use std::time::Duration;
/// let clock = ManualClock::new(Timestamp::from_millis(0));
/// clock.advance(Duration::from_secs(60));
/// assert_eq!(clock.now(), Timestamp::from_millis(60_000));
/// ```
#[derive(Clone, Debug)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    /// A clock standing at `start`.
    pub fn new(start: Timestamp) -> Self {
        Self(Arc::new(AtomicI64::new(start.0)))
    }

    /// A clock standing at the current system time.
    pub fn starting_now() -> Self {
        Self::new(SystemClock.now())
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        let millis = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.0.fetch_add(millis, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.0.load(Ordering::SeqCst))
    }
}

/// `Option<Duration>` as whole milliseconds, the unit every deadline is kept in (serde `with`).
pub(crate) mod optional_millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(
        value: &Option<Duration>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(duration) => {
                serializer.serialize_u64(u64::try_from(duration.as_millis()).unwrap_or(u64::MAX))
            }
            None => serializer.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<u64>::deserialize(deserializer)?.map(Duration::from_millis))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn display_writes_leap_days_and_far_years() {
        let leap_day = Timestamp::from_millis(951_782_400_000); // 2000-02-29
        assert_eq!(leap_day.to_string(), "2000-02-29T00:00:00.000Z");
        assert_eq!(
            Timestamp::from_millis(253_402_300_799_999).to_string(),
            "9999-12-31T23:59:59.999Z"
        );
        assert_eq!(
            Timestamp::from_millis(253_402_300_800_000).to_string(),
            "+10000-01-01T00:00:00.000Z"
        );
        assert_eq!(
            Timestamp::from_millis(-62_167_219_200_001).to_string(),
            "-0001-12-31T23:59:59.999Z"
        );
        // The extremes format without overflow.
        assert!(Timestamp::from_millis(i64::MAX)
            .to_string()
            .starts_with('+'));
        assert!(Timestamp::from_millis(i64::MIN)
            .to_string()
            .starts_with('-'));
    }

    #[test]
    fn system_time_before_the_epoch_rounds_down_to_the_millisecond() {
        let before = UNIX_EPOCH - Duration::from_micros(1_500);
        assert_eq!(Timestamp::from(before), Timestamp::from_millis(-2));
        let after = UNIX_EPOCH + Duration::from_micros(1_500);
        assert_eq!(Timestamp::from(after), Timestamp::from_millis(1));
    }

    proptest! {
        #[test]
        fn system_time_round_trips(millis in any::<i64>()) {
            let timestamp = Timestamp::from_millis(millis);
            let system = SystemTime::try_from(timestamp).unwrap();
            prop_assert_eq!(Timestamp::from(system), timestamp);
        }
    }

    #[cfg(feature = "time")]
    proptest! {
        #[test]
        fn display_matches_the_time_crate_and_round_trips(
            // Years -9999..=9999, what OffsetDateTime holds without its large-dates feature.
            millis in -377_705_116_800_000i64..=253_402_300_799_999
        ) {
            use ::time::format_description::well_known::Rfc3339;
            let timestamp = Timestamp::from_millis(millis);
            let date = ::time::OffsetDateTime::try_from(timestamp).unwrap();
            prop_assert_eq!(Timestamp::from(date), timestamp);
            if millis >= -62_167_219_200_000 {
                // RFC 3339 has years 0000..=9999 only: there, the time crate reads our text back
                // as the same instant.
                let parsed = ::time::OffsetDateTime::parse(&timestamp.to_string(), &Rfc3339);
                prop_assert_eq!(parsed, Ok(date));
            }
        }
    }

    #[cfg(feature = "time")]
    #[test]
    fn an_out_of_range_timestamp_is_an_error() {
        let far = Timestamp::from_millis(i64::MAX);
        let error = ::time::OffsetDateTime::try_from(far).unwrap_err();
        assert_eq!(error.timestamp(), far);
        assert!(
            error
                .to_string()
                .contains("out of range for time::OffsetDateTime"),
            "{error}"
        );
    }
}
