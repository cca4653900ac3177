#!/usr/bin/env python3
"""Write a deterministic, hostile fixture set of access logs.

Usage:
    python3 scripts/gen_traps.py OUTDIR [--seed N]

The same seed always gives byte-identical files (gzip headers carry no mtime
and no file name).  Python 3.11, standard library only.

The set spans ISO weeks 2023-W25 (Mon 2023-06-19 .. Sun 06-25) and 2023-W26
(Mon 06-26 .. Sun 07-02), plus one small file of calendar-edge dates
(access_2024-12-31_isoweek.log).  Each trap and the intended count it
influences is described next to the code that writes it; testdata/traps/README.md
summarises them.
"""

import argparse
import gzip
import io
import os
import random
import sys

MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun",
          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

UAS = [
    b"Mozilla/5.0 (X11; Linux x86_64; rv:109.0) Gecko/20100101 Firefox/114.0",
    b"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/114.0 Safari/537.36",
    b"curl/7.88.1",
    b"Wget/1.21.3",
    b"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
]
PATHS = [b"/", b"/index.html", b"/css/site.css", b"/js/app.js", b"/img/logo.png",
         b"/about", b"/blog/2023/06/hello-world", b"/feed.xml", b"/favicon.ico",
         b"/api/v1/items?page=2"]
OK_STATUSES = [200] * 10 + [206, 301, 302, 304, 304, 500, 503]
FAIL_STATUSES = [401, 403, 404, 404, 404, 409]   # never 400: 400s are planned


def ts(y, mo, d, h, mi, s, off="+0200"):
    """28-byte Apache timestamp `[DD/Mon/YYYY:HH:MM:SS +hhmm]` (no checks)."""
    return ("[%02d/%s/%04d:%02d:%02d:%02d %s]"
            % (d, MONTHS[mo - 1], y, h, mi, s, off)).encode("ascii")


def b(x):
    return x if isinstance(x, bytes) else str(x).encode("ascii")


def combined(client, t, request, status, size, referer=b"-", ua=None,
             ident=b"-", user=b"-"):
    """One combined-format line.  `request` is written verbatim (already
    escaped as Apache/nginx would)."""
    ua = UAS[0] if ua is None else ua
    return (b(client) + b" " + b(ident) + b" " + b(user) + b" " + t + b' "' + request
            + b'" ' + b(status) + b" " + b(size) + b' "' + b(referer) + b'" "' + ua + b'"')


def common(client, t, request, status, size, ident=b"-", user=b"-"):
    """One common-format line (no referer, no user agent: size ends the line)."""
    return (b(client) + b" " + b(ident) + b" " + b(user) + b" " + t + b' "' + request
            + b'" ' + b(status) + b" " + b(size))


