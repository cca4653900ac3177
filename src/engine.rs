//! The parallel driver: inputs → sources → line-aligned chunks → per-thread aggregates.
//!
//! One rayon scope runs everything. Each input is a task; a mapped file spawns one task per
//! chunk, a stream (gzip, stdin, FIFO) is read by its own task, which hands line-aligned blocks
//! to the pool while it decodes the next one (inflate on one core, scan on the others).
//! Every worker thread owns one [`Aggregate`] slot, flushed into the shared [`Store`] whenever
//! its table reaches its share of [`FLUSH_ENTRIES_TOTAL`], and once more at the end.
//! Invariants: a block handed out always starts at a line start and ends after a `\n` or at
//! the end of input; a stream keeps at most a bounded number of blocks in flight (past that
//! the reader scans the block itself), so memory does not grow with the input; an input's
//! failure is recorded in its report and never stops the others.

use crate::agg::{
    Aggregate, ChunkRecord, FailedCodes, FLUSH_ENTRIES_MAX, FLUSH_ENTRIES_MIN, FLUSH_ENTRIES_TOTAL,
};
use crate::chunk::{boundary_within, chunk_start, last_boundary, slot_count};
use crate::input::overlap::{self, Overlap};
use crate::input::source::{self, Mapped, Source, Stream, StreamReader};
use crate::input::{Input, Kind};
use crate::merge::{Merged, Store};
use crate::scan::line::bom_len;
use crate::scan::{detect_format, Detector, Format, LineScanner, Malformed};
use indicatif::ProgressBar;
use rayon::prelude::*;
use std::io::Read;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Scanned blocks a stream keeps for reuse (2 is as fast as 4 on one .gz with 2 threads,
/// 0.57 s both, and keeps 8 MiB less per open stream).
const SPARE_BLOCKS: usize = 2;

/// A stream's block size when one thread does everything (see [`process_stream`]). On the
/// 2-core VM (1 MiB L2), one `.gz` of 1 GB with 1 thread, against 4 MiB: faster in 57 of 99
/// alternating rounds over seven sets, medians 2-10 % lower; 64, 128, 192 and 384 KiB no
/// faster than 4 MiB. With 2 threads 4 MiB stays better (the other core scans).
const ONE_THREAD_STREAM_BLOCK: usize = 256 * 1024;

/// A stream's first block, doubled at each block after it up to its full size: a block is
/// zeroed when allocated, and a whole 4 MiB block for each of 5,000 small `.gz` files took
/// 18 s with 2 threads (8.5 million page faults) where the text was 1 MB in all.
const FIRST_STREAM_BLOCK: usize = 64 * 1024;

/// Bytes after a mapped file's leading NUL padding in which its format is detected: its
/// first lines are usually in the first few KiB, but blank lines or long lines may come
/// first (a stream finds them in its first block with lines that vote).
const DETECT_BYTES: usize = 16 << 20;

/// NUL padding of a mapped file passed over at a time, its pages dropped after each.
const PADDING_WINDOW: usize = 4 << 20;

#[derive(Debug, Clone)]
pub struct ScanSettings {
    /// `None`: detect per file.
    pub format: Option<Format>,
    pub utc: bool,
    pub max_line_bytes: usize,
    pub failed: FailedCodes,
    /// Target size of a block of a stream, and of a chunk of a mapped file where the mapped
    /// bytes are few (see [`map_chunk_bytes`]).
    pub chunk_bytes: usize,
    /// The largest a mapped file's chunks grow to with the mapped bytes. Where it is not
    /// above `chunk_bytes` (0 for tests and `--chunk-size`), every chunk is `chunk_bytes`.
    pub map_chunk_max: usize,
    pub mmap: bool,
    /// The workers [`run`] starts ([`run_on`] uses its pool's).
    pub threads: usize,
    /// Skip content already present in another input (identical files, daily copies).
    pub dedupe: bool,
    /// Entries a worker's table holds before it is flushed into the store; `None`: the
    /// threads' share of [`FLUSH_ENTRIES_TOTAL`]. Tests set tiny values to flush often.
    pub flush_entries: Option<usize>,
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
    /// Index of the input whose content covers this one's first `duplicate_bytes` bytes.
    pub duplicate_of: Option<usize>,
    pub duplicate_bytes: u64,
    pub duplicate_lines: u64,
}

pub struct EngineOutput {
    pub aggregate: Merged,
    pub files: Vec<FileReport>,
}

#[derive(Clone, Copy)]
struct Ctx<'a> {
    slots: &'a [Mutex<Aggregate>],
    store: &'a Store,
    /// Stream blocks handed to the pool and not yet scanned, over all streams.
    blocks_in_flight: &'a AtomicUsize,
    settings: &'a ScanSettings,
    /// Target size of a chunk of a mapped file ([`map_chunk_bytes`]).
    map_chunk: usize,
    progress: &'a ProgressBar,
}

impl Ctx<'_> {
    /// Scan a chunk into the calling worker's own aggregate.
    fn scan(&self, data: &[u8], format: Format, mut record: ChunkRecord) {
        let index = rayon::current_thread_index().unwrap_or(0) % self.slots.len();
        let mut slot = self.slots[index]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let s = self.settings;
        let mut scanner = LineScanner::new(format, s.utc, s.max_line_bytes);
        // In pieces of a stream block's size, each ending a line, the table's size checked
        // after each: a table is sized for its flush size and what one such piece can add
        // past it. Checked only after a whole mapped chunk of 16 MiB, a million failing
        // clients a day peaked at 496-500 MiB against 366-415 with 4 MiB chunks.
        let piece = s.chunk_bytes.max(1);
        let mut rest = data;
        while !rest.is_empty() {
            let cut = match rest.len() > piece {
                true => memchr::memchr(b'\n', &rest[piece - 1..]).map_or(rest.len(), |i| piece + i),
                false => rest.len(),
            };
            let (lines, after) = rest.split_at(cut);
            slot.scan_lines(lines, &mut scanner, &s.failed, &mut record);
            if slot.needs_flush() {
                slot.flush(self.store);
            }
            rest = after;
        }
        slot.finish_chunk(record);
    }

    fn record_only(&self, record: ChunkRecord) {
        let index = rayon::current_thread_index().unwrap_or(0) % self.slots.len();
        let mut slot = self.slots[index]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        slot.chunks.push(record);
    }
}

/// A regular file's mapping and whether it is gzip (then it is mapped for `--dedupe` only).
type MappedInput = Option<(Arc<Mapped>, bool)>;

pub fn run(
    inputs: &[Input],
    settings: &ScanSettings,
    progress: &ProgressBar,
) -> anyhow::Result<EngineOutput> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(settings.threads.max(1))
        .build()?;
    run_on(&pool, inputs, settings, progress)
}

