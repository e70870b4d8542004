#!/bin/sh
# Checks the simulated chip the harness promises the door tests: label, line names, driving an
# input with `pull` and reading it back through the character device (libgpiod v1 tools).
set -eu
chip=$WARDGATE_HW_GPIO_CHIP sysfs=$WARDGATE_HW_GPIO_SYSFS
gpiodetect | grep -q "$WARDGATE_HW_GPIO_LABEL" || { echo "chip label missing"; gpiodetect; exit 1; }
gpioinfo "$chip" | grep -q '"door_contact"' || { echo "line names missing"; gpioinfo "$chip"; exit 1; }
echo pull-up > "$sysfs/sim_gpio1/pull"
[ "$(gpioget "$chip" 1)" = 1 ] || { echo "pull-up not seen on line 1"; exit 1; }
echo pull-down > "$sysfs/sim_gpio1/pull"
[ "$(gpioget "$chip" 1)" = 0 ] || { echo "pull-down not seen on line 1"; exit 1; }
# An output held by a process shows in sim_gpioN/value.
gpioset --mode=time --sec=3 "$chip" 0=1 &
sleep 1
[ "$(cat "$sysfs/sim_gpio0/value")" = 1 ] || { echo "driven output not seen in value"; exit 1; }
wait
echo "gpio-sim ok: $chip $sysfs"
