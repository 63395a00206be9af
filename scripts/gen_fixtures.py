#!/usr/bin/env python3
"""Generate the small ONNX model fixtures used by Sluice.

Run from the repository root:

    /usr/bin/python3 scripts/gen_fixtures.py

It needs nothing but Debian's python3-onnx (onnx 1.12) and numpy. Every
graph is built with onnx.helper / onnx.numpy_helper only, uses opset 13
(ai.onnx) and ir_version 8 so that ONNX Runtime 1.30 loads it, and passes
onnx.checker.check_model. Output is deterministic (fixed weights and seeds,
no timestamps), so re-running produces byte-identical files.

It writes:

  models/student-success/1/model.onnx   logistic regression, 8 features
  models/student-success/2/model.onnx   same graph, different weights
  testdata/models/alltypes/1/model.onnx  Identity for 13 element types
  testdata/models/nobatch/1/model.onnx   fixed [2,2] input, y = x + c
  testdata/models/rowid/1/model.onnx     y = 2x + 1, sum = row sums
  testdata/models/mlp/1/model.onnx       16 -> 64 -> 64 -> 4 MLP, softmax
  testdata/models/dynamic2/1/model.onnx  [batch, width] input, y = 3x
  testdata/models/fp16out/1/model.onnx   FP32 in, FP16 out (Cast)
  testdata/models/failing/1/model.onnx   loads, but every run fails (Reshape)

and then prints each model's inputs and outputs. See
testdata/models/README.md for the signatures.
"""

import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 13
IR_VERSION = 8
PRODUCER = "sluice-gen-fixtures"
BATCH = "batch"

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

# Weights of the student-success classifier, one per feature, hand chosen.
# Features (already scaled to roughly [0, 1]): attendance, homework, midterm,
# study hours, prior GPA, sleep, part-time job hours, absences.
STUDENT_V1_W = [2.5, 1.8, 3.0, 1.2, 2.2, 0.6, -0.9, -2.0]
STUDENT_V1_B = -4.5
# Version 2: retrained, slightly different emphasis.
STUDENT_V2_W = [2.1, 2.2, 2.7, 1.5, 1.9, 0.8, -1.2, -1.6]
STUDENT_V2_B = -4.2


def vinfo(name, elem_type, dims):
    return helper.make_tensor_value_info(name, elem_type, dims)


def make_model(graph):
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name=PRODUCER,
        producer_version="1",
    )
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    return model


def const(name, array):
    return numpy_helper.from_array(np.asarray(array), name=name)


def student_success(weights, bias, version):
    w = np.asarray(weights, dtype=np.float32).reshape(8, 1)
    b = np.asarray([bias], dtype=np.float32)
    nodes = [
        helper.make_node("MatMul", ["features", "W"], ["logits_mm"]),
        helper.make_node("Add", ["logits_mm", "b"], ["logits"]),
        helper.make_node("Sigmoid", ["logits"], ["probability"]),
        helper.make_node("Greater", ["probability", "threshold"], ["passed"]),
        helper.make_node("Cast", ["passed"], ["label"], to=TensorProto.INT64),
    ]
    graph = helper.make_graph(
        nodes,
        "student_success_v%d" % version,
        [vinfo("features", TensorProto.FLOAT, [BATCH, 8])],
        [
            vinfo("probability", TensorProto.FLOAT, [BATCH, 1]),
            vinfo("label", TensorProto.INT64, [BATCH, 1]),
        ],
        initializer=[
            const("W", w),
            const("b", b),
            const("threshold", np.asarray(0.5, dtype=np.float32)),
        ],
    )
    return make_model(graph)


ALLTYPES = [
    ("bool", TensorProto.BOOL),
    ("uint8", TensorProto.UINT8),
    ("uint16", TensorProto.UINT16),
    ("uint32", TensorProto.UINT32),
    ("uint64", TensorProto.UINT64),
    ("int8", TensorProto.INT8),
    ("int16", TensorProto.INT16),
    ("int32", TensorProto.INT32),
    ("int64", TensorProto.INT64),
    ("fp16", TensorProto.FLOAT16),
    ("fp32", TensorProto.FLOAT),
    ("fp64", TensorProto.DOUBLE),
    ("string", TensorProto.STRING),
]


def alltypes():
    nodes, inputs, outputs = [], [], []
    for lower, et in ALLTYPES:
        nodes.append(helper.make_node("Identity", ["in_" + lower], ["out_" + lower]))
        inputs.append(vinfo("in_" + lower, et, [BATCH, 3]))
        outputs.append(vinfo("out_" + lower, et, [BATCH, 3]))
    return make_model(helper.make_graph(nodes, "alltypes", inputs, outputs))


def nobatch():
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "c"], ["y"])],
        "nobatch",
        [vinfo("x", TensorProto.FLOAT, [2, 2])],
        [vinfo("y", TensorProto.FLOAT, [2, 2])],
        initializer=[const("c", np.array([[1, 2], [3, 4]], dtype=np.float32))],
    )
    return make_model(graph)