/// [`run`] on `pool` (its threads, not `settings.threads`, are the workers).
pub fn run_on(
    pool: &rayon::ThreadPool,
    inputs: &[Input],
    settings: &ScanSettings,
    progress: &ProgressBar,
) -> anyhow::Result<EngineOutput> {
    let threads = pool.current_num_threads();
    // The per-thread tables share one memory budget: more threads, smaller tables (down to
    // `FLUSH_ENTRIES_MIN`, the size each of 16 threads gets). Two threads get the one-thread
    // size each: a day of ~44k failing clients then needs no flush during the scan, whose
    // re-interned targets and second runs cost more than the scan with a larger table gains
    // (1 GB, 2 threads: ~10 ms of ~200).
    let flush_size = settings
        .flush_entries
        .unwrap_or((FLUSH_ENTRIES_TOTAL / threads).clamp(FLUSH_ENTRIES_MIN, FLUSH_ENTRIES_MAX));
    // Each worker builds its own slot (slot i is worker i's: see `Ctx::scan`): a table's
    // index is written zeros up front (2 MiB at 64k entries), which the main thread did for
    // every worker, one after the other, before the scan began.
    let slots: Vec<Mutex<Aggregate>> = pool
        .broadcast(|_| Mutex::new(Aggregate::with_flush_size(flush_size)))
        .into_iter()
        .collect();
    let store = Store::for_workers(threads);
    let reports: Vec<Mutex<FileReport>> = inputs
        .iter()
        .map(|input| {
            Mutex::new(FileReport {
                path: input.display(),
                ..Default::default()
            })
        })
        .collect();
    let blocks_in_flight = AtomicUsize::new(0);
    // Map regular files up front: their bytes decide duplicates before any scan starts. At
    // most `map_budget()` of them: each map is one of the process' limited memory mappings
    // (`vm.max_map_count`, 65530 by default), and 70,000 inputs used them all up, so an
    // allocation failed and the run aborted. The rest are read as streams, not compared.
    let budget = map_budget();
    let mut mapped = 0usize;
    let mut over_budget = vec![false; inputs.len()];
    let mut maps: Vec<MappedInput> = inputs.iter().map(|_| None).collect();
    // The files, and stdin where it may be a redirected file (held as the file is, and
    // scanned from there: so only where maps are scanned). `None` is stdin.
    let files: Vec<(usize, Option<&std::path::Path>)> = inputs
        .iter()
        .enumerate()
        .filter_map(|(id, input)| match input {
            // Not a FIFO or device: opened, this process would be one of its readers.
            Input::File(p, Kind::Regular) if settings.mmap || settings.dedupe => {
                Some((id, Some(p.as_path())))
            }
            Input::Stdin if settings.mmap => Some((id, None)),
            _ => None,
        })
        .collect();
    let hold = |path: Option<&std::path::Path>| -> MappedInput {
        let (held, gzip) = match path {
            Some(p) => source::map_file(p)?,
            None => (source::hold_stdin()?, false),
        };
        Some((Arc::new(held), gzip))
    };
    // In parallel (20,000 small files took 0.18 s one after the other), in batches of what
    // the budget has left: the files held are the first ones, as one after the other.
    let mut next = 0;
    while next < files.len() && mapped < budget {
        let batch = &files[next..files.len().min(next + (budget - mapped))];
        let held: Vec<MappedInput> =
            pool.install(|| batch.par_iter().map(|&(_, p)| hold(p)).collect());
        for (&(id, _), m) in batch.iter().zip(held) {
            mapped += m.is_some() as usize;
            maps[id] = m;
        }
        next += batch.len();
    }
    // (Stdin past the budget is a stream, as it always was: no warning for it.)
    for &(id, path) in &files[next..] {
        over_budget[id] = path.is_some();
    }
    crate::stage_done("inputs held");
    let streamed = over_budget.iter().filter(|&&o| o).count();
    let files_mapped = match mapped {
        1 => "1 file is mapped".to_string(),
        n => format!("{n} files are mapped"),
    };
    if streamed > 0 {
        crate::stderr_line!(
            "logwarden: warning: {} inputs: {files_mapped}{}, the most this system allows one run; the other {streamed} are read as streams{}",
            inputs.len(),
            match settings.dedupe {
                true => " and compared for duplicates",
                false => "",
            },
            match settings.dedupe {
                true => ", not compared: a copy of another input among them is counted again",
                false => "",
            }
        );
    }
    // A mapped file of another compressor is an error, decided here once, whichever way it
    // would be read; it takes no part in duplicate detection (one copy of it was a duplicate,
    // with no error, with `--no-mmap` only). (A stream finds it when it opens: `source`.)
    let foreign: Vec<Option<String>> = maps
        .iter()
        .map(|m| {
            m.as_ref()
                .and_then(|(m, _)| source::foreign_compression(&m.map[..m.map.len().min(16)]))
        })
        .collect();
    // A `.gz` input that starts as another input does (a daily copy compressed beside the
    // next copy, or beside its own plain file) is decoded whole first, so its text takes
    // part in duplicate detection as a plain file's does; it is then scanned from there.
    let (decoded, mut not_compared) = match settings.dedupe {
        true => decode_gzip_candidates(pool, inputs, &maps, &foreign, budget - mapped),
        false => (0..inputs.len()).map(|_| (None, None)).unzip(),
    };
    // Each streamed input says so too, in the report (stderr alone was lost to a mailed
    // or scheduled report); not one that is empty, or alone, which no copy can concern.
    if settings.dedupe && inputs.len() > 1 {
        for (id, why) in not_compared.iter_mut().enumerate() {
            let Input::File(path, _) = &inputs[id] else {
                continue;
            };
            // Only the streamed ones are looked at: a stat for each of 70,000 inputs is not.
            if over_budget[id] && std::fs::metadata(path).map_or(true, |m| m.len() > 0) {
                *why = Some(format!(
                    "{} (a copy of another input counts again): {files_mapped}, the most this system allows one run, and this one is read as a stream",
                    crate::summary::NOT_COMPARED
                ));
            }
        }
    }
    // The bar counts a decoded input's text as it is scanned, not its compressed bytes.
    for d in decoded.iter().flatten() {
        let total = progress.length().unwrap_or(0) + d.mapped.map.len() as u64;
        progress.set_length(total.saturating_sub(d.file_bytes));
    }
    let overlaps = if settings.dedupe {
        let contents: Vec<Option<(&[u8], bool)>> = maps
            .iter()
            .zip(&foreign)
            .zip(&decoded)
            .map(|((m, foreign), decoded)| match decoded {
                Some(d) => Some((&d.mapped.map[..], true)),
                None => m
                    .as_ref()
                    .filter(|_| foreign.is_none())
                    .map(|(m, gzip)| (&m.map[..], !*gzip)),
            })
            .collect();
        // The comparisons read whole files (a chain of daily copies: all of them), and their
        // pages stayed in our page tables: 786 MiB for seven copies of a 210 MB log. Dropped
        // as they go (they stay in the page cache); a scan faults in what it reads again.
        // Not the inputs read into memory: there the advice would zero their bytes.
        let mut read_whole: Vec<std::ops::Range<usize>> = maps
            .iter()
            .flatten()
            .filter(|(m, _)| !m.is_map())
            .map(|(m, _)| m.map.as_ptr_range())
            .map(|r| r.start as usize..r.end as usize)
            .collect();
        read_whole.sort_unstable_by_key(|r| r.start);
        let forget = |window: &[u8]| {
            let at = window.as_ptr() as usize;
            let i = read_whole.partition_point(|r| r.start <= at);
            if i > 0 && read_whole[i - 1].contains(&at) {
                return;
            }
            // SAFETY: every other slice of `contents` is a read-only shared file mapping (an
            // input's, or the temporary file of a decoded `.gz`), and `plan_with` hands back
            // parts of them.
            unsafe { forget_pages(window) }
        };
        let plan = overlap::plan_with(&contents, &forget);
        crate::stage_done("duplicate detection");
        plan
    } else {
        vec![Overlap::default(); inputs.len()]
    };
    let mapped_bytes = maps
        .iter()
        .flatten()
        .filter(|(_, gzip)| !gzip)
        .map(|(m, _)| m.map.len())
        .chain(decoded.iter().flatten().map(|d| d.mapped.map.len()))
        .sum();
    let ctx = Ctx {
        slots: &slots,
        store: &store,
        blocks_in_flight: &blocks_in_flight,
        settings,
        map_chunk: map_chunk_bytes(settings, threads, mapped_bytes),
        progress,
    };
    let decoded: Vec<Mutex<Option<source::Decoded>>> =
        decoded.into_iter().map(Mutex::new).collect();
    let decoded = &decoded;
    let not_compared = &not_compared;
    // Each input task takes its map: once its last chunk is scanned the file is unmapped,
    // so no file stays mapped (or resident in our page tables) past its own scan.
    let maps: Vec<Mutex<MappedInput>> = maps.into_iter().map(Mutex::new).collect();
    let maps = &maps;
    let overlaps = &overlaps;
    let foreign = &foreign;
    pool.scope(|scope| {
        // Spawned last to first: a worker runs its own newest task first, so one thread
        // opens the inputs in their order (FIFOs fed one after the other hung: the last was
        // opened first while its writer waited on the first); other threads steal the oldest.
        for (id, input) in inputs.iter().enumerate().rev() {
            let report = &reports[id];
            scope.spawn(move |scope| {
                let mut r = FileReport {
                    path: input.display(),
                    ..Default::default()
                };
                let taken = lock(&maps[id]).take();
                if let Some(d) = lock(&decoded[id]).take() {
                    drop(taken);
                    let overlap = &overlaps[id];
                    // Cut short where another input holds all it has: a copy of it (skipped
                    // whole), or one that goes on past its end (its partial last line is
                    // completed there, whichever of the two is scanned for the lines they
                    // share). The figures miss nothing of it, whatever the inputs' order.
                    let held_elsewhere = overlap.skip >= overlap.stop.unwrap_or(d.mapped.map.len())
                        || overlap.continued_in.is_some();
                    let text = Some(Arc::new(d.mapped));
                    process_input(
                        scope,
                        ctx,
                        id as u32,
                        input,
                        text,
                        &overlaps[id],
                        None,
                        &mut r,
                    );
                    r.compressed = true;
                    r.file_bytes = Some(d.file_bytes);
                    r.gzip_members = Some(d.members);
                    r.warnings.extend(d.garbage_warning);
                    match d.error {
                        Some(e) if held_elsewhere => r.warnings.push(format!(
                            "{e}; another input holds all of its text, so the figures miss nothing"
                        )),
                        Some(e) if r.error.is_none() => r.error = Some(e),
                        _ => {}
                    }
                    *report.lock().unwrap_or_else(|p| p.into_inner()) = r;
                    return;
                }
                if let Some(why) = &not_compared[id] {
                    r.warnings.push(why.clone());
                }
                if let (Some(why), Some((m, _))) = (&foreign[id], &taken) {
                    r.file_bytes = Some(m.map.len() as u64);
                    r.error = Some(why.clone());
                    *report.lock().unwrap_or_else(|p| p.into_inner()) = r;
                    return;
                }
                // The file as the inputs were compared: a stream read later reads that one.
                // (With `--keep-duplicates` nothing was compared: a stream reads its path.)
                let compared =
                    taken
                        .as_ref()
                        .filter(|_| settings.dedupe)
                        .map(|(m, gzip)| Compared {
                            len: m.map.len() as u64,
                            file_id: m.file_id,
                            gzip: *gzip,
                        });
                let map = taken
                    .filter(|(_, gzip)| !gzip && settings.mmap)
                    .map(|(m, _)| m);
                let overlap = &overlaps[id];
                process_input(scope, ctx, id as u32, input, map, overlap, compared, &mut r);
                *report.lock().unwrap_or_else(|p| p.into_inner()) = r;
            });
        }
    });
    crate::stage_done("scan");
    // In parallel: each worker's last flush sorts its table and re-interns its names (the
    // store only adds the runs).
    pool.install(|| {
        slots.into_par_iter().for_each(|slot| {
            slot.into_inner()
                .unwrap_or_else(|p| p.into_inner())
                .flush_all(&store);
        })
    });
    crate::stage_done("flush of the last tables");
    let (waited, held) = store.lock_times();
    crate::timing_note(format_args!(
        "store lock waited {waited:.3} s, held {held:.3} s (all threads)"
    ));
    let aggregate = pool.install(|| store.finish());
    crate::stage_done("store finished");
    release_free_memory();
    let files = reports
        .into_iter()
        .map(|m| m.into_inner().unwrap_or_else(|p| p.into_inner()))
        .collect();
    Ok(EngineOutput { aggregate, files })
}

