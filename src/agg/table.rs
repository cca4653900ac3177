//! The per-thread client table: (day, client) → [`ClientDay`], shaped for the hot loop.
//!
//! An open-addressing index (one `u64` a slot: the top 32 bits of the key's hash, and the
//! entry's index + 1; 0 is empty; linear probing) over the entries, kept in insertion order.
//! Why not a `HashMap`: on a week of logs the table is megabytes, so a lookup costs two or
//! three cache misses (index, key, the entry's second line), which were most of the time
//! spent on a failed line. The scanner asks for a failed line's key to be fetched
//! ([`ClientTable::prefetch_slot`], then [`ClientTable::prefetch_entry`] one failed line
//! later, then [`ClientTable::prefetch_lists`] for the entry's heap lists one more later) and
//! counts it three failed lines after it was scanned, so the misses are in flight while the
//! lines between are scanned. A `HashMap` gives no address to prefetch.
//!
//! Invariant: each key is in `entries` at most once, and the slot pointing at it lies on the
//! key's probe path from its home slot with no empty slot between (nothing is ever removed
//! but all at once). Prefetching is only a hint: every count does a full lookup.

use super::{ClientDay, ClientKey, DetailKey, Flush};
use crate::scan::time::{DayNum, Timestamp};

/// The smallest index; an index is kept at most half full.
const MIN_SLOTS: usize = 16;

#[derive(Debug, Clone)]
pub struct ClientTable {
    /// Keyed: clients choose their own addresses (an IPv6 client its whole /64), so chosen
    /// collisions must not be able to pile keys onto one probe path. The keys are random
    /// per process with ahash's default `runtime-rng` feature (Cargo.toml keeps it on).
    hasher: ahash::RandomState,
    index: SlotIndex,
    entries: Vec<(DetailKey, ClientDay)>,
}

impl Default for ClientTable {
    fn default() -> Self {
        Self::with_capacity(0)
    }
}

