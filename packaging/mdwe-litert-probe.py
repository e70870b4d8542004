#!/usr/bin/env python3
"""Loads every models/*.tflite with LiteRT 2.1.4 (XNNPACK CPU delegate, as the firmware does)
and runs each 20 times on random input, printing the mean time per run. Run it under
packaging/mdwe-run.py to show the runtime needs no writable+executable memory."""
import glob
import sys
import time

import numpy as np
from ai_edge_litert.interpreter import Interpreter

models = sorted(glob.glob(sys.argv[1] + "/*.tflite"))
if not models:
    sys.exit(f"no models in {sys.argv[1]}")
rng = np.random.default_rng(0)
for path in models:
    it = Interpreter(model_path=path, num_threads=1)
    it.allocate_tensors()
    for d in it.get_input_details():
        x = rng.random(d["shape"], dtype=np.float32) if d["dtype"] == np.float32 else \
            rng.integers(0, 255, d["shape"]).astype(d["dtype"])
        it.set_tensor(d["index"], x)
    it.invoke()
    t = time.perf_counter()
    for _ in range(20):
        it.invoke()
    ms = (time.perf_counter() - t) / 20 * 1000
    outs = [it.get_tensor(o["index"]) for o in it.get_output_details()]
    finite = all(np.isfinite(o).all() for o in outs if o.dtype.kind == "f")
    print(f"{path.rsplit('/', 1)[-1]:40s} {ms:8.2f} ms/run  outputs finite: {finite}")
