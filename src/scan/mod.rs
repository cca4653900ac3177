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

/// Pick the layout that parses more of the first [`DETECT_LINES`] lines of `data` that can
/// vote (not blank, not longer than the cap: those read the same in every layout, so NUL
/// padding, blank lines and an oversize first line are passed over); ties go to `combined`,
/// which also covers `common`. `None` when no line of `data` can vote. Also returns how many
/// bytes were looked at (to the end of the last line read).
pub fn detect_format(data: &[u8], utc: bool, max_line_bytes: usize) -> (Option<Format>, usize) {
    let mut detector = Detector::new(utc, max_line_bytes);
    let looked_at = detector.feed(data);
    (detector.format(), looked_at)
}

/// [`detect_format`] over data that comes in pieces of whole lines (a stream's blocks).
pub struct Detector {
    votes: [usize; 2],
    seen: usize,
    combined: LineScanner,
    vhost: LineScanner,
}

impl Detector {
    pub fn new(utc: bool, max_line_bytes: usize) -> Self {
        Detector {
            votes: [0; 2],
            seen: 0,
            combined: LineScanner::new(Format::Combined, utc, max_line_bytes),
            vhost: LineScanner::new(Format::VhostCombined, utc, max_line_bytes),
        }
    }

    /// Count the lines of `data` that vote, up to [`DETECT_LINES`] in all; how many bytes
    /// were looked at.
    pub fn feed(&mut self, data: &[u8]) -> usize {
        let mut pos = 0;
        while !self.done() && pos < data.len() {
            let end = memchr::memchr(b'\n', &data[pos..]).map_or(data.len(), |i| pos + i);
            let raw = &data[pos..end];
            pos = end + 1;
            let combined = match self.combined.scan(raw) {
                Line::Blank | Line::Malformed(Malformed::Oversize) => continue,
                line => matches!(line, Line::Parsed(_)),
            };
            self.seen += 1;
            let vhost = matches!(self.vhost.scan(raw), Line::Parsed(_));
            // Both: an unbracketed IPv6 virtual host (`::1:80 203.0.113.7 - - [...`) is a
            // valid client too. The fields before the time decide: vhost, client, ident, user
            // (four, or more where a user name holds a space).
            let vhost_shaped = combined && vhost && fields_before_time(raw) >= 4;
            self.votes[0] += (combined && !vhost_shaped) as usize;
            self.votes[1] += (vhost && (!combined || vhost_shaped)) as usize;
        }
        pos.min(data.len())
    }

    /// Whether [`DETECT_LINES`] lines have voted: more cannot change the format.
    pub fn done(&self) -> bool {
        self.seen >= DETECT_LINES
    }

    /// How many lines have voted so far.
    pub fn votes(&self) -> usize {
        self.seen
    }

    /// The format the votes so far choose; `None` before any line voted.
    pub fn format(&self) -> Option<Format> {
        match (self.seen, self.votes[1] > self.votes[0]) {
            (0, _) => None,
            (_, true) => Some(Format::VhostCombined),
            (_, false) => Some(Format::Combined),
        }
    }
}

/// How many space-separated fields come before the first ` [` of `line` (detection only).
fn fields_before_time(line: &[u8]) -> usize {
    let head = memchr::memmem::find(line, b" [").map_or(line, |at| &line[..at]);
    head.split(|&b| b == b' ').filter(|f| !f.is_empty()).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_vhost_and_defaults_to_combined() {
        let vhost = b"example.org:80 1.2.3.4 - - [19/Jun/2023:10:00:00 +0000] \"GET / HTTP/1.1\" 200 1 \"-\" \"ua\"\n";
        let combined = b"1.2.3.4 - - [19/Jun/2023:10:00:00 +0000] \"GET / HTTP/1.1\" 200 1\n";
        let detect = |data: &[u8]| detect_format(data, false, 1 << 20).0;
        assert_eq!(detect(vhost), Some(Format::VhostCombined));
        assert_eq!(detect(combined), Some(Format::Combined));
        assert_eq!(detect(b""), None);
        assert_eq!(detect(b"\n \t\n\0\0\n"), None);
        assert_eq!(detect(b"\n\n garbage\n"), Some(Format::Combined));
    }

    #[test]
    fn an_ipv6_virtual_host_is_vhost_combined() {
        // `::1:80` and `2001:db8::10:443` are IPv6 addresses too: the lines parse both ways.
        let line = |vhost: &str, ident: &str| {
            format!("{vhost} 203.0.113.7 {ident} - [19/Jun/2023:10:00:00 +0000] \"GET / HTTP/1.1\" 404 1\n")
        };
        let detect = |data: String| detect_format(data.as_bytes(), false, 1 << 20).0;
        assert_eq!(
            detect(line("::1:80", "-").repeat(10)),
            Some(Format::VhostCombined)
        );
        // A user name with a space: five fields.
        assert_eq!(
            detect(line("::1:80", "- john").repeat(3)),
            Some(Format::VhostCombined)
        );
        assert_eq!(
            detect(line("2001:db8::10:443", "-")),
            Some(Format::VhostCombined)
        );
        // A combined line whose ident and user are there is combined, as before.
        let combined = "::1:80 ident user [19/Jun/2023:10:00:00 +0000] \"GET / HTTP/1.1\" 404 1\n";
        assert_eq!(detect(combined.repeat(3)), Some(Format::Combined));
        assert_eq!(fields_before_time(line("::1:80", "-").as_bytes()), 4);
        assert_eq!(fields_before_time(b"a  b [x"), 2);
        assert_eq!(fields_before_time(b"no time"), 2);
    }

    #[test]
    fn padding_blank_and_oversize_lines_do_not_vote() {
        let vhost =
            b"example.org:80 1.2.3.4 - - [19/Jun/2023:10:00:00 +0000] \"GET / HTTP/1.1\" 404 1\n";
        let cases: [Vec<u8>; 3] = [
            [vec![0; 100_000], vhost.repeat(6)].concat(),
            [b"\n".repeat(70_000), vhost.repeat(6)].concat(),
            [vec![b'x'; 70_000], b"\n".to_vec(), vhost.repeat(6)].concat(),
        ];
        for data in &cases {
            let (format, looked_at) = detect_format(data, false, 65_536);
            assert_eq!(format, Some(Format::VhostCombined));
            assert_eq!(looked_at, data.len());
        }
        // It stops after ten lines that vote.
        let data = vhost.repeat(20);
        assert_eq!(detect_format(&data, false, 65_536).1, vhost.len() * 10);
    }
}
