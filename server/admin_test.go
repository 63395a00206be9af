package server_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/sluice-serving/sluice/server"
)

func TestAdminAPIAuth(t *testing.T) {
	withToken := server.DefaultConfig()
	withToken.AdminToken = "s3cret"
	open := server.DefaultConfig() // no token, listening on loopback
	exposed := server.DefaultConfig()
	exposed.Addr = "0.0.0.0:8000" // no token and not loopback: refused
	tests := []struct {
		name   string
		cfg    server.Config
		auth   string
		status int
	}{
		{"no token configured, loopback", open, "", 200},
		{"no token configured, exposed", exposed, "", 403},
		{"token missing", withToken, "", 401},
		{"token wrong", withToken, "Bearer guess", 403},
		{"token wrong scheme", withToken, "Basic s3cret", 401},
		{"token right", withToken, "Bearer s3cret", 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startServer(t, tt.cfg, "student-success")
			hdr := map[string]string{}
			if tt.auth != "" {
				hdr["Authorization"] = tt.auth
			}
			status, _, body := s.do(t, "GET", "/v2/admin/models/student-success/rollout", nil, hdr)
			if status != tt.status {
				t.Errorf("got %d %s, want %d", status, body, tt.status)
			}
		})
	}
}

func TestTrafficAndRolloutOverHTTP(t *testing.T) {
	s := startServer(t, server.DefaultConfig(), "student-success")
	call := mustJSON(t, map[string]any{"inputs": []any{featureInput([]int{1, 8}, make([]float32, 8))}})
	status, body := 0, []byte(nil)
	status, _, body = s.do(t, "PUT", "/v2/admin/models/student-success/traffic", []byte(`{"stable":1,"canary":2,"canary_weight":100}`), nil)
	if status != 200 {
		t.Fatalf("set traffic: %d %s", status, body)
	}
	status, hdr, body := s.do(t, "POST", "/v2/models/student-success/infer", call, map[string]string{"Sluice-Routing-Key": "user-1"})
	if status != 200 || hdr.Get("Sluice-Model-Version") != "2" || !strings.Contains(string(body), `"model_version":"2"`) {
		t.Errorf("at weight 100: %d %q %s", status, hdr.Get("Sluice-Model-Version"), body)
	}
	for _, tt := range []struct{ method, path, body, msg string }{
		{"PUT", "/v2/admin/models/student-success/traffic", `{"stable":1,"canary":2,"canary_weight":150}`, "canary_weight"},
		{"PUT", "/v2/admin/models/student-success/traffic", `{"stabel":1}`, "unknown field"},
		{"POST", "/v2/admin/models/student-success/rollout/explode", ``, "expected promote, pause, resume or abort"},
		{"POST", "/v2/admin/models/student-success/rollout", `{"spec":{"steps":[10,50]}}`, "ending at 100"},
	} {
		status, _, body := s.do(t, tt.method, tt.path, []byte(tt.body), nil)
		if status/100 != 4 || !strings.Contains(string(body), tt.msg) {
			t.Errorf("%s %s %s: %d %s, want 4xx with %q", tt.method, tt.path, tt.body, status, body, tt.msg)
		}
	}
	// Start, pause, resume and abort through the API.
	s.do(t, "PUT", "/v2/admin/models/student-success/traffic", []byte(`{"stable":1}`), nil)
	status, _, body = s.do(t, "POST", "/v2/admin/models/student-success/rollout", []byte(`{"canary":2,"spec":{"steps":[20,100],"min_step_calls":5}}`), nil)
	var view struct {
		State  string  `json:"state"`
		Weight float64 `json:"weight"`
		Reason string  `json:"reason"`
	}
	if status != 200 || json.Unmarshal(body, &view) != nil || view.State != "progressing" || view.Weight != 20 {
		t.Fatalf("start: %d %s", status, body)
	}
	for _, action := range []string{"pause", "resume", "abort"} {
		status, _, body = s.do(t, "POST", "/v2/admin/models/student-success/rollout/"+action, nil, nil)
		if status != 200 {
			t.Errorf("%s: %d %s", action, status, body)
		}
	}
	json.Unmarshal(body, &view)
	if view.State != "aborted" || view.Weight != 0 {
		t.Errorf("after abort: %s", body)
	}
}

func TestLoadAsCanary(t *testing.T) {
	s := startServerMode(t, server.DefaultConfig(), "explicit", "rowid")
	s.addVersion(t, "rowid", "rowid", "2")
	status, _, body := s.do(t, "POST", "/v2/repository/models/rowid/load", []byte(`{"parameters":{"rollout":"canary"}}`), nil)
	if status != 200 {
		t.Fatalf("load as canary: %d %s", status, body)
	}
	status, _, body = s.do(t, "GET", "/v2/admin/models/rowid/rollout", nil, nil)
	if status != 200 || !strings.Contains(string(body), `"state":"progressing"`) || !strings.Contains(string(body), `"stable":1`) || !strings.Contains(string(body), `"canary":2`) {
		t.Errorf("rollout after load as canary: %d %s", status, body)
	}
}

// TestFleetEndpointAlone: without etcd coordination a replica says so.
func TestFleetEndpointAlone(t *testing.T) {
	s := startServer(t, server.DefaultConfig(), "student-success")
	status, _, body := s.do(t, "GET", "/v2/admin/fleet", nil, nil)
	if status != 404 || !strings.Contains(string(body), "coordination.endpoints") {
		t.Errorf("GET /v2/admin/fleet alone: %d %s", status, body)
	}
}
