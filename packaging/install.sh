#!/usr/bin/env bash
# The main job, in one command on a fresh Debian/Ubuntu machine:
#
#   sudo packaging/install.sh [--prefix /usr/local]
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
for pkg in gcc libc6-dev; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if ((${#need[@]})); then
  say "installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi

say "building (release)"
cargo build --release --locked --workspace

bin=$PREFIX/bin
lib=$PREFIX/lib/chroot-distro
share=$PREFIX/share
install -d -m 0755 "$bin" "$lib/applets" "$share/man/man1" \
  "$share/bash-completion/completions" "$share/zsh/site-functions" \
  "$share/fish/vendor_completions.d"

target=${CARGO_TARGET_DIR:-target}/release
say "installing $bin/chroot-distro and $lib/cd-mount-helper"
install -m 0755 "$target/chroot-distro" "$bin/chroot-distro"
# The helper grants nothing yet; it is installed without capabilities.
install -o root -g root -m 0755 "$target/cd-mount-helper" "$lib/cd-mount-helper"

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
install -m 0644 "$out"/*.1 "$share/man/man1/"
"$bin/chroot-distro" completions bash >"$share/bash-completion/completions/chroot-distro"
"$bin/chroot-distro" completions zsh >"$share/zsh/site-functions/_chroot-distro"
"$bin/chroot-distro" completions fish >"$share/fish/vendor_completions.d/chroot-distro.fish"
for link in "$bin"/cd-*; do
  [[ -L $link ]] || continue
  ln -sfn chroot-distro "$share/bash-completion/completions/${link##*/}"
done

say "chroot-distro --version"
"$bin/chroot-distro" --version
say "chroot-distro list"
"$bin/chroot-distro" list
say "chroot-distro info"
"$bin/chroot-distro" info
say "done: try 'chroot-distro help'"
