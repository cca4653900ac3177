//! The merge stage: per-thread tables → a few sorted runs per day.
//!
//! Workers flush their per-client tables here as runs: vectors sorted by client, one per day,
//! with hostnames and request targets re-interned into the store's own id tables (targets in
//! 64 shards when several workers flush, so they do not queue for one lock). A day's runs
//! are merged as they arrive during the scan, like a binary counter (the newest run is merged
//! into the one below it while that one is at most twice its size), so a day holds O(log n)
//! runs and an entry is merged O(log n) times. Merges run outside the store's locks. The
//! workers' last flushes only add their runs: a day ends with its stack plus one run per
//! worker, which the summary reads as one k-way merge split by client ranges over all threads
//! (merged here, two by two, they were a serial step after the scan). A sorted vector has no
//! hash-table slack, so a (day, client) entry costs its ~100 bytes, and memory grows with the
//! distinct failing clients per day, not with the input.
//!
//! Invariant: a run never holds a client twice, and merging runs is associative and
//! commutative ([`ClientDay::merge_with`]), so what the runs hold together does not depend on
//! flush sizes, thread counts or the order of flushes ([`Merged::merged_clients`]).

use crate::agg::{
    path_hash, Aggregate, ChunkRecord, ClientDay, ClientKey, DayCounts, Flush, Interner, PathTable,
    PATH_MAX_BYTES,
};
use crate::scan::time::DayNum;
use ahash::AHashMap;
use rayon::prelude::*;
use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Instant;

/// Clients of one day (or one run of it), ascending by client, each at most once.
pub type Run = Vec<(ClientKey, ClientDay)>;

/// Where workers flush; shared by reference. Workers hold its locks only for short steps:
/// id lookups share a read lock, and the sorting and merging run outside the locks (a merge
/// reads a target's text under its shard's read lock only on a 64-bit hash tie).
pub struct Store {
    inner: Mutex<Inner>,
    hosts: RwLock<Interner>,
    /// Request targets, in `1 << path_shard_bits` shards by text: several workers flush
    /// mostly new targets (scanners probe random paths), and one table's lock made them
    /// queue. A store id is `(id in its shard << path_shard_bits) | shard`, so a shard holds
    /// at most `1 << (32 - path_shard_bits)` targets: 4 billion in all, the bound u32 ids
    /// set on one table too.
    paths: Vec<RwLock<PathTable>>,
    path_shard_bits: u32,
    /// Whether lock times are measured (`LOGWARDEN_TIMINGS`).
    timed: bool,
    waited_ns: AtomicU64,
    held_ns: AtomicU64,
}

/// Path shards of a store that several workers flush into.
pub const PATH_SHARD_BITS: u32 = 6;

impl Default for Store {
    /// A store for one worker: one path table, whose ids are the store's as they are.
    fn default() -> Self {
        Store::with_path_shards(0)
    }
}

impl Store {
    /// A store for the given number of workers.
    pub fn for_workers(workers: usize) -> Self {
        Store::with_path_shards(if workers > 1 { PATH_SHARD_BITS } else { 0 })
    }

    /// A store with `1 << bits` path shards.
    pub fn with_path_shards(bits: u32) -> Self {
        Store {
            inner: Mutex::default(),
            hosts: RwLock::default(),
            paths: (0..1 << bits).map(|_| RwLock::default()).collect(),
            path_shard_bits: bits,
            timed: crate::timings_enabled(),
            waited_ns: AtomicU64::new(0),
            held_ns: AtomicU64::new(0),
        }
    }
}

/// A lock guard that adds its hold time up when dropped (with `LOGWARDEN_TIMINGS`).
struct Timed<'a, G> {
    guard: G,
    got: Option<Instant>,
    held_ns: &'a AtomicU64,
}

impl<G: std::ops::Deref> std::ops::Deref for Timed<'_, G> {
    type Target = G::Target;
    fn deref(&self) -> &G::Target {
        &self.guard
    }
}

impl<G: std::ops::DerefMut> std::ops::DerefMut for Timed<'_, G> {
    fn deref_mut(&mut self) -> &mut G::Target {
        &mut self.guard
    }
}

impl<G> Drop for Timed<'_, G> {
    fn drop(&mut self) {
        if let Some(got) = self.got {
            add_nanos(self.held_ns, got.elapsed());
        }
    }
}

fn add_nanos(total: &AtomicU64, d: std::time::Duration) {
    let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
    total.fetch_add(nanos, AtomicOrdering::Relaxed);
}

