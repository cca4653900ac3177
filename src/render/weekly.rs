//! Text rendering of the weekly summary (the mail body and `report`'s stdout).
//!
//! Invariant: only our own text and strings that were escaped before they reached the model;
//! keeps the seed's phrases ("Unusual login attempts detected:", "IP: <ip> - Failed login
//! attempts: <n>", "Unusual amount of 400 errors detected: <n>", "No unusual login attempts or
//! errors found.") so grep habits keep working. No line is a lone `.` (SMTP end of data).

use crate::weekly::Weekly;
use std::fmt::Write;

fn signed(n: i64) -> String {
    if n > 0 {
        format!("+{n}")
    } else {
        n.to_string()
    }
}

pub fn render(w: &Weekly) -> String {
    render_cut(w, usize::MAX)
}

/// [`render`] with at most `ip_rows` flagged IPs listed a day (those with the most failed
/// requests: the lists are sorted so), and how many there are (a mail cut to its size limit).
pub fn render_cut(w: &Weekly, ip_rows: usize) -> String {
    let mut out = String::new();
    let (t, p, d) = (&w.totals, &w.previous_totals, &w.deltas);
    let _ = writeln!(
        out,
        "Access-log report {} ({} to {})",
        w.period.label, w.period.start, w.period.end
    );
    let _ = writeln!(
        out,
        "Compared with {} ({} to {}).\n",
        w.previous_period.label, w.previous_period.start, w.previous_period.end
    );
    for warning in &w.warnings {
        let _ = writeln!(out, "Warning: {warning}\n");
    }
    if !w.input_errors.is_empty() {
        let _ = writeln!(
            out,
            "Warning: {} input(s) could not be read completely; the figures leave out what was not read:",
            w.input_errors.len()
        );
        for e in &w.input_errors {
            let _ = writeln!(out, "  {}: {}", e.path, e.error);
        }
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "Totals: {} lines ({} vs previous {}), {} failed requests ({} vs {}), {} status-400 lines ({} vs {})",
        t.lines, signed(d.lines), p.lines,
        t.failed, signed(d.failed), p.failed,
        t.status_400, signed(d.status_400), p.status_400
    );
    let _ = writeln!(
        out,
        "Days with suspicious IPs: {} ({} vs {}); days with unusual 400s: {} ({} vs {})",
        t.days_with_suspicious_ips,
        signed(d.days_with_suspicious_ips),
        p.days_with_suspicious_ips,
        t.unusual_400_days,
        signed(d.unusual_400_days),
        p.unusual_400_days
    );
    // The period's own flag (the seed's phrase): 400s spread over days can add up to it.
    if t.unusual_400 {
        let _ = writeln!(
            out,
            "Unusual amount of 400 errors detected: {}",
            t.status_400
        );
    }
    let _ = writeln!(
        out,
        "Suspicious IPs ({} or more failed requests over the period): {} ({} vs {})",
        w.settings.threshold,
        t.suspicious_ips,
        signed(d.suspicious_ips),
        p.suspicious_ips
    );
    match t.suspicious_ips > w.top_ips.len() as u64 {
        true => {
            let _ = writeln!(
                out,
                "\nTop suspicious IPs (the first {} of {}):",
                w.top_ips.len(),
                t.suspicious_ips
            );
        }
        false => out.push_str("\nTop suspicious IPs:\n"),
    }
    if w.top_ips.is_empty() {
        out.push_str("  none\n");
    }
    for ip in &w.top_ips {
        let _ = writeln!(
            out,
            "  IP: {} - Failed login attempts: {} (previous: {}; by status {})",
            ip.ip.ip, ip.ip.failed, ip.previous_failed, ip.ip.by_status
        );
        if !ip.ip.top_paths.is_empty() {
            let mut paths = b"    top paths: ".to_vec();
            super::text::top_paths(&mut paths, &ip.ip);
            // Escaped ASCII only (see `top_paths`): nothing is replaced.
            let _ = writeln!(out, "{}", String::from_utf8_lossy(&paths));
        }
    }
    out.push_str("\nPer day:\n");
    for day in &w.days {
        let p = &day.period;
        let _ = writeln!(
            out,
            "  {} {}: {} lines, {} failed requests, {} status-400 lines",
            day.weekday, day.date, p.lines, p.failed, p.status_400
        );
        if !p.suspicious_ips.is_empty() {
            out.push_str("    Unusual login attempts detected:\n");
            for ip in p.suspicious_ips.iter().take(ip_rows) {
                let _ = writeln!(
                    out,
                    "    IP: {} - Failed login attempts: {}",
                    ip.ip, ip.failed
                );
            }
            if p.suspicious_ips.len() > ip_rows {
                let _ = writeln!(
                    out,
                    "    (the {ip_rows} with the most failed requests of {})",
                    p.suspicious_ips.len()
                );
            }
        }
        if p.unusual_400 {
            let _ = writeln!(
                out,
                "    Unusual amount of 400 errors detected: {}",
                p.status_400
            );
        }
        if p.suspicious_ips.is_empty() && !p.unusual_400 {
            out.push_str("    No unusual login attempts or errors found.\n");
        }
    }
    out
}
