//! `logwarden report`: weekly figures and deltas, `--email --dry-run`, SMTP down (exit 1, the
//! report kept, no history record), and a real SMTP server on loopback (Python aiosmtpd,
//! installed by `.ci/run`; the test says so and passes if python3 or aiosmtpd is missing).

mod common;
use common::*;
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

Top suspicious IPs:
  IP: 172.16.14.50 - Failed login attempts: 7 (previous: 0; by status 401: 6, 404: 1)
  IP: 10.0.0.7 - Failed login attempts: 5 (previous: 0; by status 400: 5)

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

#[test]
fn weekly_text_json_and_history() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path());
    let out = logwarden()
        .current_dir(dir.path())
        .args([
            "report", "--week", "2023-W25", "--json", "w.json", "--quiet",
        ])
        .output()
        .unwrap();
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
    assert_eq!(j["top_ips"][0]["by_status"]["401"], 6);
    assert_eq!(j["days"].as_array().unwrap().len(), 7);
    let h = fs::read_to_string(dir.path().join("log/monitoring.log")).unwrap();
    let recs = logwarden::sink::history::records(&h);
    assert_eq!(recs.len(), 3);
    assert!(recs[2].contains(" report 2023-W25\n    2023-06-19 to 2023-06-25: 13 lines, 12 failed requests, 5 status-400 lines; 2 day(s) with suspicious IPs, 1 with unusual 400s\n"));
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
    let out = logwarden()
        .current_dir(dir.path())
        .args([
            "report",
            "--week",
            "2023-W25",
            "--email",
            "--dry-run",
            "--eml",
            "m.eml",
            "-q",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let eml = fs::read_to_string(dir.path().join("m.eml")).unwrap();
    assert!(eml.contains("Subject: Weekly access-log report 2023-W25\r\n"));
    assert!(eml.contains("To: manager@example.org\r\n"));
    assert!(eml.contains("filename=\"logwarden-2023-W25.json\""));
    assert!(dir.path().join("log/report-2023-W25.txt").exists());

    config(dir.path(), 1, "Report {week}\r\nBcc: evil@example.org");
    let out = logwarden()
        .current_dir(dir.path())
        .args(["report", "--week", "2023-W25", "--email", "--dry-run", "-q"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("line break or control character"));
}

#[test]
fn smtp_down_is_exit_1_report_kept_no_history_record() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path());
    config(dir.path(), free_port(), "R {week}");
    let out = logwarden()
        .current_dir(dir.path())
        .args(["report", "--week", "2023-W25", "--email", "-q"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot send mail via SMTP server 127.0.0.1:"),
        "{err}"
    );
    assert!(
        err.contains("the report is kept in log/report-2023-W25.txt"),
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
}

#[test]
fn mailed_through_real_smtp_server() {
    let ok = std::process::Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("SKIPPED mailed_through_real_smtp_server: python3 with aiosmtpd not available (.ci/run installs it)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path());
    let port = free_port();
    config(dir.path(), port, "Weekly access-log report {week}");
    let maildir = dir.path().join("maildir");
    let mut server = std::process::Command::new("python3")
        .args([
            "-m",
            "aiosmtpd",
            "-n",
            "-l",
            &format!("127.0.0.1:{port}"),
            "-c",
            "aiosmtpd.handlers.Mailbox",
        ])
        .arg(&maildir)
        .spawn()
        .unwrap();
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = logwarden()
        .current_dir(dir.path())
        .args(["report", "--week", "2023-W25", "--email", "-q"])
        .output()
        .unwrap();
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let new = maildir.join("new");
    let files: Vec<_> = fs::read_dir(&new)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1);
    let raw = fs::read_to_string(&files[0]).unwrap();
    let py = "import email,sys,json\nm=email.message_from_string(open(sys.argv[1]).read())\n\
              parts=[p for p in m.walk() if not p.is_multipart()]\n\
              print(json.dumps({'subject':m['Subject'],'from':m['From'],'to':m['To'],\
              'parts':[[p.get_filename(),p.get_payload(decode=True).decode()] for p in parts]}))";
    let parsed = std::process::Command::new("python3")
        .args(["-c", py])
        .arg(&files[0])
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
    assert_eq!(v["parts"][1][0], "logwarden-2023-W25.json");
    let json = fs::read_to_string(dir.path().join("log/report-2023-W25.json")).unwrap();
    assert_eq!(v["parts"][1][1].as_str().unwrap(), json);
    assert_eq!(v["parts"][2][0], "monitoring-2023-W25.log");
    assert_eq!(
        v["parts"][2][1].as_str().unwrap(),
        "=== 2023-06-20T00:05:00+00:00 collect --analyze\n    archive x: 1 lines collected\n\n"
    );
    let h = fs::read_to_string(dir.path().join("log/monitoring.log")).unwrap();
    let recs = logwarden::sink::history::records(&h);
    assert_eq!(recs.len(), 3);
    assert!(recs[2].contains("    mailed to manager@example.org\n"));
}
