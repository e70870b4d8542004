#!/bin/sh
# `wardgate check-camera` against vivid: lists the device with its formats and writes a
# 640x480 PNG of one frame.
set -eu
out=$WARDGATE_HW_ARTIFACTS/check-camera.png
report=$("$HW_BIN/wardgate" check-camera --out "$out" 2>&1) || { echo "$report"; exit 1; }
echo "$report"
echo "$report" | grep -q "^$WARDGATE_HW_VIVID: .*\[vivid\]" || { echo "vivid not listed"; exit 1; }
echo "$report" | grep -q "YUYV .*640x480" || { echo "YUYV 640x480 not listed"; exit 1; }
echo "$report" | grep -q "640x480 frame written" || { echo "no frame written"; exit 1; }
# PNG signature, then the IHDR chunk with width 640 and height 480 (big-endian).
sig=$(head -c 24 "$out" | od -An -tx1 | tr -d ' \n')
[ "$sig" = "89504e470d0a1a0a0000000d4948445200000280000001e0" ] \
    || { echo "$out is not a 640x480 PNG ($sig)"; exit 1; }
echo "check-camera ok"
