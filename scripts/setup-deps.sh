#!/usr/bin/env bash
# Installs the Debian packages Wardgate's build needs. Idempotent and quiet when done.
#   - libclang-dev: the `v4l` crate generates its kernel bindings with bindgen at build time.
#   - pkg-config, gcc: native build scripts.
#   - sqlite3: the service contract test reads the audit log of the binary it ran.
#   - alsa-utils: aplay, which speaks the door's prompts (tests/audio.rs plays them through ALSA).
# The hardware-test harness installs its own extra packages (hw-tests/run).
set -euo pipefail
pkgs=(libclang-dev pkg-config gcc libc6-dev sqlite3 curl ca-certificates openssl alsa-utils)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
((${#missing[@]} == 0)) && exit 0
sudo_=(); [[ $(id -u) == 0 ]] || sudo_=(sudo)
echo "setup-deps: installing ${missing[*]}" >&2
"${sudo_[@]}" apt-get update -qq
"${sudo_[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
