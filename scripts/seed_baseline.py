#!/usr/bin/env python3
"""Baseline for the benchmarks: the seed script's approach, kept as-is on purpose.

One regex per line, `(\\d+\\.\\d+\\.\\d+\\.\\d+).*?\\s(\\d+)\\s`: the first dotted quad anywhere in the
line is taken as the client (so IPv6 clients whose user agent contains an IPv4 address are
miscounted, and IPv6 clients are otherwise ignored), and the first whitespace-delimited number
after it as the status. One dict counts failed requests (400, 401, 403, 404, 409) per IP over
all input, with no per-day or per-week split.

Usage: python3 scripts/seed_baseline.py FILE...   (plain text only, no .gz)
"""

import re
import sys

LINE_RE = re.compile(r"(\d+\.\d+\.\d+\.\d+).*?\s(\d+)\s")
FAILED = {"400", "401", "403", "404", "409"}
THRESHOLD = 5


def main(paths):
    if not paths:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    failed = {}
    for path in paths:
        with open(path, "r", encoding="utf-8", errors="replace") as f:
            for line in f:
                m = LINE_RE.search(line)
                if m and m.group(2) in FAILED:
                    ip = m.group(1)
                    failed[ip] = failed.get(ip, 0) + 1
    suspicious = 0
    for ip, count in sorted(failed.items(), key=lambda kv: (-kv[1], kv[0])):
        if count >= THRESHOLD:
            suspicious += 1
            print(f"Suspicious activity detected from {ip}: {count} failed requests")
    print(f"Analyzed {len(paths)} file(s): {len(failed)} IPs with failed requests, "
          f"{suspicious} suspicious (>= {THRESHOLD} failed requests)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
