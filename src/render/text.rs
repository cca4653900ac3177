//! Human-readable report: totals, then one section per ISO week with its days.
//!
//! Keeps the seed script's phrases verbatim so existing grep and cron habits keep working:
//! "Unusual login attempts detected:", "IP: <ip> - Failed login attempts: <n>",
//! "Unusual amount of 400 errors detected: <n>", "No unusual login attempts or errors found.",
//! "Detection complete.". Invariant: only our own text and pre-escaped strings are written,
//! so no byte from a log reaches a terminal raw.

use super::{in_parallel_batches, Out};
use crate::summary::{InputSummary, PeriodSummary, Report, SuspiciousIp};
use std::fmt::Write;

pub fn render(report: &Report) -> String {
    super::to_string(|out| write_report(out, report))
}

/// The same text, streamed to `w`.
pub fn render_to(report: &Report, w: &mut dyn std::io::Write) -> std::io::Result<()> {
    super::stream(w, |out| write_report(out, report))
}

fn write_report(out: &mut Out, report: &Report) {
    let t = &report.totals;
    let s = &report.settings;
    let _ = writeln!(
        out,
        "logwarden: {} input(s), {} lines ({} parsed, {} malformed, {} blank skipped)",
        t.files, t.counts.lines, t.counts.parsed, t.counts.malformed, t.counts.blank
    );
    let codes: Vec<String> = s.codes.iter().map(u16::to_string).collect();
    let _ = writeln!(
        out,
        "Failed requests: status {}; an IP is flagged at {} or more in a day or week; {} or more status-400 lines are unusual.{}",
        codes.join(","),
        s.threshold,
        s.bad_request_threshold,
        if s.utc { " Days are UTC." } else { "" }
    );
    out.push('\n');
    out.push_str("Inputs:\n");
    for input in &report.inputs {
        write_input(out, input);
    }
    let _ = writeln!(
        out,
        "\nTotals: {} lines, {} failed requests, {} status-400 lines, {} day(s) in {} ISO week(s).",
        t.counts.lines,
        t.failed,
        t.status_400,
        report.days.len(),
        report.weeks.len()
    );
    for week in &report.weeks {
        let _ = writeln!(
            out,
            "\n== Week {} ({} to {})",
            week.week, week.start, week.end
        );
        write_period(out, &week.period);
        // Days and weeks are both in date order: the week's days are one run, found by two
        // searches (a filter over every day per week was quadratic: 100k days took 38 s).
        let first = report.days.partition_point(|d| d.date < week.start);
        let end = report.days.partition_point(|d| d.date <= week.end);
        for day in &report.days[first..end.max(first)] {
            let _ = writeln!(out, "\n-- Day {}", day.date);
            write_period(out, &day.period);
        }
    }
    out.push_str("\nDetection complete.\n");
}

fn write_input(out: &mut Out, input: &InputSummary) {
    // The line is built whole and written once, by hand: formatted, with its pieces each a
    // write to the output, it was ~1,700 instructions an input (20,000 inputs: 35 M).
    let c = &input.counts;
    let mut line = String::with_capacity(input.path.len() + 80);
    let number = |line: &mut String, n: u64| line.push_str(itoa::Buffer::new().format(n));
    line.push_str("  ");
    line.push_str(&input.path);
    if input.compressed {
        line.push_str(", gzip");
        if let Some(members) = input.gzip_members {
            line.push_str(" (");
            number(&mut line, members);
            line.push_str(" member(s))");
        }
    }
    if let Some(format) = input.format {
        line.push_str(", ");
        line.push_str(format);
    }
    line.push_str(": ");
    number(&mut line, c.lines);
    line.push_str(" lines, ");
    number(&mut line, c.malformed);
    line.push_str(" malformed");
    for (i, m) in input.malformed_lines.iter().enumerate() {
        line.push_str(if i == 0 { " (first at line " } else { ", " });
        number(&mut line, m.line);
        line.push_str(" (");
        line.push_str(m.reason);
        line.push(')');
    }
    if !input.malformed_lines.is_empty() {
        line.push(')');
    }
    line.push('\n');
    out.push_str(&line);
    if let Some(original) = &input.duplicate_of {
        let _ = writeln!(
            out,
            "    duplicate: its first {} lines are the same as {} and were counted there",
            input.duplicate_lines, original
        );
    }
    for warning in &input.warnings {
        let _ = writeln!(out, "    warning: {warning}");
    }
    if let Some(error) = &input.error {
        let _ = writeln!(out, "    error: {error}");
    }
}

