//! The line scanner on arbitrary bytes: never panics, the fast path agrees with the general
//! path whenever it answers, and its x86-64-v3 build answers as its portable one.
#![no_main]
mod common;
use libfuzzer_sys::fuzz_target;
use logwarden::scan::{Line, V3};

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let new_scanner = common::scanners(flags);
    let mut general = new_scanner();
    let line_end = memchr_newline(rest);
    let outcome = general.scan(&rest[..line_end]);
    let mut fast = new_scanner();
    let quick = fast.quick(&rest[..line_end]);
    if let Some(fields) = quick {
        assert_eq!(outcome, Line::Parsed(fields));
    }
    if let Some(v3) = V3::detect() {
        let mut fast_v3 = new_scanner();
        assert_eq!(fast_v3.quick_in(v3, &rest[..line_end]), quick);
    }
});

fn memchr_newline(s: &[u8]) -> usize {
    s.iter().position(|&b| b == b'\n').unwrap_or(s.len())
}