/// An id table the store keeps (hostnames, request targets).
trait IdTable: Default {
    fn get(&self, name: &[u8]) -> Option<u32>;
    fn intern(&mut self, name: &[u8]) -> u32;
    fn name(&self, id: u32) -> &[u8];
    fn len(&self) -> usize;
}

impl IdTable for Interner {
    fn get(&self, name: &[u8]) -> Option<u32> {
        Interner::get(self, name)
    }
    fn intern(&mut self, name: &[u8]) -> u32 {
        Interner::intern(self, name)
    }
    fn name(&self, id: u32) -> &[u8] {
        Interner::name(self, id)
    }
    fn len(&self) -> usize {
        Interner::len(self)
    }
}

impl IdTable for PathTable {
    fn get(&self, name: &[u8]) -> Option<u32> {
        PathTable::get(self, name)
    }
    fn intern(&mut self, name: &[u8]) -> u32 {
        PathTable::intern(self, name)
    }
    fn name(&self, id: u32) -> &[u8] {
        PathTable::name(self, id)
    }
    fn len(&self) -> usize {
        PathTable::len(self)
    }
}

#[derive(Default)]
struct Inner {
    days: AHashMap<DayNum, DayCounts>,
    /// Per day, runs of decreasing size (the binary counter), then the workers' last runs
    /// in any order.
    runs: BTreeMap<DayNum, Vec<Run>>,
    chunks: Vec<ChunkRecord>,
}

/// The merged result of a whole analysis.
#[derive(Debug, Default)]
pub struct Merged {
    /// Parsed, failed and 400 lines per day.
    pub days: BTreeMap<DayNum, DayCounts>,
    /// Failing clients per day, as sorted runs (a client may be in several runs of a day;
    /// see [`Merged::merged_clients`]); a day without failed requests has no entry.
    pub clients: BTreeMap<DayNum, Vec<Run>>,
    pub hosts: Interner,
    pub paths: PathNames,
    pub chunks: Vec<ChunkRecord>,
}

/// The request targets of a finished store, read by the store's ids (see [`Store`]).
#[derive(Debug, Default)]
pub struct PathNames {
    shards: Vec<PathTable>,
    bits: u32,
}

impl PathNames {
    pub fn name(&self, id: u32) -> &[u8] {
        let (shard, at) = split_path_id(id, self.bits);
        self.shards.get(shard).map_or(&[][..], |t| t.name(at))
    }

    /// Start fetching where `id`'s text is (then [`Self::prefetch_name`], then read it).
    #[inline(always)]
    pub fn prefetch_span(&self, id: u32) {
        let (shard, at) = split_path_id(id, self.bits);
        if let Some(t) = self.shards.get(shard) {
            t.prefetch_span_of(at);
        }
    }

    /// Start fetching `id`'s text (its span should be in cache).
    #[inline(always)]
    pub fn prefetch_name(&self, id: u32) {
        let (shard, at) = split_path_id(id, self.bits);
        if let Some(t) = self.shards.get(shard) {
            t.prefetch_name_of(at);
        }
    }

    /// Order two ids by their text.
    pub fn cmp(&self, a: u32, b: u32) -> Ordering {
        self.name(a).cmp(self.name(b))
    }

    /// One more than the largest id (ids have gaps when the store was sharded).
    pub fn id_bound(&self) -> usize {
        let mut bound = 0;
        for (shard, t) in self.shards.iter().enumerate() {
            if let Some(last) = t.len().checked_sub(1) {
                bound = bound.max((last << self.bits | shard) + 1);
            }
        }
        bound
    }

    /// Distinct targets.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|t| t.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Merged {
    /// The sorted runs holding `day`'s failing clients.
    pub fn runs_of(&self, day: DayNum) -> Vec<&[(ClientKey, ClientDay)]> {
        self.clients
            .get(&day)
            .map_or_else(Vec::new, |runs| runs.iter().map(|r| &r[..]).collect())
    }

    /// The failing clients of `day` as one run, ascending by client (its runs merged).
    pub fn merged_clients(&self, day: DayNum) -> Run {
        self.runs_of(day)
            .into_iter()
            .map(<[_]>::to_vec)
            .reduce(|a, b| merge_runs(a, b, |x, y| self.paths.cmp(x, y)))
            .unwrap_or_default()
    }
}

