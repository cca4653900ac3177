//! JSON renderer: the versioned report (`schema_version`), documented in `docs/json-schema.md`.
//!
//! Invariant: deterministic bytes for a given report (fixed key order, sorted lists, no
//! timestamps), pretty-printed with a final newline. [`render_to`] streams them; [`render`]
//! is the same bytes in memory.

use crate::summary::{DaySummary, Report, SuspiciousIp, WeekSummary};
use rayon::prelude::*;
use serde::Serialize;
use std::io::{self, Write};

pub fn render(report: &Report) -> Vec<u8> {
    let mut out = Vec::new();
    if let Err(e) = render_to(report, &mut out) {
        // Serialising plain structs of numbers and ASCII strings cannot fail, and a Vec
        // takes every byte; keep the failure visible rather than panicking if that changes.
        out = format!(
            "{{\"error\": \"cannot serialise report: {}\"}}\n",
            crate::escape::text(&e.to_string())
        )
        .into_bytes();
    }
    out
}

/// Write the report's JSON to `w`: the same bytes as `serde_json::to_writer_pretty` and a
/// final newline, but the suspicious-client lists (nearly all of a large report) are rendered
/// on the current rayon pool, a bounded batch at a time, so memory stays at one batch per
/// thread and the render does not become the serial tail of a many-core run.
pub fn render_to(report: &Report, w: &mut dyn Write) -> io::Result<()> {
    let head = to_pretty(&report.clone_without_periods())?;
    // The periods are the last two fields: splice them where the skeleton has `[]`.
    let tail = b",\n  \"weeks\": []\n}";
    let Some(head) = head
        .strip_suffix(tail.as_slice())
        .and_then(|h| h.strip_suffix(b"[]"))
    else {
        return write_pretty(report, w);
    };
    w.write_all(head)?;
    periods(w, &report.days, |d| {
        (
            to_pretty(&DaySummary {
                date: d.date.clone(),
                period: d.period.without_ips(),
            }),
            &d.period.suspicious_ips[..],
        )
    })?;
    w.write_all(b",\n  \"weeks\": ")?;
    periods(w, &report.weeks, |wk| {
        (
            to_pretty(&WeekSummary {
                week: wk.week.clone(),
                start: wk.start.clone(),
                end: wk.end.clone(),
                period: wk.period.without_ips(),
            }),
            &wk.period.suspicious_ips[..],
        )
    })?;
    w.write_all(b"\n}\n")
}

/// Suspicious clients rendered per parallel task.
const BATCH: usize = 512;

/// A `days` or `weeks` array at depth 1; `split` gives a period's JSON without its clients
/// (ending in `"suspicious_ips": []`) and the clients.
fn periods<T>(
    w: &mut dyn Write,
    items: &[T],
    split: impl Fn(&T) -> (io::Result<Vec<u8>>, &[SuspiciousIp]),
) -> io::Result<()> {
    if items.is_empty() {
        return w.write_all(b"[]");
    }
    w.write_all(b"[\n")?;
    for (i, item) in items.iter().enumerate() {
        let (skeleton, ips) = split(item);
        let skeleton = skeleton?;
        let end = b"\"suspicious_ips\": []\n}";
        let Some(body) = skeleton.strip_suffix(end.as_slice()) else {
            return Err(io::Error::other("unexpected period layout"));
        };
        write_indented(w, b"    ", body, 2)?;
        w.write_all(b"\"suspicious_ips\": ")?;
        clients(w, ips)?;
        w.write_all(b"\n    }")?;
        w.write_all(if i + 1 < items.len() { b",\n" } else { b"\n" })?;
    }
    w.write_all(b"  ]")
}

