package runtime

import (
	"context"
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
// is no longer read. The caller owns instance exclusively for the call; the
// batcher's worker i is the only user of instance i.
func (m *Model) RunBatch(ctx context.Context, instance int, items []BatchItem, copied func()) (Timing, error) {
	return m.all[instance].runBatch(ctx, m.sig, items, copied)
}

func (inst *instance) runBatch(ctx context.Context, sig Signature, items []BatchItem, copied func()) (Timing, error) {
	var t Timing
	t0 := time.Now()
	ins, outs := inst.values[:len(sig.Inputs)], inst.values[len(sig.Inputs):]
	clear(inst.values)
	defer destroyAll(inst.values)
	rows, err := inst.assemble(sig, items, ins)
	if err != nil {
		return t, err
	}
	shared := len(items) > 1 // inputs were copied into inst.inBufs
	if shared && copied != nil {
		copied()
	}
	results, err := allocOutputs(sig, rows, outs)
	t1 := time.Now()
	if err == nil {
		err = inst.runTerminable(ctx, ins, outs)
	}
	t2 := time.Now()
	if !shared && copied != nil {
		copied()
	}
	if err != nil {
		return t, err
	}
	for i := range results {
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

// assemble makes one ORT value per input: the lone item's own bytes, or
// every item's bytes copied one after another into the reused buffer.
// It returns the batch's rows (-1 for a model without a batch dimension).
func (inst *instance) assemble(sig Signature, items []BatchItem, ins []ort.Value) (int64, error) {
	rows := int64(-1)
	if sig.Batched {
		rows = 0
		for _, it := range items {
			rows += it.Inputs[0].Shape[0]
		}
	}
	for j := range sig.Inputs {
		if len(items) == 1 {
			v, err := newValue(&items[0].Inputs[j])
			if err != nil {
				return rows, err
			}
			ins[j] = v
			continue
		}
		v, err := inst.stack(j, items, rows)
		if err != nil {
			return rows, err
		}
		ins[j] = v
	}
	return rows, nil
}

// stack copies input j of every item into buffer j and wraps it.
func (inst *instance) stack(j int, items []BatchItem, rows int64) (ort.Value, error) {
	first := &items[0].Inputs[j]
	shape := append([]int64{rows}, first.Shape[1:]...)
	size := 0
	for _, it := range items {
		size += len(it.Inputs[j].Data)
	}
	if cap(inst.inBufs[j]) < size {
		inst.inBufs[j] = make([]byte, size)
	}
	buf := inst.inBufs[j][:0]
	for _, it := range items {
		buf = append(buf, it.Inputs[j].Data...)
	}
	t := tensor.Tensor{Name: first.Name, DataType: first.DataType, Shape: shape, Data: buf}
	return newValue(&t)
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