/// The `.gz` inputs among `maps` whose decoded text starts with the same first line as
/// another input's, decoded whole into temporary files (in parallel); or, where one of them
/// had no room, decodes to too much, or they are more than `maps_left` more maps allow,
/// none, and a warning for each. One that is corrupt is decoded up to where it breaks off,
/// which its error says; one corrupt from its start is left to be read as a stream.
#[allow(clippy::type_complexity)]
fn decode_gzip_candidates(
    pool: &rayon::ThreadPool,
    inputs: &[Input],
    maps: &[MappedInput],
    foreign: &[Option<String>],
    maps_left: usize,
) -> (Vec<Option<source::Decoded>>, Vec<Option<String>>) {
    let usable = |i: usize| maps[i].as_ref().filter(|_| foreign[i].is_none());
    let gz_heads: Vec<Option<Vec<u8>>> = pool.install(|| {
        (0..maps.len())
            .into_par_iter()
            .map(|i| {
                usable(i)
                    .filter(|(_, gzip)| *gzip)
                    .map(|(m, _)| source::gzip_head(&m.map, overlap::HEAD_BYTES))
            })
            .collect()
    });
    if gz_heads.iter().all(Option::is_none) {
        return (0..maps.len()).map(|_| (None, None)).unzip();
    }
    let heads: Vec<Option<&[u8]>> = (0..maps.len())
        .map(|i| match (&gz_heads[i], usable(i)) {
            (Some(head), _) => Some(&head[..]),
            (None, Some((m, false))) => Some(&m.map[..]),
            _ => None,
        })
        .collect();
    let candidates = overlap::may_share_content(&heads);
    let is_candidate = |i: usize| candidates[i] && gz_heads[i].is_some();
    // Each decoded text is one more mapping: within what the inputs left of the budget.
    let wanted = (0..maps.len()).filter(|&i| is_candidate(i)).count();
    let results: Vec<Result<Option<source::Decoded>, String>> = match wanted <= maps_left {
        false => vec![Err(format!(
            "{wanted} of them start like another input, more than can be mapped besides the inputs ({maps_left})"
        ))],
        true => pool.install(|| {
            (0..maps.len())
                .into_par_iter()
                .map(|i| {
                    let Some((m, true)) = usable(i).filter(|_| is_candidate(i)) else {
                        return Ok(None);
                    };
                    let decoded = source::decode_to_temp(&m.map, &inputs[i].display());
                    // Read whole, its pages leave our page tables (it is not read again).
                    m.forget_range(0, m.map.len());
                    match decoded {
                        Ok(d) => Ok(Some(d)),
                        Err(source::NotDecoded::Unreadable) => Ok(None),
                        Err(source::NotDecoded::NoTempFile(why)) => Err(format!(
                            "no temporary file for its text in {} ({why}; set TMPDIR to a folder with room)",
                            crate::escape::path(&std::env::temp_dir())
                        )),
                        Err(source::NotDecoded::TooLarge(limit)) => Err(format!(
                            "{} decodes to over {limit} bytes (a gzip bomb?)",
                            inputs[i].display()
                        )),
                    }
                })
                .collect()
        }),
    };
    // All or none: two identical `.gz` files, one decoded and one not, compare as text
    // against compressed bytes, never equal, and both would count. Without decoding, they
    // are compared by their compressed bytes, as before.
    let Some(why) = results.iter().find_map(|r| r.as_ref().err()) else {
        return results
            .into_iter()
            .map(|r| (r.ok().flatten(), None))
            .unzip();
    };
    let warning = format!(
        "{} by its text, only by its compressed bytes (a copy in another form counts again): {why}",
        crate::summary::NOT_COMPARED
    );
    (0..maps.len())
        .map(|i| (None, is_candidate(i).then(|| warning.clone())))
        .unzip()
}

