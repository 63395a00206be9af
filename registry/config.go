package registry

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/sluice-serving/sluice/batching"
	"github.com/sluice-serving/sluice/runtime"
	"github.com/sluice-serving/sluice/tensor"
)

// Config is the registry's part of the server configuration.
type Config struct {
	// Path is the model repository folder.
	Path string `koanf:"path"`
	// ControlMode is poll (watch the folder), explicit (only the repository
	// API changes what is loaded) or none (load at start only).
	ControlMode string `koanf:"control_mode"`
	// PollInterval is how often poll mode looks at the folder.
	PollInterval time.Duration `koanf:"poll_interval"`
	// DrainTimeout bounds how long an unloading version may finish its
	// queued and running calls before they are cancelled.
	DrainTimeout time.Duration `koanf:"drain_timeout"`
	// RolloutInterval is how often live rollouts are analysed.
	RolloutInterval time.Duration `koanf:"rollout_interval"`
}

// Control modes.
const (
	ModePoll     = "poll"
	ModeExplicit = "explicit"
	ModeNone     = "none"
)

// DefaultConfig serves the repository's own models folder and picks up
// changes to it every 5 seconds.
func DefaultConfig() Config {
	return Config{Path: "models", ControlMode: ModePoll, PollInterval: 5 * time.Second, DrainTimeout: 30 * time.Second, RolloutInterval: time.Second}
}

// Validate names the key that is wrong.
func (c Config) Validate() error {
	switch {
	case c.Path == "":
		return fmt.Errorf("repository.path: empty, expected the model repository folder")
	case c.ControlMode != ModePoll && c.ControlMode != ModeExplicit && c.ControlMode != ModeNone:
		return fmt.Errorf("repository.control_mode: %q, expected poll, explicit or none", c.ControlMode)
	case c.PollInterval <= 0:
		return fmt.Errorf("repository.poll_interval: %v, expected a positive duration", c.PollInterval)
	case c.DrainTimeout <= 0:
		return fmt.Errorf("repository.drain_timeout: %v, expected a positive duration", c.DrainTimeout)
	case c.RolloutInterval <= 0:
		return fmt.Errorf("repository.rollout_interval: %v, expected a positive duration", c.RolloutInterval)
	}
	return nil
}

// ModelConfig is a model's config.yaml. Session options sit at the top
// level, as instance settings do in Triton's model configuration.
type ModelConfig struct {
	runtime.SessionConfig
	Batching
	// Platform is accepted for Triton familiarity; only onnxruntime_onnx runs.
	Platform string `json:"platform"`
	// VersionPolicy picks the versions served; the highest one by default.
	VersionPolicy VersionPolicy `json:"version_policy"`
	// Traffic splits unversioned calls between a stable and a canary
	// version until the admin API or a rollout takes over.
	Traffic Traffic `json:"traffic"`
	// Rollout is the model's default rollout spec, as JSON: the rollout
	// package reads it, and checks it through CheckRolloutSpecs.
	Rollout json.RawMessage `json:"rollout,omitempty"`
	// Inputs fixes dimensions the model leaves open, e.g. PP-OCR's image size.
	Inputs []IOConfig `json:"inputs"`
}

// Batching is the dynamic batcher's part of config.yaml, with Triton's
// names; durations are Go duration strings ("2ms").
type Batching struct {
	MaxBatchSize        int      `json:"max_batch_size"`
	PreferredBatchSizes []int    `json:"preferred_batch_sizes"`
	MaxQueueDelay       Duration `json:"max_queue_delay"`
	MaxQueueSize        int      `json:"max_queue_size"`
	DefaultTimeout      Duration `json:"default_timeout"`
	PriorityLevels      int      `json:"priority_levels"`
	DefaultPriority     int      `json:"default_priority"`
	MaxPriorityWait     Duration `json:"max_priority_wait"`
	// WorkerNice lowers the scheduling priority of the threads inference
	// runs on (1 to 19; 0 leaves them as the server's): see batching.Config.
	WorkerNice int `json:"worker_nice"`
}

// Duration reads "250us", "2ms" or "1s" from config.yaml.
type Duration time.Duration

// UnmarshalJSON accepts a Go duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("expected a duration such as \"2ms\", got %s", b)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("expected a duration such as \"2ms\", got %q", s)
	}
	*d = Duration(v)
	return nil
}

// MarshalJSON writes the duration as config.yaml takes it ("2ms").
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// batcherConfig is the batching package's view of the model config.
func (c ModelConfig) batcherConfig() batching.Config {
	return batching.Config{
		MaxBatchSize:        c.MaxBatchSize,
		PreferredBatchSizes: c.PreferredBatchSizes,
		MaxQueueDelay:       time.Duration(c.MaxQueueDelay),
		MaxQueueSize:        c.MaxQueueSize,
		DefaultTimeout:      time.Duration(c.DefaultTimeout),
		PriorityLevels:      c.PriorityLevels,
		DefaultPriority:     c.DefaultPriority,
		MaxPriorityWait:     time.Duration(c.MaxPriorityWait),
		Instances:           c.Instances,
		WorkerNice:          c.WorkerNice,
	}
}

// IOConfig overrides the dimensions of one input.
type IOConfig struct {
	Name string  `json:"name"`
	Dims []int64 `json:"dims"`
}

const platformONNX = "onnxruntime_onnx"

