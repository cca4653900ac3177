//! Client field → integer key.
//!
//! Owns the parsing of the `%h` field: dotted-quad IPv4, IPv6 in any textual form, or a
//! hostname. Invariant: two spellings of the same address give the same [`Client`]
//! (`::ffff:1.2.3.4` is `1.2.3.4`, IPv6 case and zero-compression do not matter), and a
//! spelling that is not an address never aliases one (`0177.0.0.1` is a hostname, not
//! `127.0.0.1`). Parsing never allocates; hostnames are returned as borrowed bytes for the
//! caller to intern.

use std::net::Ipv6Addr;

/// An IP address as an integer: IPv4 addresses live in the IPv4-mapped range
/// `::ffff:0:0/96`, so one `u128` holds both families and the mapping normalises
/// `::ffff:a.b.c.d` for free.
pub type IpKey = u128;

const V4_MAPPED_PREFIX: u128 = 0xffff_u128 << 32;

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

/// IPv6 by value; IPv4-mapped addresses normalise into the same key as their IPv4 form.
fn parse_ipv6(s: &[u8]) -> Option<IpKey> {
    if s.len() > 45 {
        return None;
    }
    // The standard parser is exact and allocation-free; IPv6 clients are the minority.
    let text = std::str::from_utf8(s).ok()?;
    let addr: Ipv6Addr = text.parse().ok()?;
    Some(u128::from(addr))
}

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
        std::net::Ipv4Addr::from(key as u32).to_string()
    } else {
        Ipv6Addr::from(key).to_string()
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
