//! `logwarden report`: the weekly (or date-range) summary from the archives, as text and
//! JSON and HTML, optionally mailed, recorded in the history.
//!
//! Invariants: with `--email` the text, JSON and HTML are written to disk before any send is
//! tried (default `report-<period>.txt` / `.json` / `.html` beside the history), so a failed send loses
//! nothing; the history record is appended only after the whole run succeeded, so a retry
//! after an SMTP failure leaves exactly one record. A failed send is exit 1.

use crate::cli::{AnalyzeArgs, ReportArgs};
use crate::config::FileConfig;
use crate::sink::email;
use crate::sink::file::{check_destinations, text_report_place, write_output, write_output_with};
use crate::sink::history::{self, Record};
use crate::weekly::{self, Range};
use crate::{render, Outcome};
use anyhow::Context;
use std::path::{Path, PathBuf};

fn range(args: &ReportArgs, file: &FileConfig) -> anyhow::Result<Range> {
    match (&args.since, &args.until) {
        (Some(s), Some(u)) => weekly::parse_range(s, u),
        _ => weekly::parse_week(
            args.week.as_deref().unwrap_or("last"),
            today(crate::config::resolve_utc(&args.detection, &file.analyze)),
        ),
    }
}

/// The day `last` counts back from: in UTC when the lines' days are UTC days. East of UTC,
/// Monday morning's local date is a UTC Sunday whose lines are not all written yet: `last`
/// by the local date would report that week short, and no later run would report it again.
fn today(utc: bool) -> chrono::NaiveDate {
    today_at(utc, chrono::Utc::now(), *chrono::Local::now().offset())
}

fn today_at(
    utc: bool,
    now: chrono::DateTime<chrono::Utc>,
    local: chrono::FixedOffset,
) -> chrono::NaiveDate {
    match utc {
        true => now.date_naive(),
        false => now.with_timezone(&local).date_naive(),
    }
}

/// The history records about the period: a record that reports days (a `collect --analyze`
/// record has a `    YYYY-MM-DD: ...` line per day) belongs to the weeks of those days, so
/// the Monday 00:05 run that covers Sunday is mailed with Sunday's week; any other record
/// (a `report` run, nothing collected) to the week of its own timestamp.
pub fn history_in(history: &Path, r: Range) -> Vec<u8> {
    // Other text may share the file (a cron job's output appended to it, in any encoding):
    // read lossily, and each record is cut at its end, the first empty line (body lines are
    // indented, never empty), so only our own records are attached.
    // A regular file only: `--history /dev/zero` was read until memory ran out.
    let mut bytes = Vec::new();
    let read = crate::input::source::open_regular(history)
        .and_then(|mut f| std::io::Read::read_to_end(&mut f, &mut bytes));
    if read.is_err() {
        return Vec::new();
    }
    let text = String::from_utf8_lossy(&bytes);
    let (start, end) = (r.start.to_string(), r.end.to_string());
    let in_range = |d: &str| d >= start.as_str() && d <= end.as_str();
    history::records(&text)
        .into_iter()
        .map(|rec| rec.find("\n\n").map_or(rec, |end| &rec[..end + 2]))
        .filter(|rec| {
            let mut days = rec.lines().filter_map(reported_day).peekable();
            if days.peek().is_some() {
                return days.any(in_range);
            }
            rec.strip_prefix(history::RECORD_START)
                .and_then(|t| t.get(..10))
                .is_some_and(in_range)
        })
        .collect::<String>()
        .into_bytes()
}

