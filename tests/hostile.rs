//! Hostile and broken input, end to end. Every test asserts exact numbers and the accounting
//! invariant: for each input and in total, lines = parsed + malformed (blank lines apart), and
//! a second run on the same input gives byte-identical JSON.

mod common;
use common::*;
use serde_json::{json, Value};
use std::io::Write;
use std::path::Path;

fn line(ip: &str, date: &str, request: &[u8], status: u16, ua: &[u8]) -> Vec<u8> {
    let mut l = format!("{ip} - - [{date}] \"").into_bytes();
    l.extend_from_slice(request);
    l.extend_from_slice(format!("\" {status} 10 \"-\" \"").as_bytes());
    l.extend_from_slice(ua);
    l.extend_from_slice(b"\"\n");
    l
}

const DAY: &str = "19/Jun/2023:10:00:00 +0000";

/// Analyze twice, the second time with every file mapped (small ones are read into memory
/// otherwise); check identical JSON and the accounting invariant; return (code, json, stderr).
fn analyze_checked(args: &[&str]) -> (i32, Value, String) {
    let (code, first, stderr) = analyze_json(args);
    let (code2, second, _) = analyze_json_with(args, &[("LOGWARDEN_READ_WHOLE_MAX", "0")]);
    assert_eq!(
        (code, &first),
        (code2, &second),
        "a second run, every file mapped, must give the same JSON"
    );
    let mut sum = (0, 0, 0);
    for input in first["inputs"].as_array().unwrap() {
        let (l, p, m) = (
            input["lines"].as_u64().unwrap(),
            input["parsed"].as_u64().unwrap(),
            input["malformed"].as_u64().unwrap(),
        );
        assert_eq!(l, p + m, "lines = parsed + malformed for {}", input["path"]);
        let by_reason: u64 = input["malformed_by_reason"]
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_u64().unwrap())
            .sum();
        assert_eq!(by_reason, m);
        sum = (sum.0 + l, sum.1 + p, sum.2 + m);
    }
    let t = &first["totals"];
    assert_eq!(
        (
            t["lines"].as_u64().unwrap(),
            t["parsed"].as_u64().unwrap(),
            t["malformed"].as_u64().unwrap()
        ),
        sum
    );
    (code, first, stderr)
}

/// No raw control byte (other than our own newlines), no DEL or C1 byte, in an output.
fn assert_clean(what: &str, bytes: &[u8]) {
    for (i, &b) in bytes.iter().enumerate() {
        assert!(
            b == b'\n' || (0x20..0x7f).contains(&b),
            "{what}: raw byte {b:#04x} at {i}: {:?}",
            String::from_utf8_lossy(&bytes[i.saturating_sub(40)..(i + 40).min(bytes.len())])
        );
    }
}

#[test]
fn control_bytes_and_invalid_utf8_never_reach_an_output_raw() {
    let dir = tempfile::tempdir().unwrap();
    let nasty: &[u8] = b"\x1b[2J\x1b]0;pwned\x07\x9b31m\r\x08\x7f\xff\xfe\xc3";
    let mut log = Vec::new();
    for _ in 0..5 {
        let mut req = b"GET /".to_vec();
        req.extend_from_slice(nasty);
        req.extend_from_slice(b"\\x0a\\x0dFAKE 1.2.3.4 - - HTTP/1.1");
        log.extend(line("10.9.9.9", DAY, &req, 404, nasty));
    }
    log.extend_from_slice(b"\x1b[31mnot a log line\xff\n");
    // A hostile file name too.
    let name: &std::ffi::OsStr =
        std::os::unix::ffi::OsStrExt::from_bytes(b"access_\x1b[2J\xff.log");
    std::fs::write(dir.path().join(name), &log).unwrap();
    let report = dir.path().join("report.txt");
    let out = logwarden()
        .arg("analyze")
        .arg(dir.path())
        .args(["--json", "-", "--report"])
        .arg(&report)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_clean("json", &out.stdout);
    assert_clean("stderr", &out.stderr);
    assert_clean("report file", &std::fs::read(&report).unwrap());
    let v: Value = serde_json::from_slice(&out.stdout).expect("strict JSON");
    assert!(v["inputs"][0]["path"]
        .as_str()
        .unwrap()
        .ends_with("access_\\x1b[2J\\xff.log"));
    assert_eq!(v["totals"]["parsed"], 5);
    assert_eq!(v["totals"]["malformed"], 1);
    let flagged = &v["days"][0]["suspicious_ips"][0];
    assert_eq!(
        (&flagged["ip"], &flagged["failed"], &flagged["by_status"]),
        (&json!("10.9.9.9"), &json!(5), &json!({"404": 5}))
    );
    // The text report on a terminal-bound stdout.
    let out = logwarden().arg("analyze").arg(dir.path()).output().unwrap();
    assert_clean("text report", &out.stdout);
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        text.matches("IP: ").count(),
        2,
        "one flagged IP per day and per week, no forged lines:\n{text}"
    );
}

/// The input of report `v` whose path ends with `name`.
fn input_named(v: &Value, name: &str) -> Value {
    v["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["path"].as_str().unwrap().ends_with(name))
        .unwrap_or_else(|| panic!("no input {name}: {}", v["inputs"]))
        .clone()
}

/// A UTF-8 byte order mark.
const BOM: &[u8] = b"\xef\xbb\xbf";

fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn numbered_lines(n: usize) -> Vec<u8> {
    (0..n)
        .flat_map(|i| {
            line(
                &format!("10.0.{}.{}", i / 200, i % 200),
                DAY,
                b"GET / HTTP/1.1",
                if i % 10 == 0 { 401 } else { 200 },
                b"ua",
            )
        })
        .collect()
}

/// A log saved with a UTF-8 byte order mark: its first line is a line like the others, mapped,
/// streamed or gzipped (line 1 was malformed, `bad_client`, and its 401 lost).
#[test]
fn a_byte_order_mark_does_not_cost_the_first_line() {
    let dir = tempfile::tempdir().unwrap();
    let marked = [BOM, &numbered_lines(10)].concat();
    let (plain, packed) = (dir.path().join("bom.log"), dir.path().join("bom.log.gz"));
    std::fs::write(&plain, &marked).unwrap();
    std::fs::write(&packed, gz(&marked)).unwrap();
    for args in [
        &[path_str(&plain)][..],
        &["--no-mmap", path_str(&plain)],
        &[path_str(&packed)],
    ] {
        let (code, v, _) = analyze_checked(args);
        assert_eq!(code, 0);
        let t = &v["totals"];
        assert_eq!(
            (&t["lines"], &t["parsed"], &t["malformed"], &t["failed"]),
            (&json!(10), &json!(10), &json!(0), &json!(1)),
            "{args:?}"
        );
        assert_eq!(v["inputs"][0]["format"], "combined", "{args:?}");
    }
}

/// A copy whose mark comes before NUL padding reads its first line as a malformed one (the
/// scanner drops padding only before a mark): it is not a copy of the same text without the
/// mark, which was skipped as one, and its valid line lost (found by a review's random copies).
#[test]
fn a_mark_before_padding_does_not_make_a_copy_that_hides_a_line() {
    let dir = tempfile::tempdir().unwrap();
    let line = b"1.2.3.4 - - [10/Oct/2023:13:55:36 +0200] \"GET / HTTP/1.1\" 404 1\n";
    let padded = [&b"\0\0"[..], line].concat();
    write_all(
        dir.path(),
        &[
            ("access_1.log", &[BOM, &padded].concat()),
            ("access_2.log", &[&padded[..], line].concat()),
        ],
    );
    let (code, v, _) = analyze_checked(&["--threshold", "1", path_str(dir.path())]);
    assert_eq!(code, 0);
    let t = &v["totals"];
    assert_eq!(
        (&t["lines"], &t["parsed"], &t["malformed"], &t["failed"]),
        (&json!(3), &json!(2), &json!(1), &json!(2))
    );
    assert_eq!(v["inputs"][1]["duplicate_of"], Value::Null);
    let ip = &v["days"][0]["suspicious_ips"][0];
    assert_eq!((&ip["ip"], &ip["failed"]), (&json!("1.2.3.4"), &json!(2)));
}

#[test]
fn broken_gzip_is_an_error_naming_the_file_with_the_lines_before_it_kept() {
    let body = numbered_lines(3000);
    let good = gz(&body);
    let n = good.len();
    let mut flipped = good.clone();
    flipped[n - 8] ^= 0x55; // CRC32
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("access_header.gz", good[..5].to_vec(), "header"),
        ("access_mid.gz", good[..n / 2].to_vec(), "mid-stream"),
        ("access_trailer.gz", good[..n - 4].to_vec(), "trailer"),
        ("access_crc.gz", flipped, "crc"),
    ];
    for (name, bytes, what) in cases {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, &bytes).unwrap();
        let (code, v, stderr) = analyze_checked(&[path_str(&path)]);
        assert_eq!(code, 1, "{what}");
        assert!(
            stderr.contains(name),
            "{what}: stderr names the file: {stderr}"
        );
        let input = &v["inputs"][0];
        let error = input["error"].as_str().unwrap();
        assert!(
            error.contains("the lines before it are counted"),
            "{what}: {error}"
        );
        let lines = input["lines"].as_u64().unwrap();
        match what {
            "header" => assert_eq!(lines, 0),
            "mid-stream" => assert!(lines > 100 && lines < 3000, "{what}: {lines}"),
            // All data decoded; only the trailer is missing or wrong.
            _ => assert_eq!(
                (lines, input["parsed"].as_u64().unwrap()),
                (3000, 3000),
                "{what}"
            ),
        }
    }
}

