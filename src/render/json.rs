//! JSON renderer: the versioned report (`schema_version`), documented in `docs/json-schema.md`.
//!
//! Invariant: deterministic bytes for a given report (fixed key order, sorted lists, no
//! timestamps), pretty-printed with a final newline. [`render_to`] streams them; [`render`]
//! is the same bytes in memory.

use super::in_parallel_batches;
use crate::scan::Malformed;
use crate::summary::{DaySummary, InputSummary, Report, Seen, SuspiciousIp, WeekSummary};
use crate::word::{next_marked, nonzero_bytes, BYTES, LOW_BITS, TOP_BITS};
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
    let head = to_pretty(&report.skeleton())?;
    // The periods are the last two fields: splice them where the skeleton has `[]`.
    let tail = b",\n  \"weeks\": []\n}";
    let Some(head) = head
        .strip_suffix(tail.as_slice())
        .and_then(|h| h.strip_suffix(b"[]"))
    else {
        return write_pretty(report, w);
    };
    // The inputs too (20,000 of them took 16 ms serially): a line of its own at depth 1,
    // found once (every string is escaped: no raw newline can fake it).
    let field = b"\n  \"inputs\": [],\n";
    let Some(at) = head.windows(field.len()).position(|f| f == field) else {
        return write_pretty(report, w);
    };
    let (before, after) = (&head[..at + field.len() - 4], &head[at + field.len() - 2..]);
    w.write_all(before)?;
    inputs(w, &report.inputs)?;
    w.write_all(after)?;
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

/// The `inputs` array at depth 1, its entries rendered in parallel batches.
fn inputs(w: &mut dyn Write, items: &[InputSummary]) -> io::Result<()> {
    if items.is_empty() {
        return w.write_all(b"[]");
    }
    w.write_all(b"[\n")?;
    let render = |out: &mut Vec<u8>, index: usize, item: &InputSummary| {
        input(out, item);
        out.extend_from_slice(if index + 1 < items.len() {
            b",\n"
        } else {
            b"\n"
        });
    };
    in_parallel_batches(items, render, |bytes| w.write_all(bytes))?;
    w.write_all(b"  ]")
}

/// One input at depth 2, byte for byte as serde_json's pretty printer writes it (the tests
/// compare the two). By hand: serde's path for the flattened line counts went through a
/// generic map, ~14,000 instructions an input, 45 % of a run over 20,000 one-line files.
fn input(out: &mut Vec<u8>, x: &InputSummary) {
    // `,\n      "name": ` (every field but the first).
    let key = |out: &mut Vec<u8>, name: &[u8]| {
        out.extend_from_slice(b",\n      \"");
        out.extend_from_slice(name);
        out.extend_from_slice(b"\": ");
    };
    let optional_string = |out: &mut Vec<u8>, s: Option<&str>| match s {
        Some(s) => string(out, s),
        None => out.extend_from_slice(b"null"),
    };
    let optional_number = |out: &mut Vec<u8>, n: Option<u64>| match n {
        Some(n) => number(out, n),
        None => out.extend_from_slice(b"null"),
    };
    out.extend_from_slice(b"    {\n      \"path\": ");
    string(out, &x.path);
    key(out, b"format");
    optional_string(out, x.format);
    key(out, b"compressed");
    out.extend_from_slice(if x.compressed { b"true" } else { b"false" });
    key(out, b"gzip_members");
    optional_number(out, x.gzip_members);
    key(out, b"bytes");
    number(out, x.bytes);
    key(out, b"file_bytes");
    optional_number(out, x.file_bytes);
    let counts = &x.counts;
    for (name, n) in [
        (&b"lines"[..], counts.lines),
        (b"parsed", counts.parsed),
        (b"blank", counts.blank),
        (b"malformed", counts.malformed),
    ] {
        key(out, name);
        number(out, n);
    }
    key(out, b"malformed_by_reason");
    out.push(b'{');
    for (i, reason) in Malformed::ALL.into_iter().enumerate() {
        out.extend_from_slice(if i == 0 { b"\n" } else { b",\n" });
        out.extend_from_slice(b"        \"");
        out.extend_from_slice(reason.name().as_bytes());
        out.extend_from_slice(b"\": ");
        number(out, counts.malformed_by_reason.0[reason as usize]);
    }
    out.extend_from_slice(b"\n      }");
    key(out, b"malformed_lines");
    list(out, &x.malformed_lines, |out, m| {
        out.extend_from_slice(b"        {\n          \"line\": ");
        number(out, m.line);
        out.extend_from_slice(b",\n          \"reason\": ");
        string(out, m.reason);
        out.extend_from_slice(b"\n        }");
    });
    key(out, b"duplicate_of");
    optional_string(out, x.duplicate_of.as_deref());
    key(out, b"duplicate_lines");
    number(out, x.duplicate_lines);
    key(out, b"duplicate_bytes");
    number(out, x.duplicate_bytes);
    key(out, b"warnings");
    list(out, &x.warnings, |out, warning| {
        out.extend_from_slice(b"        ");
        string(out, warning);
    });
    key(out, b"error");
    optional_string(out, x.error.as_deref());
    out.extend_from_slice(b"\n    }");
}

