#!/usr/bin/env bash
# Device run 12: the per-thread table size at 16 threads, smaller this time (run 11: 64k
# entries was slower than 16k). `logwarden-minN` is the current binary with the smallest
# per-thread share of the table budget lowered (or raised) to 2^N entries, which at 16
# threads is each table's size: 4k, 8k, 16k (as committed) and 32k. Alternating at 16
# threads, JSON to /dev/null, with stage timings, CPU and peak RSS; the JSON compared.
set -uo pipefail
source scripts/device/common.sh
{
alternate_16t 6 logwarden logwarden-min12 logwarden-min13 logwarden-min15
} 2>&1 | tee "$OUT/run12.txt"
echo "total $(( $(date +%s) - t0 )) s"
