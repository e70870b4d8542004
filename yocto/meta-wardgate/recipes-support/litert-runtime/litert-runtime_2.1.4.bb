SUMMARY = "LiteRT (TensorFlow Lite) runtime library used by Wardgate for face inference"
DESCRIPTION = "libLiteRt.so with the XNNPACK CPU delegate, taken from the pinned aarch64 \
wheel of ai-edge-litert on PyPI (the same build the x86-64 CI links against). It needs only \
libc and libstdc++."
# nooelint: oelint.vars.homepageping - checked by hand; no network at lint time
HOMEPAGE = "https://ai.google.dev/edge/litert"
LICENSE = "Apache-2.0"
# nooelint: oelint.var.licenseremotefile - the wheel ships no licence file; the project is Apache-2.0
LIC_FILES_CHKSUM = "file://${COMMON_LICENSE_DIR}/Apache-2.0;md5=89aea4e17d99a7cacdbeed46a0096b10"

DEPENDS = "unzip-native"

WHEEL = "ai_edge_litert-${PV}-cp311-cp311-manylinux_2_27_aarch64.whl"
SRC_URI = "https://files.pythonhosted.org/packages/b4/a3/dd09746925ce50d6a88ae9dfd1b1349f21568ee5587df25a7ce25d0fedc2/${WHEEL};downloadfilename=${WHEEL};unpack=0"
SRC_URI[sha256sum] = "f2f07d27211a6b64ed374733bcbdd78dcf0cdc70de5c5f7d0ce7f198d4890a23"

# The wheel carries an aarch64 build only for this tag; armv7 boards are not supported.
COMPATIBLE_HOST = "aarch64.*-linux"

S = "${UNPACKDIR}/litert"

do_unpack[cleandirs] += "${S}"
do_unpack:append() {
    bb.build.exec_func('litert_extract', d)
}

litert_extract[doc] = "Takes libLiteRt.so out of the wheel (a zip file)"
litert_extract() {
    unzip -o -j -d ${S} ${DL_DIR}/${WHEEL} ai_edge_litert/libLiteRt.so
}

do_configure[noexec] = "1"
do_compile[noexec] = "1"

do_install() {
    install -d ${D}${libdir}/wardgate
    install -m 0644 ${S}/libLiteRt.so ${D}${libdir}/wardgate/libLiteRt.so
}

FILES:${PN} += "${libdir}/wardgate/libLiteRt.so"
# A prebuilt, already stripped library whose SONAME is unversioned (libLiteRt.so): it is a
# private library of wardgate in its own folder, found through wardgate's RUNPATH.
# nooelint: oelint.vars.insaneskip - a prebuilt upstream binary: stripped, linked by its vendor
INSANE_SKIP:${PN} = "already-stripped ldflags dev-so"
INHIBIT_PACKAGE_STRIP = "1"
INHIBIT_PACKAGE_DEBUG_SPLIT = "1"
