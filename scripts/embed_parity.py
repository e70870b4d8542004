#!/usr/bin/env python3
"""Embeds aligned 112x112 face crops with the Python LiteRT interpreter, as a reference for
Wardgate's Rust path (tests/vision_parity.rs). Prints one JSON object: file -> embedding
(L2-normalised), computed exactly as the model card says: RGB, (x - 127.5) / 128, batch of
two (the crop in both slots), first row.

    python3 scripts/embed_parity.py MODEL_DIR CROP.png [CROP.png ...]
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
    model_dir, crops = sys.argv[1], sys.argv[2:]
    it = Interpreter(model_path=os.path.join(model_dir, "MobileFaceNet.tflite"), num_threads=1)
    it.allocate_tensors()
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    result = {}
    for path in crops:
        x = (np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) - 127.5) / 128.0
        it.set_tensor(inp["index"], np.stack([x, x]))
        it.invoke()
        e = it.get_tensor(out["index"])[0]
        result[path] = (e / np.linalg.norm(e)).tolist()
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
