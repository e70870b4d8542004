#!/usr/bin/env bash
# All packaging checks, for CI and by hand: `bash packaging/check.sh`.
#   - systemd units: `systemd-analyze verify` and the `security` exposure (target <= 2.0)
#   - the Debian package: builds, lists its files, installs into a fresh Debian root (chroot),
#     creates the user, enables the unit, puts every file where the unit expects it, purges
#   - the arm64 package (the board's): cross-built, the same files, every ELF object AArch64,
#     the aarch64 loader, libLiteRt.so and the RUNPATH that finds it
#   - the Yocto layer: crate list in step with Cargo.lock, oelint-adv clean, pins consistent
# Ends with `packaging: N passed, M failed`; exits 1 if any check failed.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# WARDGATE_PACKAGING_CACHE moves it out of the checkout (CI keeps it between fresh clones).
CACHE="${WARDGATE_PACKAGING_CACHE:-$ROOT/vendor/packaging}"
ROOTFS_TAR="$CACHE/rootfs/debian-bookworm-minbase-systemd.tar"
EXPOSURE_MAX="2.0"
PASSED=0
FAILED=0
FAILED_NAMES=()
LOG="$(mktemp -d /tmp/wardgate-packaging.XXXXXX)"
DEBROOT="$LOG/debian-root"

cleanup() {
  stop_container 2>/dev/null
  if mountpoint -q "$DEBROOT/proc" 2>/dev/null; then umount "$DEBROOT/proc"; fi
  rm -rf "$LOG"
}
trap cleanup EXIT

# check NAME COMMAND...: runs the command, prints ok/FAIL with its output on failure.
check() {
  local name="$1"; shift
  local out="$LOG/check.out"
  if "$@" >"$out" 2>&1; then
    PASSED=$((PASSED + 1))
    echo "ok    $name"
  else
    FAILED=$((FAILED + 1))
    FAILED_NAMES+=("$name")
    echo "FAIL  $name"
    sed 's/^/      /' "$out" | tail -25
  fi
}

