# shellcheck shell=bash
# shellcheck disable=SC2034  # variables are used by the scripts sourcing this
# Shared by tests/rig/setup and tests/rig/teardown.  Not executable on its own.

# useradd, update-ca-certificates etc. live in sbin; cron/env -i callers may lack it.
export PATH=${PATH:+$PATH:}/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

CD_RIG_DIR=${CD_RIG_DIR:-/var/lib/cd-test-rig}
# Ports: a variable set by the caller is used as given (and must be free or
# held by this rig); otherwise the port recorded in $CD_RIG_DIR/ports by an
# earlier setup, so reruns keep their addresses; otherwise the default, or a
# free port when something else holds the default (rig_pick_ports).
RIG_PORT_VARS=(CD_RIG_PORT CD_RIG_AUTH_PORT CD_RIG_TOKEN_PORT CD_RIG_TOKEN_SERVER_PORT)
declare -A RIG_PORT_DEFAULT=([CD_RIG_PORT]=5443 [CD_RIG_AUTH_PORT]=5444
  [CD_RIG_TOKEN_PORT]=5445 [CD_RIG_TOKEN_SERVER_PORT]=5446)
declare -A RIG_PORT_GIVEN=()
for v in "${RIG_PORT_VARS[@]}"; do
  [[ -z ${!v:-} ]] || RIG_PORT_GIVEN[$v]=${!v}
done
RIG_USER=cdtest
RIG_CA_TRUST=/usr/local/share/ca-certificates/cd-test-rig.crt
RIG_CERTS_D=/etc/containers/certs.d
RIG_REGISTRIES=(open auth token)
RIG_TOKEN_SERVICE=cd-rig-registry
RIG_TOKEN_ISSUER=cd-rig-token
RIG_QUIET=false

