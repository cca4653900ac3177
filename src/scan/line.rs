//! The hot loop's unit of work: one physical line → blank, parsed fields, or a malformed reason.
//!
//! Hand-written on bytes, left to right, no regex, no allocation, no UTF-8 validation. The
//! grammar is in `docs/semantics.md`. Invariant: every input, however hostile, yields exactly
//! one [`Line`] and never panics; nothing after the size field (referer, user agent) is read,
//! so attacker text there (IPs, `" 404 `) cannot change a count.

use super::client::{ipv6_token, parse_client, ClientRef, V4_MAPPED_PREFIX};
use super::isa::{Baseline, Isa};
use super::time::{
    clock_second, parse_clock, parse_date, utc_day, DayNum, Timestamp, TIMESTAMP_LEN,
};
use memchr::memchr;

/// The first and last days a report can name with four-digit years, in its dates and in
/// its ISO weeks: 0000-01-03 (Monday of 0000-W01; the two days before are in -0001-W52) and
/// 9999-12-26 (Sunday of 9999-W51; 9999-W52 ends in 10000).
const FIRST_DAY: DayNum = -719_526;
const LAST_DAY: DayNum = 2_932_891;

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
    /// The instant and offset written in the timestamp (for first and last seen).
    pub time: Timestamp,
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

/// Per-scan settings plus one-entry caches: consecutive lines nearly always share their date
/// (and in busy logs their second), so bytes are compared instead of parsed again. Only
/// validated timestamps enter a cache, so a cache hit is as strict as a parse.
#[derive(Debug, Clone)]
pub struct LineScanner {
    format: Format,
    utc: bool,
    max_line_bytes: usize,
    cached_date: [u8; 11],
    cached_day: DayNum,
    cached_timestamp: [u8; TIMESTAMP_LEN],
    cached_result: (DayNum, Timestamp),
}

impl LineScanner {
    pub fn new(format: Format, utc: bool, max_line_bytes: usize) -> Self {
        LineScanner {
            format,
            utc,
            max_line_bytes,
            // The caches start with a real entry, the epoch's (day 0, 0 s, offset 0 whether
            // or not `utc`): bytes equal to it are that date. No starting value can be kept
            // out of the input, so a placeholder (zero bytes) would be taken for a date.
            cached_date: *b"01/Jan/1970",
            cached_day: 0,
            cached_timestamp: *b"[01/Jan/1970:00:00:00 +0000]",
            cached_result: (0, Timestamp::new(0, 0, 0, 0)),
        }
    }

    pub fn max_line_bytes(&self) -> usize {
        self.max_line_bytes
    }

