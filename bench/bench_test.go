package bench

import (
	"bytes"
	"context"
	"math"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/sluice-serving/sluice/client"
	"github.com/sluice-serving/sluice/tensor"
)

// fixedServer answers every infer call at once, except that stall, when set,
// holds the calls that arrive while it runs, on loopback.
type fixedServer struct {
	url        string
	calls      atomic.Int64
	stallAfter int64         // the call that starts the stall (0: never)
	stall      time.Duration // how long the server stalls
	stallUntil atomic.Int64  // unix nanos
}

func startFixed(t *testing.T) *fixedServer {
	s := &fixedServer{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		switch {
		case strings.HasSuffix(string(ctx.Path()), "/stats"):
			ctx.SetBodyString(`{"model_stats":[]}`)
			return
		case strings.HasSuffix(string(ctx.Path()), "/infer"):
		default:
			ctx.SetBodyString(`{"name":"m","versions":["1"],"inputs":[{"name":"x","datatype":"FP32","shape":[-1,4]}],"outputs":[]}`)
			return
		}
		n := s.calls.Add(1)
		if n == s.stallAfter {
			s.stallUntil.Store(time.Now().Add(s.stall).UnixNano())
		}
		if until := s.stallUntil.Load(); until > 0 {
			time.Sleep(time.Until(time.Unix(0, until)))
		}
		ctx.Response.Header.Set("Sluice-Model-Version", "1")
		ctx.SetBodyString(`{"model_name":"m","model_version":"1","outputs":[]}`)
	}}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Shutdown() })
	s.url = "http://" + ln.Addr().String()
	return s
}

func testConfig(url string) Config {
	c := DefaultConfig()
	c.Client = client.New(url, 64)
	c.Model = "m"
	c.Inputs = []tensor.Tensor{{Name: "x", DataType: tensor.FP32, Shape: []int64{1, 4}, Data: make([]byte, 16)}}
	c.Warmup, c.Window, c.MinWindows, c.MaxWindows = 0, time.Second, 3, 3
	return c
}

func TestPercentilesOfAKnownDistribution(t *testing.T) {
	w := newWindow()
	for v := int64(1); v <= 100000; v++ { // uniform 1 µs .. 100 ms
		w.record(time.Duration(v)*time.Microsecond, 0, 200, "", nil)
	}
	p := percentiles(w.hist)
	for _, c := range []struct {
		name      string
		got, want float64
	}{{"p50", p.P50, 50000}, {"p90", p.P90, 90000}, {"p99", p.P99, 99000}, {"p99.9", p.P999, 99900}, {"max", p.Max, 100000}, {"mean", p.Mean, 50000.5}} {
		if math.Abs(c.got-c.want)/c.want > 0.001 {
			t.Errorf("%s = %v, want %v within 0.1%%", c.name, c.got, c.want)
		}
	}
}

