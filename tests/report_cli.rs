//! `logwarden report`: weekly figures and deltas, `--email --dry-run`, SMTP down (exit 1, the
//! report kept, no history record), and a real SMTP server on loopback (Python aiosmtpd,
//! installed by `.ci/run`): the weekly report mailed and read back, and a hostile body (a `.`
//! line, bare CR and LF, SMTP commands) that must arrive as one message with nothing
//! injected. Without python3 + aiosmtpd those tests say so and pass locally, but fail when
//! the `CI` environment variable is set.

mod common;
use common::*;
use serde_json::{json, Value};
use std::fs;
use std::path::Path;

fn line(ip: &str, day: u32, status: u16, n: usize) -> String {
    format!(
        "{ip} - - [{day:02}/Jun/2023:10:00:{:02} +0000] \"POST /login HTTP/1.1\" {status} 12 \"-\" \"curl\"\n",
        n % 60
    )
}

/// W24: 2 lines of 401 from .50 on the 12th. W25: .50 six 401 + one 404 on the 19th, five 400
/// from .7 on the 21st (unusual 400s, and .7 suspicious), one 200.
fn setup(dir: &Path) {
    let log = dir.join("log");
    fs::create_dir_all(&log).unwrap();
    let mut a = String::new();
    for n in 0..2 {
        a.push_str(&line("172.16.14.50", 12, 401, n));
    }
    fs::write(log.join("access_2023-06-13.log"), a).unwrap();
    let mut b = String::new();
    for n in 0..6 {
        b.push_str(&line("172.16.14.50", 19, 401, n));
    }
    b.push_str(&line("172.16.14.50", 19, 404, 7));
    for n in 0..5 {
        b.push_str(&line("10.0.0.7", 21, 400, n));
    }
    b.push_str(&line("10.0.0.8", 21, 200, 9));
    fs::write(log.join("access_2023-06-22.log"), b).unwrap();
    fs::write(
        log.join("monitoring.log"),
        "=== 2023-06-20T00:05:00+00:00 collect --analyze\n    archive x: 1 lines collected\n\n\
         === 2023-06-27T00:05:00+00:00 collect --analyze\n    later\n\n",
    )
    .unwrap();
}

const EXPECTED_TEXT: &str = "Access-log report 2023-W25 (2023-06-19 to 2023-06-25)
Compared with 2023-W24 (2023-06-12 to 2023-06-18).

Totals: 13 lines (+11 vs previous 2), 12 failed requests (+10 vs 2), 5 status-400 lines (+5 vs 0)
Days with suspicious IPs: 2 (+2 vs 0); days with unusual 400s: 1 (+1 vs 0)
Unusual amount of 400 errors detected: 5
Suspicious IPs (5 or more failed requests over the period): 2 (+2 vs 0)

Top suspicious IPs:
  IP: 172.16.14.50 - Failed login attempts: 7 (previous: 2; by status 401: 6, 404: 1)
    top paths: /login (7)
  IP: 10.0.0.7 - Failed login attempts: 5 (previous: 0; by status 400: 5)
    top paths: /login (5)

Per day:
  Mon 2023-06-19: 7 lines, 7 failed requests, 0 status-400 lines
    Unusual login attempts detected:
    IP: 172.16.14.50 - Failed login attempts: 7
  Tue 2023-06-20: 0 lines, 0 failed requests, 0 status-400 lines
    No unusual login attempts or errors found.
  Wed 2023-06-21: 6 lines, 5 failed requests, 5 status-400 lines
    Unusual login attempts detected:
    IP: 10.0.0.7 - Failed login attempts: 5
    Unusual amount of 400 errors detected: 5
  Thu 2023-06-22: 0 lines, 0 failed requests, 0 status-400 lines
    No unusual login attempts or errors found.
  Fri 2023-06-23: 0 lines, 0 failed requests, 0 status-400 lines
    No unusual login attempts or errors found.
  Sat 2023-06-24: 0 lines, 0 failed requests, 0 status-400 lines
    No unusual login attempts or errors found.
  Sun 2023-06-25: 0 lines, 0 failed requests, 0 status-400 lines
    No unusual login attempts or errors found.
";

/// Run `logwarden ARGS` in `dir`.
fn report_in(dir: &Path, args: &[&str]) -> std::process::Output {
    logwarden().current_dir(dir).args(args).output().unwrap()
}

/// `report` of 2023-W25 with its JSON in `w.json`, no history record.
fn week_json_no_history(dir: &Path) -> std::process::Output {
    week_json_no_history_of(dir, "2023-W25")
}

/// `report --week WEEK --json w.json -q --no-history` in `dir`.
fn week_json_no_history_of(dir: &Path, week: &str) -> std::process::Output {
    report_in(
        dir,
        &[
            "report",
            "--week",
            week,
            "--json",
            "w.json",
            "-q",
            "--no-history",
        ],
    )
}

#[test]
fn weekly_text_json_and_history() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path());
    let out = report_in(
        dir.path(),
        &[
            "report", "--week", "2023-W25", "--json", "w.json", "--quiet",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), EXPECTED_TEXT);
    let j: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.path().join("w.json")).unwrap()).unwrap();
    assert_eq!(j["period"]["label"], "2023-W25");
    assert_eq!(j["deltas"]["failed"], 10);
    assert_eq!(j["previous_totals"]["failed"], 2);
    assert_eq!(j["totals"]["suspicious_ips"], 2);
    assert_eq!(j["previous_totals"]["suspicious_ips"], 0);
    assert_eq!(j["deltas"]["suspicious_ips"], 2);
    assert_eq!(j["top_ips"][0]["by_status"]["401"], 6);
    assert_eq!(j["days"].as_array().unwrap().len(), 7);
    let h = fs::read_to_string(dir.path().join("log/monitoring.log")).unwrap();
    let recs = logwarden::sink::history::records(&h);
    assert_eq!(recs.len(), 3);
    assert!(recs[2].contains(" report 2023-W25\n    2023-06-19 to 2023-06-25: 13 lines, 12 failed requests, 5 status-400 lines; 2 day(s) with suspicious IPs, 1 with unusual 400s\n"));

    // `/dev/stdout` owns stdout like `-`: the JSON alone. One file for two outputs: exit 2.
    let out = report_in(
        dir.path(),
        &[
            "report",
            "--week",
            "2023-W25",
            "--json",
            "/dev/stdout",
            "-q",
        ],
    );
    assert_eq!(out.status.code(), Some(0));
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["period"]["label"], "2023-W25");
    let out = report_in(
        dir.path(),
        &[
            "report", "--week", "2023-W25", "--json", "x", "--html", "./x", "-q",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--json and --html name the same file"));
    assert!(!dir.path().join("x").exists());
    // `--eml` only says where `--dry-run` writes: alone it is a usage error, not ignored.
    let out = report_in(
        dir.path(),
        &[
            "report", "--week", "2023-W25", "--email", "--eml", "m.eml", "-q",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--dry-run"));
    assert!(!dir.path().join("m.eml").exists());
}

#[test]
fn an_unreadable_archive_is_reported_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path());
    // A day's archive cut short mid-gzip: its lines are missing from the week's figures.
    let cut_gzip = |text: &str| {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut e, text.as_bytes()).unwrap();
        let gz = e.finish().unwrap();
        gz[..gz.len() - 12].to_vec()
    };
    let cut = dir.path().join("log/access_2023-06-20.log.gz");
    fs::write(&cut, cut_gzip(&line("10.9.9.9", 20, 401, 1).repeat(50))).unwrap();
    let out = report_in(
        dir.path(),
        &["report", "--week", "2023-W25", "--json", "w.json", "-q"],
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("access_2023-06-20.log.gz: "), "{stderr}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Warning: 1 input(s) could not be read completely; the figures leave out what was not read:\n  "),
        "{text}"
    );
    let j: Value = serde_json::from_slice(&fs::read(dir.path().join("w.json")).unwrap()).unwrap();
    let errors = j["input_errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1);
    // The run's history record (attached to the next mail) says so too.
    let h = fs::read_to_string(dir.path().join("log/monitoring.log")).unwrap();
    let last = *logwarden::sink::history::records(&h).last().unwrap();
    assert!(
        last.contains("    warning: ")
            && last.contains("access_2023-06-20.log.gz could not be read completely"),
        "{last}"
    );
    assert!(errors[0]["path"]
        .as_str()
        .unwrap()
        .ends_with("access_2023-06-20.log.gz"));
    // Without it the week is clean again: exit 0, no warning, an empty list. An archive
    // dated before the previous week cannot hold the weeks' lines: named on stderr only.
    fs::remove_file(&cut).unwrap();
    let jan = line("10.9.9.9", 2, 401, 1).replace("/Jun/2023", "/Jan/2022");
    let old = dir.path().join("log/access_2022-01-03.log.gz");
    fs::write(&old, cut_gzip(&jan.repeat(50))).unwrap();
    let out = report_in(
        dir.path(),
        &["report", "--week", "2023-W25", "--json", "w.json", "-q"],
    );
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stdout), EXPECTED_TEXT);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("access_2022-01-03.log.gz: ")
            && stderr.ends_with(" (dated before the period: not in its figures)\n"),
        "{stderr}"
    );
    let j: Value = serde_json::from_slice(&fs::read(dir.path().join("w.json")).unwrap()).unwrap();
    assert_eq!(j["input_errors"], json!([]));
    // An error of the period: exit 1, named on stderr and alone in `input_errors`.
    let period_error = |name: &str| {
        let out = report_in(
            dir.path(),
            &["report", "--week", "2023-W25", "--json", "w.json", "-q"],
        );
        assert_eq!(out.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(&format!("{name}: ")) && !stderr.contains("dated before the period"),
            "{stderr}"
        );
        let j: Value =
            serde_json::from_slice(&fs::read(dir.path().join("w.json")).unwrap()).unwrap();
        let errors = j["input_errors"].as_array().unwrap();
        assert_eq!(errors.len(), 1);
        assert!(errors[0]["path"].as_str().unwrap().ends_with(name));
    };
    // A copy of it dated in the period is skipped as a duplicate: the error it shares is the
    // period's too (it was named "before the period" and the week passed as clean).
    let copy = dir.path().join("log/access_2023-06-20.log.gz");
    fs::copy(&old, &copy).unwrap();
    period_error("access_2022-01-03.log.gz");
    // An archive named by hand for the first day of a month, cut short: the lines read run
    // into the week, past its name's date, so the name says nothing of what was not read.
    fs::remove_file(&copy).unwrap();
    fs::remove_file(&old).unwrap();
    let june: String = (1..=20)
        .map(|day| line("10.9.9.9", day, 401, 1).repeat(5))
        .collect();
    let month = dir.path().join("log/access_2023-06-01.log.gz");
    fs::write(&month, cut_gzip(&june)).unwrap();
    period_error("access_2023-06-01.log.gz");
}

