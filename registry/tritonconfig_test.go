package registry

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluice-serving/sluice/runtime"
	"github.com/sluice-serving/sluice/tensor"
)

// parseTriton is ParseTritonConfig over the defaults for a model named m.
func parseTriton(t testing.TB, pbtxt string) (ModelConfig, []string, error) {
	t.Helper()
	cfg := DefaultModelConfig()
	ignored, err := ParseTritonConfig([]byte(pbtxt), "m", &cfg)
	return cfg, ignored, err
}

// Each Triton field Sluice honours lands on the setting config.yaml would
// give; what is left out keeps Sluice's default.
func TestTritonConfigMapping(t *testing.T) {
	tests := []struct {
		name  string
		pbtxt string
		want  func(*ModelConfig)
	}{
		{"platform only", `name: "m" platform: "onnxruntime_onnx"`, func(*ModelConfig) {}},
		{"backend only", `backend: "onnxruntime"`, func(*ModelConfig) {}},
		{"dynamic batching and the queue policy", `
max_batch_size: 8
dynamic_batching {
  preferred_batch_size: [ 4, 8 ]
  max_queue_delay_microseconds: 500
  priority_levels: 3
  default_priority_level: 2
  default_queue_policy { max_queue_size: 32 default_timeout_microseconds: 250000 allow_timeout_override: true }
}`, func(c *ModelConfig) {
			c.MaxBatchSize, c.PreferredBatchSizes, c.MaxQueueDelay = 8, []int{4, 8}, Duration(500*time.Microsecond)
			c.PriorityLevels, c.DefaultPriority = 3, 2
			c.MaxQueueSize, c.DefaultTimeout = 32, Duration(250*time.Millisecond)
		}},
		{"dims get the batch dimension back", `
max_batch_size: 4
input [ { name: "x" data_type: TYPE_FP32 dims: [ 16 ] } ]
output [ { name: "words" data_type: TYPE_STRING dims: [ -1 ] }, { name: "bf" data_type: TYPE_BF16 dims: [ 2 ] } ]`, func(c *ModelConfig) {
			c.MaxBatchSize = 4
			c.Inputs = []IOConfig{{Name: "x", Dims: []int64{-1, 16}, DataType: "FP32"}}
			c.Outputs = []IOConfig{{Name: "words", Dims: []int64{-1, -1}, DataType: "BYTES"}, {Name: "bf", Dims: []int64{-1, 2}, DataType: "BF16"}}
		}},
		{"without batching dims are the whole shape", `input [ { name: "x" dims: [ 2, 2 ] } ]`, func(c *ModelConfig) {
			c.Inputs = []IOConfig{{Name: "x", Dims: []int64{2, 2}}}
		}},
		{"cpu instances", `instance_group [ { count: 3 kind: KIND_CPU } ]`, func(c *ModelConfig) { c.Instances = 3 }},
		{"gpu instances per gpu", `instance_group [ { name: "g" count: 2 kind: KIND_GPU gpus: [ 0, 1 ] } ]`, func(c *ModelConfig) {
			c.Provider, c.Instances, c.GPUs = runtime.ProviderCUDA, 2, []int{0, 1}
		}},
		{"a gpu group without count runs one per gpu", `instance_group [ { kind: KIND_GPU } ]`, func(c *ModelConfig) {
			c.Provider, c.Instances = runtime.ProviderCUDA, 1
		}},
		{"tensorrt with cuda behind it", `
instance_group [ { kind: KIND_GPU count: 1 } ]
optimization { execution_accelerators { gpu_execution_accelerator [
  { name: "cuda" parameters { key: "cudnn_conv_algo_search" value: "HEURISTIC" } parameters { key: "gpu_mem_limit" value: "18446744073709551615" } },
  { name: "tensorrt"
    parameters { key: "precision_mode" value: "FP16" }
    parameters { key: "max_workspace_size_bytes" value: "1073741824" }
    parameters { key: "trt_engine_cache_enable" value: "1" }
    parameters { key: "trt_engine_cache_path" value: "/cache/trt" } } ] } }`, func(c *ModelConfig) {
			c.Provider, c.Instances = runtime.ProviderTensorRT, 1
			c.TensorRT = runtime.TensorRTConfig{FP16: true, MaxWorkspaceSize: 1 << 30, EngineCachePath: "/cache/trt"}
			c.CUDA.CudnnConvAlgoSearch = "heuristic"
		}},
		{"an accelerator alone asks for a gpu", `optimization { execution_accelerators { gpu_execution_accelerator [ { name: "cuda" } ] } }`, func(c *ModelConfig) {
			c.Provider, c.Instances = runtime.ProviderCUDA, 1
		}},
		{"latest versions", `version_policy: { latest { num_versions: 2 } }`, func(c *ModelConfig) { c.VersionPolicy = VersionPolicy{Latest: 2} }},
		{"all versions", `version_policy: { all { } }`, func(c *ModelConfig) { c.VersionPolicy = VersionPolicy{All: true} }},
		{"specific versions", `version_policy: { specific { versions: [ 1, 3 ] } }`, func(c *ModelConfig) { c.VersionPolicy = VersionPolicy{Specific: []int64{1, 3}} }},
		{"graph level", `optimization { graph { level: -1 } }`, func(c *ModelConfig) { c.GraphOptimization = "basic" }},
		{"backend parameters and sluice's own", `
parameters { key: "intra_op_thread_count" value: { string_value: "2" } }
parameters { key: "inter_op_thread_count" value: { string_value: "0" } }
parameters { key: "arena_extend_strategy" value: { string_value: "1" } }
parameters { key: "sluice.worker_nice" value: { string_value: "5" } }
parameters { key: "sluice.max_priority_wait" value: { string_value: "50ms" } }
parameters { key: "sluice.fallback" value: { string_value: "cpu" } }
parameters { key: "sluice.sessions" value: { string_value: "per_instance" } }
parameters { key: "sluice.traffic" value: { string_value: "{\"stable\": 1}" } }
parameters { key: "sluice.rollout" value: { string_value: "{\"steps\": [10, 100]}" } }`, func(c *ModelConfig) {
			c.IntraOpThreads, c.CUDA.ArenaExtendStrategy = 2, "same_as_requested"
			c.WorkerNice, c.MaxPriorityWait, c.Fallback, c.SessionMode = 5, Duration(50*time.Millisecond), runtime.FallbackCPU, runtime.SessionsPerInstance
			c.Traffic, c.Rollout = Traffic{Stable: 1}, json.RawMessage(`{"steps": [10, 100]}`)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ignored, err := parseTriton(t, tt.pbtxt)
			if err != nil {
				t.Fatal(err)
			}
			want := DefaultModelConfig()
			want.file = configPbtxt
			tt.want(&want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
			if ignored != nil {
				t.Errorf("ignored %q, want none", ignored)
			}
		})
	}
}

// Fields Sluice does not honour are named, each by its full path, so one
// warning can list them all.
func TestTritonConfigNamesWhatItIgnores(t *testing.T) {
	tests := []struct {
		name, pbtxt string
		want        []string
	}{
		{"scheduling and repository fields", `
runtime: "libtriton_onnxruntime.so"
model_warmup [ { name: "w" batch_size: 1 } ]
response_cache { enable: true }
parameters { key: "execution_mode" value: { string_value: "1" } }`,
			[]string{"model_warmup", `parameters["execution_mode"]`, "response_cache", "runtime"}},
		{"inside honoured messages", `
max_batch_size: 4
input [ { name: "x" dims: [ 4 ] }, { name: "y" dims: [ 4 ] reshape { shape: [ 2, 2 ] } } ]
dynamic_batching {
  preserve_ordering: true
  default_queue_policy { timeout_action: DELAY max_queue_size: 8 }
  priority_queue_policy { key: 1 value: { max_queue_size: 2 } }
}
instance_group [ { kind: KIND_GPU rate_limiter { priority: 1 } } ]
optimization {
  cuda { graphs: true }
  execution_accelerators {
    gpu_execution_accelerator [ { name: "tensorrt" parameters { key: "precision_mode" value: "INT8" } parameters { key: "trt_dla_enable" value: "1" } } ]
    cpu_execution_accelerator [ { name: "openvino" } ]
  }
}`, []string{
			"dynamic_batching.default_queue_policy.timeout_action",
			"dynamic_batching.preserve_ordering",
			"dynamic_batching.priority_queue_policy",
			"input[1].reshape",
			"instance_group[0].rate_limiter",
			"optimization.cuda",
			"optimization.execution_accelerators.cpu_execution_accelerator",
			`optimization.execution_accelerators.gpu_execution_accelerator[0].parameters["precision_mode"]`,
			`optimization.execution_accelerators.gpu_execution_accelerator[0].parameters["trt_dla_enable"]`,
		}},
		{"sequence batching", `sequence_batching { max_sequence_idle_microseconds: 5000000 }`, []string{"sequence_batching"}},
		{"a gpu accelerator on cpu instances", `
instance_group [ { kind: KIND_CPU } ]
optimization { execution_accelerators { gpu_execution_accelerator [ { name: "cuda" } ] } }`,
			[]string{"optimization.execution_accelerators.gpu_execution_accelerator (the instances are KIND_CPU)"}},
		{"an engine cache path with the cache off", `
instance_group [ { kind: KIND_GPU } ]
optimization { execution_accelerators { gpu_execution_accelerator [ { name: "tensorrt" parameters { key: "trt_engine_cache_path" value: "/c" } } ] } }`,
			[]string{`optimization.execution_accelerators.gpu_execution_accelerator[0].parameters["trt_engine_cache_path"] (trt_engine_cache_enable is off)`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, ignored, err := parseTriton(t, tt.pbtxt)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(ignored, tt.want) {
				t.Errorf("ignored\n got %q\nwant %q", ignored, tt.want)
			}
		})
	}
}

// What Sluice cannot honour safely is refused, naming the field and what
// it expects, as a bad request.
func TestTritonConfigRefused(t *testing.T) {
	tests := []struct{ name, pbtxt, want string }{
		{"not text format", `name: "m" max_batch_size: eight`, "expected Triton's ModelConfig in protobuf text format: proto:"}, // protobuf varies the rest's spacing on purpose
		{"another model's name", `name: "other"`, `name: "other", expected "m"`},
		{"another platform", `platform: "tensorflow_savedmodel"`, "platform: \"tensorflow_savedmodel\", expected onnxruntime_onnx"},
		{"another backend", `backend: "python"`, `backend: "python", expected onnxruntime`},
		{"negative batch", `max_batch_size: -1`, "max_batch_size: -1"},
		{"two instance groups", `instance_group [ { kind: KIND_GPU gpus: [0] }, { kind: KIND_GPU gpus: [1] } ]`, "instance_group: 2 groups, expected one"},
		{"KIND_MODEL", `instance_group [ { kind: KIND_MODEL } ]`, "instance_group[0].kind: KIND_MODEL, expected KIND_CPU or KIND_GPU"},
		{"gpus on cpu instances", `instance_group [ { kind: KIND_CPU gpus: [ 0 ] } ]`, "instance_group[0].gpus: [0], but kind is KIND_CPU"},
		{"negative count", `instance_group [ { count: -2 } ]`, "instance_group[0].count: -2, expected at least 1"},
		{"no latest versions", `version_policy { latest { num_versions: 0 } }`, "version_policy.latest.num_versions: 0, expected at least 1"},
		{"no specific versions", `version_policy { specific { } }`, "version_policy.specific.versions: empty"},
		{"version zero", `version_policy { specific { versions: [ 2, 0 ] } }`, "version_policy.specific.versions[1]: 0"},
		{"unnamed input", `input [ { data_type: TYPE_FP32 dims: [ 1 ] } ]`, "input[0]: name: empty"},
		{"more priority levels than the batcher has", `dynamic_batching { priority_levels: 40 }`, "priority_levels: 40, expected 1 to 16"},
		{"preferred above max", `max_batch_size: 4 dynamic_batching { preferred_batch_size: [ 8 ] }`, "preferred_batch_sizes[0]: 8"},
		{"an unknown accelerator", `optimization { execution_accelerators { gpu_execution_accelerator [ { name: "migraphx" } ] } }`, `gpu_execution_accelerator[0].name: "migraphx", expected tensorrt or cuda`},
		{"an unknown precision", `optimization { execution_accelerators { gpu_execution_accelerator [ { name: "tensorrt" parameters { key: "precision_mode" value: "FP8" } } ] } }`, `parameters["precision_mode"]: "FP8", expected FP32 or FP16`},
		{"an engine cache without its folder", `optimization { execution_accelerators { gpu_execution_accelerator [ { name: "tensorrt" parameters { key: "trt_engine_cache_enable" value: "true" } } ] } }`, "without trt_engine_cache_path"},
		{"a graph level", `optimization { graph { level: 3 } }`, "optimization.graph.level: 3, expected -1 (basic), 0 (all), 1 (extended) or 2 (disabled)"},
		{"a thread count", `parameters { key: "intra_op_thread_count" value: { string_value: "many" } }`, `parameters["intra_op_thread_count"]: "many", expected a number of threads`},
		{"a cuda option", `parameters { key: "cudnn_conv_algo_search" value: { string_value: "7" } }`, `parameters["cudnn_conv_algo_search"]: "7", expected one of`},
		{"a niceness out of range", `parameters { key: "sluice.worker_nice" value: { string_value: "30" } }`, "worker_nice: 30, expected 0 (as the server) to 19"},
		{"a fallback", `parameters { key: "sluice.fallback" value: { string_value: "gpu" } }`, `fallback: "gpu", expected fail or cpu`},
		{"traffic with a typo", `parameters { key: "sluice.traffic" value: { string_value: "{\"stabel\": 1}" } }`, `parameters["sluice.traffic"]`},
		{"a rollout that is not JSON", `parameters { key: "sluice.rollout" value: { string_value: "steps: [10]" } }`, `parameters["sluice.rollout"]: "steps: [10]", expected`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := parseTriton(t, tt.pbtxt)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
			var kinded *tensor.Error
			if !errors.As(err, &kinded) || kinded.Kind != tensor.InvalidArgument {
				t.Errorf("error %v is not InvalidArgument", err)
			}
		})
	}
}

