#!/usr/bin/env bash
# The main job, in one command on a fresh Debian/Ubuntu machine:
#
#   packaging/install.sh [--prefix /usr/local]    (as root, or with sudo)
#
# builds chroot-distro and cd-mount-helper, installs the binary, the
# cd-<applet> links, the helper, man pages and shell completions, then shows
# the result (list, info). It reaches no image registry.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PREFIX=/usr/local
while (($#)); do
  case $1 in
    --prefix) PREFIX=${2:?--prefix needs a directory}; shift 2 ;;
    -h|--help) sed -n '2,8s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown option $1" >&2; exit 2 ;;
  esac
done

say() { printf '== %s\n' "$*" >&2; }
((EUID == 0)) || { echo "install.sh: run as root (it installs into $PREFIX)" >&2; exit 1; }

if ! command -v cargo >/dev/null && [[ -x ${CARGO_HOME:-$HOME/.cargo}/bin/cargo ]]; then
  PATH=${CARGO_HOME:-$HOME/.cargo}/bin:$PATH
fi
if ! command -v cargo >/dev/null; then
  echo "install.sh: cargo (Rust >= 1.89) is required; install it with rustup" >&2
  exit 1
fi

need=()
for pkg in gcc libc6-dev libcap2-bin; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if ((${#need[@]})); then
  say "installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi

say "building (release)"
cargo build --release --locked -p chroot-distro
# The helper has its own profile (fat LTO, panic=abort, stripped) and is
# linked statically (helper/build says why).
helper=$(helper/build --profile helper-release)
[[ -x $helper ]] || { echo "install.sh: helper/build produced no binary" >&2; exit 1; }

bin=$PREFIX/bin
lib=$PREFIX/lib/chroot-distro
share=$PREFIX/share
install -d -m 0755 "$bin" "$lib/applets" "$share/man/man1" \
  "$share/bash-completion/completions" "$share/zsh/site-functions" \
  "$share/fish/vendor_completions.d"

target=${CARGO_TARGET_DIR:-target}/release
say "installing $bin/chroot-distro and $lib/cd-mount-helper"
install -m 0755 "$target/chroot-distro" "$bin/chroot-distro"
# File capabilities, never set-user-ID (the helper refuses that). It grants
# nothing until an admin writes /etc/chroot-distro/helper.conf.
install -o root -g root -m 0755 "$helper" "$lib/cd-mount-helper"
if command -v setcap >/dev/null; then
  setcap cap_sys_admin,cap_setpcap,cap_setuid,cap_setgid,cap_chown,cap_dac_override,cap_fsetid,cap_fowner,cap_mknod,cap_net_raw,cap_setfcap,cap_net_bind_service,cap_sys_chroot,cap_kill,cap_audit_write+ep \
    "$lib/cd-mount-helper"
else
  say "setcap not found (apt install libcap2-bin): the helper is installed without capabilities"
fi

say "installing applet links"
"$bin/chroot-distro" --install-links "$lib/applets" --force
# Put cd-<applet> on PATH, except where a name is already another program's
# (Debian's libcdio-utils ships /usr/bin/cd-info, for one).
for link in "$lib/applets"/cd-*; do
  name=${link##*/}
  existing=$(command -v "$name" 2>/dev/null || true)
  if [[ -n $existing && $(readlink -f "$existing") != $(readlink -f "$bin/chroot-distro") ]]; then
    echo "   skipping $name: $existing is another program (use 'chroot-distro ${name#cd-}')" >&2
    continue
  fi
  ln -sfn chroot-distro "$bin/$name"
done

say "installing man pages and completions"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$bin/chroot-distro" --generate-man "$out"
# A cd-<applet> page only beside a cd-<applet> link of ours: where the name
# is another program's (cd-info), its own page stays.
for page in "$out"/*.1; do
  name=${page##*/}
  name=${name%.1}
  if [[ $name == cd-* ]] && ! [[ -L $bin/$name && $(readlink "$bin/$name") == chroot-distro ]]; then
    continue
  fi
  install -m 0644 "$page" "$share/man/man1/"
done
"$bin/chroot-distro" completions bash >"$share/bash-completion/completions/chroot-distro"
"$bin/chroot-distro" completions zsh >"$share/zsh/site-functions/_chroot-distro"
"$bin/chroot-distro" completions fish >"$share/fish/vendor_completions.d/chroot-distro.fish"
for link in "$bin"/cd-*; do
  [[ -L $link ]] || continue
  ln -sfn chroot-distro "$share/bash-completion/completions/${link##*/}"
done

say "chroot-distro --version"
"$bin/chroot-distro" --version
say "chroot-distro info"
"$bin/chroot-distro" info

# A first container, made from Debian's busybox-static package: no image
# registry involved.
say "making a busybox rootfs from Debian's busybox-static"
demo=$out/demo
install -d -m 0755 "$demo" "$demo/rootfs"
if ! (cd "$demo" && apt-get download busybox-static >/dev/null 2>&1); then
  apt-get update -qq
  (cd "$demo" && apt-get download busybox-static >/dev/null)
fi
dpkg-deb -x "$demo"/busybox-static_*.deb "$demo/pkg"
r=$demo/rootfs
install -d -m 0755 "$r/bin" "$r/sbin" "$r/usr/bin" "$r/usr/sbin" "$r/etc" "$r/dev" "$r/proc" \
  "$r/sys" "$r/run" "$r/home"
install -d -m 0700 "$r/root"
install -d -m 1777 "$r/tmp"
install -m 0755 "$demo/pkg/bin/busybox" "$r/bin/busybox"
for applet in $("$r/bin/busybox" --list-full); do
  [[ -e $r/$applet ]] || ln -s /bin/busybox "$r/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$r/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$r/etc/group"
tar --numeric-owner -czf "$demo/busybox-rootfs.tar.gz" -C "$r" .

# Never at the cost of a 'demo' the user already has (a re-run keeps it).
if "$bin/chroot-distro" list -q | grep -qx demo; then
  say "a container named demo exists: kept as it is (chroot-distro remove demo, then re-run, to make it anew)"
else
  say "chroot-distro install busybox-rootfs.tar.gz --name demo"
  "$bin/chroot-distro" install "$demo/busybox-rootfs.tar.gz" --name demo
fi
say "chroot-distro list"
"$bin/chroot-distro" list
say "chroot-distro login demo -- ..."
"$bin/chroot-distro" login demo -- sh -c 'echo "hello from $HOSTNAME: $(id -un) in $(pwd), $(busybox | head -1)"'
say "done: try 'chroot-distro login demo'"
