package pipeline

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A run whose context has ended (the watcher stopped it) starts no stage.
func TestRunStopsWhenItsContextEnds(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Run, cfg.Data = t.TempDir(), filepath.Join(t.TempDir(), "absent.csv")
	p, err := New(cfg, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ran, err := p.Run(ctx)
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "before prep") || len(ran) != 0 {
		t.Errorf("Run = %v, %v; want context.Canceled before prep, nothing run", ran, err)
	}
	if _, err := os.Stat(filepath.Join(cfg.Run, ManifestFile)); !os.IsNotExist(err) {
		t.Errorf("a manifest was written (%v)", err)
	}
}

func TestConfigValidateProfileBins(t *testing.T) {
	for _, bins := range []int{0, -1, maxProfileBins + 1} {
		cfg := DefaultConfig()
		cfg.Run, cfg.ProfileBins = t.TempDir(), bins
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "-profile-bins") {
			t.Errorf("%d bins: %v, want an error naming -profile-bins", bins, err)
		}
	}
}