in_root() { chroot "$DEBROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin "$@"; }

# --- tools -------------------------------------------------------------------------------------
if ! "$ROOT/packaging/setup-tools.sh"; then
  echo "packaging: setup failed"
  echo "packaging: 0 passed, 1 failed"
  exit 1
fi

# --- Debian package ----------------------------------------------------------------------------
DEB=""
build_deb() {
  DEB="$("$ROOT/packaging/build-deb.sh" | tail -1)"
  [ -f "$DEB" ] || { echo "no .deb produced (got '$DEB')"; return 1; }
  echo "$DEB"
}
check "deb: builds (cargo-deb)" build_deb
DEB="$(ls -t "$CACHE"/deb/wardgate_*_"$(dpkg --print-architecture)".deb 2>/dev/null | head -1)"

deb_lists_files() {
  dpkg-deb --info "$DEB" | sed -n '/Package:/,$p'
  dpkg-deb --contents "$DEB" | awk '{print $1, $2, $6}' | tee "$LOG/contents"
  local want missing=0
  for want in ./usr/bin/wardgate ./usr/lib/wardgate/libLiteRt.so \
      ./usr/share/wardgate/models/SHA256SUMS ./etc/wardgate/wardgate.toml \
      ./usr/lib/systemd/system/wardgate.service ./usr/lib/sysusers.d/wardgate.conf \
      ./usr/lib/tmpfiles.d/wardgate.conf ./usr/lib/udev/rules.d/60-wardgate-gpio.rules; do
    grep -q " $want\$" "$LOG/contents" || { echo "missing from the package: $want"; missing=1; }
  done
  grep -q '\./usr/share/wardgate/models/.*\.tflite$' "$LOG/contents" || { echo "no models"; missing=1; }
  grep -q '\./usr/share/wardgate/prompts/turn-left\.wav$' "$LOG/contents" || { echo "no audio prompts"; missing=1; }
  dpkg-deb --info "$DEB" postinst >/dev/null || { echo "no postinst"; missing=1; }
  return "$missing"
}
check "deb: lists its files at the install layout" deb_lists_files
[ -f "$LOG/contents" ] && awk '$3 !~ /\/$/ {print "      " $0}' "$LOG/contents"

fresh_root() {
  rm -rf "$DEBROOT" && mkdir -p "$DEBROOT" && tar -C "$DEBROOT" -xf "$ROOTFS_TAR"
}

install_into_root() {
  fresh_root || return 1
  cp "$DEB" "$DEBROOT/tmp/wardgate.deb"
  mount -t proc proc "$DEBROOT/proc"
  # apt resolves the dependencies from the root's own (cached) package state; all of them are
  # in a minbase+systemd root, so dpkg alone must succeed.
  in_root dpkg -i /tmp/wardgate.deb
}
check "deb: installs into a fresh Debian bookworm root" install_into_root

user_created() {
  in_root id wardgate
  local groups
  groups="$(in_root id -nG wardgate)"
  for g in video gpio; do
    [[ " $groups " == *" $g "* ]] || { echo "wardgate is not in group $g ($groups)"; return 1; }
  done
  in_root getent passwd wardgate | grep -q ':/var/lib/wardgate:/usr/sbin/nologin$'
}
check "deb: postinst created user wardgate (groups video, gpio)" user_created

unit_enabled() {
  local link="$DEBROOT/etc/systemd/system/multi-user.target.wants/wardgate.service"
  [ -L "$link" ] || { echo "not enabled: $link missing"; return 1; }
  readlink "$link"
}
check "deb: postinst enabled wardgate.service" unit_enabled

files_where_unit_expects() {
  local bad=0
  stat_is() { # PATH OWNER:GROUP MODE
    local got
    got="$(in_root stat -c '%U:%G %a' "$1")" || { echo "missing: $1"; bad=1; return; }
    [ "$got" = "$2 $3" ] || { echo "$1: $got, want $2 $3"; bad=1; }
  }
  exec_path="$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$DEBROOT/usr/lib/systemd/system/wardgate.service")"
  [ -x "$DEBROOT$exec_path" ] || { echo "ExecStart $exec_path is not executable"; bad=1; }
  config="$(sed -n 's/^ExecStart=.*--config \([^ ]*\).*/\1/p' "$DEBROOT/usr/lib/systemd/system/wardgate.service")"
  stat_is "$config" root:wardgate 640
  stat_is /var/lib/wardgate wardgate:wardgate 750
  stat_is /var/lib/wardgate/spool wardgate:wardgate 750
  stat_is /etc/wardgate/credentials root:root 700
  stat_is /etc/wardgate/credentials/token_pepper root:root 600
  stat_is /etc/wardgate/credentials/admin_token root:root 600
  stat_is /etc/wardgate/credentials/template_keys root:root 600
  stat_is /usr/lib/wardgate/libLiteRt.so root:root 644
  # The config points the state where StateDirectory= is.
  grep -q '^url = "sqlite:///var/lib/wardgate/' "$DEBROOT$config" || { echo "database.url not under /var/lib/wardgate"; bad=1; }
  grep -q '^spool_dir = "/var/lib/wardgate/spool"' "$DEBROOT$config" || { echo "events.spool_dir not under /var/lib/wardgate"; bad=1; }
  grep -q '^model_dir = "/usr/share/wardgate/models"' "$DEBROOT$config" || { echo "vision.model_dir is not the installed models"; bad=1; }
  # Models intact.
  (cd "$DEBROOT/usr/share/wardgate/models" && sha256sum -c --quiet SHA256SUMS) || bad=1
  # Every shared library the binary needs resolves inside the root (libLiteRt.so by RUNPATH).
  if in_root ldd /usr/bin/wardgate | tee "$LOG/ldd" | grep -q 'not found'; then
    cat "$LOG/ldd"; bad=1
  fi
  if readelf -d "$DEBROOT/usr/bin/wardgate" | grep -q 'libLiteRt.so'; then
    # Resolved through $ORIGIN ldd prints /usr/bin/../lib/wardgate/…: compare canonical paths.
    lit=$(sed -n 's/^[[:space:]]*libLiteRt\.so => \([^ ]*\) .*/\1/p' "$LOG/ldd")
    [ -n "$lit" ] && [ "$(in_root realpath -m "$lit")" = /usr/lib/wardgate/libLiteRt.so ] \
      || { echo "libLiteRt.so not taken from /usr/lib/wardgate"; cat "$LOG/ldd"; bad=1; }
  fi
  in_root /usr/bin/wardgate --help >/dev/null || { echo "wardgate --help failed in the root"; bad=1; }
  return "$bad"
}
check "deb: files, owners and modes where the unit expects them" files_where_unit_expects

