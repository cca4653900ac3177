//! Escaping of untrusted bytes for every output.
//!
//! Log content and file names are attacker-controlled. Invariant: what these functions return
//! is printable ASCII only (0x20..=0x7e): control bytes, DEL, C1 controls, every non-ASCII
//! byte and invalid UTF-8 come out as `\xhh`, and a backslash as `\\` — the notation Apache
//! itself uses — so the escaped form is unambiguous and safe on a terminal, in JSON, HTML
//! (after HTML escaping of `<>&"'`) and mail.

use crate::word::{next_marked, nonzero_bytes, BYTES, LOW_BITS, TOP_BITS};
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

/// `bytes(a).cmp(&bytes(b))`, without building either text: the order in which escaped
/// texts are shown (the raw bytes order `\xc3` after `~`, escaped it comes before).
/// Escaping goes byte by byte, and no byte's escape is the start of another's (`c`, `\\`,
/// `\xhh`), so the order is decided at the first byte where the two differ, by their
/// escapes; where none differs, the shorter comes first.
pub fn cmp_escaped(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    fn escaped(b: u8) -> ([u8; 4], usize) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        match b {
            b'\\' => ([b'\\', b'\\', 0, 0], 2),
            0x20..=0x7e => ([b, 0, 0, 0], 1),
            _ => (
                [
                    b'\\',
                    b'x',
                    HEX[usize::from(b >> 4)],
                    HEX[usize::from(b & 15)],
                ],
                4,
            ),
        }
    }
    match a.iter().zip(b).position(|(x, y)| x != y) {
        None => a.len().cmp(&b.len()),
        Some(i) => {
            let ((x, x_len), (y, y_len)) = (escaped(a[i]), escaped(b[i]));
            x[..x_len].cmp(&y[..y_len])
        }
    }
}

/// The top bit of each byte of `word` that [`bytes`] escapes (below 0x20, 0x7f and above,
/// `\\`), the others clear; exact per byte (see [`crate::word`]).
#[inline(always)]
fn unprintable_bytes(word: u64) -> u64 {
    // Top bit set where the byte's low seven bits are 0x20 or more, or where they are 0x7f.
    let at_least_space = (word & LOW_BITS) + BYTES * (0x80 - 0x20);
    let del = (word & LOW_BITS) + BYTES;
    let backslash = !nonzero_bytes(word ^ (BYTES * u64::from(b'\\')));
    (!at_least_space | word | del | backslash) & TOP_BITS
}

pub fn path(p: &Path) -> String {
    bytes(p.as_os_str().as_bytes())
}

/// Escape an error message or other text we did not write ourselves.
pub fn text(s: &str) -> String {
    bytes(s.as_bytes())
}

/// A value quoted in a message, `"..."`: [`text`], with a `"` inside as `\x22`, so the
/// quotes shown are the value's bounds (`--week 'a" is fine "b'` shows where it ends).
pub fn quoted(s: &str) -> String {
    format!("\"{}\"", text(s).replace('"', "\\x22"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quoted_value_shows_its_bounds() {
        assert_eq!(quoted("2023-W9"), r#""2023-W9""#);
        assert_eq!(quoted("a\" is \\ \x1b"), r#""a\x22 is \\ \x1b""#);
        assert_eq!(quoted(""), r#""""#);
    }

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
        crate::word::assert_word_marks(unprintable_bytes, *b"abcdefgh", |b| {
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

        #[test]
        fn escaped_order_without_escaping(
            pair in proptest::collection::vec(
                proptest::collection::vec(
                    proptest::prop_oneof![
                        2 => proptest::sample::select(vec![b'/', b'A', b'x', b'~', b'\\', b'[']),
                        1 => proptest::sample::select(vec![0u8, 0x01, 0x1f, 0x7f, 0x80, 0xc3, 0xff]),
                    ],
                    0..6,
                ),
                2,
            ),
        ) {
            let (a, b) = (&pair[0], &pair[1]);
            proptest::prop_assert_eq!(cmp_escaped(a, b), bytes(a).cmp(&bytes(b)));
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

    /// A file name is attacker-chosen too (a log dropped in the folder): its bytes, not
    /// valid UTF-8 and with a terminal escape here, are shown escaped; so is other text.
    #[test]
    fn a_path_and_a_message_are_shown_escaped() {
        use std::os::unix::ffi::OsStrExt;
        let name = std::ffi::OsStr::from_bytes(b"log/access_\\x\x1b]0;t\x07\xff.log");
        assert_eq!(path(Path::new(name)), r"log/access_\\x\x1b]0;t\x07\xff.log");
        assert_eq!(text("a\tb\u{9b}"), r"a\x09b\xc2\x9b");
    }
}
