package server_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/sluice-serving/sluice/server"
)

// Headers larger than the server reads answer 431, and a negative
// Inference-Header-Content-Length a 400 naming the header.
func TestHeaderLimits(t *testing.T) {
	s := startServer(t, server.DefaultConfig(), "rowid")
	// The server answers after reading 4 KB and closes the connection with
	// the rest unread, so the client's write can meet the close first; the
	// answer is what is checked, when one comes.
	var status int
	var body []byte
	for try := 0; try < 20 && status == 0; try++ {
		st, _, b, err := s.try("GET", "/v2/health/live", nil, map[string]string{"X-Padding": strings.Repeat("a", 8<<10)})
		if err == nil {
			status, body = st, b
		}
	}
	if status != http.StatusRequestHeaderFieldsTooLarge || !strings.Contains(string(body), "request headers are larger") {
		t.Errorf("8 KiB of headers: %d %s, want 431", status, body)
	}
	status, _, body = s.do(t, "POST", "/v2/models/rowid/infer", rowidCall, map[string]string{"Inference-Header-Content-Length": "-5"})
	if status != http.StatusBadRequest || !strings.Contains(string(body), "Inference-Header-Content-Length is -5") {
		t.Errorf("a negative header length: %d %s, want a 400 naming it", status, body)
	}
}
