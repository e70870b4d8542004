#!/usr/bin/env python3
"""Measures candidate liveness veto cues on labelled sequences before any is built into the door
(issue: "veto cues you measure before keeping them"). For every frame, the largest face is found
with the door's own detector model (BlazeFace short range, through the Python LiteRT runtime that
scripts/setup-litert.sh --python installs) and three cues are computed around it:

  glare    share of face-box pixels with a channel at 250 or more (specular reflection on a
           screen's glass or a glossy print);
  moire    share of the face crop's spectral energy above 0.3 cycles per pixel (a screen's pixel
           grid aliased by the camera shows as high-frequency peaks);
  outline  strength of the strongest straight edges left, right, above and below the face within
           2.5 face widths (a phone, tablet or print edge enclosing the face): the weakest of the
           four sides' best column/row mean gradient, over the ring's mean gradient.

Per sequence each cue is the median over the frames with a face (glare: the 90th percentile).
Reported per cue: the values per label, the AUC of attack against bona fide, and how many
attacks a threshold at the highest bona fide value would veto (a veto must not refuse a live
person). Usage:

    python3 scripts/veto-cues.py /work/shared/pad-dev [MODEL_DIR]
"""
import csv
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "vendor", "python"))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402
from ai_edge_litert.interpreter import Interpreter  # noqa: E402

SIZE = 128


def anchors():
    out = []
    for stride, per in ((8, 2), (16, 6)):
        cells = SIZE // stride
        for y in range(cells):
            for x in range(cells):
                out += [((x + 0.5) / cells, (y + 0.5) / cells)] * per
    return np.array(out, dtype=np.float32)


class Detector:
    def __init__(self, model_dir):
        self.it = Interpreter(
            model_path=os.path.join(model_dir, "face_detection_short_range.tflite"), num_threads=1
        )
        self.it.allocate_tensors()
        self.inp = self.it.get_input_details()[0]
        outs = sorted(self.it.get_output_details(), key=lambda d: -d["shape"][-1])
        self.reg, self.cls = outs[0], outs[1]
        self.anchors = anchors()

    def largest(self, rgb):
        """The largest face (x0, y0, x1, y1) in frame pixels, or None."""
        h, w = rgb.shape[:2]
        scale = SIZE / max(w, h)
        nw, nh = round(w * scale), round(h * scale)
        img = np.asarray(Image.fromarray(rgb).resize((nw, nh), Image.BILINEAR), dtype=np.float32)
        canvas = np.full((SIZE, SIZE, 3), -1.0, dtype=np.float32)
        ox, oy = (SIZE - nw) // 2, (SIZE - nh) // 2
        canvas[oy:oy + nh, ox:ox + nw] = img / 127.5 - 1.0
        self.it.set_tensor(self.inp["index"], canvas[None])
        self.it.invoke()
        r = self.it.get_tensor(self.reg["index"])[0]
        s = 1 / (1 + np.exp(-np.clip(self.it.get_tensor(self.cls["index"])[0][:, 0], -100, 100)))
        best = None
        for i in np.nonzero(s >= 0.5)[0]:
            cx = r[i, 0] + self.anchors[i, 0] * SIZE
            cy = r[i, 1] + self.anchors[i, 1] * SIZE
            bw, bh = r[i, 2], r[i, 3]
            box = [(cx - bw / 2 - ox) / scale, (cy - bh / 2 - oy) / scale,
                   (cx + bw / 2 - ox) / scale, (cy + bh / 2 - oy) / scale]
            if best is None or (box[2] - box[0]) > (best[2] - best[0]):
                best = box
        return best


def clip_box(b, w, h):
    x0, y0, x1, y1 = (int(round(v)) for v in b)
    return max(0, x0), max(0, y0), min(w, x1), min(h, y1)


def glare(rgb, box):
    x0, y0, x1, y1 = clip_box(box, rgb.shape[1], rgb.shape[0])
    face = rgb[y0:y1, x0:x1]
    return float((face.max(axis=2) >= 250).mean()) if face.size else 0.0


