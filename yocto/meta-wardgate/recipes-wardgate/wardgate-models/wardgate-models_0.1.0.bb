SUMMARY = "Face models for Wardgate: detection, landmarks, embedding"
DESCRIPTION = "The TFLite models committed under models/ of the firmware repository, with \
their SHA256SUMS; models/MODELS.md records where each comes from and its licence."
# nooelint: oelint.vars.homepageping - the firmware has no public site yet; boards have no network at lint time
HOMEPAGE = "https://wardgate.invalid/"
# MediaPipe face models (Apache-2.0); MobileFaceNet redistributed under MIT;
# dlib's ResNet descriptor (converted, models/dlib-resnet.md) CC0-1.0; EdgeFace (converted,
# models/MODELS.md) BSD-3-Clause, trained on research-licensed WebFace data (see MODELS.md).
LICENSE = "Apache-2.0 & MIT & CC0-1.0 & BSD-3-Clause"
# nooelint: oelint.var.licenseremotefile - the repository carries no licence text of its own
LIC_FILES_CHKSUM = "file://${COMMON_LICENSE_DIR}/Apache-2.0;md5=89aea4e17d99a7cacdbeed46a0096b10 \
                    file://${COMMON_LICENSE_DIR}/MIT;md5=0835ade698e0bcf8506ecda2f7b4f302 \
                    file://${COMMON_LICENSE_DIR}/CC0-1.0;md5=0ceb3372c9595f0a8067e55da801e4a1 \
                    file://${COMMON_LICENSE_DIR}/BSD-3-Clause;md5=550794465ba0ec5312d6919e203a55f9"

WARDGATE_GIT ?= "git://${@os.path.abspath(os.path.join(d.getVar('FILE_DIRNAME'), '../../../..'))};protocol=file"
SRC_URI = "${WARDGATE_GIT};branch=main"
# nooelint: oelint.vars.autorev - development default; release builds pin SRCREV (README)
SRCREV ?= "${AUTOREV}"

inherit allarch

do_configure[noexec] = "1"
do_compile[noexec] = "1"

do_install() {
    # Refuse models that do not match the committed checksums.
    (cd ${S}/models && sha256sum -c SHA256SUMS)
    install -d ${D}${datadir}/wardgate/models
    install -m 0644 ${S}/models/*.tflite ${S}/models/SHA256SUMS ${D}${datadir}/wardgate/models/
}

FILES:${PN} += "${datadir}/wardgate/models"
