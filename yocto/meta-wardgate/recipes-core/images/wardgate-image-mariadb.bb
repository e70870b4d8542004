SUMMARY = "Wardgate door controller image with an on-board MariaDB server"
DESCRIPTION = "wardgate-image plus MariaDB: the door controller keeps subjects, templates, \
               grants and the audit trail in a local MySQL-compatible database on a persistent \
               partition."
LICENSE = "MIT"

require wardgate-image.inc

IMAGE_INSTALL += "wardgate-mariadb-config"
WKS_FILE = "wardgate-rpi-mariadb.wks.in"