/// Corrupt deflate data after whole blocks (a sync flush, then a reserved block type): every
/// line before it is counted, by both decoders and with any number of threads (flate2's own
/// reader dropped what the read meeting the fault had inflated: a whole 4 MiB block).
#[test]
fn the_lines_before_corrupt_deflate_data_are_all_counted() {
    let body = numbered_lines(3000);
    let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(&body).unwrap();
    e.flush().unwrap();
    let mut deflate = e.get_ref().clone();
    deflate.push(0x07); // BFINAL = 1, BTYPE = 11: reserved
    let member = [
        &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff][..],
        &deflate,
        &[0u8; 8],
    ]
    .concat();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("access_corrupt.gz");
    std::fs::write(&path, &member).unwrap();
    // Every block size too: given a small output buffer, ISA-L inflated into its own and
    // lost what was there at the fault (a third of the lines with `--chunk-size 1`).
    for backend in ["zlib-rs", "isa-l"] {
        for (threads, chunk) in [
            ("1", None),
            ("2", None),
            ("1", Some("1")),
            ("2", Some("100")),
            ("1", Some("16384")),
        ] {
            let mut args = vec![
                "analyze",
                "--json",
                "-",
                "-q",
                "--threads",
                threads,
                path_str(&path),
            ];
            if let Some(chunk) = chunk {
                args.extend(["--chunk-size", chunk]);
            }
            let out = logwarden()
                .env("LOGWARDEN_INFLATE", backend)
                .args(&args)
                .output()
                .unwrap();
            assert_eq!(out.status.code(), Some(1), "{backend} {threads}");
            let v: Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(
                v["inputs"][0]["lines"], 3000,
                "{backend} {threads} {chunk:?}"
            );
            assert_eq!(
                v["inputs"][0]["bytes"],
                body.len(),
                "{backend} {threads} {chunk:?}"
            );
            assert!(v["inputs"][0]["error"]
                .as_str()
                .unwrap()
                .contains("corrupt"));
        }
    }
    // Cut inside the deflate data: both say so (zlib-rs said "missing trailer").
    let cut = dir.path().join("access_cut.gz");
    let whole = gz(&body);
    std::fs::write(&cut, &whole[..whole.len() / 2]).unwrap();
    for backend in ["zlib-rs", "isa-l"] {
        let out = logwarden()
            .env("LOGWARDEN_INFLATE", backend)
            .args(["analyze", "--json", "-", "-q", path_str(&cut)])
            .output()
            .unwrap();
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        let error = v["inputs"][0]["error"].as_str().unwrap();
        assert!(
            error.starts_with("truncated gzip stream: deflate body after "),
            "{backend}: {error}"
        );
    }
}

#[test]
fn gzip_trailing_garbage_members_and_magic_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let a = numbered_lines(100);
    let b = numbered_lines(50);
    let mut multi = [gz(&a), gz(&b), gz(b"")].concat();
    multi.extend_from_slice(b"\0\0\0garbage");
    std::fs::write(dir.path().join("access_multi.log.gz"), &multi).unwrap();
    // gzip data without a .gz name, plain text with one, and an empty .gz.
    std::fs::write(dir.path().join("access_noname"), gz(&a)).unwrap();
    std::fs::write(dir.path().join("access_plain.gz"), &b).unwrap();
    std::fs::write(dir.path().join("access_empty.gz"), b"").unwrap();
    // Each input whole (they start alike: see the end for what duplicate detection makes of them).
    let (code, v, _) = analyze_checked(&[path_str(dir.path()), "--keep-duplicates"]);
    assert_eq!(code, 0);
    let by_name = |n: &str| input_named(&v, n);
    let multi = by_name("access_multi.log.gz");
    assert_eq!(
        (
            multi["lines"].as_u64(),
            multi["gzip_members"].as_u64(),
            multi["compressed"].as_bool()
        ),
        (Some(150), Some(3), Some(true))
    );
    assert_eq!(
        multi["warnings"],
        json!(["10 bytes of trailing garbage after the last gzip member were ignored"])
    );
    assert_eq!(
        (
            by_name("access_noname")["compressed"].as_bool(),
            by_name("access_noname")["lines"].as_u64()
        ),
        (Some(true), Some(100))
    );
    assert_eq!(
        (
            by_name("access_plain.gz")["compressed"].as_bool(),
            by_name("access_plain.gz")["lines"].as_u64()
        ),
        (Some(false), Some(50))
    );
    assert_eq!(by_name("access_empty.gz")["lines"], 0);
    assert_eq!(v["totals"]["lines"], 300);
    // Compared by their text: `b` starts `a`, which starts the multi-member file. Each line
    // once, the decoded file's members and warning as they were.
    let (code, v, _) = analyze_checked(&[path_str(dir.path())]);
    assert_eq!(code, 0);
    assert_eq!(v["totals"]["lines"], 150);
    let multi = input_named(&v, "access_multi.log.gz");
    assert_eq!(
        [
            &multi["lines"],
            &multi["duplicate_lines"],
            &multi["gzip_members"],
            &multi["compressed"]
        ],
        [&json!(50), &json!(100), &json!(3), &json!(true)]
    );
    assert!(multi["duplicate_of"]
        .as_str()
        .unwrap()
        .ends_with("access_noname"));
    assert_eq!(
        multi["warnings"],
        json!(["10 bytes of trailing garbage after the last gzip member were ignored"])
    );
}

