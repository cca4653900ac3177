//! The HTML report in a real browser (headless Chromium, Debian's `chromium`, installed by
//! `.ci/run`): hostile request targets and file names stay inert text (`--dump-dom` has no
//! script, img or other active element), nothing refers outside the page, the numbers in the
//! tables and charts equal the JSON report of the same run, and `--screenshot` makes a PNG.
//! Without Chromium the tests fail when `CI` is set and are skipped with a message otherwise.

mod common;
use common::*;
use serde_json::Value;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn chromium(test: &str) -> Option<PathBuf> {
    let found = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists());
    if found.is_none() {
        if std::env::var_os("CI").is_some() {
            panic!("{test}: chromium is not installed (.ci/run installs Debian's `chromium`)");
        }
        eprintln!(
            "SKIPPED {test}: chromium not installed (apt-get install chromium; .ci/run does)"
        );
    }
    found
}

/// Run headless Chromium on `page` with `extra` arguments; returns stdout. Killed after 120 s.
fn run_chromium(bin: &Path, page: &Path, extra: &[String]) -> String {
    let profile = tempfile::tempdir().unwrap();
    let mut child = Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromium starts");
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut s).map(|_| s)
    });
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if start.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish in 120 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    reader.join().unwrap().unwrap_or_default()
}

fn decode(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&nbsp;", "\u{a0}")
        .replace("&amp;", "&")
}

/// The decoded text inside the first `<tag ... class="CLASS" ...>` … `</tag>` of `s`.
fn cell(s: &str, class: &str) -> Option<String> {
    let at = s.find(&format!("class=\"{class}\""))?;
    let open_end = at + s[at..].find('>')? + 1;
    let tag_start = s[..at].rfind('<')? + 1;
    let tag: String = s[tag_start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .collect();
    let close = s[open_end..].find(&format!("</{tag}>"))?;
    Some(strip_tags(&s[open_end..open_end + close]))
}

fn strip_tags(s: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in s.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    decode(&out)
}

/// The value of attribute `name` in the first tag of `s` that has it.
fn attr(s: &str, name: &str) -> Option<String> {
    let at = s.find(&format!("{name}=\""))? + name.len() + 2;
    let end = s[at..].find('"')?;
    Some(decode(&s[at..at + end]))
}

/// Suspicious-IP tables of the page: period label → rows as JSON like the report's.
fn ip_tables(dom: &str) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for part in dom.split("<table class=\"ips\"").skip(1) {
        let table = &part[..part.find("</table>").unwrap()];
        let period = attr(table, "data-period").unwrap();
        let body = &table[table.find("<tbody>").unwrap()..];
        let rows: Vec<Value> = body
            .split("<tr>")
            .skip(1)
            .map(|row| {
                let by_status: serde_json::Map<String, Value> = cell(row, "by-status")
                    .unwrap()
                    .split(", ")
                    .map(|kv| {
                        let (k, v) = kv.split_once(": ").unwrap();
                        (k.to_string(), Value::from(v.parse::<u64>().unwrap()))
                    })
                    .collect();
                let first = &row[row.find("class=\"first\"").unwrap()..];
                let last = &row[row.find("class=\"last\"").unwrap()..];
                let paths: Vec<Value> = row
                    .split("<li>")
                    .skip(1)
                    .map(|li| {
                        serde_json::json!({
                            "path": cell(li, "path").unwrap(),
                            "count": cell(li, "count").unwrap().parse::<u64>().unwrap(),
                        })
                    })
                    .collect();
                let other = cell(row, "muted other").map_or(0, |t| {
                    t.trim_start_matches('+')
                        .split(' ')
                        .next()
                        .unwrap()
                        .parse::<u64>()
                        .unwrap()
                });
                serde_json::json!({
                    "ip": cell(row, "ip").unwrap(),
                    "failed": cell(row, "num failed").unwrap().parse::<u64>().unwrap(),
                    "by_status": by_status,
                    "first_seen": attr(first, "datetime").unwrap(),
                    "last_seen": attr(last, "datetime").unwrap(),
                    "top_paths": paths,
                    "other_paths": other,
                })
            })
            .collect();
        out.push((period, Value::Array(rows)));
    }
    out
}

fn without_exact(ips: &Value) -> Value {
    let mut ips = ips.clone();
    for ip in ips.as_array_mut().unwrap() {
        ip.as_object_mut().unwrap().remove("paths_exact");
    }
    ips
}

