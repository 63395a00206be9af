package server

import (
	"github.com/sluice-serving/sluice/tensor"
)

// inferCall is a decoded infer request plus what only HTTP cares about:
// which outputs go back as binary.
type inferCall struct {
	req tensor.Request
	// allBinary is binary_data_output: the default for every output.
	allBinary bool
	// binary is true when any output goes back binary, so the response
	// takes the binary layout.
	binary bool
}

// pendingInput is an input still waiting for its data: a JSON span seen
// before its datatype, or a slice of the binary section.
type pendingInput struct {
	dataStart, dataEnd int   // span of "data" in the header, if deferred
	binarySize         int64 // binary_data_size, or -1
	hasData            bool
}

// decodeInfer decodes an infer request body. headerLen is the value of
// Inference-Header-Content-Length, or -1 when the body is all JSON. Binary
// inputs point into body, which must outlive the call.
func decodeInfer(body []byte, headerLen int, call *inferCall) error {
	header, bin := body, []byte(nil)
	if headerLen >= 0 {
		if headerLen > len(body) {
			return tensor.Errorf(tensor.InvalidArgument, "Inference-Header-Content-Length is %d but the body has only %d bytes", headerLen, len(body))
		}
		header, bin = body[:headerLen], body[headerLen:]
	}
	s := &scanner{b: header}
	var pend []pendingInput
	var outBinary []int8 // per named output: -1 unset, 0 false, 1 true
	err := s.object(func(key []byte) error {
		switch string(key) {
		case "id":
			id, err := s.str()
			call.req.ID = string(id)
			return err
		case "parameters":
			p, err := decodeParams(s)
			call.req.Parameters = p
			if b, ok := p["binary_data_output"].(bool); ok {
				call.allBinary = b
			}
			return err
		case "inputs":
			return s.array(func() error {
				t, p, err := decodeInput(s)
				call.req.Inputs = append(call.req.Inputs, t)
				pend = append(pend, p)
				return err
			})
		case "outputs":
			return s.array(func() error {
				o, b, err := decodeOutput(s)
				call.req.Outputs = append(call.req.Outputs, o)
				outBinary = append(outBinary, b)
				return err
			})
		}
		return s.skip()
	})
	if err == nil {
		err = s.end()
	}
	if err != nil {
		return err
	}
	if len(call.req.Inputs) == 0 {
		return tensor.Errorf(tensor.InvalidArgument, "request has no inputs")
	}
	if err := fillInputs(header, bin, call.req.Inputs, pend); err != nil {
		return err
	}
	resolveBinary(call, outBinary)
	return nil
}

// resolveBinary settles which outputs go back binary: an output's own
// binary_data wins over the request's binary_data_output.
func resolveBinary(call *inferCall, outBinary []int8) {
	call.binary = len(outBinary) == 0 && call.allBinary
	for i, b := range outBinary {
		on := b == 1 || (b == -1 && call.allBinary)
		call.req.Outputs[i].Binary = on
		call.binary = call.binary || on
	}
}

func decodeParams(s *scanner) (tensor.Parameters, error) {
	if s.peek() != '{' {
		return nil, s.errorf("\"parameters\" must be an object")
	}
	v, err := s.value(0)
	p, _ := v.(tensor.Parameters)
	return p, err
}

func decodeInput(s *scanner) (tensor.Tensor, pendingInput, error) {
	var t tensor.Tensor
	p := pendingInput{binarySize: -1}
	haveShape := false
	err := s.object(func(key []byte) error {
		switch string(key) {
		case "name":
			b, err := s.str()
			t.Name = string(b)
			return err
		case "datatype":
			b, err := s.str()
			if err != nil {
				return err
			}
			t.DataType, err = tensor.ParseDataTypeBytes(b)
			if err != nil {
				return tensor.Errorf(tensor.InvalidArgument, "input %q: %w", t.Name, err)
			}
			return nil
		case "shape":
			var err error
			t.Shape, err = decodeShape(s, t.Name)
			haveShape = true
			return err
		case "parameters":
			params, err := decodeParams(s)
			if err != nil {
				return err
			}
			return binarySize(params, t.Name, &p)
		case "data":
			p.hasData = true
			if t.DataType.Valid() && haveShape {
				var err error
				t.Data, err = decodeData(s, t.Name, t.DataType, tensor.Elements(t.Shape))
				return err
			}
			p.dataStart = s.i
			err := s.skipArray()
			p.dataEnd = s.i
			return err
		}
		return s.skip()
	})
	if err != nil {
		return t, p, err
	}
	return t, p, checkInputHeader(&t, haveShape)
}