impl ClientTable {
    /// A table that holds `capacity` entries before it grows.
    pub fn with_capacity(capacity: usize) -> Self {
        ClientTable {
            hasher: ahash::RandomState::new(),
            index: SlotIndex::for_ids(capacity),
            entries: Vec::with_capacity(capacity),
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The hash every other call takes (computed once per failed line).
    #[inline]
    pub fn hash(&self, key: &DetailKey) -> u64 {
        self.hasher.hash_one(key)
    }

    /// Start fetching the home slot of `hash`.
    #[inline(always)]
    pub fn prefetch_slot(&self, hash: u64) {
        self.index.prefetch_home(hash);
    }

    /// Start fetching the entry the home slot of `hash` points at, when its tag matches
    /// (the usual case for a key seen before; a miss here costs only the unfetched entry).
    #[inline(always)]
    pub fn prefetch_entry(&self, hash: u64) {
        if let Some(index) = self.index.hinted(hash) {
            if let Some(entry) = self.entries.get(index) {
                // An entry is ~100 bytes, 8-aligned: two or three cache lines.
                prefetch_bytes(
                    std::ptr::from_ref(entry).cast(),
                    std::mem::size_of_val(entry),
                );
            }
        }
    }

    /// Start fetching the status and path lists of the entry [`Self::prefetch_entry`] fetched,
    /// where they spilled to the heap (a client with several statuses or targets): the
    /// entry's own lines are in cache by now, so its pointers can be read.
    #[inline(always)]
    pub fn prefetch_lists(&self, hash: u64) {
        let Some(index) = self.index.hinted(hash) else {
            return;
        };
        if let Some((_, detail)) = self.entries.get(index) {
            detail.prefetch_lists();
        }
    }

    /// The entry of `key`, inserted with `new` if absent. `hash` must be this table's
    /// [`Self::hash`] of `key` (checked in debug builds): tables are keyed differently.
    #[inline]
    pub fn entry_or_insert_with(
        &mut self,
        hash: u64,
        key: DetailKey,
        new: impl FnOnce() -> ClientDay,
    ) -> &mut ClientDay {
        debug_assert_eq!(hash, self.hash(&key), "a hash of another table");
        self.upsert(hash, key, new)
    }

    /// [`Self::entry_or_insert_with`] for any `hash` (tests force collisions with it).
    #[inline]
    fn upsert(
        &mut self,
        hash: u64,
        key: DetailKey,
        new: impl FnOnce() -> ClientDay,
    ) -> &mut ClientDay {
        let at = match self.find(hash, &key) {
            Ok(index) => index,
            Err(slot) => self.insert_at(slot, hash, key, new()),
        };
        &mut self.entries[at].1
    }

    pub fn get(&self, key: &DetailKey) -> Option<&ClientDay> {
        self.find(self.hash(key), key)
            .ok()
            .map(|index| &self.entries[index].1)
    }

    /// The entries, in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = &(DetailKey, ClientDay)> {
        self.entries.iter()
    }

    /// Change each entry's detail in place (its key and place stay).
    pub fn for_each_detail(&mut self, mut change: impl FnMut(&mut ClientDay)) {
        for (_, detail) in &mut self.entries {
            change(detail);
        }
    }

    /// Empty the table into runs, one per day in ascending order, each ascending by the
    /// client that `client_of` gives an entry's (the store's ids), after `fix` has seen
    /// every detail. Small (day, client, index) keys are sorted, then:
    /// * [`Flush::KeepTable`]: each detail moves once, into a run of its exact size, and the
    ///   table keeps its allocation (a copy of the entries in between, and runs grown by
    ///   doubling, were fresh memory at every flush);
    /// * [`Flush::Last`]: the entries are put in their order in place (each moved once or
    ///   twice, in memory already touched) and their allocation becomes the first day's run
    ///   (later days are split off). Moved into a fresh run, the last flush of a one-day,
    ///   one-thread run of 1 GB was ~1,500 page faults (~1.8 µs each here). Only for the last
    ///   flush: mid-run, a fresh table allocation at every flush made a million failing
    ///   clients a day peak ~30 MiB higher.
    pub fn take_runs(
        &mut self,
        client_of: impl Fn(ClientKey) -> ClientKey,
        fix: impl FnMut(&mut ClientDay),
        how: Flush,
    ) -> Vec<(DayNum, Vec<(ClientKey, ClientDay)>)> {
        self.entries
            .iter_mut()
            .map(|(_, detail)| detail)
            .for_each(fix);
        let mut keys: Vec<RunKey> = self
            .entries
            .iter()
            .enumerate()
            .map(|(at, (key, _))| RunKey::new(key.day, client_of(key.client), at))
            .collect();
        keys.sort_unstable_by_key(|k| (k.high, k.low));
        let runs = match how {
            Flush::KeepTable => self.move_into_runs(&keys),
            Flush::Last => self.hand_over_runs(&keys),
        };
        self.clear();
        runs
    }

    fn move_into_runs(&mut self, keys: &[RunKey]) -> Vec<(DayNum, Vec<(ClientKey, ClientDay)>)> {
        let mut runs = Vec::new();
        for day in keys.chunk_by(RunKey::same_day) {
            let mut run = Vec::with_capacity(day.len());
            for key in day {
                if let Some((_, detail)) = self.entries.get_mut(key.at as usize) {
                    let moved = std::mem::replace(detail, ClientDay::new(Timestamp::default()));
                    run.push((key.client(), moved));
                }
            }
            runs.push((day[0].day(), run));
        }
        runs
    }

    fn hand_over_runs(&mut self, keys: &[RunKey]) -> Vec<(DayNum, Vec<(ClientKey, ClientDay)>)> {
        self.clear_slots();
        let mut entries = std::mem::take(&mut self.entries);
        let mut order: Vec<u32> = keys.iter().map(|k| k.at).collect();
        permute(&mut entries, &mut order);
        // Entry k is now keys[k]'s, whose client is the remapped one. The same size as the
        // entries (tested), so this reuses their allocation.
        let mut sorted: Vec<(ClientKey, ClientDay)> = entries
            .into_iter()
            .zip(keys)
            .map(|((_, detail), key)| (key.client(), detail))
            .collect();
        let mut runs = Vec::new();
        for day in keys.chunk_by(RunKey::same_day).rev() {
            let start = sorted.len() - day.len();
            let run = match start {
                0 => {
                    sorted.shrink_to_fit();
                    std::mem::take(&mut sorted)
                }
                _ => sorted.split_off(start),
            };
            runs.push((day[0].day(), run));
        }
        runs.reverse();
        runs
    }

    /// Forget every entry, keeping the allocations (those [`Self::take_runs`] left).
    pub fn clear(&mut self) {
        self.clear_slots();
        self.entries.clear();
    }

    /// An empty table's slots are all clear already (a flush drains, then clears).
    fn clear_slots(&mut self) {
        if !self.entries.is_empty() {
            self.index.clear();
        }
    }

    /// `Ok(entry index)`, or `Err(the empty slot that ends the probe)`.
    #[inline]
    fn find(&self, hash: u64, key: &DetailKey) -> Result<usize, usize> {
        self.index.find(hash, |index| self.entries[index].0 == *key)
    }

    #[cold]
    fn insert_at(&mut self, slot: usize, hash: u64, key: DetailKey, detail: ClientDay) -> usize {
        let index = self.entries.len();
        self.entries.push((key, detail));
        let (hasher, entries) = (&self.hasher, &self.entries);
        self.index
            .insert(slot, hash, index, |i| hasher.hash_one(entries[i].0));
        index
    }
}

/// A flush's sort key for one entry: its (day, client) as two integers that order like the
/// pair, and the entry's index. `high` is the day (sign bit flipped, so it orders unsigned)
/// with the client's kind in its low bit (addresses before hostnames, as [`ClientKey`]
/// orders); `low` the address or hostname id. Sorting these compares two integers where the
/// (day, client) pairs compared field by field (most of a flush's time).
#[derive(Debug, Clone, Copy)]
struct RunKey {
    high: u64,
    low: u128,
    at: u32,
}

impl RunKey {
    fn new(day: DayNum, client: ClientKey, at: usize) -> Self {
        let (kind, low) = client.parts();
        RunKey {
            high: u64::from(day as u32 ^ 1 << 31) << 1 | kind,
            low,
            at: at as u32,
        }
    }

