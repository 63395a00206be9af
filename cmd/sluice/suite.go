package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

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
	fmt.Fprintf(md, "%s\n\n## Side by side (`make bench`)\n\n%s. For (a)–(e) the load harness runs in the same process as the server it measures, on the same cores; (f) runs the server as a process of its own.\n\n", beginMark, machine())
	s.step("(a) raw ONNX Runtime on ppocr-cls, every layout and batch size")
	ceiling, err := s.rawTable(ctx, md, ppocr)
	if err != nil {
		return err
	}
	s.step("(b, c) Sluice with batching on and off, saturated")
	on, err := s.sluice(ctx, "ppocr-cls", "models/ppocr-cls", ppocrConfig+"max_batch_size: 16\n", "(b) ppocr-cls, batching on", 16, 1, "http")
	if err != nil {
		return err
	}
	off, err := s.sluice(ctx, "ppocr-cls", "models/ppocr-cls", ppocrConfig+"max_batch_size: 0\n", "(c) ppocr-cls, batching off", 16, 1, "http")
	if err != nil {
		return err
	}
	s.step("(d) minimal fasthttp handler against Sluice on student-success; wrk against the harness")
	fixed, wrkRate, err := s.frontDoor(ctx)
	if err != nil {
		return err
	}
	tiny, err := s.sluice(ctx, "student-success", student, "instances: 2\nmax_batch_size: 64\n", "(d) Sluice on student-success", 32, 1, "http")
	if err != nil {
		return err
	}
	s.step("(e) one client: Sluice and a raw ORT call")
	one, err := s.sluice(ctx, "ppocr-cls", "models/ppocr-cls", ppocrConfig+"max_batch_size: 16\n", "(e) ppocr-cls, one client", 1, 1, "http")
	if err != nil {
		return err
	}
	rawOne, err := s.rawLatency(ppocr)
	if err != nil {
		return err
	}
	writeComparison(md, ceiling, on, off, fixed, wrkRate, tiny, one, rawOne)
	s.step("(g) the same calls over gRPC")
	if err := s.grpcTable(ctx, md, student, []*bench.Result{on, tiny, one}); err != nil {
		return err
	}
	if s.overload > 0 {
		if err := s.overloadTable(ctx, md, s.overload); err != nil {
			return err
		}
	}
	fmt.Fprintf(md, "\n%s\n", endMark)
	return nil
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

// sluice serves one model from a fresh repository (its files, with config
// as config.yaml) in this process, and measures it saturated by conc
// closed-loop callers with binary tensors of batch rows, over HTTP or
// gRPC (protocol "grpc").
func (s *suite) sluice(ctx context.Context, model, src, config, label string, conc int, batch int64, protocol string) (*bench.Result, error) {
	repo, err := os.MkdirTemp("", "sluice-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(repo)
	if err := os.CopyFS(filepath.Join(repo, model), os.DirFS(src)); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(repo, model, "config.yaml"), []byte(config), 0o644); err != nil {
		return nil, err
	}
	sctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	logs := &addrLog{addr: make(chan string, 1)}
	go func() {
		done <- serve(sctx, []string{"-server.addr", "127.0.0.1:0", "-server.grpc_addr", "127.0.0.1:0", "-repository.path", repo, "-log.level", "info", "-log.format", "json", "-repository.control_mode", "none"}, nil, logs)
	}()
	defer func() { stop(); <-done; runtime.Init(mustLibrary()) }() // serve ends the environment; the suite goes on
	addr, err := servedAt(ctx, logs, done)
	if err != nil {
		return nil, err
	}
	c := client.New("http://"+addr, conc*2)
	if err := waitFor(ctx, c); err != nil {
		return nil, err
	}
	var transport interface {
		bench.Transport
		bench.Metadata
	} = c
	if protocol == "grpc" {
		g, err := client.DialGRPC(logs.grpcAddr(), max(1, conc/128))
		if err != nil {
			return nil, err
		}
		defer g.Close()
		transport = g
	}
	cfg := s.benchConfig(transport, model, conc)
	shapes := map[string][]int64{}
	if model == "ppocr-cls" {
		shapes["x"] = []int64{batch, 3, 48, 192}
	}
	if cfg.Inputs, err = bench.RandomInputs(ctx, transport, model, "", batch, shapes); err != nil {
		return nil, err
	}
	cfg.Label = label
	return bench.Run(ctx, cfg, nil)
}

func (s *suite) benchConfig(c bench.Transport, model string, conc int) bench.Config {
	cfg := bench.DefaultConfig()
	cfg.Client, cfg.Model, cfg.Mode, cfg.Concurrency = c, model, bench.Closed, conc
	cfg.Options.Binary = true
	cfg.Warmup, cfg.Window, cfg.MinWindows, cfg.MaxWindows = s.window, s.window, 3, 6
	return cfg
}

