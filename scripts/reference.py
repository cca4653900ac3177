#!/usr/bin/env python3
"""Slow, deliberately simple reference implementation of docs/semantics.md.

It is an independent oracle for logwarden: it classifies every physical line
(blank / parsed / malformed with one reason), normalises clients, assigns days
and ISO weeks, applies the detection rules and prints the subset of
logwarden's ``--json`` output that the tests compare.

Usage:
    python3 scripts/reference.py [--utc] [--codes 400,401,403,404,409]
        [--threshold 5] [--bad-request-threshold 5]
        [--format auto|combined|vhost_combined] [--max-line-bytes N]
        [--trace] FILE...

``--trace`` prints one tab-separated row per physical line instead of JSON
(path, line number, kind, reason-or-client, date, status); handy for diffing.

Python 3.11, standard library only.  Speed is not a goal; readability is.

Interpretations of points docs/semantics.md leaves open are marked
"INTERPRETATION" below and listed in testdata/traps/README.md.
"""

import argparse
import datetime
import gzip
import ipaddress
import json
import sys
from collections import Counter

REASONS = [
    "oversize",
    "bad_client",
    "not_access_line",
    "bad_time",
    "bad_request",
    "bad_status",
    "bad_size",
]

MONTHS = {
    b"Jan": 1, b"Feb": 2, b"Mar": 3, b"Apr": 4, b"May": 5, b"Jun": 6,
    b"Jul": 7, b"Aug": 8, b"Sep": 9, b"Oct": 10, b"Nov": 11, b"Dec": 12,
}

DEFAULT_MAX_LINE_BYTES = 4 * 1024 * 1024  # 4 MiB = 4194304