    fn day(&self) -> DayNum {
        ((self.high >> 1) as u32 ^ 1 << 31) as DayNum
    }

    fn client(&self) -> ClientKey {
        ClientKey::from_parts(self.high & 1, self.low)
    }

    fn same_day(a: &Self, b: &Self) -> bool {
        a.high >> 1 == b.high >> 1
    }
}

/// An open-addressing index of dense ids (0, 1, 2, ... in insertion order), shared by the
/// client table and the path table ([`super::PathTable`]): one `u64` a slot, the top 32 bits
/// of the key's hash and the id + 1; 0 is empty; linear probing; at most half full. Its
/// owner keeps the keys and says which id holds a key. Empty (no slots) until allocated.
#[derive(Debug, Clone, Default)]
pub(super) struct SlotIndex {
    slots: Vec<u64>,
    /// The size its first growth goes straight to (0: it doubles): see [`Self::for_ids`].
    first_growth: usize,
}

/// How many ids an index sized for more holds at first: see [`SlotIndex::for_ids`].
const FIRST_IDS: usize = 1024;

impl SlotIndex {
    /// An index that holds `ids` before it grows more than once. It starts at room for
    /// [`FIRST_IDS`] and its first growth goes straight to the full size: a worker's table
    /// written whole up front (2 MiB at 64k entries) was a third of a run's time on a small
    /// input, and grown by doubling it copied itself again and again (page faults, a rehash
    /// of every id). The one early rehash costs ~1,000 ids.
    pub(super) fn for_ids(ids: usize) -> Self {
        let full = slots_for(ids);
        let first = slots_for(FIRST_IDS).min(full);
        SlotIndex {
            slots: written_zeros(first),
            first_growth: if full > first { full } else { 0 },
        }
    }

    /// Whether no slots are allocated (a fresh or freed index).
    pub(super) fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    #[inline(always)]
    fn home(&self, hash: u64) -> usize {
        hash as usize & self.slots.len().wrapping_sub(1)
    }

    /// Start fetching the home slot of `hash`.
    #[inline(always)]
    pub(super) fn prefetch_home(&self, hash: u64) {
        if let Some(slot) = self.slots.get(self.home(hash)) {
            prefetch(slot);
        }
    }

    /// The id the home slot of `hash` holds when its tag matches: usually the key's own,
    /// so a hint for prefetching, never an answer.
    #[inline(always)]
    pub(super) fn hinted(&self, hash: u64) -> Option<usize> {
        tagged_index(*self.slots.get(self.home(hash))?, hash)
    }

