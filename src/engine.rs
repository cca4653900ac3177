//! The parallel driver: inputs → sources → line-aligned chunks → per-thread aggregates.
//!
//! One rayon scope runs everything. Each input is a task; a mapped file spawns one task per
//! chunk, a stream (gzip, stdin, FIFO) is read by its own task, which hands line-aligned blocks
//! to the pool while it decodes the next one (inflate on one core, scan on the others).
//! Every worker thread owns one [`Aggregate`] slot; the slots are merged at the end.
//! Invariants: a block handed out always starts at a line start and ends after a `\n` or at
//! the end of input; a stream keeps at most a bounded number of blocks in flight (past that
//! the reader scans the block itself), so memory does not grow with the input; an input's
//! failure is recorded in its report and never stops the others.

use crate::agg::{Aggregate, ChunkRecord, FailedCodes};
use crate::chunk::line_chunks;
use crate::input::source::{self, Mapped, Source, Stream, StreamReader};
use crate::input::Input;
use crate::scan::{detect_format, Format, LineScanner, Malformed};
use indicatif::ProgressBar;
use std::io::Read;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Bytes of the start of a file used to detect its format.
const DETECT_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone)]
pub struct ScanSettings {
    /// `None`: detect per file.
    pub format: Option<Format>,
    pub utc: bool,
    pub max_line_bytes: usize,
    pub failed: FailedCodes,
    /// Target size of a chunk of a mapped file and of a block of a stream.
    pub chunk_bytes: usize,
    pub mmap: bool,
    pub threads: usize,
}

/// What happened to one input, for the `inputs` section of the report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileReport {
    pub path: String,
    pub compressed: bool,
    pub format: Option<Format>,
    /// Bytes of log text scanned (after decompression).
    pub bytes: u64,
    /// Size on disk, where the input is a regular file.
    pub file_bytes: Option<u64>,
    pub gzip_members: Option<u64>,
    pub warnings: Vec<String>,
    pub error: Option<String>,
}

pub struct EngineOutput {
    pub aggregate: Aggregate,
    pub files: Vec<FileReport>,
}

#[derive(Clone, Copy)]
struct Ctx<'a> {
    slots: &'a [Mutex<Aggregate>],
    settings: &'a ScanSettings,
    progress: &'a ProgressBar,
}

impl Ctx<'_> {
    /// Scan a chunk into the calling worker's own aggregate.
    fn scan(&self, data: &[u8], format: Format, record: ChunkRecord) {
        let index = rayon::current_thread_index().unwrap_or(0) % self.slots.len();
        let mut slot = self.slots[index]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let s = self.settings;
        let mut scanner = LineScanner::new(format, s.utc, s.max_line_bytes);
        slot.scan_chunk(data, &mut scanner, &s.failed, record);
    }

    fn record_only(&self, record: ChunkRecord) {
        let index = rayon::current_thread_index().unwrap_or(0) % self.slots.len();
        let mut slot = self.slots[index]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        slot.chunks.push(record);
    }
}

pub fn run(
    inputs: &[Input],
    settings: &ScanSettings,
    progress: &ProgressBar,
) -> anyhow::Result<EngineOutput> {
    let threads = settings.threads.max(1);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()?;
    let slots: Vec<Mutex<Aggregate>> = (0..threads).map(|_| Mutex::default()).collect();
    let reports: Vec<Mutex<FileReport>> = inputs
        .iter()
        .map(|input| {
            Mutex::new(FileReport {
                path: input.display(),
                ..Default::default()
            })
        })
        .collect();
    let ctx = Ctx {
        slots: &slots,
        settings,
        progress,
    };
    pool.scope(|scope| {
        for (id, input) in inputs.iter().enumerate() {
            let report = &reports[id];
            scope.spawn(move |scope| {
                let mut r = FileReport {
                    path: input.display(),
                    ..Default::default()
                };
                process_input(scope, ctx, id as u32, input, &mut r);
                *report.lock().unwrap_or_else(|p| p.into_inner()) = r;
            });
        }
    });
    let aggregate = slots
        .into_iter()
        .map(|m| m.into_inner().unwrap_or_else(|p| p.into_inner()))
        .reduce(Aggregate::merge)
        .unwrap_or_default();
    let files = reports
        .into_iter()
        .map(|m| m.into_inner().unwrap_or_else(|p| p.into_inner()))
        .collect();
    Ok(EngineOutput { aggregate, files })
}

