package bench

import (
	"bytes"
	"encoding/xml"
	"errors"
	"flag"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"gonum.org/v1/plot"
)

var sampleReport = flag.String("report-sample", "", "write the synthetic HTML report of TestHTMLReport to this file, to look at")

// syntheticRun is a run whose latencies (µs) are log-normal around median,
// with a tail, recorded into a histogram as Run would.
func syntheticRun(label, mode string, rate, achieved float64, median float64, seed uint64) *Result {
	rng := rand.New(rand.NewPCG(seed, 7))
	h := newHist()
	for range 20000 {
		_ = h.RecordValue(int64(median * math.Exp(0.35*rng.NormFloat64()+0.3*rng.ExpFloat64())))
	}
	r := &Result{Label: label, Mode: mode, Protocol: "http", Rate: rate, Concurrency: 64, Duration: 6 * time.Second,
		Calls: h.TotalCount(), OK: h.TotalCount(), Throughput: achieved, Stable: true, hist: h, Latency: percentiles(h)}
	for i := range 3 {
		r.Windows = append(r.Windows, WindowStat{Start: time.Duration(i) * 2 * time.Second, Throughput: achieved * (1 + 0.02*float64(i-1))})
	}
	return r
}

// syntheticResults are an open loop with the server's split, a closed loop
// read back from JSON (no histogram, no split), and an open loop past
// capacity that never settled, with errors and a split.
func syntheticResults() []*Result {
	open := syntheticRun("rate 200/s", Open, 200, 199.6, 4000, 1)
	open.Server = &ServerSplit{Calls: 1200, QueueUS: 800, InputUS: 120, InferUS: 2500, OutputUS: 60, MeanBatch: 3.2}
	closed := &Result{Label: "concurrency 16", Mode: Closed, Protocol: "http", Concurrency: 16, Calls: 5000, OK: 5000, Throughput: 830, Stable: true,
		Latency: Percentiles{P50: 9000, P90: 15000, P95: 18000, P99: 26000, P999: 41000, Max: 52000, Mean: 10000}}
	over := syntheticRun("rate 400/s", Open, 400, 310, 30000, 2)
	over.Stable, over.OK, over.Failed = false, over.Calls-40, 40
	over.Status = map[int]int64{200: over.OK, 503: 12}
	over.Server = &ServerSplit{Calls: 900, QueueUS: 24000, InputUS: 150, InferUS: 2600, OutputUS: 70, MeanBatch: 8}
	return []*Result{open, closed, over}
}