#[test]
fn long_lines_and_holes_of_a_mapped_file_are_read_window_by_window_alike() {
    // Lines longer than a chunk's reach (`--max-line-bytes` + 1 MiB past a chunk's end) are
    // read window by window with their pages dropped; each case counts as the stream does.
    let l = |n: usize, o: usize| numbered_lines(n + o).split_off(numbered_lines(o).len());
    let big = 3 << 20;
    let cases: Vec<(&str, Vec<u8>, [u64; 4])> = vec![
        // name, data, (lines, parsed, blank, oversize)
        (
            "hole_first",
            [vec![0; big], l(100, 0)].concat(),
            [100, 100, 0, 0],
        ),
        (
            "hole_mid",
            [l(50, 0), vec![0; big], l(50, 50)].concat(),
            [100, 100, 0, 0],
        ),
        (
            "hole_crlf",
            [l(10, 0), vec![0; big], b"\r\n".to_vec(), l(10, 10)].concat(),
            [20, 20, 1, 0],
        ),
        (
            "hole_eof",
            [l(10, 0), vec![0; big]].concat(),
            [10, 10, 1, 0],
        ),
        (
            "hole_eof_cr",
            [l(10, 0), vec![0; big], b"\r".to_vec()].concat(),
            [10, 10, 1, 0],
        ),
        (
            "spaces",
            [l(10, 0), vec![b' '; big], b"\n".to_vec(), l(10, 10)].concat(),
            [20, 20, 1, 0],
        ),
        (
            "tabs_cr",
            [l(10, 0), vec![b'\t'; big], b"\r\n".to_vec(), l(10, 10)].concat(),
            [20, 20, 1, 0],
        ),
        (
            "a_line",
            [l(10, 0), vec![b'A'; big], b"\n".to_vec(), l(10, 10)].concat(),
            [21, 20, 0, 1],
        ),
        (
            "a_line_eof",
            [l(10, 0), vec![b'A'; big]].concat(),
            [11, 10, 0, 1],
        ),
        (
            "hole_then_a",
            [
                l(10, 0),
                vec![0; big],
                vec![b'A'; big],
                b"\n".to_vec(),
                l(3, 10),
            ]
            .concat(),
            [14, 13, 0, 1],
        ),
        (
            "hole_then_spaces_x",
            [
                l(10, 0),
                vec![0; 9],
                vec![b' '; big],
                b"x\n".to_vec(),
                l(3, 10),
            ]
            .concat(),
            [14, 13, 0, 1],
        ),
        // A byte order mark after the padding is dropped as the scanner drops it: where it
        // runs into the next 4 MiB window too, and only one of them.
        (
            "hole_mark",
            [l(50, 0), vec![0; big], BOM.to_vec(), l(50, 50)].concat(),
            [100, 100, 0, 0],
        ),
        (
            "mark_spaces",
            [
                l(10, 0),
                BOM.to_vec(),
                vec![b' '; big],
                b"\n".to_vec(),
                l(10, 10),
            ]
            .concat(),
            [20, 20, 1, 0],
        ),
        (
            "mark_across_windows_tabs_cr",
            [
                l(10, 0),
                vec![0; (4 << 20) - 1],
                BOM.to_vec(),
                vec![b'\t'; big],
                b"\r\n".to_vec(),
                l(10, 10),
            ]
            .concat(),
            [20, 20, 1, 0],
        ),
        (
            "marks_spaces",
            [
                l(10, 0),
                BOM.repeat(2),
                vec![b' '; big],
                b"\n".to_vec(),
                l(10, 10),
            ]
            .concat(),
            [21, 20, 0, 1],
        ),
        (
            "two",
            [
                l(5, 0),
                vec![b'B'; big],
                b"\n".to_vec(),
                vec![0; big],
                l(5, 5),
                vec![b'C'; big],
                b"\n".to_vec(),
            ]
            .concat(),
            [12, 10, 0, 2],
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (name, data, [lines, parsed, blank, oversize]) in &cases {
        let path = dir.path().join(format!("access_{name}.log"));
        std::fs::write(&path, data).unwrap();
        let mut seen = Vec::new();
        for extra in [&["--chunk-size", "65536"][..], &[], &["--no-mmap"]] {
            let mut args = vec![path_str(&path), "--max-line-bytes", "1000"];
            args.extend_from_slice(extra);
            let (code, v, _) = analyze_checked(&args);
            assert_eq!(code, 0, "{name} {extra:?}");
            let i = &v["inputs"][0];
            let got = ["lines", "parsed", "blank"].map(|k| i[k].as_u64().unwrap());
            assert_eq!(
                (got, i["malformed_by_reason"]["oversize"].as_u64().unwrap()),
                ([*lines, *parsed, *blank], *oversize),
                "{name} {extra:?}"
            );
            assert_eq!(i["bytes"].as_u64(), Some(data.len() as u64), "{name}");
            seen.push((i["malformed_lines"].clone(), v["days"].clone()));
        }
        assert!(seen.windows(2).all(|w| w[0] == w[1]), "{name}: {seen:?}");
    }
    // Memory: a 256 MiB hole (sparse) before the lines, and a 64 MiB line after them, with
    // the default settings. Each used to be mapped whole while scanned (peak RSS 280 MiB).
    let path = dir.path().join("access_holey.log");
    let file = std::fs::File::create(&path).unwrap();
    file.set_len(256 << 20).unwrap();
    drop(file);
    let mut tail = l(100, 0);
    tail.extend(vec![b'x'; 64 << 20]);
    tail.push(b'\n');
    std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(&tail)
        .unwrap();
    let out = logwarden()
        .env("LOGWARDEN_TIMINGS", "1")
        .args(["analyze", "-q", "--json", "-", path_str(&path)])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let i = &v["inputs"][0];
    assert_eq!(
        (&i["parsed"], &i["malformed_by_reason"]["oversize"]),
        (&json!(100), &json!(1))
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    let peak_mib: u64 = stderr
        .rsplit("peak RSS ")
        .next()
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no peak RSS in {stderr}"));
    assert!(peak_mib < 96, "peak RSS {peak_mib} MiB");
}

/// One-byte chunks across a 1.2 MB line, a NUL hole and short lines count as the default does
/// (each slot inside the long line used to drop a whole 2 MiB block of page tables: 15 s for
/// a 2 MB line, released; now 0.4 s).
#[test]
fn one_byte_chunks_over_a_long_line_count_as_the_default_does() {
    let long = [
        numbered_lines(30),
        line("10.9.9.9", DAY, &[b'a'; 1_200_000], 404, b"ua"),
        vec![0; 5000],
        numbered_lines(20),
    ]
    .concat();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("access_long.log");
    std::fs::write(&path, &long).unwrap();
    let p = path_str(&path);
    // Under the default cap the line is read within its chunk; under 1000 bytes it is longer
    // than a chunk's reach and read window by window.
    for (cap, parsed, oversize, failed) in [("4194304", 51, 0, 6), ("1000", 50, 1, 5)] {
        let (_, base, _) = analyze_checked(&[p, "--max-line-bytes", cap]);
        let i = &base["inputs"][0];
        assert_eq!(
            (
                &i["lines"],
                &i["parsed"],
                &i["malformed_by_reason"]["oversize"]
            ),
            (&json!(51), &json!(parsed), &json!(oversize)),
            "cap {cap}"
        );
        assert_eq!(base["days"][0]["failed"], json!(failed), "cap {cap}");
        for threads in ["1", "2"] {
            let args = [
                p,
                "--max-line-bytes",
                cap,
                "--chunk-size",
                "1",
                "--threads",
                threads,
            ];
            let (code, v, _) = analyze_checked(&args);
            assert_eq!((code, &v), (0, &base), "cap {cap}, {threads} thread(s)");
        }
    }
}

#[test]
fn nul_hole_long_lines_and_bombs_stay_bounded_and_exact() {
    // 1 MiB of NULs glued to the first valid line (copytruncate's hole), through a mapped file
    // and through stdin; then a 6 MiB line (over the 4 MiB cap) between valid lines.
    let mut data = vec![0u8; 1 << 20];
    data.extend(numbered_lines(20));
    data.extend(vec![b'x'; 6 << 20]);
    data.push(b'\n');
    data.extend(numbered_lines(10));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("access.log");
    std::fs::write(&path, &data).unwrap();
    let (code, mapped, _) = analyze_checked(&[path_str(&path)]);
    assert_eq!(code, 0);
    let (_, streamed, _) = analyze_checked(&[path_str(&path), "--no-mmap"]);
    for v in [&mapped, &streamed] {
        let i = &v["inputs"][0];
        assert_eq!(
            (
                i["lines"].as_u64(),
                i["parsed"].as_u64(),
                i["malformed"].as_u64()
            ),
            (Some(31), Some(30), Some(1))
        );
        assert_eq!(i["malformed_by_reason"]["oversize"], 1);
        assert_eq!(
            i["malformed_lines"],
            json!([{"line": 21, "reason": "oversize"}])
        );
        assert_eq!(i["bytes"].as_u64(), Some(data.len() as u64));
    }
    // A decompression bomb: 256 MiB of NULs in a ~256 KiB gzip, then valid lines.
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..256 {
        e.write_all(&zeros).unwrap();
    }
    e.write_all(&numbered_lines(7)).unwrap();
    let bomb = e.finish().unwrap();
    assert!(bomb.len() < 1 << 20);
    let out = logwarden()
        .args(["analyze", "-", "--json", "-", "-q"])
        .write_stdin(bomb)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (
            v["totals"]["lines"].as_u64(),
            v["totals"]["parsed"].as_u64()
        ),
        (Some(7), Some(7))
    );
}

#[test]
fn a_line_at_the_length_cap_is_parsed_wherever_a_block_ends() {
    // Content exactly --max-line-bytes long, after NUL padding and before a CRLF, with the
    // stream's block ending between the `\r` and the `\n`: mapped or streamed, it is the
    // same valid line (the stream once took the kept NUL and the `\r` for content).
    let first = b"10.0.0.1 - - [19/Jun/2023:10:00:00 +0000] \"GET / HTTP/1.1\" 200 1\n";
    let content =
        b"10.0.0.2 - - [19/Jun/2023:10:00:01 +0000] \"GET /login HTTP/1.1\" 401 1 \"-\" \"ua\"";
    // So too after a byte order mark, which the scanner does not count either.
    for mark in [&b""[..], BOM] {
        let mut data = first.to_vec();
        data.extend_from_slice(&[0; 5]);
        data.extend_from_slice(mark);
        data.extend_from_slice(content);
        data.extend_from_slice(b"\r\n");
        data.extend_from_slice(first);
        let block = first.len() + 5 + mark.len() + content.len() + 1;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("access.log");
        std::fs::write(&path, &data).unwrap();
        let chunk = block.to_string();
        let streamed: &[&str] = &["--no-mmap", "--threads", "1", "--chunk-size", &chunk];
        let run = |max: usize, extra: &[&str]| {
            let max = max.to_string();
            let mut args = vec![path_str(&path), "--max-line-bytes", &max];
            args.extend_from_slice(extra);
            let (code, v, _) = analyze_checked(&args);
            assert_eq!(code, 0);
            v
        };
        for extra in [&[][..], streamed] {
            let v = run(content.len(), extra);
            let i = &v["inputs"][0];
            assert_eq!(
                (
                    i["lines"].as_u64(),
                    i["parsed"].as_u64(),
                    i["malformed"].as_u64()
                ),
                (Some(3), Some(3), Some(0)),
                "{extra:?}"
            );
            assert_eq!(v["totals"]["failed"], 1);
            // One byte over the cap is oversize both ways.
            let v = run(content.len() - 1, extra);
            assert_eq!(
                v["inputs"][0]["malformed_by_reason"]["oversize"], 1,
                "{extra:?}"
            );
        }
        // The largest cap asked for is no cap, not an overflow that drops carried lines.
        let v = run(
            usize::MAX,
            &["--no-mmap", "--threads", "1", "--chunk-size", "64"],
        );
        assert_eq!(
            (
                v["totals"]["parsed"].as_u64(),
                v["totals"]["malformed"].as_u64()
            ),
            (Some(3), Some(0))
        );
    }
}

#[test]
fn long_lines_of_spaces_are_blank_whether_mapped_or_streamed() {
    // Past --max-line-bytes, a stream stops holding a line; one of spaces and tabs (after NUL
    // padding, before a `\r`) is still blank, as mapped, not oversize. One with anything else
    // in it, even a `\r` inside, is oversize both ways.
    let valid = b"10.0.0.1 - - [19/Jun/2023:10:00:00 +0000] \"GET / HTTP/1.1\" 404 1\n";
    let spaces = |n: usize| " \t".repeat(n / 2).into_bytes();
    let long_lines: Vec<(Vec<u8>, bool)> = vec![
        (spaces(300), true),
        ([&[0u8; 9][..], &spaces(300)].concat(), true),
        ([spaces(300), b"\r".to_vec()].concat(), true),
        ([spaces(150), b"\r".to_vec(), spaces(150)].concat(), false),
        ([spaces(299), b"x".to_vec()].concat(), false),
        ([spaces(300), b"\r\r".to_vec()].concat(), false),
        // After the padding, one byte order mark, which the scanner drops.
        ([BOM, &spaces(300)].concat(), true),
        ([&[0u8; 9][..], BOM, &spaces(300), b"\r"].concat(), true),
        ([BOM, BOM, &spaces(300)].concat(), false),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (k, (long, blank)) in long_lines.iter().enumerate() {
        for last in [false, true] {
            let mut data = valid.to_vec();
            data.extend_from_slice(long);
            if !last {
                data.push(b'\n');
                data.extend_from_slice(valid);
            }
            let path = dir.path().join(format!("access_{k}_{last}.log"));
            std::fs::write(&path, &data).unwrap();
            let mut seen = Vec::new();
            // Also a stream of blocks as large as asked for (a huge value panicked).
            let huge = u64::MAX.to_string();
            let streams: [&[&str]; 2] = [
                &["--no-mmap", "--threads", "1", "--chunk-size", "64"],
                &["--no-mmap", "--chunk-size", &huge],
            ];
            // (Once: a block that large is slow to zero in a debug build.)
            let runs = if k == 0 && !last { 3 } else { 2 };
            for extra in [&[][..], streams[0], streams[1]].into_iter().take(runs) {
                let mut args = vec![path_str(&path), "--max-line-bytes", "128"];
                args.extend_from_slice(extra);
                let (code, v, _) = analyze_checked(&args);
                assert_eq!(code, 0);
                let i = &v["inputs"][0];
                seen.push((
                    i["lines"].as_u64().unwrap(),
                    i["blank"].as_u64().unwrap(),
                    i["malformed_by_reason"]["oversize"].as_u64().unwrap(),
                ));
            }
            let valid_lines = if last { 1 } else { 2 };
            let want = match blank {
                true => (valid_lines, 1, 0),
                false => (valid_lines + 1, 0, 1),
            };
            assert_eq!(seen, vec![want; runs], "line {k}, last {last}");
        }
    }
}

#[test]
fn the_format_is_found_past_padding_blank_lines_and_a_long_first_line() {
    // Detection once read the first 64 KiB only: behind a copytruncate hole, 70,000 blank
    // lines or a 70 KB first line, a vhost_combined file was read as combined, every line
    // `bad_client`.
    let vhost =
        b"www.example.org:443 1.2.3.4 - - [19/Jun/2023:10:00:00 +0000] \"GET / HTTP/1.1\" 404 5 \"-\" \"ua\"\n";
    let starts: [(&str, Vec<u8>); 3] = [
        ("hole", vec![0; 100_000]),
        ("blank", b"\n".repeat(70_000)),
        ("long", [vec![b'x'; 70_000], b"\n".to_vec()].concat()),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (name, start) in &starts {
        let data = [start.clone(), vhost.repeat(6)].concat();
        let plain = dir.path().join(format!("access_{name}.log"));
        std::fs::write(&plain, &data).unwrap();
        let gzipped = dir.path().join(format!("access_{name}.log.gz"));
        std::fs::write(&gzipped, gz(&data)).unwrap();
        let runs: [(&Path, &[&str]); 4] = [
            (&plain, &[]),
            (&plain, &["--no-mmap", "--threads", "1"]),
            (&plain, &["--no-mmap", "--chunk-size", "4096"]),
            (&gzipped, &[]),
        ];
        for (path, extra) in runs {
            let mut args = vec![path_str(path)];
            args.extend_from_slice(extra);
            let (code, v, _) = analyze_checked(&args);
            assert_eq!(code, 0);
            let i = &v["inputs"][0];
            let what = format!("{name} {extra:?} {}", path.display());
            assert_eq!(i["format"], "vhost_combined", "{what}");
            assert_eq!(i["parsed"], 6, "{what}");
            assert_eq!(v["days"][0]["suspicious_ips"][0]["ip"], "1.2.3.4", "{what}");
        }
    }
}

/// A stream of small blocks once took its format from the first block with a line (one
/// line with `--chunk-size 1`); the first ten lines decide, however the file is read.
#[test]
fn the_format_is_the_same_for_every_block_size() {
    let combined = b"1.2.3.4 - - [19/Jun/2023:10:00:00 +0000] \"GET / HTTP/1.1\" 404 5\n";
    let vhost = [&b"www.example.org:443 "[..], combined].concat();
    // Blank lines of a MiB of spaces each (a debug build scans millions of short lines slowly).
    let blank_mib = |n: usize| {
        [vec![b' '; (1 << 20) - 1], b"\n".to_vec()]
            .concat()
            .repeat(n)
    };
    // (content, format, parsed): the first ten lines that vote decide, within 16 MiB after
    // the padding; a stream once held every block after its first vote (all of a file of
    // one line and then blank lines), and looked past 16 MiB where a mapped file does not.
    let cases = [
        (
            [
                b"\n".repeat(3),
                combined.repeat(3),
                vhost.repeat(7),
                combined.to_vec(),
            ]
            .concat(),
            "vhost_combined",
            7,
        ),
        (
            [vhost.clone(), blank_mib(17), vhost.repeat(12)].concat(),
            "vhost_combined",
            13,
        ),
        ([blank_mib(17), vhost.repeat(12)].concat(), "combined", 0),
        // The first vote-able line crosses 16 MiB: out of the window, in every mode.
        (
            [blank_mib(16)[40..].to_vec(), vhost.repeat(20)].concat(),
            "combined",
            0,
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (k, (data, format, parsed)) in cases.iter().enumerate() {
        let path = dir.path().join(format!("access_mixed_{k}.log"));
        std::fs::write(&path, data).unwrap();
        let chunks: &[&str] = if k == 0 {
            &["1", "40", "100", "300", "4096"]
        } else {
            &["4194304", "67108864"]
        };
        for chunk in chunks {
            let modes: &[&[&str]] = match k {
                0 => &[&["--no-mmap"], &["--no-mmap", "--threads", "1"], &[]],
                _ => &[&["--no-mmap"], &["--no-mmap", "--threads", "1"], &[]],
            };
            for extra in modes {
                let mut args = vec![path_str(&path), "--chunk-size", chunk];
                args.extend_from_slice(extra);
                let (code, v, _) = analyze_checked(&args);
                assert_eq!(code, 0);
                let i = &v["inputs"][0];
                let what = format!("{k} {chunk} {extra:?}");
                assert_eq!(i["blank"], [3, 17, 17, 16][k], "{what}");
                assert_eq!(i["format"], *format, "{what}");
                assert_eq!(i["parsed"], *parsed, "{what}");
            }
        }
    }
    // Lines too long to hold (skipped by a stream before its blocks) count in the window too.
    let long = [vec![b'x'; 300 << 10], b"\n".to_vec()].concat().repeat(60);
    // A file of such lines only: `combined` streamed too (it was null: no block handed out).
    let cases = [
        ("long", [long.clone(), vhost.repeat(12)].concat()),
        ("only", long),
    ];
    for (name, content) in cases {
        let path = dir.path().join(format!("access_{name}.log"));
        std::fs::write(&path, content).unwrap();
        for extra in [&["--no-mmap"][..], &["--no-mmap", "--threads", "1"], &[]] {
            let mut args = vec![path_str(&path), "--max-line-bytes", "100000"];
            args.extend_from_slice(extra);
            let (code, v, _) = analyze_checked(&args);
            assert_eq!(code, 0);
            let what = format!("{name} {extra:?}");
            assert_eq!(v["inputs"][0]["format"], "combined", "{what}");
            assert_eq!(
                v["inputs"][0]["malformed_by_reason"]["oversize"], 60,
                "{what}"
            );
        }
    }
}

#[test]
fn bad_entries_are_listed_and_the_rest_analyzed() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("access.log"), numbered_lines(10)).unwrap();
    std::fs::create_dir(dir.path().join("access_dir")).unwrap();
    std::os::unix::fs::symlink("/nonexistent/target", dir.path().join("access.log.9")).unwrap();
    let fifo = dir.path().join("access.fifo");
    mkfifo(&fifo);
    let (code, v, stderr) = analyze_checked(&[path_str(dir.path())]);
    assert_eq!(code, 1);
    assert_eq!(v["totals"]["lines"], 10);
    assert_eq!(v["totals"]["files_with_errors"], 3);
    for (name, why) in [
        ("access.fifo", "not a regular file"),
        ("access.log.9", "dangling symbolic link"),
        ("access_dir", "is a directory"),
    ] {
        let i = v["inputs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["path"].as_str().unwrap().ends_with(name))
            .unwrap();
        assert!(
            i["error"].as_str().unwrap().contains(why),
            "{name}: {}",
            i["error"]
        );
        assert!(stderr.contains(name));
    }
}

#[test]
fn a_fifo_named_on_the_command_line_is_read_once_to_its_end() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("access.fifo");
    mkfifo(&fifo);
    // The writer blocks until a reader opens the pipe, then writes every line and closes it.
    // A reader that opened and closed the pipe before reading (to look at the file) cut the
    // writer off, and the real read then waited for a writer for ever.
    let data = numbered_lines(5000);
    let writer = {
        let (fifo, data) = (fifo.clone(), data.clone());
        std::thread::spawn(move || {
            let mut w = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
            w.write_all(&data).is_ok()
        })
    };
    let out = logwarden()
        .args(["analyze", "--json", "-", "-q"])
        .arg(&fifo)
        .timeout(std::time::Duration::from_secs(60))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(writer.join().unwrap(), "the writer was cut off");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (
            v["totals"]["lines"].as_u64(),
            v["totals"]["failed"].as_u64()
        ),
        (Some(5000), Some(500))
    );
}

#[test]
fn gzip_on_stdin_is_found_when_its_first_byte_comes_alone() {
    let data = numbered_lines(300);
    let packed = gz(&data);
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("logwarden"))
        .args(["analyze", "-", "--json", "-", "-q"])
        .env("HOME", "/nonexistent")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // Half the magic number, a pause (the reader's first read returns one byte), the rest.
    stdin.write_all(&packed[..1]).unwrap();
    stdin.flush().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    stdin.write_all(&packed[1..]).unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["inputs"][0]["compressed"], true);
    assert_eq!(
        (
            v["totals"]["lines"].as_u64(),
            v["totals"]["parsed"].as_u64()
        ),
        (Some(300), Some(300))
    );
}

#[test]
fn ten_thousand_small_files_with_few_descriptors() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..10_000 {
        let l = line(
            &format!("10.1.{}.{}", i / 250, i % 250),
            DAY,
            b"GET /x HTTP/1.1",
            404,
            b"ua",
        );
        std::fs::write(dir.path().join(format!("access_{i:05}.log")), l).unwrap();
    }
    let bin = assert_cmd::cargo::cargo_bin("logwarden");
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "ulimit -n 64 && exec '{}' analyze -q --json - '{}'",
            bin.display(),
            dir.path().display()
        ))
        .env("HOME", "/nonexistent")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (
            v["totals"]["files"].as_u64(),
            v["totals"]["lines"].as_u64(),
            v["totals"]["failed"].as_u64()
        ),
        (Some(10_000), Some(10_000), Some(10_000))
    );
    assert_eq!(v["days"][0]["failing_ips"], 10_000);
}