/// `IP: <ip> - Failed login attempts: <n>`, its statuses (`    by status: 401: 3, 404: 12`)
/// and targets (`    top paths: /wp-login.php (3), ...`): the seed script's line and ours,
/// written by hand: formatting machinery per client was most of a large report's time.
fn client_lines(out: &mut Vec<u8>, _: usize, ip: &SuspiciousIp) {
    let mut number = itoa::Buffer::new();
    out.extend_from_slice(b"IP: ");
    out.extend_from_slice(ip.ip.as_bytes());
    out.extend_from_slice(b" - Failed login attempts: ");
    out.extend_from_slice(number.format(ip.failed).as_bytes());
    out.extend_from_slice(b"\n    by status: ");
    for (i, (status, n)) in ip.by_status.iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(b", ");
        }
        out.extend_from_slice(number.format(status).as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(number.format(n).as_bytes());
    }
    if !ip.top_paths.is_empty() {
        out.extend_from_slice(b"\n    top paths: ");
        top_paths(out, ip);
    }
    out.push(b'\n');
}

/// A client's most failed targets and what the list leaves out:
/// `/wp-login.php (50), /admin (20); 25 to other paths`, with a note where they come from a
/// sample (see [`SuspiciousIp::paths_exact`]). Targets are escaped ASCII without spaces, so
/// ` (` cannot be part of one; an empty one is shown as `""`.
pub(crate) fn top_paths(out: &mut Vec<u8>, ip: &SuspiciousIp) {
    let mut number = itoa::Buffer::new();
    for (i, p) in ip.top_paths.iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(b", ");
        }
        match p.path.is_empty() {
            true => out.extend_from_slice(b"\"\""),
            false => out.extend_from_slice(p.path.as_bytes()),
        }
        out.extend_from_slice(b" (");
        out.extend_from_slice(number.format(p.count).as_bytes());
        out.push(b')');
    }
    if ip.other_paths > 0 {
        out.extend_from_slice(b"; ");
        out.extend_from_slice(number.format(ip.other_paths).as_bytes());
        out.extend_from_slice(b" to other paths");
    }
    if !ip.paths_exact {
        out.extend_from_slice(b" (the top of a sample: it asked for more than ");
        out.extend_from_slice(number.format(crate::agg::PATHS_PER_CLIENT).as_bytes());
        out.extend_from_slice(b" distinct paths)");
    }
}

