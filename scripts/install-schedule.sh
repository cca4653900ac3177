#!/usr/bin/env bash
# Install logwarden's schedule: the daily collect + analyze (00:05) and the weekly report by
# mail (Monday 08:00), as crontab lines or as systemd service + timer units.
#
#   scripts/install-schedule.sh [--cron|--systemd] [--apply] [--prefix DIR] [--user USER]
#                               [--home DIR] [--bin PATH] [--source PATH]
#
# Without --apply it only PRINTS what it would change (files it would write with their
# content, crontab lines it would add or replace) and changes nothing. With --apply it makes
# exactly those changes. Running it twice changes nothing the second time: crontab lines are
# recognised by their trailing `# logwarden-schedule:collect` / `:report` marker and replaced
# in place, never added twice; unit files identical to what is there are left alone.
#
# --cron     Edit a crontab (the default when systemd is not running). Lines:
#              5 0 * * *  cd HOME && logwarden collect --analyze ... >> log/cronjob_logs 2>&1
#              0 8 * * 1  cd HOME && mkdir -p log && { logwarden collect --analyze ...; logwarden report --week last --email ...; }
#            (the Monday job collects first: the week is over in the log's time by then, not
#            always at 00:05 by the collector's clock)
#            --user USER: that user's crontab (crontab -u USER; needs root). Default: yours.
#            --home DIR: the working directory holding log/ and logwarden.toml. Default: the
#            user's home directory.
# --systemd  Write logwarden-{collect,report}.{service,timer} (from scripts/systemd/) to
#            PREFIX/etc/systemd/system, then `systemctl daemon-reload` and
#            `systemctl enable --now` the two timers (the default when systemd is running).
#            --prefix DIR: write under DIR instead of / (packaging, tests); systemctl is then
#            not run. --user USER: the User= of the services (default: logwarden; it must
#            exist, this script does not create users). Data lives in /var/lib/logwarden/log;
#            the config is /etc/logwarden/logwarden.toml (created empty if missing, never
#            replaced: both units name it, so it must exist); the SMTP password is
#            /etc/logwarden/smtp.pass, passed as a systemd credential (see the unit files).
# --bin PATH     The logwarden binary (absolute). Default: `logwarden` on PATH, else
#                /usr/local/bin/logwarden.
# --source PATH  The live access log. Default: /var/log/apache2/access.log.
#
# Environment: CRONTAB (default: crontab) and SYSTEMCTL (default: systemctl) name the commands
# used, so tests can substitute fakes. Exit status: 0 done (or dry run printed), 2 usage or
# setup error, other: the failing command's.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
me=install-schedule.sh
marker='# logwarden-schedule:'

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; }
die() {
  echo "$me: $*" >&2
  exit 2
}

mode='' apply=0 prefix='' prefix_set=0 user='' home='' bin='' source_log=/var/log/apache2/access.log
while [ $# -gt 0 ]; do
  case $1 in
  --cron) mode=cron ;;
  --systemd) mode=systemd ;;
  --apply) apply=1 ;;
  --prefix | --user | --home | --bin | --source)
    [ $# -ge 2 ] || die "$1 needs a value"
    case $1 in
    --prefix) prefix=$2 prefix_set=1 ;;
    --user) user=$2 ;;
    --home) home=$2 ;;
    --bin) bin=$2 ;;
    --source) source_log=$2 ;;
    esac
    shift
    ;;
  -h | --help)
    usage
    exit 0
    ;;
  *) die "unknown argument '$1' (see --help)" ;;
  esac
  shift
done

if [ -z "$mode" ]; then
  if [ -d /run/systemd/system ]; then mode=systemd; else mode=cron; fi
  echo "$me: mode $mode (detected; choose with --cron or --systemd)"
fi

