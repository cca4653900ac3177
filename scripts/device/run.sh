#!/usr/bin/env bash
# Device run: the 16 x 1 GB scaling table for this binary, then alternating A/B against the
# previous session's first binary (logwarden-base) at 16 and 1 threads.
set -uo pipefail
B=bench-data/dev16
export DATA=/tmp/lw-scale-data
mkdir -p "$OUT"
t0=$(date +%s)
THREADS="1 2 4 8 16" RUNS=3 NO_MMAP_ROW=0 CEILING_ROW=1 scripts/device-scale.sh $B /tmp/lw-scale 2>&1 | tee "$OUT/table.txt"
echo "table took $(( $(date +%s) - t0 )) s"
ab() { # threads pairs
  for k in $(seq "$2"); do
    for v in logwarden-base logwarden; do
      s=$(date +%s%N); $B/$v analyze --quiet --threads "$1" --json /tmp/ab-$v.json --report /dev/null $DATA; e=$(date +%s%N)
      echo "ab t$1 $v $(( (e - s) / 1000000 )) ms"
    done
  done
  cmp -s /tmp/ab-logwarden.json /tmp/ab-logwarden-base.json && echo "t$1 json same as base" || echo "t$1 json DIFFERS from base"
}
ab 16 7 | tee "$OUT/ab16.txt"
ab 1 2 | tee "$OUT/ab1.txt"
for k in 1 2; do LOGWARDEN_TIMINGS=1 $B/logwarden analyze --quiet --threads 16 --json /tmp/x.json --report /dev/null $DATA 2>&1 | tail -12; done | tee "$OUT/timings.txt"
/usr/bin/time -f "16t user %U sys %S wall %e" $B/logwarden analyze --quiet --threads 16 --json /tmp/x.json --report /dev/null $DATA
/usr/bin/time -f "1t user %U sys %S wall %e" $B/logwarden analyze --quiet --threads 1 --json /tmp/x.json --report /dev/null $DATA
echo "total $(( $(date +%s) - t0 )) s"
