package runtime

import (
	"errors"
	"fmt"
	goruntime "runtime"

	ort "github.com/yalue/onnxruntime_go"
)

// Execution providers and fallback policies, as config.yaml names them.
const (
	ProviderCPU      = "cpu"
	ProviderCUDA     = "cuda"
	ProviderTensorRT = "tensorrt"

	FallbackFail = "fail"
	FallbackCPU  = "cpu"

	// SessionsAuto shares one session between the instances on the CPU
	// when each inference has one intra-op thread, and otherwise gives
	// each instance its own: see SessionConfig.shares.
	SessionsAuto = "auto"
	// SessionsShared runs every instance on one device (the CPU, or one
	// GPU) on one session: one copy of the weights, concurrent runs.
	SessionsShared = "shared"
	// SessionsPerInstance gives every instance its own session, weights
	// included.
	SessionsPerInstance = "per_instance"
)

// SessionConfig is how one model version's sessions are built.
type SessionConfig struct {
	// Instances is how many inferences run at once. On a GPU provider it
	// is per GPU, as Triton's instance_group count is: instances 2 with
	// gpus [0, 1] is 4 instances.
	Instances int `json:"instances" koanf:"instances"`
	// SessionMode is whether the instances on one device share one ORT
	// session, and so one copy of the weights (shared), or each have
	// their own (per_instance); auto is shared on the CPU with one
	// intra-op thread per inference, per_instance otherwise. Either way an
	// instance has its own run options and buffers, so one run can be
	// terminated alone. Shared instances share the session's intra-op
	// thread pool too.
	SessionMode string `json:"sessions" koanf:"sessions"`
	// IntraOpThreads is the threads one inference may use inside an operator.
	IntraOpThreads int `json:"intra_op_threads" koanf:"intra_op_threads"`
	// InterOpThreads is the threads used across independent operators.
	InterOpThreads int `json:"inter_op_threads" koanf:"inter_op_threads"`
	// GraphOptimization is one of disabled, basic, extended, all.
	GraphOptimization string `json:"graph_optimization" koanf:"graph_optimization"`
	// Provider is the execution provider: cpu, cuda or tensorrt (which
	// hands what TensorRT cannot build to CUDA).
	Provider string `json:"provider" koanf:"provider"`
	// Fallback is what a GPU provider that cannot run leads to: fail (the
	// version fails to load, unavailable) or cpu (a warning, and the same
	// number of sessions on the CPU).
	Fallback string `json:"fallback" koanf:"fallback"`
	// GPUs are the CUDA device ids the instances are spread over; none
	// means [0]. Only for the GPU providers.
	GPUs []int `json:"gpus,omitempty" koanf:"gpus"`
	// CUDA tunes the CUDA provider (also behind tensorrt).
	CUDA CUDAConfig `json:"cuda" koanf:"cuda"`
	// TensorRT tunes the TensorRT provider.
	TensorRT TensorRTConfig `json:"tensorrt" koanf:"tensorrt"`
	// AllowSpinning lets idle ORT threads busy-wait. It costs throughput
	// whenever instances share cores, which is why it is off by default.
	AllowSpinning bool `json:"allow_spinning" koanf:"allow_spinning"`
}

// CUDAConfig holds the CUDA provider's options, named as ONNX Runtime
// names them.
type CUDAConfig struct {
	// GPUMemLimit caps the bytes of one session's device arena; 0 is no cap.
	GPUMemLimit int64 `json:"gpu_mem_limit" koanf:"gpu_mem_limit"`
	// ArenaExtendStrategy is next_power_of_two or same_as_requested.
	ArenaExtendStrategy string `json:"arena_extend_strategy" koanf:"arena_extend_strategy"`
	// CudnnConvAlgoSearch is exhaustive, heuristic or default.
	CudnnConvAlgoSearch string `json:"cudnn_conv_algo_search" koanf:"cudnn_conv_algo_search"`
	// DoCopyInDefaultStream copies inputs and outputs on the compute stream.
	DoCopyInDefaultStream bool `json:"do_copy_in_default_stream" koanf:"do_copy_in_default_stream"`
	// EnableCUDAGraph replays a captured CUDA graph; it needs a model whose
	// every input dimension is fixed.
	EnableCUDAGraph bool `json:"enable_cuda_graph" koanf:"enable_cuda_graph"`
}

