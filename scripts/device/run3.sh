#!/usr/bin/env bash
# Device run 3: is ISA-L's inflate faster than zlib-rs's on this CPU? In-process, alternating.
set -uo pipefail
B=$PWD/bench-data/dev16
export LD_LIBRARY_PATH=$B
G=/tmp/lw-gz1; mkdir -p $G "$OUT"
grep -m1 "model name" /proc/cpuinfo; grep -m1 -o -w -E "avx2|avx512f|avx512bw|vpclmulqdq|bmi2" /proc/cpuinfo | sort -u | tr '\n' ' '; echo
grep -m1 flags /proc/cpuinfo | tr ' ' '\n' | grep -E "^(avx2|avx512f|avx512bw|avx512vl|vpclmulqdq|bmi2|gfni|vaes)$" | tr '\n' ' '; echo
"$B/genlogs" --out $G --files 1 --size-mb 1000 --seed 7 --start 2023-06-19 --gzip >/dev/null 2>&1
F1=$(ls $G/*.gz); echo "genlogs --gzip (level 1, 1 MiB members):"; "$B/inflate" $F1 5
"$B/genlogs" --out $G --files 1 --size-mb 1000 --seed 7 --start 2023-06-19 >/dev/null 2>&1
F=$G/one.log.gz; "$B/pigz" -6 -p 16 -c $G/*.log > $F; ls -la $F; cat $F > /dev/null
echo "pigz -6 (one member):"; "$B/inflate" $F 7
echo "pigz -dc ms: $(s=$(date +%s%N); "$B/pigz" -dc $F > /dev/null; e=$(date +%s%N); echo $(( (e - s) / 1000000 )))"
ms() { local s e; s=$(date +%s%N); "$@" >/dev/null 2>&1; e=$(date +%s%N); echo $(( (e - s) / 1000000 )); }
for k in 1 2 3; do for v in logwarden-s12 logwarden; do for t in 1 2; do
  echo "t$t $v $(ms "$B/$v" analyze --threads $t --quiet --json /dev/null --report /dev/null $F) ms"
done; done; done
