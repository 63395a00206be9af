package bench

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"sort"
	"strconv"
	"text/tabwriter"
	"time"
)

// Table writes results as a terminal table.
func Table(w io.Writer, results []*Result) {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "run\tprotocol\tok/s\tcalls\terrors\tp50\tp90\tp95\tp99\tp99.9\tmax\tserver queue\tserver infer\tbatch\tharness cpu\tserver cpu/call\tstable\t")
	for _, r := range results {
		q, inf, batch, scpu := "-", "-", "-", "-"
		if r.Server != nil {
			q, inf, batch = us(r.Server.QueueUS), us(r.Server.InferUS), fmt.Sprintf("%.1f", r.Server.MeanBatch)
		}
		if r.ServerCPU != nil {
			scpu = us(r.ServerCPU.PerCallUS)
		}
		fmt.Fprintf(tw, "%s\t%s\t%.0f\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.2f cores\t%s\t%v\t\n", r.Label, r.Protocol, r.Throughput, r.Calls,
			r.Calls-r.OK, us(r.Latency.P50), us(r.Latency.P90), us(r.Latency.P95), us(r.Latency.P99), us(r.Latency.P999), us(r.Latency.Max),
			q, inf, batch, r.CPU.Cores, scpu, r.Stable)
	}
	tw.Flush()
	for _, r := range results {
		if len(r.Versions) > 1 {
			fmt.Fprintf(w, "%s: served by version %s\n", r.Label, versionShares(r.Versions))
		}
		if bad := statusLine(r.Status); bad != "" || r.Failed > 0 {
			fmt.Fprintf(w, "%s: status %s, transport errors %d\n", r.Label, bad, r.Failed)
		}
	}
}

func us(v float64) string {
	return time.Duration(v * float64(time.Microsecond)).Round(time.Microsecond).String()
}

func versionShares(v map[string]int64) string {
	var total int64
	keys := make([]string, 0, len(v))
	for k, n := range v {
		total += n
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b bytes.Buffer
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %.1f%%", k, 100*float64(v[k])/float64(total))
	}
	return b.String()
}

func statusLine(s map[int]int64) string {
	var b bytes.Buffer
	for code, n := range s {
		if code != 200 {
			fmt.Fprintf(&b, "%d×%d ", code, n)
		}
	}
	return b.String()
}

// JSON writes results as JSON.
func JSON(w io.Writer, results []*Result) error {
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	return e.Encode(results)
}

// CSV writes one row per result.
func CSV(w io.Writer, results []*Result) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"label", "mode", "protocol", "rate", "concurrency", "throughput", "calls", "ok", "transport_errors",
		"p50_us", "p90_us", "p95_us", "p99_us", "p999_us", "max_us", "server_queue_us", "server_infer_us", "harness_cores", "server_cpu_per_call_us", "stable"})
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }
	for _, r := range results {
		q, inf, scpu := "", "", ""
		if r.Server != nil {
			q, inf = f(r.Server.QueueUS), f(r.Server.InferUS)
		}
		if r.ServerCPU != nil {
			scpu = f(r.ServerCPU.PerCallUS)
		}
		cw.Write([]string{r.Label, r.Mode, r.Protocol, f(r.Rate), strconv.Itoa(r.Concurrency), f(r.Throughput), strconv.FormatInt(r.Calls, 10),
			strconv.FormatInt(r.OK, 10), strconv.FormatInt(r.Failed, 10), f(r.Latency.P50), f(r.Latency.P90), f(r.Latency.P95),
			f(r.Latency.P99), f(r.Latency.P999), f(r.Latency.Max), q, inf, strconv.FormatFloat(r.CPU.Cores, 'f', 2, 64), scpu, strconv.FormatBool(r.Stable)})
	}
	cw.Flush()
	return cw.Error()
}

// HTML writes a self-contained page: the table and SVG plots of latency
// against throughput across the results, each result's latency CDF, and
// throughput and errors over time.
func HTML(w io.Writer, title string, results []*Result) error {
	var table bytes.Buffer
	Table(&table, results)
	plots, err := svgPlots(results)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "<!doctype html><meta charset=utf-8><title>%s</title>\n", html.EscapeString(title))
	fmt.Fprintf(w, "<style>body{font-family:sans-serif;margin:2em}pre{background:#f6f6f6;padding:1em;overflow:auto}svg{max-width:100%%;height:auto}</style>\n")
	fmt.Fprintf(w, "<h1>%s</h1>\n<p>%s</p>\n<pre>%s</pre>\n", html.EscapeString(title), time.Now().UTC().Format(time.RFC3339), html.EscapeString(table.String()))
	for _, p := range plots {
		fmt.Fprintf(w, "<h2>%s</h2>\n%s\n", html.EscapeString(p.title), p.svg)
	}
	return nil
}
