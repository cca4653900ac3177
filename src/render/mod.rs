//! Renderers: the report model → bytes. They never touch files or the network (sinks do).
//!
//! Invariant: every string that came from outside (paths, hostnames) was escaped to printable
//! ASCII before it reached the model, and renderers add only their own fixed text.

pub mod html;
pub mod json;
pub mod text;
pub mod weekly;

use std::io;

/// Where a text renderer writes: like a `String` (`push_str`, `push`, `write!`), but over any
/// [`io::Write`], so the same code builds a page in memory or streams it to a file. The first
/// I/O error is kept and later writes are skipped; [`Out::finish`] returns it.
pub struct Out<'a> {
    w: &'a mut dyn io::Write,
    error: Option<io::Error>,
}

impl<'a> Out<'a> {
    pub fn new(w: &'a mut dyn io::Write) -> Self {
        Out { w, error: None }
    }

    pub fn push_str(&mut self, s: &str) {
        self.push_bytes(s.as_bytes());
    }

    /// Text a renderer built as bytes from its own text and escaped strings (so ASCII).
    pub fn push_bytes(&mut self, bytes: &[u8]) {
        if self.error.is_none() {
            if let Err(e) = self.w.write_all(bytes) {
                self.error = Some(e);
            }
        }
    }

    pub fn push(&mut self, c: char) {
        self.push_str(c.encode_utf8(&mut [0; 4]));
    }

    pub fn finish(self) -> io::Result<()> {
        self.error.map_or(Ok(()), Err)
    }
}

impl std::fmt::Write for Out<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.push_str(s);
        match self.error {
            None => Ok(()),
            Some(_) => Err(std::fmt::Error),
        }
    }
}

/// Suspicious clients rendered per parallel task.
pub(crate) const BATCH: usize = 512;

/// Render `items` on the current rayon pool, [`BATCH`] per task, a window of two batches per
/// thread at a time, and hand the bytes to `write` in order. The next window is rendered
/// while the last one is written, so the writer (one thread, in the kernel copying into the
/// page cache) is not left waiting for the renderers, nor they for it; memory stays at two
/// windows (~4 MB with 2 threads; windows of one batch per thread were slower). `render` gets
/// each item with its index in `items`. A week of a busy server lists 100k+ clients: rendered
/// on one thread, its lists were the serial tail of a many-core run.
pub(crate) fn in_parallel_batches<T: Sync, E>(
    items: &[T],
    render: impl Fn(&mut Vec<u8>, usize, &T) + Sync,
    mut write: impl FnMut(&[u8]) -> Result<(), E>,
) -> Result<(), E> {
    use rayon::prelude::*;
    if rayon::current_thread_index().is_none() {
        // Not on a pool's thread (a caller that installed none): rendered here, a batch at a
        // time. Parallel, it would start rayon's global pool, a thread per core, whatever
        // `--threads` said.
        let mut out = Vec::new();
        for (b, batch) in items.chunks(BATCH).enumerate() {
            out.clear();
            for (k, item) in batch.iter().enumerate() {
                render(&mut out, b * BATCH + k, item);
            }
            write(&out)?;
        }
        return Ok(());
    }
    let window = BATCH * rayon::current_num_threads().max(1) * 2;
    let render_window = |first: usize, group: &[T]| -> Vec<Vec<u8>> {
        group
            .par_chunks(BATCH)
            .enumerate()
            .map(|(b, batch)| {
                let mut out = Vec::with_capacity(batch.len() * 256);
                for (k, item) in batch.iter().enumerate() {
                    render(&mut out, first + b * BATCH + k, item);
                }
                out
            })
            .collect()
    };
    let mut windows = items.chunks(window).enumerate();
    let mut ready = match windows.next() {
        Some((_, group)) => render_window(0, group),
        None => return Ok(()),
    };
    for (w, group) in windows {
        let mut next = Vec::new();
        let mut written = Ok(());
        // In place: `write` stays on this thread (it need not be `Send`); the render is a
        // task the other threads take (with one thread, this one runs it after writing).
        rayon::in_place_scope(|scope| {
            scope.spawn(|_| next = render_window(w * window, group));
            written = ready.iter().try_for_each(|part| write(part));
        });
        written?;
        ready = next;
    }
    ready.iter().try_for_each(|part| write(part))
}

/// Run `render` on `w`; its first I/O error, if any.
pub fn stream(w: &mut dyn io::Write, render: impl FnOnce(&mut Out)) -> io::Result<()> {
    let mut out = Out::new(w);
    render(&mut out);
    out.finish()
}