/// Drop the whole pages within `data` from this process' page tables (`MADV_DONTNEED`).
/// Best effort.
///
/// # Safety
/// `data` must lie in a live, read-only shared file mapping: its pages are faulted in again,
/// with the same bytes, when next read. On private or heap memory the bytes would be lost.
unsafe fn forget_pages(data: &[u8]) {
    let page = page_size();
    // Inward to whole pages: the kernel would widen a partial page at the end.
    let start = (data.as_ptr() as usize).next_multiple_of(page);
    let end = (data.as_ptr() as usize + data.len()) / page * page;
    if start < end {
        // SAFETY: pages within `data`, which the caller promises is such a mapping.
        unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED) };
    }
}

/// The system's page size (4 KiB where it cannot be read).
fn page_size() -> usize {
    static PAGE: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    // SAFETY: sysconf only reads a system value.
    *PAGE.get_or_init(|| match unsafe { libc::sysconf(libc::_SC_PAGESIZE) } {
        size if size > 0 => size as usize,
        _ => 4096,
    })
}

/// How many inputs may be mapped at once: half the system's mappings a process may have
/// (the rest for the allocator, thread stacks, libraries), or `LOGWARDEN_MAP_BUDGET` (tests).
fn map_budget() -> usize {
    if let Some(n) = std::env::var("LOGWARDEN_MAP_BUDGET")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        return n;
    }
    std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .map_or(30_000, |max| max / 2)
}

/// A regular file as it was when the inputs were compared (mapped for it).
#[derive(Debug, Clone, Copy)]
struct Compared {
    len: u64,
    file_id: source::FileId,
    gzip: bool,
}

#[allow(clippy::too_many_arguments)]
fn process_input<'s>(
    scope: &rayon::Scope<'s>,
    ctx: Ctx<'s>,
    id: u32,
    input: &'s Input,
    map: Option<Arc<Mapped>>,
    overlap: &Overlap,
    compared: Option<Compared>,
    report: &mut FileReport,
) {
    let path = match input {
        Input::Unusable(_, why) => {
            report.error = Some(why.clone());
            return;
        }
        Input::Stdin => None,
        Input::File(p, _) => Some(p.as_path()),
    };
    report.duplicate_of = overlap.covered_by;
    // Not scanned, but passed: the bar's total counts them.
    ctx.progress.inc(overlap.skip as u64);
    report.duplicate_bytes = overlap.skip as u64;
    report.duplicate_lines = overlap.skip_lines;
    if let Some(later) = overlap.continued_in {
        report.warnings.push(format!(
            "the last line is incomplete; it is counted in input #{}, where it goes on",
            later + 1
        ));
    }
    // Skipped duplicate lines still occupy line numbers: one record keeps the numbering physical.
    let mut first_seq = 0;
    if overlap.skip_lines > 0 {
        let mut record = ChunkRecord::new(id, 0);
        record.physical_lines = overlap.skip_lines;
        ctx.record_only(record);
        first_seq = 1;
    }
    if let Some(mapped) = map {
        let end = overlap.stop.unwrap_or(mapped.map.len());
        if overlap.skip >= end {
            // Identical to another input: nothing left to read.
            report.file_bytes = Some(mapped.map.len() as u64);
            return;
        }
        return process_mapped(scope, ctx, id, mapped, overlap.skip..end, first_seq, report);
    }
    let counter = Arc::new(AtomicU64::new(0));
    // A compared file is read as it was compared, as a mapped one is: the same file (not one
    // renamed over its path since), up to its size then (growth since is not read; so two
    // hard links of a growing file, one found a copy of the other, count its lines once).
    // `sized`: the size it must keep while read, and the bytes of it to read.
    let mut sized: Option<(u64, u64)> = None;
    // The file being read, to ask its size while read (not its path's).
    let mut size_now: Option<std::fs::File> = None;
    let opened = match (path, compared) {
        (Some(p), Some(then)) => {
            let (file, file_len) = match source::open_same(p, then.file_id) {
                Ok(opened) => opened,
                Err(e) => {
                    report.error = Some(crate::escape::text(&format!("{e:#}")));
                    return;
                }
            };
            report.file_bytes = Some(then.len);
            if file_len < then.len {
                // Shorter now than when the inputs were compared: cut since, and the plan of
                // what another input holds no longer fits it.
                report.file_bytes = Some(file_len);
                report.error = Some(format!(
                    "the file shrank before it was read (truncated by another process? {} bytes when the inputs were compared, {file_len} now)",
                    then.len
                ));
                return;
            }
            if overlap.skip as u64 >= then.len {
                // Identical to another input: nothing left to read. A copy of a `.gz` is one
                // too (its lines are counted from the original's).
                report.compressed = then.gzip;
                return;
            }
            size_now = file.try_clone().ok();
            match then.gzip {
                // Decoded whole (a `.gz` is only ever skipped whole).
                true => source::open_file(file, p, false, counter.clone()),
                false => {
                    let end = overlap.stop.map_or(then.len, |s| s as u64);
                    sized = Some((then.len, end.saturating_sub(overlap.skip as u64)));
                    let skip = overlap.skip as u64;
                    source::plain_range(file, skip, end, then.len, counter.clone())
                }
            }
        }
        _ => source::open(path, false, counter.clone()),
    };
    match opened {
        Err(e) => report.error = Some(crate::escape::text(&format!("{e:#}"))),
        Ok(Source::Mapped(mapped)) => {
            let len = mapped.map.len();
            process_mapped(scope, ctx, id, Arc::new(mapped), 0..len, first_seq, report)
        }
        Ok(Source::Stream(stream)) => {
            // A plain regular file is read to the size it had when compared or opened (its
            // range of it): ending short while it is now smaller than then, it was cut while
            // read (copytruncate), which must not pass as a whole file. (A file that only ends
            // before its stated size, as some in /sys do, is not smaller afterwards.) A `.gz`
            // cut short is already a truncated stream.
            let sized = match (path, stream.file_bytes) {
                (Some(_), Some(len)) if !stream.reader.is_gzip() => sized.or(Some((len, len))),
                _ => None,
            };
            process_stream(scope, ctx, id, *stream, counter.clone(), first_seq, report);
            let read = counter.load(Ordering::Relaxed);
            // (An input not compared is looked at by its path: opening a FIFO again would
            // make this process one of its readers.)
            let now = || {
                let meta = match &size_now {
                    Some(file) => file.metadata().ok(),
                    None => path.and_then(|p| std::fs::metadata(p).ok()),
                };
                meta.map_or(0, |m| m.len())
            };
            let cut = sized.filter(|&(at_open, expected)| {
                read < expected && report.error.is_none() && now() < at_open
            });
            if let Some((_, expected)) = cut {
                report.error = Some(format!(
                    "the file shrank while it was read (truncated by another process? {expected} bytes to read when opened, {read} read) after {} bytes of log data (the lines before it are counted)",
                    report.bytes
                ));
            }
        }
    }
}