fn config(dir: &Path, port: u16, subject: &str) {
    fs::write(
        dir.join("logwarden.toml"),
        format!(
            "[email]\nfrom = \"logwarden@example.org\"\nto = [\"manager@example.org\"]\nsubject = {subject:?}\n\
             [smtp]\nhost = \"127.0.0.1\"\nport = {port}\nsecurity = \"none\"\n"
        ),
    )
    .unwrap();
}

/// Start the Python server `script` in `dir` with a free port and a log file `log_name` there
/// (then `extra` arguments); it prints `ready` once it listens (its stderr, a refused
/// handshake's traceback say, is dropped) and runs until its stdin closes. The server, its
/// port and its log.
fn start_server(
    dir: &Path,
    script: &str,
    log_name: &str,
    extra: &[&Path],
) -> (std::process::Child, u16, std::path::PathBuf) {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let path = dir.join("server.py");
    fs::write(&path, script).unwrap();
    let (port, log) = (free_port(), dir.join(log_name));
    let mut server = Command::new("python3")
        .arg(&path)
        .arg(port.to_string())
        .arg(&log)
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut ready = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut ready)
        .unwrap();
    assert_eq!(ready, "ready\n", "the SMTP server did not start");
    (server, port, log)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn dry_run_eml_and_header_injection() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path());
    config(dir.path(), 1, "Weekly access-log report {week}");
    let dry_run_to = |eml: &str| {
        report_in(
            dir.path(),
            &[
                "report",
                "--week",
                "2023-W25",
                "--email",
                "--dry-run",
                "--eml",
                eml,
                "-q",
            ],
        )
    };
    // What a real run kept beside the history: a rehearsal leaves it alone.
    for ext in ["txt", "json", "html"] {
        fs::write(
            dir.path().join(format!("log/report-2023-W25.{ext}")),
            "kept",
        )
        .unwrap();
    }
    let out = dry_run_to("m.eml");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The text is printed, as a run without mail prints it.
    assert_eq!(String::from_utf8_lossy(&out.stdout), EXPECTED_TEXT);
    let eml = fs::read_to_string(dir.path().join("m.eml")).unwrap();
    assert!(eml.contains("Subject: Weekly access-log report 2023-W25\r\n"));
    assert!(eml.contains("To: manager@example.org\r\n"));
    assert!(eml.contains("filename=\"logwarden-2023-W25.json\""));
    assert!(eml.contains("filename=\"logwarden-2023-W25.html\""));
    assert!(eml.contains("Content-Type: multipart/alternative;"));
    for ext in ["txt", "json", "html"] {
        let kept = dir.path().join(format!("log/report-2023-W25.{ext}"));
        assert_eq!(fs::read_to_string(kept).unwrap(), "kept", "{ext}");
    }
    // A rehearsal leaves no record: the real run's mail attaches the week's records.
    let h = fs::read_to_string(dir.path().join("log/monitoring.log")).unwrap();
    assert_eq!(logwarden::sink::history::records(&h).len(), 2, "{h}");
    assert!(!dir.path().join("log/history.jsonl").exists());
    // `--eml -` is stdout, as `-` is for the reports (it made a file named `-`).
    let out = dry_run_to("-");
    assert_eq!(out.status.code(), Some(0));
    let message = String::from_utf8_lossy(&out.stdout);
    assert!(
        message.starts_with("From: "),
        "{}",
        &message[..message.len().min(200)]
    );
    assert!(message.contains("Subject: Weekly access-log report 2023-W25\r\n"));
    assert!(!dir.path().join("-").exists());

    config(dir.path(), 1, "Report {week}\r\nBcc: evil@example.org");
    let out = report_in(
        dir.path(),
        &["report", "--week", "2023-W25", "--email", "--dry-run", "-q"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("line break or control character"));
}

#[test]
fn a_history_that_cannot_be_appended_stops_the_run_before_the_mail() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path());
    // The server is down: had the run gone as far as sending, it would exit 1. (Tests run as
    // root, whom permissions do not stop: a name too long for the file system cannot be
    // opened by anyone.)
    config(dir.path(), free_port(), "R {week}");
    let history = format!("log/{}", "h".repeat(300));
    let out = report_in(
        dir.path(),
        &[
            "report",
            "--week",
            "2023-W25",
            "--email",
            "-q",
            "--history",
            &history,
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with(&format!(
            "logwarden: error: cannot open history {history}: "
        )),
        "{err}"
    );
    assert!(!err.contains("cannot send mail"), "{err}");
    // Stopped before the analysis: no report file beside the history.
    assert!(!dir.path().join("log/report-2023-W25.txt").exists());
}

