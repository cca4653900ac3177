//! End-to-end tests of `logwarden analyze` on the fixtures in `testdata/`.

mod common;
use common::*;
use serde_json::{json, Value};
use std::io::Write;
use std::path::Path;

fn pick(v: &Value, keys: &[&str]) -> Value {
    Value::Object(
        keys.iter()
            .filter_map(|k| v.get(*k).map(|x| (k.to_string(), x.clone())))
            .collect(),
    )
}

fn periods(report: &Value, section: &str, label: &str) -> Vec<Value> {
    report[section]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let mut keys = vec![label];
            keys.extend(PERIOD_KEYS);
            if section == "weeks" {
                keys.extend(["start", "end"]);
            }
            let mut v = pick(p, &keys);
            // The reference oracle (scripts/reference.py) knows ip, failed and by_status; the
            // per-IP details (first/last seen, top paths) are checked exactly on the sample.
            if let Some(ips) = v["suspicious_ips"].as_array_mut() {
                for ip in ips {
                    *ip = pick(ip, &["ip", "failed", "by_status"]);
                }
            }
            v
        })
        .collect()
}

/// The trap fixture (every hostile case of the scanner contract) against the numbers of the
/// independent reference implementation `scripts/reference.py`, hand-checked in
/// `testdata/traps/README.md`.
fn check_traps(extra: &[&str], expected_file: &str) {
    let dir = testdata("traps");
    let mut args = vec![path_str(&dir)];
    args.extend_from_slice(extra);
    let (code, got, stderr) = analyze_json(&args);
    assert_eq!(code, 0, "stderr: {stderr}");
    let expected: Value =
        serde_json::from_slice(&std::fs::read(testdata(expected_file)).unwrap()).unwrap();
    let total_keys = [
        "lines",
        "parsed",
        "blank",
        "malformed",
        "malformed_by_reason",
        "failed",
        "status_400",
    ];
    assert_eq!(
        pick(&got["totals"], &total_keys),
        pick(&expected["totals"], &total_keys)
    );
    let got_inputs: Vec<Value> = got["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            let lines: Vec<&Value> = i["malformed_lines"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| &m["line"])
                .collect();
            json!([
                i["path"].as_str().unwrap().rsplit('/').next(),
                i["lines"],
                i["parsed"],
                i["blank"],
                i["malformed"],
                lines
            ])
        })
        .collect();
    let expected_inputs: Vec<Value> = expected["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            json!([
                i["path"].as_str().unwrap().rsplit('/').next(),
                i["lines"],
                i["parsed"],
                i["blank"],
                i["malformed"],
                i["malformed_lines"]
            ])
        })
        .collect();
    assert_eq!(got_inputs, expected_inputs);
    assert_eq!(
        periods(&got, "days", "date"),
        periods(&expected, "days", "date")
    );
    assert_eq!(
        periods(&got, "weeks", "week"),
        periods(&expected, "weeks", "week")
    );
}

#[test]
fn traps_match_reference_numbers() {
    check_traps(&[], "traps/expected.json");
}

#[test]
fn traps_match_reference_numbers_in_utc() {
    check_traps(&["--utc"], "traps/expected-utc.json");
}

