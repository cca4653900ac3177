#!/usr/bin/env python3
"""Random hostile logs: logwarden against scripts/reference.py, case by case.

Each case is a folder of 1-6 files (plain or gzip, LF or CRLF, some without a last
newline, some starting with a byte order mark) of lines that are mostly valid, with
fields broken at random: clients in every textual form (IPv6 spellings, hostnames,
bad dotted quads), impossible dates and offsets, unclosed and escaped quotes, odd
statuses and sizes, NUL padding, tabs, raw bytes. Some cases add `--utc`,
`--threshold 2`, a small `--max-line-bytes`, other `--codes` or a forced `--format`.
Both tools get the same flags (logwarden also `--keep-duplicates`: the oracle has no
duplicate detection), and the subset of the JSON the oracle knows is compared: totals,
each input's counts and first malformed line numbers, each day's and week's counts and
suspicious clients (as a set: the two order ties differently).

    python3 scripts/fuzz_reference.py                  # seed 1, 50 cases
    python3 scripts/fuzz_reference.py --seed 7 --cases 200 --bin target/debug/logwarden

A mismatch prints the fields that differ and keeps the case under --keep
(default ./bench-data/fuzz-reference, git-ignored); the exit status is then 1.
`python3 scripts/reference.py --trace FILE` shows the oracle's verdict line by line.
Deterministic: a seed and a case number give the same files. Standard library only.
"""

import argparse
import gzip
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def pick(r, xs):
    return xs[r.randrange(len(xs))]


def client(r):
    if r.random() < 0.8:
        return pick(r, [f"10.0.{r.randint(0, 3)}.{r.randint(0, 9)}",
                        f"2001:db8::{r.randint(0, 9):x}",
                        f"host{r.randint(0, 3)}.example.org"])
    return pick(r, [
        f"10.{r.randint(0, 2)}.{r.randint(0, 3)}.{r.randint(0, 9)}", f"10.0.0.{r.randint(0, 300)}",
        f"2001:db8::{r.randint(0, 20):x}", f"2001:DB8::{r.randint(0, 20):X}",
        f"2001:0db8:0:0:0:0:0:{r.randint(0, 20):x}", "::ffff:10.0.0.1", "::FFFF:10.0.0.1",
        "::1", "::", f"fe80::1%eth{r.randint(0, 1)}", "1.2.3", "01.2.3.4", "1.2.3.4.5",
        f"Host{r.randint(0, 5)}.Example.ORG", f"host{r.randint(0, 5)}.example.org", "-",
        "256.1.1.1", "[::1]", "1.2.3.4:80", "a_b.example", "xn--bcher-kva.example",
        "1::2::3", "::ffff:1.2.3", "10.0.0.1 "])


def timestamp(r):
    if r.random() < 0.85:
        return (f"[{r.randint(1, 28):02d}/{pick(r, ['Jun', 'Jan', 'Dec'])}/{pick(r, [2023, 2024])}:"
                f"{r.randint(0, 23):02d}:{r.randint(0, 59):02d}:{r.randint(0, 59):02d} "
                f"{pick(r, ['+0000', '-0500', '+0130', '+1400', '-1200'])}]")
    day = pick(r, [r.randint(1, 28), 29, 30, 31, 0, 32])
    month = pick(r, MONTHS + ["jun", "JUN", "Foo"]) if r.random() < 0.1 else pick(r, ["Jan", "Feb", "Jun", "Dec"])
    year = pick(r, [2023, 2023, 2024, 2020, 1999, 10000])
    hour = pick(r, [r.randint(0, 23), 24, 0])
    minute = pick(r, [r.randint(0, 59), 60])
    second = pick(r, [r.randint(0, 59), 60, 61])
    offset = pick(r, ["+0000", "-0500", "+0130", "+1400", "-1200", "+2400", "0000", "+00:00", "-0000", "+0060"])
    t = f"{day:02d}/{month}/{year:04d}:{hour:02d}:{minute:02d}:{second:02d} {offset}"
    if r.random() < 0.03:
        t = t.replace(" ", "  ")
    if r.random() < 0.03:
        t = str(day) + t[2:]
    return f"[{t}]"


def request(r):
    path = pick(r, ["/", "/wp-login.php", "/.env", "/a?b=%22c", "/" + "x" * r.randint(0, 3000),
                    '/q\\"uote', "/sp ace", "/tab\there", "/\\x00nul", "/é"])
    return pick(r, [f"GET {path} HTTP/1.1", f"POST {path} HTTP/1.0", "-", "", f"GET {path}",
                    "\\x16\\x03\\x01", 'G"ET / HTTP/1.1', f"GET {path} HTTP/1.1 extra",
                    "GET / HTTP/1.1\\", "a\\\\"])


def status(r):
    if r.random() < 0.8:
        return pick(r, ["200", "404", "403", "401", "400", "409", "500"])
    return pick(r, ["200", "404", "-", "099", "600", "999", "4040", "40", "4x4", "+404", " 404", "0404"])


def size(r):
    if r.random() < 0.9:
        return pick(r, ["123", "-", "0"])
    return pick(r, ["", "12a", "-1", "99999999999999999999", "1 2"])


