//! Per-thread aggregation of scanned lines.
//!
//! Each rayon worker owns one [`Aggregate`] and feeds it whole chunks; no locks, no shared
//! maps. Only failed lines touch the per-client table, one entry per (day, client), keyed by
//! integers (IP as four `u32` words, hostnames interned per aggregate). When the table
//! reaches its flush size, or at the end, it is drained into the shared
//! [`crate::merge::Store`] as sorted runs with global ids, and reused: a worker's memory is
//! bounded by its flush size, not by the input. Invariant: merging entries is associative and
//! commutative, so the result is the same for any thread count, chunk size, flush size or
//! scheduling order — the property tests check exactly that.
//!
//! A [`ClientDay`] holds a client's failed requests of one day: counts per status, first and
//! last seen, and the counts of at most [`PATHS_PER_CLIENT`] distinct request targets — the
//! ones first in the fixed order (a fixed 64-bit hash of the target, then its bytes). Keeping
//! the first k of a fixed order ("bottom-k") is exact and merge-order independent: a path kept
//! in the final result is kept in every partial aggregate it appears in, so its count is
//! exact, and the dropped ones are exactly those with k smaller paths — whatever the chunking.
//! Memory per (day, client) is bounded by k.

use crate::scan::bitmap::Bitmaps;
use crate::scan::client::ClientRef;
use crate::scan::time::{DayNum, Timestamp};
#[cfg(target_arch = "x86_64")]
use crate::scan::V3;
use crate::scan::{Baseline, Fields, FirstQuote, Isa, Line, LineScanner, Malformed};
use ahash::AHashMap;
use memchr::memchr;
use smallvec::SmallVec;
use std::cmp::Ordering;

mod table;
pub use table::ClientTable;
use table::SlotIndex;
pub(crate) use table::{permute, prefetch, prefetch_bytes};

/// How many malformed line numbers are kept per file (and per chunk, to find them).
pub const MALFORMED_SAMPLES: usize = 5;

/// Status codes counted as failed requests, as a lookup table (statuses are 100..=599).
#[derive(Debug, Clone)]
pub struct FailedCodes([bool; 600]);

impl FailedCodes {
    pub fn new(codes: &[u16]) -> Self {
        let mut table = [false; 600];
        for &c in codes {
            if let Some(slot) = table.get_mut(c as usize) {
                *slot = true;
            }
        }
        FailedCodes(table)
    }

    #[inline]
    pub fn contains(&self, status: u16) -> bool {
        self.0.get(status as usize).copied().unwrap_or(false)
    }
}

/// A client as an integer: an IP (IPv4 mapped into IPv6 space) or an interned hostname.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ClientKey {
    Ip(PackedIp),
    Host(u32),
}

impl ClientKey {
    /// The client as its kind (0 an address, 1 a hostname id: the order `ClientKey` sorts
    /// them in) and its number; [`Self::from_parts`] gives it back.
    #[inline]
    pub fn parts(self) -> (u64, u128) {
        match self {
            ClientKey::Ip(ip) => (0, u128::from(ip)),
            ClientKey::Host(id) => (1, u128::from(id)),
        }
    }

    /// The client of [`Self::parts`].
    #[inline]
    pub fn from_parts(kind: u64, value: u128) -> Self {
        match kind {
            0 => ClientKey::Ip(value.into()),
            _ => ClientKey::Host(value as u32),
        }
    }
}

/// A `u128` IP stored as four `u32` words, most significant first: same order, but 4-byte
/// alignment, so a key is 20 bytes instead of 32 — these keys fill the per-client tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PackedIp([u32; 4]);

/// The order of the `u128`, compared as one number: the derived order compared the four
/// words one by one, a branch each, and a flush's sort of 44k keys took 33 M instructions.
impl Ord for PackedIp {
    #[inline]
    fn cmp(&self, other: &Self) -> Ordering {
        u128::from(*self).cmp(&u128::from(*other))
    }
}

impl PartialOrd for PackedIp {
    #[inline]
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl From<u128> for PackedIp {
    fn from(ip: u128) -> Self {
        PackedIp([
            (ip >> 96) as u32,
            (ip >> 64) as u32,
            (ip >> 32) as u32,
            ip as u32,
        ])
    }
}

impl From<PackedIp> for u128 {
    #[inline]
    fn from(p: PackedIp) -> Self {
        p.0.iter().fold(0u128, |acc, &w| (acc << 32) | w as u128)
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DayCounts {
    /// Parsed lines dated this day.
    pub lines: u64,
    pub failed: u64,
    pub status_400: u64,
}

impl DayCounts {
    pub fn add(&mut self, other: &DayCounts) {
        self.lines += other.lines;
        self.failed += other.failed;
        self.status_400 += other.status_400;
    }
}

/// Line accounting of one chunk; the chunk's place in its file (`seq`) turns the local line
/// numbers of malformed samples into file line numbers once every chunk is in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChunkRecord {
    pub file: u32,
    pub seq: u64,
    /// Physical lines, blank ones included (a final line without `\n` counts).
    pub physical_lines: u64,
    pub parsed: u64,
    pub blank: u64,
    pub malformed: [u64; Malformed::COUNT],
    /// (1-based line number inside the chunk, reason) of the first malformed lines.
    pub samples: Vec<(u64, Malformed)>,
    /// The latest day of its parsed lines.
    pub last_day: Option<DayNum>,
}

impl ChunkRecord {
    pub fn new(file: u32, seq: u64) -> Self {
        ChunkRecord {
            file,
            seq,
            ..Default::default()
        }
    }

    pub fn note_malformed(&mut self, line_in_chunk: u64, reason: Malformed) {
        self.malformed[reason as usize] += 1;
        if self.samples.len() < MALFORMED_SAMPLES {
            self.samples.push((line_in_chunk, reason));
        }
    }
}

/// Hostnames → dense ids, lowercased (DNS names are case-insensitive).
#[derive(Debug, Clone, Default)]
pub struct Interner {
    ids: AHashMap<Box<[u8]>, u32>,
    names: Vec<Box<[u8]>>,
}

/// Lowercase `name` (cut to 256 bytes) into `buf`.
fn lowercase<'a>(name: &[u8], buf: &'a mut [u8; 256]) -> &'a [u8] {
    let lower = &mut buf[..name.len().min(256)];
    for (dst, src) in lower.iter_mut().zip(name) {
        *dst = src.to_ascii_lowercase();
    }
    lower
}

impl Interner {
    pub fn intern(&mut self, name: &[u8]) -> u32 {
        let mut buf = [0u8; 256];
        let lower = lowercase(name, &mut buf);
        if let Some(&id) = self.ids.get(lower) {
            return id;
        }
        let id = self.names.len() as u32;
        let boxed: Box<[u8]> = lower.into();
        self.names.push(boxed.clone());
        self.ids.insert(boxed, id);
        id
    }

    /// The id of `name` if it is interned.
    pub fn get(&self, name: &[u8]) -> Option<u32> {
        let mut buf = [0u8; 256];
        self.ids.get(lowercase(name, &mut buf)).copied()
    }

    pub fn name(&self, id: u32) -> &[u8] {
        self.names.get(id as usize).map_or(&[][..], |n| &n[..])
    }