runs_as_service_user() {
  # The shipped config is accepted, and the service user can create its database where the
  # config and StateDirectory= put it.
  in_root /usr/bin/wardgate --config /etc/wardgate/wardgate.toml check-config >/dev/null || return 1
  in_root setpriv --reuid wardgate --regid wardgate --init-groups \
    /usr/bin/wardgate --config /etc/wardgate/wardgate.toml migrate || return 1
  local got
  got="$(in_root stat -c '%U %s' /var/lib/wardgate/wardgate.db)" || return 1
  echo "database: $got"
  [ "${got%% *}" = wardgate ]
}
check "deb: shipped config valid; 'wardgate migrate' as user wardgate creates /var/lib/wardgate/wardgate.db" runs_as_service_user

verify_units() {
  # Verified where they were installed, against that root's systemd units and binaries.
  systemd-analyze verify --man=no --root="$DEBROOT" wardgate.service wardgate-credentials.service
  local out
  out="$(systemd-analyze verify --man=no --root="$DEBROOT" wardgate.service wardgate-credentials.service 2>&1)"
  [ -z "$out" ] || { echo "$out"; return 1; }
  SYSTEMD_LOG_LEVEL=err in_root systemd-sysusers --dry-run wardgate.conf
  in_root systemd-tmpfiles --dry-run --create wardgate.conf 2>/dev/null || in_root systemd-tmpfiles --create wardgate.conf
}
check "units: systemd-analyze verify (installed root), sysusers, tmpfiles" verify_units

EXPOSURE=""
security_score() {
  systemd-analyze security --no-pager --offline=true --root="$DEBROOT" wardgate.service >"$LOG/security" 2>&1
  grep '✗' "$LOG/security" | sed 's/  */ /g'
  EXPOSURE="$(sed -n 's/.*Overall exposure level for wardgate.service: \([0-9.]*\).*/\1/p' "$LOG/security")"
  echo "exposure: $EXPOSURE (target <= $EXPOSURE_MAX)"
  [ -n "$EXPOSURE" ] && awk -v e="$EXPOSURE" -v m="$EXPOSURE_MAX" 'BEGIN { exit !(e <= m) }'
}
check "units: systemd-analyze security exposure <= $EXPOSURE_MAX" security_score
# The whole table, as CI's record of what the unit allows.
[ -f "$LOG/security" ] && sed 's/^/      /' "$LOG/security"
EXPOSURE="$(sed -n 's/.*Overall exposure level for wardgate.service: \(.*\)$/\1/p' "$LOG/security" 2>/dev/null)"

