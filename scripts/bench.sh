#!/usr/bin/env bash
# Reproducible benchmark of logwarden against its peers, in one run, on the same files.
#
#   scripts/bench.sh                      # 1000 MB plain file + its .gz, 5 runs each
#   SIZE_MB=200 RUNS=3 GOACCESS=0 scripts/bench.sh
#
# Environment:
#   SIZE_MB          size of the generated log, MB of text (default 1000)
#   RUNS             hyperfine runs for the fast commands (default 5)
#   SLOW_RUNS        hyperfine runs for GoAccess and the Python seed (default 2, no warmup)
#   OUT              data and results directory (default ./bench-data, git-ignored)
#   GOACCESS         0 skips GoAccess (default 1: run it when installed)
#
# Run as root on Debian/Ubuntu, it installs what is missing with apt-get (hyperfine, mawk,
# pigz, time, goaccess unless GOACCESS=0, and libisal-dev for the ISA-L build); otherwise it
# names the packages and stops.
#   SEED             genlogs --seed (default 42)
#   CLIENTS          genlogs --clients (default 50000)
#   FAILING_CLIENTS  genlogs --failing-clients (default 0; e.g. 1000000 for the memory test)
#   GZIP_LEVEL       compression level of the .gz copy (default 6, like gzip/logrotate)
#   INTERLEAVE       1 times the fast commands round-robin (RUNS rounds, each round in the
#                    opposite order to the last; one warm-up each) instead of one hyperfine
#                    run per command, so a slow spell of a shared host falls on every
#                    command alike; the ratios are then each round's peers side by side
#                    (default 0: hyperfine)
#   CACHE            how the plain file sits in the page cache: `written` (default: as just
#                    written in small pieces by `cat`, as `cp`, `collect` or a web server
#                    writes, in small folios: the file is rewritten to get there) or `read`
#                    (dropped from the cache, then read back from disk by `cat`: Linux 6.x
#                    readahead caches it in large folios, mostly 2 MiB, which a map then
#                    takes with one page-table entry per 2 MiB, and `read` copies faster: an
#                    archive read back from disk). One thread is ~25 % slower on a `written`
#                    file (BENCHMARKS.md, runs AX and AY)
#
# Steps: build; generate one plain file with examples/genlogs and a single-member gzip copy
# (pigz); warm the page cache; time every command with its own hyperfine run (a failing
# command is reported and skipped, the others go on); print a table of medians, MB/s of the
# uncompressed size, the ratios the project targets (and all threads against each peer),
# and logwarden's peak RSS. Checks, printed with the table (`checks.txt`): the JSON of one
# thread and of all threads is byte-identical, plain and gzipped, and the plain file's equals
# its .gz copy's (the input entry aside); logwarden's distinct failing clients against
# mawk's count. A JSON that differs makes the script exit 1 after the table.
set -euo pipefail

SIZE_MB=${SIZE_MB:-1000}
RUNS=${RUNS:-5}
SLOW_RUNS=${SLOW_RUNS:-2}
OUT=${OUT:-./bench-data}
GOACCESS=${GOACCESS:-1}
SEED=${SEED:-42}
CLIENTS=${CLIENTS:-50000}
FAILING_CLIENTS=${FAILING_CLIENTS:-0}
GZIP_LEVEL=${GZIP_LEVEL:-6}

cd "$(dirname "$0")/.."
ROOT=$(pwd)
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

say() { printf '\n== %s\n' "$*" >&2; }

