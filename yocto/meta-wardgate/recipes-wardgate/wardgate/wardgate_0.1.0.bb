SUMMARY = "Wardgate face-recognition door controller firmware"
DESCRIPTION = "One service, wardgate.service: V4L2 camera, TFLite face detection, liveness \
and embedding (LiteRT), access policy, door relay over GPIO and a local REST/WebSocket API \
backed by SQLite or MySQL. Hardened systemd unit with a watchdog."
# nooelint: oelint.vars.homepageping - the firmware has no public site yet; boards have no network at lint time
HOMEPAGE = "https://wardgate.invalid/"
LICENSE = "Apache-2.0"
# nooelint: oelint.var.licenseremotefile - the repository carries no licence text of its own
LIC_FILES_CHKSUM = "file://${COMMON_LICENSE_DIR}/Apache-2.0;md5=89aea4e17d99a7cacdbeed46a0096b10"

# bindgen (v4l crate) needs libclang; chrpath rewrites the development RUNPATH.
DEPENDS = "chrpath-native clang-native litert-runtime"

# The layer lives inside the firmware repository (yocto/meta-wardgate), so by default the
# recipe builds the repository it belongs to. A release build points WARDGATE_GIT at the
# published repository and pins SRCREV (see the layer README).
WARDGATE_GIT ?= "git://${@os.path.abspath(os.path.join(d.getVar('FILE_DIRNAME'), '../../../..'))};protocol=file"
SRC_URI = "${WARDGATE_GIT};branch=main"

require wardgate-crates.inc

SRC_URI += "file://credstore-ro.conf \
            file://credentials-ro.conf"
# nooelint: oelint.vars.autorev - development default; release builds pin SRCREV (README)
SRCREV ?= "${AUTOREV}"

inherit cargo cargo-update-recipe-crates systemd useradd

# Link against the runtime from the litert-runtime recipe; never download anything.
export LITERT_LIB_DIR = "${STAGING_LIBDIR}/wardgate"
export LITERT_NO_DOWNLOAD = "1"
export LIBCLANG_PATH = "${STAGING_LIBDIR_NATIVE}"
export BINDGEN_EXTRA_CLANG_ARGS = "--sysroot=${STAGING_DIR_TARGET}"

# Raspberry Pi 4 and earlier may drive GPIO through rppal (/dev/gpiomem); every board works
# with the default gpiocdev path.
PACKAGECONFIG ??= ""
PACKAGECONFIG[rppal] = "--features rppal"

do_install:append() {
    # The build links with an RUNPATH into the staging sysroot for development; on the board
    # the library lives in ${libdir}/wardgate, next to nothing else.
    chrpath -r '$ORIGIN/../lib/wardgate' ${D}${bindir}/wardgate

    install -d ${D}${systemd_system_unitdir} ${D}${nonarch_libdir}/tmpfiles.d \
        ${D}${nonarch_base_libdir}/udev/rules.d ${D}${sysconfdir}/wardgate \
        ${D}${libexecdir}/wardgate
    install -m 0644 ${S}/systemd/wardgate.service ${S}/systemd/wardgate-credentials.service \
        ${D}${systemd_system_unitdir}/
    install -m 0755 ${S}/packaging/wardgate-make-credentials ${D}${libexecdir}/wardgate/make-credentials
    # Per-board secrets on the persistent partition: the root file system is read-only.
    install -d ${D}${systemd_system_unitdir}/wardgate.service.d \
        ${D}${systemd_system_unitdir}/wardgate-credentials.service.d
    install -m 0644 ${UNPACKDIR}/credstore-ro.conf ${D}${systemd_system_unitdir}/wardgate.service.d/
    install -m 0644 ${UNPACKDIR}/credentials-ro.conf ${D}${systemd_system_unitdir}/wardgate-credentials.service.d/
    install -m 0644 ${S}/systemd/wardgate.tmpfiles ${D}${nonarch_libdir}/tmpfiles.d/wardgate.conf
    install -m 0644 ${S}/packaging/60-wardgate-gpio.rules ${D}${nonarch_base_libdir}/udev/rules.d/
    install -m 0640 -g wardgate ${S}/packaging/wardgate.toml ${D}${sysconfdir}/wardgate/wardgate.toml
    # Spoken prompts ([audio]), made by scripts/make-prompts.sh and committed.
    install -d ${D}${datadir}/wardgate/prompts
    install -m 0644 ${S}/assets/prompts/*.wav ${D}${datadir}/wardgate/prompts/
    # Exists in the image so tmpfiles.d finds it on the read-only root (unused there).
    install -d -m 0700 ${D}${sysconfdir}/wardgate/credentials
}

# The same user as systemd/wardgate.sysusers, created at image build time because the root
# file system is read-only on the board.
USERADD_PACKAGES = "${PN}"
GROUPADD_PARAM:${PN} = "--system gpio"
USERADD_PARAM:${PN} = "--system --home-dir ${localstatedir}/lib/wardgate --no-create-home \
    --shell /sbin/nologin --user-group --groups video,gpio,audio wardgate"

SYSTEMD_SERVICE:${PN} = "wardgate.service"
SYSTEMD_AUTO_ENABLE:${PN} = "enable"

FILES:${PN} += "${systemd_system_unitdir} \
    ${libexecdir}/wardgate \
    ${datadir}/wardgate/prompts \
    ${nonarch_libdir}/tmpfiles.d/wardgate.conf \
    ${nonarch_base_libdir}/udev/rules.d/60-wardgate-gpio.rules"
CONFFILES:${PN} = "${sysconfdir}/wardgate/wardgate.toml"

RDEPENDS:${PN} = "litert-runtime wardgate-models"
# USB (UVC) cameras (CSI cameras come through the board's V4L2 drivers), and aplay for the
# spoken prompts ([audio], off by default).
RRECOMMENDS:${PN} = "kernel-module-uvcvideo alsa-utils-aplay"
