package config

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/go-viper/mapstructure/v2"
	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/confmap"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/providers/structs"
	"github.com/knadh/koanf/v2"

	"github.com/sluice-serving/sluice/autoscale"
	"github.com/sluice-serving/sluice/coordination"
	"github.com/sluice-serving/sluice/drift"
	"github.com/sluice-serving/sluice/registry"
	"github.com/sluice-serving/sluice/server"
)

// Config is everything `sluice serve` reads.
type Config struct {
	Server     server.Config    `koanf:"server"`
	Repository registry.Config  `koanf:"repository"`
	Runtime    RuntimeConfig    `koanf:"runtime"`
	Log        LogConfig        `koanf:"log"`
	Autoscale  autoscale.Config `koanf:"autoscale"`
	// Coordination makes replicas one fleet for rollouts, through etcd.
	Coordination coordination.Config `koanf:"coordination"`
	// Drift monitors live calls against each version's training profile;
	// which models, and how, is each model's config.yaml drift section.
	Drift drift.Config `koanf:"drift"`
}

// RuntimeConfig locates ONNX Runtime.
type RuntimeConfig struct {
	// Library is the path of libonnxruntime; empty means the copy `make ort`
	// put in .cache/, found from the working folder upwards.
	Library string `koanf:"library"`
}

// LogConfig sets the process log.
type LogConfig struct {
	Level  string `koanf:"level"`
	Format string `koanf:"format"`
}

// Default is the configuration `make run` serves with.
func Default() Config {
	return Config{
		Server:       server.DefaultConfig(),
		Repository:   registry.DefaultConfig(),
		Log:          LogConfig{Level: "info", Format: "text"},
		Autoscale:    autoscale.DefaultConfig(),
		Coordination: coordination.DefaultConfig(),
		Drift:        drift.DefaultConfig(),
	}
}

// Validate checks every section and names the first bad key.
func (c Config) Validate() error {
	if err := c.Server.Validate(); err != nil {
		return err
	}
	if err := c.Repository.Validate(); err != nil {
		return err
	}
	if err := c.Autoscale.Validate(); err != nil {
		return err
	}
	if err := c.Coordination.Validate(); err != nil {
		return err
	}
	if err := c.Drift.Validate(); err != nil {
		return err
	}
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, c.Log.Level) {
		return fmt.Errorf("log.level: %q, expected debug, info, warn or error", c.Log.Level)
	}
	if c.Log.Format != "text" && c.Log.Format != "json" {
		return fmt.Errorf("log.format: %q, expected text or json", c.Log.Format)
	}
	return nil
}

// descriptions documents every key; a test checks none is missing.
var descriptions = map[string]string{
	"server.addr":                     "host:port to listen on",
	"server.max_body_bytes":           "largest request body accepted; larger answers 413",
	"server.max_body_bytes_in_flight": "inference request body bytes held in memory at once (read, queued, running); a call past it answers 503 unread",
	"server.metrics_addr":             "host:port that serves /metrics alone as well, as Triton's metrics port does (empty: only the inference port's /metrics)",
	"server.grpc_addr":                "host:port of the gRPC front door, Triton's inference.GRPCInferenceService (empty: HTTP only); same limits, keys and TLS as HTTP",
	"server.max_connections":          "connections served at once on each port; one more answers 503 (HTTP) or is closed (gRPC)",
	"server.read_timeout":             "time allowed to read one request",
	"server.write_timeout":            "time allowed to write one response",
	"server.idle_timeout":             "keep-alive connections idle this long are closed",
	"server.infer_timeout":            "longest one inference call may take before 504",
	"server.control_timeout":          "longest one repository or admin call may take (a load with its warm-up, an unload with its drain)",
	"server.routing_header":           "request header whose value keeps a caller on one version during a canary rollout",
	"server.admin_token":              "bearer token for /v2/admin (empty: the admin API answers only on a loopback address)",
	"server.api_keys_file":            "YAML or JSON list of inference API keys: [{name, key_sha256 or key, models, rate, burst}] (none: inference is open)",
	"server.api_keys":                 "the same list inline (also SLUICE_API_KEYS); joins the file's keys",
	"server.model_rate_limits":        "per-model call rate, all callers together: {model: {rate: calls/s, burst: N}}; over it answers 429",
	"server.tls_cert_file":            "PEM certificate (chain) to serve HTTPS with, read again when it changes; needs server.tls_key_file",
	"server.tls_key_file":             "PEM private key of server.tls_cert_file",
	"server.access_log":               "write one info log line per call: method, path, model, version, status, bytes, latency, request id, remote address",
	"server.access_log_probes":        "also access-log health probes and /metrics scrapes",
	"repository.path":                 "model repository folder",
	"repository.control_mode":         "poll (watch the folder), explicit (only the repository API loads and unloads) or none (load at start only)",
	"repository.poll_interval":        "how often poll mode looks at the repository folder",
	"repository.drain_timeout":        "how long an unloading version may finish its queued and running calls",
	"repository.rollout_interval":     "how often live rollouts are analysed",
	"runtime.library":                 "path of libonnxruntime (default: the .cache/ copy that make ort fetched; ONNXRUNTIME_LIB also sets it)",
	"autoscale.target_utilization":    "share of a replica's measured capacity each replica should carry",
	"autoscale.target_concurrency":    "target calls in flight per replica (0: target_utilization of the measured capacity)",
	"autoscale.stable_window":         "averaging window for the stable recommendation",
	"autoscale.panic_window":          "averaging window for panic mode",
	"autoscale.panic_threshold":       "multiple of the target, over the panic window, that starts panic mode",
	"autoscale.max_scale_up_rate":     "most growth per decision, as a multiple of ready replicas",
	"autoscale.max_scale_down_rate":   "most shrinking per decision, as a divisor of ready replicas",
	"autoscale.min_replicas":          "fewest replicas recommended (0 allows scale to zero)",
	"autoscale.max_replicas":          "most replicas recommended",
	"autoscale.scale_to_zero_grace":   "idle time before zero replicas are recommended",
	"autoscale.replicas":              "replicas sharing the load now (this replica's load stands for each)",
	"autoscale.interval":              "how often load is sampled and a recommendation made",
	"coordination.endpoints":          "etcd client URLs, comma-separated; set, the replicas share traffic and rollouts through etcd (none: alone, state in the repository's .sluice folder)",
	"coordination.prefix":             "etcd key prefix of this fleet",
	"coordination.replica":            "this replica's name in the fleet (default: the host name, the pod's name in Kubernetes)",
	"coordination.lease_ttl":          "how long a replica that stopped answering stays a member and leader",
	"coordination.publish_interval":   "how often a replica publishes its view and its rollout measurements",
	"coordination.dial_timeout":       "bound on connecting to etcd and on each call to it",
	"coordination.username":           "etcd user (with coordination.password)",
	"coordination.password":           "etcd password",
	"coordination.tls_cert_file":      "client certificate for TLS to etcd (with coordination.tls_key_file)",
	"coordination.tls_key_file":       "client key for TLS to etcd",
	"coordination.tls_ca_file":        "CA that signed etcd's certificate",
	"drift.interval":                  "how often drift windows move on and are judged, and triggers decided",
	"drift.webhook_timeout":           "bound on one attempt to deliver a retraining trigger to a model's drift.trigger.webhook",
	"drift.webhook_token":             "bearer token sent with retraining triggers (also SLUICE_DRIFT_WEBHOOK_TOKEN; empty: none)",
	"drift.source":                    "CloudEvents source of retraining triggers (empty: /sluice/<host name> alone, <coordination.prefix>/fleet in a fleet)",
	"log.level":                       "debug, info, warn or error",
	"log.format":                      "text or json",
}

