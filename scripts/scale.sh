#!/usr/bin/env bash
# How time and memory grow with input size and with distinct failing clients.
#
#   scripts/scale.sh                 # plain 1, 4, 10, 16 GB; gzip 10 GB; 1M failing clients
#   SIZES="1 4" GZ_GB=2 scripts/scale.sh
#   FILE_MB=100 SIZES="1 2" GZ_GB=1 FAILING=100000 scripts/scale.sh   # a quick smoke run
#   GZ_DIR=bench-data/scale/gz-10 SIZES="" scripts/scale.sh           # a gzip set made by hand
#
# Each set is N files of FILE_MB MB (default 1000) from examples/genlogs (generated once into
# $OUT, git-ignored; a folder without genlogs' `.done` mark is never replaced), analyzed with
# all threads, warm page cache where it fits. Prints wall time, GB/s of log text, and peak
# RSS from GNU time. Needs: GNU time (`apt-get install time`). GZ_DIR measures an existing
# gzip set (such as the `pigz -1` copies of BENCHMARKS.md's table) instead of generating one.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-./bench-data/scale}
SIZES=${SIZES:-"1 4 10 16"}
GZ_GB=${GZ_GB:-10}
FAILING=${FAILING:-1000000}
FILE_MB=${FILE_MB:-1000}
# Folders of another file size are other sets.
SUFFIX=$([ "$FILE_MB" = 1000 ] || echo "-${FILE_MB}mb")
[ -x /usr/bin/time ] || { echo "needs GNU time: apt-get install time" >&2; exit 1; }
mkdir -p "$OUT"
cargo build --release --quiet
cargo build --release --quiet --example genlogs
LW=target/release/logwarden
GEN=target/release/examples/genlogs

gen() { # gen DIR FILES [extra genlogs args]
    local dir=$1 files=$2
    shift 2
    if [ ! -f "$dir/.done" ]; then
        # Only a set genlogs was writing (cut short) is replaced, never files made by hand.
        if [ -n "$(ls -A "$dir" 2>/dev/null)" ] && [ ! -f "$dir/.generating" ]; then
            echo "$dir holds files that genlogs did not write: move them, or name another OUT" >&2
            exit 1
        fi
        rm -rf "$dir"
        mkdir -p "$dir"
        touch "$dir/.generating"
        "$GEN" --out "$dir" --files "$files" --size-mb "$FILE_MB" --seed 7 "$@" >&2
        rm "$dir/.generating"
        touch "$dir/.done"
    fi
}

run() { # run LABEL DIR
    local label=$1 dir=$2
    local bytes
    bytes=$(find "$dir" -name 'access_*' -type f -printf '%s\n' | awk '{s+=$1} END {printf "%.0f", s}')
    cat "$dir"/access_* >/dev/null 2>&1 || true
    /usr/bin/time -f '%e %M' -o "$OUT/time.txt" "$LW" analyze --quiet --json "$OUT/$label.json" --report /dev/null "$dir"
    read -r wall rss_kb <"$OUT/time.txt"
    local text
    text=$(python3 -c "import json,sys; print(sum(i['bytes'] for i in json.load(open(sys.argv[1]))['inputs']))" "$OUT/$label.json")
    local failing
    failing=$(python3 -c "import json,sys; print(max(d['failing_ips'] for d in json.load(open(sys.argv[1]))['days']))" "$OUT/$label.json")
    awk -v label="$label" -v files="$(ls "$dir" | grep -c '^access_')" -v text="$text" \
        -v bytes="$bytes" -v wall="$wall" -v rss_kb="$rss_kb" -v failing="$failing" 'BEGIN {
        printf "| %s | %s | %.2f | %.2f | %.2f | %.2f | %d | %s |\n", label, files, text / 1e9,
            bytes / 1e9, wall, text / 1e9 / (wall > 0 ? wall : 0.01), rss_kb / 1024, failing
    }'
}

echo "machine: $(nproc) CPUs, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), $(free -g | awk '/Mem:/ {print $2}') GiB RAM"
echo
echo "| set | files | GB of text | GB on disk | wall s | GB/s | peak RSS MiB | max failing IPs/day |"
echo "|---|---|---|---|---|---|---|---|"
for n in $SIZES; do
    gen "$OUT/plain-$n$SUFFIX" "$n"
    run "plain-${n}x${FILE_MB}MB" "$OUT/plain-$n$SUFFIX"
done
if [ -n "${GZ_DIR:-}" ]; then
    run "gzip-$(basename "$GZ_DIR")" "$GZ_DIR"
else
    gen "$OUT/gz-genlogs-$GZ_GB$SUFFIX" "$GZ_GB" --gzip
    run "gzip-${GZ_GB}x${FILE_MB}MB" "$OUT/gz-genlogs-$GZ_GB$SUFFIX"
fi
# One set per FAILING: a set generated for another count is not reused.
gen "$OUT/failing-$FAILING$SUFFIX" 2 --failing-clients "$FAILING"
run "failing-$FAILING" "$OUT/failing-$FAILING$SUFFIX"