    /// The common case, decided fast: `line` is one physical line (without its `\n`) and
    /// `quotes.first_quote(from)` gives the index of the first `"` in `line[from..]` (the hot loop
    /// knows it from its [`super::bitmap::Bitmaps`]). Succeeds only for an ordinary combined
    /// line (a client token, `- - [`, a request closed by an unescaped quote, status, size
    /// followed by a space or the end) and returns its fields; whenever it succeeds,
    /// [`LineScanner::scan`] of the same line gives the same fields. `None` sends the line to
    /// the general path, which decides.
    /// `isa` is the build of the hot loop this runs in (see [`super::isa`]).
    #[inline(always)]
    pub fn quick_with<'a, I: Isa>(
        &mut self,
        isa: I,
        line: &'a [u8],
        quotes: &impl FirstQuote,
    ) -> Option<Fields<'a>> {
        if self.format != Format::Combined || line.len() > self.max_line_bytes {
            return None;
        }
        let (client, space) = match ipv4_token_in(isa, line) {
            Some((ip, space)) => (ClientRef::Ip(V4_MAPPED_PREFIX | ip as u128), space),
            None => match ipv6_token(line) {
                Some((ip, space)) => (ClientRef::Ip(ip), space),
                None => {
                    // Other IPv6 forms and hostnames: the token the general path would parse.
                    let space = memchr(b' ', &line[..line.len().min(64)])?;
                    (parse_client(&line[..space])?, space)
                }
            },
        };
        let at = space + 1;
        let head = line.get(at..at + 4 + TIMESTAMP_LEN)?;
        if !head.starts_with(b"- - [") {
            return None;
        }
        let (day, time) = self.day_of(head[4..].try_into().ok()?)?;
        let open = at + 4 + TIMESTAMP_LEN;
        if line.get(open..open + 2)? != b" \"" {
            return None;
        }
        let body = open + 2;
        let close = quotes.first_quote(body)?;
        // An escaped quote (or a confused caller) is left to the general path.
        if close < body || *line.get(close - 1)? == b'\\' {
            return None;
        }
        let (status, after) = parse_status(line.get(close + 1..)?)?;
        if !is_size_field(after) {
            return None;
        }
        Some(Fields {
            client,
            day,
            time,
            status,
            request: &line[body..close],
        })
    }

    /// [`Self::quick_with`], finding the quote itself (tests, fuzzing).
    pub fn quick<'a>(&mut self, line: &'a [u8]) -> Option<Fields<'a>> {
        self.quick_in(Baseline, line)
    }

    /// [`Self::quick`] in the given build of the hot loop (tests compare the builds).
    pub fn quick_in<'a, I: Isa>(&mut self, isa: I, line: &'a [u8]) -> Option<Fields<'a>> {
        self.quick_with(isa, line, &QuotesOf(line))
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

    #[inline(always)]
    fn fields<'a>(&mut self, line: &'a [u8]) -> Result<Fields<'a>, Malformed> {
        let mut rest = line;
        if self.format == Format::VhostCombined {
            rest = match split_token(rest) {
                (vhost, Some(after)) if is_vhost_port(vhost) => after,
                // Fields missing, as for a client that ends the line.
                (vhost, None) if is_vhost_port(vhost) => return Err(Malformed::NotAccessLine),
                _ => return Err(Malformed::BadClient),
            };
        }
        let (client, rest) = match ipv4_token(rest) {
            // Fast path: an IPv4 client, the common case, parsed in the same pass that finds its end.
            Some((ip, end)) => (
                ClientRef::Ip(V4_MAPPED_PREFIX | ip as u128),
                &rest[end + 1..],
            ),
            None => {
                let (token, after_client) = split_token(rest);
                let client = parse_client(token).ok_or(Malformed::BadClient)?;
                (client, after_client.ok_or(Malformed::NotAccessLine)?)
            }
        };

        // ident and user are skipped: the time is the first " [" that opens a valid timestamp.
        // Fast path for the usual "- - [": same answer as the search whenever it succeeds.
        let quick = match rest.get(..4 + TIMESTAMP_LEN) {
            Some(head) if head.starts_with(b"- - [") && opens_request(&rest[head.len()..]) => {
                let ts: &[u8; TIMESTAMP_LEN] =
                    head[4..].try_into().map_err(|_| Malformed::BadTime)?;
                self.day_of(ts).map(|stamp| (4, stamp))
            }
            _ => None,
        };
        let (open, (day, time)) = match quick {
            Some(found) => found,
            None => self.find_time(rest)?,
        };
        // `find_time` and the fast path both checked the ` "` after the timestamp.
        let body = &rest[open + TIMESTAMP_LEN + 2..];
        let close = find_closing_quote_before_newline(body).ok_or(Malformed::BadRequest)?;
        let request = &body[..close];
        let rest = &body[close + 1..];

        let (status, rest) = parse_status(rest).ok_or(Malformed::BadStatus)?;
        if !is_size_field(rest) {
            return Err(Malformed::BadSize);
        }
        Ok(Fields {
            client,
            day,
            time,
            status,
            request,
        })
    }

    /// The first " [" opening a valid timestamp followed by ` "` (the request's opener):
    /// (its index, (the day, the time)). No " [" at all is `not_access_line`; openers with no
    /// valid timestamp are `bad_time`; valid timestamps none of which is followed by ` "` are
    /// `not_access_line`.
    ///
    /// Why the quote: the user field (`%u`, the name a client sent for Basic auth) may hold
    /// spaces and brackets, so a client can put a whole fake ` [timestamp]` before the real
    /// one; taken as the time, it made the line malformed and hid a failed login. The server
    /// escapes `"` in that field, so ` [timestamp] "` cannot be forged there.
    #[inline]
    fn find_time(&mut self, s: &[u8]) -> Result<(usize, (DayNum, Timestamp)), Malformed> {
        let mut open = find_time_opener(s, 0).ok_or(Malformed::NotAccessLine)?;
        let mut valid_without_request = false;
        loop {
            let ts: Option<&[u8; TIMESTAMP_LEN]> = s
                .get(open..open + TIMESTAMP_LEN)
                .and_then(|t| t.try_into().ok());
            if let Some(stamp) = ts.and_then(|ts| self.day_of(ts)) {
                if opens_request(&s[open + TIMESTAMP_LEN..]) {
                    return Ok((open, stamp));
                }
                valid_without_request = true;
            }
            open = match find_time_opener(s, open + 1) {
                Some(next) => next,
                None if valid_without_request => return Err(Malformed::NotAccessLine),
                None => return Err(Malformed::BadTime),
            };
        }
    }

    /// The period day and the time of a timestamp. The cache holds both, keyed by all 28
    /// bytes, so identical timestamps always give the identical (day, time).
    #[inline(always)]
    fn day_of(&mut self, ts: &[u8; TIMESTAMP_LEN]) -> Option<(DayNum, Timestamp)> {
        // Busy logs write many lines per second: a timestamp equal to the last valid one
        // needs no validation at all (28 bytes compared as two overlapping 16-byte words).
        if ts == &self.cached_timestamp {
            return Some(self.cached_result);
        }
        let result = self.day_of_uncached(ts)?;
        self.cached_timestamp = *ts;
        self.cached_result = result;
        Some(result)
    }

    #[inline]
    fn day_of_uncached(&mut self, ts: &[u8; TIMESTAMP_LEN]) -> Option<(DayNum, Timestamp)> {
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
        let day = if self.utc {
            utc_day(local_day, minute, offset)
        } else {
            local_day
        };
        // Years are four digits in the log and in the report: the UTC day of 31/Dec/9999
        // 23:00 -1400 has none, nor the ISO week of 31/Dec/9999 (see FIRST_DAY).
        if !(FIRST_DAY..=LAST_DAY).contains(&day) {
            return None;
        }
        let time = Timestamp::new(local_day, minute, clock_second(ts), offset);
        Some((day, time))
    }
}