class Gen:
    def __init__(self, seed):
        self.rng = random.Random(seed)
        self.noise_counter = 0

    # --- background traffic -------------------------------------------------
    def ok_client(self):
        """A client from the success pool (never fails anywhere)."""
        r = self.rng.randrange(10)
        if r < 6:
            return "198.51.100.%d" % self.rng.randrange(100, 200)
        if r < 8:
            return "2001:db8:ffff::%x" % self.rng.randrange(1, 0x200)
        return "host%d.isp.example" % self.rng.randrange(1, 60)

    def noise_fail_client(self):
        """A unique client that fails exactly once in the whole set."""
        self.noise_counter += 1
        i = self.noise_counter
        return "100.64.%d.%d" % (i // 250, i % 250 + 1)

    def req(self, path=None, method=b"GET"):
        path = self.rng.choice(PATHS) if path is None else path
        return method + b" " + path + b" HTTP/1.1"

    def background(self, y, mo, d, n, n_fail, off="+0200", fmt="combined",
                   hours=(0, 24)):
        """n lines on a day; n_fail of them are single failures of unique IPs.
        Returns a list of (sort_key, line)."""
        out = []
        for i in range(n):
            h = self.rng.randrange(*hours)
            mi, s = self.rng.randrange(60), self.rng.randrange(60)
            t = ts(y, mo, d, h, mi, s, off)
            if i < n_fail:
                client, status = self.noise_fail_client(), self.rng.choice(FAIL_STATUSES)
            else:
                client, status = self.ok_client(), self.rng.choice(OK_STATUSES)
            size = self.rng.choice([b"-", b(self.rng.randrange(100, 90000))])
            if fmt == "common":
                line = common(client, t, self.req(), status, size)
            else:
                line = combined(client, t, self.req(), status, size,
                                referer=self.rng.choice([b"-", b"https://www.example.com/"]),
                                ua=self.rng.choice(UAS))
            out.append(((h, mi, s), line))
        return out

    def at(self, h, mi, s, line):
        return ((h, mi, s), line)

    def rand_time(self, hours=(8, 20)):
        return (self.rng.randrange(*hours), self.rng.randrange(60), self.rng.randrange(60))

    def sort_and_sprinkle(self, timed, extras):
        """Sort timed lines chronologically, then insert the untimed `extras`
        (garbage, blanks) at deterministic random positions."""
        lines = [l for _, l in sorted(timed, key=lambda x: x[0])]
        for e in extras:
            lines.insert(self.rng.randrange(1, len(lines)), e)
        return lines


def write_plain(path, lines, eol=b"\n", final_eol=True):
    data = eol.join(lines) + (eol if final_eol else b"")
    with open(path, "wb") as f:
        f.write(data)
    return data


def gzip_member(data):
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as g:
        g.write(data)
    return buf.getvalue()


# ---------------------------------------------------------------------------
# the files
# ---------------------------------------------------------------------------

def f_mon(g):
    """access_2023-06-19.log: Monday, plain LF, +0200."""
    T = lambda h, mi, s: ts(2023, 6, 19, h, mi, s)
    timed = g.background(2023, 6, 19, 60, 6)
    # A: 172.16.14.50 -> 5x401 + 2x404 = 7 (suspicious Mon).
    for i in range(5):
        timed.append(g.at(9, 10 + i, 0, combined("172.16.14.50", T(9, 10 + i, 0),
                                                  b"POST /wp-login.php HTTP/1.1", 401, 512)))
    for i in range(2):
        timed.append(g.at(9, 20 + i, 0, combined("172.16.14.50", T(9, 20 + i, 0),
                                                  b"GET /.env HTTP/1.1", 404, 196)))
    # B: 203.0.113.7 -> 3 failures Mon (+3 Tue): week-only.
    for i in range(3):
        timed.append(g.at(11, i, 0, combined("203.0.113.7", T(11, i, 0),
                                             b"GET /admin HTTP/1.1", 404, 196)))
    # F: 127.0.0.1 x3 and hostname 0177.0.0.1 x2 are different clients.
    for i in range(3):
        timed.append(g.at(12, i, 0, combined("127.0.0.1", T(12, i, 0),
                                             b"GET /server-status HTTP/1.1", 404, 196)))
    for i in range(2):
        timed.append(g.at(12, 10 + i, 0, combined("0177.0.0.1", T(12, 10 + i, 0),
                                                  b"GET /server-status HTTP/1.1", 404, 196)))
    # 4 x status 400 (Mon not unusual) from 198.51.100.77 (+1 failure Thu:
    # week-only suspicious).
    for i in range(4):
        timed.append(g.at(13, i, 0, combined("198.51.100.77", T(13, i, 0),
                                             b"GET /%%% HTTP/1.1", 400, 226)))
    # 10.1.1.1: 3 failures here + 2 dated Monday at the start of Tuesday's file.
    for i in range(3):
        timed.append(g.at(14, i, 0, combined("10.1.1.1", T(14, i, 0),
                                             b"GET /phpmyadmin/ HTTP/1.1", 404, 196)))
    extras = [b"", b"   ", b"\t", b" \t "]
    return g.sort_and_sprinkle(timed, extras)


def f_tue(g):
    """access_2023-06-20.log: Tuesday, starts with Monday 23:5x lines."""
    T = lambda h, mi, s: ts(2023, 6, 20, h, mi, s)
    head = [
        combined("10.1.1.1", ts(2023, 6, 19, 23, 58, 1), b"GET /pma/ HTTP/1.1", 404, 196),
        combined("198.51.100.150", ts(2023, 6, 19, 23, 58, 30), b"GET / HTTP/1.1", 200, 5120),
        combined("10.1.1.1", ts(2023, 6, 19, 23, 59, 59), b"GET /mysql/ HTTP/1.1", 404, 196),
    ]
    timed = g.background(2023, 6, 20, 60, 6)
    # B: 203.0.113.7 Tue part (3).
    for i in range(3):
        timed.append(g.at(10, i, 0, combined("203.0.113.7", T(10, i, 0),
                                             b"GET /admin/login HTTP/1.1", 403, 199)))
    # C: ::ffff merge -> 203.0.113.9 = 3 + 2 = 5 (suspicious Tue).
    for i in range(3):
        timed.append(g.at(10, 10 + i, 0, combined("203.0.113.9", T(10, 10 + i, 0),
                                                  b"GET /backup.zip HTTP/1.1", 404, 196)))
    timed.append(g.at(10, 20, 0, combined("::ffff:203.0.113.9", T(10, 20, 0),
                                          b"GET /private/ HTTP/1.1", 403, 199)))
    timed.append(g.at(10, 21, 0, combined("::FFFF:203.0.113.9", T(10, 21, 0),
                                          b"GET /private/ HTTP/1.1", 403, 199)))
    # G: 192.0.2.44 -> 4 Tue (not suspicious) + 1 Wed = 5 in W25.
    for i in range(4):
        timed.append(g.at(11, i, 0, combined("192.0.2.44", T(11, i, 0),
                                             b"GET /old-page HTTP/1.1", 404, 196)))
    # K: Apache-escaped quotes.  Real status is 404 (5 lines -> suspicious);
    # a parser that stops at the first `" ` sees 200.
    for i in range(5):
        timed.append(g.at(12, i, 0, combined(
            "10.0.0.77", T(12, i, 0),
            b'GET /x\\" 200 1 \\"y HTTP/1.1', 404, 7,
            ua=b'Mozilla/5.0 \\"quoted\\" agent')))
    # 10.0.0.78: `\\\"` is an escaped backslash + escaped quote (not the end),
    # then `\\"` ends the request; real status 200 (5 lines, 0 failures).
    for i in range(5):
        timed.append(g.at(12, 10 + i, 0, combined(
            "10.0.0.78", T(12, 10 + i, 0),
            b'GET /a\\\\\\" 404 1 \\\\', 200, 5)))
    # 10.0.0.79: request ends with an escaped backslash: `"GET /dir\\" 401 0`.
    timed.append(g.at(12, 20, 0, combined("10.0.0.79", T(12, 20, 0),
                                          b"GET /dir\\\\", 401, 0)))
    # J: user agents containing `" 404 ` (status is 200; 0 failures).
    for i in range(3):
        timed.append(g.at(13, i, 0, combined(
            "10.0.0.99", T(13, i, 0), b"GET /robots.txt HTTP/1.1", 200, 68,
            ua=b'Mozilla/5.0 \\" 404 0 \\"evil')))
    for i in range(2):
        timed.append(g.at(13, 10 + i, 0, combined(
            "10.0.0.99", T(13, 10 + i, 0), b"GET /sitemap.xml HTTP/1.1", 200, 1024,
            referer=b'https://x.example/" 404 12 "', ua=b'raw" 404 512 "quote')))
    # I: IPs inside referer / user agent; the client is 198.51.100.23 (6x404).
    for i in range(6):
        timed.append(g.at(14, i, 0, combined(
            "198.51.100.23", T(14, i, 0), b"GET /wp-admin/ HTTP/1.1", 404, 196,
            referer=b"http://10.66.66.66/",
            ua=b"Mozilla/5.0 (X-Forwarded-For: 10.66.66.66, 2001:db8::66) 10.66.66.66 - - ")))
    # L: nginx \x22 escapes (2 failures of 10.0.0.80).
    for i in range(2):
        timed.append(g.at(15, i, 0, combined(
            "10.0.0.80", T(15, i, 0), b"GET /search?q=\\x22><script>alert(1)</script> HTTP/1.1",
            404, 0, ua=b"sqlmap/1.7 \\x22")))
    # user field with a space (ident/user are "any bytes without the time opener").
    timed.append(g.at(16, 0, 0, combined("10.0.0.81", T(16, 0, 0), b"GET /private/ HTTP/1.1",
                                         401, 381, user=b"john doe")))
    # M: a Basic-auth user name holding a whole fake timestamp (Apache escapes only `"`, `\`
    # and control bytes there): 10.0.0.84 5x401, suspicious only if the time is the one
    # that opens the request.
    for i in range(5):
        timed.append(g.at(16, 1, i, combined(
            "10.0.0.84", T(16, 1, i), b"GET /admin/ HTTP/1.1", 401, 381,
            user=b"x " + ts(2020, 1, 1, 0, 0, 0) + b" y")))
    # `"GET /"` without a protocol (parsed) and `"-" 408 -` (not a failure).
    timed.append(g.at(16, 5, 0, combined("10.0.0.82", T(16, 5, 0), b"GET /", 404, 0)))
    timed.append(g.at(16, 6, 0, combined("10.0.0.83", T(16, 6, 0), b"-", 408, b"-",
                                         ua=b"-")))
    lines = g.sort_and_sprinkle(timed, [b""])
    return head + lines


def f_wed_crlf(g):
    """access_2023-06-21_crlf.log: Wednesday, every line ends with CRLF."""
    T = lambda h, mi, s: ts(2023, 6, 21, h, mi, s)
    timed = g.background(2023, 6, 21, 50, 5)
    # D: one IPv6 address in five textual forms -> 5 (suspicious Wed) as
    # 2001:db8:85a3::8a2e:370:7334.
    forms = ["2001:db8:85a3::8a2e:370:7334", "2001:db8:85a3::8a2e:370:7334",
             "2001:DB8:85A3::8A2E:370:7334", "2001:0db8:85a3:0000:0000:8a2e:0370:7334",
             "2001:db8:85a3:0:0:8a2e:370:7334"]
    for i, f in enumerate(forms):
        timed.append(g.at(9, i, 0, combined(f, T(9, i, 0), b"GET /cgi-bin/test.cgi HTTP/1.1",
                                            404, 196)))
    # exactly 5 status-400 lines (TLS handshakes, 5 distinct clients) -> unusual Wed.
    for i in range(5):
        timed.append(g.at(10, i, 0, combined("45.148.10.%d" % (i + 1), T(10, i, 0),
                                             b"\\x16\\x03\\x01", 400, 226, ua=b"-")))
    # G: 192.0.2.44 fifth failure of the week.
    timed.append(g.at(11, 0, 0, combined("192.0.2.44", T(11, 0, 0), b"GET /old-page HTTP/1.1",
                                         404, 196)))
    # Common-format lines inside a combined file: size is the last field, so a
    # scanner that keeps the `\r` sees `196\r` (bad_size).  10.21.0.1: 5x404.
    for i in range(5):
        timed.append(g.at(12, i, 0, common("10.21.0.1", T(12, i, 0),
                                           b"GET /missing HTTP/1.1", 404, 196)))
    # Invalid UTF-8 in request, user agent and user (all parsed).
    timed.append(g.at(13, 0, 0, combined("10.21.0.2", T(13, 0, 0), b"GET /caf\xe9 HTTP/1.1",
                                         404, 196, ua=b"Mozilla/5.0 \xff\xfe\xfd")))
    timed.append(g.at(13, 1, 0, combined("10.21.0.3", T(13, 1, 0), b"GET / HTTP/1.1",
                                         200, 512, user=b"\xc3\x28")))
    lines = g.sort_and_sprinkle(timed, [
        b"",                                   # blank (CRLF -> "\r" -> "")
        b"\x00" * 300,                         # only NUL padding: blank
        b"  ",                                 # blank
        b"h\xf6st.example - - " + T(13, 5, 0) + b' "GET / HTTP/1.1" 404 0 "-" "-"',  # bad_client
    ])
    # copytruncate hole: NUL padding in front of a valid 404 line.
    lines.insert(len(lines) // 2, b"\x00" * 4096 + combined(
        "10.21.0.4", T(14, 0, 0), b"GET /after-truncate HTTP/1.1", 404, 196))
    return lines