/// More failing clients in a day than one part of the summary's parallel filter holds (4,096):
/// every client is listed once, with its own count, in order (failed count descending, then
/// address text). One thread gives the day one run, two threads two runs to merge.
#[test]
fn a_day_of_nine_thousand_suspicious_clients_lists_each_once() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let clients = 9000;
    let ip = |i: usize| format!("10.2.{}.{}", i / 250, i % 250);
    let mut data = Vec::new();
    // Client i fails 1 + i % 3 times; round after round, so each client's lines are spread.
    for round in 0..3 {
        for i in (0..clients).filter(|i| round <= i % 3) {
            data.extend(line(&ip(i), DAY, b"GET /x HTTP/1.1", 404, b"ua"));
        }
    }
    std::fs::write(&log, data).unwrap();
    let mut expected: Vec<(u64, String)> =
        (0..clients).map(|i| (1 + (i % 3) as u64, ip(i))).collect();
    expected.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    for threads in ["1", "2"] {
        let out = logwarden()
            .args(["analyze", "-q", "--json", "-", "--threshold", "1"])
            .args(["--threads", threads, "--chunk-size", "65536"])
            .arg(&log)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{threads} threads");
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        let listed: Vec<(u64, String)> = v["days"][0]["suspicious_ips"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                let ip = c["ip"].as_str().unwrap().to_string();
                (c["failed"].as_u64().unwrap(), ip)
            })
            .collect();
        assert_eq!(listed.len(), clients, "{threads} threads");
        assert!(listed == expected, "{threads} threads: the list differs");
        assert_eq!(v["days"][0]["failing_ips"], clients, "{threads} threads");
        assert_eq!(v["days"][0]["failed"], 18_000, "{threads} threads");
    }
}

#[test]
fn offsets_dst_and_bad_fields_land_in_the_right_buckets() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Vec::new();
    for (date, status) in [
        ("19/Jun/2023:00:10:00 +0545", 404), // 2023-06-18 18:25 UTC
        ("19/Jun/2023:23:50:00 -1200", 404), // 2023-06-20 11:50 UTC
        ("20/Jun/2023:01:00:00 +1400", 404), // 2023-06-19 11:00 UTC
        ("26/Mar/2023:01:59:59 +0100", 401), // the last second of CET...
        ("26/Mar/2023:03:00:00 +0200", 401), // ...and the first of CEST: one day, both offsets
    ] {
        log.extend(line("10.5.5.5", date, b"GET / HTTP/1.1", status, b"ua"));
    }
    log.extend(line(
        "10.5.5.5",
        "19/Jux/2023:10:00:00 +0000",
        b"GET /",
        404,
        b"ua",
    ));
    for status in ["0", "999", "abc"] {
        log.extend_from_slice(format!("10.5.5.5 - - [{DAY}] \"GET /\" {status} 10\n").as_bytes());
    }
    let path = dir.path().join("access.log");
    std::fs::write(&path, &log).unwrap();
    let days = |v: &Value| {
        v["days"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                (
                    d["date"].as_str().unwrap().to_string(),
                    d["lines"].as_u64().unwrap(),
                )
            })
            .collect::<Vec<_>>()
    };
    let (_, local, _) = analyze_checked(&[path_str(&path)]);
    assert_eq!(
        days(&local),
        [
            ("2023-03-26".into(), 2),
            ("2023-06-19".into(), 2),
            ("2023-06-20".into(), 1)
        ]
    );
    let (_, utc, _) = analyze_checked(&[path_str(&path), "--utc"]);
    assert_eq!(
        days(&utc),
        [
            ("2023-03-26".into(), 2),
            ("2023-06-18".into(), 1),
            ("2023-06-19".into(), 1),
            ("2023-06-20".into(), 1)
        ]
    );
    let reasons = &local["totals"]["malformed_by_reason"];
    assert_eq!(
        (reasons["bad_time"].as_u64(), reasons["bad_status"].as_u64()),
        (Some(1), Some(3))
    );
    assert_eq!(
        local["inputs"][0]["malformed_lines"],
        json!([{"line": 6, "reason": "bad_time"}, {"line": 7, "reason": "bad_status"}, {"line": 8, "reason": "bad_status"}, {"line": 9, "reason": "bad_status"}])
    );
}

