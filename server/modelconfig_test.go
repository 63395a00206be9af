package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/encoding/prototext"

	"github.com/sluice-serving/sluice/server"
	"github.com/sluice-serving/sluice/tritonpb"
)

// The model configuration extension answers in Triton's ModelConfig form:
// dims without the batch dimension when batching is on, the dynamic
// batcher's queue policy, the instance group and the version policy.
func TestModelConfigInTritonsForm(t *testing.T) {
	s := startServer(t, server.DefaultConfig(), "ppocr-cls", "student-success")
	var cfg struct {
		Name          string         `json:"name"`
		Platform      string         `json:"platform"`
		Backend       string         `json:"backend"`
		MaxBatchSize  int            `json:"max_batch_size"`
		VersionPolicy map[string]any `json:"version_policy"`
		Input         []struct {
			Name     string  `json:"name"`
			DataType string  `json:"data_type"`
			Dims     []int64 `json:"dims"`
		} `json:"input"`
		Output []struct {
			Name     string  `json:"name"`
			DataType string  `json:"data_type"`
			Dims     []int64 `json:"dims"`
		} `json:"output"`
		DynamicBatching *struct {
			MaxQueueDelayMicros int64 `json:"max_queue_delay_microseconds"`
			DefaultQueuePolicy  struct {
				MaxQueueSize int `json:"max_queue_size"`
			} `json:"default_queue_policy"`
			PriorityLevels int `json:"priority_levels"`
		} `json:"dynamic_batching"`
		InstanceGroup []struct {
			Kind  string `json:"kind"`
			Count int    `json:"count"`
		} `json:"instance_group"`
	}
	status, _, body := s.do(t, "GET", "/v2/models/ppocr-cls/config", nil, nil)
	if status != 200 {
		t.Fatalf("config: %d %s", status, body)
	}
	if err := json.Unmarshal(body, &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Name != "ppocr-cls" || cfg.Platform != "onnxruntime_onnx" || cfg.Backend != "onnxruntime" || cfg.MaxBatchSize != 16 {
		t.Errorf("name %q, platform %q, backend %q, max_batch_size %d", cfg.Name, cfg.Platform, cfg.Backend, cfg.MaxBatchSize)
	}
	if len(cfg.Input) != 1 || cfg.Input[0].Name != "x" || cfg.Input[0].DataType != "TYPE_FP32" || !slices.Equal(cfg.Input[0].Dims, []int64{3, 48, 192}) {
		t.Errorf("input %+v, want x TYPE_FP32 [3 48 192] (no batch dimension)", cfg.Input)
	}
	if len(cfg.Output) != 1 || cfg.Output[0].DataType != "TYPE_FP32" || !slices.Equal(cfg.Output[0].Dims, []int64{2}) {
		t.Errorf("output %+v, want one TYPE_FP32 [2]", cfg.Output)
	}
	if cfg.DynamicBatching == nil || cfg.DynamicBatching.DefaultQueuePolicy.MaxQueueSize != 256 || cfg.DynamicBatching.PriorityLevels != 1 {
		t.Errorf("dynamic_batching %+v, want max_queue_size 256 and one priority level", cfg.DynamicBatching)
	}
	if len(cfg.InstanceGroup) != 1 || cfg.InstanceGroup[0].Kind != "KIND_CPU" || cfg.InstanceGroup[0].Count != 2 {
		t.Errorf("instance_group %+v, want 2 KIND_CPU", cfg.InstanceGroup)
	}
	if _, ok := cfg.VersionPolicy["latest"]; !ok {
		t.Errorf("version_policy %v, want latest", cfg.VersionPolicy)
	}

	status, _, body = s.do(t, "GET", "/v2/models/student-success/versions/2/config", nil, nil)
	cfg.VersionPolicy = nil
	if err := json.Unmarshal(body, &cfg); status != 200 || err != nil {
		t.Fatalf("student-success v2 config: %d %s (%v)", status, body, err)
	}
	if _, ok := cfg.VersionPolicy["all"]; !ok || cfg.MaxBatchSize != 64 || !slices.Equal(cfg.Input[0].Dims, []int64{8}) {
		t.Errorf("student-success: version_policy %v, max_batch_size %d, input dims %v; want all, 64, [8]", cfg.VersionPolicy, cfg.MaxBatchSize, cfg.Input[0].Dims)
	}
	if status, _, _ := s.do(t, "GET", "/v2/models/nothing/config", nil, nil); status != 404 {
		t.Errorf("an unknown model's config: %d, want 404", status)
	}
	_, _, body = s.do(t, "GET", "/v2", nil, nil)
	var meta struct{ Extensions []string }
	if err := json.Unmarshal(body, &meta); err != nil || !slices.Contains(meta.Extensions, "model_configuration") {
		t.Errorf("server metadata %s: want the model_configuration extension listed", body)
	}
}

// The config endpoint's JSON is Triton's ModelConfig: read as one, written
// out as a config.pbtxt beside the same model files in a fresh repository
// and loaded there, it reads back the same, byte for byte. Each model's
// settings (batching or not, instances, version policy, Sluice's own
// knobs) survive the trip.
func TestModelConfigRoundTripsThroughConfigPbtxt(t *testing.T) {
	models := []string{"ppocr-cls", "student-success", "nobatch"}
	s := startServer(t, server.DefaultConfig(), models...)
	fresh := startServer(t, server.DefaultConfig())
	for _, m := range models {
		t.Run(m, func(t *testing.T) {
			first := configJSON(t, s, m)
			var tc tritonpb.ModelConfig
			if err := protojson.Unmarshal(first, &tc); err != nil {
				t.Fatalf("the config endpoint's JSON is not a ModelConfig: %v\n%s", err, first)
			}
			pbtxt, err := prototext.MarshalOptions{Multiline: true}.Marshal(&tc)
			if err != nil {
				t.Fatal(err)
			}
			copyModelFiles(t, filepath.Join(s.repo, m), filepath.Join(fresh.repo, m))
			if err := os.WriteFile(filepath.Join(fresh.repo, m, "config.pbtxt"), pbtxt, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := fresh.reg.Poll(context.Background()); err != nil {
				t.Fatal(err)
			}
			if second := configJSON(t, fresh, m); !bytes.Equal(first, second) {
				t.Errorf("loaded from its own config.pbtxt\n%s\nthe model's config reads\n%s\nnot\n%s", pbtxt, second, first)
			}
		})
	}
}

func configJSON(t *testing.T, s *testServer, model string) []byte {
	t.Helper()
	status, _, body := s.do(t, "GET", "/v2/models/"+model+"/config", nil, nil)
	if status != 200 {
		t.Fatalf("%s config: %d %s", model, status, body)
	}
	return body
}

// copyModelFiles copies a model folder's model files, not its config.
func copyModelFiles(t *testing.T, src, dst string) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(src, "*", "model.onnx"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no model files in %s (%v)", src, err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		v := filepath.Base(filepath.Dir(f))
		if err := os.MkdirAll(filepath.Join(dst, v), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, v, "model.onnx"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
