//! SIGBUS guard for memory-mapped inputs.
//!
//! A mapped file that another process truncates makes the next read of a vanished page raise
//! SIGBUS, which would kill us silently. Invariant: once any file is mapped, a SIGBUS that is
//! a fault inside a registered mapping prints one clear message naming the file and exits
//! with status 1 instead; any other SIGBUS (sent by `kill`, or a fault elsewhere) gets the
//! default action, as if no handler were there. The handler only reads atomics and calls
//! async-signal-safe `write(2)`, `_exit(2)`, `sigaction(2)` and `raise(3)`.

use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
use std::sync::{Mutex, Once};

/// Registrations live in tables of 64, 512, 4096, ... slots, each allocated when the ones
/// before are full and never freed, so the handler can always read them: every input is
/// mapped up front, and a year of daily archives is hundreds of files.
const TABLES: usize = 6;

fn table_len(t: usize) -> usize {
    64 << (3 * t)
}

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
static TABLE_PTRS: [AtomicPtr<Slot>; TABLES] =
    [const { AtomicPtr::new(std::ptr::null_mut()) }; TABLES];
/// Where the next registration starts looking (slots are freed about in the order taken).
static NEXT: AtomicUsize = AtomicUsize::new(0);
static GROW: Mutex<()> = Mutex::new(());

/// Table `t`, if allocated. Async-signal-safe (one atomic load).
fn table(t: usize) -> Option<&'static [Slot]> {
    let p = TABLE_PTRS[t].load(Ordering::SeqCst);
    // SAFETY: a non-null pointer is a leaked boxed slice of exactly `table_len(t)` slots.
    (!p.is_null()).then(|| unsafe { std::slice::from_raw_parts(p, table_len(t)) })
}

/// Table `t`, allocated now if it is not yet.
fn table_or_new(t: usize) -> &'static [Slot] {
    if let Some(table) = table(t) {
        return table;
    }
    let _grow = GROW.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(table) = table(t) {
        return table;
    }
    let slots: Box<[Slot]> = (0..table_len(t)).map(|_| EMPTY).collect();
    let leaked: &'static mut [Slot] = Box::leak(slots);
    TABLE_PTRS[t].store(leaked.as_mut_ptr(), Ordering::SeqCst);
    leaked
}

/// Slot number `k` over all tables in order: (table, index).
fn locate(mut k: usize) -> (usize, usize) {
    for t in 0..TABLES {
        if k < table_len(t) {
            return (t, k);
        }
        k -= table_len(t);
    }
    (TABLES, 0)
}

/// Keeps a mapping registered (for the message) while it lives.
pub struct Registration {
    slot: Option<(usize, usize)>,
}

impl Registration {
    /// No registration: bytes that are not mapped cannot fault.
    pub fn none() -> Registration {
        Registration { slot: None }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let Some((t, i)) = self.slot else { return };
        let Some(s) = table(t).and_then(|table| table.get(i)) else {
            return;
        };
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

/// Register a mapped range under an (already escaped) display name.
pub fn register(start: *const u8, len: usize, display: &str) -> Registration {
    install();
    let take = |t: usize, i: usize| -> Option<Registration> {
        let s = &table(t)?[i];
        s.start
            .compare_exchange(0, start as usize, Ordering::SeqCst, Ordering::SeqCst)
            .ok()?;
        let name: Box<[u8]> = format!("{display}\n").into_bytes().into_boxed_slice();
        s.name_len.store(name.len(), Ordering::SeqCst);
        s.name
            .store(Box::into_raw(name) as *mut u8, Ordering::SeqCst);
        s.len.store(len, Ordering::SeqCst);
        Some(Registration { slot: Some((t, i)) })
    };
    for _ in 0..=TABLES {
        // The tables allocated so far, from the hint round to it; the next table only when
        // every slot of those is taken.
        let allocated = (0..TABLES).take_while(|&t| table(t).is_some()).count();
        let capacity: usize = (0..allocated).map(table_len).sum();
        if capacity > 0 {
            let from = NEXT.load(Ordering::Relaxed) % capacity;
            for k in (from..capacity).chain(0..from) {
                let (t, i) = locate(k);
                if let Some(registration) = take(t, i) {
                    NEXT.store(k + 1, Ordering::Relaxed);
                    return registration;
                }
            }
        }
        if allocated < TABLES {
            table_or_new(allocated);
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
    let (code, addr) = unsafe { ((*info).si_code, (*info).si_addr() as usize) };
    // A page beyond the end of a mapped file (BUS_ADRERR) in one of ours.
    let ours = (0..TABLES)
        .filter_map(table)
        .flatten()
        .find(|s| {
            let start = s.start.load(Ordering::SeqCst);
            let len = s.len.load(Ordering::SeqCst);
            let name = s.name.load(Ordering::SeqCst);
            start != 0 && !name.is_null() && addr >= start && addr < start + len
        })
        .filter(|_| code == libc::BUS_ADRERR);
    let Some(slot) = ours else {
        // Not a shrunk input: the default action (a core dump), as without this handler.
        // SAFETY: sigaction and raise are async-signal-safe; SIGBUS stays blocked until the
        // handler returns, then the raised one (or the fault, again) takes the default action.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = libc::SIG_DFL;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(libc::SIGBUS, &action, std::ptr::null_mut());
            // A synchronous fault (BUS_ADRALN, BUS_ADRERR, BUS_OBJERR, BUS_MCEERR_AR) comes
            // back when the instruction runs again; anything else (kill, sigqueue, the
            // kernel's SI_KERNEL, an asynchronous BUS_MCEERR_AO) would not: raised again.
            if !(1..=4).contains(&code) {
                libc::raise(libc::SIGBUS);
            }
        }
        return;
    };
    write(b"logwarden: error: an input file shrank while it was being read (SIGBUS on a memory-mapped file; truncated by another process?). No report was written; re-run, or use --no-mmap --keep-duplicates (no memory map at all).\n");
    let name = slot.name.load(Ordering::SeqCst);
    if !name.is_null() {
        write(b"logwarden: the file was: ");
        // SAFETY: name points to name_len bytes while the slot is registered.
        write(unsafe { std::slice::from_raw_parts(name, slot.name_len.load(Ordering::SeqCst)) });
    }
    // SAFETY: _exit is async-signal-safe.
    unsafe { libc::_exit(1) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn more_mappings_than_the_first_table_are_all_named() {
        // Every input is mapped up front: past the first 64 the message once named none.
        let held: Vec<Registration> = (1..=600usize)
            .map(|k| register((k << 20) as *const u8, 4096, &format!("f{k}")))
            .collect();
        let slots: Vec<(usize, usize)> = held.iter().map(|r| r.slot.unwrap()).collect();
        let mut unique = slots.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), 600);
        assert!(slots.iter().any(|&(t, _)| t >= 1));
        let (t, i) = slots[599];
        let slot = &table(t).unwrap()[i];
        assert_eq!(slot.start.load(Ordering::SeqCst), 600 << 20);
        drop(held);
        // Freed slots are taken again.
        let again = register(std::ptr::dangling::<u8>(), 1, "again");
        assert!(again.slot.is_some());
    }
}
