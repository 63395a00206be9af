package runtime_test

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/sluice-serving/sluice/runtime"
	"github.com/sluice-serving/sluice/runtime/ortest"
	"github.com/sluice-serving/sluice/tensor"
)

// loadMode loads the committed mlp fixture with n instances in mode.
func loadMode(t *testing.T, path, mode string, n int) *runtime.Model {
	t.Helper()
	ortest.Init(t)
	cfg := runtime.DefaultSessionConfig()
	cfg.Instances, cfg.SessionMode = n, mode
	m, err := runtime.Load(path, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return m
}

func TestSessionModesMakeSessions(t *testing.T) {
	path := ortest.Fixture(t, "mlp")
	tests := []struct {
		mode string
		want int
	}{
		{runtime.SessionsShared, 1},
		{runtime.SessionsAuto, 1}, // on the CPU
		{runtime.SessionsPerInstance, 3},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			m := loadMode(t, path, tt.mode, 3)
			if m.Instances() != 3 || m.Sessions() != tt.want {
				t.Errorf("%d instances on %d sessions, want 3 on %d", m.Instances(), m.Sessions(), tt.want)
			}
		})
	}
}

// Instances sharing one session, all running at once, answer exactly as
// instances with a session each do, row by row and in batches.
func TestSharedSessionRunsConcurrently(t *testing.T) {
	path := ortest.Fixture(t, "mlp")
	const n, calls = 4, 25
	shared := loadMode(t, path, runtime.SessionsShared, n)
	own := loadMode(t, path, runtime.SessionsPerInstance, 1)
	input := func(c int) tensor.Tensor {
		rows := int64(1 + c%3)
		return fp32Tensor("x", []int64{rows, 16}, func(i int) float32 { return float32((c*31+i)%17)/8 - 1 })
	}
	want := make([][]byte, calls)
	for c := range calls {
		out, err := runOne(context.Background(), own, input(c))
		if err != nil {
			t.Fatal(err)
		}
		want[c] = out[0].Data
	}
	var wg sync.WaitGroup
	for inst := range n {
		wg.Go(func() {
			for c := range calls {
				out, err := runOn(shared, inst, input(c))
				if err != nil {
					t.Errorf("instance %d call %d: %v", inst, c, err)
					return
				}
				if !bytes.Equal(out[0].Data, want[c]) {
					t.Errorf("instance %d call %d: %v, want %v", inst, c, fp32s(out[0].Data), fp32s(want[c]))
				}
			}
		})
	}
	wg.Wait()
}

// Ending one call's context terminates that call alone: another instance
// on the same session keeps answering while it happens.
func TestSharedSessionTerminatesOneRun(t *testing.T) {
	m := loadMode(t, ortest.Fixture(t, "mlp"), runtime.SessionsShared, 2)
	in := fp32Tensor("x", []int64{4, 16}, func(i int) float32 { return float32(i) / 64 })
	expired, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() {
		for range 50 {
			items := []runtime.BatchItem{{Inputs: []tensor.Tensor{in}}}
			if _, err := m.RunBatch(expired, 0, items, nil); tensor.KindOf(err) != tensor.DeadlineExceeded {
				t.Errorf("instance 0 past its deadline: %v, want deadline exceeded", err)
				return
			}
		}
	})
	wg.Go(func() {
		for range 50 {
			if _, err := runOn(m, 1, in); err != nil {
				t.Errorf("instance 1 beside a terminated run: %v", err)
				return
			}
		}
	})
	wg.Wait()
}

// Close destroys the one shared session once, and a second Close finds
// nothing left to destroy.
func TestSharedSessionClosesOnce(t *testing.T) {
	ortest.Init(t)
	cfg := runtime.DefaultSessionConfig()
	cfg.Instances, cfg.SessionMode = 3, runtime.SessionsShared
	for i := range 3 {
		m, err := runtime.Load(ortest.Fixture(t, "mlp"), cfg)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := runOn(m, i, fp32Tensor("x", []int64{1, 16}, func(int) float32 { return 0 })); err != nil {
			t.Fatal(err)
		}
		m.Close()
		m.Close()
		if m.Sessions() != 0 {
			t.Fatalf("after Close: %d sessions, want 0", m.Sessions())
		}
	}
}
