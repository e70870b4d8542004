#!/usr/bin/env python3
"""Converts a TensorFlow.js graph model (as npm packages ship them) to TFLite, with the named
tensor as the output, so it can be screened as an embedder (see README.md in this folder).

Needs: pip install tensorflowjs tfjs-graph-converter; first run
  tfjs_graph_converter --output_format tf_frozen_model --compat_mode tflite MODEL.json MODEL.pb
then: convert-tfjs.py MODEL.pb INPUT_TENSOR OUTPUT_TENSOR OUT.tflite
"""
import sys

import tensorflow as tf


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    frozen, input_name, output_name, out = sys.argv[1:]
    graph = tf.compat.v1.GraphDef()
    with open(frozen, "rb") as f:
        graph.ParseFromString(f.read())

    def load():
        tf.compat.v1.import_graph_def(graph, name="")

    wrapped = tf.compat.v1.wrap_function(load, [])
    fn = wrapped.prune(
        feeds=[wrapped.graph.get_tensor_by_name(input_name)],
        fetches=[wrapped.graph.get_tensor_by_name(output_name)],
    )
    model = tf.lite.TFLiteConverter.from_concrete_functions([fn], wrapped).convert()
    with open(out, "wb") as f:
        f.write(model)
    check = tf.lite.Interpreter(model_path=out)
    check.allocate_tensors()
    print(out, [d["shape"].tolist() for d in check.get_input_details()], "->",
          [d["shape"].tolist() for d in check.get_output_details()])


if __name__ == "__main__":
    main()