def tail(r):
    return pick(r, ["", ' "-" "Mozilla/5.0"', ' "http://r/" "ua \\"q\\""', ' "-"', ' "-" "ua" extra',
                    ' "-" "unterminated', ' "-" "x\\"', " -", '  "-" "two spaces"'])


def line(r, vhost):
    k = r.random()
    if k < 0.03:
        return bytes(r.getrandbits(8) for _ in range(r.randint(0, 80)))
    if k < 0.05:
        return b""
    if k < 0.07:
        return pick(r, [b"  \t", b"\r", b" \r", b"\t\t", b"\xef\xbb\xbf", b"\x00", b"\x0b"])
    host = pick(r, ["example.org:80 ", "www.x:443 ", "- "]) if vhost else ""
    ident = "- -" if r.random() < 0.9 else pick(r, ["a b", "-  -", '- "x y"', '"-" -'])
    b = f"{host}{client(r)} {ident} {timestamp(r)} \"{request(r)}\" {status(r)} {size(r)}{tail(r)}".encode()
    if r.random() < 0.02:
        b = b.replace(b" ", b"\t", 1)
    if r.random() < 0.02:
        b = b"\x00" * r.randint(1, 5) + b
    if r.random() < 0.02:
        b = b + b"\r"
    return b


def write_case(r, folder):
    files = []
    for f in range(pick(r, [1, 1, 2, 3, 6])):
        vhost = r.random() < 0.15
        lines = [line(r, vhost) for _ in range(pick(r, [1, 5, 50, 500, 3000]))]
        sep = b"\r\n" if r.random() < 0.15 else b"\n"
        data = sep.join(lines)
        if r.random() < 0.7:
            data += sep
        if r.random() < 0.05:
            data = b"\xef\xbb\xbf" + data
        name = os.path.join(folder, f"access_{f:03d}.log")
        if r.random() < 0.2:
            name += ".gz"
            data = gzip.compress(data, mtime=0)
        with open(name, "wb") as out:
            out.write(data)
        files.append(name)
    return files


def flags(r):
    extra = pick(r, [[], [], ["--utc"], ["--threshold", "2"]])
    if r.random() < 0.3:
        extra += ["--max-line-bytes", str(pick(r, [64, 90, 120, 200, 3000]))]
    if r.random() < 0.2:
        extra += ["--codes", pick(r, ["404", "200,500", "400,401,403,404,409,500"])]
    if r.random() < 0.15:
        extra += ["--format", pick(r, ["combined", "vhost_combined"])]
    return extra


def period(p, label):
    ips = sorted((s["ip"], s["failed"], tuple(sorted(s["by_status"].items()))) for s in p["suspicious_ips"])
    return (p[label], p["lines"], p["failed"], p["status_400"], p["unusual_400"], p["failing_ips"], ips)


def comparable(j, malformed_line):
    keys = ["lines", "parsed", "blank", "malformed", "malformed_by_reason", "failed", "status_400"]
    return {
        "totals": {k: j["totals"][k] for k in keys},
        "inputs": [(os.path.basename(i["path"]), i["lines"], i["parsed"], i["blank"], i["malformed"],
                    [malformed_line(m) for m in i["malformed_lines"]][:5]) for i in j["inputs"]],
        "days": [period(p, "date") for p in j["days"]],
        "weeks": [period(p, "week") for p in j["weeks"]],
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--cases", type=int, default=50)
    ap.add_argument("--bin", default=os.path.join(HERE, "..", "target", "release", "logwarden"))
    ap.add_argument("--keep", default=os.path.join(HERE, "..", "bench-data", "fuzz-reference"))
    args = ap.parse_args()
    mismatches = 0
    for case in range(args.cases):
        r = random.Random(args.seed * 100_000 + case)
        with tempfile.TemporaryDirectory(prefix="logwarden-fuzz-") as folder:
            files = write_case(r, folder)
            extra = flags(r)
            got = subprocess.run([args.bin, "analyze", "-q", "--keep-duplicates", *extra, *files,
                                  "--json", "-", "--report", os.devnull], capture_output=True)
            want = subprocess.run([sys.executable, os.path.join(HERE, "reference.py"), *extra, *files],
                                  capture_output=True)
            if want.returncode != 0:
                sys.exit(f"case {args.seed}/{case}: reference.py failed:\n{want.stderr.decode(errors='replace')}")
            problem = None
            if got.returncode not in (0, 1):
                problem = [f"logwarden exit {got.returncode}: {got.stderr.decode(errors='replace')[-500:]}"]
            else:
                a = comparable(json.loads(got.stdout), lambda m: m["line"])
                b = comparable(json.loads(want.stdout), lambda m: m)
                if a != b:
                    problem = [f"{k}:\n  logwarden {a[k]}\n  reference {b[k]}" for k in a if a[k] != b[k]]
            if problem:
                mismatches += 1
                kept = os.path.join(args.keep, f"{args.seed}-{case}")
                shutil.copytree(folder, kept, dirs_exist_ok=True)
                print(f"MISMATCH case {args.seed}/{case} flags {extra}, kept in {kept}")
                for p in problem:
                    print("  " + p[:2000])
    print(f"{args.cases} cases (seed {args.seed}), {mismatches} mismatches")
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