# --- the service under a real systemd: boot the Debian root in systemd-nspawn -------------------
NSPAWN_PID=""
BOOTROOT="$LOG/boot-root"
stop_container() {
  if [ -n "$NSPAWN_PID" ] && kill -0 "$NSPAWN_PID" 2>/dev/null; then
    kill "$NSPAWN_PID" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$NSPAWN_PID" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$NSPAWN_PID" 2>/dev/null
  fi
  NSPAWN_PID=""
}
in_container() {
  local init
  init="$(pgrep -P "$NSPAWN_PID" | head -1)"
  nsenter -t "$init" -a /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin "$@"
}
runs_under_systemd() {
  rm -rf "$BOOTROOT" && mkdir -p "$BOOTROOT" && tar -C "$BOOTROOT" -xf "$ROOTFS_TAR" || return 1
  cp "$DEB" "$BOOTROOT/root/wardgate.deb"
  # --private-network: the API's port stays inside the container (loopback only).
  systemd-nspawn -q --register=no --keep-unit --private-network -D "$BOOTROOT" --boot \
    >"$LOG/nspawn.log" 2>&1 &
  NSPAWN_PID=$!
  local state=""
  for _ in $(seq 100); do
    state="$(in_container systemctl is-system-running 2>/dev/null)"
    case "$state" in running|degraded) break ;; esac
    sleep 0.3
  done
  echo "container systemd: ${state:-not up}"
  in_container dpkg -i /root/wardgate.deb >/dev/null 2>&1 || { echo "dpkg -i failed in the container"; return 1; }
  in_container systemctl start wardgate.service || { in_container journalctl -u wardgate -o cat --no-pager | tail -20; return 1; }
  local props
  props="$(in_container systemctl show wardgate -p ActiveState -p StatusText -p NRestarts -p WatchdogTimestampMonotonic)"
  echo "$props"
  grep -qx 'ActiveState=active' <<<"$props" || return 1
  # The API answers inside the container.
  local head
  head="$(in_container bash -c 'exec 3<>/dev/tcp/127.0.0.1/8080; printf "GET /healthz HTTP/1.0\r\n\r\n" >&3; head -1 <&3')"
  echo "GET /healthz: $head"
  [[ "$head" == HTTP/1.* ]] || return 1
  # The models load inside the unit's sandbox (the arm64 guest's arm64-service checks the same).
  local token status
  token="$(in_container cat /etc/wardgate/credentials/admin_token)"
  status="$(in_container bash -c "exec 3<>/dev/tcp/127.0.0.1/8080; printf 'GET /api/v1/status HTTP/1.0\r\nAuthorization: Bearer %s\r\n\r\n' '$token' >&3; cat <&3")"
  grep -q '"models":{"loaded":true' <<<"$status" || {
    echo "the vision models are not loaded under wardgate.service"
    in_container journalctl -u wardgate -o cat --no-pager | grep -i 'vision\|litert' | tail -5
    return 1
  }
  echo "vision models loaded under the unit"
  # HTTPS for the network: the board's certificate was created and 8443 accepts connections
  # (the unit's SocketBindAllow= lets the service bind it).
  in_container test -s /var/lib/wardgate/tls/cert.pem || { echo "no self-signed certificate in /var/lib/wardgate/tls"; return 1; }
  in_container bash -c 'exec 3<>/dev/tcp/127.0.0.1/8443' || { echo "nothing listens on 8443"; return 1; }
  echo "https: certificate created, 8443 listening"
  # Watchdog pings arrive (every WatchdogSec/2 = 5 s).
  local wd1 wd2
  wd1="$(in_container systemctl show wardgate -p WatchdogTimestampMonotonic --value)"
  sleep 6
  wd2="$(in_container systemctl show wardgate -p WatchdogTimestampMonotonic --value)"
  echo "watchdog timestamps: $wd1 -> $wd2"
  [ "$wd2" -gt "$wd1" ] || { echo "no WATCHDOG=1 within 6 s"; return 1; }
  # systemctl stop: SIGTERM, clean exit, well within the 5 s promise.
  local t0 t1
  t0=$(date +%s%N)
  in_container systemctl stop wardgate.service
  t1=$(date +%s%N)
  props="$(in_container systemctl show wardgate -p ActiveState -p Result -p ExecMainStatus)"
  echo "$props"
  echo "stop took $(( (t1 - t0) / 1000000 )) ms"
  grep -qx 'Result=success' <<<"$props" && grep -qx 'ExecMainStatus=0' <<<"$props" \
    && [ $(( (t1 - t0) / 1000000 )) -lt 5000 ]
}
check "systemd: the installed service starts (Type=notify), answers, loads the models, pings the watchdog, stops cleanly (nspawn boot)" runs_under_systemd
[ -f "$LOG/check.out" ] && sed 's/^/      /' "$LOG/check.out"
stop_container