// DefaultModelConfig is what a model without config.yaml gets.
func DefaultModelConfig() ModelConfig {
	b := batching.DefaultConfig()
	return ModelConfig{
		SessionConfig: runtime.DefaultSessionConfig(),
		Batching: Batching{
			MaxQueueSize:    b.MaxQueueSize,
			PriorityLevels:  b.PriorityLevels,
			DefaultPriority: b.DefaultPriority,
			MaxPriorityWait: Duration(b.MaxPriorityWait),
		},
		Platform:      platformONNX,
		VersionPolicy: VersionPolicy{Latest: 1},
	}
}

// readModelConfig reads dir/config.yaml over the defaults (a missing file
// means the defaults) and returns it with its bytes, which are part of each
// version's content hash. Unknown keys are errors so a typo never goes
// unnoticed.
func (r *Registry) readModelConfig(dir string) (ModelConfig, []byte, error) {
	cfg := DefaultModelConfig()
	b, err := os.ReadFile(filepath.Join(dir, "config.yaml"))
	if os.IsNotExist(err) {
		return cfg, nil, nil
	}
	if err != nil {
		return cfg, nil, err
	}
	if err := r.parseConfig(b, &cfg); err != nil {
		return cfg, b, fmt.Errorf("config.yaml: %w", err)
	}
	return cfg, b, nil
}

// parseConfig is ParseModelConfig plus the rollout section's check.
func (r *Registry) parseConfig(b []byte, cfg *ModelConfig) error {
	if err := ParseModelConfig(b, cfg); err != nil {
		return err
	}
	r.mu.RLock()
	check := r.specCheck
	r.mu.RUnlock()
	if check != nil && cfg.Rollout != nil {
		if err := check(cfg.Rollout); err != nil {
			return tensor.WithKind(tensor.InvalidArgument, err)
		}
	}
	return nil
}

// ParseModelConfig decodes YAML into cfg strictly and validates the result.
func ParseModelConfig(b []byte, cfg *ModelConfig) error {
	if err := yaml.UnmarshalStrict(b, cfg); err != nil {
		return tensor.WithKind(tensor.InvalidArgument, err)
	}
	// The default instances (one per CPU the process may use) suit the
	// CPU; on a GPU one session per device is Triton's default count.
	var keys map[string]json.RawMessage
	if cfg.Provider != "cpu" && yaml.Unmarshal(b, &keys) == nil && keys["instances"] == nil {
		cfg.Instances = 1
	}
	return tensor.WithKind(tensor.InvalidArgument, cfg.Validate())
}

// Validate checks the fields that need no model file.
func (c ModelConfig) Validate() error {
	if err := c.SessionConfig.Validate(); err != nil {
		return err
	}
	if err := c.batcherConfig().Validate(); err != nil {
		return err
	}
	if err := c.Traffic.Validate(); err != nil {
		return err
	}
	if c.Platform != platformONNX {
		return fmt.Errorf("platform: %q, expected %s", c.Platform, platformONNX)
	}
	for i, in := range c.Inputs {
		if in.Name == "" {
			return fmt.Errorf("inputs[%d].name: empty, expected an input of the model", i)
		}
	}
	return nil
}

// applyDims returns the signature callers see: the model's own, with the
// configured dimensions in place of open ones.
func (c ModelConfig) applyDims(sig runtime.Signature) (runtime.Signature, error) {
	if c.MaxBatchSize > 0 && !sig.Batched {
		return sig, fmt.Errorf("max_batch_size: %d, but dimension 0 of the model is not an open batch dimension (input %q is %s); use max_batch_size: 0", c.MaxBatchSize, sig.Inputs[0].Name, tensor.FormatShape(sig.Inputs[0].Dims))
	}
	out := sig
	out.Inputs = append([]runtime.IO(nil), sig.Inputs...)
	for i, ic := range c.Inputs {
		j := indexOf(out.Inputs, ic.Name)
		if j < 0 {
			return sig, fmt.Errorf("inputs[%d].name: %q is not an input of the model; it has %s", i, ic.Name, ioNames(sig.Inputs))
		}
		if err := checkOverride(ic.Dims, sig.Inputs[j].Dims, sig.Batched); err != nil {
			return sig, fmt.Errorf("inputs[%d].dims: %w", i, err)
		}
		out.Inputs[j].Dims = ic.Dims
	}
	return out, nil
}

func checkOverride(dims, model []int64, batched bool) error {
	if len(dims) != len(model) {
		return fmt.Errorf("%s has %d dimensions, the model's input has %d (%s)", tensor.FormatShape(dims), len(dims), len(model), tensor.FormatShape(model))
	}
	for k, d := range dims {
		switch {
		case batched && k == 0 && d != -1:
			return fmt.Errorf("dimension 0 is the batch and must stay -1, got %d", d)
		case d == 0 || d < -1:
			return fmt.Errorf("dimension %d is %d, expected a positive size or -1", k, d)
		case model[k] != -1 && d != model[k]:
			return fmt.Errorf("dimension %d is %d, the model fixes it at %d (%s)", k, d, model[k], tensor.FormatShape(model))
		}
	}
	return nil
}

func indexOf(ios []runtime.IO, name string) int {
	for i, io := range ios {
		if io.Name == name {
			return i
		}
	}
	return -1
}

func ioNames(ios []runtime.IO) string {
	s := ""
	for i, io := range ios {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("%q", io.Name)
	}
	return s
}