impl Store {
    /// Take `agg`'s table (leaving it empty; a mid-run flush keeps its allocation, the last
    /// gives it away as a run) as runs with this store's ids.
    pub(crate) fn absorb_table(&self, agg: &mut Aggregate, how: Flush) {
        // The first table to arrive hands over its id tables whole (its ids become the
        // store's: a one-thread run re-interns nothing); later ones are mapped.
        let host_ids = self.global_ids(&self.hosts, &mut agg.hosts);
        let path_ids = self.global_path_ids(&mut agg.paths);
        let remap = |ids: &Option<Vec<u32>>, id: u32| match ids {
            Some(ids) => ids.get(id as usize).copied().unwrap_or(id),
            None => id,
        };
        let by_day = agg.table.take_runs(
            |client| match client {
                ClientKey::Host(id) => ClientKey::Host(remap(&host_ids, id)),
                ip => ip,
            },
            |detail| {
                for p in &mut detail.paths {
                    p.id = remap(&path_ids, p.id);
                }
            },
            how,
        );
        // The binary counter: while the run on top of the day's stack is at most twice as
        // large as ours, take it and merge. The merge itself runs outside the lock (with 16
        // workers, merging under it left them queueing). Ours is compared with whatever is
        // on top when we come back, so the stack stays in decreasing size order even when
        // another worker pushed or popped meanwhile. A last flush only adds its runs on top,
        // in any order (the summary merges a day's runs on every thread).
        for (day, mut run) in by_day {
            if how == Flush::Last {
                self.lock().runs.entry(day).or_default().push(run);
                continue;
            }
            loop {
                let below = {
                    let mut inner = self.lock();
                    let stack = inner.runs.entry(day).or_default();
                    match stack.last() {
                        Some(top) if top.len() <= 2 * run.len() => stack.pop(),
                        _ => {
                            stack.push(run);
                            break;
                        }
                    }
                };
                let Some(below) = below else { break };
                run = merge_runs(below, run, |a, b| self.cmp_path_names(a, b));
            }
        }
    }

    /// The store's ids for the names of `local`, by local id; `None` when `local` became
    /// the store's table (the first to arrive).
    fn global_ids<T: IdTable>(&self, global: &RwLock<T>, local: &mut T) -> Option<Vec<u32>> {
        if read(global).len() == 0 {
            let mut table = self.timed(|| write(global));
            if table.len() == 0 {
                std::mem::swap(&mut *table, local);
                return None;
            }
        }
        let mut ids = vec![u32::MAX; local.len()];
        self.intern_into(global, local, 0..local.len() as u32, &mut ids, |id| id);
        Some(ids)
    }

    /// Like [`Self::global_ids`] for request targets: with shards, each shard's names are
    /// interned under that shard's locks only.
    fn global_path_ids(&self, local: &mut PathTable) -> Option<Vec<u32>> {
        let bits = self.path_shard_bits;
        if bits == 0 {
            return self.global_ids(&self.paths[0], local);
        }
        let mut by_shard: Vec<(u32, u32)> = (0..local.len() as u32)
            .map(|id| (path_shard(local.name(id), bits), id))
            .collect();
        by_shard.sort_unstable();
        let mut ids = vec![u32::MAX; local.len()];
        for group in by_shard.chunk_by(|a, b| a.0 == b.0) {
            let shard = group[0].0;
            if let Some(table) = self.paths.get(shard as usize) {
                let members = group.iter().map(|&(_, id)| id);
                self.intern_into(table, local, members, &mut ids, |id| id << bits | shard);
            }
        }
        Some(ids)
    }

    /// Set `ids[m]` to `store_id(id in global)` of the name of each local id `m` of
    /// `members`. Most names are known after the first flushes: they are looked up under
    /// the shared lock, and only new ones are interned under the exclusive one.
    fn intern_into<T: IdTable>(
        &self,
        global: &RwLock<T>,
        local: &T,
        members: impl Iterator<Item = u32>,
        ids: &mut [u32],
        store_id: impl Fn(u32) -> u32,
    ) {
        let mut missing = Vec::new();
        {
            let table = self.timed_shared(|| read(global));
            for id in members {
                match table.get(local.name(id)) {
                    Some(found) => {
                        if let Some(slot) = ids.get_mut(id as usize) {
                            *slot = store_id(found);
                        }
                    }
                    None => missing.push(id),
                }
            }
        }
        if !missing.is_empty() {
            let mut table = self.timed(|| write(global));
            for id in missing {
                if let Some(slot) = ids.get_mut(id as usize) {
                    *slot = store_id(table.intern(local.name(id)));
                }
            }
        }
    }