def rowid():
    graph = helper.make_graph(
        [
            helper.make_node("Mul", ["x", "two"], ["x2"]),
            helper.make_node("Add", ["x2", "one"], ["y"]),
            helper.make_node("ReduceSum", ["x", "axes"], ["sum"], keepdims=1),
        ],
        "rowid",
        [vinfo("x", TensorProto.FLOAT, [BATCH, 4])],
        [
            vinfo("y", TensorProto.FLOAT, [BATCH, 4]),
            vinfo("sum", TensorProto.FLOAT, [BATCH, 1]),
        ],
        initializer=[
            const("two", np.asarray(2.0, dtype=np.float32)),
            const("one", np.asarray(1.0, dtype=np.float32)),
            const("axes", np.array([1], dtype=np.int64)),
        ],
    )
    return make_model(graph)


def mlp():
    rng = np.random.default_rng(7)
    sizes = [16, 64, 64, 4]
    inits, nodes = [], []
    prev = "x"
    for i in range(3):
        fan_in, fan_out = sizes[i], sizes[i + 1]
        w = (rng.standard_normal((fan_in, fan_out)) * (1.0 / np.sqrt(fan_in))).astype(np.float32)
        b = (rng.standard_normal(fan_out) * 0.01).astype(np.float32)
        inits += [const("W%d" % i, w), const("B%d" % i, b)]
        out = "h%d" % i
        nodes.append(helper.make_node("Gemm", [prev, "W%d" % i, "B%d" % i], [out]))
        prev = out
        if i < 2:
            nodes.append(helper.make_node("Relu", [out], [out + "_relu"]))
            prev = out + "_relu"
    nodes.append(helper.make_node("Softmax", [prev], ["probs"], axis=1))
    graph = helper.make_graph(
        nodes,
        "mlp",
        [vinfo("x", TensorProto.FLOAT, [BATCH, 16])],
        [vinfo("probs", TensorProto.FLOAT, [BATCH, 4])],
        initializer=inits,
    )
    return make_model(graph)


def dynamic2():
    graph = helper.make_graph(
        [helper.make_node("Mul", ["x", "three"], ["y"])],
        "dynamic2",
        [vinfo("x", TensorProto.FLOAT, [BATCH, "width"])],
        [vinfo("y", TensorProto.FLOAT, [BATCH, "width"])],
        initializer=[const("three", np.asarray(3.0, dtype=np.float32))],
    )
    return make_model(graph)


def fp16out():
    graph = helper.make_graph(
        [helper.make_node("Cast", ["x"], ["h"], to=TensorProto.FLOAT16)],
        "fp16out",
        [vinfo("x", TensorProto.FLOAT, [BATCH, 2])],
        [vinfo("h", TensorProto.FLOAT16, [BATCH, 2])],
    )
    return make_model(graph)


def failing():
    # Reshape [batch, 2] to the constant shape [7, 11]: the model loads, but
    # inference fails at run time unless the input holds exactly 77 elements
    # (impossible with 2 columns), so every real call errors. The result is
    # reshaped back to Shape(x) so that shape inference (ONNX Runtime's too)
    # keeps the declared output signature [batch, 2]; with the [7, 11]
    # Reshape feeding y directly, ONNX Runtime would report y as [7, -1].
    graph = helper.make_graph(
        [
            helper.make_node("Reshape", ["x", "shape"], ["x_7x11"]),
            helper.make_node("Shape", ["x"], ["x_shape"]),
            helper.make_node("Reshape", ["x_7x11", "x_shape"], ["y"]),
        ],
        "failing",
        [vinfo("x", TensorProto.FLOAT, [BATCH, 2])],
        [vinfo("y", TensorProto.FLOAT, [BATCH, 2])],
        initializer=[const("shape", np.array([7, 11], dtype=np.int64))],
    )
    return make_model(graph)


def student_broken():
    # Same signature as student-success, for rollback demos and tests: it
    # passes the all-zero warm-up but fails on real inputs. The first
    # feature, scaled by 100, indexes a one-entry table, so any |x0| >= 0.01
    # is out of bounds and ONNX Runtime refuses the Gather.
    nodes = [
        helper.make_node("Slice", ["features", "starts", "ends", "axes"], ["x0"]),
        helper.make_node("Abs", ["x0"], ["x0_abs"]),
        helper.make_node("Mul", ["x0_abs", "hundred"], ["x0_scaled"]),
        helper.make_node("Cast", ["x0_scaled"], ["idx"], to=TensorProto.INT64),
        helper.make_node("Gather", ["table", "idx"], ["probability"], axis=0),
        helper.make_node("Greater", ["probability", "threshold"], ["passed"]),
        helper.make_node("Cast", ["passed"], ["label"], to=TensorProto.INT64),
    ]
    graph = helper.make_graph(
        nodes,
        "student_broken",
        [vinfo("features", TensorProto.FLOAT, [BATCH, 8])],
        [
            vinfo("probability", TensorProto.FLOAT, [BATCH, 1]),
            vinfo("label", TensorProto.INT64, [BATCH, 1]),
        ],
        initializer=[
            const("starts", np.array([0], dtype=np.int64)),
            const("ends", np.array([1], dtype=np.int64)),
            const("axes", np.array([1], dtype=np.int64)),
            const("hundred", np.asarray(100.0, dtype=np.float32)),
            const("table", np.array([0.5], dtype=np.float32)),
            const("threshold", np.asarray(0.5, dtype=np.float32)),
        ],
    )
    return make_model(graph)


