//! The `%t` timestamp: `[DD/Mon/YYYY:HH:MM:SS +hhmm]`, 28 bytes, fixed positions.
//!
//! Owns turning those bytes into a day number without a general date parser: fixed-offset
//! digit checks, a month table and the civil-from-days arithmetic. Invariant: a timestamp is
//! accepted only if every field is in range (day valid for its month, leap years included),
//! so a day number always names a real calendar date.

/// Days since 1970-01-01 (negative before).
pub type DayNum = i32;

/// Length of `[10/Oct/2000:13:55:36 -0700]`.
pub const TIMESTAMP_LEN: usize = 28;

/// Offsets inside the timestamp, `[` at 0.
const DATE: std::ops::Range<usize> = 1..12;

/// The calendar date part `DD/Mon/YYYY` (bytes 1..12 of the timestamp), validated.
#[inline]
pub fn parse_date(ts: &[u8; TIMESTAMP_LEN]) -> Option<DayNum> {
    let d = &ts[DATE];
    if d[2] != b'/' || d[6] != b'/' {
        return None;
    }
    let day = two_digits(d[0], d[1])?;
    let month = month_number(&d[3..6])?;
    let year = four_digits(&d[7..11])?;
    if day == 0 || day > days_in_month(year, month) {
        return None;
    }
    Some(days_from_civil(year, month, day))
}

/// Validates `:HH:MM:SS +hhmm]` and returns (local minute of day, offset in minutes).
#[inline]
pub fn parse_clock(ts: &[u8; TIMESTAMP_LEN]) -> Option<(i32, i32)> {
    if ts[0] != b'['
        || ts[12] != b':'
        || ts[15] != b':'
        || ts[18] != b':'
        || ts[21] != b' '
        || ts[27] != b']'
    {
        return None;
    }
    let hour = two_digits(ts[13], ts[14])?;
    let minute = two_digits(ts[16], ts[17])?;
    let second = two_digits(ts[19], ts[20])?;
    let sign = match ts[22] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let off_h = two_digits(ts[23], ts[24])?;
    let off_m = two_digits(ts[25], ts[26])?;
    if hour > 23 || minute > 59 || second > 60 || off_h > 23 || off_m > 59 {
        return None;
    }
    Some((
        (hour * 60 + minute) as i32,
        sign * (off_h * 60 + off_m) as i32,
    ))
}

#[inline]
fn two_digits(a: u8, b: u8) -> Option<u32> {
    let (a, b) = (a.wrapping_sub(b'0'), b.wrapping_sub(b'0'));
    if a > 9 || b > 9 {
        return None;
    }
    Some(a as u32 * 10 + b as u32)
}

#[inline]
fn four_digits(s: &[u8]) -> Option<i32> {
    let hi = two_digits(s[0], s[1])?;
    let lo = two_digits(s[2], s[3])?;
    Some((hi * 100 + lo) as i32)
}

#[inline]
fn month_number(m: &[u8]) -> Option<u32> {
    // Apache and nginx always write English abbreviations, capitalised.
    Some(match m {
        b"Jan" => 1,
        b"Feb" => 2,
        b"Mar" => 3,
        b"Apr" => 4,
        b"May" => 5,
        b"Jun" => 6,
        b"Jul" => 7,
        b"Aug" => 8,
        b"Sep" => 9,
        b"Oct" => 10,
        b"Nov" => 11,
        b"Dec" => 12,
        _ => return None,
    })
}

