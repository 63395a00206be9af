package v2

import "github.com/sluice-serving/sluice/tensor"

// DecodeResponse decodes an infer response body with the scanner and the
// checks DecodeRequest uses: integer ranges per datatype, strict bools,
// FP16's and BF16's ranges, well-formed BYTES. JSON has no NaN or
// infinity, so a FP or BF16 element null (how AppendResponse writes them)
// reads back as NaN. Every
// output's data must hold what its shape promises. headerLen is the value
// of Inference-Header-Content-Length, or -1 when the body is all JSON.
// Binary outputs point into body.
func DecodeResponse(body []byte, headerLen int) (*tensor.Response, error) {
	header, bin, err := split(body, headerLen)
	if err != nil {
		return nil, err
	}
	r := &tensor.Response{}
	d := &tensorDecoder{role: "output", nullNaN: true, lim: responseLimits}
	s := &scanner{b: header, maxDepth: responseLimits.MaxDepth}
	err = s.object(func(key []byte) error { return responseField(s, d, r, key) })
	if err == nil {
		err = s.end()
	}
	if err == nil {
		err = d.fill(header, bin, r.Outputs)
	}
	for i := 0; err == nil && i < len(r.Outputs); i++ {
		err = checkOutput(&r.Outputs[i])
	}
	if err != nil {
		return nil, err
	}
	return r, nil
}

// responseField reads one top-level key of a response.
func responseField(s *scanner, d *tensorDecoder, r *tensor.Response, key []byte) error {
	var dst *string
	switch string(key) {
	case "model_name":
		dst = &r.ModelName
	case "model_version":
		dst = &r.ModelVersion
	case "id":
		dst = &r.ID
	case "outputs":
		return s.array(func() error {
			t, err := d.tensor(s, "")
			r.Outputs = append(r.Outputs, t)
			return err
		})
	default:
		return s.skip()
	}
	b, err := s.str()
	*dst = string(b)
	return err
}

// checkOutput verifies that an output's data holds exactly the elements
// its shape promises, so a client never indexes past it.
func checkOutput(t *tensor.Tensor) error {
	n, ok := elements(t.Shape)
	if !ok {
		return tensor.Errorf(tensor.InvalidArgument, "output %q: shape %s has more elements than a response can carry", t.Name, tensor.FormatShape(t.Shape))
	}
	if t.DataType == tensor.Bytes {
		got, err := tensor.CountBytesElements(t.Data)
		if err == nil && int64(got) != n {
			err = tensor.Errorf(tensor.InvalidArgument, "shape %s needs %d BYTES elements, got %d", tensor.FormatShape(t.Shape), n, got)
		}
		if err != nil {
			return tensor.Errorf(tensor.InvalidArgument, "output %q: %w", t.Name, err)
		}
		return nil
	}
	if want := n * int64(t.DataType.Size()); int64(len(t.Data)) != want {
		return tensor.Errorf(tensor.InvalidArgument, "output %q: shape %s of %s needs %d bytes (%d elements), got %d bytes", t.Name, tensor.FormatShape(t.Shape), t.DataType, want, n, len(t.Data))
	}
	return nil
}

// elements is the product of a shape's dimensions, refusing any count past
// 2^48 so that the byte arithmetic cannot overflow.
func elements(shape []int64) (int64, bool) {
	n := int64(1)
	for _, d := range shape {
		if d > 0 && n > (1<<48)/d {
			return 0, false
		}
		n *= d
	}
	return n, true
}
