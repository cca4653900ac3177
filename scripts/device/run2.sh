#!/usr/bin/env bash
# Device run 2 (final binary, ISA-L inflate): 1 vs 16 threads on 16 x 1 GB plain files, runs
# interleaved; 16-thread A/B against this session's first binary; 16 x 1 GB gzip files.
set -uo pipefail
B=$PWD/bench-data/dev16
export LD_LIBRARY_PATH=$B
D=/tmp/lw-scale-data; G=/tmp/lw-gz16
mkdir -p "$OUT" $D $G
"$B/logwarden" --version; nproc; uname -r
t0=$(date +%s)
for i in $(seq 0 15); do
  day=$(date -d "2023-06-19 + $i day" +%F)
  "$B/genlogs" --out $D --files 1 --size-mb 1000 --seed $((7 + i)) --start "$day" >/dev/null 2>&1 &
done
wait
for i in $(seq 0 15); do
  day=$(date -d "2023-06-19 + $i day" +%F)
  "$B/genlogs" --out $G --files 1 --size-mb 1000 --seed $((7 + i)) --start "$day" --gzip >/dev/null 2>&1 &
done
wait; sync; cat $D/*.log $G/*.gz >/dev/null
echo "generated in $(( $(date +%s) - t0 )) s; $(du -sh $G | cut -f1) gzip"
ms() { local s e; s=$(date +%s%N); "$@" >/dev/null 2>&1; e=$(date +%s%N); echo $(( (e - s) / 1000000 )); }
O="--quiet --report /dev/null"
echo "wc -l ms: $(ms sh -c "wc -l $D/*.log")"
for k in 1 2 3 4 5; do
  for t in 1 16; do
    /usr/bin/time -f "plain t$t %e s %M KiB" "$B/logwarden" analyze --threads $t $O --json /tmp/p$t.json $D
  done
done 2>&1 | tee "$OUT/plain.txt"
cmp -s /tmp/p1.json /tmp/p16.json && echo "plain json 1t = 16t" || echo "plain json DIFFERS"
for k in 1 2 3 4 5 6; do
  for v in logwarden-s12 logwarden; do echo "ab16 $v $(ms "$B/$v" analyze --threads 16 $O --json /dev/null $D)"; done
done | tee "$OUT/ab16.txt"
/usr/bin/time -f "gz t1 %e s %M KiB" "$B/logwarden" analyze --threads 1 $O --json /tmp/g1.json $G 2>&1 | tee "$OUT/gz.txt"
for k in 1 2 3; do
  /usr/bin/time -f "gz t16 %e s %M KiB" "$B/logwarden" analyze --threads 16 $O --json /tmp/g16.json $G
  echo "gz t16 s12 $(ms "$B/logwarden-s12" analyze --threads 16 $O --json /dev/null $G) ms"
done 2>&1 | tee -a "$OUT/gz.txt"
cmp -s /tmp/g1.json /tmp/g16.json && echo "gz json 1t = 16t" || echo "gz json DIFFERS"
cmp -s /tmp/p1.json /tmp/g1.json && echo "gz json = plain json" || echo "gz json differs from plain (expected: inputs differ)"
echo "16 parallel gzip -dc ms: $(ms sh -c "for f in $G/*.gz; do gzip -dc \$f > /dev/null & done; wait")"
LOGWARDEN_TIMINGS=1 "$B/logwarden" analyze --threads 16 $O --json /tmp/x.json $D 2>&1 | tail -9
echo "total $(( $(date +%s) - t0 )) s"
