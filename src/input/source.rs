//! Sources: an input → its log bytes, either as one mapped slice or as a stream.
//!
//! Closed, regular, non-empty, uncompressed files are memory-mapped (no copy; pages are
//! dropped window by window after scanning so RSS stays bounded), or read into memory when
//! small ([`READ_WHOLE_MAX`]: there a map costs more than the copy). gzip is recognised by its
//! magic bytes, never by the name, and decoded member after member, so multi-member files
//! (nginx, pigz, `cat a.gz b.gz`) are read whole. Stdin, FIFOs, empty files and anything a map
//! fails on are read as streams. A `.gz` that may be a copy of another input is decoded
//! into an unnamed temporary file and mapped ([`decode_to_temp`]). Invariant: a source yields
//! exactly the bytes a plain `cat`/`zcat` would, up to the first error, and says how far it
//! got.

use super::inflate::{Backend, Body, Prefixed};
use anyhow::Context;
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

/// A file's bytes held whole ahead of its scan: mapped (registered with the SIGBUS guard
/// while it lives), or, for a small file, read into memory ([`READ_WHOLE_MAX`]).
pub struct Mapped {
    pub map: Contents,
    /// The file mapped (device, inode): a later open of its path may find another one.
    pub file_id: FileId,
    _guard: crate::sigbus::Registration,
}

impl Mapped {
    /// Drop the pages of `from..from + len` from this process' page tables (`MADV_DONTNEED`;
    /// `from` is taken down to its page's start), so RSS stays bounded by what is being read:
    /// a mapped file's pages stay in the page cache and are faulted in again, with the same
    /// bytes, when next read. Nothing for a file read into memory (there the advice would
    /// zero the bytes).
    pub fn forget_range(&self, from: usize, len: usize) {
        if let Contents::Map(map) = &self.map {
            // SAFETY: a read-only shared file mapping: DONTNEED only forgets pages.
            let _ = unsafe {
                map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, from, len)
            };
        }
    }

    fn read(read: ReadWhole, meta: &std::fs::Metadata) -> Mapped {
        Mapped {
            map: Contents::Read(read),
            file_id: file_id(meta),
            // Bytes in memory cannot fault.
            _guard: crate::sigbus::Registration::none(),
        }
    }

    /// Whether the bytes are a memory map (not read into memory).
    pub fn is_map(&self) -> bool {
        matches!(self.map, Contents::Map(_))
    }
}

/// Files up to this size are read into memory instead of mapped. For a small file the map
/// costs more than the copy: mmap, the page faults, the pages dropped after the scan and
/// munmap are several system calls, two of them interrupts of the other cores (TLB
/// shootdowns). 20,000 one-line files took 0.51 s mapped, 0.12 s read (mawk: 0.09 s). From
/// about 64 KiB on, the copy and the faults of fresh heap pages cost more than the map saves
/// (100 MB in files of 64 KiB, one thread: 61 ms mapped, 83 ms read).
pub const READ_WHOLE_MAX: u64 = 32 * 1024;

/// [`READ_WHOLE_MAX`], or `LOGWARDEN_READ_WHOLE_MAX` (tests: 0 maps every file, as before).
fn read_whole_max() -> u64 {
    static MAX: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *MAX.get_or_init(|| {
        std::env::var("LOGWARDEN_READ_WHOLE_MAX")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(READ_WHOLE_MAX)
    })
}

/// The most bytes of files read into memory held at once (every input is held from before
/// the scan to the end of its own, for duplicate detection); past it files are mapped.
const READ_WHOLE_BUDGET: u64 = 16 << 20;

/// Bytes of files read into memory now held ([`ReadWhole`]).
static READ_WHOLE_HELD: AtomicU64 = AtomicU64::new(0);

/// The bytes of a [`Mapped`].
pub enum Contents {
    Map(Mmap),
    Read(ReadWhole),
}

impl std::ops::Deref for Contents {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Contents::Map(map) => map,
            Contents::Read(read) => &read.bytes,
        }
    }
}

/// A small file read into memory, its bytes counted in [`READ_WHOLE_HELD`] while it lives.
pub struct ReadWhole {
    bytes: Box<[u8]>,
    reserved: u64,
}

impl Drop for ReadWhole {
    fn drop(&mut self) {
        READ_WHOLE_HELD.fetch_sub(self.reserved, Ordering::Relaxed);
    }
}

/// `file` (of `len` bytes when looked at) read into memory, where it is small and the budget
/// has room; `None` to map it instead. Bytes appended since its size was taken are not read
/// (as a map of that size does not).
fn read_whole(file: &File, len: u64) -> Option<ReadWhole> {
    use std::os::unix::fs::FileExt;
    if len == 0 || len > read_whole_max() {
        return None;
    }
    if READ_WHOLE_HELD.fetch_add(len, Ordering::Relaxed) + len > READ_WHOLE_BUDGET {
        READ_WHOLE_HELD.fetch_sub(len, Ordering::Relaxed);
        return None;
    }
    // Released by its drop on every way out, or holds the bytes read.
    let mut whole = ReadWhole {
        bytes: Box::default(),
        reserved: len,
    };
    let mut buf = vec![0u8; len as usize];
    let mut done = 0;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // A file that cannot be read is left to the map, or the stream, to report.
            Err(_) => return None,
        }
    }
    if done < buf.len() {
        // Fewer bytes than its size: cut since it was looked at, or a file whose size is
        // nominal (`/sys`: 4096 stated, a few read). Left to the map (or the stream), as
        // every file was before, which report either case as they always have.
        return None;
    }
    whole.bytes = buf.into_boxed_slice();
    Some(whole)
}

