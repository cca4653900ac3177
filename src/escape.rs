//! Escaping of untrusted bytes for every output.
//!
//! Log content and file names are attacker-controlled. Invariant: what these functions return
//! is printable ASCII only (0x20..=0x7e): control bytes, DEL, C1 controls, every non-ASCII
//! byte and invalid UTF-8 come out as `\xhh`, and a backslash as `\\` — the notation Apache
//! itself uses — so the escaped form is unambiguous and safe on a terminal, in JSON, HTML
//! (after HTML escaping of `<>&"'`) and mail.

use std::fmt::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

pub fn bytes(input: &[u8]) -> String {
    let mut out = String::with_capacity(input.len());
    for &b in input {
        match b {
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(b as char),
            _ => {
                let _ = write!(out, "\\x{b:02x}");
            }
        }
    }
    out
}

pub fn path(p: &Path) -> String {
    bytes(p.as_os_str().as_bytes())
}

/// Escape an error message or other text we did not write ourselves.
pub fn text(s: &str) -> String {
    bytes(s.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

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