fn write_all(dir: &Path, files: &[(&str, &[u8])]) {
    for (name, data) in files {
        std::fs::write(dir.join(name), data).unwrap();
    }
}

/// The seed's cron copied a live log that was never rotated: each copy holds the last. Day 1
/// has 1000 lines; day 2 adds 500 and a line copied mid-write, which day 3 completes and
/// follows with 250 more (1 in 10 failed, and the completed line).
fn growing_daily_copies() -> [Vec<u8>; 3] {
    let day1 = numbered_lines(1000);
    let mut day2 = day1.clone();
    day2.extend(numbered_lines(500));
    day2.extend_from_slice(b"10.7.7.7 - - [19/Jun/2023:23:59:59 +0000] \"GET /pa"); // copied mid-write
    let mut day3 = day2.clone();
    day3.extend_from_slice(b"rtial HTTP/1.1\" 404 1\n");
    day3.extend(numbered_lines(250));
    [day1, day2, day3]
}

/// 300 lines that start no daily copy (other clients).
fn other_archive() -> Vec<u8> {
    numbered_lines(300)
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .flat_map(|l| [&b"10.8."[..], &l[5..], b"\n"].concat())
        .collect()
}

#[test]
fn duplicate_archives_and_growing_daily_copies_count_each_line_once() {
    let dir = tempfile::tempdir().unwrap();
    let [day1, day2, day3] = growing_daily_copies();
    // And the same rotated archive twice under two names (other content than the copies).
    let archive = other_archive();
    write_all(
        dir.path(),
        &[
            ("access_2023-06-19.log", &day1),
            ("access_2023-06-20.log", &day2),
            ("access_2023-06-21.log", &day3),
            ("access.log.1", &archive),
            ("access.log.1.bak", &archive),
        ],
    );
    let (code, v, _) = analyze_checked(&[path_str(dir.path())]);
    assert_eq!(code, 0);
    assert_eq!(v["totals"]["lines"], 1000 + 500 + 1 + 250 + 300);
    assert_eq!(v["totals"]["duplicate_lines"], 300 + 1000 + 1500);
    let input = |n: &str| input_named(&v, n);
    let bak = input("access.log.1.bak");
    assert!(bak["duplicate_of"]
        .as_str()
        .unwrap()
        .ends_with("access.log.1"));
    assert_eq!(
        (bak["lines"].as_u64(), bak["duplicate_lines"].as_u64()),
        (Some(0), Some(300))
    );
    let d2 = input("access_2023-06-20.log");
    assert!(d2["duplicate_of"]
        .as_str()
        .unwrap()
        .ends_with("access_2023-06-19.log"));
    assert_eq!(
        (d2["lines"].as_u64(), d2["duplicate_lines"].as_u64()),
        (Some(500), Some(1000))
    );
    assert_eq!(
        d2["warnings"].as_array().unwrap().len(),
        1,
        "its partial last line is counted in the next copy"
    );
    let d3 = input("access_2023-06-21.log");
    assert_eq!(
        (d3["lines"].as_u64(), d3["duplicate_lines"].as_u64()),
        (Some(251), Some(1500))
    );
    // The once-partial line is whole in day 3 and counted once: 10.7.7.7 failed once.
    assert_eq!(v["totals"]["failed"].as_u64(), Some(100 + 50 + 1 + 25 + 30));
    // Opting out counts every copy.
    let (_, all, _) = analyze_checked(&[path_str(dir.path()), "--keep-duplicates"]);
    assert_eq!(all["totals"]["duplicate_lines"], 0);
    assert_eq!(all["totals"]["lines"], 1000 + 1501 + 1751 + 300 + 300);
    // Streaming the same files gives the same answer.
    let (_, streamed, _) = analyze_checked(&[path_str(dir.path()), "--no-mmap"]);
    assert_eq!(streamed["totals"], v["totals"]);
}

#[test]
fn duplicate_copies_report_alike_mapped_or_streamed() {
    let dir = tempfile::tempdir().unwrap();
    let lines = numbered_lines(200);
    // Two identical `.gz`: the copy's lines were the newline bytes of the compressed data,
    // and it was reported as not compressed.
    let z = gz(&lines);
    std::fs::write(dir.path().join("access_1.log.gz"), &z).unwrap();
    std::fs::write(dir.path().join("access_2.log.gz"), &z).unwrap();
    // The rest of a copy starting with `\x1f\x8b` was taken for gzip when streamed.
    let a: Vec<u8> = lines
        .split_inclusive(|&b| b == b'\n')
        .take(3)
        .flatten()
        .copied()
        .collect();
    let b = [&a[..], b"\x1f\x8bjunk\n", &lines[a.len()..]].concat();
    // A copy cut mid-line reported its stop offset as its size when streamed.
    let g = [&b[..a.len()], &lines[a.len()..a.len() + 30]].concat();
    write_all(
        dir.path(),
        &[
            ("access_a.log", &a),
            ("access_b.log", &b),
            ("access_g.log", &g),
        ],
    );
    let mut seen = Vec::new();
    for extra in [&[][..], &["--no-mmap"]] {
        let mut args = vec![path_str(dir.path())];
        args.extend_from_slice(extra);
        let (code, v, _) = analyze_checked(&args);
        assert_eq!(code, 0, "{extra:?}");
        let by_name = |name: &str| input_named(&v, name);
        let copy = by_name("access_2.log.gz");
        assert_eq!(
            (
                &copy["compressed"],
                &copy["gzip_members"],
                &copy["duplicate_lines"],
                // Text bytes, as for a plain copy (it was the compressed size).
                &copy["duplicate_bytes"]
            ),
            (&json!(true), &json!(1), &json!(200), &json!(lines.len())),
            "{extra:?}"
        );
        let rest = by_name("access_b.log");
        assert_eq!(
            (&rest["error"], &rest["compressed"]),
            (&Value::Null, &json!(false))
        );
        assert_eq!(by_name("access_g.log")["file_bytes"], g.len());
        seen.push((v["inputs"].clone(), v["totals"].clone(), v["days"].clone()));
    }
    assert_eq!(seen[0], seen[1]);
}

#[test]
fn a_copy_cut_in_its_first_line_is_counted_in_the_file_it_starts() {
    let dir = tempfile::tempdir().unwrap();
    let first = b"10.0.0.1 - - [19/Jun/2023:10:00:00 +0000] \"GET / HTTP/1.1\" 404 5";
    let whole = [
        &first[..],
        b"\n10.0.0.2 - - [19/Jun/2023:10:00:01 +0000] \"GET /\" 200 5\n",
    ]
    .concat();
    // The first line without its `\n`, and a copy cut 20 bytes in.
    write_all(
        dir.path(),
        &[
            ("access_1.log", first),
            ("access_2.log", &whole),
            ("access_3.log", &first[..20]),
        ],
    );
    for extra in [None, Some("--no-mmap")] {
        let mut args = vec![path_str(dir.path()), "--threshold", "2"];
        args.extend(extra);
        let (code, v, _) = analyze_checked(&args);
        assert_eq!(code, 0);
        assert_eq!(
            (
                &v["totals"]["lines"],
                &v["totals"]["malformed"],
                &v["totals"]["failed"]
            ),
            (&json!(2), &json!(0), &json!(1)),
            "{extra:?}"
        );
        assert_eq!(v["days"][0]["suspicious_ips"], json!([]), "{extra:?}");
        for i in [0, 2] {
            assert_eq!(v["inputs"][i]["lines"], 0, "{extra:?}");
            assert_eq!(
                v["inputs"][i]["warnings"],
                json!(["the last line is incomplete; it is counted in input #2, where it goes on"]),
                "{extra:?}"
            );
        }
    }
}

