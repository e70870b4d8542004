#!/usr/bin/env bash
# Builds the Debian package: release binary, LiteRT runtime, models, units, default config.
#   packaging/build-deb.sh                 # amd64 (or the host's architecture)
#   packaging/build-deb.sh --target aarch64-unknown-linux-gnu   # arm64: needs a cross toolchain, docs/packaging.md
# Prints the path of the .deb on stdout. Uses CARGO_TARGET_DIR when set.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
TARGET=""
while [ $# -gt 0 ]; do
  case "$1" in
    --target) TARGET="$2"; shift 2 ;;
    *) echo "usage: $0 [--target TRIPLE]" >&2; exit 2 ;;
  esac
done

"$ROOT/packaging/setup-tools.sh"
CACHE="${WARDGATE_PACKAGING_CACHE:-$ROOT/vendor/packaging}"
CARGO_DEB="$CACHE/tools/bin/cargo-deb"

arch="${TARGET%%-*}"
arch="${arch:-$(uname -m)}"
lib="$ROOT/vendor/litert/$arch/libLiteRt.so"
if [ ! -f "$lib" ] && [ -x "$ROOT/scripts/setup-litert.sh" ]; then
  "$ROOT/scripts/setup-litert.sh"
fi
if [ ! -f "$lib" ]; then
  echo "build-deb: $lib is missing; scripts/setup-litert.sh installs it" >&2
  exit 1
fi
if ! ls "$ROOT"/models/*.tflite >/dev/null 2>&1; then
  echo "build-deb: no models/*.tflite; the package must ship the models" >&2
  exit 1
fi
mkdir -p "$ROOT/vendor/packaging/stage"
install -m 0644 "$lib" "$ROOT/vendor/packaging/stage/libLiteRt.so"

target_args=()
if [ -n "$TARGET" ] && [ "$TARGET" != "$(rustc -vV | sed -n 's/^host: //p')" ]; then
  target_args=(--target "$TARGET")
  # The rustup target, the cross C toolchain and the environment: packaging/cross-env.sh.
  . "$ROOT/packaging/cross-env.sh"
  cross_env "$TARGET" "$ROOT"
fi
cargo build --quiet --release --locked "${target_args[@]}"
out="$CACHE/deb"
mkdir -p "$out"
# --no-build: the build above. --dbgsym: the board gets a stripped binary; the line tables
# (profile.release) go to wardgate-dbgsym_*.ddeb, beside the .deb, for reading crash reports.
"$CARGO_DEB" --no-build --dbgsym --output "$out" "${target_args[@]}" 2>/dev/null | tail -1
