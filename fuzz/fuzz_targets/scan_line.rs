//! The line scanner on arbitrary bytes: never panics, and the fast path agrees with the
//! general path whenever it answers.
#![no_main]
use libfuzzer_sys::fuzz_target;
use logwarden::scan::{Format, Line, LineScanner};

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else { return };
    let format = if flags & 1 == 0 { Format::Combined } else { Format::VhostCombined };
    let utc = flags & 2 != 0;
    let max = if flags & 4 != 0 { 64 } else { 1 << 20 };
    let mut general = LineScanner::new(format, utc, max);
    let line_end = memchr_newline(rest);
    let outcome = general.scan(&rest[..line_end]);
    let mut fast = LineScanner::new(format, utc, max);
    if let Some(fields) = fast.quick(&rest[..line_end]) {
        assert_eq!(outcome, Line::Parsed(fields));
    }
});

fn memchr_newline(s: &[u8]) -> usize {
    s.iter().position(|&b| b == b'\n').unwrap_or(s.len())
}