    /// `Ok(the first id on the probe path with hash's tag that is_key accepts)`, or
    /// `Err(the empty slot that ends the probe)`. The index must be allocated.
    #[inline]
    pub(super) fn find(
        &self,
        hash: u64,
        mut is_key: impl FnMut(usize) -> bool,
    ) -> Result<usize, usize> {
        let mask = self.slots.len() - 1;
        let mut at = self.home(hash);
        loop {
            let slot = self.slots[at];
            if slot == 0 {
                return Err(at);
            }
            if let Some(id) = tagged_index(slot, hash) {
                if is_key(id) {
                    return Ok(id);
                }
            }
            at = (at + 1) & mask;
        }
    }

    /// Put `id`, the newest (ids are dense), in the empty `slot` that [`Self::find`] gave for
    /// `hash`; grow when more than half full, `hash_of` giving any id's hash.
    pub(super) fn insert(
        &mut self,
        slot: usize,
        hash: u64,
        id: usize,
        hash_of: impl Fn(usize) -> u64,
    ) {
        // A slot holds id + 1 in 32 bits. Unreachable in practice (workers flush at 64k
        // entries), but a wrong slot would silently split a key.
        assert!(id < u32::MAX as usize, "slot index full");
        self.slots[slot] = slot_value(hash, id);
        let ids = id + 1;
        if ids * 2 > self.slots.len() {
            let grown = std::mem::take(&mut self.first_growth).max(self.slots.len() * 2);
            let mut slots = written_zeros(grown);
            let mask = slots.len() - 1;
            for id in 0..ids {
                let hash = hash_of(id);
                let mut at = hash as usize & mask;
                while slots[at] != 0 {
                    at = (at + 1) & mask;
                }
                slots[at] = slot_value(hash, id);
            }
            self.slots = slots;
        }
    }

    /// Empty every slot, keeping the allocation.
    pub(super) fn clear(&mut self) {
        self.slots.fill(0);
    }

