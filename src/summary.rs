//! Day and week summaries: the merged aggregate + detection settings → the report model.
//!
//! This is the one place that applies thresholds. Invariants: a week's numbers are exactly the
//! sums of its days' numbers (the same per-client cells, regrouped), thresholds are applied
//! per period after summing, and every list is sorted deterministically (days and weeks
//! ascending; suspicious IPs by failed count descending, then by address text), so the same
//! input always gives the same report, whatever the thread count.

use crate::agg::{
    permute, prefetch, ChunkRecord, ClientDay, ClientKey, PathCount, MALFORMED_SAMPLES,
    PATHS_PER_CLIENT,
};
use crate::engine::FileReport;
use crate::merge::{Merged, PathNames, Run};
use crate::scan::client::format_ip;
use crate::scan::time::{to_date, DayNum, Timestamp};
use crate::scan::Malformed;
use chrono::Datelike;
use rayon::prelude::*;
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use smallvec::SmallVec;
use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

pub const SCHEMA_VERSION: u32 = 1;

/// How many suspicious clients ahead a list fetches the targets' spans (see [`fetch_ahead`]):
/// their texts half as far, the entries' lists twice and the entries three times as far.
const FETCH_AHEAD: usize = 8;

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
    /// The date ranges `report` asked for ([`range_clients`]): a range's suspicious IPs over
    /// the range as a whole, and the top ones' counts in the range before, whatever the
    /// threshold (summing the days' lists missed a client under it on each day). Not in the
    /// JSON.
    #[serde(skip)]
    pub ranges: Vec<RangeClients>,
}

/// The suspicious clients of the days `start..=end`, failed count descending, then address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeClients {
    pub start: chrono::NaiveDate,
    pub end: chrono::NaiveDate,
    pub clients: Vec<SuspiciousIp>,
    /// The failed requests of the first clients in the range asked for as the one before.
    pub before_failed: Vec<u64>,
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
    /// The latest day of its parsed lines (not in the JSON: `report` checks an archive's
    /// name against it).
    #[serde(skip)]
    pub last_day: Option<DayNum>,
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
    /// The request target, escaped to printable ASCII (`crate::escape::bytes`). Shared: a
    /// report lists the same targets for thousands of clients.
    pub path: Arc<str>,
    pub count: u64,
}

/// Failed counts by status, ascending by status; a map in JSON. Inline up to four statuses,
/// so a report of 100k+ suspicious clients does not hold a tree node for each.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ByStatus(SmallVec<[(u16, u64); 4]>);

impl ByStatus {
    pub fn add(&mut self, status: u16, n: u64) {
        match self.0.iter_mut().find(|e| e.0 == status) {
            Some(e) => e.1 += n,
            None => {
                let at = self.0.partition_point(|e| e.0 < status);
                self.0.insert(at, (status, n));
            }
        }
    }

    /// (status, count) ascending by status.
    pub fn iter(&self) -> impl Iterator<Item = (u16, u64)> + '_ {
        self.0.iter().copied()
    }

    pub fn total(&self) -> u64 {
        self.0.iter().map(|e| e.1).sum()
    }
}

/// `401: 3, 404: 12`: how the text, weekly and HTML reports show it.
impl std::fmt::Display for ByStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, (status, n)) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{status}: {n}")?;
        }
        Ok(())
    }
}

impl FromIterator<(u16, u64)> for ByStatus {
    fn from_iter<I: IntoIterator<Item = (u16, u64)>>(iter: I) -> Self {
        let mut b = ByStatus::default();
        for (s, n) in iter {
            b.add(s, n);
        }
        b
    }
}

impl Serialize for ByStatus {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (status, n) in &self.0 {
            map.serialize_entry(status, n)?;
        }
        map.end()
    }
}

/// An instant shown as ISO 8601 in the line's own offset (UTC with `--utc`); a string in
/// JSON, formatted when written rather than held as text.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Seen {
    pub at: Timestamp,
    pub utc: bool,
}

impl std::fmt::Display for Seen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.at.iso8601_bytes(self.utc) {
            Some(text) => f.write_str(std::str::from_utf8(&text).map_err(|_| std::fmt::Error)?),
            None => f.write_str(&self.at.iso8601(self.utc)),
        }
    }
}

