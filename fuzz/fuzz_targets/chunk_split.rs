//! Chunking on line boundaries: any data, any chunk size → the chunks partition the data at
//! line starts, and scanning them one by one counts exactly what one scan of the whole does.
#![no_main]
use libfuzzer_sys::fuzz_target;
use logwarden::agg::{Aggregate, ChunkRecord, FailedCodes};
use logwarden::chunk::line_chunks;
use logwarden::scan::{Format, LineScanner};

fuzz_target!(|input: (u16, &[u8])| {
    let (target, data) = input;
    let ranges = line_chunks(data, target as usize + 1);
    let mut pos = 0;
    for r in &ranges {
        assert_eq!(r.start, pos);
        assert!(r.end > r.start);
        assert!(r.start == 0 || data[r.start - 1] == b'\n');
        pos = r.end;
    }
    assert_eq!(pos, data.len());
    let failed = FailedCodes::new(&[400, 401, 403, 404, 409]);
    let mut whole = Aggregate::default();
    if !data.is_empty() {
        whole.scan_chunk(data, &mut LineScanner::new(Format::Combined, false, 1 << 16), &failed, ChunkRecord::new(0, 0));
    }
    let mut parts = Aggregate::default();
    for (seq, r) in ranges.iter().enumerate() {
        parts.scan_chunk(&data[r.clone()], &mut LineScanner::new(Format::Combined, false, 1 << 16), &failed, ChunkRecord::new(0, seq as u64));
    }
    let total = |a: &Aggregate| a.chunks.iter().fold((0, 0, 0, 0), |t, c| (t.0 + c.physical_lines, t.1 + c.parsed, t.2 + c.blank, t.3 + c.malformed.iter().sum::<u64>()));
    assert_eq!(total(&whole), total(&parts));
    let (whole, parts) = (whole.into_merged(), parts.into_merged());
    assert_eq!(whole.days, parts.days);
    assert_eq!(whole.clients, parts.clients);
});
