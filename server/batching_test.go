package server_test

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"github.com/sluice-serving/sluice/server"
)

func TestStatisticsAndMetrics(t *testing.T) {
	s := startServer(t, server.DefaultConfig(), "student-success")
	req := mustJSON(t, map[string]any{"inputs": []any{featureInput([]int{2, 8}, make([]float32, 16))}})
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			if status, _, body, err := s.try("POST", "/v2/models/student-success/infer", req, nil); err != nil || status != 200 {
				t.Errorf("infer: %d %s %v", status, body, err)
			}
		})
	}
	wg.Wait()
	for _, path := range []string{"/v2/models/stats", "/v2/models/student-success/stats", "/v2/models/student-success/versions/1/stats"} {
		status, _, body := s.do(t, "GET", path, nil, nil)
		var st struct {
			ModelStats []struct {
				Name           string `json:"name"`
				Version        string `json:"version"`
				InferenceCount int64  `json:"inference_count"`
				ExecutionCount int64  `json:"execution_count"`
				InferenceStats map[string]struct {
					Count int64 `json:"count"`
					NS    int64 `json:"ns"`
				} `json:"inference_stats"`
				BatchStats []struct {
					BatchSize int `json:"batch_size"`
				} `json:"batch_stats"`
			} `json:"model_stats"`
		}
		if status != 200 || json.Unmarshal(body, &st) != nil {
			t.Fatalf("%s: %d %s", path, status, body)
		}
		var v1 *struct{ count, exec, success int64 }
		for _, m := range st.ModelStats {
			if m.Version == "1" {
				v1 = &struct{ count, exec, success int64 }{m.InferenceCount, m.ExecutionCount, m.InferenceStats["success"].Count}
				for _, k := range []string{"success", "fail", "queue", "compute_input", "compute_infer", "compute_output"} {
					if _, ok := m.InferenceStats[k]; !ok {
						t.Errorf("%s: inference_stats lacks %s", path, k)
					}
				}
				if len(m.BatchStats) == 0 {
					t.Errorf("%s: no batch_stats", path)
				}
			}
		}
		if v1 == nil || v1.success != 16 || v1.count != 32 || v1.exec < 1 || v1.exec > 16 {
			t.Errorf("%s: version 1 stats %+v, want 16 calls, 32 rows, 1..16 batches", path, v1)
		}
	}
	_, _, metrics := s.do(t, "GET", "/metrics", nil, nil)
	for _, want := range []string{
		`nv_inference_request_success{model="student-success",version="1"} 16`,
		`nv_inference_count{model="student-success",version="1"} 32`,
		`nv_inference_queue_duration_us{model="student-success",version="1"}`,
		`sluice_queue_depth{model="student-success",version="1"} 0`,
		`nv_inference_pending_request_count{model="student-success",version="1"} 0`,
		`sluice_instance_busy_seconds_total{model="student-success",version="1"}`,
		`sluice_instance_cpu_seconds_total{model="student-success",version="1"}`,
		`sluice_batch_size_bucket{model="student-success",version="1",le="1"}`,
		`sluice_requests_rejected_total`, `sluice_requests_expired_total`,
	} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestDeadlineAndBatchLimitsOverHTTP(t *testing.T) {
	s := startServer(t, server.DefaultConfig(), "ppocr-cls", "student-success")
	// A 1 µs timeout passes before any PP-OCR run can finish: 504.
	req := map[string]any{"inputs": []any{ppocrInput(1, func(int) float32 { return 0 })}, "parameters": map[string]any{"timeout": 1}}
	status, _, body := s.do(t, "POST", "/v2/models/ppocr-cls/infer", mustJSON(t, req), nil)
	if status != 504 || !strings.Contains(string(body), "deadline passed") {
		t.Errorf("1 µs timeout: %d %s, want 504", status, body)
	}
	big := mustJSON(t, map[string]any{"inputs": []any{featureInput([]int{65, 8}, make([]float32, 65*8))}})
	status, _, body = s.do(t, "POST", "/v2/models/student-success/infer", big, nil)
	if status != 400 || !strings.Contains(string(body), "batch size 65 is larger than the model's max_batch_size 64") {
		t.Errorf("65 rows: %d %s, want 400 naming both sizes", status, body)
	}
	bad := mustJSON(t, map[string]any{"inputs": []any{featureInput([]int{1, 8}, make([]float32, 8))}, "parameters": map[string]any{"priority": 5}})
	status, _, body = s.do(t, "POST", "/v2/models/student-success/infer", bad, nil)
	if status != 400 || !strings.Contains(string(body), "priority 5") {
		t.Errorf("priority 5 of 1: %d %s", status, body)
	}
}
