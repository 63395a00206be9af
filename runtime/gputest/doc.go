// Package gputest holds the tests of the GPU build of ONNX Runtime (`make
// ort-gpu`): the 1.29 core running a model through onnxruntime_go, and the
// CUDA and TensorRT providers serving on the host's GPUs. They are built
// only with the gpu tag (go test -tags gpu ./runtime/gputest) into a test
// binary of their own, since a process holds one ONNX Runtime library, and
// scripts/gpu-check.sh runs them on a GPU host. On a host without a GPU or
// the CUDA libraries the provider tests fail, naming what is missing.
package gputest
