# Sourced by both guests' test set-up (busybox sh or dash): the one simulated GPIO chip of the
# door tests; names and order are documented in hw-tests/README.md.
#
# make_sim_chip CONFIGFS LABEL LINE...   CONFIGFS is where configfs is mounted as seen by the
# caller (/sys/kernel/config, or /host/sys/kernel/config from the x86-64 initramfs). Exports
# WARDGATE_HW_GPIO_CHIP and WARDGATE_HW_GPIO_SYSFS as the tests see them; returns 1 and says
# why when the chip cannot be made.
make_sim_chip() {
    cfg=$1/gpio-sim/wardgate
    label=$2
    shift 2
    mkdir "$cfg" && mkdir "$cfg/bank0" || { echo "gpio-sim: configfs not available"; return 1; }
    echo "$label" > "$cfg/bank0/label"
    echo $# > "$cfg/bank0/num_lines"
    i=0
    for name in "$@"; do
        mkdir "$cfg/bank0/line$i"
        echo "$name" > "$cfg/bank0/line$i/name"
        i=$((i + 1))
    done
    echo 1 > "$cfg/live" || { echo "gpio-sim: cannot make the chip live"; return 1; }
    chip=$(cat "$cfg/bank0/chip_name")
    dev=$(cat "$cfg/dev_name")
    export WARDGATE_HW_GPIO_CHIP=/dev/$chip
    export WARDGATE_HW_GPIO_SYSFS=/sys/devices/platform/$dev/$chip
}
