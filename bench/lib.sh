# Helpers shared by the bench scripts (sourced; expects $run and $logs).
# shellcheck shell=bash
# shellcheck disable=SC2154,SC2034 # $run and $logs come from, and the tables go to, the sourcing script

# Drops the page cache so every timed run starts cold.
drop() { sync; echo 3 >/proc/sys/vm/drop_caches; }

# Runs a command with a chroot-distro store of its own under $run.
in_store() {
  HOME=$run/home XDG_DATA_HOME=$run/data XDG_CACHE_HOME=$run/cache "$@"
}

median() { sort -n | awk '{a[NR]=$1} END {if (NR) print a[int((NR+1)/2)]}'; }

# Times one command (page cache dropped first), output to $logs/KEY.out;
# appends seconds to times[KEY], or records failed[KEY].
declare -A times failed result_entries
timed() { # key command...
  local key=$1 t0 t1 rc=0
  shift
  drop
  t0=$(date +%s.%N)
  "$@" >"$logs/$key.out" 2>&1 || rc=$?
  t1=$(date +%s.%N)
  if ((rc != 0)); then
    failed[$key]="exit $rc: $*"
    return
  fi
  times[$key]+="$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }') "
}

# Moves a previous result out of the way instead of deleting it: its
# thousands of inodes would otherwise be freed right before the next timed
# run, and ext4 without a journal (these VMs) skips inodes freed in the
# last 5 s (5 min while their inode-table block is dirty), checking them
# one by one: 20-40 % more kernel time in whatever extracts next. The pile goes with the work dir
# at exit, or sooner when the disk runs low.
discard() { # path...
  local p
  [[ -n ${trash:-} ]] || { trash=$(dirname "$run")/trash; mkdir -p "$trash"; }
  for p in "$@"; do
    if [[ -e $p ]]; then
      trash_n=$((${trash_n:-0} + 1))
      mv "$p" "$trash/$trash_n"
    fi
  done
  if (($(df --output=avail -k "$trash" | tail -1) < 4 * 1024 * 1024)); then
    rm -rf "$trash" && mkdir -p "$trash"
  fi
}

# Entries in a result tree, counted like `tar -t` counts them (root included).
count() { if [[ -d $1 ]]; then find "$1" | wc -l; else echo -; fi; }

rootfs_of() { echo "$run/data/chroot-distro/containers/$1/rootfs"; }

# Brings up the test rig and exports its variables (CD_RIG_*).
load_rig() {
  tests/rig/setup -q || die "tests/rig/setup failed"
  local rig_env=${CD_RIG_DIR:-/var/lib/cd-test-rig}/env
  [[ -s $rig_env ]] || die "no $rig_env after tests/rig/setup"
  set -a
  # shellcheck disable=SC1090 # written by tests/rig/setup
  . "$rig_env"
  set +a
}

# The Python chroot-distro in a venv under $cache (made once): sets $py
# and $py_version.
python_tool() {
  local venv=$cache/venv
  if [[ ! -x $venv/bin/chroot-distro ]]; then
    note "pip install chroot-distro into $venv (once)"
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q chroot-distro >"$cache/pip.log" 2>&1 ||
      die "pip install chroot-distro failed; see $cache/pip.log"
  fi
  py=$venv/bin/chroot-distro
  py_version=$("$venv/bin/pip" show chroot-distro 2>/dev/null | sed -n 's/^Version: //p')
}

# Builds our release binary (honouring CARGO_TARGET_DIR): sets $bin.
build_ours() {
  cargo build --release --quiet
  local target=${CARGO_TARGET_DIR:-$PWD/target}
  [[ $target == /* ]] || target=$PWD/$target
  bin=$target/release/chroot-distro
  [[ -x $bin ]] || die "no binary at $bin"
}

# rm -rf DIR, but never through a mount point someone left behind under it.
remove_unless_mounted() {
  if grep -qF " $1" /proc/self/mounts; then
    echo "${0##*/}: mounts left under $1; not removing it:" >&2
    grep -F " $1" /proc/self/mounts | cut -d' ' -f2 | sed 's/^/  /' >&2
  else
    rm -rf "$1"
  fi
}