/// What `render` writes, as a `String`.
pub fn to_string(render: impl FnOnce(&mut Out)) -> String {
    let mut bytes = Vec::new();
    // A Vec takes every byte.
    let _ = stream(&mut bytes, render);
    // Renderers write only `str`s, so the bytes are UTF-8.
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// A real report for renderer tests: the sample logs in `testdata/sample/log`.
#[cfg(test)]
pub(crate) fn sample_report() -> crate::summary::Report {
    let args = crate::cli::AnalyzeArgs {
        paths: vec![concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/sample/log").into()],
        quiet: true,
        ..Default::default()
    };
    crate::cmd::analyze::analyze(&args, &crate::config::FileConfig::default()).unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer that takes `room` bytes, then fails like a pipe whose reader is gone.
    struct ClosedAfter {
        room: usize,
        taken: Vec<u8>,
    }

    impl io::Write for ClosedAfter {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let n = buf.len().min(self.room - self.taken.len());
            if n == 0 && !buf.is_empty() {
                return Err(io::ErrorKind::BrokenPipe.into());
            }
            self.taken.extend_from_slice(&buf[..n]);
            Ok(n)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// Items over several windows plus a partial one, on pools of 1 and 3 threads: the bytes
    /// come out in order, each item rendered once with its own index.
    #[test]
    fn parallel_batches_write_every_item_in_order() {
        for threads in [1, 3] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let items: Vec<u64> = (0..(BATCH * threads * 2 * 3 + 77) as u64)
                .map(|i| i * 7)
                .collect();
            let mut written = Vec::new();
            let mut writes = 0;
            let result: Result<(), ()> = pool.install(|| {
                in_parallel_batches(
                    &items,
                    |out, index, item| {
                        out.extend_from_slice(format!("{index}:{item}\n").as_bytes())
                    },
                    |bytes| {
                        writes += 1;
                        written.extend_from_slice(bytes);
                        Ok(())
                    },
                )
            });
            assert_eq!(result, Ok(()));
            let expected: String = (0..items.len())
                .map(|i| format!("{i}:{}\n", i * 7))
                .collect();
            assert_eq!(String::from_utf8(written).unwrap(), expected);
            assert_eq!(writes, items.len().div_ceil(BATCH));
        }
    }

    /// Called from a thread of no pool, every item is rendered on that thread (a batch per
    /// write, in order), and rayon's global pool is not used.
    #[test]
    fn outside_a_pool_batches_render_on_the_calling_thread() {
        let items: Vec<usize> = (0..BATCH * 2 + 3).collect();
        let (rendered_in_pool, written, writes) = std::thread::spawn(move || {
            let in_pool = std::sync::atomic::AtomicUsize::new(0);
            let mut written = Vec::new();
            let mut writes = 0;
            let result: Result<(), ()> = in_parallel_batches(
                &items,
                |out, index, item| {
                    if rayon::current_thread_index().is_some() {
                        in_pool.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    out.extend_from_slice(format!("{index}={item};").as_bytes())
                },
                |bytes| {
                    writes += 1;
                    written.extend_from_slice(bytes);
                    Ok(())
                },
            );
            assert_eq!(result, Ok(()));
            (in_pool.into_inner(), written, writes)
        })
        .join()
        .unwrap();
        assert_eq!(rendered_in_pool, 0);
        let expected: String = (0..BATCH * 2 + 3).map(|i| format!("{i}={i};")).collect();
        assert_eq!(String::from_utf8(written).unwrap(), expected);
        assert_eq!(writes, 3);
    }

    /// The first failed write is returned and nothing is written after it.
    #[test]
    fn parallel_batches_stop_at_the_first_failed_write() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        let items = vec![1u8; BATCH * 20];
        let mut calls = 0;
        let result = pool.install(|| {
            in_parallel_batches(
                &items,
                |out, _, item| out.push(*item),
                |_| {
                    calls += 1;
                    if calls == 6 {
                        Err(calls)
                    } else {
                        Ok(())
                    }
                },
            )
        });
        assert_eq!(result, Err(6));
        assert_eq!(calls, 6);
    }

    type Stream<'a> = Box<dyn Fn(&mut dyn io::Write) -> io::Result<()> + 'a>;

    #[test]
    fn a_closed_pipe_stops_each_stream_with_its_error_kind() {
        let report = sample_report();
        let weeks = html::report_weeks(&report);
        let meta = html::Meta {
            generated_at: "2023-06-28T08:00:00+02:00".into(),
            command: "logwarden analyze".into(),
            ip_rows: None,
            full_report: None,
        };
        let cases: [(Vec<u8>, Stream); 3] = [
            (
                json::render(&report),
                Box::new(|w| json::render_to(&report, w)),
            ),
            (
                text::render(&report).into_bytes(),
                Box::new(|w| text::render_to(&report, w)),
            ),
            (
                html::render(&report, &weeks, &meta).into_bytes(),
                Box::new(|w| html::render_to(&report, &weeks, &meta, w)),
            ),
        ];
        for (whole, stream) in cases {
            let mut w = ClosedAfter {
                room: 1000,
                taken: Vec::new(),
            };
            assert_eq!(
                stream(&mut w).unwrap_err().kind(),
                io::ErrorKind::BrokenPipe
            );
            assert_eq!(w.taken, whole[..1000]);
        }
    }
}