func mustLibrary() string {
	lib, _ := libraryPath("")
	return lib
}

// servedAt waits for serve to say where it listens; serve returning first
// (its error goes back on done, for the deferred wait) is a failure.
func servedAt(ctx context.Context, logs *addrLog, done chan error) (string, error) {
	select {
	case addr := <-logs.addr:
		return addr, nil
	case err := <-done:
		done <- err
		return "", fmt.Errorf("serve returned before it was serving: %v", err)
	case <-ctx.Done():
		return "", ctx.Err()
	case <-time.After(time.Minute):
		return "", fmt.Errorf("serve never said where it serves")
	}
}

func waitFor(ctx context.Context, c *client.Client) error {
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if c.Ready(ctx) == nil {
			return nil
		}
	}
	return errors.New("the server under test never became ready")
}

// frontDoor measures (d)'s ceiling: a fasthttp handler answering a fixed
// v2 response, driven by the harness and by wrk at the same connections.
func (s *suite) frontDoor(ctx context.Context) (*bench.Result, float64, error) {
	resp := []byte(`{"model_name":"student-success","model_version":"1","outputs":[{"name":"probability","datatype":"FP32","shape":[1,1],"data":[0.5]},{"name":"label","datatype":"INT64","shape":[1,1],"data":[0]}]}`)
	meta := []byte(`{"name":"student-success","versions":["1"],"platform":"onnxruntime_onnx","inputs":[{"name":"features","datatype":"FP32","shape":[-1,8]}],"outputs":[]}`)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, 0, err
	}
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("application/json")
		switch {
		case bytes.HasSuffix(ctx.Path(), []byte("/infer")):
			ctx.SetBody(resp)
		case bytes.HasSuffix(ctx.Path(), []byte("/stats")):
			ctx.SetBodyString(`{"model_stats":[]}`)
		default:
			ctx.SetBody(meta)
		}
	}}
	go srv.Serve(ln)
	defer srv.Shutdown()
	c := client.New("http://"+ln.Addr().String(), 64)
	cfg := s.benchConfig(c, "student-success", 32)
	if cfg.Inputs, err = bench.RandomInputs(ctx, c, "student-success", "", 1, nil); err != nil {
		return nil, 0, err
	}
	cfg.Label = "(d) fixed fasthttp handler"
	fixed, err := bench.Run(ctx, cfg, nil)
	if err != nil {
		return nil, 0, err
	}
	return fixed, wrk(ln.Addr().String(), 32, 3*s.window, s.log), nil
}

// wrk runs Debian's wrk against the fixed handler, if it is installed,
// and returns its requests/s (0 when it is not there).
func wrk(addr string, conns int, d time.Duration, log io.Writer) float64 {
	path, err := exec.LookPath("wrk")
	if err != nil {
		fmt.Fprintln(log, "bench: wrk not installed (apt-get install wrk); the harness-versus-wrk row is skipped")
		return 0
	}
	script, err := os.CreateTemp("", "wrk-*.lua")
	if err != nil {
		return 0
	}
	defer os.Remove(script.Name())
	fmt.Fprintf(script, "wrk.method = \"POST\"\nwrk.body = '{\"inputs\":[{\"name\":\"features\",\"shape\":[1,8],\"datatype\":\"FP32\",\"data\":[0,0,0,0,0,0,0,0]}]}'\nwrk.headers[\"Content-Type\"] = \"application/json\"\n")
	script.Close()
	out, err := exec.Command(path, "-t2", fmt.Sprintf("-c%d", conns), fmt.Sprintf("-d%ds", max(1, int(d.Seconds()))), "-s", script.Name(),
		"http://"+addr+"/v2/models/student-success/infer").CombinedOutput()
	if err != nil {
		fmt.Fprintf(log, "bench: wrk failed: %v\n%s", err, out)
		return 0
	}
	var rate float64
	for _, l := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "Requests/sec:"); ok {
			fmt.Sscanf(strings.TrimSpace(v), "%f", &rate)
		}
	}
	return rate
}

