package runtime

import (
	"context"

	"github.com/sluice-serving/sluice/tensor"
)

// RunOnInstance runs on instance i directly, bypassing the pool, so the
// layout benchmark can send concurrent runs to one session.
func RunOnInstance(m *Model, i int, inputs []tensor.Tensor) ([]tensor.Tensor, error) {
	return m.all[i%len(m.all)].run(context.Background(), m.sig, inputs)
}
