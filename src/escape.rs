//! Escaping of untrusted bytes for every output.
//!
//! Log content and file names are attacker-controlled. Invariant: what these functions return
//! is printable ASCII only (0x20..=0x7e): control bytes, DEL, C1 controls, every non-ASCII
//! byte and invalid UTF-8 come out as `\xhh`, and a backslash as `\\` — the notation Apache
//! itself uses — so the escaped form is unambiguous and safe on a terminal, in JSON, HTML
//! (after HTML escaping of `<>&"'`) and mail.

use std::borrow::Cow;
use std::fmt::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

pub fn bytes(input: &[u8]) -> String {
    cow(input).into_owned()
}

/// [`bytes`], borrowing `input` when it needs no escape (nearly every target and host name):
/// the escaped text of a week's targets was a quarter of the summary's instructions when it
/// was built a byte at a time.
pub fn cow(input: &[u8]) -> Cow<'_, str> {
    let Some(mut at) = next_marked(input, 0, unprintable_bytes) else {
        return match std::str::from_utf8(input) {
            Ok(plain) => Cow::Borrowed(plain),
            // Unreachable: bytes without a mark are printable ASCII.
            Err(_) => Cow::Owned(String::new()),
        };
    };
    let mut out = String::with_capacity(input.len() + 8);
    let mut start = 0;
    loop {
        // Printable ASCII up to `at`, so valid UTF-8.
        out.push_str(std::str::from_utf8(&input[start..at]).unwrap_or_default());
        match input[at] {
            b'\\' => out.push_str("\\\\"),
            b => {
                let _ = write!(out, "\\x{b:02x}");
            }
        }
        start = at + 1;
        match next_marked(input, start, unprintable_bytes) {
            Some(next) => at = next,
            None => break,
        }
    }
    out.push_str(std::str::from_utf8(&input[start..]).unwrap_or_default());
    Cow::Owned(out)
}

/// The top bit of each byte of `word` that [`bytes`] escapes (below 0x20, 0x7f and above,
/// `\\`), the others clear; exact per byte (see [`next_marked`]).
#[inline(always)]
fn unprintable_bytes(word: u64) -> u64 {
    // Top bit set where the byte's low seven bits are 0x20 or more, or where they are 0x7f.
    let at_least_space = (word & LOW_BITS) + BYTES * (0x80 - 0x20);
    let del = (word & LOW_BITS) + BYTES;
    let backslash = !nonzero_bytes(word ^ (BYTES * u64::from(b'\\')));
    (!at_least_space | word | del | backslash) & TOP_BITS
}

/// `0x01` in every byte of a word.
pub(crate) const BYTES: u64 = 0x0101_0101_0101_0101;
/// The low seven bits of every byte.
pub(crate) const LOW_BITS: u64 = BYTES * 0x7f;
/// The top bit of every byte.
pub(crate) const TOP_BITS: u64 = BYTES * 0x80;

/// The top bit of each byte of `word` that is not zero, the others clear. Exact per byte:
/// the top bits are set aside, so no addition carries into the next byte.
#[inline(always)]
pub(crate) fn nonzero_bytes(word: u64) -> u64 {
    (((word & LOW_BITS) + LOW_BITS) | word) & TOP_BITS
}

/// The index of the first byte at or after `from` whose top bit `marks` sets in a word
/// (eight bytes, little-endian) holding it; `marks` must be exact per byte. Eight bytes are
/// tested at once, the tail in one zero-padded word.
#[inline]
pub(crate) fn next_marked(bytes: &[u8], from: usize, marks: impl Fn(u64) -> u64) -> Option<usize> {
    let mut i = from;
    while let Some(word) = bytes.get(i..i + 8) {
        let mut eight = [0u8; 8];
        eight.copy_from_slice(word);
        let found = marks(u64::from_le_bytes(eight));
        if found != 0 {
            return Some(i + (found.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    let tail = bytes.get(i..)?;
    if tail.is_empty() {
        return None;
    }
    let mut eight = [0u8; 8];
    eight[..tail.len()].copy_from_slice(tail);
    // Only the tail's own bytes count: the padding may be marked too (a zero byte is).
    let found = marks(u64::from_le_bytes(eight)) & (u64::MAX >> (64 - 8 * tail.len()));
    (found != 0).then(|| i + (found.trailing_zeros() / 8) as usize)
}

pub fn path(p: &Path) -> String {
    bytes(p.as_os_str().as_bytes())
}

/// Escape an error message or other text we did not write ourselves.
pub fn text(s: &str) -> String {
    bytes(s.as_bytes())
}

/// Check a word test (see [`next_marked`]) byte by byte: every byte value at every place
/// of `background`, marked exactly where `marked` says (`background` itself unmarked).
#[cfg(test)]
pub(crate) fn assert_word_marks(
    marks: impl Fn(u64) -> u64,
    background: [u8; 8],
    marked: impl Fn(u8) -> bool,
) {
    for b in 0..=255u8 {
        for at in 0..8 {
            let mut bytes = background;
            bytes[at] = b;
            let expect = if marked(b) { 0x80u64 << (8 * at) } else { 0 };
            assert_eq!(marks(u64::from_le_bytes(bytes)), expect, "byte {b} at {at}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What [`bytes`] must give: the rules a byte at a time.
    fn bytes_one_by_one(input: &[u8]) -> String {
        let mut out = String::new();
        for &b in input {
            match b {
                b'\\' => out.push_str("\\\\"),
                0x20..=0x7e => out.push(b as char),
                _ => out.push_str(&format!("\\x{b:02x}")),
            }
        }
        out
    }

    #[test]
    fn unprintable_bytes_marks_exactly_what_is_escaped() {
        assert_word_marks(unprintable_bytes, *b"abcdefgh", |b| {
            !(0x20..=0x7e).contains(&b) || b == b'\\'
        });
    }

    proptest::proptest! {
        #[test]
        fn bytes_escape_like_one_at_a_time(
            input in proptest::collection::vec(
                proptest::prop_oneof![
                    4 => 0x20u8..0x7f,
                    1 => proptest::num::u8::ANY,
                    1 => proptest::sample::select(vec![b'\\', 0, 0x1f, 0x7f, 0x80, 0xff]),
                ],
                0..40,
            ),
        ) {
            let got = cow(&input);
            proptest::prop_assert_eq!(&*got, &bytes_one_by_one(&input)[..]);
            proptest::prop_assert_eq!(
                matches!(got, Cow::Borrowed(_)),
                input.iter().all(|&b| (0x20..=0x7e).contains(&b) && b != b'\\')
            );
        }
    }

    #[test]
    fn only_printable_ascii_survives() {
        assert_eq!(bytes(b"GET /a b"), "GET /a b");
        assert_eq!(
            bytes(b"\x1b[2J\x07\x7f\x9b\r\n\\"),
            "\\x1b[2J\\x07\\x7f\\x9b\\x0d\\x0a\\\\"
        );
        assert_eq!(bytes("é".as_bytes()), "\\xc3\\xa9");
        assert_eq!(bytes(b"\xff\xfe"), "\\xff\\xfe");
        let all: Vec<u8> = (0..=255).collect();
        assert!(bytes(&all).bytes().all(|b| (0x20..=0x7e).contains(&b)));
    }
}