/// A `suspicious_ips` array at depth 3, rendered in parallel batches, written in order.
fn clients(w: &mut dyn Write, ips: &[SuspiciousIp]) -> io::Result<()> {
    if ips.is_empty() {
        return w.write_all(b"[]");
    }
    w.write_all(b"[\n")?;
    let window = BATCH * rayon::current_num_threads().max(1) * 2;
    for (g, group) in ips.chunks(window).enumerate() {
        let rendered: Vec<io::Result<Vec<u8>>> = group
            .par_chunks(BATCH)
            .enumerate()
            .map(|(b, batch)| {
                let mut out = Vec::with_capacity(batch.len() * 512);
                for (k, ip) in batch.iter().enumerate() {
                    let index = g * window + b * BATCH + k;
                    write_indented(&mut out, b"        ", &to_pretty(ip)?, 4)?;
                    out.extend_from_slice(if index + 1 < ips.len() { b",\n" } else { b"\n" });
                }
                Ok(out)
            })
            .collect();
        for part in rendered {
            w.write_all(&part?)?;
        }
    }
    w.write_all(b"      ]")
}

fn to_pretty<T: Serialize + ?Sized>(value: &T) -> io::Result<Vec<u8>> {
    Ok(serde_json::to_vec_pretty(value)?)
}

/// `first` then `json` with every line after the first indented by `depth` levels (JSON
/// strings hold no raw newline, so every `\n` is a line break of the layout).
fn write_indented(w: &mut dyn Write, first: &[u8], json: &[u8], depth: usize) -> io::Result<()> {
    const PAD: &[u8] = b"                ";
    let pad = &PAD[..(depth * 2).min(PAD.len())];
    w.write_all(first)?;
    let mut lines = json.split(|&b| b == b'\n');
    if let Some(line) = lines.next() {
        w.write_all(line)?;
    }
    for line in lines {
        w.write_all(b"\n")?;
        w.write_all(pad)?;
        w.write_all(line)?;
    }
    Ok(())
}

/// Any serialisable value in the format of the report: pretty-printed, final newline.
pub fn write_pretty<T: Serialize + ?Sized>(value: &T, w: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *w, value)?;
    w.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::sample_report;

    #[test]
    fn render_to_streams_exactly_the_bytes_of_render() {
        let report = sample_report();
        let whole = render(&report);
        let mut streamed = Vec::new();
        render_to(&report, &mut streamed).unwrap();
        assert_eq!(streamed, whole);
        // The bytes `render` made before it streamed: pretty JSON and one final newline.
        let mut before = serde_json::to_vec_pretty(&report).unwrap();
        before.push(b'\n');
        assert_eq!(whole, before);
        let head = b"{\n  \"schema_version\": 1,\n";
        assert_eq!(&whole[..head.len()], head);
        let tail = b"\n  ]\n}\n";
        assert_eq!(&whole[whole.len() - tail.len()..], tail);
    }

    #[test]
    fn parallel_batches_match_serde_for_long_and_empty_lists() {
        let mut report = sample_report();
        let ip = report
            .days
            .iter()
            .flat_map(|d| d.period.suspicious_ips.iter())
            .next()
            .cloned()
            .expect("the sample has a suspicious client");
        // Several batches and windows, a list ending exactly on a batch, empty lists.
        assert!(report.days.len() >= 3, "the sample spans several days");
        report.days[0].period.suspicious_ips = vec![ip.clone(); BATCH * 7 + 3];
        report.days[1].period.suspicious_ips = vec![ip.clone(); BATCH * 2];
        if let Some(last) = report.days.last_mut() {
            last.period.suspicious_ips.clear();
        }
        let mut expected = serde_json::to_vec_pretty(&report).unwrap();
        expected.push(b'\n');
        for threads in [1, 3] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let mut got = Vec::new();
            pool.install(|| render_to(&report, &mut got)).unwrap();
            assert_eq!(
                String::from_utf8(got).unwrap(),
                String::from_utf8(expected.clone()).unwrap()
            );
        }
        report.days.clear();
        report.weeks.clear();
        let mut expected = serde_json::to_vec_pretty(&report).unwrap();
        expected.push(b'\n');
        assert_eq!(render(&report), expected);
    }
}
