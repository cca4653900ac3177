#!/usr/bin/env bash
# Device run 15 (thirteenth session): run 14 again for the twelfth session's final binary
# (6fe5e0e: the inputs opened in order by one thread, the map budget, the compressor check,
# the thread cap): run 13's table and 1/16-thread pairs, then that binary against
# `logwarden-c4d` (c4d741d, the binary run 14 measured) at 16 threads, alternating (4
# rounds), with stage timings. Carries `bench-data/dev16` with both binaries and `genlogs`.
BASE=logwarden-c4d AB_ROUNDS=${AB_ROUNDS:-4} OUT=${OUT:-/tmp/lw-run15} exec bash "$(dirname "$0")/run9.sh"