def student_slow():
    # student-success v2's answers, plus a chain of 1000 [batch,256]x[256,256]
    # MatMuls that depends on the input (so it cannot be folded away) and is
    # added in multiplied by zero: a correct but slow candidate, for
    # latency-based rollback.
    w = np.asarray(STUDENT_V2_W, dtype=np.float32).reshape(8, 1)
    b = np.asarray([STUDENT_V2_B], dtype=np.float32)
    rng = np.random.default_rng(11)
    nodes = [
        helper.make_node("MatMul", ["features", "W"], ["logits_mm"]),
        helper.make_node("Add", ["logits_mm", "b"], ["logits"]),
        helper.make_node("MatMul", ["features", "E"], ["t0"]),
    ]
    for i in range(1000):
        nodes.append(helper.make_node("MatMul", ["t%d" % i, "I"], ["t%d" % (i + 1)]))
    nodes += [
        helper.make_node("ReduceSum", ["t1000"], ["s"], keepdims=1, axes=[1]) if OPSET < 13 else
        helper.make_node("ReduceSum", ["t1000", "sum_axes"], ["s"], keepdims=1),
        helper.make_node("Mul", ["s", "zero"], ["s0"]),
        helper.make_node("Add", ["logits", "s0"], ["logits2"]),
        helper.make_node("Sigmoid", ["logits2"], ["probability"]),
        helper.make_node("Greater", ["probability", "threshold"], ["passed"]),
        helper.make_node("Cast", ["passed"], ["label"], to=TensorProto.INT64),
    ]
    graph = helper.make_graph(
        nodes,
        "student_slow",
        [vinfo("features", TensorProto.FLOAT, [BATCH, 8])],
        [
            vinfo("probability", TensorProto.FLOAT, [BATCH, 1]),
            vinfo("label", TensorProto.INT64, [BATCH, 1]),
        ],
        initializer=[
            const("W", w),
            const("b", b),
            const("E", (rng.standard_normal((8, 256)) * 0.1).astype(np.float32)),
            const("I", np.eye(256, dtype=np.float32)),
            const("sum_axes", np.array([1], dtype=np.int64)),
            const("zero", np.asarray(0.0, dtype=np.float32)),
            const("threshold", np.asarray(0.5, dtype=np.float32)),
        ],
    )
    return make_model(graph)


FIXTURES = [
    ("models/student-success/1/model.onnx", lambda: student_success(STUDENT_V1_W, STUDENT_V1_B, 1)),
    ("models/student-success/2/model.onnx", lambda: student_success(STUDENT_V2_W, STUDENT_V2_B, 2)),
    ("testdata/models/alltypes/1/model.onnx", alltypes),
    ("testdata/models/nobatch/1/model.onnx", nobatch),
    ("testdata/models/rowid/1/model.onnx", rowid),
    ("testdata/models/mlp/1/model.onnx", mlp),
    ("testdata/models/dynamic2/1/model.onnx", dynamic2),
    ("testdata/models/fp16out/1/model.onnx", fp16out),
    ("testdata/models/failing/1/model.onnx", failing),
    ("testdata/models/student-broken/1/model.onnx", student_broken),
    ("testdata/models/student-slow/1/model.onnx", student_slow),
]


def describe(vi):
    t = vi.type.tensor_type
    dims = [d.dim_param if d.HasField("dim_param") else d.dim_value for d in t.shape.dim]
    return "%s %s %s" % (vi.name, TensorProto.DataType.Name(t.elem_type), dims)


def main():
    for rel, build in FIXTURES:
        path = os.path.join(ROOT, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        model = build()
        # SerializeToString(deterministic=True) fixes field order; write the
        # bytes ourselves so the file is identical on every run.
        data = model.SerializeToString(deterministic=True)
        with open(path, "wb") as f:
            f.write(data)

    # Verify: reload each file, check it, print its signature.
    for rel, _ in FIXTURES:
        model = onnx.load(os.path.join(ROOT, rel))
        onnx.checker.check_model(model)
        print(rel)
        for vi in model.graph.input:
            print("  in  " + describe(vi))
        for vi in model.graph.output:
            print("  out " + describe(vi))
    return 0


if __name__ == "__main__":
    sys.exit(main())
