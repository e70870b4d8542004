#!/usr/bin/env bash
# Picks the guest kernel for the hardware tests from what apt offers today.
#
# The guest needs five packages of Debian's 6.1 kernel, all built from one source package and so
# published together at one version V:
#   linux-image-<ABI>-amd64-unsigned  linux-headers-<ABI>-amd64  linux-headers-<ABI>-common
#   linux-kbuild-6.1                  linux-source-6.1
# Debian's security archive keeps moving (it drops old builds), so a pinned V breaks new machines.
# This script reads `apt-cache madison` lines for those packages on standard input and prints the
# consistent (ABI, V) pairs, newest first, one `ABI V` a line. When none is consistent it prints
# one line to standard error naming what is missing for the newest image and exits 1.
#
# Usage: resolve-kernel.sh < madison-output        (hw-tests/run feeds it; tests feed canned text)
set -euo pipefail

madison=$(cat)
# name|version pairs, whitespace trimmed.
pairs=$(awk -F'|' 'NF >= 2 { gsub(/[ \t]/, "", $1); gsub(/[ \t]/, "", $2); print $1 "|" $2 }' \
    <<<"$madison" | sort -u)
has() { grep -qxF "$1|$2" <<<"$pairs"; }

images=$(grep -E '^linux-image-6\.1\.0-[0-9]+-amd64-unsigned\|' <<<"$pairs" | sort -t'|' -k2,2Vr || true)
if [[ -z $images ]]; then
    echo "no linux-image-6.1.0-*-amd64-unsigned package is offered by apt (run apt-get update?)" >&2
    exit 1
fi

found=0
first_missing=
while IFS='|' read -r image ver; do
    abi=${image#linux-image-}
    abi=${abi%-amd64-unsigned}
    missing=()
    for need in "linux-headers-$abi-amd64" "linux-headers-$abi-common" linux-kbuild-6.1 linux-source-6.1; do
        has "$need" "$ver" || missing+=("$need=$ver")
    done
    if ((${#missing[@]} == 0)); then
        echo "$abi $ver"
        found=1
    elif [[ -z $first_missing ]]; then
        first_missing="$image=$ver lacks ${missing[*]}"
    fi
done < <(sort -t'|' -k2,2Vr <<<"$images")

if ((found == 0)); then
    echo "no consistent 6.1 kernel set in apt: the newest, $first_missing" >&2
    exit 1
fi
