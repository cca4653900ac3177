#!/usr/bin/env bash
# Device run 8: per-thread flush size at 16 threads. `logwarden` (each of 16 threads flushes
# its table at 16k entries, the 64k budget shared) against `logwarden-min64k` (64k entries
# per thread whatever the thread count), alternating, stage timings and peak RSS.
set -uo pipefail
source scripts/device/common.sh
O="--quiet --report /dev/null"
{
for k in 1 2 3 4 5 6 7 8 9 10; do
  for v in logwarden logwarden-min64k; do
    s=$(date +%s%N)
    LOGWARDEN_TIMINGS=1 /usr/bin/time -f "rss %M KiB %U u %S s" "$B/$v" analyze --threads 16 $O --json /tmp/j-$v.json $D 2>&1 | grep -E "scan done|merge of the runs|lock|rss" | sed 's/logwarden: timing: //' | tr '\n' ';'
    e=$(date +%s%N); echo " wall $(( (e - s) / 1000000 )) ms: $v"
  done
done
cmp -s /tmp/j-logwarden.json /tmp/j-logwarden-min64k.json && echo "json same" || echo "json DIFFERS"
} 2>&1 | tee "$OUT/run8.txt"
echo "total $(( $(date +%s) - t0 )) s"
