#!/usr/bin/env bash
# How fast `install` unpacks a local archive, against the floor (`tar -xzf`,
# `pigz -dc | tar -x`) and the Python chroot-distro, on a real Debian rootfs.
#
#   sudo bench/install-archive.sh
#
# Needs root (page-cache drops, owners, device nodes) and, on the first run,
# Debian's mirror (debootstrap) and PyPI (the Python tool). Everything that
# is slow to make is cached in ${CD_BENCH_CACHE:-/var/cache/cd-bench}:
#   debian.tar.gz    debootstrap --variant=minbase bookworm, tar --numeric-owner -czf
#   debian.oci.tar   an OCI image layout whose only layer is debian.tar.gz
#   venv/            python3 -m venv + pip install chroot-distro
# Delete a file there to remake it. Timed runs happen in a temp dir under
# ${CD_BENCH_WORK:-/var/tmp} (so on disk, not tmpfs), removed on exit.
#
# Each contender runs RUNS (default 5) times into a fresh empty directory or
# store; the previous result is removed and the page cache dropped before
# each run, outside the timed region. Prints medians and the ratios to the
# two floors. Not a test: nothing here asserts a time.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bench_dir=$PWD/bench
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$bench_dir/lib.sh"
runs=${RUNS:-5}
cache=${CD_BENCH_CACHE:-/var/cache/cd-bench}
suite=bookworm

die() { echo "install-archive.sh: $*" >&2; exit 1; }
note() { echo "--- $*" >&2; }
((EUID == 0)) || die "run as root (drops the page cache, extracts owners and device nodes)"

build_ours

if ! command -v pigz >/dev/null; then
  note "installing pigz"
  apt-get install -y -q pigz >/dev/null
fi

