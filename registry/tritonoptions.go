package registry

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/sluice-serving/sluice/runtime"
	"github.com/sluice-serving/sluice/tritonpb"
)

// Where config.pbtxt places the sessions (instance_group, the execution
// accelerators) and how it tunes them (parameters), mapped onto
// runtime.SessionConfig and Sluice's own knobs.

const acceleratorsPath = "optimization.execution_accelerators.gpu_execution_accelerator"

// tritonPlacement maps the instance group and the GPU accelerators onto
// the provider, the GPUs and the instances. Several groups are refused,
// not warned of: Sluice runs all of a version's sessions one way (count
// per GPU over the listed GPUs, or on the CPU), and serving one group of
// several would quietly give another capacity than the file asks for.
func tritonPlacement(tc *tritonpb.ModelConfig, cfg *ModelConfig) ([]string, error) {
	if n := len(tc.InstanceGroup); n > 1 {
		return nil, fmt.Errorf("instance_group: %d groups, expected one: Sluice places every session of a version one way; give one group with count (per GPU) and gpus", n)
	}
	g := &tritonpb.ModelInstanceGroup{}
	if len(tc.InstanceGroup) == 1 {
		g = tc.InstanceGroup[0]
	}
	accel, ignored, err := tritonAccelerators(tc.GetOptimization().GetExecutionAccelerators(), cfg)
	if err != nil {
		return nil, err
	}
	// KIND_AUTO is Triton's "GPU when there is one"; Sluice cannot know at
	// config time, so it takes the GPU only when the file asks for one.
	gpu := g.Kind == tritonpb.ModelInstanceGroup_KIND_GPU || g.Kind == tritonpb.ModelInstanceGroup_KIND_AUTO && (accel != "" || len(g.Gpus) > 0)
	switch {
	case g.Kind == tritonpb.ModelInstanceGroup_KIND_MODEL:
		return nil, fmt.Errorf("instance_group[0].kind: KIND_MODEL, expected KIND_CPU or KIND_GPU: ONNX Runtime runs where its provider says, the model cannot place itself")
	case g.Count < 0:
		return nil, fmt.Errorf("instance_group[0].count: %d, expected at least 1", g.Count)
	case !gpu && len(g.Gpus) > 0:
		return nil, fmt.Errorf("instance_group[0].gpus: %v, but kind is %s; use KIND_GPU or drop gpus", g.Gpus, g.Kind)
	case gpu:
		cfg.Provider, cfg.GPUs, cfg.Instances = providerOf(accel), nil, 1 // Triton's count: one per GPU
		for _, d := range g.Gpus {
			cfg.GPUs = append(cfg.GPUs, int(d))
		}
	default:
		cfg.Provider, cfg.GPUs = runtime.ProviderCPU, nil
		if accel != "" {
			ignored = append(ignored, acceleratorsPath+" (the instances are KIND_CPU)")
		}
	}
	if g.Count > 0 {
		cfg.Instances = int(g.Count)
	}
	return ignored, nil
}

// providerOf is the provider a GPU instance group runs with: the
// accelerator named, cuda by default.
func providerOf(accel string) string {
	if accel == "" {
		return runtime.ProviderCUDA
	}
	return accel
}

// tritonAccelerators reads the GPU execution accelerators: tensorrt (which
// hands what it cannot build to CUDA, as in Triton's ONNX Runtime backend)
// or cuda, each with its parameters. It returns the provider they ask
// for, "" for none.
func tritonAccelerators(ea *tritonpb.ModelOptimizationPolicy_ExecutionAccelerators, cfg *ModelConfig) (string, []string, error) {
	var accel string
	var ignored []string
	for i, a := range ea.GetGpuExecutionAccelerator() {
		path := fmt.Sprintf("%s[%d]", acceleratorsPath, i)
		var options func(key, value string) (bool, error)
		switch a.Name {
		case runtime.ProviderTensorRT:
			accel, options = runtime.ProviderTensorRT, func(k, v string) (bool, error) { return tensorRTOption(&cfg.TensorRT, k, v) }
			more, err := engineCache(&cfg.TensorRT, a.Parameters, path+".parameters")
			if err != nil {
				return "", nil, err
			}
			ignored = append(ignored, more...)
		case runtime.ProviderCUDA:
			if accel == "" { // tensorrt, named before or after, keeps CUDA behind it
				accel = runtime.ProviderCUDA
			}
			options = func(k, v string) (bool, error) { return cudaOption(&cfg.CUDA, k, v) }
		default:
			return "", nil, fmt.Errorf("%s.name: %q, expected tensorrt or cuda", path, a.Name)
		}
		more, err := applyOptions(a.Parameters, path+".parameters", options)
		if err != nil {
			return "", nil, err
		}
		ignored = append(ignored, more...)
	}
	return accel, ignored, nil
}