fn process_mapped<'s>(
    scope: &rayon::Scope<'s>,
    ctx: Ctx<'s>,
    id: u32,
    mapped: Arc<Mapped>,
    range: std::ops::Range<usize>,
    first_seq: u64,
    report: &mut FileReport,
) {
    report.file_bytes = Some(mapped.map.len() as u64);
    let base = range.start;
    let data: &[u8] = &mapped.map[range];
    let format = ctx
        .settings
        .format
        .unwrap_or_else(|| detect_mapped(&mapped, base, data, ctx.settings));
    report.format = Some(format);
    report.bytes = data.len() as u64;
    let len = data.len();
    let target = ctx.map_chunk;
    // Spawned last to first: a worker runs its own spawns newest first, so it reads the file
    // front to back, the order MADV_SEQUENTIAL and readahead expect.
    for slot in (0..slot_count(data.len(), target)).rev() {
        let mapped = mapped.clone();
        // Two numbers a slot: its lines, then the long line it may end with.
        let seq = first_seq + 2 * slot as u64;
        scope.spawn(move |_| {
            let data = &mapped.map[base..base + len];
            let slot_start = slot * target;
            // Drop the scanned pages from our page tables (they stay in the page cache), so
            // RSS is bounded by the chunks in flight, not the file size. The range covers the
            // byte before the slot (`nth_chunk` reads it) and is widened to whole 2 MiB blocks:
            // the kernel maps a large page-cache folio whole, so touching one byte there maps
            // up to 2 MiB of a neighbour's pages, which its own DONTNEED may already have
            // passed (measured: 12 % of a file stayed mapped without this). A neighbour still
            // scanning there just faults its pages back in. A range within one block (slots
            // under 2 MiB, a test option) drops only its own whole pages, and the block goes
            // with the range that reaches past its end: widening every tiny slot made
            // `--chunk-size 1` cost 2 MiB of page-table work a byte (15 s for a 2 MB line).
            let drop_pages = |from: usize, to: usize| {
                let widen = 2 << 20;
                let from = (base + from).saturating_sub(1);
                let to = base + to;
                let within_one_block = from / widen == to.saturating_sub(1) / widen;
                let (from, to) = if within_one_block && to < mapped.map.len() {
                    let page = page_size();
                    (from.next_multiple_of(page), to / page * page)
                } else {
                    let to = to.div_ceil(widen).saturating_mul(widen);
                    (from / widen * widen, to.min(mapped.map.len()))
                };
                mapped.forget_range(from, to.saturating_sub(from));
            };
            // Boundaries are found here, not up front (see `chunk::nth_chunk`), and the end
            // only a long line's length ahead: a longer line is read window by window.
            let long_after = ctx.settings.max_line_bytes.saturating_add(LONG_LINE_MARGIN);
            let Some(local) = chunk_start(data, slot, target) else {
                // Inside a line that started in an earlier slot (which reads it).
                drop_pages(slot_start, (slot_start + target).min(len));
                return;
            };
            let (lines_end, long_line) =
                match boundary_within(data, slot_start + target, long_after) {
                    Some(end) => (end, false),
                    // The slot ends inside a line longer than any line is allowed to be: its lines
                    // up to that line, then the line itself.
                    None => (last_boundary(data, local, slot_start + target), true),
                };
            if local < lines_end {
                let range = base + local..base + lines_end;
                // The scan faults its pages in (64 KiB or a whole large folio a fault); no
                // MADV_POPULATE_READ ahead: it walks the chunk page by page, and took 0.05-0.07
                // s a GB against 0.03 s for the faults (BENCHMARKS.md, sixteenth session).
                ctx.scan(&mapped.map[range], format, ChunkRecord::new(id, seq));
            }
            drop_pages(slot_start.min(local), lines_end);
            let mut end = lines_end;
            if long_line {
                end = scan_long_line(
                    ctx,
                    data,
                    lines_end,
                    format,
                    ChunkRecord::new(id, seq + 1),
                    &drop_pages,
                );
            }
            ctx.progress.inc((end - local) as u64);
        });
    }
}

/// Chunks each thread gets of the mapped bytes, at least, before chunks grow past
/// [`ScanSettings::chunk_bytes`]: enough that the last ones end the threads' scans close
/// together.
const MAP_CHUNKS_PER_THREAD: usize = 32;

/// The bytes of the chunks all threads scan at once, past which chunks do not grow: a
/// chunk's pages stay mapped until it is scanned, so larger chunks add no file pages to RSS
/// beyond this. From 16 threads on, chunks stay at [`ScanSettings::chunk_bytes`], as before
/// they could grow.
const MAP_CHUNKS_IN_FLIGHT: usize = 64 << 20;

