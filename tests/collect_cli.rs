//! `logwarden collect` end to end: errors and exit codes, the lock, nothing-new runs,
//! `--analyze` with its history record, `--compress-after`, and the history under concurrent
//! and killed writers.

mod common;
use common::*;
use serde_json::{json, Value};
use std::fs;
use std::io::Write;
use std::path::Path;

fn line(ip: &str, status: u16, n: usize) -> String {
    format!("{ip} - - [19/Jun/2023:10:00:{:02} +0000] \"POST /login HTTP/1.1\" {status} 12 \"-\" \"curl\"\n", n % 60)
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

/// `collect --source access.log --analyze -q` in `dir`.
fn collect_analyze_quiet(dir: &Path) -> std::process::Output {
    logwarden()
        .current_dir(dir)
        .args(["collect", "--source", "access.log", "--analyze", "-q"])
        .output()
        .unwrap()
}

/// `collect --source access.log --analyze` in `dir`, which must exit 0: its stdout.
fn collect_analyze_ok(dir: &Path) -> String {
    let out = logwarden()
        .current_dir(dir)
        .args(["collect", "--source", "access.log", "--analyze"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    stdout
}

/// `collect -q --source access.log` in `dir`.
fn collect_quiet(dir: &Path) -> std::process::Output {
    logwarden()
        .current_dir(dir)
        .args(["collect", "-q", "--source", "access.log"])
        .output()
        .unwrap()
}

fn today() -> String {
    chrono::Local::now().date_naive().to_string()
}

#[test]
fn missing_source_is_exit_2_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = logwarden()
        .current_dir(dir.path())
        .args(["collect", "--source", "nope/access.log"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot read source nope/access.log"),
        "stderr: {err}"
    );
    assert!(!dir.path().join("log").exists(), "no dest, no archive");
}

/// A FIFO as the source, or among its rotated files, is refused without waiting for a
/// writer (`open` blocked before any check: the run hung).
#[test]
fn a_fifo_source_or_rotated_file_does_not_hang() {
    let dir = tempfile::tempdir().unwrap();
    let collect = || {
        logwarden()
            .current_dir(dir.path())
            .args(["collect", "--source", "access.log"])
            .timeout(std::time::Duration::from_secs(20))
            .output()
            .unwrap()
    };
    mkfifo(&dir.path().join("access.log"));
    let out = collect();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "logwarden: error: cannot read source access.log: not a regular file\n"
    );
    fs::remove_file(dir.path().join("access.log")).unwrap();
    fs::write(dir.path().join("access.log"), line("10.0.0.1", 401, 1)).unwrap();
    mkfifo(&dir.path().join("access.log.1"));
    let out = collect();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "logwarden: warning: skipped unreadable rotated file access.log.1: not a regular file\n"
    );
    assert_eq!(
        fs::read_to_string(dir.path().join(format!("log/access_{}.log", today()))).unwrap(),
        line("10.0.0.1", 401, 1)
    );
}

#[test]
fn bad_analysis_settings_stop_collect_before_anything_is_archived() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("access.log"), line("10.0.0.1", 401, 1)).unwrap();
    let run = |extra: &[&str]| {
        logwarden()
            .current_dir(dir.path())
            .args(["collect", "--source", "access.log", "--analyze"])
            .args(extra)
            .output()
            .unwrap()
    };
    let config = |text: &str| fs::write(dir.path().join("logwarden.toml"), text).unwrap();
    // Found after the archive was committed, this left it collected but never analyzed nor
    // recorded: the next run found nothing new.
    let out = run(&["--max-line-bytes", "10"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--max-line-bytes must be at least 64"));
    assert!(!dir.path().join("log").exists(), "nothing collected");
    // The thread count of the config file too (it was checked only once archived).
    config("[analyze]\nthreads = 100000\n");
    let out = run(&[]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "logwarden: error: [analyze] threads (config file logwarden.toml): at most 1024 (0: all cores)\n"
    );
    assert!(!dir.path().join("log").exists(), "nothing collected");
    // Without --analyze: said by the daily collect (not first by the weekly report), but
    // the lines are collected all the same.
    let collect_elsewhere = |extra: &[&str]| {
        logwarden()
            .current_dir(dir.path())
            .args([
                "collect",
                "-q",
                "--source",
                "access.log",
                "--dest",
                "elsewhere",
            ])
            .args(extra)
            .output()
            .unwrap()
    };
    config("[analyze]\nthreshold = 0\n");
    let out = collect_elsewhere(&[]);
    assert_eq!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("logwarden: warning: ")
            && err.contains("threshold")
            && err.ends_with(
                " (not used by collect without --analyze; analyze and report refuse it)\n"
            ),
        "{err}"
    );
    assert_eq!(archived_lines(&dir.path().join("elsewhere")).len(), 1);
    fs::remove_dir_all(dir.path().join("elsewhere")).unwrap();
    // So too a value of the wrong type, or an unknown key, in `[analyze]` (they stopped the
    // collect, exit 2: a typo in a shared file left the lines in the live log); and a bad
    // `[email]` or `[smtp]`, which only `report --email` uses. Each said on one line, with
    // where it is in the file.
    for (toml, said) in [
        ("[analyze]
threshold = -1
", "line 2, column 13: invalid value: integer `-1`, expected u64 (not used by collect without --analyze; analyze and report refuse it)"),
        ("[analyze]
threshhold = 3
", "line 2, column 1: unknown field `threshhold`, expected one of `codes`, `threshold`, `bad_request_threshold`, `utc`, `format`, `max_line_bytes`, `threads`, `paths` (not used by collect without --analyze; analyze and report refuse it)"),
        ("[smtp]
port = \"x\"\n", "line 2, column 8: invalid type: string \"x\", expected u16 (not used here; report --email refuses it)"),
    ] {
        config(toml);
        let out = collect_elsewhere(&[]);
        assert_eq!(out.status.code(), Some(0), "{toml}");
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            format!("logwarden: warning: invalid config file logwarden.toml: {said}\n"),
            "{toml}"
        );
        assert_eq!(archived_lines(&dir.path().join("elsewhere")).len(), 1);
        fs::remove_dir_all(dir.path().join("elsewhere")).unwrap();
        // With --analyze a bad `[analyze]` stops it, before anything is archived.
        let out = collect_elsewhere(&["--analyze"]);
        let stops = toml.starts_with("[analyze]");
        assert_eq!(out.status.code(), Some(if stops { 2 } else { 0 }), "{toml}");
        assert_eq!(dir.path().join("elsewhere").exists(), !stops, "{toml}");
        let _ = fs::remove_dir_all(dir.path().join("elsewhere"));
        let _ = fs::remove_dir_all(dir.path().join("log")); // the history's folder
    }
    // An unknown table stops every command: it is no command's.
    config("[analyse]\nthreshold = 3\n");
    let out = collect_elsewhere(&[]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "logwarden: error: invalid config file logwarden.toml: line 1, column 2: unknown field `analyse`, expected one of `analyze`, `email`, `smtp`\n"
    );
    assert!(!dir.path().join("elsewhere").exists());
    fs::remove_file(dir.path().join("logwarden.toml")).unwrap();
    // The history named as the live log (or a rotated file of it, or a link to it): its
    // records would be collected as log lines.
    fs::hard_link(dir.path().join("access.log"), dir.path().join("other.log")).unwrap();
    fs::write(dir.path().join("access.log.2"), line("10.0.0.2", 401, 2)).unwrap();
    std::os::unix::fs::symlink("access.log.2", dir.path().join("to-rotated.log")).unwrap();
    fs::hard_link(
        dir.path().join("access.log.2"),
        dir.path().join("hard-rotated.log"),
    )
    .unwrap();
    for history in [
        "access.log",
        "./access.log.1",
        "access.log-20230619.gz",
        "other.log",
        "to-rotated.log",
        "hard-rotated.log",
    ] {
        let out = run(&["--history", history]);
        assert_eq!(out.status.code(), Some(2), "{history}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.ends_with("is access.log, one of its rotated files or a link to one; the history would be collected as log lines\n"),
            "{err}"
        );
        assert!(!dir.path().join("log").exists(), "nothing collected");
    }
    assert_eq!(
        fs::read_to_string(dir.path().join("access.log")).unwrap(),
        line("10.0.0.1", 401, 1)
    );
    assert_eq!(
        fs::read_to_string(dir.path().join("access.log.2")).unwrap(),
        line("10.0.0.2", 401, 2)
    );
    for extra in [
        "access.log.2",
        "to-rotated.log",
        "hard-rotated.log",
        "other.log",
    ] {
        fs::remove_file(dir.path().join(extra)).unwrap();
    }
    // Detection flags and the history's flags without --analyze would be ignored.
    for (extra, err) in [
        (
            &["--threshold", "3"][..],
            "logwarden: error: --threshold is used only with --analyze\n",
        ),
        (
            &["--utc"][..],
            "logwarden: error: --utc is used only with --analyze\n",
        ),
    ] {
        let out = logwarden()
            .current_dir(dir.path())
            .args(["collect", "--source", "access.log"])
            .args(extra)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        assert_eq!(String::from_utf8_lossy(&out.stderr), err);
    }
    for extra in ["--history=h.log", "--no-history"] {
        let out = logwarden()
            .current_dir(dir.path())
            .args(["collect", "--source", "access.log", extra])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{extra}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("--analyze"),
            "{extra}"
        );
    }
    assert!(!dir.path().join("log").exists(), "nothing collected");
    let out = run(&[]);
    assert_eq!(out.status.code(), Some(0));
    let history = fs::read_to_string(dir.path().join("log/monitoring.log")).unwrap();
    assert!(history.contains(": 1 lines collected\n"), "{history}");
    assert!(
        history.contains("2023-06-19: 1 lines, 1 failed, 0 status-400"),
        "{history}"
    );
}