#[test]
fn sample_report_text_and_json_are_exact() {
    let out = logwarden()
        .current_dir(testdata("sample"))
        .args([
            "analyze",
            "--json",
            "/dev/stdout",
            "--report",
            "report.txt.tmp",
        ])
        .output()
        .unwrap();
    let _ = std::fs::remove_file(testdata("sample/report.txt.tmp"));
    assert_eq!(out.status.code(), Some(0));
    let out = logwarden()
        .current_dir(testdata("sample"))
        .args(["analyze", "--quiet"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let expected = std::fs::read_to_string(testdata("sample/expected-report.txt")).unwrap();
    // The report names inputs relative to where it ran; the golden file ran from the repo root.
    let text = String::from_utf8(out.stdout)
        .unwrap()
        .replace("  log/", "  testdata/sample/log/");
    assert_eq!(text, expected);
    for phrase in [
        "Unusual login attempts detected:\nIP: 172.16.14.50 - Failed login attempts: 9\n",
        "IP: 2001:db8:bad::1 - Failed login attempts: 6\n",
        "Unusual amount of 400 errors detected: 10\n",
        "No unusual login attempts or errors found.\n",
    ] {
        assert!(text.contains(phrase), "missing {phrase:?}");
    }
    assert!(text.ends_with("Detection complete.\n"));
    assert!(
        !text.contains("cronjob_logs"),
        "the cron output is not an access log"
    );

    let (code, report, _) = analyze_json(&[path_str(&testdata("sample/log"))]);
    assert_eq!(code, 0);
    assert_eq!(report["schema_version"], 1);
    assert_eq!(
        report["settings"],
        json!({"threshold": 5, "codes": [400, 401, 403, 404, 409], "bad_request_threshold": 5, "utc": false, "format": "auto", "max_line_bytes": 4194304})
    );
    assert_eq!(report["totals"]["lines"], 432);
    assert_eq!(report["totals"]["failed"], 52);
    assert_eq!(report["totals"]["status_400"], 10);
    assert_eq!(report["inputs"].as_array().unwrap().len(), 10);
    assert_eq!(report["inputs"][0]["compressed"], true);
    let w25 = &report["weeks"][1];
    assert_eq!(
        pick(
            w25,
            &[
                "week",
                "start",
                "end",
                "lines",
                "failed",
                "status_400",
                "unusual_400"
            ]
        ),
        json!({"week": "2023-W25", "start": "2023-06-19", "end": "2023-06-25", "lines": 305, "failed": 36, "status_400": 10, "unusual_400": true})
    );
    assert_eq!(
        w25["suspicious_ips"],
        json!([
        {"ip": "172.16.14.50", "failed": 9, "by_status": {"401": 9},
         "first_seen": "2023-06-19T03:03:00+02:00", "last_seen": "2023-06-20T03:06:00+02:00",
         "top_paths": [{"path": "/wp-login.php", "count": 9}], "other_paths": 0, "paths_exact": true},
        {"ip": "2001:db8:bad::1", "failed": 6, "by_status": {"403": 1, "404": 5},
         "first_seen": "2023-06-22T07:03:00+02:00", "last_seen": "2023-06-22T07:08:00+02:00",
         "top_paths": [{"path": "/.env", "count": 1}, {"path": "/.git/config", "count": 1},
                       {"path": "/admin", "count": 1}, {"path": "/backup.zip", "count": 1},
                       {"path": "/phpmyadmin/", "count": 1}],
         "other_paths": 1, "paths_exact": true}])
    );
    let day = |d: &str| {
        report["days"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["date"] == d)
            .unwrap()
            .clone()
    };
    assert_eq!(
        day("2023-06-20")["suspicious_ips"],
        json!([]),
        "4 failures: below the threshold on the day"
    );
    assert_eq!(day("2023-06-21")["unusual_400"], true);
    let expected_json: Value =
        serde_json::from_slice(&std::fs::read(testdata("sample/expected.json")).unwrap()).unwrap();
    // The whole document (the README calls it the complete expected output), but each
    // input's path, which holds the directory the test runs from.
    let without_paths = |v: &Value| {
        let mut v = v.clone();
        for input in v["inputs"].as_array_mut().unwrap() {
            input["path"] = Value::Null;
        }
        v
    };
    assert_eq!(without_paths(&report), without_paths(&expected_json));
}

#[test]
fn output_is_identical_for_every_thread_count_chunk_size_and_source() {
    let dir = testdata("traps");
    let d = path_str(&dir);
    // Small files are read into memory; `LOGWARDEN_READ_WHOLE_MAX=0` maps them instead.
    let run_with = |read_whole_max: &str, extra: &[&str]| {
        let out = logwarden()
            .env("LOGWARDEN_READ_WHOLE_MAX", read_whole_max)
            .arg("analyze")
            .arg(d)
            .args(["--json", "-", "--quiet"])
            .args(extra)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
        out.stdout
    };
    let base = run_with("262144", &["--threads", "1"]);
    for extra in [
        &["--threads", "2"][..],
        &["--threads", "7", "--chunk-size", "1"],
        &["--threads", "3", "--chunk-size", "100"],
        &["--threads", "2", "--chunk-size", "4096", "--no-mmap"],
        &["--threads", "1", "--no-mmap"],
    ] {
        assert!(
            run_with("262144", extra) == base,
            "JSON differs with {extra:?}"
        );
        assert!(
            run_with("0", extra) == base,
            "JSON mapped differs with {extra:?}"
        );
    }
}

#[test]
fn outputs_sharing_stdout_come_one_after_the_other_json_first() {
    let d = testdata("sample/log");
    let run = |threads: &str| {
        let out = logwarden()
            .arg("analyze")
            .arg(&d)
            .args([
                "--json",
                "-",
                "--report",
                "-",
                "--quiet",
                "--threads",
                threads,
            ])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
        out.stdout
    };
    let one = run("1");
    let json = logwarden()
        .arg("analyze")
        .arg(&d)
        .args(["--json", "-", "--quiet"])
        .output()
        .unwrap()
        .stdout;
    assert!(one.starts_with(&json), "the whole JSON first");
    let text = String::from_utf8_lossy(&one[json.len()..]).into_owned();
    assert!(
        text.contains("Detection complete."),
        "then the text: {text}"
    );
    for threads in ["2", "4", "8"] {
        assert!(run(threads) == one, "stdout differs with {threads} threads");
    }
    // `/dev/stdout` is stdout too: the JSON alone, no text report after it.
    let out = logwarden()
        .arg("analyze")
        .arg(&d)
        .args(["--json", "/dev/stdout", "--quiet", "--threads", "4"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout == json, "only the JSON on stdout");
    // One file named twice (however spelled) is a usage error, found before any analysis.
    let dir = tempfile::tempdir().unwrap();
    let twice = dir.path().join("out");
    let dotted = dir.path().join(".").join("out");
    let out = logwarden()
        .arg("analyze")
        .arg(&d)
        .args(["--quiet", "--threads", "4", "--json"])
        .arg(&twice)
        .arg("--report")
        .arg(&dotted)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--json and --report name the same file"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "nothing written"
    );
    // A directory as an output, before the analysis too.
    let out = logwarden()
        .arg("analyze")
        .arg(&d)
        .args(["--quiet", "--json"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr,
        format!(
            "logwarden: error: --json names a directory: {}\n",
            dir.path().display()
        )
    );
}

/// Outputs named by a descriptor (`/dev/stderr`, `/dev/fd/N`) are written through it, as a
/// shell's redirection is, never replaced by a renamed file (which, as root, replaced the
/// `/dev/stderr` link itself with the report); a stream and a file that are one file, or a
/// descriptor that is not open, are refused before the analysis.
#[test]
fn outputs_named_by_descriptors_are_written_through_them() {
    let dir = tempfile::tempdir().unwrap();
    let bin = assert_cmd::cargo::cargo_bin("logwarden");
    let sample = testdata("sample/log");
    let text = {
        let out = logwarden()
            .arg("analyze")
            .arg(&sample)
            .arg("-q")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
        out.stdout
    };
    // stderr redirected into a regular file.
    let err_file = dir.path().join("err.txt");
    let status = std::process::Command::new(&bin)
        .args([
            "analyze",
            "-q",
            "--json",
            "/dev/null",
            "--report",
            "/dev/stderr",
        ])
        .arg(&sample)
        .env("HOME", "/nonexistent")
        .stderr(std::fs::File::create(&err_file).unwrap())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(0));
    assert_eq!(std::fs::read(&err_file).unwrap(), text);
    assert!(std::fs::symlink_metadata("/dev/stderr").is_ok_and(|m| !m.is_file()));
    // Descriptor 3 opened by the shell; one that is not open.
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(r#"exec "$0" analyze -q --report /dev/null --json /dev/fd/3 "$1" 3>"$2""#)
        .arg(&bin)
        .arg(&sample)
        .arg(dir.path().join("fd3.json"))
        .env("HOME", "/nonexistent")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let json: Value = serde_json::from_slice(&std::fs::read(dir.path().join("fd3.json")).unwrap())
        .expect("the JSON went through descriptor 3");
    assert_eq!(json["totals"]["lines"], 432);
    let out = logwarden()
        .args(["analyze", "-q", "--json", "/dev/fd/9"])
        .arg(&sample)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty(), "nothing analyzed or written");
    assert!(
        String::from_utf8_lossy(&out.stderr).starts_with(
            "logwarden: error: --json names /dev/fd/9, a descriptor that is not open ("
        ),
        "{out:?}"
    );
    // A descriptor open for reading only: found before the analysis too.
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(r#"exec "$0" analyze -q --json /dev/fd/3 "$1" 3<"$1/access_2023-06-21.log""#)
        .arg(&bin)
        .arg(&sample)
        .env("HOME", "/nonexistent")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty(), "nothing analyzed or written");
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "logwarden: error: --json names /dev/fd/3, a descriptor open for reading only\n"
    );
    // `--json -` into the file that `--report` replaces: the JSON would be lost.
    let same = dir.path().join("same.txt");
    let out = std::process::Command::new(&bin)
        .args(["analyze", "-q", "--json", "-", "--report"])
        .arg(&same)
        .arg(&sample)
        .env("HOME", "/nonexistent")
        .stdout(std::fs::File::create(&same).unwrap())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "logwarden: error: --json and --report go to the same file ({}); give each output its own\n",
            same.display()
        )
    );
    assert_eq!(std::fs::metadata(&same).unwrap().len(), 0);
    // A FIFO named as an output while stdout goes into it too: one stream, written in order.
    let fifo = dir.path().join("fifo");
    mkfifo(&fifo);
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read(fifo).unwrap())
    };
    let out = std::process::Command::new(&bin)
        .args(["analyze", "-q", "--report", "-", "--json"])
        .arg(&fifo)
        .arg(&sample)
        .env("HOME", "/nonexistent")
        .stdout(std::fs::OpenOptions::new().write(true).open(&fifo).unwrap())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let got = reader.join().unwrap();
    let json_len = got.len() - text.len();
    assert_eq!(
        &got[json_len..],
        &text[..],
        "the JSON first, then the text, whole"
    );
    let json: Value = serde_json::from_slice(&got[..json_len]).unwrap();
    assert_eq!(json["totals"]["lines"], 432);
}

