//! `logwarden collect`: archive what is new in the live log, optionally analyze it and record
//! the result in the history (the seed's cron job, made rotation-safe).
//!
//! Invariant: every failure to collect (missing source, lock held, I/O, bad analysis
//! settings, checked first) is fatal (exit 2) and creates no archive (but one: the state's
//! commit failing after the archive's rename, which the error names and the next run
//! finishes); the analysis runs only
//! on the archives not yet recorded (this run's, and any an earlier run committed but did not
//! record: the state file lists them until their record is written, under the lock), so a
//! line is analyzed and recorded in the history once (a run killed between its record and
//! the state's update leaves the archive listed; the next run finds it in the record's
//! `recorded_archives` and only notes it);
//! once an archive is committed its record is appended whatever fails after (the analysis,
//! stdout), with the failure in it.

use crate::cli::{AnalyzeArgs, CollectArgs};
use crate::collect::{self, Collected, Options};
use crate::config::FileConfig;
use crate::sink::file::write_output;
use crate::sink::history::{self, Record};
use crate::summary::Report;
use crate::{render, Outcome};
use std::path::{Path, PathBuf};

pub fn run(args: CollectArgs, file: &FileConfig) -> anyhow::Result<Outcome> {
    let opts = Options {
        source: args.source.clone(),
        dest: args.dest.clone(),
        today: chrono::Local::now().date_naive(),
        compress_after: args.compress_after,
        // Recorded runs keep their archives listed until the record is written; a run with
        // --no-history analyzes its own archive only and leaves the list to recorded runs.
        record: args.analyze && !args.no_history,
        crash_at: None,
        before_copy: None,
    };
    // The detection flags act only on an analysis: given without one, they would be ignored.
    if let (false, Some(flag)) = (args.analyze, args.detection.first_given()) {
        anyhow::bail!("{flag} is used only with --analyze");
    }
    // The history is appended to: named as the live log (or one of its rotated files), its
    // records would come back as log lines in the next archive.
    if args.analyze && !args.no_history {
        for history in [args.history.clone(), history::jsonl_path(&args.history)] {
            if collect::siblings::is_log_of(&args.source, &history) {
                anyhow::bail!(
                    "--history: {} is {}, one of its rotated files or a link to one; the history would be collected as log lines",
                    crate::escape::path(&history),
                    crate::escape::path(&args.source)
                );
            }
        }
    }
    // A link or a device as the history would fail the record only after the archive is
    // made. (A failure of its text file after its twin is the record's too, noted as such:
    // see `history::append`.)
    if args.analyze && !args.no_history {
        history::check_names(&args.history)?;
        history::check_file(&args.history)?;
    }
    // Settings checked before anything is collected: once an archive is committed, the next
    // run finds nothing new, so a bad value found after it would leave it unanalyzed. Without
    // --analyze a bad `[analyze]` value in the config file is said by the daily run (not first
    // by the weekly report that needs it), but does not stop the collection: refused, the
    // lines would wait in the live log for a rotation that may delete them.
    match crate::cmd::analyze::check_settings(&analyze_args(&args, Vec::new()), file) {
        Err(e) if args.analyze => return Err(e),
        Err(e) => crate::stderr_line!(
            "logwarden: warning: {e:#} (not used by collect without --analyze; analyze and report refuse it)"
        ),
        Ok(()) => {}
    }
    let got = collect::collect(&opts)?;
    let mut text = summary_text(&args.source, &got);
    // A rotated file that could not be read (or the last live file not found) may hold lines
    // not collected: exit 1, as for an input `analyze` could not read.
    let mut outcome = match got.possible_losses {
        0 => Outcome::Clean,
        _ => Outcome::InputErrors,
    };
    let mut report = None;
    let mut failed = None;
    let mut text_missing = None;
    // This run's archive and any an earlier run committed without recording it (killed
    // during its analysis, or interrupted before its commit): the lock is still held.
    // Each with the id its record gives it.
    let mut archives: Vec<(PathBuf, String)> = match opts.record {
        true => got
            .unrecorded
            .iter()
            .cloned()
            .zip(got.unrecorded_ids.iter().cloned())
            .collect(),
        false => got
            .archive
            .iter()
            .map(|a| (a.clone(), String::new()))
            .collect(),
    };
    // An earlier run's archive that its record names: that run was killed after appending
    // the record, before the state file noted it. Noted now, not analyzed or recorded again.
    let earlier = archives
        .iter()
        .filter(|(a, _)| Some(a) != got.archive.as_ref());
    if opts.record && earlier.count() > 0 {
        match history::recorded_archives(&args.history) {
            Ok(ids) => archives.retain(|(a, id)| {
                let done = ids.contains(id);
                if done {
                    text.push_str(&format!(
                        "Archive {} was recorded by an earlier run that stopped before noting it; not recorded again\n",
                        crate::escape::path(a)
                    ));
                }
                !done
            }),
            // Recorded again rather than left out of the history.
            Err(e) => crate::stderr_line!(
                "logwarden: warning: {e:#}; archives of earlier runs are recorded again"
            ),
        }
    }
    if args.analyze && !archives.is_empty() {
        let paths = archives.iter().map(|(a, _)| a.clone()).collect();
        match crate::cmd::analyze::analyze(&analyze_args(&args, paths), file) {
            Ok(r) => {
                text.push('\n');
                text.push_str(&render::text::render(&r));
                if r.totals.files_with_errors > 0 {
                    outcome = Outcome::InputErrors;
                }
                report = Some(r);
            }
            Err(e) => failed = Some(e),
        }
    }
    let printed = write_output(Path::new("-"), text.as_bytes());
    for w in &got.warnings {
        crate::stderr_line!("logwarden: warning: {w}");
    }
    // Recorded whatever happened after the archive was committed (the analysis failed, stdout
    // was closed): the archive is in the history once, with what became of it.
    if args.analyze && !args.no_history {
        let mut rec = record(&args.source, &got, &archives, report.as_ref());
        if let Some(e) = &failed {
            let why = crate::escape::text(&format!("{e:#}"));
            rec.lines.push(format!("analysis failed: {why}"));
            rec.json
                .insert("analysis_error".into(), serde_json::Value::String(why));
        }
        match history::append(&args.history, &rec) {
            Ok(()) => {}
            // In the JSON-lines twin, which later runs consult: recorded, though the text
            // file is short of it until the next record's run copies it there.
            Err(history::AppendError::TextMissing(e)) => text_missing = Some(e),
            Err(e) => return Err(e.into()),
        }
    }
    // Recorded: out of the list. A run killed before this leaves them for the next one.
    if opts.record && !got.unrecorded.is_empty() {
        collect::recorded(&args.dest, &got.unrecorded)?;
    }
    drop(got);
    // The first failure is returned; the others are printed, none lost. (A closed stdout
    // is no failure: `main` treats it as success.)
    let mut failures = [failed, text_missing, printed.err()].into_iter().flatten();
    if let Some(first) = failures.next() {
        for other in failures {
            if !crate::is_broken_pipe(&other) {
                crate::stderr_line!("logwarden: error: {other:#}");
            }
        }
        return Err(first);
    }
    Ok(outcome)
}