func TestHTMLReport(t *testing.T) {
	var page bytes.Buffer
	pg := Page{Title: "sluice bench: synthetic", SLO: 20 * time.Millisecond, At: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
	if err := pg.Write(&page, syntheticResults()); err != nil {
		t.Fatal(err)
	}
	s := page.String()
	if *sampleReport != "" {
		if err := os.WriteFile(*sampleReport, page.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if n := strings.Count(s, "<svg"); n != 5 {
		t.Errorf("%d plots, want 5: latency against throughput, spectrum, offered against achieved, server split, over time", n)
	}
	for name, want := range map[string]string{
		"latency plot":         "<h2>Latency against throughput</h2>",
		"spectrum plot":        "<h2>Percentile spectrum</h2>",
		"offered plot":         "<h2>Offered against achieved rate</h2>",
		"split plot":           "<h2>Server time per call</h2>",
		"over-time plot":       "<h2>Throughput and errors over time</h2>",
		"SLO line label":       ">SLO 20ms</text>",
		"SLO in the meta line": "SLO p99 ≤ 20ms",
		"percentile ticks":     ">99.9%</text>",
		"latency log ticks":    ">10</text>",
		"unstable row":         "<tr class=unstable>",
		"unstable badge":       "not stable</span>",
		"unstable in a legend": "rate 400/s (not stable)",
		"nil histogram's line": ">concurrency 16</text>",
		"units in headers":     "<th class=n>p99 (ms)</th>",
		"server columns":       "server queue (ms)",
		"p99 over the SLO":     `<td class="n over">`,
		"closed loop's load":   "closed, 16 callers",
		"status note":          "rate 400/s: status 503×12, transport errors 40",
		"taken at":             "taken 2025-03-01 12:00 UTC",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("%s: the page lacks %q", name, want)
		}
	}
	checkSelfContained(t, s)
	checkSVGs(t, s)
}

// TestHTMLReportOmits: what a result does not have, the page does not
// show: no SLO line without an SLO, no split without the server's
// statistics, no offered rate for a closed loop.
func TestHTMLReportOmits(t *testing.T) {
	closed := syntheticRun("concurrency 8", Closed, 0, 500, 2000, 3)
	var page bytes.Buffer
	if err := HTML(&page, "one closed run", []*Result{closed}); err != nil {
		t.Fatal(err)
	}
	s := page.String()
	if n := strings.Count(s, "<svg"); n != 2 {
		t.Errorf("%d plots, want 2: the spectrum and over time", n)
	}
	for _, absent := range []string{"SLO", "server queue", "Offered against", "Server time per call", "not stable", "Latency against throughput"} {
		if strings.Contains(s, absent) {
			t.Errorf("the page shows %q", absent)
		}
	}
	checkSVGs(t, s)
}

// TestHTMLReportDegenerate: results that give the plots nothing, or one
// value, still render: a log axis must never be handed zero.
func TestHTMLReportDegenerate(t *testing.T) {
	oneValue := newHist()
	_ = oneValue.RecordValue(1500)
	for name, results := range map[string][]*Result{
		"none":             nil,
		"empty":            {{Label: "empty"}},
		"one call":         {{Label: "one", Mode: Open, Rate: 10, Calls: 1, OK: 1, hist: oneValue, Latency: percentiles(oneValue)}},
		"all failed":       {{Label: "down", Mode: Open, Rate: 10, Calls: 50, Failed: 50, Server: &ServerSplit{}}, {Label: "down too", Mode: Open, Rate: 20}},
		"equal latencies":  {{Label: "a", Throughput: 10, Latency: Percentiles{P50: 1000, P90: 1000, P95: 1000, P99: 1000, P999: 1000}}, {Label: "b", Throughput: 10, Latency: Percentiles{P50: 1000, P99: 1000, P999: 1000}}},
		"with an SLO only": {{Label: "slo", Calls: 10}},
	} {
		t.Run(name, func(t *testing.T) {
			var page bytes.Buffer
			if err := (Page{Title: name, SLO: time.Millisecond}).Write(&page, results); err != nil {
				t.Fatal(err)
			}
			checkSVGs(t, page.String())
		})
	}
}

func TestLatencyTicksLabelEverySpan(t *testing.T) {
	for _, span := range [][2]float64{{0.0012, 0.0019}, {1.2, 1.9}, {3, 4}, {0.003, 0.012}, {0.5, 800}, {7, 7}} {
		a := plot.Axis{Min: span[0], Max: span[1]}
		fitLog(&a)
		var labelled []string
		for _, tk := range (latencyTicks{}).Ticks(a.Min, a.Max) {
			if tk.Label != "" && tk.Value >= a.Min && tk.Value <= a.Max {
				labelled = append(labelled, tk.Label)
			}
		}
		if len(labelled) == 0 {
			t.Errorf("data from %g to %g: no labelled tick on the axis %g to %g", span[0], span[1], a.Min, a.Max)
		}
		for _, l := range labelled {
			if strings.ContainsAny(l, "e") || len(l) > 6 {
				t.Errorf("data from %g to %g: tick label %q", span[0], span[1], l)
			}
		}
	}
}

// checkSelfContained fails on anything the page would fetch.
func checkSelfContained(t *testing.T, page string) {
	t.Helper()
	for _, fetch := range []string{"<script", "<link", "<img", "src=", "url(", "@import", "@font-face"} {
		if strings.Contains(page, fetch) {
			t.Errorf("the page fetches something: it holds %q", fetch)
		}
	}
}

// checkSVGs parses every inline SVG as XML: a page whose plots are
// malformed shows nothing where they should be.
func checkSVGs(t *testing.T, page string) {
	t.Helper()
	rest := page
	for {
		i := strings.Index(rest, "<svg")
		if i < 0 {
			return
		}
		j := strings.Index(rest[i:], "</svg>")
		if j < 0 {
			t.Fatal("an <svg> is never closed")
		}
		d := xml.NewDecoder(strings.NewReader(rest[i : i+j+len("</svg>")]))
		for {
			_, err := d.Token()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("an inline SVG is not well-formed: %v", err)
			}
		}
		rest = rest[i+j:]
	}
}