#[test]
fn a_full_stdout_is_named_in_the_error() {
    let Ok(full) = std::fs::OpenOptions::new().write(true).open("/dev/full") else {
        eprintln!("skipped: no /dev/full");
        return;
    };
    let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("logwarden"))
        .args(["analyze", "-q"])
        .arg(testdata("sample/log"))
        .stdout(full)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "logwarden: error: cannot write to stdout: No space left on device (os error 28)\n"
    );
}

#[test]
fn stdin_redirected_from_a_named_file_is_a_usage_error() {
    // `analyze - a.log < a.log` counted a.log twice (stdin took no part in finding duplicates).
    let dir = tempfile::tempdir().unwrap();
    let (log, other) = (dir.path().join("access.log"), dir.path().join("other"));
    let line = b"10.0.0.1 - - [19/Jun/2023:10:00:00 +0000] \"GET /x HTTP/1.1\" 404 1\n";
    std::fs::write(&log, line.repeat(3)).unwrap();
    std::fs::write(&other, line.repeat(2)).unwrap();
    let run_with = |flags: &[&str], stdin: &Path, named: &Path| {
        std::process::Command::new(assert_cmd::cargo::cargo_bin("logwarden"))
            .args(["analyze", "-q", "--json", "-", "-"])
            .args(flags)
            .arg(named)
            .stdin(std::fs::File::open(stdin).unwrap())
            .output()
            .unwrap()
    };
    let run = |stdin: &Path, named: &Path| run_with(&[], stdin, named);
    for named in [&log, &dir.path().to_path_buf()] {
        let out = run(&log, named);
        assert_eq!(out.status.code(), Some(2), "{out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let expected = format!(
            "stdin (-) is the file {}, which is named too",
            log.display()
        );
        assert!(stderr.contains(&expected), "{stderr}");
        assert!(out.stdout.is_empty());
    }
    // A redirected file is compared as a named one is: `access.log` goes on from it.
    let out = run(&other, &log);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (&v["totals"]["lines"], &v["totals"]["duplicate_lines"]),
        (&json!(3), &json!(2))
    );
    assert_eq!(v["inputs"][1]["duplicate_of"], "-");
    // A pipe is not (its bytes are read once, as they come): both count.
    let out = logwarden()
        .args(["analyze", "-q", "--json", "-", "-"])
        .arg(&log)
        .write_stdin(line.repeat(2))
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (&v["totals"]["lines"], &v["totals"]["duplicate_lines"]),
        (&json!(5), &json!(0))
    );
    // Counted twice is what --keep-duplicates asks for.
    let out = run_with(&["--keep-duplicates"], &log, &log);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["totals"]["lines"], 6);
}

/// Stdin redirected from a plain file is read as the file is (mapped, or read whole when
/// small, and scanned in parallel): the same figures, and its size is known; from where a
/// shell left its offset, it is a stream of the rest; and it is left read to its end.
#[test]
fn stdin_redirected_from_a_file_reads_as_the_file_does() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    // Over the size read whole, so the map is the one taken (and a small one too).
    let mut data = Vec::new();
    for i in 0..2000 {
        data.extend_from_slice(
            format!(
                "10.0.{}.{} - - [19/Jun/2023:10:00:00 +0000] \"GET /x HTTP/1.1\" {} 1\n",
                i / 250,
                i % 250,
                if i % 3 == 0 { 404 } else { 200 }
            )
            .as_bytes(),
        );
    }
    for len in [data.len(), 700] {
        let cut = data[..data[..len].iter().rposition(|&b| b == b'\n').unwrap() + 1].to_vec();
        std::fs::write(&log, &cut).unwrap();
        let named = analyze_json(&[path_str(&log), "--threads", "2", "--chunk-size", "4096"]).1;
        let run = |stdin: std::fs::File| {
            let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("logwarden"))
                .args(["analyze", "-q", "--json", "-", "-", "--threads", "2"])
                .args(["--chunk-size", "4096"])
                .stdin(stdin)
                .output()
                .unwrap();
            serde_json::from_slice::<Value>(&out.stdout).unwrap()
        };
        let mut redirected = run(std::fs::File::open(&log).unwrap());
        assert_eq!(redirected["inputs"][0]["path"], "-");
        assert_eq!(redirected["inputs"][0]["file_bytes"], json!(cut.len()));
        redirected["inputs"][0]["path"] = named["inputs"][0]["path"].clone();
        assert_eq!(redirected, named, "{len}");
        // Past its first line (as `read` in a shell leaves it): the rest, streamed.
        let mut file = std::fs::File::open(&log).unwrap();
        let first = cut.iter().position(|&b| b == b'\n').unwrap() + 1;
        std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(first as u64)).unwrap();
        let rest = run(file);
        let lines = named["totals"]["lines"].as_u64().unwrap();
        assert_eq!(rest["totals"]["lines"], json!(lines - 1));
        assert_eq!(rest["inputs"][0]["file_bytes"], Value::Null);
    }
    // Held in the inputs' order: with room for one, the file named first is the one held
    // (and compared); stdin after it is a stream, with no warning, as it always was.
    let other = dir.path().join("other.log");
    std::fs::write(&other, &data[..700]).unwrap();
    let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("logwarden"))
        .env("LOGWARDEN_MAP_BUDGET", "1")
        .args(["analyze", "-q", "--json", "-"])
        .arg(&other)
        .arg("-")
        .stdin(std::fs::File::open(&log).unwrap())
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (&v["inputs"][0]["warnings"], &v["inputs"][1]["warnings"]),
        (&json!([]), &json!([])),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(v["inputs"][1]["file_bytes"], Value::Null);
    // Left at its end: what comes after it in a shell reads nothing more.
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg("\"$0\" analyze -q --json /dev/null --report /dev/null -; wc -c")
        .arg(assert_cmd::cargo::cargo_bin("logwarden"))
        .stdin(std::fs::File::open(&log).unwrap())
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "0", "{out:?}");
}

#[test]
fn stdin_plain_and_gzip() {
    let log = b"10.0.0.1 - - [19/Jun/2023:10:00:00 +0000] \"GET /x HTTP/1.1\" 404 1\n".repeat(6);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&log).unwrap();
    for input in [log.clone(), gz.finish().unwrap()] {
        let out = logwarden()
            .args(["analyze", "-", "--json", "-"])
            .write_stdin(input)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            v["days"][0]["suspicious_ips"],
            json!([{"ip": "10.0.0.1", "failed": 6, "by_status": {"404": 6},
                    "first_seen": "2023-06-19T10:00:00+00:00", "last_seen": "2023-06-19T10:00:00+00:00",
                    "top_paths": [{"path": "/x", "count": 6}], "other_paths": 0, "paths_exact": true}])
        );
        assert_eq!(v["inputs"][0]["path"], "-");
    }
}