#[test]
fn smtp_down_is_exit_1_report_kept_no_history_record() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path());
    config(dir.path(), free_port(), "R {week}");
    let out = report_in(
        dir.path(),
        &["report", "--week", "2023-W25", "--email", "-q"],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot send mail via SMTP server 127.0.0.1:"),
        "{err}"
    );
    assert!(
        err.ends_with("\nlogwarden: the report is kept in log/report-2023-W25.txt, log/report-2023-W25.json, log/report-2023-W25.html\n"),
        "{err}"
    );
    assert_eq!(
        fs::read_to_string(dir.path().join("log/report-2023-W25.txt")).unwrap(),
        EXPECTED_TEXT
    );
    let h = fs::read_to_string(dir.path().join("log/monitoring.log")).unwrap();
    assert_eq!(
        logwarden::sink::history::records(&h).len(),
        2,
        "no record for a failed send"
    );
    // The text on stdout: nothing is "kept in -".
    let out = report_in(
        dir.path(),
        &[
            "report", "--week", "2023-W25", "--email", "--report", "-", "-q",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&out.stdout), EXPECTED_TEXT);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot send mail"), "{err}");
    assert!(
        err.ends_with("\nlogwarden: the report is kept in log/report-2023-W25.json, log/report-2023-W25.html\n"),
        "{err}"
    );
    // Nothing kept at all (all to /dev/null): no such line ("kept in /dev/null").
    let out = report_in(
        dir.path(),
        &[
            "report",
            "--week",
            "2023-W25",
            "--email",
            "-q",
            "--report",
            "/dev/null",
            "--json",
            "/dev/null",
            "--html",
            "/dev/null",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("kept in"), "{err}");
    // A history that is no regular file: refused before the analysis.
    let out = report_in(
        dir.path(),
        &[
            "report",
            "--week",
            "2023-W25",
            "-q",
            "--history",
            "/dev/zero",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "logwarden: error: history /dev/zero is not a regular file (--no-history keeps no history)\n"
    );
    // A rehearsal appends nothing, but reads the history for the attachment (/dev/zero was
    // read until memory ran out): refused too, before anything is written.
    let out = report_in(
        dir.path(),
        &[
            "report",
            "--week",
            "2023-W25",
            "-q",
            "--email",
            "--dry-run",
            "--eml",
            "m.eml",
            "--history",
            "/dev/zero",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "logwarden: error: history /dev/zero is not a regular file (--no-history keeps no history)\n"
    );
    assert!(!dir.path().join("m.eml").exists());
}

#[test]
fn the_message_and_the_history_are_outputs_no_input_or_other_output_may_be() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path());
    config(dir.path(), 1, "R {week}");
    let archive = dir.path().join("log/access_2023-06-22.log");
    let before = fs::read(&archive).unwrap();
    let week = ["report", "--week", "2023-W25", "-q"];
    let dry = ["--email", "--dry-run"];
    let cases: [(&[&str], &str); 7] = [
        (
            &[&dry[..], &["--eml", "log/access_2023-06-22.log"]].concat(),
            "--eml names log/access_2023-06-22.log, which is one of the inputs",
        ),
        (
            &["--history", "log/access_2023-06-22.log"],
            "--history names log/access_2023-06-22.log, which is one of the inputs",
        ),
        (
            &[&dry[..], &["--json", "out", "--eml", "out"]].concat(),
            "--json and --eml name the same file (out)",
        ),
        (
            &["--json", "log/monitoring.log"],
            "--json and --history name the same file (log/monitoring.log)",
        ),
        (
            &["--html", "log/history.jsonl"],
            "--html and --history's JSON-lines twin name the same file (log/history.jsonl)",
        ),
        // A directory as the history fails before the analysis (after it, the mail was sent
        // and the run failed: a retry mailed it again).
        (&["--history", "hdir"], "--history names a directory: hdir"),
        // A directory not made yet is still one place, however it is spelled.
        (
            &[
                "--history",
                "nd/monitoring.log",
                "--json",
                "./nd/history.jsonl",
            ],
            "--json and --history's JSON-lines twin name the same file",
        ),
    ];
    fs::create_dir(dir.path().join("hdir")).unwrap();
    for (args, expected) in cases {
        let out = report_in(dir.path(), &[&week[..], args].concat());
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(expected), "{args:?}: {err}");
        assert_eq!(fs::read(&archive).unwrap(), before, "{args:?}");
        assert!(!dir.path().join("out").exists(), "{args:?}");
    }
    assert!(!dir.path().join("nd").exists());
    // With --no-history the history is no output: another output may go there (as asked).
    let out = report_in(
        dir.path(),
        &[&week[..], &["--no-history", "--json", "log/history.jsonl"]].concat(),
    );
    assert_eq!(out.status.code(), Some(0));
}

/// Whether python3 with aiosmtpd is here. Missing: the test is skipped locally, but under CI
/// (`CI` set, as CI services do; empty, `0` or `false` count as unset) a missing server is a
/// failure, never a silent pass.
fn have_aiosmtpd(test: &str) -> bool {
    let ok = std::process::Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        let ci = std::env::var("CI").is_ok_and(|v| !matches!(v.as_str(), "" | "0" | "false"));
        assert!(
            !ci,
            "{test}: python3 with aiosmtpd is not available, and CI is set: the real-SMTP test must run in CI (.ci/run installs aiosmtpd)"
        );
        eprintln!("SKIPPED {test}: python3 with aiosmtpd not available (.ci/run installs it; under CI this fails)");
    }
    ok
}

/// aiosmtpd on `port`, saving each message into the maildir `maildir`, once it listens.
fn mailbox_server(port: u16, maildir: &Path, extra: &[&str]) -> std::process::Child {
    let server = std::process::Command::new("python3")
        .args(["-m", "aiosmtpd", "-n"])
        .args(extra)
        .arg("-l")
        .arg(format!("127.0.0.1:{port}"))
        .args(["-c", "aiosmtpd.handlers.Mailbox"])
        .arg(maildir)
        .spawn()
        .unwrap();
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    server
}

#[test]
fn mailed_through_real_smtp_server() {
    if !have_aiosmtpd("mailed_through_real_smtp_server") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path());
    let port = free_port();
    config(dir.path(), port, "Weekly access-log report {week}");
    let maildir = dir.path().join("maildir");
    let mut server = mailbox_server(port, &maildir, &[]);
    let mail = |extra: &[&str]| {
        let mut args = vec!["report", "--week", "2023-W25", "--email", "-q"];
        args.extend(extra);
        report_in(dir.path(), &args)
    };
    let out = mail(&[]);
    // The week again: the history says it went out, so nothing is sent or recorded.
    let again = mail(&[]);
    // Unless asked.
    let resent = mail(&["--resend"]);
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(again.status.code(), Some(0));
    let jsonl = fs::read_to_string(dir.path().join("log/history.jsonl")).unwrap();
    let first: Value = serde_json::from_str(jsonl.lines().next().unwrap()).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&again.stderr),
        format!(
            "logwarden: 2023-W25 was mailed already, to manager@example.org at {} (recorded in log/history.jsonl): nothing sent; --resend mails it again\n",
            first["time"].as_str().unwrap()
        )
    );
    assert_eq!(
        resent.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&resent.stderr)
    );
    assert_eq!(jsonl.lines().count(), 2, "{jsonl}");
    let new = maildir.join("new");
    assert_eq!(fs::read_dir(&new).unwrap().count(), 2);
    let mut files: Vec<_> = fs::read_dir(&new)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    // The files on disk are the resent run's: its mail is the newer one.
    files.sort_by_key(|f| fs::metadata(f).unwrap().modified().unwrap());
    let raw = fs::read_to_string(&files[1]).unwrap();
    let py = "import email,sys,json\nm=email.message_from_string(open(sys.argv[1]).read())\n\
              parts=[p for p in m.walk() if not p.is_multipart()]\n\
              print(json.dumps({'subject':m['Subject'],'from':m['From'],'to':m['To'],\
              'types':[p.get_content_type() for p in parts],\
              'parts':[[p.get_filename(),p.get_payload(decode=True).decode()] for p in parts]}))";
    let parsed = std::process::Command::new("python3")
        .args(["-c", py])
        .arg(&files[1])
        .output()
        .unwrap();
    let v: serde_json::Value =
        serde_json::from_slice(&parsed.stdout).unwrap_or_else(|e| panic!("{e}: {raw}"));
    assert_eq!(v["subject"], "Weekly access-log report 2023-W25");
    assert_eq!(v["from"], "logwarden@example.org");
    assert_eq!(v["to"], "manager@example.org");
    assert_eq!(
        v["parts"][0][1].as_str().unwrap().replace("\r\n", "\n"),
        EXPECTED_TEXT
    );
    // multipart/alternative: the HTML body part, equal to the HTML written to disk.
    let html = fs::read_to_string(dir.path().join("log/report-2023-W25.html")).unwrap();
    assert_eq!(v["types"][1], "text/html");
    assert_eq!(v["parts"][1][0], Value::Null);
    assert_eq!(v["parts"][1][1].as_str().unwrap(), html);
    assert!(html.contains("<td class=\"ip\">172.16.14.50</td><td class=\"num failed\">7</td>"));
    assert_eq!(v["parts"][2][0], "logwarden-2023-W25.json");
    let json = fs::read_to_string(dir.path().join("log/report-2023-W25.json")).unwrap();
    assert_eq!(v["parts"][2][1].as_str().unwrap(), json);
    assert_eq!(v["parts"][3][0], "logwarden-2023-W25.html");
    assert_eq!(v["types"][3], "text/html");
    assert_eq!(v["parts"][3][1].as_str().unwrap(), html);
    assert_eq!(v["parts"][4][0], "monitoring-2023-W25.log");
    assert_eq!(
        v["parts"][4][1].as_str().unwrap(),
        "=== 2023-06-20T00:05:00+00:00 collect --analyze\n    archive x: 1 lines collected\n\n"
    );
    let h = fs::read_to_string(dir.path().join("log/monitoring.log")).unwrap();
    let recs = logwarden::sink::history::records(&h);
    assert_eq!(recs.len(), 4);
    for rec in &recs[2..] {
        assert!(rec.contains("    mailed to manager@example.org\n"), "{rec}");
    }
}

