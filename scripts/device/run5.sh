#!/usr/bin/env bash
# Device run 5: the session's final binary (parallel period sorts) against run 4's binary
# (logwarden-r4), 16 x 1 GB plain files as written; 1 thread and 16 threads interleaved.
set -uo pipefail
source scripts/device/common.sh
"$B/logwarden" --version; nproc
grep -E "^(Cached|FileHugePages)" /proc/meminfo
O="--quiet --report /dev/null"
for k in 1 2 3; do
  /usr/bin/time -f "final t1 %e s %U u %S s %M KiB" "$B/logwarden" analyze --threads 1 $O --json /tmp/p1.json $D
  for v in logwarden logwarden-r4 logwarden logwarden-r4; do
    /usr/bin/time -f "$v t16 %e s %U u %S s %M KiB" "$B/$v" analyze --threads 16 $O --json /tmp/p16.json $D
  done
done 2>&1 | tee "$OUT/rounds.txt"
cmp -s /tmp/p1.json /tmp/p16.json && echo "json 1t = 16t" || echo "json 1t DIFFERS from 16t"
for k in 1 2; do
  LOGWARDEN_TIMINGS=1 "$B/logwarden" analyze --threads 16 $O --json /tmp/x.json $D 2>&1 | grep -v "lock\|start" | sed 's/logwarden: timing: //;s/, peak RSS [0-9]* MiB//' | tr '\n' ';'; echo
done
echo "total $(( $(date +%s) - t0 )) s"