/// The analysis of `archives` that `--analyze` runs.
fn analyze_args(args: &CollectArgs, archives: Vec<std::path::PathBuf>) -> AnalyzeArgs {
    AnalyzeArgs {
        paths: archives,
        detection: args.detection.clone(),
        quiet: true,
        // Archives of one collector never share a line: one that starts with another's
        // whole content (identical lines of one second, a burst from one client) is no
        // copy of it, and skipping that part would hide those failed requests.
        keep_duplicates: true,
        ..AnalyzeArgs::default()
    }
}

/// What was collected, in words.
pub fn summary_text(source: &Path, got: &Collected) -> String {
    let mut out = String::new();
    if let Some(msg) = &got.recovered {
        out.push_str(&format!("Recovered: {msg}\n"));
    }
    match &got.archive {
        Some(archive) => {
            out.push_str(&format!(
                "Collected {} lines ({} bytes) into {}\n",
                got.lines,
                got.bytes,
                crate::escape::path(archive)
            ));
            for p in &got.parts {
                out.push_str(&format!(
                    "  from {} (at byte {}): {} lines, {} bytes\n",
                    p.name, p.from, p.lines, p.bytes
                ));
            }
        }
        None => out.push_str(&format!(
            "Nothing new in {} since the last collect; no archive written.\n",
            crate::escape::path(source)
        )),
    }
    for c in &got.compressed {
        out.push_str(&format!("Compressed {}\n", crate::escape::path(c)));
    }
    out
}