    pub fn names(&self) -> &[Box<[u8]>] {
        &self.names
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Forget every name, keeping the allocations.
    pub fn clear(&mut self) {
        self.ids.clear();
        self.names.clear();
    }
}

/// How many distinct request targets are counted per (day, client) (see the module doc).
pub const PATHS_PER_CLIENT: usize = 64;

/// Targets a worker's table holds beyond twice what its entries can list before the ones
/// no entry lists are dropped (see `Aggregate::drop_unkept_paths`).
const PATH_SLACK: usize = 4096;

/// Request targets are cut to this many bytes before they are counted (attack payloads can be
/// megabytes long); targets sharing this prefix count as one.
pub const PATH_MAX_BYTES: usize = 256;

/// The request target (`/wp-login.php` of `GET /wp-login.php HTTP/1.1`), still escaped as the
/// server wrote it, cut to [`PATH_MAX_BYTES`]. A request without a space (`-`, TLS bytes) is
/// its own target.
#[inline]
pub fn request_target(request: &[u8]) -> &[u8] {
    // A method is a few bytes: the first two words are tested inline, the rest (a request
    // with no space that early, attack bytes that can be megabytes) left to `memchr`.
    let method_end = match space_in_words(&request[..request.len().min(16)]) {
        Some(i) => Some(i),
        None if request.len() > 16 => memchr(b' ', &request[16..]).map(|i| 16 + i),
        None => None,
    };
    let target = match method_end {
        Some(i) => {
            // Past the cut, a space changes nothing: only the first bytes are searched.
            let rest = &request[i + 1..];
            let rest = &rest[..rest.len().min(PATH_MAX_BYTES)];
            space_in_words(rest).map_or(rest, |j| &rest[..j])
        }
        None => request,
    };
    &target[..target.len().min(PATH_MAX_BYTES)]
}

/// The first space in `bytes`, eight bytes a step: on the short fields of a request,
/// `memchr`'s per-call setup was most of its cost (two calls, ~80 instructions a failed line).
#[inline]
fn space_in_words(bytes: &[u8]) -> Option<usize> {
    use crate::word::{next_marked, nonzero_bytes, BYTES, TOP_BITS};
    next_marked(bytes, 0, |word| {
        !nonzero_bytes(word ^ (BYTES * u64::from(b' '))) & TOP_BITS
    })
}

/// A fixed hash of a request target, the same in every process and on every platform (the
/// bottom-k path sample must not depend on the machine). Eight bytes a step: byte-at-a-time
/// FNV was a visible share of the time spent on failed lines.
#[inline]
pub fn path_hash(path: &[u8]) -> u64 {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut h = (path.len() as u64).wrapping_mul(K);
    let mut words = path.chunks_exact(8);
    for w in &mut words {
        let word = u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
        h = (h ^ word).wrapping_mul(K).rotate_left(29);
    }
    let mut tail = [0u8; 8];
    tail[..words.remainder().len()].copy_from_slice(words.remainder());
    h = (h ^ u64::from_le_bytes(tail)).wrapping_mul(K);
    // splitmix64's finaliser: every input bit reaches every output bit.
    h = (h ^ (h >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    h ^ (h >> 31)
}

/// Request targets → dense ids (exact bytes, no case folding). The bytes of all targets live
/// in one arena, found through a table of ids: ~70 bytes per target instead of a separate
/// allocation and map entry each (a week of scanners leaves hundreds of thousands).
///
/// The index is the client table's kind ([`ClientTable`]): slots of a hash tag and an id,
/// linear probing, at most half full. A lookup
/// is three dependent cache misses (slot, span, bytes), which the scanner fetches ahead
/// ([`Self::prefetch_slot`], [`Self::prefetch_span`], [`Self::prefetch_bytes`]) while it
/// counts a failed line three failed lines late. Invariant: each target is in the arena once,
/// and its slot lies on its probe path with no empty slot between.
#[derive(Debug, Clone, Default)]
pub struct PathTable {
    bytes: Vec<u8>,
    /// (start in `bytes`, length) per id; targets are at most [`PATH_MAX_BYTES`] long.
    spans: Vec<(usize, u16)>,
    /// Empty before the first target and once frozen.
    index: SlotIndex,
    /// Keyed (unlike [`path_hash`]): chosen collisions cannot slow the table down.
    hasher: ahash::RandomState,
    /// The targets the index is sized for at its first growth ([`SlotIndex::for_ids`]).
    planned: usize,
}

impl PathTable {
    /// A table whose index holds `targets` before it grows more than once. Grown by
    /// doubling from empty, a 1 GB day's ~49k targets were rehashed ~100k times (each a hash
    /// of its bytes and a cache miss): ~0.5 % of a run, with 1 thread or 2.
    pub fn with_planned(targets: usize) -> Self {
        PathTable {
            planned: targets,
            ..PathTable::default()
        }
    }

    /// The hash every lookup of `path` takes (`path` cut to [`PATH_MAX_BYTES`] first).
    #[inline]
    pub fn hash(&self, path: &[u8]) -> u64 {
        self.hasher
            .hash_one(&path[..path.len().min(PATH_MAX_BYTES)])
    }

    pub fn intern(&mut self, path: &[u8]) -> u32 {
        let hash = self.hash(path);
        self.intern_hashed(hash, path)
    }

    /// [`Self::intern`] with `hash` = [`Self::hash`] of `path` (checked in debug builds).
    pub fn intern_hashed(&mut self, hash: u64, path: &[u8]) -> u32 {
        debug_assert!(
            self.spans.is_empty() || !self.index.is_empty(),
            "a frozen table is read-only"
        );
        debug_assert_eq!(hash, self.hash(path), "a hash of another table or path");
        self.find_or_insert(hash, path)
    }

    /// [`Self::intern_hashed`] for any `hash` (tests force collisions with it).
    fn find_or_insert(&mut self, hash: u64, path: &[u8]) -> u32 {
        let path = &path[..path.len().min(PATH_MAX_BYTES)];
        if self.index.is_empty() {
            self.index = SlotIndex::for_ids(self.planned);
        }
        let slot = match self.find(hash, path) {
            Ok(id) => return id,
            Err(slot) => slot,
        };
        let id = self.spans.len();
        self.spans.push((self.bytes.len(), path.len() as u16));
        self.bytes.extend_from_slice(path);
        let (bytes, spans, hasher) = (&self.bytes, &self.spans, &self.hasher);
        self.index.insert(slot, hash, id, |i| {
            hasher.hash_one(span_bytes(bytes, spans[i]))
        });
        id as u32
    }

    /// The id of `path` if it is interned.
    pub fn get(&self, path: &[u8]) -> Option<u32> {
        debug_assert!(
            self.spans.is_empty() || !self.index.is_empty(),
            "a frozen table is read-only"
        );
        if self.index.is_empty() {
            return None;
        }
        let path = &path[..path.len().min(PATH_MAX_BYTES)];
        self.find(self.hash(path), path).ok()
    }

    /// `Ok(id)`, or `Err(the empty slot that ends the probe)`; the index must be allocated.
    fn find(&self, hash: u64, path: &[u8]) -> Result<u32, usize> {
        self.index
            .find(hash, |id| span_bytes(&self.bytes, self.spans[id]) == path)
            .map(|id| id as u32)
    }

    /// Start fetching the home slot of `hash` (a target's [`Self::hash`]).
    #[inline(always)]
    pub fn prefetch_slot(&self, hash: u64) {
        self.index.prefetch_home(hash);
    }

    /// Start fetching the span of the id that slot holds (the slot should be in cache).
    #[inline(always)]
    pub fn prefetch_span(&self, hash: u64) {
        if let Some(span) = self.index.hinted(hash).and_then(|id| self.spans.get(id)) {
            table::prefetch(span);
        }
    }

    /// Start fetching the bytes of that id's target (its span should be in cache).
    #[inline(always)]
    pub fn prefetch_bytes(&self, hash: u64) {
        if let Some(&(start, _)) = self.index.hinted(hash).and_then(|id| self.spans.get(id)) {
            table::prefetch(self.bytes.as_ptr().wrapping_add(start));
        }
    }

    /// Start fetching the span of `id` (see [`Self::prefetch_name`]).
    #[inline(always)]
    pub fn prefetch_span_of(&self, id: u32) {
        if let Some(span) = self.spans.get(id as usize) {
            table::prefetch(span);
        }
    }

    /// Start fetching the first bytes of `id`'s target (its span should be in cache).
    #[inline(always)]
    pub fn prefetch_name_of(&self, id: u32) {
        if let Some(&(start, _)) = self.spans.get(id as usize) {
            table::prefetch(self.bytes.as_ptr().wrapping_add(start));
        }
    }

    pub fn name(&self, id: u32) -> &[u8] {
        self.spans
            .get(id as usize)
            .map_or(&[][..], |&span| span_bytes(&self.bytes, span))
    }

    /// Every target, by id.
    pub fn names(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.spans.iter().map(|&span| span_bytes(&self.bytes, span))
    }

    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// Keep the targets `keep` says (by id), in id order, under the same hasher; the old id →
    /// new id map (`u32::MAX` for a target not kept).
    pub fn retain(&mut self, mut keep: impl FnMut(u32) -> bool) -> Vec<u32> {
        let old = std::mem::replace(
            self,
            PathTable {
                hasher: self.hasher.clone(),
                planned: self.planned,
                ..PathTable::default()
            },
        );
        (0..old.len() as u32)
            .map(|id| match keep(id) {
                true => self.intern_hashed(old.hash(old.name(id)), old.name(id)),
                false => u32::MAX,
            })
            .collect()
    }

    /// Forget every target, keeping the allocations.
    pub fn clear(&mut self) {
        if !self.spans.is_empty() {
            self.index.clear();
        }
        self.bytes.clear();
        self.spans.clear();
    }

    /// Keep the names, free what only lookups need (the index) and the growth slack: for a
    /// table that is only read from now on: [`Self::get`] and [`Self::intern`] must not be
    /// called on it (checked in debug builds).
    pub fn freeze(&mut self) {
        self.index = SlotIndex::default();
        self.bytes.shrink_to_fit();
        self.spans.shrink_to_fit();
    }
}

fn span_bytes(bytes: &[u8], (start, len): (usize, u16)) -> &[u8] {
    &bytes[start..start + len as usize]
}

/// Key of the per-client table: this client, on this day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DetailKey {
    pub day: DayNum,
    pub client: ClientKey,
}

/// Two words for the hasher (the day with the client's kind, then the address or id), where
/// the derived hash fed it five pieces (the day, the variant, the array's length and its
/// bytes), a multiply each, on every failed line. Equal keys give equal words.
impl std::hash::Hash for DetailKey {
    #[inline]
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        let (kind, value) = self.client.parts();
        state.write_u64(u64::from(self.day as u32) << 1 | kind);
        state.write_u128(value);
    }
}

/// One kept request target and its failed count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathCount {
    pub hash: u64,
    pub id: u32,
    /// Saturating: one client asking one path 4 billion times a day stays at the cap.
    pub count: u32,
}