/// A warning when the archives end before the period does: they were last collected (the
/// newest input's modification time, or that of a `collect` state file among them, which
/// every collect writes) before the period's last day ended in the log's own time (the
/// offset of the last dated line of the newest input that has one; UTC with `--utc`). What
/// the server logged since is still in the live log. A collect at 00:05 in Berlin is 23:05
/// UTC on Sunday: a Monday report of a log kept in UTC left out the week's last hour, and
/// said nothing.
/// `None` where it cannot be told (stdin, no file, no dated line).
fn collected_before_the_end(paths: &[PathBuf], r: Range, utc: bool) -> Option<String> {
    let inputs = crate::input::discover::discover(paths).ok()?;
    let modified = |p: &Path| {
        std::fs::metadata(p)
            .ok()
            .filter(|m| m.is_file())
            .and_then(|m| m.modified().ok())
    };
    let mut collected: Option<std::time::SystemTime> = None;
    let mut files: Vec<(std::time::SystemTime, &Path)> = Vec::new();
    for input in &inputs {
        match input {
            crate::input::Input::File(p, _) => {
                let Some(written) = modified(p) else { continue };
                collected = collected.max(Some(written));
                files.push((written, p));
            }
            crate::input::Input::Stdin => return None,
            crate::input::Input::Unusable(..) => {}
        }
    }
    for dir in paths.iter().filter(|p| p.is_dir()) {
        collected = collected.max(modified(&crate::collect::state::path(dir)));
    }
    let offset_minutes = match utc {
        true => 0,
        // The newest input with a dated line (a quiet day's archive may have none): a few
        // are tried, newest first.
        false => {
            files.sort_unstable_by(|a, b| b.cmp(a));
            files
                .iter()
                .take(8)
                .find_map(|&(_, p)| last_line_offset(p))?
        }
    };
    let secs = |t: std::time::SystemTime| {
        t.duration_since(std::time::UNIX_EPOCH)
            .ok()
            .and_then(|d| i64::try_from(d.as_secs()).ok())
    };
    let collected = secs(collected?)?;
    let end_day = r.end.succ_opt()?;
    let end = end_day.and_hms_opt(0, 0, 0)?.and_utc().timestamp() - i64::from(offset_minutes) * 60;
    if collected >= end {
        return None;
    }
    let offset = match utc {
        true => "UTC (--utc)".to_string(),
        false => {
            let stamp = crate::scan::time::Timestamp {
                utc_secs: 0,
                offset_minutes,
            }
            .iso8601(false);
            format!("{}, the log's offset", &stamp[stamp.len() - 6..])
        }
    };
    let at = |secs: i64| {
        chrono::DateTime::from_timestamp(secs, 0).map_or(String::new(), |t| {
            t.format("%Y-%m-%d %H:%M UTC").to_string()
        })
    };
    let now = secs(std::time::SystemTime::now())?;
    Some(match now < end {
        true => format!(
            "the period has not ended yet ({} 24:00 at {offset}): its figures are those collected so far",
            r.end
        ),
        false => format!(
            "the archives were last collected at {}, before the period ended ({} 24:00 at {offset}): what was logged after that is not in this report. Collect right before the report, or report later",
            at(collected),
            r.end,
        ),
    })
}

/// The UTC offset of the last dated line of a file (in its last 64 KiB of text), in minutes.
fn last_line_offset(path: &Path) -> Option<i32> {
    let tail = text_tail(path, 64 << 10)?;
    let scanners = [
        crate::scan::Format::Combined,
        crate::scan::Format::VhostCombined,
    ]
    .map(|f| crate::scan::LineScanner::new(f, false, 1 << 20));
    tail.split(|&b| b == b'\n').rev().find_map(|line| {
        scanners
            .clone()
            .iter_mut()
            .find_map(|s| match s.scan(line) {
                crate::scan::Line::Parsed(fields) => Some(fields.time.offset_minutes),
                _ => None,
            })
    })
}

