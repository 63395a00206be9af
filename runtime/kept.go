package runtime

import (
	"slices"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/sluice-serving/sluice/tensor"
)

// smallOutputBytes bounds the outputs an instance writes into a value it
// keeps from run to run: copying that many bytes out to the callers costs
// less than the two cgo calls that create and release a value around each
// run. Larger outputs get a fresh buffer that goes to the callers as is.
const smallOutputBytes = 16 << 10

// smallInputBytes bounds the lone call's inputs that are copied into a
// kept value rather than wrapped where they lie, for the same reason.
const smallInputBytes = 16 << 10

// keptValue is an ORT value over an instance's own buffer, kept while
// batches keep its shape: a steady load of one shape (the common case)
// then creates no ORT value per run.
type keptValue struct {
	shape []int64
	buf   []byte
	value ort.Value
}

// over returns the kept value for shape, made anew when the shape changed;
// k.buf is then its n bytes, which the caller fills or reads. what
// ("input", "output") and name only make the error; they are joined there
// alone, so a run that reuses the value allocates nothing.
func (k *keptValue) over(shape []int64, dt tensor.DataType, n int, what, name string) (ort.Value, error) {
	if k.value != nil && slices.Equal(k.shape, shape) {
		return k.value, nil
	}
	k.release()
	if cap(k.buf) < n {
		k.buf = make([]byte, n)
	}
	k.buf = k.buf[:n]
	v, err := ort.NewCustomDataTensor(ort.NewShape(shape...), k.buf, ortType(dt))
	if err != nil {
		return nil, tensor.Errorf(tensor.Internal, "%s %q: %w", what, name, err)
	}
	k.shape, k.value = append(k.shape[:0], shape...), v
	return v, nil
}

func (k *keptValue) release() {
	if k.value != nil {
		k.value.Destroy()
		k.value = nil
	}
}

// releaseKept destroys the values the instance keeps; before its session.
func (inst *instance) releaseKept() {
	for i := range inst.keptIn {
		inst.keptIn[i].release()
	}
	for i := range inst.keptOut {
		inst.keptOut[i].release()
	}
}

// kept reports whether output i's value v this run is the instance's kept
// one, whose buffer is copied out to the callers.
func (inst *instance) kept(i int, v ort.Value) bool {
	return v != nil && v == inst.keptOut[i].value
}