case $CD_RIG_DIR in
  /*) ;;
  *) echo "rig: CD_RIG_DIR must be an absolute path: $CD_RIG_DIR" >&2; exit 2 ;;
esac
# Values end up unquoted in a KEY=VALUE env file; keep them boring.
if [[ ! $CD_RIG_DIR =~ ^/[A-Za-z0-9._/-]+$ ]]; then
  echo "rig: CD_RIG_DIR may only contain [A-Za-z0-9._/-]: $CD_RIG_DIR" >&2
  exit 2
fi
CD_RIG_DIR=${CD_RIG_DIR%/}
RIG_TOKEN_DIR=$CD_RIG_DIR/token-server
RIG_PORTS_FILE=$CD_RIG_DIR/ports

# Sets the port variables: given > recorded > default (see above).
rig_load_ports() {
  local v recorded
  for v in "${RIG_PORT_VARS[@]}"; do
    recorded=$(sed -n "s/^$v=//p" "$RIG_PORTS_FILE" 2>/dev/null || true)
    printf -v "$v" %s "${RIG_PORT_GIVEN[$v]:-${recorded:-${RIG_PORT_DEFAULT[$v]}}}"
    if [[ ! ${!v} =~ ^[0-9]+$ ]] || ((${!v} < 1 || ${!v} > 65535)); then
      echo "rig: $v must be a port number (1-65535), not '${!v}'" >&2
      exit 2
    fi
  done
}
rig_load_ports

say() { "$RIG_QUIET" || echo "rig: $*" >&2; }
die() { echo "rig: ERROR: $*" >&2; exit 1; }

# Run a command with its output captured; show the output only on failure.
quietly() {
  local out rc=0
  out=$(mktemp)
  "$@" >"$out" 2>&1 || rc=$?
  if ((rc != 0)); then
    echo "rig: command failed (exit $rc): $*" >&2
    tail -n 40 "$out" >&2
    rm -f "$out"
    return "$rc"
  fi
  rm -f "$out"
}

# Take the rig lock on fd 9 (released when the script exits).  Children that
# must outlive the script (the registries) are started with 9>&- so they do
# not inherit it.
rig_lock() {
  mkdir -p "$CD_RIG_DIR"
  chmod 0755 "$CD_RIG_DIR"
  exec 9>"$CD_RIG_DIR/lock"
  if ! flock -n 9; then
    say "waiting for another rig setup/teardown to finish"
    flock -w "${CD_RIG_LOCK_TIMEOUT:-900}" 9 || die "timed out waiting for $CD_RIG_DIR/lock"
  fi
}

# True when nothing holds 127.0.0.1:$1 (a listener makes bind fail even
# with SO_REUSEADDR, which only lets TIME_WAIT leftovers pass).
port_free() {
  /usr/bin/python3 -c '
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))' "$1" 2>/dev/null
}

# A port the kernel says is free now.
free_port() {
  /usr/bin/python3 -c '
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# True when this rig's own process for port variable $1 is running and
# configured for port $2 (then the port is ours, not taken).
port_ours() {
  local name
  case $1 in
    CD_RIG_TOKEN_SERVER_PORT)
      token_server_pid >/dev/null &&
        grep -q "\"listen\": \"127.0.0.1:$2\"" "$RIG_TOKEN_DIR/config.json" 2>/dev/null
      return
      ;;
    CD_RIG_PORT) name=open ;;
    CD_RIG_AUTH_PORT) name=auth ;;
    CD_RIG_TOKEN_PORT) name=token ;;
  esac
  reg_pid "$name" >/dev/null && grep -qx "  addr: 127.0.0.1:$2" "$(reg_dir "$name")/config.yml" 2>/dev/null
}

# Makes sure every port variable names a port this rig can listen on, and
# records them in $RIG_PORTS_FILE.  A port another program holds is
# replaced by a free one, unless the caller set the variable: then setup
# stops and says which variable to change.
rig_pick_ports() {
  local v p taken=" " tmp
  rig_load_ports
  for v in "${RIG_PORT_VARS[@]}"; do
    p=${!v}
    if [[ $taken != *" $p "* ]] && { port_ours "$v" "$p" || port_free "$p"; }; then
      taken+="$p "
      continue
    fi
    if [[ -n ${RIG_PORT_GIVEN[$v]:-} ]]; then
      die "127.0.0.1:$p ($v) is in use by another program: set $v to a free port, or unset it to let setup pick one"
    fi
    local i=0
    until p=$(free_port) && [[ $taken != *" $p "* ]]; do
      ((++i < 20)) || die "found no free port for $v: set $v to a free port"
    done
    say "127.0.0.1:${!v} is in use by another program: $v=$p instead"
    printf -v "$v" %s "$p"
    taken+="$p "
  done
  tmp=$RIG_PORTS_FILE.tmp.$$
  for v in "${RIG_PORT_VARS[@]}"; do echo "$v=${!v}"; done >"$tmp"
  mv -f "$tmp" "$RIG_PORTS_FILE"
}

reg_port() {
  case $1 in
    open) echo "$CD_RIG_PORT" ;;
    auth) echo "$CD_RIG_AUTH_PORT" ;;
    token) echo "$CD_RIG_TOKEN_PORT" ;;
    *) die "unknown registry $1" ;;
  esac
}
reg_dir() { echo "$CD_RIG_DIR/registry-$1"; }

# Prints the pid if the registry's pid file names a live docker-registry
# process serving this rig's config; fails otherwise.
reg_pid() {
  local dir pid cmdline
  dir=$(reg_dir "$1")
  [[ -s $dir/pid ]] || return 1
  pid=$(<"$dir/pid")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  [[ -r /proc/$pid/cmdline ]] || return 1
  cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
  [[ $cmdline == *docker-registry*"$dir/config.yml"* ]] || return 1
  echo "$pid"
}

# True while pid exists and is not a zombie (PID 1 in some containers does
# not reap orphans).
pid_alive() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [[ ${stat:0:1} != Z ]]
}

# SIGTERM, up to 10 s to exit, then SIGKILL.  $1 names the process in messages.
stop_pid() {
  local label=$1 pid=$2 i
  say "stopping $label (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    pid_alive "$pid" || break
    sleep 0.1
  done
  if pid_alive "$pid"; then
    say "$label did not exit after SIGTERM, sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
      pid_alive "$pid" || break
      sleep 0.1
    done
  fi
}

reg_stop() {
  local name=$1 dir pid
  dir=$(reg_dir "$name")
  if pid=$(reg_pid "$name"); then
    stop_pid "$name registry" "$pid"
  fi
  rm -f "$dir/pid"
}

# Prints the pid if the pid file names a live token server using this rig's
# config; fails otherwise.
token_server_pid() {
  local pid cmdline
  [[ -s $RIG_TOKEN_DIR/pid ]] || return 1
  pid=$(<"$RIG_TOKEN_DIR/pid")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  [[ -r /proc/$pid/cmdline ]] || return 1
  cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
  [[ $cmdline == *tokenserver.py*"$RIG_TOKEN_DIR/config.json"* ]] || return 1
  pid_alive "$pid" || return 1
  echo "$pid"
}

token_server_stop() {
  local pid
  if pid=$(token_server_pid); then
    stop_pid "token server" "$pid"
  fi
  rm -f "$RIG_TOKEN_DIR/pid"
}