/// `analyze access.log --json access.log` replaced the log with its own report (exit 0).
#[test]
fn an_output_naming_an_input_is_refused_before_anything_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("log");
    std::fs::create_dir_all(&log).unwrap();
    let text = "10.0.0.1 - - [19/Jun/2023:10:00:00 +0000] \"GET / HTTP/1.1\" 404 1\n";
    std::fs::write(log.join("access_2023-06-19.log"), text).unwrap();
    let cases: [&[&str]; 3] = [
        &[
            "analyze",
            "log/access_2023-06-19.log",
            "--json",
            "log/access_2023-06-19.log",
        ],
        &["analyze", "--report", "./log/../log/access_2023-06-19.log"],
        &[
            "report",
            "--week",
            "2023-W25",
            "--html",
            "log/access_2023-06-19.log",
        ],
    ];
    for args in cases {
        let out = logwarden()
            .current_dir(tmp.path())
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("is one of the inputs"),
            "{args:?}: {stderr}"
        );
        assert_eq!(
            std::fs::read_to_string(log.join("access_2023-06-19.log")).unwrap(),
            text
        );
    }
    // The same through stdin (`- < log`) and stdout (`>> log`).
    let file = || std::fs::File::open(log.join("access_2023-06-19.log")).unwrap();
    let append = || {
        std::fs::OpenOptions::new()
            .append(true)
            .open(log.join("access_2023-06-19.log"))
            .unwrap()
    };
    let outs = [
        std::process::Command::new(env!("CARGO_BIN_EXE_logwarden"))
            .current_dir(tmp.path())
            .args(["analyze", "-", "--report", "log/access_2023-06-19.log"])
            .stdin(file())
            .output()
            .unwrap(),
        std::process::Command::new(env!("CARGO_BIN_EXE_logwarden"))
            .current_dir(tmp.path())
            .args(["analyze", "log", "--json", "-"])
            .stdout(append())
            .output()
            .unwrap(),
    ];
    for out in outs {
        assert_eq!(out.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&out.stderr).contains("is one of the inputs"));
        assert_eq!(
            std::fs::read_to_string(log.join("access_2023-06-19.log")).unwrap(),
            text
        );
    }
}