/// Target size of a chunk of a mapped file, for `mapped_bytes` in all on `threads` threads:
/// [`ScanSettings::chunk_bytes`], or larger, up to [`ScanSettings::map_chunk_max`], where every
/// thread still gets [`MAP_CHUNKS_PER_THREAD`] and the threads' chunks together stay within
/// [`MAP_CHUNKS_IN_FLIGHT`]. Each chunk's pages are dropped after its scan (`MADV_DONTNEED`),
/// which with more than one thread interrupts every other core to flush its TLB, and a
/// chunk's drop is widened to whole 2 MiB blocks that its neighbours fault in again: on
/// 1 GB with 2 threads, 16 MiB chunks were 1.6-2.9 % faster than 4 MiB ones, and 2.2 % on
/// the 10 GB set, whose peak RSS (after the scan) did not move. The cost is the pages a chunk
/// keeps mapped until its end, ~8 MiB more a thread where the peak is in the scan (1 GB:
/// 39.5 -> 56 MiB with 2 threads; a million failing clients a day: 391-433 MiB in 8 runs
/// against 366-415 in 5; BENCHMARKS.md, twenty-second session).
fn map_chunk_bytes(settings: &ScanSettings, threads: usize, mapped_bytes: usize) -> usize {
    let floor = settings.chunk_bytes.max(1);
    let threads = threads.max(1);
    let share = (mapped_bytes / threads.saturating_mul(MAP_CHUNKS_PER_THREAD))
        .min(MAP_CHUNKS_IN_FLIGHT / threads);
    share.clamp(floor, settings.map_chunk_max.max(floor))
}

/// Bytes past a slot's nominal end, beyond `--max-line-bytes`, within which its last line
/// must end to be read as part of the chunk; past that it is a long line, read window by
/// window ([`scan_long_line`]).
const LONG_LINE_MARGIN: usize = 1 << 20;

/// Windows a long line is read in, its pages dropped after each.
const LONG_LINE_WINDOW: usize = 4 << 20;

/// One physical line starting at `start`, longer than a chunk's reach: read window by window,
/// each window's pages dropped after it, so it is never mapped whole. After its leading NUL
/// padding it is scanned as any line when it fits `--max-line-bytes`; otherwise it is blank
/// (spaces and tabs only) or `oversize`, as [`LineScanner::scan`] decides. Returns its end
/// (after its `\n`, or the data's end).
fn scan_long_line(
    ctx: Ctx<'_>,
    data: &[u8],
    start: usize,
    format: Format,
    mut record: ChunkRecord,
    drop_pages: &dyn Fn(usize, usize),
) -> usize {
    let mut content = None; // first byte after the NUL padding
    let mut body = None; // first byte after the padding and a byte order mark
    let mut first_non_blank = None;
    let mut at = start;
    let end = loop {
        let window = &data[at..data.len().min(at + LONG_LINE_WINDOW)];
        let newline = memchr::memchr(b'\n', window);
        let part = &window[..newline.unwrap_or(window.len())];
        if content.is_none() {
            if let Some(i) = part.iter().position(|&b| b != 0) {
                content = Some(at + i);
                // A mark may run into the next window: read where it lies (`\n` ends it).
                body = Some(at + i + bom_len(&data[at + i..]));
            }
        }
        if let (None, Some(body)) = (first_non_blank, body) {
            let from = body.saturating_sub(at).min(part.len());
            first_non_blank = part[from..]
                .iter()
                .position(|&b| b != b' ' && b != b'\t')
                .map(|i| at + from + i);
        }
        drop_pages(at, at + window.len());
        match newline {
            Some(i) => break at + i + 1,
            None if at + window.len() >= data.len() => break data.len(),
            None => at += window.len(),
        }
    };
    let line_end = match data[..end].last() {
        Some(b'\n') => end - 1,
        _ => end,
    };
    // `LineScanner::scan`'s order: a trailing `\r` dropped, then the NUL padding, then a
    // byte order mark.
    let body_end = match data[..line_end].last() {
        Some(b'\r') if line_end > start => line_end - 1,
        _ => line_end,
    };
    let content = content.unwrap_or(line_end).min(body_end);
    let body = body.unwrap_or(line_end).min(body_end);
    let blank = first_non_blank.is_none_or(|b| b >= body_end);
    let fits = body_end - body <= ctx.settings.max_line_bytes;
    if fits && content < end {
        // Short once its padding is dropped: the scanner decides, on the bytes after it.
        ctx.scan(&data[content..end], format, record);
    } else {
        // Oversize, or blank (padding only, at the end of the data, is blank too).
        record.physical_lines = 1;
        match fits || blank {
            true => record.blank = 1,
            false => record.note_malformed(1, Malformed::Oversize),
        }
        ctx.record_only(record);
    }
    end
}

