package v2

import "github.com/sluice-serving/sluice/tensor"

// tensorDecoder reads a list of tensors, a request's inputs or a
// response's outputs, into memory it keeps for reuse.
type tensorDecoder struct {
	role    string // "input" or "output", for messages
	nullNaN bool   // null is a FP element: NaN (responses only)
	lim     Limits // rank and element bounds of shapes, the JSON depth
	pend    []pending
	shapes  arena[int64]
	data    arena[byte]
}

// pending is a tensor still waiting for its data: a JSON span seen before
// its datatype, or a slice of the binary section.
type pending struct {
	dataStart, dataEnd int   // span of "data" in the header, if deferred
	depth              int   // the scanner's nesting at dataStart
	binarySize         int64 // binary_data_size, or -1
	hasData, deferred  bool
}

func (d *tensorDecoder) reset() {
	d.pend = d.pend[:0]
	d.shapes.reset(keepShapeDims)
	d.data.reset(keepDataBytes)
}

func (d *tensorDecoder) errorf(name, format string, args ...any) error {
	return tensor.Errorf(tensor.InvalidArgument, "%s %q: "+format, append([]any{d.role, name}, args...)...)
}

// tensor reads one tensor object. Its data is read at once when its
// datatype and shape came first, else after the whole header (fill).
func (d *tensorDecoder) tensor(s *scanner, prevName string) (tensor.Tensor, error) {
	var t tensor.Tensor
	p := pending{binarySize: -1}
	haveShape := false
	err := s.object(func(key []byte) error {
		switch string(key) {
		case "name":
			b, err := s.str()
			t.Name = intern(b, prevName)
			return err
		case "datatype":
			return d.datatype(s, &t)
		case "shape":
			var err error
			t.Shape, err = d.shape(s, t.Name)
			haveShape = true
			return err
		case "parameters":
			return d.params(s, t.Name, &p)
		case "data":
			return d.dataOrDefer(s, &t, &p, haveShape)
		}
		return s.skip()
	})
	d.pend = append(d.pend, p)
	if err != nil {
		return t, err
	}
	return t, d.checkHeader(&t, haveShape)
}

func (d *tensorDecoder) datatype(s *scanner, t *tensor.Tensor) error {
	b, err := s.str()
	if err != nil {
		return err
	}
	t.DataType, err = tensor.ParseDataTypeBytes(b)
	if err != nil {
		return d.errorf(t.Name, "%w", err)
	}
	return nil
}

func (d *tensorDecoder) dataOrDefer(s *scanner, t *tensor.Tensor, p *pending, haveShape bool) error {
	p.hasData = true
	if t.DataType.Valid() && haveShape {
		var err error
		t.Data, err = d.decodeData(s, t)
		return err
	}
	p.deferred, p.dataStart, p.depth = true, s.i, s.depth
	err := s.skipArray()
	p.dataEnd = s.i
	return err
}

func (d *tensorDecoder) checkHeader(t *tensor.Tensor, haveShape bool) error {
	switch {
	case t.Name == "":
		return tensor.Errorf(tensor.InvalidArgument, "an %s has no \"name\"", d.role)
	case !t.DataType.Valid():
		return d.errorf(t.Name, "no \"datatype\"")
	case !haveShape:
		return d.errorf(t.Name, "no \"shape\"")
	}
	return nil
}

// params reads a tensor's parameters, of which only binary_data_size
// means anything here; the last one given counts.
func (d *tensorDecoder) params(s *scanner, name string, p *pending) error {
	var size any
	err := s.params(func(key []byte, v any) {
		if string(key) == "binary_data_size" {
			size = v
		}
	})
	if err != nil || size == nil {
		return err
	}
	n, ok := size.(int64)
	if !ok || n < 0 {
		return d.errorf(name, "binary_data_size must be a non-negative integer, got %v", size)
	}
	p.binarySize = n
	return nil
}

// shape reads a shape, refusing while it reads: a dimension that is
// negative or not an integer, more dimensions than MaxRank, and a product
// past MaxElements (checked before multiplying, so it cannot overflow).
// A zero dimension is accepted, and the dimensions after it count too.
func (d *tensorDecoder) shape(s *scanner, name string) ([]int64, error) {
	shape := d.shapes.start(4)
	n := int64(1) // product of the nonzero dimensions so far
	err := s.array(func() error {
		if len(shape) == d.lim.MaxRank {
			return d.errorf(name, "shape has more than %d dimensions, the limit (max_rank)", d.lim.MaxRank)
		}
		dim, err := d.dimension(s, name, len(shape))
		if err == nil && dim > 0 {
			if n > d.lim.MaxElements/dim {
				return d.tooLarge(name, shape, dim)
			}
			n *= dim
		}
		shape = append(shape, dim)
		return err
	})
	return d.shapes.done(shape), err
}

// dimension reads dimension k of a shape as a non-negative integer; -1
// ("any size") belongs in a model's config, never in a request.
func (d *tensorDecoder) dimension(s *scanner, name string, k int) (int64, error) {
	num, err := s.number()
	if err != nil {
		return 0, err
	}
	dim, ok := parseInt(num)
	if !ok || dim < 0 {
		return 0, d.errorf(name, "shape dimension %s is not a non-negative integer (dimension %d)", num, k)
	}
	return dim, nil
}

func (d *tensorDecoder) tooLarge(name string, shape []int64, dim int64) error {
	return tensor.Errorf(tensor.TooLarge, "%s %q: shape beginning %s has more than %d elements, the limit (max_elements)",
		d.role, name, tensor.FormatShape(append(shape[:len(shape):len(shape)], dim)), d.lim.MaxElements)
}

// fill gives each tensor its data: deferred JSON spans are parsed now that
// the datatype is known, binary tensors take their slices in order.
func (d *tensorDecoder) fill(header, bin []byte, ts []tensor.Tensor) error {
	for i := range ts {
		t, p := &ts[i], d.pend[i]
		var err error
		switch {
		case p.binarySize >= 0:
			bin, err = d.takeBinary(t, p, bin)
		case !p.hasData:
			err = d.errorf(t.Name, "no \"data\" and no binary_data_size parameter")
		case p.deferred:
			s := &scanner{b: header[:p.dataEnd], i: p.dataStart, depth: p.depth, maxDepth: d.lim.MaxDepth}
			t.Data, err = d.decodeData(s, t)
		}
		if err != nil {
			return err
		}
	}
	if len(bin) > 0 {
		return tensor.Errorf(tensor.InvalidArgument, "binary data has %d bytes more than the %ss' binary_data_size parameters account for", len(bin), d.role)
	}
	return nil
}

func (d *tensorDecoder) takeBinary(t *tensor.Tensor, p pending, bin []byte) ([]byte, error) {
	if p.hasData {
		return bin, d.errorf(t.Name, "has both \"data\" and binary_data_size")
	}
	if p.binarySize > int64(len(bin)) {
		return bin, d.errorf(t.Name, "binary_data_size is %d but only %d bytes of binary data remain", p.binarySize, len(bin))
	}
	t.Data = bin[:p.binarySize:p.binarySize]
	return bin[p.binarySize:], nil
}