/// A recording SMTP server (aiosmtpd): every MAIL, RCPT and DATA the server accepts, and every
/// 4xx/5xx reply it sends (an injected line that is not a valid command gets one), as JSON
/// lines in the log file. Runs until its stdin closes or it is killed.
const RECORDING_SERVER: &str = r#"
import base64, json, sys
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

port, log = int(sys.argv[1]), sys.argv[2]

def rec(**kw):
    with open(log, "a") as f:
        f.write(json.dumps(kw) + "\n")

class Recording(SMTP):
    async def push(self, status):
        text = status.decode() if isinstance(status, bytes) else status
        if text[:1] in "45":
            rec(event="reply", status=text)
        return await super().push(status)

class Handler:
    async def handle_MAIL(self, server, session, envelope, address, options):
        rec(event="MAIL", address=address)
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, options):
        rec(event="RCPT", address=address)
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        rec(event="DATA", mail_from=envelope.mail_from, rcpt_tos=envelope.rcpt_tos,
            content=base64.b64encode(envelope.content).decode())
        return "250 Message accepted for delivery"

class Ctl(Controller):
    def factory(self):
        return Recording(self.handler, **self.SMTP_kwargs)

ctl = Ctl(Handler(), hostname="127.0.0.1", port=port)
ctl.start()
print("ready", flush=True)
sys.stdin.read()
ctl.stop()
"#;

/// Decode the received message with Python's email package: headers and each part's decoded
/// payload (latin-1, so every byte, CR included, survives).
const DECODE_MESSAGE: &str = r#"
import base64, email, json, sys
raw = base64.b64decode(sys.argv[1])
m = email.message_from_bytes(raw)
parts = [p for p in m.walk() if not p.is_multipart()]
print(json.dumps({"subject": m["Subject"], "from": m["From"], "to": m["To"],
                  "bcc": m["Bcc"], "headers": list(m.keys()),
                  "parts": [[p.get_filename(), p.get_payload(decode=True).decode("latin-1")] for p in parts]}))
"#;

#[test]
fn hostile_body_through_real_smtp_server_is_one_message() {
    use logwarden::config::{EmailFile, SmtpFile};
    use logwarden::sink::email;
    use std::process::Command;

    if !have_aiosmtpd("hostile_body_through_real_smtp_server_is_one_message") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (mut server, port, log) = start_server(dir.path(), RECORDING_SERVER, "smtp.jsonl", &[]);

    // A body that tries everything: a lone "." (would end DATA without dot-stuffing), a ".."
    // line, CRLF / bare CR / bare LF followed by SMTP commands and headers.
    let hostile = "Weekly report\n.\n..\n.leading dot\nend of part one\r\n.\r\nQUIT\r\n\
                   MAIL FROM:<evil@example.org>\r\nRCPT TO:<evil@example.org>\r\nDATA\r\n\
                   Subject: injected\r\nBcc: evil@example.org\r\n\r\ninjected body\r\n.\r\n\
                   bare CR value\r.\rRCPT TO:<cr@example.org>\n\
                   bare LF value\n.\nRCPT TO:<lf@example.org>\nlast line\n";
    let settings = email::resolve(
        Some(&EmailFile {
            from: Some("logwarden@example.org".into()),
            to: vec!["manager@example.org".into()],
            subject: Some("Weekly access-log report {week}".into()),
            ..EmailFile::default()
        }),
        "2023-W25",
    )
    .unwrap();
    let message = email::build(
        &settings,
        hostile,
        None,
        &[("r.json", "application/json", b"{\"ok\":true}\n")],
    )
    .unwrap();
    let smtp = SmtpFile {
        host: Some("127.0.0.1".into()),
        port: Some(port),
        security: Some("none".into()),
        ..SmtpFile::default()
    };
    let sent = email::send(&email::check_smtp(Some(&smtp)).unwrap(), &message);

    // Header values with CR/LF never get as far as a message.
    for bad in [
        "Report {week}\r\nBcc: evil@example.org",
        "Report {week}\nRCPT TO:<evil@example.org>",
        "Report {week}\rDATA",
    ] {
        let err = email::resolve(
            Some(&EmailFile {
                from: Some("logwarden@example.org".into()),
                to: vec!["manager@example.org".into()],
                subject: Some(bad.into()),
                ..EmailFile::default()
            }),
            "2023-W25",
        )
        .unwrap_err();
        assert!(err.to_string().contains("line break or control character"));
    }

    drop(server.stdin.take()); // the server stops when its stdin closes
    let _ = server.wait();
    sent.unwrap();

    let events: Vec<serde_json::Value> = fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["MAIL", "RCPT", "DATA"],
        "exactly one transaction, no injected command or error reply: {events:#?}"
    );
    assert_eq!(events[0]["address"], "logwarden@example.org");
    assert_eq!(events[1]["address"], "manager@example.org");
    assert_eq!(
        events[2]["rcpt_tos"],
        serde_json::json!(["manager@example.org"])
    );

    let parsed = Command::new("python3")
        .args(["-c", DECODE_MESSAGE])
        .arg(events[2]["content"].as_str().unwrap())
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&parsed.stdout).unwrap_or_else(|e| {
        panic!("{e}: {}", String::from_utf8_lossy(&parsed.stderr));
    });
    assert_eq!(v["subject"], "Weekly access-log report 2023-W25");
    assert_eq!(v["to"], "manager@example.org");
    assert!(v["bcc"].is_null(), "{v}");
    assert_eq!(v["parts"].as_array().unwrap().len(), 2, "{v}");
    let body = v["parts"][0][1].as_str().unwrap();
    // The whole body arrived, in order; the "." lines are still there (dot-stuffing worked,
    // the server unstuffed them), and the injected "commands" are plain body text.
    let lines: Vec<&str> = body.split("\r\n").collect();
    assert_eq!(
        &lines[..17],
        [
            "Weekly report",
            ".",
            "..",
            ".leading dot",
            "end of part one",
            ".",
            "QUIT",
            "MAIL FROM:<evil@example.org>",
            "RCPT TO:<evil@example.org>",
            "DATA",
            "Subject: injected",
            "Bcc: evil@example.org",
            "",
            "injected body",
            ".",
            // A bare CR or LF is sent as a line break (CRLF): never raw on the wire.
            "bare CR value",
            ".",
        ],
        "{body:?}"
    );
    assert_eq!(
        &lines[17..],
        [
            "RCPT TO:<cr@example.org>",
            "bare LF value",
            ".",
            "RCPT TO:<lf@example.org>",
            "last line",
            ""
        ],
        "{body:?}"
    );
    assert!(!body.replace("\r\n", "").contains(['\r', '\n']), "{body:?}");
    assert_eq!(v["parts"][1][0], "r.json");
    assert_eq!(v["parts"][1][1], "{\"ok\":true}\n");
}

/// Targets with equal counts are listed in the order of their shown (escaped) text by both
/// `analyze` and `report` (`analyze` ordered raw bytes: `é` before `~`, `\x01` before `A`).
#[test]
fn tied_targets_are_ordered_alike_by_analyze_and_report() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    fs::create_dir_all(&log).unwrap();
    let mut text = Vec::new();
    for day in [19, 20] {
        for target in [&b"/\x01"[..], b"/A", "/é".as_bytes(), b"/~"] {
            for n in 0..3 {
                text.extend_from_slice(
                    format!("10.0.0.9 - - [{day}/Jun/2023:10:00:0{n} +0000] \"GET ").as_bytes(),
                );
                text.extend_from_slice(target);
                text.extend_from_slice(b" HTTP/1.1\" 404 1\n");
            }
        }
    }
    fs::write(log.join("access_2023-06-20.log"), text).unwrap();
    let want = ["/A", "/\\x01", "/\\xc3\\xa9", "/~"];
    let paths = |v: &Value| -> Vec<String> {
        v["top_paths"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["path"].as_str().unwrap().to_string())
            .collect()
    };
    let out = report_in(dir.path(), &["analyze", "--json", "-", "-q"]);
    let j: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(paths(&j["days"][0]["suspicious_ips"][0]), want);
    assert_eq!(paths(&j["weeks"][0]["suspicious_ips"][0]), want);
    let out = report_in(
        dir.path(),
        &[
            "report",
            "--since",
            "2023-06-19",
            "--until",
            "2023-06-20",
            "--json",
            "-",
            "-q",
            "--no-history",
        ],
    );
    let j: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(paths(&j["top_ips"][0]), want, "{j}");
}