def f_thu_offsets(g):
    """access_2023-06-22_offsets.log: Thursday, mixed UTC offsets."""
    def T(h, mi, s, off, d=22):
        return ts(2023, 6, d, h, mi, s, off)
    timed = g.background(2023, 6, 22, 40, 4, off="+0200", hours=(3, 21))
    # E: hostname case folding: 3 + 3 -> crawler-7.example.net = 6.
    for i in range(3):
        timed.append(g.at(8, i, 0, combined("Crawler-7.Example.NET", T(8, i, 0, "+0200"),
                                            b"GET /private/ HTTP/1.1", 403, 199)))
        timed.append(g.at(8, 10 + i, 0, combined("crawler-7.example.net", T(8, 10 + i, 0, "+0200"),
                                                 b"GET /private/ HTTP/1.1", 404, 196)))
    # 10.5.5.5 at -0700: 3 at 12:00 (UTC 19:00 Thu) + 2 at 23:30 (UTC Fri
    # 06:30): 5 on Thu by written date; 3 Thu + 2 Fri with --utc.
    for i in range(3):
        timed.append(g.at(12, i, 0, combined("10.5.5.5", T(12, i, 0, "-0700"),
                                             b"GET /login HTTP/1.1", 401, 0)))
    for i in range(2):
        timed.append(g.at(23, 30 + i, 0, combined("10.5.5.5", T(23, 30 + i, 0, "-0700"),
                                                  b"GET /login HTTP/1.1", 401, 0)))
    # 10.14.0.1 at +1400: 06:00 local = Wed 16:00 UTC (5x403).
    for i in range(5):
        timed.append(g.at(6, i, 0, combined("10.14.0.1", T(6, i, 0, "+1400"),
                                            b"GET /etc/passwd HTTP/1.1", 403, 199)))
    # 10.45.0.1 at +0545: 00:10 local = Wed 18:25 UTC (2x404).
    for i in range(2):
        timed.append(g.at(0, 10 + i, 0, combined("10.45.0.1", T(0, 10 + i, 0, "+0545"),
                                                 b"GET /nepal HTTP/1.1", 404, 196)))
    # 10.12.0.1 at -1200: 22:00 local = Fri 10:00 UTC (2x404).
    for i in range(2):
        timed.append(g.at(22, i, 0, combined("10.12.0.1", T(22, i, 0, "-1200"),
                                             b"GET /baker-island HTTP/1.1", 404, 196)))
    # 198.51.100.77: fifth failure of the week (4x400 on Monday).
    timed.append(g.at(14, 0, 0, combined("198.51.100.77", T(14, 0, 0, "+0200"),
                                         b"GET /%%% HTTP/1.1", 404, 196)))
    # second 00:60 is a valid leap second (SS 00-60); mid-day, so no date effect.
    timed.append(g.at(12, 30, 60, combined("198.51.100.160", T(12, 30, 60, "+0000"),
                                           b"GET / HTTP/1.1", 200, 512)))
    return g.sort_and_sprinkle(timed, [])