/// The last `size` bytes of a file's text: a plain file's read from its end, a `.gz` file's
/// decoded whole (a day's archive, in a fraction of a second; all of them compressed was the
/// case with no plain file to read, and the check said nothing). A `.gz` cut short gives the
/// text before the cut.
fn text_tail(path: &Path, size: usize) -> Option<Vec<u8>> {
    use std::io::Read;
    use std::os::unix::fs::FileExt;
    let file = crate::input::source::open_regular(path).ok()?;
    if !crate::input::source::is_gzip(&file) {
        let len = file.metadata().ok()?.len();
        let start = len.saturating_sub(size as u64);
        let mut tail = vec![0u8; (len - start) as usize];
        file.read_exact_at(&mut tail, start).ok()?;
        return Some(tail);
    }
    let mut text = crate::input::source::GzipMembers::new(std::io::BufReader::new(file));
    let mut block = vec![0u8; 1 << 20];
    let mut tail = Vec::with_capacity(2 * size + block.len());
    loop {
        match text.read(&mut block) {
            Ok(0) | Err(_) => break,
            Ok(n) => tail.extend_from_slice(&block[..n]),
        }
        if tail.len() > 2 * size {
            tail.drain(..tail.len() - size);
        }
    }
    let cut = tail.len().saturating_sub(size);
    Some(tail.split_off(cut))
}

/// The day a record's body line reports on: `    YYYY-MM-DD: ...` (four spaces, no more).
fn reported_day(line: &str) -> Option<&str> {
    let day = line.strip_prefix("    ")?.get(..10)?;
    let b = day.as_bytes();
    let shaped = b.iter().enumerate().all(|(i, c)| match i {
        4 | 7 => *c == b'-',
        _ => c.is_ascii_digit(),
    });
    (shaped && line[14..].starts_with(": ")).then_some(day)
}

