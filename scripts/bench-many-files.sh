#!/usr/bin/env bash
# Many small files in one folder: logwarden against mawk and `cat | wc -l`, in one run.
#
#   scripts/bench-many-files.sh                        # 20,000 files of one line each
#   FILES=5000 LINES=40 RUNS=21 scripts/bench-many-files.sh
#
# Environment:
#   FILES   how many files (default 20000); LINES  lines in each (default 1)
#   RUNS    hyperfine runs of each command (default 11, after 2 warm-ups)
#   OUT     data directory (default ./bench-data, git-ignored)
#
# The files (`access_NNNNN.log`, 28 days, a 404 in every tenth line) are written once by
# python3 and kept. Each command reads them all from the page cache; the medians and
# logwarden's time against each peer are printed. Needs hyperfine and mawk (Debian packages).
set -euo pipefail

FILES=${FILES:-20000}
LINES=${LINES:-1}
RUNS=${RUNS:-11}
OUT=${OUT:-./bench-data}

cd "$(dirname "$0")/.."
for tool in hyperfine mawk python3; do
    command -v "$tool" >/dev/null || { echo "needs $tool (apt-get install $tool)" >&2; exit 2; }
done
cargo build --release --quiet
LW=$(pwd)/target/release/logwarden
DIR=$OUT/many-$FILES-x$LINES
if [ ! -f "$DIR/.complete" ]; then
    mkdir -p "$DIR"
    python3 - "$DIR" "$FILES" "$LINES" <<'EOF'
import sys
out, files, lines = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for i in range(files):
    day = 1 + i % 28
    with open(f"{out}/access_{i:05d}.log", "w") as f:
        for k in range(lines):
            n = i * lines + k
            status = 404 if n % 10 == 0 else 200
            f.write(f'10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255} - - [{day:02d}/Jun/2023:10:00:00 +0000] '
                    f'"GET /p/{n % 97} HTTP/1.1" {status} 512 "-" "bench"\n')
EOF
    touch "$DIR/.complete"
fi
cat "$DIR"/access_* >/dev/null
RESULTS=$(mktemp)
trap 'rm -f "$RESULTS"' EXIT
hyperfine --warmup 2 --runs "$RUNS" --export-json "$RESULTS" \
    -n "logwarden --threads 1" "$LW analyze -q --threads 1 --json /dev/null --report /dev/null $DIR" \
    -n "logwarden (all threads)" "$LW analyze -q --json /dev/null --report /dev/null $DIR" \
    -n "mawk one-liner" "mawk '\$9 ~ /^(400|401|403|404|409)\$/ {c[\$1]++}' $DIR/access_*" \
    -n "cat | wc -l" "cat $DIR/access_* | wc -l" >&2
python3 - "$RESULTS" "$FILES" "$LINES" <<'EOF'
import json, statistics, sys
results = json.load(open(sys.argv[1]))["results"]
median = {r["command"]: statistics.median(r["times"]) for r in results}
print(f"{sys.argv[2]} files of {sys.argv[3]} line(s), medians of {len(results[0]['times'])} runs:")
for name, t in median.items():
    print(f"  {name:26} {t * 1000:8.1f} ms")
for lw in ("logwarden --threads 1", "logwarden (all threads)"):
    for peer in ("mawk one-liner", "cat | wc -l"):
        print(f"  {lw} vs {peer}: {median[peer] / median[lw]:.2f}x")
EOF
