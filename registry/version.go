package registry

import (
	"context"
	"fmt"
	"strconv"
	"sync"

	"github.com/sluice-serving/sluice/runtime"
	"github.com/sluice-serving/sluice/tensor"
)

// Version is one loaded, warmed model version.
type Version struct {
	model   *runtime.Model
	name    string
	version int64
	label   string            // the version as the protocol writes it
	sig     runtime.Signature // what callers see: config dims applied
}

func loadVersion(ctx context.Context, name string, v int64, path string, cfg ModelConfig) (*Version, error) {
	m, err := runtime.Load(path, cfg.SessionConfig)
	if err != nil {
		return nil, fmt.Errorf("model %q version %d: %w", name, v, err)
	}
	sig, err := cfg.applyDims(m.Signature())
	if err != nil {
		m.Close()
		return nil, fmt.Errorf("model %q: config.yaml: %w", name, err)
	}
	ver := &Version{model: m, name: name, version: v, label: strconv.FormatInt(v, 10), sig: sig}
	if err := ver.warm(ctx); err != nil {
		m.Close()
		return nil, fmt.Errorf("model %q version %d: warm-up inference failed: %w", name, v, err)
	}
	return ver, nil
}

// warm runs one batch-1 inference on every instance at once, so each
// session has allocated its buffers before the version takes traffic.
func (v *Version) warm(ctx context.Context) error {
	inputs := make([]tensor.Tensor, len(v.sig.Inputs))
	for i, io := range v.sig.Inputs {
		inputs[i] = zeroTensor(io)
	}
	errs := make([]error, v.model.Instances())
	var wg sync.WaitGroup
	for i := range errs {
		wg.Go(func() { _, errs[i] = v.model.Run(ctx, inputs) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// zeroTensor is an all-zero (or all-empty-string) input with every open
// dimension set to 1.
func zeroTensor(io runtime.IO) tensor.Tensor {
	shape := make([]int64, len(io.Dims))
	for i, d := range io.Dims {
		shape[i] = max(d, 1)
	}
	n := tensor.Elements(shape)
	size := int64(io.DataType.Size())
	if io.DataType == tensor.Bytes {
		size = 4 // an empty element is just its zero length
	}
	return tensor.Tensor{Name: io.Name, DataType: io.DataType, Shape: shape, Data: make([]byte, n*size)}
}

// Name is the model's name.
func (v *Version) Name() string { return v.name }

// Label is the version number as the protocol writes it ("1").
func (v *Version) Label() string { return v.label }

// Signature is what callers must send and will get.
func (v *Version) Signature() runtime.Signature { return v.sig }

// Infer checks req against the signature and runs it.
func (v *Version) Infer(ctx context.Context, req *tensor.Request) (*tensor.Response, error) {
	inputs, want, err := checkRequest(v.name, v.sig, req)
	if err != nil {
		return nil, err
	}
	outs, err := v.model.Run(ctx, inputs)
	if err != nil {
		return nil, fmt.Errorf("model %q version %s: %w", v.name, v.label, err)
	}
	resp := &tensor.Response{ModelName: v.name, ModelVersion: v.label, ID: req.ID, Outputs: make([]tensor.Tensor, len(want))}
	for i, j := range want {
		resp.Outputs[i] = outs[j]
	}
	return resp, nil
}
