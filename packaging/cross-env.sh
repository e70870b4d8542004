# Sourced by packaging/build-deb.sh and hw-tests/run: the environment of a cross build for the
# board. `cross_env TRIPLE ROOT` installs what is missing (the rustup target; Debian's cross C
# toolchain for bundled SQLite and the linker) and exports the linker, CC/CXX/AR, the LiteRT
# library to link against and bindgen's sysroot. Fails for a triple without a recipe.
cross_env() {
  local target=$1 root=$2 cross debarch
  case "$target" in
    aarch64-unknown-linux-gnu) cross=aarch64-linux-gnu debarch=arm64 ;;
    *) echo "cross-env: no cross setup for $target (aarch64-unknown-linux-gnu is supported)" >&2; return 2 ;;
  esac
  rustup target list --installed | grep -qx "$target" || rustup target add "$target" >&2
  if ! command -v "$cross-gcc" >/dev/null 2>&1; then
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      "gcc-$cross" "g++-$cross" "libc6-dev-$debarch-cross" >/dev/null
  fi
  local triple_env
  triple_env="$(echo "$target" | tr 'a-z-' 'A-Z_')"
  export "CARGO_TARGET_${triple_env}_LINKER=$cross-gcc"
  export "CC_${target//-/_}=$cross-gcc" "CXX_${target//-/_}=$cross-g++" "AR_${target//-/_}=$cross-ar"
  # Link against the LiteRT build for the board, not the host's.
  export LITERT_LIB_DIR="$root/vendor/litert/${target%%-*}"
  export BINDGEN_EXTRA_CLANG_ARGS="--sysroot=/usr/$cross"
}