pub fn run(args: ReportArgs, file: &FileConfig) -> anyhow::Result<Outcome> {
    let r = range(&args, file)?;
    let analyze_args = AnalyzeArgs {
        paths: args.paths.clone(),
        quiet: args.quiet,
        detection: args.detection,
        ..AnalyzeArgs::default()
    };
    let label = r.label();
    let beside = |ext: &str| -> PathBuf {
        crate::collect::state::parent(&args.history).join(format!("report-{label}.{ext}"))
    };
    // A dry run writes its message, prints the text as a run without mail does, and leaves
    // no trace where the real run keeps its files: no history record (the real run's mail
    // attaches the history) and no `report-<period>.*` beside it (they would replace the
    // ones a real run kept).
    let rehearsal = args.email && args.dry_run;
    let eml_path = rehearsal.then(|| {
        args.eml
            .clone()
            .unwrap_or_else(|| PathBuf::from(format!("logwarden-report-{label}.eml")))
    });
    let sends = args.email && !rehearsal;
    let report_path = args.report.clone().or_else(|| sends.then(|| beside("txt")));
    let json_path = args.json.clone().or_else(|| sends.then(|| beside("json")));
    let html_path = args.html.clone().or_else(|| sends.then(|| beside("html")));
    let text_path = text_report_place(
        report_path.as_deref(),
        &[
            json_path.as_deref(),
            html_path.as_deref(),
            eml_path.as_deref(),
        ],
    );
    let history_paths = (!args.no_history && !rehearsal)
        .then(|| (args.history.clone(), history::jsonl_path(&args.history)));
    // Checked before the analysis: a mistake here should not cost a long run. Every file
    // this run writes or appends to: none may be another, nor an input.
    let outputs = [
        ("--json", json_path.as_deref()),
        ("--html", html_path.as_deref()),
        ("--report", text_path),
        ("--eml", eml_path.as_deref()),
        (
            "--history",
            history_paths.as_ref().map(|(text, _)| text.as_path()),
        ),
        (
            "--history's JSON-lines twin",
            history_paths.as_ref().map(|(_, jsonl)| jsonl.as_path()),
        ),
    ];
    // (The history is appended to after the mail is sent: a directory there, or a file this
    // user may not write, failed the run after the mail went out, and a retry mailed it
    // again.)
    check_destinations(&outputs)?;
    // The mail settings too: a missing `[email]` should not cost a long run, nor leave the
    // report files written with nothing sent.
    if let (true, Some(why)) = (args.email, &file.mail_invalid) {
        anyhow::bail!("{why}");
    }
    let mail = match args.email {
        true => Some(email::resolve(file.email.as_ref(), &label).map_err(in_config_file(file))?),
        false => None,
    };
    // A dry run sends nothing and needs no `[smtp]`; one that is there is checked all the
    // same, so the rehearsal finds what the real run would trip on.
    let smtp = match args.email && (!args.dry_run || file.smtp.is_some()) {
        true => Some(email::check_smtp(file.smtp.as_ref()).map_err(in_config_file(file))?),
        false => None,
    };
    // The settings and the inputs too: a run that cannot find its logs (a typo, cron
    // started in another folder) must say so and make nothing. The history's files were made
    // first, and `log/` with them: the run then said that `log` held no access logs.
    crate::cmd::analyze::check_settings(&analyze_args, file)?;
    crate::cmd::analyze::check_inputs(&analyze_args, file)?;
    // Last, as it makes the history's files where missing: nothing is made for a run that
    // stops at a check above.
    match &history_paths {
        Some((history_path, _)) => {
            history::check_appendable(history_path)?;
            // A record of a run killed before its text was written is put back now, before
            // the mail attaches the period's records.
            history::repair(history_path)?;
        }
        // A rehearsal appends nothing, but attaches the history's records.
        None if args.email => history::check_regular(&args.history)?,
        None => {}
    }
    // A period mailed already is not mailed again unless asked: a retried cron job or a
    // timer catching up would send the manager the week twice. Checked and recorded under
    // one lock (on the history's folder), held to the end of the run.
    let _mailing = sends
        .then(|| history::lock_mailing(&args.history))
        .transpose()?;
    if sends && !args.resend {
        if let Some(sent) =
            history::mailed(&args.history, &r.start.to_string(), &r.end.to_string())?
        {
            crate::stderr_line!(
                "logwarden: {label} was mailed already, to {} at {} (recorded in {}): nothing sent; --resend mails it again",
                crate::escape::text(&sent.to),
                crate::escape::text(&sent.time),
                crate::escape::path(&history::jsonl_path(&args.history))
            );
            return Ok(Outcome::Clean);
        }
    }
    // The report files go beside the history, which may not exist yet (its writer creates
    // it, but only after they are written).
    if sends && (args.report.is_none() || args.json.is_none() || args.html.is_none()) {
        let dir = crate::collect::state::parent(&args.history);
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create {}", crate::escape::path(dir)))?;
    }
    let prev = r.previous();
    let ranges = [
        ((r.start, r.end), Some((prev.start, prev.end))),
        ((prev.start, prev.end), None),
    ];
    let report =
        crate::cmd::analyze::analyze_for(&analyze_args, file, &outputs, &ranges, weekly::TOP_IPS)?;
    let mut w = weekly::build(&report, r);
    // A period of which no line was read shows no failed request, no suspicious IP and "no
    // unusual login attempts" every day: the manager read an all-clear week where the logs
    // were missing (collect stopped, the archives moved). Not a period still to come.
    let today = match report.settings.utc {
        true => chrono::Utc::now().date_naive(),
        false => chrono::Local::now().date_naive(),
    };
    if w.totals.lines == 0 && r.start <= today {
        w.warnings.insert(
            0,
            format!(
                "no line dated {} to {} was read: its figures are empty for want of logs, which says nothing of the server's {} (were its logs collected into the inputs?)",
                r.start,
                r.end,
                match r.iso_week() {
                    Some(_) => "week",
                    None => "period",
                }
            ),
        );
    }
    let paths = crate::cmd::analyze::input_paths(&analyze_args, file)?;
    w.warnings
        .extend(collected_before_the_end(&paths, r, report.settings.utc));
    for warning in &w.warnings {
        crate::stderr_line!("logwarden: warning: {warning}");
    }
    let text = render::weekly::render(&w);
    let meta = render::html::Meta::now();
    // Mailed, the JSON and HTML are attachments and so are built in memory; otherwise they
    // stream to their files as they are rendered.
    let attached = if args.email {
        let mut json = Vec::new();
        render::json::write_pretty(&w, &mut json).context("cannot encode the report")?;
        Some((json, render::html::render(&report, &[r], &meta)))
    } else {
        None
    };

    if let Some(p) = &json_path {
        match &attached {
            Some((json, _)) => write_output(p, json)?,
            None => write_output_with(p, |out| render::json::write_pretty(&w, out))?,
        }
    }
    if let Some(p) = &html_path {
        match &attached {
            Some((_, html)) => write_output(p, html.as_bytes())?,
            None => write_output_with(p, |out| render::html::render_to(&report, &[r], &meta, out))?,
        }
    }
    if let Some(p) = text_path {
        write_output(p, text.as_bytes())?;
    }

    // The files written, to send by hand or to read whole (not stdout, a descriptor or
    // /dev/null).
    let kept: Vec<&Path> = [text_path, json_path.as_deref(), html_path.as_deref()]
        .into_iter()
        .flatten()
        .filter(|p| std::fs::metadata(p).is_ok_and(|m| m.is_file()))
        .collect();
    let mut sent_to = None;
    if let (Some((json, html)), Some(settings)) = (&attached, &mail) {
        // Said in a mail read elsewhere: the whole path, not the cron job's relative one.
        let whole_at: Vec<PathBuf> = kept
            .iter()
            .map(|p| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf()))
            .collect();
        let full_html = html_path
            .as_deref()
            .and_then(|h| kept.iter().position(|p| *p == h))
            .map(|i| crate::escape::path(&whole_at[i]));
        let cut = |rows: usize| {
            let meta = render::html::Meta {
                ip_rows: Some(rows),
                full_report: full_html.clone(),
                ..meta.clone()
            };
            (
                render::weekly::render_cut(&w, rows),
                render::html::render(&report, &[r], &meta),
            )
        };
        let report_mail = ReportMail {
            label: &label,
            text: &text,
            json,
            html,
            history: history_in(&args.history, r),
            history_path: &args.history,
            whole_at: &whole_at,
            rehearsal,
        };
        let message = report_mail.message(settings, cut)?;
        if let Some(eml) = &eml_path {
            // Like the reports: `-` or a descriptor is written through, a file replaced.
            write_output(eml, &message.formatted())?;
            crate::stderr_line!(
                "logwarden: message written to {} (not sent)",
                crate::escape::path(eml)
            );
        } else if let Err(e) = match &smtp {
            Some(smtp) => email::send(smtp, &message),
            // Not a rehearsal, so `[smtp]` was checked above; without it the run stopped.
            None => email::check_smtp(None).map(drop),
        } {
            crate::stderr_line!("logwarden: error: {e:#}");
            if !kept.is_empty() {
                crate::stderr_line!("logwarden: the report is kept in {}", shown(&kept));
            }
            return Ok(Outcome::InputErrors);
        } else {
            let to: Vec<String> = settings.to.iter().map(|m| m.to_string()).collect();
            sent_to = Some(to.join(", "));
        }
    }
    if let Some((history_path, _)) = &history_paths {
        let mut rec = Record::new(format!("report {label}"));
        let t = &w.totals;
        rec.lines.push(format!(
            "{} to {}: {} lines, {} failed requests, {} status-400 lines; {} day(s) with suspicious IPs, {} with unusual 400s",
            w.period.start, w.period.end, t.lines, t.failed, t.status_400,
            t.days_with_suspicious_ips, t.unusual_400_days
        ));
        if t.unusual_400 {
            rec.lines.push(format!(
                "Unusual amount of 400 errors detected: {}",
                t.status_400
            ));
        }
        for ip in &w.top_ips {
            rec.lines.push(format!(
                "IP: {} - Failed login attempts: {}",
                ip.ip.ip, ip.ip.failed
            ));
        }
        for warning in &w.warnings {
            rec.lines.push(format!("warning: {warning}"));
        }
        // Figures short of what could not be read say so here too: this record is what the
        // next mail attaches.
        for e in &w.input_errors {
            rec.lines.push(format!(
                "warning: {} could not be read completely, the figures leave out what was not read: {}",
                e.path, e.error
            ));
        }
        if let Some(to) = &sent_to {
            rec.lines
                .push(format!("mailed to {}", crate::escape::text(to)));
        }
        rec.json.insert("command".into(), "report".into());
        rec.json
            .insert("input_errors".into(), serde_json::json!(w.input_errors));
        rec.json
            .insert("warnings".into(), serde_json::json!(w.warnings));
        rec.json
            .insert("period".into(), serde_json::json!(w.period));
        rec.json
            .insert("totals".into(), serde_json::json!(w.totals));
        rec.json
            .insert("top_ips".into(), serde_json::json!(w.top_ips));
        rec.json
            .insert("mailed_to".into(), serde_json::json!(sent_to));
        history::append(history_path, &rec).map_err(|e| {
            let in_twin = matches!(e, history::AppendError::TextMissing(_));
            let e = anyhow::Error::from(e);
            match (&sent_to, in_twin) {
                // Said, or a rerun to get the record mails it a second time.
                (Some(to), false) => e.context(format!(
                    "the mail was sent to {}, but its history record was not written",
                    crate::escape::text(to)
                )),
                // The twin says it was mailed: a rerun sends nothing, and the next record's
                // run copies the record into the text file.
                (Some(to), true) => e.context(format!(
                    "the mail was sent to {} and recorded in {}, but not yet in the history",
                    crate::escape::text(to),
                    crate::escape::path(&history::jsonl_path(history_path))
                )),
                (None, _) => e,
            }
        })?;
    }
    // As `analyze` does: the period's figures are short of what could not be read. An
    // archive dated before the previous period cannot be: it is named, but is no failure.
    for input in report.inputs.iter().filter(|i| i.error.is_some()) {
        // Not in the period's list: `weekly::build` decided (`weekly::error_may_touch`).
        let old = !w.input_errors.iter().any(|e| e.path == input.path);
        crate::stderr_line!(
            "logwarden: {}: {}{}",
            input.path,
            input.error.as_deref().unwrap_or_default(),
            if old {
                " (dated before the period: not in its figures)"
            } else {
                ""
            }
        );
    }
    Ok(match w.input_errors.len() {
        0 => Outcome::Clean,
        _ => Outcome::InputErrors,
    })
}

