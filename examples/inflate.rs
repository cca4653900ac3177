//! In-process gzip inflate throughput of each decoder of this build (ISA-L when built with it,
//! zlib-rs always), on a real `.gz` held in memory: runs alternate between the decoders, and
//! the median and best GB/s of output are printed with their ratio. The whole reader is
//! timed (header, body, CRC-32, trailer), as the engine's inflating thread runs it.
//!
//! `cargo run --release --example inflate -- FILE.gz [RUNS]`

use logwarden::input::inflate::Backend;
use logwarden::input::source::GzipMembers;
use std::io::Read;
use std::time::Instant;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .ok_or_else(|| anyhow::anyhow!("usage: inflate FILE.gz [RUNS]"))?;
    let runs: usize = args.next().map_or(Ok(7), |r| r.parse())?;
    let data = std::fs::read(&path)?;
    let backends = Backend::all();
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); backends.len()];
    let mut out_bytes = 0u64;
    let mut block = vec![0u8; 4 << 20];
    for _ in 0..runs {
        for (i, &backend) in backends.iter().enumerate() {
            let start = Instant::now();
            let mut reader = GzipMembers::with_backend(&data[..], backend);
            let mut total = 0u64;
            loop {
                let n = reader.read(&mut block)?;
                if n == 0 {
                    break;
                }
                total += n as u64;
            }
            times[i].push(start.elapsed().as_secs_f64());
            out_bytes = total;
        }
    }
    let mut medians = Vec::new();
    for (i, &backend) in backends.iter().enumerate() {
        let t = &mut times[i];
        t.sort_by(f64::total_cmp);
        let (median, best) = (t[t.len() / 2], t[0]);
        medians.push(median);
        println!(
            "{:8} median {:.3} s ({:.2} GB/s of output), best {:.3} s ({:.2} GB/s)",
            backend.name(),
            median,
            out_bytes as f64 / median / 1e9,
            best,
            out_bytes as f64 / best / 1e9
        );
    }
    if let [zlib, .., last] = medians[..] {
        println!(
            "{} / zlib-rs speed: {:.2}x",
            backends[backends.len() - 1].name(),
            zlib / last
        );
    }
    Ok(())
}
