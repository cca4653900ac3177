//! The merge stage: per-thread tables → one table per day, sorted by client.
//!
//! Workers flush their per-client tables here as runs: vectors sorted by client, one per day,
//! with hostnames and request targets re-interned into the store's own id tables. A day's runs
//! are merged as they arrive, like a binary counter (the newest run is merged into the one
//! below it while that one is at most twice its size), so a day holds O(log n) runs and an
//! entry is merged O(log n) times. A sorted vector has no hash-table slack, so a merged
//! (day, client) entry costs its ~100 bytes, and memory grows with the distinct failing
//! clients per day, not with the input.
//!
//! Invariant: a run never holds a client twice, and merging runs is associative and
//! commutative ([`ClientDay::merge`]), so the final tables do not depend on flush sizes,
//! thread counts or the order of flushes.

use crate::agg::{Aggregate, ChunkRecord, ClientDay, ClientKey, DayCounts, Interner, PathTable};
use crate::scan::time::DayNum;
use ahash::AHashMap;
use rayon::prelude::*;
use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::sync::Mutex;

/// Clients of one day (or one run of it), ascending by client, each at most once.
pub type Run = Vec<(ClientKey, ClientDay)>;

/// Where workers flush; shared by reference, one short lock per flush.
#[derive(Default)]
pub struct Store {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    hosts: Interner,
    paths: PathTable,
    days: AHashMap<DayNum, DayCounts>,
    /// Per day, runs of decreasing size (the binary counter).
    runs: BTreeMap<DayNum, Vec<Run>>,
    chunks: Vec<ChunkRecord>,
}

/// The merged result of a whole analysis.
#[derive(Debug, Default)]
pub struct Merged {
    /// Parsed, failed and 400 lines per day.
    pub days: BTreeMap<DayNum, DayCounts>,
    /// Failing clients per day; a day without failed requests has no entry.
    pub clients: BTreeMap<DayNum, Run>,
    pub hosts: Interner,
    pub paths: PathTable,
    pub chunks: Vec<ChunkRecord>,
}

impl Merged {
    /// The failing clients of `day`, ascending by client.
    pub fn clients_of(&self, day: DayNum) -> &[(ClientKey, ClientDay)] {
        self.clients.get(&day).map_or(&[][..], |r| &r[..])
    }
}

impl Store {
    /// Take `agg`'s table (leaving it empty, its allocation kept) as runs with this store's ids.
    pub(crate) fn absorb_table(&self, agg: &mut Aggregate) {
        // Global ids under one short lock; the sort runs outside it. The first table to
        // arrive hands over its id tables whole (its ids become the store's: a one-thread
        // run re-interns nothing); later ones are mapped.
        let (host_ids, path_ids) = {
            let mut inner = lock(&self.inner);
            let inner = &mut *inner;
            let hosts: Option<Vec<u32>> = if inner.hosts.is_empty() {
                std::mem::swap(&mut inner.hosts, &mut agg.hosts);
                None
            } else {
                Some(
                    agg.hosts
                        .names()
                        .iter()
                        .map(|n| inner.hosts.intern(n))
                        .collect(),
                )
            };
            let paths: Option<Vec<u32>> = if inner.paths.is_empty() {
                std::mem::swap(&mut inner.paths, &mut agg.paths);
                None
            } else {
                Some(agg.paths.names().map(|n| inner.paths.intern(n)).collect())
            };
            (hosts, paths)
        };
        let remap = |ids: &Option<Vec<u32>>, id: u32| match ids {
            Some(ids) => ids.get(id as usize).copied().unwrap_or(id),
            None => id,
        };
        // Sort small (day, client, index) keys, not the ~100-byte entries themselves.
        let mut details: Vec<Option<ClientDay>> = Vec::with_capacity(agg.table.len());
        let mut keys: Vec<(DayNum, ClientKey, u32)> = Vec::with_capacity(agg.table.len());
        for (key, mut detail) in agg.table.drain() {
            let client = match key.client {
                ClientKey::Host(id) => ClientKey::Host(remap(&host_ids, id)),
                ip => ip,
            };
            for p in &mut detail.paths {
                p.id = remap(&path_ids, p.id);
            }
            keys.push((key.day, client, details.len() as u32));
            details.push(Some(detail));
        }
        keys.sort_unstable_by_key(|k| (k.0, k.1));
        let mut by_day: Vec<(DayNum, Run)> = Vec::new();
        for (day, client, at) in keys {
            let Some(detail) = details.get_mut(at as usize).and_then(Option::take) else {
                continue;
            };
            match by_day.last_mut() {
                Some((d, run)) if *d == day => run.push((client, detail)),
                _ => by_day.push((day, vec![(client, detail)])),
            }
        }
        let mut inner = lock(&self.inner);
        let inner = &mut *inner;
        for (day, run) in by_day {
            let stack = inner.runs.entry(day).or_default();
            stack.push(run);
            while stack.len() >= 2
                && stack[stack.len() - 2].len() <= 2 * stack[stack.len() - 1].len()
            {
                let (Some(newer), Some(older)) = (stack.pop(), stack.pop()) else {
                    break;
                };
                stack.push(merge_runs(older, newer, &inner.paths));
            }
        }
    }

