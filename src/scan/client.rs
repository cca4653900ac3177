//! Client field → integer key.
//!
//! Owns the parsing of the `%h` field: dotted-quad IPv4, IPv6 in any textual form, or a
//! hostname. Invariant: two spellings of the same address give the same [`Client`]
//! (`::ffff:1.2.3.4` is `1.2.3.4`, IPv6 case and zero-compression do not matter), and a
//! spelling that is not an address never aliases one (`0177.0.0.1` is a hostname, not
//! `127.0.0.1`). Parsing never allocates; hostnames are returned as borrowed bytes for the
//! caller to intern.

use std::fmt::Write as _;
use std::net::Ipv6Addr;

/// An IP address as an integer: IPv4 addresses live in the IPv4-mapped range
/// `::ffff:0:0/96`, so one `u128` holds both families and the mapping normalises
/// `::ffff:a.b.c.d` for free.
pub type IpKey = u128;

pub const V4_MAPPED_PREFIX: u128 = 0xffff_u128 << 32;

/// The parsed client field of one line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientRef<'a> {
    Ip(IpKey),
    /// Hostname bytes as written; the caller lowercases when interning.
    Host(&'a [u8]),
}

/// Parse a client token. `None` means the token is not a client (`bad_client`).
#[inline]
pub fn parse_client(token: &[u8]) -> Option<ClientRef<'_>> {
    if let Some(v4) = parse_ipv4(token) {
        return Some(ClientRef::Ip(V4_MAPPED_PREFIX | v4 as u128));
    }
    if memchr::memchr(b':', token).is_some() {
        return parse_ipv6(token).map(ClientRef::Ip);
    }
    if is_hostname(token) {
        return Some(ClientRef::Host(token));
    }
    None
}

/// Strict dotted-quad: four decimal parts 0..=255 of 1-3 digits, no leading zeros.
#[inline]
pub fn parse_ipv4(s: &[u8]) -> Option<u32> {
    if s.len() < 7 || s.len() > 15 {
        return None;
    }
    let mut value: u32 = 0;
    let mut part: u32 = 0;
    let mut digits = 0usize;
    let mut parts = 0usize;
    let mut first_digit = 0u8;
    for &b in s {
        match b {
            b'0'..=b'9' => {
                if digits == 0 {
                    first_digit = b;
                } else if first_digit == b'0' {
                    return None; // leading zero: "0177" would be octal to inet_aton
                }
                digits += 1;
                if digits > 3 {
                    return None;
                }
                part = part * 10 + (b - b'0') as u32;
            }
            b'.' => {
                if digits == 0 || part > 255 || parts == 3 {
                    return None;
                }
                value = (value << 8) | part;
                parts += 1;
                part = 0;
                digits = 0;
            }
            _ => return None,
        }
    }
    if parts != 3 || digits == 0 || part > 255 {
        return None;
    }
    Some((value << 8) | part)
}

/// IPv6 by value (RFC 4291 text forms: 1-4 hex digits a group, one `::` at most, an optional
/// dotted-quad tail); IPv4-mapped addresses normalise into the same key as their IPv4 form.
/// Hand-written: the standard parser needs `&str` and was a visible share of the scan time.
pub fn parse_ipv6(s: &[u8]) -> Option<IpKey> {
    if s.len() < 2 || s.len() > 45 {
        return None;
    }
    let mut head = [0u16; 8];
    let mut tail = [0u16; 8];
    let (mut head_n, mut tail_n) = (0usize, 0usize);
    let mut compressed = false;
    let mut i = 0;
    if s.starts_with(b"::") {
        compressed = true;
        i = 2;
        if s.len() == 2 {
            return Some(0);
        }
    } else if s[0] == b':' {
        return None;
    }
    // A group starts at 0 or after a colon, so the only group with no colon after it starts
    // at `last_group`; it is a dotted-quad tail if it holds a dot. Found once, not per group.
    let last_group = memchr::memrchr(b':', s).map_or(0, |c| c + 1);
    let dotted_tail = memchr::memchr(b'.', &s[last_group..]).is_some();
    loop {
        let groups = if compressed { &mut tail } else { &mut head };
        let n = if compressed { &mut tail_n } else { &mut head_n };
        if dotted_tail && i >= last_group {
            // A dotted-quad tail: the last 32 bits.
            let v4 = parse_ipv4(&s[i..])?;
            if *n + 2 > 8 {
                return None;
            }
            groups[*n] = (v4 >> 16) as u16;
            groups[*n + 1] = v4 as u16;
            *n += 2;
            break;
        }
        let mut value = 0u32;
        let mut digits = 0;
        while let Some(&d) = s.get(i).map(|&b| &HEX_VALUE[b as usize]) {
            if d == NOT_HEX {
                break;
            }
            value = value * 16 + d as u32;
            digits += 1;
            i += 1;
            if digits > 4 {
                return None;
            }
        }
        if digits == 0 || *n == 8 {
            return None;
        }
        groups[*n] = value as u16;
        *n += 1;
        if i == s.len() {
            break;
        }
        if s[i] != b':' {
            return None;
        }
        i += 1;
        if s.get(i) == Some(&b':') {
            if compressed {
                return None;
            }
            compressed = true;
            i += 1;
            if i == s.len() {
                break;
            }
        } else if i == s.len() {
            return None;
        }
    }
    let total = head_n + tail_n;
    if (compressed && total > 7) || (!compressed && total != 8) {
        return None;
    }
    let mut words = [0u16; 8];
    words[..head_n].copy_from_slice(&head[..head_n]);
    words[8 - tail_n..].copy_from_slice(&tail[..tail_n]);
    Some(words.iter().fold(0u128, |acc, &w| (acc << 16) | w as u128))
}

