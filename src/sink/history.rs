//! History sink: one timestamped record per run, appended to a human-readable file
//! (`log/monitoring.log`) and to its JSON-lines twin beside it (`history.jsonl`).
//!
//! Invariant: a record is built whole in memory and written with ONE `write(2)` on an
//! `O_APPEND` descriptor, so concurrent runs never interleave and a killed run leaves either
//! its whole record or nothing; a short write is reported as an error. Records hold only our
//! own text and already-escaped strings, and every byte outside printable ASCII is escaped
//! again here, so a log can never forge a record boundary or reach a terminal raw. Neither
//! file name starts with `access`, so discovery never analyzes the history.

use anyhow::Context;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Every human-readable record starts with this, at the start of a line.
pub const RECORD_START: &str = "=== ";
pub const JSONL_NAME: &str = "history.jsonl";

/// One run's record.
#[derive(Debug, Clone)]
pub struct Record {
    /// RFC 3339 local time of the run.
    pub time: String,
    /// What ran, e.g. `collect --analyze` or `report 2023-W25`.
    pub title: String,
    /// Body lines (no newlines inside).
    pub lines: Vec<String>,
    /// The machine-readable twin; `time` and `title` are added to it.
    pub json: serde_json::Map<String, serde_json::Value>,
}

impl Record {
    pub fn new(title: impl Into<String>) -> Self {
        Record {
            time: chrono::Local::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
            title: title.into(),
            lines: Vec::new(),
            json: serde_json::Map::new(),
        }
    }

    /// The human-readable record: a header line, indented body lines, a blank line.
    pub fn text(&self) -> String {
        let mut out = format!(
            "{RECORD_START}{} {}\n",
            printable(&self.time),
            printable(&self.title)
        );
        for line in &self.lines {
            out.push_str("    ");
            out.push_str(&printable(line));
            out.push('\n');
        }
        out.push('\n');
        out
    }

    /// The JSON-lines record (one line, keys sorted, ASCII only: serde_json escapes control characters,
    /// and the strings in it are already escaped).
    pub fn json_line(&self) -> anyhow::Result<String> {
        let mut obj = serde_json::Map::new();
        obj.insert("time".into(), self.time.clone().into());
        obj.insert("title".into(), printable(&self.title).into());
        for (k, v) in &self.json {
            obj.insert(k.clone(), v.clone());
        }
        let mut line = serde_json::to_string(&obj).context("cannot encode history record")?;
        line.push('\n');
        Ok(line)
    }
}

/// Escape bytes outside printable ASCII (backslashes kept: the input is already escaped).
fn printable(s: &str) -> String {
    if s.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if (0x20..=0x7e).contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// The JSON-lines twin of a history file.
pub fn jsonl_path(history: &Path) -> PathBuf {
    crate::collect::state::parent(history).join(JSONL_NAME)
}

/// Append `bytes` with exactly one `write(2)` on an `O_APPEND` descriptor.
pub fn append_once(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let shown = crate::escape::path(path);
    let dir = crate::collect::state::parent(path);
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create {}", crate::escape::path(dir)))?;
    let mut file = OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .with_context(|| format!("cannot open history {shown}"))?;
    let n = loop {
        match file.write(bytes) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            other => break other,
        }
    }
    .with_context(|| format!("cannot append to history {shown}"))?;
    if n != bytes.len() {
        anyhow::bail!(
            "cannot append to history {shown}: short write ({n} of {} bytes; disk full?)",
            bytes.len()
        );
    }
    Ok(())
}

/// Append the record to `history` and its JSON-lines twin.
pub fn append(history: &Path, record: &Record) -> anyhow::Result<()> {
    let json = record.json_line()?;
    append_once(history, record.text().as_bytes())?;
    append_once(&jsonl_path(history), json.as_bytes())
}

/// Split a human-readable history into whole records (each starting with [`RECORD_START`]).
pub fn records(text: &str) -> Vec<&str> {
    let mut starts: Vec<usize> = Vec::new();
    let mut pos = 0;
    for line in text.split_inclusive('\n') {
        if line.starts_with(RECORD_START) {
            starts.push(pos);
        }
        pos += line.len();
    }
    starts.push(text.len());
    starts.windows(2).map(|w| &text[w[0]..w[1]]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_text_and_json_are_escaped() {
        let mut r = Record::new("collect --analyze");
        r.time = "2024-01-02T00:05:00+01:00".into();
        r.lines
            .push("archive access_2024-01-02.log: 3 lines".into());
        r.lines.push("evil\n=== forged\x1b[2J".into());
        r.json.insert("lines".into(), 3.into());
        assert_eq!(
            r.text(),
            "=== 2024-01-02T00:05:00+01:00 collect --analyze\n    archive access_2024-01-02.log: 3 lines\n    evil\\x0a=== forged\\x1b[2J\n\n"
        );
        assert_eq!(
            r.json_line().unwrap(),
            "{\"lines\":3,\"time\":\"2024-01-02T00:05:00+01:00\",\"title\":\"collect --analyze\"}\n"
        );
        assert_eq!(records(&(r.text() + &r.text())).len(), 2);
    }

    #[test]
    fn appends_beside() {
        let dir = tempfile::tempdir().unwrap();
        let h = dir.path().join("monitoring.log");
        let r = Record::new("t");
        append(&h, &r).unwrap();
        append(&h, &r).unwrap();
        let text = std::fs::read_to_string(&h).unwrap();
        assert_eq!(records(&text).len(), 2);
        let jl = std::fs::read_to_string(dir.path().join("history.jsonl")).unwrap();
        assert_eq!(jl.lines().count(), 2);
    }
}
