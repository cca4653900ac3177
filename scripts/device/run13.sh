#!/usr/bin/env bash
# Device run 13: the 16 x 1 GB table (1-16 threads, scan-only row) and three 1-thread /
# 16-thread pairs for the seventh session's final binary (8k-entry tables at 16 threads):
# run 9's table and pairs, without its A/B against run 6's binary.
AB=0 OUT=${OUT:-/tmp/lw-run13} exec bash "$(dirname "$0")/run9.sh"
