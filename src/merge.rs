//! The merge stage: per-thread tables → a few sorted runs per day.
//!
//! Workers flush their per-client tables here as runs: vectors sorted by client, one per day,
//! with hostnames and request targets re-interned into the store's own id tables (targets in
//! 64 shards when several workers flush, so they do not queue for one lock); a worker's last
//! flush keeps its targets' table whole, as a segment of the store's ids. A day's runs
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
    /// queue. A store id is `(id in its shard << path_shard_bits) | shard`, below
    /// [`SEGMENT_ID`], so a shard holds at most `1 << (31 - path_shard_bits)` targets: two
    /// billion in all (tens of gigabytes of target text).
    paths: Vec<RwLock<PathTable>>,
    path_shard_bits: u32,
    /// The path tables of workers' last flushes, whole: see [`Store::absorb_table`].
    segments: Mutex<Segments>,
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
            segments: Mutex::default(),
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
    /// (first id, table) of each segment, ascending by first id (see [`SEGMENT_ID`]).
    segments: Vec<(u32, PathTable)>,
    /// One more than the largest shard id (they have gaps when the store was sharded).
    shard_id_bound: usize,
}

/// The bit that marks a store id as a segment's: `SEGMENT_ID | n` is the `n`-th target of
/// all segments, in the order they were added (a last flush whose table would take the
/// segments past `2^31` targets is re-interned instead). A shard's ids stay below it.
pub const SEGMENT_ID: u32 = 1 << 31;

/// The segments of a store being filled: tables with their first id, and the ids taken.
#[derive(Debug, Default)]
struct Segments {
    tables: Vec<(u32, PathTable)>,
    names: u32,
}

impl PathNames {
    pub fn name(&self, id: u32) -> &[u8] {
        self.locate(id).map_or(&[][..], |(t, at)| t.name(at))
    }

    /// The table holding `id`, and its id there.
    #[inline(always)]
    fn locate(&self, id: u32) -> Option<(&PathTable, u32)> {
        if id & SEGMENT_ID == 0 {
            let (shard, at) = split_path_id(id, self.bits);
            return self.shards.get(shard).map(|t| (t, at));
        }
        segment_of(&self.segments, id)
    }

    /// Start fetching where `id`'s text is (then [`Self::prefetch_name`], then read it).
    #[inline(always)]
    pub fn prefetch_span(&self, id: u32) {
        if let Some((t, at)) = self.locate(id) {
            t.prefetch_span_of(at);
        }
    }

    /// Start fetching `id`'s text (its span should be in cache).
    #[inline(always)]
    pub fn prefetch_name(&self, id: u32) {
        if let Some((t, at)) = self.locate(id) {
            t.prefetch_name_of(at);
        }
    }

    /// Order two ids by their text.
    pub fn cmp(&self, a: u32, b: u32) -> Ordering {
        self.name(a).cmp(self.name(b))
    }

    /// A dense index for `id`, below [`Self::cell_count`]: for a table of something per
    /// target (the shards' ids have gaps, the segments' come after them).
    pub fn cell(&self, id: u32) -> usize {
        match id & SEGMENT_ID {
            0 => id as usize,
            _ => self.shard_id_bound + (id & !SEGMENT_ID) as usize,
        }
    }

    /// One more than the largest [`Self::cell`].
    pub fn cell_count(&self) -> usize {
        let segment_ids = self
            .segments
            .last()
            .map_or(0, |(base, t)| *base as usize + t.len());
        self.shard_id_bound + segment_ids
    }