/// The seed's daily copies of a live log, the older ones gzipped afterwards (`gzip` after a
/// week, or logrotate's `compress` over the copies), and a plain file beside its own `.gz`
/// (`gzip -k`): a `.gz` takes part in duplicate detection by its decoded text, so each line
/// counts once (each copy's lines counted again before, with exit 0).
#[test]
fn gzipped_daily_copies_and_a_file_beside_its_own_gz_count_each_line_once() {
    let dir = tempfile::tempdir().unwrap();
    let [day1, day2, day3] = growing_daily_copies();
    let mut day4 = day3.clone();
    day4.extend(numbered_lines(100));
    let other = other_archive();
    write_all(
        dir.path(),
        &[
            ("access_2023-06-19.log.gz", &gz(&day1)),
            // Two members, as `cat a.gz b.gz` or pigz make.
            (
                "access_2023-06-20.log.gz",
                &[gz(&day2[..7000]), gz(&day2[7000..])].concat(),
            ),
            ("access_2023-06-21.log", &day3),
            ("access_2023-06-22.log.gz", &gz(&day4)),
            ("access.log.1", &other),
            ("access.log.1.gz", &gz(&other)),
        ],
    );
    let expected_lines = 1000 + 500 + 1 + 250 + 100 + 300;
    for extra in [None, Some("--no-mmap"), Some("-j1")] {
        let mut args = vec![path_str(dir.path())];
        args.extend(extra);
        let (code, v, _) = analyze_checked(&args);
        assert_eq!(code, 0, "{extra:?}");
        assert_eq!(v["totals"]["lines"], expected_lines, "{extra:?}");
        assert_eq!(
            v["totals"]["duplicate_lines"],
            1000 + 1500 + 1751 + 300,
            "{extra:?}"
        );
        // The once-partial line is whole in day 3 and counted once.
        assert_eq!(
            v["totals"]["failed"],
            100 + 50 + 1 + 25 + 10 + 30,
            "{extra:?}"
        );
        let inputs = v["inputs"].as_array().unwrap();
        let name = |p: &Value| {
            p.as_str()
                .map(|p| p.rsplit('/').next().unwrap().to_string())
        };
        // Per input: name, compressed, lines, duplicate lines, duplicate of, gzip members.
        let rows: Vec<Value> = inputs
            .iter()
            .map(|i| {
                json!([
                    name(&i["path"]),
                    i["compressed"],
                    i["lines"],
                    i["duplicate_lines"],
                    name(&i["duplicate_of"]),
                    i["gzip_members"]
                ])
            })
            .collect();
        assert_eq!(
            rows,
            [
                json!(["access.log.1", false, 300, 0, null, null]),
                json!(["access.log.1.gz", true, 0, 300, "access.log.1", 1]),
                json!(["access_2023-06-19.log.gz", true, 1000, 0, null, 1]),
                json!([
                    "access_2023-06-20.log.gz",
                    true,
                    500,
                    1000,
                    "access_2023-06-19.log.gz",
                    2
                ]),
                json!([
                    "access_2023-06-21.log",
                    false,
                    251,
                    1500,
                    "access_2023-06-20.log.gz",
                    null
                ]),
                json!([
                    "access_2023-06-22.log.gz",
                    true,
                    100,
                    1751,
                    "access_2023-06-21.log",
                    1
                ]),
            ],
            "{extra:?}"
        );
        assert_eq!(
            inputs[3]["warnings"],
            json!(["the last line is incomplete; it is counted in input #5, where it goes on"]),
            "{extra:?}"
        );
    }
    let (_, all, _) = analyze_checked(&[path_str(dir.path()), "--keep-duplicates"]);
    assert_eq!(all["totals"]["duplicate_lines"], 0);
    assert_eq!(
        all["totals"]["lines"],
        1000 + 1501 + 1751 + 1851 + 300 + 300
    );
}

/// A `gzip -k` copy cut short (a full disk) beside its plain file: its text up to the cut
/// is compared like a whole one's, so each line counts once; the plain file holds all of
/// it, so the cut is a warning, in either order of the two (exit 0). It was read as a stream
/// and compared with nothing: its lines counted twice, and the report said the figures
/// leave out what was not read.
#[test]
fn a_gz_copy_cut_short_counts_its_lines_once_and_says_where_it_breaks_off() {
    let dir = tempfile::tempdir().unwrap();
    let text = other_archive();
    let packed = gz(&text);
    write_all(
        dir.path(),
        &[
            ("access.log.1", &text),
            ("access.log.1.gz", &packed[..packed.len() * 2 / 3]),
        ],
    );
    let (plain, cut) = (
        dir.path().join("access.log.1"),
        dir.path().join("access.log.1.gz"),
    );
    for (args, at) in [
        (vec![path_str(dir.path())], 1),
        (vec![path_str(&cut), path_str(&plain)], 0),
        (vec![path_str(dir.path()), "--no-mmap"], 1),
        (vec![path_str(dir.path()), "-j1"], 1),
    ] {
        let (code, v, _) = analyze_checked(&args);
        assert_eq!(code, 0, "{args:?}");
        assert_eq!(v["totals"]["lines"], 300, "{args:?}");
        assert_eq!(v["totals"]["failed"], 30, "{args:?}");
        assert_eq!(v["totals"]["files_with_errors"], 0, "{args:?}");
        let warnings = v["inputs"][at]["warnings"].as_array().unwrap();
        let warning = warnings.last().unwrap().as_str().unwrap();
        let before_cut = lines_before_the_cut(&text, warning);
        assert!(before_cut > 100, "{before_cut}");
        assert_eq!(v["totals"]["duplicate_lines"], before_cut, "{args:?}");
    }
}

/// The whole lines of `text` that a copy of it cut short holds, by what its input says of
/// the cut (`truncated gzip stream: deflate body after N bytes of log data ...`): the line
/// it cuts is counted where it goes on, in `text`'s input.
fn lines_before_the_cut(text: &[u8], said: &str) -> usize {
    let rest = said
        .strip_prefix("truncated gzip stream: deflate body after ")
        .unwrap();
    let (bytes, end) = rest.split_once(" bytes of log data ").unwrap();
    assert!(
        end == "(the lines before it are counted)"
            || end
                == "(the lines before it are counted); another input holds all of its text, so the figures miss nothing",
        "{end}"
    );
    let bytes: usize = bytes.parse().unwrap();
    text[..bytes].iter().filter(|&&b| b == b'\n').count()
}

/// No room for the decoded text (here no `TMPDIR` folder at all): no `.gz` is compared by
/// its text, so two byte-identical ones still count once, by their compressed bytes (one
/// decoded and the other not, they counted twice), and each candidate says why.
#[test]
fn without_a_temporary_folder_gz_inputs_are_compared_by_their_bytes_and_say_so() {
    let dir = tempfile::tempdir().unwrap();
    let text = numbered_lines(200);
    let packed = gz(&text);
    write_all(
        dir.path(),
        &[
            ("access.log.1", &text),
            ("access.log.2.gz", &packed),
            ("access.log.3.gz", &packed),
        ],
    );
    let missing = dir.path().join("no-such-folder");
    let out = logwarden()
        .env("TMPDIR", &missing)
        .args(["analyze", "-q", "--json", "-", path_str(dir.path())])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["totals"]["lines"], 400);
    assert_eq!(v["totals"]["duplicate_lines"], 200);
    let input = |name: &str| input_named(&v, name);
    let of = |name: &str| input(name)["duplicate_of"].as_str().map(str::to_string);
    let (second, third) = (of("access.log.2.gz"), of("access.log.3.gz"));
    assert!(
        second.is_some_and(|p| p.ends_with("access.log.3.gz"))
            ^ third.is_some_and(|p| p.ends_with("access.log.2.gz")),
        "one `.gz` is the other's copy"
    );
    assert_eq!(input("access.log.1")["warnings"], json!([]));
    for name in ["access.log.2.gz", "access.log.3.gz"] {
        let input = input(name);
        let warnings = input["warnings"].as_array().unwrap();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        let w = warnings[0].as_str().unwrap();
        assert!(
            w.starts_with("not compared with the other inputs by its text, only by its compressed bytes (a copy in another form counts again): no temporary file for its text in "),
            "{w}"
        );
        assert!(w.contains("no-such-folder"), "{w}");
    }
}

/// What could make decoding a `.gz` for comparison cost more than it may: a gzip bomb (a
/// text over 256 times its size, and over 64 MiB), more temporary maps than the run may
/// have, a first line of only blanks. None is decoded, and the `.gz` that starts like
/// another input says why (the blank one is no candidate at all).
#[test]
fn gz_inputs_are_not_decoded_for_comparison_past_the_limits() {
    let dir = tempfile::tempdir().unwrap();
    let text = numbered_lines(100);
    // 70 members of the same 1 MiB of long lines: 70 MiB from 70 KiB.
    let long_line = [&[b'a'; 1023][..], b"\n"].concat();
    let bomb = gz(&long_line.repeat(1024)).repeat(70);
    let plain = [&long_line[..], &text].concat();
    write_all(
        dir.path(),
        &[("access.log.1", &plain), ("access.log.2.gz", &bomb)],
    );
    let (code, v, _) = analyze_checked(&[path_str(dir.path())]);
    assert_eq!(code, 0);
    let input = |name: &str| input_named(&v, name);
    assert_eq!(input("access.log.1")["warnings"], json!([]));
    let bomb_input = input("access.log.2.gz");
    assert_eq!(bomb_input["duplicate_of"], Value::Null);
    let w = bomb_input["warnings"][0].as_str().unwrap();
    assert!(
        w.starts_with("not compared with the other inputs by its text, only by its compressed bytes (a copy in another form counts again): ")
            && w.ends_with("access.log.2.gz decodes to over 67108864 bytes (a gzip bomb?)"),
        "{w}"
    );

    // No map left for the decoded text: the inputs took the budget.
    let small = dir.path().join("small");
    std::fs::create_dir(&small).unwrap();
    write_all(
        &small,
        &[("access.log.1", &text), ("access.log.2.gz", &gz(&text))],
    );
    let out = logwarden()
        .env("LOGWARDEN_MAP_BUDGET", "2")
        .args(["analyze", "-q", "--json", "-", path_str(&small)])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["totals"]["lines"], 200);
    let gz_input = input_named(&v, ".gz");
    assert_eq!(
        gz_input["warnings"],
        json!(["not compared with the other inputs by its text, only by its compressed bytes (a copy in another form counts again): 1 of them start like another input, more than can be mapped besides the inputs (0)"])
    );

    // A first line of only blanks: no sign of a copy, nothing decoded, nothing said.
    let blank = dir.path().join("blank");
    std::fs::create_dir(&blank).unwrap();
    let other: Vec<u8> = [&b"\n"[..], &numbered_lines(3)].concat();
    let unrelated: Vec<u8> = [&b"\n"[..], &other_archive()].concat();
    write_all(
        &blank,
        &[
            ("access.log.1", &other),
            ("access.log.2.gz", &gz(&unrelated)),
        ],
    );
    let out = logwarden()
        .env("TMPDIR", blank.join("no-such-folder"))
        .args(["analyze", "-q", "--json", "-", path_str(&blank)])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (&v["totals"]["lines"], &v["totals"]["blank"]),
        (&json!(3 + 300), &json!(2))
    );
    for input in v["inputs"].as_array().unwrap() {
        assert_eq!(input["warnings"], json!([]), "{input}");
    }
}

/// A `.gz` copy of an archive whose first line holds no text (a blank line, NUL padding
/// from a `copytruncate` hole, a byte order mark) is compared by the text after it: its
/// lines count once (twice before, with no warning). Another archive that starts with the
/// same blank line is no copy, and counts.
#[test]
fn a_gzipped_copy_of_an_archive_with_a_blank_first_line_counts_once() {
    for head in [&b"\n"[..], b"\0\0\0\0\n", b"\xef\xbb\xbf\r\n", b"  \t\n\n"] {
        let archive = [head, &numbered_lines(300)].concat();
        let other = [head, &other_archive()].concat();
        let dir = tempfile::tempdir().unwrap();
        write_all(
            dir.path(),
            &[
                ("access.log.1", &archive),
                ("access.log.1.gz", &gz(&archive)),
                ("access.log.2.gz", &gz(&other)),
            ],
        );
        let (code, v, _) = analyze_checked(&[path_str(dir.path())]);
        let heads = head.iter().filter(|&&b| b == b'\n').count();
        assert_eq!(code, 0, "{head:?}");
        assert_eq!(v["totals"]["parsed"], 600, "{head:?}");
        assert_eq!(v["totals"]["failed"], 60, "{head:?}");
        assert_eq!(v["totals"]["blank"], 2 * heads, "{head:?}");
        assert_eq!(v["totals"]["duplicate_lines"], 300 + heads, "{head:?}");
        let of = v["inputs"][1]["duplicate_of"].as_str().unwrap_or("");
        assert!(of.ends_with("/access.log.1"), "{head:?}: {of}");
        for input in v["inputs"].as_array().unwrap() {
            assert_eq!(input["warnings"], json!([]), "{head:?}");
        }
    }
}

