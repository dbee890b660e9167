//! `Date.prototype.toUTCString`, the form both Koa and Express write into `expires=`.

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
