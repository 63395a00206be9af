package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/sluice-serving/sluice/runtime/ortest"
)

// TestSuiteMeasuresServersFromOutside runs two of make bench's rows small:
// the bare handler and Sluice on student-success, each as a process of its
// own, with the server's CPU per call read from /proc; then the targets
// table is written from them.
func TestSuiteMeasuresServersFromOutside(t *testing.T) {
	ortest.Init(t)
	t.Setenv(asMain, "1") // the children this test binary starts act as sluice
	s := &suite{window: 200 * time.Millisecond, log: io.Discard}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	fixed, p, err := s.fixedRow(ctx, "fixed", 4)
	if err != nil {
		t.Fatal(err)
	}
	p.stop()
	tiny, err := s.closedRow(ctx, "tiny", "student-success", ortest.Path(t, "models/student-success"), "instances: 2\nmax_batch_size: 64\n", 4, 1, "http")
	if err != nil {
		t.Fatal(err)
	}
	for _, sr := range []series{fixed, tiny} {
		if len(sr.results) != suiteRuns {
			t.Fatalf("%s: %d runs, want %d", sr.label, len(sr.results), suiteRuns)
		}
		for _, r := range sr.results {
			if r.ServerCPU == nil || r.ServerCPU.PerCallUS <= 0 || r.Throughput <= 0 || r.OK != r.Calls {
				t.Errorf("%s: %+v calls/s %.0f, %d of %d ok; want the server process's CPU and every call answered", sr.label, r.ServerCPU, r.Throughput, r.OK, r.Calls)
			}
		}
	}
	if ratio := ratio(tiny, fixed, serverCPU, serverCPU); ratio.med <= 0 || ratio.lo > ratio.med || ratio.med > ratio.hi {
		t.Errorf("the ratio of server CPU per call: %+v", ratio)
	}
	var md bytes.Buffer
	(&suiteTables{tiny: tiny, fixed: fixed}).write(&md)
	if out := md.String(); !strings.Contains(out, "| tiny | http |") || !strings.Contains(out, "server CPU per call ÷ the bare fasthttp handler's (harness)") {
		t.Errorf("tables:\n%s", out)
	}
}