#[test]
fn second_instance_is_refused_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("access.log"), line("10.0.0.1", 200, 1)).unwrap();
    let dest = dir.path().join("log");
    fs::create_dir_all(&dest).unwrap();
    let held = logwarden::collect::lock::acquire(&dest).unwrap();
    let out = logwarden()
        .current_dir(dir.path())
        .args(["collect", "--source", "access.log"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("another logwarden collect is already running on log"),
        "stderr: {err}"
    );
    assert_eq!(names(&dest), vec![".logwarden-collect.lock"]);
    drop(held);
}

#[test]
fn collect_analyze_history_then_nothing_new() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("access.log");
    let mut text = String::new();
    for n in 0..6 {
        text.push_str(&line("172.16.14.50", 401, n));
    }
    text.push_str(&line("10.0.0.1", 200, 7));
    // In no day: the record says so (its days added up to less than was collected).
    text.push_str("not a log line\n\n");
    fs::write(&src, &text).unwrap();
    let stdout = collect_analyze_ok(dir.path());
    let archive = format!("access_{}.log", today());
    assert!(
        stdout.starts_with(&format!(
            "Collected 9 lines ({} bytes) into log/{archive}\n  from access.log (at byte 0): 9 lines, {} bytes\n",
            text.len(),
            text.len()
        )),
        "{stdout}"
    );
    assert!(stdout.contains("IP: 172.16.14.50 - Failed login attempts: 6\n"));
    assert!(stdout.ends_with("Detection complete.\n"));
    assert_eq!(
        fs::read_to_string(dir.path().join("log").join(&archive)).unwrap(),
        text
    );
    let history = fs::read_to_string(dir.path().join("log/monitoring.log")).unwrap();
    let body: Vec<&str> = history.lines().skip(1).collect();
    assert!(history.starts_with("=== "));
    assert_eq!(
        body,
        vec![
            format!("    archive log/{archive}: 9 lines collected").as_str(),
            "    lines in no day: 1 malformed (not_access_line 1), 1 blank",
            "    2023-06-19: 7 lines, 6 failed, 0 status-400",
            "      IP: 172.16.14.50 - Failed login attempts: 6",
            "",
        ]
    );
    let jsonl = fs::read_to_string(dir.path().join("log/history.jsonl")).unwrap();
    let rec: serde_json::Value = serde_json::from_str(jsonl.trim_end()).unwrap();
    assert_eq!(rec["lines_collected"], 9);
    assert_eq!(
        (&rec["malformed"], &rec["blank"]),
        (&serde_json::json!(1), &serde_json::json!(1))
    );
    assert_eq!(rec["malformed_by_reason"]["not_access_line"], 1);
    assert_eq!(rec["days"][0]["suspicious_ips"][0]["ip"], "172.16.14.50");
    assert_eq!(rec["days"][0]["suspicious_ips"][0]["by_status"]["401"], 6);

    // Second run: nothing new, no archive, a history record saying so.
    let out = logwarden()
        .current_dir(dir.path())
        .args(["collect", "--source", "access.log", "--analyze"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "Nothing new in access.log since the last collect; no archive written.\n"
    );
    assert_eq!(
        names(&dir.path().join("log")),
        vec![
            ".logwarden-collect.json".to_string(),
            ".logwarden-collect.lock".into(),
            archive.clone(),
            "history.jsonl".into(),
            "monitoring.log".into()
        ]
    );
    let history = fs::read_to_string(dir.path().join("log/monitoring.log")).unwrap();
    let recs = logwarden::sink::history::records(&history);
    assert_eq!(recs.len(), 2);
    assert!(recs[1].ends_with("\n    nothing new in access.log since the last collect\n\n"));

    // More lines: a second archive for the same day.
    fs::OpenOptions::new()
        .append(true)
        .open(&src)
        .and_then(|mut f| std::io::Write::write_all(&mut f, line("10.0.0.2", 404, 9).as_bytes()))
        .unwrap();
    let out = logwarden()
        .current_dir(dir.path())
        .args(["collect", "--source", "access.log"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let second = format!("access_{}-2.log", today());
    assert_eq!(
        fs::read_to_string(dir.path().join("log").join(&second)).unwrap(),
        line("10.0.0.2", 404, 9)
    );
}

#[test]
fn compress_after_gzips_old_archives_only() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("log");
    fs::create_dir_all(&dest).unwrap();
    fs::write(dest.join("access_2020-01-01.log"), "old line\n").unwrap();
    fs::write(dest.join("access_2020-01-02-2.log"), "old line 2\n").unwrap();
    fs::write(dest.join("cronjob_logs"), "not an archive\n").unwrap();
    fs::write(dir.path().join("access.log"), line("10.0.0.1", 200, 1)).unwrap();
    let out = logwarden()
        .current_dir(dir.path())
        .args(["collect", "--source", "access.log", "--compress-after", "7"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let today = format!("access_{}.log", today());
    assert_eq!(
        names(&dest),
        vec![
            ".logwarden-collect.json".to_string(),
            ".logwarden-collect.lock".into(),
            "access_2020-01-01.log.gz".into(),
            "access_2020-01-02-2.log.gz".into(),
            today,
            "cronjob_logs".into()
        ]
    );
    let gz = fs::read(dest.join("access_2020-01-02-2.log.gz")).unwrap();
    let mut plain = String::new();
    std::io::Read::read_to_string(&mut flate2::read::MultiGzDecoder::new(&gz[..]), &mut plain)
        .unwrap();
    assert_eq!(plain, "old line 2\n");
}

/// Child mode for the concurrency test: append `LW_HISTORY_RECORDS` big records.
#[test]
fn history_child() {
    let Ok(path) = std::env::var("LW_HISTORY_PATH") else {
        return;
    };
    let id: usize = std::env::var("LW_HISTORY_ID").unwrap().parse().unwrap();
    let count: usize = std::env::var("LW_HISTORY_RECORDS")
        .unwrap()
        .parse()
        .unwrap();
    for k in 0..count {
        let mut r = logwarden::sink::history::Record::new(format!("child {id} record {k}"));
        for i in 0..2000 {
            r.lines
                .push(format!("child {id} record {k} line {i} {}", "y".repeat(40)));
        }
        r.json.insert("id".into(), id.into());
        logwarden::sink::history::append(Path::new(&path), &r).unwrap();
    }
}

fn spawn_children(path: &Path, n: usize, records: usize) -> Vec<std::process::Child> {
    (0..n)
        .map(|id| {
            std::process::Command::new(std::env::current_exe().unwrap())
                .args([
                    "--exact",
                    "history_child",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env("LW_HISTORY_PATH", path)
                .env("LW_HISTORY_ID", id.to_string())
                .env("LW_HISTORY_RECORDS", records.to_string())
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect()
}

/// Check every record is whole: its header, then exactly its 2000 lines, then a blank line.
fn whole_records(text: &str) -> usize {
    let recs = logwarden::sink::history::records(text);
    assert_eq!(recs.concat(), text, "nothing outside records");
    for rec in &recs {
        let mut lines = rec.lines();
        let header = lines.next().unwrap();
        let title = header.splitn(3, ' ').nth(2).unwrap();
        let (id, k) = title
            .strip_prefix("child ")
            .and_then(|t| t.split_once(" record "))
            .unwrap();
        for i in 0..2000 {
            assert_eq!(
                lines.next().unwrap(),
                format!("    child {id} record {k} line {i} {}", "y".repeat(40))
            );
        }
        assert_eq!(lines.next(), Some(""));
        assert_eq!(lines.next(), None);
    }
    recs.len()
}

#[test]
fn concurrent_history_appends_stay_whole() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("monitoring.log");
    let children = spawn_children(&path, 8, 3);
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    assert_eq!(whole_records(&fs::read_to_string(&path).unwrap()), 24);
    let jsonl = fs::read_to_string(dir.path().join("history.jsonl")).unwrap();
    assert_eq!(jsonl.lines().count(), 24);
    for l in jsonl.lines() {
        serde_json::from_str::<serde_json::Value>(l).unwrap();
    }
}

#[test]
fn killed_history_writers_leave_whole_records() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("monitoring.log");
    let children = spawn_children(&path, 4, 1000);
    std::thread::sleep(std::time::Duration::from_millis(300));
    for mut c in children {
        let _ = c.kill();
        let _ = c.wait();
    }
    // A writer killed mid-record leaves it cut off; the next writer removes it first.
    let mut next = logwarden::sink::history::Record::new("child 9 record 0");
    for i in 0..2000 {
        next.lines
            .push(format!("child 9 record 0 line {i} {}", "y".repeat(40)));
    }
    logwarden::sink::history::append(&path, &next).unwrap();
    let text = fs::read_to_string(&path).unwrap_or_default();
    assert!(whole_records(&text) >= 1);
    let jsonl = fs::read_to_string(dir.path().join("history.jsonl")).unwrap_or_default();
    assert!(jsonl.is_empty() || jsonl.ends_with('\n'));
    for l in jsonl.lines() {
        serde_json::from_str::<serde_json::Value>(l).unwrap();
    }
}

#[test]
fn get_log_script_runs_collect_analyze_into_cronjob_logs() {
    let dir = tempfile::tempdir().unwrap();
    // Arguments: `--help` is its header; anything else a usage error, before it runs (it
    // once ignored them, and collected).
    let script = |arg: &str| {
        std::process::Command::new("bash")
            .arg(root().join("scripts/get_log.sh"))
            .arg(arg)
            .env("LOGWARDEN_HOME", dir.path())
            .output()
            .unwrap()
    };
    let help = script("--help");
    assert_eq!(help.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&help.stdout).starts_with("Seed-compatible daily job"));
    assert_eq!(script("--source").status.code(), Some(2));
    assert!(!dir.path().join("log").exists(), "nothing run");
    let src = dir.path().join("access.log");
    fs::write(&src, line("10.0.0.9", 404, 1)).unwrap();
    let out = std::process::Command::new("bash")
        .arg(root().join("scripts/get_log.sh"))
        .env("LOGWARDEN_HOME", dir.path())
        .env("LOGWARDEN_SOURCE", &src)
        .env("LOGWARDEN_BIN", assert_cmd::cargo::cargo_bin("logwarden"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty(), "all output goes to log/cronjob_logs");
    let cron = fs::read_to_string(dir.path().join("log/cronjob_logs")).unwrap();
    assert!(cron.starts_with("--- "));
    assert!(cron.contains(&format!(
        "Collected 1 lines ({} bytes) into log/access_{}.log\n",
        line("10.0.0.9", 404, 1).len(),
        today()
    )));
    assert!(cron.ends_with("Detection complete.\n"));
    let history = fs::read_to_string(dir.path().join("log/monitoring.log")).unwrap();
    assert_eq!(logwarden::sink::history::records(&history).len(), 1);
    // Missing source: exit 2, the error in cronjob_logs.
    let out = std::process::Command::new("bash")
        .arg(root().join("scripts/get_log.sh"))
        .env("LOGWARDEN_HOME", dir.path())
        .env("LOGWARDEN_SOURCE", dir.path().join("gone.log"))
        .env("LOGWARDEN_BIN", assert_cmd::cargo::cargo_bin("logwarden"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let cron = fs::read_to_string(dir.path().join("log/cronjob_logs")).unwrap();
    assert!(cron.contains("logwarden: error: cannot read source "));
}

/// A run killed after renaming its archive into place, before committing it: the next
/// `collect --analyze` commits it and analyzes and records it (it found nothing new, and
/// recorded "nothing new", before).
#[test]
fn an_archive_recovered_from_an_interrupted_run_is_analyzed_and_recorded() {
    use logwarden::collect::{collect, CrashPoint, Options};
    // Also when this run compresses it first (--compress-after): analyzed as its `.gz`.
    for compress in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("access.log");
        let text: String = (0..6).map(|n| line("172.16.14.50", 401, n)).collect();
        fs::write(&src, &text).unwrap();
        let crashed = collect(&Options {
            source: src.clone(),
            dest: dir.path().join("log"),
            today: chrono::NaiveDate::from_ymd_opt(2023, 6, 19).unwrap(),
            compress_after: None,
            record: true,
            crash_at: Some(CrashPoint::AfterRename),
            before_copy: None,
        });
        assert!(crashed.is_err());
        // A plain collect (no analysis) rolls it forward, and a run without a history
        // analyzes only its own archive: neither takes it off the list.
        let others: [&[&str]; 2] = [
            &["collect", "--source", "access.log"],
            &[
                "collect",
                "--source",
                "access.log",
                "--analyze",
                "--no-history",
            ],
        ];
        for other in others {
            let out = logwarden()
                .current_dir(dir.path())
                .args(other)
                .output()
                .unwrap();
            assert_eq!(out.status.code(), Some(0), "{other:?}");
        }
        let out = logwarden()
            .current_dir(dir.path())
            .args(["collect", "--source", "access.log", "--analyze"])
            .args(if compress {
                &["--compress-after", "1"][..]
            } else {
                &[]
            })
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{stdout}");
        assert!(
            stdout.contains("IP: 172.16.14.50 - Failed login attempts: 6\n"),
            "{stdout}"
        );
        let archive = match compress {
            false => "access_2023-06-19.log",
            true => "access_2023-06-19.log.gz",
        };
        let history = fs::read_to_string(dir.path().join("log/monitoring.log")).unwrap();
        let body: Vec<&str> = history.lines().skip(1).collect();
        let recovered =
            format!("    archive log/{archive}: created by an earlier run that did not record it, analyzed now");
        assert_eq!(
            body,
            vec![
                "    nothing new in access.log since the last collect",
                recovered.as_str(),
                "    2023-06-19: 6 lines, 6 failed, 0 status-400",
                "      IP: 172.16.14.50 - Failed login attempts: 6",
                "",
            ]
        );
        // One archive: the recovered one, no second copy of its lines.
        let archives: Vec<String> = names(&dir.path().join("log"))
            .into_iter()
            .filter(|n| n.starts_with("access_"))
            .collect();
        assert_eq!(archives, [archive]);
        // Taken off the list (under its `.gz` name too): a further run records nothing again.
        collect_analyze_ok(dir.path());
        let history = fs::read_to_string(dir.path().join("log/monitoring.log")).unwrap();
        assert_eq!(history.matches("analyzed now").count(), 1, "{history}");
        let state = fs::read_to_string(dir.path().join("log/.logwarden-collect.json")).unwrap();
        assert!(!state.contains("unrecorded"), "{state}");
    }
}

/// A run killed during its analysis (after its archive was committed) left the archive
/// unrecorded, and the next run found "nothing new". The archive now stays in the state's
/// `unrecorded` list until its record is written, and the lock is held until then: a second
/// run meanwhile is refused instead of finding nothing new.
#[test]
fn an_archive_whose_run_was_killed_before_its_record_is_recorded_by_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let text: String = (0..6).map(|n| line("172.16.14.50", 401, n)).collect();
    let killed = analyze_run_until_its_analysis(dir.path(), &text);
    assert_eq!(
        killed.unrecorded,
        [dir.path().join("log/access_2023-06-19.log")]
    );
    // While it holds the lock (analyzing), another run is refused.
    let out = logwarden()
        .current_dir(dir.path())
        .args(["collect", "--source", "access.log", "--analyze"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("already running"));
    drop(killed); // killed: no record, no `recorded`
    let stdout = collect_analyze_ok(dir.path());
    assert!(
        stdout.contains("IP: 172.16.14.50 - Failed login attempts: 6\n"),
        "{stdout}"
    );
    let history = fs::read_to_string(dir.path().join("log/monitoring.log")).unwrap();
    assert!(history.contains("    archive log/access_2023-06-19.log: created by an earlier run that did not record it, analyzed now\n"), "{history}");
    // Recorded once: the run after finds nothing left to record.
    collect_analyze_ok(dir.path());
    let history = fs::read_to_string(dir.path().join("log/monitoring.log")).unwrap();
    assert_eq!(history.matches("analyzed now").count(), 1, "{history}");
    let state = fs::read_to_string(dir.path().join("log/.logwarden-collect.json")).unwrap();
    assert!(!state.contains("unrecorded"), "{state}");
}

/// A run killed after appending its record, before the state file noted it: its archive is
/// still listed as unrecorded. The next run finds the archive in that record's
/// `recorded_archives` and does not analyze and record it a second time (it did: the
/// client's failed logins were in the history twice).
#[test]
fn an_archive_whose_run_was_killed_after_its_record_is_not_recorded_again() {
    let dir = tempfile::tempdir().unwrap();
    let mut text: String = (0..6).map(|n| line("172.16.14.50", 401, n)).collect();
    fs::write(dir.path().join("access.log"), &text).unwrap();
    collect_analyze_ok(dir.path());
    let log = dir.path().join("log");
    let [first] = names(&log)
        .into_iter()
        .filter(|n| n.starts_with("access_"))
        .collect::<Vec<_>>()
        .try_into()
        .unwrap();
    // The state as that run left it had it been killed before noting the record.
    let state_path = log.join(".logwarden-collect.json");
    let mut state: Value = serde_json::from_slice(&fs::read(&state_path).unwrap()).unwrap();
    let source = state["streams"][0]["source"].clone();
    let record: Value = serde_json::from_str(
        fs::read_to_string(log.join("history.jsonl"))
            .unwrap()
            .trim(),
    )
    .unwrap();
    let token = record["recorded_archives"][0].clone();
    assert!(
        token.as_str().unwrap().starts_with(&format!("{first}@")),
        "{token}"
    );
    state["unrecorded"] = serde_json::json!([{"archive": first, "source": source, "token": token}]);
    fs::write(&state_path, serde_json::to_vec(&state).unwrap()).unwrap();

    text.push_str(&line("10.0.0.7", 404, 7));
    fs::write(dir.path().join("access.log"), &text).unwrap();
    let stdout = collect_analyze_ok(dir.path());
    let noted = format!(
        "Archive log/{first} was recorded by an earlier run that stopped before noting it; not recorded again\n"
    );
    assert!(stdout.contains(&noted), "{stdout}");
    assert!(!stdout.contains("172.16.14.50"), "{stdout}");
    let history = fs::read_to_string(log.join("monitoring.log")).unwrap();
    assert_eq!(logwarden::sink::history::records(&history).len(), 2);
    assert_eq!(history.matches("analyzed now").count(), 0, "{history}");
    assert_eq!(
        history
            .matches("IP: 172.16.14.50 - Failed login attempts: 6")
            .count(),
        1,
        "{history}"
    );
    let records: Vec<Value> = fs::read_to_string(log.join("history.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 2);
    assert_eq!(records[1]["days"][0]["lines"], 1);
    assert_eq!(records[1]["earlier_archives"], serde_json::json!([]));
    let state = fs::read_to_string(&state_path).unwrap();
    assert!(!state.contains("unrecorded"), "{state}");
}

/// An archive deleted after it was recorded, and another made under its name by a run
/// killed before its record: that one is analyzed and recorded by the next run. A record
/// names the archives it recorded by a token of their making, not by their name (by name,
/// the new archive passed for recorded, and its lines were never analyzed).
#[test]
fn an_archive_made_under_a_recorded_archives_name_is_still_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    fs::create_dir_all(&log).unwrap();
    // Records of the archive of that name made earlier: as this version and as the one
    // before it named it.
    let dest = fs::canonicalize(&log).unwrap();
    let earlier = serde_json::json!({
        "command": "collect",
        "recorded_archives": [
            format!("{}/access_2023-06-19.log", dest.display()),
            "access_2023-06-19.log@1687132800.000000001-4242",
        ],
    });
    fs::write(log.join("history.jsonl"), format!("{earlier}\n")).unwrap();
    let text: String = (0..6).map(|n| line("172.16.14.50", 401, n)).collect();
    drop(analyze_run_until_its_analysis(dir.path(), &text));
    let stdout = collect_analyze_ok(dir.path());
    assert!(!stdout.contains("not recorded again"), "{stdout}");
    assert!(
        stdout.contains("IP: 172.16.14.50 - Failed login attempts: 6\n"),
        "{stdout}"
    );
    let history = fs::read_to_string(log.join("monitoring.log")).unwrap();
    assert_eq!(history.matches("analyzed now").count(), 1, "{history}");
}

/// The history's JSON-lines twin cannot be written (a full disk, here a directory in its
/// place): each run fails (exit 2) and records nothing, in either file, so its archives stay
/// unrecorded; the first run that can write both records them all, once. (The twin was
/// written second: the text file then had every failing run's record, and a run killed
/// between the two appends had its archives recorded twice.)
#[test]
fn a_record_the_twin_cannot_take_is_made_once_by_the_next_run() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join("log/history.jsonl")).unwrap();
    let mut text: String = (0..5).map(|n| line("10.0.0.9", 404, n)).collect();
    for run in 0..3 {
        if run == 2 {
            fs::remove_dir(dir.path().join("log/history.jsonl")).unwrap();
        }
        text.push_str(&line("10.0.0.1", 200, 10 + run));
        fs::write(dir.path().join("access.log"), &text).unwrap();
        let out = collect_analyze_quiet(dir.path());
        let stderr = String::from_utf8_lossy(&out.stderr);
        match run {
            2 => assert_eq!(out.status.code(), Some(0), "{stderr}"),
            _ => {
                assert_eq!(out.status.code(), Some(2), "{stderr}");
                assert!(stderr.contains("history.jsonl"), "{stderr}");
            }
        }
    }
    let history = fs::read_to_string(dir.path().join("log/monitoring.log")).unwrap();
    assert_eq!(
        logwarden::sink::history::records(&history).len(),
        1,
        "{history}"
    );
    assert_eq!(
        history
            .matches("created by an earlier run that did not record it, analyzed now")
            .count(),
        2,
        "{history}"
    );
    let twin = fs::read_to_string(dir.path().join("log/history.jsonl")).unwrap();
    assert_eq!(twin.lines().count(), 1, "{twin}");
    assert_eq!(
        history
            .matches("IP: 10.0.0.9 - Failed login attempts: 5")
            .count(),
        1,
        "{history}"
    );
}

/// Two archives analyzed together (the first one's run was killed before its record), the
/// second starting with the first's whole content: identical lines of one second, a burst
/// from one client. Archives never share a line, so neither is a copy of the other: all five
/// failed logins count (duplicate detection made it three, and the client went unflagged).
#[test]
fn archives_analyzed_together_are_never_taken_for_copies_of_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let same = line("203.0.113.5", 401, 0);
    drop(analyze_run_until_its_analysis(dir.path(), &same.repeat(2)));
    let mut f = fs::OpenOptions::new()
        .append(true)
        .open(dir.path().join("access.log"))
        .unwrap();
    f.write_all(same.repeat(3).as_bytes()).unwrap();
    let stdout = collect_analyze_ok(dir.path());
    assert!(
        stdout.contains("IP: 203.0.113.5 - Failed login attempts: 5\n"),
        "{stdout}"
    );
}

/// A rotated file that cannot be read may hold lines nobody collects: exit 1 (it was 0 with a
/// warning on stderr only), and the history record says so.
#[test]
fn an_unreadable_rotated_file_is_exit_1_and_in_the_record() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("access.log"), line("10.0.0.1", 401, 1)).unwrap();
    fs::create_dir(dir.path().join("access.log.1")).unwrap();
    let out = collect_analyze_quiet(dir.path());
    assert_eq!(out.status.code(), Some(1));
    let history = fs::read_to_string(dir.path().join("log/monitoring.log")).unwrap();
    assert!(
        history.contains("    warning: skipped unreadable rotated file access.log.1: "),
        "{history}"
    );
}

/// A `.gz` cut short beside its plain file is one gzip is still writing (logrotate's
/// `compress` without `delaycompress`): the plain file is read, and no loss is feared. A cut
/// `.gz` alone is still unreadable, exit 1. Once gzip is done, nothing is collected again.
#[test]
fn a_gz_being_written_beside_its_plain_file_is_no_possible_loss() {
    let dir = tempfile::tempdir().unwrap();
    let live = live_collected_once(dir.path());
    append(&live, &numbered(100, 200));
    let one = dir.path().join("access.log.1");
    fs::rename(&live, &one).unwrap();
    fs::write(&live, numbered(200, 250)).unwrap();
    let gz = gzip(&fs::read(&one).unwrap());
    let gz_path = dir.path().join("access.log.1.gz");
    fs::write(&gz_path, &gz[..gz.len() / 2]).unwrap();
    assert_eq!(collect_dated(dir.path(), None), (150, vec![]));
    // Done: the plain file goes, the whole `.gz` holds nothing new.
    fs::write(&gz_path, &gz).unwrap();
    fs::remove_file(&one).unwrap();
    assert_eq!(collect_dated(dir.path(), None), (0, vec![]));
    assert_eq!(
        archived_lines(&dir.path().join("log")),
        sorted_numbered(&[(0, 250)])
    );
    // Cut short with no plain file beside it: unreadable, as before.
    let other = tempfile::tempdir().unwrap();
    fs::write(other.path().join("access.log"), numbered(0, 10)).unwrap();
    fs::write(other.path().join("access.log.2.gz"), &gz[..gz.len() / 2]).unwrap();
    let (lines, warnings) = collect_dated(other.path(), None);
    assert_eq!(lines, 10);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].starts_with("skipped unreadable rotated file access.log.2.gz: "),
        "{warnings:?}"
    );
    // Nor is a cut `.gz` of other text beside a plain file of its name (not its compression).
    let third = tempfile::tempdir().unwrap();
    fs::write(third.path().join("access.log"), numbered(0, 10)).unwrap();
    fs::write(third.path().join("access.log.1"), numbered(10, 20)).unwrap();
    let other_text = gzip(numbered(500, 600).as_bytes());
    fs::write(
        third.path().join("access.log.1.gz"),
        &other_text[..other_text.len() / 2],
    )
    .unwrap();
    let (lines, warnings) = collect_dated(third.path(), None);
    assert_eq!(lines, 20);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].starts_with("skipped unreadable rotated file access.log.1.gz: "),
        "{warnings:?}"
    );
}

