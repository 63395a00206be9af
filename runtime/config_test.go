package runtime_test

import (
	goruntime "runtime"
	"slices"
	"strings"
	"testing"

	"github.com/sluice-serving/sluice/runtime"
)

func TestSessionConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*runtime.SessionConfig)
		key  string // the key the error must name
	}{
		{"zero instances", func(c *runtime.SessionConfig) { c.Instances = 0 }, "instances"},
		{"zero threads", func(c *runtime.SessionConfig) { c.IntraOpThreads = 0 }, "intra_op_threads"},
		{"bad level", func(c *runtime.SessionConfig) { c.GraphOptimization = "max" }, "graph_optimization"},
		{"bad provider", func(c *runtime.SessionConfig) { c.Provider = "tpu" }, "provider"},
		{"bad fallback", func(c *runtime.SessionConfig) { c.Fallback = "retry" }, "fallback"},
		{"gpus on cpu", func(c *runtime.SessionConfig) { c.GPUs = []int{0} }, "gpus"},
		{"negative gpu", func(c *runtime.SessionConfig) { c.Provider, c.GPUs = "cuda", []int{0, -1} }, "gpus[1]"},
		{"gpu twice", func(c *runtime.SessionConfig) { c.Provider, c.GPUs = "cuda", []int{1, 1} }, "gpus[1]"},
		{"too many sessions", func(c *runtime.SessionConfig) { c.Provider, c.Instances, c.GPUs = "cuda", 200, []int{0, 1} }, "instances"},
		{"negative memory limit", func(c *runtime.SessionConfig) { c.CUDA.GPUMemLimit = -1 }, "cuda.gpu_mem_limit"},
		{"bad arena strategy", func(c *runtime.SessionConfig) { c.CUDA.ArenaExtendStrategy = "kNextPowerOfTwo" }, "cuda.arena_extend_strategy"},
		{"bad conv search", func(c *runtime.SessionConfig) { c.CUDA.CudnnConvAlgoSearch = "fast" }, "cuda.cudnn_conv_algo_search"},
		{"negative workspace", func(c *runtime.SessionConfig) { c.TensorRT.MaxWorkspaceSize = -1 }, "tensorrt.max_workspace_size"},
		{"bad session mode", func(c *runtime.SessionConfig) { c.SessionMode = "pooled" }, "sessions"},
		{"no session mode", func(c *runtime.SessionConfig) { c.SessionMode = "" }, "sessions"},
		{"shared on tensorrt", func(c *runtime.SessionConfig) { c.Provider, c.SessionMode = "tensorrt", "shared" }, "sessions"},
		{"shared with cuda graphs", func(c *runtime.SessionConfig) {
			c.Provider, c.SessionMode, c.CUDA.EnableCUDAGraph = "cuda", "shared", true
		}, "sessions"},
	}
	if err := runtime.DefaultSessionConfig().Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := runtime.DefaultSessionConfig()
			tt.mod(&c)
			err := c.Validate()
			if err == nil || !strings.HasPrefix(err.Error(), tt.key+":") {
				t.Errorf("err = %v, want one that starts by naming %s", err, tt.key)
			}
		})
	}
}

func TestSessionConfigAcceptsGPUSettings(t *testing.T) {
	c := runtime.DefaultSessionConfig()
	c.Provider, c.Fallback, c.GPUs, c.Instances = "tensorrt", "cpu", []int{0, 1}, 2
	c.CUDA = runtime.CUDAConfig{GPUMemLimit: 1 << 30, ArenaExtendStrategy: "same_as_requested", CudnnConvAlgoSearch: "heuristic", EnableCUDAGraph: true}
	c.TensorRT = runtime.TensorRTConfig{FP16: true, EngineCachePath: "/var/cache/trt", MaxWorkspaceSize: 1 << 30}
	if err := c.Validate(); err != nil {
		t.Fatalf("valid GPU settings refused: %v", err)
	}
	c.Provider, c.SessionMode, c.CUDA.EnableCUDAGraph = "cuda", "shared", false
	if err := c.Validate(); err != nil {
		t.Fatalf("shared sessions on cuda refused: %v", err)
	}
}

func TestDefaultInstancesFollowGOMAXPROCS(t *testing.T) {
	defer goruntime.GOMAXPROCS(goruntime.GOMAXPROCS(3))
	if got := runtime.DefaultSessionConfig().Instances; got != 3 {
		t.Errorf("default instances = %d with GOMAXPROCS 3, want 3", got)
	}
}

func TestPlan(t *testing.T) {
	cpu := func(n int) []runtime.Placement {
		return slices.Repeat([]runtime.Placement{{Provider: "cpu", GPU: -1}}, n)
	}
	at := func(p string, gpus ...int) []runtime.Placement {
		var out []runtime.Placement
		for _, g := range gpus {
			out = append(out, runtime.Placement{Provider: p, GPU: g})
		}
		return out
	}
	tests := []struct {
		name      string
		provider  string
		instances int
		gpus      []int
		want      []runtime.Placement
	}{
		{"cpu", "cpu", 3, nil, cpu(3)},
		{"cuda on the default gpu", "cuda", 2, nil, at("cuda", 0, 0)},
		{"one per gpu", "cuda", 1, []int{0, 1}, at("cuda", 0, 1)},
		{"two per gpu, interleaved", "cuda", 2, []int{0, 1}, at("cuda", 0, 1, 0, 1)},
		{"named devices in their order", "tensorrt", 2, []int{3, 1}, at("tensorrt", 3, 1, 3, 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := runtime.DefaultSessionConfig()
			c.Provider, c.Instances, c.GPUs = tt.provider, tt.instances, tt.gpus
			got := runtime.Plan(c)
			if !slices.Equal(got, tt.want) {
				t.Errorf("Plan = %v, want %v", got, tt.want)
			}
			if c.Sessions() != len(tt.want) {
				t.Errorf("Sessions = %d, want %d", c.Sessions(), len(tt.want))
			}
		})
	}
}
