#!/usr/bin/env bash
# Seed-compatible daily job (the seed's get_logs.sh, made rotation-safe): collect what Apache
# logged since the last run into ./log/access_YYYY-MM-DD.log, analyze it, and append a
# timestamped record to log/monitoring.log (+ log/history.jsonl). Everything the run prints
# is appended to log/cronjob_logs, as the seed's cron line did.
#
#   0 0 * * * /bin/bash /home/user/get_logs.sh >> /home/user/log/cronjob_logs   (seed)
#   5 0 * * * LOGWARDEN_BIN=/usr/local/bin/logwarden /bin/bash /path/to/scripts/get_log.sh   (now)
#
# cron runs with PATH=/usr/bin:/bin: name the binary (LOGWARDEN_BIN) unless it is there, or
# every run fails with "command not found" (exit 127, noted in log/cronjob_logs).
#
# Environment (all optional): LOGWARDEN_HOME (working directory holding ./log; default
# $HOME), LOGWARDEN_SOURCE (default /var/log/apache2/access.log), LOGWARDEN_BIN (default
# logwarden on PATH). Exit status: logwarden's (0 ok, 1 some input unreadable, 2 failed).
#
# It takes no arguments: `--help` prints this text; anything else is a usage error (exit 2).
set -uo pipefail
case "$#:${1-}" in
0:) ;;
1:-h | 1:--help)
  sed -n '2,/^set -uo/{/^set -uo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
  exit 0
  ;;
*)
  echo "get_log.sh: takes no arguments (configure it with LOGWARDEN_* variables; see --help)" >&2
  exit 2
  ;;
esac
cd "${LOGWARDEN_HOME:-$HOME}" || exit 2
mkdir -p log || exit 2
source_log=${LOGWARDEN_SOURCE:-/var/log/apache2/access.log}
bin=${LOGWARDEN_BIN:-logwarden}
rc=0
{
  echo "--- $(date '+%Y-%m-%dT%H:%M:%S%z') get_log.sh"
  "$bin" collect --analyze --quiet --source "$source_log" --dest log --history log/monitoring.log || rc=$?
} >>log/cronjob_logs 2>&1
exit "$rc"