// applyOptions hands each key of params to set, in order, and returns the
// paths of the keys set does not know.
func applyOptions(params map[string]string, path string, set func(key, value string) (bool, error)) ([]string, error) {
	var ignored []string
	for _, k := range slices.Sorted(maps.Keys(params)) {
		known, err := set(k, params[k])
		if err != nil {
			return nil, fmt.Errorf("%s[%q]: %w", path, k, err)
		}
		if !known {
			ignored = append(ignored, fmt.Sprintf("%s[%q]", path, k))
		}
	}
	return ignored, nil
}

// tensorRTOption sets one of the TensorRT accelerator's parameters that
// Sluice has; INT8 precision is not one of them (it needs a calibration
// Sluice does not run), so it reads as unknown and is warned of. The
// engine cache's two keys are engineCache's.
func tensorRTOption(t *runtime.TensorRTConfig, key, value string) (bool, error) {
	switch key {
	case "precision_mode":
		if value == "INT8" {
			return false, nil
		}
		if value != "FP32" && value != "FP16" {
			return false, fmt.Errorf("%q, expected FP32 or FP16", value)
		}
		t.FP16 = value == "FP16"
	case "max_workspace_size_bytes":
		n, err := strconv.ParseInt(value, 10, 64)
		if err != nil || n < 0 {
			return false, fmt.Errorf("%q, expected a number of bytes", value)
		}
		t.MaxWorkspaceSize = n
	case "trt_engine_cache_enable", "trt_engine_cache_path":
	default:
		return false, nil
	}
	return true, nil
}

// engineCache reads trt_engine_cache_enable and trt_engine_cache_path,
// which only mean something together: Sluice keeps engines when a folder
// is given, so the cache turned on needs the path, and a path with the
// cache off is ignored, as ONNX Runtime ignores it.
func engineCache(t *runtime.TensorRTConfig, params map[string]string, path string) ([]string, error) {
	enable, dir := params["trt_engine_cache_enable"], params["trt_engine_cache_path"]
	on := false
	if enable != "" {
		var err error
		if on, err = parseFlag(enable); err != nil {
			return nil, fmt.Errorf("%s[%q]: %w", path, "trt_engine_cache_enable", err)
		}
	}
	switch {
	case on && dir == "":
		return nil, fmt.Errorf("%s[%q]: on without trt_engine_cache_path; give the folder engines are kept in", path, "trt_engine_cache_enable")
	case on:
		t.EngineCachePath = dir
	case dir != "":
		return []string{fmt.Sprintf("%s[%q] (trt_engine_cache_enable is off)", path, "trt_engine_cache_path")}, nil
	}
	return nil, nil
}

// cudaOption sets one CUDA provider option, named as ONNX Runtime names
// it; its values may also be the numbers Triton's backend once took.
func cudaOption(c *runtime.CUDAConfig, key, value string) (bool, error) {
	var err error
	switch key {
	case "gpu_mem_limit":
		var n uint64
		n, err = strconv.ParseUint(value, 10, 64)
		c.GPUMemLimit = int64(n)
		if n > math.MaxInt64 { // SIZE_MAX is Triton's "all of it"
			c.GPUMemLimit = 0
		}
	case "arena_extend_strategy":
		c.ArenaExtendStrategy, err = oneOf(value, map[string]string{"0": "next_power_of_two", "kNextPowerOfTwo": "next_power_of_two", "1": "same_as_requested", "kSameAsRequested": "same_as_requested"})
	case "cudnn_conv_algo_search":
		c.CudnnConvAlgoSearch, err = oneOf(value, map[string]string{"0": "exhaustive", "EXHAUSTIVE": "exhaustive", "1": "heuristic", "HEURISTIC": "heuristic", "2": "default", "DEFAULT": "default"})
	case "do_copy_in_default_stream":
		c.DoCopyInDefaultStream, err = parseFlag(value)
	case "enable_cuda_graph":
		c.EnableCUDAGraph, err = parseFlag(value)
	default:
		return false, nil
	}
	return true, err
}

