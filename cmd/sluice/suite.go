package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	goruntime "runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-serving/sluice/bench"
	"github.com/sluice-serving/sluice/client"
	"github.com/sluice-serving/sluice/runtime"
	"github.com/sluice-serving/sluice/tensor"
)

// The side-by-side benchmark `make bench` runs: Sluice against the limits
// of this machine, measured in one run, written between the markers of
// docs/benchmarks.md.
const (
	beginMark = "<!-- make bench: begin -->"
	endMark   = "<!-- make bench: end -->"
)

func suiteCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sluice bench suite", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "docs/benchmarks.md", "markdown file whose make-bench section is rewritten")
	window := fs.Duration("window", time.Second, "measurement window")
	overload := fs.Duration("overload-time", time.Minute, "length of each (f) overload run; 0 leaves (f) out")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if _, err := initRuntime(""); err != nil {
		return err
	}
	s := &suite{window: *window, overload: *overload, log: stderr}
	var md bytes.Buffer
	if err := s.run(ctx, &md); err != nil {
		return err
	}
	fmt.Fprint(stdout, md.String())
	return replaceSection(*out, md.String(), beginMark, endMark)
}

type suite struct {
	window   time.Duration
	overload time.Duration // each (f) run; 0: none
	log      io.Writer
}

func (s *suite) step(format string, args ...any) {
	fmt.Fprintf(s.log, "bench: "+format+"\n", args...)
}

// ppocrConfig serves PP-OCR as models/ppocr-cls does, batching aside.
const ppocrConfig = "instances: 2\ninputs:\n  - name: x\n    dims: [-1, 3, 48, 192]\n"

func (s *suite) run(ctx context.Context, md *bytes.Buffer) error {
	ppocr, student := "models/ppocr-cls/1/model.onnx", "models/student-success"
	if _, err := os.Stat(ppocr); err != nil {
		return fmt.Errorf("%s: %w (run make models, from the repository root)", ppocr, err)
	}
	fmt.Fprintf(md, "%s\n\n## Side by side (`make bench`)\n\n%s. (a) runs ONNX Runtime in this process; every server in (b)–(i) runs as a process of its own, its CPU read from /proc, with the load from this process (the harness, binary tensors, closed loops unless said) or from wrk, on the same two cores. Each row: median [range] of %d runs.\n\n", beginMark, machine(), suiteRuns)
	s.step("(a) raw ONNX Runtime on ppocr-cls, every layout and batch size")
	ceiling, err := s.rawTable(ctx, md, ppocr)
	if err != nil {
		return err
	}
	t := &suiteTables{ceiling: ceiling}
	on16 := ppocrConfig + "max_batch_size: 16\n"
	tinyCfg := "instances: 2\nmax_batch_size: 64\n"
	rows := []suiteRow{
		{&t.on, "(b) ppocr-cls, batching on", "ppocr-cls", "models/ppocr-cls", on16, 16, "http"},
		{&t.off, "(c) ppocr-cls, batching off", "ppocr-cls", "models/ppocr-cls", ppocrConfig + "max_batch_size: 0\n", 16, "http"},
		{&t.tiny, "(d) Sluice on student-success", "student-success", student, tinyCfg, 32, "http"},
		{&t.one, "(e) ppocr-cls, one client", "ppocr-cls", "models/ppocr-cls", on16, 1, "http"},
		{&t.onGRPC, "(g) ppocr-cls, batching on, gRPC", "ppocr-cls", "models/ppocr-cls", on16, 16, "grpc"},
		{&t.tinyGRPC, "(g) student-success, gRPC", "student-success", student, tinyCfg, 32, "grpc"},
		{&t.oneGRPC, "(g) ppocr-cls, one client, gRPC", "ppocr-cls", "models/ppocr-cls", on16, 1, "grpc"},
	}
	if _, err := os.Stat(wideMLP); err == nil {
		rows = append(rows,
			suiteRow{&t.wideOn, "(i) widemlp, batching on", "widemlp", wideMLP, "", 32, "http"},
			suiteRow{&t.wideOff, "(i) widemlp, batching off", "widemlp", wideMLP, wideOff, 32, "http"},
			suiteRow{&t.wideOneOn, "(i) widemlp, one client, batching on", "widemlp", wideMLP, "", 1, "http"},
			suiteRow{&t.wideOneOff, "(i) widemlp, one client, batching off", "widemlp", wideMLP, wideOff, 1, "http"})
	}
	for _, r := range rows {
		if *r.out, err = s.closedRow(ctx, r.label, r.model, r.src, r.config, r.conc, 1, r.protocol); err != nil {
			return err
		}
	}
	s.step("(d) the fixed fasthttp handler, by the harness and by wrk; Sluice by wrk")
	if err := s.frontDoorRows(ctx, t, student, tinyCfg); err != nil {
		return err
	}
	s.step("(h) ppocr-cls, open loop at 70%% of its capacity")
	if t.open, err = s.openRow(ctx, on16, 0.7); err != nil {
		return err
	}
	if t.rawCPU, err = rawCPUPerItem(ppocr, 3*s.window); err != nil {
		return err
	}
	if t.rawOne, err = s.rawLatency(ppocr); err != nil {
		return err
	}
	t.write(md)
	if s.overload > 0 {
		if err := s.overloadTable(ctx, md, s.overload); err != nil {
			return err
		}
	}
	fmt.Fprintf(md, "\n%s\n", endMark)
	return nil
}

// suiteRow is one closed-loop row of (b)–(i).
type suiteRow struct {
	out                       *series
	label, model, src, config string
	conc                      int
	protocol                  string
}

