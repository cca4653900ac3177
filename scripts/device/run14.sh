#!/usr/bin/env bash
# Device run 14 (tenth session): run 13's table and 1/16-thread pairs for the ninth
# session's final binary (c4d741d: mapped long lines read window by window, the shrink
# checks), then that binary against `logwarden-c98` (c98fc4d, the binary runs 9-13
# measured) at 16 threads, alternating, with stage timings: whether two sessions of fixes
# cost anything at 16 threads. Carries `bench-data/dev16` with both binaries and `genlogs`.
set -uo pipefail
B=$PWD/bench-data/dev16
[ -x "$B/logwarden-c98" ] || { echo "no $B/logwarden-c98 (c98fc4d's binary)" >&2; exit 1; }
export LD_LIBRARY_PATH=$B DATA=${DATA:-/tmp/lw-scale-data}
OUT=${OUT:-/tmp/lw-run14}
mkdir -p "$OUT"
t0=$(date +%s)
AB=0 OUT=$OUT bash "$(dirname "$0")/run9.sh"
top=$(nproc); [ "$top" -gt 16 ] && top=16
O="--quiet --report /dev/null"
for k in $(seq "${ROUNDS:-4}"); do
  for v in logwarden-c98 logwarden; do
    s=$(date +%s%N); "$B/$v" analyze --threads "$top" $O --json "/tmp/ab-$v.json" "$DATA"; e=$(date +%s%N)
    echo "ab t$top $v $(( (e - s) / 1000000 )) ms"
  done
done 2>&1 | tee "$OUT/ab.txt"
cmp -s /tmp/ab-logwarden.json /tmp/ab-logwarden-c98.json && echo "ab json same" || echo "ab json DIFFERS"
for v in logwarden-c98 logwarden logwarden-c98 logwarden; do
  echo -n "$v: "
  LOGWARDEN_TIMINGS=1 "$B/$v" analyze --threads "$top" $O --json /tmp/x.json "$DATA" 2>&1 | grep -v "lock\|start" | sed 's/logwarden: timing: //;s/, peak RSS [0-9]* MiB//;s/ done at//' | tr '\n' ';'; echo
done | tee "$OUT/stages.txt"
echo "run14 total $(( $(date +%s) - t0 )) s"