/// A file's identity: (device, inode).
pub type FileId = (u64, u64);

fn file_id(meta: &std::fs::Metadata) -> FileId {
    use std::os::unix::fs::MetadataExt;
    (meta.dev(), meta.ino())
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
///
/// The framing (RFC 1952 header, CRC-32 and length trailer) is read here and only the deflate
/// body goes to a decoder ([`super::inflate`]: ISA-L, or flate2's zlib-rs with `crc-fast` for
/// the CRC, whose 512-bit carry-less multiplies cost a fraction of flate2's own). On one `.gz`
/// with all threads the inflating thread is the bottleneck, so its time is wall time.
pub struct GzipMembers<R: BufRead> {
    state: Member<R>,
    backend: Backend,
    pub members: u64,
    pub trailing_garbage: u64,
    /// Where in the trailing garbage a gzip member's first bytes (`1f 8b 08`) are, if
    /// anywhere: a second file joined after padding, whose lines are not read.
    pub member_in_garbage: Option<u64>,
}

enum Member<R: BufRead> {
    /// Before a member's header: the reader is at its magic bytes, or just past the first one
    /// when `magic_read` (a buffer boundary fell between the two).
    Header {
        reader: Prefixed<R>,
        magic_read: bool,
    },
    /// Inside its deflate body (boxed: the decoder states are large, the other states tiny).
    Body(Box<InBody<R>>),
    Done,
}

struct InBody<R: BufRead> {
    body: Body<R>,
    len: u64,
}

impl<R: BufRead> GzipMembers<R> {
    pub fn new(reader: R) -> Self {
        Self::with_backend(reader, Backend::default_for_process())
    }

    pub fn with_backend(reader: R, backend: Backend) -> Self {
        GzipMembers {
            state: Member::Header {
                reader: Prefixed::new(reader),
                magic_read: false,
            },
            backend,
            members: 0,
            trailing_garbage: 0,
            member_in_garbage: None,
        }
    }
}

fn corrupt(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("corrupt gzip stream: {what}"),
    )
}

/// `f` applied to the buffered bytes (`fill_buf`), retried when interrupted: an `Interrupted`
/// error passed up from the middle of a header or between members would leave a half-read
/// state that a retrying caller (the engine retries, like `read_to_end`) would misread.
fn with_buffered<T>(r: &mut impl BufRead, f: impl FnOnce(&[u8]) -> T) -> io::Result<T> {
    loop {
        match r.fill_buf() {
            Ok(buf) => return Ok(f(buf)),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

fn truncated(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        format!("truncated gzip stream: {what}"),
    )
}

/// Read exactly `buf.len()` bytes (`read_exact` retries interruptions); a short input is a
/// truncated stream.
fn read_exact_or_truncated(r: &mut impl BufRead, buf: &mut [u8], what: &str) -> io::Result<()> {
    r.read_exact(buf).map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => truncated(what),
        _ => e,
    })
}

/// Consume header bytes into `header_crc` while `take` says how many of the buffered bytes
/// belong to the field and whether the field ends there; the input ending first is a
/// truncated header.
fn skip_header_field(
    r: &mut impl BufRead,
    header_crc: &mut crc_fast::Digest,
    mut take: impl FnMut(&[u8]) -> (usize, bool),
) -> io::Result<()> {
    loop {
        let (len, done) = with_buffered(r, |buf| {
            let (len, done) = take(buf);
            header_crc.update(&buf[..len]);
            (len, done)
        })?;
        if len == 0 && !done {
            return Err(truncated("header"));
        }
        r.consume(len);
        if done {
            return Ok(());
        }
    }
}

/// Read one member's header (RFC 1952 section 2.3), leaving `r` at the deflate body.
/// `magic_read`: the first magic byte was already taken from `r`.
fn read_header(r: &mut impl BufRead, magic_read: bool) -> io::Result<()> {
    const FHCRC: u8 = 0x02;
    const FEXTRA: u8 = 0x04;
    const FNAME: u8 = 0x08;
    const FCOMMENT: u8 = 0x10;
    let mut header_crc = crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc32IsoHdlc);
    let mut fixed = [0u8; 10];
    if magic_read {
        fixed[0] = GZIP_MAGIC[0];
        read_exact_or_truncated(r, &mut fixed[1..], "header")?;
    } else {
        read_exact_or_truncated(r, &mut fixed, "header")?;
    }
    if fixed[..2] != GZIP_MAGIC {
        return Err(corrupt("bad magic bytes"));
    }
    if fixed[2] != 8 {
        return Err(corrupt("unknown compression method"));
    }
    let flags = fixed[3];
    if flags & 0xe0 != 0 {
        return Err(corrupt("reserved header flags set"));
    }
    header_crc.update(&fixed);
    if flags & FEXTRA != 0 {
        let mut len = [0u8; 2];
        read_exact_or_truncated(r, &mut len, "header")?;
        header_crc.update(&len);
        let mut left = u16::from_le_bytes(len) as usize;
        if left > 0 {
            skip_header_field(r, &mut header_crc, |buf| {
                let n = buf.len().min(left);
                left -= n;
                (n, left == 0)
            })?;
        }
    }
    // File name and comment: each up to and including a zero byte.
    for field in [FNAME, FCOMMENT] {
        if flags & field != 0 {
            skip_header_field(r, &mut header_crc, |buf| match memchr::memchr(0, buf) {
                Some(i) => (i + 1, true),
                None => (buf.len(), false),
            })?;
        }
    }
    if flags & FHCRC != 0 {
        let mut crc16 = [0u8; 2];
        read_exact_or_truncated(r, &mut crc16, "header")?;
        if u16::from_le_bytes(crc16) != header_crc.finalize() as u16 {
            return Err(corrupt("header checksum mismatch"));
        }
    }
    Ok(())
}