/// The most IPs a table of a mail cut to its size limit lists.
const MAIL_IP_ROWS: usize = 100;

/// Paths, escaped, comma-separated.
fn shown(paths: &[&Path]) -> String {
    let shown: Vec<String> = paths.iter().map(|p| crate::escape::path(p)).collect();
    shown.join(", ")
}

/// What the mail carries: the text and the HTML as its body, the JSON, the HTML and the
/// period's history records attached.
struct ReportMail<'a> {
    label: &'a str,
    text: &'a str,
    json: &'a [u8],
    html: &'a str,
    history: Vec<u8>,
    history_path: &'a Path,
    /// The report files written, whole (absolute paths).
    whole_at: &'a [PathBuf],
    rehearsal: bool,
}

/// How far a mail over its size limit is cut, from the least to the most.
struct Cut {
    /// The most IPs a table or a day's list shows.
    ip_rows: usize,
    /// The JSON attached (gzipped) or left out.
    json: bool,
    /// The period's history records attached or left out (each `collect --analyze` record
    /// lists its day's flagged IPs).
    history: bool,
}

const CUTS: [Cut; 3] = [
    Cut {
        ip_rows: MAIL_IP_ROWS,
        json: true,
        history: true,
    },
    Cut {
        ip_rows: 10,
        json: true,
        history: false,
    },
    Cut {
        ip_rows: 10,
        json: false,
        history: false,
    },
];

