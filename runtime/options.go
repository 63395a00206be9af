package runtime

import (
	"fmt"
	goruntime "runtime"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/sluice-serving/sluice/tensor"
)

// SessionConfig is how one model version's sessions are built.
type SessionConfig struct {
	// Instances is how many inferences run at once: one session each.
	Instances int `json:"instances" koanf:"instances"`
	// IntraOpThreads is the threads one inference may use inside an operator.
	IntraOpThreads int `json:"intra_op_threads" koanf:"intra_op_threads"`
	// InterOpThreads is the threads used across independent operators.
	InterOpThreads int `json:"inter_op_threads" koanf:"inter_op_threads"`
	// GraphOptimization is one of disabled, basic, extended, all.
	GraphOptimization string `json:"graph_optimization" koanf:"graph_optimization"`
	// Provider is the execution provider: cpu; cuda and tensorrt are named
	// for GPU builds and refused by this one.
	Provider string `json:"provider" koanf:"provider"`
	// AllowSpinning lets idle ORT threads busy-wait. It costs throughput
	// whenever instances share cores, which is why it is off by default.
	AllowSpinning bool `json:"allow_spinning" koanf:"allow_spinning"`
}

// DefaultSessionConfig fills the machine's cores with single-thread
// instances: on a small CPU machine N one-thread sessions serve more than one
// N-thread session, and they never oversubscribe the cores however many
// models are loaded, since each inference holds exactly one thread.
func DefaultSessionConfig() SessionConfig {
	return SessionConfig{
		Instances:         goruntime.NumCPU(),
		IntraOpThreads:    1,
		InterOpThreads:    1,
		GraphOptimization: "all",
		Provider:          "cpu",
	}
}

var optLevels = map[string]ort.GraphOptimizationLevel{
	"disabled": ort.GraphOptimizationLevelDisableAll,
	"basic":    ort.GraphOptimizationLevelEnableBasic,
	"extended": ort.GraphOptimizationLevelEnableExtended,
	"all":      ort.GraphOptimizationLevelEnableAll,
}

// Validate names the first field that is out of range.
func (c SessionConfig) Validate() error {
	switch {
	case c.Instances < 1 || c.Instances > 256:
		return fmt.Errorf("instances: %d, expected 1 to 256", c.Instances)
	case c.IntraOpThreads < 1 || c.IntraOpThreads > 256:
		return fmt.Errorf("intra_op_threads: %d, expected 1 to 256", c.IntraOpThreads)
	case c.InterOpThreads < 1 || c.InterOpThreads > 256:
		return fmt.Errorf("inter_op_threads: %d, expected 1 to 256", c.InterOpThreads)
	}
	if _, ok := optLevels[c.GraphOptimization]; !ok {
		return fmt.Errorf("graph_optimization: %q, expected disabled, basic, extended or all", c.GraphOptimization)
	}
	switch c.Provider {
	case "cpu", "cuda", "tensorrt":
	default:
		return fmt.Errorf("provider: %q, expected cpu, cuda or tensorrt", c.Provider)
	}
	return nil
}

// newSessionOptions builds ORT session options from c; the caller destroys
// them once the session exists.
func newSessionOptions(c SessionConfig) (*ort.SessionOptions, error) {
	if c.Provider != "cpu" {
		return nil, tensor.Errorf(tensor.Unavailable, "provider: execution provider %q is not available yet: this build runs ONNX Runtime on the CPU only; use provider: cpu", c.Provider)
	}
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
	return o, nil
}
