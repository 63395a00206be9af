package registry

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/sluice-serving/sluice/runtime"
	"github.com/sluice-serving/sluice/tritonpb"
)

// TritonConfig describes the version as Triton describes a model: its
// configuration as a Triton ModelConfig, in the spelling config.pbtxt
// reads (ParseTritonConfig), so that a description written out as a
// config.pbtxt loads into the same configuration. Inputs and outputs are
// the signature callers see, without the batch dimension when batching is
// on. The HTTP config endpoint and gRPC's ModelConfig both answer with it.
func (v *Version) TritonConfig() *tritonpb.ModelConfig {
	cfg := v.cfg
	batched := cfg.MaxBatchSize > 0
	return &tritonpb.ModelConfig{
		Name:          v.name,
		Platform:      platformONNX,
		Backend:       backendONNX,
		VersionPolicy: tritonVersionPolicy(cfg.VersionPolicy),
		MaxBatchSize:  int32(cfg.MaxBatchSize),
		Input:         tritonInputs(v.sig.Inputs, batched),
		Output:        tritonOutputs(v.sig.Outputs, batched),
		Optimization:  tritonOptimization(cfg.SessionConfig),
		// Every call waits in the version's bounded queue, batched or not,
		// so the queue policy is always there to describe.
		SchedulingChoice: &tritonpb.ModelConfig_DynamicBatching{DynamicBatching: tritonDynamicBatching(cfg.Batching)},
		InstanceGroup:    []*tritonpb.ModelInstanceGroup{tritonInstanceGroup(v.name, cfg.SessionConfig)},
		Parameters:       tritonModelParameters(cfg),
	}
}

func tritonVersionPolicy(p VersionPolicy) *tritonpb.ModelVersionPolicy {
	switch {
	case p.All:
		return &tritonpb.ModelVersionPolicy{PolicyChoice: &tritonpb.ModelVersionPolicy_All_{All: &tritonpb.ModelVersionPolicy_All{}}}
	case len(p.Specific) > 0:
		return &tritonpb.ModelVersionPolicy{PolicyChoice: &tritonpb.ModelVersionPolicy_Specific_{Specific: &tritonpb.ModelVersionPolicy_Specific{Versions: append([]int64(nil), p.Specific...)}}}
	}
	latest := &tritonpb.ModelVersionPolicy_Latest{NumVersions: uint32(max(p.Latest, 1))}
	return &tritonpb.ModelVersionPolicy{PolicyChoice: &tritonpb.ModelVersionPolicy_Latest_{Latest: latest}}
}

func tritonInputs(ios []runtime.IO, batched bool) []*tritonpb.ModelInput {
	out := make([]*tritonpb.ModelInput, len(ios))
	for i, io := range ios {
		out[i] = &tritonpb.ModelInput{Name: io.Name, DataType: tritonDataType(io.DataType), Dims: tritonDims(io.Dims, batched)}
	}
	return out
}

func tritonOutputs(ios []runtime.IO, batched bool) []*tritonpb.ModelOutput {
	out := make([]*tritonpb.ModelOutput, len(ios))
	for i, io := range ios {
		out[i] = &tritonpb.ModelOutput{Name: io.Name, DataType: tritonDataType(io.DataType), Dims: tritonDims(io.Dims, batched)}
	}
	return out
}

// tritonDims leaves the batch dimension out when batching is on, as
// Triton's dims do.
func tritonDims(dims []int64, batched bool) []int64 {
	if batched && len(dims) > 0 {
		dims = dims[1:]
	}
	return append([]int64{}, dims...)
}

func tritonDynamicBatching(b Batching) *tritonpb.ModelDynamicBatching {
	db := &tritonpb.ModelDynamicBatching{
		MaxQueueDelayMicroseconds: uint64(time.Duration(b.MaxQueueDelay).Microseconds()),
		PriorityLevels:            uint64(b.PriorityLevels),
		DefaultPriorityLevel:      uint64(b.DefaultPriority),
		DefaultQueuePolicy: &tritonpb.ModelQueuePolicy{
			TimeoutAction:              tritonpb.ModelQueuePolicy_REJECT,
			DefaultTimeoutMicroseconds: uint64(time.Duration(b.DefaultTimeout).Microseconds()),
			AllowTimeoutOverride:       true, // a call's timeout may shorten the default, as Triton's override may
			MaxQueueSize:               uint32(b.MaxQueueSize),
		},
	}
	for _, p := range b.PreferredBatchSizes {
		db.PreferredBatchSize = append(db.PreferredBatchSize, int32(p))
	}
	return db
}

// tritonInstanceGroup is the one group Sluice runs: count is per GPU on a
// GPU provider, and no GPUs listed means device 0.
func tritonInstanceGroup(name string, sc runtime.SessionConfig) *tritonpb.ModelInstanceGroup {
	g := &tritonpb.ModelInstanceGroup{Name: name, Kind: tritonpb.ModelInstanceGroup_KIND_CPU, Count: int32(sc.Instances)}
	if sc.Provider == runtime.ProviderCPU {
		return g
	}
	g.Kind, g.Gpus = tritonpb.ModelInstanceGroup_KIND_GPU, []int32{0}
	if len(sc.GPUs) > 0 {
		g.Gpus = g.Gpus[:0]
		for _, d := range sc.GPUs {
			g.Gpus = append(g.Gpus, int32(d))
		}
	}
	return g
}

