#!/usr/bin/env bash
# How time and memory grow with input size and with distinct failing clients.
#
#   scripts/scale.sh                 # plain 1, 4, 10, 16 GB; gzip 10 GB; 1M failing clients
#   SIZES="1 4" GZ_GB=2 scripts/scale.sh
#
# Each set is N files of 1 GB from examples/genlogs (generated once into $OUT, git-ignored),
# analyzed with all threads, warm page cache where it fits. Prints wall time, GB/s of log
# text, and peak RSS from GNU time. Needs: GNU time and bc (`apt-get install time bc`).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-./bench-data/scale}
SIZES=${SIZES:-"1 4 10 16"}
GZ_GB=${GZ_GB:-10}
FAILING=${FAILING:-1000000}
mkdir -p "$OUT"
cargo build --release --quiet
cargo build --release --quiet --example genlogs
LW=target/release/logwarden
GEN=target/release/examples/genlogs

gen() { # gen DIR FILES [extra genlogs args]
    local dir=$1 files=$2
    shift 2
    if [ ! -f "$dir/.done" ]; then
        rm -rf "$dir"
        "$GEN" --out "$dir" --files "$files" --size-mb 1000 --seed 7 "$@" >&2
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
    printf '| %s | %s | %.1f | %s | %.2f | %.2f | %d | %s |\n' "$label" "$(ls "$dir" | grep -c '^access_')" \
        "$(echo "$text / 1000000000" | bc -l)" "$(echo "$bytes / 1000000000" | bc -l | xargs printf '%.1f')" "$wall" \
        "$(echo "$text / 1000000000 / $wall" | bc -l)" "$((rss_kb / 1024))" "$failing"
}

echo "machine: $(nproc) CPUs, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), $(free -g | awk '/Mem:/ {print $2}') GiB RAM"
echo
echo "| set | files | GB of text | GB on disk | wall s | GB/s | peak RSS MiB | max failing IPs/day |"
echo "|---|---|---|---|---|---|---|---|"
for n in $SIZES; do
    gen "$OUT/plain-$n" "$n"
    run "plain-${n}GB" "$OUT/plain-$n"
done
gen "$OUT/gz-$GZ_GB" "$GZ_GB" --gzip
run "gzip-${GZ_GB}GB" "$OUT/gz-$GZ_GB"
# One set per FAILING: a set generated for another count is not reused.
gen "$OUT/failing-$FAILING" 2 --failing-clients "$FAILING"
run "failing-$FAILING" "$OUT/failing-$FAILING"
