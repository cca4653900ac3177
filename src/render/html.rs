//! HTML renderer: one self-contained page for a manager — per period a headline with the
//! change from the period before, inline SVG bar charts per day (failed requests and status-400
//! lines with their thresholds drawn, suspicious IPs), tables of suspicious IPs per period and
//! per day, then inputs, malformed counts, settings and how the page was made.
//!
//! Invariants: no script, no external resource, no link built from log content (a strict
//! Content-Security-Policy meta tag forbids anything else anyway); every string that is not our
//! own fixed text passes through [`esc`], which HTML-escapes `& < > " '` on top of the
//! printable-ASCII escaping the model already did (and encodes anything else as a character
//! reference), so nothing can leave its element or attribute. Numbers come from the same
//! model as the JSON report, so the page and the JSON agree.

use super::Out;
use crate::summary::{InputSummary, Report, SuspiciousIp};
use crate::weekly::{self, Range, Weekly};
use std::fmt::Write;

/// How the page was made, shown in its footer (not part of the JSON report).
#[derive(Debug, Clone)]
pub struct Meta {
    /// When the page was generated, RFC 3339 with the local offset.
    pub generated_at: String,
    /// The command line, already escaped to printable ASCII.
    pub command: String,
    /// The most IPs a table lists (those with the most failed requests); `None`: all. A mail
    /// that must fit the server's size limit lists fewer.
    pub ip_rows: Option<usize>,
    /// Where the whole report is, said under a table that lists fewer IPs than there are.
    pub full_report: Option<String>,
}

impl Meta {
    /// Now, and this process' command line.
    pub fn now() -> Self {
        let args: Vec<String> = std::env::args_os()
            .map(|a| crate::escape::bytes(std::os::unix::ffi::OsStrExt::as_bytes(a.as_os_str())))
            .collect();
        Meta {
            generated_at: chrono::Local::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
            command: args.join(" "),
            ip_rows: None,
            full_report: None,
        }
    }
}

pub const CSP: &str =
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'";

/// HTML-escape text for element content and quoted attribute values. Printable ASCII other
/// than `& < > " '` passes; everything else becomes a numeric character reference.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            ' '..='~' => out.push(c),
            _ => {
                let _ = write!(out, "&#x{:x};", c as u32);
            }
        }
    }
    out
}

fn signed(n: i64) -> String {
    if n > 0 {
        format!("+{n}")
    } else if n < 0 {
        format!("-{}", n.unsigned_abs())
    } else {
        "+0".to_string()
    }
}

fn delta(a: u64, b: u64) -> i64 {
    i64::try_from(a).unwrap_or(i64::MAX) - i64::try_from(b).unwrap_or(i64::MAX)
}

/// The ISO weeks of the report, as ranges (what `analyze --html` shows).
pub fn report_weeks(report: &Report) -> Vec<Range> {
    report
        .weeks
        .iter()
        .filter_map(|w| {
            let start = chrono::NaiveDate::parse_from_str(&w.start, "%Y-%m-%d").ok()?;
            let end = chrono::NaiveDate::parse_from_str(&w.end, "%Y-%m-%d").ok()?;
            Some(Range { start, end })
        })
        .collect()
}

