//! The weekly (or date-range) summary for a manager, built from an analysis [`Report`]:
//! each day of the period, the top suspicious IPs with counts by status, status-400 totals,
//! and the same figures for the period before with the differences.
//!
//! Invariant: every day of the period is listed (zero-filled when no line is dated on it), the
//! period's figures are sums of its days, and its suspicious IPs are those over the threshold
//! in the period as a whole: counted over the range by the analysis where `report` asked for
//! it ([`Report::ranges`]), else the analysis' own week figures for an ISO week (an `analyze
//! --html` section).

use crate::summary::{DaySummary, PeriodSummary, Report, SuspiciousIp};
use chrono::{Datelike, Days, NaiveDate, Weekday};
use serde::Serialize;

pub const SCHEMA_VERSION: u32 = 1;
pub const TOP_IPS: usize = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub start: NaiveDate,
    pub end: NaiveDate,
}

impl Range {
    pub fn days(&self) -> u64 {
        (self.end - self.start).num_days().max(0) as u64 + 1
    }

    /// The range of the same length just before this one.
    pub fn previous(&self) -> Range {
        let n = self.days();
        Range {
            start: self.start - Days::new(n),
            end: self.start - Days::new(1),
        }
    }

    /// `2023-W25` for an ISO week, else `START..END`.
    pub fn label(&self) -> String {
        if let Some(w) = self.iso_week() {
            w
        } else {
            format!("{}..{}", self.start, self.end)
        }
    }

    pub fn iso_week(&self) -> Option<String> {
        (self.start.weekday() == Weekday::Mon && self.days() == 7)
            .then(|| crate::summary::iso_week_text(self.start.iso_week()))
    }
}

/// `last` (the ISO week before `today`'s) or `YYYY-Www`.
pub fn parse_week(spec: &str, today: NaiveDate) -> anyhow::Result<Range> {
    let start = if spec == "last" {
        let this_monday = today - Days::new(u64::from(today.weekday().num_days_from_monday()));
        this_monday - Days::new(7)
    } else {
        // Exactly `YYYY-Www`: `parse` alone takes `+5`, `005` and `+2026`.
        let shaped = spec.len() == 8
            && spec.as_bytes().iter().enumerate().all(|(i, b)| match i {
                4 => *b == b'-',
                5 => *b == b'W',
                _ => b.is_ascii_digit(),
            });
        let parsed = spec.split_once("-W").filter(|_| shaped).and_then(|(y, w)| {
            let (y, w) = (y.parse::<i32>().ok()?, w.parse::<u32>().ok()?);
            (1000..=9999)
                .contains(&y)
                .then(|| NaiveDate::from_isoywd_opt(y, w, Weekday::Mon))
                .flatten()
                // Its Sunday too: 9999-W52 ends in the year 10000.
                .filter(|monday| (*monday + Days::new(6)).year() <= 9999)
        });
        match parsed {
            Some(d) => d,
            // The right shape, but no such week: say so (2021 has no week 53).
            None if shaped && spec[..4] >= *"1000" => anyhow::bail!(
                "--week: {} has no week {} (ISO years have 52 or 53 weeks; the last must end by 9999-12-31)",
                &spec[..4],
                &spec[6..]
            ),
            None => anyhow::bail!(
                "--week: {} is not `last` or an ISO week like 2023-W25",
                crate::escape::quoted(spec)
            ),
        }
    };
    Ok(Range {
        start,
        end: start + Days::new(6),
    })
}

