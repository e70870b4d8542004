#!/usr/bin/env python3
"""Multiply-accumulates per invoke of TFLite models, from their graphs.

Usage: python3 scripts/model-macs.py models/*.tflite   (after scripts/setup-litert.sh --python)

Counts CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED, BATCH_MATMUL and TRANSPOSE_CONV from the
tensor shapes the LiteRT interpreter reports; element-wise ops are left out (they are memory-
bound and small). BENCHMARKS.md ("aarch64: the board's build") divides these counts by published
XNNPACK throughput to estimate the time per frame on a Raspberry Pi 4 and 5.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "vendor", "python"))
from ai_edge_litert.interpreter import Interpreter  # noqa: E402


def prod(shape):
    n = 1
    for d in shape:
        n *= int(d)
    return n


def macs_of(path):
    it = Interpreter(model_path=path)
    it.allocate_tensors()
    tensors = {t["index"]: t for t in it.get_tensor_details()}
    per_kind = {}
    ops = it._get_ops_details()
    for op in ops:
        ins = [int(i) for i in op["inputs"] if i >= 0]
        outs = [int(o) for o in op["outputs"]]
        if not outs:
            continue
        out = tensors[outs[0]]["shape"]
        kind = op["op_name"]
        if kind == "CONV_2D":  # weights [O, kh, kw, I]
            w = tensors[ins[1]]["shape"]
            m = prod(out) * int(w[1] * w[2] * w[3])
        elif kind == "DEPTHWISE_CONV_2D":  # weights [1, kh, kw, C]
            w = tensors[ins[1]]["shape"]
            m = prod(out) * int(w[1] * w[2])
        elif kind == "FULLY_CONNECTED":  # weights [O, I]
            m = prod(out) * int(tensors[ins[1]]["shape"][-1])
        elif kind == "BATCH_MATMUL":
            m = prod(out) * int(tensors[ins[0]]["shape"][-1])
        elif kind == "TRANSPOSE_CONV":  # weights [O, kh, kw, I], input ins[2]
            w = tensors[ins[1]]["shape"]
            m = prod(tensors[ins[2]]["shape"]) * int(w[0] * w[1] * w[2])
        else:
            continue
        per_kind[kind] = per_kind.get(kind, 0) + m
    return sum(per_kind.values()), len(ops), per_kind


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    for path in sys.argv[1:]:
        total, n_ops, per_kind = macs_of(path)
        kinds = ", ".join(
            f"{k} {v / 1e6:.1f} M" for k, v in sorted(per_kind.items(), key=lambda kv: -kv[1])
        )
        print(f"{os.path.basename(path)}: {total / 1e6:.1f} M MACs, {n_ops} ops ({kinds})")


if __name__ == "__main__":
    main()