purge_cleans() {
  in_root dpkg --purge wardgate
  for p in /usr/bin/wardgate /usr/lib/wardgate /var/lib/wardgate /etc/wardgate/wardgate.toml \
      /etc/systemd/system/multi-user.target.wants/wardgate.service; do
    [ ! -e "$DEBROOT$p" ] || { echo "left behind after purge: $p"; return 1; }
  done
}
check "deb: purge removes files, state and the enablement" purge_cleans
if mountpoint -q "$DEBROOT/proc"; then umount "$DEBROOT/proc"; fi

mdwe_probe() {
  # The wrapper must bite (a W+X mapping refused), and every model must still run under it.
  python3 -c 'import mmap; mmap.mmap(-1, 4096, prot=7)' || { echo "W+X refused even without MDWE?"; return 1; }
  if packaging/mdwe-run.py python3 -c 'import mmap; mmap.mmap(-1, 4096, prot=7)' 2>/dev/null; then
    echo "PR_SET_MDWE did not refuse a writable+executable mapping"; return 1
  fi
  packaging/mdwe-run.py "$CACHE/litert-venv/bin/python" packaging/mdwe-litert-probe.py models 2>&1 \
    | grep -v '^INFO: \|^WARNING: All log' | tee "$LOG/mdwe"
}
check "units: MemoryDenyWriteExecute=yes holds (every model runs under PR_SET_MDWE)" mdwe_probe
[ -f "$LOG/mdwe" ] && sed 's/^/      /' "$LOG/mdwe"

# --- arm64: the board's package ------------------------------------------------------------------
# Cross-built with Debian's gcc-aarch64-linux-gnu and the rustup target (build-deb.sh installs
# both once), then read as a board would load it: every ELF file in it is AArch64, the binary
# asks for the aarch64 loader and finds the aarch64 LiteRT library through its RUNPATH.
DEB_ARM64=""
build_deb_arm64() {
  DEB_ARM64="$("$ROOT/packaging/build-deb.sh" --target aarch64-unknown-linux-gnu | tail -1)"
  [ -f "$DEB_ARM64" ] || { echo "no arm64 .deb produced (got '$DEB_ARM64')"; return 1; }
  echo "$DEB_ARM64"
}
check "deb arm64: cross-builds (aarch64-unknown-linux-gnu)" build_deb_arm64
DEB_ARM64="$(ls -t "$CACHE"/deb/wardgate_*_arm64.deb 2>/dev/null | head -1)"

arm64_same_files() {
  [ -f "$DEB_ARM64" ] || { echo "no arm64 .deb"; return 1; }
  dpkg-deb --field "$DEB_ARM64" Architecture | grep -qx arm64 || { echo "Architecture is not arm64"; return 1; }
  # The same files at the same paths with the same modes as the amd64 package.
  diff <(dpkg-deb --contents "$DEB" | awk '{print $1, $6}' | sort -k2) \
       <(dpkg-deb --contents "$DEB_ARM64" | awk '{print $1, $6}' | sort -k2)
}
check "deb arm64: Architecture arm64, the amd64 package's files and modes" arm64_same_files

