#!/usr/bin/env python3
"""Convert Idiap's EdgeFace checkpoints to float TFLite: models/edgeface_xs.tflite and
models/edgeface_xxs.tflite.

Source: the authors' int8-weight checkpoints `edgeface_xs_q.pt` and `edgeface_xxs_q.pt`
(George, Ecabert, Otroshi Shahreza, Kotwal, Marcel, "EdgeFace: Efficient Face Recognition
Model for Edge Devices", IEEE T-BIOM 2024), BSD-3-Clause (Idiap Research Institute, 2024),
trained on WebFace (research licence: see models/MODELS.md before production use). They are
read from the GitHub repository yayoimizuha/face_recognition_train at commit
3e631e35bf207a09aa2af79239961cfb14248c0a, path checkpoints/ (a copy of Idiap's EdgeFace
repository; its other checkpoints carry the same git blob ids as otroshi/edgeface). Every
input is checked against the sha256 pinned below, every output against models/SHA256SUMS.

How it works (each step is there for a reason found while converting):
  1. The checkpoint is a state dict of timm's EdgeNeXt (`edgenext_x_small` /
     `edgenext_xx_small`, classifier reset to 512 outputs) whose Linear layers were
     dynamically quantised (int8 weights, per-tensor scale). The float model is rebuilt and
     each Linear gets its int8 weight dequantised (w = scale * (q - zero_point)). The
     authors' int8 runtime model also quantises activations on the fly; the float model
     agrees with it only to cosine ~0.94-0.98, so what ships is measured as shipped, not
     from the paper's table.
  2. EdgeNeXt's positional encoding is computed from the input shape with a CumSum, which
     onnx2tf cannot convert. For the fixed 112x112 input it is a constant, so each encoder is
     replaced by the tensor it returns for that shape (same values, no CumSum in the graph).
  3. ONNX export, opset 17, input NCHW [1, 3, 112, 112] float32, RGB, (x/255 - 0.5)/0.5;
     output [1, 512] (not normalised).
  4. onnx2tf 1.29.24 with -osd (signature) and -rtpo Erf (GELU's Erf as a pseudo-op made of
     builtins; without it GELU needs a Flex op LiteRT does not carry; error ~1.5e-7). onnx2tf
     needs onnxsim on PATH (this venv's bin/) and a local calibration .npy for its
     accuracy check (it otherwise tries to download one): the fixture crops are written as one.
     The result is NHWC [1, 112, 112, 3] -> [1, 512], float32 (the fp16 variant is not used:
     xs gave NaN in fp16).

Model contract (both files):
  input   [1, 112, 112, 3] float32, NHWC, RGB, (x / 255 - 0.5) / 0.5, the face aligned to the
          InsightFace five-point 112x112 template (the same as MobileFaceNet)
  output  [1, 512] float32 embedding, compared by cosine after L2 normalisation

Usage (Python 3.11; a venv outside the repository with the pinned packages):
  python3 -m venv /root/.cache/edgeface-venv
  /root/.cache/edgeface-venv/bin/pip install onnx2tf==1.29.24 torch==2.5.1 timm==1.0.15 pillow
  # the two checkpoints (a git directory of the repository above, or the files themselves):
  PATH=/root/.cache/edgeface-venv/bin:$PATH python models/convert-edgeface.py --git-dir DIR
  PATH=...  python models/convert-edgeface.py --checkpoints DIR   # DIR/edgeface_xs_q.pt, ...
  ... --parity            # torch vs ONNX Runtime vs TFLite on tests/fixtures/edgeface-parity
  ... --write-reference   # also write the torch reference embeddings the Rust parity test
                          # (tests/vision_parity.rs) compares against
The outputs are deterministic for these package versions: a rerun reproduces the sha256s.
"""

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOURCE_REPO = "yayoimizuha/face_recognition_train"
SOURCE_COMMIT = "3e631e35bf207a09aa2af79239961cfb14248c0a"
SIZE = 112
DIM = 512

# variant: (checkpoint, its size, its sha256, timm architecture, output file)
VARIANTS = {
    "xs": ("edgeface_xs_q.pt", 2993451,
           "a31314377876ab9fa2a75e5638bc528efe79fd17d5c9c0a228fb7f846d7581a6",
           "edgenext_x_small", "edgeface_xs.tflite"),
    "xxs": ("edgeface_xxs_q.pt", 1734661,
            "46be7cc7e8d6e23501c0627fe5fbef101922ee9b85ccbef476987ab1a320b053",
            "edgenext_xx_small", "edgeface_xxs.tflite"),
}
PARITY_DIR = os.path.join(ROOT, "tests", "fixtures", "edgeface-parity")


def say(msg):
    print("convert-edgeface: " + msg, file=sys.stderr, flush=True)


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def manifest():
    with open(os.path.join(ROOT, "models", "SHA256SUMS")) as f:
        return {name: digest for digest, name in (line.split() for line in f if line.strip())}


# --------------------------------------------------------------------------------------------
# Inputs