    /// How many slots there are (tests).
    #[cfg(test)]
    pub(super) fn slot_count(&self) -> usize {
        self.slots.len()
    }
}

/// Rearrange `items` so position k holds what was at `order[k]` (a permutation of the
/// indices), following each cycle with swaps: in place, each item moved once or twice.
/// `order` is used up as the visited marks.
pub(crate) fn permute<T>(items: &mut [T], order: &mut [u32]) {
    // The items a cycle visits are scattered over megabytes: the cycle is followed
    // `PERMUTE_AHEAD` steps ahead in `order` (small, cached), and those items fetched, so
    // their misses overlap instead of coming one after the other.
    const PERMUTE_AHEAD: usize = 6;
    for start in 0..items.len() {
        if order[start] as usize == start {
            continue;
        }
        let mut at = start;
        let mut ahead = start;
        for _ in 0..PERMUTE_AHEAD {
            ahead = fetch_next(items, order, ahead);
        }
        while order[at] as usize != at {
            let from = order[at] as usize;
            order[at] = at as u32;
            if from == start {
                break;
            }
            // Unvisited past `at`: `ahead` still follows this cycle (at its end it stays on
            // `start`, whose place already points to itself).
            ahead = fetch_next(items, order, ahead);
            items.swap(at, from);
            at = from;
        }
    }
}

/// The place after `at` in its [`permute`] cycle, its item fetched.
#[inline(always)]
fn fetch_next<T>(items: &[T], order: &[u32], at: usize) -> usize {
    let next = order[at] as usize;
    if let Some(item) = items.get(next) {
        prefetch(item);
    }
    next
}

/// `len` zero slots, written rather than allocated zeroed. A zeroed allocation maps the
/// kernel's shared zero page on the first read (a lookup), so the first insert on each page
/// is a copy-on-write fault that flushes the page from every core's TLB: with two threads on
/// this VM, an inter-processor interrupt per page, ~3 % of a run's time. Written once here,
/// each page is faulted in as private memory and stays so. The zero goes through
/// `black_box`, so the compiler cannot see a zeroed allocation and turn this into `calloc`.
fn written_zeros(len: usize) -> Vec<u64> {
    let mut slots = Vec::with_capacity(len);
    slots.resize(len, std::hint::black_box(0));
    slots
}

fn slots_for(capacity: usize) -> usize {
    capacity
        .saturating_mul(2)
        .max(MIN_SLOTS)
        .checked_next_power_of_two()
        .unwrap_or(usize::MAX / 2 + 1)
}

#[inline(always)]
fn tag(hash: u64) -> u32 {
    (hash >> 32) as u32
}

#[inline(always)]
fn slot_value(hash: u64, index: usize) -> u64 {
    (tag(hash) as u64) << 32 | (index as u64 + 1)
}

/// The entry index a non-empty `slot` holds, if its tag is `hash`'s.
#[inline(always)]
fn tagged_index(slot: u64, hash: u64) -> Option<usize> {
    (slot != 0 && (slot >> 32) as u32 == tag(hash)).then(|| (slot as u32 - 1) as usize)
}

/// Start fetching the `len` bytes at `at`, up to 128 of them (at most three cache lines):
/// the first byte, the one 64 bytes on and the last.
#[inline(always)]
pub(crate) fn prefetch_bytes(at: *const u8, len: usize) {
    let last = len.saturating_sub(1);
    prefetch(at);
    prefetch(at.wrapping_add(64.min(last)));
    prefetch(at.wrapping_add(last));
}

/// Start fetching the cache line at `at` (a hint; any address is harmless).
#[inline(always)]
pub(crate) fn prefetch<T>(at: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint: it never faults and never changes memory.
    unsafe {
        std::arch::x86_64::_mm_prefetch(at.cast::<i8>(), std::arch::x86_64::_MM_HINT_T0);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = at;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agg::ClientKey;
    use crate::scan::time::Timestamp;
    use proptest::prelude::*;
    use std::collections::HashMap;

    fn key(day: i32, ip: u128) -> DetailKey {
        DetailKey {
            day,
            client: ClientKey::Ip(ip.into()),
        }
    }

    /// Counts `keys` into a table and a `HashMap`, prefetching as the scanner does.
    fn count(keys: &[(i32, u128)], capacity: usize) -> (ClientTable, HashMap<DetailKey, u64>) {
        let mut table = ClientTable::with_capacity(capacity);
        let mut reference = HashMap::new();
        for (i, &(day, ip)) in keys.iter().enumerate() {
            let k = key(day, ip);
            let hash = table.hash(&k);
            table.prefetch_slot(hash);
            table.prefetch_entry(hash);
            table.prefetch_lists(hash);
            // Several statuses per key, so the status lists spill to the heap.
            table
                .entry_or_insert_with(hash, k, || ClientDay::new(Timestamp::default()))
                .add_status(400 + (i % 3) as u16, 1);
            *reference.entry(k).or_default() += 1;
        }
        (table, reference)
    }

    #[test]
    fn grows_and_finds_every_key() {
        let keys: Vec<(i32, u128)> = (0..5000).map(|i| (i % 7, i as u128 / 3)).collect();
        let (mut table, reference) = count(&keys, 0);
        assert_eq!(table.len(), reference.len());
        assert!(table.index.slot_count() >= 2 * table.len());
        for (k, n) in &reference {
            assert_eq!(table.get(k).map(ClientDay::failed), Some(*n), "{k:?}");
        }
        assert_eq!(table.get(&key(99, 1)), None);
        // Insertion order; then, taken as runs (a flush), an empty table that finds nothing.
        let order: Vec<DetailKey> = table.iter().map(|(k, _)| *k).collect();
        assert_eq!(order[..3], [key(0, 0), key(1, 0), key(2, 0)]);
        let runs = table.take_runs(|client| client, |_| {}, Flush::KeepTable);
        let taken: Vec<DetailKey> = runs
            .iter()
            .flat_map(|(day, run)| {
                run.iter().map(|(client, _)| DetailKey {
                    day: *day,
                    client: *client,
                })
            })
            .collect();
        let mut sorted = order.clone();
        sorted.sort_unstable_by_key(|k| (k.day, k.client));
        assert_eq!(taken, sorted);
        assert_eq!(taken.len(), reference.len());
        assert!(table.is_empty());
        assert_eq!(table.get(&key(0, 0)), None);
        let (table, _) = count(&[(1, 1), (1, 1)], 0);
        assert_eq!(table.get(&key(1, 1)).map(ClientDay::failed), Some(2));
    }

    /// Runs carry each key's own detail, remapped clients in order, days ascending, whether
    /// moved out (a table that keeps its allocation) or permuted in place (the last flush,
    /// where the first day's run is the entries' own allocation); the emptied table counts
    /// from nothing again.
    #[test]
    fn runs_keep_each_detail_with_its_key_and_reuse_the_entries() {
        assert_eq!(
            std::mem::size_of::<(DetailKey, ClientDay)>(),
            std::mem::size_of::<(ClientKey, ClientDay)>(),
            "the first run reuses the entries' allocation only when the two are the same size"
        );
        // Keys in a scrambled order, counted k % 5 + 1 times each (so the detail of every
        // key is known), over three days; clients remapped in reverse (ids 1000 - ip).
        let mut keys = Vec::new();
        for k in 0..600u128 {
            let (day, ip) = ((k * 7 % 3) as i32 + 10, k * 389 % 600);
            keys.extend(std::iter::repeat_n((day, ip), (ip % 5 + 1) as usize));
        }
        let (mut table, reference) = count(&keys, 1000);
        let buffer = table.entries.as_ptr() as usize;
        let remap = |client| match client {
            ClientKey::Ip(ip) => ClientKey::Host(1000 - u128::from(ip) as u32),
            host => host,
        };
        let (mut kept, _) = count(&keys, 1000);
        let kept_buffer = kept.entries.as_ptr() as usize;
        let kept_runs = kept.take_runs(remap, |_| {}, Flush::KeepTable);
        assert_eq!(
            kept.entries.as_ptr() as usize,
            kept_buffer,
            "a mid-run flush keeps the allocation"
        );
        let runs = table.take_runs(remap, |_| {}, Flush::Last);
        assert_eq!(runs, kept_runs, "both ways give the same runs");
        assert_eq!(runs.iter().map(|r| r.0).collect::<Vec<_>>(), [10, 11, 12]);
        assert_eq!(
            runs[0].1.as_ptr() as usize,
            buffer,
            "the first run is the entries"
        );
        let mut seen = 0;
        for (day, run) in &runs {
            assert!(run.windows(2).all(|w| w[0].0 < w[1].0), "ascending clients");
            for (client, detail) in run {
                let ClientKey::Host(id) = *client else {
                    panic!("not remapped")
                };
                let ip = u128::from(1000 - id);
                assert_eq!(Some(&detail.failed()), reference.get(&key(*day, ip)));
                assert_eq!(detail.failed(), (ip % 5 + 1) as u64);
                seen += 1;
            }
        }
        assert_eq!(seen, reference.len());
        assert!(table.is_empty());
        let k = key(10, 3);
        let hash = table.hash(&k);
        assert_eq!(table.get(&k), None);
        table
            .entry_or_insert_with(hash, k, || ClientDay::new(Timestamp::default()))
            .add_status(404, 2);
        assert_eq!(table.get(&k).map(ClientDay::failed), Some(2));
        assert_eq!(table.len(), 1);
    }

    proptest! {
        /// Run keys order like (day, client) pairs and give both back: negative days, both
        /// kinds of client, equal days and addresses.
        #[test]
        fn run_keys_order_like_day_client_pairs(
            pairs in proptest::collection::vec(
                (
                    prop_oneof![Just(i32::MIN), Just(-1), Just(0), Just(i32::MAX), -3i32..3, any::<i32>()],
                    prop_oneof![
                        any::<u128>().prop_map(|ip| ClientKey::Ip(ip.into())),
                        (0u128..3).prop_map(|ip| ClientKey::Ip(ip.into())),
                        Just(ClientKey::Ip(u128::MAX.into())),
                        any::<u32>().prop_map(ClientKey::Host),
                        (0u32..3).prop_map(ClientKey::Host),
                    ],
                ),
                0..40,
            ),
        ) {
            let keys: Vec<RunKey> = pairs
                .iter()
                .enumerate()
                .map(|(at, &(day, client))| RunKey::new(day, client, at))
                .collect();
            for (key, &(day, client)) in keys.iter().zip(&pairs) {
                prop_assert_eq!((key.day(), key.client()), (day, client));
            }
            for a in &keys {
                for b in &keys {
                    let (pa, pb) = (pairs[a.at as usize], pairs[b.at as usize]);
                    prop_assert_eq!((a.high, a.low).cmp(&(b.high, b.low)), pa.cmp(&pb));
                    prop_assert_eq!(RunKey::same_day(a, b), pa.0 == pb.0);
                }
            }
        }
    }

    #[test]
    fn permute_puts_each_item_where_the_order_says() {
        for n in [0u32, 1, 2, 7, 100] {
            // i -> 37 i + 11 (mod n) is a permutation (37 is prime to each n): several cycles.
            let order: Vec<u32> = (0..n).map(|i| (i * 37 + 11) % n).collect();
            let items: Vec<String> = (0..n).map(|i| format!("item {i}")).collect();
            assert_eq!(
                order
                    .iter()
                    .collect::<std::collections::BTreeSet<_>>()
                    .len(),
                n as usize
            );
            let mut permuted = items.clone();
            permute(&mut permuted, &mut order.clone());
            let expected: Vec<String> = order.iter().map(|&i| items[i as usize].clone()).collect();
            assert_eq!(permuted, expected);
        }
    }

    #[test]
    fn a_large_table_starts_small_and_grows_once_to_its_size() {
        let mut table = ClientTable::with_capacity(10_000);
        assert_eq!(table.index.slot_count(), 2048);
        let detail = || ClientDay::new(Timestamp::default());
        let mut sizes = Vec::new();
        for ip in 0..20_000u128 {
            let k = key(3, ip);
            let hash = table.hash(&k);
            table.upsert(hash, k, detail).add_status(404, 1);
            if sizes.last() != Some(&table.index.slot_count()) {
                sizes.push(table.index.slot_count());
            }
        }
        // Room for 1,024 ids, then the full 32,768 slots for 10,000 (half full at 16,384),
        // then doubling as any index does.
        assert_eq!(sizes, [2048, 32_768, 65_536]);
        for ip in 0..20_000u128 {
            assert_eq!(table.get(&key(3, ip)).map(ClientDay::failed), Some(1));
        }
        // A small table is its full size from the start.
        assert_eq!(ClientTable::with_capacity(100).index.slot_count(), 256);
    }

    #[test]
    fn colliding_hashes_probe_past_each_other_and_wrap() {
        let mut table = ClientTable::with_capacity(100);
        let slots = table.index.slot_count();
        // One hand-made hash for every key: home is the last slot, the tags are equal, so
        // every lookup compares keys and probes wrap around to slot 0.
        let hash = 0xABCD_0000_0000_0000 | (slots as u64 - 1);
        let detail = || ClientDay::new(Timestamp::default());
        for round in 1..=2u64 {
            for ip in 0..50u128 {
                table.upsert(hash, key(1, ip), detail).add_status(404, 1);
            }
            assert_eq!(table.len(), 50);
            assert_eq!(table.index.slot_count(), slots, "no growth");
            for ip in 0..50u128 {
                let found = table
                    .find(hash, &key(1, ip))
                    .map(|i| table.entries[i].1.failed());
                assert_eq!(found, Ok(round), "{ip}");
            }
        }
        assert_eq!(table.find(hash, &key(2, 0)), Err(49));
        // After a flush and after a clear, the same keys start from nothing.
        let runs = table.take_runs(|client| client, |_| {}, Flush::KeepTable);
        assert_eq!(runs.iter().map(|(_, run)| run.len()).sum::<usize>(), 50);
        table.upsert(hash, key(1, 7), detail).add_status(404, 1);
        assert_eq!(table.len(), 1);
        assert_eq!(
            table
                .find(hash, &key(1, 7))
                .map(|i| table.entries[i].1.failed()),
            Ok(1)
        );
        table.clear();
        assert_eq!(table.find(hash, &key(1, 7)), Err(slots - 1));
    }

    proptest! {
        /// Against a `HashMap`: same keys, same counts, whatever the order, the repeats and
        /// the starting capacity.
        #[test]
        fn agrees_with_a_hash_map(
            keys in proptest::collection::vec((0i32..4, 0u128..64), 0..400),
            capacity in 0usize..100,
        ) {
            let (table, reference) = count(&keys, capacity);
            prop_assert_eq!(table.len(), reference.len());
            for (k, n) in &reference {
                prop_assert_eq!(table.get(k).map(ClientDay::failed), Some(*n));
            }
        }
    }
}