/// An unrecorded archive deleted before it was analyzed: a warning, exit 1 (its lines were
/// never analyzed), and it leaves the list.
#[test]
fn an_unrecorded_archive_that_is_gone_is_exit_1_and_leaves_the_list() {
    let dir = tempfile::tempdir().unwrap();
    drop(analyze_run_until_its_analysis(
        dir.path(),
        &line("10.0.0.1", 401, 1),
    ));
    fs::remove_file(dir.path().join("log/access_2023-06-19.log")).unwrap();
    let out = collect_analyze_quiet(dir.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("archive log/access_2023-06-19.log is gone before it was analyzed"));
    let state = fs::read_to_string(dir.path().join("log/.logwarden-collect.json")).unwrap();
    assert!(!state.contains("unrecorded"), "{state}");
}

/// `copytruncate` between the files' description and their copy: the copy read the
/// server's new lines in place of the old ones, and the state called the old ones (now in
/// `.1`) collected, so they were lost and the new ones archived twice (exit 0). The run now
/// sees that the live file changed under its copy, and describes and copies again.
#[test]
fn a_copytruncate_during_the_copy_loses_and_repeats_nothing() {
    fn copytruncate_once(source: &Path) {
        let copy = source.with_file_name("access.log.1");
        if copy.exists() {
            return;
        }
        fs::copy(source, &copy).unwrap();
        cut_to_nothing(source);
        // The server logs on.
        fs::OpenOptions::new()
            .append(true)
            .open(source)
            .unwrap()
            .write_all(numbered(1000, 1100).as_bytes())
            .unwrap();
    }
    let run = collect_dated;
    // The first collect of a log, and one of a log partly collected before.
    for collected_before in [0, 200] {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("access.log"), numbered(0, collected_before)).unwrap();
        if collected_before > 0 {
            run(dir.path(), None);
            fs::OpenOptions::new()
                .append(true)
                .open(dir.path().join("access.log"))
                .unwrap()
                .write_all(numbered(collected_before, 300).as_bytes())
                .unwrap();
        } else {
            fs::write(dir.path().join("access.log"), numbered(0, 300)).unwrap();
        }
        let (lines, warnings) = run(dir.path(), Some(copytruncate_once));
        assert_eq!(lines, 300 - collected_before as u64 + 100, "{warnings:?}");
        assert_eq!(warnings, Vec::<String>::new());
        assert_eq!(run(dir.path(), None).0, 0);
        assert_eq!(
            archived_lines(&dir.path().join("log")),
            sorted_numbered(&[(0, 300), (1000, 1100)])
        );
    }
}

