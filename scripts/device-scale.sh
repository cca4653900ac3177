#!/usr/bin/env bash
# Multi-core scaling: 16 generated files of 1 GB (one per day), analyzed with 1, 2, 4, 8 and
# 16 threads (and `nproc` if larger), warm page cache, 3 runs each; prints a markdown table
# with medians, speed-up over one thread and peak RSS, and checks that the JSON of every
# thread count is byte-identical to the one-thread JSON. `wc -l` over the same files is the
# reference for memory bandwidth. This is the run behind the 16-core table in BENCHMARKS.md.
#
#   scripts/device-scale.sh [BIN_DIR] [RESULTS_DIR]
#   THREADS="1 16" NO_MMAP_ROW=0 CEILING_ROW=0 RUNS=3 scripts/device-scale.sh   # a shorter run
#   FILES=2 SIZE_MB=50 THREADS="1 2" RUNS=1 scripts/device-scale.sh             # a smoke test
#
# BIN_DIR holds `logwarden` and `genlogs` (default: target/release and its examples/, built
# here with cargo first).
# Fixtures go to $DATA (default /tmp/lw-scale-data, 16 GB); they are generated in parallel,
# one genlogs process per day.
set -euo pipefail
if [ $# -eq 0 ]; then
    cd "$(dirname "$0")/.."
    cargo build --release --quiet
    cargo build --release --quiet --example genlogs
fi
BIN=${1:-target/release}
RESULTS=${2:-/tmp/lw-scale}
LW=$BIN/logwarden
GEN=$BIN/genlogs
[ -x "$GEN" ] || GEN=$BIN/examples/genlogs
DATA=${DATA:-/tmp/lw-scale-data}
FILES=${FILES:-16}
SIZE_MB=${SIZE_MB:-1000} # per file (smaller for a smoke test)
RUNS=${RUNS:-3}
mkdir -p "$RESULTS" "$DATA"
"$LW" --version || { echo "cannot run $LW"; ldd "$LW"; exit 1; }
cpus=$(nproc)
echo "machine: $cpus CPUs, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), $(free -g | awk '/Mem:/ {print $2}') GiB RAM, $(uname -r)"
lscpu 2>/dev/null | grep -E '^(Thread|Core|Socket|L3)' | sed 's/  */ /g; s/^/    /' || true

start=$(date +%s%N)
pids=()
for i in $(seq 0 $((FILES - 1))); do
    day=$(date -d "2023-06-19 + $i day" +%F)
    # A file of another size (a smoke test's) is made again.
    size=$(stat -c %s "$DATA/access_$day.log" 2>/dev/null || echo 0)
    if [ "$size" -lt $((SIZE_MB * 900000)) ] || [ "$size" -gt $((SIZE_MB * 1100000)) ]; then
        "$GEN" --out "$DATA" --files 1 --size-mb "$SIZE_MB" --seed $((7 + i)) --start "$day" >"$RESULTS/gen-$day.log" 2>&1 &
        pids+=($!)
    fi
done
for p in "${pids[@]}"; do
    wait "$p" || { echo "genlogs failed (see $RESULTS/gen-*.log)" >&2; exit 1; }
done
# Every file in DATA is analyzed: one a larger run left there would be timed too.
extra=$(find "$DATA" -maxdepth 1 -name 'access_*' | wc -l)
if [ "$extra" -gt "$FILES" ]; then
    echo "$DATA holds $extra access_* files, more than FILES=$FILES: remove the others or name another DATA" >&2
    exit 1
fi
sync # written back now, not during the timed runs
echo "generated ${#pids[@]} of $FILES files in $((($(date +%s%N) - start) / 1000000)) ms"
bytes=$(cat "$DATA"/access_*.log | wc -c) # also warms the page cache
echo "bytes: $bytes"

# median of RUNS wall times (seconds) of "$@"; peak RSS (KiB) of the last run in $RESULTS/rss
time_it() {
    local times=()
    for _ in $(seq "$RUNS"); do
        local t0 t1
        t0=$(date +%s%N)
        # A failed command is no timing: stop (the caller's assignment fails with it).
        if [ -x /usr/bin/time ]; then
            /usr/bin/time -f '%M' -o "$RESULTS/rss" "$@" >/dev/null || { echo "FAILED: $*" >&2; exit 1; }
        else
            "$@" >/dev/null || { echo "FAILED: $*" >&2; exit 1; }
            echo 0 >"$RESULTS/rss"
        fi
        t1=$(date +%s%N)
        times+=("$(((t1 - t0) / 1000000))")
    done
    printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {printf "%.3f", a[int((NR+1)/2)]/1000}'
}

wc_s=$(time_it sh -c "wc -l '$DATA'/access_*.log")
threads_list=${THREADS:-"1 2 4 8 16"}
[ -z "${THREADS:-}" ] && [ "$cpus" -gt 16 ] && threads_list="$threads_list $cpus"
echo
base=${threads_list%% *}
echo "| command | threads | median s | GB/s | speed-up vs $base thread$([ "$base" = 1 ] || echo s) | peak RSS MiB | JSON = $base-thread JSON |"
echo "|---|---|---|---|---|---|---|"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
printf '| `wc -l` (all files) | 1 | %s | %s | | | |\n' "$wc_s" "$(ratio "$bytes" "${wc_s}e9")"
one=
first=
for t in $threads_list; do
    s=$(time_it "$LW" analyze --quiet --threads "$t" --json "$RESULTS/t$t.json" --report /dev/null "$DATA")
    rss=$(($(tail -n1 "$RESULTS/rss") / 1024))
    [ -z "$one" ] && one=$s
    # Compared with the first thread count's (1 unless THREADS leaves it out).
    [ -z "$first" ] && first=$t
    same=yes
    cmp -s "$RESULTS/t$first.json" "$RESULTS/t$t.json" || same=NO
    printf '| `logwarden analyze` | %s | %s | %s | %sx | %s | %s |\n' "$t" "$s" \
        "$(ratio "$bytes" "${s}e9")" "$(ratio "$one" "$s")" "$rss" "$same"
done
if [ "${NO_MMAP_ROW:-1}" = 1 ]; then
    s=$(time_it "$LW" analyze --quiet --no-mmap --json "$RESULTS/nommap.json" --report /dev/null "$DATA")
    rss=$(($(tail -n1 "$RESULTS/rss") / 1024))
    same=yes
    cmp -s "$RESULTS/t$first.json" "$RESULTS/nommap.json" || same=NO
    printf '| `logwarden analyze --no-mmap` | %s | %s | %s | %sx | %s | %s |\n' "$cpus" "$s" \
        "$(ratio "$bytes" "${s}e9")" "$(ratio "$one" "$s")" "$rss" "$same"
fi
if [ "${CEILING_ROW:-1}" = 1 ]; then
    # The same scan with no status counted as failed: no per-client work, so this row is the
    # ceiling the machine allows (its speed-up is over its own one-thread run).
    s1=$(time_it "$LW" analyze --quiet --threads 1 --codes 599 --json /dev/null --report /dev/null "$DATA")
    sn=$(time_it "$LW" analyze --quiet --codes 599 --json /dev/null --report /dev/null "$DATA")
    printf '| `logwarden analyze --codes 599` (scan only) | 1 | %s | %s | 1.00x | | |\n' "$s1" "$(ratio "$bytes" "${s1}e9")"
    printf '| `logwarden analyze --codes 599` (scan only) | %s | %s | %s | %sx | | |\n' "$cpus" "$sn" \
        "$(ratio "$bytes" "${sn}e9")" "$(ratio "$s1" "$sn")"
fi
echo
echo "stage timings, all threads:"
LOGWARDEN_TIMINGS=1 "$LW" analyze --quiet --json "$RESULTS/last.json" --report /dev/null "$DATA" 2>&1 | sed 's/^/    /'