impl ReportMail<'_> {
    /// The message, whole when it fits `[email] max_message_bytes`. A busy site's week
    /// (thousands of suspicious IPs, in the text's days, the HTML's tables, the JSON and the
    /// history's records) made messages of tens of megabytes, which servers refuse
    /// (Postfix's default limit is 10 MB), so the manager got nothing. Over the limit it is
    /// cut, step by step ([`CUTS`]) until it fits: fewer IPs listed (`cut` renders the text
    /// and the HTML with at most that many), the JSON gzipped then left out, the history's
    /// records left out; the text says what was cut and where the whole report is kept.
    fn message(
        &self,
        settings: &email::MailSettings,
        cut: impl Fn(usize) -> (String, String),
    ) -> anyhow::Result<lettre::Message> {
        let limit = settings.max_message_bytes;
        // Far over the limit, the whole message is not built to be measured: a busy week's
        // was 583 MB, and building it took 1.8 GB.
        let about = self.estimate();
        let size = match about > limit.saturating_mul(2) {
            true => format!("about {about}"),
            false => {
                let whole = self.build(
                    settings,
                    self.text,
                    self.html,
                    Some((self.json, false)),
                    true,
                )?;
                let size = whole.formatted().len() as u64;
                if size <= limit {
                    return Ok(whole);
                }
                size.to_string()
            }
        };
        let json_gz = gzip(self.json).context("cannot compress the JSON attachment")?;
        let mut built = None;
        for step in &CUTS {
            let (text, html) = cut(step.ip_rows);
            let json = step.json.then_some((&json_gz[..], true));
            let message = self.build(
                settings,
                &(self.note(limit, step) + &text),
                &html,
                json,
                step.history,
            )?;
            let cut_size = message.formatted().len() as u64;
            built = Some((message, cut_size));
            if cut_size <= limit {
                break;
            }
        }
        let Some((message, cut_size)) = built else {
            unreachable!("CUTS is not empty")
        };
        crate::stderr_line!(
            "logwarden: warning: the message would be {size} bytes, over [email] max_message_bytes ({limit}): cut to {cut_size} bytes{}",
            match (cut_size > limit, self.rehearsal) {
                (false, _) => "",
                (true, false) => "; still over it, sending it all the same",
                (true, true) => "; still over it",
            }
        );
        Ok(message)
    }

    /// About how many bytes the whole message takes, without building it: base64 (the HTML,
    /// twice, and the attachments) makes 4 bytes of 3 and a CRLF every 76; the text goes
    /// about as it is; a few kilobytes of headers.
    fn estimate(&self) -> u64 {
        let base64 = |n: usize| (n as u64).div_ceil(3) * 4 * 78 / 76;
        self.text.len() as u64
            + 2 * base64(self.html.len())
            + base64(self.json.len())
            + base64(self.history.len())
            + 4096
    }

    /// The line that opens a cut mail's text: what was left out, and where it is.
    fn note(&self, limit: u64, step: &Cut) -> String {
        let mut left_out = vec![format!(
            "it lists at most {} IPs a day and a table, those with the most failed requests",
            step.ip_rows
        )];
        left_out.push(match step.json {
            true => "the JSON is attached gzipped".into(),
            false => "the JSON is not attached".into(),
        });
        if !step.history && !self.history.is_empty() {
            let whole = std::fs::canonicalize(self.history_path)
                .unwrap_or_else(|_| self.history_path.to_path_buf());
            left_out.push(format!(
                "the period's history records are not attached (they are in {})",
                crate::escape::path(&whole)
            ));
        }
        let kept: Vec<&Path> = self.whole_at.iter().map(PathBuf::as_path).collect();
        format!(
            "This mail is cut: the whole report is over the mail size limit ([email] max_message_bytes = {limit}), so {}.{}\n\n",
            left_out.join("; "),
            match kept.is_empty() {
                true => String::new(),
                false => format!(" The whole report is kept in {}.", shown(&kept)),
            }
        )
    }

    fn build(
        &self,
        settings: &email::MailSettings,
        text: &str,
        html: &str,
        json: Option<(&[u8], bool)>,
        history: bool,
    ) -> anyhow::Result<lettre::Message> {
        let label = self.label;
        let mut attachments: Vec<(String, &str, &[u8])> = Vec::new();
        match json {
            Some((json, false)) => {
                attachments.push((format!("logwarden-{label}.json"), "application/json", json))
            }
            Some((gz, true)) => {
                attachments.push((format!("logwarden-{label}.json.gz"), "application/gzip", gz))
            }
            None => {}
        }
        attachments.push((
            format!("logwarden-{label}.html"),
            "text/html; charset=utf-8",
            html.as_bytes(),
        ));
        if history {
            attachments.push((
                format!("monitoring-{label}.log"),
                // Our records are ASCII; other text in the file is read lossily (UTF-8).
                "text/plain; charset=utf-8",
                &self.history,
            ));
        }
        let attachments: Vec<(&str, &str, &[u8])> = attachments
            .iter()
            .map(|&(ref name, ctype, bytes)| (name.as_str(), ctype, bytes))
            .collect();
        email::build(settings, text, Some(html), &attachments)
    }
}

