#!/usr/bin/env bash
# Device run 14 (tenth session): run 13's table and 1/16-thread pairs for the ninth
# session's final binary (c4d741d: mapped long lines read window by window, the shrink
# checks), then that binary against `logwarden-c98` (c98fc4d, the binary runs 9-13
# measured) at 16 threads, alternating (4 rounds), with stage timings: whether two sessions
# of fixes cost anything at 16 threads. Carries `bench-data/dev16` with both binaries and
# `genlogs`.
BASE=logwarden-c98 AB_ROUNDS=${AB_ROUNDS:-4} OUT=${OUT:-/tmp/lw-run14} exec bash "$(dirname "$0")/run9.sh"