impl<R: BufRead> Read for GzipMembers<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            match &mut self.state {
                Member::Done => return Ok(0),
                Member::Header { .. } => {
                    // Taken out first: an error here is final (interruptions are retried
                    // inside), and a later read must not parse from the middle of a header.
                    let Member::Header {
                        mut reader,
                        magic_read,
                    } = std::mem::replace(&mut self.state, Member::Done)
                    else {
                        return Err(io::Error::other("gzip state"));
                    };
                    read_header(&mut reader, magic_read)?;
                    self.state = Member::Body(Box::new(InBody {
                        body: Body::new(reader, self.backend),
                        len: 0,
                    }));
                }
                Member::Body(member) => {
                    let n = member.body.read(buf)?;
                    if n > 0 {
                        member.len += n as u64;
                        return Ok(n);
                    }
                    // The deflate body ended (the reader stands at its end): the trailer
                    // holds the CRC-32 and the length mod 2^32 of this member.
                    let Member::Body(member) = std::mem::replace(&mut self.state, Member::Done)
                    else {
                        return Err(io::Error::other("gzip state"));
                    };
                    let len = member.len;
                    let (mut inner, crc) = member.body.finish();
                    let mut trailer = [0u8; 8];
                    read_exact_or_truncated(&mut inner, &mut trailer, "missing trailer")?;
                    if u32::from_le_bytes([trailer[0], trailer[1], trailer[2], trailer[3]]) != crc {
                        return Err(corrupt("CRC-32 mismatch"));
                    }
                    if u32::from_le_bytes([trailer[4], trailer[5], trailer[6], trailer[7]])
                        != len as u32
                    {
                        return Err(corrupt("length mismatch"));
                    }
                    self.members += 1;
                    // The next two bytes, if there are any: another member's magic?
                    let (len, first, second) = with_buffered(&mut inner, |b| {
                        (b.len(), b.first().copied(), b.get(1).copied())
                    })?;
                    if len == 0 {
                        return Ok(0);
                    }
                    let mut magic_read = false;
                    let mut second = second;
                    if len == 1 && first == Some(GZIP_MAGIC[0]) {
                        // The buffer ends between the two magic bytes: look at the second
                        // before deciding between another member and garbage.
                        inner.consume(1);
                        magic_read = true;
                        second = with_buffered(&mut inner, |b| b.first().copied())?;
                    }
                    let is_member = first == Some(GZIP_MAGIC[0])
                        && match second {
                            Some(b) => b == GZIP_MAGIC[1],
                            // A lone first magic byte at the end is a truncated member, as
                            // for zcat ("unexpected end of file"), not garbage.
                            None => true,
                        };
                    if is_member {
                        self.state = Member::Header {
                            reader: inner,
                            magic_read,
                        };
                        continue;
                    }
                    // Not another member: count the rest as trailing garbage and stop (as
                    // `gzip -d` does), noting a member's start in it (`carry`: the last two
                    // bytes of the buffer before, where one may begin).
                    self.trailing_garbage += magic_read as u64;
                    let mut carry: Vec<u8> = match magic_read {
                        true => vec![GZIP_MAGIC[0]],
                        false => Vec::new(),
                    };
                    loop {
                        let (len, found) = with_buffered(&mut inner, |b| {
                            let joined = [&carry[..], &b[..b.len().min(2)]].concat();
                            let found = memchr::memmem::find(&joined, &[0x1f, 0x8b, 0x08])
                                .map(|i| i as i64 - carry.len() as i64)
                                .or_else(|| {
                                    memchr::memmem::find(b, &[0x1f, 0x8b, 0x08]).map(|i| i as i64)
                                });
                            carry.extend_from_slice(&b[b.len().saturating_sub(2)..]);
                            carry.drain(..carry.len().saturating_sub(2));
                            (b.len(), found)
                        })?;
                        if len == 0 {
                            return Ok(0);
                        }
                        if let (None, Some(at)) = (self.member_in_garbage, found) {
                            self.member_in_garbage =
                                Some((self.trailing_garbage as i64 + at) as u64);
                        }
                        self.trailing_garbage += len as u64;
                        inner.consume(len);
                    }
                }
            }
        }
    }
}

/// Open a file that must be a regular one, without waiting: a FIFO in its place (no writer)
/// would block `open` itself, before any check. An error of kind `InvalidInput` if it is not
/// a regular file. (`O_NONBLOCK` changes nothing for a regular file's reads.)
pub fn open_regular(path: &Path) -> io::Result<File> {
    open_regular_with(path, 0)
}

/// [`open_regular`] with more `open` flags (`O_NOFOLLOW`).
pub fn open_regular_with(path: &Path, flags: i32) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | flags)
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    Ok(file)
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
    open_file(file, path, allow_mmap, progress)
}

