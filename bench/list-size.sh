#!/usr/bin/env bash
# How fast `list` sizes a rootfs, against the floor `du -s` on the same tree.
#
#   bench/list-size.sh [FILES]     (default 200000 files)
#
# Builds a throw-away store with one container of FILES small files in a
# realistic directory fan-out, drops the page cache before each cold run
# (root only), and prints medians of 5 for cold and warm runs with the ratio
# chroot-distro / du. Not a test: nothing here asserts a time.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
files=${1:-200000}
runs=5

cargo build --release --quiet
bin=${CARGO_TARGET_DIR:-$PWD/target}/release/chroot-distro
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export HOME=$work XDG_DATA_HOME=$work/data XDG_CACHE_HOME=$work/cache
rootfs=$XDG_DATA_HOME/chroot-distro/containers/bench/rootfs

echo "building a rootfs of $files files..." >&2
python3 - "$rootfs" "$files" <<'PY'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    d = os.path.join(root, "usr", f"d{i % 97}", f"s{i % 1013}")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"f{i}"), "wb") as f:
        f.write(b"x" * (i % 5000))
PY

drop() { if ((EUID == 0)); then sync; echo 3 >/proc/sys/vm/drop_caches; fi; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
timeit() { # cold|warm command...
  local mode=$1; shift
  for _ in $(seq $runs); do
    [[ $mode == cold ]] && drop
    local t0 t1
    t0=$(date +%s.%N); "$@" >/dev/null; t1=$(date +%s.%N)
    awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }'
  done | median
}

for mode in cold warm; do
  ours=$(timeit $mode "$bin" list)
  floor=$(timeit $mode du -s "$rootfs")
  awk -v m="$mode" -v o="$ours" -v f="$floor" 'BEGIN {
    printf "%-5s chroot-distro list: %.3fs   du -s: %.3fs   ratio: %.2f\n", m, o, f, o / f }'
done
[[ $EUID == 0 ]] || echo "(not root: page cache not dropped, 'cold' is warm)" >&2
