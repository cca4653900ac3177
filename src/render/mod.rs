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
        if self.error.is_none() {
            if let Err(e) = self.w.write_all(s.as_bytes()) {
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

/// Render `items` on the current rayon pool, [`BATCH`] per task and a bounded window of
/// batches at a time (memory stays at a couple of batches per thread), and hand the bytes to
/// `write` in order. `render` gets each item with its index in `items`. A week of a busy
/// server lists 100k+ clients: rendered on one thread, its lists were the serial tail of a
/// many-core run.
pub(crate) fn in_parallel_batches<T: Sync, E>(
    items: &[T],
    render: impl Fn(&mut Vec<u8>, usize, &T) + Sync,
    mut write: impl FnMut(&[u8]) -> Result<(), E>,
) -> Result<(), E> {
    use rayon::prelude::*;
    let window = BATCH * rayon::current_num_threads().max(1) * 2;
    for (g, group) in items.chunks(window).enumerate() {
        let rendered: Vec<Vec<u8>> = group
            .par_chunks(BATCH)
            .enumerate()
            .map(|(b, batch)| {
                let mut out = Vec::with_capacity(batch.len() * 256);
                for (k, item) in batch.iter().enumerate() {
                    render(&mut out, g * window + b * BATCH + k, item);
                }
                out
            })
            .collect();
        for part in &rendered {
            write(part)?;
        }
    }
    Ok(())
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

    type Stream<'a> = Box<dyn Fn(&mut dyn io::Write) -> io::Result<()> + 'a>;

    #[test]
    fn a_closed_pipe_stops_each_stream_with_its_error_kind() {
        let report = sample_report();
        let weeks = html::report_weeks(&report);
        let meta = html::Meta {
            generated_at: "2023-06-28T08:00:00+02:00".into(),
            command: "logwarden analyze".into(),
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