// grpcTable measures (b), (d) and (e) again over the gRPC port and puts
// each beside its HTTP row (http, in that order).
func (s *suite) grpcTable(ctx context.Context, md *bytes.Buffer, student string, http []*bench.Result) error {
	on, err := s.sluice(ctx, "ppocr-cls", "models/ppocr-cls", ppocrConfig+"max_batch_size: 16\n", "(g) ppocr-cls, batching on, gRPC", 16, 1, "grpc")
	if err != nil {
		return err
	}
	tiny, err := s.sluice(ctx, "student-success", student, "instances: 2\nmax_batch_size: 64\n", "(g) Sluice on student-success, gRPC", 32, 1, "grpc")
	if err != nil {
		return err
	}
	one, err := s.sluice(ctx, "ppocr-cls", "models/ppocr-cls", ppocrConfig+"max_batch_size: 16\n", "(g) ppocr-cls, one client, gRPC", 1, 1, "grpc")
	if err != nil {
		return err
	}
	grpc := []*bench.Result{on, tiny, one}
	fmt.Fprintf(md, "\n### (g) HTTP and gRPC side by side\n\nThe calls of (b), (d) and (e) again, through the gRPC port (`inference.GRPCInferenceService`, `raw_input_contents`, one HTTP/2 connection per 128 callers), measured the same way in the same run.\n\n")
	bench.Table(md, grpc)
	fmt.Fprintf(md, "\n| row | HTTP | gRPC | gRPC / HTTP |\n|---|---:|---:|---:|\n")
	names := []string{"ppocr-cls, batching on, 16 callers: items/s", "student-success, 32 callers: calls/s", "ppocr-cls, one client: calls/s"}
	for i, name := range names {
		fmt.Fprintf(md, "| %s | %.0f | %.0f | %.2f |\n", name, http[i].Throughput, grpc[i].Throughput, grpc[i].Throughput/http[i].Throughput)
	}
	fmt.Fprintf(md, "| ppocr-cls, one client: p50 µs | %.0f | %.0f | %.2f |\n", http[2].Latency.P50, one.Latency.P50, one.Latency.P50/http[2].Latency.P50)
	fmt.Fprintf(md, "| student-success, 32 callers: p99 µs | %.0f | %.0f | %.2f |\n", http[1].Latency.P99, tiny.Latency.P99, tiny.Latency.P99/http[1].Latency.P99)
	fmt.Fprintf(md, "| student-success, 32 callers: CPU cores (server and harness) | %.2f | %.2f | %.2f |\n", http[1].CPU.Cores, tiny.CPU.Cores, tiny.CPU.Cores/http[1].CPU.Cores)
	return nil
}

func writeComparison(md *bytes.Buffer, ceiling rawResult, on, off, fixed *bench.Result, wrkRate float64, tiny, one *bench.Result, rawOne []time.Duration) {
	fmt.Fprintf(md, "\n### (b)–(e) Sluice over loopback HTTP, binary tensors, closed loop\n\n")
	bench.Table(md, []*bench.Result{on, off, fixed, tiny, one})
	fmt.Fprintf(md, "\n| ratio | value |\n|---|---:|\n")
	fmt.Fprintf(md, "| (b) batching on / (a) ceiling (%s, batch %d) | %.2f (%.0f / %.0f items/s) |\n", ceiling.layout, ceiling.batch, on.Throughput/ceiling.items, on.Throughput, ceiling.items)
	fmt.Fprintf(md, "| (b) batching on / (c) batching off | %.2f (%.0f / %.0f) |\n", on.Throughput/off.Throughput, on.Throughput, off.Throughput)
	fmt.Fprintf(md, "| Sluice on student-success / (d) fixed fasthttp handler, 32 connections | %.2f (%.0f / %.0f calls/s) |\n", tiny.Throughput/fixed.Throughput, tiny.Throughput, fixed.Throughput)
	p50, p99 := rawOne[len(rawOne)/2], rawOne[len(rawOne)*99/100]
	fmt.Fprintf(md, "| (e) one client, p50: Sluice %.0f µs, raw ORT %d µs | +%.0f µs |\n", one.Latency.P50, p50.Microseconds(), one.Latency.P50-float64(p50.Microseconds()))
	fmt.Fprintf(md, "| (e) one client, p99: Sluice %.0f µs, raw ORT %d µs | +%.0f µs |\n", one.Latency.P99, p99.Microseconds(), one.Latency.P99-float64(p99.Microseconds()))
	if wrkRate > 0 {
		fmt.Fprintf(md, "| the harness / wrk against the fixed handler, 32 connections | %.2f (%.0f / %.0f calls/s) |\n", fixed.Throughput/wrkRate, fixed.Throughput, wrkRate)
	} else {
		fmt.Fprintf(md, "| the harness / wrk | wrk not installed on this machine |\n")
	}
	fmt.Fprintf(md, "\nThe harness runs in the server's process here, so its CPU column is the whole process's: %.2f cores while driving the fixed handler (almost all of it the harness, since that handler does nothing), %.2f while driving Sluice on student-success.\n", fixed.CPU.Cores, tiny.CPU.Cores)
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
