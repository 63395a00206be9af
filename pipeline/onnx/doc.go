// Package onnx writes a trained classifier (pipeline/model) as an ONNX graph
// that Sluice serves like any other model, and proves the file computes what
// the Go model computes.
//
// Invariants of an exported file:
//   - its signature is that of models/student-success: input "features"
//     FP32 [batch, len(Features)], outputs "probability" FP32 [batch, 1] and
//     "label" INT64 [batch, 1];
//   - feature normalisation is folded into the first layer's weights, so the
//     graph is only MatMul, Add, Relu, Sigmoid, Greater and Cast (opset 13,
//     IR version 8, which ONNX Runtime 1.30 loads);
//   - the same model always gives the same bytes: deterministic marshalling,
//     no timestamps, so exported files can be compared and committed.
package onnx
