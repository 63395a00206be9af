package grpcserver

import (
	"github.com/sluice-serving/sluice/tensor"
	"github.com/sluice-serving/sluice/tritonpb"
)

// ToRequest lets the external tests check typed contents without a model
// per data type.
func ToRequest(in *tritonpb.ModelInferRequest, req *tensor.Request) error {
	c := &call{in: in, shm: &regions{}}
	err := c.convert()
	*req = c.req
	return err
}
