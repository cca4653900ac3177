//! The scanner against a slow, obviously-correct reference parser, on generated lines full of
//! escapes, quotes, odd clients and broken fields. The reference is written differently on
//! purpose: std's address parsers, char-by-char escape handling, plain string slicing.

use logwarden::scan::client::{format_ip, ClientRef};
use logwarden::scan::{Format, Line, LineScanner, Malformed};
use proptest::prelude::*;
use std::net::IpAddr;

#[derive(Debug, PartialEq, Eq)]
enum Expect {
    Blank,
    Parsed {
        client: String,
        date: String,
        status: u16,
    },
    Malformed(Malformed),
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

fn reference(raw: &[u8], max: usize) -> Expect {
    let mut line = raw;
    if line.last() == Some(&b'\r') {
        line = &line[..line.len() - 1];
    }
    while line.first() == Some(&0) {
        line = &line[1..];
    }
    if line.len() >= 3 && line[..3] == [0xef, 0xbb, 0xbf] {
        line = &line[3..];
    }
    if line.iter().all(|&b| b == b' ' || b == b'\t') {
        return Expect::Blank;
    }
    if line.len() > max {
        return Expect::Malformed(Malformed::Oversize);
    }
    let (client_tok, rest) = match line.iter().position(|&b| b == b' ') {
        Some(i) => (&line[..i], Some(&line[i + 1..])),
        None => (line, None),
    };
    let Some(client) = reference_client(client_tok) else {
        return Expect::Malformed(Malformed::BadClient);
    };
    let Some(rest) = rest else {
        return Expect::Malformed(Malformed::NotAccessLine);
    };
    // Every " [" (or a "[" right at the start) is a candidate; the first valid timestamp wins.
    let openers: Vec<usize> = (0..rest.len())
        .filter(|&i| rest[i] == b'[' && (i == 0 || rest[i - 1] == b' '))
        .collect();
    if openers.is_empty() {
        return Expect::Malformed(Malformed::NotAccessLine);
    }
    let Some((at, date)) = openers
        .iter()
        .find_map(|&i| rest.get(i..i + 28).and_then(reference_time).map(|d| (i, d)))
    else {
        return Expect::Malformed(Malformed::BadTime);
    };
    let rest = &rest[at + 28..];
    if !rest.starts_with(b" \"") {
        return Expect::Malformed(Malformed::NotAccessLine);
    }
    let mut i = 2;
    let close = loop {
        match rest.get(i) {
            None => return Expect::Malformed(Malformed::BadRequest),
            Some(b'\\') => i += 2,
            Some(b'"') => break i,
            Some(_) => i += 1,
        }
    };
    let rest = &rest[close + 1..];
    let status_ok = rest.len() >= 4
        && rest[0] == b' '
        && rest[1..4].iter().all(u8::is_ascii_digit)
        && (rest.len() == 4 || rest[4] == b' ');
    let status: u16 = if status_ok {
        std::str::from_utf8(&rest[1..4]).unwrap().parse().unwrap()
    } else {
        0
    };
    if !(100..=599).contains(&status) {
        return Expect::Malformed(Malformed::BadStatus);
    }
    let rest = &rest[4..];
    let size = rest
        .strip_prefix(b" ")
        .map(|r| r.split(|&b| b == b' ').next().unwrap_or_default());
    match size {
        Some(s) if s == b"-" || (!s.is_empty() && s.iter().all(u8::is_ascii_digit)) => {
            Expect::Parsed {
                client,
                date,
                status,
            }
        }
        _ => Expect::Malformed(Malformed::BadSize),
    }
}

fn reference_client(tok: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(tok).ok()?;
    match text.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) if !text.contains(':') => return Some(v4.to_string()),
        Ok(IpAddr::V6(v6))
            if !text
                .split(['.', ':'])
                .any(|p| p.len() > 1 && p.starts_with('0') && text.contains('.')) =>
        {
            return Some(
                v6.to_ipv4_mapped()
                    .map_or_else(|| v6.to_string(), |v4| v4.to_string()),
            );
        }
        _ => {}
    }
    let host = !text.is_empty()
        && text.len() <= 253
        && text.as_bytes()[0].is_ascii_alphanumeric()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    // A dotted quad that std rejects (leading zeros, >255) is still a valid host name here.
    host.then(|| format!("host:{}", text.to_ascii_lowercase()))
}

fn reference_time(ts: &[u8]) -> Option<String> {
    let s = std::str::from_utf8(ts).ok()?;
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        s.get(r.clone())
            .filter(|x| x.bytes().all(|b| b.is_ascii_digit()))?
            .parse()
            .ok()
    };
    if !(s.starts_with('[')
        && s.ends_with(']')
        && &s[3..4] == "/"
        && &s[7..8] == "/"
        && &s[12..13] == ":"
        && &s[15..16] == ":"
        && &s[18..19] == ":"
        && &s[21..22] == " ")
    {
        return None;
    }
    let (day, year) = (num(1..3)?, num(8..12)?);
    let month = MONTHS.iter().position(|m| *m == &s[4..7])? as u32 + 1;
    let (h, m, sec, oh, om) = (
        num(13..15)?,
        num(16..18)?,
        num(19..21)?,
        num(23..25)?,
        num(25..27)?,
    );
    if !matches!(&s[22..23], "+" | "-") || h > 23 || m > 59 || sec > 60 || oh > 23 || om > 59 {
        return None;
    }
    let date = chrono::NaiveDate::from_ymd_opt(year as i32, month, day)?;
    Some(date.to_string())
}

