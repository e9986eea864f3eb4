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

# Entries in a result tree, counted like `tar -t` counts them (root included).
count() { if [[ -d $1 ]]; then find "$1" | wc -l; else echo -; fi; }

rootfs_of() { echo "$run/data/chroot-distro/containers/$1/rootfs"; }
