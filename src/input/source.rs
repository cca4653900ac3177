//! Sources: an input → its log bytes, either as one mapped slice or as a stream.
//!
//! Closed, regular, non-empty, uncompressed files are memory-mapped (no copy; pages are
//! dropped window by window after scanning so RSS stays bounded). gzip is recognised by its
//! magic bytes, never by the name, and decoded member after member, so multi-member files
//! (nginx, pigz, `cat a.gz b.gz`) are read whole. Stdin, FIFOs, empty files and anything a map
//! fails on are read as streams. Invariant: a source yields exactly the bytes a plain
//! `cat`/`zcat` would, up to the first error, and says how far it got.

use anyhow::Context;
use flate2::bufread::GzDecoder;
use memmap2::Mmap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const READ_BUFFER: usize = 256 * 1024;

pub enum Source {
    Mapped(Mapped),
    Stream(Box<Stream>),
}

/// A mapped file, registered with the SIGBUS guard while it lives.
pub struct Mapped {
    pub map: Mmap,
    _guard: crate::sigbus::Registration,
}

/// What a stream is, for the report.
pub struct Stream {
    pub reader: StreamReader,
    /// Bytes of the file on disk (compressed bytes for gzip), when known.
    pub file_bytes: Option<u64>,
}

/// The buffered, byte-counting file or stdin under a decoder.
pub type RawReader = BufReader<Counting<Box<dyn Read + Send>>>;

pub enum StreamReader {
    Plain(Box<dyn BufRead + Send>),
    Gzip(Box<GzipMembers<RawReader>>),
}

impl StreamReader {
    pub fn is_gzip(&self) -> bool {
        matches!(self, StreamReader::Gzip(_))
    }
}

impl Read for StreamReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            StreamReader::Plain(r) => r.read(buf),
            StreamReader::Gzip(r) => r.read(buf),
        }
    }
}

/// Counts bytes read from the underlying file (for progress over compressed input).
pub struct Counting<R> {
    inner: R,
    pub count: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Decodes every gzip member in turn. Unlike a single-member decoder it never stops after the
/// first member; unlike `MultiGzDecoder` it tells garbage after the last member (a warning,
/// every member kept) apart from a corrupt member (an error).
pub struct GzipMembers<R: BufRead> {
    decoder: Option<GzDecoder<R>>,
    pub members: u64,
    pub trailing_garbage: u64,
}

impl<R: BufRead> GzipMembers<R> {
    pub fn new(reader: R) -> Self {
        GzipMembers {
            decoder: Some(GzDecoder::new(reader)),
            members: 0,
            trailing_garbage: 0,
        }
    }
}

impl<R: BufRead> Read for GzipMembers<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            let Some(decoder) = self.decoder.as_mut() else {
                return Ok(0);
            };
            let n = decoder.read(buf)?;
            if n > 0 {
                return Ok(n);
            }
            // End of one member (its CRC and length checked by the decoder).
            self.members += 1;
            let mut inner = self
                .decoder
                .take()
                .map(GzDecoder::into_inner)
                .ok_or_else(|| io::Error::other("gzip state"))?;
            let next = inner.fill_buf()?;
            if next.is_empty() {
                return Ok(0);
            }
            if next[0] == GZIP_MAGIC[0] && (next.len() == 1 || next[1] == GZIP_MAGIC[1]) {
                self.decoder = Some(GzDecoder::new(inner));
                continue;
            }
            // Not another member: count the rest as trailing garbage and stop.
            loop {
                let len = inner.fill_buf()?.len();
                if len == 0 {
                    return Ok(0);
                }
                self.trailing_garbage += len as u64;
                inner.consume(len);
            }
        }
    }
}

/// Open a file (or stdin) as a source. `allow_mmap` false forces streaming.
pub fn open(
    path: Option<&Path>,
    allow_mmap: bool,
    progress: Arc<AtomicU64>,
) -> anyhow::Result<Source> {
    let Some(path) = path else {
        return stream(Box::new(io::stdin()), None, progress);
    };
    let file = File::open(path).with_context(|| "cannot open")?;
    let meta = file.metadata().with_context(|| "cannot stat")?;
    if meta.is_dir() {
        anyhow::bail!("is a directory");
    }
    let len = meta.len();
    if allow_mmap && meta.is_file() && len > 0 && !starts_with_gzip_magic(&file)? {
        // SAFETY: the map is read-only and shared. Another process truncating the file while
        // it is mapped would make reads fault (SIGBUS); `sigbus` turns that into a clear error.
        if let Ok(map) = unsafe { Mmap::map(&file) } {
            let _ = map.advise(memmap2::Advice::Sequential);
            let guard =
                crate::sigbus::register(map.as_ptr(), map.len(), &crate::escape::path(path));
            return Ok(Source::Mapped(Mapped { map, _guard: guard }));
        }
    }
    stream(Box::new(file), meta.is_file().then_some(len), progress)
}