mkdir -p "$cache"
cache=$(cd "$cache" && pwd)
work=$(mktemp -d "${CD_BENCH_WORK:-/var/tmp}/cd-bench-install.XXXXXX")
cleanup() {
  remove_unless_mounted "$work"
  rm -rf "$cache"/*.tmp "$cache"/oci.tmp.d
}
trap cleanup EXIT

# --- the Debian mirror apt uses ---------------------------------------------
mirror() {
  local f uri
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -f $f ]] || continue
    uri=$(awk -v s="$suite" '$1 == "deb" && $0 !~ /security/ {
            for (i = 2; i < NF; i++) if ($i !~ /^\[/ && $i ~ /^https?:/ && $(i+1) == s) { print $i; exit } }' "$f")
    [[ -n $uri ]] && { echo "$uri"; return; }
  done
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -f $f ]] || continue
    # deb822 stanzas: the first with Types: deb, our suite, not -security.
    uri=$(awk -v s="$suite" '
      function flush() { if (!done && t && ok && u != "" && u !~ /security/) { print u; done = 1; exit } t = ok = 0; u = "" }
      /^[ \t]*$/ { flush(); next }
      /^Types:/ { t = ($0 ~ /[ \t]deb([ \t]|$)/) }
      /^URIs:/ { u = $2 }
      /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == s) ok = 1 }
      END { flush() }' "$f")
    [[ -n $uri ]] && { echo "$uri"; return; }
  done
  echo http://deb.debian.org/debian
}

# --- debian.tar.gz -----------------------------------------------------------
tarball=$cache/debian.tar.gz
if [[ ! -s $tarball ]]; then
  command -v debootstrap >/dev/null || apt-get install -y -q debootstrap >/dev/null
  url=$(mirror)
  root=$cache/rootfs.tmp
  if [[ -e $root ]]; then
    grep -qF " $root" /proc/self/mounts && die "mounts left under $root from an earlier run; unmount them"
    rm -rf "$root"
  fi
  note "debootstrap --variant=minbase $suite from $url (once)"
  debootstrap --variant=minbase "$suite" "$root" "$url" >"$cache/debootstrap.log" 2>&1 ||
    die "debootstrap failed; see $cache/debootstrap.log"
  grep -qF " $root" /proc/self/mounts && die "debootstrap left mounts under $root"
  note "tar --numeric-owner -czf debian.tar.gz"
  tar --numeric-owner -czf "$tarball.tmp" -C "$root" .
  mv "$tarball.tmp" "$tarball"
  rm -rf "$root" "$cache/debian.stats" "$cache/debian.oci.tar"
fi

# Size, uncompressed size and entry count, computed once.
stats=$cache/debian.stats
if [[ ! -s $stats || $stats -ot $tarball ]]; then
  note "counting entries (once)"
  {
    echo "entries=$(tar -tzf "$tarball" | wc -l)"
    echo "raw=$(pigz -dc "$tarball" | wc -c)"
  } >"$stats.tmp"
  mv "$stats.tmp" "$stats"
fi
entries=$(sed -n 's/^entries=//p' "$stats")
raw=$(sed -n 's/^raw=//p' "$stats")
gz=$(stat -c %s "$tarball")

# --- debian.oci.tar: OCI image layout, layer = debian.tar.gz as is -----------
oci=$cache/debian.oci.tar
if [[ ! -s $oci || $oci -ot $tarball ]]; then
  note "building debian.oci.tar (once)"
  d=$cache/oci.tmp.d
  rm -rf "$d"
  mkdir -p "$d/blobs/sha256"
  arch=$(dpkg --print-architecture)
  layer=$(sha256sum "$tarball" | cut -d' ' -f1)
  diff_id=$(pigz -dc "$tarball" | sha256sum | cut -d' ' -f1)
  ln "$tarball" "$d/blobs/sha256/$layer" 2>/dev/null || cp "$tarball" "$d/blobs/sha256/$layer"
  blob() { # writes stdin as a blob, prints "digest size"
    local tmp=$d/blob.tmp h
    cat >"$tmp"
    h=$(sha256sum "$tmp" | cut -d' ' -f1)
    mv "$tmp" "$d/blobs/sha256/$h"
    echo "$h $(stat -c %s "$d/blobs/sha256/$h")"
  }
  read -r cfg cfg_size < <(printf '%s' \
    '{"architecture":"'"$arch"'","os":"linux",' \
    '"config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["bash"]},' \
    '"rootfs":{"type":"layers","diff_ids":["sha256:'"$diff_id"'"]},' \
    '"history":[{"created_by":"debootstrap --variant=minbase '"$suite"'"}]}' | blob)
  read -r man man_size < <(printf '%s' \
    '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",' \
    '"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:'"$cfg"'","size":'"$cfg_size"'},' \
    '"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:'"$layer"'","size":'"$gz"'}]}' | blob)
  printf '%s' \
    '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json",' \
    '"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:'"$man"'","size":'"$man_size"',' \
    '"platform":{"architecture":"'"$arch"'","os":"linux"},' \
    '"annotations":{"org.opencontainers.image.ref.name":"'"$suite"'"}}]}' >"$d/index.json"
  printf '%s' '{"imageLayoutVersion":"1.0.0"}' >"$d/oci-layout"
  # oci-layout and index.json first: both tools classify by the first entries.
  tar --numeric-owner --owner=0 --group=0 -cf "$oci.tmp" -C "$d" \
    oci-layout index.json blobs/sha256/"$cfg" blobs/sha256/"$man" blobs/sha256/"$layer"
  if command -v skopeo >/dev/null; then
    skopeo inspect --raw "oci-archive:$oci.tmp" >/dev/null 2>"$d/skopeo.err" ||
      die "skopeo rejects the OCI archive: $(cat "$d/skopeo.err")"
  fi
  mv "$oci.tmp" "$oci"
  rm -rf "$d"
fi

# --- the Python chroot-distro --------------------------------------------------
python_tool

# --- timing ---------------------------------------------------------------------
run=$work/run
logs=$work/logs
mkdir -p "$logs"
cd "$cache" # so archives are named ./debian.tar.gz, as a user would type them

fresh() {
  if grep -qF " $run" /proc/self/mounts; then die "mounts left under $run"; fi
  discard "$run"
  mkdir -p "$run/dir" "$run/home"
}


order=(tar pigz ours_gz ours_oci ours_oci_warm py_gz py_oci py_oci_warm)
declare -A label=(
  [tar]="tar -xzf (floor)"
  [pigz]="pigz -dc | tar -x (floor)"
  [ours_gz]="ours: install ./debian.tar.gz"
  [ours_oci]="ours: install ./debian.oci.tar (cold)"
  [ours_oci_warm]="ours: install ./debian.oci.tar (warm)"
  [py_gz]="python $py_version: debian.tar.gz"
  [py_oci]="python $py_version: debian.oci.tar (cold)"
  [py_oci_warm]="python $py_version: debian.oci.tar (warm)"
)

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for i in $(seq "$runs"); do
  note "run $i/$runs"
  fresh
  timed tar tar --numeric-owner -p -xzf ./debian.tar.gz -C "$run/dir"
  if ((i == runs)); then result_entries[tar]=$(count "$run/dir"); fi

  fresh
  # shellcheck disable=SC2016 # $1 expands in the inner shell
  timed pigz bash -c 'pigz -dc ./debian.tar.gz | tar --numeric-owner -p -x -C "$1"' _ "$run/dir"
  if ((i == runs)); then result_entries[pigz]=$(count "$run/dir"); fi

  fresh
  timed ours_gz in_store "$bin" install ./debian.tar.gz -n bench -q
  if ((i == runs)); then result_entries[ours_gz]=$(count "$(rootfs_of bench)"); fi

  # Cold: empty blob cache. Warm: same store, blobs cached, a new name.
  fresh
  timed ours_oci in_store "$bin" install ./debian.oci.tar -n bench -q
  timed ours_oci_warm in_store "$bin" install ./debian.oci.tar -n bench2 -q
  if ((i == runs)); then result_entries[ours_oci]=$(count "$(rootfs_of bench)"); fi
  if ((i == runs)); then result_entries[ours_oci_warm]=$(count "$(rootfs_of bench2)"); fi

  fresh
  timed py_gz in_store "$py" install ./debian.tar.gz -n bench -q
  if ((i == runs)); then result_entries[py_gz]=$(count "$(rootfs_of bench)"); fi

  fresh
  timed py_oci in_store "$py" install ./debian.oci.tar -n bench -q
  timed py_oci_warm in_store "$py" install ./debian.oci.tar -n bench2 -q
  if ((i == runs)); then result_entries[py_oci]=$(count "$(rootfs_of bench)"); fi
  if ((i == runs)); then result_entries[py_oci_warm]=$(count "$(rootfs_of bench2)"); fi
done
fresh

# --- report ---------------------------------------------------------------------
echo
awk -v gz="$gz" -v raw="$raw" -v n="$entries" 'BEGIN {
  printf "debian.tar.gz (bookworm minbase): %.1f MiB compressed, %.1f MiB uncompressed, %d entries\n",
    gz / 1048576, raw / 1048576, n }'
echo "debian.oci.tar: $(awk -v s="$(stat -c %s "$oci")" 'BEGIN { printf "%.1f MiB", s / 1048576 }'), one gzip layer"
echo "medians of $runs runs, page cache dropped before each; $(nproc) cores;" \
  "load average before: $load_before, after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo

med() { if [[ -n ${times[$1]:-} ]]; then tr ' ' '\n' <<<"${times[$1]}" | grep . | median; fi; }
base_tar=$(med tar)
base_pigz=$(med pigz)
printf '%-44s %9s %9s %9s %17s %8s\n' contender median_s "x tar" "x pigz" "min-max" entries
for k in "${order[@]}"; do
  m=$(med "$k")
  if [[ -z $m ]]; then
    printf '%-44s %9s %9s %9s %17s %8s\n' "${label[$k]}" FAILED - - - -
    continue
  fi
  range=$(tr ' ' '\n' <<<"${times[$k]}" | grep . | sort -n | awk 'NR == 1 {a = $1} {b = $1} END {printf "%.2f-%.2f", a, b}')
  awk -v l="${label[$k]}" -v m="$m" -v t="${base_tar:-0}" -v p="${base_pigz:-0}" -v r="$range" -v e="${result_entries[$k]:--}" 'BEGIN {
    printf "%-44s %9.3f %9s %9s %17s %8s\n", l, m,
      (t > 0 ? sprintf("%.2f", m / t) : "-"), (p > 0 ? sprintf("%.2f", m / p) : "-"), r, e }'
done
for k in "${order[@]}"; do
  if [[ -n ${failed[$k]:-} ]]; then
    echo
    echo "${label[$k]} failed (${failed[$k]}); last output:"
    tail -n 20 "$logs/$k.out" | sed 's/^/  /'
  fi
done
