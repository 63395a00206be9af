// Package v2 is the Open Inference Protocol (KServe v2) wire codec, with
// Triton's binary tensor extension: it decodes infer requests and encodes
// their responses for the server, and encodes requests and decodes
// responses for the client. Both directions share one JSON scanner and one
// set of checks, so a value the server refuses the client refuses too.
//
// Invariants:
//   - It knows bytes and tensors, not HTTP: header values such as
//     Inference-Header-Content-Length come in and go out as plain ints.
//   - Malformed input is a tensor.InvalidArgument error that names what is
//     wrong and what was expected, never a panic.
//   - A request is bounded while it is read (Limits): inputs, outputs,
//     rank, nesting depth are invalid arguments past their limit, a shape
//     promising more elements than MaxElements is tensor.TooLarge. Each
//     message names the limit and its value. Shape products are checked
//     before they are multiplied, and no reader recurses past MaxDepth.
//   - JSON tensor data is parsed by hand into typed little-endian bytes,
//     never through reflection, and written by hand the same way.
//   - Decoded tensors are not copied: binary data points into the body,
//     JSON data into the Call's buffers, which a pooled Call reuses.
//   - What the encoders write, the decoders read back to equal tensors;
//     in JSON, NaN and infinities excepted (written as null, read as NaN),
//     and BYTES that are not UTF-8 (written as code points).
package v2
