#!/usr/bin/env bash
# Device run 4: 1 vs 16 threads on 16 x 1 GB plain files in the two page-cache states of
# `scripts/bench.sh` CACHE=: `written` (as the generator wrote them: small folios, mapped
# 4 KiB at a time) and `read` (dropped from the cache, then read back from disk: 2 MiB
# folios, mapped 2 MiB at a time). Runs interleaved: this session's binary at 1 and 16
# threads, and the previous session's (logwarden-s13) at 16 threads.
set -uo pipefail
B=$PWD/bench-data/dev16
export LD_LIBRARY_PATH=$B
D=/tmp/lw-scale-data
mkdir -p "$OUT" $D
"$B/logwarden" --version; nproc; uname -r; df -T /tmp | tail -1; free -g | sed -n 2p
t0=$(date +%s)
for i in $(seq 0 15); do
  day=$(date -d "2023-06-19 + $i day" +%F)
  "$B/genlogs" --out $D --files 1 --size-mb 1000 --seed $((7 + i)) --start "$day" >/dev/null 2>&1 &
done
wait; sync
echo "generated in $(( $(date +%s) - t0 )) s"; grep -E "^(Cached|FileHugePages)" /proc/meminfo
O="--quiet --report /dev/null"
rounds() {
  local state=$1
  for k in 1 2 3; do
    /usr/bin/time -f "$state new t1 %e s %U u %S s %M KiB" "$B/logwarden" analyze --threads 1 $O --json /tmp/p1.json $D
    /usr/bin/time -f "$state new t16 %e s %U u %S s %M KiB" "$B/logwarden" analyze --threads 16 $O --json /tmp/p16.json $D
    /usr/bin/time -f "$state s13 t16 %e s %U u %S s %M KiB" "$B/logwarden-s13" analyze --threads 16 $O --json /tmp/o16.json $D
  done 2>&1 | tee -a "$OUT/rounds.txt"
  cmp -s /tmp/p1.json /tmp/p16.json && echo "$state: json 1t = 16t" || echo "$state: json 1t DIFFERS from 16t"
  cmp -s /tmp/p16.json /tmp/o16.json && echo "$state: json new = s13" || echo "$state: json new DIFFERS from s13"
  /usr/bin/time -f "$state wc -l %e s" sh -c "wc -l $D/*.log >/dev/null"
  LOGWARDEN_TIMINGS=1 "$B/logwarden" analyze --threads 16 $O --json /tmp/x.json $D 2>&1 | grep -E "scan done|json done|text report"
}
rounds written
t1=$(date +%s)
# Drop the files from the cache (dd's nocache advice), then read them back from disk.
for f in $D/*.log; do dd if="$f" iflag=nocache count=0 status=none; done
grep -E "^(Cached|Dirty|FileHugePages)" /proc/meminfo
timeout 240 sh -c "for f in $D/*.log; do cat \$f >/dev/null & done; wait"
echo "evicted and read back in $(( $(date +%s) - t1 )) s"; grep -E "^(Cached|FileHugePages)" /proc/meminfo
rounds read
echo "total $(( $(date +%s) - t0 )) s"
