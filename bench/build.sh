#!/usr/bin/env bash
# How long `build` takes on one small Dockerfile (ENV, WORKDIR, two COPYs,
# two RUNs, CMD on the rig's busybox), against `buildah bud`, Charliecloud's
# `ch-image build` and the Python chroot-distro, in three situations:
#
#   cold     every step runs (each tool's "no cache" switch; the base image
#            is already in each tool's own store, so no download is timed)
#   cached   the same build again: every step comes from the build cache
#   changed  one context file (used by the second COPY) changed: the steps
#            after it run again, the ones before come from the cache
#
#   sudo bench/build.sh            # RUNS=5 by default
#
# Needs root (root-mode RUN steps, buildah's storage, switching to the rig's
# user). It runs `tests/rig/setup -q` first and builds FROM the rig's
# busybox (CD_RIG_FIXTURE_BUSYBOX) on the rig's TLS registry. Ours runs as
# root and rootless (as the rig user, CD_RIG_USER, no helper); buildah as
# root with --isolation chroot and --layers; ch-image as the rig user (it is
# unprivileged by design); the Python tool as root (it builds only as root).
# buildah and charliecloud-builders are installed with apt when missing; a
# contender whose tool is still missing is skipped with a note. The Python
# tool comes from ${CD_BENCH_CACHE:-/var/cache/cd-bench}/venv (shared with
# the other scripts).
#
# Rounds are interleaved (round i runs every contender's cold, cached and
# changed build once) so a load spike hits them all alike; the page cache is
# not dropped (a developer rebuilding has a warm one). The table shows each
# contender's median and our ratio to it. Not a test: nothing here asserts a time.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bench_dir=$PWD/bench
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$bench_dir/lib.sh"
runs=${RUNS:-5}
cache=${CD_BENCH_CACHE:-/var/cache/cd-bench}

die() { echo "build.sh: $*" >&2; exit 1; }
note() { echo "--- $*" >&2; }
((EUID == 0)) || die "run as root (root-mode RUN steps, buildah, switching to the rig's user)"

# --- the rig, our binary, the peers ---------------------------------------------------
load_rig
base=$CD_RIG_FIXTURE_BUSYBOX
uid=$CD_RIG_UID
gid=$CD_RIG_GID
user=$CD_RIG_USER
build_ours

missing=()
command -v buildah >/dev/null || missing+=(buildah)
command -v ch-image >/dev/null || missing+=(charliecloud-builders)
command -v ch-run >/dev/null || missing+=(charliecloud-runtime)
if ((${#missing[@]})); then
  note "installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null 2>&1 ||
    note "apt-get install ${missing[*]} failed; their rows are skipped"
fi
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)
python_tool

# --- work dir, context ------------------------------------------------------------------
work=$(mktemp -d "${CD_BENCH_WORK:-/var/tmp}/cd-bench-build.XXXXXX")
chmod 755 "$work"
logs=$work/logs
mkdir -p "$logs"
ctx=$work/ctx
mkdir -p "$ctx/data"
for i in $(seq 1 200); do printf 'file %d\n' "$i" >"$ctx/data/f$i.txt"; done
echo hello >"$ctx/hello.txt"
cat >"$ctx/Dockerfile" <<EOF
FROM $base
ENV GREETING=hello
WORKDIR /app
COPY data/ /app/data/
RUN echo "\$GREETING" > /app/greeting && mkdir -p /app/out && cp -r /app/data /app/out/
COPY hello.txt /app/
RUN wc -c /app/hello.txt > /app/size && ls /app/out/data | wc -l > /app/count
CMD ["cat", "/app/greeting"]
EOF
chmod -R a+rX "$ctx"

# Each contender's store.
ours_root=$work/ours-root
ours_user=$work/ours-user
py_run=$work/py
ch_dir=$work/ch # ch-image makes its store itself (an existing one must be its own)
ch_store=$ch_dir/store
bah=(buildah --root "$work/buildah" --runroot "$work/buildah-run" --storage-driver overlay)
mkdir -p "$ours_root" "$ours_user" "$py_run" "$ch_dir"
chown "$uid:$gid" "$ours_user" "$ch_dir"

store() { # dir command...
  HOME=$1/home XDG_DATA_HOME=$1/data XDG_CACHE_HOME=$1/cache "${@:2}"
}
as_user() {
  setpriv --reuid="$uid" --regid="$gid" --init-groups \
    env -i HOME="$ours_user/home" XDG_DATA_HOME="$ours_user/data" XDG_CACHE_HOME="$ours_user/cache" \
    USER="$user" LOGNAME="$user" PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$@"
}
# ch-image is Python: run by Debian's interpreter (it has lark), not
# whatever python3 comes first on PATH. Its build cache is a git
# repository, whose commits need an identity.
ch() {
  as_user env GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@localhost \
    GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@localhost \
    /usr/bin/python3 "$(command -v ch-image)" -s "$ch_store" "$@"
}

cleanup() {
  set +e
  if [[ -d $work/buildah ]]; then "${bah[@]}" rm -a >/dev/null 2>&1; "${bah[@]}" rmi -af >/dev/null 2>&1; fi
  umount -R "$work/buildah/overlay" 2>/dev/null
  remove_unless_mounted "$work"
}
trap cleanup EXIT

# One build command per contender and situation. $1: cold|warm.
build_cmd() { # contender mode
  local nocache=()
  case $1 in
  ours-root)
    [[ $2 == cold ]] && nocache=(--no-cache)
    echo store "$ours_root" "$bin" build -q "${nocache[@]}" -t bench:1 "$ctx"
    ;;
  ours-user)
    [[ $2 == cold ]] && nocache=(--no-cache)
    echo as_user "$bin" build -q "${nocache[@]}" -t bench:1 "$ctx"
    ;;
  python)
    [[ $2 == cold ]] && nocache=(--no-cache)
    echo store "$py_run" "$py" build "${nocache[@]}" -t bench:1 "$ctx"
    ;;
  buildah)
    [[ $2 == cold ]] && nocache=(--no-cache)
    echo "${bah[@]}" bud --quiet --isolation chroot --layers --tls-verify=false "${nocache[@]}" -t bench:1 "$ctx"
    ;;
  ch-image)
    [[ $2 == cold ]] && nocache=(--rebuild)
    echo ch --tls-no-verify build "${nocache[@]}" -t bench -f "$ctx/Dockerfile" "$ctx"
    ;;
  esac
}