fn process_stream<'s>(
    scope: &rayon::Scope<'s>,
    ctx: Ctx<'s>,
    id: u32,
    stream: Stream,
    counter: Arc<AtomicU64>,
    first_seq: u64,
    report: &mut FileReport,
) {
    let Stream {
        mut reader,
        file_bytes,
    } = stream;
    report.compressed = reader.is_gzip();
    report.file_bytes = file_bytes;
    let settings = ctx.settings;
    // One thread inflates and scans each block in turn: a block that fits in the core's L2
    // is still there when it is scanned (a 4 MiB one went out to L3 between the two).
    let full_block = match settings.threads {
        1 => settings.chunk_bytes.min(ONE_THREAD_STREAM_BLOCK),
        _ => settings.chunk_bytes,
    }
    .max(1);
    let mut block = full_block.min(FIRST_STREAM_BLOCK);
    // One budget for all streams together: with 16 gzip files open at once, a budget per
    // stream let 16 x 34 blocks queue up (2.5 GB measured on 16 cores with --no-mmap).
    let max_in_flight = settings.threads * 2 + 2;
    let in_flight = ctx.blocks_in_flight;
    let mut format = settings.format;
    let mut detector = format
        .is_none()
        .then(|| Detector::new(settings.utc, settings.max_line_bytes));
    let mut held: Vec<(Vec<u8>, usize, ChunkRecord)> = Vec::new();
    // Where the stream's front (`cur[0]`) is, in bytes of the input, and where its first
    // byte that is not NUL padding was: the detection window is measured from there.
    let mut front = 0u64;
    let mut first_non_nul: Option<u64> = None;
    let note = |at: u64, consumed: &[u8], first_non_nul: &mut Option<u64>| {
        if first_non_nul.is_none() {
            if let Some(i) = consumed.iter().position(|&b| b != 0) {
                *first_non_nul = Some(at + i as u64);
            }
        }
    };
    let mut handed_out = false;
    let mut seq = first_seq;
    // A line past `--max-line-bytes` is not held: its bytes are skipped up to its `\n`.
    let mut skipping = Skipping::No;
    let mut progress_seen = 0u64;
    let mut eof = false;
    // Blocks come back here after scanning: no allocation, page faults or zeroing per block.
    let pool: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
    // Scan a block on the pool (or here, past the blocks allowed in flight) and keep it for
    // reuse.
    let dispatch = |data: Vec<u8>, cut: usize, fmt: Format, record: ChunkRecord| {
        let scan_and_recycle = {
            let pool = pool.clone();
            move |data: Vec<u8>| {
                ctx.scan(&data[..cut], fmt, record);
                // Keep a few blocks for reuse, not every block ever in flight: with many
                // streams open at once, those spares were most of the memory.
                let mut spare = lock(&pool);
                if spare.len() < SPARE_BLOCKS {
                    spare.push(data);
                }
            }
        };
        if in_flight.load(Ordering::Acquire) < max_in_flight {
            in_flight.fetch_add(1, Ordering::AcqRel);
            scope.spawn(move |_| {
                scan_and_recycle(data);
                in_flight.fetch_sub(1, Ordering::AcqRel);
            });
        } else {
            // Back-pressure: too many blocks queued; scan this one ourselves.
            scan_and_recycle(data);
        }
    };
    // `cur[..cur_len]` is the partial line carried over; new data is read after it.
    let mut cur: Vec<u8> = Vec::new();
    let mut cur_len = 0usize;

    while !eof {
        // The carried bytes are one partial line: only new bytes can end it. Searching only
        // those keeps a long line linear instead of quadratic.
        let mut search_from = cur_len;
        let need = cur_len + block;
        if cur.len() < need {
            cur.resize(need, 0);
        }
        // Always read at least one block of new data, so a long partial line makes progress.
        match fill_block(&mut reader, &mut cur[..need], &mut cur_len) {
            Ok(complete) => eof = !complete,
            Err(e) => {
                report.error = Some(format!(
                    "{} after {} bytes of log data (the lines before it are counted)",
                    crate::escape::text(&e.to_string()),
                    report.bytes + cur_len as u64
                ));
                eof = true;
            }
        }
        block = block.saturating_mul(2).min(full_block);
        let read_now = counter.load(Ordering::Relaxed);
        ctx.progress.inc(read_now - progress_seen);
        progress_seen = read_now;
        if skipping != Skipping::No {
            let newline = memchr::memchr(b'\n', &cur[..cur_len]);
            skipping = skipping.then(&cur[..newline.unwrap_or(cur_len)]);
            let skipped = newline.map_or(cur_len, |i| i + 1);
            note(front, &cur[..skipped], &mut first_non_nul);
            front += skipped as u64;
            match newline {
                None => {
                    report.bytes += cur_len as u64;
                    cur_len = 0;
                    continue;
                }
                Some(i) => {
                    ctx.record_only(skipped_record(id, &mut seq, skipping));
                    handed_out = true;
                    skipping = Skipping::No;
                    report.bytes += (i + 1) as u64;
                    cur.copy_within(i + 1..cur_len, 0);
                    cur_len -= i + 1;
                    search_from = 0;
                }
            }
        }
        // `cur` starts at a line start; hand out whole lines, keep the partial last one.
        let cut = if eof {
            cur_len
        } else {
            memchr::memrchr(b'\n', &cur[search_from..cur_len]).map_or(0, |i| search_from + i + 1)
        };
        let block_at = front;
        if cut > 0 {
            note(front, &cur[..cut], &mut first_non_nul);
            front += cut as u64;
        }
        let data = if cut == 0 {
            None
        } else {
            // The partial last line moves to a recycled block; this one is handed out.
            let tail = cur_len - cut;
            let mut next = lock(&pool).pop().unwrap_or_default();
            if next.len() < tail + block {
                next.resize(tail + block, 0);
            }
            next[..tail].copy_from_slice(&cur[cut..cur_len]);
            cur_len = tail;
            Some(std::mem::replace(&mut cur, next))
        };
        let dropped = drop_nul_padding(&mut cur, &mut cur_len);
        report.bytes += dropped as u64;
        front += dropped as u64;
        // What the scanner will not count of this line: the NUL kept of its padding, a byte
        // order mark after it, and a `\r` its `\n` may still follow. Saturating: the largest
        // cap asked for is no cap. (Past the cap, at least 64 bytes, a mark is all here.)
        let kept_nul = usize::from(cur_len > 0 && cur[0] == 0);
        let bom = bom_len(&cur[kept_nul..cur_len]);
        let uncounted = 1 + kept_nul + bom;
        if cur_len > settings.max_line_bytes.saturating_add(uncounted) {
            // The line can only be oversize now, or blank (spaces and tabs, of any length):
            // forget its bytes, and see which at its end.
            skipping = Skipping::MaybeBlank { cr: false }.then(&cur[kept_nul + bom..cur_len]);
            note(front, &cur[..cur_len], &mut first_non_nul);
            front += cur_len as u64;
            report.bytes += cur_len as u64;
            cur_len = 0;
        }
        let Some(data) = data else { continue };
        report.bytes += cut as u64;
        handed_out = true;
        let record = ChunkRecord::new(id, seq);
        seq += 1;
        // Detected from the file's first lines that vote, within DETECT_BYTES after its
        // padding, as a mapped file's: blocks with such lines wait until there are enough
        // (so at most DETECT_LINES blocks wait); a block without one holds only blank and
        // oversize lines, which read the same in any layout, and is scanned at once.
        if let Some(d) = detector.as_mut() {
            let votes = d.votes();
            // The block's part in the window (whole lines, as `detect_window` takes them).
            let pad = first_non_nul.unwrap_or(block_at);
            let window_end = pad.saturating_add(DETECT_BYTES as u64);
            let lo = (pad.saturating_sub(block_at) as usize).min(cut);
            let in_window = (window_end.saturating_sub(block_at) as usize).min(cut);
            let hi = match in_window < cut {
                false => cut,
                true => memchr::memrchr(b'\n', &data[lo..in_window]).map_or(lo, |i| lo + i + 1),
            };
            d.feed(&data[lo..hi]);
            if !d.done() && block_at + (cut as u64) < window_end {
                match d.votes() > votes {
                    true => held.push((data, cut, record)),
                    false => dispatch(data, cut, Format::Combined, record),
                }
                continue;
            }
            format = d.format();
            detector = None;
            let fmt = format.unwrap_or(Format::Combined);
            for (data, cut, record) in held.drain(..) {
                dispatch(data, cut, fmt, record);
            }
        }
        dispatch(data, cut, format.unwrap_or(Format::Combined), record);
    }
    // The input ended before enough lines voted: those that did decide.
    if let Some(d) = detector {
        format = d.format();
        let fmt = format.unwrap_or(Format::Combined);
        for (data, cut, record) in held.drain(..) {
            dispatch(data, cut, fmt, record);
        }
    }
    if skipping != Skipping::No {
        ctx.record_only(skipped_record(id, &mut seq, skipping));
        handed_out = true;
    }
    report.format = format.or(handed_out.then_some(Format::Combined));
    if let StreamReader::Gzip(gz) = &reader {
        report.gzip_members = Some(gz.members);
        report.warnings.extend(source::garbage_warning(gz));
    }
}

