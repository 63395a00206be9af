package bench

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/sluice-serving/sluice/client"
	"github.com/sluice-serving/sluice/grpcserver/grpctest"
	"github.com/sluice-serving/sluice/server"
)

// serveGRPC serves the repository's student-success on both doors and
// returns a gRPC client of it.
func serveGRPC(t *testing.T) *client.GRPC {
	t.Helper()
	d := grpctest.Serve(t, server.DefaultConfig(), nil, map[string]string{"student-success": "models/student-success"})
	g, err := client.DialGRPC(d.GRPCAddr, 2)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	return g
}

// TestClosedLoopOverGRPC: a short closed loop over gRPC against real
// student-success counts its calls as 200s served by version 1, and reads
// the server's queue and compute split over gRPC too.
func TestClosedLoopOverGRPC(t *testing.T) {
	g := serveGRPC(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg := DefaultConfig()
	cfg.Client, cfg.Model, cfg.Mode, cfg.Concurrency = g, "student-success", Closed, 4
	cfg.Warmup, cfg.Window, cfg.MinWindows, cfg.MaxWindows = 0, 500*time.Millisecond, 2, 2
	// The server is this process here: its CPU is read all the same.
	cfg.ServerPID = os.Getpid()
	var err error
	if cfg.Inputs, err = RandomInputs(ctx, g, "student-success", "", 2, nil); err != nil {
		t.Fatal(err)
	}
	res, err := Run(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d calls, %.0f/s, p99 %v", res.Calls, res.Throughput, us(res.Latency.P99))
	if res.Protocol != "grpc" || res.Calls == 0 || res.Status[200] != res.Calls || res.OK != res.Calls || res.Failed != 0 {
		t.Errorf("protocol %q, %d calls, %d ok, status %v, %d transport errors; want every call a gRPC 200", res.Protocol, res.Calls, res.OK, res.Status, res.Failed)
	}
	if res.Versions["1"] != res.OK {
		t.Errorf("served by %v, want version 1 for all %d calls", res.Versions, res.OK)
	}
	if res.ServerCPU == nil || res.ServerCPU.PerCallUS <= 0 || res.ServerCPU.Cores <= 0 {
		t.Errorf("server CPU %+v, want it read from /proc", res.ServerCPU)
	}
	if res.Server == nil || res.Server.Calls < res.OK || res.Server.MeanBatch < 2 {
		t.Errorf("server split %+v, want at least the %d calls counted, of 2 rows each", res.Server, res.OK)
	}
}