/// Failed counts by status, ascending by status. Most clients fail with one status a day,
/// which stays inline (no allocation per entry).
pub type StatusCounts = SmallVec<[(u16, u64); 1]>;

/// Everything known about one client's failed requests in one period (a day, or a week once
/// days are merged).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientDay {
    pub first: Timestamp,
    pub last: Timestamp,
    pub statuses: StatusCounts,
    /// At most [`PATHS_PER_CLIENT`], ascending by (hash, path bytes); one stays inline.
    pub paths: SmallVec<[PathCount; 1]>,
}

impl ClientDay {
    fn new(time: Timestamp) -> Self {
        ClientDay {
            first: time,
            last: time,
            statuses: SmallVec::new(),
            paths: SmallVec::new(),
        }
    }

    /// Start fetching this entry's own cache lines (~100 bytes, 8-aligned: two or three),
    /// without reading it.
    #[inline(always)]
    pub fn prefetch_entry(entry: *const Self) {
        prefetch_bytes(entry.cast(), std::mem::size_of::<Self>());
    }

    /// Start fetching the status list where it spilled to the heap (a client with several
    /// statuses): what [`Self::failed`] reads.
    #[inline(always)]
    pub fn prefetch_statuses(&self) {
        if self.statuses.spilled() {
            prefetch(self.statuses.as_ptr());
        }
    }

    /// Start fetching the status and path lists where they spilled to the heap (a client
    /// with several statuses or targets); the entry itself should be in cache by now.
    #[inline(always)]
    pub fn prefetch_lists(&self) {
        self.prefetch_statuses();
        if self.paths.spilled() {
            // Paths of 16 bytes: most lists take one or two cache lines; the few long
            // ones (scanners') up to sixteen.
            prefetch_bytes(
                self.paths.as_ptr().cast(),
                std::mem::size_of_val(&self.paths[..]),
            );
        }
    }

    /// Failed requests of this client in the period.
    pub fn failed(&self) -> u64 {
        self.statuses.iter().map(|s| s.1).sum()
    }

    #[inline]
    fn add_status(&mut self, status: u16, n: u64) {
        // Most clients fail with one status a day: the first entry, checked first.
        if let Some(first) = self.statuses.first_mut() {
            if first.0 == status {
                first.1 += n;
                return;
            }
        }
        match self.statuses.iter_mut().find(|s| s.0 == status) {
            Some(s) => s.1 += n,
            None => {
                let at = self.statuses.partition_point(|s| s.0 < status);
                self.statuses.insert(at, (status, n));
            }
        }
    }

    /// Where `(hash, bytes)` is or would go in the bottom-k order; bytes are compared only
    /// on a tie. Most lists are a few targets long: there the place is the count of smaller
    /// hashes (one pass without a data-dependent branch, where a binary search's
    /// unpredictable steps cost ~25 instructions each); a long list is searched.
    #[inline]
    fn position(&self, table: &PathTable, hash: u64, bytes: &[u8]) -> Result<usize, usize> {
        let mut at = match self.paths.len() {
            0..=8 => self.paths.iter().filter(|p| p.hash < hash).count(),
            _ => self.paths.partition_point(|p| p.hash < hash),
        };
        while let Some(p) = self.paths.get(at) {
            if p.hash != hash {
                break;
            }
            match table.name(p.id).cmp(bytes) {
                Ordering::Less => at += 1,
                Ordering::Equal => return Ok(at),
                Ordering::Greater => break,
            }
        }
        Err(at)
    }

    /// Count one more failed request (the hot path: interns only kept paths). `table_hash` is
    /// `table`'s [`PathTable::hash`] of `path`.
    #[inline]
    fn count(
        &mut self,
        status: u16,
        time: Timestamp,
        table: &mut PathTable,
        path: &[u8],
        table_hash: u64,
    ) {
        self.first = self.first.min(time);
        self.last = self.last.max(time);
        self.add_status(status, 1);
        let hash = path_hash(path);
        match self.position(table, hash, path) {
            Ok(i) => self.paths[i].count = self.paths[i].count.saturating_add(1),
            Err(i) if i < PATHS_PER_CLIENT => {
                let id = table.intern_hashed(table_hash, path);
                self.paths.insert(i, PathCount { hash, id, count: 1 });
                self.paths.truncate(PATHS_PER_CLIENT);
            }
            Err(_) => {}
        }
    }