/// Where [`LineScanner::quick_with`] learns the first quote of its line at or after an index.
/// A trait rather than a closure: the v3 build of the hot loop kept its closure out of line,
/// a call per line.
pub trait FirstQuote {
    fn first_quote(&self, from: usize) -> Option<usize>;
}

/// The quotes of a line, found with `memchr` (tests, fuzzing).
struct QuotesOf<'a>(&'a [u8]);

impl FirstQuote for QuotesOf<'_> {
    fn first_quote(&self, from: usize) -> Option<usize> {
        memchr(b'"', self.0.get(from..)?).map(|i| from + i)
    }
}

/// Drop leading NUL padding (copytruncate holes), then a UTF-8 byte order mark (a log saved
/// by a Windows editor, or such files concatenated), and a trailing `\r` (CRLF files). Only
/// the slow path calls it: a line the quick parse took has none of them.
#[inline]
pub fn trim_line(mut line: &[u8]) -> &[u8] {
    if let Some((&b'\r', head)) = line.split_last() {
        line = head;
    }
    if line.first() == Some(&0) {
        let start = line.iter().position(|&b| b != 0).unwrap_or(line.len());
        line = &line[start..];
    }
    strip_bom(line)
}

/// The UTF-8 byte order mark, which [`trim_line`] drops after a line's NUL padding: every
/// reader that judges a line's length or blankness without the scanner drops it too.
pub const UTF8_BOM: &[u8] = b"\xef\xbb\xbf";

/// `line` without one leading [`UTF8_BOM`].
#[inline]
pub fn strip_bom(line: &[u8]) -> &[u8] {
    line.strip_prefix(UTF8_BOM).unwrap_or(line)
}

