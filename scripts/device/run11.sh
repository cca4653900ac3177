#!/usr/bin/env bash
# Device run 11: a 64k-entry table per thread at 16 threads, now that a last flush only
# hands its table over (run 8 measured 64k per thread before that: the end-of-scan flushes
# then queued on the store's lock). `logwarden-t64k` is the current binary with the shared
# table budget (FLUSH_ENTRIES_TOTAL) raised from 128k to 1M entries, so each of 16 threads
# keeps 64k, as one and two threads do. Alternating at 16 threads, JSON to /dev/null; then
# how fast this disk takes a 188 MB file (the 16-thread JSON) written by one writer or by
# 16 at their offsets, fsynced.
set -uo pipefail
source scripts/device/common.sh
{
alternate_16t 6 logwarden logwarden-t64k
rm -f /tmp/j-*.json
for k in 1 2 3; do
  s=$(date +%s%N); dd if=/dev/zero of=/tmp/w1 bs=1M count=188 conv=fsync status=none; e=$(date +%s%N)
  echo "one writer 188 MB + fsync: $(( (e - s) / 1000000 )) ms"; rm -f /tmp/w1
  s=$(date +%s%N)
  for i in $(seq 0 15); do dd if=/dev/zero of=/tmp/w16 bs=1M count=12 seek=$((i * 12)) conv=notrunc status=none & done; wait
  m=$(date +%s%N); sync /tmp/w16; e=$(date +%s%N)
  echo "16 writers 192 MB: $(( (m - s) / 1000000 )) ms, then fsync $(( (e - m) / 1000000 )) ms"; rm -f /tmp/w16
done
} 2>&1 | tee "$OUT/run11.txt"
echo "total $(( $(date +%s) - t0 )) s"
