//! In-process scanner throughput on a real file, without the kernel: the file is read into
//! memory once, then scanned whole on one thread several times (the table flushed into a
//! store as the engine does). Prints the median and best GB/s, with and without failed lines
//! (`--codes 599` counts nothing as failed). For A/B work on the hot loop, where whole-process
//! timings on a noisy machine hide a few percent.
//!
//! `cargo run --release --example scanfile -- FILE [RUNS] [default|none]` (the last argument
//! runs one of the two cases only, for a profiler).

use logwarden::agg::{Aggregate, ChunkRecord, FailedCodes, FLUSH_ENTRIES_MAX};
use logwarden::merge::Store;
use logwarden::scan::{Format, LineScanner};
use std::time::Instant;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .ok_or_else(|| anyhow::anyhow!("usage: scanfile FILE [RUNS]"))?;
    let runs: usize = args.next().map_or(Ok(7), |r| r.parse())?;
    let only = args.next();
    let data = std::fs::read(&path)?;
    for (label, codes) in [
        ("default codes", &[400u16, 401, 403, 404, 409][..]),
        ("no failed (599)", &[599u16][..]),
    ] {
        let name = if codes.len() > 1 { "default" } else { "none" };
        if only.as_deref().is_some_and(|o| o != name) {
            continue;
        }
        let failed = FailedCodes::new(codes);
        let mut times = Vec::with_capacity(runs);
        let mut failed_lines = 0;
        for _ in 0..runs {
            let start = Instant::now();
            let store = Store::default();
            let mut agg = Aggregate::with_flush_size(FLUSH_ENTRIES_MAX);
            let mut scanner = LineScanner::new(Format::Combined, false, 1 << 20);
            // Chunks of 8 MiB on line boundaries, like the engine's.
            for (seq, range) in logwarden::chunk::line_chunks(&data, 8 << 20)
                .into_iter()
                .enumerate()
            {
                agg.scan_chunk(
                    &data[range],
                    &mut scanner,
                    &failed,
                    ChunkRecord::new(0, seq as u64),
                );
                if agg.needs_flush() {
                    agg.flush(&store);
                }
            }
            agg.flush_all(&store);
            let merged = store.finish();
            times.push(start.elapsed().as_secs_f64());
            failed_lines = merged.days.values().map(|d| d.failed).sum::<u64>();
            std::mem::forget(merged);
        }
        times.sort_by(f64::total_cmp);
        let gb = data.len() as f64 / 1e9;
        println!(
            "{label:>16}: median {:.3} s ({:.2} GB/s), best {:.3} s ({:.2} GB/s), {failed_lines} failed lines",
            times[runs / 2],
            gb / times[runs / 2],
            times[0],
            gb / times[0]
        );
    }
    Ok(())
}
