//! How the CLI names sessions and shows times and durations.

use std::time::Duration;

use sessile::{StoreKey, Timestamp};

use crate::error::{CliError, Kind};

/// Hex digits of the store key a session is shown by: 48 bits, so two of a million sessions
/// share one with a chance under 1 in 500; `revoke` says when a key is ambiguous and takes more
/// digits.
pub const SHORT_KEY_LEN: usize = 12;

/// Fewer digits than this would name many sessions at once.
const MIN_KEY_LEN: usize = 8;

/// The key a session is shown by: the start of its store key's hex.
pub fn short_key(key: &StoreKey) -> String {
    let mut hex = key.to_hex();
    hex.truncate(SHORT_KEY_LEN);
    hex
}

/// A key as typed: lower-case hex, 8 to 64 digits.
pub fn parse_key(text: &str) -> Result<String, CliError> {
    let key = text.trim().to_ascii_lowercase();
    if key.len() < MIN_KEY_LEN || key.len() > 64 || !key.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(CliError::new(
            Kind::Usage,
            format!(
                "{text:?} is not a session key: expected {SHORT_KEY_LEN} hex digits as \
                 `sessions` shows them (8 to 64 digits of the store key)"
            ),
        ));
    }
    Ok(key)
}

/// `2026-12-07T10:06:29Z`, in UTC.
pub fn time(at: Timestamp) -> String {
    let millis = at.as_millis();
    let seconds = millis.div_euclid(1000);
    let (days, second_of_day) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        second_of_day / 3600,
        second_of_day % 3600 / 60,
        second_of_day % 60
    )
}

/// Howard Hinnant's `civil_from_days`: days since 1970-01-01 to a proleptic Gregorian date.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// A duration the way an operator reads it: `45s`, `12m`, `3h`, `2d`.
pub fn span(duration: Duration) -> String {
    let seconds = duration.as_secs();
    match seconds {
        0..=59 => format!("{seconds}s"),
        60..=3599 => format!("{}m", seconds / 60),
        3600..=86_399 => format!("{}h", seconds / 3600),
        _ => format!("{}d", seconds / 86_400),
    }
}

/// The time from `from` to `to`, zero if `to` is earlier.
pub fn between(from: Timestamp, to: Timestamp) -> Duration {
    Duration::from_millis(u64::try_from(to.as_millis() - from.as_millis()).unwrap_or(0))
}

/// Rows as aligned text columns under a header.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<&str>| {
        let last = cells.len() - 1;
        for (i, (cell, width)) in cells.iter().zip(&widths).enumerate() {
            if i == last {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<width$}  "));
            }
        }
        out.push('\n');
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_utc_dates() {
        assert_eq!(time(Timestamp::from_millis(0)), "1970-01-01T00:00:00Z");
        assert_eq!(
            time(Timestamp::from_millis(1_796_637_989_999)),
            "2026-12-07T10:06:29Z"
        );
        assert_eq!(
            time(Timestamp::from_millis(951_782_400_000)),
            "2000-02-29T00:00:00Z"
        );
    }

    #[test]
    fn keys_are_hex_prefixes() {
        assert_eq!(parse_key(" 3FA9C2E1B7D0 ").unwrap(), "3fa9c2e1b7d0");
        for bad in ["3fa9c2", "3fa9c2e1b7dz", &"a".repeat(65)] {
            assert_eq!(parse_key(bad).unwrap_err().kind, Kind::Usage, "{bad}");
        }
    }

    #[test]
    fn spans_round_down_to_one_unit() {
        assert_eq!(span(Duration::from_secs(59)), "59s");
        assert_eq!(span(Duration::from_secs(3599)), "59m");
        assert_eq!(span(Duration::from_secs(2 * 86_400 + 5)), "2d");
    }
}