/// [`open`] for a file already open (`path` names it in errors).
pub fn open_file(
    file: File,
    path: &Path,
    allow_mmap: bool,
    progress: Arc<AtomicU64>,
) -> anyhow::Result<Source> {
    let meta = file.metadata().with_context(|| "cannot stat")?;
    if meta.is_dir() {
        anyhow::bail!("is a directory");
    }
    let len = meta.len();
    if allow_mmap && meta.is_file() && len > 0 && !starts_with_gzip_magic(&file)? {
        if let Some(mapped) = hold(&file, &meta, &crate::escape::path(path)) {
            return Ok(Source::Mapped(mapped));
        }
    }
    stream(Box::new(file), meta.is_file().then_some(len), progress)
}

/// A regular, plain file held whole: read into memory when small ([`read_whole`]), mapped
/// otherwise (`display` names it in a SIGBUS error); `None` when the map fails.
fn hold(file: &File, meta: &std::fs::Metadata, display: &str) -> Option<Mapped> {
    match read_whole(file, meta.len()) {
        Some(read) => Some(Mapped::read(read, meta)),
        None => map(file, meta, display),
    }
}

/// A regular file mapped whole (`display` names it in a SIGBUS error); `None` when the map
/// fails.
fn map(file: &File, meta: &std::fs::Metadata, display: &str) -> Option<Mapped> {
    // SAFETY: the map is read-only and shared. Another process truncating the file while
    // it is mapped would make reads fault (SIGBUS); `sigbus` turns that into a clear error.
    let map = unsafe { Mmap::map(file) }.ok()?;
    advise_for_scan(&map);
    let guard = crate::sigbus::register(map.as_ptr(), map.len(), display);
    Some(Mapped {
        map: Contents::Map(map),
        file_id: file_id(meta),
        _guard: guard,
    })
}

/// Advice for a map that is read front to back, once. Best effort: a kernel that refuses
/// either only loses speed.
///
/// `HugePage` is for the page tables. A 2 MiB page-cache folio at a 2 MiB-aligned offset is
/// mapped with one entry instead of 512 (the kernel aligns the map), which takes the system
/// time of mapping and unmapping 1 GB with one thread from 0.09-0.13 s to 0.01-0.04 s.
/// Linux 6.x caches a file read from disk mostly in such folios anyway (its readahead ramps up
/// to them); with this advice a cold read through the map allocates them from the first
/// page (measured on a 95 MiB file: 94 MiB mapped by 2 MiB entries instead of 54). A file
/// still cached as it was written (small folios) is mapped page by page as before: the
/// advice never splits or copies pages.
fn advise_for_scan(map: &Mmap) {
    let _ = map.advise(memmap2::Advice::Sequential);
    #[cfg(target_os = "linux")]
    let _ = map.advise(memmap2::Advice::HugePage);
}

/// Map a regular, non-empty file without deciding how it will be read: (map, is gzip).
/// `None` when it is not mappable (not a regular file, empty, or the map fails); the caller
/// then opens it with [`open`], which reports any error.
///
/// Only for a path that discovery found a regular file ([`super::Kind::Regular`]): opening
/// a FIFO makes this process one of its readers, and closing it again (it cannot be mapped)
/// could leave its writer with no reader at all (killed by SIGPIPE) and the read that
/// follows waiting for a writer for ever. (A stat here, as well, was 14 % of a run over
/// 20,000 small files.)
pub fn map_file(path: &Path) -> Option<(Mapped, bool)> {
    let file = File::open(path).ok()?;
    let meta = file.metadata().ok()?;
    if !meta.is_file() || meta.len() == 0 {
        return None;
    }
    if let Some(read) = read_whole(&file, meta.len()) {
        let gzip = read.bytes.starts_with(&GZIP_MAGIC);
        return Some((Mapped::read(read, &meta), gzip));
    }
    let gzip = starts_with_gzip_magic(&file).ok()?;
    Some((map(&file, &meta, &crate::escape::path(path))?, gzip))
}

/// Stdin held as a named file is ([`map_file`]) when it is one redirected from a plain
/// regular file (`- < access.log`) still at its start: it is then scanned in parallel and
/// compared with the other inputs, where a stream is neither (1 GB with two threads: 0.19 s
/// as a stream, 0.135 s so). Its offset is moved to its end, as reading it would leave it. `None` for
/// anything else (a pipe, a `.gz`, a file a shell has already read part of), which is read
/// as a stream, as before.
pub fn hold_stdin() -> Option<Mapped> {
    use std::io::{Seek, SeekFrom};
    use std::os::fd::AsFd;
    let mut file = File::from(io::stdin().as_fd().try_clone_to_owned().ok()?);
    let meta = file.metadata().ok()?;
    if !meta.is_file() || meta.len() == 0 || file.stream_position().ok()? != 0 {
        return None;
    }
    if starts_with_gzip_magic(&file).ok()? {
        return None;
    }
    let held = hold(&file, &meta, "-")?;
    // The descriptor shares its offset with stdin's.
    file.seek(SeekFrom::Start(held.map.len() as u64)).ok()?;
    Some(held)
}

/// Up to `limit` decoded bytes from the start of a gzip file's bytes (fewer where it is
/// shorter or corrupt before then).
pub fn gzip_head(gz: &[u8], limit: usize) -> Vec<u8> {
    let mut head = Vec::with_capacity(limit);
    let _ = GzipMembers::new(gz)
        .take(limit as u64)
        .read_to_end(&mut head);
    head
}