    /// Fold `other` in (path ids of one table). `cmp_names` orders two ids by their text; it
    /// is asked only when two different targets share a 64-bit hash, so a caller without
    /// the table in hand (a store merging outside its lock) takes it only then.
    pub fn merge_with(&mut self, other: &ClientDay, cmp_names: impl Fn(u32, u32) -> Ordering) {
        self.first = self.first.min(other.first);
        self.last = self.last.max(other.last);
        for &(status, n) in &other.statuses {
            self.add_status(status, n);
        }
        for p in &other.paths {
            // Ids of one table: the same id is the same text, no bytes to compare.
            let found = self.paths.binary_search_by(|q| {
                q.hash.cmp(&p.hash).then_with(|| match q.id == p.id {
                    true => Ordering::Equal,
                    false => cmp_names(q.id, p.id),
                })
            });
            match found {
                Ok(i) => self.paths[i].count = self.paths[i].count.saturating_add(p.count),
                Err(i) if i < PATHS_PER_CLIENT => {
                    self.paths.insert(i, *p);
                    self.paths.truncate(PATHS_PER_CLIENT);
                }
                Err(_) => {}
            }
        }
    }
}

/// How a flush leaves the table's allocation (see [`ClientTable::take_runs`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flush {
    /// Kept for the next entries: runs are fresh memory of their exact size.
    KeepTable,
    /// The table's last flush: its allocation becomes the first day's run.
    Last,
}

/// Entries the per-thread tables may hold in all, before they are flushed into the store
/// (about 100 bytes each, plus the hash table's slack): see [`Aggregate::with_flush_size`].
pub const FLUSH_ENTRIES_TOTAL: usize = 1 << 17;

/// Entries one thread's table holds at most before it is flushed, whatever its share of
/// [`FLUSH_ENTRIES_TOTAL`]: the size one thread has always had. Twice that was not measured
/// to help one thread, and would double the index that every failed line probes.
pub const FLUSH_ENTRIES_MAX: usize = 1 << 16;

/// Entries one thread's table holds at least before it is flushed, however many threads share
/// [`FLUSH_ENTRIES_TOTAL`] (the size each of 16 threads gets). On the 16-core device, 16
/// threads over 16 days of 1 GB, alternating (device runs 11 and 12): 8k entries a table
/// 0.918 s (median of 6; faster in 4 of 6) and 372-386 MiB, against 0.947 s and 393-418 MiB
/// with 16k and 0.978 s with 64k (faster in 0 of 6): small tables stay in a core's caches,
/// which saves more than the entries taken again after each flush cost (4k: 0.916 s, the same).
pub const FLUSH_ENTRIES_MIN: usize = 1 << 13;

/// The current day's counts of a chunk scan, kept out of the map until the day changes
/// (consecutive lines nearly always share their day).
#[derive(Default)]
struct DayTally {
    day: Option<DayNum>,
    counts: DayCounts,
    parsed: u64,
    /// The latest day so far (updated where the day changes, off the per-line path).
    last_day: Option<DayNum>,
}

/// The quotes of the line at `data[pos..end]`, read from the chunk's bitmaps (indices on
/// the line).
struct LineQuotes<'b> {
    bitmaps: &'b Bitmaps,
    data: &'b [u8],
    pos: usize,
    end: usize,
}

impl FirstQuote for LineQuotes<'_> {
    #[inline(always)]
    fn first_quote(&self, from: usize) -> Option<usize> {
        let (data, pos, end) = (self.data, self.pos, self.end);
        self.bitmaps
            .quote_before(data, pos + from, end)
            .map(|q| q - pos)
    }
}

/// A failed line scanned but not yet counted.
struct PendingFailed<'a> {
    hash: u64,
    key: DetailKey,
    status: u16,
    time: Timestamp,
    /// The request target, and the hash the path table takes of it.
    target: &'a [u8],
    target_hash: u64,
}

/// The failed lines of a chunk between being scanned and being counted: a ring, so a line is
/// written once and read in place at each step (three stages as three moved values cost ~60
/// instructions a failed line in moves alone). Invariant: the failed line numbered `k` in the
/// chunk (from 0) is in `ring[k & MASK]` from its scan until line `k + DEPTH` is queued, which
/// counts it first; a chunk's end counts the last `DEPTH`, oldest first.
#[derive(Default)]
struct FailedQueue<'a> {
    ring: [Option<PendingFailed<'a>>; FailedQueue::DEPTH + 1],
    /// Failed lines queued so far in this chunk.
    seen: usize,
}

impl FailedQueue<'_> {
    /// Failed lines between a line's scan and its count (slot, entry, lists fetched).
    const DEPTH: usize = 3;
    /// The ring's index mask: it holds `DEPTH + 1` lines, a power of two.
    const MASK: usize = {
        assert!((Self::DEPTH + 1).is_power_of_two());
        Self::DEPTH
    };
}

/// Everything one worker learned since its last flush.
#[derive(Debug, Clone)]
pub struct Aggregate {
    pub days: AHashMap<DayNum, DayCounts>,
    /// Failed requests per (day, client), with hostnames and paths as ids of the two tables.
    pub table: ClientTable,
    pub hosts: Interner,
    pub paths: PathTable,
    pub chunks: Vec<ChunkRecord>,
    flush_at: usize,
}

impl Default for Aggregate {
    fn default() -> Self {
        Aggregate::with_flush_size(usize::MAX)
    }
}

impl Aggregate {
    /// An aggregate whose table asks to be flushed at `entries` (see [`Self::needs_flush`]).
    pub fn with_flush_size(entries: usize) -> Self {
        let flushes = entries <= FLUSH_ENTRIES_MAX;
        Aggregate {
            days: AHashMap::new(),
            // A worker's table is sized for its flush size up front, plus half for what a
            // chunk adds past it (the size is checked between chunks): grown by doubling, each
            // step copied the table into fresh memory (page faults, a rehash of every entry)
            // and freed the old; with two threads, a tenth of the run's system time. The
            // entries fill their vector from the front, so its untouched tail costs no memory.
            // An aggregate that never flushes starts small.
            table: match flushes {
                true => ClientTable::with_capacity(entries + entries / 2),
                false => ClientTable::default(),
            },
            hosts: Interner::default(),
            // About one target a client and day (a 1 GB day: 49k targets, 44k clients).
            paths: match flushes {
                true => PathTable::with_planned(entries),
                false => PathTable::default(),
            },
            chunks: Vec::new(),
            flush_at: entries.max(1),
        }
    }

    /// Whether the table has reached its flush size.
    pub fn needs_flush(&self) -> bool {
        self.table.len() >= self.flush_at
    }

    /// Scan one line-aligned chunk of file `file`. `data` must start at a line start and end
    /// at a line end (after `\n`) or at the end of the file. Runs the x86-64-v3 build of the
    /// loop where the CPU has it (see [`crate::scan::isa`]), the portable one elsewhere.
    pub fn scan_chunk(
        &mut self,
        data: &[u8],
        scanner: &mut LineScanner,
        failed: &FailedCodes,
        mut record: ChunkRecord,
    ) {
        self.scan_lines(data, scanner, failed, &mut record);
        self.finish_chunk(record);
    }

    /// Scan the next lines of a chunk into `record`, which goes on counting from the lines it
    /// has (its line numbers, parsed lines and latest day): a chunk scanned in pieces, with
    /// the table's size checked between them, gives the record of one scan. Pushing the
    /// record is the caller's ([`Self::finish_chunk`]).
    pub fn scan_lines(
        &mut self,
        data: &[u8],
        scanner: &mut LineScanner,
        failed: &FailedCodes,
        record: &mut ChunkRecord,
    ) {
        #[cfg(target_arch = "x86_64")]
        if let Some(v3) = V3::detect() {
            // SAFETY: the token proves the CPU has every feature `scan_lines_v3` enables.
            unsafe { self.scan_lines_v3(v3, data, scanner, failed, record) };
            return;
        }
        self.scan_lines_in(Baseline, data, scanner, failed, record);
    }