/// The common IPv6 client token, decoded without a loop over its bytes: hex groups of 1-4
/// digits separated by colons, at most one `::` inside (not at either end), no dotted tail,
/// then a space within the first 40 bytes of `s`. Returns (address, index of the space), the
/// same address [`parse_ipv6`] gives for those bytes; `None` for every other form (leading or
/// trailing `::`, an IPv4 tail, a short line, an error), which the caller parses the general
/// way. The per-byte loop of [`parse_ipv6`] mispredicts at every group end, and a tenth of a
/// busy log's clients may be IPv6.
#[inline(always)]
pub fn ipv6_token(s: &[u8]) -> Option<(IpKey, usize)> {
    #[cfg(target_arch = "x86_64")]
    {
        let bytes: &[u8; 48] = s.get(..48)?.try_into().ok()?;
        let masks = ipv6_masks(bytes);
        ipv6_decode(bytes, masks)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = s;
        None
    }
}

/// Bit masks over 48 bytes: (hex digits, colons, spaces).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn ipv6_masks(bytes: &[u8; 48]) -> (u64, u64, u64) {
    use std::arch::x86_64::*;
    let (mut hex, mut colon, mut space) = (0u64, 0u64, 0u64);
    for part in 0..3 {
        // SAFETY: SSE2 is baseline on x86_64; the load reads bytes[16 * part..16 * part + 16],
        // inside the 48-byte array.
        unsafe {
            let v = _mm_loadu_si128(bytes.as_ptr().add(16 * part).cast());
            let is = |c: u8| _mm_cmpeq_epi8(v, _mm_set1_epi8(c as i8));
            // A byte is in a..=b iff (byte - a) saturates to 0 after subtracting b - a.
            let in_range = |x: __m128i, low: u8, span: u8| {
                let d = _mm_sub_epi8(x, _mm_set1_epi8(low as i8));
                _mm_cmpeq_epi8(
                    _mm_subs_epu8(d, _mm_set1_epi8(span as i8)),
                    _mm_setzero_si128(),
                )
            };
            // `| 0x20` folds A-F onto a-f (and maps no other byte there).
            let lower = _mm_or_si128(v, _mm_set1_epi8(0x20));
            let h = _mm_or_si128(in_range(v, b'0', 9), in_range(lower, b'a', 5));
            let bits = |m: __m128i| (_mm_movemask_epi8(m) as u16 as u64) << (16 * part);
            hex |= bits(h);
            colon |= bits(is(b':'));
            space |= bits(is(b' '));
        }
    }
    (hex, colon, space)
}