/// A `.gz` input decoded whole into an unnamed temporary file, mapped: compared with the
/// other inputs for duplicate content as plain text is, and scanned from the map.
pub struct Decoded {
    pub mapped: Mapped,
    /// Size of the `.gz` file.
    pub file_bytes: u64,
    pub members: u64,
    /// What [`GzipMembers`] found after the last member, as a warning for the report.
    pub garbage_warning: Option<String>,
    /// Where it is corrupt or cut short, as the input's error: the text is what comes before.
    pub error: Option<String>,
}

/// Why a `.gz` input was not decoded ahead of its scan.
pub enum NotDecoded {
    /// Corrupt before any text, or no text at all: it is read as a stream, which reports
    /// where it breaks off, and compared with nothing.
    Unreadable,
    /// No temporary file could be written (a full disk): why.
    NoTempFile(String),
    /// Its text is longer than this (see [`decode_to_temp`]).
    TooLarge(u64),
}

/// Decode all of `gz` (the mapped `.gz` file `display`) into a temporary file (in `TMPDIR`:
/// page cache, not this process' memory) and map it. At most 256 times its compressed size
/// (and 64 MiB) are written: access logs compress 10 to 30 times, and a gzip bomb would
/// fill the folder, which other programs share.
pub fn decode_to_temp(gz: &[u8], display: &str) -> Result<Decoded, NotDecoded> {
    let limit = (gz.len() as u64).saturating_mul(256).max(64 << 20);
    let mut written = 0u64;
    use std::io::Write;
    let temp_failed = |e: io::Error| NotDecoded::NoTempFile(e.to_string());
    let mut file = tempfile::tempfile().map_err(temp_failed)?;
    let mut reader = GzipMembers::new(gz);
    let mut buf = vec![0u8; READ_BUFFER];
    let mut error = None;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            // Corrupt or cut short past its start (a `gzip -k` copy cut by a full disk): the
            // text before the fault is compared with the other inputs and scanned, as a
            // stream would scan it, and the input has the stream's error.
            Err(e) if written > 0 => {
                error = Some(format!(
                    "{} after {written} bytes of log data (the lines before it are counted)",
                    crate::escape::text(&e.to_string())
                ));
                break;
            }
            Err(_) => return Err(NotDecoded::Unreadable),
        };
        written += n as u64;
        if written > limit {
            return Err(NotDecoded::TooLarge(limit));
        }
        file.write_all(&buf[..n]).map_err(temp_failed)?;
    }
    let meta = file.metadata().map_err(temp_failed)?;
    if meta.len() == 0 {
        // Nothing to compare (and an empty map is no map): read as usual.
        return Err(NotDecoded::Unreadable);
    }
    // SAFETY: read-only and shared, of a file no other process can name (unlinked).
    let map = unsafe { Mmap::map(&file) }.map_err(temp_failed)?;
    advise_for_scan(&map);
    let guard = crate::sigbus::register(map.as_ptr(), map.len(), display);
    Ok(Decoded {
        mapped: Mapped {
            map: Contents::Map(map),
            file_id: file_id(&meta),
            _guard: guard,
        },
        file_bytes: gz.len() as u64,
        members: reader.members,
        garbage_warning: garbage_warning(&reader),
        error,
    })
}

/// The report's warning for what follows a gzip file's last member, if anything does.
pub fn garbage_warning<R: BufRead>(gz: &GzipMembers<R>) -> Option<String> {
    (gz.trailing_garbage > 0).then(|| {
        format!(
            "{} bytes of trailing garbage after the last gzip member were ignored{}",
            gz.trailing_garbage,
            gz.member_in_garbage.map_or(String::new(), |at| format!(
                "; a gzip member starts at byte {at} of them (files joined with padding between them?), and its lines are not read"
            ))
        )
    })
}

/// Open `path`, which must still be the file `id` names (not one renamed over it since).
pub fn open_same(path: &Path, id: FileId) -> anyhow::Result<(File, u64)> {
    let file = File::open(path).with_context(|| "cannot open")?;
    let meta = file.metadata().with_context(|| "cannot stat")?;
    if file_id(&meta) != id {
        anyhow::bail!(
            "the file was replaced after the inputs were compared (rotated by another process?); not read"
        );
    }
    Ok((file, meta.len()))
}

/// Stream bytes `start..end` of an open plain file (the part of it still to scan);
/// `file_bytes` is its size for the report.
pub fn plain_range(
    mut file: File,
    start: u64,
    end: u64,
    file_bytes: u64,
    progress: Arc<AtomicU64>,
) -> anyhow::Result<Source> {
    use std::io::{Seek, SeekFrom};
    file.seek(SeekFrom::Start(start))
        .with_context(|| "cannot seek")?;
    // The file is plain (its start was compared as text): the part left to scan is never
    // taken for gzip, whatever its first two bytes are.
    let plain = BufReader::with_capacity(
        READ_BUFFER,
        Counting {
            inner: Box::new(file.take(end.saturating_sub(start))),
            count: progress,
        },
    );
    Ok(Source::Stream(Box::new(Stream {
        reader: StreamReader::Plain(Box::new(plain)),
        file_bytes: Some(file_bytes),
    })))
}