/// A live file edited in place is looked into for its last collected line, where it was
/// described: cut since (`copytruncate`), that read failed and the run stopped with "cannot
/// read ...: failed to fill whole buffer" (exit 2), not saying that nothing was collected. It
/// is a rotation: the files are described again.
#[test]
fn a_live_file_cut_while_its_edit_is_looked_into_is_described_again() {
    let dir = tempfile::tempdir().unwrap();
    let live = live_collected_once(dir.path());
    // Edited in place (its first line removed), lines added; then cut under the run.
    fs::write(&live, numbered(1, 120)).unwrap();
    let (lines, warnings) = collect_dated(dir.path(), Some(cut_to_nothing));
    assert_eq!(lines, 0);
    assert_eq!(
        warnings,
        vec![format!("the file that was access.log at the last collect (read up to byte {}) is not found any more: moved elsewhere, deleted or emptied (lines written to it after that collect, if any, are not collected), or changed in its first 4 KiB (then read again from its start: its lines are archived twice)", numbered(0, 100).len())]
    );
}

/// A rotated plain file whose last line was left unfinished (its writer died mid-line) never
/// grows again: the line was left for ever (archived only if the file was compressed later,
/// lost in a rotation without `compress`), with exit 0 and nothing said. Found unchanged by
/// the next run, it is archived as it is, once, with a newline added and a warning; one that
/// grew in between is still left for later.
#[test]
fn an_unfinished_last_line_of_a_rotated_file_is_archived_once_it_stops_growing() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("access.log");
    let cut = "10.0.0.2 - - [19/Jun/2023:10:00:00 +0000] \"GET /cut";
    fs::write(&live, numbered(0, 3) + cut).unwrap();
    // The live file's unfinished line waits, as always.
    assert_eq!(collect_dated(dir.path(), None), (3, vec![]));
    fs::rename(&live, dir.path().join("access.log.1")).unwrap();
    fs::write(&live, numbered(3, 5)).unwrap();
    // Rotated since: it may still be written to (a server's old process), so it waits.
    assert_eq!(collect_dated(dir.path(), None), (2, vec![]));
    // Unchanged at the next run: archived as it is.
    let (lines, warnings) = collect_dated(dir.path(), None);
    assert_eq!(lines, 1);
    assert_eq!(
        warnings,
        vec!["access.log.1 ends with an unfinished line that did not change since the last collect: a rotated file no longer grows (its writer stopped mid-line?), so the line is archived as it is, with a newline added".to_string()]
    );
    let expected = numbered_and(5, cut);
    assert_eq!(archived_lines(&dir.path().join("log")), expected);
    // Nothing more, not even once compressed.
    assert_eq!(collect_dated(dir.path(), None), (0, vec![]));
    let one = fs::read(dir.path().join("access.log.1")).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &one).unwrap();
    fs::write(dir.path().join("access.log.2.gz"), gz.finish().unwrap()).unwrap();
    fs::remove_file(dir.path().join("access.log.1")).unwrap();
    assert_eq!(collect_dated(dir.path(), None), (0, vec![]));
    assert_eq!(archived_lines(&dir.path().join("log")), expected);
}