/// A daily copy taken before the log's first line of text was whole (after blank lines, or
/// of blank lines only), beside a `.gz` copy of the whole log: the fragment is matched with
/// the decoded text, and its part of the line is counted once, where the line is whole (it
/// was counted again, as a malformed line, before).
#[test]
fn a_copy_cut_inside_its_first_line_of_text_is_matched_with_a_gzipped_copy() {
    let totals = |v: &Value| {
        let t = &v["totals"];
        json!([
            t["lines"],
            t["parsed"],
            t["malformed"],
            t["blank"],
            t["failed"]
        ])
    };
    for head in [&b""[..], b"\n\n", b"\r\r\n", b"\0\0\n"] {
        let full = [head, &numbered_lines(200)].concat();
        let alone = tempfile::tempdir().unwrap();
        write_all(alone.path(), &[("access.log.2", &full)]);
        let (_, expected, _) = analyze_checked(&[path_str(alone.path())]);
        for cut in [head.len(), head.len() + 20] {
            let fragment = &full[..cut.max(1)];
            for (name, bytes) in [
                ("access.log.2", fragment.to_vec()),
                ("access.log.2.gz", gz(fragment)),
            ] {
                let dir = tempfile::tempdir().unwrap();
                write_all(
                    dir.path(),
                    &[(name, &bytes), ("access.log.3.gz", &gz(&full))],
                );
                let (code, v, _) = analyze_checked(&[path_str(dir.path())]);
                let case = format!("{head:?} cut at {cut}, {name}");
                assert_eq!(code, 0, "{case}");
                assert_eq!(totals(&v), totals(&expected), "{case}");
                // A fragment of whole (blank) lines is a prefix the `.gz` skips instead.
                let warnings = match fragment.ends_with(b"\n") {
                    true => json!([]),
                    false => json!([
                        "the last line is incomplete; it is counted in input #2, where it goes on"
                    ]),
                };
                // (A fragment with no line parsed says that too.)
                let incomplete: Vec<&Value> = v["inputs"][0]["warnings"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|w| !w.as_str().unwrap().starts_with("no line parsed"))
                    .collect();
                assert_eq!(json!(incomplete), warnings, "{case}");
                let skipped = fragment.iter().filter(|&&b| b == b'\n').count();
                assert_eq!(v["inputs"][1]["duplicate_lines"], skipped, "{case}");
            }
        }
    }
}

/// A `.gz` copy cut short of the first of two growing daily copies is compared by its text
/// up to the cut (the last part cut off): its lines count once, and since the second copy
/// holds all of it, the cut is a warning (exit 0). A cut copy that no other input holds
/// keeps the error (exit 1).
#[test]
fn a_gzipped_copy_cut_short_counts_its_lines_once() {
    let dir = tempfile::tempdir().unwrap();
    let day1 = numbered_lines(2000);
    let mut day2 = day1.clone();
    day2.extend(numbered_lines(10));
    let cut = gz(&day1);
    write_all(
        dir.path(),
        &[
            ("access_2023-06-19.log.gz", &cut[..cut.len() - 100]),
            ("access_2023-06-20.log", &day2),
        ],
    );
    let (code, v, _) = analyze_checked(&[path_str(dir.path())]);
    assert_eq!(code, 0);
    let warning = v["inputs"][0]["warnings"]
        .as_array()
        .unwrap()
        .last()
        .unwrap();
    let before_cut = lines_before_the_cut(&day1, warning.as_str().unwrap());
    assert!(before_cut > 1000, "{before_cut}");
    assert_eq!(v["totals"]["lines"], 2010);
    assert_eq!(v["totals"]["duplicate_lines"], before_cut);
    std::fs::remove_file(dir.path().join("access_2023-06-20.log")).unwrap();
    let (code, v, _) = analyze_checked(&[path_str(dir.path())]);
    assert_eq!(code, 1);
    let error = v["inputs"][0]["error"].as_str().unwrap();
    assert_eq!(v["totals"]["lines"], lines_before_the_cut(&day1, error) + 1);
}

#[test]
fn a_copy_taken_mid_write_present_twice_counts_its_partial_line_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut day2 = numbered_lines(1000);
    day2.extend_from_slice(b"10.7.7.7 - - [19/Jun/2023:23:59:59 +0000] \"GET /pa");
    let mut day3 = day2.clone();
    day3.extend_from_slice(b"rtial HTTP/1.1\" 404 1\n");
    day3.extend(numbered_lines(250));
    write_all(
        dir.path(),
        &[
            ("access_2023-06-20.log", &day2),
            ("access_2023-06-20.log.bak", &day2),
            ("access_2023-06-21.log", &day3),
        ],
    );
    for extra in [None, Some("--no-mmap")] {
        let mut args = vec![path_str(dir.path())];
        args.extend(extra);
        let (code, v, _) = analyze_checked(&args);
        assert_eq!(code, 0);
        assert_eq!(v["totals"]["lines"], 1000 + 1 + 250, "{extra:?}");
        assert_eq!(v["totals"]["duplicate_lines"], 1001 + 1000, "{extra:?}");
        // The partial line, completed in day 3, is one failed request: not one per copy.
        assert_eq!(v["totals"]["failed"], 100 + 1 + 25, "{extra:?}");
    }
}

/// `logwarden analyze ARGS...` started, stdout and stderr piped: a run to act on while it works.
fn spawn_analyze<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> std::process::Child {
    std::process::Command::new(assert_cmd::cargo::cargo_bin("logwarden"))
        .arg("analyze")
        .args(args)
        .env("HOME", "/nonexistent")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// Polls `done` until it holds; fails the test, naming `what`, after 20 s.
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !done() {
        assert!(std::time::Instant::now() < deadline, "{what}");
        std::thread::sleep(std::time::Duration::from_micros(200));
    }
}

/// What copytruncate does to a live log: the file cut to `len` bytes in place.
fn cut_to(path: &Path, len: u64) {
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(len)
        .unwrap();
}

#[test]
fn a_mapped_file_truncated_during_the_run_is_a_clear_error_not_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("access.log");
    let block = numbered_lines(2000);
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        while f.get_ref().metadata().unwrap().len() < 192 << 20 {
            f.write_all(&block).unwrap();
            f.flush().unwrap();
        }
    }
    let args = [
        "-q",
        "--threads",
        "1",
        "--json",
        "/dev/null",
        "--report",
        "/dev/null",
    ];
    let child = spawn_analyze(&[&args[..], &[path_str(&path)]].concat());
    // Wait until the file is mapped, then cut it.
    let maps = format!("/proc/{}/maps", child.id());
    wait_until("the file was never mapped", || {
        std::fs::read_to_string(&maps)
            .unwrap_or_default()
            .contains(path_str(&path))
    });
    cut_to(&path, 0);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(
        stderr.contains("shrank while it was being read"),
        "{stderr}"
    );
    assert!(stderr.contains(path_str(&path)), "names the file: {stderr}");
}

#[test]
fn a_streamed_file_cut_while_read_is_an_error_not_a_whole_file() {
    // What copytruncate does to a live log read with --no-mmap: the stream ends early. Cut as
    // soon as the file is open; a run that read it all first (a fast machine) tries again.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("access.log");
    let block = numbered_lines(2000);
    let mut caught = false;
    for _ in 0..5 {
        {
            let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
            for _ in 0..(256 << 20) / block.len() {
                f.write_all(&block).unwrap();
            }
        }
        let full = std::fs::metadata(&path).unwrap().len();
        let args = [
            "-q",
            "--no-mmap",
            "--keep-duplicates",
            "-j",
            "1",
            "--json",
            "-",
        ];
        let child = spawn_analyze(&[&args[..], &[path_str(&path)]].concat());
        let fds = format!("/proc/{}/fd", child.id());
        wait_until("the file was never opened", || {
            std::fs::read_dir(&fds)
                .into_iter()
                .flatten()
                .flatten()
                .any(|e| std::fs::read_link(e.path()).is_ok_and(|target| target == path))
        });
        cut_to(&path, 0);
        let out = child.wait_with_output().unwrap();
        let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "{e}: {:?}, stderr {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            )
        });
        let input = &v["inputs"][0];
        match out.status.code() {
            // Cut between its open and the size taken of it (a busy machine): an empty file
            // then, as far as anyone can tell. Again.
            Some(0) if input["bytes"] == 0 && input["lines"] == 0 => continue,
            Some(0) => assert_eq!(input["bytes"], full, "exit 0, yet not read whole"),
            code => {
                assert_eq!(code, Some(1));
                let error = input["error"].as_str().unwrap();
                assert!(
                    error.starts_with("the file shrank while it was read"),
                    "{error}"
                );
                assert!(input["bytes"].as_u64().unwrap() < full);
                // At most the line the cut went through is malformed.
                assert!(input["malformed"].as_u64().unwrap() <= 1, "{input}");
                caught = true;
                break;
            }
        }
    }
    assert!(caught, "the file was never cut while read");
}

/// Runs `analyze --no-mmap -j 1 --json - FIFO FILES...`, and once the run waits for the
/// FIFO's writer (one thread reads the inputs in their order, after they were compared),
/// calls `meanwhile`, then ends the FIFO: what another process does between the comparison
/// and the read. Returns the exit status and the JSON, without the FIFO's input (so the
/// files' inputs are numbered from 0).
fn compared_then(files: &[&Path], meanwhile: impl FnOnce()) -> (Option<i32>, Value) {
    run_then(&["--no-mmap"], files, meanwhile)
}