def f_fri_garbage(g, one_mb_line):
    """access_2023-06-23_garbage.log: Friday; garbage, every malformed reason,
    TLS handshakes, 20 KB and ~1 MB lines."""
    T = lambda h, mi, s: ts(2023, 6, 23, h, mi, s)
    timed = g.background(2023, 6, 23, 60, 6)
    # TLS handshakes: 45.155.205.233 6x400 -> unusual Fri, suspicious {"400": 6}.
    for i in range(6):
        timed.append(g.at(3, i, 7, combined("45.155.205.233", T(3, i, 7),
                                            b"\\x16\\x03\\x01", 400, 226, ua=b"-")))
    # `"-" 408 -` (not a failure).
    for i in range(3):
        timed.append(g.at(4, i, 0, combined("10.40.8.%d" % (i + 1), T(4, i, 0), b"-", 408,
                                            b"-", ua=b"-")))
    # H: 10.9.8.7 exactly 5x404; one of them carries a 20 KB user agent.
    for i in range(4):
        timed.append(g.at(5, i, 0, combined("10.9.8.7", T(5, i, 0), b"GET /x HTTP/1.1",
                                            404, 196)))
    timed.append(g.at(5, 10, 0, combined("10.9.8.7", T(5, 10, 0), b"GET /x HTTP/1.1", 404,
                                         196, ua=b"Mozilla/5.0 " + b"A" * 20000)))
    # 10.9.8.6: 5x404; one of them is the ~1 MB line (huge request path).
    for i in range(4):
        timed.append(g.at(6, i, 0, combined("10.9.8.6", T(6, i, 0), b"GET /y HTTP/1.1",
                                            404, 196)))
    timed.append(g.at(6, 10, 0, one_mb_line))
    # `1.2.3.256` is not IPv4 but is a valid hostname (parsed, 404).
    timed.append(g.at(7, 0, 0, combined("1.2.3.256", T(7, 0, 0), b"GET / HTTP/1.1", 404, 0)))
    # `GET /` without protocol, 200.
    timed.append(g.at(7, 1, 0, combined("10.40.9.1", T(7, 1, 0), b"GET /", 200, 12)))

    V = lambda client, t, req, st, sz: combined(client, t, req, st, sz)
    good_t = T(8, 0, 0)
    garbage = [
        # not_access_line
        b"hello world",
        b"GET / HTTP/1.1",
        b"10.99.0.1 - - " + good_t + b" GET / HTTP/1.1 200 5",          # no quote at all
        # bad_client
        b"<html><head><title>500</title></head>",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
        b"-",
        V("1.2.3.4:8080", good_t, b"GET / HTTP/1.1", 200, 5),
        V("[2001:db8::1]", good_t, b"GET / HTTP/1.1", 200, 5),
        b" " + V("10.99.0.3", good_t, b"GET / HTTP/1.1", 200, 5),        # leading space
        # bad_time
        V("10.99.0.4", b"[23/Foo/2023:08:00:00 +0200]", b"GET / HTTP/1.1", 200, 5),
        V("10.99.0.5", b"[23/jun/2023:08:00:00 +0200]", b"GET / HTTP/1.1", 200, 5),
        V("10.99.0.6", b"[31/Jun/2023:08:00:00 +0200]", b"GET / HTTP/1.1", 200, 5),
        V("10.99.0.7", b"[23/Jun/2023:24:00:00 +0200]", b"GET / HTTP/1.1", 200, 5),
        V("10.99.0.8", b"[23/Jun/2023:08:00:61 +0200]", b"GET / HTTP/1.1", 200, 5),
        V("10.99.0.9", b"[23/Jun/2023:08:00:00 +2500]", b"GET / HTTP/1.1", 200, 5),
        V("10.99.0.10", b"[3/Jun/2023:08:00:00 +0200]", b"GET / HTTP/1.1", 200, 5),
        V("10.99.0.11", b"[23/Jun/2023:08:00:00]", b"GET / HTTP/1.1", 200, 5),
        # bad_request (quote never closed)
        b"10.99.0.12 - - " + good_t + b' "GET /unterminated HTTP/1.1 404 5',
        b"10.99.0.13 - - " + good_t + b' "GET /x\\" 404 5',
        # bad_status
        V("10.99.0.14", good_t, b"GET / HTTP/1.1", 0, 5),
        V("10.99.0.15", good_t, b"GET / HTTP/1.1", 999, 5),
        V("10.99.0.16", good_t, b"GET / HTTP/1.1", b"abc", 5),
        V("10.99.0.17", good_t, b"GET / HTTP/1.1", b"099", 5),
        V("10.99.0.18", good_t, b"GET / HTTP/1.1", 2000, 5),
        # bad_size
        V("10.99.0.19", good_t, b"GET / HTTP/1.1", 404, b"abc"),
        V("10.99.0.20", good_t, b"GET / HTTP/1.1", 404, b"-1"),
        V("10.99.0.21", good_t, b"GET / HTTP/1.1", 404, b"12a"),
        b"10.99.0.22 - - " + good_t + b' "GET / HTTP/1.1" 404',           # no size
        # blanks
        b"", b"    ",
    ]
    return g.sort_and_sprinkle(timed, garbage)


