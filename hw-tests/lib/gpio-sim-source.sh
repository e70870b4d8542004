# Sourced by both guest builds (build-guest.sh, build-guest-arm64.sh).
#
# gpio_sim_source DEBS BUILD: Debian builds neither gpio-sim nor CONFIG_IRQ_SIM, so their sources
# come from linux-source-6.1 in DEBS, ready for an out-of-tree `make M=BUILD/gpio-sim modules`
# against the guest kernel's headers. irq_to_desc() is not exported to modules;
# generic_handle_irq() does the same lookup, so irq_sim.c is patched to call it (and gets a
# MODULE_LICENSE). Fails when the patch no longer applies.
gpio_sim_source() {
    local debs=$1 build=$2
    local gs=$build/gpio-sim src=$build/linux-source-6.1
    mkdir -p "$gs"
    dpkg-deb --fsys-tarfile "$debs"/linux-source-6.1_*.deb \
        | tar -xO ./usr/src/linux-source-6.1.tar.xz \
        | tar -xJ -C "$build" linux-source-6.1/drivers/gpio/gpio-sim.c \
            linux-source-6.1/drivers/gpio/gpiolib.h linux-source-6.1/kernel/irq/irq_sim.c
    cp "$src/drivers/gpio/gpio-sim.c" "$src/drivers/gpio/gpiolib.h" "$src/kernel/irq/irq_sim.c" "$gs/"
    sed -i 's/handle_simple_irq(irq_to_desc(irqnum));/generic_handle_irq(irqnum);/' "$gs/irq_sim.c"
    grep -q 'generic_handle_irq(irqnum)' "$gs/irq_sim.c" || { echo "irq_sim.c patch did not apply" >&2; return 1; }
    printf '\nMODULE_LICENSE("GPL");\nMODULE_DESCRIPTION("Interrupt simulator, built out of tree");\n' >> "$gs/irq_sim.c"
    echo 'obj-m += irq_sim.o gpio-sim.o' > "$gs/Kbuild"
}
