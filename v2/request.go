package v2

import "github.com/sluice-serving/sluice/tensor"

// DecodeRequest decodes an infer request body into call, resetting it
// first. headerLen is the value of Inference-Header-Content-Length, or -1
// when the body is all JSON. Binary inputs point into body, which must
// outlive the use of call.Request.
func DecodeRequest(body []byte, headerLen int, call *Call) error {
	call.Reset()
	header, bin, err := split(body, headerLen)
	if err != nil {
		return err
	}
	call.dec.role = "input"
	call.dec.lim = call.Limits.orDefault()
	s := &scanner{b: header, maxDepth: call.dec.lim.MaxDepth}
	err = s.object(func(key []byte) error { return call.field(s, key) })
	if err == nil {
		err = s.end()
	}
	if err != nil {
		return err
	}
	if len(call.Request.Inputs) == 0 {
		return tensor.Errorf(tensor.InvalidArgument, "request has no inputs")
	}
	if err := call.dec.fill(header, bin, call.Request.Inputs); err != nil {
		return err
	}
	call.resolveBinary()
	return nil
}

// split cuts a body into its JSON header and binary section; headerLen
// -1 means there is none, any other negative is a bad header.
func split(body []byte, headerLen int) (header, bin []byte, err error) {
	if headerLen == -1 {
		return body, nil, nil
	}
	if headerLen < 0 {
		return nil, nil, tensor.Errorf(tensor.InvalidArgument, "Inference-Header-Content-Length is %d but must be between 0 and the body's %d bytes", headerLen, len(body))
	}
	if headerLen > len(body) {
		return nil, nil, tensor.Errorf(tensor.InvalidArgument, "Inference-Header-Content-Length is %d but the body has only %d bytes", headerLen, len(body))
	}
	return body[:headerLen], body[headerLen:], nil
}

// field reads one top-level key of a request.
func (c *Call) field(s *scanner, key []byte) error {
	r := &c.Request
	switch string(key) {
	case "id":
		id, err := s.str()
		r.ID = string(id)
		return err
	case "parameters":
		p, err := decodeParams(s)
		r.Parameters = p
		if b, ok := p["binary_data_output"].(bool); ok {
			c.BinaryOutput = b
		}
		return err
	case "inputs":
		return s.array(func() error {
			if len(r.Inputs) == c.dec.lim.MaxInputs {
				return tooMany("inputs", c.dec.lim.MaxInputs)
			}
			t, err := c.dec.tensor(s, spare(r.Inputs).Name)
			r.Inputs = append(r.Inputs, t)
			return err
		})
	case "outputs":
		return s.array(func() error {
			if len(r.Outputs) == c.dec.lim.MaxOutputs {
				return tooMany("outputs", c.dec.lim.MaxOutputs)
			}
			o, b, err := decodeOutput(s, c.prevOutputName(len(r.Outputs)))
			r.Outputs = append(r.Outputs, o)
			c.outBinary = append(c.outBinary, b)
			return err
		})
	}
	return s.skip()
}

func decodeParams(s *scanner) (tensor.Parameters, error) {
	p := tensor.Parameters{}
	err := s.params(func(key []byte, v any) { p[string(key)] = v })
	return p, err
}

// decodeOutput reads a requested output and its binary_data parameter:
// -1 when not given as a bool, else 0 or 1; the last one counts.
func decodeOutput(s *scanner, prevName string) (tensor.OutputRequest, int8, error) {
	var o tensor.OutputRequest
	bin := int8(-1)
	err := s.object(func(key []byte) error {
		switch string(key) {
		case "name":
			b, err := s.str()
			o.Name = intern(b, prevName)
			return err
		case "parameters":
			var last any
			err := s.params(func(key []byte, v any) {
				if string(key) == "binary_data" {
					last = v
				}
			})
			if b, ok := last.(bool); ok {
				bin = boolFlag(b)
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

func boolFlag(b bool) int8 {
	if b {
		return 1
	}
	return 0
}
