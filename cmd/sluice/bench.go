package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-serving/sluice/bench"
	"github.com/sluice-serving/sluice/client"
	"github.com/sluice-serving/sluice/tensor"
)

// benchCmd is `sluice bench`: one measurement, a sweep, steps, a ramp or an
// SLO search against a running server; `sluice bench suite` is `make bench`.
func benchCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "suite" {
		return suiteCmd(ctx, args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "fixed-handler" {
		return fixedHandlerCmd(ctx, args[1:], stderr)
	}
	if len(args) > 0 && args[0] == "watch" {
		return watchCmd(ctx, args[1:], os.Stdin, stdout, stderr)
	}
	fs := flag.NewFlagSet("sluice bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", "http://127.0.0.1:8000", "server base URL (HTTP; with -protocol grpc, what -overload probes and scrapes)")
	protocol := fs.String("protocol", "http", "the calls' transport: http (KServe v2 over HTTP/1.1) or grpc (Triton's GRPCInferenceService at -grpc-addr)")
	grpcAddr := fs.String("grpc-addr", "127.0.0.1:8001", "-protocol grpc: the server's gRPC host:port")
	grpcConns := fs.Int("grpc-conns", 0, "-protocol grpc: HTTP/2 connections the calls are spread over, round-robin (default: one per 128 calls in flight, at least 1)")
	model := fs.String("model", "", "model to call (required)")
	version := fs.String("version", "", "model version (default: the server's choice)")
	binary := fs.Bool("binary", true, "binary tensors (false: JSON); HTTP only: gRPC always carries tensors raw")
	input := fs.String("input", "", "a v2 request body (JSON) whose inputs are sent (default: random inputs from the model's metadata)")
	batch := fs.Int64("batch", 1, "rows per call for random inputs")
	shapes := fs.String("shape", "", "shapes for random inputs with open dimensions: name=1,3,48,192;name2=...")
	mode := fs.String("mode", bench.Open, "open (a fixed rate) or closed (a fixed concurrency)")
	rate := fs.Float64("rate", 100, "open loop: calls per second")
	poisson := fs.Bool("poisson", false, "open loop: Poisson arrivals instead of constant gaps")
	conc := fs.Int("concurrency", 0, "closed loop: callers (default 16); open loop: most calls in flight (default 256)")
	warmup := fs.Duration("warmup", 2*time.Second, "warm-up before measuring")
	window := fs.Duration("window", 2*time.Second, "measurement window")
	maxWindows := fs.Int("max-windows", 10, "windows at most, when three in a row never agree within 10%")
	sweep := fs.String("sweep", "", "measure each of these rates (open) or concurrencies (closed): 100,200,400")
	steps := fs.String("steps", "", "a step schedule, each point for -step-time, no stability check: 100,200,400")
	ramp := fs.String("ramp", "", "a ramp FROM:TO:POINTS, each point for -step-time: 100:1000:10")
	stepTime := fs.Duration("step-time", 10*time.Second, "time per step or ramp point")
	slo := fs.Duration("slo", 0, "search the highest open-loop rate whose p99 is within this")
	sloRange := fs.String("slo-range", "10:10000", "the search's LOW:HIGH rates")
	keys := fs.Int("keys", 0, "cycle calls through this many routing keys (the Sluice-Routing-Key header, or sluice-routing-key metadata over gRPC)")
	jsonOut := fs.String("json", "", "write the results as JSON to this file")
	csvOut := fs.String("csv", "", "write the results as CSV to this file")
	htmlOut := fs.String("html", "", "write an HTML report with SVG plots to this file")
	quiet := fs.Bool("quiet", false, "no live progress line")
	overload := fs.Float64("overload", 0, "overload mode: an open loop at this multiple of the capacity (measured first, closed loop, unless -capacity), reporting goodput, refusal and probe latency, memory and goroutines")
	capacity := fs.Float64("capacity", 0, "overload: the server's capacity in calls/s (0: measure it)")
	duration := fs.Duration("duration", time.Minute, "overload: how long the overload lasts")
	connections := fs.Int("connections", 2048, "overload: most calls in flight, one connection each over HTTP (over gRPC, see -grpc-conns)")
	serverPID := fs.Int("server-pid", 0, "the server's process id on this machine: its CPU per call (and, with -overload, its memory) is read from /proc")
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		return nil
	} else if err != nil {
		return err
	}
	if *model == "" {
		return errors.New("bench: -model is required")
	}
	cfg := bench.DefaultConfig()
	cfg.Model, cfg.Version = *model, *version
	cfg.Options.Binary = *binary
	cfg.Mode, cfg.Rate, cfg.Poisson, cfg.RoutingKeys = *mode, *rate, *poisson, *keys
	cfg.Warmup, cfg.Window, cfg.MaxWindows = *warmup, *window, *maxWindows
	cfg.Concurrency = *conc
	if cfg.Concurrency == 0 {
		cfg.Concurrency = map[string]int{bench.Open: 256, bench.Closed: 16}[*mode]
	}
	inFlight := *connections // the overload's
	if *overload == 0 {
		inFlight = callersAtMost(cfg.Concurrency, *mode, *sweep, *steps, *ramp)
	}
	c, closeClient, err := benchClient(*protocol, *url, max(512, *connections), *grpcAddr, grpcConnections(*grpcConns, inFlight))
	if err != nil {
		return err
	}
	defer closeClient()
	cfg.Client = c
	if cfg.Inputs, err = benchInputs(ctx, c, *model, *version, *input, *batch, *shapes); err != nil {
		return err
	}
	progress := liveProgress(stderr, *quiet)
	if *overload > 0 {
		oc := bench.DefaultOverload()
		oc.Call, oc.URL, oc.Capacity, oc.Multiple = cfg, *url, *capacity, *overload
		oc.Duration, oc.Warmup, oc.Connections, oc.ServerPID = *duration, *warmup, *connections, *serverPID
		oc.Watcher = processWatcher
		res, err := bench.Overload(ctx, oc, progress)
		if !*quiet {
			fmt.Fprintln(stderr)
		}
		if res != nil {
			bench.OverloadTable(stdout, res)
			if werr := writeJSON(*jsonOut, res); werr != nil && err == nil {
				err = werr
			}
		}
		return err
	}
	cfg.ServerPID = *serverPID
	var results []*bench.Result
	switch {
	case *slo > 0:
		lo, hi, perr := parseRange(*sloRange)
		if perr != nil {
			return perr
		}
		results, err = bench.SearchSLO(ctx, cfg, lo, hi, *slo, 0.05, progress)
	case *sweep != "":
		points, perr := parsePoints(*sweep)
		if perr != nil {
			return perr
		}
		results, err = bench.Sweep(ctx, cfg, points, progress)
	case *steps != "" || *ramp != "":
		points, perr := schedulePoints(*steps, *ramp)
		if perr != nil {
			return perr
		}
		results, err = bench.Steps(ctx, cfg, points, *stepTime, progress)
	default:
		cfg.Label = "run"
		var res *bench.Result
		if res, err = bench.Run(ctx, cfg, progress); res != nil {
			results = append(results, res)
		}
	}
	if !*quiet {
		fmt.Fprintln(stderr)
	}
	bench.Table(stdout, results)
	if werr := writeReports(results, *jsonOut, *csvOut, *htmlOut, *model, *slo); werr != nil {
		return werr
	}
	return err
}

