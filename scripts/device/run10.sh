#!/usr/bin/env bash
# Device run 10: what the failed lines' table work costs at 16 threads. `logwarden-exp` is a
# throwaway build of the seventh session's binary (not committed) that, with EXP=1, appends
# each failed line to a per-thread record list (client, day, status, time, target hash, target
# bytes copied to an arena) instead of counting it in the client table; its output is wrong
# (no clients), only its scan time counts: the bound for a scan that sorts records later.
# Alternating at 16 threads: the binary as is (JSON to /dev/null and to a file), the record
# build, and the scan without failed lines (`--codes 599`); then one thread once each.
set -uo pipefail
source scripts/device/common.sh
O="--quiet --report /dev/null"
one() { # label, env, binary, args...
  local label=$1 e=$2 bin=$3; shift 3
  local s e2
  s=$(date +%s%N)
  env $e LOGWARDEN_TIMINGS=1 /usr/bin/time -f "%U u %S s %M KiB" "$B/$bin" analyze $O "$@" "$D" 2>&1 |
    grep -E "scan done|summary done|json done|text report done| u " | sed 's/logwarden: timing: //;s/, peak RSS [0-9]* MiB//;s/ done at//' | tr '\n' ';'
  e2=$(date +%s%N); echo " wall $(( (e2 - s) / 1000000 )) ms: $label"
}
{
for k in 1 2 3 4; do
  one base-null "X=0" logwarden --threads 16 --json /dev/null
  one exp-null "EXP=1" logwarden-exp --threads 16 --json /dev/null
  one codes599 "X=0" logwarden --threads 16 --codes 599 --json /dev/null
  one base-file "X=0" logwarden --threads 16 --json /tmp/j.json
done
one base-null-t1 "X=0" logwarden --threads 1 --json /dev/null
one exp-null-t1 "EXP=1" logwarden-exp --threads 1 --json /dev/null
} 2>&1 | tee "$OUT/run10.txt"
echo "total $(( $(date +%s) - t0 )) s"
