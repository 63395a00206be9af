package registry_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/sluice-serving/sluice/registry"
	"github.com/sluice-serving/sluice/runtime/ortest"
	"github.com/sluice-serving/sluice/tensor"
)

// Lookup reads a model's version states under the same hold of the lock as
// the model itself: a model retired meanwhile (its folder removed) answers
// not found, never a panic.
func TestLookupWhileTheModelIsRetired(t *testing.T) {
	ortest.Init(t)
	dir := repo(t, map[string]map[string]string{"bad": {"1": "corrupt"}}, nil)
	r := load(t, dir)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	kinds := make([]map[tensor.Kind]int, 4)
	for i := range kinds {
		kinds[i] = map[tensor.Kind]int{}
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				for _, v := range []string{"", "1", "7"} {
					_, err := r.Lookup("bad", v)
					kinds[i][tensor.KindOf(err)]++
				}
			}
		})
	}
	moved := filepath.Join(t.TempDir(), "bad")
	for range 100 {
		if err := os.Rename(filepath.Join(dir, "bad"), moved); err != nil {
			t.Fatal(err)
		}
		if err := r.Poll(context.Background()); err != nil { // retires the model
			t.Fatal(err)
		}
		if err := os.Rename(moved, filepath.Join(dir, "bad")); err != nil {
			t.Fatal(err)
		}
		if err := r.Poll(context.Background()); err != nil { // it returns, failing
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	for _, k := range kinds {
		for kind, n := range k {
			if kind != tensor.NotFound && kind != tensor.Unavailable {
				t.Errorf("%d lookups answered %v, want not found or unavailable", n, kind)
			}
		}
	}
}

// Until the first load has finished the registry is not ready, and a model
// it does not know yet may still come: Unavailable, not NotFound.
func TestNotReadyUntilTheRepositoryHasLoaded(t *testing.T) {
	ortest.Init(t)
	cfg := registry.DefaultConfig()
	cfg.Path = repo(t, map[string]map[string]string{"m": {"1": ortest.Fixture(t, "mlp")}}, nil)
	r, err := registry.New(cfg, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(context.Background()) })
	if _, err := r.Lookup("m", ""); r.Ready() || tensor.KindOf(err) != tensor.Unavailable {
		t.Fatalf("before loading: ready %v, lookup %v; want not ready and unavailable", r.Ready(), err)
	}
	if err := r.LoadAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Lookup("other", ""); !r.Ready() || tensor.KindOf(err) != tensor.NotFound {
		t.Fatalf("after loading: ready %v, lookup of an unknown model %v; want ready and not found", r.Ready(), err)
	}
}
