//! Criterion benches: the scanner's throughput on a real-looking chunk (bytes/s), and the
//! merge of per-thread aggregates. The chunk is the bundled sample (realistic combined lines,
//! IPv4 and IPv6, 4xx bursts) repeated to 32 MiB, so the bench needs no generated fixture.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use logwarden::agg::{Aggregate, ChunkRecord, FailedCodes};
use logwarden::merge::Store;
use logwarden::scan::{Format, LineScanner};
use std::path::Path;

fn sample_chunk(target: usize) -> Vec<u8> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/sample/log");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .expect("testdata/sample/log")
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    let mut one = Vec::new();
    for p in names
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
    {
        one.extend(std::fs::read(p).unwrap());
    }
    let mut out = Vec::with_capacity(target + one.len());
    while out.len() < target {
        out.extend_from_slice(&one);
    }
    out
}

fn scan(agg: &mut Aggregate, data: &[u8], failed: &FailedCodes) {
    let mut scanner = LineScanner::new(Format::Combined, false, 4 << 20);
    agg.scan_chunk(data, &mut scanner, failed, ChunkRecord::new(0, 0));
}

fn bench_scan(c: &mut Criterion) {
    let data = sample_chunk(32 << 20);
    let failed = FailedCodes::new(&[400, 401, 403, 404, 409]);
    let mut group = c.benchmark_group("scanner");
    group.throughput(Throughput::Bytes(data.len() as u64));
    group.sample_size(20);
    group.bench_function("scan_chunk_32MiB", |b| {
        b.iter_batched_ref(
            Aggregate::default,
            |agg| scan(agg, &data, &failed),
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

fn bench_merge(c: &mut Criterion) {
    // Two aggregates with 200k distinct failing (day, client) cells each, half overlapping.
    let failed = FailedCodes::new(&[404]);
    let make = |offset: u32| {
        let mut text = Vec::new();
        for i in 0..200_000u32 {
            let n = i + offset;
            text.extend_from_slice(
                format!(
                    "10.{}.{}.{} - - [19/Jun/2023:10:00:00 +0000] \"GET / HTTP/1.1\" 404 1\n",
                    n >> 16,
                    (n >> 8) & 255,
                    n & 255
                )
                .as_bytes(),
            );
        }
        let mut agg = Aggregate::default();
        scan(&mut agg, &text, &failed);
        agg
    };
    let (a, b) = (make(0), make(100_000));
    let mut group = c.benchmark_group("merge");
    group.throughput(Throughput::Elements((a.table.len() + b.table.len()) as u64));
    group.sample_size(10);
    // Two per-thread tables flushed into one store (sorted runs) and merged.
    group.bench_function("merge_2x200k_cells", |bench| {
        bench.iter_batched(
            || (a.clone(), b.clone()),
            |(mut a, mut b)| {
                let store = Store::default();
                a.flush_all(&store);
                b.flush_all(&store);
                store.finish()
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group!(benches, bench_scan, bench_merge);
criterion_main!(benches);
