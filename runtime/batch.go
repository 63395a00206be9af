package runtime

import (
	"context"
	"slices"
	"time"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/sluice-serving/sluice/tensor"
)

// BatchItem is one call of a batch: inputs in signature order, already
// checked; RunBatch sets Outputs to this call's rows of every output.
type BatchItem struct {
	Inputs  []tensor.Tensor
	Outputs []tensor.Tensor
}

// Timing splits a batch's compute time as Triton's statistics do.
type Timing struct {
	Input, Infer, Output time.Duration
}

// RunBatch stacks the items along dimension 0 into instance's reused input
// buffers, runs them as one inference and slices every output back to the
// items. copied, when not nil, is called as soon as the items' input memory
// is no longer read. The caller owns instance exclusively for the call: the
// batcher lends instance i to one batch at a time.
func (m *Model) RunBatch(ctx context.Context, instance int, items []BatchItem, copied func()) (Timing, error) {
	return m.all[instance].runBatch(ctx, m.sig, items, copied)
}

func (inst *instance) runBatch(ctx context.Context, sig Signature, items []BatchItem, copied func()) (Timing, error) {
	var t Timing
	t0 := time.Now()
	ins, outs := inst.values[:len(sig.Inputs)], inst.values[len(sig.Inputs):]
	clear(inst.values)
	inst.fresh = inst.fresh[:0]
	defer func() { destroyAll(inst.fresh) }()
	rows, shared, err := inst.assemble(sig, items, ins)
	if err != nil {
		return t, err
	}
	if shared && copied != nil {
		copied()
	}
	results, err := inst.allocOutputs(sig, rows, outs)
	t1 := time.Now()
	if err == nil {
		err = inst.runTerminable(ctx, ins, outs)
		for i, v := range outs {
			if v != nil && !inst.kept(i, v) && results[i].Data == nil {
				inst.fresh = append(inst.fresh, v) // ORT allocated it
			}
		}
	}
	t2 := time.Now()
	if !shared && copied != nil {
		copied()
	}
	if err != nil {
		return t, err
	}
	for i := range results {
		if inst.kept(i, outs[i]) {
			results[i].Data = slices.Clone(inst.keptOut[i].buf)
			continue
		}
		if results[i].Data == nil {
			if results[i], err = fromValue(outs[i], sig.Outputs[i]); err != nil {
				return t, err
			}
		}
	}
	err = split(sig, results, items, rows)
	t.Input, t.Infer, t.Output = t1.Sub(t0), t2.Sub(t1), time.Since(t2)
	return t, err
}

// assemble makes one ORT value per input: a kept value that the items'
// bytes are copied into one after another, or, for a lone call's larger
// input, a value over its own bytes. It returns the batch's rows (-1 for a
// model without a batch dimension) and whether every input was copied.
func (inst *instance) assemble(sig Signature, items []BatchItem, ins []ort.Value) (rows int64, copied bool, err error) {
	rows = -1
	if sig.Batched {
		rows = 0
		for _, it := range items {
			rows += it.Inputs[0].Shape[0]
		}
	}
	copied = true
	for j := range sig.Inputs {
		first := &items[0].Inputs[j]
		size := 0
		for _, it := range items {
			size += len(it.Inputs[j].Data)
		}
		shape := first.Shape
		if len(items) > 1 {
			// The batch's shape, in the instance's scratch: a kept value
			// of that shape is then found without a slice per run.
			inst.shape = append(append(inst.shape[:0], rows), first.Shape[1:]...)
			shape = inst.shape
		}
		if first.DataType == tensor.Bytes || (len(items) == 1 && size > smallInputBytes) {
			// BYTES go to ORT as strings, which it copies in; a lone
			// large input is wrapped where it lies, read during the run.
			t := first
			if len(items) > 1 {
				t = stacked(first, items, j, shape)
			}
			v, err := newValue(t)
			if err != nil {
				return rows, false, err
			}
			inst.fresh = append(inst.fresh, v)
			ins[j] = v
			copied = copied && first.DataType == tensor.Bytes
			continue
		}
		k := &inst.keptIn[j]
		v, err := k.over(shape, first.DataType, size, "input", first.Name)
		if err != nil {
			return rows, false, err
		}
		buf := k.buf[:0]
		for _, it := range items {
			buf = append(buf, it.Inputs[j].Data...)
		}
		ins[j] = v
	}
	return rows, copied, nil
}

// stacked is input j of every item, BYTES elements one after another, in
// the batch's shape.
func stacked(first *tensor.Tensor, items []BatchItem, j int, shape []int64) *tensor.Tensor {
	var buf []byte
	for _, it := range items {
		buf = append(buf, it.Inputs[j].Data...)
	}
	return &tensor.Tensor{Name: first.Name, DataType: first.DataType, Shape: shape, Data: buf}
}

// split gives each item its rows of every output. The batch's output
// buffers are fresh for each batch, so items share them without copying.
func split(sig Signature, results []tensor.Tensor, items []BatchItem, rows int64) error {
	for k := range items {
		items[k].Outputs = items[k].Outputs[:0]
	}
	if len(items) == 1 {
		items[0].Outputs = append(items[0].Outputs, results...)
		return nil
	}
	for o := range results {
		full := &results[o]
		if len(full.Shape) == 0 || full.Shape[0] != rows {
			return tensor.Errorf(tensor.Internal, "output %q: shape %s does not follow the batch's %d rows, so it cannot be split between calls", full.Name, tensor.FormatShape(full.Shape), rows)
		}
		rowElems := tensor.Elements(full.Shape[1:])
		data := full.Data
		for k := range items {
			n := items[k].Inputs[0].Shape[0]
			part := tensor.Tensor{Name: full.Name, DataType: full.DataType, Shape: append([]int64{n}, full.Shape[1:]...)}
			part.Data, data = cutRows(data, full.DataType, n*rowElems)
			items[k].Outputs = append(items[k].Outputs, part)
		}
	}
	return nil
}

// cutRows splits off the first n elements of data.
func cutRows(data []byte, dt tensor.DataType, n int64) ([]byte, []byte) {
	if dt != tensor.Bytes {
		end := n * int64(dt.Size())
		return data[:end:end], data[end:]
	}
	off := 0
	for range n {
		l := int(uint32(data[off]) | uint32(data[off+1])<<8 | uint32(data[off+2])<<16 | uint32(data[off+3])<<24)
		off += 4 + l
	}
	return data[:off:off], data[off:]
}
