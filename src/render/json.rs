//! JSON renderer: the versioned report (`schema_version`), documented in `docs/json-schema.md`.
//!
//! Invariant: deterministic bytes for a given report (fixed key order, sorted lists, no
//! timestamps), pretty-printed with a final newline.

use crate::summary::Report;

pub fn render(report: &Report) -> Vec<u8> {
    let mut out = serde_json::to_vec_pretty(report).unwrap_or_else(|e| {
        // Serialising plain structs of numbers and ASCII strings cannot fail; keep the
        // failure visible rather than panicking if that ever changes.
        format!(
            "{{\"error\": \"cannot serialise report: {}\"}}",
            crate::escape::text(&e.to_string())
        )
        .into_bytes()
    });
    out.push(b'\n');
    out
}
