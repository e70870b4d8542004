#!/usr/bin/env python3
"""Embeds aligned 112x112 face crops with the Python LiteRT interpreter, as a reference for
Wardgate's Rust path (tests/vision_parity.rs). Prints one JSON object: file -> embedding
(L2-normalised), computed exactly as the model card says (models/MODELS.md): RGB, the
model's normalisation, its batch filled with the crop, first row.

    python3 scripts/embed_parity.py MODEL_DIR [--model FILE] CROP.png [CROP.png ...]

FILE defaults to MobileFaceNet.tflite ((x - 127.5) / 128, batch of two); edgeface_*.tflite
files get (x / 255 - 0.5) / 0.5.
"""
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "vendor", "python"))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402
from ai_edge_litert.interpreter import Interpreter  # noqa: E402


def main():
    args = sys.argv[1:]
    model_dir, model = args.pop(0), "MobileFaceNet.tflite"
    if args[:1] == ["--model"]:
        model = args[1]
        args = args[2:]
    if model.startswith("edgeface"):
        def norm(x):
            return (x / 255.0 - 0.5) / 0.5
    else:
        def norm(x):
            return (x - 127.5) / 128.0
    it = Interpreter(model_path=os.path.join(model_dir, model), num_threads=1)
    it.allocate_tensors()
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    batch = int(inp["shape"][0])
    result = {}
    for path in args:
        x = norm(np.asarray(Image.open(path).convert("RGB"), dtype=np.float32))
        it.set_tensor(inp["index"], np.stack([x] * batch).astype(np.float32))
        it.invoke()
        e = it.get_tensor(out["index"])[0]
        result[path] = (e / np.linalg.norm(e)).tolist()
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