impl Serialize for Seen {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SuspiciousIp {
    pub ip: String,
    pub failed: u64,
    pub by_status: ByStatus,
    /// The earliest and latest failed request in the period, ISO 8601 in the line's own
    /// offset (UTC with `--utc`).
    pub first_seen: Seen,
    pub last_seen: Seen,
    /// Up to [`TOP_PATHS`] targets by failed count descending, then target ascending.
    pub top_paths: Vec<PathFailures>,
    /// Failed requests to targets not in `top_paths`.
    pub other_paths: u64,
    /// Whether every failed request's target was counted (at most
    /// [`crate::agg::PATHS_PER_CLIENT`] distinct targets); if not, `top_paths` come from a
    /// deterministic sample of that many targets.
    pub paths_exact: bool,
}

impl SuspiciousIp {
    /// A suspicious client and what its failed requests looked like, from its entries in
    /// one or more runs (`parts`: a day's, or each of a week's days'), in run order, read as
    /// if merged into one ([`ClientDay::merge_with`]) but without building that entry.
    /// `path_text` gives the escaped, shared text of a path id of `table`.
    pub fn new(
        ip: String,
        parts: &[&ClientDay],
        table: &PathNames,
        path_text: &dyn Fn(u32, &[u8]) -> Arc<str>,
        utc: bool,
    ) -> Self {
        let mut by_status = ByStatus::default();
        for d in parts {
            for &(status, n) in &d.statuses {
                by_status.add(status, n);
            }
        }
        let failed = by_status.total();
        let (first, last) = match parts.split_first() {
            Some((head, rest)) => rest.iter().fold((head.first, head.last), |(f, l), d| {
                (f.min(d.first), l.max(d.last))
            }),
            None => Default::default(),
        };
        let merged;
        let listed: &[PathCount] = match parts {
            [only] => &only.paths,
            _ => {
                merged = merged_paths(parts, |a, b| table.cmp(a, b));
                &merged
            }
        };
        let mut paths: Vec<(u32, &[u8], u64)> = listed
            .iter()
            .map(|p| (p.id, table.name(p.id), u64::from(p.count)))
            .collect();
        let counted: u64 = paths.iter().map(|p| p.2).sum();
        // Ties in the order of the escaped text, the `path` shown (as `report` orders the
        // week's targets, which it has only as text); raw bytes order `é` after `~`.
        let order = |a: &(u32, &[u8], u64), b: &(u32, &[u8], u64)| {
            b.2.cmp(&a.2)
                .then_with(|| crate::escape::cmp_escaped(a.1, b.1))
        };
        // A scanner's list is up to 64 long, mostly ties: only the first few are ordered.
        if paths.len() > TOP_PATHS {
            paths.select_nth_unstable_by(TOP_PATHS - 1, order);
            paths.truncate(TOP_PATHS);
        }
        paths.sort_by(order);
        let top_paths: Vec<PathFailures> = paths
            .iter()
            .map(|&(id, p, n)| PathFailures {
                path: path_text(id, p),
                count: n,
            })
            .collect();
        let listed: u64 = top_paths.iter().map(|p| p.count).sum();
        SuspiciousIp {
            ip,
            failed,
            by_status,
            first_seen: Seen { at: first, utc },
            last_seen: Seen { at: last, utc },
            top_paths,
            other_paths: failed.saturating_sub(listed),
            paths_exact: counted == failed,
        }
    }
}

/// The path list of `parts` merged into one, as [`ClientDay::merge_with`] folds them: the
/// [`PATHS_PER_CLIENT`] smallest targets of all the lists by (hash, text), the counts of one
/// target added up (saturating, as there). `cmp_names` orders two different ids by text.
fn merged_paths(
    parts: &[&ClientDay],
    cmp_names: impl Fn(u32, u32) -> Ordering,
) -> SmallVec<[PathCount; PATHS_PER_CLIENT]> {
    let order = |a: &PathCount, b: &PathCount| {
        a.hash.cmp(&b.hash).then_with(|| match a.id == b.id {
            true => Ordering::Equal,
            false => cmp_names(a.id, b.id),
        })
    };
    let mut all: SmallVec<[PathCount; 2 * PATHS_PER_CLIENT]> =
        parts.iter().flat_map(|d| d.paths.iter().copied()).collect();
    // Stable: of one target's entries, the first part's id is kept, as the fold keeps it.
    all.sort_by(order);
    let mut merged: SmallVec<[PathCount; PATHS_PER_CLIENT]> = SmallVec::new();
    for p in all {
        let full = merged.len() == PATHS_PER_CLIENT;
        match merged.last_mut() {
            Some(kept) if order(kept, &p) == Ordering::Equal => {
                kept.count = kept.count.saturating_add(p.count);
            }
            // Sorted: every target after this one is larger still.
            _ if full => break,
            _ => merged.push(p),
        }
    }
    merged
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
    /// Shared: a week whose clients all failed on one day lists that day's clients (a daily
    /// run's only case), and one list serves both, not a copy per period. An `Arc<Vec>`, not
    /// an `Arc<[_]>`: a `Vec` moves in as it is, where a slice would be copied (a large
    /// week's list is the largest thing the report holds).
    pub suspicious_ips: Arc<Vec<SuspiciousIp>>,
}

impl PeriodSummary {
    /// The same figures without the client list (the JSON renderer streams that apart).
    pub fn without_ips(&self) -> PeriodSummary {
        PeriodSummary {
            lines: self.lines,
            failed: self.failed,
            status_400: self.status_400,
            unusual_400: self.unusual_400,
            failing_ips: self.failing_ips,
            suspicious_ips: Arc::default(),
        }
    }
}

impl Report {
    /// The report without its inputs and periods (what the JSON renderer fills in).
    pub fn skeleton(&self) -> Report {
        Report {
            schema_version: self.schema_version,
            settings: self.settings.clone(),
            inputs: Vec::new(),
            totals: self.totals.clone(),
            days: Vec::new(),
            weeks: Vec::new(),
            ranges: Vec::new(),
        }
    }
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
    iso_week_text(to_date(monday).iso_week())
}

/// `YYYY-Www`, with four digits after the sign of a negative year (`-0001-W52`, the week
/// before 0000-W01): `{:04}` would count the sign as a digit.
pub fn iso_week_text(week: chrono::IsoWeek) -> String {
    let year = week.year();
    let sign = if year < 0 { "-" } else { "" };
    format!("{sign}{:04}-W{:02}", year.unsigned_abs(), week.week())
}

pub fn build(aggregate: &Merged, files: &[FileReport], settings: Settings) -> Report {
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

    let path_texts = path_text_cells(aggregate);
    let suspicious_ip = |c: ClientKey, parts: &[&ClientDay]| {
        client_entry(aggregate, &path_texts, settings.utc, c, parts)
    };

    // Days and weeks at the same time (a week with one failing day shares that day's list
    // once both are done); each period and each long list in parallel. `collect` keeps the
    // order, so the report does not depend on scheduling.
    let build_days = || {
        let days: Vec<_> = aggregate.days.iter().collect();
        days.par_iter()
            .map(|(&day, c)| {
                let (failing, suspicious) = match aggregate.runs_of(day)[..] {
                    [] => (0, Vec::new()),
                    [clients] => (
                        clients.len() as u64,
                        run_suspicious(clients, aggregate, &path_texts, &suspicious_ip, &settings),
                    ),
                    // Several runs (one per worker's last flush, and the stack): one k-way
                    // merge, split by client ranges over all threads.
                    ref runs => week_clients(
                        aggregate,
                        runs,
                        &path_texts,
                        &suspicious_ip,
                        settings.threshold,
                    ),
                };
                DaySummary {
                    date: to_date(day).to_string(),
                    period: period(
                        (c.lines, c.failed, c.status_400),
                        failing,
                        suspicious,
                        &settings,
                    ),
                }
            })
            .collect::<Vec<_>>()
    };
    // The days in `aggregate.days`' order, which `days` keeps: a week finds its day's index
    // by a search (a scan per week was quadratic in the days: 600k days took minutes).
    let day_keys: Vec<DayNum> = aggregate.days.keys().copied().collect();
    let build_weeks = || {
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
            .map(|&(monday, counts)| {
                let failing_days: Vec<(DayNum, &Vec<Run>)> = aggregate
                    .clients
                    .range(monday..monday + 7)
                    .map(|(&day, runs)| (day, runs))
                    .collect();
                // One day with failed requests (a daily run's only case): the week's clients
                // are that day's, with the same figures, so it shares the day's list, not built
                // again. `days` is in the order of `aggregate.days`.
                let only_day = match failing_days[..] {
                    [(day, _)] => day_keys.binary_search(&day).ok(),
                    _ => None,
                };
                let clients = match only_day {
                    Some(index) => WeekClients::SameAsDay(index),
                    None => {
                        let runs: Vec<_> = failing_days
                            .iter()
                            .flat_map(|&(_, runs)| runs.iter().map(|r| &r[..]))
                            .collect();
                        let (failing, suspicious) = week_clients(
                            aggregate,
                            &runs,
                            &path_texts,
                            &suspicious_ip,
                            settings.threshold,
                        );
                        WeekClients::Built(period(counts, failing, suspicious, &settings))
                    }
                };
                (monday, counts, clients)
            })
            .collect::<Vec<_>>()
    };
    // Joined: with many cores, the few weeks' merges fill the cores the days leave idle.
    let (days, week_parts) = rayon::join(build_days, build_weeks);
    let weeks = week_parts
        .into_iter()
        .map(|(monday, counts, clients)| {
            let period = match clients {
                WeekClients::Built(period) => period,
                // The same clients with the same figures, sorted already: the day's list,
                // shared.
                WeekClients::SameAsDay(index) => match days.get(index) {
                    Some(day) => PeriodSummary {
                        suspicious_ips: day.period.suspicious_ips.clone(),
                        ..period(counts, day.period.failing_ips, Vec::new(), &settings)
                    },
                    None => period(counts, 0, Vec::new(), &settings),
                },
            };
            WeekSummary {
                week: week_label(monday),
                start: to_date(monday).to_string(),
                end: to_date(monday + 6).to_string(),
                period,
            }
        })
        .collect();

    Report {
        schema_version: SCHEMA_VERSION,
        settings,
        inputs,
        totals,
        days,
        weeks,
        ranges: Vec::new(),
    }
}

/// One cell a path: each path's escaped text is made once and shared by every client that
/// lists it.
fn path_text_cells(aggregate: &Merged) -> Vec<OnceLock<Arc<str>>> {
    std::iter::repeat_with(OnceLock::new)
        .take(aggregate.paths.cell_count())
        .collect()
}

/// A client's entry in a period's list, from its entries in the period's runs (`parts`),
/// its targets' texts from `path_texts`.
fn client_entry(
    aggregate: &Merged,
    path_texts: &[OnceLock<Arc<str>>],
    utc: bool,
    c: ClientKey,
    parts: &[&ClientDay],
) -> SuspiciousIp {
    let path_text = |id: u32, bytes: &[u8]| -> Arc<str> {
        match path_texts.get(aggregate.paths.cell(id)) {
            Some(cell) => cell
                .get_or_init(|| Arc::from(&*crate::escape::cow(bytes)))
                .clone(),
            None => Arc::from(&*crate::escape::cow(bytes)),
        }
    };
    let name = match c {
        ClientKey::Ip(ip) => format_ip(ip.into()),
        ClientKey::Host(id) => crate::escape::bytes(aggregate.hosts.name(id)),
    };
    SuspiciousIp::new(name, parts, &aggregate.paths, &path_text, utc)
}

/// The suspicious clients of the days `start..=end` (any range, not only an ISO week: over
/// `threshold` in the range as a whole), merged from the days' runs as a week's are, failed
/// count descending, then address; and for the first `top` of them, their failed requests
/// in the days `before` (flagged there or not).
pub fn range_clients(
    aggregate: &Merged,
    (start, end): (chrono::NaiveDate, chrono::NaiveDate),
    before: Option<(chrono::NaiveDate, chrono::NaiveDate)>,
    top: usize,
    threshold: u64,
    utc: bool,
) -> RangeClients {
    let path_texts = path_text_cells(aggregate);
    let client_ip =
        |c: ClientKey, parts: &[&ClientDay]| client_entry(aggregate, &path_texts, utc, c, parts);
    let runs = |(start, end): (chrono::NaiveDate, chrono::NaiveDate)| {
        let day =
            |d: chrono::NaiveDate| crate::scan::time::days_from_civil(d.year(), d.month(), d.day());
        aggregate
            .clients
            .range(day(start)..=day(end))
            .flat_map(|(_, runs)| runs.iter().map(|r| &r[..]))
            .collect::<Vec<&[(ClientKey, ClientDay)]>>()
    };
    let (_, mut clients) = week_clients(
        aggregate,
        &runs((start, end)),
        &path_texts,
        &client_ip,
        threshold,
    );
    sort_by_failed_then_ip(&mut clients);
    // Only the few top clients are looked up in the range before: every entry there is
    // named and compared, none is built.
    let mut before_failed = Vec::new();
    if let Some(before) = before {
        let wanted: std::collections::HashMap<&str, usize> = clients
            .iter()
            .take(top)
            .enumerate()
            .map(|(i, c)| (c.ip.as_str(), i))
            .collect();
        before_failed = vec![0u64; wanted.len()];
        for run in runs(before) {
            for (client, detail) in run {
                let name = match *client {
                    ClientKey::Ip(ip) => format_ip(ip.into()),
                    ClientKey::Host(id) => crate::escape::bytes(aggregate.hosts.name(id)),
                };
                if let Some(&i) = wanted.get(name.as_str()) {
                    before_failed[i] += detail.failed();
                }
            }
        }
    }
    RangeClients {
        start,
        end,
        clients,
        before_failed,
    }
}

/// The clients of one sorted run (a day's only run) over the threshold, in run order.
fn run_suspicious(
    clients: &[(ClientKey, ClientDay)],
    aggregate: &Merged,
    path_texts: &[OnceLock<Arc<str>>],
    suspicious_ip: &(impl Fn(ClientKey, &[&ClientDay]) -> SuspiciousIp + Sync),
    settings: &Settings,
) -> Vec<SuspiciousIp> {
    // In parallel: with one day (or few), its list is the longest serial step after the
    // scan. The clients over the threshold are found first (as indices), so the entries are
    // built straight into a list of their exact length: filtered and built at once, they
    // went through a list per task and were copied into the final one (fresh memory twice).
    let over: Vec<u32> = clients
        .par_chunks(4096)
        .enumerate()
        .flat_map_iter(|(part, entries)| {
            (part * 4096..)
                .zip(entries.iter().enumerate())
                .filter(|&(_, (i, (_, d)))| {
                    fetch_statuses_ahead(&entries[i..]);
                    d.failed() >= settings.threshold
                })
                .map(|(at, _)| at as u32)
        })
        .collect();
    let parts_of = |k: usize| {
        over.get(k)
            .map(|&at| std::iter::once(&clients[at as usize].1))
    };
    over.par_iter()
        .enumerate()
        .map(|(k, &at)| {
            fetch_ahead(aggregate, path_texts, k, parts_of);
            let (client, d) = &clients[at as usize];
            suspicious_ip(*client, std::slice::from_ref(&d))
        })
        .collect()
}

/// Start fetching what building the entries a few places after the `k`-th will read
/// (`parts_of` gives an entry's parts by place), while the `k`-th is built. It is scattered
/// over megabytes, and each step needs the one before in cache (an entry holds where its
/// lists are, a list the targets' ids, an id's span where its text is), so each is fetched
/// further ahead than the next and the misses overlap: the entries, their lists, the
/// targets' spans and shared text cells, then the texts.
#[inline]
fn fetch_ahead<'a, P: Iterator<Item = &'a ClientDay>>(
    aggregate: &Merged,
    path_texts: &[OnceLock<Arc<str>>],
    k: usize,
    parts_of: impl Fn(usize) -> Option<P>,
) {
    for d in parts_of(k + 3 * FETCH_AHEAD).into_iter().flatten() {
        ClientDay::prefetch_entry(d);
    }
    for d in parts_of(k + 2 * FETCH_AHEAD).into_iter().flatten() {
        d.prefetch_lists();
    }
    for d in parts_of(k + FETCH_AHEAD).into_iter().flatten() {
        for p in &d.paths {
            aggregate.paths.prefetch_span(p.id);
            if let Some(cell) = path_texts.get(aggregate.paths.cell(p.id)) {
                prefetch(cell);
            }
        }
    }
    for d in parts_of(k + FETCH_AHEAD / 2).into_iter().flatten() {
        for p in &d.paths {
            aggregate.paths.prefetch_name(p.id);
        }
    }
}

/// A week's clients: those of its one failing day (the index in the days), shared once the
/// days are built, or its period built from its days' runs.
enum WeekClients {
    SameAsDay(usize),
    Built(PeriodSummary),
}

/// The failing clients (counted) and those over `threshold` (unsorted) of the sorted `runs`
/// of a period: a week's days, or a day held in several runs.
fn week_clients(
    aggregate: &Merged,
    runs: &[&[(ClientKey, ClientDay)]],
    path_texts: &[OnceLock<Arc<str>>],
    suspicious_ip: &(impl Fn(ClientKey, &[&ClientDay]) -> SuspiciousIp + Sync),
    threshold: u64,
) -> (u64, Vec<SuspiciousIp>) {
    // A week is one big k-way merge: split it by client ranges and run the parts in
    // parallel (a many-core run otherwise waits for the largest week). Each part first
    // finds its clients over the threshold, then builds their entries with the texts
    // fetched ahead, as for a day's only run (a day's list in two runs, 2 threads, 1 GB:
    // 12-16 ms built in one step without fetching ahead, 8 ms so). A client's entries in
    // several runs are borrowed and read as one (`SuspiciousIp::new`): merged into a copy
    // first, the copies' allocations and merges were ~1/3 of a two-run day's list.
    let parts: Vec<(u64, Vec<SuspiciousIp>)> = client_ranges(runs, 64)
        .into_par_iter()
        .map(|part| {
            let mut failing = 0u64;
            // Room for as many clients as the longest run has (a guess: with every client
            // over the threshold it is too small, with few it is too large, but the untouched
            // part costs no memory): grown from empty by doubling, the list was copied (and
            // its fresh pages faulted in) again and again.
            let longest = part.iter().map(|run| run.len()).max().unwrap_or(0);
            let entries: usize = part.iter().map(|run| run.len()).sum();
            // Each client over the threshold and where its entries are in `found`.
            let mut over: Vec<(ClientKey, std::ops::Range<usize>)> = Vec::with_capacity(longest);
            let mut found: Vec<&ClientDay> = Vec::with_capacity(entries);
            for_each_client(part, |client, days| {
                failing += 1;
                let failed: u64 = days.iter().map(|d| d.failed()).sum();
                if failed >= threshold && !days.is_empty() {
                    let start = found.len();
                    found.extend_from_slice(days);
                    over.push((client, start..found.len()));
                }
            });
            let parts_of = |k: usize| over.get(k).map(|(_, at)| found[at.clone()].iter().copied());
            let mut suspicious = Vec::with_capacity(over.len());
            for (k, (client, at)) in over.iter().enumerate() {
                fetch_ahead(aggregate, path_texts, k, parts_of);
                suspicious.push(suspicious_ip(*client, &found[at.clone()]));
            }
            (failing, suspicious)
        })
        .collect();
    let failing = parts.iter().map(|p| p.0).sum();
    // Moved part by part, each freed as soon as it is moved: a week's list is the largest
    // thing the report holds, and a second copy of it was the peak RSS.
    let mut suspicious = Vec::with_capacity(parts.iter().map(|p| p.1.len()).sum());
    for (_, part) in parts {
        suspicious.extend(part);
    }
    (failing, suspicious)
}

/// Cut sorted `runs` into at most `parts` groups of sub-slices covering disjoint, ascending
/// client ranges (boundaries taken evenly from the longest run), so every client's entries
/// fall in exactly one group.
fn client_ranges<'a>(
    runs: &[&'a [(ClientKey, ClientDay)]],
    parts: usize,
) -> Vec<Vec<&'a [(ClientKey, ClientDay)]>> {
    let longest = runs.iter().map(|r| r.len()).max().unwrap_or(0);
    let Some(&base) = runs.iter().find(|r| r.len() == longest) else {
        return Vec::new();
    };
    let step = longest.div_ceil(parts.max(1)).max(1);
    // Boundaries: every `step`-th client of the longest run (the first excluded).
    let bounds: Vec<ClientKey> = base.iter().step_by(step).skip(1).map(|e| e.0).collect();
    let mut groups = Vec::with_capacity(bounds.len() + 1);
    let mut rest: Vec<&[(ClientKey, ClientDay)]> = runs.to_vec();
    for bound in bounds {
        let group = rest
            .iter_mut()
            .map(|r| {
                let (head, tail) = r.split_at(r.partition_point(|e| e.0 < bound));
                *r = tail;
                head
            })
            .collect();
        groups.push(group);
    }
    groups.push(rest);
    groups
}