/// 400s spread over days (none of them unusual) can make the week unusual: the text, the
/// JSON and the history record flag it, as the HTML did.
#[test]
fn a_week_can_have_an_unusual_amount_of_400s_without_an_unusual_day() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    fs::create_dir_all(&log).unwrap();
    let text: String = [19, 20, 21]
        .iter()
        .flat_map(|&day| (0..2).map(move |n| line("10.0.0.7", day, 400, n)))
        .collect();
    fs::write(log.join("access_2023-06-22.log"), text).unwrap();
    let out = report_in(
        dir.path(),
        &["report", "--week", "2023-W25", "--json", "w.json", "-q"],
    );
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(
            "days with unusual 400s: 0 (0 vs 0)\nUnusual amount of 400 errors detected: 6\n"
        ),
        "{stdout}"
    );
    let j: Value = serde_json::from_slice(&fs::read(dir.path().join("w.json")).unwrap()).unwrap();
    assert_eq!(
        (
            &j["totals"]["unusual_400"],
            &j["totals"]["unusual_400_days"]
        ),
        (&json!(true), &json!(0))
    );
    assert_eq!(j["previous_totals"]["unusual_400"], false);
    let h = fs::read_to_string(log.join("monitoring.log")).unwrap();
    assert!(
        h.contains("\n    Unusual amount of 400 errors detected: 6\n"),
        "{h}"
    );
}

/// A range's suspicious IPs are those over the threshold in the range as a whole, and the
/// previous counts are exact: both once came from the days' lists, so a client under the
/// threshold on each day was missing (and "previous: 0" for one under it the week before).
#[test]
fn ranges_and_previous_counts_include_clients_under_the_threshold_each_day() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    fs::create_dir_all(&log).unwrap();
    let text: String = [(13, 3), (20, 4), (21, 4)]
        .iter()
        .flat_map(|&(day, n)| (0..n).map(move |k| line("10.0.0.2", day, 401, k)))
        .collect();
    fs::write(log.join("access_2023-06-22.log"), text).unwrap();
    let top = |args: &[&str]| -> Value {
        let mut all = vec!["report", "--json", "-", "-q", "--no-history"];
        all.extend_from_slice(args);
        let out = report_in(dir.path(), &all);
        assert_eq!(out.status.code(), Some(0));
        let j: Value = serde_json::from_slice(&out.stdout).unwrap();
        j["top_ips"].clone()
    };
    let ip = |v: &Value| {
        (
            v["ip"].clone(),
            v["failed"].clone(),
            v["previous_failed"].clone(),
        )
    };
    let range = top(&["--since", "2023-06-20", "--until", "2023-06-22"]);
    assert_eq!(range.as_array().unwrap().len(), 1, "{range}");
    assert_eq!(ip(&range[0]), (json!("10.0.0.2"), json!(8), json!(0)));
    let week = top(&["--week", "2023-W25"]);
    assert_eq!(ip(&week[0]), (json!("10.0.0.2"), json!(8), json!(3)));
    // Shifted by a day, the range still holds both days.
    let shifted = top(&["--since", "2023-06-14", "--until", "2023-06-21"]);
    assert_eq!(ip(&shifted[0]), (json!("10.0.0.2"), json!(8), json!(3)));
}

/// `--email` without an `[email]` section is a usage error found before the analysis: no
/// report files are left behind for a mail that was never sent.
#[test]
fn email_without_mail_settings_fails_before_writing_anything() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path());
    let before = fs::read_dir(dir.path().join("log")).unwrap().count();
    let out = report_in(
        dir.path(),
        &["report", "--week", "2023-W25", "--email", "-q"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs an [email] section"));
    assert_eq!(
        fs::read_dir(dir.path().join("log")).unwrap().count(),
        before
    );
    // A bad [smtp] value, with or without --dry-run (a rehearsal checks what the real run
    // would use): exit 2, nothing written.
    let email = "[email]\nfrom = \"a@example.org\"\nto = [\"m@example.org\"]\n";
    for (smtp, dry, err) in [
        ("host = \"127.0.0.1\"\nport = 0\n", false, "config file logwarden.toml: [smtp] port: 0 is not a port (1-65535)"),
        ("host = \"127.0.0.1\"\nsecurity = \"ssl\"\n", true, "config file logwarden.toml: [smtp] security: \"ssl\" is not none, starttls or tls"),
        (
            "host = \"127.0.0.1\"\nusername = \"u\"\npassword_env = \"LOGWARDEN_TEST_UNSET_PASSWORD\"\n",
            false,
            "config file logwarden.toml: [smtp] password_env: environment variable LOGWARDEN_TEST_UNSET_PASSWORD is not set",
        ),
        (
            "host = \"127.0.0.1\"\nusername = \"u\"\npassword_file = \"no-such-file\"\n",
            true,
            "config file logwarden.toml: cannot read [smtp] password_file no-such-file: No such file or directory (os error 2)",
        ),
        // A value of the wrong type, or a password in the file: said on one line, where it is.
        (
            "host = \"127.0.0.1\"\nport = \"25\"\n",
            false,
            "invalid config file logwarden.toml: line 6, column 8: invalid type: string \"25\", expected u16",
        ),
        (
            "host = \"127.0.0.1\"\npassword = \"x\"\n",
            true,
            "invalid config file logwarden.toml: line 6, column 1: unknown field `password`, expected one of `host`, `port`, `security`, `username`, `password_env`, `password_file`",
        ),
    ] {
        fs::write(dir.path().join("logwarden.toml"), format!("{email}[smtp]\n{smtp}")).unwrap();
        let mut args = vec!["report", "--week", "2023-W25", "--email", "-q"];
        if dry {
            args.push("--dry-run");
        }
        let out = report_in(dir.path(), &args);
        assert_eq!(out.status.code(), Some(2), "{smtp}");
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            format!("logwarden: error: {err}\n")
        );
        assert_eq!(fs::read_dir(dir.path().join("log")).unwrap().count(), before);
        assert!(!dir.path().join("logwarden-report-2023-W25.eml").exists());
    }
    // A dry run needs no [smtp], and writes no report files beside the history (nor makes
    // its directory).
    fs::write(dir.path().join("logwarden.toml"), email).unwrap();
    let out = report_in(
        dir.path(),
        &[
            "report",
            "--week",
            "2023-W25",
            "--email",
            "--dry-run",
            "--history",
            "new/h.log",
            "-q",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A dry run appends no record.
    assert!(!dir.path().join("new").exists());
    assert!(dir.path().join("logwarden-report-2023-W25.eml").is_file());
}

/// A STARTTLS server (aiosmtpd) with a certificate from `testdata/tls/ca.pem`; every DATA it
/// accepts is appended to the log file. Runs until its stdin closes.
const STARTTLS_SERVER: &str = r#"
import ssl, sys
from aiosmtpd.controller import Controller

port, log, cert, key = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
context.load_cert_chain(cert, key)

class Handler:
    async def handle_DATA(self, server, session, envelope):
        with open(log, "a") as f:
            f.write("DATA tls=%s to=%s\n" % (session.ssl is not None, ",".join(envelope.rcpt_tos)))
        return "250 Message accepted for delivery"

ctl = Controller(Handler(), hostname="127.0.0.1", port=port, tls_context=context,
                 require_starttls=True)
ctl.start()
print("ready", flush=True)
sys.stdin.read()
ctl.stop()
"#;

/// The server's certificate is checked against the system's trust store, which an
/// administrator extends with an internal CA (or names with `SSL_CERT_FILE`): only the roots
/// built into the binary were trusted, so a relay with an internal CA's certificate failed.
#[test]
fn starttls_trusts_the_ca_named_by_ssl_cert_file() {
    if !have_aiosmtpd("starttls_trusts_the_ca_named_by_ssl_cert_file") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path());
    let tls = root().join("testdata/tls");
    let (mut server, port, log) = start_server(
        dir.path(),
        STARTTLS_SERVER,
        "smtp.log",
        &[&tls.join("server.pem"), &tls.join("server-key.pem")],
    );
    fs::write(
        dir.path().join("logwarden.toml"),
        format!(
            "[email]\nfrom = \"logwarden@example.org\"\nto = [\"manager@example.org\"]\n\
             [smtp]\nhost = \"127.0.0.1\"\nport = {port}\nsecurity = \"starttls\"\n"
        ),
    )
    .unwrap();
    let send = |ca: Option<&Path>| {
        let mut cmd = logwarden();
        cmd.current_dir(dir.path())
            .env_remove("SSL_CERT_FILE")
            .env_remove("SSL_CERT_DIR")
            .args([
                "report",
                "--week",
                "2023-W25",
                "--email",
                "-q",
                "--no-history",
            ]);
        if let Some(ca) = ca {
            cmd.env("SSL_CERT_FILE", ca);
        }
        cmd.output().unwrap()
    };
    // Not trusted by the system's store: refused, exit 1, nothing delivered.
    let out = send(None);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("invalid peer certificate"), "{err}");
    assert!(!log.exists());
    // Trusted through SSL_CERT_FILE: delivered over TLS.
    let out = send(Some(&tls.join("ca.pem")));
    drop(server.stdin.take());
    let _ = server.wait();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(
        fs::read_to_string(&log).unwrap(),
        "DATA tls=True to=manager@example.org\n"
    );
}

