// Package runtime wraps ONNX Runtime: the one process-wide environment, model
// signatures, session options and execution providers (CPU, CUDA, TensorRT,
// with the placement of sessions across GPUs and the fallback to the CPU),
// and the instances of each model version (each with its run options and
// reused batch buffers, on a session of its own or on one shared by the
// instances on its device) that run batches of tensor values.
//
// It is the only package that imports onnxruntime_go, and the only one that
// calls ONNX Runtime's C API itself (ortapi.go, for what onnxruntime_go does
// not wrap). Invariants: the environment is initialised once and destroyed
// last; every ORT object a function creates is destroyed by that function or
// by the owner it is handed to (a Model destroys each of its sessions once
// in Close; Load destroys the session options once the sessions exist);
// instance i has one user at a time, its owner (the batcher's worker i),
// while a shared session runs many instances' inferences at once, as ONNX
// Runtime allows; a context that ends while a run is in flight terminates
// that run alone, through its instance's RunOptions.
package runtime