/// A copy as long as the live file (logrotate's `copy`, or `copytruncate` before its
/// truncate) is listed first and wins the tie for the stream's longest file: its unfinished
/// last line, unchanged at the next run, was archived as final, though the live file went on
/// to finish it (one line stored as two fragments, review helper). The live file's stream
/// still grows: the line waits, and is archived whole once finished.
#[test]
fn an_unfinished_line_of_a_copy_as_long_as_the_live_file_waits() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("access.log");
    let head = "10.0.0.2 - - [19/Jun/2023:10:00:00 +0000] \"GET /copy";
    fs::write(&live, numbered(0, 60) + head).unwrap();
    fs::copy(&live, dir.path().join("access.log.1")).unwrap();
    assert_eq!(collect_dated(dir.path(), None), (60, vec![]));
    assert_eq!(collect_dated(dir.path(), None), (0, vec![]));
    append(&live, " HTTP/1.1\" 404 1\n");
    assert_eq!(collect_dated(dir.path(), None), (1, vec![]));
    let expected = numbered_and(60, &format!("{head} HTTP/1.1\" 404 1"));
    assert_eq!(archived_lines(&dir.path().join("log")), expected);
}

/// A rotated file with an unfinished last line that grows between two runs is not yet done:
/// its line waits until a run finds it unchanged (or finished).
#[test]
fn an_unfinished_line_of_a_rotated_file_that_still_grows_waits() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("access.log");
    let one = dir.path().join("access.log.1");
    let head = "10.0.0.2 - - [19/Jun/2023:10:00:00 +0000] \"GET /late";
    fs::write(&live, numbered(0, 3) + head).unwrap();
    fs::rename(&live, &one).unwrap();
    fs::write(&live, numbered(3, 4)).unwrap();
    assert_eq!(collect_dated(dir.path(), None), (4, vec![]));
    // An old process writes on: more of the line, still unfinished.
    let mut f = fs::OpenOptions::new().append(true).open(&one).unwrap();
    std::io::Write::write_all(&mut f, b" HTTP/1.1\" 404").unwrap();
    assert_eq!(collect_dated(dir.path(), None), (0, vec![]));
    // Then finished: archived whole, as any line.
    std::io::Write::write_all(&mut f, b" 1\n").unwrap();
    assert_eq!(collect_dated(dir.path(), None), (1, vec![]));
    let expected = numbered_and(4, &format!("{head} HTTP/1.1\" 404 1"));
    assert_eq!(archived_lines(&dir.path().join("log")), expected);
}

/// `copytruncate`'s truncate of `path` (through a handle of its own, as logrotate's).
fn cut_to_nothing(path: &Path) {
    fs::OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(0)
        .unwrap();
}

/// `dir/access.log` with lines 0-99, collected once ([`collect_dated`]).
fn live_collected_once(dir: &Path) -> std::path::PathBuf {
    let live = dir.join("access.log");
    fs::write(&live, numbered(0, 100)).unwrap();
    assert_eq!(collect_dated(dir, None), (100, vec![]));
    live
}

/// A `collect` of `dir/access.log` into `dir/log` dated 2023-06-19, with `hook` called
/// before the copy: the lines archived and the warnings.
fn collect_dated(dir: &Path, hook: Option<fn(&Path)>) -> (u64, Vec<String>) {
    collect_from(&dir.join("access.log"), &dir.join("log"), hook)
}

/// [`collect_dated`] of `source` into `dest`.
fn collect_from(source: &Path, dest: &Path, hook: Option<fn(&Path)>) -> (u64, Vec<String>) {
    let options = collect_options(source, dest, hook);
    // The lock of the run before may still be held a moment: a process another test
    // spawned meanwhile holds a copy of its descriptor from its fork to its exec.
    let mut tries = 0;
    let got = loop {
        match logwarden::collect::collect(&options) {
            Err(e) if e.to_string().contains("already running") && tries < 100 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => break other.unwrap(),
        }
    };
    (got.lines, got.warnings)
}

/// A plain collect of `source` into `dest` on 2023-06-19, `hook` run before the copy.
fn collect_options(
    source: &Path,
    dest: &Path,
    hook: Option<fn(&Path)>,
) -> logwarden::collect::Options {
    logwarden::collect::Options {
        source: source.to_path_buf(),
        dest: dest.to_path_buf(),
        today: chrono::NaiveDate::from_ymd_opt(2023, 6, 19).unwrap(),
        compress_after: None,
        record: false,
        crash_at: None,
        before_copy: hook,
    }
}

/// logrotate's `copytruncate` of `live` (its `.1` to `.2` first), and a writer without
/// `O_APPEND` that goes on at its old offset: the live file is a NUL hole of its old length.
fn copytruncate_without_append(live: &Path) {
    let one = live.with_file_name("access.log.1");
    if one.exists() {
        fs::rename(&one, live.with_file_name("access.log.2")).unwrap();
    }
    fs::copy(live, &one).unwrap();
    let offset = fs::metadata(live).unwrap().len();
    let file = fs::OpenOptions::new().write(true).open(live).unwrap();
    file.set_len(0).unwrap();
    file.set_len(offset).unwrap();
}

/// A writer without `O_APPEND` goes on at its offset after `copytruncate`, so each live file
/// starts with NUL padding, and every one's first 4 KiB are NULs alike: the rotated copy and
/// the next live file passed for one stream, only the longer was read, and the lines the
/// copy held past the last collect were lost (exit 1). Each is now known by its padding's
/// length and the text after it.
#[test]
fn copytruncate_by_a_writer_without_append_loses_and_repeats_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("access.log");
    let write = |text: String| append(&live, &text);
    let copytruncate = || copytruncate_without_append(&live);
    fs::write(&live, vec![0u8; 6000]).unwrap();
    write(numbered(0, 50));
    assert_eq!(collect_dated(dir.path(), None), (50, vec![]));
    for round in 1..=3 {
        let (from, to) = (round * 100, round * 100 + 10);
        write(numbered(from - 50, from - 40));
        copytruncate();
        write(numbered(from, to));
        assert_eq!(
            collect_dated(dir.path(), None),
            (20, vec![]),
            "round {round}"
        );
    }
    let mut ranges = vec![(0, 50)];
    for r in 1..=3 {
        ranges.extend([(r * 100 - 50, r * 100 - 40), (r * 100, r * 100 + 10)]);
    }
    assert_eq!(
        archived_lines(&dir.path().join("log")),
        sorted_numbered(&ranges)
    );
    // The padding stays out of the archives: copied, it was as long as everything written
    // before, in every archive again.
    let dest = dir.path().join("log");
    let archives: Vec<String> = names(&dest)
        .into_iter()
        .filter(|n| n.starts_with("access_"))
        .collect();
    assert_eq!(archives.len(), 4);
    for name in archives {
        let bytes = fs::read(dest.join(&name)).unwrap();
        assert_eq!(bytes.iter().filter(|&&b| b == 0).count(), 0, "{name}");
    }
}

/// The same live log collected by its own path and through a link to it (a person and a
/// cron job) into one `DEST`: the second name is refused (exit 2), nothing archived, so no
/// line is archived twice. Taken for another source, it archived all the first name's lines
/// again, its rotated file's too. Collected again by the first name, all is as before.
#[test]
fn a_log_collected_by_its_path_and_through_a_link_is_refused_by_the_second_name() {
    for link_first in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let srv = dir.path().join("srv");
        fs::create_dir(&srv).unwrap();
        let real = srv.join("site.log");
        let link = dir.path().join("access.log");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let dest = dir.path().join("log");
        fs::write(srv.join("site.log.1"), numbered(100, 110)).unwrap();
        fs::write(&real, numbered(0, 10)).unwrap();
        let (first, second) = match link_first {
            true => (&link, &real),
            false => (&real, &link),
        };
        assert_eq!(collect_from(first, &dest, None), (20, vec![]));
        append(&real, &numbered(10, 20));
        let out = logwarden()
            .args(["collect", "-q", "--dest"])
            .arg(&dest)
            .arg("--source")
            .arg(second)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "link first: {link_first}");
        let shown = |p: &Path| {
            fs::canonicalize(p.parent().unwrap())
                .unwrap()
                .join(p.file_name().unwrap())
        };
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            format!(
                "logwarden: error: {} is the file that {} collects as {}: collect it by that name, or into another --dest (collected under two names, its lines would be archived twice)\n",
                second.display(),
                dest.display(),
                shown(first).display()
            )
        );
        assert_eq!(collect_from(first, &dest, None), (10, vec![]));
        assert_eq!(
            archived_lines(&dest),
            sorted_numbered(&[(0, 20), (100, 110)])
        );
    }
}

