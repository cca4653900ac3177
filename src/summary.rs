//! Day and week summaries: the merged aggregate + detection settings → the report model.
//!
//! This is the one place that applies thresholds. Invariants: a week's numbers are exactly the
//! sums of its days' numbers (the same per-client cells, regrouped), thresholds are applied
//! per period after summing, and every list is sorted deterministically (days and weeks
//! ascending; suspicious IPs by failed count descending, then by address text), so the same
//! input always gives the same report, whatever the thread count.

use crate::agg::{Aggregate, ChunkRecord, ClientDetail, ClientKey, FailKey, MALFORMED_SAMPLES};
use crate::engine::FileReport;
use crate::scan::client::format_ip;
use crate::scan::time::{to_date, DayNum, Timestamp};
use crate::scan::Malformed;
use chrono::Datelike;
use rayon::prelude::*;
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use std::collections::BTreeMap;

pub const SCHEMA_VERSION: u32 = 1;

/// Detection settings, as reported in `settings`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Settings {
    pub threshold: u64,
    pub codes: Vec<u16>,
    pub bad_request_threshold: u64,
    pub utc: bool,
    /// `auto` or a forced format name.
    pub format: String,
    pub max_line_bytes: usize,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Report {
    pub schema_version: u32,
    pub settings: Settings,
    pub inputs: Vec<InputSummary>,
    pub totals: Totals,
    pub days: Vec<DaySummary>,
    pub weeks: Vec<WeekSummary>,
}

/// Malformed counts by reason, serialised as an object in a fixed key order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReasonCounts(pub [u64; Malformed::COUNT]);

impl Serialize for ReasonCounts {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(Malformed::COUNT))?;
        for reason in Malformed::ALL {
            map.serialize_entry(reason.name(), &self.0[reason as usize])?;
        }
        map.end()
    }
}

impl ReasonCounts {
    fn add(&mut self, other: &[u64; Malformed::COUNT]) {
        for (a, b) in self.0.iter_mut().zip(other) {
            *a += b;
        }
    }
}

/// Line accounting shared by inputs and totals: `lines = parsed + malformed`.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct LineCounts {
    pub lines: u64,
    pub parsed: u64,
    pub blank: u64,
    pub malformed: u64,
    pub malformed_by_reason: ReasonCounts,
}

impl LineCounts {
    fn add_chunk(&mut self, c: &ChunkRecord) {
        let malformed: u64 = c.malformed.iter().sum();
        self.lines += c.parsed + malformed;
        self.parsed += c.parsed;
        self.blank += c.blank;
        self.malformed += malformed;
        self.malformed_by_reason.add(&c.malformed);
    }

