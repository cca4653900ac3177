//! Property: the parallel engine gives exactly the report of one sequential scan, for random
//! inputs (hostile lines, CRLF, blanks, NUL padding, no final newline), any thread count,
//! any chunk size from 1 byte to past the whole file, mapped or streamed.

use logwarden::agg::{Aggregate, ChunkRecord, FailedCodes};
use logwarden::engine::{self, FileReport, ScanSettings};
use logwarden::input::{Input, Kind};
use logwarden::scan::{Format, LineScanner};
use logwarden::summary::{self, Settings};
use proptest::prelude::*;

const CODES: [u16; 5] = [400, 401, 403, 404, 409];

fn settings() -> Settings {
    Settings {
        threshold: 2,
        codes: CODES.to_vec(),
        bad_request_threshold: 2,
        utc: false,
        format: "combined".into(),
        max_line_bytes: 200,
    }
}

fn line_strategy() -> impl Strategy<Value = Vec<u8>> {
    let client = prop_oneof![
        (0u8..4).prop_map(|i| format!("10.0.0.{i}")),
        Just("2001:db8::1".to_string()),
        Just("::ffff:10.0.0.1".to_string()),
        Just("Host.Example".to_string()),
        Just("0177.0.0.1".to_string()),
        Just("bad\"client".to_string()),
    ];
    let day = 17u8..22;
    let status = prop_oneof![Just(200u16), Just(400), Just(401), Just(404), Just(999)];
    let request = prop_oneof![
        Just("GET / HTTP/1.1"),
        Just("\\x16\\x03\\x01"),
        Just("-"),
        Just("GET /a\\\"b\\\\"),
        Just("unterminated")
    ];
    let tail = prop_oneof![
        Just(""),
        Just(" \"-\" \"x\\\" 404 1.2.3.4\""),
        Just(" \"ref\"")
    ];
    let good = (client, day, status, request, tail).prop_map(|(c, d, s, r, t)| {
        let r = if r == "unterminated" {
            "GET /x".to_string()
        } else {
            format!("{r}\"")
        };
        format!("{c} - - [{d}/Jun/2023:23:59:59 +0200] \"{r} {s} 12{t}").into_bytes()
    });
    prop_oneof![
        6 => good,
        1 => Just(Vec::new()),
        1 => Just(b"   ".to_vec()),
        1 => proptest::collection::vec(any::<u8>().prop_filter("no newline", |b| *b != b'\n'), 0..40),
        1 => Just(vec![b'a'; 300]),
    ]
}

fn input_strategy() -> impl Strategy<Value = Vec<u8>> {
    (
        proptest::collection::vec((line_strategy(), any::<bool>(), 0usize..3), 0..60),
        any::<bool>(),
    )
        .prop_map(|(lines, final_newline)| {
            let mut out = Vec::new();
            let n = lines.len();
            for (i, (mut line, crlf, nuls)) in lines.into_iter().enumerate() {
                out.extend(std::iter::repeat_n(0u8, nuls * 3));
                out.append(&mut line);
                if crlf {
                    out.push(b'\r');
                }
                if i + 1 < n || final_newline {
                    out.push(b'\n');
                }
            }
            out
        })
}

fn sequential(data: &[u8]) -> summary::Report {
    let mut agg = Aggregate::default();
    let mut scanner = LineScanner::new(Format::Combined, false, 200);
    if !data.is_empty() {
        agg.scan_chunk(
            data,
            &mut scanner,
            &FailedCodes::new(&CODES),
            ChunkRecord::new(0, 0),
        );
    }
    let file = FileReport {
        path: "x".into(),
        format: Some(Format::Combined),
        bytes: data.len() as u64,
        ..Default::default()
    };
    summary::build(&agg.into_merged(), &[file], settings())
}

/// The engine's run of one file, its report, and the summary built from it (path and size on
/// disk blanked as in [`sequential`]).
fn engine_report(path: std::path::PathBuf, scan: &ScanSettings) -> (FileReport, summary::Report) {
    let out = engine::run(
        &[Input::File(path, Kind::Regular)],
        scan,
        &indicatif::ProgressBar::hidden(),
    )
    .unwrap();
    let mut files = out.files.clone();
    files[0].path = "x".into();
    files[0].file_bytes = None;
    let report = summary::build(&out.aggregate, &files, settings());
    (out.files[0].clone(), report)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]
    #[test]
    fn engine_equals_sequential_scan(data in input_strategy(), threads in 1usize..5, chunk_frac in 0.0f64..1.2, mmap in any::<bool>(), gzip in any::<bool>(), flush in proptest::option::of(1usize..6), grow in any::<bool>()) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("access.log");
        if gzip {
            use std::io::Write;
            // Several members, split at arbitrary bytes, as nginx and `cat a.gz b.gz` make.
            let mut bytes = Vec::new();
            for part in data.chunks(data.len() / 3 + 1) {
                let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                e.write_all(part).unwrap();
                bytes.extend(e.finish().unwrap());
            }
            std::fs::write(&path, bytes).unwrap();
        } else {
            std::fs::write(&path, &data).unwrap();
        }
        let chunk_bytes = ((data.len() as f64 * chunk_frac) as usize).max(1);
        // Growing: a mapped file's chunks are sized from its bytes per thread, from a small
        // floor (as 4 MiB chunks grow to 16 MiB on large inputs).
        let (chunk_bytes, map_chunk_max) = match grow {
            true => (chunk_bytes / 64 + 1, usize::MAX),
            false => (chunk_bytes, 0),
        };
        let scan = ScanSettings { format: Some(Format::Combined), utc: false, max_line_bytes: 200, failed: FailedCodes::new(&CODES), chunk_bytes, map_chunk_max, mmap, threads, dedupe: true, flush_entries: flush };
        let (file, parallel) = engine_report(path, &scan);
        prop_assert_eq!(file.bytes, data.len() as u64, "every byte is accounted for");
        prop_assert_eq!(&file.error, &None);
        let expected = sequential(&data);
        prop_assert_eq!(&parallel.totals, &expected.totals);
        prop_assert_eq!(&parallel.inputs[0].counts, &expected.inputs[0].counts);
        prop_assert_eq!(&parallel.inputs[0].malformed_lines, &expected.inputs[0].malformed_lines);
        prop_assert_eq!(&parallel.days, &expected.days);
        prop_assert_eq!(&parallel.weeks, &expected.weeks);
    }
}

