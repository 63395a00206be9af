package server

import (
	"time"

	"github.com/valyala/fasthttp"

	"github.com/sluice-serving/sluice/registry"
	"github.com/sluice-serving/sluice/tensor"
)

// The model configuration extension: a version's configuration in the JSON
// form of Triton's ModelConfig (field names as in model_config.proto), so
// that perf_analyzer and tritonclient's get_model_config find what they
// look for.

type tritonTensor struct {
	Name     string  `json:"name"`
	DataType string  `json:"data_type"`
	Dims     []int64 `json:"dims"`
}

type tritonQueuePolicy struct {
	TimeoutAction        string `json:"timeout_action"`
	DefaultTimeoutMicros int64  `json:"default_timeout_microseconds"`
	AllowTimeoutOverride bool   `json:"allow_timeout_override"`
	MaxQueueSize         int    `json:"max_queue_size"`
}

type tritonDynamicBatching struct {
	PreferredBatchSize   []int             `json:"preferred_batch_size"`
	MaxQueueDelayMicros  int64             `json:"max_queue_delay_microseconds"`
	DefaultQueuePolicy   tritonQueuePolicy `json:"default_queue_policy"`
	PriorityLevels       int               `json:"priority_levels"`
	DefaultPriorityLevel int               `json:"default_priority_level"`
}

type tritonInstanceGroup struct {
	Name  string `json:"name"`
	Kind  string `json:"kind"`
	Count int    `json:"count"`
	GPUs  []int  `json:"gpus,omitempty"`
}

type tritonConfig struct {
	Name           string                 `json:"name"`
	Platform       string                 `json:"platform"`
	Backend        string                 `json:"backend"`
	VersionPolicy  map[string]any         `json:"version_policy"`
	MaxBatchSize   int                    `json:"max_batch_size"`
	Input          []tritonTensor         `json:"input"`
	Output         []tritonTensor         `json:"output"`
	DynamicBatch   *tritonDynamicBatching `json:"dynamic_batching,omitempty"`
	InstanceGroups []tritonInstanceGroup  `json:"instance_group"`
}

// tritonConfigOf describes v as Triton would: with batching on, the batch
// dimension is left out of every input's and output's dims.
func tritonConfigOf(v *registry.Version) tritonConfig {
	cfg, sig := v.Config(), v.Signature()
	tc := tritonConfig{Name: v.Name(), Platform: "onnxruntime_onnx", Backend: "onnxruntime", MaxBatchSize: cfg.MaxBatchSize,
		Input: []tritonTensor{}, Output: []tritonTensor{}}
	batched := cfg.MaxBatchSize > 0
	for _, io := range sig.Inputs {
		tc.Input = append(tc.Input, tritonTensorOf(io.Name, io.DataType, io.Dims, batched))
	}
	for _, io := range sig.Outputs {
		tc.Output = append(tc.Output, tritonTensorOf(io.Name, io.DataType, io.Dims, batched))
	}
	switch p := cfg.VersionPolicy; {
	case p.All:
		tc.VersionPolicy = map[string]any{"all": map[string]any{}}
	case len(p.Specific) > 0:
		tc.VersionPolicy = map[string]any{"specific": map[string]any{"versions": p.Specific}}
	default:
		tc.VersionPolicy = map[string]any{"latest": map[string]any{"num_versions": max(p.Latest, 1)}}
	}
	if cfg.MaxBatchSize > 0 {
		tc.DynamicBatch = &tritonDynamicBatching{
			PreferredBatchSize:  cfg.PreferredBatchSizes,
			MaxQueueDelayMicros: time.Duration(cfg.MaxQueueDelay).Microseconds(),
			DefaultQueuePolicy: tritonQueuePolicy{TimeoutAction: "REJECT", AllowTimeoutOverride: true, MaxQueueSize: cfg.MaxQueueSize,
				DefaultTimeoutMicros: time.Duration(cfg.DefaultTimeout).Microseconds()},
			PriorityLevels: cfg.PriorityLevels, DefaultPriorityLevel: cfg.DefaultPriority,
		}
		if tc.DynamicBatch.PreferredBatchSize == nil {
			tc.DynamicBatch.PreferredBatchSize = []int{}
		}
	}
	group := tritonInstanceGroup{Name: v.Name(), Kind: "KIND_CPU", Count: cfg.Instances}
	if cfg.Provider != "cpu" { // cuda or tensorrt: instances per GPU
		group.Kind, group.GPUs = "KIND_GPU", cfg.GPUs
	}
	tc.InstanceGroups = []tritonInstanceGroup{group}
	return tc
}

// tritonTensorOf is one input or output; with batching on, its batch
// dimension is left out, as Triton's dims leave it.
func tritonTensorOf(name string, dt tensor.DataType, dims []int64, batched bool) tritonTensor {
	if batched && len(dims) > 0 {
		dims = dims[1:]
	}
	return tritonTensor{Name: name, DataType: tritonType(dt), Dims: append([]int64{}, dims...)}
}

// tritonType is a data type's name in model_config.proto.
func tritonType(d tensor.DataType) string {
	if d == tensor.Bytes {
		return "TYPE_STRING"
	}
	return "TYPE_" + d.String()
}

func (s *Server) modelConfig(ctx *fasthttp.RequestCtx, r route) {
	v, err := s.models.Lookup(r.model, r.version)
	if err != nil {
		writeError(ctx, err)
		return
	}
	writeJSON(ctx, fasthttp.StatusOK, tritonConfigOf(v))
}