/// Whether the file at `path` starts with the gzip magic bytes (false if it cannot be read).
pub fn is_gzip_file(path: &Path) -> bool {
    File::open(path).is_ok_and(|f| is_gzip(&f))
}

/// [`is_gzip_file`] for a file already open.
pub fn is_gzip(file: &File) -> bool {
    starts_with_gzip_magic(file).unwrap_or(false)
}

fn starts_with_gzip_magic(file: &File) -> anyhow::Result<bool> {
    use std::os::unix::fs::FileExt;
    let mut magic = [0u8; 2];
    let n = file.read_at(&mut magic, 0).with_context(|| "cannot read")?;
    Ok(n == 2 && magic == GZIP_MAGIC)
}

/// Why a file cannot be read, when it starts like an archive of a compressor other than
/// gzip (read as text, it was a handful of malformed lines and exit 0): the compressor's name
/// and its command. Magic numbers no access-log line starts with.
pub fn foreign_compression(head: &[u8]) -> Option<String> {
    let bzip2 = head.len() >= 10
        && head.starts_with(b"BZh")
        && (b'1'..=b'9').contains(&head[3])
        && matches!(
            head[4..10],
            [0x31, 0x41, 0x59, 0x26, 0x53, 0x59] | [0x17, 0x72, 0x45, 0x38, 0x50, 0x90]
        );
    let (name, tool) = if bzip2 {
        ("bzip2", "bzip2")
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
        ("xz", "xz")
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        ("zstd", "zstd")
    } else if head.starts_with(&[0x04, 0x22, 0x4d, 0x18]) {
        ("lz4", "lz4")
    } else {
        return None;
    };
    Some(format!(
        "compressed with {name}, which logwarden does not read (only gzip): decompress it first, e.g. `{tool} -dc FILE | logwarden analyze -`"
    ))
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
    if let Some(why) = foreign_compression(head) {
        anyhow::bail!(why);
    }
    let is_gzip = match *head {
        [a, b, ..] => [a, b] == GZIP_MAGIC,
        [] => false,
        // A pipe may hand over a first read of one byte: the second decides. The buffer is
        // rebuilt around the two (the usual first fill, whole, is left alone: reads that
        // then start two bytes into a page made the kernel's copies ~4 % slower on a .gz).
        [first] => {
            reader.consume(1);
            let Counting { mut inner, count } = reader.into_inner();
            let mut second = [0u8; 1];
            let got = loop {
                match inner.read(&mut second) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    other => break other.with_context(|| "cannot read")?,
                }
            };
            let head = [first, second[0]];
            // Both bytes are read (and counted) again through the new buffer.
            count.fetch_sub(1, Ordering::Relaxed);
            reader = BufReader::with_capacity(
                READ_BUFFER,
                Counting {
                    inner: Box::new(io::Cursor::new(head).take(1 + got as u64).chain(inner)),
                    count,
                },
            );
            got == 1 && head == GZIP_MAGIC
        }
    };
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

    #[test]
    fn small_files_are_read_whole_and_larger_ones_mapped() {
        let dir = tempfile::tempdir().unwrap();
        let held = |name: &str, data: &[u8]| {
            let path = dir.path().join(name);
            std::fs::write(&path, data).unwrap();
            map_file(&path).map(|(m, gzip)| (m.is_map(), m.map.to_vec(), gzip))
        };
        let line = b"10.0.0.1 - - [19/Jun/2023:10:00:00 +0000] \"GET / HTTP/1.1\" 404 1\n";
        assert_eq!(held("a", line), Some((false, line.to_vec(), false)));
        let big = line.repeat(READ_WHOLE_MAX as usize / line.len() + 1);
        assert_eq!(held("b", &big), Some((true, big.clone(), false)));
        let packed = gz(line);
        assert_eq!(held("c.gz", &packed), Some((false, packed.clone(), true)));
        assert_eq!(held("d", b""), None);
        // Its size as looked at; a file that gives fewer bytes (cut since, a `/sys` file) is
        // left to the map or the stream, as before.
        let path = dir.path().join("e");
        std::fs::write(&path, line).unwrap();
        let file = File::open(&path).unwrap();
        std::fs::write(&path, &big).unwrap();
        let read = read_whole(&file, line.len() as u64).unwrap();
        assert_eq!(&read.bytes[..], &line[..]);
        std::fs::write(&path, &line[..10]).unwrap();
        assert!(read_whole(&file, line.len() as u64).is_none());
        assert!(read_whole(&file, READ_WHOLE_MAX + 1).is_none());
        // The budget was given back each time: the file can be read again.
        assert!(read_whole(&file, 10).is_some());
    }

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    type Decoded = (io::Result<Vec<u8>>, u64, u64);

    fn read_all<R: BufRead>(mut r: GzipMembers<R>) -> Decoded {
        let mut out = Vec::new();
        let res = r.read_to_end(&mut out).map(|_| out); // retries `Interrupted`
        (res, r.members, r.trailing_garbage)
    }

    /// Every decoder of this build on the same bytes: they must agree (output, members,
    /// garbage, and whether it is an error); the first one's result is returned.
    fn agreed(mut decode: impl FnMut(Backend) -> Decoded) -> Decoded {
        let mut results = Backend::all().iter().map(|&b| (b, decode(b)));
        let (first_backend, first) = results.next().expect("at least one backend");
        for (backend, other) in results {
            assert_eq!(
                (first.0.as_ref().ok(), first.1, first.2),
                (other.0.as_ref().ok(), other.1, other.2),
                "{} and {} disagree",
                first_backend.name(),
                backend.name()
            );
        }
        first
    }

    fn decode(bytes: Vec<u8>) -> Decoded {
        agreed(|backend| read_all(GzipMembers::with_backend(&bytes[..], backend)))
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

    /// A member after padding is garbage, as for `gzip -d`, but the run says where it starts,
    /// whatever buffer sizes split its first bytes.
    #[test]
    fn a_member_after_padding_is_found_in_the_garbage() {
        let second = gz(b"b\n");
        let file = [gz(b"a\n"), vec![0, 0, 0], second.clone()].concat();
        for size in [1, 2, 3, 4, 5, 64, 4096] {
            let mut r = GzipMembers::new(io::BufReader::with_capacity(size, &file[..]));
            let mut out = Vec::new();
            r.read_to_end(&mut out).unwrap();
            assert_eq!(out, b"a\n", "{size}");
            assert_eq!(
                (r.trailing_garbage, r.member_in_garbage),
                (3 + second.len() as u64, Some(3)),
                "{size}"
            );
        }
        // Its magic alone, at the very end, is no member (no method byte).
        let junk = [gz(b"a\n"), b"JUNK\x1f\x8b".to_vec()].concat();
        let mut r = GzipMembers::new(&junk[..]);
        r.read_to_end(&mut Vec::new()).unwrap();
        assert_eq!((r.trailing_garbage, r.member_in_garbage), (6, None));
    }

    /// Members small and larger than ISA-L's staging buffer, read through buffers from 1 byte
    /// to more than a member (the staging buffer now passes from one member to the next):
    /// every byte once, in order, from every decoder.
    #[test]
    fn members_read_through_small_buffers_come_out_whole() {
        let texts: Vec<Vec<u8>> = [1usize, 70, 200_000, 3, 150_000, 0, 64]
            .iter()
            .enumerate()
            .map(|(k, &n)| (0..n).map(|i| b'a' + ((i * 7 + k) % 26) as u8).collect())
            .collect();
        let file: Vec<u8> = texts.iter().flat_map(|t| gz(t)).collect();
        let want = texts.concat();
        for &backend in Backend::all() {
            for size in [1, 7, 4096, (128 << 10) - 1, 200_001] {
                let mut r = GzipMembers::with_backend(&file[..], backend);
                let (mut out, mut buf) = (Vec::new(), vec![0u8; size]);
                loop {
                    match r.read(&mut buf).unwrap() {
                        0 => break,
                        n => out.extend_from_slice(&buf[..n]),
                    }
                }
                assert!(out == want, "{} with {size}-byte reads", backend.name());
                assert_eq!(r.members, texts.len() as u64);
            }
        }
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
        let mut bad = good.clone();
        bad[n - 1] ^= 0x01; // length in the trailer
        assert!(decode(bad).0.is_err());
    }

    /// A member with every optional header field (RFC 1952: extra, name, comment and the
    /// header's own CRC-16), as gzip, pigz and logrotate may write them.
    fn gz_with_all_header_fields(data: &[u8], header_crc_delta: u16) -> Vec<u8> {
        let mut e = flate2::GzBuilder::new()
            .filename("access.log")
            .comment("rotated")
            .extra(vec![b'A', b'B', 2, 0, 7, 7])
            .write(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        let plain = e.finish().unwrap();
        // The header ends after the comment's NUL; add FHCRC and its checksum there.
        let comment_end = plain.windows(8).position(|w| w == b"rotated\0").unwrap() + 8;
        let mut header = plain[..comment_end].to_vec();
        header[3] |= 0x02;
        let crc16 = (crc_fast::checksum(crc_fast::CrcAlgorithm::Crc32IsoHdlc, &header) as u16)
            .wrapping_add(header_crc_delta);
        [&header[..], &crc16.to_le_bytes(), &plain[comment_end..]].concat()
    }

    /// Hands out `data` in pieces of the given sizes (cycled), with an `Interrupted` error
    /// before every piece: the buffer boundaries and interruptions fall everywhere.
    struct Choppy<'a> {
        data: &'a [u8],
        sizes: &'a [usize],
        turn: usize,
        interrupt: bool,
    }

    impl Read for Choppy<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.interrupt = !self.interrupt;
            if self.interrupt {
                return Err(io::ErrorKind::Interrupted.into());
            }
            let size = self.sizes[self.turn % self.sizes.len()];
            self.turn += 1;
            let n = size.min(buf.len()).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    fn decode_choppy(bytes: &[u8], sizes: &[usize]) -> Decoded {
        // A small buffer, so a header, the magic bytes or a body's end straddle refills.
        agreed(|backend| {
            let choppy = Choppy {
                data: bytes,
                sizes,
                turn: 0,
                interrupt: false,
            };
            read_all(GzipMembers::with_backend(
                BufReader::with_capacity(8, choppy),
                backend,
            ))
        })
    }

    /// A member whose body turns corrupt after whole blocks (a sync flush, then a reserved
    /// block type): the bytes before the fault come out, then an error that stays.
    #[test]
    fn bytes_before_a_corrupt_block_come_out_and_the_error_stays() {
        let text =
            b"192.0.2.1 - - [19/Jun/2023:10:00:00 +0000] \"GET / HTTP/1.1\" 404 0\n".repeat(300);
        let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(&text).unwrap();
        e.flush().unwrap(); // a sync flush: the blocks so far end on a byte boundary
        let mut body = e.get_ref().clone();
        body.push(0x07); // BFINAL = 1, BTYPE = 11: reserved
        let member = [
            &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff][..],
            &body,
            &[0u8; 8],
        ]
        .concat();
        for &backend in Backend::all() {
            let mut r =
                GzipMembers::with_backend(BufReader::with_capacity(64, &member[..]), backend);
            let mut out = Vec::new();
            // Larger than ISA-L's 32 KiB window, as the engine's blocks are: ISA-L then
            // inflates straight into it, not through its internal buffer.
            let mut buf = vec![0u8; 1 << 16];
            let error = loop {
                match r.read(&mut buf) {
                    Ok(0) => panic!("{}: no error", backend.name()),
                    Ok(n) => out.extend_from_slice(&buf[..n]),
                    Err(e) => break e,
                }
            };
            // All of the text comes out, whatever the read meeting the fault had inflated
            // (flate2's own reader dropped that; with a small read buffer, what sits in
            // ISA-L's internal buffer at the fault would be lost).
            assert_eq!(out, text, "{}", backend.name());
            // flate2 reports corrupt deflate data as `InvalidInput`.
            let kind = match backend {
                Backend::ZlibRs => io::ErrorKind::InvalidInput,
                #[cfg(isal)]
                Backend::Isal => io::ErrorKind::InvalidData,
            };
            assert_eq!(error.kind(), kind, "{}", backend.name());
            assert!(
                r.read(&mut buf).is_err(),
                "{}: the error stays",
                backend.name()
            );
        }
    }

    /// Refills of every size from 1 byte: a body's end falls at every offset of a refill, and
    /// a decoder that read ahead into the trailer (ISA-L's bit buffer holds up to 8 bytes)
    /// must give those bytes back exactly. (Bytes read ahead in an earlier refill are the
    /// choppy test's case: that test fails when they are not given back.)
    #[test]
    fn every_refill_size_at_a_bodys_end() {
        let text: Vec<u8> = (0..3000u32)
            .flat_map(|i| {
                format!("10.0.{}.{} GET /p{} 404\n", i % 7, i % 13, i * 7919 % 101).into_bytes()
            })
            .collect();
        let stored = {
            let mut e = GzEncoder::new(Vec::new(), flate2::Compression::none());
            e.write_all(b"stored block\n").unwrap();
            e.finish().unwrap()
        };
        let two = [gz(&text), stored, gz(b"last\n"), b"\0junk".to_vec()].concat();
        let want = [&text[..], b"stored block\n", b"last\n"].concat();
        for capacity in 1..=20 {
            let (out, members, garbage) = agreed(|backend| {
                read_all(GzipMembers::with_backend(
                    BufReader::with_capacity(capacity, &two[..]),
                    backend,
                ))
            });
            assert_eq!(
                (out.unwrap(), members, garbage),
                (want.clone(), 3, 5),
                "capacity {capacity}"
            );
        }
    }

    #[test]
    fn interruptions_and_buffer_boundaries_anywhere() {
        let text = b"1.2.3.4 - - [19/Jun/2023:10:00:00 +0000] \"GET /\" 404 1\n".repeat(20);
        let two = [gz_with_all_header_fields(&text, 0), gz(b"x\n")].concat();
        let expect = [&text[..], b"x\n"].concat();
        let one = gz(b"a\n");
        for sizes in [&[1usize][..], &[2], &[3, 5], &[7, 1, 13], &[64]] {
            let (out, members, garbage) = decode_choppy(&two, sizes);
            assert_eq!(
                (out.unwrap(), members, garbage),
                (expect.clone(), 2, 0),
                "{sizes:?}"
            );
            // Garbage starting with the first magic byte, cut after it by a refill.
            let junk = [&one[..], b"\x1fJUNK"].concat();
            let (out, members, garbage) = decode_choppy(&junk, sizes);
            assert_eq!(
                (out.unwrap(), members, garbage),
                (b"a\n".to_vec(), 1, 5),
                "{sizes:?}"
            );
            // A lone first magic byte at the end is a truncated member, as for zcat.
            let lone = [&one[..], b"\x1f"].concat();
            assert!(decode_choppy(&lone, sizes).0.is_err(), "{sizes:?}");
        }
    }

    #[test]
    fn optional_header_fields_and_their_checks() {
        let text = b"1.2.3.4 - - [19/Jun/2023:10:00:00 +0000] \"GET /\" 404 1\n".repeat(50);
        let member = gz_with_all_header_fields(&text, 0);
        let (out, members, garbage) = decode([member.clone(), gz(b"x\n")].concat());
        assert_eq!(
            (out.unwrap(), members, garbage),
            ([&text[..], b"x\n"].concat(), 2, 0)
        );
        assert!(decode(gz_with_all_header_fields(&text, 1)).0.is_err());
        let mut reserved = gz(b"a\n");
        reserved[3] |= 0x80;
        assert!(decode(reserved).0.is_err());
        let mut method = gz(b"a\n");
        method[2] = 7;
        assert!(decode(method).0.is_err());
        for cut in [3, 12, 20, 30] {
            assert!(decode(member[..cut].to_vec()).0.is_err(), "cut at {cut}");
        }
    }
}
