package registry

import (
	"slices"

	"github.com/sluice-serving/sluice/runtime"
	"github.com/sluice-serving/sluice/tensor"
)

// checked is a call's checked request: its inputs in the model's order and
// the indices of the outputs to return. A pooled pending call reuses it.
type checked struct {
	inputs []tensor.Tensor
	seen   []bool
	want   []int
}

// checkRequest verifies a request against the signature callers see and
// fills c with its inputs in the model's order and the indices of the
// outputs to return, in the order asked for (all, in model order, when none
// are named).
func checkRequest(model string, sig runtime.Signature, req *tensor.Request, c *checked) error {
	c.inputs = resize(c.inputs, len(sig.Inputs))
	c.seen = resize(c.seen, len(sig.Inputs))
	ordered, seen := c.inputs, c.seen
	for i := range req.Inputs {
		in := &req.Inputs[i]
		j := indexOf(sig.Inputs, in.Name)
		if j < 0 {
			return tensor.Errorf(tensor.InvalidArgument, "input %q: model %q has no such input; its inputs are %s", in.Name, model, ioNames(sig.Inputs))
		}
		if seen[j] {
			return tensor.Errorf(tensor.InvalidArgument, "input %q: given twice", in.Name)
		}
		if err := checkInput(in, sig.Inputs[j]); err != nil {
			return err
		}
		if err := sameBatch(sig, in, &req.Inputs[0]); err != nil {
			return err
		}
		seen[j] = true
		ordered[j] = *in
	}
	for j, ok := range seen {
		if !ok {
			io := sig.Inputs[j]
			return tensor.Errorf(tensor.InvalidArgument, "input %q: missing; model %q expects it (%s %s); its inputs are %s", io.Name, model, io.DataType, tensor.FormatShape(io.Dims), ioNames(sig.Inputs))
		}
	}
	var err error
	c.want, err = wantedOutputs(model, sig, req.Outputs, c.want)
	return err
}

// resize returns s with n zero elements, reusing its array when it fits.
func resize[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	s = s[:n]
	clear(s)
	return s
}

func checkInput(in *tensor.Tensor, io runtime.IO) error {
	if in.DataType != io.DataType {
		return tensor.Errorf(tensor.InvalidArgument, "input %q: datatype %s, model expects %s", in.Name, in.DataType, io.DataType)
	}
	if len(in.Shape) != len(io.Dims) {
		return tensor.Errorf(tensor.InvalidArgument, "input %q: shape %s has %d dimensions, model expects %d (%s)", in.Name, tensor.FormatShape(in.Shape), len(in.Shape), len(io.Dims), tensor.FormatShape(io.Dims))
	}
	for k, d := range in.Shape {
		if d <= 0 {
			return tensor.Errorf(tensor.InvalidArgument, "input %q: dimension %d is %d, expected a positive size", in.Name, k, d)
		}
		if io.Dims[k] != -1 && d != io.Dims[k] {
			return tensor.Errorf(tensor.InvalidArgument, "input %q: dimension %d is %d, model expects %d (%s)", in.Name, k, d, io.Dims[k], tensor.FormatShape(io.Dims))
		}
	}
	return in.CheckData()
}

// sameBatch makes sure every input of a batched model agrees on dimension
// 0 with the first input (shapes are already checked for rank).
func sameBatch(sig runtime.Signature, in, first *tensor.Tensor) error {
	if sig.Batched && in != first && in.Shape[0] != first.Shape[0] {
		return tensor.Errorf(tensor.InvalidArgument, "input %q: batch size %d differs from input %q's %d", in.Name, in.Shape[0], first.Name, first.Shape[0])
	}
	return nil
}

func wantedOutputs(model string, sig runtime.Signature, asked []tensor.OutputRequest, buf []int) ([]int, error) {
	if len(asked) == 0 {
		all := resize(buf, len(sig.Outputs))
		for i := range all {
			all[i] = i
		}
		return all, nil
	}
	want := resize(buf, len(asked))
	for i, o := range asked {
		j := indexOf(sig.Outputs, o.Name)
		if j < 0 {
			return nil, tensor.Errorf(tensor.InvalidArgument, "output %q: model %q has no such output; its outputs are %s", o.Name, model, ioNames(sig.Outputs))
		}
		// A linear scan: the codec bounds the outputs (v2.Limits) and a
		// map would allocate on every call.
		if slices.Contains(want[:i], j) {
			return nil, tensor.Errorf(tensor.InvalidArgument, "output %q: requested twice", o.Name)
		}
		want[i] = j
	}
	return want, nil
}
