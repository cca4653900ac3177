//! The hot loop's unit of work: one physical line → blank, parsed fields, or a malformed reason.
//!
//! Hand-written on bytes, left to right, no regex, no allocation, no UTF-8 validation. The
//! grammar is in `docs/semantics.md`. Invariant: every input, however hostile, yields exactly
//! one [`Line`] and never panics; nothing after the size field (referer, user agent) is read,
//! so attacker text there (IPs, `" 404 `) cannot change a count.

use super::client::{parse_client, ClientRef};
use super::time::{parse_clock, parse_date, utc_day, DayNum, TIMESTAMP_LEN};
use memchr::memchr;

/// Log layouts the scanner knows. `common` and `combined` are one layout here because the
/// referer and user-agent fields are optional on every line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    Combined,
    /// Debian's `vhost_combined`: `%v:%p` before the client.
    VhostCombined,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Combined => "combined",
            Format::VhostCombined => "vhost_combined",
        }
    }
}

/// Why a non-blank line is not an access-log line. Order = the order the checks run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Malformed {
    Oversize,
    BadClient,
    NotAccessLine,
    BadTime,
    BadRequest,
    BadStatus,
    BadSize,
}

impl Malformed {
    pub const COUNT: usize = 7;
    pub const ALL: [Malformed; Self::COUNT] = [
        Malformed::Oversize,
        Malformed::BadClient,
        Malformed::NotAccessLine,
        Malformed::BadTime,
        Malformed::BadRequest,
        Malformed::BadStatus,
        Malformed::BadSize,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Malformed::Oversize => "oversize",
            Malformed::BadClient => "bad_client",
            Malformed::NotAccessLine => "not_access_line",
            Malformed::BadTime => "bad_time",
            Malformed::BadRequest => "bad_request",
            Malformed::BadStatus => "bad_status",
            Malformed::BadSize => "bad_size",
        }
    }
}

/// What the scanner extracts from an access line: only what detection needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fields<'a> {
    pub client: ClientRef<'a>,
    pub day: DayNum,
    pub status: u16,
    /// The request as written (still escaped), for callers that look at paths.
    pub request: &'a [u8],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Line<'a> {
    Blank,
    Parsed(Fields<'a>),
    Malformed(Malformed),
}

/// Per-scan settings plus the one-entry date cache: consecutive lines nearly always share
/// their date, so the `DD/Mon/YYYY` bytes are compared instead of parsed again.
#[derive(Debug, Clone)]
pub struct LineScanner {
    format: Format,
    utc: bool,
    max_line_bytes: usize,
    cached_date: [u8; 11],
    cached_day: DayNum,
}

impl LineScanner {
    pub fn new(format: Format, utc: bool, max_line_bytes: usize) -> Self {
        LineScanner {
            format,
            utc,
            max_line_bytes,
            // Never equal to real date bytes, so the first line always parses.
            cached_date: [0; 11],
            cached_day: 0,
        }
    }

    /// Classify one physical line (without its `\n`).
    #[inline]
    pub fn scan<'a>(&mut self, line: &'a [u8]) -> Line<'a> {
        let line = trim_line(line);
        if line.is_empty() || ((line[0] == b' ' || line[0] == b'\t') && is_blank(line)) {
            return Line::Blank;
        }
        if line.len() > self.max_line_bytes {
            return Line::Malformed(Malformed::Oversize);
        }
        match self.fields(line) {
            Ok(fields) => Line::Parsed(fields),
            Err(reason) => Line::Malformed(reason),
        }
    }

    #[inline]
    fn fields<'a>(&mut self, line: &'a [u8]) -> Result<Fields<'a>, Malformed> {
        let mut rest = line;
        if self.format == Format::VhostCombined {
            rest = match split_token(rest) {
                (vhost, Some(after)) if is_vhost_port(vhost) => after,
                _ => return Err(Malformed::BadClient),
            };
        }
        let (token, after_client) = split_token(rest);
        let client = parse_client(token).ok_or(Malformed::BadClient)?;
        let rest = after_client.ok_or(Malformed::NotAccessLine)?;

        // ident and user are skipped: the time is the first " [" that opens a valid timestamp.
        let (open, day) = self.find_time(rest)?;
        let rest = &rest[open + TIMESTAMP_LEN..];
        if rest.len() < 2 || rest[0] != b' ' || rest[1] != b'"' {
            return Err(Malformed::NotAccessLine);
        }
        let body = &rest[2..];
        let close = find_closing_quote(body).ok_or(Malformed::BadRequest)?;
        let request = &body[..close];
        let rest = &body[close + 1..];

        let (status, rest) = parse_status(rest).ok_or(Malformed::BadStatus)?;
        if !is_size_field(rest) {
            return Err(Malformed::BadSize);
        }
        Ok(Fields {
            client,
            day,
            status,
            request,
        })
    }

    /// The first " [" opening a valid timestamp: (its index, the day). No " [" at all is
    /// `not_access_line`; openers with no valid timestamp are `bad_time`.
    #[inline]
    fn find_time(&mut self, s: &[u8]) -> Result<(usize, DayNum), Malformed> {
        let mut open = find_time_opener(s, 0).ok_or(Malformed::NotAccessLine)?;
        loop {
            let ts: Option<&[u8; TIMESTAMP_LEN]> = s
                .get(open..open + TIMESTAMP_LEN)
                .and_then(|t| t.try_into().ok());
            if let Some(day) = ts.and_then(|ts| self.day_of(ts)) {
                return Ok((open, day));
            }
            open = find_time_opener(s, open + 1).ok_or(Malformed::BadTime)?;
        }
    }

    #[inline]
    fn day_of(&mut self, ts: &[u8; TIMESTAMP_LEN]) -> Option<DayNum> {
        let (minute, offset) = parse_clock(ts)?;
        let date_bytes = &ts[1..12];
        let local_day = if date_bytes == self.cached_date {
            self.cached_day
        } else {
            let day = parse_date(ts)?;
            self.cached_date.copy_from_slice(date_bytes);
            self.cached_day = day;
            day
        };
        Some(if self.utc {
            utc_day(local_day, minute, offset)
        } else {
            local_day
        })
    }
}

