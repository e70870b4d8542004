#!/usr/bin/env bash
# Installs what the packaging checks need, into project-local caches under vendor/packaging/:
#   - Debian packages: debootstrap (fresh Debian root), systemd (systemd-analyze),
#     systemd-container (systemd-nspawn boots that root to run the service under systemd)
#   - cargo-deb (crates.io, pinned) in vendor/packaging/tools/bin
#   - oelint-adv (PyPI, pinned) in the venv vendor/packaging/venv
#   - ai-edge-litert (PyPI, pinned) in vendor/packaging/litert-venv for the MDWE probe
#   - a Debian bookworm root (debootstrap minbase + systemd) as vendor/packaging/rootfs/*.tar
# Idempotent, and silent when everything is already in place.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# WARDGATE_PACKAGING_CACHE moves it out of the checkout (CI keeps it between fresh clones).
CACHE="${WARDGATE_PACKAGING_CACHE:-$ROOT/vendor/packaging}"
CARGO_DEB_VERSION="3.6.2"
OELINT_VERSION="9.11.2"
SUITE="bookworm"
MIRROR="http://deb.debian.org/debian"
ROOTFS_TAR="$CACHE/rootfs/debian-$SUITE-minbase-systemd.tar"

say() { echo "packaging-setup: $*" >&2; }

apt_install() {
  local missing=()
  for cmd_pkg in "$@"; do
    local cmd="${cmd_pkg%%:*}" pkg="${cmd_pkg##*:}"
    command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  say "apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

install_cargo_deb() {
  local bin="$CACHE/tools/bin/cargo-deb"
  if [ -x "$bin" ] && "$bin" --version 2>/dev/null | grep -q "$CARGO_DEB_VERSION"; then return 0; fi
  say "cargo install cargo-deb@$CARGO_DEB_VERSION (a few minutes, once)"
  cargo install --quiet --locked --force --root "$CACHE/tools" "cargo-deb@$CARGO_DEB_VERSION"
}

install_oelint() {
  local venv="$CACHE/venv" stamp="$CACHE/venv/.oelint-adv-$OELINT_VERSION"
  [ -f "$stamp" ] && return 0
  say "installing oelint-adv==$OELINT_VERSION into $CACHE/venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "oelint-adv==$OELINT_VERSION"
  touch "$stamp"
}

# LiteRT's Python wheel (same version as the firmware's libLiteRt.so) for the
# MemoryDenyWriteExecute probe, packaging/mdwe-litert-probe.py.
install_litert_probe() {
  local venv="$CACHE/litert-venv" stamp="$CACHE/litert-venv/.ai-edge-litert-2.1.4"
  [ -f "$stamp" ] && return 0
  say "installing ai-edge-litert==2.1.4 into $CACHE/litert-venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "ai-edge-litert==2.1.4" "numpy>=1.23.2,<3"
  touch "$stamp"
}

make_rootfs() {
  [ -s "$ROOTFS_TAR" ] && return 0
  local tmp
  tmp="$(mktemp -d "$CACHE/rootfs-build.XXXXXX")"
  say "debootstrap $SUITE (minbase + systemd) once, about a minute"
  if ! debootstrap --variant=minbase --include=systemd "$SUITE" "$tmp/root" "$MIRROR" >"$tmp/log" 2>&1; then
    tail -20 "$tmp/log" >&2
    rm -rf "$tmp"
    exit 1
  fi
  # Keep the root small: the package cache is not part of a fresh system.
  rm -rf "$tmp/root/var/cache/apt/archives/"*.deb
  mkdir -p "$(dirname "$ROOTFS_TAR")"
  tar -C "$tmp/root" -cf "$ROOTFS_TAR.part" .
  mv "$ROOTFS_TAR.part" "$ROOTFS_TAR"
  rm -rf "$tmp"
}

mkdir -p "$CACHE"
apt_install debootstrap:debootstrap systemd-analyze:systemd systemd-nspawn:systemd-container dpkg-deb:dpkg python3:python3 unshare:util-linux
install_oelint
install_litert_probe
install_cargo_deb
make_rootfs