#[test]
fn exit_codes_and_errors_name_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    // Missing path: exit 2.
    let out = logwarden()
        .args(["analyze", "/nonexistent/log"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("/nonexistent/log: no such file or directory"));
    // A directory without access logs: exit 2.
    std::fs::write(tmp.path().join("cronjob_logs"), "x").unwrap();
    let out = logwarden().arg("analyze").arg(tmp.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no access logs found"));
    // Default path ./log.
    let out = logwarden()
        .current_dir(tmp.path())
        .arg("analyze")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("log: no such file or directory"));
    // Bad flag value: exit 2.
    let out = logwarden()
        .args(["analyze", "--codes", "999", "-"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));

    // A truncated .gz among good files: exit 1, named, earlier lines kept, others analyzed.
    let line = b"10.0.0.2 - - [19/Jun/2023:10:00:00 +0000] \"GET /x HTTP/1.1\" 401 1\n";
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    for i in 0..20000u32 {
        gz.write_all(&line[..]).unwrap();
        gz.write_all(
            format!(
                "10.1.{}.{} - - [20/Jun/2023:10:00:00 +0000] \"GET / HTTP/1.1\" 200 1\n",
                i / 250,
                i % 250
            )
            .as_bytes(),
        )
        .unwrap();
    }
    let full = gz.finish().unwrap();
    std::fs::write(tmp.path().join("access.log.2.gz"), &full[..full.len() / 2]).unwrap();
    std::fs::write(tmp.path().join("access.log"), line.repeat(5)).unwrap();
    let (code, v, stderr) = analyze_json(&[path_str(tmp.path())]);
    assert_eq!(code, 1);
    assert!(stderr.contains("access.log.2.gz"), "stderr: {stderr}");
    let broken = &v["inputs"][1];
    assert!(broken["path"]
        .as_str()
        .unwrap()
        .ends_with("access.log.2.gz"));
    assert!(broken["error"]
        .as_str()
        .unwrap()
        .contains("the lines before it are counted"));
    let recovered = broken["lines"].as_u64().unwrap();
    assert!(
        recovered > 1000 && recovered < 40000,
        "recovered {recovered}"
    );
    assert_eq!(v["inputs"][0]["lines"], 5);
    assert_eq!(v["inputs"][0]["error"], Value::Null);
    assert_eq!(v["totals"]["files_with_errors"], 1);

    // In `tmp`, exit 2 and one line on stderr.
    let exit_2_in_tmp = |args: &[&str]| {
        let out = logwarden()
            .current_dir(tmp.path())
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    // An empty `paths` in the config file: the key and the file named.
    std::fs::write(tmp.path().join("logwarden.toml"), "[analyze]\npaths = []\n").unwrap();
    assert_eq!(
        exit_2_in_tmp(&["analyze"]),
        "logwarden: error: [analyze] paths (config file logwarden.toml) is empty: give it at least one path, or leave it out for ./log\n"
    );
    // A ./logwarden.toml that is there but cannot be read is an error, not skipped.
    std::fs::remove_file(tmp.path().join("logwarden.toml")).unwrap();
    std::fs::create_dir(tmp.path().join("logwarden.toml")).unwrap();
    assert_eq!(
        exit_2_in_tmp(&["analyze"]),
        "logwarden: error: cannot read config file logwarden.toml: not a regular file\n"
    );
    std::fs::remove_dir(tmp.path().join("logwarden.toml")).unwrap();
    // A FIFO there, found by its name alone, blocked every run with no word.
    mkfifo(&tmp.path().join("logwarden.toml"));
    let out = logwarden()
        .current_dir(tmp.path())
        .arg("analyze")
        .timeout(std::time::Duration::from_secs(20))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "logwarden: error: cannot read config file logwarden.toml: not a regular file\n"
    );
    std::fs::remove_file(tmp.path().join("logwarden.toml")).unwrap();
    // `--config` before and after the subcommand: the second one silently won.
    let (strict, loose) = (
        tmp.path().join("strict.toml"),
        tmp.path().join("loose.toml"),
    );
    std::fs::write(&strict, "[analyze]\nthreshold = 1\n").unwrap();
    std::fs::write(&loose, "[analyze]\nthreshold = 1000\n").unwrap();
    let (strict, loose) = (strict.to_str().unwrap(), loose.to_str().unwrap());
    let both = exit_2_in_tmp(&["--config", strict, "analyze", "--config", loose, "-q"]);
    assert!(
        both.starts_with("error: the argument '--config <PATH>' cannot be used multiple times\n"),
        "{both}"
    );
    // Either place alone is the file read.
    let sample = testdata("sample/log");
    for args in [
        ["--config", strict, "analyze"],
        ["analyze", "--config", strict],
    ] {
        let out = logwarden()
            .current_dir(tmp.path())
            .args(args)
            .args(["-q", "--json", "-", "--report", "/dev/null"])
            .arg(&sample)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}: {out:?}");
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["settings"]["threshold"], 1, "{args:?}");
    }
    // An empty HOME is no home: `./.config/logwarden/logwarden.toml` is not read for it.
    std::fs::create_dir_all(tmp.path().join(".config/logwarden")).unwrap();
    std::fs::write(
        tmp.path().join(".config/logwarden/logwarden.toml"),
        "[analyze]\nthreshold = 0\n",
    )
    .unwrap();
    let out = logwarden()
        .current_dir(tmp.path())
        .env("HOME", "")
        .args([
            "analyze",
            "-q",
            "--json",
            "/dev/null",
            "--report",
            "/dev/null",
        ])
        .arg(testdata("sample/log"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    std::fs::remove_dir_all(tmp.path().join(".config")).unwrap();
    // A symlink loop and a path through a file: the path, then the system's reason, once.
    std::os::unix::fs::symlink("loop", tmp.path().join("loop")).unwrap();
    for (name, reason) in [
        ("loop", "Too many levels of symbolic links (os error 40)"),
        ("cronjob_logs/x", "Not a directory (os error 20)"),
    ] {
        assert_eq!(
            exit_2_in_tmp(&["analyze", name]),
            format!("logwarden: error: {name}: {reason}\n")
        );
    }
}

#[test]
fn closed_stdout_pipe_is_not_an_error() {
    use std::process::{Command, Stdio};
    let bin = assert_cmd::cargo::cargo_bin("logwarden");
    let mut child = Command::new(bin)
        .args(["analyze", "--quiet", "--threshold", "1"])
        .arg(testdata("traps"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // the reader goes away, like `| head -0`
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The real Apache log in ../shared/real-logs, checked per day and per IP against mawk.
#[test]
fn real_log_matches_mawk_per_day_and_ip() {
    let real = root().join("../shared/real-logs/apache_logs");
    if !real.exists() {
        eprintln!("skipping: {} is absent", real.display());
        return;
    }
    let awk = ["mawk", "awk"].into_iter().find(|a| {
        std::process::Command::new(a)
            .arg("-W")
            .arg("version")
            .output()
            .is_ok()
    });
    let Some(awk) = awk else {
        eprintln!("skipping: no awk");
        return;
    };
    // Independent count: field 4 holds "[dd/Mon/yyyy:...", field 9 the status, field 1 the IP.
    let prog = r#"$9 ~ /^(400|401|403|404|409)$/ { split($4, t, ":"); c[substr(t[1], 2) " " $1]++ } END { for (k in c) print k, c[k] }"#;
    let out = std::process::Command::new(awk)
        .arg(prog)
        .arg(&real)
        .output()
        .unwrap();
    let mut expected: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    expected.sort();
    assert_eq!(
        expected.len(),
        99,
        "mawk found the known number of (day, IP) pairs"
    );

    let (code, v, _) = analyze_json(&[path_str(&real), "--threshold", "1"]);
    assert_eq!(code, 0);
    assert_eq!(v["totals"]["lines"], 10000);
    assert_eq!(v["totals"]["parsed"], 10000);
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let mut got = Vec::new();
    for day in v["days"].as_array().unwrap() {
        let date = day["date"].as_str().unwrap();
        let (y, m, d) = (
            &date[0..4],
            date[5..7].parse::<usize>().unwrap(),
            &date[8..10],
        );
        for ip in day["suspicious_ips"].as_array().unwrap() {
            got.push(format!(
                "{d}/{}/{y} {} {}",
                months[m - 1],
                ip["ip"].as_str().unwrap(),
                ip["failed"]
            ));
        }
        assert_eq!(
            day["failing_ips"].as_u64().unwrap() as usize,
            day["suspicious_ips"].as_array().unwrap().len()
        );
    }
    got.sort();
    assert_eq!(got, expected);
}

/// A week with one failing day takes that day's list as it is (the summary copies it); a week
/// with two failing days sums them, so a client under the threshold each day can be over it
/// for the week.
#[test]
fn weeks_of_one_and_of_two_failing_days() {
    let dir = tempfile::tempdir().unwrap();
    let line = |ip: &str, day: u32, time: &str, path: &str, status: u16| {
        format!("{ip} - - [{day:02}/Jun/2023:{time} +0000] \"GET {path} HTTP/1.1\" {status} 12 \"-\" \"curl\"\n")
    };
    let mut log = String::new();
    // 2023-W25: Monday 19 has the failures, Tuesday 20 only successes.
    for (i, path) in ["/a", "/b", "/a", "/c", "/a", "/b"].iter().enumerate() {
        log += &line("10.0.0.1", 19, &format!("10:00:0{i}"), path, 401);
    }
    log += &line("10.0.0.2", 19, "11:00:00", "/x", 404);
    log += &line("10.0.0.3", 20, "09:00:00", "/", 200);
    log += &line("10.0.0.3", 20, "09:00:01", "/", 200);
    // 2023-W26: 10.0.0.9 fails 3 times on Monday 26 and 3 times on Tuesday 27.
    for day in [26, 27] {
        for s in 0..3 {
            log += &line("10.0.0.9", day, &format!("08:00:0{s}"), "/login", 403);
        }
    }
    std::fs::write(dir.path().join("access.log"), log).unwrap();
    let (code, report, stderr) = analyze_json(&[path_str(dir.path())]);
    assert_eq!(code, 0, "stderr: {stderr}");
    let (days, weeks) = (&report["days"], &report["weeks"]);
    assert_eq!(days.as_array().unwrap().len(), 4);
    assert_eq!(weeks.as_array().unwrap().len(), 2);
    let monday = &days[0];
    assert_eq!(monday["date"], "2023-06-19");
    assert_eq!(monday["failing_ips"], 2);
    let ips = monday["suspicious_ips"].as_array().unwrap();
    assert_eq!(ips.len(), 1);
    assert_eq!(ips[0]["ip"], "10.0.0.1");
    assert_eq!(ips[0]["failed"], 6);
    assert_eq!(
        ips[0]["top_paths"],
        json!([{"path": "/a", "count": 3}, {"path": "/b", "count": 2}, {"path": "/c", "count": 1}])
    );
    assert_eq!(
        pick(&weeks[0], &["week", "lines", "failed", "failing_ips"]),
        json!({"week": "2023-W25", "lines": 9, "failed": 7, "failing_ips": 2})
    );
    assert_eq!(weeks[0]["suspicious_ips"], monday["suspicious_ips"]);
    // Under the threshold each day, over it for the week.
    assert_eq!(days[2]["suspicious_ips"], json!([]));
    assert_eq!(days[3]["suspicious_ips"], json!([]));
    let w26 = weeks[1]["suspicious_ips"].as_array().unwrap();
    assert_eq!(w26.len(), 1);
    assert_eq!(
        pick(&w26[0], &["ip", "failed", "first_seen", "last_seen"]),
        json!({"ip": "10.0.0.9", "failed": 6, "first_seen": "2023-06-26T08:00:00+00:00", "last_seen": "2023-06-27T08:00:02+00:00"})
    );
}

/// Thousands of days over centuries (each line its own day, out of order, some days twice):
/// every day is listed once, in order, under the ISO week that holds it, in the text report
/// and the HTML, as the JSON's days and weeks say. (The grouping searched every day for
/// each week, which took minutes on a hostile log of 600k days; it now searches sorted lists.)
#[test]
fn thousands_of_days_group_into_their_weeks() {
    use chrono::{Datelike, NaiveDate};
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access_days.log");
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let mut text = String::new();
    let mut dates = std::collections::BTreeSet::new();
    let mut per_day = std::collections::BTreeMap::new();
    // A fixed pseudo-random walk over years 1000-9999 (no dependency, the same every run).
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    for i in 0..3000u32 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let date = NaiveDate::from_ymd_opt(
            1000 + (x % 9000) as i32,
            1 + ((x >> 20) % 12) as u32,
            1 + ((x >> 30) % 28) as u32,
        )
        .unwrap();
        // Every tenth line is dated on the latest day so far: days with two lines.
        let date = if i % 10 == 9 {
            *dates.iter().next_back().unwrap()
        } else {
            date
        };
        dates.insert(date);
        *per_day.entry(date).or_insert(0u32) += 1;
        text.push_str(&format!(
            "10.0.{}.{} - - [{:02}/{}/{}:12:00:00 +0000] \"GET /x HTTP/1.1\" 404 0 \"-\" \"t\"\n",
            i / 256,
            i % 256,
            date.day(),
            months[date.month0() as usize],
            date.year()
        ));
    }
    std::fs::write(&log, text).unwrap();
    let report = dir.path().join("r.txt");
    let html = dir.path().join("r.html");
    let (code, v, stderr) = analyze_json(&[
        path_str(&log),
        "--report",
        path_str(&report),
        "--html",
        path_str(&html),
    ]);
    assert_eq!(code, 0, "{stderr}");
    let want_days: Vec<String> = dates.iter().map(|d| d.to_string()).collect();
    let got_days: Vec<&str> = v["days"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["date"].as_str().unwrap())
        .collect();
    assert_eq!(got_days, want_days);
    let weeks: std::collections::BTreeSet<(i32, u32)> = dates
        .iter()
        .map(|d| (d.iso_week().year(), d.iso_week().week()))
        .collect();
    assert_eq!(v["weeks"].as_array().unwrap().len(), weeks.len());
    // The text report: each "-- Day" under the "== Week" whose range holds it, all in order.
    let text = std::fs::read_to_string(&report).unwrap();
    let mut week = ("", "");
    let mut listed = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("== Week ") {
            // "2023-W25 (2023-06-19 to 2023-06-25)"
            let range = &rest[rest.find('(').unwrap() + 1..rest.len() - 1];
            let (start, end) = range.split_once(" to ").unwrap();
            week = (start, end);
        } else if let Some(day) = line.strip_prefix("-- Day ") {
            assert!(week.0 <= day && day <= week.1, "{day} under {week:?}");
            listed.push(day.to_string());
        }
    }
    assert_eq!(listed, want_days);
    // The HTML: each day's row in its week's table holds that day's figures, once.
    let page = std::fs::read_to_string(&html).unwrap();
    let mut rows: std::collections::HashMap<&str, Vec<&str>> = Default::default();
    for row in page
        .lines()
        .filter_map(|l| l.strip_prefix("<tr data-date=\""))
    {
        let date = &row[..10];
        let lines = row.split("<td class=\"num lines\">").nth(1).unwrap();
        rows.entry(date)
            .or_default()
            .push(&lines[..lines.find('<').unwrap()]);
    }
    for (date, n) in &per_day {
        assert_eq!(rows[date.to_string().as_str()], [n.to_string()], "{date}");
    }
}

/// Messages that cannot reach stderr (`2>/dev/full`, a full disk under a cron job's log)
/// are dropped; the exit status still says what happened (it was 101, a panic).
#[test]
fn an_unwritable_stderr_keeps_the_exit_status() {
    let tmp = tempfile::tempdir().unwrap();
    let truncated = tmp.path().join("access.log.gz");
    std::fs::write(&truncated, b"\x1f\x8b\x08\x00").unwrap();
    let status = |args: &[&std::ffi::OsStr]| {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        std::process::Command::new(env!("CARGO_BIN_EXE_logwarden"))
            .env("HOME", "/nonexistent")
            .args(args)
            .stderr(full)
            .status()
            .unwrap()
            .code()
    };
    let path = truncated.as_os_str();
    let quiet = [
        "analyze",
        "-q",
        "--json",
        "/dev/null",
        "--report",
        "/dev/null",
    ]
    .map(std::ffi::OsStr::new);
    // An input error (its message on stderr): 1.
    assert_eq!(status(&[&quiet[..], &[path]].concat()), Some(1));
    // Could not run (the error on stderr): 2.
    let missing = tmp.path().join("missing");
    assert_eq!(
        status(&[&quiet[..], &[missing.as_os_str()]].concat()),
        Some(2)
    );
}

const ONE_404: &str = "10.0.0.1 - - [19/Jun/2023:10:00:00 +0000] \"GET / HTTP/1.1\" 404 5\n";

/// Inputs are mapped up front to be compared, but a process has a limited number of
/// mappings: 70,000 files used them all and the run aborted (exit 134). Past a budget (half
/// the limit; set low here) the rest are streams, not compared, and the run says so.
#[test]
fn inputs_beyond_the_map_budget_are_streamed_and_said_to_be() {
    let tmp = tempfile::tempdir().unwrap();
    for i in 1..=5 {
        std::fs::write(tmp.path().join(format!("access.{i}.log")), ONE_404).unwrap();
    }
    let run_on = |budget: &str, inputs: &[&str]| {
        logwarden()
            .current_dir(tmp.path())
            .env("LOGWARDEN_MAP_BUDGET", budget)
            .args(["analyze", "-q", "--json", "-", "--report", "/dev/null"])
            .args(inputs)
            .output()
            .unwrap()
    };
    let all = (1..=5)
        .map(|i| format!("access.{i}.log"))
        .collect::<Vec<_>>();
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    let run = |budget: &str| run_on(budget, &all);
    let warnings_of = |v: &Value| -> Vec<Value> {
        v["inputs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["warnings"].clone())
            .collect()
    };
    // All compared: one file's line, the other four its copies.
    let out = run("100");
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (&v["totals"]["lines"], &v["totals"]["duplicate_lines"]),
        (&json!(1), &json!(4))
    );
    // Two mapped and compared, three streamed and counted.
    let out = run("2");
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "logwarden: warning: 5 inputs: 2 files are mapped and compared for duplicates, the most this system allows one run; the other 3 are read as streams, not compared: a copy of another input among them is counted again\n"
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (&v["totals"]["lines"], &v["totals"]["duplicate_lines"]),
        (&json!(4), &json!(1))
    );
    // Each streamed input says so in the report too (a mailed one has no stderr).
    let streamed = json!(["not compared with the other inputs (a copy of another input counts again): 2 files are mapped, the most this system allows one run, and this one is read as a stream"]);
    assert_eq!(
        warnings_of(&v),
        [
            json!([]),
            json!([]),
            streamed.clone(),
            streamed.clone(),
            streamed
        ]
    );

    // No copy can concern an empty input, or one alone: nothing said of them.
    std::fs::write(tmp.path().join("empty.log"), "").unwrap();
    let out = run_on("1", &["access.1.log", "empty.log", "access.2.log"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "logwarden: warning: 3 inputs: 1 file is mapped and compared for duplicates, the most this system allows one run; the other 2 are read as streams, not compared: a copy of another input among them is counted again\n"
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let streamed = json!(["not compared with the other inputs (a copy of another input counts again): 1 file is mapped, the most this system allows one run, and this one is read as a stream"]);
    assert_eq!(warnings_of(&v), [json!([]), json!([]), streamed]);
    let out = run_on("0", &["access.1.log"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (&v["totals"]["lines"], &v["inputs"][0]["warnings"]),
        (&json!(1), &json!([]))
    );
}

/// One thread opened the inputs last to first: two FIFOs fed one after the other hung (the
/// last opened first, while its writer waited for the first to be read).
#[test]
fn one_thread_opens_fifos_in_their_order() {
    let tmp = tempfile::tempdir().unwrap();
    let (p1, p2) = (tmp.path().join("p1"), tmp.path().join("p2"));
    mkfifo(&p1);
    mkfifo(&p2);
    let writer = {
        let (p1, p2) = (p1.clone(), p2.clone());
        std::thread::spawn(move || {
            std::fs::write(&p1, ONE_404).unwrap();
            std::fs::write(&p2, ONE_404.replace("10.0.0.1", "10.0.0.2")).unwrap();
        })
    };
    let out = logwarden()
        .args([
            "analyze",
            "-q",
            "--threads",
            "1",
            "--json",
            "-",
            "--report",
            "/dev/null",
        ])
        .arg(&p1)
        .arg(&p2)
        .timeout(std::time::Duration::from_secs(30))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    writer.join().unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["totals"]["lines"], 2);
}

/// bzip2, xz, zstd and lz4 files were read as text: a few malformed lines and exit 0. They
/// are an input error naming the compressor, mapped or streamed.
#[test]
fn other_compressors_are_an_input_error_naming_them() {
    let tmp = tempfile::tempdir().unwrap();
    let files: [(&str, &[u8], &str); 4] = [
        ("access.1.bz2", b"BZh91AY&SY\x01\x02", "bzip2"),
        ("access.2.xz", b"\xfd7zXZ\x00\x00\x04", "xz"),
        ("access.3.zst", b"\x28\xb5\x2f\xfd\x24\x05", "zstd"),
        ("access.4.lz4", b"\x04\x22\x4d\x18\x64\x40", "lz4"),
    ];
    for (name, bytes, _) in files {
        std::fs::write(tmp.path().join(name), bytes).unwrap();
    }
    std::fs::write(tmp.path().join("access.5.log"), ONE_404).unwrap();
    // A copy of one: an error too, not its duplicate (it was, with --no-mmap only).
    std::fs::write(tmp.path().join("access.1.bz2.copy"), files[0].1).unwrap();
    // A link to itself, found in the folder: a loop, not "dangling".
    std::os::unix::fs::symlink("access.6.log", tmp.path().join("access.6.log")).unwrap();
    let mut outputs = Vec::new();
    for extra in [&[][..], &["--no-mmap"]] {
        let out = logwarden()
            .args(["analyze", "-q", "--json", "-", "--report", "/dev/null"])
            .args(extra)
            .arg(tmp.path())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{extra:?}");
        outputs.push(out.stdout.clone());
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["totals"]["lines"], 1, "{extra:?}: {}", v["inputs"]);
        for (i, (_, _, tool)) in files.iter().enumerate() {
            let i = i + (i > 0) as usize; // after the copy of the first
            assert_eq!(
                v["inputs"][i]["error"],
                format!("compressed with {tool}, which logwarden does not read (only gzip): decompress it first, e.g. `{tool} -dc FILE | logwarden analyze -`"),
                "{extra:?}"
            );
        }
        assert_eq!(
            v["inputs"][1]["path"].as_str().unwrap().rsplit('/').next(),
            Some("access.1.bz2.copy")
        );
        assert_eq!(
            v["inputs"][1]["error"], v["inputs"][0]["error"],
            "{extra:?}"
        );
        assert_eq!(v["inputs"][1]["duplicate_of"], Value::Null, "{extra:?}");
        assert!(v["inputs"][6]["error"]
            .as_str()
            .unwrap()
            .starts_with("symbolic link loop ("));
    }
    // Mapped or read as streams: the same report, byte for byte.
    assert_eq!(outputs[0], outputs[1]);
}

/// Two `.gz` files joined with zero padding between them: the second member is garbage, as
/// for `gzip -d`, but the input's warning says a member starts in it (it gave a byte count
/// only), with the mapped and the streamed reader alike.
#[test]
fn a_gzip_member_after_padding_is_named_in_the_warning() {
    let gz = |text: &str| gzip(text.as_bytes());
    let second = gz(&ONE_404.replace("10.0.0.1", "10.0.0.2"));
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("joined.gz");
    std::fs::write(&path, [gz(ONE_404), vec![0; 4], second.clone()].concat()).unwrap();
    for extra in [&[][..], &["--no-mmap"]] {
        let (code, v, _) = analyze_json(&[&[path_str(&path)], extra].concat());
        assert_eq!(code, 0);
        assert_eq!(v["inputs"][0]["lines"], 1);
        assert_eq!(
            v["inputs"][0]["warnings"],
            json!([format!(
                "{} bytes of trailing garbage after the last gzip member were ignored; a gzip member starts at byte 4 of them (files joined with padding between them?), and its lines are not read",
                4 + second.len()
            )])
        );
    }
}

/// An output name in a shared folder that another user made a link to a device (or a FIFO
/// of theirs): not written through (root wrote the report onto `/dev/sdX`, or hung on the
/// FIFO). Our own link to a device is followed, as a shell redirection is. Needs root (to
/// give the link to another user); skipped otherwise.
#[test]
fn another_users_link_to_a_device_is_not_written_through() {
    let tmp = tempfile::tempdir().unwrap();
    let link = tmp.path().join("out.json");
    std::os::unix::fs::symlink("/dev/null", &link).unwrap();
    let run = || {
        logwarden()
            .args(["analyze", "-q", "--report", "/dev/null", "--json"])
            .arg(&link)
            .arg(testdata("sample/log"))
            .output()
            .unwrap()
    };
    // Ours: written through to /dev/null.
    assert_eq!(run().status.code(), Some(0));
    if std::os::unix::fs::lchown(&link, Some(65534), Some(65534)).is_err() {
        eprintln!("SKIPPED: not root, cannot give the link to another user");
        return;
    }
    let out = run();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "logwarden: error: --json: {} leads to a device or FIFO through a link or FIFO of another user (uid 65534): refused; name a file of your own\n",
            link.display()
        )
    );
}