const STYLE: &str = r#"
:root{--fg:#1d2329;--muted:#5b6670;--line:#d5dbe1;--bg:#fff;--soft:#f4f6f8;--fail:#b8433a;--bad:#c77c12;--ips:#2f5d8a;--ok:#2e7d4f}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:var(--fg);background:var(--bg);margin:0 auto;max-width:1100px;padding:24px}
h1{font-size:24px;margin:0 0 4px}
h2{font-size:20px;margin:32px 0 8px;padding-top:12px;border-top:2px solid var(--fg)}
h2 .range{font-weight:normal;color:var(--muted);font-size:15px;margin-left:8px}
h3{font-size:15px;margin:20px 0 6px}
.sub{color:var(--muted);margin:0 0 16px}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin:12px 0}
.card{flex:1 1 200px;border:1px solid var(--line);border-radius:6px;padding:10px 14px;background:var(--soft);break-inside:avoid}
.card .label{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.04em}
.card .value{font-size:28px;font-weight:600;font-variant-numeric:tabular-nums}
.card .change{font-size:13px;color:var(--muted)}
.card.alert{border-color:var(--fail);background:#fbeeed}
.verdict{margin:8px 0 12px;font-weight:600}
.verdict.alert{color:var(--fail)}
.verdict.ok{color:var(--ok)}
.charts{display:flex;flex-wrap:wrap;gap:16px;margin:8px 0 4px}
figure{margin:0;flex:1 1 320px;break-inside:avoid}
figure.wide{flex-basis:100%}
figcaption{font-weight:600;margin-bottom:4px}
svg{max-width:100%;height:auto;font:11px system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif}
table{border-collapse:collapse;width:100%;margin:6px 0 12px;font-variant-numeric:tabular-nums}
th,td{border-bottom:1px solid var(--line);padding:4px 8px;text-align:left;vertical-align:top}
th{background:var(--soft);font-size:12px;text-transform:uppercase;letter-spacing:.03em;color:var(--muted)}
td.num,th.num{text-align:right}
td.ip,td.path,code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12.5px;overflow-wrap:anywhere;word-break:break-all}
td.ip{overflow-wrap:break-word;word-break:normal}
td.paths ol{margin:0;padding-left:18px}
.count{color:var(--muted)}
.legend{color:var(--muted);font-size:12px}
.flag{color:var(--fail);font-weight:600}
.muted{color:var(--muted)}
.none{color:var(--muted);font-style:italic}
footer{margin-top:32px;border-top:1px solid var(--line);padding-top:8px;color:var(--muted);font-size:12px}
@media print{body{padding:0;max-width:none;font-size:11px}h2{break-before:page}section.period:first-of-type h2{break-before:auto}tr,figure,.cards{break-inside:avoid}}
"#;

/// The whole page. `ranges` are the periods to show (the report's ISO weeks for `analyze`,
/// the requested period for `report`); each is compared with the period just before it.
pub fn render(report: &Report, ranges: &[Range], meta: &Meta) -> String {
    super::to_string(|out| page(out, report, ranges, meta))
}

/// The same page, streamed to `w`.
pub fn render_to(
    report: &Report,
    ranges: &[Range],
    meta: &Meta,
    w: &mut dyn std::io::Write,
) -> std::io::Result<()> {
    super::stream(w, |out| page(out, report, ranges, meta))
}

fn page(out: &mut Out, report: &Report, ranges: &[Range], meta: &Meta) {
    let title = match (ranges.first(), ranges.last()) {
        (Some(a), Some(_)) if ranges.len() == 1 => format!("Access-log report {}", a.label()),
        (Some(a), Some(b)) => format!("Access-log report {} to {}", a.start, b.end),
        _ => "Access-log report".to_string(),
    };
    let _ = writeln!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"{}\">\n\
         <meta name=\"referrer\" content=\"no-referrer\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"generator\" content=\"logwarden {}\">\n\
         <title>{}</title>\n<style>{}</style>\n</head>\n<body>",
        esc(CSP),
        esc(env!("CARGO_PKG_VERSION")),
        esc(&title),
        STYLE
    );
    let t = &report.totals;
    // `report` shows one period of archives that hold other dates too: the totals read are
    // then not the period's, which the sections below give.
    let shown: Vec<_> = ranges
        .iter()
        .map(|r| (r.start.to_string(), r.end.to_string()))
        .collect();
    let outside = report.days.iter().any(|d| {
        !shown
            .iter()
            .any(|(start, end)| *start <= d.date && d.date <= *end)
    });
    let _ = writeln!(
        out,
        "<header>\n<h1>{}</h1>\n<p class=\"sub\">{} lines from {} input(s){}: {} parsed, {} malformed. \
         Failed requests are status {}; an IP is flagged at {} or more failed requests in a day \
         or week; {} or more status-400 lines in a day or week are unusual.</p>\n</header>",
        esc(&title),
        t.counts.lines,
        t.files,
        match outside {
            true => " read, over all their dates (the period's own figures are below)",
            false => "",
        },
        t.counts.parsed,
        t.counts.malformed,
        esc(&codes(report)),
        report.settings.threshold,
        report.settings.bad_request_threshold
    );
    if ranges.is_empty() {
        out.push_str("<p class=\"none\">No line is dated in any period.</p>\n");
    }
    for &r in ranges {
        section(out, report, r, meta);
    }
    inputs(out, report);
    settings(out, report);
    let _ = writeln!(
        out,
        "<footer>\n<p>Made by logwarden {} at <time>{}</time> with <code>{}</code>.</p>\n\
         <p>Every text taken from a log is shown escaped: bytes outside printable ASCII as \
         <code>\\xhh</code>, a backslash as <code>\\\\</code>. Paths are the request targets \
         of failed requests, cut to {} bytes; per client and day at most {} distinct paths are \
         counted (the first in a fixed hash order), so when a client asked for more, its top \
         paths come from that sample (marked &ldquo;sample&rdquo;). Times are as written in the log \
         (its own UTC offset){}.</p>\n</footer>\n</body>\n</html>",
        esc(env!("CARGO_PKG_VERSION")),
        esc(&meta.generated_at),
        esc(&meta.command),
        crate::agg::PATH_MAX_BYTES,
        crate::agg::PATHS_PER_CLIENT,
        if report.settings.utc {
            ", shown in UTC because of --utc"
        } else {
            ""
        }
    );
}

