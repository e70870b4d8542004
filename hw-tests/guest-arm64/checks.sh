#!/bin/bash
# The aarch64 guest's tests of the board's own package (hw-tests/tests-arm64.list runs them with
# `bash hw-tests/guest-arm64/checks.sh NAME`). They run on the guest's Debian arm64 root under
# its systemd, as root, from the repository on the host's read-only root (/host…):
#
#   install   dpkg -i the cross-built wardgate_*_arm64.deb: user, groups, unit enabled, every
#             library resolved, `wardgate --version`
#   service   systemctl start (Type=notify): active, /healthz answers, the vision models loaded
#             inside the unit's sandbox (GET /api/v1/status), watchdog pings arrive,
#             `wardgate check-config` on the shipped config, systemctl stop is a clean exit
#   vivid     `wardgate check-camera` of the package on vivid (one frame to a 640x480 PNG)
#   face      the real models on LiteRT aarch64: embeddings of the fixture photos against the
#             x86-64 build's (`wardgate eval parity`, cosine >= 0.999, on one and on two CPUs),
#             then one enrolment (POST /register_face) and one identification: a door, a grant
#             and POST /api/v1/decisions with another photo of the same person (granted), a
#             stranger (refused), and `wardgate identify` on the CLI
#
# Environment (hw-tests/guest-arm64/guest-run): HW_DEB, HW_PARITY, WARDGATE_HW_FACES,
# WARDGATE_HW_ARTIFACTS.
set -euo pipefail
CONFIG=/etc/wardgate/wardgate.toml
API=http://127.0.0.1:8080
faces=$WARDGATE_HW_FACES/people
art=${WARDGATE_HW_ARTIFACTS:-/tmp}
fail() { echo "FAIL: $*"; exit 1; }

installed() { dpkg-query -W -f='${Status}' wardgate 2>/dev/null | grep -q 'install ok installed'; }
ensure_installed() {
    installed && return 0
    [[ -f $HW_DEB ]] || fail "no package at $HW_DEB"
    dpkg -i "$HW_DEB" > "$art/dpkg.log" 2>&1 || { cat "$art/dpkg.log"; fail "dpkg -i $HW_DEB"; }
}
journal_tail() { journalctl -u wardgate -o cat --no-pager | tail -n "${1:-30}"; }
wait_healthz() {
    local i
    for i in $(seq 1 120); do
        curl -sf -o /dev/null "$API/healthz" && return 0
        sleep 0.5
    done
    journal_tail; fail "GET /healthz did not answer within 60 s"
}
start_service() {
    systemctl start wardgate.service || { journal_tail; fail "systemctl start wardgate"; }
    wait_healthz
}

check_install() {
    [[ $(uname -m) == aarch64 ]] || fail "not an aarch64 guest: $(uname -m)"
    [[ $(dpkg --print-architecture) == arm64 ]] || fail "dpkg architecture $(dpkg --print-architecture)"
    dpkg-deb --field "$HW_DEB" Package Version Architecture
    ensure_installed
    echo "installed: $(dpkg-query -W -f='${Package} ${Version} ${Architecture}' wardgate)"
    getent passwd wardgate | grep -q ':/var/lib/wardgate:/usr/sbin/nologin$' || fail "user wardgate: $(getent passwd wardgate)"
    local groups
    groups=" $(id -nG wardgate) "
    for g in video gpio; do [[ $groups == *" $g "* ]] || fail "wardgate is not in group $g ($groups)"; done
    [[ $(systemctl is-enabled wardgate.service) == enabled ]] || fail "wardgate.service is not enabled"
    if ldd /usr/bin/wardgate | tee "$art/ldd.txt" | grep -q 'not found'; then
        cat "$art/ldd.txt"; fail "unresolved libraries"
    fi
    grep -q '/usr/lib/wardgate/libLiteRt.so\|/usr/bin/../lib/wardgate/libLiteRt.so' "$art/ldd.txt" \
        || { cat "$art/ldd.txt"; fail "libLiteRt.so not taken from /usr/lib/wardgate"; }
    /usr/bin/wardgate --version
    (cd /usr/share/wardgate/models && sha256sum -c --quiet SHA256SUMS) || fail "models differ from SHA256SUMS"
    echo "install ok"
}

check_service() {
    ensure_installed
    local t0 t1 props wd1 wd2
    t0=$(date +%s%N)
    start_service
    t1=$(date +%s%N)
    echo "start to /healthz: $(((t1 - t0) / 1000000)) ms (TCG)"
    props=$(systemctl show wardgate -p ActiveState -p Type -p StatusText -p NRestarts)
    echo "$props"
    grep -qx 'ActiveState=active' <<<"$props" || fail "not active"
    grep -qx 'Type=notify' <<<"$props" || fail "not Type=notify"
    curl -sf "$API/healthz"; echo
    # Recognition works under the unit's sandbox (decision: ProcSubset=all in systemd/wardgate.service).
    TOKEN=$(cat /etc/wardgate/credentials/admin_token)
    api GET /api/v1/status > "$art/status.json" || fail "GET /api/v1/status"
    grep -q '"models":{"loaded":true' "$art/status.json" || {
        journalctl -u wardgate -o cat --no-pager | grep -i 'vision\|litert' | tail -n 5
        fail "the vision models are not loaded under wardgate.service"
    }
    echo "vision models loaded under the unit"
    wd1=$(systemctl show wardgate -p WatchdogTimestampMonotonic --value)
    sleep 7
    wd2=$(systemctl show wardgate -p WatchdogTimestampMonotonic --value)
    echo "watchdog timestamps: $wd1 -> $wd2"
    [[ $wd1 -gt 0 && $wd2 -gt $wd1 ]] || fail "no WATCHDOG=1 within 7 s"
    wardgate --config "$CONFIG" check-config > "$art/check-config.txt" 2>&1 \
        || { cat "$art/check-config.txt"; fail "check-config"; }
    head -n 5 "$art/check-config.txt"
    systemctl stop wardgate.service
    props=$(systemctl show wardgate -p ActiveState -p Result -p ExecMainStatus)
    echo "$props"
    grep -qx 'Result=success' <<<"$props" && grep -qx 'ExecMainStatus=0' <<<"$props" \
        || { journal_tail; fail "the service did not stop cleanly"; }
    echo "service ok"
}

