//! Scanner: bytes of one line → fields, plus per-file format detection.
//!
//! `line` is the hot loop's parser, `client` and `time` its field parsers. Invariant: the
//! scanner is a pure function of (format, --utc, line cap, line bytes); chunking, threads and
//! sources cannot change what a line becomes.

pub mod bitmap;
pub mod client;
pub mod isa;
pub mod line;
pub mod time;

pub use isa::{Baseline, Isa, V3};
pub use line::{Fields, FirstQuote, Format, Line, LineScanner, Malformed};

/// How many non-blank lines at the start of a file decide its format.
const DETECT_LINES: usize = 10;

/// Pick the layout that parses more of the first non-blank lines; ties go to `combined`,
/// which also covers `common`.
pub fn detect_format(head: &[u8], utc: bool, max_line_bytes: usize) -> Format {
    let mut votes = [0usize; 2];
    let mut seen = 0;
    let mut combined = LineScanner::new(Format::Combined, utc, max_line_bytes);
    let mut vhost = LineScanner::new(Format::VhostCombined, utc, max_line_bytes);
    for raw in head.split(|&b| b == b'\n') {
        if seen == DETECT_LINES {
            break;
        }
        if matches!(combined.scan(raw), Line::Blank) {
            continue;
        }
        seen += 1;
        votes[0] += matches!(combined.scan(raw), Line::Parsed(_)) as usize;
        votes[1] += matches!(vhost.scan(raw), Line::Parsed(_)) as usize;
    }
    if votes[1] > votes[0] {
        Format::VhostCombined
    } else {
        Format::Combined
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_vhost_and_defaults_to_combined() {
        let vhost = b"example.org:80 1.2.3.4 - - [19/Jun/2023:10:00:00 +0000] \"GET / HTTP/1.1\" 200 1 \"-\" \"ua\"\n";
        let combined = b"1.2.3.4 - - [19/Jun/2023:10:00:00 +0000] \"GET / HTTP/1.1\" 200 1\n";
        assert_eq!(detect_format(vhost, false, 1 << 20), Format::VhostCombined);
        assert_eq!(detect_format(combined, false, 1 << 20), Format::Combined);
        assert_eq!(detect_format(b"", false, 1 << 20), Format::Combined);
        assert_eq!(
            detect_format(b"\n\n garbage\n", false, 1 << 20),
            Format::Combined
        );
    }
}