/// A link the server points at each day's new file (`rotatelogs -L`) stays one source: the
/// file it pointed at before is its last live file, gone from it, and what was written to
/// that file after the last collect is said to be lost (exit 1), as for a live file moved
/// away. Known by the file's path instead, the old file's stream was another source's, and
/// the loss went unsaid.
#[test]
fn a_link_moved_to_a_new_file_is_still_one_source() {
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = (dir.path().join("access.1"), dir.path().join("access.2"));
    let link = dir.path().join("access.log");
    let dest = dir.path().join("log");
    fs::write(&first, numbered(0, 10)).unwrap();
    std::os::unix::fs::symlink("access.1", &link).unwrap();
    assert_eq!(collect_from(&link, &dest, None), (10, vec![]));
    append(&first, &numbered(10, 15));
    fs::write(&second, numbered(100, 120)).unwrap();
    relink(&link, "access.2");
    assert_eq!(collect_with_last_live_file_gone(&link, &dest), 20);
    assert_eq!(
        archived_lines(&dest),
        sorted_numbered(&[(0, 10), (100, 120)])
    );
}

/// A source is known by the name it is given, its folders' links not followed: the log
/// folder moved to another disk and linked back is the same source, read on where it was
/// (known by its folder resolved, it was another name for a recorded source: every run
/// stopped with exit 2), and so is a folder link that moves on (a deploy's `current`): the
/// file it led to before is its last live file, gone, and what was written to it after the
/// last collect is said to be lost (exit 1), as for a file link (it went unsaid).
#[test]
fn a_source_is_the_same_through_a_folder_moved_or_relinked() {
    let dir = tempfile::tempdir().unwrap();
    let (var, data) = (dir.path().join("var"), dir.path().join("data"));
    fs::create_dir_all(var.join("apache2")).unwrap();
    fs::create_dir_all(&data).unwrap();
    let source = var.join("apache2/access.log");
    let dest = dir.path().join("log");
    fs::write(&source, numbered(0, 10)).unwrap();
    assert_eq!(collect_from(&source, &dest, None), (10, vec![]));
    append(&source, &numbered(10, 15));
    fs::rename(var.join("apache2"), data.join("apache2")).unwrap();
    std::os::unix::fs::symlink("../data/apache2", var.join("apache2")).unwrap();
    assert_eq!(collect_from(&source, &dest, None), (5, vec![]));
    // Back where it was, without the link.
    append(&source, &numbered(15, 17));
    fs::remove_file(var.join("apache2")).unwrap();
    fs::rename(data.join("apache2"), var.join("apache2")).unwrap();
    assert_eq!(collect_from(&source, &dest, None), (2, vec![]));
    assert_eq!(archived_lines(&dest), sorted_numbered(&[(0, 17)]));

    // A folder link that moves on.
    let releases = dir.path().join("releases");
    for release in ["v1", "v2"] {
        fs::create_dir_all(releases.join(release)).unwrap();
    }
    let current = dir.path().join("current");
    std::os::unix::fs::symlink("releases/v1", &current).unwrap();
    let linked = current.join("access.log");
    let dest = dir.path().join("log-current");
    fs::write(&linked, numbered(100, 110)).unwrap();
    assert_eq!(collect_from(&linked, &dest, None), (10, vec![]));
    append(&linked, &numbered(110, 113));
    relink(&current, "releases/v2");
    fs::write(&linked, numbered(200, 205)).unwrap();
    assert_eq!(collect_with_last_live_file_gone(&linked, &dest), 5);
}

/// `link` pointed at `target` instead.
fn relink(link: &Path, target: &str) {
    fs::remove_file(link).unwrap();
    std::os::unix::fs::symlink(target, link).unwrap();
}

/// Collects `source` into `dest`, which warns only that the file the source was at the last
/// collect is gone: the lines collected.
fn collect_with_last_live_file_gone(source: &Path, dest: &Path) -> u64 {
    let (lines, warnings) = collect_from(source, dest, None);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0]
            .starts_with("the file that was access.log at the last collect (read up to byte "),
        "{warnings:?}"
    );
    lines
}

/// A source first collected by its resolved path keeps its records: a second name through
/// a folder link is refused, not taken for an earlier version's name of it (it took the
/// records over, the first name was then refused, and with the link moved on the whole file
/// was archived again).
#[test]
fn a_resolved_name_written_as_given_is_not_taken_over_by_a_linked_one() {
    let dir = tempfile::tempdir().unwrap();
    let real = fs::canonicalize(dir.path()).unwrap().join("real");
    fs::create_dir_all(&real).unwrap();
    std::os::unix::fs::symlink(&real, dir.path().join("link")).unwrap();
    let (source, linked) = (real.join("access.log"), dir.path().join("link/access.log"));
    let dest = dir.path().join("log");
    fs::write(&source, numbered(0, 10)).unwrap();
    assert_eq!(collect_from(&source, &dest, None), (10, vec![]));
    append(&source, &numbered(10, 12));
    let refused = logwarden::collect::collect(&collect_options(&linked, &dest, None))
        .expect_err("a second name is refused");
    assert_eq!(
        refused.to_string(),
        format!(
            "{} is the file that {} collects as {}: collect it by that name, or into another --dest (collected under two names, its lines would be archived twice)",
            linked.display(),
            dest.display(),
            source.display()
        )
    );
    assert_eq!(collect_from(&source, &dest, None), (2, vec![]));
    assert_eq!(archived_lines(&dest), sorted_numbered(&[(0, 12)]));
}

/// A state file of an earlier version names a source by its folder resolved: while the
/// folder resolves as it did, that name is this source's, taken over (not another name for
/// the same file, refused with exit 2).
#[test]
fn a_source_named_with_its_folder_resolved_is_taken_over() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("real");
    fs::create_dir_all(&real).unwrap();
    std::os::unix::fs::symlink("real", dir.path().join("logs")).unwrap();
    let source = dir.path().join("logs/access.log");
    let dest = dir.path().join("log");
    fs::write(&source, numbered(0, 10)).unwrap();
    assert_eq!(collect_from(&source, &dest, None), (10, vec![]));
    let state_path = dest.join(".logwarden-collect.json");
    let resolved = fs::canonicalize(&real).unwrap().join("access.log");
    // As an earlier version wrote it: the streams' source resolved, no names as given.
    let mut state: Value = serde_json::from_str(&fs::read_to_string(&state_path).unwrap()).unwrap();
    let named = |state: &Value| -> Vec<Value> {
        state["streams"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["source"].clone())
            .collect()
    };
    assert_eq!(named(&state), [json!(source)]);
    assert_eq!(state["sources_as_given"], json!([source]));
    for stream in state["streams"].as_array_mut().unwrap() {
        stream["source"] = json!(resolved);
    }
    state.as_object_mut().unwrap().remove("sources_as_given");
    fs::write(&state_path, state.to_string()).unwrap();
    append(&source, &numbered(10, 12));
    assert_eq!(collect_from(&source, &dest, None), (2, vec![]));
    assert_eq!(archived_lines(&dest), sorted_numbered(&[(0, 12)]));
    let state: Value = serde_json::from_str(&fs::read_to_string(&state_path).unwrap()).unwrap();
    assert_eq!(named(&state), [json!(source)]);
    assert_eq!(state["sources_as_given"], json!([source]));
}

/// A state file of an earlier version knew a padded live file by its first 4 KiB of NULs,
/// which every padded file has: after a `copytruncate`, the rotated copy is that stream (it
/// ends what was copied with the same bytes) and the next live file is new.
#[test]
fn a_padded_stream_of_an_earlier_state_file_is_told_from_the_next_live_file() {
    use logwarden::collect::siblings::fnv1a;
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("access.log");
    let mut text = vec![0u8; 6000];
    text.extend_from_slice(numbered(0, 50).as_bytes());
    fs::write(&live, &text).unwrap();
    let state = serde_json::json!({
        "version": 1,
        "streams": [{
            "hash": format!("{:016x}", fnv1a(&[0u8; 4096])),
            "prefix_len": 4096,
            "offset": text.len(),
            "last_name": "access.log",
            "tail": {"len": 256, "hash": format!("{:016x}", fnv1a(&text[text.len() - 256..]))},
        }],
    });
    fs::create_dir(dir.path().join("log")).unwrap();
    fs::write(
        dir.path().join("log/.logwarden-collect.json"),
        state.to_string(),
    )
    .unwrap();
    append(&live, &numbered(50, 60));
    copytruncate_without_append(&live);
    append(&live, &numbered(100, 110));
    assert_eq!(collect_dated(dir.path(), None), (20, vec![]));
    assert_eq!(
        archived_lines(&dir.path().join("log")),
        sorted_numbered(&[(50, 60), (100, 110)])
    );
}

/// A collect that found the live file holding part of its first line (nothing to copy yet)
/// knew it by those bytes; after a rotation the next live file started with the same client
/// and second, the two passed for copies of one stream, only the longer was read, and the
/// rotated file's line was lost (exit 0). Each is now new and read from its start.
#[test]
fn a_live_file_first_seen_mid_line_is_not_confused_with_the_next_one() {
    for copytruncate in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let live = dir.path().join("access.log");
        let first = numbered(1, 2);
        fs::write(&live, &first[..44]).unwrap();
        assert_eq!(collect_dated(dir.path(), None), (0, vec![]));
        fs::write(&live, &first).unwrap();
        let one = dir.path().join("access.log.1");
        match copytruncate {
            true => fs::copy(&live, &one).map(|_| ()).unwrap(),
            false => fs::rename(&live, &one).unwrap(),
        }
        fs::write(&live, numbered(2, 5)).unwrap();
        assert_eq!(
            collect_dated(dir.path(), None),
            (4, vec![]),
            "copytruncate {copytruncate}"
        );
        assert_eq!(
            archived_lines(&dir.path().join("log")),
            sorted_numbered(&[(1, 5)])
        );
    }
}