/// A `./logwarden.toml` found by its name alone (the job's directory may be shared) is read
/// only if it is ours (or root's) and not writable by everyone: another user's file chose
/// the SMTP server and the password file. Its parse errors are escaped (they quote it).
#[test]
fn a_default_config_of_another_user_or_writable_by_all_is_not_read() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("logwarden.toml");
    let run = || {
        logwarden()
            .current_dir(tmp.path())
            .args([
                "analyze",
                "-q",
                "--json",
                "/dev/null",
                "--report",
                "/dev/null",
            ])
            .arg(testdata("sample/log"))
            .output()
            .unwrap()
    };
    std::fs::write(&config, "x\u{1b}]0;PWN\u{7} = 1\n").unwrap();
    let out = run();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("logwarden: error: invalid config file logwarden.toml: "),
        "{err}"
    );
    assert!(!err.contains('\u{1b}') && !err.contains('\u{7}'), "{err:?}");
    std::fs::write(&config, "[analyze]\nthreshold = 1\n").unwrap();
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o666)).unwrap();
    let out = run();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "logwarden: error: cannot read config file logwarden.toml: writable by every user: not read (chmod o-w it, or name it with --config)\n"
    );
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert_eq!(run().status.code(), Some(0));
    if std::os::unix::fs::chown(&config, Some(65534), None).is_ok() {
        let out = run();
        assert_eq!(out.status.code(), Some(2));
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            "logwarden: error: cannot read config file logwarden.toml: owned by another user (uid 65534): not read; name it with --config to use it\n"
        );
    }
}

