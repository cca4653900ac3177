//! JSON renderer: the versioned report (`schema_version`), documented in `docs/json-schema.md`.
//!
//! Invariant: deterministic bytes for a given report (fixed key order, sorted lists, no
//! timestamps), pretty-printed with a final newline. [`render_to`] streams them; [`render`]
//! is the same bytes in memory.

use crate::summary::Report;
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

/// Write the report's JSON to `w` as it is serialised (no copy of it in memory).
pub fn render_to(report: &Report, w: &mut dyn Write) -> io::Result<()> {
    write_pretty(report, w)
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
}
