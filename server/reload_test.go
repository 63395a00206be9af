package server_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"

	"github.com/sluice-serving/sluice/registry"
	"github.com/sluice-serving/sluice/server"
)

// A model unloaded and loaded again in a loop, while 32 callers ask for its
// metadata, readiness and inference, never answers 500: every answer is a
// success or says the model is not ready.
func TestReloadUnderLoadNeverAnswers500(t *testing.T) {
	s := startServerMode(t, server.DefaultConfig(), registry.ModeExplicit, "student-success")
	infer := []byte(`{"inputs":[{"name":"features","datatype":"FP32","shape":[1,8],"data":[0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8]}]}`)
	calls := []struct{ method, path string }{
		{"GET", "/v2/models/student-success"},
		{"GET", "/v2/models/student-success/ready"},
		{"GET", "/v2/models/student-success/versions/2/ready"},
		{"POST", "/v2/models/student-success/infer"},
		{"POST", "/v2/models/student-success/versions/2/infer"},
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	statuses := make([]map[int]int, 32)
	errs := make(chan error, len(statuses))
	for i := range statuses {
		statuses[i] = map[int]int{}
		wg.Go(func() {
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				c := calls[(i+n)%len(calls)]
				code, body, err := send(s.url, c.method, c.path, infer)
				if err != nil {
					errs <- err
					return
				}
				statuses[i][code]++
				if code == http.StatusInternalServerError {
					errs <- fmt.Errorf("%s %s: 500 %s", c.method, c.path, body)
					return
				}
			}
		})
	}
	for range 10 {
		for _, action := range []string{"unload", "load"} {
			if code, body, err := send(s.url, "POST", "/v2/repository/models/student-success/"+action, nil); err != nil || code != http.StatusOK {
				t.Errorf("%s: %d %s %v", action, code, body, err)
			}
		}
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	total := map[int]int{}
	for _, m := range statuses {
		for code, n := range m {
			total[code] += n
		}
	}
	for code := range total {
		if code != http.StatusOK && code != http.StatusServiceUnavailable {
			t.Errorf("answers by status %v: want only 200 and 503", total)
		}
	}
	if total[http.StatusOK] == 0 {
		t.Errorf("no call succeeded across the reloads: %v", total)
	}
	t.Logf("answers by status: %v", total)
}

// send is a request that reports failure instead of failing the test, for
// use off the test goroutine.
func send(base, method, path string, body []byte) (int, []byte, error) {
	req, err := http.NewRequest(method, base+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}