fn actual(raw: &[u8], max: usize) -> Expect {
    match LineScanner::new(Format::Combined, false, max).scan(raw) {
        Line::Blank => Expect::Blank,
        Line::Malformed(r) => Expect::Malformed(r),
        Line::Parsed(f) => Expect::Parsed {
            client: match f.client {
                ClientRef::Ip(ip) => format_ip(ip),
                ClientRef::Host(h) => {
                    format!("host:{}", String::from_utf8_lossy(h).to_ascii_lowercase())
                }
            },
            date: logwarden::scan::time::to_date(f.day).to_string(),
            status: f.status,
        },
    }
}

fn piece() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(b"\\\"".to_vec()),
        Just(b"\\\\".to_vec()),
        Just(b"\\x22".to_vec()),
        Just(b"\"".to_vec()),
        Just(b" ".to_vec()),
        Just(b"[".to_vec()),
        Just(b"\" 404 ".to_vec()),
        Just(b"\r".to_vec()),
        any::<u8>().prop_map(|b| vec![b]),
        "[a-zA-Z/.?=&%-]{1,6}".prop_map(String::into_bytes),
    ]
}

fn text(max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(piece(), 0..max).prop_map(|v| v.concat())
}

fn generated_line() -> impl Strategy<Value = Vec<u8>> {
    let client = prop_oneof![
        "(25[0-6]|2[0-4][0-9]|1?[0-9]?[0-9]|0[0-9]+)\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}",
        Just("::ffff:10.0.0.1".to_string()),
        Just("2001:DB8:0:0::1".to_string()),
        "[0-9a-f:]{2,10}",
        "[A-Za-z0-9][A-Za-z0-9.-]{0,8}",
        "[ -~]{0,4}",
    ];
    let ident = prop_oneof![Just("- -".to_string()), "[-a-z\\[\\] ]{0,8}"];
    let ts = prop_oneof![
        (
            1u32..32,
            0usize..12,
            0u32..25,
            prop_oneof![Just('+'), Just('-')],
            0u32..1500
        )
            .prop_map(|(d, m, h, sign, off)| format!(
                "[{d:02}/{}/2024:{h:02}:30:59 {sign}{off:04}]",
                MONTHS[m]
            )),
        "\\[[ -~]{27}",
    ];
    let status = prop_oneof!["[1-5][0-9][0-9]", "[0-9a]{0,4}"];
    let size = prop_oneof!["[0-9]{1,6}", Just("-".to_string()), "[-0-9a ]{0,3}"];
    (
        client,
        ident,
        ts,
        text(12),
        prop_oneof![Just(true), Just(true), Just(false)],
        status,
        size,
        text(10),
        any::<bool>(),
    )
        .prop_map(|(c, i, t, req, closed, st, sz, tail, crlf)| {
            let mut l = format!("{c} {i} {t} \"").into_bytes();
            l.extend(req);
            if closed {
                l.push(b'"');
            }
            l.extend(format!(" {st} {sz}").into_bytes());
            l.extend(tail);
            if crlf {
                l.push(b'\r');
            }
            l.retain(|&b| b != b'\n');
            l
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4000, ..ProptestConfig::default() })]
    #[test]
    fn scanner_matches_reference_on_generated_lines(line in generated_line()) {
        prop_assert_eq!(actual(&line, 1 << 20), reference(&line, 1 << 20), "{:?}", String::from_utf8_lossy(&line));
    }

    #[test]
    fn scanner_matches_reference_on_any_bytes(line in proptest::collection::vec(any::<u8>().prop_filter("one line", |b| *b != b'\n'), 0..120), max in 20usize..200) {
        prop_assert_eq!(actual(&line, max), reference(&line, max));
    }
}

#[test]
fn reference_agrees_on_known_lines() {
    let l = br#"172.16.14.50 - - [19/Jun/2023:10:00:00 +0000] "POST /login HTTP/1.1" 401 512 "-" "curl""#;
    assert_eq!(
        reference(l, 1 << 20),
        Expect::Parsed {
            client: "172.16.14.50".into(),
            date: "2023-06-19".into(),
            status: 401
        }
    );
    assert_eq!(actual(l, 1 << 20), reference(l, 1 << 20));
    assert_eq!(
        reference(
            b"0177.0.0.1 - - [19/Jun/2023:10:00:00 +0000] \"GET /\" 404 1",
            1 << 20
        ),
        Expect::Parsed {
            client: "host:0177.0.0.1".into(),
            date: "2023-06-19".into(),
            status: 404
        }
    );
}