/// The address from the masks of [`ipv6_masks`], every rule a bit test.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn ipv6_decode(bytes: &[u8; 48], (hex, colon, space): (u64, u64, u64)) -> Option<(IpKey, usize)> {
    // The first space (64 when there is none). 39 bytes is the longest such token (8 groups
    // of 4); the bound keeps every 4-byte read below inside the array.
    let end = space.trailing_zeros();
    if !(3..=39).contains(&end) {
        return None;
    }
    let field = (1u64 << end) - 1;
    let (hex, colon) = (hex & field, colon & field);
    let double = colon & (colon >> 1); // bit i: bytes i and i + 1 are both colons
    let long = hex & (hex >> 1) & (hex >> 2) & (hex >> 3) & (hex >> 4);
    if hex | colon != field
        || hex & 1 == 0
        || hex >> (end - 1) == 0
        || double.count_ones() > 1
        || long != 0
    {
        return None;
    }
    let colons = colon.count_ones();
    if (double == 0 && colons != 7) || colons > 7 {
        return None;
    }
    let mut starts = hex & !(hex << 1);
    let mut ends = hex & !(hex >> 1);
    let groups = starts.count_ones();
    let mut acc = 0u128;
    while starts != 0 {
        let first = starts.trailing_zeros();
        let len = ends.trailing_zeros() + 1 - first;
        starts &= starts - 1;
        ends &= ends - 1;
        let at = first as usize;
        let word = u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
        // Each byte's hex value in its low nibble ('a' and 'A' have bit 6 set, digits not);
        // then shifted so the group's last digit is the top byte, the bytes after the group
        // falling off the top.
        let nibbles = (word & 0x0f0f_0f0f) + 9 * ((word >> 6) & 0x0101_0101);
        let x = nibbles << (8 * (4 - len));
        let value = (x >> 24) & 0xf | (x >> 12) & 0xf0 | x & 0xf00 | (x << 12) & 0xf000;
        acc = (acc << 16) | value as u128;
    }
    if double == 0 {
        return Some((acc, end as usize));
    }
    // `::` stands for the missing zero groups: the groups before it move to the top.
    let head = (hex & !(hex << 1) & ((1u64 << double.trailing_zeros()) - 1)).count_ones();
    let tail = groups - head;
    let low = acc & ((1u128 << (16 * tail)) - 1);
    Some((
        ((acc >> (16 * tail)) << (16 * (8 - head))) | low,
        end as usize,
    ))
}

const NOT_HEX: u8 = 0xff;

/// The value of each hex digit byte, [`NOT_HEX`] for every other byte.
static HEX_VALUE: [u8; 256] = {
    let mut table = [NOT_HEX; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = match b as u8 {
            c @ b'0'..=b'9' => c - b'0',
            c @ b'a'..=b'f' => c - b'a' + 10,
            c @ b'A'..=b'F' => c - b'A' + 10,
            _ => NOT_HEX,
        };
        b += 1;
    }
    table
};

/// Hostname as Apache writes it with HostnameLookups on: letters, digits, `.`, `-`, `_`.
fn is_hostname(s: &[u8]) -> bool {
    (1..=253).contains(&s.len())
        && s[0].is_ascii_alphanumeric()
        && s.iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_')
}