// transport is what `sluice bench` needs of a client: the calls, and the
// model's metadata for random inputs.
type transport interface {
	bench.Transport
	bench.Metadata
}

// benchClient is the client -protocol names: HTTP at url over up to
// httpConns connections, or gRPC at grpcAddr over grpcConns, and what
// closes it.
func benchClient(protocol, url string, httpConns int, grpcAddr string, grpcConns int) (transport, func(), error) {
	switch protocol {
	case "http":
		c := client.New(url, httpConns)
		return c, c.CloseIdle, nil
	case "grpc":
		g, err := client.DialGRPC(grpcAddr, grpcConns)
		if err != nil {
			return nil, nil, fmt.Errorf("-grpc-addr: %w", err)
		}
		return g, func() { _ = g.Close() }, nil
	}
	return nil, nil, fmt.Errorf("-protocol %q: expected http or grpc", protocol)
}

// grpcConnections is -grpc-conns, or by default one connection per 128
// calls in flight: one HTTP/2 connection carries its calls on one TCP
// stream, and Sluice's door runs at most 256 of them at once on each.
func grpcConnections(flag, inFlight int) int {
	if flag > 0 {
		return flag
	}
	return max(1, (inFlight+127)/128)
}

// callersAtMost is the most calls a run keeps in flight: the concurrency,
// or a closed loop's largest sweep, step or ramp point.
func callersAtMost(conc int, mode, sweep, steps, ramp string) int {
	if mode != bench.Closed {
		return conc
	}
	from, rest, _ := strings.Cut(ramp, ":")
	to, _, _ := strings.Cut(rest, ":")
	return max(conc, int(maxPoint(sweep+","+steps+","+from+","+to)))
}