def f_sat_vhost(g):
    """access_2023-06-24_vhost.log: Saturday, Debian vhost_combined."""
    T = lambda h, mi, s: ts(2023, 6, 24, h, mi, s)
    vhosts = [b"www.example.com:443", b"example.org:80", b"shop.example.net:8443"]
    timed = []
    for (k, line) in g.background(2023, 6, 24, 40, 4):
        timed.append((k, g.rng.choice(vhosts) + b" " + line))
    # 10.24.0.1 6x404 -> suspicious Sat.
    for i in range(6):
        timed.append(g.at(9, i, 0, b"www.example.com:443 " + combined(
            "10.24.0.1", T(9, i, 0), b"GET /wp-login.php HTTP/1.1", 404, 196)))
    # IPv6 and ::ffff clients in a vhost file; 2 x status 400.
    timed.append(g.at(10, 0, 0, b"example.org:80 " + combined(
        "2001:db8::42", T(10, 0, 0), b"GET /bad%zz HTTP/1.1", 400, 226)))
    timed.append(g.at(10, 1, 0, b"example.org:80 " + combined(
        "::ffff:10.24.0.1", T(10, 1, 0), b"GET /bad%zz HTTP/1.1", 400, 226)))
    # A vhost line that fails on its status (vhost token is fine).
    timed.append(g.at(10, 2, 0, b"example.org:80 " + combined(
        "10.24.0.2", T(10, 2, 0), b"GET / HTTP/1.1", b"abc", 0)))
    return g.sort_and_sprinkle(timed, [b""])


