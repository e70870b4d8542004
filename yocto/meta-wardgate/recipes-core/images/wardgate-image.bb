SUMMARY = "Wardgate door controller image for Raspberry Pi 4 and 5"
DESCRIPTION = "Minimal systemd image with a read-only root file system, the Wardgate service \
               and its models; /var/lib/wardgate lives on its own persistent ext4 partition."
LICENSE = "MIT"

require wardgate-image.inc

WKS_FILE = "wardgate-rpi.wks.in"
