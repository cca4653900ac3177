#!/usr/bin/env bash
# Device run 6: the full 16 x 1 GB table (1-16 threads, scan-only row) for this session's
# binary, then 1 and 16 threads interleaved, then `logwarden` (days and weeks summarized at
# once) against `logwarden-base` (the session's first binary) at 16 threads, alternating.
set -uo pipefail
B=$PWD/bench-data/dev16
export LD_LIBRARY_PATH=$B DATA=/tmp/lw-scale-data
mkdir -p "$OUT"
t0=$(date +%s)
THREADS="1 2 4 8 16" RUNS=3 NO_MMAP_ROW=0 CEILING_ROW=1 scripts/device-scale.sh "$B" /tmp/lw-scale 2>&1 | tee "$OUT/table.txt"
echo "table took $(( $(date +%s) - t0 )) s"
O="--quiet --report /dev/null"
for k in 1 2 3; do
  /usr/bin/time -f "pair $k t1 %e s %U u %S s %M KiB" "$B/logwarden" analyze --threads 1 $O --json /tmp/p1.json $DATA
  /usr/bin/time -f "pair $k t16 %e s %U u %S s %M KiB" "$B/logwarden" analyze --threads 16 $O --json /tmp/p16.json $DATA
done 2>&1 | tee "$OUT/pairs.txt"
cmp -s /tmp/p1.json /tmp/p16.json && echo "json 1t = 16t" || echo "json 1t DIFFERS from 16t"
for k in 1 2 3 4 5 6; do
  for v in logwarden-base logwarden; do
    s=$(date +%s%N); "$B/$v" analyze --threads 16 $O --json /tmp/ab-$v.json $DATA; e=$(date +%s%N)
    echo "ab t16 $v $(( (e - s) / 1000000 )) ms"
  done
done 2>&1 | tee "$OUT/ab16.txt"
cmp -s /tmp/ab-logwarden.json /tmp/ab-logwarden-base.json && echo "ab json same" || echo "ab json DIFFERS"
for v in logwarden-base logwarden logwarden-base logwarden; do
  echo -n "$v: "
  LOGWARDEN_TIMINGS=1 "$B/$v" analyze --threads 16 $O --json /tmp/x.json $DATA 2>&1 | grep -v "lock\|start" | sed 's/logwarden: timing: //;s/, peak RSS [0-9]* MiB//;s/ done at//' | tr '\n' ';'; echo
done | tee "$OUT/stages.txt"
echo "total $(( $(date +%s) - t0 )) s"