func checkInputHeader(t *tensor.Tensor, haveShape bool) error {
	switch {
	case t.Name == "":
		return tensor.Errorf(tensor.InvalidArgument, "an input has no \"name\"")
	case !t.DataType.Valid():
		return tensor.Errorf(tensor.InvalidArgument, "input %q: no \"datatype\"", t.Name)
	case !haveShape:
		return tensor.Errorf(tensor.InvalidArgument, "input %q: no \"shape\"", t.Name)
	}
	return nil
}

func binarySize(params tensor.Parameters, name string, p *pendingInput) error {
	v, ok := params["binary_data_size"]
	if !ok {
		return nil
	}
	n, ok := v.(int64)
	if !ok || n < 0 {
		return tensor.Errorf(tensor.InvalidArgument, "input %q: binary_data_size must be a non-negative integer, got %v", name, v)
	}
	p.binarySize = n
	return nil
}

func decodeShape(s *scanner, name string) ([]int64, error) {
	shape := make([]int64, 0, 4)
	err := s.array(func() error {
		n, err := s.number()
		if err != nil {
			return err
		}
		d, ok := parseInt(n)
		if !ok || d < 0 {
			return tensor.Errorf(tensor.InvalidArgument, "input %q: shape dimension %s is not a non-negative integer", name, n)
		}
		shape = append(shape, d)
		return nil
	})
	if err == nil && len(shape) > 32 {
		err = tensor.Errorf(tensor.InvalidArgument, "input %q: shape has %d dimensions, at most 32 are supported", name, len(shape))
	}
	return shape, err
}

func decodeOutput(s *scanner) (tensor.OutputRequest, int8, error) {
	var o tensor.OutputRequest
	bin := int8(-1)
	err := s.object(func(key []byte) error {
		switch string(key) {
		case "name":
			b, err := s.str()
			o.Name = string(b)
			return err
		case "parameters":
			p, err := decodeParams(s)
			if b, ok := p["binary_data"].(bool); ok {
				bin = 0
				if b {
					bin = 1
				}
			}
			return err
		}
		return s.skip()
	})
	if err == nil && o.Name == "" {
		err = tensor.Errorf(tensor.InvalidArgument, "an output has no \"name\"")
	}
	return o, bin, err
}

// fillInputs gives each input its data: deferred JSON spans are parsed now
// that the datatype is known, binary inputs take their slices in order.
func fillInputs(header, bin []byte, ins []tensor.Tensor, pend []pendingInput) error {
	for i := range ins {
		t, p := &ins[i], pend[i]
		switch {
		case p.binarySize >= 0:
			if p.hasData {
				return tensor.Errorf(tensor.InvalidArgument, "input %q: has both \"data\" and binary_data_size", t.Name)
			}
			if p.binarySize > int64(len(bin)) {
				return tensor.Errorf(tensor.InvalidArgument, "input %q: binary_data_size is %d but only %d bytes of binary data remain", t.Name, p.binarySize, len(bin))
			}
			t.Data, bin = bin[:p.binarySize:p.binarySize], bin[p.binarySize:]
		case !p.hasData:
			return tensor.Errorf(tensor.InvalidArgument, "input %q: no \"data\" and no binary_data_size parameter", t.Name)
		case t.Data == nil:
			var err error
			s := &scanner{b: header[:p.dataEnd], i: p.dataStart}
			if t.Data, err = decodeData(s, t.Name, t.DataType, tensor.Elements(t.Shape)); err != nil {
				return err
			}
		}
	}
	if len(bin) > 0 {
		return tensor.Errorf(tensor.InvalidArgument, "binary data has %d bytes more than the inputs' binary_data_size parameters account for", len(bin))
	}
	return nil
}