def f_sun_common(g):
    """access_2023-06-25_common.log: Sunday, common log format."""
    T = lambda h, mi, s, off="+0200": ts(2023, 6, 25, h, mi, s, off)
    timed = g.background(2023, 6, 25, 40, 4, fmt="common")
    # 192.0.2.200: 3 Sun + 3 Mon 06-26: never suspicious (different ISO weeks;
    # a Sunday-start week would make it 6).
    for i in range(3):
        timed.append(g.at(18, i, 0, common("192.0.2.200", T(18, i, 0), b"GET /x HTTP/1.1",
                                           404, 196)))
    # 10.12.12.12: 5x401 at 20:00 -1200 = Mon 06-26 08:00 UTC (crosses the
    # ISO week with --utc).
    for i in range(5):
        timed.append(g.at(20, i, 0, common("10.12.12.12", T(20, i, 0, "-1200"),
                                           b"POST /xmlrpc.php HTTP/1.1", 401, 0)))
    return g.sort_and_sprinkle(timed, [b""])


def f_multi_gz(g):
    """access_2023-06-26_multi.log.gz: Mon-Wed of W26, multi-member gzip;
    one line is split across two members, one member is empty."""
    def T(d, h, mi, s):
        return ts(2023, 6, d, h, mi, s)
    mon = g.background(2023, 6, 26, 40, 4)
    for i in range(3):
        mon.append(g.at(9, i, 0, combined("192.0.2.200", T(26, 9, i, 0), b"GET /x HTTP/1.1",
                                          404, 196)))
    # P: 198.18.0.5: 2 Mon + 2 Tue + 1 Wed (single gz) = 5 in W26 only.
    for i in range(2):
        mon.append(g.at(10, i, 0, combined("198.18.0.5", T(26, 10, i, 0),
                                           b"GET /cgi-bin/ HTTP/1.1", 403, 199)))
    # Q: one IPv6 address in three forms, RFC 5952 picks the first of two equal
    # zero runs: 2001:db8::1:0:0:1.  3 Mon + 3 Tue = 6 in W26 only.
    for i, f in enumerate(["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1", "2001:DB8:0:0:1::1"]):
        mon.append(g.at(11, i, 0, combined(f, T(26, 11, i, 0), b"GET /.git/config HTTP/1.1",
                                           404, 196)))
    tue = g.background(2023, 6, 27, 40, 4)
    for i in range(2):
        tue.append(g.at(10, i, 0, combined("198.18.0.5", T(27, 10, i, 0),
                                           b"GET /cgi-bin/ HTTP/1.1", 403, 199)))
    for i, f in enumerate(["2001:db8::1:0:0:1", "2001:0DB8:0000:0000:0001:0000:0000:0001",
                           "2001:db8:0:0:1:0:0:1"]):
        tue.append(g.at(11, i, 0, combined(f, T(27, 11, i, 0), b"GET /.git/HEAD HTTP/1.1",
                                           404, 196)))
    for i in range(2):   # 2 x status 400 on Tue (W26 total: 4 -> not unusual)
        tue.append(g.at(12, i, 0, combined("10.27.0.%d" % (i + 1), T(27, 12, i, 0),
                                           b"\\x16\\x03\\x01", 400, 226, ua=b"-")))
    wed = g.background(2023, 6, 28, 30, 3)
    mon_lines = g.sort_and_sprinkle(mon, [])
    tue_lines = g.sort_and_sprinkle(tue, [])
    wed_lines = g.sort_and_sprinkle(wed, [b""])
    half = len(mon_lines) // 2
    part1 = b"\n".join(mon_lines[:half]) + b"\n"
    rest = b"\n".join(mon_lines[half:]) + b"\n"
    # split the first line of `rest` in the middle: member boundary mid-line.
    cut = rest.index(b"\n") // 2
    members = [part1 + rest[:cut], rest[cut:], b"",
               b"\n".join(tue_lines) + b"\n", b"\n".join(wed_lines) + b"\n"]
    plain = b"".join(members)
    return b"".join(gzip_member(m) for m in members), plain


