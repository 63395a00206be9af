package server_test

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/sluice-serving/sluice/server"
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