func TestOpenLoopPacing(t *testing.T) {
	s := startFixed(t)
	for _, poisson := range []bool{false, true} {
		cfg := testConfig(s.url)
		cfg.Rate, cfg.Poisson = 500, poisson
		res, err := Run(context.Background(), cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		tol := 0.01
		if poisson {
			tol = 0.10 // a Poisson count over 1,500 arrivals has a 2.6 % standard deviation
		}
		if math.Abs(res.Throughput-500)/500 > tol {
			t.Errorf("poisson=%v: paced %.1f calls/s, asked 500 (tolerance %.0f%%)", poisson, res.Throughput, tol*100)
		}
		if res.Versions["1"] != res.OK {
			t.Errorf("versions %v for %d calls", res.Versions, res.OK)
		}
		t.Logf("poisson=%v: %.1f calls/s, p99 %v", poisson, res.Throughput, us(res.Latency.P99))
	}
}

// TestCoordinatedOmission: the server stalls 300 ms once. The open loop
// charges the stall to every call that should have been sent during it;
// a closed loop with one caller sees only the one slow call.
func TestCoordinatedOmission(t *testing.T) {
	slowCalls := func(mode string) (int64, float64) {
		s := startFixed(t)
		s.stallAfter, s.stall = 100, 300*time.Millisecond
		cfg := testConfig(s.url)
		cfg.Mode, cfg.Rate, cfg.Concurrency = mode, 200, 1
		res, err := Run(context.Background(), cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		slow := int64(0)
		for _, b := range res.hist.Distribution() {
			if b.From >= 100_000 {
				slow += b.Count
			}
		}
		return slow, res.Latency.P99
	}
	openSlow, openP99 := slowCalls(Open)
	closedSlow, closedP99 := slowCalls(Closed)
	t.Logf("open loop: %d calls over 100 ms, p99 %v; closed loop: %d, p99 %v", openSlow, us(openP99), closedSlow, us(closedP99))
	if openSlow < 20 || openP99 < 100_000 {
		t.Errorf("open loop hid the stall: %d slow calls, p99 %v", openSlow, us(openP99))
	}
	if closedSlow > 2 {
		t.Errorf("closed loop saw %d slow calls, want the one stalled call", closedSlow)
	}
}

func TestReports(t *testing.T) {
	s := startFixed(t)
	cfg := testConfig(s.url)
	cfg.Window, cfg.MinWindows, cfg.MaxWindows = 300*time.Millisecond, 1, 1
	results, err := Sweep(context.Background(), cfg, []float64{100, 200}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var table, js, cs, page bytes.Buffer
	Table(&table, results)
	if err := JSON(&js, results); err != nil {
		t.Fatal(err)
	}
	if err := CSV(&cs, results); err != nil {
		t.Fatal(err)
	}
	if err := HTML(&page, "test", results); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		b    *bytes.Buffer
		want string
	}{"table": {&table, "rate 200/s"}, "table protocol": {&table, "protocol"}, "json": {&js, `"protocol": "http"`}, "csv": {&cs, "rate 200/s,open,http,200.0"}, "html": {&page, "<svg"}} {
		if !strings.Contains(c.b.String(), c.want) {
			t.Errorf("%s report lacks %q:\n%.500s", name, c.want, c.b.String())
		}
	}
	if n := strings.Count(page.String(), "<svg"); n != 4 {
		t.Errorf("html has %d plots, want 4: latency, percentile spectrum, offered against achieved, over time", n)
	}
}

func TestBisectFindsTheHighestAcceptedRate(t *testing.T) {
	var probed []float64
	best := bisect(10, 1000, 0.01, func(rate float64) (*Result, bool) {
		probed = append(probed, rate)
		return &Result{Rate: rate}, rate <= 237
	})
	if best == nil || best.Rate > 237 || best.Rate < 237*0.98 {
		t.Errorf("best %+v after probes %v, want just under 237", best, probed)
	}
	if bisect(10, 1000, 0.01, func(float64) (*Result, bool) { return &Result{}, false }) != nil {
		t.Error("a search where nothing is accepted found a rate")
	}
}

func TestSLOSearchAndSchedules(t *testing.T) {
	s := startFixed(t)
	cfg := testConfig(s.url)
	cfg.Window, cfg.MinWindows, cfg.MaxWindows = 300*time.Millisecond, 1, 1
	// A fast server and a loose SLO: the search returns its best probe
	// first, then every probe.
	probes, err := SearchSLO(context.Background(), cfg, 50, 200, 10*time.Second, 0.5, nil)
	if err != nil || len(probes) < 2 || probes[0].Rate < 50 {
		t.Fatalf("search: %d probes, %v", len(probes), err)
	}
	steps, err := Steps(context.Background(), cfg, Ramp(100, 300, 3), 300*time.Millisecond, nil)
	if err != nil || len(steps) != 3 {
		t.Fatalf("steps: %d results, %v", len(steps), err)
	}
	for i, want := range []float64{100, 200, 300} {
		if steps[i].Rate != want || steps[i].OK == 0 {
			t.Errorf("step %d: asked %v, got rate %v with %d calls", i, want, steps[i].Rate, steps[i].OK)
		}
	}
	// An SLO no rate can meet is an error.
	if _, err := SearchSLO(context.Background(), cfg, 50, 100, time.Nanosecond, 0.5, nil); err == nil {
		t.Error("an impossible SLO was met")
	}
}
