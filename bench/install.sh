#!/usr/bin/env bash
# How fast `install` pulls an image from a registry, against the Python
# chroot-distro, podman, skopeo + umoci and the floor (`pigz -dc | tar -x` of
# the same layer blobs), using the test rig's TLS registry on 127.0.0.1.
#
#   sudo bench/install.sh
#
# Needs root (page-cache drops, owners, device nodes, the rig). It runs
# `tests/rig/setup -q` first and pulls the rig's Debian fixture
# (CD_RIG_FIXTURE_DEBIAN, one gzip layer). A second, bigger image — the Debian
# layer plus a layer with `apt-get install -y build-essential` — is made once
# and pushed as cd/debian:build (CD_BENCH_BIG=0 skips it). Cached in
# ${CD_BENCH_CACHE:-/var/cache/cd-bench}:
#   venv/                    python3 -m venv + pip install chroot-distro
#   debian-build.oci/        OCI layout of the bigger image (tag "build")
#   debian-build.stamp       the base layer and manifest digests it was made for
# Delete them to remake them. On the first run this needs Debian's mirror
# (podman, umoci, time, pigz via apt; the build-essential layer) and PyPI.
# Timed runs happen in a temp dir under ${CD_BENCH_WORK:-/var/tmp}, removed
# on exit.
#
# Each contender runs RUNS (default 5) times into a fresh store or storage
# directory; results are removed and the page cache dropped before each run,
# outside the timed region. Peak RSS is measured in separate, untimed runs.
# Not a test: nothing here asserts a time.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bench_dir=$PWD/bench
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$bench_dir/lib.sh"
runs=${RUNS:-5}
cache=${CD_BENCH_CACHE:-/var/cache/cd-bench}
big=${CD_BENCH_BIG:-1}
# CD_BENCH_ONLY="floor ours big_floor big_ours": time only those keys (and
# their _warm twins); the peers are skipped. Empty: everything.
only=${CD_BENCH_ONLY:-}
# CD_BENCH_BASELINE=/path/to/chroot-distro: also time that binary (keys base,
# big_base), interleaved with ours, to compare two builds in one run.
baseline=${CD_BENCH_BASELINE:-}

die() { echo "install.sh: $*" >&2; exit 1; }
note() { echo "--- $*" >&2; }
((EUID == 0)) || die "run as root (drops the page cache, runs the test rig, extracts owners)"

# --- the rig ------------------------------------------------------------------
load_rig
image=$CD_RIG_FIXTURE_DEBIAN
layout=$CD_RIG_FIXTURE_DEBIAN_OCI_LAYOUT

# --- our binary and the tools ---------------------------------------------------
build_ours