/// More suspicious IPs than the top list shows: the text says how many there are (it listed
/// ten with no word of the rest), and the JSON totals count them all.
#[test]
fn the_count_of_suspicious_ips_is_given_beyond_the_top_ten() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    fs::create_dir_all(&log).unwrap();
    let mut text = String::new();
    for ip in 1..=12 {
        // 5 on one day of W25 (2023-06-20), each its own count so the order is fixed.
        for n in 0..5 + ip {
            text.push_str(&line(&format!("10.0.0.{ip}"), 20, 404, n));
        }
    }
    for ip in 1..=3 {
        for n in 0..6 {
            text.push_str(&line(&format!("10.0.0.{ip}"), 13, 401, n));
        }
    }
    fs::write(log.join("access_2023-06-21.log"), text).unwrap();
    let out = week_json_no_history(dir.path());
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(
            "Suspicious IPs (5 or more failed requests over the period): 12 (+9 vs 3)\n\n\
             Top suspicious IPs (the first 10 of 12):\n  IP: 10.0.0.12 - Failed login attempts: 17 (previous: 0; by status 404: 17)\n"
        ),
        "{stdout}"
    );
    assert_eq!(stdout.matches("  IP: ").count(), 10 + 12);
    let j: Value = serde_json::from_slice(&fs::read(dir.path().join("w.json")).unwrap()).unwrap();
    assert_eq!(
        (
            &j["totals"]["suspicious_ips"],
            &j["previous_totals"]["suspicious_ips"],
            &j["deltas"]["suspicious_ips"]
        ),
        (&json!(12), &json!(3), &json!(9))
    );
    assert_eq!(j["top_ips"].as_array().unwrap().len(), 10);
}

/// The archives end before the period does (the last collect ran before the week was over
/// in the log's own time: 00:05 in Berlin is 23:05 UTC on Sunday): the report says so (it
/// was mailed short without a word).
#[test]
fn a_period_collected_before_its_end_is_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    fs::create_dir_all(&log).unwrap();
    let archive = log.join("access_2026-03-09.log");
    let touch = |path: &Path, written: &str| {
        let at: chrono::DateTime<chrono::Utc> = written.parse().unwrap();
        fs::File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(at.into())
            .unwrap();
    };
    let write = |offset: &str, written: &str| {
        let text: String = (2..=8)
            .map(|d| {
                format!(
                    "10.0.0.1 - - [{d:02}/Mar/2026:22:50:00 {offset}] \"GET / HTTP/1.1\" 404 5\n"
                )
            })
            .collect();
        fs::write(&archive, text).unwrap();
        touch(&archive, written);
    };
    let report = |extra: &[&str]| {
        let out = report_in(
            dir.path(),
            &[&["report", "-q", "--no-history", "--json", "w.json"], extra].concat(),
        );
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        let j: Value =
            serde_json::from_slice(&fs::read(dir.path().join("w.json")).unwrap()).unwrap();
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
            j,
        )
    };
    let week = ["--week", "2026-W10"];
    let warning = "the archives were last collected at 2026-03-08 23:05 UTC, before the period ended (2026-03-08 24:00 at +00:00, the log's offset): what was logged after that is not in this report. Collect right before the report, or report later";
    // A log in UTC, collected at 23:05 UTC on its last day.
    write("+0000", "2026-03-08T23:05:00Z");
    let (text, err, j) = report(&week);
    assert!(
        text.contains(&format!("\n\nWarning: {warning}\n\n")),
        "{text}"
    );
    assert_eq!(err, format!("logwarden: warning: {warning}\n"));
    assert_eq!(j["warnings"], json!([warning]));
    // Collected after it ended: nothing to say.
    write("+0000", "2026-03-09T00:05:00Z");
    let (text, err, j) = report(&week);
    assert!(!text.contains("Warning"), "{text}");
    assert_eq!((err.as_str(), &j["warnings"]), ("", &json!([])));
    // A quiet site: nothing new at the next collect, so no newer archive, but the collect's
    // state file is newer.
    write("+0000", "2026-03-08T23:05:00Z");
    let state = log.join(".logwarden-collect.json");
    fs::write(&state, "{}").unwrap();
    touch(&state, "2026-03-09T07:00:00Z");
    assert_eq!(report(&week).1, "");
    fs::remove_file(&state).unwrap();
    // An older archive compressed by that collect: its time counts (and its offset, as the
    // newest file's).
    let gz = log.join("access_2026-03-01.log.gz");
    fs::write(
        &gz,
        gzip(b"10.0.0.9 - - [01/Mar/2026:10:00:00 +0000] \"GET / HTTP/1.1\" 200 5\n"),
    )
    .unwrap();
    touch(&gz, "2026-03-09T00:05:01Z");
    assert_eq!(report(&week).1, "");
    touch(&gz, "2026-03-01T00:05:00Z");
    assert_eq!(report(&week).1, format!("logwarden: warning: {warning}\n"));
    fs::remove_file(&gz).unwrap();
    // A log at +0100: 23:05 UTC is 00:05 there, the week is over.
    write("+0100", "2026-03-08T23:05:00Z");
    assert_eq!(report(&week).1, "");
    // ... but not in UTC days (--utc).
    let (_, err, _) = report(&[&week[..], &["--utc"]].concat());
    assert_eq!(
        err,
        "logwarden: warning: the archives were last collected at 2026-03-08 23:05 UTC, before the period ended (2026-03-08 24:00 at UTC (--utc)): what was logged after that is not in this report. Collect right before the report, or report later\n"
    );
    // A period that has not ended: said as such.
    let (_, err, _) = report(&["--since", "2099-12-01", "--until", "2099-12-31"]);
    assert_eq!(
        err,
        "logwarden: warning: the period has not ended yet (2099-12-31 24:00 at +01:00, the log's offset): its figures are those collected so far\n"
    );
    // Every archive compressed: the offset is read from the newest one's decoded text (with
    // no plain file to read it from, nothing was said).
    let compress = || {
        let gz = log.join("access_2026-03-09.log.gz");
        fs::write(&gz, gzip(&fs::read(&archive).unwrap())).unwrap();
        fs::remove_file(&archive).unwrap();
        touch(&gz, "2026-03-08T23:05:00Z");
        gz
    };
    write("+0000", "2026-03-08T23:05:00Z");
    let gz = compress();
    assert_eq!(report(&week).1, format!("logwarden: warning: {warning}\n"));
    // A newer archive without a dated line (a quiet day's, empty): the one before it tells.
    let quiet = log.join("access_2026-03-08.log.gz");
    fs::write(&quiet, gzip(b"")).unwrap();
    touch(&quiet, "2026-03-08T23:05:30Z");
    assert_eq!(report(&week).1, format!("logwarden: warning: {warning}\n"));
    fs::remove_file(&quiet).unwrap();
    fs::remove_file(&gz).unwrap();
    write("+0100", "2026-03-08T23:05:00Z");
    compress();
    assert_eq!(report(&week).1, "");
}