pub fn parse_range(since: &str, until: &str) -> anyhow::Result<Range> {
    // Four-digit years, as in the logs and the report (a date near chrono's limits made the
    // previous period's arithmetic panic).
    let d = |flag: &str, s: &str| {
        // Exactly `YYYY-MM-DD`: chrono alone takes `2023-6-1`, `+2023-06-01`, ` 2023-06-01`.
        let shaped = s.len() == 10
            && s.bytes().enumerate().all(|(i, b)| match i {
                4 | 7 => b == b'-',
                _ => b.is_ascii_digit(),
            });
        Some(s)
            .filter(|_| shaped)
            .and_then(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
            .filter(|d| (1000..=9999).contains(&d.year()))
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "{flag}: {} is not a date like 2023-06-19",
                    crate::escape::quoted(s)
                )
            })
    };
    let r = Range {
        start: d("--since", since)?,
        end: d("--until", until)?,
    };
    if r.end < r.start {
        anyhow::bail!("--until {} is before --since {}", r.end, r.start);
    }
    // Every day of the period and of the one before is listed, empty or not: 9,000 years
    // were 3.3 million days, gigabytes of report.
    let days = (r.end - r.start).num_days() + 1;
    if days > MAX_PERIOD_DAYS {
        anyhow::bail!(
            "--since {} --until {} is {days} days; a period is at most {MAX_PERIOD_DAYS} days (100 years)",
            r.start,
            r.end
        );
    }
    Ok(r)
}

