# Sourced by hw-tests/run: the aarch64 guest's part of a run. Uses run's variables (here, repo,
# cache, results, faces, debs, KABI, KPKGVER, target, bin, plan_arm64) and functions (say,
# executables).
#
# 1. Debian's arm64 build of the x86-64 guest's kernel (same ABI and version, so the amd64
#    kbuild, the common headers and linux-source already downloaded serve both) and busybox,
#    from apt with a private arm64 state (lib/apt-arm64.sh).
# 2. The guest (lib/build-guest-arm64.sh), rebuilt when its recipe or the kernel changes.
# 3. The board's package (packaging/build-deb.sh --target aarch64-unknown-linux-gnu), the test
#    programs cross-built in the same profile, and the x86-64 build's embeddings of the fixture
#    photos for the parity check.
# 4. Boot with the root image in snapshot mode (writes go to a temporary overlay: the cached
#    image stays as built),
#    the results share at /hw and the host's root read-only at /host.
ARM64_TRIPLE=aarch64-unknown-linux-gnu
# The photos whose embeddings the two builds must agree on (hw-tests/guest-arm64/checks.sh
# uses the same ones).
ARM64_PARITY_PHOTOS=(people/Barack_Obama/obama1.jpg people/Barack_Obama/obama2.jpg
                     people/Jacques_Chirac/chirac1.jpg people/S001/S001-01-t10_01.jpg)

# 1 and 2: the guest, ready to boot (also what `hw-tests/run --prepare` does).
arm64_guest() {
    local kver=$KABI-arm64
    . "$here/lib/apt-arm64.sh"
    local want=("linux-image-$kver-unsigned=$KPKGVER" "linux-headers-$kver=$KPKGVER" busybox-static)
    local spec name ver fetch=()
    for spec in "${want[@]}"; do
        name=${spec%%=*}
        ver=${spec#*=}; [[ $spec == *=* ]] || ver=
        ls "$debs/${name}_${ver//:/%3a}"*_arm64.deb >/dev/null 2>&1 || fetch+=("$spec")
    done
    if ((${#fetch[@]})); then
        say "downloading arm64 ${fetch[*]}"
        apt_arm64 "$cache/apt-arm64" "$debs" "${fetch[@]}" || {
            say "apt offers no arm64 ${fetch[*]} (the x86-64 guest's kernel is $KABI at $KPKGVER;" \
                "arm64 versions of linux-image-$kver-unsigned: $(apt_arm64_versions "$cache/apt-arm64" "linux-image-$kver-unsigned" | xargs))"
            exit 2
        }
    fi

    local guest=$cache/guest-$kver-$KPKGVER stamp
    stamp=$(cat "$here/lib/build-guest-arm64.sh" "$here/lib/gpio-sim-source.sh" "$here/guest-arm64/init" \
        "$here/guest-arm64/wardgate-hw.service" <(echo "$KPKGVER") | sha256sum | cut -c1-16)
    if [[ $(cat "$guest/stamp" 2>/dev/null) != "$stamp" ]]; then
        say "building the aarch64 guest for $kver (its debootstrap second stage runs under TCG: ~10 min, once)"
        "$here/lib/build-guest-arm64.sh" "$debs" "$guest" "$kver" "$here"
        echo "$stamp" > "$guest/stamp"
    fi
    ARM64_GUEST=$guest
}

# 3: build what runs in the guest and write its plan. hw-tests/run runs this beside the x86-64
# guest (niced: that guest's one vCPU keeps its core), so the cross build costs no extra time.
arm64_build() {
    say "cross-building the arm64 package and test programs"
    local deb
    deb=$(CARGO_TARGET_DIR=$target "$repo/packaging/build-deb.sh" --target "$ARM64_TRIPLE" | tail -n 1)
    [[ -f $deb ]] || { say "packaging/build-deb.sh produced no arm64 package ('$deb')"; exit 2; }
    cp "$deb" "$results/wardgate_arm64.deb"
    mkdir -p "$results/bin-arm64"
    (
        . "$repo/packaging/cross-env.sh"
        cross_env "$ARM64_TRIPLE" "$repo"
        # The package's profile (release) and target: the crates build-deb.sh built are reused.
        cd "$repo" && CARGO_TARGET_DIR=$target cargo build -q --release --locked --target "$ARM64_TRIPLE" \
            --message-format=json -p wardgate-hw-tests --bins
    ) | executables | while read -r exe; do cp "$exe" "$results/bin-arm64/"; done
    [[ -x $results/bin-arm64/hw-door ]] || { say "the cross build produced no hw-door"; exit 2; }

    local photos=() p
    for p in "${ARM64_PARITY_PHOTOS[@]}"; do photos+=("$faces/$p"); done
    (cd "$repo" && WARDGATE_VISION__MODEL_DIR="$repo/models" "$bin/wardgate" \
        eval parity --write "$results/parity-x86_64.json" "${photos[@]}") > "$results/parity-x86_64.txt" 2>&1 \
        || { cat "$results/parity-x86_64.txt"; say "the x86-64 reference embeddings failed"; exit 2; }

    echo "$plan_arm64" > "$results/arm64-tests"
    cp "$here/guest-arm64/guest-run" "$results/guest-run"
    cat > "$results/arm64-plan" <<PLAN
HW_REPO='$repo'
HW_FACES='$faces'
HW_GPIO_LABEL='wardgate-sim'
HW_GPIO_LINES='relay door_contact rex_button fire_alarm buzzer led_green led_red break_glass'
PLAN
}

# 4: boot the guest; it leaves NAME.rc and NAME.log in $results.
arm64_boot() {
    local guest=$ARM64_GUEST
    say "booting the aarch64 guest ($(wc -l <<<"$plan_arm64") tests)"
    local start rc
    start=$(date +%s)
    set +e
    timeout -k 10 "${WARDGATE_HW_TIMEOUT:-2700}" qemu-system-aarch64 \
        -machine virt -accel tcg -cpu cortex-a72 -smp 2 -m 2048 -nographic -no-reboot -nodefaults \
        -serial "file:$results/arm64-console.log" \
        -kernel "$guest/vmlinuz" -initrd "$guest/initramfs.gz" \
        -append "console=ttyAMA0 panic=-1 loglevel=4" \
        -drive "file=$guest/root.img,format=raw,if=none,id=root,snapshot=on" -device virtio-blk-pci,drive=root \
        -virtfs "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap" \
        -virtfs "local,path=$results,mount_tag=hwout,security_model=none,multidevs=remap" \
        ${WARDGATE_HW_ARM64_QEMU_ARGS:-}
    rc=$?
    set -e
    say "aarch64 guest ran $(( $(date +%s) - start )) s (qemu exit $rc)"
}