    /// Targets held (a text in several segments, or in a segment and a shard, counts once
    /// for each).
    pub fn len(&self) -> usize {
        let segments: usize = self.segments.iter().map(|(_, t)| t.len()).sum();
        self.shards.iter().map(|t| t.len()).sum::<usize>() + segments
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
        // A last flush keeps its targets' table as a segment of the store, unless it can hand
        // it over as the store's own (the first flush into an unsharded store): no target
        // is looked up again, which cost two threads ~300 ns a target (6-8 ms of a 1 GB
        // day's ~24k each), after the scan. The same text may then have two ids (a segment's
        // and a shard's, or two segments'): every merge compares texts whenever ids differ
        // and hashes tie, the store's own through its segments too.
        let segment_base = match how {
            Flush::Last if !self.hands_over_paths() => self.add_segment(&mut agg.paths),
            _ => None,
        };
        let path_ids = match segment_base {
            Some(_) => None,
            None => self.global_path_ids(&mut agg.paths),
        };
        let remap = |ids: &Option<Vec<u32>>, id: u32| match ids {
            Some(ids) => ids.get(id as usize).copied().unwrap_or(id),
            None => id,
        };
        let path_id = |id: u32| match segment_base {
            Some(base) => SEGMENT_ID | (base + id),
            None => remap(&path_ids, id),
        };
        let by_day = agg.table.take_runs(
            |client| match client {
                ClientKey::Host(id) => ClientKey::Host(remap(&host_ids, id)),
                ip => ip,
            },
            |detail| {
                for p in &mut detail.paths {
                    p.id = path_id(p.id);
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

    /// Whether a flush now would hand its targets' table over as the store's own (see
    /// [`Self::global_ids`]).
    fn hands_over_paths(&self) -> bool {
        self.path_shard_bits == 0 && self.paths.first().is_some_and(|t| read(t).is_empty())
    }

    /// Keep `local` as a segment; its ids become `SEGMENT_ID | (base + id)`, `Some(base)`.
    /// `None` (the table left as it was) when the segments' ids would run out.
    fn add_segment(&self, local: &mut PathTable) -> Option<u32> {
        if local.is_empty() {
            return None;
        }
        let mut segments = lock(&self.segments);
        let base = segments.names;
        let end = u32::try_from(local.len())
            .ok()
            .and_then(|len| base.checked_add(len))
            .filter(|&end| end <= SEGMENT_ID)?;
        segments.tables.push((base, std::mem::take(local)));
        segments.names = end;
        Some(base)
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

    /// Order two path ids of the store by their text (asked only on a 64-bit hash tie; a
    /// segment's id and another id may be the same text).
    fn cmp_path_names(&self, a: u32, b: u32) -> Ordering {
        // One lock at a time: each name is copied out (targets are short).
        let (mut first, mut second) = ([0u8; PATH_MAX_BYTES], [0u8; PATH_MAX_BYTES]);
        match (
            self.copy_path_name(a, &mut first),
            self.copy_path_name(b, &mut second),
        ) {
            (Some(len_a), Some(len_b)) => first[..len_a].cmp(&second[..len_b]),
            _ => a.cmp(&b),
        }
    }

    /// Copy the text of store id `id` into `out` (under its shard's or the segments' lock),
    /// giving its length; `None` for an id the store never gave.
    fn copy_path_name(&self, id: u32, out: &mut [u8; PATH_MAX_BYTES]) -> Option<usize> {
        let copy = |name: &[u8], out: &mut [u8; PATH_MAX_BYTES]| {
            let len = name.len().min(PATH_MAX_BYTES);
            out[..len].copy_from_slice(&name[..len]);
            len
        };
        if id & SEGMENT_ID != 0 {
            let segments = lock(&self.segments);
            let (table, at) = segment_of(&segments.tables, id)?;
            return Some(copy(table.name(at), out));
        }
        let (shard, at) = split_path_id(id, self.path_shard_bits);
        Some(copy(read(self.paths.get(shard)?).name(at), out))
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
        let mut paths = PathNames {
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
            segments: self
                .segments
                .into_inner()
                .unwrap_or_else(|p| p.into_inner())
                .tables
                .into_iter()
                .map(|(base, mut t)| {
                    t.freeze();
                    (base, t)
                })
                .collect(),
            shard_id_bound: 0,
        };
        paths.shard_id_bound = shard_id_bound(&paths.shards, paths.bits);
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

/// The segment holding the segment id `id` (see [`SEGMENT_ID`]) of `segments` (first id,
/// table; ascending), and its id there.
fn segment_of(segments: &[(u32, PathTable)], id: u32) -> Option<(&PathTable, u32)> {
    let n = id & !SEGMENT_ID;
    // The last segment starting at or before `n` (a few: one per worker's last flush).
    let after = segments.partition_point(|&(base, _)| base <= n);
    let (base, table) = segments.get(after.checked_sub(1)?)?;
    Some((table, n - base))
}

/// One more than the largest store id of `shards` (see [`Store`]).
fn shard_id_bound(shards: &[PathTable], bits: u32) -> usize {
    let mut bound = 0;
    for (shard, t) in shards.iter().enumerate() {
        if let Some(last) = t.len().checked_sub(1) {
            bound = bound.max((last << bits | shard) + 1);
        }
    }
    bound
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
        let bound = merged.paths.cell_count();
        for (id, name) in ids.iter().zip(&names) {
            assert_eq!(merged.paths.name(*id), &name[..]);
            assert!((*id as usize) < bound);
        }
        assert_eq!(merged.paths.name(more[1]), b"/new");
    }

    #[test]
    fn last_flushes_keep_their_targets_as_segments() {
        // Two workers' last flushes, after a mid-run flush of the first (which hands its
        // targets over to an unsharded store): the last flushes' targets are not
        // re-interned, their ids are segment ids.
        for bits in [0, PATH_SHARD_BITS] {
            let store = Store::with_path_shards(bits);
            let failed = FailedCodes::new(&[404]);
            let line = |client: &str, path: &str| {
                format!("{client} - - [19/Jun/2023:10:00:00 +0000] \"GET {path} HTTP/1.1\" 404 1\n")
            };
            let scan = |agg: &mut Aggregate, text: String| {
                let mut scanner = LineScanner::new(Format::Combined, false, 1 << 20);
                agg.scan_chunk(
                    text.as_bytes(),
                    &mut scanner,
                    &failed,
                    ChunkRecord::new(0, 0),
                );
            };
            let mut first = Aggregate::default();
            scan(
                &mut first,
                line("10.0.0.1", "/shared") + &line("10.0.0.2", "/mid"),
            );
            first.flush(&store);
            scan(
                &mut first,
                line("10.0.0.1", "/shared") + &line("10.0.0.1", "/a"),
            );
            let mut second = Aggregate::default();
            scan(
                &mut second,
                line("10.0.0.1", "/shared") + &line("10.0.0.3", "/b"),
            );
            first.flush_all(&store);
            second.flush_all(&store);

            // The store orders any two of its ids by their text, segment ids too.
            let day = crate::scan::time::days_from_civil(2023, 6, 19);
            let ids: Vec<u32> = lock(&store.inner).runs[&day]
                .iter()
                .flatten()
                .flat_map(|(_, d)| d.paths.iter().map(|p| p.id))
                .collect();
            let store_name = |id: u32| {
                let mut out = [0u8; PATH_MAX_BYTES];
                let len = store.copy_path_name(id, &mut out).expect("a store id");
                out[..len].to_vec()
            };
            for &a in &ids {
                for &b in &ids {
                    assert_eq!(
                        store.cmp_path_names(a, b),
                        store_name(a).cmp(&store_name(b))
                    );
                }
            }
            assert_eq!(ids.iter().filter(|&&id| id & SEGMENT_ID != 0).count(), 4);
            let names: Vec<Vec<u8>> = ids.iter().map(|&id| store_name(id)).collect();

            let merged = store.finish();
            // Every id names its text, and has a cell of its own below the count.
            let mut cells = std::collections::BTreeMap::new();
            for (&id, name) in ids.iter().zip(&names) {
                assert_eq!(merged.paths.name(id), &name[..]);
                assert!(merged.paths.cell(id) < merged.paths.cell_count());
                let other = cells.insert(merged.paths.cell(id), id);
                assert!(
                    other.is_none() || other == Some(id),
                    "ids {id} and {other:?} share a cell"
                );
            }
            let texts: std::collections::BTreeSet<&[u8]> =
                cells.values().map(|&id| merged.paths.name(id)).collect();
            assert_eq!(texts.len(), 4, "/shared, /mid, /a, /b");
            assert_eq!(
                cells.len(),
                6,
                "/shared has the mid-run flush's id and one in each segment"
            );
            // /shared, counted three times under three ids, is one target of 10.0.0.1.
            let clients = merged.merged_clients(day);
            let (_, shared) = &clients[0];
            let mut paths: Vec<(Vec<u8>, u32)> = shared
                .paths
                .iter()
                .map(|p| (merged.paths.name(p.id).to_vec(), p.count))
                .collect();
            paths.sort();
            assert_eq!(paths, vec![(b"/a".to_vec(), 1), (b"/shared".to_vec(), 3)]);
        }
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