// TensorRTConfig holds the TensorRT provider's options.
type TensorRTConfig struct {
	// FP16 lets TensorRT build half-precision kernels.
	FP16 bool `json:"fp16" koanf:"fp16"`
	// EngineCachePath, when set, is the folder where built engines are kept
	// and reused across loads.
	EngineCachePath string `json:"engine_cache_path" koanf:"engine_cache_path"`
	// MaxWorkspaceSize caps TensorRT's scratch bytes; 0 lets TensorRT choose.
	MaxWorkspaceSize int64 `json:"max_workspace_size" koanf:"max_workspace_size"`
}

// maxSessions bounds the sessions of one model version.
const maxSessions = 256

// DefaultSessionConfig fills the CPUs the process may use with one-thread
// instances: on a small CPU machine N one-thread sessions serve more than one
// N-thread session, and they never oversubscribe the cores however many
// models are loaded, since each inference holds exactly one thread.
// GOMAXPROCS follows the container's CPU limit (Go 1.25 and later), which
// the host's CPU count does not.
func DefaultSessionConfig() SessionConfig {
	return SessionConfig{
		Instances:         min(goruntime.GOMAXPROCS(0), maxSessions),
		SessionMode:       SessionsAuto,
		IntraOpThreads:    1,
		InterOpThreads:    1,
		GraphOptimization: "all",
		Provider:          ProviderCPU,
		Fallback:          FallbackFail,
		CUDA: CUDAConfig{
			ArenaExtendStrategy:   "next_power_of_two",
			CudnnConvAlgoSearch:   "exhaustive",
			DoCopyInDefaultStream: true,
		},
	}
}

var optLevels = map[string]ort.GraphOptimizationLevel{
	"disabled": ort.GraphOptimizationLevelDisableAll,
	"basic":    ort.GraphOptimizationLevelEnableBasic,
	"extended": ort.GraphOptimizationLevelEnableExtended,
	"all":      ort.GraphOptimizationLevelEnableAll,
}

// ONNX Runtime's spellings of the CUDA options' values, by ours.
var (
	arenaStrategies = map[string]string{"next_power_of_two": "kNextPowerOfTwo", "same_as_requested": "kSameAsRequested"}
	convSearches    = map[string]string{"exhaustive": "EXHAUSTIVE", "heuristic": "HEURISTIC", "default": "DEFAULT"}
)

// Validate names the first field that is out of range.
func (c SessionConfig) Validate() error {
	switch {
	case c.Instances < 1 || c.Instances > maxSessions:
		return fmt.Errorf("instances: %d, expected 1 to %d", c.Instances, maxSessions)
	case c.IntraOpThreads < 1 || c.IntraOpThreads > 256:
		return fmt.Errorf("intra_op_threads: %d, expected 1 to 256", c.IntraOpThreads)
	case c.InterOpThreads < 1 || c.InterOpThreads > 256:
		return fmt.Errorf("inter_op_threads: %d, expected 1 to 256", c.InterOpThreads)
	}
	if _, ok := optLevels[c.GraphOptimization]; !ok {
		return fmt.Errorf("graph_optimization: %q, expected disabled, basic, extended or all", c.GraphOptimization)
	}
	switch c.Provider {
	case ProviderCPU, ProviderCUDA, ProviderTensorRT:
	default:
		return fmt.Errorf("provider: %q, expected cpu, cuda or tensorrt", c.Provider)
	}
	if c.Fallback != FallbackFail && c.Fallback != FallbackCPU {
		return fmt.Errorf("fallback: %q, expected fail or cpu", c.Fallback)
	}
	if err := c.validateGPUs(); err != nil {
		return err
	}
	if err := c.validateSessionMode(); err != nil {
		return err
	}
	if err := c.CUDA.validate(); err != nil {
		return err
	}
	return c.TensorRT.validate()
}

// validateGPUs checks the device list and the sessions it makes.
func (c SessionConfig) validateGPUs() error {
	if c.Provider == ProviderCPU && len(c.GPUs) > 0 {
		return fmt.Errorf("gpus: %v, but provider is cpu; set provider: cuda or tensorrt, or drop gpus", c.GPUs)
	}
	seen := map[int]bool{}
	for i, g := range c.GPUs {
		if g < 0 || g > 1023 {
			return fmt.Errorf("gpus[%d]: %d, expected a CUDA device id from 0", i, g)
		}
		if seen[g] {
			return fmt.Errorf("gpus[%d]: device %d is listed twice; list each GPU once and set instances per GPU", i, g)
		}
		seen[g] = true
	}
	if n := c.Sessions(); n > maxSessions {
		return fmt.Errorf("instances: %d per GPU on %d GPUs is %d sessions, expected at most %d", c.Instances, len(c.GPUs), n, maxSessions)
	}
	return nil
}