/// A `collect --analyze` run of `text` in `dir` (dated 2023-06-19) up to its analysis: the
/// archive committed and listed as unrecorded, the lock held by what it returns.
fn analyze_run_until_its_analysis(dir: &Path, text: &str) -> logwarden::collect::Collected {
    fs::write(dir.join("access.log"), text).unwrap();
    logwarden::collect::collect(&logwarden::collect::Options {
        record: true,
        ..collect_options(&dir.join("access.log"), &dir.join("log"), None)
    })
    .unwrap()
}

/// Lines `from..to`, each its own (the request names its number).
fn numbered(from: usize, to: usize) -> String {
    (from..to)
        .map(|n| {
            format!("10.0.0.1 - - [19/Jun/2023:10:00:00 +0000] \"GET /p/{n} HTTP/1.1\" 200 1\n")
        })
        .collect()
}

/// The lines of [`numbered`] `0..to` and `line`, sorted (as [`archived_lines`] lists them).
fn numbered_and(to: usize, line: &str) -> Vec<String> {
    let mut lines = sorted_numbered(&[(0, to)]);
    lines.push(line.to_string());
    lines.sort();
    lines
}

/// The lines of [`numbered`] for each of `ranges`, sorted.
fn sorted_numbered(ranges: &[(usize, usize)]) -> Vec<String> {
    let mut lines: Vec<String> = ranges
        .iter()
        .flat_map(|&(from, to)| {
            numbered(from, to)
                .lines()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect();
    lines.sort();
    lines
}

/// Every line of every archive in `dest` without the NUL padding it may start with (which
/// the analysis skips), sorted.
fn archived_lines(dest: &Path) -> Vec<String> {
    let mut lines: Vec<String> = names(dest)
        .iter()
        .filter(|n| n.starts_with("access_"))
        .flat_map(|n| {
            fs::read_to_string(dest.join(n))
                .unwrap()
                .lines()
                .map(|l| l.trim_start_matches('\0').to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    lines.sort();
    lines
}

fn sorted_lines(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines.sort();
    lines
}

fn append(path: &Path, text: &str) {
    fs::OpenOptions::new()
        .append(true)
        .open(path)
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
}

/// A source that is a symbolic link is rotated where its target is, under the target's name:
/// the old file's last lines (written after a collect, before the rotation) were looked for
/// beside the link, never found, and lost with exit 0.
#[test]
fn a_linked_source_is_followed_to_where_it_is_rotated() {
    let dir = tempfile::tempdir().unwrap();
    let (real, link) = (dir.path().join("real"), dir.path().join("link"));
    fs::create_dir_all(&real).unwrap();
    fs::create_dir_all(&link).unwrap();
    fs::write(real.join("site.log"), numbered(0, 1000)).unwrap();
    std::os::unix::fs::symlink("../real/site.log", link.join("access.log")).unwrap();
    let collect = || {
        logwarden()
            .current_dir(dir.path())
            .args([
                "collect",
                "-q",
                "--source",
                "link/access.log",
                "--dest",
                "d",
            ])
            .output()
            .unwrap()
    };
    assert_eq!(collect().status.code(), Some(0));
    append(&real.join("site.log"), &numbered(1000, 1500));
    // logrotate `create`: the target renamed to `.1`, a new file under its name.
    fs::rename(real.join("site.log"), real.join("site.log.1")).unwrap();
    fs::write(real.join("site.log"), numbered(1500, 1600)).unwrap();
    let out = collect();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(
        archived_lines(&dir.path().join("d")),
        sorted_lines(&numbered(0, 1600))
    );
}

/// The live file rotated where its siblings are not (logrotate's `olddir`), or deleted: what
/// was written to it after the last collect cannot be collected. Said, with exit 1 (it was
/// silent, exit 0).
#[test]
fn a_live_file_gone_elsewhere_is_a_warning_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("access.log"), numbered(0, 100)).unwrap();
    fs::create_dir(dir.path().join("old")).unwrap();
    let collect = || collect_quiet(dir.path());
    assert_eq!(collect().status.code(), Some(0));
    append(&dir.path().join("access.log"), &numbered(100, 150));
    fs::rename(
        dir.path().join("access.log"),
        dir.path().join("old/access.log.1"),
    )
    .unwrap();
    fs::write(dir.path().join("access.log"), numbered(150, 160)).unwrap();
    let out = collect();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!("logwarden: warning: the file that was access.log at the last collect (read up to byte {}) is not found any more: moved elsewhere, deleted or emptied (lines written to it after that collect, if any, are not collected), or changed in its first 4 KiB (then read again from its start: its lines are archived twice)\n", numbered(0, 100).len())
    );
    let mut want = numbered(0, 100);
    want.push_str(&numbered(150, 160));
    assert_eq!(archived_lines(&dir.path().join("log")), sorted_lines(&want));
    // Said once: the next run has nothing to say.
    append(&dir.path().join("access.log"), &numbered(160, 161));
    let out = collect();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
}

/// A live log edited in place (lines removed or added before the part collected) kept its
/// first 4 KiB, so the copy resumed at the old offset: mid-line, and past lines never
/// collected (exit 0). It now resumes after the last collected line where that is now.
#[test]
fn a_log_edited_in_place_resumes_after_its_last_collected_line() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("access.log");
    let collect = || collect_quiet(dir.path());
    let without = |text: &str, gone: std::ops::Range<usize>| -> String {
        let cut = numbered(gone.start, gone.end);
        text.replacen(&cut, "", 1)
    };
    fs::write(&live, numbered(0, 1000)).unwrap();
    assert_eq!(collect().status.code(), Some(0));
    // `sed -i` removes lines 900-919 (a new file, the same first bytes), then the server
    // writes 1000-1099.
    let edited = without(&numbered(0, 1000), 900..920);
    fs::remove_file(&live).unwrap();
    fs::write(&live, format!("{edited}{}", numbered(1000, 1100))).unwrap();
    let out = collect();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let at = edited.len();
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "logwarden: warning: access.log was changed before the part already collected (edited in place?): its last collected line is now at byte {at}, not {}; collected after it, and lines added before it are not collected\n",
            numbered(0, 1000).len()
        )
    );
    assert_eq!(
        archived_lines(&dir.path().join("log")),
        sorted_lines(&numbered(0, 1100))
    );
    // Its last collected line removed too: read from the first line start after the old
    // offset (the lines before it in the new text are not collected), each line whole.
    let before = fs::read_to_string(&live).unwrap();
    let edited = without(&without(&before, 1099..1100), 1050..1060);
    let text = format!("{edited}{}", numbered(1100, 1130));
    fs::write(&live, &text).unwrap();
    let out = collect();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let from = before.len() + text[before.len() - 1..].find('\n').unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "logwarden: warning: access.log was changed before the part already collected (cut, or edited in place?): its last collected line is gone; collected from byte {from} (it had {} bytes collected, it has {} now), and lines added before that are not collected\n",
            before.len(),
            text.len()
        )
    );
    let mut want = numbered(0, 1100);
    want.push_str(&text[from..]);
    assert_eq!(archived_lines(&dir.path().join("log")), sorted_lines(&want));
    // Edited again, with the server half-way through a line past the old offset and no
    // newline after it: nothing is read of that line until it ends, and then all of it (it
    // was archived from the old offset on, a fragment).
    let before = fs::read_to_string(&live).unwrap();
    let edited = without(&without(&before, 1129..1130), 1000..1001);
    let partial = format!(
        "10.0.0.1 - - [19/Jun/2023:10:00:00 +0000] \"GET /partial/{} HTTP/1.1\" 20",
        "x".repeat(300)
    );
    fs::write(&live, format!("{edited}{partial}")).unwrap();
    assert!(edited.len() + partial.len() > before.len());
    let out = collect();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&format!(
            "its last collected line is gone; collected from byte {} ",
            edited.len()
        )),
        "{out:?}"
    );
    assert_eq!(archived_lines(&dir.path().join("log")), sorted_lines(&want));
    append(&live, "0 1\n");
    assert_eq!(collect().status.code(), Some(0));
    want.push_str(&format!("{partial}0 1\n"));
    assert_eq!(archived_lines(&dir.path().join("log")), sorted_lines(&want));
    // Cut short (`truncate -s`): nothing collected now, what is added after is.
    let collected = fs::metadata(&live).unwrap().len();
    let f = fs::OpenOptions::new().write(true).open(&live).unwrap();
    f.set_len(5000).unwrap();
    drop(f);
    let out = collect();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let left = fs::read_to_string(&live).unwrap();
    let whole = &left[..left.rfind('\n').unwrap() + 1];
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&format!(
            "its last collected line is gone; collected from byte {} (it had {collected} bytes collected, it has 5000 now)",
            whole.len(),
        )),
        "{out:?}"
    );
    assert_eq!(archived_lines(&dir.path().join("log")), sorted_lines(&want));
    fs::write(&live, format!("{whole}{}", numbered(2000, 2005))).unwrap();
    let out = collect();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    want.push_str(&numbered(2000, 2005));
    assert_eq!(archived_lines(&dir.path().join("log")), sorted_lines(&want));
}

