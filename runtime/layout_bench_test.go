package runtime_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/sluice-serving/sluice/runtime"
	"github.com/sluice-serving/sluice/runtime/ortest"
	"github.com/sluice-serving/sluice/tensor"
)

// layout is one way to spend the machine's cores on one model version:
// one caller per instance.
type layout struct {
	instances int
	mode      string // SessionMode
	threads   int
	spin      bool
}

func (l layout) String() string {
	return fmt.Sprintf("instances=%d/sessions=%s/threads=%d/spin=%v", l.instances, l.mode, l.threads, l.spin)
}

// rssBytes is the process's resident memory, from /proc.
func rssBytes(tb testing.TB) int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		tb.Fatal(err)
	}
	f := strings.Fields(string(b))
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize())
}

// BenchmarkPPOCRLayouts answers whether N sessions or N concurrent runs on
// one session serve better, and how a multi-thread session compares, on the
// real PP-OCR classifier; it reports items/s and resident memory added.
func BenchmarkPPOCRLayouts(b *testing.B) {
	ortest.Init(b)
	path := ortest.PPOCR(b)
	own, shared := runtime.SessionsPerInstance, runtime.SessionsShared
	layouts := []layout{
		{instances: 2, mode: own, threads: 1},
		{instances: 2, mode: shared, threads: 1},
		{instances: 1, mode: own, threads: 2},
		{instances: 1, mode: own, threads: 2, spin: true},
		{instances: 2, mode: own, threads: 1, spin: true},
	}
	for _, l := range layouts {
		for _, batch := range []int64{1, 8} {
			b.Run(fmt.Sprintf("%v/batch=%d", l, batch), func(b *testing.B) { benchLayout(b, path, l, batch) })
		}
	}
}

func benchLayout(b *testing.B, path string, l layout, batch int64) {
	cfg := runtime.DefaultSessionConfig()
	cfg.Instances, cfg.SessionMode, cfg.IntraOpThreads, cfg.AllowSpinning = l.instances, l.mode, l.threads, l.spin
	before := rssBytes(b)
	m, err := runtime.Load(path, cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	in := tensor.Tensor{Name: "x", DataType: tensor.FP32, Shape: []int64{batch, 3, 48, 192}, Data: make([]byte, batch*3*48*192*4)}
	if _, err := runOne(context.Background(), m, in); err != nil {
		b.Fatal(err)
	}
	rss := float64(rssBytes(b)-before) / (1 << 20)
	var next sync.Mutex
	left := b.N
	b.ResetTimer()
	var wg sync.WaitGroup
	for w := range l.instances {
		wg.Go(func() {
			for {
				next.Lock()
				if left == 0 {
					next.Unlock()
					return
				}
				left--
				next.Unlock()
				if _, err := runOn(m, w, in); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)*float64(batch)/b.Elapsed().Seconds(), "items/s")
	b.ReportMetric(rss, "MiB-rss")
}

// BenchmarkPPOCRSessionMemory measures the resident memory one more warmed
// PP-OCR session adds, the price of N sessions over N runs on one session.
func BenchmarkPPOCRSessionMemory(b *testing.B) {
	ortest.Init(b)
	path := ortest.PPOCR(b)
	cfg := runtime.DefaultSessionConfig()
	cfg.Instances = 1
	in := tensor.Tensor{Name: "x", DataType: tensor.FP32, Shape: []int64{8, 3, 48, 192}, Data: make([]byte, 8*3*48*192*4)}
	load := func() *runtime.Model {
		m, err := runtime.Load(path, cfg)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := runOne(context.Background(), m, in); err != nil {
			b.Fatal(err)
		}
		return m
	}
	first := load()
	defer first.Close()
	const more = 8
	for b.Loop() {
		before := rssBytes(b)
		ms := make([]*runtime.Model, more)
		for i := range ms {
			ms[i] = load()
		}
		b.ReportMetric(float64(rssBytes(b)-before)/more/(1<<20), "MiB/session")
		for _, m := range ms {
			m.Close()
		}
	}
}

// runOn runs one call on instance i, which has no other caller meanwhile
// (its buffers and run options are its own); other instances may be
// running on the same session.
func runOn(m *runtime.Model, i int, in tensor.Tensor) ([]tensor.Tensor, error) {
	items := []runtime.BatchItem{{Inputs: []tensor.Tensor{in}}}
	_, err := m.RunBatch(context.Background(), i, items, nil)
	return items[0].Outputs, err
}