// Flags registers one flag per key, showing its default, plus -config.
func Flags(fs *flag.FlagSet) {
	ko := defaults()
	fs.String("config", "sluice.yaml", "YAML configuration file (optional unless given)")
	for _, k := range ko.Keys() {
		fs.String(k, fmt.Sprint(ko.Get(k)), descriptions[k])
	}
}

func defaults() *koanf.Koanf {
	ko := koanf.New(".")
	// Loading a struct of plain values cannot fail.
	_ = ko.Load(structs.Provider(Default(), "koanf"), nil)
	return ko
}

// Load layers defaults, the YAML file, environ (KEY=VALUE strings) and the
// flags that were set on fs (already parsed, registered by Flags).
func Load(fs *flag.FlagSet, environ []string) (Config, error) {
	ko := defaults()
	known := ko.Keys()
	if err := loadFile(ko, fs); err != nil {
		return Config{}, err
	}
	envMap, err := envValues(environ, known)
	if err != nil {
		return Config{}, err
	}
	if err := ko.Load(confmap.Provider(envMap, "."), nil); err != nil {
		return Config{}, err
	}
	flags := map[string]any{}
	fs.Visit(func(f *flag.Flag) {
		if f.Name != "config" {
			flags[f.Name] = f.Value.String()
		}
	})
	if err := ko.Load(confmap.Provider(flags, "."), nil); err != nil {
		return Config{}, err
	}
	return decode(ko)
}

func loadFile(ko *koanf.Koanf, fs *flag.FlagSet) error {
	path, explicit := "sluice.yaml", false
	if f := fs.Lookup("config"); f != nil {
		path = f.Value.String()
		fs.Visit(func(v *flag.Flag) { explicit = explicit || v.Name == "config" })
	}
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) && !explicit {
		return nil
	}
	if err := ko.Load(file.Provider(path), yaml.Parser()); err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	return nil
}

// envValues maps SLUICE_SERVER_MAX_BODY_BYTES to server.max_body_bytes by
// matching against the known keys, so underscores inside key names are
// never ambiguous. ONNXRUNTIME_LIB sets runtime.library.
func envValues(environ []string, known []string) (map[string]any, error) {
	byEnv := map[string]string{}
	for _, k := range known {
		byEnv["SLUICE_"+strings.ToUpper(strings.ReplaceAll(k, ".", "_"))] = k
	}
	out := map[string]any{}
	for _, kv := range environ {
		name, val, _ := strings.Cut(kv, "=")
		if name == "SLUICE_API_KEYS" {
			// The documented short name of SLUICE_SERVER_API_KEYS.
			out["server.api_keys"] = val
			continue
		}
		if name == "ONNXRUNTIME_LIB" && val != "" {
			if _, set := out["runtime.library"]; !set {
				out["runtime.library"] = val
			}
			continue
		}
		if !strings.HasPrefix(name, "SLUICE_") {
			continue
		}
		k, ok := byEnv[name]
		if !ok {
			return nil, fmt.Errorf("environment variable %s names no configuration key", name)
		}
		out[k] = val
	}
	return out, nil
}

func decode(ko *koanf.Koanf) (Config, error) {
	var c Config
	dc := &mapstructure.DecoderConfig{
		DecodeHook:       mapstructure.ComposeDecodeHookFunc(mapstructure.StringToTimeDurationHookFunc(), mapstructure.StringToSliceHookFunc(",")),
		WeaklyTypedInput: true,
		ErrorUnused:      true,
		Result:           &c,
	}
	if err := ko.UnmarshalWithConf("", &c, koanf.UnmarshalConf{DecoderConfig: dc}); err != nil {
		return Config{}, fmt.Errorf("configuration: %w", err)
	}
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("configuration: %w", err)
	}
	return c, nil
}