arm64_elf() {
  [ -f "$DEB_ARM64" ] || { echo "no arm64 .deb"; return 1; }
  local x="$LOG/arm64" f bad=0 n=0
  rm -rf "$x" && mkdir -p "$x" && dpkg-deb -x "$DEB_ARM64" "$x"
  while IFS= read -r -d '' f; do
    [ "$(head -c 4 "$f" | od -An -tx1 | tr -d ' ')" = 7f454c46 ] || continue
    n=$((n + 1))
    readelf -h "$f" | grep -q 'Machine: *AArch64' || { echo "not AArch64: ${f#"$x"}"; bad=1; }
  done < <(find "$x" -type f -print0)
  echo "$n ELF files, all AArch64"
  local bin="$x/usr/bin/wardgate"
  readelf -l "$bin" | grep -q 'interpreter: /lib/ld-linux-aarch64.so.1' || { echo "wrong program interpreter"; bad=1; }
  readelf -d "$bin" | grep -q 'NEEDED.*\[libLiteRt.so\]' || { echo "does not link libLiteRt.so"; bad=1; }
  readelf -d "$bin" | grep 'RUNPATH' | grep -q '\$ORIGIN/../lib/wardgate' || { echo "RUNPATH lacks \$ORIGIN/../lib/wardgate"; bad=1; }
  readelf -h "$x/usr/lib/wardgate/libLiteRt.so" | grep -q 'Machine: *AArch64' || { echo "libLiteRt.so is not the aarch64 build"; bad=1; }
  cmp -s "$x/usr/lib/wardgate/libLiteRt.so" "$ROOT/vendor/litert/aarch64/libLiteRt.so" || { echo "libLiteRt.so is not vendor/litert/aarch64's (sha256-checked by setup-litert.sh)"; bad=1; }
  readelf -d "$bin" | grep -E 'NEEDED|RUNPATH'
  return "$bad"
}
check "deb arm64: every ELF file AArch64; loader, libLiteRt.so NEEDED, RUNPATH to the aarch64 LiteRT" arm64_elf

# --- Yocto layer -------------------------------------------------------------------------------
check "yocto: wardgate-crates.inc in step with Cargo.lock" python3 packaging/gen-yocto-crates.py --check

oelint() {
  local files
  mapfile -t files < <(find yocto/meta-wardgate -name '*.bb' -o -name '*.bbappend' -o -name '*.inc' | sort)
  (cd yocto && "$CACHE/venv/bin/oelint-adv" --quiet --release wrynose "${files[@]#yocto/}") 2>"$LOG/oelint" || true
  local n_err n_warn n_info
  n_err=$(grep -c ':error:' "$LOG/oelint"); n_warn=$(grep -c ':warning:' "$LOG/oelint"); n_info=$(grep -c ':info:' "$LOG/oelint")
  grep -v ':info:' "$LOG/oelint"
  echo "oelint-adv: $n_err errors, $n_warn warnings, $n_info infos"
  [ "$n_err" -eq 0 ] && [ "$n_warn" -eq 0 ]
}
check "yocto: oelint-adv (no errors, no warnings)" oelint

pins_agree() {
  local recipe=yocto/meta-wardgate/recipes-support/litert-runtime/litert-runtime_2.1.4.bb
  local sha
  sha="$(sed -n 's/^SRC_URI\[sha256sum\] = "\(.*\)"/\1/p' "$recipe")"
  [ -n "$sha" ] || { echo "no sha256 in $recipe"; return 1; }
  if [ -f scripts/setup-litert.sh ]; then
    grep -q "\[aarch64\]=\"$sha\"" scripts/setup-litert.sh || { echo "$recipe pins $sha, scripts/setup-litert.sh another wheel"; return 1; }
    grep -q 'VERSION="2.1.4"' scripts/setup-litert.sh || { echo "LiteRT version differs from the recipe (2.1.4)"; return 1; }
  fi
  grep -q "^LAYERSERIES_COMPAT_wardgate = \"wrynose\"" yocto/meta-wardgate/conf/layer.conf
}
check "yocto: LiteRT wheel pin agrees with scripts/setup-litert.sh" pins_agree

echo
[ -n "$EXPOSURE" ] && echo "systemd-analyze security wardgate.service: $EXPOSURE"
[ "$FAILED" -gt 0 ] && echo "failed: ${FAILED_NAMES[*]}"
echo "packaging: $PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