/// Every number of the page that the JSON also has must equal it.
fn check_numbers_against_json(dom: &str, json: &Value) {
    let day = |date: &str| {
        json["days"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["date"] == date)
    };
    // Per-day tables (all days of each week; days without lines are zero).
    let mut seen_days = 0;
    for row in dom.split("<tr data-date=\"").skip(1) {
        let date = &row[..10];
        let num = |class: &str| cell(row, class).unwrap().parse::<u64>().unwrap();
        let got = [
            num("num lines"),
            num("num failed"),
            num("num failing"),
            num("num s400"),
            num("num suspicious"),
        ];
        let want = day(date).map_or([0; 5], |d| {
            [
                d["lines"].as_u64().unwrap(),
                d["failed"].as_u64().unwrap(),
                d["failing_ips"].as_u64().unwrap(),
                d["status_400"].as_u64().unwrap(),
                d["suspicious_ips"].as_array().unwrap().len() as u64,
            ]
        });
        assert_eq!(got, want, "day row {date}");
        seen_days += day(date).is_some() as usize;
    }
    assert_eq!(seen_days, json["days"].as_array().unwrap().len());
    // Suspicious IPs of every week and every day with any.
    let tables = ip_tables(dom);
    let mut expected = Vec::new();
    for w in json["weeks"].as_array().unwrap() {
        if !w["suspicious_ips"].as_array().unwrap().is_empty() {
            expected.push((
                w["week"].as_str().unwrap().to_string(),
                without_exact(&w["suspicious_ips"]),
            ));
        }
        for d in json["days"].as_array().unwrap() {
            let date = d["date"].as_str().unwrap();
            if date >= w["start"].as_str().unwrap()
                && date <= w["end"].as_str().unwrap()
                && !d["suspicious_ips"].as_array().unwrap().is_empty()
            {
                expected.push((date.to_string(), without_exact(&d["suspicious_ips"])));
            }
        }
    }
    assert!(!expected.is_empty(), "the fixture has suspicious IPs");
    assert_eq!(tables, expected);
    // Chart bars: per week, failed, status-400 and suspicious-IP counts of its 7 days.
    for (w, section) in json["weeks"]
        .as_array()
        .unwrap()
        .iter()
        .zip(dom.split("<section class=\"period\"").skip(1))
    {
        let dates: Vec<String> = section
            .split("<tr data-date=\"")
            .skip(1)
            .map(|r| r[..10].to_string())
            .collect();
        assert_eq!(dates.len(), 7, "{}", w["week"]);
        for (chart, field) in [
            ("chart failed", "failed"),
            ("chart status400", "status_400"),
            ("chart ips", "suspicious_ips"),
        ] {
            let svg = &section[section.find(&format!("class=\"{chart}\"")).unwrap()..];
            let svg = &svg[..svg.find("</figure>").unwrap()];
            let bars: Vec<u64> = svg
                .split("class=\"v\"")
                .skip(1)
                .map(|t| strip_tags(&t[t.find('>').unwrap() + 1..t.find("</text>").unwrap()]))
                .map(|t| t.parse().unwrap())
                .collect();
            let want: Vec<u64> = dates
                .iter()
                .map(|d| {
                    day(d).map_or(0, |d| match &d[field] {
                        Value::Array(a) => a.len() as u64,
                        v => v.as_u64().unwrap(),
                    })
                })
                .collect();
            assert_eq!(bars, want, "{chart} in {}", w["week"]);
        }
        let thresholds: Vec<String> = section
            .split("<line class=\"threshold\"")
            .skip(1)
            .map(|t| attr(t, "data-value").unwrap())
            .collect();
        assert_eq!(
            thresholds,
            [
                json["settings"]["threshold"].to_string(),
                json["settings"]["bad_request_threshold"].to_string()
            ]
        );
    }
}

