package bench

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"maps"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
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

// statusLine lists the non-200 statuses, in order of code so that a
// report reads the same twice.
func statusLine(s map[int]int64) string {
	var b bytes.Buffer
	for _, code := range slices.Sorted(maps.Keys(s)) {
		if code != 200 {
			fmt.Fprintf(&b, "%d×%d ", code, s[code])
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

// Page is an HTML report's setting beyond its results.
type Page struct {
	Title string
	// SLO is the latency the p99 is held to (what `sluice bench -slo`
	// searched against): a line on the latency plots, and p99 cells over it
	// flagged; zero, none.
	SLO time.Duration
	// At is when the results were taken, shown under the title; zero, not
	// shown.
	At time.Time
}

// HTML writes a self-contained page of results under title, stamped now;
// Page.Write does the same with an SLO.
func HTML(w io.Writer, title string, results []*Result) error {
	return Page{Title: title, At: time.Now()}.Write(w, results)
}

// Write writes a self-contained page (inline CSS and SVG, nothing
// fetched): a table of the runs with the unstable ones marked, then plots
// of latency against throughput, the percentile spectrum, offered against
// achieved rate, the server's queue and compute split, and throughput and
// errors over time, as far as the results support them.
func (pg Page) Write(w io.Writer, results []*Result) error {
	plots, err := svgPlots(results, pg.SLO)
	if err != nil {
		return err
	}
	if err := pageTemplate.Execute(w, pg.view(results, plots)); err != nil {
		return fmt.Errorf("bench: writing the HTML report: %w", err)
	}
	return nil
}

// pageView is what the page template shows.
type pageView struct {
	Title    string
	Meta     string
	Server   bool // some run has the server's split: its columns show
	CPU      bool // some run has the server's CPU
	Rows     []rowView
	Unstable bool
	Notes    []string
	Plots    []plotView
}

// rowView is one run in the table, its numbers formatted.
type rowView struct {
	Label, Load, Achieved, Errors, ErrorsTitle string
	P50, P99, P999, Max                        string
	Queue, Compute, Batch, CPU                 string
	Unstable, OverSLO                          bool
}

type plotView struct {
	Title, Caption string
	SVG            template.HTML // gonum's SVG, which escapes the text it draws (run labels)
}

func (pg Page) view(results []*Result, plots []svgPlot) pageView {
	v := pageView{Title: pg.Title, Meta: pg.meta(results)}
	mixed := len(protocols(results)) > 1
	for _, r := range results {
		v.Server, v.CPU = v.Server || r.Server != nil, v.CPU || r.ServerCPU != nil
		v.Unstable = v.Unstable || !r.Stable
		v.Rows = append(v.Rows, pg.row(r, mixed))
		v.Notes = append(v.Notes, notes(r)...)
	}
	for _, p := range plots {
		v.Plots = append(v.Plots, plotView{p.title, p.caption, template.HTML(p.svg)})
	}
	return v
}

func (pg Page) row(r *Result, mixedProtocols bool) rowView {
	ms := func(us float64) string { return num(us / 1000) }
	row := rowView{Label: r.Label, Load: load(r), Achieved: num(r.Throughput), Errors: "0",
		P50: ms(r.Latency.P50), P99: ms(r.Latency.P99), P999: ms(r.Latency.P999), Max: ms(r.Latency.Max),
		Queue: "–", Compute: "–", Batch: "–", CPU: "–", Unstable: !r.Stable,
		OverSLO: pg.SLO > 0 && r.Latency.P99 > float64(pg.SLO.Microseconds())}
	if mixedProtocols {
		row.Load = r.Protocol + ", " + row.Load
	}
	if failed := r.Calls - r.OK; failed > 0 && r.Calls > 0 {
		row.Errors = num(100 * float64(failed) / float64(r.Calls))
		row.ErrorsTitle = fmt.Sprintf("%d of %d calls not answered 200", failed, r.Calls)
	}
	if s := r.Server; s != nil {
		row.Queue, row.Compute, row.Batch = ms(s.QueueUS), ms(s.InputUS+s.InferUS+s.OutputUS), num(s.MeanBatch)
	}
	if r.ServerCPU != nil {
		row.CPU = ms(r.ServerCPU.PerCallUS)
	}
	return row
}

// meta is the line under the title: when, over what, against what SLO.
func (pg Page) meta(results []*Result) string {
	var parts []string
	if !pg.At.IsZero() {
		parts = append(parts, "taken "+pg.At.UTC().Format("2006-01-02 15:04 MST"))
	}
	if ps := protocols(results); len(ps) > 0 {
		parts = append(parts, "over "+strings.Join(ps, " and "))
	}
	if pg.SLO > 0 {
		parts = append(parts, "SLO p99 ≤ "+pg.SLO.String())
	}
	return strings.Join(parts, " · ")
}

func protocols(results []*Result) []string {
	var out []string
	for _, r := range results {
		if r.Protocol != "" && !slices.Contains(out, r.Protocol) {
			out = append(out, r.Protocol)
		}
	}
	return out
}

// load is what the run asked of the server.
func load(r *Result) string {
	if r.Mode == Open {
		return "open, " + num(r.Rate) + "/s"
	}
	return fmt.Sprintf("closed, %d callers", r.Concurrency)
}

// notes are the lines under the table that a cell cannot hold.
func notes(r *Result) []string {
	var out []string
	if len(r.Versions) > 1 {
		out = append(out, fmt.Sprintf("%s: served by version %s", r.Label, versionShares(r.Versions)))
	}
	if bad := statusLine(r.Status); bad != "" || r.Failed > 0 {
		out = append(out, fmt.Sprintf("%s: status %s, transport errors %d", r.Label, strings.TrimSpace(bad), r.Failed))
	}
	return out
}

// num is v to three significant digits, whole from 100 up: enough to
// compare runs, few enough to fit a column.
func num(v float64) string {
	if math.Abs(v) >= 100 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(roundSig(v, 3), 'f', -1, 64)
}

// roundSig is v rounded to digits significant digits.
func roundSig(v float64, digits int) float64 {
	if v == 0 {
		return 0
	}
	scale := math.Pow10(digits - 1 - int(math.Floor(math.Log10(math.Abs(v)))))
	return math.Round(v*scale) / scale
}

var pageTemplate = template.Must(template.New("page").Parse(`<!doctype html>
<html lang=en>
<meta charset=utf-8>
<meta name=viewport content="width=device-width,initial-scale=1">
<title>{{.Title}}</title>
<style>
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#222;max-width:60rem;margin:2rem auto;padding:0 1rem}
h1{font-size:1.4rem;margin-bottom:.2rem}
h2{font-size:1.1rem;margin:2.2rem 0 .2rem}
.meta,.cap,.note{color:#555;font-size:.85rem;margin:.2rem 0}
.scroll{max-width:100%;overflow-x:auto}
table{border-collapse:collapse;font-size:.8rem;margin:1rem 0 .5rem}
th,td{padding:.3em .55em;border-bottom:1px solid #e2e2e2;text-align:left;white-space:nowrap}
th{font-weight:600;vertical-align:bottom;white-space:normal;max-width:6.5em}
.n{text-align:right;font-variant-numeric:tabular-nums}
tr.unstable td{background:#fff6e3}
.badge{display:inline-block;margin-left:.4em;padding:0 .45em;border-radius:.7em;background:#d98a00;color:#fff;font-size:.72rem}
td.over{color:#b00020;font-weight:600}
svg{display:block;max-width:100%;height:auto}
</style>
<h1>{{.Title}}</h1>
{{with .Meta}}<p class=meta>{{.}}</p>{{end}}
<div class=scroll><table>
<thead><tr><th>run</th><th>load</th><th class=n>achieved (calls/s)</th><th class=n>errors (%)</th><th class=n>p50 (ms)</th><th class=n>p99 (ms)</th><th class=n>p99.9 (ms)</th><th class=n>max (ms)</th>
{{- if .Server}}<th class=n>server queue (ms)</th><th class=n>server compute (ms)</th><th class=n>mean batch (rows)</th>{{end}}
{{- if .CPU}}<th class=n>server CPU per call (ms)</th>{{end}}</tr></thead>
<tbody>
{{- range .Rows}}
{{if .Unstable}}<tr class=unstable>{{else}}<tr>{{end}}<td>{{.Label}}{{if .Unstable}}<span class=badge title="did not reach a stable state">not stable</span>{{end}}</td><td>{{.Load}}</td><td class=n>{{.Achieved}}</td>{{with .ErrorsTitle}}<td class=n title="{{.}}">{{else}}<td class=n>{{end}}{{.Errors}}</td><td class=n>{{.P50}}</td><td class="n{{if .OverSLO}} over{{end}}">{{.P99}}</td><td class=n>{{.P999}}</td><td class=n>{{.Max}}</td>
{{- if $.Server}}<td class=n>{{.Queue}}</td><td class=n>{{.Compute}}</td><td class=n>{{.Batch}}</td>{{end}}
{{- if $.CPU}}<td class=n>{{.CPU}}</td>{{end}}</tr>
{{- end}}
</tbody></table></div>
{{- if .Unstable}}
<p class=note><span class=badge>not stable</span> the run's windows never settled (three in a row within the tolerance, 10 % by default) before the cap, or it was a step or ramp point, which runs a fixed time unchecked: its numbers describe a moving target.</p>
{{- end}}
{{- range .Notes}}
<p class=note>{{.}}</p>
{{- end}}
{{- range .Plots}}
<h2>{{.Title}}</h2>
<p class=cap>{{.Caption}}</p>
{{.SVG}}
{{- end}}
</html>
`))