/// The history record of one `collect --analyze` run: per day, what was flagged.
fn record(
    source: &Path,
    got: &Collected,
    archives: &[(PathBuf, String)],
    report: Option<&Report>,
) -> Record {
    use serde_json::json;
    let mut r = Record::new("collect --analyze");
    let archive = got.archive.as_deref().map(crate::escape::path);
    match &archive {
        Some(a) => r
            .lines
            .push(format!("archive {a}: {} lines collected", got.lines)),
        None => r.lines.push(format!(
            "nothing new in {} since the last collect",
            crate::escape::path(source)
        )),
    }
    // Archives of earlier runs that did not record them (all but this run's own).
    let earlier: Vec<String> = archives
        .iter()
        .map(|(a, _)| a)
        .filter(|a| Some(*a) != got.archive.as_ref())
        .map(|a| crate::escape::path(a))
        .collect();
    for a in &earlier {
        r.lines.push(format!(
            "archive {a}: created by an earlier run that did not record it, analyzed now"
        ));
    }
    for w in &got.warnings {
        r.lines.push(format!("warning: {w}"));
    }
    let mut days = Vec::new();
    if let Some(rep) = report {
        // Lines in no day: the days' lines alone would not add up to what was collected.
        let c = &rep.totals.counts;
        let reasons: Vec<String> = crate::scan::Malformed::ALL
            .iter()
            .zip(c.malformed_by_reason.0)
            .filter(|(_, n)| *n > 0)
            .map(|(reason, n)| format!("{} {n}", reason.name()))
            .collect();
        let mut unparsed = Vec::new();
        if c.malformed > 0 {
            unparsed.push(format!(
                "{} malformed ({})",
                c.malformed,
                reasons.join(", ")
            ));
        }
        if c.blank > 0 {
            unparsed.push(format!("{} blank", c.blank));
        }
        if !unparsed.is_empty() {
            r.lines
                .push(format!("lines in no day: {}", unparsed.join(", ")));
        }
        r.json.insert("malformed".into(), json!(c.malformed));
        r.json
            .insert("malformed_by_reason".into(), json!(c.malformed_by_reason));
        r.json.insert("blank".into(), json!(c.blank));
        for d in &rep.days {
            let p = &d.period;
            let mut line = format!(
                "{}: {} lines, {} failed, {} status-400",
                d.date, p.lines, p.failed, p.status_400
            );
            if p.unusual_400 {
                line.push_str(&format!(
                    "; Unusual amount of 400 errors detected: {}",
                    p.status_400
                ));
            }
            if p.suspicious_ips.is_empty() && !p.unusual_400 {
                line.push_str("; No unusual login attempts or errors found.");
            }
            r.lines.push(line);
            for ip in p.suspicious_ips.iter() {
                r.lines.push(format!(
                    "  IP: {} - Failed login attempts: {}",
                    ip.ip, ip.failed
                ));
            }
            days.push(json!({
                "date": d.date,
                "lines": p.lines,
                "failed": p.failed,
                "status_400": p.status_400,
                "unusual_400": p.unusual_400,
                "suspicious_ips": p.suspicious_ips,
            }));
        }
    }
    r.json.insert("command".into(), "collect".into());
    r.json.insert("archive".into(), json!(archive));
    r.json.insert("earlier_archives".into(), json!(earlier));
    // How the next run tells that these were recorded (see `history::recorded_archives`).
    let ids: Vec<&String> = archives.iter().map(|(_, id)| id).collect();
    r.json.insert("recorded_archives".into(), json!(ids));
    r.json.insert("warnings".into(), json!(got.warnings));
    r.json.insert("lines_collected".into(), got.lines.into());
    r.json.insert("days".into(), days.into());
    r
}