# ---------------------------------------------------------------------------- tools
need_tools() {
    local missing=() pkgs=()
    command -v hyperfine >/dev/null || { missing+=(hyperfine); pkgs+=(hyperfine); }
    command -v mawk >/dev/null || { missing+=(mawk); pkgs+=(mawk); }
    command -v pigz >/dev/null || { missing+=(pigz); pkgs+=(pigz); }
    command -v gzip >/dev/null || { missing+=(gzip); pkgs+=(gzip); }
    command -v python3 >/dev/null || { missing+=(python3); pkgs+=(python3); }
    # GNU time (Debian package `time`), for the peak RSS; the shell keyword does not do -v.
    [ -x /usr/bin/time ] && /usr/bin/time -v true >/dev/null 2>&1 || { missing+=(/usr/bin/time); pkgs+=(time); }
    if [ "$GOACCESS" != 0 ] && ! command -v goaccess >/dev/null; then
        pkgs+=(goaccess) # optional: skipped if it cannot be installed
    fi
    # Optional: with ISA-L's headers the build inflates gzip with ISA-L (build.rs).
    [ -f /usr/include/isa-l/igzip_lib.h ] || pkgs+=(libisal-dev)
    [ ${#pkgs[@]} -eq 0 ] && return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        say "installing: ${pkgs[*]}"
        export DEBIAN_FRONTEND=noninteractive
        # One package at a time: apt-get installs nothing of a list that names one it cannot
        # find, and an optional one (goaccess, libisal-dev) must not keep out the others.
        local updated=0
        for pkg in "${pkgs[@]}"; do
            apt-get install -y "$pkg" >&2 && continue
            [ $updated = 1 ] && continue
            updated=1
            apt-get update >&2 && apt-get install -y "$pkg" >&2 || true
        done
    fi
    local still=()
    for t in "${missing[@]}"; do
        if [ "$t" = /usr/bin/time ]; then
            [ -x /usr/bin/time ] || still+=("$t")
        else
            command -v "$t" >/dev/null || still+=("$t")
        fi
    done
    if [ ${#still[@]} -gt 0 ]; then
        echo "missing tools: ${still[*]}" >&2
        echo "install them with: sudo apt-get install -y hyperfine goaccess pigz time mawk" >&2
        exit 1
    fi
}
need_tools
if [ "$GOACCESS" != 0 ] && ! command -v goaccess >/dev/null; then
    echo "goaccess not installed: skipping it (apt-get install -y goaccess)" >&2
    GOACCESS=0
fi

# ---------------------------------------------------------------------------- build
say "building (cargo build --release)"
LW="$ROOT/target/release/logwarden"
GEN="$ROOT/target/release/examples/genlogs"
build_ok=1
cargo build --release >&2 || build_ok=0
# build.rs looks for ISA-L only when it runs: a binary built before libisal-dev was installed
# (above, or by hand) keeps zlib-rs, and a later `cargo build` does not look again.
if [ $build_ok = 1 ] && [ -f /usr/include/isa-l/igzip_lib.h ] &&
    ! "$LW" --version | grep -q 'isa-l'; then
    say "ISA-L is installed but $LW was built without it: building again"
    touch build.rs
    cargo build --release >&2 || build_ok=0
fi
# genlogs is an example, so it needs the library to compile; fall back to an older binary.
cargo build --release --example genlogs >&2 || build_ok=0
if [ $build_ok = 0 ]; then
    echo "warning: cargo build failed; using the binaries already in target/release if any" >&2
fi
[ -x "$GEN" ] || { echo "no genlogs binary ($GEN): fix the build first" >&2; exit 1; }

# ---------------------------------------------------------------------------- data
# Generation is deterministic; reuse the files when the parameters and generator are unchanged.
DATA="$OUT/data-${SIZE_MB}mb-seed${SEED}-c${CLIENTS}-f${FAILING_CLIENTS}"
FILE="$DATA/access_2023-06-19.log"
GZ="$FILE.gz"
STAMP="$DATA/.params"
PARAMS="size=$SIZE_MB seed=$SEED clients=$CLIENTS failing=$FAILING_CLIENTS gzip=$GZIP_LEVEL gen=$(sha256sum examples/genlogs.rs | cut -c1-16)"
if [ -f "$FILE" ] && [ -f "$GZ" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$PARAMS" ]; then
    say "reusing $FILE"
else
    say "generating $FILE ($SIZE_MB MB) and its gzip copy"
    rm -rf "$DATA"
    "$GEN" --out "$DATA" --files 1 --size-mb "$SIZE_MB" --seed "$SEED" --clients "$CLIENTS" \
        --failing-clients "$FAILING_CLIENTS" --start 2023-06-19
    pigz "-$GZIP_LEVEL" -c "$FILE" >"$GZ.tmp" && mv "$GZ.tmp" "$GZ"
    echo "$PARAMS" >"$STAMP"
fi
BYTES=$(stat -c %s "$FILE")
GZ_BYTES=$(stat -c %s "$GZ")
LINES=$(wc -l <"$FILE")

# Warm the page cache (all runs measure warm-cache speed).
MEM_AVAIL_KB=$(awk '/MemAvailable/ {print $2}' /proc/meminfo)
if [ $(((BYTES + GZ_BYTES) / 1024)) -gt "$MEM_AVAIL_KB" ]; then
    echo "warning: the files ($(((BYTES + GZ_BYTES) / 1000000)) MB) exceed available memory; timings include disk reads" >&2
fi
CACHE=${CACHE:-written}
case "$CACHE" in
written)
    # A copy written by `cat` (small writes) is cached in small folios, like a fresh log.
    cat "$FILE" >"$FILE.tmp" && mv "$FILE.tmp" "$FILE" && sync "$FILE"
    ;;
read)
    # POSIX_FADV_DONTNEED drops the file's clean pages without root; `cat` reads it cold.
    python3 -c 'import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY); os.fsync(fd)
os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED); os.close(fd)' "$FILE"
    ;;
*) echo "CACHE must be written or read" >&2; exit 2 ;;
esac
cat "$FILE" "$GZ" >/dev/null

# ---------------------------------------------------------------------------- runs
RES="$OUT/results"
rm -rf "$RES"
mkdir -p "$RES"
# The mawk per-IP failed-count one-liner (what people write by hand).
MAWK_PROG='$9 ~ /^(400|401|403|404|409)$/ {c[$1]++} END {for (i in c) n++; print n}'
LW_ARGS="analyze --quiet --json /dev/null --report /dev/null"

INTERLEAVE=${INTERLEAVE:-0}
QUEUED=()
# bench NAME RUNS WARMUP COMMAND [slow]: one hyperfine run, JSON in $RES/NAME.json; never
# fatal. With INTERLEAVE=1 the fast commands (all but those marked `slow`) are queued for
# `run_queued` instead.
bench() {
    local name=$1 runs=$2 warmup=$3 cmd=$4 speed=${5:-fast}
    if [ "$INTERLEAVE" = 1 ] && [ "$speed" = fast ]; then
        QUEUED+=("$name" "$cmd")
        return
    fi
    say "$name: $cmd"
    printf '%s\n' "$cmd" >"$RES/$name.cmd"
    if ! hyperfine --style basic --warmup "$warmup" --runs "$runs" \
        --command-name "$name" --export-json "$RES/$name.json" "$cmd" >&2; then
        echo "FAILED (skipped): $name" >&2
        rm -f "$RES/$name.json"
        echo "$name" >>"$RES/failed.txt"
    fi
}
printf '%s\n' "$FILE" >"$RES/file.txt"

# logwarden may not work yet: check it once, so a broken build reports instead of aborting.
lw_ok=1
if [ ! -x "$LW" ]; then
    echo "no logwarden binary ($LW): its rows will be missing" >&2
    lw_ok=0
elif ! "$LW" $LW_ARGS --threads 1 "$FILE" >"$RES/logwarden-check.log" 2>&1; then
    echo "logwarden failed on $FILE (see $RES/logwarden-check.log); its rows will be missing" >&2
    tail -5 "$RES/logwarden-check.log" >&2 || true
    lw_ok=0
fi

# Plain file.
[ $lw_ok = 1 ] && bench "logwarden-1t" "$RUNS" 1 "$LW $LW_ARGS --threads 1 $FILE"
[ $lw_ok = 1 ] && bench "logwarden" "$RUNS" 1 "$LW $LW_ARGS $FILE"
bench "wc-l" "$RUNS" 1 "wc -l $FILE"
bench "mawk" "$RUNS" 1 "mawk '$MAWK_PROG' $FILE"
if [ "$GOACCESS" != 0 ]; then
    bench "goaccess" "$SLOW_RUNS" 0 "goaccess $FILE --log-format=COMBINED -o $RES/goaccess-report.json" slow
fi
bench "python-seed" "$SLOW_RUNS" 0 "python3 $ROOT/scripts/seed_baseline.py $FILE" slow
# Gzip copy.
bench "pigz-dc" "$RUNS" 1 "pigz -dc $GZ > /dev/null"
bench "gzip-dc" "$RUNS" 1 "gzip -dc $GZ > /dev/null"
[ $lw_ok = 1 ] && bench "logwarden-gz-1t" "$RUNS" 1 "$LW $LW_ARGS --threads 1 $GZ"
[ $lw_ok = 1 ] && bench "logwarden-gz" "$RUNS" 1 "$LW $LW_ARGS $GZ"

# run_queued: the queued commands round-robin, timed here, written as hyperfine's JSON.
run_queued() {
    [ ${#QUEUED[@]} = 0 ] && return
    say "interleaved: $((${#QUEUED[@]} / 2)) commands, $RUNS rounds"
    python3 - "$RES" "$RUNS" "${QUEUED[@]}" <<'PY' >&2
import json, os, shlex, statistics, subprocess, sys, time
res, rounds, rest = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
jobs = list(zip(rest[0::2], rest[1::2]))
times = {name: [] for name, _ in jobs}
failed = set()
def once(name, cmd):
    # No shell in between (hyperfine subtracts its start-up): stdout is thrown away here.
    argv = shlex.split(cmd.replace(" > /dev/null", ""))
    start = time.perf_counter()
    done = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if done.returncode != 0:
        failed.add(name)
    return time.perf_counter() - start
for name, cmd in jobs:
    once(name, cmd)  # warm-up
for r in range(rounds):
    for name, cmd in (jobs if r % 2 == 0 else jobs[::-1]):
        times[name].append(once(name, cmd))
    print(f"round {r + 1}: " + "  ".join(f"{n} {times[n][-1]:.3f}" for n, _ in jobs), flush=True)
for name, cmd in jobs:
    if name in failed:
        print(f"FAILED (skipped): {name}")
        with open(os.path.join(res, "failed.txt"), "a") as f:
            f.write(name + "\n")
        continue
    t = times[name]
    result = {"command": name, "median": statistics.median(t), "stddev": statistics.stdev(t) if len(t) > 1 else 0.0, "times": t}
    json.dump({"results": [result]}, open(os.path.join(res, name + ".json"), "w"))
    open(os.path.join(res, name + ".cmd"), "w").write(cmd + "\n")
PY
}
run_queued

# Peak RSS (GNU time; note: with mmap, RSS includes the file's mapped pages).
rss() {
    local name=$1
    shift
    if /usr/bin/time -v "$@" >/dev/null 2>"$RES/$name.time"; then
        awk -F': ' '/Maximum resident set size/ {print $2}' "$RES/$name.time" >"$RES/$name.rss"
    else
        echo "peak RSS run failed: $*" >&2
    fi
}
if [ $lw_ok = 1 ]; then
    rss rss-logwarden "$LW" $LW_ARGS "$FILE"
    rss rss-logwarden-1t "$LW" $LW_ARGS --threads 1 "$FILE"
    rss rss-logwarden-gz "$LW" $LW_ARGS "$GZ"
fi
rss rss-mawk mawk "$MAWK_PROG" "$FILE"

# Sanity: the mawk count of distinct clients with a failed request (awk's $9, so lines whose
# request is one token, like a TLS handshake, are not seen by it).
MAWK_COUNT=$(mawk "$MAWK_PROG" "$FILE")

# Checks: the JSON of one thread and of all threads, plain and gzipped, must be the same
# bytes (the gzipped input's own `inputs` entry aside), and logwarden's distinct failing
# clients of the day are compared with mawk's count.
CHECKS="$RES/checks.txt"
: >"$CHECKS"
checks_ok=1
if [ $lw_ok = 1 ]; then
    for run in "1t --threads 1 $FILE" "all --threads 0 $FILE" "gz-1t --threads 1 $GZ" "gz-all --threads 0 $GZ"; do
        set -- $run
        "$LW" analyze --quiet --report /dev/null --json "$RES/check-$1.json" "$2" "$3" "$4" || checks_ok=0
    done
    python3 - "$RES" "$MAWK_COUNT" >>"$CHECKS" <<'PY' || checks_ok=0
import json, os, sys
res, mawk = sys.argv[1], int(sys.argv[2])
raw = {n: open(os.path.join(res, f"check-{n}.json"), "rb").read() for n in ["1t", "all", "gz-1t", "gz-all"]}
ok = True
for a, b in [("1t", "all"), ("gz-1t", "gz-all")]:
    same = raw[a] == raw[b]
    ok &= same
    print(f"JSON {a} = JSON {b}: {'yes' if same else 'NO'}")
plain, gz = json.loads(raw["1t"]), json.loads(raw["gz-1t"])
plain.pop("inputs"), gz.pop("inputs")
same = plain == gz
ok &= same
print(f"JSON of the plain file = JSON of its .gz (inputs aside): {'yes' if same else 'NO'}")
ours = sum(d["failing_ips"] for d in plain["days"])
print(f"distinct failing clients: logwarden {ours}, mawk {mawk}: "
      + ("agree" if ours == mawk else "differ (mawk's $9 misses lines whose request is one token)"))
sys.exit(0 if ok else 1)
PY
fi

# ---------------------------------------------------------------------------- report
{
    echo "machine: $(nproc) CPUs, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), $(uname -sr)"
    echo "binary: $("$LW" --version)"
    echo "tools: $(hyperfine --version), mawk $(mawk -W version 2>&1 | head -1 | awk '{print $2}'), pigz $(pigz --version 2>&1 | awk '{print $2}'), $(gzip --version | head -1), $(python3 --version)$( [ "$GOACCESS" != 0 ] && echo ", goaccess $(goaccess --version | head -1 | awk '{print $3}')")"
    echo "FILE = $FILE: $BYTES bytes, $LINES lines; gzip -$GZIP_LEVEL copy $GZ_BYTES bytes; page cache: $CACHE"
    echo "mawk distinct failing clients: $MAWK_COUNT"
    cat "$CHECKS"
    [ "$INTERLEAVE" = 1 ] && echo "timing: fast commands interleaved, $RUNS rounds (INTERLEAVE=1)"
} >"$RES/header.txt"

python3 - "$RES" "$BYTES" "$ROOT" "$INTERLEAVE" <<'PY'
import json, os, statistics, sys

res, size, root = sys.argv[1], int(sys.argv[2]), sys.argv[3]
# Interleaved: the i-th time of every fast command is from the same round.
interleaved = sys.argv[4] == "1"
mb = size / 1e6
file_path = open(os.path.join(res, "file.txt")).read().strip()
gz_path = file_path + ".gz"

def load(name):
    p = os.path.join(res, name + ".json")
    if not os.path.exists(p):
        return None
    r = json.load(open(p))["results"][0]
    med = r.get("median")
    if med is None:
        med = statistics.median(r["times"])
    med = max(med, 1e-6)  # hyperfine subtracts the shell's start-up: a no-op can read 0
    cmd = open(os.path.join(res, name + ".cmd")).read().strip()
    cmd = cmd.replace(gz_path, "FILE.gz").replace(file_path, "FILE").replace(root + "/", "")
    return {"cmd": cmd, "median": med, "stddev": r.get("stddev") or 0.0, "runs": len(r["times"]),
            "times": r["times"]}

order = ["logwarden-1t", "logwarden", "wc-l", "mawk", "goaccess", "python-seed",
         "pigz-dc", "gzip-dc", "logwarden-gz-1t", "logwarden-gz"]
rows = {n: load(n) for n in order}
out = []
print_ = out.append
print_(open(os.path.join(res, "header.txt")).read().rstrip())
print_("")
print_(f"{'name':<17} {'median s':>9} {'± s':>7} {'runs':>4} {'MB/s':>9}  command")
for n in order:
    r = rows[n]
    if r is None:
        continue
    print_(f"{n:<17} {r['median']:>9.3f} {r['stddev']:>7.3f} {r['runs']:>4} {mb / r['median']:>9.1f}  {r['cmd']}")
failed = os.path.join(res, "failed.txt")
if os.path.exists(failed):
    print_("failed: " + ", ".join(open(failed).read().split()))

print_("")
print_("targets (ratio = how many times faster; MB/s are of the uncompressed size"
       + ("; rounds: the median and range of each round's ratio)" if interleaved else ")") + ":")
targets = [
    ("logwarden 1 thread vs mawk", "mawk", "logwarden-1t", 8.0),
    ("logwarden 1 thread vs wc -l", "wc-l", "logwarden-1t", 0.5),
    ("logwarden all threads vs 1 thread", "logwarden-1t", "logwarden", 1.8),
    ("gz: logwarden 1 thread vs pigz -dc", "pigz-dc", "logwarden-gz-1t", 2.0),
    ("gz: logwarden all threads vs pigz -dc", "pigz-dc", "logwarden-gz", 2.5),
    ("logwarden 1 thread vs python seed", "python-seed", "logwarden-1t", None),
    ("logwarden 1 thread vs goaccess", "goaccess", "logwarden-1t", None),
    ("logwarden all threads vs mawk", "mawk", "logwarden", None),
    ("logwarden all threads vs wc -l", "wc-l", "logwarden", None),
    ("logwarden all threads vs python seed", "python-seed", "logwarden", None),
    ("logwarden all threads vs goaccess", "goaccess", "logwarden", None),
    ("gz: logwarden 1 thread vs gzip -dc", "gzip-dc", "logwarden-gz-1t", None),
]
for label, base, ours, goal in targets:
    b, o = rows.get(base), rows.get(ours)
    if b is None or o is None:
        print_(f"  {label:<40} n/a")
        continue
    ratio = b["median"] / o["median"]
    verdict = "" if goal is None else (f"  target >= {goal:g}: " + ("PASS" if ratio >= goal else "FAIL"))
    if interleaved and len(b["times"]) == len(o["times"]) > 1:
        per = sorted(x / y for x, y in zip(b["times"], o["times"]))
        verdict += f"  rounds: {statistics.median(per):.2f}x ({per[0]:.2f}-{per[-1]:.2f})"
    print_(f"  {label:<40} {ratio:8.2f}x{verdict}")

print_("")
print_("peak RSS (GNU time -v; with mmap it includes mapped file pages):")
for name, label in [("rss-logwarden", "logwarden (all threads)"), ("rss-logwarden-1t", "logwarden --threads 1"),
                    ("rss-logwarden-gz", "logwarden .gz (all threads)"), ("rss-mawk", "mawk")]:
    p = os.path.join(res, name + ".rss")
    if os.path.exists(p):
        kb = int(open(p).read().strip() or 0)
        print_(f"  {label:<30} {kb / 1024:9.1f} MiB")
text = "\n".join(out)
print(text)
open(os.path.join(res, "summary.txt"), "w").write(text + "\n")
PY
echo "" >&2
echo "results: $RES (hyperfine JSON per command, summary.txt)" >&2
if [ $checks_ok = 0 ]; then
    echo "a check failed (see checks.txt): the JSON differs between thread counts or inputs" >&2
    exit 1
fi