# The JSON string field NAME of the object on stdin (the replies are flat enough for sed).
field() { sed -n "s/.*\"$1\":\"\\([^\"]*\\)\".*/\\1/p" | head -n 1; }
api() { # METHOD PATH BODY_FILE -> reply on stdout, fails on a non-2xx status
    local out status
    out=$(mktemp)
    status=$(curl -s -o "$out" -w '%{http_code}' -X "$1" -H "Authorization: Bearer $TOKEN" \
        -H 'Content-Type: application/json' ${3:+--data-binary "@$3"} "$API$2")
    cat "$out"; rm -f "$out"
    [[ $status == 2* ]] || { echo; echo "$1 $2: HTTP $status" >&2; return 1; }
}
b64() { base64 -w0 "$1"; }

check_face() {
    ensure_installed
    local photos=("$faces"/Barack_Obama/obama1.jpg "$faces"/Barack_Obama/obama2.jpg
                  "$faces"/Jacques_Chirac/chirac1.jpg "$faces"/S001/S001-01-t10_01.jpg)
    # 1. The same photos' embeddings as the x86-64 build's, on one CPU and on both.
    for cpus in 0 0-1; do
        echo "--- eval parity, CPUs $cpus"
        taskset -c "$cpus" wardgate --config "$CONFIG" eval parity --against "$HW_PARITY" "${photos[@]}" \
            | tee "$art/parity-cpus-$cpus.txt" || fail "embeddings differ from the x86-64 build's"
    done
    # 2. Enrolment and a decision through the running service.
    start_service
    TOKEN=$(cat /etc/wardgate/credentials/admin_token)
    local body reply staff
    body=$(mktemp)
    printf '{"id":"ward-7","name":"Ward 7 (arm64 guest)","mode":"staff"}' > "$body"
    api POST /api/v1/doors "$body" > /dev/null || fail "POST /api/v1/doors"
    printf '{"name":"Barack Obama","role":"doctor","external_id":"HW-A64-1","image":"%s","consent":{"method":"written","document":"HW-TEST v1"}}' \
        "$(b64 "$faces/Barack_Obama/obama1.jpg")" > "$body"
    reply=$(api POST /register_face "$body") || { echo "$reply"; fail "POST /register_face"; }
    staff=$(field subject_id <<<"$reply")
    [[ -n $staff ]] || fail "no subject_id in $reply"
    echo "enrolled: subject $staff"
    printf '{"staff_id":"%s","door_id":"ward-7"}' "$staff" > "$body"
    api POST /api/v1/grants "$body" > /dev/null || fail "POST /api/v1/grants"
    decide() { # PHOTO -> reply
        printf '{"request_id":"hw-%s","door":"ward-7","staff":{"image":"%s"}}' \
            "$(basename "$1" .jpg)" "$(b64 "$1")" > "$body"
        api POST /api/v1/decisions "$body"
    }
    reply=$(decide "$faces/Barack_Obama/obama2.jpg") || fail "POST /api/v1/decisions"
    echo "same person, another photo: $reply"
    grep -q '"granted":true' <<<"$reply" || fail "the enrolled person was not granted"
    [[ $(field subject_id <<<"$reply") == "$staff" ]] || fail "granted as someone else"
    reply=$(decide "$faces/Jacques_Chirac/chirac1.jpg") || fail "POST /api/v1/decisions (stranger)"
    echo "stranger: $reply"
    grep -q '"granted":false' <<<"$reply" || fail "a stranger was granted"
    rm -f "$body"
    # 3. The CLI on the board identifies from the same store (key from the service's credential).
    WARDGATE_PRIVACY__KEY_FILE=/etc/wardgate/credentials/template_keys \
        wardgate --config "$CONFIG" identify "$faces/Barack_Obama/obama3.jpg" | tee "$art/identify.txt" \
        || fail "wardgate identify"
    grep -q 'Barack Obama (HW-A64-1) similarity' "$art/identify.txt" || fail "identify did not name the enrolled person"
    systemctl stop wardgate.service
    echo "face ok"
}

# `wardgate check-camera` of the package (hw-tests/guest/check-camera.sh, the x86-64 guest's check).
check_vivid() {
    ensure_installed
    local d
    d=$(mktemp -d)
    ln -s /usr/bin/wardgate "$d/wardgate"
    HW_BIN=$d WARDGATE_CAMERA__DEVICE=$WARDGATE_HW_VIVID sh hw-tests/guest/check-camera.sh
}

case ${1:-} in
    install) check_install ;;
    vivid) check_vivid ;;
    service) check_service ;;
    face) check_face ;;
    *) echo "usage: $0 install|service|vivid|face" >&2; exit 2 ;;
esac