/// A usage error quotes the refused argument: escaped (a bidi override reached the terminal
/// raw); the exit status is the parser's, 2.
#[test]
fn a_refused_argument_is_quoted_escaped() {
    let out = logwarden()
        .args(["analyze", "--format", "\u{202e}x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("error: invalid value '\\xe2\\x80\\xaex' for '--format <FORMAT>'\n"),
        "{err}"
    );
    assert!(!err.contains('\u{202e}'));
}

#[test]
fn an_input_of_which_no_line_parsed_says_so_and_an_ipv6_vhost_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    // A proxy's `client, proxy` field: every line malformed, the figures all zero.
    let proxy = dir.path().join("proxy.log");
    let line = |client: &str| {
        format!("{client} - - [19/Jun/2023:10:00:00 +0000] \"POST /login HTTP/1.1\" 401 1\n")
    };
    std::fs::write(
        &proxy,
        [
            line("203.0.113.9, 10.0.0.1").repeat(6),
            "\n".into(),
            "x\n".into(),
        ]
        .concat(),
    )
    .unwrap();
    // One line parsed is enough to read the file as a log: no warning.
    let mixed = dir.path().join("mixed.log");
    std::fs::write(
        &mixed,
        [line("203.0.113.9, 10.0.0.1"), line("10.0.0.1")].concat(),
    )
    .unwrap();
    // Apache's `%v` of an IPv6 literal Host is the bare address: `::1:80` parses as a client
    // too, and the real client was taken for the ident field.
    let vhost = dir.path().join("vhost.log");
    std::fs::write(&vhost, line("::1:80 203.0.113.7").repeat(5)).unwrap();
    // A copy of `mixed` with a malformed line after it: its parsed lines were counted there.
    let copy = dir.path().join("copy.log");
    std::fs::write(
        &copy,
        [std::fs::read(&mixed).unwrap(), b"x\n".to_vec()].concat(),
    )
    .unwrap();
    // A copy of that copy (daily copies of a log never rotated): its lines parsed in `mixed`.
    let copy2 = dir.path().join("copy2.log");
    std::fs::write(
        &copy2,
        [std::fs::read(&copy).unwrap(), b"y\n".to_vec()].concat(),
    )
    .unwrap();
    let (code, got, stderr) = analyze_json(&[
        path_str(&proxy),
        path_str(&mixed),
        path_str(&vhost),
        path_str(&copy),
        path_str(&copy2),
    ]);
    assert_eq!(code, 0, "{stderr}");
    let inputs = got["inputs"].as_array().unwrap();
    assert_eq!(
        inputs[0]["warnings"],
        json!(["no line parsed: all 7 lines are malformed (bad_client: 6, not_access_line: 1); is it an access log in the common, combined or vhost_combined layout?"])
    );
    assert_eq!(inputs[1]["warnings"], json!([]));
    assert_eq!(inputs[2]["format"], "vhost_combined");
    assert_eq!(inputs[2]["warnings"], json!([]));
    assert_eq!(inputs[3]["duplicate_lines"], 2);
    assert_eq!(inputs[3]["malformed"], 1);
    assert_eq!(inputs[3]["warnings"], json!([]));
    assert_eq!(inputs[4]["duplicate_of"], path_str(&copy));
    assert_eq!(inputs[4]["malformed"], 1);
    assert_eq!(inputs[4]["warnings"], json!([]));
    assert_eq!(got["days"][0]["suspicious_ips"][0]["ip"], "203.0.113.7");
    assert_eq!(got["days"][0]["suspicious_ips"][0]["failed"], 5);
}

