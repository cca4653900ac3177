//! The chunk loop on arbitrary bytes: both builds of it (x86-64-v3 where the CPU has it, and
//! the portable one) count exactly what the general scanner finds line by line. The loop
//! answers most lines from its bitmaps (line ends and quotes of 16 KiB windows) and its
//! quick path, so this checks those against the one-line-at-a-time definition: lines,
//! parsed, blank, malformed by reason, and each day's lines, failed and 400 counts.
#![no_main]
mod common;
use libfuzzer_sys::fuzz_target;
use logwarden::agg::{Aggregate, ChunkRecord, DayCounts, FailedCodes};
use logwarden::scan::{Baseline, Line, V3};
use std::collections::BTreeMap;

type Counts = (u64, u64, u64, Vec<u64>, BTreeMap<i64, DayCounts>);

fuzz_target!(|data: &[u8]| {
    let Some((&flags, data)) = data.split_first() else {
        return;
    };
    let new_scanner = common::scanners(flags);
    let failed = FailedCodes::new(&[400, 401, 403, 404, 409]);

    let mut expected: Counts = (
        0,
        0,
        0,
        vec![0; logwarden::scan::Malformed::COUNT],
        BTreeMap::new(),
    );
    let mut general = new_scanner();
    let mut lines: Vec<&[u8]> = data.split(|&b| b == b'\n').collect();
    if data.last().is_none_or(|&b| b == b'\n') {
        lines.pop(); // no line after the last `\n` (or in empty data)
    }
    for line in lines {
        expected.0 += 1;
        match general.scan(line) {
            Line::Parsed(f) => {
                expected.1 += 1;
                let day = expected.4.entry(f.day as i64).or_default();
                day.lines += 1;
                day.failed += failed.contains(f.status) as u64;
                day.status_400 += (f.status == 400) as u64;
            }
            Line::Blank => expected.2 += 1,
            Line::Malformed(reason) => expected.3[reason as usize] += 1,
        }
    }

    let counts = |agg: Aggregate, record: ChunkRecord| -> Counts {
        let days = agg.days.iter().map(|(&d, &c)| (d as i64, c)).collect();
        (
            record.physical_lines,
            record.parsed,
            record.blank,
            record.malformed.to_vec(),
            days,
        )
    };
    let run = |v3: Option<V3>| {
        let mut agg = Aggregate::with_flush_size(7);
        let mut scanner = new_scanner();
        let mut record = ChunkRecord::new(0, 0);
        match v3 {
            Some(v3) => agg.scan_lines_in(v3, data, &mut scanner, &failed, &mut record),
            None => agg.scan_lines_in(Baseline, data, &mut scanner, &failed, &mut record),
        }
        counts(agg, record)
    };
    assert_eq!(run(None), expected, "portable build");
    if let Some(v3) = V3::detect() {
        assert_eq!(run(Some(v3)), expected, "x86-64-v3 build");
    }
});