fn analyze_html(dir: &Path, input: &Path) -> (Value, String, PathBuf) {
    let html = dir.join("report.html");
    let json = dir.join("report.json");
    let out = logwarden()
        .arg("analyze")
        .arg(input)
        .arg("--html")
        .arg(&html)
        .arg("--json")
        .arg(&json)
        .args(["--report", "/dev/null", "-q"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: Value = serde_json::from_slice(&fs::read(&json).unwrap()).unwrap();
    (json, fs::read_to_string(&html).unwrap(), html)
}

#[test]
fn hostile_strings_are_inert_text_and_numbers_match_json() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("log");
    fs::create_dir(&logs).unwrap();
    fs::copy(
        testdata("hostile-html/access.log"),
        logs.join("access_<img src=x onerror=alert(7)>.log"),
    )
    .unwrap();
    let (json, source, page) = analyze_html(dir.path(), &logs);

    // The page itself: strict CSP, nothing active, nothing outside.
    assert!(source.contains(
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src &#39;none&#39;; style-src &#39;unsafe-inline&#39;; img-src data:; base-uri &#39;none&#39;; form-action &#39;none&#39;\">"
    ));
    let lower = source.to_ascii_lowercase();
    for bad in [
        "<script", "<img", "<iframe", "<object", "<embed", "<link", "<a ", "href=", "src=\"",
        "url(", "@import",
    ] {
        let hits: Vec<&str> = lower
            .match_indices(bad)
            .map(|(i, _)| &source[i.saturating_sub(40)..(i + 60).min(source.len())])
            .filter(|ctx| !ctx.contains("&lt;") && !ctx.contains("&gt;"))
            .collect();
        assert!(hits.is_empty(), "{bad} in page source: {hits:?}");
    }
    assert_eq!(
        lower.matches("http").count(),
        lower.matches("http://www.w3.org/2000/svg").count()
            + lower.matches("http-equiv").count()
            + lower.matches("http/").count(),
        "the only URLs are the SVG namespace"
    );

    let Some(bin) = chromium("hostile_strings_are_inert_text_and_numbers_match_json") else {
        return;
    };
    let dom = run_chromium(&bin, &page, &["--dump-dom".to_string()]);
    assert!(dom.contains("</html>"), "no DOM dumped: {dom}");
    let dom_lower = dom.to_ascii_lowercase();
    for element in ["<script", "<img", "<iframe", "<object", "<embed", "<a "] {
        assert!(!dom_lower.contains(element), "{element} element in the DOM");
    }
    for text in [
        "/&lt;script&gt;alert(1)&lt;/script&gt;",
        "/&lt;img/src=x/onerror=alert(1)&gt;",
        "/&lt;/svg&gt;&lt;script&gt;alert(3)&lt;/script&gt;",
        "/\\\\\"&gt;&lt;script&gt;alert(5)&lt;/script&gt;",
        "/&lt;/style&gt;&lt;/title&gt;&lt;!--&amp;amp;",
        "&lt;svg/onload=alert(6)&gt;",
        "/]]&gt;&lt;script&gt;alert(9)&lt;/script&gt;",
        "/\\\\xe2\\\\x80\\\\xae&lt;b&gt;rtl",
        "access_&lt;img src=x onerror=alert(7)&gt;.log",
    ] {
        assert!(dom.contains(text), "{text} not shown as text");
    }
    // Exactly the SVG elements the page draws: 3 charts and 2 legends per week.
    let weeks = json["weeks"].as_array().unwrap().len();
    assert_eq!(dom_lower.matches("<svg").count(), 5 * weeks);
    check_numbers_against_json(&dom, &json);
    // The hand-checked numbers of the fixture (testdata/hostile-html/README.md).
    assert_eq!(json["totals"]["malformed"], 1);
    assert_eq!(json["days"][0]["suspicious_ips"][0]["failed"], 6);
    assert_eq!(
        json["days"][0]["suspicious_ips"][0]["top_paths"][0],
        serde_json::json!({"path": "/<script>alert(1)</script>", "count": 2})
    );
    assert_eq!(json["days"][1]["status_400"], 5);
    assert_eq!(json["days"][1]["unusual_400"], true);
}

#[test]
fn sample_report_numbers_match_json_and_screenshot_is_a_png() {
    let dir = tempfile::tempdir().unwrap();
    let (json, _, page) = analyze_html(dir.path(), &testdata("sample/log"));
    let Some(bin) = chromium("sample_report_numbers_match_json_and_screenshot_is_a_png") else {
        return;
    };
    let dom = run_chromium(&bin, &page, &["--dump-dom".to_string()]);
    check_numbers_against_json(&dom, &json);
    let png = dir.path().join("shot.png");
    run_chromium(
        &bin,
        &page,
        &[
            format!("--screenshot={}", png.display()),
            "--window-size=1200,1600".to_string(),
        ],
    );
    let bytes = fs::read(&png).expect("screenshot written");
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    let width = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
    assert_eq!((width, height), (1200, 1600));
    assert!(
        bytes.len() > 30_000,
        "a blank page compresses to a few KB: {}",
        bytes.len()
    );
}