fn write_period(out: &mut Out, p: &PeriodSummary) {
    let _ = writeln!(
        out,
        "{} lines, {} failed requests from {} IP(s), {} status-400 lines",
        p.lines, p.failed, p.failing_ips, p.status_400
    );
    if !p.suspicious_ips.is_empty() {
        out.push_str("Unusual login attempts detected:\n");
        // `Out` keeps its own first error, so this write cannot fail.
        let Ok(()) = in_parallel_batches(&p.suspicious_ips, client_lines, |bytes| {
            // Only ASCII is rendered (addresses and targets are escaped): no UTF-8 check.
            out.push_bytes(bytes);
            Ok::<(), std::convert::Infallible>(())
        });
    }
    if p.unusual_400 {
        let _ = writeln!(
            out,
            "Unusual amount of 400 errors detected: {}",
            p.status_400
        );
    }
    if p.suspicious_ips.is_empty() && !p.unusual_400 {
        out.push_str("No unusual login attempts or errors found.\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::sample_report;

    /// Each shape of an input's lines in the report, exactly.
    #[test]
    fn an_input_reads_as_its_lines() {
        let plain = sample_report()
            .inputs
            .last()
            .cloned()
            .expect("the sample has inputs");
        let render = |input: &InputSummary| {
            let mut bytes = Vec::new();
            write_input(&mut Out::new(&mut bytes), input);
            String::from_utf8(bytes).unwrap()
        };
        let mut x = plain.clone();
        x.path = "log/access_1.log".into();
        (x.compressed, x.gzip_members, x.format) = (false, None, Some("combined"));
        (x.counts.lines, x.counts.malformed) = (12, 0);
        x.malformed_lines.clear();
        (x.duplicate_of, x.warnings, x.error) = (None, vec![], None);
        assert_eq!(
            render(&x),
            "  log/access_1.log, combined: 12 lines, 0 malformed\n"
        );
        x.compressed = true;
        x.format = None;
        assert_eq!(
            render(&x),
            "  log/access_1.log, gzip: 12 lines, 0 malformed\n"
        );
        (x.gzip_members, x.format) = (Some(3), Some("vhost_combined"));
        x.counts.malformed = u64::MAX;
        x.malformed_lines = vec![
            crate::summary::MalformedLine {
                line: 4,
                reason: "bad_time",
            },
            crate::summary::MalformedLine {
                line: 90,
                reason: "bad_status",
            },
        ];
        x.duplicate_of = Some("log/access_0.log".into());
        x.duplicate_lines = 7;
        x.warnings = vec!["one".into(), "two".into()];
        x.error = Some("cut short".into());
        assert_eq!(
            render(&x),
            "  log/access_1.log, gzip (3 member(s)), vhost_combined: 12 lines, \
             18446744073709551615 malformed (first at line 4 (bad_time), 90 (bad_status))\n    \
             duplicate: its first 7 lines are the same as log/access_0.log and were counted there\n    \
             warning: one\n    warning: two\n    error: cut short\n"
        );
    }

    #[test]
    fn client_lines_read_like_the_formatted_ones() {
        let report = sample_report();
        let mut ips: Vec<SuspiciousIp> = report
            .days
            .iter()
            .flat_map(|d| d.period.suspicious_ips.iter().cloned())
            .collect();
        assert!(!ips.is_empty());
        // Several statuses, large counts.
        ips[0].by_status = [(401, 7), (403, u64::MAX / 3), (404, 0), (599, 1)]
            .into_iter()
            .collect();
        ips[0].failed = u64::MAX;
        for ip in &ips {
            let mut out = Vec::new();
            client_lines(&mut out, 0, ip);
            let paths: Vec<String> = ip
                .top_paths
                .iter()
                .map(|p| format!("{} ({})", p.path, p.count))
                .collect();
            let mut expect = format!(
                "IP: {} - Failed login attempts: {}\n    by status: {}\n    top paths: {}",
                ip.ip,
                ip.failed,
                ip.by_status,
                paths.join(", ")
            );
            if ip.other_paths > 0 {
                expect += &format!("; {} to other paths", ip.other_paths);
            }
            assert_eq!(String::from_utf8(out).unwrap(), expect + "\n");
        }
    }

    /// Every part of the top-paths line: an empty target, what is left out, a sample; and no
    /// line for a client without targets.
    #[test]
    fn top_paths_line_says_what_is_left_out() {
        let report = sample_report();
        let mut ip = report
            .days
            .iter()
            .find_map(|d| d.period.suspicious_ips.first())
            .expect("a flagged client")
            .clone();
        let path = |p: &str, count| crate::summary::PathFailures {
            path: p.into(),
            count,
        };
        ip.top_paths = vec![
            path("/wp-login.php", 50),
            path("", 3),
            path("/a\\x00(b)", 1),
        ];
        ip.other_paths = 0;
        ip.paths_exact = true;
        let line = |ip: &SuspiciousIp| {
            let mut out = Vec::new();
            top_paths(&mut out, ip);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(line(&ip), r#"/wp-login.php (50), "" (3), /a\x00(b) (1)"#);
        ip.other_paths = 27;
        assert_eq!(
            line(&ip),
            r#"/wp-login.php (50), "" (3), /a\x00(b) (1); 27 to other paths"#
        );
        ip.paths_exact = false;
        assert_eq!(
            line(&ip),
            r#"/wp-login.php (50), "" (3), /a\x00(b) (1); 27 to other paths (the top of a sample: it asked for more than 64 distinct paths)"#
        );
        ip.top_paths.clear();
        let mut out = Vec::new();
        client_lines(&mut out, 0, &ip);
        assert!(!String::from_utf8(out).unwrap().contains("top paths"));
    }

    #[test]
    fn render_to_streams_the_golden_text() {
        let report = sample_report();
        let mut streamed = Vec::new();
        render_to(&report, &mut streamed).unwrap();
        let streamed = String::from_utf8(streamed).unwrap();
        assert_eq!(streamed, render(&report));
        // The golden file ran from the repository root; this report has absolute paths.
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/");
        let golden = include_str!("../../testdata/sample/expected-report.txt");
        assert_eq!(streamed.replace(root, ""), golden);
    }
}
