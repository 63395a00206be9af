// Package tensor holds the values that travel along the request path: data
// types, shapes, tensors stored as typed little-endian bytes, inference
// requests and responses, and the error kinds every layer wraps its causes in.
//
// A Tensor's Data is always the raw little-endian encoding of its elements;
// BYTES elements are each a 4-byte little-endian length followed by that many
// bytes, the layout of Triton's binary tensor extension. Keeping one layout
// from the wire to ONNX Runtime means no layer converts element by element
// unless the wire format (JSON) forces it.
package tensor