def read_checkpoint(variant, args):
    name, size, digest, _, _ = VARIANTS[variant]
    if args.checkpoints:
        with open(os.path.join(args.checkpoints, name), "rb") as f:
            data = f.read()
    else:
        data = subprocess.run(
            ["git", "--git-dir", args.git_dir, "show", f"{SOURCE_COMMIT}:checkpoints/{name}"],
            check=True, capture_output=True).stdout
    if len(data) != size or sha256(data) != digest:
        sys.exit(f"{name}: {len(data)} bytes, sha256 {sha256(data)}; expected {size} bytes, {digest}")
    return data


def parity_crops():
    """The fixture crops: 112x112 RGB uint8, aligned by Wardgate's own path."""
    from PIL import Image
    names = sorted(n for n in os.listdir(PARITY_DIR) if n.endswith(".png"))
    if not names:
        sys.exit(f"no crops in {PARITY_DIR}")
    crops = [np.asarray(Image.open(os.path.join(PARITY_DIR, n)).convert("RGB")) for n in names]
    for n, c in zip(names, crops):
        if c.shape != (SIZE, SIZE, 3):
            sys.exit(f"{n}: shape {c.shape}, expected {SIZE}x{SIZE} RGB")
    return names, crops


def normalise(crop):
    """uint8 HWC RGB -> float32, (x/255 - 0.5)/0.5, as EdgeFace was trained."""
    return (crop.astype(np.float32) / 255.0 - 0.5) / 0.5


# --------------------------------------------------------------------------------------------
# The float model