/// A report whose inputs cannot be found (cron started in another folder, a typo) makes
/// nothing and names what it did not find: the history's files (and `log/` with them) were
/// made before the inputs were looked for, and the run then said `log` held no access logs.
#[test]
fn a_report_that_finds_no_inputs_makes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let listing = || {
        let mut names: Vec<String> = walk(dir.path());
        names.sort();
        names
    };
    for (args, error) in [
        (
            &["report", "-q"][..],
            "logwarden: error: log: no such file or directory\n",
        ),
        (
            &["report", "-q", "--history", "h/x.log", "missing"][..],
            "logwarden: error: missing: no such file or directory\n",
        ),
    ] {
        let out = report_in(dir.path(), args);
        assert_eq!(out.status.code(), Some(2), "{out:?}");
        assert_eq!(String::from_utf8_lossy(&out.stderr), error);
        assert_eq!(listing(), Vec::<String>::new());
    }
    // A bad setting in the config file: the same.
    fs::write(
        dir.path().join("logwarden.toml"),
        "[analyze]\nthreshold = 0\n",
    )
    .unwrap();
    fs::create_dir(dir.path().join("log")).unwrap();
    fs::write(dir.path().join("log/access.log"), "").unwrap();
    let out = report_in(dir.path(), &["report", "-q"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert_eq!(listing(), ["log", "log/access.log", "logwarden.toml"]);
}

/// Every path under `dir`, relative to it.
fn walk(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            found.push(path.strip_prefix(dir).unwrap().display().to_string());
            if path.is_dir() {
                todo.push(path);
            }
        }
    }
    found
}

/// A history not made yet whose name the inputs' folder would take in (`log/access_*`): it
/// is made before the inputs are found, so the first run refuses it too (it was refused only
/// from the second run on, after one mail: the first record made it an input).
#[test]
fn a_new_history_among_the_inputs_is_refused_by_the_first_run() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path());
    let out = report_in(
        dir.path(),
        &[
            "report",
            "--week",
            "2023-W25",
            "-q",
            "--report",
            "/dev/null",
            "--history",
            "log/access_hist.log",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "logwarden: error: --history names log/access_hist.log, which is one of the inputs: the report would be written into it\n"
    );
}

/// The parts of a message: (content type, file name, decoded bytes).
fn message_parts(eml: &Path) -> Vec<(String, Option<String>, Vec<u8>)> {
    let py = "import email,sys,json\nm=email.message_from_bytes(open(sys.argv[1],'rb').read())\n\
              print(json.dumps([[p.get_content_type(),p.get_filename(),\
              p.get_payload(decode=True).hex()] for p in m.walk() if not p.is_multipart()]))";
    let out = std::process::Command::new("python3")
        .args(["-c", py])
        .arg(eml)
        .output()
        .unwrap();
    let parts: Vec<(String, Option<String>, String)> = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    let bytes = |hex: String| -> Vec<u8> {
        (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect()
    };
    parts
        .into_iter()
        .map(|(t, n, b)| (t, n, bytes(b)))
        .collect()
}

#[test]
fn a_message_over_the_size_limit_is_cut_to_the_top_ips_and_a_gzipped_json() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path());
    // 150 suspicious IPs on the 23rd, the first with the most failed requests.
    let mut many = String::new();
    for i in 0..150u32 {
        let failed = if i == 0 { 9 } else { 5 };
        for n in 0..failed {
            many.push_str(&line(&format!("10.1.{}.{}", i / 100, i % 100), 23, 404, n));
        }
    }
    fs::write(dir.path().join("log/access_2023-06-24.log"), many).unwrap();
    let dry_run = |limit: u64| {
        fs::write(
            dir.path().join("logwarden.toml"),
            format!(
                "[email]\nfrom = \"a@example.org\"\nto = [\"m@example.org\"]\nmax_message_bytes = {limit}\n"
            ),
        )
        .unwrap();
        let out = report_in(
            dir.path(),
            &[
                "report",
                "--week",
                "2023-W25",
                "--email",
                "--dry-run",
                "-q",
                "--html",
                "full.html",
                "--json",
                "full.json",
                "--report",
                "full.txt",
            ],
        );
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let eml = dir.path().join("logwarden-report-2023-W25.eml");
        (
            String::from_utf8_lossy(&out.stderr).into_owned(),
            fs::metadata(&eml).unwrap().len(),
            message_parts(&eml),
        )
    };
    // Under the limit: whole, as the files.
    let (stderr, whole_size, parts) = dry_run(100_000_000);
    assert!(!stderr.contains("warning"), "{stderr}");
    let full_html = fs::read(dir.path().join("full.html")).unwrap();
    let full_json = fs::read(dir.path().join("full.json")).unwrap();
    let full_text = fs::read(dir.path().join("full.txt")).unwrap();
    assert_eq!(
        parts[0].2,
        full_text
            .iter()
            .flat_map(|&b| match b {
                b'\n' => vec![b'\r', b'\n'],
                b => vec![b],
            })
            .collect::<Vec<u8>>()
    );
    assert_eq!(parts[1].2, full_html);
    assert_eq!(
        (parts[2].0.as_str(), parts[2].1.as_deref()),
        ("application/json", Some("logwarden-2023-W25.json"))
    );
    assert_eq!(parts[2].2, full_json);
    // One byte under it: cut.
    let (stderr, cut_size, parts) = dry_run(whole_size - 1);
    assert!(cut_size < whole_size);
    assert!(
        stderr.starts_with(&format!(
            "logwarden: warning: the message would be {whole_size} bytes, over [email] max_message_bytes ({}): cut to {cut_size} bytes\n",
            whole_size - 1
        )),
        "{stderr}"
    );
    // Named whole: the mail is read elsewhere than in the job's directory.
    let at = fs::canonicalize(dir.path()).unwrap();
    let at = at.to_str().unwrap();
    let note = format!(
        "This mail is cut: the whole report is over the mail size limit ([email] max_message_bytes = {}), so it lists at most 100 IPs a day and a table, those with the most failed requests; the JSON is attached gzipped. The whole report is kept in {at}/full.txt, {at}/full.json, {at}/full.html.\r\n\r\n",
        whole_size - 1
    );
    let text = String::from_utf8(parts[0].2.clone()).unwrap();
    let text = text
        .strip_prefix(note.as_str())
        .unwrap()
        .replace("\r\n", "\n");
    // The text's list of the 23rd: 100 of its 150 IPs, and a line that says so.
    let full_text = String::from_utf8(full_text).unwrap();
    let ip_lines = |t: &str| t.lines().filter(|l| l.starts_with("    IP: ")).count();
    assert_eq!(ip_lines(&text), ip_lines(&full_text) - 50);
    let cut_line = "    (the 100 with the most failed requests of 150)";
    assert!(text.contains(&format!("{cut_line}\n")), "{text}");
    assert!(text
        .lines()
        .all(|l| l == cut_line || full_text.lines().any(|f| f == l)));
    let html = String::from_utf8(parts[1].2.clone()).unwrap();
    assert_eq!(parts[3].2, parts[1].2);
    // The week's table and the 23rd's: 152 IPs and 150, each cut to 100, the 9 first.
    assert_eq!(
        html.matches("<tr><td class=\"ip\">").count(),
        100 + 100 + 1 + 1
    );
    assert!(html.contains("<tr><td class=\"ip\">10.1.0.0</td><td class=\"num failed\">9</td>"));
    for (period, all) in [("2023-W25", 152), ("2023-06-23", 150)] {
        assert!(
            html.contains(&format!("<p class=\"cut\" data-period=\"{period}\">The 100 IPs with the most failed requests of {all}; all of them are in <code>{at}/full.html</code>.</p>")),
            "{period}"
        );
    }
    assert_eq!(
        (parts[2].0.as_str(), parts[2].1.as_deref()),
        ("application/gzip", Some("logwarden-2023-W25.json.gz"))
    );
    let mut json = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::GzDecoder::new(&parts[2].2[..]),
        &mut json,
    )
    .unwrap();
    assert_eq!(json, full_json);
    // The history's records go too.
    assert_eq!(parts[4].1.as_deref(), Some("monitoring-2023-W25.log"));
    // A limit nothing fits: cut to the last step, said to be still over it (and not sent:
    // a dry run).
    let (stderr, _, parts) = dry_run(1);
    assert!(
        stderr.contains(" bytes; still over it\nlogwarden: message written to"),
        "{stderr}"
    );
    let kinds: Vec<_> = parts.iter().map(|p| p.0.as_str()).collect();
    assert_eq!(kinds, ["text/plain", "text/html", "text/html"]);
    let text = String::from_utf8(parts[0].2.clone()).unwrap();
    assert!(
        text.starts_with(&format!("This mail is cut: the whole report is over the mail size limit ([email] max_message_bytes = 1), so it lists at most 10 IPs a day and a table, those with the most failed requests; the JSON is not attached; the period's history records are not attached (they are in {at}/log/monitoring.log). The whole report")),
        "{text}"
    );
    assert!(text.contains("    (the 10 with the most failed requests of 150)\r\n"));
}