/// How many bytes [`strip_bom`] drops from `line`: the mark's length, or 0.
#[inline]
pub fn bom_len(line: &[u8]) -> usize {
    line.len() - strip_bom(line).len()
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

/// Whether `s` (what follows a timestamp) starts with ` "`, the request's opener.
#[inline(always)]
fn opens_request(s: &[u8]) -> bool {
    s.starts_with(b" \"")
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

/// The request ends at the first `"` preceded by an even run of backslashes; `None` if a
/// newline comes first (the line ends unclosed). A physical line holds no `\n`, so the
/// general path and the fast path (which reads past the line end) share this.
#[inline(always)]
fn find_closing_quote_before_newline(s: &[u8]) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = memchr::memchr2(b'"', b'\n', &s[from..]) {
        let at = from + i;
        if s[at] == b'\n' {
            return None;
        }
        let backslashes = s[..at].iter().rev().take_while(|&&b| b == b'\\').count();
        if backslashes % 2 == 0 {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// ` DDD` then a space or the end; 100..=599.
#[inline(always)]
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
#[inline(always)]
fn is_size_field(s: &[u8]) -> bool {
    if s.first() != Some(&b' ') {
        return false;
    }
    let s = &s[1..];
    if s.first() == Some(&b'-') {
        return matches!(s.get(1), None | Some(b' '));
    }
    // Sizes differ in length line to line, so a digit loop mispredicts its exit about once a
    // line: eight bytes are classified at once instead, when the line has them.
    if let Some(word) = s.first_chunk::<8>() {
        let non_digits = non_digit_bytes(u64::from_le_bytes(*word));
        if non_digits != 0 {
            let end = (non_digits.trailing_zeros() / 8) as usize;
            return end > 0 && s[end] == b' ';
        }
    }
    let end = s.iter().take_while(|b| b.is_ascii_digit()).count();
    end > 0 && matches!(s.get(end), None | Some(b' '))
}

/// The top bit of each byte of `word` that is not an ASCII digit, the others clear.
#[inline(always)]
fn non_digit_bytes(word: u64) -> u64 {
    use crate::word::{BYTES, LOW_BITS, TOP_BITS};
    // XOR maps exactly '0'..='9' to 0..=9; a byte is then a digit iff it is below 10. The
    // top bits are set aside so the addition cannot carry from one byte into the next.
    let x = word ^ (BYTES * u64::from(b'0'));
    let low = x & LOW_BITS;
    ((low + BYTES * (0x80 - 10)) | x) & TOP_BITS
}

/// A dotted-quad IPv4 client followed by a space: (address, index of the space). `None` sends
/// the caller to the general client parser (IPv6, hostnames, errors), which applies the same
/// rules. Client fields differ in length line to line, so a byte loop mispredicts its
/// branches; on x86_64 the 16 bytes are classified with SSE2 (baseline on x86_64) and the
/// four parts decoded without data-dependent branches.
#[inline(always)]
fn ipv4_token(s: &[u8]) -> Option<(u32, usize)> {
    ipv4_token_in(Baseline, s)
}

/// [`ipv4_token`] in the given build of the hot loop.
#[inline(always)]
fn ipv4_token_in<I: Isa>(isa: I, s: &[u8]) -> Option<(u32, usize)> {
    #[cfg(target_arch = "x86_64")]
    if s.len() >= 20 {
        return ipv4_token_sse2(isa, s);
    }
    let _ = isa;
    ipv4_token_scalar(s)
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn ipv4_token_sse2<I: Isa>(_isa: I, s: &[u8]) -> Option<(u32, usize)> {
    use std::arch::x86_64::*;
    // As an array every index below is proven in bounds (parts start at most at 15).
    let bytes: &[u8; 20] = s.get(..20)?.try_into().ok()?;
    // SAFETY: SSE2 is always present on x86_64, and the unaligned load reads bytes[0..16].
    let (digit_values, digits, dots, spaces, zeros) = unsafe {
        let v = _mm_loadu_si128(bytes.as_ptr().cast());
        let eq = |c: u8| _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(c as i8))) as u32;
        let d = _mm_sub_epi8(v, _mm_set1_epi8(b'0' as i8));
        let is_digit = _mm_cmpeq_epi8(_mm_subs_epu8(d, _mm_set1_epi8(9)), _mm_setzero_si128());
        (
            d,
            _mm_movemask_epi8(is_digit) as u32,
            eq(b'.'),
            eq(b' '),
            eq(b'0'),
        )
    };
    let end = spaces.trailing_zeros(); // 32 when there is no space
    if end > 15 {
        return None;
    }
    let field = (1u32 << end) - 1;
    let dots = dots & field;
    if I::SSSE3 {
        // The dots and the end name the parts' lengths: a valid shape is one of 81, found
        // by a hash of them, which holds its rules (the bytes between the dots are digits,
        // no part of several digits starts with a zero) and its shuffle; no part length is
        // worked out one by one (half the instructions of the checks below).
        let key = dots | 1 << end;
        let shape = &IPV4_SHAPES[(key.wrapping_mul(IPV4_SHAPE_MAGIC) >> 24) as usize];
        if shape.key != key || (digits | dots) & field != field || zeros & shape.multi_digit != 0 {
            return None;
        }
        // SAFETY: an `I` with SSSE3 exists only once the CPU was checked for it (`Isa`).
        let ip = unsafe { ipv4_parts_ssse3(digit_values, &shape.shuffle) }?;
        return Some((ip, end as usize));
    }
    if (digits | dots) & field != field || dots.count_ones() != 3 {
        return None;
    }
    // Every rule as a bit test over the 16 positions, so no branch depends on the part
    // lengths (which vary line to line and mispredict):
    let digits = digits & field;
    let starts = ((dots << 1) | 1) & field;
    // an empty part (a dot at a part start, or a trailing dot),
    let empty = dots & starts | dots & (1 << (end - 1));
    // a part of four digits or more,
    let long = digits & (digits >> 1) & (digits >> 2) & (digits >> 3);
    // a leading zero followed by another digit (octal to inet_aton).
    let leading_zero = zeros & starts & (digits >> 1);
    if empty | long | leading_zero != 0 {
        return None;
    }
    let d1 = dots.trailing_zeros();
    let d2 = (dots & (dots - 1)).trailing_zeros();
    let d3 = 31 - dots.leading_zeros();
    let _ = digit_values;
    // A part of 1-3 digits, read as four bytes and shifted so its last digit is the top
    // byte (the bytes after the part, and their borrows, fall off the top).
    let part = |from: u32, to: u32| -> u32 {
        let at = (from & 15) as usize;
        let word = u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
        let x = word.wrapping_sub(0x3030_3030) << ((8 * (4 - (to - from))) & 31);
        ((x >> 8) & 0xff) * 100 + ((x >> 16) & 0xff) * 10 + (x >> 24)
    };
    let (p0, p1, p2, p3) = (
        part(0, d1),
        part(d1 + 1, d2),
        part(d2 + 1, d3),
        part(d3 + 1, end),
    );
    if (p0 | p1 | p2 | p3) > 255 {
        return None;
    }
    Some(((p0 << 24) | (p1 << 16) | (p2 << 8) | p3, end as usize))
}

/// One valid shape of a dotted quad: four parts of 1-3 digits, known by its dots and end.
#[cfg(target_arch = "x86_64")]
#[repr(C, align(32))]
struct Ipv4Shape {
    /// The `pshufb` mask that moves the four parts into the four 32-bit lanes of a vector,
    /// the last part in the lowest lane (so the packed lanes read as the address), each lane
    /// `[0, hundreds, tens, ones]` with the missing digits zero.
    shuffle: [u8; 16],
    /// The dots' bits and the end's (the space after the address); 0 in an unused slot,
    /// which no key is (it has its end's bit).
    key: u32,
    /// The first bytes of the parts of two or three digits: none may be a `0` (a leading
    /// zero is octal to inet_aton).
    multi_digit: u32,
}

/// The multiplier of the hash that puts the 81 shapes in 256 slots without a collision
/// (found by a search; [`ipv4_shapes`] fails the build if it ever does not).
#[cfg(target_arch = "x86_64")]
const IPV4_SHAPE_MAGIC: u32 = 0x2acc_2673;

#[cfg(target_arch = "x86_64")]
static IPV4_SHAPES: [Ipv4Shape; 256] = ipv4_shapes();

#[cfg(target_arch = "x86_64")]
const fn ipv4_shapes() -> [Ipv4Shape; 256] {
    const ZERO: u8 = 0x80; // a `pshufb` index with the top bit set writes a zero
    const UNUSED: Ipv4Shape = Ipv4Shape {
        shuffle: [ZERO; 16],
        key: 0,
        multi_digit: 0,
    };
    let mut table = [UNUSED; 256];
    let mut index = 0;
    while index < 81 {
        let lengths = [
            index / 27 + 1,
            index / 9 % 3 + 1,
            index / 3 % 3 + 1,
            index % 3 + 1,
        ];
        let mut shape = UNUSED;
        let mut start = 0;
        let mut part = 0;
        while part < 4 {
            let len = lengths[part];
            let end = start + len;
            let lane = 4 * (3 - part);
            shape.shuffle[lane + 3] = (end - 1) as u8;
            if len >= 2 {
                shape.shuffle[lane + 2] = (end - 2) as u8;
                shape.multi_digit |= 1 << start;
            }
            if len == 3 {
                shape.shuffle[lane + 1] = (end - 3) as u8;
            }
            // A dot after each of the first three parts, the end after the last.
            shape.key |= 1 << end;
            start = end + 1;
            part += 1;
        }
        let slot = (shape.key.wrapping_mul(IPV4_SHAPE_MAGIC) >> 24) as usize;
        assert!(
            table[slot].key == 0,
            "IPV4_SHAPE_MAGIC puts two shapes in a slot"
        );
        table[slot] = shape;
        index += 1;
    }
    table
}

/// The address of a dotted quad whose bytes minus `'0'` are `digit_values`, its parts moved
/// into lanes by `shuffle` (the rules are checked already: four parts of 1-3 digits); `None`
/// if a part is over 255. One shuffle and two multiply-adds instead of four part decodes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "ssse3")]
#[inline]
fn ipv4_parts_ssse3(digit_values: std::arch::x86_64::__m128i, shuffle: &[u8; 16]) -> Option<u32> {
    use std::arch::x86_64::*;
    // SAFETY: the load reads the 16 bytes of `shuffle`.
    let mask = unsafe { _mm_loadu_si128(shuffle.as_ptr().cast()) };
    let lanes = _mm_shuffle_epi8(digit_values, mask);
    // [0, h, t, o] times [0, 100, 10, 1]: two 16-bit sums a lane, then their sum.
    let weights = _mm_set1_epi32(i32::from_le_bytes([0, 100, 10, 1]));
    let parts = _mm_madd_epi16(_mm_maddubs_epi16(lanes, weights), _mm_set1_epi16(1));
    if _mm_movemask_epi8(_mm_cmpgt_epi32(parts, _mm_set1_epi32(255))) != 0 {
        return None;
    }
    let bytes = _mm_packus_epi16(_mm_packs_epi32(parts, parts), _mm_setzero_si128());
    Some(_mm_cvtsi128_si32(bytes) as u32)
}

/// The same rules one byte at a time (short inputs, other architectures).
#[inline]
fn ipv4_token_scalar(s: &[u8]) -> Option<(u32, usize)> {
    let (mut value, mut part, mut digits, mut dots) = (0u32, 0u32, 0u32, 0u32);
    for (i, &b) in s.iter().enumerate().take(16) {
        let d = b.wrapping_sub(b'0');
        if d < 10 {
            // A second digit after a leading 0 would be octal to inet_aton: not an IPv4 here.
            if digits == 3 || (digits > 0 && part == 0) {
                return None;
            }
            part = part * 10 + d as u32;
            digits += 1;
        } else if b == b'.' && digits > 0 && part <= 255 && dots < 3 {
            value = (value << 8) | part;
            (part, digits, dots) = (0, 0, dots + 1);
        } else if b == b' ' && digits > 0 && part <= 255 && dots == 3 {
            return Some(((value << 8) | part, i));
        } else {
            return None;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::client::format_ip;
    use crate::scan::isa::V3;

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
    fn a_fake_timestamp_in_the_user_field_cannot_hide_a_line() {
        // A Basic-auth user name is logged with its spaces and brackets (only `"`, `\` and
        // control bytes are escaped): the time is the one that opens the request.
        for user in [
            "x [01/Jan/2020:00:00:00 +0000] y",
            "- [01/Jan/2020:00:00:00 +0000]",
            "[01/Jan/2020:00:00:00 +0000] [02/Jan/2020:00:00:00 +0000]",
            "[01/Jan/2020:00:00:00 +0000] \\\" [",
        ] {
            let l = format!(
                r#"10.6.6.6 - {user} [19/Jun/2023:10:00:05 +0200] "GET /admin HTTP/1.1" 401 381"#
            );
            match scan(&l) {
                Line::Parsed(f) => {
                    assert_eq!(
                        (f.status, f.request),
                        (401, &b"GET /admin HTTP/1.1"[..]),
                        "{l}"
                    );
                    assert_eq!(crate::scan::time::to_date(f.day).to_string(), "2023-06-19");
                    assert_eq!(f.time, Timestamp::new(f.day, 10 * 60, 5, 120));
                }
                other => panic!("{l}: {other:?}"),
            }
        }
        // Valid timestamps, none followed by the request: not an access line (as before), an
        // opener without a valid timestamp after one that is valid: still not an access line.
        for l in [
            "1.2.3.4 - - [19/Jun/2023:10:00:00 +0000] GET / 200 1",
            "1.2.3.4 - - [19/Jun/2023:10:00:00 +0000] x [19/Foo/2023:10:00:00 +0000] \"GET /\" 200 1",
        ] {
            assert_eq!(reason(l.as_bytes()), Malformed::NotAccessLine, "{l}");
        }
        assert_eq!(
            reason(b"1.2.3.4 - - [19/Foo/2023:10:00:00 +0000] [1/Jun/2023:10:00:00 +0000] \"GET /\" 200 1"),
            Malformed::BadTime
        );
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
    fn a_byte_order_mark_opens_a_line_once() {
        let mut scanner = LineScanner::new(Format::Combined, false, MAX);
        let marked = [&b"\xef\xbb\xbf"[..], GOOD.as_bytes()].concat();
        let Line::Parsed(Fields {
            client: ClientRef::Ip(ip),
            status,
            ..
        }) = scanner.scan(&marked)
        else {
            panic!("not parsed")
        };
        assert_eq!((status, format_ip(ip)), (401, "172.16.14.50".into()));
        let padded = [&[0u8; 4][..], &marked].concat();
        assert!(matches!(scanner.scan(&padded), Line::Parsed(_)));
        assert_eq!(scanner.scan(b"\xef\xbb\xbf"), Line::Blank);
        let twice = [&b"\xef\xbb\xbf"[..], &marked].concat();
        assert_eq!(scanner.scan(&twice), Line::Malformed(Malformed::BadClient));
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
        // A port of 1-5 digits; a valid token alone is fields missing, as a client alone is.
        assert_eq!(
            s.scan(b"a:123456 1.2.3.4 - - [19/Jun/2023:10:00:00 +0000] \"GET /\" 404 1"),
            Line::Malformed(Malformed::BadClient)
        );
        assert_eq!(s.scan(b"a:80"), Line::Malformed(Malformed::NotAccessLine));
        assert_eq!(
            s.scan(b"a:80 1.2.3.4"),
            Line::Malformed(Malformed::NotAccessLine)
        );
        assert_eq!(s.scan(b"a:"), Line::Malformed(Malformed::BadClient));
    }

    #[test]
    fn ipv4_fast_path_agrees_with_the_general_parser() {
        for token in [
            "1.2.3.4",
            "0.0.0.0",
            "255.255.255.255",
            "256.1.1.1",
            "01.2.3.4",
            "1.2.3",
            "1.2.3.4.5",
            "1..2.3",
            "1.2.3.",
            "1000.1.1.1",
            "1.2.3.04",
            "10.0.0.1x",
        ] {
            let line = format!("{token} - - [19/Jun/2023:10:00:00 +0000] \"GET /\" 404 1");
            let general = parse_client(token.as_bytes()).filter(|c| matches!(c, ClientRef::Ip(_)));
            for fast in [
                ipv4_token(line.as_bytes()),
                ipv4_token_scalar(line.as_bytes()),
            ] {
                let fast = fast.map(|(ip, _)| ClientRef::Ip(V4_MAPPED_PREFIX | ip as u128));
                assert_eq!(fast, general, "{token}");
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn ipv4_fast_paths_agree_with_the_general_parser(token in "[0-9.]{0,16}", tail in "[ -~]{0,20}") {
            let line = format!("{token} {tail}");
            let general = parse_client(token.as_bytes()).and_then(|c| match c {
                ClientRef::Ip(ip) if ip >> 32 == 0xffff && !token.contains(':') => Some(ip as u32),
                _ => None,
            });
            let expect = general.map(|ip| (ip, token.len()));
            proptest::prop_assert_eq!(ipv4_token(line.as_bytes()), expect);
            proptest::prop_assert_eq!(ipv4_token_scalar(line.as_bytes()), expect);
            #[cfg(target_arch = "x86_64")]
            {
                let padded = format!("{line}{:20}", "");
                proptest::prop_assert_eq!(ipv4_token_sse2(Baseline, padded.as_bytes()), expect);
                if let Some(v3) = V3::detect() {
                    proptest::prop_assert_eq!(ipv4_token_sse2(v3, padded.as_bytes()), expect);
                }
            }
        }
    }

    /// All tokens of up to 9 bytes over "0", "2", "5" and ".": every shape and near miss
    /// (empty, long and zero-led parts, two or four dots), each build against the byte loop.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn every_short_token_of_digits_and_dots_is_judged_alike_by_every_build() {
        let v3 = V3::detect();
        let (mut tokens, mut accepted) = (0, 0);
        for len in 0..=9u32 {
            for n in 0..4usize.pow(len) {
                let token: Vec<u8> = (0..len).map(|i| b"025."[n / 4usize.pow(i) % 4]).collect();
                let line = [
                    &token[..],
                    b" - - [19/Jun/2023:10:00:00 +0000] \"GET / HTTP/1.1\"",
                ]
                .concat();
                let expect = ipv4_token_scalar(&line);
                assert_eq!(ipv4_token_sse2(Baseline, &line), expect, "{line:?}");
                if let Some(v3) = v3 {
                    assert_eq!(ipv4_token_sse2(v3, &line), expect, "{line:?}");
                }
                tokens += 1;
                accepted += expect.is_some() as u32;
            }
        }
        // A part of one digit: 3 ways; of two: 6 (not led by a zero); of three: 9 (2xx, as
        // 5xx is over 255). Four parts in up to 6 digits: all of one digit, one of two, two
        // of two, or one of three: 3^4 + 4 * 6 * 3^3 + 6 * 6^2 * 3^2 + 4 * 9 * 3^3.
        assert_eq!((tokens, accepted), (349_525, 81 + 648 + 1944 + 972));
    }

    /// The SSSE3 decode against the scalar one, for every combination of part lengths, with
    /// values at the edges of each length (over 255 included).
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn ipv4_ssse3_decode_agrees_with_the_scalar_one() {
        let Some(v3) = V3::detect() else {
            eprintln!("skipped: this CPU has no x86-64-v3 build to compare");
            return;
        };
        let values = |len: usize| -> &'static [u32] {
            match len {
                1 => &[0, 1, 9],
                2 => &[10, 57, 99],
                _ => &[100, 199, 200, 249, 255, 256, 299, 300, 999],
            }
        };
        let (mut checked, mut accepted) = (0, 0);
        for index in 0..81 {
            let lengths = [
                index / 27 + 1,
                index / 9 % 3 + 1,
                index / 3 % 3 + 1,
                index % 3 + 1,
            ];
            for &a in values(lengths[0]) {
                for &b in values(lengths[1]) {
                    for &c in values(lengths[2]) {
                        for &d in values(lengths[3]) {
                            let line = format!("{a}.{b}.{c}.{d} - - [19/Jun/2023:10:00:00 +0000]");
                            let fast = ipv4_token_sse2(v3, line.as_bytes());
                            assert_eq!(fast, ipv4_token_sse2(Baseline, line.as_bytes()), "{line}");
                            let valid = [a, b, c, d].iter().all(|&p| p <= 255);
                            let ip = (a << 24) | (b << 16) | (c << 8) | d;
                            let len = lengths.iter().sum::<usize>() + 3;
                            assert_eq!(fast, valid.then_some((ip, len)), "{line}");
                            checked += 1;
                            accepted += valid as u32;
                        }
                    }
                }
            }
        }
        assert_eq!((checked, accepted), (50625, 14641));
    }

    proptest::proptest! {
        #[test]
        fn quick_path_agrees_with_full_scan(
            client in proptest::prop_oneof!["[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}", "[0-9a-f:]{2,12}", "[a-z.]{1,8}"],
            ident in proptest::prop_oneof![proptest::prelude::Just("- -".to_string()), "[-a-z \\[]{0,6}"],
            day in 0u32..33, month in proptest::prop_oneof![proptest::prelude::Just("Jun"), proptest::prelude::Just("Feb"), proptest::prelude::Just("Foo")],
            request in "([ -~]|\\\\\"|\\\\\\\\|\\n|\\r){0,20}",
            closing in proptest::prop_oneof![proptest::prelude::Just("\""), proptest::prelude::Just("")],
            status in "[0-9a]{1,4}", size in proptest::prop_oneof!["[0-9]{1,5}", proptest::prelude::Just("-".to_string()), "[-0-9a]{0,3}"],
            sep in proptest::prop_oneof![proptest::prelude::Just(" "), proptest::prelude::Just("\n"), proptest::prelude::Just("\r\n"), proptest::prelude::Just(""), proptest::prelude::Just("x")],
            tail in "([ -~]|\n){0,30}",
        ) {
            let text = format!("{client} {ident} [{day:02}/{month}/2023:10:00:00 +0000] \"{request}{closing} {status} {size}{sep}{tail}");
            let bytes = text.as_bytes();
            let mut fast = LineScanner::new(Format::Combined, false, MAX);
            let mut slow = LineScanner::new(Format::Combined, false, MAX);
            let line = &bytes[..memchr(b'\n', bytes).unwrap_or(bytes.len())];
            let quick = fast.quick(line);
            if let Some(fields) = quick {
                proptest::prop_assert_eq!(slow.scan(line), Line::Parsed(fields), "{:?}", text);
            }
            if let Some(v3) = V3::detect() {
                proptest::prop_assert_eq!(fast.quick_in(v3, line), quick, "{:?}", text);
            }
        }
    }

    #[test]
    fn non_digit_bytes_marks_exactly_the_non_digits() {
        crate::word::assert_word_marks(non_digit_bytes, *b"01234567", |b| !b.is_ascii_digit());
    }

    proptest::proptest! {
        #[test]
        fn size_field_matches_its_grammar(tail in "[ 0-9a-]{0,12}") {
            for s in [format!(" {tail}"), tail.clone()] {
                let bytes = s.as_bytes();
                let expect = bytes.strip_prefix(b" ").is_some_and(|f| {
                    let end = match f.first() {
                        Some(b'-') => 1,
                        _ => f.iter().take_while(|b| b.is_ascii_digit()).count(),
                    };
                    end > 0 && matches!(f.get(end), None | Some(b' '))
                });
                proptest::prop_assert_eq!(is_size_field(bytes), expect, "{:?}", s);
            }
        }
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
    fn time_is_the_instant_and_offset_and_the_cache_keeps_it() {
        let mut s = LineScanner::new(Format::Combined, true, MAX);
        let a = b"1.2.3.4 - - [19/Jun/2023:23:30:05 -0700] \"GET /\" 404 1";
        let b = b"1.2.3.4 - - [19/Jun/2023:23:30:06 -0700] \"GET /\" 404 1";
        let time = |s: &mut LineScanner, l: &[u8]| match s.scan(l) {
            Line::Parsed(f) => (f.day, f.time),
            other => panic!("{other:?}"),
        };
        let (day, t) = time(&mut s, a);
        assert_eq!(t.iso8601(false), "2023-06-19T23:30:05-07:00");
        assert_eq!(crate::scan::time::to_date(day).to_string(), "2023-06-20");
        assert_eq!(time(&mut s, a), (day, t), "cache hit gives the same time");
        assert_eq!(time(&mut s, b).1.utc_secs, t.utc_secs + 1);
        assert_eq!(time(&mut s, a), (day, t));
        let (_, q) = match s.quick(a) {
            Some(f) => (f.day, f.time),
            None => panic!("quick path"),
        };
        assert_eq!(q, t);
    }

    #[test]
    fn utc_days_beyond_four_digit_years_are_bad_time() {
        use crate::scan::time::{days_from_civil, to_date};
        use chrono::Datelike;
        assert_eq!(FIRST_DAY, days_from_civil(0, 1, 3));
        assert_eq!(LAST_DAY, days_from_civil(9999, 12, 26));
        assert_eq!(to_date(FIRST_DAY).iso_week().year(), 0);
        assert_eq!(to_date(FIRST_DAY - 1).iso_week().year(), -1);
        assert_eq!(to_date(LAST_DAY).weekday(), chrono::Weekday::Sun);
        let line = |ts: &str| format!("1.2.3.4 - - [{ts}] \"GET / HTTP/1.1\" 404 0").into_bytes();
        let day = |utc: bool, ts: &str| match LineScanner::new(Format::Combined, utc, MAX)
            .scan(&line(ts))
        {
            Line::Parsed(f) => Ok(f.day),
            Line::Malformed(m) => Err(m),
            other => panic!("{other:?}"),
        };
        for ts in ["26/Dec/9999:23:00:00 -1400", "03/Jan/0000:00:00:00 +1400"] {
            assert_eq!(day(true, ts), Err(Malformed::BadTime), "{ts}");
            assert!(day(false, ts).is_ok(), "{ts}: its own date is in range");
        }
        for ts in ["27/Dec/9999:00:00:00 +0000", "02/Jan/0000:23:59:59 +0000"] {
            assert_eq!(
                day(false, ts),
                Err(Malformed::BadTime),
                "{ts}: its week has no year"
            );
        }
        assert_eq!(day(true, "26/Dec/9999:09:59:00 -1400"), Ok(LAST_DAY));
        assert_eq!(day(true, "03/Jan/0000:14:00:00 +1400"), Ok(FIRST_DAY));
    }

    #[test]
    fn a_fresh_scanner_caches_no_date() {
        // Eleven NUL bytes where the date goes: the date cache of a fresh scanner must not
        // take them for a date it has seen (it once started as eleven zero bytes: day 0).
        let mut line = b"1.2.3.4 - - [".to_vec();
        line.extend_from_slice(&[0; 11]);
        line.extend_from_slice(b":10:00:00 +0000] \"GET / HTTP/1.1\" 404 0");
        for utc in [false, true] {
            let mut s = LineScanner::new(Format::Combined, utc, MAX);
            assert_eq!(s.quick(&line), None);
            let mut s = LineScanner::new(Format::Combined, utc, MAX);
            assert_eq!(s.scan(&line), Line::Malformed(Malformed::BadTime));
        }
        // The caches' first entries are real: the epoch's bytes give the epoch's day.
        let mut s = LineScanner::new(Format::Combined, false, MAX);
        let epoch = b"1.2.3.4 - - [01/Jan/1970:00:00:00 +0000] \"GET /\" 404 1";
        match s.scan(epoch) {
            Line::Parsed(f) => assert_eq!((f.day, f.time), (0, Timestamp::new(0, 0, 0, 0))),
            other => panic!("{other:?}"),
        }
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