/// One thread reads a stream in blocks smaller than the chunk size (256 KiB, for the
/// cache): a `.gz` of several such blocks, lines cut at every block edge, gives the report of
/// one sequential scan, as with two threads and 4 MiB blocks.
#[test]
fn one_thread_stream_blocks_equal_a_sequential_scan() {
    use std::io::Write;
    let mut data = Vec::new();
    let (mut i, mut failed) = (0u32, 0u64);
    while data.len() < 1_300_000 {
        let status = [200, 404, 401, 400, 304][(i % 7 % 5) as usize];
        failed += CODES.contains(&status) as u64;
        writeln!(
            data,
            "10.{}.{}.{} - - [{}/Jun/2023:10:00:{:02} +0000] \"GET /p{} HTTP/1.1\" {status} {} \"-\" \"ua\"",
            i % 3,
            i % 11,
            i % 251,
            17 + i % 3,
            i % 60,
            i % 13,
            i * 7 % 100_000,
        )
        .unwrap();
        i += 1;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("access.log.gz");
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(&data).unwrap();
    std::fs::write(&path, e.finish().unwrap()).unwrap();
    let expected = sequential(&data);
    for threads in [1, 2] {
        let scan = ScanSettings {
            format: Some(Format::Combined),
            utc: false,
            max_line_bytes: 200,
            failed: FailedCodes::new(&CODES),
            chunk_bytes: logwarden::config::DEFAULT_CHUNK_BYTES,
            map_chunk_max: 0,
            mmap: true,
            threads,
            dedupe: false,
            flush_entries: None,
        };
        let (file, report) = engine_report(path.clone(), &scan);
        assert_eq!((file.bytes, file.error), (data.len() as u64, None));
        assert_eq!(report.totals, expected.totals, "{threads} threads");
        assert_eq!(report.inputs[0].counts, expected.inputs[0].counts);
        assert_eq!(report.days, expected.days, "{threads} threads");
        assert_eq!(report.weeks, expected.weeks, "{threads} threads");
    }
    assert_eq!(
        (expected.totals.counts.parsed, expected.totals.failed),
        (i as u64, failed)
    );
}

/// Lines of three clients over two days asking for up to 300 distinct targets, some many
/// times: more than a client's list keeps (`PATHS_PER_CLIENT`), so lists are cut.
fn many_targets_strategy() -> impl Strategy<Value = Vec<u8>> {
    let target = prop_oneof![
        3 => 0u16..300,
        1 => 0u16..3,
    ];
    proptest::collection::vec((0u8..3, 17u8..19, target, any::<bool>()), 300..1200).prop_map(
        |lines| {
            let mut out = Vec::new();
            for (client, day, target, status_401) in lines {
                let status = if status_401 { 401 } else { 404 };
                out.extend_from_slice(
                    format!(
                        "10.0.0.{client} - - [{day}/Jun/2023:10:00:00 +0000] \"GET /t{target} HTTP/1.1\" {status} 1\n"
                    )
                    .as_bytes(),
                );
            }
            out
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
    /// The bottom-k target lists come out the same for any thread count, chunk size and
    /// flush size, where they are cut and where they hold every target.
    #[test]
    fn cut_target_lists_equal_a_sequential_scan(data in many_targets_strategy(), threads in 1usize..5, chunk_bytes in 64usize..8192, flush in proptest::option::of(1usize..4)) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("access.log");
        std::fs::write(&path, &data).unwrap();
        let scan = ScanSettings { format: Some(Format::Combined), utc: false, max_line_bytes: 200, failed: FailedCodes::new(&CODES), chunk_bytes, map_chunk_max: 0, mmap: true, threads, dedupe: true, flush_entries: flush };
        let (_, parallel) = engine_report(path, &scan);
        let expected = sequential(&data);
        prop_assert_eq!(&parallel.days, &expected.days);
        prop_assert_eq!(&parallel.weeks, &expected.weeks);
        let listed: Vec<bool> = expected.weeks.iter()
            .flat_map(|w| w.period.suspicious_ips.iter().map(|ip| ip.paths_exact))
            .collect();
        // A client of ~130+ lines over a ~300-target range asks for more than a list keeps.
        prop_assert!(listed.contains(&false), "some list is cut: {:?}", listed);
    }
}