fn codes(report: &Report) -> String {
    let c: Vec<String> = report.settings.codes.iter().map(u16::to_string).collect();
    c.join(", ")
}

fn range_id(r: Range) -> String {
    r.label()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

fn section(out: &mut Out, report: &Report, r: Range, meta: &Meta) {
    let w = weekly::build(report, r);
    let ips = weekly::suspicious(report, r);
    let prev_ips = weekly::suspicious(report, r.previous());
    let kind = if r.iso_week().is_some() {
        "Week"
    } else {
        "Period"
    };
    let _ = writeln!(
        out,
        "<section class=\"period\" id=\"p-{}\">\n<h2>{} {}<span class=\"range\">{} to {}</span></h2>",
        esc(&range_id(r)),
        kind,
        esc(&w.period.label),
        esc(&w.period.start),
        esc(&w.period.end)
    );
    headline(out, &w, ips.len(), prev_ips.len(), report);
    charts(out, &w, report);
    let _ = writeln!(
        out,
        "<h3>Suspicious IPs in {} {}</h3>",
        kind.to_lowercase(),
        esc(&w.period.label)
    );
    ip_table(out, &w.period.label, &ips, meta);
    day_table(out, &w);
    for day in w
        .days
        .iter()
        .filter(|d| !d.period.suspicious_ips.is_empty())
    {
        let _ = writeln!(
            out,
            "<h3>Suspicious IPs on {} {}</h3>",
            esc(&day.weekday),
            esc(&day.date)
        );
        ip_table(out, &day.date, &day.period.suspicious_ips, meta);
    }
    out.push_str("</section>\n");
}

fn card(out: &mut Out, label: &str, value: u64, change: &str, alert: bool) {
    let _ = writeln!(
        out,
        "<div class=\"card{}\"><div class=\"label\">{}</div><div class=\"value\">{}</div><div class=\"change\">{}</div></div>",
        if alert { " alert" } else { "" },
        esc(label),
        value,
        esc(change)
    );
}

fn headline(out: &mut Out, w: &Weekly, flagged: usize, prev_flagged: usize, report: &Report) {
    let (t, p) = (&w.totals, &w.previous_totals);
    let prev_label = &w.previous_period.label;
    let change = |now: u64, before: u64| {
        if p.lines == 0 {
            format!("no lines dated in {prev_label}")
        } else {
            format!("{} vs {prev_label} ({before})", signed(delta(now, before)))
        }
    };
    let unusual = t.status_400 >= report.settings.bad_request_threshold;
    out.push_str("<div class=\"cards\">\n");
    card(
        out,
        "IPs flagged",
        flagged as u64,
        &change(flagged as u64, prev_flagged as u64),
        flagged > 0,
    );
    card(
        out,
        "Failed requests",
        t.failed,
        &change(t.failed, p.failed),
        false,
    );
    card(
        out,
        "Status-400 lines",
        t.status_400,
        &change(t.status_400, p.status_400),
        unusual,
    );
    card(out, "Lines", t.lines, &change(t.lines, p.lines), false);
    out.push_str("</div>\n");
    let mut findings = Vec::new();
    if flagged > 0 {
        findings.push(format!(
            "{flagged} IP(s) with {} or more failed requests",
            report.settings.threshold
        ));
    }
    if unusual {
        findings.push(format!("unusual amount of 400 errors ({})", t.status_400));
    }
    if t.days_with_suspicious_ips > 0 || t.unusual_400_days > 0 {
        findings.push(format!(
            "{} day(s) with suspicious IPs, {} day(s) with unusual 400s",
            t.days_with_suspicious_ips, t.unusual_400_days
        ));
    }
    if findings.is_empty() {
        out.push_str("<p class=\"verdict ok\">No unusual login attempts or errors found.</p>\n");
    } else {
        let _ = writeln!(
            out,
            "<p class=\"verdict alert\">Attention: {}.</p>",
            esc(&findings.join("; "))
        );
    }
}

/// A bar chart of one value per day, with an optional dashed threshold line.
fn bar_chart(
    out: &mut Out,
    (class, caption): (&str, &str),
    w: &Weekly,
    values: &[u64],
    highlight: &[bool],
    color: &str,
    threshold: Option<(u64, String)>,
) {
    let n = values.len().max(1);
    let max_v = values
        .iter()
        .copied()
        .chain(threshold.as_ref().map(|t| t.0))
        .max()
        .unwrap_or(0)
        .max(1);
    let y_max = nice_ceiling(max_v);
    // Room on the left for the widest grid label (a fixed margin cut 100000 to "00000").
    let (left, right, top, bottom) = (label_width(y_max).max(26.0) + 8.0, 10.0, 14.0, 34.0);
    let plot_w = (n as f64 * 44.0).clamp(280.0, 900.0);
    let (width, height) = (left + plot_w + right, 190.0);
    let plot_h = height - top - bottom;
    let y = |v: u64| top + plot_h - plot_h * v as f64 / y_max as f64;
    let slot = plot_w / n as f64;
    let bar = (slot * 0.62).min(34.0);
    let legend = threshold.as_ref().map_or_else(String::new, |(_, label)| {
        format!(
            "<div class=\"legend\"><svg width=\"22\" height=\"8\" aria-hidden=\"true\"><line x1=\"0\" x2=\"22\" y1=\"4\" y2=\"4\" stroke=\"#1d2329\" stroke-width=\"1.2\" stroke-dasharray=\"5 4\"/></svg> {}</div>",
            esc(label)
        )
    });
    // A long period's chart takes a whole row (in a third of one its text was ~4 px high).
    let wide = if n > 14 { " wide" } else { "" };
    let _ = writeln!(
        out,
        "<figure class=\"chart {class}{wide}\"><figcaption>{}</figcaption>{legend}\n\
         <svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {width:.0} {height:.0}\" width=\"{width:.0}\" height=\"{height:.0}\" role=\"img\" aria-label=\"{}\">",
        esc(caption),
        esc(caption)
    );
    // Axis and grid: 0, half, max.
    let mut grid = vec![0, y_max / 2, y_max];
    grid.dedup();
    for v in grid {
        let yy = y(v);
        let _ = writeln!(
            out,
            "<line x1=\"{left}\" x2=\"{:.1}\" y1=\"{yy:.1}\" y2=\"{yy:.1}\" stroke=\"#e3e7eb\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"#5b6670\">{v}</text>",
            left + plot_w,
            left - 4.0,
            yy + 4.0
        );
    }
    let every = n.div_ceil(14);
    for (i, (&v, day)) in values.iter().zip(&w.days).enumerate() {
        let x = left + slot * i as f64 + (slot - bar) / 2.0;
        let yy = y(v);
        // Outlined: the days the finding is about (suspicious IPs, unusual 400s).
        let over = highlight.get(i).copied().unwrap_or(false);
        let _ = write!(
            out,
            "<g class=\"bar\"><title>{} {}: {v}</title>\
             <rect x=\"{x:.1}\" y=\"{yy:.1}\" width=\"{bar:.1}\" height=\"{:.1}\" fill=\"{color}\"{}/>",
            esc(&day.weekday),
            esc(&day.date),
            (top + plot_h - yy).max(0.0),
            if over { " stroke=\"#1d2329\" stroke-width=\"1.5\"" } else { "" },
        );
        // The value over its bar where it fits there (a long period's would overlap; its
        // values are in the bars' titles and the per-day table).
        if label_width(v) <= slot {
            let _ = write!(
                out,
                "<text class=\"v\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#1d2329\"{}>{v}</text>",
                x + bar / 2.0,
                yy - 3.0,
                if over { " font-weight=\"bold\"" } else { "" }
            );
        }
        out.push_str("</g>\n");
        if i % every == 0 {
            let _ = writeln!(
                out,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#5b6670\">{}</text>\
                 <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#5b6670\">{}</text>",
                x + bar / 2.0,
                top + plot_h + 13.0,
                esc(&day.weekday),
                x + bar / 2.0,
                top + plot_h + 26.0,
                esc(day.date.get(5..).unwrap_or(&day.date))
            );
        }
    }
    if let Some((t, _)) = threshold {
        let yy = y(t);
        let _ = writeln!(
            out,
            "<line class=\"threshold\" data-value=\"{t}\" x1=\"{left}\" x2=\"{:.1}\" y1=\"{yy:.1}\" y2=\"{yy:.1}\" stroke=\"#1d2329\" stroke-width=\"1.2\" stroke-dasharray=\"5 4\"/>",
            left + plot_w,
        );
    }
    out.push_str("</svg></figure>\n");
}

/// The smallest of 1, 2, 4, 6, 8 × 10^k at or above `v` (even above 1, so the grid's half-way
/// line is a whole number).
fn nice_ceiling(v: u64) -> u64 {
    let mut base = 1u64;
    loop {
        for m in [1u64, 2, 4, 6, 8] {
            let c = base.saturating_mul(m);
            if c >= v && (c == 1 || c % 2 == 0) {
                return c;
            }
        }
        if base > u64::MAX / 10 {
            return v;
        }
        base *= 10;
    }
}

/// About how wide `v` is drawn in the charts' 11 px font, in SVG units.
fn label_width(v: u64) -> f64 {
    v.to_string().len() as f64 * 6.5
}

fn charts(out: &mut Out, w: &Weekly, report: &Report) {
    let s = &report.settings;
    let failed: Vec<u64> = w.days.iter().map(|d| d.period.failed).collect();
    let bad: Vec<u64> = w.days.iter().map(|d| d.period.status_400).collect();
    let flagged: Vec<bool> = w
        .days
        .iter()
        .map(|d| !d.period.suspicious_ips.is_empty())
        .collect();
    let unusual: Vec<bool> = w.days.iter().map(|d| d.period.unusual_400).collect();
    let ips: Vec<u64> = w
        .days
        .iter()
        .map(|d| d.period.suspicious_ips.len() as u64)
        .collect();
    out.push_str("<div class=\"charts\">\n");
    bar_chart(
        out,
        ("failed", "Failed requests per day"),
        w,
        &failed,
        &flagged,
        "#b8433a",
        Some((
            s.threshold,
            format!(
                "one IP is flagged at {} (each bar is all IPs together)",
                s.threshold
            ),
        )),
    );
    bar_chart(
        out,
        ("status400", "Status-400 lines per day"),
        w,
        &bad,
        &unusual,
        "#c77c12",
        Some((
            s.bad_request_threshold,
            format!("unusual at {}", s.bad_request_threshold),
        )),
    );
    bar_chart(
        out,
        ("ips", "Suspicious IPs per day"),
        w,
        &ips,
        &flagged,
        "#2f5d8a",
        None,
    );
    out.push_str("</div>\n");
}

fn ip_table(out: &mut Out, period: &str, all: &[SuspiciousIp], meta: &Meta) {
    // Sorted by failed requests, most first: the rows kept are the ones to act on.
    let ips = &all[..meta.ip_rows.map_or(all.len(), |n| n.min(all.len()))];
    if ips.is_empty() {
        let _ = writeln!(
            out,
            "<p class=\"none\" data-period=\"{}\">No IP reached the threshold.</p>",
            esc(period)
        );
        return;
    }
    let _ = writeln!(
        out,
        "<table class=\"ips\" data-period=\"{}\">\n<thead><tr><th>IP</th><th class=\"num\">Failed</th><th>By status</th><th>First seen</th><th>Last seen</th><th>Top paths (failed requests)</th></tr></thead>\n<tbody>",
        esc(period)
    );
    for ip in ips {
        let (first, last) = (ip.first_seen.to_string(), ip.last_seen.to_string());
        let _ = write!(
            out,
            "<tr><td class=\"ip\">{}</td><td class=\"num failed\">{}</td><td class=\"by-status\">{}</td>\
             <td class=\"first\"><time datetime=\"{}\">{}</time></td><td class=\"last\"><time datetime=\"{}\">{}</time></td><td class=\"paths\"><ol>",
            esc(&ip.ip),
            ip.failed,
            esc(&ip.by_status.to_string()),
            esc(&first),
            esc(&readable_time(&first)),
            esc(&last),
            esc(&readable_time(&last))
        );
        for p in &ip.top_paths {
            let _ = write!(
                out,
                "<li><code class=\"path\">{}</code> <span class=\"count\">{}</span></li>",
                esc(&p.path),
                p.count
            );
        }
        out.push_str("</ol>");
        if ip.other_paths > 0 {
            let _ = write!(
                out,
                "<span class=\"muted other\">+{} to other paths</span>",
                ip.other_paths
            );
        }
        if !ip.paths_exact {
            out.push_str(" <span class=\"muted\">(sample)</span>");
        }
        out.push_str("</td></tr>\n");
    }
    out.push_str("</tbody>\n</table>\n");
    if ips.len() < all.len() {
        let _ = writeln!(
            out,
            "<p class=\"cut\" data-period=\"{}\">The {} IPs with the most failed requests of {}{}.</p>",
            esc(period),
            ips.len(),
            all.len(),
            meta.full_report
                .as_deref()
                .map_or(String::new(), |at| format!("; all of them are in <code>{}</code>", esc(at)))
        );
    }
}

/// `2023-06-19T03:03:00+02:00` → `2023-06-19 03:03:00 +02:00`.
fn readable_time(iso: &str) -> String {
    match (iso.get(..10), iso.get(11..19), iso.get(19..)) {
        (Some(d), Some(t), Some(o)) if iso.as_bytes().get(10) == Some(&b'T') => {
            format!("{d} {t} {o}")
        }
        _ => iso.to_string(),
    }
}

fn day_table(out: &mut Out, w: &Weekly) {
    out.push_str(
        "<h3>Per day</h3>\n<table class=\"days\">\n<thead><tr><th>Day</th><th class=\"num\">Lines</th><th class=\"num\">Failed</th><th class=\"num\">Failing IPs</th><th class=\"num\">Status 400</th><th class=\"num\">Suspicious IPs</th><th>Findings</th></tr></thead>\n<tbody>\n",
    );
    for d in &w.days {
        let p = &d.period;
        let mut findings = Vec::new();
        if !p.suspicious_ips.is_empty() {
            findings.push("Unusual login attempts detected".to_string());
        }
        if p.unusual_400 {
            findings.push(format!(
                "Unusual amount of 400 errors detected: {}",
                p.status_400
            ));
        }
        let findings = if findings.is_empty() {
            "<span class=\"muted\">none</span>".to_string()
        } else {
            format!("<span class=\"flag\">{}</span>", esc(&findings.join("; ")))
        };
        let _ = writeln!(
            out,
            "<tr data-date=\"{}\"><td>{} {}</td><td class=\"num lines\">{}</td><td class=\"num failed\">{}</td><td class=\"num failing\">{}</td><td class=\"num s400\">{}</td><td class=\"num suspicious\">{}</td><td>{}</td></tr>",
            esc(&d.date),
            esc(&d.weekday),
            esc(&d.date),
            p.lines,
            p.failed,
            p.failing_ips,
            p.status_400,
            p.suspicious_ips.len(),
            findings
        );
    }
    out.push_str("</tbody>\n</table>\n");
}

fn inputs(out: &mut Out, report: &Report) {
    let t = &report.totals;
    out.push_str("<section class=\"inputs\">\n<h2>Inputs</h2>\n");
    let _ = writeln!(
        out,
        "<p>{} input(s), {} with errors; {} lines: {} parsed, {} malformed, {} blank lines skipped.</p>",
        t.files, t.files_with_errors, t.counts.lines, t.counts.parsed, t.counts.malformed, t.counts.blank
    );
    out.push_str("<table class=\"inputs\">\n<thead><tr><th>Input</th><th>Kind</th><th class=\"num\">Bytes</th><th class=\"num\">Lines</th><th class=\"num\">Malformed</th><th>Notes</th></tr></thead>\n<tbody>\n");
    for i in &report.inputs {
        input_row(out, i);
    }
    out.push_str("</tbody>\n</table>\n<h3>Malformed lines by reason</h3>\n<table class=\"malformed\">\n<thead><tr><th>Reason</th><th class=\"num\">Lines</th></tr></thead>\n<tbody>\n");
    for (reason, n) in crate::scan::Malformed::ALL
        .iter()
        .zip(t.counts.malformed_by_reason.0)
    {
        let _ = writeln!(
            out,
            "<tr><td><code>{}</code></td><td class=\"num\">{n}</td></tr>",
            esc(reason.name())
        );
    }
    out.push_str("</tbody>\n</table>\n</section>\n");
}

fn input_row(out: &mut Out, i: &InputSummary) {
    let kind = match (i.compressed, i.gzip_members, i.format) {
        (true, Some(m), f) => format!("gzip ({m} member(s)), {}", f.unwrap_or("-")),
        (true, None, f) => format!("gzip, {}", f.unwrap_or("-")),
        (false, _, f) => f.unwrap_or("-").to_string(),
    };
    let mut notes: Vec<String> = Vec::new();
    if !i.malformed_lines.is_empty() {
        let first: Vec<String> = i
            .malformed_lines
            .iter()
            .map(|m| format!("{} ({})", m.line, m.reason))
            .collect();
        notes.push(format!("first malformed at line {}", first.join(", ")));
    }
    for w in &i.warnings {
        notes.push(format!("warning: {w}"));
    }
    if let Some(e) = &i.error {
        notes.push(format!("error: {e}"));
    }
    let _ = writeln!(
        out,
        "<tr><td class=\"path\">{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td{}>{}</td></tr>",
        esc(&i.path),
        esc(&kind),
        i.bytes,
        i.counts.lines,
        i.counts.malformed,
        if i.error.is_some() { " class=\"flag\"" } else { "" },
        esc(&notes.join("; "))
    );
}

fn settings(out: &mut Out, report: &Report) {
    let s = &report.settings;
    let _ = writeln!(
        out,
        "<section class=\"settings\">\n<h2>Settings</h2>\n<table class=\"settings\">\n<tbody>\n\
         <tr><th>Failed request codes</th><td>{}</td></tr>\n\
         <tr><th>IP threshold (failed requests per day or week)</th><td>{}</td></tr>\n\
         <tr><th>Status-400 threshold (per day or week)</th><td>{}</td></tr>\n\
         <tr><th>Days</th><td>{}</td></tr>\n\
         <tr><th>Format</th><td>{}</td></tr>\n\
         <tr><th>Longest line read</th><td>{} bytes</td></tr>\n\
         </tbody>\n</table>\n</section>",
        esc(&codes(report)),
        s.threshold,
        s.bad_request_threshold,
        if s.utc {
            "UTC dates (--utc)"
        } else {
            "the date written in each line's own offset"
        },
        esc(&s.format),
        s.max_line_bytes
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_non_ascii() {
        assert_eq!(
            esc("<script>\"a\"&'b'</svg>"),
            "&lt;script&gt;&quot;a&quot;&amp;&#39;b&#39;&lt;/svg&gt;"
        );
        assert_eq!(esc("é\u{7}"), "&#xe9;&#x7;");
    }

    #[test]
    fn render_to_streams_exactly_the_page_of_render() {
        let report = crate::render::sample_report();
        let weeks = report_weeks(&report);
        let meta = Meta {
            generated_at: "2023-06-28T08:00:00+02:00".into(),
            command: "logwarden analyze --html r.html".into(),
            ip_rows: None,
            full_report: None,
        };
        let page = render(&report, &weeks, &meta);
        let mut streamed = Vec::new();
        render_to(&report, &weeks, &meta, &mut streamed).unwrap();
        assert_eq!(String::from_utf8(streamed).unwrap(), page);
        let (head, tail) = (
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n",
            "with <code>logwarden analyze --html r.html</code>.</p>\n",
        );
        assert_eq!(&page[..head.len()], head);
        assert_eq!(page.matches(tail).count(), 1);
        assert_eq!(&page[page.len() - 26..], "</footer>\n</body>\n</html>\n");
    }

    #[test]
    fn the_header_says_when_its_totals_are_not_the_periods() {
        let report = crate::render::sample_report();
        let meta = Meta {
            generated_at: "2023-06-28T08:00:00+02:00".into(),
            command: "logwarden report".into(),
            ip_rows: None,
            full_report: None,
        };
        let header = |ranges: &[Range]| {
            let page = render(&report, ranges, &meta);
            let at = page.find("<p class=\"sub\">").unwrap();
            page[at..at + page[at..].find(". ").unwrap()].to_string()
        };
        // Every week of the inputs shown (`analyze --html`): the totals are the page's.
        assert_eq!(
            header(&report_weeks(&report)),
            "<p class=\"sub\">432 lines from 10 input(s): 432 parsed, 0 malformed"
        );
        // One week of them (`report`): the 432 lines are not the week's 305.
        let week = crate::weekly::parse_week("2023-W25", chrono::NaiveDate::MIN).unwrap();
        assert_eq!(
            header(&[week]),
            "<p class=\"sub\">432 lines from 10 input(s) read, over all their dates (the \
             period's own figures are below): 432 parsed, 0 malformed"
        );
    }

    #[test]
    fn chart_labels_fit_their_room() {
        let mut report = crate::render::sample_report();
        // The failed chart's axis goes up to the threshold: 200000, six digits.
        report.settings.threshold = 150_000;
        report.days[0].period.failed = 25_000;
        let meta = Meta {
            generated_at: "2023-06-28T08:00:00+02:00".into(),
            command: "logwarden report".into(),
            ip_rows: None,
            full_report: None,
        };
        let svg_of = |page: &str| {
            let at = page.find("class=\"chart failed").unwrap();
            page[at..at + page[at..].find("</figure>").unwrap()].to_string()
        };
        // A week: the grid labels have room left of the plot (a fixed 34 units cut 100000 to
        // "00000"), and every value is over its bar.
        let week = svg_of(&render(&report, &report_weeks(&report), &meta));
        let label = week.find(">200000</text>").unwrap();
        let x = &week[week[..label].rfind("x=\"").unwrap() + 3..];
        let x: f64 = x[..x.find('"').unwrap()].parse().unwrap();
        assert!(x >= label_width(200_000), "{x}");
        assert_eq!(week.matches("class=\"v\"").count(), 7);
        assert!(!week.contains("chart failed wide"));
        // Eight weeks: the chart takes a whole row, and a value wider than its bar's room is
        // left to the bar's title (it overlapped its neighbours).
        let start = chrono::NaiveDate::from_ymd_opt(2023, 5, 1).unwrap();
        let long = Range {
            start,
            end: start + chrono::Days::new(55),
        };
        let long = svg_of(&render(&report, &[long], &meta));
        assert!(long.contains("chart failed wide"));
        assert_eq!(long.matches("<g class=\"bar\">").count(), 56);
        assert!(long.contains(": 25000</title>"));
        assert!(!long.contains(">25000</text>"));
        assert_eq!(long.matches("class=\"v\"").count(), 55);
    }

    #[test]
    fn nice_ceilings() {
        let got: Vec<u64> = [0, 1, 2, 3, 5, 7, 11, 36, 101].map(nice_ceiling).to_vec();
        assert_eq!(got, vec![1, 1, 2, 4, 6, 8, 20, 40, 200]);
    }
}