contenders=(ours-root ours-user python buildah ch-image)
command -v buildah >/dev/null || { note "no buildah: its row is skipped"; contenders=("${contenders[@]/buildah}"); }
command -v ch-run >/dev/null && command -v ch-image >/dev/null || { note "no ch-image: its row is skipped"; contenders=("${contenders[@]/ch-image}"); }

declare -A ms
# Runs one build, appending its milliseconds to ms[contender/situation]
# (or marking it failed with the log's name).
measure() { # contender situation mode
  local key=$1/$2 t0 t1 cmd
  read -r -a cmd <<<"$(build_cmd "$1" "$3")"
  t0=$(date +%s%N)
  if ! "${cmd[@]}" >>"$logs/$1.log" 2>&1; then
    failed[$key]="see $logs/$1.log"
    return
  fi
  t1=$(date +%s%N)
  ms[$key]+="$(((t1 - t0) / 1000000)) "
}

# Untimed: every tool fetches the base image and fills its cache once.
note "warming up (base image into every store)"
for c in "${contenders[@]}"; do
  [[ -n $c ]] || continue
  measure "$c" warmup warm
  [[ -z ${failed[$c/warmup]:-} ]] || note "$c failed its first build (${failed[$c/warmup]}); its numbers are not comparable"
done

for round in $(seq 1 "$runs"); do
  note "round $round/$runs"
  for c in "${contenders[@]}"; do
    [[ -n $c ]] || continue
    echo "hello $round" >"$ctx/hello.txt"
    measure "$c" cold cold
    measure "$c" cached warm
    echo "changed $round $c" >"$ctx/hello.txt"
    measure "$c" changed warm
  done
done

# --- the table ---------------------------------------------------------------------------
med() { tr ' ' '\n' <<<"${ms[$1]:-}" | { grep . || true; } | median; }
printf '\nbuild of a 7-step Dockerfile (200-file COPY), median of %d runs, milliseconds\n\n' "$runs"
printf '%-10s' situation
for c in "${contenders[@]}"; do [[ -n $c ]] && printf '%12s' "$c"; done
printf '   ours-root vs each\n'
for s in cold cached changed; do
  printf '%-10s' "$s"
  ours=$(med "ours-root/$s")
  ratios=()
  for c in "${contenders[@]}"; do
    [[ -n $c ]] || continue
    m=$(med "$c/$s")
    if [[ -n ${failed[$c/$s]:-} || -z $m ]]; then
      printf '%12s' failed
      continue
    fi
    printf '%12s' "$m"
    if [[ $c != ours-root && -n $ours && $m -gt 0 ]]; then
      ratios+=("$(awk -v a="$ours" -v b="$m" -v c="$c" 'BEGIN { printf "%.2fx %s", a / b, c }')")
    fi
  done
  printf '   %s\n' "$(IFS=,; echo "${ratios[*]}" | sed 's/,/, /g')"
done
for k in "${!failed[@]}"; do echo "failed: $k (${failed[$k]})"; done
echo
echo "python: chroot-distro $py_version; buildah: $(buildah --version 2>/dev/null | awk '{print $3}'); ch-image: $(ch --version 2>&1 | tail -1)"