/// Drop leading NUL padding (copytruncate holes) and a trailing `\r` (CRLF files).
#[inline]
pub fn trim_line(mut line: &[u8]) -> &[u8] {
    if let Some((&b'\r', head)) = line.split_last() {
        line = head;
    }
    if line.first() == Some(&0) {
        let start = line.iter().position(|&b| b != 0).unwrap_or(line.len());
        line = &line[start..];
    }
    line
}

fn is_blank(line: &[u8]) -> bool {
    line.iter().all(|&b| b == b' ' || b == b'\t')
}

/// Split at the first space: (token, Some(rest after the space)) or (whole, None).
#[inline]
fn split_token(s: &[u8]) -> (&[u8], Option<&[u8]>) {
    match memchr(b' ', s) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    }
}

fn is_vhost_port(token: &[u8]) -> bool {
    match memchr::memrchr(b':', token) {
        Some(i) if i > 0 => {
            let port = &token[i + 1..];
            !port.is_empty() && port.len() <= 5 && port.iter().all(u8::is_ascii_digit)
        }
        _ => false,
    }
}

/// Index of the `[` of the next " [" in `s` at or after `from` (the space may be just before
/// `s`: it followed the client).
#[inline]
fn find_time_opener(s: &[u8], mut from: usize) -> Option<usize> {
    while let Some(i) = memchr(b'[', s.get(from..)?) {
        let at = from + i;
        if at == 0 || s[at - 1] == b' ' {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// The request ends at the first `"` preceded by an even run of backslashes.
#[inline]
fn find_closing_quote(s: &[u8]) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = memchr(b'"', &s[from..]) {
        let at = from + i;
        let backslashes = s[..at].iter().rev().take_while(|&&b| b == b'\\').count();
        if backslashes % 2 == 0 {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// ` DDD` then a space or the end; 100..=599.
#[inline]
fn parse_status(s: &[u8]) -> Option<(u16, &[u8])> {
    if s.len() < 4 || s[0] != b' ' {
        return None;
    }
    let d = [
        s[1].wrapping_sub(b'0'),
        s[2].wrapping_sub(b'0'),
        s[3].wrapping_sub(b'0'),
    ];
    if d.iter().any(|&x| x > 9) {
        return None;
    }
    let status = d[0] as u16 * 100 + d[1] as u16 * 10 + d[2] as u16;
    if !(100..=599).contains(&status) {
        return None;
    }
    match s.get(4) {
        None => Some((status, &s[4..])),
        Some(b' ') => Some((status, &s[4..])),
        Some(_) => None,
    }
}

/// ` -` or ` DIGITS`, then a space or the end.
#[inline]
fn is_size_field(s: &[u8]) -> bool {
    if s.first() != Some(&b' ') {
        return false;
    }
    let s = &s[1..];
    let end = memchr(b' ', s).unwrap_or(s.len());
    let size = &s[..end];
    size == b"-" || (!size.is_empty() && size.iter().all(u8::is_ascii_digit))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::client::format_ip;

    const MAX: usize = 1 << 22;

    fn scan(line: &str) -> Line<'_> {
        LineScanner::new(Format::Combined, false, MAX).scan(line.as_bytes())
    }

    fn status_of(line: &str) -> u16 {
        match scan(line) {
            Line::Parsed(f) => f.status,
            other => panic!("not parsed: {other:?} for {line:?}"),
        }
    }

    fn reason(line: &[u8]) -> Malformed {
        match LineScanner::new(Format::Combined, false, MAX).scan(line) {
            Line::Malformed(r) => r,
            other => panic!("not malformed: {other:?}"),
        }
    }

    const GOOD: &str = r#"172.16.14.50 - - [19/Jun/2023:10:00:00 +0000] "POST /login HTTP/1.1" 401 512 "-" "curl/8.0""#;

    #[test]
    fn combined_and_common() {
        assert_eq!(status_of(GOOD), 401);
        assert_eq!(
            status_of(r#"1.2.3.4 - bob [19/Jun/2023:10:00:00 +0000] "GET / HTTP/1.0" 200 -"#),
            200
        );
        match scan(GOOD) {
            Line::Parsed(Fields {
                client: ClientRef::Ip(ip),
                day,
                request,
                ..
            }) => {
                assert_eq!(format_ip(ip), "172.16.14.50");
                assert_eq!(crate::scan::time::to_date(day).to_string(), "2023-06-19");
                assert_eq!(request, b"POST /login HTTP/1.1");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn user_agent_cannot_fool_the_scanner() {
        let l = r#"9.9.9.9 - - [19/Jun/2023:10:00:00 +0000] "GET / HTTP/1.1" 200 5 "http://1.2.3.4/" "x\" 404 1.2.3.4 - - \" 404 0""#;
        assert_eq!(status_of(l), 200);
    }

    #[test]
    fn escaped_quotes_and_backslashes_in_request() {
        assert_eq!(
            status_of(r#"1.2.3.4 - - [19/Jun/2023:10:00:00 +0000] "GET /a\"b\\ HTTP/1.1" 404 5"#),
            404
        );
        assert_eq!(
            status_of(r#"1.2.3.4 - - [19/Jun/2023:10:00:00 +0000] "GET /a\\" 403 5"#),
            403
        );
        assert_eq!(
            status_of(r#"1.2.3.4 - - [19/Jun/2023:10:00:00 +0000] "GET /\x22 HTTP/1.1" 404 5"#),
            404
        );
    }

    #[test]
    fn malformed_requests_are_traffic() {
        assert_eq!(
            status_of(r#"1.2.3.4 - - [19/Jun/2023:10:00:00 +0000] "\x16\x03\x01" 400 226"#),
            400
        );
        assert_eq!(
            status_of(r#"1.2.3.4 - - [19/Jun/2023:10:00:00 +0000] "-" 408 -"#),
            408
        );
        assert_eq!(
            status_of(r#"1.2.3.4 - - [19/Jun/2023:10:00:00 +0000] "GET /" 400 0"#),
            400
        );
        assert_eq!(
            status_of(r#"1.2.3.4 - - [19/Jun/2023:10:00:00 +0000] "" 400 0"#),
            400
        );
    }

    #[test]
    fn blank_crlf_and_nul_padding() {
        assert_eq!(scan(""), Line::Blank);
        assert_eq!(scan(" \t "), Line::Blank);
        assert_eq!(scan("\r"), Line::Blank);
        assert_eq!(
            LineScanner::new(Format::Combined, false, MAX).scan(b"\0\0\0"),
            Line::Blank
        );
        assert_eq!(status_of(&format!("{GOOD}\r")), 401);
        let padded = [&[0u8; 100][..], GOOD.as_bytes()].concat();
        assert!(matches!(
            LineScanner::new(Format::Combined, false, MAX).scan(&padded),
            Line::Parsed(_)
        ));
    }

    #[test]
    fn reasons() {
        assert_eq!(reason(b"hello world"), Malformed::NotAccessLine);
        assert_eq!(reason(b"garbage"), Malformed::NotAccessLine);
        assert_eq!(
            reason(b"!!! - - [19/Jun/2023:10:00:00 +0000] \"GET /\" 200 1"),
            Malformed::BadClient
        );
        assert_eq!(
            reason(b"1.2.3.4 - - [19/Foo/2023:10:00:00 +0000] \"GET /\" 200 1"),
            Malformed::BadTime
        );
        assert_eq!(
            reason(b"1.2.3.4 - - [19/Jun/2023:10:00"),
            Malformed::BadTime
        );
        assert_eq!(
            reason(b"1.2.3.4 - - [19/Jun/2023:10:00:00 +0000] GET / 200 1"),
            Malformed::NotAccessLine
        );
        assert_eq!(
            reason(b"1.2.3.4 - - [19/Jun/2023:10:00:00 +0000] \"GET / 200 1"),
            Malformed::BadRequest
        );
        assert_eq!(
            reason(b"1.2.3.4 - - [19/Jun/2023:10:00:00 +0000] \"GET /\" 999 1"),
            Malformed::BadStatus
        );
        assert_eq!(
            reason(b"1.2.3.4 - - [19/Jun/2023:10:00:00 +0000] \"GET /\" 0 1"),
            Malformed::BadStatus
        );
        assert_eq!(
            reason(b"1.2.3.4 - - [19/Jun/2023:10:00:00 +0000] \"GET /\" abc 1"),
            Malformed::BadStatus
        );
        assert_eq!(
            reason(b"1.2.3.4 - - [19/Jun/2023:10:00:00 +0000] \"GET /\" 4040 1"),
            Malformed::BadStatus
        );
        assert_eq!(
            reason(b"1.2.3.4 - - [19/Jun/2023:10:00:00 +0000] \"GET /\" 404 abc"),
            Malformed::BadSize
        );
        assert_eq!(
            reason(b"1.2.3.4 - - [19/Jun/2023:10:00:00 +0000] \"GET /\" 404"),
            Malformed::BadSize
        );
        assert_eq!(
            reason(b"1.2.3.4 - - [19/Jun/2023:10:00:00 +0000] \"GET /\" 404 "),
            Malformed::BadSize
        );
        let long = [GOOD.as_bytes(), &[b'a'; 100]].concat();
        let mut small = LineScanner::new(Format::Combined, false, 50);
        assert_eq!(small.scan(&long), Line::Malformed(Malformed::Oversize));
    }

    #[test]
    fn vhost_combined() {
        let l = b"www.example.org:443 2001:db8::1 - - [19/Jun/2023:10:00:00 +0000] \"GET / HTTP/1.1\" 404 10 \"-\" \"ua\"";
        let mut s = LineScanner::new(Format::VhostCombined, false, MAX);
        assert!(matches!(
            s.scan(l),
            Line::Parsed(Fields { status: 404, .. })
        ));
        assert_eq!(
            s.scan(GOOD.as_bytes()),
            Line::Malformed(Malformed::BadClient)
        );
        assert_eq!(reason(l), Malformed::BadClient);
        assert_eq!(
            s.scan(b"nohostport 1.2.3.4 - - [19/Jun/2023:10:00:00 +0000] \"GET /\" 404 1"),
            Line::Malformed(Malformed::BadClient)
        );
    }

    #[test]
    fn time_is_the_first_valid_bracket() {
        assert_eq!(
            status_of(r#"1.2.3.4 - [x] [19/Jun/2023:10:00:00 +0000] "GET /" 404 1"#),
            404
        );
        assert_eq!(
            reason(b"1.2.3.4 - [x] [19/Jux/2023:10:00:00 +0000] \"GET /\" 404 1"),
            Malformed::BadTime
        );
    }

    #[test]
    fn utc_bucketing() {
        let l = b"1.2.3.4 - - [19/Jun/2023:23:30:00 -0700] \"GET /\" 404 1";
        let day = |utc| match LineScanner::new(Format::Combined, utc, MAX).scan(l) {
            Line::Parsed(f) => crate::scan::time::to_date(f.day).to_string(),
            other => panic!("{other:?}"),
        };
        assert_eq!(day(false), "2023-06-19");
        assert_eq!(day(true), "2023-06-20");
    }

    #[test]
    fn date_cache_does_not_leak_between_lines() {
        let mut s = LineScanner::new(Format::Combined, false, MAX);
        let a = b"1.2.3.4 - - [19/Jun/2023:23:30:00 +0000] \"GET /\" 404 1";
        let b = b"1.2.3.4 - - [20/Jun/2023:00:00:00 +0000] \"GET /\" 404 1";
        let c = b"1.2.3.4 - - [31/Jun/2023:00:00:00 +0000] \"GET /\" 404 1";
        let days: Vec<_> = [&a[..], b, a]
            .iter()
            .map(|l| match s.scan(l) {
                Line::Parsed(f) => f.day,
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(days[1], days[0] + 1);
        assert_eq!(days[2], days[0]);
        assert_eq!(s.scan(c), Line::Malformed(Malformed::BadTime));
    }
}