fn is_leap(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Howard Hinnant's days_from_civil: exact for the proleptic Gregorian calendar.
pub fn days_from_civil(year: i32, month: u32, day: u32) -> DayNum {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = month as i32;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day as i32 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The chrono date of a day number (for rendering and ISO weeks, off the hot path).
pub fn to_date(day: DayNum) -> chrono::NaiveDate {
    chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch is a valid date")
        + chrono::Duration::days(day as i64)
}

/// (year, month, day) of a day number (days since 1970-01-01, proleptic Gregorian): the
/// inverse of [`days_from_civil`] (Howard Hinnant's `civil_from_days`).
pub fn civil_from_days(day: i64) -> (i64, u32, u32) {
    let z = day + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + (month <= 2) as i64;
    (year, month, day)
}

/// When a line was written: the instant (seconds since the epoch, UTC) and the UTC offset the
/// line was written in. Ordered by instant, then offset, so "earliest" and "latest" are total
/// orders and merging them is associative and commutative.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Timestamp {
    pub utc_secs: i64,
    pub offset_minutes: i32,
}

impl Timestamp {
    /// From a validated local day, local minute of day, the seconds field (0..=60) and the
    /// offset. A leap second `:60` is the instant one second after `:59`.
    #[inline]
    pub fn new(local_day: DayNum, minute_of_day: i32, second: i32, offset_minutes: i32) -> Self {
        let local = local_day as i64 * 86_400 + minute_of_day as i64 * 60 + second as i64;
        Timestamp {
            utc_secs: local - offset_minutes as i64 * 60,
            offset_minutes,
        }
    }

    /// [`Self::iso8601`] into a fixed buffer, without `chrono` or `format!`: the reports write
    /// two per suspicious client, and formatting them was a third of the JSON's time. `None`
    /// for a year outside 0-9999 (or an offset of 100 hours or more), where `iso8601` decides.
    #[inline]
    pub fn iso8601_bytes(&self, utc: bool) -> Option<[u8; 25]> {
        let offset = if utc { 0 } else { self.offset_minutes as i64 };
        let local = self.utc_secs.checked_add(offset * 60)?;
        let (year, month, day) = civil_from_days(local.div_euclid(86_400));
        let sod = local.rem_euclid(86_400);
        if !(0..=9999).contains(&year) || offset.abs() >= 100 * 60 {
            return None;
        }
        let mut out = *b"0000-00-00T00:00:00+00:00";
        let mut put = |at: usize, width: usize, mut value: i64| {
            for i in (at..at + width).rev() {
                out[i] = b'0' + (value % 10) as u8;
                value /= 10;
            }
        };
        put(0, 4, year);
        put(5, 2, month as i64);
        put(8, 2, day as i64);
        put(11, 2, sod / 3600);
        put(14, 2, sod / 60 % 60);
        put(17, 2, sod % 60);
        put(20, 2, offset.abs() / 60);
        put(23, 2, offset.abs() % 60);
        if offset < 0 {
            out[19] = b'-';
        }
        Some(out)
    }

    /// ISO 8601 with the offset: `2023-06-19T10:00:00+02:00` (the line's own offset), or with
    /// `+00:00` when `utc` is set. Off the hot path.
    pub fn iso8601(&self, utc: bool) -> String {
        let offset = if utc { 0 } else { self.offset_minutes as i64 };
        let local = self.utc_secs + offset * 60;
        let day = local.div_euclid(86_400);
        let sod = local.rem_euclid(86_400);
        let date = i32::try_from(day)
            .ok()
            .and_then(|d| {
                chrono::NaiveDate::from_ymd_opt(1970, 1, 1)?
                    .checked_add_signed(chrono::Duration::days(d as i64))
            })
            .map_or_else(|| "????-??-??".to_string(), |d| d.to_string());
        let sign = if offset < 0 { '-' } else { '+' };
        format!(
            "{date}T{:02}:{:02}:{:02}{sign}{:02}:{:02}",
            sod / 3600,
            sod / 60 % 60,
            sod % 60,
            offset.abs() / 60,
            offset.abs() % 60
        )
    }
}

/// The seconds field of a timestamp that [`parse_clock`] accepted.
#[inline]
pub fn clock_second(ts: &[u8; TIMESTAMP_LEN]) -> i32 {
    two_digits(ts[19], ts[20]).map_or(0, |s| s as i32)
}

/// Day of the instant in UTC, given the local day, local minute of day and offset.
#[inline]
pub fn utc_day(local_day: DayNum, minute_of_day: i32, offset_minutes: i32) -> DayNum {
    local_day + (minute_of_day - offset_minutes).div_euclid(24 * 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn iso8601_bytes_match_the_chrono_text(
            secs in -62_300_000_000i64..253_500_000_000,
            offset in -6100i32..6100,
            utc: bool,
        ) {
            let t = Timestamp { utc_secs: secs, offset_minutes: offset };
            if let Some(fast) = t.iso8601_bytes(utc) {
                proptest::prop_assert_eq!(std::str::from_utf8(&fast).unwrap(), t.iso8601(utc));
            }
            // Every year 0-9999 with an offset under 100 hours takes the fast path.
            let local = secs + if utc { 0 } else { offset as i64 * 60 };
            if (-62_167_219_200..253_402_300_800).contains(&local) && offset.abs() < 6000 {
                proptest::prop_assert!(t.iso8601_bytes(utc).is_some());
            }
        }
    }

    fn ts(s: &str) -> [u8; TIMESTAMP_LEN] {
        s.as_bytes().try_into().unwrap()
    }

    #[test]
    fn civil_days_match_chrono() {
        for (y, m, d) in [
            (1970, 1, 1),
            (2000, 2, 29),
            (2023, 6, 19),
            (1969, 12, 31),
            (2100, 3, 1),
        ] {
            let n = days_from_civil(y, m, d);
            assert_eq!(
                to_date(n),
                chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap()
            );
        }
    }

    #[test]
    fn parses_valid_and_rejects_out_of_range() {
        let t = ts("[19/Jun/2023:23:59:60 +0545]");
        assert_eq!(to_date(parse_date(&t).unwrap()).to_string(), "2023-06-19");
        assert_eq!(parse_clock(&t), Some((23 * 60 + 59, 345)));
        assert_eq!(parse_date(&ts("[29/Feb/2023:00:00:00 +0000]")), None);
        assert!(parse_date(&ts("[29/Feb/2024:00:00:00 +0000]")).is_some());
        assert_eq!(parse_date(&ts("[31/Apr/2023:00:00:00 +0000]")), None);
        assert_eq!(parse_date(&ts("[19/Foo/2023:00:00:00 +0000]")), None);
        assert_eq!(parse_date(&ts("[19/jun/2023:00:00:00 +0000]")), None);
        assert_eq!(parse_date(&ts("[00/Jun/2023:00:00:00 +0000]")), None);
        assert_eq!(parse_clock(&ts("[19/Jun/2023:24:00:00 +0000]")), None);
        assert_eq!(parse_clock(&ts("[19/Jun/2023:12:60:00 +0000]")), None);
        assert_eq!(parse_clock(&ts("[19/Jun/2023:12:00:00 0000 ]")), None);
        assert_eq!(parse_clock(&ts("[19/Jun/2023:12:00:00 +0060]")), None);
        assert_eq!(
            parse_clock(&ts("[19/Jun/2023:12:00:00 -1200]")),
            Some((720, -720))
        );
    }

    #[test]
    fn timestamps_render_in_their_own_offset_or_utc() {
        let d = days_from_civil(2023, 6, 19);
        let t = Timestamp::new(d, 23 * 60 + 30, 5, -420);
        assert_eq!(t.iso8601(false), "2023-06-19T23:30:05-07:00");
        assert_eq!(t.iso8601(true), "2023-06-20T06:30:05+00:00");
        let leap = Timestamp::new(d, 12 * 60 + 30, 60, 345);
        assert_eq!(leap.iso8601(false), "2023-06-19T12:31:00+05:45");
        // Same instant, different offsets: ordered by offset after the instant.
        let a = Timestamp::new(d, 12 * 60, 0, 0);
        let b = Timestamp::new(d, 14 * 60, 0, 120);
        assert_eq!(a.utc_secs, b.utc_secs);
        assert!(a < b);
    }

    #[test]
    fn utc_day_crosses_midnight_both_ways() {
        let d = days_from_civil(2023, 6, 19);
        // 23:30 at -0700 is 06:30 next day UTC.
        assert_eq!(utc_day(d, 23 * 60 + 30, -420), d + 1);
        // 00:30 at +1400 is 10:30 the day before UTC.
        assert_eq!(utc_day(d, 30, 840), d - 1);
        assert_eq!(utc_day(d, 12 * 60, 345), d);
    }
}
