#!/usr/bin/env bash
# Device run 7: where the 16-thread tail goes. 1-thread stage timings (with and without failed
# lines); the final binary against `logwarden-join` (days and weeks at once, output windows not
# pipelined) at 16 threads, alternating, with stage timings; the JSON to a file and to
# /dev/null (the disk's share); glibc's heap in 2 MiB pages (GLIBC_TUNABLES) or not.
set -uo pipefail
source scripts/device/common.sh
"$B/logwarden" --version; nproc
O="--quiet --report /tmp/r.txt"
stages() { # label, command...
  local label=$1; shift
  local s e; s=$(date +%s%N)
  LOGWARDEN_TIMINGS=1 "$@" 2>&1 >/dev/null | grep -v "start\|lock" | sed 's/logwarden: timing: //;s/, peak RSS [0-9]* MiB//;s/ done at//' | tr '\n' ';'
  e=$(date +%s%N); echo " wall $(( (e - s) / 1000000 )) ms: $label"
}
{
stages "t1" "$B/logwarden" analyze --threads 1 $O --json /tmp/j.json $D
stages "t1 scan only" "$B/logwarden" analyze --threads 1 --codes 599 $O --json /tmp/j.json $D
for k in 1 2 3 4 5 6 7 8; do
  for v in logwarden-join logwarden; do
    stages "t16 $v" "$B/$v" analyze --threads 16 $O --json /tmp/j-$v.json $D
  done
done
cmp -s /tmp/j-logwarden.json /tmp/j-logwarden-join.json && echo "json same" || echo "json DIFFERS"
for k in 1 2 3; do
  stages "t16 json to /dev/null" "$B/logwarden" analyze --threads 16 $O --json /dev/null $D
  stages "t16 json to file" "$B/logwarden" analyze --threads 16 $O --json /tmp/j.json $D
done
stages "t16 scan only" "$B/logwarden" analyze --threads 16 --codes 599 $O --json /tmp/j.json $D
# The heap in 2 MiB pages (glibc madvises its arenas): fewer faults, a cheaper exit?
cat /sys/kernel/mm/transparent_hugepage/enabled; ldd --version | head -1
for k in 1 2 3 4; do
  stages "t16 default heap" "$B/logwarden" analyze --threads 16 $O --json /tmp/j.json $D
  GLIBC_TUNABLES=glibc.malloc.hugetlb=1 stages "t16 hugetlb=1" "$B/logwarden" analyze --threads 16 $O --json /tmp/j.json $D
done
/usr/bin/time -f "t16 default heap: %e s %U u %S s %M KiB %R minor faults" "$B/logwarden" analyze --threads 16 $O --json /tmp/j.json $D
GLIBC_TUNABLES=glibc.malloc.hugetlb=1 /usr/bin/time -f "t16 hugetlb=1: %e s %U u %S s %M KiB %R minor faults" "$B/logwarden" analyze --threads 16 $O --json /tmp/j.json $D
} 2>&1 | tee "$OUT/run7.txt"
echo "total $(( $(date +%s) - t0 )) s"
