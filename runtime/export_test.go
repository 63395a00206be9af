package runtime

import (
	"context"

	"github.com/sluice-serving/sluice/tensor"
)

// RunOnInstance runs on instance i directly, bypassing the pool, so the
// layout benchmark can send concurrent runs to one session.
func RunOnInstance(m *Model, i int, inputs []tensor.Tensor) ([]tensor.Tensor, error) {
	items := []BatchItem{{Inputs: inputs}}
	_, err := m.all[i%len(m.all)].runBatch(context.Background(), m.sig, items, nil)
	return items[0].Outputs, err
}