/// Render an IP key the way people write it: dotted quad for IPv4 (and IPv4-mapped IPv6),
/// RFC 5952 form for IPv6.
pub fn format_ip(key: IpKey) -> String {
    if key >> 32 == 0xffff {
        // By hand: a week's report formats hundreds of thousands of addresses, and
        // `Ipv4Addr`'s `Display` goes through the formatting machinery for each part.
        let mut text = String::with_capacity(15);
        for (i, part) in (key as u32).to_be_bytes().into_iter().enumerate() {
            if i > 0 {
                text.push('.');
            }
            if part >= 100 {
                text.push(char::from(b'0' + part / 100));
            }
            if part >= 10 {
                text.push(char::from(b'0' + part / 10 % 10));
            }
            text.push(char::from(b'0' + part % 10));
        }
        text
    } else {
        // Room for the longest form at once (`to_string` grew the text a few bytes at a
        // time: several reallocations an address).
        let mut text = String::with_capacity(39);
        let _ = write!(text, "{}", Ipv6Addr::from(key));
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<String> {
        match parse_client(s.as_bytes())? {
            ClientRef::Ip(k) => Some(format_ip(k)),
            ClientRef::Host(h) => Some(format!("host:{}", String::from_utf8_lossy(h))),
        }
    }

    #[test]
    fn ipv4_strict() {
        assert_eq!(ip("172.16.14.50").as_deref(), Some("172.16.14.50"));
        assert_eq!(ip("0.0.0.0").as_deref(), Some("0.0.0.0"));
        assert_eq!(ip("255.255.255.255").as_deref(), Some("255.255.255.255"));
        assert_eq!(parse_ipv4(b"256.1.1.1"), None);
        assert_eq!(parse_ipv4(b"1.2.3"), None);
        assert_eq!(parse_ipv4(b"1.2.3.4.5"), None);
        assert_eq!(parse_ipv4(b"1..2.3"), None);
        assert_eq!(parse_ipv4(b"01.2.3.4"), None);
        assert_eq!(parse_ipv4(b"1.2.3.4."), None);
        assert_eq!(parse_ipv4(b"1000.2.3.4"), None);
    }

    #[test]
    fn ipv4_formats_like_std() {
        for v4 in [
            0u32,
            1,
            9,
            10,
            99,
            100,
            255,
            0x0a00_0001,
            0xac10_0e32,
            0x6464_0a09,
            u32::MAX,
        ]
        .into_iter()
        .chain((0..5000u32).map(|i| i.wrapping_mul(0x9e37_79b9)))
        {
            let std_text = std::net::Ipv4Addr::from(v4).to_string();
            assert_eq!(format_ip(V4_MAPPED_PREFIX | v4 as u128), std_text);
        }
    }

    #[test]
    fn leading_zero_is_a_hostname_not_loopback() {
        assert_eq!(ip("0177.0.0.1").as_deref(), Some("host:0177.0.0.1"));
        assert_ne!(ip("0177.0.0.1"), ip("127.0.0.1"));
    }

    #[test]
    fn ipv6_forms_normalise() {
        let canonical = ip("2001:db8::1").unwrap();
        assert_eq!(canonical, "2001:db8::1");
        assert_eq!(
            ip("2001:0DB8:0000:0000:0000:0000:0000:0001").unwrap(),
            canonical
        );
        assert_eq!(ip("2001:db8:0:0::1").unwrap(), canonical);
        assert_eq!(ip("::ffff:1.2.3.4").unwrap(), "1.2.3.4");
        assert_eq!(ip("::FFFF:0102:0304").unwrap(), "1.2.3.4");
        assert_eq!(ip("::1").unwrap(), "::1");
        assert_eq!(ip("fe80::1%eth0"), None);
        assert_eq!(ip("2001:db8:::1"), None);
    }

    #[test]
    fn ipv6_edge_forms() {
        for ok in [
            "::",
            "::1",
            "1::",
            "1:2:3:4:5:6:7::",
            "::2:3:4:5:6:7:8",
            "1:2:3:4:5:6:7:8",
            "::1.2.3.4",
            "1:2:3:4:5:6:1.2.3.4",
            "a:B:c:D:e:F:0:ffff",
        ] {
            assert_eq!(
                parse_ipv6(ok.as_bytes()),
                Some(u128::from(ok.parse::<Ipv6Addr>().unwrap())),
                "{ok}"
            );
        }
        for bad in [
            ":",
            ":::",
            "1:::2",
            "1::2::3",
            "1:2:3:4:5:6:7:8::",
            "1:2:3:4:5:6:7:8:9",
            "12345::",
            "1:2",
            "1:",
            ":1",
            "::g",
            "1:2:3:4:5:6:7:1.2.3.4",
            "::1.2.3",
            "::01.2.3.4",
        ] {
            assert_eq!(parse_ipv6(bad.as_bytes()), None, "{bad}");
        }
    }

    proptest::proptest! {
        #[test]
        fn ipv6_parser_agrees_with_std_on_any_text(s in "[0-9a-fA-F:.]{0,41}") {
            // std accepts leading zeros in an embedded IPv4 part where we do not; skip those.
            let std_result = s.parse::<Ipv6Addr>().ok().map(u128::from);
            let ours = parse_ipv6(s.as_bytes());
            if std_result != ours {
                proptest::prop_assert!(ours.is_none() && s.split(['.', ':']).any(|p| p.len() > 1 && p.starts_with('0') && s.contains('.')), "{s}: std {std_result:?} ours {ours:?}");
            }
        }

        #[test]
        fn ipv6_parser_agrees_with_std_on_addresses(words in proptest::array::uniform8(proptest::prop_oneof![proptest::prelude::Just(0u16), proptest::prelude::any::<u16>()])) {
            let addr = Ipv6Addr::from(words);
            for text in [addr.to_string(), format!("{:x}:{:x}:{:x}:{:x}:{:x}:{:x}:{:x}:{:x}", words[0], words[1], words[2], words[3], words[4], words[5], words[6], words[7]), addr.to_string().to_uppercase()] {
                proptest::prop_assert_eq!(parse_ipv6(text.as_bytes()), Some(u128::from(addr)), "{}", text);
            }
        }
    }

    /// `token` followed by a space and enough of a line for the fast path to look at.
    fn v6_line(token: &str) -> Vec<u8> {
        format!("{token} - - [19/Jun/2023:10:00:00 +0000] \"GET / HTTP/1.1\" 404 1").into_bytes()
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn ipv6_token_takes_the_common_forms_and_leaves_the_rest() {
        for (text, expect) in [
            ("2001:db8::1", Some("2001:db8::1")),
            (
                "2a00:23c5:cc49:c68c::100:58ac",
                Some("2a00:23c5:cc49:c68c::100:58ac"),
            ),
            ("1:2:3:4:5:6:7:8", Some("1:2:3:4:5:6:7:8")),
            ("1:2:3::5:6:7:8", Some("1:2:3:0:5:6:7:8")),
            ("1:2:3:4:5:6::8", Some("1:2:3:4:5:6:0:8")),
            ("0:0:0:0:0:FFFF:0102:0304", Some("1.2.3.4")),
            (
                "ABCD:ef01:2345:6789:abcd:EF01:2345:6789",
                Some("abcd:ef01:2345:6789:abcd:ef01:2345:6789"),
            ),
            ("1::", None),
            ("::1", None),
            ("::ffff:1.2.3.4", None),
            ("1:2:3:4:5:6:7", None),
            ("1:2:3:4:5:6:7:8:9", None),
            ("1:2:3:4:5:6:7::8", None),
            ("1:::2", None),
            ("1::2::3", None),
            ("12345::1", None),
            ("1:2:3:4:5:6:7:g", None),
            ("fe80::1%eth0", None),
            ("abc", None),
        ] {
            let line = v6_line(text);
            let got = ipv6_token(&line).map(|(ip, end)| (format_ip(ip), end));
            assert_eq!(got, expect.map(|e| (e.to_string(), text.len())), "{text}");
        }
        // Too short to read 48 bytes, or no space within 39: the general path.
        assert_eq!(ipv6_token(b"2001:db8::1 - - x"), None);
        assert_eq!(ipv6_token(&v6_line("2001:db8:0:0:0:0:0:1:2:3")), None);
    }

    proptest::proptest! {
        /// Whenever the fast path answers, the general parser gives the same address for the
        /// same token; and every address in its shape (written with or without `::`, in
        /// either case) is taken.
        #[test]
        fn ipv6_token_agrees_with_the_general_parser(
            token in "[0-9a-fA-F:.g]{0,44}",
            words in proptest::array::uniform8(proptest::prop_oneof![proptest::prelude::Just(0u16), proptest::prelude::any::<u16>()]),
        ) {
            let line = v6_line(&token);
            if let Some((ip, end)) = ipv6_token(&line) {
                proptest::prop_assert_eq!(end, token.len());
                proptest::prop_assert_eq!(parse_client(token.as_bytes()), Some(ClientRef::Ip(ip)));
            }
            let addr = Ipv6Addr::from(words);
            let full = words.map(|w| format!("{w:x}")).join(":");
            for text in [addr.to_string(), full, addr.to_string().to_uppercase()] {
                let line = v6_line(&text);
                let takes = !text.starts_with(':') && !text.ends_with(':') && !text.contains('.');
                let expect = takes.then(|| (u128::from(addr), text.len()));
                #[cfg(target_arch = "x86_64")]
                proptest::prop_assert_eq!(ipv6_token(&line), expect, "{}", text);
                #[cfg(not(target_arch = "x86_64"))]
                let _ = (line, expect);
            }
        }
    }

    #[test]
    fn hostnames_and_garbage() {
        assert_eq!(
            ip("crawl-66-249-66-1.googlebot.com").unwrap(),
            "host:crawl-66-249-66-1.googlebot.com"
        );
        assert_eq!(ip("-"), None);
        assert_eq!(ip(""), None);
        assert_eq!(ip("a\"b"), None);
        assert_eq!(ip("\u{1b}[2J"), None);
    }
}