fn gzip(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes)?;
    encoder.finish()
}

/// An error about the config file's `[email]` or `[smtp]` values, with the file named (as an
/// `[analyze]` value's error names it).
fn in_config_file(file: &FileConfig) -> impl Fn(anyhow::Error) -> anyhow::Error + '_ {
    move |e| match &file.analyze.file {
        Some(name) => e.context(format!("config file {name}")),
        None => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_week_counts_back_from_the_utc_date_when_days_are_utc_days() {
        // Monday 08:00 in Tokyo is Sunday 23:00 UTC: that UTC week is not over yet.
        let now = "2023-06-25T23:00:00Z".parse().unwrap();
        let tokyo = chrono::FixedOffset::east_opt(9 * 3600).unwrap();
        let last = |utc| weekly::parse_week("last", today_at(utc, now, tokyo)).unwrap();
        assert_eq!(last(true).iso_week().as_deref(), Some("2023-W24"));
        assert_eq!(last(false).iso_week().as_deref(), Some("2023-W25"));
    }

    #[test]
    fn history_records_go_to_the_weeks_of_the_days_they_report() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("monitoring.log");
        let sunday = "=== 2023-06-26T00:05:00+00:00 collect --analyze\n    archive a: 3 lines collected\n    2023-06-25: 3 lines, 0 failed, 0 status-400; No unusual login attempts or errors found.\n\n";
        let both = "=== 2023-06-19T00:05:00+00:00 collect --analyze\n    archive b: 2 lines collected\n    2023-06-18: 1 lines, 0 failed, 0 status-400\n    2023-06-19: 1 lines, 0 failed, 0 status-400\n\n";
        let report = "=== 2023-06-26T06:00:00+00:00 report 2023-W25\n    2023-06-19 to 2023-06-25: 3 lines\n\n";
        let nothing = "=== 2023-06-21T00:05:00+00:00 collect --analyze\n    nothing new in x since the last collect\n\n";
        let ip_line = "=== 2023-06-27T00:05:00+00:00 collect --analyze\n      2023-06-20: an indented line is not a day\n\n";
        std::fs::write(&path, [sunday, both, report, nothing, ip_line].concat()).unwrap();
        let week = |w: &str| {
            String::from_utf8(history_in(
                &path,
                weekly::parse_week(w, chrono::NaiveDate::MIN).unwrap(),
            ))
            .unwrap()
        };
        assert_eq!(week("2023-W25"), [sunday, both, nothing].concat());
        assert_eq!(week("2023-W24"), both);
        assert_eq!(week("2023-W26"), [report, ip_line].concat());
        // Someone else's text after a record, not UTF-8: the records are still attached,
        // without that text.
        let foreign = b"old cron output: caf\xe9\n\n=== not ours\n";
        let mut bytes = [sunday, both].concat().into_bytes();
        bytes.extend_from_slice(foreign);
        bytes.extend_from_slice(nothing.as_bytes());
        std::fs::write(&path, bytes).unwrap();
        assert_eq!(week("2023-W25"), [sunday, both, nothing].concat());
    }
}