// validateSessionMode refuses sharing where one session would run the
// instances one after another: TensorRT's provider locks its engine for a
// whole run, and a captured CUDA graph replays one run at a time.
func (c SessionConfig) validateSessionMode() error {
	switch c.SessionMode {
	case SessionsAuto, SessionsPerInstance:
		return nil
	case SessionsShared:
	default:
		return fmt.Errorf("sessions: %q, expected auto, shared or per_instance", c.SessionMode)
	}
	switch {
	case c.Provider == ProviderTensorRT:
		return errors.New("sessions: shared, but provider tensorrt runs one inference at a time per session, so the instances would queue; use auto or per_instance")
	case c.Provider == ProviderCUDA && c.CUDA.EnableCUDAGraph:
		return errors.New("sessions: shared, but cuda.enable_cuda_graph replays one captured run at a time per session; use auto or per_instance")
	}
	return nil
}

// shares says whether the instances placed at p share one session. Auto
// shares where that changes nothing but memory: on the CPU with one
// intra-op thread, each concurrent run computes on its caller's thread as
// it would in a session of its own. A session has one intra-op pool, so
// shared instances with more threads would split one pool of that size
// where separate sessions have a pool each. On a GPU provider sharing has
// not been measured, so auto keeps a session per instance there.
func (c SessionConfig) shares(p Placement) bool {
	switch c.SessionMode {
	case SessionsShared:
		return true
	case SessionsAuto:
		return p.Provider == ProviderCPU && c.IntraOpThreads == 1
	}
	return false
}

func (c CUDAConfig) validate() error {
	if c.GPUMemLimit < 0 {
		return fmt.Errorf("cuda.gpu_mem_limit: %d, expected bytes (0 for no limit)", c.GPUMemLimit)
	}
	if _, ok := arenaStrategies[c.ArenaExtendStrategy]; !ok {
		return fmt.Errorf("cuda.arena_extend_strategy: %q, expected next_power_of_two or same_as_requested", c.ArenaExtendStrategy)
	}
	if _, ok := convSearches[c.CudnnConvAlgoSearch]; !ok {
		return fmt.Errorf("cuda.cudnn_conv_algo_search: %q, expected exhaustive, heuristic or default", c.CudnnConvAlgoSearch)
	}
	return nil
}

func (t TensorRTConfig) validate() error {
	if t.MaxWorkspaceSize < 0 {
		return fmt.Errorf("tensorrt.max_workspace_size: %d, expected bytes (0 lets TensorRT choose)", t.MaxWorkspaceSize)
	}
	return nil
}

// newSessionOptions builds ORT session options for sessions placed at p;
// the caller destroys them once the sessions exist.
func newSessionOptions(c SessionConfig, p Placement) (*ort.SessionOptions, error) {
	o, err := ort.NewSessionOptions()
	if err != nil {
		return nil, fmt.Errorf("creating session options: %w", err)
	}
	spin := "0"
	if c.AllowSpinning {
		spin = "1"
	}
	steps := []func() error{
		func() error { return o.SetIntraOpNumThreads(c.IntraOpThreads) },
		func() error { return o.SetInterOpNumThreads(c.InterOpThreads) },
		func() error { return o.SetGraphOptimizationLevel(optLevels[c.GraphOptimization]) },
		func() error { return o.AddSessionConfigEntry("session.intra_op.allow_spinning", spin) },
		func() error { return o.AddSessionConfigEntry("session.inter_op.allow_spinning", spin) },
		// A failing run comes back as an error with ORT's message; logging
		// it again from inside ORT only fills the log.
		func() error { return o.SetLogSeverityLevel(ort.LoggingLevelFatal) },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			o.Destroy()
			return nil, fmt.Errorf("setting session options: %w", err)
		}
	}
	if err := appendProvider(o, c, p); err != nil {
		o.Destroy()
		return nil, err
	}
	return o, nil
}