def f_single_gz(g):
    """access_2023-06-28_single.log.gz: Wed-Thu of W26, one gzip member;
    contains a line of exactly 4 MiB (parsed) and one of 4 MiB + 1 (oversize)."""
    def T(d, h, mi, s):
        return ts(2023, 6, d, h, mi, s)
    wed = g.background(2023, 6, 28, 30, 3)
    wed.append(g.at(10, 0, 0, combined("198.18.0.5", T(28, 10, 0, 0),
                                       b"GET /cgi-bin/ HTTP/1.1", 403, 199)))
    # 10.28.0.1: 5x409 -> suspicious Wed with by_status {"409": 5}.
    for i in range(5):
        wed.append(g.at(11, i, 0, combined("10.28.0.1", T(28, 11, i, 0),
                                           b"PUT /api/v1/items/7 HTTP/1.1", 409, 88)))
    # boundary lines: exactly 4194304 bytes (parsed 404) / 4194305 (oversize).
    limit = 4 * 1024 * 1024

    def sized(client, n, status):
        stub = combined(client, T(28, 12, 0, 0), b"GET /", status, 196)
        pad = n - len(stub)
        return combined(client, T(28, 12, 0, 0), b"GET /" + b"B" * pad, status, 196)
    exact = sized("10.28.0.2", limit, 404)
    over = sized("10.28.0.3", limit + 1, 404)
    assert len(exact) == limit and len(over) == limit + 1
    wed.append(g.at(12, 0, 0, exact))
    wed.append(g.at(12, 0, 1, over))
    thu = g.background(2023, 6, 29, 20, 2, hours=(0, 6))
    lines = g.sort_and_sprinkle(wed, []) + g.sort_and_sprinkle(thu, [])
    plain = b"\n".join(lines) + b"\n"
    return gzip_member(plain), plain