// maxPoint is the largest number in a comma-separated list, 0 for none;
// what is not a number is left for the schedule's own parsing to refuse.
func maxPoint(list string) float64 {
	m := 0.0
	for _, f := range strings.Split(list, ",") {
		if v, err := strconv.ParseFloat(strings.TrimSpace(f), 64); err == nil {
			m = max(m, v)
		}
	}
	return m
}

func liveProgress(w io.Writer, quiet bool) func(bench.Progress) {
	if quiet {
		return nil
	}
	return func(p bench.Progress) {
		fmt.Fprintf(w, "\r%6.1fs  window %2d  %9.1f ok/s  p99 %-10v errors %d   ", p.Elapsed.Seconds(), p.Window, p.Throughput, p.P99.Round(time.Microsecond), p.Errors)
	}
}

func benchInputs(ctx context.Context, c bench.Metadata, model, version, file string, batch int64, shapes string) ([]tensor.Tensor, error) {
	if file != "" {
		return bench.FileInputs(file)
	}
	m := map[string][]int64{}
	for _, part := range strings.Split(shapes, ";") {
		if part == "" {
			continue
		}
		name, dims, ok := strings.Cut(part, "=")
		if !ok {
			return nil, fmt.Errorf("-shape %q: expected name=d1,d2,...", part)
		}
		pts, err := parsePoints(dims)
		if err != nil {
			return nil, err
		}
		for _, d := range pts {
			m[name] = append(m[name], int64(d))
		}
	}
	return bench.RandomInputs(ctx, c, model, version, batch, m)
}

func parsePoints(s string) ([]float64, error) {
	var out []float64
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("%q: expected positive numbers separated by commas", s)
		}
		out = append(out, v)
	}
	return out, nil
}

func parseRange(s string) (float64, float64, error) {
	a, b, ok := strings.Cut(s, ":")
	lo, err1 := strconv.ParseFloat(a, 64)
	hi, err2 := strconv.ParseFloat(b, 64)
	if !ok || err1 != nil || err2 != nil || lo <= 0 || hi <= lo {
		return 0, 0, fmt.Errorf("-slo-range %q: expected LOW:HIGH rates", s)
	}
	return lo, hi, nil
}

func schedulePoints(steps, ramp string) ([]float64, error) {
	if steps != "" {
		return parsePoints(steps)
	}
	parts := strings.Split(ramp, ":")
	if len(parts) != 3 {
		return nil, fmt.Errorf("-ramp %q: expected FROM:TO:POINTS", ramp)
	}
	lo, hi, err := parseRange(parts[0] + ":" + parts[1])
	n, nerr := strconv.Atoi(parts[2])
	if err != nil || nerr != nil || n < 2 {
		return nil, fmt.Errorf("-ramp %q: expected FROM:TO:POINTS with FROM < TO and POINTS >= 2", ramp)
	}
	return bench.Ramp(lo, hi, n), nil
}

func writeReports(results []*bench.Result, jsonOut, csvOut, htmlOut, title string, slo time.Duration) error {
	for _, out := range []struct {
		path  string
		write func(io.Writer) error
	}{
		{jsonOut, func(w io.Writer) error { return bench.JSON(w, results) }},
		{csvOut, func(w io.Writer) error { return bench.CSV(w, results) }},
		{htmlOut, func(w io.Writer) error {
			return bench.Page{Title: "sluice bench: " + title, SLO: slo, At: time.Now()}.Write(w, results)
		}},
	} {
		if out.path == "" {
			continue
		}
		f, err := os.Create(out.path)
		if err != nil {
			return err
		}
		if err := out.write(f); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	return nil
}

// writeJSON writes v as indented JSON to path; no path, no file.
func writeJSON(path string, v any) error {
	if path == "" {
		return nil
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
