//! Inflate: one gzip member's deflate body → its bytes and their CRC-32, with ISA-L where the
//! build found it (`build.rs`; 1.2-1.3x zlib-rs's speed on `gzip -6` data, even on level 1)
//! and flate2's zlib-rs otherwise or when `LOGWARDEN_INFLATE=zlib-rs` asks for it.
//!
//! Invariant: when a body ends, the reader stands exactly at the first byte after it (the
//! trailer), whatever either decoder had read ahead; [`Prefixed`] takes back what ISA-L's bit
//! buffer held.

use flate2::{Decompress, FlushDecompress, Status};
use std::io::{self, BufRead, Read};

/// Which decoder inflates gzip bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    ZlibRs,
    #[cfg(isal)]
    Isal,
}

impl Backend {
    /// ISA-L when built in, unless `LOGWARDEN_INFLATE` names another decoder of the build
    /// (`zlib-rs`, `isa-l`). Read once; an unknown name is reported and ignored.
    pub fn default_for_process() -> Backend {
        static CHOSEN: std::sync::OnceLock<Backend> = std::sync::OnceLock::new();
        *CHOSEN.get_or_init(|| {
            let Some(name) = std::env::var_os("LOGWARDEN_INFLATE") else {
                return Backend::best();
            };
            let name = name.to_string_lossy();
            match Backend::all().iter().find(|b| b.name() == name) {
                Some(&chosen) => chosen,
                None => {
                    let names: Vec<&str> = Backend::all().iter().map(|b| b.name()).collect();
                    crate::stderr_line!(
                        "logwarden: LOGWARDEN_INFLATE={} is not a gzip decoder of this build ({}); using {}",
                        crate::escape::text(&name),
                        names.join(", "),
                        Backend::best().name()
                    );
                    Backend::best()
                }
            }
        })
    }

    /// The fastest decoder in this build.
    pub fn best() -> Backend {
        #[cfg(isal)]
        return Backend::Isal;
        #[cfg(not(isal))]
        Backend::ZlibRs
    }

    /// Every decoder in this build (the tests run each).
    pub fn all() -> &'static [Backend] {
        &[
            Backend::ZlibRs,
            #[cfg(isal)]
            Backend::Isal,
        ]
    }

    pub fn name(self) -> &'static str {
        match self {
            Backend::ZlibRs => "zlib-rs",
            #[cfg(isal)]
            Backend::Isal => "isa-l",
        }
    }
}

/// A `BufRead` that can take back a few bytes already read from it, served before the rest.
pub struct Prefixed<R> {
    head: [u8; 16],
    start: usize,
    end: usize,
    inner: R,
}

impl<R: BufRead> Prefixed<R> {
    pub fn new(inner: R) -> Self {
        Prefixed {
            head: [0; 16],
            start: 0,
            end: 0,
            inner,
        }
    }

    /// Put `bytes` (at most 8) back in front of what is left to read.
    #[cfg(isal)]
    fn unread(&mut self, bytes: &[u8]) {
        let left = self.end - self.start;
        let n = bytes.len();
        debug_assert!(n + left <= self.head.len());
        self.head.copy_within(self.start..self.end, n);
        self.head[..n].copy_from_slice(bytes);
        self.start = 0;
        self.end = n + left;
    }
}

impl<R: BufRead> Read for Prefixed<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = {
            let available = self.fill_buf()?;
            let n = available.len().min(buf.len());
            buf[..n].copy_from_slice(&available[..n]);
            n
        };
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Prefixed<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.start < self.end {
            return Ok(&self.head[self.start..self.end]);
        }
        self.inner.fill_buf()
    }

    fn consume(&mut self, n: usize) {
        if self.start < self.end {
            self.start = (self.start + n).min(self.end);
        } else {
            self.inner.consume(n);
        }
    }
}

/// One member's deflate body being inflated.
pub enum Body<R: BufRead> {
    ZlibRs(Box<ZlibBody<R>>),
    #[cfg(isal)]
    Isal(isal::Body<R>),
}

impl<R: BufRead> Body<R> {
    pub fn new(reader: Prefixed<R>, backend: Backend) -> Self {
        match backend {
            Backend::ZlibRs => Body::ZlibRs(Box::new(ZlibBody {
                reader,
                inflate: Decompress::new(false),
                crc: crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc32IsoHdlc),
                failed: None,
                ended: false,
            })),
            #[cfg(isal)]
            Backend::Isal => Body::Isal(isal::Body::new(reader)),
        }
    }

    /// Inflated bytes; 0 once the body has ended.
    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Body::ZlibRs(body) => body.read(buf),
            #[cfg(isal)]
            Body::Isal(body) => body.read(buf),
        }
    }

    /// The reader, at the first byte after the body, and the CRC-32 of what was inflated.
    pub fn finish(self) -> (Prefixed<R>, u32) {
        match self {
            Body::ZlibRs(body) => (body.reader, body.crc.finalize() as u32),
            #[cfg(isal)]
            Body::Isal(body) => body.finish(),
        }
    }
}