class EdgeFace:
    """timm's EdgeNeXt with a 512-d head, as the authors' TimmFRWrapperV2 (backbones/timmfr.py)
    builds it; the state dict keys carry its `model.` prefix."""

    @staticmethod
    def build(arch):
        import timm
        import torch

        class Wrapper(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.model = timm.create_model(arch)
                self.model.reset_classifier(DIM)

            def forward(self, x):
                return self.model(x)

        return Wrapper()


def dequantised_state_dict(data):
    """The checkpoint's tensors with every dynamically quantised Linear turned back into a
    float weight and bias (its scale, zero point and dtype entries are folded into them)."""
    import io
    import torch
    sd = torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")
    packed = "._packed_params._packed_params"
    quantised = {k[: -len(packed)] for k in sd if k.endswith(packed)}
    out = {}
    for key, value in sd.items():
        prefix, _, leaf = key.rpartition(".")
        if key.endswith(packed):
            weight, bias = value
            out[key[: -len(packed)] + ".weight"] = weight.dequantize()
            if bias is not None:
                out[key[: -len(packed)] + ".bias"] = bias.detach().clone()
        elif key.endswith("._packed_params.dtype") or (prefix in quantised and leaf in ("scale", "zero_point")):
            continue
        else:
            out[key] = value
    return out


def float_model(variant, data):
    import torch
    from timm.models import edgenext
    arch = VARIANTS[variant][3]
    model = EdgeFace.build(arch)
    model.load_state_dict(dequantised_state_dict(data), strict=True)
    model.eval()
    # Replace each positional encoder by the constant it yields for this input size.
    shapes = {}

    def record(module, inputs, output):
        shapes[module] = output.detach().clone()

    hooks = [m.register_forward_hook(record) for m in model.modules()
             if isinstance(m, edgenext.PositionalEncodingFourier)]
    with torch.no_grad():
        model(torch.zeros(1, 3, SIZE, SIZE))
    for h in hooks:
        h.remove()

    class Constant(torch.nn.Module):
        def __init__(self, value):
            super().__init__()
            self.register_buffer("value", value)

        def forward(self, shape):
            return self.value

    def replace(parent):
        for name, child in parent.named_children():
            if child in shapes:
                setattr(parent, name, Constant(shapes[child]))
            else:
                replace(child)

    replace(model)
    say(f"{variant}: {len(shapes)} positional encodings fixed for {SIZE}x{SIZE}")
    return model


def int8_model(variant, data):
    """The authors' own runtime model (dynamic int8), only to report how far the float model
    is from it."""
    import io
    import torch
    model = EdgeFace.build(VARIANTS[variant][3])
    model = torch.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
    model.load_state_dict(torch.load(io.BytesIO(data), weights_only=True, map_location="cpu"))
    return model.eval()


def torch_embed(model, crops):
    import torch
    x = torch.from_numpy(np.stack([normalise(c) for c in crops]).transpose(0, 3, 1, 2).copy())
    with torch.no_grad():
        return np.stack([model(x[i:i + 1])[0].numpy() for i in range(len(crops))])


# --------------------------------------------------------------------------------------------
# Conversion


def convert(variant, data, work, crops):
    import torch
    model = float_model(variant, data)
    onnx_path = os.path.join(work, f"edgeface_{variant}.onnx")
    torch.onnx.export(model, torch.zeros(1, 3, SIZE, SIZE), onnx_path, opset_version=17,
                      input_names=["input"], output_names=["embedding"], do_constant_folding=True)
    # onnx2tf checks its conversion on a sample batch it reads from this file in the working
    # directory (or downloads): the fixture crops, NHWC, already normalised.
    sample = np.stack([normalise(crops[i % len(crops)]) for i in range(20)]).astype(np.float32)
    np.save(os.path.join(work, "calibration_image_sample_data_20x128x128x3_float32.npy"), sample)
    out_dir = os.path.join(work, f"tf_{variant}")
    onnx2tf = shutil.which("onnx2tf")
    if onnx2tf is None or shutil.which("onnxsim") is None:
        sys.exit("onnx2tf and onnxsim must be on PATH (put the venv's bin/ first on PATH)")
    subprocess.run([onnx2tf, "-i", onnx_path, "-o", out_dir, "-osd", "-rtpo", "Erf", "-n"],
                   check=True, cwd=work, stdout=subprocess.DEVNULL)
    tflite = os.path.join(out_dir, f"edgeface_{variant}_float32.tflite")
    with open(tflite, "rb") as f:
        return model, onnx_path, f.read()


# --------------------------------------------------------------------------------------------
# Parity


def cosine(a, b):
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def litert_embed(path, crops, interpreter_cls):
    it = interpreter_cls(model_path=path, num_threads=1)
    it.allocate_tensors()
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    if list(inp["shape"]) != [1, SIZE, SIZE, 3] or list(out["shape"]) != [1, DIM]:
        sys.exit(f"{path}: shapes {inp['shape']} -> {out['shape']}")
    result = []
    for c in crops:
        it.set_tensor(inp["index"], normalise(c)[None])
        it.invoke()
        result.append(it.get_tensor(out["index"])[0].copy())
    return np.stack(result)


def parity(variant, data, model, onnx_path, tflite_path, names, crops):
    import onnxruntime as ort
    from ai_edge_litert.interpreter import Interpreter
    ref = torch_embed(model, crops)
    sess = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    x = np.stack([normalise(c) for c in crops]).transpose(0, 3, 1, 2).copy()
    onnx_out = np.stack([sess.run(None, {"input": x[i:i + 1]})[0][0] for i in range(len(crops))])
    lite = litert_embed(tflite_path, crops, Interpreter)
    q = torch_embed(int8_model(variant, data), crops)
    report = {
        "torch_vs_onnx_max_abs": float(np.abs(ref - onnx_out).max()),
        "onnx_vs_tflite_max_abs": float(np.abs(onnx_out - lite).max()),
        "torch_vs_tflite_min_cosine": min(cosine(a, b) for a, b in zip(ref, lite)),
        "int8_vs_float_cosine": [round(cosine(a, b), 4) for a, b in zip(q, ref)],
    }
    say(f"{variant} parity on {len(crops)} crops: " + json.dumps(report))
    if report["onnx_vs_tflite_max_abs"] > 1e-4 or report["torch_vs_tflite_min_cosine"] < 0.99999:
        sys.exit(f"{variant}: TFLite does not match the reference")
    return {n: (r / np.linalg.norm(r)).round(7).tolist() for n, r in zip(names, ref)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--git-dir", help=f"a git directory of {SOURCE_REPO} holding {SOURCE_COMMIT}")
    src.add_argument("--checkpoints", help="a folder holding edgeface_xs_q.pt and edgeface_xxs_q.pt")
    ap.add_argument("--out", default=os.path.join(ROOT, "models"), help="output folder (default models/)")
    ap.add_argument("--variant", choices=sorted(VARIANTS), action="append",
                    help="convert only this variant (repeatable; default all)")
    ap.add_argument("--parity", action="store_true",
                    help="compare torch, ONNX Runtime and TFLite on the fixture crops")
    ap.add_argument("--write-reference", action="store_true",
                    help=f"write the torch reference embeddings to {PARITY_DIR}/reference.json")
    args = ap.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    want = manifest()
    names, crops = parity_crops()
    reference = {}
    failed = False
    with tempfile.TemporaryDirectory() as work:
        for variant in args.variant or sorted(VARIANTS):
            data = read_checkpoint(variant, args)
            model, onnx_path, tflite = convert(variant, data, work, crops)
            out_name = VARIANTS[variant][4]
            out_path = os.path.join(args.out, out_name)
            with open(out_path, "wb") as f:
                f.write(tflite)
            digest = sha256(tflite)
            ok = want.get(out_name) == digest
            failed |= not ok
            print(f"{digest}  {out_name}  ({len(tflite)} bytes){'' if ok else '  NOT IN SHA256SUMS'}")
            if args.parity or args.write_reference:
                reference[out_name] = parity(variant, data, model, onnx_path, out_path, names, crops)
    if args.write_reference:
        with open(os.path.join(PARITY_DIR, "reference.json"), "w") as f:
            json.dump(reference, f, indent=1, sort_keys=True)
            f.write("\n")
    if failed:
        sys.exit("an output does not match models/SHA256SUMS (a new conversion must update it)")


if __name__ == "__main__":
    main()
