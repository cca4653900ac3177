# Sourced by the device run scripts (run5.sh, run7.sh, run8.sh): the carried binaries in
# bench-data/dev16 (with their libisal.so.2), $D, and 16 days of 1 GB generated there in
# parallel (genlogs seeds 7-22, from 2023-06-19: the files of `scripts/device-scale.sh`).
# FILES and SIZE_MB shrink the set for a smoke test on the VM.
B=$PWD/bench-data/dev16
export LD_LIBRARY_PATH=$B
D=/tmp/lw-scale-data
mkdir -p "$OUT" "$D"
t0=$(date +%s)
for i in $(seq 0 $((${FILES:-16} - 1))); do
  day=$(date -d "2023-06-19 + $i day" +%F)
  "$B/genlogs" --out "$D" --files 1 --size-mb "${SIZE_MB:-1000}" --seed $((7 + i)) --start "$day" >/dev/null 2>&1 &
done
wait; sync
echo "generated in $(( $(date +%s) - t0 )) s: $(cat "$D"/* | wc -c) bytes"