#[test]
fn a_report_that_mails_waits_for_another_that_is_mailing() {
    use std::os::fd::AsRawFd;
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path());
    // The server is down: once it gets the lock, the run fails to send (exit 1).
    config(dir.path(), free_port(), "R {week}");
    // The lock is on the history's folder.
    let lock = fs::File::open(dir.path().join("log")).unwrap();
    // SAFETY: flock on a descriptor this test owns.
    assert_eq!(unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) }, 0);
    let err_path = dir.path().join("stderr");
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("logwarden"))
        .env("HOME", "/nonexistent")
        .current_dir(dir.path())
        .args(["report", "--week", "2023-W25", "--email", "-q"])
        .stderr(fs::File::create(&err_path).unwrap())
        .spawn()
        .unwrap();
    let waiting = "logwarden: another report run is mailing (it holds a lock on the folder log): waiting for it\n";
    let start = std::time::Instant::now();
    while fs::read_to_string(&err_path).unwrap() != waiting {
        assert!(start.elapsed().as_secs() < 20, "never waited");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(child.try_wait().unwrap().is_none(), "it did not wait");
    drop(lock);
    assert_eq!(child.wait().unwrap().code(), Some(1));
    let err = fs::read_to_string(&err_path).unwrap();
    assert!(
        err.starts_with(waiting) && err.contains("cannot send"),
        "{err}"
    );
}

/// A week of which no archive holds a line (collect stopped, say) read as an all-clear week,
/// exit 0 and nothing said: it says so now, first, wherever the week's warnings go.
#[test]
fn a_week_without_a_line_is_a_warning_not_an_all_clear() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path());
    let out = week_json_no_history_of(dir.path(), "2023-W40");
    assert_eq!(out.status.code(), Some(0));
    let warning = "no line dated 2023-10-02 to 2023-10-08 was read: its figures are empty for want of logs, which says nothing of the server's week (were its logs collected into the inputs?)";
    let j: Value = serde_json::from_slice(&fs::read(dir.path().join("w.json")).unwrap()).unwrap();
    assert_eq!(j["totals"]["lines"], 0);
    assert_eq!(j["warnings"][0], warning);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with(&format!("logwarden: warning: {warning}\n")),
        "{stderr}"
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("\n\nWarning: {warning}\n\n")),
        "{text}"
    );
    // A week with lines says nothing of the kind.
    let out = week_json_no_history(dir.path());
    assert_eq!(out.status.code(), Some(0));
    let j: Value = serde_json::from_slice(&fs::read(dir.path().join("w.json")).unwrap()).unwrap();
    assert_eq!(j["warnings"], json!([]));
}

#[test]
fn an_archive_of_which_no_line_parsed_is_a_warning_of_the_week() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path());
    // A proxy's `client, proxy` field: the week would read as quiet. One dated long before
    // the previous week holds none of its lines: not said.
    let old = line("203.0.113.9, 10.0.0.1", 2, 401, 1)
        .replace("/Jun/2023", "/Jan/2022")
        .repeat(3);
    fs::write(dir.path().join("log/access_2022-01-03.log"), &old).unwrap();
    // The week's starts as a copy of it: the copied lines parsed nowhere either.
    let proxy = line("203.0.113.9, 10.0.0.1", 23, 401, 1).repeat(3);
    fs::write(dir.path().join("log/access_2023-06-24.log"), old + &proxy).unwrap();
    let out = week_json_no_history(dir.path());
    assert_eq!(out.status.code(), Some(0));
    let warning = "log/access_2023-06-24.log: no line parsed: all 3 lines are malformed (bad_client: 3); is it an access log in the common, combined or vhost_combined layout?";
    let j: Value = serde_json::from_slice(&fs::read(dir.path().join("w.json")).unwrap()).unwrap();
    assert_eq!(j["warnings"], json!([warning]));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!("logwarden: warning: {warning}\n")
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("\n\nWarning: {warning}\n\n")),
        "{text}"
    );
}

/// A gzipped copy that could not be compared by its text counts its lines again: the week
/// says so (it was said only in the HTML's inputs).
#[test]
fn an_archive_not_compared_for_duplicates_is_a_warning_of_the_week() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path());
    let log = dir.path().join("log");
    let copied = fs::read(log.join("access_2023-06-22.log")).unwrap();
    let later = [&copied[..], line("10.0.0.9", 23, 200, 1).as_bytes()].concat();
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut e, &later).unwrap();
    fs::write(log.join("access_2023-06-24.log.gz"), e.finish().unwrap()).unwrap();
    let no_tmp = dir.path().join("no-such-folder");
    let run = |tmp: &Path| {
        logwarden()
            .current_dir(dir.path())
            .env("TMPDIR", tmp)
            .args(["report", "--week", "2023-W25", "--json", "w.json", "-q"])
            .arg("--no-history")
            .output()
            .unwrap()
    };
    let json = || -> Value {
        serde_json::from_slice(&fs::read(dir.path().join("w.json")).unwrap()).unwrap()
    };
    // With room to decode it: its copied lines are found and counted once, nothing said.
    let out = run(&std::env::temp_dir());
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    let decoded = json();
    assert_eq!(decoded["totals"]["lines"], 14);
    assert_eq!(decoded["warnings"], json!([]));
    // Without: they count twice, and the week says why.
    let out = run(&no_tmp);
    assert_eq!(out.status.code(), Some(0));
    let warning = format!(
        "log/access_2023-06-24.log.gz: not compared with the other inputs by its text, only by its compressed bytes (a copy in another form counts again): no temporary file for its text in {} (No such file or directory (os error 2); set TMPDIR to a folder with room)",
        no_tmp.display()
    );
    let j = json();
    assert_eq!(j["totals"]["lines"], 27);
    assert_eq!(j["warnings"], json!([warning]));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!("logwarden: warning: {warning}\n")
    );

    // Archives named for days long before the period whose lines are the week's: said too,
    // as their errors would be (by the days read, not by the name).
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    fs::create_dir(&log).unwrap();
    let week: String = (0..3)
        .map(|n| line("10.0.0.5", 19 + n as u32 % 2, 401, n))
        .collect();
    fs::write(log.join("access_2023-01-01.log"), &week).unwrap();
    fs::write(log.join("access_2023-01-02.log"), &week).unwrap();
    let out = logwarden()
        .current_dir(dir.path())
        .env("LOGWARDEN_MAP_BUDGET", "1")
        .args(["report", "--week", "2023-W25", "--json", "w.json", "-q"])
        .arg("--no-history")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let j: Value = serde_json::from_slice(&fs::read(dir.path().join("w.json")).unwrap()).unwrap();
    assert_eq!(j["totals"]["lines"], 6);
    assert_eq!(
        j["warnings"],
        json!(["log/access_2023-01-02.log: not compared with the other inputs (a copy of another input counts again): 1 file is mapped, the most this system allows one run, and this one is read as a stream"])
    );
}

#[test]
fn a_cut_mail_still_over_a_servers_limit_is_a_failed_send() {
    if !have_aiosmtpd("a_cut_mail_still_over_a_servers_limit_is_a_failed_send") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path());
    let port = free_port();
    fs::write(
        dir.path().join("logwarden.toml"),
        format!(
            "[email]\nfrom = \"a@example.org\"\nto = [\"m@example.org\"]\nmax_message_bytes = 1\n\
             [smtp]\nhost = \"127.0.0.1\"\nport = {port}\nsecurity = \"none\"\n"
        ),
    )
    .unwrap();
    // A server that takes at most 2,000 bytes a message.
    let mut server = mailbox_server(port, &dir.path().join("maildir"), &["-s", "2000"]);
    let out = report_in(
        dir.path(),
        &["report", "--week", "2023-W25", "--email", "-q"],
    );
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Said as what it does before the send, never as sent; then the server's refusal.
    let lines: Vec<&str> = stderr.lines().collect();
    assert!(
        lines[0].starts_with("logwarden: warning: the message would be ")
            && lines[0].ends_with(" bytes; still over it, sending it all the same"),
        "{stderr}"
    );
    assert!(
        lines[1].starts_with("logwarden: error: cannot send mail") && lines[1].contains("552"),
        "{stderr}"
    );
    assert!(!stderr.contains("sent all the same"));
    // Nothing recorded as mailed: the next run tries again.
    let jsonl = dir.path().join("log/history.jsonl");
    assert!(!fs::read_to_string(jsonl)
        .unwrap_or_default()
        .contains("mailed_to\":\""));
}