    fn add(&mut self, o: &LineCounts) {
        self.lines += o.lines;
        self.parsed += o.parsed;
        self.blank += o.blank;
        self.malformed += o.malformed;
        self.malformed_by_reason.add(&o.malformed_by_reason.0);
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct MalformedLine {
    pub line: u64,
    pub reason: &'static str,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct InputSummary {
    pub path: String,
    pub format: Option<&'static str>,
    pub compressed: bool,
    pub gzip_members: Option<u64>,
    /// Bytes of log text scanned (after decompression).
    pub bytes: u64,
    pub file_bytes: Option<u64>,
    #[serde(flatten)]
    pub counts: LineCounts,
    /// The first few malformed lines (1-based physical line numbers).
    pub malformed_lines: Vec<MalformedLine>,
    /// The input whose content covers this one's first `duplicate_bytes` bytes (the same
    /// archive twice, or a daily copy that starts with the previous copy); those lines were
    /// counted there and skipped here.
    pub duplicate_of: Option<String>,
    pub duplicate_lines: u64,
    pub duplicate_bytes: u64,
    pub warnings: Vec<String>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Totals {
    pub files: u64,
    pub files_with_errors: u64,
    #[serde(flatten)]
    pub counts: LineCounts,
    /// Lines skipped because another input holds the same content (see inputs[].duplicate_of).
    pub duplicate_lines: u64,
    pub failed: u64,
    pub status_400: u64,
}

/// How many request targets `top_paths` lists.
pub const TOP_PATHS: usize = 5;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PathFailures {
    /// The request target, escaped to printable ASCII (`crate::escape::bytes`).
    pub path: String,
    pub count: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SuspiciousIp {
    pub ip: String,
    pub failed: u64,
    pub by_status: BTreeMap<u16, u64>,
    /// The earliest and latest failed request in the period, ISO 8601 in the line's own
    /// offset (UTC with `--utc`).
    pub first_seen: String,
    pub last_seen: String,
    /// Up to [`TOP_PATHS`] targets by failed count descending, then target ascending.
    pub top_paths: Vec<PathFailures>,
    /// Failed requests to targets not in `top_paths`.
    pub other_paths: u64,
    /// Whether every failed request's target was counted (at most
    /// [`crate::agg::PATHS_PER_CLIENT`] distinct targets); if not, `top_paths` come from a
    /// deterministic sample of that many targets.
    pub paths_exact: bool,
    /// The instants behind `first_seen` / `last_seen`, for merging periods.
    #[serde(skip)]
    pub first: Timestamp,
    #[serde(skip)]
    pub last: Timestamp,
}

impl SuspiciousIp {
    /// A suspicious client with its details; `detail` is `None` only if the aggregate has no
    /// details for it (then the detail fields are empty).
    pub fn new(
        ip: String,
        by_status: BTreeMap<u16, u64>,
        detail: Option<(&ClientDetail, &crate::agg::PathTable)>,
        utc: bool,
    ) -> Self {
        let failed: u64 = by_status.values().sum();
        let (first, last, mut paths) = match detail {
            Some((d, table)) => (
                d.first,
                d.last,
                d.paths
                    .iter()
                    .map(|p| (table.name(p.id), u64::from(p.count)))
                    .collect::<Vec<_>>(),
            ),
            None => (Timestamp::default(), Timestamp::default(), Vec::new()),
        };
        let counted: u64 = paths.iter().map(|p| p.1).sum();
        paths.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        paths.truncate(TOP_PATHS);
        let top_paths: Vec<PathFailures> = paths
            .iter()
            .map(|(p, n)| PathFailures {
                path: crate::escape::bytes(p),
                count: *n,
            })
            .collect();
        let listed: u64 = top_paths.iter().map(|p| p.count).sum();
        SuspiciousIp {
            ip,
            failed,
            by_status,
            first_seen: detail.map_or_else(String::new, |_| first.iso8601(utc)),
            last_seen: detail.map_or_else(String::new, |_| last.iso8601(utc)),
            top_paths,
            other_paths: failed.saturating_sub(listed),
            paths_exact: counted == failed,
            first,
            last,
        }
    }
}

/// What detection found in one period (a day or a week).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PeriodSummary {
    /// Parsed lines dated in the period.
    pub lines: u64,
    pub failed: u64,
    pub status_400: u64,
    pub unusual_400: bool,
    /// Distinct clients with at least one failed request.
    pub failing_ips: u64,
    pub suspicious_ips: Vec<SuspiciousIp>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DaySummary {
    pub date: String,
    #[serde(flatten)]
    pub period: PeriodSummary,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct WeekSummary {
    pub week: String,
    pub start: String,
    pub end: String,
    #[serde(flatten)]
    pub period: PeriodSummary,
}

/// Monday of the ISO week containing `day` (1970-01-01 was a Thursday).
pub fn week_start(day: DayNum) -> DayNum {
    day - (day + 3).rem_euclid(7)
}

pub fn week_label(monday: DayNum) -> String {
    let week = to_date(monday).iso_week();
    format!("{:04}-W{:02}", week.year(), week.week())
}

pub fn build(aggregate: &Aggregate, files: &[FileReport], settings: Settings) -> Report {
    let inputs = summarize_inputs(aggregate, files);
    let mut totals = Totals {
        files: inputs.len() as u64,
        files_with_errors: inputs.iter().filter(|i| i.error.is_some()).count() as u64,
        counts: LineCounts::default(),
        duplicate_lines: inputs.iter().map(|i| i.duplicate_lines).sum(),
        failed: 0,
        status_400: 0,
    };
    for input in &inputs {
        totals.counts.add(&input.counts);
    }
    for counts in aggregate.days.values() {
        totals.failed += counts.failed;
        totals.status_400 += counts.status_400;
    }

    let client_name = |c: ClientKey| match c {
        ClientKey::Ip(ip) => format_ip(ip.into()),
        ClientKey::Host(id) => crate::escape::bytes(aggregate.hosts.name(id)),
    };
    let mut cells: Vec<(&FailKey, u64)> = aggregate.fails.iter().map(|(k, n)| (k, *n)).collect();
    cells.sort_unstable_by_key(|(k, _)| (k.day, k.client, k.status));
    // Weeks: the same cells regrouped by the Monday of their day.
    let mut week_cells = cells.clone();
    week_cells.sort_unstable_by_key(|(k, _)| (week_start(k.day), k.client, k.status));

    // Days and weeks are independent: build them (and each period) in parallel; `collect`
    // keeps the order, so the report does not depend on scheduling.
    let build_days = || {
        let mut day_keys: Vec<DayNum> = aggregate.days.keys().copied().collect();
        day_keys.sort_unstable();
        let day_groups = group_cells(&cells, |k| k.day);
        day_keys
            .par_iter()
            .map(|&day| {
                let c = aggregate.days[&day];
                let fails = day_groups.get(&day).map_or(&[][..], |r| &cells[r.clone()]);
                DaySummary {
                    date: to_date(day).to_string(),
                    period: period(
                        c.lines,
                        c.failed,
                        c.status_400,
                        fails,
                        &settings,
                        &|c, by_status| {
                            let detail = aggregate.detail_over(c, [day]);
                            SuspiciousIp::new(
                                client_name(c),
                                by_status,
                                detail.as_ref().map(|d| (d, &aggregate.paths)),
                                settings.utc,
                            )
                        },
                    ),
                }
            })
            .collect::<Vec<_>>()
    };
    let build_weeks = || {
        let cells = &week_cells;
        let week_groups = group_cells(cells, |k| week_start(k.day));
        let mut week_counts: BTreeMap<DayNum, (u64, u64, u64)> = BTreeMap::new();
        for (&day, c) in &aggregate.days {
            let w = week_counts.entry(week_start(day)).or_default();
            w.0 += c.lines;
            w.1 += c.failed;
            w.2 += c.status_400;
        }
        let week_list: Vec<(DayNum, (u64, u64, u64))> = week_counts.into_iter().collect();
        week_list
            .par_iter()
            .map(|&(monday, (lines, failed, status_400))| {
                let fails = week_groups
                    .get(&monday)
                    .map_or(&[][..], |r| &cells[r.clone()]);
                WeekSummary {
                    week: week_label(monday),
                    start: to_date(monday).to_string(),
                    end: to_date(monday + 6).to_string(),
                    period: period(
                        lines,
                        failed,
                        status_400,
                        fails,
                        &settings,
                        &|c, by_status| {
                            let detail = aggregate.detail_over(c, monday..monday + 7);
                            SuspiciousIp::new(
                                client_name(c),
                                by_status,
                                detail.as_ref().map(|d| (d, &aggregate.paths)),
                                settings.utc,
                            )
                        },
                    ),
                }
            })
            .collect::<Vec<_>>()
    };
    let (days, weeks) = rayon::join(build_days, build_weeks);

    Report {
        schema_version: SCHEMA_VERSION,
        settings,
        inputs,
        totals,
        days,
        weeks,
    }
}

/// Ranges of `cells` (sorted by `period_of` first) sharing one period.
fn group_cells(
    cells: &[(&FailKey, u64)],
    period_of: impl Fn(&FailKey) -> DayNum,
) -> BTreeMap<DayNum, std::ops::Range<usize>> {
    let mut groups = BTreeMap::new();
    let mut start = 0;
    while start < cells.len() {
        let p = period_of(cells[start].0);
        let len = cells[start..]
            .iter()
            .take_while(|(k, _)| period_of(k) == p)
            .count();
        groups.insert(p, start..start + len);
        start += len;
    }
    groups
}

/// Apply the thresholds to one period. `fails` is sorted by client, then status.
fn period(
    lines: u64,
    failed: u64,
    status_400: u64,
    fails: &[(&FailKey, u64)],
    settings: &Settings,
    suspicious_ip: &dyn Fn(ClientKey, BTreeMap<u16, u64>) -> SuspiciousIp,
) -> PeriodSummary {
    let mut failing_ips = 0;
    let mut suspicious = Vec::new();
    let mut i = 0;
    while i < fails.len() {
        let client = fails[i].0.client;
        let mut by_status: BTreeMap<u16, u64> = BTreeMap::new();
        while i < fails.len() && fails[i].0.client == client {
            *by_status.entry(fails[i].0.status).or_default() += fails[i].1;
            i += 1;
        }
        failing_ips += 1;
        let total: u64 = by_status.values().sum();
        if total >= settings.threshold {
            suspicious.push(suspicious_ip(client, by_status));
        }
    }
    suspicious.sort_by(|a, b| b.failed.cmp(&a.failed).then_with(|| a.ip.cmp(&b.ip)));
    PeriodSummary {
        lines,
        failed,
        status_400,
        unusual_400: status_400 >= settings.bad_request_threshold,
        failing_ips,
        suspicious_ips: suspicious,
    }
}

fn summarize_inputs(aggregate: &Aggregate, files: &[FileReport]) -> Vec<InputSummary> {
    let mut chunks: Vec<&ChunkRecord> = aggregate.chunks.iter().collect();
    chunks.sort_unstable_by_key(|c| (c.file, c.seq));
    let mut per_file: Vec<(LineCounts, Vec<MalformedLine>)> = vec![Default::default(); files.len()];
    let mut lines_before = 0u64;
    let mut current_file = u32::MAX;
    for c in chunks {
        if c.file != current_file {
            current_file = c.file;
            lines_before = 0;
        }
        let Some((counts, samples)) = per_file.get_mut(c.file as usize) else {
            continue;
        };
        counts.add_chunk(c);
        for &(line, reason) in &c.samples {
            if samples.len() < MALFORMED_SAMPLES {
                samples.push(MalformedLine {
                    line: lines_before + line,
                    reason: reason.name(),
                });
            }
        }
        lines_before += c.physical_lines;
    }
    files
        .iter()
        .zip(per_file)
        .map(|(f, (counts, malformed_lines))| InputSummary {
            path: f.path.clone(),
            format: f.format.map(|x| x.name()),
            compressed: f.compressed,
            gzip_members: f.gzip_members,
            bytes: f.bytes,
            file_bytes: f.file_bytes,
            counts,
            malformed_lines,
            duplicate_of: f
                .duplicate_of
                .and_then(|i| files.get(i))
                .map(|d| d.path.clone()),
            duplicate_lines: f.duplicate_lines,
            duplicate_bytes: f.duplicate_bytes,
            warnings: f.warnings.clone(),
            error: f.error.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::time::days_from_civil;

    #[test]
    fn iso_weeks() {
        let d = |y, m, dd| days_from_civil(y, m, dd);
        assert_eq!(
            to_date(week_start(d(2023, 6, 25))).to_string(),
            "2023-06-19"
        );
        assert_eq!(week_label(week_start(d(2023, 6, 19))), "2023-W25");
        assert_eq!(week_label(week_start(d(2023, 6, 26))), "2023-W26");
        // 2021-01-03 (a Sunday) belongs to 2020-W53.
        assert_eq!(week_label(week_start(d(2021, 1, 3))), "2020-W53");
        assert_eq!(week_label(week_start(d(2024, 12, 30))), "2025-W01");
        assert_eq!(week_start(d(1969, 12, 31)), d(1969, 12, 29));
    }
}
