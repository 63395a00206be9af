package v2

import "github.com/sluice-serving/sluice/tensor"

// What a pooled Call keeps of its buffers between calls, at most: enough
// for a batch of PP-OCR crops sent as JSON, not a rare giant body.
const (
	keepDataBytes   = 1 << 20
	keepShapeDims   = 1 << 10
	keepTensorSlots = 64
)

// Call is one decoded infer request and what its response encoder needs to
// know: which outputs go back binary. A Call is reusable: DecodeRequest
// resets it first, and Reset lets go of the request so that a pooled Call
// pins no body; its buffers stay for the next call.
type Call struct {
	// Request is the decoded request. Binary inputs point into the body
	// given to DecodeRequest, JSON inputs and shapes into the Call's own
	// buffers; both are valid until the Call is reset or decodes again.
	// Request.Outputs are the requested outputs in order, each one's Binary
	// settled: its own binary_data parameter, else BinaryOutput.
	Request tensor.Request
	// BinaryOutput is the request's binary_data_output parameter: the
	// layout of outputs without a binary_data of their own, and of every
	// output when the request lists none.
	BinaryOutput bool
	// Limits bound what a request may ask; zero fields take DefaultLimits.
	// Reset keeps them, so a pooled Call is configured once.
	Limits Limits

	binary    bool     // some output goes back binary: the response is binary-layout
	outBinary []int8   // per listed output: -1 unset, 0 false, 1 true
	outNames  []string // the last call's output names, for intern
	dec       tensorDecoder
}

// Reset empties the call for reuse.
func (c *Call) Reset() {
	ins := c.Request.Inputs[:cap(c.Request.Inputs)]
	for i := range ins {
		// Names stay: the next call to the same model reuses them (intern).
		ins[i] = tensor.Tensor{Name: ins[i].Name}
	}
	if cap(ins) > keepTensorSlots {
		ins = nil
	}
	// Output names stay for intern too; a shadow copy of the call clones
	// the list it keeps, so the array is reused.
	outs := c.Request.Outputs
	if cap(outs) > keepTensorSlots {
		outs = nil
	}
	c.outNames = c.outNames[:0]
	for _, o := range outs {
		c.outNames = append(c.outNames, o.Name)
	}
	c.Request = tensor.Request{Inputs: ins[:0], Outputs: outs[:0]}
	c.BinaryOutput, c.binary = false, false
	c.outBinary = c.outBinary[:0]
	c.dec.reset()
}

// Binary reports whether the response takes the binary layout: some output
// goes back as raw bytes after a JSON header.
func (c *Call) Binary() bool { return c != nil && c.binary }

// resolveBinary settles which outputs go back binary: an output's own
// binary_data wins over the request's binary_data_output.
func (c *Call) resolveBinary() {
	c.binary = len(c.outBinary) == 0 && c.BinaryOutput
	for i, b := range c.outBinary {
		on := b == 1 || (b == -1 && c.BinaryOutput)
		c.Request.Outputs[i].Binary = on
		c.binary = c.binary || on
	}
}

// binaryFor reports whether output i, named name, of the response goes
// back binary. The registry answers the requested outputs in order; the
// name check guards a response that does not.
func (c *Call) binaryFor(i int, name string) bool {
	if c == nil {
		return false
	}
	outs := c.Request.Outputs
	if i < len(outs) && outs[i].Name == name {
		return outs[i].Binary
	}
	for _, o := range outs {
		if o.Name == name {
			return o.Binary
		}
	}
	return c.BinaryOutput
}

// spare returns the element just past s's length, left by an earlier call,
// or the zero value.
func spare[T any](s []T) (v T) {
	if len(s) < cap(s) {
		v = s[:len(s)+1][len(s)]
	}
	return v
}

// prevOutputName is the name the last call gave its output i, or "".
func (c *Call) prevOutputName(i int) string {
	if i < len(c.outNames) {
		return c.outNames[i]
	}
	return ""
}

// intern returns b as a string, reusing prev when equal, so a pooled Call
// decoding calls to the same model does not allocate their names again.
func intern(b []byte, prev string) string {
	if string(b) == prev {
		return prev
	}
	return string(b)
}