func machine() string {
	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		fmt.Sscanf(strings.SplitN(string(b), "\n", 2)[0], "MemTotal: %d kB", &kb)
		mem = fmt.Sprintf(", %.0f GiB", float64(kb)/(1<<20))
	}
	ort := ""
	if v := runtime.Version(); v != "" { // the soak does not load it itself
		ort = ", ONNX Runtime " + v
	}
	return fmt.Sprintf("Machine: %d CPUs (%s)%s, %s%s, measured %s",
		goruntime.NumCPU(), cpu, mem, goruntime.Version(), ort, time.Now().UTC().Format("2006-01-02 15:04 UTC"))
}

// rawResult is one raw-ORT measurement.
type rawResult struct {
	layout string
	batch  int64
	items  float64
}

// rawTable measures (a): every layout (sessions × threads) at batch 1..64.
func (s *suite) rawTable(ctx context.Context, md *bytes.Buffer, path string) (rawResult, error) {
	batches := []int64{1, 2, 4, 8, 16, 32, 64}
	layouts := []struct{ sessions, threads int }{{goruntime.NumCPU(), 1}, {1, goruntime.NumCPU()}}
	fmt.Fprintf(md, "\n### (a) Raw in-process ONNX Runtime on ppocr-cls, items/s\n\n| layout |")
	for _, b := range batches {
		fmt.Fprintf(md, " batch %d |", b)
	}
	fmt.Fprintf(md, "\n|---|%s\n", strings.Repeat("---:|", len(batches)))
	var best rawResult
	for _, l := range layouts {
		name := fmt.Sprintf("%d session(s) × %d thread(s)", l.sessions, l.threads)
		fmt.Fprintf(md, "| %s |", name)
		for _, b := range batches {
			items, err := rawThroughput(path, l.sessions, l.threads, b, s.window+s.window/2)
			if err != nil {
				return best, err
			}
			fmt.Fprintf(md, " %.0f |", items)
			if items > best.items {
				best = rawResult{name, b, items}
			}
		}
		fmt.Fprintln(md)
	}
	fmt.Fprintf(md, "\nCeiling: %.0f items/s (%s, batch %d).\n", best.items, best.layout, best.batch)
	return best, nil
}

func zeroInput(shape []int64) []tensor.Tensor {
	return []tensor.Tensor{{Name: "x", DataType: tensor.FP32, Shape: shape, Data: make([]byte, 4*tensor.Elements(shape))}}
}

// runOn runs inputs alone on instance i.
func runOn(m *runtime.Model, i int, in []tensor.Tensor) error {
	_, err := m.RunBatch(context.Background(), i, []runtime.BatchItem{{Inputs: in}}, nil)
	return err
}

// rawThroughput keeps every session of a layout busy for d.
func rawThroughput(path string, sessions, threads int, batch int64, d time.Duration) (float64, error) {
	cfg := runtime.DefaultSessionConfig()
	cfg.Instances, cfg.IntraOpThreads, cfg.AllowSpinning = sessions, threads, threads > 1
	m, err := runtime.Load(path, cfg)
	if err != nil {
		return 0, err
	}
	defer m.Close()
	in := zeroInput([]int64{batch, 3, 48, 192})
	if err := runOn(m, 0, in); err != nil {
		return 0, err
	}
	var done atomic.Int64
	deadline := time.Now().Add(d)
	start := time.Now()
	var wg sync.WaitGroup
	for i := range sessions {
		wg.Go(func() { // each worker owns one instance, as the batcher's do
			for time.Now().Before(deadline) {
				if err := runOn(m, i, in); err == nil {
					done.Add(batch)
				}
			}
		})
	}
	wg.Wait()
	return float64(done.Load()) / time.Since(start).Seconds(), nil
}

// rawLatency measures (e)'s raw side: one caller, batch 1.
func (s *suite) rawLatency(path string) ([]time.Duration, error) {
	cfg := runtime.DefaultSessionConfig()
	cfg.Instances = 1
	m, err := runtime.Load(path, cfg)
	if err != nil {
		return nil, err
	}
	defer m.Close()
	in := zeroInput([]int64{1, 3, 48, 192})
	var lat []time.Duration
	for end := time.Now().Add(3 * s.window); time.Now().Before(end); {
		t := time.Now()
		if err := runOn(m, 0, in); err != nil {
			return nil, err
		}
		lat = append(lat, time.Since(t))
	}
	slices.Sort(lat)
	return lat, nil
}

func (s *suite) benchConfig(c bench.Transport, model string, conc int) bench.Config {
	cfg := bench.DefaultConfig()
	cfg.Client, cfg.Model, cfg.Mode, cfg.Concurrency = c, model, bench.Closed, conc
	cfg.Options.Binary = true
	cfg.Warmup, cfg.Window, cfg.MinWindows, cfg.MaxWindows = s.window, s.window, 3, 6
	return cfg
}

func waitFor(ctx context.Context, c *client.Client) error {
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if c.Ready(ctx) == nil {
			return nil
		}
	}
	return errors.New("the server under test never became ready")
}

// replaceSection writes md, which starts with begin and ends with end,
// in place of what lies between those markers in path, or appends it.
func replaceSection(path, md, begin, end string) error {
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	s := string(old)
	if i, j := strings.Index(s, begin), strings.Index(s, end); i >= 0 && j > i {
		s = s[:i] + strings.TrimRight(md, "\n") + s[j+len(end):]
	} else {
		s = strings.TrimRight(s, "\n") + "\n\n" + md
	}
	return os.WriteFile(path, []byte(s), 0o644)
}