/// An edit in the first 4 KiB (the fingerprint) made the live file a new one: copied again
/// from its start (every line archived twice), with a warning that lines may be lost. Where
/// it still ends a line with the bytes last collected, it resumes after them.
#[test]
fn a_log_edited_in_its_first_bytes_resumes_after_its_last_collected_line() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("access.log");
    let collect = || collect_quiet(dir.path());
    fs::write(&live, numbered(0, 200)).unwrap();
    assert_eq!(collect().status.code(), Some(0));
    // `sed -i 1d`, then the server writes on.
    let first = numbered(0, 1);
    let text = format!("{}{}", &numbered(0, 200)[first.len()..], numbered(200, 210));
    fs::remove_file(&live).unwrap();
    fs::write(&live, &text).unwrap();
    let out = collect();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "logwarden: warning: access.log was changed in its first bytes (edited in place?): resumed after its last collected line, now at byte {} (it had {} bytes collected); lines added before it are not collected\n",
            numbered(1, 200).len(),
            numbered(0, 200).len()
        )
    );
    assert_eq!(
        archived_lines(&dir.path().join("log")),
        sorted_lines(&numbered(0, 210))
    );
    // And it goes on from there.
    append(&live, &numbered(210, 212));
    let out = collect();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(
        archived_lines(&dir.path().join("log")),
        sorted_lines(&numbered(0, 212))
    );
}

/// A live source that is gzip, rewritten shorter (its first 4 KiB the same): read from its
/// start, as there are no bytes to look for in it, and said to repeat lines, with exit 1 (it
/// was exit 0 with "rewritten" only).
#[test]
fn a_gzip_source_rewritten_shorter_is_read_again_and_said_to_be() {
    let dir = tempfile::tempdir().unwrap();
    let gz = |text: &str| gzip(text.as_bytes());
    let live = dir.path().join("access.log");
    fs::write(&live, gz(&numbered(0, 200))).unwrap();
    assert_eq!(collect_quiet(dir.path()).status.code(), Some(0));
    fs::write(&live, gz(&numbered(0, 100))).unwrap();
    let out = collect_quiet(dir.path());
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "logwarden: warning: access.log is shorter than what was collected from it ({} < {} bytes): rewritten, collected from its start (lines collected before may be archived twice)\n",
            numbered(0, 100).len(),
            numbered(0, 200).len()
        )
    );
    let mut want = numbered(0, 200);
    want.push_str(&numbered(0, 100));
    assert_eq!(archived_lines(&dir.path().join("log")), sorted_lines(&want));
}

/// Links planted in DEST by someone who can write there (root runs the job): collect's files
/// are never written or read through them (root truncated and filled the file a link led to,
/// gzipped a root-only file into a world-readable one, made or cut files anywhere).
#[test]
fn links_planted_in_dest_are_never_followed() {
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("victim");
    fs::write(&victim, "root:SECRET\n").unwrap();
    let dest = dir.path().join("log");
    fs::create_dir_all(&dest).unwrap();
    fs::write(dir.path().join("access.log"), numbered(0, 3)).unwrap();
    let plant = |name: &str| std::os::unix::fs::symlink(&victim, dest.join(name)).unwrap();
    // An old "archive" that is a link: not compressed, said so; the rest is collected.
    plant("access_2020-01-01.log");
    let out = logwarden()
        .current_dir(dir.path())
        .args([
            "collect",
            "-q",
            "--source",
            "access.log",
            "--compress-after",
            "7",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot compress log/access_2020-01-01.log: "),
        "{err}"
    );
    assert!(!dest.join("access_2020-01-01.log.gz").exists());
    assert_eq!(fs::read_to_string(&victim).unwrap(), "root:SECRET\n");
    fs::remove_file(dest.join("access_2020-01-01.log")).unwrap();
    assert_eq!(archived_lines(&dest), sorted_lines(&numbered(0, 3)));
    // The lock as a link: refused, nothing made or cut through it.
    fs::remove_file(dest.join(".logwarden-collect.lock")).unwrap();
    plant(".logwarden-collect.lock");
    append(&dir.path().join("access.log"), &numbered(3, 4));
    let out = collect_quiet(dir.path());
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert_eq!(fs::read_to_string(&victim).unwrap(), "root:SECRET\n");
    fs::remove_file(dest.join(".logwarden-collect.lock")).unwrap();
    // The history as a link: refused before anything is collected.
    plant("monitoring.log");
    let out = logwarden()
        .current_dir(dir.path())
        .args(["collect", "-q", "--source", "access.log", "--analyze"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr)
        .starts_with("logwarden: error: history log/monitoring.log is a symbolic link: refused"));
    assert_eq!(fs::read_to_string(&victim).unwrap(), "root:SECRET\n");
    assert_eq!(archived_lines(&dest), sorted_lines(&numbered(0, 3)));
}

/// Lines `from..to` that differ only in their first bytes: each ends in the same long user
/// agent, so their last 256 bytes are alike.
fn long_alike(from: usize, to: usize) -> String {
    alike_with_agent(from, to, 30)
}

/// [`long_alike`] with the agent's middle repeated `repeat` times (13 bytes each).
fn alike_with_agent(from: usize, to: usize, repeat: usize) -> String {
    let agent = format!("Mozilla/5.0 ({})", "compatible; x".repeat(repeat));
    (from..to)
        .map(|n| {
            format!(
                "10.0.{}.{} - - [19/Jun/2023:10:{:02}:{:02} +0000] \"GET /p/{n} HTTP/1.1\" 200 1 \"-\" \"{agent}\"\n",
                n / 250,
                n % 250,
                n / 60 % 60,
                n % 60
            )
        })
        .collect()
}

/// The file last collected was rotated away twice (`rotate 1`: gone) before the next collect,
/// and the new live file ended lines with the same last 256 bytes as the last line collected:
/// it was taken for that file edited in place and read from there, its first lines lost.
/// The bytes looked for now reach back to a line start, so a line with another client or
/// time is not taken for it.
#[test]
fn a_new_live_file_whose_lines_end_alike_is_not_taken_for_the_old_one_edited() {
    // Lines of ~480 bytes, and of ~6,600 (over 4 KiB, the reach of a first version).
    for repeat in [30, 500] {
        let dir = tempfile::tempdir().unwrap();
        let live = dir.path().join("access.log");
        let one = dir.path().join("access.log.1");
        let lines = |from, to| alike_with_agent(from, to, repeat);
        fs::write(&live, lines(0, 10)).unwrap();
        assert_eq!(collect_dated(dir.path(), None), (10, vec![]));
        for (from, to) in [(10, 20), (20, 30)] {
            fs::rename(&live, &one).unwrap();
            fs::write(&live, lines(from, to)).unwrap();
        }
        // Its own lines are all read; that the old file is gone is said, as it may have held
        // lines written after the last collect.
        let (got, warnings) = collect_dated(dir.path(), None);
        assert_eq!(got, 20, "{repeat}");
        assert_eq!(
            warnings,
            [format!(
                "the file that was access.log at the last collect (read up to byte {}) is not found any more: moved elsewhere, deleted or emptied (lines written to it after that collect, if any, are not collected), or changed in its first 4 KiB (then read again from its start: its lines are archived twice)",
                lines(0, 10).len()
            )]
        );
        let mut want: Vec<String> = lines(0, 30).lines().map(str::to_string).collect();
        want.sort();
        assert_eq!(archived_lines(&dir.path().join("log")), want);
    }
}

/// The same after `copytruncate` by a writer without `O_APPEND`: the last line collected
/// followed NUL padding, no newline within reach, and the bytes looked for were its last 256,
/// which the next live file's lines ended with too (a model test found it).
#[test]
fn a_padded_live_file_whose_lines_end_alike_is_not_taken_for_the_old_one_edited() {
    use std::io::{Seek, SeekFrom};
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("access.log");
    let (one, two) = (live.with_extension("log.1"), live.with_extension("log.2"));
    // logrotate's `copytruncate` with `rotate 1`; the writer goes on at `offset`.
    let copytruncate = || {
        if one.exists() {
            fs::rename(&one, &two).unwrap();
            fs::remove_file(&two).unwrap();
        }
        fs::copy(&live, &one).unwrap();
        fs::OpenOptions::new()
            .write(true)
            .open(&live)
            .unwrap()
            .set_len(0)
            .unwrap();
    };
    let write_at = |offset: u64, text: &str| {
        let mut f = fs::OpenOptions::new().write(true).open(&live).unwrap();
        f.seek(SeekFrom::Start(offset)).unwrap();
        f.write_all(text.as_bytes()).unwrap();
    };
    let mut offset = 0u64;
    let mut write = |text: String| {
        write_at(offset, &text);
        offset += text.len() as u64;
    };
    fs::write(&live, "").unwrap();
    write(long_alike(0, 10));
    assert_eq!(collect_dated(dir.path(), None), (10, vec![]));
    copytruncate();
    write(long_alike(10, 11));
    assert_eq!(collect_dated(dir.path(), None), (1, vec![]));
    // Rotated twice more before the next collect, then written to.
    copytruncate();
    copytruncate();
    write(long_alike(11, 14));
    let (lines, warnings) = collect_dated(dir.path(), None);
    assert_eq!(lines, 3, "{warnings:?}");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("is not found any more"),
        "{warnings:?}"
    );
    let mut want: Vec<String> = long_alike(0, 14).lines().map(str::to_string).collect();
    want.sort();
    assert_eq!(archived_lines(&dir.path().join("log")), want);
}

/// A history named as its own JSON-lines twin or as one of collect's own files is refused
/// before anything is collected: the twin and the lock hung the run (one lock held, the same
/// file's waited for), and the state file took the record and failed every collect after it.
#[test]
fn a_history_named_as_the_twin_or_a_file_of_collects_is_refused() {
    for (history, says) in [
        ("log/history.jsonl", "the name of its own JSON-lines twin"),
        ("log/.logwarden-collect.lock", "one of collect's own files"),
        ("log/.logwarden-collect.json", "one of collect's own files"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("access.log"), line("10.0.0.1", 404, 1)).unwrap();
        let out = logwarden()
            .current_dir(dir.path())
            .args(["collect", "--source", "access.log", "--analyze", "-q"])
            .args(["--history", history])
            .timeout(std::time::Duration::from_secs(20))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{history}: {stderr}");
        assert!(stderr.contains(says), "{history}: {stderr}");
        // Nothing collected: the next run with a good history collects the line.
        assert!(!dir.path().join("log").exists(), "{history}");
    }
}
