#!/usr/bin/env python3
"""Raw LiteRT invoke() time of Wardgate's models, from Python, on one thread.

This is the floor the Rust pipeline is compared against in BENCHMARKS.md: the same .tflite
files, the same runtime version (ai-edge-litert 2.1.4, installed by
`scripts/setup-litert.sh --python` into vendor/python), inputs filled with fixed random data.

    python3 scripts/litert_invoke_bench.py [--iterations N] [--threads N]
"""
import argparse
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "vendor", "python"))

import numpy as np  # noqa: E402
from ai_edge_litert.interpreter import Interpreter  # noqa: E402

MODELS = [
    "face_detection_short_range",
    "face_detection_full_range",
    "face_landmark",
    "MobileFaceNet",
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--iterations", type=int, default=200)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    rng = np.random.default_rng(7)
    print(f"model                        median ms   mean ms   p90 ms   (threads={args.threads}, n={args.iterations})")
    for name in MODELS:
        it = Interpreter(model_path=os.path.join(ROOT, "models", name + ".tflite"), num_threads=args.threads)
        it.allocate_tensors()
        inp = it.get_input_details()[0]
        it.set_tensor(inp["index"], rng.uniform(-1, 1, inp["shape"]).astype(np.float32))
        for _ in range(5):
            it.invoke()
        times = []
        for _ in range(args.iterations):
            t0 = time.perf_counter()
            it.invoke()
            times.append((time.perf_counter() - t0) * 1000)
        times.sort()
        print(f"{name:28} {statistics.median(times):9.3f} {statistics.mean(times):9.3f} {times[int(0.9 * (len(times) - 1))]:8.3f}")


if __name__ == "__main__":
    main()