func oneOf(value string, names map[string]string) (string, error) {
	if v, ok := names[value]; ok {
		return v, nil
	}
	return "", fmt.Errorf("%q, expected one of %v", value, slices.Sorted(maps.Keys(names)))
}

// parseFlag reads Triton's booleans: "1", "true", "0", "false".
func parseFlag(value string) (bool, error) {
	b, err := strconv.ParseBool(value)
	if err != nil {
		return false, fmt.Errorf("%q, expected 1, true, 0 or false", value)
	}
	return b, nil
}

// tritonParameters maps the model's parameters: the ONNX Runtime
// backend's thread counts and (deprecated there) CUDA options, and
// Sluice's own knobs, which Triton's schema has no field for, as sluice.*.
func tritonParameters(tc *tritonpb.ModelConfig, cfg *ModelConfig) ([]string, error) {
	params := make(map[string]string, len(tc.Parameters))
	for k, p := range tc.Parameters {
		params[k] = p.GetStringValue()
	}
	return applyOptions(params, "parameters", func(key, value string) (bool, error) {
		if set, ok := modelParameters[key]; ok {
			return true, set(cfg, value)
		}
		return cudaOption(&cfg.CUDA, key, value)
	})
}

// modelParameters are the parameters keys Sluice reads, but for the CUDA
// options.
var modelParameters = map[string]func(*ModelConfig, string) error{
	"intra_op_thread_count": func(c *ModelConfig, v string) error { return setThreads(&c.IntraOpThreads, v) },
	"inter_op_thread_count": func(c *ModelConfig, v string) error { return setThreads(&c.InterOpThreads, v) },
	"sluice.worker_nice": func(c *ModelConfig, v string) (err error) {
		c.WorkerNice, err = strconv.Atoi(v)
		return expect(err, v, "a niceness from 0 to 19")
	},
	"sluice.max_priority_wait": func(c *ModelConfig, v string) error {
		d, err := time.ParseDuration(v)
		c.MaxPriorityWait = Duration(d)
		return expect(err, v, `a duration such as "100ms"`)
	},
	"sluice.fallback":       func(c *ModelConfig, v string) error { c.Fallback = v; return nil },
	"sluice.sessions":       func(c *ModelConfig, v string) error { c.SessionMode = v; return nil },
	"sluice.idle_dispatch":  func(c *ModelConfig, v string) (err error) { c.IdleDispatch, err = parseFlag(v); return err },
	"sluice.allow_spinning": func(c *ModelConfig, v string) (err error) { c.AllowSpinning, err = parseFlag(v); return err },
	"sluice.traffic": func(c *ModelConfig, v string) error {
		dec := json.NewDecoder(bytes.NewReader([]byte(v)))
		dec.DisallowUnknownFields()
		return expect(dec.Decode(&c.Traffic), v, `JSON such as {"stable": 1, "canary": 2, "canary_weight": 10}`)
	},
	"sluice.rollout": func(c *ModelConfig, v string) error {
		if !json.Valid([]byte(v)) {
			return fmt.Errorf("%q, expected config.yaml's rollout section as JSON", v)
		}
		c.Rollout = json.RawMessage(v)
		return nil
	},
	"sluice.drift": func(c *ModelConfig, v string) error {
		if !json.Valid([]byte(v)) {
			return fmt.Errorf("%q, expected config.yaml's drift section as JSON", v)
		}
		c.Drift = json.RawMessage(v)
		return nil
	},
}

// setThreads reads a thread count; Triton's 0 (ONNX Runtime picks: all
// the cores) keeps Sluice's one thread per session, which never
// oversubscribes the cores however many sessions run.
func setThreads(n *int, v string) error {
	t, err := strconv.Atoi(v)
	if err != nil || t < 0 {
		return fmt.Errorf("%q, expected a number of threads", v)
	}
	if t > 0 {
		*n = t
	}
	return nil
}

func expect(err error, v, what string) error {
	if err != nil {
		return fmt.Errorf("%q, expected %s", v, what)
	}
	return nil
}