missing=()
command -v pigz >/dev/null || missing+=(pigz)
command -v podman >/dev/null || missing+=(podman)
command -v skopeo >/dev/null || missing+=(skopeo)
command -v umoci >/dev/null || missing+=(umoci)
command -v jq >/dev/null || missing+=(jq)
[[ -x /usr/bin/time ]] || missing+=(time)
if ((${#missing[@]})); then
  note "installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null
fi

mkdir -p "$cache"
cache=$(cd "$cache" && pwd)
work=$(mktemp -d "${CD_BENCH_WORK:-/var/tmp}/cd-bench-registry.XXXXXX")
cleanup() {
  remove_unless_mounted "$work"
  if grep -qF " $cache/build.tmp" /proc/self/mounts; then
    echo "install.sh: mounts left under $cache/build.tmp; not removing it" >&2
  else
    rm -rf "$cache/build.tmp" "$cache/debian-build.oci.tmp"
  fi
}
trap cleanup EXIT

# --- the Python chroot-distro (shared with install-archive.sh) ------------------
python_tool

# --- the Debian fixture's blobs ---------------------------------------------------
blobs=$layout/blobs/sha256
manifest_digest=$(jq -r '.manifests[0].digest' "$layout/index.json")
manifest=$blobs/${manifest_digest#sha256:}
config=$blobs/$(jq -r '.config.digest' "$manifest" | sed 's/^sha256://')
layer1=$blobs/$(jq -r '.layers[0].digest' "$manifest" | sed 's/^sha256://')
[[ -s $layer1 && -s $config ]] || die "cannot read the Debian fixture's layout in $layout"
[[ $(jq '.layers | length' "$manifest") == 1 ]] || die "the Debian fixture has more than one layer"

# Uncompressed size and entry count of a gzip layer, computed once per blob.
layer_stats() { # blob -> "raw entries"
  local f=$cache/layer-${1##*/}.stats
  if [[ ! -s $f ]]; then
    echo "$(pigz -dc "$1" | wc -c) $(pigz -dc "$1" | tar -t | wc -l)" >"$f.tmp"
    mv "$f.tmp" "$f"
  fi
  cat "$f"
}

# --- the bigger image: Debian + build-essential, two layers ---------------------------
big_ref=$CD_RIG_REGISTRY/cd/debian:build
big_layout=$cache/debian-build.oci
big_stamp=$cache/debian-build.stamp
build_big() {
  local tmp=$cache/build.tmp root stamp list l2 l2_digest l2_diff cfg cfg_digest man man_digest
  root=$tmp/rootfs
  stamp=$tmp/stamp
  if grep -qF " $tmp" /proc/self/mounts; then die "mounts left under $tmp from an earlier run; unmount them"; fi
  rm -rf "$tmp" "$big_layout.tmp"
  mkdir -p "$root"
  note "building cd/debian:build: apt-get install -y build-essential in a chroot (once)"
  tar --numeric-owner -p --xattrs --xattrs-include='*' -xzf "$layer1" -C "$root"
  touch "$stamp"
  sleep 1 # ctime is coarse: nothing apt touches may share the stamp's tick
  # Private mount namespace: /proc, /dev and the host's resolv.conf vanish
  # with it. ctime, not mtime: dpkg keeps the packages' mtimes.
  # shellcheck disable=SC2016 # $1 expands in the inner shell
  unshare -m --propagation private bash -euc '
    mount -t proc proc "$1/proc"
    mount --rbind /dev "$1/dev"
    mount --bind /etc/resolv.conf "$1/etc/resolv.conf"
    chroot "$1" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
      sh -ec "apt-get update -q; apt-get install -y -q build-essential; apt-get clean; rm -rf /var/lib/apt/lists/*"
  ' _ "$root" >"$cache/debian-build.log" 2>&1 || die "building the build-essential layer failed; see $cache/debian-build.log"
  if grep -qF " $root" /proc/self/mounts; then die "mounts leaked out of the build namespace under $root"; fi
  list=$tmp/layer2.list
  (cd "$root" && find . -cnewer "$stamp" -print0 | LC_ALL=C sort -z) >"$list"
  mkdir -p "$big_layout.tmp/blobs/sha256"
  l2=$big_layout.tmp/layer2.tmp
  tar --numeric-owner --xattrs --xattrs-include='*' --format=pax --no-recursion --null \
    -C "$root" -T "$list" -cf - | pigz -n >"$l2"
  l2_digest=$(sha256sum "$l2" | cut -d' ' -f1)
  l2_diff=$(pigz -dc "$l2" | sha256sum | cut -d' ' -f1)
  mv "$l2" "$big_layout.tmp/blobs/sha256/$l2_digest"
  ln "$layer1" "$big_layout.tmp/blobs/sha256/" 2>/dev/null || cp "$layer1" "$big_layout.tmp/blobs/sha256/"
  cfg=$(jq -c --arg d "sha256:$l2_diff" \
    '.rootfs.diff_ids += [$d] | .history += [{"created_by": "apt-get install -y build-essential"}]' "$config")
  printf '%s' "$cfg" >"$tmp/config"
  cfg_digest=$(sha256sum "$tmp/config" | cut -d' ' -f1)
  mv "$tmp/config" "$big_layout.tmp/blobs/sha256/$cfg_digest"
  man=$(jq -c --arg c "sha256:$cfg_digest" --argjson cs "$(stat -c %s "$big_layout.tmp/blobs/sha256/$cfg_digest")" \
    --arg l "sha256:$l2_digest" --argjson ls "$(stat -c %s "$big_layout.tmp/blobs/sha256/$l2_digest")" \
    '.config.digest = $c | .config.size = $cs
     | .layers += [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": $l, "size": $ls}]' "$manifest")
  printf '%s' "$man" >"$tmp/manifest"
  man_digest=$(sha256sum "$tmp/manifest" | cut -d' ' -f1)
  mv "$tmp/manifest" "$big_layout.tmp/blobs/sha256/$man_digest"
  jq -c --arg m "sha256:$man_digest" --argjson s "$(stat -c %s "$big_layout.tmp/blobs/sha256/$man_digest")" \
    '.manifests[0].digest = $m | .manifests[0].size = $s
     | .manifests[0].annotations["org.opencontainers.image.ref.name"] = "build"' \
    "$layout/index.json" >"$big_layout.tmp/index.json"
  cp "$layout/oci-layout" "$big_layout.tmp/"
  rm -rf "$big_layout"
  mv "$big_layout.tmp" "$big_layout"
  rm -rf --one-file-system "$tmp"
  printf 'base=%s\ndigest=sha256:%s\n' "${layer1##*/}" "$man_digest" >"$big_stamp"
}
if ((big)); then
  if [[ ! -s $big_stamp || ! -d $big_layout ]] || ! grep -qx "base=${layer1##*/}" "$big_stamp"; then
    build_big
  fi
  big_digest=$(sed -n 's/^digest=//p' "$big_stamp")
  served=$(skopeo inspect --raw "docker://$big_ref" 2>/dev/null | sha256sum | cut -d' ' -f1) || true
  if [[ sha256:$served != "$big_digest" ]]; then
    note "pushing $big_ref"
    skopeo copy -q "oci:$big_layout:build" "docker://$big_ref" >/dev/null
    served=$(skopeo inspect --raw "docker://$big_ref" | sha256sum | cut -d' ' -f1)
    [[ sha256:$served == "$big_digest" ]] || die "$big_ref serves sha256:$served, not $big_digest"
  fi
  big_manifest=$big_layout/blobs/sha256/${big_digest#sha256:}
  layer2=$big_layout/blobs/sha256/$(jq -r '.layers[1].digest' "$big_manifest" | sed 's/^sha256://')
fi

# --- timing ---------------------------------------------------------------------
run=$work/run
logs=$work/logs
mkdir -p "$logs"

fresh() { # moves $run (or only the dirs named) away and recreates what it moved
  if grep -qF " $run" /proc/self/mounts; then die "mounts left under $run"; fi
  if (($#)); then
    local d
    for d in "$@"; do discard "${run:?}/$d"; done
  else
    discard "$run"
  fi
  mkdir -p "$run/dir" "$run/home" "$run/oci"
}

# podman keeps each layer unpacked in overlay/<id>/diff; count them together.
count_podman() { find "$run/podman/overlay" -mindepth 2 -maxdepth 2 -name diff -exec find {} + | wc -l; }

# shellcheck disable=SC2016 # $1, $2 expand in the inner shells
floor1='pigz -dc "$1" | tar -x -C "$3" --numeric-owner'
# shellcheck disable=SC2016
floor2='pigz -dc "$1" | tar -x -C "$3" --numeric-owner && pigz -dc "$2" | tar -x -C "$3" --numeric-owner'
podman_pull() { podman --root "$run/podman" --runroot "$run/podman-run" pull -q --tls-verify=true "$1"; }
skopeo_umoci() {
  skopeo copy -q "docker://$1" "oci:$run/oci/image:bench" &&
    umoci unpack --image "$run/oci/image:bench" "$run/bundle"
}

order=(floor ours ours_warm py py_warm podman podman_warm skopeo)
declare -A label=(
  [floor]="floor: pigz -dc LAYER | tar -x"
  [ours]="ours: install (cold)"
  [ours_warm]="ours: install (warm)"
  [py]="python $py_version: install (cold)"
  [py_warm]="python $py_version: install (warm)"
  [podman]="podman pull (cold)"
  [podman_warm]="podman pull (warm, metadata only)"
  [skopeo]="skopeo copy + umoci unpack (cold)"
)
if [[ -n $baseline ]]; then
  order=(floor ours ours_warm base base_warm "${order[@]:3}")
  label+=([base]="baseline: install (cold)" [base_warm]="baseline: install (warm)")
fi
if ((big)); then
  order+=(big_floor big_ours big_ours_warm)
  if [[ -n $baseline ]]; then order+=(big_base big_base_warm); fi
  order+=(big_py big_py_warm)
  label+=(
    [big_base]="build: baseline (cold)"
    [big_base_warm]="build: baseline (warm)"
    [big_floor]="build: floor, both layers"
    [big_ours]="build: ours (cold)"
    [big_ours_warm]="build: ours (warm)"
    [big_py]="build: python (cold)"
    [big_py_warm]="build: python (warm)"
  )
fi
last() { ((i == runs)); }
want() { [[ -z $only || " $only " == *" $1 "* ]]; }
if [[ -n $only ]]; then
  kept=()
  for k in "${order[@]}"; do if want "$k" || want "${k%_warm}"; then kept+=("$k"); fi; done
  order=("${kept[@]}")
fi

# Cold and warm install of $1 by one chroot-distro ($2: ours|py) under keys $3, $3_warm.
cold_warm() {
  local ref=$1 tool=$2 key=$3 exe
  want "$key" || return 0
  case $tool in py) exe=$py ;; base) exe=$baseline ;; *) exe=$bin ;; esac
  fresh
  timed "$key" in_store "$exe" install "$ref" -n b -q
  if last; then result_entries[$key]=$(count "$(rootfs_of b)"); fi
  fresh data # the layers stay in $run/cache
  timed "${key}_warm" in_store "$exe" install "$ref" -n b -q
  if last; then result_entries[${key}_warm]=$(count "$(rootfs_of b)"); fi
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for i in $(seq "$runs"); do
  note "run $i/$runs"
  if want floor; then
    fresh
    timed floor bash -c "$floor1" _ "$layer1" - "$run/dir"
    if last; then result_entries[floor]=$(count "$run/dir"); fi
  fi

  cold_warm "$image" ours ours
  if [[ -n $baseline ]]; then cold_warm "$image" base base; fi
  cold_warm "$image" py py

  if want podman; then
    fresh
    timed podman podman_pull "$image"
    if last; then result_entries[podman]=$(count_podman); fi
    timed podman_warm podman_pull "$image"
    if last; then result_entries[podman_warm]=$(count_podman); fi
  fi

  if want skopeo; then
    fresh
    timed skopeo skopeo_umoci "$image"
    if last; then result_entries[skopeo]=$(count "$run/bundle/rootfs"); fi
  fi

  if ((big)); then
    if want big_floor; then
      fresh
      timed big_floor bash -c "$floor2" _ "$layer1" "$layer2" "$run/dir"
      if last; then result_entries[big_floor]=$(count "$run/dir"); fi
    fi
    cold_warm "$big_ref" ours big_ours
    if [[ -n $baseline ]]; then cold_warm "$big_ref" base big_base; fi
    cold_warm "$big_ref" py big_py
  fi
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# --- peak RSS (untimed runs) --------------------------------------------------------
# /usr/bin/time -f %M is the ru_maxrss wait4() returns for its child: the
# maximum (not the sum) over that process and every descendant it reaped, so
# it cannot tell the applet from its `__unpack` child. peaks.py runs the
# install under /usr/bin/time and polls VmHWM in /proc/PID/status of the
# whole process tree every millisecond to split them.
peaks=$work/peaks.py
cat >"$peaks" <<'PY'
import os, sys, time
tree_out, err, cmd = sys.argv[1], sys.argv[2], sys.argv[3:]
pid = os.fork()
if pid == 0:
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    os.dup2(os.open(err, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644), 2)
    os.execv("/usr/bin/time", ["/usr/bin/time", "-f", "%M", "-o", tree_out] + cmd)
peak = {}
def tree(p):
    out = [p]
    try:
        for t in os.listdir(f"/proc/{p}/task"):
            with open(f"/proc/{p}/task/{t}/children") as f:
                for c in f.read().split():
                    out += tree(int(c))
    except OSError:
        pass
    return out
while True:
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        break
    for p in tree(pid)[1:]:  # [0] is /usr/bin/time
        try:
            with open(f"/proc/{p}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
            with open(f"/proc/{p}/status") as f:
                st = dict(l.split(":", 1) for l in f if ":" in l)
        except OSError:
            continue
        if "VmHWM" not in st:
            continue
        hwm = int(st["VmHWM"].split()[0])
        if int(st["PPid"]) == pid:
            role = "applet"
        elif b"__unpack" in argv:
            role = "unpacker"
        else:
            role = "other"
        peak[role] = max(peak.get(role, 0), hwm)
    time.sleep(0.001)
if os.waitstatus_to_exitcode(status) != 0:
    sys.exit(f"peaks.py: {cmd} failed ({status}); see {err}")
with open(tree_out) as f:
    tree_kb = int(f.read().split()[-1])
print(tree_kb, peak.get("applet", 0), peak.get("unpacker", 0), peak.get("other", 0))
PY
declare -A rss
rss_run() { # key ref exe
  local key=$1 ref=$2 exe=$3 out
  fresh
  drop
  # cold, then warm into a fresh data dir
  [[ ${rss[$key]:-} == failed ]] && return
  out=$(in_store python3 "$peaks" "$work/tree.out" "$logs/rss.err" "$exe" install "$ref" -n b -q) || { rss[$key]=failed; return; }
  rss[$key]+="$out;"
  fresh data
  drop
  [[ ${rss[${key}_warm]:-} == failed ]] && return
  out=$(in_store python3 "$peaks" "$work/tree.out" "$logs/rss.err" "$exe" install "$ref" -n b -q) || { rss[${key}_warm]=failed; return; }
  rss[${key}_warm]+="$out;"
}
rss_order=()
for k in ours base py big_ours big_base big_py; do
  if [[ $k == *base && -z $baseline ]]; then continue; fi
  if [[ $k != big_* ]] || ((big)); then
    if want "$k"; then rss_order+=("$k" "${k}_warm"); fi
  fi
done
rss_runs=3
note "peak RSS ($rss_runs untimed runs each)"
for _ in $(seq $rss_runs); do
  if want ours; then rss_run ours "$image" "$bin"; fi
  if [[ -n $baseline ]] && want base; then rss_run base "$image" "$baseline"; fi
  if want py; then rss_run py "$image" "$py"; fi
  if ((big)); then
    if want big_ours; then rss_run big_ours "$big_ref" "$bin"; fi
    if [[ -n $baseline ]] && want big_base; then rss_run big_base "$big_ref" "$baseline"; fi
    if want big_py; then rss_run big_py "$big_ref" "$py"; fi
  fi
done
fresh

# --- report ---------------------------------------------------------------------
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
echo
read -r raw1 n1 < <(layer_stats "$layer1")
echo "$image: one gzip layer, $(mib "$(stat -c %s "$layer1")") compressed, $(mib "$raw1") uncompressed, $n1 entries"
if ((big)); then
  read -r raw2 n2 < <(layer_stats "$layer2")
  echo "$big_ref: that layer + build-essential, $(mib "$(stat -c %s "$layer2")") compressed," \
    "$(mib "$raw2") uncompressed, $n2 entries; total $(mib "$(($(stat -c %s "$layer1") + $(stat -c %s "$layer2")))")" \
    "compressed, $(mib "$((raw1 + raw2))") uncompressed"
fi
echo "ours $(git rev-parse --short HEAD 2>/dev/null || echo ?)$(git diff --quiet HEAD 2>/dev/null || echo +changes); python chroot-distro $py_version;" \
  "$(podman --version); $(skopeo --version); $(umoci --version)${only:+; only: $only}"
echo "medians of $runs runs, page cache dropped before each (the registry's too); $(nproc) cores;" \
  "load average before: $load_before, after: $load_after"
echo

med() { if [[ -n ${times[$1]:-} ]]; then tr ' ' '\n' <<<"${times[$1]}" | grep . | median; fi; }
printf '%-40s %9s %13s %9s %8s\n' contender median_s min-max "x floor" entries
for k in "${order[@]}"; do
  if [[ $k == big_* ]]; then base=$(med big_floor); else base=$(med floor); fi
  m=$(med "$k")
  if [[ -z $m ]]; then
    printf '%-40s %9s %13s %9s %8s\n' "${label[$k]}" FAILED - - -
    continue
  fi
  range=$(tr ' ' '\n' <<<"${times[$k]}" | grep . | sort -n | awk 'NR == 1 {a = $1} {b = $1} END {printf "%.2f-%.2f", a, b}')
  awk -v l="${label[$k]}" -v m="$m" -v f="${base:-0}" -v r="$range" -v e="${result_entries[$k]:--}" 'BEGIN {
    printf "%-40s %9.3f %13s %9s %8s\n", l, m, r, (f > 0 ? sprintf("%.2f", m / f) : "-"), e }'
done

echo
echo "peak RSS in MB, median of $rss_runs untimed runs: tree = /usr/bin/time -f %M (ru_maxrss from wait4: the"
echo "max, not the sum, over the applet and its reaped children); applet, unpacker (the __unpack child), other"
echo "(any other descendant) = VmHWM polled every 1 ms"
printf '%-40s %8s %8s %9s %8s\n' install tree applet unpacker other
declare -A rss_label=(
  [ours]="ours (cold)" [ours_warm]="ours (warm)" [py]="python (cold)" [py_warm]="python (warm)"
  [big_ours]="build: ours (cold)" [big_ours_warm]="build: ours (warm)"
  [base]="baseline (cold)" [base_warm]="baseline (warm)"
  [big_base]="build: baseline (cold)" [big_base_warm]="build: baseline (warm)"
  [big_py]="build: python (cold)" [big_py_warm]="build: python (warm)"
)
for k in "${rss_order[@]}"; do
  if [[ ${rss[$k]:-failed} == failed ]]; then
    printf '%-40s %8s\n' "${rss_label[$k]}" FAILED
    continue
  fi
  tr ';' '\n' <<<"${rss[$k]}" | grep . | awk -v l="${rss_label[$k]}" '
    { for (c = 1; c <= 4; c++) v[c, NR] = $c }
    END {
      printf "%-40s", l
      for (c = 1; c <= 4; c++) {
        n = 0; for (r = 1; r <= NR; r++) a[++n] = v[c, r]
        # median by insertion sort (NR is small)
        for (x = 2; x <= n; x++) { t = a[x]; for (y = x - 1; y >= 1 && a[y] > t; y--) a[y + 1] = a[y]; a[y + 1] = t }
        m = a[int((n + 1) / 2)]
        printf (c == 3 ? " %9s" : " %8s"), (m > 0 ? sprintf("%.1f", m / 1024) : "-")
      }
      printf "\n"
    }'
done

for k in "${order[@]}"; do
  if [[ -n ${failed[$k]:-} ]]; then
    echo
    echo "${label[$k]} failed (${failed[$k]}); last output:"
    tail -n 20 "$logs/$k.out" | sed 's/^/  /'
  fi
done
