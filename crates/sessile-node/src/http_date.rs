//! JavaScript's date forms: `toUTCString` (cookie `expires=`), `toISOString` (JSON) and
//! Sequelize's SQLite `DATE` text.

use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::OffsetDateTime;

const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Formats milliseconds since the Unix epoch as JavaScript's `new Date(ms).toUTCString()` does
/// for years 0 to 9999, e.g. `Thu, 01 Jan 1970 00:00:00 GMT`. Milliseconds are truncated towards
/// the earlier second, as JavaScript does.
///
/// ```
/// assert_eq!(sessile_node::to_utc_string(0), "Thu, 01 Jan 1970 00:00:00 GMT");
/// assert_eq!(sessile_node::to_utc_string(1_700_003_600_999), "Tue, 14 Nov 2023 23:13:20 GMT");
/// ```
pub fn to_utc_string(epoch_ms: i64) -> String {
    let days = epoch_ms.div_euclid(86_400_000);
    let ms_of_day = epoch_ms.rem_euclid(86_400_000);
    let (hour, minute, second) = (
        ms_of_day / 3_600_000,
        ms_of_day / 60_000 % 60,
        ms_of_day / 1000 % 60,
    );
    let (year, month, day) = civil_from_days(days);
    let weekday = WEEKDAYS[days.rem_euclid(7) as usize];
    format!(
        "{weekday}, {day:02} {} {year:04} {hour:02}:{minute:02}:{second:02} GMT",
        MONTHS[(month - 1) as usize]
    )
}

/// Formats milliseconds since the Unix epoch as JavaScript's `Date#toISOString()` (and so
/// `JSON.stringify` of a `Date`): `2023-11-14T23:13:20.000Z`. `None` outside years 0 to 9999.
///
/// ```
/// assert_eq!(sessile_node::to_iso_string(1_700_003_600_000).unwrap(), "2023-11-14T23:13:20.000Z");
/// ```
pub fn to_iso_string(epoch_ms: i64) -> Option<String> {
    format_ms(
        epoch_ms,
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"),
    )
}

/// Formats milliseconds since the Unix epoch as Sequelize stores a `DATE` in SQLite, the form its
/// cleanup query compares as text: `2023-11-14 23:14:20.000 +00:00`.
///
/// ```
/// assert_eq!(
///     sessile_node::to_sequelize_sqlite_date(1_700_003_660_000).unwrap(),
///     "2023-11-14 23:14:20.000 +00:00"
/// );
/// ```
pub fn to_sequelize_sqlite_date(epoch_ms: i64) -> Option<String> {
    format_ms(
        epoch_ms,
        format_description!(
            "[year]-[month]-[day] [hour]:[minute]:[second].[subsecond digits:3] +00:00"
        ),
    )
}

/// Parses what JavaScript's `new Date(text)` reads back from the stores: ISO 8601 with a
/// zone (`2023-11-14T23:13:20.000Z`) or Sequelize's SQLite form (`2023-11-14 23:14:20.000
/// +00:00`); milliseconds since the epoch, or `None`.
///
/// ```
/// assert_eq!(sessile_node::parse_date("2023-11-14T23:13:20.000Z"), Some(1_700_003_600_000));
/// assert_eq!(sessile_node::parse_date("2023-11-14 23:14:20.000 +00:00"), Some(1_700_003_660_000));
/// assert_eq!(sessile_node::parse_date("yesterday"), None);
/// ```
pub fn parse_date(text: &str) -> Option<i64> {
    let parsed = OffsetDateTime::parse(text, &Rfc3339).ok().or_else(|| {
        OffsetDateTime::parse(
            text,
            format_description!(
                "[year]-[month]-[day] [hour]:[minute]:[second].[subsecond] [offset_hour sign:mandatory]:[offset_minute]"
            ),
        )
        .ok()
    })?;
    i64::try_from(parsed.unix_timestamp_nanos() / 1_000_000).ok()
}

fn format_ms(
    epoch_ms: i64,
    format: &[time::format_description::BorrowedFormatItem<'_>],
) -> Option<String> {
    let at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(epoch_ms) * 1_000_000).ok()?;
    if !(0..=9999).contains(&at.year()) {
        return None;
    }
    at.format(format).ok()
}

/// Howard Hinnant's days-to-civil conversion (proleptic Gregorian calendar).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        assert_eq!(
            to_utc_string(951_782_400_000),
            "Tue, 29 Feb 2000 00:00:00 GMT"
        );
        assert_eq!(to_utc_string(-1), "Wed, 31 Dec 1969 23:59:59 GMT");
        assert_eq!(
            to_utc_string(1_700_086_400_000),
            "Wed, 15 Nov 2023 22:13:20 GMT"
        );
        assert_eq!(
            to_utc_string(4_102_444_799_000),
            "Thu, 31 Dec 2099 23:59:59 GMT"
        );
    }
}
