#!/usr/bin/env bash
# Builds the aarch64 hardware-test guest: Debian's arm64 6.1 kernel and modules, the out-of-tree
# gpio-sim + irq_sim and v4l2loopback cross-compiled for it, a busybox initramfs, and a Debian
# bookworm arm64 root (minbase + systemd) as an ext4 image whose debootstrap second stage ran in
# the guest itself (no binfmt emulation on the host).
#
# Usage: build-guest-arm64.sh DEBS_DIR GUEST_DIR KVER HERE
#   DEBS_DIR holds the arm64 image and headers plus the amd64 kbuild, the common headers,
#   linux-source and v4l2loopback-dkms (the kbuild's host tools are x86-64: a cross build).
# Everything lands in GUEST_DIR; the caller decides when a rebuild is needed (stamp file).
set -euo pipefail
debs=$1 guest=$2 kver=$3 here=$4
abi=${kver%-arm64}
mirror=${WARDGATE_HW_MIRROR:-http://deb.debian.org/debian}
root=$guest/root
rm -rf "$guest"
mkdir -p "$root" "$guest/build"
say() { echo "hw-tests: [arm64 guest] $*" >&2; }

for deb in "$debs"/linux-image-"$kver"-unsigned_*_arm64.deb "$debs"/linux-headers-"$kver"_*_arm64.deb \
    "$debs"/linux-headers-"$abi"-common_*.deb "$debs"/linux-kbuild-*_amd64.deb \
    "$debs"/v4l2loopback-dkms_*.deb; do
    dpkg -x "$deb" "$root"
done
hdr=$root/usr/src/linux-headers-$kver
moddir=$root/lib/modules/$kver
[[ -d $moddir ]] || moddir=$root/usr/lib/modules/$kver
sed -i "s#include /usr/src/#include $root/usr/src/#" "$hdr/Makefile"
# The headers' .kernelvariables fix ARCH=arm64 and the compiler name (aarch64-linux-gnu-gcc-12).
kmake() { make -s -C "$hdr" ARCH=arm64 CROSS_COMPILE=aarch64-linux-gnu- "$@" 2>&1 | grep -v 'Skipping BTF' || true; }

# gpio-sim and irq_sim from linux-source (lib/gpio-sim-source.sh says why and how).
. "$here/lib/gpio-sim-source.sh"
gpio_sim_source "$debs" "$guest/build"
gs=$guest/build/gpio-sim
kmake M="$gs" modules
lb=$(ls -d "$root"/usr/src/v4l2loopback-*)
kmake M="$lb" modules
mkdir -p "$moddir/updates"
for ko in "$gs"/irq_sim.ko "$gs"/gpio-sim.ko "$lb"/v4l2loopback.ko; do
    file -b "$ko" | grep -q 'ARM aarch64' || { echo "$ko is not an aarch64 module" >&2; exit 1; }
    cp "$ko" "$moddir/updates/"
done
depmod -b "$root" "$kver"
# QEMU's virt machine boots the uncompressed arm64 Image that Debian ships as vmlinuz.
cp "$root/boot/vmlinuz-$kver" "$guest/vmlinuz"

# initramfs: busybox (arm64, static), the init, and the modules that reach the root disk.
ir=$guest/initramfs
mkdir -p "$ir"/{bin,dev,proc,sys,newroot,lib/modules/$kver} "$guest/build/busybox"
dpkg -x "$debs"/busybox-static_*_arm64.deb "$guest/build/busybox"
cp "$guest/build/busybox/bin/busybox" "$ir/bin/busybox"
for app in sh mount umount mkdir cat echo insmod sleep poweroff chroot switch_root sync grep; do
    ln -sf busybox "$ir/bin/$app"
done
cp "$here/guest-arm64/init" "$ir/init"
chmod +x "$ir/init"
: > "$ir/modules.order"
for m in virtio_pci virtio_blk ext4 crc32c_generic; do
    modprobe -d "$root" -S "$kver" --show-depends "$m" | while read -r kw path _; do
        [[ $kw == insmod ]] || continue
        base=$(basename "$path")
        grep -qx "$base" "$ir/modules.order" && continue
        cp "$path" "$ir/lib/modules/$kver/$base"
        echo "$base" >> "$ir/modules.order"
    done
done
(cd "$ir" && find . | cpio -o -H newc --quiet | gzip -1) > "$guest/initramfs.gz"

# The root: debootstrap's first stage here (it only downloads and unpacks), the second stage
# (maintainer scripts, which run arm64 programs) in the guest below.
rootfs=$guest/build/rootfs
say "debootstrap --foreign (arm64 minbase + systemd)"
debootstrap --foreign --arch=arm64 --variant=minbase \
    --include=systemd,systemd-sysv,udev,kmod,curl,adduser,procps \
    bookworm "$rootfs" "$mirror" > "$guest/build/debootstrap.log" 2>&1 \
    || { tail -20 "$guest/build/debootstrap.log" >&2; exit 1; }
mkdir -p "$rootfs/lib/modules" "$rootfs/hw" "$rootfs/host"
cp -a "$moddir" "$rootfs/lib/modules/"
echo wardgate-arm64 > "$rootfs/etc/hostname"
cat > "$rootfs/etc/fstab" <<'FSTAB'
/dev/vda  /      ext4  rw,noatime                                       0 1
hwout     /hw    9p    trans=virtio,version=9p2000.L,msize=524288       0 0
hostroot  /host  9p    trans=virtio,version=9p2000.L,msize=524288,ro,cache=loose  0 0
FSTAB
# The guest's one job: run the planned tests from the results share, then power off.
install -D -m 0644 "$here/guest-arm64/wardgate-hw.service" "$rootfs/etc/systemd/system/wardgate-hw.service"
mkdir -p "$rootfs/etc/systemd/system/multi-user.target.wants"
ln -sf ../wardgate-hw.service "$rootfs/etc/systemd/system/multi-user.target.wants/wardgate-hw.service"
# No login prompt on the console (nobody types there) and no network to wait for.
ln -sf /dev/null "$rootfs/etc/systemd/system/serial-getty@ttyAMA0.service"
ln -sf /dev/null "$rootfs/etc/systemd/system/getty@tty1.service"

img=$guest/root.img
rm -f "$img"
mkfs.ext4 -q -L wardgate-arm64 -d "$rootfs" "$img" 3G
rm -rf "$rootfs"

say "debootstrap --second-stage in the guest (TCG; a few minutes, once per kernel)"
timeout -k 10 "${WARDGATE_HW_STAGE2_TIMEOUT:-2400}" qemu-system-aarch64 \
    -machine virt -accel tcg -cpu cortex-a72 -smp 2 -m 2048 -nographic -no-reboot -nodefaults \
    -serial "file:$guest/build/stage2.log" \
    -kernel "$guest/vmlinuz" -initrd "$guest/initramfs.gz" \
    -append "console=ttyAMA0 panic=-1 loglevel=4 wardgate.stage=2" \
    -drive "file=$img,format=raw,if=none,id=root" -device virtio-blk-pci,drive=root
grep -q 'wardgate-stage2: ok' "$guest/build/stage2.log" || {
    echo "the debootstrap second stage did not finish; its console: $guest/build/stage2.log" >&2
    tail -30 "$guest/build/stage2.log" >&2
    exit 1
}
echo "$kver" > "$guest/kver"
