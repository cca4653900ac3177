//! Per-thread aggregation of scanned lines, and the merge of those aggregates.
//!
//! Each rayon worker owns one [`Aggregate`] and feeds it whole chunks; no locks, no shared
//! maps. Only failed lines touch the per-client map, keyed by integers (IP as `u128`,
//! hostnames interned per aggregate and re-interned on merge). Invariant: merging is
//! associative and commutative, so the result is the same for any thread count, chunk size
//! or scheduling order — the property tests check exactly that.

use crate::scan::client::ClientRef;
use crate::scan::time::DayNum;
use crate::scan::{Line, LineScanner, Malformed};
use ahash::AHashMap;
use memchr::memchr;

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
    Ip(u128),
    Host(u32),
}

/// One cell of the failed-request table: this client, on this day, answered this status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FailKey {
    pub client: ClientKey,
    pub day: DayNum,
    pub status: u16,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DayCounts {
    /// Parsed lines dated this day.
    pub lines: u64,
    pub failed: u64,
    pub status_400: u64,
}

impl DayCounts {
    fn add(&mut self, other: &DayCounts) {
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

impl Interner {
    pub fn intern(&mut self, name: &[u8]) -> u32 {
        let mut buf = [0u8; 256];
        let lower = &mut buf[..name.len().min(256)];
        for (dst, src) in lower.iter_mut().zip(name) {
            *dst = src.to_ascii_lowercase();
        }
        if let Some(&id) = self.ids.get(&*lower) {
            return id;
        }
        let id = self.names.len() as u32;
        let boxed: Box<[u8]> = lower.into();
        self.names.push(boxed.clone());
        self.ids.insert(boxed, id);
        id
    }

    pub fn name(&self, id: u32) -> &[u8] {
        &self.names[id as usize]
    }
}

/// Everything one worker learned; merged pairwise into the final aggregate.
#[derive(Debug, Clone, Default)]
pub struct Aggregate {
    pub days: AHashMap<DayNum, DayCounts>,
    pub fails: AHashMap<FailKey, u64>,
    pub hosts: Interner,
    pub chunks: Vec<ChunkRecord>,
}

impl Aggregate {
    /// Scan one line-aligned chunk of file `file`. `data` must start at a line start and end
    /// at a line end (after `\n`) or at the end of the file.
    pub fn scan_chunk(
        &mut self,
        data: &[u8],
        scanner: &mut LineScanner,
        failed: &FailedCodes,
        mut record: ChunkRecord,
    ) {
        // The current day's counts stay in registers; the map is touched when the day changes.
        let mut day: Option<DayNum> = None;
        let mut counts = DayCounts::default();
        let mut line_no = 0u64;
        let mut handle = |outcome: Line<'_>, line_no: u64, this: &mut Aggregate| match outcome {
            Line::Blank => record.blank += 1,
            Line::Malformed(reason) => record.note_malformed(line_no, reason),
            Line::Parsed(fields) => {
                record.parsed += 1;
                if day != Some(fields.day) {
                    if let Some(d) = day {
                        this.days.entry(d).or_default().add(&counts);
                    }
                    day = Some(fields.day);
                    counts = DayCounts::default();
                }
                counts.lines += 1;
                counts.status_400 += (fields.status == 400) as u64;
                if failed.contains(fields.status) {
                    counts.failed += 1;
                    let client = match fields.client {
                        ClientRef::Ip(ip) => ClientKey::Ip(ip),
                        ClientRef::Host(name) => ClientKey::Host(this.hosts.intern(name)),
                    };
                    *this
                        .fails
                        .entry(FailKey {
                            client,
                            day: fields.day,
                            status: fields.status,
                        })
                        .or_insert(0) += 1;
                }
            }
        };
        let mut pos = 0usize;
        while pos < data.len() {
            line_no += 1;
            let rest = &data[pos..];
            // Fast path: parse forward and look for the newline only after the size field, so
            // the start of the line is read once. It gives up (None) on anything unusual,
            // and the general path below decides; both agree on every line (tested).
            if let Some((fields, size_end)) = scanner.quick(rest) {
                let end = memchr(b'\n', &rest[size_end..]).map_or(rest.len(), |i| size_end + i);
                if end <= scanner.max_line_bytes() {
                    handle(Line::Parsed(fields), line_no, self);
                    pos += end + 1;
                    continue;
                }
            }
            let end = memchr(b'\n', rest).unwrap_or(rest.len());
            handle(scanner.scan(&rest[..end]), line_no, self);
            pos += end + 1;
        }
        if let Some(d) = day {
            self.days.entry(d).or_default().add(&counts);
        }
        record.physical_lines = line_no;
        self.chunks.push(record);
    }

    /// Fold `other` into `self`. Hostname ids of `other` are re-interned here.
    pub fn merge(mut self, mut other: Aggregate) -> Aggregate {
        if other.fails.len() > self.fails.len() {
            std::mem::swap(&mut self, &mut other);
        }
        for (day, counts) in other.days {
            self.days.entry(day).or_default().add(&counts);
        }
        let remap: Vec<u32> = other
            .hosts
            .names
            .iter()
            .map(|n| self.hosts.intern(n))
            .collect();
        self.fails.reserve(other.fails.len());
        for (mut key, n) in other.fails {
            if let ClientKey::Host(id) = key.client {
                key.client = ClientKey::Host(remap[id as usize]);
            }
            *self.fails.entry(key).or_insert(0) += n;
        }
        self.chunks.append(&mut other.chunks);
        self
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
        assert_eq!(agg.fails.len(), 3);
    }

    #[test]
    fn merge_reinterns_hosts() {
        let a = scan_all(b"a.example - - [19/Jun/2023:10:00:00 +0000] \"GET /\" 404 1\n");
        let b = scan_all(b"b.example - - [19/Jun/2023:10:00:00 +0000] \"GET /\" 404 1\na.example - - [19/Jun/2023:10:00:00 +0000] \"GET /\" 404 1\n");
        let m = a.merge(b);
        assert_eq!(m.hosts.names.len(), 2);
        let mut by_name: Vec<(String, u64)> = m
            .fails
            .iter()
            .map(|(k, n)| match k.client {
                ClientKey::Host(id) => (String::from_utf8_lossy(m.hosts.name(id)).into_owned(), *n),
                ClientKey::Ip(_) => unreachable!(),
            })
            .collect();
        by_name.sort();
        assert_eq!(
            by_name,
            vec![("a.example".into(), 2), ("b.example".into(), 1)]
        );
    }
}