/// The format of a mapped file (see [`detect_format`]): from the first lines after its
/// leading NUL padding (a copytruncate hole: the first line's, which the scanner ignores),
/// within [`DETECT_BYTES`]. Pages read beyond the usual first few are dropped again, so a
/// long hole is not held in memory.
fn detect_mapped(mapped: &Mapped, base: usize, data: &[u8], s: &ScanSettings) -> Format {
    let drop_pages = |from: usize, to: usize| {
        let (from, to) = ((base + from) & !4095, (base + to).min(mapped.map.len()));
        mapped.forget_range(from, to - from);
    };
    let mut start = 0;
    while start < data.len() && data[start] == 0 {
        let window = &data[start..data.len().min(start + PADDING_WINDOW)];
        let nuls = window.iter().position(|&b| b != 0).unwrap_or(window.len());
        drop_pages(start, start + nuls);
        start += nuls;
    }
    let window = detect_window(&data[start..]);
    let (format, looked_at) = detect_format(window, s.utc, s.max_line_bytes);
    if looked_at > 1 << 20 {
        drop_pages(start, start + looked_at);
    }
    format.unwrap_or(Format::Combined)
}

/// The whole lines of `from_padding` (a file's bytes after its leading NUL padding) that
/// end within [`DETECT_BYTES`], where mapped files and streams alike look for the format.
fn detect_window(from_padding: &[u8]) -> &[u8] {
    if from_padding.len() <= DETECT_BYTES {
        return from_padding;
    }
    let head = &from_padding[..DETECT_BYTES];
    &head[..memchr::memrchr(b'\n', head).map_or(0, |i| i + 1)]
}

/// Hand the allocator's free pages back to the kernel. The workers' tables and the merged-away
/// runs leave tens of MB free inside glibc's per-thread arenas, which the summary (allocated
/// on another thread) would not reuse; without this they stay in the peak RSS.
fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free heap pages to the kernel.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// A line of a stream too long to hold, being skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Skipping {
    No,
    Oversize,
    /// Only spaces and tabs so far (after its kept NUL), as the scanner's blank line; `cr`:
    /// the last byte was a `\r`, which only the line's end may follow.
    MaybeBlank {
        cr: bool,
    },
}

impl Skipping {
    /// The state after the next `bytes` of the line (none of them its `\n`).
    fn then(self, bytes: &[u8]) -> Skipping {
        match self {
            Skipping::MaybeBlank { cr } if !cr || bytes.is_empty() => {
                let (body, cr) = match bytes.split_last() {
                    Some((&b'\r', body)) => (body, true),
                    _ => (bytes, cr && bytes.is_empty()),
                };
                match body.iter().all(|&b| b == b' ' || b == b'\t') {
                    true => Skipping::MaybeBlank { cr },
                    false => Skipping::Oversize,
                }
            }
            Skipping::No => Skipping::No,
            _ => Skipping::Oversize,
        }
    }
}

/// A one-line record for a skipped line: blank, or malformed as too long to hold.
fn skipped_record(file: u32, seq: &mut u64, skipped: Skipping) -> ChunkRecord {
    let mut record = ChunkRecord::new(file, *seq);
    *seq += 1;
    record.physical_lines = 1;
    match skipped {
        Skipping::MaybeBlank { .. } => record.blank = 1,
        _ => record.note_malformed(1, Malformed::Oversize),
    }
    record
}

/// Leading NULs of a line are padding the scanner ignores (copytruncate holes can be
/// gigabytes), so they need not be held; one is kept so the line still exists.
/// Returns how many bytes were dropped from `buf[..len]`.
fn drop_nul_padding(buf: &mut [u8], len: &mut usize) -> usize {
    if *len > 1 && buf[0] == 0 {
        let nuls = buf[..*len].iter().take_while(|&&b| b == 0).count();
        buf.copy_within(nuls - 1..*len, 0);
        *len -= nuls - 1;
        return nuls - 1;
    }
    0
}

/// Read into `buf[*filled..]` until it is full (`Ok(true)`) or the input ends (`Ok(false)`).
/// On error, `*filled` still counts what was read before it.
fn fill_block(reader: &mut impl Read, buf: &mut [u8], filled: &mut usize) -> std::io::Result<bool> {
    while *filled < buf.len() {
        match reader.read(&mut buf[*filled..]) {
            Ok(0) => return Ok(false),
            Ok(n) => *filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(chunk_bytes: usize, map_chunk_max: usize) -> ScanSettings {
        ScanSettings {
            format: None,
            utc: false,
            max_line_bytes: 1 << 20,
            failed: FailedCodes::new(&crate::config::DEFAULT_CODES),
            chunk_bytes,
            map_chunk_max,
            mmap: true,
            threads: 2,
            dedupe: true,
            flush_entries: None,
        }
    }

    #[test]
    #[cfg(target_pointer_width = "64")]
    fn map_chunks_grow_with_the_mapped_bytes_per_thread_up_to_the_maximum() {
        const MIB: usize = 1 << 20;
        let auto = settings(4 * MIB, 16 * MIB);
        // Few bytes: the stream block size.
        assert_eq!(map_chunk_bytes(&auto, 2, 0), 4 * MIB);
        assert_eq!(map_chunk_bytes(&auto, 2, 100 * MIB), 4 * MIB);
        // 32 chunks a thread at least: 640 MiB on 2 threads is 10 MiB chunks.
        assert_eq!(map_chunk_bytes(&auto, 2, 640 * MIB), 10 * MIB);
        assert_eq!(map_chunk_bytes(&auto, 1, 1024 * MIB), 16 * MIB);
        assert_eq!(map_chunk_bytes(&auto, 16, 1024 * MIB), 4 * MIB);
        // At most 64 MiB of chunks in flight: 8 threads 8 MiB, 16 threads 4 MiB.
        assert_eq!(map_chunk_bytes(&auto, 4, 16 * 1024 * MIB), 16 * MIB);
        assert_eq!(map_chunk_bytes(&auto, 8, 16 * 1024 * MIB), 8 * MIB);
        assert_eq!(map_chunk_bytes(&auto, 16, 16 * 1024 * MIB), 4 * MIB);
        // A fixed size (`--chunk-size`, tests): every chunk is that size.
        let fixed = settings(1, 0);
        assert_eq!(map_chunk_bytes(&fixed, 2, 16 * 1024 * MIB), 1);
        assert_eq!(map_chunk_bytes(&settings(64 * MIB, 0), 2, 0), 64 * MIB);
        // Zero threads (never asked for) and a zero size still give a size.
        assert_eq!(map_chunk_bytes(&settings(0, 0), 0, 1024 * MIB), 1);
    }
}