def moire(grey, box):
    x0, y0, x1, y1 = clip_box(box, grey.shape[1], grey.shape[0])
    face = grey[y0:y1, x0:x1]
    if min(face.shape) < 16:
        return 0.0
    face = face - face.mean()
    win = np.outer(np.hanning(face.shape[0]), np.hanning(face.shape[1]))
    p = np.abs(np.fft.fftshift(np.fft.fft2(face * win))) ** 2
    fy = np.fft.fftshift(np.fft.fftfreq(face.shape[0]))[:, None]
    fx = np.fft.fftshift(np.fft.fftfreq(face.shape[1]))[None, :]
    r = np.sqrt(fx ** 2 + fy ** 2)
    total = p[r > 0.02].sum()
    return float(p[r > 0.3].sum() / total) if total > 0 else 0.0


def outline(grey, box):
    h, w = grey.shape
    gx = np.abs(np.diff(grey, axis=1))[:-1, :]
    gy = np.abs(np.diff(grey, axis=0))[:, :-1]
    x0, y0, x1, y1 = box
    fw = x1 - x0
    rx0, ry0 = int(max(0, x0 - 1.5 * fw)), int(max(0, y0 - 1.5 * fw))
    rx1, ry1 = int(min(w - 1, x1 + 1.5 * fw)), int(min(h - 1, y1 + 1.5 * fw))
    ring = np.hypot(gx[ry0:ry1, rx0:rx1], gy[ry0:ry1, rx0:rx1]).mean() + 1e-6
    fy0, fy1 = int(max(0, y0)), int(min(h - 1, y1))
    fx0, fx1 = int(max(0, x0)), int(min(w - 1, x1))

    def best(profile):
        return float(profile.max()) if profile.size else 0.0

    left = best(gx[fy0:fy1, rx0:int(max(rx0, x0))].mean(axis=0)) if fy1 > fy0 else 0.0
    right = best(gx[fy0:fy1, int(min(rx1, x1)):rx1].mean(axis=0)) if fy1 > fy0 else 0.0
    top = best(gy[ry0:int(max(ry0, y0)), fx0:fx1].mean(axis=1)) if fx1 > fx0 else 0.0
    bottom = best(gy[int(min(ry1, y1)):ry1, fx0:fx1].mean(axis=1)) if fx1 > fx0 else 0.0
    return min(left, right, top, bottom) / ring


def auc(neg, pos):
    """P(attack score > bona fide score), ties counted half."""
    if not neg or not pos:
        return float("nan")
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def main():
    root = sys.argv[1]
    model_dir = sys.argv[2] if len(sys.argv) > 2 else os.path.join(ROOT, "models")
    det = Detector(model_dir)
    rows = list(csv.DictReader(open(os.path.join(root, "MANIFEST.csv"))))
    per = []
    for k, row in enumerate(rows):
        seq = os.path.join(root, row["set"], row["sequence"])
        files = sorted(f for f in os.listdir(seq) if f.lower().endswith((".jpg", ".png")))
        g, m, o = [], [], []
        for f in files:
            rgb = np.asarray(Image.open(os.path.join(seq, f)).convert("RGB"))
            box = det.largest(rgb)
            if box is None:
                continue
            grey = rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
            g.append(glare(rgb, box))
            m.append(moire(grey, box))
            o.append(outline(grey, box))
        if not g:
            print(f"veto-cues: {k + 1}/{len(rows)} {row['label']} {seq}: no face", file=sys.stderr)
            continue
        cues = {"glare": float(np.percentile(g, 90)), "moire": float(np.median(m)),
                "outline": float(np.median(o))}
        per.append((row["label"], row["set"] + "/" + row["sequence"], cues, len(g)))
        print(f"veto-cues: {k + 1}/{len(rows)} {row['label']:9s} {seq}: "
              + " ".join(f"{c} {v:.4f}" for c, v in cues.items()), file=sys.stderr)
    print(f"# {len(per)} sequences with a face: "
          + ", ".join(f"{lab} {sum(1 for p in per if p[0] == lab)}"
                      for lab in sorted({p[0] for p in per})))
    for cue in ("glare", "moire", "outline"):
        bona = [p[2][cue] for p in per if p[0] == "bona_fide"]
        line = [f"{cue:8s} bona fide median {np.median(bona):.4f} max {max(bona):.4f}"]
        for lab in sorted({p[0] for p in per} - {"bona_fide"}):
            att = [p[2][cue] for p in per if p[0] == lab]
            vetoed = sum(1 for a in att if a > max(bona))
            line.append(f"{lab}: median {np.median(att):.4f}, AUC {auc(bona, att):.2f}, "
                        f"{vetoed} of {len(att)} above every bona fide value")
        print(" | ".join(line))


if __name__ == "__main__":
    main()
