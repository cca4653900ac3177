//! SIGBUS guard for memory-mapped inputs.
//!
//! A mapped file that another process truncates makes the next read of a vanished page raise
//! SIGBUS, which would kill us silently. Invariant: once any file is mapped, a SIGBUS prints
//! one clear message (naming the file when the faulting address is inside a registered
//! mapping) and exits with status 1 instead. The handler only reads atomics and calls
//! async-signal-safe `write(2)` and `_exit(2)`.

use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
use std::sync::Once;

const SLOTS: usize = 64;

struct Slot {
    start: AtomicUsize,
    len: AtomicUsize,
    name: AtomicPtr<u8>,
    name_len: AtomicUsize,
}

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY: Slot = Slot {
    start: AtomicUsize::new(0),
    len: AtomicUsize::new(0),
    name: AtomicPtr::new(std::ptr::null_mut()),
    name_len: AtomicUsize::new(0),
};
static MAPPINGS: [Slot; SLOTS] = [EMPTY; SLOTS];

/// Keeps a mapping registered (for the message) while it lives.
pub struct Registration {
    slot: Option<usize>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Some(i) = self.slot {
            let s = &MAPPINGS[i];
            s.len.store(0, Ordering::SeqCst);
            let name = s.name.swap(std::ptr::null_mut(), Ordering::SeqCst);
            let len = s.name_len.load(Ordering::SeqCst);
            s.start.store(0, Ordering::SeqCst);
            if !name.is_null() {
                // SAFETY: allocated by `register` as a boxed slice of exactly `len` bytes.
                drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(name, len)) });
            }
        }
    }
}

/// Register a mapped range under an (already escaped) display name.
pub fn register(start: *const u8, len: usize, display: &str) -> Registration {
    install();
    for (i, s) in MAPPINGS.iter().enumerate() {
        if s.start
            .compare_exchange(0, start as usize, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            let name: Box<[u8]> = format!("{display}\n").into_bytes().into_boxed_slice();
            s.name_len.store(name.len(), Ordering::SeqCst);
            s.name
                .store(Box::into_raw(name) as *mut u8, Ordering::SeqCst);
            s.len.store(len, Ordering::SeqCst);
            return Registration { slot: Some(i) };
        }
    }
    Registration { slot: None }
}

pub fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: plain sigaction with a handler that is async-signal-safe (see module docs).
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = handler as *const () as usize;
            action.sa_flags = libc::SA_SIGINFO;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(libc::SIGBUS, &action, std::ptr::null_mut());
        }
    });
}

extern "C" fn handler(_sig: libc::c_int, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    let write = |bytes: &[u8]| {
        // SAFETY: write(2) on stderr is async-signal-safe.
        unsafe { libc::write(2, bytes.as_ptr().cast(), bytes.len()) };
    };
    // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers.
    let addr = unsafe { (*info).si_addr() } as usize;
    write(b"logwarden: error: an input file shrank while it was being read (SIGBUS on a memory-mapped file; truncated by another process?). No report was written; re-run, or use --no-mmap --keep-duplicates (no memory map at all).\n");
    for s in MAPPINGS.iter() {
        let start = s.start.load(Ordering::SeqCst);
        let len = s.len.load(Ordering::SeqCst);
        let name = s.name.load(Ordering::SeqCst);
        if start != 0 && !name.is_null() && addr >= start && addr < start + len {
            write(b"logwarden: the file was: ");
            // SAFETY: name points to name_len bytes while the slot is registered.
            write(unsafe { std::slice::from_raw_parts(name, s.name_len.load(Ordering::SeqCst)) });
        }
    }
    // SAFETY: _exit is async-signal-safe.
    unsafe { libc::_exit(1) };
}