/// A list valued field of an input (depth 3): `[]`, or each item on its own lines.
fn list<T>(out: &mut Vec<u8>, items: &[T], item: impl Fn(&mut Vec<u8>, &T)) {
    if items.is_empty() {
        out.extend_from_slice(b"[]");
        return;
    }
    out.push(b'[');
    for (i, x) in items.iter().enumerate() {
        out.extend_from_slice(if i == 0 { b"\n" } else { b",\n" });
        item(out, x);
    }
    out.extend_from_slice(b"\n      ]");
}

/// A `suspicious_ips` array at depth 3, rendered in parallel batches, written in order.
fn clients(w: &mut dyn Write, ips: &[SuspiciousIp]) -> io::Result<()> {
    if ips.is_empty() {
        return w.write_all(b"[]");
    }
    w.write_all(b"[\n")?;
    let render = |out: &mut Vec<u8>, index: usize, ip: &SuspiciousIp| {
        out.extend_from_slice(b"        ");
        client(out, ip);
        out.extend_from_slice(if index + 1 < ips.len() { b",\n" } else { b"\n" });
    };
    in_parallel_batches(ips, render, |bytes| w.write_all(bytes))?;
    w.write_all(b"      ]")
}

/// One suspicious client at depth 4, byte for byte as serde_json's pretty printer writes
/// it (the tests compare the two); by hand because this is most of a large report's bytes
/// and serde's generic path was a visible share of a many-core run.
fn client(out: &mut Vec<u8>, ip: &SuspiciousIp) {
    const FIELD: &[u8] = b",\n          \"";
    out.extend_from_slice(b"{\n          \"ip\": ");
    string(out, &ip.ip);
    out.extend_from_slice(FIELD);
    out.extend_from_slice(b"failed\": ");
    number(out, ip.failed);
    out.extend_from_slice(FIELD);
    out.extend_from_slice(b"by_status\": ");
    let mut statuses = ip.by_status.iter().peekable();
    if statuses.peek().is_none() {
        out.extend_from_slice(b"{}");
    } else {
        out.push(b'{');
        for (i, (status, n)) in statuses.enumerate() {
            out.extend_from_slice(if i == 0 { b"\n" } else { b",\n" });
            out.extend_from_slice(b"            \"");
            number(out, u64::from(status));
            out.extend_from_slice(b"\": ");
            number(out, n);
        }
        out.extend_from_slice(b"\n          }");
    }
    out.extend_from_slice(FIELD);
    out.extend_from_slice(b"first_seen\": ");
    seen(out, &ip.first_seen);
    out.extend_from_slice(FIELD);
    out.extend_from_slice(b"last_seen\": ");
    seen(out, &ip.last_seen);
    out.extend_from_slice(FIELD);
    out.extend_from_slice(b"top_paths\": ");
    if ip.top_paths.is_empty() {
        out.extend_from_slice(b"[]");
    } else {
        out.push(b'[');
        for (i, p) in ip.top_paths.iter().enumerate() {
            out.extend_from_slice(if i == 0 { b"\n" } else { b",\n" });
            out.extend_from_slice(b"            {\n              \"path\": ");
            string(out, &p.path);
            out.extend_from_slice(b",\n              \"count\": ");
            number(out, p.count);
            out.extend_from_slice(b"\n            }");
        }
        out.extend_from_slice(b"\n          ]");
    }
    out.extend_from_slice(FIELD);
    out.extend_from_slice(b"other_paths\": ");
    number(out, ip.other_paths);
    out.extend_from_slice(FIELD);
    out.extend_from_slice(b"paths_exact\": ");
    out.extend_from_slice(if ip.paths_exact { b"true" } else { b"false" });
    out.extend_from_slice(b"\n        }");
}