fn process_input<'s>(
    scope: &rayon::Scope<'s>,
    ctx: Ctx<'s>,
    id: u32,
    input: &'s Input,
    report: &mut FileReport,
) {
    let path = match input {
        Input::Unusable(_, why) => {
            report.error = Some(why.clone());
            return;
        }
        Input::Stdin => None,
        Input::File(p) => Some(p.as_path()),
    };
    let counter = Arc::new(AtomicU64::new(0));
    match source::open(path, ctx.settings.mmap, counter.clone()) {
        Err(e) => report.error = Some(crate::escape::text(&format!("{e:#}"))),
        Ok(Source::Mapped(mapped)) => process_mapped(scope, ctx, id, Arc::new(mapped), report),
        Ok(Source::Stream(stream)) => process_stream(scope, ctx, id, *stream, counter, report),
    }
}

fn process_mapped<'s>(
    scope: &rayon::Scope<'s>,
    ctx: Ctx<'s>,
    id: u32,
    mapped: Arc<Mapped>,
    report: &mut FileReport,
) {
    let data: &[u8] = &mapped.map;
    let format = ctx.settings.format.unwrap_or_else(|| {
        detect_format(
            &data[..data.len().min(DETECT_BYTES)],
            ctx.settings.utc,
            ctx.settings.max_line_bytes,
        )
    });
    report.format = Some(format);
    report.bytes = data.len() as u64;
    report.file_bytes = Some(data.len() as u64);
    for (seq, range) in line_chunks(data, ctx.settings.chunk_bytes)
        .into_iter()
        .enumerate()
    {
        let mapped = mapped.clone();
        scope.spawn(move |_| {
            ctx.scan(
                &mapped.map[range.clone()],
                format,
                ChunkRecord::new(id, seq as u64),
            );
            // Drop the scanned pages from our page tables (they stay in the page cache), so
            // RSS is bounded by the chunks in flight, not the file size.
            // SAFETY: a read-only shared file mapping: DONTNEED only forgets pages, and a later
            // read (none is planned) would fault them back in with the same contents.
            let _ = unsafe {
                mapped.map.unchecked_advise_range(
                    memmap2::UncheckedAdvice::DontNeed,
                    range.start,
                    range.len(),
                )
            };
            ctx.progress.inc(range.len() as u64);
        });
    }
}

