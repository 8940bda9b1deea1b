//! Calendar arithmetic for `X-Amz-Date` (proleptic Gregorian, UTC), without a clock.
//!
//! The model never reads the real time: `now_ms` values passed in are read as milliseconds since the
//! Unix epoch, so a virtual clock that starts at 0 signs URLs dated `19700101T000000Z`.

/// Days since 1970-01-01 for a civil date (Howard Hinnant's `days_from_civil`).
pub(crate) fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = i64::from(month);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day count since 1970-01-01 (Howard Hinnant's `civil_from_days`).
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    // day is 1..=31 and month 1..=12 by construction.
    (year, month as u32, day as u32)
}

/// `YYYYMMDDTHHMMSSZ` for seconds since the epoch.
pub(crate) fn amz_date(epoch_s: u64) -> String {
    let days = (epoch_s / 86_400) as i64;
    let secs = epoch_s % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    )
}

/// Parses `YYYYMMDDTHHMMSSZ` back to seconds since the epoch; `None` if malformed or before 1970.
pub(crate) fn parse_amz_date(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |range: core::ops::Range<usize>| -> Option<u32> {
        let part = s.get(range)?;
        if !part.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        part.parse().ok()
    };
    let (year, month, day) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (hour, minute, second) = (num(9..11)?, num(11..13)?, num(13..15)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    let days = days_from_civil(i64::from(year), month, day);
    // Reject dates such as Feb 31 that do not round-trip.
    if civil_from_days(days) != (i64::from(year), month, day) || days < 0 {
        return None;
    }
    let secs = days * 86_400 + i64::from(hour * 3600 + minute * 60 + second);
    u64::try_from(secs).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_and_known_dates() {
        assert_eq!(amz_date(0), "19700101T000000Z");
        // 2024-02-29 12:34:56 UTC
        assert_eq!(amz_date(1_709_210_096), "20240229T123456Z");
        assert_eq!(parse_amz_date("20240229T123456Z"), Some(1_709_210_096));
        assert_eq!(parse_amz_date("20230229T123456Z"), None);
        assert_eq!(parse_amz_date("2024022912345Z"), None);
        assert_eq!(parse_amz_date("20241301T000000Z"), None);
        assert_eq!(parse_amz_date("2024+101T000000Z"), None);
    }

    #[test]
    fn round_trip_many_days() {
        for days in (0..200_000u64).step_by(37) {
            let s = days * 86_400 + (days % 86_400);
            assert_eq!(parse_amz_date(&amz_date(s)), Some(s));
        }
    }
}
