#!/usr/bin/env bash
# Installs the LiteRT runtime the vision module links against, from the pinned PyPI wheel
# ai-edge-litert==2.1.4, into vendor/litert/<arch>/libLiteRt.so (x86_64 for development and CI,
# aarch64 for the boards). With --python it also installs the same wheel and its dependencies
# into vendor/python/ for the embedding parity test and the raw-invoke benchmark.
#
# Idempotent and quiet when everything is already in place; wheels are cached in vendor/cache/.
# .cargo/config.toml points LITERT_LIB_DIR and the rpath at vendor/litert/x86_64, so after this
# script `cargo build` and `cargo test` need no exported variables.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VERSION="2.1.4"
# Wheel tag: the library inside does not depend on the Python version, but the Python side of
# the parity test does, so the tag matches the interpreter Debian bookworm and CI use (3.11).
PYTAG="cp311"
declare -A SHA256=(
  [x86_64]="1bed8ccd8dfc4f2ec388bc79cb90920c261a244995ce378d396fb8967b7db640"
  [aarch64]="f2f07d27211a6b64ed374733bcbdd78dcf0cdc70de5c5f7d0ce7f198d4890a23"
)
# sha256 of libLiteRt.so inside each wheel, checked after extraction.
declare -A LIB_SHA256=(
  [x86_64]="c590f1124053ce6d2ceaef6d1174af15f8103a76872059414d18ff2e9cfaf681"
  [aarch64]="332b30e12a0708279c44e883639ac4caa435f18f6333fc4f35f8293a90ea9819"
)

# WARDGATE_DOWNLOAD_CACHE moves the wheel cache out of the checkout (CI keeps it between clones).
CACHE="${WARDGATE_DOWNLOAD_CACHE:-$ROOT/vendor/cache}"
WANT_PYTHON=0
for arg in "$@"; do
  case "$arg" in
    --python) WANT_PYTHON=1 ;;
    *) echo "usage: $0 [--python]" >&2; exit 2 ;;
  esac
done

say() { echo "setup-litert: $*" >&2; }

sha_ok() { [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]; }

wheel_path() { echo "$CACHE/ai_edge_litert-$VERSION-$PYTAG-$PYTAG-manylinux_2_27_$1.whl"; }

fetch_wheel() {
  local arch="$1" whl
  whl="$(wheel_path "$arch")"
  if sha_ok "$whl" "${SHA256[$arch]}"; then return 0; fi
  mkdir -p "$CACHE"
  say "downloading ai-edge-litert==$VERSION for $arch"
  python3 -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
    --platform "manylinux_2_27_$arch" --python-version 3.11 --implementation cp \
    -d "$CACHE" "ai-edge-litert==$VERSION"
  if ! sha_ok "$whl" "${SHA256[$arch]}"; then
    say "sha256 mismatch for $whl (expected ${SHA256[$arch]}); refusing to use it"
    rm -f "$whl"
    exit 1
  fi
}

install_lib() {
  local arch="$1" dest="$ROOT/vendor/litert/$1"
  if sha_ok "$dest/libLiteRt.so" "${LIB_SHA256[$arch]}"; then return 0; fi
  fetch_wheel "$arch"
  mkdir -p "$dest"
  python3 - "$(wheel_path "$arch")" "$dest/libLiteRt.so" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, open(sys.argv[2], "wb") as out:
    out.write(z.read("ai_edge_litert/libLiteRt.so"))
PY
  if ! sha_ok "$dest/libLiteRt.so" "${LIB_SHA256[$arch]}"; then
    say "sha256 mismatch for extracted $dest/libLiteRt.so"
    rm -f "$dest/libLiteRt.so"
    exit 1
  fi
  say "installed $dest/libLiteRt.so"
}

install_python() {
  local target="$ROOT/vendor/python" stamp="$ROOT/vendor/python/.wardgate-$VERSION"
  if [ -f "$stamp" ]; then return 0; fi
  fetch_wheel x86_64
  say "installing ai-edge-litert==$VERSION (+ numpy, pillow) into vendor/python"
  rm -rf "$target"
  python3 -m pip install --quiet --disable-pip-version-check --no-warn-script-location --root-user-action=ignore \
    --target "$target" "$(wheel_path x86_64)" "numpy>=1.23.2,<3" "pillow>=10,<13"
  touch "$stamp"
}

for arch in x86_64 aarch64; do install_lib "$arch"; done
if [ "$WANT_PYTHON" = 1 ]; then install_python; fi