if [ -z "$bin" ]; then
  bin=$(command -v logwarden 2>/dev/null || true)
  case $bin in /*) ;; *) bin=/usr/local/bin/logwarden ;; esac
fi
case $bin in /*) ;; *) die "--bin must be an absolute path, got '$bin'" ;; esac
case $source_log in /*) ;; *) die "--source must be an absolute path, got '$source_log'" ;; esac

if [ $apply = 1 ]; then
  echo "$me: applying these changes:"
else
  echo "$me: dry run; these are the changes --apply would make:"
fi

finish() {
  [ -x "$bin" ] || echo "note: $bin is not an executable file yet; install logwarden there (or pass --bin)"
  if [ $apply = 1 ]; then
    echo "$me: done."
  else
    echo "$me: dry run: nothing was changed. Run again with --apply to make these changes."
  fi
}

# ---------------------------------------------------------------------------------- cron
if [ $mode = cron ]; then
  [ $prefix_set = 0 ] || die "--prefix is for --systemd (cron mode writes no files, only the crontab)"
  crontab_cmd=${CRONTAB:-crontab}
  uargs=()
  if [ -n "$user" ]; then
    uargs=(-u "$user")
    if [ -z "$home" ]; then
      home=$(getent passwd "$user" | cut -d: -f6 || true)
      [ -n "$home" ] || die "user '$user' not found; pass --home DIR"
    fi
  fi
  home=${home:-$HOME}
  case $home in /*) ;; *) die "--home must be an absolute path, got '$home'" ;; esac
  for v in "$home" "$bin" "$source_log"; do
    # cron turns % into a newline; control characters cannot be quoted for /bin/sh portably.
    case $v in *%* | *[[:cntrl:]]*) die "path '$v' contains % or a control character; cron cannot run it" ;; esac
  done
  # Quoted for cron's /bin/sh (dash): `printf %q` writes $'...' for bytes outside ASCII
  # under the C locale, which dash reads as a literal `$`. Single quotes work everywhere.
  q() {
    case $1 in
      *[!A-Za-z0-9_./:@+-]*) printf "'%s'" "${1//\'/\'\\\'\'}" ;;
      *) printf '%s' "$1" ;;
    esac
  }
  collect_cmd="$(q "$bin") collect --analyze --quiet --source $(q "$source_log") --dest log --history log/monitoring.log >> log/cronjob_logs 2>&1"
  want_collect="5 0 * * * cd $(q "$home") && mkdir -p log && $collect_cmd ${marker}collect"
  want_report="0 8 * * 1 cd $(q "$home") && mkdir -p log && { $collect_cmd; $(q "$bin") report --week last --email --quiet >> log/cronjob_logs 2>&1; } ${marker}report"

  current=''
  if command -v "$crontab_cmd" >/dev/null 2>&1; then
    # `crontab -l` fails when there is no crontab yet: that is an empty one.
    current=$("$crontab_cmd" ${uargs[@]+"${uargs[@]}"} -l 2>/dev/null) || current=''
  elif [ $apply = 1 ]; then
    die "'$crontab_cmd' not found (install cron, or use --systemd)"
  else
    echo "note: '$crontab_cmd' not found; showing the lines for an empty crontab"
  fi

  echo "crontab of ${user:-$(id -un)} (via $crontab_cmd):"
  new=()
  seen_collect=0 seen_report=0 changed=0
  if [ -n "$current" ]; then
    while IFS= read -r line || [ -n "$line" ]; do
      case $line in
      *"${marker}collect") kind=collect want=$want_collect ;;
      *"${marker}report") kind=report want=$want_report ;;
      *)
        new+=("$line")
        continue
        ;;
      esac
      seen_var=seen_$kind
      if [ "${!seen_var}" = 1 ]; then
        echo "  remove duplicate: $line"
        changed=1
        continue
      fi
      printf -v "$seen_var" 1
      if [ "$line" = "$want" ]; then
        echo "  unchanged: $line"
      else
        echo "  replace:   $line"
        echo "  with:      $want"
        changed=1
      fi
      new+=("$want")
    done <<<"$current"
  fi
  for kind in collect report; do
    seen_var=seen_$kind want_var=want_$kind
    if [ "${!seen_var}" = 0 ]; then
      echo "  add:       ${!want_var}"
      new+=("${!want_var}")
      changed=1
    fi
  done
  [ -r "$source_log" ] || echo "note: $source_log is not readable here; the collect job needs read access (e.g. group adm)"
  [ -f "$home/logwarden.toml" ] || echo "note: $home/logwarden.toml does not exist; the weekly --email job needs it (see logwarden.toml.example)"

  if [ $changed = 0 ]; then
    echo "crontab is up to date; nothing to change."
  elif [ $apply = 1 ]; then
    printf '%s\n' "${new[@]}" | "$crontab_cmd" ${uargs[@]+"${uargs[@]}"} -
    echo "crontab installed."
  fi
  finish
  exit 0
fi

# ------------------------------------------------------------------------------- systemd
[ -z "$home" ] || die "--home is for --cron; the systemd units keep their data in /var/lib/logwarden (StateDirectory=)"
user=${user:-logwarden}
[[ $user =~ ^[a-z_][a-z0-9_-]*$ ]] || die "--user '$user' is not a valid user name"
# Units for a user that does not exist fail at every run, and the reload would hand them to
# timers an earlier install started: nothing is written or reloaded until the user exists.
if [ $apply = 1 ] && [ $prefix_set = 0 ] && ! id -u "$user" >/dev/null 2>&1; then
  die "user '$user' does not exist; create it first (useradd --system --home-dir /var/lib/logwarden --shell /usr/sbin/nologin $user), or name another with --user"
fi
for v in "$bin" "$source_log"; do
  # No quoting, no specifiers (%), no spaces: the path goes into ExecStart= as is.
  [[ $v =~ ^[A-Za-z0-9._/+-]+$ ]] || die "path '$v' has characters a unit file's ExecStart= would misread"
done
# ProtectHome=yes hides /home, /root and /run/user: a binary or source log there would not be
# found by the service, so those are then made visible read-only instead.
protect_home=yes
for v in "$bin" "$source_log"; do
  case $v in /home/* | /root/* | /run/user/*) protect_home=read-only ;; esac
done
systemctl_cmd=${SYSTEMCTL:-systemctl}
unit_dir=${prefix%/}/etc/systemd/system
units=(logwarden-collect.service logwarden-collect.timer logwarden-report.service logwarden-report.timer)

render() {
  local text
  text=$(<"$here/systemd/$1")
  text=${text//"/usr/local/bin/logwarden"/"$bin"}
  text=${text//"/var/log/apache2/access.log"/"$source_log"}
  text=${text//"User=logwarden"/"User=$user"}
  text=${text//"ProtectHome=yes"/"ProtectHome=$protect_home"}
  printf '%s\n' "$text"
}

echo "unit files in $unit_dir:"
for u in "${units[@]}"; do
  target=$unit_dir/$u
  content=$(render "$u")
  if [ -f "$target" ] && [ "$(cat "$target")" = "$content" ]; then
    echo "  unchanged: $target"
    continue
  fi
  if [ -e "$target" ]; then
    echo "  write:     $target (replaces the existing file)"
  else
    echo "  write:     $target (new)"
  fi
  printf '%s\n' "$content" | sed 's/^/      | /'
  if [ $apply = 1 ]; then
    mkdir -p "$unit_dir" || die "cannot create $unit_dir (run as root, or use --prefix)"
    tmp=$(mktemp "$unit_dir/.$u.XXXXXX") || die "cannot write in $unit_dir (run as root, or use --prefix)"
    printf '%s\n' "$content" >"$tmp"
    chmod 0644 "$tmp"
    mv -f "$tmp" "$target"
  fi
done

# Both units pass --config, which must exist: without it the daily collect would fail until
# someone wrote a file it does not need. An empty one (every key is optional) is created,
# never replaced.
conf=${prefix%/}/etc/logwarden/logwarden.toml
if [ ! -e "$conf" ]; then
  echo "config: $conf (new, empty: the defaults; edit it from logwarden.toml.example)"
  if [ $apply = 1 ]; then
    mkdir -p "$(dirname "$conf")" || die "cannot create $(dirname "$conf") (run as root, or use --prefix)"
    printf '%s\n' "# logwarden's config: every key is optional; see logwarden.toml.example." \
      "# The weekly mail (logwarden-report.service) needs [email] and [smtp]." >"$conf" ||
      die "cannot write $conf"
    chmod 0644 "$conf"
  fi
else
  echo "config: $conf (kept as it is)"
fi

cmds=("$systemctl_cmd daemon-reload" "$systemctl_cmd enable --now logwarden-collect.timer logwarden-report.timer")
if [ $prefix_set = 1 ]; then
  echo "systemctl: not run (--prefix given); on the target system run:"
  printf '  %s\n' "${cmds[@]}"
else
  echo "commands:"
  printf '  run:       %s\n' "${cmds[@]}"
  if [ $apply = 1 ]; then
    "$systemctl_cmd" daemon-reload
    "$systemctl_cmd" enable --now logwarden-collect.timer logwarden-report.timer
  fi
fi
id -u "$user" >/dev/null 2>&1 ||
  echo "note: user '$user' does not exist; create it first, e.g. useradd --system --home-dir /var/lib/logwarden --shell /usr/sbin/nologin $user"
[ -s "$conf" ] && grep -q '^\[email\]' "$conf" ||
  echo "note: $conf has no [email] yet; the weekly mail needs [email] and [smtp] (see logwarden.toml.example)"
[ -f "${prefix%/}/etc/logwarden/smtp.pass" ] ||
  echo "note: ${prefix%/}/etc/logwarden/smtp.pass does not exist; create it (root, mode 0600) or delete LoadCredential= from logwarden-report.service if the relay needs no login"
finish
