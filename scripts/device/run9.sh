#!/usr/bin/env bash
# Device run 9 (owed since run 6): the 16 x 1 GB table (1-16 threads, scan-only row) for the
# current binary, 1 and 16 threads interleaved with the JSON compared, then `logwarden`
# against `logwarden-join` (the binary run 6 measured) at 16 threads, alternating, with
# stage timings: what the later sessions' changes (the summary's k-way merge of the workers'
# last runs instead of the store's merge, the failed-line cuts) do at 16 threads.
# Run 6 (the same table and pairs) fitted one call of the device tool; generating the 16 days
# took 9 s there, one 1-thread pass of 16 GB ~9 s. `RUNS=1` and fewer `PAIRS` shorten it.
# `BASE` names the binary compared with (default `logwarden-join`), `AB_ROUNDS` its rounds
# (default `PAIRS`).
set -uo pipefail
B=$PWD/bench-data/dev16
BASE=${BASE:-logwarden-join}
if [ "${AB:-1}" != 0 ] && [ ! -x "$B/$BASE" ]; then
  echo "no $B/$BASE (the binary compared with, not kept): AB=0 runs the table and pairs only" >&2
  exit 1
fi
export LD_LIBRARY_PATH=$B DATA=${DATA:-/tmp/lw-scale-data}
OUT=${OUT:-/tmp/lw-run9}
mkdir -p "$OUT"
t0=$(date +%s)
THREADS=${THREADS:-"1 2 4 8 16"} RUNS=${RUNS:-3} NO_MMAP_ROW=0 CEILING_ROW=1 \
  scripts/device-scale.sh "$B" /tmp/lw-scale 2>&1 | tee "$OUT/table.txt"
echo "table took $(( $(date +%s) - t0 )) s"
O="--quiet --report /dev/null"
top=$(nproc); [ "$top" -gt 16 ] && top=16
for k in $(seq "${PAIRS:-3}"); do
  /usr/bin/time -f "pair $k t1 %e s %U u %S s %M KiB" "$B/logwarden" analyze --threads 1 $O --json /tmp/p1.json "$DATA"
  /usr/bin/time -f "pair $k t$top %e s %U u %S s %M KiB" "$B/logwarden" analyze --threads "$top" $O --json /tmp/pn.json "$DATA"
done 2>&1 | tee "$OUT/pairs.txt"
cmp -s /tmp/p1.json /tmp/pn.json && echo "json 1t = ${top}t" || echo "json 1t DIFFERS from ${top}t"
# AB=0: the table and pairs only (run 13, with no `logwarden-join` carried).
if [ "${AB:-1}" = 0 ]; then
  echo "total $(( $(date +%s) - t0 )) s"
  exit 0
fi
for k in $(seq "${AB_ROUNDS:-${PAIRS:-3}}"); do
  for v in "$BASE" logwarden; do
    s=$(date +%s%N); "$B/$v" analyze --threads "$top" $O --json "/tmp/ab-$v.json" "$DATA"; e=$(date +%s%N)
    echo "ab t$top $v $(( (e - s) / 1000000 )) ms"
  done
done 2>&1 | tee "$OUT/ab.txt"
cmp -s /tmp/ab-logwarden.json "/tmp/ab-$BASE.json" && echo "ab json same" || echo "ab json DIFFERS"
for v in "$BASE" logwarden "$BASE" logwarden; do
  echo -n "$v: "
  LOGWARDEN_TIMINGS=1 "$B/$v" analyze --threads "$top" $O --json /tmp/x.json "$DATA" 2>&1 | grep -v "lock\|start" | sed 's/logwarden: timing: //;s/, peak RSS [0-9]* MiB//;s/ done at//' | tr '\n' ';'; echo
done | tee "$OUT/stages.txt"
echo "total $(( $(date +%s) - t0 )) s"