def f_thu_sun(g):
    """access_2023-06-29.log: Thu 06-29 .. Sun 07-02; starts with Wed 23:59
    lines; the last line has no newline."""
    def T(mo, d, h, mi, s):
        return ts(2023, mo, d, h, mi, s)
    head = [combined("198.51.100.151", T(6, 28, 23, 59, 58), b"GET / HTTP/1.1", 200, 5120)]
    timed = []
    for (mo, d) in [(6, 29), (6, 30), (7, 1), (7, 2)]:
        for k, line in g.background(2023, mo, d, 25, 2):
            timed.append(((mo, d) + k, line))
    # 10.30.0.1: 4 Fri + 4 Sat -> 8 in W26 only.
    for i in range(4):
        timed.append(((6, 30, 9, i, 0), combined("10.30.0.1", T(6, 30, 9, i, 0),
                                                 b"GET /wp-json/ HTTP/1.1", 404, 196)))
        timed.append(((7, 1, 9, i, 0), combined("10.30.0.1", T(7, 1, 9, i, 0),
                                                b"GET /wp-json/ HTTP/1.1", 404, 196)))
    # 2 x status 400 on Sat 07-01.
    for i in range(2):
        timed.append(((7, 1, 10, i, 0), combined("10.31.0.%d" % (i + 1), T(7, 1, 10, i, 0),
                                                 b"GET /%ZZ HTTP/1.1", 400, 226)))
    # 10.2.7.2: 4 on Sun 07-02 ... and the 5th is the last line (no newline).
    for i in range(4):
        timed.append(((7, 2, 21, i, 0), combined("10.2.7.2", T(7, 2, 21, i, 0),
                                                 b"GET /admin HTTP/1.1", 401, 0)))
    lines = g.sort_and_sprinkle(timed, [b""])
    last = combined("10.2.7.2", T(7, 2, 23, 59, 59), b"GET /admin HTTP/1.1", 401, 0)
    return head + lines + [last]


def f_isoweek(g):
    """access_2024-12-31_isoweek.log: calendar edges (ISO year != year)."""
    return [
        combined("10.77.0.1", ts(2024, 2, 29, 12, 0, 0, "+0000"), b"GET / HTTP/1.1", 404, 0),  # leap day 2024-W09
        combined("10.77.0.1", ts(2023, 2, 29, 12, 0, 0, "+0000"), b"GET / HTTP/1.1", 404, 0),  # bad_time
        combined("10.77.0.1", ts(1900, 2, 29, 12, 0, 0, "+0000"), b"GET / HTTP/1.1", 404, 0),  # bad_time
        combined("10.77.0.2", ts(2024, 12, 31, 12, 0, 0, "+0000"), b"GET / HTTP/1.1", 404, 0),  # 2025-W01
        combined("10.77.0.3", ts(2021, 1, 1, 12, 0, 0, "+0000"), b"GET / HTTP/1.1", 404, 0),    # 2020-W53
        combined("10.77.0.4", ts(2023, 1, 1, 12, 0, 0, "+0000"), b"GET / HTTP/1.1", 404, 0),    # 2022-W52
        combined("10.77.0.5", ts(2000, 2, 29, 12, 0, 0, "+0000"), b"GET / HTTP/1.1", 200, 0),  # 2000-W09
    ]


def generate(outdir, seed):
    g = Gen(seed)
    os.makedirs(outdir, exist_ok=True)
    written = []

    def plain(name, lines, **kw):
        p = os.path.join(outdir, name)
        write_plain(p, lines, **kw)
        written.append(p)

    # ~1 MiB line (huge request path), built once.
    one_mb = combined("10.9.8.6", ts(2023, 6, 23, 6, 10, 0),
                      b"GET /" + b"a" * (1024 * 1024 - 100) + b" HTTP/1.1", 404, 196)

    plain("access_2023-06-19.log", f_mon(g))
    plain("access_2023-06-20.log", f_tue(g))
    plain("access_2023-06-21_crlf.log", f_wed_crlf(g), eol=b"\r\n")
    plain("access_2023-06-22_offsets.log", f_thu_offsets(g))
    plain("access_2023-06-23_garbage.log", f_fri_garbage(g, one_mb))
    plain("access_2023-06-24_vhost.log", f_sat_vhost(g))
    plain("access_2023-06-25_common.log", f_sun_common(g))
    gz, _ = f_multi_gz(g)
    p = os.path.join(outdir, "access_2023-06-26_multi.log.gz")
    with open(p, "wb") as f:
        f.write(gz)
    written.append(p)
    gz, _ = f_single_gz(g)
    p = os.path.join(outdir, "access_2023-06-28_single.log.gz")
    with open(p, "wb") as f:
        f.write(gz)
    written.append(p)
    plain("access_2023-06-29.log", f_thu_sun(g), final_eol=False)
    plain("access_2024-12-31_isoweek.log", f_isoweek(g))
    return written


def main(argv=None):
    ap = argparse.ArgumentParser(description="Write the hostile access-log fixture set.")
    ap.add_argument("outdir")
    ap.add_argument("--seed", type=int, default=20230619)
    args = ap.parse_args(argv)
    for p in generate(args.outdir, args.seed):
        print(p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