/// A timestamp as a JSON string: its `Display` text (ISO 8601, or the `????` fallback)
/// holds nothing JSON escapes. The common case is copied from fixed bytes, not formatted.
fn seen(out: &mut Vec<u8>, at: &Seen) {
    match at.at.iso8601_bytes(at.utc) {
        Some(text) => {
            out.push(b'"');
            out.extend_from_slice(&text);
            out.push(b'"');
        }
        // Writing to a `Vec` cannot fail.
        None => {
            let _ = write!(out, "\"{at}\"");
        }
    }
}

fn number(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// A JSON string escaped as serde_json escapes it: `"` and `\\`, control bytes as `\\n`-style
/// or `\\u00XX` escapes, everything else (DEL and non-ASCII included) as is.
fn string(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut start = 0;
    while let Some(i) = next_escaped(bytes, start) {
        out.extend_from_slice(&bytes[start..i]);
        escape_byte(out, bytes[i]);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// The index of the first byte at or after `from` that JSON escapes. Nearly every string of
/// a report (addresses, paths) has none: eight bytes are tested at once.
#[inline]
fn next_escaped(bytes: &[u8], from: usize) -> Option<usize> {
    next_marked(bytes, from, escaped_bytes)
}

/// The top bit of each byte of `word` that JSON escapes (a control byte, `"` or `\\`), the
/// others clear. Exact per byte: the top bits are set aside so no addition carries into the
/// next byte.
#[inline(always)]
fn escaped_bytes(word: u64) -> u64 {
    // Top bit set where the byte is 0x20 or above.
    let printable = ((word & LOW_BITS) + BYTES * (0x80 - 0x20)) | word;
    let quote = nonzero_bytes(word ^ (BYTES * u64::from(b'"')));
    let backslash = nonzero_bytes(word ^ (BYTES * u64::from(b'\\')));
    !(printable & quote & backslash) & TOP_BITS
}

fn escape_byte(out: &mut Vec<u8>, b: u8) {
    let escape: &[u8] = match b {
        b'"' => b"\\\"",
        b'\\' => b"\\\\",
        b'\n' => b"\\n",
        b'\r' => b"\\r",
        b'\t' => b"\\t",
        0x08 => b"\\b",
        0x0c => b"\\f",
        _ => {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(b"\\u00");
            out.push(HEX[(b >> 4) as usize]);
            out.push(HEX[(b & 15) as usize]);
            return;
        }
    };
    out.extend_from_slice(escape);
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
    use crate::render::{sample_report, BATCH};

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
        let mut first = vec![ip.clone(); BATCH * 7 + 3];
        report.days[1].period.suspicious_ips = vec![ip.clone(); BATCH * 2].into();
        // Every shape a client can take: no statuses, no paths, inexact paths, odd text.
        let odd = &mut first[1];
        odd.by_status = Default::default();
        odd.top_paths.clear();
        odd.paths_exact = false;
        odd.ip = "host\"with\\quote\u{1}".into();
        // A time the ISO form cannot show: the `Display` fallback.
        odd.last_seen.at = crate::scan::time::Timestamp {
            utc_secs: i64::MAX,
            offset_minutes: 0,
        };
        assert!(odd.last_seen.at.iso8601_bytes(false).is_none());
        let many = &mut first[2];
        many.by_status = [(400, 1), (401, 2), (404, u64::MAX)].into_iter().collect();
        many.top_paths[0].path = "/a\"b\\c\u{7f}".into();
        report.days[0].period.suspicious_ips = first.into();
        if let Some(last) = report.days.last_mut() {
            last.period.suspicious_ips = Default::default();
        }
        for threads in [1, 3] {
            assert_streams_as_serde_writes(&report, threads);
        }
        report.days.clear();
        report.weeks.clear();
        let mut expected = serde_json::to_vec_pretty(&report).unwrap();
        expected.push(b'\n');
        assert_eq!(render(&report), expected);
    }

    #[test]
    fn many_inputs_render_in_batches_as_serde_writes_them() {
        let mut report = sample_report();
        let first = report.inputs[0].clone();
        let mut inputs = vec![first; BATCH * 3 + 1];
        inputs[1].path = "access \"odd\\name\u{1}.log".into();
        inputs[2].error = Some("line one\nline two".into());
        // Every shape an input takes (the entries are rendered by hand, not by serde).
        let odd = &mut inputs[3];
        odd.format = None;
        odd.compressed = !odd.compressed;
        odd.gzip_members = None;
        odd.file_bytes = None;
        odd.bytes = u64::MAX;
        odd.counts.malformed_by_reason.0 = std::array::from_fn(|i| i as u64 * 1000 + 1);
        odd.malformed_lines = vec![crate::summary::MalformedLine {
            line: 9,
            reason: "bad_time",
        }];
        odd.warnings = vec!["one \"warning\"".into()];
        odd.duplicate_of = Some("access.log".into());
        let many = &mut inputs[4];
        many.gzip_members = Some(3);
        many.counts = crate::summary::LineCounts {
            lines: 5,
            parsed: 2,
            blank: 1,
            malformed: 3,
            ..Default::default()
        };
        many.malformed_lines = (1..4)
            .map(|line| crate::summary::MalformedLine {
                line,
                reason: "bad_size",
            })
            .collect();
        many.warnings = vec!["first".into(), "second\u{7}".into()];
        (many.duplicate_lines, many.duplicate_bytes) = (12, 3456);
        let count = inputs.len();
        report.inputs = inputs;
        for (threads, inputs) in [(1, count), (3, count), (2, 1), (2, 0)] {
            report.inputs.truncate(inputs);
            assert_streams_as_serde_writes(&report, threads);
        }
    }

    /// [`render_to`] on a pool of `threads` gives serde's pretty JSON and a newline.
    fn assert_streams_as_serde_writes(report: &Report, threads: usize) {
        let mut expected = serde_json::to_vec_pretty(report).unwrap();
        expected.push(b'\n');
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let mut got = Vec::new();
        pool.install(|| render_to(report, &mut got)).unwrap();
        assert_eq!(
            String::from_utf8(got).unwrap(),
            String::from_utf8(expected).unwrap(),
            "{} inputs, {threads} threads",
            report.inputs.len()
        );
    }

    #[test]
    fn strings_escape_like_serde() {
        let samples = [
            "",
            "plain /wp-login.php",
            "quote \" backslash \\ end",
            "\u{0}\u{1}\u{8}\u{9}\u{a}\u{b}\u{c}\u{d}\u{1f} \u{7f} é ☃",
        ];
        for s in samples {
            let mut out = Vec::new();
            string(&mut out, s);
            assert_eq!(out, serde_json::to_vec(s).unwrap(), "{s:?}");
        }
        for n in [0u64, 7, 409, u64::MAX] {
            let mut out = Vec::new();
            number(&mut out, n);
            assert_eq!(out, n.to_string().into_bytes());
        }
    }

    #[test]
    fn escaped_bytes_marks_exactly_what_json_escapes() {
        crate::word::assert_word_marks(escaped_bytes, *b"abcdefgh", |b| {
            b < 0x20 || b == b'"' || b == b'\\'
        });
    }

    proptest::proptest! {
        #[test]
        fn any_string_escapes_like_serde(s in "(?s)[\\x00-\\x7f\u{e9}\u{2603}]{0,40}") {
            let mut out = Vec::new();
            string(&mut out, &s);
            proptest::prop_assert_eq!(out, serde_json::to_vec(&s).unwrap());
        }
    }
}