/// A body inflated by flate2's zlib-rs, driven here rather than through flate2's reader,
/// which drops what one read inflated when that read meets corrupt data (a whole 4 MiB
/// block of lines before the fault, so the count depended on the block size). The CRC is
/// computed here (`crc-fast`): flate2's gzip decoder's own is slower.
pub struct ZlibBody<R: BufRead> {
    reader: Prefixed<R>,
    inflate: Decompress,
    crc: crc_fast::Digest,
    /// The fault met after the bytes last handed out: every later read returns it.
    failed: Option<(io::ErrorKind, &'static str)>,
    ended: bool,
}

impl<R: BufRead> ZlibBody<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some((kind, what)) = self.failed {
            return Err(io::Error::new(kind, what));
        }
        if self.ended || buf.is_empty() {
            return Ok(0);
        }
        loop {
            let input = self.reader.fill_buf()?;
            let eof = input.is_empty();
            let (in_before, out_before) = (self.inflate.total_in(), self.inflate.total_out());
            let flush = match eof {
                true => FlushDecompress::Finish,
                false => FlushDecompress::None,
            };
            let status = self.inflate.decompress(input, buf, flush);
            let consumed = (self.inflate.total_in() - in_before) as usize;
            let produced = (self.inflate.total_out() - out_before) as usize;
            self.reader.consume(consumed);
            self.crc.update(&buf[..produced]);
            match status {
                Ok(Status::StreamEnd) => {
                    self.ended = true;
                    return Ok(produced);
                }
                // Input taken, nothing out yet (a block header): go on, as flate2's reader
                // does (input and room, yet nothing taken or given: never loop).
                Ok(_) if produced == 0 && !eof && consumed > 0 => continue,
                Ok(_) if produced == 0 && !eof => {
                    self.failed = Some((io::ErrorKind::InvalidData, "inflate made no progress"));
                }
                Ok(_) if produced > 0 => return Ok(produced),
                // The input ended inside the body (ISA-L's words for it).
                Ok(_) => {
                    self.failed = Some((
                        io::ErrorKind::UnexpectedEof,
                        "truncated gzip stream: deflate body",
                    ));
                }
                Err(_) => {
                    self.failed = Some((io::ErrorKind::InvalidInput, "corrupt deflate stream"));
                }
            }
            // The bytes inflated before the fault first; the error from the next read.
            if produced > 0 {
                return Ok(produced);
            }
            if let Some((kind, what)) = self.failed {
                return Err(io::Error::new(kind, what));
            }
        }
    }
}

#[cfg(isal)]
mod isal {
    use super::Prefixed;
    use std::io::{self, BufRead};
    use std::ptr::NonNull;

    /// `struct inflate_state`, only ever behind a pointer from `isal_shim.c`.
    #[repr(C)]
    struct State {
        _opaque: [u8; 0],
    }

    extern "C" {
        fn lw_isal_new() -> *mut State;
        fn lw_isal_free(s: *mut State);
        fn lw_isal_inflate(
            s: *mut State,
            input: *const u8,
            in_len: u32,
            out: *mut u8,
            out_len: u32,
            used: *mut u32,
            produced: *mut u32,
            finished: *mut i32,
            crc: *mut u32,
            leftover: *mut u8,
            leftover_len: *mut u32,
        ) -> i32;
    }

    /// An owned ISA-L inflate state (freed on drop).
    struct Handle(NonNull<State>);

    // SAFETY: the state is plain memory owned by this handle alone; ISA-L keeps no
    // thread-local or global reference to it.
    unsafe impl Send for Handle {}

    impl Drop for Handle {
        fn drop(&mut self) {
            // SAFETY: allocated by `lw_isal_new`, freed once.
            unsafe { lw_isal_free(self.0.as_ptr()) }
        }
    }

    pub struct Body<R: BufRead> {
        reader: Prefixed<R>,
        state: Option<Handle>,
        finished: bool,
        crc: u32,
        /// Set by the first error, returned by every later read: ISA-L itself does not stay
        /// failed, and would take the same bytes again as if they went on.
        failed: Option<(io::ErrorKind, String)>,
        /// Output inflated for a caller's small buffer, and how much of it was handed out
        /// (see [`STAGE_BYTES`]).
        staged: Vec<u8>,
        /// `staged[..staged_len]` holds output, from `staged_at` not yet handed out.
        staged_len: usize,
        staged_at: usize,
    }

    /// Reads into less room than this inflate into `staged` first. Given a small output
    /// buffer, ISA-L inflates into its own internal buffer and copies out what fits; bytes
    /// still there when it meets corrupt data were lost, so the lines kept before a fault
    /// depended on the caller's buffer size (`--chunk-size`). Its buffer is about 64 KiB:
    /// with this much room it writes straight to the output.
    const STAGE_BYTES: usize = 128 << 10;