    /// Order two path ids of the store by their text (asked only on a 64-bit hash tie).
    fn cmp_path_names(&self, a: u32, b: u32) -> Ordering {
        let ((shard_a, at_a), (shard_b, at_b)) = (
            split_path_id(a, self.path_shard_bits),
            split_path_id(b, self.path_shard_bits),
        );
        let (Some(shard_a), Some(shard_b)) = (self.paths.get(shard_a), self.paths.get(shard_b))
        else {
            return a.cmp(&b);
        };
        // One shard lock at a time (a copy of the first name; targets are short).
        let mut first = [0u8; PATH_MAX_BYTES];
        let len = {
            let table = read(shard_a);
            let name = table.name(at_a);
            let len = name.len().min(first.len());
            first[..len].copy_from_slice(&name[..len]);
            len
        };
        first[..len].cmp(read(shard_b).name(at_b))
    }

    /// The store's run and count lock (see [`Self::timed`]).
    fn lock(&self) -> Timed<'_, MutexGuard<'_, Inner>> {
        self.timed(|| lock(&self.inner))
    }

    /// Take an exclusive lock with `take`; with `LOGWARDEN_TIMINGS`, how long workers wait
    /// for the store's locks and hold them exclusively is added up (see [`Self::lock_times`]).
    fn timed<G>(&self, take: impl FnOnce() -> G) -> Timed<'_, G> {
        let guard = self.timed_shared(take);
        Timed {
            guard,
            got: self.timed.then(Instant::now),
            held_ns: &self.held_ns,
        }
    }

    /// [`Self::timed`] for a shared lock: its wait counts, its hold does not (it holds up
    /// no other reader).
    fn timed_shared<G>(&self, take: impl FnOnce() -> G) -> G {
        let asked = self.timed.then(Instant::now);
        let guard = take();
        if let Some(asked) = asked {
            add_nanos(&self.waited_ns, asked.elapsed());
        }
        guard
    }

    /// Seconds workers waited for the store's locks and held them, summed over all threads
    /// (zero unless `LOGWARDEN_TIMINGS` is set).
    pub fn lock_times(&self) -> (f64, f64) {
        let secs = |a: &AtomicU64| a.load(AtomicOrdering::Relaxed) as f64 / 1e9;
        (secs(&self.waited_ns), secs(&self.held_ns))
    }

    /// Add a worker's day counts and chunk records.
    pub(crate) fn absorb_counts(
        &self,
        days: AHashMap<DayNum, DayCounts>,
        mut chunks: Vec<ChunkRecord>,
    ) {
        let mut inner = self.lock();
        for (day, counts) in days {
            inner.days.entry(day).or_default().add(&counts);
        }
        inner.chunks.append(&mut chunks);
    }

    /// The merged result: each day's runs as they are (the summary merges them), the
    /// request-target shards frozen in parallel on the current rayon pool.
    pub fn finish(self) -> Merged {
        let inner = self.inner.into_inner().unwrap_or_else(|p| p.into_inner());
        let hosts = self.hosts.into_inner().unwrap_or_else(|p| p.into_inner());
        // The shards stay as they are: the report reads names through the store's ids
        // (copying 600k+ targets into one table took 85 ms on one thread).
        let paths = PathNames {
            shards: self
                .paths
                .into_par_iter()
                .map(|t| {
                    // Only read from now on; the memory goes to the report.
                    let mut t = t.into_inner().unwrap_or_else(|p| p.into_inner());
                    t.freeze();
                    t
                })
                .collect(),
            bits: self.path_shard_bits,
        };
        let clients: BTreeMap<DayNum, Vec<Run>> = inner
            .runs
            .into_iter()
            .map(|(day, mut runs)| {
                runs.retain(|r| !r.is_empty());
                (day, runs)
            })
            .filter(|(_, runs)| !runs.is_empty())
            .collect();
        Merged {
            days: inner.days.into_iter().collect(),
            clients,
            hosts,
            paths,
            chunks: inner.chunks,
        }
    }
}

/// Merge two runs of one day into one (a client in both is merged into one entry).
/// `cmp_names` orders two path ids by their text (see [`ClientDay::merge_with`]).
pub fn merge_runs(a: Run, b: Run, cmp_names: impl Fn(u32, u32) -> Ordering) -> Run {
    if a.is_empty() {
        return b;
    }
    if b.is_empty() {
        return a;
    }
    let mut out: Run = Vec::with_capacity(a.len() + b.len());
    let mut a = a.into_iter().peekable();
    let mut b = b.into_iter().peekable();
    loop {
        let order = match (a.peek(), b.peek()) {
            (Some(x), Some(y)) => x.0.cmp(&y.0),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => break,
        };
        match order {
            Ordering::Less => out.extend(a.next()),
            Ordering::Greater => out.extend(b.next()),
            Ordering::Equal => {
                if let (Some((client, mut x)), Some((_, y))) = (a.next(), b.next()) {
                    x.merge_with(&y, &cmp_names);
                    out.push((client, x));
                }
            }
        }
    }
    // Shared clients leave the reserve unused: give it back (a shrink stays in place).
    out.shrink_to_fit();
    out
}