    /// The chunk `record` counted ([`Self::scan_lines`]) is done.
    pub fn finish_chunk(&mut self, record: ChunkRecord) {
        self.chunks.push(record);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,bmi1,bmi2,lzcnt,popcnt,ssse3,sse4.1,sse4.2")]
    fn scan_lines_v3(
        &mut self,
        v3: V3,
        data: &[u8],
        scanner: &mut LineScanner,
        failed: &FailedCodes,
        record: &mut ChunkRecord,
    ) {
        self.scan_lines_in(v3, data, scanner, failed, record);
    }

    /// [`Self::scan_lines`] in the given build of the loop (tests compare the builds).
    #[inline(always)]
    pub fn scan_lines_in<I: Isa>(
        &mut self,
        isa: I,
        data: &[u8],
        scanner: &mut LineScanner,
        failed: &FailedCodes,
        record: &mut ChunkRecord,
    ) {
        let mut tally = DayTally::default();
        let mut queue = FailedQueue::default();
        let mut bitmaps = Bitmaps::new();
        let mut line_no = record.physical_lines;
        let mut pos = 0usize;
        while pos < data.len() {
            line_no += 1;
            let end = bitmaps.line_end(data, pos);
            let line = &data[pos..end];
            // Fast path: an ordinary line, its closing quote read from the bitmaps. It gives
            // up (None) on anything unusual and the general path decides; both agree on
            // every line (tested).
            let quotes = LineQuotes {
                bitmaps: &bitmaps,
                data,
                pos,
                end,
            };
            match scanner.quick_with(isa, line, &quotes) {
                Some(fields) => self.count_parsed(&mut tally, &mut queue, fields, failed),
                None => match scanner.scan(line) {
                    Line::Parsed(fields) => {
                        self.count_parsed(&mut tally, &mut queue, fields, failed)
                    }
                    Line::Blank => record.blank += 1,
                    Line::Malformed(reason) => record.note_malformed(line_no, reason),
                },
            }
            pos = end + 1;
        }
        // The lines still queued, oldest first.
        for k in queue.seen.saturating_sub(FailedQueue::DEPTH)..queue.seen {
            if let Some(pending) = &queue.ring[k & FailedQueue::MASK] {
                self.count_failed(pending);
            }
        }
        if let Some(d) = tally.day {
            self.days.entry(d).or_default().add(&tally.counts);
        }
        record.parsed += tally.parsed;
        record.last_day = record.last_day.max(tally.last_day);
        record.physical_lines = line_no;
        if self.paths.len() > PATH_SLACK + 2 * PATHS_PER_CLIENT * self.table.len() {
            self.drop_unkept_paths();
        }
    }

    /// Count one parsed line: its day's counts, and the per-client table if it failed.
    #[inline(always)]
    fn count_parsed<'a>(
        &mut self,
        tally: &mut DayTally,
        queue: &mut FailedQueue<'a>,
        fields: Fields<'a>,
        failed: &FailedCodes,
    ) {
        tally.parsed += 1;
        if tally.day != Some(fields.day) {
            if let Some(d) = tally.day {
                self.days.entry(d).or_default().add(&tally.counts);
            }
            tally.day = Some(fields.day);
            tally.last_day = tally.last_day.max(tally.day);
            tally.counts = DayCounts::default();
        }
        let counts = &mut tally.counts;
        counts.lines += 1;
        counts.status_400 += (fields.status == 400) as u64;
        if failed.contains(fields.status) {
            counts.failed += 1;
            self.queue_failed(queue, fields);
        }
    }