/// Map a regular, non-empty file without deciding how it will be read: (map, is gzip).
/// `None` when it is not mappable (not a regular file, empty, or the map fails); the caller
/// then opens it with [`open`], which reports any error.
pub fn map_file(path: &Path) -> Option<(Mapped, bool)> {
    let file = File::open(path).ok()?;
    let meta = file.metadata().ok()?;
    if !meta.is_file() || meta.len() == 0 {
        return None;
    }
    let gzip = starts_with_gzip_magic(&file).ok()?;
    // SAFETY: see `open`.
    let map = unsafe { Mmap::map(&file) }.ok()?;
    let _ = map.advise(memmap2::Advice::Sequential);
    let guard = crate::sigbus::register(map.as_ptr(), map.len(), &crate::escape::path(path));
    Some((Mapped { map, _guard: guard }, gzip))
}

/// Stream bytes `start..end` of a plain file (the part of a duplicate copy still to scan).
pub fn open_plain_range(
    path: &Path,
    start: u64,
    end: u64,
    progress: Arc<AtomicU64>,
) -> anyhow::Result<Source> {
    use std::io::{Seek, SeekFrom};
    let mut file = File::open(path).with_context(|| "cannot open")?;
    file.seek(SeekFrom::Start(start))
        .with_context(|| "cannot seek")?;
    stream(
        Box::new(file.take(end.saturating_sub(start))),
        Some(end),
        progress,
    )
}

fn starts_with_gzip_magic(file: &File) -> anyhow::Result<bool> {
    use std::os::unix::fs::FileExt;
    let mut magic = [0u8; 2];
    let n = file.read_at(&mut magic, 0).with_context(|| "cannot read")?;
    Ok(n == 2 && magic == GZIP_MAGIC)
}

fn stream(
    raw: Box<dyn Read + Send>,
    file_bytes: Option<u64>,
    progress: Arc<AtomicU64>,
) -> anyhow::Result<Source> {
    let mut reader = BufReader::with_capacity(
        READ_BUFFER,
        Counting {
            inner: raw,
            count: progress,
        },
    );
    let head = reader.fill_buf().with_context(|| "cannot read")?;
    let is_gzip = head.len() >= 2 && head[..2] == GZIP_MAGIC;
    let reader = if is_gzip {
        StreamReader::Gzip(Box::new(GzipMembers::new(reader)))
    } else {
        StreamReader::Plain(Box::new(reader))
    };
    Ok(Source::Stream(Box::new(Stream { reader, file_bytes })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::GzEncoder;
    use std::io::Write;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn decode(bytes: Vec<u8>) -> (io::Result<Vec<u8>>, u64, u64) {
        let mut r = GzipMembers::new(&bytes[..]);
        let mut out = Vec::new();
        let res = r.read_to_end(&mut out).map(|_| out);
        (res, r.members, r.trailing_garbage)
    }

    #[test]
    fn multi_member_and_trailing_garbage() {
        let (out, members, garbage) = decode([gz(b"a\n"), gz(b"b\n"), gz(b"c\n")].concat());
        assert_eq!(
            (out.unwrap(), members, garbage),
            (b"a\nb\nc\n".to_vec(), 3, 0)
        );
        let (out, members, garbage) =
            decode([gz(b"a\n"), gz(b"b\n"), b"JUNK\0\0".to_vec()].concat());
        assert_eq!((out.unwrap(), members, garbage), (b"a\nb\n".to_vec(), 2, 6));
    }

    #[test]
    fn truncation_and_bad_crc_are_errors() {
        let good = gz(b"hello world\n".repeat(100).as_slice());
        for cut in [5, good.len() / 2, good.len() - 3] {
            let (out, _, _) = decode(good[..cut].to_vec());
            assert!(out.is_err(), "truncated at {cut} must fail");
        }
        let mut bad = good.clone();
        let n = bad.len();
        bad[n - 8] ^= 0xff; // CRC32 in the trailer
        assert!(decode(bad).0.is_err());
    }
}