/// Visit each client of the sorted `runs` once, ascending, with its entries in every run
/// (a k-way merge: a week's days, or a day's runs, each sorted by client). A few runs are
/// scanned for the smallest head at each client; many (a week of many workers' last runs)
/// go through a heap, so a client costs O(log k), not O(k).
fn for_each_client<'a>(
    runs: Vec<&'a [(ClientKey, ClientDay)]>,
    visit: impl FnMut(ClientKey, &[&'a ClientDay]),
) {
    if runs.len() <= HEAP_FROM_RUNS {
        for_each_client_scanning(runs, visit);
    } else {
        for_each_client_by_heap(runs, visit);
    }
}

/// From how many runs [`for_each_client`] keeps their heads in a heap.
const HEAP_FROM_RUNS: usize = 8;

fn for_each_client_by_heap<'a>(
    mut runs: Vec<&'a [(ClientKey, ClientDay)]>,
    mut visit: impl FnMut(ClientKey, &[&'a ClientDay]),
) {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    let mut heads: BinaryHeap<Reverse<(ClientKey, usize)>> = runs
        .iter()
        .enumerate()
        .filter_map(|(i, r)| r.first().map(|e| Reverse((e.0, i))))
        .collect();
    let mut found: Vec<&ClientDay> = Vec::with_capacity(runs.len());
    while let Some(Reverse((client, _))) = heads.peek().copied() {
        found.clear();
        // Every run whose head is this client, in run order (as the scan visits them).
        while let Some(&Reverse((c, i))) = heads.peek() {
            if c != client {
                break;
            }
            heads.pop();
            if let Some(((_, d), rest)) = runs[i].split_first() {
                found.push(d);
                runs[i] = rest;
                fetch_statuses_ahead(rest);
                if let Some(next) = rest.first() {
                    heads.push(Reverse((next.0, i)));
                }
            }
        }
        visit(client, &found);
    }
}

fn for_each_client_scanning<'a>(
    mut runs: Vec<&'a [(ClientKey, ClientDay)]>,
    mut visit: impl FnMut(ClientKey, &[&'a ClientDay]),
) {
    let mut found: Vec<&ClientDay> = Vec::with_capacity(runs.len());
    while let Some(client) = runs.iter().filter_map(|r| r.first().map(|e| e.0)).min() {
        found.clear();
        for run in &mut runs {
            if let Some(((c, d), rest)) = run.split_first() {
                if *c == client {
                    found.push(d);
                    *run = rest;
                    fetch_statuses_ahead(rest);
                }
            }
        }
        visit(client, &found);
    }
}

/// Start fetching the spilled status list of the entry a few places into `rest` (the rest of
/// a run, read in order): the entries themselves come in order, their lists from anywhere
/// on the heap, and every entry's failed count is read.
#[inline(always)]
fn fetch_statuses_ahead(rest: &[(ClientKey, ClientDay)]) {
    if let Some((_, ahead)) = rest.get(FETCH_AHEAD) {
        ahead.prefetch_statuses();
    }
}

/// Apply the detection result to one period: `(lines, failed, status_400)` counts, the number
/// of failing clients, and the clients over the threshold (sorted here).
fn period(
    (lines, failed, status_400): (u64, u64, u64),
    failing_ips: u64,
    mut suspicious: Vec<SuspiciousIp>,
    settings: &Settings,
) -> PeriodSummary {
    // Unstable is exact here (a period lists each client once, so no two keys are equal),
    // and sorting small keys takes ~28 bytes an entry beside the list, where sorting the
    // entries stably would take a buffer of half the list. In parallel: a week's list of a
    // many-day run is hundreds of thousands of clients, and with few periods one sort per
    // thread left most cores idle.
    sort_by_failed_then_ip(&mut suspicious);
    PeriodSummary {
        lines,
        failed,
        status_400,
        unusual_400: status_400 >= settings.bad_request_threshold,
        failing_ips,
        suspicious_ips: Arc::new(suspicious),
    }
}

/// Failed count descending, then address text ascending. An entry is ~150 bytes and a
/// week's list can hold hundreds of thousands: the sort moves 24-byte keys (the count, the
/// text's first 8 bytes, the index) and each entry then moves once, cycle by cycle in place
/// (no second copy of the list). Sorting the entries themselves spent most of its time
/// copying them, and comparing texts, which ties on the count usually needed.
fn sort_by_failed_then_ip(list: &mut [SuspiciousIp]) {
    sort_by_count_then_text(list, |s| (s.failed, &s.ip));
}

/// [`sort_by_failed_then_ip`] for any entries: `key` gives an entry's count and text.
fn sort_by_count_then_text<T: Send + Sync>(list: &mut [T], key: impl Fn(&T) -> (u64, &str) + Sync) {
    let mut keys: Vec<(u64, u64, u32)> = list
        .iter()
        .enumerate()
        .map(|(i, entry)| {
            let (count, text) = key(entry);
            (u64::MAX - count, text_prefix(text), i as u32)
        })
        .collect();
    let text = |i: u32| key(&list[i as usize]).1;
    keys.par_sort_unstable_by(|a, b| {
        (a.0, a.1)
            .cmp(&(b.0, b.1))
            .then_with(|| text(a.2).cmp(text(b.2)))
    });
    let mut order: Vec<u32> = keys.into_iter().map(|k| k.2).collect();
    permute(list, &mut order);
}

/// The first 8 bytes of `text`, zero-padded, as a number that orders like the text: padding
/// sorts a shorter text first, as a prefix does (the texts are escaped: no NUL bytes).
fn text_prefix(text: &str) -> u64 {
    let mut bytes = [0u8; 8];
    let head = &text.as_bytes()[..text.len().min(8)];
    bytes[..head.len()].copy_from_slice(head);
    u64::from_be_bytes(bytes)
}

fn summarize_inputs(aggregate: &Merged, files: &[FileReport]) -> Vec<InputSummary> {
    let mut chunks: Vec<&ChunkRecord> = aggregate.chunks.iter().collect();
    chunks.sort_unstable_by_key(|c| (c.file, c.seq));
    let mut per_file: Vec<(LineCounts, Vec<MalformedLine>, Option<DayNum>)> =
        vec![Default::default(); files.len()];
    let mut lines_before = 0u64;
    let mut current_file = u32::MAX;
    for c in chunks {
        if c.file != current_file {
            current_file = c.file;
            lines_before = 0;
        }
        let Some((counts, samples, last_day)) = per_file.get_mut(c.file as usize) else {
            continue;
        };
        counts.add_chunk(c);
        *last_day = (*last_day).max(c.last_day);
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
    let physical: Vec<u64> = per_file.iter().map(|(c, ..)| c.lines + c.blank).collect();
    let parsed: Vec<u64> = per_file.iter().map(|(c, ..)| c.parsed).collect();
    // A copy of a compressed input, skipped whole by its compressed bytes (not decoded, so
    // its lines were not counted): its lines and members are the original's.
    let copied = |f: &FileReport| {
        f.duplicate_of
            .filter(|_| f.compressed && f.bytes == 0 && f.duplicate_lines == 0)
            .and_then(|o| Some((physical.get(o)?, files.get(o)?)))
    };
    files
        .iter()
        .zip(per_file)
        .map(|(f, (counts, malformed_lines, last_day))| InputSummary {
            path: f.path.clone(),
            format: f.format.map(|x| x.name()),
            compressed: f.compressed,
            gzip_members: copied(f).map_or(f.gzip_members, |(_, o)| o.gzip_members),
            bytes: f.bytes,
            file_bytes: f.file_bytes,
            counts,
            malformed_lines,
            last_day,
            duplicate_of: f
                .duplicate_of
                .and_then(|i| files.get(i))
                .map(|d| d.path.clone()),
            duplicate_lines: copied(f).map_or(f.duplicate_lines, |(&lines, _)| lines),
            // Its text's size, as for a plain copy (the compressed file was what matched).
            duplicate_bytes: copied(f).map_or(f.duplicate_bytes, |(_, o)| o.bytes),
            warnings: f
                .warnings
                .iter()
                .cloned()
                .chain(nothing_parsed(&counts, copies_parsed(f, files, &parsed)))
                .collect(),
            error: f.error.clone(),
        })
        .collect()
}

/// How the warning of an input of which no line parsed starts.
pub const NOTHING_PARSED: &str = "no line parsed";

/// How the warning of an input that took no full part in duplicate detection starts: a copy
/// of another input among such inputs counts again.
pub const NOT_COMPARED: &str = "not compared with the other inputs";

/// A warning for an input of which no line parsed: its figures are all zero, and a report
/// of "nothing unusual" would hide that it was not read as an access log (a proxy's
/// `client, proxy` field, another layout).
/// Whether `f` starts as a copy of inputs with parsed lines. The input it copies may itself
/// start as a copy of another (daily copies of a log never rotated): the chain is followed
/// to its start, so every copy in it gets the same answer.
fn copies_parsed(f: &FileReport, files: &[FileReport], parsed: &[u64]) -> bool {
    let mut next = f.duplicate_of;
    // Each input copies an earlier one; the bound is a guard, not a limit met.
    for _ in 0..files.len() {
        let Some(o) = next else { return false };
        if parsed.get(o).is_some_and(|&p| p > 0) {
            return true;
        }
        next = files.get(o).and_then(|of| of.duplicate_of);
    }
    false
}

/// An input that starts as a copy of another (`copy_of_parsed`: one with parsed lines) had
/// those lines parsed there.
fn nothing_parsed(c: &LineCounts, copy_of_parsed: bool) -> Option<String> {
    if c.parsed > 0 || c.malformed == 0 || copy_of_parsed {
        return None;
    }
    let reasons: Vec<String> = Malformed::ALL
        .iter()
        .map(|&r| (r.name(), c.malformed_by_reason.0[r as usize]))
        .filter(|&(_, n)| n > 0)
        .map(|(name, n)| format!("{name}: {n}"))
        .collect();
    Some(format!(
        "{NOTHING_PARSED}: all {} lines are malformed ({}); is it an access log in the common, combined or vhost_combined layout?",
        c.malformed,
        reasons.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    proptest! {
        /// The heap's k-way merge visits the same clients, in the same order, with the same
        /// entries (by address, in run order) as the scanning one: empty runs, a client in
        /// many runs, up to 20 runs.
        #[test]
        fn heap_merge_visits_like_the_scanning_one(
            runs in proptest::collection::vec(
                proptest::collection::btree_set(0u32..60, 0..30),
                0..20,
            ),
        ) {
            let entry = |c: u32, run: usize| {
                (
                    ClientKey::Host(c),
                    ClientDay {
                        first: Timestamp { utc_secs: run as i64, offset_minutes: 0 },
                        last: Timestamp::default(),
                        statuses: Default::default(),
                        paths: Default::default(),
                    },
                )
            };
            let runs: Vec<Vec<(ClientKey, ClientDay)>> = runs
                .iter()
                .enumerate()
                .map(|(i, set)| set.iter().map(|&c| entry(c, i)).collect())
                .collect();
            let slices: Vec<&[(ClientKey, ClientDay)]> = runs.iter().map(|r| &r[..]).collect();
            // Each visit: the client and which runs its entries came from, in order.
            let (mut by_heap, mut by_scan) = (Vec::new(), Vec::new());
            for_each_client_by_heap(slices.clone(), |c, found| {
                by_heap.push((c, found.iter().map(|d| d.first.utc_secs).collect::<Vec<_>>()));
            });
            for_each_client_scanning(slices.clone(), |c, found| {
                by_scan.push((c, found.iter().map(|d| d.first.utc_secs).collect::<Vec<_>>()));
            });
            prop_assert_eq!(&by_heap, &by_scan);
            let total: usize = runs.iter().map(Vec::len).sum();
            prop_assert_eq!(by_heap.iter().map(|v| v.1.len()).sum::<usize>(), total);
            prop_assert!(by_heap.windows(2).all(|w| w[0].0 < w[1].0));
        }

        /// A client's target lists in several runs, read as one (`merged_paths`), are the
        /// list that folding them with `ClientDay::merge_with` builds: the same targets,
        /// counts (saturating) and ids, for lists of up to `PATHS_PER_CLIENT` targets drawn
        /// from three times as many texts with two ids each (a segment's and a shard's) and
        /// hashes that tie in pairs.
        #[test]
        fn merged_paths_read_like_the_merge_with_fold(
            lists in proptest::collection::vec(
                proptest::collection::btree_map(
                    0u32..3 * PATHS_PER_CLIENT as u32,
                    (0u32..2, any::<bool>(), 1u32..50),
                    0..=PATHS_PER_CLIENT,
                ),
                1..5,
            ),
        ) {
            // Text t has hash t / 2 (so two texts share each hash) and ids 2t and 2t + 1.
            let text = |id: u32| id / 2;
            let cmp_names = |a: u32, b: u32| text(a).cmp(&text(b));
            let days: Vec<ClientDay> = lists
                .iter()
                .map(|list| ClientDay {
                    first: Timestamp::default(),
                    last: Timestamp::default(),
                    statuses: Default::default(),
                    // A btree map's order by text is the (hash, text) order of a run's lists.
                    paths: list
                        .iter()
                        .map(|(&t, &(variant, huge, count))| PathCount {
                            hash: u64::from(t / 2),
                            id: 2 * t + variant,
                            count: if huge { u32::MAX - count } else { count },
                        })
                        .collect(),
                })
                .collect();
            let parts: Vec<&ClientDay> = days.iter().collect();
            let mut folded = days[0].clone();
            for d in &days[1..] {
                folded.merge_with(d, cmp_names);
            }
            let merged = merged_paths(&parts, cmp_names);
            prop_assert_eq!(&merged[..], &folded.paths[..]);
        }

        /// Sorting keys and permuting gives the order of sorting the entries themselves:
        /// count descending, then text ascending (texts of any length, shared prefixes).
        #[test]
        fn key_sort_orders_like_an_entry_sort(
            entries in proptest::collection::btree_map("[0-9a-f.:]{0,12}", 0u64..4, 0..300),
        ) {
            let mut list: Vec<(u64, String)> = entries.into_iter().map(|(t, c)| (c, t)).collect();
            // From a shuffled start (a btree map's order is already by text).
            list.reverse();
            let third = list.len() / 3;
            list.rotate_left(third);
            let mut expected = list.clone();
            expected.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
            sort_by_count_then_text(&mut list, |e| (e.0, &e.1));
            prop_assert_eq!(list, expected);
        }
    }

    use super::*;
    use crate::scan::time::days_from_civil;

    /// Days whose clients are spread over several runs (workers' last flushes, mid-run
    /// flushes) are summarised exactly as the same lines in one run each: counts, first and
    /// last seen, statuses and paths of clients seen by several workers, the order of the
    /// lists; and so are the weeks over such days (three days of one week, one of the next).
    #[test]
    fn a_day_in_several_runs_reads_like_one() {
        use crate::agg::{Aggregate, FailedCodes};
        use crate::merge::Store;
        use crate::scan::{Format, LineScanner};
        let mut log = String::new();
        for day in [19, 20, 22, 26] {
            for i in 0..600u32 {
                let (ip, path, status) = (i % 37 % 23, i % 11, [401, 403, 404][i as usize % 3]);
                let (hour, minute) = (i / 60 % 24, i % 60);
                log.push_str(&format!(
                    "10.0.0.{ip} - - [{day}/Jun/2023:{hour:02}:{minute:02}:00 +0000] \"GET /p{path} HTTP/1.1\" {status} 1\n"
                ));
            }
        }
        let failed = FailedCodes::new(&[400, 401, 403, 404, 409]);
        // `pieces` workers, each flushing every `flush_at` entries, into one store.
        let summarise = |pieces: usize, flush_at: usize| {
            let store = Store::for_workers(pieces);
            let lines: Vec<&str> = log.split_inclusive('\n').collect();
            // Every `pieces`-th line to each worker: every day in every worker's runs.
            for seq in 0..pieces {
                let piece = lines.iter().skip(seq).step_by(pieces);
                let mut agg = Aggregate::with_flush_size(flush_at);
                let mut scanner = LineScanner::new(Format::Combined, true, 1 << 20);
                for line in piece {
                    let record = crate::agg::ChunkRecord::new(0, seq as u64);
                    agg.scan_chunk(line.as_bytes(), &mut scanner, &failed, record);
                    if agg.needs_flush() {
                        agg.flush(&store);
                    }
                }
                agg.flush_all(&store);
            }
            let merged = store.finish();
            let runs = merged.clients.values().map(Vec::len).max().unwrap_or(0);
            let settings = Settings {
                threshold: 20,
                codes: vec![400, 401, 403, 404, 409],
                bad_request_threshold: 5,
                utc: true,
                format: "auto".into(),
                max_line_bytes: 1 << 20,
            };
            (build(&merged, &[], settings), runs)
        };
        let (one, runs) = summarise(1, usize::MAX);
        assert_eq!(runs, 1);
        assert_eq!((one.days.len(), one.weeks.len()), (4, 2));
        let day = &one.days[0].period;
        assert_eq!((day.failing_ips, day.failed), (23, 600));
        // Addresses 0-13 fail ~32 times, 14-22 ~16 times: 14 listed.
        assert_eq!(day.suspicious_ips.len(), 14);
        let week = &one.weeks[0].period;
        assert_eq!((week.failing_ips, week.failed), (23, 1800));
        assert_eq!(
            week.suspicious_ips.len(),
            23,
            "~48 a week and more: every client"
        );
        for (pieces, flush_at) in [(2, usize::MAX), (3, 4), (5, 1)] {
            let (several, runs) = summarise(pieces, flush_at);
            assert!(runs > 1, "{pieces} workers left {runs} run(s)");
            if flush_at == 1 {
                assert!(
                    runs * 3 > HEAP_FROM_RUNS,
                    "the first week's merge takes the heap"
                );
            }
            assert_eq!(several, one, "{pieces} workers flushing at {flush_at}");
        }
    }

    /// A week whose failed requests all fell on one day lists that day's clients: the same
    /// list, not a copy; a week with two failing days builds its own.
    #[test]
    fn a_week_with_one_failing_day_shares_the_day_list() {
        let dir = tempfile::tempdir().unwrap();
        let line = |ip: &str, day: u32| {
            format!("{ip} - - [{day:02}/Jun/2023:10:00:00 +0000] \"GET /x HTTP/1.1\" 404 1\n")
        };
        let mut log = String::new();
        // Week 25: 5 failed on the 20th only; week 26: 5 on the 26th and 3 on the 27th.
        for (ip, day, n) in [
            ("10.0.0.1", 20, 5),
            ("10.0.0.2", 26, 5),
            ("10.0.0.2", 27, 3),
        ] {
            log.extend(std::iter::repeat_n(line(ip, day), n));
        }
        std::fs::write(dir.path().join("access.log"), log).unwrap();
        let args = crate::cli::AnalyzeArgs {
            paths: vec![dir.path().join("access.log")],
            quiet: true,
            ..Default::default()
        };
        let report =
            crate::cmd::analyze::analyze(&args, &crate::config::FileConfig::default()).unwrap();
        let list = |p: &PeriodSummary| -> Vec<(String, u64)> {
            p.suspicious_ips
                .iter()
                .map(|s| (s.ip.clone(), s.failed))
                .collect()
        };
        let (days, weeks) = (&report.days, &report.weeks);
        assert_eq!(days.len(), 3);
        assert_eq!(weeks.len(), 2);
        assert_eq!(list(&weeks[0].period), [("10.0.0.1".to_string(), 5)]);
        assert!(Arc::ptr_eq(
            &weeks[0].period.suspicious_ips,
            &days[0].period.suspicious_ips
        ));
        assert_eq!(list(&weeks[1].period), [("10.0.0.2".to_string(), 8)]);
        assert_eq!(list(&days[1].period), [("10.0.0.2".to_string(), 5)]);
        assert!(list(&days[2].period).is_empty());
        // The shared list is serialised under both, as if each held its own.
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(
            json["weeks"][0]["suspicious_ips"],
            json["days"][0]["suspicious_ips"]
        );
        assert_eq!(json["weeks"][0]["suspicious_ips"][0]["failed"], 5);
    }

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
        assert_eq!(week_label(week_start(d(0, 1, 2))), "-0001-W52");
        assert_eq!(week_label(week_start(d(0, 1, 3))), "0000-W01");
        assert_eq!(week_start(d(1969, 12, 31)), d(1969, 12, 29));
    }

    #[test]
    fn client_ranges_split_every_run_at_the_same_clients() {
        let entry = |c: u32| {
            (
                ClientKey::Host(c),
                ClientDay {
                    first: Timestamp::default(),
                    last: Timestamp::default(),
                    statuses: Default::default(),
                    paths: Default::default(),
                },
            )
        };
        let a: Vec<_> = (0..100).map(|c| entry(c * 2)).collect();
        let b: Vec<_> = (0..37).map(|c| entry(c * 5 + 1)).collect();
        let empty: Vec<(ClientKey, ClientDay)> = Vec::new();
        let runs = [&a[..], &b[..], &empty[..]];
        for parts in [1, 3, 7, 64, 500] {
            let groups = client_ranges(&runs, parts);
            assert!(groups.len() <= parts.max(1) + 1);
            let mut seen: Vec<(usize, u32)> = Vec::new();
            let mut last_max: Option<ClientKey> = None;
            for g in &groups {
                assert_eq!(g.len(), 3, "one slice per run");
                let keys: Vec<ClientKey> = g.iter().flat_map(|r| r.iter().map(|e| e.0)).collect();
                if let (Some(prev), Some(min)) = (last_max, keys.iter().min()) {
                    assert!(prev < *min, "groups hold disjoint, ascending client ranges");
                }
                last_max = keys.iter().max().copied().or(last_max);
                for (run, slice) in g.iter().enumerate() {
                    seen.extend(slice.iter().map(|e| match e.0 {
                        ClientKey::Host(c) => (run, c),
                        ClientKey::Ip(_) => unreachable!(),
                    }));
                }
            }
            seen.sort_unstable();
            let mut want: Vec<(usize, u32)> = (0..100).map(|c| (0, c * 2)).collect();
            want.extend((0..37).map(|c| (1, c * 5 + 1)));
            assert_eq!(seen, want, "every entry exactly once ({parts} parts)");
        }
        assert!(client_ranges(&[], 4).is_empty());
    }
}
