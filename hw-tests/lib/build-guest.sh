#!/usr/bin/env bash
# Builds the hardware-test guest from Debian packages: the pinned generic kernel, its modules,
# the out-of-tree gpio-sim + irq_sim modules (Debian does not build them) and v4l2loopback,
# plus a busybox initramfs that mounts the host root over 9p.
#
# Usage: build-guest.sh DEBS_DIR GUEST_DIR KVER HERE
# Everything lands in GUEST_DIR; the caller decides when a rebuild is needed (stamp file).
set -euo pipefail
debs=$1 guest=$2 kver=$3 here=$4
root=$guest/root
rm -rf "$guest"
mkdir -p "$root" "$guest/build"

for deb in "$debs"/linux-image-"$kver"-unsigned_*.deb "$debs"/linux-headers-"$kver"_*.deb \
    "$debs"/linux-headers-"${kver%-amd64}"-common_*.deb "$debs"/linux-kbuild-*.deb \
    "$debs"/v4l2loopback-dkms_*.deb; do
    dpkg -x "$deb" "$root"
done
hdr=$root/usr/src/linux-headers-$kver
moddir=$root/lib/modules/$kver
[[ -d $moddir ]] || moddir=$root/usr/lib/modules/$kver
# The headers' Makefile includes the common tree by absolute path; point it at our copy.
sed -i "s#include /usr/src/#include $root/usr/src/#" "$hdr/Makefile"

# gpio-sim and irq_sim from linux-source (lib/gpio-sim-source.sh says why and how).
. "$here/lib/gpio-sim-source.sh"
gpio_sim_source "$debs" "$guest/build"
gs=$guest/build/gpio-sim
make -s -C "$hdr" M="$gs" modules 2>&1 | grep -v 'Skipping BTF' || true

lb=$(ls -d "$root"/usr/src/v4l2loopback-*)
make -s -C "$hdr" M="$lb" modules 2>&1 | grep -v 'Skipping BTF' || true

mkdir -p "$moddir/updates"
cp "$gs"/irq_sim.ko "$gs"/gpio-sim.ko "$lb"/v4l2loopback.ko "$moddir/updates/"
depmod -b "$root" "$kver"

# The kernel: QEMU boots the bzImage directly.
cp "$root/boot/vmlinuz-$kver" "$guest/vmlinuz"

# initramfs: busybox, the guest init, and just the modules needed to reach the 9p share.
ir=$guest/initramfs
mkdir -p "$ir"/{bin,dev,proc,sys,host,out,mnt,lib/modules/$kver}
cp /bin/busybox "$ir/bin/busybox"
for app in sh mount umount mkdir cat echo insmod sleep poweroff reboot chroot ls dmesg sync mknod grep sed; do
    ln -sf busybox "$ir/bin/$app"
done
cp "$here/guest/init" "$ir/init"
chmod +x "$ir/init"
: > "$ir/modules.order"
for m in virtio_pci 9pnet_virtio 9p configfs; do
    modprobe -d "$root" -S "$kver" --show-depends "$m" | while read -r kw path _; do
        [[ $kw == insmod ]] || continue
        rel=${path#"$root"}
        base=$(basename "$rel")
        grep -qx "$base" "$ir/modules.order" && continue
        cp "$root$rel" "$ir/lib/modules/$kver/$base"
        echo "$base" >> "$ir/modules.order"
    done
done
(cd "$ir" && find . | cpio -o -H newc --quiet | gzip -1) > "$guest/initramfs.gz"
echo "$kver" > "$guest/kver"
