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
	// Drift turns on monitoring of the live inputs and outputs against the
	// training profile in each version's model card, as JSON: the drift
	// package reads it, and checks it through CheckDriftSpecs. Editing it
	// reloads the versions, as any config.yaml edit does.
	Drift json.RawMessage `json:"drift,omitempty"`
	// Inputs fixes dimensions the model leaves open, e.g. PP-OCR's image size.
	Inputs []IOConfig `json:"inputs"`
	// Outputs does the same for outputs; their dims only describe what
	// the model gives (metadata, the config endpoint), as Triton's do.
	Outputs []IOConfig `json:"outputs"`

	// file is the file the configuration came from, for the errors that
	// checking it against the model file raises; "" is config.yaml.
	file string
}

// Batching is the dynamic batcher's part of config.yaml, with Triton's
// names; durations are Go duration strings ("2ms").
type Batching struct {
	MaxBatchSize        int      `json:"max_batch_size"`
	PreferredBatchSizes []int    `json:"preferred_batch_sizes"`
	MaxQueueDelay       Duration `json:"max_queue_delay"`
	// IdleDispatch runs a call that finds every instance idle at once;
	// max_queue_delay then applies only while another batch runs.
	IdleDispatch    bool     `json:"idle_dispatch"`
	MaxQueueSize    int      `json:"max_queue_size"`
	DefaultTimeout  Duration `json:"default_timeout"`
	PriorityLevels  int      `json:"priority_levels"`
	DefaultPriority int      `json:"default_priority"`
	MaxPriorityWait Duration `json:"max_priority_wait"`
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
		IdleDispatch:        c.IdleDispatch,
		MaxQueueSize:        c.MaxQueueSize,
		DefaultTimeout:      time.Duration(c.DefaultTimeout),
		PriorityLevels:      c.PriorityLevels,
		DefaultPriority:     c.DefaultPriority,
		MaxPriorityWait:     time.Duration(c.MaxPriorityWait),
		Instances:           c.Instances,
		WorkerNice:          c.WorkerNice,
	}
}