/// [`compared_then`] with `flags` instead of `--no-mmap`.
fn run_then(flags: &[&str], files: &[&Path], meanwhile: impl FnOnce()) -> (Option<i32>, Value) {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("access_z.fifo");
    mkfifo(&fifo);
    let mut args = vec!["-q", "-j", "1", "--json", "-"];
    args.extend(flags);
    args.push(path_str(&fifo));
    args.extend(files.iter().map(|f| path_str(f)));
    let child = spawn_analyze(&args);
    let tasks = format!("/proc/{}/task", child.id());
    wait_until("never waited for the FIFO", || {
        std::fs::read_dir(&tasks)
            .into_iter()
            .flatten()
            .flatten()
            .any(|t| {
                std::fs::read_to_string(t.path().join("wchan"))
                    .is_ok_and(|w| w == "wait_for_partner")
            })
    });
    meanwhile();
    drop(std::fs::OpenOptions::new().write(true).open(&fifo).unwrap());
    let out = child.wait_with_output().unwrap();
    let mut json: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&out.stderr)));
    let fifo_input = json["inputs"].as_array_mut().unwrap().remove(0);
    assert_eq!(fifo_input["lines"], 0, "{fifo_input}");
    (out.status.code(), json)
}

#[test]
fn a_copy_cut_after_the_inputs_were_compared_is_an_error_not_a_duplicate() {
    // b starts with a, and is cut to 150 of its 200 lines after the comparison.
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (
        dir.path().join("access_a.log"),
        dir.path().join("access_b.log"),
    );
    std::fs::write(&a, numbered_lines(100)).unwrap();
    std::fs::write(&b, numbered_lines(200)).unwrap();
    let (code, v) = compared_then(&[&a, &b], || cut_to(&b, numbered_lines(150).len() as u64));
    assert_eq!(code, Some(1), "{v}");
    let error = v["inputs"][1]["error"].as_str().unwrap();
    assert!(
        error.starts_with("the file shrank before it was read"),
        "{error}"
    );
    assert_eq!(v["inputs"][0]["lines"], 100);
}

#[test]
fn a_file_renamed_over_a_compared_one_is_not_read_in_its_place() {
    // b starts with a; then logrotate-like, another file is renamed over b. Read by its path,
    // the new file was read from a's length on, as if it were the rest of b.
    let dir = tempfile::tempdir().unwrap();
    let (a, b, new) = (
        dir.path().join("access_a.log"),
        dir.path().join("access_b.log"),
        dir.path().join("new"),
    );
    std::fs::write(&a, numbered_lines(100)).unwrap();
    std::fs::write(&b, numbered_lines(200)).unwrap();
    std::fs::write(&new, numbered_lines(300)).unwrap();
    let (code, v) = compared_then(&[&a, &b], || std::fs::rename(&new, &b).unwrap());
    assert_eq!(code, Some(1), "{v}");
    let error = v["inputs"][1]["error"].as_str().unwrap();
    assert!(
        error.starts_with("the file was replaced after the inputs were compared"),
        "{error}"
    );
    assert_eq!(v["inputs"][1]["lines"], 0);
    assert_eq!(v["totals"]["lines"], 100);
}

#[test]
fn a_file_is_read_as_compared_so_growth_since_counts_once() {
    // a and its hard link b: b is a copy of a. a grows by 50 lines after the comparison. As
    // a mapped file is, each is read to its size then: the growth was read twice (from a to
    // its end, and from b past the part it shares with a).
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (
        dir.path().join("access_a.log"),
        dir.path().join("access_b.log"),
    );
    std::fs::write(&a, numbered_lines(100)).unwrap();
    std::fs::hard_link(&a, &b).unwrap();
    let (code, v) = compared_then(&[&a, &b], || {
        let mut f = std::fs::OpenOptions::new().append(true).open(&a).unwrap();
        f.write_all(&numbered_lines(50)).unwrap();
    });
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(v["totals"]["lines"], 100);
    assert_eq!(v["inputs"][0]["bytes"], numbered_lines(100).len());
    assert_eq!(v["inputs"][0]["file_bytes"], numbered_lines(100).len());
    assert_eq!(v["inputs"][1]["duplicate_of"], path_str(&a));
}

#[test]
fn a_gz_renamed_over_is_an_error_only_where_inputs_were_compared() {
    // A .gz is streamed whatever the mode. Compared with the other inputs (the default), it
    // must still be that file; with --keep-duplicates nothing was compared: its path is read.
    for (flags, code, lines) in [(&[][..], 1, 0), (&["--keep-duplicates"][..], 0, 300)] {
        let dir = tempfile::tempdir().unwrap();
        let (a, new) = (dir.path().join("access_a.log.gz"), dir.path().join("new"));
        std::fs::write(&a, gz(&numbered_lines(100))).unwrap();
        std::fs::write(&new, gz(&numbered_lines(300))).unwrap();
        let (got, v) = run_then(flags, &[&a], || std::fs::rename(&new, &a).unwrap());
        assert_eq!(got, Some(code), "{flags:?}: {v}");
        assert_eq!(v["inputs"][0]["lines"], lines, "{flags:?}");
        if code == 1 {
            let error = v["inputs"][0]["error"].as_str().unwrap();
            assert!(error.starts_with("the file was replaced"), "{error}");
        }
    }
}

#[test]
fn a_sigbus_that_is_no_shrunk_input_gets_the_default_action() {
    use std::os::unix::process::ExitStatusExt;
    // A mapped input (so the handler is installed), then a FIFO no one writes to: the run
    // waits there, and a SIGBUS sent with kill is not reported as a truncated input.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("access_1.log");
    std::fs::write(&path, numbered_lines(100)).unwrap();
    let fifo = dir.path().join("access_2.fifo");
    mkfifo(&fifo);
    let args = ["-q", "--json", "/dev/null", "--report", "/dev/null"];
    let mut child = spawn_analyze(&[&args[..], &[path_str(&path), path_str(&fifo)]].concat());
    // Sent again until the child ends: one sent before our handler is installed reaches
    // Rust's own (for stack overflows), which lets a sent SIGBUS pass without effect.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let status = loop {
        std::thread::sleep(std::time::Duration::from_millis(100));
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(std::time::Instant::now() < deadline, "still running");
        // SAFETY: a signal to our own child, not yet waited for.
        assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGBUS) }, 0);
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.signal(), Some(libc::SIGBUS), "{status:?}: {stderr}");
    assert!(!stderr.contains("shrank"), "{stderr}");
}

#[test]
fn history_html_and_mail_show_hostile_bytes_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let log_dir = dir.path().join("log");
    std::fs::create_dir(&log_dir).unwrap();
    let nasty: &[u8] = b"/\x1b[2J\x1b]0;t\x07\x9b\r\n-x\x7f<script>alert(1)</script>\xff";
    let mut log = Vec::new();
    for _ in 0..6 {
        // Apache writes the CR/LF of a request escaped; a raw one would just end the line.
        let mut req = b"GET ".to_vec();
        req.extend(nasty.iter().copied().filter(|&b| b != b'\n'));
        req.extend_from_slice(b"\\x0a\\x0dIP: 6.6.6.6 - Failed login attempts: 99 HTTP/1.1");
        log.extend(line(
            "10.6.6.6",
            DAY,
            &req,
            401,
            nasty.split(|&b| b == b'\n').next().unwrap(),
        ));
    }
    std::fs::write(log_dir.join("access_2023-06-19.log"), &log).unwrap();
    let config = dir.path().join("logwarden.toml");
    std::fs::write(&config, "[email]\nfrom = \"logwarden@example.org\"\nto = [\"manager@example.org\"]\nsubject = \"Weekly {week}\"\n[smtp]\nhost = \"127.0.0.1\"\nport = 2525\nsecurity = \"none\"\n").unwrap();
    let eml = dir.path().join("out.eml");
    let html = dir.path().join("out.html");
    let report = |extra: &[&std::ffi::OsStr]| {
        logwarden()
            .current_dir(dir.path())
            .args(["report", "--week", "2023-W25", "-q"])
            .args(extra)
            .output()
            .unwrap()
    };
    let out = report(&[
        "--email".as_ref(),
        "--dry-run".as_ref(),
        "--config".as_ref(),
        config.as_os_str(),
        "--eml".as_ref(),
        eml.as_os_str(),
        "--html".as_ref(),
        html.as_os_str(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_clean("report stdout", &out.stdout);
    assert_clean("report stderr", &out.stderr);
    // A dry run records nothing: a report run without mail writes the record.
    assert!(!log_dir.join("monitoring.log").exists());
    let out = report(&["--report".as_ref(), "/dev/null".as_ref()]);
    assert_eq!(out.status.code(), Some(0));
    let history = std::fs::read(log_dir.join("monitoring.log")).unwrap();
    assert_clean("history", &history);
    assert_clean(
        "history.jsonl",
        &std::fs::read(log_dir.join("history.jsonl")).unwrap(),
    );
    let text = String::from_utf8(history).unwrap();
    assert!(
        !text.contains("6.6.6.6 - Failed"),
        "an escaped request never forges a history line"
    );
    let page = std::fs::read_to_string(&html).unwrap();
    assert_clean("html", page.as_bytes());
    assert!(!page.contains("<script>"), "hostile markup is escaped");
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    // The message itself: CRLF line ends are ours; nothing else below 0x20 or in 0x7f..0x9f.
    let message = std::fs::read(&eml).unwrap();
    let without_crlf = String::from_utf8_lossy(&message).replace("\r\n", "\n");
    assert_clean("mail", without_crlf.as_bytes());
    assert!(message.windows(7).any(|w| w == b"Subject"));
    assert_eq!(
        String::from_utf8_lossy(&message)
            .matches("\r\nSubject: ")
            .count(),
        1,
        "one Subject header"
    );
}

#[test]
fn a_permission_denied_file_is_an_error_and_the_rest_is_analyzed() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(dir.path().join("access.log"), numbered_lines(10)).unwrap();
    let secret = dir.path().join("access.log.1");
    std::fs::write(&secret, numbered_lines(5)).unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o000)).unwrap();
    let bin = assert_cmd::cargo::cargo_bin("logwarden");
    // Root reads anything: run as an unprivileged user then (setpriv, from util-linux).
    let root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout == b"0\n")
        .unwrap_or(false);
    let mut cmd = if root {
        let mut c = std::process::Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(&bin);
        c
    } else {
        std::process::Command::new(&bin)
    };
    let out = cmd
        .args(["analyze", "-q", "--json", "-"])
        .arg(dir.path())
        .env("HOME", "/nonexistent")
        .current_dir("/")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if root && stderr.contains("setpriv") {
        panic!("setpriv failed: {stderr}");
    }
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["totals"]["lines"], 10);
    let denied = &v["inputs"][1];
    assert!(denied["path"].as_str().unwrap().ends_with("access.log.1"));
    assert!(
        denied["error"]
            .as_str()
            .unwrap()
            .contains("Permission denied"),
        "{}",
        denied["error"]
    );
    assert!(stderr.contains("access.log.1"), "{stderr}");
}