// Any bytes either parse into a configuration that passes Validate or are
// refused; nothing panics.
func FuzzParseTritonConfig(f *testing.F) {
	f.Add(`name: "m" max_batch_size: 8 input [ { name: "x" data_type: TYPE_FP32 dims: [ 16 ] } ]`)
	f.Add(`dynamic_batching { priority_levels: 2 default_queue_policy { max_queue_size: 4 } }`)
	f.Add(`instance_group [ { kind: KIND_GPU count: 2 gpus: [ 0, 1 ] } ] version_policy { specific { versions: [ 1 ] } }`)
	f.Add(`optimization { execution_accelerators { gpu_execution_accelerator [ { name: "tensorrt" } ] } }`)
	f.Fuzz(func(t *testing.T, pbtxt string) {
		cfg, _, err := parseTriton(t, pbtxt)
		if err == nil {
			if verr := cfg.Validate(); verr != nil {
				t.Fatalf("parsed %q into a configuration Validate refuses: %v", pbtxt, verr)
			}
		}
	})
}

// What TritonConfig describes, FromTriton reads back into the same
// settings: GPU placements and provider options included, which the
// config endpoint's round trip on a CPU host never reaches.
func TestTritonConfigDescribesWhatItReads(t *testing.T) {
	sig := runtime.Signature{
		Inputs:  []runtime.IO{{Name: "x", DataType: tensor.FP32, Dims: []int64{-1, 16}}},
		Outputs: []runtime.IO{{Name: "y", DataType: tensor.Bytes, Dims: []int64{-1, 4}}},
		Batched: true,
	}
	tests := []struct {
		name string
		set  func(*ModelConfig)
	}{
		{"defaults", func(*ModelConfig) {}},
		{"tensorrt on two gpus", func(c *ModelConfig) {
			c.Provider, c.GPUs, c.Instances, c.Fallback = runtime.ProviderTensorRT, []int{0, 1}, 3, runtime.FallbackCPU
			c.TensorRT = runtime.TensorRTConfig{FP16: true, EngineCachePath: "/cache", MaxWorkspaceSize: 1 << 20}
			c.CUDA = runtime.CUDAConfig{GPUMemLimit: 1 << 30, ArenaExtendStrategy: "same_as_requested", CudnnConvAlgoSearch: "default", EnableCUDAGraph: true}
		}},
		{"cuda with its defaults", func(c *ModelConfig) { c.Provider, c.GPUs, c.Instances = runtime.ProviderCUDA, []int{2}, 1 }},
		{"batching, priorities and sluice's knobs", func(c *ModelConfig) {
			c.MaxBatchSize, c.PreferredBatchSizes, c.MaxQueueDelay, c.MaxQueueSize = 32, []int{8, 32}, Duration(250*time.Microsecond), 77
			c.PriorityLevels, c.DefaultPriority, c.DefaultTimeout, c.MaxPriorityWait = 3, 2, Duration(time.Second), Duration(time.Millisecond)
			c.WorkerNice, c.AllowSpinning, c.GraphOptimization, c.IntraOpThreads, c.InterOpThreads = 10, true, "disabled", 4, 2
			c.VersionPolicy, c.Traffic = VersionPolicy{Specific: []int64{2, 5}}, Traffic{Stable: 2, Canary: 5, Weight: 12.5}
			c.Rollout = json.RawMessage(`{"steps":[5,100]}`)
			c.Drift = json.RawMessage(`{"window":"5m","min_rows":100}`)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := DefaultModelConfig()
			tt.set(&want)
			v := &Version{name: "m", cfg: want, sig: sig}
			got := DefaultModelConfig()
			ignored, err := FromTriton(v.TritonConfig(), "m", &got)
			if err != nil || ignored != nil {
				t.Fatalf("reading the description back: %v (ignored %q)", err, ignored)
			}
			want.Inputs = []IOConfig{{Name: "x", Dims: []int64{-1, 16}, DataType: "FP32"}}
			want.Outputs = []IOConfig{{Name: "y", Dims: []int64{-1, 4}, DataType: "BYTES"}}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("read back\n got %+v\nwant %+v", got, want)
			}
		})
	}
}