    /// Add a worker's day counts and chunk records.
    pub(crate) fn absorb_counts(
        &self,
        days: AHashMap<DayNum, DayCounts>,
        mut chunks: Vec<ChunkRecord>,
    ) {
        let mut inner = lock(&self.inner);
        for (day, counts) in days {
            inner.days.entry(day).or_default().add(&counts);
        }
        inner.chunks.append(&mut chunks);
    }

    /// Merge each day's remaining runs (days in parallel, on the current rayon pool).
    pub fn finish(self) -> Merged {
        let inner = self.inner.into_inner().unwrap_or_else(|p| p.into_inner());
        let paths = inner.paths;
        let clients: BTreeMap<DayNum, Run> = inner
            .runs
            .into_par_iter()
            .map(|(day, runs)| {
                // Smallest first: the stack holds runs of decreasing size.
                let run = runs
                    .into_iter()
                    .rev()
                    .reduce(|newer, older| merge_runs(older, newer, &paths))
                    .unwrap_or_default();
                (day, run)
            })
            .collect();
        Merged {
            days: inner.days.into_iter().collect(),
            clients,
            hosts: inner.hosts,
            paths,
            chunks: inner.chunks,
        }
    }
}

/// Merge two runs of one day into one (a client in both is merged into one entry).
pub fn merge_runs(a: Run, b: Run, paths: &PathTable) -> Run {
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
                    x.merge(&y, paths);
                    out.push((client, x));
                }
            }
        }
    }
    // Shared clients leave the reserve unused: give it back (a shrink stays in place).
    out.shrink_to_fit();
    out
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agg::FailedCodes;
    use crate::scan::{Format, LineScanner};

    /// Scan `text` in the given pieces, each into its own aggregate that flushes whenever
    /// its table holds `flush_at` entries, all into one store.
    fn merged(pieces: &[&[u8]], flush_at: usize) -> Merged {
        let store = Store::default();
        let failed = FailedCodes::new(&[400, 401, 403, 404, 409]);
        for (seq, piece) in pieces.iter().enumerate() {
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
        for (&day, run) in &m.clients {
            assert!(
                run.windows(2).all(|w| w[0].0 < w[1].0),
                "sorted, no client twice"
            );
            for (client, d) in run {
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

    proptest::proptest! {
        #[test]
        fn merge_is_independent_of_pieces_flushes_and_order(
            lines in proptest::collection::vec((0u8..4, 0u8..14, 0u8..60, 0u8..3, 0u8..3), 1..80),
            cuts in proptest::collection::vec(0usize..80, 0..6),
            flush_at in 1usize..6,
            reverse in proptest::bool::ANY,
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
            let got = merged(&pieces, flush_at);
            proptest::prop_assert_eq!(view(&got), view(&expected));
            proptest::prop_assert_eq!(&got.days, &expected.days);
        }
    }
}