// IOConfig overrides the dimensions of one input or output and, when
// DataType is given, checks its element type.
type IOConfig struct {
	Name string  `json:"name"`
	Dims []int64 `json:"dims"`
	// DataType is the v2 protocol's name ("FP32"); a model whose tensor
	// has another type is refused at load rather than failing every call.
	DataType string `json:"data_type,omitempty"`
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

// The files a model's configuration may come from: Sluice's own, or
// Triton's ModelConfig in protobuf text format. A folder holds one of them.
const (
	configYAML  = "config.yaml"
	configPbtxt = "config.pbtxt"
)

// readModelConfig reads the model folder's config.yaml or config.pbtxt
// over the defaults (neither means the defaults) with the bytes, which are
// part of each version's content hash, and the config.pbtxt fields Sluice
// ignores. Unknown keys in config.yaml are errors so a typo never goes
// unnoticed; Triton's schema is fixed, so there a field Sluice ignores is
// a warning, and one it cannot honour safely an error.
func (r *Registry) readModelConfig(dir string) *configSource {
	src := readConfigFiles(dir)
	if src.err == nil {
		src.err = r.checkRollout(src.cfg)
		if src.err != nil {
			src.err = fmt.Errorf("%s: %w", src.cfg.fileName(), src.err)
		}
	}
	return src
}

// ReadModelConfig reads a model folder's configuration as the registry
// does, short of checking config.yaml's rollout and drift sections, and
// returns the config.pbtxt fields Sluice ignores: sluice doctor and the registry read
// a folder the same way.
func ReadModelConfig(dir string) (ModelConfig, []string, error) {
	src := readConfigFiles(dir)
	return src.cfg, src.ignored, src.err
}

func readConfigFiles(dir string) *configSource {
	yml, yerr := readIfThere(filepath.Join(dir, configYAML))
	pb, perr := readIfThere(filepath.Join(dir, configPbtxt))
	cfg := DefaultModelConfig()
	switch {
	case yerr != nil || perr != nil:
		return &configSource{cfg: cfg, err: cmpOr(yerr, perr)}
	case yml != nil && pb != nil:
		return &configSource{cfg: cfg, err: fmt.Errorf("%s and %s are both in %s: keep one, Sluice's config.yaml or Triton's config.pbtxt", configYAML, configPbtxt, dir)}
	case pb != nil:
		ignored, err := ParseTritonConfig(pb, filepath.Base(dir), &cfg)
		return &configSource{cfg: cfg, raw: pb, ignored: ignored, err: wrapFile(configPbtxt, err)}
	case yml != nil:
		return &configSource{cfg: cfg, raw: yml, err: wrapFile(configYAML, ParseModelConfig(yml, &cfg))}
	}
	return &configSource{cfg: cfg}
}

// readIfThere is the file's bytes, nil and no error when it does not
// exist, and never nil when it does, however short.
func readIfThere(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if b == nil && err == nil {
		b = []byte{} // an empty file is there: nil would read as absent
	}
	return b, err
}

func wrapFile(file string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", file, err)
}

// fileName is the file the configuration came from, for errors.
func (c ModelConfig) fileName() string {
	if c.file == "" {
		return configYAML
	}
	return c.file
}

// parseConfig is ParseModelConfig plus the rollout and drift sections' checks.
func (r *Registry) parseConfig(b []byte, cfg *ModelConfig) error {
	if err := ParseModelConfig(b, cfg); err != nil {
		return err
	}
	return r.checkRollout(*cfg)
}

// checkRollout checks the configuration's rollout and drift sections with
// the checks the rollout controller and drift monitoring set, if any.
func (r *Registry) checkRollout(cfg ModelConfig) error {
	r.mu.RLock()
	check, drift := r.specCheck, r.driftCheck
	r.mu.RUnlock()
	if check != nil && cfg.Rollout != nil {
		if err := check(cfg.Rollout); err != nil {
			return tensor.WithKind(tensor.InvalidArgument, err)
		}
	}
	if drift != nil && cfg.Drift != nil {
		if err := drift(cfg.Drift); err != nil {
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
	if err := validateIO("inputs", c.Inputs); err != nil {
		return err
	}
	return validateIO("outputs", c.Outputs)
}

func validateIO(key string, ios []IOConfig) error {
	for i, io := range ios {
		if io.Name == "" {
			return fmt.Errorf("%s[%d].name: empty, expected the name of one of the model's %s", key, i, key)
		}
		if _, err := tensor.ParseDataType(io.DataType); io.DataType != "" && err != nil {
			return fmt.Errorf("%s[%d].data_type: %w", key, i, err)
		}
	}
	return nil
}

// applyDims returns the signature callers see: the model's own, with the
// configured dimensions in place of open ones. A configured data type
// must be the model's.
func (c ModelConfig) applyDims(sig runtime.Signature) (runtime.Signature, error) {
	if c.MaxBatchSize > 0 && !sig.Batched {
		return sig, fmt.Errorf("max_batch_size: %d, but dimension 0 of the model is not an open batch dimension (input %q is %s); use max_batch_size: 0", c.MaxBatchSize, sig.Inputs[0].Name, tensor.FormatShape(sig.Inputs[0].Dims))
	}
	out := sig
	var err error
	if out.Inputs, err = applyIO("inputs", c.Inputs, sig.Inputs, sig.Batched); err != nil {
		return sig, err
	}
	if out.Outputs, err = applyIO("outputs", c.Outputs, sig.Outputs, sig.Batched); err != nil {
		return sig, err
	}
	return out, nil
}

// applyIO returns a copy of the model's inputs or outputs with the
// configured dimensions applied; key names them in errors.
func applyIO(key string, conf []IOConfig, model []runtime.IO, batched bool) ([]runtime.IO, error) {
	out := append([]runtime.IO(nil), model...)
	for i, ic := range conf {
		j := indexOf(out, ic.Name)
		if j < 0 {
			return nil, fmt.Errorf("%s[%d].name: %q is not one of the model's %s; it has %s", key, i, ic.Name, key, ioNames(model))
		}
		if ic.DataType != "" && ic.DataType != model[j].DataType.String() {
			return nil, fmt.Errorf("%s[%d].data_type: %s, but the model's %q is %s", key, i, ic.DataType, ic.Name, model[j].DataType)
		}
		if ic.Dims == nil {
			continue // a name and a type only: nothing to fix
		}
		if err := checkOverride(ic.Dims, model[j].Dims, batched); err != nil {
			return nil, fmt.Errorf("%s[%d].dims: %w", key, i, err)
		}
		out[j].Dims = ic.Dims
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