    /// A failed line enters the queue; its key's slot is fetched now, its entry when the
    /// next failed line comes, the entry's status and path lists (where they spilled to the
    /// heap) at the one after, and it is counted at the third (see [`ClientTable`]).
    /// Hostnames are interned here, in line order, as if counted at once.
    #[inline]
    fn queue_failed<'a>(&mut self, queue: &mut FailedQueue<'a>, fields: Fields<'a>) {
        let client = match fields.client {
            ClientRef::Ip(ip) => ClientKey::Ip(ip.into()),
            ClientRef::Host(name) => ClientKey::Host(self.hosts.intern(name)),
        };
        let key = DetailKey {
            day: fields.day,
            client,
        };
        let hash = self.table.hash(&key);
        self.table.prefetch_slot(hash);
        let target = request_target(fields.request);
        let target_hash = self.paths.hash(target);
        self.paths.prefetch_slot(target_hash);
        let seen = queue.seen;
        queue.seen += 1;
        let ring = &mut queue.ring;
        let at = |back: usize| seen.wrapping_sub(back) & FailedQueue::MASK;
        if let Some(ready) = &ring[at(FailedQueue::DEPTH)] {
            self.count_failed(ready);
        }
        // Over the one counted a step ago.
        ring[at(0)] = Some(PendingFailed {
            hash,
            key,
            status: fields.status,
            time: fields.time,
            target,
            target_hash,
        });
        if let Some(older) = &ring[at(1)] {
            self.table.prefetch_entry(older.hash);
            self.paths.prefetch_span(older.target_hash);
        }
        if let Some(fetched) = &ring[at(2)] {
            self.table.prefetch_lists(fetched.hash);
            self.paths.prefetch_bytes(fetched.target_hash);
        }
    }

    /// One lookup in the per-client table per failed line.
    #[inline]
    fn count_failed(&mut self, failed: &PendingFailed<'_>) {
        self.table
            .entry_or_insert_with(failed.hash, failed.key, || ClientDay::new(failed.time))
            .count(
                failed.status,
                failed.time,
                &mut self.paths,
                failed.target,
                failed.target_hash,
            );
    }

    /// Keep only the targets some entry still lists. A target that entered a client's list
    /// and was pushed out of it stays interned; a client that sends targets in falling
    /// [`path_hash`] order (the hash is public, and fixed so that reports are reproducible)
    /// pushed every one in and out, and the table grew with the input (1M requests of one
    /// client: 240 MB) where a flush never came (it waits for entries). Called when over
    /// half the targets are not listed: amortized, a constant per target interned. Checked
    /// after each chunk, not each line: a chunk adds at most its own size in targets.
    #[cold]
    fn drop_unkept_paths(&mut self) {
        let mut listed = vec![false; self.paths.len()];
        for (_, detail) in self.table.iter() {
            for p in &detail.paths {
                listed[p.id as usize] = true;
            }
        }
        let new_ids = self.paths.retain(|id| listed[id as usize]);
        self.table.for_each_detail(|detail| {
            for p in detail.paths.iter_mut() {
                p.id = new_ids[p.id as usize];
            }
        });
    }

    /// Everything this aggregate holds, merged on its own (tests, benches, fuzzing).
    pub fn into_merged(mut self) -> crate::merge::Merged {
        let store = crate::merge::Store::default();
        self.flush_all(&store);
        store.finish()
    }

    /// Move the per-client table into `store` as sorted runs with the store's ids, and empty
    /// it (keeping its allocation, so a worker's memory stays at its flush size).
    pub fn flush(&mut self, store: &crate::merge::Store) {
        self.flush_table(store, Flush::KeepTable);
    }

    fn flush_table(&mut self, store: &crate::merge::Store, how: Flush) {
        if self.table.is_empty() {
            return;
        }
        store.absorb_table(self, how);
        self.table.clear();
        self.hosts.clear();
        self.paths.clear();
    }

    /// Flush the table, day counts and chunk records: nothing is left behind. The table's
    /// own allocation becomes a run (see [`ClientTable::take_runs`]).
    pub fn flush_all(&mut self, store: &crate::merge::Store) {
        self.flush_table(store, Flush::Last);
        store.absorb_counts(
            std::mem::take(&mut self.days),
            std::mem::take(&mut self.chunks),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::Format;

    fn scan_all(data: &[u8]) -> Aggregate {
        let mut agg = Aggregate::default();
        let mut s = LineScanner::new(Format::Combined, false, 1 << 20);
        agg.scan_chunk(
            data,
            &mut s,
            &FailedCodes::new(&[400, 401, 403, 404, 409]),
            ChunkRecord::new(0, 0),
        );
        agg
    }

    /// Everything an aggregate holds, paths and hosts by name (ids are a table's own).
    fn contents(agg: Aggregate) -> impl PartialEq + std::fmt::Debug {
        let merged = agg.into_merged();
        let runs: Vec<_> = merged
            .clients
            .keys()
            .map(|&day| (day, merged.merged_clients(day)))
            .collect();
        let clients: Vec<_> = runs
            .iter()
            .flat_map(|(day, run)| run.iter().map(move |entry| (*day, entry)))
            .map(|(day, (client, d))| {
                let client = match *client {
                    ClientKey::Ip(ip) => format!("{ip:?}"),
                    ClientKey::Host(id) => String::from_utf8_lossy(merged.hosts.name(id)).into(),
                };
                let paths: Vec<_> = d
                    .paths
                    .iter()
                    .map(|p| (merged.paths.name(p.id).to_vec(), p.count))
                    .collect();
                (day, client, d.first, d.last, d.statuses.to_vec(), paths)
            })
            .collect();
        (merged.days, clients, merged.chunks)
    }

    /// A client whose targets come in falling `path_hash` order pushes each one into its
    /// list and the one before out: the targets no entry lists are dropped after a chunk,
    /// so the table stays near what the entries list, whatever the input's length, and the
    /// kept targets are those of a count that never dropped any.
    #[test]
    fn targets_pushed_out_of_every_list_are_not_kept() {
        let mut paths: Vec<String> = (0..3 * PATH_SLACK).map(|i| format!("/p{i}")).collect();
        paths.sort_by_key(|p| std::cmp::Reverse(path_hash(p.as_bytes())));
        let line = |p: &String| {
            format!("10.0.0.1 - - [19/Jun/2023:10:00:00 +0000] \"GET {p} HTTP/1.1\" 404 0\n")
        };
        let mut agg = Aggregate::default();
        let mut scanner = LineScanner::new(Format::Combined, false, 1 << 20);
        let failed = FailedCodes::new(&[404]);
        for (k, chunk) in paths.chunks(PATH_SLACK / 2).enumerate() {
            let data: String = chunk.iter().map(line).collect();
            agg.scan_chunk(
                data.as_bytes(),
                &mut scanner,
                &failed,
                ChunkRecord::new(0, k as u64),
            );
            assert!(
                agg.paths.len() <= PATH_SLACK + 2 * PATHS_PER_CLIENT,
                "{} targets after chunk {k}",
                agg.paths.len()
            );
        }
        let merged = agg.into_merged();
        let day = *merged.clients.keys().next().unwrap();
        let clients = merged.merged_clients(day);
        let [(_, detail)] = &clients[..] else {
            panic!("one client: {clients:?}")
        };
        let kept: Vec<&[u8]> = detail
            .paths
            .iter()
            .map(|p| merged.paths.name(p.id))
            .collect();
        let want: Vec<&[u8]> = paths
            .iter()
            .rev()
            .take(PATHS_PER_CLIENT)
            .map(|p| p.as_bytes())
            .collect();
        assert_eq!(kept, want, "the smallest hashes, ascending");
        assert!(detail.paths.iter().all(|p| p.count == 1));
        assert_eq!(detail.failed(), 3 * PATH_SLACK as u64);
    }

    /// The x86-64-v3 build of the loop against the portable one, on the hostile fixtures
    /// and on dotted quads of every part length (edge values, leading zeros, over 255).
    #[test]
    fn both_builds_of_the_loop_count_the_same() {
        let Some(v3) = crate::scan::V3::detect() else {
            eprintln!("skipped: this CPU has no x86-64-v3 build to compare");
            return;
        };
        let traps = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/traps");
        let mut data = Vec::new();
        let mut files: Vec<_> = std::fs::read_dir(traps)
            .expect("testdata/traps")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "log"))
            .collect();
        files.sort();
        for file in &files {
            data.extend(std::fs::read(file).expect("fixture"));
        }
        let parts = [
            "0", "7", "00", "01", "10", "99", "100", "255", "256", "010", "999",
        ];
        for (n, a) in parts.iter().enumerate() {
            for b in parts {
                for c in ["1", "25", "250"] {
                    let d = parts[(n * 7 + b.len()) % parts.len()];
                    let status = [404, 200, 401][(n + c.len()) % 3];
                    data.extend(format!("{a}.{b}.{c}.{d} - - [19/Jun/2023:10:00:{:02} +0000] \"GET /{b}{c} HTTP/1.1\" {status} 5 \"-\" \"ua\"\n", n % 60).as_bytes());
                }
            }
        }
        let failed = FailedCodes::new(&[400, 401, 403, 404, 409]);
        let scan = |isa_v3: bool| {
            let mut agg = Aggregate::with_flush_size(7);
            let mut scanner = LineScanner::new(Format::Combined, false, 1 << 20);
            let mut record = ChunkRecord::new(0, 0);
            match isa_v3 {
                true => agg.scan_lines_in(v3, &data, &mut scanner, &failed, &mut record),
                false => agg.scan_lines_in(Baseline, &data, &mut scanner, &failed, &mut record),
            }
            agg.finish_chunk(record);
            agg
        };
        let (portable, fast) = (scan(false), scan(true));
        assert_eq!(portable.chunks[0].physical_lines, 662 + 363);
        assert_eq!(contents(fast), contents(portable));
    }

    #[test]
    fn counts_and_samples() {
        let data = b"1.2.3.4 - - [19/Jun/2023:10:00:00 +0000] \"GET /\" 404 1\n\
\n\
junk\n\
HOST.example - - [19/Jun/2023:10:00:00 +0000] \"GET /\" 401 1\n\
host.EXAMPLE - - [20/Jun/2023:10:00:00 +0000] \"GET /\" 400 1\n\
1.2.3.4 - - [20/Jun/2023:10:00:00 +0000] \"GET /\" 200 1";
        let agg = scan_all(data);
        let c = &agg.chunks[0];
        assert_eq!((c.physical_lines, c.parsed, c.blank), (6, 4, 1));
        assert_eq!(c.samples, vec![(3, Malformed::NotAccessLine)]);
        assert_eq!(agg.hosts.names.len(), 1);
        let d19 = crate::scan::time::days_from_civil(2023, 6, 19);
        assert_eq!(
            agg.days[&d19],
            DayCounts {
                lines: 2,
                failed: 2,
                status_400: 0
            }
        );
        assert_eq!(
            agg.days[&(d19 + 1)],
            DayCounts {
                lines: 2,
                failed: 1,
                status_400: 1
            }
        );
        // (19th, 1.2.3.4), (19th, host.example), (20th, host.example): one entry each.
        assert_eq!(agg.table.len(), 3);
        let host = ClientKey::Host(0);
        let entry = agg
            .table
            .get(&DetailKey {
                day: d19 + 1,
                client: host,
            })
            .expect("the entry of (20th, host.example)");
        assert_eq!(entry.statuses.to_vec(), vec![(400, 1)]);
    }

    type Paths = Vec<(Vec<u8>, u64)>;

    fn detail_view(agg: &Aggregate) -> Vec<(DetailKey, i64, i64, Paths)> {
        let mut v: Vec<_> = agg
            .table
            .iter()
            .map(|(k, d)| {
                let paths = d
                    .paths
                    .iter()
                    .map(|p| (agg.paths.name(p.id).to_vec(), u64::from(p.count)))
                    .collect();
                (*k, d.first.utc_secs, d.last.utc_secs, paths)
            })
            .collect();
        v.sort_by_key(|x| (x.0.day, x.0.client));
        v
    }

    #[test]
    fn request_targets() {
        assert_eq!(
            request_target(b"GET /wp-login.php HTTP/1.1"),
            b"/wp-login.php"
        );
        assert_eq!(request_target(b"GET /"), b"/");
        assert_eq!(request_target(b"-"), b"-");
        assert_eq!(request_target(b"\\x16\\x03"), b"\\x16\\x03");
        assert_eq!(request_target(b""), b"");
        let long = [b"GET /".as_slice(), &[b'a'; 1000]].concat();
        assert_eq!(request_target(&long).len(), PATH_MAX_BYTES);
    }

    proptest::proptest! {
        /// The target is the field between the first two spaces, cut: spaces anywhere,
        /// several or none, long methods, targets longer than the cut.
        #[test]
        fn request_target_is_the_second_space_separated_field(
            long_method in proptest::prop_oneof![0usize..20, 0usize..600],
            space in proptest::prelude::any::<bool>(),
            long_target in 0usize..600,
            body in proptest::collection::vec(
                proptest::prop_oneof![proptest::strategy::Just(b' '), proptest::strategy::Just(0x1f_u8), proptest::strategy::Just(0x21), proptest::strategy::Just(0xa0), proptest::prelude::any::<u8>()],
                0..120,
            ),
        ) {
            let mut request = vec![b'G'; long_method];
            if space {
                request.push(b' ');
            }
            request.extend(std::iter::repeat_n(b'a', long_target));
            request.extend(&body);
            let naive = match request.iter().position(|&b| b == b' ') {
                Some(i) => {
                    let rest = &request[i + 1..];
                    rest.iter().position(|&b| b == b' ').map_or(rest, |j| &rest[..j])
                }
                None => &request[..],
            };
            let naive = &naive[..naive.len().min(PATH_MAX_BYTES)];
            proptest::prop_assert_eq!(request_target(&request), naive);
        }
    }

    #[test]
    fn details_first_last_and_capped_paths() {
        let mut log = String::new();
        // 1.2.3.4: four more distinct paths than a list keeps (3 hits on /p0), out of time
        // order, plus one 200 line.
        let distinct = PATHS_PER_CLIENT + 4;
        for i in 0..distinct {
            let sec = (i * 7 + 5) % distinct;
            log.push_str(&format!(
                "1.2.3.4 - - [19/Jun/2023:10:{:02}:{:02} +0200] \"GET /p{i} HTTP/1.1\" 404 1\n",
                sec / 60,
                sec % 60
            ));
        }
        log.push_str("1.2.3.4 - - [19/Jun/2023:09:00:00 +0200] \"GET /p0 HTTP/1.1\" 200 1\n");
        log.push_str("1.2.3.4 - - [19/Jun/2023:10:00:30 +0200] \"GET /p0 HTTP/1.1\" 401 1\n");
        log.push_str("1.2.3.4 - - [19/Jun/2023:10:00:30 +0200] \"GET /p0 HTTP/1.1\" 401 1\n");
        let agg = scan_all(log.as_bytes());
        let view = detail_view(&agg);
        assert_eq!(view.len(), 1);
        let (_, first, last, paths) = &view[0];
        let base = crate::scan::time::days_from_civil(2023, 6, 19) as i64 * 86_400 + 8 * 3600;
        // 68 distinct seconds: 10:00:00 to 10:01:07.
        assert_eq!((*first - base, *last - base), (0, distinct as i64 - 1));
        assert_eq!(paths.len(), PATHS_PER_CLIENT);
        let total: u64 = paths.iter().map(|p| p.1).sum();
        // The ones kept are the first of the fixed (hash, bytes) order of all the targets.
        let mut all: Vec<Vec<u8>> = (0..distinct)
            .map(|i| format!("/p{i}").into_bytes())
            .collect();
        all.sort_by(|a, b| path_hash(a).cmp(&path_hash(b)).then_with(|| a.cmp(b)));
        let kept: Vec<Vec<u8>> = paths.iter().map(|p| p.0.clone()).collect();
        assert_eq!(kept, all[..PATHS_PER_CLIENT].to_vec());
        let p0 = if kept.contains(&b"/p0".to_vec()) {
            2
        } else {
            0
        };
        assert_eq!(total, PATHS_PER_CLIENT as u64 + p0);
    }

    proptest::proptest! {
        /// A client's list is found in like a binary search over (hash, bytes) finds in it,
        /// with many hash ties (hashes from a range of four) between different targets.
        #[test]
        fn path_position_agrees_with_a_binary_search(
            kept in proptest::collection::btree_set(
                (0u64..4, proptest::collection::vec(b'a'..b'd', 0..3)),
                0..=PATHS_PER_CLIENT,
            ),
            queries in proptest::collection::vec(
                (0u64..5, proptest::collection::vec(b'a'..b'd', 0..3)),
                1..20,
            ),
        ) {
            let mut table = PathTable::default();
            let mut client = ClientDay::new(Timestamp::default());
            // The set iterates in (hash, bytes) order: the list's own order.
            for (hash, path) in &kept {
                let id = table.intern(path);
                client.paths.push(PathCount { hash: *hash, id, count: 1 });
            }
            for (hash, path) in &queries {
                let expect = client.paths.binary_search_by(|p| {
                    p.hash.cmp(hash).then_with(|| table.name(p.id).cmp(path))
                });
                proptest::prop_assert_eq!(client.position(&table, *hash, path), expect);
            }
        }

        /// The path table against a `HashMap`: the same ids for the same bytes, across its
        /// growth, a clear, and lookups of interned and unknown targets; prefetching any
        /// hash (of a target or not) is harmless.
        #[test]
        fn path_table_agrees_with_a_hash_map(
            rounds in proptest::collection::vec(
                proptest::collection::vec(proptest::collection::vec(proptest::prelude::any::<u8>(), 0..6), 0..300),
                1..3,
            ),
        ) {
            let mut table = PathTable::default();
            proptest::prop_assert_eq!(table.get(b"/x"), None);
            for paths in &rounds {
                table.clear();
                let mut reference: std::collections::HashMap<Vec<u8>, u32> = Default::default();
                for path in paths {
                    let hash = table.hash(path);
                    table.prefetch_slot(hash);
                    table.prefetch_span(hash);
                    table.prefetch_bytes(hash ^ 1);
                    let next = reference.len() as u32;
                    let expect = *reference.entry(path.clone()).or_insert(next);
                    proptest::prop_assert_eq!(table.intern_hashed(hash, path), expect);
                }
                proptest::prop_assert_eq!(table.len(), reference.len());
                for (path, &id) in &reference {
                    proptest::prop_assert_eq!(table.get(path), Some(id));
                    proptest::prop_assert_eq!(table.name(id), &path[..]);
                }
                proptest::prop_assert_eq!(table.get(b"not a generated path"), None);
            }
        }
    }

    #[test]
    fn path_table_colliding_hashes_compare_bytes_and_wrap() {
        let mut t = PathTable::default();
        t.intern(b"/first");
        t.clear();
        // One hash for every target: the same tag and home (the last slot of the first
        // index), so every lookup compares bytes and probes wrap around; 8 targets keep the
        // index at its first size.
        let last = t.index.slot_count() as u64 - 1;
        let hash = 0xABCD_0000_0000_0000 | last;
        let paths: Vec<Vec<u8>> = (0..8u8).map(|i| vec![b'/', i]).collect();
        for round in 0..2 {
            for (i, p) in paths.iter().enumerate() {
                assert_eq!(t.find_or_insert(hash, p), i as u32, "round {round}");
            }
        }
        assert_eq!(t.len(), 8);
        assert_eq!(t.index.slot_count() as u64, last + 1, "no growth");
        // The last slot and slots 0-6 are taken: the probe ends at 7.
        assert_eq!(t.find(hash, b"/none"), Err(7));
        t.clear();
        assert_eq!(t.find_or_insert(hash, &paths[7]), 0);
    }

    #[test]
    fn path_table_interns_exact_bytes_in_one_arena() {
        let mut t = PathTable::default();
        let long = vec![b'a'; PATH_MAX_BYTES + 10];
        let ids: Vec<u32> = [&b"/x"[..], b"/X", b"/x", b"", &long, b"\xff\x00"]
            .iter()
            .map(|p| t.intern(p))
            .collect();
        assert_eq!(ids, vec![0, 1, 0, 2, 3, 4]);
        assert_eq!(t.len(), 5);
        assert_eq!(t.name(1), b"/X");
        assert_eq!(t.name(3), &long[..PATH_MAX_BYTES], "cut to the cap");
        assert_eq!(t.name(4), b"\xff\x00");
        assert_eq!(t.name(99), b"", "unknown ids are empty, not a panic");
        let names: Vec<&[u8]> = t.names().collect();
        assert_eq!(names[0], b"/x");
        t.clear();
        assert!(t.is_empty());
        assert_eq!(t.intern(b"/y"), 0);
    }

    #[test]
    fn merge_asks_for_names_only_on_a_hash_tie_between_different_ids() {
        let path = |hash, id, count| PathCount { hash, id, count };
        let day = |paths: &[PathCount]| ClientDay {
            first: Timestamp::default(),
            last: Timestamp::default(),
            statuses: SmallVec::from_slice(&[(404, 1)]),
            paths: paths.iter().copied().collect(),
        };
        // Ids 1 and 2 collide on hash 7; by text, 2 sorts before 1.
        let names = |a: u32, b: u32| [0u8, 9, 3][a as usize].cmp(&[0u8, 9, 3][b as usize]);
        let asked = std::cell::Cell::new(0);
        let counting = |a: u32, b: u32| {
            asked.set(asked.get() + 1);
            names(a, b)
        };
        let mut a = day(&[path(5, 0, 2), path(7, 1, 1)]);
        a.merge_with(&day(&[path(5, 0, 3)]), counting);
        assert_eq!(asked.get(), 0, "same id: no names needed");
        assert_eq!(a.paths[..], [path(5, 0, 5), path(7, 1, 1)]);
        a.merge_with(&day(&[path(3, 3, 1), path(9, 4, 1)]), counting);
        assert_eq!(asked.get(), 0, "different hashes: no names needed");
        assert_eq!(
            a.paths[..],
            [path(3, 3, 1), path(5, 0, 5), path(7, 1, 1), path(9, 4, 1)]
        );
        let mut a = day(&[path(5, 0, 5), path(7, 1, 1)]);
        a.merge_with(&day(&[path(7, 2, 4), path(7, 1, 1)]), counting);
        assert!(
            asked.get() > 0,
            "a tie between different ids is settled by the names"
        );
        assert_eq!(a.paths[..], [path(5, 0, 5), path(7, 2, 4), path(7, 1, 2)]);
        assert_eq!(a.statuses[..], [(404, 2)]);
    }

    proptest::proptest! {
        /// The delayed counting (a failed line is counted three failed lines later) gives what
        /// counting each line as it is scanned gives: per (day, client name) the counts by
        /// status, first and last seen, and the counts of each target; and the table's
        /// failed requests add up to the days' (none lost, none counted twice).
        #[test]
        fn delayed_counts_equal_counting_each_line_at_once(
            lines in proptest::collection::vec((0usize..6, 0u8..3, 0u8..60, 0usize..6, 0u8..4), 0..150)
        ) {
            const CLIENTS: [&str; 6] =
                ["1.2.3.4", "1.2.3.5", "2001:db8::1", "host.example", "HOST.Example", "10.0.0.1"];
            const STATUSES: [u16; 6] = [200, 400, 401, 403, 404, 500];
            let mut log = String::new();
            for &(client, day, sec, status, path) in &lines {
                log.push_str(&format!(
                    "{} - - [{:02}/Jun/2023:10:00:{sec:02} +0000] \"GET /p{path} HTTP/1.1\" {} 1\n",
                    CLIENTS[client],
                    19 + day,
                    STATUSES[status]
                ));
            }
            let agg = scan_all(log.as_bytes());

            type Entry = (std::collections::BTreeMap<u16, u64>, i64, i64, std::collections::BTreeMap<Vec<u8>, u64>);
            let failed = FailedCodes::new(&[400, 401, 403, 404, 409]);
            let mut expected: std::collections::BTreeMap<(DayNum, Vec<u8>), Entry> = Default::default();
            let mut scanner = LineScanner::new(Format::Combined, false, 1 << 20);
            for line in log.as_bytes().split(|&b| b == b'\n') {
                let Line::Parsed(f) = scanner.scan(line) else { continue };
                if !failed.contains(f.status) {
                    continue;
                }
                let name = match f.client {
                    ClientRef::Ip(ip) => crate::scan::client::format_ip(ip).into_bytes(),
                    ClientRef::Host(h) => h.to_ascii_lowercase(),
                };
                let secs = f.time.utc_secs;
                let e = expected.entry((f.day, name)).or_insert((Default::default(), secs, secs, Default::default()));
                *e.0.entry(f.status).or_default() += 1;
                e.1 = e.1.min(secs);
                e.2 = e.2.max(secs);
                *e.3.entry(request_target(f.request).to_vec()).or_default() += 1;
            }

            let mut actual: std::collections::BTreeMap<(DayNum, Vec<u8>), Entry> = Default::default();
            for (key, d) in agg.table.iter() {
                let name = match key.client {
                    ClientKey::Ip(ip) => crate::scan::client::format_ip(ip.into()).into_bytes(),
                    ClientKey::Host(id) => agg.hosts.name(id).to_vec(),
                };
                let paths = d.paths.iter().map(|p| (agg.paths.name(p.id).to_vec(), u64::from(p.count))).collect();
                let previous = actual.insert(
                    (key.day, name),
                    (d.statuses.iter().copied().collect(), d.first.utc_secs, d.last.utc_secs, paths),
                );
                proptest::prop_assert!(previous.is_none(), "one entry per (day, client)");
            }
            proptest::prop_assert_eq!(&actual, &expected);
            let table_failed: u64 = agg.table.iter().map(|(_, d)| d.failed()).sum();
            let day_failed: u64 = agg.days.values().map(|c| c.failed).sum();
            proptest::prop_assert_eq!(table_failed, day_failed);
        }
    }
}