DIGITS = b"0123456789"
HEX_COLON_DOT = set(b"0123456789abcdefABCDEF:.")
HOST_CHARS = set(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
ALNUM = set(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")


class Malformed(Exception):
    """Raised by the field parser with the first failing reason."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


# --------------------------------------------------------------------------
# calendar helpers (proleptic Gregorian; years 0000..9999 and one step past)
# --------------------------------------------------------------------------

def is_leap(year):
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def days_in_month(year, month):
    if month == 2:
        return 29 if is_leap(year) else 28
    if month in (4, 6, 9, 11):
        return 30
    return 31


def _year_shift(year):
    # datetime.date only covers years 1..9999.  The Gregorian calendar repeats
    # exactly every 400 years (146097 days = 20871 whole weeks), so weekdays
    # and ISO weeks are unchanged by moving a date 400 years.
    if year < 1000:
        return 400
    if year > 9000:
        return -400
    return 0


def add_days(ymd, delta):
    y, m, d = ymd
    s = _year_shift(y)
    dt = datetime.date(y + s, m, d) + datetime.timedelta(days=delta)
    return (dt.year - s, dt.month, dt.day)


def iso_week(ymd):
    """Return (iso_year, iso_week, monday_ymd, sunday_ymd)."""
    y, m, d = ymd
    s = _year_shift(y)
    dt = datetime.date(y + s, m, d)
    iy, iw, iwd = dt.isocalendar()
    monday = dt - datetime.timedelta(days=iwd - 1)
    sunday = monday + datetime.timedelta(days=6)
    return (
        iy - s,
        iw,
        (monday.year - s, monday.month, monday.day),
        (sunday.year - s, sunday.month, sunday.day),
    )


def fmt_date(ymd):
    return "%04d-%02d-%02d" % ymd


# --------------------------------------------------------------------------
# field parsers
# --------------------------------------------------------------------------

def all_digits(b):
    return len(b) > 0 and all(c in DIGITS for c in b)


def parse_ipv4(tok):
    """Strict dotted quad: 4 parts, 1-3 digits each, 0-255, no leading zeros."""
    parts = tok.split(b".")
    if len(parts) != 4:
        return None
    for p in parts:
        if not all_digits(p) or len(p) > 3:
            return None
        if len(p) > 1 and p[0:1] == b"0":
            return None
        if int(p) > 255:
            return None
    return tok.decode("ascii")


def parse_ipv6(tok):
    """Any textual IPv6 form, normalised; IPv4-mapped addresses become IPv4."""
    # INTERPRETATION: no zone id (`%eth0`) and no brackets; only hex digits,
    # ':' and '.' (for an embedded dotted quad) are accepted.
    if not tok or not all(c in HEX_COLON_DOT for c in tok):
        return None
    try:
        addr = ipaddress.IPv6Address(tok.decode("ascii"))
    except ValueError:
        return None
    # INTERPRETATION: every address in ::ffff:0:0/96 is the IPv4 address,
    # whatever its textual form (`::ffff:1.2.3.4`, `::FFFF:102:304`, ...).
    # IPv4-compatible `::1.2.3.4` (deprecated) stays IPv6 (`::102:304`).
    mapped = addr.ipv4_mapped
    if mapped is not None:
        return str(mapped)
    return addr.compressed  # RFC 5952: lowercase, longest zero run compressed


def parse_hostname(tok):
    if not (1 <= len(tok) <= 253):
        return None
    if tok[0] not in ALNUM:
        return None
    if not all(c in HOST_CHARS for c in tok):
        return None
    return tok.decode("ascii").lower()


def normalise_client(tok):
    """Return the normalised client string, or None (bad_client)."""
    v4 = parse_ipv4(tok)
    if v4 is not None:
        return v4
    if b":" in tok:
        return parse_ipv6(tok)
    return parse_hostname(tok)


def parse_timestamp(b):
    """Validate a 28-byte `[DD/Mon/YYYY:HH:MM:SS +hhmm]`; return fields or None."""
    if len(b) != 28:
        return None
    if b[0:1] != b"[" or b[27:28] != b"]":
        return None
    if b[3:4] != b"/" or b[7:8] != b"/" or b[12:13] != b":":
        return None
    if b[15:16] != b":" or b[18:19] != b":" or b[21:22] != b" ":
        return None
    if b[22:23] not in (b"+", b"-"):
        return None
    dd, mon, yyyy = b[1:3], b[4:7], b[8:12]
    hh, mi, ss = b[13:15], b[16:18], b[19:21]
    oh, om = b[23:25], b[25:27]
    for f in (dd, yyyy, hh, mi, ss, oh, om):
        if not all_digits(f):
            return None
    if mon not in MONTHS:  # case-sensitive, as Apache writes it
        return None
    year, month, day = int(yyyy), MONTHS[mon], int(dd)
    if not (1 <= day <= days_in_month(year, month)):
        return None
    hour, minute, second = int(hh), int(mi), int(ss)
    if hour > 23 or minute > 59 or second > 60:
        return None
    off_h, off_m = int(oh), int(om)
    if off_h > 23 or off_m > 59:
        return None
    sign = 1 if b[22:23] == b"+" else -1
    return {
        "date": (year, month, day),
        "hour": hour,
        "minute": minute,
        "offset_minutes": sign * (off_h * 60 + off_m),
    }


def utc_date(ts):
    """Calendar date of the instant in UTC (local time minus offset)."""
    # INTERPRETATION: seconds never carry (SS=60 stays in its minute), so only
    # hour, minute and offset decide whether the UTC date moves by one day.
    local_min = ts["hour"] * 60 + ts["minute"]
    shift = (local_min - ts["offset_minutes"]) // 1440  # floor: -1, 0 or +1
    return add_days(ts["date"], shift)


# Days are UTC days (--utc); set by main().
UTC_DAYS = False


def in_day_range(ts):
    """A valid timestamp whose day (UTC with --utc) has a four-digit year in the
    report: 0000-01-03 (Monday of 0000-W01) to 9999-12-26 (Sunday of 9999-W51)."""
    if ts is None:
        return False
    day = utc_date(ts) if UTC_DAYS else ts["date"]
    return (0, 1, 3) <= day <= (9999, 12, 26)


def parse_access_line(line, vhost):
    """Parse one non-blank, non-oversize line.

    Returns (client, timestamp_fields, status) or raises Malformed(reason).
    Checks happen left to right; the first failure wins.
    """
    n = len(line)
    pos = 0

    # [vhost:port SP]
    if vhost:
        sp = line.find(b" ")
        tok = line if sp < 0 else line[:sp]
        host, colon, port = tok.rpartition(b":")
        # INTERPRETATION: a missing/invalid `host:port` token in a
        # vhost_combined file is reported as bad_client (it is the leftmost
        # field, part of "who made the request").
        if not colon or not host or not all_digits(port) or len(port) > 5:
            raise Malformed("bad_client")
        if sp < 0:
            raise Malformed("not_access_line")
        pos = sp + 1

    # client SP
    sp = line.find(b" ", pos)
    client_tok = line[pos:] if sp < 0 else line[pos:sp]
    client = normalise_client(client_tok)
    if client is None:
        raise Malformed("bad_client")
    if sp < 0:
        raise Malformed("not_access_line")
    client_end = sp  # index of the SP that ends the client

    # not_access_line: no time opener at all. (A line with openers but no `"` is
    # decided by the time search below: bad_time when no opener starts a valid
    # timestamp, as docs/json-schema.md says.)
    first_open = line.find(b" [", client_end)
    if first_open < 0:
        raise Malformed("not_access_line")

    # ident SP user: any bytes; the time is the first ` [` that is followed by
    # a valid 28-byte timestamp and then ` "` (the request opener), so a user
    # name holding a whole fake ` [timestamp]` (Basic auth) is skipped.
    # Valid timestamps none of which is followed by ` "`: not_access_line
    # (bad_request is only "quote never closed"); no valid one: bad_time.
    k = first_open
    found = False
    valid_without_request = False
    while k >= 0:
        if in_day_range(parse_timestamp(line[k + 1:k + 29])):
            if line[k + 29:k + 31] == b' "':
                found = True
                break
            valid_without_request = True
        k = line.find(b" [", k + 1)
    if not found:
        raise Malformed("not_access_line" if valid_without_request else "bad_time")
    ts = parse_timestamp(line[k + 1:k + 29])
    p = k + 29  # just after the closing `]`
    start = p + 2
    j = start
    end = -1
    while True:
        j = line.find(b'"', j)
        if j < 0:
            break
        backslashes = 0
        b = j - 1
        while b >= start and line[b:b + 1] == b"\\":
            backslashes += 1
            b -= 1
        if backslashes % 2 == 0:
            end = j
            break
        j += 1
    if end < 0:
        raise Malformed("bad_request")

    # SP status (SP | EOL)
    q = end + 1
    # INTERPRETATION: a missing SP after the closing quote is bad_status.
    if line[q:q + 1] != b" ":
        raise Malformed("bad_status")
    st = line[q + 1:q + 4]
    if len(st) != 3 or not all_digits(st) or not (100 <= int(st) <= 599):
        raise Malformed("bad_status")
    after = q + 4
    if after < n and line[after:after + 1] != b" ":
        raise Malformed("bad_status")
    status = int(st)

    # SP size (SP | EOL)
    # INTERPRETATION: a line that ends right after the status (no size) is
    # bad_size: the grammar requires the size field.
    if after >= n:
        raise Malformed("bad_size")
    s = after + 1
    sp = line.find(b" ", s)
    size_tok = line[s:] if sp < 0 else line[s:sp]
    if not (size_tok == b"-" or all_digits(size_tok)):
        raise Malformed("bad_size")

    # whatever follows the size is ignored
    return client, ts, status


def prepare(raw):
    """Physical line -> logical bytes: drop one trailing CR, drop leading NULs,
    then one UTF-8 byte order mark."""
    if raw.endswith(b"\r"):
        raw = raw[:-1]
    raw = raw.lstrip(b"\x00")
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    return raw


def is_blank(line):
    return all(c in b" \t" for c in line)  # also true for b""


def classify(line, vhost, max_bytes):
    """line: already prepared.  Returns ('blank',), ('malformed', reason) or
    ('parsed', client, ts, status)."""
    # INTERPRETATION: blank is decided before oversize (a huge run of spaces is
    # blank).
    if is_blank(line):
        return ("blank",)
    if len(line) > max_bytes:
        return ("malformed", "oversize")
    try:
        client, ts, status = parse_access_line(line, vhost)
    except Malformed as e:
        return ("malformed", e.reason)
    return ("parsed", client, ts, status)


# --------------------------------------------------------------------------
# input
# --------------------------------------------------------------------------

def read_lines(path):
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)  # handles multi-member streams
    if not data:
        return []
    lines = data.split(b"\n")
    if lines[-1] == b"":  # the file ended with "\n": no extra line
        lines.pop()
    return lines


def detect_format(prepared_lines, max_bytes):
    """First 10 lines neither blank nor oversize: vhost_combined if strictly
    more of them parse as vhost_combined than as combined."""
    sample = [l for l in prepared_lines if not is_blank(l) and len(l) <= max_bytes][:10]
    n_vhost = sum(1 for l in sample if classify(l, True, max_bytes)[0] == "parsed")
    n_comb = sum(1 for l in sample if classify(l, False, max_bytes)[0] == "parsed")
    return "vhost_combined" if n_vhost > n_comb else "combined"


# --------------------------------------------------------------------------
# aggregation
# --------------------------------------------------------------------------

class Period:
    def __init__(self):
        self.lines = 0
        self.failed = 0
        self.status_400 = 0
        self.fail_by_ip = {}  # ip -> Counter(status)

    def add(self, client, status, failed):
        self.lines += 1
        if status == 400:
            self.status_400 += 1
        if failed:
            self.failed += 1
            self.fail_by_ip.setdefault(client, Counter())[status] += 1

    def merge(self, other):
        self.lines += other.lines
        self.failed += other.failed
        self.status_400 += other.status_400
        for ip, c in other.fail_by_ip.items():
            self.fail_by_ip.setdefault(ip, Counter()).update(c)

    def to_json(self, threshold, bad_request_threshold):
        suspicious = []
        for ip, c in self.fail_by_ip.items():
            total = sum(c.values())
            if total >= threshold:
                suspicious.append((ip, total, c))
        suspicious.sort(key=lambda t: (-t[1], t[0]))
        return {
            "lines": self.lines,
            "failed": self.failed,
            "status_400": self.status_400,
            "unusual_400": self.status_400 >= bad_request_threshold,
            "failing_ips": len(self.fail_by_ip),
            "suspicious_ips": [
                {
                    "ip": ip,
                    "failed": total,
                    "by_status": {str(s): c[s] for s in sorted(c)},
                }
                for ip, total, c in suspicious
            ],
        }


def run(args):
    codes = set(int(x) for x in args.codes.split(",") if x.strip() != "")
    totals = {"lines": 0, "parsed": 0, "blank": 0, "malformed": 0,
              "malformed_by_reason": {r: 0 for r in REASONS},
              "failed": 0, "status_400": 0}
    inputs = []
    days = {}  # (y, m, d) -> Period
    trace = []

    for path in args.files:
        raw_lines = read_lines(path)
        prepared = [prepare(r) for r in raw_lines]
        fmt = args.format
        if fmt == "auto":
            fmt = detect_format(prepared, args.max_line_bytes)
        vhost = fmt == "vhost_combined"
        inp = {"path": path, "lines": 0, "parsed": 0, "blank": 0,
               "malformed": 0, "malformed_lines": []}
        for lineno, line in enumerate(prepared, start=1):
            r = classify(line, vhost, args.max_line_bytes)
            if r[0] == "blank":
                inp["blank"] += 1
                totals["blank"] += 1
                trace.append((path, lineno, "blank", "", "", ""))
                continue
            inp["lines"] += 1
            totals["lines"] += 1
            if r[0] == "malformed":
                reason = r[1]
                inp["malformed"] += 1
                totals["malformed"] += 1
                totals["malformed_by_reason"][reason] += 1
                if len(inp["malformed_lines"]) < 5:
                    inp["malformed_lines"].append(lineno)
                trace.append((path, lineno, "malformed", reason, "", ""))
                continue
            _, client, ts, status = r
            inp["parsed"] += 1
            totals["parsed"] += 1
            failed = status in codes
            if failed:
                totals["failed"] += 1
            if status == 400:
                totals["status_400"] += 1
            day = utc_date(ts) if args.utc else ts["date"]
            days.setdefault(day, Period()).add(client, status, failed)
            trace.append((path, lineno, "parsed", client, fmt_date(day), str(status)))
        inputs.append(inp)

    if args.trace:
        for row in trace:
            print("\t".join(str(x) for x in row))
        return None

    weeks = {}  # (iso_year, iso_week) -> (monday, sunday, Period)
    for day in sorted(days):
        iy, iw, mon, sun = iso_week(day)
        if (iy, iw) not in weeks:
            weeks[(iy, iw)] = (mon, sun, Period())
        weeks[(iy, iw)][2].merge(days[day])

    out_days = []
    for day in sorted(days):
        d = {"date": fmt_date(day)}
        d.update(days[day].to_json(args.threshold, args.bad_request_threshold))
        out_days.append(d)
    out_weeks = []
    for key in sorted(weeks):
        mon, sun, per = weeks[key]
        w = {"week": "%04d-W%02d" % key, "start": fmt_date(mon), "end": fmt_date(sun)}
        w.update(per.to_json(args.threshold, args.bad_request_threshold))
        out_weeks.append(w)

    return {"totals": totals, "inputs": inputs, "days": out_days, "weeks": out_weeks}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--utc", action="store_true",
                    help="assign days by the UTC instant instead of the written date")
    ap.add_argument("--codes", default="400,401,403,404,409",
                    help="comma-separated failing status codes")
    ap.add_argument("--threshold", type=int, default=5)
    ap.add_argument("--bad-request-threshold", type=int, default=5)
    ap.add_argument("--format", choices=["auto", "combined", "vhost_combined"],
                    default="auto")
    ap.add_argument("--max-line-bytes", type=int, default=DEFAULT_MAX_LINE_BYTES)
    ap.add_argument("--trace", action="store_true",
                    help="print one TSV row per physical line instead of JSON")
    ap.add_argument("files", nargs="+", metavar="FILE")
    args = ap.parse_args(argv)
    global UTC_DAYS
    UTC_DAYS = args.utc
    result = run(args)
    if result is not None:
        json.dump(result, sys.stdout, indent=2)
        sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