/// A store path id as (shard, id in the shard): see [`Store`].
fn split_path_id(id: u32, bits: u32) -> (usize, u32) {
    ((id & ((1u32 << bits) - 1)) as usize, id >> bits)
}

/// The shard of a request target: the low bits of its fixed hash. Not the top bits: the
/// kept targets are the ones with the smallest hashes (the bottom-k sample), whose top bits
/// are mostly zero.
fn path_shard(name: &[u8], bits: u32) -> u32 {
    (path_hash(name) as u32) & ((1u32 << bits) - 1)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn read<T>(m: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn write<T>(m: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    m.write().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agg::FailedCodes;
    use crate::scan::{Format, LineScanner};

    /// Scan `text` in the given pieces, each into its own aggregate that flushes whenever
    /// its table holds `flush_at` entries, all into one store.
    fn merged(pieces: &[&[u8]], flush_at: usize) -> Merged {
        merged_with(pieces, flush_at, 0, false)
    }

    /// [`merged`] into a store with `1 << shard_bits` path shards; with `threaded`, each
    /// piece is scanned and flushed on its own thread, all at once.
    fn merged_with(pieces: &[&[u8]], flush_at: usize, shard_bits: u32, threaded: bool) -> Merged {
        let store = Store::with_path_shards(shard_bits);
        let failed = FailedCodes::new(&[400, 401, 403, 404, 409]);
        let scan_piece = |seq: usize, piece: &[u8]| {
            let mut agg = Aggregate::with_flush_size(flush_at);
            let mut scanner = LineScanner::new(Format::Combined, false, 1 << 20);
            // Line by line, so small flush sizes flush in the middle of a piece.
            for line in piece.split_inclusive(|&b| b == b'\n') {
                agg.scan_chunk(line, &mut scanner, &failed, ChunkRecord::new(0, seq as u64));
                if agg.needs_flush() {
                    agg.flush(&store);
                }
            }
            agg.flush_all(&store);
        };
        if threaded {
            std::thread::scope(|s| {
                for (seq, piece) in pieces.iter().enumerate() {
                    s.spawn(move || scan_piece(seq, piece));
                }
            });
        } else {
            for (seq, piece) in pieces.iter().enumerate() {
                scan_piece(seq, piece);
            }
        }
        store.finish()
    }

    type View = Vec<(
        DayNum,
        String,
        i64,
        i64,
        Vec<(u16, u64)>,
        Vec<(Vec<u8>, u32)>,
    )>;

    /// Everything in the merged tables, with ids resolved to names.
    fn view(m: &Merged) -> View {
        let mut v: View = Vec::new();
        for &day in m.clients.keys() {
            for run in m.runs_of(day) {
                assert!(
                    run.windows(2).all(|w| w[0].0 < w[1].0),
                    "each run sorted, no client twice"
                );
            }
            for (client, d) in &m.merged_clients(day) {
                let name = match client {
                    ClientKey::Ip(ip) => format!("{}", u128::from(*ip)),
                    ClientKey::Host(id) => String::from_utf8_lossy(m.hosts.name(*id)).into_owned(),
                };
                let paths = d
                    .paths
                    .iter()
                    .map(|p| (m.paths.name(p.id).to_vec(), p.count))
                    .collect();
                v.push((
                    day,
                    name,
                    d.first.utc_secs,
                    d.last.utc_secs,
                    d.statuses.to_vec(),
                    paths,
                ));
            }
        }
        v.sort();
        v
    }

    #[test]
    fn hosts_and_paths_are_reinterned() {
        let a = b"a.example - - [19/Jun/2023:10:00:00 +0000] \"GET /x\" 404 1\n";
        let b = b"b.example - - [19/Jun/2023:10:00:01 +0000] \"GET /y\" 404 1\n\
A.example - - [19/Jun/2023:10:00:02 +0000] \"GET /y\" 401 1\n";
        let m = merged(&[a, b], usize::MAX);
        assert_eq!((m.hosts.len(), m.paths.len()), (2, 2));
        // Sharded: the same names, read through the shards.
        let sharded = merged_with(&[a, b], usize::MAX, PATH_SHARD_BITS, false);
        assert_eq!((sharded.hosts.len(), sharded.paths.len()), (2, 2));
        assert_eq!(view(&sharded), view(&m));
        let day = crate::scan::time::days_from_civil(2023, 6, 19);
        let t0 = day as i64 * 86_400 + 36_000;
        let mut got = view(&m);
        // Kept paths are in bottom-k (hash) order; compare them by name.
        for e in &mut got {
            e.5.sort();
        }
        let want: View = vec![
            (
                day,
                "a.example".into(),
                t0,
                t0 + 2,
                vec![(401, 1), (404, 1)],
                vec![(b"/x".to_vec(), 1), (b"/y".to_vec(), 1)],
            ),
            (
                day,
                "b.example".into(),
                t0 + 1,
                t0 + 1,
                vec![(404, 1)],
                vec![(b"/y".to_vec(), 1)],
            ),
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn sharded_ids_name_and_order_every_target() {
        let store = Store::with_path_shards(PATH_SHARD_BITS);
        let names: Vec<Vec<u8>> = (0..300).map(|i| format!("/p{i}").into_bytes()).collect();
        let mut local = PathTable::default();
        for n in &names {
            local.intern(n);
        }
        let ids = store
            .global_path_ids(&mut local)
            .expect("a sharded store maps ids");
        let mask = (1u32 << PATH_SHARD_BITS) - 1;
        let shards: std::collections::BTreeSet<u32> = ids.iter().map(|id| id & mask).collect();
        assert_eq!(
            shards.len(),
            1 << PATH_SHARD_BITS,
            "300 targets reach every shard"
        );
        // A second table with some of the same names maps them to the same ids.
        let mut again = PathTable::default();
        again.intern(&names[7]);
        again.intern(b"/new");
        again.intern(&names[299]);
        let more = store.global_path_ids(&mut again).expect("mapped");
        assert_eq!((more[0], more[2]), (ids[7], ids[299]));
        for i in (0..names.len()).step_by(7) {
            for j in (0..names.len()).step_by(11) {
                assert_eq!(
                    store.cmp_path_names(ids[i], ids[j]),
                    names[i].cmp(&names[j]),
                    "{i} {j}"
                );
            }
        }
        let merged = store.finish();
        assert_eq!(merged.paths.len(), 301);
        let bound = merged.paths.id_bound();
        for (id, name) in ids.iter().zip(&names) {
            assert_eq!(merged.paths.name(*id), &name[..]);
            assert!((*id as usize) < bound);
        }
        assert_eq!(merged.paths.name(more[1]), b"/new");
    }

    proptest::proptest! {
        #[test]
        fn merge_is_independent_of_pieces_flushes_and_order(
            lines in proptest::collection::vec((0u8..4, 0u8..14, 0u8..60, 0u8..3, 0u8..3), 1..80),
            cuts in proptest::collection::vec(0usize..80, 0..6),
            flush_at in 1usize..6,
            reverse in proptest::bool::ANY,
            shard_bits in proptest::sample::select(vec![0u32, 1, 3, PATH_SHARD_BITS]),
            threaded in proptest::bool::ANY,
        ) {
            let text: Vec<String> = lines.iter().map(|(c, p, s, h, d)| {
                let client = if *h == 0 { format!("Host{c}.example") } else { format!("10.0.0.{c}") };
                let status = [404, 401, 400][*p as usize % 3];
                format!("{client} - - [{:02}/Jun/2023:10:{s:02}:00 +0000] \"GET /x{p} HTTP/1.1\" {status} 1\n", 19 + d)
            }).collect();
            let whole = text.concat();
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (text.len() + 1)).collect();
            cuts.push(0);
            cuts.push(text.len());
            cuts.sort_unstable();
            let mut pieces: Vec<String> = cuts.windows(2).map(|w| text[w[0]..w[1]].concat()).collect();
            if reverse {
                pieces.reverse();
            }
            let pieces: Vec<&[u8]> = pieces.iter().map(|p| p.as_bytes()).collect();
            let expected = merged(&[whole.as_bytes()], usize::MAX);
            let got = merged_with(&pieces, flush_at, shard_bits, threaded);
            proptest::prop_assert_eq!(view(&got), view(&expected));
            proptest::prop_assert_eq!(&got.days, &expected.days);
        }
    }
}
