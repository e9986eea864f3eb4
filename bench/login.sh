#!/usr/bin/env bash
# How long `login NAME -- /bin/true` takes (plain and --isolated), root and
# rootless, against the floor (raw `chroot`, `unshare -m` + the usual binds),
# the Python chroot-distro, `podman run --rm` and Charliecloud's `ch-run`.
#
#   sudo bench/login.sh
#
# Needs root (root-mode sessions, the rig's unprivileged user). It runs
# `tests/rig/setup -q` first and uses the rig's busybox fixture
# (CD_RIG_FIXTURE_BUSYBOX_OCI_ARCHIVE): installed with our binary into a
# temp store as root and, for the rootless rows, into a store of the rig user
# (CD_RIG_USER, with subordinate ids) as that user; with the Python tool into
# a store of its own; `podman pull oci-archive:` into temp podman storage;
# extracted with tar by the rig user for ch-run. runc and Charliecloud
# (ch-run) are installed with apt when missing; a contender whose tool is
# still missing is skipped with a note. The Python tool is pip-installed into
# ${CD_BENCH_CACHE:-/var/cache/cd-bench}/venv (shared with install*.sh).
#
# Each contender runs WARMUP (default 3) untimed runs, then RUNS (default 20)
# timed ones; the runs are interleaved (round i runs every contender once) so
# a load spike from other work hits them all alike. A run's wall time is
# measured by a Python helper (time.perf_counter_ns around subprocess.run),
# so the rootless rows' setpriv wrapper is outside the timed region. The page
# cache is not dropped: this is the warm start a user sees.
# Not a test: nothing here asserts a time.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bench_dir=$PWD/bench
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$bench_dir/lib.sh"
runs=${RUNS:-20}
warmup=${WARMUP:-3}
cache=${CD_BENCH_CACHE:-/var/cache/cd-bench}

die() { echo "login.sh: $*" >&2; exit 1; }
note() { echo "--- $*" >&2; }
((EUID == 0)) || die "run as root (root-mode sessions, switching to the rig's user)"

# --- the rig ------------------------------------------------------------------
load_rig
archive=$CD_RIG_FIXTURE_BUSYBOX_OCI_ARCHIVE
rootfs_tar=$CD_RIG_FIXTURE_BUSYBOX_ROOTFS_TAR
[[ -s $archive && -s $rootfs_tar ]] || die "the rig's busybox fixtures are missing"
uid=$CD_RIG_UID
gid=$CD_RIG_GID
user=$CD_RIG_USER

# --- our binary and the tools ---------------------------------------------------
build_ours

