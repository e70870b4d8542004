SUMMARY = "On-board MariaDB configuration for Wardgate"
DESCRIPTION = "Server settings for a single door controller, a one-shot unit that creates the \
wardgate database and socket-authenticated user, and a drop-in that points wardgate.service \
at it."
# nooelint: oelint.vars.homepageping - the firmware has no public site yet; boards have no network at lint time
HOMEPAGE = "https://wardgate.invalid/"
LICENSE = "Apache-2.0"
# nooelint: oelint.var.licenseremotefile - the repository carries no licence text of its own
LIC_FILES_CHKSUM = "file://${COMMON_LICENSE_DIR}/Apache-2.0;md5=89aea4e17d99a7cacdbeed46a0096b10"

SRC_URI = "file://60-wardgate.cnf \
           file://wardgate-db-init.sql \
           file://wardgate-db-init.service \
           file://mariadb.conf \
           file://wardgate-mariadb.tmpfiles"

S = "${UNPACKDIR}"

inherit allarch systemd

do_configure[noexec] = "1"
do_compile[noexec] = "1"

do_install() {
    install -d ${D}${sysconfdir}/my.cnf.d ${D}${datadir}/wardgate \
        ${D}${systemd_system_unitdir} ${D}${systemd_system_unitdir}/wardgate.service.d \
        ${D}${nonarch_libdir}/tmpfiles.d
    install -m 0644 ${S}/60-wardgate.cnf ${D}${sysconfdir}/my.cnf.d/
    install -m 0644 ${S}/wardgate-db-init.sql ${D}${datadir}/wardgate/
    install -m 0644 ${S}/wardgate-db-init.service ${D}${systemd_system_unitdir}/
    install -m 0644 ${S}/mariadb.conf ${D}${systemd_system_unitdir}/wardgate.service.d/
    install -m 0644 ${S}/wardgate-mariadb.tmpfiles ${D}${nonarch_libdir}/tmpfiles.d/wardgate-mariadb.conf
}

SYSTEMD_SERVICE:${PN} = "wardgate-db-init.service"

FILES:${PN} += "${sysconfdir}/my.cnf.d ${datadir}/wardgate ${systemd_system_unitdir} \
    ${nonarch_libdir}/tmpfiles.d/wardgate-mariadb.conf"
CONFFILES:${PN} += "${sysconfdir}/my.cnf.d/60-wardgate.cnf"
RDEPENDS:${PN} = "mariadb mariadb-client wardgate"