/// A copy saved with a byte order mark (an editor's) beside the same text without one, and
/// a longer marked copy: each line counts once, in whichever order they are named, mapped
/// or streamed, plain or gzipped (it counted twice: the mark made the bytes differ).
#[test]
fn a_copy_with_a_byte_order_mark_counts_once() {
    let tmp = tempfile::tempdir().unwrap();
    let lines: String = (0..6)
        .map(|i| {
            format!("10.0.0.{i} - - [19/Jun/2023:10:00:0{i} +0000] \"GET /x HTTP/1.1\" 404 5\n")
        })
        .collect();
    let plain = tmp.path().join("access_a.log");
    let marked = tmp.path().join("access_b.log");
    let longer = tmp.path().join("access_c.log");
    std::fs::write(&plain, &lines).unwrap();
    std::fs::write(&marked, [&b"\xef\xbb\xbf"[..], lines.as_bytes()].concat()).unwrap();
    let more = "10.0.0.9 - - [19/Jun/2023:11:00:00 +0000] \"GET /y HTTP/1.1\" 401 5\n";
    std::fs::write(&longer, format!("\u{feff}{lines}{more}")).unwrap();
    // Gzipped, either one: decoded and compared by its text.
    let marked_gz = tmp.path().join("access_b.log.gz");
    let plain_gz = tmp.path().join("access_a.log.gz");
    std::fs::write(&marked_gz, gzip(&std::fs::read(&marked).unwrap())).unwrap();
    std::fs::write(&plain_gz, gzip(lines.as_bytes())).unwrap();
    for (names, copies) in [
        (
            [&plain, &marked, &longer],
            [None, Some(&plain), Some(&plain)],
        ),
        (
            [&marked, &plain, &longer],
            [None, Some(&marked), Some(&marked)],
        ),
        (
            [&plain, &marked_gz, &longer],
            [None, Some(&plain), Some(&plain)],
        ),
        (
            [&plain_gz, &marked_gz, &longer],
            [None, Some(&plain_gz), Some(&plain_gz)],
        ),
    ] {
        for extra in [&[][..], &["--no-mmap"][..]] {
            let out = logwarden()
                .args(["analyze", "-q", "--json", "-"])
                .args(extra)
                .args(names)
                .output()
                .unwrap();
            assert_eq!(out.status.code(), Some(0), "{out:?}");
            let v: Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(
                (
                    &v["totals"]["lines"],
                    &v["totals"]["failed"],
                    &v["totals"]["duplicate_lines"]
                ),
                (&json!(7), &json!(7), &json!(12)),
                "{names:?} {extra:?}"
            );
            for (i, copy) in copies.iter().enumerate() {
                let expected = copy.map_or(Value::Null, |p| json!(p.display().to_string()));
                assert_eq!(
                    v["inputs"][i]["duplicate_of"], expected,
                    "{names:?} {extra:?}"
                );
            }
        }
    }
}