missing=()
if command -v podman >/dev/null && ! command -v runc >/dev/null; then missing+=(runc); fi
command -v ch-run >/dev/null || missing+=(charliecloud-runtime)
if ((${#missing[@]})); then
  note "installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null 2>&1 ||
    note "apt-get install ${missing[*]} failed; their rows are skipped"
fi

mkdir -p "$cache"
cache=$(cd "$cache" && pwd)
python_tool

# --- work dirs, stores --------------------------------------------------------------
work=$(mktemp -d "${CD_BENCH_WORK:-/var/tmp}/cd-bench-login.XXXXXX")
chmod 755 "$work" # the rig user reaches its own store in here
logs=$work/logs
root_run=$work/root   # our store, root mode
py_run=$work/py       # the Python tool's store
user_run=$work/user   # our store, rootless (owned by the rig user)
ch_dir=$work/ch       # ch-run's image dir and the rootless floor (owned by the rig user)
mkdir -p "$logs" "$root_run" "$py_run" "$user_run" "$ch_dir"
chown "$uid:$gid" "$user_run" "$ch_dir"
podman_args=(--root "$work/podman" --runroot "$work/podman-run" --storage-driver overlay)


# Our store (lib.sh's in_store and rootfs_of) under the dir given.
store() { # dir command...
  # shellcheck disable=SC2034 # read by in_store
  local run=$1
  shift
  in_store "$@"
}
# Runs a command as the rig user with its own store under $user_run.
as_user() {
  setpriv --reuid="$uid" --regid="$gid" --init-groups \
    env -i HOME="$user_run/home" XDG_DATA_HOME="$user_run/data" XDG_CACHE_HOME="$user_run/cache" \
    USER="$user" LOGNAME="$user" PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$@"
}

cleanup() {
  set +e
  if [[ -n ${ours_ready:-} ]]; then
    store "$root_run" "$bin" unmount bench >/dev/null 2>&1
    store "$root_run" "$bin" unmount benchi >/dev/null 2>&1
  fi
  if [[ -n ${user_ready:-} ]]; then
    as_user "$bin" unmount bench >/dev/null 2>&1
    as_user "$bin" unmount benchi >/dev/null 2>&1
  fi
  if [[ -n ${py_ready:-} ]]; then
    store "$py_run" "$py" unmount bench >/dev/null 2>&1
    store "$py_run" "$py" unmount benchi >/dev/null 2>&1
  fi
  if [[ -d $work/podman ]]; then podman "${podman_args[@]}" rm -af >/dev/null 2>&1; fi
  remove_unless_mounted "$work"
}
trap cleanup EXIT

# Times a command: WARMUP untimed runs then one per call to `round`; stdout
# and stderr to a log. Prints the timed runs' milliseconds on one line.
tloop=$work/tloop.py
cat >"$tloop" <<'PY'
import subprocess, sys, time
warm, runs, log, cmd = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4:]
out = []
with open(log, "ab") as f:
    for i in range(warm + runs):
        t0 = time.perf_counter_ns()
        rc = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=f, stderr=f).returncode
        t1 = time.perf_counter_ns()
        if rc != 0:
            sys.exit(f"exit {rc}")
        if i >= warm:
            out.append(f"{(t1 - t0) / 1e6:.3f}")
print(" ".join(out))
PY
chmod 644 "$tloop"

# --- the containers -------------------------------------------------------------------
# One container per session shape: a shape other than the running one is
# refused until `unmount`, and plain and --isolated rows alternate.
declare -A skip
note "installing the busybox fixture (ours as root, ours as $user, python)"
if store "$root_run" "$bin" install "$archive" -n bench -q >"$logs/install-root.out" 2>&1 &&
  store "$root_run" "$bin" install "$archive" -n benchi -q >>"$logs/install-root.out" 2>&1; then
  ours_ready=1
else
  die "ours: install as root failed; see below$(echo; sed 's/^/  /' "$logs/install-root.out")"
fi
rootfs=$(run=$root_run rootfs_of bench)
[[ -x $rootfs/bin/true ]] || die "no /bin/true in $rootfs"

if as_user "$bin" install "$archive" -n bench -q >"$logs/install-user.out" 2>&1 &&
  as_user "$bin" install "$archive" -n benchi -q >>"$logs/install-user.out" 2>&1; then
  user_ready=1
else
  skip[user]="ours: rootless install as $user failed: $(tail -n 3 "$logs/install-user.out" | tr '\n' ' ')"
fi

if store "$py_run" "$py" install "$archive" -n bench -q >"$logs/install-py.out" 2>&1 &&
  store "$py_run" "$py" install "$archive" -n benchi -q >>"$logs/install-py.out" 2>&1; then
  py_ready=1
else
  skip[py]="python: install failed: $(tail -n 3 "$logs/install-py.out" | tr '\n' ' ')"
fi

# ch-run's image and the rootless floor: the same rootfs, extracted by the user.
as_user mkdir "$ch_dir/busybox"
as_user tar -xzf "$rootfs_tar" -C "$ch_dir/busybox" 2>"$logs/ch-tar.out" ||
  die "extracting $rootfs_tar as $user failed: $(cat "$logs/ch-tar.out")"

podman_image=
if ! command -v podman >/dev/null; then
  skip[podman]="podman is not installed"
elif ! command -v runc >/dev/null; then
  skip[podman]="runc is not installed (podman 4.3 here needs --runtime runc)"
elif ! podman_image=$(podman "${podman_args[@]}" pull -q "oci-archive:$archive" 2>"$logs/podman-pull.out"); then
  skip[podman]="podman pull oci-archive:$archive failed: $(tail -n 3 "$logs/podman-pull.out" | tr '\n' ' ')"
fi
if ! command -v ch-run >/dev/null; then
  skip[ch]="ch-run (Charliecloud) is not installed and apt could not install it"
fi

# The floor with the binds a chroot tool makes, in a private mount namespace.
binds=$work/binds.sh
cat >"$binds" <<'SH'
#!/bin/sh
# unshare -m sh binds.sh ROOTFS [iso]: mount namespace, no propagation back,
# the host's /proc, /sys, /dev bound (iso: a fresh procfs for the new PID ns).
set -e
r=$1
mount --make-rslave /
if [ "${2:-}" = iso ]; then
  mount -t proc -o nosuid,nodev,noexec proc "$r/proc"
else
  mount --rbind /proc "$r/proc"
fi
mount --rbind /sys "$r/sys"
mount --rbind /dev "$r/dev"
exec chroot "$r" /bin/true
SH
chmod 755 "$binds"

# --- the contenders ----------------------------------------------------------------------
run_opts=(--runtime runc --ulimit nofile=1024:1024 --ulimit nproc=1024:1024)
order=(chroot unshare unshare_iso ours ours_iso py py_iso podman podman_nonet
  user_floor ch user user_iso)
declare -A label=(
  [chroot]="floor: chroot ROOTFS /bin/true"
  [unshare]="floor: unshare -m + proc/sys/dev binds + chroot"
  [unshare_iso]="floor: unshare -mpiuf + procfs, sys/dev binds"
  [ours]="ours (root): login bench -- /bin/true"
  [ours_iso]="ours (root): login --isolated"
  [py]="python $py_version (root): login"
  [py_iso]="python $py_version (root): login --isolated"
  [podman]="podman run --rm (runc)"
  [podman_nonet]="podman run --rm --network none (runc)"
  [user_floor]="floor ($user): unshare -Urm chroot DIR"
  [ch]="ch-run DIR -- /bin/true ($user)"
  [user]="ours (rootless, $user): login"
  [user_iso]="ours (rootless, $user): login --isolated"
)
declare -A cmd_of
set_cmd() { # key word... (stored as one shell-quoted line)
  local key=$1
  shift
  cmd_of[$key]=$(printf '%q ' "$@")
}
set_cmd chroot chroot "$rootfs" /bin/true
set_cmd unshare unshare -m sh "$binds" "$rootfs"
set_cmd unshare_iso unshare -m -p -i -u -f sh "$binds" "$rootfs" iso
set_cmd ours env HOME="$root_run/home" XDG_DATA_HOME="$root_run/data" XDG_CACHE_HOME="$root_run/cache" \
  "$bin" login bench -- /bin/true
set_cmd ours_iso env HOME="$root_run/home" XDG_DATA_HOME="$root_run/data" XDG_CACHE_HOME="$root_run/cache" \
  "$bin" login benchi --isolated -- /bin/true
set_cmd py env HOME="$py_run/home" XDG_DATA_HOME="$py_run/data" XDG_CACHE_HOME="$py_run/cache" \
  "$py" login bench -- /bin/true
set_cmd py_iso env HOME="$py_run/home" XDG_DATA_HOME="$py_run/data" XDG_CACHE_HOME="$py_run/cache" \
  "$py" login benchi --isolated -- /bin/true
set_cmd podman podman "${podman_args[@]}" run --rm "${run_opts[@]}" "$podman_image" /bin/true
set_cmd podman_nonet podman "${podman_args[@]}" run --rm "${run_opts[@]}" --network none "$podman_image" /bin/true
set_cmd user_floor unshare -U -r -m chroot "$ch_dir/busybox" /bin/true
set_cmd ch ch-run "$ch_dir/busybox" -- /bin/true
set_cmd user "$bin" login bench -- /bin/true
set_cmd user_iso "$bin" login benchi --isolated -- /bin/true
declare -A as_rig_user=([user_floor]=1 [ch]=1 [user]=1 [user_iso]=1)
declare -A skip_of=([py]=py [py_iso]=py [podman]=podman [podman_nonet]=podman [ch]=ch [user]=user [user_iso]=user)

declare -A times
round() { # warm runs
  local k out
  for k in "${order[@]}"; do
    [[ -n ${skip[${skip_of[$k]:-none}]:-} || -n ${failed[$k]:-} ]] && continue
    local -a cmd
    eval "cmd=(${cmd_of[$k]})"
    if [[ -n ${as_rig_user[$k]:-} ]]; then
      out=$(as_user python3 "$tloop" "$1" "$2" "$logs/$k.out" "${cmd[@]}" 2>&1) || { failed[$k]=$out; continue; }
    else
      out=$(python3 "$tloop" "$1" "$2" "$logs/$k.out" "${cmd[@]}" 2>&1) || { failed[$k]=$out; continue; }
    fi
    times[$k]+="$out "
  done
}
# The rig user's logs: it appends to them.
for k in "${!as_rig_user[@]}"; do : >"$logs/$k.out" && chown "$uid:$gid" "$logs/$k.out"; done

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
note "$warmup warm-up rounds"
round "$warmup" 0
times=()
for i in $(seq "$runs"); do
  ((i % 5 == 1)) && note "round $i/$runs"
  round 0 1
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# --- report ---------------------------------------------------------------------------------
echo
echo "busybox fixture ($archive): $(count "$rootfs") entries; ours $(git rev-parse --short HEAD 2>/dev/null || echo ?);" \
  "python chroot-distro $py_version; $(podman --version 2>/dev/null || echo 'no podman');" \
  "ch-run $(as_user ch-run --version 2>&1 || echo missing); kernel $(uname -r)"
echo "medians of $runs runs after $warmup warm-up runs, interleaved; page cache not dropped; $(nproc) cores;" \
  "load average before: $load_before, after: $load_after"
echo "targets (issue #5): ours <= 10 ms plain, <= 15 ms --isolated;" \
  "python 3.x: 129 ms plain, 461 ms --isolated; ch-run 4 ms; raw chroot 4 ms"
echo

med() { if [[ -n ${times[$1]:-} ]]; then tr ' ' '\n' <<<"${times[$1]}" | grep . | median; fi; }
base=$(med chroot)
printf '%-52s %10s %9s %17s\n' contender median_ms "x chroot" min-max_ms
for k in "${order[@]}"; do
  m=$(med "$k")
  why=${skip[${skip_of[$k]:-none}]:-}
  if [[ -n $why ]]; then
    printf '%-52s %10s %9s %17s\n' "${label[$k]}" SKIPPED - -
    continue
  fi
  if [[ -z $m ]]; then
    printf '%-52s %10s %9s %17s\n' "${label[$k]}" FAILED - -
    continue
  fi
  range=$(tr ' ' '\n' <<<"${times[$k]}" | grep . | sort -n | awk 'NR == 1 {a = $1} {b = $1} END {printf "%.1f-%.1f", a, b}')
  awk -v l="${label[$k]}" -v m="$m" -v f="${base:-0}" -v r="$range" 'BEGIN {
    printf "%-52s %10.1f %9s %17s\n", l, m, (f > 0 ? sprintf("%.2f", m / f) : "-"), r }'
done
for why in "${skip[@]}"; do
  echo
  echo "!!! SKIPPED: $why"
done
for k in "${order[@]}"; do
  if [[ -n ${failed[$k]:-} ]]; then
    echo
    echo "${label[$k]} failed (${failed[$k]}): ${cmd_of[$k]}"
    echo "last output:"
    tail -n 20 "$logs/$k.out" | sed 's/^/  /'
  fi
done
