package client

import (
	"fmt"

	"github.com/sluice-serving/sluice/tensor"
	"github.com/sluice-serving/sluice/v2"
)

// ParseInputs reads the inputs of a v2 request body (JSON) into tensors,
// for load tests that send recorded data. It decodes with the server's
// decoder and checks each input's data against its shape, so a file the
// server would refuse fails here first.
func ParseInputs(body []byte) ([]tensor.Tensor, error) {
	var call v2.Call
	if err := v2.DecodeRequest(body, -1, &call); err != nil {
		return nil, fmt.Errorf("reading inputs: %w", err)
	}
	for i := range call.Request.Inputs {
		if err := call.Request.Inputs[i].CheckData(); err != nil {
			return nil, fmt.Errorf("reading inputs: %w", err)
		}
	}
	return call.Request.Inputs, nil
}