// tritonOptimization is the graph level when it is not ONNX Runtime's
// default (all) and the GPU provider as an execution accelerator.
func tritonOptimization(sc runtime.SessionConfig) *tritonpb.ModelOptimizationPolicy {
	var o tritonpb.ModelOptimizationPolicy
	if sc.GraphOptimization != "all" {
		o.Graph = &tritonpb.ModelOptimizationPolicy_Graph{Level: graphLevels[sc.GraphOptimization]}
	}
	if sc.Provider != runtime.ProviderCPU {
		o.ExecutionAccelerators = &tritonpb.ModelOptimizationPolicy_ExecutionAccelerators{GpuExecutionAccelerator: tritonGPUAccelerators(sc)}
	}
	if o.Graph == nil && o.ExecutionAccelerators == nil {
		return nil
	}
	return &o
}

// tritonGPUAccelerators names the provider, with its options that differ
// from the defaults; behind tensorrt, the CUDA options come as a second,
// cuda accelerator.
func tritonGPUAccelerators(sc runtime.SessionConfig) []*tritonpb.ModelOptimizationPolicy_ExecutionAccelerators_Accelerator {
	cuda := cudaParameters(sc.CUDA)
	if sc.Provider == runtime.ProviderCUDA {
		return []*tritonpb.ModelOptimizationPolicy_ExecutionAccelerators_Accelerator{{Name: runtime.ProviderCUDA, Parameters: cuda}}
	}
	out := []*tritonpb.ModelOptimizationPolicy_ExecutionAccelerators_Accelerator{{Name: runtime.ProviderTensorRT, Parameters: tensorRTParameters(sc.TensorRT)}}
	if len(cuda) > 0 {
		out = append(out, &tritonpb.ModelOptimizationPolicy_ExecutionAccelerators_Accelerator{Name: runtime.ProviderCUDA, Parameters: cuda})
	}
	return out
}

func tensorRTParameters(t runtime.TensorRTConfig) map[string]string {
	p := map[string]string{"precision_mode": "FP32"}
	if t.FP16 {
		p["precision_mode"] = "FP16"
	}
	if t.MaxWorkspaceSize > 0 {
		p["max_workspace_size_bytes"] = strconv.FormatInt(t.MaxWorkspaceSize, 10)
	}
	if t.EngineCachePath != "" {
		p["trt_engine_cache_enable"], p["trt_engine_cache_path"] = "1", t.EngineCachePath
	}
	return p
}

// cudaParameters are the CUDA options that differ from the defaults, in
// ONNX Runtime's spelling.
func cudaParameters(c runtime.CUDAConfig) map[string]string {
	def := runtime.DefaultSessionConfig().CUDA
	p := map[string]string{}
	if c.GPUMemLimit != def.GPUMemLimit {
		p["gpu_mem_limit"] = strconv.FormatInt(c.GPUMemLimit, 10)
	}
	if c.ArenaExtendStrategy != def.ArenaExtendStrategy {
		p["arena_extend_strategy"] = map[string]string{"next_power_of_two": "kNextPowerOfTwo", "same_as_requested": "kSameAsRequested"}[c.ArenaExtendStrategy]
	}
	if c.CudnnConvAlgoSearch != def.CudnnConvAlgoSearch {
		p["cudnn_conv_algo_search"] = map[string]string{"exhaustive": "EXHAUSTIVE", "heuristic": "HEURISTIC", "default": "DEFAULT"}[c.CudnnConvAlgoSearch]
	}
	if c.DoCopyInDefaultStream != def.DoCopyInDefaultStream {
		p["do_copy_in_default_stream"] = flag(c.DoCopyInDefaultStream)
	}
	if c.EnableCUDAGraph != def.EnableCUDAGraph {
		p["enable_cuda_graph"] = flag(c.EnableCUDAGraph)
	}
	return p
}

func flag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// tritonModelParameters are the thread counts, which Sluice always sets,
// and Sluice's own knobs where they are not the defaults, as sluice.*.
func tritonModelParameters(cfg ModelConfig) map[string]*tritonpb.ModelParameter {
	def := DefaultModelConfig()
	p := map[string]string{
		"intra_op_thread_count": strconv.Itoa(cfg.IntraOpThreads),
		"inter_op_thread_count": strconv.Itoa(cfg.InterOpThreads),
	}
	if cfg.WorkerNice != 0 {
		p["sluice.worker_nice"] = strconv.Itoa(cfg.WorkerNice)
	}
	if cfg.MaxPriorityWait != def.MaxPriorityWait {
		p["sluice.max_priority_wait"] = time.Duration(cfg.MaxPriorityWait).String()
	}
	if cfg.Fallback != def.Fallback {
		p["sluice.fallback"] = cfg.Fallback
	}
	if cfg.AllowSpinning {
		p["sluice.allow_spinning"] = "1"
	}
	if cfg.IdleDispatch {
		p["sluice.idle_dispatch"] = "1"
	}
	if cfg.SessionMode != def.SessionMode {
		p["sluice.sessions"] = cfg.SessionMode
	}
	if cfg.Traffic != (Traffic{}) {
		b, _ := json.Marshal(cfg.Traffic) // three numbers, validated: it encodes
		p["sluice.traffic"] = string(b)
	}
	if cfg.Rollout != nil {
		p["sluice.rollout"] = string(cfg.Rollout)
	}
	if cfg.Drift != nil {
		p["sluice.drift"] = string(cfg.Drift)
	}
	out := make(map[string]*tritonpb.ModelParameter, len(p))
	for k, v := range p {
		out[k] = &tritonpb.ModelParameter{StringValue: v}
	}
	return out
}
