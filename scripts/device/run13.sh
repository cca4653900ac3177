#!/usr/bin/env bash
# Device run 13: the 16 x 1 GB table (1-16 threads, scan-only row) and three 1-thread /
# 16-thread pairs for the seventh session's final binary (8k-entry tables at 16 threads),
# as run 9 did for the sixth session's.
set -uo pipefail
B=$PWD/bench-data/dev16
export LD_LIBRARY_PATH=$B DATA=${DATA:-/tmp/lw-scale-data}
OUT=${OUT:-/tmp/lw-run13}
mkdir -p "$OUT"
t0=$(date +%s)
THREADS=${THREADS:-"1 2 4 8 16"} RUNS=${RUNS:-3} NO_MMAP_ROW=0 CEILING_ROW=1 \
  scripts/device-scale.sh "$B" /tmp/lw-scale 2>&1 | tee "$OUT/table.txt"
echo "table took $(( $(date +%s) - t0 )) s"
O="--quiet --report /dev/null"
for k in $(seq "${PAIRS:-3}"); do
  /usr/bin/time -f "pair $k t1 %e s %U u %S s %M KiB" "$B/logwarden" analyze --threads 1 $O --json /tmp/p1.json "$DATA"
  /usr/bin/time -f "pair $k t16 %e s %U u %S s %M KiB" "$B/logwarden" analyze --threads 16 $O --json /tmp/pn.json "$DATA"
done 2>&1 | tee "$OUT/pairs.txt"
cmp -s /tmp/p1.json /tmp/pn.json && echo "json 1t = 16t" || echo "json 1t DIFFERS from 16t"
echo "total $(( $(date +%s) - t0 )) s"