    thread_local! {
        /// The staging buffer of the last finished member on this thread.
        static SPARE_STAGE: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }

    impl<R: BufRead> Body<R> {
        pub fn new(reader: Prefixed<R>) -> Self {
            // SAFETY: a plain allocation; null (out of memory) is checked on first use.
            let state = NonNull::new(unsafe { lw_isal_new() }).map(Handle);
            Body {
                reader,
                state,
                finished: false,
                crc: 0,
                failed: None,
                // The buffer of the member before on this thread: a fresh one (128 KiB
                // allocated and zeroed) per member made a `.gz` of many tiny members 3x
                // slower than zlib-rs (most of the time in memset).
                staged: SPARE_STAGE.with(|spare| std::mem::take(&mut *spare.borrow_mut())),
                staged_len: 0,
                staged_at: 0,
            }
        }

        fn fail(&mut self, kind: io::ErrorKind, message: String) -> io::Error {
            self.failed = Some((kind, message.clone()));
            io::Error::new(kind, message)
        }

        pub fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.staged_at < self.staged_len {
                let n = buf.len().min(self.staged_len - self.staged_at);
                buf[..n].copy_from_slice(&self.staged[self.staged_at..self.staged_at + n]);
                self.staged_at += n;
                return Ok(n);
            }
            if buf.is_empty() || buf.len() >= STAGE_BYTES {
                return self.inflate(buf);
            }
            let mut staged = std::mem::take(&mut self.staged);
            // Zeroed once: its length stays, `staged_len` says what is output.
            staged.resize(STAGE_BYTES, 0);
            let result = self.inflate(&mut staged);
            self.staged = staged;
            self.staged_len = *result.as_ref().unwrap_or(&0);
            self.staged_at = 0;
            if result? == 0 {
                return Ok(0);
            }
            self.read(buf)
        }

        fn inflate(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let Some(state) = self.state.as_ref().map(|h| h.0.as_ptr()) else {
                return Err(io::Error::new(
                    io::ErrorKind::OutOfMemory,
                    "cannot allocate an inflate state",
                ));
            };
            if let Some((kind, message)) = &self.failed {
                return Err(io::Error::new(*kind, message.clone()));
            }
            if self.finished || buf.is_empty() {
                return Ok(0);
            }
            let out_len = buf.len().min(u32::MAX as usize) as u32;
            loop {
                let input = loop {
                    match self.reader.fill_buf() {
                        Ok(b) => break b,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => return Err(e),
                    }
                };
                let at_end = input.is_empty();
                let in_len = input.len().min(u32::MAX as usize) as u32;
                let (mut used, mut produced, mut finished, mut crc) = (0u32, 0u32, 0i32, 0u32);
                let mut leftover = [0u8; 8];
                let mut leftover_len = 0u32;
                // SAFETY: `input` is readable for `in_len` bytes and `buf` writable for
                // `out_len`; the shim writes at most 8 bytes to `leftover` and only through
                // the pointers given.
                let status = unsafe {
                    lw_isal_inflate(
                        state,
                        input.as_ptr(),
                        in_len,
                        buf.as_mut_ptr(),
                        out_len,
                        &mut used,
                        &mut produced,
                        &mut finished,
                        &mut crc,
                        leftover.as_mut_ptr(),
                        &mut leftover_len,
                    )
                };
                if status < 0 {
                    let error = self.fail(
                        io::ErrorKind::InvalidData,
                        format!(
                            "corrupt gzip stream: invalid deflate data (ISA-L status {status})"
                        ),
                    );
                    // What was inflated before the fault is handed out first; the error
                    // comes with the next read.
                    return if produced > 0 {
                        Ok(produced as usize)
                    } else {
                        Err(error)
                    };
                }
                self.reader.consume(used as usize);
                if leftover_len > 0 {
                    self.reader
                        .unread(&leftover[..(leftover_len as usize).min(8)]);
                }
                if finished != 0 {
                    self.finished = true;
                    self.crc = crc;
                    return Ok(produced as usize);
                }
                if produced > 0 {
                    return Ok(produced as usize);
                }
                if at_end {
                    return Err(self.fail(
                        io::ErrorKind::UnexpectedEof,
                        "truncated gzip stream: deflate body".into(),
                    ));
                }
                if used == 0 {
                    // Input and room for output, yet nothing taken or given: never loop.
                    return Err(self.fail(
                        io::ErrorKind::InvalidData,
                        "corrupt gzip stream: inflate made no progress".into(),
                    ));
                }
            }
        }

        /// The reader after the body and the CRC-32; the staging buffer goes to the next
        /// member read on this thread.
        pub fn finish(self) -> (Prefixed<R>, u32) {
            SPARE_STAGE.with(|spare| *spare.borrow_mut() = self.staged);
            (self.reader, self.crc)
        }
    }
}