fn process_stream<'s>(
    scope: &rayon::Scope<'s>,
    ctx: Ctx<'s>,
    id: u32,
    stream: Stream,
    counter: Arc<AtomicU64>,
    report: &mut FileReport,
) {
    let Stream {
        mut reader,
        file_bytes,
    } = stream;
    report.compressed = reader.is_gzip();
    report.file_bytes = file_bytes;
    let settings = ctx.settings;
    let block = settings.chunk_bytes.max(1);
    let max_in_flight = settings.threads * 2 + 2;
    let in_flight = Arc::new(AtomicUsize::new(0));
    let mut format = settings.format;
    let mut seq = 0u64;
    let mut carry: Vec<u8> = Vec::new();
    let mut skipping_oversize = false;
    let mut progress_seen = 0u64;
    let mut eof = false;

    while !eof {
        let mut buf = std::mem::take(&mut carry);
        // The carried bytes are one partial line: only new bytes can end it. Searching only
        // those keeps a long line linear instead of quadratic.
        let mut search_from = buf.len();
        // Always read at least one block of new data, so a long partial line makes progress.
        match fill_block(&mut reader, &mut buf, block) {
            Ok(complete) => eof = !complete,
            Err(e) => {
                report.error = Some(format!(
                    "{} after {} bytes of log data (the lines before it are counted)",
                    crate::escape::text(&e.to_string()),
                    report.bytes + buf.len() as u64
                ));
                eof = true;
            }
        }
        let read_now = counter.load(Ordering::Relaxed);
        ctx.progress.inc(read_now - progress_seen);
        progress_seen = read_now;
        if skipping_oversize {
            match memchr::memchr(b'\n', &buf) {
                None => {
                    report.bytes += buf.len() as u64;
                    buf.clear();
                    carry = buf;
                    continue;
                }
                Some(i) => {
                    ctx.record_only(oversize_record(id, &mut seq));
                    skipping_oversize = false;
                    report.bytes += (i + 1) as u64;
                    buf.drain(..=i);
                    search_from = 0;
                }
            }
        }
        // `buf` starts at a line start; hand out whole lines, keep the partial last one.
        let cut = if eof {
            buf.len()
        } else {
            memchr::memrchr(b'\n', &buf[search_from..]).map_or(0, |i| search_from + i + 1)
        };
        let mut tail = if cut == 0 {
            // Still inside one line: keep growing the same buffer, no copy.
            std::mem::take(&mut buf)
        } else {
            let tail = buf[cut..].to_vec();
            buf.truncate(cut);
            tail
        };
        report.bytes += drop_nul_padding(&mut tail) as u64;
        if tail.len() > settings.max_line_bytes + 1 {
            // The line can only be oversize now (`+ 1` leaves room for a `\r`): forget it.
            report.bytes += tail.len() as u64;
            tail.clear();
            skipping_oversize = true;
        }
        carry = tail;
        if buf.is_empty() {
            continue;
        }
        report.bytes += buf.len() as u64;
        let fmt = *format.get_or_insert_with(|| {
            detect_format(
                &buf[..buf.len().min(DETECT_BYTES)],
                settings.utc,
                settings.max_line_bytes,
            )
        });
        let record = ChunkRecord::new(id, seq);
        seq += 1;
        if in_flight.load(Ordering::Acquire) < max_in_flight {
            in_flight.fetch_add(1, Ordering::AcqRel);
            let in_flight = in_flight.clone();
            scope.spawn(move |_| {
                ctx.scan(&buf, fmt, record);
                in_flight.fetch_sub(1, Ordering::AcqRel);
            });
        } else {
            // Back-pressure: too many blocks queued; scan this one ourselves.
            ctx.scan(&buf, fmt, record);
        }
    }
    if skipping_oversize {
        ctx.record_only(oversize_record(id, &mut seq));
    }
    report.format = format;
    if let StreamReader::Gzip(gz) = &reader {
        report.gzip_members = Some(gz.members);
        if gz.trailing_garbage > 0 {
            report.warnings.push(format!(
                "{} bytes of trailing garbage after the last gzip member were ignored",
                gz.trailing_garbage
            ));
        }
    }
}

/// A one-line record for a line too long to hold.
fn oversize_record(file: u32, seq: &mut u64) -> ChunkRecord {
    let mut record = ChunkRecord::new(file, *seq);
    *seq += 1;
    record.physical_lines = 1;
    record.note_malformed(1, Malformed::Oversize);
    record
}

/// Leading NULs of a line are padding the scanner ignores (copytruncate holes can be
/// gigabytes), so they need not be held; one is kept so the line still exists.
/// Returns how many bytes were dropped.
fn drop_nul_padding(carry: &mut Vec<u8>) -> usize {
    if carry.len() > 1 && carry[0] == 0 {
        let nuls = carry.iter().take_while(|&&b| b == 0).count();
        carry.drain(..nuls - 1);
        return nuls - 1;
    }
    0
}

/// Append up to `block` new bytes to `buf`. `Ok(true)`: the block is full; `Ok(false)`: end
/// of input. On error, `buf` keeps what was read before it.
fn fill_block(reader: &mut impl Read, buf: &mut Vec<u8>, block: usize) -> std::io::Result<bool> {
    let start = buf.len();
    buf.resize(start + block, 0);
    let mut filled = start;
    let result = loop {
        if filled == buf.len() {
            break Ok(true);
        }
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break Ok(false),
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => break Err(e),
        }
    };
    buf.truncate(filled);
    result
}
