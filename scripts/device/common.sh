# Sourced by the device run scripts (run5.sh, run7.sh, run8.sh, run10-12.sh): the carried binaries in
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

# `alternate_16t ROUNDS BINARY...`: each binary in turn, ROUNDS times, at 16 threads with the
# JSON to /dev/null (kept in /tmp/j-BINARY.json of the last round, compared with the first
# binary's at the end): stage timings, CPU, peak RSS and wall time, one line a run (runs 11, 12).
alternate_16t() {
  local rounds=$1 v s e
  shift
  for _ in $(seq "$rounds"); do
    for v in "$@"; do
      s=$(date +%s%N)
      LOGWARDEN_TIMINGS=1 /usr/bin/time -f "%U u %S s %M KiB" "$B/$v" analyze --threads 16 --quiet --report /dev/null --json "/tmp/j-$v.json" "$D" 2>&1 |
        grep -E "scan done|store finished|summary done|json done|lock| u " | sed 's/logwarden: timing: //;s/, peak RSS [0-9]* MiB//;s/ done at//' | tr '\n' ';'
      e=$(date +%s%N); echo " wall $(( (e - s) / 1000000 )) ms: $v"
    done
  done
  for v in "${@:2}"; do
    cmp -s "/tmp/j-$1.json" "/tmp/j-$v.json" && echo "json same: $v" || echo "json DIFFERS: $v"
  done
}