/// The longest period `report` takes (100 years).
const MAX_PERIOD_DAYS: i64 = 36_525;

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Figures {
    pub lines: u64,
    pub failed: u64,
    pub status_400: u64,
    /// Days with an unusual amount of 400 errors.
    pub unusual_400_days: u64,
    /// Days with at least one suspicious IP.
    pub days_with_suspicious_ips: u64,
    /// The period as a whole has an unusual amount of 400 errors (`status_400` at least the
    /// bad-request threshold), whether or not any one day has.
    pub unusual_400: bool,
    /// IPs flagged over the period as a whole (failed requests at least the threshold): all
    /// of them, where `top_ips` lists the first few.
    pub suspicious_ips: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Deltas {
    pub lines: i64,
    pub failed: i64,
    pub status_400: i64,
    pub unusual_400_days: i64,
    pub days_with_suspicious_ips: i64,
    pub suspicious_ips: i64,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PeriodInfo {
    pub label: String,
    pub start: String,
    pub end: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Day {
    pub date: String,
    pub weekday: String,
    #[serde(flatten)]
    pub period: PeriodSummary,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct TopIp {
    #[serde(flatten)]
    pub ip: SuspiciousIp,
    /// Failed requests from this IP in the previous period, flagged there or not (exact where
    /// the analysis counted the range's clients, as `report` has it do; else 0 when not
    /// flagged then).
    pub previous_failed: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Weekly {
    pub schema_version: u32,
    pub period: PeriodInfo,
    pub previous_period: PeriodInfo,
    pub settings: crate::summary::Settings,
    pub totals: Figures,
    pub previous_totals: Figures,
    pub deltas: Deltas,
    pub days: Vec<Day>,
    pub top_ips: Vec<TopIp>,
    /// Inputs that could not be read, or only partly: the figures leave out what was not read.
    pub input_errors: Vec<InputError>,
    /// Why the figures may be short though every input was read (the archives end before
    /// the period does: see `report`).
    pub warnings: Vec<String>,
}

/// An input of the report that could not be read completely (both texts already escaped).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct InputError {
    pub path: String,
    pub error: String,
}

fn info(r: Range) -> PeriodInfo {
    PeriodInfo {
        label: r.label(),
        start: r.start.to_string(),
        end: r.end.to_string(),
    }
}

fn empty_period() -> PeriodSummary {
    PeriodSummary {
        lines: 0,
        failed: 0,
        status_400: 0,
        unusual_400: false,
        failing_ips: 0,
        suspicious_ips: Default::default(),
    }
}

/// Every day of the range, zero-filled where no line is dated.
pub fn days_of(report: &Report, r: Range) -> Vec<Day> {
    let mut out = Vec::new();
    let mut d = r.start;
    while d <= r.end {
        let date = d.to_string();
        // The report's days are in date order: a search per day (a scan per day was
        // quadratic in the days for `analyze --html`, which builds every week).
        let period = report
            .days
            .binary_search_by(|x: &DaySummary| x.date.as_str().cmp(date.as_str()))
            .map_or_else(|_| empty_period(), |i| report.days[i].period.clone());
        out.push(Day {
            date,
            weekday: d.weekday().to_string(),
            period,
        });
        d = d + Days::new(1);
    }
    out
}

fn figures(days: &[Day], bad_request_threshold: u64) -> Figures {
    let mut f = Figures::default();
    for d in days {
        f.lines += d.period.lines;
        f.failed += d.period.failed;
        f.status_400 += d.period.status_400;
        f.unusual_400_days += u64::from(d.period.unusual_400);
        f.days_with_suspicious_ips += u64::from(!d.period.suspicious_ips.is_empty());
    }
    f.unusual_400 = f.status_400 >= bad_request_threshold;
    f
}

/// The range's clients, when the analysis counted them ([`Report::ranges`]).
fn range_clients(report: &Report, r: Range) -> Option<&crate::summary::RangeClients> {
    report
        .ranges
        .iter()
        .find(|x| (x.start, x.end) == (r.start, r.end))
}

/// The suspicious IPs of a range: over the threshold in the range as a whole, as the
/// analysis counted them for `report` ([`Report::ranges`]), or its own week figures for an
/// ISO week (`analyze --html`). No caller asks for another range uncounted: none then.
pub fn suspicious(report: &Report, r: Range) -> Vec<SuspiciousIp> {
    if let Some(counted) = range_clients(report, r) {
        return counted.clients.clone();
    }
    // Weeks are in order, and so are their labels (`YYYY-Www`).
    r.iso_week()
        .and_then(|label| {
            report
                .weeks
                .binary_search_by(|w| w.week.as_str().cmp(label.as_str()))
                .ok()
        })
        .map(|at| report.weeks[at].period.suspicious_ips.to_vec())
        .unwrap_or_default()
}

fn delta(a: u64, b: u64) -> i64 {
    i64::try_from(a).unwrap_or(i64::MAX) - i64::try_from(b).unwrap_or(i64::MAX)
}

pub fn build(report: &Report, r: Range) -> Weekly {
    let prev = r.previous();
    let days = days_of(report, r);
    let prev_days = days_of(report, prev);
    let bad_requests = report.settings.bad_request_threshold;
    let (flagged, prev_ips) = (suspicious(report, r), suspicious(report, prev));
    let totals = Figures {
        suspicious_ips: flagged.len() as u64,
        ..figures(&days, bad_requests)
    };
    let previous_totals = Figures {
        suspicious_ips: prev_ips.len() as u64,
        ..figures(&prev_days, bad_requests)
    };
    // The previous counts: looked up by the analysis where it counted the range (flagged
    // then or not), else from the previous period's list (0 when not flagged then).
    let counted_before = range_clients(report, r).map(|c| &c.before_failed[..]);
    let top_ips = flagged
        .into_iter()
        .take(TOP_IPS)
        .enumerate()
        .map(|(i, ip)| TopIp {
            previous_failed: match counted_before {
                Some(before) => before.get(i).copied().unwrap_or(0),
                None => prev_ips
                    .iter()
                    .find(|p| p.ip == ip.ip)
                    .map_or(0, |p| p.failed),
            },
            ip,
        })
        .collect();
    let deltas = Deltas {
        lines: delta(totals.lines, previous_totals.lines),
        failed: delta(totals.failed, previous_totals.failed),
        status_400: delta(totals.status_400, previous_totals.status_400),
        unusual_400_days: delta(totals.unusual_400_days, previous_totals.unusual_400_days),
        days_with_suspicious_ips: delta(
            totals.days_with_suspicious_ips,
            previous_totals.days_with_suspicious_ips,
        ),
        suspicious_ips: delta(totals.suspicious_ips, previous_totals.suspicious_ips),
    };
    Weekly {
        schema_version: SCHEMA_VERSION,
        period: info(r),
        previous_period: info(prev),
        settings: report.settings.clone(),
        totals,
        previous_totals,
        deltas,
        days,
        top_ips,
        input_errors: report
            .inputs
            .iter()
            .filter(|i| i.error.is_some() && error_may_touch(report, i, prev.start))
            .filter_map(|i| {
                i.error.as_ref().map(|error| InputError {
                    path: i.path.clone(),
                    error: error.clone(),
                })
            })
            .collect(),
        // An archive of which no line parsed adds nothing: said, or the week reads as quiet;
        // one not compared for duplicates may count a copy's lines again.
        // (By the days it was read to, as an error: an archive named for an earlier day may
        // hold the period's lines.)
        warnings: report
            .inputs
            .iter()
            .filter(|i| {
                may_hold_from(
                    &i.path,
                    i.last_day.map(crate::scan::time::to_date),
                    prev.start,
                )
            })
            .flat_map(|i| {
                i.warnings
                    .iter()
                    .filter(|w| {
                        w.starts_with(crate::summary::NOTHING_PARSED)
                            || w.starts_with(crate::summary::NOT_COMPARED)
                    })
                    .map(move |w| format!("{}: {w}", i.path))
            })
            .collect(),
    }
}

/// Whether an input may hold lines of `from` or later: an archive `collect` named
/// (`access_YYYY-MM-DD.log`, `-N`, `.gz`) holds lines written up to that date (the local
/// date of its collect), so an unreadable archive dated well before the previous period is no
/// warning in every week's report. A line's day can be up to [`ARCHIVE_DAYS_AHEAD`] later
/// than that date (in UTC, or in the server's own offset against the collecting machine's
/// zone). Any other name may hold any day, and so may one whose lines read (latest day
/// `read_up_to`) go past its date: not named by `collect` (a month's archive named by its
/// first day).
pub fn may_hold_from(path: &str, read_up_to: Option<NaiveDate>, from: NaiveDate) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    name.strip_prefix("access_")
        .and_then(|rest| rest.get(..10))
        .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        .map(|dated| dated + Days::new(ARCHIVE_DAYS_AHEAD))
        .is_none_or(|holds_up_to| holds_up_to >= from || read_up_to > Some(holds_up_to))
}

/// Whether what `input` could not read may hold lines of `from` or later: its own name says
/// so ([`may_hold_from`]), or the name of a copy of it that was skipped as a duplicate (the
/// copy is as short as the input it copies, and its error is that input's).
fn error_may_touch(report: &Report, input: &crate::summary::InputSummary, from: NaiveDate) -> bool {
    let read_up_to = input.last_day.map(crate::scan::time::to_date);
    may_hold_from(&input.path, read_up_to, from)
        || report.inputs.iter().any(|copy| {
            copy.duplicate_of.as_deref() == Some(input.path.as_str())
                && may_hold_from(&copy.path, read_up_to, from)
        })
}

/// How many days after an archive's date its lines' days can be: offsets run from -12:00 to
/// +14:00, so a line written before local midnight at -12:00 is dated up to 26 hours later in
/// another offset (the next day in UTC, or the day after in +14:00).
const ARCHIVE_DAYS_AHEAD: u64 = 2;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_outside_four_digit_years_are_refused() {
        for (since, until) in [
            ("-262143-01-01", "-262143-01-03"),
            ("+262142-12-29", "+262142-12-31"),
            ("0999-12-31", "2023-01-01"),
            ("2023-01-01", "10000-01-01"),
        ] {
            let err = parse_range(since, until).unwrap_err().to_string();
            assert!(
                err.contains("is not a date like 2023-06-19"),
                "{since} {until}: {err}"
            );
        }
        let first = parse_range("1000-01-01", "1099-12-31").unwrap();
        assert_eq!(first.previous().end, d(999, 12, 31));
        assert_eq!(first.previous().start, d(900, 1, 1));
        assert!(parse_week("262142-W52", d(2023, 1, 1)).is_err());
        for bad in [
            "2026-W+5",
            "2026-W005",
            "+2026-W05",
            "2026-W5",
            "2026-w05",
            "2026-W00",
        ] {
            assert!(parse_week(bad, d(2023, 1, 1)).is_err(), "{bad}");
        }
        assert_eq!(
            parse_week("2026-W05", d(2023, 1, 1)).unwrap().start,
            d(2026, 1, 26)
        );
        assert!(parse_week("9999-W52", d(2023, 1, 1)).is_err());
        for (week, err) in [
            ("2021-W53", "--week: 2021 has no week 53"),
            ("2023-W54", "--week: 2023 has no week 54"),
            ("2026-W00", "--week: 2026 has no week 00"),
            ("0999-W01", "--week: \"0999-W01\" is not `last`"),
            // Escaped once (it was escaped, then quoted with its backslash escaped again).
            (
                "2023-W9\x1b[2J",
                "--week: \"2023-W9\\x1b[2J\" is not `last`",
            ),
        ] {
            let got = parse_week(week, d(2023, 1, 1)).unwrap_err().to_string();
            assert!(got.starts_with(err), "{week}: {got}");
        }
        assert_eq!(
            parse_week("2020-W53", d(2023, 1, 1)).unwrap().start,
            d(2020, 12, 28)
        );
        for bad in [
            "2023-6-01",
            "+2023-06-01",
            " 2023-06-01",
            "2023-06-01 ",
            "02023-06-01",
            "2023/06/01",
        ] {
            let err = parse_range(bad, "2023-06-30").unwrap_err().to_string();
            assert!(err.starts_with("--since: "), "{bad}: {err}");
            let err = parse_range("2023-06-01", bad).unwrap_err().to_string();
            assert!(err.starts_with("--until: "), "{bad}: {err}");
        }
        assert_eq!(
            parse_week("9999-W51", d(2023, 1, 1)).unwrap().end,
            d(9999, 12, 26)
        );
        // At most 100 years.
        assert_eq!(
            parse_range("1900-01-01", "1999-12-31").unwrap().end,
            d(1999, 12, 31)
        );
        assert_eq!(
            parse_range("1000-01-01", "9999-12-31").unwrap_err().to_string(),
            "--since 1000-01-01 --until 9999-12-31 is 3287182 days; a period is at most 36525 days (100 years)"
        );
        assert!(parse_range("1900-01-01", "2000-01-01").is_ok());
        assert!(parse_range("1900-01-01", "2000-01-02").is_err());
    }

    #[test]
    fn archives_dated_before_a_day_cannot_hold_it() {
        let from = d(2023, 6, 12);
        let unread = |path: &str| may_hold_from(path, None, from);
        assert!(!unread("log/access_2022-01-03.log.gz"));
        assert!(!unread("access_2023-06-09-2.log"));
        // Collected late on the 10th or 11th west of UTC: lines of the 12th in UTC (or in a
        // server's offset far east of the collecting machine).
        assert!(unread("access_2023-06-10.log"));
        assert!(unread("access_2023-06-11-2.log"));
        assert!(unread("log/access_2023-06-12.log"));
        assert!(unread("log/access_2023-07-30.log"));
        assert!(unread("log/access.log.2.gz"));
        assert!(unread("log/access_20230101.log"));
        // Lines read up to two days past its date fit the name; later ones do not (a month's
        // archive named by its first day): then it may hold any day.
        let read_to = |day| may_hold_from("access_2023-06-01.log.gz", Some(day), from);
        assert!(!read_to(d(2023, 5, 20)));
        assert!(!read_to(d(2023, 6, 3)));
        assert!(read_to(d(2023, 6, 4)));
    }

    fn d(y: i32, m: u32, dd: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, dd).unwrap()
    }

    #[test]
    fn weeks_and_ranges() {
        let w = parse_week("last", d(2023, 6, 28)).unwrap();
        assert_eq!((w.start, w.end), (d(2023, 6, 19), d(2023, 6, 25)));
        assert_eq!(w.label(), "2023-W25");
        assert_eq!(
            parse_week("last", d(2023, 6, 26)).unwrap().start,
            d(2023, 6, 19)
        );
        assert_eq!(
            parse_week("last", d(2023, 7, 2)).unwrap().start,
            d(2023, 6, 19)
        );
        assert_eq!(
            parse_week("2020-W53", d(2024, 1, 1)).unwrap().start,
            d(2020, 12, 28)
        );
        assert_eq!(w.previous().label(), "2023-W24");
        assert!(parse_week("2023-W54", d(2024, 1, 1)).is_err());
        assert!(parse_week("2023-25", d(2024, 1, 1)).is_err());
        let r = parse_range("2023-06-20", "2023-06-22").unwrap();
        assert_eq!(r.label(), "2023-06-20..2023-06-22");
        assert_eq!(r.previous().label(), "2023-06-17..2023-06-19");
        assert!(parse_range("2023-06-22", "2023-06-20").is_err());
    }
}
