package server_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-serving/sluice/server"
)

// A version's model card, published beside its model.onnx, is served as
// it was when the version loaded; a version without one answers 404.
func TestModelCard(t *testing.T) {
	s := startServer(t, server.DefaultConfig(), "rowid")
	if status, _, body := s.do(t, "GET", "/v2/models/rowid/versions/1/card", nil, nil); status != 404 || !strings.Contains(string(body), "no model card") {
		t.Fatalf("a version without a card: %d %s", status, body)
	}
	card := `{"model":"rowid","version":2,"metrics":{"auc":0.93}}`
	s.addVersion(t, "rowid", "rowid", "2")
	if err := os.WriteFile(filepath.Join(s.repo, "rowid", "2", "model_card.json"), []byte(card), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := s.reg.Poll(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/v2/models/rowid/versions/2/card", "/v2/models/rowid/card"} {
		status, hdr, body := s.do(t, "GET", path, nil, nil)
		if status != 200 || string(body) != card || hdr.Get("Content-Type") != "application/json" {
			t.Errorf("GET %s: %d %s %q, want the card", path, status, body, hdr.Get("Content-Type"))
		}
	}
}
