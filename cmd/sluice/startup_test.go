package main

import (
	"net/http"
	"testing"
	"time"

	"github.com/sluice-serving/sluice/runtime/ortest"
)

// The port opens before the models load, as Triton's does: a probe meets
// a starting server (live 200, ready 503, a call to a model still loading
// 503) instead of a refused connection, and the same server turns ready
// once its model has warmed.
func TestServeAnswersProbesWhileModelsLoad(t *testing.T) {
	ortest.Init(t)
	// student-slow's thousand matrix products, warmed at a batch of 4096
	// rows: seconds of loading on any machine.
	repo := slowRepo(t, "instances: 1\nmax_batch_size: 4096\n")
	base := "http://" + serveInBackground(t, "-repository.path", repo)
	t.Cleanup(http.DefaultClient.CloseIdleConnections)
	for path, want := range map[string]int{"/v2/health/live": 200, "/v2/health/ready": 503, "/v2/models/slow/ready": 503} {
		if got := status(t, base+path); got != want {
			t.Errorf("GET %s while the model loads: %d, want %d", path, got, want)
		}
	}
	for deadline := time.Now().Add(2 * time.Minute); status(t, base+"/v2/health/ready") != 200; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the server never turned ready after its model loaded")
		}
	}
	if got := status(t, base+"/v2/models/slow/ready"); got != 200 {
		t.Errorf("model ready after loading: %d, want 200", got)
	}
}

func status(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
